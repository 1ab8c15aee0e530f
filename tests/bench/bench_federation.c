/*  tests/bench/bench_federation.c - documents across linked brokers
    (PROTOCOL.md section 16), measured like the single broker's ingest +
    delivery so the figures compare in one run.

    Three real truc-brokers on loopback, each with its own identity and its
    own directory, as operators give them: the province P1 (the run's hub:
    agencies 1..32), the national broker N (agencies 33..48) and the
    province P2 (agencies 49..64). Both provinces dial N (network.links).
    A province names N as the home of every agency not its own; N names
    each province as the home of its agencies.

      fed_1hop   senders at P1 -> recipients at N: P1 stores, forwards over
                 its link; N stores, delivers. The recipients' DELIVERED
                 come back over the link.
      fed_2hop   senders at P1 -> recipients at P2, through N.

    Documents/s from the first send to the last delivery; latency send ->
    DELIVER at the far end; CPU per document of each broker.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bench.h"
#include "proto/route.h"

#define S_NAT_FIRST 32 // agencies 32..47 are N's
#define S_P2_FIRST  48 // agencies 48..63 are P2's
#define S_HELLO_MS  20000
#define S_WINDOW    1000
#define S_LINK_MS   30000 // waiting for both links to be up

enum { S_P1, S_N, S_P2, S_NBROKERS };

static const char *const s_labels[S_NBROKERS] = { "hub", "nat", "p2" };

typedef struct {
    bench_env_t *env;
    proto_identity_t *id[S_NBROKERS]; // [S_P1] is borrowed (env->hub)
    char secret[S_NBROKERS][BENCH_PATH_MAX];
    char dirfile[S_NBROKERS][BENCH_PATH_MAX];
    char links[S_NBROKERS][BENCH_PATH_MAX + 32]; // "network.links=nat@ENDPOINT"
    const char *sets[S_NBROKERS][2];
    bench_broker_t broker[S_NBROKERS];
    void *ctx;
    char err[2048];
} s_fed_t;

//  Which broker is home to agency i.
static int s_home_of(int i)
{
    return i >= S_P2_FIRST ? S_P2 : i >= S_NAT_FIRST ? S_N : S_P1;
}

static int s_fail(s_fed_t *f, const char *what, const char *detail)
{
    snprintf(f->err, sizeof f->err, "%s%s", what, detail);
    return -1;
}

//  The identities of N and P2, in the run's keys directory.
static int s_identities(s_fed_t *f)
{
    bench_env_t *env = f->env;
    f->id[S_P1] = env->hub;
    snprintf(f->secret[S_P1], sizeof f->secret[S_P1], "%s", env->hub_secret);
    for (int b = S_N; b < S_NBROKERS; b++) {
        f->id[b] = proto_identity_generate(PROTO_ROLE_BROKER, s_labels[b]);
        snprintf(f->secret[b], sizeof f->secret[b], "%s/%s.secret", env->keys, s_labels[b]);
        if (!f->id[b] || proto_identity_save(f->id[b], f->secret[b], NULL, PROTO_KDF_INTERACTIVE,
                                             false) != PROTO_OK)
            return s_fail(f, "cannot make the identity of broker ", s_labels[b]);
    }
    return 0;
}

//  Broker self's directory: every agency, the brokers it deals with, and
//  the home of every agency that is not its own (N for a province).
static int s_directory(s_fed_t *f, int self)
{
    char err[512] = "";
    proto_directory_t *dir = NULL;
    if (proto_directory_load(f->env->dirfile, &dir, err, sizeof err) != PROTO_OK)
        return s_fail(f, "cannot read the run's directory: ", err);
    int rc = 0;
    for (int b = 0; b < S_NBROKERS && !rc; b++) {
        //  A province knows itself and N; N knows everyone.
        if (self != S_N && b != self && b != S_N)
            continue;
        proto_directory_broker_t entry = { .name = s_labels[b], .state = PROTO_DIRECTORY_ACTIVE };
        snprintf(entry.label, sizeof entry.label, "%s", s_labels[b]);
        memcpy(entry.sign_pk, proto_identity_public(f->id[b])->sign_pk, PROTO_IDENTITY_KEY_LEN);
        if (proto_directory_broker_add(dir, &entry, err, sizeof err) != PROTO_OK)
            rc = s_fail(f, "broker entry: ", err);
    }
    for (int i = 0; i < BENCH_NAGENCIES && !rc; i++) {
        int home = s_home_of(i);
        if (home == self)
            continue;
        const char *via = self == S_N ? s_labels[home] : s_labels[S_N];
        if (proto_directory_set_home(dir, f->env->codes[i], via, err, sizeof err) != PROTO_OK)
            rc = s_fail(f, "home: ", err);
    }
    snprintf(f->dirfile[self], sizeof f->dirfile[self], "%s/dir-%s.ini", f->env->root,
             s_labels[self]);
    if (!rc && proto_directory_save(dir, f->dirfile[self], err, sizeof err) != PROTO_OK)
        rc = s_fail(f, "cannot write a directory: ", err);
    proto_directory_destroy(&dir);
    return rc;
}

//  Whether the broker's current log has a line containing needle.
static bool s_logged(const bench_broker_t *b, const char *needle)
{
    FILE *file = fopen(b->log, "r");
    char line[4096];
    bool found = false;
    while (file && !found && fgets(line, sizeof line, file))
        found = strstr(line, needle) != NULL;
    if (file)
        fclose(file);
    return found;
}

//  Start N, then both provinces dialing it; wait until both links are up.
static int s_start(s_fed_t *f)
{
    static const int order[S_NBROKERS] = { S_N, S_P2, S_P1 };
    for (int k = 0; k < S_NBROKERS; k++) {
        int b = order[k];
        const char *sets[2] = { NULL, NULL };
        if (b != S_N) {
            snprintf(f->links[b], sizeof f->links[b], "network.links=nat@%s",
                     f->broker[S_N].endpoint);
            sets[0] = f->links[b];
        }
        f->sets[b][0] = sets[0];
        f->sets[b][1] = NULL;
        bench_broker_init(&f->broker[b], f->env, f->sets[b]);
        f->broker[b].identity = f->secret[b];
        f->broker[b].dirfile = f->dirfile[b];
        f->broker[b].curve_pk = proto_identity_public(f->id[b])->curve_pk;
        if (bench_broker_start(&f->broker[b], NULL, f->err, sizeof f->err))
            return -1;
    }
    int64_t end = bench_now_ns() + (int64_t) S_LINK_MS * 1000000;
    while (!s_logged(&f->broker[S_P1], "event=link_ready broker=nat") ||
           !s_logged(&f->broker[S_P2], "event=link_ready broker=nat")) {
        if (bench_now_ns() > end)
            return s_fail(f, "the links to N were not up within 30 s", "");
        bench_sleep_ms(20);
    }
    return 0;
}

static void s_stop(s_fed_t *f)
{
    for (int b = 0; b < S_NBROKERS; b++)
        if (f->broker[b].env)
            bench_broker_fini(&f->broker[b]);
    for (int b = S_N; b < S_NBROKERS; b++)
        proto_identity_destroy(&f->id[b]);
}

//  One phase: senders 0..n-1 at P1, recipients first..first+n-1 at far;
//  as fast as the brokers take them, or paced at rate documents/s for the
//  plan's 1,000/s latency time.
static void s_phase(s_fed_t *f, const bench_plan_t *plan, int far, int first, double rate,
                    bench_result_t *r)
{
    bench_env_t *env = f->env;
    int n = plan->senders, senders[BENCH_NAGENCIES] = { 0 }, recipients[BENCH_NAGENCIES] = { 0 };
    bench_to_t to[BENCH_NAGENCIES] = { { NULL, 0 } };
    truc_client_t *sc[BENCH_NAGENCIES] = { NULL }, *rc_[BENCH_NAGENCIES] = { NULL };
    for (int i = 0; i < n; i++) {
        senders[i] = i;
        recipients[i] = first + i;
        to[i] = (bench_to_t){ &recipients[i], 1 };
    }
    size_t count = rate > 0               ? (size_t) (rate * plan->seconds_1k)
                   : plan->docs / 2 > 200 ? plan->docs / 2
                                          : 200;
    if (count < 200)
        count = 200;
    size_t warm = count / 10;
    bench_docs_t docs;
    memset(&docs, 0, sizeof docs);
    bench_send_t s, w;
    memset(&s, 0, sizeof s);
    memset(&w, 0, sizeof w);
    bench_recv_t rcv;
    memset(&rcv, 0, sizeof rcv);
    bench_proc_t before[S_NBROKERS], after[S_NBROKERS];
    int rc = bench_docs_make(&docs, env, senders, n, to, count, BENCH_DOC_SIZE, env->cpus, f->err,
                             sizeof f->err);
    for (int i = 0; !rc && i < n; i++) {
        rc_[i] = bench_connect(&f->broker[far], f->ctx, recipients[i], S_WINDOW, S_HELLO_MS, f->err,
                               sizeof f->err);
        sc[i] = rc_[i] ? bench_connect(&f->broker[S_P1], f->ctx, senders[i], S_WINDOW, S_HELLO_MS,
                                       f->err, sizeof f->err)
                       : NULL;
        rc = sc[i] ? 0 : -1;
    }
    if (!rc) {
        rcv = (bench_recv_t){ .env = env,
                              .docs = &docs,
                              .clients = rc_,
                              .n = n,
                              .expected = count,
                              .measure_from = warm,
                              .stall_ms = env->stall_ms };
        rc = bench_recv_start(&rcv);
        if (rc)
            snprintf(f->err, sizeof f->err, "%s", rcv.error);
    }
    bench_send_t *phases[2] = { &w, &s };
    size_t firsts[2] = { 0, warm }, counts[2] = { warm, count - warm };
    for (int k = 0; k < 2 && !rc; k++) {
        bench_send_t *p = phases[k];
        *p = (bench_send_t){ .docs = &docs,
                             .clients = sc,
                             .first = firsts[k],
                             .count = counts[k],
                             .depth = rate > 0 ? 100000 : plan->depth,
                             .rate = rate,
                             .ack_routed = true,
                             .stall_ms = env->stall_ms };
        if (k == 1) {
            //  The warm-up ends when its documents are delivered too.
            while (rcv.status == 0 && atomic_load(&rcv.delivered) < warm)
                bench_sleep_ms(1);
            for (int b = 0; b < S_NBROKERS; b++)
                bench_proc_read(f->broker[b].pid, &before[b]);
        }
        rc = bench_send_run(p, f->err, sizeof f->err);
        if (!rc && (p->rejected || p->errors)) {
            snprintf(f->err, sizeof f->err, "%zu rejected, %zu errors: %s", p->rejected, p->errors,
                     p->first_error);
            rc = -1;
        }
    }
    if (rcv.started) {
        if (rc)
            atomic_store(&rcv.stop, true);
        bench_recv_join(&rcv);
        if (!rc && rcv.status) {
            snprintf(f->err, sizeof f->err, "%s", rcv.error);
            rc = -1;
        }
    }
    if (rc) {
        bench_result_fail(r, "%s", f->err);
    } else {
        r->docs = s.count;
        double secs = (double) (rcv.t_last - s.t_first) / 1e9;
        if (secs > 0) {
            r->seconds = secs;
            r->docs_per_s = (double) s.count / secs;
            r->mb_per_s = (double) (docs.bytes / docs.n * s.count) / 1e6 / secs;
        }
        bench_result_latency(r, &rcv.lat);
        static const char *const keys[S_NBROKERS] = { "cpu_us_p1", "cpu_us_n", "cpu_us_p2" };
        double cpu[S_NBROKERS] = { 0, 0, 0 };
        for (int b = 0; b < S_NBROKERS; b++)
            if (bench_proc_read(f->broker[b].pid, &after[b]) == 0 && s.count) {
                cpu[b] = (after[b].cpu_s - before[b].cpu_s) * 1e6 / (double) s.count;
                bench_result_extra(r, keys[b], cpu[b]);
            }
        r->cpu_us_per_doc = cpu[S_P1];
        r->peak_rss_mb = after[S_P1].hwm_mb;
        r->anon_mb = after[S_P1].anon_mb;
        bench_result_extra(r, "routed_receipts", (double) s.routed);
        snprintf(r->note, sizeof r->note,
                 "latency: send at P1 -> DELIVER at %s; CPU us/doc P1 %.0f, N %.0f, P2 %.0f; %s "
                 "docs, %d -> %d agencies",
                 far == S_N ? "N" : "P2", cpu[S_P1], cpu[S_N], cpu[S_P2],
                 bench_num((double) s.count, 0), n, n);
    }
    for (int i = 0; i < n; i++) {
        truc_client_destroy(&sc[i]);
        truc_client_destroy(&rc_[i]);
    }
    bench_lat_free(&w.lat);
    bench_lat_free(&s.lat);
    bench_lat_free(&rcv.lat);
    bench_docs_free(&docs);
}

void bench_run_federation(bench_env_t *env, const bench_plan_t *plan,
                          const bench_calibration_t *cal, bench_result_t *out, int *n, int max)
{
    (void) cal;
    static bench_result_t spare[4];
    bench_result_t *r[4];
    static const char *const names[4] = { "fed_1hop", "fed_2hop", "fed_1hop_1k", "fed_2hop_1k" };
    static const char *const labels[4] = { "federation, 1 hop 4 KiB", "federation, 2 hops 4 KiB",
                                           "federation, 1 hop 1,000/s",
                                           "federation, 2 hops 1,000/s" };
    for (int k = 0; k < 4; k++) {
        r[k] = *n < max ? &out[(*n)++] : &spare[k];
        bench_result_init(r[k], names[k], labels[k]);
    }
    bench_say(env, "federation: P1 -> N (1 hop) and P1 -> N -> P2 (2 hops), %d senders",
              plan->senders);
    s_fed_t f;
    memset(&f, 0, sizeof f);
    f.env = env;
    f.ctx = zmq_ctx_new();
    int rc = f.ctx ? s_identities(&f) : s_fail(&f, "zmq_ctx_new failed", "");
    for (int b = 0; b < S_NBROKERS && !rc; b++)
        rc = s_directory(&f, b);
    if (!rc)
        rc = s_start(&f);
    if (rc) {
        for (int k = 0; k < 4; k++)
            bench_result_fail(r[k], "%s", f.err);
    } else {
        s_phase(&f, plan, S_N, S_NAT_FIRST, 0, r[0]);
        s_phase(&f, plan, S_P2, S_P2_FIRST, 0, r[1]);
        s_phase(&f, plan, S_N, S_NAT_FIRST, 1000, r[2]);
        s_phase(&f, plan, S_P2, S_P2_FIRST, 1000, r[3]);
    }
    //  After the context: zero-copy frames may be read until it ends.
    if (f.ctx)
        zmq_ctx_term(f.ctx);
    s_stop(&f);
}
