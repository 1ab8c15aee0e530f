/*  broker/peers.h - the broker's sessions: the peer table and, for each
    peer, the index of the pushes it has not acknowledged yet.

    Owns: every peer record and the table that finds one by its ZeroMQ
    routing id or by its agency; each peer's in-flight array and the hash
    index over it, so that a push or an ACK costs the same whatever the
    window; reaping the peers marked dead at the end of a loop turn.

    Does not: send anything, read the store, or decide when a session ends
    (session.c and zap.c mark a peer dead; the loop reaps it). Runs on the
    loop thread only.
*/
#ifndef BROKER_PEERS_H
#define BROKER_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/msg.h"
#include "verify.h"

typedef enum { BROKER_PEER_CONNECTED = 0, BROKER_PEER_READY = 1 } broker_peer_state_t;

//  One push in flight: a mailbox message by its mid, or a document by id.
typedef struct {
    bool is_mid; // a mailbox message (else a document)
    uint64_t mid;
    proto_id_t id;
    uint64_t seq; // push order within the session (broker_peer_t.pushes)
} broker_flight_t;

//  An answer the peer's queue could not take when it was ready (an
//  ACCEPTED or REJECTED bundle, a hop receipt): kept in order until it has
//  room (session.c, broker_session_answer).
typedef struct broker_owed broker_owed_t;
struct broker_owed {
    broker_owed_t *next;
    proto_kind_t kind;
    size_t len;
    uint8_t body[]; // the encoded body, len bytes
};

//  How much a peer, and every peer together, may be owed: beyond either
//  the answer is dropped and logged, and the agent's own resend (30 s)
//  gets it again. Receipts are a few hundred bytes a document, so this is
//  thousands of documents a peer.
#define BROKER_OWED_PEER_MAX  (8u << 20)
#define BROKER_OWED_TOTAL_MAX (256u << 20)

//  One agent's session. The fields are read and set by the loop's modules;
//  the flight arrays change only through broker_flight_*.
typedef struct {
    uint8_t rid[BROKER_ROUTING_MAX];
    size_t rid_len;
    char agency[PROTO_AGENCY_CODE_LEN + 1];
    uint8_t sign_pk[PROTO_KEY_LEN]; // the agency's key when it connected
    broker_peer_state_t state;
    uint32_t window;
    broker_flight_t *flight; // unacknowledged pushes, at most window
    uint32_t flight_cap;     // entries allocated: the largest window granted so far
    uint32_t nflight;
    uint32_t *slots;      // hash index into flight: index + 1, 0 = empty
    uint32_t nslots;      // a power of two, at least twice the most pushes
    uint64_t last_answer; // ms: the last push answered, or the first into an empty window
    //  Loss detection (session.c, broker_session_repush): the agent answers
    //  pushes in the order it got them, so an answer to a later push while
    //  an earlier one is still in flight means the earlier one was lost.
    uint64_t pushes;    // pushes made in this session: the last one's seq
    uint64_t answered;  // the highest seq answered
    uint64_t gap_seq;   // the in-flight push seen behind an answered one (0: none)
    uint64_t gap_since; // ms: when gap_seq was first seen so
    uint32_t jobs;      // its messages at the verify workers (answers in transit)
    uint64_t last_recv, last_send;
    uint64_t ready_at; // wall clock ms when its session became ready (READY sent)
    uint32_t errors;   // undecodable messages in a row
    bool dirty;        // may have something new to push
    bool dir_deltas;   // its agent applies DIRECTORY_DELTA (a link: takes this broker's directory)
    uint64_t dir_held; // a link that takes the directory: the serial it holds of it (dirlink.c)
    bool dir_own;      // a link whose dialing broker offers its own agencies (dirhold.c)
    bool own_taken;    // a link whose other broker takes this one's own agencies (dirlink.c)
    uint64_t own_held; // the serial of them it holds
    bool log;          // its agent checks the log: heads name their place in it (HELLO)
    bool route;        // its agent takes DELIVER's route (HELLO; push.c)
    int fd;            // its connection's descriptor (ZMQ_SRCFD), -1 if unknown
    //  A link: another broker dialed in (link.c). Its agency is "", and it
    //  is admitted by its broker entry, never as an agency.
    bool link;
    char link_label[PROTO_LABEL_MAX + 1];
    //  A link this broker dialed (link.c): its DEALER, which sends without a
    //  routing frame; rid is then a name no ZeroMQ peer can have. NULL for
    //  every session the ROUTER holds.
    void *dealer;
    //  Answers owed, oldest first (broker_owed_push, broker_owed_pop).
    broker_owed_t *owed, *owed_tail;
    size_t owed_bytes;
    bool dead; // to be reaped at the end of the loop turn
} broker_peer_t;

