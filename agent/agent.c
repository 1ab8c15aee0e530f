/*  agent/agent.c - the agent's loop and its session with the broker.

    Owns the broker session: HELLO until READY (retrying with back-off),
    heartbeats, the outbox (re-sent after every new session until the broker
    answers each item), and everything the broker pushes: deliveries
    (verified, stored, then acknowledged with one signed DELIVERED per
    commit), receipts, notices and the directory snapshot.

    Does not: parse API requests (api.c).
*/
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "agent_internal.h"
#include "api_edxml.h"
#include "proto/agency.h"
#include "proto/daemon.h"
#include "proto/dirdelta.h"
#include "proto/log.h"
#include "proto/merkle.h"
#include "proto/sign.h"

#define MAX_FRAMES  (2 + PROTO_MAX_ATTACHMENTS)
#define DRAIN_LIMIT 256

//  The session's deadlines (ms, monotonic). HELLO unanswered this long:
//  the broker refused us at the handshake or lost the HELLO.
#define S_HELLO_TIMEOUT_MS 10000
//  Outbox items sent and not answered this long were lost with a connection
//  the socket replaced quietly: the window goes out again.
#define S_RESEND_AFTER_MS 30000
//  A broker silent for S_SILENT_BEATS heartbeats is gone (PROTOCOL.md 4.2);
//  the default beat stands in until READY gives the broker's.
#define S_HEARTBEAT_DEFAULT_MS 5000
#define S_SILENT_BEATS         3
//  Offline, not connected yet: how soon to try again.
#define S_CONNECT_RETRY_MS 250
//  A handshake that stalls is dropped and retried after this (ZMQ_HANDSHAKE_IVL).
#define S_HANDSHAKE_MS 5000

uint64_t agent_now(void)
{
    return proto_clock_wall_ms();
}

static bool s_copy(agent_bytes_t *out, const void *data, size_t len)
{
    out->data = len ? malloc(len) : NULL;
    out->len = len;
    if (len && !out->data)
        return false;
    if (len)
        memcpy(out->data, data, len);
    return true;
}

void agent_after_add(agent_t *self, int what, const void *route, size_t route_len, const void *body,
                     size_t body_len, const char *topic, uint64_t mid)
{
    if (self->nafter == self->after_cap) {
        size_t cap = self->after_cap ? self->after_cap * 2 : 64;
        agent_after_t *grown = realloc(self->after, cap * sizeof *grown);
        if (!grown)
            return;
        self->after = grown;
        self->after_cap = cap;
    }
    agent_after_t *a = &self->after[self->nafter];
    memset(a, 0, sizeof *a);
    a->what = what;
    a->mid = mid;
    if (topic)
        snprintf(a->topic, sizeof a->topic, "%s", topic);
    if (!s_copy(&a->route, route, route_len) || !s_copy(&a->body, body, body_len)) {
        free(a->route.data);
        free(a->body.data);
        return;
    }
    self->nafter++;
}

// ---------------------------------------------------------------------------
//  Events: stored in the transaction, published after the commit.

void agent_event(agent_t *self, const char *topic, const proto_id_t *id, const char *fmt, ...)
{
    //  fmt lists extra fields as pairs: 's' key value(str), 'u' key value
    //  (uint64), 'b' key value(int as bool).
    if (proto_store_begin(self->kv) != PROTO_OK)
        return;
    uint64_t seq = agent_store_event_next(self->kv);
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    size_t extra = fmt ? strlen(fmt) : 0;
    msgpack_pack_map(&pk, 3 + (id ? 1 : 0) + extra);
    msgpack_pack_str_with_body(&pk, "seq", 3);
    msgpack_pack_uint64(&pk, seq);
    msgpack_pack_str_with_body(&pk, "time", 4);
    msgpack_pack_uint64(&pk, agent_now());
    msgpack_pack_str_with_body(&pk, "topic", 5);
    msgpack_pack_str_with_body(&pk, topic, strlen(topic));
    if (id) {
        char text[PROTO_ID_TEXT_LEN];
        proto_id_format(id, text);
        msgpack_pack_str_with_body(&pk, "id", 2);
        msgpack_pack_str_with_body(&pk, text, 36);
    }
    va_list args;
    va_start(args, fmt);
    for (size_t i = 0; i < extra; i++) {
        const char *key = va_arg(args, const char *);
        msgpack_pack_str_with_body(&pk, key, strlen(key));
        if (fmt[i] == 's') {
            const char *value = va_arg(args, const char *);
            if (value)
                msgpack_pack_str_with_body(&pk, value, strlen(value));
            else
                msgpack_pack_nil(&pk);
        } else if (fmt[i] == 'u') {
            msgpack_pack_uint64(&pk, va_arg(args, uint64_t));
        } else {
            if (va_arg(args, int))
                msgpack_pack_true(&pk);
            else
                msgpack_pack_false(&pk);
        }
    }
    va_end(args);
    if (seq && agent_store_event_put(self->kv, seq, buf.data, buf.size) == PROTO_OK)
        agent_after_add(self, AFTER_EVENT, NULL, 0, buf.data, buf.size, topic, 0);
    msgpack_sbuffer_destroy(&buf);
}

// ---------------------------------------------------------------------------
//  Directory

