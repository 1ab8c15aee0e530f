/*  broker/hop.c - documents crossing a link between brokers. See hop.h.

    A hop is pushed like a delivery to an agent: in flight until the other
    broker answers, pushed again after a loss or on a new session of the
    link. The other broker answers with its own signed batch receipt (the
    hop receipt); a FORWARD it has stored before is answered with the same
    ACCEPTED again, so a repeat costs nothing but the bytes.

    The broker keeps a document in its DELIVER form: the sender's SUBMIT
    (REVOKE, UPDATE, REPLACE) body with two fields appended, `accepted` and
    `seq` (apply.c). The FORWARD carries the sender's body, got back by
    taking those two fields off again and writing the map header for the
    original count; the bytes are checked to end exactly as the broker
    wrote them, so nothing is ever re-encoded from a decoded document.
*/
#include "hop.h"

#include <inttypes.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/keywin.h"
#include "proto/log.h"
#include "proto/merkle.h"
#include "proto/route.h"
#include "proto/sign.h"

#include "batch.h"
#include "expiry.h"
#include "deliver_body.h"
#include "forward.h"
#include "linklog.h"
#include "session.h"

bool broker_hop_link_kind(int kind)
{
    return kind == PROTO_KIND_FORWARD || kind == PROTO_KIND_ACCEPTED ||
           kind == PROTO_KIND_REJECTED || kind == PROTO_KIND_DELIVERED ||
           kind == PROTO_KIND_STATUS || kind == PROTO_KIND_EXPIRED;
}

void broker_hop_mark_dirty(broker_server_t *self, const char *label)
{
    for (size_t i = 0; i < broker_peers_count(self->peers); i++) {
        broker_peer_t *p = broker_peers_at(self->peers, i);
        if (p->link && !p->dead && strcmp(p->link_label, label) == 0)
            p->dirty = true;
    }
}

// ---------------------------------------------------------------------------
//  Pushing

//  One stored document as it goes to the broker labelled label: the
//  sender's body, its decoded document, what it came with, and the plan of
//  the recipients it carries onward. Loop thread, in a transaction.
typedef struct {
    broker_doc_t rec;
    const void *frames[BROKER_MAX_FRAMES];
    size_t lens[BROKER_MAX_FRAMES], count;
    proto_buf_t body;
    proto_msg_t *msg;
    broker_fwd_in_t *in;
    broker_fwd_plan_t *plan;
    uint32_t hop; // the plan's group for label
} s_outgoing_t;

static void s_outgoing_free(s_outgoing_t *out)
{
    proto_buf_free(&out->body);
    proto_msg_destroy(&out->msg);
    free(out->in);
    broker_fwd_plan_destroy(&out->plan);
}

//  Fill out for document id and label; a failure says why, for the log.
static const char *s_outgoing(broker_server_t *self, const proto_id_t *id, const char *label,
                              s_outgoing_t *out)
{
    memset(out, 0, sizeof *out);
    proto_buf_init(&out->body);
    const char *own = proto_identity_public(self->identity)->name;
    if (broker_store_doc_get(self->store, id, &out->rec) != PROTO_OK || out->rec.purged)
        return "the document is no longer stored";
    if (broker_store_frames_get(self->store, id, out->frames, out->lens, BROKER_MAX_FRAMES,
                                &out->count) != PROTO_OK ||
        out->count < 1)
        return "its frames are missing";
    out->in = malloc(sizeof *out->in);
    if (!out->in)
        return "out of memory";
    proto_err_t rc = broker_store_fwd_in_get(self->store, id, out->in);
    bool came_over_link = rc == PROTO_OK;
    if (rc != PROTO_OK && rc != PROTO_ERR_NOT_FOUND)
        return "what it came with cannot be read";
    if (broker_deliver_body_sender(out->frames[0], out->lens[0], out->rec.accepted, out->rec.seq,
                                   &out->body))
        return "its stored body is not the sender's with the broker's fields";
    proto_errinfo_t info;
    if (proto_msg_decode(out->rec.kind, out->body.data, out->body.len, &out->msg, &info))
        return "the sender's body does not decode";
    const proto_doc_t *doc = &out->msg->u.document.doc;
    if (!came_over_link) {
        //  Submitted here by an agency: the trace is this broker alone.
        proto_fwd_hop_t origin = { own, out->rec.accepted };
        if (broker_fwd_in_set(out->in, &origin, 1, (const char *const *) doc->to, doc->nto))
            return "what it came with cannot be read";
    }
    //  The plan sees the trace before this broker's own entry.
    out->plan = broker_fwd_plan_new(self->directory, own, out->in->to, out->in->nto, out->in->trace,
                                    out->in->ntrace - 1);
    if (!out->plan)
        return "out of memory";
    for (out->hop = 0; out->hop < broker_fwd_plan_hop_count(out->plan); out->hop++)
        if (strcmp(broker_fwd_plan_hop_label(out->plan, out->hop), label) == 0)
            break;
    if (out->hop == broker_fwd_plan_hop_count(out->plan))
        return "the directory no longer routes any of its recipients to this broker";
    if (broker_fwd_plan_hop_refused(out->plan, out->hop))
        return proto_strerror(broker_fwd_plan_hop_refused(out->plan, out->hop));
    return NULL;
}

