/*  msg.c - message bodies: strict decoding into structs, encoding back.

    Each kind has a decoder (msgpack object -> struct, every rule of the
    schema checked) and an encoder (struct -> msgpack map). proto_msg_encode
    runs the decoder over what the encoder wrote, so the rules live in one
    place: the decoders.

    Canonical signing bytes are not produced here but in sign.c; wire bodies
    may use any valid msgpack encoding, signatures never depend on it.
*/
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "mp.h"
#include "proto/agency.h"
#include "proto/fname.h"
#include "proto/msg.h"

#define NKEYS(keys) (sizeof(keys) / sizeof((keys)[0]))

// ---------------------------------------------------------------------------
//  Kinds, headers, ids, buffers

typedef struct {
    int kind;
    const char *name;
    int depth; // deepest nesting the schema allows
} s_kind_row_t;

static const s_kind_row_t s_kinds[] = {
    { PROTO_KIND_HELLO, "HELLO", 2 },         { PROTO_KIND_READY, "READY", 1 },
    { PROTO_KIND_HEARTBEAT, "HEARTBEAT", 1 }, { PROTO_KIND_CREDIT, "CREDIT", 1 },
    { PROTO_KIND_SUBMIT, "SUBMIT", 7 },       { PROTO_KIND_REVOKE, "REVOKE", 7 },
    { PROTO_KIND_UPDATE, "UPDATE", 7 },       { PROTO_KIND_REPLACE, "REPLACE", 7 },
    { PROTO_KIND_ACCEPTED, "ACCEPTED", 4 },   { PROTO_KIND_REJECTED, "REJECTED", 4 },
    { PROTO_KIND_EXPIRED, "EXPIRED", 4 },     { PROTO_KIND_DELIVER, "DELIVER", 7 },
    { PROTO_KIND_DELIVERED, "DELIVERED", 4 }, { PROTO_KIND_ACK, "ACK", 2 },
    { PROTO_KIND_STATUS, "STATUS", 3 },       { PROTO_KIND_DIRECTORY, "DIRECTORY", 3 },
    { PROTO_KIND_ERROR, "ERROR", 1 },         { PROTO_KIND_DIRECTORY_DELTA, "DIRECTORY_DELTA", 3 },
};

static const s_kind_row_t *s_kind_row(int kind)
{
    for (size_t i = 0; i < NKEYS(s_kinds); i++)
        if (s_kinds[i].kind == kind)
            return &s_kinds[i];
    return NULL;
}

const char *proto_kind_name(int kind)
{
    const s_kind_row_t *row = s_kind_row(kind);
    return row ? row->name : NULL;
}

bool proto_kind_has_document(int kind)
{
    return kind == PROTO_KIND_SUBMIT || kind == PROTO_KIND_REVOKE || kind == PROTO_KIND_UPDATE ||
           kind == PROTO_KIND_REPLACE || kind == PROTO_KIND_DELIVER;
}

static bool s_kind_is_receipts(int kind)
{
    return kind == PROTO_KIND_ACCEPTED || kind == PROTO_KIND_REJECTED ||
           kind == PROTO_KIND_EXPIRED || kind == PROTO_KIND_DELIVERED;
}

size_t proto_body_limit(int kind)
{
    return kind == PROTO_KIND_DIRECTORY || kind == PROTO_KIND_DIRECTORY_DELTA
               ? PROTO_MAX_DIRECTORY_BODY
               : PROTO_MAX_BODY;
}

proto_err_t proto_header_parse(const void *data, size_t len, uint8_t *version, int *kind)
{
    const uint8_t *p = data;
    if (!p || len != PROTO_HEADER_LEN || p[0] != PROTO_MAGIC0 || p[1] != PROTO_MAGIC1)
        return PROTO_ERR_FRAMING;
    *version = p[2];
    *kind = p[3];
    if (p[2] != PROTO_VERSION)
        return PROTO_ERR_VERSION;
    if (!s_kind_row(p[3]))
        return PROTO_ERR_KIND;
    return PROTO_OK;
}

void proto_header_write(uint8_t out[PROTO_HEADER_LEN], proto_kind_t kind)
{
    out[0] = PROTO_MAGIC0;
    out[1] = PROTO_MAGIC1;
    out[2] = PROTO_VERSION;
    out[3] = (uint8_t) kind;
}

void proto_id_format(const proto_id_t *id, char out[PROTO_ID_TEXT_LEN])
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (int i = 0; i < PROTO_ID_LEN; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[n++] = '-';
        out[n++] = hex[id->bytes[i] >> 4];
        out[n++] = hex[id->bytes[i] & 15];
    }
    out[n] = '\0';
}

static int s_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

proto_err_t proto_id_parse(const char *text, proto_id_t *id)
{
    if (!text)
        return PROTO_ERR_VALUE;
    size_t len = strlen(text);
    bool dashed = len == 36;
    if (len != 32 && !dashed)
        return PROTO_ERR_VALUE;
    proto_id_t out;
    size_t pos = 0;
    for (int i = 0; i < PROTO_ID_LEN; i++) {
        if (dashed && (i == 4 || i == 6 || i == 8 || i == 10)) {
            if (text[pos] != '-')
                return PROTO_ERR_VALUE;
            pos++;
        }
        int hi = s_hexval(text[pos]), lo = s_hexval(text[pos + 1]);
        if (hi < 0 || lo < 0)
            return PROTO_ERR_VALUE;
        out.bytes[i] = (uint8_t) (hi << 4 | lo);
        pos += 2;
    }
    *id = out;
    return PROTO_OK;
}

void proto_id_new(proto_id_t *id)
{
    //  A version-7 UUID (RFC 9562): 48 bits of Unix time in ms, big-endian,
    //  then random bits. Ids made later sort later, so the tables a broker
    //  keys by id grow at their end instead of at random pages.
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
    randombytes_buf(id->bytes, PROTO_ID_LEN);
    for (int i = 0; i < 6; i++)
        id->bytes[i] = (uint8_t) (ms >> (40 - 8 * i));
    id->bytes[6] = (uint8_t) ((id->bytes[6] & 0x0f) | 0x70); // version 7
    id->bytes[8] = (uint8_t) ((id->bytes[8] & 0x3f) | 0x80); // RFC 4122 variant
}

void proto_id_random(proto_id_t *id)
{
    randombytes_buf(id->bytes, PROTO_ID_LEN);
    id->bytes[6] = (uint8_t) ((id->bytes[6] & 0x0f) | 0x40); // version 4
    id->bytes[8] = (uint8_t) ((id->bytes[8] & 0x3f) | 0x80); // RFC 4122 variant
}

