/*  broker/store.c - LMDB record layouts and the operations on them.

    All integers in keys are big-endian so that LMDB's byte order is numeric
    order; integers in values are little-endian fixed-width fields written
    with broker_store_put64le/get64le. Records carry no pointers and no padding, so a
    store written on one machine reads on another of either endianness.
*/
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/log.h"
#include "proto/store.h"

#define CODE_LEN          PROTO_AGENCY_CODE_LEN
#define DOC_RECORD_LEN    81
#define DLV_RECORD_LEN    25
#define NOTICE_RECORD_LEN (PROTO_ID_LEN + 2 * CODE_LEN + 1 + PROTO_HASH_LEN)

enum {
    DB_DOCS,
    DB_FRAMES,
    DB_RETIRE,
    DB_DLV,
    DB_QUEUE,
    DB_EXPIRY,
    DB_MBOX,
    DB_NOTICES,
    DB_AUDIT,
    DB_META,
    DB_RECEIPTS,
    DB_COUNT
};

static const char *s_db_names[DB_COUNT] = {
    "docs", "frames",  "retire", "dlv",  "queue",    "expiry",
    "mbox", "notices", "audit",  "meta", "receipts",
};

struct broker_store {
    proto_store_t *kv;                 // environment, lock, transactions (proto/store.h)
    broker_store_commit_fn *on_commit; // told of the audit head after durable commits
    void *on_commit_arg;
    uint64_t told_length; // the audit length on_commit was last told
};

// ---------------------------------------------------------------------------
//  Byte helpers

void broker_store_put64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

uint64_t broker_store_get64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void s_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static uint32_t s_get32(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void s_put64_be(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (56 - 8 * i));
}

static uint64_t s_get64_be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static void s_code(uint8_t *out, const char *code)
{
    //  Codes are validated before they get here; pad defensively anyway.
    size_t n = strnlen(code, CODE_LEN);
    memcpy(out, code, n);
    memset(out + n, 0, CODE_LEN - n);
}

//  A value read from the store: points into the map until the transaction
//  ends.
typedef struct {
    size_t mv_size;
    const void *mv_data;
} s_val_t;

const char *broker_dlv_state_name(broker_dlv_state_t state)
{
    static const char *names[] = { "waiting", "delivered", "refused",
                                   "expired", "returned",  "revoked" };
    return (unsigned) state < sizeof names / sizeof names[0] ? names[state] : "unknown";
}

// ---------------------------------------------------------------------------
//  Open and close

// ---------------------------------------------------------------------------
//  Open, close, transactions: proto/store.h does the work.

broker_store_t *broker_store_open(const char *data_dir, uint64_t map_size, char *errbuf,
                                  size_t errlen)
{
    broker_store_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    self->kv = proto_store_open(data_dir, map_size, s_db_names, DB_COUNT, errbuf, errlen);
    if (!self->kv) {
        free(self);
        return NULL;
    }
    return self;
}

void broker_store_destroy(broker_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    proto_store_destroy(&(*self_p)->kv);
    free(*self_p);
    *self_p = NULL;
}

proto_err_t broker_store_begin(broker_store_t *self)
{
    return proto_store_begin(self->kv);
}

bool broker_store_writing(const broker_store_t *self)
{
    return proto_store_writing(self->kv);
}

proto_err_t broker_store_commit(broker_store_t *self)
{
    bool wrote = proto_store_writing(self->kv);
    proto_err_t rc = proto_store_commit(self->kv);
    if (rc || !wrote || !self->on_commit)
        return rc;
    //  Tell the hook only when the chain moved: most commit groups append
    //  entries, but a quiet timer commit need not cost a write elsewhere.
    uint64_t length;
    uint8_t head[PROTO_HASH_LEN];
    if (broker_store_audit_head(self, &length, head) == PROTO_OK && length != self->told_length) {
        self->told_length = length;
        self->on_commit(self->on_commit_arg, length, head);
    }
    return PROTO_OK;
}

void broker_store_on_commit(broker_store_t *self, broker_store_commit_fn *fn, void *arg)
{
    self->on_commit = fn;
    self->on_commit_arg = arg;
    self->told_length = UINT64_MAX;
}

void broker_store_abort(broker_store_t *self)
{
    proto_store_abort(self->kv);
}

proto_err_t broker_store_nest(broker_store_t *self)
{
    return proto_store_nest(self->kv);
}

proto_err_t broker_store_unnest(broker_store_t *self, bool keep)
{
    return proto_store_unnest(self->kv, keep);
}

proto_err_t broker_store_read_begin(broker_store_t *self)
{
    return proto_store_read_begin(self->kv);
}

void broker_store_read_end(broker_store_t *self)
{
    proto_store_read_end(self->kv);
}

static proto_err_t s_get(broker_store_t *self, int db, const void *key, size_t key_len,
                         s_val_t *out)
{
    return proto_store_get(self->kv, db, key, key_len, &out->mv_data, &out->mv_size);
}

static proto_err_t s_put(broker_store_t *self, int db, const void *key, size_t key_len,
                         const void *value, size_t value_len)
{
    return proto_store_put(self->kv, db, key, key_len, value, value_len);
}

static proto_err_t s_del(broker_store_t *self, int db, const void *key, size_t key_len)
{
    return proto_store_del(self->kv, db, key, key_len);
}

//  Visit the keys of a table that start with prefix, in order.
typedef bool(s_visit_fn)(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                         size_t vlen);
typedef struct {
    const uint8_t *prefix;
    size_t len;
    s_visit_fn *fn;
    void *arg;
    size_t visited;
} s_prefix_t;

static bool s_prefix_step(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_prefix_t *p = arg;
    if (p->len && (klen < p->len || memcmp(key, p->prefix, p->len) != 0))
        return false;
    p->visited++;
    return p->fn(p->arg, key, klen, value, vlen);
}

static size_t s_scan(broker_store_t *self, int db, const uint8_t *prefix, size_t len,
                     s_visit_fn *fn, void *arg)
{
    s_prefix_t p = { prefix, len, fn, arg, 0 };
    proto_store_scan(self->kv, db, len ? prefix : NULL, len, s_prefix_step, &p);
    return p.visited;
}

