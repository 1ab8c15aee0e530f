/*  broker/apply.c - applying what the workers verified to the store.
    See apply.h.

    Everything here runs inside the open batch's write transaction; a
    document or notice is stored in a nested transaction of its own, so a
    full map undoes that one only, not the batch around it.
*/
#include "apply.h"

#include <inttypes.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "proto/log.h"
#include "proto/route.h"

#include "batch.h"
#include "deliver_body.h"
#include "forward.h"
#include "hop.h"
#include "session.h"
#include "store_fwd.h"

//  Whether a document of this many bytes leaves store.min_free on the file
//  system under the store. statvfs is asked at most every 100 ms while there
//  is room, and again before every refusal, so space that returns is seen at
//  once; what was accepted since the last answer is counted against it.
static bool s_disk_room(broker_server_t *self, uint64_t bytes)
{
    if (self->config->min_free == 0)
        return true;
    uint64_t now = broker_mono(), need = self->config->min_free + bytes;
    bool fresh = now - self->disk_checked < 100 && now >= self->disk_checked;
    bool room =
        fresh && self->disk_taken < self->disk_free && self->disk_free - self->disk_taken >= need;
    if (!room) {
        struct statvfs fs;
        if (statvfs(self->config->data_dir, &fs) != 0)
            return true; // the store itself will say if it cannot write
        self->disk_free = (uint64_t) fs.f_bavail * fs.f_frsize;
        self->disk_checked = now;
        self->disk_taken = 0;
        room = self->disk_free >= need;
    }
    if (room)
        self->disk_taken += bytes;
    return room;
}

static proto_err_t s_usable(broker_server_t *self, const char *code)
{
    const proto_directory_entry_t *e = proto_directory_find(self->directory, code);
    if (!e)
        return PROTO_ERR_UNKNOWN_AGENCY;
    proto_err_t rc = proto_directory_entry_usable(e, (int64_t) (broker_now() / 1000));
    //  Not yet valid or past validity: for a recipient, it cannot receive.
    if (rc == PROTO_ERR_EXPIRED || rc == PROTO_ERR_NOT_AUTHORIZED)
        rc = PROTO_ERR_AGENCY_SUSPENDED;
    return rc;
}

//  A revoked document is no longer delivered to recipients still waiting
//  for it; their state becomes revoked. Runs inside the caller's
//  transaction.
static proto_err_t s_revoke_waiting(broker_server_t *self, const proto_id_t *target)
{
    const void *frames[BROKER_MAX_FRAMES];
    size_t lens[BROKER_MAX_FRAMES], count = 0;
    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    broker_doc_t doc;
    proto_err_t rc = broker_store_doc_get(self->store, target, &doc);
    if (rc || doc.purged || doc.open == 0)
        return rc;
    rc = broker_store_frames_get(self->store, target, frames, lens, BROKER_MAX_FRAMES, &count);
    if (!rc)
        rc = proto_msg_decode(PROTO_KIND_DELIVER, frames[0], lens[0], &msg, &info);
    for (uint32_t i = 0; !rc && i < msg->u.document.doc.nto; i++) {
        const char *to = msg->u.document.doc.to[i];
        broker_dlv_t dlv;
        if (broker_store_dlv_get(self->store, to, target, &dlv) != PROTO_OK ||
            dlv.state != BROKER_DLV_WAITING)
            continue;
        rc = broker_store_dlv_set(self->store, to, target, BROKER_DLV_REVOKED, broker_now());
        if (!rc && --doc.open == 0)
            rc = broker_store_quota_add(self->store, doc.from, -1, 0);
    }
    proto_msg_destroy(&msg);
    return rc;
}

//  A document already stored under this id: the same content gets exactly
//  its original ACCEPTED again, other content is refused.
static void s_resubmitted(broker_server_t *self, broker_peer_t *p, broker_job_t *job,
                          const broker_doc_t *existing)
{
    const proto_doc_t *doc = &job->msg->u.document.doc;
    if (sodium_memcmp(existing->hash, job->hash, PROTO_HASH_LEN) != 0 ||
        strcmp(existing->from, doc->from) != 0)
        return broker_batch_reject(self, p, &doc->id, job->hash, doc->from, PROTO_ERR_DUPLICATE_ID,
                                   "this id was accepted before for other content");
    //  Idempotence: exactly the original ACCEPTED, from the open batch
    //  (answered with it) or from the store.
    for (size_t i = 0; i < self->nbatch; i++) {
        broker_batch_entry_t *original = &self->batch[i];
        if (original->fresh && original->kind == PROTO_KIND_ACCEPTED &&
            memcmp(original->leaf.id.bytes, doc->id.bytes, PROTO_ID_LEN) == 0) {
            long index = (long) i;
            broker_batch_entry_t *e = broker_batch_entry_add(self, p, PROTO_KIND_ACCEPTED);
            if (e) {
                *e = self->batch[index]; // broker_batch_entry_add may have moved the batch
                memcpy(e->rid, p->rid, p->rid_len);
                e->rid_len = p->rid_len;
                e->fresh = false;
                e->sent = false;
                e->dup_of = index;
            }
            return;
        }
    }
    if (!broker_batch_send_kept(self, p, existing))
        broker_batch_accept(self, p, &doc->id, existing->hash, existing->from, NULL,
                            existing->accepted, existing->seq, false);
}

