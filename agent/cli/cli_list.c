/*  cli_list - the `truc` lists: inbox and sent, page by page and filtered.

    The agent lists in a stable order (inbox: as received; sent: as
    created) and in pages; this module walks those pages. A clerk's
    `truc sent` still shows the most recent documents first: the walk goes
    through every page and keeps only the last --limit documents, copied,
    so memory stays bounded by the page however long the list.
*/
#include "cli_list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_ids.h"
#include "cli_json.h"
#include "cli_out.h"
#include "cli_read.h"
#include "cli_vocab.h"
#include "proto/agency.h"
#include "proto/err.h"

#define SUBJECT_WIDTH 60 // characters of a subject in a table
#define AGENCY_WIDTH  40 // characters of "code name" in a table
#define PAGE_MAX      1000

// ---------------------------------------------------------------------------
//  Queries

void cli_query_init(cli_query_t *q, const char *cmd)
{
    memset(q, 0, sizeof *q);
    q->cmd = cmd;
    q->urgency = -1;
}

//  A date alone as --until means to the end of that day.
static bool s_date_only(const char *text)
{
    return strlen(text) == 10 && text[4] == '-' && text[7] == '-';
}

int cli_query_option(cli_query_t *q, const char *cmd, int opt, const char *arg)
{
    uint64_t when;
    switch (opt) {
    case CLI_LIST_SINCE:
    case CLI_LIST_UNTIL:
        if (!cli_parse_time(arg, cli_now_ms(), &when))
            return cli_usage_error(cmd,
                                   "%s '%s' is not a time (2025-11-21, \"2025-11-21 08:00\", "
                                   "12h, 7d)",
                                   opt == CLI_LIST_SINCE ? "--since" : "--until", arg);
        if (opt == CLI_LIST_SINCE)
            q->since = when;
        else
            q->until = s_date_only(arg) ? when + 86400000 - 1 : when;
        if (q->until && q->until < q->since)
            return cli_usage_error(cmd, "--until is before --since");
        return CLI_EXIT_OK;
    case CLI_LIST_AGENCY:
        if (proto_agency_code_check(arg, strlen(arg)) != PROTO_OK)
            return cli_usage_error(cmd, "--agency '%s' is not an agency code (like 000.00.01.H01)",
                                   arg);
        q->agency = arg;
        return CLI_EXIT_OK;
    case CLI_LIST_STATE:
        q->state = arg;
        return CLI_EXIT_OK;
    case CLI_LIST_URGENCY:
        if (!cli_vocab_urgency(arg, &q->urgency))
            return cli_usage_error(cmd,
                                   "--urgency '%s' is not one of normal, urgent, very-urgent, "
                                   "immediate (thường, khẩn, thượng khẩn, hỏa tốc)",
                                   arg);
        return CLI_EXIT_OK;
    case CLI_LIST_NUMBER: {
        //  "123/UBND-VP" as clerks write số/ký hiệu: the number and the
        //  notation at once.
        const char *slash = strchr(arg, '/');
        size_t n = slash ? (size_t) (slash - arg) : strlen(arg);
        if (n == 0 || n >= sizeof q->number || (slash && !slash[1]) ||
            (slash && strlen(slash + 1) >= sizeof q->notation_buf))
            return cli_usage_error(cmd, "--number '%s' is not NUMBER or NUMBER/NOTATION", arg);
        memcpy(q->number, arg, n);
        q->number[n] = '\0';
        if (slash) {
            snprintf(q->notation_buf, sizeof q->notation_buf, "%s", slash + 1);
            q->notation = q->notation_buf;
        }
        return CLI_EXIT_OK;
    }
    case CLI_LIST_NOTATION:
        q->notation = arg;
        return CLI_EXIT_OK;
    case CLI_LIST_SUBJECT:
        q->subject = arg;
        return CLI_EXIT_OK;
    default:
        return CLI_EXIT_USAGE;
    }
}

