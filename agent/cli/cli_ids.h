/*  cli_ids - document ids as clerks type them: whole, or the start of one.

    A UUID is 36 characters nobody reads aloud; the first eight are almost
    always enough to tell one document from the others. Wherever a command
    takes an id it takes a unique start of one (at least 4 hex digits), and
    this module finds the document it names by walking the agent's inbox or
    sent list. Two documents that start alike make a clear error listing
    them, never a guess.
*/
#ifndef CLI_IDS_H
#define CLI_IDS_H

#include "cli_args.h"

//  Where an id is looked for.
#define CLI_IDS_INBOX 1u // documents received
#define CLI_IDS_SENT  2u // documents and notices sent

//  The shortest start of an id accepted, in hex digits.
#define CLI_IDS_MIN_PREFIX 4

//  The id that text names, as canonical UUID text in out. A whole id is
//  taken as it is, without asking the agent. Returns CLI_EXIT_OK, or after
//  printing why: CLI_EXIT_USAGE (not an id nor the start of one, or the
//  start of several: they are listed), CLI_EXIT_REFUSED (no document of
//  the lists in `where` starts so; ERR_UNKNOWN_DOC) or the exit code of a
//  failed call to the agent.
int cli_id_resolve(const cli_opts_t *opts, const char *cmd, const char *text, unsigned where,
                   char out[PROTO_ID_TEXT_LEN]);

#endif
