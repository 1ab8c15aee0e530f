/*  broker/metrics.h - the broker's Prometheus metrics and its health and
    readiness, served on metrics.listen (proto/metrics_http.h).

    Owns: the figures the loop's modules count only for metrics (stats
    below: rejections by code, bytes, expiries and returns, the commit
    histogram, the last audit verification), the rendering of every
    truc_broker_* family from the server's state, and the HTTP endpoint.

    Threads: rendering runs on the loop thread once a period
    (PROTO_METRICS_HTTP_PERIOD_MS: a repeating timer marks it due, the turn
    handler renders after its commit); the HTTP thread only copies the last
    text out (proto/metrics_http.h). So the loop never waits for a scraper,
    and a scrape sees figures at most one period old. The waiting figures
    come from the store's counts (store_waiting.c): one render costs
    O(agencies), not O(backlog). The names, their meaning and the alerts
    built on them are in deploy/OPERATIONS.md ("Monitoring").
*/
#ifndef BROKER_METRICS_H
#define BROKER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/metrics.h"
#include "server.h"

#define BROKER_STATS_CODES 32 // distinct rejection codes counted apart; more share code 0

//  Counted by the loop's modules as things happen; plain values in the
//  server's state.
typedef struct {
    uint64_t accepted_bytes;    // bytes of accepted documents (batch.c, after the commit)
    uint64_t batch_bytes;       // of the open batch's documents (apply.c)
    uint64_t expired, returned; // deliveries ended so (expiry.c)
    uint32_t reject_code[BROKER_STATS_CODES];
    uint64_t reject_count[BROKER_STATS_CODES];
    proto_histogram_t commit; // durable commit durations, seconds (batch.c)
    bool commit_failing;      // the last commit failed
    int audit_intact;         // last `truc-admin audit verify`: 1 intact, 0 broken, -1 none
    uint64_t audit_checked;   // its wall time, ms
} broker_stats_t;

void broker_stats_init(broker_stats_t *stats);
//  One REJECTED receipt sent with code.
void broker_stats_rejected(broker_stats_t *stats, uint32_t code);

typedef struct broker_metrics broker_metrics_t;

//  Bind server's config->metrics_listen and start serving. The server is
//  borrowed and must outlive it. NULL with the reason in errbuf.
broker_metrics_t *broker_metrics_new(broker_server_t *server, char *errbuf, size_t errlen);

//  Stop serving and free; set *self_p to NULL. Safe on NULL.
void broker_metrics_destroy(broker_metrics_t **self_p);

//  The timer: a publication is due. The loop's turn handler then calls
//  broker_metrics_turn after its commit, which publishes once no batch is
//  open: the figures are the committed state (a document counted as
//  waiting is also counted as accepted), never a batch still in flight.
void broker_metrics_due(broker_metrics_t *self);
void broker_metrics_turn(broker_metrics_t *self);

//  The port bound (for a listen address with port 0).
uint16_t broker_metrics_port(const broker_metrics_t *self);

#endif
