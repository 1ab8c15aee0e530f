/*  broker/server.c - the broker's loop: its life cycle and its intake.

    Owns: the ZeroMQ context and sockets, the server state every module
    shares (server_internal.h), reading the agents' ROUTER and handing each
    message to a session handler or a verification worker, the results the
    workers send back, and the loop's readers and timers. Everything here
    runs on the loop thread; only broker_server_signal is called from
    elsewhere (a signal handler).

    Does not: check signatures or decode document bodies (verify.c does, on
    worker threads), or know record layouts (store.c does). The steps of a
    message's path live in their own modules, along the loop's seams:
    peers.c (the peer table and in-flight index), session.c (sending,
    HELLO, HEARTBEAT, CREDIT, ACK), zap.c (who may connect), apply.c
    (verified work into the store), batch.c (the group commit and its
    receipts), push.c (deliveries), expiry.c (expiry, returns, retention),
    directory.c (reloads) and admin.c (truc-admin). broker/DESIGN.md has
    the map.
*/
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "proto/agency.h"
#include "proto/directory.h"
#include "proto/identity.h"
#include "proto/log.h"
#include "proto/sdnotify.h"
#include "proto/metrics_http.h"
#include "proto/route.h"
#include "proto/sign.h"

#include "clockguard.h"
#include "dirchange.h"
#include "ratelimit.h"
#include "server_internal.h"
#include "admin.h"
#include "apply.h"
#include "batch.h"
#include "directory.h"
#include "dirhold.h"
#include "dirlink.h"
#include "expiry.h"
#include "hop.h"
#include "link.h"
#include "linklog.h"
#include "push.h"
#include "session.h"
#include "zap.h"

uint64_t broker_now(void)
{
    return proto_clock_wall_ms();
}

//  The monotonic clock, for timers, timeouts and rates: a step of the wall
//  clock neither fires nor stretches them. CLOCK_BOOTTIME is CLOCK_MONOTONIC
//  that also counts a suspended machine, so the clock guard does not take
//  a resume for a jump of the wall clock.
uint64_t broker_mono(void)
{
    return proto_clock_mono_ms(); // CLOCK_BOOTTIME, as the loop's timers
}

// ---------------------------------------------------------------------------
//  Receiving from agents

static uint64_t s_job_bytes(broker_job_t *job)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < job->nframes; i++)
        bytes += zmq_msg_size(&job->frames[i]);
    return bytes;
}

static bool s_intake_open(const broker_server_t *self)
{
    return self->outstanding < INTAKE_MAX_JOBS && self->outstanding_bytes < INTAKE_MAX_BYTES;
}

//  Hand a message to the verify workers. On a link (b is the other
//  broker's entry) the key is that broker's: its hop receipts are signed
//  with it, and a FORWARD's sender is looked up when it comes back
//  (hop.c). Returns true if the job went (the workers own it).
static bool s_to_worker(broker_server_t *self, broker_peer_t *p, zmq_msg_t *rid, broker_job_t *job,
                        int kind, const proto_directory_broker_t *b)
{
    memcpy(job->routing, zmq_msg_data(rid), zmq_msg_size(rid));
    job->routing_len = zmq_msg_size(rid);
    job->kind = kind;
    snprintf(job->agency, sizeof job->agency, "%s", p->agency);
    if (p->link) {
        if (!b) {
            broker_session_error(self, p, PROTO_ERR_UNKNOWN_AGENCY, NULL, NULL, true);
            return false;
        }
        snprintf(job->link, sizeof job->link, "%s", p->link_label);
        memcpy(job->key, b->sign_pk, PROTO_KEY_LEN);
    }
    job->max_document = self->config->max_document;
    job->max_recipients = (uint32_t) self->config->max_recipients;
    job->max_attachments = (uint32_t) self->config->max_attachments;
    job->bytes = s_job_bytes(job);
    if (broker_job_send(self->jobs, job) != 0) {
        broker_session_error(self, p, PROTO_ERR_BUSY, NULL, NULL, false);
        return false;
    }
    self->outstanding++;
    self->outstanding_bytes += job->bytes;
    p->jobs++;
    return true;
}

//  The peer a message comes from: found by its routing id, or made for the
//  connection ZAP admitted moments ago (an agency, or another broker's
//  link, by the name ZAP gave it). NULL if there is none to be had.
static broker_peer_t *s_peer_of(broker_server_t *self, zmq_msg_t *rid, broker_job_t *job)
{
    const char *user = zmq_msg_gets(&job->frames[0], "User-Id");
    broker_peer_t *p = broker_peers_find(self->peers, zmq_msg_data(rid), zmq_msg_size(rid));
    if (!p && user && user[0] == BROKER_LINK_USER_PREFIX) {
        //  Another broker's link (ZAP admitted its broker entry): a session
        //  with no agency, labelled with the broker's label.
        const proto_directory_broker_t *b = proto_directory_broker_find(self->directory, user + 1);
        p = b ? broker_peers_add(self->peers, zmq_msg_data(rid), zmq_msg_size(rid), "", b->sign_pk)
              : NULL;
        if (!p)
            return NULL;
        p->link = true;
        snprintf(p->link_label, sizeof p->link_label, "%s", b->label);
        p->fd = zmq_msg_get(&job->frames[0], ZMQ_SRCFD);
    }
    if (!p) {
        if (!user || proto_agency_code_check(user, strlen(user)) != PROTO_OK)
            return NULL; // cannot happen behind ZAP; never trust it anyway
        //  ZAP admitted this connection moments ago with the key the directory
        //  holds now; a later key rotation ends the session (directory reload).
        const proto_directory_entry_t *e = proto_directory_find(self->directory, user);
        p = broker_peers_add(self->peers, zmq_msg_data(rid), zmq_msg_size(rid), user,
                             e ? e->sign_pk : NULL);
        if (p)
            p->fd = zmq_msg_get(&job->frames[0], ZMQ_SRCFD);
    }
    return p;
}

