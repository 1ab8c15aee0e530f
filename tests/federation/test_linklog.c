/*  tests/federation/test_linklog.c - linked brokers check each other's
    transparency logs (PROTOCOL.md 18.5), as agents check their broker's.

    Real truc-broker processes on loopback reading one directory with both
    broker entries: the harness's broker "hub" (home of A, B, D, E) dials
    "nat" (home of C). Documents cross the link both ways between protocol
    clients of A at hub and C at nat, so each broker gets hop receipts
    naming the other's log.

      linklog_restarts  both brokers restarted, then hub killed -9 and
                        started again, documents between: no alarm at
                        either, and the head each holds of the other's log
                        (truc-admin log links, kept in its store) grew.
      linklog_rollback  nat's data directory copied while it is stopped,
                        nat run on until hub holds a later head, stopped,
                        the old copy put back and started (no restore
                        procedure): hub raises the alarm (log line, status,
                        audit entry, log links with both signed heads as
                        evidence), documents still cross the link, the
                        alarm survives hub's restart, and truc-admin log
                        clear nat (audited) lets hub follow nat anew.
      linklog_forged    a test client with hub's key plays the link: nat's
                        READY carries nat's signed head, nat answers
                        LOG_PROVE on the link, asks LOG_PROVE itself, and
                        ignores heads signed with another key or naming
                        another signer (no alarm), answers a malformed
                        LOG_PROOF with ERR_VALUE; it takes a good one,
                        and a second head of the same size with another
                        root, properly signed, is a fork it alarms on.

    Every wait polls with a generous deadline (FED_WAIT_MS); nothing asserts
    on how fast anything happens.

    Usage: test_linklog TRUC_BROKER TRUC_KEYS TRUC_ADMIN [TEST_NAME]
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

#include <cmocka.h>
#include <sodium.h>

#include "admin_json.h"
#include "expect.h"
#include "fed_lib.h"
#include "harness.h"
#include "http_get.h"
#include "proto/identity.h"
#include "proto/msg.h"
#include "proto/sign.h"
#include "proto/tlog.h"

typedef struct {
    th_env_t *env;
    char nat_data[TH_PATH_MAX + 32];
    char nat_endpoint[64];
    char nat_sets[4][TH_PATH_MAX + 64];
    char links[128];
    int nat; // nat's process index
    proto_identity_t *nat_id;
} s_net_t;

// ---------------------------------------------------------------------------
//  Two brokers

static void s_dir(th_env_t *env, const char *verb, const char *a1, const char *a2)
{
    const char *args[] = { th_keys_path, "directory", verb, "--dir", env->dirfile, a1, a2, NULL };
    fed_keys(env, args, verb);
}

//  hub (home for A, B, D, E) and nat (home for C) on one directory.
static void s_two_brokers(s_net_t *net)
{
    th_env_t *env = net->env;
    char pub[TH_PATH_MAX + 64], path[TH_PATH_MAX + 32], err[256];
    snprintf(pub, sizeof pub, "%s/%s.public", env->keys, TH_HUB);
    s_dir(env, "add-broker", pub, NULL);
    const char *make[] = { th_keys_path, "new", "--broker", "nat", "--out", env->keys, NULL };
    fed_keys(env, make, "truc-keys new nat");
    snprintf(pub, sizeof pub, "%s/nat.public", env->keys);
    s_dir(env, "add-broker", pub, NULL);
    const th_agency_t at_hub[] = { TH_A, TH_B, TH_D, TH_E };
    for (size_t i = 0; i < sizeof at_hub / sizeof at_hub[0]; i++)
        s_dir(env, "set-home", th_code(at_hub[i]), TH_HUB);
    s_dir(env, "set-home", th_code(TH_C), "nat");
    snprintf(path, sizeof path, "%s/nat.secret", env->keys);
    th_check(proto_identity_load(path, NULL, &net->nat_id, err, sizeof err) == PROTO_OK,
             "load %s: %s", path, err);
    int port = th_port_outside_ephemeral();
    th_check(port > 0, "no free port");
    snprintf(net->nat_endpoint, sizeof net->nat_endpoint, "tcp://127.0.0.1:%d", port);
    snprintf(net->nat_data, sizeof net->nat_data, "%s/data-nat", env->root);
    th_check(mkdir(net->nat_data, 0700) == 0, "mkdir %s", net->nat_data);
    snprintf(net->nat_sets[0], sizeof net->nat_sets[0], "broker.identity=%s/nat.secret", env->keys);
    snprintf(net->nat_sets[1], sizeof net->nat_sets[1], "broker.data_dir=%s", net->nat_data);
    snprintf(net->nat_sets[2], sizeof net->nat_sets[2], "network.endpoint=%s", net->nat_endpoint);
    snprintf(net->nat_sets[3], sizeof net->nat_sets[3], "network.heartbeat=1s");
    snprintf(net->links, sizeof net->links, "network.links=nat@%s", net->nat_endpoint);
    net->nat = -1;
}

static void s_nat_start(s_net_t *net)
{
    const char *args[] = { "--config", net->env->config, "--set", net->nat_sets[0],
                           "--set",    net->nat_sets[1], "--set", net->nat_sets[2],
                           "--set",    net->nat_sets[3], NULL };
    net->nat = th_spawn(net->env, args);
    fed_wait_log(net->env, net->nat, "event=listening", 1);
}

static void s_nat_stop(s_net_t *net)
{
    int status = 0;
    kill(net->env->procs[net->nat], SIGTERM);
    th_check(th_wait_exit(net->env, net->nat, TH_STOP_TIMEOUT_MS, &status) && WIFEXITED(status) &&
                 WEXITSTATUS(status) == 0,
             "nat did not stop cleanly");
}

//  hub, dialing nat; wait until its link is READY (the n-th time in this
//  process's log: 1).
static void s_hub_start(s_net_t *net)
{
    const char *sets[] = { net->links, "network.heartbeat=1s", "metrics.listen=127.0.0.1:0", NULL };
    th_broker_start(net->env, sets);
    fed_wait_log(net->env, th_current(net->env), "event=link_ready broker=nat ", 1);
}

// ---------------------------------------------------------------------------
//  truc-admin against either broker

//  The size of the broker's own log (log head).
static uint64_t s_own_size(th_env_t *env, const char *data)
{
    th_json_t *json = fed_admin_json(env, data, 0, (const char *const[]){ "log", "head", NULL });
    uint64_t size = 0;
    th_check(th_json_uint(json, "size", &size), "log head: no size");
    th_json_free(&json);
    return size;
}

//  log links at data: the entry for label, or NULL; *json to free.
static const th_json_t *s_link(th_env_t *env, const char *data, const char *label, th_json_t **json)
{
    *json = fed_admin_json(env, data, 0, (const char *const[]){ "log", "links", NULL });
    th_check((*json)->type == TH_JSON_ARRAY, "log links: not an array");
    for (size_t i = 0; i < (*json)->count; i++) {
        const char *b = th_json_text((*json)->items[i], "broker");
        if (b && strcmp(b, label) == 0)
            return (*json)->items[i];
    }
    return NULL;
}

//  The size of label's head held at data (0: none).
static uint64_t s_held(th_env_t *env, const char *data, const char *label)
{
    th_json_t *json = NULL;
    const th_json_t *e = s_link(env, data, label, &json);
    uint64_t size = 0;
    if (e)
        th_check(th_json_uint(e, "size", &size), "log links: no size");
    th_json_free(&json);
    return size;
}

//  Wait until data holds a head of label of at least size min; return it.
static uint64_t s_wait_held(th_env_t *env, const char *data, const char *label, uint64_t min)
{
    uint64_t until = fed_ms() + FED_WAIT_MS, held = 0;
    while ((held = s_held(env, data, label)) < min) {
        th_check(fed_ms() < until, "%s holds %s's head of size %llu, not %llu or more", data, label,
                 (unsigned long long) held, (unsigned long long) min);
        th_sleep_ms(100);
    }
    return held;
}

static uint64_t s_status_alarms(th_env_t *env, const char *data)
{
    th_json_t *json = fed_admin_json(env, data, 0, (const char *const[]){ "status", NULL });
    uint64_t n = 99;
    th_check(th_json_uint(json, "link_log_alarms", &n), "status: no link_log_alarms");
    th_json_free(&json);
    return n;
}

//  Wait until hub's /metrics (port from its log) holds line.
static void s_wait_metric(th_env_t *env, const char *line)
{
    char log[1 << 16];
    th_check(th_read_file(env->logs[th_current(env)], log, sizeof log), "hub's log");
    const char *at = strstr(log, "event=metrics_listening");
    const char *port_at = at ? strstr(at, "port=") : NULL;
    th_check(port_at != NULL, "hub logged no metrics port");
    uint16_t port = (uint16_t) atoi(port_at + 5);
    uint64_t until = fed_ms() + FED_WAIT_MS;
    for (;;) {
        char *body = NULL;
        bool found = th_http_get(port, "/metrics", &body, NULL) == 200 && strstr(body, line);
        free(body);
        if (found)
            return;
        th_check(fed_ms() < until, "hub's /metrics lacks '%s'", line);
        th_sleep_ms(200);
    }
}

static uint64_t s_uint_at(const th_json_t *obj, const char *a, const char *b, const char *c)
{
    const th_json_t *o = th_json_get(th_json_get(obj, a), b);
    uint64_t v = 0;
    return th_json_uint(o, c, &v) ? v : UINT64_MAX;
}

// ---------------------------------------------------------------------------
//  Traffic

static void s_accepted(truc_client_t *c, const truc_doc_t *doc)
{
    char what[400];
    proto_msg_t *answer = th_answer(c, truc_doc_id(doc), TH_RECV_TIMEOUT_MS);
    th_check(answer && answer->kind == PROTO_KIND_ACCEPTED, "answered with %s, expected ACCEPTED",
             truc_msg_describe(answer, truc_doc_id(doc), what, sizeof what));
    proto_msg_destroy(&answer);
}

static bool s_is_deliver(const proto_msg_t *msg, void *arg)
{
    return msg->kind == PROTO_KIND_DELIVER &&
           memcmp(msg->u.document.doc.id.bytes, ((const proto_id_t *) arg)->bytes, PROTO_ID_LEN) ==
               0;
}

//  from sends one document to `to` at the other broker; to gets it, checks
//  it and acknowledges it.
static void s_send(th_env_t *env, truc_client_t *from_c, th_agency_t from, truc_client_t *to_c,
                   th_agency_t to)
{
    const char *list[] = { th_code(to) };
    truc_doc_t *doc = truc_doc_build(env->agency[from], list, 1, "Qua lien ket", "CV", 0, NULL, 0);
    th_check(doc && truc_client_submit(from_c, doc) == PROTO_OK, "submit");
    s_accepted(from_c, doc);
    proto_msg_t *msg = NULL;
    truc_frames_t *frames = NULL;
    proto_id_t id = *truc_doc_id(doc);
    proto_err_t rc =
        truc_client_recv_match(to_c, TH_RECV_TIMEOUT_MS, s_is_deliver, &id, &msg, &frames);
    th_check(rc == PROTO_OK, "%s: no DELIVER: %s", th_code(to), proto_errname(rc));
    const proto_msg_t *const delivers[] = { msg };
    const truc_frames_t *const fr[] = { frames };
    rc = truc_client_ack_deliveries(to_c, env->dir, delivers, fr, 1);
    th_check(rc == PROTO_OK, "%s: the document does not verify: %s", th_code(to),
             proto_errname(rc));
    proto_msg_destroy(&msg);
    truc_frames_destroy(&frames);
    truc_doc_destroy(&doc);
}

static truc_client_t *s_at_nat(s_net_t *net, th_agency_t who)
{
    truc_client_t *c = truc_client_new(net->nat_endpoint, net->env->agency[who],
                                       proto_identity_public(net->nat_id)->curve_pk, 16);
    th_check(c != NULL, "client at nat");
    proto_msg_t *ready = NULL;
    proto_err_t rc = truc_client_hello(c, TH_RECV_TIMEOUT_MS, &ready);
    th_check(rc == PROTO_OK, "%s at nat: no READY: %s", th_code(who), proto_errname(rc));
    proto_msg_destroy(&ready);
    return c;
}

//  n documents each way between A at hub and C at nat, on fresh sessions.
static void s_traffic(s_net_t *net, int n)
{
    truc_client_t *a = th_connect(net->env, TH_A, 16, NULL);
    truc_client_t *c = s_at_nat(net, TH_C);
    for (int i = 0; i < n; i++) {
        s_send(net->env, a, TH_A, c, TH_C);
        s_send(net->env, c, TH_C, a, TH_A);
    }
    truc_client_destroy(&c);
    th_drop(net->env, &a);
}

static void s_no_alarm(s_net_t *net)
{
    th_env_t *env = net->env;
    th_check(s_status_alarms(env, env->data) == 0 && s_status_alarms(env, net->nat_data) == 0,
             "a link log alarm is raised");
    for (int i = 0; i < env->nprocs; i++)
        th_check(fed_log_count(env, i, "event=link_log_alarm") == 0 &&
                     fed_log_count(env, i, "event=link_log_head_refused") == 0,
                 "process %d alarmed or refused a head", i);
}

// ---------------------------------------------------------------------------
//  linklog_restarts

static void test_linklog_restarts(void **state)
{
    s_net_t net = { .env = *state };
    th_env_t *env = net.env;
    s_two_brokers(&net);
    s_nat_start(&net);
    s_hub_start(&net);
    s_traffic(&net, 2);
    //  Each holds a head of the other's log as soon as a hop receipt named
    //  one (or, at nat, from its first question).
    uint64_t nat_at_hub = s_wait_held(env, env->data, "nat", 1);
    uint64_t hub_at_nat = s_wait_held(env, net.nat_data, TH_HUB, 1);
    th_print("first heads held: nat's %llu at hub, hub's %llu at nat",
             (unsigned long long) nat_at_hub, (unsigned long long) hub_at_nat);

    //  Both restart: READY and the first LOG_PROOF give each the other's
    //  current head, which extends the one held.
    th_broker_stop(env);
    s_nat_stop(&net);
    s_nat_start(&net);
    s_hub_start(&net);
    s_wait_held(env, env->data, "nat", s_own_size(env, net.nat_data));
    s_wait_held(env, net.nat_data, TH_HUB, s_own_size(env, env->data));
    s_traffic(&net, 2);

    //  hub killed -9 and started again: what it held of nat is in its
    //  store, and nat's next head must extend it.
    th_broker_kill(env);
    s_hub_start(&net);
    s_traffic(&net, 2);
    uint64_t nat_size = s_own_size(env, net.nat_data), hub_size = s_own_size(env, env->data);
    //  A last restart of hub: READY gives it nat's head as it is now.
    th_broker_stop(env);
    s_hub_start(&net);
    uint64_t nat_now = s_wait_held(env, env->data, "nat", nat_size);
    uint64_t hub_now = s_wait_held(env, net.nat_data, TH_HUB, hub_size);
    th_print("heads held at the end: nat's %llu at hub (was %llu), hub's %llu at nat (was %llu)",
             (unsigned long long) nat_now, (unsigned long long) nat_at_hub,
             (unsigned long long) hub_now, (unsigned long long) hub_at_nat);
    th_check(nat_now > nat_at_hub && hub_now > hub_at_nat, "a held head did not grow");
    s_no_alarm(&net);
    proto_identity_destroy(&net.nat_id);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  linklog_rollback

static void s_sh(th_env_t *env, const char *command)
{
    char out[4096];
    const char *argv[] = { "/bin/sh", "-c", command, NULL };
    int status = th_run(env, argv, out, sizeof out);
    th_check(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: %s", command, out);
}

//  hub's alarm about nat, as log links shows it: a rollback from held to
//  seen, both heads signed.
static void s_check_alarm(th_env_t *env, uint64_t held, uint64_t seen)
{
    th_json_t *json = NULL;
    const th_json_t *e = s_link(env, env->data, "nat", &json);
    const th_json_t *alarm = th_json_get(e, "alarm");
    const char *reason = th_json_text(alarm, "reason");
    th_check(reason && strstr(reason, "rollback"), "no rollback alarm at hub");
    th_check(s_uint_at(alarm, "held", "head", "size") == held &&
                 s_uint_at(alarm, "seen", "head", "size") == seen,
             "the evidence is not the heads of sizes %llu and %llu", (unsigned long long) held,
             (unsigned long long) seen);
    const th_json_t *h = th_json_get(th_json_get(alarm, "held"), "head");
    const th_json_t *s = th_json_get(th_json_get(alarm, "seen"), "head");
    th_check(th_json_text(h, "sig") && th_json_text(s, "sig") &&
                 strcmp(th_json_text(h, "signer"), "nat") == 0 &&
                 strcmp(th_json_text(s, "signer"), "nat") == 0,
             "the evidence lacks nat's signatures");
    uint64_t size = 0;
    th_check(th_json_uint(e, "size", &size) && size == held, "hub moved off the head it held");
    th_json_free(&json);
}

static void test_linklog_rollback(void **state)
{
    s_net_t net = { .env = *state };
    th_env_t *env = net.env;
    char command[4 * TH_PATH_MAX];
    s_two_brokers(&net);
    s_nat_start(&net);
    s_hub_start(&net);
    s_traffic(&net, 1);
    s_wait_held(env, env->data, "nat", 1);

    //  A copy of nat's data directory, taken while it is stopped.
    s_nat_stop(&net);
    snprintf(command, sizeof command, "cp -a '%s' '%s.old'", net.nat_data, net.nat_data);
    s_sh(env, command);
    s_nat_start(&net);
    uint64_t old_size = s_own_size(env, net.nat_data);
    s_traffic(&net, 3);
    s_wait_held(env, env->data, "nat", old_size + 1);
    s_no_alarm(&net);

    //  The old copy back in place, as an old backup put back by hand would.
    //  With nat stopped, the head hub holds is the last it will learn.
    s_nat_stop(&net);
    uint64_t later = s_held(env, env->data, "nat");
    snprintf(command, sizeof command, "rm -rf '%s' && mv '%s.old' '%s'", net.nat_data, net.nat_data,
             net.nat_data);
    s_sh(env, command);
    s_nat_start(&net);
    th_check(s_own_size(env, net.nat_data) == old_size, "nat's log is not the old one");
    int hub = th_current(env);
    fed_wait_log(env, hub, "event=link_log_alarm broker=nat reason=\"rollback", 1);
    s_check_alarm(env, later, old_size);
    th_check(s_status_alarms(env, env->data) == 1, "status does not count hub's alarm");
    s_wait_metric(env, "truc_broker_link_log_alarm{broker=\"nat\"} 1");
    th_json_t *audit = fed_admin_json(
        env, env->data, 0, (const char *const[]){ "audit", "show", "--event", "admin", NULL });
    bool audited = false;
    for (size_t i = 0; audit->type == TH_JSON_ARRAY && i < audit->count; i++) {
        const char *detail = th_json_text(audit->items[i], "detail");
        audited |= detail && strstr(detail, "log alarm for linked broker nat: rollback");
    }
    th_json_free(&audit);
    th_check(audited, "the alarm is not in hub's audit chain");
    th_check(s_status_alarms(env, net.nat_data) == 0, "nat alarmed about hub");

    //  Documents still cross the link; hub holds the same head.
    s_traffic(&net, 1);
    s_check_alarm(env, later, old_size);

    //  The evidence is durable: hub restarted still shows it.
    th_broker_stop(env);
    s_hub_start(&net);
    s_check_alarm(env, later, old_size);

    //  The operator has looked: log clear answers with what it cleared,
    //  audits it, and hub follows nat's log from its current head.
    th_json_t *cleared =
        fed_admin_json(env, env->data, 0, (const char *const[]){ "log", "clear", "nat", NULL });
    const th_json_t *list = th_json_get(cleared, "cleared");
    th_check(list && list->type == TH_JSON_ARRAY && list->count == 1 &&
                 th_json_text(th_json_get(list->items[0], "alarm"), "reason"),
             "log clear did not answer with the alarm it cleared");
    th_json_free(&cleared);
    th_json_t *again =
        fed_admin_json(env, env->data, 2, (const char *const[]){ "log", "clear", "nowhere", NULL });
    th_json_free(&again);
    uint64_t now = s_own_size(env, net.nat_data);
    s_wait_held(env, env->data, "nat", now);
    th_check(s_status_alarms(env, env->data) == 0, "an alarm after log clear");
    s_wait_metric(env, "truc_broker_link_log_alarm{broker=\"nat\"} 0");
    audit = fed_admin_json(env, env->data, 0,
                           (const char *const[]){ "audit", "show", "--event", "admin", NULL });
    audited = false;
    for (size_t i = 0; audit->type == TH_JSON_ARRAY && i < audit->count; i++) {
        const char *detail = th_json_text(audit->items[i], "detail");
        audited |= detail && strstr(detail, "log of linked broker nat cleared");
    }
    th_json_free(&audit);
    th_check(audited, "log clear is not in hub's audit chain");
    s_traffic(&net, 1);
    th_check(fed_log_count(env, th_current(env), "event=link_log_alarm") == 0,
             "hub alarmed again after log clear");
    proto_identity_destroy(&net.nat_id);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  linklog_forged

//  Answer nat's LOG_PROVE on the link with sth (signed by signer as
//  claimed by sth->signer).
static void s_answer_prove(truc_client_t *link, const proto_sth_t *sth)
{
    proto_msg_t *prove = NULL;
    proto_err_t rc =
        truc_client_recv_kind(link, PROTO_KIND_LOG_PROVE, TH_RECV_TIMEOUT_MS, &prove, NULL);
    th_check(rc == PROTO_OK, "nat asked nothing: %s", proto_errname(rc));
    proto_msg_destroy(&prove);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_LOG_PROOF;
    msg.u.log_proof.sth = *sth;
    th_check(truc_client_send(link, &msg, NULL, NULL, 0) == PROTO_OK, "send LOG_PROOF");
}

//  hub's side of the link, played with key id; READY must carry nat's head.
static truc_client_t *s_link_client(s_net_t *net, proto_identity_t *id)
{
    proto_msg_t *ready = NULL;
    truc_client_t *link = fed_link_client(net->nat_endpoint, id, net->nat_id, TH_HUB, true, &ready);
    th_check(ready->u.ready.has_log && strcmp(ready->u.ready.log.signer, "nat") == 0 &&
                 proto_sth_verify(&ready->u.ready.log,
                                  proto_identity_public(net->nat_id)->sign_pk) == PROTO_OK,
             "the link's READY carries no head signed by nat");
    proto_msg_destroy(&ready);
    return link;
}

static void test_linklog_forged(void **state)
{
    s_net_t net = { .env = *state };
    th_env_t *env = net.env;
    s_two_brokers(&net);
    s_nat_start(&net);
    truc_client_t *link = s_link_client(&net, env->hub);

    //  nat answers LOG_PROVE on a link as it answers an agent.
    proto_msg_t ask;
    memset(&ask, 0, sizeof ask);
    ask.kind = PROTO_KIND_LOG_PROVE;
    th_check(truc_client_send(link, &ask, NULL, NULL, 0) == PROTO_OK, "send LOG_PROVE");
    proto_msg_t *proof = NULL;
    th_check(truc_client_recv_kind(link, PROTO_KIND_LOG_PROOF, TH_RECV_TIMEOUT_MS, &proof, NULL) ==
                     PROTO_OK &&
                 proto_sth_verify(&proof->u.log_proof.sth,
                                  proto_identity_public(net.nat_id)->sign_pk) == PROTO_OK,
             "nat did not answer LOG_PROVE on the link with its signed head");
    proto_msg_destroy(&proof);

    //  A head whose signature does not verify with hub's entry's key
    //  (forged, or changed on the way): ignored.
    proto_sth_t sth = { .signer = TH_HUB, .time = truc_now_ms(), .size = 5 };
    randombytes_buf(sth.root, sizeof sth.root);
    th_check(proto_sth_sign(&sth, env->hub) == PROTO_OK, "sign");
    proto_sth_t forged = sth;
    forged.sig[7] ^= 0x20;
    s_answer_prove(link, &forged);
    fed_wait_log(env, net.nat, "event=link_log_head_refused broker=hub", 1);
    th_check(s_held(env, net.nat_data, TH_HUB) == 0, "nat took a forged head");

    //  A LOG_PROOF the strict decoder refuses (a proof starting past its
    //  head) is answered with its code, the session kept.
    proto_msg_t bad;
    memset(&bad, 0, sizeof bad);
    bad.kind = PROTO_KIND_LOG_PROOF;
    bad.u.log_proof.sth = sth;
    proto_buf_t body;
    proto_buf_init(&body);
    static const uint8_t from_6[] = { 0xa4, 'f', 'r', 'o', 'm', 0x06 }; // size 5 + 1
    th_check(proto_msg_encode(&bad, &body, NULL) == PROTO_OK && body.data[0] == 0x81 &&
                 proto_buf_append(&body, from_6, sizeof from_6) == PROTO_OK,
             "encode");
    body.data[0] = 0x82; // {sth, from}
    uint8_t header[PROTO_HEADER_LEN];
    proto_header_write(header, PROTO_KIND_LOG_PROOF);
    const void *frames[] = { header, body.data };
    const size_t lens[] = { sizeof header, body.len };
    th_check(truc_client_send_frames(link, frames, lens, 2) == PROTO_OK, "send LOG_PROOF");
    proto_buf_free(&body);
    proto_msg_t *error = NULL;
    proto_err_t rc =
        truc_client_recv_kind(link, PROTO_KIND_ERROR, TH_RECV_TIMEOUT_MS, &error, NULL);
    th_check(rc == PROTO_OK && error->u.error.code == PROTO_ERR_VALUE && !error->u.error.fatal,
             "a malformed LOG_PROOF: not a non-fatal ERR_VALUE");
    proto_msg_destroy(&error);
    th_check(s_held(env, net.nat_data, TH_HUB) == 0 && s_status_alarms(env, net.nat_data) == 0,
             "nat took a malformed LOG_PROOF");
    truc_client_destroy(&link);

    //  A head hub signed naming another signer: ignored as well.
    link = s_link_client(&net, env->hub);
    proto_sth_t other = sth;
    other.signer = "nat";
    th_check(proto_sth_sign(&other, net.nat_id) == PROTO_OK, "sign");
    s_answer_prove(link, &other);
    fed_wait_log(env, net.nat, "event=link_log_head_refused broker=hub", 2);
    truc_client_destroy(&link);

    //  hub's own head of size 5: held.
    link = s_link_client(&net, env->hub);
    s_answer_prove(link, &sth);
    s_wait_held(env, net.nat_data, TH_HUB, 5);
    th_check(s_status_alarms(env, net.nat_data) == 0, "an alarm for a good head");
    truc_client_destroy(&link);

    //  Another root at size 5, signed by hub too: a fork, alarmed and kept.
    link = s_link_client(&net, env->hub);
    proto_sth_t fork = sth;
    randombytes_buf(fork.root, sizeof fork.root);
    th_check(proto_sth_sign(&fork, env->hub) == PROTO_OK, "sign");
    s_answer_prove(link, &fork);
    fed_wait_log(env, net.nat, "event=link_log_alarm broker=hub reason=\"fork", 1);
    th_json_t *json = NULL;
    const th_json_t *e = s_link(env, net.nat_data, TH_HUB, &json);
    const th_json_t *alarm = th_json_get(e, "alarm");
    th_check(th_json_text(alarm, "reason") && strstr(th_json_text(alarm, "reason"), "fork") &&
                 s_uint_at(alarm, "held", "head", "size") == 5 &&
                 s_uint_at(alarm, "seen", "head", "size") == 5,
             "nat's evidence of the fork is not the two heads");
    th_json_free(&json);
    th_check(s_status_alarms(env, net.nat_data) == 1, "status does not count the fork");
    truc_client_destroy(&link);
    proto_identity_destroy(&net.nat_id);
    th_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_linklog", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_ADMIN", &th_admin_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_linklog_restarts),
        S_TEST(test_linklog_rollback),
        S_TEST(test_linklog_forged),
    };
    return th_run_tests("test_linklog", "truc federation, linked brokers' logs", tests,
                        sizeof tests / sizeof tests[0], filter);
}
