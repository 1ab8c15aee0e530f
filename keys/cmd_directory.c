/*  keys/cmd_directory.c - `truc-keys directory ...`: the operator's tools for
    the agency directory the broker trusts.

    Every change loads the file, changes one thing, and writes the file back
    atomically, holding an fcntl lock on FILE.lock meanwhile so two operators
    cannot lose each other's change. The rules (unique codes and keys,
    revocation is final) live in proto/directory.c; this file only turns
    their results into messages.
*/
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/route.h"

static const char s_help[] =
    "Usage: truc-keys directory COMMAND --dir FILE ...\n"
    "\n"
    "Manage the agency directory FILE that the broker trusts.\n"
    "\n"
    "  add --dir FILE PUBFILE [--name TEXT] [--valid-from T] [--valid-until T]\n"
    "      [--home LABEL]\n"
    "        add the agency of the public identity file PUBFILE (creates FILE\n"
    "        if missing); TEXT is its display name (default: the agency code);\n"
    "        T is a UTC time written 2026-01-01T00:00:00Z; LABEL is the broker\n"
    "        that serves it (default: the broker reading FILE)\n"
    "  add-broker --dir FILE PUBFILE [--name TEXT] [--code CODE]... [--pattern P]...\n"
    "        add the broker of PUBFILE, home for the agency codes CODE and the\n"
    "        patterns P (H29 is every code ending in H29; see add-broker --help)\n"
    "  set-home --dir FILE CODE LABEL|--local\n"
    "        the broker LABEL serves agency CODE; --local: this broker does\n"
    "  suspend --dir FILE CODE|LABEL    refuse the agency or broker for now\n"
    "  reinstate --dir FILE CODE|LABEL  make it active again\n"
    "  revoke --dir FILE CODE|LABEL     refuse it for good (final)\n"
    "  rekey --dir FILE PUBFILE [--grace DURATION]\n"
    "        give the agency named in the public identity file PUBFILE its new\n"
    "        key (key rotation); the old key is retired, valid for what it\n"
    "        signed until DURATION from now (default 7d; e.g. 12h, 0)\n"
    "  retire-broker-key --dir FILE OLDPUBFILE [--grace DURATION]\n"
    "        the broker's own key rotation: agents keep verifying what the old\n"
    "        key signed until DURATION from now (default 7d)\n"
    "  list --dir FILE [--json]     list every agency and broker\n"
    "  show --dir FILE CODE|LABEL   show one agency or broker\n"
    "\n"
    "Every change increments the directory's serial number.\n"
    "Exit status: 0 done, 1 usage error, 2 failure.\n";

int keys_directory_lock(const char *path)
{
    size_t n = strlen(path) + 6;
    char *lock = malloc(n);
    if (!lock) {
        keys_error("out of memory: free some memory and try again");
        return KEYS_EXIT_FAIL;
    }
    snprintf(lock, n, "%s.lock", path);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        keys_error("cannot open the lock file %s (%s): check that the directory of %s exists "
                   "and is writable",
                   lock, strerror(errno), path);
        free(lock);
        return KEYS_EXIT_FAIL;
    }
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    //  Wait: another truc-keys holds it only for the moment of one change.
    while (fcntl(fd, F_SETLKW, &fl) != 0) {
        if (errno != EINTR) {
            keys_error("cannot lock %s (%s): try again", lock, strerror(errno));
            close(fd);
            free(lock);
            return KEYS_EXIT_FAIL;
        }
    }
    free(lock);
    return KEYS_EXIT_OK; // fd stays open: the lock lasts until exit
}

int keys_directory_save(proto_directory_t *dir, const char *path)
{
    char err[256] = "";
    proto_err_t rc = proto_directory_save(dir, path, err, sizeof err);
    if (rc == PROTO_OK)
        return KEYS_EXIT_OK;
    keys_error("cannot write %s (%s: %s): check the directory and its permissions", path,
               proto_strerror(rc), err);
    return KEYS_EXIT_FAIL;
}

