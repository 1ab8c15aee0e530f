/*  msg_forward.c - FORWARD: a document handed from one broker to the next.

    The strict decoder and the encoder of a FORWARD body: the sender's kind,
    the sender's signed body byte for byte, the recipients this hop carries
    and the trace of brokers that stored it (PROTOCOL.md 16.7). The decoder
    also decodes the embedded body with the rules of the sender's kind, so a
    receiving broker holds the same document and signature a SUBMIT would
    give it and never trusts a broker's copy of what the sender signed.

    Whether a broker may hand a FORWARD on (hop limit, loops) is answered by
    proto_forward_next_check; routing itself is the broker's.
*/
#include <string.h>

#include "msg_internal.h"

static const char *const s_forward_keys[] = { "kind", "body", "to", "trace" };
static const char *const s_fwd_hop_keys[] = { "broker", "time" };

#define S_DOC_DEPTH 7 // the nesting a SUBMIT body may have (msg.c's kind table)

static bool s_sender_kind(uint8_t kind)
{
    return kind == PROTO_KIND_SUBMIT || kind == PROTO_KIND_REVOKE || kind == PROTO_KIND_UPDATE ||
           kind == PROTO_KIND_REPLACE;
}

//  The embedded body: kept byte for byte (the receiver verifies the
//  sender's signature over what it decodes from exactly these bytes) and
//  decoded as a message of the sender's kind.
static proto_err_t s_body_decode(mp_ctx_t *ctx, const msgpack_object *v, proto_forward_t *out)
{
    if (!v)
        return mp_fail(ctx, PROTO_ERR_MISSING, "body", "required field missing");
    if (v->type != MSGPACK_OBJECT_BIN)
        return mp_fail(ctx, PROTO_ERR_TYPE, "body", "expected bin");
    if (v->via.bin.size == 0 || v->via.bin.size > PROTO_MAX_BODY)
        return mp_fail(ctx, PROTO_ERR_LIMIT, "body", "%u bytes, allowed 1..%u",
                       (unsigned) v->via.bin.size, (unsigned) PROTO_MAX_BODY);
    uint8_t *copy;
    proto_err_t rc = mp_alloc(ctx, v->via.bin.size, 1, &copy);
    if (rc)
        return rc;
    memcpy(copy, v->via.bin.ptr, v->via.bin.size);
    out->body = copy;
    out->body_len = v->via.bin.size;

    size_t mark = mp_path_push(ctx, "body");
    rc = mp_prescan(ctx, copy, out->body_len, S_DOC_DEPTH);
    if (rc) {
        mp_path_pop(ctx, mark);
        return rc;
    }
    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t offset = 0;
    msgpack_unpack_return ur =
        msgpack_unpack_next(&unpacked, (const char *) copy, out->body_len, &offset);
    if (ur != MSGPACK_UNPACK_SUCCESS || offset != out->body_len)
        rc = mp_fail(ctx, ur == MSGPACK_UNPACK_NOMEM_ERROR ? PROTO_ERR_NOMEM : PROTO_ERR_MSGPACK,
                     NULL, "msgpack decoder failed (%d)", (int) ur);
    else
        rc = msg_document_decode(ctx, out->kind, &unpacked.data, &out->document);
    msgpack_unpacked_destroy(&unpacked);
    mp_path_pop(ctx, mark);
    return rc;
}