void proto_buf_init(proto_buf_t *buf)
{
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

void proto_buf_reset(proto_buf_t *buf)
{
    buf->len = 0;
}

void proto_buf_free(proto_buf_t *buf)
{
    free(buf->data);
    proto_buf_init(buf);
}

proto_err_t proto_buf_append(proto_buf_t *buf, const void *data, size_t len)
{
    if (len > SIZE_MAX - buf->len)
        return PROTO_ERR_NOMEM;
    if (buf->len + len > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 256;
        while (cap < buf->len + len)
            cap = cap > SIZE_MAX / 2 ? buf->len + len : cap * 2;
        uint8_t *grown = realloc(buf->data, cap);
        if (!grown)
            return PROTO_ERR_NOMEM;
        buf->data = grown;
        buf->cap = cap;
    }
    if (len)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    return PROTO_OK;
}

void proto_attachment_hash(proto_attachment_t *att, const void *data, size_t len)
{
    att->size = len;
    crypto_generichash(att->hash, PROTO_HASH_LEN, data, len, NULL, 0);
}

proto_err_t proto_attachment_check(const proto_attachment_t *att, const void *data, size_t len)
{
    uint8_t hash[PROTO_HASH_LEN];
    if (att->size != len)
        return PROTO_ERR_HASH_MISMATCH;
    crypto_generichash(hash, sizeof hash, data, len, NULL, 0);
    return sodium_memcmp(hash, att->hash, sizeof hash) == 0 ? PROTO_OK : PROTO_ERR_HASH_MISMATCH;
}

// ---------------------------------------------------------------------------
//  Shared field helpers

static proto_err_t s_id(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                        proto_id_t *out)
{
    return mp_bin(ctx, name, v, required, PROTO_ID_LEN, out->bytes);
}

static proto_err_t s_u8(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                        uint64_t min, uint64_t max, uint8_t *out)
{
    uint64_t value = *out;
    proto_err_t rc = mp_uint(ctx, name, v, required, min, max, &value);
    *out = (uint8_t) value;
    return rc;
}

static proto_err_t s_u32(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                         uint64_t min, uint64_t max, uint32_t *out)
{
    uint64_t value = *out;
    proto_err_t rc = mp_uint(ctx, name, v, required, min, max, &value);
    *out = (uint32_t) value;
    return rc;
}

//  An array of agency codes with no repeats.
static proto_err_t s_agency_list(mp_ctx_t *ctx, const char *name, const msgpack_object *v,
                                 bool required, uint32_t max, const char ***out, uint32_t *count)
{
    const msgpack_object *items;
    proto_err_t rc = mp_array(ctx, name, v, required, required ? 1 : 0, max, &items, count);
    if (rc || *count == 0)
        return rc;
    const char **list;
    if ((rc = mp_alloc(ctx, *count, sizeof *list, &list)))
        return rc;
    size_t mark = mp_path_push(ctx, name);
    for (uint32_t i = 0; i < *count && !rc; i++) {
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = mp_agency(ctx, NULL, &items[i], true, &list[i]);
        for (uint32_t j = 0; j < i && !rc; j++)
            if (strcmp(list[j], list[i]) == 0)
                rc = mp_fail(ctx, PROTO_ERR_VALUE, NULL, "repeats agency %s", list[i]);
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    *out = list;
    return rc;
}

//  An array of texts.
static proto_err_t s_text_list(mp_ctx_t *ctx, const char *name, const msgpack_object *v,
                               uint32_t max, size_t max_chars, const char ***out, uint32_t *count)
{
    const msgpack_object *items;
    proto_err_t rc = mp_array(ctx, name, v, false, 0, max, &items, count);
    if (rc || *count == 0)
        return rc;
    const char **list;
    if ((rc = mp_alloc(ctx, *count, sizeof *list, &list)))
        return rc;
    size_t mark = mp_path_push(ctx, name);
    for (uint32_t i = 0; i < *count && !rc; i++) {
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = mp_text(ctx, NULL, &items[i], true, max_chars, &list[i]);
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    *out = list;
    return rc;
}

// ---------------------------------------------------------------------------
//  The document envelope

static const char *const s_doc_keys[] = {
    "id",        "from",     "to",         "created", "type",         "subject",
    "number",    "notation", "place",      "date",    "due",          "content",
    "sphere",    "typist",   "signer",     "urgency", "secrecy",      "steering",
    "pages",     "copies",   "appendixes", "places",  "response_for", "op",
    "op_reason", "op_refs",  "trace",      "ext",     "att",
};
enum {
    D_ID,
    D_FROM,
    D_TO,
    D_CREATED,
    D_TYPE,
    D_SUBJECT,
    D_NUMBER,
    D_NOTATION,
    D_PLACE,
    D_DATE,
    D_DUE,
    D_CONTENT,
    D_SPHERE,
    D_TYPIST,
    D_SIGNER,
    D_URGENCY,
    D_SECRECY,
    D_STEERING,
    D_PAGES,
    D_COPIES,
    D_APPENDIXES,
    D_PLACES,
    D_RESPONSE_FOR,
    D_OP,
    D_OP_REASON,
    D_OP_REFS,
    D_TRACE,
    D_EXT,
    D_ATT
};

static const char *const s_signer_keys[] = { "name", "position", "competence" };
static const char *const s_ref_keys[] = { "agency", "code", "date", "doc" };
static const char *const s_hop_keys[] = { "agency", "time" };
static const char *const s_att_keys[] = { "name", "type", "size", "hash", "enc" };
static const char *const s_enc_keys[] = { "alg", "header", "chunk", "keys" };
static const char *const s_sealed_keys[] = { "agency", "key" };

#define PROTO_ENC_ALG "xchacha20poly1305-secretstream+sealbox"

static proto_err_t s_signer(mp_ctx_t *ctx, const msgpack_object *v, proto_signer_t *out)
{
    const msgpack_object *f[NKEYS(s_signer_keys)];
    if (!v)
        return PROTO_OK;
    size_t mark = mp_path_push(ctx, "signer");
    proto_err_t rc = mp_map(ctx, v, s_signer_keys, NKEYS(s_signer_keys), f);
    if (!rc)
        rc = mp_text(ctx, "name", f[0], false, PROTO_MAX_SHORT, &out->name);
    if (!rc)
        rc = mp_text(ctx, "position", f[1], false, PROTO_MAX_NAME, &out->position);
    if (!rc)
        rc = mp_text(ctx, "competence", f[2], false, PROTO_MAX_SHORT, &out->competence);
    mp_path_pop(ctx, mark);
    return rc;
}

//  Decode an optional array of maps: allocate count elements of size bytes,
//  point *out_ptr at them, and run fn on each with its path pushed.
typedef proto_err_t(s_item_fn)(mp_ctx_t *ctx, const msgpack_object *item, void *elem, void *arg);

static proto_err_t s_list(mp_ctx_t *ctx, const char *name, const msgpack_object *v, uint32_t max,
                          size_t size, void *out_ptr, uint32_t *count, s_item_fn *fn, void *arg)
{
    const msgpack_object *items;
    char *elems;
    proto_err_t rc = mp_array(ctx, name, v, false, 0, max, &items, count);
    if (rc || !*count)
        return rc;
    if ((rc = mp_alloc(ctx, *count, size, &elems)))
        return rc;
    memcpy(out_ptr, &elems, sizeof elems);
    size_t mark = mp_path_push(ctx, name);
    for (uint32_t i = 0; i < *count && !rc; i++) {
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = fn(ctx, &items[i], elems + i * size, arg);
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    return rc;
}

static proto_err_t s_ref_item(mp_ctx_t *ctx, const msgpack_object *item, void *elem, void *arg)
{
    const msgpack_object *f[NKEYS(s_ref_keys)];
    proto_ref_t *ref = elem;
    (void) arg;
    proto_err_t rc = mp_map(ctx, item, s_ref_keys, NKEYS(s_ref_keys), f);
    if (!rc)
        rc = mp_agency(ctx, "agency", f[0], true, &ref->agency);
    if (!rc)
        rc = mp_text(ctx, "code", f[1], false, PROTO_MAX_SHORT, &ref->code);
    if (!rc)
        rc = mp_date(ctx, "date", f[2], false, &ref->date);
    if (!rc && f[3]) {
        ref->has_doc = true;
        rc = s_id(ctx, "doc", f[3], true, &ref->doc);
    }
    return rc;
}

static proto_err_t s_hop_item(mp_ctx_t *ctx, const msgpack_object *item, void *elem, void *arg)
{
    const msgpack_object *f[NKEYS(s_hop_keys)];
    proto_hop_t *hop = elem;
    (void) arg;
    proto_err_t rc = mp_map(ctx, item, s_hop_keys, NKEYS(s_hop_keys), f);
    if (!rc)
        rc = mp_agency(ctx, "agency", f[0], true, &hop->agency);
    if (!rc)
        rc = mp_uint(ctx, "time", f[1], true, 0, UINT64_MAX, &hop->time);
    return rc;
}

static bool s_ext_key_valid(const msgpack_object *key)
{
    if (key->type != MSGPACK_OBJECT_STR || key->via.str.size == 0 ||
        key->via.str.size > PROTO_MAX_EXT_KEY)
        return false;
    for (uint32_t i = 0; i < key->via.str.size; i++) {
        char c = key->via.str.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static proto_err_t s_ext(mp_ctx_t *ctx, const msgpack_object *v, proto_doc_t *doc)
{
    if (!v)
        return PROTO_OK;
    size_t mark = mp_path_push(ctx, "ext");
    proto_err_t rc = PROTO_OK;
    if (v->type != MSGPACK_OBJECT_MAP)
        rc = mp_fail(ctx, PROTO_ERR_TYPE, NULL, "expected map of string to string");
    else if (v->via.map.size > PROTO_MAX_EXT)
        rc = mp_fail(ctx, PROTO_ERR_LIMIT, NULL, "%u entries, limit %d", v->via.map.size,
                     PROTO_MAX_EXT);
    if (!rc && v->via.map.size) {
        doc->next = v->via.map.size;
        rc = mp_alloc(ctx, doc->next, sizeof(proto_kv_t), &doc->ext);
    }
    for (uint32_t i = 0; !rc && i < doc->next; i++) {
        const msgpack_object_kv *kv = &v->via.map.ptr[i];
        if (!s_ext_key_valid(&kv->key)) {
            rc = mp_fail(ctx, kv->key.type == MSGPACK_OBJECT_STR ? PROTO_ERR_VALUE : PROTO_ERR_TYPE,
                         NULL, "key %u must be 1..%d bytes of [a-z0-9._-]", i, PROTO_MAX_EXT_KEY);
            break;
        }
        doc->ext[i].key =
            proto_arena_strndup(ctx->arena, kv->key.via.str.ptr, kv->key.via.str.size);
        if (!doc->ext[i].key) {
            rc = mp_fail(ctx, PROTO_ERR_NOMEM, NULL, "out of memory");
            break;
        }
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(doc->ext[j].key, doc->ext[i].key) == 0)
                rc = mp_fail(ctx, PROTO_ERR_DUP_FIELD, doc->ext[i].key, "key appears twice");
        if (!rc)
            rc = mp_text(ctx, doc->ext[i].key, &kv->val, true, PROTO_MAX_EXT_VALUE,
                         &doc->ext[i].value);
    }
    mp_path_pop(ctx, mark);
    return rc;
}

static proto_err_t s_enc(mp_ctx_t *ctx, const msgpack_object *v, const proto_doc_t *doc,
                         proto_attachment_t *att)
{
    const msgpack_object *f[NKEYS(s_enc_keys)];
    proto_enc_t *enc;
    proto_err_t rc = mp_alloc(ctx, 1, sizeof *enc, &enc);
    if (rc)
        return rc;
    size_t mark = mp_path_push(ctx, "enc");
    rc = mp_map(ctx, v, s_enc_keys, NKEYS(s_enc_keys), f);
    if (!rc)
        rc = mp_ascii(ctx, "alg", f[0], true, PROTO_MAX_SHORT, &enc->alg);
    if (!rc && strcmp(enc->alg, PROTO_ENC_ALG) != 0)
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "alg", "unknown algorithm");
    if (!rc)
        rc = mp_bin(ctx, "header", f[1], true, sizeof enc->header, enc->header);
    if (!rc)
        rc = s_u32(ctx, "chunk", f[2], true, 1024, 1u << 24, &enc->chunk);
    const msgpack_object *items = NULL;
    if (!rc)
        rc = mp_array(ctx, "keys", f[3], true, 1, PROTO_MAX_RECIPIENTS, &items, &enc->nkeys);
    if (!rc)
        rc = mp_alloc(ctx, enc->nkeys, sizeof(proto_sealed_key_t), &enc->keys);
    size_t mark_keys = mp_path_push(ctx, "keys");
    for (uint32_t i = 0; !rc && i < enc->nkeys; i++) {
        const msgpack_object *g[NKEYS(s_sealed_keys)];
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = mp_map(ctx, &items[i], s_sealed_keys, NKEYS(s_sealed_keys), g);
        if (!rc)
            rc = mp_agency(ctx, "agency", g[0], true, &enc->keys[i].agency);
        if (!rc)
            rc = mp_bin(ctx, "key", g[1], true, PROTO_SEALED_KEY_LEN, enc->keys[i].sealed);
        //  One sealed key per recipient, each recipient once.
        bool listed = false;
        for (uint32_t t = 0; !rc && t < doc->nto; t++)
            listed |= strcmp(doc->to[t], enc->keys[i].agency) == 0;
        if (!rc && !listed)
            rc = mp_fail(ctx, PROTO_ERR_VALUE, "agency", "not a recipient of the document");
        for (uint32_t j = 0; !rc && j < i; j++)
            if (strcmp(enc->keys[j].agency, enc->keys[i].agency) == 0)
                rc = mp_fail(ctx, PROTO_ERR_VALUE, "agency", "sealed twice to the same agency");
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark_keys);
    if (!rc && enc->nkeys != doc->nto)
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "keys", "%u keys for %u recipients", enc->nkeys,
                     doc->nto);
    mp_path_pop(ctx, mark);
    att->enc = enc;
    return rc;
}

static proto_err_t s_att_item(mp_ctx_t *ctx, const msgpack_object *item, void *elem, void *arg)
{
    const msgpack_object *f[NKEYS(s_att_keys)];
    proto_attachment_t *att = elem;
    proto_err_t rc = mp_map(ctx, item, s_att_keys, NKEYS(s_att_keys), f);
    if (!rc)
        rc = mp_text(ctx, "name", f[0], true, PROTO_MAX_NAME, &att->name);
    const char *why = NULL;
    if (!rc && (rc = proto_fname_check(att->name, strlen(att->name), &why)))
        rc = mp_fail(ctx, rc, "name", "%s", why);
    if (!rc)
        rc = mp_ascii(ctx, "type", f[1], true, PROTO_MAX_MEDIA_TYPE, &att->type);
    if (!rc && !strchr(att->type, '/'))
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "type", "not a media type (type/subtype)");
    if (!rc)
        rc = mp_uint(ctx, "size", f[2], true, 0, PROTO_MAX_ATTACHMENT_SIZE, &att->size);
    if (!rc)
        rc = mp_bin(ctx, "hash", f[3], true, PROTO_HASH_LEN, att->hash);
    if (!rc && f[4])
        rc = s_enc(ctx, f[4], arg, att);
    return rc;
}

//  Two attachments may not be one file once fetched (proto/fname.h); the
//  second of a pair is the one reported.
static proto_err_t s_att_names_differ(mp_ctx_t *ctx, const proto_doc_t *doc)
{
    const char *names[PROTO_MAX_ATTACHMENTS];
    for (uint32_t i = 0; i < doc->natt; i++)
        names[i] = doc->att[i].name;
    size_t first = 0, second = 0;
    proto_err_t rc = proto_fname_find_twice(names, doc->natt, &first, &second);
    if (!rc)
        return PROTO_OK;
    if (rc != PROTO_ERR_DUP_NAME)
        return mp_fail(ctx, rc, "att", "cannot compare the attachment names");
    size_t mark = mp_path_push(ctx, "att");
    mp_path_push_index(ctx, (uint32_t) second);
    rc = mp_fail(ctx, rc, "name", "the same file name as att[%zu] (case and Unicode form ignored)",
                 first);
    mp_path_pop(ctx, mark);
    return rc;
}

static proto_err_t s_doc_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_doc_t *doc)
{
    const msgpack_object *f[NKEYS(s_doc_keys)];
    size_t mark = mp_path_push(ctx, "doc");
    proto_err_t rc = mp_map(ctx, o, s_doc_keys, NKEYS(s_doc_keys), f);
    if (!rc)
        rc = s_id(ctx, "id", f[D_ID], true, &doc->id);
    if (!rc)
        rc = mp_agency(ctx, "from", f[D_FROM], true, &doc->from);
    if (!rc)
        rc = s_agency_list(ctx, "to", f[D_TO], true, PROTO_MAX_RECIPIENTS, &doc->to, &doc->nto);
    for (uint32_t i = 0; !rc && i < doc->nto; i++)
        if (strcmp(doc->to[i], doc->from) == 0)
            rc = mp_fail(ctx, PROTO_ERR_VALUE, "to", "the sender cannot be a recipient");
    if (!rc)
        rc = mp_uint(ctx, "created", f[D_CREATED], true, 0, UINT64_MAX, &doc->created);
    if (!rc)
        rc = mp_text(ctx, "type", f[D_TYPE], true, PROTO_MAX_SHORT, &doc->doc_type);
    if (!rc)
        rc = mp_text(ctx, "subject", f[D_SUBJECT], true, PROTO_MAX_SUBJECT, &doc->subject);
    if (!rc)
        rc = mp_text(ctx, "number", f[D_NUMBER], false, PROTO_MAX_SHORT, &doc->code_number);
    if (!rc)
        rc = mp_text(ctx, "notation", f[D_NOTATION], false, PROTO_MAX_SHORT, &doc->code_notation);
    if (!rc)
        rc = mp_text(ctx, "place", f[D_PLACE], false, PROTO_MAX_NAME, &doc->place);
    if (!rc)
        rc = mp_date(ctx, "date", f[D_DATE], false, &doc->date);
    if (!rc)
        rc = mp_date(ctx, "due", f[D_DUE], false, &doc->due);
    if (!rc)
        rc = mp_text(ctx, "content", f[D_CONTENT], false, PROTO_MAX_CONTENT, &doc->content);
    if (!rc)
        rc = mp_text(ctx, "sphere", f[D_SPHERE], false, PROTO_MAX_NAME, &doc->sphere);
    if (!rc)
        rc = mp_text(ctx, "typist", f[D_TYPIST], false, PROTO_MAX_SHORT, &doc->typist);
    if (!rc)
        rc = s_signer(ctx, f[D_SIGNER], &doc->signer);
    if (!rc)
        rc = s_u8(ctx, "urgency", f[D_URGENCY], false, 0, 3, &doc->urgency);
    if (!rc)
        rc = s_u8(ctx, "secrecy", f[D_SECRECY], false, 0, 3, &doc->secrecy);
    if (!rc)
        rc = s_u8(ctx, "steering", f[D_STEERING], false, 0, 255, &doc->steering);
    if (!rc)
        rc = s_u32(ctx, "pages", f[D_PAGES], false, 1, 1000000, &doc->pages);
    if (!rc)
        rc = s_u32(ctx, "copies", f[D_COPIES], false, 1, 1000000, &doc->copies);
    if (!rc)
        rc = s_u32(ctx, "appendixes", f[D_APPENDIXES], false, 1, 1000000, &doc->appendixes);
    if (!rc)
        rc = s_text_list(ctx, "places", f[D_PLACES], PROTO_MAX_PLACES, PROTO_MAX_NAME, &doc->places,
                         &doc->nplaces);
    if (!rc)
        rc = s_list(ctx, "response_for", f[D_RESPONSE_FOR], PROTO_MAX_REFS, sizeof(proto_ref_t),
                    &doc->response_for, &doc->nresponse_for, s_ref_item, NULL);
    if (!rc)
        rc = s_u8(ctx, "op", f[D_OP], false, 0, 3, &doc->op);
    if (!rc)
        rc = mp_text(ctx, "op_reason", f[D_OP_REASON], doc->op != PROTO_OP_NEW, PROTO_MAX_TEXT,
                     &doc->op_reason);
    const msgpack_object *refs = NULL;
    if (!rc)
        rc = mp_array(ctx, "op_refs", f[D_OP_REFS], doc->op != PROTO_OP_NEW, 1, PROTO_MAX_REFS,
                      &refs, &doc->nop_refs);
    if (!rc && doc->op == PROTO_OP_NEW && (doc->op_reason || doc->nop_refs))
        rc = mp_fail(ctx, PROTO_ERR_VALUE, doc->op_reason ? "op_reason" : "op_refs",
                     "only allowed when op is revoke, update or replace");
    if (!rc && doc->nop_refs)
        rc = mp_alloc(ctx, doc->nop_refs, sizeof(proto_id_t), &doc->op_refs);
    if (!rc && doc->nop_refs) {
        size_t mark_refs = mp_path_push(ctx, "op_refs");
        for (uint32_t i = 0; !rc && i < doc->nop_refs; i++) {
            size_t mark_i = mp_path_push_index(ctx, i);
            rc = s_id(ctx, NULL, &refs[i], true, &doc->op_refs[i]);
            if (!rc && sodium_memcmp(doc->op_refs[i].bytes, doc->id.bytes, PROTO_ID_LEN) == 0)
                rc = mp_fail(ctx, PROTO_ERR_VALUE, NULL, "a document cannot act on itself");
            mp_path_pop(ctx, mark_i);
        }
        mp_path_pop(ctx, mark_refs);
    }
    if (!rc)
        rc = s_list(ctx, "trace", f[D_TRACE], PROTO_MAX_TRACE, sizeof(proto_hop_t), &doc->trace,
                    &doc->ntrace, s_hop_item, NULL);
    if (!rc)
        rc = s_ext(ctx, f[D_EXT], doc);
    if (!rc)
        rc = s_list(ctx, "att", f[D_ATT], PROTO_MAX_ATTACHMENTS, sizeof(proto_attachment_t),
                    &doc->att, &doc->natt, s_att_item, doc);
    if (!rc)
        rc = s_att_names_differ(ctx, doc);
    mp_path_pop(ctx, mark);
    return rc;
}

static void s_doc_encode(mp_writer_t *w, const proto_doc_t *doc)
{
    uint32_t n = 0;
    size_t map = mp_map_begin(w);
    mp_f_bin(w, &n, "id", doc->id.bytes, PROTO_ID_LEN);
    mp_f_str(w, &n, "from", doc->from);
    mp_f_key(w, &n, "to");
    mp_w_array(w, doc->nto);
    for (uint32_t i = 0; i < doc->nto; i++)
        mp_w_str(w, doc->to[i]);
    mp_f_uint(w, &n, "created", doc->created);
    mp_f_str(w, &n, "type", doc->doc_type);
    mp_f_str(w, &n, "subject", doc->subject);
    mp_f_str(w, &n, "number", doc->code_number);
    mp_f_str(w, &n, "notation", doc->code_notation);
    mp_f_str(w, &n, "place", doc->place);
    mp_f_str(w, &n, "date", doc->date);
    mp_f_str(w, &n, "due", doc->due);
    mp_f_str(w, &n, "content", doc->content);
    mp_f_str(w, &n, "sphere", doc->sphere);
    mp_f_str(w, &n, "typist", doc->typist);
    const proto_signer_t *s = &doc->signer;
    if (s->name || s->position || s->competence) {
        uint32_t m = 0;
        mp_f_key(w, &n, "signer");
        size_t sub = mp_map_begin(w);
        mp_f_str(w, &m, "name", s->name);
        mp_f_str(w, &m, "position", s->position);
        mp_f_str(w, &m, "competence", s->competence);
        mp_map_end(w, sub, m);
    }
    mp_f_uint_opt(w, &n, "urgency", doc->urgency);
    mp_f_uint_opt(w, &n, "secrecy", doc->secrecy);
    mp_f_uint_opt(w, &n, "steering", doc->steering);
    mp_f_uint_opt(w, &n, "pages", doc->pages);
    mp_f_uint_opt(w, &n, "copies", doc->copies);
    mp_f_uint_opt(w, &n, "appendixes", doc->appendixes);
    if (doc->nplaces) {
        mp_f_key(w, &n, "places");
        mp_w_array(w, doc->nplaces);
        for (uint32_t i = 0; i < doc->nplaces; i++)
            mp_w_str(w, doc->places[i]);
    }
    if (doc->nresponse_for) {
        mp_f_key(w, &n, "response_for");
        mp_w_array(w, doc->nresponse_for);
        for (uint32_t i = 0; i < doc->nresponse_for; i++) {
            const proto_ref_t *ref = &doc->response_for[i];
            uint32_t m = 0;
            size_t sub = mp_map_begin(w);
            mp_f_str(w, &m, "agency", ref->agency);
            mp_f_str(w, &m, "code", ref->code);
            mp_f_str(w, &m, "date", ref->date);
            if (ref->has_doc)
                mp_f_bin(w, &m, "doc", ref->doc.bytes, PROTO_ID_LEN);
            mp_map_end(w, sub, m);
        }
    }
    mp_f_uint_opt(w, &n, "op", doc->op);
    mp_f_str(w, &n, "op_reason", doc->op_reason);
    if (doc->nop_refs) {
        mp_f_key(w, &n, "op_refs");
        mp_w_array(w, doc->nop_refs);
        for (uint32_t i = 0; i < doc->nop_refs; i++)
            mp_w_bin(w, doc->op_refs[i].bytes, PROTO_ID_LEN);
    }
    if (doc->ntrace) {
        mp_f_key(w, &n, "trace");
        mp_w_array(w, doc->ntrace);
        for (uint32_t i = 0; i < doc->ntrace; i++) {
            uint32_t m = 0;
            size_t sub = mp_map_begin(w);
            mp_f_str(w, &m, "agency", doc->trace[i].agency);
            mp_f_uint(w, &m, "time", doc->trace[i].time);
            mp_map_end(w, sub, m);
        }
    }
    if (doc->next) {
        uint32_t m = 0;
        mp_f_key(w, &n, "ext");
        size_t sub = mp_map_begin(w);
        for (uint32_t i = 0; i < doc->next; i++)
            mp_f_str(w, &m, doc->ext[i].key, doc->ext[i].value ? doc->ext[i].value : "");
        mp_map_end(w, sub, m);
    }
    if (doc->natt) {
        mp_f_key(w, &n, "att");
        mp_w_array(w, doc->natt);
        for (uint32_t i = 0; i < doc->natt; i++) {
            const proto_attachment_t *att = &doc->att[i];
            uint32_t m = 0;
            size_t sub = mp_map_begin(w);
            mp_f_str(w, &m, "name", att->name);
            mp_f_str(w, &m, "type", att->type);
            mp_f_uint(w, &m, "size", att->size);
            mp_f_bin(w, &m, "hash", att->hash, PROTO_HASH_LEN);
            if (att->enc) {
                const proto_enc_t *enc = att->enc;
                uint32_t e = 0;
                mp_f_key(w, &m, "enc");
                size_t sub_enc = mp_map_begin(w);
                mp_f_str(w, &e, "alg", enc->alg);
                mp_f_bin(w, &e, "header", enc->header, sizeof enc->header);
                mp_f_uint(w, &e, "chunk", enc->chunk);
                mp_f_key(w, &e, "keys");
                mp_w_array(w, enc->nkeys);
                for (uint32_t k = 0; k < enc->nkeys; k++) {
                    uint32_t q = 0;
                    size_t sub_key = mp_map_begin(w);
                    mp_f_str(w, &q, "agency", enc->keys[k].agency);
                    mp_f_bin(w, &q, "key", enc->keys[k].sealed, PROTO_SEALED_KEY_LEN);
                    mp_map_end(w, sub_key, q);
                }
                mp_map_end(w, sub_enc, e);
            }
            mp_map_end(w, sub, m);
        }
    }
    mp_map_end(w, map, n);
}

// ---------------------------------------------------------------------------
//  Document-carrying kinds

static const char *const s_document_keys[] = { "doc", "sig", "accepted", "seq" };

static proto_err_t s_document_decode(mp_ctx_t *ctx, int kind, const msgpack_object *o,
                                     proto_document_t *out)
{
    const msgpack_object *f[NKEYS(s_document_keys)];
    bool deliver = kind == PROTO_KIND_DELIVER;
    //  Only DELIVER has the broker's acceptance fields.
    proto_err_t rc = mp_map(ctx, o, s_document_keys, deliver ? 4 : 2, f);
    if (!rc)
        rc = mp_bin(ctx, "sig", f[1], true, PROTO_SIG_LEN, out->sig);
    if (!rc && !f[0])
        rc = mp_fail(ctx, PROTO_ERR_MISSING, "doc", "required field missing");
    if (!rc)
        rc = s_doc_decode(ctx, f[0], &out->doc);
    if (!rc && deliver)
        rc = mp_uint(ctx, "accepted", f[2], true, 0, UINT64_MAX, &out->accepted);
    if (!rc && deliver)
        rc = mp_uint(ctx, "seq", f[3], true, 1, UINT64_MAX, &out->seq);
    static const uint8_t op_of_kind[] = { [PROTO_KIND_SUBMIT - 10] = PROTO_OP_NEW,
                                          [PROTO_KIND_REVOKE - 10] = PROTO_OP_REVOKE,
                                          [PROTO_KIND_UPDATE - 10] = PROTO_OP_UPDATE,
                                          [PROTO_KIND_REPLACE - 10] = PROTO_OP_REPLACE };
    if (!rc && !deliver && out->doc.op != op_of_kind[kind - 10])
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "doc.op", "operation %u does not match kind %s",
                     out->doc.op, proto_kind_name(kind));
    return rc;
}