//  Does the argument name a broker of dir rather than an agency? A broker
//  label is never an agency code. A label the directory lacks is taken
//  for a mistyped code when it has the shape of one (capitals, digits and
//  dots only, like H01), so that mistake keeps its usage message; NULL dir
//  asks whether the argument could name a broker at all.
static bool s_names_broker(const proto_directory_t *dir, const char *text)
{
    size_t len = strlen(text);
    if (proto_label_check(text, len) != PROTO_OK || proto_agency_code_check(text, len) == PROTO_OK)
        return false;
    if (!dir || proto_directory_broker_find(dir, text))
        return true;
    for (size_t i = 0; i < len; i++)
        if (text[i] != '.' && (text[i] < '0' || text[i] > '9') && (text[i] < 'A' || text[i] > 'Z'))
            return true;
    return false;
}

static bool s_code_ok(const char *code)
{
    if (proto_agency_code_check(code, strlen(code)) == PROTO_OK)
        return true;
    keys_error("'%s' is not a valid agency code: codes look like 000.00.01.H01", code);
    return false;
}

static int s_time_opt(const keys_opt_t *opt, int64_t *out)
{
    *out = 0;
    if (!opt->seen)
        return KEYS_EXIT_OK;
    if (proto_directory_time_parse(opt->value, out) == PROTO_OK)
        return KEYS_EXIT_OK;
    keys_error("%s '%s' is not a UTC time: write it like 2026-01-01T00:00:00Z", opt->name,
               opt->value);
    return KEYS_EXIT_USAGE;
}

//  Explain a refused home (federation): true if rc was about it.
static bool s_home_problem(const proto_directory_t *dir, const char *path,
                           const proto_directory_entry_t *entry, proto_err_t rc)
{
    proto_route_t route;
    if (rc == PROTO_ERR_NOT_FOUND || (rc == PROTO_ERR_VALUE && entry->home[0] &&
                                      !proto_directory_broker_find(dir, entry->home))) {
        keys_error("broker %s is not in %s: add it first with `%s directory add-broker`",
                   entry->home, path, KEYS_PROGRAM);
        return true;
    }
    if (rc != PROTO_ERR_DIRECTORY ||
        proto_directory_route(dir, entry->code, NULL, &route) == PROTO_ERR_AGENCY_CODE ||
        route.via != PROTO_ROUTE_BY_CODE)
        return false;
    keys_error("broker %s lists %s as an agency it is home for: add it with --home %s, or take "
               "the code out of that broker's entry",
               route.broker->label, entry->code, route.broker->label);
    return true;
}

static const char s_add_usage[] = "directory add --dir FILE PUBFILE [--name TEXT] [--valid-from T] "
                                  "[--valid-until T] [--home LABEL]";

//  Load the public identity file of an agency (a broker's is refused).
static int s_load_agency_public(const char *file, proto_public_t *pub)
{
    int code = keys_load_public(file, pub);
    if (code == KEYS_EXIT_OK && pub->role != PROTO_ROLE_AGENCY) {
        keys_error("%s is the identity of broker %s: only agencies go into the directory", file,
                   pub->name);
        code = KEYS_EXIT_FAIL;
    }
    return code;
}

