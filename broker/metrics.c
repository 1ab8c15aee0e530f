/*  broker/metrics.c - every truc_broker_* family, rendered on the loop
    thread and published to the HTTP endpoint (see metrics.h for the
    threads). Units are in the names, as Prometheus asks: _seconds, _bytes,
    _total for counters.
*/
#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "proto/log.h"
#include "proto/metrics_http.h"
#include "linklog.h"
#include "linkstat.h"
#include "server_internal.h"

struct broker_metrics {
    broker_server_t *server;
    proto_metrics_http_t *http;
    proto_metrics_t *text; // kept between renders: its buffer is reused
    uint64_t started;      // wall ms of the start, read once: a gauge that must not wobble
    bool due;              // the timer asked for a publication
};

static const char *const s_urgency[4] = { "normal", "urgent", "very_urgent", "immediate" };

// ---------------------------------------------------------------------------
//  What the loop's modules count

void broker_stats_init(broker_stats_t *stats)
{
    //  Group commits are fsyncs: from a fraction of a millisecond on fast
    //  storage to seconds on a failing disk.
    static const double bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,    0.25,  0.5,    1,     2.5,  5,     10 };
    memset(stats, 0, sizeof *stats);
    proto_histogram_init(&stats->commit, bounds, sizeof bounds / sizeof bounds[0]);
    stats->audit_intact = -1;
}

void broker_stats_rejected(broker_stats_t *stats, uint32_t code)
{
    size_t i = 0;
    while (i < BROKER_STATS_CODES && stats->reject_count[i] && stats->reject_code[i] != code)
        i++;
    if (i == BROKER_STATS_CODES) {
        //  A code beyond the table's room: counted with the last row, as 0.
        i = BROKER_STATS_CODES - 1;
        code = 0;
    }
    stats->reject_code[i] = code;
    stats->reject_count[i]++;
}

// ---------------------------------------------------------------------------
//  Rendering

static void s_one(proto_metrics_t *m, const char *name, proto_metric_type_t type, const char *help,
                  uint64_t value)
{
    proto_metrics_family(m, name, type, help);
    proto_metrics_u64(m, name, NULL, value);
}

static void s_counters(broker_server_t *self, proto_metrics_t *m)
{
    const broker_stats_t *st = &self->stats;
    s_one(m, "truc_broker_documents_accepted_total", PROTO_METRIC_COUNTER,
          "Documents accepted and durably stored (ACCEPTED receipts sent).", self->accepted);
    proto_metrics_family(m, "truc_broker_documents_rejected_total", PROTO_METRIC_COUNTER,
                         "REJECTED receipts sent, by error code (ERR_QUOTA, ERR_BAD_SIGNATURE, "
                         "...; PROTOCOL.md has the table).");
    for (size_t i = 0; i < BROKER_STATS_CODES && st->reject_count[i]; i++)
        proto_metrics_u64(
            m, "truc_broker_documents_rejected_total",
            (const char *const[]){ "code", proto_errname((proto_err_t) st->reject_code[i]), NULL },
            st->reject_count[i]);
    s_one(m, "truc_broker_documents_delivered_total", PROTO_METRIC_COUNTER,
          "Deliveries confirmed by the recipient's signed DELIVERED.", self->delivered);
    s_one(m, "truc_broker_deliveries_expired_total", PROTO_METRIC_COUNTER,
          "Deliveries that waited longer than store.ttl (the sender got EXPIRED).", st->expired);
    s_one(m, "truc_broker_deliveries_returned_total", PROTO_METRIC_COUNTER,
          "Deliveries returned to the sender because the recipient was revoked.", st->returned);
    s_one(m, "truc_broker_accepted_bytes_total", PROTO_METRIC_COUNTER,
          "Bytes of accepted documents (envelope and attachments).", st->accepted_bytes);
    s_one(m, "truc_broker_handshakes_refused_total", PROTO_METRIC_COUNTER,
          "CURVE handshakes refused: unknown, suspended or revoked keys.",
          self->refused_handshakes);
    s_one(m, "truc_broker_handshake_timeouts_total", PROTO_METRIC_COUNTER,
          "Connections dropped for not finishing the handshake in time.", self->handshake_timeouts);
    s_one(m, "truc_broker_sessions_refused_capacity_total", PROTO_METRIC_COUNTER,
          "Sessions refused because the broker had no descriptor left for them.",
          self->capacity_refused);
    s_one(m, "truc_broker_commits_total", PROTO_METRIC_COUNTER,
          "Durable group commits, failed ones included.", self->commits);
    proto_metrics_family(m, "truc_broker_commit_duration_seconds", PROTO_METRIC_HISTOGRAM,
                         "Time of each durable group commit (LMDB commit and fsync).");
    proto_metrics_histogram(m, "truc_broker_commit_duration_seconds", NULL, &st->commit);
}

