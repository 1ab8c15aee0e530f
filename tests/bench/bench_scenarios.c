/*  tests/bench/bench_scenarios.c - the broker scenarios, each on a broker of
    its own with a fresh data directory:

      ingest      senders replay pre-signed 4 KiB documents, pipelined, to an
                  agency that is offline: ACCEPTED receipts per second
      delivery    the same with the recipients connected and draining:
                  documents per second from first send to last DELIVER
      latency     paced at 1,000 and 10,000 documents/s: send -> ACCEPTED
      sizes       1 KiB, 64 KiB, 1 MiB and 16 MiB documents: documents/s, MB/s
      backlog     documents pile up for an offline agency: memory as the
                  backlog grows, restart time with it, drain rate
      fan-out     one document to 50 recipients: documents/s, deliveries/s

    Every throughput is measured after a short warm-up (documents sent and
    answered before the clock starts), over the interval from the first
    measured send to the last receipt or delivery.
*/
#include "bench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#define S_OFFLINE      40 // the agency nobody connects as: backlogs pile up for it
#define S_HELLO_MS     20000
#define S_WINDOW       1000 // the broker's default limits.max_window
#define S_FANOUT_FIRST 10   // fan-out recipients: agencies 10 .. 59

typedef struct {
    bench_env_t *env;
    bench_broker_t broker;
    void *ctx; // shared by every client of the scenario
    truc_client_t *senders[BENCH_NAGENCIES];
    truc_client_t *recipients[BENCH_NAGENCIES];
    int nsenders, nrecipients;
    bench_docs_t docs;
    uint64_t commits; // the broker's commits when the measured interval began
    bool have_commits;
    char err[2048];
} s_run_t;

static bench_result_t *s_result(bench_result_t *out, int *n, int max, const char *name,
                                const char *label)
{
    static bench_result_t spare;
    bench_result_t *r = *n < max ? &out[(*n)++] : &spare;
    bench_result_init(r, name, label);
    return r;
}

static int s_open(s_run_t *run, bench_env_t *env, const char *const *sets)
{
    memset(run, 0, sizeof *run);
    run->env = env;
    bench_broker_init(&run->broker, env, sets);
    run->ctx = zmq_ctx_new();
    if (!run->ctx) {
        snprintf(run->err, sizeof run->err, "zmq_ctx_new failed");
        return -1;
    }
    return bench_broker_start(&run->broker, NULL, run->err, sizeof run->err);
}

static void s_drop_clients(s_run_t *run)
{
    for (int i = 0; i < run->nsenders; i++)
        truc_client_destroy(&run->senders[i]);
    for (int i = 0; i < run->nrecipients; i++)
        truc_client_destroy(&run->recipients[i]);
    run->nsenders = run->nrecipients = 0;
}

static void s_close(s_run_t *run)
{
    s_drop_clients(run);
    //  After the context: zero-copy frames may be read until it ends.
    if (run->ctx)
        zmq_ctx_term(run->ctx);
    run->ctx = NULL;
    bench_broker_fini(&run->broker);
    bench_docs_free(&run->docs);
}

//  Connect n agencies into out (senders or recipients).
static int s_connect(s_run_t *run, const int *agencies, int n, truc_client_t **out, int *count)
{
    for (int i = 0; i < n; i++) {
        out[i] = bench_connect(&run->broker, run->ctx, agencies[i], S_WINDOW, S_HELLO_MS, run->err,
                               sizeof run->err);
        if (!out[i])
            return -1;
        (*count)++;
    }
    return 0;
}

static void s_range(int *out, int first, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = first + i;
}

//  Send documents [first, first + count) and wait for their receipts.
static int s_send_docs(s_run_t *run, bench_docs_t *docs, size_t first, size_t count, size_t depth,
                       double rate, bool ack_routed, bench_send_t *s)
{
    memset(s, 0, sizeof *s);
    s->docs = docs;
    s->clients = run->senders;
    s->first = first;
    s->count = count;
    s->depth = depth;
    s->rate = rate;
    s->ack_routed = ack_routed;
    s->stall_ms = run->env->stall_ms;
    if (count == 0)
        return 0;
    if (bench_send_run(s, run->err, sizeof run->err))
        return -1;
    if (s->rejected || s->errors) {
        snprintf(run->err, sizeof run->err, "%zu rejected, %zu errors: %s", s->rejected, s->errors,
                 s->first_error);
        return -1;
    }
    return 0;
}

