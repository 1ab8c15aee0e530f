/*  broker/session.h - talking to one agent: sending, and the session
    messages the loop answers itself (HELLO, HEARTBEAT, CREDIT, ACK).

    Owns: how a message reaches a peer through the ROUTER (routing frame,
    header, body, extra frames, never blocking), ERROR replies and which of
    them are audited, the handshake that takes a session to READY, window
    grants, mailbox ACKs, the answers owed to a peer whose queue was full, heartbeats and the
   silent-session timeout, and pushing again what a live session left unanswered too long.

    Does not: read documents from the store (push.c), check signatures
    (verify.c), or keep the peer table (peers.c). Loop thread only.
*/
#ifndef BROKER_SESSION_H
#define BROKER_SESSION_H

#include <zmq.h>

#include "server_internal.h"

//  Send header + body (+ nextra extra frames) to a peer. Returns false if
//  the peer cannot take it now (its queue is full) or is gone (then it is
//  marked dead). Everything is borrowed.
bool broker_session_send(broker_server_t *self, broker_peer_t *p, proto_kind_t kind,
                         const void *body, size_t len, const void *const *extra,
                         const size_t *extra_lens, size_t nextra);

//  Send an answer the agent must not lose (a receipt bundle): at once if
//  the peer's queue takes it and nothing older is owed, else kept on the
//  peer and sent by broker_session_owed_flush as soon as it has room.
//  False only if it could not be kept either (logged): the agent's resend
//  then gets it again.
bool broker_session_answer(broker_server_t *self, broker_peer_t *p, proto_kind_t kind,
                           const void *body, size_t len);

//  Send what is owed to every peer, oldest first, as far as their queues
//  take it; ask the loop to come back soon for what is left.
void broker_session_owed_flush(broker_server_t *self);

//  Encode msg and send it; false if it could not be encoded or sent.
bool broker_session_send_msg(broker_server_t *self, broker_peer_t *p, const proto_msg_t *msg);

//  Send ERROR and log it; a fatal one marks the peer for reaping. With
//  audit, refusals for who the agency is or what it may touch (2xx, 3xx)
//  also go in the audit chain. text NULL or empty: the code's own text.
void broker_session_error_audit(broker_server_t *self, broker_peer_t *p, proto_err_t code,
                                const char *text, const proto_id_t *ref, bool fatal, bool audit);

//  broker_session_error_audit with audit.
void broker_session_error(broker_server_t *self, broker_peer_t *p, proto_err_t code,
                          const char *text, const proto_id_t *ref, bool fatal);

//  What the session needs to hold the current directory, given the serial
//  its agent holds: nothing, the delta, or the whole snapshot.
void broker_session_directory(broker_server_t *self, broker_peer_t *p, uint64_t held);

//  HELLO on a CONNECTED session: READY and the directory, or a fatal ERROR.
void broker_session_hello(broker_server_t *self, broker_peer_t *p, zmq_msg_t *body);

//  HEARTBEAT, CREDIT or ACK on a READY session.
void broker_session_message(broker_server_t *self, broker_peer_t *p, int kind, zmq_msg_t *body);

//  End the sessions silent for heartbeat_misses heartbeats; send HEARTBEAT
//  to those we have sent nothing for a heartbeat. now is monotonic ms.
void broker_session_heartbeats(broker_server_t *self, uint64_t now);

//  Push again what a live session lost: unanswered for REPUSH_MS, or left
//  behind a later push that was answered (REPUSH_GAP_MS).
void broker_session_repush(broker_server_t *self, uint64_t now);

#endif