//  Send one hop as a FORWARD: PROTO_OK, PROTO_ERR_BUSY if the link cannot
//  take it now, or why it cannot be encoded (logged; it stays queued).
static proto_err_t s_send_forward(broker_server_t *self, broker_peer_t *p, const s_outgoing_t *out)
{
    const char *to[PROTO_MAX_RECIPIENTS];
    uint32_t nto = broker_fwd_plan_hop_to_count(out->plan, out->hop);
    for (uint32_t i = 0; i < nto && i < PROTO_MAX_RECIPIENTS; i++)
        to[i] = broker_fwd_plan_hop_to(out->plan, out->hop, i);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_FORWARD;
    msg.u.forward.kind = out->rec.kind;
    msg.u.forward.body = out->body.data;
    msg.u.forward.body_len = out->body.len;
    msg.u.forward.to = to;
    msg.u.forward.nto = nto;
    msg.u.forward.trace = out->in->trace;
    msg.u.forward.ntrace = out->in->ntrace;
    proto_buf_t buf;
    proto_errinfo_t info;
    proto_buf_init(&buf);
    proto_err_t rc = proto_msg_encode(&msg, &buf, &info);
    if (!rc && !broker_session_send(self, p, PROTO_KIND_FORWARD, buf.data, buf.len, out->frames + 1,
                                    out->lens + 1, out->count - 1))
        rc = PROTO_ERR_BUSY;
    else if (rc)
        proto_log_error("event=forward_not_encoded broker=%s error=%s field=%s detail=\"%s\"",
                        p->link_label, proto_errname(rc), info.field, info.message);
    proto_buf_free(&buf);
    return rc;
}

typedef struct {
    broker_server_t *self;
    broker_peer_t *peer;
    bool full; // the window or the socket is
} s_pick_t;

static bool s_pick_hop(void *arg, const proto_id_t *id)
{
    s_pick_t *pick = arg;
    broker_peer_t *p = pick->peer;
    if (p->nflight >= p->window)
        return false;
    if (broker_flight_has(p, false, 0, id))
        return true;
    s_outgoing_t out;
    const char *why = s_outgoing(pick->self, id, p->link_label, &out);
    bool go_on = true;
    if (why) {
        //  It stays queued: a directory change or an operator may yet
        //  settle it, and the queue goes on behind it.
        char id_text[PROTO_ID_TEXT_LEN];
        proto_id_format(id, id_text);
        proto_log_warning("event=hop_not_sent doc=%s broker=%s reason=\"%s\"", id_text,
                          p->link_label, why);
    } else {
        proto_err_t rc = s_send_forward(pick->self, p, &out);
        if (!rc)
            broker_flight_add(p, false, 0, id);
        go_on = rc != PROTO_ERR_BUSY;
        pick->full = !go_on;
    }
    s_outgoing_free(&out);
    return go_on;
}

//  A routed message of the link's mailbox (a DELIVERED going back).
static bool s_pick_box(void *arg, uint64_t mid, uint8_t kind, const void *body, size_t len)
{
    s_pick_t *pick = arg;
    broker_peer_t *p = pick->peer;
    if (p->nflight >= p->window) {
        pick->full = true;
        return false;
    }
    if (broker_flight_has(p, true, mid, NULL))
        return true;
    if (!broker_session_send(pick->self, p, (proto_kind_t) kind, body, len, NULL, NULL, 0)) {
        pick->full = true;
        return false;
    }
    broker_flight_add(p, true, mid, NULL);
    return true;
}