static int s_send(s_run_t *run, size_t first, size_t count, size_t depth, double rate,
                  bool ack_routed, bench_send_t *s)
{
    return s_send_docs(run, &run->docs, first, count, depth, rate, ack_routed, s);
}

//  Read the /proc figures and the commit count where a measured interval begins.
static int s_mark(s_run_t *run, bench_proc_t *before)
{
    run->have_commits = bench_broker_status(&run->broker, &run->commits, NULL) == 0;
    return bench_proc_read(run->broker.pid, before);
}

//  Documents/s, MB/s, CPU per document and memory of the interval.
static void s_figures(bench_result_t *r, s_run_t *run, const bench_proc_t *before, uint64_t docs,
                      uint64_t bytes, int64_t t_begin, int64_t t_end)
{
    r->docs = docs;
    double secs = (double) (t_end - t_begin) / 1e9;
    if (secs > 0 && docs) {
        r->seconds = secs;
        r->docs_per_s = (double) docs / secs;
        r->mb_per_s = (double) bytes / 1e6 / secs;
    }
    bench_proc_t after;
    if (run->broker.pid > 0 && bench_proc_read(run->broker.pid, &after) == 0) {
        if (docs)
            r->cpu_us_per_doc = (after.cpu_s - before->cpu_s) * 1e6 / (double) docs;
        r->peak_rss_mb = after.hwm_mb;
        r->anon_mb = after.anon_mb;
        bench_result_extra(r, "rss_mb", after.rss_mb);
        bench_result_extra(r, "rss_file_mb", after.file_mb);
        bench_result_extra(r, "cpu_s", after.cpu_s - before->cpu_s);
        if (docs)
            bench_result_extra(r, "loop_us_per_doc",
                               (after.loop_cpu_s - before->loop_cpu_s) * 1e6 / (double) docs);
        if (docs && after.write_mb >= 0 && before->write_mb >= 0)
            bench_result_extra(r, "disk_kb_per_doc",
                               (after.write_mb - before->write_mb) * 1e3 / (double) docs);
        if (docs && after.wchar_mb >= 0 && before->wchar_mb >= 0)
            bench_result_extra(r, "written_kb_per_doc",
                               (after.wchar_mb - before->wchar_mb) * 1e3 / (double) docs);
    }
    uint64_t commits = 0, commit_us[3] = { 0, 0, 0 };
    if (run->have_commits && bench_broker_status(&run->broker, &commits, commit_us) == 0 &&
        commits > run->commits) {
        bench_result_extra(r, "commits", (double) (commits - run->commits));
        bench_result_extra(r, "docs_per_commit", (double) docs / (double) (commits - run->commits));
        bench_result_extra(r, "commit_ms_p50", (double) commit_us[0] / 1000);
        bench_result_extra(r, "commit_ms_p99", (double) commit_us[1] / 1000);
    }
    run->have_commits = false;
}

static size_t s_warmup(size_t n)
{
    size_t w = n / 10;
    return w > 1000 ? 1000 : w;
}

static void s_size_text(size_t bytes, char *out, size_t len)
{
    if (bytes >= (1u << 20) && bytes % (1u << 20) == 0)
        snprintf(out, len, "%zu MiB", bytes >> 20);
    else if (bytes >= 1024 && bytes % 1024 == 0)
        snprintf(out, len, "%zu KiB", bytes >> 10);
    else
        snprintf(out, len, "%zu B", bytes);
}

// ---------------------------------------------------------------------------
//  1. Ingest