typedef struct broker_peers broker_peers_t;

//  An empty table. NULL if out of memory.
broker_peers_t *broker_peers_new(void);

//  Free every peer and the table; set *self_p to NULL. Safe on NULL.
void broker_peers_destroy(broker_peers_t **self_p);

//  Peers in the table, and the one at index i (borrowed; valid until the
//  next broker_peers_add or broker_peers_reap).
size_t broker_peers_count(const broker_peers_t *self);
broker_peer_t *broker_peers_at(const broker_peers_t *self, size_t i);

//  The peer with this routing id (alive or not), or NULL.
broker_peer_t *broker_peers_find(const broker_peers_t *self, const void *rid, size_t len);

//  The agency's session in READY that is not dead, or NULL.
broker_peer_t *broker_peers_of_agency(const broker_peers_t *self, const char *agency);

//  A new peer in CONNECTED for this routing id (len at most
//  BROKER_ROUTING_MAX) and agency; sign_pk (may be NULL) is the agency's key
//  as the directory holds it now. Its window has room for a few pushes
//  (broker_flight_reserve grows it). NULL if out of memory.
broker_peer_t *broker_peers_add(broker_peers_t *self, const void *rid, size_t len,
                                const char *agency, const uint8_t *sign_pk);

//  Free the peers marked dead (the end of a loop turn: nobody holds one).
void broker_peers_reap(broker_peers_t *self);

//  The agency's session, if any, has something new to push.
void broker_peers_mark_dirty(broker_peers_t *self, const char *agency);

//  Give the memory of reaped sessions back to the system, if any were
//  reaped since the last call.
void broker_peers_trim(broker_peers_t *self);

//  Whether this push (a mailbox mid, or a document id) is in flight.
bool broker_flight_has(const broker_peer_t *p, bool is_mid, uint64_t mid, const proto_id_t *id);

//  Record a push as in flight. The caller checked that nflight < window
//  <= the room broker_flight_reserve made. id is NULL for a mailbox mid.
void broker_flight_add(broker_peer_t *p, bool is_mid, uint64_t mid, const proto_id_t *id);

//  The agent answered this push: it is no longer in flight, and the peer
//  may have room for more (dirty). Harmless if it was not in flight.
void broker_flight_remove(broker_peer_t *p, bool is_mid, uint64_t mid, const proto_id_t *id);

//  Forget every push in flight (they were lost: push them all again).
void broker_flight_clear(broker_peer_t *p);

//  Make room for window pushes in flight (the arrays only grow, so what is
//  in flight always fits). Returns the window there is room for: window,
//  or the room there was if memory ran out.
uint32_t broker_flight_reserve(broker_peer_t *p, uint32_t window);

//  Keep an answer (kind, body) at the end of p's owed queue. False if the
//  peer's or the table's limit would be passed, or out of memory.
bool broker_owed_push(broker_peers_t *self, broker_peer_t *p, proto_kind_t kind, const void *body,
                      size_t len);

//  Drop the oldest owed answer of p (it was sent).
void broker_owed_pop(broker_peers_t *self, broker_peer_t *p);

//  Bytes owed to every peer of the table together (0: nothing to flush).
size_t broker_owed_total(const broker_peers_t *self);

#endif