//  Every directory agency: connected or not, and its waiting documents per
//  urgency from the store's counts (O(agencies)).
static void s_agencies(broker_server_t *self, proto_metrics_t *m, uint64_t *connected,
                       uint64_t *in_flight)
{
    size_t n = proto_directory_count(self->directory);
    proto_metrics_family(m, "truc_broker_agency_connected", PROTO_METRIC_GAUGE,
                         "1 while the agency's agent has a session in READY, else 0.");
    for (size_t i = 0; i < n; i++) {
        const char *code = proto_directory_entry(self->directory, i)->code;
        const broker_peer_t *p = broker_peers_of_agency(self->peers, code);
        bool up = p && p->state == BROKER_PEER_READY && !p->dead;
        *connected += up;
        *in_flight += p ? p->nflight : 0;
        proto_metrics_u64(m, "truc_broker_agency_connected",
                          (const char *const[]){ "agency", code, NULL }, up);
    }
    bool reading =
        broker_store_writing(self->store) || broker_store_read_begin(self->store) == PROTO_OK;
    broker_waiting_t *w = calloc(n ? n : 1, sizeof *w);
    uint64_t now = broker_now();
    for (size_t i = 0; reading && w && i < n; i++)
        broker_store_waiting(self->store, proto_directory_entry(self->directory, i)->code, now,
                             &w[i]);
    if (reading && !broker_store_writing(self->store))
        broker_store_read_end(self->store);
    for (int pass = 0; w && pass < 2; pass++) {
        const char *name =
            pass ? "truc_broker_oldest_waiting_seconds" : "truc_broker_waiting_documents";
        proto_metrics_family(m, name, PROTO_METRIC_GAUGE,
                             pass ? "Age of the oldest document waiting for the agency, by "
                                    "urgency (0 when none)."
                                  : "Documents stored and not yet delivered to the agency, by "
                                    "urgency.");
        for (size_t i = 0; i < n; i++) {
            const char *code = proto_directory_entry(self->directory, i)->code;
            for (int u = 0; u < 4; u++) {
                const char *const labels[] = { "agency", code, "urgency", s_urgency[u], NULL };
                if (pass)
                    proto_metrics_double(m, name, labels, (double) w[i].oldest_age[u] / 1000.0);
                else
                    proto_metrics_u64(m, name, labels, w[i].count[u]);
            }
        }
    }
    free(w);
}

static void s_store(broker_server_t *self, proto_metrics_t *m)
{
    uint64_t used = 0, size = 0, length = 0, disk_free = 0;
    broker_store_usage(self->store, &used, &size);
    bool reading =
        broker_store_writing(self->store) || broker_store_read_begin(self->store) == PROTO_OK;
    if (reading)
        length = broker_store_audit_length(self->store);
    if (reading && !broker_store_writing(self->store))
        broker_store_read_end(self->store);
    struct statvfs fs;
    if (statvfs(self->config->data_dir, &fs) == 0)
        disk_free = (uint64_t) fs.f_bavail * (uint64_t) fs.f_frsize;
    s_one(m, "truc_broker_store_used_bytes", PROTO_METRIC_GAUGE, "Bytes of the LMDB map in use.",
          used);
    s_one(m, "truc_broker_store_map_bytes", PROTO_METRIC_GAUGE,
          "The LMDB map size (store.map_size): the store's maximum.", size);
    s_one(m, "truc_broker_disk_free_bytes", PROTO_METRIC_GAUGE,
          "Bytes free for the broker on the file system under data_dir.", disk_free);
    s_one(m, "truc_broker_store_min_free_bytes", PROTO_METRIC_GAUGE,
          "store.min_free: below this much free disk, submissions are REJECTED.",
          self->config->min_free);
    s_one(m, "truc_broker_audit_entries", PROTO_METRIC_GAUGE,
          "Length of the audit chain (its highest entry number).", length);
    const broker_stats_t *st = &self->stats;
    if (st->audit_intact >= 0) {
        s_one(m, "truc_broker_audit_verify_intact", PROTO_METRIC_GAUGE,
              "Result of the last truc-admin audit verify: 1 intact, 0 broken. Absent until "
              "one runs.",
              (uint64_t) st->audit_intact);
        proto_metrics_family(m, "truc_broker_audit_verify_timestamp_seconds", PROTO_METRIC_GAUGE,
                             "When the last truc-admin audit verify ran (Unix time).");
        proto_metrics_double(m, "truc_broker_audit_verify_timestamp_seconds", NULL,
                             (double) st->audit_checked / 1000.0);
    }
}

