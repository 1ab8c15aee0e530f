/*  proto/keywin.h - retired keys and the windows in which they verify.

    When an agency's key rotates (`truc-keys directory rekey`), its old key
    is not forgotten: it is kept as a retired key with a validity window,
    from the time it became the agency's key until the end of the grace
    period after the rotation. A document, notice or receipt is checked
    against the keys that were valid when it was signed, so what was signed
    before a rotation keeps verifying at the broker, at the recipient and
    years later in evidence; a retired key used after its window closed is
    refused with PROTO_ERR_KEY_RETIRED, which says more than a bad
    signature.

    This module owns only the rule: which of a current key and a short list
    of retired windows verifies a signature made at a given time. It does
    not know message kinds (the caller passes a check function) and keeps
    no state. The directory (proto/directory.h) and the DIRECTORY message
    (proto/msg.h) carry the windows.
*/
#ifndef PROTO_KEYWIN_H
#define PROTO_KEYWIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PROTO_KEYWIN_MAX           8             // retired keys kept per agency
#define PROTO_KEYWIN_GRACE_DEFAULT (7 * 86400)   // seconds: rekey's default grace period
#define PROTO_KEYWIN_GRACE_MAX     (366 * 86400) // seconds: the longest grace rekey allows

//  One retired Ed25519 key and its window, in Unix seconds. A signature
//  made at t verifies with it when from <= t < until (from 0: no lower
//  bound). until is the end of the grace period after the rotation.
typedef struct {
    uint8_t key[32]; // the retired Ed25519 public key
    uint64_t from;   // when it became the agency's key, 0 = not known
    uint64_t until;  // end of its grace period (exclusive), always set
} proto_keywin_t;

//  Does key verify the signature? The caller's closure over one message.
typedef bool (*proto_keywin_check_fn)(const uint8_t key[32], const void *arg);

//  Verify a signature made at time t (Unix seconds) with the current key or
//  one of the n retired windows (borrowed). Tries the current key first
//  (the common case costs one check), then each retired key whose window
//  holds t. Returns PROTO_OK when one verifies; PROTO_ERR_KEY_RETIRED when
//  none does but a retired key whose window does not hold t would (a key
//  used after its grace period, or a time from before it was issued);
//  PROTO_ERR_BAD_SIGNATURE otherwise. PROTO_ERR_INVALID_ARG without current
//  or check, or with retired NULL and n > 0.
proto_err_t proto_keywin_verify(const uint8_t current[32], const proto_keywin_t *retired, size_t n,
                                uint64_t t, proto_keywin_check_fn check,
                                const void *arg) PROTO_MUST_CHECK;

//  Does window w hold time t?
bool proto_keywin_holds(const proto_keywin_t *w, uint64_t t);

//  Are the n windows well formed: n <= PROTO_KEYWIN_MAX, every until set
//  and after its from, no key twice? (They are kept in the order the keys
//  were retired, oldest first.)
//  PROTO_OK or PROTO_ERR_VALUE (PROTO_ERR_LIMIT when n is too large).
proto_err_t proto_keywin_check(const proto_keywin_t *retired, size_t n) PROTO_MUST_CHECK;

//  Add key to the windows (n of them, room for PROTO_KEYWIN_MAX) as retired
//  at now with grace seconds: its window runs from `from` (0 = not known)
//  to now + grace (now + 1 for a grace of 0: what it signed up to the
//  rotation stays valid). When the list is full the oldest window that has
//  closed by now is dropped; if none has, PROTO_ERR_LIMIT and nothing
//  changes. PROTO_ERR_EXISTS if key is
//  already among them.
proto_err_t proto_keywin_retire(proto_keywin_t *retired, size_t *n, const uint8_t key[32],
                                uint64_t from, uint64_t now, uint64_t grace) PROTO_MUST_CHECK;

//  Bytes the text form of PROTO_KEYWIN_MAX windows takes, with its NUL.
#define PROTO_KEYWIN_TEXT_MAX (PROTO_KEYWIN_MAX * 108 + 1)

//  The text form the directory file uses (keys/README.md): for each window
//  "HEX FROM UNTIL", separated by single spaces, FROM "-" when not known,
//  times as 2026-01-01T00:00:00Z. Parse fills out (room for
//  PROTO_KEYWIN_MAX) and *n, checked as proto_keywin_check does:
//  PROTO_ERR_VALUE for anything malformed, PROTO_ERR_LIMIT for too many.
proto_err_t proto_keywin_parse(const char *text, proto_keywin_t *out, size_t *n) PROTO_MUST_CHECK;

//  Write n windows in the text form into buf (PROTO_KEYWIN_TEXT_MAX bytes).
void proto_keywin_format(const proto_keywin_t *retired, size_t n, char buf[PROTO_KEYWIN_TEXT_MAX]);

#ifdef __cplusplus
}
#endif
#endif
