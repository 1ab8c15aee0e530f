/*  keys/cmd_broker.c - the broker entries of the directory: `truc-keys
    directory add-broker` and `set-home`, and what suspend, reinstate,
    revoke, list and show do when they name a broker.

    A broker entry says which agency codes another broker is home for
    (explicit codes and patterns), so this broker can route to it; an
    agency's home says which broker serves it. The rules (one key space,
    no ambiguous routing, revocation is final) live in proto/route.c; this
    file turns their results into messages, as cmd_directory.c does for
    agencies.
*/
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/route.h"

static const char s_add_usage[] =
    "directory add-broker --dir FILE PUBFILE [--name TEXT] [--code CODE]... [--pattern P]...";
static const char s_home_usage[] = "directory set-home --dir FILE CODE LABEL|--local";

static const char s_help[] =
    "Usage: truc-keys directory add-broker --dir FILE PUBFILE [--name TEXT]\n"
    "                 [--code CODE]... [--pattern P]...\n"
    "       truc-keys directory set-home --dir FILE CODE LABEL|--local\n"
    "\n"
    "add-broker adds the broker of the public identity file PUBFILE to the\n"
    "directory FILE, home for the agency codes CODE and the patterns P (each\n"
    "option may be given many times). A pattern is levels like an agency code,\n"
    "read from the right, '*' standing for one level: H29 (or *.H29) is every\n"
    "code ending in H29; 01.H29 every code ending in 01.H29; * every code. The\n"
    "most specific match routes: an explicit code, then the pattern with the\n"
    "most literal levels; two brokers tying on a code are refused.\n"
    "\n"
    "set-home names the broker LABEL that serves agency CODE; --local makes it\n"
    "an agency of the broker reading FILE again.\n"
    "\n"
    "suspend, reinstate, revoke and show take a broker LABEL as well as a CODE.\n"
    "Exit status: 0 done, 1 usage error, 2 failure.\n";

//  Take every --code and --pattern out of argv (keys_args_parse allows an
//  option once) into codes and patterns. Returns false after a usage error.
static bool s_take_lists(int *argc, char **argv, const char **codes, size_t *code_count,
                         const char **patterns, size_t *pattern_count)
{
    int kept = 0;
    *code_count = *pattern_count = 0;
    for (int i = 0; i < *argc; i++) {
        const char *arg = argv[i];
        bool code = strncmp(arg, "--code", 6) == 0 && (arg[6] == '\0' || arg[6] == '=');
        bool pattern = strncmp(arg, "--pattern", 9) == 0 && (arg[9] == '\0' || arg[9] == '=');
        if (strcmp(arg, "--") == 0) {
            while (i < *argc)
                argv[kept++] = argv[i++];
            break;
        }
        if (!code && !pattern) {
            argv[kept++] = argv[i];
            continue;
        }
        const char *eq = strchr(arg, '=');
        const char *value = eq ? eq + 1 : i + 1 < *argc ? argv[++i] : NULL;
        if (!value) {
            keys_error("%s needs a value: give %s", code ? "--code" : "--pattern",
                       code ? "an agency code like 000.00.01.H29" : "a pattern like H29 or 01.H29");
            return false;
        }
        size_t *count = code ? code_count : pattern_count;
        size_t max = code ? PROTO_DIRECTORY_BROKER_CODES : PROTO_DIRECTORY_BROKER_PATTERNS;
        if (*count >= max) {
            keys_error("more than %zu %s: a broker is home for at most %zu; use patterns", max,
                       code ? "--code options" : "--pattern options", max);
            return false;
        }
        (code ? codes : patterns)[(*count)++] = value;
    }
    *argc = kept;
    return true;
}

//  Check the codes and patterns before anything is loaded, so a typo is a
//  usage error that names the bad one.
static bool s_lists_ok(const char **codes, size_t code_count, const char **patterns,
                       size_t pattern_count)
{
    for (size_t i = 0; i < code_count; i++) {
        if (proto_agency_code_check(codes[i], strlen(codes[i])) != PROTO_OK) {
            keys_error("--code '%s' is not a valid agency code: codes look like 000.00.01.H01",
                       codes[i]);
            return false;
        }
    }
    for (size_t i = 0; i < pattern_count; i++) {
        char key[PROTO_AGENCY_CODE_LEN + 1];
        int literals = 0;
        const char *problem = NULL;
        if (proto_route_pattern_parse(patterns[i], key, &literals, &problem) != PROTO_OK) {
            keys_error("--pattern '%s' %s: write levels like H29, 01.H29 or *.*.01.*", patterns[i],
                       problem ? problem : "is not a pattern");
            return false;
        }
    }
    return true;
}