void cli_query_pack(const cli_query_t *q, cli_req_t *req)
{
    if (q->since)
        cli_req_kuint(req, "since", q->since);
    if (q->until)
        cli_req_kuint(req, "until", q->until);
    cli_req_kstr(req, "agency", q->agency);
    cli_req_kstr(req, "state", q->state);
    if (q->urgency >= 0)
        cli_req_kuint(req, "urgency", (uint64_t) q->urgency);
    cli_req_kstr(req, "number", q->number);
    cli_req_kstr(req, "notation", q->notation);
    cli_req_kstr(req, "subject", q->subject);
    if (q->limit)
        cli_req_kuint(req, "limit", q->limit);
}

int cli_query_each(cli_agent_t *agent, const cli_query_t *q, const char *cursor, bool all,
                   cli_list_fn *fn, void *arg, char *cursor_out, size_t cap)
{
    char at[256];
    snprintf(at, sizeof at, "%s", cursor ? cursor : "");
    for (bool go = true; go;) {
        cli_req_t *req = cli_req_new(q->cmd);
        if (!req)
            return CLI_EXIT_LOCAL;
        cli_query_pack(q, req);
        cli_req_kstr(req, "cursor", at);
        cli_reply_t *reply = NULL;
        int status = cli_agent_call(agent, req, NULL, &reply);
        cli_req_destroy(&req);
        if (status != CLI_EXIT_OK)
            return status;
        const msgpack_object *root = cli_reply_root(reply);
        const msgpack_object *docs = cli_get(root, "documents");
        for (uint32_t i = 0;
             go && docs && docs->type == MSGPACK_OBJECT_ARRAY && i < docs->via.array.size; i++)
            go = fn(&docs->via.array.ptr[i], arg);
        const msgpack_object *next = cli_get(root, "cursor");
        if (next && next->type == MSGPACK_OBJECT_STR && next->via.str.size < sizeof at) {
            memcpy(at, next->via.str.ptr, next->via.str.size);
            at[next->via.str.size] = '\0';
        } else {
            at[0] = '\0';
        }
        cli_reply_destroy(&reply);
        go = go && all && at[0];
    }
    if (cursor_out)
        snprintf(cursor_out, cap, "%s", at);
    return CLI_EXIT_OK;
}

// ---------------------------------------------------------------------------
//  Agency names

struct cli_names {
    cli_agent_t *agent; // borrowed; asked on the first lookup
    bool asked;         //
    cli_reply_t *reply; // the directory, or NULL
};

cli_names_t *cli_names_new(cli_agent_t *agent)
{
    cli_names_t *self = calloc(1, sizeof *self);
    if (self)
        self->agent = agent;
    return self;
}

void cli_names_destroy(cli_names_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cli_reply_destroy(&(*self_p)->reply);
    free(*self_p);
    *self_p = NULL;
}

const char *cli_names_get(cli_names_t *self, const char *code, char *buf, size_t cap)
{
    //  Asked only once a list has answered: an agent that does not answer
    //  costs one timeout, not two.
    if (self && !self->asked) {
        self->asked = true;
        cli_req_t *req = cli_req_new("directory");
        cli_call_t how = { .quiet = true };
        if (req)
            (void) cli_agent_call(self->agent, req, &how, &self->reply);
        cli_req_destroy(&req);
    }
    const msgpack_object *list =
        self && self->reply ? cli_get(cli_reply_root(self->reply), "agencies") : NULL;
    for (uint32_t i = 0;
         code && list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size; i++) {
        char got[64];
        const msgpack_object *e = &list->via.array.ptr[i];
        if (cli_get_text(e, "code", got, sizeof got) && strcmp(got, code) == 0) {
            //  A directory without names gives the code as the name.
            const char *name = cli_get_text(e, "name", buf, cap);
            return name && strcmp(name, code) != 0 ? name : NULL;
        }
    }
    return NULL;
}

