/*  agent/session.c - the agent's session with the broker.

    Owns the DEALER to the broker and the PAIR that monitors it: connecting
    with CURVE (the broker's key pinned), HELLO the moment a handshake
    completes, READY, heartbeats, the HELLO and silence deadlines, the
    outbox window's resend deadline, and the reset that throws the socket
    away and tries again on a back-off (doubling up to
    broker.reconnect_max). It reads every message the broker sends and
    hands it to the module that owns its kind: directory.c (DIRECTORY,
    DIRECTORY_DELTA), outbox.c (ACCEPTED, REJECTED, DELIVERED, EXPIRED),
    inbox.c (DELIVER, STATUS).

    Does not: store anything itself nor commit (agent.c commits once per
    turn, after agent_session_tick), nor own the API sockets.
*/
#include "session.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "agent_internal.h"
#include "directory.h"
#include "inbox.h"
#include "outbox.h"
#include "tlog.h"
#include "proto/log.h"

//  At most this many broker messages are read in one turn, so the API, the
//  deadlines and the commit are not starved by a long backlog.
#define S_DRAIN_LIMIT 256
//  The DEALER's queues (messages each way): as deep as the largest
//  broker.window and broker.outbox_window allow, so a whole window fits.
#define S_QUEUE_HWM 100000
//  A frame from the broker may be this much larger than api.max_request: a
//  DELIVER carries the document as submitted plus what the broker adds.
#define S_FRAME_SLACK 65536

//  The session's deadlines (ms, monotonic). HELLO unanswered this long:
//  the broker refused us at the handshake or lost the HELLO.
#define S_HELLO_TIMEOUT_MS 10000
_Static_assert(S_HELLO_TIMEOUT_MS == 10000, "the reset's reason says \"within 10 s\"");
//  Outbox items sent and not answered this long were lost with a connection
//  the socket replaced quietly: the window goes out again.
#define S_RESEND_AFTER_MS 30000
//  A broker silent for S_SILENT_BEATS heartbeats is gone (PROTOCOL.md 4.2);
//  the default beat stands in until READY gives the broker's.
#define S_HEARTBEAT_DEFAULT_MS 5000
#define S_SILENT_BEATS         3
//  Offline, not connected yet: how soon to try again.
#define S_CONNECT_RETRY_MS 250
//  A session that had worked for S_QUICK_AFTER_MS and is lost (a cut, a
//  broker restart) is tried again after a random 20..20+S_QUICK_RETRY_MS
//  ms, not the back-off: documents flow again within a fraction of a
//  second, and a crowd of agents that lost the same broker comes back
//  spread out. One that ends sooner (refused, replaced by another session
//  of the same agency) waits the back-off, so it cannot spin.
#define S_QUICK_AFTER_MS 2000
#define S_QUICK_RETRY_MS 100
//  A handshake that stalls is dropped and retried after this (ZMQ_HANDSHAKE_IVL).
#define S_HANDSHAKE_MS 5000

// ---------------------------------------------------------------------------
//  Sending to the broker

