/*  tests/broker/test_broker_ops.c - integration tests of truc-broker's
    operations.

    A second program beside test_broker.c, on the same harness (harness.h):
    each test starts the real truc-broker on a fresh directory and drives it
    the way agents and an operator do, through tests/lib/truc_client.h and
    the real truc-admin. It covers what test_broker.c does not: status
    notices and recall, revoking documents, expiry, quotas, configured
    limits, suspending, reinstating and revoking agencies (with truc-admin
    and with an edited directory file and SIGHUP), truc-admin's answers,
    backups and the audit chain (damaged on disk with LMDB), unauthenticated
    hostile peers, the broker's memory with a slow consumer, and retention.

    Outcomes are checked on the wire, in truc-admin's JSON and on disk;
    never how fast anything happens. Waits poll with generous deadlines.

    Usage: test_broker_ops TRUC_BROKER TRUC_KEYS TRUC_ADMIN [TEST_NAME]
    (or TRUC_BROKER, TRUC_KEYS and TRUC_ADMIN in the environment). With
    TEST_NAME only that test runs; ctest registers each test on its own.
*/
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>
#include <sodium.h>
#include <zmq.h>

#include "admin_json.h"
#include "expect.h"
#include "harness.h"
#include "proto/sign.h"
#include "truc_client.h"

#define S_SUBJECT "Về việc thử nghiệm vận hành trục liên thông"
#define S_TYPE    "Công văn"
#define S_HUB     "hub"

static void s_id_text(const proto_id_t *id, char out[PROTO_ID_TEXT_LEN])
{
    proto_id_format(id, out);
}

static bool s_id_eq(const proto_id_t *x, const proto_id_t *y)
{
    return memcmp(x->bytes, y->bytes, PROTO_ID_LEN) == 0;
}

//  The state `truc-admin doc show` gives one recipient of a document.
static void s_doc_state(th_env_t *env, const proto_id_t *id, th_agency_t who, char *out, size_t len)
{
    char text[PROTO_ID_TEXT_LEN];
    s_id_text(id, text);
    th_json_t *json = th_admin_json(env, (const char *const[]){ "doc", "show", text, NULL }, 0);
    const th_json_t *rcpts = th_json_get(json, "recipients");
    snprintf(out, len, "(not listed)");
    for (size_t i = 0; rcpts && rcpts->type == TH_JSON_ARRAY && i < rcpts->count; i++)
        if (strcmp(th_json_text(rcpts->items[i], "agency"), th_code(who)) == 0)
            snprintf(out, len, "%s", th_json_text(rcpts->items[i], "state"));
    th_json_free(&json);
}

//  Require a recipient's state in `doc show` (a soft check).
static void s_expect_state(th_env_t *env, const proto_id_t *id, th_agency_t who, const char *want,
                           const char *what)
{
    char state[64];
    s_doc_state(env, id, who, state, sizeof state);
    th_soft(env, strcmp(state, want) == 0, "%s: doc show gives %s the state '%s', expected '%s'",
            what, th_code(who), state, want);
}

//  The events of `truc-admin audit show ID`, oldest first, as
//  ",accepted,delivered," (leading and trailing commas, for searching).
static void s_audit_events(th_env_t *env, const proto_id_t *id, char *out, size_t len)
{
    char text[PROTO_ID_TEXT_LEN];
    s_id_text(id, text);
    th_json_t *json = th_admin_json(env, (const char *const[]){ "audit", "show", text, NULL }, 0);
    th_check(json->type == TH_JSON_ARRAY, "audit show %s: not an array", text);
    size_t n = (size_t) snprintf(out, len, ",");
    uint64_t last_seq = 0;
    for (size_t i = 0; i < json->count && n < len; i++) {
        const th_json_t *entry = json->items[i];
        uint64_t seq = 0;
        th_check(th_json_uint(entry, "seq", &seq) && seq > last_seq,
                 "audit show %s: entry %zu has no seq or is out of order", text, i);
        last_seq = seq;
        th_check(strcmp(th_json_text(entry, "id"), text) == 0,
                 "audit show %s: entry %llu is about '%s'", text, (unsigned long long) seq,
                 th_json_text(entry, "id"));
        n += (size_t) snprintf(out + n, len - n, "%s,", th_json_text(entry, "event"));
    }
    th_json_free(&json);
}

//  True if ",a," occurs in list, and ",b," after it (b may be NULL).
static bool s_in_order(const char *list, const char *a, const char *b)
{
    char item[64];
    snprintf(item, sizeof item, ",%s,", a);
    const char *at = strstr(list, item);
    if (!at || !b)
        return at != NULL;
    snprintf(item, sizeof item, ",%s,", b);
    return strstr(at + 1, item) != NULL;
}

// ---------------------------------------------------------------------------
//  Documents, answers and deliveries

//  A document from `from` to nto agencies with natt random attachments of
//  size bytes each.
static truc_doc_t *s_doc(th_env_t *env, th_agency_t from, const th_agency_t *to, uint32_t nto,
                         uint32_t natt, size_t size)
{
    static const char *const names[] = { "cong-van.pdf", "phu-luc.pdf" };
    const char *codes[8];
    truc_att_t att[2];
    uint8_t *bytes[2] = { NULL, NULL };
    th_check(nto <= 8 && natt <= 2, "s_doc: at most 8 recipients and 2 attachments");
    for (uint32_t i = 0; i < nto; i++)
        codes[i] = th_code(to[i]);
    for (uint32_t i = 0; i < natt; i++) {
        bytes[i] = malloc(size + 1);
        th_check(bytes[i] != NULL, "out of memory");
        randombytes_buf(bytes[i], size);
        att[i] = (truc_att_t){ names[i], "application/pdf", bytes[i], size };
    }
    truc_doc_t *doc = truc_doc_build(env->agency[from], codes, nto, S_SUBJECT, S_TYPE,
                                     PROTO_URGENCY_NORMAL, att, natt);
    for (uint32_t i = 0; i < natt; i++)
        free(bytes[i]);
    th_check(doc != NULL, "truc_doc_build failed");
    return doc;
}

//  A REVOKE of the documents in refs (borrowed: must outlive the result).
static truc_doc_t *s_revoke_doc(th_env_t *env, th_agency_t from, const th_agency_t *to,
                                uint32_t nto, proto_id_t *refs, uint32_t nrefs)
{
    truc_doc_t *doc = s_doc(env, from, to, nto, 0, 0);
    proto_msg_t *msg = truc_doc_msg(doc);
    msg->kind = PROTO_KIND_REVOKE;
    msg->u.document.doc.op = PROTO_OP_REVOKE;
    msg->u.document.doc.op_reason = "Văn bản ban hành nhầm, đề nghị thu hồi";
    msg->u.document.doc.op_refs = refs;
    msg->u.document.doc.nop_refs = nrefs;
    th_check(truc_doc_sign(doc, env->agency[from]) == PROTO_OK, "cannot sign the REVOKE");
    return doc;
}

static void s_submit(truc_client_t *c, const truc_doc_t *doc)
{
    proto_err_t rc = truc_client_submit(c, doc);
    th_check(rc == PROTO_OK, "%s: submit: %s (%s)", truc_client_agency(c), proto_errname(rc),
             truc_client_error_text(c));
}

static void s_submit_ok(th_env_t *env, truc_client_t *c, const truc_doc_t *doc, const char *what)
{
    uint8_t hash[PROTO_HASH_LEN];
    th_check(truc_doc_hash(doc, hash) == PROTO_OK, "hash");
    s_submit(c, doc);
    proto_msg_t *msg = th_expect_accepted(env, c, truc_doc_id(doc), hash,
                                          truc_doc_cmsg(doc)->u.document.doc.from, what);
    proto_msg_destroy(&msg);
}

static void s_submit_refused(th_env_t *env, truc_client_t *c, const truc_doc_t *doc,
                             proto_err_t code, const char *what)
{
    uint8_t hash[PROTO_HASH_LEN];
    th_check(truc_doc_hash(doc, hash) == PROTO_OK, "hash");
    s_submit(c, doc);
    th_expect_rejected(env, c, truc_doc_id(doc), hash, code, what);
}

//  Require an ERROR with code on c (fatal: -1 either, 0 or 1 required).
static void s_expect_error(th_env_t *env, truc_client_t *c, proto_err_t code, int fatal,
                           const char *what)
{
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv_kind(c, PROTO_KIND_ERROR, TH_RECV_TIMEOUT_MS, &msg, NULL);
    char text[400];
    if (rc) {
        th_soft_fail(env, __FILE__, __LINE__, "%s: no ERROR %s: %s (%s)", what, proto_errname(code),
                     proto_errname(rc), truc_client_error_text(c));
        return;
    }
    th_soft(env, msg->u.error.code == (uint32_t) code, "%s: %s, expected ERROR %s", what,
            truc_msg_describe(msg, NULL, text, sizeof text), proto_errname(code));
    th_soft(env, fatal < 0 || msg->u.error.fatal == (fatal > 0), "%s: ERROR fatal=%d, expected %d",
            what, msg->u.error.fatal, fatal);
    proto_msg_destroy(&msg);
}

//  Listen for TH_QUIET_MS and require that no message of this kind (and no
//  ERROR) arrives; other kinds stay in the client's backlog.
static void s_none_of(th_env_t *env, truc_client_t *c, int kind, const char *what)
{
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv_kind(c, kind, TH_QUIET_MS, &msg, NULL);
    char text[400] = "";
    if (rc == PROTO_OK && kind == PROTO_KIND_DELIVER)
        s_id_text(&msg->u.document.doc.id, text);
    th_soft(env, rc == PROTO_ERR_TIMEOUT, "%s: %s received %s %s (%s)", what, truc_client_agency(c),
            rc ? proto_errname(rc) : proto_kind_name(kind), text, truc_client_error_text(c));
    proto_msg_destroy(&msg);
}

//  Receive n DELIVERs on c, each one of docs (no repeats) and intact: the
//  sender's signature verifies with its directory key, the attachments
//  match. With ack, acknowledge them all in one DELIVERED bundle.
static void s_take(th_env_t *env, truc_client_t *c, const truc_doc_t *const *docs, size_t n,
                   bool ack)
{
    proto_msg_t *msgs[16] = { NULL };
    truc_frames_t *frames[16] = { NULL };
    bool seen[16] = { false };
    th_check(n <= 16, "s_take: too many");
    for (size_t i = 0; i < n; i++) {
        proto_err_t rc =
            truc_client_recv_kind(c, PROTO_KIND_DELIVER, TH_RECV_TIMEOUT_MS, &msgs[i], &frames[i]);
        th_check(rc == PROTO_OK, "%s: DELIVER %zu of %zu missing: %s (%s)", truc_client_agency(c),
                 i + 1, n, proto_errname(rc), truc_client_error_text(c));
        const proto_document_t *got = &msgs[i]->u.document;
        char id[PROTO_ID_TEXT_LEN];
        s_id_text(&got->doc.id, id);
        size_t d = 0;
        while (d < n && !s_id_eq(&got->doc.id, truc_doc_id(docs[d])))
            d++;
        th_check(d < n, "%s received document %s, not one it was due", truc_client_agency(c), id);
        th_check(!seen[d], "%s received document %s twice", truc_client_agency(c), id);
        seen[d] = true;
        const proto_directory_entry_t *sender = proto_directory_find(env->dir, got->doc.from);
        th_check(sender && proto_doc_verify(&got->doc, sender->sign_pk, got->sig) == PROTO_OK,
                 "DELIVER %s: the sender's signature does not verify", id);
        th_check(truc_frames_count(frames[i]) == truc_doc_natt(docs[d]),
                 "DELIVER %s: %zu attachment frames for %u", id, truc_frames_count(frames[i]),
                 truc_doc_natt(docs[d]));
        for (uint32_t k = 0; k < truc_doc_natt(docs[d]); k++)
            th_check(truc_frames_size(frames[i], k) == truc_doc_att_len(docs[d], k) &&
                         memcmp(truc_frames_data(frames[i], k), truc_doc_att_data(docs[d], k),
                                truc_doc_att_len(docs[d], k)) == 0,
                     "DELIVER %s: attachment %u differs from what was sent", id, k);
    }
    if (ack && n) {
        proto_err_t rc = truc_client_ack_deliveries(c, env->dir, (const proto_msg_t *const *) msgs,
                                                    (const truc_frames_t *const *) frames, n);
        th_check(rc == PROTO_OK, "%s: DELIVERED: %s (%s)", truc_client_agency(c), proto_errname(rc),
                 truc_client_error_text(c));
    }
    for (size_t i = 0; i < n; i++) {
        proto_msg_destroy(&msgs[i]);
        truc_frames_destroy(&frames[i]);
    }
}

