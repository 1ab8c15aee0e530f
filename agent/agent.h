/*  agent/agent.h - truc-agent: one agency's durable gateway to the broker.

    One loop owns everything: the DEALER session to the broker (CURVE with
    the broker's key pinned), the local API (agent/API.md), the events
    publisher and the LMDB store holding the outbox, the inbox, receipts and
    events. Nothing is acknowledged - to the DMS or to the broker - before
    the transaction holding it is durably committed.
*/
#ifndef AGENT_AGENT_H
#define AGENT_AGENT_H

#include "config.h"

typedef struct agent agent_t;

//  Load the identity and the broker's public file, open and lock the store,
//  bind the API and events sockets and start connecting. The config is
//  borrowed. NULL with the reason in errbuf: the agent refuses to start.
agent_t *agent_new(const agent_config_t *config, char *errbuf, size_t errlen);

//  Run until agent_signal asks it to stop. Returns 0 after a clean stop, 1
//  if the loop failed (out of memory, zmq_poll failing; logged).
int agent_run(agent_t *self);

//  Async-signal-safe stop request (SIGTERM, SIGINT).
void agent_signal(agent_t *self, int signal_number);

void agent_destroy(agent_t **self_p);

#endif