const proto_dir_entry_t *agent_dir_find(const agent_t *self, const char *code)
{
    if (!self->directory || !code)
        return NULL;
    const proto_directory_msg_t *d = &self->directory->u.directory;
    size_t lo = 0, hi = d->nentries;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(d->entries[mid].code, code);
        if (cmp == 0)
            return &d->entries[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static proto_err_t s_dir_usable(const agent_t *self, const char *code, const uint8_t **key)
{
    const proto_dir_entry_t *e = agent_dir_find(self, code);
    if (!e)
        return PROTO_ERR_UNKNOWN_AGENCY;
    if (key)
        *key = e->key;
    return e->state == PROTO_AGENCY_REVOKED     ? PROTO_ERR_AGENCY_REVOKED
           : e->state == PROTO_AGENCY_SUSPENDED ? PROTO_ERR_AGENCY_SUSPENDED
                                                : PROTO_OK;
}

static void s_on_directory(agent_t *self, const uint8_t *body, size_t len, proto_msg_t **msg_p)
{
    proto_msg_t *msg = *msg_p;
    proto_directory_msg_t *d = &msg->u.directory;
    if (strcmp(d->broker, self->broker.name) != 0 ||
        proto_directory_verify(d, self->broker.sign_pk, d->sig) != PROTO_OK) {
        proto_log_warning("event=directory_refused reason=\"not signed by the pinned broker\"");
        return;
    }
    if (self->directory && self->directory->u.directory.serial > d->serial) {
        proto_log_warning("event=directory_refused reason=older serial=%" PRIu64, d->serial);
        return;
    }
    if (proto_store_begin(self->kv) != PROTO_OK ||
        agent_store_directory_put(self->kv, body, len) != PROTO_OK)
        return;
    proto_msg_destroy(&self->directory);
    self->directory = msg;
    self->dir_whole = false;
    *msg_p = NULL;
    proto_log_info("event=directory serial=%" PRIu64 " agencies=%u", d->serial, d->nentries);
}

static void s_reset(agent_t *self, const char *reason);

//  A delta applies to exactly the snapshot held, and what it makes must
//  carry the broker's signature of the whole; it is then kept like a
//  DIRECTORY sent whole. Anything else: reconnect and ask for the whole
//  (HELLO without dir_deltas), never a directory the broker did not sign.
static void s_on_directory_delta(agent_t *self, const proto_msg_t *msg)
{
    const proto_dir_delta_t *delta = &msg->u.delta;
    proto_buf_t body;
    proto_buf_init(&body);
    proto_msg_t *whole = NULL;
    proto_err_t rc = self->directory ? proto_dir_delta_apply(&self->directory->u.directory, delta,
                                                             self->broker.sign_pk, &body)
                                     : PROTO_ERR_DIRECTORY_BASE;
    if (!rc)
        rc = proto_msg_decode(PROTO_KIND_DIRECTORY, body.data, body.len, &whole, NULL);
    if (!rc) {
        proto_log_info("event=directory_delta base=%" PRIu64 " serial=%" PRIu64
                       " changed=%u removed=%u",
                       delta->base, delta->serial, delta->nentries, delta->nremoved);
        s_on_directory(self, body.data, body.len, &whole);
    } else {
        proto_log_warning("event=directory_delta_refused base=%" PRIu64 " serial=%" PRIu64
                          " held=%" PRIu64 " error=%s",
                          delta->base, delta->serial,
                          self->directory ? self->directory->u.directory.serial : 0,
                          proto_errname(rc));
        self->dir_whole = true;
        s_reset(self, "a directory delta did not apply: asking for the whole directory");
    }
    proto_msg_destroy(&whole);
    proto_buf_free(&body);
}

// ---------------------------------------------------------------------------
//  Sending to the broker

static bool s_send(agent_t *self, int kind, const void *body, size_t len, const void *const *extra,
                   const size_t *extra_lens, size_t nextra)
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

static bool s_send_msg(agent_t *self, const proto_msg_t *msg)
{
    proto_buf_t buf;
    proto_errinfo_t info;
    proto_buf_init(&buf);
    bool sent = proto_msg_encode(msg, &buf, &info) == PROTO_OK &&
                s_send(self, msg->kind, buf.data, buf.len, NULL, NULL, 0);
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
    if (s_send_msg(self, &msg)) {
        self->state = A_HELLO;
        self->state_since = agent_now();
        self->state_mono = proto_clock_mono_ms();
    }
}

static void s_disconnect(agent_t *self)
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
static void s_reset(agent_t *self, const char *reason)
{
    bool was_ready = self->state == A_READY;
    snprintf(self->last_error, sizeof self->last_error, "%s", reason);
    proto_log_info("event=broker_session_reset reason=\"%s\" retry_ms=%" PRIu64, reason,
                   self->backoff);
    s_disconnect(self);
    self->state = A_OFFLINE;
    self->out_in_flight = 0;
    self->next_attempt = proto_clock_mono_ms() + self->backoff;
    self->backoff = self->backoff * 2 > self->config->reconnect_max ? self->config->reconnect_max
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
    int zero = 0, hwm = 100000;
    int64_t max = (int64_t) self->config->max_request + 65536;
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
        s_disconnect(self);
        return false;
    }
    //  The monitor first: a turn that sees both readable learns of a lost
    //  connection before it reads what the dealer still holds.
    if (proto_loop_socket_add(self->loop, self->monitor, s_on_socket, self) != PROTO_OK ||
        proto_loop_socket_add(self->loop, self->dealer, s_on_socket, self) != PROTO_OK) {
        snprintf(self->last_error, sizeof self->last_error, "cannot connect to %s: %s",
                 self->config->endpoint, "out of memory");
        s_disconnect(self);
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
    s_reset(self, reason);
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
                s_reset(self, "lost the connection to the broker");
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
            s_reset(self, reason);
        }
    }
}

typedef struct {
    agent_t *self;
    size_t sent;
} s_flush_t;

static bool s_flush_one(void *arg, uint8_t kind, const void *const *frames, const size_t *lens,
                        size_t n)
{
    s_flush_t *flush = arg;
    agent_t *self = flush->self;
    if (self->out_in_flight >= self->config->outbox_window)
        return false;
    if (!s_send(self, kind, frames[0], lens[0], frames + 1, lens + 1, n - 1))
        return false;
    if (self->out_in_flight++ == 0)
        self->last_answer = proto_clock_mono_ms();
    flush->sent++;
    return true;
}