void bench_run_ingest(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                      bench_result_t *out, int *n, int max)
{
    (void) cal;
    bench_result_t *r = s_result(out, n, max, "ingest", "ingest 4 KiB");
    s_run_t run;
    int senders[BENCH_NAGENCIES], offline = S_OFFLINE;
    bench_to_t to[BENCH_NAGENCIES];
    s_range(senders, 0, plan->senders);
    for (int s = 0; s < plan->senders; s++)
        to[s] = (bench_to_t){ &offline, 1 };
    bench_say(env, "ingest: %zu documents of 4 KiB, %d senders x %zu outstanding", plan->docs,
              plan->senders, plan->depth);
    bench_send_t warm, s;
    memset(&s, 0, sizeof s);
    memset(&warm, 0, sizeof warm);
    bench_proc_t before;
    size_t w = s_warmup(plan->docs);
    if (s_open(&run, env, NULL) ||
        bench_docs_make(&run.docs, env, senders, plan->senders, to, plan->docs, BENCH_DOC_SIZE,
                        env->cpus, run.err, sizeof run.err) ||
        s_connect(&run, senders, plan->senders, run.senders, &run.nsenders) ||
        s_send(&run, 0, w, plan->depth, 0, false, &warm) || s_mark(&run, &before) ||
        s_send(&run, w, plan->docs - w, plan->depth, 0, false, &s)) {
        bench_result_fail(r, "%s", run.err);
    } else {
        uint64_t bytes = run.docs.bytes / run.docs.n * s.count;
        s_figures(r, &run, &before, s.accepted, bytes, s.t_first, s.t_last);
        bench_result_latency(r, &s.lat);
        snprintf(r->note, sizeof r->note,
                 "%s docs, %d senders x %zu outstanding, to 1 offline agency; %s KB written "
                 "per doc",
                 bench_num((double) s.count, 0), plan->senders, plan->depth,
                 bench_num(bench_result_get(r, "written_kb_per_doc", -1), 1));
    }
    bench_lat_free(&warm.lat);
    bench_lat_free(&s.lat);
    s_close(&run);
}

// ---------------------------------------------------------------------------
//  2. Ingest and delivery

void bench_run_delivery(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                        bench_result_t *out, int *n, int max)
{
    (void) cal;
    bench_result_t *r = s_result(out, n, max, "delivery", "ingest + delivery 4 KiB");
    s_run_t run;
    int senders[BENCH_NAGENCIES], recipients[BENCH_NAGENCIES];
    bench_to_t to[BENCH_NAGENCIES];
    s_range(senders, 0, plan->senders);
    s_range(recipients, plan->senders, plan->senders);
    for (int s = 0; s < plan->senders; s++)
        to[s] = (bench_to_t){ &recipients[s], 1 };
    bench_say(env, "ingest + delivery: %zu documents of 4 KiB, %d senders -> %d recipients",
              plan->docs, plan->senders, plan->senders);
    bench_send_t warm, s;
    memset(&s, 0, sizeof s);
    memset(&warm, 0, sizeof warm);
    bench_recv_t rcv;
    memset(&rcv, 0, sizeof rcv);
    bench_proc_t before;
    size_t w = s_warmup(plan->docs);
    int rc = s_open(&run, env, NULL);
    if (!rc)
        rc = bench_docs_make(&run.docs, env, senders, plan->senders, to, plan->docs, BENCH_DOC_SIZE,
                             env->cpus, run.err, sizeof run.err);
    if (!rc)
        rc = s_connect(&run, recipients, plan->senders, run.recipients, &run.nrecipients);
    if (!rc)
        rc = s_connect(&run, senders, plan->senders, run.senders, &run.nsenders);
    if (!rc) {
        rcv.env = env;
        rcv.docs = &run.docs;
        rcv.clients = run.recipients;
        rcv.n = run.nrecipients;
        rcv.expected = plan->docs;
        rcv.measure_from = w;
        rcv.stall_ms = env->stall_ms;
        rc = bench_recv_start(&rcv);
        if (rc)
            snprintf(run.err, sizeof run.err, "%s", rcv.error);
    }
    if (!rc)
        rc = s_send(&run, 0, w, plan->depth, 0, true, &warm);
    //  The warm-up ends when its documents are delivered too.
    while (!rc && rcv.status == 0 && atomic_load(&rcv.delivered) < w)
        bench_sleep_ms(1);
    if (!rc)
        rc = s_mark(&run, &before);
    if (!rc)
        rc = s_send(&run, w, plan->docs - w, plan->depth, 0, true, &s);
    if (rcv.started) {
        //  Every ACCEPTED is in: what remains are deliveries in flight.
        if (rc)
            atomic_store(&rcv.stop, true);
        bench_recv_join(&rcv);
    }
    if (!rc && rcv.status) {
        snprintf(run.err, sizeof run.err, "%s", rcv.error);
        rc = -1;
    }
    if (rc) {
        bench_result_fail(r, "%s", run.err);
    } else {
        uint64_t bytes = run.docs.bytes / run.docs.n * s.count;
        s_figures(r, &run, &before, s.count, bytes, s.t_first, rcv.t_last);
        bench_result_latency(r, &rcv.lat);
        double accept_s = (double) (s.t_last - s.t_first) / 1e9;
        if (accept_s > 0)
            bench_result_extra(r, "accepted_per_s", (double) s.accepted / accept_s);
        bench_result_extra(r, "accept_p50_ms", bench_lat_ms(&s.lat, 0.5));
        bench_result_extra(r, "accept_p99_ms", bench_lat_ms(&s.lat, 0.99));
        bench_result_extra(r, "routed_receipts", (double) s.routed);
        snprintf(r->note, sizeof r->note,
                 "latency: send -> DELIVER; ACCEPTED at %s/s (p50 %.1f ms); %s docs, %d -> %d "
                 "agencies",
                 bench_num(bench_result_get(r, "accepted_per_s", 0), 0), bench_lat_ms(&s.lat, 0.5),
                 bench_num((double) s.count, 0), plan->senders, plan->senders);
    }
    bench_lat_free(&warm.lat);
    bench_lat_free(&s.lat);
    bench_lat_free(&rcv.lat);
    s_close(&run);
}

