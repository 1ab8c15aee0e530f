/*  broker/web_auth.c - the web console's accounts, sessions and lock-outs.

    The accounts file is read at every login, so adding an operator needs
    no restart and a removed one cannot log in again; open sessions live on
    until they expire or log out. A file readable by group or others is
    refused as the identity's passphrase file is: the hashes are slow to
    attack but not impossible.
*/
#include "web_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/log.h"

#define WEB_LOCK_SLOTS 512 // accounts and addresses with recent failures
#define WEB_LINE_MAX   512

typedef struct {
    char key[128];         // "a:" NAME or "i:" ADDRESS; empty = free
    uint64_t failures;     // failed logins since the last success or lock-out
    uint64_t last_failure; // monotonic ms
    uint64_t locked_until; // monotonic ms; 0 = not locked
} s_lock_t;

struct web_auth {
    char *path;
    uint64_t session_ms, failures, lockout_ms;
    web_session_t sessions[WEB_SESSION_MAX]; // token[0] == 0: free
    s_lock_t locks[WEB_LOCK_SLOTS];
    char dummy_hash[crypto_pwhash_STRBYTES]; // checked for unknown names, so they take as long
};

const char *web_role_name(web_role_t role)
{
    return role == WEB_ROLE_ADMIN ? "admin" : role == WEB_ROLE_VIEWER ? "viewer" : "none";
}

static web_role_t s_role(const char *text)
{
    return strcmp(text, "admin") == 0    ? WEB_ROLE_ADMIN
           : strcmp(text, "viewer") == 0 ? WEB_ROLE_VIEWER
                                         : WEB_ROLE_NONE;
}

bool web_auth_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= WEB_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

web_auth_t *web_auth_new(const char *accounts_path, uint64_t session_ms, uint64_t failures,
                         uint64_t lockout_ms)
{
    web_auth_t *self = calloc(1, sizeof *self);
    if (!self || !(self->path = strdup(accounts_path))) {
        free(self);
        return NULL;
    }
    self->session_ms = session_ms;
    self->failures = failures;
    self->lockout_ms = lockout_ms;
    return self;
}

void web_auth_destroy(web_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    web_auth_t *self = *self_p;
    sodium_memzero(self->sessions, sizeof self->sessions);
    free(self->path);
    free(self);
    *self_p = NULL;
}

// ---------------------------------------------------------------------------
//  Lock-outs

static s_lock_t *s_lock_find(web_auth_t *self, const char *key, uint64_t now, bool create)
{
    s_lock_t *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < WEB_LOCK_SLOTS; i++) {
        s_lock_t *l = &self->locks[i];
        if (l->key[0] && strcmp(l->key, key) == 0)
            return l;
        //  A slot whose lock-out and failure window are over is free again.
        if (l->key[0] && l->locked_until <= now && now - l->last_failure > self->lockout_ms)
            l->key[0] = '\0';
        if (!l->key[0] && !free_slot)
            free_slot = l;
        if (l->key[0] && l->locked_until <= now &&
            (!oldest || l->last_failure < oldest->last_failure))
            oldest = l;
    }
    if (!create)
        return NULL;
    //  Full of live locks: the oldest unlocked entry gives way (a flood of
    //  addresses must not unlock an account that is locked).
    s_lock_t *l = free_slot ? free_slot : oldest;
    if (l) {
        memset(l, 0, sizeof *l);
        snprintf(l->key, sizeof l->key, "%s", key);
    }
    return l;
}

static bool s_locked(web_auth_t *self, const char *key, uint64_t now)
{
    s_lock_t *l = s_lock_find(self, key, now, false);
    return l && l->locked_until > now;
}

static void s_fail_count(web_auth_t *self, const char *key, uint64_t now)
{
    s_lock_t *l = s_lock_find(self, key, now, true);
    if (!l)
        return;
    if (now - l->last_failure > self->lockout_ms)
        l->failures = 0;
    l->last_failure = now;
    if (++l->failures >= self->failures) {
        l->locked_until = now + self->lockout_ms;
        l->failures = 0;
        proto_log_warning("event=console_lockout key=\"%s\"", key);
    }
}

static void s_fail_clear(web_auth_t *self, const char *key, uint64_t now)
{
    s_lock_t *l = s_lock_find(self, key, now, false);
    if (l)
        l->key[0] = '\0';
}

// ---------------------------------------------------------------------------
//  The accounts file

