/*  cli_send - the `truc` commands that make the agent sign and send
    something: send, revoke, recall, notify, ack.

    An ok reply means the agent has signed and durably stored what it will
    send; whether the broker has it yet is another matter, so after each
    sending request we ask `health` and say so when the broker is out of
    reach. Attachments go by path: the agent reads them itself, so we only
    check that they exist and are readable to us, and resolve them to
    absolute paths the agent can open from its own working directory.
*/
#include "cli_send.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_agent.h"
#include "cli_edxml.h"
#include "cli_json.h"
#include "cli_out.h"

#define BIG_ATTACHMENT (1u << 20) // bytes from which we say what is going on

static cli_agent_t *s_agent(const cli_opts_t *opts)
{
    cli_agent_t *agent = cli_agent_new(opts);
    if (!agent)
        fprintf(stderr, "truc: cannot start ZeroMQ (out of memory?)\n");
    return agent;
}

//  After a sending request: if the agent says it is not connected to the
//  broker, tell the user where the thing waits. Best effort: if `health`
//  fails we say nothing more, the request itself went through.
static void s_report_outbox(cli_agent_t *agent, const char *what)
{
    cli_req_t *req = cli_req_new("health");
    cli_reply_t *reply = NULL;
    cli_call_t how = { .timeout_ms = 3000, .quiet = true };
    if (req && cli_agent_call(agent, req, &how, &reply) == CLI_EXIT_OK) {
        const msgpack_object *root = cli_reply_root(reply);
        if (cli_get_bool(root, "connected") == 0) {
            char broker[512], error[1024];
            //  One line that says where the thing is; the agent's last error
            //  only as a detail (it retries by itself either way).
            if (cli_get_bool(root, "refused") == 1)
                fprintf(stderr,
                        "stored in the outbox as %s; the broker refuses this agency's key for "
                        "now: it will be sent once the broker's operator admits the agency\n",
                        what);
            else
                fprintf(stderr,
                        "stored in the outbox as %s; the broker is unavailable right now: it "
                        "will be sent when the connection returns\n",
                        what);
            const char *b = cli_get_text(root, "broker", broker, sizeof broker);
            const char *e = cli_get_text(root, "last_error", error, sizeof error);
            if (b || e)
                fprintf(stderr, "  (broker %s%s%s)\n", b ? b : "?", e ? ": " : "", e ? e : "");
        }
    }
    cli_reply_destroy(&reply);
    cli_req_destroy(&req);
}

//  Print a reply: its JSON with --json, else the text of one field.
static void s_print_id(const cli_opts_t *opts, const msgpack_object *root, const char *field)
{
    char id[128];
    if (opts->json)
        cli_json_reply(stdout, root, false);
    else
        printf("%s\n", cli_get_text(root, field, id, sizeof id) ? id : "-");
}

// ---------------------------------------------------------------------------
//  send

static const char s_send_usage[] =
    "usage: truc send --to CODE[,CODE...] --subject TEXT --type TYPE [OPTIONS]\n"
    "                 [--attach FILE]...\n"
    "\n"
    "Have the agent sign a new document and send it to other agencies. Prints the\n"
    "document's id once the agent has stored it in its outbox; it reaches the broker\n"
    "even if the broker is down now (truc says so when it is).\n"
    "\n"
    "  --to CODE[,CODE...]  recipient agency codes (repeatable), e.g. 000.00.00.G09\n"
    "  --subject TEXT       trích yếu, 1 to 500 characters\n"
    "  --type TYPE          loại văn bản, e.g. \"Công văn\"\n"
    "  --code-number N      số, e.g. 123\n"
    "  --notation X         ký hiệu, e.g. UBND-VP\n"
    "  --urgency LEVEL      normal (default), urgent, very-urgent or immediate\n"
    "  --signer NAME        người ký\n"
    "  --position TEXT      the signer's position (chức vụ)\n"
    "  --place TEXT         nơi ban hành\n"
    "  --date YYYY-MM-DD    ngày ban hành\n"
    "  --due YYYY-MM-DD     hạn xử lý\n"
    "  --attach FILE        an attachment (repeatable). The agent reads the file\n"
    "                       itself, so its user must be able to read it.\n"
    "\n"
    "Example:\n"
    "  truc send --to 000.00.00.G09 --type \"Công văn\" --subject \"Về việc ...\" \\\n"
    "            --code-number 123 --notation UBND-VP --attach cv.pdf\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

