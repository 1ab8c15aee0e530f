/*  broker/session.c - sending to agents, and the session messages the loop
    answers itself. See session.h.
*/
#include "session.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proto/log.h"

#include "batch.h"
#include "link.h"
#include "store_fwd.h"

//  Send header + body (+ extra frames) to a peer. Returns false if the
//  peer cannot take it now (its queue is full) or is gone.
bool broker_session_send(broker_server_t *self, broker_peer_t *p, proto_kind_t kind,
                         const void *body, size_t len, const void *const *extra,
                         const size_t *extra_lens, size_t nextra)
{
    uint8_t header[PROTO_HEADER_LEN];
    proto_header_write(header, kind);
    int flags = ZMQ_SNDMORE | ZMQ_DONTWAIT;
    //  A link this broker dialed has a socket of its own and no routing
    //  frame; its first frame is admitted or refused as the routing one is.
    void *socket = p->dealer ? p->dealer : self->router;
    if (p->dealer ? zmq_send(socket, header, sizeof header, flags) < 0
                  : zmq_send(socket, p->rid, p->rid_len, flags) < 0) {
        if (zmq_errno() == EHOSTUNREACH)
            p->dead = true;
        return false;
    }
    //  Once the first frame is accepted the rest of the message goes
    //  through: ZeroMQ admits or refuses multipart messages whole.
    if (!p->dealer)
        zmq_send(socket, header, sizeof header, ZMQ_SNDMORE);
    zmq_send(socket, body, len, nextra ? ZMQ_SNDMORE : 0);
    for (size_t i = 0; i < nextra; i++)
        zmq_send(socket, extra[i], extra_lens[i], i + 1 < nextra ? ZMQ_SNDMORE : 0);
    p->last_send = broker_mono();
    return true;
}

bool broker_session_answer(broker_server_t *self, broker_peer_t *p, proto_kind_t kind,
                           const void *body, size_t len)
{
    if (!p->owed && broker_session_send(self, p, kind, body, len, NULL, NULL, 0))
        return true;
    if (p->dead)
        return false; // gone: it will send again and get the answer then
    if (!broker_owed_push(self->peers, p, kind, body, len)) {
        proto_log_warning("event=answer_dropped agency=%s kind=%s owed_bytes=%zu",
                          p->link ? p->link_label : p->agency, proto_kind_name(kind),
                          p->owed_bytes);
        return false;
    }
    if (p->owed == p->owed_tail) // the first one owed: say so once per run of them
        proto_log_info("event=answer_owed agency=%s kind=%s", p->link ? p->link_label : p->agency,
                       proto_kind_name(kind));
    return true;
}

void broker_session_owed_flush(broker_server_t *self)
{
    if (broker_owed_total(self->peers) == 0)
        return;
    for (size_t i = 0, n = broker_peers_count(self->peers); i < n; i++) {
        broker_peer_t *p = broker_peers_at(self->peers, i);
        while (
            p->owed && !p->dead &&
            broker_session_send(self, p, p->owed->kind, p->owed->body, p->owed->len, NULL, NULL, 0))
            broker_owed_pop(self->peers, p); // a dead peer's go when it is reaped
    }
    //  A full queue says nothing when it drains: look again shortly.
    if (broker_owed_total(self->peers))
        proto_loop_wake_at(self->loop, proto_clock_mono_ms() + OWED_RETRY_MS);
}

bool broker_session_send_msg(broker_server_t *self, broker_peer_t *p, const proto_msg_t *msg)
{
    proto_buf_t buf;
    proto_errinfo_t info;
    proto_buf_init(&buf);
    proto_err_t rc = proto_msg_encode(msg, &buf, &info);
    bool sent = false;
    if (rc)
        proto_log_error("event=encode_failed kind=%s error=%s field=%s detail=\"%s\"",
                        proto_kind_name(msg->kind), proto_errname(rc), info.field, info.message);
    else
        sent = broker_session_send(self, p, msg->kind, buf.data, buf.len, NULL, NULL, 0);
    proto_buf_free(&buf);
    return sent;
}

