/*  msg_doc.c - the document envelope and the kinds that carry it.

    SUBMIT, REVOKE, UPDATE, REPLACE and DELIVER carry a signed document: its
    envelope (ids, parties, signers, references, route, attachments and
    their encryption, extension fields), its signature and, from the broker,
    its acceptance. This file holds their strict decoder and their encoder;
    the canonical signing bytes of the envelope are sign.c's.
*/
#include <sodium.h>
#include <string.h>

#include "msg_internal.h"
#include "proto/fname.h"

// ---------------------------------------------------------------------------
//  Lists the envelope uses

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
static const char *const s_enc_keys[] = { "alg", "header", "chunk", "keys", "plain_hash" };
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
        rc = msg_id(ctx, "doc", f[3], true, &ref->doc);
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
        rc = msg_u32(ctx, "chunk", f[2], true, 1024, 1u << 24, &enc->chunk);
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
    if (!rc)
        rc = mp_bin(ctx, "plain_hash", f[4], true, PROTO_HASH_LEN, enc->plain_hash);
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
        rc = msg_id(ctx, "id", f[D_ID], true, &doc->id);
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
        rc = msg_u8(ctx, "urgency", f[D_URGENCY], false, 0, 3, &doc->urgency);
    if (!rc)
        rc = msg_u8(ctx, "secrecy", f[D_SECRECY], false, 0, 3, &doc->secrecy);
    if (!rc)
        rc = msg_u8(ctx, "steering", f[D_STEERING], false, 0, 255, &doc->steering);
    if (!rc)
        rc = msg_u32(ctx, "pages", f[D_PAGES], false, 1, 1000000, &doc->pages);
    if (!rc)
        rc = msg_u32(ctx, "copies", f[D_COPIES], false, 1, 1000000, &doc->copies);
    if (!rc)
        rc = msg_u32(ctx, "appendixes", f[D_APPENDIXES], false, 1, 1000000, &doc->appendixes);
    if (!rc)
        rc = s_text_list(ctx, "places", f[D_PLACES], PROTO_MAX_PLACES, PROTO_MAX_NAME, &doc->places,
                         &doc->nplaces);
    if (!rc)
        rc = s_list(ctx, "response_for", f[D_RESPONSE_FOR], PROTO_MAX_REFS, sizeof(proto_ref_t),
                    &doc->response_for, &doc->nresponse_for, s_ref_item, NULL);
    if (!rc)
        rc = msg_u8(ctx, "op", f[D_OP], false, 0, 3, &doc->op);
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
            rc = msg_id(ctx, NULL, &refs[i], true, &doc->op_refs[i]);
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

//  One attachment's map, as s_att_item reads it back.
static void s_att_encode(mp_writer_t *w, const proto_attachment_t *att)
{
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
        mp_f_bin(w, &e, "plain_hash", enc->plain_hash, PROTO_HASH_LEN);
        mp_map_end(w, sub_enc, e);
    }
    mp_map_end(w, sub, m);
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
        for (uint32_t i = 0; i < doc->natt; i++)
            s_att_encode(w, &doc->att[i]);
    }
    mp_map_end(w, map, n);
}

// ---------------------------------------------------------------------------
//  Document-carrying kinds

static const char *const s_document_keys[] = { "doc", "sig", "accepted", "seq", "route" };

proto_err_t msg_document_decode(mp_ctx_t *ctx, int kind, const msgpack_object *o,
                                proto_document_t *out)
{
    const msgpack_object *f[NKEYS(s_document_keys)];
    bool deliver = kind == PROTO_KIND_DELIVER;
    //  Only DELIVER has the broker's acceptance fields.
    proto_err_t rc = mp_map(ctx, o, s_document_keys, deliver ? 5 : 2, f);
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
    //  A route names at least the broker the document came from and this one.
    if (!rc && deliver)
        rc = msg_broker_trace_decode(ctx, "route", f[4], false, 2, &out->route, &out->nroute);
    static const uint8_t op_of_kind[] = { [PROTO_KIND_SUBMIT - 10] = PROTO_OP_NEW,
                                          [PROTO_KIND_REVOKE - 10] = PROTO_OP_REVOKE,
                                          [PROTO_KIND_UPDATE - 10] = PROTO_OP_UPDATE,
                                          [PROTO_KIND_REPLACE - 10] = PROTO_OP_REPLACE };
    if (!rc && !deliver && out->doc.op != op_of_kind[kind - 10])
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "doc.op", "operation %u does not match kind %s",
                     out->doc.op, proto_kind_name(kind));
    return rc;
}

void msg_document_encode(mp_writer_t *w, int kind, const proto_document_t *in)
{
    uint32_t n = 0;
    size_t map = mp_map_begin(w);
    mp_f_key(w, &n, "doc");
    s_doc_encode(w, &in->doc);
    mp_f_bin(w, &n, "sig", in->sig, PROTO_SIG_LEN);
    if (kind == PROTO_KIND_DELIVER) {
        mp_f_uint(w, &n, "accepted", in->accepted);
        mp_f_uint(w, &n, "seq", in->seq);
        if (in->nroute)
            msg_broker_trace_encode(w, &n, "route", in->route, in->nroute);
    }
    mp_map_end(w, map, n);
}
