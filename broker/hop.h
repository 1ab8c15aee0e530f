/*  broker/hop.h - documents crossing a link between brokers (federation,
    PROTOCOL.md 16.7 and 16.8).

    Owns: pushing each link's hop queue (store_fwd.h) as FORWARD messages
    within the window the other broker gave, on either side of the link;
    the checks a FORWARD needs the directory for, before it is stored like
    an agency's document (apply.c); the other broker's hop receipts,
    which close the hops they answer; DELIVERED and EXPIRED going back;
    and, in hop_notice.c, STATUS notices across links both ways.

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

//  Hops whose deadline (store.ttl from their acceptance here) is at or
//  before now (wall ms) and that still wait end EXPIRED: dropped from the
//  link's queue, audited, and told to the sender as EXPIRED (event 5)
//  naming the broker, as a refused hop is. In the open batch (expiry.c).
void broker_hop_expire(broker_server_t *self, uint64_t now);

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

//  Whether this broker routes code over the link to the broker labelled
//  label: the agency lives behind it, as this directory sees it.
bool broker_hop_behind(broker_server_t *self, const char *code, const char *label);

//  Acknowledge mid to link session p once what the open batch took from
//  it is durable (with the group commit), at once when nothing is being
//  written (a repeat).
void broker_hop_commit_ack(broker_server_t *self, broker_peer_t *p, uint64_t mid);

// ---------------------------------------------------------------------------
//  Notices across links (hop_notice.c)

//  Whether code is one of the recipients this broker routes for document
//  id: of the hop's `to` it came with from another broker, or of the
//  document's `to` when an agency submitted it here.
bool broker_hop_recipient(broker_server_t *self, const proto_id_t *id, const char *code);

//  The link a recall (STATUS 13) of document id to recipient `to`, who has
//  no delivery here, goes on by. PROTO_OK with label set when `to` is a
//  recipient this broker handed to the next broker over that link and the
//  next broker stored it (the hop is done); PROTO_ERR_BAD_STATE while the
//  hop waits for the next broker; PROTO_ERR_EXPIRED when it was refused or
//  expired (the sender holds an EXPIRED for `to`); PROTO_ERR_NOT_AUTHORIZED
//  when `to` is not such a recipient.
proto_err_t broker_hop_recall_via(broker_server_t *self, const proto_id_t *id, const char *to,
                                  char label[PROTO_LABEL_MAX + 1]) PROTO_MUST_CHECK;

//  The key of the flag "a recall of document id was asked of agency" in the
//  store's flags (apply.c sets it for a 13 from a local sender, this module
//  for one that came over a link; a 15 or 16 needs it).
#define BROKER_RECALL_KEY_LEN (PROTO_ID_LEN + PROTO_AGENCY_CODE_LEN)
void broker_hop_recall_key(uint8_t key[BROKER_RECALL_KEY_LEN], const proto_id_t *id,
                           const char *agency);

//  A STATUS that came over the link from p (hashed by a worker), its
//  sender behind that link and signed with its key from this directory.
//  Either a recipient's notice to the document's sender, about a document
//  this broker forwarded over that link (a 15 or 16 only after a recall
//  passed here), going back to the sender's mailbox or the next link back;
//  or the sender's recall (13) of a document that came over that link, to
//  one of the recipients it carried, going on to that recipient's mailbox
//  or the next link on. The notice is kept once (a repeat is acknowledged
//  and routed nothing), committed, then acknowledged.
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