void broker_hop_push(broker_server_t *self, broker_peer_t *p)
{
    s_pick_t pick = { .self = self, .peer = p };
    broker_store_linkbox_scan(self->store, p->link_label, s_pick_box, &pick);
    if (!pick.full)
        broker_store_hop_scan(self->store, p->link_label, s_pick_hop, &pick);
}

// ---------------------------------------------------------------------------
//  Receiving a FORWARD

static bool s_doc_ok(const uint8_t key[32], const void *arg)
{
    const proto_document_t *d = arg;
    return proto_doc_verify(&d->doc, key, d->sig) == PROTO_OK;
}

//  Replace the job's body frame with bytes (len of them). False if out of
//  memory.
static bool s_body_frame(broker_job_t *job, const void *bytes, size_t len)
{
    zmq_msg_t frame;
    if (zmq_msg_init_size(&frame, len) != 0)
        return false;
    memcpy(zmq_msg_data(&frame), bytes, len);
    zmq_msg_close(&job->frames[1]);
    job->frames[1] = frame;
    return true;
}

//  Whether this broker routes code over the link to label: the agency lives
//  behind it, as this directory sees it.
bool broker_hop_behind(broker_server_t *self, const char *code, const char *label)
{
    proto_route_t route;
    return proto_directory_route(self->directory, code, proto_identity_public(self->identity)->name,
                                 &route) == PROTO_OK &&
           route.kind == PROTO_ROUTE_LINK && strcmp(route.broker->label, label) == 0;
}

bool broker_hop_forward_take(broker_server_t *self, broker_peer_t *p, broker_job_t *job,
                             broker_fwd_in_t *in)
{
    proto_forward_t fwd = job->msg->u.forward; // its strings live in the message's arena
    const proto_doc_t *doc = &fwd.document.doc;
    char detail[200] = "";
    proto_err_t rc = PROTO_OK;
    const proto_directory_entry_t *e = proto_directory_find(self->directory, doc->from);
    if (!e) {
        rc = PROTO_ERR_UNKNOWN_AGENCY;
        snprintf(detail, sizeof detail, "the sender %s is not in this broker's directory",
                 doc->from);
    } else if (!broker_hop_behind(self, doc->from, p->link_label)) {
        //  An agency of this broker, or one this broker reaches another
        //  way, cannot have sent it over this link.
        rc = PROTO_ERR_SENDER_MISMATCH;
        snprintf(detail, sizeof detail, "the sender %s is not reached over the link to %s",
                 doc->from, p->link_label);
    } else if (fwd.ntrace >= PROTO_MAX_HOPS) {
        rc = PROTO_ERR_HOP_LIMIT;
        snprintf(detail, sizeof detail, "the trace has no room for this broker");
    } else {
        rc = proto_keywin_verify(e->sign_pk, e->retired, e->retired_count, doc->created / 1000,
                                 s_doc_ok, &fwd.document);
        if (rc && rc != PROTO_ERR_KEY_RETIRED)
            rc = PROTO_ERR_BAD_SIGNATURE;
        if (rc)
            snprintf(detail, sizeof detail,
                     "body.sig: the signature does not verify with the sender's registered key");
    }
    if (!rc && broker_fwd_in_set(in, fwd.trace, fwd.ntrace, fwd.to, fwd.nto) != PROTO_OK)
        rc = PROTO_ERR_LIMIT;
    //  From here on the job is the sender's own message, as its home broker
    //  received it: the document, and its body frame byte for byte.
    if (!rc && !s_body_frame(job, fwd.body, fwd.body_len)) {
        rc = PROTO_ERR_NOMEM;
        snprintf(detail, sizeof detail, "out of memory");
    }
    if (rc) {
        broker_batch_reject(self, p, &doc->id, job->hash, doc->from, rc, detail);
        return false;
    }
    job->msg->u.document = fwd.document;
    job->msg->kind = (proto_kind_t) fwd.kind;
    job->kind = fwd.kind;
    return true;
}

// ---------------------------------------------------------------------------
//  Hop receipts