//  Send the outbox (everything not answered yet), within the window. After
//  a new session everything goes again: the broker's idempotence makes a
//  repeat harmless.
static void s_flush_outbox(agent_t *self)
{
    if (self->state != A_READY || !self->out_dirty || proto_store_writing(self->kv))
        return;
    if (proto_store_read_begin(self->kv) != PROTO_OK)
        return;
    self->out_dirty = false;
    s_flush_t flush = { self, 0 };
    //  The outbox is keyed by id, so a scan cannot tell which items are in
    //  flight: a window goes out only once the broker has answered the whole
    //  previous one, and no item is sent twice in one session.
    if (self->out_in_flight == 0)
        agent_store_out_each(self->kv, s_flush_one, &flush);
    proto_store_read_end(self->kv);
    if (flush.sent)
        proto_log_debug("event=outbox_sent count=%zu", flush.sent);
}

// ---------------------------------------------------------------------------
//  Sent records (store.h): a fixed header, then a msgpack summary that never
//  changes.

static void s_pack_str(msgpack_packer *pk, const char *key, const char *value)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
    if (value)
        msgpack_pack_str_with_body(pk, value, strlen(value));
    else
        msgpack_pack_nil(pk);
}

proto_err_t agent_outbox_add(agent_t *self, const proto_msg_t *msg, const void *const *att,
                             const size_t *att_lens, size_t natt)
{
    proto_buf_t body;
    proto_errinfo_t info;
    proto_buf_init(&body);
    proto_err_t rc = proto_msg_encode(msg, &body, &info);
    const proto_id_t *id =
        msg->kind == PROTO_KIND_STATUS ? &msg->u.status.notice.id : &msg->u.document.doc.id;
    const void *frames[MAX_FRAMES];
    size_t lens[MAX_FRAMES];
    frames[0] = body.data;
    lens[0] = body.len;
    for (size_t i = 0; i < natt && i + 1 < MAX_FRAMES; i++) {
        frames[i + 1] = att[i];
        lens[i + 1] = att_lens[i];
    }
    //  The outbox entry: kind byte, then the frames.
    if (!rc)
        rc = proto_store_begin(self->kv);
    if (!rc)
        rc = proto_store_nest(self->kv);
    if (!rc) {
        rc = agent_store_out_put(self->kv, id, (uint8_t) msg->kind, frames, lens, natt + 1);
        //  The sent record.
        msgpack_sbuffer summary;
        msgpack_packer pk;
        msgpack_sbuffer_init(&summary);
        msgpack_packer_init(&pk, &summary, msgpack_sbuffer_write);
        agent_sent_t sent = { .state = SENT_QUEUED,
                              .kind = (uint8_t) msg->kind,
                              .created = agent_now() };
        agent_sent_summary_pack(&pk, msg);
        sent.summary = summary.data;
        sent.summary_len = summary.size;
        if (!rc)
            rc = agent_store_sent_put(self->kv, id, &sent);
        msgpack_sbuffer_destroy(&summary);
        //  One recipient row per recipient, waiting.
        const char *const *to = msg->kind == PROTO_KIND_STATUS
                                    ? (const char *const *) &msg->u.status.notice.to
                                    : (const char *const *) msg->u.document.doc.to;
        uint32_t nto = msg->kind == PROTO_KIND_STATUS ? 1 : msg->u.document.doc.nto;
        const agent_rcpt_t waiting = { .state = RCPT_WAITING };
        for (uint32_t i = 0; !rc && i < nto; i++)
            rc = agent_store_rcpt_set(self->kv, id, to[i], &waiting);
        proto_err_t nest_rc = proto_store_unnest(self->kv, rc == PROTO_OK);
        if (!rc)
            rc = nest_rc;
    }
    proto_buf_free(&body);
    if (!rc)
        self->out_dirty = true;
    else
        agent_storage_failed(self, rc); // the map full: the commit would not show it
    return rc;
}

//  Keep the proof of one verified receipt item (kind byte + body): the
//  bundle cut down to that item, its Merkle path and the signed head, so a
//  bundle of n documents costs n small records, not n copies of itself.
static proto_err_t s_keep_receipt(agent_t *self, const proto_msg_t *msg, const proto_item_t *item)
{
    proto_msg_t one = *msg;
    one.u.receipts.items = (proto_item_t *) (uintptr_t) item;
    one.u.receipts.nitems = 1;
    one.u.receipts.mid = 0;
    proto_buf_t body;
    proto_buf_init(&body);
    proto_err_t rc = proto_msg_encode(&one, &body, NULL);
    if (!rc)
        rc = agent_store_receipt_append(self->kv, &item->leaf.id, (uint8_t) msg->kind, body.data,
                                        body.len);
    proto_buf_free(&body);
    return rc;
}

// ---------------------------------------------------------------------------
//  Messages from the broker

static void s_on_answer(agent_t *self, const proto_msg_t *msg)
{
    const proto_receipts_t *r = &msg->u.receipts;
    for (uint32_t i = 0; i < r->nitems; i++) {
        const proto_item_t *item = &r->items[i];
        if (proto_receipt_verify(&r->head, r->sig, item, self->broker.sign_pk) != PROTO_OK ||
            strcmp(r->head.signer, self->broker.name) != 0) {
            proto_log_warning("event=receipt_refused kind=%s reason=\"does not verify\"",
                              proto_kind_name(msg->kind));
            continue;
        }
        agent_sent_t sent;
        if (proto_store_begin(self->kv) != PROTO_OK ||
            agent_store_sent_get(self->kv, &item->leaf.id, &sent) != PROTO_OK)
            continue; // not ours, or answered and forgotten
        bool accepted = item->leaf.event == PROTO_EVENT_ACCEPTED;
        if (sent.state == SENT_QUEUED) {
            sent.state = accepted ? SENT_ACCEPTED : SENT_REJECTED;
            sent.code = item->leaf.code;
            sent.accepted = item->leaf.time;
            sent.seq = item->leaf.seq;
            if (agent_store_sent_put(self->kv, &item->leaf.id, &sent) == PROTO_OK &&
                s_keep_receipt(self, msg, item) == PROTO_OK) {
                if (accepted)
                    agent_event(self, "sent.accepted", &item->leaf.id, "u", "broker_seq",
                                item->leaf.seq);
                else
                    agent_event(self, "sent.rejected", &item->leaf.id, "uss", "code",
                                (uint64_t) item->leaf.code, "error",
                                proto_errname((proto_err_t) item->leaf.code), "reason",
                                item->leaf.reason);
            }
        }
        if (agent_store_out_del(self->kv, &item->leaf.id) == PROTO_OK && self->out_in_flight > 0)
            self->out_in_flight--;
        self->last_answer = proto_clock_mono_ms();
        self->out_dirty = true;
    }
}

