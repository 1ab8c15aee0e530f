/*  tests/bench/bench_main.c - truc-bench: options, the run, the table, the
    targets, JSON. See tests/bench/README.md for what every figure means.
*/
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/log.h"

#ifndef TRUC_BENCH_BROKER
#define TRUC_BENCH_BROKER "truc-broker"
#endif
#ifndef TRUC_BENCH_AGENT
#define TRUC_BENCH_AGENT "truc-agent"
#endif
#ifndef TRUC_VERSION
#define TRUC_VERSION "?"
#endif

#define S_MAX_RESULTS 32

enum {
    S_INGEST,
    S_DELIVERY,
    S_LATENCY,
    S_SIZES,
    S_BACKLOG,
    S_FANOUT,
    S_AGENTS,
    S_RECONNECT,
    S_FEDERATION,
    S_NATDIR,
    S_NSCEN
};

static const char *s_scenario_flags[S_NSCEN] = {
    "--ingest", "--delivery", "--latency",   "--sizes",      "--backlog",
    "--fanout", "--agents",   "--reconnect", "--federation", "--national-directory"
};

static const char *s_usage =
    "usage: truc-bench [--quick | --full] [SCENARIO...] [OPTION...]\n"
    "\n"
    "Benchmarks a real truc-broker on this machine and compares every figure with\n"
    "this machine's own Ed25519, BLAKE2b and LMDB commit rates, measured first in\n"
    "the same run. Progress goes to stderr, the table (or JSON) to stdout.\n"
    "\n"
    "Runs:\n"
    "  --quick             every scenario, small (about 30 s; the default)\n"
    "  --full              every scenario, full size (1,000,000 documents of backlog)\n"
    "  --calibrate         only the calibration\n"
    "Scenarios (only these run; sizes from --quick or --full):\n"
    "  --ingest            pipelined senders, 4 KiB documents, recipient offline\n"
    "  --delivery          the same with recipients draining\n"
    "  --latency           paced at 1,000 and 10,000 documents/s\n"
    "  --sizes             1 KiB, 64 KiB, 1 MiB and 16 MiB documents\n"
    "  --backlog           documents waiting for an offline agency; restart; drain\n"
    "  --fanout            one document to 50 recipients\n"
    "  --agents            DMS -> truc-agent -> broker -> truc-agent -> DMS\n"
    "  --reconnect         a TCP cut under an agent: how soon documents flow again\n"
    "                      (runs with --full, or when named: 5 cuts 4 s apart)\n"
    "  --federation        three linked brokers: through one hop and through two\n"
    "                      (runs with --full, or when named)\n"
    "  --national-directory  the proto library on a directory of every agency of the\n"
    "                      country (8,000; --full 64,000): load, reload, copy, merge\n"
    "                      of a province's part (runs with --full, or when named)\n"
    "Peer:\n"
    "  --peer rabbitmq     also run the delivery and 1,000/s latency workloads on a\n"
    "                      private RabbitMQ node (Debian's rabbitmq-server: quorum\n"
    "                      queues, persistent messages, confirms, manual acks) and\n"
    "                      print the ratios\n"
    "  --peer-queues N     quorum queues the peer's publishers share (1); one consumer\n"
    "                      each\n"
    "Sizes:\n"
    "  --docs N            documents per scenario (quick 4000, full 200000)\n"
    "  --backlog-docs N    documents of the backlog (quick: --docs, full 1000000)\n"
    "  --backlog-size B    attachment bytes of a backlog document (1024)\n"
    "  --seconds S         length of each paced latency phase (quick 2 and 1, full 10)\n"
    "  --senders N         sender connections (4)\n"
    "  --depth N           unanswered documents per sender (64)\n"
    "Output:\n"
    "  --json              JSON instead of the table\n"
    "  --strict            exit status 3 if a target fails\n"
    "Environment:\n"
    "  --broker PATH       truc-broker (also TRUC_BROKER; default: the one built here)\n"
    "  --agent PATH        truc-agent (also TRUC_AGENT)\n"
    "  --set SECTION.NAME=VALUE   an option for every broker, e.g. store.commit_batch=512\n"
    "  --verify-deliveries recipients check signatures and hashes as truc-agent does\n"
    "  --random-ids        random (version-4) document ids instead of the time-ordered\n"
    "                      (version-7) ids truc-agent makes\n"
    "  --tmpdir DIR        where the temporary directory goes ($TMPDIR, /tmp)\n"
    "  --stall MS          a scenario without progress for this long fails (60000)\n"
    "  --keep              keep the temporary directory\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit status: 0 when every scenario ran (slow or not), 1 when one could not\n"
    "finish, 2 for a usage error, 3 with --strict when a target fails.\n";