//  A message of kind on a link session in READY (another broker): what
//  only links send, and refusals of what they never may. *handled false
//  for HEARTBEAT, CREDIT and ACK, which are a session's like an agent's.
//  Returns true if the job went to a worker.
static bool s_on_link(broker_server_t *self, broker_peer_t *p, zmq_msg_t *rid, broker_job_t *job,
                      int kind, bool *handled)
{
    *handled = true;
    if (broker_hop_link_kind(kind))
        return s_to_worker(self, p, rid, job, kind,
                           proto_directory_broker_find(self->directory, p->link_label));
    if (kind == PROTO_KIND_LOG_PROVE || kind == PROTO_KIND_LOG_PROOF) {
        //  Linked brokers check each other's logs (linklog.c): each answers
        //  the other's LOG_PROVE as an agent's.
        broker_linklog_message(self, p, kind, job);
    } else if (kind == PROTO_KIND_DIRECTORY || kind == PROTO_KIND_DIRECTORY_DELTA) {
        //  The directory of the broker this one takes it from (dirlink.c),
        //  or a province's own agencies, offered in its HELLO (dirhold.c).
        if (job->nframes == 2 && p->dir_own)
            broker_dirhold_message(self, p, kind, &job->frames[1]);
        else if (job->nframes == 2)
            broker_dirlink_message(self, p, kind, &job->frames[1]);
        else
            broker_session_error(self, p, PROTO_ERR_FRAMING, "exactly 2 frames", NULL, false);
    } else if (kind == PROTO_KIND_ERROR) {
        //  The other broker refused something of ours: logged, never answered.
        proto_log_warning("event=link_error broker=%s", p->link_label);
    } else if (kind != PROTO_KIND_HEARTBEAT && kind != PROTO_KIND_CREDIT &&
               kind != PROTO_KIND_ACK) {
        //  A broker never submits as an agency: its key is not one.
        broker_session_error(self, p, PROTO_ERR_UNEXPECTED,
                             kind == PROTO_KIND_HELLO ? "already in a session"
                                                      : "a link between brokers does not send "
                                                        "this kind",
                             NULL, false);
    } else {
        *handled = false;
    }
    return false;
}

//  Handle one message. Returns true if the job went to a worker (it then
//  owns it), false if the caller must free it.
static bool s_on_message(broker_server_t *self, zmq_msg_t *rid, broker_job_t *job, size_t dropped)
{
    broker_peer_t *p = s_peer_of(self, rid, job);
    if (!p || p->dead)
        return false;
    p->last_recv = broker_mono();
    uint8_t version;
    int kind;
    proto_err_t rc = proto_header_parse(zmq_msg_data(&job->frames[0]),
                                        zmq_msg_size(&job->frames[0]), &version, &kind);
    if (!rc && (dropped || job->nframes < 2))
        rc = PROTO_ERR_FRAMING;
    if (rc) {
        //  Another version after the session started is fatal (PROTOCOL.md
        //  section 3.1); other framing faults are counted.
        broker_session_error(self, p, rc,
                             rc == PROTO_ERR_VERSION ? "this session speaks version 1"
                             : rc == PROTO_ERR_KIND  ? "unknown message kind"
                                                     : "bad header or frame count",
                             NULL, rc == PROTO_ERR_VERSION || ++p->errors >= MAX_ERRORS_IN_A_ROW);
        return false;
    }
    if (p->state == BROKER_PEER_CONNECTED) {
        //  ZAP admitted this key, so a message before HELLO is a session out
        //  of order (typically the agent's session from before a broker
        //  restart), not a refusal of who the agency is: logged, answered,
        //  closed, but not audited as denied.
        if (kind == PROTO_KIND_HELLO && job->nframes == 2)
            broker_session_hello(self, p, &job->frames[1]);
        else
            broker_session_error_audit(self, p, PROTO_ERR_NOT_AUTHENTICATED, "send HELLO first",
                                       NULL, true, false);
        return false;
    }
    if (p->link) {
        bool handled;
        bool to_worker = s_on_link(self, p, rid, job, kind, &handled);
        if (handled)
            return to_worker;
    }
    switch (kind) {
    case PROTO_KIND_HEARTBEAT:
    case PROTO_KIND_CREDIT:
    case PROTO_KIND_ACK:
    case PROTO_KIND_LOG_PROVE:
        if (job->nframes != 2)
            broker_session_error(self, p, PROTO_ERR_FRAMING, "exactly 2 frames", NULL, false);
        else
            broker_session_message(self, p, kind, &job->frames[1]);
        return false;
    case PROTO_KIND_SUBMIT:
    case PROTO_KIND_REVOKE:
    case PROTO_KIND_UPDATE:
    case PROTO_KIND_REPLACE:
    case PROTO_KIND_STATUS:
    case PROTO_KIND_DELIVERED: {
        const proto_directory_entry_t *e = proto_directory_find(self->directory, p->agency);
        if (!e) {
            broker_session_error(self, p, PROTO_ERR_UNKNOWN_AGENCY, NULL, NULL, true);
            return false;
        }
        memcpy(job->key, e->sign_pk, PROTO_KEY_LEN);
        job->nretired = (uint32_t) e->retired_count;
        if (e->retired_count)
            memcpy(job->retired, e->retired, e->retired_count * sizeof *e->retired);
        return s_to_worker(self, p, rid, job, kind, NULL);
    }
    case PROTO_KIND_HELLO:
        broker_session_error(self, p, PROTO_ERR_UNEXPECTED, "already in a session", NULL, false);
        return false;
    default:
        broker_session_error(self, p, PROTO_ERR_UNEXPECTED, "agents do not send this kind", NULL,
                             false);
        return false;
    }
}