//  EXPIRED notices (event 5) about document id for the sender: into its
//  mailbox when it submitted here (expiry.c), else signed by this broker
//  into the mailbox of the link the document came by, so that each broker
//  back to the origin tells the next (broker_hop_expired_apply).
static void s_expired_onward(broker_server_t *self, const proto_id_t *id,
                             const proto_leaf_t *leaves, size_t n)
{
    char via[PROTO_LABEL_MAX + 1];
    if (!broker_hop_came_via(self, id, via))
        return broker_expiry_route_to_senders(self, leaves, n);
    proto_item_t *items = calloc(n, sizeof *items);
    uint8_t(*paths)[PROTO_HASH_LEN] = calloc(n * PROTO_MAX_PATH, PROTO_HASH_LEN);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_EXPIRED;
    proto_err_t rc = items && paths ? proto_receipts_build(leaves, n, self->identity, broker_now(),
                                                           &msg.u.receipts.head, msg.u.receipts.sig,
                                                           items, paths)
                                    : PROTO_ERR_NOMEM;
    msg.u.receipts.items = items;
    msg.u.receipts.nitems = (uint32_t) n;
    if (!rc)
        rc = broker_hop_route_back(self, via, &msg);
    if (rc)
        proto_log_error("event=notice_not_routed via=%s error=%s", via, proto_errname(rc));
    free(items);
    free(paths);
}

//  The recipients a refused or expired hop carried learn it as the
//  sender's EXPIRED notices (event 5), reason naming the broker and why:
//  the document will not reach them.
static void s_ended_notices(broker_server_t *self, const proto_id_t *id, const char *label,
                            const char *reason)
{
    s_outgoing_t out;
    const char *why = s_outgoing(self, id, label, &out);
    uint32_t n = why ? 0 : broker_fwd_plan_hop_to_count(out.plan, out.hop);
    proto_leaf_t *leaves = n ? calloc(n, sizeof *leaves) : NULL;
    for (uint32_t i = 0; leaves && i < n; i++) {
        proto_leaf_t *leaf = &leaves[i];
        leaf->event = PROTO_EVENT_EXPIRED;
        leaf->id = *id;
        memcpy(leaf->hash, out.rec.hash, PROTO_HASH_LEN);
        leaf->from = out.rec.from;
        leaf->to = broker_fwd_plan_hop_to(out.plan, out.hop, i);
        leaf->time = broker_now();
        leaf->reason = reason;
    }
    if (leaves)
        s_expired_onward(self, id, leaves, n);
    else if (why)
        proto_log_error("event=hop_refusal_not_told broker=%s reason=\"%s\"", label, why);
    free(leaves);
    s_outgoing_free(&out);
}

//  A hop of document doc ended at time now (answered or expired): one open
//  item fewer. The last one gives the sender's quota its document back and
//  lists the document for retention, as the last delivery does: until
//  then a hop still waits for it, after it nothing does.
static proto_err_t s_hop_settled(broker_server_t *self, broker_doc_t *doc, uint64_t now)
{
    if (doc->open == 0)
        return PROTO_OK;
    doc->open--;
    proto_err_t rc = broker_store_doc_update(self->store, doc);
    if (!rc && doc->open == 0)
        rc = broker_store_quota_add(self->store, doc->from, -1, 0);
    if (!rc && doc->open == 0)
        rc = broker_store_doc_finished(self->store, &doc->id, now);
    return rc;
}

