/*  broker/admin_docs.c - the admin commands about documents and the audit
    chain: doc show, doc resend, stuck, audit show and audit verify.

    Runs on the loop thread like the rest of the admin endpoint (admin.c
    reads the request, checks who may act and dispatches here); reads go
    through a short read transaction, or the open batch's.
*/
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/loop.h"
#include "admin_internal.h"
#include "audit_query.h"
#include "forward.h"
#include "store_fwd.h"
#include "stuck.h"
#include "verify.h"

//  "receipt": the signed batch head of the ACCEPTED that answered the
//  document and its place in the batch's tree (store.h), or nil when the
//  store keeps none for it.
static void s_receipt_pack(msgpack_packer *pk, broker_store_t *store, const proto_id_t *id)
{
    broker_receipt_t r;
    admin_str(pk, "receipt");
    if (broker_store_receipt_get(store, id, &r) != PROTO_OK)
        return (void) msgpack_pack_nil(pk);
    char when[32], root[2 * PROTO_HASH_LEN + 1], sig[2 * PROTO_SIG_LEN + 1];
    admin_time_text(r.head.time, when);
    proto_hex_encode(r.head.root, PROTO_HASH_LEN, root);
    proto_hex_encode(r.sig, PROTO_SIG_LEN, sig);
    msgpack_pack_map(pk, 7);
    admin_kv_str(pk, "signer", r.signer);
    admin_kv_str(pk, "time", when);
    admin_kv_u64(pk, "batch_size", r.head.size);
    admin_kv_str(pk, "root", root);
    admin_kv_str(pk, "signature", sig);
    admin_kv_u64(pk, "index", r.index);
    admin_kv_u64(pk, "path_length", r.npath);
}

//  Read document `text` (its record and its decoded body) in a read
//  transaction that stays open on success; on failure it is closed and
//  the request answered.
static bool s_doc_read(broker_admin_t *self, const char *text, proto_id_t *id, broker_doc_t *doc,
                       proto_msg_t **msg)
{
    if (proto_id_parse(text, id) != PROTO_OK) {
        admin_fail(self, PROTO_ERR_VALUE, "'%s' is not a document id", text);
        return false;
    }
    if (!admin_read_begin(self)) {
        admin_fail(self, PROTO_ERR_STORE, "cannot read the store");
        return false;
    }
    const void *frames[BROKER_MAX_FRAMES];
    size_t lens[BROKER_MAX_FRAMES], count = 0;
    proto_errinfo_t info;
    proto_err_t rc = broker_store_doc_get(broker_server_store(self->server), id, doc);
    if (!rc)
        rc = broker_store_frames_get(broker_server_store(self->server), id, frames, lens,
                                     BROKER_MAX_FRAMES, &count);
    if (!rc)
        rc = proto_msg_decode(PROTO_KIND_DELIVER, frames[0], lens[0], msg, &info);
    if (rc) {
        admin_read_end(self);
        admin_fail(self, rc, "document %s: %s", text, proto_strerror(rc));
        return false;
    }
    return true;
}

// ---------------------------------------------------------------------------
//  Where a document is: its trace and, per recipient, who holds it now

//  What this broker knows of a document's journey: the trace it came with
//  (this broker's entry last), or this broker alone for one an agency
//  submitted here, and the plan its hops were queued by, with the
//  directory in force.
typedef struct {
    broker_fwd_in_t in;
    bool known; // in could be read
    const char *own;
    broker_fwd_plan_t *plan;
} s_where_t;

static s_where_t *s_where_open(broker_admin_t *self, const proto_id_t *id, const broker_doc_t *doc,
                               const proto_doc_t *d)
{
    s_where_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->own = proto_identity_public(broker_server_identity(self->server))->name;
    proto_err_t rc = broker_store_fwd_in_get(broker_server_store(self->server), id, &w->in);
    if (rc == PROTO_ERR_NOT_FOUND) {
        proto_fwd_hop_t origin = { w->own, doc->accepted };
        rc = broker_fwd_in_set(&w->in, &origin, 1, (const char *const *) d->to, d->nto);
    }
    w->known = rc == PROTO_OK;
    if (w->known)
        w->plan = broker_fwd_plan_new(broker_server_directory(self->server), w->own, w->in.to,
                                      w->in.nto, w->in.trace, w->in.ntrace - 1);
    return w;
}