static uint64_t s_meta_u64(broker_store_t *self, const char *name)
{
    s_val_t v;
    if (s_get(self, DB_META, name, strlen(name), &v) || v.mv_size != 8)
        return 0;
    return broker_store_get64le(v.mv_data);
}

static proto_err_t s_meta_put_u64(broker_store_t *self, const char *name, uint64_t value)
{
    uint8_t buf[8];
    broker_store_put64le(buf, value);
    return s_put(self, DB_META, name, strlen(name), buf, sizeof buf);
}

// ---------------------------------------------------------------------------
//  Documents

static void s_doc_encode(const broker_doc_t *doc, uint8_t out[DOC_RECORD_LEN])
{
    uint8_t *p = out;
    *p++ = 1; // record version
    s_code(p, doc->from);
    p += CODE_LEN;
    memcpy(p, doc->hash, PROTO_HASH_LEN);
    p += PROTO_HASH_LEN;
    broker_store_put64le(p, doc->accepted);
    p += 8;
    broker_store_put64le(p, doc->seq);
    p += 8;
    *p++ = doc->kind;
    *p++ = doc->urgency;
    *p++ = (uint8_t) ((doc->revoked ? 1 : 0) | (doc->purged ? 2 : 0));
    s_put32(p, doc->nto);
    p += 4;
    s_put32(p, doc->open);
    p += 4;
    broker_store_put64le(p, doc->bytes);
}

static proto_err_t s_doc_decode(const proto_id_t *id, const s_val_t *v, broker_doc_t *doc)
{
    const uint8_t *p = v->mv_data;
    if (v->mv_size != DOC_RECORD_LEN || p[0] != 1)
        return PROTO_ERR_STORE;
    p++;
    memset(doc, 0, sizeof *doc);
    doc->id = *id;
    memcpy(doc->from, p, CODE_LEN);
    p += CODE_LEN;
    memcpy(doc->hash, p, PROTO_HASH_LEN);
    p += PROTO_HASH_LEN;
    doc->accepted = broker_store_get64le(p);
    p += 8;
    doc->seq = broker_store_get64le(p);
    p += 8;
    doc->kind = *p++;
    doc->urgency = *p++;
    doc->revoked = *p & 1;
    doc->purged = (*p++ >> 1) & 1;
    doc->nto = s_get32(p);
    p += 4;
    doc->open = s_get32(p);
    p += 4;
    doc->bytes = broker_store_get64le(p);
    return PROTO_OK;
}

proto_err_t broker_store_doc_get(broker_store_t *self, const proto_id_t *id, broker_doc_t *out)
{
    s_val_t v;
    proto_err_t rc = s_get(self, DB_DOCS, id->bytes, PROTO_ID_LEN, &v);
    if (rc == PROTO_ERR_NOT_FOUND)
        return PROTO_ERR_UNKNOWN_DOC;
    return rc ? rc : s_doc_decode(id, &v, out);
}

proto_err_t broker_store_doc_update(broker_store_t *self, const broker_doc_t *doc)
{
    uint8_t record[DOC_RECORD_LEN];
    s_doc_encode(doc, record);
    return s_put(self, DB_DOCS, doc->id.bytes, PROTO_ID_LEN, record, sizeof record);
}

static void s_dlv_key(uint8_t key[CODE_LEN + PROTO_ID_LEN], const char *recipient,
                      const proto_id_t *id)
{
    s_code(key, recipient);
    memcpy(key + CODE_LEN, id->bytes, PROTO_ID_LEN);
}

static void s_queue_key(uint8_t key[CODE_LEN + 9], const char *recipient, uint8_t urgency,
                        uint64_t seq)
{
    s_code(key, recipient);
    key[CODE_LEN] = (uint8_t) (3 - (urgency > 3 ? 3 : urgency)); // most urgent first
    s_put64_be(key + CODE_LEN + 1, seq);
}

static void s_expiry_key(uint8_t key[8 + CODE_LEN + PROTO_ID_LEN], uint64_t deadline,
                         const char *recipient, const proto_id_t *id)
{
    s_put64_be(key, deadline);
    s_code(key + 8, recipient);
    memcpy(key + 8 + CODE_LEN, id->bytes, PROTO_ID_LEN);
}

static void s_dlv_encode(const broker_dlv_t *dlv, uint8_t out[DLV_RECORD_LEN])
{
    out[0] = dlv->state;
    broker_store_put64le(out + 1, dlv->time);
    broker_store_put64le(out + 9, dlv->deadline);
    broker_store_put64le(out + 17, dlv->queue_seq);
}

proto_err_t broker_store_doc_add(broker_store_t *self, const broker_doc_t *doc,
                                 const char *const *to, const void *const *frames,
                                 const size_t *lens, size_t count, uint64_t ttl)
{
    if (!proto_store_writing(self->kv))
        return PROTO_ERR_INTERNAL;
    //  Frames: a count, the lengths, then the bytes, written straight into
    //  the map (a reserved value) so a large document is copied once.
    size_t total = 4 + 8 * count;
    for (size_t i = 0; i < count; i++)
        total += lens[i];
    void *where = NULL;
    proto_err_t rc =
        proto_store_reserve(self->kv, DB_FRAMES, doc->id.bytes, PROTO_ID_LEN, total, &where);
    if (rc)
        return rc;
    uint8_t *p = where;
    s_put32(p, (uint32_t) count);
    p += 4;
    for (size_t i = 0; i < count; i++) {
        broker_store_put64le(p, lens[i]);
        p += 8;
    }
    for (size_t i = 0; i < count; i++) {
        if (lens[i])
            memcpy(p, frames[i], lens[i]);
        p += lens[i];
    }
    rc = broker_store_doc_update(self, doc);
    for (uint32_t i = 0; !rc && i < doc->nto; i++) {
        uint8_t dkey[CODE_LEN + PROTO_ID_LEN], qkey[CODE_LEN + 9],
            ekey[8 + CODE_LEN + PROTO_ID_LEN], record[DLV_RECORD_LEN];
        broker_dlv_t dlv = { .state = BROKER_DLV_WAITING,
                             .time = doc->accepted,
                             .deadline = doc->accepted + ttl,
                             .queue_seq = doc->seq };
        s_dlv_key(dkey, to[i], &doc->id);
        s_dlv_encode(&dlv, record);
        rc = s_put(self, DB_DLV, dkey, sizeof dkey, record, sizeof record);
        s_queue_key(qkey, to[i], doc->urgency, doc->seq);
        if (!rc)
            rc = s_put(self, DB_QUEUE, qkey, sizeof qkey, doc->id.bytes, PROTO_ID_LEN);
        s_expiry_key(ekey, dlv.deadline, to[i], &doc->id);
        if (!rc)
            rc = s_put(self, DB_EXPIRY, ekey, sizeof ekey, "", 0);
    }
    return rc;
}

