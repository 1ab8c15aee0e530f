/*  tests/bench/bench_natdir.c - the national directory: what it costs a
    broker to hold tens of thousands of agencies (PROTOCOL.md 16.5).

    No broker process here: the proto library the broker calls, on a
    directory file of every agency of the country (64,000 with --full,
    8,000 with --quick; random Ed25519 keys), each operation five times:

      natdir_load      the file read and checked whole, every CURVE key
                       derived: a broker's start
      natdir_reload    the same file read again beside the directory in
                       force, whose CURVE keys are reused: a reload, a
                       directory received from the national broker
      natdir_copy      a copy of the directory in force: the base each
                       merge of a province's part starts from
      natdir_merge     one province's 1,000 agencies put into that copy,
                       keys reused: a downstream broker's part held

    The table shows the median time in the p50 column; the note gives the
    range over the five runs.
*/
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "proto/directory.h"

#define S_RUNS     5
#define S_PROVINCE 1000 // agencies of one province's part

static double s_ms_since(int64_t start)
{
    return (double) (bench_now_ns() - start) / 1e6;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

//  Record the five durations of one operation.
static void s_record(bench_result_t *r, size_t agencies, double ms[S_RUNS])
{
    qsort(ms, S_RUNS, sizeof ms[0], s_cmp);
    r->p50_ms = ms[S_RUNS / 2];
    r->docs = agencies;
    bench_result_extra(r, "agencies", (double) agencies);
    bench_result_extra(r, "median_ms", ms[S_RUNS / 2]);
    bench_result_extra(r, "min_ms", ms[0]);
    bench_result_extra(r, "max_ms", ms[S_RUNS - 1]);
    snprintf(r->note, sizeof r->note, "%zu agencies: median %s ms, range %s-%s ms over %d runs",
             agencies, bench_num(ms[S_RUNS / 2], ms[S_RUNS / 2] < 100 ? 1 : 0),
             bench_num(ms[0], ms[0] < 100 ? 1 : 0),
             bench_num(ms[S_RUNS - 1], ms[S_RUNS - 1] < 100 ? 1 : 0), S_RUNS);
}

//  n agencies with random keys: codes WWW.ZZ.01.H29 (every level below
//  the province filled, as the grammar asks), one per k from first on.
static proto_directory_entry_t *s_entries(size_t n, size_t first, char (*names)[32])
{
    proto_directory_entry_t *e = calloc(n, sizeof *e);
    if (!e)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t k = first + i;
        snprintf(e[i].code, sizeof e[i].code, "%03zu.%02zu.01.H29", 1 + k % 999, 1 + k / 999 % 99);
        snprintf(names[i], sizeof names[i], "Co quan %zu", k);
        e[i].name = names[i];
        uint8_t sk[crypto_sign_SECRETKEYBYTES];
        crypto_sign_keypair(e[i].sign_pk, sk);
        sodium_memzero(sk, sizeof sk);
        e[i].state = PROTO_DIRECTORY_ACTIVE;
    }
    return e;
}

static bench_result_t *s_next(bench_result_t *out, int *n, int max, const char *name,
                              const char *label)
{
    static bench_result_t spare;
    bench_result_t *r = *n < max ? &out[(*n)++] : &spare;
    bench_result_init(r, name, label);
    return r;
}

void bench_run_natdir(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                      bench_result_t *out, int *n, int max)
{
    (void) cal;
    size_t count = plan->quick ? 8000 : 64000;
    bench_result_t *load = s_next(out, n, max, "natdir_load", "national dir: load");
    bench_result_t *reload = s_next(out, n, max, "natdir_reload", "national dir: reload");
    bench_result_t *copy = s_next(out, n, max, "natdir_copy", "national dir: copy");
    bench_result_t *merge = s_next(out, n, max, "natdir_merge", "national dir: merge 1,000");
    bench_result_t *all[] = { load, reload, copy, merge };
    char path[BENCH_PATH_MAX + 32], err[512] = "";
    snprintf(path, sizeof path, "%s/national.dir", env->root);
    bench_say(env, "national directory: %zu agencies with random keys", count);

    char(*names)[32] = calloc(count + S_PROVINCE, sizeof *names);
    proto_directory_entry_t *entries = names ? s_entries(count, 0, names) : NULL;
    proto_directory_entry_t *province =
        entries ? s_entries(S_PROVINCE, count, names + count) : NULL;
    proto_directory_t *dir = proto_directory_new(), *in_force = NULL;
    proto_err_t rc = province && dir ? PROTO_OK : PROTO_ERR_NOMEM;
    if (!rc)
        rc = proto_directory_put_many(dir, entries, count, NULL, NULL, NULL);
    if (!rc)
        rc = proto_directory_save(dir, path, err, sizeof err);
    //  The directory in force already holds the province's part: each
    //  merge is a change of it, as the held parts of a broker are.
    if (!rc)
        rc = proto_directory_copy(dir, &in_force);
    if (!rc)
        rc = proto_directory_put_many(in_force, province, S_PROVINCE, NULL, NULL, NULL);
    double ms[4][S_RUNS];
    for (int run = 0; !rc && run < S_RUNS; run++) {
        proto_directory_t *fresh = NULL, *again = NULL, *base = NULL;
        int64_t t = bench_now_ns();
        rc = proto_directory_load(path, &fresh, err, sizeof err);
        ms[0][run] = s_ms_since(t);
        t = bench_now_ns();
        if (!rc)
            rc = proto_directory_load_known(path, fresh, &again, err, sizeof err);
        ms[1][run] = s_ms_since(t);
        t = bench_now_ns();
        if (!rc)
            rc = proto_directory_copy(again, &base);
        ms[2][run] = s_ms_since(t);
        t = bench_now_ns();
        if (!rc)
            rc = proto_directory_put_many(base, province, S_PROVINCE, in_force, NULL, NULL);
        ms[3][run] = s_ms_since(t);
        if (!rc && proto_directory_count(base) != count + S_PROVINCE)
            rc = PROTO_ERR_STORE;
        proto_directory_destroy(&base);
        proto_directory_destroy(&fresh);
        proto_directory_destroy(&again);
    }
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (rc)
            bench_result_fail(all[i], "%s%s%s", proto_strerror(rc), err[0] ? ": " : "", err);
        else
            s_record(all[i], i == 3 ? S_PROVINCE : count, ms[i]);
    }
    proto_directory_destroy(&in_force);
    proto_directory_destroy(&dir);
    free(entries);
    free(province);
    free(names);
    remove(path);
}
