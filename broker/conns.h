/*  broker/conns.h - the agents' connections as the kernel counts them:
    file descriptors, the session capacity they leave, and what became of
    each handshake.

    Owns: the open-file limit (the soft limit is raised to the hard one at
    start), the session capacity derived from it, and a table of the open
    connections indexed by file descriptor with the time each was accepted.
    The table is fed with the events of the ROUTER's socket monitor, so it
    counts every TCP connection libzmq holds, authenticated or not.

    With it the server refuses a session that would not fit instead of
    letting libzmq run out of descriptors (its listener then retries accept()
    without end and the loop never hears of it), and tells a handshake the
    peer gave up on at once (a refusal) from one it abandoned after a long
    wait (a timeout under load, which is not a refusal).

    Does not: read the monitor socket, log, audit or count refusals; the
    server does that with the verdicts given here.
*/
#ifndef BROKER_CONNS_H
#define BROKER_CONNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

//  Descriptors kept for everything but agents' connections: the store,
//  ZeroMQ's own sockets and mailboxes (a few per worker thread), the
//  admin endpoint, pipes, the log. Another sixteenth of the limit is kept
//  for connections still in their handshake, refused ones included.
#define BROKER_CONNS_RESERVE 64

//  A handshake that fails without detail this long after the connection
//  was accepted was abandoned by a peer that waited (the agent's handshake
//  limit is 5 s), not refused.
#define BROKER_CONNS_SLOW_MS 3000

//  The monitor events broker_conns_event needs.
#define BROKER_CONNS_EVENTS                                                                        \
    (ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)

typedef enum {
    BROKER_CONNS_NONE = 0,      // nothing to report
    BROKER_CONNS_REFUSED = 1,   // a handshake failed without detail, at once: a refusal
    BROKER_CONNS_TIMED_OUT = 2, // a handshake failed without detail after a long wait
} broker_conns_verdict_t;

typedef struct broker_conns broker_conns_t;

//  Raise the soft RLIMIT_NOFILE to the hard limit and work out the
//  capacity. *raised_from (may be NULL) gets the soft limit found, or 0 if
//  it could not be raised. Returns NULL if out of memory.
broker_conns_t *broker_conns_new(uint64_t *raised_from);

//  Destroy and set *self_p to NULL. Safe on NULL.
void broker_conns_destroy(broker_conns_t **self_p);

//  The open-file limit in force (after raising).
uint64_t broker_conns_nofile(const broker_conns_t *self);

//  Connections the broker can hold: the limit less the reserves.
size_t broker_conns_capacity(const broker_conns_t *self);

//  TCP connections open now, in a handshake or in a session.
size_t broker_conns_open(const broker_conns_t *self);

//  More connections are open than the capacity: a new session must be
//  refused (the connection asking is among them).
bool broker_conns_full(const broker_conns_t *self);

//  Take one monitor event (its id and value; for ACCEPTED and DISCONNECTED
//  the value is the descriptor) seen at now_ms on a monotonic clock.
//  libzmq reports a handshake that fails without detail just before the
//  same connection's DISCONNECTED, so the verdict about it comes with that
//  DISCONNECTED, and *age_ms (may be NULL) gets how long the connection
//  had been open. Otherwise BROKER_CONNS_NONE.
broker_conns_verdict_t broker_conns_event(broker_conns_t *self, uint16_t event, uint32_t value,
                                          uint64_t now_ms, uint64_t *age_ms);

#endif