proto_err_t broker_store_frames_get(broker_store_t *self, const proto_id_t *id, const void **frames,
                                    size_t *lens, size_t max, size_t *count)
{
    s_val_t v;
    proto_err_t rc = s_get(self, DB_FRAMES, id->bytes, PROTO_ID_LEN, &v);
    if (rc == PROTO_ERR_NOT_FOUND)
        return PROTO_ERR_UNKNOWN_DOC;
    if (rc)
        return rc;
    const uint8_t *p = v.mv_data, *end = p + v.mv_size;
    if (v.mv_size < 4)
        return PROTO_ERR_STORE;
    uint32_t n = s_get32(p);
    p += 4;
    if (n > max || (size_t) (end - p) < 8 * (size_t) n)
        return PROTO_ERR_STORE;
    const uint8_t *data = p + 8 * (size_t) n;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t len = broker_store_get64le(p + 8 * (size_t) i);
        if (len > (uint64_t) (end - data))
            return PROTO_ERR_STORE;
        frames[i] = data;
        lens[i] = (size_t) len;
        data += len;
    }
    *count = n;
    return PROTO_OK;
}

//  Receipt record: version 2, head time, head size, root, signature, leaf
//  index, path length, the path, then the signer's name (the rest).
#define RECEIPT_RECORD_VERSION 2
#define RECEIPT_FIXED_LEN      (1 + 8 + 8 + PROTO_HASH_LEN + PROTO_SIG_LEN + 8 + 1)

proto_err_t broker_store_receipt_put(broker_store_t *self, const proto_id_t *id,
                                     const proto_head_t *head, const uint8_t sig[PROTO_SIG_LEN],
                                     const proto_item_t *item)
{
    size_t signer_len = strlen(head->signer);
    if (signer_len > PROTO_LABEL_MAX || item->npath > PROTO_MAX_PATH)
        return PROTO_ERR_INVALID_ARG;
    uint8_t record[RECEIPT_FIXED_LEN + PROTO_MAX_PATH * PROTO_HASH_LEN + PROTO_LABEL_MAX];
    uint8_t *p = record;
    *p++ = RECEIPT_RECORD_VERSION;
    broker_store_put64le(p, head->time);
    broker_store_put64le(p + 8, head->size);
    memcpy(p + 16, head->root, PROTO_HASH_LEN);
    p += 16 + PROTO_HASH_LEN;
    memcpy(p, sig, PROTO_SIG_LEN);
    p += PROTO_SIG_LEN;
    broker_store_put64le(p, item->index);
    p += 8;
    *p++ = (uint8_t) item->npath;
    memcpy(p, item->path, (size_t) item->npath * PROTO_HASH_LEN);
    p += (size_t) item->npath * PROTO_HASH_LEN;
    memcpy(p, head->signer, signer_len);
    p += signer_len;
    return s_put(self, DB_RECEIPTS, id->bytes, PROTO_ID_LEN, record, (size_t) (p - record));
}

proto_err_t broker_store_receipt_get(broker_store_t *self, const proto_id_t *id,
                                     broker_receipt_t *out)
{
    s_val_t v;
    proto_err_t rc = s_get(self, DB_RECEIPTS, id->bytes, PROTO_ID_LEN, &v);
    if (rc)
        return rc;
    const uint8_t *p = v.mv_data, *end = p + v.mv_size;
    if (v.mv_size < RECEIPT_FIXED_LEN || p[0] != RECEIPT_RECORD_VERSION)
        return PROTO_ERR_STORE; // not a record of this layout (an older broker's)
    p++;
    memset(out, 0, sizeof *out);
    out->head.time = broker_store_get64le(p);
    out->head.size = broker_store_get64le(p + 8);
    memcpy(out->head.root, p + 16, PROTO_HASH_LEN);
    p += 16 + PROTO_HASH_LEN;
    memcpy(out->sig, p, PROTO_SIG_LEN);
    p += PROTO_SIG_LEN;
    out->index = broker_store_get64le(p);
    p += 8;
    out->npath = *p++;
    size_t path_len = (size_t) out->npath * PROTO_HASH_LEN;
    if (out->npath > PROTO_MAX_PATH || (size_t) (end - p) < path_len ||
        (size_t) (end - p) - path_len > PROTO_LABEL_MAX)
        return PROTO_ERR_STORE;
    memcpy(out->path, p, path_len);
    p += path_len;
    memcpy(out->signer, p, (size_t) (end - p));
    out->signer[end - p] = '\0';
    out->head.signer = out->signer;
    return PROTO_OK;
}

// ---------------------------------------------------------------------------
//  Deliveries

proto_err_t broker_store_dlv_get(broker_store_t *self, const char *recipient, const proto_id_t *id,
                                 broker_dlv_t *out)
{
    uint8_t key[CODE_LEN + PROTO_ID_LEN];
    s_val_t v;
    s_dlv_key(key, recipient, id);
    proto_err_t rc = s_get(self, DB_DLV, key, sizeof key, &v);
    if (rc)
        return rc == PROTO_ERR_NOT_FOUND ? PROTO_ERR_UNKNOWN_DOC : rc;
    if (v.mv_size != DLV_RECORD_LEN)
        return PROTO_ERR_STORE;
    const uint8_t *p = v.mv_data;
    out->state = p[0];
    out->time = broker_store_get64le(p + 1);
    out->deadline = broker_store_get64le(p + 9);
    out->queue_seq = broker_store_get64le(p + 17);
    return PROTO_OK;
}

