/*  broker/store_fwd.h - the store's tables for documents handed to other
    brokers (federation, PROTOCOL.md 16.7).

    A document whose recipients live behind a link is stored once, like any
    other; beside it the broker keeps one delivery per next hop: a record
    per (link label, document), and a queue per link label in the order
    the link pushes in - most urgent first, then in acceptance order, as an
    agency's queue. A hop that the next broker answered leaves the queue;
    its record stays, with the state and the code of the answer.

    These are new tables ("hopq", "hops", "trace", "linkbox", "hopdlv",
    "hopexp"); the layouts of the others do not change, and a store written
    before them opens with them empty. This module owns only these tables;
    forwarding itself is the server's.
*/
#ifndef BROKER_STORE_FWD_H
#define BROKER_STORE_FWD_H

#include <stdint.h>

#include "store.h"

typedef enum {
    BROKER_HOP_WAITING = 0, // queued for the link
    BROKER_HOP_DONE = 1,    // the next broker stored it (its ACCEPTED is kept)
    BROKER_HOP_REFUSED = 2, // the next broker refused it (code says why)
    BROKER_HOP_EXPIRED = 3, // the next broker did not take it within store.ttl
} broker_hop_state_t;

typedef struct {
    uint8_t state;      // broker_hop_state_t
    uint8_t urgency;    // the document's, its place in the link queue
    uint64_t queue_seq; // the document's audit sequence number, its place within its urgency
    uint64_t time;      // when queued, then when the next broker answered (ms)
    uint32_t code;      // the next broker's refusal (proto_err_t), 0 otherwise
} broker_hop_t;

//  Queue document id for the broker labelled label, in the open write
//  transaction. urgency and seq are the document's (broker_doc_t); now is
//  the acceptance time. PROTO_ERR_EXISTS if that hop is recorded already,
//  PROTO_ERR_INVALID_ARG for a label that is no broker label.
proto_err_t broker_store_hop_add(broker_store_t *self, const char *label, const proto_id_t *id,
                                 uint8_t urgency, uint64_t seq, uint64_t now) PROTO_MUST_CHECK;

//  Read the hop of document id to label. PROTO_ERR_NOT_FOUND if there is none.
proto_err_t broker_store_hop_get(broker_store_t *self, const char *label, const proto_id_t *id,
                                 broker_hop_t *out) PROTO_MUST_CHECK;

//  Record the next broker's answer: state DONE or REFUSED (with code),
//  at time now, or EXPIRED (code PROTO_ERR_EXPIRED) when its deadline
//  passed first. The hop leaves the link's queue. PROTO_ERR_NOT_FOUND if
//  there is no such hop, PROTO_ERR_BAD_STATE if it was answered already.
proto_err_t broker_store_hop_answer(broker_store_t *self, const char *label, const proto_id_t *id,
                                    uint8_t state, uint32_t code, uint64_t now) PROTO_MUST_CHECK;

//  The hop of document id to label expires at deadline (wall ms): a row of
//  "hopexp", in the open write transaction. A hop answered before its
//  deadline keeps its row until then; the scan drops it.
proto_err_t broker_store_hop_deadline(broker_store_t *self, const char *label, const proto_id_t *id,
                                      uint64_t deadline) PROTO_MUST_CHECK;

//  Hops whose deadline is at or before now, at most max of them, oldest
//  first: each row is removed, then fn called with its label and id (fn
//  checks that the hop still waits). Needs the write transaction. Returns
//  the number of rows taken.
typedef void(broker_store_hop_due_fn)(void *arg, const char *label, const proto_id_t *id);
size_t broker_store_hop_expiry_scan(broker_store_t *self, uint64_t now, size_t max,
                                    broker_store_hop_due_fn *fn, void *arg);

//  Visit the ids queued for label, most urgent first, then oldest first,
//  until fn returns false. Returns the number visited.
size_t broker_store_hop_scan(broker_store_t *self, const char *label, broker_store_queue_fn *fn,
                             void *arg);

