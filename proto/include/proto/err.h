/*  proto/err.h - the one error type of truc.

    Every fallible function in truc returns proto_err_t. Zero is success; any
    other value names a failure the caller can act on. The numeric values are
    part of the wire protocol (ERROR and REJECTED carry them) and therefore
    never change meaning once released: new codes get new numbers.

    Codes are grouped by hundreds:
      1xx  framing and decoding     (the bytes are wrong)
      2xx  identity and integrity   (who sent it, is it authentic)
      3xx  document state           (what the broker or agent knows)
      4xx  resources                (limits of the receiver right now)
      5xx  local failures           (never sent on the wire as such)

    The table in proto/src/err.c is the single source of the messages;
    PROTOCOL.md reproduces it.
*/
#ifndef PROTO_ERR_H
#define PROTO_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

//  Results that must not be ignored (signature checks above all) carry this.
#if defined(__GNUC__) || defined(__clang__)
#define PROTO_MUST_CHECK __attribute__((warn_unused_result))
#else
#define PROTO_MUST_CHECK
#endif

typedef enum {
    PROTO_OK = 0,

    //  1xx framing and decoding
    PROTO_ERR_FRAMING = 100,       // wrong frame count or malformed header frame
    PROTO_ERR_VERSION = 101,       // protocol version not supported
    PROTO_ERR_KIND = 102,          // unknown message kind
    PROTO_ERR_MSGPACK = 103,       // body is not valid msgpack (truncated, reserved byte)
    PROTO_ERR_TRAILING = 104,      // bytes after the end of the body
    PROTO_ERR_DEPTH = 105,         // nesting deeper than the schema allows
    PROTO_ERR_TYPE = 106,          // a field has the wrong msgpack type
    PROTO_ERR_MISSING = 107,       // a required field is absent
    PROTO_ERR_UNKNOWN_FIELD = 108, // a map key the schema does not define
    PROTO_ERR_DUP_FIELD = 109,     // the same map key twice
    PROTO_ERR_LIMIT = 110,         // a length, count or number over its documented limit
    PROTO_ERR_UTF8 = 111,          // a text field is not valid UTF-8
    PROTO_ERR_VALUE = 112,         // a value outside its allowed set or format
    PROTO_ERR_AGENCY_CODE = 113,   // an agency code that does not follow the grammar
    PROTO_ERR_TOO_LARGE = 114,     // a frame or document larger than the receiver accepts
    PROTO_ERR_UNEXPECTED = 115,    // message kind not allowed in this direction or state
    PROTO_ERR_DUP_NAME = 116,      // two attachments with the same file name (proto/fname.h)
    PROTO_ERR_XML = 117,           // an edXML package that is not well-formed or not edXML (agent)

    //  2xx identity and integrity
    PROTO_ERR_BAD_SIGNATURE = 200,     // a signature does not verify
    PROTO_ERR_HASH_MISMATCH = 201,     // attachment bytes do not match their declared hash/size
    PROTO_ERR_SENDER_MISMATCH = 202,   // sender field differs from the authenticated agency
    PROTO_ERR_UNKNOWN_AGENCY = 203,    // agency code not in the directory
    PROTO_ERR_AGENCY_SUSPENDED = 204,  // agency is suspended
    PROTO_ERR_AGENCY_REVOKED = 205,    // agency is revoked
    PROTO_ERR_NOT_AUTHORIZED = 206,    // authenticated, but not allowed to do this
    PROTO_ERR_NOT_AUTHENTICATED = 207, // no authenticated identity (no HELLO, no CURVE)
    PROTO_ERR_BAD_PROOF = 208,         // a Merkle inclusion proof does not lead to the root
    PROTO_ERR_DIRECTORY_BASE = 209,    // a directory delta does not apply to the snapshot held
    PROTO_ERR_BROKER_SUSPENDED = 210,  // the recipient's home broker is suspended
    PROTO_ERR_BROKER_REVOKED = 211,    // the recipient's home broker is revoked
    PROTO_ERR_KEY_RETIRED = 212,       // signed by a retired key after its window closed

    //  3xx document state
    PROTO_ERR_DUPLICATE_ID = 300,  // id already used for different content
    PROTO_ERR_UNKNOWN_DOC = 301,   // no such document (or notice)
    PROTO_ERR_EXPIRED = 302,       // not delivered within its time to live
    PROTO_ERR_REVOKED = 303,       // the document was revoked by its sender
    PROTO_ERR_BAD_STATE = 304,     // operation not valid in the document's current state
    PROTO_ERR_UNDELIVERABLE = 305, // recipient can no longer receive (revoked agency)
    PROTO_ERR_TIME = 306,          // a time in the message is too far from the receiver's clock
    PROTO_ERR_HOP_LIMIT = 307,     // a forwarded document has passed through too many brokers
    PROTO_ERR_ROUTE_LOOP = 308,    // a forwarded document would pass a broker a second time

    //  4xx resources
    PROTO_ERR_STORE_FULL = 400, // the store has no space left
    PROTO_ERR_QUOTA = 401,      // the agency's quota is used up
    PROTO_ERR_BUSY = 402,       // try again later
    PROTO_ERR_TIMEOUT = 403,    // the operation did not finish in time
    PROTO_ERR_RATE = 404,       // more this minute than the receiver takes from one agency

    //  5xx local failures
    PROTO_ERR_NOMEM = 500,       // out of memory
    PROTO_ERR_SYSTEM = 501,      // a system call failed (errno is logged)
    PROTO_ERR_IO = 502,          // reading or writing a file failed
    PROTO_ERR_STORE = 503,       // the LMDB store failed
    PROTO_ERR_CONFIG = 504,      // invalid configuration
    PROTO_ERR_KEY_FILE = 505,    // key file corrupt, truncated or of an unknown format
    PROTO_ERR_PASSPHRASE = 506,  // wrong passphrase, or a passphrase is needed
    PROTO_ERR_PERMISSIONS = 507, // a secret readable, or a trust file writable, by group or others
    PROTO_ERR_DIRECTORY = 508,   // invalid agency directory file
    PROTO_ERR_NOT_FOUND = 509,   // the named thing does not exist
    PROTO_ERR_EXISTS = 510,      // the named thing exists already
    PROTO_ERR_INVALID_ARG = 511, // a caller passed an invalid argument
    PROTO_ERR_CRYPTO = 512,      // the crypto library failed (not a bad signature)

    //  5xx a store that is not the one the daemon had
    PROTO_ERR_STORE_DAMAGED = 513, // a store file is damaged or truncated (LMDB's meta pages)
    PROTO_ERR_STORE_BEHIND = 514,  // the store is older than, or not, the one its anchor names

    PROTO_ERR_INTERNAL = 599, // a bug: an invariant broke
} proto_err_t;

//  Return a short, constant, human-readable message for err. Never NULL;
//  unknown values give "unknown error".
const char *proto_strerror(proto_err_t err);

//  Return the stable symbolic name of err without the PROTO_ prefix, for
//  example "ERR_BAD_SIGNATURE", or "ERR_UNKNOWN" for unknown values.
const char *proto_errname(proto_err_t err);

//  True if err names a defined code (used to validate codes from the wire).
int proto_err_is_known(unsigned long err);

//  Call proto_err_foreach_fn for every defined code in numeric order; used by
//  tests and by tools that print the table.
typedef void(proto_err_foreach_fn)(proto_err_t err, void *arg);
void proto_err_foreach(proto_err_foreach_fn *fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
