/*  tests/broker/test_broker_keys.c - the broker checks each signature
    against the key that was valid when it was made.

    A real truc-broker (tests/lib/harness.h), its directory changed with the
    real truc-keys and reloaded with SIGHUP, raw clients speaking the wire
    protocol (tests/lib/truc_client.h).

      retired_window  A's key is rotated with `--grace 0`. A document A
                      signed before the rotation (sent afterwards, on a
                      session with the new key) is accepted; one signed with
                      the old key after its window closed is REJECTED with
                      ERR_KEY_RETIRED; one signed with a key the directory
                      never held, ERR_BAD_SIGNATURE; the new key's, accepted.

    Usage: test_broker_keys TRUC_BROKER TRUC_KEYS [TEST_NAME]
*/
#include <setjmp.h>
#include <signal.h>
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
#include "proto/directory.h"
#include "proto/sign.h"
#include "truc_client.h"

#define S_SUBJECT "Về việc đổi khóa của đơn vị"
#define S_TYPE    "Công văn"

//  A document from `from` to D, signed by identity `signer`.
static truc_doc_t *s_doc(const proto_identity_t *signer)
{
    const char *to[] = { th_code(TH_D) };
    truc_doc_t *doc =
        truc_doc_build(signer, to, 1, S_SUBJECT, S_TYPE, PROTO_URGENCY_NORMAL, NULL, 0);
    th_check(doc != NULL, "truc_doc_build failed");
    return doc;
}

static void s_submit(truc_client_t *c, const truc_doc_t *doc)
{
    proto_err_t rc = truc_client_submit(c, doc);
    th_check(rc == PROTO_OK, "%s: submit: %s (%s)", truc_client_agency(c), proto_errname(rc),
             truc_client_error_text(c));
}

static void s_submit_ok(th_env_t *env, truc_client_t *c, const truc_doc_t *doc, const char *what)
{
    uint8_t hash[PROTO_HASH_LEN];
    th_check(truc_doc_hash(doc, hash) == PROTO_OK, "hash");
    s_submit(c, doc);
    proto_msg_t *msg = th_expect_accepted(env, c, truc_doc_id(doc), hash,
                                          truc_doc_cmsg(doc)->u.document.doc.from, what);
    proto_msg_destroy(&msg);
}

static void s_submit_refused(th_env_t *env, truc_client_t *c, const truc_doc_t *doc,
                             proto_err_t code, const char *what)
{
    uint8_t hash[PROTO_HASH_LEN];
    th_check(truc_doc_hash(doc, hash) == PROTO_OK, "hash");
    s_submit(c, doc);
    th_expect_rejected(env, c, truc_doc_id(doc), hash, code, what);
}

static void test_retired_window(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    proto_identity_t *old = env->agency[TH_A];
    truc_doc_t *before = s_doc(old);

    //  The rotation, no grace: the old key's window ends a second later.
    proto_identity_t *fresh = proto_identity_generate(PROTO_ROLE_AGENCY, th_code(TH_A));
    th_check(fresh != NULL, "a new identity for A");
    char pub_path[TH_PATH_MAX + 32], out[4096];
    snprintf(pub_path, sizeof pub_path, "%s/a-new.public", env->root);
    proto_err_t rc = proto_public_save(proto_identity_public(fresh), pub_path, false);
    th_check(rc == PROTO_OK, "save %s: %s", pub_path, proto_errname(rc));
    const char *argv[] = { th_keys_path, "directory", "rekey", "--dir", env->dirfile,
                           pub_path,     "--grace",   "0",     NULL };
    int status = th_run(env, argv, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "truc-keys directory rekey: %s", out);
    th_check(kill(env->pid, SIGHUP) == 0, "kill SIGHUP");
    //  The reload is done once A's old session is told its key changed.
    proto_msg_t *err = NULL;
    rc = truc_client_recv_kind(a, PROTO_KIND_ERROR, TH_RECV_TIMEOUT_MS, &err, NULL);
    th_check(rc == PROTO_OK && err->u.error.code == PROTO_ERR_NOT_AUTHENTICATED,
             "A's session after its key changed: %s", proto_errname(rc));
    proto_msg_destroy(&err);
    th_drop(env, &a);

    proto_directory_t *dir = NULL;
    char detail[256] = "";
    rc = proto_directory_load(env->dirfile, &dir, detail, sizeof detail);
    th_check(rc == PROTO_OK, "load %s: %s", env->dirfile, detail);
    const proto_directory_entry_t *e = proto_directory_find(dir, th_code(TH_A));
    th_check(e && e->retired_count == 1, "A's old key is kept as retired");
    int64_t until = (int64_t) e->retired[0].until;
    proto_directory_destroy(&dir);

    env->agency[TH_A] = fresh;
    a = th_connect(env, TH_A, 16, NULL);
    size_t accepted = 0, refused = 0;
    s_submit_ok(env, a, before, "signed with the old key before the rotation");
    accepted++;

    //  Wait (on the wall clock, which the window is written in) until the
    //  old key's window has closed, then sign with it again.
    for (int i = 0; (int64_t) time(NULL) < until + 1 && i < 600; i++)
        th_sleep_ms(100);
    th_check((int64_t) time(NULL) >= until + 1, "the old key's window closes");
    truc_doc_t *late = s_doc(old);
    s_submit_refused(env, a, late, PROTO_ERR_KEY_RETIRED, "signed with the old key too late");
    refused++;

    proto_identity_t *stranger = proto_identity_generate(PROTO_ROLE_AGENCY, th_code(TH_A));
    th_check(stranger != NULL, "a key never in the directory");
    truc_doc_t *forged = s_doc(stranger);
    s_submit_refused(env, a, forged, PROTO_ERR_BAD_SIGNATURE, "signed with an unknown key");
    refused++;

    truc_doc_t *after = s_doc(fresh);
    s_submit_ok(env, a, after, "signed with the new key");
    accepted++;
    print_message("retired window: accepted=%zu refused=%zu (ERR_KEY_RETIRED 1, "
                  "ERR_BAD_SIGNATURE 1)\n",
                  accepted, refused);

    truc_doc_destroy(&before);
    truc_doc_destroy(&late);
    truc_doc_destroy(&forged);
    truc_doc_destroy(&after);
    proto_identity_destroy(&old);
    proto_identity_destroy(&stranger);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_broker_keys", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_retired_window),
    };
    return th_run_tests("test_broker_keys", "truc-broker key rotation", tests,
                        sizeof tests / sizeof tests[0], filter);
}
