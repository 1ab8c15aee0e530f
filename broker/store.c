/*  broker/store.c - the broker's store: open, transactions, meta records.

    All integers in keys are big-endian so that LMDB's byte order is numeric
    order; integers in values are little-endian fixed-width fields written
    with broker_store_put64le/get64le. Records carry no pointers and no padding, so a
    store written on one machine reads on another of either endianness.

    This file opens and closes the store, runs its transactions, wraps
    proto/store.h for the other pieces (store_internal.h) and keeps the small
    records of the meta table: flags, counters and quotas. Documents,
    deliveries and the mailbox are in store_docs.c; receipts, notices and
    the audit chain in store_audit.c.
*/
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/store.h"
#include "store_internal.h"

//  By handle, so a table added to the enum without a name here is caught at
//  open (a NULL name), not opened as LMDB's unnamed main table.
static const char *s_db_names[DB_COUNT] = {
    [DB_DOCS] = "docs",       [DB_FRAMES] = "frames",     [DB_RETIRE] = "retire",
    [DB_DLV] = "dlv",         [DB_QUEUE] = "queue",       [DB_EXPIRY] = "expiry",
    [DB_MBOX] = "mbox",       [DB_NOTICES] = "notices",   [DB_AUDIT] = "audit",
    [DB_META] = "meta",       [DB_RECEIPTS] = "receipts", [DB_HOPS] = "hops",
    [DB_HOPQ] = "hopq",       [DB_TLOG] = "tlog",         [DB_TRACE] = "trace",
    [DB_LINKBOX] = "linkbox", [DB_HOPDLV] = "hopdlv",     [DB_LINKLOG] = "linklog",
    [DB_HOPEXP] = "hopexp",
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

void broker_store_put32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

uint32_t broker_store_get32le(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

void broker_store_put64be(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (56 - 8 * i));
}

uint64_t broker_store_get64be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

void broker_store_code(uint8_t *out, const char *code)
{
    //  Codes are validated before they get here; pad defensively anyway.
    size_t n = strnlen(code, CODE_LEN);
    memcpy(out, code, n);
    memset(out + n, 0, CODE_LEN - n);
}

const char *broker_dlv_state_name(broker_dlv_state_t state)
{
    static const char *names[] = { "waiting", "delivered", "refused",
                                   "expired", "returned",  "revoked" };
    return (unsigned) state < sizeof names / sizeof names[0] ? names[state] : "unknown";
}

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
    for (size_t i = 0; i < DB_COUNT; i++)
        if (!s_db_names[i]) {
            snprintf(errbuf, errlen, "internal error: table %zu has no name", i);
            free(self);
            return NULL;
        }
    self->kv = proto_store_open(data_dir, map_size, s_db_names, DB_COUNT, errbuf, errlen);
    if (!self->kv) {
        free(self);
        return NULL;
    }
    broker_store_waiting_open(self);
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
    proto_err_t rc = wrote ? broker_store_waiting_mark(self) : PROTO_OK;
    if (rc) {
        proto_store_abort(self->kv);
        return rc;
    }
    rc = proto_store_commit(self->kv);
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

proto_err_t broker_store_kv_get(broker_store_t *self, int db, const void *key, size_t key_len,
                                broker_store_val_t *out)
{
    return proto_store_get(self->kv, db, key, key_len, &out->mv_data, &out->mv_size);
}

proto_err_t broker_store_kv_put(broker_store_t *self, int db, const void *key, size_t key_len,
                                const void *value, size_t value_len)
{
    return proto_store_put(self->kv, db, key, key_len, value, value_len);
}

proto_err_t broker_store_kv_del(broker_store_t *self, int db, const void *key, size_t key_len)
{
    return proto_store_del(self->kv, db, key, key_len);
}

typedef struct {
    const uint8_t *prefix;
    size_t len;
    broker_store_visit_fn *fn;
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

size_t broker_store_kv_scan(broker_store_t *self, int db, const uint8_t *prefix, size_t len,
                            broker_store_visit_fn *fn, void *arg)
{
    s_prefix_t p = { prefix, len, fn, arg, 0 };
    proto_store_scan(self->kv, db, len ? prefix : NULL, len, s_prefix_step, &p);
    return p.visited;
}

uint64_t broker_store_meta_u64(broker_store_t *self, const char *name)
{
    broker_store_val_t v;
    if (broker_store_kv_get(self, DB_META, name, strlen(name), &v) || v.mv_size != 8)
        return 0;
    return broker_store_get64le(v.mv_data);
}

proto_err_t broker_store_meta_put_u64(broker_store_t *self, const char *name, uint64_t value)
{
    uint8_t buf[8];
    broker_store_put64le(buf, value);
    return broker_store_kv_put(self, DB_META, name, strlen(name), buf, sizeof buf);
}

uint64_t broker_store_count_get(broker_store_t *self, const void *key, size_t len)
{
    broker_store_val_t v;
    if (broker_store_kv_get(self, DB_META, key, len, &v) || v.mv_size != 8)
        return 0;
    return broker_store_get64le(v.mv_data);
}

proto_err_t broker_store_count_put(broker_store_t *self, const void *key, size_t len, uint64_t n)
{
    if (n == 0) {
        proto_err_t rc = broker_store_kv_del(self, DB_META, key, len);
        return rc == PROTO_ERR_NOT_FOUND ? PROTO_OK : rc;
    }
    uint8_t value[8];
    broker_store_put64le(value, n);
    return broker_store_kv_put(self, DB_META, key, len, value, sizeof value);
}

typedef struct {
    uint8_t *keys; // back to back, each klen bytes
    size_t klen, n, cap;
    bool failed;
} s_keys_t;

static bool s_key_step(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                       size_t vlen)
{
    s_keys_t *k = arg;
    (void) value;
    (void) vlen;
    if (klen != k->klen)
        return true;
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 64;
        uint8_t *keys = realloc(k->keys, cap * klen);
        if (!keys) {
            k->failed = true;
            return false;
        }
        k->keys = keys, k->cap = cap;
    }
    memcpy(k->keys + k->n++ * klen, key, klen);
    return true;
}

proto_err_t broker_store_count_clear(broker_store_t *self, const char *prefix, size_t klen)
{
    s_keys_t k = { .klen = klen };
    broker_store_kv_scan(self, DB_META, (const uint8_t *) prefix, strlen(prefix), s_key_step, &k);
    proto_err_t rc = k.failed ? PROTO_ERR_NOMEM : PROTO_OK;
    for (size_t i = 0; !rc && i < k.n; i++)
        rc = broker_store_count_put(self, k.keys + i * klen, klen, 0);
    free(k.keys);
    return rc;
}

proto_err_t broker_store_count_add(broker_store_t *self, const void *key, size_t len, int64_t delta)
{
    uint64_t n = broker_store_count_get(self, key, len);
    uint64_t by = delta < 0 ? (uint64_t) -delta : (uint64_t) delta;
    n = delta < 0 ? (n >= by ? n - by : 0) : n + by;
    return broker_store_count_put(self, key, len, n);
}

// ---------------------------------------------------------------------------
//  Flags and counters

proto_err_t broker_store_flag_set(broker_store_t *self, const void *key, size_t len)
{
    uint8_t k[80];
    if (len + 2 > sizeof k)
        return PROTO_ERR_INVALID_ARG;
    k[0] = 'f';
    k[1] = ':';
    memcpy(k + 2, key, len);
    return broker_store_kv_put(self, DB_META, k, len + 2, "", 0);
}

proto_err_t broker_store_flag_get(broker_store_t *self, const void *key, size_t len)
{
    uint8_t k[80];
    broker_store_val_t v;
    if (len + 2 > sizeof k)
        return PROTO_ERR_INVALID_ARG;
    k[0] = 'f';
    k[1] = ':';
    memcpy(k + 2, key, len);
    return broker_store_kv_get(self, DB_META, k, len + 2, &v);
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
    broker_store_val_t v;
    size_t klen = s_counter_key(k, key, len);
    *value = 0;
    if (!klen)
        return PROTO_ERR_INVALID_ARG;
    proto_err_t rc = broker_store_kv_get(self, DB_META, k, klen, &v);
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
    return rc ? rc : broker_store_kv_put(self, DB_META, k, klen, buf, sizeof buf);
}

proto_err_t broker_store_counter_raise(broker_store_t *self, const char *key, uint64_t value)
{
    uint64_t was = 0;
    proto_err_t rc = broker_store_counter_get(self, key, strlen(key), &was);
    if (!rc && value > was)
        rc = broker_store_counter_add(self, key, strlen(key), value - was);
    return rc;
}

uint64_t broker_store_counter_peek(broker_store_t *self, const char *key)
{
    uint64_t value = 0;
    bool own = !broker_store_writing(self);
    if (own && broker_store_read_begin(self) != PROTO_OK)
        return 0;
    if (broker_store_counter_get(self, key, strlen(key), &value) != PROTO_OK)
        value = 0;
    if (own)
        broker_store_read_end(self);
    return value;
}

// ---------------------------------------------------------------------------
//  Quotas, usage, backup

static void s_quota_key(uint8_t key[2 + CODE_LEN], const char *agency)
{
    key[0] = 'q';
    key[1] = ':';
    broker_store_code(key + 2, agency);
}

proto_err_t broker_store_quota_get(broker_store_t *self, const char *agency, uint64_t *documents,
                                   uint64_t *bytes)
{
    uint8_t key[2 + CODE_LEN];
    broker_store_val_t v;
    s_quota_key(key, agency);
    proto_err_t rc = broker_store_kv_get(self, DB_META, key, sizeof key, &v);
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
    return broker_store_kv_put(self, DB_META, key, sizeof key, value, sizeof value);
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
