/*  broker/zap.c - the ZAP handler and the ROUTER's socket monitor.
    See zap.h.

    libzmq asks ZAP about every CURVE handshake on the ROUTER before the
    session can send anything; the monitor reports the connections accepted
    and closed and the handshakes that fail before ZAP is asked.
*/
#include "zap.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "proto/log.h"

#include "batch.h"
#include "link.h"

//  A refused handshake: counted, and audited, but at most
//  REFUSED_AUDIT_PER_MINUTE entries a minute; the rest are summed into one
//  entry when the minute ends, so anyone able to open a TCP connection
//  cannot grow the chain without bound.
static void s_refused(broker_server_t *self, const char *agency, const char *detail)
{
    self->refused_handshakes++;
    if (self->refused_audited < REFUSED_AUDIT_PER_MINUTE) {
        self->refused_audited++;
        broker_batch_audit(self, BROKER_AUDIT_REFUSED, agency, NULL, detail, NULL);
    } else {
        self->refused_unaudited++;
    }
}

void broker_zap_refused_minute(broker_server_t *self)
{
    if (self->refused_unaudited) {
        char detail[96];
        snprintf(detail, sizeof detail,
                 "%" PRIu64 " more refused handshakes in the last minute (see the log)",
                 self->refused_unaudited);
        broker_batch_audit(self, BROKER_AUDIT_REFUSED, "", NULL, detail, NULL);
    }
    self->refused_audited = 0;
    self->refused_unaudited = 0;
}

//  A minute without a refusal for lack of room ends the episode: the next
//  refusal is logged again.
void broker_zap_capacity_minute(broker_server_t *self, uint64_t now)
{
    if (self->at_capacity && broker_elapsed(now, self->capacity_refused_at) >= 60000) {
        self->at_capacity = false;
        proto_log_info("event=below_capacity connections=%zu capacity=%zu refused=%" PRIu64,
                       broker_conns_open(self->conns), broker_conns_capacity(self->conns),
                       self->capacity_refused);
    }
}

void broker_zap_handle(broker_server_t *self)
{
    //  The connection asking was accepted before its handshake began: take
    //  all the monitor's news first, so that it is counted and no older
    //  close of the same descriptor is still unread.
    while (broker_zap_monitor(self) == DRAIN_LIMIT)
        ;
    zmq_msg_t frames[8];
    size_t n = 0;
    int more = 1;
    while (more && n < 8) {
        zmq_msg_init(&frames[n]);
        if (zmq_msg_recv(&frames[n], self->zap, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&frames[n]);
            for (size_t i = 0; i < n; i++)
                zmq_msg_close(&frames[i]);
            return;
        }
        more = zmq_msg_more(&frames[n]);
        n++;
    }
    while (more) { // more frames than ZAP defines: drain them
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        zmq_msg_recv(&extra, self->zap, 0);
        more = zmq_msg_more(&extra);
        zmq_msg_close(&extra);
    }
    const char *status = "400", *text = "refused";
    char user[PROTO_LABEL_MAX + 2] = ""; // an agency code, or a link's '@' and label
    char address[64] = "";
    if (n >= 4)
        snprintf(address, sizeof address, "%.*s", (int) zmq_msg_size(&frames[3]),
                 (const char *) zmq_msg_data(&frames[3]));
    if (n == 7 && zmq_msg_size(&frames[5]) == 5 &&
        memcmp(zmq_msg_data(&frames[5]), "CURVE", 5) == 0 &&
        zmq_msg_size(&frames[6]) == PROTO_KEY_LEN) {
        const proto_directory_entry_t *e =
            proto_directory_find_curve(self->directory, zmq_msg_data(&frames[6]));
        proto_err_t rc = e ? proto_directory_entry_usable(e, (int64_t) (broker_now() / 1000))
                           : PROTO_ERR_UNKNOWN_AGENCY;
        const char *link = NULL; // a broker entry's label: a link (link.c)
        if (!e)
            rc = broker_link_admit(self, zmq_msg_data(&frames[6]), user, sizeof user, &link);
        if (!rc && link) {
            status = "200";
            text = "OK";
        } else if (!rc && broker_conns_full(self->conns)) {
            //  No descriptor to spare: refused as a temporary failure (300),
            //  so the agent tries again later; one log line per episode.
            status = "300";
            text = "the broker is at capacity";
            self->capacity_refused++;
            self->capacity_refused_at = broker_mono();
            if (!self->at_capacity)
                proto_log_warning("event=at_capacity connections=%zu capacity=%zu nofile=%" PRIu64
                                  " agency=%s note=\"refusing new sessions until some end; "
                                  "raise LimitNOFILE\"",
                                  broker_conns_open(self->conns),
                                  broker_conns_capacity(self->conns),
                                  broker_conns_nofile(self->conns), e->code);
            self->at_capacity = true;
        } else if (!rc) {
            status = "200";
            text = "OK";
            snprintf(user, sizeof user, "%s", e->code);
        } else {
            text = proto_strerror(rc);
            char key[65];
            proto_hex_encode(zmq_msg_data(&frames[6]), PROTO_KEY_LEN, key);
            proto_log_warning("event=handshake_refused address=%s agency=%s%s%s reason=%s "
                              "curve_key=%.16s",
                              address, e ? e->code : "-", link ? " broker=" : "", link ? link : "",
                              proto_errname(rc), key);
            s_refused(self, e ? e->code : "", proto_errname(rc));
        }
    } else {
        text = "only CURVE is accepted";
        proto_log_warning("event=handshake_refused address=%s reason=not_curve", address);
        s_refused(self, "", "not CURVE");
    }
    //  Reply: version, request id, status code, status text, user id, metadata.
    if (n >= 2) {
        zmq_send(self->zap, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(self->zap, zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]), ZMQ_SNDMORE);
        zmq_send(self->zap, status, 3, ZMQ_SNDMORE);
        zmq_send(self->zap, text, strlen(text), ZMQ_SNDMORE);
        zmq_send(self->zap, user, strlen(user), ZMQ_SNDMORE);
        zmq_send(self->zap, "", 0, 0);
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&frames[i]);
}