void cli_names_cell(cli_names_t *self, const char *code, char *buf, size_t cap)
{
    char name[512];
    const char *known = cli_names_get(self, code, name, sizeof name);
    snprintf(buf, cap, "%s%s%s", code ? code : "-", known ? " " : "", known ? known : "");
}

// ---------------------------------------------------------------------------
//  What lists print

//  A field as a cell: times as local time, everything else as short text.
static void s_cell(const msgpack_object *map, const char *key, bool time, char *buf, size_t cap)
{
    const msgpack_object *v = cli_get(map, key);
    if (!v)
        snprintf(buf, cap, "-");
    else if (time && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        cli_time_text(v->via.u64, false, buf, cap);
    else
        cli_value_text(v, buf, cap);
}

void cli_list_recipients_text(const msgpack_object *recipients, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t i = 0;
         recipients && recipients->type == MSGPACK_OBJECT_MAP && i < recipients->via.map.size;
         i++) {
        char state[32];
        const msgpack_object_kv *kv = &recipients->via.map.ptr[i];
        if (kv->val.type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            continue;
        cli_value_text(&kv->key, state, sizeof state);
        int w = snprintf(buf + used, cap - used, "%s%llu %s", used ? ", " : "",
                         (unsigned long long) kv->val.via.u64, state);
        if (w < 0 || (size_t) w >= cap - used)
            break;
        used += (size_t) w;
    }
    if (!buf[0])
        snprintf(buf, cap, "-");
}

static const char *s_op_name(uint64_t op)
{
    static const char *const names[] = { "new", "revoke", "update", "replace" };
    return op < 4 ? names[op] : "?";
}

typedef struct {
    cli_table_t *table;
    cli_names_t *names;
    uint32_t count;
} s_print_t;

static bool s_inbox_row(const msgpack_object *doc, void *arg)
{
    s_print_t *pr = arg;
    char id[64], received[32], from[64], who[600], subject[2100], text[2048], acked[8];
    uint64_t op = 0, urgency = 4;
    s_cell(doc, "id", false, id, sizeof id);
    s_cell(doc, "received", true, received, sizeof received);
    cli_names_cell(pr->names, cli_get_text(doc, "from", from, sizeof from), who, sizeof who);
    cli_get_uint(doc, "urgency", &urgency);
    const char *level = cli_urgency_name(urgency);
    s_cell(doc, "subject", false, text, sizeof text);
    if (cli_get_uint(doc, "op", &op) && op != 0)
        snprintf(subject, sizeof subject, "[%s] %s", s_op_name(op), text);
    else
        snprintf(subject, sizeof subject, "%s", text);
    s_cell(doc, "acked", false, acked, sizeof acked);
    const char *cells[] = { id, received, who, level ? level : "-", subject, acked };
    cli_table_add(pr->table, cells);
    pr->count++;
    return true;
}

static bool s_sent_row(const msgpack_object *doc, void *arg)
{
    s_print_t *pr = arg;
    char id[64], created[32], kind[32], state[64], to[700], recipients[256], subject[2048];
    s_cell(doc, "id", false, id, sizeof id);
    s_cell(doc, "created", true, created, sizeof created);
    s_cell(doc, "kind", false, kind, sizeof kind);
    s_cell(doc, "state", false, state, sizeof state);
    const msgpack_object *list = cli_get(doc, "to");
    char first[64] = "";
    uint32_t nto = list && list->type == MSGPACK_OBJECT_ARRAY ? list->via.array.size : 0;
    if (nto && list->via.array.ptr[0].type == MSGPACK_OBJECT_STR)
        cli_text(list->via.array.ptr[0].via.str.ptr, list->via.array.ptr[0].via.str.size, 20, first,
                 sizeof first);
    cli_names_cell(pr->names, nto ? first : NULL, to, sizeof to);
    if (nto > 1) {
        size_t n = strlen(to);
        snprintf(to + n, sizeof to - n, " +%u", nto - 1);
    }
    cli_list_recipients_text(cli_get(doc, "recipients"), recipients, sizeof recipients);
    s_cell(doc, "subject", false, subject, sizeof subject);
    if (strcmp(subject, "-") == 0 && cli_get(doc, "doc")) {
        char about[64];
        s_cell(doc, "doc", false, about, sizeof about);
        snprintf(subject, sizeof subject, "about %s", about);
    }
    const char *cells[] = { id, created, kind, state, to, recipients, subject };
    cli_table_add(pr->table, cells);
    pr->count++;
    return true;
}

//  With --json and --all: one document a line, as the walk goes.
static bool s_json_line(const msgpack_object *doc, void *arg)
{
    (void) arg;
    cli_json_reply(stdout, doc, true);
    return true;
}

//  With --json otherwise: the documents of one page (or the most recent
//  ones) copied, then printed as the agent's reply is: {documents, cursor}.
typedef struct {
    msgpack_sbuffer buf;
    msgpack_packer pk;
    uint32_t count;
} s_collect_t;

static bool s_collect_row(const msgpack_object *doc, void *arg)
{
    s_collect_t *c = arg;
    msgpack_pack_object(&c->pk, *doc);
    c->count++;
    return true;
}

static void s_collect_print(s_collect_t *c, const char *cursor)
{
    msgpack_sbuffer out;
    msgpack_packer pk;
    msgpack_sbuffer_init(&out);
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "documents", 9);
    msgpack_pack_array(&pk, c->count);
    msgpack_sbuffer_write(&out, c->buf.data, c->buf.size);
    msgpack_pack_str_with_body(&pk, "cursor", 6);
    if (cursor && cursor[0])
        msgpack_pack_str_with_body(&pk, cursor, strlen(cursor));
    else
        msgpack_pack_nil(&pk);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, out.data, out.size, &off) == MSGPACK_UNPACK_SUCCESS)
        cli_json_reply(stdout, &u.data, false);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&out);
}

