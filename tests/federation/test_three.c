/*  tests/federation/test_three.c - three brokers, two provinces and their
    national broker (PROTOCOL.md section 16), real truc-broker processes
    on loopback, real CURVE links, agents in sessions at each.

    Province P1 is the harness's broker key "hub" (agencies A and B); "p2" is
    province P2 (D and E); "nat" is the national broker N (C). Both
    provinces dial N. Each broker has its own directory, as operators give
    them: a province names N as the home of every agency not its own, N
    names each province as the home of its agencies. What is proved:

      - three_brokers: documents from P1 to P2 and to N, from P2 to P1 and
        from N to both, every recipient gets each exactly once, checked
        against the sender's key, and every sender gets each recipient's
        own signed DELIVERED, and a STATUS from P2 reaches its sender in
        P1 through N; a document P2 refuses reaches its sender in P1 as
        P1's own EXPIRED, naming P2 and the code, after N told P1; then a
        round in which N is killed (SIGKILL)
        while documents are on their way and started again: nothing is
        lost, no recipient gets anything twice. The three audit chains
        verify.

    Usage: test_three TRUC_BROKER TRUC_KEYS TRUC_ADMIN [TEST_NAME]
*/
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
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

#include "admin_json.h"
#include "expect.h"
#include "fed_lib.h"
#include "harness.h"
#include "proto/identity.h"
#include "proto/msg.h"
#include "proto/sign.h"

#define S_DRAIN_MS 90000 // every delivery and receipt of a round, N's restart included

enum { S_NAT, S_HUB, S_P2 }; // the brokers' indexes in the network

//  P1 (hub) and P2 dial N (nat); A and B live at P1, C at N, D and E at
//  P2. S is P2's, suspended there only: P1 and N take documents for it,
//  and P2 refuses them.
static void s_directories(fed_net_t *net)
{
    th_env_t *env = net->env;
    fed_net_add(net, "nat", -1);
    fed_net_add(net, TH_HUB, S_NAT);
    fed_net_add(net, "p2", S_NAT);
    fed_net_home(net, TH_A, S_HUB);
    fed_net_home(net, TH_B, S_HUB);
    fed_net_home(net, TH_C, S_NAT);
    fed_net_home(net, TH_D, S_P2);
    fed_net_home(net, TH_E, S_P2);
    fed_net_directories(net);
    fed_dir(env, net->b[S_HUB].dirfile, "reinstate", th_code(TH_S), NULL);
    fed_dir(env, net->b[S_HUB].dirfile, "set-home", th_code(TH_S), "nat");
    fed_dir(env, net->b[S_NAT].dirfile, "reinstate", th_code(TH_S), NULL);
    fed_dir(env, net->b[S_NAT].dirfile, "set-home", th_code(TH_S), "p2");
}

static bool s_is_status(const proto_msg_t *msg, void *arg)
{
    return msg->kind == PROTO_KIND_STATUS &&
           memcmp(msg->u.status.notice.id.bytes, ((const proto_id_t *) arg)->bytes, PROTO_ID_LEN) ==
               0;
}

//  Recipient `from` tells the sender `to` that it registered document doc
//  (code 03); the notice reaches to's agent, however many links away,
//  signed by from.
static void s_status(th_env_t *env, fed_traffic_t *t, th_agency_t from, th_agency_t to,
                     const proto_id_t *doc)
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
    th_check(proto_notice_sign(n, env->agency[from], msg.u.status.sig) == PROTO_OK, "sign");
    th_check(truc_client_send(t->agent[from], &msg, NULL, NULL, 0) == PROTO_OK, "send STATUS");
    proto_msg_t *answer = th_answer(t->agent[from], &n->id, TH_RECV_TIMEOUT_MS);
    th_check(answer && answer->kind == PROTO_KIND_ACCEPTED, "STATUS not accepted");
    proto_msg_destroy(&answer);
    proto_msg_t *got = NULL;
    th_check(truc_client_recv_match(t->agent[to], TH_RECV_TIMEOUT_MS, s_is_status, &n->id, &got,
                                    NULL) == PROTO_OK,
             "%s: no STATUS from %s", th_code(to), th_code(from));
    th_check(got->u.status.mid &&
                 proto_notice_verify(&got->u.status.notice,
                                     proto_identity_public(env->agency[from])->sign_pk,
                                     got->u.status.sig) == PROTO_OK,
             "the STATUS is not %s's", th_code(from));
    th_check(truc_client_ack(t->agent[to], &got->u.status.mid, 1) == PROTO_OK, "ACK");
    proto_msg_destroy(&got);
}

