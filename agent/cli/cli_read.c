/*  cli_read - the `truc` commands that show what the agent holds: fetch,
    one sent document, quarantine, health, directory (the lists, inbox and
    sent, are in cli_list.c).

    Tables show the fields a clerk looks at; --json shows every field the
    agent sent, so scripts never depend on what fits on a screen.
*/
#include "cli_read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_agent.h"
#include "cli_ids.h"
#include "cli_edxml.h"
#include "cli_json.h"
#include "cli_out.h"
#include "proto/agency.h"
#include "proto/err.h"

#define SUBJECT_WIDTH 60 // characters of a subject in a table
#define BIG_TOTAL     (1u << 20)
#define FETCH_TIMEOUT 60000 // ms: the agent verifies and writes every attachment first

typedef void(s_printer_fn)(const msgpack_object *root, void *arg);

//  Send *req_p (destroyed here) and print the reply: JSON with --json, else
//  through print. Returns the exit code.
static int s_query(const cli_opts_t *opts, cli_req_t **req_p, const cli_call_t *how,
                   s_printer_fn *print, void *arg)
{
    if (!*req_p)
        return CLI_EXIT_LOCAL;
    cli_agent_t *agent = cli_agent_new(opts);
    if (!agent) {
        fprintf(stderr, "truc: cannot start ZeroMQ (out of memory?)\n");
        cli_req_destroy(req_p);
        return CLI_EXIT_LOCAL;
    }
    cli_reply_t *reply = NULL;
    int status = cli_agent_call(agent, *req_p, how, &reply);
    if (status == CLI_EXIT_OK) {
        if (opts->json)
            cli_json_reply(stdout, cli_reply_root(reply), false);
        else
            print(cli_reply_root(reply), arg);
    }
    cli_reply_destroy(&reply);
    cli_req_destroy(req_p);
    cli_agent_destroy(&agent);
    return status;
}

//  A command that takes no arguments beyond the global options.
static int s_no_arguments(cli_parser_t *p)
{
    while (cli_parser_next(p) != -1)
        ;
    if (p->stop)
        return p->status;
    if (cli_parser_npos(p) > 0)
        return cli_usage_error(p->cmd, "unexpected argument '%s'", cli_parser_pos(p, 0));
    return CLI_EXIT_OK;
}

static bool s_time_key(const char *key, size_t n)
{
    static const char *const keys[] = { "time", "since", "created", "received", "accepted" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strlen(keys[i]) == n && memcmp(keys[i], key, n) == 0)
            return true;
    return false;
}

//  A value as a cell: times as local time, everything else as short text.
static void s_cell(const msgpack_object *map, const char *key, char *buf, size_t cap)
{
    const msgpack_object *v = cli_get(map, key);
    if (!v)
        snprintf(buf, cap, "-");
    else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && s_time_key(key, strlen(key)))
        cli_time_text(v->via.u64, false, buf, cap);
    else
        cli_value_text(v, buf, cap);
}

//  Every scalar field of a map as "key value" lines, except "ok".
static void s_print_fields(const msgpack_object *map)
{
    char label[64], value[2048];
    for (uint32_t i = 0; map->type == MSGPACK_OBJECT_MAP && i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key, *v = &map->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR ||
            (k->via.str.size == 2 && !memcmp(k->via.str.ptr, "ok", 2)))
            continue;
        cli_text(k->via.str.ptr, k->via.str.size, 40, label, sizeof label);
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
            s_time_key(k->via.str.ptr, k->via.str.size))
            cli_time_text(v->via.u64, true, value, sizeof value);
        else
            cli_value_text(v, value, sizeof value);
        cli_kv(stdout, label, value);
    }
}

static const char *s_op_name(uint64_t op)
{
    static const char *const names[] = { "new", "revoke", "update", "replace" };
    return op < 4 ? names[op] : "?";
}

// ---------------------------------------------------------------------------
//  fetch

