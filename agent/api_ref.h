/*  agent/api_ref.h - idempotent sending requests: the DMS's own reference
    (`client_ref`) on submit, revoke, update, replace and status.

    The first request with a reference records, in the same store
    transaction as the outbox entry, which message it queued and a
    fingerprint of the request. A repeat of the same request (the DMS
    crashed before it read the reply, or the agent restarted) gets that
    message's id and current state back and queues nothing; the same
    reference on a different request is refused with ERR_DUPLICATE_ID.

    Does not: decide what a request means (api_send.c does), or keep
    references for ever apart from their messages (a reference whose sent
    record is gone counts as unused).
*/
#ifndef AGENT_API_REF_H
#define AGENT_API_REF_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_internal.h"

typedef struct api_ref {
    bool given;                // the request carries a client_ref
    char text[AGENT_CREF_MAX]; // its bytes (not NUL-terminated)
    size_t len;                //
    uint8_t fingerprint[32];   // of the request without the client_ref
} api_ref_t;

//  Read the request's client_ref (absent: ref->given false) and look it
//  up in the open write transaction. Returns true when the caller should
//  go on and queue the message (a new reference, or none); false when a
//  reply was sent: the repeat's answer (ok, same id and state, `repeat`
//  true, sent after the commit) or a failure (a bad client_ref, one used
//  for a different request, or the store failing).
bool api_ref_begin(api_req_t *req, const msgpack_object *map, api_ref_t *ref);

//  Record that ref names the message (kind, id) about to be queued, in the
//  open write transaction. Call before queueing; call api_ref_undo if
//  queueing then fails. No-op without a reference. false after a failure
//  reply.
bool api_ref_record(api_req_t *req, const api_ref_t *ref, int kind, const proto_id_t *id);
void api_ref_undo(api_req_t *req, const api_ref_t *ref);

//  The message the request's client_ref names, in the open transaction
//  (read or write). false after a failure reply: a bad client_ref, or none
//  recorded (ERR_UNKNOWN_DOC).
bool api_ref_find(api_req_t *req, const msgpack_object *map, proto_id_t *id);

//  The fingerprint of a request map: BLAKE2b-256 over its values with map
//  keys taken in sorted order (a DMS that rebuilds the same request in
//  another key order repeats it), the top-level client_ref left out.
void api_ref_fingerprint(const msgpack_object *map, uint8_t out[32]);

#endif