bool broker_server_link_message(broker_server_t *self, const void *rid, size_t rid_len,
                                broker_job_t *job)
{
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, rid_len) != 0)
        return false;
    memcpy(zmq_msg_data(&msg), rid, rid_len);
    bool taken = s_on_message(self, &msg, job, 0);
    zmq_msg_close(&msg);
    return taken;
}

static void s_router_readable(broker_server_t *self)
{
    for (int taken = 0; taken < DRAIN_LIMIT && s_intake_open(self); taken++) {
        zmq_msg_t rid;
        zmq_msg_init(&rid);
        if (zmq_msg_recv(&rid, self->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&rid);
            return;
        }
        broker_job_t *job = calloc(1, sizeof *job);
        if (!job) {
            zmq_msg_close(&rid);
            return;
        }
        size_t dropped = 0;
        int more = zmq_msg_more(&rid);
        //  Frames beyond what any message may have are read and dropped;
        //  the message is then refused as malformed.
        while (more) {
            zmq_msg_t *frame = job->nframes < BROKER_MAX_FRAMES ? &job->frames[job->nframes] : NULL;
            zmq_msg_t spare;
            zmq_msg_t *into = frame ? frame : &spare;
            zmq_msg_init(into);
            if (zmq_msg_recv(into, self->router, 0) < 0) {
                zmq_msg_close(into);
                break;
            }
            more = zmq_msg_more(into);
            if (frame)
                job->nframes++;
            else {
                zmq_msg_close(&spare);
                dropped++;
            }
        }
        if (job->nframes == 0 || !s_on_message(self, &rid, job, dropped))
            broker_job_destroy(&job);
        zmq_msg_close(&rid);
    }
}

static void s_results_readable(broker_server_t *self)
{
    broker_job_t *job;
    while ((job = broker_job_recv(self->results))) {
        self->outstanding--;
        self->outstanding_bytes -= job->bytes;
        broker_apply(self, job);
        broker_job_destroy(&job);
        if (broker_store_writing(self->store) && self->batch_docs >= self->config->commit_batch)
            broker_batch_commit(self);
    }
}

// ---------------------------------------------------------------------------
//  What the admin endpoint may see and do (admin.h)

static int s_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y ? -1 : x > y;
}

//  Median, 99th percentile and maximum of the recent commits' durations,
//  in µs (zeros before the first commit).
static void s_commit_times(const broker_server_t *self, uint64_t out[3])
{
    size_t n = self->commit_timed < COMMIT_RING ? self->commit_timed : COMMIT_RING;
    uint32_t sorted[COMMIT_RING];
    memcpy(sorted, self->commit_us, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, s_cmp_u32);
    out[0] = n ? sorted[n / 2] : 0;
    out[1] = n ? sorted[(n - 1) * 99 / 100] : 0;
    out[2] = n ? sorted[n - 1] : 0;
}

void broker_server_counters(const broker_server_t *self, broker_counters_t *out)
{
    memset(out, 0, sizeof *out);
    out->uptime_ms = broker_mono() - self->started;
    for (size_t i = 0; i < broker_peers_count(self->peers); i++) {
        const broker_peer_t *p = broker_peers_at(self->peers, i);
        out->connected += p->state == BROKER_PEER_READY && !p->dead;
    }
    out->accepted = self->accepted;
    out->rejected = self->rejected;
    out->delivered = self->delivered;
    memcpy(out->last_minute, self->last_minute, sizeof out->last_minute);
    out->refused_handshakes = self->refused_handshakes;
    out->handshake_timeouts = self->handshake_timeouts;
    out->connections = broker_conns_open(self->conns);
    out->capacity = broker_conns_capacity(self->conns);
    out->capacity_refused = self->capacity_refused;
    out->commits = self->commits;
    s_commit_times(self, out->commit_us);
}

