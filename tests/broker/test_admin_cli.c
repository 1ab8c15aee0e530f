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

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_admin_cli", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_ADMIN", &th_admin_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_options_after_command),
        S_TEST(test_permission_denied),
        S_TEST(test_no_broker),
    };
    return th_run_tests("test_admin_cli", "truc-admin's command line", tests,
                        sizeof tests / sizeof tests[0], filter);
}
