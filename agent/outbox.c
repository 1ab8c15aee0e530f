/*  agent/outbox.c - what the agent sends and what becomes of it.

    Owns the outbox (T_OUT), the sent records (T_SENT), the recipient rows
    (T_RCPT) and the receipts kept as proof (T_RECEIPTS). An item stays in
    the outbox until the broker answers it; after every new session the
    whole outbox goes again, a window at a time (the broker's idempotence
    makes a repeat harmless). ACCEPTED and REJECTED settle the sent record;
    DELIVERED and EXPIRED, routed back, settle a recipient row. Each is
    verified against the broker's or the recipient's key before it counts.

    Does not: build or sign what it queues (api_send.c), own the socket or
    the session's deadlines (session.c), nor commit (agent.c).
*/
#include "outbox.h"

#include <msgpack.h>
#include <string.h>

#include "agent_internal.h"
#include "evidence_keep.h"
#include "proto/log.h"
#include "proto/merkle.h"
#include "proto/sign.h"
#include "session.h"

typedef struct {
    agent_t *self;
    size_t sent;
} s_flush_t;

static bool s_flush_one(void *arg, uint8_t kind, const void *const *frames, const size_t *lens,
                        size_t n)
{
    s_flush_t *flush = arg;
    agent_t *self = flush->self;
    if (self->out_in_flight >= self->config->outbox_window)
        return false;
    if (!agent_session_send(self, kind, frames[0], lens[0], frames + 1, lens + 1, n - 1))
        return false;
    if (self->out_in_flight++ == 0)
        self->last_answer = proto_clock_mono_ms();
    flush->sent++;
    return true;
}

//  Send the outbox (everything not answered yet), within the window. After
//  a new session everything goes again: the broker's idempotence makes a
//  repeat harmless.
void agent_outbox_flush(agent_t *self)
{
    if (self->state != A_READY || !self->out_dirty || proto_store_writing(self->kv))
        return;
    if (proto_store_read_begin(self->kv) != PROTO_OK)
        return;
    self->out_dirty = false;
    s_flush_t flush = { self, 0 };
    //  The outbox is keyed by id, so a scan cannot tell which items are in
    //  flight: a window goes out only once the broker has answered the whole
    //  previous one, and no item is sent twice in one session.
    if (self->out_in_flight == 0)
        agent_store_out_each(self->kv, s_flush_one, &flush);
    proto_store_read_end(self->kv);
    if (flush.sent)
        proto_log_debug("event=outbox_sent count=%zu", flush.sent);
}

// ---------------------------------------------------------------------------
//  Sent records (store.h): a fixed header, then a msgpack summary that never
//  changes.

proto_err_t agent_outbox_add(agent_t *self, const proto_msg_t *msg, const void *const *att,
                             const size_t *att_lens, size_t natt)
{
    proto_buf_t body;
    proto_errinfo_t info;
    proto_buf_init(&body);
    proto_err_t rc = proto_msg_encode(msg, &body, &info);
    const proto_id_t *id =
        msg->kind == PROTO_KIND_STATUS ? &msg->u.status.notice.id : &msg->u.document.doc.id;
    const void *frames[AGENT_MAX_FRAMES];
    size_t lens[AGENT_MAX_FRAMES];
    frames[0] = body.data;
    lens[0] = body.len;
    for (size_t i = 0; i < natt && i + 1 < AGENT_MAX_FRAMES; i++) {
        frames[i + 1] = att[i];
        lens[i + 1] = att_lens[i];
    }
    //  The outbox entry: kind byte, then the frames.
    if (!rc)
        rc = proto_store_begin(self->kv);
    if (!rc)
        rc = proto_store_nest(self->kv);
    if (!rc) {
        rc = agent_store_out_put(self->kv, id, (uint8_t) msg->kind, frames, lens, natt + 1);
        //  The sent record.
        msgpack_sbuffer summary;
        msgpack_packer pk;
        msgpack_sbuffer_init(&summary);
        msgpack_packer_init(&pk, &summary, msgpack_sbuffer_write);
        agent_sent_t sent = { .state = SENT_QUEUED,
                              .kind = (uint8_t) msg->kind,
                              .created = agent_now() };
        agent_sent_summary_pack(&pk, msg);
        sent.summary = summary.data;
        sent.summary_len = summary.size;
        if (!rc)
            rc = agent_store_sent_put(self->kv, id, &sent);
        msgpack_sbuffer_destroy(&summary);
        //  One recipient row per recipient, waiting.
        const char *const *to = msg->kind == PROTO_KIND_STATUS
                                    ? (const char *const *) &msg->u.status.notice.to
                                    : (const char *const *) msg->u.document.doc.to;
        uint32_t nto = msg->kind == PROTO_KIND_STATUS ? 1 : msg->u.document.doc.nto;
        const agent_rcpt_t waiting = { .state = RCPT_WAITING };
        for (uint32_t i = 0; !rc && i < nto; i++)
            rc = agent_store_rcpt_set(self->kv, id, to[i], &waiting);
        proto_err_t nest_rc = proto_store_unnest(self->kv, rc == PROTO_OK);
        if (!rc)
            rc = nest_rc;
    }
    proto_buf_free(&body);
    if (!rc)
        self->out_dirty = true;
    else
        agent_storage_failed(self, rc); // the map full: the commit would not show it
    return rc;
}

