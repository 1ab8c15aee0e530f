/*  agent/agent.c - the agent's life cycle, its loop and its commit.

    Owns agent_new/run/destroy (identity, pinned broker keys, the store,
    the API ROUTER and events PUB bound with their mode and group, the
    signal pipe), the wiring of the loop (which socket goes to which
    handler, what runs after every turn), events, and the group commit: one
    transaction per turn, then what waited for it (API replies, events,
    ACKs and the signed DELIVERED).

    Does not: talk to the broker (session.c), keep the directory
    (directory.c), the outbox (outbox.c) or the inbox (inbox.c), nor parse
    API requests (api.c).
*/
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "agent_internal.h"
#include "inbox.h"
#include "metrics.h"
#include "session.h"
#include "tlog.h"
#include "proto/daemon.h"
#include "proto/log.h"
#include "proto/sdnotify.h"
#include "proto/metrics_http.h"

//  The after-commit queue starts this deep and doubles as it fills.
#define S_AFTER_FIRST_CAP 64

uint64_t agent_now(void)
{
    return proto_clock_wall_ms();
}

static bool s_copy(agent_bytes_t *out, const void *data, size_t len)
{
    out->data = len ? malloc(len) : NULL;
    out->len = len;
    if (len && !out->data)
        return false;
    if (len)
        memcpy(out->data, data, len);
    return true;
}

void agent_after_add(agent_t *self, int what, const void *route, size_t route_len, const void *body,
                     size_t body_len, const char *topic, uint64_t mid)
{
    if (self->nafter == self->after_cap) {
        size_t cap = self->after_cap ? self->after_cap * 2 : S_AFTER_FIRST_CAP;
        agent_after_t *grown = realloc(self->after, cap * sizeof *grown);
        if (!grown)
            return;
        self->after = grown;
        self->after_cap = cap;
    }
    agent_after_t *a = &self->after[self->nafter];
    memset(a, 0, sizeof *a);
    a->what = what;
    a->mid = mid;
    if (topic)
        snprintf(a->topic, sizeof a->topic, "%s", topic);
    if (!s_copy(&a->route, route, route_len) || !s_copy(&a->body, body, body_len)) {
        free(a->route.data);
        free(a->body.data);
        return;
    }
    self->nafter++;
}

// ---------------------------------------------------------------------------
//  Events: stored in the transaction, published after the commit.

void agent_event(agent_t *self, const char *topic, const proto_id_t *id, const char *fmt, ...)
{
    //  fmt lists extra fields as pairs: 's' key value(str), 'u' key value
    //  (uint64), 'b' key value(int as bool).
    if (proto_store_begin(self->kv) != PROTO_OK)
        return;
    uint64_t seq = agent_store_event_next(self->kv);
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    size_t extra = fmt ? strlen(fmt) : 0;
    msgpack_pack_map(&pk, 3 + (id ? 1 : 0) + extra);
    msgpack_pack_str_with_body(&pk, "seq", 3);
    msgpack_pack_uint64(&pk, seq);
    msgpack_pack_str_with_body(&pk, "time", 4);
    msgpack_pack_uint64(&pk, agent_now());
    msgpack_pack_str_with_body(&pk, "topic", 5);
    msgpack_pack_str_with_body(&pk, topic, strlen(topic));
    if (id) {
        char text[PROTO_ID_TEXT_LEN];
        proto_id_format(id, text);
        msgpack_pack_str_with_body(&pk, "id", 2);
        msgpack_pack_str_with_body(&pk, text, PROTO_ID_TEXT_LEN - 1);
    }
    va_list args;
    va_start(args, fmt);
    for (size_t i = 0; i < extra; i++) {
        const char *key = va_arg(args, const char *);
        msgpack_pack_str_with_body(&pk, key, strlen(key));
        if (fmt[i] == 's') {
            const char *value = va_arg(args, const char *);
            if (value)
                msgpack_pack_str_with_body(&pk, value, strlen(value));
            else
                msgpack_pack_nil(&pk);
        } else if (fmt[i] == 'u') {
            msgpack_pack_uint64(&pk, va_arg(args, uint64_t));
        } else {
            if (va_arg(args, int))
                msgpack_pack_true(&pk);
            else
                msgpack_pack_false(&pk);
        }
    }
    va_end(args);
    if (seq && agent_store_event_put(self->kv, seq, buf.data, buf.size) == PROTO_OK)
        agent_after_add(self, AFTER_EVENT, NULL, 0, buf.data, buf.size, topic, 0);
    msgpack_sbuffer_destroy(&buf);
}

