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
#include "cli_doc.h"
#include "cli_ids.h"
#include "cli_edxml.h"
#include "cli_json.h"
#include "cli_out.h"
#include "cli_vocab.h"

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

void cli_send_report_outbox(cli_agent_t *agent, const char *what)
{
    s_report_outbox(agent, what);
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

//  A sending request's answer: print it (its JSON, or the id in field),
//  then say where the thing waits if the broker is away.
static void s_print_queued(const cli_opts_t *opts, cli_agent_t *agent, const msgpack_object *root,
                           const char *field)
{
    s_print_id(opts, root, field);
    fflush(stdout);
    char id[128];
    s_report_outbox(agent, cli_get_text(root, field, id, sizeof id) ? id : "?");
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
    "  --urgency LEVEL      normal (default), urgent, very-urgent or immediate, or\n"
    "                       thường, khẩn, thượng khẩn, hỏa tốc (accents optional)\n"
    "  --signer NAME        người ký\n"
    "  --position TEXT      the signer's position (chức vụ)\n"
    "  --place TEXT         nơi ban hành\n"
    "  --date YYYY-MM-DD    ngày ban hành\n"
    "  --due YYYY-MM-DD     hạn xử lý\n"
    "  --attach FILE        an attachment (repeatable). The agent reads the file\n"
    "                       itself, so its user must be able to read it.\n"
    "  --secret LEVEL       a sealed document of this độ mật: confidential, secret or\n"
    "                       top-secret (mật, tối mật, tuyệt mật). Every attachment is\n"
    "                       encrypted for the recipients only; the broker carries it\n"
    "                       but cannot read it. Sets --secrecy.\n"
    "  --seal-text          with --secret: seal the subject and content too; the\n"
    "                       broker and the lists show \"(trích yếu mật)\".\n" CLI_DOC_EXTRA_HELP
    "\n"
    "Example:\n"
    "  truc send --to 000.00.00.G09 --type \"Công văn\" --subject \"Về việc ...\" \\\n"
    "            --code-number 123 --notation UBND-VP --attach cv.pdf\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

typedef cli_attachment_t s_attachment_t; // cli_doc.h

//  What `truc send` was asked to send; the strings point into argv.
typedef struct {
    const char *subject, *type, *number, *notation, *signer, *position, *place, *date, *due;
    int urgency;          // -1: not given
    int secret;           // --secret: the level, and seal the attachments; -1: not given
    bool seal_text;       // --seal-text: the subject and content too
    cli_strv_t to, given; // recipients, --attach paths as given
    cli_doc_t extra;      // the fields clerks fill in beyond the ones above (cli_doc.h)
} s_send_args_t;

//  What the parser cannot see alone: no stray arguments, the fields a
//  document needs, a position only with its signer.
static int s_send_check(s_send_args_t *a, const cli_parser_t *p)
{
    if (cli_parser_npos(p) > 0)
        return cli_usage_error("send", "unexpected argument '%s' (attachments go with --attach)",
                               cli_parser_pos(p, 0));
    if (a->to.count == 0 || !a->subject || !a->subject[0] || !a->type || !a->type[0])
        return cli_usage_error("send",
                               "%s is missing: a document needs recipients (--to), "
                               "a subject (--subject) and a type (--type)",
                               a->to.count == 0                ? "--to"
                               : !a->subject || !a->subject[0] ? "--subject"
                                                               : "--type");
    if (a->position && !a->signer)
        return cli_usage_error("send", "--position needs --signer: whose position is it?");
    if (a->secret >= 0 && a->extra.secrecy >= 0 && a->extra.secrecy != a->secret)
        return cli_usage_error("send", "--secret and --secrecy name different levels");
    if (a->seal_text && a->secret < 0)
        return cli_usage_error("send", "--seal-text needs --secret LEVEL");
    if (a->secret >= 0 && a->given.count == 0 && !a->seal_text)
        return cli_usage_error("send", "--secret seals the attachments, and there are none "
                                       "(--attach FILE, or --seal-text)");
    if (a->secret >= 0)
        a->extra.secrecy = a->secret;
    a->extra.signer = a->signer;
    return cli_doc_check(&a->extra, "send");
}

//  Parse the command line of `truc send` into a (to and given to free with
//  cli_strv_free, whatever the outcome). CLI_EXIT_OK to go on; otherwise
//  the exit status, the usage error printed. *stop: --help or the like was
//  answered, nothing more to do.
static int s_send_parse(s_send_args_t *a, cli_opts_t *opts, int argc, char **argv, bool *stop)
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
        O_ATTACH,
        O_SECRET,
        O_SEAL_TEXT
    };
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
        { "secret", required_argument, NULL, O_SECRET },
        { "seal-text", no_argument, NULL, O_SEAL_TEXT },
        CLI_DOC_EXTRA_OPTIONS,
        CLI_GLOBAL_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    const char *bad;
    int status = CLI_EXIT_OK, opt;
    a->urgency = -1;
    a->secret = -1;

    cli_parser_t p;
    cli_parser_init(&p, "send", s_send_usage, options, opts, argc, argv);
    while (status == CLI_EXIT_OK && (opt = cli_parser_next(&p)) != -1) {
        switch (opt) {
        case O_TO:
            if (!cli_parse_agencies(optarg, &a->to, &bad))
                status = cli_usage_error("send",
                                         "--to: '%.*s' is not an agency code (like "
                                         "000.00.01.H01)",
                                         (int) strcspn(bad, ","), bad);
            break;
        case O_SUBJECT:
            a->subject = optarg;
            break;
        case O_TYPE:
            a->type = optarg;
            break;
        case O_NUMBER:
            a->number = optarg;
            break;
        case O_NOTATION:
            a->notation = optarg;
            break;
        case O_URGENCY:
            if (!cli_parse_urgency(optarg, &a->urgency))
                status = cli_usage_error("send",
                                         "--urgency '%s' is not one of normal, urgent, "
                                         "very-urgent, immediate (thường, khẩn, thượng khẩn, "
                                         "hỏa tốc)",
                                         optarg);
            break;
        case O_SIGNER:
            a->signer = optarg;
            break;
        case O_POSITION:
            a->position = optarg;
            break;
        case O_PLACE:
            a->place = optarg;
            break;
        case O_DATE:
        case O_DUE:
            if (!cli_parse_date(optarg))
                status = cli_usage_error("send", "%s '%s' is not a date YYYY-MM-DD",
                                         opt == O_DATE ? "--date" : "--due", optarg);
            else if (opt == O_DATE)
                a->date = optarg;
            else
                a->due = optarg;
            break;
        case O_ATTACH:
            if (!cli_strv_push(&a->given, optarg, strlen(optarg)))
                status = CLI_EXIT_LOCAL;
            break;
        case O_SECRET:
            //  Sealing is for documents that are secret: normal is not a level.
            if (!cli_vocab_secrecy(optarg, &a->secret) || a->secret < 1)
                status = cli_usage_error("send",
                                         "--secret '%s' is not one of confidential, secret, "
                                         "top-secret (mật, tối mật, tuyệt mật)",
                                         optarg);
            break;
        case O_SEAL_TEXT:
            a->seal_text = true;
            break;
        default:
            status = cli_doc_option(&a->extra, "send", opt, optarg);
        }
    }
    if (p.stop)
        status = p.status;
    *stop = p.stop;
    if (status != CLI_EXIT_OK || p.stop)
        return status;
    return s_send_check(a, &p);
}

