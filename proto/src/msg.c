/*  msg.c - message bodies: strict decoding into structs, encoding back.

    Each kind has a decoder (msgpack object -> struct, every rule of the
    schema checked) and an encoder (struct -> msgpack map). proto_msg_encode
    runs the decoder over what the encoder wrote, so the rules live in one
    place: the decoders.

    Canonical signing bytes are not produced here but in sign.c; wire bodies
    may use any valid msgpack encoding, signatures never depend on it.

    This file holds the kinds, the framing header, ids, buffers and the
    entry points; the decoder and encoder of each family of kinds live in
    msg_doc.c, msg_receipt.c, msg_session.c, msg_status.c and
    msg_directory.c and msg_forward.c (see msg_internal.h).
*/
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "msg_internal.h"
#include "proto/msg.h"

// ---------------------------------------------------------------------------
//  Kinds, headers, ids, buffers

typedef struct {
    int kind;
    const char *name;
    int depth; // deepest nesting the schema allows
} s_kind_row_t;

static const s_kind_row_t s_kinds[] = {
    { PROTO_KIND_HELLO, "HELLO", 2 },
    { PROTO_KIND_READY, "READY", 2 },
    { PROTO_KIND_HEARTBEAT, "HEARTBEAT", 1 },
    { PROTO_KIND_CREDIT, "CREDIT", 1 },
    { PROTO_KIND_SUBMIT, "SUBMIT", 7 },
    { PROTO_KIND_REVOKE, "REVOKE", 7 },
    { PROTO_KIND_UPDATE, "UPDATE", 7 },
    { PROTO_KIND_REPLACE, "REPLACE", 7 },
    { PROTO_KIND_ACCEPTED, "ACCEPTED", 4 },
    { PROTO_KIND_REJECTED, "REJECTED", 4 },
    { PROTO_KIND_EXPIRED, "EXPIRED", 4 },
    { PROTO_KIND_DELIVER, "DELIVER", 7 },
    { PROTO_KIND_DELIVERED, "DELIVERED", 4 },
    { PROTO_KIND_ACK, "ACK", 2 },
    { PROTO_KIND_STATUS, "STATUS", 3 },
    { PROTO_KIND_DIRECTORY, "DIRECTORY", 5 },
    { PROTO_KIND_ERROR, "ERROR", 1 },
    { PROTO_KIND_DIRECTORY_DELTA, "DIRECTORY_DELTA", 5 },
    //  The embedded document body is checked with its own kind's depth.
    { PROTO_KIND_FORWARD, "FORWARD", 3 },
    { PROTO_KIND_LOG_PROVE, "LOG_PROVE", 1 },
    { PROTO_KIND_LOG_PROOF, "LOG_PROOF", 2 },
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
    if (kind == PROTO_KIND_FORWARD)
        return PROTO_MAX_FORWARD_BODY;
    if (kind == PROTO_KIND_DELIVER)
        return PROTO_MAX_DELIVER_BODY;
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

proto_err_t msg_id(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                   proto_id_t *out)
{
    return mp_bin(ctx, name, v, required, PROTO_ID_LEN, out->bytes);
}

proto_err_t msg_u8(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                   uint64_t min, uint64_t max, uint8_t *out)
{
    uint64_t value = *out;
    proto_err_t rc = mp_uint(ctx, name, v, required, min, max, &value);
    *out = (uint8_t) value;
    return rc;
}

proto_err_t msg_u32(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                    uint64_t min, uint64_t max, uint32_t *out)
{
    uint64_t value = *out;
    proto_err_t rc = mp_uint(ctx, name, v, required, min, max, &value);
    *out = (uint32_t) value;
    return rc;
}

// ---------------------------------------------------------------------------
//  Entry points

static proto_err_t s_decode_body(mp_ctx_t *ctx, int kind, const msgpack_object *o, proto_msg_t *msg)
{
    switch (kind) {
    case PROTO_KIND_HELLO:
    case PROTO_KIND_READY:
    case PROTO_KIND_HEARTBEAT:
    case PROTO_KIND_CREDIT:
    case PROTO_KIND_ACK:
    case PROTO_KIND_ERROR:
        return msg_session_decode(ctx, kind, o, msg);
    case PROTO_KIND_STATUS:
        return msg_status_decode(ctx, o, &msg->u.status);
    case PROTO_KIND_DIRECTORY:
        return msg_directory_decode(ctx, o, &msg->u.directory);
    case PROTO_KIND_DIRECTORY_DELTA:
        return msg_delta_decode(ctx, o, &msg->u.delta);
    case PROTO_KIND_FORWARD:
        return msg_forward_decode(ctx, o, &msg->u.forward);
    case PROTO_KIND_LOG_PROVE:
    case PROTO_KIND_LOG_PROOF:
        return msg_log_decode(ctx, kind, o, msg);
    }
    if (proto_kind_has_document(kind))
        return msg_document_decode(ctx, kind, o, &msg->u.document);
    if (s_kind_is_receipts(kind))
        return msg_receipts_decode(ctx, kind, o, &msg->u.receipts);
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

//  A FORWARD's id is that of the document in its carried body: read the
//  body's bytes (once, exactly one "body" bin) and peek into them as the
//  SUBMIT they are meant to be.
static bool s_peek_forward(const void *body, size_t len, proto_id_t *id)
{
    mp_ctx_t ctx = { .info = NULL };
    if (!body || len > proto_body_limit(PROTO_KIND_FORWARD) ||
        mp_prescan(&ctx, body, len, s_kind_row(PROTO_KIND_FORWARD)->depth) != PROTO_OK)
        return false;
    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t offset = 0;
    bool found = false;
    if (msgpack_unpack_next(&unpacked, body, len, &offset) == MSGPACK_UNPACK_SUCCESS &&
        offset == len) {
        const msgpack_object *v = s_only(&unpacked.data, "body");
        if (v && v->type == MSGPACK_OBJECT_BIN)
            found = proto_msg_peek_id(PROTO_KIND_SUBMIT, v->via.bin.ptr, v->via.bin.size, id);
    }
    msgpack_unpacked_destroy(&unpacked);
    return found;
}

bool proto_msg_peek_id(int kind, const void *body, size_t len, proto_id_t *id)
{
    if (kind == PROTO_KIND_FORWARD)
        return s_peek_forward(body, len, id);
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
    switch (msg->kind) {
    case PROTO_KIND_HELLO:
    case PROTO_KIND_READY:
    case PROTO_KIND_HEARTBEAT:
    case PROTO_KIND_CREDIT:
    case PROTO_KIND_ACK:
    case PROTO_KIND_ERROR:
        msg_session_encode(w, msg);
        return;
    case PROTO_KIND_STATUS:
        msg_status_encode(w, &msg->u.status);
        return;
    case PROTO_KIND_DIRECTORY:
        msg_directory_encode(w, &msg->u.directory);
        return;
    case PROTO_KIND_DIRECTORY_DELTA:
        msg_delta_encode(w, &msg->u.delta);
        return;
    case PROTO_KIND_FORWARD:
        msg_forward_encode(w, &msg->u.forward);
        return;
    case PROTO_KIND_LOG_PROVE:
    case PROTO_KIND_LOG_PROOF:
        msg_log_encode(w, msg);
        return;
    default:
        break;
    }
    if (proto_kind_has_document(msg->kind))
        msg_document_encode(w, msg->kind, &msg->u.document);
    else if (s_kind_is_receipts(msg->kind))
        msg_receipts_encode(w, &msg->u.receipts);
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
    //  A FORWARD's attachment frames are those of the body it carries.
    if (msg->kind == PROTO_KIND_FORWARD)
        return 2 + (size_t) msg->u.forward.document.doc.natt;
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
