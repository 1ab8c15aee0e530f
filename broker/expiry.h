/*  broker/expiry.h - deliveries that end without their recipient: expiry,
    returns, retention, and the clock guard they go by.

    Owns: waiting deliveries past their time to live (EXPIRED; hops to
    other brokers through hop.h, broker_hop_expire), everything
    waiting for a revoked agency (RETURNED), the broker-signed notices that
    tell the senders, purging documents past retention, and whether the
    wall clock may be trusted for any of it (broker/clockguard.h).

    Does not: run the timer (server.c) or commit (batch.c). Loop thread only.
*/
#ifndef BROKER_EXPIRY_H
#define BROKER_EXPIRY_H

#include "server_internal.h"

//  Deliveries past their time to live become EXPIRED. now is wall ms.
void broker_expiry_expire(broker_server_t *self, uint64_t now);

//  Broker-signed EXPIRED notices (events 5 and 6) for leaves[0..n-1], one
//  tree and one signature, each sender's items into its mailbox. Also for
//  a hop another broker refused (hop.c).
void broker_expiry_route_to_senders(broker_server_t *self, const proto_leaf_t *leaves, size_t n);

//  Everything waiting for a revoked agency goes back to its senders.
void broker_expiry_return(broker_server_t *self, const char *recipient);

//  Documents finished longer than `retention` ago lose their frames.
void broker_expiry_retire(broker_server_t *self, uint64_t now);

//  Whether expiry and retention may go by the wall clock now (wall and mono
//  in ms). A jump is logged loudly, again every minute while it holds, and
//  audited when it is found and when it ends.
bool broker_expiry_clock_in_step(broker_server_t *self, uint64_t wall, uint64_t mono);

//  The operator takes the wall clock as right (truc-admin clock confirm):
//  expiry resumes by it. Returns the jump that was held; *was_held says if
//  one was.
int64_t broker_expiry_clock_confirm(broker_server_t *self, bool *was_held);

//  The wall time of the newest audit entry (the last thing committed), or
//  0. Opens and ends its own read transaction.
uint64_t broker_expiry_last_commit(broker_server_t *self);

#endif