//  A routed receipt (DELIVERED from a recipient, EXPIRED from the broker).
static void s_on_routed_receipt(agent_t *self, const proto_msg_t *msg)
{
    const proto_receipts_t *r = &msg->u.receipts;
    bool expired = msg->kind == PROTO_KIND_EXPIRED;
    const uint8_t *key = NULL;
    if (expired) {
        key = strcmp(r->head.signer, self->broker.name) == 0 ? self->broker.sign_pk : NULL;
    } else {
        const proto_dir_entry_t *e = agent_dir_find(self, r->head.signer);
        key = e ? e->key : NULL;
    }
    for (uint32_t i = 0; key && i < r->nitems; i++) {
        const proto_item_t *item = &r->items[i];
        const proto_leaf_t *leaf = &item->leaf;
        if (proto_receipt_verify(&r->head, r->sig, item, key) != PROTO_OK ||
            strcmp(leaf->from, self->agency) != 0 || !leaf->to ||
            (!expired && strcmp(leaf->to, r->head.signer) != 0)) {
            proto_log_warning("event=receipt_refused kind=%s signer=%s", proto_kind_name(msg->kind),
                              r->head.signer);
            continue;
        }
        uint8_t state = leaf->event == PROTO_EVENT_DELIVERED ? RCPT_DELIVERED
                        : leaf->event == PROTO_EVENT_REFUSED ? RCPT_REFUSED
                        : leaf->event == PROTO_EVENT_EXPIRED ? RCPT_EXPIRED
                                                             : RCPT_RETURNED;
        if (proto_store_begin(self->kv) != PROTO_OK)
            continue;
        //  The broker routes a receipt again when our ACK was lost (a crash
        //  on either side): keep it and announce it once.
        agent_rcpt_t rcpt;
        if (agent_store_rcpt_get(self->kv, &leaf->id, leaf->to, &rcpt) == PROTO_OK &&
            rcpt.state == state)
            continue;
        rcpt = (agent_rcpt_t){ .state = state, .time = leaf->time, .code = leaf->code };
        if (agent_store_rcpt_set(self->kv, &leaf->id, leaf->to, &rcpt) != PROTO_OK ||
            s_keep_receipt(self, msg, item) != PROTO_OK)
            continue;
        if (state == RCPT_DELIVERED)
            agent_event(self, "sent.delivered", &leaf->id, "s", "agency", leaf->to);
        else if (state == RCPT_REFUSED)
            agent_event(self, "sent.refused", &leaf->id, "suss", "agency", leaf->to, "code",
                        (uint64_t) leaf->code, "error", proto_errname((proto_err_t) leaf->code),
                        "reason", leaf->reason);
        else
            agent_event(self, "sent.expired", &leaf->id, "sb", "agency", leaf->to, "returned",
                        state == RCPT_RETURNED);
    }
    if (!key)
        proto_log_warning("event=receipt_refused kind=%s signer=%s reason=\"unknown signer\"",
                          proto_kind_name(msg->kind), r->head.signer);
    //  Acknowledge once stored (or once known to be unusable, so the broker
    //  does not push it forever).
    agent_after_add(self, AFTER_ACK, NULL, 0, NULL, 0, NULL, r->mid);
}

static void s_on_status(agent_t *self, const proto_msg_t *msg)
{
    const proto_status_t *s = &msg->u.status;
    const proto_notice_t *n = &s->notice;
    const uint8_t *key = NULL;
    agent_after_add(self, AFTER_ACK, NULL, 0, NULL, 0, NULL, s->mid);
    if (strcmp(n->to, self->agency) != 0 ||
        s_dir_usable(self, n->from, &key) == PROTO_ERR_UNKNOWN_AGENCY || !key ||
        proto_notice_verify(n, key, s->sig) != PROTO_OK) {
        proto_log_warning("event=notice_refused from=%s", n->from);
        return;
    }
    if (proto_store_begin(self->kv) != PROTO_OK || agent_store_seen(self->kv, &n->id))
        return; // already taken: exactly once for the DMS
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    agent_note_pack(&pk, n);
    char doc[PROTO_ID_TEXT_LEN];
    proto_id_format(&n->doc, doc);
    if (agent_store_note_put(self->kv, &n->doc, &n->id, buf.data, buf.size) == PROTO_OK &&
        agent_store_seen_put(self->kv, &n->id) == PROTO_OK) {
        //  About a document we sent (01-06, 15, 16), or one we received (13).
        bool about_sent = n->code != 13;
        //  API.md section 5: sent.status names the recipient that answered
        //  (agency), inbox.status the sender that asks (from).
        agent_event(self, about_sent ? "sent.status" : "inbox.status", &n->id, "ssus", "doc", doc,
                    about_sent ? "agency" : "from", n->from, "code", (uint64_t) n->code, "note",
                    n->note);
    }
    msgpack_sbuffer_destroy(&buf);
}

