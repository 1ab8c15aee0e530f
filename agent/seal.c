/*  agent/seal.c - sealing attachments to the recipients, opening those
    sealed to this agency (agent/seal.h, PROTOCOL.md section 11).

    The recipients' Curve25519 keys are derived from their Ed25519 keys in
    the directory the broker signed, the same derivation CURVE uses; this
    agency's own secret half comes from its identity. Plaintext lives only
    in buffers that are wiped before they are freed.
*/
#include "seal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "directory.h"
#include "proto/seal.h"

struct agent_seal {
    proto_enc_t enc[PROTO_MAX_ATTACHMENTS];      // what doc->att[i].enc points to
    proto_sealed_key_t *keys;                    // natt rows of nto sealed keys
    proto_buf_t frames[PROTO_MAX_ATTACHMENTS];   // ciphertext frames
    uint8_t (*curve)[crypto_box_PUBLICKEYBYTES]; // the recipients' keys, nto
    uint32_t natt;
};

void agent_seal_destroy(agent_seal_t **seal_p)
{
    if (!seal_p || !*seal_p)
        return;
    agent_seal_t *seal = *seal_p;
    for (uint32_t i = 0; i < seal->natt; i++)
        proto_buf_free(&seal->frames[i]);
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

proto_err_t agent_seal_document(const agent_t *self, proto_doc_t *doc, const void **data,
                                size_t *lens, agent_seal_t **seal_p, char *why, size_t why_len)
{
    agent_seal_t *seal = calloc(1, sizeof *seal);
    proto_seal_to_t *to = calloc(doc->nto ? doc->nto : 1, sizeof *to);
    if (seal) {
        seal->keys = calloc((size_t) doc->nto * (doc->natt ? doc->natt : 1), sizeof *seal->keys);
        seal->curve = calloc(doc->nto ? doc->nto : 1, sizeof *seal->curve);
    }
    proto_err_t rc = seal && to && seal->keys && seal->curve ? PROTO_OK : PROTO_ERR_NOMEM;
    if (rc)
        snprintf(why, why_len, "out of memory");
    if (!rc)
        rc = s_recipients(self, doc, seal, to, why, why_len);
    for (uint32_t i = 0; !rc && i < doc->natt; i++) {
        proto_buf_init(&seal->frames[i]);
        seal->natt = i + 1;
        rc = proto_seal_encrypt(data[i], lens[i], PROTO_SEAL_CHUNK, to, doc->nto, &seal->enc[i],
                                seal->keys + (size_t) i * doc->nto, &seal->frames[i]);
        if (rc)
            snprintf(why, why_len, "attachment %s cannot be sealed: %s", doc->att[i].name,
                     proto_strerror(rc));
    }
    free(to);
    if (rc) {
        agent_seal_destroy(&seal);
        return rc;
    }
    //  Only now that every attachment is sealed does the document change.
    for (uint32_t i = 0; i < doc->natt; i++) {
        proto_attachment_t *att = &doc->att[i];
        proto_attachment_hash(att, seal->frames[i].data, seal->frames[i].len);
        att->enc = &seal->enc[i];
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
                     "sealed attachment %s does not open to the plaintext the "
                     "sender signed",
                     doc->att[i].name);
            rc = PROTO_ERR_HASH_MISMATCH;
        }
        sodium_memzero(plain.data, plain.len);
    }
    if (plain.data)
        sodium_memzero(plain.data, plain.cap);
    proto_buf_free(&plain);
    return rc;
}
