/*  agent/api.c - the local API (agent/API.md) on a ROUTER socket.

    Each request is one msgpack map. Documents a DMS submits are turned into
    wire envelopes by copying the DMS's map into a SUBMIT body and running
    the protocol's strict decoder over it: one set of rules, and errors that
    name the field exactly as a receiver would. Replies to requests that
    change the store wait for the commit (agent.c sends them afterwards).

    This file holds the socket, the command table, the reply builders and
    field readers every command uses, and the events catch-up and
    long-poll; the commands themselves live in api_send.c and api_read.c
    (see api_internal.h).
*/
#include <inttypes.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "api_internal.h"
#include "proto/log.h"

// ---------------------------------------------------------------------------
//  Replies

void api_reply_send(api_req_t *req, bool after_commit)
{
    agent_t *self = req->self;
    if (req->capture)
        msgpack_sbuffer_write(req->capture, req->buf.data, req->buf.size);
    if (after_commit) {
        agent_after_add(self, AFTER_REPLY, req->route, req->route_len, req->buf.data, req->buf.size,
                        NULL, 0);
    } else if (!req->capture) {
        zmq_send(self->api, req->route, req->route_len, ZMQ_SNDMORE);
        zmq_send(self->api, "", 0, ZMQ_SNDMORE);
        zmq_send(self->api, req->buf.data, req->buf.size, 0);
    }
    msgpack_sbuffer_clear(&req->buf);
}

void api_key(msgpack_packer *pk, const char *key)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
}

void api_str(msgpack_packer *pk, const char *value)
{
    if (value)
        msgpack_pack_str_with_body(pk, value, strlen(value));
    else
        msgpack_pack_nil(pk);
}

void api_kv_str(msgpack_packer *pk, const char *key, const char *value)
{
    api_key(pk, key);
    api_str(pk, value);
}

void api_kv_u64(msgpack_packer *pk, const char *key, uint64_t value)
{
    api_key(pk, key);
    msgpack_pack_uint64(pk, value);
}