// ---------------------------------------------------------------------------
//  3. Latency at fixed rates

void bench_run_latency(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                       bench_result_t *out, int *n, int max)
{
    (void) cal;
    static const double rates[2] = { 1000, 10000 };
    double seconds[2] = { plan->seconds_1k, plan->seconds_10k };
    bench_result_t *r[2] = { s_result(out, n, max, "latency_1k", "latency at 1,000/s"),
                             s_result(out, n, max, "latency_10k", "latency at 10,000/s") };
    size_t counts[2], warm = 100, total = warm;
    for (int k = 0; k < 2; k++) {
        counts[k] = (size_t) (rates[k] * seconds[k]);
        if (counts[k] < 10)
            counts[k] = 10;
        total += counts[k];
    }
    s_run_t run;
    int senders[BENCH_NAGENCIES], offline = S_OFFLINE;
    bench_to_t to[BENCH_NAGENCIES];
    s_range(senders, 0, plan->senders);
    for (int s = 0; s < plan->senders; s++)
        to[s] = (bench_to_t){ &offline, 1 };
    bench_say(env, "latency: %.1f s at 1,000/s and %.1f s at 10,000/s", seconds[0], seconds[1]);
    bench_send_t s;
    memset(&s, 0, sizeof s);
    if (s_open(&run, env, NULL) ||
        bench_docs_make(&run.docs, env, senders, plan->senders, to, total, BENCH_DOC_SIZE,
                        env->cpus, run.err, sizeof run.err) ||
        s_connect(&run, senders, plan->senders, run.senders, &run.nsenders) ||
        s_send(&run, 0, warm, plan->depth, 0, false, &s)) {
        bench_result_fail(r[0], "%s", run.err);
        bench_result_fail(r[1], "%s", run.err);
        bench_lat_free(&s.lat);
        s_close(&run);
        return;
    }
    size_t first = warm;
    for (int k = 0; k < 2; k++) {
        bench_lat_free(&s.lat);
        bench_proc_t before;
        if (s_mark(&run, &before) || s_send(&run, first, counts[k], 100000, rates[k], false, &s)) {
            bench_result_fail(r[k], "%s", run.err);
            continue;
        }
        uint64_t bytes = run.docs.bytes / run.docs.n * counts[k];
        s_figures(r[k], &run, &before, s.accepted, bytes, s.t_first, s.t_last);
        bench_result_latency(r[k], &s.lat);
        bench_result_extra(r[k], "rate", rates[k]);
        bench_result_extra(r[k], "late_sends", (double) s.late);
        snprintf(r[k]->note, sizeof r[k]->note, "send -> ACCEPTED, %s docs paced over %d senders",
                 bench_num((double) counts[k], 0), plan->senders);
        if (s.late)
            snprintf(r[k]->note + strlen(r[k]->note), sizeof r[k]->note - strlen(r[k]->note),
                     "; %s sends over 5 ms behind schedule", bench_num((double) s.late, 0));
        double commit_ms = bench_result_get(r[k], "commit_ms_p50", -1);
        if (commit_ms >= 0)
            snprintf(r[k]->note + strlen(r[k]->note), sizeof r[k]->note - strlen(r[k]->note),
                     "; the broker's commits: p50 %s ms, p99 %s ms, %s docs each",
                     bench_num(commit_ms, 2),
                     bench_num(bench_result_get(r[k], "commit_ms_p99", 0), 2),
                     bench_num(bench_result_get(r[k], "docs_per_commit", 0), 1));
        first += counts[k];
    }
    bench_lat_free(&s.lat);
    s_close(&run);
}

// ---------------------------------------------------------------------------
//  4. Document sizes