static void s_document_encode(mp_writer_t *w, int kind, const proto_document_t *in)
{
    uint32_t n = 0;
    size_t map = mp_map_begin(w);
    mp_f_key(w, &n, "doc");
    s_doc_encode(w, &in->doc);
    mp_f_bin(w, &n, "sig", in->sig, PROTO_SIG_LEN);
    if (kind == PROTO_KIND_DELIVER) {
        mp_f_uint(w, &n, "accepted", in->accepted);
        mp_f_uint(w, &n, "seq", in->seq);
    }
    mp_map_end(w, map, n);
}

// ---------------------------------------------------------------------------
//  Receipts

static const char *const s_receipts_keys[] = { "mid", "head", "sig", "items" };
static const char *const s_head_keys[] = { "signer", "time", "size", "root" };
static const char *const s_item_keys[] = { "leaf", "index", "path" };
static const char *const s_leaf_keys[] = { "event", "id",  "hash", "from",  "to",
                                           "time",  "seq", "code", "reason" };

static bool s_event_fits(int kind, uint8_t event)
{
    switch (kind) {
    case PROTO_KIND_ACCEPTED:
        return event == PROTO_EVENT_ACCEPTED;
    case PROTO_KIND_REJECTED:
        return event == PROTO_EVENT_REJECTED;
    case PROTO_KIND_EXPIRED:
        return event == PROTO_EVENT_EXPIRED || event == PROTO_EVENT_RETURNED;
    case PROTO_KIND_DELIVERED:
        return event == PROTO_EVENT_DELIVERED || event == PROTO_EVENT_REFUSED;
    }
    return false;
}

