/*  agent/api_ref.c - idempotent sending requests (see api_ref.h).

    A DMS that sends `submit` and dies before it reads the reply cannot know
    whether the document went out. With a client_ref it simply sends the
    same request again: the reference is stored in the transaction that
    queues the message, so either both exist after a crash or neither does,
    and the repeat finds the first message instead of making a second.
*/
#include "api_ref.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "proto/agency.h"
#include "proto/log.h"

// ---------------------------------------------------------------------------
//  Fingerprint

static void s_hash_u64(crypto_generichash_state *st, uint8_t tag, uint64_t value)
{
    uint8_t bytes[9];
    bytes[0] = tag;
    for (int i = 0; i < 8; i++)
        bytes[1 + i] = (uint8_t) (value >> (56 - 8 * i));
    crypto_generichash_update(st, bytes, sizeof bytes);
}

static int s_key_cmp(const void *a, const void *b)
{
    const msgpack_object_kv *x = *(const msgpack_object_kv *const *) a;
    const msgpack_object_kv *y = *(const msgpack_object_kv *const *) b;
    if (x->key.type != y->key.type)
        return x->key.type < y->key.type ? -1 : 1;
    if (x->key.type != MSGPACK_OBJECT_STR)
        return 0;
    uint32_t n =
        x->key.via.str.size < y->key.via.str.size ? x->key.via.str.size : y->key.via.str.size;
    int c = memcmp(x->key.via.str.ptr, y->key.via.str.ptr, n);
    if (c)
        return c;
    return x->key.via.str.size < y->key.via.str.size   ? -1
           : x->key.via.str.size > y->key.via.str.size ? 1
                                                       : 0;
}

//  Every value is hashed with its type and length, so that no two
//  different requests give the same stream of bytes.
static void s_hash_object(crypto_generichash_state *st, const msgpack_object *o, bool top)
{
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
        s_hash_u64(st, 's', o->via.str.size);
        crypto_generichash_update(st, (const uint8_t *) o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        s_hash_u64(st, 'b', o->via.bin.size);
        crypto_generichash_update(st, (const uint8_t *) o->via.bin.ptr, o->via.bin.size);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        s_hash_u64(st, 'u', o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        s_hash_u64(st, 'i', (uint64_t) o->via.i64);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        s_hash_u64(st, 't', o->via.boolean);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: {
        uint64_t bits;
        memcpy(&bits, &o->via.f64, sizeof bits);
        s_hash_u64(st, 'f', bits);
        break;
    }
    case MSGPACK_OBJECT_ARRAY:
        s_hash_u64(st, 'a', o->via.array.size);
        for (uint32_t i = 0; i < o->via.array.size; i++)
            s_hash_object(st, &o->via.array.ptr[i], false);
        break;
    case MSGPACK_OBJECT_MAP: {
        uint32_t n = o->via.map.size;
        const msgpack_object_kv **kv = n ? malloc(n * sizeof *kv) : NULL;
        uint32_t kept = 0;
        for (uint32_t i = 0; kv && i < n; i++) {
            const msgpack_object *key = &o->via.map.ptr[i].key;
            if (top && key->type == MSGPACK_OBJECT_STR && key->via.str.size == 10 &&
                memcmp(key->via.str.ptr, "client_ref", 10) == 0)
                continue;
            kv[kept++] = &o->via.map.ptr[i];
        }
        //  Out of memory: hash in the order given; a repeat in the same
        //  order still matches, and nothing else breaks.
        if (kv)
            qsort(kv, kept, sizeof *kv, s_key_cmp);
        s_hash_u64(st, 'm', kv ? kept : n);
        for (uint32_t i = 0; i < (kv ? kept : n); i++) {
            const msgpack_object_kv *pair = kv ? kv[i] : &o->via.map.ptr[i];
            s_hash_object(st, &pair->key, false);
            s_hash_object(st, &pair->val, false);
        }
        free(kv);
        break;
    }
    default:
        s_hash_u64(st, 'n', 0);
    }
}

void api_ref_fingerprint(const msgpack_object *map, uint8_t out[32])
{
    crypto_generichash_state st;
    static const uint8_t context[] = "truc-agent client_ref v1";
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, context, sizeof context);
    s_hash_object(&st, map, true);
    crypto_generichash_final(&st, out, 32);
}

// ---------------------------------------------------------------------------
//  Requests

static const char *s_state_name(uint8_t state)
{
    return state == SENT_ACCEPTED ? "accepted" : state == SENT_REJECTED ? "rejected" : "queued";
}