//  Find name's entry: PROTO_OK with its role and hash, PROTO_ERR_NOT_FOUND,
//  or the file's fault.
static proto_err_t s_account_find(const char *path, const char *name, web_role_t *role,
                                  char hash[crypto_pwhash_STRBYTES], char *errbuf, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(errbuf, errlen, "cannot read %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return PROTO_ERR_IO;
    }
    if (st.st_mode & 077) {
        close(fd);
        snprintf(errbuf, errlen, "%s is readable or writable by group or others (chmod 600)", path);
        return PROTO_ERR_PERMISSIONS;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        snprintf(errbuf, errlen, "cannot read %s: %s", path, strerror(errno));
        return PROTO_ERR_IO;
    }
    char line[WEB_LINE_MAX];
    proto_err_t rc = PROTO_ERR_NOT_FOUND;
    while (rc == PROTO_ERR_NOT_FOUND && fgets(line, sizeof line, f)) {
        char n[WEB_LINE_MAX], r[WEB_LINE_MAX], h[WEB_LINE_MAX];
        if (line[0] == '#' || sscanf(line, "%511s %511s %511s", n, r, h) != 3)
            continue;
        if (strcmp(n, name) != 0 || strlen(h) >= crypto_pwhash_STRBYTES)
            continue;
        *role = s_role(r);
        memcpy(hash, h, strlen(h) + 1); // shorter than crypto_pwhash_STRBYTES, checked above
        rc = *role == WEB_ROLE_NONE ? PROTO_ERR_NOT_FOUND : PROTO_OK;
    }
    fclose(f);
    return rc;
}

static web_session_t *s_session_open(web_auth_t *self, const char *name, web_role_t role,
                                     uint64_t now)
{
    web_session_t *slot = NULL;
    for (size_t i = 0; i < WEB_SESSION_MAX; i++) {
        web_session_t *s = &self->sessions[i];
        if (s->token[0] && s->expires <= now)
            sodium_memzero(s, sizeof *s);
        if (!s->token[0] && !slot)
            slot = s;
    }
    //  A full table gives up the session nearest its end.
    for (size_t i = 0; !slot && i < WEB_SESSION_MAX; i++)
        if (i == 0 || self->sessions[i].expires < slot->expires)
            slot = &self->sessions[i];
    uint8_t random[32];
    randombytes_buf(random, sizeof random);
    sodium_bin2hex(slot->token, sizeof slot->token, random, sizeof random);
    randombytes_buf(random, sizeof random);
    sodium_bin2hex(slot->csrf, sizeof slot->csrf, random, sizeof random);
    sodium_memzero(random, sizeof random);
    snprintf(slot->name, sizeof slot->name, "%s", name);
    slot->role = role;
    slot->expires = now + self->session_ms;
    return slot;
}

