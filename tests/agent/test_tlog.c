/*  tests/agent/test_tlog.c - the broker's transparency log, checked by
    every agent (PROTOCOL.md section 18).

    Real truc-broker, truc-agent and truc-admin processes
    (tests/lib/agent_harness.h), real LMDB files. Documents go both ways
    between agencies A and B, so both agents see batch heads of their own.

      restarts_quiet  SIGTERM restarts and a kill -9 of the broker, with
                      documents between them: every agent's head follows
                      the broker's (`truc-admin log head`), no agent raises
                      `log.alarm`, and `truc-admin log prove 1 N` holds.
      restore         the broker's data directory copied while it is
                      stopped, the broker run on (the agents see a larger
                      log), stopped, the old copy put back, started: every
                      agent raises the alarm (rollback), keeps the two
                      signed heads as evidence, and still shows them after
                      a restart of its own; log_clear hands the evidence
                      back, and the agent follows the broker's log anew.
      tampered_leaf   one stored leaf changed with LMDB itself while the
                      broker is stopped: `truc-admin log prove` through it
                      fails (exit 3) and around it holds; the agents raise
                      the alarm once the log grows past it (their proof
                      fails), and keep the failed proof.
      old_agent       a protocol client whose HELLO has no `log` (an agent
                      from before the log) gets READY without a log head
                      and an ACCEPTED without `head.log` that verifies,
                      while a real agent keeps following the log.

    Every wait polls with a generous deadline (AH_WAIT_MS); nothing asserts
    on how fast anything happens.

    Usage: test_tlog TRUC_BROKER TRUC_KEYS TRUC_AGENT TRUC_ADMIN [TEST_NAME]
    (or the same names in the environment).
*/
#include <errno.h>
#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "admin_json.h"
#include "agent_harness.h"
#include "expect.h"
#include "truc_client.h"

#define S_TYPE   "Công văn"
#define S_ID_LEN 37 // UUID text and NUL

static const char *const s_fast_retry[] = { "broker.reconnect_max=2s", NULL };

// ---------------------------------------------------------------------------
//  Helpers

static bool s_accepted(const ah_reply_t *r, void *arg)
{
    (void) arg;
    return ah_is_ok(r) && ah_str_is(r->map, "document.state", "accepted");
}

//  a sends one document to b; wait until the broker accepted it.
static void s_exchange(ah_agent_t *a, ah_agent_t *b, const char *subject)
{
    const char *list[] = { ah_agent_code(b) };
    ah_reply_t *r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s}}", "submit", list, (size_t) 1,
                            S_TYPE, subject);
    ah_expect_ok(r, "submit");
    char id[S_ID_LEN];
    snprintf(id, sizeof id, "%s", ah_str(r->map, "id") ? ah_str(r->map, "id") : "");
    ah_reply_destroy(&r);
    r = ah_poll(a, s_accepted, NULL, "the document is accepted", "{cmd:s id:s}", "sent", id);
    ah_reply_destroy(&r);
}

//  The broker's log size as truc-admin log head says.
static uint64_t s_broker_size(ah_env_t *env)
{
    th_json_t *json = th_admin_json(env->th, (const char *const[]){ "log", "head", NULL }, 0);
    uint64_t size = 0;
    th_check(th_json_uint(json, "size", &size), "log head: no size");
    th_json_free(&json);
    return size;
}

static bool s_holds(const ah_reply_t *r, void *arg)
{
    return ah_is_ok(r) && ah_int(r->map, "log.size") == (int64_t) * (const uint64_t *) arg;
}

//  Wait until agent a holds the broker's head of this size.
static void s_wait_holds(ah_agent_t *a, uint64_t size)
{
    ah_reply_t *r =
        ah_poll(a, s_holds, &size, "the agent holds the broker's log head", "{cmd:s}", "health");
    ah_reply_destroy(&r);
}

static bool s_alarmed(const ah_reply_t *r, void *arg)
{
    (void) arg;
    return ah_is_ok(r) && ah_get(r->map, "log.alarm") && !ah_is_nil(r->map, "log.alarm");
}

//  Wait for a's alarm and return its health (the caller destroys it).
static ah_reply_t *s_wait_alarm(ah_agent_t *a)
{
    return ah_poll(a, s_alarmed, NULL, "the agent raises the log alarm", "{cmd:s}", "health");
}

