/*  broker/config.c - the broker's option table. */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "proto/daemon.h"
#include "proto/metrics_http.h"

#define OPT(sec, key, type, field, def, lo, hi, reload, help)                                      \
    {                                                                                              \
        sec, key, type, offsetof(broker_config_t, field), def, lo, hi, reload, help                \
    }

const proto_opt_t broker_config_table[] = {
    OPT("broker", "identity", PROTO_OPT_STRING, identity, "./var/broker/keys/broker.secret", 0, 0,
        false,
        "The broker's secret key file (truc-keys new --broker NAME). It signs receipts and "
        "directory snapshots, and its CURVE key is the server key agents pin. Must not be "
        "readable by group or others."),
    OPT("broker", "passphrase_file", PROTO_OPT_STRING, passphrase_file, "", 0, 0, false,
        "File holding the passphrase of an encrypted identity (mode 0600). Without it the "
        "TRUC_PASSPHRASE environment variable is used."),
    OPT("broker", "directory", PROTO_OPT_STRING, directory, "./var/broker/directory.ini", 0, 0,
        false,
        "The agency directory (truc-keys directory ...). Reloaded on SIGHUP and with "
        "truc-admin directory reload."),
    OPT("broker", "data_dir", PROTO_OPT_STRING, data_dir, "./var/broker/data", 0, 0, false,
        "Directory of the store, its lock and the admin socket. One broker per directory."),
    OPT("network", "endpoint", PROTO_OPT_STRING, endpoint, "tcp://127.0.0.1:7400", 0, 0, false,
        "ZeroMQ endpoint agents connect to (CURVE is always on). Use tcp://0.0.0.0:7400 to "
        "accept agents from other hosts."),
    OPT("network", "admin_endpoint", PROTO_OPT_STRING, admin_endpoint, "", 0, 0, false,
        "Admin endpoint for truc-admin. Empty: ipc://DATA_DIR/admin.sock, protected by the "
        "directory's file permissions. It has no authentication of its own, so only an "
        "ipc:// path or a loopback tcp:// address (127.x.y.z or [::1], with a port) is "
        "accepted; a loopback port lets every local user administer. Reach it from "
        "elsewhere through SSH."),
    OPT("network", "heartbeat", PROTO_OPT_DURATION, heartbeat, "5s", 100, 3600000, false,
        "Heartbeat interval announced to agents."),
    OPT("network", "heartbeat_misses", PROTO_OPT_UINT, heartbeat_misses, "3", 2, 100, false,
        "Heartbeat intervals without a message after which a session is dropped and its "
        "unacknowledged deliveries are pushed again on the next connection."),
    OPT("network", "backlog", PROTO_OPT_UINT, backlog, "4096", 16, 65535, false,
        "Connection requests the kernel queues for the agents' endpoint before the broker "
        "accepts them (ZMQ_BACKLOG). When a province's agents all connect at once, a short "
        "queue drops requests and agents wait seconds to retry. Linux caps it at "
        "net.core.somaxconn."),
    OPT("network", "send_queue", PROTO_OPT_UINT, send_queue, "100000", 1, 10000000, false,
        "Messages the broker queues for one session before that session counts as full "
        "(ZMQ_SNDHWM). A full session gets no new pushes until its agent reads; a receipt "
        "that finds it full is kept (up to 8 MiB a session) and sent once it has room."),
    OPT("network", "links", PROTO_OPT_STRING, links, "", 0, 0, false,
        "The brokers this one dials (federation): LABEL@ENDPOINT entries separated by spaces "
        "or commas, as \"national@tcp://10.0.0.1:7400\". Each LABEL must be a broker entry of "
        "the directory, whose key the link pins; the other broker admits this one by its own "
        "broker entry. A province names its national broker here; the national broker names "
        "nothing and listens. Empty: no links. See Federation in deploy/OPERATIONS.md."),
    OPT("network", "directory_from", PROTO_OPT_STRING, directory_from, "", 0, 0, false,
        "The label of one of network.links whose broker this one takes the national "
        "directory from, as \"national\": that broker sends its signed directory over the "
        "link (whole at first, then deltas), and this broker adds the agencies other brokers "
        "are home for to its own, keeping authority over its own. Empty: the directory file "
        "alone, as before. See Federation in deploy/OPERATIONS.md."),
    OPT("limits", "max_frame", PROTO_OPT_SIZE, max_frame, "64M", 1024, 1ull << 30, false,
        "Largest ZeroMQ frame accepted (ZMQ_MAXMSGSIZE): the largest single attachment. A "
        "peer that sends more is disconnected by ZeroMQ before the frame is buffered."),
    OPT("limits", "max_document", PROTO_OPT_SIZE, max_document, "256M", 1024, 100ull << 30, false,
        "Largest sum of attachment sizes in one document."),
    OPT("limits", "max_recipients", PROTO_OPT_UINT, max_recipients, "500", 1, 500, false,
        "Most recipients one document may have."),
    OPT("limits", "max_attachments", PROTO_OPT_UINT, max_attachments, "100", 0, 100, false,
        "Most attachments one document may have."),
    OPT("limits", "quota_documents", PROTO_OPT_UINT, quota_documents, "1000000", 1, UINT64_MAX,
        false,
        "Documents a sending agency may have waiting for delivery; more are REJECTED with "
        "ERR_QUOTA."),
    OPT("limits", "quota_bytes", PROTO_OPT_SIZE, quota_bytes, "20G", 1024, UINT64_MAX, false,
        "Bytes a sending agency may have stored at the broker; more are REJECTED with "
        "ERR_QUOTA."),
    OPT("limits", "notices_per_document", PROTO_OPT_UINT, notices_per_document, "32", 1, 100000,
        false,
        "STATUS notices one agency may send another about one document; more are REJECTED "
        "with ERR_QUOTA. A recipient's whole edXML flow (01 to 06, a recall and its answer) "
        "takes about ten."),
    OPT("limits", "notices_per_minute", PROTO_OPT_UINT, notices_per_minute, "1200", 1, 10000000,
        false,
        "STATUS notices one agency may send in a minute; more are REJECTED with ERR_RATE "
        "until the minute is over. The first refusal of a minute is audited, the rest are "
        "summed in one audit entry."),
    OPT("limits", "created_future", PROTO_OPT_DURATION, created_future, "1h", 1000,
        3650ull * 86400000, false,
        "How far a new document's created time (when the sender's agent signed it) may be "
        "ahead of the broker's clock; further is REJECTED with ERR_TIME."),
    OPT("limits", "created_past", PROTO_OPT_DURATION, created_past, "90d", 60000,
        36500ull * 86400000, false,
        "How far a new document's created time may be behind the broker's clock; further is "
        "REJECTED with ERR_TIME. Agents keep documents in their outbox while the broker is "
        "out of reach, so allow for the longest such outage."),
    OPT("limits", "max_window", PROTO_OPT_UINT, max_window, "1000", 1, 100000, false,
        "Largest delivery window granted to one agent (unacknowledged pushes)."),
    OPT("store", "map_size", PROTO_OPT_SIZE, map_size, "64G", 16u << 20, 1ull << 44, false,
        "Maximum size of the store (the LMDB map). When it is reached, submissions are "
        "REJECTED with ERR_STORE_FULL while deliveries go on."),
    OPT("store", "min_free", PROTO_OPT_SIZE, min_free, "64M", 0, 1ull << 44, false,
        "Free space the file system under data_dir must keep. A submission that would leave "
        "less is REJECTED with ERR_STORE_FULL, so deliveries, receipts and the audit chain "
        "still find room. 0 turns the check off (the map and the disk still refuse when "
        "full)."),
    OPT("store", "commit_batch", PROTO_OPT_UINT, commit_batch, "256", 1, 100000, false,
        "Most documents that share one durable commit and one receipt signature."),
    OPT("store", "commit_delay", PROTO_OPT_UINT, commit_delay, "1000", 0, 1000000, false,
        "Microseconds an open batch may wait for more documents before it is committed. 0 "
        "commits as soon as no verified document is waiting."),
    OPT("store", "ttl", PROTO_OPT_DURATION, ttl, "30d", 1000, 3650ull * 86400000, false,
        "How long a document waits for a recipient before it expires for that recipient "
        "and its sender receives EXPIRED."),
    OPT("store", "retention", PROTO_OPT_DURATION, retention, "90d", 0, 36500ull * 86400000, false,
        "How long a document is kept after every recipient has it (or it expired); then it "
        "is purged. Its audit entries stay."),
    OPT("store", "clock_jump_max", PROTO_OPT_DURATION, clock_jump_max, "1h", 1000,
        3650ull * 86400000, false,
        "Largest step of the wall clock, against the monotonic clock since the last commit, "
        "that expiry and retention go on through. A larger one stops both (nothing expires "
        "or is purged) and is logged at error level every minute and audited, until the "
        "clock is back within this of where it should be, or an operator runs truc-admin "
        "clock confirm."),
    OPT("workers", "threads", PROTO_OPT_UINT, workers, "0", 0, 256, false,
        "Threads that check signatures and attachment hashes. 0: one per CPU core."),
    OPT("ha", "standby", PROTO_OPT_BOOL, standby, "no", 0, 0, false,
        "Start as a standby (also truc-broker --standby): wait for the lock of data_dir, the "
        "lease held by the active broker, binding nothing, then start as usual (store checks, "
        "anchor, endpoints). SIGTERM ends the wait. For a second broker process on the same "
        "data directory: see Active-passive in deploy/OPERATIONS.md."),
    OPT("ha", "lease_poll", PROTO_OPT_DURATION, lease_poll, "500ms", 10, 60000, false,
        "How often a standby tries the lock: the longest it lets pass between the active "
        "broker's death and its own start."),
    OPT("console", "listen", PROTO_OPT_STRING, console_listen, "", 0, 0, false,
        "HOST:PORT of the web console (broker/web.c), e.g. 127.0.0.1:8480; port 0 takes a "
        "free one and DATA_DIR/console names it. Empty: no console. Only a loopback address "
        "(127.x.y.z or [::1]) unless console.tls_proxy is on."),
    OPT("console", "accounts", PROTO_OPT_STRING, console_accounts, "", 0, 0, false,
        "The console's accounts: one line per operator, NAME ROLE HASH, ROLE viewer or "
        "admin, HASH Argon2id (truc-admin console-user add). Read at every login, so a new "
        "account needs no restart. Must not be readable by group or others."),
    OPT("console", "session", PROTO_OPT_DURATION, console_session, "8h", 60000, 30ull * 86400000,
        false, "How long a console login lasts; then the operator logs in again."),
    OPT("console", "lockout_failures", PROTO_OPT_UINT, console_lockout_failures, "5", 1, 1000,
        false,
        "Failed logins, for one account or from one address, after which logins for it are "
        "refused for console.lockout_time, even with the right password."),
    OPT("console", "lockout_time", PROTO_OPT_DURATION, console_lockout_time, "15m", 1000, 86400000,
        false, "How long a lock-out after failed logins lasts."),
    OPT("console", "tls_proxy", PROTO_OPT_BOOL, console_tls_proxy, "false", 0, 0, false,
        "The console is reached through a reverse proxy that speaks TLS (the broker itself "
        "serves plain HTTP): session cookies are marked Secure, and console.listen may be a "
        "non-loopback address the proxy connects to."),
    OPT("metrics", "listen", PROTO_OPT_STRING, metrics_listen, "", 0, 0, false,
        "HOST:PORT where the broker serves Prometheus metrics (/metrics) and the probes "
        "/healthz and /readyz over HTTP, for example 127.0.0.1:9464 (the port truc's "
        "examples use) or [::1]:9464. Empty: not served. The figures are refreshed every "
        "second. A loopback address unless metrics.allow_remote is on; see OPERATIONS.md, "
        "Monitoring."),
    OPT("metrics", "allow_remote", PROTO_OPT_BOOL, metrics_remote, "no", 0, 0, false,
        "Let metrics.listen be a non-loopback address. The endpoint has no authentication "
        "and shows agency codes and traffic figures: put it on a management network only."),
    OPT("log", "level", PROTO_OPT_LOG_LEVEL, log_level, "info", 0, 0, false,
        "Log level: debug, info, warning or error. Logs go to stderr as key=value lines."),
};

