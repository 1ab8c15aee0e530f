/*  cli_list - the `truc` lists: inbox and sent, page by page and filtered.

    Owns the filter options clerks type (--since, --until, --agency, --state,
    --urgency, --number, --notation, --subject), the walk through the
    agent's pages (agent/API.md 4.3.1) and the agency names shown beside
    codes, read from the agent's directory. `truc export` (cli_export.c)
    and id prefixes (cli_ids.c) walk the lists through the same calls.
*/
#ifndef CLI_LIST_H
#define CLI_LIST_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli_agent.h"
#include "cli_args.h"

//  One listing: which list and its filters (NULL / 0 / -1: not given).
typedef struct {
    const char *cmd; // "inbox" or "sent"
    uint64_t since, until;
    const char *agency, *state, *subject, *notation;
    char number[256]; // "N" of --number N or N/NOTATION
    char notation_buf[256];
    int urgency;
    uint64_t limit; // documents a page (0: the agent's default)
} cli_query_t;

//  A query on the list cmd with no filters.
void cli_query_init(cli_query_t *q, const char *cmd);

//  The filter options, for the tables of commands that list. Values are
//  below 256, as command options must be.
enum {
    CLI_LIST_SINCE = 200,
    CLI_LIST_UNTIL,
    CLI_LIST_AGENCY,
    CLI_LIST_STATE,
    CLI_LIST_URGENCY,
    CLI_LIST_NUMBER,
    CLI_LIST_NOTATION,
    CLI_LIST_SUBJECT,
};
#define CLI_LIST_OPTIONS                                                                           \
    { "since", required_argument, NULL, CLI_LIST_SINCE },                                          \
        { "until", required_argument, NULL, CLI_LIST_UNTIL },                                      \
        { "agency", required_argument, NULL, CLI_LIST_AGENCY },                                    \
        { "state", required_argument, NULL, CLI_LIST_STATE },                                      \
        { "urgency", required_argument, NULL, CLI_LIST_URGENCY },                                  \
        { "number", required_argument, NULL, CLI_LIST_NUMBER },                                    \
        { "notation", required_argument, NULL, CLI_LIST_NOTATION },                                \
    {                                                                                              \
        "subject", required_argument, NULL, CLI_LIST_SUBJECT                                       \
    }

//  Take one filter option. CLI_EXIT_OK, or a usage error (printed).
int cli_query_option(cli_query_t *q, const char *cmd, int opt, const char *arg);

//  Put the query's filters into req (a request for q->cmd).
void cli_query_pack(const cli_query_t *q, cli_req_t *req);

//  A document of a page; false stops the walk.
typedef bool(cli_list_fn)(const msgpack_object *doc, void *arg);

//  Ask for pages of q from cursor (NULL or "": the start) and hand each
//  document to fn: every page when all, else one. cursor_out (cap bytes,
//  may be NULL) gets the cursor after the last page read, "" at the end.
//  Returns the exit code (the agent's refusal is printed).
int cli_query_each(cli_agent_t *agent, const cli_query_t *q, const char *cursor, bool all,
                   cli_list_fn *fn, void *arg, char *cursor_out, size_t cap);

// ---------------------------------------------------------------------------
//  Agency names

typedef struct cli_names cli_names_t;

//  The agency names of the agent's directory, asked for at the first
//  lookup (agent is borrowed). NULL if out of memory; without a directory
//  (or on any error) names are not known.
cli_names_t *cli_names_new(cli_agent_t *agent);
void cli_names_destroy(cli_names_t **self_p);
//  The name of an agency (sanitised text in buf), or NULL if not known.
const char *cli_names_get(cli_names_t *self, const char *code, char *buf, size_t cap);
//  "CODE Name", or just the code, in buf.
void cli_names_cell(cli_names_t *self, const char *code, char *buf, size_t cap);

//  The recipients of a `sent` list entry summed up by state: "1 delivered,
//  1 waiting" ("-" for none).
void cli_list_recipients_text(const msgpack_object *recipients, char *buf, size_t cap);

// ---------------------------------------------------------------------------
//  Commands

int cli_inbox(cli_opts_t *opts, int argc, char **argv);
//  `sent` lists; `sent ID` shows one document (cli_read.c's cli_sent_show).
int cli_sent(cli_opts_t *opts, int argc, char **argv);

#endif
