/*  proto/merkle.h - batch receipts: one signature for many documents.

    A signer (the broker after a group commit, a recipient acknowledging
    several deliveries) puts one leaf per event in a Merkle tree and signs
    only the tree head (signer, time, size, root). Each receipt then carries
    its leaf, its index and its audit path, and anyone holding the signer's
    public key can check it alone, offline:

        leaf hash  = BLAKE2b-256(0x00 || canonical leaf bytes)
        node hash  = BLAKE2b-256(0x01 || left || right)

    The tree shape, the audit path and its verification are those of
    RFC 9162 section 2.1 (Certificate Transparency), with BLAKE2b-256 in place
    of SHA-256: the root of n > 1 leaves is node(root of the first k, root of
    the rest) where k is the largest power of two below n.
*/
#ifndef PROTO_MERKLE_H
#define PROTO_MERKLE_H

#include "proto/identity.h"
#include "proto/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

void proto_merkle_leaf(const void *leaf_bytes, size_t len, uint8_t out[PROTO_HASH_LEN]);
void proto_merkle_node(const uint8_t left[PROTO_HASH_LEN], const uint8_t right[PROTO_HASH_LEN],
                       uint8_t out[PROTO_HASH_LEN]);

//  Leaf hash of a receipt leaf (canonical bytes, then proto_merkle_leaf).
proto_err_t proto_leaf_hash(const proto_leaf_t *leaf, uint8_t out[PROTO_HASH_LEN]) PROTO_MUST_CHECK;

//  A tree over n >= 1 leaf hashes, every level kept so that all n audit
//  paths cost O(n log n) in total.
typedef struct proto_tree proto_tree_t;

//  Build the tree; leaf hashes are copied. NULL if n is 0, n > 2^32 or
//  memory runs out.
proto_tree_t *proto_tree_new(const uint8_t (*leaves)[PROTO_HASH_LEN], size_t n);
void proto_tree_destroy(proto_tree_t **self_p);
const uint8_t *proto_tree_root(const proto_tree_t *self);
size_t proto_tree_size(const proto_tree_t *self);
//  Write the audit path of leaf index into path (room for PROTO_MAX_PATH
//  hashes) and return its length.
uint32_t proto_tree_path(const proto_tree_t *self, size_t index, uint8_t (*path)[PROTO_HASH_LEN]);

//  Check that leaf_hash at index in a tree of size leaves, with this audit
//  path, leads to root. PROTO_OK or PROTO_ERR_BAD_PROOF.
proto_err_t proto_merkle_verify(const uint8_t leaf_hash[PROTO_HASH_LEN], uint64_t index,
                                uint64_t size, const uint8_t (*path)[PROTO_HASH_LEN],
                                uint32_t npath,
                                const uint8_t root[PROTO_HASH_LEN]) PROTO_MUST_CHECK;

//  Check that an item's leaf leads to head->root by its path, and nothing
//  else: a bundle's head signature, shared by every item, is checked once
//  (proto_head_verify). PROTO_OK or PROTO_ERR_BAD_PROOF.
proto_err_t proto_item_verify(const proto_head_t *head, const proto_item_t *item) PROTO_MUST_CHECK;

//  Check one receipt completely: its leaf leads to head->root and head is
//  signed by pk. PROTO_OK, PROTO_ERR_BAD_PROOF or PROTO_ERR_BAD_SIGNATURE.
proto_err_t proto_receipt_verify(const proto_head_t *head, const uint8_t sig[PROTO_SIG_LEN],
                                 const proto_item_t *item,
                                 const uint8_t pk[PROTO_KEY_LEN]) PROTO_MUST_CHECK;

//  Build a signed bundle over n leaves: compute the tree, fill head (signer
//  = the identity's name, time, size, root), sign it, and give every item its
//  leaf copy, index and path. items must have room for n entries and paths
//  for n * PROTO_MAX_PATH hashes; item[i].path points into paths. Leaf
//  strings are borrowed from leaves.
proto_err_t proto_receipts_build(const proto_leaf_t *leaves, size_t n, const proto_identity_t *id,
                                 uint64_t time, proto_head_t *head, uint8_t sig[PROTO_SIG_LEN],
                                 proto_item_t *items,
                                 uint8_t (*paths)[PROTO_HASH_LEN]) PROTO_MUST_CHECK;

//  The same for a broker batch that becomes a leaf of its log
//  (proto/tlog.h): head->log = log, the log's size with this head appended,
//  is signed with the rest.
proto_err_t proto_receipts_build_logged(const proto_leaf_t *leaves, size_t n,
                                        const proto_identity_t *id, uint64_t time, uint64_t log,
                                        proto_head_t *head, uint8_t sig[PROTO_SIG_LEN],
                                        proto_item_t *items,
                                        uint8_t (*paths)[PROTO_HASH_LEN]) PROTO_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
