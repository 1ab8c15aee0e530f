/*  cli_export - `truc export`: the registers of incoming and outgoing
    documents (sổ văn bản đến, sổ văn bản đi) as CSV.

    CSV as RFC 4180 has it: UTF-8, a header row, fields quoted when they
    hold a comma, a quote or a line break (quotes doubled), lines ending in
    CRLF. A register is written as the agent's list is walked, one page at
    a time, so a year of documents takes no more memory than a page.

    Text from other agencies goes through cli_text like everything truc
    prints: control characters cannot reach a spreadsheet. With --excel the
    file starts with a byte order mark (without it Excel reads UTF-8 as a
    legacy code page) and a field that begins like a formula (= + - @) is
    written with a leading apostrophe, so that a subject sent by another
    agency is never run as a formula on the clerk's machine.
*/
#include "cli_export.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli_list.h"
#include "cli_out.h"
#include "cli_vocab.h"

typedef struct {
    FILE *out;
    bool excel;
    bool incoming;
    cli_names_t *names;
    uint64_t rows;
} s_export_t;

static void s_field(s_export_t *e, const char *text, bool last)
{
    bool quote = strpbrk(text, ",\"\r\n") != NULL;
    bool formula = e->excel && strchr("=+-@", text[0]) && text[0];
    if (quote)
        fputc('"', e->out);
    if (formula)
        fputc('\'', e->out);
    for (const char *p = text; *p; p++) {
        if (*p == '"')
            fputc('"', e->out);
        fputc(*p, e->out);
    }
    if (quote)
        fputc('"', e->out);
    fputs(last ? "\r\n" : ",", e->out);
}

//  A str field as safe text in buf ("" when absent).
static const char *s_text(const msgpack_object *doc, const char *key, char *buf, size_t cap)
{
    if (!cli_get_text(doc, key, buf, cap))
        buf[0] = '\0';
    return buf;
}

//  "123/UBND-VP", as a register writes số and ký hiệu.
static void s_code(const msgpack_object *doc, char *buf, size_t cap)
{
    char number[256], notation[256];
    const char *n = s_text(doc, "number", number, sizeof number);
    const char *x = s_text(doc, "notation", notation, sizeof notation);
    snprintf(buf, cap, "%s%s%s", n, n[0] && x[0] ? "/" : "", x);
}

//  The recipients' codes and names, each joined by "; ".
static void s_recipients(s_export_t *e, const msgpack_object *doc, char *codes, char *names,
                         size_t cap)
{
    const msgpack_object *to = cli_get(doc, "to");
    size_t nc = 0, nn = 0;
    codes[0] = names[0] = '\0';
    for (uint32_t i = 0; to && to->type == MSGPACK_OBJECT_ARRAY && i < to->via.array.size; i++) {
        const msgpack_object *c = &to->via.array.ptr[i];
        char code[64], name[512];
        if (c->type != MSGPACK_OBJECT_STR)
            continue;
        cli_text(c->via.str.ptr, c->via.str.size, 0, code, sizeof code);
        const char *known = cli_names_get(e->names, code, name, sizeof name);
        int w = snprintf(codes + nc, cap - nc, "%s%s", i ? "; " : "", code);
        nc += w > 0 && (size_t) w < cap - nc ? (size_t) w : 0;
        w = snprintf(names + nn, cap - nn, "%s%s", i ? "; " : "", known ? known : "");
        nn += w > 0 && (size_t) w < cap - nn ? (size_t) w : 0;
    }
}

