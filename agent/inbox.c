/*  agent/inbox.c - what the broker delivers to this agency.

    Owns the receiving side of the store: DELIVER is checked (addressed to
    us, frame count, sender in the directory, its signature, attachment
    hashes) and kept as received, in the inbox (T_INBOX, T_FRAMES 'i') or in
    quarantine (T_QUAR, T_FRAMES 'q'); a repeat is acknowledged again as
    before. Each earns a DELIVERED or REFUSED leaf, and after the commit one
    signed head covers the leaves of the whole commit. STATUS notices routed
    to us are verified and kept once (T_NOTES, T_SEEN).

    Does not: read the socket (session.c), commit (agent.c), nor serve the
    inbox to the DMS (api_read.c).
*/
#include "inbox.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "api_edxml.h"
#include "evidence_keep.h"
#include "inbox_ops.h"
#include "proto/log.h"
#include "proto/merkle.h"
#include "proto/sign.h"
#include "seal.h"
#include "session.h"

//  The queue of leaves to sign starts this deep and doubles as it fills.
#define S_ACKS_FIRST_CAP 64

//  The signature checks for agent_dir_verify, each over one message.
static bool s_notice_ok(const uint8_t key[32], const void *arg)
{
    const proto_status_t *s = arg;
    return proto_notice_verify(&s->notice, key, s->sig) == PROTO_OK;
}

static bool s_doc_ok(const uint8_t key[32], const void *arg)
{
    const proto_document_t *d = arg;
    return proto_doc_verify(&d->doc, key, d->sig) == PROTO_OK;
}

void agent_inbox_on_status(agent_t *self, const proto_msg_t *msg)
{
    const proto_status_t *s = &msg->u.status;
    const proto_notice_t *n = &s->notice;
    agent_after_add(self, AFTER_ACK, NULL, 0, NULL, 0, NULL, s->mid);
    //  Checked against the sender's key of the notice's time, so a notice
    //  signed before a key rotation still counts.
    proto_err_t rc = strcmp(n->to, self->agency) != 0
                         ? PROTO_ERR_NOT_AUTHORIZED
                         : agent_dir_verify(self, n->from, n->time, s_notice_ok, s);
    if (rc) {
        proto_log_warning("event=notice_refused from=%s error=%s", n->from, proto_errname(rc));
        return;
    }
    if (proto_store_begin(self->kv) != PROTO_OK || agent_store_seen(self->kv, &n->id))
        return; // already taken: exactly once for the DMS
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    agent_note_pack(&pk, n);
    char doc[PROTO_ID_TEXT_LEN];
    proto_id_format(&n->doc, doc);
    proto_err_t keep = agent_evidence_keep_status(self, msg); // the signed notice, as evidence
    if (keep)
        proto_log_warning("event=evidence_not_kept error=%s", proto_errname(keep));
    if (agent_store_note_put(self->kv, &n->doc, &n->id, buf.data, buf.size) == PROTO_OK &&
        agent_store_seen_put(self->kv, &n->id) == PROTO_OK) {
        //  About a document we sent (01-06, 15, 16), or one we received (13).
        bool about_sent = n->code != 13;
        //  API.md section 5: sent.status names the recipient that answered
        //  (agency), inbox.status the sender that asks (from).
        agent_event(self, about_sent ? "sent.status" : "inbox.status", &n->id, "ssus", "doc", doc,
                    about_sent ? "agency" : "from", n->from, "code", (uint64_t) n->code, "note",
                    n->note);
    }
    msgpack_sbuffer_destroy(&buf);
}