// ---------------------------------------------------------------------------
//  The most recent documents of a list, kept as copies while walking it.

typedef struct {
    msgpack_sbuffer *slots;
    size_t cap, n, next; // n kept, next slot to write
} s_recent_t;

static bool s_recent_keep(const msgpack_object *doc, void *arg)
{
    s_recent_t *r = arg;
    msgpack_sbuffer *slot = &r->slots[r->next];
    msgpack_sbuffer_clear(slot);
    msgpack_packer pk;
    msgpack_packer_init(&pk, slot, msgpack_sbuffer_write);
    msgpack_pack_object(&pk, *doc);
    r->next = (r->next + 1) % r->cap;
    if (r->n < r->cap)
        r->n++;
    return true;
}

//  Hand the kept documents to fn, newest first.
static void s_recent_each(s_recent_t *r, cli_list_fn *fn, void *arg)
{
    for (size_t k = 0; k < r->n; k++) {
        msgpack_sbuffer *slot = &r->slots[(r->next + r->cap - 1 - k) % r->cap];
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        if (msgpack_unpack_next(&u, slot->data, slot->size, &off) == MSGPACK_UNPACK_SUCCESS)
            fn(&u.data, arg);
        msgpack_unpacked_destroy(&u);
    }
}

// ---------------------------------------------------------------------------
//  The two commands

//  What the two list commands share after parsing.
typedef struct {
    cli_query_t q;
    const char *cursor; // --cursor / --after as a cursor
    char after[64];     // cursor made from --after
    bool all, has_limit;
    const char *who; // the option for the counterpart: --from or --to
} s_list_t;

