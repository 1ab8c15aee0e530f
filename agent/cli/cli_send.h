/*  cli_send - the `truc` commands that make the agent sign and send
    something: send, revoke, recall, notify, ack.

    Each takes the global options and the command's arguments (argv[0] is
    the command name) and returns the process exit code.
*/
#ifndef CLI_SEND_H
#define CLI_SEND_H

#include "cli_agent.h"
#include "cli_args.h"

int cli_send(cli_opts_t *opts, int argc, char **argv);
int cli_revoke(cli_opts_t *opts, int argc, char **argv);
int cli_recall(cli_opts_t *opts, int argc, char **argv);
int cli_notify(cli_opts_t *opts, int argc, char **argv);
int cli_ack(cli_opts_t *opts, int argc, char **argv);

//  After a sending request that stored `what` (an id): say where it waits
//  when the agent is not connected to the broker. Best effort.
void cli_send_report_outbox(cli_agent_t *agent, const char *what);

#endif