static void s_where_close(s_where_t **w_p)
{
    if (*w_p)
        broker_fwd_plan_destroy(&(*w_p)->plan);
    free(*w_p);
    *w_p = NULL;
}

//  "trace": the brokers that stored the document, the first one the
//  sender's, this one last.
static void s_trace_pack(msgpack_packer *pk, const s_where_t *w)
{
    uint32_t n = w->known ? w->in.ntrace : 0;
    admin_str(pk, "trace");
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n; i++) {
        char when[32];
        admin_time_text(w->in.trace[i].time, when);
        msgpack_pack_map(pk, 2);
        admin_kv_str(pk, "broker", w->in.trace[i].broker);
        admin_kv_str(pk, "time", when);
    }
}

//  The plan's group that carries agency: its index, or the group count.
static uint32_t s_hop_of(const broker_fwd_plan_t *plan, const char *agency)
{
    uint32_t hops = plan ? broker_fwd_plan_hop_count(plan) : 0;
    for (uint32_t h = 0; h < hops; h++)
        for (uint32_t i = 0; i < broker_fwd_plan_hop_to_count(plan, h); i++)
            if (strcmp(broker_fwd_plan_hop_to(plan, h, i), agency) == 0)
                return h;
    return hops;
}

static bool s_carried(const s_where_t *w, const char *agency)
{
    for (uint32_t i = 0; w->known && i < w->in.nto; i++)
        if (strcmp(w->in.to[i], agency) == 0)
            return true;
    return false;
}

//  Where one recipient's copy stands, as doc show gives it.
typedef struct {
    const char *state, *held_by, *via; // held_by and via NULL when none
    uint64_t since;
    uint32_t code; // a refusal's proto_err_t, 0 otherwise
} s_row_t;

//  A recipient behind the link of the plan's group h: its hop's state, or
//  delivered once its DELIVERED came back over that link.
static void s_row_via(broker_store_t *store, const proto_id_t *id, const char *agency,
                      const s_where_t *w, uint32_t h, s_row_t *row)
{
    static const char *const names[] = { "forwarding", "forwarded", "refused", "expired" };
    broker_hop_t hop;
    row->via = broker_fwd_plan_hop_label(w->plan, h);
    if (broker_store_hop_delivered_get(store, id, agency, &row->since) == PROTO_OK) {
        row->state = "delivered", row->held_by = agency;
    } else if (broker_store_hop_get(store, row->via, id, &hop) != PROTO_OK) {
        row->code = broker_fwd_plan_hop_refused(w->plan, h);
        row->state = row->code ? "refused" : "unknown";
    } else {
        row->state = hop.state < 4 ? names[hop.state] : "unknown";
        row->since = hop.time, row->code = hop.code;
        row->held_by = hop.state == BROKER_HOP_WAITING ? w->own
                       : hop.state == BROKER_HOP_DONE  ? row->via
                                                       : NULL;
    }
}

//  One recipient of the document: its state from this broker's side,
//  since when, and who holds the document for it now (this broker, the
//  next broker of its hop - or one after it - or the recipient itself).
//  A recipient behind a link also names that link (`via`).
static void s_recipient_pack(msgpack_packer *pk, broker_admin_t *self, const proto_id_t *id,
                             const char *agency, const s_where_t *w)
{
    broker_store_t *store = broker_server_store(self->server);
    broker_dlv_t dlv = { 0 };
    s_row_t row = { .state = "unknown" };
    uint32_t h = w->plan ? s_hop_of(w->plan, agency) : 0;
    if (broker_store_dlv_get(store, agency, id, &dlv) == PROTO_OK) {
        row.state = broker_dlv_state_name(dlv.state);
        row.since = dlv.time;
        row.held_by = dlv.state == BROKER_DLV_WAITING ? w->own
                      : dlv.state == BROKER_DLV_DELIVERED || dlv.state == BROKER_DLV_REFUSED
                          ? agency
                          : NULL;
    } else if (!s_carried(w, agency)) {
        row.state = "elsewhere"; // it left an earlier broker by another hop
    } else if (!w->plan || h == broker_fwd_plan_hop_count(w->plan)) {
        row.state = "unroutable"; // the directory in force routes it nowhere
    } else {
        s_row_via(store, id, agency, w, h, &row);
    }
    char when[32];
    admin_time_text(row.since, when);
    msgpack_pack_map(pk, 3 + (row.held_by != NULL) + (row.via != NULL) + (row.code != 0));
    admin_kv_str(pk, "agency", agency);
    admin_kv_str(pk, "state", row.state);
    admin_kv_str(pk, "since", when);
    if (row.held_by)
        admin_kv_str(pk, "held_by", row.held_by);
    if (row.via)
        admin_kv_str(pk, "via", row.via);
    if (row.code)
        admin_kv_str(pk, "code", proto_errname((proto_err_t) row.code));
}