proto_err_t broker_store_dlv_set(broker_store_t *self, const char *recipient, const proto_id_t *id,
                                 broker_dlv_state_t state, uint64_t time)
{
    broker_dlv_t dlv;
    broker_doc_t doc;
    proto_err_t rc = broker_store_dlv_get(self, recipient, id, &dlv);
    if (!rc)
        rc = broker_store_doc_get(self, id, &doc);
    if (rc)
        return rc;
    if (dlv.state == BROKER_DLV_WAITING && state != BROKER_DLV_WAITING) {
        uint8_t qkey[CODE_LEN + 9], ekey[8 + CODE_LEN + PROTO_ID_LEN];
        s_queue_key(qkey, recipient, doc.urgency, dlv.queue_seq);
        s_expiry_key(ekey, dlv.deadline, recipient, id);
        rc = s_del(self, DB_QUEUE, qkey, sizeof qkey);
        if (!rc)
            rc = s_del(self, DB_EXPIRY, ekey, sizeof ekey);
        if (!rc && doc.open > 0) {
            doc.open--;
            rc = broker_store_doc_update(self, &doc);
            if (!rc && doc.open == 0) {
                uint8_t rkey[8 + PROTO_ID_LEN];
                s_put64_be(rkey, time);
                memcpy(rkey + 8, id->bytes, PROTO_ID_LEN);
                rc = s_put(self, DB_RETIRE, rkey, sizeof rkey, "", 0);
            }
        }
    }
    dlv.state = (uint8_t) state;
    dlv.time = time;
    uint8_t key[CODE_LEN + PROTO_ID_LEN], record[DLV_RECORD_LEN];
    s_dlv_key(key, recipient, id);
    s_dlv_encode(&dlv, record);
    return rc ? rc : s_put(self, DB_DLV, key, sizeof key, record, sizeof record);
}

typedef struct {
    broker_store_queue_fn *fn;
    void *arg;
} s_queue_visit_t;

static bool s_queue_step(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                         size_t vlen)
{
    s_queue_visit_t *q = arg;
    (void) key;
    (void) klen;
    if (vlen != PROTO_ID_LEN)
        return true;
    proto_id_t id;
    memcpy(id.bytes, value, PROTO_ID_LEN);
    return q->fn(q->arg, &id);
}

size_t broker_store_queue_scan(broker_store_t *self, const char *recipient,
                               broker_store_queue_fn *fn, void *arg)
{
    uint8_t prefix[CODE_LEN];
    s_code(prefix, recipient);
    s_queue_visit_t q = { fn, arg };
    return s_scan(self, DB_QUEUE, prefix, CODE_LEN, s_queue_step, &q);
}

typedef struct {
    broker_store_t *store;
    const char *recipient;
    uint64_t now, oldest;
    size_t count;
    int level; // urgency byte of the last key seen, -1 before the first
} s_depth_t;

//  Count every entry, but read the delivery state of the first entry of
//  each urgency level only: within a level the queue is in acceptance
//  order, so that entry is the level's oldest. A status request then costs
//  a cursor walk, not a lookup per waiting document.
static bool s_depth_step(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                         size_t vlen)
{
    s_depth_t *depth = arg;
    if (vlen != PROTO_ID_LEN || klen != CODE_LEN + 9)
        return true;
    depth->count++;
    if (key[CODE_LEN] == depth->level)
        return true;
    depth->level = key[CODE_LEN];
    proto_id_t id;
    memcpy(id.bytes, value, PROTO_ID_LEN);
    broker_dlv_t dlv;
    if (broker_store_dlv_get(depth->store, depth->recipient, &id, &dlv) == PROTO_OK &&
        depth->now > dlv.time && depth->now - dlv.time > depth->oldest)
        depth->oldest = depth->now - dlv.time;
    return true;
}

size_t broker_store_queue_depth(broker_store_t *self, const char *recipient, uint64_t now,
                                uint64_t *oldest_age)
{
    s_depth_t depth = { self, recipient, now, 0, 0, -1 };
    uint8_t prefix[CODE_LEN];
    s_code(prefix, recipient);
    s_scan(self, DB_QUEUE, prefix, CODE_LEN, s_depth_step, &depth);
    if (oldest_age)
        *oldest_age = depth.oldest;
    return depth.count;
}

//  Collect first, act after: the callers change the tables being walked.
typedef struct {
    char recipient[CODE_LEN + 1];
    proto_id_t id;
} s_due_t;

typedef struct {
    s_due_t *due;
    size_t n, max;
    uint64_t limit;
} s_due_list_t;

static bool s_expiry_step(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                          size_t vlen)
{
    s_due_list_t *l = arg;
    (void) value;
    (void) vlen;
    if (l->n == l->max || klen != 8 + CODE_LEN + PROTO_ID_LEN || s_get64_be(key) > l->limit)
        return false;
    memcpy(l->due[l->n].recipient, key + 8, CODE_LEN);
    l->due[l->n].recipient[CODE_LEN] = '\0';
    memcpy(l->due[l->n].id.bytes, key + 8 + CODE_LEN, PROTO_ID_LEN);
    l->n++;
    return true;
}

size_t broker_store_expiry_scan(broker_store_t *self, uint64_t now, size_t max,
                                broker_store_expiry_fn *fn, void *arg)
{
    s_due_list_t l = { calloc(max ? max : 1, sizeof(s_due_t)), 0, max, now };
    if (!l.due)
        return 0;
    s_scan(self, DB_EXPIRY, NULL, 0, s_expiry_step, &l);
    for (size_t i = 0; i < l.n; i++)
        fn(arg, l.due[i].recipient, &l.due[i].id);
    free(l.due);
    return l.n;
}

