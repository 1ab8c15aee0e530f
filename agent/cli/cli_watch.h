/*  cli_watch - `truc watch`: the agent's events, one line each, as they
    happen.

    Subscribes to the agent's PUB socket; with --after it first reads the
    events it missed through the `events` request, and fills any gap it
    sees later the same way. Runs until interrupted (or --count events).
*/
#ifndef CLI_WATCH_H
#define CLI_WATCH_H

#include "cli_args.h"

int cli_watch(cli_opts_t *opts, int argc, char **argv);

#endif
