/*  broker/store_audit.c - receipts, notices and the audit chain.

    The records that prove what the broker did: the ACCEPTED receipt kept
    for each document (its place in the signed Merkle tree), the notices it
    issued, and the hash-chained audit log with its head in the meta table.
    Keys and values are laid out with the helpers in store_internal.h;
    opening the store and its transactions are store.c's.
*/
#include "store.h"

#include <msgpack.h>
#include <sodium.h>
#include <string.h>

#include "proto/store.h"
#include "store_internal.h"

#define NOTICE_RECORD_LEN (PROTO_ID_LEN + 2 * CODE_LEN + 1 + PROTO_HASH_LEN)

// ---------------------------------------------------------------------------
//  Receipts

//  Receipt record: version 3, head time, head size, root, head log (the
//  batch's place in the transparency log, 0 for none), signature, leaf
//  index, path length, the path, then the signer's name (the rest).
//  Version 2, written before the log existed, is the same without the log.
#define RECEIPT_RECORD_VERSION 3
#define RECEIPT_FIXED_LEN      (1 + 8 + 8 + PROTO_HASH_LEN + 8 + PROTO_SIG_LEN + 8 + 1)

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
    broker_store_put64le(p, head->log);
    p += 8;
    memcpy(p, sig, PROTO_SIG_LEN);
    p += PROTO_SIG_LEN;
    broker_store_put64le(p, item->index);
    p += 8;
    *p++ = (uint8_t) item->npath;
    memcpy(p, item->path, (size_t) item->npath * PROTO_HASH_LEN);
    p += (size_t) item->npath * PROTO_HASH_LEN;
    memcpy(p, head->signer, signer_len);
    p += signer_len;
    return broker_store_kv_put(self, DB_RECEIPTS, id->bytes, PROTO_ID_LEN, record,
                               (size_t) (p - record));
}

