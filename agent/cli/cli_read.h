/*  cli_read - the `truc` commands that show what the agent holds: fetch,
    one sent document, quarantine, health, directory (the lists are in
    cli_list.h).

    Each takes the global options and the command's arguments (argv[0] is
    the command name) and returns the process exit code. Only fetch changes
    anything: the agent writes the attachments into the directory given.
*/
#ifndef CLI_READ_H
#define CLI_READ_H

#include "cli_args.h"

int cli_fetch(cli_opts_t *opts, int argc, char **argv);
//  `truc sent ID`: one sent document (id text or a unique start of one).
int cli_sent_show(const cli_opts_t *opts, const char *id);
int cli_quarantine(cli_opts_t *opts, int argc, char **argv);
int cli_health(cli_opts_t *opts, int argc, char **argv);
int cli_log_clear(cli_opts_t *opts, int argc, char **argv);
int cli_directory(cli_opts_t *opts, int argc, char **argv);

#endif
