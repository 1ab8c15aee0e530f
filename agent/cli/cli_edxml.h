/*  cli_edxml - the edXML forms of `truc send`, `notify` and `fetch`
    (--edxml), and `truc notices`. See agent/CLI.md, "edXML".

    Each takes the global options and the command's arguments (argv[0] is
    the command name) and returns the process exit code.
*/
#ifndef CLI_EDXML_H
#define CLI_EDXML_H

#include <stdbool.h>

#include "cli_args.h"

//  True if the command line asks for the edXML form (an --edxml option).
bool cli_edxml_wanted(int argc, char **argv);

int cli_edxml_send(cli_opts_t *opts, int argc, char **argv);
int cli_edxml_notify(cli_opts_t *opts, int argc, char **argv);
int cli_edxml_fetch(cli_opts_t *opts, int argc, char **argv);
int cli_notices(cli_opts_t *opts, int argc, char **argv);

#endif