//  A client_ref is text a person may read in a log: printable UTF-8.
static bool s_ref_read(api_req_t *req, const msgpack_object *v, api_ref_t *ref)
{
    if (v->type != MSGPACK_OBJECT_STR) {
        api_fail(req, PROTO_ERR_TYPE, "client_ref", "expected a string");
        return false;
    }
    if (v->via.str.size == 0 || v->via.str.size > AGENT_CREF_MAX) {
        api_fail(req, PROTO_ERR_LIMIT, "client_ref", "1 to %d bytes", AGENT_CREF_MAX);
        return false;
    }
    size_t chars;
    if (proto_utf8_check(v->via.str.ptr, v->via.str.size, &chars) != PROTO_OK) {
        api_fail(req, PROTO_ERR_UTF8, "client_ref", "not valid UTF-8");
        return false;
    }
    for (uint32_t i = 0; i < v->via.str.size; i++) {
        unsigned char c = (unsigned char) v->via.str.ptr[i];
        if (c < 0x20 || c == 0x7f) {
            api_fail(req, PROTO_ERR_VALUE, "client_ref", "control characters are not allowed");
            return false;
        }
    }
    memcpy(ref->text, v->via.str.ptr, v->via.str.size);
    ref->len = v->via.str.size;
    ref->given = true;
    return true;
}

bool api_ref_begin(api_req_t *req, const msgpack_object *map, api_ref_t *ref)
{
    agent_t *self = req->self;
    memset(ref, 0, sizeof *ref);
    const msgpack_object *v = api_get(map, "client_ref");
    if (!v || v->type == MSGPACK_OBJECT_NIL)
        return true;
    if (!s_ref_read(req, v, ref))
        return false;
    api_ref_fingerprint(map, ref->fingerprint);
    if (proto_store_begin(self->kv) != PROTO_OK) {
        api_fail(req, PROTO_ERR_STORE, "", "cannot write the store");
        return false;
    }
    agent_cref_t rec;
    agent_sent_t sent;
    proto_err_t rc = agent_store_cref_get(self->kv, ref->text, ref->len, &rec);
    if (rc == PROTO_ERR_NOT_FOUND)
        return true;
    //  A reference whose message is gone (or a record that does not read)
    //  names nothing: the request is new.
    if (rc || agent_store_sent_get(self->kv, &rec.id, &sent) != PROTO_OK)
        return true;
    char id[PROTO_ID_TEXT_LEN];
    proto_id_format(&rec.id, id);
    if (sodium_memcmp(rec.fingerprint, ref->fingerprint, 32) != 0) {
        api_fail(req, PROTO_ERR_DUPLICATE_ID, "client_ref",
                 "already used for another request (%s %s): a new request needs a new reference",
                 proto_kind_name(rec.kind), id);
        return false;
    }
    proto_log_info("event=repeat client_ref=\"%.*s\" doc=%s", (int) ref->len, ref->text, id);
    api_ok(req, 3);
    api_kv_str(&req->pk, rec.kind == PROTO_KIND_STATUS ? "notice" : "id", id);
    api_kv_str(&req->pk, "state", s_state_name(sent.state));
    api_kv_bool(&req->pk, "repeat", true);
    //  After the commit: the first request may be in this very transaction.
    api_reply_send(req, true);
    return false;
}

bool api_ref_find(api_req_t *req, const msgpack_object *map, proto_id_t *id)
{
    api_ref_t ref = { 0 };
    const msgpack_object *v = api_get(map, "client_ref");
    if (!v) {
        api_fail(req, PROTO_ERR_MISSING, "client_ref", "required");
        return false;
    }
    if (!s_ref_read(req, v, &ref))
        return false;
    agent_cref_t rec;
    agent_sent_t sent;
    if (agent_store_cref_get(req->self->kv, ref.text, ref.len, &rec) != PROTO_OK ||
        agent_store_sent_get(req->self->kv, &rec.id, &sent) != PROTO_OK) {
        api_fail(req, PROTO_ERR_UNKNOWN_DOC, "client_ref",
                 "no message was sent with this reference");
        return false;
    }
    *id = rec.id;
    return true;
}

bool api_ref_record(api_req_t *req, const api_ref_t *ref, int kind, const proto_id_t *id)
{
    if (!ref || !ref->given)
        return true;
    agent_cref_t rec = { .kind = (uint8_t) kind, .id = *id, .created = agent_now() };
    memcpy(rec.fingerprint, ref->fingerprint, sizeof rec.fingerprint);
    proto_err_t rc = proto_store_begin(req->self->kv);
    if (!rc)
        rc = agent_store_cref_put(req->self->kv, ref->text, ref->len, &rec);
    if (rc) {
        agent_storage_failed(req->self, rc);
        api_fail(req, rc, "client_ref", "could not record the reference; nothing was queued");
        return false;
    }
    return true;
}

void api_ref_undo(api_req_t *req, const api_ref_t *ref)
{
    if (!ref || !ref->given)
        return;
    //  Deleting shrinks the store, so it does not fail for want of room;
    //  if it failed anyway, the reference names a message that does not
    //  exist, which api_ref_begin treats as unused.
    if (agent_store_cref_del(req->self->kv, ref->text, ref->len) != PROTO_OK)
        proto_log_warning("event=client_ref_kept client_ref=\"%.*s\"", (int) ref->len, ref->text);
}