static const char s_fetch_usage[] =
    "usage: truc fetch ID [--out DIR]\n"
    "\n"
    "Show one received document and have the agent write its attachments into\n"
    "DIR/ID/ (DIR is created if needed). Prints the envelope's main fields and the\n"
    "path of each attachment. Fetching does not acknowledge: run 'truc ack ID' once\n"
    "the document is registered.\n"
    "\n"
    "  --out DIR   where the attachments go (default: the current directory). The\n"
    "              agent writes them, as its own user: it must be allowed to.\n"
    "\n"
    "Example:\n"
    "  truc fetch 4fd6f877-1bab-4a47-8545-fa919b9e47fd --out /srv/dms/in\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

//  mkdir -p, the missing levels with mode. Returns 0 or -1 with errno.
//  One directory of s_mkdirs. In a setgid directory, a folder shared by a
//  group (the installed exchange directory: 2770, group truc-dms), the new
//  one gets its parent's group permissions whatever our umask: the agent
//  writes the documents into it as its own user, a member of that group
//  but not the one running truc (deploy/OPERATIONS.md).
static int s_mkdir(char *path, mode_t mode)
{
    if (mkdir(path, mode) != 0)
        return errno == EEXIST ? 0 : -1;
    struct stat st, parent;
    if (stat(path, &st) != 0 || !(st.st_mode & S_ISGID))
        return 0;
    char *slash = strrchr(path, '/');
    int ok;
    if (!slash) {
        ok = stat(".", &parent) == 0;
    } else if (slash == path) {
        ok = stat("/", &parent) == 0;
    } else {
        *slash = '\0';
        ok = stat(path, &parent) == 0;
        *slash = '/';
    }
    if (ok && (parent.st_mode & S_ISGID))
        return chmod(path, (st.st_mode & 07707) | (parent.st_mode & 0070));
    return 0;
}

static int s_mkdirs(const char *path, mode_t mode)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = '\0';
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (s_mkdir(copy, mode) != 0) {
            free(copy);
            return -1;
        }
        *p = '/';
    }
    int rc = s_mkdir(copy, mode);
    free(copy);
    return rc;
}

//  The brokers a document crossed, the sender's first, as one line:
//  "hcm 09:15:02 > national 09:15:02 > hanoi 09:15:03".
static void s_route_print(const msgpack_object *route)
{
    if (!route || route->type != MSGPACK_OBJECT_ARRAY || !route->via.array.size)
        return;
    char value[1024] = "";
    size_t used = 0;
    for (uint32_t i = 0; i < route->via.array.size && used < sizeof value; i++) {
        char broker[64], when[32];
        s_cell(&route->via.array.ptr[i], "broker", broker, sizeof broker);
        s_cell(&route->via.array.ptr[i], "time", when, sizeof when);
        int n =
            snprintf(value + used, sizeof value - used, "%s%s %s", i ? " > " : "", broker, when);
        used += n > 0 ? (size_t) n : 0;
    }
    cli_kv(stdout, "route", value);
}

