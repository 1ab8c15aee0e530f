/*  tests/agent/test_session.c - the agent's session with the broker when
    the broker says no, or goes away and comes back.

    Real truc-broker and truc-agent processes (tests/lib/agent_harness.h),
    the directory changed with the real truc-keys and a SIGHUP to the broker,
    the audit chain read with the real truc-admin (tests/lib/admin_json.h).

      refused_retry   an agent refused at the handshake keeps trying on its
                      back-off: an agency added to the directory after its
                      agent started, an agency suspended then reinstated,
                      and an agency whose key was rotated before the
                      broker's directory had the new one all show
                      `refused` in `health` and as an event, then connect
                      by themselves and receive what waits for them.
      restart_quiet   broker restarts with agents connected: every agent
                      comes back with HELLO first, so the broker answers no
                      ERR_NOT_AUTHENTICATED; a heartbeat before HELLO (an
                      older agent) is answered but not audited; the audit
                      chain holds no `denied` entry; documents still flow.

    Every wait polls with a generous deadline (AH_WAIT_MS): the agents run
    with broker.reconnect_max=2s, and nothing asserts on how fast.

    Usage: test_session TRUC_BROKER TRUC_KEYS TRUC_AGENT TRUC_ADMIN [TEST_NAME]
    (or the same names in the environment).
*/
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <sodium.h>

#include "admin_json.h"
#include "agent_harness.h"
#include "proto/msg.h"
#include "truc_client.h"

#define S_TYPE   "Công văn"
#define S_ID_LEN 37 // UUID text and NUL

typedef char s_id_t[S_ID_LEN];

//  Agents retry at least this often once refused, so "connects by itself"
//  comes within a few seconds; the deadlines are AH_WAIT_MS anyway.
static const char *const s_fast_retry[] = { "broker.reconnect_max=2s", NULL };

// ---------------------------------------------------------------------------
//  Helpers

static void s_submit(ah_agent_t *a, th_agency_t to, const char *subject, s_id_t id)
{
    const char *list[] = { th_code(to) };
    ah_reply_t *r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s}}", "submit", list, (size_t) 1,
                            S_TYPE, subject);
    ah_expect_ok(r, "submit");
    const char *text = ah_str(r->map, "id");
    th_check(text && strlen(text) == S_ID_LEN - 1, "submit: no id in %s", ah_show(r->map));
    snprintf(id, S_ID_LEN, "%s", text);
    ah_reply_destroy(&r);
}

static bool s_inbox_has(const ah_reply_t *r, void *arg)
{
    const msgpack_object *list = ah_get(r->map, "documents");
    for (uint32_t i = 0;
         ah_is_ok(r) && list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size; i++)
        if (ah_str_is(&list->via.array.ptr[i], "id", arg))
            return true;
    return false;
}

static void s_inbox_wait(ah_agent_t *a, const char *id)
{
    char what[128];
    snprintf(what, sizeof what, "%s's inbox holds %s", ah_agent_code(a), id);
    ah_reply_t *r =
        ah_poll(a, s_inbox_has, (void *) (uintptr_t) id, what, "{cmd:s limit:i}", "inbox", 1000);
    ah_reply_destroy(&r);
}

static bool s_sent_accepted(const ah_reply_t *r, void *arg)
{
    (void) arg;
    return ah_is_ok(r) && ah_str_is(r->map, "document.state", "accepted");
}

static bool s_refused(const ah_reply_t *r, void *arg)
{
    (void) arg;
    return ah_is_ok(r) && ah_bool(r->map, "refused") == 1 && ah_bool(r->map, "connected") == 0;
}

static bool s_connected(const ah_reply_t *r, void *arg)
{
    (void) arg;
    return ah_is_ok(r) && ah_bool(r->map, "connected") == 1 && ah_bool(r->map, "refused") == 0;
}

//  The agent says it is refused, in `health` (with the reason in
//  last_error) and with a `connection` event.
static void s_expect_refused(ah_agent_t *a, const char *what)
{
    char text[160];
    snprintf(text, sizeof text, "%s: health says refused", what);
    ah_reply_t *r = ah_poll(a, s_refused, NULL, text, "{cmd:s}", "health");
    const char *error = ah_str(r->map, "last_error");
    th_check(error && th_contains(error, "refused") && th_contains(error, "handshake"),
             "%s: last_error does not say why: %s", what, ah_show(r->map));
    ah_reply_destroy(&r);
    ah_events_wait(a, "connection", "connected", "false", "refused", "true", NULL);
}

//  The agent connects by itself: it kept retrying after the refusals.
static void s_expect_connects(ah_agent_t *a, const char *what)
{
    char text[160];
    snprintf(text, sizeof text, "%s: connects by itself once admitted", what);
    ah_reply_t *r = ah_poll(a, s_connected, NULL, text, "{cmd:s}", "health");
    ah_reply_destroy(&r);
}

