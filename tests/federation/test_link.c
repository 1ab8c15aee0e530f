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
        up;
      - link_old_national: a national broker from before the directory
        between brokers refuses the province's offer of its agencies
        (dir_own) as an unknown field; the province dials again without
        it and the link comes up.

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
#include <zmq.h>

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
static int s_start_linked(th_env_t *env, const char *label, const char *endpoint, const char *extra)
{
    static char identity[TH_PATH_MAX + 64], data[TH_PATH_MAX + 64], links[TH_PATH_MAX + 64];
    char dir[TH_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/data-%s", env->root, label);
    th_check(mkdir(dir, 0700) == 0, "mkdir %s", dir);
    snprintf(identity, sizeof identity, "broker.identity=%s/%s.secret", env->keys, label);
    snprintf(data, sizeof data, "broker.data_dir=%s", dir);
    snprintf(links, sizeof links, "network.links=%s@%s", TH_HUB, endpoint);
    const char *args[] = { "--config",
                           env->config,
                           "--set",
                           identity,
                           "--set",
                           data,
                           "--set",
                           links,
                           "--set",
                           "network.endpoint=tcp://127.0.0.1:*",
                           "--set",
                           "network.heartbeat=1s",
                           extra ? "--set" : NULL,
                           extra,
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
    int prov = s_start_linked(env, "prov", endpoint, NULL);
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
    int prov = s_start_linked(env, "prov", endpoint, NULL);
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
    int rogue = s_start_linked(env, "rogue", endpoint, NULL);
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

//  A national broker from before 16.5, played here by a ROUTER with hub's
//  CURVE key: it speaks the link but its strict decoder does not know
//  `dir_own`.
typedef struct {
    void *ctx, *router;
    char endpoint[128];
    uint8_t rid[256];
    size_t rid_len;
} s_old_t;

static void s_old_open(th_env_t *env, s_old_t *o)
{
    memset(o, 0, sizeof *o);
    o->ctx = zmq_ctx_new();
    o->router = o->ctx ? zmq_socket(o->ctx, ZMQ_ROUTER) : NULL;
    th_check(o->router != NULL, "ROUTER");
    int one = 1, linger = 0;
    zmq_setsockopt(o->router, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(o->router, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(o->router, ZMQ_CURVE_SECRETKEY, proto_identity_curve_sk(env->hub),
                   PROTO_KEY_LEN);
    th_check(zmq_bind(o->router, "tcp://127.0.0.1:*") == 0, "bind: %s", zmq_strerror(zmq_errno()));
    size_t len = sizeof o->endpoint;
    th_check(zmq_getsockopt(o->router, ZMQ_LAST_ENDPOINT, o->endpoint, &len) == 0,
             "ZMQ_LAST_ENDPOINT");
}

static void s_old_close(s_old_t *o)
{
    zmq_close(o->router);
    zmq_ctx_term(o->ctx);
}

//  The next HELLO the province sends (heartbeats skipped), from whichever
//  connection: o->rid becomes that connection's.
static proto_msg_t *s_old_hello(s_old_t *o)
{
    zmq_pollitem_t item = { o->router, 0, ZMQ_POLLIN, 0 };
    for (uint64_t until = fed_ms() + FED_WAIT_MS; fed_ms() < until;) {
        if (zmq_poll(&item, 1, 100) <= 0)
            continue;
        zmq_msg_t frames[3];
        size_t n = 0;
        int more = 1;
        while (more) {
            zmq_msg_t part;
            zmq_msg_init(&part);
            th_check(zmq_msg_recv(&part, o->router, 0) >= 0, "recv");
            more = zmq_msg_more(&part);
            if (n < 3)
                frames[n++] = part;
            else
                zmq_msg_close(&part);
        }
        proto_msg_t *msg = NULL;
        int kind = 0;
        uint8_t version;
        if (n == 3 &&
            proto_header_parse(zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]), &version,
                               &kind) == PROTO_OK &&
            kind == PROTO_KIND_HELLO) {
            th_check(proto_msg_decode(kind, zmq_msg_data(&frames[2]), zmq_msg_size(&frames[2]),
                                      &msg, NULL) == PROTO_OK,
                     "the province's HELLO does not decode");
            o->rid_len = zmq_msg_size(&frames[0]);
            memcpy(o->rid, zmq_msg_data(&frames[0]), o->rid_len);
        }
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&frames[i]);
        if (msg)
            return msg;
    }
    th_check(false, "no HELLO from the province");
    return NULL;
}

static void s_old_send(s_old_t *o, const proto_msg_t *msg)
{
    proto_buf_t body;
    proto_buf_init(&body);
    th_check(proto_msg_encode(msg, &body, NULL) == PROTO_OK, "encode %s",
             proto_kind_name(msg->kind));
    uint8_t header[PROTO_HEADER_LEN];
    proto_header_write(header, msg->kind);
    th_check(zmq_send(o->router, o->rid, o->rid_len, ZMQ_SNDMORE) >= 0 &&
                 zmq_send(o->router, header, sizeof header, ZMQ_SNDMORE) >= 0 &&
                 zmq_send(o->router, body.data, body.len, 0) >= 0,
             "send %s", proto_kind_name(msg->kind));
    proto_buf_free(&body);
}

//  A province that takes its directory from a national broker of the
//  version before offers its own agencies (dir_own) in its HELLO; the
//  national broker's decoder refuses the unknown field, fatally, as any
//  broker of that version does. The province dials again at once without
//  the offer, and the link comes up: a rolling upgrade may start with the
//  provinces.
static void test_link_old_national(void **state)
{
    th_env_t *env = *state;
    s_broker_key(env, TH_HUB, true);
    s_broker_key(env, "prov", true);
    s_old_t old;
    s_old_open(env, &old);
    int prov = s_start_linked(env, "prov", old.endpoint, "network.directory_from=" TH_HUB);

    proto_msg_t *hello = s_old_hello(&old);
    th_check(hello->u.hello.link && strcmp(hello->u.hello.link, "prov") == 0 &&
                 hello->u.hello.dir_deltas && hello->u.hello.dir_own,
             "the first HELLO does not offer the province's agencies");
    proto_msg_destroy(&hello);
    proto_msg_t error = { .kind = PROTO_KIND_ERROR };
    error.u.error.code = PROTO_ERR_UNKNOWN_FIELD;
    error.u.error.message = "dir_own: unknown field"; // what that broker's session answers
    error.u.error.fatal = true;
    s_old_send(&old, &error);

    hello = s_old_hello(&old);
    th_check(hello->u.hello.dir_deltas && !hello->u.hello.dir_own,
             "the HELLO after the refusal still offers dir_own");
    proto_msg_destroy(&hello);
    fed_wait_log(env, prov, "reason=\"the other broker does not take this one's agencies\"", 1);
    proto_msg_t ready = { .kind = PROTO_KIND_READY };
    proto_ready_t *r = &ready.u.ready;
    r->version = PROTO_VERSION;
    r->broker = TH_HUB;
    r->link = "prov";
    r->time = fed_ms();
    r->heartbeat = 1000;
    r->max_frame = 1u << 20;
    r->max_document = 1u << 20;
    r->max_recipients = 10;
    r->max_attachments = 10;
    s_old_send(&old, &ready);
    fed_wait_log(env, prov, "event=link_ready broker=" TH_HUB " ", 1);
    s_stop(env, prov);
    s_old_close(&old);
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
        S_TEST(test_link_up),
        S_TEST(test_link_suspended),
        S_TEST(test_link_forged),
        S_TEST(test_link_not_agency),
        S_TEST(test_link_forward_refused),
        S_TEST(test_link_old_national),
    };
    return th_run_tests("test_link", "truc federation links", tests, sizeof tests / sizeof tests[0],
                        filter);
}