bool agent_session_send(agent_t *self, int kind, const void *body, size_t len,
                        const void *const *extra, const size_t *extra_lens, size_t nextra)
{
    uint8_t header[PROTO_HEADER_LEN];
    proto_header_write(header, (proto_kind_t) kind);
    if (zmq_send(self->dealer, header, sizeof header, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return false;
    zmq_send(self->dealer, body, len, nextra ? ZMQ_SNDMORE : 0);
    for (size_t i = 0; i < nextra; i++)
        zmq_send(self->dealer, extra[i], extra_lens[i], i + 1 < nextra ? ZMQ_SNDMORE : 0);
    self->last_send = proto_clock_mono_ms();
    return true;
}

bool agent_session_send_msg(agent_t *self, const proto_msg_t *msg)
{
    proto_buf_t buf;
    proto_errinfo_t info;
    proto_buf_init(&buf);
    bool sent = proto_msg_encode(msg, &buf, &info) == PROTO_OK &&
                agent_session_send(self, msg->kind, buf.data, buf.len, NULL, NULL, 0);
    proto_buf_free(&buf);
    return sent;
}

static void s_hello(agent_t *self)
{
    uint8_t versions[] = { PROTO_VERSION };
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_HELLO;
    msg.u.hello.versions = versions;
    msg.u.hello.nversions = 1;
    msg.u.hello.agency = self->agency;
    msg.u.hello.software = "truc-agent/" TRUC_VERSION;
    msg.u.hello.dir_serial = self->directory ? self->directory->u.directory.serial : 0;
    msg.u.hello.window = (uint32_t) self->config->window;
    msg.u.hello.dir_deltas = !self->dir_whole && !self->no_dir_deltas;
    msg.u.hello.log = !self->no_log;
    msg.u.hello.route = !self->no_route; // shown to the DMS by fetch (api_read.c)
    if (agent_session_send_msg(self, &msg)) {
        self->state = A_HELLO;
        self->state_since = agent_now();
        self->state_mono = proto_clock_mono_ms();
    }
}

void agent_session_disconnect(agent_t *self)
{
    if (self->loop) {
        proto_loop_socket_remove(self->loop, self->monitor);
        proto_loop_socket_remove(self->loop, self->dealer);
    }
    if (self->dealer) {
        zmq_socket_monitor(self->dealer, NULL, 0);
        zmq_close(self->dealer);
    }
    if (self->monitor)
        zmq_close(self->monitor);
    self->dealer = self->monitor = NULL;
    self->linked = false;
}

//  Back to square one: a fresh socket (so no stale queue or connection
//  survives), the next attempt after the back-off.
void agent_session_reset(agent_t *self, const char *reason)
{
    bool was_ready = self->state == A_READY;
    uint64_t now = proto_clock_mono_ms();
    bool quick = was_ready && now > self->state_mono && now - self->state_mono >= S_QUICK_AFTER_MS;
    uint64_t wait = quick ? 20 + randombytes_uniform(S_QUICK_RETRY_MS) : self->backoff;
    snprintf(self->last_error, sizeof self->last_error, "%s", reason);
    proto_log_info("event=broker_session_reset reason=\"%s\" retry_ms=%" PRIu64, reason, wait);
    agent_session_disconnect(self);
    self->state = A_OFFLINE;
    self->out_in_flight = 0;
    self->next_attempt = now + wait;
    if (!quick)
        self->backoff = self->backoff * 2 > self->config->reconnect_max
                            ? self->config->reconnect_max
                            : self->backoff * 2;
    if (was_ready)
        agent_event(self, "connection", NULL, "bs", "connected", 0, "reason", reason);
}

static proto_loop_reader_fn s_on_socket;

static bool s_connect(agent_t *self)
{
    self->dealer = zmq_socket(self->ctx, ZMQ_DEALER);
    if (!self->dealer)
        return false;
    int zero = 0, hwm = S_QUEUE_HWM;
    int64_t max = (int64_t) self->config->max_request + S_FRAME_SLACK;
    zmq_setsockopt(self->dealer, ZMQ_CURVE_SERVERKEY, self->broker.curve_pk, PROTO_KEY_LEN);
    zmq_setsockopt(self->dealer, ZMQ_CURVE_PUBLICKEY,
                   proto_identity_public(self->identity)->curve_pk, PROTO_KEY_LEN);
    zmq_setsockopt(self->dealer, ZMQ_CURVE_SECRETKEY, proto_identity_curve_sk(self->identity),
                   PROTO_KEY_LEN);
    //  Not ZMQ_IMMEDIATE: with it libzmq ends the pipe without delay when a
    //  connection drops, and a DELIVER whose first frames were already read
    //  loses the rest (libzmq aborts: "!_more" in fq.cpp). HELLO waits for a
    //  completed handshake instead, which the socket monitor reports.
    //  A handshake that stalls (a path that accepted the connection but
    //  carries nothing) is dropped and retried after 5 s, not libzmq's 30 s:
    //  until it completes, HELLO cannot even be sent.
    int handshake_ms = S_HANDSHAKE_MS;
    zmq_setsockopt(self->dealer, ZMQ_HANDSHAKE_IVL, &handshake_ms, sizeof handshake_ms);
    zmq_setsockopt(self->dealer, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(self->dealer, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(self->dealer, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(self->dealer, ZMQ_MAXMSGSIZE, &max, sizeof max);
    static unsigned monitors;
    char monitor[64];
    snprintf(monitor, sizeof monitor, "inproc://truc-agent-monitor-%u", ++monitors);
    self->monitor = zmq_socket(self->ctx, ZMQ_PAIR);
    if (self->monitor)
        zmq_setsockopt(self->monitor, ZMQ_LINGER, &zero, sizeof zero);
    if (!self->monitor ||
        zmq_socket_monitor(self->dealer, monitor,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0 ||
        zmq_connect(self->monitor, monitor) != 0 ||
        zmq_connect(self->dealer, self->config->endpoint) != 0) {
        snprintf(self->last_error, sizeof self->last_error, "cannot connect to %s: %s",
                 self->config->endpoint, zmq_strerror(zmq_errno()));
        agent_session_disconnect(self);
        return false;
    }
    //  The monitor first: a turn that sees both readable learns of a lost
    //  connection before it reads what the dealer still holds.
    if (proto_loop_socket_add(self->loop, self->monitor, s_on_socket, self) != PROTO_OK ||
        proto_loop_socket_add(self->loop, self->dealer, s_on_socket, self) != PROTO_OK) {
        snprintf(self->last_error, sizeof self->last_error, "cannot connect to %s: %s",
                 self->config->endpoint, "out of memory");
        agent_session_disconnect(self);
        return false;
    }
    return true;
}

//  The broker refused our key at the handshake (ZAP): the agency is not in
//  its directory yet, or is suspended or revoked, or its key was rotated.
//  The ZMTP ERROR carries only ZAP's status code, never its text. libzmq
//  does not reconnect after such a refusal, so the agent starts over itself
//  with a fresh socket on its back-off (up to broker.reconnect_max), for as
//  long as it runs: once the directory admits the key, it connects.
static void s_refused_at_handshake(agent_t *self, uint32_t status)
{
    char reason[224];
    snprintf(reason, sizeof reason,
             "refused by the broker at the handshake (ZAP status %u): this agency's key is not "
             "admitted (not in the broker's directory, suspended, revoked, or rotated)",
             status);
    bool first = !self->refused;
    self->refused = true;
    proto_log_warning("event=handshake_refused status=%u retry_ms=%" PRIu64, status, self->backoff);
    agent_session_reset(self, reason);
    //  One event when the refusals start, not one per attempt: an agency
    //  left out of the directory for a week must not fill the events table.
    if (first)
        agent_event(self, "connection", NULL, "bbs", "connected", 0, "refused", 1, "reason",
                    reason);
}

//  The dealer's handshakes, failed handshakes and disconnections. HELLO goes
//  out the moment a handshake completes, before anything else: every new
//  connection is a new session at the broker (a restarted broker knows
//  nothing of the old one). A lost connection drops the whole socket, so
//  nothing queued for the old session (a heartbeat, an ACK) can reach the
//  broker ahead of the next HELLO once libzmq reconnects.
static void s_monitor_readable(agent_t *self)
{
    while (self->monitor) {
        zmq_msg_t event, address;
        zmq_msg_init(&event);
        if (zmq_msg_recv(&event, self->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&event);
            return;
        }
        uint16_t id = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&event) >= 6) {
            memcpy(&id, zmq_msg_data(&event), 2);
            memcpy(&value, (const uint8_t *) zmq_msg_data(&event) + 2, 4);
        }
        zmq_msg_close(&event);
        zmq_msg_init(&address); // the second frame: the endpoint
        zmq_msg_recv(&address, self->monitor, ZMQ_DONTWAIT);
        zmq_msg_close(&address);
        if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            self->linked = true;
            s_hello(self);
        } else if (id == ZMQ_EVENT_DISCONNECTED) {
            self->linked = false;
            if (self->state != A_OFFLINE)
                agent_session_reset(self, "lost the connection to the broker");
        } else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            s_refused_at_handshake(self, value);
        } else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
            //  libzmq gives up on the endpoint after a protocol error too
            //  (e.g. a broker whose CURVE key is not the one pinned).
            char reason[160];
            snprintf(reason, sizeof reason,
                     "the handshake with the broker failed: ZMTP protocol error 0x%x (is "
                     "broker.public_key this broker's?)",
                     (unsigned) value);
            agent_session_reset(self, reason);
        }
    }
}

// ---------------------------------------------------------------------------
//  Messages from the broker

static void s_on_ready(agent_t *self, const proto_msg_t *msg)
{
    const proto_ready_t *r = &msg->u.ready;
    if (strcmp(r->broker, self->broker.name) != 0 || !r->agency ||
        strcmp(r->agency, self->agency) != 0) {
        agent_session_reset(self, "READY names another broker or agency");
        return;
    }
    self->state = A_READY;
    self->state_since = agent_now();
    self->state_mono = proto_clock_mono_ms();
    self->heartbeat = r->heartbeat;
    self->max_frame = r->max_frame;
    self->max_document = r->max_document;
    self->max_recipients = r->max_recipients;
    self->max_attachments = r->max_attachments;
    self->backoff = AGENT_BACKOFF_FIRST_MS;
    self->out_dirty = true;
    self->out_in_flight = 0;
    self->last_error[0] = '\0';
    self->refused = false;
    proto_log_info("event=connected broker=%s endpoint=%s heartbeat_ms=%u", r->broker,
                   self->config->endpoint, r->heartbeat);
    agent_event(self, "connection", NULL, "bs", "connected", 1, "reason", "READY");
    agent_tlog_on_ready(self, r);
}

static void s_on_broker_message(agent_t *self, zmq_msg_t *frames, size_t nframes)
{
    uint8_t version;
    int kind;
    proto_err_t rc =
        proto_header_parse(zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]), &version, &kind);
    if (rc || nframes < 2) {
        proto_log_warning("event=broker_message_refused error=%s", proto_errname(rc));
        return;
    }
    self->last_recv = proto_clock_mono_ms();
    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    const uint8_t *body = zmq_msg_data(&frames[1]);
    size_t len = zmq_msg_size(&frames[1]);
    rc = proto_msg_decode(kind, body, len, &msg, &info);
    if (rc) {
        proto_log_warning("event=broker_message_refused kind=%s error=%s field=%s detail=\"%s\"",
                          proto_kind_name(kind), proto_errname(rc), info.field, info.message);
        return;
    }
    switch (kind) {
    case PROTO_KIND_READY:
        if (self->state == A_HELLO)
            s_on_ready(self, msg);
        break;
    case PROTO_KIND_HEARTBEAT:
        break;
    case PROTO_KIND_DIRECTORY:
        agent_dir_on_directory(self, body, len, &msg);
        break;
    case PROTO_KIND_DIRECTORY_DELTA:
        agent_dir_on_delta(self, msg);
        break;
    case PROTO_KIND_ACCEPTED:
    case PROTO_KIND_REJECTED:
        agent_outbox_on_answer(self, msg);
        agent_tlog_on_batch(self, msg->u.receipts.head.log);
        break;
    case PROTO_KIND_LOG_PROOF:
        agent_tlog_on_proof(self, msg);
        break;
    case PROTO_KIND_DELIVERED:
    case PROTO_KIND_EXPIRED:
        agent_outbox_on_receipt(self, msg);
        break;
    case PROTO_KIND_STATUS:
        agent_inbox_on_status(self, msg);
        break;
    case PROTO_KIND_DELIVER:
        agent_inbox_on_deliver(self, msg, frames, nframes);
        break;
    case PROTO_KIND_ERROR: {
        const proto_error_t *e = &msg->u.error;
        char text[240];
        snprintf(text, sizeof text, "broker: %s: %s", proto_errname((proto_err_t) e->code),
                 e->message);
        proto_log_warning("event=broker_error code=%s fatal=%s detail=\"%s\"",
                          proto_errname((proto_err_t) e->code), e->fatal ? "yes" : "no",
                          e->message);
        snprintf(self->last_error, sizeof self->last_error, "%s", text);
        //  A broker from before directory deltas refuses the field: ask
        //  for whole directories from now on, as agents did before.
        if (self->state == A_HELLO && e->code == PROTO_ERR_UNKNOWN_FIELD &&
            strstr(e->message, "dir_deltas"))
            self->no_dir_deltas = true;
        //  A broker from before routes between brokers: it has no link.
        if (self->state == A_HELLO && e->code == PROTO_ERR_UNKNOWN_FIELD &&
            strncmp(e->message, "route:", 6) == 0)
            self->no_route = true;
        //  A broker from before the transparency log: nothing to check.
        if (self->state == A_HELLO && e->code == PROTO_ERR_UNKNOWN_FIELD &&
            strncmp(e->message, "log:", 4) == 0)
            self->no_log = true;
        if (e->fatal)
            agent_session_reset(self, text);
        break;
    }
    default:
        proto_log_warning("event=unexpected kind=%s", proto_kind_name(kind));
    }
    proto_msg_destroy(&msg);
}

