/*  keys/cli.c - argument parsing, messages and file loading shared by the
    truc-keys commands.

    Every failure an operator can meet is turned into one line on stderr:
    "truc-keys: <what went wrong>: <what to do>". The library's detail (which
    line of which file) goes in the first half. Nothing here touches key
    material beyond handing it to the library.
*/
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void keys_error(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs(KEYS_PROGRAM ": ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
}

static keys_opt_t *s_find_opt(keys_opt_t *opts, size_t nopts, const char *arg, size_t len)
{
    for (size_t i = 0; i < nopts; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, arg, len) == 0)
            return &opts[i];
    return NULL;
}

bool keys_args_parse(const char *command, const char *usage, const char *help, int argc,
                     char **argv, keys_opt_t *opts, size_t nopts, const char **pos, int min_pos,
                     int max_pos, int *npos, int *exit_code)
{
    *npos = 0;
    *exit_code = KEYS_EXIT_USAGE;
    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)) {
            fputs(help, stdout);
            *exit_code = KEYS_EXIT_OK;
            return false;
        }
    }
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (options_done || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (*npos >= max_pos) {
                keys_error("unexpected argument '%s': usage: %s %s", arg, KEYS_PROGRAM, usage);
                return false;
            }
            pos[(*npos)++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t) (eq - arg) : strlen(arg);
        keys_opt_t *opt = s_find_opt(opts, nopts, arg, name_len);
        if (!opt) {
            keys_error("unknown option '%.*s' for `%s`: run `%s %s --help`", (int) name_len, arg,
                       command, KEYS_PROGRAM, command);
            return false;
        }
        if (opt->seen) {
            keys_error("%s given twice: give it once", opt->name);
            return false;
        }
        opt->seen = true;
        if (!opt->takes_value) {
            if (eq) {
                keys_error("%s takes no value: drop '=%s'", opt->name, eq + 1);
                return false;
            }
            continue;
        }
        if (eq) {
            opt->value = eq + 1;
        } else if (i + 1 < argc) {
            opt->value = argv[++i];
        } else {
            keys_error("%s needs a value: usage: %s %s", opt->name, KEYS_PROGRAM, usage);
            return false;
        }
        if (opt->value[0] == '\0') {
            keys_error("%s needs a non-empty value: usage: %s %s", opt->name, KEYS_PROGRAM, usage);
            return false;
        }
    }
    if (*npos < min_pos) {
        keys_error("missing arguments for `%s`: usage: %s %s", command, KEYS_PROGRAM, usage);
        return false;
    }
    *exit_code = KEYS_EXIT_OK;
    return true;
}

int keys_passphrase(const char *file, char **pass)
{
    *pass = NULL;
    const char *env = getenv(PROTO_PASSPHRASE_ENV);
    if (!file && (!env || !*env))
        return KEYS_EXIT_OK;
    proto_err_t rc = proto_passphrase_read(file, PROTO_PASSPHRASE_ENV, pass);
    if (rc == PROTO_OK)
        return KEYS_EXIT_OK;
    const char *source = file ? file : "$" PROTO_PASSPHRASE_ENV;
    switch (rc) {
    case PROTO_ERR_PERMISSIONS:
        keys_error("passphrase file %s is readable by group or others: run chmod 600 %s", file,
                   file);
        break;
    case PROTO_ERR_NOT_FOUND:
        keys_error("passphrase file %s does not exist: check the path", file);
        break;
    case PROTO_ERR_PASSPHRASE:
        keys_error("the passphrase in %s is empty: put the passphrase on its first line", source);
        break;
    case PROTO_ERR_LIMIT:
        keys_error("the passphrase in %s is longer than %d bytes: use a shorter one", source,
                   PROTO_PASSPHRASE_MAX);
        break;
    default:
        keys_error("cannot read the passphrase from %s (%s): check the file", source,
                   proto_strerror(rc));
        break;
    }
    return KEYS_EXIT_FAIL;
}