//  Admission: whether a new document may be stored. True if it may; if
//  not, it has been answered (REJECTED, or a re-submission's original
//  ACCEPTED). bytes is what its frames after the header take. in is what a
//  document from another broker came with (NULL for an agency's).
static bool s_admit_document(broker_server_t *self, broker_peer_t *p, broker_job_t *job,
                             uint64_t bytes, const broker_fwd_plan_t *plan,
                             const broker_fwd_in_t *in)
{
    const proto_doc_t *doc = &job->msg->u.document.doc;
    char detail[160] = "";
    proto_err_t rc = s_usable(self, doc->from);
    //  With a plan (the directory lists brokers), a recipient another
    //  broker is home for may have no entry here: its route decides. One
    //  that has an entry must still be usable, wherever it lives.
    const char *unroutable = !rc && plan ? broker_fwd_plan_refused(plan, &rc) : NULL;
    if (unroutable)
        snprintf(detail, sizeof detail, "recipient %s: %s", unroutable, proto_strerror(rc));
    //  A document from another broker: the recipients its hop carries.
    const char *const *to = in ? in->to : (const char *const *) doc->to;
    for (uint32_t i = 0; !rc && i < (in ? in->nto : doc->nto); i++) {
        if (plan && !proto_directory_find(self->directory, to[i]))
            continue;
        rc = s_usable(self, to[i]);
        if (rc)
            snprintf(detail, sizeof detail, "recipient %s: %s", to[i], proto_strerror(rc));
    }
    if (rc) {
        broker_batch_reject(self, p, &doc->id, job->hash, doc->from, rc, detail);
        return false;
    }
    rc = broker_batch_begin(self);
    broker_doc_t existing;
    if (!rc && broker_store_doc_get(self->store, &doc->id, &existing) == PROTO_OK) {
        s_resubmitted(self, p, job, &existing);
        return false;
    }
    //  Documents and notices share one id space (their receipts are kept by
    //  id): an id a notice holds is taken.
    broker_notice_t notice;
    if (!rc && broker_store_notice_get(self->store, &doc->id, &notice) == PROTO_OK) {
        broker_batch_reject(self, p, &doc->id, job->hash, doc->from, PROTO_ERR_DUPLICATE_ID,
                            "this id names a notice");
        return false;
    }
    //  A new document's signing time within the tolerances of the broker's
    //  time (the clock guard's, while the wall clock is held for a jump).
    //  After the idempotence check: a re-submission gets its receipt. A
    //  document from another broker was held to its home broker's clock
    //  there, and may have waited on a link since.
    uint64_t trusted = broker_clock_now(self->clock, broker_now(), broker_mono());
    if (!rc && !in &&
        (doc->created > trusted + self->config->created_future ||
         doc->created + self->config->created_past < trusted)) {
        bool ahead = doc->created > trusted;
        snprintf(detail, sizeof detail,
                 "doc.created %" PRIu64 " s %s the broker's clock (limits.created_%s %" PRIu64
                 " s)",
                 (ahead ? doc->created - trusted : trusted - doc->created) / 1000,
                 ahead ? "ahead of" : "behind", ahead ? "future" : "past",
                 (ahead ? self->config->created_future : self->config->created_past) / 1000);
        broker_batch_reject(self, p, &doc->id, job->hash, doc->from, PROTO_ERR_TIME, detail);
        return false;
    }
    for (uint32_t i = 0; !rc && i < doc->nop_refs; i++) {
        broker_doc_t target;
        rc = broker_store_doc_get(self->store, &doc->op_refs[i], &target);
        if (!rc && strcmp(target.from, doc->from) != 0)
            rc = PROTO_ERR_NOT_AUTHORIZED;
        else if (!rc && target.revoked)
            rc = PROTO_ERR_REVOKED;
        if (rc)
            snprintf(detail, sizeof detail, "op_refs[%u]: %s", i, proto_strerror(rc));
    }
    uint64_t quota_docs = 0, quota_bytes = 0;
    if (!rc)
        rc = broker_store_quota_get(self->store, doc->from, &quota_docs, &quota_bytes);
    if (!rc && (quota_docs + 1 > self->config->quota_documents ||
                quota_bytes + bytes > self->config->quota_bytes)) {
        rc = PROTO_ERR_QUOTA;
        snprintf(detail, sizeof detail, "%" PRIu64 " documents and %" PRIu64 " bytes stored",
                 quota_docs, quota_bytes);
    }
    if (!rc && !s_disk_room(self, bytes)) {
        rc = PROTO_ERR_STORE_FULL;
        snprintf(detail, sizeof detail,
                 "%" PRIu64 " bytes free under the store, store.min_free %" PRIu64,
                 self->disk_free - self->disk_taken, self->config->min_free);
    }
    if (rc) {
        broker_batch_reject(self, p, &doc->id, job->hash, doc->from, rc, detail);
        return false;
    }
    return true;
}

