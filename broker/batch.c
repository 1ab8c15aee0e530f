/*  broker/batch.c - the group commit and its signed batch of receipts.
    See batch.h.

    Work applied between two commits shares one LMDB write transaction; its
    receipts are answered only after the commit is durable, in one tree
    with one signature, each peer getting its own items.
*/
#include "batch.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/agency.h"
#include "proto/log.h"
#include "proto/merkle.h"
#include "proto/sign.h"

#include "hop.h"
#include "session.h"

proto_err_t broker_batch_begin(broker_server_t *self)
{
    if (broker_store_writing(self->store))
        return PROTO_OK;
    broker_store_read_end(self->store);
    proto_err_t rc = broker_store_begin(self->store);
    if (!rc)
        self->batch_opened = broker_mono();
    return rc;
}

void broker_batch_audit(broker_server_t *self, broker_audit_event_t event, const char *agency,
                        const proto_id_t *id, const char *detail, uint64_t *seq)
{
    if (broker_batch_begin(self) != PROTO_OK)
        return;
    proto_err_t rc =
        broker_store_audit_append(self->store, broker_now(), event, agency, id, detail, seq);
    if (rc)
        proto_log_error("event=audit_failed audit_event=%s error=%s",
                        broker_audit_event_name(event), proto_errname(rc));
}

broker_batch_entry_t *broker_batch_entry_add(broker_server_t *self, const broker_peer_t *p,
                                             int kind)
{
    if (self->nbatch == self->batch_cap) {
        size_t cap = self->batch_cap ? self->batch_cap * 2 : 256;
        broker_batch_entry_t *grown = realloc(self->batch, cap * sizeof *grown);
        if (!grown)
            return NULL;
        self->batch = grown;
        self->batch_cap = cap;
    }
    broker_batch_entry_t *e = &self->batch[self->nbatch++];
    memset(e, 0, sizeof *e);
    memcpy(e->rid, p->rid, p->rid_len);
    e->rid_len = p->rid_len;
    e->kind = kind;
    e->dup_of = -1;
    return e;
}

//  Queue a REJECTED receipt for a document or notice id, without an audit
//  entry: for refusals an agency can repeat without bound (a rate limit),
//  which are summed into one entry a minute instead.
void broker_batch_reject_unaudited(broker_server_t *self, const broker_peer_t *p,
                                   const proto_id_t *id, const uint8_t *hash, const char *from,
                                   proto_err_t code, const char *reason)
{
    self->rejected++;
    broker_batch_entry_t *e = broker_batch_entry_add(self, p, PROTO_KIND_REJECTED);
    if (!e)
        return;
    snprintf(e->from, sizeof e->from, "%s",
             from && proto_agency_code_check(from, strlen(from)) == PROTO_OK ? from : p->agency);
    snprintf(e->reason, sizeof e->reason, "%s", reason ? reason : "");
    e->leaf.event = PROTO_EVENT_REJECTED;
    e->leaf.id = *id;
    if (hash)
        memcpy(e->leaf.hash, hash, PROTO_HASH_LEN);
    e->leaf.time = broker_now();
    e->leaf.code = (uint32_t) code;
}

//  Queue a REJECTED receipt for a document or notice id and audit it.
void broker_batch_reject(broker_server_t *self, const broker_peer_t *p, const proto_id_t *id,
                         const uint8_t *hash, const char *from, proto_err_t code,
                         const char *reason)
{
    char id_text[PROTO_ID_TEXT_LEN];
    proto_id_format(id, id_text);
    proto_log_info("event=rejected agency=%s id=%s code=%s reason=\"%s\"", p->agency, id_text,
                   proto_errname(code), reason ? reason : "");
    char detail[200];
    snprintf(detail, sizeof detail, "code=%s %s", proto_errname(code), reason ? reason : "");
    broker_batch_audit(self, BROKER_AUDIT_REJECTED, p->agency, id, detail, NULL);
    broker_batch_reject_unaudited(self, p, id, hash, from, code, reason);
}

