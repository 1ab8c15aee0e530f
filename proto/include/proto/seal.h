/*  proto/seal.h - sealed attachments (PROTOCOL.md section 11).

    One attachment is encrypted once with a random file key
    (crypto_secretstream_xchacha20poly1305, the plaintext cut into chunks)
    and the file key is sealed (crypto_box_seal) to every recipient's
    Curve25519 key, the one the directory derives from its Ed25519 key.
    The attachment's `size` and `hash` then describe the ciphertext, so the
    broker checks it without the key; `enc.plain_hash` is the BLAKE2b-256 of
    the plaintext, signed with the envelope, so a recipient checks that it
    reads what the sender signed.

    This module does the cryptography only: no directory, no store, no
    files. The agent decides when to seal and with which keys.
*/
#ifndef PROTO_SEAL_H
#define PROTO_SEAL_H

#include "proto/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PROTO_SEAL_ALG       "xchacha20poly1305-secretstream+sealbox"
#define PROTO_SEAL_CHUNK     (1u << 20) // plaintext bytes per chunk agents use
#define PROTO_SEAL_CHUNK_MIN 1024u
#define PROTO_SEAL_CHUNK_MAX (1u << 24)

//  One recipient of a sealed attachment.
typedef struct {
    const char *agency;      // its code, as in the document's `to`
    const uint8_t *curve_pk; // its Curve25519 key (directory curve_pk), 32 bytes
} proto_seal_to_t;

//  Bytes of the ciphertext frame for len bytes of plaintext in chunks of
//  chunk bytes: every chunk adds 17 bytes, and empty plaintext is still one
//  (final) chunk.
uint64_t proto_seal_size(uint64_t len, uint32_t chunk);

//  Encrypt len bytes at plain for the nto recipients. Fills enc (alg,
//  header, chunk, plain_hash, keys) with enc->keys pointing at keys, an
//  array of nto entries the caller owns (agency pointers borrowed from to),
//  and writes the ciphertext into out, replacing its contents. The file key
//  lives in sodium_malloc memory and is wiped before returning.
//  PROTO_ERR_INVALID_ARG on a chunk outside 1,024..16,777,216 or no
//  recipient, PROTO_ERR_CRYPTO if a recipient key is not a valid point,
//  PROTO_ERR_NOMEM.
proto_err_t proto_seal_encrypt(const void *plain, size_t len, uint32_t chunk,
                               const proto_seal_to_t *to, uint32_t nto, proto_enc_t *enc,
                               proto_sealed_key_t *keys, proto_buf_t *out) PROTO_MUST_CHECK;

//  Open a sealed attachment: find the file key sealed to agency, open it
//  with that agency's Curve25519 key pair, decrypt frame (len bytes, the
//  attachment's frame) and check the plaintext against enc->plain_hash.
//  The plaintext goes into out, replacing its contents.
//  PROTO_ERR_NOT_AUTHORIZED when nothing is sealed to agency;
//  PROTO_ERR_HASH_MISMATCH on any failure to authenticate (a key that does
//  not open, a chunk that does not decrypt, a missing or early final
//  chunk, bytes after it, a plaintext whose hash is not plain_hash);
//  PROTO_ERR_NOMEM. out is empty on failure.
proto_err_t proto_seal_decrypt(const proto_enc_t *enc, const void *frame, size_t len,
                               const char *agency, const uint8_t curve_pk[32],
                               const uint8_t *curve_sk, proto_buf_t *out) PROTO_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