//  Check a delivered document before anything else. PROTO_OK, or the code
//  that sends it to quarantine.
static proto_err_t s_check_delivery(agent_t *self, const proto_msg_t *msg, zmq_msg_t *frames,
                                    size_t nframes, char *reason, size_t rlen)
{
    const proto_doc_t *doc = &msg->u.document.doc;
    const uint8_t *key = NULL;
    bool addressed = false;
    for (uint32_t i = 0; i < doc->nto; i++)
        addressed |= strcmp(doc->to[i], self->agency) == 0;
    if (!addressed) {
        snprintf(reason, rlen, "this agency is not among the recipients");
        return PROTO_ERR_NOT_AUTHORIZED;
    }
    if (proto_msg_frame_count(msg) != nframes) {
        snprintf(reason, rlen, "attachment frames missing or extra");
        return PROTO_ERR_FRAMING;
    }
    proto_err_t rc = s_dir_usable(self, doc->from, &key);
    if (rc == PROTO_ERR_UNKNOWN_AGENCY || !key) {
        snprintf(reason, rlen, "sender %s is not in the agency directory", doc->from);
        return PROTO_ERR_UNKNOWN_AGENCY;
    }
    if (proto_doc_verify(doc, key, msg->u.document.sig) != PROTO_OK) {
        snprintf(reason, rlen, "the sender's signature does not verify");
        return PROTO_ERR_BAD_SIGNATURE;
    }
    for (uint32_t i = 0; i < doc->natt; i++) {
        if (proto_attachment_check(&doc->att[i], zmq_msg_data(&frames[2 + i]),
                                   zmq_msg_size(&frames[2 + i])) != PROTO_OK) {
            snprintf(reason, rlen, "attachment %s does not match its hash", doc->att[i].name);
            return PROTO_ERR_HASH_MISMATCH;
        }
    }
    return PROTO_OK;
}

static void s_ack_add(agent_t *self, const proto_doc_t *doc, const uint8_t hash[PROTO_HASH_LEN],
                      uint8_t event, uint32_t code)
{
    if (self->nacks == self->acks_cap) {
        size_t cap = self->acks_cap ? self->acks_cap * 2 : 64;
        proto_leaf_t *leaves = realloc(self->acks, cap * sizeof *leaves);
        if (!leaves)
            return;
        self->acks = leaves;
        char(*codes)[2][PROTO_AGENCY_CODE_LEN + 1] =
            realloc(self->ack_codes, cap * sizeof *self->ack_codes);
        if (!codes)
            return;
        self->ack_codes = codes;
        self->acks_cap = cap;
    }
    size_t i = self->nacks++;
    proto_leaf_t *leaf = &self->acks[i];
    memset(leaf, 0, sizeof *leaf);
    leaf->event = event;
    leaf->id = doc->id;
    memcpy(leaf->hash, hash, PROTO_HASH_LEN);
    snprintf(self->ack_codes[i][0], sizeof self->ack_codes[i][0], "%s", doc->from);
    snprintf(self->ack_codes[i][1], sizeof self->ack_codes[i][1], "%s", self->agency);
    leaf->time = agent_now();
    leaf->code = code;
}

static void s_on_deliver(agent_t *self, proto_msg_t *msg, zmq_msg_t *frames, size_t nframes)
{
    const proto_doc_t *doc = &msg->u.document.doc;
    uint8_t hash[PROTO_HASH_LEN];
    char reason[160] = "";
    if (proto_doc_hash(doc, hash) != PROTO_OK || proto_store_begin(self->kv) != PROTO_OK)
        return; // not acknowledged: the broker will push it again
    const void *v;
    size_t vlen;
    agent_inbox_t inbox;
    //  Seen before (a repeat after a crash on either side): acknowledge again.
    proto_err_t seen = agent_store_inbox_get(self->kv, &doc->id, &inbox);
    if (seen == PROTO_OK || seen == PROTO_ERR_STORE_DAMAGED) {
        s_ack_add(self, doc, hash, PROTO_EVENT_DELIVERED, 0);
        return;
    }
    if (agent_store_quar_get(self->kv, &doc->id, &v, &vlen) == PROTO_OK) {
        //  Refused before: refuse again, for the reason recorded then.
        s_ack_add(self, doc, hash, PROTO_EVENT_REFUSED,
                  agent_quar_code(v, vlen, PROTO_ERR_BAD_SIGNATURE));
        return;
    }
    proto_err_t verdict = s_check_delivery(self, msg, frames, nframes, reason, sizeof reason);
    const void *fptr[MAX_FRAMES];
    size_t flen[MAX_FRAMES], n = nframes - 1 < MAX_FRAMES ? nframes - 1 : MAX_FRAMES;
    for (size_t i = 0; i < n; i++) {
        fptr[i] = zmq_msg_data(&frames[i + 1]);
        flen[i] = zmq_msg_size(&frames[i + 1]);
    }
    proto_err_t rc = proto_store_nest(self->kv);
    if (rc)
        return;
    rc = agent_store_frames_put(self->kv, verdict ? 'q' : 'i', &doc->id, fptr, flen, n);
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    uint64_t now = agent_now();
    if (verdict) {
        agent_quar_pack(&pk, doc->from, now, verdict, reason);
        if (!rc)
            rc = agent_store_quar_put(self->kv, &doc->id, buf.data, buf.size);
    } else {
        //  Inbox record (store.h): its header, then a msgpack summary.
        agent_inbox_summary_pack(&pk, doc);
        inbox = (agent_inbox_t){ .received = now, .summary = buf.data, .summary_len = buf.size };
        if (!rc)
            rc = agent_store_inbox_add(self->kv, &doc->id, &inbox);
        if (!rc)
            rc = api_edxml_delivered(self, doc); // its edXML DocumentId, if it has one
    }
    msgpack_sbuffer_destroy(&buf);
    proto_err_t nest_rc = proto_store_unnest(self->kv, rc == PROTO_OK);
    if (rc || nest_rc) {
        proto_log_error("event=delivery_not_stored error=%s", proto_errname(rc ? rc : nest_rc));
        agent_storage_failed(self, rc ? rc : nest_rc);
        return; // not acknowledged: it will come again
    }
    char id_text[PROTO_ID_TEXT_LEN];
    proto_id_format(&doc->id, id_text);
    if (verdict) {
        proto_log_warning("event=quarantined doc=%s from=%s code=%s reason=\"%s\"", id_text,
                          doc->from, proto_errname(verdict), reason);
        agent_event(self, "inbox.quarantined", &doc->id, "suss", "from", doc->from, "code",
                    (uint64_t) verdict, "error", proto_errname(verdict), "reason", reason);
        s_ack_add(self, doc, hash, PROTO_EVENT_REFUSED, verdict);
    } else {
        proto_log_info("event=received doc=%s from=%s urgency=%u attachments=%u", id_text,
                       doc->from, doc->urgency, doc->natt);
        agent_event(self, "inbox.new", &doc->id, "ssuu", "from", doc->from, "subject", doc->subject,
                    "urgency", (uint64_t) doc->urgency, "op", (uint64_t) doc->op);
        s_ack_add(self, doc, hash, PROTO_EVENT_DELIVERED, 0);
    }
}