const broker_config_t *broker_server_config(const broker_server_t *self)
{
    return self->config;
}

broker_store_t *broker_server_store(const broker_server_t *self)
{
    return self->store;
}

struct broker_tlog *broker_server_tlog(const broker_server_t *self)
{
    return self->tlog;
}

struct broker_linklog *broker_server_linklog(const broker_server_t *self)
{
    return self->linklog;
}

const proto_directory_t *broker_server_directory(const broker_server_t *self)
{
    return self->directory;
}

const proto_identity_t *broker_server_identity(const broker_server_t *self)
{
    return self->identity;
}

const broker_clock_t *broker_server_clock(const broker_server_t *self)
{
    return self->clock;
}

bool broker_server_session(const broker_server_t *self, const char *agency, uint64_t *idle_ms,
                           uint32_t *in_flight, uint64_t *since_ms)
{
    const broker_peer_t *p = broker_peers_of_agency(self->peers, agency);
    *idle_ms = p ? broker_mono() - p->last_recv : 0;
    *in_flight = p ? p->nflight : 0;
    *since_ms = p ? p->ready_at : 0;
    return p != NULL;
}

bool broker_server_push_again(broker_server_t *self, const char *agency)
{
    broker_peer_t *p = broker_peers_of_agency(self->peers, agency);
    if (!p || p->dead || p->state != BROKER_PEER_READY)
        return false;
    broker_flight_clear(p);
    p->dirty = true;
    return true;
}

void broker_server_audit(broker_server_t *self, broker_audit_event_t event, const char *agency,
                         const proto_id_t *id, const char *detail)
{
    broker_batch_audit(self, event, agency, id, detail, NULL);
}

proto_err_t broker_server_reload(broker_server_t *self, char *errbuf, size_t errlen)
{
    return broker_directory_reload(self, errbuf, errlen);
}

int64_t broker_server_clock_confirm(broker_server_t *self, bool *was_held)
{
    return broker_expiry_clock_confirm(self, was_held);
}

void broker_server_audit_verified(broker_server_t *self, bool intact)
{
    self->stats.audit_intact = intact;
    self->stats.audit_checked = broker_now();
}

// ---------------------------------------------------------------------------
//  Life cycle

void broker_server_signal(broker_server_t *self, int signal_number)
{
    unsigned char byte = (unsigned char) signal_number;
    ssize_t written = write(self->signal_pipe[1], &byte, 1);
    (void) written;
}

static void s_on_signal(broker_server_t *self)
{
    unsigned char bytes[16];
    ssize_t n = read(self->signal_pipe[0], bytes, sizeof bytes);
    for (ssize_t i = 0; i < n; i++) {
        if (bytes[i] == SIGHUP) {
            proto_log_info("event=reload reason=SIGHUP");
            char err[256];
            (void) broker_directory_reload(self, err, sizeof err); // logged and audited there
        } else {
            proto_log_info("event=stopping signal=%d", bytes[i]);
            self->stop = true;
        }
    }
}

static int s_write_endpoint(broker_server_t *self)
{
    char endpoint[256];
    size_t len = sizeof endpoint;
    if (zmq_getsockopt(self->router, ZMQ_LAST_ENDPOINT, endpoint, &len) != 0)
        return -1;
    char path[4096], err[200];
    snprintf(path, sizeof path, "%s/endpoint", self->config->data_dir);
    char line[300];
    int n = snprintf(line, sizeof line, "%s\n", endpoint);
    proto_err_t rc = proto_file_write_atomic(path, line, (size_t) n, 0644, true, err, sizeof err);
    if (rc)
        proto_log_warning("event=endpoint_file_failed path=%s detail=\"%s\"", path, err);
    proto_log_info("event=listening endpoint=%s", endpoint);
    return 0;
}