static int s_add(int argc, char **argv)
{
    keys_opt_t opts[] = { { "--dir", true, NULL, false },
                          { "--name", true, NULL, false },
                          { "--valid-from", true, NULL, false },
                          { "--valid-until", true, NULL, false },
                          { "--home", true, NULL, false } };
    const char *pos[1];
    int npos = 0, code = 0;
    if (!keys_args_parse("directory add", s_add_usage, s_help, argc, argv, opts, 5, pos, 1, 1,
                         &npos, &code))
        return code;
    if (!opts[0].seen) {
        keys_error("--dir FILE is missing: say which directory file to change");
        return KEYS_EXIT_USAGE;
    }
    const char *path = opts[0].value;
    proto_directory_entry_t entry;
    memset(&entry, 0, sizeof entry);
    if (s_time_opt(&opts[2], &entry.valid_from) != KEYS_EXIT_OK ||
        s_time_opt(&opts[3], &entry.valid_until) != KEYS_EXIT_OK)
        return KEYS_EXIT_USAGE;
    if (entry.valid_from && entry.valid_until && entry.valid_from >= entry.valid_until) {
        keys_error("--valid-from is not before --valid-until: swap or fix the times");
        return KEYS_EXIT_USAGE;
    }
    if (opts[1].seen) {
        switch (proto_directory_name_check(opts[1].value)) {
        case PROTO_OK:
            break;
        case PROTO_ERR_UTF8:
            keys_error("--name is not valid UTF-8: check your terminal's encoding");
            return KEYS_EXIT_USAGE;
        case PROTO_ERR_LIMIT:
            keys_error("--name must be 1 to %d characters: shorten it", PROTO_DIRECTORY_NAME_MAX);
            return KEYS_EXIT_USAGE;
        default:
            keys_error("--name has characters the directory cannot hold (control characters, "
                       "';', leading, trailing or doubled spaces, or a word over 180 bytes): "
                       "fix the name");
            return KEYS_EXIT_USAGE;
        }
    }
    proto_public_t pub;
    code = s_load_agency_public(pos[0], &pub);
    if (code != KEYS_EXIT_OK)
        return code;
    code = keys_directory_lock(path);
    if (code != KEYS_EXIT_OK)
        return code;
    proto_directory_t *dir = NULL;
    bool created = false;
    code = keys_load_directory(path, true, &dir, &created);
    if (code != KEYS_EXIT_OK)
        return code;
    memcpy(entry.code, pub.name, sizeof entry.code);
    entry.name = opts[1].seen ? opts[1].value : pub.name;
    if (opts[4].seen)
        snprintf(entry.home, sizeof entry.home, "%s", opts[4].value);
    memcpy(entry.sign_pk, pub.sign_pk, sizeof entry.sign_pk);
    entry.state = PROTO_DIRECTORY_ACTIVE;
    char fp[PROTO_FINGERPRINT_LEN + 1];
    proto_fingerprint(pub.sign_pk, fp);
    const proto_directory_entry_t *same_code = proto_directory_find(dir, pub.name);
    const proto_directory_entry_t *same_key = proto_directory_find_curve(dir, pub.curve_pk);
    code = KEYS_EXIT_FAIL;
    if (same_code) {
        keys_error("agency %s is already in %s (state %s): an agency code can be added once; "
                   "see `%s directory show --dir %s %s`",
                   pub.name, path, proto_directory_state_name(same_code->state), KEYS_PROGRAM, path,
                   pub.name);
    } else if (same_key) {
        keys_error("the key of %s (%s) is already in %s for agency %s: every agency needs its "
                   "own key; make one with `%s new`",
                   pos[0], fp, path, same_key->code, KEYS_PROGRAM);
    } else {
        proto_err_t rc = proto_directory_add(dir, &entry);
        if (rc == PROTO_OK)
            code = keys_directory_save(dir, path);
        else if (!s_home_problem(dir, path, &entry, rc))
            keys_error("cannot add %s to %s (%s): check the public file", pub.name, path,
                       proto_strerror(rc));
    }
    if (code == KEYS_EXIT_OK)
        printf("%s%s: added %s (%s), serial %llu\n", created ? "created " : "", path, pub.name, fp,
               (unsigned long long) proto_directory_serial(dir));
    proto_directory_destroy(&dir);
    return code;
}