//  The effect of a revoke: the revoked documents are marked, stop reaching
//  anyone who has not received them yet, and say so in their own history.
//  Runs inside the revoke's nested transaction; now is its accepted time.
static proto_err_t s_revoke_effect(broker_server_t *self, const proto_doc_t *doc, uint64_t now)
{
    proto_err_t rc = PROTO_OK;
    for (uint32_t i = 0; !rc && i < doc->nop_refs; i++) {
        broker_doc_t target;
        rc = broker_store_doc_get(self->store, &doc->op_refs[i], &target);
        target.revoked = 1;
        if (!rc)
            rc = broker_store_doc_update(self->store, &target);
        if (!rc)
            rc = s_revoke_waiting(self, &doc->op_refs[i]);
        //  The revoked document's own history says it was revoked.
        char by[64] = "by=";
        proto_id_format(&doc->id, by + 3);
        if (!rc)
            rc = broker_store_audit_append(self->store, now, BROKER_AUDIT_REVOKE, doc->from,
                                           &doc->op_refs[i], by, NULL);
    }
    return rc;
}

//  Queue the document for each linked broker of the plan (store_fwd.h),
//  inside the document's nested transaction: it is stored once, and handed
//  on once per next hop. A hop waits no longer than a local delivery
//  (store.ttl from its acceptance here).
static proto_err_t s_queue_hops(broker_server_t *self, const broker_fwd_plan_t *plan,
                                const broker_doc_t *record)
{
    proto_err_t rc = PROTO_OK;
    for (uint32_t h = 0; !rc && plan && h < broker_fwd_plan_hop_count(plan); h++) {
        const char *label = broker_fwd_plan_hop_label(plan, h);
        rc = broker_store_hop_add(self->store, label, &record->id, record->urgency, record->seq,
                                  record->accepted);
        if (!rc)
            rc = broker_store_hop_deadline(self->store, label, &record->id,
                                           record->accepted + self->config->ttl);
    }
    return rc;
}

