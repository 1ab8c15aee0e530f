/*  tests/federation/test_natdir.c - one directory for the nation: the
    directory travels from the national broker to a province over their
    link (PROTOCOL.md 16.5), with real truc-broker processes on loopback.

    The harness's broker "hub" is the province: it dials "nat", the
    national broker, and takes its directory from it
    (network.directory_from = nat). Both start from the same file (hub
    home for A, B, D, E; nat for C); then each keeps its own. What is
    proved:

      - natdir_down: hub takes nat's directory whole when the link comes
        up. U, added at nat only, reaches hub as a DIRECTORY_DELTA over the
        link (smaller than the whole) and hub's agent B as an agent
        DIRECTORY_DELTA naming U with U's key; a document from U at nat
        then reaches B through the link, and B verifies it with that key.
        nat suspending A (homed at hub) in its file is not applied at nat,
        which holds hub's own agencies (test_natup.c): A still connects
        at hub, and nat sends it no change to A. U revoked at nat is revoked at hub (its
        agents get the delta, a document to U is REJECTED there with
        ERR_AGENCY_REVOKED) and audited. hub restarted without nat keeps
        the merged directory (U, revoked) from what it kept; hub's own
        file is still held to its serial: an older one than applied is
        refused at the start.
      - natdir_forged: a client with nat's broker key plays nat's side of
        a link to hub: a directory signed by another key, one with its
        signature zeroed, one in the agents' form, a delta that does not
        fit and a replay of an older serial are each refused with their
        code and audited; a genuine one is taken.

    Usage: test_natdir TRUC_BROKER TRUC_KEYS [TEST_NAME]
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

#include "expect.h"
#include "fed_lib.h"
#include "harness.h"
#include "proto/identity.h"
#include "proto/msg.h"
#include "proto/sign.h"

//  nat's own directory file, a copy of hub's from here on.
static void s_nat_file(th_env_t *env, char *path, size_t len)
{
    snprintf(path, len, "%s/nat-directory.ini", env->root);
    fed_copy(env->dirfile, path);
}

//  truc-keys directory VERB --dir file a1 [a2] on nat's file.
static void s_nat_dir(th_env_t *env, const char *file, const char *verb, const char *a1,
                      const char *a2)
{
    const char *args[] = { th_keys_path, "directory", verb, "--dir", file, a1, a2, NULL };
    fed_keys(env, args, verb);
}

//  The value of key=NUMBER in the last line of process index's log that
//  holds needle; 0 if none.
static uint64_t s_log_value(th_env_t *env, int index, const char *needle, const char *key)
{
    FILE *f = fopen(env->logs[index], "r");
    char *line = NULL;
    size_t cap = 0;
    uint64_t value = 0;
    while (f && getline(&line, &cap, f) >= 0) {
        const char *at = strstr(line, needle) ? strstr(line, key) : NULL;
        if (at)
            value = strtoull(at + strlen(key), NULL, 10);
    }
    free(line);
    if (f)
        fclose(f);
    return value;
}

//  An agent at hub that applies deltas, holding what READY says.
static truc_client_t *s_agent(th_env_t *env, th_agency_t who)
{
    proto_msg_t *ready = NULL;
    truc_client_t *c = th_connect(env, who, 16, &ready);
    uint64_t serial = ready->u.ready.dir_serial;
    proto_msg_destroy(&ready);
    th_drop(env, &c);
    c = th_client(env, who, 16);
    truc_client_set_dir(c, serial, true);
    proto_err_t rc = truc_client_hello(c, TH_RECV_TIMEOUT_MS, NULL);
    th_check(rc == PROTO_OK, "%s: no READY: %s", th_code(who), proto_errname(rc));
    return c;
}

static void test_natdir_down(void **state)
{
    th_env_t *env = *state;
    char endpoint[64] = "", natfile[TH_PATH_MAX + 32], setdir[TH_PATH_MAX + 64], links[128];
    char pub[TH_PATH_MAX + 64], needle[200], err[256];
    fed_two_brokers(env);
    s_nat_file(env, natfile, sizeof natfile);
    snprintf(setdir, sizeof setdir, "broker.directory=%s", natfile);
    const char *nat_sets[] = { setdir, NULL };
    int nat = fed_start_nat(env, endpoint, sizeof endpoint, nat_sets);
    snprintf(links, sizeof links, "network.links=nat@%s", endpoint);
    const char *sets[] = { links, "network.directory_from=nat", "network.heartbeat=1s", NULL };
    th_broker_start(env, sets);
    int hub = th_current(env);
    fed_wait_log(env, hub, "event=dirlink_taken from=nat kind=whole", 1);
    truc_client_t *b = s_agent(env, TH_B);

    //  U is added at nat, its home: a delta over the link, then to B.
    snprintf(pub, sizeof pub, "%s/%s.public", env->keys, th_code(TH_U));
    s_nat_dir(env, natfile, "add", pub, NULL);
    kill(env->procs[nat], SIGHUP);
    fed_wait_log(env, hub, "event=dirlink_taken from=nat kind=delta", 1);
    uint64_t whole = s_log_value(env, nat, "event=dirlink_sent broker=hub kind=whole", "bytes=");
    uint64_t delta = s_log_value(env, nat, "event=dirlink_sent broker=hub kind=delta", "bytes=");
    th_check(delta > 0 && whole > 0 && delta < whole, "delta %llu bytes, whole %llu",
             (unsigned long long) delta, (unsigned long long) whole);
    const proto_dir_entry_t *u = fed_delta_entry(b, 0, th_code(TH_U));
    th_check(u != NULL, "B's delta does not name U");
    uint8_t u_key[PROTO_KEY_LEN];
    memcpy(u_key, u->key, PROTO_KEY_LEN);
    th_check(memcmp(u_key, proto_identity_public(env->agency[TH_U])->sign_pk, PROTO_KEY_LEN) == 0,
             "U's key at hub is not U's");
    th_check(truc_client_directories(b) == 0, "B was sent the whole directory");

    //  A document from U at nat reaches B over the link; B checks it with
    //  the key it was given.
    proto_identity_t *nat_id = NULL;
    snprintf(pub, sizeof pub, "%s/nat.secret", env->keys);
    th_check(proto_identity_load(pub, NULL, &nat_id, err, sizeof err) == PROTO_OK, "%s", err);
    truc_client_t *from_u = fed_connect_nat(env, TH_U, endpoint, nat_id);
    const char *to_b[] = { th_code(TH_B) };
    truc_doc_t *doc = truc_doc_build(env->agency[TH_U], to_b, 1, "Cong van", "CV", 0, NULL, 0);
    th_check(doc != NULL && truc_client_submit(from_u, doc) == PROTO_OK, "submit from U");
    fed_accepted(from_u, doc);
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv_kind(b, PROTO_KIND_DELIVER, TH_RECV_TIMEOUT_MS, &msg, NULL);
    th_check(rc == PROTO_OK, "B: expected DELIVER: %s", proto_errname(rc));
    th_check(proto_doc_verify(&msg->u.document.doc, u_key, msg->u.document.sig) == PROTO_OK,
             "U's document does not verify with U's key from the delta");
    proto_msg_destroy(&msg);
    truc_doc_destroy(&doc);

    //  nat may not change A, homed at hub: nat holds hub's own agencies
    //  (test_natup.c), so its file's suspension is not applied there, and
    //  A still connects at hub.
    s_nat_dir(env, natfile, "suspend", th_code(TH_A), NULL);
    kill(env->procs[nat], SIGHUP);
    fed_wait_log(env, nat, "cause=\"directory reload\"", 1);
    snprintf(needle, sizeof needle, "agency=%s change=", th_code(TH_A));
    th_check(fed_log_count(env, nat, needle) == 0, "nat changed A, homed at hub");
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    th_drop(env, &a);

    //  U revoked at nat: revoked at hub, audited, and B is told.
    size_t seen = truc_client_deltas(b);
    s_nat_dir(env, natfile, "revoke", th_code(TH_U), NULL);
    kill(env->procs[nat], SIGHUP);
    fed_wait_log(env, hub, "change=\"state active -> revoked\"", 1);
    u = fed_delta_entry(b, seen, th_code(TH_U));
    th_check(u && u->state == PROTO_AGENCY_REVOKED, "B was not told U is revoked");
    //  hub enforces it: B's document to U is refused there.
    const char *to_u[] = { th_code(TH_U) };
    truc_doc_t *to_revoked =
        truc_doc_build(env->agency[TH_B], to_u, 1, "Cong van", "CV", 0, NULL, 0);
    th_check(to_revoked != NULL && truc_client_submit(b, to_revoked) == PROTO_OK, "submit to U");
    uint8_t hash[PROTO_HASH_LEN];
    th_check(truc_doc_hash(to_revoked, hash) == PROTO_OK, "hash");
    th_expect_rejected(env, b, truc_doc_id(to_revoked), hash, PROTO_ERR_AGENCY_REVOKED,
                       "a document to U, revoked at nat");
    truc_doc_destroy(&to_revoked);
    snprintf(needle, sizeof needle, "event=dirlink_refused agency=%s", th_code(TH_A));
    th_check(fed_log_count(env, hub, needle) == 0, "nat sent hub a change to A");

    //  hub restarts with nat gone: it keeps the merged directory.
    th_drop(env, &b);
    th_drop(env, &from_u);
    kill(env->procs[nat], SIGTERM);
    int status = 0;
    th_check(th_wait_exit(env, nat, TH_STOP_TIMEOUT_MS, &status), "nat did not stop");
    th_broker_stop(env);
    th_broker_start(env, sets);
    hub = th_current(env);
    fed_wait_log(env, hub, "event=dirlink_opened from=nat", 1);
    truc_client_t *d = th_client(env, TH_D, 16);
    rc = truc_client_hello(d, TH_RECV_TIMEOUT_MS, NULL);
    th_check(rc == PROTO_OK, "D: no READY: %s", proto_errname(rc));
    uint64_t until = fed_ms() + TH_RECV_TIMEOUT_MS;
    while (truc_client_directories(d) == 0 && fed_ms() < until) {
        if (truc_client_recv(d, 200, &msg, NULL) == PROTO_OK)
            proto_msg_destroy(&msg);
    }
    th_check(truc_client_directories(d) == 1, "D got no DIRECTORY");
    const proto_directory_msg_t *dir = &truc_client_directory(d)->u.directory;
    bool found = false;
    for (uint32_t i = 0; i < dir->nentries; i++)
        found |= strcmp(dir->entries[i].code, th_code(TH_U)) == 0 &&
                 dir->entries[i].state == PROTO_AGENCY_REVOKED;
    th_check(found, "after a restart without nat, hub's directory has no revoked U");
    th_drop(env, &d);

    //  hub's own file is held to its serial as before: once a newer one
    //  was applied, an older one is refused at the start.
    char older[TH_PATH_MAX + 32];
    snprintf(older, sizeof older, "%s/older.ini", env->root);
    fed_copy(env->dirfile, older);
    th_broker_stop(env);
    fed_dir(env, env->dirfile, "suspend", th_code(TH_E), NULL);
    th_broker_start(env, sets);
    fed_wait_log(env, th_current(env), "event=dirlink_opened from=nat", 1);
    th_broker_stop(env);
    fed_copy(older, env->dirfile);
    const char *again[] = { "--config", env->config, "--set",
                            links,      "--set",     "network.directory_from=nat",
                            NULL };
    int late = th_spawn(env, again);
    th_check(th_wait_exit(env, late, TH_START_TIMEOUT_MS, &status) && WIFEXITED(status) &&
                 WEXITSTATUS(status) != 0,
             "hub started with a file older than the one it applied");
    th_check(fed_log_count(env, late, "of the file this broker applied before") >= 1,
             "hub did not say why it refused the older file");
    proto_identity_destroy(&nat_id);
    th_soft_done(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------

//  A DIRECTORY in the form between brokers, of hub's file's agencies plus
//  U (home nat), signed by signer as "nat" (zero_sig: not signed).
static void s_send_dir(th_env_t *env, truc_client_t *link, const proto_identity_t *signer,
                       uint64_t serial, bool federated, bool zero_sig)
{
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DIRECTORY;
    proto_directory_msg_t *d = &msg.u.directory;
    proto_dir_entry_t e;
    memset(&e, 0, sizeof e);
    e.code = th_code(TH_U);
    e.name = "Agency U";
    memcpy(e.key, proto_identity_public(env->agency[TH_U])->sign_pk, PROTO_KEY_LEN);
    d->serial = serial;
    d->time = 1;
    d->broker = "nat";
    d->entries = &e;
    d->nentries = 1;
    d->federated = federated;
    if (!zero_sig)
        th_check(proto_directory_sign(d, signer, d->sig) == PROTO_OK, "sign");
    th_check(truc_client_send(link, &msg, NULL, NULL, 0) == PROTO_OK, "send DIRECTORY");
}

//  Wait for the ERROR hub answers on the link; check its code.
static void s_link_error(truc_client_t *link, proto_err_t want, const char *what)
{
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv_kind(link, PROTO_KIND_ERROR, TH_RECV_TIMEOUT_MS, &msg, NULL);
    th_check(rc == PROTO_OK, "%s: no ERROR: %s", what, proto_errname(rc));
    th_check(msg->u.error.code == (uint32_t) want, "%s: ERROR %s, expected %s", what,
             proto_errname((proto_err_t) msg->u.error.code), proto_errname(want));
    proto_msg_destroy(&msg);
}

static void test_natdir_forged(void **state)
{
    th_env_t *env = *state;
    char path[TH_PATH_MAX + 32], err[256];
    fed_two_brokers(env);
    //  hub takes its directory from nat, which it dials nowhere: nat's
    //  key comes to it, as a link.
    int port = th_port_outside_ephemeral();
    char links[128];
    snprintf(links, sizeof links, "network.links=nat@tcp://127.0.0.1:%d", port);
    const char *sets[] = { links, "network.directory_from=nat", NULL };
    th_broker_start(env, sets);
    int hub = th_current(env);
    proto_identity_t *nat = NULL;
    snprintf(path, sizeof path, "%s/nat.secret", env->keys);
    th_check(proto_identity_load(path, NULL, &nat, err, sizeof err) == PROTO_OK, "%s", err);
    truc_client_t *link = truc_client_new(env->endpoint, nat, th_hub_curve_pk(env), 8);
    th_check(link != NULL, "link client");
    static uint8_t versions[] = { PROTO_VERSION };
    proto_msg_t hello;
    memset(&hello, 0, sizeof hello);
    hello.kind = PROTO_KIND_HELLO;
    hello.u.hello.versions = versions;
    hello.u.hello.nversions = 1;
    hello.u.hello.link = "nat";
    hello.u.hello.window = 8;
    th_check(truc_client_send(link, &hello, NULL, NULL, 0) == PROTO_OK, "send HELLO");
    proto_msg_t *ready = NULL;
    proto_err_t rc =
        truc_client_recv_kind(link, PROTO_KIND_READY, TH_RECV_TIMEOUT_MS, &ready, NULL);
    th_check(rc == PROTO_OK, "no READY for the link: %s", proto_errname(rc));
    proto_msg_destroy(&ready);

    //  Another key named nat, no signature, the agents' form.
    char forger_dir[TH_PATH_MAX + 32];
    snprintf(forger_dir, sizeof forger_dir, "%s/forger", env->root);
    th_check(mkdir(forger_dir, 0700) == 0, "mkdir %s", forger_dir);
    const char *make[] = { th_keys_path, "new", "--broker", "nat", "--out", forger_dir, NULL };
    fed_keys(env, make, "truc-keys new nat (forger)");
    proto_identity_t *forger = NULL;
    char forger_key[TH_PATH_MAX + 64];
    snprintf(forger_key, sizeof forger_key, "%s/nat.secret", forger_dir);
    th_check(proto_identity_load(forger_key, NULL, &forger, err, sizeof err) == PROTO_OK, "%s",
             err);
    s_send_dir(env, link, forger, 5, true, false);
    s_link_error(link, PROTO_ERR_BAD_SIGNATURE, "signed by another key");
    s_send_dir(env, link, nat, 5, true, true);
    s_link_error(link, PROTO_ERR_BAD_SIGNATURE, "not signed");
    s_send_dir(env, link, nat, 5, false, false);
    s_link_error(link, PROTO_ERR_VALUE, "the agents' form");
    //  Genuine: taken. The same serial again, and an older one: refused.
    s_send_dir(env, link, nat, 5, true, false);
    fed_wait_log(env, hub, "event=dirlink_taken from=nat kind=whole serial=5", 1);
    s_send_dir(env, link, nat, 5, true, false);
    s_link_error(link, PROTO_ERR_BAD_STATE, "a replay");
    s_send_dir(env, link, nat, 4, true, false);
    s_link_error(link, PROTO_ERR_BAD_STATE, "a rollback");
    //  A delta from a serial hub does not hold.
    proto_msg_t dm;
    memset(&dm, 0, sizeof dm);
    dm.kind = PROTO_KIND_DIRECTORY_DELTA;
    dm.u.delta.base = 3;
    dm.u.delta.serial = 6;
    dm.u.delta.time = 1;
    dm.u.delta.broker = "nat";
    dm.u.delta.federated = true;
    th_check(truc_client_send(link, &dm, NULL, NULL, 0) == PROTO_OK, "send DIRECTORY_DELTA");
    s_link_error(link, PROTO_ERR_DIRECTORY_BASE, "a delta out of step");
    //  Each refusal is in hub's audit chain (and log).
    fed_wait_log(env, hub,
                 "event=dirlink_refused agency=- detail=\"directory from nat refused: "
                 "ERR_BAD_SIGNATURE",
                 2);
    fed_wait_log(env, hub, "refused: ERR_BAD_STATE", 2);
    fed_wait_log(env, hub, "refused: ERR_VALUE", 1);
    fed_wait_log(env, hub, "refused: ERR_DIRECTORY_BASE", 1);
    truc_client_destroy(&link);
    proto_identity_destroy(&nat);
    proto_identity_destroy(&forger);
    th_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)

int main(int argc, char **argv)
{
    const char *filter = NULL;
    int rc = th_main_start(argc, argv, "test_natdir", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_natdir_down),
        S_TEST(test_natdir_forged),
    };
    return th_run_tests("test_natdir", "truc federation directory", tests,
                        sizeof tests / sizeof tests[0], filter);
}
