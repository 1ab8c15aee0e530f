/*  truc-broker - the central hub of truc.

    Thin on purpose: parse the command line, load the configuration, set up
    logging and signals, then hand over to the server loop (server.c) until
    SIGTERM or SIGINT.
*/
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "config.h"
#include "proto/msg.h"
#include "proto/log.h"
#include "server.h"

#define MAX_OVERRIDES 64

static broker_server_t *s_server;

static void s_signal_handler(int signal_number)
{
    if (s_server)
        broker_server_signal(s_server, signal_number);
}

static const char *s_usage =
    "usage: truc-broker [--config FILE] [--set SECTION.NAME=VALUE]... [options]\n"
    "\n"
    "The truc broker: authenticates agencies (ZeroMQ CURVE against the agency\n"
    "directory), verifies, stores and routes their signed documents, and returns\n"
    "signed receipts.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE           read options from an INI file (see\n"
    "                              deploy/broker.conf.example)\n"
    "  -s, --set SECTION.NAME=V    override one option, e.g. --set store.ttl=7d\n"
    "      --identity FILE         same as --set broker.identity=FILE\n"
    "      --directory FILE        same as --set broker.directory=FILE\n"
    "      --data-dir DIR          same as --set broker.data_dir=DIR\n"
    "      --endpoint ENDPOINT     same as --set network.endpoint=ENDPOINT\n"
    "      --log-level LEVEL       same as --set log.level=LEVEL\n"
    "      --print-default-config  print a commented configuration with every\n"
    "                              default, then exit\n"
    "  -h, --help                  this help\n"
    "  -V, --version               print the version\n"
    "\n"
    "Signals: SIGTERM and SIGINT stop it cleanly (the open batch is committed and\n"
    "answered); SIGHUP reloads the agency directory.\n"
    "Logs: key=value lines on stderr. Exit status: 0 after a clean stop, 1 for a\n"
    "usage or configuration error, 2 when it refuses to start.\n";

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
        { "directory", required_argument, 0, 2 },
        { "data-dir", required_argument, 0, 3 },
        { "endpoint", required_argument, 0, 4 },
        { "log-level", required_argument, 0, 5 },
        { "print-default-config", no_argument, 0, 6 },
        { "help", no_argument, 0, 'h' },
        { "version", no_argument, 0, 'V' },
        { 0, 0, 0, 0 },
    };
    static const char *shortcut[] = {
        NULL,       "broker.identity", "broker.directory", "broker.data_dir", "network.endpoint",
        "log.level"
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:s:hV", options, NULL)) != -1) {
        if (n_overrides == MAX_OVERRIDES) {
            fprintf(stderr, "truc-broker: too many overrides\n");
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
            proto_config_print(broker_config_table, broker_config_table_size, stdout,
                               "truc-broker configuration");
            return 0;
        case 'h':
            fputs(s_usage, stdout);
            return 0;
        case 'V':
            printf("truc-broker %s (protocol %d)\n", TRUC_VERSION, PROTO_VERSION);
            return 0;
        default:
            fputs(s_usage, stderr);
            return 1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "truc-broker: unexpected argument %s\n%s", argv[optind], s_usage);
        return 1;
    }
    proto_log_set_program("truc-broker");
    if (sodium_init() < 0) {
        proto_log_error("event=refused reason=\"libsodium failed to start\"");
        return 2;
    }
    broker_config_t config;
    char err[512] = "";
    proto_err_t rc =
        broker_config_load(&config, config_path, overrides, n_overrides, err, sizeof err);
    for (size_t i = 0; i < n_allocated; i++)
        free(allocated[i]);
    if (rc) {
        fprintf(stderr, "truc-broker: configuration%s%s: %s\n", config_path ? " " : "",
                config_path ? config_path : "", err[0] ? err : proto_strerror(rc));
        broker_config_free(&config);
        return 1;
    }
    proto_log_set_level(config.log_level);
    proto_config_log(broker_config_table, broker_config_table_size, &config);

    s_server = broker_server_new(&config, err, sizeof err);
    if (!s_server) {
        proto_log_error("event=refused reason=\"%s\"", err);
        fprintf(stderr, "truc-broker: refusing to start: %s\n", err);
        broker_config_free(&config);
        return 2;
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = s_signal_handler;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGHUP, &action, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = broker_server_run(s_server);
    broker_server_t *server = s_server;
    s_server = NULL;
    broker_server_destroy(&server);
    broker_config_free(&config);
    return status;
}