void bench_run_sizes(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                     bench_result_t *out, int *n, int max)
{
    static const size_t sizes[4] = { 1u << 10, 64u << 10, 1u << 20, 16u << 20 };
    static const char *names[4] = { "size_1k", "size_64k", "size_1m", "size_16m" };
    //  The bytes each size may move: enough for a rate, never gigabytes in
    //  a quick run.
    uint64_t budget = (uint64_t) plan->docs * (16u << 10);
    if (budget > (2ull << 30))
        budget = 2ull << 30;
    for (int k = 0; k < 4; k++) {
        char size_text[32], label[48];
        s_size_text(sizes[k], size_text, sizeof size_text);
        snprintf(label, sizeof label, "size %s", size_text);
        bench_result_t *r = s_result(out, n, max, names[k], label);
        size_t count = (size_t) (budget / sizes[k]);
        if (count > plan->docs)
            count = plan->docs;
        if (count < 8)
            count = 8;
        //  Unanswered bytes per sender stay under 32 MiB.
        size_t depth = (32u << 20) / sizes[k];
        if (depth > plan->depth)
            depth = plan->depth;
        if (depth < 1)
            depth = 1;
        int nsenders = plan->senders;
        //  Frames well above the largest document, whatever the defaults.
        char frame_set[64], doc_set[64];
        snprintf(frame_set, sizeof frame_set, "limits.max_frame=%zu",
                 sizes[k] * 2 > (64u << 20) ? sizes[k] * 2 : (size_t) 64u << 20);
        snprintf(doc_set, sizeof doc_set, "limits.max_document=%zu",
                 sizes[k] * 4 > (256u << 20) ? sizes[k] * 4 : (size_t) 256u << 20);
        const char *sets[] = { frame_set, doc_set, "limits.quota_bytes=1T", NULL };
        s_run_t run;
        int senders[BENCH_NAGENCIES], offline = S_OFFLINE;
        bench_to_t to[BENCH_NAGENCIES];
        s_range(senders, 0, nsenders);
        for (int s = 0; s < nsenders; s++)
            to[s] = (bench_to_t){ &offline, 1 };
        bench_say(env, "size %s: %zu documents, %d senders x %zu outstanding", size_text, count,
                  nsenders, depth);
        size_t w = count >= 20 ? s_warmup(count) : 1;
        bench_send_t warm, s;
        memset(&s, 0, sizeof s);
        memset(&warm, 0, sizeof warm);
        bench_proc_t before;
        if (s_open(&run, env, sets) ||
            bench_docs_make(&run.docs, env, senders, nsenders, to, count, sizes[k], env->cpus,
                            run.err, sizeof run.err) ||
            s_connect(&run, senders, nsenders, run.senders, &run.nsenders) ||
            s_send(&run, 0, w, depth, 0, false, &warm) || s_mark(&run, &before) ||
            s_send(&run, w, count - w, depth, 0, false, &s)) {
            bench_result_fail(r, "%s", run.err);
        } else {
            uint64_t bytes = run.docs.bytes / run.docs.n * s.count;
            s_figures(r, &run, &before, s.accepted, bytes, s.t_first, s.t_last);
            bench_result_latency(r, &s.lat);
            bench_result_extra(r, "size", (double) sizes[k]);
            if (cal->blake2b_mbps_1 > 0 && r->mb_per_s > 0)
                bench_result_extra(r, "blake2b_ratio", r->mb_per_s / cal->blake2b_mbps_1);
            snprintf(r->note, sizeof r->note,
                     "%s docs, %d senders x %zu outstanding; %.0f%% of one core's BLAKE2b rate",
                     bench_num((double) s.count, 0), nsenders, depth,
                     100 * bench_result_get(r, "blake2b_ratio", 0));
        }
        bench_lat_free(&warm.lat);
        bench_lat_free(&s.lat);
        s_close(&run);
    }
}

// ---------------------------------------------------------------------------
//  5. Backlog

//  Bytes of the store's data file.
static double s_store_mb(const bench_broker_t *b)
{
    char path[BENCH_PATH_MAX + 32];
    struct stat st;
    snprintf(path, sizeof path, "%s/store/data.mdb", b->data);
    if (stat(path, &st) != 0)
        return -1;
    //  Blocks really allocated: the map is a sparse file as large as map_size.
    return (double) st.st_blocks * 512.0 / 1e6;
}

