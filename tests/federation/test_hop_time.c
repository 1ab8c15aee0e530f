/*  tests/federation/test_hop_time.c - how long a hop may wait for the next
    broker (PROTOCOL.md 16.8), with real truc-broker processes on loopback.

    The harness's broker "hub" (A, B) and "nat" (C) share one directory
    (fed_two_brokers). What is proved:

      - hop_expiry: hub's link to nat goes nowhere (nat is not running) and
        hub's store.ttl is 2 s. A's document to C waits in hub's queue for
        nat until its time to live passes; then A gets hub's signed EXPIRED
        for C, naming nat and ERR_EXPIRED, hub logs and audits the hop as
        expired, and once nat runs and the link is up nothing is pushed:
        nat stores nothing and C gets nothing.
      - hop_expiry_relay: nat is between hub and a third broker p2 (home for
        D) that never links. A test client with hub's key plays hub's side
        of the link and forwards A's document for D; nat stores it and
        queues it for p2; once nat's store.ttl (2 s) passes, nat signs an
        EXPIRED for D naming p2 and sends it back over the link the
        document came by; nat then purges its copy (store.retention 0),
        after the hop expired.
      - hop_retention: with store.retention 0 at hub, a document whose only
        open item is its hop to nat (not running) is kept while another,
        delivered here, is purged; once nat runs and stores it (the hop
        done) it is purged too, after the hop's answer in hub's audit.

    Usage: test_hop_time TRUC_BROKER TRUC_KEYS TRUC_ADMIN [TEST_NAME]
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static proto_identity_t *s_identity(th_env_t *env, const char *label)
{
    char path[TH_PATH_MAX + 32], err[256];
    proto_identity_t *id = NULL;
    snprintf(path, sizeof path, "%s/%s.secret", env->keys, label);
    th_check(proto_identity_load(path, NULL, &id, err, sizeof err) == PROTO_OK, "load %s: %s", path,
             err);
    return id;
}

static truc_doc_t *s_doc(th_env_t *env, th_agency_t to)
{
    const char *codes[] = { th_code(to) };
    truc_doc_t *doc = truc_doc_build(env->agency[TH_A], codes, 1, "Cong van", "CV", 0, NULL, 0);
    th_check(doc != NULL, "truc_doc_build");
    return doc;
}

typedef struct {
    const proto_id_t *id;
} s_expired_match_t;

static bool s_is_expired(const proto_msg_t *msg, void *arg)
{
    const s_expired_match_t *want = arg;
    return msg->kind == PROTO_KIND_EXPIRED && truc_receipts_find(msg, want->id) != NULL;
}

//  c gets an EXPIRED for doc signed by signer, its item for recipient `to`
//  naming broker and ERR_EXPIRED; acknowledged.
static void s_expired(truc_client_t *c, const truc_doc_t *doc, const proto_identity_t *signer,
                      const char *to, const char *broker, const char *who)
{
    s_expired_match_t want = { truc_doc_id(doc) };
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv_match(c, TH_RECV_TIMEOUT_MS, s_is_expired, &want, &msg, NULL);
    th_check(rc == PROTO_OK, "%s: no EXPIRED: %s", who, proto_errname(rc));
    const proto_item_t *item = truc_receipts_find(msg, truc_doc_id(doc));
    th_check(item->leaf.event == PROTO_EVENT_EXPIRED && item->leaf.to &&
                 strcmp(item->leaf.to, to) == 0 && item->leaf.reason &&
                 strstr(item->leaf.reason, broker) && strstr(item->leaf.reason, "ERR_EXPIRED"),
             "%s: the EXPIRED does not name %s, %s and ERR_EXPIRED (reason \"%s\")", who, to,
             broker, item->leaf.reason ? item->leaf.reason : "");
    th_check(truc_receipts_verify(msg, proto_identity_public(signer)->sign_pk) == PROTO_OK,
             "%s: the EXPIRED is not signed by %s", who, proto_identity_public(signer)->name);
    th_check(msg->u.receipts.mid && truc_client_ack(c, &msg->u.receipts.mid, 1) == PROTO_OK, "ACK");
    proto_msg_destroy(&msg);
}

//  The audit chain of the broker on data, about doc: its text.
static void s_audit(th_env_t *env, const char *data, const truc_doc_t *doc, char *out, size_t len)
{
    char id_text[PROTO_ID_TEXT_LEN];
    proto_id_format(truc_doc_id(doc), id_text);
    const char *args[] = { th_admin_path, "--data-dir", data, "audit", "show", id_text, NULL };
    int status = th_run(env, args, out, len);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "audit show: %s", out);
}

static void test_hop_expiry(void **state)
{
    th_env_t *env = *state;
    char endpoint[64] = "", links[128], needle[200], id_text[PROTO_ID_TEXT_LEN];
    static char audit[TH_ADMIN_OUT_MAX];
    fed_two_brokers(env);
    //  nat's port, where nothing listens yet.
    int port = th_port_outside_ephemeral();
    th_check(port > 0, "no free port");
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    snprintf(links, sizeof links, "network.links=nat@%s", endpoint);
    const char *sets[] = { links, "network.heartbeat=1s", "store.ttl=2s", NULL };
    th_broker_start(env, sets);
    int hub = th_current(env);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);

    truc_doc_t *doc = s_doc(env, TH_C);
    th_check(truc_client_submit(a, doc) == PROTO_OK, "submit");
    fed_accepted(a, doc);
    proto_id_format(truc_doc_id(doc), id_text);
    s_expired(a, doc, env->hub, th_code(TH_C), "nat", "A");
    snprintf(needle, sizeof needle, "event=hop_expired doc=%s from=%s broker=nat", id_text,
             th_code(TH_A));
    fed_wait_log(env, hub, needle, 1);
    s_audit(env, env->data, doc, audit, sizeof audit);
    th_check(strstr(audit, "hop=nat code=ERR_EXPIRED") != NULL, "not audited: %s", audit);

    //  nat comes up, the link with it: nothing is pushed.
    int nat = fed_start_nat(env, endpoint, sizeof endpoint, NULL);
    fed_wait_log(env, hub, "event=link_ready broker=nat ", 1);
    proto_identity_t *nat_id = s_identity(env, "nat");
    truc_client_t *c = fed_connect_nat(env, TH_C, endpoint, nat_id);
    proto_msg_t *more = NULL;
    th_check(truc_client_recv(c, TH_QUIET_MS, &more, NULL) != PROTO_OK,
             "C got something after the hop expired");
    th_check(fed_log_count(env, nat, "event=forward_accepted") == 0 &&
                 fed_log_count(env, hub, "event=hop_done") == 0,
             "the expired hop was pushed");

    truc_doc_destroy(&doc);
    th_drop(env, &a);
    truc_client_destroy(&c);
    proto_identity_destroy(&nat_id);
    th_pass(env);
}

//  fed_two_brokers, and a third broker p2, home for D, that nat knows and
//  that never links.
static void s_three_brokers(th_env_t *env)
{
    char pub[TH_PATH_MAX + 64];
    fed_two_brokers(env);
    const char *make[] = { th_keys_path, "new", "--broker", "p2", "--out", env->keys, NULL };
    fed_keys(env, make, "truc-keys new p2");
    snprintf(pub, sizeof pub, "%s/p2.public", env->keys);
    fed_dir(env, env->dirfile, "add-broker", pub, NULL);
    fed_dir(env, env->dirfile, "set-home", th_code(TH_D), "p2");
}

//  The position of needle in the text, or -1.
static long s_at(const char *text, const char *needle)
{
    const char *at = strstr(text, needle);
    return at ? at - text : -1;
}

static void test_hop_retention(void **state)
{
    th_env_t *env = *state;
    char endpoint[64] = "", links[128], needle[200], id_text[PROTO_ID_TEXT_LEN];
    static char audit[TH_ADMIN_OUT_MAX];
    fed_two_brokers(env);
    int port = th_port_outside_ephemeral();
    th_check(port > 0, "no free port");
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    snprintf(links, sizeof links, "network.links=nat@%s", endpoint);
    //  Retention 0: a document is purged at the first turn after it is done.
    const char *sets[] = { links, "network.heartbeat=1s", "store.retention=0s", NULL };
    th_broker_start(env, sets);
    int hub = th_current(env);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);

    //  far waits for nat; near, to B here, is done once B has it.
    truc_doc_t *far = s_doc(env, TH_C), *near = s_doc(env, TH_B);
    th_check(truc_client_submit(a, far) == PROTO_OK, "submit");
    fed_accepted(a, far);
    th_check(truc_client_submit(a, near) == PROTO_OK, "submit");
    fed_accepted(a, near);
    fed_receive(env, b, truc_doc_id(near), "B");
    //  Retention ran after far was stored (it purged near): far, whose hop
    //  still waits, is kept.
    fed_wait_log(env, hub, "event=purged documents=1", 1);
    s_audit(env, env->data, near, audit, sizeof audit);
    th_check(s_at(audit, "purged") >= 0, "near not purged: %s", audit);
    s_audit(env, env->data, far, audit, sizeof audit);
    th_check(s_at(audit, "purged") < 0, "far purged while its hop waits: %s", audit);

    //  nat comes, takes far, and C gets it: the hop is done, and far is
    //  purged after that, not forgotten.
    int nat = fed_start_nat(env, endpoint, sizeof endpoint, NULL);
    (void) nat;
    proto_identity_t *nat_id = s_identity(env, "nat");
    truc_client_t *c = fed_connect_nat(env, TH_C, endpoint, nat_id);
    fed_receive(env, c, truc_doc_id(far), "C at nat");
    proto_id_format(truc_doc_id(far), id_text);
    snprintf(needle, sizeof needle, "event=hop_done doc=%s broker=nat ", id_text);
    fed_wait_log(env, hub, needle, 1);
    fed_wait_log(env, hub, "event=purged documents=1", 2);
    s_audit(env, env->data, far, audit, sizeof audit);
    long done = s_at(audit, "hop=nat accepted"), purged = s_at(audit, "purged");
    th_check(done >= 0 && purged > done, "far not purged after its hop was done: %s", audit);

    truc_doc_destroy(&far);
    truc_doc_destroy(&near);
    th_drop(env, &a);
    th_drop(env, &b);
    truc_client_destroy(&c);
    proto_identity_destroy(&nat_id);
    th_pass(env);
}

static void test_hop_expiry_relay(void **state)
{
    th_env_t *env = *state;
    char endpoint[64] = "", needle[200], id_text[PROTO_ID_TEXT_LEN];
    s_three_brokers(env);
    const char *sets[] = { "store.ttl=2s", "store.retention=0s", NULL };
    int nat = fed_start_nat(env, endpoint, sizeof endpoint, sets);
    static char audit[TH_ADMIN_OUT_MAX];
    char data[TH_PATH_MAX + 32];
    snprintf(data, sizeof data, "%s/data-nat", env->root);
    proto_identity_t *nat_id = s_identity(env, "nat"), *hub_id = s_identity(env, TH_HUB);
    truc_client_t *link = fed_link_client(endpoint, hub_id, nat_id, TH_HUB, false, NULL);

    truc_doc_t *doc = s_doc(env, TH_D);
    fed_forward_accepted(link, doc, th_code(TH_D));
    proto_id_format(truc_doc_id(doc), id_text);
    snprintf(needle, sizeof needle, "event=hop_queued doc=%s from=%s broker=p2", id_text,
             th_code(TH_A));
    fed_wait_log(env, nat, needle, 1);
    //  nat's own EXPIRED comes back over the link, naming p2.
    s_expired(link, doc, nat_id, th_code(TH_D), "p2", "hub's link");
    snprintf(needle, sizeof needle, "event=hop_expired doc=%s from=%s broker=p2", id_text,
             th_code(TH_A));
    fed_wait_log(env, nat, needle, 1);
    //  Its copy at nat is done with once the hop expired: purged after,
    //  not before, and not kept for ever.
    fed_wait_log(env, nat, "event=purged documents=1", 1);
    s_audit(env, data, doc, audit, sizeof audit);
    long expired = s_at(audit, "hop=p2 code=ERR_EXPIRED"), purged = s_at(audit, "purged");
    th_check(expired >= 0 && purged > expired, "not purged after its hop expired: %s", audit);

    truc_doc_destroy(&doc);
    truc_client_destroy(&link);
    proto_identity_destroy(&hub_id);
    proto_identity_destroy(&nat_id);
    th_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_hop_time", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_ADMIN", &th_admin_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_hop_expiry),
        S_TEST(test_hop_expiry_relay),
        S_TEST(test_hop_retention),
    };
    return th_run_tests("test_hop_time", "truc federation hop time limits", tests,
                        sizeof tests / sizeof tests[0], filter);
}
