/*  truc-agent - one agency's gateway between its DMS and the truc broker.

    Thin on purpose: command line, configuration, logging, signals; the
    work is in agent.c (broker session, store) and api.c (local API).
*/
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "proto/msg.h"

#define MAX_OVERRIDES 64

static agent_t *s_agent;

static void s_signal_handler(int signal_number)
{
    if (s_agent)
        agent_signal(s_agent, signal_number);
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

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    const char *overrides[MAX_OVERRIDES];
    char *allocated[MAX_OVERRIDES];
    size_t n_overrides = 0, n_allocated = 0;
    static const struct option options[] = {
        { "config", required_argument, 0, 'c' },
        { "set", required_argument, 0, 's' },
        { "identity", required_argument, 0, 1 },
        { "data-dir", required_argument, 0, 2 },
        { "broker", required_argument, 0, 3 },
        { "broker-key", required_argument, 0, 4 },
        { "log-level", required_argument, 0, 5 },
        { "print-default-config", no_argument, 0, 6 },
        { "help", no_argument, 0, 'h' },
        { "version", no_argument, 0, 'V' },
        { 0, 0, 0, 0 },
    };
    static const char *shortcut[] = {
        NULL,       "agent.identity", "agent.data_dir", "broker.endpoint", "broker.public_key",
        "log.level"
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:s:hV", options, NULL)) != -1) {
        if (n_overrides == MAX_OVERRIDES) {
            fprintf(stderr, "truc-agent: too many overrides\n");
            return 1;
        }
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 's':
            overrides[n_overrides++] = optarg;
            break;
        case 1:
        case 2:
        case 3:
        case 4:
        case 5: {
            size_t len = strlen(shortcut[opt]) + strlen(optarg) + 2;
            char *text = malloc(len);
            if (!text)
                return 1;
            snprintf(text, len, "%s=%s", shortcut[opt], optarg);
            allocated[n_allocated++] = text;
            overrides[n_overrides++] = text;
            break;
        }
        case 6:
            proto_config_print(agent_config_table, agent_config_table_size, stdout,
                               "truc-agent configuration");
            return 0;
        case 'h':
            fputs(s_usage, stdout);
            return 0;
        case 'V':
            printf("truc-agent %s (protocol %d)\n", TRUC_VERSION, PROTO_VERSION);
            return 0;
        default:
            fputs(s_usage, stderr);
            return 1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "truc-agent: unexpected argument %s\n%s", argv[optind], s_usage);
        return 1;
    }
    proto_log_set_program("truc-agent");
    if (sodium_init() < 0) {
        proto_log_error("event=refused reason=\"libsodium failed to start\"");
        return 2;
    }
    agent_config_t config;
    char err[512] = "";
    proto_err_t rc =
        agent_config_load(&config, config_path, overrides, n_overrides, err, sizeof err);
    for (size_t i = 0; i < n_allocated; i++)
        free(allocated[i]);
    if (rc) {
        fprintf(stderr, "truc-agent: configuration%s%s: %s\n", config_path ? " " : "",
                config_path ? config_path : "", err[0] ? err : proto_strerror(rc));
        agent_config_free(&config);
        return 1;
    }
    proto_log_set_level(config.log_level);
    proto_config_log(agent_config_table, agent_config_table_size, &config);
    s_agent = agent_new(&config, err, sizeof err);
    if (!s_agent) {
        proto_log_error("event=refused reason=\"%s\"", err);
        fprintf(stderr, "truc-agent: refusing to start: %s\n", err);
        agent_config_free(&config);
        return 2;
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = s_signal_handler;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    signal(SIGPIPE, SIG_IGN);
    int status = agent_run(s_agent);
    agent_t *agent = s_agent;
    s_agent = NULL;
    agent_destroy(&agent);
    agent_config_free(&config);
    return status;
}