//  Keep the proof of one verified receipt item (kind byte + body): the
//  bundle cut down to that item, its Merkle path and the signed head, so a
//  bundle of n documents costs n small records, not n copies of itself.
static proto_err_t s_keep_receipt(agent_t *self, const proto_msg_t *msg, const proto_item_t *item)
{
    proto_msg_t one = *msg;
    one.u.receipts.items = (proto_item_t *) (uintptr_t) item;
    one.u.receipts.nitems = 1;
    one.u.receipts.mid = 0;
    proto_buf_t body;
    proto_buf_init(&body);
    proto_err_t rc = proto_msg_encode(&one, &body, NULL);
    if (!rc)
        rc = agent_store_receipt_append(self->kv, &item->leaf.id, (uint8_t) msg->kind, body.data,
                                        body.len);
    proto_buf_free(&body);
    return rc;
}

// ---------------------------------------------------------------------------
//  Answers and receipts from the broker

//  A bundle's signed head, for agent_dir_verify and _broker_verify: checked
//  once per bundle, then each item by its path alone (proto_item_verify).
static bool s_head_ok(const uint8_t key[32], const void *arg)
{
    const proto_receipts_t *r = arg;
    return proto_head_verify(&r->head, key, r->sig) == PROTO_OK;
}

void agent_outbox_on_answer(agent_t *self, const proto_msg_t *msg)
{
    const proto_receipts_t *r = &msg->u.receipts;
    //  The broker's key of the head's time: its pinned key, or one it
    //  retired that the signed directory lists.
    bool head_ok =
        agent_dir_broker_verify(self, r->head.signer, r->head.time, s_head_ok, r) == PROTO_OK;
    for (uint32_t i = 0; i < r->nitems; i++) {
        const proto_item_t *item = &r->items[i];
        if (!head_ok || proto_item_verify(&r->head, item) != PROTO_OK) {
            proto_log_warning("event=receipt_refused kind=%s reason=\"does not verify\"",
                              proto_kind_name(msg->kind));
            continue;
        }
        agent_sent_t sent;
        if (proto_store_begin(self->kv) != PROTO_OK ||
            agent_store_sent_get(self->kv, &item->leaf.id, &sent) != PROTO_OK)
            continue; // not ours, or answered and forgotten
        bool accepted = item->leaf.event == PROTO_EVENT_ACCEPTED;
        if (sent.state == SENT_QUEUED) {
            sent.state = accepted ? SENT_ACCEPTED : SENT_REJECTED;
            sent.code = item->leaf.code;
            sent.accepted = item->leaf.time;
            sent.seq = item->leaf.seq;
            if (agent_store_sent_put(self->kv, &item->leaf.id, &sent) == PROTO_OK &&
                s_keep_receipt(self, msg, item) == PROTO_OK) {
                if (accepted)
                    agent_event(self, "sent.accepted", &item->leaf.id, "u", "broker_seq",
                                item->leaf.seq);
                else
                    agent_event(self, "sent.rejected", &item->leaf.id, "uss", "code",
                                (uint64_t) item->leaf.code, "error",
                                proto_errname((proto_err_t) item->leaf.code), "reason",
                                item->leaf.reason);
            }
        }
        //  What was sent stays as evidence (evidence_keep.h) when it leaves
        //  the outbox.
        proto_err_t keep = agent_evidence_keep_sent(self, &item->leaf.id);
        if (keep)
            proto_log_warning("event=evidence_not_kept error=%s", proto_errname(keep));
        if (agent_store_out_del(self->kv, &item->leaf.id) == PROTO_OK && self->out_in_flight > 0)
            self->out_in_flight--;
        self->last_answer = proto_clock_mono_ms();
        self->out_dirty = true;
    }
}