// ---------------------------------------------------------------------------
//  Numbers as people read them

//  Decimals that suit a value's size.
static const char *s_auto(double value)
{
    return bench_num(value, value < 10 ? 2 : value < 100 ? 1 : 0);
}

// ---------------------------------------------------------------------------
//  Targets

typedef struct {
    const char *name;
    const char *status; // PASS FAIL SKIP ERROR
    double value, limit;
    char text[240];
} s_target_t;

static const bench_result_t *s_find(const bench_result_t *results, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(results[i].name, name))
            return &results[i];
    return NULL;
}

//  Against the peer measured in the same run (--peer rabbitmq): ingest +
//  delivery at least 1.25 times RabbitMQ's end to end; send -> ACCEPTED at
//  1,000/s no slower than publish -> confirm, median and p99. Only when the
//  peer ran.
static int s_peer_targets(const bench_result_t *res, int n, s_target_t *t)
{
    const bench_result_t *peer = s_find(res, n, "rabbitmq_e2e");
    const bench_result_t *peer_lat = s_find(res, n, "rabbitmq_latency_1k");
    if (!peer || !peer_lat)
        return 0;
    int k = 0;
    const bench_result_t *r = s_find(res, n, "delivery");
    t[k] = (s_target_t){ "vs_rabbitmq_e2e", "SKIP", -1, 1.25, "" };
    if ((r && r->failed) || peer->failed)
        t[k].status = "ERROR";
    else if (r && r->docs_per_s > 0 && peer->docs_per_s > 0) {
        t[k].value = r->docs_per_s / peer->docs_per_s;
        t[k].status = t[k].value >= t[k].limit ? "PASS" : "FAIL";
    }
    snprintf(t[k].text, sizeof t[k].text,
             "ingest + delivery >= 1.25 x RabbitMQ quorum end to end: %s x (%s against %s /s)",
             bench_num(t[k].value, 2), r ? bench_num(r->docs_per_s, 0) : "-",
             bench_num(peer->docs_per_s, 0));
    k++;
    r = s_find(res, n, "latency_1k");
    for (int j = 0; j < 2; j++) {
        t[k] = (s_target_t){ j ? "vs_rabbitmq_p99" : "vs_rabbitmq_p50", "SKIP", -1, 1.0, "" };
        double ours = r ? (j ? r->p99_ms : r->p50_ms) : -1;
        double theirs = j ? peer_lat->p99_ms : peer_lat->p50_ms;
        if ((r && r->failed) || peer_lat->failed)
            t[k].status = "ERROR";
        else if (ours > 0 && theirs > 0) {
            t[k].value = ours / theirs;
            t[k].status = t[k].value <= t[k].limit ? "PASS" : "FAIL";
        }
        snprintf(t[k].text, sizeof t[k].text,
                 "latency at 1,000/s, %s: send -> ACCEPTED no higher than RabbitMQ's publish -> "
                 "confirm: %s x (%s ms against %s ms)",
                 j ? "p99" : "median", bench_num(t[k].value, 2), bench_num(ours, 2),
                 bench_num(theirs, 2));
        k++;
    }
    return k;
}