//  Store an admitted document: its audit entry, its DELIVER body and
//  frames, its record and queues (one per local recipient, one per next
//  hop of the plan, if any), what it came with from another broker (in,
//  this broker's entry added to its trace), its quota and a revoke's
//  effect, in a nested transaction, then its ACCEPTED into the batch.
static void s_store_document(broker_server_t *self, broker_peer_t *p, broker_job_t *job,
                             uint64_t bytes, const broker_fwd_plan_t *plan, broker_fwd_in_t *in)
{
    const proto_doc_t *doc = &job->msg->u.document.doc;
    //  Without a plan every recipient is this broker's, as before brokers
    //  federated. With one, the record counts local recipients only; a hop
    //  keeps it open until the next broker answers for it.
    const char *const *local = plan ? broker_fwd_plan_locals(plan) : doc->to;
    uint32_t nlocal = plan ? broker_fwd_plan_local_count(plan) : doc->nto;
    uint32_t nhops = plan ? broker_fwd_plan_hop_count(plan) : 0;
    //  Store it in a nested transaction: a full map undoes this document
    //  only, not the batch around it.
    uint64_t now = broker_now(), seq = 0;
    proto_buf_t body;
    proto_buf_init(&body);
    proto_err_t rc = broker_store_nest(self->store);
    if (!rc) {
        char audit[64 + PROTO_LABEL_MAX];
        snprintf(audit, sizeof audit, "kind=%s to=%u bytes=%" PRIu64 "%s%s",
                 proto_kind_name(job->kind), doc->nto, bytes, in ? " via=" : "",
                 in ? p->link_label : "");
        rc = broker_store_audit_append(self->store, now, BROKER_AUDIT_ACCEPTED, doc->from, &doc->id,
                                       audit, &seq);
        if (!rc)
            rc = broker_deliver_body(zmq_msg_data(&job->frames[1]), zmq_msg_size(&job->frames[1]),
                                     now, seq, &body);
        const void *frames[BROKER_MAX_FRAMES];
        size_t lens[BROKER_MAX_FRAMES];
        frames[0] = body.data;
        lens[0] = body.len;
        for (size_t i = 2; i < job->nframes; i++) {
            frames[i - 1] = zmq_msg_data(&job->frames[i]);
            lens[i - 1] = zmq_msg_size(&job->frames[i]);
        }
        broker_doc_t record = { .id = doc->id,
                                .accepted = now,
                                .seq = seq,
                                .kind = (uint8_t) job->kind,
                                .urgency = doc->urgency,
                                .nto = nlocal,
                                .open = nlocal + nhops,
                                .bytes = body.len + bytes };
        snprintf(record.from, sizeof record.from, "%s", doc->from);
        memcpy(record.hash, job->hash, PROTO_HASH_LEN);
        if (!rc)
            rc = broker_store_doc_add(self->store, &record, local, frames, lens, job->nframes - 1,
                                      self->config->ttl);
        if (!rc)
            rc = s_queue_hops(self, plan, &record);
        //  One that came over a link goes on with this broker's entry
        //  added to its trace (its recipients here may see it as `route`).
        if (!rc && in) {
            snprintf(in->labels[in->ntrace], sizeof in->labels[in->ntrace], "%s",
                     proto_identity_public(self->identity)->name);
            in->trace[in->ntrace] = (proto_fwd_hop_t){ in->labels[in->ntrace], now };
            in->ntrace++;
            rc = broker_store_fwd_in_put(self->store, &doc->id, in);
        }
        if (!rc)
            rc = broker_store_quota_add(self->store, doc->from, 1, (int64_t) record.bytes);
        //  A revoke stops the revoked documents from reaching anyone who
        //  has not received them yet.
        if (!rc && doc->op == PROTO_OP_REVOKE)
            rc = s_revoke_effect(self, doc, now);
        proto_err_t nest_rc = broker_store_unnest(self->store, rc == PROTO_OK);
        if (!rc)
            rc = nest_rc;
        if (!rc)
            self->stats.batch_bytes += record.bytes; // counted once the batch commits
    }
    proto_buf_free(&body);
    if (rc) {
        proto_err_t code = rc == PROTO_ERR_STORE_FULL ? rc : PROTO_ERR_STORE;
        broker_batch_reject(self, p, &doc->id, job->hash, doc->from, code, "not stored");
        return;
    }
    char id_text[PROTO_ID_TEXT_LEN];
    proto_id_format(&doc->id, id_text);
    proto_log_debug("event=accepted_pending doc=%s from=%s to=%u seq=%" PRIu64, id_text, doc->from,
                    doc->nto, seq);
    broker_batch_entry_t *e =
        broker_batch_accept(self, p, &doc->id, job->hash, doc->from, NULL, now, seq, true);
    if (e)
        e->keep = true;
    for (uint32_t i = 0; i < nlocal; i++)
        broker_peers_mark_dirty(self->peers, local[i]);
    for (uint32_t h = 0; h < nhops; h++) {
        proto_log_info("event=hop_queued doc=%s from=%s broker=%s to=%u", id_text, doc->from,
                       broker_fwd_plan_hop_label(plan, h), broker_fwd_plan_hop_to_count(plan, h));
        broker_hop_mark_dirty(self, broker_fwd_plan_hop_label(plan, h));
    }
    if (in)
        proto_log_info("event=forward_accepted doc=%s from=%s via=%s local=%u", id_text, doc->from,
                       p->link_label, nlocal);
}

//  A document from an agency (in NULL) or from another broker (in: what
//  it came with, PROTOCOL.md 16.7).
static void s_apply_document(broker_server_t *self, broker_peer_t *p, broker_job_t *job,
                             broker_fwd_in_t *in)
{
    uint64_t bytes = 0;
    for (size_t i = 1; i < job->nframes; i++)
        bytes += zmq_msg_size(&job->frames[i]);
    //  Federation (PROTOCOL.md 16.7): only a directory that lists brokers
    //  plans next hops, so a broker alone stores and answers exactly as
    //  before. An agency's document has no trace yet.
    broker_fwd_plan_t *plan = NULL;
    const proto_doc_t *doc = &job->msg->u.document.doc;
    if (proto_directory_broker_count(self->directory) > 0) {
        plan = broker_fwd_plan_new(self->directory, proto_identity_public(self->identity)->name,
                                   in ? in->to : (const char *const *) doc->to,
                                   in ? in->nto : doc->nto, in ? in->trace : NULL,
                                   in ? in->ntrace : 0);
        if (!plan)
            return broker_batch_reject(self, p, &doc->id, job->hash, doc->from, PROTO_ERR_NOMEM,
                                       "no memory to route the recipients");
    }
    if (s_admit_document(self, p, job, bytes, plan, in))
        s_store_document(self, p, job, bytes, plan, in);
    broker_fwd_plan_destroy(&plan);
}

