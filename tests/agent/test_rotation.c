/*  tests/agent/test_rotation.c - key rotation that keeps old documents
    valid, between two real agents through a real broker.

    Real truc-broker and truc-agent processes (tests/lib/agent_harness.h);
    the operator's steps with the real truc-keys (`directory rekey`, default
    grace) and a SIGHUP to the broker (its directory reload).

      agency_key  A sends a stream of documents to B, whose agent is down.
                  In the middle of it A's key is rotated at the broker:
                  A's agent, still holding the old key, is refused and
                  queues what its DMS goes on submitting (signed with the
                  old key inside the grace period); then A starts with the
                  new key and sends the rest. B, started last, first learns
                  the directory in which A's old key is retired, then
                  receives everything: nothing is refused by the broker or
                  quarantined by B. Then B's key rotates while B's signed
                  DELIVERED for a document is still on its way to A: A
                  still counts it as delivered.

    Prints the counts (sent before and after the rotation, quarantined,
    refused) for the record. Every wait polls with a generous deadline.

    Usage: test_rotation TRUC_BROKER TRUC_KEYS TRUC_AGENT [TEST_NAME]
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

#include "agent_harness.h"

#define S_TYPE   "Công văn"
#define S_ID_LEN 37 // UUID text and NUL
#define S_BEFORE 4  // sent and accepted before the rotation
#define S_GRACE  3  // submitted to A's agent with the old key after the rotation
#define S_AFTER  4  // signed with the new key

typedef char s_id_t[S_ID_LEN];

static const char *const s_fast_retry[] = { "broker.reconnect_max=2s", NULL };

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

//  The sent document has left the queue: accepted or rejected.
static bool s_sent_answered(const ah_reply_t *r, void *arg)
{
    (void) arg;
    return ah_is_ok(r) && (ah_str_is(r->map, "document.state", "accepted") ||
                           ah_str_is(r->map, "document.state", "rejected"));
}

//  Wait for the broker's answer to a sent document; true when accepted.
static bool s_answered(ah_agent_t *a, const char *id)
{
    ah_reply_t *r = ah_poll(a, s_sent_answered, NULL, "the broker answers a sent document",
                            "{cmd:s id:s}", "sent", id);
    bool accepted = ah_str_is(r->map, "document.state", "accepted");
    if (!accepted)
        print_message("rejected: %s\n", ah_show(r->map));
    ah_reply_destroy(&r);
    return accepted;
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

static bool s_refused(const ah_reply_t *r, void *arg)
{
    (void) arg;
    return ah_is_ok(r) && ah_bool(r->map, "refused") == 1 && ah_bool(r->map, "connected") == 0;
}

static bool s_delivered_by(const ah_reply_t *r, void *arg)
{
    const msgpack_object *list = ah_get(r->map, "document.recipients");
    for (uint32_t i = 0;
         ah_is_ok(r) && list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size; i++)
        if (ah_str_is(&list->via.array.ptr[i], "agency", arg) &&
            ah_str_is(&list->via.array.ptr[i], "state", "delivered"))
            return true;
    return false;
}

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

//  The operator's rotation of an agency's key: a new key pair, `directory
//  rekey` with the default grace, the broker's reload; the new secret takes
//  the old one's place, for the agent's next start.
static void s_rotate(ah_env_t *env, th_agency_t who, const char *sub)
{
    char dir[TH_PATH_MAX + 16], secret[TH_PATH_MAX + 32], fresh[TH_PATH_MAX + 64],
        public[TH_PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/%s", env->th->root, sub);
    s_keys(env, (const char *const[]){ "new", "--agency", th_code(who), "--out", dir, NULL });
    snprintf(public, sizeof public, "%s/%s.public", dir, th_code(who));
    s_keys(env,
           (const char *const[]){ "directory", "rekey", "--dir", env->th->dirfile, public, NULL });
    th_check(kill(env->th->pid, SIGHUP) == 0, "kill SIGHUP");
    snprintf(secret, sizeof secret, "%s/%s.secret", env->th->keys, th_code(who));
    snprintf(fresh, sizeof fresh, "%s/%s.secret", dir, th_code(who));
    th_check(rename(fresh, secret) == 0, "rename %s: %s", fresh, strerror(errno));
}

static int64_t s_health(ah_agent_t *a, const char *field)
{
    ah_reply_t *r = ah_call(a, "{cmd:s}", "health");
    ah_expect_ok(r, "health");
    int64_t v = ah_int(r->map, field);
    ah_reply_destroy(&r);
    return v;
}

// ---------------------------------------------------------------------------
//  agency_key

static void test_agency_key(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, s_fast_retry);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, s_fast_retry);
    ah_wait_connected(a, true);
    ah_wait_connected(b, true);
    ah_wait_directory(b);
    ah_agent_stop(b);

    s_id_t ids[S_BEFORE + S_GRACE + S_AFTER];
    size_t n = 0, accepted = 0, rejected = 0;
    char subject[80];
    for (; n < S_BEFORE; n++) {
        snprintf(subject, sizeof subject, "Trước khi đổi khóa %zu", n + 1);
        s_submit(a, TH_B, subject, ids[n]);
    }
    for (size_t i = 0; i < S_BEFORE; i++)
        s_answered(a, ids[i]) ? accepted++ : rejected++;

    //  The rotation: A's agent still holds the old key and is refused at
    //  the handshake; its DMS goes on submitting, signed with the old key.
    s_rotate(env, TH_A, "keys-a2");
    ah_reply_t *r =
        ah_poll(a, s_refused, NULL, "A with its old key is refused", "{cmd:s}", "health");
    ah_reply_destroy(&r);
    for (; n < S_BEFORE + S_GRACE; n++) {
        snprintf(subject, sizeof subject, "Trong thời gian ân hạn %zu", n + 1);
        s_submit(a, TH_B, subject, ids[n]);
    }
    //  A starts with its new key and sends what it queued, then more.
    ah_agent_stop(a);
    ah_agent_start(a);
    ah_wait_connected(a, true);
    for (size_t i = S_BEFORE; i < S_BEFORE + S_GRACE; i++)
        s_answered(a, ids[i]) ? accepted++ : rejected++;
    for (; n < S_BEFORE + S_GRACE + S_AFTER; n++) {
        snprintf(subject, sizeof subject, "Sau khi đổi khóa %zu", n + 1);
        s_submit(a, TH_B, subject, ids[n]);
    }
    for (size_t i = S_BEFORE + S_GRACE; i < n; i++)
        s_answered(a, ids[i]) ? accepted++ : rejected++;
    th_check(rejected == 0, "%zu of %zu documents refused by the broker around the rotation",
             rejected, n);

    //  B learns the directory with A's old key retired, then receives all.
    ah_agent_start(b);
    ah_wait_connected(b, true);
    for (size_t i = 0; i < n; i++)
        s_inbox_wait(b, ids[i]);
    int64_t quarantined = s_health(b, "quarantine");
    for (size_t i = 0; i < n; i++) {
        r = ah_poll(a, s_delivered_by, (void *) (uintptr_t) th_code(TH_B), "A holds B's DELIVERED",
                    "{cmd:s id:s}", "sent", ids[i]);
        ah_reply_destroy(&r);
    }

    //  B's key rotates while its DELIVERED for one more document, signed
    //  with B's old key, has not reached A (A is down).
    s_id_t last;
    s_submit(a, TH_B, "Biên nhận ký bằng khóa cũ", last);
    th_check(s_answered(a, last), "the document before B's rotation is accepted");
    ah_agent_stop(a);
    s_inbox_wait(b, last);
    s_rotate(env, TH_B, "keys-b2");
    ah_agent_stop(b);
    ah_agent_start(b);
    ah_wait_connected(b, true);
    ah_agent_start(a);
    ah_wait_connected(a, true);
    r = ah_poll(a, s_delivered_by, (void *) (uintptr_t) th_code(TH_B),
                "A counts B's DELIVERED signed before B's rotation", "{cmd:s id:s}", "sent", last);
    ah_reply_destroy(&r);
    int64_t a_quarantined = s_health(a, "quarantine");

    print_message("rotation: sent before=%d in grace=%d after=%d accepted=%zu refused=%zu "
                  "quarantined=%lld (B) %lld (A)\n",
                  S_BEFORE, S_GRACE, S_AFTER, accepted, rejected, (long long) quarantined,
                  (long long) a_quarantined);
    th_check(accepted == n, "%zu of %zu accepted", accepted, n);
    th_check(quarantined == 0, "B quarantined %lld documents signed before the rotation",
             (long long) quarantined);
    th_check(a_quarantined == 0, "A quarantined %lld", (long long) a_quarantined);
    ah_pass(env);
}

// ---------------------------------------------------------------------------

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, ah_setup, ah_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_rotation", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_AGENT", &ah_agent_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_agency_key),
    };
    return th_run_tests("test_rotation", "key rotation between agents", tests,
                        sizeof tests / sizeof tests[0], filter);
}