proto_err_t broker_store_receipt_get(broker_store_t *self, const proto_id_t *id,
                                     broker_receipt_t *out)
{
    broker_store_val_t v;
    proto_err_t rc = broker_store_kv_get(self, DB_RECEIPTS, id->bytes, PROTO_ID_LEN, &v);
    if (rc)
        return rc;
    const uint8_t *p = v.mv_data, *end = p + v.mv_size;
    bool logged = v.mv_size >= 1 && p[0] == RECEIPT_RECORD_VERSION;
    if (v.mv_size < RECEIPT_FIXED_LEN - (logged ? 0 : 8) || (!logged && p[0] != 2))
        return PROTO_ERR_STORE; // not a record of this layout (an older broker's)
    p++;
    memset(out, 0, sizeof *out);
    out->head.time = broker_store_get64le(p);
    out->head.size = broker_store_get64le(p + 8);
    memcpy(out->head.root, p + 16, PROTO_HASH_LEN);
    p += 16 + PROTO_HASH_LEN;
    if (logged) {
        out->head.log = broker_store_get64le(p);
        p += 8;
    }
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
//  Notices

proto_err_t broker_store_notice_get(broker_store_t *self, const proto_id_t *id,
                                    broker_notice_t *out)
{
    broker_store_val_t v;
    proto_err_t rc = broker_store_kv_get(self, DB_NOTICES, id->bytes, PROTO_ID_LEN, &v);
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
    broker_store_code(p, notice->from);
    p += CODE_LEN;
    broker_store_code(p, notice->to);
    p += CODE_LEN;
    *p++ = notice->code;
    memcpy(p, notice->hash, PROTO_HASH_LEN);
    return broker_store_kv_put(self, DB_NOTICES, id->bytes, PROTO_ID_LEN, record, sizeof record);
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
    broker_store_val_t head;
    if (broker_store_kv_get(self, DB_META, "audit_head", 10, &head) == PROTO_OK &&
        head.mv_size == PROTO_HASH_LEN)
        memcpy(prev, head.mv_data, PROTO_HASH_LEN);
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    if (s_audit_encode(&buf, seq, prev, time, (uint8_t) event, agency, id, detail) != 0) {
        msgpack_sbuffer_destroy(&buf);
        return PROTO_ERR_NOMEM;
    }
    uint8_t hash[PROTO_HASH_LEN], key[8];
    crypto_generichash(hash, sizeof hash, (const uint8_t *) buf.data, buf.size, NULL, 0);
    broker_store_put64be(key, seq);
    proto_err_t rc = broker_store_kv_put(self, DB_AUDIT, key, sizeof key, buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
    if (!rc)
        rc = broker_store_kv_put(self, DB_META, "audit_head", 10, hash, sizeof hash);
    if (!rc)
        rc = broker_store_meta_put_u64(self, "audit_seq", seq);
    return rc;
}

proto_err_t broker_store_audit_append(broker_store_t *self, uint64_t time,
                                      broker_audit_event_t event, const char *agency,
                                      const proto_id_t *id, const char *detail, uint64_t *seq)
{
    uint64_t next = broker_store_meta_u64(self, "audit_seq") + 1;
    proto_err_t rc = s_audit_put(self, next, time, event, agency, id, detail);
    if (!rc && seq)
        *seq = next;
    return rc;
}

proto_err_t broker_store_audit_restored(broker_store_t *self, uint64_t time, uint64_t above,
                                        const char *detail, uint64_t *seq)
{
    uint64_t length = broker_store_meta_u64(self, "audit_seq");
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
    broker_store_val_t v;
    *length = rc ? 0 : broker_store_meta_u64(self, "audit_seq");
    memset(head, 0, PROTO_HASH_LEN);
    if (!rc && *length) {
        rc = broker_store_kv_get(self, DB_META, "audit_head", 10, &v);
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
    broker_store_val_t v;
    broker_store_put64be(key, seq);
    if (!rc)
        rc = broker_store_kv_get(self, DB_AUDIT, key, sizeof key, &v);
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
    return broker_store_meta_u64(self, "audit_seq");
}

//  Decode a stored entry strictly; false if it is not exactly what
//  s_audit_encode writes.
static bool s_audit_decode(const broker_store_val_t *v, broker_audit_entry_t *entry, char *agency,
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
    broker_store_val_t v = { vlen, value };
    //  Numbers run on by one, except into a `restored` entry: a backup put
    //  back continues above every number the broker ever issued, so the
    //  numbers its older store lacks are never given twice.
    bool ok = klen == 8 && s_audit_decode(&v, &entry, agency, sizeof agency, detail, sizeof detail);
    if (ok && entry.seq > w->expect && entry.event == BROKER_AUDIT_RESTORED)
        w->expect = entry.seq;
    if (!ok || broker_store_get64be(key) != w->expect || entry.seq != w->expect ||
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
    broker_store_val_t probe;
    if (broker_store_kv_get(self, DB_META, "audit_seq", 9, &probe) == PROTO_ERR_INTERNAL)
        return PROTO_ERR_INTERNAL; // no transaction open
    s_walk_t w = { .from = from, .expect = 1, .fn = fn, .arg = arg, .go_on = true };
    broker_store_kv_scan(self, DB_AUDIT, NULL, 0, s_walk_step, &w);
    proto_err_t rc = w.broken ? PROTO_ERR_BAD_PROOF : PROTO_OK;
    if (!rc) {
        //  The head must name the last entry, or entries were cut off the end.
        broker_store_val_t head;
        uint64_t length = broker_store_meta_u64(self, "audit_seq");
        if (length != w.expect - 1 ||
            broker_store_kv_get(self, DB_META, "audit_head", 10, &head) != PROTO_OK ||
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

//  One bounded walk (broker_store_audit_range): the links between the
//  entries it visits, nothing before them.
typedef struct {
    uint64_t to, expect, bad, count;
    uint8_t prev[PROTO_HASH_LEN];
    broker_store_audit_range_t *range;
    broker_store_audit_fn *fn;
    void *arg;
    bool go_on, broken;
} s_range_t;

static bool s_range_step(void *arg, const void *key_bytes, size_t klen, const void *value,
                         size_t vlen)
{
    s_range_t *r = arg;
    const uint8_t *key = key_bytes;
    broker_audit_entry_t entry;
    char agency[PROTO_LABEL_MAX + 1], detail[512];
    broker_store_val_t v = { vlen, value };
    if (klen == 8 && broker_store_get64be(key) > r->to)
        return false;
    bool ok = klen == 8 && s_audit_decode(&v, &entry, agency, sizeof agency, detail, sizeof detail);
    uint64_t seq = klen == 8 ? broker_store_get64be(key) : r->expect;
    //  The first entry visited links to something this walk did not see;
    //  every later one must follow it as s_walk_step requires.
    if (ok && r->count > 0 && entry.seq > r->expect && entry.event == BROKER_AUDIT_RESTORED)
        r->expect = entry.seq;
    if (!ok || entry.seq != seq ||
        (r->count > 0 &&
         (seq != r->expect || sodium_memcmp(entry.prev, r->prev, PROTO_HASH_LEN) != 0))) {
        r->broken = true;
        r->bad = r->count > 0 ? r->expect : seq;
        return false;
    }
    if (r->count == 0) {
        r->range->first = seq;
        memcpy(r->range->first_prev, entry.prev, PROTO_HASH_LEN);
    }
    r->range->last = seq;
    memcpy(r->range->last_hash, entry.hash, PROTO_HASH_LEN);
    memcpy(r->prev, entry.hash, PROTO_HASH_LEN);
    r->count++;
    r->expect = seq + 1;
    if (r->fn && !r->fn(r->arg, &entry))
        return false;
    return true;
}

proto_err_t broker_store_audit_range(broker_store_t *self, uint64_t from, uint64_t to,
                                     broker_store_audit_fn *fn, void *arg,
                                     broker_store_audit_range_t *range, uint64_t *bad_seq)
{
    broker_store_val_t probe;
    if (broker_store_kv_get(self, DB_META, "audit_seq", 9, &probe) == PROTO_ERR_INTERNAL)
        return PROTO_ERR_INTERNAL; // no transaction open
    memset(range, 0, sizeof *range);
    if (from > to)
        return PROTO_OK;
    uint8_t key[8];
    broker_store_put64be(key, from);
    s_range_t r = { .to = to, .expect = from, .range = range, .fn = fn, .arg = arg };
    proto_store_scan(self->kv, DB_AUDIT, key, sizeof key, s_range_step, &r);
    if (r.broken) {
        if (bad_seq)
            *bad_seq = r.bad;
        return PROTO_ERR_BAD_PROOF;
    }
    return PROTO_OK;
}
