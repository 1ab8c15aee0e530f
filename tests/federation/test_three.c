/*  tests/federation/test_three.c - three brokers, two provinces and their
    national broker (PROTOCOL.md section 16), real truc-broker processes
    on loopback, real CURVE links, agents in sessions at each.

    The harness's broker "hub" is province P1 (agencies A and B); "p2" is
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
#define S_MAX_DOCS 64

static void s_dir(th_env_t *env, const char *file, const char *verb, const char *a1, const char *a2)
{
    const char *args[] = { th_keys_path, "directory", verb, "--dir", file, a1, a2, NULL };
    fed_keys(env, args, verb);
}

static void s_copy(const char *from, const char *to)
{
    FILE *in = fopen(from, "r"), *out = fopen(to, "w");
    th_check(in && out, "copy %s to %s", from, to);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        th_check(fwrite(buf, 1, n, out) == n, "write %s", to);
    fclose(in);
    fclose(out);
}

// ---------------------------------------------------------------------------
//  The three brokers

typedef struct {
    char dirfile[TH_PATH_MAX + 32];
    char data[TH_PATH_MAX + 32];
    char endpoint[64];
    char sets[6][TH_PATH_MAX + 64];
    int index;
    proto_identity_t *id;
} s_broker_t;

typedef struct {
    th_env_t *env;
    s_broker_t hub, nat, p2;
} s_net_t;

static void s_pub(th_env_t *env, const char *label, char *out, size_t len)
{
    snprintf(out, len, "%s/%s.public", env->keys, label);
}

//  One directory per broker, each from the harness's (every agency's key).
static void s_directories(s_net_t *net)
{
    th_env_t *env = net->env;
    char hub[TH_PATH_MAX + 64], nat[TH_PATH_MAX + 64], p2[TH_PATH_MAX + 64];
    for (int i = 0; i < 2; i++) {
        const char *label = i ? "p2" : "nat";
        const char *make[] = { th_keys_path, "new", "--broker", label, "--out", env->keys, NULL };
        fed_keys(env, make, "truc-keys new");
    }
    s_pub(env, TH_HUB, hub, sizeof hub);
    s_pub(env, "nat", nat, sizeof nat);
    s_pub(env, "p2", p2, sizeof p2);
    snprintf(net->hub.dirfile, sizeof net->hub.dirfile, "%s", env->dirfile);
    snprintf(net->nat.dirfile, sizeof net->nat.dirfile, "%s/dir-nat.ini", env->root);
    snprintf(net->p2.dirfile, sizeof net->p2.dirfile, "%s/dir-p2.ini", env->root);
    s_copy(env->dirfile, net->nat.dirfile);
    s_copy(env->dirfile, net->p2.dirfile);
    //  P1: A, B its own; C, D and E through N.
    s_dir(env, net->hub.dirfile, "add-broker", hub, NULL);
    s_dir(env, net->hub.dirfile, "add-broker", nat, NULL);
    const th_agency_t far_p1[] = { TH_C, TH_D, TH_E };
    for (size_t i = 0; i < 3; i++)
        s_dir(env, net->hub.dirfile, "set-home", th_code(far_p1[i]), "nat");
    //  S is P2's, suspended there only: P1 and N take documents for it,
    //  and P2 refuses them.
    s_dir(env, net->hub.dirfile, "reinstate", th_code(TH_S), NULL);
    s_dir(env, net->hub.dirfile, "set-home", th_code(TH_S), "nat");
    //  N: C its own; A, B at P1; D, E at P2.
    s_dir(env, net->nat.dirfile, "add-broker", hub, NULL);
    s_dir(env, net->nat.dirfile, "add-broker", nat, NULL);
    s_dir(env, net->nat.dirfile, "add-broker", p2, NULL);
    s_dir(env, net->nat.dirfile, "set-home", th_code(TH_A), TH_HUB);
    s_dir(env, net->nat.dirfile, "set-home", th_code(TH_B), TH_HUB);
    s_dir(env, net->nat.dirfile, "set-home", th_code(TH_D), "p2");
    s_dir(env, net->nat.dirfile, "set-home", th_code(TH_E), "p2");
    s_dir(env, net->nat.dirfile, "reinstate", th_code(TH_S), NULL);
    s_dir(env, net->nat.dirfile, "set-home", th_code(TH_S), "p2");
    //  P2: D, E its own; A, B and C through N.
    s_dir(env, net->p2.dirfile, "add-broker", nat, NULL);
    s_dir(env, net->p2.dirfile, "add-broker", p2, NULL);
    const th_agency_t far_p2[] = { TH_A, TH_B, TH_C };
    for (size_t i = 0; i < 3; i++)
        s_dir(env, net->p2.dirfile, "set-home", th_code(far_p2[i]), "nat");
}

//  Start a spawned broker (nat or p2) as b describes; wait until it listens.
static void s_spawn(th_env_t *env, s_broker_t *b)
{
    const char *args[16];
    size_t n = 0;
    args[n++] = "--config";
    args[n++] = env->config;
    for (size_t i = 0; i < 6 && b->sets[i][0]; i++) {
        args[n++] = "--set";
        args[n++] = b->sets[i];
    }
    args[n] = NULL;
    int before = b->index;
    b->index = th_spawn(env, args);
    th_check(b->index != before, "spawn");
    fed_wait_log(env, b->index, "event=listening", 1);
}

static void s_prepare(th_env_t *env, s_broker_t *b, const char *label, const char *links)
{
    char path[TH_PATH_MAX + 32], err[256];
    int port = th_port_outside_ephemeral();
    th_check(port > 0, "no free port");
    snprintf(b->endpoint, sizeof b->endpoint, "tcp://127.0.0.1:%d", port);
    snprintf(b->data, sizeof b->data, "%s/data-%s", env->root, label);
    th_check(mkdir(b->data, 0700) == 0, "mkdir %s", b->data);
    snprintf(b->sets[0], sizeof b->sets[0], "broker.identity=%s/%s.secret", env->keys, label);
    snprintf(b->sets[1], sizeof b->sets[1], "broker.data_dir=%s", b->data);
    snprintf(b->sets[2], sizeof b->sets[2], "broker.directory=%s", b->dirfile);
    snprintf(b->sets[3], sizeof b->sets[3], "network.endpoint=%s", b->endpoint);
    if (links)
        snprintf(b->sets[4], sizeof b->sets[4], "network.links=%s", links);
    snprintf(path, sizeof path, "%s/%s.secret", env->keys, label);
    th_check(proto_identity_load(path, NULL, &b->id, err, sizeof err) == PROTO_OK, "%s", err);
    b->index = -1;
}

static void s_start(s_net_t *net)
{
    th_env_t *env = net->env;
    char links[128];
    s_prepare(env, &net->nat, "nat", NULL);
    s_spawn(env, &net->nat);
    snprintf(links, sizeof links, "nat@%s", net->nat.endpoint);
    s_prepare(env, &net->p2, "p2", links);
    s_spawn(env, &net->p2);
    snprintf(net->hub.sets[0], sizeof net->hub.sets[0], "network.links=%s", links);
    const char *sets[] = { net->hub.sets[0], NULL };
    th_broker_start(env, sets);
    net->hub.index = th_current(env);
    snprintf(net->hub.data, sizeof net->hub.data, "%s", env->data);
    fed_wait_log(env, net->hub.index, "event=link_ready broker=nat ", 1);
    fed_wait_log(env, net->p2.index, "event=link_ready broker=nat ", 1);
}

static truc_client_t *s_agent(th_env_t *env, s_broker_t *b, th_agency_t who)
{
    truc_client_t *c =
        truc_client_new(b->endpoint, env->agency[who], proto_identity_public(b->id)->curve_pk, 64);
    th_check(c != NULL, "client");
    proto_msg_t *ready = NULL;
    proto_err_t rc = truc_client_hello(c, TH_RECV_TIMEOUT_MS, &ready);
    th_check(rc == PROTO_OK, "%s: no READY: %s (%s)", th_code(who), proto_errname(rc),
             truc_client_error_text(c));
    proto_msg_destroy(&ready);
    return c;
}

// ---------------------------------------------------------------------------
//  Traffic: what was sent, what arrived

typedef struct {
    truc_doc_t *doc;
    th_agency_t from;
    th_agency_t to[2];
    uint32_t nto;
    int got[2];       // DELIVERs each recipient received
    int delivered[2]; // verified DELIVERED the sender received per recipient
} s_sent_t;

typedef struct {
    s_sent_t sent[S_MAX_DOCS];
    size_t n;
    truc_client_t *agent[TH_NAGENCIES];
} s_traffic_t;

static void s_send(th_env_t *env, s_traffic_t *t, th_agency_t from, th_agency_t to1,
                   th_agency_t to2)
{
    th_check(t->n < S_MAX_DOCS, "too many documents");
    s_sent_t *s = &t->sent[t->n++];
    memset(s, 0, sizeof *s);
    s->from = from;
    s->to[s->nto++] = to1;
    if (to2 != TH_NAGENCIES)
        s->to[s->nto++] = to2;
    const char *codes[] = { th_code(s->to[0]), s->nto > 1 ? th_code(s->to[1]) : NULL };
    static const uint8_t bytes[] = "%PDF-1.4 van ban lien tinh";
    truc_att_t att = { "van-ban.pdf", "application/pdf", bytes, sizeof bytes };
    s->doc =
        truc_doc_build(env->agency[from], codes, s->nto, "Van ban lien tinh", "CV", 0, &att, 1);
    th_check(s->doc != NULL, "truc_doc_build");
    truc_client_t *c = t->agent[from];
    th_check(truc_client_submit(c, s->doc) == PROTO_OK, "submit");
    proto_msg_t *answer = th_answer(c, truc_doc_id(s->doc), TH_RECV_TIMEOUT_MS);
    char what[400];
    th_check(answer && answer->kind == PROTO_KIND_ACCEPTED, "%s: answered with %s", th_code(from),
             truc_msg_describe(answer, truc_doc_id(s->doc), what, sizeof what));
    proto_msg_destroy(&answer);
}

static s_sent_t *s_find(s_traffic_t *t, const proto_id_t *id, th_agency_t to, int *slot)
{
    for (size_t i = 0; i < t->n; i++)
        for (uint32_t j = 0; j < t->sent[i].nto; j++)
            if (memcmp(truc_doc_id(t->sent[i].doc)->bytes, id->bytes, PROTO_ID_LEN) == 0 &&
                t->sent[i].to[j] == to) {
                *slot = (int) j;
                return &t->sent[i];
            }
    return NULL;
}

static th_agency_t s_agency_of(const char *code)
{
    for (int i = 0; i < TH_NAGENCIES; i++)
        if (strcmp(th_code((th_agency_t) i), code) == 0)
            return (th_agency_t) i;
    return TH_NAGENCIES;
}

//  One message to agent `who`: a DELIVER is checked and acknowledged, a
//  DELIVERED checked against its recipient's key and acknowledged.
static void s_take(th_env_t *env, s_traffic_t *t, th_agency_t who, proto_msg_t *msg,
                   truc_frames_t *frames)
{
    int slot;
    if (msg->kind == PROTO_KIND_DELIVER) {
        s_sent_t *s = s_find(t, &msg->u.document.doc.id, who, &slot);
        th_check(s != NULL, "%s got a document it was not sent", th_code(who));
        th_check(++s->got[slot] == 1, "%s got a document twice", th_code(who));
        const proto_msg_t *const delivers[] = { msg };
        const truc_frames_t *const fr[] = { frames };
        proto_err_t rc = truc_client_ack_deliveries(t->agent[who], env->dir, delivers, fr, 1);
        th_check(rc == PROTO_OK, "%s: the document does not verify: %s", th_code(who),
                 proto_errname(rc));
    } else if (msg->kind == PROTO_KIND_DELIVERED) {
        const char *signer = msg->u.receipts.head.signer;
        th_agency_t to = s_agency_of(signer);
        th_check(to != TH_NAGENCIES &&
                     truc_receipts_verify(msg, proto_identity_public(env->agency[to])->sign_pk) ==
                         PROTO_OK,
                 "%s: a DELIVERED that does not verify", th_code(who));
        for (uint32_t i = 0; i < msg->u.receipts.nitems; i++) {
            const proto_leaf_t *leaf = &msg->u.receipts.items[i].leaf;
            s_sent_t *s = s_find(t, &leaf->id, to, &slot);
            th_check(s && s->from == who && leaf->event == PROTO_EVENT_DELIVERED,
                     "%s: a DELIVERED for something it did not send", th_code(who));
            s->delivered[slot]++;
        }
        th_check(truc_client_ack(t->agent[who], &msg->u.receipts.mid, 1) == PROTO_OK, "ACK");
    }
}

static bool s_complete(const s_traffic_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        for (uint32_t j = 0; j < t->sent[i].nto; j++)
            if (t->sent[i].got[j] != 1 || t->sent[i].delivered[j] < 1)
                return false;
    return true;
}

//  Serve every agent until each document reached each recipient and each
//  sender has each recipient's DELIVERED.
static void s_drain(th_env_t *env, s_traffic_t *t)
{
    uint64_t until = fed_ms() + S_DRAIN_MS;
    while (!s_complete(t)) {
        th_check(fed_ms() < until, "the round did not complete within %d ms", S_DRAIN_MS);
        for (int who = 0; who < TH_NAGENCIES; who++) {
            truc_client_t *c = t->agent[who];
            proto_msg_t *msg = NULL;
            truc_frames_t *frames = NULL;
            while (c && truc_client_recv(c, 20, &msg, &frames) == PROTO_OK) {
                s_take(env, t, (th_agency_t) who, msg, frames);
                proto_msg_destroy(&msg);
                truc_frames_destroy(&frames);
            }
        }
    }
}

//  The counts of a round: documents, deliveries, verified DELIVERED back,
//  and any recipient that got a document twice.
static void s_report(const s_traffic_t *t, const char *round)
{
    size_t delivered = 0, receipts = 0, twice = 0, lost = 0;
    for (size_t i = 0; i < t->n; i++)
        for (uint32_t k = 0; k < t->sent[i].nto; k++) {
            delivered += t->sent[i].got[k] > 0;
            twice += t->sent[i].got[k] > 1;
            lost += t->sent[i].got[k] == 0;
            receipts += t->sent[i].delivered[k] > 0;
        }
    th_print("%s: %zu documents, %zu deliveries, %zu DELIVERED verified by their senders, %zu "
             "lost, %zu duplicated",
             round, t->n, delivered, receipts, lost, twice);
}

static void s_traffic_free(s_traffic_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        truc_doc_destroy(&t->sent[i].doc);
    t->n = 0;
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
static void s_status(th_env_t *env, s_traffic_t *t, th_agency_t from, th_agency_t to,
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
static void s_refused_far(th_env_t *env, s_traffic_t *t, s_net_t *net)
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
    th_check(fed_log_count(env, net->nat.index, needle) == 1, "nat did not record the refusal");
    truc_doc_destroy(&doc);
}

static void s_audit_verify(th_env_t *env, const char *data)
{
    char out[8192];
    const char *args[] = { th_admin_path, "--data-dir", data, "audit", "verify", NULL };
    int status = th_run(env, args, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "audit verify %s: %s", data, out);
}

static void test_three_brokers(void **state)
{
    th_env_t *env = *state;
    s_net_t net = { .env = env };
    s_traffic_t t;
    memset(&t, 0, sizeof t);
    s_directories(&net);
    s_start(&net);
    t.agent[TH_A] = th_connect(env, TH_A, 64, NULL);
    t.agent[TH_B] = th_connect(env, TH_B, 64, NULL);
    t.agent[TH_C] = s_agent(env, &net.nat, TH_C);
    t.agent[TH_D] = s_agent(env, &net.p2, TH_D);
    t.agent[TH_E] = s_agent(env, &net.p2, TH_E);

    //  Every direction: P1 to P2 and N, P2 to P1, N to P1 and P2, and P1
    //  to itself and P2 at once.
    for (int i = 0; i < 3; i++) {
        s_send(env, &t, TH_A, TH_D, TH_C);
        s_send(env, &t, TH_D, TH_A, TH_B);
        s_send(env, &t, TH_C, TH_B, TH_E);
        s_send(env, &t, TH_B, TH_A, TH_E);
    }
    s_drain(env, &t);
    s_report(&t, "three brokers, every direction");
    //  A recipient in P2 tells a sender in P1, through N.
    s_status(env, &t, TH_D, TH_A, truc_doc_id(t.sent[0].doc));
    s_traffic_free(&t);
    s_refused_far(env, &t, &net);

    //  N dies while documents are on their way through it, and comes back.
    truc_client_destroy(&t.agent[TH_C]);
    for (int i = 0; i < 8; i++) {
        s_send(env, &t, TH_A, TH_D, TH_C);
        s_send(env, &t, TH_E, TH_B, TH_NAGENCIES);
        if (i == 2) {
            kill(env->procs[net.nat.index], SIGKILL);
            int status = 0;
            th_check(th_wait_exit(env, net.nat.index, TH_STOP_TIMEOUT_MS, &status),
                     "nat survived SIGKILL");
        }
    }
    s_spawn(env, &net.nat);
    t.agent[TH_C] = s_agent(env, &net.nat, TH_C);
    s_drain(env, &t);
    s_report(&t, "N killed -9 mid-stream and restarted");
    //  A quiet moment: nothing arrives twice later either.
    uint64_t until = fed_ms() + TH_QUIET_MS;
    while (fed_ms() < until)
        for (int who = 0; who < TH_NAGENCIES; who++) {
            proto_msg_t *msg = NULL;
            truc_frames_t *frames = NULL;
            if (t.agent[who] && truc_client_recv(t.agent[who], 20, &msg, &frames) == PROTO_OK) {
                s_take(env, &t, (th_agency_t) who, msg, frames);
                proto_msg_destroy(&msg);
                truc_frames_destroy(&frames);
            }
        }
    s_traffic_free(&t);

    s_audit_verify(env, net.hub.data);
    s_audit_verify(env, net.nat.data);
    s_audit_verify(env, net.p2.data);
    for (int who = 0; who < TH_NAGENCIES; who++)
        if (who != TH_A && who != TH_B)
            truc_client_destroy(&t.agent[who]);
    proto_identity_destroy(&net.nat.id);
    proto_identity_destroy(&net.p2.id);
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
