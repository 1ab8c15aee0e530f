/*  cli_ops - `truc update` and `truc replace`: act on documents this agency
    sent with a new document.

    update (đính chính) corrects the metadata of documents already sent;
    replace (thay thế) puts a new document in their place. Both carry a new
    document, filled in with the options of `truc send`; what the clerk
    leaves out of recipients, type and subject (for an update also number,
    notation and date) is taken from the first document named, as `truc
    sent ID` shows it, so the usual correction is one option and a reason.
*/
#include "cli_ops.h"

#include <stdio.h>
#include <string.h>

#include "cli_doc.h"
#include "cli_ids.h"
#include "cli_json.h"
#include "cli_out.h"
#include "cli_send.h"
#include "proto/msg.h"

#define MAX_REFS 16 // documents one operation names (agent/API.md 4.2)

static const char s_update_usage[] =
    "usage: truc update ID [ID...] --reason TEXT [DOCUMENT OPTIONS] [--attach FILE]...\n"
    "\n"
    "Correct documents this agency sent (đính chính): the agent signs an update\n"
    "that carries the corrected document and sends it to the recipients. Prints the\n"
    "update's id. IDs may be given by their first 4 or more hex digits.\n"
    "\n";

static const char s_replace_usage[] =
    "usage: truc replace ID [ID...] --reason TEXT [DOCUMENT OPTIONS] [--attach FILE]...\n"
    "\n"
    "Replace documents this agency sent (thay thế) by a new one: the agent signs it\n"
    "and sends it to the recipients, who see the originals as replaced. Prints the\n"
    "new document's id. IDs may be given by their first 4 or more hex digits.\n"
    "\n";

static const char s_ops_help[] =
    "  --reason TEXT        why (required)\n"
    "\n"
    "Document options, as for 'truc send' (see 'truc send --help'): --to, --subject,\n"
    "--type, --code-number, --notation, --urgency, --signer, --position, --place,\n"
    "--date, --due, --attach, and:\n" CLI_DOC_EXTRA_HELP
    "Without --to, --type or --subject, the first document's are used; an update\n"
    "also keeps its --code-number, --notation and --date unless given.\n"
    "\n"
    "Example:\n"
    "  truc update 4fd6f877 --reason \"Sai ngày ban hành\" --date 2026-11-20\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

//  Point *field at a copy of the str key of d (kept in kept), unless the
//  clerk gave it. False if out of memory.
static bool s_take(const msgpack_object *d, const char *key, const char **field, cli_strv_t *kept)
{
    const msgpack_object *v = cli_get(d, key);
    if (*field || !v || v->type != MSGPACK_OBJECT_STR || v->via.str.size == 0)
        return true;
    if (!cli_strv_push(kept, v->via.str.ptr, v->via.str.size))
        return false;
    *field = kept->items[kept->count - 1];
    return true;
}

//  Fill in what the clerk left out from what the agent kept about the first
//  document: recipients, type and subject, and for an update (the same
//  document, corrected) its number, notation and date too. The copies go
//  into kept.
static int s_defaults(cli_agent_t *agent, const char *id, cli_doc_t *doc, bool update,
                      cli_strv_t *kept)
{
    if (doc->to.count && doc->type && doc->subject &&
        (!update || (doc->number && doc->notation && doc->date)))
        return CLI_EXIT_OK;
    cli_req_t *req = cli_req_new("sent");
    cli_reply_t *reply = NULL;
    if (!req)
        return CLI_EXIT_LOCAL;
    cli_req_kstr(req, "id", id);
    int status = cli_agent_call(agent, req, NULL, &reply);
    cli_req_destroy(&req);
    if (status != CLI_EXIT_OK)
        return status;
    const msgpack_object *d = cli_get(cli_reply_root(reply), "document");
    const msgpack_object *to = cli_get(d, "to");
    bool ok = true;
    for (uint32_t i = 0;
         ok && !doc->to.count && to && to->type == MSGPACK_OBJECT_ARRAY && i < to->via.array.size;
         i++)
        if (to->via.array.ptr[i].type == MSGPACK_OBJECT_STR)
            ok = cli_strv_push(&doc->to, to->via.array.ptr[i].via.str.ptr,
                               to->via.array.ptr[i].via.str.size);
    ok = ok && s_take(d, "type", &doc->type, kept) && s_take(d, "subject", &doc->subject, kept);
    if (update)
        ok = ok && s_take(d, "number", &doc->number, kept) &&
             s_take(d, "notation", &doc->notation, kept) && s_take(d, "date", &doc->date, kept);
    cli_reply_destroy(&reply);
    return ok ? CLI_EXIT_OK : CLI_EXIT_LOCAL;
}

