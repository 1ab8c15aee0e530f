/*  proto/dirdelta.h - directory deltas: what changed between two signed
    directory snapshots, and how an agent rebuilds the newer one.

    A broker that changes one agency of a thousand need not send every
    session the whole directory again: a DIRECTORY_DELTA names the snapshot
    it applies to (`base`), the snapshot it makes (`serial`, `time`), the
    entries added or changed and the codes removed, and carries the broker's
    signature of the snapshot it makes. Applied to exactly the snapshot at
    `base`, it gives a snapshot whose signature must verify: that check
    proves both who sent the delta and that the base was the right one.

    This module builds deltas and applies them, on the decoded messages of
    proto/msg.h. It does not sign (the snapshot is signed as before, with
    proto_directory_sign), send, store or log.
*/
#ifndef PROTO_DIRDELTA_H
#define PROTO_DIRDELTA_H

#include "proto/err.h"
#include "proto/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Fill *out with the delta that turns snapshot `from` into snapshot `to`
//  (both with entries sorted by code, as decoded or as a broker builds
//  them; `to` signed). out->entries and out->removed are allocated here;
//  the strings they point to are borrowed from `from` and `to`, which must
//  outlive *out. Release with proto_dir_delta_release. Returns
//  PROTO_ERR_INVALID_ARG if to->serial is not above from->serial,
//  PROTO_ERR_NOMEM.
proto_err_t proto_dir_delta_build(const proto_directory_msg_t *from,
                                  const proto_directory_msg_t *to,
                                  proto_dir_delta_t *out) PROTO_MUST_CHECK;

//  Free what proto_dir_delta_build allocated and zero *delta. Safe on a
//  zeroed delta.
void proto_dir_delta_release(proto_dir_delta_t *delta);

//  Apply delta to the snapshot base and check the result against the
//  signature the delta carries, with the broker's Ed25519 public key
//  broker_pk. On success body receives the encoded DIRECTORY body of the
//  new snapshot - the same a broker would send whole - to decode, keep or
//  forward. Returns PROTO_ERR_DIRECTORY_BASE if base is not the snapshot
//  at delta->base or the delta does not fit it (it removes an agency base
//  does not hold, or changes and removes the same one), PROTO_ERR_LIMIT if
//  the result would hold more than PROTO_MAX_ENTRIES agencies,
//  PROTO_ERR_BAD_SIGNATURE if the result does not verify, PROTO_ERR_NOMEM.
//  body is left empty on failure.
proto_err_t proto_dir_delta_apply(const proto_directory_msg_t *base, const proto_dir_delta_t *delta,
                                  const uint8_t broker_pk[PROTO_KEY_LEN],
                                  proto_buf_t *body) PROTO_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