//  Receive routed DELIVERED bundles on c until each of docs has a receipt
//  from recipient; each verifies with the recipient's directory key; ACK.
static void s_collect_delivered(th_env_t *env, truc_client_t *c, const truc_doc_t *const *docs,
                                size_t n, th_agency_t recipient)
{
    bool seen[16] = { false };
    size_t missing = n;
    th_check(n <= 16, "s_collect_delivered: too many");
    const proto_directory_entry_t *signer = proto_directory_find(env->dir, th_code(recipient));
    th_check(signer != NULL, "%s is not in the directory", th_code(recipient));
    while (missing) {
        proto_msg_t *msg = NULL;
        proto_err_t rc =
            truc_client_recv_kind(c, PROTO_KIND_DELIVERED, TH_RECV_TIMEOUT_MS, &msg, NULL);
        th_check(rc == PROTO_OK, "%s: %zu delivery receipt(s) missing: %s (%s)",
                 truc_client_agency(c), missing, proto_errname(rc), truc_client_error_text(c));
        const proto_receipts_t *r = &msg->u.receipts;
        th_check(r->mid >= 1, "a routed DELIVERED without mid");
        if (strcmp(r->head.signer, th_code(recipient)) == 0) {
            rc = truc_receipts_verify(msg, signer->sign_pk);
            th_check(rc == PROTO_OK, "DELIVERED from %s does not verify with its key: %s",
                     r->head.signer, proto_errname(rc));
            for (uint32_t i = 0; i < r->nitems; i++)
                for (size_t d = 0; d < n; d++)
                    if (!seen[d] && s_id_eq(&r->items[i].leaf.id, truc_doc_id(docs[d]))) {
                        seen[d] = true;
                        missing--;
                    }
        }
        rc = truc_client_ack(c, &r->mid, 1);
        th_check(rc == PROTO_OK, "ACK: %s", proto_errname(rc));
        proto_msg_destroy(&msg);
    }
}

//  Receive EXPIRED bundles on c until each (docs[i], to[i]) has an item
//  with this event, the document's content hash and its sender; every
//  bundle is signed by the broker, verifies and carries a mid, which is
//  ACKed. timeout_ms bounds the whole wait.
static void s_collect_expired(th_env_t *env, truc_client_t *c, const truc_doc_t *const *docs,
                              const th_agency_t *to, size_t n, uint8_t event, int timeout_ms)
{
    bool seen[16] = { false };
    size_t missing = n;
    th_check(n <= 16, "s_collect_expired: too many");
    uint64_t deadline = truc_now_ms() + (uint64_t) timeout_ms;
    while (missing) {
        uint64_t now = truc_now_ms();
        th_check(now < deadline, "%s: %zu EXPIRED item(s) missing after %d ms",
                 truc_client_agency(c), missing, timeout_ms);
        proto_msg_t *msg = NULL;
        proto_err_t rc =
            truc_client_recv_kind(c, PROTO_KIND_EXPIRED, (int) (deadline - now), &msg, NULL);
        th_check(rc == PROTO_OK, "%s: waiting for EXPIRED (%zu item(s) missing): %s (%s)",
                 truc_client_agency(c), missing, proto_errname(rc), truc_client_error_text(c));
        const proto_receipts_t *r = &msg->u.receipts;
        th_check(r->mid >= 1, "EXPIRED without mid");
        th_check(strcmp(r->head.signer, S_HUB) == 0, "EXPIRED signed by '%s'", r->head.signer);
        rc = truc_receipts_verify(msg, th_hub_sign_pk(env));
        th_check(rc == PROTO_OK, "EXPIRED does not verify with the broker key: %s",
                 proto_errname(rc));
        for (uint32_t i = 0; i < r->nitems; i++) {
            const proto_leaf_t *leaf = &r->items[i].leaf;
            char id[PROTO_ID_TEXT_LEN];
            s_id_text(&leaf->id, id);
            size_t d = 0;
            while (d < n && !(s_id_eq(&leaf->id, truc_doc_id(docs[d])) && leaf->to &&
                              strcmp(leaf->to, th_code(to[d])) == 0))
                d++;
            if (d == n) {
                th_soft_fail(env, __FILE__, __LINE__, "EXPIRED item for %s to %s not expected", id,
                             leaf->to ? leaf->to : "(none)");
                continue;
            }
            uint8_t hash[PROTO_HASH_LEN];
            th_check(truc_doc_hash(docs[d], hash) == PROTO_OK, "hash");
            th_soft(env, leaf->event == event, "EXPIRED item for %s: event %u, expected %u", id,
                    leaf->event, event);
            th_soft(env, memcmp(leaf->hash, hash, PROTO_HASH_LEN) == 0,
                    "EXPIRED item for %s: hash is not the content hash", id);
            th_soft(env, strcmp(leaf->from, truc_client_agency(c)) == 0,
                    "EXPIRED item for %s: from %s", id, leaf->from);
            if (!seen[d]) {
                seen[d] = true;
                missing--;
            }
        }
        rc = truc_client_ack(c, &r->mid, 1);
        th_check(rc == PROTO_OK, "ACK: %s", proto_errname(rc));
        proto_msg_destroy(&msg);
    }
}

// ---------------------------------------------------------------------------
//  Status notices

typedef struct {
    proto_msg_t msg; // kind STATUS: the notice and its signature
    char note[128];  // msg's note points here: do not copy an s_notice_t
} s_notice_t;

static void s_notice_sign(th_env_t *env, s_notice_t *n, th_agency_t from)
{
    proto_err_t rc =
        proto_notice_sign(&n->msg.u.status.notice, env->agency[from], n->msg.u.status.sig);
    th_check(rc == PROTO_OK, "cannot sign a notice: %s", proto_errname(rc));
}

static void s_notice(th_env_t *env, s_notice_t *n, th_agency_t from, th_agency_t to,
                     const proto_id_t *doc, uint8_t code, const char *note)
{
    memset(n, 0, sizeof *n);
    n->msg.kind = PROTO_KIND_STATUS;
    proto_notice_t *notice = &n->msg.u.status.notice;
    proto_id_random(&notice->id);
    notice->doc = *doc;
    notice->from = th_code(from);
    notice->to = th_code(to);
    notice->code = code;
    notice->time = truc_now_ms();
    snprintf(n->note, sizeof n->note, "%s", note);
    notice->note = n->note;
    notice->staff.name = "Trần Thị Văn Thư";
    notice->staff.department = "Văn phòng";
    s_notice_sign(env, n, from);
}

static void s_notice_send(truc_client_t *c, const s_notice_t *n, uint8_t hash[PROTO_HASH_LEN])
{
    th_check(proto_notice_hash(&n->msg.u.status.notice, hash) == PROTO_OK, "notice hash");
    proto_err_t rc = truc_client_send(c, &n->msg, NULL, NULL, 0);
    th_check(rc == PROTO_OK, "%s: STATUS: %s (%s)", truc_client_agency(c), proto_errname(rc),
             truc_client_error_text(c));
}

static void s_status_ok(th_env_t *env, truc_client_t *c, const s_notice_t *n, const char *what)
{
    uint8_t hash[PROTO_HASH_LEN];
    s_notice_send(c, n, hash);
    proto_msg_t *msg = th_expect_accepted(env, c, &n->msg.u.status.notice.id, hash,
                                          n->msg.u.status.notice.from, what);
    proto_msg_destroy(&msg);
}

static void s_status_refused(th_env_t *env, truc_client_t *c, const s_notice_t *n, proto_err_t code,
                             const char *what)
{
    uint8_t hash[PROTO_HASH_LEN];
    s_notice_send(c, n, hash);
    th_expect_rejected(env, c, &n->msg.u.status.notice.id, hash, code, what);
}

static bool s_match_notice(const proto_msg_t *msg, void *arg)
{
    return msg->kind == PROTO_KIND_ERROR ||
           (msg->kind == PROTO_KIND_STATUS && s_id_eq(&msg->u.status.notice.id, arg));
}

//  Require that c receives the notice n, routed: with a mid, the notice
//  exactly as its sender signed it, the signature valid with the sender's
//  directory key. ACK it.
static void s_status_routed(th_env_t *env, truc_client_t *c, const s_notice_t *n, const char *what)
{
    const proto_notice_t *sent = &n->msg.u.status.notice;
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv_match(c, TH_RECV_TIMEOUT_MS, s_match_notice,
                                            (void *) (uintptr_t) &sent->id, &msg, NULL);
    char text[400];
    th_check(rc == PROTO_OK && msg->kind == PROTO_KIND_STATUS, "%s: %s expected STATUS, got %s",
             what, truc_client_agency(c),
             rc ? proto_errname(rc) : truc_msg_describe(msg, NULL, text, sizeof text));
    const proto_status_t *got = &msg->u.status;
    const proto_notice_t *notice = &got->notice;
    th_soft(env, got->mid >= 1, "%s: routed STATUS without mid", what);
    th_soft(env,
            s_id_eq(&notice->doc, &sent->doc) && strcmp(notice->from, sent->from) == 0 &&
                strcmp(notice->to, sent->to) == 0 && notice->code == sent->code &&
                notice->time == sent->time && notice->note && strcmp(notice->note, sent->note) == 0,
            "%s: the routed notice differs from the one sent", what);
    const proto_directory_entry_t *sender = proto_directory_find(env->dir, notice->from);
    th_check(sender != NULL, "%s: notice from unknown %s", what, notice->from);
    th_soft(env, proto_notice_verify(notice, sender->sign_pk, got->sig) == PROTO_OK,
            "%s: the notice signature does not verify with %s's key", what, notice->from);
    if (got->mid) {
        rc = truc_client_ack(c, &got->mid, 1);
        th_check(rc == PROTO_OK, "ACK: %s", proto_errname(rc));
    }
    proto_msg_destroy(&msg);
}

// ---------------------------------------------------------------------------
//  1. STATUS routing and authorization, recall

