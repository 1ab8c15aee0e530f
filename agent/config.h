/*  agent/config.h - the agent's options: one struct, one table.

    Defaults, then the INI file, then --set overrides, as for the broker;
    deploy/agent.conf.example is printed from the same table.
*/
#ifndef AGENT_CONFIG_H
#define AGENT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/config.h"
#include "proto/log.h"

typedef struct {
    //  [agent]
    char *identity;        // the agency's secret key file
    char *passphrase_file; // its passphrase, if encrypted (else TRUC_PASSPHRASE)
    char *data_dir;        // store, lock, API and events sockets
    //  [broker]
    char *endpoint;         // the broker's agents endpoint
    char *public_key;       // the broker's .public file: pinned CURVE and signing keys
    uint64_t window;        // deliveries the broker may push before we acknowledge
    uint64_t outbox_window; // submissions sent and not yet answered
    uint64_t reconnect_max; // ms, longest wait between connection attempts
    //  [api]
    char *api_endpoint;    // empty: ipc://DATA_DIR/api.sock
    char *events_endpoint; // empty: ipc://DATA_DIR/events.sock
    uint64_t max_request;  // bytes in one API request
    uint64_t max_document; // bytes of attachments the agent accepts from the DMS
    char *allowed_dirs;    // ':'-separated; attachment paths and fetch dirs (agent/files.h)
    char *socket_mode;     // octal text: mode of the ipc:// API and events sockets
    char *socket_group;    // their group (name or number); empty: the agent's own
    //  [store]
    uint64_t map_size;
    //  [metrics]
    char *metrics_listen; // HOST:PORT of /metrics, /healthz, /readyz; empty = off
    bool metrics_remote;  // may metrics_listen be a non-loopback address
    //  [log]
    proto_log_level_t log_level;
} agent_config_t;

extern const proto_opt_t agent_config_table[];
extern const size_t agent_config_table_size;

void agent_config_free(agent_config_t *config);

//  The mode and group the ipc:// API and events sockets get, from
//  api.socket_mode and api.socket_group: a mode of owner rw plus at most
//  group rw (0600, 0640, 0660), a group that exists. *gid is -1 when no
//  group is set (the socket keeps the agent's). PROTO_ERR_CONFIG with the
//  reason in errbuf.
proto_err_t agent_config_socket(const agent_config_t *config, unsigned *mode, long *gid,
                                char *errbuf, size_t errlen) PROTO_MUST_CHECK;

#endif
