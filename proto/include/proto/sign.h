/*  proto/sign.h - canonical signing bytes, content hashes, signatures.

    What is signed is never the wire body but a canonical encoding built from
    the decoded struct: a msgpack array with a fixed field order, absent
    optional fields as nil, every integer, string, binary and array header in
    its shortest msgpack form, and a domain string as first element so a
    signature over one kind of object can never pass for another:

        "truc/doc/1"        document envelope   (signed by the sender)
        "truc/status/1"     status notice       (signed by its sender)
        "truc/head/1"       receipt tree head   (signed by broker or recipient)
        "truc/leaf/1"       receipt leaf        (hashed into the tree)
        "truc/directory/1"  directory snapshot  (signed by the broker)

    PROTOCOL.md gives each array element by element. Signatures are Ed25519
    (libsodium crypto_sign_detached) over the canonical bytes; content hashes
    are BLAKE2b-256 (crypto_generichash, no key) of the canonical bytes.
*/
#ifndef PROTO_SIGN_H
#define PROTO_SIGN_H

#include "proto/identity.h"
#include "proto/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Canonical bytes of each signed object, replacing buf's contents.
//  PROTO_ERR_NOMEM is the only failure.
proto_err_t proto_doc_canonical(const proto_doc_t *doc, proto_buf_t *buf) PROTO_MUST_CHECK;
proto_err_t proto_notice_canonical(const proto_notice_t *notice, proto_buf_t *buf) PROTO_MUST_CHECK;
proto_err_t proto_head_canonical(const proto_head_t *head, proto_buf_t *buf) PROTO_MUST_CHECK;
proto_err_t proto_leaf_canonical(const proto_leaf_t *leaf, proto_buf_t *buf) PROTO_MUST_CHECK;
proto_err_t proto_directory_canonical(const proto_directory_msg_t *dir,
                                      proto_buf_t *buf) PROTO_MUST_CHECK;

//  Content hashes: BLAKE2b-256 of the canonical bytes.
proto_err_t proto_doc_hash(const proto_doc_t *doc, uint8_t hash[PROTO_HASH_LEN]) PROTO_MUST_CHECK;
proto_err_t proto_notice_hash(const proto_notice_t *notice,
                              uint8_t hash[PROTO_HASH_LEN]) PROTO_MUST_CHECK;

//  Sign with an identity. The identity's name must equal the object's
//  signing agency (doc->from, notice->from, head->signer, dir->broker),
//  and documents and notices need an agency identity, directory snapshots a
//  broker identity; otherwise PROTO_ERR_NOT_AUTHORIZED: nothing signs for
//  someone else.
proto_err_t proto_doc_sign(const proto_doc_t *doc, const proto_identity_t *id,
                           uint8_t sig[PROTO_SIG_LEN]) PROTO_MUST_CHECK;
proto_err_t proto_notice_sign(const proto_notice_t *notice, const proto_identity_t *id,
                              uint8_t sig[PROTO_SIG_LEN]) PROTO_MUST_CHECK;
proto_err_t proto_head_sign(const proto_head_t *head, const proto_identity_t *id,
                            uint8_t sig[PROTO_SIG_LEN]) PROTO_MUST_CHECK;
proto_err_t proto_directory_sign(const proto_directory_msg_t *dir, const proto_identity_t *id,
                                 uint8_t sig[PROTO_SIG_LEN]) PROTO_MUST_CHECK;

//  Verify against an Ed25519 public key. PROTO_OK or PROTO_ERR_BAD_SIGNATURE
//  (PROTO_ERR_NOMEM if the canonical bytes could not be built).
proto_err_t proto_doc_verify(const proto_doc_t *doc, const uint8_t pk[PROTO_KEY_LEN],
                             const uint8_t sig[PROTO_SIG_LEN]) PROTO_MUST_CHECK;
proto_err_t proto_notice_verify(const proto_notice_t *notice, const uint8_t pk[PROTO_KEY_LEN],
                                const uint8_t sig[PROTO_SIG_LEN]) PROTO_MUST_CHECK;
proto_err_t proto_head_verify(const proto_head_t *head, const uint8_t pk[PROTO_KEY_LEN],
                              const uint8_t sig[PROTO_SIG_LEN]) PROTO_MUST_CHECK;
proto_err_t proto_directory_verify(const proto_directory_msg_t *dir,
                                   const uint8_t pk[PROTO_KEY_LEN],
                                   const uint8_t sig[PROTO_SIG_LEN]) PROTO_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
