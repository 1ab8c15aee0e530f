/*  seal.c - sealed attachments: secretstream under a random file key, the
    key sealed to each recipient (PROTOCOL.md section 11).

    The file key exists only here, in sodium_malloc memory, and is wiped
    before each function returns. Encryption cuts the plaintext into chunks
    of `chunk` bytes, the last one (possibly empty) tagged FINAL, so a
    receiver can tell a truncated stream from a whole one. Decryption
    accepts exactly that shape and reports every way of failing to
    authenticate as one code, PROTO_ERR_HASH_MISMATCH: a recipient cannot
    tell a damaged frame from a wrong key or a lying sender, and need not.
*/
#include "proto/seal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define S_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define S_KEYLEN crypto_secretstream_xchacha20poly1305_KEYBYTES

_Static_assert(crypto_secretstream_xchacha20poly1305_HEADERBYTES == 24, "enc.header is 24 bytes");
_Static_assert(crypto_box_SEALBYTES + S_KEYLEN == PROTO_SEALED_KEY_LEN, "sealed key is 80 bytes");

uint64_t proto_seal_size(uint64_t len, uint32_t chunk)
{
    uint64_t chunks = chunk ? (len + chunk - 1) / chunk : 1;
    if (chunks == 0)
        chunks = 1;
    //  A plaintext that fills its last chunk exactly still ends on that
    //  chunk: the FINAL tag rides on it, no empty chunk follows.
    return len + chunks * S_ABYTES;
}

//  Make room for need bytes in out and empty it.
static proto_err_t s_reserve(proto_buf_t *out, uint64_t need)
{
    proto_buf_reset(out);
    if (need > SIZE_MAX)
        return PROTO_ERR_NOMEM;
    if (out->cap >= need)
        return PROTO_OK;
    uint8_t *grown = realloc(out->data, need ? (size_t) need : 1);
    if (!grown)
        return PROTO_ERR_NOMEM;
    out->data = grown;
    out->cap = (size_t) (need ? need : 1);
    return PROTO_OK;
}

proto_err_t proto_seal_encrypt(const void *plain, size_t len, uint32_t chunk,
                               const proto_seal_to_t *to, uint32_t nto, proto_enc_t *enc,
                               proto_sealed_key_t *keys, proto_buf_t *out)
{
    if ((!plain && len) || !to || !nto || !enc || !keys || !out || chunk < PROTO_SEAL_CHUNK_MIN ||
        chunk > PROTO_SEAL_CHUNK_MAX)
        return PROTO_ERR_INVALID_ARG;
    proto_err_t rc = s_reserve(out, proto_seal_size(len, chunk));
    if (rc)
        return rc;
    uint8_t *key = sodium_malloc(S_KEYLEN);
    if (!key)
        return PROTO_ERR_NOMEM;
    crypto_secretstream_xchacha20poly1305_keygen(key);
    memset(enc, 0, sizeof *enc);
    enc->alg = PROTO_SEAL_ALG;
    enc->chunk = chunk;
    enc->keys = keys;
    enc->nkeys = nto;
    for (uint32_t i = 0; !rc && i < nto; i++) {
        keys[i].agency = to[i].agency;
        if (crypto_box_seal(keys[i].sealed, key, S_KEYLEN, to[i].curve_pk) != 0)
            rc = PROTO_ERR_CRYPTO;
    }
    crypto_secretstream_xchacha20poly1305_state st;
    if (!rc && crypto_secretstream_xchacha20poly1305_init_push(&st, enc->header, key) != 0)
        rc = PROTO_ERR_CRYPTO;
    const uint8_t *p = plain;
    size_t done = 0;
    while (!rc) {
        size_t n = len - done < chunk ? len - done : chunk;
        bool last = done + n == len;
        unsigned long long clen = 0;
        uint8_t tag = last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                           : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
        if (crypto_secretstream_xchacha20poly1305_push(&st, out->data + out->len, &clen,
                                                       n ? p + done : NULL, n, NULL, 0, tag) != 0)
            rc = PROTO_ERR_CRYPTO;
        out->len += (size_t) clen;
        done += n;
        if (last)
            break;
    }
    sodium_memzero(&st, sizeof st);
    sodium_free(key);
    if (!rc)
        crypto_generichash(enc->plain_hash, PROTO_HASH_LEN, plain, len, NULL, 0);
    else
        proto_buf_reset(out);
    return rc;
}

