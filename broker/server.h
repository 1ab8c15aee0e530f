/*  broker/server.h - the broker: one loop that owns all state.

    Binds the agents' ROUTER socket (CURVE server, ZAP against the agency
    directory), runs the verification workers, applies what they verified to
    the store in group commits, answers with signed batch receipts, pushes
    deliveries within each agent's window, and runs the timers (heartbeats,
    expiry). See broker/DESIGN.md.
*/
#ifndef BROKER_SERVER_H
#define BROKER_SERVER_H

#include "config.h"

typedef struct broker_server broker_server_t;

//  Load the identity and the directory, open and lock the store (checked
//  against its anchor, broker/anchor.h), bind the sockets and start the
//  workers. The config is borrowed and must outlive the server. Returns
//  NULL with the reason in errbuf: the broker refuses to start. *why (may
//  be NULL) is set when the store was refused: PROTO_ERR_STORE_DAMAGED or
//  PROTO_ERR_STORE_BEHIND need an operator, not a restart.
broker_server_t *broker_server_new(const broker_config_t *config, proto_err_t *why, char *errbuf,
                                   size_t errlen);

//  Run the loop until broker_server_signal asks it to stop. Returns 0 after
//  a clean stop (the open batch committed and answered).
int broker_server_run(broker_server_t *self);

//  Async-signal-safe: ask the loop to stop (SIGTERM, SIGINT) or to reload
//  the directory (SIGHUP). Writes one byte to a pipe the loop polls.
void broker_server_signal(broker_server_t *self, int signal_number);

void broker_server_destroy(broker_server_t **self_p);

#endif