//  Queue an ACCEPTED receipt. Returns its entry (NULL without memory).
broker_batch_entry_t *broker_batch_accept(broker_server_t *self, const broker_peer_t *p,
                                          const proto_id_t *id, const uint8_t *hash,
                                          const char *from, const char *to, uint64_t time,
                                          uint64_t seq, bool fresh)
{
    broker_batch_entry_t *e = broker_batch_entry_add(self, p, PROTO_KIND_ACCEPTED);
    if (!e)
        return NULL;
    snprintf(e->from, sizeof e->from, "%s", from);
    if (to)
        snprintf(e->to, sizeof e->to, "%s", to);
    e->leaf.event = PROTO_EVENT_ACCEPTED;
    e->leaf.id = *id;
    memcpy(e->leaf.hash, hash, PROTO_HASH_LEN);
    e->leaf.time = time;
    e->leaf.seq = seq;
    e->fresh = fresh;
    if (fresh)
        self->batch_docs++;
    return e;
}

//  The batch, signed: one tree over every entry that has a leaf of its own
//  (repeats point at their original), one head, one signature.
typedef struct {
    size_t n;             // entries
    size_t *leaf_of;      // entry -> leaf index
    proto_leaf_t *leaves; // leaves in tree order
    proto_item_t *items;  // one per leaf
    proto_item_t *subset; // scratch for one peer's items
    uint8_t (*paths)[PROTO_HASH_LEN];
    proto_head_t head;
    uint8_t sig[PROTO_SIG_LEN];
    //  The same head without its place in the log, signed only if an agent
    //  that does not check the log (HELLO without `log`) gets a receipt.
    bool has_plain;
    proto_head_t plain;
    uint8_t plain_sig[PROTO_SIG_LEN];
} s_signed_t;

static void s_signed_free(s_signed_t *sg)
{
    free(sg->leaf_of);
    free(sg->leaves);
    free(sg->items);
    free(sg->subset);
    free(sg->paths);
    memset(sg, 0, sizeof *sg);
}

//  log: the batch head's place in the transparency log, or 0 for a batch
//  that is not appended to it (one whose commit failed).
static proto_err_t s_batch_sign(broker_server_t *self, s_signed_t *sg, uint64_t log)
{
    size_t n = self->nbatch, nleaves = 0;
    memset(sg, 0, sizeof *sg);
    sg->n = n;
    sg->leaf_of = calloc(n, sizeof *sg->leaf_of);
    sg->leaves = calloc(n, sizeof *sg->leaves);
    sg->items = calloc(n, sizeof *sg->items);
    sg->subset = calloc(n, sizeof *sg->subset);
    sg->paths = calloc(n * PROTO_MAX_PATH, PROTO_HASH_LEN);
    if (!sg->leaf_of || !sg->leaves || !sg->items || !sg->subset || !sg->paths)
        return PROTO_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        broker_batch_entry_t *e = &self->batch[i];
        if (e->dup_of >= 0) {
            sg->leaf_of[i] = sg->leaf_of[e->dup_of];
            continue;
        }
        sg->leaf_of[i] = nleaves;
        proto_leaf_t *leaf = &sg->leaves[nleaves++];
        *leaf = e->leaf;
        leaf->from = e->from;
        leaf->to = e->to[0] ? e->to : NULL;
        leaf->reason = e->reason[0] ? e->reason : NULL;
    }
    return proto_receipts_build_logged(sg->leaves, nleaves, self->identity, broker_now(), log,
                                       &sg->head, sg->sig, sg->items, sg->paths);
}

//  Encode a bundle of count items under the signed head.
static proto_err_t s_bundle(const s_signed_t *sg, bool plain, int kind, proto_item_t *items,
                            uint32_t count, proto_buf_t *out)
{
    proto_msg_t msg;
    proto_errinfo_t info;
    memset(&msg, 0, sizeof msg);
    msg.kind = (proto_kind_t) kind;
    msg.u.receipts.head = plain ? sg->plain : sg->head;
    memcpy(msg.u.receipts.sig, plain ? sg->plain_sig : sg->sig, PROTO_SIG_LEN);
    msg.u.receipts.items = items;
    msg.u.receipts.nitems = count;
    return proto_msg_encode(&msg, out, &info);
}

