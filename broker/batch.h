/*  broker/batch.h - the group commit: the store's write transaction, the
    audit chain entries written in it, and the batch of receipts it answers
    with.

    Owns: opening the write transaction, the open batch of ACCEPTED and
    REJECTED entries and whom each goes to, signing the batch as one tree,
    keeping each new document's ACCEPTED for re-submissions, the durable
    commit and its timing, and turning every acceptance into a rejection
    when the commit fails.

    Does not: decide whether a document is accepted (apply.c) or push
    deliveries (push.c). Loop thread only.
*/
#ifndef BROKER_BATCH_H
#define BROKER_BATCH_H

#include "server_internal.h"

//  One receipt leaf in the open batch, and whom to send it to.
typedef struct broker_batch_entry {
    uint8_t rid[BROKER_ROUTING_MAX];
    size_t rid_len;
    int kind; // PROTO_KIND_ACCEPTED or PROTO_KIND_REJECTED
    proto_leaf_t leaf;
    char from[PROTO_AGENCY_CODE_LEN + 1];
    char to[PROTO_AGENCY_CODE_LEN + 1];
    char reason[160];
    bool fresh; // stored in this batch: undone if the commit fails
    bool keep;  // a document's ACCEPTED: kept for re-submissions
    bool sent;
    long dup_of; // a repeat of the batch entry at this index (no leaf of its own), or -1
} broker_batch_entry_t;

//  Open the write transaction if none is open (ending a read one).
proto_err_t broker_batch_begin(broker_server_t *self);

//  Append to the audit chain in the open batch (opened if need be). seq
//  (may be NULL) gets the entry's number. A failure is logged, not returned:
//  the caller's own work decides what the agency is told.
void broker_batch_audit(broker_server_t *self, broker_audit_event_t event, const char *agency,
                        const proto_id_t *id, const char *detail, uint64_t *seq);

//  A new entry for peer p at the end of the batch, zeroed but for whom and
//  kind. NULL if out of memory. May move the batch: earlier entry pointers
//  are no longer valid.
broker_batch_entry_t *broker_batch_entry_add(broker_server_t *self, const broker_peer_t *p,
                                             int kind);

//  Queue a REJECTED receipt for a document or notice id and audit it.
//  hash may be NULL (all zero), from NULL or invalid (the peer's agency).
void broker_batch_reject(broker_server_t *self, const broker_peer_t *p, const proto_id_t *id,
                         const uint8_t *hash, const char *from, proto_err_t code,
                         const char *reason);

//  The same without an audit entry: for refusals an agency can repeat
//  without bound (a rate limit), which are summed into one entry a minute.
void broker_batch_reject_unaudited(broker_server_t *self, const broker_peer_t *p,
                                   const proto_id_t *id, const uint8_t *hash, const char *from,
                                   proto_err_t code, const char *reason);

//  Queue an ACCEPTED receipt; fresh if stored in this batch. Returns its
//  entry (NULL without memory).
broker_batch_entry_t *broker_batch_accept(broker_server_t *self, const broker_peer_t *p,
                                          const proto_id_t *id, const uint8_t *hash,
                                          const char *from, const char *to, uint64_t time,
                                          uint64_t seq, bool fresh);

//  Send p the ACCEPTED a stored document was answered with, rebuilt from
//  its record and kept receipt and checked first. False if there is none
//  (or it does not check): the caller answers otherwise.
bool broker_batch_send_kept(broker_server_t *self, broker_peer_t *p, const broker_doc_t *doc);

//  Sign the batch, keep its receipts, commit durably, then answer. If the
//  commit fails nothing of the batch is stored, so nothing is acknowledged:
//  every acceptance becomes a rejection, signed anew. Nothing to do if no
//  write transaction is open.
void broker_batch_commit(broker_server_t *self);

//  Whether the open batch should be committed now: the workers are idle,
//  commit_batch documents wait, or commit_delay has passed.
bool broker_batch_due(const broker_server_t *self);

#endif
