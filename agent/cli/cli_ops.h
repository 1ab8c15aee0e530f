/*  cli_ops - `truc update` and `truc replace`: act on documents this agency
    sent with a new document (agent/API.md 4.2).

    Each takes the global options and the command's arguments (argv[0] is
    the command name) and returns the process exit code.
*/
#ifndef CLI_OPS_H
#define CLI_OPS_H

#include "cli_args.h"

int cli_update(cli_opts_t *opts, int argc, char **argv);
int cli_replace(cli_opts_t *opts, int argc, char **argv);

#endif
