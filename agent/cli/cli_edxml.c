/*  cli_edxml - the `truc` commands' edXML forms (agent/CLI.md, "edXML"):

      truc send --edxml FILE          submit an edXML package
      truc notify --edxml FILE        send an edXML Status message
      truc fetch ID --edxml OUT       write a received document as a package
      truc notices ID [--edxml DIR]   the notices about a document, each
                                      written as DIR/<notice id>.xml

    The package and Status files are handed to the agent by their resolved
    path, as attachments are: they must lie in one of its api.allowed_dirs.
    fetch writes OUT itself (the agent sends the bytes), "-" for stdout.
*/
#include "cli_edxml.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_agent.h"
#include "cli_json.h"
#include "cli_out.h"

bool cli_edxml_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "--edxml") == 0 || strncmp(argv[i], "--edxml=", 8) == 0)
            return true;
    }
    return false;
}

enum { O_EDXML = 1 };

static const struct option s_options[] = {
    { "edxml", required_argument, NULL, O_EDXML },
    CLI_GLOBAL_OPTIONS,
    { NULL, 0, NULL, 0 },
};

static const char s_usage[] =
    "usage: truc send --edxml FILE\n"
    "       truc notify --edxml FILE\n"
    "       truc fetch ID --edxml OUT\n"
    "       truc notices ID [--edxml DIR]\n"
    "\n"
    "The edXML forms (QCVN 102:2016) of send, notify and fetch, and the notices\n"
    "about a document. send takes a document package, notify a Status message;\n"
    "both files must lie in one of the agent's api.allowed_dirs. fetch writes the\n"
    "received document ID as a package to OUT (\"-\": standard output). notices\n"
    "lists the status notices about a sent or received document and, with\n"
    "--edxml, writes each as an edXML Status message DIR/<notice id>.xml.\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

//  Parse [ID] --edxml X; *id NULL when no id is wanted.
static int s_parse(const char *cmd, cli_opts_t *opts, int argc, char **argv, bool want_id,
                   bool edxml_required, const char **id, const char **edxml)
{
    cli_parser_t p;
    int opt, status = CLI_EXIT_OK;
    *edxml = NULL;
    cli_parser_init(&p, cmd, s_usage, s_options, opts, argc, argv);
    while ((opt = cli_parser_next(&p)) != -1)
        if (opt == O_EDXML)
            *edxml = optarg;
    if (p.stop)
        return p.status;
    int npos = cli_parser_npos(&p);
    if (npos != (want_id ? 1 : 0))
        status = cli_usage_error(cmd, want_id ? "one document id, please" : "unexpected '%s'",
                                 npos ? cli_parser_pos(&p, want_id ? 1 : 0) : "");
    else if (edxml_required && (!*edxml || !(*edxml)[0]))
        status = cli_usage_error(cmd, "--edxml needs a file");
    *id = want_id && npos == 1 ? cli_parser_pos(&p, 0) : NULL;
    return status;
}

//  Call the agent with req; print the reply as JSON with --json.
static int s_call(cli_opts_t *opts, cli_req_t *req, cli_reply_t **reply)
{
    cli_agent_t *agent = cli_agent_new(opts);
    if (!agent) {
        fprintf(stderr, "truc: cannot start ZeroMQ (out of memory?)\n");
        cli_req_destroy(&req);
        return CLI_EXIT_LOCAL;
    }
    int status = cli_agent_call(agent, req, NULL, reply);
    cli_req_destroy(&req);
    cli_agent_destroy(&agent);
    if (status == CLI_EXIT_OK && opts->json)
        cli_json_reply(stdout, cli_reply_root(*reply), true);
    return status;
}

//  send and notify: the file by its resolved path.
static int s_send_file(const char *cmd, const char *api_cmd, cli_opts_t *opts, int argc,
                       char **argv)
{
    const char *id, *file;
    int status = s_parse(cmd, opts, argc, argv, false, true, &id, &file);
    if (status != CLI_EXIT_OK)
        return status;
    char *path = cli_realpath(file);
    if (!path) {
        fprintf(stderr, "truc: %s: cannot use %s: %s\n", cmd, file, strerror(errno));
        return CLI_EXIT_LOCAL;
    }
    cli_req_t *req = cli_req_new(api_cmd);
    if (req)
        cli_req_kstr(req, "edxml", path);
    free(path);
    if (!req)
        return CLI_EXIT_LOCAL;
    cli_reply_t *reply = NULL;
    status = s_call(opts, req, &reply);
    if (status == CLI_EXIT_OK && !opts->json) {
        const msgpack_object *root = cli_reply_root(reply);
        char text[512];
        const char *field = cli_get(root, "id") ? "id" : "notice";
        if (cli_get(root, "notices"))
            printf("recall requested\n");
        else
            printf("%s\n", cli_get_text(root, field, text, sizeof text) ? text : "-");
    }
    cli_reply_destroy(&reply);
    return status;
}

