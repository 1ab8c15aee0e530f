/*  agent/metrics.c - every truc_agent_* family, rendered on the loop
    thread and published to the HTTP endpoint (see metrics.h).
*/
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "proto/log.h"
#include "proto/metrics.h"
#include "proto/metrics_http.h"

struct agent_metrics {
    agent_t *agent;
    proto_metrics_http_t *http;
    proto_metrics_t *text; // kept between renders: its buffer is reused
    bool due;              // the timer asked for a publication
};

static void s_one(proto_metrics_t *m, const char *name, proto_metric_type_t type, const char *help,
                  uint64_t value)
{
    proto_metrics_family(m, name, type, help);
    proto_metrics_u64(m, name, NULL, value);
}

static bool s_first(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    (void) value;
    (void) vlen;
    if (klen == PROTO_ID_LEN)
        memcpy(arg, key, PROTO_ID_LEN);
    return false;
}

//  The outbox is keyed by document id, and agents make version-7 UUIDs
//  (the creation time in ms in the first 48 bits, PROTOCOL.md §2.4): its
//  first key is its oldest document. 0 when empty.
static uint64_t s_oldest_unsent_ms(agent_t *self, uint64_t now)
{
    uint8_t id[PROTO_ID_LEN] = { 0 };
    proto_store_scan(self->kv, T_OUT, NULL, 0, s_first, id);
    uint64_t created = 0;
    for (int i = 0; i < 6; i++)
        created = created << 8 | id[i];
    return created && now > created ? now - created : 0;
}

//  Why the agent should not be given traffic, or NULL.
static const char *s_not_ready(const agent_t *self)
{
    if (self->refused)
        return "the broker refused this agency's key";
    if (self->state != A_READY)
        return "not connected to the broker";
    return NULL;
}

static void s_store(agent_t *self, proto_metrics_t *m)
{
    uint64_t outbox = 0, inbox = 0, quarantine = 0, events = 0, oldest = 0;
    bool writing = proto_store_writing(self->kv);
    if (writing || proto_store_read_begin(self->kv) == PROTO_OK) {
        outbox = agent_store_out_count(self->kv);
        inbox = proto_store_count(self->kv, T_INBOX);
        quarantine = agent_store_quar_count(self->kv);
        events = proto_store_count(self->kv, T_EVENTS);
        oldest = s_oldest_unsent_ms(self, agent_now());
        if (!writing)
            proto_store_read_end(self->kv);
    }
    s_one(m, "truc_agent_outbox_documents", PROTO_METRIC_GAUGE,
          "Documents and notices queued for the broker and not yet answered.", outbox);
    s_one(m, "truc_agent_outbox_in_flight", PROTO_METRIC_GAUGE,
          "Outbox items sent to the broker and awaiting ACCEPTED or REJECTED.",
          self->out_in_flight);
    proto_metrics_family(m, "truc_agent_oldest_unsent_seconds", PROTO_METRIC_GAUGE,
                         "Age of the oldest document in the outbox (0 when empty).");
    proto_metrics_double(m, "truc_agent_oldest_unsent_seconds", NULL, (double) oldest / 1000.0);
    s_one(m, "truc_agent_inbox_documents", PROTO_METRIC_GAUGE,
          "Documents received and kept in the inbox.", inbox);
    s_one(m, "truc_agent_quarantined_documents", PROTO_METRIC_GAUGE,
          "Deliveries refused by the agent's checks and kept in quarantine.", quarantine);
    s_one(m, "truc_agent_events_stored", PROTO_METRIC_GAUGE,
          "Events kept for the DMS to read with `events` (the highest is the newest).", events);
}

static void s_render(agent_t *self, proto_metrics_t *m, const char *why)
{
    proto_metrics_family(m, "truc_agent_info", PROTO_METRIC_GAUGE,
                         "The agent's version and agency code (always 1).");
    proto_metrics_u64(
        m, "truc_agent_info",
        (const char *const[]){ "version", TRUC_VERSION, "agency", self->agency, NULL }, 1);
    s_one(m, "truc_agent_ready", PROTO_METRIC_GAUGE,
          "1 when /readyz answers 200: the agent has a session with the broker.", !why);
    s_one(m, "truc_agent_connected", PROTO_METRIC_GAUGE,
          "1 while the session with the broker is in READY, else 0.", self->state == A_READY);
    s_one(m, "truc_agent_refused", PROTO_METRIC_GAUGE,
          "1 while the broker refuses this agency's key at the handshake.", self->refused);
    proto_metrics_family(m, "truc_agent_state_since_timestamp_seconds", PROTO_METRIC_GAUGE,
                         "When the session last changed state, connected or not (Unix time).");
    proto_metrics_double(m, "truc_agent_state_since_timestamp_seconds", NULL,
                         (double) self->state_since / 1000.0);
    s_one(m, "truc_agent_store_full", PROTO_METRIC_GAUGE,
          "1 while the store refuses new documents for lack of room.", self->storage.full);
    s_one(m, "truc_agent_directory_serial", PROTO_METRIC_GAUGE,
          "Serial of the agency directory the agent holds (0: none yet).",
          self->directory ? self->directory->u.directory.serial : 0);
    s_one(m, "truc_agent_event_waiters", PROTO_METRIC_GAUGE,
          "DMS `events` requests waiting for a new event.", self->nwaiters);
    proto_metrics_family(m, "truc_agent_last_error_info", PROTO_METRIC_GAUGE,
                         "The last error the agent met with the broker, as the `health` "
                         "request shows it (1 with the message; absent when none).");
    if (self->last_error[0])
        proto_metrics_u64(m, "truc_agent_last_error_info",
                          (const char *const[]){ "message", self->last_error, NULL }, 1);
    s_store(self, m);
}

static void s_publish(agent_metrics_t *self)
{
    const char *why = s_not_ready(self->agent);
    proto_metrics_reset(self->text);
    s_render(self->agent, self->text, why);
    size_t len;
    bool rendered = proto_metrics_text(self->text, &len) != NULL;
    if (!rendered)
        proto_log_error("event=metrics_render_failed");
    if (proto_metrics_http_publish(self->http, rendered ? self->text : NULL, !why, why) != PROTO_OK)
        proto_log_error("event=metrics_publish_failed error=ERR_NOMEM");
}

void agent_metrics_due(agent_metrics_t *self)
{
    self->due = true;
}

void agent_metrics_turn(agent_metrics_t *self)
{
    if (self->due && !proto_store_writing(self->agent->kv)) {
        self->due = false;
        s_publish(self);
    }
}

agent_metrics_t *agent_metrics_new(agent_t *agent, char *errbuf, size_t errlen)
{
    const agent_config_t *config = agent->config;
    if (proto_metrics_http_listen_check(config->metrics_listen, config->metrics_remote, errbuf,
                                        errlen) != PROTO_OK)
        return NULL;
    agent_metrics_t *self = calloc(1, sizeof *self);
    if (!self || !(self->text = proto_metrics_new())) {
        free(self);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    self->agent = agent;
    char why[300];
    self->http = proto_metrics_http_new(config->metrics_listen, "truc-agent", why, sizeof why);
    if (!self->http) {
        snprintf(errbuf, errlen, "metrics.listen: %s", why);
        agent_metrics_destroy(&self);
        return NULL;
    }
    proto_log_info("event=metrics_listening address=%s port=%u", config->metrics_listen,
                   proto_metrics_http_port(self->http));
    return self;
}

void agent_metrics_destroy(agent_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    proto_metrics_http_destroy(&(*self_p)->http);
    proto_metrics_destroy(&(*self_p)->text);
    free(*self_p);
    *self_p = NULL;
}