//  Send ERROR and log it; a fatal one marks the peer for reaping. With
//  audit, refusals for who the agency is or what it may touch (2xx, 3xx)
//  also go in the audit chain.
void broker_session_error_audit(broker_server_t *self, broker_peer_t *p, proto_err_t code,
                                const char *text, const proto_id_t *ref, bool fatal, bool audit)
{
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_ERROR;
    msg.u.error.code = (uint32_t) code;
    msg.u.error.message = text && *text ? text : proto_strerror(code);
    if (ref) {
        msg.u.error.has_ref = true;
        msg.u.error.ref = *ref;
    }
    msg.u.error.fatal = fatal;
    broker_session_send_msg(self, p, &msg);
    proto_log_info("event=error_sent agency=%s code=%s fatal=%s detail=\"%s\"",
                   p->link ? p->link_label : p->agency, proto_errname(code), fatal ? "yes" : "no",
                   msg.u.error.message);
    //  Malformed input (1xx) and back-pressure (4xx) are only logged and
    //  counted, so garbage cannot grow the chain.
    if (audit && code >= 200 && code < 400 && p->agency[0]) {
        char detail[200];
        snprintf(detail, sizeof detail, "code=%s %s", proto_errname(code), msg.u.error.message);
        broker_batch_audit(self, BROKER_AUDIT_DENIED, p->agency, ref, detail, NULL);
    }
    if (fatal)
        p->dead = true;
}

void broker_session_error(broker_server_t *self, broker_peer_t *p, proto_err_t code,
                          const char *text, const proto_id_t *ref, bool fatal)
{
    broker_session_error_audit(self, p, code, text, ref, fatal, true);
}

