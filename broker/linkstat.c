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
    broker_linkstat_t *out;
    size_t n, max;
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

static bool s_queued(void *arg, const char *label, uint64_t queued)
{
    broker_linkstat_t *row = s_row(arg, label);
    if (row)
        row->waiting = queued;
    return true;
}

size_t broker_linkstats(broker_server_t *server, broker_linkstat_t *out, size_t max)
{
    s_stats_t st = { .out = out, .max = max };
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
        broker_store_hop_labels(server->store, s_queued, &st);
    uint64_t now = broker_now();
    for (size_t i = 0; reading && i < st.n; i++)
        if (out[i].waiting)
            out[i].oldest_age = broker_store_hop_oldest(server->store, out[i].label, now);
    if (reading && !broker_store_writing(server->store))
        broker_store_read_end(server->store);
    return st.n;
}