static bool s_retire_step(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                          size_t vlen)
{
    s_due_list_t *l = arg;
    (void) value;
    (void) vlen;
    if (l->n == l->max || klen != 8 + PROTO_ID_LEN || s_get64_be(key) > l->limit)
        return false;
    memcpy(l->due[l->n++].id.bytes, key + 8, PROTO_ID_LEN);
    return true;
}

size_t broker_store_retire_scan(broker_store_t *self, uint64_t before, size_t max,
                                broker_store_retire_fn *fn, void *arg)
{
    s_due_list_t l = { calloc(max ? max : 1, sizeof(s_due_t)), 0, max, before };
    if (!l.due)
        return 0;
    s_scan(self, DB_RETIRE, NULL, 0, s_retire_step, &l);
    for (size_t i = 0; i < l.n; i++)
        fn(arg, &l.due[i].id);
    free(l.due);
    return l.n;
}

typedef struct {
    const proto_id_t *id;
    uint8_t key[8 + PROTO_ID_LEN];
    bool found;
} s_find_retire_t;

static bool s_find_retire(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                          size_t vlen)
{
    s_find_retire_t *f = arg;
    (void) value;
    (void) vlen;
    if (klen == 8 + PROTO_ID_LEN && memcmp(key + 8, f->id->bytes, PROTO_ID_LEN) == 0) {
        memcpy(f->key, key, klen);
        f->found = true;
        return false;
    }
    return true;
}

proto_err_t broker_store_doc_purge(broker_store_t *self, const proto_id_t *id, uint64_t *freed)
{
    broker_doc_t doc;
    *freed = 0;
    proto_err_t rc = broker_store_doc_get(self, id, &doc);
    if (rc)
        return rc;
    //  Find the finished entry by walking: there is one per purged
    //  document, and the walk starts at the oldest, which is this one.
    s_find_retire_t f = { .id = id };
    s_scan(self, DB_RETIRE, NULL, 0, s_find_retire, &f);
    if (f.found && (rc = s_del(self, DB_RETIRE, f.key, sizeof f.key)) != PROTO_OK)
        return rc;
    if (doc.purged)
        return PROTO_OK;
    //  Keep the envelope (the first frame, small) so the document can still
    //  be shown; drop the attachments, which hold nearly all the bytes.
    const void *frames[1];
    size_t lens[1], count = 0;
    s_val_t v;
    uint8_t *envelope = NULL;
    size_t envelope_len = 0;
    if (s_get(self, DB_FRAMES, id->bytes, PROTO_ID_LEN, &v) == PROTO_OK && v.mv_size >= 12) {
        const uint8_t *p = v.mv_data;
        uint64_t first = broker_store_get64le(p + 4);
        if (s_get32(p) >= 1 && first <= v.mv_size - 4 - 8 * (uint64_t) s_get32(p)) {
            envelope_len = (size_t) first;
            envelope = malloc(envelope_len ? envelope_len : 1);
            if (envelope)
                memcpy(envelope, p + 4 + 8 * (size_t) s_get32(p), envelope_len);
        }
    }
    rc = s_del(self, DB_FRAMES, id->bytes, PROTO_ID_LEN);
    if (!rc && envelope) {
        frames[0] = envelope;
        lens[0] = envelope_len;
        count = 1;
        size_t total = 4 + 8 + envelope_len;
        void *where = NULL;
        rc = proto_store_reserve(self->kv, DB_FRAMES, id->bytes, PROTO_ID_LEN, total, &where);
        if (!rc) {
            uint8_t *w = where;
            s_put32(w, (uint32_t) count);
            broker_store_put64le(w + 4, lens[0]);
            memcpy(w + 12, frames[0], lens[0]);
        }
    }
    free(envelope);
    doc.purged = 1;
    if (!rc)
        rc = broker_store_doc_update(self, &doc);
    if (!rc)
        *freed = doc.bytes > envelope_len ? doc.bytes - envelope_len : 0;
    return rc;
}

proto_err_t broker_store_flag_set(broker_store_t *self, const void *key, size_t len)
{
    uint8_t k[80];
    if (len + 2 > sizeof k)
        return PROTO_ERR_INVALID_ARG;
    k[0] = 'f';
    k[1] = ':';
    memcpy(k + 2, key, len);
    return s_put(self, DB_META, k, len + 2, "", 0);
}

proto_err_t broker_store_flag_get(broker_store_t *self, const void *key, size_t len)
{
    uint8_t k[80];
    s_val_t v;
    if (len + 2 > sizeof k)
        return PROTO_ERR_INVALID_ARG;
    k[0] = 'f';
    k[1] = ':';
    memcpy(k + 2, key, len);
    return s_get(self, DB_META, k, len + 2, &v);
}

//  Counters live beside the flags under "c:" keys: an 8-byte count.
static size_t s_counter_key(uint8_t k[80], const void *key, size_t len)
{
    if (len + 2 > 80)
        return 0;
    k[0] = 'c';
    k[1] = ':';
    memcpy(k + 2, key, len);
    return len + 2;
}

proto_err_t broker_store_counter_get(broker_store_t *self, const void *key, size_t len,
                                     uint64_t *value)
{
    uint8_t k[80];
    s_val_t v;
    size_t klen = s_counter_key(k, key, len);
    *value = 0;
    if (!klen)
        return PROTO_ERR_INVALID_ARG;
    proto_err_t rc = s_get(self, DB_META, k, klen, &v);
    if (rc == PROTO_ERR_NOT_FOUND)
        return PROTO_OK;
    if (!rc && v.mv_size != 8)
        return PROTO_ERR_STORE;
    if (!rc)
        *value = broker_store_get64le(v.mv_data);
    return rc;
}

proto_err_t broker_store_counter_add(broker_store_t *self, const void *key, size_t len,
                                     uint64_t delta)
{
    uint64_t value = 0;
    proto_err_t rc = broker_store_counter_get(self, key, len, &value);
    uint8_t k[80], buf[8];
    size_t klen = s_counter_key(k, key, len);
    broker_store_put64le(buf, value + delta);
    return rc ? rc : s_put(self, DB_META, k, klen, buf, sizeof buf);
}

// ---------------------------------------------------------------------------
//  Mailbox