// ---------------------------------------------------------------------------
//  After the commit

static void s_pack_str(msgpack_packer *pk, const char *key, const char *value)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
    if (value)
        msgpack_pack_str_with_body(pk, value, strlen(value));
    else
        msgpack_pack_nil(pk);
}

static void s_after_commit(agent_t *self, proto_err_t rc)
{
    uint64_t mids[PROTO_MAX_ITEMS];
    size_t nmids = 0;
    bool events = false;
    for (size_t i = 0; i < self->nafter; i++) {
        agent_after_t *a = &self->after[i];
        if (a->what == AFTER_REPLY) {
            if (rc && !a->is_error_reply) {
                //  Nothing was stored: say so instead of the success prepared.
                msgpack_sbuffer buf;
                msgpack_packer pk;
                msgpack_sbuffer_init(&buf);
                msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
                msgpack_pack_map(&pk, 4);
                msgpack_pack_str_with_body(&pk, "ok", 2);
                msgpack_pack_false(&pk);
                msgpack_pack_str_with_body(&pk, "code", 4);
                msgpack_pack_uint32(&pk, rc);
                s_pack_str(&pk, "error", proto_errname(rc));
                s_pack_str(&pk, "message", "the agent could not store it; nothing was kept");
                zmq_send(self->api, a->route.data, a->route.len, ZMQ_SNDMORE);
                zmq_send(self->api, "", 0, ZMQ_SNDMORE);
                zmq_send(self->api, buf.data, buf.size, 0);
                msgpack_sbuffer_destroy(&buf);
            } else {
                zmq_send(self->api, a->route.data, a->route.len, ZMQ_SNDMORE);
                zmq_send(self->api, "", 0, ZMQ_SNDMORE);
                zmq_send(self->api, a->body.data, a->body.len, 0);
            }
        } else if (a->what == AFTER_EVENT && !rc) {
            zmq_send(self->pub, a->topic, strlen(a->topic), ZMQ_SNDMORE);
            zmq_send(self->pub, a->body.data, a->body.len, 0);
            events = true;
        } else if (a->what == AFTER_ACK && !rc && a->mid && nmids < PROTO_MAX_ITEMS) {
            mids[nmids++] = a->mid;
        }
        free(a->route.data);
        free(a->body.data);
    }
    self->nafter = 0;
    if (rc) {
        self->nacks = 0;
        return;
    }
    agent_inbox_send_acks(self);
    if (nmids && self->state == A_READY) {
        proto_msg_t msg;
        memset(&msg, 0, sizeof msg);
        msg.kind = PROTO_KIND_ACK;
        msg.u.ack.mids = mids;
        msg.u.ack.nmids = (uint32_t) nmids;
        agent_session_send_msg(self, &msg);
    }
    if (events)
        agent_api_wake(self);
}

static void s_commit(agent_t *self)
{
    proto_err_t rc = PROTO_OK;
    bool wrote = proto_store_writing(self->kv);
    if (wrote) {
        rc = proto_store_commit(self->kv);
        if (rc)
            proto_log_error("event=commit_failed error=%s", proto_errname(rc));
    }
    if (self->nafter || self->nacks)
        s_after_commit(self, rc);
    //  After the replies: what storage.c queues belongs to the next commit.
    if (wrote && rc)
        agent_storage_failed(self, rc);
    else if (wrote)
        agent_storage_committed(self);
}

// ---------------------------------------------------------------------------
//  Life cycle

void agent_signal(agent_t *self, int signal_number)
{
    unsigned char byte = (unsigned char) signal_number;
    ssize_t written = write(self->signal_pipe[1], &byte, 1);
    (void) written;
}

