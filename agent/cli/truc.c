/*  truc - the command line clerks and scripts use against their agency's
    truc-agent.

    This file only reads the global options and the command name and hands
    over to the command. The commands live in cli_send.c (send, revoke,
    recall, notify, ack), cli_ops.c (update, replace), cli_list.c (inbox,
    sent), cli_read.c (fetch, sent ID, quarantine, health, directory),
    cli_export.c (export) and cli_watch.c (watch); the conversation with the
    agent in cli_agent.c, printing in cli_out.c and cli_json.c, document
    fields in cli_doc.c, level names in cli_vocab.c, id prefixes in
    cli_ids.c. Everything
    goes through the agent's local API (agent/API.md): truc holds no keys,
    opens no store and never talks to the broker.
*/
#include <stdio.h>
#include <string.h>

#include "cli_args.h"
#include "cli_evidence.h"
#include "cli_export.h"
#include "cli_list.h"
#include "cli_ops.h"
#include "cli_read.h"
#include "cli_edxml.h"
#include "cli_send.h"
#include "cli_watch.h"

#ifndef TRUC_VERSION
#define TRUC_VERSION "unknown"
#endif

static const char s_usage[] =
    "usage: truc [GLOBAL OPTIONS] COMMAND [ARGUMENTS]\n"
    "\n"
    "Send and receive official documents through this agency's truc-agent.\n"
    "\n"
    "Commands:\n"
    "  send        sign and send a new document; prints its id\n"
    "  inbox       list received documents\n"
    "  fetch       show one received document, its attachments written to a directory\n"
    "  ack         mark received documents as taken\n"
    "  notify      tell a document's sender how it is handled (status 01..06, 15, 16)\n"
    "  recall      ask the recipients of a sent document to give it back\n"
    "  revoke      revoke a sent document\n"
    "  update      correct a sent document (đính chính)\n"
    "  replace     replace a sent document by a new one (thay thế)\n"
    "  sent        what happened to sent documents: states, notices, receipts\n"
    "  quarantine  documents refused on arrival\n"
    "  health      the agent's state and its connection to the broker\n"
    "  log-clear   clear the broker log alarm once it has been looked into\n"
    "  directory   the agencies this agency can send to\n"
    "  watch       print events as they happen\n"
    "  export      the registers of incoming and outgoing documents as CSV\n"
    "  notices     the status notices about a document, as edXML with --edxml\n"
    "  evidence    an evidence bundle about a document, for truc-verify\n"
    "\n" CLI_GLOBAL_HELP "  --version         print truc's version\n"
    "\n"
    "Exit codes:\n"
    "  0  success\n"
    "  1  usage error (the message says which option)\n"
    "  2  the agent is unreachable: not running, wrong --data-dir, no permission\n"
    "  3  the agent refused the request: its error code and name are printed,\n"
    "     e.g. \"truc: ERR_UNKNOWN_AGENCY (203): ...\"\n"
    "  4  a local problem: an attachment truc cannot read, a directory it cannot\n"
    "     create\n"
    "\n"
    "Run 'truc COMMAND --help' for a command's options. A short guide with\n"
    "examples: agent/CLI.md.\n";

typedef int(s_command_fn)(cli_opts_t *opts, int argc, char **argv);

static const struct {
    const char *name;
    s_command_fn *run;
} s_commands[] = {
    { "send", cli_send },       { "inbox", cli_inbox },         { "fetch", cli_fetch },
    { "ack", cli_ack },         { "notify", cli_notify },       { "recall", cli_recall },
    { "revoke", cli_revoke },   { "sent", cli_sent },           { "quarantine", cli_quarantine },
    { "health", cli_health },   { "directory", cli_directory }, { "watch", cli_watch },
    { "update", cli_update },   { "replace", cli_replace },     { "export", cli_export },
    { "notices", cli_notices }, { "evidence", cli_evidence },   { "log-clear", cli_log_clear },
};

static s_command_fn *s_find(const char *name)
{
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp(s_commands[i].name, name) == 0)
            return s_commands[i].run;
    return NULL;
}

int main(int argc, char **argv)
{
    enum { OPT_VERSION = 2000 };
    static const struct option options[] = {
        { "version", no_argument, NULL, OPT_VERSION },
        CLI_GLOBAL_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    cli_opts_t opts = { .data_dir = NULL }; // NULL: cli_data_dir_default()

    //  '+': stop at the command name; what follows belongs to the command.
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(s_usage, stdout);
            return CLI_EXIT_OK;
        case OPT_VERSION:
            printf("truc %s\n", TRUC_VERSION);
            return CLI_EXIT_OK;
        case ':':
            return cli_usage_error(NULL, "%s needs a value", argv[optind - 1]);
        case '?':
            return cli_usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
        default:
            if (!cli_global_option(&opts, NULL, opt, optarg))
                return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return cli_usage_error(NULL, "which command? (send, inbox, fetch, ack, ...)");
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        if (optind + 1 >= argc) {
            fputs(s_usage, stdout);
            return CLI_EXIT_OK;
        }
        s_command_fn *run = s_find(argv[optind + 1]);
        if (!run)
            return cli_usage_error(NULL, "no command '%s'", argv[optind + 1]);
        char *help_argv[] = { argv[optind + 1], (char *) "--help", NULL };
        return run(&opts, 2, help_argv);
    }
    if (strcmp(name, "version") == 0) {
        printf("truc %s\n", TRUC_VERSION);
        return CLI_EXIT_OK;
    }
    s_command_fn *run = s_find(name);
    if (!run)
        return cli_usage_error(NULL, "no command '%s'", name);
    return run(&opts, argc - optind, argv + optind);
}