static int s_operation(cli_opts_t *opts, int argc, char **argv, const char *cmd, const char *usage)
{
    static const struct option options[] = {
        { "reason", required_argument, NULL, 'r' },
        CLI_DOC_OPTIONS,
        CLI_GLOBAL_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    char help[8192];
    snprintf(help, sizeof help, "%s%s", usage, s_ops_help);
    const char *reason = NULL;
    cli_doc_t doc;
    cli_doc_init(&doc);
    cli_strv_t ids = { 0 }, kept = { 0 };
    cli_agent_t *agent = NULL;
    cli_req_t *req = NULL;
    cli_reply_t *reply = NULL;
    int status = CLI_EXIT_OK, opt;

    cli_parser_t p;
    cli_parser_init(&p, cmd, help, options, opts, argc, argv);
    while (status == CLI_EXIT_OK && (opt = cli_parser_next(&p)) != -1) {
        if (opt == 'r')
            reason = optarg;
        else
            status = cli_doc_option(&doc, cmd, opt, optarg);
    }
    if (p.stop)
        status = p.status;
    if (status != CLI_EXIT_OK || p.stop)
        goto done;
    int npos = cli_parser_npos(&p);
    if (npos == 0 || npos > MAX_REFS) {
        status = cli_usage_error(cmd, npos ? "too many ids (at most 16)"
                                           : "which document? give its id");
        goto done;
    }
    if (!reason || !reason[0]) {
        status = cli_usage_error(cmd, "--reason is missing: say why");
        goto done;
    }
    status = cli_doc_check(&doc, cmd);
    for (int i = 0; status == CLI_EXIT_OK && i < npos; i++) {
        char id[PROTO_ID_TEXT_LEN];
        status = cli_id_resolve(opts, cmd, cli_parser_pos(&p, i), CLI_IDS_SENT, id);
        if (status == CLI_EXIT_OK && !cli_strv_push(&ids, id, strlen(id)))
            status = CLI_EXIT_LOCAL;
    }
    if (status == CLI_EXIT_OK)
        status = cli_doc_attachments(&doc);
    if (status != CLI_EXIT_OK)
        goto done;
    agent = cli_agent_new(opts);
    req = cli_req_new(cmd);
    if (!agent || !req) {
        status = CLI_EXIT_LOCAL;
        goto done;
    }
    status = s_defaults(agent, ids.items[0], &doc, strcmp(cmd, "update") == 0, &kept);
    if (status != CLI_EXIT_OK)
        goto done;
    cli_req_key(req, "refs");
    cli_req_array(req, ids.count);
    for (size_t i = 0; i < ids.count; i++)
        cli_req_str(req, ids.items[i]);
    cli_req_kstr(req, "reason", reason);
    cli_req_key(req, "doc");
    cli_req_map_begin(req);
    cli_doc_pack(&doc, req, false);
    cli_req_map_end(req);
    cli_doc_pack_attachments(&doc, req);
    cli_call_t how = {
        .timeout_ms = opts->timeout_ms
                          ? opts->timeout_ms
                          : CLI_DEFAULT_TIMEOUT_MS + (int) (doc.total / (10u << 20)) * 1000,
        .lost_note = "the agent may still have stored it: look for it with 'truc sent' before "
                     "trying again",
    };
    status = cli_agent_call(agent, req, &how, &reply);
    if (status == CLI_EXIT_OK) {
        char id[128];
        const msgpack_object *root = cli_reply_root(reply);
        if (opts->json)
            cli_json_reply(stdout, root, false);
        else
            printf("%s\n", cli_get_text(root, "id", id, sizeof id) ? id : "-");
        fflush(stdout);
        cli_send_report_outbox(agent, cli_get_text(root, "id", id, sizeof id) ? id : "?");
    }
done:
    cli_doc_free(&doc);
    cli_strv_free(&ids);
    cli_reply_destroy(&reply);
    cli_strv_free(&kept);
    cli_req_destroy(&req);
    cli_agent_destroy(&agent);
    return status;
}

int cli_update(cli_opts_t *opts, int argc, char **argv)
{
    return s_operation(opts, argc, argv, "update", s_update_usage);
}

int cli_replace(cli_opts_t *opts, int argc, char **argv)
{
    return s_operation(opts, argc, argv, "replace", s_replace_usage);
}
