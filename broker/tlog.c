/*  broker/tlog.c - the transparency log in the broker's store. See tlog.h.

    One table, "tlog", four kinds of record, each key led by a tag byte so
    that each kind sorts by number (big-endian):

        'S'                        size, 8 bytes little-endian
        'L' index(8)               a leaf: signature (64) then the batch
                                   head's canonical bytes (7.3)
        'N' level(1) index(8)      hash of the complete subtree at level
                                   >= 1 over leaves index*2^level onwards
        'R' size(8)                the root when the log reached size

    A leaf's hash is computed from its record whenever it is needed, so a
    record changed behind the broker's back changes every proof that
    passes through that leaf, and no longer matches the roots recorded
    when it was appended. Interior nodes are written once, when the
    subtree they cover fills up, and never change: the log only grows.
*/
#include "tlog.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "proto/log.h"
#include "proto/merkle.h"
#include "proto/sign.h"
#include "proto/tlog.h"
#include "store_internal.h"

#define TAG_SIZE 'S'
#define TAG_LEAF 'L'
#define TAG_NODE 'N'
#define TAG_ROOT 'R'

// ---------------------------------------------------------------------------
//  Records

static void s_key(uint8_t *key, uint8_t tag, uint64_t number)
{
    key[0] = tag;
    broker_store_put64be(key + 1, number);
}

uint64_t broker_tlog_size(broker_store_t *store)
{
    uint8_t key = TAG_SIZE;
    broker_store_val_t v;
    if (broker_store_kv_get(store, DB_TLOG, &key, 1, &v) != PROTO_OK || v.mv_size != 8)
        return 0;
    return broker_store_get64le(v.mv_data);
}

static proto_err_t s_leaf_hash(broker_store_t *store, uint64_t index, uint8_t out[PROTO_HASH_LEN])
{
    uint8_t key[9];
    s_key(key, TAG_LEAF, index);
    broker_store_val_t v;
    proto_err_t rc = broker_store_kv_get(store, DB_TLOG, key, sizeof key, &v);
    if (rc)
        return rc;
    if (v.mv_size <= PROTO_SIG_LEN)
        return PROTO_ERR_STORE_DAMAGED;
    proto_merkle_leaf((const uint8_t *) v.mv_data + PROTO_SIG_LEN, v.mv_size - PROTO_SIG_LEN, out);
    return PROTO_OK;
}

//  proto_tlog_node_fn over the store: arg is the store.
static proto_err_t s_node(void *arg, uint32_t level, uint64_t index, uint8_t out[PROTO_HASH_LEN])
{
    broker_store_t *store = arg;
    if (level == 0)
        return s_leaf_hash(store, index, out);
    uint8_t key[10];
    key[0] = TAG_NODE;
    key[1] = (uint8_t) level;
    broker_store_put64be(key + 2, index);
    broker_store_val_t v;
    proto_err_t rc = broker_store_kv_get(store, DB_TLOG, key, sizeof key, &v);
    if (rc)
        return rc;
    if (v.mv_size != PROTO_HASH_LEN)
        return PROTO_ERR_STORE_DAMAGED;
    memcpy(out, v.mv_data, PROTO_HASH_LEN);
    return PROTO_OK;
}

proto_err_t broker_tlog_append(broker_store_t *store, const proto_head_t *head,
                               const uint8_t sig[PROTO_SIG_LEN])
{
    uint64_t index = broker_tlog_size(store);
    if (head->log != index + 1 || index >= PROTO_TLOG_MAX_SIZE)
        return PROTO_ERR_INVALID_ARG;
    proto_buf_t buf;
    proto_buf_init(&buf);
    proto_err_t rc = proto_buf_append(&buf, sig, PROTO_SIG_LEN);
    if (!rc) {
        proto_buf_t canonical;
        proto_buf_init(&canonical);
        rc = proto_head_canonical(head, &canonical);
        if (!rc)
            rc = proto_buf_append(&buf, canonical.data, canonical.len);
        proto_buf_free(&canonical);
    }
    uint8_t key[10];
    s_key(key, TAG_LEAF, index);
    if (!rc)
        rc = broker_store_kv_put(store, DB_TLOG, key, 9, buf.data, buf.len);
    //  Every subtree this leaf completes: level L ends here when the
    //  L low bits of index + 1 are zero. Its right half is the hash just
    //  made; its left half is read back.
    uint8_t hash[PROTO_HASH_LEN];
    if (!rc)
        proto_merkle_leaf(buf.data + PROTO_SIG_LEN, buf.len - PROTO_SIG_LEN, hash);
    for (uint32_t level = 1; !rc && level < 64 && ((index + 1) & ((1ull << level) - 1)) == 0;
         level++) {
        uint64_t node = ((index + 1) >> level) - 1;
        uint8_t left[PROTO_HASH_LEN];
        rc = s_node(store, level - 1, 2 * node, left);
        if (!rc) {
            proto_merkle_node(left, hash, hash);
            key[0] = TAG_NODE;
            key[1] = (uint8_t) level;
            broker_store_put64be(key + 2, node);
            rc = broker_store_kv_put(store, DB_TLOG, key, 10, hash, PROTO_HASH_LEN);
        }
    }
    uint8_t root[PROTO_HASH_LEN], size[8];
    if (!rc)
        rc = proto_tlog_root(index + 1, s_node, store, root);
    if (!rc) {
        s_key(key, TAG_ROOT, index + 1);
        rc = broker_store_kv_put(store, DB_TLOG, key, 9, root, PROTO_HASH_LEN);
    }
    if (!rc) {
        uint8_t tag = TAG_SIZE;
        broker_store_put64le(size, index + 1);
        rc = broker_store_kv_put(store, DB_TLOG, &tag, 1, size, sizeof size);
    }
    proto_buf_free(&buf);
    return rc;
}