static int s_targets(const bench_result_t *res, int n, const bench_calibration_t *cal,
                     s_target_t *t)
{
    int k = 0;
    const bench_result_t *r;

    t[k] = (s_target_t){ "ingest_ratio", "SKIP", -1, 0.75, "" };
    r = s_find(res, n, "ingest");
    if (r && r->failed)
        t[k].status = "ERROR";
    else if (r && r->docs_per_s > 0 && cal->ceiling > 0) {
        t[k].value = r->docs_per_s / cal->ceiling;
        t[k].status = t[k].value >= t[k].limit ? "PASS" : "FAIL";
    }
    snprintf(t[k].text, sizeof t[k].text,
             "ingest >= 75%% of the verify ceiling: %s%% (%s of %s documents/s)",
             bench_num(t[k].value * 100, 1), r ? bench_num(r->docs_per_s, 0) : "-",
             bench_num(cal->ceiling, 0));
    k++;

    t[k] = (s_target_t){ "delivery_ratio", "SKIP", -1, 0.60, "" };
    r = s_find(res, n, "delivery");
    if (r && r->failed)
        t[k].status = "ERROR";
    else if (r && r->docs_per_s > 0 && cal->ceiling > 0) {
        t[k].value = r->docs_per_s / cal->ceiling;
        t[k].status = t[k].value >= t[k].limit ? "PASS" : "FAIL";
    }
    snprintf(t[k].text, sizeof t[k].text,
             "ingest + delivery >= 60%% of the verify ceiling: %s%% (%s of %s documents/s)",
             bench_num(t[k].value * 100, 1), r ? bench_num(r->docs_per_s, 0) : "-",
             bench_num(cal->ceiling, 0));
    k++;

    //  The broker's cost per document against the one thing it must do
    //  for each: a signature check (this run's one-thread verify rate).
    //  Neither the core count nor other load on the machine moves it much.
    double verify_us = cal->verify_1 > 0 ? 1e6 / cal->verify_1 : -1;
    t[k] = (s_target_t){ "cpu_per_verify", "SKIP", -1, 2.0, "" };
    if (r && r->failed)
        t[k].status = "ERROR";
    else if (r && r->cpu_us_per_doc > 0 && verify_us > 0) {
        t[k].value = r->cpu_us_per_doc / verify_us;
        t[k].status = t[k].value <= t[k].limit ? "PASS" : "FAIL";
    }
    snprintf(t[k].text, sizeof t[k].text,
             "ingest + delivery: broker CPU per document <= 2 x one signature check: %s x (%s "
             "us, one check %s us)",
             bench_num(t[k].value, 2), r ? bench_num(r->cpu_us_per_doc, 0) : "-",
             bench_num(verify_us, 1));
    k++;
    double loop_us = r ? bench_result_get(r, "loop_us_per_doc", -1) : -1;
    t[k] = (s_target_t){ "loop_us_per_doc", "SKIP", -1, 25, "" };
    if (r && r->failed)
        t[k].status = "ERROR";
    else if (loop_us > 0) {
        t[k].value = loop_us;
        t[k].status = loop_us <= t[k].limit ? "PASS" : "FAIL";
    }
    snprintf(t[k].text, sizeof t[k].text,
             "ingest + delivery: the broker's loop thread <= 25 us per document: %s us",
             bench_num(t[k].value, 1));
    k++;

    r = s_find(res, n, "latency_1k");
    static const struct {
        const char *name;
        const char *what;
        double factor;
    } lat[2] = { { "latency_1k_p50", "median", 2 }, { "latency_1k_p99", "p99", 5 } };
    for (int j = 0; j < 2; j++) {
        t[k] = (s_target_t){ lat[j].name, "SKIP", -1, lat[j].factor * cal->commit_ms, "" };
        double v = r ? (j == 0 ? r->p50_ms : r->p99_ms) : -1;
        if (r && r->failed)
            t[k].status = "ERROR";
        else if (v >= 0 && cal->commit_ms > 0) {
            t[k].value = v;
            t[k].status = v <= t[k].limit ? "PASS" : "FAIL";
        }
        snprintf(t[k].text, sizeof t[k].text,
                 "latency at 1,000/s: %s <= %g x one durable commit: %s ms (limit %s ms)",
                 lat[j].what, lat[j].factor, bench_num(t[k].value, 2), bench_num(t[k].limit, 2));
        k++;
    }

    t[k] = (s_target_t){ "size_16m_blake2b", "SKIP", -1, 0.50, "" };
    r = s_find(res, n, "size_16m");
    if (r && r->failed)
        t[k].status = "ERROR";
    else if (r && r->mb_per_s > 0 && cal->blake2b_mbps_1 > 0) {
        t[k].value = r->mb_per_s / cal->blake2b_mbps_1;
        t[k].status = t[k].value >= t[k].limit ? "PASS" : "FAIL";
    }
    snprintf(t[k].text, sizeof t[k].text,
             "16 MiB documents >= 50%% of the BLAKE2b rate: %s%% (%s of %s MB/s; the disk "
             "writes %s MB/s durably)",
             bench_num(t[k].value * 100, 1), r ? bench_num(r->mb_per_s, 0) : "-",
             bench_num(cal->blake2b_mbps_1, 0), bench_num(cal->disk_mbps, 0));
    k++;

    r = s_find(res, n, "backlog_ingest");
    const bench_result_t *drain = s_find(res, n, "backlog_drain");
    double waiting = r ? bench_result_get(r, "waiting", 0) : 0;
    t[k] = (s_target_t){ "backlog_heap", "SKIP", -1, 0.10, "" };
    double spread = r ? bench_result_get(r, "heap_spread", -1) : -1;
    if (r && r->failed)
        t[k].status = "ERROR";
    else if (spread >= 0) {
        t[k].value = spread;
        t[k].status = spread <= t[k].limit ? "PASS" : "FAIL";
    }
    snprintf(t[k].text, sizeof t[k].text,
             "backlog: broker heap within 10%% at 10/50/100%% of %s waiting: spread %s%%",
             bench_num(waiting, 0), bench_num(t[k].value * 100, 1));
    k++;

    t[k] = (s_target_t){ "backlog_restart", "SKIP", -1, 1000, "" };
    double restart = r ? bench_result_get(r, "restart_ms", -1) : -1;
    if ((r && r->failed) || (drain && drain->failed && restart < 0))
        t[k].status = "ERROR";
    else if (restart >= 0) {
        t[k].value = restart;
        t[k].status = restart < t[k].limit ? "PASS" : "FAIL";
    }
    snprintf(t[k].text, sizeof t[k].text, "backlog: restart < 1 s with %s waiting: %s ms%s",
             bench_num(waiting, 0), bench_num(t[k].value, 0),
             waiting > 0 && waiting < 1e6 ? " (the target is stated for 1,000,000: use --full)"
                                          : "");
    k++;

    r = s_find(res, n, "reconnect");
    t[k] = (s_target_t){ "reconnect_p50", "SKIP", -1, 300, "" };
    if (r && r->failed)
        t[k].status = "ERROR";
    else if (r && r->p50_ms >= 0) {
        t[k].value = r->p50_ms;
        t[k].status = t[k].value <= t[k].limit ? "PASS" : "FAIL";
    }
    snprintf(t[k].text, sizeof t[k].text,
             "after a TCP cut documents flow again within 300 ms, median: %s ms (p99 %s ms)",
             bench_num(t[k].value, 0), r ? bench_num(r->p99_ms, 0) : "-");
    k++;
    return k + s_peer_targets(res, n, t + k);
}

