/*  cli_export - `truc export`: the registers of incoming and outgoing
    documents (sổ văn bản đến, sổ văn bản đi) as CSV.

    Takes the global options and the command's arguments (argv[0] is the
    command name) and returns the process exit code.
*/
#ifndef CLI_EXPORT_H
#define CLI_EXPORT_H

#include "cli_args.h"

int cli_export(cli_opts_t *opts, int argc, char **argv);

#endif
