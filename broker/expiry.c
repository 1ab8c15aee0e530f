/*  broker/expiry.c - expiry, returns, retention and the clock guard they
    go by. See expiry.h.

    Runs from the loop's expiry timer (and a directory reload, for returns),
    inside the open batch's write transaction: what ends here is committed
    with the batch and its notices reach the senders through their
    mailboxes.
*/
#include "expiry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/log.h"
#include "proto/merkle.h"

#include "batch.h"
#include "hop.h"

//  Broker-signed notices to senders (EXPIRED and RETURNED events): one tree,
//  one signature, and each sender gets its own items in its mailbox.
void broker_expiry_route_to_senders(broker_server_t *self, const proto_leaf_t *leaves, size_t n)
{
    if (n == 0)
        return;
    proto_item_t *items = calloc(n, sizeof *items);
    proto_item_t *subset = calloc(n, sizeof *subset);
    uint8_t(*paths)[PROTO_HASH_LEN] = calloc(n * PROTO_MAX_PATH, PROTO_HASH_LEN);
    bool *done = calloc(n, sizeof *done);
    proto_head_t head;
    uint8_t sig[PROTO_SIG_LEN];
    if (!items || !subset || !paths || !done ||
        proto_receipts_build(leaves, n, self->identity, broker_now(), &head, sig, items, paths) !=
            PROTO_OK) {
        proto_log_error("event=notices_failed count=%zu", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        uint32_t count = 0;
        for (size_t j = i; j < n && count < PROTO_MAX_ITEMS; j++)
            if (!done[j] && strcmp(leaves[j].from, leaves[i].from) == 0) {
                subset[count++] = items[j];
                done[j] = true;
            }
        proto_msg_t msg;
        memset(&msg, 0, sizeof msg);
        msg.kind = PROTO_KIND_EXPIRED;
        msg.u.receipts.head = head;
        memcpy(msg.u.receipts.sig, sig, sizeof sig);
        msg.u.receipts.items = subset;
        msg.u.receipts.nitems = count;
        proto_buf_t body;
        proto_errinfo_t info;
        proto_buf_init(&body);
        proto_err_t rc = broker_store_mid_next(self->store, &msg.u.receipts.mid);
        if (!rc)
            rc = proto_msg_encode(&msg, &body, &info);
        if (!rc)
            rc = broker_store_mbox_put(self->store, leaves[i].from, msg.u.receipts.mid,
                                       PROTO_KIND_EXPIRED, body.data, body.len);
        proto_buf_free(&body);
        if (rc)
            proto_log_error("event=notice_not_routed to=%s error=%s", leaves[i].from,
                            proto_errname(rc));
        else
            broker_peers_mark_dirty(self->peers, leaves[i].from);
    }
done:
    free(items);
    free(subset);
    free(paths);
    free(done);
}

typedef struct {
    broker_server_t *self;
    proto_event_t event;
    const char *recipient; // for RETURNED: the revoked agency
    proto_leaf_t *leaves;
    char (*codes)[2][PROTO_AGENCY_CODE_LEN + 1];
    size_t n, cap;
} s_ending_t;

//  End one waiting delivery (expired or returned) and queue its leaf.
static void s_end_delivery(s_ending_t *ex, const char *recipient, const proto_id_t *id)
{
    broker_server_t *self = ex->self;
    broker_doc_t doc;
    uint64_t seq = 0;
    bool expired = ex->event == PROTO_EVENT_EXPIRED;
    if (ex->n == ex->cap || broker_store_doc_get(self->store, id, &doc) != PROTO_OK)
        return;
    if (broker_store_dlv_set(self->store, recipient, id,
                             expired ? BROKER_DLV_EXPIRED : BROKER_DLV_RETURNED,
                             broker_now()) != PROTO_OK)
        return;
    if (expired)
        self->stats.expired++;
    else
        self->stats.returned++;
    char detail[40];
    snprintf(detail, sizeof detail, "to=%s", recipient);
    broker_batch_audit(self, expired ? BROKER_AUDIT_EXPIRED : BROKER_AUDIT_RETURNED, doc.from, id,
                       detail, &seq);
    if (doc.open == 1 && broker_store_quota_add(self->store, doc.from, -1, 0) != PROTO_OK)
        return;
    proto_leaf_t *leaf = &ex->leaves[ex->n];
    snprintf(ex->codes[ex->n][0], sizeof ex->codes[ex->n][0], "%s", doc.from);
    snprintf(ex->codes[ex->n][1], sizeof ex->codes[ex->n][1], "%s", recipient);
    memset(leaf, 0, sizeof *leaf);
    leaf->event = (uint8_t) ex->event;
    leaf->id = *id;
    memcpy(leaf->hash, doc.hash, PROTO_HASH_LEN);
    leaf->from = ex->codes[ex->n][0];
    leaf->to = ex->codes[ex->n][1];
    leaf->time = broker_now();
    leaf->seq = seq;
    ex->n++;
}

static void s_expire_one(void *arg, const char *recipient, const proto_id_t *id)
{
    s_end_delivery(arg, recipient, id);
}

typedef struct {
    proto_id_t *ids;
    size_t n, cap;
} s_ids_t;

static bool s_collect_id(void *arg, const proto_id_t *id)
{
    s_ids_t *list = arg;
    if (list->n == list->cap)
        return false;
    list->ids[list->n++] = *id;
    return true;
}

static bool s_ending_init(s_ending_t *ex, broker_server_t *self, proto_event_t event)
{
    memset(ex, 0, sizeof *ex);
    ex->self = self;
    ex->event = event;
    ex->cap = 1024;
    ex->leaves = calloc(ex->cap, sizeof *ex->leaves);
    ex->codes = calloc(ex->cap, sizeof *ex->codes);
    return ex->leaves && ex->codes && broker_batch_begin(self) == PROTO_OK;
}

static void s_ending_finish(s_ending_t *ex)
{
    broker_expiry_route_to_senders(ex->self, ex->leaves, ex->n);
    if (ex->n)
        proto_log_info("event=%s deliveries=%zu%s%s",
                       ex->event == PROTO_EVENT_EXPIRED ? "expired" : "returned", ex->n,
                       ex->recipient ? " recipient=" : "", ex->recipient ? ex->recipient : "");
    free(ex->leaves);
    free(ex->codes);
}

//  Whether expiry and retention may go by the wall clock now: the clock
//  guard's verdict (broker/clockguard.h). A jump is logged loudly, again
//  every minute while it holds, and audited when it is found and when it
//  ends.
bool broker_expiry_clock_in_step(broker_server_t *self, uint64_t wall, uint64_t mono)
{
    int64_t jump = 0;
    broker_clock_state_t state = broker_clock_check(self->clock, wall, mono, &jump);
    char detail[200];
    if (state == BROKER_CLOCK_OK)
        return true;
    if (state == BROKER_CLOCK_RETURNED) {
        proto_log_warning("event=clock_in_step jump_ms=%" PRId64 " note=\"expiry resumes\"", jump);
        snprintf(detail, sizeof detail,
                 "clock back in step (%+" PRId64 " ms from the last commit): expiry resumes", jump);
        broker_batch_audit(self, BROKER_AUDIT_ADMIN, "", NULL, detail, NULL);
        self->clock_announced = false;
        return true;
    }
    if (!self->clock_announced) {
        snprintf(detail, sizeof detail,
                 "clock jump of %+" PRId64
                 " ms since the last commit (store.clock_jump_max %" PRIu64
                 " ms): expiry and retention stopped until truc-admin clock confirm",
                 jump, self->config->clock_jump_max);
        broker_batch_audit(self, BROKER_AUDIT_ADMIN, "", NULL, detail, NULL);
        self->clock_announced = true;
        self->clock_logged = 0;
    }
    if (self->clock_logged == 0 || mono - self->clock_logged >= 60000) {
        proto_log_error("event=clock_jump jump_ms=%" PRId64 " max_ms=%" PRIu64
                        " note=\"expiry and retention stopped: set the clock right, or run "
                        "truc-admin clock confirm if it is right now\"",
                        jump, self->config->clock_jump_max);
        self->clock_logged = mono;
    }
    return false;
}

int64_t broker_expiry_clock_confirm(broker_server_t *self, bool *was_held)
{
    *was_held = broker_clock_held(self->clock);
    int64_t jump = broker_clock_confirm(self->clock, broker_now(), broker_mono());
    self->clock_announced = false;
    return jump;
}

//  The wall time of the newest audit entry: the last thing committed.
static bool s_last_entry(void *arg, const broker_audit_entry_t *entry)
{
    *(uint64_t *) arg = entry->time;
    return true;
}

uint64_t broker_expiry_last_commit(broker_server_t *self)
{
    uint64_t time = 0, bad = 0;
    if (broker_store_read_begin(self->store) != PROTO_OK)
        return 0;
    uint64_t length = broker_store_audit_length(self->store);
    if (length && broker_store_audit_walk(self->store, length, s_last_entry, &time, &bad))
        time = 0;
    broker_store_read_end(self->store);
    return time;
}

//  Deliveries past their time to live become EXPIRED.
void broker_expiry_expire(broker_server_t *self, uint64_t now)
{
    s_ending_t ex;
    if (s_ending_init(&ex, self, PROTO_EVENT_EXPIRED))
        broker_store_expiry_scan(self->store, now, ex.cap, s_expire_one, &ex);
    s_ending_finish(&ex);
    //  Hops to other brokers go by the same rule (hop.c).
    broker_hop_expire(self, now);
}

//  Everything waiting for a revoked agency goes back to its senders.
void broker_expiry_return(broker_server_t *self, const char *recipient)
{
    size_t returned;
    do {
        s_ending_t ex;
        returned = 0;
        if (s_ending_init(&ex, self, PROTO_EVENT_RETURNED)) {
            //  Collect first: ending a delivery removes it from the queue
            //  being walked.
            s_ids_t list = { calloc(ex.cap, sizeof(proto_id_t)), 0, ex.cap };
            ex.recipient = recipient;
            if (list.ids)
                broker_store_queue_scan(self->store, recipient, s_collect_id, &list);
            for (size_t i = 0; i < list.n; i++)
                s_end_delivery(&ex, recipient, &list.ids[i]);
            returned = list.n;
            free(list.ids);
        }
        s_ending_finish(&ex);
    } while (returned == 1024);
}

typedef struct {
    broker_server_t *self;
    size_t count;
} s_purge_t;

static void s_purge_one(void *arg, const proto_id_t *id)
{
    s_purge_t *purge = arg;
    broker_doc_t doc;
    uint64_t freed = 0;
    if (broker_store_doc_get(purge->self->store, id, &doc) != PROTO_OK ||
        broker_store_doc_purge(purge->self->store, id, &freed) != PROTO_OK)
        return;
    if (freed &&
        broker_store_quota_add(purge->self->store, doc.from, 0, -(int64_t) freed) != PROTO_OK)
        return;
    broker_batch_audit(purge->self, BROKER_AUDIT_PURGED, doc.from, id, "", NULL);
    purge->count++;
}

//  Documents finished longer than `retention` ago lose their frames.
void broker_expiry_retire(broker_server_t *self, uint64_t now)
{
    if (now < self->config->retention || broker_batch_begin(self) != PROTO_OK)
        return;
    s_purge_t purge = { self, 0 };
    broker_store_retire_scan(self->store, now - self->config->retention, 1024, s_purge_one, &purge);
    if (purge.count)
        proto_log_info("event=purged documents=%zu", purge.count);
}
