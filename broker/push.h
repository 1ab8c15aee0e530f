/*  broker/push.h - pushing deliveries to the sessions that may take them.

    Owns: the walk over each dirty READY session's mailbox, then its queue,
    each in order, sending what is not in flight until the window or the
    peer's queue is full.

    Does not: decide what is due to whom (the store's queues do) or handle
    the answers (session.c, apply.c). Loop thread only.
*/
#ifndef BROKER_PUSH_H
#define BROKER_PUSH_H

#include "server_internal.h"

//  Push to every dirty READY session, in one read transaction. Nothing
//  while a write transaction is open: pushes read committed data only.
void broker_push_all(broker_server_t *self);

#endif