static proto_err_t s_leaf_decode(mp_ctx_t *ctx, int kind, const msgpack_object *o,
                                 proto_leaf_t *leaf)
{
    const msgpack_object *f[NKEYS(s_leaf_keys)];
    size_t mark = mp_path_push(ctx, "leaf");
    proto_err_t rc = mp_map(ctx, o, s_leaf_keys, NKEYS(s_leaf_keys), f);
    if (!rc)
        rc = s_u8(ctx, "event", f[0], true, 1, 6, &leaf->event);
    if (!rc && !s_event_fits(kind, leaf->event))
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "event", "event %u not allowed in %s", leaf->event,
                     proto_kind_name(kind));
    if (!rc)
        rc = s_id(ctx, "id", f[1], true, &leaf->id);
    if (!rc)
        rc = mp_bin(ctx, "hash", f[2], true, PROTO_HASH_LEN, leaf->hash);
    if (!rc)
        rc = mp_agency(ctx, "from", f[3], true, &leaf->from);
    if (!rc)
        rc = mp_agency(ctx, "to", f[4], false, &leaf->to);
    if (!rc)
        rc = mp_uint(ctx, "time", f[5], true, 0, UINT64_MAX, &leaf->time);
    if (!rc)
        rc = mp_uint(ctx, "seq", f[6], false, 1, UINT64_MAX, &leaf->seq);
    if (!rc)
        rc = s_u32(ctx, "code", f[7], false, 0, 999, &leaf->code);
    if (!rc && leaf->code && !proto_err_is_known(leaf->code))
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "code", "%u is not a defined error code", leaf->code);
    bool needs_code = leaf->event == PROTO_EVENT_REJECTED || leaf->event == PROTO_EVENT_REFUSED;
    if (!rc && needs_code != (leaf->code != 0))
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "code",
                     needs_code ? "required for this event" : "must be 0 for this event");
    bool needs_to = leaf->event >= PROTO_EVENT_DELIVERED;
    if (!rc && needs_to && !leaf->to)
        rc = mp_fail(ctx, PROTO_ERR_MISSING, "to", "required for this event");
    if (!rc)
        rc = mp_text(ctx, "reason", f[8], false, PROTO_MAX_TEXT, &leaf->reason);
    mp_path_pop(ctx, mark);
    return rc;
}