static void s_on_ready(agent_t *self, const proto_msg_t *msg)
{
    const proto_ready_t *r = &msg->u.ready;
    if (strcmp(r->broker, self->broker.name) != 0 || strcmp(r->agency, self->agency) != 0) {
        s_reset(self, "READY names another broker or agency");
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
    self->backoff = 1000;
    self->out_dirty = true;
    self->out_in_flight = 0;
    self->last_error[0] = '\0';
    self->refused = false;
    proto_log_info("event=connected broker=%s endpoint=%s heartbeat_ms=%u", r->broker,
                   self->config->endpoint, r->heartbeat);
    agent_event(self, "connection", NULL, "bs", "connected", 1, "reason", "READY");
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
        s_on_directory(self, body, len, &msg);
        break;
    case PROTO_KIND_DIRECTORY_DELTA:
        s_on_directory_delta(self, msg);
        break;
    case PROTO_KIND_ACCEPTED:
    case PROTO_KIND_REJECTED:
        s_on_answer(self, msg);
        break;
    case PROTO_KIND_DELIVERED:
    case PROTO_KIND_EXPIRED:
        s_on_routed_receipt(self, msg);
        break;
    case PROTO_KIND_STATUS:
        s_on_status(self, msg);
        break;
    case PROTO_KIND_DELIVER:
        s_on_deliver(self, msg, frames, nframes);
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
        if (e->fatal)
            s_reset(self, text);
        break;
    }
    default:
        proto_log_warning("event=unexpected kind=%s", proto_kind_name(kind));
    }
    proto_msg_destroy(&msg);
}

static void s_dealer_readable(agent_t *self)
{
    for (int taken = 0; self->dealer && taken < DRAIN_LIMIT; taken++) {
        zmq_msg_t frames[MAX_FRAMES];
        size_t n = 0;
        int more = 1;
        while (more) {
            zmq_msg_t *into = &frames[n < MAX_FRAMES ? n : MAX_FRAMES - 1];
            if (n >= MAX_FRAMES)
                zmq_msg_close(into); // extra frames replace the last one: the count is wrong anyway
            zmq_msg_init(into);
            if (zmq_msg_recv(into, self->dealer, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close(into);
                if (n == 0)
                    return;
                break;
            }
            more = zmq_msg_more(into);
            if (n < MAX_FRAMES)
                n++;
        }
        s_on_broker_message(self, frames, n);
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&frames[i]);
    }
}

// ---------------------------------------------------------------------------
//  After the commit

static void s_send_acks(agent_t *self)
{
    if (self->nacks == 0 || self->state != A_READY) {
        self->nacks = 0;
        return;
    }
    size_t n = self->nacks;
    proto_item_t *items = calloc(n, sizeof *items);
    uint8_t(*paths)[PROTO_HASH_LEN] = calloc(n * PROTO_MAX_PATH, PROTO_HASH_LEN);
    for (size_t i = 0; i < n; i++) {
        self->acks[i].from = self->ack_codes[i][0];
        self->acks[i].to = self->ack_codes[i][1];
    }
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DELIVERED;
    //  One signature covers every delivery of this commit.
    for (size_t start = 0; items && paths && start < n; start += PROTO_MAX_ITEMS) {
        size_t count = n - start < PROTO_MAX_ITEMS ? n - start : PROTO_MAX_ITEMS;
        if (proto_receipts_build(self->acks + start, count, self->identity, agent_now(),
                                 &msg.u.receipts.head, msg.u.receipts.sig, items,
                                 paths) != PROTO_OK)
            break;
        msg.u.receipts.items = items;
        msg.u.receipts.nitems = (uint32_t) count;
        s_send_msg(self, &msg);
    }
    free(items);
    free(paths);
    self->nacks = 0;
}

