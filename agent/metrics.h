/*  agent/metrics.h - the agent's Prometheus metrics and its health and
    readiness, served on metrics.listen (proto/metrics_http.h).

    Owns: rendering every truc_agent_* family from the agent's state and
    store, and the HTTP endpoint. Rendering runs on the loop thread once a
    period (PROTO_METRICS_HTTP_PERIOD_MS: a timer marks it due, the turn
    handler renders after its commit); libmicrohttpd's thread
    only copies the last text out, so it never touches the agent, and a
    scrape sees figures at most one period old. Each render reads table
    sizes and one key (the oldest unsent document), never a walk. Names and
    meanings: deploy/OPERATIONS.md, "Monitoring".
*/
#ifndef AGENT_METRICS_H
#define AGENT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "agent.h"

typedef struct agent_metrics agent_metrics_t;

//  Check and bind the agent's config->metrics_listen and start serving.
//  The agent is borrowed and must outlive it. NULL with the reason in
//  errbuf.
agent_metrics_t *agent_metrics_new(agent_t *agent, char *errbuf, size_t errlen);

//  Stop serving and free; set *self_p to NULL. Safe on NULL.
void agent_metrics_destroy(agent_metrics_t **self_p);

//  The timer: a publication is due; agent_metrics_turn, called by the turn
//  handler after its commit, publishes it, so the figures are committed
//  state, never a transaction still open.
void agent_metrics_due(agent_metrics_t *self);
void agent_metrics_turn(agent_metrics_t *self);

#endif