//  Each link's session and queue (linkstat.h): a province whose national
//  link is down for hours sees its backlog grow here.
static void s_links(broker_server_t *self, proto_metrics_t *m)
{
    broker_linkstat_t *rows = calloc(BROKER_LINKSTAT_MAX, sizeof *rows);
    size_t n = rows ? broker_linkstats(self, rows, BROKER_LINKSTAT_MAX) : 0;
    static const struct {
        const char *name, *help;
        proto_metric_type_t type;
    } families[] = {
        { "truc_broker_link_up", "1 while the link to that broker has a session in READY, else 0.",
          PROTO_METRIC_GAUGE },
        { "truc_broker_link_waiting_documents",
          "Documents queued for that broker that it has not taken yet.", PROTO_METRIC_GAUGE },
        { "truc_broker_link_oldest_waiting_seconds",
          "Age of the oldest document queued for that broker (0 when none).", PROTO_METRIC_GAUGE },
        { "truc_broker_link_in_flight_documents",
          "Documents pushed to that broker and not yet answered by its hop receipt.",
          PROTO_METRIC_GAUGE },
    };
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        proto_metrics_family(m, families[f].name, families[f].type, families[f].help);
        for (size_t i = 0; i < n; i++) {
            const broker_linkstat_t *r = &rows[i];
            const char *const labels[] = { "broker", r->label, NULL };
            if (f == 2)
                proto_metrics_double(m, families[f].name, labels, (double) r->oldest_age / 1000.0);
            else
                proto_metrics_u64(m, families[f].name, labels,
                                  f == 0   ? r->up
                                  : f == 1 ? r->waiting
                                           : r->in_flight);
        }
    }
    free(rows);
}

//  The check on each linked broker's log (linklog.h).
static void s_link_logs(broker_server_t *self, proto_metrics_t *m)
{
    const char *label;
    uint64_t size;
    bool alarm;
    proto_metrics_family(m, "truc_broker_link_log_alarm", PROTO_METRIC_GAUGE,
                         "1 while the check of a linked broker's transparency log is alarmed "
                         "(fork, rollback or failed proof; truc-admin log links).");
    for (size_t i = 0; broker_linklog_at(self->linklog, i, &label, &size, &alarm); i++)
        proto_metrics_u64(m, "truc_broker_link_log_alarm",
                          (const char *const[]){ "broker", label, NULL }, alarm);
    proto_metrics_family(m, "truc_broker_link_log_size", PROTO_METRIC_GAUGE,
                         "Leaves in the latest verified head of a linked broker's log.");
    for (size_t i = 0; broker_linklog_at(self->linklog, i, &label, &size, &alarm); i++)
        proto_metrics_u64(m, "truc_broker_link_log_size",
                          (const char *const[]){ "broker", label, NULL }, size);
}

//  Why the broker should not be given traffic, or NULL.
static const char *s_not_ready(broker_server_t *self)
{
    if (broker_clock_held(self->clock))
        return "holding a wall-clock jump: expiry and retention stopped (truc-admin clock "
               "confirm)";
    if (self->stats.commit_failing)
        return "the store cannot commit";
    return NULL;
}