static int s_set_state(const char *command, proto_directory_state_t state, int argc, char **argv)
{
    keys_opt_t opts[] = { { "--dir", true, NULL, false } };
    const char *pos[1];
    int npos = 0, code = 0;
    char name[32], usage[64];
    snprintf(name, sizeof name, "directory %s", command);
    snprintf(usage, sizeof usage, "directory %s --dir FILE CODE|LABEL", command);
    if (!keys_args_parse(name, usage, s_help, argc, argv, opts, 1, pos, 1, 1, &npos, &code))
        return code;
    if (!opts[0].seen) {
        keys_error("--dir FILE is missing: say which directory file to change");
        return KEYS_EXIT_USAGE;
    }
    if (!s_names_broker(NULL, pos[0]) && !s_code_ok(pos[0]))
        return KEYS_EXIT_USAGE;
    const char *path = opts[0].value;
    code = keys_directory_lock(path);
    if (code != KEYS_EXIT_OK)
        return code;
    proto_directory_t *dir = NULL;
    code = keys_load_directory(path, false, &dir, NULL);
    if (code != KEYS_EXIT_OK)
        return code;
    bool broker = s_names_broker(dir, pos[0]);
    if (!broker && !s_code_ok(pos[0])) {
        proto_directory_destroy(&dir);
        return KEYS_EXIT_USAGE;
    }
    const proto_directory_entry_t *entry = proto_directory_find(dir, pos[0]);
    code = KEYS_EXIT_FAIL;
    if (broker) {
        code = keys_broker_set_state(dir, path, pos[0], state);
    } else if (!entry) {
        keys_error("agency %s is not in %s: check the code with `%s directory list --dir %s`",
                   pos[0], path, KEYS_PROGRAM, path);
    } else if (entry->state == state) {
        printf("%s is already %s in %s; nothing changed\n", pos[0],
               proto_directory_state_name(state), path);
        code = KEYS_EXIT_OK;
    } else {
        proto_err_t rc = proto_directory_set_state(dir, pos[0], state);
        if (rc == PROTO_ERR_BAD_STATE)
            keys_error("agency %s is revoked, which is final: it cannot be %s (a revocation "
                       "cannot be undone)",
                       pos[0], state == PROTO_DIRECTORY_ACTIVE ? "reinstated" : "suspended");
        else if (rc != PROTO_OK)
            keys_error("cannot change %s (%s): check the directory", pos[0], proto_strerror(rc));
        else
            code = keys_directory_save(dir, path);
        if (code == KEYS_EXIT_OK)
            printf("%s is now %s in %s, serial %llu%s\n", pos[0], proto_directory_state_name(state),
                   path, (unsigned long long) proto_directory_serial(dir),
                   state == PROTO_DIRECTORY_REVOKED ? " (final)" : "");
    }
    proto_directory_destroy(&dir);
    return code;
}

static void s_time_text(int64_t t, char out[PROTO_DIRECTORY_TIME_LEN + 1])
{
    if (t)
        proto_directory_time_format(t, out);
    else
        snprintf(out, PROTO_DIRECTORY_TIME_LEN + 1, "-");
}

static void s_list_json(const proto_directory_t *dir)
{
    char when[PROTO_DIRECTORY_TIME_LEN + 1], hex[65], fp[PROTO_FINGERPRINT_LEN + 1];
    printf("{\"format\":1,\"serial\":%llu,\"updated\":",
           (unsigned long long) proto_directory_serial(dir));
    if (proto_directory_updated(dir)) {
        proto_directory_time_format(proto_directory_updated(dir), when);
        keys_json_string(when);
    } else {
        fputs("null", stdout);
    }
    keys_broker_retired_json(dir);
    fputs(",\"agencies\":[", stdout);
    for (size_t i = 0; i < proto_directory_count(dir); i++) {
        const proto_directory_entry_t *e = proto_directory_entry(dir, i);
        printf("%s{\"kind\":\"agency\",\"code\":", i ? "," : "");
        keys_json_string(e->code);
        fputs(",\"name\":", stdout);
        keys_json_string(e->name);
        printf(",\"state\":\"%s\",\"sign_key\":\"", proto_directory_state_name(e->state));
        proto_hex_encode(e->sign_pk, 32, hex);
        fputs(hex, stdout);
        proto_hex_encode(e->curve_pk, 32, hex);
        proto_fingerprint(e->sign_pk, fp);
        printf("\",\"curve_key\":\"%s\",\"fingerprint\":\"%s\",\"home\":", hex, fp);
        if (e->home[0])
            keys_json_string(e->home);
        else
            fputs("null", stdout);
        const int64_t times[2] = { e->valid_from, e->valid_until };
        const char *names[2] = { "valid_from", "valid_until" };
        for (int k = 0; k < 2; k++) {
            printf(",\"%s\":", names[k]);
            if (times[k]) {
                proto_directory_time_format(times[k], when);
                keys_json_string(when);
            } else {
                fputs("null", stdout);
            }
        }
        keys_retired_json(e);
        putchar('}');
    }
    putchar(']');
    keys_brokers_json(dir);
    fputs("}\n", stdout);
}