//  The recipients of this hop: agency codes, no repeats, each one a
//  recipient the sender named.
static proto_err_t s_to_decode(mp_ctx_t *ctx, const msgpack_object *v, proto_forward_t *out)
{
    const msgpack_object *items;
    proto_err_t rc = mp_array(ctx, "to", v, true, 1, PROTO_MAX_RECIPIENTS, &items, &out->nto);
    if (!rc)
        rc = mp_alloc(ctx, out->nto, sizeof(const char *), &out->to);
    size_t mark = mp_path_push(ctx, "to");
    const proto_doc_t *doc = &out->document.doc;
    for (uint32_t i = 0; !rc && i < out->nto; i++) {
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = mp_agency(ctx, NULL, &items[i], true, &out->to[i]);
        for (uint32_t j = 0; !rc && j < i; j++)
            if (strcmp(out->to[j], out->to[i]) == 0)
                rc = mp_fail(ctx, PROTO_ERR_VALUE, NULL, "recipient %s repeated", out->to[i]);
        bool named = false;
        for (uint32_t j = 0; !rc && !named && j < doc->nto; j++)
            named = strcmp(doc->to[j], out->to[i]) == 0;
        if (!rc && !named)
            rc = mp_fail(ctx, PROTO_ERR_VALUE, NULL, "%s is not a recipient of the document",
                         out->to[i]);
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    return rc;
}

proto_err_t msg_broker_trace_decode(mp_ctx_t *ctx, const char *name, const msgpack_object *v,
                                    bool required, uint32_t min, proto_fwd_hop_t **trace,
                                    uint32_t *ntrace)
{
    const msgpack_object *items;
    if (!v && !required)
        return PROTO_OK;
    proto_err_t rc = mp_array(ctx, name, v, required, min, PROTO_MAX_HOPS, &items, ntrace);
    if (!rc)
        rc = mp_alloc(ctx, *ntrace, sizeof(proto_fwd_hop_t), trace);
    size_t mark = mp_path_push(ctx, name);
    for (uint32_t i = 0; !rc && i < *ntrace; i++) {
        const msgpack_object *f[NKEYS(s_fwd_hop_keys)];
        proto_fwd_hop_t *hop = &(*trace)[i];
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = mp_map(ctx, &items[i], s_fwd_hop_keys, NKEYS(s_fwd_hop_keys), f);
        if (!rc)
            rc = mp_label(ctx, "broker", f[0], true, &hop->broker);
        if (!rc)
            rc = mp_uint(ctx, "time", f[1], true, 0, UINT64_MAX, &hop->time);
        //  A trace that names a broker twice is a loop already made.
        for (uint32_t j = 0; !rc && j < i; j++)
            if (strcmp((*trace)[j].broker, hop->broker) == 0)
                rc = mp_fail(ctx, PROTO_ERR_ROUTE_LOOP, "broker", "%s is in the trace twice",
                             hop->broker);
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    return rc;
}

void msg_broker_trace_encode(mp_writer_t *w, uint32_t *n, const char *name,
                             const proto_fwd_hop_t *trace, uint32_t ntrace)
{
    mp_f_key(w, n, name);
    mp_w_array(w, ntrace);
    for (uint32_t i = 0; i < ntrace; i++) {
        uint32_t m = 0;
        size_t sub = mp_map_begin(w);
        mp_f_str(w, &m, "broker", trace[i].broker);
        mp_f_uint(w, &m, "time", trace[i].time);
        mp_map_end(w, sub, m);
    }
}

proto_err_t msg_forward_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_forward_t *out)
{
    const msgpack_object *f[NKEYS(s_forward_keys)];
    proto_err_t rc = mp_map(ctx, o, s_forward_keys, NKEYS(s_forward_keys), f);
    if (!rc)
        rc = msg_u8(ctx, "kind", f[0], true, 0, 255, &out->kind);
    if (!rc && !s_sender_kind(out->kind))
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "kind", "%u is not SUBMIT, REVOKE, UPDATE or REPLACE",
                     out->kind);
    if (!rc)
        rc = s_body_decode(ctx, f[1], out);
    if (!rc)
        rc = s_to_decode(ctx, f[2], out);
    if (!rc)
        rc = msg_broker_trace_decode(ctx, "trace", f[3], true, 1, &out->trace, &out->ntrace);
    return rc;
}

void msg_forward_encode(mp_writer_t *w, const proto_forward_t *in)
{
    uint32_t n = 0;
    size_t map = mp_map_begin(w);
    mp_f_uint(w, &n, "kind", in->kind);
    mp_f_bin(w, &n, "body", in->body, in->body_len);
    mp_f_key(w, &n, "to");
    mp_w_array(w, in->nto);
    for (uint32_t i = 0; i < in->nto; i++)
        mp_w_str(w, in->to[i]);
    msg_broker_trace_encode(w, &n, "trace", in->trace, in->ntrace);
    mp_map_end(w, map, n);
}

proto_err_t proto_forward_next_check(const proto_forward_t *fwd, const char *next)
{
    if (!fwd || !next)
        return PROTO_ERR_INVALID_ARG;
    for (uint32_t i = 0; i < fwd->ntrace; i++)
        if (strcmp(fwd->trace[i].broker, next) == 0)
            return PROTO_ERR_ROUTE_LOOP;
    if (fwd->ntrace >= PROTO_MAX_HOPS)
        return PROTO_ERR_HOP_LIMIT;
    return PROTO_OK;
}