static void s_leaf_encode(mp_writer_t *w, const proto_leaf_t *leaf)
{
    uint32_t n = 0;
    size_t map = mp_map_begin(w);
    mp_f_uint(w, &n, "event", leaf->event);
    mp_f_bin(w, &n, "id", leaf->id.bytes, PROTO_ID_LEN);
    mp_f_bin(w, &n, "hash", leaf->hash, PROTO_HASH_LEN);
    mp_f_str(w, &n, "from", leaf->from);
    mp_f_str(w, &n, "to", leaf->to);
    mp_f_uint(w, &n, "time", leaf->time);
    mp_f_uint_opt(w, &n, "seq", leaf->seq);
    mp_f_uint_opt(w, &n, "code", leaf->code);
    mp_f_str(w, &n, "reason", leaf->reason);
    mp_map_end(w, map, n);
}

static proto_err_t s_head_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_head_t *head)
{
    const msgpack_object *f[NKEYS(s_head_keys)];
    size_t mark = mp_path_push(ctx, "head");
    proto_err_t rc = o ? mp_map(ctx, o, s_head_keys, NKEYS(s_head_keys), f)
                       : mp_fail(ctx, PROTO_ERR_MISSING, NULL, "required field missing");
    if (!rc)
        rc = mp_label(ctx, "signer", f[0], true, &head->signer);
    if (!rc)
        rc = mp_uint(ctx, "time", f[1], true, 0, UINT64_MAX, &head->time);
    if (!rc)
        rc = mp_uint(ctx, "size", f[2], true, 1, UINT32_MAX, &head->size);
    if (!rc)
        rc = mp_bin(ctx, "root", f[3], true, PROTO_HASH_LEN, head->root);
    mp_path_pop(ctx, mark);
    return rc;
}

static proto_err_t s_receipts_decode(mp_ctx_t *ctx, int kind, const msgpack_object *o,
                                     proto_receipts_t *out)
{
    const msgpack_object *f[NKEYS(s_receipts_keys)];
    const msgpack_object *items = NULL;
    proto_err_t rc = mp_map(ctx, o, s_receipts_keys, NKEYS(s_receipts_keys), f);
    if (!rc)
        rc = mp_uint(ctx, "mid", f[0], false, 1, UINT64_MAX, &out->mid);
    if (!rc)
        rc = s_head_decode(ctx, f[1], &out->head);
    if (!rc)
        rc = mp_bin(ctx, "sig", f[2], true, PROTO_SIG_LEN, out->sig);
    if (!rc)
        rc = mp_array(ctx, "items", f[3], true, 1, PROTO_MAX_ITEMS, &items, &out->nitems);
    if (!rc && out->nitems > out->head.size)
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "items", "more items than leaves in the tree");
    if (!rc)
        rc = mp_alloc(ctx, out->nitems, sizeof(proto_item_t), &out->items);
    size_t mark = mp_path_push(ctx, "items");
    for (uint32_t i = 0; !rc && i < out->nitems; i++) {
        const msgpack_object *g[NKEYS(s_item_keys)];
        const msgpack_object *path = NULL;
        proto_item_t *item = &out->items[i];
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = mp_map(ctx, &items[i], s_item_keys, NKEYS(s_item_keys), g);
        if (!rc && !g[0])
            rc = mp_fail(ctx, PROTO_ERR_MISSING, "leaf", "required field missing");
        if (!rc)
            rc = s_leaf_decode(ctx, kind, g[0], &item->leaf);
        if (!rc)
            rc = mp_uint(ctx, "index", g[1], true, 0, out->head.size - 1, &item->index);
        if (!rc)
            rc = mp_array(ctx, "path", g[2], false, 0, PROTO_MAX_PATH, &path, &item->npath);
        if (!rc && item->npath)
            rc = mp_alloc(ctx, item->npath, PROTO_HASH_LEN, &item->path);
        size_t mark_path = mp_path_push(ctx, "path");
        for (uint32_t k = 0; !rc && k < item->npath; k++) {
            size_t mark_k = mp_path_push_index(ctx, k);
            rc = mp_bin(ctx, NULL, &path[k], true, PROTO_HASH_LEN, item->path[k]);
            mp_path_pop(ctx, mark_k);
        }
        mp_path_pop(ctx, mark_path);
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    return rc;
}

static void s_receipts_encode(mp_writer_t *w, const proto_receipts_t *in)
{
    uint32_t n = 0, m = 0;
    size_t map = mp_map_begin(w);
    mp_f_uint_opt(w, &n, "mid", in->mid);
    mp_f_key(w, &n, "head");
    size_t sub = mp_map_begin(w);
    mp_f_str(w, &m, "signer", in->head.signer);
    mp_f_uint(w, &m, "time", in->head.time);
    mp_f_uint(w, &m, "size", in->head.size);
    mp_f_bin(w, &m, "root", in->head.root, PROTO_HASH_LEN);
    mp_map_end(w, sub, m);
    mp_f_bin(w, &n, "sig", in->sig, PROTO_SIG_LEN);
    mp_f_key(w, &n, "items");
    mp_w_array(w, in->nitems);
    for (uint32_t i = 0; i < in->nitems; i++) {
        const proto_item_t *item = &in->items[i];
        uint32_t q = 0;
        size_t sub_item = mp_map_begin(w);
        mp_f_key(w, &q, "leaf");
        s_leaf_encode(w, &item->leaf);
        mp_f_uint(w, &q, "index", item->index);
        if (item->npath) {
            mp_f_key(w, &q, "path");
            mp_w_array(w, item->npath);
            for (uint32_t k = 0; k < item->npath; k++)
                mp_w_bin(w, item->path[k], PROTO_HASH_LEN);
        }
        mp_map_end(w, sub_item, q);
    }
    mp_map_end(w, map, n);
}

// ---------------------------------------------------------------------------
//  Session kinds: HELLO READY HEARTBEAT CREDIT ACK ERROR

static const char *const s_hello_keys[] = { "versions",   "agency", "software",
                                            "dir_serial", "window", "dir_deltas" };

