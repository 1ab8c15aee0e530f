/*  agent/inbox_ops.h - revocations, updates and replacements as the
    recipient sees them, and the recall answers it may give.

    When a verified REVOKE, UPDATE or REPLACE arrives, each document it
    names is marked (store.h T_OPS) in the delivery's transaction and an
    event announces it (inbox.revoked, inbox.updated, inbox.replaced).
    inbox and fetch show the marks (revoked_by, updated_by, replaced_by);
    a status notice about a revoked document is refused (ERR_REVOKED), and
    each recall request (13) takes one answer (15 or 16), not two.

    Only an operation from the original's own sender counts: an agency
    cannot revoke another's document at this agency.

    Does not: delete or hide anything (a revoked document stays in the
    inbox and can be fetched, marked), or act for the DMS.
*/
#ifndef AGENT_INBOX_OPS_H
#define AGENT_INBOX_OPS_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent_internal.h"

//  The marks on one received document: the latest operation of each kind.
typedef struct {
    bool revoked, updated, replaced;
    proto_id_t revoked_by, updated_by, replaced_by;
} agent_ops_t;

//  Mark the documents a verified operation names, in the open transaction
//  (the delivery's). A new document (op 0) is no-op. PROTO_OK or the
//  store's error.
proto_err_t agent_ops_record(agent_t *self, const proto_doc_t *doc) PROTO_MUST_CHECK;

//  Announce the marks agent_ops_record made (events, after inbox.new).
void agent_ops_announce(agent_t *self, const proto_doc_t *doc);

//  The marks on received document id whose sender is from, in the open
//  transaction. Returns how many fields agent_ops_pack will write.
uint32_t agent_ops_get(agent_t *self, const proto_id_t *id, const char *from, agent_ops_t *ops);

//  Pack the marks as map fields (revoked_by, updated_by, replaced_by).
void agent_ops_pack(msgpack_packer *pk, const agent_ops_t *ops);

//  May this agency send status code about received document id (sender
//  from), given the recall requests (13) received about it? PROTO_OK, or
//  ERR_REVOKED / ERR_BAD_STATE with the reason in why.
proto_err_t agent_ops_status_check(agent_t *self, const proto_id_t *id, const char *from,
                                   uint8_t code, char *why, size_t whylen);

//  Count an answer (15, 16) to a recall once it is queued, in the same
//  transaction (a failed put fails the commit, and the notice with it).
proto_err_t agent_ops_answer_record(agent_t *self, const proto_id_t *id,
                                    uint8_t code) PROTO_MUST_CHECK;

#endif