// ---------------------------------------------------------------------------
//  Output

static void s_host(char *cpu, size_t cpulen, double *load)
{
    snprintf(cpu, cpulen, "unknown CPU");
    *load = -1;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            if (!strncmp(line, "model name", 10)) {
                const char *p = strchr(line, ':');
                if (p) {
                    p++;
                    while (*p == ' ')
                        p++;
                    snprintf(cpu, cpulen, "%s", p);
                    size_t len = strlen(cpu);
                    if (len && cpu[len - 1] == '\n')
                        cpu[len - 1] = '\0';
                }
                break;
            }
        }
        fclose(f);
    }
    f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", load) != 1)
            *load = -1;
        fclose(f);
    }
}

static void s_print_table(const bench_env_t *env, const bench_calibration_t *cal,
                          const bench_result_t *res, int n, const s_target_t *t, int nt,
                          const char *cpu, double load)
{
    printf("truc-bench %s: truc-broker %s\n", TRUC_VERSION, env->broker_path);
    printf("machine: %d cores, %s; load average at start %s\n\n", env->cpus, cpu,
           bench_num(load, 2));
    printf("Calibration (this run, this machine):\n");
    printf("  Ed25519 verify of 4 KiB documents   1 thread %s/s   %d threads %s/s\n",
           bench_num(cal->verify_1, 0), cal->threads, bench_num(cal->verify_all, 0));
    printf("  broker worker path, %d threads       %s/s (decode, content hash, verify, "
           "4 KiB BLAKE2b)\n",
           cal->threads, bench_num(cal->worker_all, 0));
    printf("  BLAKE2b-256 of attachments          1 thread %s MB/s   %d threads %s MB/s\n",
           bench_num(cal->blake2b_mbps_1, 0), cal->threads, bench_num(cal->blake2b_mbps_all, 0));
    printf("  durable LMDB commit (4 KiB put)     median %s ms   p99 %s ms\n",
           bench_num(cal->commit_ms, 2), bench_num(cal->commit_p99_ms, 2));
    printf("  durable disk writes (16 MiB, fdatasync) %s MB/s\n", bench_num(cal->disk_mbps, 0));
    printf("  ceiling: %s documents/s (Ed25519 verify on all %d cores)\n\n",
           bench_num(cal->ceiling, 0), cal->threads);
    if (n) {
        printf("%-26s %9s %6s %8s %8s %8s %8s %8s %7s %7s\n", "scenario", "docs/s", "ceil%", "MB/s",
               "p50 ms", "p99 ms", "p99.9", "CPU us", "RSS MB", "heap MB");
        printf("%-26s %9s %6s %8s %8s %8s %8s %8s %7s %7s\n", "", "", "", "", "", "", "ms", "/doc",
               "peak", "anon");
        for (int i = 0; i < n; i++) {
            const bench_result_t *r = &res[i];
            if (r->failed) {
                char line[sizeof r->error];
                snprintf(line, sizeof line, "%s", r->error);
                for (char *p = line; *p; p++)
                    if (*p == '\n')
                        *p = ' ';
                printf("%-26s FAILED: %s\n", r->label, line);
                continue;
            }
            double ratio =
                r->docs_per_s > 0 && cal->ceiling > 0 ? 100 * r->docs_per_s / cal->ceiling : -1;
            printf("%-26s %9s %6s %8s %8s %8s %8s %8s %7s %7s\n", r->label,
                   bench_num(r->docs_per_s, 0), bench_num(ratio, 1), s_auto(r->mb_per_s),
                   s_auto(r->p50_ms), s_auto(r->p99_ms), s_auto(r->p999_ms),
                   s_auto(r->cpu_us_per_doc), bench_num(r->peak_rss_mb, 1),
                   bench_num(r->anon_mb, 1));
            if (r->note[0])
                printf("%-26s   %s\n", "", r->note);
        }
    }
    printf("\nTargets (ratios to this run's calibration):\n");
    for (int i = 0; i < nt; i++)
        printf("  %-5s %s\n", t[i].status, t[i].text);
    printf("\nheap = the broker's RssAnon (resident anonymous memory: malloc arenas, stacks,\n"
           "ZeroMQ buffers; not LMDB's file-backed map). See tests/bench/README.md.\n");
}