//  Run truc-keys with these arguments after the program name (at most 14,
//  NULL-terminated); it must exit 0.
static void s_keys(ah_env_t *env, const char *const *args)
{
    const char *argv[16] = { th_keys_path };
    for (size_t i = 0; args[i] && i < 14; i++)
        argv[i + 1] = args[i];
    static char out[4096];
    int status = th_run(env->th, argv, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "truc-keys %s %s: %s", args[0], args[1],
             out);
}

//  The broker reads its directory again (SIGHUP), as `systemctl reload`.
static void s_reload(ah_env_t *env)
{
    th_check(kill(env->th->pid, SIGHUP) == 0, "kill SIGHUP");
}

//  A's directory snapshot lists code (the broker pushed the reloaded one).
static bool s_directory_lists(const ah_reply_t *r, void *arg)
{
    const msgpack_object *list = ah_get(r->map, "agencies");
    for (uint32_t i = 0;
         ah_is_ok(r) && list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size; i++)
        if (ah_str_is(&list->via.array.ptr[i], "code", arg) &&
            ah_str_is(&list->via.array.ptr[i], "state", "active"))
            return true;
    return false;
}

// ---------------------------------------------------------------------------
//  1. refused_retry

static void test_refused_retry(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, s_fast_retry);
    ah_wait_connected(a, true);

    //  U has keys but is not in the directory: its agent starts refused.
    ah_agent_t *u = ah_agent_run(env, TH_U, 0, s_fast_retry);
    s_expect_refused(u, "U, not in the directory");

    //  The operator adds U; the broker reloads; A may now send to U.
    char public[TH_PATH_MAX + 32];
    snprintf(public, sizeof public, "%s/%s.public", env->th->keys, th_code(TH_U));
    s_keys(env, (const char *const[]){ "directory", "add", "--dir", env->th->dirfile, public,
                                       "--name", "Sở Mới", NULL });
    s_reload(env);
    ah_reply_t *r = ah_poll(a, s_directory_lists, (void *) (uintptr_t) th_code(TH_U),
                            "A's directory lists U once added", "{cmd:s}", "directory");
    ah_reply_destroy(&r);
    s_id_t to_u;
    s_submit(a, TH_U, "Gửi đơn vị mới thêm vào danh bạ", to_u);
    s_expect_connects(u, "U, added after its agent started");
    s_inbox_wait(u, to_u);

    //  B suspended with a document waiting for it: its agent, started
    //  again, is refused; reinstated, it connects and takes the document.
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, s_fast_retry);
    ah_wait_connected(b, true);
    ah_agent_stop(b);
    s_id_t to_b;
    s_submit(a, TH_B, "Chờ đơn vị bị tạm dừng", to_b);
    r = ah_poll(a, s_sent_accepted, NULL, "the document to B is accepted", "{cmd:s id:s}", "sent",
                to_b);
    ah_reply_destroy(&r);
    s_keys(env, (const char *const[]){ "directory", "suspend", "--dir", env->th->dirfile,
                                       th_code(TH_B), NULL });
    s_reload(env);
    ah_agent_start(b);
    s_expect_refused(b, "B, suspended");
    s_keys(env, (const char *const[]){ "directory", "reinstate", "--dir", env->th->dirfile,
                                       th_code(TH_B), NULL });
    s_reload(env);
    s_expect_connects(b, "B, reinstated");
    s_inbox_wait(b, to_b);

    //  C's key rotated at the agency before the broker's directory has the
    //  new one: refused until the operator's rekey, then connected.
    char keys2[TH_PATH_MAX + 16], secret[TH_PATH_MAX + 32], rotated[TH_PATH_MAX + 64];
    snprintf(keys2, sizeof keys2, "%s/keys2", env->th->root);
    s_keys(env, (const char *const[]){ "new", "--agency", th_code(TH_C), "--out", keys2, NULL });
    snprintf(secret, sizeof secret, "%s/%s.secret", env->th->keys, th_code(TH_C));
    snprintf(rotated, sizeof rotated, "%s/%s.secret", keys2, th_code(TH_C));
    th_check(rename(rotated, secret) == 0, "rename %s: %s", rotated, strerror(errno));
    s_id_t to_c;
    s_submit(a, TH_C, "Chờ đơn vị đổi khóa", to_c);
    ah_agent_t *c = ah_agent_run(env, TH_C, 0, s_fast_retry);
    s_expect_refused(c, "C, with a key the broker does not know yet");
    snprintf(public, sizeof public, "%s/%s.public", keys2, th_code(TH_C));
    s_keys(env,
           (const char *const[]){ "directory", "rekey", "--dir", env->th->dirfile, public, NULL });
    s_reload(env);
    s_expect_connects(c, "C, once the directory holds its new key");
    s_inbox_wait(c, to_c);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  2. restart_quiet

