/*  tests/bench/bench.h - truc-bench: what its modules share.

    truc-bench measures a real truc-broker (and, for one scenario, real
    truc-agents) on this machine, and compares every figure with what the
    same machine can do at best, measured in the same run:

      bench_env.c        the temporary directory, identities and agency
                         directory, broker and agent processes, /proc figures
      bench_calibrate.c  the machine's Ed25519 verify rate, BLAKE2b rate and
                         durable LMDB commit time; the ceiling
      bench_drive.c      pre-signed documents and the protocol-level drivers:
                         pipelined senders and draining recipients
      bench_scenarios.c  the broker scenarios (ingest, delivery, latency,
                         sizes, backlog, fan-out)
      bench_agents.c     the scenario through two truc-agents and their API
      bench_federation.c documents through one and two linked brokers
      bench_natdir.c     the national directory: load, reload, copy, merge
      bench_rabbit.c     the same workloads on a private RabbitMQ node (--peer)
      bench_main.c       options, the table, JSON, the targets

    It deliberately does not: decide whether the broker is right (the
    integration tests do), or fail because the machine is slow. A scenario
    fails only when it cannot finish: a process that dies, a document that
    is never answered, no progress for a long time.
*/
#ifndef BENCH_H
#define BENCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/directory.h"
#include "proto/identity.h"
#include "truc_client.h"

#define BENCH_NAGENCIES  64  // agencies in the directory: 000.00.01.H01 .. 000.00.64.H01
#define BENCH_FANOUT     50  // recipients of one document in the fan-out scenario
#define BENCH_MAX_SETS   24  // extra --set assignments for the broker
#define BENCH_MAX_PROCS  64  // processes started in one run
#define BENCH_PATH_MAX   256 // paths under the root
#define BENCH_ROOT_MAX   96  // the root is short: ipc paths under it must stay short
#define BENCH_MAX_EXTRA  24  // extra named figures of one result
#define BENCH_DOC_SIZE   4096
#define BENCH_START_MS   30000 // waiting for a process to come up
#define BENCH_STOP_MS    60000 // waiting for a process to exit after SIGTERM
#define BENCH_MAX_SAMPLE 8     // memory samples of the backlog scenario

// ---------------------------------------------------------------------------
//  Time

//  Monotonic nanoseconds.
int64_t bench_now_ns(void);

//  Sleep for ms milliseconds.
void bench_sleep_ms(int ms);

//  value with thousands separators and decimals digits after the point ("-"
//  when negative: not applicable), in one of 32 rotating static buffers.
const char *bench_num(double value, int decimals);

// ---------------------------------------------------------------------------
//  Latency samples

typedef struct {
    int64_t *ns; // samples, nanoseconds
    size_t n, cap;
} bench_lat_t;

//  Add one sample (ns). Silently drops it if memory runs out.
void bench_lat_add(bench_lat_t *self, int64_t ns);

//  The q-quantile (0..1) in milliseconds, sorting the samples first; 0 when
//  there are none.
double bench_lat_ms(bench_lat_t *self, double q);

void bench_lat_free(bench_lat_t *self);

// ---------------------------------------------------------------------------
//  Results

//  One named extra figure of a result (JSON and notes).
typedef struct {
    char key[40];
    double value;
} bench_extra_t;

//  What one scenario (or phase of one) measured. Figures that do not apply
//  are negative and print as "-".
typedef struct {
    char name[40];   // short key: "ingest", "size_16M", ...
    char label[48];  // what the table shows
    bool failed;     // the scenario could not finish
    char error[256]; // why
    uint64_t docs;   // documents measured
    double seconds;  // measured interval
    double docs_per_s;
    double mb_per_s;                // 10^6 bytes of body and attachment frames per second
    double p50_ms, p99_ms, p999_ms; // receipt latency
    double cpu_us_per_doc;          // broker user+system CPU per document
    double peak_rss_mb;             // broker VmHWM at the end
    double anon_mb;                 // broker RssAnon at the end ("heap", see README)
    char note[320];                 // one line shown after the table row
    bench_extra_t extra[BENCH_MAX_EXTRA];
    int nextra;
} bench_result_t;

//  A fresh result with every figure "not applicable".
void bench_result_init(bench_result_t *r, const char *name, const char *label);

//  Record an extra figure.
void bench_result_extra(bench_result_t *r, const char *key, double value);