static void s_no_alarm(ah_agent_t *a)
{
    ah_reply_t *r = ah_call(a, "{cmd:s}", "health");
    th_check(ah_is_nil(r->map, "log.alarm"), "%s: a log alarm: %s", ah_agent_code(a),
             ah_show(r->map));
    ah_reply_destroy(&r);
    th_check(ah_events_count(a, "log.alarm", NULL) == 0, "%s: a log.alarm event", ah_agent_code(a));
}

//  Restart the broker and wait until both agents hold its head.
static uint64_t s_converge(ah_env_t *env, ah_agent_t *a, ah_agent_t *b)
{
    ah_broker_stop(env);
    ah_broker_start(env);
    uint64_t size = s_broker_size(env);
    s_wait_holds(a, size);
    s_wait_holds(b, size);
    return size;
}

static int s_sh(ah_env_t *env, const char *command)
{
    char out[4096];
    const char *argv[] = { "/bin/sh", "-c", command, NULL };
    int status = th_run(env->th, argv, out, sizeof out);
    th_check(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: %s", command, out);
    return 0;
}

static int s_prove(ah_env_t *env, uint64_t a, uint64_t b)
{
    char from[24], to[24], out[8192];
    snprintf(from, sizeof from, "%llu", (unsigned long long) a);
    snprintf(to, sizeof to, "%llu", (unsigned long long) b);
    return th_admin(env->th, (const char *const[]){ "log", "prove", from, to, NULL }, out,
                    sizeof out);
}

// ---------------------------------------------------------------------------
//  restarts_quiet

static void test_restarts_quiet(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, s_fast_retry);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, s_fast_retry);
    ah_wait_directory(a);
    ah_wait_directory(b);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 3; i++) {
            char subject[64];
            snprintf(subject, sizeof subject, "Vòng %d, văn bản %d", round, i);
            s_exchange(a, b, subject);
            s_exchange(b, a, subject);
        }
        if (round == 1) {
            th_broker_kill(env->th);
            ah_broker_start(env);
        } else {
            s_converge(env, a, b);
        }
    }
    uint64_t size = s_converge(env, a, b);
    th_check(size >= 6, "the log holds %llu leaves for 18 documents", (unsigned long long) size);
    s_no_alarm(a);
    s_no_alarm(b);
    th_check(s_prove(env, 1, size) == 0, "log prove 1 %llu does not hold",
             (unsigned long long) size);
    th_check(s_prove(env, size / 2, size) == 0, "log prove %llu %llu does not hold",
             (unsigned long long) size / 2, (unsigned long long) size);
    //  Sizes the other way round, or past the log, are refused with a reason.
    char out[4096];
    int rc =
        th_admin(env->th, (const char *const[]){ "log", "prove", "5", "2", NULL }, out, sizeof out);
    th_check(rc == 2 && strstr(out, "A <= B"), "log prove 5 2: exit %d: %s", rc, out);
    rc = th_admin(env->th, (const char *const[]){ "log", "prove", "1", "99999999", NULL }, out,
                  sizeof out);
    th_check(rc == 2 && strstr(out, "leaves"), "log prove past the log: exit %d: %s", rc, out);
    rc = th_admin(env->th, (const char *const[]){ "log", "head", NULL }, out, sizeof out);
    th_check(rc == 0 && strstr(out, "root") && strstr(out, "size"), "log head: exit %d: %s", rc,
             out);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  restore

static void s_check_rollback(ah_agent_t *a, uint64_t held, uint64_t seen)
{
    ah_reply_t *r = s_wait_alarm(a);
    const char *reason = ah_str(r->map, "log.alarm.reason");
    th_check(reason && strstr(reason, "rollback"), "%s: alarm: %s", ah_agent_code(a),
             ah_show(r->map));
    th_check(ah_int(r->map, "log.alarm.held.head.size") == (int64_t) held &&
                 ah_int(r->map, "log.alarm.seen.head.size") == (int64_t) seen,
             "%s: the evidence is not the two heads (%llu, %llu): %s", ah_agent_code(a),
             (unsigned long long) held, (unsigned long long) seen, ah_show(r->map));
    th_check(ah_str(r->map, "log.alarm.held.head.sig") && ah_str(r->map, "log.alarm.seen.head.sig"),
             "%s: the evidence lacks the signatures: %s", ah_agent_code(a), ah_show(r->map));
    th_print("%s raised the log alarm: %s", ah_agent_code(a), ah_show(ah_get(r->map, "log.alarm")));
    ah_reply_destroy(&r);
    th_check(ah_events_count(a, "log.alarm", NULL) == 1, "%s: not one log.alarm event",
             ah_agent_code(a));
}