static bool s_row(const msgpack_object *doc, void *arg)
{
    s_export_t *e = arg;
    char kind[32];
    //  The outgoing register holds documents, not the notices sent.
    if (!e->incoming && cli_get_text(doc, "kind", kind, sizeof kind) && strcmp(kind, "STATUS") == 0)
        return true;
    char code[600], date[64], who[4096], name[4096], subject[2048], type[512], state[300], when[32],
        id[64];
    uint64_t urgency = 4, ms = 0, op = 0;
    s_code(doc, code, sizeof code);
    s_text(doc, "date", date, sizeof date);
    if (e->incoming) {
        s_text(doc, "from", who, sizeof who);
        const char *known = cli_names_get(e->names, who, name, sizeof name);
        if (!known)
            name[0] = '\0';
        cli_get_uint(doc, "received", &ms);
        int acked = cli_get_bool(doc, "acked");
        static const char *const ops[] = { "", " (revoke)", " (update)", " (replace)" };
        cli_get_uint(doc, "op", &op);
        snprintf(state, sizeof state, "%s%s", acked == 1 ? "acked" : "unread",
                 ops[op < 4 ? op : 0]);
    } else {
        s_recipients(e, doc, who, name, sizeof who);
        cli_get_uint(doc, "created", &ms);
        char recipients[256];
        cli_list_recipients_text(cli_get(doc, "recipients"), recipients, sizeof recipients);
        snprintf(state, sizeof state, "%s; %s", s_text(doc, "state", kind, sizeof kind),
                 recipients);
    }
    s_text(doc, "subject", subject, sizeof subject);
    s_text(doc, "type", type, sizeof type);
    cli_get_uint(doc, "urgency", &urgency);
    const char *level = cli_vocab_urgency_vi(urgency);
    if (ms)
        cli_time_text(ms, true, when, sizeof when);
    else
        when[0] = '\0';
    s_text(doc, "id", id, sizeof id);
    const char *cells[] = { code,  date, who, name, subject, type, level ? level : "",
                            state, when, id };
    for (size_t i = 0; i < sizeof cells / sizeof cells[0]; i++)
        s_field(e, cells[i], i + 1 == sizeof cells / sizeof cells[0]);
    e->rows++;
    return !ferror(e->out);
}

static const char s_export_usage[] =
    "usage: truc export incoming|outgoing [--csv] [--excel] [--output FILE]\n"
    "                   [--since TIME] [--until TIME] [--agency CODE] [--state S]\n"
    "                   [--urgency LEVEL] [--number N[/NOTATION]] [--notation X]\n"
    "                   [--subject WORDS]\n"
    "\n"
    "Write a register as CSV (RFC 4180, UTF-8, a header row): 'incoming' is the\n"
    "sổ văn bản đến (documents received, in the order received), 'outgoing' the sổ\n"
    "văn bản đi (documents sent, in the order created; notices are left out).\n"
    "'đến'/'den' and 'đi'/'di' name them too. Columns: Số/ký hiệu, Ngày văn bản,\n"
    "Mã cơ quan gửi (or nhận), Tên cơ quan gửi (or nhận), Trích yếu, Loại văn bản,\n"
    "Độ khẩn, Trạng thái, Thời gian nhận (or gửi), Mã văn bản.\n"
    "\n"
    "  --csv             the format (the only one, and the default)\n"
    "  --excel           for Microsoft Excel: a byte order mark first, and fields\n"
    "                    that start with = + - @ get a leading apostrophe\n"
    "  --output FILE     write to FILE instead of the standard output\n"
    "  filters           as for 'truc inbox' / 'truc sent': a date range, the\n"
    "                    counterpart agency (--agency), state, urgency, number,\n"
    "                    notation, subject words\n"
    "\n"
    "Example:\n"
    "  truc export incoming --since 2026-01-01 --until 2026-12-31 --output den-2026.csv\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

//  incoming / outgoing by any of their names: 1, 0, or -1.
static int s_register(const char *text)
{
    char folded[32];
    if (!cli_vocab_fold(text, folded, sizeof folded))
        return -1;
    static const char *const in[] = { "incoming", "in", "den", "so-van-ban-den" };
    static const char *const out[] = { "outgoing", "out", "di", "so-van-ban-di" };
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(folded, in[i]) == 0)
            return 1;
        if (strcmp(folded, out[i]) == 0)
            return 0;
    }
    return -1;
}

