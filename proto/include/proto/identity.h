/*  proto/identity.h - agency and broker identities, and their key files.

    An identity is one 32-byte random seed. The Ed25519 signing key pair is
    derived from the seed, and the Curve25519 key pair that ZeroMQ CURVE uses
    for transport is derived from the Ed25519 pair, so one secret protects
    both. An identity has a role: an agency (named by its agency code) or a
    broker (named by a label, see proto/agency.h).

    This module owns:
      - proto_identity_t, an opaque handle holding the secret keys in
        sodium_malloc memory that is wiped when the handle is destroyed;
      - proto_public_t, the public half, a plain struct that is safe to copy;
      - the secret key file and the public identity file (formats in
        keys/README.md), the passphrase sources, fingerprints, hex and Z85.

    The key files are read and written through proto/fileio.h, which this
    header includes for its callers, and parsed with proto/ini.h.

    It does not know about the wire protocol, sockets or the directory's
    trust decisions. Nothing here logs; failures come back as proto_err_t
    with an optional human-readable detail in a caller's buffer.
*/
#ifndef PROTO_IDENTITY_H
#define PROTO_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/agency.h"
#include "proto/err.h"
#include "proto/fileio.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PROTO_IDENTITY_KEY_LEN  32 // Ed25519 and Curve25519 public and secret keys
#define PROTO_IDENTITY_SEED_LEN 32 // the one secret an identity is made of
#define PROTO_IDENTITY_SIG_LEN  64 // Ed25519 signature
#define PROTO_FINGERPRINT_LEN   39 // "xxxx:xxxx:xxxx:xxxx:xxxx:xxxx:xxxx:xxxx", without NUL
#define PROTO_KEY_FILE_MAX      (64 * 1024) // bytes: key files are tiny, larger ones are refused
#define PROTO_PASSPHRASE_MAX    1024        // bytes
#define PROTO_PASSPHRASE_ENV    "TRUC_PASSPHRASE" // the conventional environment variable

typedef enum {
    PROTO_ROLE_AGENCY = 1, // named by an agency code (proto_agency_code_check)
    PROTO_ROLE_BROKER = 2, // named by a label (proto_label_check)
} proto_role_t;

//  How hard Argon2id works to turn a passphrase into the key-file key. The
//  values used are stored in the file, so loading needs no strength.
typedef enum {
    PROTO_KDF_INTERACTIVE = 0, // libsodium's *_INTERACTIVE limits (the default)
    PROTO_KDF_MODERATE = 1,    // *_MODERATE
    PROTO_KDF_SENSITIVE = 2,   // *_SENSITIVE (1 GiB of memory)
    PROTO_KDF_MIN = 3,         // *_MIN: for tests only, offers no real protection
} proto_kdf_strength_t;

//  A public identity: what others need to authenticate and verify us.
typedef struct {
    proto_role_t role;                        // agency or broker
    char name[PROTO_LABEL_MAX + 1];           // agency code or broker label, NUL-terminated
    uint8_t sign_pk[PROTO_IDENTITY_KEY_LEN];  // Ed25519 public key
    uint8_t curve_pk[PROTO_IDENTITY_KEY_LEN]; // Curve25519 key derived from sign_pk
} proto_public_t;

//  An identity with its secret keys. Opaque.
typedef struct proto_identity proto_identity_t;

//  ---------------------------------------------------------------------
//  Identities

//  Return "agency" or "broker", or "?" for anything else.
const char *proto_role_name(proto_role_t role);

//  Check that name is a valid name for role (an agency code or a label).
//  Returns PROTO_OK, PROTO_ERR_AGENCY_CODE (bad agency code), PROTO_ERR_VALUE
//  (bad label) or PROTO_ERR_INVALID_ARG (NULL name, unknown role).
proto_err_t proto_role_name_check(proto_role_t role, const char *name) PROTO_MUST_CHECK;

//  Create a new identity from a fresh random seed. name is copied. Returns
//  NULL if name is not valid for role (see proto_role_name_check), if the
//  crypto library cannot start, or if out of memory. The caller owns the
//  result and frees it with proto_identity_destroy.
proto_identity_t *proto_identity_generate(proto_role_t role, const char *name);

//  Destroy the identity, wiping its secrets, and set *self_p to NULL. Safe
//  on NULL and on a NULL *self_p.
void proto_identity_destroy(proto_identity_t **self_p);