//  Check a delivered document before anything else. PROTO_OK, or the code
//  that sends it to quarantine.
static proto_err_t s_check_delivery(agent_t *self, const proto_msg_t *msg, zmq_msg_t *frames,
                                    size_t nframes, char *reason, size_t rlen)
{
    const proto_doc_t *doc = &msg->u.document.doc;
    bool addressed = false;
    for (uint32_t i = 0; i < doc->nto; i++)
        addressed |= strcmp(doc->to[i], self->agency) == 0;
    if (!addressed) {
        snprintf(reason, rlen, "this agency is not among the recipients");
        return PROTO_ERR_NOT_AUTHORIZED;
    }
    if (proto_msg_frame_count(msg) != nframes) {
        snprintf(reason, rlen, "attachment frames missing or extra");
        return PROTO_ERR_FRAMING;
    }
    //  The sender's key of the time it signed (`created`), so a document
    //  signed before a key rotation is not quarantined after it.
    proto_err_t rc = agent_dir_verify(self, doc->from, doc->created, s_doc_ok, &msg->u.document);
    if (rc == PROTO_ERR_UNKNOWN_AGENCY) {
        snprintf(reason, rlen, "sender %s is not in the agency directory", doc->from);
        return rc;
    }
    if (rc == PROTO_ERR_KEY_RETIRED) {
        snprintf(reason, rlen, "signed with a retired key of %s after its validity window closed",
                 doc->from);
        return rc;
    }
    if (rc) {
        snprintf(reason, rlen, "the sender's signature does not verify");
        return PROTO_ERR_BAD_SIGNATURE;
    }
    for (uint32_t i = 0; i < doc->natt; i++) {
        if (proto_attachment_check(&doc->att[i], zmq_msg_data(&frames[2 + i]),
                                   zmq_msg_size(&frames[2 + i])) != PROTO_OK) {
            snprintf(reason, rlen, "attachment %s does not match its hash", doc->att[i].name);
            return PROTO_ERR_HASH_MISMATCH;
        }
    }
    //  Sealed attachments (seal.h): open them now, to refuse one that does
    //  not decrypt to what the sender signed while the sender can hear it.
    const void *data[PROTO_MAX_ATTACHMENTS];
    size_t lens[PROTO_MAX_ATTACHMENTS];
    for (uint32_t i = 0; i < doc->natt; i++) {
        data[i] = zmq_msg_data(&frames[2 + i]);
        lens[i] = zmq_msg_size(&frames[2 + i]);
    }
    return agent_seal_check(self, doc, data, lens, reason, rlen);
}

static void s_ack_add(agent_t *self, const proto_doc_t *doc, const uint8_t hash[PROTO_HASH_LEN],
                      uint8_t event, uint32_t code)
{
    if (self->nacks == self->acks_cap) {
        size_t cap = self->acks_cap ? self->acks_cap * 2 : S_ACKS_FIRST_CAP;
        proto_leaf_t *leaves = realloc(self->acks, cap * sizeof *leaves);
        if (!leaves)
            return;
        self->acks = leaves;
        char(*codes)[2][PROTO_AGENCY_CODE_LEN + 1] =
            realloc(self->ack_codes, cap * sizeof *self->ack_codes);
        if (!codes)
            return;
        self->ack_codes = codes;
        self->acks_cap = cap;
    }
    size_t i = self->nacks++;
    proto_leaf_t *leaf = &self->acks[i];
    memset(leaf, 0, sizeof *leaf);
    leaf->event = event;
    leaf->id = doc->id;
    memcpy(leaf->hash, hash, PROTO_HASH_LEN);
    snprintf(self->ack_codes[i][0], sizeof self->ack_codes[i][0], "%s", doc->from);
    snprintf(self->ack_codes[i][1], sizeof self->ack_codes[i][1], "%s", self->agency);
    leaf->time = agent_now();
    leaf->code = code;
}

