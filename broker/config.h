/*  broker/config.h - the broker's options: one struct, one table.

    Filled by proto_daemon_configure (proto/config.h's proto_config_fill)
    in three steps: defaults, the INI file, command-line overrides, then
    checked by broker_config_check. The table is the single source of the commented
    example in deploy/broker.conf.example (truc-broker --print-default-config).
*/
#ifndef BROKER_CONFIG_H
#define BROKER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/config.h"
#include "proto/log.h"

typedef struct {
    //  [broker]
    char *identity;        // broker secret key file
    char *passphrase_file; // file holding its passphrase (optional)
    char *directory;       // agency directory file
    char *data_dir;        // store, lock and admin socket live here
    //  [network]
    char *endpoint;            // agents' ZeroMQ endpoint
    char *admin_endpoint;      // admin endpoint; empty = ipc://DATA_DIR/admin.sock
    uint64_t heartbeat;        // ms
    uint64_t heartbeat_misses; // silent intervals before a session is dropped
    uint64_t backlog;          // listen backlog of the agents' endpoint (ZMQ_BACKLOG)
    uint64_t send_queue;       // messages queued per session (ZMQ_SNDHWM)
    char *links;               // LABEL@ENDPOINT of each broker this one dials (link.c)
    char *directory_from;      // label of the link it takes the directory from; "" = none
    //  [limits]
    uint64_t max_frame;    // bytes per frame (ZMQ_MAXMSGSIZE)
    uint64_t max_document; // bytes of attachments per document
    uint64_t max_recipients;
    uint64_t max_attachments;
    uint64_t quota_documents;      // waiting documents per sending agency
    uint64_t quota_bytes;          // stored bytes per sending agency
    uint64_t max_window;           // largest delivery window granted to an agent
    uint64_t notices_per_document; // STATUS notices one agency may send another per document
    uint64_t notices_per_minute;   // STATUS notices one agency may send per minute
    uint64_t created_future;       // ms a document's created time may be ahead of the broker's
    uint64_t created_past;         // ms it may be behind
    //  [store]
    uint64_t map_size;       // LMDB map size: the store's maximum size
    uint64_t min_free;       // bytes the data dir's file system keeps free
    uint64_t commit_batch;   // documents per group commit at most
    uint64_t commit_delay;   // microseconds a batch may wait for more
    uint64_t ttl;            // ms a document may wait for a recipient
    uint64_t retention;      // ms fully delivered documents are kept
    uint64_t clock_jump_max; // ms the wall clock may jump before expiry stops
    //  [workers]
    uint64_t workers; // verify threads; 0 = one per core
    //  [ha]
    bool standby;        // wait for the data_dir lock (the lease) before starting
    uint64_t lease_poll; // ms between two tries of the lock while standby
    //  [console]
    char *console_listen;              // web console's HOST:PORT; empty = no console
    char *console_accounts;            // its accounts file (name role argon2id-hash)
    uint64_t console_session;          // ms a console session lives
    uint64_t console_lockout_failures; // failed logins before a lock-out
    uint64_t console_lockout_time;     // ms a lock-out lasts
    bool console_tls_proxy;            // reached through a TLS reverse proxy
    //  [metrics]
    char *metrics_listen; // HOST:PORT of /metrics, /healthz, /readyz; empty = off
    bool metrics_remote;  // may metrics_listen be a non-loopback address
    //  [log]
    proto_log_level_t log_level;
} broker_config_t;

extern const proto_opt_t broker_config_table[];
extern const size_t broker_config_table_size;

//  Rules across options, checked after every source is read (also by
//  broker_server_new, since truc-broker loads through proto/daemon.h):
//  the admin endpoint is ipc:// or loopback; the console listens on
//  loopback unless a TLS proxy fronts it, and has an accounts file. PROTO_ERR_CONFIG with the
//  reason in errbuf.
proto_err_t broker_config_check(const broker_config_t *config, char *errbuf,
                                size_t errlen) PROTO_MUST_CHECK;
void broker_config_free(broker_config_t *config);

#endif