static void s_after_commit(agent_t *self, proto_err_t rc)
{
    uint64_t mids[PROTO_MAX_ITEMS];
    size_t nmids = 0;
    bool events = false;
    for (size_t i = 0; i < self->nafter; i++) {
        agent_after_t *a = &self->after[i];
        if (a->what == AFTER_REPLY) {
            if (rc && !a->is_error_reply) {
                //  Nothing was stored: say so instead of the success prepared.
                msgpack_sbuffer buf;
                msgpack_packer pk;
                msgpack_sbuffer_init(&buf);
                msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
                msgpack_pack_map(&pk, 4);
                msgpack_pack_str_with_body(&pk, "ok", 2);
                msgpack_pack_false(&pk);
                msgpack_pack_str_with_body(&pk, "code", 4);
                msgpack_pack_uint32(&pk, rc);
                s_pack_str(&pk, "error", proto_errname(rc));
                s_pack_str(&pk, "message", "the agent could not store it; nothing was kept");
                zmq_send(self->api, a->route.data, a->route.len, ZMQ_SNDMORE);
                zmq_send(self->api, "", 0, ZMQ_SNDMORE);
                zmq_send(self->api, buf.data, buf.size, 0);
                msgpack_sbuffer_destroy(&buf);
            } else {
                zmq_send(self->api, a->route.data, a->route.len, ZMQ_SNDMORE);
                zmq_send(self->api, "", 0, ZMQ_SNDMORE);
                zmq_send(self->api, a->body.data, a->body.len, 0);
            }
        } else if (a->what == AFTER_EVENT && !rc) {
            zmq_send(self->pub, a->topic, strlen(a->topic), ZMQ_SNDMORE);
            zmq_send(self->pub, a->body.data, a->body.len, 0);
            events = true;
        } else if (a->what == AFTER_ACK && !rc && a->mid && nmids < PROTO_MAX_ITEMS) {
            mids[nmids++] = a->mid;
        }
        free(a->route.data);
        free(a->body.data);
    }
    self->nafter = 0;
    if (rc) {
        self->nacks = 0;
        return;
    }
    s_send_acks(self);
    if (nmids && self->state == A_READY) {
        proto_msg_t msg;
        memset(&msg, 0, sizeof msg);
        msg.kind = PROTO_KIND_ACK;
        msg.u.ack.mids = mids;
        msg.u.ack.nmids = (uint32_t) nmids;
        s_send_msg(self, &msg);
    }
    if (events)
        agent_api_wake(self);
}

static void s_commit(agent_t *self)
{
    proto_err_t rc = PROTO_OK;
    bool wrote = proto_store_writing(self->kv);
    if (wrote) {
        rc = proto_store_commit(self->kv);
        if (rc)
            proto_log_error("event=commit_failed error=%s", proto_errname(rc));
    }
    if (self->nafter || self->nacks)
        s_after_commit(self, rc);
    //  After the replies: what storage.c queues belongs to the next commit.
    if (wrote && rc)
        agent_storage_failed(self, rc);
    else if (wrote)
        agent_storage_committed(self);
}

// ---------------------------------------------------------------------------
//  Life cycle

void agent_signal(agent_t *self, int signal_number)
{
    unsigned char byte = (unsigned char) signal_number;
    ssize_t written = write(self->signal_pipe[1], &byte, 1);
    (void) written;
}