typedef struct {
    char *path;       // absolute, owned
    const char *name; // file name as given (points into argv)
    const char *type; // media type
    uint64_t size;    // bytes, as we saw them
} s_attachment_t;

static const char *s_media_type(const char *name)
{
    static const struct {
        const char *ext;
        const char *type;
    } table[] = {
        { "pdf", "application/pdf" },
        { "doc", "application/msword" },
        { "docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document" },
        { "xls", "application/vnd.ms-excel" },
        { "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
        { "ppt", "application/vnd.ms-powerpoint" },
        { "pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation" },
        { "odt", "application/vnd.oasis.opendocument.text" },
        { "ods", "application/vnd.oasis.opendocument.spreadsheet" },
        { "rtf", "application/rtf" },
        { "txt", "text/plain" },
        { "csv", "text/csv" },
        { "xml", "application/xml" },
        { "json", "application/json" },
        { "html", "text/html" },
        { "jpg", "image/jpeg" },
        { "jpeg", "image/jpeg" },
        { "png", "image/png" },
        { "tif", "image/tiff" },
        { "tiff", "image/tiff" },
        { "zip", "application/zip" },
        { "p7s", "application/pkcs7-signature" },
    };
    const char *dot = strrchr(name, '.');
    if (dot)
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
            if (strcasecmp(dot + 1, table[i].ext) == 0)
                return table[i].type;
    return "application/octet-stream";
}

//  Check one attachment as the agent will need it: a readable regular file.
//  Returns CLI_EXIT_OK or CLI_EXIT_LOCAL after saying why.
static int s_attachment_check(const char *given, s_attachment_t *att)
{
    int fd = open(given, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "truc: cannot read the attachment %s: %s: check the path\n", given,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return CLI_EXIT_LOCAL;
    }
    close(fd);
    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr,
                "truc: the attachment %s is not a regular file: attach files, one "
                "--attach each\n",
                given);
        return CLI_EXIT_LOCAL;
    }
    att->path = cli_realpath(given);
    if (!att->path) {
        fprintf(stderr, "truc: cannot resolve the attachment %s: %s\n", given, strerror(errno));
        return CLI_EXIT_LOCAL;
    }
    const char *slash = strrchr(given, '/');
    att->name = slash ? slash + 1 : given;
    att->type = s_media_type(att->name);
    att->size = (uint64_t) st.st_size;
    return CLI_EXIT_OK;
}

