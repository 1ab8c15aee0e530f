/*  tests/federation/test_link.c - the link between two brokers (PROTOCOL.md
    section 16.5), with real truc-broker processes on loopback.

    The harness's broker "hub" plays the national broker N; a second
    broker "prov", a province P, is started beside it with its own data
    directory and network.links naming hub. Both read the same directory
    file, which lists every agency and both broker entries (truc-keys
    directory add-broker). What is proved:

      - link_up: P dials N, N admits P's key as a link (its broker entry,
        not an agency) and answers READY with `link`; after N is stopped
        and started again on the same endpoint, P's link comes back by
        itself (a second READY session);
      - link_suspended: suspending P's broker entry at N (and reloading)
        ends the link and refuses it at the handshake; reinstating it
        lets it come back by itself;
      - link_forged: a broker whose key no broker entry holds is refused at
        the handshake, and never gets a session;
      - link_not_agency: a broker's key cannot speak for an agency (HELLO
        with an agency code: ERR_SENDER_MISMATCH), an agency's key cannot
        open a link, and a link session that sends an agency's kind
        (SUBMIT) gets ERR_UNEXPECTED without its frames ever being read
        as a document;
      - link_forward_refused: FORWARD (PROTOCOL.md 16.7) is a kind between
        brokers only: an agency's session that sends one gets
        ERR_UNEXPECTED; a link's is read as a FORWARD, and a malformed one
        is refused by the strict decoder (ERR_MISSING); both sessions stay
        up.

    Usage: test_link TRUC_BROKER TRUC_KEYS [TEST_NAME]
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

#include "fed_lib.h"
#include "harness.h"
#include "proto/identity.h"
#include "proto/msg.h"

//  Make a broker identity LABEL under keys/ (unless it is the harness's
//  hub) and, with entry, list it in the directory as a broker entry.
static void s_broker_key(th_env_t *env, const char *label, bool entry)
{
    char out[4096], pub[TH_PATH_MAX + 64];
    const char *make[] = { th_keys_path, "new", "--broker", label, "--out", env->keys, NULL };
    int status = strcmp(label, TH_HUB) == 0 ? 0 : th_run(env, make, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "truc-keys new %s: %s", label, out);
    if (!entry)
        return;
    snprintf(pub, sizeof pub, "%s/%s.public", env->keys, label);
    const char *add[] = {
        th_keys_path, "directory", "add-broker", "--dir", env->dirfile, pub, NULL
    };
    status = th_run(env, add, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "add-broker %s: %s", label, out);
}

//  The directory lists hub and prov; hub (N) runs on a fixed endpoint with
//  a short heartbeat, so it can be restarted where P looks for it.
static void s_start_national(th_env_t *env, char *endpoint, size_t len)
{
    s_broker_key(env, TH_HUB, true);
    s_broker_key(env, "prov", true);
    int port = th_port_outside_ephemeral();
    th_check(port > 0, "no free port");
    snprintf(endpoint, len, "tcp://127.0.0.1:%d", port);
    char set_endpoint[TH_PATH_MAX + 32];
    snprintf(set_endpoint, sizeof set_endpoint, "network.endpoint=%s", endpoint);
    const char *sets[] = { set_endpoint, "network.heartbeat=1s", NULL };
    th_broker_start(env, sets);
}

//  Start the broker LABEL (its key made by s_broker_key) with its own data
//  directory, linked to hub at endpoint. Returns its process index.
static int s_start_linked(th_env_t *env, const char *label, const char *endpoint)
{
    static char identity[TH_PATH_MAX + 64], data[TH_PATH_MAX + 64], links[TH_PATH_MAX + 64];
    char dir[TH_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/data-%s", env->root, label);
    th_check(mkdir(dir, 0700) == 0, "mkdir %s", dir);
    snprintf(identity, sizeof identity, "broker.identity=%s/%s.secret", env->keys, label);
    snprintf(data, sizeof data, "broker.data_dir=%s", dir);
    snprintf(links, sizeof links, "network.links=%s@%s", TH_HUB, endpoint);
    const char *args[] = { "--config", env->config,
                           "--set",    identity,
                           "--set",    data,
                           "--set",    links,
                           "--set",    "network.endpoint=tcp://127.0.0.1:*",
                           "--set",    "network.heartbeat=1s",
                           NULL };
    return th_spawn(env, args);
}

static void s_stop(th_env_t *env, int index)
{
    int status = 0;
    char st[64];
    kill(env->procs[index], SIGTERM);
    th_check(th_wait_exit(env, index, TH_STOP_TIMEOUT_MS, &status), "broker %d did not stop",
             index);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "broker %d ended with %s", index,
             th_status_text(status, st, sizeof st));
}

static void test_link_up(void **state)
{
    th_env_t *env = *state;
    char endpoint[64];
    s_start_national(env, endpoint, sizeof endpoint);
    int national = th_current(env);
    int prov = s_start_linked(env, "prov", endpoint);
    fed_wait_log(env, prov, "event=link_ready broker=hub ", 1);
    fed_wait_log(env, national, "event=link_connected broker=prov ", 1);

    //  N goes away and comes back on the same endpoint: P's link returns
    //  without anyone touching P.
    th_broker_stop(env);
    char set_endpoint[TH_PATH_MAX + 32];
    snprintf(set_endpoint, sizeof set_endpoint, "network.endpoint=%s", endpoint);
    const char *sets[] = { set_endpoint, "network.heartbeat=1s", NULL };
    th_broker_start(env, sets);
    fed_wait_log(env, prov, "event=link_ready broker=hub ", 2);
    fed_wait_log(env, th_current(env), "event=link_connected broker=prov ", 1);
    th_check(fed_log_count(env, th_current(env), "event=handshake_refused") == 0,
             "the national broker refused a handshake");
    //  P stops: N ends the link session at once, by its label.
    s_stop(env, prov);
    fed_wait_log(env, th_current(env), "event=link_disconnected broker=prov reason=closed", 1);
    th_pass(env);
}

//  Run truc-keys directory VERB --dir DIRFILE LABEL.
static void s_dir_change(th_env_t *env, const char *verb, const char *label)
{
    char out[4096];
    const char *argv[] = { th_keys_path, "directory", verb, "--dir", env->dirfile, label, NULL };
    int status = th_run(env, argv, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "truc-keys directory %s %s: %s", verb,
             label, out);
}

//  Suspending the province's broker entry at the national broker ends the
//  link at the reload and refuses it at the handshake until it is
//  reinstated; then it comes back by itself.
static void test_link_suspended(void **state)
{
    th_env_t *env = *state;
    char endpoint[64];
    s_start_national(env, endpoint, sizeof endpoint);
    int national = th_current(env);
    int prov = s_start_linked(env, "prov", endpoint);
    fed_wait_log(env, prov, "event=link_ready broker=hub ", 1);

    s_dir_change(env, "suspend", "prov");
    kill(env->procs[national], SIGHUP);
    fed_wait_log(env, prov, "event=link_error broker=hub code=ERR_BROKER_SUSPENDED fatal=1", 1);
    fed_wait_log(env, national, "broker=prov reason=ERR_BROKER_SUSPENDED", 1);
    th_check(fed_log_count(env, national, "event=link_connected broker=prov ") == 1,
             "a suspended broker got a link session");

    s_dir_change(env, "reinstate", "prov");
    kill(env->procs[national], SIGHUP);
    fed_wait_log(env, prov, "event=link_ready broker=hub ", 2);
    fed_wait_log(env, national, "event=link_connected broker=prov ", 2);
    s_stop(env, prov);
    th_pass(env);
}

static void test_link_forged(void **state)
{
    th_env_t *env = *state;
    char endpoint[64];
    s_start_national(env, endpoint, sizeof endpoint);
    //  rogue is a real broker identity, but no broker entry holds its key.
    s_broker_key(env, "rogue", false);
    int rogue = s_start_linked(env, "rogue", endpoint);
    fed_wait_log(env, rogue, "event=link_dialing broker=hub ", 1);
    fed_wait_log(env, th_current(env), "event=handshake_refused", 1);
    fed_wait_log(env, th_current(env), "reason=ERR_UNKNOWN_AGENCY", 1);
    th_check(fed_log_count(env, th_current(env), "event=link_connected") == 0,
             "the national broker gave the forged link a session");
    th_check(fed_log_count(env, rogue, "event=link_ready") == 0, "the forged link got READY");
    s_stop(env, rogue);
    th_pass(env);
}

//  The first ERROR the client receives; its code.
static uint32_t s_error(truc_client_t *c, char *text, size_t len)
{
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv_kind(c, PROTO_KIND_ERROR, TH_RECV_TIMEOUT_MS, &msg, NULL);
    th_check(rc == PROTO_OK && msg, "no ERROR: %s", proto_errname(rc));
    uint32_t code = msg->u.error.code;
    snprintf(text, len, "%s", msg->u.error.message ? msg->u.error.message : "");
    proto_msg_destroy(&msg);
    return code;
}

static proto_msg_t s_hello(const char *agency, const char *link)
{
    static uint8_t versions[] = { PROTO_VERSION };
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_HELLO;
    msg.u.hello.versions = versions;
    msg.u.hello.nversions = 1;
    msg.u.hello.agency = agency;
    msg.u.hello.link = link;
    msg.u.hello.window = 8;
    return msg;
}

static void test_link_not_agency(void **state)
{
    th_env_t *env = *state;
    char endpoint[64], path[TH_PATH_MAX + 32], err[256], text[256];
    s_start_national(env, endpoint, sizeof endpoint);
    proto_identity_t *prov = NULL;
    snprintf(path, sizeof path, "%s/prov.secret", env->keys);
    th_check(proto_identity_load(path, NULL, &prov, err, sizeof err) == PROTO_OK, "load %s: %s",
             path, err);

    //  prov's key, speaking for agency A.
    truc_client_t *c = truc_client_new(env->endpoint, prov, th_hub_curve_pk(env), 8);
    th_check(c != NULL, "client");
    proto_msg_t hello = s_hello(th_code(TH_A), NULL);
    th_check(truc_client_send(c, &hello, NULL, NULL, 0) == PROTO_OK, "send HELLO");
    uint32_t code = s_error(c, text, sizeof text);
    th_check(code == PROTO_ERR_SENDER_MISMATCH, "a broker's key as agency A: %s (%s)",
             proto_errname((proto_err_t) code), text);
    truc_client_destroy(&c);

    //  Agency A's key, opening a link as prov.
    c = truc_client_new(env->endpoint, env->agency[TH_A], th_hub_curve_pk(env), 8);
    th_check(c != NULL, "client");
    hello = s_hello(NULL, "prov");
    th_check(truc_client_send(c, &hello, NULL, NULL, 0) == PROTO_OK, "send HELLO");
    code = s_error(c, text, sizeof text);
    th_check(code == PROTO_ERR_SENDER_MISMATCH, "an agency's key as a link: %s (%s)",
             proto_errname((proto_err_t) code), text);
    truc_client_destroy(&c);

    //  prov's key as the link it is: READY names the link, no agency; then
    //  SUBMIT is refused as a kind a link does not send.
    c = truc_client_new(env->endpoint, prov, th_hub_curve_pk(env), 8);
    th_check(c != NULL, "client");
    hello = s_hello(NULL, "prov");
    th_check(truc_client_send(c, &hello, NULL, NULL, 0) == PROTO_OK, "send HELLO");
    proto_msg_t *ready = NULL;
    proto_err_t rc = truc_client_recv_kind(c, PROTO_KIND_READY, TH_RECV_TIMEOUT_MS, &ready, NULL);
    th_check(rc == PROTO_OK && ready, "no READY for the link: %s", proto_errname(rc));
    th_check(ready->u.ready.link && strcmp(ready->u.ready.link, "prov") == 0 &&
                 !ready->u.ready.agency && strcmp(ready->u.ready.broker, TH_HUB) == 0,
             "READY of a link: link=%s agency=%s broker=%s",
             ready->u.ready.link ? ready->u.ready.link : "-",
             ready->u.ready.agency ? ready->u.ready.agency : "-", ready->u.ready.broker);
    proto_msg_destroy(&ready);
    uint8_t header[PROTO_HEADER_LEN];
    proto_header_write(header, PROTO_KIND_SUBMIT);
    const void *frames[] = { header, "\x80" };
    const size_t lens[] = { sizeof header, 1 };
    th_check(truc_client_send_frames(c, frames, lens, 2) == PROTO_OK, "send SUBMIT");
    code = s_error(c, text, sizeof text);
    th_check(code == PROTO_ERR_UNEXPECTED && strstr(text, "link"), "SUBMIT on a link: %s (%s)",
             proto_errname((proto_err_t) code), text);
    //  The link session is still up: a refused kind is not fatal, and the
    //  same refusal comes again.
    th_check(truc_client_send_frames(c, frames, lens, 2) == PROTO_OK, "send SUBMIT again");
    code = s_error(c, text, sizeof text);
    th_check(code == PROTO_ERR_UNEXPECTED, "SUBMIT again on the link: %s (%s)",
             proto_errname((proto_err_t) code), text);
    truc_client_destroy(&c);
    proto_identity_destroy(&prov);
    th_pass(env);
}

//  Send a FORWARD header with an empty map as body, and expect the
//  refusal that says the kind is not taken here, twice: not fatal.
static void s_forward_refused(truc_client_t *c, const char *who, uint32_t expected)
{
    char text[256];
    uint8_t header[PROTO_HEADER_LEN];
    proto_header_write(header, PROTO_KIND_FORWARD);
    const void *frames[] = { header, "\x80" };
    const size_t lens[] = { sizeof header, 1 };
    for (int round = 0; round < 2; round++) {
        th_check(truc_client_send_frames(c, frames, lens, 2) == PROTO_OK, "send FORWARD");
        uint32_t code = s_error(c, text, sizeof text);
        th_check(code == expected, "FORWARD from %s (round %d): %s (%s)", who, round,
                 proto_errname((proto_err_t) code), text);
    }
}

static void test_link_forward_refused(void **state)
{
    th_env_t *env = *state;
    char endpoint[64], path[TH_PATH_MAX + 32], err[256];
    s_start_national(env, endpoint, sizeof endpoint);

    //  Agency A in its own session: an agency never forwards.
    truc_client_t *c = truc_client_new(env->endpoint, env->agency[TH_A], th_hub_curve_pk(env), 8);
    th_check(c != NULL, "client");
    proto_msg_t hello = s_hello(th_code(TH_A), NULL);
    th_check(truc_client_send(c, &hello, NULL, NULL, 0) == PROTO_OK, "send HELLO");
    proto_msg_t *ready = NULL;
    proto_err_t rc = truc_client_recv_kind(c, PROTO_KIND_READY, TH_RECV_TIMEOUT_MS, &ready, NULL);
    th_check(rc == PROTO_OK && ready, "no READY for agency A: %s", proto_errname(rc));
    proto_msg_destroy(&ready);
    s_forward_refused(c, "an agency", PROTO_ERR_UNEXPECTED);
    truc_client_destroy(&c);

    //  prov's link: the kind is taken, and this one is refused by the
    //  strict decoder (an empty map: `kind` missing).
    proto_identity_t *prov = NULL;
    snprintf(path, sizeof path, "%s/prov.secret", env->keys);
    th_check(proto_identity_load(path, NULL, &prov, err, sizeof err) == PROTO_OK, "load %s: %s",
             path, err);
    c = truc_client_new(env->endpoint, prov, th_hub_curve_pk(env), 8);
    th_check(c != NULL, "client");
    hello = s_hello(NULL, "prov");
    th_check(truc_client_send(c, &hello, NULL, NULL, 0) == PROTO_OK, "send HELLO");
    rc = truc_client_recv_kind(c, PROTO_KIND_READY, TH_RECV_TIMEOUT_MS, &ready, NULL);
    th_check(rc == PROTO_OK && ready, "no READY for the link: %s", proto_errname(rc));
    proto_msg_destroy(&ready);
    s_forward_refused(c, "a link", PROTO_ERR_MISSING);
    truc_client_destroy(&c);
    proto_identity_destroy(&prov);
    th_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_link", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_link_up),         S_TEST(test_link_suspended),       S_TEST(test_link_forged),
        S_TEST(test_link_not_agency), S_TEST(test_link_forward_refused),
    };
    return th_run_tests("test_link", "truc federation links", tests, sizeof tests / sizeof tests[0],
                        filter);
}