int cli_export(cli_opts_t *opts, int argc, char **argv)
{
    enum { O_CSV = 'c', O_EXCEL = 'x', O_OUTPUT = 'o' };
    static const struct option options[] = {
        { "csv", no_argument, NULL, O_CSV },
        { "excel", no_argument, NULL, O_EXCEL },
        { "output", required_argument, NULL, O_OUTPUT },
        CLI_LIST_OPTIONS,
        CLI_GLOBAL_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    s_export_t e = { .out = stdout };
    cli_query_t q;
    cli_query_init(&q, "inbox");
    const char *output = NULL;
    int opt, status = CLI_EXIT_OK;
    cli_parser_t p;
    cli_parser_init(&p, "export", s_export_usage, options, opts, argc, argv);
    while (status == CLI_EXIT_OK && (opt = cli_parser_next(&p)) != -1) {
        if (opt == O_EXCEL)
            e.excel = true;
        else if (opt == O_OUTPUT)
            output = optarg;
        else if (opt != O_CSV)
            status = cli_query_option(&q, "export", opt, optarg);
    }
    if (p.stop)
        return p.status;
    if (status != CLI_EXIT_OK)
        return status;
    if (cli_parser_npos(&p) != 1)
        return cli_usage_error("export", "%s",
                               cli_parser_npos(&p) ? "one register at a time"
                                                   : "which register? incoming or outgoing");
    int reg = s_register(cli_parser_pos(&p, 0));
    if (reg < 0)
        return cli_usage_error("export", "'%s' is not a register: incoming or outgoing",
                               cli_parser_pos(&p, 0));
    e.incoming = reg == 1;
    q.cmd = e.incoming ? "inbox" : "sent";
    q.limit = 1000;

    cli_agent_t *agent = cli_agent_new(opts);
    if (!agent) {
        fprintf(stderr, "truc: cannot start ZeroMQ (out of memory?)\n");
        return CLI_EXIT_LOCAL;
    }
    cli_names_t *names = cli_names_new(agent);
    e.names = names;
    if (output && !(e.out = fopen(output, "w"))) {
        fprintf(stderr, "truc: cannot write %s: %s\n", output, strerror(errno));
        status = CLI_EXIT_LOCAL;
        goto done;
    }
    if (e.excel)
        fputs("\xef\xbb\xbf", e.out);
    const char *side = e.incoming ? "gửi" : "nhận";
    char h2[64], h3[64], h8[64];
    snprintf(h2, sizeof h2, "Mã cơ quan %s", side);
    snprintf(h3, sizeof h3, "Tên cơ quan %s", side);
    snprintf(h8, sizeof h8, "Thời gian %s", e.incoming ? "nhận" : "gửi");
    const char *headers[] = { "Số/ký hiệu",   "Ngày văn bản", h2,           h3, "Trích yếu",
                              "Loại văn bản", "Độ khẩn",      "Trạng thái", h8, "Mã văn bản" };
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++)
        s_field(&e, headers[i], i + 1 == sizeof headers / sizeof headers[0]);
    status = cli_query_each(agent, &q, NULL, true, s_row, &e, NULL, 0);
    if (fflush(e.out) != 0 || ferror(e.out)) {
        fprintf(stderr, "truc: cannot write %s: %s\n", output ? output : "the output",
                strerror(errno));
        status = CLI_EXIT_LOCAL;
    }
    if (status == CLI_EXIT_OK && output)
        fprintf(stderr, "%llu document%s written to %s\n", (unsigned long long) e.rows,
                e.rows == 1 ? "" : "s", output);
done:
    if (output && e.out && e.out != stdout && fclose(e.out) != 0 && status == CLI_EXIT_OK) {
        fprintf(stderr, "truc: cannot write %s: %s\n", output, strerror(errno));
        status = CLI_EXIT_LOCAL;
    }
    cli_names_destroy(&names);
    cli_agent_destroy(&agent);
    return status;
}