static proto_err_t s_hello_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_hello_t *out)
{
    const msgpack_object *f[NKEYS(s_hello_keys)];
    const msgpack_object *items = NULL;
    proto_err_t rc = mp_map(ctx, o, s_hello_keys, NKEYS(s_hello_keys), f);
    if (!rc)
        rc = mp_array(ctx, "versions", f[0], true, 1, PROTO_MAX_VERSIONS, &items, &out->nversions);
    if (!rc)
        rc = mp_alloc(ctx, out->nversions, 1, &out->versions);
    size_t mark = mp_path_push(ctx, "versions");
    for (uint32_t i = 0; !rc && i < out->nversions; i++) {
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = s_u8(ctx, NULL, &items[i], true, 1, 255, &out->versions[i]);
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    if (!rc)
        rc = mp_agency(ctx, "agency", f[1], true, &out->agency);
    if (!rc)
        rc = mp_text(ctx, "software", f[2], false, PROTO_MAX_SHORT, &out->software);
    if (!rc)
        rc = mp_uint(ctx, "dir_serial", f[3], false, 0, UINT64_MAX, &out->dir_serial);
    if (!rc)
        rc = s_u32(ctx, "window", f[4], true, 1, PROTO_MAX_WINDOW, &out->window);
    if (!rc)
        rc = mp_bool(ctx, "dir_deltas", f[5], false, &out->dir_deltas);
    return rc;
}

static const char *const s_ready_keys[] = {
    "version",    "broker",    "agency",       "time",           "heartbeat",
    "dir_serial", "max_frame", "max_document", "max_recipients", "max_attachments",
};

static proto_err_t s_ready_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_ready_t *out)
{
    const msgpack_object *f[NKEYS(s_ready_keys)];
    proto_err_t rc = mp_map(ctx, o, s_ready_keys, NKEYS(s_ready_keys), f);
    if (!rc)
        rc = s_u8(ctx, "version", f[0], true, 1, 255, &out->version);
    if (!rc)
        rc = mp_label(ctx, "broker", f[1], true, &out->broker);
    if (!rc)
        rc = mp_agency(ctx, "agency", f[2], true, &out->agency);
    if (!rc)
        rc = mp_uint(ctx, "time", f[3], true, 0, UINT64_MAX, &out->time);
    if (!rc)
        rc = s_u32(ctx, "heartbeat", f[4], true, 100, 3600000, &out->heartbeat);
    if (!rc)
        rc = mp_uint(ctx, "dir_serial", f[5], true, 0, UINT64_MAX, &out->dir_serial);
    if (!rc)
        rc =
            mp_uint(ctx, "max_frame", f[6], true, 1024, PROTO_MAX_ATTACHMENT_SIZE, &out->max_frame);
    if (!rc)
        rc = mp_uint(ctx, "max_document", f[7], true, 1024,
                     PROTO_MAX_ATTACHMENT_SIZE * PROTO_MAX_ATTACHMENTS, &out->max_document);
    if (!rc)
        rc =
            s_u32(ctx, "max_recipients", f[8], true, 1, PROTO_MAX_RECIPIENTS, &out->max_recipients);
    if (!rc)
        rc = s_u32(ctx, "max_attachments", f[9], true, 0, PROTO_MAX_ATTACHMENTS,
                   &out->max_attachments);
    return rc;
}

static const char *const s_time_keys[] = { "time" };
static const char *const s_window_keys[] = { "window" };
static const char *const s_ack_keys[] = { "mids" };
static const char *const s_error_keys[] = { "code", "message", "ref", "fatal" };

static proto_err_t s_ack_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_ack_t *out)
{
    const msgpack_object *f[1];
    const msgpack_object *items = NULL;
    proto_err_t rc = mp_map(ctx, o, s_ack_keys, 1, f);
    if (!rc)
        rc = mp_array(ctx, "mids", f[0], true, 1, PROTO_MAX_ITEMS, &items, &out->nmids);
    if (!rc)
        rc = mp_alloc(ctx, out->nmids, sizeof(uint64_t), &out->mids);
    size_t mark = mp_path_push(ctx, "mids");
    for (uint32_t i = 0; !rc && i < out->nmids; i++) {
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = mp_uint(ctx, NULL, &items[i], true, 1, UINT64_MAX, &out->mids[i]);
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    return rc;
}

static proto_err_t s_error_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_error_t *out)
{
    const msgpack_object *f[NKEYS(s_error_keys)];
    proto_err_t rc = mp_map(ctx, o, s_error_keys, NKEYS(s_error_keys), f);
    if (!rc)
        rc = s_u32(ctx, "code", f[0], true, 1, 999, &out->code);
    if (!rc && !proto_err_is_known(out->code))
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "code", "%u is not a defined error code", out->code);
    if (!rc)
        rc = mp_text(ctx, "message", f[1], true, PROTO_MAX_TEXT, &out->message);
    if (!rc && f[2]) {
        out->has_ref = true;
        rc = s_id(ctx, "ref", f[2], true, &out->ref);
    }
    if (!rc)
        rc = mp_bool(ctx, "fatal", f[3], false, &out->fatal);
    return rc;
}

// ---------------------------------------------------------------------------
//  STATUS

static const char *const s_status_keys[] = { "mid", "notice", "sig" };
static const char *const s_notice_keys[] = { "id",   "doc",  "from", "to",
                                             "code", "time", "note", "staff" };
static const char *const s_staff_keys[] = { "name", "department", "phone", "email" };

static bool s_status_code_valid(uint8_t code)
{
    return (code >= 1 && code <= 6) || code == 13 || code == 15 || code == 16;
}

static proto_err_t s_status_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_status_t *out)
{
    const msgpack_object *f[NKEYS(s_status_keys)];
    const msgpack_object *g[NKEYS(s_notice_keys)];
    proto_notice_t *n = &out->notice;
    proto_err_t rc = mp_map(ctx, o, s_status_keys, NKEYS(s_status_keys), f);
    if (!rc)
        rc = mp_uint(ctx, "mid", f[0], false, 1, UINT64_MAX, &out->mid);
    if (!rc)
        rc = mp_bin(ctx, "sig", f[2], true, PROTO_SIG_LEN, out->sig);
    if (!rc && !f[1])
        rc = mp_fail(ctx, PROTO_ERR_MISSING, "notice", "required field missing");
    size_t mark = mp_path_push(ctx, "notice");
    if (!rc)
        rc = mp_map(ctx, f[1], s_notice_keys, NKEYS(s_notice_keys), g);
    if (!rc)
        rc = s_id(ctx, "id", g[0], true, &n->id);
    if (!rc)
        rc = s_id(ctx, "doc", g[1], true, &n->doc);
    if (!rc)
        rc = mp_agency(ctx, "from", g[2], true, &n->from);
    if (!rc)
        rc = mp_agency(ctx, "to", g[3], true, &n->to);
    if (!rc && strcmp(n->from, n->to) == 0)
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "to", "a notice cannot be sent to its sender");
    if (!rc)
        rc = s_u8(ctx, "code", g[4], true, 1, 16, &n->code);
    if (!rc && !s_status_code_valid(n->code))
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "code", "%u is not a status code (01-06, 13, 15, 16)",
                     n->code);
    if (!rc)
        rc = mp_uint(ctx, "time", g[5], true, 0, UINT64_MAX, &n->time);
    if (!rc)
        rc = mp_text(ctx, "note", g[6], false, PROTO_MAX_TEXT, &n->note);
    if (!rc && g[7]) {
        const msgpack_object *h[NKEYS(s_staff_keys)];
        size_t mark_staff = mp_path_push(ctx, "staff");
        rc = mp_map(ctx, g[7], s_staff_keys, NKEYS(s_staff_keys), h);
        if (!rc)
            rc = mp_text(ctx, "name", h[0], false, PROTO_MAX_SHORT, &n->staff.name);
        if (!rc)
            rc = mp_text(ctx, "department", h[1], false, PROTO_MAX_NAME, &n->staff.department);
        if (!rc)
            rc = mp_text(ctx, "phone", h[2], false, PROTO_MAX_SHORT, &n->staff.phone);
        if (!rc)
            rc = mp_text(ctx, "email", h[3], false, PROTO_MAX_SHORT, &n->staff.email);
        mp_path_pop(ctx, mark_staff);
    }
    mp_path_pop(ctx, mark);
    return rc;
}

static void s_status_encode(mp_writer_t *w, const proto_status_t *in)
{
    const proto_notice_t *n = &in->notice;
    uint32_t c = 0, m = 0;
    size_t map = mp_map_begin(w);
    mp_f_uint_opt(w, &c, "mid", in->mid);
    mp_f_key(w, &c, "notice");
    size_t sub = mp_map_begin(w);
    mp_f_bin(w, &m, "id", n->id.bytes, PROTO_ID_LEN);
    mp_f_bin(w, &m, "doc", n->doc.bytes, PROTO_ID_LEN);
    mp_f_str(w, &m, "from", n->from);
    mp_f_str(w, &m, "to", n->to);
    mp_f_uint(w, &m, "code", n->code);
    mp_f_uint(w, &m, "time", n->time);
    mp_f_str(w, &m, "note", n->note);
    const proto_staff_t *s = &n->staff;
    if (s->name || s->department || s->phone || s->email) {
        uint32_t q = 0;
        mp_f_key(w, &m, "staff");
        size_t sub_staff = mp_map_begin(w);
        mp_f_str(w, &q, "name", s->name);
        mp_f_str(w, &q, "department", s->department);
        mp_f_str(w, &q, "phone", s->phone);
        mp_f_str(w, &q, "email", s->email);
        mp_map_end(w, sub_staff, q);
    }
    mp_map_end(w, sub, m);
    mp_f_bin(w, &c, "sig", in->sig, PROTO_SIG_LEN);
    mp_map_end(w, map, c);
}

