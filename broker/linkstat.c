/*  broker/linkstat.c - what an operator sees of each link. See linkstat.h.
 */
#include "linkstat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"
#include "server_internal.h"
#include "store_fwd.h"

typedef struct {
    broker_server_t *server;
    broker_linkstat_t *out;
    size_t n, max;
    uint64_t now;
    char last_label[PROTO_LABEL_MAX + 1];
    int last_urgency;
} s_stats_t;

//  The row of label, added (in label order) if there is room.
static broker_linkstat_t *s_row(s_stats_t *st, const char *label)
{
    size_t at = 0;
    while (at < st->n && strcmp(st->out[at].label, label) < 0)
        at++;
    if (at < st->n && strcmp(st->out[at].label, label) == 0)
        return &st->out[at];
    if (st->n == st->max)
        return NULL;
    memmove(&st->out[at + 1], &st->out[at], (st->n - at) * sizeof *st->out);
    st->n++;
    broker_linkstat_t *row = &st->out[at];
    memset(row, 0, sizeof *row);
    snprintf(row->label, sizeof row->label, "%s", label);
    return row;
}

//  One queued hop: counted; the first of each (label, urgency) is the
//  oldest of that urgency, so its age is a candidate for the oldest.
static bool s_queued(void *arg, const char *label, uint8_t urgency, const proto_id_t *id)
{
    s_stats_t *st = arg;
    broker_linkstat_t *row = s_row(st, label);
    if (!row)
        return true;
    row->waiting++;
    if (strcmp(st->last_label, label) == 0 && st->last_urgency == urgency)
        return true;
    snprintf(st->last_label, sizeof st->last_label, "%s", label);
    st->last_urgency = urgency;
    broker_hop_t hop;
    if (broker_store_hop_get(st->server->store, label, id, &hop) == PROTO_OK &&
        hop.time < st->now && st->now - hop.time > row->oldest_age)
        row->oldest_age = st->now - hop.time;
    return true;
}

size_t broker_linkstats(broker_server_t *server, broker_linkstat_t *out, size_t max)
{
    s_stats_t st = {
        .server = server, .out = out, .max = max, .now = broker_now(), .last_urgency = -1
    };
    const char *label, *endpoint;
    uint64_t sessions;
    for (size_t i = 0; broker_links_at(server->links, i, &label, &endpoint, &sessions); i++) {
        broker_linkstat_t *row = s_row(&st, label);
        if (row)
            row->endpoint = endpoint, row->sessions = sessions;
    }
    for (size_t i = 0; i < broker_peers_count(server->peers); i++) {
        const broker_peer_t *p = broker_peers_at(server->peers, i);
        if (!p->link || p->dead || p->state != BROKER_PEER_READY)
            continue;
        broker_linkstat_t *row = s_row(&st, p->link_label);
        if (row)
            row->up = true, row->in_flight += p->nflight;
    }
    bool reading =
        broker_store_writing(server->store) || broker_store_read_begin(server->store) == PROTO_OK;
    if (reading)
        broker_store_hop_queues(server->store, s_queued, &st);
    if (reading && !broker_store_writing(server->store))
        broker_store_read_end(server->store);
    return st.n;
}