static void s_dealer_readable(agent_t *self)
{
    for (int taken = 0; self->dealer && taken < S_DRAIN_LIMIT; taken++) {
        zmq_msg_t frames[AGENT_MAX_FRAMES];
        size_t n = 0;
        int more = 1;
        while (more) {
            zmq_msg_t *into = &frames[n < AGENT_MAX_FRAMES ? n : AGENT_MAX_FRAMES - 1];
            if (n >= AGENT_MAX_FRAMES)
                zmq_msg_close(into); // extra frames replace the last one: the count is wrong anyway
            zmq_msg_init(into);
            if (zmq_msg_recv(into, self->dealer, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close(into);
                if (n == 0)
                    return;
                break;
            }
            more = zmq_msg_more(into);
            if (n < AGENT_MAX_FRAMES)
                n++;
        }
        s_on_broker_message(self, frames, n);
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&frames[i]);
    }
}

//  The session's sockets, each to its handler: the dealer's monitor and the
//  dealer itself.
static int s_on_socket(proto_loop_t *loop, void *socket, int fd, void *arg)
{
    agent_t *self = arg;
    (void) loop;
    (void) fd;
    if (socket == self->monitor)
        s_monitor_readable(self);
    else if (socket == self->dealer)
        s_dealer_readable(self);
    return 0;
}

