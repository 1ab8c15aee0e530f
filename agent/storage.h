/*  agent/storage.h - whether the agent's store has room, as the DMS sees it.

    A write that fails for want of space (the disk or the LMDB map full:
    PROTO_ERR_STORE_FULL) puts the agent in the "store full" state: `health`
    shows it, and one `store` event says so, stored as soon as any commit
    succeeds (on a full disk the event itself may not fit at first). A
    commit that succeeds with space on the disk again ends the state, with
    a second `store` event.

    Does not: free space, retry what failed (the broker pushes deliveries
    again; the DMS retries its requests), or look at the disk periodically.
*/
#ifndef AGENT_STORAGE_H
#define AGENT_STORAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/err.h"

typedef struct agent agent_t;

typedef struct {
    bool full;      // a write failed for want of space and none succeeded since
    bool told;      // the `store` event saying so is durably stored
    bool queued;    // that event is in the open write transaction
    uint64_t since; // when it filled, ms since the epoch
    uint64_t retry; // not before then (monotonic): queue the event again after a failure
} agent_storage_t;

//  A commit failed with rc (the transaction is gone), or a write inside
//  the open transaction did (it stays open). Only PROTO_ERR_STORE_FULL
//  changes the state.
void agent_storage_failed(agent_t *self, proto_err_t rc);

//  A write transaction committed.
void agent_storage_committed(agent_t *self);

#endif