//  One item of a hop receipt: the hop of its document to p's broker ends.
static void s_hop_answered(broker_server_t *self, broker_peer_t *p, const proto_leaf_t *leaf,
                           bool accepted)
{
    char id_text[PROTO_ID_TEXT_LEN];
    proto_id_format(&leaf->id, id_text);
    broker_hop_t hop;
    broker_doc_t doc;
    if (broker_store_hop_get(self->store, p->link_label, &leaf->id, &hop) != PROTO_OK ||
        broker_store_doc_get(self->store, &leaf->id, &doc) != PROTO_OK) {
        proto_log_warning("event=hop_receipt_unknown doc=%s broker=%s", id_text, p->link_label);
        return;
    }
    broker_flight_remove(p, false, 0, &leaf->id);
    if (hop.state != BROKER_HOP_WAITING)
        return; // answered before: a repeat after a re-push
    uint32_t code = accepted ? 0 : leaf->code;
    if (accepted && sodium_memcmp(doc.hash, leaf->hash, PROTO_HASH_LEN) != 0)
        code = PROTO_ERR_HASH_MISMATCH; // it accepted other content: not ours
    uint64_t now = broker_now();
    proto_err_t rc =
        broker_store_hop_answer(self->store, p->link_label, &leaf->id,
                                code ? BROKER_HOP_REFUSED : BROKER_HOP_DONE, code, now);
    if (!rc)
        rc = s_hop_settled(self, &doc, now);
    char detail[120];
    snprintf(detail, sizeof detail, "hop=%s%s%s", p->link_label, code ? " code=" : " accepted",
             code ? proto_errname((proto_err_t) code) : "");
    if (!rc)
        broker_batch_audit(self, code ? BROKER_AUDIT_REJECTED : BROKER_AUDIT_ACCEPTED, doc.from,
                           &leaf->id, detail, NULL);
    if (rc) {
        proto_log_error("event=hop_answer_not_recorded doc=%s broker=%s error=%s", id_text,
                        p->link_label, proto_errname(rc));
        return;
    }
    proto_log_info("event=%s doc=%s broker=%s code=%s", code ? "hop_refused" : "hop_done", id_text,
                   p->link_label, code ? proto_errname((proto_err_t) code) : "-");
    if (code) {
        char reason[160];
        snprintf(reason, sizeof reason, "the broker %s refused it: %s", p->link_label,
                 proto_errname((proto_err_t) code));
        s_ended_notices(self, &leaf->id, p->link_label, reason);
    }
}

void broker_hop_receipt_apply(broker_server_t *self, broker_peer_t *p, broker_job_t *job)
{
    const proto_receipts_t *r = &job->msg->u.receipts;
    //  The other broker's batch head names its place in its log: a newer
    //  head to ask for (linklog.c).
    broker_linklog_on_batch(self->linklog, p, r->head.log);
    if (broker_batch_begin(self) != PROTO_OK)
        return; // not recorded: the hop is pushed again and answered again
    for (uint32_t i = 0; i < r->nitems; i++)
        s_hop_answered(self, p, &r->items[i].leaf, job->kind == PROTO_KIND_ACCEPTED);
}

// ---------------------------------------------------------------------------
//  Hops past their time to live

//  One hop whose deadline passed: if it still waits, it ends EXPIRED, leaves
//  the link's queue and every push in flight, is audited, and the sender
//  learns it as for a refusal.
static void s_hop_expire_one(void *arg, const char *label, const proto_id_t *id)
{
    broker_server_t *self = arg;
    broker_hop_t hop;
    broker_doc_t doc;
    if (broker_store_hop_get(self->store, label, id, &hop) != PROTO_OK ||
        hop.state != BROKER_HOP_WAITING || broker_store_doc_get(self->store, id, &doc) != PROTO_OK)
        return; // answered before its deadline
    char id_text[PROTO_ID_TEXT_LEN], detail[120];
    proto_id_format(id, id_text);
    uint64_t now = broker_now();
    proto_err_t rc =
        broker_store_hop_answer(self->store, label, id, BROKER_HOP_EXPIRED, PROTO_ERR_EXPIRED, now);
    if (!rc)
        rc = s_hop_settled(self, &doc, now);
    if (rc) {
        proto_log_error("event=hop_expiry_not_recorded doc=%s broker=%s error=%s", id_text, label,
                        proto_errname(rc));
        return;
    }
    snprintf(detail, sizeof detail, "hop=%s code=ERR_EXPIRED", label);
    broker_batch_audit(self, BROKER_AUDIT_EXPIRED, doc.from, id, detail, NULL);
    //  A push in flight is forgotten: it is not pushed again, and an
    //  answer that still comes changes nothing (the hop is settled).
    for (size_t i = 0; i < broker_peers_count(self->peers); i++) {
        broker_peer_t *p = broker_peers_at(self->peers, i);
        if (p->link && !p->dead && strcmp(p->link_label, label) == 0)
            broker_flight_remove(p, false, 0, id);
    }
    proto_log_info("event=hop_expired doc=%s from=%s broker=%s", id_text, doc.from, label);
    char reason[160];
    snprintf(reason, sizeof reason, "the broker %s did not take it within store.ttl: ERR_EXPIRED",
             label);
    s_ended_notices(self, id, label, reason);
}