int cli_send(cli_opts_t *opts, int argc, char **argv)
{
    enum {
        O_TO = 1,
        O_SUBJECT,
        O_TYPE,
        O_NUMBER,
        O_NOTATION,
        O_URGENCY,
        O_SIGNER,
        O_POSITION,
        O_PLACE,
        O_DATE,
        O_DUE,
        O_ATTACH
    };
    if (cli_edxml_wanted(argc, argv))
        return cli_edxml_send(opts, argc, argv); // an edXML package (cli_edxml.c)
    static const struct option options[] = {
        { "to", required_argument, NULL, O_TO },
        { "subject", required_argument, NULL, O_SUBJECT },
        { "type", required_argument, NULL, O_TYPE },
        { "code-number", required_argument, NULL, O_NUMBER },
        { "notation", required_argument, NULL, O_NOTATION },
        { "urgency", required_argument, NULL, O_URGENCY },
        { "signer", required_argument, NULL, O_SIGNER },
        { "position", required_argument, NULL, O_POSITION },
        { "place", required_argument, NULL, O_PLACE },
        { "date", required_argument, NULL, O_DATE },
        { "due", required_argument, NULL, O_DUE },
        { "attach", required_argument, NULL, O_ATTACH },
        CLI_GLOBAL_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    const char *subject = NULL, *type = NULL, *number = NULL, *notation = NULL, *signer = NULL,
               *position = NULL, *place = NULL, *date = NULL, *due = NULL, *bad;
    int urgency = -1, status = CLI_EXIT_OK, opt;
    cli_strv_t to = { 0 }, given = { 0 };
    s_attachment_t *atts = NULL;
    cli_agent_t *agent = NULL;
    cli_req_t *req = NULL;
    cli_reply_t *reply = NULL;

    cli_parser_t p;
    cli_parser_init(&p, "send", s_send_usage, options, opts, argc, argv);
    while (status == CLI_EXIT_OK && (opt = cli_parser_next(&p)) != -1) {
        switch (opt) {
        case O_TO:
            if (!cli_parse_agencies(optarg, &to, &bad))
                status = cli_usage_error("send",
                                         "--to: '%.*s' is not an agency code (like "
                                         "000.00.01.H01)",
                                         (int) strcspn(bad, ","), bad);
            break;
        case O_SUBJECT:
            subject = optarg;
            break;
        case O_TYPE:
            type = optarg;
            break;
        case O_NUMBER:
            number = optarg;
            break;
        case O_NOTATION:
            notation = optarg;
            break;
        case O_URGENCY:
            if (!cli_parse_urgency(optarg, &urgency))
                status = cli_usage_error("send",
                                         "--urgency '%s' is not one of normal, urgent, "
                                         "very-urgent, immediate",
                                         optarg);
            break;
        case O_SIGNER:
            signer = optarg;
            break;
        case O_POSITION:
            position = optarg;
            break;
        case O_PLACE:
            place = optarg;
            break;
        case O_DATE:
        case O_DUE:
            if (!cli_parse_date(optarg))
                status = cli_usage_error("send", "%s '%s' is not a date YYYY-MM-DD",
                                         opt == O_DATE ? "--date" : "--due", optarg);
            else if (opt == O_DATE)
                date = optarg;
            else
                due = optarg;
            break;
        case O_ATTACH:
            if (!cli_strv_push(&given, optarg, strlen(optarg)))
                status = CLI_EXIT_LOCAL;
            break;
        default:
            status = CLI_EXIT_USAGE;
        }
    }
    if (p.stop)
        status = p.status;
    if (status != CLI_EXIT_OK || p.stop)
        goto done;
    if (cli_parser_npos(&p) > 0) {
        status = cli_usage_error("send", "unexpected argument '%s' (attachments go with --attach)",
                                 cli_parser_pos(&p, 0));
        goto done;
    }
    if (to.count == 0 || !subject || !subject[0] || !type || !type[0]) {
        status = cli_usage_error("send",
                                 "%s is missing: a document needs recipients (--to), "
                                 "a subject (--subject) and a type (--type)",
                                 to.count == 0             ? "--to"
                                 : !subject || !subject[0] ? "--subject"
                                                           : "--type");
        goto done;
    }
    if (position && !signer) {
        status = cli_usage_error("send", "--position needs --signer: whose position is it?");
        goto done;
    }

    atts = calloc(given.count ? given.count : 1, sizeof *atts);
    if (!atts) {
        status = CLI_EXIT_LOCAL;
        goto done;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < given.count; i++) {
        status = s_attachment_check(given.items[i], &atts[i]);
        if (status != CLI_EXIT_OK)
            goto done;
        total += atts[i].size;
    }

    req = cli_req_new("submit");
    if (!req) {
        status = CLI_EXIT_LOCAL;
        goto done;
    }
    cli_req_key(req, "doc");
    cli_req_map_begin(req);
    cli_req_key(req, "to");
    cli_req_array(req, to.count);
    for (size_t i = 0; i < to.count; i++)
        cli_req_str(req, to.items[i]);
    cli_req_kstr(req, "type", type);
    cli_req_kstr(req, "subject", subject);
    cli_req_kstr(req, "number", number);
    cli_req_kstr(req, "notation", notation);
    cli_req_kstr(req, "place", place);
    cli_req_kstr(req, "date", date);
    cli_req_kstr(req, "due", due);
    if (urgency >= 0)
        cli_req_kuint(req, "urgency", (uint64_t) urgency);
    if (signer && signer[0]) {
        cli_req_key(req, "signer");
        cli_req_map_begin(req);
        cli_req_kstr(req, "name", signer);
        cli_req_kstr(req, "position", position);
        cli_req_map_end(req);
    }
    cli_req_map_end(req);
    if (given.count) {
        cli_req_key(req, "attachments");
        cli_req_array(req, given.count);
        for (size_t i = 0; i < given.count; i++) {
            cli_req_map_begin(req);
            cli_req_kstr(req, "name", atts[i].name);
            cli_req_kstr(req, "type", atts[i].type);
            cli_req_kstr(req, "path", atts[i].path);
            cli_req_map_end(req);
        }
    }

    //  The agent reads, hashes, signs and syncs every byte before it
    //  answers: give big documents time (10 s, plus 1 s per 10 MiB).
    cli_call_t how = {
        .timeout_ms = opts->timeout_ms
                          ? opts->timeout_ms
                          : CLI_DEFAULT_TIMEOUT_MS + (int) (total / (10u << 20)) * 1000,
        .lost_note = "the agent may still have stored the document: look for it with 'truc sent' "
                     "before sending it again",
    };
    bool big = false;
    for (size_t i = 0; i < given.count; i++) {
        if (atts[i].size >= BIG_ATTACHMENT) {
            char size[32];
            cli_size_text(atts[i].size, size, sizeof size);
            fprintf(stderr, "reading %s (%s)\xe2\x80\xa6\n", atts[i].name, size);
            big = true;
        }
    }
    if (big)
        how.slow_note = "the agent is reading, hashing and storing the attachments\xe2\x80\xa6";

    agent = s_agent(opts);
    if (!agent) {
        status = CLI_EXIT_LOCAL;
        goto done;
    }
    status = cli_agent_call(agent, req, &how, &reply);
    if (status != CLI_EXIT_OK)
        goto done;
    if (big) {
        char size[32];
        cli_size_text(total, size, sizeof size);
        fprintf(stderr, "signed and stored %zu attachment%s (%s)\n", given.count,
                given.count == 1 ? "" : "s", size);
    }
    const msgpack_object *root = cli_reply_root(reply);
    s_print_id(opts, root, "id");
    fflush(stdout);
    char id[128];
    s_report_outbox(agent, cli_get_text(root, "id", id, sizeof id) ? id : "?");

done:
    for (size_t i = 0; atts && i < given.count; i++)
        free(atts[i].path);
    free(atts);
    cli_strv_free(&to);
    cli_strv_free(&given);
    cli_reply_destroy(&reply);
    cli_req_destroy(&req);
    cli_agent_destroy(&agent);
    return status;
}

// ---------------------------------------------------------------------------
//  revoke

static const char s_revoke_usage[] =
    "usage: truc revoke ID [ID...] --reason TEXT\n"
    "\n"
    "Revoke documents this agency sent (thu hồi): the agent signs a revocation and\n"
    "sends it to every recipient of the documents. Prints the revocation's id.\n"
    "\n"
    "  --reason TEXT   why (required), up to 2000 characters\n"
    "\n"
    "Example:\n"
    "  truc revoke 4fd6f877-1bab-4a47-8545-fa919b9e47fd --reason \"Ban hành nhầm\"\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

//  Collect the positional ids of a command into list (canonical text).
//  Returns CLI_EXIT_OK or a usage error.
static int s_ids(const char *cmd, const cli_parser_t *p, int min, int max, cli_strv_t *list)
{
    int n = cli_parser_npos(p);
    if (n < min)
        return cli_usage_error(cmd, "which document? give its id");
    if (n > max)
        return cli_usage_error(cmd, "too many ids (at most %d)", max);
    for (int i = 0; i < n; i++) {
        char id[PROTO_ID_TEXT_LEN];
        if (!cli_parse_id(cli_parser_pos(p, i), id))
            return cli_usage_error(cmd,
                                   "'%s' is not a document id (like "
                                   "4fd6f877-1bab-4a47-8545-fa919b9e47fd)",
                                   cli_parser_pos(p, i));
        if (!cli_strv_push(list, id, strlen(id)))
            return CLI_EXIT_LOCAL;
    }
    return CLI_EXIT_OK;
}

int cli_revoke(cli_opts_t *opts, int argc, char **argv)
{
    static const struct option options[] = {
        { "reason", required_argument, NULL, 'r' },
        CLI_GLOBAL_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    const char *reason = NULL;
    cli_strv_t ids = { 0 };
    cli_agent_t *agent = NULL;
    cli_req_t *req = NULL;
    cli_reply_t *reply = NULL;
    int status = CLI_EXIT_OK, opt;

    cli_parser_t p;
    cli_parser_init(&p, "revoke", s_revoke_usage, options, opts, argc, argv);
    while ((opt = cli_parser_next(&p)) != -1)
        reason = optarg;
    if (p.stop)
        return p.status;
    status = s_ids("revoke", &p, 1, 16, &ids);
    if (status == CLI_EXIT_OK && (!reason || !reason[0]))
        status = cli_usage_error("revoke", "--reason is missing: say why the document is revoked");
    if (status != CLI_EXIT_OK)
        goto done;

    req = cli_req_new("revoke");
    agent = s_agent(opts);
    if (!req || !agent) {
        status = CLI_EXIT_LOCAL;
        goto done;
    }
    cli_req_key(req, "refs");
    cli_req_array(req, ids.count);
    for (size_t i = 0; i < ids.count; i++)
        cli_req_str(req, ids.items[i]);
    cli_req_kstr(req, "reason", reason);
    cli_call_t how = { .lost_note = "the agent may still have stored the revocation: look for "
                                    "it with 'truc sent' before revoking again" };
    status = cli_agent_call(agent, req, &how, &reply);
    if (status == CLI_EXIT_OK) {
        char id[128];
        s_print_id(opts, cli_reply_root(reply), "id");
        fflush(stdout);
        s_report_outbox(agent, cli_get_text(cli_reply_root(reply), "id", id, sizeof id) ? id : "?");
    }
done:
    cli_strv_free(&ids);
    cli_reply_destroy(&reply);
    cli_req_destroy(&req);
    cli_agent_destroy(&agent);
    return status;
}

// ---------------------------------------------------------------------------
//  recall

static const char s_recall_usage[] =
    "usage: truc recall ID [--to CODE[,CODE...]] [--note TEXT]\n"
    "\n"
    "Ask the recipients of a document this agency sent to give it back (status 13,\n"
    "lấy lại). Their answers (15 accepted, 16 refused) show in 'truc sent ID' and\n"
    "'truc watch'. Prints the id of each notice sent.\n"
    "\n"
    "  --to CODE[,...]  only these recipients (repeatable; default: all of them)\n"
    "  --note TEXT      a note for the recipients\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

int cli_recall(cli_opts_t *opts, int argc, char **argv)
{
    static const struct option options[] = {
        { "to", required_argument, NULL, 't' },
        { "note", required_argument, NULL, 'n' },
        CLI_GLOBAL_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    const char *note = NULL, *bad;
    cli_strv_t ids = { 0 }, to = { 0 };
    cli_agent_t *agent = NULL;
    cli_req_t *req = NULL;
    cli_reply_t *reply = NULL;
    int status = CLI_EXIT_OK, opt;

    cli_parser_t p;
    cli_parser_init(&p, "recall", s_recall_usage, options, opts, argc, argv);
    while (status == CLI_EXIT_OK && (opt = cli_parser_next(&p)) != -1) {
        if (opt == 'n')
            note = optarg;
        else if (!cli_parse_agencies(optarg, &to, &bad))
            status = cli_usage_error("recall",
                                     "--to: '%.*s' is not an agency code (like "
                                     "000.00.01.H01)",
                                     (int) strcspn(bad, ","), bad);
    }
    if (p.stop)
        status = p.status;
    if (status == CLI_EXIT_OK && !p.stop)
        status = s_ids("recall", &p, 1, 1, &ids);
    if (status != CLI_EXIT_OK || p.stop)
        goto done;

    req = cli_req_new("recall");
    agent = s_agent(opts);
    if (!req || !agent) {
        status = CLI_EXIT_LOCAL;
        goto done;
    }
    cli_req_kstr(req, "id", ids.items[0]);
    if (to.count) {
        cli_req_key(req, "to");
        cli_req_array(req, to.count);
        for (size_t i = 0; i < to.count; i++)
            cli_req_str(req, to.items[i]);
    }
    cli_req_kstr(req, "note", note);
    status = cli_agent_call(agent, req, NULL, &reply);
    if (status == CLI_EXIT_OK) {
        const msgpack_object *root = cli_reply_root(reply);
        const msgpack_object *notices = cli_get(root, "notices");
        char id[128];
        if (opts->json) {
            cli_json_reply(stdout, root, false);
        } else if (notices && notices->type == MSGPACK_OBJECT_ARRAY) {
            for (uint32_t i = 0; i < notices->via.array.size; i++) {
                cli_value_text(&notices->via.array.ptr[i], id, sizeof id);
                printf("%s\n", id);
            }
        }
        fflush(stdout);
        char list[1024] = "";
        for (uint32_t i = 0; notices && notices->type == MSGPACK_OBJECT_ARRAY &&
                             i < notices->via.array.size && strlen(list) + 40 < sizeof list;
             i++) {
            cli_value_text(&notices->via.array.ptr[i], id, sizeof id);
            strcat(list, i ? ", " : "");
            strcat(list, id);
        }
        s_report_outbox(agent, list[0] ? list : "?");
    }
done:
    cli_strv_free(&ids);
    cli_strv_free(&to);
    cli_reply_destroy(&reply);
    cli_req_destroy(&req);
    cli_agent_destroy(&agent);
    return status;
}

// ---------------------------------------------------------------------------
//  notify

static const char s_notify_usage[] =
    "usage: truc notify ID --status CODE [--note TEXT] [--staff NAME] [--department TEXT]\n"
    "\n"
    "Tell the sender of a received document how it is being handled (edXML status\n"
    "notice). Prints the notice's id.\n"
    "\n"
    "  --status CODE       01 arrived, 02 rejected, 03 accepted, 04 assigned,\n"
    "                      05 processing, 06 completed; after a recall request:\n"
    "                      15 recall accepted, 16 recall refused. The names\n"
    "                      (accepted, recall-refused, ...) and plain integers work too.\n"
    "  --note TEXT         a note for the sender, e.g. \"Đã vào sổ\"\n"
    "  --staff NAME        who handles it\n"
    "  --department TEXT   their department\n"
    "\n"
    "Example:\n"
    "  truc notify 4fd6f877-1bab-4a47-8545-fa919b9e47fd --status 03 --note \"Đã vào sổ\"\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

int cli_notify(cli_opts_t *opts, int argc, char **argv)
{
    if (cli_edxml_wanted(argc, argv))
        return cli_edxml_notify(opts, argc, argv); // an edXML Status (cli_edxml.c)
    static const struct option options[] = {
        { "status", required_argument, NULL, 's' },
        { "note", required_argument, NULL, 'n' },
        { "staff", required_argument, NULL, 'f' },
        { "department", required_argument, NULL, 'd' },
        CLI_GLOBAL_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    const char *note = NULL, *staff = NULL, *department = NULL;
    cli_strv_t ids = { 0 };
    cli_agent_t *agent = NULL;
    cli_req_t *req = NULL;
    cli_reply_t *reply = NULL;
    int status = CLI_EXIT_OK, opt, code = -1;

    cli_parser_t p;
    cli_parser_init(&p, "notify", s_notify_usage, options, opts, argc, argv);
    while (status == CLI_EXIT_OK && (opt = cli_parser_next(&p)) != -1) {
        switch (opt) {
        case 's':
            if (!cli_parse_status(optarg, &code))
                status = cli_usage_error("notify",
                                         "--status '%s' is not a status code (01..06, "
                                         "15, 16)",
                                         optarg);
            break;
        case 'n':
            note = optarg;
            break;
        case 'f':
            staff = optarg;
            break;
        default:
            department = optarg;
        }
    }
    if (p.stop)
        status = p.status;
    if (status == CLI_EXIT_OK && !p.stop)
        status = s_ids("notify", &p, 1, 1, &ids);
    if (status == CLI_EXIT_OK && !p.stop && code < 0)
        status = cli_usage_error("notify", "--status is missing: which status (e.g. 03 accepted)?");
    if (status == CLI_EXIT_OK && !p.stop && department && !staff)
        status = cli_usage_error("notify", "--department needs --staff: whose department?");
    if (status != CLI_EXIT_OK || p.stop)
        goto done;

    req = cli_req_new("status");
    agent = s_agent(opts);
    if (!req || !agent) {
        status = CLI_EXIT_LOCAL;
        goto done;
    }
    cli_req_kstr(req, "id", ids.items[0]);
    cli_req_kuint(req, "code", (uint64_t) code);
    cli_req_kstr(req, "note", note);
    if (staff && staff[0]) {
        cli_req_key(req, "staff");
        cli_req_map_begin(req);
        cli_req_kstr(req, "name", staff);
        cli_req_kstr(req, "department", department);
        cli_req_map_end(req);
    }
    status = cli_agent_call(agent, req, NULL, &reply);
    if (status == CLI_EXIT_OK) {
        char id[128];
        s_print_id(opts, cli_reply_root(reply), "notice");
        fflush(stdout);
        s_report_outbox(agent,
                        cli_get_text(cli_reply_root(reply), "notice", id, sizeof id) ? id : "?");
    }
done:
    cli_strv_free(&ids);
    cli_reply_destroy(&reply);
    cli_req_destroy(&req);
    cli_agent_destroy(&agent);
    return status;
}

// ---------------------------------------------------------------------------
//  ack

static const char s_ack_usage[] =
    "usage: truc ack ID [ID...]\n"
    "\n"
    "Mark received documents as taken by this agency's DMS: 'truc inbox --unread'\n"
    "no longer lists them. Acknowledging twice does no harm.\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

int cli_ack(cli_opts_t *opts, int argc, char **argv)
{
    static const struct option options[] = {
        CLI_GLOBAL_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    cli_strv_t ids = { 0 };
    cli_agent_t *agent = NULL;
    int status = CLI_EXIT_OK;

    cli_parser_t p;
    cli_parser_init(&p, "ack", s_ack_usage, options, opts, argc, argv);
    while (cli_parser_next(&p) != -1)
        ;
    if (p.stop)
        return p.status;
    status = s_ids("ack", &p, 1, 1000, &ids);
    if (status != CLI_EXIT_OK)
        goto done;
    agent = s_agent(opts);
    if (!agent) {
        status = CLI_EXIT_LOCAL;
        goto done;
    }
    for (size_t i = 0; i < ids.count && status == CLI_EXIT_OK; i++) {
        cli_req_t *req = cli_req_new("ack");
        cli_reply_t *reply = NULL;
        if (!req) {
            status = CLI_EXIT_LOCAL;
            break;
        }
        cli_req_kstr(req, "id", ids.items[i]);
        status = cli_agent_call(agent, req, NULL, &reply);
        if (status == CLI_EXIT_OK) {
            if (opts->json)
                cli_json_reply(stdout, cli_reply_root(reply), true);
            else
                printf("acknowledged %s\n", ids.items[i]);
        } else if (i > 0) {
            fprintf(stderr, "truc: stopped at %s; the %zu before it are acknowledged\n",
                    ids.items[i], i);
        }
        cli_reply_destroy(&reply);
        cli_req_destroy(&req);
    }
done:
    cli_strv_free(&ids);
    cli_agent_destroy(&agent);
    return status;
}