void api_kv_bool(msgpack_packer *pk, const char *key, bool value)
{
    api_key(pk, key);
    if (value)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

void api_kv_id(msgpack_packer *pk, const char *key, const proto_id_t *id)
{
    char text[PROTO_ID_TEXT_LEN];
    proto_id_format(id, text);
    api_kv_str(pk, key, text);
}

//  Start an ok reply with n more fields to follow.
void api_ok(api_req_t *req, size_t n)
{
    msgpack_pack_map(&req->pk, 1 + n);
    api_kv_bool(&req->pk, "ok", true);
}

void api_fail(api_req_t *req, proto_err_t code, const char *field, const char *format, ...)
{
    char message[400];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    msgpack_sbuffer_clear(&req->buf);
    msgpack_pack_map(&req->pk, 5);
    api_kv_bool(&req->pk, "ok", false);
    api_kv_u64(&req->pk, "code", (uint64_t) code);
    api_kv_str(&req->pk, "error", proto_errname(code));
    api_kv_str(&req->pk, "field", field ? field : "");
    api_kv_str(&req->pk, "message", message[0] ? message : proto_strerror(code));
    api_reply_send(req, false);
}

// ---------------------------------------------------------------------------
//  Reading request fields

bool api_is(const msgpack_object *o, const char *text)
{
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(text) &&
           memcmp(o->via.str.ptr, text, o->via.str.size) == 0;
}

//  Check the request's keys: every key must be in allowed (NULL-ended).
bool api_keys_known(api_req_t *req, const msgpack_object *map, const char *const *allowed)
{
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *key = &map->via.map.ptr[i].key;
        bool known = false;
        for (size_t k = 0; allowed[k] && !known; k++)
            known = api_is(key, allowed[k]);
        if (!known) {
            //  Name the field when it is a plain name; anything else (other
            //  bytes, not a string) is not echoed back.
            char name[65] = "(key)";
            if (key->type == MSGPACK_OBJECT_STR && key->via.str.size > 0 &&
                key->via.str.size < sizeof name) {
                bool plain = true;
                for (uint32_t c = 0; c < key->via.str.size && plain; c++) {
                    char ch = key->via.str.ptr[c];
                    plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                            (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
                }
                if (plain)
                    snprintf(name, sizeof name, "%.*s", (int) key->via.str.size, key->via.str.ptr);
            }
            api_fail(req, PROTO_ERR_UNKNOWN_FIELD, name, "unknown field %s", name);
            return false;
        }
    }
    return true;
}

const msgpack_object *api_get(const msgpack_object *map, const char *key)
{
    for (uint32_t i = 0; map->type == MSGPACK_OBJECT_MAP && i < map->via.map.size; i++)
        if (api_is(&map->via.map.ptr[i].key, key))
            return &map->via.map.ptr[i].val;
    return NULL;
}

//  Copy a str field into out (NUL-terminated). false (and a reply) when it
//  is present but not a string or too long.
bool api_text(api_req_t *req, const msgpack_object *map, const char *key, char *out, size_t cap,
              bool required)
{
    const msgpack_object *v = api_get(map, key);
    out[0] = '\0';
    if (!v || v->type == MSGPACK_OBJECT_NIL) {
        if (required)
            api_fail(req, PROTO_ERR_MISSING, key, "required field missing");
        return !required;
    }
    if (v->type != MSGPACK_OBJECT_STR) {
        api_fail(req, PROTO_ERR_TYPE, key, "expected a string");
        return false;
    }
    if (v->via.str.size >= cap) {
        api_fail(req, PROTO_ERR_LIMIT, key, "longer than %zu bytes", cap - 1);
        return false;
    }
    memcpy(out, v->via.str.ptr, v->via.str.size);
    out[v->via.str.size] = '\0';
    return true;
}

bool api_uint(api_req_t *req, const msgpack_object *map, const char *key, uint64_t *out,
              uint64_t min, uint64_t max)
{
    const msgpack_object *v = api_get(map, key);
    if (!v || v->type == MSGPACK_OBJECT_NIL)
        return true;
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        api_fail(req, PROTO_ERR_TYPE, key, "expected an unsigned integer");
        return false;
    }
    if (v->via.u64 < min || v->via.u64 > max) {
        api_fail(req, PROTO_ERR_VALUE, key, "outside %" PRIu64 "..%" PRIu64, min, max);
        return false;
    }
    *out = v->via.u64;
    return true;
}

bool api_id_field(api_req_t *req, const msgpack_object *map, const char *key, proto_id_t *id)
{
    char text[64];
    if (!api_text(req, map, key, text, sizeof text, true))
        return false;
    if (proto_id_parse(text, id) != PROTO_OK) {
        api_fail(req, PROTO_ERR_VALUE, key, "'%s' is not a document id", text);
        return false;
    }
    return true;
}

//  A path outside the allowed directories, through a symlink or at the
//  agent's own files is an attempt worth an event, as a forged doc.from is.
void api_denied_path(api_req_t *req, const char *field, const char *path)
{
    proto_log_warning("event=api_denied field=%s path=\"%.200s\"", field, path);
    agent_event(req->self, "api.denied", NULL, "sss", "field", field, "path", path, "code",
                proto_errname(PROTO_ERR_NOT_AUTHORIZED));
}

// ---------------------------------------------------------------------------
//  Events catch-up and long-poll

typedef struct {
    msgpack_packer *pk;
    uint32_t count, limit;
    uint64_t last;
    bool counting;
} s_events_t;

static bool s_event_one(void *arg, uint64_t seq, const void *value, size_t vlen)
{
    s_events_t *e = arg;
    if (e->count == e->limit)
        return false;
    e->count++;
    e->last = seq;
    if (!e->counting)
        msgpack_sbuffer_write(e->pk->data, value, vlen);
    return true;
}