//  What the session needs to hold the current directory, given the serial
//  its agent holds: nothing, the delta, or the whole snapshot.
void broker_session_directory(broker_server_t *self, broker_peer_t *p, uint64_t held)
{
    proto_kind_t kind;
    zmq_msg_t body;
    if (!broker_dirpush_for(self->dirpush, held, p->dir_deltas, &kind, &body))
        return;
    uint8_t header[PROTO_HEADER_LEN];
    proto_header_write(header, kind);
    if (zmq_send(self->router, p->rid, p->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (zmq_errno() == EHOSTUNREACH)
            p->dead = true;
        zmq_msg_close(&body);
        return;
    }
    zmq_send(self->router, header, sizeof header, ZMQ_SNDMORE);
    if (zmq_msg_send(&body, self->router, 0) < 0)
        zmq_msg_close(&body);
    p->last_send = broker_mono();
}

void broker_session_hello(broker_server_t *self, broker_peer_t *p, zmq_msg_t *body)
{
    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    proto_err_t rc =
        proto_msg_decode(PROTO_KIND_HELLO, zmq_msg_data(body), zmq_msg_size(body), &msg, &info);
    if (rc) {
        char text[300];
        snprintf(text, sizeof text, "%s: %s", info.field, info.message);
        broker_session_error(self, p, rc, text, NULL, true);
        return;
    }
    const proto_hello_t *hello = &msg->u.hello;
    if (p->link || hello->link) { // between brokers (link.c)
        broker_link_hello(self, p, hello);
        proto_msg_destroy(&msg);
        return;
    }
    bool speaks_1 = false;
    for (uint32_t i = 0; i < hello->nversions; i++)
        speaks_1 |= hello->versions[i] == PROTO_VERSION;
    const proto_directory_entry_t *e = proto_directory_find(self->directory, p->agency);
    rc = e ? proto_directory_entry_usable(e, (int64_t) (broker_now() / 1000))
           : PROTO_ERR_UNKNOWN_AGENCY;
    if (!speaks_1) {
        broker_session_error(self, p, PROTO_ERR_VERSION, "this broker speaks version 1 only", NULL,
                             true);
    } else if (strcmp(hello->agency, p->agency) != 0) {
        broker_session_error(self, p, PROTO_ERR_SENDER_MISMATCH,
                             "HELLO names another agency than the authenticated key", NULL, true);
    } else if (rc) {
        broker_session_error(self, p, rc, NULL, NULL, true);
    } else {
        //  One session per agency: the newest wins.
        broker_peer_t *old = broker_peers_of_agency(self->peers, p->agency);
        if (old && old != p)
            broker_session_error(self, old, PROTO_ERR_UNEXPECTED,
                                 "a newer session of this agency replaced this one", NULL, true);
        p->state = BROKER_PEER_READY;
        p->window = broker_flight_reserve(p, hello->window < self->config->max_window
                                                 ? hello->window
                                                 : (uint32_t) self->config->max_window);
        p->dirty = true;
        p->dir_deltas = hello->dir_deltas;
        p->log = hello->log;
        p->route = hello->route;
        proto_msg_t ready;
        memset(&ready, 0, sizeof ready);
        ready.kind = PROTO_KIND_READY;
        ready.u.ready.version = PROTO_VERSION;
        ready.u.ready.broker = proto_identity_public(self->identity)->name;
        ready.u.ready.agency = p->agency;
        ready.u.ready.time = broker_now();
        ready.u.ready.heartbeat = (uint32_t) self->config->heartbeat;
        ready.u.ready.dir_serial = broker_dirpush_serial(self->dirpush);
        ready.u.ready.max_frame = self->config->max_frame;
        ready.u.ready.max_document = self->config->max_document;
        ready.u.ready.max_recipients = (uint32_t) self->config->max_recipients;
        ready.u.ready.max_attachments = (uint32_t) self->config->max_attachments;
        //  The log head every agent checks the broker by (PROTOCOL.md 18);
        //  a session opens without it rather than not at all.
        ready.u.ready.has_log =
            p->log && broker_tlog_head(self->tlog, broker_now(), &ready.u.ready.log) == PROTO_OK;
        broker_session_send_msg(self, p, &ready);
        broker_session_directory(self, p, hello->dir_serial);
        proto_log_info("event=connected agency=%s window=%u software=\"%s\"", p->agency, p->window,
                       hello->software ? hello->software : "");
        p->ready_at = broker_now();
        broker_batch_audit(self, BROKER_AUDIT_CONNECTED, p->agency, NULL, "", NULL);
    }
    proto_msg_destroy(&msg);
}

void broker_session_message(broker_server_t *self, broker_peer_t *p, int kind, zmq_msg_t *body)
{
    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    proto_err_t rc = proto_msg_decode(kind, zmq_msg_data(body), zmq_msg_size(body), &msg, &info);
    if (rc) {
        char text[300];
        snprintf(text, sizeof text, "%s: %s", info.field, info.message);
        broker_session_error(self, p, rc, text, NULL, ++p->errors >= MAX_ERRORS_IN_A_ROW);
        return;
    }
    p->errors = 0;
    if (kind == PROTO_KIND_CREDIT) {
        uint32_t window = msg->u.credit.window;
        p->window = broker_flight_reserve(
            p, window < self->config->max_window ? window : (uint32_t) self->config->max_window);
        p->dirty = true;
    } else if (kind == PROTO_KIND_LOG_PROVE) {
        uint8_t proof[PROTO_TLOG_MAX_PROOF][PROTO_HASH_LEN];
        proto_msg_t answer;
        memset(&answer, 0, sizeof answer);
        answer.kind = PROTO_KIND_LOG_PROOF;
        proto_err_t arc = broker_tlog_answer(self->tlog, msg->u.log_prove.from, broker_now(),
                                             &answer.u.log_proof, proof);
        if (arc)
            broker_session_error(self, p, arc, "cannot prove the log now", NULL, false);
        else
            broker_session_send_msg(self, p, &answer);
    } else if (kind == PROTO_KIND_ACK) {
        if (broker_batch_begin(self) == PROTO_OK) {
            for (uint32_t i = 0; i < msg->u.ack.nmids; i++) {
                uint64_t mid = msg->u.ack.mids[i];
                //  A link's mailbox is its label's (hop.c).
                if ((p->link ? broker_store_linkbox_del(self->store, p->link_label, mid)
                             : broker_store_mbox_del(self->store, p->agency, mid)) != PROTO_OK)
                    break;
                broker_flight_remove(p, true, mid, NULL);
            }
        }
    }
    proto_msg_destroy(&msg);
}

void broker_session_heartbeats(broker_server_t *self, uint64_t now)
{
    uint64_t limit = self->config->heartbeat * self->config->heartbeat_misses;
    for (size_t i = 0; i < broker_peers_count(self->peers); i++) {
        broker_peer_t *p = broker_peers_at(self->peers, i);
        if (p->dead || p->dealer)
            continue; // a link this broker dialed keeps itself alive (link.c)
        if (broker_elapsed(now, p->last_recv) > limit && p->link) {
            broker_link_closed(self, p, "silent");
        } else if (broker_elapsed(now, p->last_recv) > limit) {
            proto_log_info("event=disconnected agency=%s reason=silent in_flight=%u", p->agency,
                           p->nflight);
            if (p->state == BROKER_PEER_READY)
                broker_batch_audit(self, BROKER_AUDIT_DISCONNECTED, p->agency, NULL, "silent",
                                   NULL);
            p->dead = true;
        } else if (p->state == BROKER_PEER_READY &&
                   broker_elapsed(now, p->last_send) >= self->config->heartbeat) {
            proto_msg_t msg;
            memset(&msg, 0, sizeof msg);
            msg.kind = PROTO_KIND_HEARTBEAT;
            msg.u.heartbeat.time = broker_now();
            broker_session_send_msg(self, p, &msg);
        }
    }
}

//  The oldest push in flight, by push order.
static uint64_t s_oldest_in_flight(const broker_peer_t *p)
{
    uint64_t oldest = UINT64_MAX;
    for (uint32_t i = 0; i < p->nflight; i++)
        if (p->flight[i].seq < oldest)
            oldest = p->flight[i].seq;
    return oldest;
}

//  Pushes lost on the way are pushed again: a session that is alive but has
//  answered nothing for REPUSH_MS, or that answered a later push while an
//  earlier one stayed in flight for REPUSH_GAP_MS (the agent answers in
//  order; an answer still at a worker is not a gap). Everything in flight
//  goes again; the agent takes a repeat as it takes the original. Checked
//  every second, with the expiry timer.
void broker_session_repush(broker_server_t *self, uint64_t now)
{
    for (size_t i = 0; i < broker_peers_count(self->peers); i++) {
        broker_peer_t *p = broker_peers_at(self->peers, i);
        if (p->dead || p->state != BROKER_PEER_READY || !p->nflight)
            continue;
        uint64_t oldest = s_oldest_in_flight(p);
        if (p->answered <= oldest || p->jobs) {
            p->gap_seq = 0;
        } else if (p->gap_seq != oldest) {
            p->gap_seq = oldest;
            p->gap_since = now;
        }
        bool gap = p->gap_seq && broker_elapsed(now, p->gap_since) > REPUSH_GAP_MS;
        uint64_t silent = broker_elapsed(now, p->last_answer);
        if (!gap && silent <= REPUSH_MS)
            continue;
        proto_log_info("event=repush agency=%s in_flight=%u reason=%s silent_ms=%" PRIu64,
                       p->link ? p->link_label : p->agency, p->nflight, gap ? "skipped" : "silent",
                       silent);
        broker_flight_clear(p);
        p->dirty = true;
    }
}