static void test_restore(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, s_fast_retry);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, s_fast_retry);
    ah_wait_directory(a);
    ah_wait_directory(b);
    s_exchange(a, b, "Trước bản sao");
    s_exchange(b, a, "Trước bản sao");
    ah_broker_stop(env);
    char command[3 * TH_PATH_MAX + 64];
    snprintf(command, sizeof command, "cp -a '%s' '%s.old'", env->th->data, env->th->data);
    s_sh(env, command);
    ah_broker_start(env);
    uint64_t old_size = s_broker_size(env);
    for (int i = 0; i < 3; i++) {
        s_exchange(a, b, "Sau bản sao");
        s_exchange(b, a, "Sau bản sao");
    }
    uint64_t later = s_converge(env, a, b);
    th_check(later > old_size, "the log did not grow: %llu", (unsigned long long) later);
    s_no_alarm(a);
    s_no_alarm(b);

    //  The old copy back in place of the data directory, as a restore from
    //  an old backup would do.
    ah_broker_stop(env);
    snprintf(command, sizeof command, "rm -rf '%s' && mv '%s.old' '%s'", env->th->data,
             env->th->data, env->th->data);
    s_sh(env, command);
    ah_broker_start(env);
    th_check(s_broker_size(env) == old_size, "the restored broker's log is not the old one");
    s_check_rollback(a, later, old_size);
    s_check_rollback(b, later, old_size);

    //  The evidence is durable: an agent restarted still shows it, and
    //  does not take the broker's smaller head as its own.
    ah_agent_stop(a);
    ah_agent_start(a);
    ah_wait_connected(a, true);
    ah_reply_t *r = ah_call(a, "{cmd:s}", "health");
    th_check(!ah_is_nil(r->map, "log.alarm") && ah_int(r->map, "log.size") == (int64_t) later,
             "after a restart: %s", ah_show(r->map));
    ah_reply_destroy(&r);

    //  The operator has looked: log_clear answers with what it cleared,
    //  and the agent takes the broker's log from its next head on.
    r = ah_call(a, "{cmd:s}", "log_clear");
    th_check(ah_is_ok(r) && ah_str(r->map, "cleared.alarm.reason") &&
                 ah_int(r->map, "cleared.alarm.held.head.size") == (int64_t) later,
             "log_clear: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    th_check(ah_events_count(a, "log.cleared", NULL) == 1, "no log.cleared event");
    s_exchange(a, b, "Sau khi xử lý");
    uint64_t now = s_broker_size(env);
    s_wait_holds(a, now);
    r = ah_call(a, "{cmd:s}", "health");
    th_check(ah_is_nil(r->map, "log.alarm"), "an alarm after log_clear: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  tampered_leaf

//  Change the last byte of leaf index's record in the broker's store (its
//  head's bytes), with LMDB itself, the broker stopped.
static void s_tamper(ah_env_t *env, uint64_t index)
{
    MDB_env *mdb = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    char path[TH_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/store", env->th->data);
    th_check(mdb_env_create(&mdb) == 0 && mdb_env_set_maxdbs(mdb, 32) == 0 &&
                 mdb_env_open(mdb, path, 0, 0600) == 0 && mdb_txn_begin(mdb, NULL, 0, &txn) == 0 &&
                 mdb_dbi_open(txn, "tlog", 0, &dbi) == 0,
             "cannot open the broker's store at %s", path);
    uint8_t k[9] = { 'L' };
    for (int i = 0; i < 8; i++)
        k[1 + i] = (uint8_t) (index >> (56 - 8 * i));
    MDB_val key = { sizeof k, k }, val;
    th_check(mdb_get(txn, dbi, &key, &val) == 0 && val.mv_size <= 1024, "no leaf %llu",
             (unsigned long long) index);
    uint8_t copy[1024];
    memcpy(copy, val.mv_data, val.mv_size);
    copy[val.mv_size - 1] ^= 0x01;
    MDB_val changed = { val.mv_size, copy };
    th_check(mdb_put(txn, dbi, &key, &changed, 0) == 0 && mdb_txn_commit(txn) == 0,
             "cannot write leaf %llu", (unsigned long long) index);
    mdb_env_close(mdb);
}

static void test_tampered_leaf(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, s_fast_retry);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, s_fast_retry);
    ah_wait_directory(a);
    ah_wait_directory(b);
    s_exchange(a, b, "Văn bản 1");
    s_exchange(b, a, "Văn bản 2");
    //  An odd size m, held by both agents: the proof from m onwards starts
    //  with leaf m - 1 itself.
    for (int tries = 0; tries < 10 && s_broker_size(env) % 2 == 0; tries++)
        s_exchange(a, b, "Cho đủ lẻ");
    uint64_t m = s_converge(env, a, b);
    th_check(m % 2 == 1 && m >= 3, "log size %llu is not odd", (unsigned long long) m);
    th_check(s_prove(env, 1, m) == 0, "log prove 1 %llu fails before the change",
             (unsigned long long) m);

    ah_broker_stop(env);
    s_tamper(env, m - 1);
    ah_broker_start(env);
    ah_wait_connected(a, true);
    ah_wait_connected(b, true);
    th_check(s_prove(env, 1, m) == 3, "log prove 1 %llu holds through a changed leaf",
             (unsigned long long) m);
    th_check(s_prove(env, 1, m - 1) == 0, "log prove 1 %llu fails without the changed leaf",
             (unsigned long long) m - 1);

    //  The log grows past the changed leaf: each agent's proof from m
    //  fails, and the alarm keeps it.
    s_exchange(a, b, "Sau khi sửa");
    s_exchange(b, a, "Sau khi sửa");
    ah_agent_t *agents[] = { a, b };
    for (int i = 0; i < 2; i++) {
        ah_reply_t *r = s_wait_alarm(agents[i]);
        const char *reason = ah_str(r->map, "log.alarm.reason");
        th_check(reason && strstr(reason, "proof fails") &&
                     ah_int(r->map, "log.alarm.held.head.size") == (int64_t) m &&
                     ah_int(r->map, "log.alarm.seen.proof_from") == (int64_t) m &&
                     ah_count(r->map, "log.alarm.seen.proof") > 0,
                 "%s: alarm: %s", ah_agent_code(agents[i]), ah_show(r->map));
        ah_reply_destroy(&r);
    }
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  old_agent

//  An agent from before the log (its HELLO has no `log`) gets no log head
//  in READY and receipts whose head has no place in the log, signed anew,
//  which it can read and verify; a real agent in the same broker keeps
//  following the log.
static void test_old_agent(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, s_fast_retry);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, s_fast_retry);
    ah_wait_directory(a);
    s_exchange(a, b, "Trước");
    proto_msg_t *ready = NULL;
    truc_client_t *c = th_connect(env->th, TH_C, 16, &ready);
    th_check(!ready->u.ready.has_log, "READY to an agent from before the log carries a log head");
    proto_msg_destroy(&ready);
    const char *to[] = { th_code(TH_B) };
    truc_doc_t *doc = truc_doc_build(env->th->agency[TH_C], to, 1, "Đại lý cũ", S_TYPE, 1, NULL, 0);
    th_check(doc && truc_client_submit(c, doc) == PROTO_OK, "submit: %s",
             truc_client_error_text(c));
    proto_msg_t *acc = th_answer(c, truc_doc_id(doc), TH_RECV_TIMEOUT_MS);
    th_check(acc && acc->kind == PROTO_KIND_ACCEPTED && acc->u.receipts.head.log == 0 &&
                 truc_receipts_verify(acc, th_hub_sign_pk(env->th)) == PROTO_OK,
             "the old agent's ACCEPTED names a log place or does not verify");
    proto_msg_destroy(&acc);
    truc_doc_destroy(&doc);
    s_exchange(a, b, "Sau");
    uint64_t size = s_broker_size(env);
    s_wait_holds(a, size);
    s_no_alarm(a);
    ah_pass(env);
}

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_tlog", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_AGENT", &ah_agent_path, "TRUC_ADMIN",
                           &th_admin_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_restarts_quiet, ah_setup, ah_teardown),
        cmocka_unit_test_setup_teardown(test_restore, ah_setup, ah_teardown),
        cmocka_unit_test_setup_teardown(test_tampered_leaf, ah_setup, ah_teardown),
        cmocka_unit_test_setup_teardown(test_old_agent, ah_setup, ah_teardown),
    };
    return th_run_tests("test_tlog", "transparency log", tests, sizeof tests / sizeof tests[0],
                        filter);
}
