/*  agent/directory.h - the last agency directory the broker signed.

    Owns the snapshot in memory (agent_t.directory) and in the store: loads
    it at start-up, replaces it with a verified DIRECTORY, applies a
    DIRECTORY_DELTA to it, and answers lookups by agency code.

    Does not: ask for the directory (session.c says so in HELLO) nor decide
    what a lookup means for a document (outbox, inbox and the API do).
*/
#ifndef AGENT_DIRECTORY_H
#define AGENT_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "proto/msg.h"

//  Directory lookups in the last verified snapshot: the entry for code, or
//  NULL. Borrowed until the snapshot is replaced (within a turn it is not).
const proto_dir_entry_t *agent_dir_find(const agent_t *self, const char *code);

//  Whether the agency code may sign for us: PROTO_OK, or
//  PROTO_ERR_UNKNOWN_AGENCY, _AGENCY_REVOKED, _AGENCY_SUSPENDED. With key
//  set, *key gets its signing key (borrowed as above) if it is known.
proto_err_t agent_dir_usable(const agent_t *self, const char *code, const uint8_t **key);

//  Verify a signature by agency code made at time_ms (ms since the epoch,
//  as the signed message says) against the key of that time: its current
//  key, or a retired key whose window held the time (proto/keywin.h).
//  check and arg are the closure over the signed message. PROTO_OK,
//  PROTO_ERR_UNKNOWN_AGENCY, PROTO_ERR_KEY_RETIRED (a retired key used
//  after its window closed), PROTO_ERR_BAD_SIGNATURE.
proto_err_t agent_dir_verify(const agent_t *self, const char *code, uint64_t time_ms,
                             proto_keywin_check_fn check, const void *arg);

//  The same for what the broker signs (receipts): signer must be the
//  pinned broker's name, and the signature verify with its pinned key or
//  with one of the broker's retired keys that the last verified snapshot
//  lists (broker_retired) whose window held time_ms. A key the agent never
//  learned is refused. PROTO_OK, PROTO_ERR_KEY_RETIRED,
//  PROTO_ERR_BAD_SIGNATURE.
proto_err_t agent_dir_broker_verify(const agent_t *self, const char *signer, uint64_t time_ms,
                                    proto_keywin_check_fn check, const void *arg);

//  Read the snapshot kept in the store, if any, so deliveries can be checked
//  before the broker is reachable. Nothing kept (or unreadable): none.
void agent_dir_load(agent_t *self);

//  A DIRECTORY from the broker, its body (borrowed) and its decoded message:
//  verified and kept, in which case the message is taken and *msg_p set to
//  NULL; refused (logged), in which case *msg_p stays the caller's.
void agent_dir_on_directory(agent_t *self, const uint8_t *body, size_t len, proto_msg_t **msg_p);

//  A DIRECTORY_DELTA (borrowed): applied to the snapshot held and kept like
//  a whole DIRECTORY, or, if it does not apply, the session is reset to ask
//  for the whole directory.
void agent_dir_on_delta(agent_t *self, const proto_msg_t *msg);

#endif