void admin_doc_show(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) nargs;
    const char *text = args[1];
    proto_id_t id;
    broker_doc_t doc;
    proto_msg_t *msg = NULL;
    if (!s_doc_read(self, text, &id, &doc, &msg))
        return;
    const proto_doc_t *d = &msg->u.document.doc;
    s_where_t *where = s_where_open(self, &id, &doc, d);
    if (!where) {
        proto_msg_destroy(&msg);
        admin_read_end(self);
        return admin_fail(self, PROTO_ERR_NOMEM, "out of memory");
    }
    char hash[2 * PROTO_HASH_LEN + 1], accepted[32];
    proto_hex_encode(doc.hash, PROTO_HASH_LEN, hash);
    admin_time_text(doc.accepted, accepted);
    admin_reply_t reply;
    admin_ok(&reply);
    msgpack_pack_map(&reply.pk, 13);
    admin_kv_str(&reply.pk, "id", text);
    admin_kv_str(&reply.pk, "kind", proto_kind_name(doc.kind));
    admin_kv_str(&reply.pk, "from", doc.from);
    admin_kv_str(&reply.pk, "subject", d->subject);
    admin_kv_str(&reply.pk, "type", d->doc_type);
    admin_kv_u64(&reply.pk, "urgency", doc.urgency);
    admin_kv_str(&reply.pk, "hash", hash);
    admin_kv_str(&reply.pk, "accepted", accepted);
    admin_kv_u64(&reply.pk, "seq", doc.seq);
    admin_kv_bool(&reply.pk, "revoked", doc.revoked);
    s_receipt_pack(&reply.pk, broker_server_store(self->server), &id);
    s_trace_pack(&reply.pk, where);
    admin_str(&reply.pk, "recipients");
    msgpack_pack_array(&reply.pk, d->nto);
    for (uint32_t i = 0; i < d->nto; i++)
        s_recipient_pack(&reply.pk, self, &id, d->to[i], where);
    s_where_close(&where);
    proto_msg_destroy(&msg);
    admin_read_end(self);
    admin_send_reply(self, &reply);
}

// ---------------------------------------------------------------------------
//  Resend: push a waiting document again now

//  What resend does for one recipient, by its delivery state.
static const char *s_resend_one(broker_admin_t *self, const proto_id_t *id, const char *id_text,
                                const char *agency, const broker_dlv_t *dlv, bool known)
{
    if (!known)
        return "unknown: no delivery recorded for this recipient";
    switch (dlv->state) {
    case BROKER_DLV_WAITING: {
        bool pushed = broker_server_push_again(self->server, agency);
        char what[200];
        snprintf(what, sizeof what, "resend %s to %s: %s", id_text, agency,
                 pushed ? "pushed again" : "not connected, pushed when it connects");
        admin_audit(self, agency, id, what);
        return pushed ? "pushed again" : "not connected: pushed when it connects";
    }
    case BROKER_DLV_DELIVERED:
    case BROKER_DLV_REFUSED:
        return "answered already: nothing to resend";
    case BROKER_DLV_EXPIRED:
        return "expired: the sender holds a signed EXPIRED receipt and must send the document "
               "again";
    default:
        return "withdrawn (revoked or returned): nothing to resend";
    }
}