static int s_add_to(proto_directory_t *dir, const char *path, proto_directory_broker_t *b,
                    const char *pubfile)
{
    char err[512] = "", fp[PROTO_FINGERPRINT_LEN + 1];
    proto_fingerprint(b->sign_pk, fp);
    proto_err_t rc = proto_directory_broker_add(dir, b, err, sizeof err);
    switch (rc) {
    case PROTO_OK:
        break;
    case PROTO_ERR_EXISTS:
        keys_error("%s: every broker is added once and needs its own key; see `%s directory "
                   "list --dir %s`",
                   err, KEYS_PROGRAM, path);
        return KEYS_EXIT_FAIL;
    case PROTO_ERR_DIRECTORY:
        keys_error("cannot add broker %s: %s", b->label, err);
        return KEYS_EXIT_FAIL;
    default:
        keys_error("cannot add broker %s from %s (%s: %s): check the public file and the options",
                   b->label, pubfile, proto_strerror(rc), err);
        return KEYS_EXIT_FAIL;
    }
    int code = keys_directory_save(dir, path);
    if (code == KEYS_EXIT_OK)
        printf("%s: added broker %s (%s), home for %zu code%s and %zu pattern%s, serial %llu\n",
               path, b->label, fp, b->code_count, b->code_count == 1 ? "" : "s", b->pattern_count,
               b->pattern_count == 1 ? "" : "s", (unsigned long long) proto_directory_serial(dir));
    return code;
}

int keys_directory_add_broker(int argc, char **argv)
{
    keys_opt_t opts[] = { { "--dir", true, NULL, false }, { "--name", true, NULL, false } };
    const char **codes = malloc(PROTO_DIRECTORY_BROKER_CODES * sizeof *codes);
    const char *patterns[PROTO_DIRECTORY_BROKER_PATTERNS];
    const char *pos[1];
    size_t code_count = 0, pattern_count = 0;
    int npos = 0, code = KEYS_EXIT_USAGE;
    if (!codes) {
        keys_error("out of memory: free some memory and try again");
        return KEYS_EXIT_FAIL;
    }
    bool go = s_take_lists(&argc, argv, codes, &code_count, patterns, &pattern_count) &&
              keys_args_parse("directory add-broker", s_add_usage, s_help, argc, argv, opts, 2, pos,
                              1, 1, &npos, &code);
    if (go && !s_lists_ok(codes, code_count, patterns, pattern_count)) {
        go = false;
        code = KEYS_EXIT_USAGE;
    }
    if (!go) {
        free(codes);
        return code;
    }
    if (!opts[0].seen) {
        keys_error("--dir FILE is missing: say which directory file to change");
        free(codes);
        return KEYS_EXIT_USAGE;
    }
    if (opts[1].seen && proto_directory_name_check(opts[1].value) != PROTO_OK) {
        keys_error("--name must be 1 to %d characters without control characters, ';', or "
                   "leading, trailing or doubled spaces: fix the name",
                   PROTO_DIRECTORY_NAME_MAX);
        free(codes);
        return KEYS_EXIT_USAGE;
    }
    const char *path = opts[0].value;
    proto_public_t pub;
    code = keys_load_public(pos[0], &pub);
    if (code == KEYS_EXIT_OK && pub.role != PROTO_ROLE_BROKER) {
        keys_error("%s is the identity of agency %s: add agencies with `%s directory add`", pos[0],
                   pub.name, KEYS_PROGRAM);
        code = KEYS_EXIT_FAIL;
    }
    proto_directory_t *dir = NULL;
    if (code == KEYS_EXIT_OK)
        code = keys_directory_lock(path);
    if (code == KEYS_EXIT_OK)
        code = keys_load_directory(path, true, &dir, NULL);
    if (code == KEYS_EXIT_OK) {
        proto_directory_broker_t b;
        memset(&b, 0, sizeof b);
        snprintf(b.label, sizeof b.label, "%s", pub.name);
        b.name = opts[1].seen ? opts[1].value : pub.name;
        memcpy(b.sign_pk, pub.sign_pk, sizeof b.sign_pk);
        b.state = PROTO_DIRECTORY_ACTIVE;
        b.codes = codes;
        b.code_count = code_count;
        b.patterns = patterns;
        b.pattern_count = pattern_count;
        code = s_add_to(dir, path, &b, pos[0]);
    }
    proto_directory_destroy(&dir);
    free(codes);
    return code;
}

