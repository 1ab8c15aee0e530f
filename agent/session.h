/*  agent/session.h - the agent's session with the broker.

    Owns the DEALER to the broker and its monitor: connecting (CURVE with
    the broker's key pinned), HELLO until READY, heartbeats, silence and
    HELLO deadlines, the reset with its back-off, and reading what the
    broker sends, which it hands to the module that owns each kind
    (directory.c, outbox.c, inbox.c).

    Does not: store or answer anything itself, nor commit (agent.c).
    All on the loop thread.
*/
#ifndef AGENT_SESSION_H
#define AGENT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "proto/msg.h"

//  The first back-off after a session was READY (or at start-up): doubled
//  on every failed attempt up to broker.reconnect_max.
#define AGENT_BACKOFF_FIRST_MS 1000

//  Send one message (header, body, then the extra frames) to the broker
//  without blocking. Borrowed arguments. false if the socket would block or
//  is gone: whoever sent it sends it again after the next HELLO.
bool agent_session_send(agent_t *self, int kind, const void *body, size_t len,
                        const void *const *extra, const size_t *extra_lens, size_t nextra);

//  Encode msg (borrowed) and send it as one frame; false as above or if it
//  does not encode.
bool agent_session_send_msg(agent_t *self, const proto_msg_t *msg);

//  Back to square one: close the socket, go OFFLINE and try again after the
//  back-off; reason (borrowed) is kept as the last error and, if the
//  session was READY, told in a "connection" event.
void agent_session_reset(agent_t *self, const char *reason);

//  Close the DEALER and its monitor, if open. Safe to call twice.
void agent_session_disconnect(agent_t *self);

//  The session's state machine on its deadlines: connect, HELLO, heartbeat,
//  silence, the outbox window sent again. Runs after every turn; returns
//  the next deadline (monotonic ms) at which the session or an API waiter
//  has something to do, or UINT64_MAX.
uint64_t agent_session_tick(agent_t *self);

#endif