void bench_run_backlog(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                       bench_result_t *out, int *n, int max)
{
    (void) cal;
    size_t total = plan->backlog;
    char size_text[32], label[48];
    s_size_text(plan->backlog_size, size_text, sizeof size_text);
    snprintf(label, sizeof label, "backlog ingest %s", size_text);
    bench_result_t *ri = s_result(out, n, max, "backlog_ingest", label);
    bench_result_t *rd = s_result(out, n, max, "backlog_drain", "backlog drain");
    char quota[64];
    snprintf(quota, sizeof quota, "limits.quota_documents=%zu", total * 2 + 1000);
    const char *sets[] = { quota, "limits.quota_bytes=1T", NULL };
    s_run_t run;
    int senders[BENCH_NAGENCIES], offline = S_OFFLINE, probe = S_OFFLINE + 1;
    bench_to_t to[BENCH_NAGENCIES], to_probe[BENCH_NAGENCIES];
    s_range(senders, 0, plan->senders);
    for (int s = 0; s < plan->senders; s++) {
        to[s] = (bench_to_t){ &offline, 1 };
        to_probe[s] = (bench_to_t){ &probe, 1 };
    }
    bench_say(env, "backlog: %zu documents of %s for an offline agency (signing them first)", total,
              size_text);
    bench_send_t s;
    memset(&s, 0, sizeof s);
    bench_recv_t rcv, warm_rcv;
    memset(&rcv, 0, sizeof rcv);
    memset(&warm_rcv, 0, sizeof warm_rcv);
    bench_docs_t warm_docs;
    memset(&warm_docs, 0, sizeof warm_docs);
    bench_proc_t base = { 0 }, before = { 0 }, sample = { 0 };
    bench_lat_t lat = { 0 };
    size_t warm = total < 2000 ? total : 2000;
    int rc = s_open(&run, env, sets);
    if (!rc)
        rc = bench_docs_make(&run.docs, env, senders, plan->senders, to, total, plan->backlog_size,
                             env->cpus, run.err, sizeof run.err);
    if (!rc)
        rc = bench_docs_make(&warm_docs, env, senders, plan->senders, to_probe, warm,
                             plan->backlog_size, env->cpus, run.err, sizeof run.err);
    if (!rc)
        rc = s_connect(&run, senders, plan->senders, run.senders, &run.nsenders);
    //  Warm-up: documents to an agency that takes them at once, so that the
    //  samples below compare a broker that has worked with itself, and
    //  differ only by the backlog.
    if (!rc)
        rc = s_connect(&run, &probe, 1, run.recipients, &run.nrecipients);
    if (!rc) {
        warm_rcv.env = env;
        warm_rcv.clients = run.recipients;
        warm_rcv.n = 1;
        warm_rcv.expected = warm;
        warm_rcv.stall_ms = env->stall_ms;
        rc = bench_recv_start(&warm_rcv);
        if (rc)
            snprintf(run.err, sizeof run.err, "%s", warm_rcv.error);
    }
    if (!rc)
        rc = s_send_docs(&run, &warm_docs, 0, warm, plan->depth, 0, true, &s);
    if (warm_rcv.started) {
        if (rc)
            atomic_store(&warm_rcv.stop, true);
        bench_recv_join(&warm_rcv);
        if (!rc && warm_rcv.status) {
            snprintf(run.err, sizeof run.err, "warm-up: %s", warm_rcv.error);
            rc = -1;
        }
    }
    truc_client_destroy(&run.recipients[0]);
    run.nrecipients = 0;
    bench_sleep_ms(200);
    if (!rc)
        rc = bench_proc_read(run.broker.pid, &base);
    before = base;
    //  Grow the backlog in three steps; between steps nothing is in flight,
    //  so the samples show what the backlog itself costs.
    static const double marks[3] = { 0.10, 0.50, 1.00 };
    static const char *mark_names[3] = { "10", "50", "100" };
    size_t first = 0;
    double busy_s = 0, anon[3] = { 0 };
    uint64_t accepted = 0;
    for (int k = 0; !rc && k < 3; k++) {
        size_t upto = (size_t) ((double) total * marks[k]);
        if (upto <= first)
            upto = first + (first < total ? 1 : 0);
        bench_lat_free(&s.lat);
        rc = s_send(&run, first, upto - first, plan->depth, 0, false, &s);
        if (rc)
            break;
        accepted += s.accepted;
        if (s.count)
            busy_s += (double) (s.t_last - s.t_first) / 1e9;
        for (size_t i = 0; i < s.lat.n; i++)
            bench_lat_add(&lat, s.lat.ns[i]);
        first = upto;
        bench_sleep_ms(200); // let the last commit's answers and frees settle
        rc = bench_proc_read(run.broker.pid, &sample);
        if (rc)
            break;
        char key[40];
        anon[k] = sample.anon_mb;
        snprintf(key, sizeof key, "rss_%s_mb", mark_names[k]);
        bench_result_extra(ri, key, sample.rss_mb);
        snprintf(key, sizeof key, "heap_%s_mb", mark_names[k]);
        bench_result_extra(ri, key, sample.anon_mb);
        snprintf(key, sizeof key, "brk_heap_%s_mb", mark_names[k]);
        bench_result_extra(ri, key, sample.brk_heap_mb);
        snprintf(key, sizeof key, "store_%s_mb", mark_names[k]);
        bench_result_extra(ri, key, s_store_mb(&run.broker));
        bench_say(env, "backlog %s%%: %zu waiting, broker RSS %.1f MB, heap (RssAnon) %.1f MB",
                  mark_names[k], first, sample.rss_mb, sample.anon_mb);
    }
    if (rc) {
        bench_result_fail(ri, "%s", run.err);
        bench_result_fail(rd, "%s", run.err);
        goto done;
    }
    ri->docs = accepted;
    if (busy_s > 0) {
        ri->seconds = busy_s;
        ri->docs_per_s = (double) accepted / busy_s;
        ri->mb_per_s = (double) run.docs.bytes / 1e6 / busy_s;
    }
    ri->cpu_us_per_doc = (sample.cpu_s - base.cpu_s) * 1e6 / (double) (accepted ? accepted : 1);
    ri->peak_rss_mb = sample.hwm_mb;
    ri->anon_mb = sample.anon_mb;
    bench_result_latency(ri, &lat);
    double lo = anon[0], hi = anon[0];
    for (int k = 1; k < 3; k++) {
        lo = anon[k] < lo ? anon[k] : lo;
        hi = anon[k] > hi ? anon[k] : hi;
    }
    bench_result_extra(ri, "heap_spread", lo > 0 ? hi / lo - 1 : -1);
    bench_result_extra(ri, "heap_warm_mb", base.anon_mb);
    bench_result_extra(ri, "waiting", (double) total);
    snprintf(ri->note, sizeof ri->note,
             "heap (RssAnon) at 10/50/100%%: %.1f / %.1f / %.1f MB; "
             "RSS %.0f / %.0f / %.0f MB",
             anon[0], anon[1], anon[2], bench_result_get(ri, "rss_10_mb", 0),
             bench_result_get(ri, "rss_50_mb", 0), bench_result_get(ri, "rss_100_mb", 0));

    //  Restart with the backlog: stop, start, first READY.
    s_drop_clients(&run);
    double stop_ms = 0, endpoint_ms = 0;
    if (bench_broker_stop(&run.broker, &stop_ms, run.err, sizeof run.err)) {
        bench_result_fail(rd, "%s", run.err);
        goto done;
    }
    int64_t t0 = bench_now_ns();
    if (bench_broker_start(&run.broker, &endpoint_ms, run.err, sizeof run.err) ||
        s_connect(&run, &probe, 1, run.senders, &run.nsenders)) {
        bench_result_fail(rd, "restart: %s", run.err);
        goto done;
    }
    double ready_ms = (double) (bench_now_ns() - t0) / 1e6;
    bench_result_extra(ri, "stop_ms", stop_ms);
    bench_result_extra(ri, "restart_endpoint_ms", endpoint_ms);
    bench_result_extra(ri, "restart_ms", ready_ms);
    if (bench_proc_read(run.broker.pid, &before) == 0)
        bench_result_extra(ri, "heap_restarted_mb", before.anon_mb);
    bench_say(env,
              "backlog restart: stopped in %.0f ms, endpoint after %.0f ms, READY after %.0f ms",
              stop_ms, endpoint_ms, ready_ms);

    //  Drain: the agency connects and takes everything.
    rcv.env = env;
    rcv.docs = NULL; // send times are from before the restart: no latency
    rcv.clients = run.recipients;
    rcv.expected = total;
    rcv.stall_ms = env->stall_ms;
    int64_t d0 = bench_now_ns();
    if (s_connect(&run, &offline, 1, run.recipients, &run.nrecipients)) {
        bench_result_fail(rd, "%s", run.err);
        goto done;
    }
    rcv.n = run.nrecipients;
    if (bench_recv_start(&rcv)) {
        bench_result_fail(rd, "%s", rcv.error);
        goto done;
    }
    bench_recv_join(&rcv);
    if (rcv.status) {
        bench_result_fail(rd, "%s", rcv.error);
        goto done;
    }
    s_figures(rd, &run, &before, rcv.delivered, run.docs.bytes, d0, rcv.t_last);
    snprintf(rd->note, sizeof rd->note,
             "%s waiting; restart %.0f ms to READY (endpoint %.0f ms, stop %.0f ms)",
             bench_num((double) total, 0), ready_ms, endpoint_ms, stop_ms);
done:
    bench_lat_free(&lat);
    bench_lat_free(&s.lat);
    bench_lat_free(&rcv.lat);
    bench_lat_free(&warm_rcv.lat);
    s_close(&run);
    bench_docs_free(&warm_docs);
}