proto_err_t broker_tlog_root(broker_store_t *store, uint64_t size, uint8_t root[PROTO_HASH_LEN])
{
    if (size == 0) {
        crypto_generichash(root, PROTO_HASH_LEN, NULL, 0, NULL, 0);
        return PROTO_OK;
    }
    uint8_t key[9];
    s_key(key, TAG_ROOT, size);
    broker_store_val_t v;
    proto_err_t rc = broker_store_kv_get(store, DB_TLOG, key, sizeof key, &v);
    if (rc)
        return rc;
    if (v.mv_size != PROTO_HASH_LEN)
        return PROTO_ERR_STORE_DAMAGED;
    memcpy(root, v.mv_data, PROTO_HASH_LEN);
    return PROTO_OK;
}

proto_err_t broker_tlog_prove(broker_store_t *store, uint64_t m, uint64_t n,
                              uint8_t (*proof)[PROTO_HASH_LEN], uint32_t *nproof)
{
    *nproof = 0;
    if (m > n)
        return PROTO_ERR_INVALID_ARG;
    if (n > broker_tlog_size(store))
        return PROTO_ERR_NOT_FOUND;
    return proto_tlog_prove(m, n, s_node, store, proof, nproof);
}

// ---------------------------------------------------------------------------
//  The loop's view

struct broker_tlog {
    broker_store_t *store;      // borrowed
    const proto_identity_t *id; // borrowed: signs the heads
    uint64_t committed;         // durably committed size
    bool have_head;             // head below is signed and current for its size
    proto_sth_t head;           // the last head signed
    char signer[PROTO_LABEL_MAX + 1];
};

broker_tlog_t *broker_tlog_new(broker_store_t *store, const proto_identity_t *id)
{
    broker_tlog_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    self->id = id;
    bool own = !broker_store_writing(store) && broker_store_read_begin(store) == PROTO_OK;
    self->committed = broker_tlog_size(store);
    if (own)
        broker_store_read_end(store);
    snprintf(self->signer, sizeof self->signer, "%s", proto_identity_public(id)->name);
    return self;
}

void broker_tlog_destroy(broker_tlog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

void broker_tlog_committed(broker_tlog_t *self, uint64_t size)
{
    if (size > self->committed)
        self->committed = size;
}

uint64_t broker_tlog_committed_size(const broker_tlog_t *self)
{
    return self->committed;
}

uint64_t broker_tlog_next(broker_tlog_t *self)
{
    return broker_tlog_size(self->store) + 1;
}

proto_err_t broker_tlog_head(broker_tlog_t *self, uint64_t now, proto_sth_t *out)
{
    if (self->have_head && self->head.size == self->committed) {
        *out = self->head;
        return PROTO_OK;
    }
    bool own =
        !broker_store_writing(self->store) && broker_store_read_begin(self->store) == PROTO_OK;
    proto_sth_t sth = { .signer = self->signer, .time = now, .size = self->committed };
    proto_err_t rc = broker_tlog_root(self->store, sth.size, sth.root);
    if (own)
        broker_store_read_end(self->store);
    if (!rc)
        rc = proto_sth_sign(&sth, self->id);
    if (rc) {
        proto_log_error("event=log_head_failed size=%llu error=%s", (unsigned long long) sth.size,
                        proto_errname(rc));
        return rc;
    }
    self->head = sth;
    self->have_head = true;
    *out = sth;
    return PROTO_OK;
}

proto_err_t broker_tlog_answer(broker_tlog_t *self, uint64_t from, uint64_t now,
                               proto_log_proof_t *out, uint8_t (*proof)[PROTO_HASH_LEN])
{
    memset(out, 0, sizeof *out);
    proto_err_t rc = broker_tlog_head(self, now, &out->sth);
    if (rc || from > out->sth.size || from == 0 || from == out->sth.size) {
        out->from = rc || from > out->sth.size ? 0 : from;
        return rc;
    }
    bool own =
        !broker_store_writing(self->store) && broker_store_read_begin(self->store) == PROTO_OK;
    rc = proto_tlog_prove(from, out->sth.size, s_node, self->store, proof, &out->nproof);
    if (own)
        broker_store_read_end(self->store);
    if (rc) {
        proto_log_error("event=log_proof_failed from=%llu size=%llu error=%s",
                        (unsigned long long) from, (unsigned long long) out->sth.size,
                        proto_errname(rc));
        return rc;
    }
    out->from = from;
    out->proof = proof;
    return PROTO_OK;
}