//  Answer an events request if there is something (or force): true if sent.
//  capture: as in api_req_t (agent_api_handle), or NULL.
static bool s_events_answer(agent_t *self, const uint8_t *route, size_t route_len,
                            msgpack_sbuffer *capture, uint64_t after, uint32_t limit, bool force)
{
    if (proto_store_read_begin(self->kv) != PROTO_OK && !proto_store_writing(self->kv))
        return false;
    api_req_t req = { .self = self, .route = route, .route_len = route_len, .capture = capture };
    msgpack_sbuffer_init(&req.buf);
    msgpack_packer_init(&req.pk, &req.buf, msgpack_sbuffer_write);
    s_events_t e = { &req.pk, 0, limit, after, true };
    agent_store_event_page(self->kv, after, s_event_one, &e);
    bool sent = false;
    if (e.count || force) {
        api_ok(&req, 2);
        api_key(&req.pk, "events");
        msgpack_pack_array(&req.pk, e.count);
        e.counting = false;
        e.count = 0;
        agent_store_event_page(self->kv, after, s_event_one, &e);
        api_kv_u64(&req.pk, "next", e.last);
        api_reply_send(&req, false);
        sent = true;
    }
    if (!proto_store_writing(self->kv))
        proto_store_read_end(self->kv);
    msgpack_sbuffer_destroy(&req.buf);
    return sent;
}

static void s_cmd_events(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "after", "limit", "wait", NULL };
    agent_t *self = req->self;
    uint64_t after = 0, limit = 100, wait = 0;
    if (!api_keys_known(req, map, keys) || !api_uint(req, map, "after", &after, 0, UINT64_MAX) ||
        !api_uint(req, map, "limit", &limit, 1, 1000) ||
        !api_uint(req, map, "wait", &wait, 0, 60000))
        return;
    if (s_events_answer(self, req->route, req->route_len, req->capture, after, (uint32_t) limit,
                        wait == 0))
        return;
    if (self->nwaiters == self->waiters_cap) {
        size_t cap = self->waiters_cap ? self->waiters_cap * 2 : 8;
        agent_waiter_t *grown = realloc(self->waiters, cap * sizeof *grown);
        if (!grown)
            return api_fail(req, PROTO_ERR_NOMEM, "", "out of memory");
        self->waiters = grown;
        self->waiters_cap = cap;
    }
    agent_waiter_t *w = &self->waiters[self->nwaiters];
    w->route.data = malloc(req->route_len);
    if (!w->route.data)
        return api_fail(req, PROTO_ERR_NOMEM, "", "out of memory");
    memcpy(w->route.data, req->route, req->route_len);
    w->route.len = req->route_len;
    w->after = after;
    w->limit = (uint32_t) limit;
    w->deadline = proto_clock_mono_ms() + wait;
    self->nwaiters++;
}

static void s_waiters_check(agent_t *self, uint64_t now, bool woken)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->nwaiters; i++) {
        agent_waiter_t *w = &self->waiters[i];
        bool due = now >= w->deadline;
        if ((woken || due) &&
            s_events_answer(self, w->route.data, w->route.len, NULL, w->after, w->limit, due)) {
            free(w->route.data);
            continue;
        }
        self->waiters[kept++] = *w;
    }
    self->nwaiters = kept;
}

void agent_api_wake(agent_t *self)
{
    s_waiters_check(self, proto_clock_mono_ms(), true);
}

void agent_api_timers(agent_t *self, uint64_t now)
{
    if (self->nwaiters)
        s_waiters_check(self, now, false);
}

// ---------------------------------------------------------------------------