int keys_load_secret(const char *path, const char *pass_file, proto_identity_t **out)
{
    char *pass = NULL;
    int code = keys_passphrase(pass_file, &pass);
    if (code != KEYS_EXIT_OK)
        return code;
    char err[256] = "";
    proto_err_t rc = proto_identity_load(path, pass, out, err, sizeof err);
    bool had_pass = pass != NULL;
    proto_passphrase_free(&pass);
    switch (rc) {
    case PROTO_OK:
        return KEYS_EXIT_OK;
    case PROTO_ERR_PERMISSIONS:
        keys_error("secret key file %s is refused because its %s: run chmod 600 %s", path, err,
                   path);
        break;
    case PROTO_ERR_PASSPHRASE:
        if (had_pass)
            keys_error("wrong passphrase for %s (or the file was altered): check the passphrase, "
                       "or restore the key file from backup",
                       path);
        else
            keys_error("%s is encrypted and no passphrase was given: set %s or use "
                       "--passphrase-file FILE",
                       path, PROTO_PASSPHRASE_ENV);
        break;
    case PROTO_ERR_KEY_FILE:
        keys_error("%s is not a valid secret key file (%s): restore it from backup, or make a new "
                   "identity with `%s new`",
                   path, err, KEYS_PROGRAM);
        break;
    case PROTO_ERR_NOT_FOUND:
        keys_error("secret key file %s does not exist: check the path", path);
        break;
    default:
        keys_error("cannot load %s (%s: %s): check the file", path, proto_strerror(rc), err);
        break;
    }
    return KEYS_EXIT_FAIL;
}

int keys_load_public(const char *path, proto_public_t *out)
{
    char err[256] = "";
    proto_err_t rc = proto_public_load(path, out, err, sizeof err);
    switch (rc) {
    case PROTO_OK:
        return KEYS_EXIT_OK;
    case PROTO_ERR_KEY_FILE:
        keys_error("%s is not a valid public identity file (%s): ask its owner for a fresh copy "
                   "(`%s public`)",
                   path, err, KEYS_PROGRAM);
        break;
    case PROTO_ERR_NOT_FOUND:
        keys_error("public identity file %s does not exist: check the path", path);
        break;
    default:
        keys_error("cannot load %s (%s: %s): check the file", path, proto_strerror(rc), err);
        break;
    }
    return KEYS_EXIT_FAIL;
}

int keys_load_any_public(const char *path, const char *pass_file, proto_public_t *pub,
                         bool *is_secret)
{
    proto_key_file_kind_t kind = PROTO_KEY_FILE_PUBLIC;
    char err[256] = "";
    proto_err_t rc = proto_key_file_kind(path, &kind, err, sizeof err);
    if (rc == PROTO_ERR_NOT_FOUND) {
        keys_error("%s does not exist: check the path", path);
        return KEYS_EXIT_FAIL;
    }
    if (rc != PROTO_OK) {
        keys_error("%s is not a truc key file (%s): give a .secret or .public file", path, err);
        return KEYS_EXIT_FAIL;
    }
    *is_secret = kind == PROTO_KEY_FILE_SECRET;
    if (!*is_secret)
        return keys_load_public(path, pub);
    proto_identity_t *id = NULL;
    int code = keys_load_secret(path, pass_file, &id);
    if (code == KEYS_EXIT_OK)
        *pub = *proto_identity_public(id);
    proto_identity_destroy(&id);
    return code;
}

int keys_load_directory(const char *path, bool missing_ok, proto_directory_t **out, bool *created)
{
    char err[256] = "";
    if (created)
        *created = false;
    proto_err_t rc = proto_directory_load(path, out, err, sizeof err);
    if (rc == PROTO_ERR_NOT_FOUND && missing_ok) {
        *out = proto_directory_new();
        if (!*out) {
            keys_error("out of memory: free some memory and try again");
            return KEYS_EXIT_FAIL;
        }
        if (created)
            *created = true;
        return KEYS_EXIT_OK;
    }
    switch (rc) {
    case PROTO_OK:
        return KEYS_EXIT_OK;
    case PROTO_ERR_DIRECTORY:
        keys_error("%s is not a valid agency directory (%s): fix that line, or restore the file "
                   "from backup",
                   path, err);
        break;
    case PROTO_ERR_NOT_FOUND:
        keys_error("directory file %s does not exist: check the path, or create it with `%s "
                   "directory add`",
                   path, KEYS_PROGRAM);
        break;
    default:
        keys_error("cannot load %s (%s: %s): check the file", path, proto_strerror(rc), err);
        break;
    }
    return KEYS_EXIT_FAIL;
}

void keys_field(const char *label, const char *value)
{
    printf("%-13s %s\n", label, value);
}

void keys_json_string(const char *text)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *) text; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}