void broker_hop_expire(broker_server_t *self, uint64_t now)
{
    if (broker_batch_begin(self) != PROTO_OK)
        return;
    size_t n = broker_store_hop_expiry_scan(self->store, now, 1024, s_hop_expire_one, self);
    if (n)
        proto_log_debug("event=hop_deadlines taken=%zu", n);
}

// ---------------------------------------------------------------------------
//  DELIVERED going back towards the origin

bool broker_hop_came_via(broker_server_t *self, const proto_id_t *id,
                         char label[PROTO_LABEL_MAX + 1])
{
    broker_fwd_in_t *in = malloc(sizeof *in);
    bool via = in && broker_store_fwd_in_get(self->store, id, in) == PROTO_OK && in->ntrace >= 2;
    if (via)
        snprintf(label, PROTO_LABEL_MAX + 1, "%s", in->trace[in->ntrace - 2].broker);
    free(in);
    return via;
}

proto_err_t broker_hop_route_back(broker_server_t *self, const char *label, proto_msg_t *msg)
{
    proto_buf_t body;
    proto_errinfo_t info;
    proto_buf_init(&body);
    uint64_t *mid = msg->kind == PROTO_KIND_STATUS ? &msg->u.status.mid : &msg->u.receipts.mid;
    proto_err_t rc = broker_store_mid_next(self->store, mid);
    if (!rc)
        rc = proto_msg_encode(msg, &body, &info);
    if (!rc)
        rc = broker_store_linkbox_put(self->store, label, *mid, (uint8_t) msg->kind, body.data,
                                      body.len);
    proto_buf_free(&body);
    if (!rc)
        broker_hop_mark_dirty(self, label);
    return rc;
}

static bool s_head_ok(const uint8_t key[32], const void *arg)
{
    const proto_receipts_t *r = arg;
    return proto_head_verify(&r->head, key, r->sig) == PROTO_OK;
}

//  One item of a DELIVERED that came back over the link from p: checked
//  against the document and the hop, recorded once, then sent on towards
//  the sender, as one bundle under the recipient's head and signature.
static proto_err_t s_delivered_item(broker_server_t *self, broker_peer_t *p,
                                    const proto_receipts_t *r, const proto_item_t *item)
{
    const proto_leaf_t *leaf = &item->leaf;
    char id_text[PROTO_ID_TEXT_LEN], via[PROTO_LABEL_MAX + 1];
    proto_id_format(&leaf->id, id_text);
    broker_doc_t doc;
    broker_hop_t hop;
    if (broker_store_doc_get(self->store, &leaf->id, &doc) != PROTO_OK ||
        broker_store_hop_get(self->store, p->link_label, &leaf->id, &hop) != PROTO_OK)
        return PROTO_ERR_UNKNOWN_DOC;
    if (sodium_memcmp(doc.hash, leaf->hash, PROTO_HASH_LEN) != 0 || strcmp(doc.from, leaf->from))
        return PROTO_ERR_VALUE;
    uint64_t now = broker_now();
    proto_err_t rc = broker_store_hop_delivered(self->store, &leaf->id, leaf->to, now);
    if (rc == PROTO_ERR_EXISTS)
        return PROTO_OK; // a repeat: routed the first time
    bool refused = leaf->event == PROTO_EVENT_REFUSED;
    char detail[64 + PROTO_LABEL_MAX];
    snprintf(detail, sizeof detail, "to=%s via=%s%s%s", leaf->to, p->link_label,
             refused ? " code=" : "", refused ? proto_errname((proto_err_t) leaf->code) : "");
    if (!rc)
        rc = broker_store_audit_append(
            self->store, now, refused ? BROKER_AUDIT_REFUSED_BY_RECIPIENT : BROKER_AUDIT_DELIVERED,
            doc.from, &leaf->id, detail, NULL);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DELIVERED;
    msg.u.receipts = *r;
    proto_item_t one = *item;
    msg.u.receipts.items = &one;
    msg.u.receipts.nitems = 1;
    msg.u.receipts.mid = 0;
    if (!rc && broker_hop_came_via(self, &leaf->id, via)) {
        rc = broker_hop_route_back(self, via, &msg);
    } else if (!rc) {
        proto_buf_t body;
        proto_errinfo_t info;
        proto_buf_init(&body);
        rc = broker_store_mid_next(self->store, &msg.u.receipts.mid);
        if (!rc)
            rc = proto_msg_encode(&msg, &body, &info);
        if (!rc)
            rc = broker_store_mbox_put(self->store, doc.from, msg.u.receipts.mid,
                                       PROTO_KIND_DELIVERED, body.data, body.len);
        proto_buf_free(&body);
        if (!rc)
            broker_peers_mark_dirty(self->peers, doc.from);
    }
    if (!rc)
        proto_log_info("event=delivered_back doc=%s to=%s via=%s", id_text, leaf->to,
                       p->link_label);
    return rc;
}