proto_err_t broker_store_mid_next(broker_store_t *self, uint64_t *mid)
{
    uint64_t next = s_meta_u64(self, "mid") + 1;
    proto_err_t rc = s_meta_put_u64(self, "mid", next);
    if (!rc)
        *mid = next;
    return rc;
}

proto_err_t broker_store_mbox_put(broker_store_t *self, const char *agency, uint64_t mid,
                                  uint8_t kind, const void *body, size_t len)
{
    if (!proto_store_writing(self->kv))
        return PROTO_ERR_INTERNAL;
    uint8_t key[CODE_LEN + 8];
    s_code(key, agency);
    s_put64_be(key + CODE_LEN, mid);
    void *where = NULL;
    proto_err_t rc = proto_store_reserve(self->kv, DB_MBOX, key, sizeof key, 1 + len, &where);
    if (rc)
        return rc;
    ((uint8_t *) where)[0] = kind;
    memcpy((uint8_t *) where + 1, body, len);
    return PROTO_OK;
}

typedef struct {
    broker_store_mbox_fn *fn;
    void *arg;
} s_mbox_visit_t;

static bool s_mbox_step(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                        size_t vlen)
{
    s_mbox_visit_t *m = arg;
    if (klen != CODE_LEN + 8 || vlen < 1)
        return true;
    return m->fn(m->arg, s_get64_be(key + CODE_LEN), value[0], value + 1, vlen - 1);
}

size_t broker_store_mbox_scan(broker_store_t *self, const char *agency, broker_store_mbox_fn *fn,
                              void *arg)
{
    uint8_t prefix[CODE_LEN];
    s_code(prefix, agency);
    s_mbox_visit_t m = { fn, arg };
    return s_scan(self, DB_MBOX, prefix, CODE_LEN, s_mbox_step, &m);
}

proto_err_t broker_store_mbox_del(broker_store_t *self, const char *agency, uint64_t mid)
{
    uint8_t key[CODE_LEN + 8];
    s_code(key, agency);
    s_put64_be(key + CODE_LEN, mid);
    return s_del(self, DB_MBOX, key, sizeof key);
}

// ---------------------------------------------------------------------------
//  Notices

proto_err_t broker_store_notice_get(broker_store_t *self, const proto_id_t *id,
                                    broker_notice_t *out)
{
    s_val_t v;
    proto_err_t rc = s_get(self, DB_NOTICES, id->bytes, PROTO_ID_LEN, &v);
    if (rc)
        return rc == PROTO_ERR_NOT_FOUND ? PROTO_ERR_UNKNOWN_DOC : rc;
    if (v.mv_size != NOTICE_RECORD_LEN)
        return PROTO_ERR_STORE;
    const uint8_t *p = v.mv_data;
    memset(out, 0, sizeof *out);
    memcpy(out->doc.bytes, p, PROTO_ID_LEN);
    p += PROTO_ID_LEN;
    memcpy(out->from, p, CODE_LEN);
    p += CODE_LEN;
    memcpy(out->to, p, CODE_LEN);
    p += CODE_LEN;
    out->code = *p++;
    memcpy(out->hash, p, PROTO_HASH_LEN);
    return PROTO_OK;
}

proto_err_t broker_store_notice_put(broker_store_t *self, const proto_id_t *id,
                                    const broker_notice_t *notice)
{
    uint8_t record[NOTICE_RECORD_LEN], *p = record;
    memcpy(p, notice->doc.bytes, PROTO_ID_LEN);
    p += PROTO_ID_LEN;
    s_code(p, notice->from);
    p += CODE_LEN;
    s_code(p, notice->to);
    p += CODE_LEN;
    *p++ = notice->code;
    memcpy(p, notice->hash, PROTO_HASH_LEN);
    return s_put(self, DB_NOTICES, id->bytes, PROTO_ID_LEN, record, sizeof record);
}

// ---------------------------------------------------------------------------
//  Audit chain

const char *broker_audit_event_name(int event)
{
    static const char *names[] = { "?",
                                   "connected",
                                   "refused",
                                   "accepted",
                                   "rejected",
                                   "delivered",
                                   "refused_by_recipient",
                                   "status",
                                   "revoke",
                                   "expired",
                                   "returned",
                                   "purged",
                                   "admin",
                                   "disconnected",
                                   "denied",
                                   "restored" };
    return event > 0 && (size_t) event < sizeof names / sizeof names[0] ? names[event] : "?";
}

//  The canonical bytes of an entry; its hash is BLAKE2b-256 of them.
static int s_audit_encode(msgpack_sbuffer *buf, uint64_t seq, const uint8_t prev[PROTO_HASH_LEN],
                          uint64_t time, uint8_t event, const char *agency, const proto_id_t *id,
                          const char *detail)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    size_t agency_len = agency ? strlen(agency) : 0, detail_len = detail ? strlen(detail) : 0;
    int rc = msgpack_pack_array(&pk, 8);
    rc |= msgpack_pack_str_with_body(&pk, "truc/audit/1", 12);
    rc |= msgpack_pack_uint64(&pk, seq);
    rc |= msgpack_pack_bin_with_body(&pk, prev, PROTO_HASH_LEN);
    rc |= msgpack_pack_uint64(&pk, time);
    rc |= msgpack_pack_uint8(&pk, event);
    rc |= msgpack_pack_str_with_body(&pk, agency ? agency : "", agency_len);
    if (id)
        rc |= msgpack_pack_bin_with_body(&pk, id->bytes, PROTO_ID_LEN);
    else
        rc |= msgpack_pack_nil(&pk);
    rc |= msgpack_pack_str_with_body(&pk, detail ? detail : "", detail_len);
    return rc;
}

