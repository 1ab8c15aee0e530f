/*  tests/broker/test_admin_cli.c - truc-admin's command line as operators
    and monitoring scripts use it, against the real truc-broker.

    What test_broker_ops.c leaves out because it always writes the options
    first: options after the command (`truc-admin status --json`, as
    deploy/OPERATIONS.md writes it), and the messages that tell an operator
    why truc-admin got no answer: another user's broker (permission denied),
    no broker at all. Each case checks the exit status and the words of the
    message, never how long anything took.

    Usage: test_admin_cli TRUC_BROKER TRUC_KEYS TRUC_ADMIN [TEST_NAME]
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
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "admin_json.h"
#include "harness.h"
#include "proto/directory.h"
#include "proto/identity.h"

#define S_OUT_MAX (64 * 1024)

//  Run truc-admin with exactly these arguments (no --data-dir added);
//  returns its exit status, out gets what it printed on stdout and stderr.
static int s_admin(th_env_t *env, const char *const *args, char *out, size_t outlen)
{
    const char *argv[24];
    size_t n = 0;
    argv[n++] = th_admin_path;
    for (size_t i = 0; args[i]; i++) {
        th_check(n + 1 < sizeof argv / sizeof argv[0], "too many truc-admin arguments");
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    int status = th_run(env, argv, out, outlen);
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

//  `--json` after the command, and every other option there too, gives the
//  same JSON as before it; an unknown option anywhere is a usage error.
static void test_options_after_command(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    static char out[S_OUT_MAX];
    const char *const orders[][8] = {
        { "--data-dir", env->data, "--json", "status", NULL },
        { "status", "--json", "--data-dir", env->data, NULL },
        { "--data-dir", env->data, "status", "--json", NULL },
        { "status", "--data-dir", env->data, "--timeout", "30", "--json", NULL },
    };
    for (size_t i = 0; i < sizeof orders / sizeof orders[0]; i++) {
        int rc = s_admin(env, orders[i], out, sizeof out);
        th_soft(env, rc == 0, "order %zu: exit status %d:\n%s", i, rc, out);
        th_json_t *json = th_json_parse(out);
        uint64_t uptime = 0;
        th_soft(env, json && th_json_uint(json, "uptime_s", &uptime),
                "order %zu: the answer is not status JSON:\n%s", i, out);
        th_json_free(&json);
    }
    //  Options after a command's own arguments.
    int rc = s_admin(
        env, (const char *const[]){ "audit", "show", "--json", "--data-dir", env->data, NULL }, out,
        sizeof out);
    th_json_t *json = th_json_parse(out);
    th_soft(env, rc == 0 && json, "audit show --json: exit %d, not JSON:\n%s", rc, out);
    th_json_free(&json);

    rc = s_admin(env, (const char *const[]){ "--data-dir", env->data, "status", "--jsn", NULL },
                 out, sizeof out);
    th_soft(env, rc == 1 && th_contains(out, "unknown option '--jsn'"),
            "an unknown option after the command: exit %d:\n%s", rc, out);
    rc =
        s_admin(env, (const char *const[]){ "status", "--timeout", "soon", NULL }, out, sizeof out);
    th_soft(env, rc == 1 && th_contains(out, "--timeout 'soon'"), "a bad --timeout: exit %d:\n%s",
            rc, out);
    rc = s_admin(env, (const char *const[]){ "status", "--data-dir", NULL }, out, sizeof out);
    th_soft(env, rc == 1 && th_contains(out, "--data-dir needs a value"),
            "--data-dir without a value: exit %d:\n%s", rc, out);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

//  Another user than the broker's: the admin socket is 0600 in a data
//  directory of the broker's user, so the kernel refuses the connection.
//  truc-admin must say so, not wait and blame a broker that is running. As
//  root the test runs truc-admin as nobody (setpriv); otherwise it takes the
//  permission away from the socket for a moment.
static void test_permission_denied(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    static char out[S_OUT_MAX];
    char sock[TH_PATH_MAX + 16];
    snprintf(sock, sizeof sock, "%s/admin.sock", env->data);
    int rc;
    if (geteuid() == 0) {
        th_check(access("/usr/bin/setpriv", X_OK) == 0, "/usr/bin/setpriv (util-linux) is missing");
        rc = s_admin(env, (const char *const[]){ "--data-dir", env->data, "status", NULL }, out,
                     sizeof out);
        th_check(rc == 0, "truc-admin as root: exit %d:\n%s", rc, out);
        const char *argv[] = { "/usr/bin/setpriv",
                               "--reuid=65534",
                               "--regid=65534",
                               "--clear-groups",
                               th_admin_path,
                               "--data-dir",
                               env->data,
                               "--timeout",
                               "20",
                               "status",
                               NULL };
        int status = th_run(env, argv, out, sizeof out);
        rc = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    } else {
        th_check(chmod(sock, 0) == 0, "chmod %s", sock);
        rc = s_admin(
            env,
            (const char *const[]){ "--data-dir", env->data, "--timeout", "20", "status", NULL },
            out, sizeof out);
        th_check(chmod(sock, 0600) == 0, "chmod %s", sock);
    }
    print_message("truc-admin as another user: exit %d: %s", rc, out);
    th_soft(env, rc == 2, "exit status %d, expected 2", rc);
    th_soft(env, th_contains(out, "permission denied"), "no 'permission denied' in:\n%s", out);
    th_soft(env, !th_contains(out, "is truc-broker running"), "blames a broker that runs:\n%s",
            out);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

//  No broker: a data directory without a socket, and one with the socket
//  a killed broker left behind. Both say the broker is not running, at once.
static void test_no_broker(void **state)
{
    th_env_t *env = *state;
    static char out[S_OUT_MAX];
    const char *const args[] = { "--data-dir", env->data, "--timeout", "60", "status", NULL };
    mkdir(env->data, 0700);
    int rc = s_admin(env, args, out, sizeof out);
    th_soft(env,
            rc == 2 && th_contains(out, "no admin socket") &&
                th_contains(out, "is truc-broker running"),
            "no broker, no socket: exit %d:\n%s", rc, out);

    //  Without --data-dir, outside a source tree: the installed broker's.
    struct stat st;
    if (stat("./var/broker/data", &st) != 0 && stat("/var/lib/truc-broker/admin.sock", &st) != 0) {
        rc = s_admin(env, (const char *const[]){ "status", NULL }, out, sizeof out);
        th_soft(env, rc == 2 && th_contains(out, "/var/lib/truc-broker/admin.sock"),
                "the default data directory: exit %d:\n%s", rc, out);
    }

    th_broker_start(env, NULL);
    th_broker_kill(env);
    char sock[TH_PATH_MAX + 16];
    snprintf(sock, sizeof sock, "%s/admin.sock", env->data);
    if (stat(sock, &st) == 0) {
        rc = s_admin(env, args, out, sizeof out);
        th_soft(env, rc == 2 && th_contains(out, "truc-broker is not running"),
                "a socket left by a killed broker: exit %d:\n%s", rc, out);
    } else {
        print_message("the killed broker left no socket behind; that case is not checked\n");
    }
    th_soft_done(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  agencies with keys and validity; audit show with filters and pages

//  `truc-admin --json audit show` with more arguments (NULL-terminated,
//  at most 12): exit status want, and for 0 an array, whose entries' seq
//  go into seqs (ascending, checked) and whose number is returned.
static size_t s_show(th_env_t *env, int want, uint64_t *seqs, size_t cap, const char *what, ...)
{
    const char *args[16] = { "audit", "show" };
    size_t n = 2;
    va_list ap;
    va_start(ap, what);
    for (const char *a; n < 15 && (a = va_arg(ap, const char *));)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    th_json_t *json = th_admin_json(env, args, want);
    size_t count = 0;
    if (want == 0) {
        th_check(json->type == TH_JSON_ARRAY, "%s: not an array", what);
        uint64_t last = 0;
        for (size_t i = 0; i < json->count; i++) {
            uint64_t seq = 0;
            th_check(th_json_uint(json->items[i], "seq", &seq) && seq > last,
                     "%s: entry %zu has no seq or is out of order", what, i);
            last = seq;
            if (seqs && count < cap)
                seqs[count] = seq;
            count++;
        }
    }
    th_json_free(&json);
    return count;
}

//  Every entry of `audit show` with args (NULL-terminated) has field equal
//  to want; returns how many there are.
static size_t s_all_have(th_env_t *env, const char *field, const char *want, const char *a1,
                         const char *a2, const char *a3, const char *a4)
{
    const char *args[] = { "audit", "show", "--limit", "1000", a1, a2, a3, a4, NULL };
    th_json_t *json = th_admin_json(env, args, 0);
    th_check(json->type == TH_JSON_ARRAY, "audit show %s %s: not an array", a1, a2);
    size_t n = json->count;
    for (size_t i = 0; i < n; i++)
        th_check(strcmp(th_json_text(json->items[i], field), want) == 0,
                 "audit show %s %s %s %s: entry %zu has %s '%s', not '%s'", a1, a2, a3 ? a3 : "",
                 a4 ? a4 : "", i, field, th_json_text(json->items[i], field), want);
    th_json_free(&json);
    return n;
}

//  `agencies` names each agency's key fingerprint (keys/README.md, the one
//  truc-keys prints) and its validity window, in JSON and as text.
static void test_agencies_keys(void **state)
{
    th_env_t *env = *state;
    //  An agency with a validity window, added before the broker starts.
    char pub[TH_PATH_MAX + 32], err[256] = "";
    snprintf(pub, sizeof pub, "%s/%s.public", env->keys, th_code(TH_U));
    const char *add[] = { th_keys_path,
                          "directory",
                          "add",
                          "--dir",
                          env->dirfile,
                          pub,
                          "--valid-from",
                          "2026-01-01T00:00:00Z",
                          "--valid-until",
                          "2099-12-31T00:00:00Z",
                          NULL };
    static char out[S_OUT_MAX];
    th_check(th_run(env, add, out, sizeof out) == 0, "truc-keys directory add:\n%s", out);
    proto_directory_t *dir = NULL;
    th_check(proto_directory_load(env->dirfile, &dir, err, sizeof err) == PROTO_OK, "%s", err);
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 8, NULL); // A connected: it has a "connected since"
    th_json_t *json = th_admin_json(env, (const char *const[]){ "agencies", NULL }, 0);
    th_check(json->type == TH_JSON_ARRAY && json->count == proto_directory_count(dir),
             "agencies: %zu rows for %zu agencies", json->count, proto_directory_count(dir));
    char first_fp[PROTO_FINGERPRINT_LEN + 1] = "";
    for (size_t i = 0; i < json->count; i++) {
        const th_json_t *row = json->items[i];
        const proto_directory_entry_t *e = proto_directory_find(dir, th_json_text(row, "code"));
        th_check(e, "agencies: unknown code '%s'", th_json_text(row, "code"));
        char fp[PROTO_FINGERPRINT_LEN + 1];
        proto_fingerprint(e->sign_pk, fp);
        th_soft(env, strcmp(th_json_text(row, "fingerprint"), fp) == 0,
                "agencies: %s has fingerprint '%s', its key's is %s", e->code,
                th_json_text(row, "fingerprint"), fp);
        bool bounded = strcmp(e->code, th_code(TH_U)) == 0;
        th_soft(
            env,
            strcmp(th_json_text(row, "valid_from"), bounded ? "2026-01-01T00:00:00Z" : "") == 0 &&
                strcmp(th_json_text(row, "valid_until"), bounded ? "2099-12-31T00:00:00Z" : "") ==
                    0,
            "agencies: %s is valid from '%s' until '%s'", e->code, th_json_text(row, "valid_from"),
            th_json_text(row, "valid_until"));
        bool is_a = strcmp(e->code, th_code(TH_A)) == 0;
        const char *since = th_json_text(row, "connected_since");
        th_soft(env, is_a ? strlen(since) == 20 && since[19] == 'Z' : !since[0],
                "agencies: %s is connected since '%s'", e->code, since);
        if (!first_fp[0])
            snprintf(first_fp, sizeof first_fp, "%s", fp);
    }
    th_json_free(&json);
    th_drop(env, &a);
    //  The same truc-keys prints for the key file.
    snprintf(pub, sizeof pub, "%s/%s.public", env->keys, th_code(TH_U));
    const char *fpr[] = { th_keys_path, "fingerprint", pub, NULL };
    th_check(th_run(env, fpr, out, sizeof out) == 0, "truc-keys fingerprint:\n%s", out);
    char fp_u[PROTO_FINGERPRINT_LEN + 1];
    proto_fingerprint(proto_directory_find(dir, th_code(TH_U))->sign_pk, fp_u);
    th_soft(env, th_contains(out, fp_u), "truc-keys fingerprint prints '%s', not %s", out, fp_u);
    int rc = s_admin(env, (const char *const[]){ "--data-dir", env->data, "agencies", NULL }, out,
                     sizeof out);
    th_soft(env,
            rc == 0 && th_contains(out, "fingerprint") && th_contains(out, "valid_until") &&
                th_contains(out, first_fp) && th_contains(out, "2099-12-31T00:00:00Z"),
            "agencies as text: exit %d:\n%s", rc, out);
    proto_directory_destroy(&dir);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

//  Wrong filters of audit show are refused, each with its reason: usage
//  errors by truc-admin (exit 1), the rest by the broker (exit 2).
static void s_audit_refusals(th_env_t *env)
{
    static char out[S_OUT_MAX];
    struct {
        const char *args[8];
        int status;
        const char *says;
    } bad[] = {
        { { "audit", "show", "--event", "bogus", NULL }, 2, "unknown audit event 'bogus'" },
        { { "audit", "show", "--limit", "0", NULL }, 1, "--limit '0'" },
        { { "audit", "show", "--limit", "1001", NULL }, 1, "--limit '1001'" },
        { { "audit", "show", "--after", "3", "--before", "9", NULL }, 2, "cannot go together" },
        { { "audit", "show", "--since", "yesterday", NULL }, 1, "--since 'yesterday'" },
        { { "audit", "show", "--since", "2026-12-02", "--until", "2026-12-01", NULL },
          2,
          "since must come before until" },
        { { "audit", "show", "--agency", "X", "--agency", "Y", NULL }, 1, "given twice" },
        { { "status", "--agency", "X", NULL }, 1, "option of `audit show` only" },
        { { "audit", "show", "not-an-id", NULL }, 2, "'not-an-id' is not a document id" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *args[12] = { "--data-dir", env->data };
        size_t k = 2;
        for (size_t j = 0; bad[i].args[j]; j++)
            args[k++] = bad[i].args[j];
        args[k] = NULL;
        int rc = s_admin(env, args, out, sizeof out);
        th_soft(env, rc == bad[i].status && th_contains(out, bad[i].says),
                "refusal %zu: exit %d (expected %d), expected '%s' in:\n%s", i, rc, bad[i].status,
                bad[i].says, out);
    }
}

#define S_PAGE_ENTRIES 2000 // more than any chain this test makes

//  audit show: the default page is the last 50; --limit, --before and
//  --after page through the whole chain without a gap or a repeat;
//  --agency, --event, --since and --until filter; wrong filters are
//  refused with the reason.
static void test_audit_pages(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    //  Sessions of A and B: `connected` entries naming each, more than
    //  the broker reads in its first window down the chain (256), so the
    //  pages cross from one window into the next.
    for (int i = 0; i < 150; i++) {
        proto_msg_t *ready = NULL;
        truc_client_t *c = th_connect(env, i % 3 ? TH_A : TH_B, 8, &ready);
        proto_msg_destroy(&ready);
        th_drop(env, &c);
    }
    //  A restart commits what the broker held (the last sessions' entries)
    //  and leaves a chain nothing adds to while the test reads it.
    th_broker_stop(env);
    th_broker_start(env, NULL);
    th_json_t *json = th_admin_json(env, (const char *const[]){ "audit", "verify", NULL }, 0);
    uint64_t length = 0;
    //  Not exactly 300: a session's end is audited as `disconnected` only
    //  when the broker saw it close before the agency's next session
    //  replaced it; what the pages need is a chain past the first window.
    th_check(th_json_uint(json, "length", &length) && length > 256, "audit length %llu",
             (unsigned long long) length);
    th_json_free(&json);
    static uint64_t seqs[S_PAGE_ENTRIES], page[S_PAGE_ENTRIES];

    //  The default: the last 50, ending at the chain's head.
    size_t n = s_show(env, 0, seqs, S_PAGE_ENTRIES, "default", NULL);
    th_soft(env, n == (length < 50 ? length : 50) && seqs[n - 1] >= length - 1,
            "the default page: %zu entries ending at %llu, chain length %llu", n,
            (unsigned long long) seqs[n - 1], (unsigned long long) length);

    //  Backward pages of 7 from the end, then forward pages of 7 from the
    //  start: each visits every entry once.
    char before[32] = "", after[32] = "0";
    size_t total = 0;
    for (int guard = 0; guard < 1000; guard++) {
        size_t got = before[0] ? s_show(env, 0, page, 7, "backward", "--limit", "7", "--before",
                                        before, NULL)
                               : s_show(env, 0, page, 7, "backward", "--limit", "7", NULL);
        th_check(got <= 7, "a page of 7 held %zu", got);
        if (got == 0)
            break;
        th_check(total + got <= S_PAGE_ENTRIES, "too many entries");
        //  Older pages come first in the chain: put them in front.
        memmove(seqs + got, seqs, total * sizeof *seqs);
        memcpy(seqs, page, got * sizeof *seqs);
        total += got;
        snprintf(before, sizeof before, "%llu", (unsigned long long) page[0]);
    }
    for (size_t i = 1; i < total; i++)
        th_check(seqs[i] == seqs[i - 1] + 1, "backward pages: %llu follows %llu",
                 (unsigned long long) seqs[i], (unsigned long long) seqs[i - 1]);
    th_soft(env, total >= length && seqs[0] == 1, "backward pages: %zu entries from %llu", total,
            (unsigned long long) seqs[0]);
    size_t forward = 0;
    for (int guard = 0; guard < 1000; guard++) {
        size_t got = s_show(env, 0, page, 7, "forward", "--limit", "7", "--after", after, NULL);
        if (got == 0)
            break;
        for (size_t i = 0; i < got; i++, forward++)
            th_check(forward < total && page[i] == seqs[forward],
                     "forward pages: entry %zu is %llu, backward pages had %llu", forward,
                     (unsigned long long) page[i], (unsigned long long) seqs[forward]);
        snprintf(after, sizeof after, "%llu", (unsigned long long) page[got - 1]);
    }
    th_soft(env, forward == total, "forward pages: %zu entries, backward %zu", forward, total);

    //  Filters: each entry shown matches; together they narrow.
    size_t of_a = s_all_have(env, "agency", th_code(TH_A), "--agency", th_code(TH_A), NULL, NULL);
    size_t of_b = s_all_have(env, "agency", th_code(TH_B), "--agency", th_code(TH_B), NULL, NULL);
    th_soft(env, of_a >= 100 && of_b >= 50, "--agency: %zu entries of A, %zu of B", of_a, of_b);
    size_t connected = s_all_have(env, "event", "connected", "--event", "connected", NULL, NULL);
    size_t b_connected =
        s_all_have(env, "agency", th_code(TH_B), "--event", "connected", "--agency", th_code(TH_B));
    th_soft(env, connected >= 150 && b_connected >= 50 && b_connected < connected,
            "--event connected: %zu, of them B's %zu", connected, b_connected);
    n = s_show(env, 0, NULL, 0, "since an hour", "--since", "1h", "--limit", "1000", NULL);
    th_soft(env, n == total, "--since 1h: %zu of %zu entries", n, total);
    n = s_show(env, 0, NULL, 0, "since 2099", "--since", "2099-01-01", NULL);
    th_soft(env, n == 0, "--since 2099-01-01: %zu entries", n);
    n = s_show(env, 0, NULL, 0, "until 2001", "--until", "2001-01-01T00:00:00Z", NULL);
    th_soft(env, n == 0, "--until 2001: %zu entries", n);
    n = s_show(env, 0, NULL, 0, "a window", "--since", "2001-01-01", "--until", "2099-01-01",
               "--limit", "5", "--agency", th_code(TH_B), NULL);
    th_soft(env, n == 5, "--since 2001 --until 2099 --agency B --limit 5: %zu entries", n);

    s_audit_refusals(env);
    //  A full page as text says how to get the next one.
    static char out[S_OUT_MAX];
    int rc = s_admin(
        env,
        (const char *const[]){ "--data-dir", env->data, "audit", "show", "--limit", "3", NULL },
        out, sizeof out);
    th_soft(env, rc == 0 && th_contains(out, "older entries") && th_contains(out, "--before"),
            "a full page as text: exit %d:\n%s", rc, out);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_admin_cli", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_ADMIN", &th_admin_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_options_after_command), S_TEST(test_permission_denied), S_TEST(test_no_broker),
        S_TEST(test_agencies_keys),         S_TEST(test_audit_pages),
    };
    return th_run_tests("test_admin_cli", "truc-admin's command line", tests,
                        sizeof tests / sizeof tests[0], filter);
}
