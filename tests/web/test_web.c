/*  tests/web/test_web.c - the broker's web console against a real broker and
    real agents.

    Each test starts truc-broker with console.listen on a free loopback port
    and an accounts file written by `truc-admin console-user add` (viewer1,
    admin1), two agents (A sends, C stays connected) and no agent for B, so
    a document from A to B waits at the broker. Then:

      browser    console_browser.py drives headless Chromium through
                 chromedriver: viewer and admin logins, the waiting document,
                 the document page, a viewer refused, an admin's suspend; here
                 C's agent must then be cut off and the audit chain must name
                 both operators. Screenshots stay under the build directory.
      http       console_http.py: sessions, cookie flags, CSRF, a viewer's
                 action refused by the broker, escaping, logout, the accounts
                 file's mode, lock-out; with a broker "nat" made D's home
                 here, a document to D waits on that link and the overview
                 lists it.
      operator   truc-admin's actions are audited with the Unix user the admin
                 socket's peer credentials name, truc-admin stuck lists the
                 waiting document, and the console's report of a login cannot
                 come from truc-admin.
      refuse     a console on a network address without a TLS proxy, or with
                 an accounts file others may read, stops the broker at start.

    Python 3 and the scripts' paths come from the environment (TRUC_PYTHON,
    TRUC_WEB_SCRIPTS, TRUC_WEB_ARTIFACTS), set by CMakeLists.txt.
*/
#include <pwd.h>
#include <signal.h>
#include <setjmp.h>
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

#include "admin_json.h"
#include "agent_harness.h"

#define S_VIEWER_PW "viewer-password-1"
#define S_ADMIN_PW  "admin-password-1"
#define S_LOCKOUT   "3" // console.lockout_failures in these tests
#define S_SUBJECT   "<script>alert('x')</script> & Công văn"
#define S_OUT_MAX   65536

typedef struct {
    ah_env_t *env;
    char url[256]; // the console, from DATA_DIR/console
    char accounts[TH_PATH_MAX + 32];
    char doc_id[64]; // A's document waiting for B
    ah_agent_t *a, *c;
} s_console_t;

static void s_account(ah_env_t *env, const char *accounts, const char *name, const char *role,
                      const char *password)
{
    char script[1024], out[4096];
    snprintf(script, sizeof script,
             "printf '%%s\\n' '%s' | '%s' console-user add %s --role %s --accounts '%s'", password,
             th_admin_path, name, role, accounts);
    const char *argv[] = { "/bin/sh", "-c", script, NULL };
    int status = th_run(env->th, argv, out, sizeof out);
    th_check(status == 0, "console-user add %s: %s", name, out);
    struct stat st;
    th_check(stat(accounts, &st) == 0 && (st.st_mode & 077) == 0,
             "the accounts file is not private (mode %o)", (unsigned) st.st_mode & 0777);
}