//  The submit request for a, with the attachments checked into atts (one
//  per a->given). NULL if out of memory.
static cli_req_t *s_send_request(const s_send_args_t *a, const s_attachment_t *atts)
{
    cli_req_t *req = cli_req_new("submit");
    if (!req)
        return NULL;
    cli_req_key(req, "doc");
    cli_req_map_begin(req);
    cli_req_key(req, "to");
    cli_req_array(req, a->to.count);
    for (size_t i = 0; i < a->to.count; i++)
        cli_req_str(req, a->to.items[i]);
    cli_req_kstr(req, "type", a->type);
    cli_req_kstr(req, "subject", a->subject);
    cli_req_kstr(req, "number", a->number);
    cli_req_kstr(req, "notation", a->notation);
    cli_req_kstr(req, "place", a->place);
    cli_req_kstr(req, "date", a->date);
    cli_req_kstr(req, "due", a->due);
    if (a->urgency >= 0)
        cli_req_kuint(req, "urgency", (uint64_t) a->urgency);
    if (a->signer && a->signer[0]) {
        cli_req_key(req, "signer");
        cli_req_map_begin(req);
        cli_req_kstr(req, "name", a->signer);
        cli_req_kstr(req, "position", a->position);
        cli_doc_pack_signer(&a->extra, req);
        cli_req_map_end(req);
    }
    cli_doc_pack(&a->extra, req, true);
    cli_req_map_end(req);
    if (a->given.count) {
        cli_req_key(req, "attachments");
        cli_req_array(req, a->given.count);
        for (size_t i = 0; i < a->given.count; i++) {
            cli_req_map_begin(req);
            cli_req_kstr(req, "name", atts[i].name);
            cli_req_kstr(req, "type", atts[i].type);
            cli_req_kstr(req, "path", atts[i].path);
            cli_req_map_end(req);
        }
    }
    if (a->secret >= 0) {
        cli_req_key(req, "seal");
        cli_req_bool(req, true);
    }
    if (a->seal_text) {
        cli_req_key(req, "seal_text");
        cli_req_bool(req, true);
    }
    return req;
}

