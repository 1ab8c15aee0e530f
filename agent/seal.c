/*  agent/seal.c - sealing attachments to the recipients, opening those
    sealed to this agency (agent/seal.h, PROTOCOL.md section 11).

    The recipients' Curve25519 keys are derived from their Ed25519 keys in
    the directory the broker signed, the same derivation CURVE uses; this
    agency's own secret half comes from its identity. Plaintext lives only
    in buffers that are wiped before they are freed.
*/
#include "seal.h"

#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent_internal.h"
#include "directory.h"
#include "proto/agency.h"
#include "proto/seal.h"

struct agent_seal {
    proto_enc_t enc[PROTO_MAX_ATTACHMENTS];      // what doc->att[i].enc points to
    proto_buf_t frames[PROTO_MAX_ATTACHMENTS];   // ciphertext frames
    proto_attachment_t *att;                     // with text: doc->att, then the text's
    msgpack_sbuffer text;                        // with text: its plaintext
    proto_sealed_key_t *keys;                    // natt rows of nto sealed keys
    uint8_t (*curve)[crypto_box_PUBLICKEYBYTES]; // the recipients' keys, nto
    uint32_t natt;                               // frames made
};

void agent_seal_destroy(agent_seal_t **seal_p)
{
    if (!seal_p || !*seal_p)
        return;
    agent_seal_t *seal = *seal_p;
    for (uint32_t i = 0; i < seal->natt; i++)
        proto_buf_free(&seal->frames[i]);
    if (seal->text.data)
        sodium_memzero(seal->text.data, seal->text.alloc);
    msgpack_sbuffer_destroy(&seal->text);
    free(seal->att);
    free(seal->keys);
    free(seal->curve);
    free(seal);
    *seal_p = NULL;
}

//  The recipients' Curve25519 keys, in the order of doc->to.
static proto_err_t s_recipients(const agent_t *self, const proto_doc_t *doc, agent_seal_t *seal,
                                proto_seal_to_t *to, char *why, size_t why_len)
{
    for (uint32_t r = 0; r < doc->nto; r++) {
        const proto_dir_entry_t *e = agent_dir_find(self, doc->to[r]);
        if (!e) {
            snprintf(why, why_len, "recipient %s has no key in this agent's directory%s",
                     doc->to[r], self->directory ? "" : " (none received from the broker yet)");
            return PROTO_ERR_UNKNOWN_AGENCY;
        }
        if (crypto_sign_ed25519_pk_to_curve25519(seal->curve[r], e->key) != 0) {
            snprintf(why, why_len, "recipient %s: its directory key cannot take a sealed box",
                     doc->to[r]);
            return PROTO_ERR_CRYPTO;
        }
        to[r] = (proto_seal_to_t){ doc->to[r], seal->curve[r] };
    }
    return PROTO_OK;
}

//  The sealed text's plaintext, {subject, content}, and the attachment
//  list that ends with it.
static proto_err_t s_text(const proto_doc_t *doc, agent_seal_t *seal, char *why, size_t why_len)
{
    if (doc->natt >= PROTO_MAX_ATTACHMENTS) {
        snprintf(why, why_len, "the sealed subject would be attachment %d, over the limit of %d",
                 PROTO_MAX_ATTACHMENTS + 1, PROTO_MAX_ATTACHMENTS);
        return PROTO_ERR_LIMIT;
    }
    for (uint32_t i = 0; i < doc->natt; i++)
        if (strcasecmp(doc->att[i].name, AGENT_SEAL_TEXT_NAME) == 0) {
            snprintf(why, why_len, "attachment %s: the sealed subject takes this name",
                     doc->att[i].name);
            return PROTO_ERR_DUP_NAME;
        }
    seal->att = calloc(doc->natt + 1, sizeof *seal->att);
    if (!seal->att)
        return PROTO_ERR_NOMEM;
    if (doc->natt)
        memcpy(seal->att, doc->att, doc->natt * sizeof *seal->att);
    seal->att[doc->natt] =
        (proto_attachment_t){ .name = AGENT_SEAL_TEXT_NAME, .type = AGENT_SEAL_TEXT_TYPE };
    msgpack_packer pk;
    msgpack_packer_init(&pk, &seal->text, msgpack_sbuffer_write);
    int n = doc->content ? 2 : 1;
    const char *keys[2] = { "subject", "content" }, *values[2] = { doc->subject, doc->content };
    msgpack_pack_map(&pk, (size_t) n);
    for (int k = 0; k < n; k++) {
        msgpack_pack_str_with_body(&pk, keys[k], strlen(keys[k]));
        msgpack_pack_str_with_body(&pk, values[k], strlen(values[k]));
    }
    return seal->text.data ? PROTO_OK : PROTO_ERR_NOMEM;
}