//  A sends D and S a document P2 refuses (S is suspended there): N's hop is
//  refused, N tells P1 with its signed EXPIRED over the link, and A gets
//  P1's own EXPIRED for both recipients, naming p2 and the code. D gets
//  nothing (s_take would fail on a document it was not sent).
static void s_refused_far(th_env_t *env, fed_traffic_t *t, fed_net_t *net)
{
    const char *to[] = { th_code(TH_D), th_code(TH_S) };
    truc_doc_t *doc = truc_doc_build(env->agency[TH_A], to, 2, "Khong den", "CV", 0, NULL, 0);
    th_check(doc != NULL, "truc_doc_build");
    th_check(truc_client_submit(t->agent[TH_A], doc) == PROTO_OK, "submit");
    proto_msg_t *answer = th_answer(t->agent[TH_A], truc_doc_id(doc), TH_RECV_TIMEOUT_MS);
    th_check(answer && answer->kind == PROTO_KIND_ACCEPTED, "P1 did not accept it");
    proto_msg_destroy(&answer);
    int told = 0;
    uint64_t until = fed_ms() + TH_RECV_TIMEOUT_MS;
    while (told < 2) {
        th_check(fed_ms() < until, "A was told of %d of 2 recipients", told);
        proto_msg_t *msg = NULL;
        if (truc_client_recv_kind(t->agent[TH_A], PROTO_KIND_EXPIRED, 1000, &msg, NULL) != PROTO_OK)
            continue;
        th_check(truc_receipts_verify(msg, proto_identity_public(env->hub)->sign_pk) == PROTO_OK,
                 "the EXPIRED is not P1's own");
        for (uint32_t i = 0; i < msg->u.receipts.nitems; i++) {
            const proto_leaf_t *leaf = &msg->u.receipts.items[i].leaf;
            th_check(memcmp(leaf->id.bytes, truc_doc_id(doc)->bytes, PROTO_ID_LEN) == 0 &&
                         leaf->event == PROTO_EVENT_EXPIRED && leaf->reason &&
                         strstr(leaf->reason, "p2") && strstr(leaf->reason, "ERR_AGENCY_SUSPENDED"),
                     "the EXPIRED does not name p2 and ERR_AGENCY_SUSPENDED");
            told++;
        }
        th_check(truc_client_ack(t->agent[TH_A], &msg->u.receipts.mid, 1) == PROTO_OK, "ACK");
        proto_msg_destroy(&msg);
    }
    char id_text[PROTO_ID_TEXT_LEN], needle[160];
    proto_id_format(truc_doc_id(doc), id_text);
    snprintf(needle, sizeof needle, "event=hop_refused doc=%s broker=p2 code=ERR_AGENCY_SUSPENDED",
             id_text);
    th_check(fed_log_count(env, net->b[S_NAT].index, needle) == 1,
             "nat did not record the refusal");
    truc_doc_destroy(&doc);
}

