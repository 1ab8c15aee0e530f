/*  truc-agent - one agency's gateway between its DMS and the truc broker.

    Thin on purpose: the shared daemon start-up (proto/daemon.h) reads the
    command line and the configuration; agent.c (life cycle, loop, commit)
    with session.c, outbox.c and inbox.c (the broker), and api.c (local
    API) do the work.
*/
#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "agent.h"
#include "proto/daemon.h"
#include "proto/log.h"

static agent_t *s_agent;
static volatile sig_atomic_t s_stop; // SIGTERM or SIGINT before the agent runs

static void s_signal_handler(int signal_number)
{
    if (s_agent)
        agent_signal(s_agent, signal_number);
    else
        s_stop = 1;
}

static const char *s_usage =
    "usage: truc-agent [--config FILE] [--set SECTION.NAME=VALUE]... [options]\n"
    "\n"
    "The truc agent of one agency: signs what the agency's document-management\n"
    "system submits, keeps it until the broker accepts it, and checks, stores and\n"
    "acknowledges what arrives. The DMS talks to it over the local API\n"
    "(agent/API.md), people through the `truc` command.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE           read options from an INI file (see\n"
    "                              deploy/agent.conf.example)\n"
    "  -s, --set SECTION.NAME=V    override one option, e.g. --set broker.window=16\n"
    "      --identity FILE         same as --set agent.identity=FILE\n"
    "      --data-dir DIR          same as --set agent.data_dir=DIR\n"
    "      --broker ENDPOINT       same as --set broker.endpoint=ENDPOINT\n"
    "      --broker-key FILE       same as --set broker.public_key=FILE\n"
    "      --log-level LEVEL       same as --set log.level=LEVEL\n"
    "      --print-default-config  print a commented configuration with every\n"
    "                              default, then exit\n"
    "  -h, --help                  this help\n"
    "  -V, --version               print the version\n"
    "\n"
    "It serves its local API even while the broker is unreachable, and connects\n"
    "(with back-off) when it can. SIGTERM and SIGINT stop it cleanly.\n"
    "Exit status: 0 after a clean stop, 1 usage or configuration error, 2 when it\n"
    "refuses to start.\n";

static const proto_shortcut_t s_shortcuts[] = {
    { "identity", "agent.identity" }, { "data-dir", "agent.data_dir" },
    { "broker", "broker.endpoint" },  { "broker-key", "broker.public_key" },
    { "log-level", "log.level" },
};

int main(int argc, char **argv)
{
    const proto_daemon_spec_t spec = {
        .program = "truc-agent",
        .version = TRUC_VERSION,
        .usage = s_usage,
        .table = agent_config_table,
        .ntable = agent_config_table_size,
        .shortcuts = s_shortcuts,
        .nshortcuts = sizeof s_shortcuts / sizeof s_shortcuts[0],
        .log_level_offset = offsetof(agent_config_t, log_level),
    };
    agent_config_t config = { 0 };
    int status = proto_daemon_configure(&spec, argc, argv, &config);
    if (status >= 0)
        return status;
    char err[512] = "";
    //  Handlers before the agent: it binds its sockets, which a supervisor
    //  or test may take as started and stop at once, before agent_new
    //  returns; s_stop keeps that signal for the loop instead of dying of it.
    proto_daemon_signals(s_signal_handler, 0);
    s_agent = agent_new(&config, err, sizeof err);
    if (!s_agent) {
        proto_log_error("event=refused reason=\"%s\"", err);
        fprintf(stderr, "truc-agent: refusing to start: %s\n", err);
        agent_config_free(&config);
        return 2;
    }
    if (s_stop)
        agent_signal(s_agent, SIGTERM);
    status = agent_run(s_agent);
    agent_t *agent = s_agent;
    s_agent = NULL;
    agent_destroy(&agent);
    agent_config_free(&config);
    return status;
}
