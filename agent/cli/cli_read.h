/*  cli_read - the `truc` commands that show what the agent holds: inbox,
    fetch, sent, quarantine, health, directory.

    Each takes the global options and the command's arguments (argv[0] is
    the command name) and returns the process exit code. Only fetch changes
    anything: the agent writes the attachments into the directory given.
*/
#ifndef CLI_READ_H
#define CLI_READ_H

#include "cli_args.h"

int cli_inbox(cli_opts_t *opts, int argc, char **argv);
int cli_fetch(cli_opts_t *opts, int argc, char **argv);
int cli_sent(cli_opts_t *opts, int argc, char **argv);
int cli_quarantine(cli_opts_t *opts, int argc, char **argv);
int cli_health(cli_opts_t *opts, int argc, char **argv);
int cli_directory(cli_opts_t *opts, int argc, char **argv);

#endif