static void s_handle(api_req_t *req, const uint8_t *data, size_t len)
{
    proto_errinfo_t info;
    if (proto_msgpack_check(data, len, API_MAX_DEPTH, &info) != PROTO_OK)
        return api_fail(req, info.code ? info.code : PROTO_ERR_MSGPACK, "", "%s", info.message);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, (const char *) data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_MAP) {
        msgpack_unpacked_destroy(&u);
        return api_fail(req, PROTO_ERR_MSGPACK, "", "a request is one msgpack map");
    }
    const msgpack_object *map = &u.data, *cmd = api_get(map, "cmd");
    static const struct {
        const char *name;
        void (*fn)(api_req_t *, const msgpack_object *);
    } commands[] = {
        { "submit", api_cmd_submit },     { "inbox", api_cmd_inbox },
        { "fetch", api_cmd_fetch },       { "ack", api_cmd_ack },
        { "status", api_cmd_status },     { "recall", api_cmd_recall },
        { "sent", api_cmd_sent },         { "quarantine", api_cmd_quarantine },
        { "health", api_cmd_health },     { "directory", api_cmd_directory },
        { "events", s_cmd_events },       { "notices", api_cmd_notices },
        { "evidence", api_cmd_evidence }, { "log_clear", api_cmd_log_clear },
    };
    bool done = false;
    if (!cmd || cmd->type != MSGPACK_OBJECT_STR) {
        api_fail(req, cmd ? PROTO_ERR_TYPE : PROTO_ERR_MISSING, "cmd", "the command name");
        done = true;
    } else if (api_is(cmd, "revoke") || api_is(cmd, "update") || api_is(cmd, "replace")) {
        api_cmd_operation(req, map,
                          api_is(cmd, "revoke")   ? PROTO_KIND_REVOKE
                          : api_is(cmd, "update") ? PROTO_KIND_UPDATE
                                                  : PROTO_KIND_REPLACE);
        done = true;
    }
    for (size_t i = 0; !done && i < sizeof commands / sizeof commands[0]; i++) {
        if (api_is(cmd, commands[i].name)) {
            commands[i].fn(req, map);
            done = true;
        }
    }
    if (!done)
        api_fail(req, PROTO_ERR_UNKNOWN_FIELD, "cmd", "unknown command %.*s",
                 (int) (cmd->via.str.size > 40 ? 40 : cmd->via.str.size), cmd->via.str.ptr);
    msgpack_unpacked_destroy(&u);
}

void agent_api_handle(agent_t *self, const void *route, size_t route_len, const void *data,
                      size_t len, msgpack_sbuffer *replies)
{
    api_req_t req = { .self = self, .route = route, .route_len = route_len, .capture = replies };
    msgpack_sbuffer_init(&req.buf);
    msgpack_packer_init(&req.pk, &req.buf, msgpack_sbuffer_write);
    s_handle(&req, data, len);
    msgpack_sbuffer_destroy(&req.buf);
}

void agent_api_readable(agent_t *self)
{
    for (int taken = 0; taken < 64; taken++) {
        zmq_msg_t frames[3];
        size_t n = 0;
        int more = 1;
        bool broken = false;
        //  A REQ client sends: routing id (added by ROUTER), empty, body.
        while (more) {
            zmq_msg_t spare, *into = n < 3 ? &frames[n] : &spare;
            zmq_msg_init(into);
            if (zmq_msg_recv(into, self->api, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close(into);
                if (n == 0)
                    return;
                broken = true;
                break;
            }
            more = zmq_msg_more(into);
            if (n < 3)
                n++;
            else {
                zmq_msg_close(&spare);
                broken = true;
            }
        }
        if (n >= 1) {
            api_req_t req = { .self = self,
                              .route = zmq_msg_data(&frames[0]),
                              .route_len = zmq_msg_size(&frames[0]) };
            msgpack_sbuffer_init(&req.buf);
            msgpack_packer_init(&req.pk, &req.buf, msgpack_sbuffer_write);
            if (broken || n != 3 || zmq_msg_size(&frames[1]) != 0)
                api_fail(&req, PROTO_ERR_FRAMING, "",
                         "send one frame with a REQ socket (or empty delimiter + frame)");
            else
                s_handle(&req, zmq_msg_data(&frames[2]), zmq_msg_size(&frames[2]));
            msgpack_sbuffer_destroy(&req.buf);
        }
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&frames[i]);
    }
}