static void test_status_routing(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    truc_client_t *c = th_connect(env, TH_C, 16, NULL);
    const th_agency_t to_bc[] = { TH_B, TH_C }, to_b[] = { TH_B };
    truc_doc_t *x = s_doc(env, TH_A, to_bc, 2, 1, 700);
    truc_doc_t *y = s_doc(env, TH_A, to_b, 1, 0, 0);
    s_submit_ok(env, a, x, "X to B and C");
    s_submit_ok(env, a, y, "Y to B");
    const truc_doc_t *xy[] = { x, y };
    s_take(env, b, xy, 2, true);
    s_take(env, c, xy, 1, true);
    const proto_id_t *xid = truc_doc_id(x);

    //  B tells the sender: arrived (01), registered (03).
    s_notice_t n01, n03, bad;
    s_notice(env, &n01, TH_B, TH_A, xid, 1, "Đã đến");
    s_notice(env, &n03, TH_B, TH_A, xid, 3, "Đã tiếp nhận, số đến 125");
    s_status_ok(env, b, &n01, "B's 01 to A");
    s_status_ok(env, b, &n03, "B's 03 to A");
    s_status_routed(env, a, &n01, "B's 01 at A");
    s_status_routed(env, a, &n03, "B's 03 at A");
    //  Acknowledged means gone: A's next session does not get them again.
    th_check(truc_client_ping(a, TH_RECV_TIMEOUT_MS) == PROTO_OK, "ping: %s",
             truc_client_error_text(a));
    th_drop(env, &a);
    a = th_connect(env, TH_A, 16, NULL);
    s_none_of(env, a, PROTO_KIND_STATUS, "after ACK, A's new session");

    //  Parties and directions.
    s_notice(env, &bad, TH_C, TH_A, truc_doc_id(y), 1, "C về văn bản không gửi cho C");
    s_status_refused(env, c, &bad, PROTO_ERR_NOT_AUTHORIZED, "C's 01 about a document to B only");
    s_notice(env, &bad, TH_B, TH_C, xid, 1, "B gửi cho C");
    s_status_refused(env, b, &bad, PROTO_ERR_NOT_AUTHORIZED, "B's 01 to C, another recipient");
    s_notice(env, &bad, TH_A, TH_B, xid, 3, "A tự báo đã tiếp nhận");
    s_status_refused(env, a, &bad, PROTO_ERR_NOT_AUTHORIZED, "the sender's 03 to a recipient");
    proto_id_t unknown;
    proto_id_random(&unknown);
    s_notice(env, &bad, TH_B, TH_A, &unknown, 1, "Văn bản không tồn tại");
    s_status_refused(env, b, &bad, PROTO_ERR_UNKNOWN_DOC, "01 about an unknown document");

    //  Recall: an answer needs a request of that recipient first.
    s_notice(env, &bad, TH_B, TH_A, xid, 15, "Đồng ý lấy lại");
    s_status_refused(env, b, &bad, PROTO_ERR_BAD_STATE, "B's 15 without a 13");
    s_notice_t r13, r16;
    s_notice(env, &r13, TH_A, TH_B, xid, 13, "Đề nghị lấy lại văn bản");
    s_status_ok(env, a, &r13, "A's 13 to B");
    s_status_routed(env, b, &r13, "A's 13 at B");
    s_notice(env, &bad, TH_C, TH_A, xid, 15, "C đồng ý lấy lại");
    s_status_refused(env, c, &bad, PROTO_ERR_BAD_STATE, "C's 15: the 13 went to B, not C");
    s_notice(env, &r16, TH_B, TH_A, xid, 16, "Từ chối lấy lại: đã phân công xử lý");
    s_status_ok(env, b, &r16, "B's 16 after A's 13");
    s_status_routed(env, a, &r16, "B's 16 at A");

    //  Notice ids: the same notice again is answered as before and not
    //  routed twice; the same id with other content is refused.
    s_status_ok(env, b, &n01, "B's 01 sent again");
    s_none_of(env, a, PROTO_KIND_STATUS, "after B's 01 was sent again");
    s_notice(env, &bad, TH_B, TH_A, xid, 1, "Đã đến (nội dung khác)");
    bad.msg.u.status.notice.id = n01.msg.u.status.notice.id;
    s_notice_sign(env, &bad, TH_B);
    s_status_refused(env, b, &bad, PROTO_ERR_DUPLICATE_ID, "01's notice id with other content");

    char events[1024];
    s_audit_events(env, xid, events, sizeof events);
    th_soft(env, s_in_order(events, "accepted", "status"),
            "audit show X: no status entries after the acceptance: %s", events);
    truc_doc_destroy(&x);
    truc_doc_destroy(&y);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  2. REVOKE

static void test_revoke(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    truc_client_t *e = th_connect(env, TH_E, 16, NULL);
    const th_agency_t to_bc[] = { TH_B, TH_C }, to_b[] = { TH_B };
    truc_doc_t *x = s_doc(env, TH_A, to_bc, 2, 1, 2000);
    s_submit_ok(env, a, x, "X to B and C");
    const truc_doc_t *only_x[] = { x };
    s_take(env, b, only_x, 1, true);
    s_collect_delivered(env, a, only_x, 1, TH_B);

    //  C is offline; A revokes X.
    proto_id_t refs[1] = { *truc_doc_id(x) };
    truc_doc_t *r = s_revoke_doc(env, TH_A, to_bc, 2, refs, 1);
    s_submit_ok(env, a, r, "REVOKE of X");
    const truc_doc_t *only_r[] = { r };
    s_take(env, b, only_r, 1, true);

    truc_client_t *c = th_connect(env, TH_C, 16, NULL);
    s_take(env, c, only_r, 1, true);
    s_none_of(env, c, PROTO_KIND_DELIVER, "after the REVOKE, the revoked X");
    s_expect_state(env, truc_doc_id(x), TH_C, "revoked", "X at C");
    s_expect_state(env, truc_doc_id(x), TH_B, "delivered", "X at B");
    char text[PROTO_ID_TEXT_LEN];
    s_id_text(truc_doc_id(x), text);
    th_json_t *json = th_admin_json(env, (const char *const[]){ "doc", "show", text, NULL }, 0);
    th_soft(env, th_json_flag(json, "revoked") == 1, "doc show X: revoked is not true");
    th_json_free(&json);
    char events[1024];
    s_audit_events(env, truc_doc_id(x), events, sizeof events);
    print_message("audit of X: %s\n", events);
    th_soft(env, s_in_order(events, "accepted", "delivered"), "audit show X: %s", events);
    //  The design keeps "a hash-chained audit log of every event" and its
    //  event list has `revoke`: X's revocation (C's delivery ended) belongs
    //  to X's history.
    th_soft(env, s_in_order(events, "revoke", NULL),
            "audit show X: no 'revoke' entry for the revocation of X: %s", events);

    //  Another agency's document, an unknown one, a revoked one.
    truc_doc_t *z = s_doc(env, TH_E, to_b, 1, 0, 0);
    s_submit_ok(env, e, z, "Z from E");
    proto_id_t refs_z[1] = { *truc_doc_id(z) };
    truc_doc_t *r_other = s_revoke_doc(env, TH_A, to_b, 1, refs_z, 1);
    s_submit_refused(env, a, r_other, PROTO_ERR_NOT_AUTHORIZED, "REVOKE of E's document by A");
    proto_id_t refs_unknown[1];
    proto_id_random(&refs_unknown[0]);
    truc_doc_t *r_unknown = s_revoke_doc(env, TH_A, to_b, 1, refs_unknown, 1);
    s_submit_refused(env, a, r_unknown, PROTO_ERR_UNKNOWN_DOC, "REVOKE of an unknown id");
    truc_doc_t *r_again = s_revoke_doc(env, TH_A, to_bc, 2, refs, 1);
    s_submit_refused(env, a, r_again, PROTO_ERR_REVOKED, "second REVOKE of X");
    //  E's document itself still reaches B.
    const truc_doc_t *only_z[] = { z };
    s_take(env, b, only_z, 1, true);

    truc_doc_t *all[] = { x, r, z, r_other, r_unknown, r_again };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        truc_doc_destroy(&all[i]);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  3. Expiry

static void test_expiry(void **state)
{
    th_env_t *env = *state;
    const char *sets[] = { "store.ttl=2s", NULL };
    th_broker_start(env, sets);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    const th_agency_t to_b[] = { TH_B };
    truc_doc_t *x = s_doc(env, TH_A, to_b, 1, 1, 1500);
    s_submit_ok(env, a, x, "X to offline B");
    const truc_doc_t *docs[] = { x };
    s_collect_expired(env, a, docs, to_b, 1, PROTO_EVENT_EXPIRED, 30000);

    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    s_none_of(env, b, PROTO_KIND_DELIVER, "B connecting after X expired");
    s_expect_state(env, truc_doc_id(x), TH_B, "expired", "X at B");
    char events[1024];
    s_audit_events(env, truc_doc_id(x), events, sizeof events);
    th_soft(env, s_in_order(events, "accepted", "expired"), "audit show X: %s", events);
    //  Acknowledged: A's next session does not get the EXPIRED again.
    th_check(truc_client_ping(a, TH_RECV_TIMEOUT_MS) == PROTO_OK, "ping: %s",
             truc_client_error_text(a));
    th_drop(env, &a);
    a = th_connect(env, TH_A, 16, NULL);
    s_none_of(env, a, PROTO_KIND_EXPIRED, "after ACK, A's new session");
    truc_doc_destroy(&x);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  4. Quota of waiting documents

static void test_quota(void **state)
{
    th_env_t *env = *state;
    const char *sets[] = { "limits.quota_documents=3", NULL };
    th_broker_start(env, sets);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    const th_agency_t to_b[] = { TH_B };
    truc_doc_t *docs[6];
    for (int i = 0; i < 6; i++)
        docs[i] = s_doc(env, TH_A, to_b, 1, 1, 300 + (size_t) i);
    for (int i = 0; i < 3; i++)
        s_submit_ok(env, a, docs[i], "one of 3 to offline B");
    s_submit_refused(env, a, docs[3], PROTO_ERR_QUOTA, "a 4th waiting document");

    //  B, window 1, takes the oldest and acknowledges it: one place frees up.
    truc_client_t *b = th_connect(env, TH_B, 1, NULL);
    const truc_doc_t *first[] = { docs[0] };
    s_take(env, b, first, 1, true);
    s_collect_delivered(env, a, first, 1, TH_B);

    s_submit_ok(env, a, docs[4], "after B acknowledged one");
    s_submit_refused(env, a, docs[5], PROTO_ERR_QUOTA, "again 3 waiting");
    //  The refused document was never stored: the 4th is refused for
    //  quota again, not answered as a duplicate.
    s_submit_refused(env, a, docs[3], PROTO_ERR_QUOTA, "the 4th again");
    for (int i = 0; i < 6; i++)
        truc_doc_destroy(&docs[i]);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  4b. Notice limits: per document from one agency to another, and per
//  agency per minute. Refused notices are not stored, routed or listed at
//  the document's sender; a repeat of an accepted notice is not refused.

//  Entries among the last 50 of the audit chain whose detail holds text.
static size_t s_audit_recent(th_env_t *env, const char *agency, const char *text)
{
    th_json_t *json = th_admin_json(env, (const char *const[]){ "audit", "show", NULL }, 0);
    size_t n = 0;
    for (size_t i = 0; json->type == TH_JSON_ARRAY && i < json->count; i++)
        n += strcmp(th_json_text(json->items[i], "agency"), agency) == 0 &&
             strstr(th_json_text(json->items[i], "detail"), text) != NULL;
    th_json_free(&json);
    return n;
}

static void test_notice_limits(void **state)
{
    th_env_t *env = *state;
    const char *sets[] = { "limits.notices_per_document=3", "limits.notices_per_minute=8", NULL };
    th_broker_start(env, sets);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    truc_client_t *c = th_connect(env, TH_C, 16, NULL);
    const th_agency_t to_bc[] = { TH_B, TH_C }, to_c[] = { TH_C };
    truc_doc_t *x = s_doc(env, TH_A, to_bc, 2, 0, 0);
    s_submit_ok(env, a, x, "X to B and C");
    truc_doc_t *more[3];
    for (int i = 0; i < 3; i++) {
        more[i] = s_doc(env, TH_A, to_c, 1, 0, 0);
        s_submit_ok(env, a, more[i], "another document to C");
    }
    const truc_doc_t *only_x[] = { x };
    s_take(env, b, only_x, 1, true);
    const truc_doc_t *for_c[] = { x, more[0], more[1], more[2] };
    s_take(env, c, for_c, 4, true);
    s_collect_delivered(env, a, only_x, 1, TH_B);

    //  Per document: three notices from B to A about X, then ERR_QUOTA.
    static s_notice_t nb[5];
    static const uint8_t codes[] = { 1, 3, 4, 5, 6 };
    for (int i = 0; i < 3; i++) {
        s_notice(env, &nb[i], TH_B, TH_A, truc_doc_id(x), codes[i], "theo dõi");
        s_status_ok(env, b, &nb[i], "one of B's three notices about X");
        s_status_routed(env, a, &nb[i], "one of B's three notices about X, at A");
    }
    s_notice(env, &nb[3], TH_B, TH_A, truc_doc_id(x), codes[3], "một lần nữa");
    s_status_refused(env, b, &nb[3], PROTO_ERR_QUOTA, "B's 4th notice about X");
    s_status_ok(env, b, &nb[0], "B's first notice again (a repeat is not refused)");
    s_none_of(env, a, PROTO_KIND_STATUS, "A after B's refused 4th notice");
    //  Another agency's notices about X are counted apart.
    static s_notice_t nc[8];
    uint64_t window_opened = truc_now_ms();
    s_notice(env, &nc[0], TH_C, TH_A, truc_doc_id(x), 1, "đã đến");
    s_status_ok(env, c, &nc[0], "C's first notice about X");

    //  Per minute: C may send 8 (across documents); the 9th and 10th are
    //  refused with ERR_RATE; only the first refusal has its own audit entry.
    int sent = 1;
    for (int d = 0; d < 3; d++)
        for (int k = 0; k < 2 && sent < 8; k++, sent++) {
            s_notice(env, &nc[sent], TH_C, TH_A, truc_doc_id(more[d]), codes[k], "xử lý");
            s_status_ok(env, c, &nc[sent], "one of C's 8 notices in a minute");
        }
    th_check(sent == 7, "the test sends 7 here");
    s_notice(env, &nc[7], TH_C, TH_A, truc_doc_id(more[2]), 4, "xử lý");
    s_status_ok(env, c, &nc[7], "C's 8th notice in a minute");
    static s_notice_t over[3];
    for (int i = 0; i < 3; i++) {
        s_notice(env, &over[i], TH_C, TH_A, truc_doc_id(more[i]), 6, "quá nhiều");
        s_status_refused(env, c, &over[i], PROTO_ERR_RATE, "C's notice over the minute's limit");
    }
    th_soft(env, s_audit_recent(env, th_code(TH_C), "ERR_RATE") == 1,
            "one audit entry for C's first notice over the rate, expected exactly one");
    //  The other two are summed in one entry when the minute ends, and after
    //  it C may send again.
    for (int waited = 0; waited < 90000; waited += 500) {
        if (s_audit_recent(env, th_code(TH_C), "2 more notices refused") > 0)
            break;
        th_sleep_ms(500);
    }
    th_soft(env, s_audit_recent(env, th_code(TH_C), "2 more notices refused") == 1,
            "no audit entry summing C's 2 further refusals within 90 s");
    uint64_t since = truc_now_ms() - window_opened;
    if (since < 61000)
        th_sleep_ms((int) (61000 - since)); // a minute since C's window opened, for certain
    s_status_ok(env, c, &over[0], "C's refused notice again, in a new minute");
    for (int d = 0; d < 3; d++)
        truc_doc_destroy(&more[d]);
    truc_doc_destroy(&x);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  5. Configured limits

static void test_limits(void **state)
{
    th_env_t *env = *state;
    const char *sets[] = { "limits.max_recipients=2", "limits.max_document=4096", NULL };
    th_broker_start(env, sets);
    proto_msg_t *ready = NULL;
    truc_client_t *a = th_connect(env, TH_A, 16, &ready);
    th_soft(env, ready->u.ready.max_recipients == 2 && ready->u.ready.max_document == 4096,
            "READY announces max_recipients %u and max_document %llu, configured 2 and 4096",
            ready->u.ready.max_recipients, (unsigned long long) ready->u.ready.max_document);
    proto_msg_destroy(&ready);
    const th_agency_t three[] = { TH_B, TH_C, TH_D };
    truc_doc_t *wide = s_doc(env, TH_A, three, 3, 0, 0);
    s_submit_refused(env, a, wide, PROTO_ERR_LIMIT, "3 recipients, limit 2");
    //  D and E: nobody that the second half of this test listens to.
    const th_agency_t de[] = { TH_D, TH_E };
    truc_doc_t *two = s_doc(env, TH_A, de, 2, 1, 2000);
    s_submit_ok(env, a, two, "2 recipients, 2000 bytes");
    truc_doc_t *big = s_doc(env, TH_A, three, 1, 2, 2100);
    s_submit_refused(env, a, big, PROTO_ERR_TOO_LARGE, "4200 bytes of attachments, limit 4096");
    th_drop(env, &a);
    th_broker_stop(env);

    //  A frame over max_frame never reaches the broker's logic: libzmq
    //  drops the connection (ZMQ_MAXMSGSIZE).
    const char *frame_sets[] = { "limits.max_frame=65536", NULL };
    th_broker_start(env, frame_sets);
    a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    truc_client_t *c = th_connect(env, TH_C, 16, NULL);
    const th_agency_t to_b[] = { TH_B };
    truc_doc_t *fits = s_doc(env, TH_C, to_b, 1, 1, 60000);
    s_submit_ok(env, c, fits, "a 60000-byte attachment, max_frame 65536");
    truc_doc_t *huge = s_doc(env, TH_C, to_b, 1, 1, 1u << 20);
    s_submit(c, huge);
    proto_msg_t *msg = th_answer(c, truc_doc_id(huge), 3000);
    char text[400];
    th_soft(env, msg == NULL, "a 1 MiB frame, max_frame 64 KiB: answered with %s, expected nothing",
            truc_msg_describe(msg, truc_doc_id(huge), text, sizeof text));
    proto_msg_destroy(&msg);
    //  The connection was dropped: a HELLO now opens a new session (on the
    //  old one it would be ERR_UNEXPECTED).
    proto_err_t rc = truc_client_hello(c, TH_RECV_TIMEOUT_MS, NULL);
    th_soft(env, rc == PROTO_OK,
            "after the oversized frame, HELLO got %s (%s): the connection was not dropped",
            proto_errname(rc), truc_client_error_text(c));
    //  The broker serves everyone, C included.
    const truc_doc_t *b_docs[] = { fits, NULL, NULL };
    truc_doc_t *after = s_doc(env, TH_A, to_b, 1, 1, 5000);
    s_submit_ok(env, a, after, "A after C's oversized frame");
    b_docs[1] = after;
    truc_doc_t *again = NULL;
    if (rc == PROTO_OK) {
        again = s_doc(env, TH_C, to_b, 1, 1, 100);
        s_submit_ok(env, c, again, "C's new session");
        b_docs[2] = again;
    }
    s_take(env, b, b_docs, again ? 3 : 2, true);
    s_none_of(env, b, PROTO_KIND_DELIVER, "B after the documents that were accepted");
    th_check(th_running(env, th_current(env)), "truc-broker died");
    truc_doc_t *all[] = { wide, two, big, fits, huge, after, again };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        truc_doc_destroy(&all[i]);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  6. Agencies: suspend and reinstate, revoke, and the same by SIGHUP

//  truc-admin agency VERB CODE: exit status want; on success the answer
//  names the agency and the state.
static void s_agency_verb(th_env_t *env, const char *verb, th_agency_t who, int want,
                          const char *state)
{
    th_json_t *json =
        th_admin_json(env, (const char *const[]){ "agency", verb, th_code(who), NULL }, want);
    if (want == 0)
        th_soft(env,
                strcmp(th_json_text(json, "agency"), th_code(who)) == 0 &&
                    strcmp(th_json_text(json, "state"), state) == 0,
                "agency %s %s: the answer does not say %s %s", verb, th_code(who), th_code(who),
                state);
    else
        th_soft(env, th_json_flag(json, "ok") == 0 && *th_json_text(json, "error"),
                "agency %s %s: a refusal without ok=false and a reason", verb, th_code(who));
    th_json_free(&json);
}

//  An agency's entry in `truc-admin agencies`: state, connected, waiting.
static void s_agency_row(th_env_t *env, th_agency_t who, char *state, size_t len, int *connected,
                         uint64_t *waiting)
{
    th_json_t *json = th_admin_json(env, (const char *const[]){ "agencies", NULL }, 0);
    th_check(json->type == TH_JSON_ARRAY, "agencies: not an array");
    snprintf(state, len, "(not listed)");
    *connected = -1;
    *waiting = UINT64_MAX;
    for (size_t i = 0; i < json->count; i++) {
        const th_json_t *row = json->items[i];
        if (strcmp(th_json_text(row, "code"), th_code(who)) != 0)
            continue;
        snprintf(state, len, "%s", th_json_text(row, "state"));
        *connected = th_json_flag(row, "connected");
        th_json_uint(row, "waiting", waiting);
    }
    th_json_free(&json);
}

//  A new connection of an agency that must be refused at the handshake:
//  its HELLO never gets READY (or anything else).
static void s_refused_at_handshake(th_env_t *env, th_agency_t who, const char *what)
{
    truc_client_t *c = th_client(env, who, 4);
    proto_err_t rc = truc_client_hello(c, 3000, NULL);
    th_soft(env, rc == PROTO_ERR_TIMEOUT, "%s: a new connection of %s: HELLO got %s (%s)", what,
            th_code(who), rc ? proto_errname(rc) : "READY", truc_client_error_text(c));
    //  Dropped now, so that it does not come back once the agency may.
    th_drop(env, &c);
}

static void test_suspend(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 4, NULL);
    const th_agency_t to_b[] = { TH_B }, to_c[] = { TH_C };
    truc_doc_t *w1 = s_doc(env, TH_A, to_b, 1, 1, 900);
    s_submit_ok(env, a, w1, "W1 to B");
    const truc_doc_t *only_w1[] = { w1 };
    s_take(env, b, only_w1, 1, false); // pushed, not acknowledged

    s_agency_verb(env, "suspend", TH_B, 0, "suspended");
    s_expect_error(env, b, PROTO_ERR_AGENCY_SUSPENDED, 1, "B's session when B is suspended");
    th_drop(env, &b);
    s_refused_at_handshake(env, TH_B, "suspended");
    truc_doc_t *w2 = s_doc(env, TH_A, to_b, 1, 0, 0);
    s_submit_refused(env, a, w2, PROTO_ERR_AGENCY_SUSPENDED, "a document to suspended B");
    truc_doc_t *w3 = s_doc(env, TH_A, to_c, 1, 0, 0);
    s_submit_ok(env, a, w3, "a document to C while B is suspended");
    s_expect_state(env, truc_doc_id(w1), TH_B, "waiting", "W1 while B is suspended");
    char st[64];
    int connected;
    uint64_t waiting;
    s_agency_row(env, TH_B, st, sizeof st, &connected, &waiting);
    th_soft(env, strcmp(st, "suspended") == 0 && connected == 0 && waiting == 1,
            "agencies: B is %s, connected %d, waiting %llu; expected suspended, 0, 1", st,
            connected, (unsigned long long) waiting);

    s_agency_verb(env, "reinstate", TH_B, 0, "active");
    b = th_connect(env, TH_B, 4, NULL);
    s_take(env, b, only_w1, 1, true);
    s_none_of(env, b, PROTO_KIND_DELIVER, "B reinstated, after W1");
    s_collect_delivered(env, a, only_w1, 1, TH_B);
    s_expect_state(env, truc_doc_id(w1), TH_B, "delivered", "W1 after B was reinstated");
    truc_doc_destroy(&w1);
    truc_doc_destroy(&w2);
    truc_doc_destroy(&w3);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

static void test_agency_revoke(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *e = th_connect(env, TH_E, 16, NULL);
    const th_agency_t to_c[] = { TH_C }, to_bc[] = { TH_B, TH_C };
    truc_doc_t *y1 = s_doc(env, TH_A, to_c, 1, 1, 100);
    truc_doc_t *y2 = s_doc(env, TH_A, to_bc, 2, 1, 200);
    truc_doc_t *y3 = s_doc(env, TH_E, to_c, 1, 1, 300);
    s_submit_ok(env, a, y1, "Y1 to C");
    s_submit_ok(env, a, y2, "Y2 to B and C");
    s_submit_ok(env, e, y3, "Y3 from E to C");

    s_agency_verb(env, "revoke", TH_C, 0, "revoked");
    const truc_doc_t *from_a[] = { y1, y2 }, *from_e[] = { y3 };
    const th_agency_t cc[] = { TH_C, TH_C };
    s_collect_expired(env, a, from_a, cc, 2, PROTO_EVENT_RETURNED, TH_RECV_TIMEOUT_MS);
    s_collect_expired(env, e, from_e, cc, 1, PROTO_EVENT_RETURNED, TH_RECV_TIMEOUT_MS);
    s_expect_state(env, truc_doc_id(y2), TH_C, "returned", "Y2 at revoked C");
    s_expect_state(env, truc_doc_id(y2), TH_B, "waiting", "Y2 at B");
    char events[1024];
    s_audit_events(env, truc_doc_id(y1), events, sizeof events);
    th_soft(env, s_in_order(events, "accepted", "returned"), "audit show Y1: %s", events);

    truc_doc_t *y4 = s_doc(env, TH_A, to_c, 1, 0, 0);
    s_submit_refused(env, a, y4, PROTO_ERR_AGENCY_REVOKED, "a document to revoked C");
    s_refused_at_handshake(env, TH_C, "revoked");
    //  Revocation is final.
    s_agency_verb(env, "reinstate", TH_C, 2, NULL);
    s_refused_at_handshake(env, TH_C, "revoked, after a refused reinstate");
    //  B still gets its copy of Y2.
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    const truc_doc_t *only_y2[] = { y2 };
    s_take(env, b, only_y2, 1, true);
    truc_doc_t *all[] = { y1, y2, y3, y4 };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        truc_doc_destroy(&all[i]);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

//  Change agencies' states in the directory file as an operator would with
//  an editor (through the proto library), not through the broker.
static void s_directory_edit(th_env_t *env, const th_agency_t *who,
                             const proto_directory_state_t *states, size_t n)
{
    char err[256] = "";
    proto_directory_t *dir = NULL;
    proto_err_t rc = proto_directory_load(env->dirfile, &dir, err, sizeof err);
    th_check(rc == PROTO_OK, "load %s: %s %s", env->dirfile, proto_errname(rc), err);
    for (size_t i = 0; i < n && !rc; i++)
        rc = proto_directory_set_state(dir, th_code(who[i]), states[i]);
    if (!rc)
        rc = proto_directory_save(dir, env->dirfile, err, sizeof err);
    proto_directory_destroy(&dir);
    th_check(rc == PROTO_OK, "edit %s: %s %s", env->dirfile, proto_errname(rc), err);
}

static void test_sighup(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *d = th_connect(env, TH_D, 4, NULL);
    const th_agency_t to_d[] = { TH_D }, to_e[] = { TH_E };
    truc_doc_t *v1 = s_doc(env, TH_A, to_d, 1, 1, 400);
    truc_doc_t *v2 = s_doc(env, TH_A, to_e, 1, 1, 500);
    s_submit_ok(env, a, v1, "V1 to D");
    s_submit_ok(env, a, v2, "V2 to offline E");
    const truc_doc_t *only_v1[] = { v1 };
    s_take(env, d, only_v1, 1, false);

    //  D suspended and E revoked in the file, then SIGHUP.
    const th_agency_t who[] = { TH_D, TH_E };
    const proto_directory_state_t states[] = { PROTO_DIRECTORY_SUSPENDED, PROTO_DIRECTORY_REVOKED };
    s_directory_edit(env, who, states, 2);
    th_check(kill(env->pid, SIGHUP) == 0, "kill SIGHUP");
    s_expect_error(env, d, PROTO_ERR_AGENCY_SUSPENDED, 1, "D's session after SIGHUP");
    th_drop(env, &d);
    const truc_doc_t *only_v2[] = { v2 };
    s_collect_expired(env, a, only_v2, to_e, 1, PROTO_EVENT_RETURNED, TH_RECV_TIMEOUT_MS);
    truc_doc_t *v3 = s_doc(env, TH_A, to_d, 1, 0, 0);
    s_submit_refused(env, a, v3, PROTO_ERR_AGENCY_SUSPENDED,
                     "a document to D, suspended by SIGHUP");
    truc_doc_t *v4 = s_doc(env, TH_A, to_e, 1, 0, 0);
    s_submit_refused(env, a, v4, PROTO_ERR_AGENCY_REVOKED, "a document to E, revoked by SIGHUP");
    s_refused_at_handshake(env, TH_D, "suspended by SIGHUP");
    s_expect_state(env, truc_doc_id(v1), TH_D, "waiting", "V1 while D is suspended");
    s_expect_state(env, truc_doc_id(v2), TH_E, "returned", "V2 after E was revoked");

    //  D active again in the file; the reload shows in `agencies`.
    const proto_directory_state_t active[] = { PROTO_DIRECTORY_ACTIVE };
    s_directory_edit(env, who, active, 1);
    th_check(kill(env->pid, SIGHUP) == 0, "kill SIGHUP");
    char st[64] = "";
    int connected;
    uint64_t waiting;
    for (int waited = 0; waited < TH_RECV_TIMEOUT_MS; waited += 100) {
        s_agency_row(env, TH_D, st, sizeof st, &connected, &waiting);
        if (strcmp(st, "active") == 0)
            break;
        th_sleep_ms(100);
    }
    th_check(strcmp(st, "active") == 0, "D is still %s %d ms after SIGHUP", st, TH_RECV_TIMEOUT_MS);
    d = th_connect(env, TH_D, 4, NULL);
    s_take(env, d, only_v1, 1, true);
    s_collect_delivered(env, a, only_v1, 1, TH_D);
    truc_doc_t *all[] = { v1, v2, v3, v4 };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        truc_doc_destroy(&all[i]);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

//  Key rotation: truc-keys gives A a new key in the directory file and the
//  broker reloads it. A's session with the old key ends, the old key is
//  refused at the handshake, the new key connects and its documents are
//  accepted and delivered.
static void test_rekey(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *d = th_connect(env, TH_D, 4, NULL);

    proto_identity_t *fresh = proto_identity_generate(PROTO_ROLE_AGENCY, th_code(TH_A));
    th_check(fresh != NULL, "a new identity for A");
    char pub_path[TH_PATH_MAX + 32], out[4096];
    snprintf(pub_path, sizeof pub_path, "%s/a-new.public", env->root);
    proto_err_t rc = proto_public_save(proto_identity_public(fresh), pub_path, false);
    th_check(rc == PROTO_OK, "save %s: %s", pub_path, proto_errname(rc));
    const char *argv[] = {
        th_keys_path, "directory", "rekey", "--dir", env->dirfile, pub_path, NULL
    };
    int status = th_run(env, argv, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "truc-keys directory rekey: %s", out);
    th_check(kill(env->pid, SIGHUP) == 0, "kill SIGHUP");
    s_expect_error(env, a, PROTO_ERR_NOT_AUTHENTICATED, 1, "A's session after its key changed");
    th_drop(env, &a);
    s_refused_at_handshake(env, TH_A, "A's old key after the rotation");

    //  From now on the environment signs and checks with A's new key.
    proto_identity_destroy(&env->agency[TH_A]);
    env->agency[TH_A] = fresh;
    rc = proto_directory_set_key(env->dir, th_code(TH_A), proto_identity_public(fresh)->sign_pk);
    th_check(rc == PROTO_OK, "set A's key in the test's directory: %s", proto_errname(rc));
    a = th_connect(env, TH_A, 16, NULL);
    const th_agency_t to_d[] = { TH_D };
    truc_doc_t *doc = s_doc(env, TH_A, to_d, 1, 1, 300);
    s_submit_ok(env, a, doc, "a document signed with A's new key");
    const truc_doc_t *only[] = { doc };
    s_take(env, d, only, 1, true);
    s_collect_delivered(env, a, only, 1, TH_D);
    truc_doc_destroy(&doc);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  7. truc-admin, backup and the audit chain

static MDB_env *s_lmdb_open(const char *path, unsigned flags)
{
    MDB_env *mdb = NULL;
    int rc = mdb_env_create(&mdb);
    if (!rc)
        rc = mdb_env_set_maxdbs(mdb, 32);
    if (!rc)
        rc = mdb_env_open(mdb, path, flags, 0600);
    if (rc && mdb)
        mdb_env_close(mdb);
    th_check(rc == 0, "mdb_env_open %s: %s", path, mdb_strerror(rc));
    return mdb;
}

//  Entries in a named database of the LMDB environment at path, opened
//  read-only.
static size_t s_lmdb_entries(const char *path, const char *name)
{
    MDB_env *mdb = s_lmdb_open(path, MDB_RDONLY);
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_stat st;
    int rc = mdb_txn_begin(mdb, NULL, MDB_RDONLY, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, name, 0, &dbi);
    if (!rc)
        rc = mdb_stat(txn, dbi, &st);
    if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(mdb);
    th_check(rc == 0, "%s: database %s: %s", path, name, mdb_strerror(rc));
    return st.ms_entries;
}

//  Read (value NULL) or replace entry seq of the audit chain in the
//  stopped broker's store. Returns the entry's length; out (if not NULL)
//  gets its bytes.
static size_t s_audit_raw(th_env_t *env, uint64_t seq, uint8_t *out, size_t cap,
                          const uint8_t *value, size_t len)
{
    char path[TH_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/store", env->data);
    MDB_env *mdb = s_lmdb_open(path, 0);
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    uint8_t key[8];
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t) (seq >> (56 - 8 * i));
    MDB_val k = { sizeof key, key }, v = { 0, NULL };
    int rc = mdb_txn_begin(mdb, NULL, value ? 0 : MDB_RDONLY, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, "audit", 0, &dbi);
    if (!rc)
        rc = mdb_get(txn, dbi, &k, &v);
    size_t size = rc ? 0 : v.mv_size;
    if (!rc && out)
        memcpy(out, v.mv_data, size < cap ? size : cap);
    if (!rc && value) {
        MDB_val nv = { len, (void *) (uintptr_t) value };
        rc = mdb_put(txn, dbi, &k, &nv, 0);
        if (!rc)
            rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(mdb);
    th_check(rc == 0, "audit entry %llu in %s: %s", (unsigned long long) seq, path,
             mdb_strerror(rc));
    return size;
}

//  Start the broker, run `audit verify`, and require exit status want and,
//  when the chain is broken, first_bad.
static void s_verify_chain(th_env_t *env, int want, uint64_t first_bad, const char *what)
{
    th_broker_start(env, NULL);
    th_json_t *json = th_admin_json(env, (const char *const[]){ "audit", "verify", NULL }, want);
    uint64_t bad = 0, length = 0;
    th_soft(env, th_json_uint(json, "first_bad", &bad) && th_json_uint(json, "length", &length),
            "%s: audit verify does not give first_bad and length", what);
    print_message("%s: audit verify: exit %d, intact %d, length %llu, first_bad %llu\n", what, want,
                  th_json_flag(json, "intact"), (unsigned long long) length,
                  (unsigned long long) bad);
    th_soft(env, th_json_flag(json, "intact") == (want == 0), "%s: intact is %d", what,
            th_json_flag(json, "intact"));
    th_soft(env, bad == first_bad, "%s: first_bad %llu, expected %llu", what,
            (unsigned long long) bad, (unsigned long long) first_bad);
    th_json_free(&json);
    //  A page of audit show that reads the damage names the same entry:
    //  the default (the last entries, walked down the chain) and one from
    //  the start.
    static char out[TH_ADMIN_OUT_MAX];
    char says[64];
    snprintf(says, sizeof says, "broken at entry %llu", (unsigned long long) first_bad);
    const char *const pages[][8] = { { "audit", "show", NULL },
                                     { "audit", "show", "--after", "0", "--limit", "1000", NULL } };
    for (size_t i = 0; i < 2; i++) {
        int rc = th_admin(env, pages[i], out, sizeof out);
        th_soft(env, want == 0 ? rc == 0 : rc == 2 && th_contains(out, says),
                "%s: audit show page %zu: exit %d, expected %s:\n%s", what, i, rc,
                want == 0 ? "0" : says, out);
    }
    th_broker_stop(env);
}

static void test_admin_audit(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    const th_agency_t to_b[] = { TH_B };
    truc_doc_t *docs[3];
    for (int i = 0; i < 3; i++) {
        docs[i] = s_doc(env, TH_A, to_b, 1, 1, 1000 + (size_t) i);
        s_submit_ok(env, a, docs[i], "one of 3 to B");
    }
    s_take(env, b, (const truc_doc_t *const *) docs, 3, true);
    s_collect_delivered(env, a, (const truc_doc_t *const *) docs, 3, TH_B);

    //  status
    th_json_t *json = th_admin_json(env, (const char *const[]){ "status", NULL }, 0);
    uint64_t accepted = 0, delivered = 0, connected = 0, rejected = 0, audit_length = 0, n = 0;
    th_soft(env,
            th_json_uint(json, "accepted", &accepted) &&
                th_json_uint(json, "delivered", &delivered) &&
                th_json_uint(json, "connected", &connected) &&
                th_json_uint(json, "rejected", &rejected) &&
                th_json_uint(json, "audit_length", &audit_length) &&
                th_json_uint(json, "refused_handshakes", &n) && th_json_uint(json, "uptime_s", &n),
            "status: a counter is missing");
    th_soft(env, accepted == 3 && delivered == 3 && connected == 2 && rejected == 0,
            "status: accepted %llu delivered %llu connected %llu rejected %llu; expected 3 3 2 0",
            (unsigned long long) accepted, (unsigned long long) delivered,
            (unsigned long long) connected, (unsigned long long) rejected);
    th_soft(env, strcmp(th_json_text(json, "broker"), S_HUB) == 0, "status: broker '%s'",
            th_json_text(json, "broker"));
    const th_json_t *waiting = th_json_get(json, "waiting");
    th_soft(env, waiting && waiting->type == TH_JSON_ARRAY && waiting->count == 0,
            "status: waiting is not an empty array");
    //  Commits were timed: a median, a 99th percentile and a maximum, in order.
    uint64_t commits = 0, p50 = 0, p99 = 0, max = 0;
    th_soft(env,
            th_json_uint(json, "commits", &commits) && th_json_uint(json, "commit_us_p50", &p50) &&
                th_json_uint(json, "commit_us_p99", &p99) &&
                th_json_uint(json, "commit_us_max", &max),
            "status: a commit figure is missing");
    th_soft(env, commits >= 3 && p50 > 0 && p50 <= p99 && p99 <= max,
            "status: commits %llu, commit_us p50 %llu p99 %llu max %llu",
            (unsigned long long) commits, (unsigned long long) p50, (unsigned long long) p99,
            (unsigned long long) max);
    th_json_free(&json);

    //  agencies
    json = th_admin_json(env, (const char *const[]){ "agencies", NULL }, 0);
    th_soft(env, json->type == TH_JSON_ARRAY && json->count == proto_directory_count(env->dir),
            "agencies: %zu rows, the directory has %zu", json->count,
            proto_directory_count(env->dir));
    th_json_free(&json);
    static const struct {
        th_agency_t who;
        const char *state;
        int connected;
    } rows[] = { { TH_A, "active", 1 },
                 { TH_B, "active", 1 },
                 { TH_C, "active", 0 },
                 { TH_S, "suspended", 0 },
                 { TH_R, "revoked", 0 } };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char st[64];
        int conn;
        uint64_t wait;
        s_agency_row(env, rows[i].who, st, sizeof st, &conn, &wait);
        th_soft(env, strcmp(st, rows[i].state) == 0 && conn == rows[i].connected && wait == 0,
                "agencies: %s is %s, connected %d, waiting %llu; expected %s, %d, 0",
                th_code(rows[i].who), st, conn, (unsigned long long) wait, rows[i].state,
                rows[i].connected);
    }

    //  doc show and audit show
    char id[PROTO_ID_TEXT_LEN];
    s_id_text(truc_doc_id(docs[0]), id);
    json = th_admin_json(env, (const char *const[]){ "doc", "show", id, NULL }, 0);
    th_soft(env,
            strcmp(th_json_text(json, "id"), id) == 0 &&
                strcmp(th_json_text(json, "from"), th_code(TH_A)) == 0 &&
                strcmp(th_json_text(json, "kind"), "SUBMIT") == 0 &&
                strcmp(th_json_text(json, "subject"), S_SUBJECT) == 0 &&
                th_json_flag(json, "revoked") == 0,
            "doc show %s: id, from, kind, subject or revoked is wrong", id);
    //  The ACCEPTED that answered it: the broker's signed batch head and
    //  the document's place in the batch's tree.
    const th_json_t *receipt = th_json_get(json, "receipt");
    uint64_t batch = 0, index = 0;
    th_soft(env,
            receipt && strcmp(th_json_text(receipt, "signer"), "hub") == 0 &&
                strlen(th_json_text(receipt, "signature")) == 2 * PROTO_SIG_LEN &&
                th_json_uint(receipt, "batch_size", &batch) && batch >= 1 &&
                th_json_uint(receipt, "index", &index) && index < batch,
            "doc show %s: no receipt, or a wrong one", id);
    th_json_free(&json);
    s_expect_state(env, truc_doc_id(docs[0]), TH_B, "delivered", "the first document at B");
    char events[1024];
    s_audit_events(env, truc_doc_id(docs[0]), events, sizeof events);
    th_soft(env, s_in_order(events, "accepted", "delivered"), "audit show %s: %s", id, events);
    char unknown[PROTO_ID_TEXT_LEN];
    proto_id_t none;
    proto_id_random(&none);
    s_id_text(&none, unknown);
    static char out[TH_ADMIN_OUT_MAX];
    int status =
        th_admin(env, (const char *const[]){ "doc", "show", unknown, NULL }, out, sizeof out);
    th_soft(env, status == 2, "doc show of an unknown id: exit %d, expected 2:\n%s", status, out);

    //  audit verify: intact
    json = th_admin_json(env, (const char *const[]){ "audit", "verify", NULL }, 0);
    uint64_t length = 0, bad = 1;
    th_soft(env,
            th_json_flag(json, "intact") == 1 && th_json_uint(json, "length", &length) &&
                length >= 4 && th_json_uint(json, "first_bad", &bad) && bad == 0,
            "audit verify: intact %d length %llu first_bad %llu", th_json_flag(json, "intact"),
            (unsigned long long) length, (unsigned long long) bad);
    th_json_free(&json);

    //  backup: a store that opens, with the documents
    char backup[TH_PATH_MAX + 16];
    snprintf(backup, sizeof backup, "%s/backup", env->root);
    json = th_admin_json(env, (const char *const[]){ "backup", backup, NULL }, 0);
    th_soft(env, strcmp(th_json_text(json, "backup"), backup) == 0, "backup: the answer says '%s'",
            th_json_text(json, "backup"));
    th_json_free(&json);
    size_t stored = s_lmdb_entries(backup, "docs");
    th_soft(env, stored == 3, "the backup's docs database has %zu entries, 3 documents were sent",
            stored);
    th_soft(env, s_lmdb_entries(backup, "audit") >= length, "the backup's audit chain is short");

    //  Damage entry 3 on disk. store.c writes an entry as the msgpack array
    //  ["truc/audit/1", seq, prev(bin 32), time(uint 64), event, agency,
    //  id, detail]; check that layout first.
    th_drop(env, &a);
    th_drop(env, &b);
    th_broker_stop(env);
    uint8_t original[1024], damaged[1024];
    size_t size = s_audit_raw(env, 3, original, sizeof original, NULL, 0);
    th_check(size >= 58 && size <= sizeof original && original[0] == 0x98 && original[1] == 0xac &&
                 memcmp(original + 2, "truc/audit/1", 12) == 0 && original[14] == 0x03 &&
                 original[15] == 0xc4 && original[16] == 0x20 && original[49] == 0xcf,
             "audit entry 3 (%zu bytes) is not laid out as broker/store.c writes it", size);

    //  A changed time: entry 3 still decodes and links to entry 2, but its
    //  hash is no longer what entry 4 recorded as prev. audit_walk checks
    //  each entry's prev against the hash of the one before, so it names 4.
    memcpy(damaged, original, size);
    damaged[57] ^= 0x01;
    s_audit_raw(env, 3, NULL, 0, damaged, size);
    s_verify_chain(env, 3, 4, "entry 3's time changed");

    //  A changed prev: entry 3 itself no longer links to entry 2: named 3.
    memcpy(damaged, original, size);
    damaged[17] ^= 0x80;
    s_audit_raw(env, 3, NULL, 0, damaged, size);
    s_verify_chain(env, 3, 3, "entry 3's prev changed");

    //  Put back, the chain is whole again.
    s_audit_raw(env, 3, NULL, 0, original, size);
    s_verify_chain(env, 0, 0, "entry 3 restored");
    for (int i = 0; i < 3; i++)
        truc_doc_destroy(&docs[i]);
    th_soft_done(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  8. Unauthenticated hostile peers

typedef struct {
    char host[64];
    uint16_t port;
    char endpoint[TH_PATH_MAX];
    uint8_t hub_curve_pk[PROTO_KEY_LEN];
    const proto_identity_t *stranger; // an agency key the directory does not know
    int rounds;
    //  what happened
    int tcp_connections; // raw connections made
    int zmq_sent;        // garbage messages the DEALERs queued
    int answers;         // messages a refused peer received: must stay 0
} s_hostile_t;

//  One raw TCP connection: send the parts, read until the broker closes it
//  (or for at most about a second), close.
static void s_tcp_session(s_hostile_t *h, const uint8_t *const *parts, const size_t *lens, size_t n)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(h->port);
    if (inet_pton(AF_INET, h->host, &sa.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *) &sa, sizeof sa) != 0) {
        close(fd);
        return;
    }
    h->tcp_connections++;
    for (size_t i = 0; i < n; i++)
        if (send(fd, parts[i], lens[i], MSG_NOSIGNAL) < 0)
            break;
    for (int turns = 0; turns < 10; turns++) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        uint8_t sink[512];
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        if (recv(fd, sink, sizeof sink, 0) <= 0)
            break;
    }
    close(fd);
}

//  A ZMTP 3.0 greeting announcing a mechanism.
static void s_greeting(uint8_t out[64], const char *mechanism)
{
    memset(out, 0, 64);
    out[0] = 0xff;
    out[9] = 0x7f;
    out[10] = 3;
    memcpy(out + 12, mechanism, strlen(mechanism));
}

static void s_garbage(void *socket, int count, int *sent)
{
    for (int i = 0; i < count; i++) {
        uint8_t bytes[300];
        size_t len = 1 + randombytes_uniform(sizeof bytes);
        randombytes_buf(bytes, len);
        int flags = ZMQ_DONTWAIT | (i % 3 == 0 ? ZMQ_SNDMORE : 0);
        if (zmq_send(socket, bytes, len, flags) >= 0)
            (*sent)++;
    }
    zmq_send(socket, "", 0, ZMQ_DONTWAIT);
}

//  Two ZeroMQ peers the broker must refuse: a DEALER without CURVE and one
//  with CURVE but a key the directory does not know. Each connects anew,
//  queues garbage, listens for a moment (a refused peer must never hear
//  anything) and closes.
static void s_zmq_intruders(s_hostile_t *h, void *ctx)
{
    void *plain = zmq_socket(ctx, ZMQ_DEALER);
    void *stranger = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    if (plain && stranger) {
        zmq_setsockopt(plain, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(stranger, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(stranger, ZMQ_CURVE_SERVERKEY, h->hub_curve_pk, PROTO_KEY_LEN);
        zmq_setsockopt(stranger, ZMQ_CURVE_PUBLICKEY, proto_identity_public(h->stranger)->curve_pk,
                       PROTO_KEY_LEN);
        zmq_setsockopt(stranger, ZMQ_CURVE_SECRETKEY, proto_identity_curve_sk(h->stranger),
                       PROTO_KEY_LEN);
        if (zmq_connect(plain, h->endpoint) == 0 && zmq_connect(stranger, h->endpoint) == 0) {
            s_garbage(plain, 10, &h->zmq_sent);
            s_garbage(stranger, 10, &h->zmq_sent);
            for (int turns = 0; turns < 2; turns++) {
                zmq_pollitem_t items[] = { { plain, 0, ZMQ_POLLIN, 0 },
                                           { stranger, 0, ZMQ_POLLIN, 0 } };
                if (zmq_poll(items, 2, 100) <= 0)
                    continue;
                for (int i = 0; i < 2; i++) {
                    zmq_msg_t frame;
                    zmq_msg_init(&frame);
                    if ((items[i].revents & ZMQ_POLLIN) &&
                        zmq_msg_recv(&frame, items[i].socket, ZMQ_DONTWAIT) >= 0)
                        h->answers++;
                    zmq_msg_close(&frame);
                }
            }
        }
    }
    if (plain)
        zmq_close(plain);
    if (stranger)
        zmq_close(stranger);
}

//  The hostile side, on a thread of its own: only plain C, no cmocka.
static void *s_hostile_run(void *arg)
{
    s_hostile_t *h = arg;
    void *ctx = zmq_ctx_new();
    uint8_t random[4096], curve[64], null[64], odd[64];
    s_greeting(curve, "CURVE");
    s_greeting(null, "NULL");
    s_greeting(odd, "PLAIN");
    odd[10] = 0xff; // a version nobody speaks
    //  A CURVE HELLO command of the right size whose keys and box are noise.
    uint8_t hello[202] = { 0x04, 200, 5, 'H', 'E', 'L', 'L', 'O', 1, 0 };
    //  A NULL READY command that claims to be a DEALER.
    uint8_t ready[30] = { 0x04, 28, 5, 'R', 'E', 'A', 'D', 'Y', 11 };
    memcpy(ready + 9, "Socket-Type", 11);
    ready[23] = 6;
    memcpy(ready + 24, "DEALER", 6);
    for (int round = 0; round < h->rounds; round++) {
        randombytes_buf(random, sizeof random);
        randombytes_buf(hello + 82, 120);
        const uint8_t *noise[] = { random };
        size_t noise_len[] = { sizeof random };
        s_tcp_session(h, noise, noise_len, 1);
        const uint8_t *fake_curve[] = { curve, hello, random };
        size_t fake_curve_len[] = { 64, sizeof hello, 1024 };
        s_tcp_session(h, fake_curve, fake_curve_len, 3);
        const uint8_t *fake_null[] = { null, ready, random };
        size_t fake_null_len[] = { 64, sizeof ready, 512 };
        s_tcp_session(h, fake_null, fake_null_len, 3);
        const uint8_t *fake_odd[] = { odd, random };
        size_t fake_odd_len[] = { 64, 256 };
        s_tcp_session(h, fake_odd, fake_odd_len, 2);
        if (ctx)
            s_zmq_intruders(h, ctx);
    }
    if (ctx)
        zmq_ctx_term(ctx);
    return NULL;
}

static uint64_t s_status_counter(th_env_t *env, const char *name)
{
    th_json_t *json = th_admin_json(env, (const char *const[]){ "status", NULL }, 0);
    uint64_t value = 0;
    th_check(th_json_uint(json, name, &value), "status has no %s", name);
    th_json_free(&json);
    return value;
}

static void test_hostile_peers(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    s_hostile_t *h = calloc(1, sizeof *h);
    th_check(h != NULL, "out of memory");
    snprintf(h->endpoint, sizeof h->endpoint, "%s", env->endpoint);
    const char *host = env->endpoint + 6; // after tcp://
    const char *colon = strrchr(host, ':');
    th_check(colon && colon - host < (long) sizeof h->host, "endpoint %s", env->endpoint);
    memcpy(h->host, host, (size_t) (colon - host));
    h->port = (uint16_t) atoi(colon + 1);
    memcpy(h->hub_curve_pk, th_hub_curve_pk(env), PROTO_KEY_LEN);
    proto_identity_t *stranger = proto_identity_generate(PROTO_ROLE_AGENCY, "000.00.09.H01");
    th_check(stranger != NULL, "cannot make an identity");
    h->stranger = stranger;
    h->rounds = 20;
    pthread_t thread;
    th_check(pthread_create(&thread, NULL, s_hostile_run, h) == 0, "pthread_create");

    //  Meanwhile A and B exchange documents as usual.
    const th_agency_t to_b[] = { TH_B };
    for (int i = 0; i < 10; i++) {
        truc_doc_t *doc = s_doc(env, TH_A, to_b, 1, 1, 2000 + (size_t) i);
        const truc_doc_t *docs[] = { doc };
        s_submit_ok(env, a, doc, "A to B among hostile peers");
        s_take(env, b, docs, 1, true);
        s_collect_delivered(env, a, docs, 1, TH_B);
        truc_doc_destroy(&doc);
    }
    pthread_join(thread, NULL);
    print_message("hostile peers: %d raw TCP connections, %d garbage messages queued by "
                  "unauthenticated DEALERs, %d answers to them\n",
                  h->tcp_connections, h->zmq_sent, h->answers);
    th_check(th_running(env, th_current(env)), "truc-broker died");
    th_soft(env, h->tcp_connections > 0, "no raw TCP connection was made");
    th_soft(env, h->answers == 0, "unauthenticated peers received %d message(s)", h->answers);

    //  And after them.
    truc_doc_t *doc = s_doc(env, TH_A, to_b, 1, 2, 3000);
    const truc_doc_t *docs[] = { doc };
    s_submit_ok(env, a, doc, "A to B after the hostile peers");
    s_take(env, b, docs, 1, true);
    truc_doc_destroy(&doc);
    uint64_t refused = 0;
    for (int waited = 0; waited < TH_RECV_TIMEOUT_MS && refused == 0; waited += 200) {
        refused = s_status_counter(env, "refused_handshakes");
        if (!refused)
            th_sleep_ms(200);
    }
    print_message("status: refused_handshakes %llu\n", (unsigned long long) refused);
    th_soft(env, refused > 0, "status shows no refused handshakes");
    proto_identity_destroy(&stranger);
    free(h);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  9. Bounded memory with a slow consumer

#define S_SLOW_DOCS  2000
#define S_SLOW_FIRST 200
#define S_SLOW_SIZE  (16 * 1024)
#define S_SLOW_PIPE  64           // documents A has sent and not yet seen answered
#define S_SLOW_SLACK (16L * 1024) // kB: half of what 2000 x 16 KiB would take

//  A field of /proc/PID/status in kB, -1 if missing.
static long s_proc_kb(pid_t pid, const char *field)
{
    char path[64], text[8192];
    snprintf(path, sizeof path, "/proc/%ld/status", (long) pid);
    if (!th_read_file(path, text, sizeof text))
        return -1;
    size_t n = strlen(field);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            return strtol(line + n + 1, NULL, 10);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return -1;
}

static void test_slow_consumer(void **state)
{
    th_env_t *env = *state;
    //  Under AddressSanitizer freed blocks wait in a quarantine (256 MiB by
    //  default) instead of being reused, which would read as growth: that
    //  broker runs without it. Builds without ASan ignore the variable.
    const char *before = getenv("ASAN_OPTIONS");
    char *saved = before ? strdup(before) : NULL;
    char options[1024];
    snprintf(options, sizeof options, "%s%squarantine_size_mb=0", saved ? saved : "",
             saved && *saved ? ":" : "");
    setenv("ASAN_OPTIONS", options, 1);
    th_broker_start(env, NULL);
    if (saved)
        setenv("ASAN_OPTIONS", saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(saved);

    //  The harness knows the pid; the lock file must say the same.
    char path[TH_PATH_MAX + 16], lock[64];
    snprintf(path, sizeof path, "%s/lock", env->data);
    th_check(th_read_file(path, lock, sizeof lock) && atol(lock) == (long) env->pid,
             "DATA_DIR/lock holds '%s', the broker's pid is %ld", lock, (long) env->pid);
    pid_t pid = env->pid;

    truc_client_t *b = th_connect(env, TH_B, 1, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    const th_agency_t to_b[] = { TH_B };
    size_t sent = 0, accepted = 0;
    long rss_first = -1, anon_first = -1, file_first = -1;
    while (accepted < S_SLOW_DOCS) {
        while (sent < S_SLOW_DOCS && sent - accepted < S_SLOW_PIPE) {
            truc_doc_t *doc = s_doc(env, TH_A, to_b, 1, 1, S_SLOW_SIZE);
            s_submit(a, doc);
            truc_doc_destroy(&doc);
            sent++;
        }
        proto_msg_t *msg = NULL;
        proto_err_t rc = truc_client_recv(a, TH_RECV_TIMEOUT_MS, &msg, NULL);
        char text[400];
        th_check(rc == PROTO_OK, "%zu of %d accepted, then %s (%s)", accepted, S_SLOW_DOCS,
                 proto_errname(rc), truc_client_error_text(a));
        th_check(msg->kind == PROTO_KIND_ACCEPTED, "after %zu accepted: %s", accepted,
                 truc_msg_describe(msg, NULL, text, sizeof text));
        th_check(truc_receipts_verify(msg, th_hub_sign_pk(env)) == PROTO_OK,
                 "ACCEPTED does not verify with the broker key");
        accepted += msg->u.receipts.nitems;
        proto_msg_destroy(&msg);
        if (rss_first < 0 && accepted >= S_SLOW_FIRST) {
            rss_first = s_proc_kb(pid, "VmRSS");
            anon_first = s_proc_kb(pid, "RssAnon");
            file_first = s_proc_kb(pid, "RssFile");
        }
    }
    long rss_last = s_proc_kb(pid, "VmRSS"), anon_last = s_proc_kb(pid, "RssAnon"),
         file_last = s_proc_kb(pid, "RssFile");
    print_message("broker VmRSS: %ld kB after %d accepted, %ld kB after %d (RssAnon %ld -> %ld kB, "
                  "RssFile %ld -> %ld kB); %d x %d bytes waiting for B\n",
                  rss_first, S_SLOW_FIRST, rss_last, S_SLOW_DOCS, anon_first, anon_last, file_first,
                  file_last, S_SLOW_DOCS, S_SLOW_SIZE);
    th_check(rss_first > 0 && rss_last > 0, "cannot read VmRSS of pid %ld", (long) pid);
    //  The broker's own memory (RssAnon: heap and ZeroMQ buffers) is what
    //  must not grow. RssFile is the store's map: pages of data.mdb the
    //  kernel keeps as page cache and takes back under pressure; how many
    //  stay resident depends on the machine, not on the broker.
    th_check(anon_first > 0 && anon_last > 0, "cannot read RssAnon of pid %ld", (long) pid);
    th_soft(env, anon_last < anon_first + S_SLOW_SLACK,
            "the broker's own memory grew from %ld kB to %ld kB while %d documents of %d bytes "
            "piled up for a consumer with window 1: the backlog is held in memory",
            anon_first, anon_last, S_SLOW_DOCS - S_SLOW_FIRST, S_SLOW_SIZE);

    //  B, window 1 and silent, got exactly one push; the rest waits on disk.
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv_kind(b, PROTO_KIND_DELIVER, TH_RECV_TIMEOUT_MS, &msg, NULL);
    th_soft(env, rc == PROTO_OK, "B (window 1) got no DELIVER: %s", proto_errname(rc));
    proto_msg_destroy(&msg);
    s_none_of(env, b, PROTO_KIND_DELIVER, "B with window 1, nothing acknowledged");
    char st[64];
    int connected;
    uint64_t waiting;
    s_agency_row(env, TH_B, st, sizeof st, &connected, &waiting);
    th_soft(env, waiting == S_SLOW_DOCS, "agencies: B has %llu waiting, expected %d",
            (unsigned long long) waiting, S_SLOW_DOCS);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  10. Retention

static void test_retention(void **state)
{
    th_env_t *env = *state;
    const char *sets[] = { "store.retention=0", NULL };
    th_broker_start(env, sets);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    const th_agency_t to_b[] = { TH_B };
    truc_doc_t *x = s_doc(env, TH_A, to_b, 1, 1, 4096);
    const truc_doc_t *docs[] = { x };
    s_submit_ok(env, a, x, "X to B");
    s_take(env, b, docs, 1, true);
    s_collect_delivered(env, a, docs, 1, TH_B);

    char events[1024] = "";
    bool purged = false;
    for (int waited = 0; waited < 30000 && !purged; waited += 200) {
        s_audit_events(env, truc_doc_id(x), events, sizeof events);
        purged = s_in_order(events, "purged", NULL);
        if (!purged)
            th_sleep_ms(200);
    }
    print_message("audit of X: %s\n", events);
    th_check(purged, "X was not purged within 30 s with retention 0: %s", events);
    th_soft(env,
            s_in_order(events, "accepted", "delivered") &&
                s_in_order(events, "delivered", "purged"),
            "audit show X: expected accepted, delivered, purged in order: %s", events);

    //  Its record stays: doc show still answers, the id stays taken.
    char text[PROTO_ID_TEXT_LEN];
    s_id_text(truc_doc_id(x), text);
    static char out[TH_ADMIN_OUT_MAX];
    int status = th_admin(env, (const char *const[]){ "doc", "show", text, NULL }, out, sizeof out);
    th_soft(env, status == 0, "doc show of purged X: exit %d, expected 0:\n%s", status, out);
    //  As text, its receipt's fields one level down, not a dash.
    th_soft(env, th_contains(out, "receipt:\n  signer") && th_contains(out, "  signature  "),
            "doc show of X prints no receipt fields:\n%s", out);
    if (status == 0)
        s_expect_state(env, truc_doc_id(x), TH_B, "delivered", "purged X at B");
    s_submit_ok(env, a, x, "X again after the purge: the original ACCEPTED");
    truc_doc_t *other = s_doc(env, TH_A, to_b, 1, 1, 100);
    truc_doc_msg(other)->u.document.doc.id = *truc_doc_id(x);
    th_check(truc_doc_sign(other, env->agency[TH_A]) == PROTO_OK, "sign");
    s_submit_refused(env, a, other, PROTO_ERR_DUPLICATE_ID,
                     "X's id with other content after the purge");
    s_none_of(env, b, PROTO_KIND_DELIVER, "B after X was purged");
    truc_doc_destroy(&x);
    truc_doc_destroy(&other);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  Pushes lost inside a live session (a path that drops whole messages
//  keeps the stream valid) come again once nothing has been answered for
//  30 s, and the recipient's answer to the repeat counts.

//  Whether the current broker's log has a line containing text.
static void test_repush(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    const th_agency_t to_b[] = { TH_B };
    truc_doc_t *x = s_doc(env, TH_A, to_b, 1, 1, 300);
    truc_doc_t *y = s_doc(env, TH_A, to_b, 1, 0, 0);
    const truc_doc_t *xy[] = { x, y };
    s_submit_ok(env, a, x, "X to B");
    s_submit_ok(env, a, y, "Y to B");
    //  B takes both and never answers: as if its DELIVERED were lost.
    s_take(env, b, xy, 2, false);

    //  The same two again, not before 25 s and not after 60 s.
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    proto_msg_t *msgs[2] = { NULL, NULL };
    truc_frames_t *frames[2] = { NULL, NULL };
    bool seen[2] = { false, false };
    for (int i = 0; i < 2; i++) {
        proto_err_t rc = truc_client_recv_kind(b, PROTO_KIND_DELIVER, 60000, &msgs[i], &frames[i]);
        th_check(rc == PROTO_OK, "B: pushed again %d of 2: %s (%s)", i, proto_errname(rc),
                 truc_client_error_text(b));
        for (int d = 0; d < 2; d++)
            if (s_id_eq(&msgs[i]->u.document.doc.id, truc_doc_id(xy[d])))
                seen[d] = true;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
    th_print("the unanswered pushes came again after %.1f s", waited);
    th_soft(env, seen[0] && seen[1], "the repeats are not X and Y");
    th_soft(env, waited >= 25, "pushed again after %.1f s, before the 30 s wait", waited);
    char repush[64];
    snprintf(repush, sizeof repush, "event=repush agency=%s", th_code(TH_B));
    th_check(th_log_has(env, repush), "no '%s' in the broker's log", repush);

    //  Answered now: A gets both DELIVERED receipts.
    proto_err_t rc = truc_client_ack_deliveries(b, env->dir, (const proto_msg_t *const *) msgs,
                                                (const truc_frames_t *const *) frames, 2);
    th_check(rc == PROTO_OK, "B: DELIVERED: %s", proto_errname(rc));
    s_collect_delivered(env, a, xy, 2, TH_B);
    for (int i = 0; i < 2; i++) {
        proto_msg_destroy(&msgs[i]);
        truc_frames_destroy(&frames[i]);
    }
    truc_doc_destroy(&x);
    truc_doc_destroy(&y);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

//  A push lost while later ones are answered (a steady stream keeps the
//  session from ever falling silent) comes again soon after the answer to
//  a later push shows the gap, not after the 30 s silence.
static void test_repush_skipped(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    const th_agency_t to_b[] = { TH_B };
    truc_doc_t *x = s_doc(env, TH_A, to_b, 1, 1, 300);
    truc_doc_t *y = s_doc(env, TH_A, to_b, 1, 0, 0);
    s_submit_ok(env, a, x, "X to B");
    s_submit_ok(env, a, y, "Y to B");
    //  B gets X then Y, and answers Y only: as if X had never arrived.
    proto_msg_t *msgs[3] = { NULL, NULL, NULL };
    truc_frames_t *frames[3] = { NULL, NULL, NULL };
    for (int i = 0; i < 2; i++) {
        proto_err_t rc =
            truc_client_recv_kind(b, PROTO_KIND_DELIVER, TH_RECV_TIMEOUT_MS, &msgs[i], &frames[i]);
        th_check(rc == PROTO_OK, "B: DELIVER %d of 2: %s (%s)", i + 1, proto_errname(rc),
                 truc_client_error_text(b));
    }
    th_check(s_id_eq(&msgs[0]->u.document.doc.id, truc_doc_id(x)) &&
                 s_id_eq(&msgs[1]->u.document.doc.id, truc_doc_id(y)),
             "B: X and Y not pushed in the order they were accepted");
    proto_err_t rc = truc_client_ack_deliveries(b, env->dir, (const proto_msg_t *const *) &msgs[1],
                                                (const truc_frames_t *const *) &frames[1], 1);
    th_check(rc == PROTO_OK, "B: DELIVERED for Y: %s", proto_errname(rc));
    //  X again, the gap named as the reason in the broker's log. Y, answered,
    //  may come again with it (everything in flight goes again); the wait
    //  ends at the first X.
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool again = false;
    while (!again) {
        proto_msg_destroy(&msgs[2]);
        truc_frames_destroy(&frames[2]);
        rc = truc_client_recv_kind(b, PROTO_KIND_DELIVER, 60000, &msgs[2], &frames[2]);
        th_check(rc == PROTO_OK, "B: X not pushed again: %s (%s)", proto_errname(rc),
                 truc_client_error_text(b));
        again = s_id_eq(&msgs[2]->u.document.doc.id, truc_doc_id(x));
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
    th_print("the skipped push came again after %.1f s", waited);
    char repush[96];
    snprintf(repush, sizeof repush, "event=repush agency=%s in_flight=1 reason=skipped",
             th_code(TH_B));
    th_check(th_log_has(env, repush), "no '%s' in the broker's log", repush);

    //  Answered now: A gets both DELIVERED receipts.
    rc = truc_client_ack_deliveries(b, env->dir, (const proto_msg_t *const *) &msgs[2],
                                    (const truc_frames_t *const *) &frames[2], 1);
    th_check(rc == PROTO_OK, "B: DELIVERED for X: %s", proto_errname(rc));
    const truc_doc_t *xy[] = { x, y };
    s_collect_delivered(env, a, xy, 2, TH_B);
    for (int i = 0; i < 3; i++) {
        proto_msg_destroy(&msgs[i]);
        truc_frames_destroy(&frames[i]);
    }
    truc_doc_destroy(&x);
    truc_doc_destroy(&y);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------

// ---------------------------------------------------------------------------
//  truc-admin doc resend: an operator pushes a waiting document again now

//  The action `doc resend` reported for one recipient, "" if not listed.
static const char *s_resend_action(const th_json_t *rows, th_agency_t who)
{
    for (size_t i = 0; rows && rows->type == TH_JSON_ARRAY && i < rows->count; i++)
        if (strcmp(th_json_text(rows->items[i], "agency"), th_code(who)) == 0)
            return th_json_text(rows->items[i], "action");
    return "";
}

static void test_doc_resend(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    const th_agency_t to[] = { TH_B, TH_C }; // C never connects
    truc_doc_t *x = s_doc(env, TH_A, to, 2, 1, 300);
    s_submit_ok(env, a, x, "X to B and C");
    char text[PROTO_ID_TEXT_LEN];
    s_id_text(truc_doc_id(x), text);
    //  B takes X and never answers, as if its agent had lost it.
    proto_msg_t *msg[2] = { NULL, NULL };
    truc_frames_t *frames[2] = { NULL, NULL };
    proto_err_t rc =
        truc_client_recv_kind(b, PROTO_KIND_DELIVER, TH_RECV_TIMEOUT_MS, &msg[0], &frames[0]);
    th_check(rc == PROTO_OK, "B: DELIVER: %s", proto_errname(rc));

    //  The operator resends: B is pushed X again at once (well before the
    //  broker's own 30 s re-push), C is told to wait for its connection.
    th_json_t *rows = th_admin_json(env, (const char *const[]){ "doc", "resend", text, NULL }, 0);
    th_soft(env, strcmp(s_resend_action(rows, TH_B), "pushed again") == 0,
            "doc resend: B's action is '%s'", s_resend_action(rows, TH_B));
    th_soft(env, th_contains(s_resend_action(rows, TH_C), "not connected"),
            "doc resend: C's action is '%s'", s_resend_action(rows, TH_C));
    th_json_free(&rows);
    rc = truc_client_recv_kind(b, PROTO_KIND_DELIVER, TH_RECV_TIMEOUT_MS, &msg[1], &frames[1]);
    th_check(rc == PROTO_OK, "B: X not pushed again after doc resend: %s", proto_errname(rc));
    th_check(s_id_eq(&msg[1]->u.document.doc.id, truc_doc_id(x)), "B: pushed another document");
    char events[512];
    s_audit_events(env, truc_doc_id(x), events, sizeof events);
    th_soft(env, th_contains(events, ",admin,"), "audit show %s has no admin entry: %s", text,
            events);

    //  B answers; a resend to B is now refused with the reason, and so are
    //  one to an agency X is not for and one of an unknown document.
    rc = truc_client_ack_deliveries(b, env->dir, (const proto_msg_t *const *) &msg[1],
                                    (const truc_frames_t *const *) &frames[1], 1);
    th_check(rc == PROTO_OK, "B: DELIVERED: %s", proto_errname(rc));
    const truc_doc_t *only_x[] = { x };
    s_collect_delivered(env, a, only_x, 1, TH_B);
    static char out[TH_ADMIN_OUT_MAX];
    int status = th_admin(env, (const char *const[]){ "doc", "resend", text, th_code(TH_B), NULL },
                          out, sizeof out);
    th_soft(env, status == 2 && th_contains(out, "answered already"),
            "resend to B after its DELIVERED: exit %d:\n%s", status, out);
    status = th_admin(env, (const char *const[]){ "doc", "resend", text, th_code(TH_D), NULL }, out,
                      sizeof out);
    th_soft(env, status == 2 && th_contains(out, "is not a recipient"),
            "resend to D, not a recipient: exit %d:\n%s", status, out);
    status = th_admin(
        env, (const char *const[]){ "doc", "resend", "01a23672-d9c5-79f0-8c5a-3c4e245e0000", NULL },
        out, sizeof out);
    th_soft(env, status == 2, "resend of an unknown document: exit %d:\n%s", status, out);
    for (int i = 0; i < 2; i++) {
        proto_msg_destroy(&msg[i]);
        truc_frames_destroy(&frames[i]);
    }
    truc_doc_destroy(&x);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  A document's created time, and a jump of the broker's wall clock

//  A document whose created time is moved by offset_ms from now and signed
//  again by its sender.
static truc_doc_t *s_doc_created(th_env_t *env, th_agency_t from, th_agency_t to, int64_t offset_ms)
{
    const th_agency_t dest[] = { to };
    truc_doc_t *doc = s_doc(env, from, dest, 1, 0, 0);
    truc_doc_msg(doc)->u.document.doc.created = (uint64_t) ((int64_t) truc_now_ms() + offset_ms);
    th_check(truc_doc_sign(doc, env->agency[from]) == PROTO_OK, "sign");
    return doc;
}

static void test_created_time(void **state)
{
    th_env_t *env = *state;
    const char *sets[] = { "limits.created_future=1h", "limits.created_past=30d", NULL };
    th_broker_start(env, sets);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    const int64_t hour = 3600000, day = 24 * hour;
    //  A sender whose clock is 63 years ahead, or 31 days behind.
    truc_doc_t *far_ahead = s_doc_created(env, TH_A, TH_B, 63 * 365 * day);
    s_submit_refused(env, a, far_ahead, PROTO_ERR_TIME, "created 63 years ahead");
    truc_doc_t *ahead = s_doc_created(env, TH_A, TH_B, 2 * hour);
    s_submit_refused(env, a, ahead, PROTO_ERR_TIME, "created 2 hours ahead");
    truc_doc_t *behind = s_doc_created(env, TH_A, TH_B, -31 * day);
    s_submit_refused(env, a, behind, PROTO_ERR_TIME, "created 31 days ago");
    //  Within the tolerances: accepted.
    truc_doc_t *near_ahead = s_doc_created(env, TH_A, TH_B, 30 * 60000);
    s_submit_ok(env, a, near_ahead, "created 30 minutes ahead");
    truc_doc_t *near_behind = s_doc_created(env, TH_A, TH_B, -29 * day);
    s_submit_ok(env, a, near_behind, "created 29 days ago");
    char events[1024];
    s_audit_events(env, truc_doc_id(far_ahead), events, sizeof events);
    th_soft(env, strstr(events, "rejected") != NULL, "audit show of the refused document: %s",
            events);
    truc_doc_t *all[] = { far_ahead, ahead, behind, near_ahead, near_behind };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        truc_doc_destroy(&all[i]);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

//  Debian's libfaketime (scripts/install-deps.sh installs it), NULL if absent.
static const char *s_faketime_lib(void)
{
    static const char *const paths[] = {
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
        "/usr/lib/faketime/libfaketimeMT.so.1",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (access(paths[i], R_OK) == 0)
            return paths[i];
    return NULL;
}

//  The offset libfaketime adds to the broker's wall clock, e.g. "+400d":
//  written whole (rename), read again by the broker at most a second later.
static void s_clock_offset(th_env_t *env, const char *offset)
{
    char path[TH_PATH_MAX], tmp[TH_PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/clock.offset", env->root);
    snprintf(tmp, sizeof tmp, "%s.new", path);
    FILE *f = fopen(tmp, "w");
    th_check(f && fprintf(f, "%s\n", offset) > 0 && fclose(f) == 0, "write %s", tmp);
    th_check(rename(tmp, path) == 0, "rename %s", tmp);
}

static int s_status_flag(th_env_t *env, const char *name)
{
    th_json_t *json = th_admin_json(env, (const char *const[]){ "status", NULL }, 0);
    int flag = th_json_flag(json, name);
    th_json_free(&json);
    return flag;
}

//  The broker's wall clock jumps 400 days ahead with documents waiting: a
//  real broker process under libfaketime (only its CLOCK_REALTIME moves;
//  its monotonic clock does not). Nothing expires until an operator
//  confirms the clock, and then what is really past its time does.
static void test_clock_jump(void **state)
{
    th_env_t *env = *state;
    const char *lib = s_faketime_lib();
    if (!lib) {
        th_print("SKIPPED clock_jump: libfaketime is not installed (scripts/install-deps.sh)");
        th_pass(env);
        skip();
    }
    s_clock_offset(env, "+0");
    char offset_file[TH_PATH_MAX], asan[512];
    snprintf(offset_file, sizeof offset_file, "%s/clock.offset", env->root);
    const char *asan_was = getenv("ASAN_OPTIONS");
    char *asan_saved = asan_was ? strdup(asan_was) : NULL;
    //  An ASan build must accept a library loaded before its runtime.
    snprintf(asan, sizeof asan, "%s%sverify_asan_link_order=0", asan_was ? asan_was : "",
             asan_was && *asan_was ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
    setenv("LD_PRELOAD", lib, 1);
    setenv("FAKETIME_TIMESTAMP_FILE", offset_file, 1);
    setenv("FAKETIME_CACHE_DURATION", "1", 1);
    setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
    const char *sets[] = { "store.ttl=1h", "store.clock_jump_max=10min", NULL };
    th_broker_start(env, sets);
    unsetenv("LD_PRELOAD");
    unsetenv("FAKETIME_TIMESTAMP_FILE");
    unsetenv("FAKETIME_CACHE_DURATION");
    unsetenv("FAKETIME_DONT_FAKE_MONOTONIC");
    if (asan_saved)
        setenv("ASAN_OPTIONS", asan_saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(asan_saved);

    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    const th_agency_t to_b3[] = { TH_B, TH_B, TH_B };
    truc_doc_t *docs[3];
    for (int i = 0; i < 3; i++) {
        docs[i] = s_doc(env, TH_A, to_b3, 1, 1, 200 + (size_t) i);
        s_submit_ok(env, a, docs[i], "a document to offline B");
    }
    th_check(s_status_flag(env, "clock_held") == 0, "clock_held before any jump");

    s_clock_offset(env, "+400d");
    int held = 0;
    for (int waited = 0; waited < TH_RECV_TIMEOUT_MS && held != 1; waited += 200) {
        th_sleep_ms(200);
        held = s_status_flag(env, "clock_held");
    }
    th_check(held == 1, "status never showed clock_held after a jump of 400 days");
    th_json_t *json = th_admin_json(env, (const char *const[]){ "status", NULL }, 0);
    uint64_t jump = 0;
    th_soft(env,
            th_json_uint(json, "clock_jump_ms", &jump) && jump > 399ull * 24 * 3600000 &&
                jump < 401ull * 24 * 3600000,
            "status clock_jump_ms %llu, expected about 400 days", (unsigned long long) jump);
    th_json_free(&json);
    th_soft(env, th_log_has(env, "event=clock_jump"), "no event=clock_jump in the broker's log");
    th_soft(env, s_audit_recent(env, "", "clock jump of +") == 1,
            "no audit entry for the clock jump");
    //  Several expiry ticks pass: nothing expires, everything still waits.
    s_none_of(env, a, PROTO_KIND_EXPIRED, "while the jump is held");
    for (int i = 0; i < 3; i++)
        s_expect_state(env, truc_doc_id(docs[i]), TH_B, "waiting", "while the jump is held");
    //  A document signed now by a clock 400 days behind the broker's is
    //  accepted: while held, the broker trusts its own estimate of the time.
    const th_agency_t to_b[] = { TH_B };
    truc_doc_t *during = s_doc(env, TH_A, to_b, 1, 0, 0);
    s_submit_ok(env, a, during, "a document while the jump is held");

    //  The operator confirms: the three documents, 400 days past their hour,
    //  expire; the one accepted since does not.
    json = th_admin_json(env, (const char *const[]){ "clock", "confirm", NULL }, 0);
    th_soft(env, th_json_flag(json, "was_held") == 1, "clock confirm: was_held is not true");
    th_json_free(&json);
    s_collect_expired(env, a, (const truc_doc_t *const *) docs, to_b3, 3, PROTO_EVENT_EXPIRED,
                      30000);
    s_expect_state(env, truc_doc_id(during), TH_B, "waiting", "the document sent while held");
    th_soft(env, s_audit_recent(env, "", "clock confirmed") == 1,
            "no audit entry for the confirmation");
    th_soft(env, s_status_flag(env, "clock_held") == 0, "clock_held after the confirmation");
    for (int i = 0; i < 3; i++)
        truc_doc_destroy(&docs[i]);
    truc_doc_destroy(&during);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_broker_ops", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_ADMIN", &th_admin_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_status_routing), S_TEST(test_revoke),        S_TEST(test_expiry),
        S_TEST(test_quota),          S_TEST(test_notice_limits), S_TEST(test_limits),
        S_TEST(test_suspend),        S_TEST(test_agency_revoke), S_TEST(test_sighup),
        S_TEST(test_rekey),          S_TEST(test_admin_audit),   S_TEST(test_hostile_peers),
        S_TEST(test_slow_consumer),  S_TEST(test_retention),     S_TEST(test_repush),
        S_TEST(test_repush_skipped), S_TEST(test_doc_resend),    S_TEST(test_created_time),
        S_TEST(test_clock_jump),
    };
    return th_run_tests("test_broker_ops", "truc-broker operations", tests,
                        sizeof tests / sizeof tests[0], filter);
}