static void s_fetch_print(const msgpack_object *root, void *arg)
{
    (void) arg;
    const msgpack_object *doc = cli_get(root, "document");
    char value[4096], extra[1024];
    uint64_t u;
    static const struct {
        const char *key;
        const char *label;
    } fields[] = {
        { "id", "id" },
        { "from", "from" },
        { "to", "to" },
        { "created", "signed" },
        { "type", "type" },
        { "number", "number" },
        { "notation", "notation" },
        { "subject", "subject" },
        { "place", "place" },
        { "date", "date" },
        { "due", "due" },
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const msgpack_object *v = cli_get(doc, fields[i].key);
        if (!v)
            continue;
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
            s_time_key(fields[i].key, strlen(fields[i].key)))
            cli_time_text(v->via.u64, true, value, sizeof value);
        else
            cli_value_text(v, value, sizeof value);
        cli_kv(stdout, fields[i].label, value);
    }
    if (cli_get_uint(doc, "urgency", &u))
        cli_kv(stdout, "urgency", cli_urgency_name(u) ? cli_urgency_name(u) : "?");
    const msgpack_object *signer = cli_get(doc, "signer");
    if (signer) {
        char name[512], position[512], competence[256];
        const char *c = cli_get_text(signer, "competence", competence, sizeof competence);
        const char *n = cli_get_text(signer, "name", name, sizeof name);
        const char *pos = cli_get_text(signer, "position", position, sizeof position);
        snprintf(value, sizeof value, "%s%s%s%s%s", c ? c : "", c ? " " : "", n ? n : "-",
                 pos ? ", " : "", pos ? pos : "");
        cli_kv(stdout, "signer", value);
    }
    if (cli_get_uint(doc, "op", &u) && u != 0) {
        const msgpack_object *refs = cli_get(doc, "op_refs");
        if (refs)
            cli_value_text(refs, extra, sizeof extra);
        snprintf(value, sizeof value, "%s of %s", s_op_name(u), refs ? extra : "?");
        cli_kv(stdout, "operation", value);
        if (cli_get_text(doc, "op_reason", extra, sizeof extra))
            cli_kv(stdout, "reason", extra);
    }
    const msgpack_object *content = cli_get(doc, "content");
    if (content && content->type == MSGPACK_OBJECT_STR) {
        cli_text(content->via.str.ptr, content->via.str.size, 300, value, sizeof value);
        cli_kv(stdout, "content", value);
    }
    if (cli_get_uint(root, "received", &u)) {
        cli_time_text(u, true, value, sizeof value);
        cli_kv(stdout, "received", value);
    }
    int acked = cli_get_bool(root, "acked");
    if (acked >= 0)
        cli_kv(stdout, "acked", acked ? "yes" : "no");
    s_route_print(cli_get(root, "route"));

    const msgpack_object *notices = cli_get(root, "notices");
    if (notices && notices->type == MSGPACK_OBJECT_ARRAY && notices->via.array.size) {
        printf("notices:\n");
        for (uint32_t i = 0; i < notices->via.array.size; i++) {
            const msgpack_object *n = &notices->via.array.ptr[i];
            char when[32], from[64], note[2048];
            uint64_t code = 0;
            cli_get_uint(n, "code", &code);
            s_cell(n, "time", when, sizeof when);
            s_cell(n, "from", from, sizeof from);
            const char *name = cli_status_name(code);
            const char *text = cli_get_text(n, "note", note, sizeof note);
            printf("  %s  %s  %02llu %s%s%s\n", when, from, (unsigned long long) code,
                   name ? name : "", text ? ": " : "", text ? text : "");
        }
    }

    const msgpack_object *atts = cli_get(root, "attachments");
    uint64_t total = 0;
    size_t count = 0;
    if (atts && atts->type == MSGPACK_OBJECT_ARRAY && atts->via.array.size) {
        printf("attachments:\n");
        for (uint32_t i = 0; i < atts->via.array.size; i++) {
            const msgpack_object *a = &atts->via.array.ptr[i];
            char where[4200], size[32], type[256];
            if (!cli_get_text(a, "path", where, sizeof where) &&
                !cli_get_text(a, "name", where, sizeof where))
                snprintf(where, sizeof where, "?");
            if (cli_get_uint(a, "size", &u)) {
                cli_size_text(u, size, sizeof size);
                total += u;
            } else {
                snprintf(size, sizeof size, "?");
            }
            printf("  %s  (%s, %s)\n", where, size,
                   cli_get_text(a, "type", type, sizeof type) ? type : "?");
            count++;
        }
    }
    if (total >= BIG_TOTAL) {
        char size[32];
        cli_size_text(total, size, sizeof size);
        fprintf(stderr, "verified and wrote %zu attachment%s (%s)\n", count, count == 1 ? "" : "s",
                size);
    }
}

