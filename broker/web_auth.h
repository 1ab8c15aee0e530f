/*  broker/web_auth.h - who may use the web console: accounts, sessions and
    lock-outs.

    Owns: reading the accounts file (one operator a line: NAME ROLE HASH,
    ROLE viewer or admin, HASH libsodium's crypto_pwhash_str, Argon2id),
    checking a password against it, the table of open sessions (a random
    32-byte token in a cookie, a CSRF token per session, an expiry), and
    the failure counters that lock an account or an address out. Also
    `truc-admin console-user add`, which writes an entry.

    Does not: speak HTTP (web.c does), or write the audit chain (web.c
    reports each login through the console's admin socket). Not thread
    safe: the console's one HTTP thread is its only user.
*/
#ifndef BROKER_WEB_AUTH_H
#define BROKER_WEB_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/err.h"

#define WEB_NAME_MAX    64 // bytes of an operator's name, with its NUL
#define WEB_TOKEN_TEXT  65 // a token in hex, with its NUL
#define WEB_SESSION_MAX 256

typedef enum {
    WEB_ROLE_NONE = 0,
    WEB_ROLE_VIEWER = 1, // reads every page
    WEB_ROLE_ADMIN = 2,  // and may suspend and reinstate agencies
} web_role_t;

const char *web_role_name(web_role_t role);

//  Whether name may be an operator's: 1 to 63 of letters, digits, '.', '_'
//  and '-'. Anything else is never written to the audit chain or the log.
bool web_auth_name_ok(const char *name);

//  An open session. Borrowed from the table; valid until the next call that
//  opens, ends or expires sessions.
typedef struct {
    char token[WEB_TOKEN_TEXT]; // the cookie
    char csrf[WEB_TOKEN_TEXT];  // what every action form must carry back
    char name[WEB_NAME_MAX];
    web_role_t role;
    uint64_t expires; // monotonic ms
} web_session_t;

typedef struct web_auth web_auth_t;

//  Accounts in accounts_path, sessions living session_ms, lock-outs of
//  lockout_ms after failures failed logins. NULL if out of memory.
web_auth_t *web_auth_new(const char *accounts_path, uint64_t session_ms, uint64_t failures,
                         uint64_t lockout_ms);
void web_auth_destroy(web_auth_t **self_p);

//  Check a login from address at monotonic time now. PROTO_OK and a new
//  session in *session; PROTO_ERR_BUSY while the account or the address is
//  locked out (the password is not even checked); PROTO_ERR_NOT_AUTHENTICATED
//  for a wrong name or password (counted); PROTO_ERR_PERMISSIONS or
//  PROTO_ERR_IO when the accounts file is unsafe or unreadable (errbuf says
//  why). *role gets the account's role when it is known.
proto_err_t web_auth_login(web_auth_t *self, const char *name, const char *password,
                           const char *address, uint64_t now, web_role_t *role,
                           const web_session_t **session, char *errbuf, size_t errlen);

//  The live session with this token, or NULL.
const web_session_t *web_auth_session(web_auth_t *self, const char *token, uint64_t now);

//  End the session with this token, if any.
void web_auth_logout(web_auth_t *self, const char *token);

//  Whether csrf is the session's token (constant time).
bool web_auth_csrf_ok(const web_session_t *session, const char *csrf);

//  Add or replace NAME's entry in the accounts file at path (created mode
//  0600) with a new Argon2id hash of password. PROTO_ERR_VALUE for a bad
//  name or role, PROTO_ERR_PERMISSIONS for a file readable by others,
//  PROTO_ERR_IO otherwise; errbuf says why.
proto_err_t web_auth_account_set(const char *path, const char *name, const char *role,
                                 const char *password, char *errbuf, size_t errlen);

//  `truc-admin console-user add NAME --role ROLE --accounts FILE`, the
//  password on stdin. argv[0] is "console-user". Returns the exit status.
int web_auth_cli(int argc, char **argv);

#endif