//  Acknowledge mid to link session p once what it brought is durable, as an
//  agent acknowledges: the other broker forgets it then.
//  One routed message owed its ACK once the batch that took it is durable.
struct broker_hop_ack {
    uint8_t rid[BROKER_ROUTING_MAX];
    size_t rid_len;
    uint64_t mid;
};

static void s_ack_now(broker_server_t *self, broker_peer_t *p, const uint64_t *mids, uint32_t n)
{
    proto_msg_t ack;
    memset(&ack, 0, sizeof ack);
    ack.kind = PROTO_KIND_ACK;
    ack.u.ack.mids = (uint64_t *) (uintptr_t) mids; // only read by the encoder
    ack.u.ack.nmids = n;
    broker_session_send_msg(self, p, &ack);
}

//  Acknowledge a routed message from link p once what it changed is
//  durable: with the group commit that follows (broker_hop_acks_send), so
//  a stream of receipts over a link costs one fsync per batch, not one
//  each; at once if it changed nothing (a repeat). Out of memory: commit
//  now and acknowledge, as before there was a list.
void broker_hop_commit_ack(broker_server_t *self, broker_peer_t *p, uint64_t mid)
{
    if (!broker_store_writing(self->store))
        return s_ack_now(self, p, &mid, 1);
    if (self->nhop_acks == self->hop_acks_cap) {
        size_t cap = self->hop_acks_cap ? self->hop_acks_cap * 2 : 64;
        struct broker_hop_ack *grown = realloc(self->hop_acks, cap * sizeof *grown);
        if (!grown) {
            broker_batch_commit(self);
            if (!self->stats.commit_failing)
                s_ack_now(self, p, &mid, 1);
            return;
        }
        self->hop_acks = grown;
        self->hop_acks_cap = cap;
    }
    struct broker_hop_ack *a = &self->hop_acks[self->nhop_acks++];
    memcpy(a->rid, p->rid, p->rid_len);
    a->rid_len = p->rid_len;
    a->mid = mid;
}

void broker_hop_acks_send(broker_server_t *self, bool committed)
{
    static uint64_t mids[PROTO_MAX_ITEMS]; // the loop thread's only
    for (size_t i = 0; committed && i < self->nhop_acks; i++) {
        struct broker_hop_ack *a = &self->hop_acks[i];
        if (!a->rid_len)
            continue; // sent with an earlier one of its session
        uint32_t n = 0;
        for (size_t j = i; j < self->nhop_acks && n < PROTO_MAX_ITEMS; j++) {
            struct broker_hop_ack *b = &self->hop_acks[j];
            if (b->rid_len == a->rid_len && memcmp(b->rid, a->rid, a->rid_len) == 0) {
                mids[n++] = b->mid;
                if (j != i)
                    b->rid_len = 0;
            }
        }
        broker_peer_t *p = broker_peers_find(self->peers, a->rid, a->rid_len);
        a->rid_len = 0;
        if (p && !p->dead)
            s_ack_now(self, p, mids, n);
        //  Beyond one ACK's worth, the rest keep their session and start
        //  their own ACK when the loop reaches them.
    }
    self->nhop_acks = 0;
}