//  The connection of a session closed (the agent left, or its network went):
//  the session ends now rather than after three silent heartbeats, and its
//  memory goes with it. Its unacknowledged pushes stay in the mailbox.
//  A descriptor is reused only after libzmq reported it closed, and ZAP
//  reads every monitor event before a new connection can send anything,
//  so the session found here is the one that had this connection.
static void s_peer_closed(broker_server_t *self, int fd)
{
    for (size_t i = 0; i < broker_peers_count(self->peers); i++) {
        broker_peer_t *p = broker_peers_at(self->peers, i);
        if (p->dead || p->fd != fd)
            continue;
        if (p->link) {
            broker_link_closed(self, p, "closed");
            continue;
        }
        proto_log_info("event=disconnected agency=%s reason=closed in_flight=%u", p->agency,
                       p->nflight);
        if (p->state == BROKER_PEER_READY)
            broker_batch_audit(self, BROKER_AUDIT_DISCONNECTED, p->agency, NULL, "closed", NULL);
        p->dead = true;
    }
}

//  Handshakes that never reach ZAP, seen only by the socket monitor: a peer
//  without CURVE fails the ZMTP mechanism check before any ZAP request, and
//  one that hangs up first (it saw our greeting and left; its reset can
//  take its own greeting with it) fails with no detail. Both are refusals,
//  unless the peer hung up only after waiting a long time: under a mass
//  connect an agent gives up on a handshake the broker was too busy to
//  finish, which is a timeout, logged and counted but not a refusal.
//  The monitor also reports every connection accepted and closed, which
//  is how conns.c keeps count of the descriptors in use.
static void s_monitor_event(broker_server_t *self, uint16_t id, uint32_t value, zmq_msg_t *address)
{
    uint64_t mono = broker_mono(), age = 0;
    broker_conns_verdict_t verdict = broker_conns_event(self->conns, id, value, mono, &age);
    char detail[96] = "";
    if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
        value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        snprintf(detail, sizeof detail, "not CURVE");
    else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        snprintf(detail, sizeof detail, "handshake failed: ZMTP protocol error 0x%x",
                 (unsigned) value);
    else if (verdict == BROKER_CONNS_REFUSED)
        snprintf(detail, sizeof detail,
                 "handshake failed before CURVE authentication (the peer hung up)");
    int len = (int) (zmq_msg_size(address) < 80 ? zmq_msg_size(address) : 80);
    if (detail[0]) {
        proto_log_warning("event=handshake_refused endpoint=\"%.*s\" reason=\"%s\"", len,
                          (const char *) zmq_msg_data(address), detail);
        s_refused(self, "", detail);
    } else if (verdict == BROKER_CONNS_TIMED_OUT) {
        self->handshake_timeouts++;
        proto_log_info("event=handshake_timeout endpoint=\"%.*s\" after_ms=%" PRIu64
                       " note=\"the peer gave up waiting; not a refusal\"",
                       len, (const char *) zmq_msg_data(address), age);
    }
    if (id == ZMQ_EVENT_DISCONNECTED)
        s_peer_closed(self, (int) value);
}

//  Take up to DRAIN_LIMIT monitor events; returns how many.
int broker_zap_monitor(broker_server_t *self)
{
    int taken = 0;
    for (; taken < DRAIN_LIMIT; taken++) {
        zmq_msg_t event, address;
        zmq_msg_init(&event);
        zmq_msg_init(&address);
        bool got = zmq_msg_recv(&event, self->monitor, ZMQ_DONTWAIT) >= 0;
        if (got && zmq_msg_more(&event) && zmq_msg_recv(&address, self->monitor, 0) >= 0 &&
            zmq_msg_size(&event) >= 6) {
            uint16_t id;
            uint32_t value;
            memcpy(&id, zmq_msg_data(&event), 2);
            memcpy(&value, (const uint8_t *) zmq_msg_data(&event) + 2, 4);
            s_monitor_event(self, id, value, &address);
        }
        zmq_msg_close(&event);
        zmq_msg_close(&address);
        if (!got)
            break;
    }
    return taken;
}
