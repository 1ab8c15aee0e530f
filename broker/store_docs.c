/*  broker/store_docs.c - documents, deliveries, queues and the mailbox.

    The records of a document's life in the broker: the document record and
    its frames, one delivery record per recipient with its entries in the
    recipient's queue and in the expiry index, the retention index that
    purging walks, and the mailbox of routed messages awaiting an ACK. Keys
    and values are laid out with the helpers in store_internal.h; opening
    the store and its transactions are store.c's.
*/
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "proto/store.h"
#include "store_internal.h"

#define DOC_RECORD_LEN 81
#define DLV_RECORD_LEN 25

// ---------------------------------------------------------------------------
//  Documents

static void s_doc_encode(const broker_doc_t *doc, uint8_t out[DOC_RECORD_LEN])
{
    uint8_t *p = out;
    *p++ = 1; // record version
    broker_store_code(p, doc->from);
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
    broker_store_put32le(p, doc->nto);
    p += 4;
    broker_store_put32le(p, doc->open);
    p += 4;
    broker_store_put64le(p, doc->bytes);
}

static proto_err_t s_doc_decode(const proto_id_t *id, const broker_store_val_t *v,
                                broker_doc_t *doc)
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
    doc->nto = broker_store_get32le(p);
    p += 4;
    doc->open = broker_store_get32le(p);
    p += 4;
    doc->bytes = broker_store_get64le(p);
    return PROTO_OK;
}

proto_err_t broker_store_doc_get(broker_store_t *self, const proto_id_t *id, broker_doc_t *out)
{
    broker_store_val_t v;
    proto_err_t rc = broker_store_kv_get(self, DB_DOCS, id->bytes, PROTO_ID_LEN, &v);
    if (rc == PROTO_ERR_NOT_FOUND)
        return PROTO_ERR_UNKNOWN_DOC;
    return rc ? rc : s_doc_decode(id, &v, out);
}

proto_err_t broker_store_doc_update(broker_store_t *self, const broker_doc_t *doc)
{
    uint8_t record[DOC_RECORD_LEN];
    s_doc_encode(doc, record);
    return broker_store_kv_put(self, DB_DOCS, doc->id.bytes, PROTO_ID_LEN, record, sizeof record);
}

static void s_dlv_key(uint8_t key[CODE_LEN + PROTO_ID_LEN], const char *recipient,
                      const proto_id_t *id)
{
    broker_store_code(key, recipient);
    memcpy(key + CODE_LEN, id->bytes, PROTO_ID_LEN);
}

static void s_queue_key(uint8_t key[CODE_LEN + 9], const char *recipient, uint8_t urgency,
                        uint64_t seq)
{
    broker_store_code(key, recipient);
    key[CODE_LEN] = (uint8_t) (3 - (urgency > 3 ? 3 : urgency)); // most urgent first
    broker_store_put64be(key + CODE_LEN + 1, seq);
}

static void s_expiry_key(uint8_t key[8 + CODE_LEN + PROTO_ID_LEN], uint64_t deadline,
                         const char *recipient, const proto_id_t *id)
{
    broker_store_put64be(key, deadline);
    broker_store_code(key + 8, recipient);
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
    broker_store_put32le(p, (uint32_t) count);
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
        rc = broker_store_kv_put(self, DB_DLV, dkey, sizeof dkey, record, sizeof record);
        s_queue_key(qkey, to[i], doc->urgency, doc->seq);
        if (!rc)
            rc =
                broker_store_kv_put(self, DB_QUEUE, qkey, sizeof qkey, doc->id.bytes, PROTO_ID_LEN);
        if (!rc)
            rc = broker_store_waiting_add(self, to[i], doc->urgency, 1);
        s_expiry_key(ekey, dlv.deadline, to[i], &doc->id);
        if (!rc)
            rc = broker_store_kv_put(self, DB_EXPIRY, ekey, sizeof ekey, "", 0);
    }
    return rc;
}