//  doc resend ID [CODE]: every recipient still waiting for ID (or CODE
//  alone) gets it pushed again now, if connected: its pushes in flight are
//  forgotten and go again, as after a lost push (session.c). A delivery
//  that expired is not revived: the sender already holds the broker's
//  signed EXPIRED, so only a new sending can reach that recipient. Each
//  push again is audited with who asked for it.
void admin_doc_resend(broker_admin_t *self, const char *const *args, size_t nargs)
{
    const char *text = args[1], *only = nargs > 2 ? args[2] : NULL;
    proto_id_t id;
    broker_doc_t doc;
    proto_msg_t *msg = NULL;
    if (!s_doc_read(self, text, &id, &doc, &msg))
        return;
    const proto_doc_t *d = &msg->u.document.doc;
    uint32_t rows = 0;
    for (uint32_t i = 0; i < d->nto; i++)
        rows += !only || strcmp(d->to[i], only) == 0;
    if (only && rows == 0) {
        proto_msg_destroy(&msg);
        admin_read_end(self);
        return admin_fail(self, PROTO_ERR_VALUE, "%.20s is not a recipient of %s", only, text);
    }
    broker_dlv_t dlv[PROTO_MAX_RECIPIENTS];
    bool known[PROTO_MAX_RECIPIENTS];
    for (uint32_t i = 0; i < d->nto && i < PROTO_MAX_RECIPIENTS; i++)
        known[i] = broker_store_dlv_get(broker_server_store(self->server), d->to[i], &id,
                                        &dlv[i]) == PROTO_OK;
    admin_read_end(self); // the audit below opens the write batch
    if (only) {
        uint32_t at = 0;
        while (strcmp(d->to[at], only) != 0)
            at++;
        if (!known[at] || dlv[at].state != BROKER_DLV_WAITING) {
            const char *why = s_resend_one(self, &id, text, only, &dlv[at], known[at]);
            admin_fail(self, PROTO_ERR_BAD_STATE, "%s to %s: %s", text, only, why);
            proto_msg_destroy(&msg);
            return;
        }
    }
    admin_reply_t reply;
    admin_ok(&reply);
    msgpack_pack_array(&reply.pk, rows);
    for (uint32_t i = 0; i < d->nto && i < PROTO_MAX_RECIPIENTS; i++) {
        if (only && strcmp(d->to[i], only) != 0)
            continue;
        msgpack_pack_map(&reply.pk, 3);
        admin_kv_str(&reply.pk, "agency", d->to[i]);
        admin_kv_str(&reply.pk, "state",
                     known[i] ? broker_dlv_state_name(dlv[i].state) : "unknown");
        admin_kv_str(&reply.pk, "action",
                     s_resend_one(self, &id, text, d->to[i], &dlv[i], known[i]));
    }
    proto_msg_destroy(&msg);
    admin_send_reply(self, &reply);
}

static void s_audit_pack(msgpack_packer *pk, const broker_audit_entry_t *entry)
{
    char when[32], id[PROTO_ID_TEXT_LEN] = "", hash[2 * PROTO_HASH_LEN + 1];
    admin_time_text(entry->time, when);
    if (entry->has_id)
        proto_id_format(&entry->id, id);
    proto_hex_encode(entry->hash, PROTO_HASH_LEN, hash);
    msgpack_pack_map(pk, 7);
    admin_kv_u64(pk, "seq", entry->seq);
    admin_kv_str(pk, "time", when);
    admin_kv_str(pk, "event", broker_audit_event_name(entry->event));
    admin_kv_str(pk, "agency", entry->agency);
    admin_kv_str(pk, "id", id);
    admin_kv_str(pk, "detail", entry->detail);
    admin_kv_str(pk, "hash", hash);
}

