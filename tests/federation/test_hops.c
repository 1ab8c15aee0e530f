/*  tests/federation/test_hops.c - forwarding between brokers
    (PROTOCOL.md section 16.7), with real truc-broker processes on loopback.

    The harness's broker "hub" is a province P; its directory also lists
    the national broker "nat" as a broker entry, home for agency C (C's
    entry names it) and for the code of U, which P's directory does not
    list at all. What is proved:

      - forward_intake: a document with an attachment from A to B (at P),
        C and U (both at nat) is ACCEPTED once, stored once: B receives it
        from P, and one hop for nat with both of its recipients is queued
        beside it, and C, connected here, is pushed nothing; a recipient
        no broker is home for is still REJECTED with ERR_UNKNOWN_AGENCY.
      - forward_link: hub dials nat (network.links); documents cross the
        link both ways. A at hub sends to B (hub) and C (nat): hub pushes
        one FORWARD over the link it dialed, nat verifies A's signature
        with A's key from its own directory, stores it, delivers it to C
        (whose agent checks it against the directory: the sender's body
        arrived byte for byte) and answers with its own signed ACCEPTED,
        which closes hub's hop. C at nat answers A: nat pushes over the
        link session it listens on, hub delivers to A and answers. Each
        recipient's own signed DELIVERED comes back over the link to the
        sender, which sees it as from a local recipient, and so does a
        recipient's STATUS to the sender. A hop
        nat refuses (its quota) becomes hub's signed EXPIRED for C to A,
        naming nat and the code. After hub restarts nothing is pushed
        again.
      - forward_checks: a test client with hub's broker key plays hub's
        side of the link to nat: a FORWARD is answered with nat's signed
        ACCEPTED; the same FORWARD again gets the very same receipt and C
        gets the document once; the same id with other content is REJECTED
        ERR_DUPLICATE_ID, a broken sender's signature ERR_BAD_SIGNATURE, a
        sender whose home is not where the trace starts and a trace that
        does not end with the sending broker ERR_SENDER_MISMATCH - each
        answered as a signed REJECTED, the link staying up.

    Usage: test_hops TRUC_BROKER TRUC_KEYS TRUC_ADMIN [TEST_NAME]
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "admin_json.h"
#include "expect.h"
#include "fed_lib.h"
#include "harness.h"
#include "proto/identity.h"
#include "proto/msg.h"
#include "proto/sign.h"

//  The directory lists hub (this broker, home for its agencies) and nat,
//  home for C by C's entry and for U's code explicitly.
static void s_directory(th_env_t *env)
{
    char pub[TH_PATH_MAX + 64];
    snprintf(pub, sizeof pub, "%s/%s.public", env->keys, TH_HUB);
    const char *hub[] = {
        th_keys_path, "directory", "add-broker", "--dir", env->dirfile, pub, NULL
    };
    fed_keys(env, hub, "add-broker hub");
    const char *make[] = { th_keys_path, "new", "--broker", "nat", "--out", env->keys, NULL };
    fed_keys(env, make, "truc-keys new nat");
    snprintf(pub, sizeof pub, "%s/nat.public", env->keys);
    const char *nat[] = { th_keys_path, "directory", "add-broker",  "--dir", env->dirfile,
                          pub,          "--code",    th_code(TH_U), NULL };
    fed_keys(env, nat, "add-broker nat");
    const char *home[] = { th_keys_path, "directory",   "set-home", "--dir",
                           env->dirfile, th_code(TH_C), "nat",      NULL };
    fed_keys(env, home, "set-home C nat");
}

static truc_doc_t *s_doc(th_env_t *env, const char *const *to, uint32_t nto)
{
    static const uint8_t bytes[] = "%PDF-1.4 phu luc";
    truc_att_t att = { "phu-luc.pdf", "application/pdf", bytes, sizeof bytes };
    truc_doc_t *doc =
        truc_doc_build(env->agency[TH_A], to, nto, "Cong van lien tinh", "CV", 0, &att, 1);
    th_check(doc != NULL, "truc_doc_build");
    return doc;
}

//  What the operator sees of a hop queued for nat, which never links:
//  `links` shows nat down with one document waiting; `doc show` says C and
//  U wait here for nat, and B, a recipient here, waits for its ACK.
static void s_queued_shown(th_env_t *env, const char *id_text)
{
    th_json_t *links = th_admin_json(env, (const char *const[]){ "links", NULL }, 0);
    uint64_t waiting = 0, in_flight = 1;
    th_check(links->type == TH_JSON_ARRAY && links->count == 1 &&
                 strcmp(th_json_text(links->items[0], "broker"), "nat") == 0 &&
                 strcmp(th_json_text(links->items[0], "dials"), "-") == 0 &&
                 th_json_flag(links->items[0], "up") == 0 &&
                 th_json_uint(links->items[0], "waiting", &waiting) && waiting == 1 &&
                 th_json_uint(links->items[0], "in_flight", &in_flight) && in_flight == 0,
             "links: expected nat down with 1 waiting");
    th_json_free(&links);
    th_json_t *doc = th_admin_json(env, (const char *const[]){ "doc", "show", id_text, NULL }, 0);
    const th_json_t *trace = th_json_get(doc, "trace"), *rows = th_json_get(doc, "recipients");
    th_check(trace && trace->count == 1 &&
                 strcmp(th_json_text(trace->items[0], "broker"), TH_HUB) == 0,
             "doc show: the trace is not this broker alone");
    th_check(rows && rows->count == 3, "doc show: 3 recipients expected");
    for (size_t i = 0; i < rows->count; i++) {
        const th_json_t *r = rows->items[i];
        bool here = strcmp(th_json_text(r, "agency"), th_code(TH_B)) == 0;
        th_check(strcmp(th_json_text(r, "state"), here ? "waiting" : "forwarding") == 0 &&
                     strcmp(th_json_text(r, "held_by"), TH_HUB) == 0 &&
                     strcmp(th_json_text(r, "via"), here ? "" : "nat") == 0,
                 "doc show: %s is %s via '%s', held by %s", th_json_text(r, "agency"),
                 th_json_text(r, "state"), th_json_text(r, "via"), th_json_text(r, "held_by"));
    }
    th_json_free(&doc);
}

static void test_forward_intake(void **state)
{
    th_env_t *env = *state;
    s_directory(env);
    th_broker_start(env, NULL);
    int hub = th_current(env);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);

    const char *to[] = { th_code(TH_B), th_code(TH_C), th_code(TH_U) };
    truc_doc_t *doc = s_doc(env, to, 3);
    th_check(truc_client_submit(a, doc) == PROTO_OK, "submit");
    proto_msg_t *answer = th_answer(a, truc_doc_id(doc), TH_RECV_TIMEOUT_MS);
    char what[400];
    th_check(answer && answer->kind == PROTO_KIND_ACCEPTED, "answered with %s, expected ACCEPTED",
             truc_msg_describe(answer, NULL, what, sizeof what));
    proto_msg_destroy(&answer);

    //  B, at this broker, receives it with its attachment.
    proto_msg_t *msg = NULL;
    truc_frames_t *frames = NULL;
    proto_err_t rc =
        truc_client_recv_kind(b, PROTO_KIND_DELIVER, TH_RECV_TIMEOUT_MS, &msg, &frames);
    th_check(rc == PROTO_OK, "B: expected DELIVER: %s", proto_errname(rc));
    th_check(memcmp(msg->u.document.doc.id.bytes, truc_doc_id(doc)->bytes, PROTO_ID_LEN) == 0,
             "B got another document");
    th_check(truc_frames_count(frames) == 1 &&
                 truc_frames_size(frames, 0) == truc_doc_att_len(doc, 0),
             "B got %zu frames", truc_frames_count(frames));
    proto_msg_destroy(&msg);
    truc_frames_destroy(&frames);

    //  One hop for nat, with C and U, queued beside the stored document.
    char id_text[PROTO_ID_TEXT_LEN], needle[160];
    proto_id_format(truc_doc_id(doc), id_text);
    snprintf(needle, sizeof needle, "event=hop_queued doc=%s from=%s broker=nat to=2", id_text,
             th_code(TH_A));
    fed_wait_log(env, hub, needle, 1);
    th_check(fed_log_count(env, hub, "event=hop_queued") == 1, "more than one hop queued");
    s_queued_shown(env, id_text);

    //  C's home is nat: this broker queues nothing for C itself, so C,
    //  should it connect here, is pushed nothing.
    truc_client_t *c = th_connect(env, TH_C, 16, NULL);
    rc = truc_client_recv(c, TH_QUIET_MS, &msg, NULL);
    th_check(rc != PROTO_OK, "C got %s from a broker that is not its home",
             truc_msg_describe(msg, NULL, what, sizeof what));
    th_drop(env, &c);

    //  A code no broker is home for is refused as before.
    const char *nowhere[] = { th_code(TH_B), "000.00.99.H99" };
    truc_doc_t *lost = s_doc(env, nowhere, 2);
    th_check(truc_client_submit(a, lost) == PROTO_OK, "submit");
    answer = th_answer(a, truc_doc_id(lost), TH_RECV_TIMEOUT_MS);
    th_check(answer && answer->kind == PROTO_KIND_REJECTED, "answered with %s, expected REJECTED",
             truc_msg_describe(answer, NULL, what, sizeof what));
    const proto_item_t *item = truc_receipts_find(answer, truc_doc_id(lost));
    th_check(item && item->leaf.code == PROTO_ERR_UNKNOWN_AGENCY, "REJECTED with code %u",
             item ? item->leaf.code : 0);
    proto_msg_destroy(&answer);
    truc_doc_destroy(&lost);
    truc_doc_destroy(&doc);
    th_drop(env, &a);
    th_drop(env, &b);
    th_pass(env);
}

typedef struct {
    const proto_id_t *id;
    const char *to;
} s_dlv_match_t;

static bool s_is_delivered(const proto_msg_t *msg, void *arg)
{
    const s_dlv_match_t *want = arg;
    if (msg->kind != PROTO_KIND_DELIVERED)
        return false;
    const proto_item_t *item = truc_receipts_find(msg, want->id);
    return item && item->leaf.to && strcmp(item->leaf.to, want->to) == 0;
}

//  The sender's agent c gets recipient who's own signed DELIVERED for id,
//  and acknowledges it.
static void s_delivered(th_env_t *env, truc_client_t *c, const proto_id_t *id, th_agency_t who)
{
    s_dlv_match_t want = { id, th_code(who) };
    proto_msg_t *msg = NULL;
    proto_err_t rc =
        truc_client_recv_match(c, TH_RECV_TIMEOUT_MS, s_is_delivered, &want, &msg, NULL);
    th_check(rc == PROTO_OK, "no DELIVERED from %s: %s", th_code(who), proto_errname(rc));
    th_check(truc_receipts_verify(msg, proto_identity_public(env->agency[who])->sign_pk) ==
                     PROTO_OK &&
                 strcmp(msg->u.receipts.head.signer, th_code(who)) == 0,
             "the DELIVERED is not %s's own", th_code(who));
    th_check(msg->u.receipts.mid && truc_client_ack(c, &msg->u.receipts.mid, 1) == PROTO_OK, "ACK");
    proto_msg_destroy(&msg);
}

static bool s_is_status(const proto_msg_t *msg, void *arg)
{
    return msg->kind == PROTO_KIND_STATUS &&
           memcmp(msg->u.status.notice.id.bytes, ((const proto_id_t *) arg)->bytes, PROTO_ID_LEN) ==
               0;
}

//  Recipient `from` tells the sender `to` (at another broker) that it
//  registered document doc (code 03): from's broker accepts the notice, and
//  to's agent gets it routed, signed by from, and acknowledges it.
static void s_status_back(th_env_t *env, truc_client_t *from_c, th_agency_t from,
                          truc_client_t *to_c, th_agency_t to, const proto_id_t *doc)
{
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_STATUS;
    proto_notice_t *n = &msg.u.status.notice;
    proto_id_random(&n->id);
    n->doc = *doc;
    n->from = th_code(from);
    n->to = th_code(to);
    n->code = 3;
    n->time = truc_now_ms();
    n->note = "Da tiep nhan";
    th_check(proto_notice_sign(n, env->agency[from], msg.u.status.sig) == PROTO_OK, "sign");
    th_check(truc_client_send(from_c, &msg, NULL, NULL, 0) == PROTO_OK, "send STATUS");
    proto_msg_t *answer = th_answer(from_c, &n->id, TH_RECV_TIMEOUT_MS);
    char what[400];
    th_check(answer && answer->kind == PROTO_KIND_ACCEPTED, "STATUS answered with %s",
             truc_msg_describe(answer, &n->id, what, sizeof what));
    proto_msg_destroy(&answer);
    proto_msg_t *got = NULL;
    proto_err_t rc =
        truc_client_recv_match(to_c, TH_RECV_TIMEOUT_MS, s_is_status, &n->id, &got, NULL);
    th_check(rc == PROTO_OK, "%s: no STATUS from %s: %s", th_code(to), th_code(from),
             proto_errname(rc));
    th_check(got->u.status.mid && got->u.status.notice.code == 3 &&
                 proto_notice_verify(&got->u.status.notice,
                                     proto_identity_public(env->agency[from])->sign_pk,
                                     got->u.status.sig) == PROTO_OK,
             "the routed STATUS is not %s's notice", th_code(from));
    th_check(truc_client_ack(to_c, &got->u.status.mid, 1) == PROTO_OK, "ACK");
    proto_msg_destroy(&got);
}

static void test_forward_link(void **state)
{
    th_env_t *env = *state;
    char endpoint[64] = "", path[TH_PATH_MAX + 32], err[256], links[128], needle[200];
    char id_text[PROTO_ID_TEXT_LEN];
    fed_two_brokers(env);
    //  nat keeps at most one waiting document per sender, so that it can
    //  be made to refuse one.
    const char *quota[] = { "limits.quota_documents=1", NULL };
    int nat = fed_start_nat(env, endpoint, sizeof endpoint, quota);
    snprintf(links, sizeof links, "network.links=nat@%s", endpoint);
    const char *sets[] = { links, "network.heartbeat=1s", NULL };
    th_broker_start(env, sets);
    int hub = th_current(env);
    fed_wait_log(env, hub, "event=link_ready broker=nat ", 1);
    proto_identity_t *nat_id = NULL;
    snprintf(path, sizeof path, "%s/nat.secret", env->keys);
    th_check(proto_identity_load(path, NULL, &nat_id, err, sizeof err) == PROTO_OK, "load %s: %s",
             path, err);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    truc_client_t *c = fed_connect_nat(env, TH_C, endpoint, nat_id);

    //  hub to nat, over the link hub dialed.
    const char *to[] = { th_code(TH_B), th_code(TH_C) };
    truc_doc_t *doc = s_doc(env, to, 2);
    th_check(truc_client_submit(a, doc) == PROTO_OK, "submit");
    fed_accepted(a, doc);
    fed_receive(env, b, truc_doc_id(doc), "B at hub");
    //  C did not ask for routes (an agent from before): its DELIVER has none.
    th_check(fed_receive(env, c, truc_doc_id(doc), "C at nat") == 0,
             "C got a route it did not ask for");
    //  C's DELIVERED comes back over the link to A, as B's does.
    s_delivered(env, a, truc_doc_id(doc), TH_B);
    s_delivered(env, a, truc_doc_id(doc), TH_C);
    //  And C's STATUS to A.
    s_status_back(env, c, TH_C, a, TH_A, truc_doc_id(doc));
    proto_id_format(truc_doc_id(doc), id_text);
    snprintf(needle, sizeof needle, "event=hop_done doc=%s broker=nat ", id_text);
    fed_wait_log(env, hub, needle, 1);
    snprintf(needle, sizeof needle, "event=forward_accepted doc=%s from=%s via=hub local=1",
             id_text, th_code(TH_A));
    th_check(fed_log_count(env, nat, needle) == 1, "nat did not store it once: '%s'", needle);

    //  nat to hub, over the link session nat listens on.
    const char *back[] = { th_code(TH_A) };
    truc_doc_t *answer = truc_doc_build(env->agency[TH_C], back, 1, "Tra loi", "CV", 0, NULL, 0);
    th_check(answer != NULL, "truc_doc_build");
    th_check(truc_client_submit(c, answer) == PROTO_OK, "submit");
    fed_accepted(c, answer);
    fed_receive(env, a, truc_doc_id(answer), "A at hub");
    s_delivered(env, c, truc_doc_id(answer), TH_A);
    proto_id_format(truc_doc_id(answer), id_text);
    snprintf(needle, sizeof needle, "event=hop_done doc=%s broker=hub ", id_text);
    fed_wait_log(env, nat, needle, 1);

    //  nat refuses a hop (A has a document waiting for C there already):
    //  hub records the refusal and A learns it as an EXPIRED for C, signed
    //  by hub, its reason naming nat and the code.
    const char *to_c[] = { th_code(TH_C) };
    truc_doc_t *waiting = s_doc(env, to_c, 1), *refused = s_doc(env, to_c, 1);
    th_check(truc_client_submit(a, waiting) == PROTO_OK, "submit");
    fed_accepted(a, waiting);
    proto_msg_t *held = NULL;
    th_check(truc_client_recv_kind(c, PROTO_KIND_DELIVER, TH_RECV_TIMEOUT_MS, &held, NULL) ==
                 PROTO_OK,
             "C: no DELIVER");
    proto_msg_destroy(&held); // not acknowledged: it stays waiting at nat
    th_check(truc_client_submit(a, refused) == PROTO_OK, "submit");
    fed_accepted(a, refused);
    proto_id_format(truc_doc_id(refused), id_text);
    snprintf(needle, sizeof needle, "event=hop_refused doc=%s broker=nat code=ERR_QUOTA", id_text);
    fed_wait_log(env, hub, needle, 1);
    proto_msg_t *expired = NULL;
    th_check(truc_client_recv_kind(a, PROTO_KIND_EXPIRED, TH_RECV_TIMEOUT_MS, &expired, NULL) ==
                 PROTO_OK,
             "A: no EXPIRED for the refused hop");
    const proto_item_t *item = truc_receipts_find(expired, truc_doc_id(refused));
    th_check(item && item->leaf.event == PROTO_EVENT_EXPIRED && item->leaf.to &&
                 strcmp(item->leaf.to, th_code(TH_C)) == 0 && item->leaf.reason &&
                 strstr(item->leaf.reason, "nat") && strstr(item->leaf.reason, "ERR_QUOTA"),
             "the EXPIRED does not say C, nat and ERR_QUOTA");
    th_check(truc_receipts_verify(expired, proto_identity_public(env->hub)->sign_pk) == PROTO_OK,
             "the EXPIRED is not hub's");
    proto_msg_destroy(&expired);
    truc_doc_destroy(&waiting);
    truc_doc_destroy(&refused);

    //  hub restarts: the link comes back, nothing is pushed twice (every
    //  hop was answered), and C gets nothing more.
    int stored = fed_log_count(env, nat, "event=forward_accepted");
    th_broker_stop(env);
    th_broker_start(env, sets);
    fed_wait_log(env, th_current(env), "event=link_ready broker=nat ", 1);
    proto_msg_t *more = NULL;
    th_check(truc_client_recv(c, TH_QUIET_MS, &more, NULL) != PROTO_OK,
             "C got something more after hub restarted");
    th_check(fed_log_count(env, nat, "event=forward_accepted") == stored, "nat stored a repeat");

    truc_doc_destroy(&answer);
    truc_doc_destroy(&doc);
    th_drop(env, &a);
    th_drop(env, &b);
    truc_client_destroy(&c);
    proto_identity_destroy(&nat_id);
    th_pass(env);
}

//  nat's answer is a receipt it signed, of kind and code.
static void s_hop_receipt(proto_msg_t *answer, const proto_identity_t *nat, int kind, uint32_t code,
                          const char *what)
{
    char text[400];
    th_check(answer->kind == (proto_kind_t) kind, "%s: answered with %s", what,
             truc_msg_describe(answer, NULL, text, sizeof text));
    th_check(truc_receipts_verify(answer, proto_identity_public(nat)->sign_pk) == PROTO_OK &&
                 strcmp(answer->u.receipts.head.signer, "nat") == 0,
             "%s: the receipt is not nat's", what);
    th_check(answer->u.receipts.items[0].leaf.code == code, "%s: code %s, expected %s", what,
             proto_errname((proto_err_t) answer->u.receipts.items[0].leaf.code),
             proto_errname((proto_err_t) code));
}

static void test_forward_checks(void **state)
{
    th_env_t *env = *state;
    char endpoint[64] = "", path[TH_PATH_MAX + 32], err[256];
    fed_two_brokers(env);
    fed_start_nat(env, endpoint, sizeof endpoint, NULL);
    proto_identity_t *nat = NULL, *hub = NULL;
    snprintf(path, sizeof path, "%s/nat.secret", env->keys);
    th_check(proto_identity_load(path, NULL, &nat, err, sizeof err) == PROTO_OK, "%s", err);
    snprintf(path, sizeof path, "%s/%s.secret", env->keys, TH_HUB);
    th_check(proto_identity_load(path, NULL, &hub, err, sizeof err) == PROTO_OK, "%s", err);
    truc_client_t *c = fed_connect_nat(env, TH_C, endpoint, nat);

    //  hub's side of the link.
    truc_client_t *link = fed_link_client(endpoint, hub, nat, TH_HUB, false, NULL);

    //  Accepted, and the same again gets the same receipt.
    const char *to[] = { th_code(TH_B), th_code(TH_C) };
    const char *to_c[] = { th_code(TH_C) };
    truc_doc_t *doc = s_doc(env, to, 2);
    proto_msg_t *first = fed_forward(link, doc, to_c, 1, TH_HUB);
    s_hop_receipt(first, nat, PROTO_KIND_ACCEPTED, 0, "first FORWARD");
    proto_msg_t *again = fed_forward(link, doc, to_c, 1, TH_HUB);
    s_hop_receipt(again, nat, PROTO_KIND_ACCEPTED, 0, "the same FORWARD again");
    th_check(memcmp(first->u.receipts.sig, again->u.receipts.sig, PROTO_SIG_LEN) == 0 &&
                 first->u.receipts.items[0].leaf.seq == again->u.receipts.items[0].leaf.seq,
             "a repeat got another receipt than the original");
    proto_msg_destroy(&first);
    proto_msg_destroy(&again);
    fed_receive(env, c, truc_doc_id(doc), "C at nat");
    proto_msg_t *more = NULL;
    th_check(truc_client_recv(c, TH_QUIET_MS, &more, NULL) != PROTO_OK, "C got the document twice");

    //  The same id, other content.
    truc_doc_msg(doc)->u.document.doc.subject = "Noi dung khac";
    th_check(truc_doc_sign(doc, env->agency[TH_A]) == PROTO_OK, "sign");
    proto_msg_t *answer = fed_forward(link, doc, to_c, 1, TH_HUB);
    s_hop_receipt(answer, nat, PROTO_KIND_REJECTED, PROTO_ERR_DUPLICATE_ID, "other content");
    proto_msg_destroy(&answer);

    //  A broken signature.
    truc_doc_t *forged = s_doc(env, to_c, 1);
    truc_doc_msg(forged)->u.document.sig[0] ^= 1;
    answer = fed_forward(link, forged, to_c, 1, TH_HUB);
    s_hop_receipt(answer, nat, PROTO_KIND_REJECTED, PROTO_ERR_BAD_SIGNATURE, "bad signature");
    proto_msg_destroy(&answer);
    truc_doc_destroy(&forged);

    //  C's home is nat: a document from C cannot start at hub.
    const char *to_b[] = { th_code(TH_B) };
    truc_doc_t *from_c = truc_doc_build(env->agency[TH_C], to_b, 1, "Tra loi", "CV", 0, NULL, 0);
    th_check(from_c != NULL, "truc_doc_build");
    answer = fed_forward(link, from_c, to_b, 1, TH_HUB);
    s_hop_receipt(answer, nat, PROTO_KIND_REJECTED, PROTO_ERR_SENDER_MISMATCH, "C's document");
    proto_msg_destroy(&answer);
    truc_doc_destroy(&from_c);

    //  The trace must end with the broker that sends it.
    truc_doc_t *relayed = s_doc(env, to_c, 1);
    answer = fed_forward(link, relayed, to_c, 1, "elsewhere");
    s_hop_receipt(answer, nat, PROTO_KIND_REJECTED, PROTO_ERR_SENDER_MISMATCH, "foreign trace");
    proto_msg_destroy(&answer);
    truc_doc_destroy(&relayed);

    //  Still in its session: HELLO again is answered, not fatal.
    fed_link_hello(link, TH_HUB, false);
    proto_msg_t *error = NULL;
    proto_err_t rc =
        truc_client_recv_kind(link, PROTO_KIND_ERROR, TH_RECV_TIMEOUT_MS, &error, NULL);
    th_check(rc == PROTO_OK && error->u.error.code == PROTO_ERR_UNEXPECTED && !error->u.error.fatal,
             "the link did not stay up: %s", proto_errname(rc));
    proto_msg_destroy(&error);
    truc_doc_destroy(&doc);
    truc_client_destroy(&link);
    truc_client_destroy(&c);
    proto_identity_destroy(&hub);
    proto_identity_destroy(&nat);
    th_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_hops", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_ADMIN", &th_admin_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_forward_intake),
        S_TEST(test_forward_link),
        S_TEST(test_forward_checks),
    };
    return th_run_tests("test_hops", "truc federation forwarding", tests,
                        sizeof tests / sizeof tests[0], filter);
}
