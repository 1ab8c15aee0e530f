/*  truc-broker - the central hub of truc.

    Thin on purpose: the shared daemon start-up (proto/daemon.h) reads the
    command line and the configuration; the server loop (server.c) does the
    work until SIGTERM or SIGINT. A standby (ha.standby, --standby) first
    waits here for the data directory's lock, the active broker's lease
    (proto_store_lease_wait), before the server opens anything.
*/
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "config.h"
#include "proto/daemon.h"
#include "proto/log.h"
#include "proto/store.h"
#include "server.h"

static broker_server_t *s_server;
static volatile sig_atomic_t s_stop; // SIGTERM or SIGINT before the server runs

static void s_signal_handler(int signal_number)
{
    if (s_server)
        broker_server_signal(s_server, signal_number);
    else if (signal_number != SIGHUP)
        s_stop = 1;
}

static const char *s_usage =
    "usage: truc-broker [--config FILE] [--set SECTION.NAME=VALUE]... [options]\n"
    "       truc-broker restore --from BACKUP [--config FILE] [--set ...]...\n"
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
    "      --standby               same as --set ha.standby=yes: wait for the data\n"
    "                              directory's lock (the active broker's lease),\n"
    "                              binding nothing, then start\n"
    "      --print-default-config  print a commented configuration with every\n"
    "                              default, then exit\n"
    "  -h, --help                  this help\n"
    "  -V, --version               print the version\n"
    "\n"
    "Signals: SIGTERM and SIGINT stop it cleanly (the open batch is committed and\n"
    "answered; a standby stops waiting); SIGHUP reloads the agency directory.\n"
    "Logs: key=value lines on stderr (with a <N> priority when it is the journal).\n"
    "Exit status: 0 after a clean stop, 1 for a usage or configuration error, 2\n"
    "when it refuses to start, 3 when it refuses its store: the data file is\n"
    "damaged or truncated, or the store is behind its anchor (DATA_DIR/anchor:\n"
    "emptied, or an older copy put back). Restarting does not help; see\n"
    "deploy/OPERATIONS.md.\n"
    "\n"
    "restore --from BACKUP: with the broker stopped, put a backup (a directory\n"
    "made by truc-admin backup, or its data.mdb) in place of the store. The backup\n"
    "is checked, gets a `restored` audit entry numbered above every number the\n"
    "broker ever issued, and the replaced store is kept as DATA_DIR/store.replaced-*.\n";

static const proto_shortcut_t s_shortcuts[] = {
    { "identity", "broker.identity" }, { "directory", "broker.directory" },
    { "data-dir", "broker.data_dir" }, { "endpoint", "network.endpoint" },
    { "log-level", "log.level" },
};

#define EXIT_STORE_REFUSED 3

//  truc-broker restore --from BACKUP [daemon options]: the options name
//  the configuration (data_dir, map size) the way they do for a start.
static int s_restore(const proto_daemon_spec_t *spec, int argc, char **argv)
{
    const char *from = NULL;
    char **rest = calloc((size_t) argc + 1, sizeof *rest);
    int nrest = 0;
    if (!rest)
        return 2;
    rest[nrest++] = argv[0];
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
            from = argv[++i];
        else if (strncmp(argv[i], "--from=", 7) == 0)
            from = argv[i] + 7;
        else
            rest[nrest++] = argv[i];
    }
    broker_config_t config = { 0 };
    int status = from ? proto_daemon_configure(spec, nrest, rest, &config) : 1;
    free(rest);
    if (!from)
        fprintf(stderr, "truc-broker restore: --from BACKUP is required\n%s", s_usage);
    if (status >= 0)
        return status;
    char err[1024] = "", report[1400] = "";
    proto_err_t rc = broker_backup_restore(config.data_dir, config.map_size, from, report,
                                           sizeof report, err, sizeof err);
    if (rc) {
        proto_log_error("event=restore_refused error=%s reason=\"%s\"", proto_errname(rc), err);
        fprintf(stderr, "truc-broker restore: %s\n", err);
        status = 2;
    } else {
        proto_log_info("event=restored from=%s", from);
        printf("%s\n", report);
        status = 0;
    }
    broker_config_free(&config);
    return status;
}

//  --standby is a flag without a value, which proto/daemon.h's shortcuts
//  do not have: it becomes --set ha.standby=yes. A new argv (NULL on
//  failure) the caller frees; the strings are argv's own or static.
static char **s_expand_standby(int *argc, char **argv)
{
    char **out = calloc((size_t) *argc * 2 + 1, sizeof *out);
    int n = 0;
    if (!out)
        return NULL;
    for (int i = 0; i < *argc; i++) {
        if (strcmp(argv[i], "--standby") == 0) {
            out[n++] = (char *) "--set";
            out[n++] = (char *) "ha.standby=yes";
        } else {
            out[n++] = argv[i];
        }
    }
    *argc = n;
    return out;
}

//  A standby's wait for the lease. -1 to go on and start, else the exit
//  status: 0 when SIGTERM or SIGINT ended the wait, 2 when the lock file
//  cannot be made or locked.
static int s_standby(const broker_config_t *config)
{
    proto_daemon_signals(s_signal_handler, 1);
    char err[512] = "";
    proto_err_t rc =
        proto_store_lease_wait(config->data_dir, config->lease_poll, &s_stop, err, sizeof err);
    if (rc == PROTO_ERR_BUSY) {
        proto_log_info("event=stopped standby=yes data_dir=%s", config->data_dir);
        return 0;
    }
    if (rc) {
        proto_log_error("event=refused error=%s reason=\"%s\"", proto_errname(rc), err);
        fprintf(stderr, "truc-broker: refusing to start: %s\n", err);
        return 2;
    }
    //  Told to stop just as the lease came: starting now would only stop.
    if (s_stop) {
        proto_store_lease_release();
        proto_log_info("event=stopped standby=yes data_dir=%s", config->data_dir);
        return 0;
    }
    return -1;
}

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
    if (argc > 1 && strcmp(argv[1], "restore") == 0)
        return s_restore(&spec, argc, argv);
    broker_config_t config = { 0 };
    char **args = s_expand_standby(&argc, argv);
    int status = args ? proto_daemon_configure(&spec, argc, args, &config) : 2;
    free(args);
    if (status < 0 && config.standby)
        status = s_standby(&config);
    if (status >= 0) {
        broker_config_free(&config);
        return status;
    }
    char err[1024] = "";
    proto_err_t why = PROTO_OK;
    //  Handlers before the server: it writes DATA_DIR/endpoint and may be
    //  told to stop as soon as it has, before broker_server_new returns;
    //  s_stop keeps that SIGTERM for the loop instead of dying of it.
    proto_daemon_signals(s_signal_handler, 1);
    s_server = broker_server_new(&config, &why, err, sizeof err);
    if (!s_server) {
        bool store = why == PROTO_ERR_STORE_DAMAGED || why == PROTO_ERR_STORE_BEHIND;
        proto_log_error("event=refused error=%s reason=\"%s\"", proto_errname(why), err);
        fprintf(stderr, "truc-broker: refusing to start: %s\n", err);
        proto_store_lease_release();
        broker_config_free(&config);
        return store ? EXIT_STORE_REFUSED : 2;
    }
    //  A SIGTERM or SIGINT that came while the server started is not lost.
    if (s_stop)
        broker_server_signal(s_server, SIGTERM);
    status = broker_server_run(s_server);
    broker_server_t *server = s_server;
    s_server = NULL;
    broker_server_destroy(&server);
    broker_config_free(&config);
    return status;
}