void broker_hop_delivered_apply(broker_server_t *self, broker_peer_t *p, broker_job_t *job)
{
    proto_receipts_t *r = &job->msg->u.receipts;
    const proto_directory_entry_t *e = proto_directory_find(self->directory, r->head.signer);
    proto_err_t rc = PROTO_OK;
    const char *what = "";
    //  The recipient signed it, with its key from this directory, and it
    //  lives behind this link.
    if (!e || !broker_hop_behind(self, r->head.signer, p->link_label)) {
        rc = PROTO_ERR_SENDER_MISMATCH;
        what = "the recipient is not reached over this link";
    } else if (proto_keywin_verify(e->sign_pk, e->retired, e->retired_count, r->head.time / 1000,
                                   s_head_ok, r) != PROTO_OK) {
        rc = PROTO_ERR_BAD_SIGNATURE;
        what = "the head signature does not verify with the recipient's registered key";
    }
    for (uint32_t i = 0; !rc && i < r->nitems; i++)
        if (!r->items[i].leaf.to || strcmp(r->items[i].leaf.to, r->head.signer) != 0) {
            rc = PROTO_ERR_SENDER_MISMATCH;
            what = "a recipient acknowledges only for itself";
        }
    if (!rc)
        rc = broker_batch_begin(self);
    for (uint32_t i = 0; !rc && i < r->nitems; i++) {
        proto_err_t item_rc = s_delivered_item(self, p, r, &r->items[i]);
        if (item_rc == PROTO_ERR_STORE || item_rc == PROTO_ERR_STORE_FULL ||
            item_rc == PROTO_ERR_NOMEM)
            rc = item_rc; // not recorded: not acknowledged, so sent again
        else if (item_rc)
            proto_log_warning("event=delivered_back_refused broker=%s code=%s", p->link_label,
                              proto_errname(item_rc));
    }
    if (rc) {
        broker_session_error(self, p, rc, what[0] ? what : "not recorded", NULL, false);
        return;
    }
    broker_hop_commit_ack(self, p, r->mid);
}

// ---------------------------------------------------------------------------
//  A hop refused further along, told back towards the sender

void broker_hop_expired_apply(broker_server_t *self, broker_peer_t *p, broker_job_t *job)
{
    const proto_receipts_t *r = &job->msg->u.receipts;
    proto_leaf_t *leaves = calloc(r->nitems, sizeof *leaves);
    size_t n = 0;
    proto_err_t rc = leaves ? broker_batch_begin(self) : PROTO_ERR_NOMEM;
    for (uint32_t i = 0; !rc && i < r->nitems; i++) {
        const proto_leaf_t *leaf = &r->items[i].leaf;
        broker_doc_t doc;
        broker_hop_t hop;
        //  Only about a document this broker forwarded over this link;
        //  once per recipient (the same table as a DELIVERED coming back:
        //  a recipient has one outcome).
        if (broker_store_doc_get(self->store, &leaf->id, &doc) != PROTO_OK ||
            broker_store_hop_get(self->store, p->link_label, &leaf->id, &hop) != PROTO_OK ||
            sodium_memcmp(doc.hash, leaf->hash, PROTO_HASH_LEN) != 0 ||
            strcmp(doc.from, leaf->from) != 0 || !leaf->to) {
            proto_log_warning("event=expired_back_refused broker=%s", p->link_label);
            continue;
        }
        proto_err_t once =
            broker_store_hop_delivered(self->store, &leaf->id, leaf->to, broker_now());
        if (once == PROTO_ERR_EXISTS)
            continue;
        char detail[64 + PROTO_LABEL_MAX];
        snprintf(detail, sizeof detail, "to=%s via=%s", leaf->to, p->link_label);
        rc = once ? once
                  : broker_store_audit_append(self->store, broker_now(), BROKER_AUDIT_EXPIRED,
                                              doc.from, &leaf->id, detail, NULL);
        leaves[n] = *leaf; // its strings live in the job's message until the end
        leaves[n].time = broker_now();
        leaves[n].seq = 0;
        n++;
    }
    //  One signed bundle per document, this broker's own (each broker's
    //  sender trusts its own broker's key).
    for (size_t i = 0; !rc && i < n;) {
        size_t j = i;
        while (j < n && memcmp(leaves[j].id.bytes, leaves[i].id.bytes, PROTO_ID_LEN) == 0)
            j++;
        s_expired_onward(self, &leaves[i].id, leaves + i, j - i);
        i = j;
    }
    free(leaves);
    if (rc) {
        broker_session_error(self, p, rc, "not recorded", NULL, false);
        return;
    }
    broker_hop_commit_ack(self, p, r->mid);
}