//  truc-admin doc show ID on broker b: the trace has the labels of want
//  (NULL-terminated), and recipient `to` is in state `state`, held by
//  `held_by`, via `via` (NULL: no link).
static void s_doc_show(th_env_t *env, const fed_broker_t *b, const char *id_text,
                       const char *const *want, const char *to, const char *state,
                       const char *held_by, const char *via)
{
    th_json_t *json =
        fed_admin_json(env, b->data, 0, (const char *const[]){ "doc", "show", id_text, NULL });
    const th_json_t *trace = th_json_get(json, "trace");
    size_t n = 0;
    while (want[n])
        n++;
    th_check(trace && trace->type == TH_JSON_ARRAY && trace->count == n,
             "%s: doc show: a trace of %zu brokers expected", b->label, n);
    for (size_t i = 0; i < n; i++) {
        const char *label = th_json_text(trace->items[i], "broker");
        th_check(label && strcmp(label, want[i]) == 0, "%s: trace[%zu] is %s, not %s", b->label, i,
                 label ? label : "nothing", want[i]);
    }
    const th_json_t *recipients = th_json_get(json, "recipients"), *row = NULL;
    for (size_t i = 0; recipients && i < recipients->count; i++) {
        const char *agency = th_json_text(recipients->items[i], "agency");
        if (strcmp(agency, to) == 0)
            row = recipients->items[i];
    }
    th_check(row != NULL, "%s: doc show lists no %s", b->label, to);
    const char *got_state = th_json_text(row, "state"), *got_held = th_json_text(row, "held_by"),
               *got_via = th_json_text(row, "via");
    th_check(strcmp(got_state, state) == 0, "%s: %s is %s, not %s", b->label, to, got_state, state);
    th_check(strcmp(got_held, held_by) == 0, "%s: %s's copy is held by %s, not %s", b->label, to,
             got_held, held_by);
    th_check(strcmp(got_via, via ? via : "") == 0, "%s: %s goes via %s, not %s", b->label, to,
             got_via[0] ? got_via : "no link", via ? via : "no link");
    th_json_free(&json);
}

//  Where a document is, seen from everywhere: A sends B (its own broker)
//  and D (two links away). D's DELIVER names the three brokers that stored
//  it, in order and in time; B's names none. Once A holds D's DELIVERED,
//  doc show on each broker gives its trace so far and where D's copy is.
static void s_journey(th_env_t *env, fed_traffic_t *t, fed_net_t *net)
{
    const char *to[] = { th_code(TH_B), th_code(TH_D) };
    truc_doc_t *doc = truc_doc_build(env->agency[TH_A], to, 2, "Hanh trinh", "CV", 0, NULL, 0);
    th_check(doc != NULL, "truc_doc_build");
    th_check(truc_client_submit(t->agent[TH_A], doc) == PROTO_OK, "submit");
    fed_accepted(t->agent[TH_A], doc);
    static const char *const route[] = { TH_HUB, "nat", "p2" };
    for (int who = TH_B; who <= TH_D; who += TH_D - TH_B) {
        proto_msg_t *msg = NULL;
        truc_frames_t *frames = NULL;
        th_check(truc_client_recv_kind(t->agent[who], PROTO_KIND_DELIVER, TH_RECV_TIMEOUT_MS, &msg,
                                       &frames) == PROTO_OK,
                 "%s: no DELIVER", th_code(who));
        const proto_document_t *got = &msg->u.document;
        uint32_t want = who == TH_D ? 3 : 0;
        th_check(got->nroute == want, "%s: a route of %u brokers, not %u", th_code(who),
                 got->nroute, want);
        for (uint32_t i = 0; i < got->nroute; i++)
            th_check(strcmp(got->route[i].broker, route[i]) == 0 &&
                         (i == 0 || got->route[i].time >= got->route[i - 1].time),
                     "%s: route[%u] is %s at %" PRIu64, th_code(who), i, got->route[i].broker,
                     got->route[i].time);
        th_check(got->nroute == 0 || got->route[got->nroute - 1].time == got->accepted,
                 "%s: the last broker of the route is not the one that accepted it", th_code(who));
        const proto_msg_t *const delivers[] = { msg };
        const truc_frames_t *const fr[] = { frames };
        th_check(truc_client_ack_deliveries(t->agent[who], env->dir, delivers, fr, 1) == PROTO_OK,
                 "%s: the document does not verify", th_code(who));
        proto_msg_destroy(&msg);
        truc_frames_destroy(&frames);
    }
    for (int n = 0; n < 2; n++) {
        proto_msg_t *msg = NULL;
        th_check(truc_client_recv_kind(t->agent[TH_A], PROTO_KIND_DELIVERED, TH_RECV_TIMEOUT_MS,
                                       &msg, NULL) == PROTO_OK,
                 "A holds %d of 2 DELIVERED", n);
        th_check(truc_client_ack(t->agent[TH_A], &msg->u.receipts.mid, 1) == PROTO_OK, "ACK");
        proto_msg_destroy(&msg);
    }
    char id_text[PROTO_ID_TEXT_LEN];
    proto_id_format(truc_doc_id(doc), id_text);
    const char *b = th_code(TH_B), *d = th_code(TH_D);
    s_doc_show(env, &net->b[S_HUB], id_text, (const char *const[]){ TH_HUB, NULL }, b, "delivered",
               b, NULL);
    s_doc_show(env, &net->b[S_HUB], id_text, (const char *const[]){ TH_HUB, NULL }, d, "delivered",
               d, "nat");
    s_doc_show(env, &net->b[S_NAT], id_text, (const char *const[]){ TH_HUB, "nat", NULL }, d,
               "delivered", d, "p2");
    s_doc_show(env, &net->b[S_P2], id_text, (const char *const[]){ TH_HUB, "nat", "p2", NULL }, d,
               "delivered", d, NULL);
    truc_doc_destroy(&doc);
}