//  Bind; an ipc:// socket file gets api.socket_mode and api.socket_group
//  whatever the umask (abstract ipc://@ sockets have no file).
static int s_bind_ipc(void *socket, const char *endpoint, unsigned mode, long gid, char *errbuf,
                      size_t errlen)
{
    if (zmq_bind(socket, endpoint) != 0) {
        snprintf(errbuf, errlen, "cannot bind %s: %s", endpoint, zmq_strerror(zmq_errno()));
        return -1;
    }
    if (strncmp(endpoint, "ipc://", 6) != 0 || endpoint[6] == '@')
        return 0;
    const char *path = endpoint + 6;
    if (gid >= 0 && chown(path, (uid_t) -1, (gid_t) gid) != 0) {
        snprintf(errbuf, errlen, "cannot give %s to group %ld (api.socket_group): %s", path, gid,
                 strerror(errno));
        return -1;
    }
    if (chmod(path, (mode_t) mode) != 0) {
        snprintf(errbuf, errlen, "cannot set the mode of %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

//  The API's ROUTER and the events PUB, bound where the config says (by
//  default ipc:// sockets in data_dir). false with the reason in errbuf.
static bool s_open_api(agent_t *self, char *errbuf, size_t errlen)
{
    const agent_config_t *config = self->config;
    self->ctx = zmq_ctx_new();
    self->api = zmq_socket(self->ctx, ZMQ_ROUTER);
    self->pub = zmq_socket(self->ctx, ZMQ_PUB);
    if (!self->ctx || !self->api || !self->pub) {
        snprintf(errbuf, errlen, "cannot create sockets");
        return false;
    }
    int64_t max_request = (int64_t) config->max_request;
    zmq_setsockopt(self->api, ZMQ_MAXMSGSIZE, &max_request, sizeof max_request);
    char endpoint[4200];
    //  Requests sign documents and events carry senders and subjects: both
    //  stay on this host, whoever can reach them is trusted as the DMS.
    static const char *const names[2] = { "api.endpoint", "api.events_endpoint" };
    const char *const given[2] = { config->api_endpoint, config->events_endpoint };
    for (int i = 0; i < 2; i++)
        if (given[i][0] && !proto_endpoint_is_local(given[i])) {
            snprintf(errbuf, errlen,
                     "%s %s is not an ipc:// or loopback tcp:// endpoint (127.x.y.z or [::1] "
                     "with a port)",
                     names[i], given[i]);
            return false;
        }
    if (config->api_endpoint[0])
        snprintf(endpoint, sizeof endpoint, "%s", config->api_endpoint);
    else
        snprintf(endpoint, sizeof endpoint, "ipc://%s/api.sock", config->data_dir);
    unsigned mode = 0600;
    long gid = -1;
    if (agent_config_socket(config, &mode, &gid, errbuf, errlen) != PROTO_OK)
        return false;
    if (s_bind_ipc(self->api, endpoint, mode, gid, errbuf, errlen) != 0)
        return false;
    if (config->events_endpoint[0])
        snprintf(endpoint, sizeof endpoint, "%s", config->events_endpoint);
    else
        snprintf(endpoint, sizeof endpoint, "ipc://%s/events.sock", config->data_dir);
    if (s_bind_ipc(self->pub, endpoint, mode, gid, errbuf, errlen) != 0)
        return false;
    return true;
}

agent_t *agent_new(const agent_config_t *config, char *errbuf, size_t errlen)
{
    agent_t *self = calloc(1, sizeof *self);
    char err[512] = "";
    if (!self) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    self->config = config;
    self->signal_pipe[0] = self->signal_pipe[1] = -1;
    self->backoff = AGENT_BACKOFF_FIRST_MS;
    //  err names the file at fault: the key, or its passphrase file.
    proto_err_t rc = proto_identity_open(config->identity, config->passphrase_file,
                                         PROTO_PASSPHRASE_ENV, &self->identity, err, sizeof err);
    if (rc) {
        snprintf(errbuf, errlen, "cannot load the agency key: %s: %s", proto_strerror(rc), err);
        goto fail;
    }
    if (proto_identity_public(self->identity)->role != PROTO_ROLE_AGENCY) {
        snprintf(errbuf, errlen, "%s is not an agency key", config->identity);
        goto fail;
    }
    self->agency = proto_identity_public(self->identity)->name;
    rc = proto_public_load(config->public_key, &self->broker, err, sizeof err);
    if (rc || self->broker.role != PROTO_ROLE_BROKER) {
        snprintf(errbuf, errlen, "cannot load the broker's public identity %s: %s%s%s",
                 config->public_key, rc ? proto_strerror(rc) : "not a broker identity",
                 *err ? ": " : "", err);
        goto fail;
    }
    self->kv = agent_store_open(config->data_dir, config->map_size, errbuf, errlen);
    if (!self->kv)
        goto fail;
    self->files = agent_files_new(config, errbuf, errlen);
    if (!self->files)
        goto fail;
    agent_dir_load(self);
    self->tlog = agent_tlog_new(self);
    if (!self->tlog) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    if (pipe(self->signal_pipe) != 0) {
        snprintf(errbuf, errlen, "pipe: %s", strerror(errno));
        goto fail;
    }
    fcntl(self->signal_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(self->signal_pipe[1], F_SETFL, O_NONBLOCK);
    self->loop = proto_loop_new();
    if (!self->loop) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    if (!s_open_api(self, errbuf, errlen))
        goto fail;
    if (config->metrics_listen[0] && !(self->metrics = agent_metrics_new(self, errbuf, errlen)))
        goto fail;
    self->out_dirty = true;
    char fingerprint[PROTO_FINGERPRINT_LEN + 1];
    proto_fingerprint(proto_identity_public(self->identity)->sign_pk, fingerprint);
    proto_log_info("event=started agency=%s fingerprint=%s broker=%s data_dir=%s", self->agency,
                   fingerprint, config->endpoint, config->data_dir);
    return self;
fail:
    agent_destroy(&self);
    return NULL;
}

//  After every turn: answer waiters that are due, run the session's state
//  machine, commit what the turn wrote (one transaction for all of it),
//  send what the outbox holds, and sleep until the next deadline.
static int s_on_turn(proto_loop_t *loop, void *arg)
{
    agent_t *self = arg;
    agent_api_timers(self, proto_clock_mono_ms());
    uint64_t next = agent_session_tick(self);
    s_commit(self);
    if (self->metrics)
        agent_metrics_turn(self->metrics);
    agent_outbox_flush(self);
    if (next != UINT64_MAX)
        proto_loop_wake_at(loop, next);
    return 0;
}

static int s_on_signal(proto_loop_t *loop, void *socket, int fd, void *arg)
{
    (void) socket;
    (void) arg;
    unsigned char bytes[16];
    if (read(fd, bytes, sizeof bytes) > 0)
        proto_loop_stop(loop);
    return 0;
}

//  The local API's ROUTER; the broker's sockets have their handler in
//  session.c.
static int s_on_api(proto_loop_t *loop, void *socket, int fd, void *arg)
{
    agent_t *self = arg;
    (void) loop;
    (void) socket;
    (void) fd;
    agent_api_readable(self);
    return 0;
}

static int s_on_metrics(proto_loop_t *loop, int timer_id, void *arg)
{
    agent_t *self = arg;
    (void) loop;
    (void) timer_id;
    agent_metrics_due(self->metrics);
    return 0;
}

int agent_run(agent_t *self)
{
    int rc = 0;
    if (self->metrics) {
        agent_metrics_due(self->metrics); // the first turn publishes: /healthz says ok
        if (proto_loop_timer_add(self->loop, PROTO_METRICS_HTTP_PERIOD_MS, true, s_on_metrics,
                                 self) < 0)
            rc = 1;
    }
    if (rc || proto_loop_fd_add(self->loop, self->signal_pipe[0], s_on_signal, self) != PROTO_OK ||
        proto_loop_socket_add(self->loop, self->api, s_on_api, self) != PROTO_OK) {
        proto_log_error("event=loop_failed error=ERR_NOMEM");
        rc = 1;
    } else {
        proto_loop_turn_set(self->loop, s_on_turn, self);
        //  Store open, API and events bound: the DMS may connect.
        char status[256];
        snprintf(status, sizeof status, "serving agency %s; broker %s", self->agency,
                 self->config->endpoint);
        (void) proto_sd_ready(self->loop, status);
        //  The first turn has not happened yet: start the session now.
        if (s_on_turn(self->loop, self) != 0 || proto_loop_run(self->loop) != PROTO_OK)
            rc = 1;
    }
    proto_sd_stopping("stopping");
    s_commit(self);
    proto_log_info("event=stopped agency=%s", self->agency);
    return rc;
}

void agent_destroy(agent_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    agent_t *self = *self_p;
    int zero = 0;
    agent_metrics_destroy(&self->metrics); // stop its thread before anything else goes
    agent_session_disconnect(self);
    proto_loop_destroy(&self->loop);
    void *sockets[] = { self->api, self->pub };
    for (size_t i = 0; i < 2; i++)
        if (sockets[i]) {
            zmq_setsockopt(sockets[i], ZMQ_LINGER, &zero, sizeof zero);
            zmq_close(sockets[i]);
        }
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    agent_files_destroy(&self->files);
    for (size_t i = 0; i < self->nafter; i++) {
        free(self->after[i].route.data);
        free(self->after[i].body.data);
    }
    free(self->after);
    free(self->acks);
    free(self->ack_codes);
    for (size_t i = 0; i < self->nwaiters; i++)
        free(self->waiters[i].route.data);
    free(self->waiters);
    proto_msg_destroy(&self->directory);
    agent_tlog_destroy(&self->tlog);
    proto_store_destroy(&self->kv);
    proto_identity_destroy(&self->identity);
    for (int i = 0; i < 2; i++)
        if (self->signal_pipe[i] >= 0)
            close(self->signal_pipe[i]);
    free(self);
    *self_p = NULL;
}