//  The public half. Borrowed: valid until the identity is destroyed.
const proto_public_t *proto_identity_public(const proto_identity_t *self);

//  The Curve25519 secret key, for ZMQ_CURVE_SECRETKEY. Borrowed, read-only,
//  valid until the identity is destroyed. Never log or copy it to ordinary
//  memory.
const uint8_t *proto_identity_curve_sk(const proto_identity_t *self);

//  Sign len bytes at msg with the Ed25519 key; writes 64 bytes to sig.
//  Returns PROTO_ERR_INVALID_ARG on NULL arguments, PROTO_ERR_CRYPTO if the
//  crypto library fails.
proto_err_t proto_identity_sign(const proto_identity_t *self, const void *msg, size_t len,
                                uint8_t sig[PROTO_IDENTITY_SIG_LEN]);

//  Verify an Ed25519 signature by pk over len bytes at msg. Returns PROTO_OK,
//  PROTO_ERR_BAD_SIGNATURE, or PROTO_ERR_INVALID_ARG on NULL arguments.
proto_err_t proto_sig_verify(const uint8_t pk[PROTO_IDENTITY_KEY_LEN], const void *msg, size_t len,
                             const uint8_t sig[PROTO_IDENTITY_SIG_LEN]) PROTO_MUST_CHECK;

//  Fill *out from a role, a name and an Ed25519 public key, deriving the
//  Curve25519 key. Returns PROTO_ERR_AGENCY_CODE or PROTO_ERR_VALUE for a bad
//  name (see proto_role_name_check), PROTO_ERR_VALUE if sign_pk is not a
//  usable Ed25519 public key (small order, not on the curve).
proto_err_t proto_public_init(proto_public_t *out, proto_role_t role, const char *name,
                              const uint8_t sign_pk[PROTO_IDENTITY_KEY_LEN]) PROTO_MUST_CHECK;

//  Write the fingerprint of an Ed25519 public key to out: the first 16 bytes
//  of its unkeyed BLAKE2b-256 hash, as 8 groups of 4 lowercase hex digits
//  separated by ':' (39 characters and a NUL).
void proto_fingerprint(const uint8_t sign_pk[PROTO_IDENTITY_KEY_LEN],
                       char out[PROTO_FINGERPRINT_LEN + 1]);

//  ---------------------------------------------------------------------
//  Key files. Each function that reads a file takes errbuf/errlen (errbuf may
//  be NULL): on failure a one-line detail without the path is written there,
//  for example "line 6: seed must be 64 hex digits". Missing files give
//  PROTO_ERR_NOT_FOUND, other I/O failures PROTO_ERR_IO.

typedef enum {
    PROTO_KEY_FILE_SECRET = 1, // a [secret] key file
    PROTO_KEY_FILE_PUBLIC = 2, // a [public] identity file
} proto_key_file_kind_t;

//  Tell a secret key file from a public identity file by the first section
//  header, without interpreting anything else (and without a permission
//  check). Returns PROTO_ERR_KEY_FILE if the file is neither.
proto_err_t proto_key_file_kind(const char *path, proto_key_file_kind_t *kind, char *errbuf,
                                size_t errlen) PROTO_MUST_CHECK;

//  Load a secret key file. passphrase is borrowed and may be NULL for an
//  unencrypted file (it is ignored then). On success *out receives a new
//  identity the caller owns. Fails with:
//    PROTO_ERR_PERMISSIONS  the file is accessible by group or others (st_mode & 077);
//                           checked before anything is read
//    PROTO_ERR_KEY_FILE     larger than PROTO_KEY_FILE_MAX, missing, duplicate or unknown
//                           keys, bad hex, unknown format, role or encryption, or a name
//                           that does not match the encrypted one
//    PROTO_ERR_PASSPHRASE   the file is encrypted and passphrase is NULL, or the
//                           passphrase is wrong (or the encrypted part was altered)
//    PROTO_ERR_NOT_FOUND, PROTO_ERR_IO, PROTO_ERR_NOMEM, PROTO_ERR_CRYPTO
proto_err_t proto_identity_load(const char *path, const char *passphrase, proto_identity_t **out,
                                char *errbuf, size_t errlen) PROTO_MUST_CHECK;

