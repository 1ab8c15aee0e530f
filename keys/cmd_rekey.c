/*  keys/cmd_rekey.c - `truc-keys directory rekey` and retired keys.

    Key rotation that keeps old documents valid: the agency's old key is
    retired with a grace period (proto/keywin.h) instead of forgotten, so
    documents, notices and receipts it signed before the end of its window
    keep verifying at the broker and at every recipient. This file also
    prints an agency's retired keys for `directory list` and `show`.
    Locking, loading and saving the file are cmd_directory.c's.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "proto/directory.h"
#include "proto/identity.h"

//  A duration: a whole number followed by s, m, h or d (seconds without a
//  unit), from 0 to PROTO_KEYWIN_GRACE_MAX seconds.
static bool s_duration_parse(const char *text, int64_t *out)
{
    char *end = NULL;
    if (!text[0] || text[0] < '0' || text[0] > '9' || strlen(text) > 12)
        return false;
    long long v = strtoll(text, &end, 10);
    int64_t unit = 1;
    if (*end == 'm')
        unit = 60;
    else if (*end == 'h')
        unit = 3600;
    else if (*end == 'd')
        unit = 86400;
    else if (*end && *end != 's')
        return false;
    if (*end && end[1])
        return false;
    if (v < 0 || v > PROTO_KEYWIN_GRACE_MAX / unit)
        return false;
    *out = (int64_t) v * unit;
    return true;
}

//  What both rotations start with: the arguments (--dir FILE, one public
//  file, --grace), the public file of the role expected, the directory
//  file locked and loaded. Returns KEYS_EXIT_OK with *dir loaded, or the
//  exit code after saying why.
typedef struct {
    const char *path;    // the directory file
    const char *pubfile; // the public identity file given
    proto_public_t pub;
    int64_t grace;
    proto_directory_t *dir;
} s_rotation_t;

static int s_rotation_begin(const char *name, const char *usage, const char *help, int argc,
                            char **argv, proto_role_t role, const char *advice, s_rotation_t *out)
{
    keys_opt_t opts[] = { { "--dir", true, NULL, false }, { "--grace", true, NULL, false } };
    const char *pos[1];
    int npos = 0, code = 0;
    if (!keys_args_parse(name, usage, help, argc, argv, opts, 2, pos, 1, 1, &npos, &code))
        return code;
    if (!opts[0].seen) {
        keys_error("--dir FILE is missing: say which directory file to change");
        return KEYS_EXIT_USAGE;
    }
    out->grace = PROTO_KEYWIN_GRACE_DEFAULT;
    if (opts[1].seen && !s_duration_parse(opts[1].value, &out->grace)) {
        keys_error("--grace '%s' is not a duration: write it like 7d, 12h, 30m or 0 (at most 366d)",
                   opts[1].value);
        return KEYS_EXIT_USAGE;
    }
    out->path = opts[0].value;
    out->pubfile = pos[0];
    out->dir = NULL;
    code = keys_load_public(pos[0], &out->pub);
    if (code == KEYS_EXIT_OK && out->pub.role != role) {
        keys_error("%s is the identity of %s %s: %s", pos[0],
                   out->pub.role == PROTO_ROLE_BROKER ? "broker" : "agency", out->pub.name, advice);
        code = KEYS_EXIT_FAIL;
    }
    if (code == KEYS_EXIT_OK)
        code = keys_directory_lock(out->path);
    if (code == KEYS_EXIT_OK)
        code = keys_load_directory(out->path, false, &out->dir, NULL);
    return code;
}

int keys_directory_rekey(int argc, char **argv, const char *help)
{
    s_rotation_t r;
    int code = s_rotation_begin("directory rekey",
                                "directory rekey --dir FILE PUBFILE [--grace DURATION]", help, argc,
                                argv, PROTO_ROLE_AGENCY, "only agencies go into the directory", &r);
    if (code != KEYS_EXIT_OK)
        return code;
    const char *path = r.path;
    proto_public_t pub = r.pub;
    int64_t grace = r.grace;
    proto_directory_t *dir = r.dir;
    char fp[PROTO_FINGERPRINT_LEN + 1], old_fp[PROTO_FINGERPRINT_LEN + 1] = "";
    proto_fingerprint(pub.sign_pk, fp);
    const proto_directory_entry_t *entry = proto_directory_find(dir, pub.name);
    if (entry)
        proto_fingerprint(entry->sign_pk, old_fp);
    const proto_directory_entry_t *same_key = proto_directory_find_curve(dir, pub.curve_pk);
    code = KEYS_EXIT_FAIL;
    if (!entry) {
        keys_error("agency %s is not in %s: add it with `%s directory add --dir %s %s`", pub.name,
                   path, KEYS_PROGRAM, path, r.pubfile);
    } else if (same_key == entry) {
        printf("%s already has the key %s in %s; nothing changed\n", pub.name, fp, path);
        code = KEYS_EXIT_OK;
    } else if (same_key) {
        keys_error("the key of %s (%s) is already in %s for agency %s: every agency needs its "
                   "own key; make one with `%s new`",
                   r.pubfile, fp, path, same_key->code, KEYS_PROGRAM);
    } else {
        int64_t now = (int64_t) time(NULL);
        proto_err_t rc = proto_directory_rekey(dir, pub.name, pub.sign_pk, now, grace);
        if (rc == PROTO_ERR_BAD_STATE)
            keys_error("agency %s is revoked, which is final: a revoked agency gets no new key",
                       pub.name);
        else if (rc == PROTO_ERR_EXISTS)
            keys_error("%s (%s) is a retired key of %s: a retired key never comes back; make a "
                       "new one with `%s new`",
                       r.pubfile, fp, pub.name, KEYS_PROGRAM);
        else if (rc == PROTO_ERR_LIMIT)
            keys_error("%s already keeps %d retired keys and the oldest one's window is still "
                       "open: rotate again once it has closed (see `%s directory show`)",
                       pub.name, PROTO_KEYWIN_MAX, KEYS_PROGRAM);
        else if (rc != PROTO_OK)
            keys_error("cannot give %s a new key (%s): check the public file", pub.name,
                       proto_strerror(rc));
        else
            code = keys_directory_save(dir, path);
        if (code == KEYS_EXIT_OK) {
            entry = proto_directory_find(dir, pub.name);
            char until[PROTO_DIRECTORY_TIME_LEN + 1];
            proto_directory_time_format((int64_t) entry->retired[entry->retired_count - 1].until,
                                        until);
            printf("%s has the new key %s (was %s) in %s, serial %llu; the old key stays valid "
                   "for what it signed until %s; reload the broker's directory and start the "
                   "agent with the new secret key\n",
                   pub.name, fp, old_fp, path, (unsigned long long) proto_directory_serial(dir),
                   until);
        }
    }
    proto_directory_destroy(&dir);
    return code;
}

void keys_retired_show(const proto_directory_entry_t *e)
{
    char since[PROTO_DIRECTORY_TIME_LEN + 1] = "-";
    if (e->key_since)
        proto_directory_time_format(e->key_since, since);
    keys_field("key since:", since);
    for (size_t i = 0; i < e->retired_count; i++) {
        char fp[PROTO_FINGERPRINT_LEN + 1],
            from[PROTO_DIRECTORY_TIME_LEN + 1] = "-", until[PROTO_DIRECTORY_TIME_LEN + 1],
                                            line[120];
        proto_fingerprint(e->retired[i].key, fp);
        if (e->retired[i].from)
            proto_directory_time_format((int64_t) e->retired[i].from, from);
        proto_directory_time_format((int64_t) e->retired[i].until, until);
        snprintf(line, sizeof line, "%s from %s until %s", fp, from, until);
        keys_field("retired key:", line);
    }
}

//  ,"NAME":[{"sign_key", "fingerprint", "from" (or null), "until"}, ...]
static void s_windows_json(const char *name, const proto_keywin_t *w, size_t n)
{
    char when[PROTO_DIRECTORY_TIME_LEN + 1], hex[65], fp[PROTO_FINGERPRINT_LEN + 1];
    printf(",\"%s\":[", name);
    for (size_t i = 0; i < n; i++) {
        proto_hex_encode(w[i].key, 32, hex);
        proto_fingerprint(w[i].key, fp);
        printf("%s{\"sign_key\":\"%s\",\"fingerprint\":\"%s\",\"from\":", i ? "," : "", hex, fp);
        if (w[i].from) {
            proto_directory_time_format((int64_t) w[i].from, when);
            keys_json_string(when);
        } else {
            fputs("null", stdout);
        }
        proto_directory_time_format((int64_t) w[i].until, when);
        fputs(",\"until\":", stdout);
        keys_json_string(when);
        putchar('}');
    }
    putchar(']');
}

void keys_retired_json(const proto_directory_entry_t *e)
{
    char when[PROTO_DIRECTORY_TIME_LEN + 1];
    fputs(",\"key_since\":", stdout);
    if (e->key_since) {
        proto_directory_time_format(e->key_since, when);
        keys_json_string(when);
    } else {
        fputs("null", stdout);
    }
    s_windows_json("retired", e->retired, e->retired_count);
}

void keys_broker_retired_json(const proto_directory_t *dir)
{
    size_t n = 0;
    const proto_keywin_t *mine = proto_directory_broker_retired(dir, &n);
    s_windows_json("broker_retired", mine, n);
}

//  The broker's own key rotation: the broker's old public identity file goes
//  into the directory's broker_retired, so agents that learn it from the
//  next DIRECTORY (signed with the broker's new key) still verify receipts
//  the old key signed.
int keys_directory_retire_broker_key(int argc, char **argv, const char *help)
{
    s_rotation_t r;
    int code = s_rotation_begin(
        "directory retire-broker-key",
        "directory retire-broker-key --dir FILE OLDPUBFILE [--grace DURATION]", help, argc, argv,
        PROTO_ROLE_BROKER, "give the broker's old public file", &r);
    if (code != KEYS_EXIT_OK)
        return code;
    const char *path = r.path;
    proto_public_t pub = r.pub;
    proto_directory_t *dir = r.dir;
    char fp[PROTO_FINGERPRINT_LEN + 1];
    proto_fingerprint(pub.sign_pk, fp);
    proto_err_t rc =
        proto_directory_retire_broker_key(dir, pub.sign_pk, (int64_t) time(NULL), r.grace);
    code = KEYS_EXIT_FAIL;
    if (rc == PROTO_ERR_EXISTS)
        keys_error("the broker key %s is already retired in %s: each old key is retired once", fp,
                   path);
    else if (rc == PROTO_ERR_LIMIT)
        keys_error("%s already keeps %d retired broker keys whose windows are open: retire "
                   "this one once the oldest has closed",
                   path, PROTO_KEYWIN_MAX);
    else if (rc != PROTO_OK)
        keys_error("cannot retire the broker key %s (%s)", fp, proto_strerror(rc));
    else
        code = keys_directory_save(dir, path);
    if (code == KEYS_EXIT_OK)
        printf("the broker key %s of %s is retired in %s, serial %llu; start the broker with "
               "its new identity and give agents its new public file\n",
               fp, pub.name, path, (unsigned long long) proto_directory_serial(dir));
    proto_directory_destroy(&dir);
    return code;
}