int cli_fetch(cli_opts_t *opts, int argc, char **argv)
{
    if (cli_edxml_wanted(argc, argv))
        return cli_edxml_fetch(opts, argc, argv); // as an edXML package (cli_edxml.c)
    static const struct option options[] = {
        { "out", required_argument, NULL, 'o' },
        CLI_GLOBAL_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    const char *out = ".";
    int opt;
    char id[PROTO_ID_TEXT_LEN];

    cli_parser_t p;
    cli_parser_init(&p, "fetch", s_fetch_usage, options, opts, argc, argv);
    while ((opt = cli_parser_next(&p)) != -1)
        out = optarg;
    if (p.stop)
        return p.status;
    if (cli_parser_npos(&p) != 1)
        return cli_usage_error("fetch", "%s",
                               cli_parser_npos(&p) ? "one document at a time"
                                                   : "which document? give its id");
    int found = cli_id_resolve(opts, "fetch", cli_parser_pos(&p, 0), CLI_IDS_INBOX, id);
    if (found != CLI_EXIT_OK)
        return found;
    if (!out[0])
        return cli_usage_error("fetch", "--out is empty: give a directory");

    //  The agent runs elsewhere (its own working directory): it needs an
    //  absolute path, and realpath needs the directory to exist.
    if (s_mkdirs(out, 0750) != 0) {
        fprintf(stderr, "truc: cannot create the directory %s: %s: choose another --out\n", out,
                strerror(errno));
        return CLI_EXIT_LOCAL;
    }
    char *dir = cli_realpath(out);
    if (!dir) {
        fprintf(stderr, "truc: cannot resolve the directory %s: %s\n", out, strerror(errno));
        return CLI_EXIT_LOCAL;
    }
    cli_req_t *req = cli_req_new("fetch");
    if (req) {
        cli_req_kstr(req, "id", id);
        cli_req_kstr(req, "dir", dir);
    }
    cli_call_t how = {
        .timeout_ms = opts->timeout_ms ? opts->timeout_ms : FETCH_TIMEOUT,
        .slow_note = "the agent is verifying and writing the attachments\xe2\x80\xa6",
    };
    int status = s_query(opts, &req, &how, s_fetch_print, NULL);
    free(dir);
    return status;
}

// ---------------------------------------------------------------------------
//  sent

//  The status notices in list that agency sent (all of them when agency is
//  NULL), as one cell of text.
static void s_statuses_text(const msgpack_object *list, const char *agency, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size;
         i++) {
        const msgpack_object *s = &list->via.array.ptr[i];
        char from[64];
        if (agency && (!cli_get_text(s, "from", from, sizeof from) || strcmp(from, agency) != 0))
            continue;
        uint64_t code = 0;
        char note[512];
        cli_get_uint(s, "code", &code);
        const char *name = cli_status_name(code);
        const char *text = cli_get_text(s, "note", note, sizeof note);
        int n = snprintf(buf + used, cap - used, "%s%02llu %s%s%s%s", used ? "; " : "",
                         (unsigned long long) code, name ? name : "", text ? " \"" : "",
                         text ? text : "", text ? "\"" : "");
        if (n < 0 || (size_t) n >= cap - used)
            break;
        used += (size_t) n;
    }
    if (!buf[0])
        snprintf(buf, cap, "-");
}

