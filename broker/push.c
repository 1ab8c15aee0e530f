/*  broker/push.c - pushing deliveries within each session's window.
    See push.h.
*/
#include "push.h"

#include <stdlib.h>
#include <string.h>

#include "proto/log.h"
#include "proto/route.h"

#include "deliver_body.h"
#include "hop.h"
#include "session.h"
#include "store_fwd.h"

//  One pass over the peer's mailbox, then its queue, each in order, sending
//  what is not in flight until the window is full or the peer's queue is.
typedef struct {
    broker_server_t *self;
    broker_peer_t *peer;
    bool stop;
    bool routes;         // the peer asked for routes and this broker has links
    broker_fwd_in_t *in; // what a document from a link came with (allocated on first use)
    proto_buf_t routed;  // its DELIVER body with the route
} s_pick_t;

//  The DELIVER body of document id with its route, into pick->routed, if
//  it came over a link. False when it did not (or the route cannot be
//  read): the stored body goes as it is.
static bool s_routed(s_pick_t *pick, const proto_id_t *id, const void *stored, size_t len)
{
    if (!pick->in && !(pick->in = malloc(sizeof *pick->in)))
        return false;
    return broker_store_fwd_in_get(pick->self->store, id, pick->in) == PROTO_OK &&
           pick->in->ntrace >= 2 &&
           broker_deliver_body_route(stored, len, pick->in->trace, pick->in->ntrace,
                                     &pick->routed) == PROTO_OK;
}

static bool s_pick_mbox(void *arg, uint64_t mid, uint8_t kind, const void *body, size_t len)
{
    s_pick_t *pick = arg;
    broker_peer_t *p = pick->peer;
    if (p->nflight >= p->window) {
        pick->stop = true;
        return false;
    }
    if (broker_flight_has(p, true, mid, NULL))
        return true;
    if (!broker_session_send(pick->self, p, (proto_kind_t) kind, body, len, NULL, NULL, 0)) {
        pick->stop = true;
        return false;
    }
    broker_flight_add(p, true, mid, NULL);
    return true;
}

static bool s_pick_queue(void *arg, const proto_id_t *id)
{
    s_pick_t *pick = arg;
    broker_peer_t *p = pick->peer;
    if (p->nflight >= p->window)
        return false;
    if (broker_flight_has(p, false, 0, id))
        return true;
    const void *frames[BROKER_MAX_FRAMES];
    size_t lens[BROKER_MAX_FRAMES], count = 0;
    if (broker_store_frames_get(pick->self->store, id, frames, lens, BROKER_MAX_FRAMES, &count) !=
            PROTO_OK ||
        count < 1) {
        char id_text[PROTO_ID_TEXT_LEN];
        proto_id_format(id, id_text);
        proto_log_error("event=frames_missing doc=%s recipient=%s", id_text, p->agency);
        return false;
    }
    const void *body = frames[0];
    size_t body_len = lens[0];
    if (pick->routes && s_routed(pick, id, frames[0], lens[0]))
        body = pick->routed.data, body_len = pick->routed.len;
    if (!broker_session_send(pick->self, p, PROTO_KIND_DELIVER, body, body_len, frames + 1,
                             lens + 1, count - 1))
        return false;
    broker_flight_add(p, false, 0, id);
    return true;
}

static void s_push(broker_server_t *self, broker_peer_t *p)
{
    if (p->link)
        return broker_hop_push(self, p); // a link is pushed its hop queue (hop.c)
    s_pick_t pick = { .self = self,
                      .peer = p,
                      .routes = p->route && proto_directory_broker_count(self->directory) > 0 };
    proto_buf_init(&pick.routed);
    broker_store_mbox_scan(self->store, p->agency, s_pick_mbox, &pick);
    if (!pick.stop)
        broker_store_queue_scan(self->store, p->agency, s_pick_queue, &pick);
    proto_buf_free(&pick.routed);
    free(pick.in);
}

void broker_push_all(broker_server_t *self)
{
    if (broker_store_writing(self->store))
        return; // pushes read committed data only
    bool any = false;
    for (size_t i = 0; i < broker_peers_count(self->peers) && !any; i++) {
        const broker_peer_t *p = broker_peers_at(self->peers, i);
        any = p->dirty && p->state == BROKER_PEER_READY && !p->dead;
    }
    if (!any || broker_store_read_begin(self->store) != PROTO_OK)
        return;
    for (size_t i = 0; i < broker_peers_count(self->peers); i++) {
        broker_peer_t *p = broker_peers_at(self->peers, i);
        if (p->dirty && p->state == BROKER_PEER_READY && !p->dead) {
            p->dirty = false;
            s_push(self, p);
        }
    }
    broker_store_read_end(self->store);
}