proto_err_t agent_seal_document(const agent_t *self, proto_doc_t *doc, bool text, const void **data,
                                size_t *lens, agent_seal_t **seal_p, char *why, size_t why_len)
{
    uint32_t natt = doc->natt + (text ? 1 : 0);
    agent_seal_t *seal = calloc(1, sizeof *seal);
    proto_seal_to_t *to = calloc(doc->nto ? doc->nto : 1, sizeof *to);
    if (seal) {
        msgpack_sbuffer_init(&seal->text);
        seal->keys = calloc((size_t) doc->nto * (natt ? natt : 1), sizeof *seal->keys);
        seal->curve = calloc(doc->nto ? doc->nto : 1, sizeof *seal->curve);
    }
    proto_err_t rc = seal && to && seal->keys && seal->curve ? PROTO_OK : PROTO_ERR_NOMEM;
    if (rc)
        snprintf(why, why_len, "out of memory");
    if (!rc)
        rc = s_recipients(self, doc, seal, to, why, why_len);
    if (!rc && text && (rc = s_text(doc, seal, why, why_len)) == PROTO_OK) {
        data[doc->natt] = seal->text.data;
        lens[doc->natt] = seal->text.size;
    }
    const proto_attachment_t *att = seal && seal->att ? seal->att : doc->att;
    for (uint32_t i = 0; !rc && i < natt; i++) {
        proto_buf_init(&seal->frames[i]);
        seal->natt = i + 1;
        rc = proto_seal_encrypt(data[i], lens[i], PROTO_SEAL_CHUNK, to, doc->nto, &seal->enc[i],
                                seal->keys + (size_t) i * doc->nto, &seal->frames[i]);
        if (rc)
            snprintf(why, why_len, "attachment %s cannot be sealed: %s", att[i].name,
                     proto_strerror(rc));
    }
    free(to);
    if (rc) {
        agent_seal_destroy(&seal);
        return rc;
    }
    //  Only now that everything is sealed does the document change.
    if (text) {
        doc->att = seal->att;
        doc->natt = natt;
        doc->subject = AGENT_SEAL_PLACEHOLDER;
        doc->content = NULL;
    }
    for (uint32_t i = 0; i < doc->natt; i++) {
        proto_attachment_t *a = &doc->att[i];
        proto_attachment_hash(a, seal->frames[i].data, seal->frames[i].len);
        a->enc = &seal->enc[i];
        data[i] = seal->frames[i].data;
        lens[i] = seal->frames[i].len;
    }
    *seal_p = seal;
    return PROTO_OK;
}

proto_err_t agent_seal_open(const agent_t *self, const proto_attachment_t *att, const void *frame,
                            size_t len, proto_buf_t *out)
{
    if (!att->enc)
        return PROTO_ERR_INVALID_ARG;
    return proto_seal_decrypt(att->enc, frame, len, self->agency,
                              proto_identity_public(self->identity)->curve_pk,
                              proto_identity_curve_sk(self->identity), out);
}

// ---------------------------------------------------------------------------
//  The sealed text

bool agent_seal_is_text(const proto_doc_t *doc, uint32_t i)
{
    return doc->natt > 0 && i == doc->natt - 1 && doc->att[i].enc &&
           strcmp(doc->att[i].type, AGENT_SEAL_TEXT_TYPE) == 0;
}

void agent_seal_text_free(agent_seal_text_t *text)
{
    free(text->subject);
    free(text->content);
    text->subject = text->content = NULL;
}

//  A str of the sealed text as a NUL-terminated copy: UTF-8 without NUL,
//  at most max characters, as the envelope's own fields.
static proto_err_t s_text_str(const msgpack_object *o, size_t max, char **out)
{
    size_t chars = 0;
    if (o->type != MSGPACK_OBJECT_STR || memchr(o->via.str.ptr, 0, o->via.str.size) ||
        proto_utf8_check(o->via.str.ptr, o->via.str.size, &chars) != PROTO_OK || chars > max)
        return PROTO_ERR_VALUE;
    *out = malloc(o->via.str.size + 1);
    if (!*out)
        return PROTO_ERR_NOMEM;
    memcpy(*out, o->via.str.ptr, o->via.str.size);
    (*out)[o->via.str.size] = '\0';
    return PROTO_OK;
}