static void s_sent_one_print(const msgpack_object *root, void *arg)
{
    (void) arg;
    const msgpack_object *doc = cli_get(root, "document");
    char value[4096];
    static const char *const keys[] = { "id", "kind",    "subject", "number",   "notation", "date",
                                        "to", "created", "state",   "accepted", "seq" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const msgpack_object *v = cli_get(doc, keys[i]);
        if (!v)
            continue;
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && s_time_key(keys[i], strlen(keys[i])))
            cli_time_text(v->via.u64, true, value, sizeof value);
        else
            cli_value_text(v, value, sizeof value);
        cli_kv(stdout, keys[i], value);
    }
    uint64_t code;
    if (cli_get_uint(doc, "code", &code) && code != 0) {
        char reason[2048];
        const char *text = cli_get_text(doc, "reason", reason, sizeof reason);
        snprintf(value, sizeof value, "%s (%llu)%s%s", proto_errname((proto_err_t) code),
                 (unsigned long long) code, text ? ": " : "", text ? text : "");
        cli_kv(stdout, "refused", value);
    }

    const msgpack_object *recipients = cli_get(doc, "recipients");
    if (recipients && recipients->type == MSGPACK_OBJECT_ARRAY) {
        static const char *const headers[] = { "agency", "state", "time", "statuses" };
        cli_table_t *table = cli_table_new(4, headers);
        if (table) {
            cli_table_limit(table, 3, 100);
            for (uint32_t i = 0; i < recipients->via.array.size; i++) {
                const msgpack_object *r = &recipients->via.array.ptr[i];
                char agency[64], state[64], when[32], statuses[2048];
                s_cell(r, "agency", agency, sizeof agency);
                s_cell(r, "state", state, sizeof state);
                if (cli_get_uint(r, "code", &code) && code != 0) {
                    size_t n = strlen(state);
                    snprintf(state + n, sizeof state - n, " (%s)",
                             proto_errname((proto_err_t) code));
                }
                s_cell(r, "time", when, sizeof when);
                s_statuses_text(cli_get(doc, "notices"), agency, statuses, sizeof statuses);
                const char *cells[] = { agency, state, when, statuses };
                cli_table_add(table, cells);
            }
            printf("recipients:\n");
            cli_table_print(table, stdout);
            cli_table_destroy(&table);
        }
    }
    const msgpack_object *receipts = cli_get(doc, "receipts");
    if (receipts && receipts->type == MSGPACK_OBJECT_ARRAY) {
        static const char *const headers[] = { "receipt", "signer", "time", "verified" };
        cli_table_t *table = cli_table_new(4, headers);
        if (table) {
            for (uint32_t i = 0; i < receipts->via.array.size; i++) {
                const msgpack_object *r = &receipts->via.array.ptr[i];
                char kind[64], signer[128], when[32], verified[8];
                s_cell(r, "kind", kind, sizeof kind);
                s_cell(r, "signer", signer, sizeof signer);
                s_cell(r, "time", when, sizeof when);
                s_cell(r, "verified", verified, sizeof verified);
                const char *cells[] = { kind, signer, when, verified };
                cli_table_add(table, cells);
            }
            printf("receipts:\n");
            cli_table_print(table, stdout);
            cli_table_destroy(&table);
        }
    }
}

int cli_sent_show(const cli_opts_t *opts, const char *given)
{
    char id[PROTO_ID_TEXT_LEN];
    int status = cli_id_resolve(opts, "sent", given, CLI_IDS_SENT, id);
    if (status != CLI_EXIT_OK)
        return status;
    cli_req_t *req = cli_req_new("sent");
    if (req)
        cli_req_kstr(req, "id", id);
    return s_query(opts, &req, NULL, s_sent_one_print, NULL);
}

// ---------------------------------------------------------------------------
//  quarantine, health, directory

static const char s_quarantine_usage[] =
    "usage: truc quarantine\n"
    "\n"
    "Documents that failed a check on arrival (a bad signature, an unknown sender,\n"
    "a wrong attachment hash). They are kept for inspection, never shown in the\n"
    "inbox, and their senders were told they were refused.\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

static void s_quarantine_print(const msgpack_object *root, void *arg)
{
    (void) arg;
    static const char *const headers[] = { "id", "received", "from", "error", "reason" };
    cli_table_t *table = cli_table_new(5, headers);
    if (!table)
        return;
    cli_table_limit(table, 4, SUBJECT_WIDTH);
    const msgpack_object *docs = cli_get(root, "documents");
    for (uint32_t i = 0; docs && docs->type == MSGPACK_OBJECT_ARRAY && i < docs->via.array.size;
         i++) {
        const msgpack_object *doc = &docs->via.array.ptr[i];
        char id[64], received[32], from[64], name[96], error[128], reason[2048];
        uint64_t code = 0;
        s_cell(doc, "id", id, sizeof id);
        s_cell(doc, "received", received, sizeof received);
        s_cell(doc, "from", from, sizeof from);
        cli_get_uint(doc, "code", &code);
        snprintf(error, sizeof error, "%s (%llu)",
                 cli_get_text(doc, "error", name, sizeof name) ? name
                                                               : proto_errname((proto_err_t) code),
                 (unsigned long long) code);
        s_cell(doc, "reason", reason, sizeof reason);
        const char *cells[] = { id, received, from, error, reason };
        cli_table_add(table, cells);
    }
    cli_table_print(table, stdout);
    cli_table_destroy(&table);
}