//  An extra figure, or def if absent.
double bench_result_get(const bench_result_t *r, const char *key, double def);

//  Mark failed with a reason (printf format).
void bench_result_fail(bench_result_t *r, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

//  Latency percentiles of samples into r.
void bench_result_latency(bench_result_t *r, bench_lat_t *lat);

// ---------------------------------------------------------------------------
//  Calibration (bench_calibrate.c)

typedef struct {
    int threads;             // threads used for "all cores"
    double verify_1;         // Ed25519 verifications of documents per second, one thread
    double verify_all;       // the same on every core: the ceiling
    double worker_all;       // decode + content hash + verify + 4 KiB attachment hash, every core
    double blake2b_mbps_1;   // BLAKE2b-256 MB/s, one thread
    double blake2b_mbps_all; // the same on every core
    double commit_ms;        // durable LMDB commit, median
    double commit_p99_ms;
    double disk_mbps; // durable sequential writes: 16 MiB, then fdatasync, MB/s
    double ceiling;   // documents/s = verify_all
} bench_calibration_t;

struct bench_env;

//  Measure this machine. seconds is the time spent on each rate. Returns 0,
//  or -1 with the reason in err.
int bench_calibrate(struct bench_env *env, double seconds, bench_calibration_t *out, char *err,
                    size_t errlen);

// ---------------------------------------------------------------------------
//  Environment (bench_env.c)

typedef struct bench_env {
    char root[BENCH_ROOT_MAX];       // the temporary directory
    char keys[BENCH_ROOT_MAX + 8];   // root/keys
    char dirfile[BENCH_PATH_MAX];    // root/directory.ini
    char hub_secret[BENCH_PATH_MAX]; // keys/hub.secret
    char hub_public[BENCH_PATH_MAX]; // keys/hub.public
    proto_identity_t *hub;
    proto_identity_t *agency[BENCH_NAGENCIES];
    char codes[BENCH_NAGENCIES][PROTO_AGENCY_CODE_LEN + 1];
    proto_directory_t *dir;
    const char *broker_path;
    const char *agent_path;
    const char *sets[BENCH_MAX_SETS]; // --set for every broker (from the command line)
    int nsets;
    int cpus;        // online cores
    int stall_ms;    // no progress for this long fails a scenario
    bool keep;       // keep the root at the end
    bool verbose;    // progress details on stderr
    bool verify;     // recipients check signatures and hashes as truc-agent does
    bool random_ids; // version-4 ids instead of truc-agent's time-ordered ones
    int instances;   // data directories made so far
} bench_env_t;

//  Make the root under tmpdir (NULL: $TMPDIR or /tmp), identities for the
//  broker "hub" and BENCH_NAGENCIES agencies, and the directory. Returns 0,
//  or -1 with the reason in err.
int bench_env_init(bench_env_t *env, const char *tmpdir, char *err, size_t errlen);

//  Kill what is still running, free everything, remove the root unless keep.
void bench_env_fini(bench_env_t *env);

//  Progress line on stderr.
void bench_say(const bench_env_t *env, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

//  Process figures from /proc/PID.
typedef struct {
    double cpu_s;       // utime + stime of every thread, seconds
    double loop_cpu_s;  // utime + stime of the main thread (the daemon's loop), seconds
    double rss_mb;      // VmRSS
    double hwm_mb;      // VmHWM: peak resident set
    double anon_mb;     // RssAnon: heap, arenas, stacks, ZeroMQ buffers
    double file_mb;     // RssFile: mostly LMDB's map
    double brk_heap_mb; // Rss of the [heap] mapping (main malloc arena only)
    double data_mb;     // VmData
    double write_mb;    // /proc/PID/io write_bytes: what it sent to the disk so far
    double wchar_mb;    // /proc/PID/io wchar: bytes passed to write calls so far
} bench_proc_t;

//  Read the figures of pid. Returns 0, or -1 if the process is gone.
int bench_proc_read(pid_t pid, bench_proc_t *out);

//  A broker process with its own data directory.
typedef struct {
    bench_env_t *env;
    pid_t pid;
    char data[BENCH_ROOT_MAX + 16]; // data_dir
    char config[BENCH_PATH_MAX];    // its config file
    char log[BENCH_PATH_MAX];       // stderr of the current process
    char endpoint[BENCH_PATH_MAX];
    const char *sets[BENCH_MAX_SETS]; // scenario --set, borrowed
    int nsets;
    int runs;
    //  Another broker than the hub (federation), all borrowed; NULL: the
    //  hub's identity file, directory and CURVE key.
    const char *identity;
    const char *dirfile;
    const uint8_t *curve_pk;
} bench_broker_t;

//  Prepare a broker with a fresh data directory and scenario --set
//  assignments (NULL-terminated, borrowed, may be NULL). Nothing starts.
void bench_broker_init(bench_broker_t *b, bench_env_t *env, const char *const *sets);

//  Start it and wait until it publishes its endpoint. *ms (may be NULL)
//  gets the milliseconds from fork to the endpoint file. Returns 0, or -1
//  with the reason (and the log's tail) in err.
int bench_broker_start(bench_broker_t *b, double *ms, char *err, size_t errlen);

//  SIGTERM and wait for the exit; *ms (may be NULL) gets how long it took.
//  Returns 0 if it exited with status 0.
int bench_broker_stop(bench_broker_t *b, double *ms, char *err, size_t errlen);

//  The broker's count of durable commits so far, from its admin endpoint
//  (status), and (if commit_us is not NULL) the median, 99th percentile and
//  maximum time of its recent commits in µs. Returns 0, or -1 if it did not
//  answer.
int bench_broker_status(bench_broker_t *b, uint64_t *commits, uint64_t commit_us[3]);

//  Stop it if running and remove its data directory (unless env->keep).
void bench_broker_fini(bench_broker_t *b);

//  A client for agency i connected to the broker (CURVE), in ctx (NULL:
//  its own context), after HELLO/READY. NULL with err set on failure.
truc_client_t *bench_connect(bench_broker_t *b, void *ctx, int agency, uint32_t window,
                             int timeout_ms, char *err, size_t errlen);

//  Start a program with argv (argv[0] is its path), stdout and stderr to
//  log. Registered so that bench_env_fini and a signal kill it. -1 on failure.
pid_t bench_spawn(bench_env_t *env, const char *const *argv, const char *log);

//  Wait up to ms for pid to exit; true and its status if it did.
bool bench_wait_exit(pid_t pid, int ms, int *status);

//  Forget a reaped process.
void bench_forget(pid_t pid);

//  The last lines of a file, into out (for error messages).
void bench_tail(const char *path, int lines, char *out, size_t outlen);

//  Remove a directory tree (errors ignored).
void bench_remove_tree(const char *path);

// ---------------------------------------------------------------------------
//  Pre-signed documents and the drivers (bench_drive.c)

//  n documents, signed and encoded before anything is timed. Document i is
//  sent by sender i % nsenders; its id carries i in its last four bytes so
//  a receipt finds its document without a lookup.
typedef struct {
    size_t n;
    uint64_t t0; // ms: the time in the first (version-7) id
    int nsenders;
    int senders[BENCH_NAGENCIES]; // agency index of each sender
    truc_doc_t *templates[BENCH_NAGENCIES];
    uint8_t *bodies; // n slots of slot bytes
    size_t slot;
    uint32_t *lens;          // body length of each
    proto_id_t *ids;         // id of each
    size_t att_len;          // attachment bytes of every document
    uint64_t bytes;          // body + attachment bytes of all n
    _Atomic int64_t *t_send; // when each was sent (ns), 0 before
} bench_docs_t;

//  Recipients of the documents of one sender.
typedef struct {
    const int *agencies; // agency indexes
    int n;
} bench_to_t;

//  Sign and encode n documents of att_len attachment bytes (one
//  attachment; 0: none). to[s] gives the recipients of sender s. Uses
//  threads threads. Returns 0, or -1 with err set.
int bench_docs_make(bench_docs_t *docs, bench_env_t *env, const int *senders, int nsenders,
                    const bench_to_t *to, size_t n, size_t att_len, int threads, char *err,
                    size_t errlen);
void bench_docs_free(bench_docs_t *docs);

//  Index of the document a receipt leaf names, or -1.
long bench_docs_index(const bench_docs_t *docs, const proto_id_t *id);

//  The sending side: one client per sender of docs (same order), driven from
//  the calling thread with zmq_poll.
typedef struct {
    bench_docs_t *docs;
    truc_client_t **clients; // one per sender, HELLO done
    size_t first, count;     // documents to send: [first, first + count)
    size_t depth;            // most unanswered documents per client
    double rate;             // documents/s when paced; 0: as fast as the broker takes them
    bool ack_routed;         // acknowledge routed receipts (DELIVERED, EXPIRED) with ACK
    int stall_ms;
    //  results
    bench_lat_t lat; // send -> ACCEPTED
    size_t accepted, rejected, errors, routed;
    uint32_t first_code; // first rejection or error code
    char first_error[200];
    int64_t t_first, t_last; // first send, last receipt (ns)
    size_t late;             // paced sends more than 5 ms behind their schedule
} bench_send_t;

//  Send docs [first, first + count) and wait for every answer. Returns 0,
//  or -1 with err set (stall, fatal ERROR, lost session).
int bench_send_run(bench_send_t *s, char *err, size_t errlen);

//  The receiving side: recipients that drain their deliveries and answer
//  them with DELIVERED, in a thread of their own.
typedef struct {
    bench_env_t *env;
    bench_docs_t *docs;      // for send times (end-to-end latency); may be NULL
    truc_client_t **clients; // HELLO done
    int n;
    uint64_t expected;   // deliveries to wait for
    size_t measure_from; // documents below this index give no latency sample (warm-up)
    int stall_ms;
    //  results (read after bench_recv_join)
    bench_lat_t lat; // send -> DELIVER received
    _Atomic uint64_t delivered;
    uint64_t routed, errors;
    uint64_t bundles;        // DELIVERED messages sent, each over every document of one drain
    int64_t t_first, t_last; // first and last delivery (ns)
    char error[256];
    _Atomic int status; // 0 ok, -1 failed
    //  private
    _Atomic bool stop;
    bool started;
    void *thread; // pthread_t, allocated
} bench_recv_t;

//  Start the recipients' thread.
int bench_recv_start(bench_recv_t *r);

//  Wait for the thread (after it reached expected, stalled, or was told to stop).
void bench_recv_join(bench_recv_t *r);

// ---------------------------------------------------------------------------
//  Scenarios (bench_scenarios.c, bench_agents.c)

typedef struct {
    bool quick;
    size_t docs;         // base document count
    size_t backlog;      // backlog size
    double seconds_1k;   // latency phase at 1,000/s
    double seconds_10k;  // latency phase at 10,000/s
    int senders;         // sender connections
    size_t depth;        // outstanding documents per sender
    size_t fanout_docs;  // documents of the fan-out scenario
    size_t agent_docs;   // documents through the agents
    size_t backlog_size; // attachment bytes of backlog documents
    int peer_queues;     // quorum queues of the RabbitMQ peer
} bench_plan_t;

//  Each runs its scenario on fresh processes and appends results to
//  out[*n] (at most max). Failures are recorded in the results.
void bench_run_ingest(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                      bench_result_t *out, int *n, int max);
void bench_run_delivery(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                        bench_result_t *out, int *n, int max);
void bench_run_latency(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                       bench_result_t *out, int *n, int max);
void bench_run_sizes(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                     bench_result_t *out, int *n, int max);
void bench_run_backlog(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                       bench_result_t *out, int *n, int max);
void bench_run_fanout(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                      bench_result_t *out, int *n, int max);
void bench_run_agents(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                      bench_result_t *out, int *n, int max);

//  Agent A behind a TCP proxy that is cut every few seconds: from each cut
//  to the first ACCEPTED of a document submitted after it (bench_agents.c).
void bench_run_reconnect(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                         bench_result_t *out, int *n, int max);

//  Documents across linked brokers: a province P1 (the hub), the national
//  broker N and a province P2 that both provinces dial; through one hop
//  (P1 -> N) and two (P1 -> N -> P2), beside the single-broker figures
//  (bench_federation.c).
void bench_run_federation(bench_env_t *env, const bench_plan_t *plan,
                          const bench_calibration_t *cal, bench_result_t *out, int *n, int max);

//  The national directory in the proto library: load, reload with the keys
//  in force, copy, and a province's part merged (bench_natdir.c).
void bench_run_natdir(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                      bench_result_t *out, int *n, int max);

//  The peer: a private RabbitMQ node on loopback running the delivery and
//  the 1,000/s latency workloads (results rabbitmq_e2e, rabbitmq_latency_1k);
//  without RabbitMQ their notes say why and nothing fails.
void bench_run_rabbitmq(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                        bench_result_t *out, int *n, int max);

#endif