void agent_inbox_on_deliver(agent_t *self, proto_msg_t *msg, zmq_msg_t *frames, size_t nframes)
{
    const proto_doc_t *doc = &msg->u.document.doc;
    uint8_t hash[PROTO_HASH_LEN];
    char reason[160] = "";
    if (proto_doc_hash(doc, hash) != PROTO_OK || proto_store_begin(self->kv) != PROTO_OK)
        return; // not acknowledged: the broker will push it again
    const void *v;
    size_t vlen;
    agent_inbox_t inbox;
    //  Seen before (a repeat after a crash on either side): acknowledge again.
    proto_err_t seen = agent_store_inbox_get(self->kv, &doc->id, &inbox);
    if (seen == PROTO_OK || seen == PROTO_ERR_STORE_DAMAGED) {
        s_ack_add(self, doc, hash, PROTO_EVENT_DELIVERED, 0);
        return;
    }
    if (agent_store_quar_get(self->kv, &doc->id, &v, &vlen) == PROTO_OK) {
        //  Refused before: refuse again, for the reason recorded then.
        s_ack_add(self, doc, hash, PROTO_EVENT_REFUSED,
                  agent_quar_code(v, vlen, PROTO_ERR_BAD_SIGNATURE));
        return;
    }
    proto_err_t verdict = s_check_delivery(self, msg, frames, nframes, reason, sizeof reason);
    if (verdict == PROTO_ERR_NOMEM)
        return; // nothing decided: not acknowledged, the broker will push it again
    const void *fptr[AGENT_MAX_FRAMES];
    size_t flen[AGENT_MAX_FRAMES],
        n = nframes - 1 < AGENT_MAX_FRAMES ? nframes - 1 : AGENT_MAX_FRAMES;
    for (size_t i = 0; i < n; i++) {
        fptr[i] = zmq_msg_data(&frames[i + 1]);
        flen[i] = zmq_msg_size(&frames[i + 1]);
    }
    proto_err_t rc = proto_store_nest(self->kv);
    if (rc)
        return;
    rc = agent_store_frames_put(self->kv, verdict ? 'q' : 'i', &doc->id, fptr, flen, n);
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    uint64_t now = agent_now();
    if (verdict) {
        agent_quar_pack(&pk, doc->from, now, verdict, reason);
        if (!rc)
            rc = agent_store_quar_put(self->kv, &doc->id, buf.data, buf.size);
    } else {
        //  Inbox record (store.h): its header, then a msgpack summary.
        agent_inbox_summary_pack(&pk, doc);
        inbox = (agent_inbox_t){ .received = now, .summary = buf.data, .summary_len = buf.size };
        if (!rc)
            rc = agent_store_inbox_add(self->kv, &doc->id, &inbox);
        if (!rc)
            rc = agent_ops_record(self, doc); // inbox_ops.h: what it revokes, updates, replaces
        if (!rc)
            rc = api_edxml_delivered(self, doc); // its edXML DocumentId, if it has one
    }
    msgpack_sbuffer_destroy(&buf);
    proto_err_t nest_rc = proto_store_unnest(self->kv, rc == PROTO_OK);
    if (rc || nest_rc) {
        proto_log_error("event=delivery_not_stored error=%s", proto_errname(rc ? rc : nest_rc));
        agent_storage_failed(self, rc ? rc : nest_rc);
        return; // not acknowledged: it will come again
    }
    char id_text[PROTO_ID_TEXT_LEN];
    proto_id_format(&doc->id, id_text);
    if (verdict) {
        proto_log_warning("event=quarantined doc=%s from=%s code=%s reason=\"%s\"", id_text,
                          doc->from, proto_errname(verdict), reason);
        agent_event(self, "inbox.quarantined", &doc->id, "suss", "from", doc->from, "code",
                    (uint64_t) verdict, "error", proto_errname(verdict), "reason", reason);
        s_ack_add(self, doc, hash, PROTO_EVENT_REFUSED, verdict);
    } else {
        proto_log_debug("event=received doc=%s from=%s urgency=%u attachments=%u", id_text,
                        doc->from, doc->urgency, doc->natt);
        agent_event(self, "inbox.new", &doc->id, "ssuu", "from", doc->from, "subject", doc->subject,
                    "urgency", (uint64_t) doc->urgency, "op", (uint64_t) doc->op);
        agent_ops_announce(self, doc);
        s_ack_add(self, doc, hash, PROTO_EVENT_DELIVERED, 0);
    }
}

// ---------------------------------------------------------------------------
//  After the commit

void agent_inbox_send_acks(agent_t *self)
{
    if (self->nacks == 0 || self->state != A_READY) {
        self->nacks = 0;
        return;
    }
    size_t n = self->nacks;
    proto_item_t *items = calloc(n, sizeof *items);
    uint8_t(*paths)[PROTO_HASH_LEN] = calloc(n * PROTO_MAX_PATH, PROTO_HASH_LEN);
    for (size_t i = 0; i < n; i++) {
        self->acks[i].from = self->ack_codes[i][0];
        self->acks[i].to = self->ack_codes[i][1];
    }
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DELIVERED;
    //  One signature covers every delivery of this commit.
    for (size_t start = 0; items && paths && start < n; start += PROTO_MAX_ITEMS) {
        size_t count = n - start < PROTO_MAX_ITEMS ? n - start : PROTO_MAX_ITEMS;
        if (proto_receipts_build(self->acks + start, count, self->identity, agent_now(),
                                 &msg.u.receipts.head, msg.u.receipts.sig, items,
                                 paths) != PROTO_OK)
            break;
        msg.u.receipts.items = items;
        msg.u.receipts.nitems = (uint32_t) count;
        agent_evidence_keep_acks(self, &msg); // this agency's proof of what it received
        agent_session_send_msg(self, &msg);
    }
    free(items);
    free(paths);
    self->nacks = 0;
}
