/*  tests/federation/test_recall.c - a recall across a link (PROTOCOL.md
    9.1 and 16.8), with real truc-broker processes on loopback.

    The harness's broker "hub" (A, B) dials "nat" (C), both on one
    directory (fed_two_brokers). What is proved:

      - recall_link: A at hub sends C at nat a document; A's recall (13)
        is ACCEPTED by hub, goes over the link and reaches C signed by A;
        C's answer (15, accepted) is ACCEPTED by nat, comes back and
        reaches A signed by C. B, not the sender, is refused by hub with
        ERR_NOT_AUTHORIZED; C answering 16 about a document nobody
        recalled is refused by nat with ERR_BAD_STATE; each broker logs
        the recall passing once.
      - recall_checks: a test client with hub's broker key plays hub's side
        of the link to nat. After a FORWARD of A's document to C: a recall
        whose signature is broken is ERR_BAD_SIGNATURE, one from B (behind
        the link, not the sender) ERR_NOT_AUTHORIZED, one in C's name (who
        is not behind that link) ERR_SENDER_MISMATCH - each an ERROR on
        the link, not fatal, not acknowledged, nothing reaching C; A's own
        recall is acknowledged and reaches C, and C's answer comes back
        over the link.
      - recall_answer_checks: a test client with nat's broker key dials
        hub and plays nat, never answering hub's FORWARD. A's recall while
        the hop waits is refused by hub with ERR_BAD_STATE; C's 15 coming
        over the link without a recall having passed hub is an ERROR
        ERR_BAD_STATE, a notice from B (not behind nat) ERR_SENDER_MISMATCH,
        neither acknowledged nor reaching A.

    Usage: test_recall TRUC_BROKER TRUC_KEYS [TEST_NAME]
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <sodium.h>

#include "expect.h"
#include "fed_lib.h"
#include "harness.h"
#include "proto/identity.h"
#include "proto/msg.h"
#include "proto/sign.h"

//  A STATUS of code from agency `from` (signed with signer's key) to `to`
//  about document doc, with a fresh notice id.
static void s_notice(proto_msg_t *msg, const proto_identity_t *signer, const char *from,
                     const char *to, const proto_id_t *doc, uint32_t code)
{
    memset(msg, 0, sizeof *msg);
    msg->kind = PROTO_KIND_STATUS;
    proto_notice_t *n = &msg->u.status.notice;
    proto_id_random(&n->id);
    n->doc = *doc;
    n->from = from;
    n->to = to;
    n->code = code;
    n->time = truc_now_ms();
    n->note = code == 13 ? "Xin lay lai van ban" : "Dong y";
    th_check(proto_notice_sign(n, signer, msg->u.status.sig) == PROTO_OK, "sign");
}

//  c sends msg and gets its answer: a receipt of kind with code for it.
static void s_answered(truc_client_t *c, const proto_msg_t *msg, int kind, proto_err_t code,
                       const char *what)
{
    const proto_id_t *id = &msg->u.status.notice.id;
    th_check(truc_client_send(c, msg, NULL, NULL, 0) == PROTO_OK, "send STATUS");
    proto_msg_t *answer = th_answer(c, id, TH_RECV_TIMEOUT_MS);
    char text[400];
    th_check(answer && answer->kind == (proto_kind_t) kind, "%s: answered with %s", what,
             truc_msg_describe(answer, id, text, sizeof text));
    const proto_item_t *item = truc_receipts_find(answer, id);
    th_check(item && item->leaf.code == (uint32_t) code, "%s: code %s, expected %s", what,
             proto_errname(item ? (proto_err_t) item->leaf.code : PROTO_OK), proto_errname(code));
    proto_msg_destroy(&answer);
}

static bool s_is_notice(const proto_msg_t *msg, void *arg)
{
    return msg->kind == PROTO_KIND_STATUS &&
           memcmp(msg->u.status.notice.id.bytes, ((const proto_id_t *) arg)->bytes, PROTO_ID_LEN) ==
               0;
}

//  c gets notice sent (routed, with a mid, signed by signer) and
//  acknowledges it.
static void s_routed(truc_client_t *c, const proto_msg_t *sent, const proto_identity_t *signer,
                     const char *who)
{
    const proto_notice_t *n = &sent->u.status.notice;
    proto_msg_t *got = NULL;
    proto_err_t rc = truc_client_recv_match(c, TH_RECV_TIMEOUT_MS, s_is_notice,
                                            (void *) (uintptr_t) &n->id, &got, NULL);
    th_check(rc == PROTO_OK, "%s: no STATUS %u from %s: %s", who, n->code, n->from,
             proto_errname(rc));
    th_check(got->u.status.mid && got->u.status.notice.code == n->code &&
                 strcmp(got->u.status.notice.from, n->from) == 0 &&
                 proto_notice_verify(&got->u.status.notice, proto_identity_public(signer)->sign_pk,
                                     got->u.status.sig) == PROTO_OK,
             "%s: the routed STATUS is not %s's notice", who, n->from);
    th_check(truc_client_ack(c, &got->u.status.mid, 1) == PROTO_OK, "ACK");
    proto_msg_destroy(&got);
}

//  Nothing of notice sent reaches c.
static void s_not_routed(truc_client_t *c, const proto_msg_t *sent, const char *what)
{
    proto_msg_t *got = NULL;
    proto_id_t id = sent->u.status.notice.id;
    th_check(truc_client_recv_match(c, TH_QUIET_MS, s_is_notice, &id, &got, NULL) != PROTO_OK,
             "%s reached the recipient", what);
}

static truc_doc_t *s_doc(th_env_t *env, th_agency_t to)
{
    const char *codes[] = { th_code(to) };
    truc_doc_t *doc = truc_doc_build(env->agency[TH_A], codes, 1, "Cong van", "CV", 0, NULL, 0);
    th_check(doc != NULL, "truc_doc_build");
    return doc;
}

static proto_identity_t *s_identity(th_env_t *env, const char *label)
{
    char path[TH_PATH_MAX + 32], err[256];
    proto_identity_t *id = NULL;
    snprintf(path, sizeof path, "%s/%s.secret", env->keys, label);
    th_check(proto_identity_load(path, NULL, &id, err, sizeof err) == PROTO_OK, "load %s: %s", path,
             err);
    return id;
}

static void test_recall_link(void **state)
{
    th_env_t *env = *state;
    char endpoint[64] = "", links[128], needle[200], id_text[PROTO_ID_TEXT_LEN];
    fed_two_brokers(env);
    int nat = fed_start_nat(env, endpoint, sizeof endpoint, NULL);
    snprintf(links, sizeof links, "network.links=nat@%s", endpoint);
    const char *sets[] = { links, "network.heartbeat=1s", NULL };
    th_broker_start(env, sets);
    int hub = th_current(env);
    fed_wait_log(env, hub, "event=link_ready broker=nat ", 1);
    proto_identity_t *nat_id = s_identity(env, "nat");
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    truc_client_t *c = fed_connect_nat(env, TH_C, endpoint, nat_id);

    //  A document from A to C, stored at nat (the hop is done).
    truc_doc_t *doc = s_doc(env, TH_C);
    th_check(truc_client_submit(a, doc) == PROTO_OK, "submit");
    fed_accepted(a, doc);
    fed_receive(env, c, truc_doc_id(doc), "C at nat");
    proto_id_format(truc_doc_id(doc), id_text);
    snprintf(needle, sizeof needle, "event=hop_done doc=%s broker=nat ", id_text);
    fed_wait_log(env, hub, needle, 1);

    //  A recalls it from C: hub accepts, C gets A's notice through nat.
    proto_msg_t recall, answer, stray, unasked;
    s_notice(&recall, env->agency[TH_A], th_code(TH_A), th_code(TH_C), truc_doc_id(doc), 13);
    s_answered(a, &recall, PROTO_KIND_ACCEPTED, PROTO_OK, "A's recall");
    s_routed(c, &recall, env->agency[TH_A], "C");
    snprintf(needle, sizeof needle, "event=status_on doc=%s from=%s to=%s via=hub next=mailbox",
             id_text, th_code(TH_A), th_code(TH_C));
    fed_wait_log(env, nat, needle, 1);

    //  C agrees (15): nat accepts (the recall passed there), A gets it
    //  through hub (the recall passed there too).
    s_notice(&answer, env->agency[TH_C], th_code(TH_C), th_code(TH_A), truc_doc_id(doc), 15);
    s_answered(c, &answer, PROTO_KIND_ACCEPTED, PROTO_OK, "C's answer");
    s_routed(a, &answer, env->agency[TH_C], "A");
    snprintf(needle, sizeof needle, "event=status_back doc=%s from=%s to=%s via=nat next=mailbox",
             id_text, th_code(TH_C), th_code(TH_A));
    fed_wait_log(env, hub, needle, 1);

    //  B is no party to A's document: hub refuses its recall.
    s_notice(&stray, env->agency[TH_B], th_code(TH_B), th_code(TH_C), truc_doc_id(doc), 13);
    s_answered(b, &stray, PROTO_KIND_REJECTED, PROTO_ERR_NOT_AUTHORIZED, "B's recall");
    s_not_routed(c, &stray, "B's recall");

    //  An answer to a recall nobody asked for: nat refuses it.
    truc_doc_t *other = s_doc(env, TH_C);
    th_check(truc_client_submit(a, other) == PROTO_OK, "submit");
    fed_accepted(a, other);
    fed_receive(env, c, truc_doc_id(other), "C at nat");
    s_notice(&unasked, env->agency[TH_C], th_code(TH_C), th_code(TH_A), truc_doc_id(other), 16);
    s_answered(c, &unasked, PROTO_KIND_REJECTED, PROTO_ERR_BAD_STATE, "C's unasked answer");
    s_not_routed(a, &unasked, "C's unasked answer");
    th_check(fed_log_count(env, nat, "event=status_on") == 1 &&
                 fed_log_count(env, hub, "event=status_back") == 1,
             "a notice crossed the link more than once");

    truc_doc_destroy(&other);
    truc_doc_destroy(&doc);
    th_drop(env, &a);
    th_drop(env, &b);
    truc_client_destroy(&c);
    proto_identity_destroy(&nat_id);
    th_pass(env);
}

static bool s_is_ack_of(const proto_msg_t *msg, void *arg)
{
    uint64_t mid = *(const uint64_t *) arg;
    if (msg->kind != PROTO_KIND_ACK)
        return false;
    for (uint32_t i = 0; i < msg->u.ack.nmids; i++)
        if (msg->u.ack.mids[i] == mid)
            return true;
    return false;
}

//  A recall sent over the link with mid: nat answers ERROR code, not
//  fatal, and acknowledges nothing.
static void s_link_refused(truc_client_t *link, proto_msg_t *msg, uint64_t mid, proto_err_t code,
                           const char *what)
{
    msg->u.status.mid = mid;
    th_check(truc_client_send(link, msg, NULL, NULL, 0) == PROTO_OK, "send STATUS");
    proto_msg_t *error = NULL;
    proto_err_t rc =
        truc_client_recv_kind(link, PROTO_KIND_ERROR, TH_RECV_TIMEOUT_MS, &error, NULL);
    th_check(rc == PROTO_OK && error->u.error.code == (uint32_t) code && !error->u.error.fatal,
             "%s: %s, expected a non-fatal ERROR %s", what,
             rc ? proto_errname(rc) : proto_errname((proto_err_t) error->u.error.code),
             proto_errname(code));
    proto_msg_destroy(&error);
    proto_msg_t *ack = NULL;
    th_check(truc_client_recv_match(link, TH_QUIET_MS, s_is_ack_of, &mid, &ack, NULL) != PROTO_OK,
             "%s: acknowledged", what);
}

static void test_recall_checks(void **state)
{
    th_env_t *env = *state;
    char endpoint[64] = "";
    fed_two_brokers(env);
    fed_start_nat(env, endpoint, sizeof endpoint, NULL);
    proto_identity_t *nat = s_identity(env, "nat"), *hub = s_identity(env, TH_HUB);
    truc_client_t *link = fed_link_client(endpoint, hub, nat, TH_HUB, false, NULL);
    truc_doc_t *doc = s_doc(env, TH_C);
    fed_forward_accepted(link, doc, th_code(TH_C));

    proto_msg_t forged, stray, impostor, recall, answer;
    s_notice(&forged, env->agency[TH_A], th_code(TH_A), th_code(TH_C), truc_doc_id(doc), 13);
    forged.u.status.sig[0] ^= 1;
    s_link_refused(link, &forged, 1, PROTO_ERR_BAD_SIGNATURE, "a broken signature");
    s_notice(&stray, env->agency[TH_B], th_code(TH_B), th_code(TH_C), truc_doc_id(doc), 13);
    s_link_refused(link, &stray, 2, PROTO_ERR_NOT_AUTHORIZED, "B's recall");
    s_notice(&impostor, env->agency[TH_C], th_code(TH_C), th_code(TH_B), truc_doc_id(doc), 13);
    s_link_refused(link, &impostor, 3, PROTO_ERR_SENDER_MISMATCH, "a notice in C's name");
    //  C connects only now: its session would be ended for silence while
    //  the link is listened to.
    truc_client_t *c = fed_connect_nat(env, TH_C, endpoint, nat);
    fed_receive(env, c, truc_doc_id(doc), "C at nat");

    //  A's own recall: acknowledged, C gets it; C's answer comes back over
    //  the link with a mid of nat's.
    s_notice(&recall, env->agency[TH_A], th_code(TH_A), th_code(TH_C), truc_doc_id(doc), 13);
    recall.u.status.mid = 4;
    th_check(truc_client_send(link, &recall, NULL, NULL, 0) == PROTO_OK, "send STATUS");
    proto_msg_t *ack = NULL;
    uint64_t mid = 4;
    th_check(truc_client_recv_match(link, TH_RECV_TIMEOUT_MS, s_is_ack_of, &mid, &ack, NULL) ==
                 PROTO_OK,
             "A's recall not acknowledged");
    proto_msg_destroy(&ack);
    s_routed(c, &recall, env->agency[TH_A], "C");
    s_not_routed(c, &stray, "a refused recall");
    s_notice(&answer, env->agency[TH_C], th_code(TH_C), th_code(TH_A), truc_doc_id(doc), 15);
    s_answered(c, &answer, PROTO_KIND_ACCEPTED, PROTO_OK, "C's answer");
    s_routed(link, &answer, env->agency[TH_C], "hub's link");

    truc_doc_destroy(&doc);
    truc_client_destroy(&link);
    truc_client_destroy(&c);
    proto_identity_destroy(&hub);
    proto_identity_destroy(&nat);
    th_pass(env);
}

static void test_recall_answer_checks(void **state)
{
    th_env_t *env = *state;
    fed_two_brokers(env);
    th_broker_start(env, NULL);
    proto_identity_t *nat = s_identity(env, "nat");
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    //  The test client plays nat: it dials hub, and hub's hop for C is
    //  pushed to it and never answered.
    truc_client_t *link = fed_link_client(env->endpoint, nat, env->hub, "nat", false, NULL);
    truc_doc_t *doc = s_doc(env, TH_C);
    th_check(truc_client_submit(a, doc) == PROTO_OK, "submit");
    fed_accepted(a, doc);
    proto_msg_t *fwd = NULL;
    th_check(truc_client_recv_kind(link, PROTO_KIND_FORWARD, TH_RECV_TIMEOUT_MS, &fwd, NULL) ==
                 PROTO_OK,
             "no FORWARD for nat");
    proto_msg_destroy(&fwd);

    //  The hop waits: hub has no broker that stored the document to pass
    //  a recall to.
    proto_msg_t early, unasked, stray;
    s_notice(&early, env->agency[TH_A], th_code(TH_A), th_code(TH_C), truc_doc_id(doc), 13);
    s_answered(a, &early, PROTO_KIND_REJECTED, PROTO_ERR_BAD_STATE, "a recall while the hop waits");
    s_not_routed(link, &early, "a recall while the hop waits");
    //  C's answer to a recall that never passed hub.
    s_notice(&unasked, env->agency[TH_C], th_code(TH_C), th_code(TH_A), truc_doc_id(doc), 15);
    s_link_refused(link, &unasked, 1, PROTO_ERR_BAD_STATE, "an answer nobody asked for");
    //  B is not behind nat.
    s_notice(&stray, env->agency[TH_B], th_code(TH_B), th_code(TH_A), truc_doc_id(doc), 3);
    s_link_refused(link, &stray, 2, PROTO_ERR_SENDER_MISMATCH, "B's notice from nat");
    s_not_routed(a, &unasked, "an answer nobody asked for");

    truc_doc_destroy(&doc);
    truc_client_destroy(&link);
    th_drop(env, &a);
    proto_identity_destroy(&nat);
    th_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_recall", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_recall_link),
        S_TEST(test_recall_checks),
        S_TEST(test_recall_answer_checks),
    };
    return th_run_tests("test_recall", "truc federation recall", tests,
                        sizeof tests / sizeof tests[0], filter);
}