static int s_list_run(const cli_opts_t *opts, s_list_t *l, bool recent)
{
    cli_agent_t *agent = cli_agent_new(opts);
    if (!agent) {
        fprintf(stderr, "truc: cannot start ZeroMQ (out of memory?)\n");
        return CLI_EXIT_LOCAL;
    }
    bool inbox = strcmp(l->q.cmd, "inbox") == 0;
    static const char *const inbox_headers[] = { "id",      "received", "from",
                                                 "urgency", "subject",  "acked" };
    static const char *const sent_headers[] = { "id", "created",    "kind",   "state",
                                                "to", "recipients", "subject" };
    cli_names_t *names = opts->json ? NULL : cli_names_new(agent);
    s_print_t pr = { .names = names };
    pr.table =
        opts->json ? NULL : cli_table_new(inbox ? 6 : 7, inbox ? inbox_headers : sent_headers);
    if (pr.table) {
        cli_table_limit(pr.table, inbox ? 2 : 4, AGENCY_WIDTH);
        cli_table_limit(pr.table, inbox ? 4 : 6, SUBJECT_WIDTH);
    }
    s_collect_t collect = { .count = 0 };
    msgpack_sbuffer_init(&collect.buf);
    msgpack_packer_init(&collect.pk, &collect.buf, msgpack_sbuffer_write);
    cli_list_fn *row = inbox ? s_inbox_row : s_sent_row;
    void *row_arg = &pr;
    if (opts->json) {
        row = l->all && !recent ? s_json_line : s_collect_row;
        row_arg = &collect;
    }
    char next[256] = "";
    int status;
    if (recent) {
        //  The last `limit` documents: walk every page, keep the last ones.
        uint64_t keep = l->q.limit ? l->q.limit : 20;
        s_recent_t r = { .slots = calloc(keep, sizeof *r.slots), .cap = keep };
        for (size_t i = 0; r.slots && i < keep; i++)
            msgpack_sbuffer_init(&r.slots[i]);
        l->q.limit = PAGE_MAX;
        status = r.slots ? cli_query_each(agent, &l->q, NULL, true, s_recent_keep, &r, NULL, 0)
                         : CLI_EXIT_LOCAL;
        if (status == CLI_EXIT_OK)
            s_recent_each(&r, row, row_arg);
        for (size_t i = 0; r.slots && i < keep; i++)
            msgpack_sbuffer_destroy(&r.slots[i]);
        free(r.slots);
    } else {
        if (l->all)
            l->q.limit = l->has_limit ? l->q.limit : PAGE_MAX;
        status = cli_query_each(agent, &l->q, l->cursor, l->all, row, row_arg, next, sizeof next);
    }
    if (status == CLI_EXIT_OK && pr.table)
        cli_table_print(pr.table, stdout);
    if (status == CLI_EXIT_OK && row == s_collect_row)
        s_collect_print(&collect, next);
    msgpack_sbuffer_destroy(&collect.buf);
    if (status == CLI_EXIT_OK && next[0] && !l->all && !opts->json)
        fprintf(stderr, "more: add --cursor %s for the next page (or --all)\n", next);
    cli_table_destroy(&pr.table);
    cli_names_destroy(&names);
    cli_agent_destroy(&agent);
    return status;
}

//  The options both lists take besides the filters.
enum { O_LIMIT = 'l', O_CURSOR = 'c', O_AFTER = 'a', O_ALL = 'A', O_UNREAD = 'u', O_WHO = 'w' };

static int s_list_option(s_list_t *l, const char *cmd, int opt, const char *arg)
{
    switch (opt) {
    case O_LIMIT:
        l->has_limit = cli_parse_uint(arg, 1, PAGE_MAX, &l->q.limit);
        return l->has_limit
                   ? CLI_EXIT_OK
                   : cli_usage_error(cmd, "--limit '%s' is not a number from 1 to 1000", arg);
    case O_CURSOR:
        l->cursor = arg;
        return CLI_EXIT_OK;
    case O_ALL:
        l->all = true;
        return CLI_EXIT_OK;
    case O_UNREAD:
        l->q.state = "unread";
        return CLI_EXIT_OK;
    case O_WHO:
        if (proto_agency_code_check(arg, strlen(arg)) != PROTO_OK)
            return cli_usage_error(cmd, "%s '%s' is not an agency code (like 000.00.01.H01)",
                                   l->who, arg);
        l->q.agency = arg;
        return CLI_EXIT_OK;
    default:
        return cli_query_option(&l->q, cmd, opt, arg);
    }
}

