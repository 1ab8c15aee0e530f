/*  cli_evidence - `truc evidence ID --out FILE [--no-content]`.

    The agent writes the file itself, as its own user, in one of its allowed
    directories (api.allowed_dirs), as it does for fetch: truc only makes
    the path absolute (the agent runs in another working directory) and
    prints what the bundle holds and what it cannot prove by itself.
*/
#include "cli_evidence.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_agent.h"
#include "cli_ids.h"
#include "cli_json.h"
#include "cli_out.h"

#define EVIDENCE_TIMEOUT 60000 // ms: a bundle with its attachments is read and written whole

static const char s_usage[] =
    "usage: truc evidence ID --out FILE [--no-content]\n"
    "\n"
    "Have the agent write an evidence bundle about a document this agency sent or\n"
    "received: the document as it was signed, its attachments, every receipt and\n"
    "status notice the agent holds for it, and the directory the broker signed.\n"
    "Anyone checks it offline with truc-verify FILE.\n"
    "\n"
    "  --out FILE     where the bundle goes; the agent writes it, as its own user,\n"
    "                 and only inside its allowed directories (api.allowed_dirs)\n"
    "  --no-content   leave the attachments out: the bundle still proves their\n"
    "                 sizes and hashes, which the sender signed\n"
    "\n"
    "Example:\n"
    "  truc evidence 4fd6f877 --out /srv/dms/evidence/4fd6f877.truc-evidence\n"
    "  truc-verify /srv/dms/evidence/4fd6f877.truc-evidence\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

//  FILE made absolute through its directory, which must exist: the file
//  itself may not yet. NULL with errno set.
static char *s_absolute(const char *file)
{
    char *a = strdup(file), *b = strdup(file);
    char *dir = a ? cli_realpath(dirname(a)) : NULL;
    const char *base = b ? basename(b) : NULL;
    char *out = NULL;
    if (dir && base && strcmp(base, "/") != 0 && strcmp(base, ".") != 0 &&
        strcmp(base, "..") != 0) {
        size_t n = strlen(dir) + strlen(base) + 2;
        out = malloc(n);
        if (out)
            snprintf(out, n, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", base);
    } else if (dir) {
        errno = EISDIR;
    }
    int saved = errno;
    free(dir);
    free(a);
    free(b);
    errno = saved;
    return out;
}

static void s_print(const msgpack_object *root)
{
    char value[PATH_MAX + 64];
    uint64_t u = 0;
    if (cli_get_text(root, "out", value, sizeof value))
        cli_kv(stdout, "bundle", value);
    if (cli_get_uint(root, "bytes", &u)) {
        cli_size_text(u, value, sizeof value);
        cli_kv(stdout, "size", value);
    }
    if (cli_get_text(root, "role", value, sizeof value))
        cli_kv(stdout, "made at", value);
    uint64_t receipts = 0, notices = 0, att = 0;
    cli_get_uint(root, "receipts", &receipts);
    cli_get_uint(root, "notices", &notices);
    cli_get_uint(root, "attachments", &att);
    snprintf(value, sizeof value, "%llu receipts, %llu notices, %llu attachments%s",
             (unsigned long long) receipts, (unsigned long long) notices, (unsigned long long) att,
             cli_get_bool(root, "content") == 0 ? " (hashes only)" : "");
    cli_kv(stdout, "holds", value);
    const msgpack_object *lacks = cli_get(root, "lacks");
    for (uint32_t i = 0; lacks && lacks->type == MSGPACK_OBJECT_ARRAY && i < lacks->via.array.size;
         i++) {
        const msgpack_object *l = &lacks->via.array.ptr[i];
        if (l->type != MSGPACK_OBJECT_STR)
            continue;
        cli_text(l->via.str.ptr, l->via.str.size, 200, value, sizeof value);
        cli_kv(stdout, "lacks", value);
    }
}

int cli_evidence(cli_opts_t *opts, int argc, char **argv)
{
    enum { OPT_NO_CONTENT = 'n' }; // below CLI_OPT_DATA_DIR: the global options' values
    static const struct option options[] = {
        { "out", required_argument, NULL, 'o' },
        { "no-content", no_argument, NULL, OPT_NO_CONTENT },
        CLI_GLOBAL_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    const char *out = NULL;
    bool content = true;
    char id[PROTO_ID_TEXT_LEN];
    cli_parser_t p;
    cli_parser_init(&p, "evidence", s_usage, options, opts, argc, argv);
    int opt;
    while ((opt = cli_parser_next(&p)) != -1) {
        if (opt == 'o')
            out = optarg;
        else if (opt == OPT_NO_CONTENT)
            content = false;
    }
    if (p.stop)
        return p.status;
    if (cli_parser_npos(&p) != 1)
        return cli_usage_error("evidence", "%s",
                               cli_parser_npos(&p) ? "one document at a time"
                                                   : "which document? give its id");
    if (!out || !out[0])
        return cli_usage_error("evidence", "--out FILE is required: where the bundle goes");
    int found =
        cli_id_resolve(opts, "evidence", cli_parser_pos(&p, 0), CLI_IDS_INBOX | CLI_IDS_SENT, id);
    if (found != CLI_EXIT_OK)
        return found;
    char *file = s_absolute(out);
    if (!file) {
        fprintf(stderr, "truc: cannot resolve %s: %s: choose another --out\n", out,
                strerror(errno));
        return CLI_EXIT_LOCAL;
    }
    cli_req_t *req = cli_req_new("evidence");
    if (req) {
        cli_req_kstr(req, "id", id);
        cli_req_kstr(req, "out", file);
        cli_req_key(req, "content");
        cli_req_bool(req, content);
    }
    free(file);
    if (!req)
        return CLI_EXIT_LOCAL;
    cli_agent_t *agent = cli_agent_new(opts);
    if (!agent) {
        fprintf(stderr, "truc: cannot start ZeroMQ (out of memory?)\n");
        cli_req_destroy(&req);
        return CLI_EXIT_LOCAL;
    }
    cli_call_t how = {
        .timeout_ms = opts->timeout_ms ? opts->timeout_ms : EVIDENCE_TIMEOUT,
        .slow_note = "the agent is writing the bundle\xe2\x80\xa6",
    };
    cli_reply_t *reply = NULL;
    int status = cli_agent_call(agent, req, &how, &reply);
    if (status == CLI_EXIT_OK) {
        if (opts->json)
            cli_json_reply(stdout, cli_reply_root(reply), false);
        else
            s_print(cli_reply_root(reply));
    }
    cli_reply_destroy(&reply);
    cli_req_destroy(&req);
    cli_agent_destroy(&agent);
    return status;
}
