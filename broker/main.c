/*  truc-broker - the central hub of truc.

    Thin on purpose: the shared daemon start-up (proto/daemon.h) reads the
    command line and the configuration; the server loop (server.c) does the
    work until SIGTERM or SIGINT.
*/
#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "proto/daemon.h"
#include "proto/log.h"
#include "server.h"

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

static const proto_shortcut_t s_shortcuts[] = {
    { "identity", "broker.identity" }, { "directory", "broker.directory" },
    { "data-dir", "broker.data_dir" }, { "endpoint", "network.endpoint" },
    { "log-level", "log.level" },
};

int main(int argc, char **argv)
{
    const proto_daemon_spec_t spec = {
        .program = "truc-broker",
        .version = TRUC_VERSION,
        .usage = s_usage,
        .table = broker_config_table,
        .ntable = broker_config_table_size,
        .shortcuts = s_shortcuts,
        .nshortcuts = sizeof s_shortcuts / sizeof s_shortcuts[0],
        .log_level_offset = offsetof(broker_config_t, log_level),
    };
    broker_config_t config = { 0 };
    int status = proto_daemon_configure(&spec, argc, argv, &config);
    if (status >= 0)
        return status;
    char err[512] = "";
    s_server = broker_server_new(&config, err, sizeof err);
    if (!s_server) {
        proto_log_error("event=refused reason=\"%s\"", err);
        fprintf(stderr, "truc-broker: refusing to start: %s\n", err);
        broker_config_free(&config);
        return 2;
    }
    proto_daemon_signals(s_signal_handler, 1);
    status = broker_server_run(s_server);
    broker_server_t *server = s_server;
    s_server = NULL;
    broker_server_destroy(&server);
    broker_config_free(&config);
    return status;
}