// ---------------------------------------------------------------------------
//  DIRECTORY

static const char *const s_directory_keys[] = { "serial", "time", "broker", "entries", "sig" };
static const char *const s_entry_keys[] = { "code", "name", "key", "state", "from", "until" };

//  The entries of a DIRECTORY or DIRECTORY_DELTA: sorted and unique, so the
//  canonical form is the wire order and a lookup can bisect.
static proto_err_t s_dir_entries_decode(mp_ctx_t *ctx, const msgpack_object *items, uint32_t n,
                                        proto_dir_entry_t **out)
{
    proto_err_t rc = mp_alloc(ctx, n, sizeof(proto_dir_entry_t), out);
    size_t mark = mp_path_push(ctx, "entries");
    for (uint32_t i = 0; !rc && i < n; i++) {
        const msgpack_object *g[NKEYS(s_entry_keys)];
        proto_dir_entry_t *e = &(*out)[i];
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = mp_map(ctx, &items[i], s_entry_keys, NKEYS(s_entry_keys), g);
        if (!rc)
            rc = mp_agency(ctx, "code", g[0], true, &e->code);
        if (!rc && i > 0 && strcmp((*out)[i - 1].code, e->code) >= 0)
            rc = mp_fail(ctx, PROTO_ERR_VALUE, "code", "entries must be sorted by code, unique");
        if (!rc)
            rc = mp_text(ctx, "name", g[1], true, PROTO_MAX_NAME, &e->name);
        if (!rc)
            rc = mp_bin(ctx, "key", g[2], true, PROTO_KEY_LEN, e->key);
        if (!rc)
            rc = s_u8(ctx, "state", g[3], true, 0, 2, &e->state);
        if (!rc)
            rc = mp_uint(ctx, "from", g[4], false, 1, UINT64_MAX, &e->valid_from);
        if (!rc)
            rc = mp_uint(ctx, "until", g[5], false, 1, UINT64_MAX, &e->valid_until);
        if (!rc && e->valid_from && e->valid_until && e->valid_from >= e->valid_until)
            rc = mp_fail(ctx, PROTO_ERR_VALUE, "until", "must be after from");
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    return rc;
}

static proto_err_t s_directory_decode(mp_ctx_t *ctx, const msgpack_object *o,
                                      proto_directory_msg_t *out)
{
    const msgpack_object *f[NKEYS(s_directory_keys)];
    const msgpack_object *items = NULL;
    proto_err_t rc = mp_map(ctx, o, s_directory_keys, NKEYS(s_directory_keys), f);
    if (!rc)
        rc = mp_uint(ctx, "serial", f[0], true, 1, UINT64_MAX, &out->serial);
    if (!rc)
        rc = mp_uint(ctx, "time", f[1], true, 0, UINT64_MAX, &out->time);
    if (!rc)
        rc = mp_label(ctx, "broker", f[2], true, &out->broker);
    if (!rc)
        rc = mp_array(ctx, "entries", f[3], true, 0, PROTO_MAX_ENTRIES, &items, &out->nentries);
    if (!rc)
        rc = mp_bin(ctx, "sig", f[4], true, PROTO_SIG_LEN, out->sig);
    if (!rc)
        rc = s_dir_entries_decode(ctx, items, out->nentries, &out->entries);
    return rc;
}

static void s_dir_entries_encode(mp_writer_t *w, uint32_t *n, const proto_dir_entry_t *entries,
                                 uint32_t count)
{
    mp_f_key(w, n, "entries");
    mp_w_array(w, count);
    for (uint32_t i = 0; i < count; i++) {
        const proto_dir_entry_t *e = &entries[i];
        uint32_t m = 0;
        size_t sub = mp_map_begin(w);
        mp_f_str(w, &m, "code", e->code);
        mp_f_str(w, &m, "name", e->name);
        mp_f_bin(w, &m, "key", e->key, PROTO_KEY_LEN);
        mp_f_uint(w, &m, "state", e->state);
        mp_f_uint_opt(w, &m, "from", e->valid_from);
        mp_f_uint_opt(w, &m, "until", e->valid_until);
        mp_map_end(w, sub, m);
    }
}

static void s_directory_encode(mp_writer_t *w, const proto_directory_msg_t *in)
{
    uint32_t n = 0;
    size_t map = mp_map_begin(w);
    mp_f_uint(w, &n, "serial", in->serial);
    mp_f_uint(w, &n, "time", in->time);
    mp_f_str(w, &n, "broker", in->broker);
    s_dir_entries_encode(w, &n, in->entries, in->nentries);
    mp_f_bin(w, &n, "sig", in->sig, PROTO_SIG_LEN);
    mp_map_end(w, map, n);
}

// ---------------------------------------------------------------------------
//  DIRECTORY_DELTA

static const char *const s_delta_keys[] = { "base",    "serial",  "time", "broker",
                                            "entries", "removed", "sig" };

static proto_err_t s_delta_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_dir_delta_t *out)
{
    const msgpack_object *f[NKEYS(s_delta_keys)];
    const msgpack_object *items = NULL, *gone = NULL;
    proto_err_t rc = mp_map(ctx, o, s_delta_keys, NKEYS(s_delta_keys), f);
    if (!rc)
        rc = mp_uint(ctx, "base", f[0], true, 1, UINT64_MAX - 1, &out->base);
    if (!rc)
        rc = mp_uint(ctx, "serial", f[1], true, out->base + 1, UINT64_MAX, &out->serial);
    if (!rc)
        rc = mp_uint(ctx, "time", f[2], true, 0, UINT64_MAX, &out->time);
    if (!rc)
        rc = mp_label(ctx, "broker", f[3], true, &out->broker);
    if (!rc)
        rc = mp_array(ctx, "entries", f[4], true, 0, PROTO_MAX_ENTRIES, &items, &out->nentries);
    if (!rc)
        rc = mp_array(ctx, "removed", f[5], true, 0, PROTO_MAX_ENTRIES, &gone, &out->nremoved);
    if (!rc)
        rc = mp_bin(ctx, "sig", f[6], true, PROTO_SIG_LEN, out->sig);
    if (!rc)
        rc = s_dir_entries_decode(ctx, items, out->nentries, &out->entries);
    if (!rc)
        rc = mp_alloc(ctx, out->nremoved, sizeof(const char *), &out->removed);
    size_t mark = mp_path_push(ctx, "removed");
    for (uint32_t i = 0; !rc && i < out->nremoved; i++) {
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = mp_agency(ctx, NULL, &gone[i], true, &out->removed[i]);
        if (!rc && i > 0 && strcmp(out->removed[i - 1], out->removed[i]) >= 0)
            rc = mp_fail(ctx, PROTO_ERR_VALUE, NULL, "removed codes must be sorted, unique");
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    return rc;
}

static void s_delta_encode(mp_writer_t *w, const proto_dir_delta_t *in)
{
    uint32_t n = 0;
    size_t map = mp_map_begin(w);
    mp_f_uint(w, &n, "base", in->base);
    mp_f_uint(w, &n, "serial", in->serial);
    mp_f_uint(w, &n, "time", in->time);
    mp_f_str(w, &n, "broker", in->broker);
    s_dir_entries_encode(w, &n, in->entries, in->nentries);
    mp_f_key(w, &n, "removed");
    mp_w_array(w, in->nremoved);
    for (uint32_t i = 0; i < in->nremoved; i++)
        mp_w_str(w, in->removed[i]);
    mp_f_bin(w, &n, "sig", in->sig, PROTO_SIG_LEN);
    mp_map_end(w, map, n);
}

// ---------------------------------------------------------------------------
//  Entry points

static proto_err_t s_decode_body(mp_ctx_t *ctx, int kind, const msgpack_object *o, proto_msg_t *msg)
{
    const msgpack_object *f[1];
    proto_err_t rc;
    switch (kind) {
    case PROTO_KIND_HELLO:
        return s_hello_decode(ctx, o, &msg->u.hello);
    case PROTO_KIND_READY:
        return s_ready_decode(ctx, o, &msg->u.ready);
    case PROTO_KIND_HEARTBEAT:
        rc = mp_map(ctx, o, s_time_keys, 1, f);
        return rc ? rc : mp_uint(ctx, "time", f[0], true, 0, UINT64_MAX, &msg->u.heartbeat.time);
    case PROTO_KIND_CREDIT:
        rc = mp_map(ctx, o, s_window_keys, 1, f);
        return rc ? rc
                  : s_u32(ctx, "window", f[0], true, 1, PROTO_MAX_WINDOW, &msg->u.credit.window);
    case PROTO_KIND_ACK:
        return s_ack_decode(ctx, o, &msg->u.ack);
    case PROTO_KIND_STATUS:
        return s_status_decode(ctx, o, &msg->u.status);
    case PROTO_KIND_DIRECTORY:
        return s_directory_decode(ctx, o, &msg->u.directory);
    case PROTO_KIND_DIRECTORY_DELTA:
        return s_delta_decode(ctx, o, &msg->u.delta);
    case PROTO_KIND_ERROR:
        return s_error_decode(ctx, o, &msg->u.error);
    }
    if (proto_kind_has_document(kind))
        return s_document_decode(ctx, kind, o, &msg->u.document);
    if (s_kind_is_receipts(kind))
        return s_receipts_decode(ctx, kind, o, &msg->u.receipts);
    return mp_fail(ctx, PROTO_ERR_KIND, NULL, "unknown kind %d", kind);
}

proto_err_t proto_msg_decode(int kind, const void *body, size_t len, proto_msg_t **msg_p,
                             proto_errinfo_t *info)
{
    mp_ctx_t ctx = { .info = info };
    if (info)
        memset(info, 0, sizeof *info);
    *msg_p = NULL;
    const s_kind_row_t *row = s_kind_row(kind);
    if (!row)
        return mp_fail(&ctx, PROTO_ERR_KIND, NULL, "unknown kind %d", kind);
    if (!body && len)
        return mp_fail(&ctx, PROTO_ERR_INVALID_ARG, NULL, "no body");
    if (len > proto_body_limit(kind))
        return mp_fail(&ctx, PROTO_ERR_TOO_LARGE, NULL, "body of %zu bytes, limit %zu", len,
                       proto_body_limit(kind));
    proto_err_t rc = mp_prescan(&ctx, body, len, row->depth);
    if (rc)
        return rc;

    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t offset = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&unpacked, body, len, &offset);
    if (ur != MSGPACK_UNPACK_SUCCESS || offset != len) {
        msgpack_unpacked_destroy(&unpacked);
        //  The pre-scan accepted these bytes, so only memory can fail here.
        return mp_fail(&ctx, ur == MSGPACK_UNPACK_NOMEM_ERROR ? PROTO_ERR_NOMEM : PROTO_ERR_MSGPACK,
                       NULL, "msgpack decoder failed (%d)", (int) ur);
    }
    proto_msg_t *msg = calloc(1, sizeof *msg);
    ctx.arena = proto_arena_new();
    if (!msg || !ctx.arena) {
        free(msg);
        proto_arena_destroy(&ctx.arena);
        msgpack_unpacked_destroy(&unpacked);
        return mp_fail(&ctx, PROTO_ERR_NOMEM, NULL, "out of memory");
    }
    msg->kind = (proto_kind_t) kind;
    msg->arena = ctx.arena;
    rc = s_decode_body(&ctx, kind, &unpacked.data, msg);
    msgpack_unpacked_destroy(&unpacked);
    if (rc) {
        proto_msg_destroy(&msg);
        return rc;
    }
    *msg_p = msg;
    return PROTO_OK;
}