static int s_list(int argc, char **argv)
{
    keys_opt_t opts[] = { { "--dir", true, NULL, false }, { "--json", false, NULL, false } };
    const char *pos[1];
    int npos = 0, code = 0;
    if (!keys_args_parse("directory list", "directory list --dir FILE [--json]", s_help, argc, argv,
                         opts, 2, pos, 0, 0, &npos, &code))
        return code;
    if (!opts[0].seen) {
        keys_error("--dir FILE is missing: say which directory file to list");
        return KEYS_EXIT_USAGE;
    }
    proto_directory_t *dir = NULL;
    code = keys_load_directory(opts[0].value, false, &dir, NULL);
    if (code != KEYS_EXIT_OK)
        return code;
    if (opts[1].seen) {
        s_list_json(dir);
        proto_directory_destroy(&dir);
        return KEYS_EXIT_OK;
    }
    char when[PROTO_DIRECTORY_TIME_LEN + 1], from[PROTO_DIRECTORY_TIME_LEN + 1],
        until[PROTO_DIRECTORY_TIME_LEN + 1], fp[PROTO_FINGERPRINT_LEN + 1];
    s_time_text(proto_directory_updated(dir), when);
    size_t count = proto_directory_count(dir);
    printf("# %s: serial %llu, updated %s, %zu %s\n", opts[0].value,
           (unsigned long long) proto_directory_serial(dir), when, count,
           count == 1 ? "agency" : "agencies");
    printf("%-13s  %-9s  %-39s  %-20s  %-20s  %s\n", "CODE", "STATE", "FINGERPRINT", "VALID_FROM",
           "VALID_UNTIL", "NAME");
    for (size_t i = 0; i < proto_directory_count(dir); i++) {
        const proto_directory_entry_t *e = proto_directory_entry(dir, i);
        proto_fingerprint(e->sign_pk, fp);
        s_time_text(e->valid_from, from);
        s_time_text(e->valid_until, until);
        printf("%-13s  %-9s  %-39s  %-20s  %-20s  %s%s%s%s\n", e->code,
               proto_directory_state_name(e->state), fp, from, until, e->name,
               e->home[0] ? "  (home: " : "", e->home, e->home[0] ? ")" : "");
        if (e->retired_count)
            printf("%-13s  %zu retired %s (see show)\n", "", e->retired_count,
                   e->retired_count == 1 ? "key" : "keys");
    }
    keys_brokers_list(dir);
    proto_directory_destroy(&dir);
    return KEYS_EXIT_OK;
}