//  A broker with its console, agents A and C connected, a document from A
//  waiting for B.
static void s_start(s_console_t *t, ah_env_t *env)
{
    memset(t, 0, sizeof *t);
    t->env = env;
    snprintf(t->accounts, sizeof t->accounts, "%s/console-accounts", env->th->root);
    s_account(env, t->accounts, "viewer1", "viewer", S_VIEWER_PW);
    s_account(env, t->accounts, "admin1", "admin", S_ADMIN_PW);
    FILE *f = fopen(env->th->config, "a");
    th_check(f != NULL, "cannot append to %s", env->th->config);
    fprintf(f, "\n[console]\nlisten = 127.0.0.1:0\naccounts = %s\nlockout_failures = %s\n",
            t->accounts, S_LOCKOUT);
    fclose(f);
    ah_broker_start(env);
    char path[TH_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/console", env->th->data);
    for (int i = 0; i < 400 && !th_read_file(path, t->url, sizeof t->url); i++)
        th_sleep_ms(50);
    t->url[strcspn(t->url, "\n")] = '\0';
    th_check(strncmp(t->url, "http://127.0.0.1:", 17) == 0, "no console URL in %s: '%s'", path,
             t->url);
    t->a = ah_agent_run(env, TH_A, 0, NULL);
    t->c = ah_agent_run(env, TH_C, 0, NULL);
    ah_wait_connected(t->a, true);
    ah_wait_connected(t->c, true);
    const char *to[] = { th_code(TH_B) };
    ah_reply_t *r = ah_call(t->a, "{cmd:s doc:{to:A type:s subject:s urgency:s}}", "submit", to,
                            (size_t) 1, "Công văn", S_SUBJECT, "normal");
    ah_expect_ok(r, "submit");
    snprintf(t->doc_id, sizeof t->doc_id, "%s", ah_str(r->map, "id"));
    ah_reply_destroy(&r);
}

//  Run one of the Python drivers with its arguments; its output is printed.
static int s_python(ah_env_t *env, const char *script, const char *const *args)
{
    const char *python = getenv("TRUC_PYTHON"), *dir = getenv("TRUC_WEB_SCRIPTS");
    th_check(python && dir, "TRUC_PYTHON and TRUC_WEB_SCRIPTS must be set");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, script);
    const char *argv[16] = { python, path };
    size_t n = 2;
    for (size_t i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char *out = calloc(1, S_OUT_MAX);
    th_check(out != NULL, "out of memory");
    int status = th_run(env->th, argv, out, S_OUT_MAX);
    printf("%s", out);
    free(out);
    return status;
}

static bool s_audit_has(ah_env_t *env, const char *text)
{
    char *out = calloc(1, S_OUT_MAX);
    th_check(out != NULL, "out of memory");
    const char *args[] = { "audit", "show", NULL };
    int status = th_admin(env->th, args, out, S_OUT_MAX);
    bool found = status == 0 && strstr(out, text) != NULL;
    if (!found)
        printf("audit show (looking for \"%s\"):\n%s\n", text, out);
    free(out);
    return found;
}

static bool s_disconnected(const ah_reply_t *reply, void *arg)
{
    (void) arg;
    return ah_bool(reply->map, "connected") == 0;
}

// ---------------------------------------------------------------------------

static void test_browser(void **state)
{
    ah_env_t *env = *state;
    s_console_t t;
    s_start(&t, env);
    const char *out = getenv("TRUC_WEB_ARTIFACTS");
    th_check(out && *out, "TRUC_WEB_ARTIFACTS must be set");
    const char *args[] = { t.url,         S_VIEWER_PW,   S_ADMIN_PW, t.doc_id,
                           th_code(TH_B), th_code(TH_C), out,        NULL };
    int status = s_python(env, "console_browser.py", args);
    th_check(status == 0, "the browser test failed (status %d)", status);
    //  The admin's suspend reached the agent: its session is cut off.
    ah_reply_t *r = ah_poll(t.c, s_disconnected, NULL, "C's agent cut off", "{cmd:s}", "health");
    ah_reply_destroy(&r);
    char who[128];
    snprintf(who, sizeof who, "agency suspend %s; by admin1 (admin, console)", th_code(TH_C));
    th_check(s_audit_has(env, who), "the suspend is not audited with its operator");
    th_check(s_audit_has(env, "console login ok: viewer1 (viewer)"), "viewer1's login");
    th_check(s_audit_has(env, "refused agency suspend"), "the viewer's refused action");
    th_check(s_audit_has(env, "by viewer1 (viewer, console)"), "the viewer's name on it");
    ah_pass(env);
}

static bool s_broker_accepted(const ah_reply_t *r, void *arg)
{
    (void) arg;
    return ah_is_ok(r) && ah_str_is(ah_get(r->map, "document"), "state", "accepted");
}

//  Make this broker's directory name a broker "nat" as the home of D, and
//  reload it: A's document to D then waits on the link to nat, which never
//  dials in.
static void s_link_to_nat(s_console_t *t)
{
    th_env_t *th = t->env->th;
    char out[4096], pub[TH_PATH_MAX + 32];
    const char *make[] = { th_keys_path, "new", "--broker", "nat", "--out", th->keys, NULL };
    th_check(th_run(th, make, out, sizeof out) == 0, "truc-keys new --broker nat: %s", out);
    snprintf(pub, sizeof pub, "%s/nat.public", th->keys);
    const char *add[] = {
        th_keys_path, "directory", "add-broker", "--dir", th->dirfile, pub, NULL
    };
    th_check(th_run(th, add, out, sizeof out) == 0, "add-broker nat: %s", out);
    const char *home[] = { th_keys_path, "directory",   "set-home", "--dir",
                           th->dirfile,  th_code(TH_D), "nat",      NULL };
    th_check(th_run(th, home, out, sizeof out) == 0, "set-home: %s", out);
    const char *reload[] = { "directory", "reload", NULL };
    th_check(th_admin(th, reload, out, sizeof out) == 0, "directory reload: %s", out);
    const char *to[] = { th_code(TH_D) };
    ah_reply_t *r = ah_call(t->a, "{cmd:s doc:{to:A type:s subject:s}}", "submit", to, (size_t) 1,
                            "Công văn", "Gửi lên bộ");
    ah_expect_ok(r, "submit to D");
    char id[64];
    snprintf(id, sizeof id, "%s", ah_str(r->map, "id"));
    ah_reply_destroy(&r);
    r = ah_poll(t->a, s_broker_accepted, NULL, "the broker's ACCEPTED for the document to D",
                "{cmd:s id:s}", "sent", id);
    ah_reply_destroy(&r);
}

static void test_http(void **state)
{
    ah_env_t *env = *state;
    s_console_t t;
    s_start(&t, env);
    s_link_to_nat(&t);
    const char *args[] = { t.url,      S_VIEWER_PW, S_ADMIN_PW, t.doc_id, th_code(TH_C),
                           t.accounts, S_LOCKOUT,   "nat",      NULL };
    int status = s_python(env, "console_http.py", args);
    th_check(status == 0, "the HTTP test failed (status %d)", status);
    th_check(s_audit_has(env, "console login failed: viewer1"), "failed logins are audited");
    th_check(s_audit_has(env, "console login failed: (not a name)"), "a hostile name's login");
    th_check(!s_audit_has(env, "<b>"), "a hostile name reached the audit chain");
    char resend[160];
    snprintf(resend, sizeof resend, "resend %s to %s: not connected", t.doc_id, th_code(TH_B));
    th_check(s_audit_has(env, resend), "the admin's resend is not audited");
    th_check(s_audit_has(env, "pushed when it connects; by admin1 (admin, console)"),
             "the resend is not audited with its operator");
    //  Nothing was suspended: every attempt was refused.
    ah_reply_t *r = ah_call(t.c, "{cmd:s}", "health");
    th_check(ah_bool(r->map, "connected") == 1, "C was cut off although every action was refused");
    ah_reply_destroy(&r);
    ah_broker_stop(env); // sessions open, the HTTP thread has served: a clean stop
    ah_pass(env);
}

static void test_operator(void **state)
{
    ah_env_t *env = *state;
    s_console_t t;
    s_start(&t, env);
    char out[8192];
    const char *suspend[] = { "agency", "suspend", th_code(TH_C), NULL };
    th_check(th_admin(env->th, suspend, out, sizeof out) == 0, "truc-admin suspend: %s", out);
    struct passwd *pw = getpwuid(getuid());
    th_check(pw != NULL, "no name for uid %u", (unsigned) getuid());
    char who[256];
    snprintf(who, sizeof who, "agency suspend %s; by %s (admin, truc-admin)", th_code(TH_C),
             pw->pw_name);
    th_check(s_audit_has(env, who), "truc-admin's suspend is not audited with its Unix user");
    //  The stuck documents, as truc-admin shows them: A's, waiting for B.
    const char *stuck[] = { "stuck", "0", NULL };
    th_check(th_admin(env->th, stuck, out, sizeof out) == 0 && strstr(out, t.doc_id) &&
                 strstr(out, th_code(TH_B)),
             "truc-admin stuck 0 does not list %s: %s", t.doc_id, out);
    const char *not_stuck[] = { "stuck", "3600", NULL };
    th_check(th_admin(env->th, not_stuck, out, sizeof out) == 0 && !strstr(out, t.doc_id),
             "truc-admin stuck 3600 lists a document a moment old: %s", out);
    const char *bad[] = { "stuck", "soon", NULL };
    th_check(th_admin(env->th, bad, out, sizeof out) != 0 && strstr(out, "not a number"),
             "truc-admin stuck soon: %s", out);
    //  Only the console may report a login: truc-admin cannot forge one.
    const char *forged[] = { "console", "login", "ok", "mallory", "admin", "10.0.0.1", NULL };
    int status = th_admin(env->th, forged, out, sizeof out);
    th_check(status != 0 && strstr(out, "only the web console"), "a forged login report: %s", out);
    th_check(!s_audit_has(env, "mallory"), "truc-admin wrote a console login");
    //  A stop with the console running ends with exit status 0 (and, in the
    //  sanitizer build, no leak).
    ah_broker_stop(env);
    ah_pass(env);
}

//  Start truc-broker with the console options and require it to refuse,
//  naming `named` in its log.
static void s_expect_refusal(ah_env_t *env, const char *listen, const char *accounts,
                             const char *named)
{
    char set_listen[300], set_accounts[TH_PATH_MAX + 64];
    snprintf(set_listen, sizeof set_listen, "console.listen=%s", listen);
    snprintf(set_accounts, sizeof set_accounts, "console.accounts=%s", accounts);
    const char *args[] = { "--config", env->th->config, "--set", set_listen,
                           "--set",    set_accounts,    NULL };
    int index = th_spawn(env->th, args);
    int status = 0;
    if (!th_wait_exit(env->th, index, TH_START_TIMEOUT_MS, &status)) {
        kill(env->th->procs[index], SIGKILL);
        th_wait_exit(env->th, index, TH_STOP_TIMEOUT_MS, NULL);
        th_check(false, "truc-broker started with console.listen=%s", listen);
    }
    th_check(WIFEXITED(status) && WEXITSTATUS(status) != 0,
             "truc-broker ended with status %d, expected a refusal", status);
    static char log[64 * 1024];
    th_read_file(env->th->logs[index], log, sizeof log);
    th_check(th_contains(log, named), "the refusal does not name \"%s\":\n%s", named, log);
}

//  A console on a network address without a TLS proxy in front, and an
//  accounts file others may read, stop the broker at start.
static void test_refuse(void **state)
{
    ah_env_t *env = *state;
    char accounts[TH_PATH_MAX + 32];
    snprintf(accounts, sizeof accounts, "%s/console-accounts", env->th->root);
    s_account(env, accounts, "admin1", "admin", S_ADMIN_PW);
    s_expect_refusal(env, "0.0.0.0:0", accounts, "console.tls_proxy");
    th_check(chmod(accounts, 0644) == 0, "chmod");
    char fix[TH_PATH_MAX + 64];
    snprintf(fix, sizeof fix, "chmod 600 %s", accounts);
    s_expect_refusal(env, "127.0.0.1:0", accounts, fix);
    ah_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, ah_setup, ah_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_web", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_AGENT", &ah_agent_path, "TRUC_ADMIN",
                           &th_admin_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_browser),
        S_TEST(test_http),
        S_TEST(test_operator),
        S_TEST(test_refuse),
    };
    return th_run_tests("test_web", "the web console", tests, sizeof tests / sizeof tests[0],
                        filter);
}
