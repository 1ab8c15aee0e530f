/*  agent/outbox.h - what the agent sends and what becomes of it.

    Owns the outbox (T_OUT) and the sent side of the store: queueing a
    message with its sent record and recipient rows, sending the outbox to
    the broker within the window, the broker's answers (ACCEPTED, REJECTED)
    and the receipts routed back (DELIVERED from a recipient, EXPIRED from
    the broker), each verified and kept as proof.

    Does not: build or sign documents (api_send.c), own the session's
    socket (session.c) nor commit (agent.c).
*/
#ifndef AGENT_OUTBOX_H
#define AGENT_OUTBOX_H

#include <stddef.h>

#include "agent.h"
#include "proto/msg.h"

//  Put an outgoing message (header kind + body + attachments) in the outbox
//  and create its sent record.
proto_err_t agent_outbox_add(agent_t *self, const proto_msg_t *msg, const void *const *att,
                             const size_t *att_lens, size_t natt) PROTO_MUST_CHECK;

//  Send the outbox (everything not answered yet) within the window, if the
//  session is READY and something may be waiting. Not while the turn's
//  transaction is open: it reads a committed view.
void agent_outbox_flush(agent_t *self);

//  ACCEPTED or REJECTED (borrowed) for items of our outbox.
void agent_outbox_on_answer(agent_t *self, const proto_msg_t *msg);

//  A routed receipt (borrowed): DELIVERED from a recipient, EXPIRED from the
//  broker. Acknowledged after the commit whether kept or refused.
void agent_outbox_on_receipt(agent_t *self, const proto_msg_t *msg);

#endif