static int s_show(int argc, char **argv)
{
    keys_opt_t opts[] = { { "--dir", true, NULL, false } };
    const char *pos[1];
    int npos = 0, code = 0;
    if (!keys_args_parse("directory show", "directory show --dir FILE CODE", s_help, argc, argv,
                         opts, 1, pos, 1, 1, &npos, &code))
        return code;
    if (!opts[0].seen) {
        keys_error("--dir FILE is missing: say which directory file to read");
        return KEYS_EXIT_USAGE;
    }
    if (!s_names_broker(NULL, pos[0]) && !s_code_ok(pos[0]))
        return KEYS_EXIT_USAGE;
    proto_directory_t *dir = NULL;
    code = keys_load_directory(opts[0].value, false, &dir, NULL);
    if (code != KEYS_EXIT_OK)
        return code;
    bool broker = s_names_broker(dir, pos[0]);
    if (!broker && !s_code_ok(pos[0])) {
        proto_directory_destroy(&dir);
        return KEYS_EXIT_USAGE;
    }
    if (broker) {
        code = keys_broker_show(dir, opts[0].value, pos[0]);
        proto_directory_destroy(&dir);
        return code;
    }
    const proto_directory_entry_t *e = proto_directory_find(dir, pos[0]);
    if (!e) {
        keys_error("agency %s is not in %s: check the code with `%s directory list --dir %s`",
                   pos[0], opts[0].value, KEYS_PROGRAM, opts[0].value);
        proto_directory_destroy(&dir);
        return KEYS_EXIT_FAIL;
    }
    char hex[65], z85[41], fp[PROTO_FINGERPRINT_LEN + 1], when[PROTO_DIRECTORY_TIME_LEN + 1];
    keys_field("code:", e->code);
    keys_field("name:", e->name);
    keys_field("state:", proto_directory_state_name(e->state));
    keys_field("home:", e->home[0] ? e->home : "this broker");
    proto_err_t usable = proto_directory_entry_usable(e, (int64_t) time(NULL));
    keys_field("usable now:", usable == PROTO_OK                     ? "yes"
                              : usable == PROTO_ERR_AGENCY_REVOKED   ? "no (revoked)"
                              : usable == PROTO_ERR_AGENCY_SUSPENDED ? "no (suspended)"
                              : usable == PROTO_ERR_EXPIRED          ? "no (expired)"
                                                                     : "no (not valid yet)");
    s_time_text(e->valid_from, when);
    keys_field("valid from:", when);
    s_time_text(e->valid_until, when);
    keys_field("valid until:", when);
    proto_hex_encode(e->sign_pk, 32, hex);
    keys_field("sign key:", hex);
    proto_hex_encode(e->curve_pk, 32, hex);
    keys_field("curve key:", hex);
    if (proto_z85_encode(e->curve_pk, 32, z85, sizeof z85) == PROTO_OK)
        keys_field("curve z85:", z85);
    proto_fingerprint(e->sign_pk, fp);
    keys_field("fingerprint:", fp);
    keys_retired_show(e);
    proto_directory_destroy(&dir);
    return KEYS_EXIT_OK;
}

int keys_cmd_directory(int argc, char **argv)
{
    if (argc < 1) {
        keys_error("`directory` needs a command: run `%s directory --help`", KEYS_PROGRAM);
        return KEYS_EXIT_USAGE;
    }
    const char *sub = argv[0];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        fputs(s_help, stdout);
        return KEYS_EXIT_OK;
    }
    if (strcmp(sub, "add") == 0)
        return s_add(argc - 1, argv + 1);
    if (strcmp(sub, "suspend") == 0)
        return s_set_state("suspend", PROTO_DIRECTORY_SUSPENDED, argc - 1, argv + 1);
    if (strcmp(sub, "reinstate") == 0)
        return s_set_state("reinstate", PROTO_DIRECTORY_ACTIVE, argc - 1, argv + 1);
    if (strcmp(sub, "revoke") == 0)
        return s_set_state("revoke", PROTO_DIRECTORY_REVOKED, argc - 1, argv + 1);
    if (strcmp(sub, "add-broker") == 0)
        return keys_directory_add_broker(argc - 1, argv + 1);
    if (strcmp(sub, "set-home") == 0)
        return keys_directory_set_home(argc - 1, argv + 1);
    if (strcmp(sub, "rekey") == 0)
        return keys_directory_rekey(argc - 1, argv + 1, s_help);
    if (strcmp(sub, "retire-broker-key") == 0)
        return keys_directory_retire_broker_key(argc - 1, argv + 1, s_help);
    if (strcmp(sub, "list") == 0)
        return s_list(argc - 1, argv + 1);
    if (strcmp(sub, "show") == 0)
        return s_show(argc - 1, argv + 1);
    keys_error("unknown directory command '%s': run `%s directory --help`", sub, KEYS_PROGRAM);
    return KEYS_EXIT_USAGE;
}