//  Write entry seq after the current head and make it the head.
static proto_err_t s_audit_put(broker_store_t *self, uint64_t seq, uint64_t time,
                               broker_audit_event_t event, const char *agency, const proto_id_t *id,
                               const char *detail)
{
    if (!proto_store_writing(self->kv))
        return PROTO_ERR_INTERNAL;
    uint8_t prev[PROTO_HASH_LEN] = { 0 };
    s_val_t head;
    if (s_get(self, DB_META, "audit_head", 10, &head) == PROTO_OK && head.mv_size == PROTO_HASH_LEN)
        memcpy(prev, head.mv_data, PROTO_HASH_LEN);
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    if (s_audit_encode(&buf, seq, prev, time, (uint8_t) event, agency, id, detail) != 0) {
        msgpack_sbuffer_destroy(&buf);
        return PROTO_ERR_NOMEM;
    }
    uint8_t hash[PROTO_HASH_LEN], key[8];
    crypto_generichash(hash, sizeof hash, (const uint8_t *) buf.data, buf.size, NULL, 0);
    s_put64_be(key, seq);
    proto_err_t rc = s_put(self, DB_AUDIT, key, sizeof key, buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
    if (!rc)
        rc = s_put(self, DB_META, "audit_head", 10, hash, sizeof hash);
    if (!rc)
        rc = s_meta_put_u64(self, "audit_seq", seq);
    return rc;
}

proto_err_t broker_store_audit_append(broker_store_t *self, uint64_t time,
                                      broker_audit_event_t event, const char *agency,
                                      const proto_id_t *id, const char *detail, uint64_t *seq)
{
    uint64_t next = s_meta_u64(self, "audit_seq") + 1;
    proto_err_t rc = s_audit_put(self, next, time, event, agency, id, detail);
    if (!rc && seq)
        *seq = next;
    return rc;
}

proto_err_t broker_store_audit_restored(broker_store_t *self, uint64_t time, uint64_t above,
                                        const char *detail, uint64_t *seq)
{
    uint64_t length = s_meta_u64(self, "audit_seq");
    uint64_t next = (above > length ? above : length) + 1;
    proto_err_t rc = s_audit_put(self, next, time, BROKER_AUDIT_RESTORED, "", NULL, detail);
    if (!rc && seq)
        *seq = next;
    return rc;
}

proto_err_t broker_store_audit_head(broker_store_t *self, uint64_t *length,
                                    uint8_t head[PROTO_HASH_LEN])
{
    bool own = !broker_store_writing(self);
    proto_err_t rc = own ? broker_store_read_begin(self) : PROTO_OK;
    s_val_t v;
    *length = rc ? 0 : s_meta_u64(self, "audit_seq");
    memset(head, 0, PROTO_HASH_LEN);
    if (!rc && *length) {
        rc = s_get(self, DB_META, "audit_head", 10, &v);
        if (!rc && v.mv_size != PROTO_HASH_LEN)
            rc = PROTO_ERR_STORE;
        if (!rc)
            memcpy(head, v.mv_data, PROTO_HASH_LEN);
    }
    if (own)
        broker_store_read_end(self);
    return rc;
}

proto_err_t broker_store_audit_hash(broker_store_t *self, uint64_t seq,
                                    uint8_t hash[PROTO_HASH_LEN])
{
    bool own = !broker_store_writing(self);
    proto_err_t rc = own ? broker_store_read_begin(self) : PROTO_OK;
    uint8_t key[8];
    s_val_t v;
    s_put64_be(key, seq);
    if (!rc)
        rc = s_get(self, DB_AUDIT, key, sizeof key, &v);
    if (!rc)
        crypto_generichash(hash, PROTO_HASH_LEN, v.mv_data, v.mv_size, NULL, 0);
    if (own)
        broker_store_read_end(self);
    return rc;
}

proto_err_t broker_store_file_audit(const char *path, uint64_t *length,
                                    uint8_t head[PROTO_HASH_LEN])
{
    uint8_t buf[PROTO_HASH_LEN];
    size_t len = 0;
    *length = 0;
    memset(head, 0, PROTO_HASH_LEN);
    proto_err_t rc = proto_store_file_get(path, "meta", "audit_seq", 9, buf, sizeof buf, &len);
    if (rc == PROTO_ERR_NOT_FOUND)
        return PROTO_OK; // an empty chain
    if (!rc && len != 8)
        rc = PROTO_ERR_STORE;
    if (rc)
        return rc;
    *length = broker_store_get64le(buf);
    rc = proto_store_file_get(path, "meta", "audit_head", 10, head, PROTO_HASH_LEN, &len);
    return !rc && len != PROTO_HASH_LEN ? PROTO_ERR_STORE : rc;
}

uint64_t broker_store_audit_length(broker_store_t *self)
{
    return s_meta_u64(self, "audit_seq");
}

//  Decode a stored entry strictly; false if it is not exactly what
//  s_audit_encode writes.
static bool s_audit_decode(const s_val_t *v, broker_audit_entry_t *entry, char *agency,
                           size_t agency_cap, char *detail, size_t detail_cap)
{
    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t off = 0;
    bool ok =
        msgpack_unpack_next(&unpacked, v->mv_data, v->mv_size, &off) == MSGPACK_UNPACK_SUCCESS &&
        off == v->mv_size;
    const msgpack_object *a = unpacked.data.via.array.ptr;
    ok = ok && unpacked.data.type == MSGPACK_OBJECT_ARRAY && unpacked.data.via.array.size == 8 &&
         a[0].type == MSGPACK_OBJECT_STR && a[0].via.str.size == 12 &&
         memcmp(a[0].via.str.ptr, "truc/audit/1", 12) == 0 &&
         a[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER && a[2].type == MSGPACK_OBJECT_BIN &&
         a[2].via.bin.size == PROTO_HASH_LEN && a[3].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
         a[4].type == MSGPACK_OBJECT_POSITIVE_INTEGER && a[4].via.u64 < 256 &&
         a[5].type == MSGPACK_OBJECT_STR && a[5].via.str.size < agency_cap &&
         (a[6].type == MSGPACK_OBJECT_NIL ||
          (a[6].type == MSGPACK_OBJECT_BIN && a[6].via.bin.size == PROTO_ID_LEN)) &&
         a[7].type == MSGPACK_OBJECT_STR;
    if (ok) {
        entry->seq = a[1].via.u64;
        memcpy(entry->prev, a[2].via.bin.ptr, PROTO_HASH_LEN);
        entry->time = a[3].via.u64;
        entry->event = (uint8_t) a[4].via.u64;
        memcpy(agency, a[5].via.str.ptr, a[5].via.str.size);
        agency[a[5].via.str.size] = '\0';
        entry->agency = agency;
        entry->has_id = a[6].type == MSGPACK_OBJECT_BIN;
        if (entry->has_id)
            memcpy(entry->id.bytes, a[6].via.bin.ptr, PROTO_ID_LEN);
        size_t n = a[7].via.str.size < detail_cap - 1 ? a[7].via.str.size : detail_cap - 1;
        memcpy(detail, a[7].via.str.ptr, n);
        detail[n] = '\0';
        entry->detail = detail;
        crypto_generichash(entry->hash, PROTO_HASH_LEN, v->mv_data, v->mv_size, NULL, 0);
    }
    msgpack_unpacked_destroy(&unpacked);
    return ok;
}

typedef struct {
    uint64_t from, expect, bad;
    uint8_t prev[PROTO_HASH_LEN];
    broker_store_audit_fn *fn;
    void *arg;
    bool go_on, broken;
} s_walk_t;

static bool s_walk_step(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                        size_t vlen)
{
    s_walk_t *w = arg;
    broker_audit_entry_t entry;
    char agency[PROTO_LABEL_MAX + 1], detail[512];
    s_val_t v = { vlen, value };
    //  Numbers run on by one, except into a `restored` entry: a backup put
    //  back continues above every number the broker ever issued, so the
    //  numbers its older store lacks are never given twice.
    bool ok = klen == 8 && s_audit_decode(&v, &entry, agency, sizeof agency, detail, sizeof detail);
    if (ok && entry.seq > w->expect && entry.event == BROKER_AUDIT_RESTORED)
        w->expect = entry.seq;
    if (!ok || s_get64_be(key) != w->expect || entry.seq != w->expect ||
        sodium_memcmp(entry.prev, w->prev, PROTO_HASH_LEN) != 0) {
        w->broken = true;
        w->bad = w->expect;
        return false;
    }
    memcpy(w->prev, entry.hash, PROTO_HASH_LEN);
    if (w->go_on && w->fn && entry.seq >= w->from)
        w->go_on = w->fn(w->arg, &entry);
    w->expect++;
    return true;
}

proto_err_t broker_store_audit_walk(broker_store_t *self, uint64_t from, broker_store_audit_fn *fn,
                                    void *arg, uint64_t *bad_seq)
{
    //  The chain is checked from the first entry even when the caller wants
    //  to see entries only from `from`: a link can only be trusted if every
    //  link before it is.
    s_val_t probe;
    if (s_get(self, DB_META, "audit_seq", 9, &probe) == PROTO_ERR_INTERNAL)
        return PROTO_ERR_INTERNAL; // no transaction open
    s_walk_t w = { .from = from, .expect = 1, .fn = fn, .arg = arg, .go_on = true };
    s_scan(self, DB_AUDIT, NULL, 0, s_walk_step, &w);
    proto_err_t rc = w.broken ? PROTO_ERR_BAD_PROOF : PROTO_OK;
    if (!rc) {
        //  The head must name the last entry, or entries were cut off the end.
        s_val_t head;
        uint64_t length = s_meta_u64(self, "audit_seq");
        if (length != w.expect - 1 || s_get(self, DB_META, "audit_head", 10, &head) != PROTO_OK ||
            head.mv_size != PROTO_HASH_LEN ||
            sodium_memcmp(head.mv_data, w.prev, PROTO_HASH_LEN) != 0) {
            if (length != 0 || w.expect != 1) {
                rc = PROTO_ERR_BAD_PROOF;
                w.bad = w.expect;
            }
        }
    }
    if (rc && bad_seq)
        *bad_seq = w.bad;
    return rc;
}

// ---------------------------------------------------------------------------
//  Quotas, usage, backup

static void s_quota_key(uint8_t key[2 + CODE_LEN], const char *agency)
{
    key[0] = 'q';
    key[1] = ':';
    s_code(key + 2, agency);
}

proto_err_t broker_store_quota_get(broker_store_t *self, const char *agency, uint64_t *documents,
                                   uint64_t *bytes)
{
    uint8_t key[2 + CODE_LEN];
    s_val_t v;
    s_quota_key(key, agency);
    proto_err_t rc = s_get(self, DB_META, key, sizeof key, &v);
    *documents = *bytes = 0;
    if (rc == PROTO_ERR_NOT_FOUND)
        return PROTO_OK;
    if (rc)
        return rc;
    if (v.mv_size != 16)
        return PROTO_ERR_STORE;
    *documents = broker_store_get64le(v.mv_data);
    *bytes = broker_store_get64le((const uint8_t *) v.mv_data + 8);
    return PROTO_OK;
}

proto_err_t broker_store_quota_add(broker_store_t *self, const char *agency, int64_t documents,
                                   int64_t bytes)
{
    uint64_t d, b;
    proto_err_t rc = broker_store_quota_get(self, agency, &d, &b);
    if (rc)
        return rc;
    //  Never wrap below zero, whatever a bug upstream asks for.
    //  Negate after the conversion: -INT64_MIN does not exist.
    uint64_t dd = 0 - (uint64_t) documents, db = 0 - (uint64_t) bytes;
    d = documents < 0 ? (dd > d ? 0 : d - dd) : d + (uint64_t) documents;
    b = bytes < 0 ? (db > b ? 0 : b - db) : b + (uint64_t) bytes;
    uint8_t key[2 + CODE_LEN], value[16];
    s_quota_key(key, agency);
    broker_store_put64le(value, d);
    broker_store_put64le(value + 8, b);
    return s_put(self, DB_META, key, sizeof key, value, sizeof value);
}

void broker_store_usage(broker_store_t *self, uint64_t *used, uint64_t *size)
{
    proto_store_usage(self->kv, used, size);
}

proto_err_t broker_store_copy_file(broker_store_t *self, const char *path, char *errbuf,
                                   size_t errlen)
{
    return proto_store_copy_file(self->kv, path, errbuf, errlen);
}
