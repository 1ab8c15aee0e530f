/*  tests/federation/test_hops.c - forwarding between brokers
    (PROTOCOL.md section 16.7), with real truc-broker processes on loopback.

    The harness's broker "hub" is a province P; its directory also lists
    the national broker "nat" as a broker entry, home for agency C (C's
    entry names it) and for the code of U, which P's directory does not
    list at all. What is proved:

      - forward_intake: a document with an attachment from A to B (at P),
        C and U (both at nat) is ACCEPTED once, stored once: B receives it
        from P, and one hop for nat with both of its recipients is queued
        beside it, and C, connected here, is pushed nothing; a recipient
        no broker is home for is still REJECTED with ERR_UNKNOWN_AGENCY.

    Usage: test_hops TRUC_BROKER TRUC_KEYS [TEST_NAME]
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
#include <sodium.h>

#include "expect.h"
#include "harness.h"
#include "proto/msg.h"

#define S_WAIT_MS 30000 // a log line that must come

static uint64_t s_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

//  Lines of the log of process index that hold needle.
static int s_log_count(th_env_t *env, int index, const char *needle)
{
    FILE *f = fopen(env->logs[index], "r");
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    while (f && getline(&line, &cap, f) >= 0)
        found += strstr(line, needle) != NULL;
    free(line);
    if (f)
        fclose(f);
    return found;
}

//  Wait until the log of process index holds needle at least n times.
static void s_wait_log(th_env_t *env, int index, const char *needle, int n)
{
    uint64_t until = s_ms() + S_WAIT_MS;
    while (s_log_count(env, index, needle) < n) {
        th_check(s_ms() < until, "process %d logged '%s' %d times, not %d, within %d ms", index,
                 needle, s_log_count(env, index, needle), n, S_WAIT_MS);
        th_sleep_ms(50);
    }
}

//  Run truc-keys with args, which must succeed.
static void s_keys(th_env_t *env, const char *const *args, const char *what)
{
    char out[4096];
    int status = th_run(env, args, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: %s", what, out);
}

//  The directory lists hub (this broker, home for its agencies) and nat,
//  home for C by C's entry and for U's code explicitly.
static void s_directory(th_env_t *env)
{
    char pub[TH_PATH_MAX + 64];
    snprintf(pub, sizeof pub, "%s/%s.public", env->keys, TH_HUB);
    const char *hub[] = {
        th_keys_path, "directory", "add-broker", "--dir", env->dirfile, pub, NULL
    };
    s_keys(env, hub, "add-broker hub");
    const char *make[] = { th_keys_path, "new", "--broker", "nat", "--out", env->keys, NULL };
    s_keys(env, make, "truc-keys new nat");
    snprintf(pub, sizeof pub, "%s/nat.public", env->keys);
    const char *nat[] = { th_keys_path, "directory", "add-broker",  "--dir", env->dirfile,
                          pub,          "--code",    th_code(TH_U), NULL };
    s_keys(env, nat, "add-broker nat");
    const char *home[] = { th_keys_path, "directory",   "set-home", "--dir",
                           env->dirfile, th_code(TH_C), "nat",      NULL };
    s_keys(env, home, "set-home C nat");
}

static truc_doc_t *s_doc(th_env_t *env, const char *const *to, uint32_t nto)
{
    static const uint8_t bytes[] = "%PDF-1.4 phu luc";
    truc_att_t att = { "phu-luc.pdf", "application/pdf", bytes, sizeof bytes };
    truc_doc_t *doc =
        truc_doc_build(env->agency[TH_A], to, nto, "Cong van lien tinh", "CV", 0, &att, 1);
    th_check(doc != NULL, "truc_doc_build");
    return doc;
}

static void test_forward_intake(void **state)
{
    th_env_t *env = *state;
    s_directory(env);
    th_broker_start(env, NULL);
    int hub = th_current(env);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);

    const char *to[] = { th_code(TH_B), th_code(TH_C), th_code(TH_U) };
    truc_doc_t *doc = s_doc(env, to, 3);
    th_check(truc_client_submit(a, doc) == PROTO_OK, "submit");
    proto_msg_t *answer = th_answer(a, truc_doc_id(doc), TH_RECV_TIMEOUT_MS);
    char what[400];
    th_check(answer && answer->kind == PROTO_KIND_ACCEPTED, "answered with %s, expected ACCEPTED",
             truc_msg_describe(answer, NULL, what, sizeof what));
    proto_msg_destroy(&answer);

    //  B, at this broker, receives it with its attachment.
    proto_msg_t *msg = NULL;
    truc_frames_t *frames = NULL;
    proto_err_t rc =
        truc_client_recv_kind(b, PROTO_KIND_DELIVER, TH_RECV_TIMEOUT_MS, &msg, &frames);
    th_check(rc == PROTO_OK, "B: expected DELIVER: %s", proto_errname(rc));
    th_check(memcmp(msg->u.document.doc.id.bytes, truc_doc_id(doc)->bytes, PROTO_ID_LEN) == 0,
             "B got another document");
    th_check(truc_frames_count(frames) == 1 &&
                 truc_frames_size(frames, 0) == truc_doc_att_len(doc, 0),
             "B got %zu frames", truc_frames_count(frames));
    proto_msg_destroy(&msg);
    truc_frames_destroy(&frames);

    //  One hop for nat, with C and U, queued beside the stored document.
    char id_text[PROTO_ID_TEXT_LEN], needle[160];
    proto_id_format(truc_doc_id(doc), id_text);
    snprintf(needle, sizeof needle, "event=hop_queued doc=%s from=%s broker=nat to=2", id_text,
             th_code(TH_A));
    s_wait_log(env, hub, needle, 1);
    th_check(s_log_count(env, hub, "event=hop_queued") == 1, "more than one hop queued");

    //  C's home is nat: this broker queues nothing for C itself, so C,
    //  should it connect here, is pushed nothing.
    truc_client_t *c = th_connect(env, TH_C, 16, NULL);
    rc = truc_client_recv(c, TH_QUIET_MS, &msg, NULL);
    th_check(rc != PROTO_OK, "C got %s from a broker that is not its home",
             truc_msg_describe(msg, NULL, what, sizeof what));
    th_drop(env, &c);

    //  A code no broker is home for is refused as before.
    const char *nowhere[] = { th_code(TH_B), "000.00.99.H99" };
    truc_doc_t *lost = s_doc(env, nowhere, 2);
    th_check(truc_client_submit(a, lost) == PROTO_OK, "submit");
    answer = th_answer(a, truc_doc_id(lost), TH_RECV_TIMEOUT_MS);
    th_check(answer && answer->kind == PROTO_KIND_REJECTED, "answered with %s, expected REJECTED",
             truc_msg_describe(answer, NULL, what, sizeof what));
    const proto_item_t *item = truc_receipts_find(answer, truc_doc_id(lost));
    th_check(item && item->leaf.code == PROTO_ERR_UNKNOWN_AGENCY, "REJECTED with code %u",
             item ? item->leaf.code : 0);
    proto_msg_destroy(&answer);
    truc_doc_destroy(&lost);
    truc_doc_destroy(&doc);
    th_drop(env, &a);
    th_drop(env, &b);
    th_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_hops", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_forward_intake),
    };
    return th_run_tests("test_hops", "truc federation forwarding", tests,
                        sizeof tests / sizeof tests[0], filter);
}