static void s_render(broker_server_t *self, proto_metrics_t *m, const char *why, uint64_t started)
{
    char fingerprint[PROTO_FINGERPRINT_LEN + 1];
    proto_fingerprint(proto_identity_public(self->identity)->sign_pk, fingerprint);
    proto_metrics_family(m, "truc_broker_info", PROTO_METRIC_GAUGE,
                         "The broker's version, name and signing key fingerprint (always 1).");
    proto_metrics_u64(m, "truc_broker_info",
                      (const char *const[]){ "version", TRUC_VERSION, "broker",
                                             proto_identity_public(self->identity)->name,
                                             "fingerprint", fingerprint, NULL },
                      1);
    proto_metrics_family(m, "truc_broker_start_time_seconds", PROTO_METRIC_GAUGE,
                         "When the broker started (Unix time).");
    proto_metrics_double(m, "truc_broker_start_time_seconds", NULL, (double) started / 1000.0);
    s_one(m, "truc_broker_ready", PROTO_METRIC_GAUGE,
          "1 when /readyz answers 200: not holding a clock jump, the store commits.", !why);
    s_one(m, "truc_broker_clock_held", PROTO_METRIC_GAUGE,
          "1 while a wall-clock jump holds expiry and retention.", broker_clock_held(self->clock));
    s_link_logs(self, m);
    s_links(self, m);
    s_counters(self, m);
    uint64_t connected = 0, in_flight = 0;
    s_agencies(self, m, &connected, &in_flight);
    s_one(m, "truc_broker_connected_agencies", PROTO_METRIC_GAUGE,
          "Directory agencies with a session in READY.", connected);
    s_one(m, "truc_broker_in_flight_documents", PROTO_METRIC_GAUGE,
          "Pushes sent to agents and not yet acknowledged.", in_flight);
    s_one(m, "truc_broker_connections", PROTO_METRIC_GAUGE, "Open connections, handshaking or not.",
          broker_conns_open(self->conns));
    s_one(m, "truc_broker_connection_capacity", PROTO_METRIC_GAUGE,
          "Sessions the descriptor limit leaves room for.", broker_conns_capacity(self->conns));
    s_one(m, "truc_broker_verify_queue_jobs", PROTO_METRIC_GAUGE,
          "Messages at the signature-verify workers (intake pauses at 4096).", self->outstanding);
    s_one(m, "truc_broker_verify_queue_bytes", PROTO_METRIC_GAUGE,
          "Bytes of the messages at the verify workers (intake pauses at 64 MiB).",
          self->outstanding_bytes);
    s_one(m, "truc_broker_verify_threads", PROTO_METRIC_GAUGE, "Signature-verify worker threads.",
          broker_verify_threads(self->verify));
    s_store(self, m);
}

static void s_publish(broker_metrics_t *self)
{
    broker_server_t *server = self->server;
    const char *why = s_not_ready(server);
    proto_metrics_reset(self->text);
    s_render(server, self->text, why, self->started);
    size_t len;
    bool rendered = proto_metrics_text(self->text, &len) != NULL;
    if (!rendered)
        proto_log_error("event=metrics_render_failed");
    if (proto_metrics_http_publish(self->http, rendered ? self->text : NULL, !why, why) != PROTO_OK)
        proto_log_error("event=metrics_publish_failed error=ERR_NOMEM");
}

void broker_metrics_due(broker_metrics_t *self)
{
    self->due = true;
}

void broker_metrics_turn(broker_metrics_t *self)
{
    if (self->due && !broker_store_writing(self->server->store)) {
        self->due = false;
        s_publish(self);
    }
}

// ---------------------------------------------------------------------------
//  Life cycle

broker_metrics_t *broker_metrics_new(broker_server_t *server, char *errbuf, size_t errlen)
{
    broker_metrics_t *self = calloc(1, sizeof *self);
    if (!self || !(self->text = proto_metrics_new())) {
        free(self);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    self->server = server;
    self->started = broker_now() - broker_elapsed(broker_mono(), server->started);
    char why[300];
    self->http =
        proto_metrics_http_new(server->config->metrics_listen, "truc-broker", why, sizeof why);
    if (!self->http) {
        snprintf(errbuf, errlen, "metrics.listen: %s", why);
        broker_metrics_destroy(&self);
        return NULL;
    }
    proto_log_info("event=metrics_listening address=%s port=%u", server->config->metrics_listen,
                   proto_metrics_http_port(self->http));
    return self;
}

void broker_metrics_destroy(broker_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    proto_metrics_http_destroy(&(*self_p)->http);
    proto_metrics_destroy(&(*self_p)->text);
    free(*self_p);
    *self_p = NULL;
}

uint16_t broker_metrics_port(const broker_metrics_t *self)
{
    return proto_metrics_http_port(self->http);
}
