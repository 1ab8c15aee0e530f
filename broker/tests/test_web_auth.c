/*  test_web_auth.c - the web console's accounts, sessions and lock-outs
    (broker/web_auth.c), its escaping (broker/web_html.c) and its options
    (broker_config_check), without HTTP.

    Times are passed in, so expiry and lock-outs are tested at chosen
    instants, never by sleeping. The accounts file is real, in a fresh
    temporary directory, written by the same function truc-admin uses.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "config.h"
#include "proto/daemon.h"
#include "web_auth.h"
#include "web_html.h"

#define S_SESSION_MS 60000
#define S_FAILURES   3
#define S_LOCKOUT_MS 10000

typedef struct {
    char dir[256];
    char file[300];
    char err[512];
    web_auth_t *auth;
} s_fx_t;

static int s_setup(void **state)
{
    s_fx_t *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/truc-web-auth-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->file, sizeof fx->file, "%s/accounts", fx->dir);
    fx->auth = web_auth_new(fx->file, S_SESSION_MS, S_FAILURES, S_LOCKOUT_MS);
    *state = fx;
    return fx->auth ? 0 : -1;
}

static int s_teardown(void **state)
{
    s_fx_t *fx = *state;
    web_auth_destroy(&fx->auth);
    assert_null(fx->auth);
    unlink(fx->file);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static proto_err_t s_login(s_fx_t *fx, const char *name, const char *password, const char *address,
                           uint64_t now, const web_session_t **session)
{
    web_role_t role;
    const web_session_t *ignored;
    return web_auth_login(fx->auth, name, password, address, now, &role,
                          session ? session : &ignored, fx->err, sizeof fx->err);
}

static void test_accounts(void **state)
{
    s_fx_t *fx = *state;
    assert_int_equal(
        web_auth_account_set(fx->file, "lan", "admin", "password-1", fx->err, sizeof fx->err),
        PROTO_OK);
    assert_int_equal(
        web_auth_account_set(fx->file, "minh", "viewer", "password-2", fx->err, sizeof fx->err),
        PROTO_OK);
    struct stat st;
    assert_int_equal(stat(fx->file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    //  Names, roles and passwords the file must not hold.
    assert_int_equal(
        web_auth_account_set(fx->file, "a b", "admin", "password-1", fx->err, sizeof fx->err),
        PROTO_ERR_VALUE);
    assert_int_equal(
        web_auth_account_set(fx->file, "x<y", "admin", "password-1", fx->err, sizeof fx->err),
        PROTO_ERR_VALUE);
    assert_int_equal(
        web_auth_account_set(fx->file, "lan", "root", "password-1", fx->err, sizeof fx->err),
        PROTO_ERR_VALUE);
    assert_int_equal(
        web_auth_account_set(fx->file, "lan", "admin", "short", fx->err, sizeof fx->err),
        PROTO_ERR_VALUE);

    web_role_t role = WEB_ROLE_NONE;
    const web_session_t *s = NULL;
    assert_int_equal(web_auth_login(fx->auth, "lan", "password-1", "127.0.0.1", 1000, &role, &s,
                                    fx->err, sizeof fx->err),
                     PROTO_OK);
    assert_int_equal(role, WEB_ROLE_ADMIN);
    assert_string_equal(s->name, "lan");
    assert_int_equal(s_login(fx, "minh", "password-1", "127.0.0.1", 1000, NULL),
                     PROTO_ERR_NOT_AUTHENTICATED);
    assert_int_equal(s_login(fx, "nobody", "password-1", "127.0.0.1", 1000, NULL),
                     PROTO_ERR_NOT_AUTHENTICATED);
    //  Adding a name again replaces its line: the new role and password.
    assert_int_equal(
        web_auth_account_set(fx->file, "minh", "admin", "password-3", fx->err, sizeof fx->err),
        PROTO_OK);
    assert_int_equal(web_auth_login(fx->auth, "minh", "password-3", "127.0.0.1", 1000, &role, &s,
                                    fx->err, sizeof fx->err),
                     PROTO_OK);
    assert_int_equal(role, WEB_ROLE_ADMIN);
    assert_int_equal(s_login(fx, "minh", "password-2", "127.0.0.1", 1000, NULL),
                     PROTO_ERR_NOT_AUTHENTICATED);
    //  A file others may read is not used at all.
    assert_int_equal(chmod(fx->file, 0640), 0);
    assert_int_equal(s_login(fx, "lan", "password-1", "127.0.0.1", 1000, NULL),
                     PROTO_ERR_PERMISSIONS);
    assert_non_null(strstr(fx->err, "group or others"));
    assert_int_equal(
        web_auth_account_set(fx->file, "lan", "admin", "password-1", fx->err, sizeof fx->err),
        PROTO_ERR_PERMISSIONS);
}

static void test_sessions(void **state)
{
    s_fx_t *fx = *state;
    assert_int_equal(
        web_auth_account_set(fx->file, "lan", "viewer", "password-1", fx->err, sizeof fx->err),
        PROTO_OK);
    const web_session_t *s = NULL;
    assert_int_equal(s_login(fx, "lan", "password-1", "127.0.0.1", 5000, &s), PROTO_OK);
    char token[WEB_TOKEN_TEXT], csrf[WEB_TOKEN_TEXT];
    snprintf(token, sizeof token, "%s", s->token);
    snprintf(csrf, sizeof csrf, "%s", s->csrf);
    assert_int_equal(strlen(token), 64);
    assert_string_not_equal(token, csrf);
    assert_true(web_auth_csrf_ok(s, csrf));
    assert_false(web_auth_csrf_ok(s, token));
    assert_false(web_auth_csrf_ok(s, ""));
    assert_false(web_auth_csrf_ok(s, NULL));
    //  Alive until its expiry, not a millisecond after.
    assert_non_null(web_auth_session(fx->auth, token, 5000 + S_SESSION_MS - 1));
    assert_null(web_auth_session(fx->auth, token, 5000 + S_SESSION_MS));
    assert_null(web_auth_session(fx->auth, token, 5000));
    //  Logout ends it; a token of the wrong length or unknown finds nothing.
    assert_int_equal(s_login(fx, "lan", "password-1", "127.0.0.1", 6000, &s), PROTO_OK);
    snprintf(token, sizeof token, "%s", s->token);
    assert_non_null(web_auth_session(fx->auth, token, 6001));
    web_auth_logout(fx->auth, token);
    assert_null(web_auth_session(fx->auth, token, 6002));
    assert_null(web_auth_session(fx->auth, "abc", 6002));
    assert_null(web_auth_session(fx->auth, NULL, 6002));
}

static void test_lockout(void **state)
{
    s_fx_t *fx = *state;
    assert_int_equal(
        web_auth_account_set(fx->file, "lan", "admin", "password-1", fx->err, sizeof fx->err),
        PROTO_OK);
    assert_int_equal(
        web_auth_account_set(fx->file, "minh", "viewer", "password-2", fx->err, sizeof fx->err),
        PROTO_OK);
    //  The account: three failures from three addresses lock it everywhere.
    uint64_t t = 100000;
    assert_int_equal(s_login(fx, "lan", "bad", "10.0.0.1", t, NULL), PROTO_ERR_NOT_AUTHENTICATED);
    assert_int_equal(s_login(fx, "lan", "bad", "10.0.0.2", t, NULL), PROTO_ERR_NOT_AUTHENTICATED);
    assert_int_equal(s_login(fx, "lan", "bad", "10.0.0.3", t, NULL), PROTO_ERR_NOT_AUTHENTICATED);
    assert_int_equal(s_login(fx, "lan", "password-1", "10.0.0.4", t + 1, NULL), PROTO_ERR_BUSY);
    assert_int_equal(s_login(fx, "lan", "password-1", "10.0.0.4", t + S_LOCKOUT_MS - 1, NULL),
                     PROTO_ERR_BUSY);
    //  Another account from those addresses is not locked.
    assert_int_equal(s_login(fx, "minh", "password-2", "10.0.0.5", t + 2, NULL), PROTO_OK);
    //  The lock-out ends.
    assert_int_equal(s_login(fx, "lan", "password-1", "10.0.0.4", t + S_LOCKOUT_MS, NULL),
                     PROTO_OK);

    //  The address: three failures for three names lock every account there.
    t = 200000;
    assert_int_equal(s_login(fx, "x1", "bad", "10.9.9.9", t, NULL), PROTO_ERR_NOT_AUTHENTICATED);
    assert_int_equal(s_login(fx, "x2", "bad", "10.9.9.9", t, NULL), PROTO_ERR_NOT_AUTHENTICATED);
    assert_int_equal(s_login(fx, "x3", "bad", "10.9.9.9", t, NULL), PROTO_ERR_NOT_AUTHENTICATED);
    assert_int_equal(s_login(fx, "minh", "password-2", "10.9.9.9", t, NULL), PROTO_ERR_BUSY);
    assert_int_equal(s_login(fx, "minh", "password-2", "10.9.9.8", t, NULL), PROTO_OK);

    //  Failures further apart than the lock-out time do not add up.
    t = 300000;
    for (int i = 0; i < 2 * S_FAILURES; i++)
        assert_int_equal(
            s_login(fx, "minh", "bad", "10.1.1.1", t + (uint64_t) i * (S_LOCKOUT_MS + 1), NULL),
            PROTO_ERR_NOT_AUTHENTICATED);
}

static void test_escaping(void **state)
{
    (void) state;
    web_buf_t buf;
    web_buf_init(&buf);
    web_esc(&buf, "<a href='x' onclick=\"y\">&</a>");
    assert_string_equal(buf.data,
                        "&lt;a href=&#39;x&#39; onclick=&quot;y&quot;&gt;&amp;&lt;/a&gt;");
    web_buf_free(&buf);
    web_buf_init(&buf);
    web_esc_n(&buf, "a\0<", 3); // a NUL inside a value is dropped, not a terminator
    assert_string_equal(buf.data, "a&lt;");
    web_buf_free(&buf);
    web_buf_init(&buf);
    web_url(&buf, "a b&c=<d>");
    assert_string_equal(buf.data, "a%20b%26c%3D%3Cd%3E");
    web_buf_free(&buf);
}

//  console.listen: loopback only, unless a TLS proxy fronts it; never
//  without an accounts file.
static void test_config(void **state)
{
    (void) state;
    broker_config_t config;
    char err[512];
    memset(&config, 0, sizeof config);
    char empty[] = "", accounts[] = "/etc/truc/console-accounts", loop4[] = "127.0.0.1:8480",
         loop6[] = "[::1]:8480", any[] = "0.0.0.0:8480";
    config.admin_endpoint = empty;
    config.console_listen = empty;
    config.console_accounts = empty;
    assert_int_equal(broker_config_check(&config, err, sizeof err), PROTO_OK);
    config.console_listen = loop4;
    assert_int_equal(broker_config_check(&config, err, sizeof err), PROTO_ERR_CONFIG);
    assert_non_null(strstr(err, "console.accounts"));
    config.console_accounts = accounts;
    assert_int_equal(broker_config_check(&config, err, sizeof err), PROTO_OK);
    config.console_listen = loop6;
    assert_int_equal(broker_config_check(&config, err, sizeof err), PROTO_OK);
    config.console_listen = any;
    assert_int_equal(broker_config_check(&config, err, sizeof err), PROTO_ERR_CONFIG);
    assert_non_null(strstr(err, "console.tls_proxy"));
    config.console_tls_proxy = true;
    assert_int_equal(broker_config_check(&config, err, sizeof err), PROTO_OK);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_accounts, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_sessions, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_lockout, s_setup, s_teardown),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests_name("broker web console auth", tests, NULL, NULL);
}
