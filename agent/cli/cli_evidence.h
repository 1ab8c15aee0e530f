/*  cli_evidence - `truc evidence`: have the agent write an evidence bundle
    about a document this agency sent or received (agent/API.md, evidence;
    PROTOCOL.md section 17), to be checked offline with truc-verify.

    Takes the global options and the command's arguments (argv[0] is the
    command name) and returns the process exit code.
*/
#ifndef CLI_EVIDENCE_H
#define CLI_EVIDENCE_H

#include "cli_args.h"

int cli_evidence(cli_opts_t *opts, int argc, char **argv);

#endif