//  A FORWARD from another broker: its sender checked (hop.c), then stored
//  and routed onward as an agency's document is, answered with a hop
//  receipt from the batch.
static void s_apply_forward(broker_server_t *self, broker_peer_t *p, broker_job_t *job)
{
    broker_fwd_in_t *in = malloc(sizeof *in);
    const proto_doc_t *doc = &job->msg->u.forward.document.doc;
    if (!in)
        return broker_batch_reject(self, p, &doc->id, job->hash, doc->from, PROTO_ERR_NOMEM,
                                   "no memory to route the recipients");
    if (broker_hop_forward_take(self, p, job, in))
        s_apply_document(self, p, job, in);
    free(in);
}

//  The key of the count of notices one agency sent another about one
//  document (limits.notices_per_document).
#define S_NOTICE_KEY_LEN (1 + PROTO_ID_LEN + 2 * PROTO_AGENCY_CODE_LEN)

static void s_notice_key(const proto_notice_t *n, uint8_t key[S_NOTICE_KEY_LEN])
{
    memset(key, 0, S_NOTICE_KEY_LEN);
    key[0] = 'n';
    memcpy(key + 1, n->doc.bytes, PROTO_ID_LEN);
    memcpy(key + 1 + PROTO_ID_LEN, n->from, strnlen(n->from, PROTO_AGENCY_CODE_LEN));
    memcpy(key + 1 + PROTO_ID_LEN + PROTO_AGENCY_CODE_LEN, n->to,
           strnlen(n->to, PROTO_AGENCY_CODE_LEN));
}

//  The notice limits, checked only for a notice new to the broker (a repeat
//  of one accepted before is answered before, so an agent re-sending after
//  a lost answer is never refused). False when the notice was REJECTED.
static bool s_notice_admit(broker_server_t *self, const broker_peer_t *p, const proto_notice_t *n,
                           const uint8_t *hash)
{
    char detail[160];
    broker_rate_verdict_t verdict = broker_rate_take(self->notice_rate, n->from, broker_mono());
    if (verdict != BROKER_RATE_OK) {
        snprintf(detail, sizeof detail,
                 "more than %" PRIu64 " notices this minute (limits.notices_per_minute)",
                 self->config->notices_per_minute);
        if (verdict == BROKER_RATE_REFUSED)
            broker_batch_reject(self, p, &n->id, hash, n->from, PROTO_ERR_RATE, detail);
        else
            broker_batch_reject_unaudited(self, p, &n->id, hash, n->from, PROTO_ERR_RATE, detail);
        return false;
    }
    uint8_t key[S_NOTICE_KEY_LEN];
    uint64_t sent = 0;
    s_notice_key(n, key);
    if (broker_store_counter_get(self->store, key, sizeof key, &sent) == PROTO_OK &&
        sent >= self->config->notices_per_document) {
        snprintf(detail, sizeof detail,
                 "%" PRIu64 " notices to %s about this document already "
                 "(limits.notices_per_document)",
                 sent, n->to);
        broker_batch_reject(self, p, &n->id, hash, n->from, PROTO_ERR_QUOTA, detail);
        return false;
    }
    return true;
}

//  The rate limit's refusals after the first of each minute, summed into
//  one audit entry per agency.
void broker_apply_rate_summary(void *arg, const char *agency, uint64_t refused)
{
    char detail[160];
    snprintf(detail, sizeof detail,
             "code=ERR_RATE %" PRIu64 " more notices refused in the last minute "
             "(limits.notices_per_minute)",
             refused);
    broker_batch_audit(arg, BROKER_AUDIT_REJECTED, agency, NULL, detail, NULL);
}

//  Whether agency p may send notice n about document doc (PROTOCOL.md
//  9.1): PROTO_OK, or why not in *detail. A recall (13) to a recipient
//  behind a link goes on over that link: *onward names it.
static proto_err_t s_status_role(broker_server_t *self, const broker_peer_t *p,
                                 const proto_notice_t *n, const broker_doc_t *doc,
                                 char onward[PROTO_LABEL_MAX + 1], const char **detail)
{
    broker_dlv_t dlv;
    proto_err_t rc = PROTO_OK;
    *detail = "not a party to this document in this role";
    if (n->code != 13)
        return strcmp(n->to, doc->from) == 0 &&
                       broker_store_dlv_get(self->store, p->agency, &n->doc, &dlv) == PROTO_OK
                   ? PROTO_OK
                   : PROTO_ERR_NOT_AUTHORIZED;
    if (strcmp(doc->from, p->agency) != 0)
        return PROTO_ERR_NOT_AUTHORIZED;
    if (broker_store_dlv_get(self->store, n->to, &n->doc, &dlv) == PROTO_OK)
        return PROTO_OK;
    rc = broker_hop_recall_via(self, &n->doc, n->to, onward);
    if (rc == PROTO_ERR_BAD_STATE)
        *detail = "the recipient's broker has not taken the document yet";
    else if (rc == PROTO_ERR_EXPIRED) {
        rc = PROTO_ERR_BAD_STATE;
        *detail = "the document did not reach the recipient's broker (EXPIRED was sent)";
    }
    return rc;
}