//  The identity, the directory and its signed snapshot, and the store
//  checked against its anchor and the directory. *soft_found is the
//  descriptor limit found, if it had to be raised (conns.h).
static bool s_open_state(broker_server_t *self, uint64_t *soft_found, proto_err_t *why,
                         char *errbuf, size_t errlen)
{
    const broker_config_t *config = self->config;
    //  The identity: refuse a key file others can read, and say how to fix it.
    //  err names the file at fault: the key, or its passphrase file.
    char err[512] = "";
    proto_err_t rc = proto_identity_open(config->identity, config->passphrase_file,
                                         PROTO_PASSPHRASE_ENV, &self->identity, err, sizeof err);
    if (rc) {
        snprintf(errbuf, errlen, "cannot load the broker identity: %s: %s", proto_strerror(rc),
                 err);
        return false;
    }
    if (proto_identity_public(self->identity)->role != PROTO_ROLE_BROKER) {
        snprintf(errbuf, errlen,
                 "%s is an agency key; the broker needs a broker identity "
                 "(truc-keys new --broker NAME)",
                 config->identity);
        return false;
    }
    self->conns = broker_conns_new(soft_found);
    self->peers = broker_peers_new();
    if (!self->conns || !self->peers) {
        snprintf(errbuf, errlen, "out of memory");
        return false;
    }
    rc = proto_directory_load(config->directory, &self->directory, err, sizeof err);
    if (rc) {
        snprintf(errbuf, errlen, "cannot load the agency directory %s: %s%s%s", config->directory,
                 proto_strerror(rc), *err ? ": " : "", err);
        return false;
    }
    self->dirpush = broker_dirpush_new(self->identity);
    if (!self->dirpush ||
        broker_dirpush_update(self->dirpush, self->directory, broker_now()) != PROTO_OK) {
        snprintf(errbuf, errlen, "cannot sign the directory snapshot");
        return false;
    }
    broker_directory_signed(self);
    self->store = broker_anchor_open_store(config->data_dir, config->map_size, &self->anchor, &rc,
                                           errbuf, errlen);
    if (!self->store) {
        if (why)
            *why = rc;
        return false;
    }
    self->tlog = broker_tlog_new(self->store, self->identity);
    self->linklog = self->tlog ? broker_linklog_new(self) : NULL;
    if (!self->linklog) {
        snprintf(errbuf, errlen, "out of memory");
        return false;
    }
    //  A province merges its file with the national directory it holds.
    self->dirlink = broker_dirlink_new(self);
    self->dirhold = self->dirlink ? broker_dirhold_new(self) : NULL;
    if (!self->dirhold) {
        snprintf(errbuf, errlen, "out of memory");
        return false;
    }
    if (broker_dirlink_taking(self->dirlink) &&
        (rc = broker_dirlink_open(self, errbuf, errlen)) != PROTO_OK) {
        if (why)
            *why = rc;
        return false;
    }
    //  A broker dialed by others merges the agencies they offer (dirhold.c).
    if ((rc = broker_dirhold_open(self, errbuf, errlen)) != PROTO_OK) {
        if (why)
            *why = rc;
        return false;
    }
    //  What earlier reloads may not undo, a restart may not either.
    rc = broker_dirchange_check_store(self->store, self->directory, err, sizeof err);
    if (rc) {
        snprintf(errbuf, errlen, "cannot apply the agency directory %s: %s: %s", config->directory,
                 proto_errname(rc), err);
        return false;
    }
    return true;
}