// ---------------------------------------------------------------------------
//  6. Fan-out

void bench_run_fanout(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                      bench_result_t *out, int *n, int max)
{
    (void) cal;
    bench_result_t *r = s_result(out, n, max, "fanout", "fan-out to 50");
    s_run_t run;
    int sender = 0, recipients[BENCH_FANOUT];
    s_range(recipients, S_FANOUT_FIRST, BENCH_FANOUT);
    bench_to_t to[1] = { { recipients, BENCH_FANOUT } };
    size_t count = plan->fanout_docs;
    bench_say(env, "fan-out: %zu documents of 4 KiB, each to %d recipients", count, BENCH_FANOUT);
    bench_send_t s;
    memset(&s, 0, sizeof s);
    bench_recv_t rcv;
    memset(&rcv, 0, sizeof rcv);
    bench_proc_t before;
    int rc = s_open(&run, env, NULL);
    if (!rc)
        rc = bench_docs_make(&run.docs, env, &sender, 1, to, count, BENCH_DOC_SIZE, env->cpus,
                             run.err, sizeof run.err);
    if (!rc)
        rc = s_connect(&run, recipients, BENCH_FANOUT, run.recipients, &run.nrecipients);
    if (!rc)
        rc = s_connect(&run, &sender, 1, run.senders, &run.nsenders);
    if (!rc) {
        rcv.env = env;
        rcv.docs = &run.docs;
        rcv.clients = run.recipients;
        rcv.n = run.nrecipients;
        rcv.expected = (uint64_t) count * BENCH_FANOUT;
        rcv.stall_ms = env->stall_ms;
        rc = s_mark(&run, &before);
    }
    if (!rc && bench_recv_start(&rcv)) {
        snprintf(run.err, sizeof run.err, "%s", rcv.error);
        rc = -1;
    }
    if (!rc)
        rc = s_send(&run, 0, count, plan->depth * (size_t) plan->senders, 0, true, &s);
    if (rcv.started) {
        if (rc)
            atomic_store(&rcv.stop, true);
        bench_recv_join(&rcv);
    }
    if (!rc && rcv.status) {
        snprintf(run.err, sizeof run.err, "%s", rcv.error);
        rc = -1;
    }
    if (rc) {
        bench_result_fail(r, "%s", run.err);
    } else {
        s_figures(r, &run, &before, count, run.docs.bytes, s.t_first, rcv.t_last);
        bench_result_latency(r, &rcv.lat);
        double deliveries = (double) rcv.delivered;
        if (r->seconds > 0)
            bench_result_extra(r, "deliveries_per_s", deliveries / r->seconds);
        bench_result_extra(r, "deliveries", deliveries);
        //  How many documents each recipient's DELIVERED covers: the broker
        //  routes one message per DELIVERED and sender, not one per document.
        if (rcv.bundles)
            bench_result_extra(r, "deliveries_per_delivered", deliveries / (double) rcv.bundles);
        if (deliveries > 0 && r->cpu_us_per_doc >= 0)
            bench_result_extra(r, "cpu_us_per_delivery",
                               r->cpu_us_per_doc * (double) count / deliveries);
        snprintf(r->note, sizeof r->note,
                 "%s deliveries/s; latency: send -> each DELIVER; %s docs x %d recipients; %s "
                 "documents per recipient's DELIVERED",
                 bench_num(bench_result_get(r, "deliveries_per_s", 0), 0),
                 bench_num((double) count, 0), BENCH_FANOUT,
                 bench_num(bench_result_get(r, "deliveries_per_delivered", 0), 1));
    }
    bench_lat_free(&s.lat);
    bench_lat_free(&rcv.lat);
    s_close(&run);
}