static void s_apply_status(broker_server_t *self, broker_peer_t *p, broker_job_t *job)
{
    proto_status_t *s = &job->msg->u.status;
    const proto_notice_t *n = &s->notice;
    broker_doc_t doc;
    const char *why = "no such document";
    char onward[PROTO_LABEL_MAX + 1] = "";
    proto_err_t rc = broker_batch_begin(self);
    if (!rc)
        rc = broker_store_doc_get(self->store, &n->doc, &doc);
    if (!rc)
        rc = s_status_role(self, p, n, &doc, onward, &why);
    //  A recall answer (15, 16) needs a recall request (13) first.
    uint8_t recall[BROKER_RECALL_KEY_LEN];
    broker_hop_recall_key(recall, &n->doc, n->code == 13 ? n->to : n->from);
    if (!rc && (n->code == 15 || n->code == 16) &&
        broker_store_flag_get(self->store, recall, sizeof recall) != PROTO_OK)
        return broker_batch_reject(self, p, &n->id, job->hash, n->from, PROTO_ERR_BAD_STATE,
                                   "no recall was requested of this agency for this document");
    broker_doc_t taken;
    if (!rc && broker_store_doc_get(self->store, &n->id, &taken) == PROTO_OK)
        return broker_batch_reject(self, p, &n->id, job->hash, n->from, PROTO_ERR_DUPLICATE_ID,
                                   "this id names a document");
    broker_notice_t known;
    if (!rc && broker_store_notice_get(self->store, &n->id, &known) == PROTO_OK) {
        if (sodium_memcmp(known.hash, job->hash, PROTO_HASH_LEN) != 0)
            return broker_batch_reject(self, p, &n->id, job->hash, n->from, PROTO_ERR_DUPLICATE_ID,
                                       "this notice id was used for another notice");
        broker_batch_accept(self, p, &n->id, job->hash, n->from, n->to, n->time, 0, false);
        return;
    }
    if (rc)
        return broker_batch_reject(self, p, &n->id, job->hash, n->from, rc, why);
    if (!s_notice_admit(self, p, n, job->hash))
        return;
    uint64_t mid = 0, seq = 0;
    bool back = false;
    proto_buf_t body;
    proto_buf_init(&body);
    proto_errinfo_t info;
    broker_notice_t record = { .doc = n->doc, .code = n->code };
    snprintf(record.from, sizeof record.from, "%s", n->from);
    snprintf(record.to, sizeof record.to, "%s", n->to);
    memcpy(record.hash, job->hash, PROTO_HASH_LEN);
    rc = broker_store_nest(self->store);
    if (!rc) {
        rc = broker_store_mid_next(self->store, &mid);
        s->mid = mid;
        if (!rc)
            rc = proto_msg_encode(job->msg, &body, &info);
        //  To the sender of a document from another broker: back over the
        //  link it came by (hop.c); a recall to a recipient behind a link:
        //  on over the link the document went by (hop_notice.c).
        char via[PROTO_LABEL_MAX + 1];
        back = strcmp(n->to, doc.from) == 0 && broker_hop_came_via(self, &n->doc, via);
        if (onward[0]) {
            back = true;
            snprintf(via, sizeof via, "%s", onward);
        }
        if (!rc && back)
            rc = broker_store_linkbox_put(self->store, via, mid, PROTO_KIND_STATUS, body.data,
                                          body.len);
        else if (!rc)
            rc = broker_store_mbox_put(self->store, n->to, mid, PROTO_KIND_STATUS, body.data,
                                       body.len);
        if (!rc && back)
            broker_hop_mark_dirty(self, via);
        if (!rc)
            rc = broker_store_notice_put(self->store, &n->id, &record);
        if (!rc && n->code == 13)
            rc = broker_store_flag_set(self->store, recall, sizeof recall);
        uint8_t key[S_NOTICE_KEY_LEN];
        s_notice_key(n, key);
        if (!rc)
            rc = broker_store_counter_add(self->store, key, sizeof key, 1);
        char detail[64];
        snprintf(detail, sizeof detail, "code=%02u to=%s", n->code, n->to);
        if (!rc)
            rc = broker_store_audit_append(self->store, broker_now(), BROKER_AUDIT_STATUS, n->from,
                                           &n->doc, detail, &seq);
        proto_err_t nest_rc = broker_store_unnest(self->store, rc == PROTO_OK);
        if (!rc)
            rc = nest_rc;
    }
    proto_buf_free(&body);
    if (rc)
        return broker_batch_reject(self, p, &n->id, job->hash, n->from,
                                   rc == PROTO_ERR_STORE_FULL ? rc : PROTO_ERR_STORE, "not stored");
    broker_batch_accept(self, p, &n->id, job->hash, n->from, n->to, n->time, seq, true);
    broker_peers_mark_dirty(self->peers, n->to);
}