static void s_json_str(const char *text)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *) text; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void s_json_num(double value)
{
    if (value < 0 || isnan(value) || isinf(value))
        printf("null");
    else
        printf("%.6g", value);
}

static void s_print_json(const bench_env_t *env, const bench_calibration_t *cal,
                         const bench_result_t *res, int n, const s_target_t *t, int nt,
                         const char *cpu, double load)
{
    printf("{\n  \"version\": ");
    s_json_str(TRUC_VERSION);
    printf(",\n  \"broker\": ");
    s_json_str(env->broker_path);
    printf(",\n  \"machine\": {\"cores\": %d, \"cpu\": ", env->cpus);
    s_json_str(cpu);
    printf(", \"load_average\": ");
    s_json_num(load);
    printf("},\n  \"calibration\": {\"threads\": %d", cal->threads);
    const struct {
        const char *key;
        double value;
    } c[] = { { "verify_per_s_1", cal->verify_1 },
              { "verify_per_s_all", cal->verify_all },
              { "worker_per_s_all", cal->worker_all },
              { "blake2b_mb_per_s_1", cal->blake2b_mbps_1 },
              { "blake2b_mb_per_s_all", cal->blake2b_mbps_all },
              { "commit_ms_median", cal->commit_ms },
              { "commit_ms_p99", cal->commit_p99_ms },
              { "disk_mb_per_s", cal->disk_mbps },
              { "ceiling_docs_per_s", cal->ceiling } };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        printf(", \"%s\": ", c[i].key);
        s_json_num(c[i].value);
    }
    printf("},\n  \"scenarios\": [");
    for (int i = 0; i < n; i++) {
        const bench_result_t *r = &res[i];
        printf("%s\n    {\"name\": ", i ? "," : "");
        s_json_str(r->name);
        printf(", \"label\": ");
        s_json_str(r->label);
        printf(", \"ok\": %s", r->failed ? "false" : "true");
        if (r->failed) {
            printf(", \"error\": ");
            s_json_str(r->error);
        }
        printf(", \"docs\": %" PRIu64, r->docs);
        const struct {
            const char *key;
            double value;
        } f[] = { { "seconds", r->seconds },
                  { "docs_per_s", r->docs_per_s },
                  { "ceiling_ratio",
                    r->docs_per_s > 0 && cal->ceiling > 0 ? r->docs_per_s / cal->ceiling : -1 },
                  { "mb_per_s", r->mb_per_s },
                  { "latency_ms_p50", r->p50_ms },
                  { "latency_ms_p99", r->p99_ms },
                  { "latency_ms_p999", r->p999_ms },
                  { "cpu_us_per_doc", r->cpu_us_per_doc },
                  { "peak_rss_mb", r->peak_rss_mb },
                  { "heap_anon_mb", r->anon_mb } };
        for (size_t j = 0; j < sizeof f / sizeof f[0]; j++) {
            printf(", \"%s\": ", f[j].key);
            s_json_num(f[j].value);
        }
        printf(", \"note\": ");
        s_json_str(r->note);
        printf(", \"extra\": {");
        for (int j = 0; j < r->nextra; j++) {
            printf("%s\"%s\": ", j ? ", " : "", r->extra[j].key);
            //  Extras may be legitimately negative (none are today); keep them as numbers.
            if (isnan(r->extra[j].value) || isinf(r->extra[j].value))
                printf("null");
            else
                printf("%.6g", r->extra[j].value);
        }
        printf("}}");
    }
    printf("\n  ],\n  \"targets\": [");
    for (int i = 0; i < nt; i++) {
        printf("%s\n    {\"name\": ", i ? "," : "");
        s_json_str(t[i].name);
        printf(", \"status\": ");
        s_json_str(t[i].status);
        printf(", \"value\": ");
        s_json_num(t[i].value);
        printf(", \"limit\": ");
        s_json_num(t[i].limit);
        printf(", \"text\": ");
        s_json_str(t[i].text);
        printf("}");
    }
    printf("\n  ]\n}\n");
}