//  The value of key in map o when it is there exactly once, else NULL.
static const msgpack_object *s_only(const msgpack_object *o, const char *key)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return NULL;
    const msgpack_object *found = NULL;
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->type != MSGPACK_OBJECT_STR || k->via.str.size != klen ||
            memcmp(k->via.str.ptr, key, klen) != 0)
            continue;
        if (found)
            return NULL; // repeated: which one is meant cannot be said
        found = &o->via.map.ptr[i].val;
    }
    return found;
}

bool proto_msg_peek_id(int kind, const void *body, size_t len, proto_id_t *id)
{
    const char *outer = proto_kind_has_document(kind) ? "doc"
                        : kind == PROTO_KIND_STATUS   ? "notice"
                                                      : NULL;
    const s_kind_row_t *row = s_kind_row(kind);
    if (!outer || !row || !body || len > proto_body_limit(kind))
        return false;
    //  The same single pass as a decode first, so the tree msgpack-c
    //  builds stays bounded by the body's real size.
    mp_ctx_t ctx = { .info = NULL };
    if (mp_prescan(&ctx, body, len, row->depth) != PROTO_OK)
        return false;
    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t offset = 0;
    bool found = false;
    if (msgpack_unpack_next(&unpacked, body, len, &offset) == MSGPACK_UNPACK_SUCCESS &&
        offset == len) {
        const msgpack_object *inner = s_only(&unpacked.data, outer);
        const msgpack_object *v = inner ? s_only(inner, "id") : NULL;
        if (v && v->type == MSGPACK_OBJECT_BIN && v->via.bin.size == PROTO_ID_LEN) {
            memcpy(id->bytes, v->via.bin.ptr, PROTO_ID_LEN);
            found = true;
        }
    }
    msgpack_unpacked_destroy(&unpacked);
    return found;
}

void proto_msg_destroy(proto_msg_t **msg_p)
{
    if (!msg_p || !*msg_p)
        return;
    proto_arena_destroy(&(*msg_p)->arena);
    free(*msg_p);
    *msg_p = NULL;
}

static void s_encode_body(mp_writer_t *w, const proto_msg_t *msg)
{
    uint32_t n = 0;
    size_t map;
    switch (msg->kind) {
    case PROTO_KIND_HELLO: {
        const proto_hello_t *h = &msg->u.hello;
        map = mp_map_begin(w);
        mp_f_key(w, &n, "versions");
        mp_w_array(w, h->nversions);
        for (uint32_t i = 0; i < h->nversions; i++)
            mp_w_uint(w, h->versions[i]);
        mp_f_str(w, &n, "agency", h->agency);
        mp_f_str(w, &n, "software", h->software);
        mp_f_uint_opt(w, &n, "dir_serial", h->dir_serial);
        mp_f_uint(w, &n, "window", h->window);
        if (h->dir_deltas) {
            mp_f_key(w, &n, "dir_deltas");
            mp_w_bool(w, true);
        }
        mp_map_end(w, map, n);
        return;
    }
    case PROTO_KIND_READY: {
        const proto_ready_t *r = &msg->u.ready;
        map = mp_map_begin(w);
        mp_f_uint(w, &n, "version", r->version);
        mp_f_str(w, &n, "broker", r->broker);
        mp_f_str(w, &n, "agency", r->agency);
        mp_f_uint(w, &n, "time", r->time);
        mp_f_uint(w, &n, "heartbeat", r->heartbeat);
        mp_f_uint(w, &n, "dir_serial", r->dir_serial);
        mp_f_uint(w, &n, "max_frame", r->max_frame);
        mp_f_uint(w, &n, "max_document", r->max_document);
        mp_f_uint(w, &n, "max_recipients", r->max_recipients);
        mp_f_uint(w, &n, "max_attachments", r->max_attachments);
        mp_map_end(w, map, n);
        return;
    }
    case PROTO_KIND_HEARTBEAT:
        map = mp_map_begin(w);
        mp_f_uint(w, &n, "time", msg->u.heartbeat.time);
        mp_map_end(w, map, n);
        return;
    case PROTO_KIND_CREDIT:
        map = mp_map_begin(w);
        mp_f_uint(w, &n, "window", msg->u.credit.window);
        mp_map_end(w, map, n);
        return;
    case PROTO_KIND_ACK:
        map = mp_map_begin(w);
        mp_f_key(w, &n, "mids");
        mp_w_array(w, msg->u.ack.nmids);
        for (uint32_t i = 0; i < msg->u.ack.nmids; i++)
            mp_w_uint(w, msg->u.ack.mids[i]);
        mp_map_end(w, map, n);
        return;
    case PROTO_KIND_STATUS:
        s_status_encode(w, &msg->u.status);
        return;
    case PROTO_KIND_DIRECTORY:
        s_directory_encode(w, &msg->u.directory);
        return;
    case PROTO_KIND_DIRECTORY_DELTA:
        s_delta_encode(w, &msg->u.delta);
        return;
    case PROTO_KIND_ERROR: {
        const proto_error_t *e = &msg->u.error;
        map = mp_map_begin(w);
        mp_f_uint(w, &n, "code", e->code);
        mp_f_str(w, &n, "message", e->message);
        if (e->has_ref)
            mp_f_bin(w, &n, "ref", e->ref.bytes, PROTO_ID_LEN);
        if (e->fatal) {
            mp_f_key(w, &n, "fatal");
            mp_w_bool(w, true);
        }
        mp_map_end(w, map, n);
        return;
    }
    default:
        break;
    }
    if (proto_kind_has_document(msg->kind))
        s_document_encode(w, msg->kind, &msg->u.document);
    else if (s_kind_is_receipts(msg->kind))
        s_receipts_encode(w, &msg->u.receipts);
}

proto_err_t proto_msg_encode(const proto_msg_t *msg, proto_buf_t *buf, proto_errinfo_t *info)
{
    if (info)
        memset(info, 0, sizeof *info);
    if (!msg || !buf || !proto_kind_name(msg->kind))
        return PROTO_ERR_INVALID_ARG;
    mp_writer_t w;
    proto_buf_reset(buf);
    mp_writer_init(&w, buf);
    s_encode_body(&w, msg);
    if (w.err) {
        //  A half-written body must not look like a result.
        proto_buf_reset(buf);
        return w.err;
    }
    //  Decode what we wrote: the decoder is the one place the rules live.
    proto_msg_t *check = NULL;
    proto_err_t rc = proto_msg_decode(msg->kind, buf->data, buf->len, &check, info);
    proto_msg_destroy(&check);
    if (rc)
        proto_buf_reset(buf);
    return rc;
}

size_t proto_msg_frame_count(const proto_msg_t *msg)
{
    return proto_kind_has_document(msg->kind) ? 2 + (size_t) msg->u.document.doc.natt : 2;
}

proto_err_t proto_msgpack_check(const void *data, size_t len, int max_depth, proto_errinfo_t *info)
{
    mp_ctx_t ctx = { .info = info };
    if (info)
        memset(info, 0, sizeof *info);
    if (!data && len)
        return PROTO_ERR_INVALID_ARG;
    return mp_prescan(&ctx, data, len, max_depth);
}