static void test_three_brokers(void **state)
{
    th_env_t *env = *state;
    fed_net_t net;
    fed_traffic_t t;
    memset(&t, 0, sizeof t);
    fed_net_init(&net, env);
    s_directories(&net);
    fed_net_prepare(&net);
    fed_net_start(&net);
    t.agent[TH_A] = fed_agent(env, &net.b[S_HUB], TH_A);
    t.agent[TH_B] = fed_agent(env, &net.b[S_HUB], TH_B);
    t.agent[TH_C] = fed_agent(env, &net.b[S_NAT], TH_C);
    t.agent[TH_D] = fed_agent(env, &net.b[S_P2], TH_D);
    t.agent[TH_E] = fed_agent(env, &net.b[S_P2], TH_E);

    //  Every direction: P1 to P2 and N, P2 to P1, N to P1 and P2, and P1
    //  to itself and P2 at once.
    for (int i = 0; i < 3; i++) {
        fed_send(env, &t, TH_A, TH_D, TH_C);
        fed_send(env, &t, TH_D, TH_A, TH_B);
        fed_send(env, &t, TH_C, TH_B, TH_E);
        fed_send(env, &t, TH_B, TH_A, TH_E);
    }
    fed_drain(env, &t, S_DRAIN_MS);
    fed_report(&t, "three brokers, every direction");
    //  A recipient in P2 tells a sender in P1, through N.
    s_status(env, &t, TH_D, TH_A, truc_doc_id(t.sent[0].doc));
    fed_traffic_free(&t);
    s_refused_far(env, &t, &net);
    s_journey(env, &t, &net);

    //  N dies while documents are on their way through it, and comes back.
    truc_client_destroy(&t.agent[TH_C]);
    for (int i = 0; i < 8; i++) {
        fed_send(env, &t, TH_A, TH_D, TH_C);
        fed_send(env, &t, TH_E, TH_B, TH_NAGENCIES);
        if (i == 2)
            fed_broker_kill(env, &net.b[S_NAT]);
    }
    fed_broker_spawn(env, &net.b[S_NAT]);
    t.agent[TH_C] = fed_agent(env, &net.b[S_NAT], TH_C);
    fed_drain(env, &t, S_DRAIN_MS);
    fed_report(&t, "N killed -9 mid-stream and restarted");
    //  A quiet moment: nothing arrives twice later either.
    fed_quiet(env, &t);
    fed_traffic_free(&t);

    fed_net_audit_verify(&net);
    for (int who = 0; who < TH_NAGENCIES; who++)
        truc_client_destroy(&t.agent[who]);
    fed_net_free(&net);
    th_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_three", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_ADMIN", &th_admin_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_three_brokers),
    };
    return th_run_tests("test_three", "truc federation, three brokers", tests,
                        sizeof tests / sizeof tests[0], filter);
}