int cli_edxml_send(cli_opts_t *opts, int argc, char **argv)
{
    return s_send_file("send", "submit", opts, argc, argv);
}

int cli_edxml_notify(cli_opts_t *opts, int argc, char **argv)
{
    return s_send_file("notify", "status", opts, argc, argv);
}

static int s_write(const char *cmd, const char *out, const msgpack_object *bin)
{
    if (!bin || (bin->type != MSGPACK_OBJECT_BIN && bin->type != MSGPACK_OBJECT_STR)) {
        fprintf(stderr, "truc: %s: the agent sent no package\n", cmd);
        return CLI_EXIT_UNREACHABLE;
    }
    bool stdout_ = strcmp(out, "-") == 0;
    FILE *f = stdout_ ? stdout : fopen(out, "wb");
    bool ok = f && fwrite(bin->via.bin.ptr, 1, bin->via.bin.size, f) == bin->via.bin.size;
    if (f && !stdout_)
        ok = fclose(f) == 0 && ok;
    if (!ok) {
        fprintf(stderr, "truc: %s: cannot write %s: %s\n", cmd, out, strerror(errno));
        return CLI_EXIT_LOCAL;
    }
    return CLI_EXIT_OK;
}

int cli_edxml_fetch(cli_opts_t *opts, int argc, char **argv)
{
    const char *id, *out;
    int status = s_parse("fetch", opts, argc, argv, true, true, &id, &out);
    if (status != CLI_EXIT_OK)
        return status;
    cli_req_t *req = cli_req_new("fetch");
    if (!req)
        return CLI_EXIT_LOCAL;
    cli_req_kstr(req, "id", id);
    cli_req_kstr(req, "format", "edxml");
    cli_reply_t *reply = NULL;
    bool json = opts->json;
    opts->json = false; // the package is the output, not the reply
    status = s_call(opts, req, &reply);
    opts->json = json;
    if (status == CLI_EXIT_OK) {
        const msgpack_object *bin = cli_get(cli_reply_root(reply), "edxml");
        status = s_write("fetch", out, bin);
        if (status == CLI_EXIT_OK && strcmp(out, "-") != 0) {
            char size[32];
            cli_size_text(bin->via.bin.size, size, sizeof size);
            printf("%s  %s\n", out, size);
        }
    }
    cli_reply_destroy(&reply);
    return status;
}

int cli_notices(cli_opts_t *opts, int argc, char **argv)
{
    const char *id, *dir;
    int status = s_parse("notices", opts, argc, argv, true, false, &id, &dir);
    if (status != CLI_EXIT_OK)
        return status;
    cli_req_t *req = cli_req_new("notices");
    if (!req)
        return CLI_EXIT_LOCAL;
    cli_req_kstr(req, "id", id);
    if (dir)
        cli_req_kstr(req, "format", "edxml");
    cli_reply_t *reply = NULL;
    status = s_call(opts, req, &reply);
    const msgpack_object *list =
        status == CLI_EXIT_OK ? cli_get(cli_reply_root(reply), "notices") : NULL;
    for (uint32_t i = 0; list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size &&
                         status == CLI_EXIT_OK;
         i++) {
        const msgpack_object *n = &list->via.array.ptr[i];
        char nid[64] = "-", from[64] = "-", note[256] = "", when[32] = "-", path[PATH_MAX];
        uint64_t code = 0, time = 0;
        cli_get_text(n, "id", nid, sizeof nid);
        cli_get_text(n, "from", from, sizeof from);
        cli_get_text(n, "note", note, sizeof note);
        cli_get_uint(n, "code", &code);
        if (cli_get_uint(n, "time", &time))
            cli_time_text(time, true, when, sizeof when);
        if (dir) {
            snprintf(path, sizeof path, "%s/%s.xml", dir, nid);
            status = s_write("notices", path, cli_get(n, "edxml"));
        }
        if (!opts->json && status == CLI_EXIT_OK) {
            const char *name = cli_status_name(code);
            printf("%02u %-16s %s  %s  %s%s%s\n", (unsigned) code, name ? name : "", when, from,
                   note, dir ? "  " : "", dir ? path : "");
        }
    }
    cli_reply_destroy(&reply);
    return status;
}