static void s_apply_delivered(broker_server_t *self, broker_peer_t *p, broker_job_t *job)
{
    proto_receipts_t *r = &job->msg->u.receipts;
    proto_err_t rc = broker_batch_begin(self);
    if (rc)
        return;
    //  Check each item; route the good ones to their senders, grouped.
    bool *good = calloc(r->nitems, sizeof *good);
    char(*senders)[PROTO_AGENCY_CODE_LEN + 1] = calloc(r->nitems, sizeof *senders);
    //  For a document from another broker, the link it came by: its
    //  receipt goes back that way, towards its sender (hop.c).
    char(*vias)[PROTO_LABEL_MAX + 1] = calloc(r->nitems, sizeof *vias);
    proto_item_t *subset = calloc(r->nitems, sizeof *subset);
    if (!good || !senders || !vias || !subset)
        goto done;
    for (uint32_t i = 0; i < r->nitems; i++) {
        const proto_leaf_t *leaf = &r->items[i].leaf;
        broker_doc_t doc;
        broker_dlv_t dlv;
        rc = broker_store_doc_get(self->store, &leaf->id, &doc);
        if (!rc && broker_store_dlv_get(self->store, p->agency, &leaf->id, &dlv) != PROTO_OK)
            rc = PROTO_ERR_NOT_AUTHORIZED;
        if (!rc && (sodium_memcmp(doc.hash, leaf->hash, PROTO_HASH_LEN) != 0 ||
                    strcmp(doc.from, leaf->from) != 0))
            rc = PROTO_ERR_VALUE;
        if (rc) {
            broker_session_error(self, p, rc,
                                 rc == PROTO_ERR_VALUE ? "receipt does not match the document"
                                                       : "not a document addressed to this agency",
                                 &leaf->id, false);
            continue;
        }
        broker_flight_remove(p, false, 0, &leaf->id);
        if (dlv.state != BROKER_DLV_WAITING)
            continue; // acknowledged before: nothing new to record
        bool refused = leaf->event == PROTO_EVENT_REFUSED;
        rc =
            broker_store_dlv_set(self->store, p->agency, &leaf->id,
                                 refused ? BROKER_DLV_REFUSED : BROKER_DLV_DELIVERED, broker_now());
        char detail[64];
        snprintf(detail, sizeof detail, "to=%s%s%s", p->agency, refused ? " code=" : "",
                 refused ? proto_errname((proto_err_t) leaf->code) : "");
        if (!rc)
            rc = broker_store_audit_append(self->store, broker_now(),
                                           refused ? BROKER_AUDIT_REFUSED_BY_RECIPIENT
                                                   : BROKER_AUDIT_DELIVERED,
                                           doc.from, &leaf->id, detail, NULL);
        if (!rc && doc.open == 1)
            rc = broker_store_quota_add(self->store, doc.from, -1, 0);
        if (rc) {
            proto_log_error("event=delivered_not_recorded agency=%s error=%s", p->agency,
                            proto_errname(rc));
            continue;
        }
        self->delivered++;
        good[i] = true;
        snprintf(senders[i], sizeof senders[i], "%s", doc.from);
        if (!broker_hop_came_via(self, &leaf->id, vias[i]))
            vias[i][0] = '\0';
    }
    //  One routed bundle per sender: the recipient's head and signature with
    //  only that sender's items.
    for (uint32_t i = 0; i < r->nitems; i++) {
        if (!good[i])
            continue;
        uint32_t count = 0;
        for (uint32_t j = i; j < r->nitems; j++)
            if (good[j] && strcmp(senders[j], senders[i]) == 0 && strcmp(vias[j], vias[i]) == 0) {
                subset[count++] = r->items[j];
                if (j != i)
                    good[j] = false;
            }
        good[i] = false;
        proto_msg_t msg;
        memset(&msg, 0, sizeof msg);
        msg.kind = PROTO_KIND_DELIVERED;
        msg.u.receipts = *r;
        msg.u.receipts.items = subset;
        msg.u.receipts.nitems = count;
        proto_buf_t body;
        proto_errinfo_t info;
        proto_buf_init(&body);
        if (vias[i][0]) {
            rc = broker_hop_route_back(self, vias[i], &msg);
            proto_buf_free(&body);
            if (rc)
                proto_log_error("event=receipt_not_routed to=%s via=%s error=%s", senders[i],
                                vias[i], proto_errname(rc));
            continue;
        }
        rc = broker_store_mid_next(self->store, &msg.u.receipts.mid);
        if (!rc)
            rc = proto_msg_encode(&msg, &body, &info);
        if (!rc)
            rc = broker_store_mbox_put(self->store, senders[i], msg.u.receipts.mid,
                                       PROTO_KIND_DELIVERED, body.data, body.len);
        proto_buf_free(&body);
        if (rc)
            proto_log_error("event=receipt_not_routed to=%s error=%s", senders[i],
                            proto_errname(rc));
        else
            broker_peers_mark_dirty(self->peers, senders[i]);
    }
done:
    free(good);
    free(senders);
    free(vias);
    free(subset);
}

