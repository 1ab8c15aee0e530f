/*  tests/federation/test_drills.c - federation drills (PROTOCOL.md
    section 16): what a national network of brokers lives through, with
    real truc-broker processes on loopback, real CURVE links, real LMDB
    stores, protocol-level agents counting every document (fed_lib.h) and
    real truc-agents where a DMS's view is the point.

    Two provinces, P1 (hub: agencies A and B) and P2 (p2: D and E), dial
    their national broker N (nat: C); the chain adds a commune broker under
    P2. What is proved:

      - drill_link_cut: P1 reaches N only through a TCP proxy
        (tests/proof/netproxy.h). The proxy blackholes the link (nothing
        moves, nothing closes) until P1 has given the link up and redialed
        and N has dropped its session, both heartbeat timeouts, while
        documents are submitted on both sides; nothing crosses meanwhile.
        Then the path passes again: the link comes back by itself, every
        queued document drains, each reaches each recipient once, every
        sender verifies every recipient's DELIVERED. P2's link, never
        cut, is never taken for a silent one.
      - drill_link_reset: the proxy resets P1's link connection under a
        heartbeat of an hour; P1 starts over with HELLO at once, and
        documents N holds for P1 arrive though P1 has nothing to send.
      - drill_kills: N is killed with SIGKILL three times at different
        points of a stream in every direction, the rest of the stream
        submitted while it is down: after the first documents, halfway
        through a batch's deliveries, and at the first delivery of
        another; started again each time. Nothing lost, nothing twice,
        every DELIVERED verified; the three audit chains verify.
      - drill_revoke: between real truc-agents, A in P1 revokes, updates
        and replaces documents it sent to D in P2; D's agent marks each
        original (inbox, fetch, events), refuses a status about the revoked
        one, and A holds D's DELIVERED for each operation.
      - drill_chain: four brokers, P1 -> N <- P2 <- com (a commune under
        P2, agencies D and E); every document crosses three links, both
        ways, while N and P2 are killed with SIGKILL halfway through a
        stream's deliveries, the rest submitted while they are down. A few
        documents and one kill of each by default; TRUC_TEST_LONG=1 sends
        hundreds and kills each twice.

    Each drill prints its counts (">>" lines). No assertion depends on
    speed: every wait is for progress or a log line, with a generous limit.

    Usage: test_drills TRUC_BROKER TRUC_KEYS TRUC_ADMIN TRUC_AGENT [TEST_NAME]
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "admin_json.h"
#include "agent_harness.h"
#include "fed_lib.h"
#include "harness.h"
#include "netproxy.h"
#include "proto/msg.h"

#define S_DRAIN_MS    180000 // a round's deliveries and receipts, restarts included
#define S_PROGRESS_MS 90000  // a stream that moves not at all for this long is stuck
#define S_CUT_DOCS    40     // documents submitted at most while waiting for the link's loss

enum { S_NAT, S_HUB, S_P2, S_COM }; // the brokers' indexes in every network here

static bool s_long(void)
{
    const char *v = getenv("TRUC_TEST_LONG");
    return v && *v && strcmp(v, "0") != 0;
}

//  N, with P1 and P2 dialing it: A and B at P1, C at N, D and E at P2.
static void s_three(fed_net_t *net, th_env_t *env)
{
    fed_net_init(net, env);
    fed_net_add(net, "nat", -1);
    fed_net_add(net, TH_HUB, S_NAT);
    fed_net_add(net, "p2", S_NAT);
    fed_net_home(net, TH_A, S_HUB);
    fed_net_home(net, TH_B, S_HUB);
    fed_net_home(net, TH_C, S_NAT);
    fed_net_home(net, TH_D, S_P2);
    fed_net_home(net, TH_E, S_P2);
    fed_net_directories(net);
    fed_net_prepare(net);
}

//  Serve the agents until `done` says so; fail if no message at all
//  arrives for S_PROGRESS_MS.
typedef bool(s_until_fn)(const fed_traffic_t *t, size_t arg);

static void s_serve_until(th_env_t *env, fed_traffic_t *t, s_until_fn *done, size_t arg,
                          const char *what)
{
    uint64_t last = fed_ms();
    while (!done(t, arg)) {
        if (fed_serve(env, t) > 0)
            last = fed_ms();
        th_check(fed_ms() - last < S_PROGRESS_MS, "nothing arrived for %d ms while waiting for %s",
                 S_PROGRESS_MS, what);
    }
}

static bool s_reached(const fed_traffic_t *t, size_t deliveries)
{
    return fed_deliveries(t) >= deliveries || fed_complete(t);
}

// ---------------------------------------------------------------------------
//  1. drill_link_cut

//  Deliveries of documents t->sent[from..] that crossed between P1 and P2.
static size_t s_crossed(const fed_traffic_t *t, size_t from)
{
    size_t n = 0;
    for (size_t i = from; i < t->n; i++)
        for (uint32_t j = 0; j < t->sent[i].nto; j++)
            n += t->sent[i].got[j] > 0 && (t->sent[i].from <= TH_B) != (t->sent[i].to[j] <= TH_B);
    return n;
}

//  Deliveries not made yet.
static size_t s_waiting(const fed_traffic_t *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        for (uint32_t j = 0; j < t->sent[i].nto; j++)
            n += t->sent[i].got[j] == 0;
    return n;
}

static void test_drill_link_cut(void **state)
{
    th_env_t *env = *state;
    fed_net_t net;
    fed_traffic_t t;
    memset(&t, 0, sizeof t);
    s_three(&net, env);
    //  N's heartbeat is the link's (READY carries it): 1 s, so both sides
    //  give a silent link up within seconds.
    snprintf(net.b[S_NAT].heartbeat, sizeof net.b[S_NAT].heartbeat, "1s");
    netproxy_t *proxy = netproxy_new(net.b[S_NAT].endpoint);
    th_check(proxy != NULL, "no proxy to %s", net.b[S_NAT].endpoint);
    snprintf(net.b[S_HUB].dial, sizeof net.b[S_HUB].dial, "%s", netproxy_endpoint(proxy));
    fed_net_start(&net);
    fed_broker_t *hub = &net.b[S_HUB], *nat = &net.b[S_NAT];
    t.agent[TH_A] = fed_agent(env, hub, TH_A);
    t.agent[TH_B] = fed_agent(env, hub, TH_B);
    t.agent[TH_D] = fed_agent(env, &net.b[S_P2], TH_D);
    t.agent[TH_E] = fed_agent(env, &net.b[S_P2], TH_E);
    for (int i = 0; i < 3; i++) {
        fed_send(env, &t, TH_A, TH_D, TH_E);
        fed_send(env, &t, TH_D, TH_A, TH_NAGENCIES);
    }
    fed_drain(env, &t, S_DRAIN_MS);
    fed_report(&t, "link cut: before the cut");

    //  The cut: documents keep coming on both sides until P1 has reset the
    //  link and N has dropped P1's session.
    int resets = fed_log_count(env, hub->index, "event=link_reset broker=nat ");
    int dropped = fed_log_count(env, nat->index, "event=link_disconnected broker=hub ");
    int readies = fed_log_count(env, hub->index, "event=link_ready broker=nat ");
    size_t before_cut = t.n;
    netproxy_set_mode(proxy, NETPROXY_BLACKHOLE);
    uint64_t cut_at = fed_ms(), until = cut_at + S_DRAIN_MS;
    while (fed_log_count(env, hub->index, "event=link_reset broker=nat ") <= resets ||
           fed_log_count(env, nat->index, "event=link_disconnected broker=hub ") <= dropped) {
        th_check(fed_ms() < until, "the link was not given up on both sides within %d ms",
                 S_DRAIN_MS);
        if (t.n - before_cut < S_CUT_DOCS) {
            fed_send(env, &t, TH_A, TH_D, TH_B);
            fed_send(env, &t, TH_E, TH_B, TH_NAGENCIES);
        }
        fed_serve(env, &t);
    }
    uint64_t lost_after = fed_ms() - cut_at;
    //  And after the loss, on both sides again.
    for (int i = 0; i < 3; i++) {
        fed_send(env, &t, TH_B, TH_E, TH_NAGENCIES);
        fed_send(env, &t, TH_D, TH_A, TH_B);
    }
    fed_quiet(env, &t);
    th_check(s_crossed(&t, before_cut) == 0, "%zu deliveries crossed a blackholed link",
             s_crossed(&t, before_cut));
    size_t during = t.n - before_cut;
    th_print("link cut: while blackholed, %zu documents submitted, %zu deliveries waiting, none "
             "crossed",
             during, s_waiting(&t));

    netproxy_set_mode(proxy, NETPROXY_PASS);
    fed_wait_log(env, hub->index, "event=link_ready broker=nat ", readies + 1);
    fed_drain(env, &t, S_DRAIN_MS);
    fed_quiet(env, &t);
    netproxy_stats_t ps;
    netproxy_stats(proxy, &ps);
    th_print("link cut: %zu documents submitted during the cut, the link given up by both sides "
             "after %llu ms, %d link resets at P1, %llu connections through the proxy",
             during, (unsigned long long) lost_after,
             fed_log_count(env, hub->index, "event=link_reset broker=nat ") - resets,
             (unsigned long long) ps.accepted);
    fed_report(&t, "link cut: after the link came back");
    //  P2's link, never cut, was never taken for a silent one: its
    //  heartbeats keep N's pace (1 s), not P2's own (60 s).
    th_check(fed_log_count(env, nat->index, "event=link_disconnected broker=p2 ") == 0 &&
                 fed_log_count(env, net.b[S_P2].index, "event=link_ready broker=nat ") == 1,
             "P2's link, never cut, was dropped");
    fed_net_audit_verify(&net);
    fed_traffic_free(&t);
    for (int who = 0; who < TH_NAGENCIES; who++)
        truc_client_destroy(&t.agent[who]);
    netproxy_destroy(&proxy);
    fed_net_free(&net);
    th_pass(env);
}

//  drill_link_reset: the link's TCP connection reset under it (the proxy
//  sends RST both ways, as a restarted router or a killed broker does),
//  with a heartbeat of an hour, so no heartbeat can notice. ZeroMQ connects
//  P1's socket again by itself, to a session N has never seen; P1 must
//  start over with HELLO at once, not when it next has something to send:
//  here only N has, documents from P2 to P1.
static void test_drill_link_reset(void **state)
{
    th_env_t *env = *state;
    fed_net_t net;
    fed_traffic_t t;
    memset(&t, 0, sizeof t);
    s_three(&net, env);
    snprintf(net.b[S_NAT].heartbeat, sizeof net.b[S_NAT].heartbeat, "1h");
    netproxy_t *proxy = netproxy_new(net.b[S_NAT].endpoint);
    th_check(proxy != NULL, "no proxy to %s", net.b[S_NAT].endpoint);
    snprintf(net.b[S_HUB].dial, sizeof net.b[S_HUB].dial, "%s", netproxy_endpoint(proxy));
    fed_net_start(&net);
    fed_broker_t *hub = &net.b[S_HUB];
    t.agent[TH_A] = fed_agent(env, hub, TH_A);
    t.agent[TH_D] = fed_agent(env, &net.b[S_P2], TH_D);
    fed_send(env, &t, TH_A, TH_D, TH_NAGENCIES);
    fed_send(env, &t, TH_D, TH_A, TH_NAGENCIES);
    fed_drain(env, &t, S_DRAIN_MS);
    fed_quiet(env, &t);

    int readies = fed_log_count(env, hub->index, "event=link_ready broker=nat ");
    size_t cut = netproxy_cut(proxy);
    th_print("link reset: the proxy reset %zu connection(s) under P1's link", cut);
    th_check(cut >= 1, "the proxy held no connection to reset");
    for (int i = 0; i < 3; i++)
        fed_send(env, &t, TH_D, TH_A, TH_NAGENCIES);
    fed_wait_log(env, hub->index, "event=link_ready broker=nat ", readies + 1);
    fed_drain(env, &t, S_DRAIN_MS);
    fed_send(env, &t, TH_A, TH_D, TH_NAGENCIES);
    fed_drain(env, &t, S_DRAIN_MS);
    fed_quiet(env, &t);
    fed_report(&t, "link reset under P1, heartbeat 1 h");
    fed_traffic_free(&t);
    for (int who = 0; who < TH_NAGENCIES; who++)
        truc_client_destroy(&t.agent[who]);
    netproxy_destroy(&proxy);
    fed_net_free(&net);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  2. drill_kills

//  One round in every direction through N; C (at N) receives without being
//  in session, so its documents wait at N through every kill. Five
//  deliveries to agents in session.
static void s_round_three(th_env_t *env, fed_traffic_t *t)
{
    fed_send(env, t, TH_A, TH_D, TH_C);
    fed_send(env, t, TH_D, TH_A, TH_NAGENCIES);
    fed_send(env, t, TH_E, TH_B, TH_C);
    fed_send(env, t, TH_B, TH_E, TH_A);
}

//  Deliveries of every document sent so far to agents other than C.
static size_t s_live(const fed_traffic_t *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        for (uint32_t j = 0; j < t->sent[i].nto; j++)
            n += t->sent[i].to[j] != TH_C;
    return n;
}

static void s_kill(th_env_t *env, fed_broker_t *b, const fed_traffic_t *t, int *kills,
                   const char *when)
{
    fed_broker_kill(env, b);
    ++*kills;
    th_print("kill %d of %s (%s): %zu documents sent, %zu deliveries so far", *kills, b->label,
             when, t->n, fed_deliveries(t));
}

//  One round of documents.
typedef void(s_round_fn)(th_env_t *env, fed_traffic_t *t);

//  n rounds, the agents served after each; victim is killed as soon as the
//  deliveries reach kill_at, and the rounds left are submitted while it is
//  down. If they are all submitted first, the agents are served until then.
static void s_stream(th_env_t *env, fed_traffic_t *t, s_round_fn *round, int n, size_t kill_at,
                     fed_broker_t *victim, int *kills, const char *when)
{
    bool killed = false;
    for (int i = 0; i < n; i++) {
        round(env, t);
        if (!killed && (kill_at == 0 || (fed_serve(env, t), fed_deliveries(t) >= kill_at))) {
            s_kill(env, victim, t, kills, when);
            killed = true;
        }
    }
    if (!killed) {
        s_serve_until(env, t, s_reached, kill_at, when);
        s_kill(env, victim, t, kills, when);
    }
}

static void test_drill_kills(void **state)
{
    th_env_t *env = *state;
    fed_net_t net;
    fed_traffic_t t;
    memset(&t, 0, sizeof t);
    s_three(&net, env);
    fed_net_start(&net);
    fed_broker_t *nat = &net.b[S_NAT];
    t.agent[TH_A] = fed_agent(env, &net.b[S_HUB], TH_A);
    t.agent[TH_B] = fed_agent(env, &net.b[S_HUB], TH_B);
    t.agent[TH_D] = fed_agent(env, &net.b[S_P2], TH_D);
    t.agent[TH_E] = fed_agent(env, &net.b[S_P2], TH_E);
    const int batch = s_long() ? 50 : 6;
    int kills = 0;

    //  1: while documents are submitted: after the first round, the others
    //  come while N is down.
    s_stream(env, &t, s_round_three, batch, 0, nat, &kills, "while documents are submitted");
    fed_broker_spawn(env, nat);

    //  2: halfway through the deliveries of a batch.
    size_t base = fed_deliveries(&t);
    s_stream(env, &t, s_round_three, batch, base + (size_t) batch * 5 / 2, nat, &kills,
             "halfway through a batch's deliveries");
    fed_broker_spawn(env, nat);

    //  3: at the first delivery of another batch.
    s_serve_until(env, &t, s_reached, s_live(&t), "the earlier batches delivered");
    base = fed_deliveries(&t);
    s_stream(env, &t, s_round_three, batch, base + 1, nat, &kills,
             "at the first delivery of a batch");
    fed_broker_spawn(env, nat);

    t.agent[TH_C] = fed_agent(env, nat, TH_C);
    fed_drain(env, &t, S_DRAIN_MS);
    fed_quiet(env, &t);
    fed_report(&t, "N killed -9 three times mid-stream");
    fed_net_audit_verify(&net);
    fed_traffic_free(&t);
    for (int who = 0; who < TH_NAGENCIES; who++)
        truc_client_destroy(&t.agent[who]);
    fed_net_free(&net);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  3. drill_revoke (real truc-agents)

#define S_ID_LEN 37 // UUID text and NUL
#define S_TYPE   "Công văn"

typedef char s_id_t[S_ID_LEN];

static void s_id_get(const msgpack_object *o, const char *path, s_id_t out)
{
    const char *text = ah_str(o, path);
    th_check(text && strlen(text) == 36, "%s is not a document id in %s", path, ah_show(o));
    memcpy(out, text, S_ID_LEN);
}

//  The entry of `documents` whose id is id, or NULL.
static const msgpack_object *s_entry(const ah_reply_t *r, const char *id)
{
    const msgpack_object *list = ah_get(r->map, "documents");
    for (uint32_t i = 0; list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size;
         i++)
        if (ah_str_is(&list->via.array.ptr[i], "id", id))
            return &list->via.array.ptr[i];
    return NULL;
}

static bool s_listed_id(const ah_reply_t *r, void *arg)
{
    return ah_is_ok(r) && s_entry(r, arg) != NULL;
}

typedef struct {
    const char *id;    // the original
    const char *field; // revoked_by, updated_by, replaced_by
    const char *by;    // the operation's id
} s_mark_t;

static bool s_inbox_marked(const ah_reply_t *r, void *arg)
{
    const s_mark_t *m = arg;
    const msgpack_object *e = ah_is_ok(r) ? s_entry(r, m->id) : NULL;
    return e && ah_str_is(e, m->field, m->by);
}

//  `sent ID`: accepted and delivered to its one recipient.
static bool s_delivered(const ah_reply_t *r, void *arg)
{
    (void) arg;
    const msgpack_object *d = ah_get(r->map, "document");
    return ah_is_ok(r) && ah_str_is(d, "state", "accepted") && ah_count(d, "recipients") == 1 &&
           ah_str_is(d, "recipients[0].state", "delivered");
}

static void test_drill_revoke(void **state)
{
    ah_env_t *env = *state;
    fed_net_t net;
    s_three(&net, env->th);
    fed_net_start(&net);
    char key[TH_PATH_MAX + 64];
    snprintf(key, sizeof key, "broker.public_key=%s/p2.public", env->th->keys);
    const char *d_sets[] = { key, NULL };
    ah_agent_t *a = ah_agent_new(env, TH_A, net.b[S_HUB].endpoint, 0, NULL);
    ah_agent_t *d = ah_agent_new(env, TH_D, net.b[S_P2].endpoint, 0, d_sets);
    ah_agent_start(a);
    ah_agent_start(d);
    ah_wait_directory(a);
    ah_wait_directory(d);

    s_id_t doc[3], op[3];
    const char *to[] = { th_code(TH_D) };
    const char *subjects[] = { "Văn bản liên tỉnh sẽ bị thu hồi",
                               "Văn bản liên tỉnh sẽ được cập nhật",
                               "Văn bản liên tỉnh sẽ bị thay thế" };
    for (int i = 0; i < 3; i++) {
        ah_reply_t *r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s}}", "submit", to, (size_t) 1,
                                S_TYPE, subjects[i]);
        ah_expect_ok(r, "submit");
        s_id_get(r->map, "id", doc[i]);
        ah_reply_destroy(&r);
    }
    for (int i = 0; i < 3; i++) {
        ah_reply_t *r = ah_poll(d, s_listed_id, doc[i], "the original at D, in P2",
                                "{cmd:s limit:i}", "inbox", 1000);
        ah_reply_destroy(&r);
        r = ah_poll(a, s_delivered, NULL, "D's DELIVERED for the original at A", "{cmd:s id:s}",
                    "sent", doc[i]);
        ah_reply_destroy(&r);
    }

    //  A revokes the first, updates the second, replaces the third.
    ah_reply_t *r = ah_call(a, "{cmd:s refs:[s] reason:s}", "revoke", doc[0], "Ban hành nhầm");
    ah_expect_ok(r, "revoke");
    s_id_get(r->map, "id", op[0]);
    ah_reply_destroy(&r);
    const char *cmds[] = { NULL, "update", "replace" };
    for (int i = 1; i < 3; i++) {
        r = ah_call(a, "{cmd:s refs:[s] reason:s doc:{to:A type:s subject:s}}", cmds[i], doc[i],
                    "Sửa trích yếu", to, (size_t) 1, S_TYPE, "Bản mới");
        ah_expect_ok(r, cmds[i]);
        s_id_get(r->map, "id", op[i]);
        ah_reply_destroy(&r);
    }
    const char *fields[] = { "revoked_by", "updated_by", "replaced_by" };
    const char *topics[] = { "inbox.revoked", "inbox.updated", "inbox.replaced" };
    for (int i = 0; i < 3; i++) {
        s_mark_t mark = { doc[i], fields[i], op[i] };
        r = ah_poll(d, s_inbox_marked, &mark, "the original marked at D", "{cmd:s limit:i}",
                    "inbox", 1000);
        ah_reply_destroy(&r);
        r = ah_call(d, "{cmd:s id:s}", "fetch", doc[i]);
        ah_expect_ok(r, "fetch the original");
        th_check(ah_str_is(r->map, fields[i], op[i]), "fetch %s: expected %s %s in %s", doc[i],
                 fields[i], op[i], ah_show(r->map));
        //  The DMS sees the brokers it crossed, in order.
        th_check(ah_count(r->map, "route") == 3 && ah_str_is(r->map, "route[0].broker", TH_HUB) &&
                     ah_str_is(r->map, "route[1].broker", "nat") &&
                     ah_str_is(r->map, "route[2].broker", "p2") &&
                     ah_int(r->map, "route[2].time") > 0,
                 "fetch %s: expected the route hub > nat > p2 in %s", doc[i], ah_show(r->map));
        ah_reply_destroy(&r);
        ah_events_wait(d, topics[i], "id", doc[i], fields[i], op[i], "from", th_code(TH_A), NULL);
        r = ah_poll(a, s_delivered, NULL, "D's DELIVERED for the operation at A", "{cmd:s id:s}",
                    "sent", op[i]);
        ah_reply_destroy(&r);
    }
    //  No status about the revoked document; the replaced one may still
    //  get one, and it reaches A through N.
    r = ah_call(d, "{cmd:s id:s code:i}", "status", doc[0], 3);
    ah_expect_error(r, PROTO_ERR_REVOKED, "id", "a status about a revoked document");
    ah_reply_destroy(&r);
    r = ah_call(d, "{cmd:s id:s code:i}", "status", doc[2], 3);
    ah_expect_ok(r, "a status about a replaced document");
    ah_reply_destroy(&r);
    th_print("revoke across brokers: 3 originals and 3 operations (revoke, update, replace) from "
             "A in P1 to D in P2, each original marked at D, each operation's DELIVERED at A");
    fed_net_audit_verify(&net);
    fed_net_free(&net);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  4. drill_chain

//  One round across the three links, both ways: six deliveries.
static void s_round_chain(th_env_t *env, fed_traffic_t *t)
{
    fed_send(env, t, TH_A, TH_E, TH_NAGENCIES);
    fed_send(env, t, TH_E, TH_A, TH_B);
    fed_send(env, t, TH_B, TH_D, TH_E);
    fed_send(env, t, TH_D, TH_B, TH_NAGENCIES);
}

static void test_drill_chain(void **state)
{
    th_env_t *env = *state;
    fed_net_t net;
    fed_traffic_t t;
    memset(&t, 0, sizeof t);
    fed_net_init(&net, env);
    fed_net_add(&net, "nat", -1);
    fed_net_add(&net, TH_HUB, S_NAT);
    fed_net_add(&net, "p2", S_NAT);
    fed_net_add(&net, "com", S_P2);
    fed_net_home(&net, TH_A, S_HUB);
    fed_net_home(&net, TH_B, S_HUB);
    fed_net_home(&net, TH_C, S_NAT);
    fed_net_home(&net, TH_D, S_COM);
    fed_net_home(&net, TH_E, S_COM);
    fed_net_directories(&net);
    fed_net_prepare(&net);
    fed_net_start(&net);
    t.agent[TH_A] = fed_agent(env, &net.b[S_HUB], TH_A);
    t.agent[TH_B] = fed_agent(env, &net.b[S_HUB], TH_B);
    t.agent[TH_D] = fed_agent(env, &net.b[S_COM], TH_D);
    t.agent[TH_E] = fed_agent(env, &net.b[S_COM], TH_E);
    const bool lng = s_long();
    const int rounds = lng ? 4 : 2, per = lng ? 60 : 3;
    int kills = 0;
    //  Each round: a stream both ways across the three links, a kill of N
    //  or P2 halfway through its deliveries, and the drain.
    for (int round = 0; round < rounds; round++) {
        size_t base = fed_deliveries(&t);
        fed_broker_t *victim = &net.b[round % 2 ? S_P2 : S_NAT];
        s_stream(env, &t, s_round_chain, per, base + (size_t) per * 6 / 2, victim, &kills,
                 "halfway through a stream's deliveries");
        fed_broker_spawn(env, victim);
        fed_drain(env, &t, S_DRAIN_MS);
    }
    fed_quiet(env, &t);
    fed_report(&t, "four brokers, three hops each way, N and P2 killed -9");
    fed_net_audit_verify(&net);
    fed_traffic_free(&t);
    for (int who = 0; who < TH_NAGENCIES; who++)
        truc_client_destroy(&t.agent[who]);
    fed_net_free(&net);
    th_pass(env);
}

#define S_TEST(f)  cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)
#define S_AGENT(f) cmocka_unit_test_setup_teardown(f, ah_setup, ah_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_drills", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_ADMIN", &th_admin_path, "TRUC_AGENT",
                           &ah_agent_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_drill_link_cut), S_TEST(test_drill_link_reset), S_TEST(test_drill_kills),
        S_AGENT(test_drill_revoke),  S_TEST(test_drill_chain),
    };
    return th_run_tests("test_drills", "truc federation drills", tests,
                        sizeof tests / sizeof tests[0], filter);
}