//  Keep each fresh document's ACCEPTED, in the batch's own transaction, so a
//  re-submission gets exactly the original back.
static proto_err_t s_batch_store_receipts(broker_server_t *self, s_signed_t *sg)
{
    proto_err_t rc = PROTO_OK;
    for (size_t i = 0; !rc && i < self->nbatch; i++) {
        broker_batch_entry_t *e = &self->batch[i];
        if (e->keep && e->fresh && e->kind == PROTO_KIND_ACCEPTED)
            rc = broker_store_receipt_put(self->store, &e->leaf.id, &sg->head, sg->sig,
                                          &sg->items[sg->leaf_of[i]]);
    }
    return rc;
}

//  The ACCEPTED a stored document was answered with, rebuilt from its
//  record and its kept receipt, and checked before it goes out again: a
//  damaged record must not become a receipt. False if there is none.
bool broker_batch_send_kept(broker_server_t *self, broker_peer_t *p, const broker_doc_t *doc)
{
    broker_receipt_t kept;
    if (broker_store_receipt_get(self->store, &doc->id, &kept) != PROTO_OK)
        return false;
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_ACCEPTED;
    proto_receipts_t *r = &msg.u.receipts;
    r->head = kept.head;
    memcpy(r->sig, kept.sig, PROTO_SIG_LEN);
    proto_item_t item = { .leaf = { .event = PROTO_EVENT_ACCEPTED,
                                    .id = doc->id,
                                    .from = doc->from,
                                    .time = doc->accepted,
                                    .seq = doc->seq },
                          .index = kept.index,
                          .path = kept.path,
                          .npath = kept.npath };
    memcpy(item.leaf.hash, doc->hash, PROTO_HASH_LEN);
    r->items = &item;
    r->nitems = 1;
    proto_buf_t body;
    proto_buf_init(&body);
    bool ok = proto_receipt_verify(&r->head, r->sig, &item,
                                   proto_identity_public(self->identity)->sign_pk) == PROTO_OK;
    //  Checked as kept; an agent from before the log gets it re-signed
    //  without the head's place in the log (s_batch_send does the same).
    if (ok && r->head.log && !p->log) {
        r->head.log = 0;
        ok = proto_head_sign(&r->head, self->identity, r->sig) == PROTO_OK;
    }
    ok = ok && proto_msg_encode(&msg, &body, NULL) == PROTO_OK;
    if (ok)
        broker_session_answer(self, p, PROTO_KIND_ACCEPTED, body.data, body.len);
    else
        proto_log_error("event=kept_receipt_unusable agency=%s", p->agency);
    proto_buf_free(&body);
    return ok;
}

//  Send every peer its own items of the signed batch.
static void s_batch_send(broker_server_t *self, s_signed_t *sg)
{
    proto_buf_t body;
    proto_buf_init(&body);
    for (size_t i = 0; i < self->nbatch; i++) {
        broker_batch_entry_t *e = &self->batch[i];
        if (e->sent)
            continue;
        uint32_t count = 0;
        for (size_t j = i; j < self->nbatch && count < PROTO_MAX_ITEMS; j++) {
            broker_batch_entry_t *f = &self->batch[j];
            if (!f->sent && f->kind == e->kind && f->rid_len == e->rid_len &&
                memcmp(f->rid, e->rid, e->rid_len) == 0) {
                sg->subset[count++] = sg->items[sg->leaf_of[j]];
                f->sent = true;
            }
        }
        broker_peer_t *p = broker_peers_find(self->peers, e->rid, e->rid_len);
        if (!p || p->dead)
            continue; // gone: it will re-send and get the receipt again
        //  An agent from before the log could not read a head naming its
        //  place in it: it gets the same tree under a head without.
        bool plain = sg->head.log && !p->log;
        if (plain && !sg->has_plain) {
            sg->plain = sg->head;
            sg->plain.log = 0;
            sg->has_plain = proto_head_sign(&sg->plain, self->identity, sg->plain_sig) == PROTO_OK;
        }
        if ((!plain || sg->has_plain) &&
            s_bundle(sg, plain, e->kind, sg->subset, count, &body) == PROTO_OK)
            broker_session_answer(self, p, (proto_kind_t) e->kind, body.data, body.len);
    }
    proto_buf_free(&body);
    self->nbatch = 0;
    self->batch_docs = 0;
}

