/*  merkle.c - RFC 9162 Merkle trees over BLAKE2b-256, and receipt bundles.

    The tree is built bottom-up: each level pairs neighbours and carries a
    lone last node up unchanged. That gives exactly the RFC 9162 shape (split
    at the largest power of two), and keeping every level makes the audit
    path of any leaf a walk of log n sibling lookups.
*/
#include "proto/merkle.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "proto/sign.h"

void proto_merkle_leaf(const void *leaf_bytes, size_t len, uint8_t out[PROTO_HASH_LEN])
{
    static const uint8_t prefix = 0x00;
    crypto_generichash_state state;
    crypto_generichash_init(&state, NULL, 0, PROTO_HASH_LEN);
    crypto_generichash_update(&state, &prefix, 1);
    crypto_generichash_update(&state, leaf_bytes, len);
    crypto_generichash_final(&state, out, PROTO_HASH_LEN);
}

void proto_merkle_node(const uint8_t left[PROTO_HASH_LEN], const uint8_t right[PROTO_HASH_LEN],
                       uint8_t out[PROTO_HASH_LEN])
{
    uint8_t input[1 + 2 * PROTO_HASH_LEN];
    input[0] = 0x01;
    memcpy(input + 1, left, PROTO_HASH_LEN);
    memcpy(input + 1 + PROTO_HASH_LEN, right, PROTO_HASH_LEN);
    crypto_generichash(out, PROTO_HASH_LEN, input, sizeof input, NULL, 0);
}

proto_err_t proto_leaf_hash(const proto_leaf_t *leaf, uint8_t out[PROTO_HASH_LEN])
{
    proto_buf_t buf;
    proto_buf_init(&buf);
    proto_err_t rc = proto_leaf_canonical(leaf, &buf);
    if (!rc)
        proto_merkle_leaf(buf.data, buf.len, out);
    proto_buf_free(&buf);
    return rc;
}

struct proto_tree {
    size_t size;      // leaves
    uint32_t nlevels; // levels[0] = leaves, levels[nlevels-1] = root
    uint8_t (*levels[PROTO_MAX_PATH + 1])[PROTO_HASH_LEN];
    size_t widths[PROTO_MAX_PATH + 1];
};

proto_tree_t *proto_tree_new(const uint8_t (*leaves)[PROTO_HASH_LEN], size_t n)
{
    if (n == 0 || n > ((size_t) 1 << 32))
        return NULL;
    proto_tree_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->size = n;
    size_t width = n;
    for (uint32_t level = 0;; level++) {
        self->levels[level] = malloc(width * PROTO_HASH_LEN);
        if (!self->levels[level]) {
            self->nlevels = level;
            proto_tree_destroy(&self);
            return NULL;
        }
        self->widths[level] = width;
        if (level == 0) {
            memcpy(self->levels[0], leaves, n * PROTO_HASH_LEN);
        } else {
            uint8_t(*below)[PROTO_HASH_LEN] = self->levels[level - 1];
            size_t below_width = self->widths[level - 1];
            for (size_t i = 0; i < width; i++) {
                if (2 * i + 1 < below_width)
                    proto_merkle_node(below[2 * i], below[2 * i + 1], self->levels[level][i]);
                else
                    memcpy(self->levels[level][i], below[2 * i], PROTO_HASH_LEN);
            }
        }
        if (width == 1) {
            self->nlevels = level + 1;
            break;
        }
        width = (width + 1) / 2;
    }
    return self;
}

void proto_tree_destroy(proto_tree_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (uint32_t i = 0; i < (*self_p)->nlevels; i++)
        free((*self_p)->levels[i]);
    free(*self_p);
    *self_p = NULL;
}

const uint8_t *proto_tree_root(const proto_tree_t *self)
{
    return self->levels[self->nlevels - 1][0];
}

size_t proto_tree_size(const proto_tree_t *self)
{
    return self->size;
}

uint32_t proto_tree_path(const proto_tree_t *self, size_t index, uint8_t (*path)[PROTO_HASH_LEN])
{
    uint32_t n = 0;
    for (uint32_t level = 0; level + 1 < self->nlevels; level++) {
        size_t sibling = index ^ 1;
        //  A lone last node has no sibling at this level: it moves up as is.
        if (sibling < self->widths[level])
            memcpy(path[n++], self->levels[level][sibling], PROTO_HASH_LEN);
        index >>= 1;
    }
    return n;
}

