/*  proto/tlog.h - the broker's transparency log: one append-only Merkle
    tree whose leaves are the broker's signed batch heads.

    Every group commit's receipts are signed under one batch head
    (proto/merkle.h); that head names its place in the log (`head.log`, the
    log's size once it is appended) and becomes the log's next leaf:

        leaf hash = BLAKE2b-256(0x00 || canonical head bytes, "truc/head/1")
        node hash = BLAKE2b-256(0x01 || left || right)

    The tree is RFC 9162 section 2.1's, with the hash truc uses for receipt
    batches. A signed tree head (STH: signer, time, size, root) commits the
    broker to every batch it ever acknowledged; a consistency proof
    (RFC 9162 section 2.1.4) shows that a later head extends an earlier one.
    Generation and verification live here so that the broker, the agents
    and third parties share one implementation.

    Proofs are built from complete subtrees read through a callback, so a
    store that keeps those nodes answers any proof in O(log n) reads; this
    module keeps no state of its own. It does not store the log (broker/
    tlog.c) nor decide what a failed proof means (agent/tlog.c).
*/
#ifndef PROTO_TLOG_H
#define PROTO_TLOG_H

#include "proto/identity.h"
#include "proto/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

//  The hash of the complete subtree at level (0 = a leaf hash) and index:
//  the tree over leaves index * 2^level .. (index + 1) * 2^level - 1.
//  Called only for subtrees that lie inside the log. PROTO_OK or the
//  caller's error, which the function calling it returns.
typedef proto_err_t(proto_tlog_node_fn)(void *arg, uint32_t level, uint64_t index,
                                        uint8_t out[PROTO_HASH_LEN]);

//  Leaf hash of a batch head: 0x00 || its canonical bytes (7.3).
proto_err_t proto_tlog_leaf_hash(const proto_head_t *head,
                                 uint8_t out[PROTO_HASH_LEN]) PROTO_MUST_CHECK;

//  The root of the first size leaves (size 0: BLAKE2b-256 of nothing, as
//  RFC 9162 defines the empty tree). O(log size) calls of node.
proto_err_t proto_tlog_root(uint64_t size, proto_tlog_node_fn *node, void *arg,
                            uint8_t root[PROTO_HASH_LEN]) PROTO_MUST_CHECK;

//  The consistency proof from size m to size n (m <= n <= log size) into
//  proof (room for PROTO_TLOG_MAX_PROOF hashes); *nproof gets its length,
//  0 when m is 0 or m = n. PROTO_ERR_INVALID_ARG if m > n or n is over
//  PROTO_TLOG_MAX_SIZE; otherwise node's error, if any.
proto_err_t proto_tlog_prove(uint64_t m, uint64_t n, proto_tlog_node_fn *node, void *arg,
                             uint8_t (*proof)[PROTO_HASH_LEN], uint32_t *nproof) PROTO_MUST_CHECK;

//  Check that the log of size n and root root_n extends the log of size m
//  and root root_m, with this proof (RFC 9162 section 2.1.4.2; m = 0 and
//  m = n take an empty proof, and m = n equal roots). PROTO_OK or
//  PROTO_ERR_BAD_PROOF.
proto_err_t proto_tlog_verify(uint64_t m, const uint8_t root_m[PROTO_HASH_LEN], uint64_t n,
                              const uint8_t root_n[PROTO_HASH_LEN],
                              const uint8_t (*proof)[PROTO_HASH_LEN],
                              uint32_t nproof) PROTO_MUST_CHECK;

//  A node callback over leaf hashes held in memory (tests, tools): arg is
//  a proto_tlog_mem_t. O(2^level) per call, so meant for small logs.
typedef struct {
    const uint8_t (*leaves)[PROTO_HASH_LEN];
    uint64_t n;
} proto_tlog_mem_t;
proto_err_t proto_tlog_mem_node(void *arg, uint32_t level, uint64_t index,
                                uint8_t out[PROTO_HASH_LEN]);

//  Canonical signing bytes of a tree head (sig is not part of them).
proto_err_t proto_sth_canonical(const proto_sth_t *sth, proto_buf_t *buf) PROTO_MUST_CHECK;
//  Sign sth in place (sth->sig) with the broker identity named sth->signer.
proto_err_t proto_sth_sign(proto_sth_t *sth, const proto_identity_t *id) PROTO_MUST_CHECK;
//  PROTO_OK or PROTO_ERR_BAD_SIGNATURE.
proto_err_t proto_sth_verify(const proto_sth_t *sth,
                             const uint8_t pk[PROTO_KEY_LEN]) PROTO_MUST_CHECK;

//  Whether two tree heads, both validly signed by the same broker, cannot
//  both be true of one append-only log: the same size with different
//  roots, or a later head (by time) smaller than an earlier one. A head
//  that only extends another is not a contradiction (a proof decides).
bool proto_sth_contradict(const proto_sth_t *a, const proto_sth_t *b);

#ifdef __cplusplus
}
#endif
#endif
