/*  broker/tlog.h - the broker's transparency log: storage and heads.

    Every group commit's signed batch head becomes the next leaf of one
    append-only log (proto/tlog.h, PROTOCOL.md section 18), written in the
    same LMDB write transaction as the batch it commits to. The store keeps
    the leaves (head bytes and signature), the hash of every complete
    subtree above them and the root at every size, so a root is one read
    and a consistency proof O(log n) reads, whatever the log's length.

    broker_tlog_t is the loop's view of it: the size as last durably
    committed (only that is ever shown, never a leaf of an open
    transaction) and the last head signed, reused until the log grows.

    Does not: decide what goes into a batch (batch.c), or check another
    broker's log (linklog.c does).
*/
#ifndef BROKER_TLOG_H
#define BROKER_TLOG_H

#include <stdint.h>

#include "proto/identity.h"
#include "proto/msg.h"
#include "store.h"

// ---------------------------------------------------------------------------
//  The table, in the open transaction (read or write)

//  Leaves in the log as the open transaction sees it (0 for a store
//  written before the log existed).
uint64_t broker_tlog_size(broker_store_t *store);

//  Append head (with sig, its batch's signature) as the next leaf, in the
//  open write transaction. head->log must be broker_tlog_size() + 1:
//  PROTO_ERR_INVALID_ARG otherwise; store errors as they come.
proto_err_t broker_tlog_append(broker_store_t *store, const proto_head_t *head,
                               const uint8_t sig[PROTO_SIG_LEN]) PROTO_MUST_CHECK;

//  The root recorded when the log reached size (size 0: the empty log's).
//  PROTO_ERR_NOT_FOUND past the end.
proto_err_t broker_tlog_root(broker_store_t *store, uint64_t size,
                             uint8_t root[PROTO_HASH_LEN]) PROTO_MUST_CHECK;

//  The consistency proof from m to n (m <= n <= size), built from the
//  stored subtrees (proto_tlog_prove). PROTO_ERR_NOT_FOUND past the end,
//  PROTO_ERR_STORE_DAMAGED for a record of the wrong shape.
proto_err_t broker_tlog_prove(broker_store_t *store, uint64_t m, uint64_t n,
                              uint8_t (*proof)[PROTO_HASH_LEN], uint32_t *nproof) PROTO_MUST_CHECK;

// ---------------------------------------------------------------------------
//  The loop's view: committed size and signed heads

typedef struct broker_tlog broker_tlog_t;

//  The view of store's log, signing heads with id (a broker identity);
//  both borrowed and must outlive it. Reads the committed size at once.
//  NULL if out of memory.
broker_tlog_t *broker_tlog_new(broker_store_t *store, const proto_identity_t *id);
void broker_tlog_destroy(broker_tlog_t **self_p);

//  After a durable commit that appended the leaf making the log size long.
void broker_tlog_committed(broker_tlog_t *self, uint64_t size);
//  The durably committed size.
uint64_t broker_tlog_committed_size(const broker_tlog_t *self);
//  The size the next batch will name as its head's log: the one after the
//  leaves of the open write transaction.
uint64_t broker_tlog_next(broker_tlog_t *self);

//  The current signed tree head of the committed log; signed at time now
//  the first time each size is asked for. Opens a read transaction if
//  none is open. Strings point into self (valid until the next call).
proto_err_t broker_tlog_head(broker_tlog_t *self, uint64_t now, proto_sth_t *out) PROTO_MUST_CHECK;

//  The LOG_PROOF answer to a LOG_PROVE from size from: the current head,
//  and the proof from from (room for PROTO_TLOG_MAX_PROOF hashes) when the
//  log is at least that large; otherwise out->from is 0 and there is no
//  proof (the asker sees that the log shrank).
proto_err_t broker_tlog_answer(broker_tlog_t *self, uint64_t from, uint64_t now,
                               proto_log_proof_t *out,
                               uint8_t (*proof)[PROTO_HASH_LEN]) PROTO_MUST_CHECK;

#endif