int keys_directory_set_home(int argc, char **argv)
{
    keys_opt_t opts[] = { { "--dir", true, NULL, false }, { "--local", false, NULL, false } };
    const char *pos[2];
    int npos = 0, code = 0;
    if (!keys_args_parse("directory set-home", s_home_usage, s_help, argc, argv, opts, 2, pos, 1, 2,
                         &npos, &code))
        return code;
    if (!opts[0].seen) {
        keys_error("--dir FILE is missing: say which directory file to change");
        return KEYS_EXIT_USAGE;
    }
    if ((npos == 2) == opts[1].seen) {
        keys_error("give either a broker LABEL or --local: `%s`", s_home_usage);
        return KEYS_EXIT_USAGE;
    }
    if (proto_agency_code_check(pos[0], strlen(pos[0])) != PROTO_OK) {
        keys_error("'%s' is not a valid agency code: codes look like 000.00.01.H01", pos[0]);
        return KEYS_EXIT_USAGE;
    }
    const char *path = opts[0].value, *home = npos == 2 ? pos[1] : "";
    code = keys_directory_lock(path);
    proto_directory_t *dir = NULL;
    if (code == KEYS_EXIT_OK)
        code = keys_load_directory(path, false, &dir, NULL);
    if (code != KEYS_EXIT_OK)
        return code;
    const proto_directory_entry_t *e = proto_directory_find(dir, pos[0]);
    char err[512] = "";
    proto_err_t rc = e && strcmp(e->home, home) == 0
                         ? PROTO_ERR_EXISTS
                         : proto_directory_set_home(dir, pos[0], home, err, sizeof err);
    code = KEYS_EXIT_FAIL;
    if (rc == PROTO_ERR_EXISTS) {
        printf("%s already has %s%s in %s; nothing changed\n", pos[0],
               *home ? "the home " : "no home (served here)", home, path);
        code = KEYS_EXIT_OK;
    } else if (rc == PROTO_ERR_UNKNOWN_AGENCY) {
        keys_error("agency %s is not in %s: add it with `%s directory add`", pos[0], path,
                   KEYS_PROGRAM);
    } else if (rc == PROTO_ERR_NOT_FOUND) {
        keys_error("broker %s is not in %s: add it first with `%s directory add-broker`", home,
                   path, KEYS_PROGRAM);
    } else if (rc == PROTO_ERR_DIRECTORY) {
        keys_error("%s: change that broker's codes, or name it as the home", err);
    } else if (rc != PROTO_OK) {
        keys_error("cannot change %s (%s): check the directory", pos[0], proto_strerror(rc));
    } else {
        code = keys_directory_save(dir, path);
        if (code == KEYS_EXIT_OK)
            printf("%s is now served by %s in %s, serial %llu\n", pos[0],
                   *home ? home : "this broker (no home)", path,
                   (unsigned long long) proto_directory_serial(dir));
    }
    proto_directory_destroy(&dir);
    return code;
}

int keys_broker_set_state(proto_directory_t *dir, const char *path, const char *label,
                          proto_directory_state_t state)
{
    const proto_directory_broker_t *b = proto_directory_broker_find(dir, label);
    if (!b) {
        keys_error("broker %s is not in %s: check the label with `%s directory list --dir %s`",
                   label, path, KEYS_PROGRAM, path);
        return KEYS_EXIT_FAIL;
    }
    if (b->state == state) {
        printf("broker %s is already %s in %s; nothing changed\n", label,
               proto_directory_state_name(state), path);
        return KEYS_EXIT_OK;
    }
    proto_err_t rc = proto_directory_broker_set_state(dir, label, state);
    if (rc == PROTO_ERR_BAD_STATE) {
        keys_error("broker %s is revoked, which is final: it cannot be %s (a revocation cannot "
                   "be undone)",
                   label, state == PROTO_DIRECTORY_ACTIVE ? "reinstated" : "suspended");
        return KEYS_EXIT_FAIL;
    }
    if (rc != PROTO_OK) {
        keys_error("cannot change broker %s (%s): check the directory", label, proto_strerror(rc));
        return KEYS_EXIT_FAIL;
    }
    int code = keys_directory_save(dir, path);
    if (code == KEYS_EXIT_OK)
        printf("broker %s is now %s in %s, serial %llu%s\n", label,
               proto_directory_state_name(state), path,
               (unsigned long long) proto_directory_serial(dir),
               state == PROTO_DIRECTORY_REVOKED ? " (final)" : "");
    return code;
}