static bool s_is_key(const msgpack_object *k, const char *name)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(name) &&
           memcmp(k->via.str.ptr, name, k->via.str.size) == 0;
}

//  The sealed text's plaintext: exactly one map {subject: str, content: str
//  (optional)}, nothing else.
static proto_err_t s_text_parse(const proto_buf_t *plain, agent_seal_text_t *text)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    proto_err_t rc = PROTO_ERR_VALUE;
    if (msgpack_unpack_next(&u, (const char *) plain->data, plain->len, &off) ==
            MSGPACK_UNPACK_SUCCESS &&
        off == plain->len && u.data.type == MSGPACK_OBJECT_MAP)
        rc = PROTO_OK;
    for (uint32_t i = 0; !rc && i < u.data.via.map.size; i++) {
        const msgpack_object_kv *kv = &u.data.via.map.ptr[i];
        bool subject = s_is_key(&kv->key, "subject");
        char **slot = subject                         ? &text->subject
                      : s_is_key(&kv->key, "content") ? &text->content
                                                      : NULL;
        if (!slot || *slot)
            rc = PROTO_ERR_VALUE; // an unknown key, or one twice
        else
            rc = s_text_str(&kv->val, subject ? PROTO_MAX_SUBJECT : PROTO_MAX_CONTENT, slot);
    }
    if (!rc && (!text->subject || !text->subject[0]))
        rc = PROTO_ERR_VALUE;
    msgpack_unpacked_destroy(&u);
    if (rc)
        agent_seal_text_free(text);
    return rc;
}

proto_err_t agent_seal_text_open(const agent_t *self, const proto_doc_t *doc,
                                 const void *const *frames, const size_t *lens,
                                 agent_seal_text_t *text)
{
    memset(text, 0, sizeof *text);
    if (!doc->natt || !agent_seal_is_text(doc, doc->natt - 1))
        return PROTO_ERR_NOT_FOUND;
    uint32_t i = doc->natt - 1;
    proto_buf_t plain;
    proto_buf_init(&plain);
    proto_err_t rc = agent_seal_open(self, &doc->att[i], frames[i], lens[i], &plain);
    if (rc && rc != PROTO_ERR_NOMEM)
        rc = PROTO_ERR_HASH_MISMATCH;
    if (!rc)
        rc = s_text_parse(&plain, text);
    if (plain.data)
        sodium_memzero(plain.data, plain.cap);
    proto_buf_free(&plain);
    return rc;
}

// ---------------------------------------------------------------------------
//  Deliveries

proto_err_t agent_seal_check(const agent_t *self, const proto_doc_t *doc, const void *const *frames,
                             const size_t *lens, char *reason, size_t rlen)
{
    proto_buf_t plain;
    proto_buf_init(&plain);
    proto_err_t rc = PROTO_OK;
    for (uint32_t i = 0; !rc && i < doc->natt; i++) {
        if (!doc->att[i].enc)
            continue;
        rc = agent_seal_open(self, &doc->att[i], frames[i], lens[i], &plain);
        if (rc == PROTO_ERR_NOMEM)
            break;
        if (rc) {
            //  Section 11: whatever fails, a sealed attachment that does not
            //  open to what the sender signed is a hash mismatch.
            snprintf(reason, rlen,
                     "sealed attachment %s does not open to the plaintext the sender signed",
                     doc->att[i].name);
            rc = PROTO_ERR_HASH_MISMATCH;
        }
        sodium_memzero(plain.data, plain.len);
    }
    if (plain.data)
        sodium_memzero(plain.data, plain.cap);
    proto_buf_free(&plain);
    //  It opens; the sealed subject must also be one the API can show.
    agent_seal_text_t text;
    proto_err_t trc =
        rc ? PROTO_ERR_NOT_FOUND : agent_seal_text_open(self, doc, frames, lens, &text);
    if (trc == PROTO_OK) {
        agent_seal_text_free(&text);
    } else if (trc != PROTO_ERR_NOT_FOUND) {
        snprintf(reason, rlen, "the sealed subject and content are not a map of two texts");
        rc = trc;
    }
    return rc;
}