int cli_send(cli_opts_t *opts, int argc, char **argv)
{
    if (cli_edxml_wanted(argc, argv))
        return cli_edxml_send(opts, argc, argv); // an edXML package (cli_edxml.c)
    s_send_args_t a = { 0 };
    cli_doc_init(&a.extra);
    s_attachment_t *atts = NULL;
    cli_agent_t *agent = NULL;
    cli_req_t *req = NULL;
    cli_reply_t *reply = NULL;
    bool stop = false;
    int status = s_send_parse(&a, opts, argc, argv, &stop);
    if (status != CLI_EXIT_OK || stop)
        goto done;

    atts = calloc(a.given.count ? a.given.count : 1, sizeof *atts);
    if (!atts) {
        status = CLI_EXIT_LOCAL;
        goto done;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < a.given.count; i++) {
        status = cli_attachment_check(a.given.items[i], &atts[i]);
        if (status != CLI_EXIT_OK)
            goto done;
        total += atts[i].size;
    }

    req = s_send_request(&a, atts);
    if (!req) {
        status = CLI_EXIT_LOCAL;
        goto done;
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
    for (size_t i = 0; i < a.given.count; i++) {
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
        fprintf(stderr, "signed and stored %zu attachment%s (%s)\n", a.given.count,
                a.given.count == 1 ? "" : "s", size);
    }
    const msgpack_object *root = cli_reply_root(reply);
    s_print_queued(opts, agent, root, "id");

done:
    for (size_t i = 0; atts && i < a.given.count; i++)
        free(atts[i].path);
    free(atts);
    cli_strv_free(&a.to);
    cli_strv_free(&a.given);
    cli_doc_free(&a.extra);
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

//  Collect the positional ids of a command into list (canonical text); a
//  unique start of an id is looked for in the lists of where (cli_ids.h).
//  Returns CLI_EXIT_OK or the exit code after saying why.
static int s_ids(const char *cmd, const cli_parser_t *p, int min, int max, cli_strv_t *list)
{
    unsigned where =
        strcmp(cmd, "notify") == 0 || strcmp(cmd, "ack") == 0 ? CLI_IDS_INBOX : CLI_IDS_SENT;
    int n = cli_parser_npos(p);
    if (n < min)
        return cli_usage_error(cmd, "which document? give its id");
    if (n > max)
        return cli_usage_error(cmd, "too many ids (at most %d)", max);
    for (int i = 0; i < n; i++) {
        char id[PROTO_ID_TEXT_LEN];
        int status = cli_id_resolve(p->opts, cmd, cli_parser_pos(p, i), where, id);
        if (status != CLI_EXIT_OK)
            return status;
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
    if (status == CLI_EXIT_OK)
        s_print_queued(opts, agent, cli_reply_root(reply), "id");
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
    if (status == CLI_EXIT_OK)
        s_print_queued(opts, agent, cli_reply_root(reply), "notice");
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