proto_err_t web_auth_login(web_auth_t *self, const char *name, const char *password,
                           const char *address, uint64_t now, web_role_t *role,
                           const web_session_t **session, char *errbuf, size_t errlen)
{
    char account_key[128], address_key[128];
    snprintf(account_key, sizeof account_key, "a:%.63s", name);
    snprintf(address_key, sizeof address_key, "i:%.100s", address);
    *role = WEB_ROLE_NONE;
    if (s_locked(self, account_key, now) || s_locked(self, address_key, now)) {
        snprintf(errbuf, errlen, "locked out after repeated failures");
        return PROTO_ERR_BUSY;
    }
    char hash[crypto_pwhash_STRBYTES] = "";
    proto_err_t rc = web_auth_name_ok(name)
                         ? s_account_find(self->path, name, role, hash, errbuf, errlen)
                         : PROTO_ERR_NOT_FOUND;
    if (rc && rc != PROTO_ERR_NOT_FOUND)
        return rc;
    if (rc == PROTO_ERR_NOT_FOUND) {
        //  An unknown name costs one Argon2id check too, so the time a
        //  refusal takes does not tell which names exist.
        if (!self->dummy_hash[0] &&
            crypto_pwhash_str(self->dummy_hash, "truc", 4, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
            self->dummy_hash[0] = '\0';
        if (self->dummy_hash[0] &&
            crypto_pwhash_str_verify(self->dummy_hash, password, strlen(password)) == 0)
            proto_log_debug("event=console_login_dummy_matched"); // harmless: still refused
        *role = WEB_ROLE_NONE;
    } else if (crypto_pwhash_str_verify(hash, password, strlen(password)) != 0) {
        rc = PROTO_ERR_NOT_FOUND;
    }
    if (rc) {
        s_fail_count(self, account_key, now);
        s_fail_count(self, address_key, now);
        snprintf(errbuf, errlen, "wrong name or password");
        return PROTO_ERR_NOT_AUTHENTICATED;
    }
    s_fail_clear(self, account_key, now);
    s_fail_clear(self, address_key, now);
    *session = s_session_open(self, name, *role, now);
    return PROTO_OK;
}

const web_session_t *web_auth_session(web_auth_t *self, const char *token, uint64_t now)
{
    if (!token || strlen(token) != WEB_TOKEN_TEXT - 1)
        return NULL;
    for (size_t i = 0; i < WEB_SESSION_MAX; i++) {
        web_session_t *s = &self->sessions[i];
        if (s->token[0] && sodium_memcmp(s->token, token, WEB_TOKEN_TEXT - 1) == 0) {
            if (s->expires > now)
                return s;
            sodium_memzero(s, sizeof *s);
            return NULL;
        }
    }
    return NULL;
}

void web_auth_logout(web_auth_t *self, const char *token)
{
    for (size_t i = 0; token && strlen(token) == WEB_TOKEN_TEXT - 1 && i < WEB_SESSION_MAX; i++) {
        web_session_t *s = &self->sessions[i];
        if (s->token[0] && sodium_memcmp(s->token, token, WEB_TOKEN_TEXT - 1) == 0)
            sodium_memzero(s, sizeof *s);
    }
}

bool web_auth_csrf_ok(const web_session_t *session, const char *csrf)
{
    return session && csrf && strlen(csrf) == WEB_TOKEN_TEXT - 1 &&
           sodium_memcmp(session->csrf, csrf, WEB_TOKEN_TEXT - 1) == 0;
}

// ---------------------------------------------------------------------------
//  Writing an entry (truc-admin console-user add)

proto_err_t web_auth_account_set(const char *path, const char *name, const char *role,
                                 const char *password, char *errbuf, size_t errlen)
{
    if (!web_auth_name_ok(name)) {
        snprintf(errbuf, errlen, "'%.80s' is not a name (letters, digits, . _ -, 1 to 63)", name);
        return PROTO_ERR_VALUE;
    }
    if (s_role(role) == WEB_ROLE_NONE) {
        snprintf(errbuf, errlen, "'%.40s' is not a role (viewer or admin)", role);
        return PROTO_ERR_VALUE;
    }
    if (strlen(password) < 8) {
        snprintf(errbuf, errlen, "the password is shorter than 8 characters");
        return PROTO_ERR_VALUE;
    }
    char hash[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        snprintf(errbuf, errlen, "out of memory for Argon2id");
        return PROTO_ERR_NOMEM;
    }
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077)) {
        snprintf(errbuf, errlen, "%s is readable or writable by group or others (chmod 600)", path);
        return PROTO_ERR_PERMISSIONS;
    }
    //  Write the whole file anew beside it and rename: a broker reading it
    //  for a login sees the old file or the new one, never half of one.
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!out) {
        snprintf(errbuf, errlen, "cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return PROTO_ERR_IO;
    }
    FILE *in = fopen(path, "r");
    char line[WEB_LINE_MAX], n[WEB_LINE_MAX];
    while (in && fgets(line, sizeof line, in)) {
        if (sscanf(line, "%511s", n) == 1 && strcmp(n, name) == 0)
            continue; // replaced below
        fputs(line, out);
    }
    if (in)
        fclose(in);
    fprintf(out, "%s %s %s\n", name, role, hash);
    bool ok = fflush(out) == 0 && fsync(fileno(out)) == 0;
    ok = fclose(out) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(errbuf, errlen, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return PROTO_ERR_IO;
    }
    return PROTO_OK;
}

int web_auth_cli(int argc, char **argv)
{
    const char *name = NULL, *role = "viewer", *path = NULL;
    bool add = argc > 1 && strcmp(argv[1], "add") == 0;
    for (int i = 2; add && i < argc; i++) {
        if (strcmp(argv[i], "--role") == 0 && i + 1 < argc)
            role = argv[++i];
        else if (strcmp(argv[i], "--accounts") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            add = false;
    }
    if (!add || !name || !path) {
        fputs("usage: truc-admin console-user add NAME --role viewer|admin --accounts FILE\n"
              "       (the password is read from the first line of standard input)\n",
              stderr);
        return 1;
    }
    if (sodium_init() < 0) {
        fputs("truc-admin: libsodium failed to start\n", stderr);
        return 2;
    }
    char password[512] = "";
    if (!fgets(password, sizeof password, stdin))
        password[0] = '\0';
    password[strcspn(password, "\r\n")] = '\0';
    char err[512];
    proto_err_t rc = web_auth_account_set(path, name, role, password, err, sizeof err);
    sodium_memzero(password, sizeof password);
    if (rc) {
        fprintf(stderr, "truc-admin: console-user add %s: %s\n", name, err);
        return rc == PROTO_ERR_VALUE ? 1 : 2;
    }
    printf("console account %s (%s) written to %s\n", name, role, path);
    return 0;
}