#define S_RESTARTS 3

//  `audit show --json` (the last entries): how many are `denied`.
static size_t s_denied(ah_env_t *env, char *shown, size_t len)
{
    th_json_t *list = th_admin_json(env->th, (const char *const[]){ "audit", "show", NULL }, 0);
    th_check(list->type == TH_JSON_ARRAY, "audit show: not an array");
    size_t n = 0;
    shown[0] = '\0';
    for (size_t i = 0; i < list->count; i++) {
        if (strcmp(th_json_text(list->items[i], "event"), "denied") != 0)
            continue;
        n++;
        size_t used = strlen(shown);
        snprintf(shown + used, len - used, "[%s %s] ", th_json_text(list->items[i], "agency"),
                 th_json_text(list->items[i], "detail"));
    }
    th_json_free(&list);
    return n;
}

static void test_restart_quiet(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, s_fast_retry);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, s_fast_retry);
    ah_agent_t *c = ah_agent_run(env, TH_C, 0, s_fast_retry);
    ah_agent_t *all[] = { a, b, c };
    for (size_t i = 0; i < 3; i++)
        ah_wait_connected(all[i], true);
    for (int round = 0; round < S_RESTARTS; round++) {
        ah_broker_stop(env);
        ah_broker_start(env);
        for (size_t i = 0; i < 3; i++)
            s_expect_connects(all[i], "after a broker restart");
        //  A heartbeat or two on the new session, where an old one would
        //  have gone before HELLO.
        th_sleep_ms(2500);
    }
    s_id_t id;
    s_submit(a, TH_B, "Sau khi trục khởi động lại", id);
    s_inbox_wait(b, id);

    //  No broker answered an agent with ERR_NOT_AUTHENTICATED, and the
    //  chain holds no denial.
    static char log[1 << 20];
    for (int i = 0; i < env->th->nprocs; i++) {
        if (!th_read_file(env->th->logs[i], log, sizeof log))
            continue;
        const char *hit = strstr(log, "ERR_NOT_AUTHENTICATED");
        th_check(!hit, "broker run %d answered ERR_NOT_AUTHENTICATED: %.200s", i + 1, hit);
    }

    //  An agent of an older version still sends a heartbeat of its old
    //  session first: answered with a fatal ERR_NOT_AUTHENTICATED (it must
    //  say HELLO), but ZAP admitted its key, so that is no denial either.
    truc_client_t *d = th_client(env->th, TH_D, 8);
    proto_msg_t hb;
    memset(&hb, 0, sizeof hb);
    hb.kind = PROTO_KIND_HEARTBEAT;
    hb.u.heartbeat.time = 1;
    proto_buf_t body;
    proto_buf_init(&body);
    th_check(proto_msg_encode(&hb, &body, NULL) == PROTO_OK, "encode HEARTBEAT");
    uint8_t header[PROTO_HEADER_LEN];
    proto_header_write(header, PROTO_KIND_HEARTBEAT);
    const void *frames[2] = { header, body.data };
    size_t lens[2] = { sizeof header, body.len };
    th_check(truc_client_send_frames(d, frames, lens, 2) == PROTO_OK, "send HEARTBEAT");
    proto_buf_free(&body);
    proto_msg_t *err = NULL;
    th_check(truc_client_recv_kind(d, PROTO_KIND_ERROR, TH_RECV_TIMEOUT_MS, &err, NULL) == PROTO_OK,
             "no ERROR for a HEARTBEAT before HELLO: %s", truc_client_error_text(d));
    th_check(err->u.error.code == PROTO_ERR_NOT_AUTHENTICATED && err->u.error.fatal,
             "a HEARTBEAT before HELLO: ERROR %s fatal=%d, expected a fatal ERR_NOT_AUTHENTICATED",
             proto_errname((proto_err_t) err->u.error.code), err->u.error.fatal);
    proto_msg_destroy(&err);
    th_drop(env->th, &d);

    static char shown[8192];
    size_t denied = s_denied(env, shown, sizeof shown);
    th_check(denied == 0, "%zu denied entries in the audit chain after %d restarts: %s", denied,
             S_RESTARTS, shown);
    for (size_t i = 0; i < 3; i++) {
        size_t refused = ah_events_count(all[i], "connection", "refused", "true", NULL);
        th_check(refused == 0, "%s reported %zu refusals", ah_agent_code(all[i]), refused);
    }
    ah_pass(env);
}

// ---------------------------------------------------------------------------

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, ah_setup, ah_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_session", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_AGENT", &ah_agent_path, "TRUC_ADMIN",
                           &th_admin_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_refused_retry),
        S_TEST(test_restart_quiet),
    };
    return th_run_tests("test_session", "truc-agent session", tests, sizeof tests / sizeof tests[0],
                        filter);
}