proto_err_t proto_merkle_verify(const uint8_t leaf_hash[PROTO_HASH_LEN], uint64_t index,
                                uint64_t size, const uint8_t (*path)[PROTO_HASH_LEN],
                                uint32_t npath, const uint8_t root[PROTO_HASH_LEN])
{
    //  RFC 9162 section 2.1.3.2, step by step.
    if (index >= size)
        return PROTO_ERR_BAD_PROOF;
    uint64_t fn = index, sn = size - 1;
    uint8_t r[PROTO_HASH_LEN];
    memcpy(r, leaf_hash, PROTO_HASH_LEN);
    for (uint32_t i = 0; i < npath; i++) {
        if (sn == 0)
            return PROTO_ERR_BAD_PROOF;
        if ((fn & 1) || fn == sn) {
            proto_merkle_node(path[i], r, r);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            proto_merkle_node(r, path[i], r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || sodium_memcmp(r, root, PROTO_HASH_LEN) != 0)
        return PROTO_ERR_BAD_PROOF;
    return PROTO_OK;
}

proto_err_t proto_item_verify(const proto_head_t *head, const proto_item_t *item)
{
    uint8_t leaf[PROTO_HASH_LEN];
    proto_err_t rc = proto_leaf_hash(&item->leaf, leaf);
    if (!rc)
        rc = proto_merkle_verify(leaf, item->index, head->size,
                                 (const uint8_t(*)[PROTO_HASH_LEN]) item->path, item->npath,
                                 head->root);
    return rc;
}

proto_err_t proto_receipt_verify(const proto_head_t *head, const uint8_t sig[PROTO_SIG_LEN],
                                 const proto_item_t *item, const uint8_t pk[PROTO_KEY_LEN])
{
    proto_err_t rc = proto_item_verify(head, item);
    if (!rc)
        rc = proto_head_verify(head, pk, sig);
    return rc;
}

proto_err_t proto_receipts_build(const proto_leaf_t *leaves, size_t n, const proto_identity_t *id,
                                 uint64_t time, proto_head_t *head, uint8_t sig[PROTO_SIG_LEN],
                                 proto_item_t *items, uint8_t (*paths)[PROTO_HASH_LEN])
{
    return proto_receipts_build_logged(leaves, n, id, time, 0, head, sig, items, paths);
}

proto_err_t proto_receipts_build_logged(const proto_leaf_t *leaves, size_t n,
                                        const proto_identity_t *id, uint64_t time, uint64_t log,
                                        proto_head_t *head, uint8_t sig[PROTO_SIG_LEN],
                                        proto_item_t *items, uint8_t (*paths)[PROTO_HASH_LEN])
{
    if (!leaves || n == 0 || !id)
        return PROTO_ERR_INVALID_ARG;
    uint8_t(*hashes)[PROTO_HASH_LEN] = malloc(n * PROTO_HASH_LEN);
    if (!hashes)
        return PROTO_ERR_NOMEM;
    proto_err_t rc = PROTO_OK;
    for (size_t i = 0; i < n && !rc; i++)
        rc = proto_leaf_hash(&leaves[i], hashes[i]);
    proto_tree_t *tree = rc ? NULL : proto_tree_new((const uint8_t(*)[PROTO_HASH_LEN]) hashes, n);
    free(hashes);
    if (rc)
        return rc;
    if (!tree)
        return PROTO_ERR_NOMEM;
    head->signer = proto_identity_public(id)->name;
    head->time = time;
    head->size = n;
    head->log = log;
    memcpy(head->root, proto_tree_root(tree), PROTO_HASH_LEN);
    for (size_t i = 0; i < n; i++) {
        items[i].leaf = leaves[i];
        items[i].index = i;
        items[i].path = paths + i * PROTO_MAX_PATH;
        items[i].npath = proto_tree_path(tree, i, items[i].path);
    }
    proto_tree_destroy(&tree);
    return proto_head_sign(head, id, sig);
}