//  audit show [ID] [NAME=VALUE]...: one page of the chain, filtered
//  (audit_query.h); by default the last 50 entries.
void admin_audit_show(broker_admin_t *self, const char *const *args, size_t nargs)
{
    broker_audit_query_t q;
    broker_audit_query_init(&q);
    char err[512] = "";
    proto_err_t rc = PROTO_OK;
    for (size_t i = 1; i < nargs && !rc; i++) {
        //  A bare word is a document id, as before there were filters.
        if (strchr(args[i], '=')) {
            rc = broker_audit_query_set(&q, args[i], err, sizeof err);
        } else if (proto_id_parse(args[i], &q.id) == PROTO_OK) {
            q.has_id = true;
        } else {
            snprintf(err, sizeof err, "'%s' is not a document id", args[i]);
            rc = PROTO_ERR_VALUE;
        }
    }
    if (!rc)
        rc = broker_audit_query_check(&q, err, sizeof err);
    if (rc)
        return admin_fail(self, rc, "%s", err);
    if (!admin_read_begin(self))
        return admin_fail(self, PROTO_ERR_STORE, "cannot read the store");
    broker_audit_page_t *page = NULL;
    uint64_t bad = 0;
    rc = broker_audit_page_new(broker_server_store(self->server), &q, &page, &bad);
    if (rc) {
        admin_read_end(self);
        return rc == PROTO_ERR_BAD_PROOF
                   ? admin_fail(self, rc, "the audit chain is broken at entry %" PRIu64, bad)
                   : admin_fail(self, rc, "%s", proto_strerror(rc));
    }
    admin_reply_t reply;
    admin_ok(&reply);
    size_t n = broker_audit_page_count(page);
    msgpack_pack_array(&reply.pk, n);
    for (size_t i = 0; i < n; i++)
        s_audit_pack(&reply.pk, broker_audit_page_entry(page, i));
    broker_audit_page_destroy(&page);
    admin_read_end(self);
    admin_send_reply(self, &reply);
}

void admin_audit_verify(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) args;
    (void) nargs;
    if (!admin_read_begin(self))
        return admin_fail(self, PROTO_ERR_STORE, "cannot read the store");
    uint64_t bad = 0, length = broker_store_audit_length(broker_server_store(self->server));
    proto_err_t rc =
        broker_store_audit_walk(broker_server_store(self->server), 1, NULL, NULL, &bad);
    broker_server_audit_verified(self->server, rc == PROTO_OK);
    admin_read_end(self);
    admin_reply_t reply;
    admin_ok(&reply);
    msgpack_pack_map(&reply.pk, 3);
    admin_kv_bool(&reply.pk, "intact", rc == PROTO_OK);
    admin_kv_u64(&reply.pk, "length", length);
    admin_kv_u64(&reply.pk, "first_bad", rc == PROTO_OK ? 0 : bad);
    admin_send_reply(self, &reply);
}

// ---------------------------------------------------------------------------
//  Stuck documents

#define ADMIN_STUCK_MAX 200 // rows one answer lists

//  Documents that have waited for a recipient longer than args[0] seconds.
void admin_stuck(broker_admin_t *self, const char *const *args, size_t nargs)
{
    char *end = NULL;
    uint64_t seconds = nargs > 0 ? strtoull(args[0], &end, 10) : 3600;
    if (nargs > 0 && (!args[0][0] || *end))
        return admin_fail(self, PROTO_ERR_VALUE, "'%.40s' is not a number of seconds", args[0]);
    uint64_t now = proto_clock_wall_ms();
    uint64_t before = seconds < now / 1000 ? now - seconds * 1000 : 0;
    broker_stuck_t *rows = calloc(ADMIN_STUCK_MAX, sizeof *rows);
    if (!rows)
        return admin_fail(self, PROTO_ERR_NOMEM, "out of memory");
    if (!admin_read_begin(self)) {
        free(rows);
        return admin_fail(self, PROTO_ERR_STORE, "cannot read the store");
    }
    size_t count =
        broker_stuck_find(broker_server_store(self->server), broker_server_directory(self->server),
                          before, rows, ADMIN_STUCK_MAX);
    admin_read_end(self);
    admin_reply_t reply;
    admin_ok(&reply);
    msgpack_pack_array(&reply.pk, count);
    for (size_t i = 0; i < count; i++) {
        const broker_stuck_t *row = &rows[i];
        char id[PROTO_ID_TEXT_LEN], accepted[32];
        proto_id_format(&row->id, id);
        admin_time_text(row->doc.accepted, accepted);
        msgpack_pack_map(&reply.pk, 6);
        admin_kv_str(&reply.pk, "id", id);
        admin_kv_str(&reply.pk, "recipient", row->recipient);
        admin_kv_str(&reply.pk, "from", row->doc.from);
        admin_kv_str(&reply.pk, "accepted", accepted);
        admin_kv_u64(&reply.pk, "waiting_s", (now - row->doc.accepted) / 1000);
        admin_kv_u64(&reply.pk, "urgency", row->doc.urgency);
    }
    free(rows);
    admin_send_reply(self, &reply);
}