void broker_apply(broker_server_t *self, broker_job_t *job)
{
    broker_peer_t *p = broker_peers_find(self->peers, job->routing, job->routing_len);
    if (p && p->jobs)
        p->jobs--;
    if (!p || p->dead)
        return; // the session ended while the job was at a worker
    if (job->err) {
        char text[300];
        snprintf(text, sizeof text, "%s%s%s", job->info.field, job->info.field[0] ? ": " : "",
                 job->info.message);
        //  A document or notice whose id can be read gets a signed
        //  REJECTED; what could not be decoded that far gets an ERROR.
        proto_id_t id;
        if (job->msg && proto_kind_has_document(job->kind)) {
            const proto_doc_t *doc = &job->msg->u.document.doc;
            broker_batch_reject(self, p, &doc->id, job->hash, doc->from, job->err, text);
        } else if (job->msg && job->kind == PROTO_KIND_FORWARD) {
            const proto_doc_t *doc = &job->msg->u.forward.document.doc;
            broker_batch_reject(self, p, &doc->id, job->hash, doc->from, job->err, text);
        } else if (job->msg && job->kind == PROTO_KIND_STATUS) {
            const proto_notice_t *n = &job->msg->u.status.notice;
            broker_batch_reject(self, p, &n->id, job->hash, n->from, job->err, text);
        } else if (!job->msg && !p->link && job->nframes >= 2 &&
                   proto_msg_peek_id(job->kind, zmq_msg_data(&job->frames[1]),
                                     zmq_msg_size(&job->frames[1]), &id)) {
            //  Refused by strict decoding, but the id can be read: the
            //  sender waits for an answer about that id (PROTOCOL.md 4.3).
            //  Nothing was hashed: the leaf's hash is all zero. Malformed
            //  input is logged and counted, not audited, as with ERROR.
            char id_text[PROTO_ID_TEXT_LEN];
            proto_id_format(&id, id_text);
            proto_log_info("event=rejected agency=%s id=%s code=%s reason=\"%s\"", p->agency,
                           id_text, proto_errname(job->err), text);
            broker_batch_reject_unaudited(self, p, &id, NULL, p->agency, job->err, text);
            if (++p->errors >= MAX_ERRORS_IN_A_ROW)
                broker_session_error(self, p, job->err, "too many malformed messages in a row",
                                     NULL, true);
        } else {
            broker_session_error(self, p, job->err, text, NULL, ++p->errors >= MAX_ERRORS_IN_A_ROW);
        }
        return;
    }
    p->errors = 0;
    if (job->link[0] && job->kind == PROTO_KIND_FORWARD)
        s_apply_forward(self, p, job);
    else if (job->link[0] && job->kind == PROTO_KIND_DELIVERED)
        broker_hop_delivered_apply(self, p, job);
    else if (job->link[0] && job->kind == PROTO_KIND_STATUS)
        broker_hop_status_apply(self, p, job);
    else if (job->link[0] && job->kind == PROTO_KIND_EXPIRED)
        broker_hop_expired_apply(self, p, job);
    else if (job->link[0])
        broker_hop_receipt_apply(self, p, job);
    else if (proto_kind_has_document(job->kind))
        s_apply_document(self, p, job, NULL);
    else if (job->kind == PROTO_KIND_STATUS)
        s_apply_status(self, p, job);
    else if (job->kind == PROTO_KIND_DELIVERED)
        s_apply_delivered(self, p, job);
}
