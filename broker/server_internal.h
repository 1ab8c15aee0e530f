/*  broker/server_internal.h - the loop's state, shared by the modules that
    run on the loop thread: server.c, session.c, zap.c, batch.c, apply.c,
    push.c, expiry.c, directory.c and metrics.c.

    Owns: the definition of struct broker_server and the limits the loop
    works by. Each module owns its part of the state named in the struct's
    comments and changes the rest only through that module's functions.

    Does not: go to admin.c (which works through admin.h, so the admin
    endpoint cannot reach into the loop's state), or leave broker/.
*/
#ifndef BROKER_SERVER_INTERNAL_H
#define BROKER_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "conns.h"
#include "dirpush.h"
#include "proto/directory.h"
#include "proto/identity.h"
#include "proto/loop.h"
#include "admin.h"
#include "web.h"
#include "anchor.h"
#include "proto/msg.h"
#include "peers.h"
#include "clockguard.h"
#include "metrics.h"
#include "ratelimit.h"
#include "server.h"
#include "store.h"
#include "tlog.h"
#include "verify.h"

#define JOBS_ENDPOINT       "inproc://truc-verify-jobs"
#define RESULTS_ENDPOINT    "inproc://truc-verify-results"
#define ZAP_ENDPOINT        "inproc://zeromq.zap.01"
#define MAX_ERRORS_IN_A_ROW 16
#define DRAIN_LIMIT         512 // messages taken from one socket per loop turn
//  Intake back-pressure: while the workers hold this many jobs or bytes the
//  loop stops reading the ROUTER, ZeroMQ's per-connection queue (RCVHWM
//  messages) fills, and TCP pushes back on the senders.
#define INTAKE_MAX_JOBS          4096
#define INTAKE_MAX_BYTES         (64u << 20)
#define INTAKE_RCVHWM            256
#define REFUSED_AUDIT_PER_MINUTE 60 // refused handshakes audited one by one per minute
#define EXPIRY_INTERVAL          1000
#define MINUTE_MS                60000 // the per-minute counters and summaries roll this often
#define STOP_DRAIN_MS            5000  // at shutdown, how long to wait for each worker result
#define COMMIT_RING              1024  // commit durations kept for truc-admin status
//  Pushes that have gone unanswered this long, on a session that is alive,
//  were lost on the way (a path that drops whole messages keeps the stream
//  valid): they are pushed again. The agent does the same with its outbox.
#define REPUSH_MS 30000
//  A push still unanswered this long after a later push was answered (and
//  none of the session's answers is at a worker) was lost: pushed again
//  without waiting for the session to fall silent, which a steady stream
//  of other answers would put off for ever.
#define REPUSH_GAP_MS 3000
//  How soon the loop looks again at a peer whose queue was too full for an
//  answer (broker_session_owed_flush): ZeroMQ does not say when one drains.
#define OWED_RETRY_MS 5

struct broker_server {
    const broker_config_t *config;
    void *ctx;
    void *router, *zap, *jobs, *results;
    void *monitor; // PAIR: the ROUTER's handshake failures
    int signal_pipe[2];
    proto_identity_t *identity;
    proto_directory_t *directory;
    broker_dirpush_t *dirpush; // the signed snapshot and delta, built once, sent shared
    broker_store_t *store;
    broker_anchor_t *anchor; // kept up to date by the store's commits; outlives it
    broker_tlog_t *tlog;     // the transparency log's committed size and signed head
    broker_verify_t *verify;
    broker_peers_t *peers;
    //  The open batch (batch.c): its entries, and documents stored in it.
    struct broker_batch_entry *batch; // broker_batch_entry_t, batch.h
    size_t nbatch, batch_cap, batch_docs;
    uint64_t batch_opened;      // ms when the write transaction opened
    size_t outstanding;         // jobs at the workers
    uint64_t outstanding_bytes; // their frames' bytes
    proto_loop_t *loop;         // broker_server_run's reactor, while it runs
    bool stop;
    //  counters for logs and admin
    uint64_t accepted, rejected, delivered, refused_handshakes, commits;
    uint64_t refused_audited, refused_unaudited; // this minute (zap.c)
    broker_conns_t *conns;                       // descriptors, capacity, handshake ages
    uint64_t capacity_refused;                   // sessions refused: no room
    uint64_t handshake_timeouts;                 // handshakes abandoned after a long wait
    bool at_capacity;                            // refusing for lack of room since it was logged
    uint64_t capacity_refused_at;                // ms of the last such refusal
    uint64_t started;                            // ms
    //  Durations of the last COMMIT_RING durable commits, in µs, for status.
    uint32_t commit_us[COMMIT_RING];
    size_t commit_timed;  // commits timed so far (the ring holds the newest)
    uint64_t minute_mark; // ms when the per-minute counters were last rolled
    uint64_t last_minute[3], this_minute_base[3]; // accepted, rejected, delivered
    void *admin_socket;                           // REP socket for truc-admin
    broker_admin_t *admin;                        // the endpoint on it (admin.h)
    broker_web_t *web;                            // the web console, if console.listen (web.h)
    broker_admin_t *console_admin;                // the endpoint on the console's socket
    //  free space under data_dir: last statvfs answer, when, bytes taken since (apply.c)
    uint64_t disk_free, disk_checked, disk_taken;
    broker_rate_t *notice_rate;     // STATUS notices per agency per minute
    broker_clock_t *clock;          // may expiry trust the wall clock?
    bool clock_announced;           // the jump being held is audited (expiry.c)
    uint64_t clock_logged;          // monotonic ms of the last loud log line about it
    broker_stats_t stats;           // counted for the metrics only (metrics.h)
    broker_metrics_t *metrics;      // the /metrics endpoint, NULL when metrics.listen is empty
    struct broker_links *links;     // the links this broker dials (link.h)
    struct broker_linklog *linklog; // the linked brokers' logs checked (linklog.h)
    struct broker_dirlink *dirlink; // the directory taken from network.directory_from (dirlink.h)
    struct broker_dirhold *dirhold; // the provinces' own agencies held here (dirhold.h)
    //  Routed messages taken from links in the open batch, acknowledged
    //  once it is durable (hop.c, broker_hop_acks_send).
    struct broker_hop_ack *hop_acks;
    size_t nhop_acks, hop_acks_cap;
};

//  The clocks every module reads: the wall clock (timestamps people and
//  documents read) and the monotonic one (timers, timeouts, rates, idle
//  times), both in ms. server.c.
uint64_t broker_now(void);
uint64_t broker_mono(void);

//  Milliseconds from then to now (monotonic times); 0 if then is later.
static inline uint64_t broker_elapsed(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

#endif