// ---------------------------------------------------------------------------
//  Options

static bool s_size_arg(const char *text, size_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || v == 0)
        return false;
    *out = (size_t) v;
    return true;
}

static void s_usage_error(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void s_usage_error(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    fputs("truc-bench: ", stderr);
    vfprintf(stderr, format, ap);
    fputs(" (see truc-bench --help)\n", stderr);
    va_end(ap);
    exit(2);
}

int main(int argc, char **argv)
{
    bench_env_t env;
    memset(&env, 0, sizeof env);
    env.broker_path = getenv("TRUC_BROKER") ? getenv("TRUC_BROKER") : TRUC_BENCH_BROKER;
    env.agent_path = getenv("TRUC_AGENT") ? getenv("TRUC_AGENT") : TRUC_BENCH_AGENT;
    env.stall_ms = 60000;
    bool full = false, json = false, strict = false, calibrate_only = false, peer = false;
    bool run[S_NSCEN] = { false }, any = false;
    size_t docs = 0, backlog = 0, backlog_size = 1024, senders = 4, depth = 64, peer_queues = 1;
    double seconds = -1;
    const char *tmpdir = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        bool scenario = false;
        for (int s = 0; s < S_NSCEN; s++)
            if (!strcmp(a, s_scenario_flags[s])) {
                run[s] = any = scenario = true;
            }
        if (scenario)
            continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(s_usage, stdout);
            return 0;
        } else if (!strcmp(a, "--quick")) {
            full = false;
        } else if (!strcmp(a, "--full")) {
            full = true;
        } else if (!strcmp(a, "--calibrate")) {
            calibrate_only = true;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--strict")) {
            strict = true;
        } else if (!strcmp(a, "--keep")) {
            env.keep = true;
        } else if (!strcmp(a, "--verify-deliveries")) {
            env.verify = true;
        } else if (!strcmp(a, "--random-ids")) {
            env.random_ids = true;
        } else if (strncmp(a, "--", 2) != 0 || !strstr(s_usage, a) || a[2] == '\0') {
            s_usage_error("unknown option %s", a);
        } else if (!value) {
            s_usage_error("%s needs a value", a);
        } else if (!strcmp(a, "--docs")) {
            if (!s_size_arg(value, &docs))
                s_usage_error("--docs: '%s' is not a positive number", value);
            i++;
        } else if (!strcmp(a, "--backlog-docs")) {
            if (!s_size_arg(value, &backlog))
                s_usage_error("--backlog-docs: '%s' is not a positive number", value);
            i++;
        } else if (!strcmp(a, "--backlog-size")) {
            if (!s_size_arg(value, &backlog_size) || backlog_size > (64u << 20))
                s_usage_error("--backlog-size: '%s' is not 1..67108864", value);
            i++;
        } else if (!strcmp(a, "--senders")) {
            if (!s_size_arg(value, &senders) || senders > 8)
                s_usage_error("--senders: '%s' is not 1..8", value);
            i++;
        } else if (!strcmp(a, "--depth")) {
            if (!s_size_arg(value, &depth) || depth > 100000)
                s_usage_error("--depth: '%s' is not 1..100000", value);
            i++;
        } else if (!strcmp(a, "--seconds")) {
            char *end = NULL;
            seconds = strtod(value, &end);
            if (!end || *end || !(seconds > 0) || seconds > 3600)
                s_usage_error("--seconds: '%s' is not a duration in seconds", value);
            i++;
        } else if (!strcmp(a, "--stall")) {
            size_t ms;
            if (!s_size_arg(value, &ms) || ms > 3600000)
                s_usage_error("--stall: '%s' is not milliseconds", value);
            env.stall_ms = (int) ms;
            i++;
        } else if (!strcmp(a, "--peer")) {
            if (strcmp(value, "rabbitmq") != 0)
                s_usage_error("--peer: '%s' is not a peer truc-bench knows (rabbitmq)", value);
            peer = true;
            i++;
        } else if (!strcmp(a, "--peer-queues")) {
            if (!s_size_arg(value, &peer_queues) || peer_queues > 8)
                s_usage_error("--peer-queues: '%s' is not 1..8", value);
            i++;
        } else if (!strcmp(a, "--broker")) {
            env.broker_path = value;
            i++;
        } else if (!strcmp(a, "--agent")) {
            env.agent_path = value;
            i++;
        } else if (!strcmp(a, "--tmpdir")) {
            tmpdir = value;
            i++;
        } else if (!strcmp(a, "--set")) {
            if (env.nsets == BENCH_MAX_SETS)
                s_usage_error("too many --set");
            env.sets[env.nsets++] = value;
            i++;
        } else {
            s_usage_error("unknown option %s", a);
        }
    }
    if (!any)
        for (int s = 0; s < S_NSCEN; s++)
            run[s] = (s != S_RECONNECT && s != S_FEDERATION && s != S_NATDIR) || full;
    if (calibrate_only)
        for (int s = 0; s < S_NSCEN; s++)
            run[s] = false;

    bench_plan_t plan;
    memset(&plan, 0, sizeof plan);
    plan.quick = !full;
    plan.docs = docs ? docs : full ? 200000 : 4000;
    plan.backlog = backlog ? backlog : full ? 1000000 : plan.docs;
    plan.backlog_size = backlog_size;
    plan.seconds_1k = seconds > 0 ? seconds : full ? 10 : 2;
    plan.seconds_10k = seconds > 0 ? seconds : full ? 10 : 1;
    plan.senders = (int) senders;
    plan.depth = depth;
    plan.fanout_docs = plan.docs / 50 > 4 ? plan.docs / 50 : 4;
    plan.agent_docs = plan.docs / 20 > 20 ? plan.docs / 20 : 20;
    plan.peer_queues = (int) peer_queues;

    if (sodium_init() < 0) {
        fprintf(stderr, "truc-bench: libsodium does not start\n");
        return 1;
    }
    proto_log_set_level(PROTO_LOG_WARNING);
    char cpu[128];
    double load;
    s_host(cpu, sizeof cpu, &load);

    char err[2048] = "";
    if (bench_env_init(&env, tmpdir, err, sizeof err)) {
        fprintf(stderr, "truc-bench: %s\n", err);
        bench_env_fini(&env);
        return 1;
    }
    bench_say(&env, "working in %s; broker %s", env.root, env.broker_path);
    bench_calibration_t cal;
    if (bench_calibrate(&env, full ? 2.0 : 0.5, &cal, err, sizeof err)) {
        fprintf(stderr, "truc-bench: calibration failed: %s\n", err);
        bench_env_fini(&env);
        return 1;
    }
    bench_say(&env, "ceiling %s documents/s; BLAKE2b %s MB/s; durable commit %s ms",
              bench_num(cal.ceiling, 0), bench_num(cal.blake2b_mbps_1, 0),
              bench_num(cal.commit_ms, 2));

    static bench_result_t results[S_MAX_RESULTS];
    int n = 0;
    typedef void(s_run_fn)(bench_env_t *, const bench_plan_t *, const bench_calibration_t *,
                           bench_result_t *, int *, int);
    static s_run_fn *const fns[S_NSCEN] = { bench_run_ingest,     bench_run_delivery,
                                            bench_run_latency,    bench_run_sizes,
                                            bench_run_backlog,    bench_run_fanout,
                                            bench_run_agents,     bench_run_reconnect,
                                            bench_run_federation, bench_run_natdir };
    for (int s = 0; s < S_NSCEN; s++) {
        if (!run[s])
            continue;
        int before = n;
        fns[s](&env, &plan, &cal, results, &n, S_MAX_RESULTS);
        for (int i = before; i < n; i++)
            if (results[i].failed)
                bench_say(&env, "%s FAILED: %s", results[i].label, results[i].error);
    }
    if (peer && !calibrate_only)
        bench_run_rabbitmq(&env, &plan, &cal, results, &n, S_MAX_RESULTS);
    for (int i = 0; i < n && peer; i++)
        if (results[i].failed && !strncmp(results[i].name, "rabbitmq", 8))
            bench_say(&env, "%s FAILED: %s", results[i].label, results[i].error);
    s_target_t targets[24];
    int nt = s_targets(results, n, &cal, targets);
    if (json)
        s_print_json(&env, &cal, results, n, targets, nt, cpu, load);
    else
        s_print_table(&env, &cal, results, n, targets, nt, cpu, load);
    fflush(stdout);
    bench_env_fini(&env);
    bool failed = false, missed = false;
    for (int i = 0; i < n; i++)
        failed |= results[i].failed;
    for (int i = 0; i < nt; i++)
        missed |= !strcmp(targets[i].status, "FAIL");
    return failed ? 1 : strict && missed ? 3 : 0;
}
