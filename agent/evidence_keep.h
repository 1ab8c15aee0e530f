/*  agent/evidence_keep.h - what the agent keeps so that it can later write
    an evidence bundle (proto/evidence.h) about a document.

    The receipts were always kept (outbox.c); what went missing was the
    rest: the sender's signed body and attachment frames left the store
    with the outbox entry once the broker answered, notices were kept only
    as summaries, and a recipient did not keep the DELIVERED it signed.
    These functions keep each, as it travelled, in the transaction that
    settles it:

      sent       the outbox entry of a document (frames as sent, T_FRAMES
                 's') or of a STATUS (its body, T_STBODY under the document
                 it is about), just before the broker's answer removes it;
      status     a STATUS routed to this agency, verified, under its
                 document;
      acks       this agency's DELIVERED/REFUSED receipts, one record per
                 document, with the head and signature sent to the broker.

    Does not: decide what is verified (outbox.c, inbox.c), nor write a
    bundle (api_evidence.c).
*/
#ifndef AGENT_EVIDENCE_KEEP_H
#define AGENT_EVIDENCE_KEEP_H

#include "agent_internal.h"

//  Keep the outbox entry of id (document or notice) before it is deleted,
//  in the open write transaction. PROTO_OK when there is none.
proto_err_t agent_evidence_keep_sent(agent_t *self, const proto_id_t *id) PROTO_MUST_CHECK;

//  Keep a verified STATUS routed to this agency, in the open write
//  transaction.
proto_err_t agent_evidence_keep_status(agent_t *self, const proto_msg_t *msg) PROTO_MUST_CHECK;

//  Keep the receipt bundle this agency just signed over its deliveries
//  (msg: DELIVERED), one item per record under each document's id, in a
//  transaction of its own committed before it is sent: the commit that
//  stored the deliveries is already over.
void agent_evidence_keep_acks(agent_t *self, const proto_msg_t *msg);

#endif
