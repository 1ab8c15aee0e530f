/*  agent/config.c - the agent's option table. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPT(sec, key, type, field, def, lo, hi, reload, help)                                      \
    {                                                                                              \
        sec, key, type, offsetof(agent_config_t, field), def, lo, hi, reload, help                 \
    }

const proto_opt_t agent_config_table[] = {
    OPT("agent", "identity", PROTO_OPT_STRING, identity, "./var/agent/keys/agency.secret", 0, 0,
        false,
        "This agency's secret key file (truc-keys new --agency CODE). The agent signs only as "
        "this agency. Must not be readable by group or others."),
    OPT("agent", "passphrase_file", PROTO_OPT_STRING, passphrase_file, "", 0, 0, false,
        "File holding the passphrase of an encrypted key (mode 0600). Without it the "
        "TRUC_PASSPHRASE environment variable is used."),
    OPT("agent", "data_dir", PROTO_OPT_STRING, data_dir, "./var/agent/data", 0, 0, false,
        "Directory of the outbox and inbox store, its lock, and the API and events sockets."),
    OPT("broker", "endpoint", PROTO_OPT_STRING, endpoint, "tcp://127.0.0.1:7400", 0, 0, false,
        "The broker's endpoint for agents."),
    OPT("broker", "public_key", PROTO_OPT_STRING, public_key, "./var/agent/keys/broker.public", 0,
        0, false,
        "The broker's public identity file (from its operator). Its CURVE key is pinned: the "
        "agent talks to no other server, and its signing key checks every receipt and "
        "directory snapshot."),
    OPT("broker", "window", PROTO_OPT_UINT, window, "64", 1, 100000, false,
        "Deliveries the broker may push before this agent acknowledges them."),
    OPT("broker", "outbox_window", PROTO_OPT_UINT, outbox_window, "256", 1, 100000, false,
        "Documents and notices sent to the broker and not yet answered, at most."),
    OPT("broker", "reconnect_max", PROTO_OPT_DURATION, reconnect_max, "30s", 100, 3600000, false,
        "Longest wait between attempts to reach the broker (the wait doubles from 1 s)."),
    OPT("api", "endpoint", PROTO_OPT_STRING, api_endpoint, "", 0, 0, false,
        "Local API endpoint for the DMS and the truc command (agent/API.md). Empty: "
        "ipc://DATA_DIR/api.sock (mode 0600). A tcp:// endpoint must be on 127.0.0.1."),
    OPT("api", "events_endpoint", PROTO_OPT_STRING, events_endpoint, "", 0, 0, false,
        "Where events are published (ZeroMQ PUB): they carry senders and subjects. Empty: "
        "ipc://DATA_DIR/events.sock. As for api.endpoint, a tcp:// endpoint must be on "
        "127.0.0.1 (or [::1])."),
    OPT("api", "socket_mode", PROTO_OPT_STRING, socket_mode, "0600", 0, 0, false,
        "Mode of the ipc:// API socket, and of the events socket if it is ipc://: 0600 (only "
        "the agent's user) or 0660 (also its group, e.g. a DMS running as another user). "
        "Others never get access. The group also needs to reach the directory holding the "
        "socket (search permission, g+x)."),
    OPT("api", "socket_group", PROTO_OPT_STRING, socket_group, "", 0, 0, false,
        "Group (name or number) given to those sockets. Empty: the agent's own group. The "
        "agent's user must be a member of it (or root)."),
    OPT("api", "max_request", PROTO_OPT_SIZE, max_request, "300M", 65536, 1ull << 32, false,
        "Largest API request (attachments may travel inline)."),
    OPT("api", "max_document", PROTO_OPT_SIZE, max_document, "256M", 1024, 100ull << 30, false,
        "Largest sum of attachment sizes the agent accepts from the DMS (the broker may accept "
        "less: see its READY limits)."),
    OPT("api", "allowed_dirs", PROTO_OPT_STRING, allowed_dirs, "", 0, 0, false,
        "Directories, separated by ':', under which the agent reads attachments a request "
        "names by path and writes those fetch stores; absolute, each must exist. Nothing "
        "below them is reached through a symbolic link, and the agent's key, passphrase and "
        "data directory are refused always. Empty: only the exchange directory beside the "
        "data directory (DATA_DIR/../exchange)."),
    OPT("store", "map_size", PROTO_OPT_SIZE, map_size, "16G", 16u << 20, 1ull << 44, false,
        "Maximum size of the agent's store (the LMDB map)."),
    OPT("metrics", "listen", PROTO_OPT_STRING, metrics_listen, "", 0, 0, false,
        "HOST:PORT where the agent serves Prometheus metrics (/metrics) and the probes "
        "/healthz and /readyz over HTTP, for example 127.0.0.1:9465 (the port truc's "
        "examples use) or [::1]:9465. Empty: not served. The figures are refreshed every "
        "second. A loopback address unless metrics.allow_remote is on; see OPERATIONS.md, "
        "Monitoring."),
    OPT("metrics", "allow_remote", PROTO_OPT_BOOL, metrics_remote, "no", 0, 0, false,
        "Let metrics.listen be a non-loopback address. The endpoint has no authentication "
        "and shows the agency's traffic figures: put it on a management network only."),
    OPT("log", "level", PROTO_OPT_LOG_LEVEL, log_level, "info", 0, 0, false,
        "Log level: debug, info, warning or error. Logs go to stderr as key=value lines."),
};

const size_t agent_config_table_size = sizeof agent_config_table / sizeof agent_config_table[0];

void agent_config_free(agent_config_t *config)
{
    proto_config_free(agent_config_table, agent_config_table_size, config);
}

proto_err_t agent_config_socket(const agent_config_t *config, unsigned *mode, long *gid,
                                char *errbuf, size_t errlen)
{
    const char *text = config->socket_mode ? config->socket_mode : "";
    char *end = NULL;
    errno = 0;
    unsigned long value = strtoul(text, &end, 8);
    //  Owner read and write always (the agent answers through the socket);
    //  group at most read and write; others nothing: the API signs documents.
    if (!text[0] || *end || errno || (value & 0600) != 0600 || (value & ~0660ul) != 0) {
        snprintf(errbuf, errlen,
                 "api.socket_mode: '%s' is not 0600, 0640 or 0660 (octal; others never get "
                 "access)",
                 text);
        return PROTO_ERR_CONFIG;
    }
    *mode = (unsigned) value;
    *gid = -1;
    const char *group = config->socket_group ? config->socket_group : "";
    if (!group[0])
        return PROTO_OK;
    errno = 0;
    struct group *entry = getgrnam(group);
    if (!entry) {
        unsigned long number = strtoul(group, &end, 10);
        if (group[0] >= '0' && group[0] <= '9' && !*end && number <= 0x7fffffff) {
            *gid = (long) number;
            return PROTO_OK;
        }
        snprintf(errbuf, errlen, "api.socket_group: no group named '%s'", group);
        return PROTO_ERR_CONFIG;
    }
    *gid = (long) entry->gr_gid;
    return PROTO_OK;
}