static const char s_inbox_usage[] =
    "usage: truc inbox [--unread] [--since TIME] [--until TIME] [--from CODE]\n"
    "                  [--state unread|acked] [--urgency LEVEL] [--number N[/NOTATION]]\n"
    "                  [--notation X] [--subject WORDS] [--limit N]\n"
    "                  [--cursor C | --after SEQ | --all]\n"
    "\n"
    "List received documents, oldest first (the order they were received), a page\n"
    "at a time. Every one listed has been verified (sender's signature, attachment\n"
    "hashes); refused ones are in 'truc quarantine'. The sender's name from the\n"
    "agency directory is shown beside its code.\n"
    "\n"
    "  --unread          only documents not yet acknowledged ('truc ack')\n"
    "  --state S         unread or acked\n"
    "  --since TIME      received at or after TIME: 2025-11-21, \"2025-11-21 08:00\",\n"
    "                    an age (30m, 12h, 7d, 2w) or milliseconds since 1970\n"
    "  --until TIME      received at or before TIME (a date alone: to its end)\n"
    "  --from CODE       only from this agency (also --agency)\n"
    "  --urgency LEVEL   normal, urgent, very-urgent, immediate (or thường, khẩn,\n"
    "                    thượng khẩn, hỏa tốc)\n"
    "  --number N        số; N/NOTATION gives the ký hiệu as well, e.g. 123/UBND-VP\n"
    "  --notation X      ký hiệu, e.g. UBND-VP (letters in either case)\n"
    "  --subject WORDS   words found in the trích yếu\n"
    "  --limit N         documents a page (1..1000, default 50)\n"
    "  --cursor C        the next page: the cursor the previous page ended with\n"
    "  --after SEQ       the next page after a document's seq (as before cursors)\n"
    "  --all             every page, one after the other\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