const size_t broker_config_table_size = sizeof broker_config_table / sizeof broker_config_table[0];

proto_err_t broker_config_check(const broker_config_t *config, char *errbuf, size_t errlen)
{
    //  Whoever reaches the admin socket can suspend and revoke agencies:
    //  it never listens on a network until it has accounts of its own.
    if (config->admin_endpoint[0] && !proto_endpoint_is_local(config->admin_endpoint)) {
        snprintf(errbuf, errlen,
                 "network.admin_endpoint %s is not an ipc:// or loopback tcp:// endpoint "
                 "(127.x.y.z or [::1] with a port): the admin socket has no authentication",
                 config->admin_endpoint);
        return PROTO_ERR_CONFIG;
    }
    if (config->console_listen[0]) {
        char endpoint[300];
        snprintf(endpoint, sizeof endpoint, "tcp://%s", config->console_listen);
        if (!config->console_tls_proxy && !proto_endpoint_is_local(endpoint)) {
            snprintf(errbuf, errlen,
                     "console.listen %s is not a loopback HOST:PORT (127.x.y.z or [::1]): "
                     "the console speaks plain HTTP; put a TLS proxy in front and set "
                     "console.tls_proxy",
                     config->console_listen);
            return PROTO_ERR_CONFIG;
        }
        if (!config->console_accounts[0]) {
            snprintf(errbuf, errlen, "console.listen is set but console.accounts is not");
            return PROTO_ERR_CONFIG;
        }
    }
    return proto_metrics_http_listen_check(config->metrics_listen, config->metrics_remote, errbuf,
                                           errlen);
}

void broker_config_free(broker_config_t *config)
{
    proto_config_free(broker_config_table, broker_config_table_size, config);
}