//  Decrypt the chunks of frame into out (room reserved) and hash them.
static proto_err_t s_pull(const proto_enc_t *enc, const uint8_t *key, const uint8_t *frame,
                          size_t len, proto_buf_t *out)
{
    crypto_secretstream_xchacha20poly1305_state st;
    if (crypto_secretstream_xchacha20poly1305_init_pull(&st, enc->header, key) != 0)
        return PROTO_ERR_HASH_MISMATCH;
    crypto_generichash_state hs;
    crypto_generichash_init(&hs, NULL, 0, PROTO_HASH_LEN);
    proto_err_t rc = PROTO_ERR_HASH_MISMATCH; // until a FINAL chunk ends the frame
    size_t pos = 0;
    while (pos < len) {
        size_t n =
            len - pos < (size_t) enc->chunk + S_ABYTES ? len - pos : (size_t) enc->chunk + S_ABYTES;
        unsigned long long mlen = 0;
        uint8_t tag = 0;
        if (n < S_ABYTES ||
            crypto_secretstream_xchacha20poly1305_pull(&st, out->data + out->len, &mlen, &tag,
                                                       frame + pos, n, NULL, 0) != 0)
            break;
        crypto_generichash_update(&hs, out->data + out->len, (size_t) mlen);
        out->len += (size_t) mlen;
        pos += n;
        bool final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
        if (final != (pos == len) ||
            (!final && tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE))
            break; // FINAL before the end, or the end without FINAL
        if (final)
            rc = PROTO_OK;
    }
    uint8_t hash[PROTO_HASH_LEN];
    crypto_generichash_final(&hs, hash, sizeof hash);
    if (!rc && sodium_memcmp(hash, enc->plain_hash, PROTO_HASH_LEN) != 0)
        rc = PROTO_ERR_HASH_MISMATCH;
    sodium_memzero(&st, sizeof st);
    return rc;
}

proto_err_t proto_seal_decrypt(const proto_enc_t *enc, const void *frame, size_t len,
                               const char *agency, const uint8_t curve_pk[32],
                               const uint8_t *curve_sk, proto_buf_t *out)
{
    if (!enc || (!frame && len) || !agency || !curve_pk || !curve_sk || !out ||
        enc->chunk < PROTO_SEAL_CHUNK_MIN)
        return PROTO_ERR_INVALID_ARG;
    const proto_sealed_key_t *mine = NULL;
    for (uint32_t i = 0; i < enc->nkeys && !mine; i++)
        if (strcmp(enc->keys[i].agency, agency) == 0)
            mine = &enc->keys[i];
    if (!mine)
        return PROTO_ERR_NOT_AUTHORIZED;
    //  The plaintext is never longer than the frame: reserve that much once.
    proto_err_t rc = s_reserve(out, len);
    if (rc)
        return rc;
    uint8_t *key = sodium_malloc(S_KEYLEN);
    if (!key)
        return PROTO_ERR_NOMEM;
    if (crypto_box_seal_open(key, mine->sealed, PROTO_SEALED_KEY_LEN, curve_pk, curve_sk) != 0)
        rc = PROTO_ERR_HASH_MISMATCH;
    if (!rc)
        rc = s_pull(enc, key, frame, len, out);
    sodium_free(key);
    if (rc) {
        sodium_memzero(out->data, out->len);
        proto_buf_reset(out);
    }
    return rc;
}