// ---------------------------------------------------------------------------
//  The session's deadlines

//  Milliseconds from then to now; 0 if then is later (set during this
//  turn), so nothing looks like a long silence.
static uint64_t s_elapsed(uint64_t now, uint64_t then)
{
    return now > then ? now - then : 0;
}

//  The session's state machine on its deadlines: connect, say HELLO, watch
//  the heartbeat, send the outbox window again. Runs after every turn, so
//  it sees what the handlers changed; returns the next deadline
//  (monotonic) at which it has something to do.
uint64_t agent_session_tick(agent_t *self)
{
    uint64_t now = proto_clock_mono_ms();
    if (self->state == A_OFFLINE && now >= self->next_attempt) {
        if (!self->dealer && !s_connect(self))
            self->next_attempt = now + self->backoff;
        else if (self->linked)
            s_hello(self);
        if (self->state == A_OFFLINE) // not connected yet: try again soon
            self->next_attempt = now + S_CONNECT_RETRY_MS;
    }
    uint64_t beat = self->heartbeat ? self->heartbeat : S_HEARTBEAT_DEFAULT_MS;
    uint64_t silence = beat * S_SILENT_BEATS;
    //  Times set during this turn can be later than `now`: compare with
    //  s_elapsed, which never wraps below zero.
    now = proto_clock_mono_ms();
    if (self->state == A_HELLO && s_elapsed(now, self->state_mono) > S_HELLO_TIMEOUT_MS)
        agent_session_reset(self,
                            "no READY from the broker within 10 s (refused at the handshake?)");
    else if (self->state == A_READY && s_elapsed(now, self->last_recv) > silence)
        agent_session_reset(self, "the broker went silent");
    //  Items sent and never answered (lost with a connection the socket
    //  replaced quietly): send the window again.
    if (self->state == A_READY && self->out_in_flight &&
        s_elapsed(now, self->last_answer) > S_RESEND_AFTER_MS) {
        self->out_in_flight = 0;
        self->out_dirty = true;
        self->last_answer = now;
    }
    if (self->state == A_READY && s_elapsed(now, self->last_send) >= self->heartbeat) {
        proto_msg_t hb;
        memset(&hb, 0, sizeof hb);
        hb.kind = PROTO_KIND_HEARTBEAT;
        hb.u.heartbeat.time = agent_now();
        agent_session_send_msg(self, &hb);
    }
    //  The checks above compare with `>`: one past each limit.
    uint64_t next = UINT64_MAX;
    if (self->state == A_OFFLINE)
        next = self->next_attempt;
    else if (self->state == A_HELLO)
        next = self->state_mono + S_HELLO_TIMEOUT_MS + 1;
    else if (self->state == A_READY) {
        next = self->last_recv + silence + 1;
        if (self->last_send + self->heartbeat < next)
            next = self->last_send + self->heartbeat;
        if (self->out_in_flight && self->last_answer + S_RESEND_AFTER_MS + 1 < next)
            next = self->last_answer + S_RESEND_AFTER_MS + 1;
    }
    for (size_t i = 0; i < self->nwaiters; i++)
        if (self->waiters[i].deadline < next)
            next = self->waiters[i].deadline;
    return next;
}