//  The codes and patterns of a broker on one line: "000.00.01.H01 H29 01.*".
static void s_print_rules(const proto_directory_broker_t *b)
{
    for (size_t i = 0; i < b->code_count; i++)
        printf("%s%s", i ? " " : "", b->codes[i]);
    for (size_t i = 0; i < b->pattern_count; i++)
        printf("%s%s", i || b->code_count ? " " : "", b->patterns[i]);
    if (!b->code_count && !b->pattern_count)
        putchar('-');
}

void keys_brokers_list(const proto_directory_t *dir)
{
    size_t count = proto_directory_broker_count(dir);
    if (count == 0)
        return;
    char fp[PROTO_FINGERPRINT_LEN + 1];
    printf("# %zu %s\n", count, count == 1 ? "broker" : "brokers");
    printf("%-20s  %-9s  %-39s  %-30s  %s\n", "BROKER", "STATE", "FINGERPRINT", "NAME", "HOME FOR");
    for (size_t i = 0; i < count; i++) {
        const proto_directory_broker_t *b = proto_directory_broker(dir, i);
        proto_fingerprint(b->sign_pk, fp);
        printf("%-20s  %-9s  %-39s  %-30s  ", b->label, proto_directory_state_name(b->state), fp,
               b->name);
        s_print_rules(b);
        putchar('\n');
    }
}

static void s_json_list(const char *key, const char *const *items, size_t count)
{
    printf(",\"%s\":[", key);
    for (size_t i = 0; i < count; i++) {
        if (i)
            putchar(',');
        keys_json_string(items[i]);
    }
    putchar(']');
}

void keys_brokers_json(const proto_directory_t *dir)
{
    char hex[65], fp[PROTO_FINGERPRINT_LEN + 1];
    fputs(",\"brokers\":[", stdout);
    for (size_t i = 0; i < proto_directory_broker_count(dir); i++) {
        const proto_directory_broker_t *b = proto_directory_broker(dir, i);
        printf("%s{\"kind\":\"broker\",\"label\":", i ? "," : "");
        keys_json_string(b->label);
        fputs(",\"name\":", stdout);
        keys_json_string(b->name);
        printf(",\"state\":\"%s\",\"sign_key\":\"", proto_directory_state_name(b->state));
        proto_hex_encode(b->sign_pk, 32, hex);
        fputs(hex, stdout);
        proto_hex_encode(b->curve_pk, 32, hex);
        proto_fingerprint(b->sign_pk, fp);
        printf("\",\"curve_key\":\"%s\",\"fingerprint\":\"%s\"", hex, fp);
        s_json_list("codes", b->codes, b->code_count);
        s_json_list("patterns", b->patterns, b->pattern_count);
        putchar('}');
    }
    putchar(']');
}

int keys_broker_show(const proto_directory_t *dir, const char *path, const char *label)
{
    const proto_directory_broker_t *b = proto_directory_broker_find(dir, label);
    if (!b) {
        keys_error("broker %s is not in %s: check the label with `%s directory list --dir %s`",
                   label, path, KEYS_PROGRAM, path);
        return KEYS_EXIT_FAIL;
    }
    char hex[65], z85[41], fp[PROTO_FINGERPRINT_LEN + 1];
    keys_field("broker:", b->label);
    keys_field("name:", b->name);
    keys_field("state:", proto_directory_state_name(b->state));
    keys_field("routes to it:", b->state == PROTO_DIRECTORY_ACTIVE      ? "yes"
                                : b->state == PROTO_DIRECTORY_SUSPENDED ? "no (suspended)"
                                                                        : "no (revoked)");
    printf("%-14s", "home for:");
    s_print_rules(b);
    putchar('\n');
    proto_hex_encode(b->sign_pk, 32, hex);
    keys_field("sign key:", hex);
    proto_hex_encode(b->curve_pk, 32, hex);
    keys_field("curve key:", hex);
    if (proto_z85_encode(b->curve_pk, 32, z85, sizeof z85) == PROTO_OK)
        keys_field("curve z85:", z85);
    proto_fingerprint(b->sign_pk, fp);
    keys_field("fingerprint:", fp);
    return KEYS_EXIT_OK;
}