proto_err_t broker_store_frames_get(broker_store_t *self, const proto_id_t *id, const void **frames,
                                    size_t *lens, size_t max, size_t *count)
{
    broker_store_val_t v;
    proto_err_t rc = broker_store_kv_get(self, DB_FRAMES, id->bytes, PROTO_ID_LEN, &v);
    if (rc == PROTO_ERR_NOT_FOUND)
        return PROTO_ERR_UNKNOWN_DOC;
    if (rc)
        return rc;
    const uint8_t *p = v.mv_data, *end = p + v.mv_size;
    if (v.mv_size < 4)
        return PROTO_ERR_STORE;
    uint32_t n = broker_store_get32le(p);
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

// ---------------------------------------------------------------------------
//  Deliveries

proto_err_t broker_store_dlv_get(broker_store_t *self, const char *recipient, const proto_id_t *id,
                                 broker_dlv_t *out)
{
    uint8_t key[CODE_LEN + PROTO_ID_LEN];
    broker_store_val_t v;
    s_dlv_key(key, recipient, id);
    proto_err_t rc = broker_store_kv_get(self, DB_DLV, key, sizeof key, &v);
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

proto_err_t broker_store_doc_finished(broker_store_t *self, const proto_id_t *id, uint64_t time)
{
    uint8_t rkey[8 + PROTO_ID_LEN];
    broker_store_put64be(rkey, time);
    memcpy(rkey + 8, id->bytes, PROTO_ID_LEN);
    return broker_store_kv_put(self, DB_RETIRE, rkey, sizeof rkey, "", 0);
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
        rc = broker_store_kv_del(self, DB_QUEUE, qkey, sizeof qkey);
        if (!rc)
            rc = broker_store_waiting_add(self, recipient, doc.urgency, -1);
        if (!rc)
            rc = broker_store_kv_del(self, DB_EXPIRY, ekey, sizeof ekey);
        if (!rc && doc.open > 0) {
            doc.open--;
            rc = broker_store_doc_update(self, &doc);
            if (!rc && doc.open == 0)
                rc = broker_store_doc_finished(self, id, time);
        }
    }
    dlv.state = (uint8_t) state;
    dlv.time = time;
    uint8_t key[CODE_LEN + PROTO_ID_LEN], record[DLV_RECORD_LEN];
    s_dlv_key(key, recipient, id);
    s_dlv_encode(&dlv, record);
    return rc ? rc : broker_store_kv_put(self, DB_DLV, key, sizeof key, record, sizeof record);
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
    broker_store_code(prefix, recipient);
    s_queue_visit_t q = { fn, arg };
    return broker_store_kv_scan(self, DB_QUEUE, prefix, CODE_LEN, s_queue_step, &q);
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
    if (l->n == l->max || klen != 8 + CODE_LEN + PROTO_ID_LEN ||
        broker_store_get64be(key) > l->limit)
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
    broker_store_kv_scan(self, DB_EXPIRY, NULL, 0, s_expiry_step, &l);
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
    if (l->n == l->max || klen != 8 + PROTO_ID_LEN || broker_store_get64be(key) > l->limit)
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
    broker_store_kv_scan(self, DB_RETIRE, NULL, 0, s_retire_step, &l);
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
    broker_store_kv_scan(self, DB_RETIRE, NULL, 0, s_find_retire, &f);
    if (f.found && (rc = broker_store_kv_del(self, DB_RETIRE, f.key, sizeof f.key)) != PROTO_OK)
        return rc;
    if (doc.purged)
        return PROTO_OK;
    //  Keep the envelope (the first frame, small) so the document can still
    //  be shown; drop the attachments, which hold nearly all the bytes.
    const void *frames[1];
    size_t lens[1], count = 0;
    broker_store_val_t v;
    uint8_t *envelope = NULL;
    size_t envelope_len = 0;
    if (broker_store_kv_get(self, DB_FRAMES, id->bytes, PROTO_ID_LEN, &v) == PROTO_OK &&
        v.mv_size >= 12) {
        const uint8_t *p = v.mv_data;
        uint64_t first = broker_store_get64le(p + 4);
        if (broker_store_get32le(p) >= 1 &&
            first <= v.mv_size - 4 - 8 * (uint64_t) broker_store_get32le(p)) {
            envelope_len = (size_t) first;
            envelope = malloc(envelope_len ? envelope_len : 1);
            if (envelope)
                memcpy(envelope, p + 4 + 8 * (size_t) broker_store_get32le(p), envelope_len);
        }
    }
    rc = broker_store_kv_del(self, DB_FRAMES, id->bytes, PROTO_ID_LEN);
    if (!rc && envelope) {
        frames[0] = envelope;
        lens[0] = envelope_len;
        count = 1;
        size_t total = 4 + 8 + envelope_len;
        void *where = NULL;
        rc = proto_store_reserve(self->kv, DB_FRAMES, id->bytes, PROTO_ID_LEN, total, &where);
        if (!rc) {
            uint8_t *w = where;
            broker_store_put32le(w, (uint32_t) count);
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

// ---------------------------------------------------------------------------
//  Mailbox

proto_err_t broker_store_mid_next(broker_store_t *self, uint64_t *mid)
{
    uint64_t next = broker_store_meta_u64(self, "mid") + 1;
    proto_err_t rc = broker_store_meta_put_u64(self, "mid", next);
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
    broker_store_code(key, agency);
    broker_store_put64be(key + CODE_LEN, mid);
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
    return m->fn(m->arg, broker_store_get64be(key + CODE_LEN), value[0], value + 1, vlen - 1);
}

size_t broker_store_mbox_scan(broker_store_t *self, const char *agency, broker_store_mbox_fn *fn,
                              void *arg)
{
    uint8_t prefix[CODE_LEN];
    broker_store_code(prefix, agency);
    s_mbox_visit_t m = { fn, arg };
    return broker_store_kv_scan(self, DB_MBOX, prefix, CODE_LEN, s_mbox_step, &m);
}

proto_err_t broker_store_mbox_del(broker_store_t *self, const char *agency, uint64_t mid)
{
    uint8_t key[CODE_LEN + 8];
    broker_store_code(key, agency);
    broker_store_put64be(key + CODE_LEN, mid);
    return broker_store_kv_del(self, DB_MBOX, key, sizeof key);
}