//  Save the identity as a secret key file with mode 0600: written to a
//  temporary file in the same directory, fsync'd, moved into place, and the
//  directory fsync'd. With a non-NULL, non-empty passphrase the seed is
//  encrypted with a key derived by Argon2id at the given strength; with NULL
//  it is stored in clear. An existing file is replaced only if overwrite is
//  true, else PROTO_ERR_EXISTS. Other failures: PROTO_ERR_INVALID_ARG,
//  PROTO_ERR_IO, PROTO_ERR_NOMEM, PROTO_ERR_CRYPTO.
proto_err_t proto_identity_save(const proto_identity_t *self, const char *path,
                                const char *passphrase, proto_kdf_strength_t strength,
                                bool overwrite) PROTO_MUST_CHECK;

//  Load a public identity file into *out. The curve key and the fingerprint
//  in the file must match the ones derived from the signing key. Fails with
//  PROTO_ERR_KEY_FILE (any format violation; detail in errbuf),
//  PROTO_ERR_NOT_FOUND, PROTO_ERR_IO or PROTO_ERR_NOMEM.
proto_err_t proto_public_load(const char *path, proto_public_t *out, char *errbuf,
                              size_t errlen) PROTO_MUST_CHECK;

//  Save a public identity file (mode 0644 before umask), atomically as
//  proto_identity_save does. pub must be consistent (as proto_public_init
//  makes it), else PROTO_ERR_INVALID_ARG. An existing file is replaced only
//  if overwrite is true, else PROTO_ERR_EXISTS.
proto_err_t proto_public_save(const proto_public_t *pub, const char *path,
                              bool overwrite) PROTO_MUST_CHECK;

//  Read a passphrase. If file is not NULL, it is the first line of that file
//  without its line ending; the file must not be accessible by group or
//  others (PROTO_ERR_PERMISSIONS). Else, if env_var is not NULL and set, it is
//  that variable's value. On success *out receives a copy in sodium_malloc
//  memory that the caller frees with proto_passphrase_free. Fails with
//  PROTO_ERR_PASSPHRASE if no source gives a passphrase or it is empty,
//  PROTO_ERR_LIMIT if it is longer than PROTO_PASSPHRASE_MAX, and
//  PROTO_ERR_NOT_FOUND / PROTO_ERR_IO / PROTO_ERR_NOMEM.
proto_err_t proto_passphrase_read(const char *file, const char *env_var,
                                  char **out) PROTO_MUST_CHECK;

//  Load the secret key file at path the way the daemons do: as it is if it
//  is not encrypted, otherwise with the passphrase from passphrase_file
//  (NULL or "" for none) or else from the environment variable env_var
//  (may be NULL). On success *out receives a new identity the caller owns.
//  Returns what proto_identity_load and proto_passphrase_read return; errbuf
//  (may be NULL) then names the file at fault, the key or the passphrase
//  file, and for PROTO_ERR_PERMISSIONS the chmod that fixes it.
proto_err_t proto_identity_open(const char *path, const char *passphrase_file, const char *env_var,
                                proto_identity_t **out, char *errbuf,
                                size_t errlen) PROTO_MUST_CHECK;

//  Wipe and free a passphrase from proto_passphrase_read, set *p to NULL.
//  Safe on NULL.
void proto_passphrase_free(char **p);

//  ---------------------------------------------------------------------
//  Encodings

//  Write 2*len lowercase hex digits and a NUL to out (2*len + 1 bytes).
void proto_hex_encode(const uint8_t *bin, size_t len, char *out);

//  Decode exactly 2*len hex digits (either case, nothing else) from the
//  NUL-terminated hex into len bytes at out. Returns PROTO_ERR_VALUE if the
//  text is not exactly that.
proto_err_t proto_hex_decode(const char *hex, uint8_t *out, size_t len) PROTO_MUST_CHECK;

//  Z85-encode len bytes (a multiple of 4) as ZeroMQ prints keys: writes
//  len*5/4 characters and a NUL to out, which holds outlen bytes. Returns
//  PROTO_ERR_INVALID_ARG if len is not a multiple of 4 or out is too small.
proto_err_t proto_z85_encode(const uint8_t *data, size_t len, char *out, size_t outlen);

#ifdef __cplusplus
}
#endif
#endif