//  Bind; an ipc:// socket file gets api.socket_mode and api.socket_group
//  whatever the umask (abstract ipc://@ sockets have no file).
static int s_bind_ipc(void *socket, const char *endpoint, unsigned mode, long gid, char *errbuf,
                      size_t errlen)
{
    if (zmq_bind(socket, endpoint) != 0) {
        snprintf(errbuf, errlen, "cannot bind %s: %s", endpoint, zmq_strerror(zmq_errno()));
        return -1;
    }
    if (strncmp(endpoint, "ipc://", 6) != 0 || endpoint[6] == '@')
        return 0;
    const char *path = endpoint + 6;
    if (gid >= 0 && chown(path, (uid_t) -1, (gid_t) gid) != 0) {
        snprintf(errbuf, errlen, "cannot give %s to group %ld (api.socket_group): %s", path, gid,
                 strerror(errno));
        return -1;
    }
    if (chmod(path, (mode_t) mode) != 0) {
        snprintf(errbuf, errlen, "cannot set the mode of %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

agent_t *agent_new(const agent_config_t *config, char *errbuf, size_t errlen)
{
    agent_t *self = calloc(1, sizeof *self);
    char err[512] = "";
    if (!self) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    self->config = config;
    self->signal_pipe[0] = self->signal_pipe[1] = -1;
    self->backoff = 1000;
    //  err names the file at fault: the key, or its passphrase file.
    proto_err_t rc = proto_identity_open(config->identity, config->passphrase_file,
                                         PROTO_PASSPHRASE_ENV, &self->identity, err, sizeof err);
    if (rc) {
        snprintf(errbuf, errlen, "cannot load the agency key: %s: %s", proto_strerror(rc), err);
        goto fail;
    }
    if (proto_identity_public(self->identity)->role != PROTO_ROLE_AGENCY) {
        snprintf(errbuf, errlen, "%s is not an agency key", config->identity);
        goto fail;
    }
    self->agency = proto_identity_public(self->identity)->name;
    rc = proto_public_load(config->public_key, &self->broker, err, sizeof err);
    if (rc || self->broker.role != PROTO_ROLE_BROKER) {
        snprintf(errbuf, errlen, "cannot load the broker's public identity %s: %s%s%s",
                 config->public_key, rc ? proto_strerror(rc) : "not a broker identity",
                 *err ? ": " : "", err);
        goto fail;
    }
    self->kv = agent_store_open(config->data_dir, config->map_size, errbuf, errlen);
    if (!self->kv)
        goto fail;
    self->files = agent_files_new(config, errbuf, errlen);
    if (!self->files)
        goto fail;
    //  The last directory snapshot the broker signed, so deliveries can be
    //  checked even before the broker is reachable again.
    const void *dir_body;
    size_t dir_len;
    if (proto_store_read_begin(self->kv) == PROTO_OK) {
        if (agent_store_directory_get(self->kv, &dir_body, &dir_len) == PROTO_OK) {
            proto_errinfo_t info;
            if (proto_msg_decode(PROTO_KIND_DIRECTORY, dir_body, dir_len, &self->directory,
                                 &info) != PROTO_OK)
                self->directory = NULL;
        }
        proto_store_read_end(self->kv);
    }
    if (pipe(self->signal_pipe) != 0) {
        snprintf(errbuf, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    fcntl(self->signal_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(self->signal_pipe[1], F_SETFL, O_NONBLOCK);
    self->loop = proto_loop_new();
    if (!self->loop) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    self->ctx = zmq_ctx_new();
    self->api = zmq_socket(self->ctx, ZMQ_ROUTER);
    self->pub = zmq_socket(self->ctx, ZMQ_PUB);
    if (!self->ctx || !self->api || !self->pub) {
        snprintf(errbuf, errlen, "cannot create sockets");
        goto fail;
    }
    int64_t max_request = (int64_t) config->max_request;
    zmq_setsockopt(self->api, ZMQ_MAXMSGSIZE, &max_request, sizeof max_request);
    char endpoint[4200];
    //  Requests sign documents and events carry senders and subjects: both
    //  stay on this host, whoever can reach them is trusted as the DMS.
    static const char *const names[2] = { "api.endpoint", "api.events_endpoint" };
    const char *const given[2] = { config->api_endpoint, config->events_endpoint };
    for (int i = 0; i < 2; i++)
        if (given[i][0] && !proto_endpoint_is_local(given[i])) {
            snprintf(errbuf, errlen,
                     "%s %s is not an ipc:// or loopback tcp:// endpoint (127.x.y.z or [::1] "
                     "with a port)",
                     names[i], given[i]);
            goto fail;
        }
    if (config->api_endpoint[0])
        snprintf(endpoint, sizeof endpoint, "%s", config->api_endpoint);
    else
        snprintf(endpoint, sizeof endpoint, "ipc://%s/api.sock", config->data_dir);
    unsigned mode = 0600;
    long gid = -1;
    if (agent_config_socket(config, &mode, &gid, errbuf, errlen) != PROTO_OK)
        goto fail;
    if (s_bind_ipc(self->api, endpoint, mode, gid, errbuf, errlen) != 0)
        goto fail;
    if (config->events_endpoint[0])
        snprintf(endpoint, sizeof endpoint, "%s", config->events_endpoint);
    else
        snprintf(endpoint, sizeof endpoint, "ipc://%s/events.sock", config->data_dir);
    if (s_bind_ipc(self->pub, endpoint, mode, gid, errbuf, errlen) != 0)
        goto fail;
    self->out_dirty = true;
    char fingerprint[PROTO_FINGERPRINT_LEN + 1];
    proto_fingerprint(proto_identity_public(self->identity)->sign_pk, fingerprint);
    proto_log_info("event=started agency=%s fingerprint=%s broker=%s data_dir=%s", self->agency,
                   fingerprint, config->endpoint, config->data_dir);
    return self;
fail:
    agent_destroy(&self);
    return NULL;
}

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
static uint64_t s_session_tick(agent_t *self)
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
        s_reset(self, "no READY from the broker within 10 s (refused at the handshake?)");
    else if (self->state == A_READY && s_elapsed(now, self->last_recv) > silence)
        s_reset(self, "the broker went silent");
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
        s_send_msg(self, &hb);
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

//  After every turn: answer waiters that are due, run the session's state
//  machine, commit what the turn wrote (one transaction for all of it),
//  send what the outbox holds, and sleep until the next deadline.
static int s_on_turn(proto_loop_t *loop, void *arg)
{
    agent_t *self = arg;
    agent_api_timers(self, proto_clock_mono_ms());
    uint64_t next = s_session_tick(self);
    s_commit(self);
    s_flush_outbox(self);
    if (next != UINT64_MAX)
        proto_loop_wake_at(loop, next);
    return 0;
}

static int s_on_signal(proto_loop_t *loop, void *socket, int fd, void *arg)
{
    (void) socket;
    (void) arg;
    unsigned char bytes[16];
    if (read(fd, bytes, sizeof bytes) > 0)
        proto_loop_stop(loop);
    return 0;
}

//  The agent's sockets, each to its handler: the local API, the dealer's
//  monitor and the dealer itself.
static int s_on_socket(proto_loop_t *loop, void *socket, int fd, void *arg)
{
    agent_t *self = arg;
    (void) loop;
    (void) fd;
    if (socket == self->api)
        agent_api_readable(self);
    else if (socket == self->monitor)
        s_monitor_readable(self);
    else if (socket == self->dealer)
        s_dealer_readable(self);
    return 0;
}

int agent_run(agent_t *self)
{
    int rc = 0;
    if (proto_loop_fd_add(self->loop, self->signal_pipe[0], s_on_signal, self) != PROTO_OK ||
        proto_loop_socket_add(self->loop, self->api, s_on_socket, self) != PROTO_OK) {
        proto_log_error("event=loop_failed error=ERR_NOMEM");
        rc = 1;
    } else {
        proto_loop_turn_set(self->loop, s_on_turn, self);
        //  The first turn has not happened yet: start the session now.
        if (s_on_turn(self->loop, self) != 0 || proto_loop_run(self->loop) != PROTO_OK)
            rc = 1;
    }
    s_commit(self);
    proto_log_info("event=stopped agency=%s", self->agency);
    return rc;
}

void agent_destroy(agent_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    agent_t *self = *self_p;
    int zero = 0;
    s_disconnect(self);
    proto_loop_destroy(&self->loop);
    void *sockets[] = { self->api, self->pub };
    for (size_t i = 0; i < 2; i++)
        if (sockets[i]) {
            zmq_setsockopt(sockets[i], ZMQ_LINGER, &zero, sizeof zero);
            zmq_close(sockets[i]);
        }
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    agent_files_destroy(&self->files);
    for (size_t i = 0; i < self->nafter; i++) {
        free(self->after[i].route.data);
        free(self->after[i].body.data);
    }
    free(self->after);
    free(self->acks);
    free(self->ack_codes);
    for (size_t i = 0; i < self->nwaiters; i++)
        free(self->waiters[i].route.data);
    free(self->waiters);
    proto_msg_destroy(&self->directory);
    proto_store_destroy(&self->kv);
    proto_identity_destroy(&self->identity);
    for (int i = 0; i < 2; i++)
        if (self->signal_pipe[i] >= 0)
            close(self->signal_pipe[i]);
    free(self);
    *self_p = NULL;
}
