/*  broker/hop.h - documents crossing a link between brokers (federation,
    PROTOCOL.md 16.7 and 16.8).

    Owns: pushing each link's hop queue (store_fwd.h) as FORWARD messages
    within the window the other broker gave, on either side of the link;
    the checks a FORWARD needs the directory for, before it is stored like
    an agency's document (apply.c); and the other broker's hop receipts,
    which close the hops they answer.

    Does not: decide where a recipient goes (forward.c), store documents
    (apply.c) or hold the link's socket (link.c, and the ROUTER's peers).
    Loop thread only.
*/
#ifndef BROKER_HOP_H
#define BROKER_HOP_H

#include "server_internal.h"
#include "store_fwd.h"

//  The kinds a link session sends that go to the verify workers: FORWARD,
//  the hop receipts (ACCEPTED, REJECTED), and DELIVERED, STATUS and
//  EXPIRED going back.
bool broker_hop_link_kind(int kind);

//  server.c: a message that came on a link this broker dialed, taken the
//  way the ROUTER takes one from the session whose routing id is rid.
//  Returns true if the job went to a worker (it then owns it).
bool broker_server_link_message(broker_server_t *self, const void *rid, size_t rid_len,
                                broker_job_t *job);

//  The link sessions of the broker labelled label may have hops to push.
void broker_hop_mark_dirty(broker_server_t *self, const char *label);

//  Push the link session p's hop queue, most urgent first, each hop not in
//  flight, until its window or its socket is full. Inside the caller's
//  read transaction (push.c).
void broker_hop_push(broker_server_t *self, broker_peer_t *p);

//  A FORWARD the workers decoded and hashed, from link session p: check
//  its sender (an agency of the directory whose home is the broker the
//  trace starts at), the sender's signature with its key from this
//  directory, and the trace's room for this broker. On success the job
//  holds the carried document as an agency's SUBMIT (or REVOKE, UPDATE,
//  REPLACE) job would, in holds the trace and the hop's recipients, and
//  true is returned; otherwise the FORWARD has been answered (REJECTED).
bool broker_hop_forward_take(broker_server_t *self, broker_peer_t *p, broker_job_t *job,
                             broker_fwd_in_t *in);

//  A verified hop receipt from link session p: each item closes the hop of
//  its document to that broker, DONE (ACCEPTED) or REFUSED (REJECTED, with
//  its code), in the open batch.
void broker_hop_receipt_apply(broker_server_t *self, broker_peer_t *p, broker_job_t *job);

//  A recipient's DELIVERED for a document that came over a link goes back
//  the way it came: came_via gives the broker it came from (the trace's
//  entry before this broker's own), route_back puts msg (a DELIVERED
//  bundle, its mid set here) into that link's mailbox, in the open write
//  transaction.
bool broker_hop_came_via(broker_server_t *self, const proto_id_t *id,
                         char label[PROTO_LABEL_MAX + 1]);
proto_err_t broker_hop_route_back(broker_server_t *self, const char *label,
                                  proto_msg_t *msg) PROTO_MUST_CHECK;

//  A DELIVERED that came back over the link from p (paths checked by a
//  worker): the recipient's signature with its key from this directory,
//  the recipient behind that link, each item once against the document and
//  its hop; then on to the sender's mailbox, or the next link back; then
//  committed and acknowledged (ACK of its mid) to p.
void broker_hop_delivered_apply(broker_server_t *self, broker_peer_t *p, broker_job_t *job);

//  A recipient's STATUS to a document's sender that came back over the
//  link from p (hashed by a worker): the notice's sender behind that link,
//  its signature with its key from this directory, a document this broker
//  forwarded over that link and the notice addressed to its sender; the
//  notice kept once (a repeat is acknowledged and routed nothing), then
//  on to the sender's mailbox or the next link back, committed and
//  acknowledged.
void broker_hop_status_apply(broker_server_t *self, broker_peer_t *p, broker_job_t *job);

//  A hop refused further along, told back by the broker behind link p as
//  its signed EXPIRED (checked by a worker with that broker's key): each
//  item about a document this broker forwarded over that link, once per
//  recipient, becomes this broker's own EXPIRED towards the sender (its
//  mailbox, or the next link back); committed and acknowledged.
void broker_hop_expired_apply(broker_server_t *self, broker_peer_t *p, broker_job_t *job);

//  After the group commit (batch.c): acknowledge every routed message the
//  batch took from a link, one ACK per link session with all its mids;
//  committed false (the commit failed): acknowledge nothing, the other
//  broker pushes them again. Frees the list.
void broker_hop_acks_send(broker_server_t *self, bool committed);

#endif