//  A receipt bundle's head signed by the broker (EXPIRED) or by a recipient
//  (DELIVERED, against the recipient's key of the head's time, so a
//  receipt signed before a key rotation still verifies after it).
static bool s_head_verified(const agent_t *self, const proto_receipts_t *r, bool expired)
{
    if (expired)
        return agent_dir_broker_verify(self, r->head.signer, r->head.time, s_head_ok, r) ==
               PROTO_OK;
    return agent_dir_verify(self, r->head.signer, r->head.time, s_head_ok, r) == PROTO_OK;
}

//  A routed receipt (DELIVERED from a recipient, EXPIRED from the broker).
void agent_outbox_on_receipt(agent_t *self, const proto_msg_t *msg)
{
    const proto_receipts_t *r = &msg->u.receipts;
    bool expired = msg->kind == PROTO_KIND_EXPIRED;
    bool head_ok = s_head_verified(self, r, expired);
    for (uint32_t i = 0; i < r->nitems; i++) {
        const proto_item_t *item = &r->items[i];
        const proto_leaf_t *leaf = &item->leaf;
        if (!head_ok || proto_item_verify(&r->head, item) != PROTO_OK ||
            strcmp(leaf->from, self->agency) != 0 || !leaf->to ||
            (!expired && strcmp(leaf->to, r->head.signer) != 0)) {
            proto_log_warning("event=receipt_refused kind=%s signer=%s", proto_kind_name(msg->kind),
                              r->head.signer);
            continue;
        }
        uint8_t state = leaf->event == PROTO_EVENT_DELIVERED ? RCPT_DELIVERED
                        : leaf->event == PROTO_EVENT_REFUSED ? RCPT_REFUSED
                        : leaf->event == PROTO_EVENT_EXPIRED ? RCPT_EXPIRED
                                                             : RCPT_RETURNED;
        if (proto_store_begin(self->kv) != PROTO_OK)
            continue;
        //  The broker routes a receipt again when our ACK was lost (a crash
        //  on either side): keep it and announce it once.
        agent_rcpt_t rcpt;
        if (agent_store_rcpt_get(self->kv, &leaf->id, leaf->to, &rcpt) == PROTO_OK &&
            rcpt.state == state)
            continue;
        rcpt = (agent_rcpt_t){ .state = state, .time = leaf->time, .code = leaf->code };
        if (agent_store_rcpt_set(self->kv, &leaf->id, leaf->to, &rcpt) != PROTO_OK ||
            s_keep_receipt(self, msg, item) != PROTO_OK)
            continue;
        if (state == RCPT_DELIVERED)
            agent_event(self, "sent.delivered", &leaf->id, "s", "agency", leaf->to);
        else if (state == RCPT_REFUSED)
            agent_event(self, "sent.refused", &leaf->id, "suss", "agency", leaf->to, "code",
                        (uint64_t) leaf->code, "error", proto_errname((proto_err_t) leaf->code),
                        "reason", leaf->reason);
        else
            agent_event(self, "sent.expired", &leaf->id, "sb", "agency", leaf->to, "returned",
                        state == RCPT_RETURNED);
    }
    //  Acknowledge once stored (or once known to be unusable, so the broker
    //  does not push it forever).
    agent_after_add(self, AFTER_ACK, NULL, 0, NULL, 0, NULL, r->mid);
}