int cli_inbox(cli_opts_t *opts, int argc, char **argv)
{
    static const struct option options[] = {
        { "unread", no_argument, NULL, O_UNREAD },
        { "from", required_argument, NULL, O_WHO },
        { "limit", required_argument, NULL, O_LIMIT },
        { "cursor", required_argument, NULL, O_CURSOR },
        { "after", required_argument, NULL, O_AFTER },
        { "all", no_argument, NULL, O_ALL },
        CLI_LIST_OPTIONS,
        CLI_GLOBAL_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    s_list_t l = { .who = "--from" };
    cli_query_init(&l.q, "inbox");
    int opt, status = CLI_EXIT_OK;
    uint64_t seq;
    cli_parser_t p;
    cli_parser_init(&p, "inbox", s_inbox_usage, options, opts, argc, argv);
    while (status == CLI_EXIT_OK && (opt = cli_parser_next(&p)) != -1) {
        if (opt != O_AFTER)
            status = s_list_option(&l, "inbox", opt, optarg);
        else if (!cli_parse_uint(optarg, 0, UINT64_MAX, &seq))
            status = cli_usage_error("inbox", "--after '%s' is not a sequence number", optarg);
        else {
            snprintf(l.after, sizeof l.after, "i:%llu", (unsigned long long) seq);
            l.cursor = l.after;
        }
    }
    if (p.stop)
        return p.status;
    if (status != CLI_EXIT_OK)
        return status;
    if (cli_parser_npos(&p) > 0)
        return cli_usage_error("inbox", "unexpected argument '%s'", cli_parser_pos(&p, 0));
    return s_list_run(opts, &l, false);
}

static const char s_sent_usage[] =
    "usage: truc sent [ID] [--since TIME] [--until TIME] [--to CODE] [--state S]\n"
    "                 [--urgency LEVEL] [--number N[/NOTATION]] [--notation X]\n"
    "                 [--subject WORDS] [--limit N] [--cursor C | --after ID | --all]\n"
    "\n"
    "Without ID: the documents and notices this agency sent, the most recent first\n"
    "(the last --limit, default 20, of those that match); with --cursor, --after or\n"
    "--all, in the order they were created, a page at a time. The first recipient's\n"
    "name from the agency directory is shown beside its code.\n"
    "With ID (or the start of one): that document's state, each recipient's state\n"
    "and status notices, and the signed receipts.\n"
    "\n"
    "  --to CODE         only those sent to this agency (also --agency)\n"
    "  --state S         queued, accepted or rejected (by the broker)\n"
    "  --since TIME      created at or after TIME: 2025-11-21, \"2025-11-21 08:00\",\n"
    "                    an age (30m, 12h, 7d, 2w) or milliseconds since 1970\n"
    "  --until TIME      created at or before TIME (a date alone: to its end)\n"
    "  --urgency LEVEL   normal, urgent, very-urgent, immediate (or thường, khẩn,\n"
    "                    thượng khẩn, hỏa tốc)\n"
    "  --number N        số; N/NOTATION gives the ký hiệu as well, e.g. 123/UBND-VP\n"
    "  --notation X      ký hiệu (letters in either case)\n"
    "  --subject WORDS   words found in the trích yếu\n"
    "  --limit N         how many (1..1000; default 20, or 50 a page)\n"
    "  --cursor C        the next page: the cursor the previous page ended with\n"
    "  --after ID        the page after this document\n"
    "  --all             everything that matches, oldest first\n"
    "\n"
    "Examples:\n"
    "  truc sent --to 000.00.00.G09 --since 7d\n"
    "  truc sent 4fd6f877\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

int cli_sent(cli_opts_t *opts, int argc, char **argv)
{
    static const struct option options[] = {
        { "to", required_argument, NULL, O_WHO },
        { "limit", required_argument, NULL, O_LIMIT },
        { "cursor", required_argument, NULL, O_CURSOR },
        { "after", required_argument, NULL, O_AFTER },
        { "all", no_argument, NULL, O_ALL },
        CLI_LIST_OPTIONS,
        CLI_GLOBAL_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    s_list_t l = { .who = "--to" };
    cli_query_init(&l.q, "sent");
    int opt, status = CLI_EXIT_OK;
    const char *after = NULL;
    cli_parser_t p;
    cli_parser_init(&p, "sent", s_sent_usage, options, opts, argc, argv);
    bool filtered = false;
    while (status == CLI_EXIT_OK && (opt = cli_parser_next(&p)) != -1) {
        filtered = filtered || opt != O_LIMIT;
        if (opt == O_AFTER)
            after = optarg;
        else
            status = s_list_option(&l, "sent", opt, optarg);
    }
    if (p.stop)
        return p.status;
    if (status != CLI_EXIT_OK)
        return status;
    int npos = cli_parser_npos(&p);
    if (npos > 1)
        return cli_usage_error("sent", "one document at a time");
    if (npos == 1 && (filtered || l.has_limit))
        return cli_usage_error("sent", "%s for the list, not one document",
                               filtered ? "filters are" : "--limit is");
    if (npos == 1)
        return cli_sent_show(opts, cli_parser_pos(&p, 0));
    if (after) {
        char id[PROTO_ID_TEXT_LEN];
        status = cli_id_resolve(opts, "sent", after, CLI_IDS_SENT, id);
        if (status != CLI_EXIT_OK)
            return status;
        snprintf(l.after, sizeof l.after, "s:%s", id);
        l.cursor = l.after;
    }
    return s_list_run(opts, &l, !l.cursor && !l.all);
}