//  Sign the batch, keep its receipts, commit durably, then answer. If the
//  commit fails nothing of the batch is stored, so nothing is acknowledged:
//  every acceptance becomes a rejection, signed anew.
void broker_batch_commit(broker_server_t *self)
{
    if (!broker_store_writing(self->store))
        return;
    s_signed_t sg = { 0 };
    proto_err_t rc = PROTO_OK;
    bool signed_ok = false;
    if (self->nbatch) {
        rc = s_batch_sign(self, &sg, broker_tlog_next(self->tlog));
        if (!rc)
            rc = s_batch_store_receipts(self, &sg);
        //  The head joins the log in the batch's own transaction: the log
        //  holds exactly the batches that were acknowledged.
        if (!rc)
            rc = broker_tlog_append(self->store, &sg.head, sg.sig);
        signed_ok = rc == PROTO_OK;
        if (rc) {
            proto_log_error("event=batch_not_signed error=%s", proto_errname(rc));
            broker_store_abort(self->store);
        }
    }
    if (!rc) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = broker_store_commit(self->store);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int64_t us = (int64_t) (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
        self->commit_us[self->commit_timed++ % COMMIT_RING] = us < 0            ? 0
                                                              : us > UINT32_MAX ? UINT32_MAX
                                                                                : (uint32_t) us;
        proto_histogram_observe(&self->stats.commit, us < 0 ? 0 : (double) us / 1e6);
    }
    self->stats.commit_failing = rc != PROTO_OK;
    self->commits++;
    if (rc) {
        proto_log_error("event=commit_failed error=%s documents=%zu", proto_errname(rc),
                        self->batch_docs);
        for (size_t i = 0; i < self->nbatch; i++) {
            broker_batch_entry_t *e = &self->batch[i];
            if (e->kind == PROTO_KIND_ACCEPTED) {
                e->kind = PROTO_KIND_REJECTED;
                e->leaf.event = PROTO_EVENT_REJECTED;
                e->leaf.code = (uint32_t) (rc == PROTO_ERR_STORE_FULL ? rc : PROTO_ERR_STORE);
                e->leaf.seq = 0;
                e->to[0] = '\0';
                snprintf(e->reason, sizeof e->reason, "the store could not commit");
            }
        }
        if (self->nbatch) {
            s_signed_free(&sg);
            signed_ok = s_batch_sign(self, &sg, 0) == PROTO_OK;
        }
    } else {
        self->accepted += self->batch_docs;
        if (self->nbatch)
            broker_tlog_committed(self->tlog, sg.head.log);
        self->stats.accepted_bytes += self->stats.batch_bytes;
        broker_clock_committed(self->clock, broker_now(), broker_mono());
    }
    for (size_t i = 0; signed_ok && i < self->nbatch; i++) {
        if (self->batch[i].kind == PROTO_KIND_REJECTED)
            broker_stats_rejected(&self->stats, self->batch[i].leaf.code);
    }
    if (signed_ok)
        s_batch_send(self, &sg);
    broker_hop_acks_send(self, rc == PROTO_OK);
    self->nbatch = self->batch_docs = 0;
    self->stats.batch_bytes = 0;
    s_signed_free(&sg);
}

bool broker_batch_due(const broker_server_t *self)
{
    if (!broker_store_writing(self->store))
        return false;
    if (self->outstanding == 0 || self->batch_docs >= self->config->commit_batch)
        return true;
    return broker_mono() * 1000 >= self->batch_opened * 1000 + self->config->commit_delay;
}
