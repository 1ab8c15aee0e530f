/*  agent/inbox.h - what the broker delivers to this agency.

    Owns the receiving side: DELIVER (checked, then kept in the inbox or in
    quarantine), the DELIVERED or REFUSED leaf each one earns, signed under
    one head per commit and sent after it, and the notices (STATUS) routed
    to us.

    Does not: read the socket (session.c), commit (agent.c), nor serve the
    inbox to the DMS (api_read.c).
*/
#ifndef AGENT_INBOX_H
#define AGENT_INBOX_H

#include <stddef.h>
#include <zmq.h>

#include "agent.h"
#include "proto/msg.h"

//  A STATUS (borrowed) routed to us: verified, kept once, told as an event.
void agent_inbox_on_status(agent_t *self, const proto_msg_t *msg);

//  A DELIVER: msg decoded from frames[1], frames (borrowed) as received.
//  Kept in the inbox or in quarantine, its leaf queued for the next commit.
//  Not acknowledged if it cannot be stored: the broker pushes it again.
void agent_inbox_on_deliver(agent_t *self, proto_msg_t *msg, zmq_msg_t *frames, size_t nframes);

//  After a durable commit: sign the leaves queued since the last one under
//  one head and send them as DELIVERED. The queue is emptied in any case.
void agent_inbox_send_acks(agent_t *self);

#endif