int cli_quarantine(cli_opts_t *opts, int argc, char **argv)
{
    static const struct option options[] = { CLI_GLOBAL_OPTIONS, { NULL, 0, NULL, 0 } };
    cli_parser_t p;
    cli_parser_init(&p, "quarantine", s_quarantine_usage, options, opts, argc, argv);
    int status = s_no_arguments(&p);
    if (status != CLI_EXIT_OK || p.stop)
        return status;
    cli_req_t *req = cli_req_new("quarantine");
    return s_query(opts, &req, NULL, s_quarantine_print, NULL);
}

static const char s_health_usage[] =
    "usage: truc health\n"
    "\n"
    "The agent's state: its agency, whether it is connected to the broker (and\n"
    "since when), whether the broker refuses its key (refused), documents and\n"
    "notices waiting in the outbox, unread documents, quarantined documents,\n"
    "whether its disk is full (store_full), the agency directory's serial, the\n"
    "last connection problem. Exits 0 whenever the agent answers, connected or\n"
    "not (scripts: use --json and read \"connected\").\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

static void s_health_print(const msgpack_object *root, void *arg)
{
    (void) arg;
    s_print_fields(root);
}

int cli_health(cli_opts_t *opts, int argc, char **argv)
{
    static const struct option options[] = { CLI_GLOBAL_OPTIONS, { NULL, 0, NULL, 0 } };
    cli_parser_t p;
    cli_parser_init(&p, "health", s_health_usage, options, opts, argc, argv);
    int status = s_no_arguments(&p);
    if (status != CLI_EXIT_OK || p.stop)
        return status;
    cli_req_t *req = cli_req_new("health");
    return s_query(opts, &req, NULL, s_health_print, NULL);
}

static const char s_log_clear_usage[] =
    "usage: truc log-clear\n"
    "\n"
    "Clear the broker log alarm ('truc health' shows log.alarm) once it has been\n"
    "looked into: the agent forgets the alarm and the log head it held, and takes\n"
    "the broker's next head as its new starting point. Prints what was cleared,\n"
    "the evidence included: keep it (--json prints it whole).\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

int cli_log_clear(cli_opts_t *opts, int argc, char **argv)
{
    static const struct option options[] = { CLI_GLOBAL_OPTIONS, { NULL, 0, NULL, 0 } };
    cli_parser_t p;
    cli_parser_init(&p, "log-clear", s_log_clear_usage, options, opts, argc, argv);
    int status = s_no_arguments(&p);
    if (status != CLI_EXIT_OK || p.stop)
        return status;
    cli_req_t *req = cli_req_new("log_clear");
    return s_query(opts, &req, NULL, s_health_print, NULL);
}

static const char s_directory_usage[] =
    "usage: truc directory\n"
    "\n"
    "The agency directory as the broker signed it: every agency this one can send\n"
    "to, with its code, name and state (active, suspended, revoked).\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

static void s_directory_print(const msgpack_object *root, void *arg)
{
    (void) arg;
    static const char *const headers[] = { "code", "state", "name" };
    cli_table_t *table = cli_table_new(3, headers);
    if (!table)
        return;
    const msgpack_object *list = cli_get(root, "agencies");
    for (uint32_t i = 0; list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size;
         i++) {
        const msgpack_object *a = &list->via.array.ptr[i];
        char code[64], state[32], name[1024];
        s_cell(a, "code", code, sizeof code);
        s_cell(a, "state", state, sizeof state);
        s_cell(a, "name", name, sizeof name);
        const char *cells[] = { code, state, name };
        cli_table_add(table, cells);
    }
    uint64_t serial;
    if (cli_get_uint(root, "serial", &serial))
        printf("directory serial %llu, %zu agencies\n", (unsigned long long) serial,
               cli_table_rows(table));
    cli_table_print(table, stdout);
    cli_table_destroy(&table);
}

int cli_directory(cli_opts_t *opts, int argc, char **argv)
{
    static const struct option options[] = { CLI_GLOBAL_OPTIONS, { NULL, 0, NULL, 0 } };
    cli_parser_t p;
    cli_parser_init(&p, "directory", s_directory_usage, options, opts, argc, argv);
    int status = s_no_arguments(&p);
    if (status != CLI_EXIT_OK || p.stop)
        return status;
    cli_req_t *req = cli_req_new("directory");
    return s_query(opts, &req, NULL, s_directory_print, NULL);
}