//  The labels with hops queued and how many, from counts kept beside the
//  queues (O(labels), not O(backlog)), until fn returns false. Returns the
//  number visited.
#define BROKER_STORE_HOP_LABELS 1024 // labels counted at most
typedef bool(broker_store_hop_label_fn)(void *arg, const char *label, uint64_t queued);
size_t broker_store_hop_labels(broker_store_t *self, broker_store_hop_label_fn *fn, void *arg);

//  How long (ms, relative to wall time now) the oldest hop queued for
//  label has waited, 0 when none: one seek per urgency.
uint64_t broker_store_hop_oldest(broker_store_t *self, const char *label, uint64_t now);

//  What a document that came from another broker came with (PROTOCOL.md
//  16.7): its trace, this broker's own entry last, and the recipients that
//  hop carried - the ones this broker routes onward; the document's other
//  recipients went another way. Kept beside the document ("trace"), so
//  that it goes onward with them. A document an agency submitted here has
//  none: its trace is this broker alone, its recipients all of `to`.
typedef struct {
    proto_fwd_hop_t trace[PROTO_MAX_HOPS];
    uint32_t ntrace;
    const char *to[PROTO_MAX_RECIPIENTS];
    uint32_t nto;
    char labels[PROTO_MAX_HOPS][PROTO_LABEL_MAX + 1];            // what trace points at
    char codes[PROTO_MAX_RECIPIENTS][PROTO_AGENCY_CODE_LEN + 1]; // what to points at
} broker_fwd_in_t;

//  Copy trace[0..ntrace-1] and to[0..nto-1] into in, pointing at its own
//  arrays. PROTO_ERR_INVALID_ARG if a count or a string is too long.
proto_err_t broker_fwd_in_set(broker_fwd_in_t *in, const proto_fwd_hop_t *trace, uint32_t ntrace,
                              const char *const *to, uint32_t nto) PROTO_MUST_CHECK;

//  put needs the write transaction; get fills *out. PROTO_ERR_NOT_FOUND if
//  there is none, PROTO_ERR_STORE for a record this broker cannot read.
proto_err_t broker_store_fwd_in_put(broker_store_t *self, const proto_id_t *id,
                                    const broker_fwd_in_t *in) PROTO_MUST_CHECK;
proto_err_t broker_store_fwd_in_get(broker_store_t *self, const proto_id_t *id,
                                    broker_fwd_in_t *out) PROTO_MUST_CHECK;

//  A link's mailbox: routed messages (a recipient's DELIVERED going back
//  towards the document's origin) waiting for the link to the broker
//  labelled label, by mailbox id (broker_store_mid_next), in that order,
//  until the other broker acknowledges them (ACK).
proto_err_t broker_store_linkbox_put(broker_store_t *self, const char *label, uint64_t mid,
                                     uint8_t kind, const void *body, size_t len) PROTO_MUST_CHECK;
size_t broker_store_linkbox_scan(broker_store_t *self, const char *label, broker_store_mbox_fn *fn,
                                 void *arg);
//  Remove an acknowledged message; unknown mids are ignored (PROTO_OK).
proto_err_t broker_store_linkbox_del(broker_store_t *self, const char *label,
                                     uint64_t mid) PROTO_MUST_CHECK;

//  Record that recipient `to` of document id, behind a link, delivered it
//  (its DELIVERED came back over the link) at time now. PROTO_ERR_EXISTS
//  if that was recorded before: the DELIVERED is a repeat.
proto_err_t broker_store_hop_delivered(broker_store_t *self, const proto_id_t *id, const char *to,
                                       uint64_t now) PROTO_MUST_CHECK;
//  When that DELIVERED came back. PROTO_ERR_NOT_FOUND if it has not.
proto_err_t broker_store_hop_delivered_get(broker_store_t *self, const proto_id_t *id,
                                           const char *to, uint64_t *time) PROTO_MUST_CHECK;

#endif