//  The internal sockets, and the agents' ROUTER: CURVE, ZAP, limits, its
//  monitor, bound.
static bool s_open_sockets(broker_server_t *self, char *errbuf, size_t errlen)
{
    const broker_config_t *config = self->config;
    self->ctx = zmq_ctx_new();
    self->zap = zmq_socket(self->ctx, ZMQ_REP);
    self->jobs = zmq_socket(self->ctx, ZMQ_PUSH);
    self->results = zmq_socket(self->ctx, ZMQ_PULL);
    self->router = zmq_socket(self->ctx, ZMQ_ROUTER);
    self->admin_socket = zmq_socket(self->ctx, ZMQ_REP);
    if (!self->zap || !self->jobs || !self->results || !self->router ||
        zmq_bind(self->zap, ZAP_ENDPOINT) || zmq_bind(self->jobs, JOBS_ENDPOINT) ||
        zmq_bind(self->results, RESULTS_ENDPOINT)) {
        snprintf(errbuf, errlen, "cannot set up internal sockets: %s", zmq_strerror(zmq_errno()));
        return false;
    }
    int one = 1, linger = 1000, hwm = (int) config->send_queue, rcvhwm = INTAKE_RCVHWM;
    int backlog = (int) config->backlog;
    int64_t max_frame = (int64_t) config->max_frame;
    zmq_setsockopt(self->router, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(self->router, ZMQ_CURVE_SECRETKEY, proto_identity_curve_sk(self->identity),
                   PROTO_KEY_LEN);
    zmq_setsockopt(self->router, ZMQ_ZAP_DOMAIN, "truc", 4);
    zmq_setsockopt(self->router, ZMQ_MAXMSGSIZE, &max_frame, sizeof max_frame);
    zmq_setsockopt(self->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(self->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(self->router, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
    zmq_setsockopt(self->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(self->router, ZMQ_BACKLOG, &backlog, sizeof backlog);
    self->monitor = zmq_socket(self->ctx, ZMQ_PAIR);
    //  Every connection accepted and closed is an event: room for a
    //  province connecting at once, so libzmq's I/O thread never waits for
    //  the loop to read them.
    int monitor_hwm = 20000;
    if (self->monitor)
        zmq_setsockopt(self->monitor, ZMQ_RCVHWM, &monitor_hwm, sizeof monitor_hwm);
    if (!self->monitor ||
        zmq_socket_monitor(self->router, "inproc://truc-monitor",
                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | BROKER_CONNS_EVENTS) != 0 ||
        zmq_connect(self->monitor, "inproc://truc-monitor") != 0) {
        snprintf(errbuf, errlen, "cannot monitor the agents' socket: %s",
                 zmq_strerror(zmq_errno()));
        return false;
    }
    if (zmq_bind(self->router, config->endpoint) != 0) {
        snprintf(errbuf, errlen, "cannot bind %s: %s", config->endpoint, zmq_strerror(zmq_errno()));
        return false;
    }
    return true;
}

//  The admin endpoint: bound where only the broker's user can reach it.
static bool s_open_admin(broker_server_t *self, char *errbuf, size_t errlen)
{
    const broker_config_t *config = self->config;
    char admin_endpoint[4200];
    if (config->admin_endpoint[0])
        snprintf(admin_endpoint, sizeof admin_endpoint, "%s", config->admin_endpoint);
    else
        snprintf(admin_endpoint, sizeof admin_endpoint, "ipc://%s/admin.sock", config->data_dir);
    //  The socket file lands in the data directory, which is private to the
    //  broker's user (mode 0700): that is the admin endpoint's protection.
    if (!self->admin_socket || zmq_bind(self->admin_socket, admin_endpoint) != 0) {
        snprintf(errbuf, errlen, "cannot bind the admin endpoint %s: %s", admin_endpoint,
                 zmq_strerror(zmq_errno()));
        return false;
    }
    //  Whatever the umask and the directory's mode: only this user.
    if (strncmp(admin_endpoint, "ipc://", 6) == 0 && chmod(admin_endpoint + 6, 0600) != 0) {
        snprintf(errbuf, errlen, "cannot restrict %s: %s", admin_endpoint + 6, strerror(errno));
        return false;
    }
    self->admin = broker_admin_new(self, self->admin_socket, false);
    if (!self->admin) {
        snprintf(errbuf, errlen, "pipe: %s", strerror(errno));
        return false;
    }
    //  The web console asks through an admin endpoint of its own (web.h).
    if (self->config->console_listen[0]) {
        self->web = broker_web_new(self->ctx, self->config, errbuf, errlen);
        if (!self->web)
            return false;
        self->console_admin = broker_admin_new(self, broker_web_socket(self->web), true);
        if (!self->console_admin) {
            snprintf(errbuf, errlen, "pipe: %s", strerror(errno));
            return false;
        }
    }
    return true;
}

broker_server_t *broker_server_new(const broker_config_t *config, proto_err_t *why, char *errbuf,
                                   size_t errlen)
{
    broker_server_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    self->config = config;
    self->signal_pipe[0] = self->signal_pipe[1] = -1;
    self->started = broker_mono();
    self->minute_mark = self->started;
    broker_stats_init(&self->stats);
    if (broker_config_check(config, errbuf, errlen) != PROTO_OK)
        goto fail;

    uint64_t soft_found = 0;
    if (!s_open_state(self, &soft_found, why, errbuf, errlen))
        goto fail;
    if (pipe(self->signal_pipe) != 0) {
        snprintf(errbuf, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    fcntl(self->signal_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(self->signal_pipe[1], F_SETFL, O_NONBLOCK);

    if (!s_open_sockets(self, errbuf, errlen))
        goto fail;
    if (!s_open_admin(self, errbuf, errlen))
        goto fail;
    if (config->metrics_listen[0] && !(self->metrics = broker_metrics_new(self, errbuf, errlen)))
        goto fail;
    self->links = broker_links_new(self, errbuf, errlen);
    if (!self->links)
        goto fail;
    self->verify = broker_verify_new(self->ctx, config->workers, JOBS_ENDPOINT, RESULTS_ENDPOINT);
    if (!self->verify) {
        snprintf(errbuf, errlen, "cannot start verification threads");
        goto fail;
    }
    self->notice_rate = broker_rate_new(config->notices_per_minute);
    self->clock = broker_clock_new(config->clock_jump_max, broker_now(), broker_mono(),
                                   broker_expiry_last_commit(self));
    if (!self->notice_rate || !self->clock) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    if (broker_batch_begin(self) != PROTO_OK ||
        broker_dirchange_record(self->store, self->directory) != PROTO_OK ||
        broker_dirlink_record(self) != PROTO_OK || broker_dirhold_record(self) != PROTO_OK) {
        snprintf(errbuf, errlen, "cannot record the agency directory in the store");
        goto fail;
    }
    if (soft_found)
        proto_log_info("event=nofile_raised from=%" PRIu64 " to=%" PRIu64, soft_found,
                       broker_conns_nofile(self->conns));
    proto_log_info("event=capacity connections=%zu nofile=%" PRIu64 " backlog=%" PRIu64,
                   broker_conns_capacity(self->conns), broker_conns_nofile(self->conns),
                   config->backlog);
    char fingerprint[PROTO_FINGERPRINT_LEN + 1];
    proto_fingerprint(proto_identity_public(self->identity)->sign_pk, fingerprint);
    proto_log_info("event=started broker=%s fingerprint=%s agencies=%zu data_dir=%s workers=%zu",
                   proto_identity_public(self->identity)->name, fingerprint,
                   proto_directory_count(self->directory), config->data_dir,
                   broker_verify_threads(self->verify));
    //  Last: the endpoint file tells tests and scripts the broker is up, and
    //  the lines above must already be in its log when they look.
    s_write_endpoint(self);
    return self;
fail:
    broker_server_destroy(&self);
    return NULL;
}

//  The loop's readers, each to its handler, in the order they are added
//  (and so dispatched): signals first, results before the ROUTER (they
//  free room for intake), admin last.
static int s_on_socket(proto_loop_t *loop, void *socket, int fd, void *arg)
{
    broker_server_t *self = arg;
    (void) loop;
    (void) fd;
    if (socket == self->zap)
        broker_zap_handle(self);
    else if (socket == self->monitor)
        broker_zap_monitor(self);
    else if (socket == self->results)
        s_results_readable(self);
    else if (socket == self->router)
        s_router_readable(self);
    else if (socket == self->admin_socket)
        broker_admin_handle(self->admin);
    else if (self->web && socket == broker_web_socket(self->web))
        broker_admin_handle(self->console_admin);
    return 0;
}

static int s_on_fd(proto_loop_t *loop, void *socket, int fd, void *arg)
{
    broker_server_t *self = arg;
    (void) socket;
    (void) loop;
    //  A stop waits for the end of the turn (s_on_turn), so whatever this
    //  turn polled is still handled and committed.
    if (fd == self->signal_pipe[0])
        s_on_signal(self);
    else if (fd == broker_admin_backup_fd(self->admin))
        broker_admin_backup_done(self->admin);
    else
        broker_directory_built(self);
    return 0;
}

static int s_on_minute(proto_loop_t *loop, int timer_id, void *arg)
{
    broker_server_t *self = arg;
    (void) loop;
    (void) timer_id;
    uint64_t counts[3] = { self->accepted, self->rejected, self->delivered };
    for (int i = 0; i < 3; i++) {
        self->last_minute[i] = counts[i] - self->this_minute_base[i];
        self->this_minute_base[i] = counts[i];
    }
    broker_zap_refused_minute(self);
    broker_rate_drain(self->notice_rate, broker_apply_rate_summary, self);
    uint64_t now = broker_mono();
    broker_zap_capacity_minute(self, now);
    self->minute_mark = now;
    (void) proto_sd_notifyf("STATUS=serving; last minute: %" PRIu64 " accepted, %" PRIu64
                            " rejected, %" PRIu64 " delivered",
                            self->last_minute[0], self->last_minute[1], self->last_minute[2]);
    return 0;
}

static int s_on_metrics(proto_loop_t *loop, int timer_id, void *arg)
{
    broker_server_t *self = arg;
    (void) loop;
    (void) timer_id;
    broker_metrics_due(self->metrics);
    return 0;
}

static int s_on_heartbeat(proto_loop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    broker_session_heartbeats(arg, broker_mono());
    return 0;
}

static int s_on_links(proto_loop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    broker_links_tick(((broker_server_t *) arg)->links, broker_mono());
    return 0;
}

static int s_on_expiry(proto_loop_t *loop, int timer_id, void *arg)
{
    broker_server_t *self = arg;
    (void) loop;
    (void) timer_id;
    //  Expiry and retention go by wall time, and only while the wall clock
    //  keeps step with the monotonic one.
    uint64_t now = broker_mono(), wall = broker_now();
    if (broker_expiry_clock_in_step(self, wall, now)) {
        broker_expiry_expire(self, wall);
        broker_expiry_retire(self, wall);
    }
    broker_session_repush(self, now);
    broker_linklog_tick(self->linklog, now);
    broker_peers_trim(self->peers);
    return 0;
}

//  After every turn: commit the batch if it is due, push, reap the peers
//  the handlers marked, then decide what the next poll watches (intake only
//  while the workers have room, admin not during a backup) and when the
//  open batch falls due.
static int s_on_turn(proto_loop_t *loop, void *arg)
{
    broker_server_t *self = arg;
    if (broker_batch_due(self))
        broker_batch_commit(self);
    if (self->metrics)
        broker_metrics_turn(self->metrics);
    broker_session_owed_flush(self); // answers first: they were ready before any push
    broker_push_all(self);
    broker_peers_reap(self->peers);
    if (self->stop)
        return -1;
    proto_loop_socket_pause(loop, self->router, !s_intake_open(self));
    proto_loop_socket_pause(loop, self->admin_socket, broker_admin_busy(self->admin));
    if (broker_store_writing(self->store)) {
        //  An open batch waits at most commit_delay (µs) for more work.
        uint64_t due_us = self->batch_opened * 1000 + self->config->commit_delay;
        proto_loop_wake_at(loop, self->outstanding == 0 ? 0 : (due_us + 999) / 1000);
    }
    return 0;
}

//  Readers and timers on a new loop; false if out of memory.
static bool s_loop_setup(broker_server_t *self, proto_loop_t *loop)
{
    return proto_loop_fd_add(loop, self->signal_pipe[0], s_on_fd, self) == PROTO_OK &&
           proto_loop_socket_add(loop, self->zap, s_on_socket, self) == PROTO_OK &&
           proto_loop_socket_add(loop, self->monitor, s_on_socket, self) == PROTO_OK &&
           proto_loop_fd_add(loop, broker_dirpush_fd(self->dirpush), s_on_fd, self) == PROTO_OK &&
           proto_loop_socket_add(loop, self->results, s_on_socket, self) == PROTO_OK &&
           proto_loop_socket_add(loop, self->router, s_on_socket, self) == PROTO_OK &&
           proto_loop_socket_add(loop, self->admin_socket, s_on_socket, self) == PROTO_OK &&
           (!self->web || proto_loop_socket_add(loop, broker_web_socket(self->web), s_on_socket,
                                                self) == PROTO_OK) &&
           proto_loop_fd_add(loop, broker_admin_backup_fd(self->admin), s_on_fd, self) ==
               PROTO_OK &&
           proto_loop_timer_add(loop, MINUTE_MS, true, s_on_minute, self) > 0 &&
           proto_loop_timer_add(loop, self->config->heartbeat / 2, true, s_on_heartbeat, self) >
               0 &&
           proto_loop_timer_add(loop, EXPIRY_INTERVAL, true, s_on_expiry, self) > 0 &&
           (!self->metrics || proto_loop_timer_add(loop, PROTO_METRICS_HTTP_PERIOD_MS, true,
                                                   s_on_metrics, self) > 0) &&
           (!broker_links_count(self->links) ||
            proto_loop_timer_add(loop, BROKER_LINK_TICK_MS, true, s_on_links, self) > 0) &&
           broker_links_start(self->links, loop) == PROTO_OK;
}

int broker_server_run(broker_server_t *self)
{
    self->loop = proto_loop_new();
    if (!self->loop || !s_loop_setup(self, self->loop)) {
        proto_log_error("event=loop_failed error=ERR_NOMEM");
        self->stop = true;
    } else {
        proto_loop_turn_set(self->loop, s_on_turn, self);
        //  Store open, every socket bound: systemd may start what needs us.
        char status[256];
        snprintf(status, sizeof status, "serving on %s", self->config->endpoint);
        (void) proto_sd_ready(self->loop, status);
        if (self->metrics)
            broker_metrics_due(self->metrics); // the first turn publishes: /healthz says ok
        //  The first poll watches what the first turn would decide.
        //  A failing poll is logged by the loop; the broker then stops as
        //  it did on a signal, committing what it holds.
        if (s_on_turn(self->loop, self) == 0)
            (void) proto_loop_run(self->loop);
    }
    proto_sd_stopping("stopping: committing and answering what it holds");
    proto_loop_destroy(&self->loop);
    //  Finish what the workers hold, then the last commit and its answers.
    while (self->outstanding > 0) {
        zmq_pollitem_t item = { self->results, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&item, 1, STOP_DRAIN_MS) <= 0)
            break;
        s_results_readable(self);
    }
    broker_batch_commit(self);
    broker_admin_backup_join(self->admin);
    proto_log_info("event=stopped accepted=%" PRIu64 " rejected=%" PRIu64 " delivered=%" PRIu64
                   " commits=%" PRIu64,
                   self->accepted, self->rejected, self->delivered, self->commits);
    return 0;
}

void broker_server_destroy(broker_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_server_t *self = *self_p;
    broker_metrics_destroy(&self->metrics); // its thread reads nothing of ours, but stop it first
    broker_admin_destroy(&self->admin);     // the store must outlive LMDB's copy
    broker_admin_destroy(&self->console_admin);
    broker_web_destroy(&self->web); // its HTTP thread ends before the context does
    broker_verify_destroy(&self->verify, self->jobs);
    //  Jobs still queued hold frames: take them back and free them.
    broker_job_t *job;
    while (self->results && (job = broker_job_recv(self->results)))
        broker_job_destroy(&job);
    broker_links_destroy(&self->links); // their sockets, before the context ends
    int zero = 0;
    if (self->router && self->monitor)
        zmq_socket_monitor(self->router, NULL, 0);
    void *sockets[] = { self->router,  self->zap,          self->jobs,
                        self->results, self->admin_socket, self->monitor };
    for (size_t i = 0; i < 6; i++) {
        if (sockets[i]) {
            if (sockets[i] != self->router)
                zmq_setsockopt(sockets[i], ZMQ_LINGER, &zero, sizeof zero);
            zmq_close(sockets[i]);
        }
    }
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    broker_peers_destroy(&self->peers);
    free(self->hop_acks);
    free(self->batch);
    broker_rate_destroy(&self->notice_rate);
    broker_clock_destroy(&self->clock);
    broker_linklog_destroy(&self->linklog);
    broker_dirlink_destroy(&self->dirlink);
    broker_dirhold_destroy(&self->dirhold);
    broker_tlog_destroy(&self->tlog);
    broker_store_destroy(&self->store);
    broker_anchor_destroy(&self->anchor);
    broker_conns_destroy(&self->conns);
    broker_dirpush_destroy(&self->dirpush); // its worker signs with the identity
    proto_directory_destroy(&self->directory);
    proto_identity_destroy(&self->identity);
    for (int i = 0; i < 2; i++) {
        if (self->signal_pipe[i] >= 0)
            close(self->signal_pipe[i]);
    }
    free(self);
    *self_p = NULL;
}
