/*  broker/admin.c - the admin endpoint that truc-admin talks to.

    Requests and replies are msgpack maps on a REP socket:

        request  {"cmd": "status", "args": ["...", ...]}
        reply    {"ok": true, "data": ...}  or  {"ok": false, "code": N, "error": "..."}

    The socket is an IPC file inside the broker's private data directory by
    default, so only the broker's user can reach it. Every request runs as
    an operator with a role: on that socket the Unix user the peer
    credentials name (libzmq's Peer-Address "host:uid:gid:pid"), role admin,
    since the socket's mode already decides who may connect. The web
    console's inproc socket (broker/web.c, the only thing that connects to
    it) adds {"operator": NAME, "role": "viewer"|"admin"} to each request;
    a viewer may read but not act, and every action is audited with who did
    it. Runs on the loop
    thread; a backup runs on a thread of its own and answers when it ends.

    It sees the server only through admin.h (counters, store, directory,
    sessions, audit, reload, clock confirm), never struct broker_server:
    that definition lives in server_internal.h, which this file does not
    include, so a command cannot reach into the loop's state behind its
    back.
*/
#include "admin.h"

#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "proto/agency.h"
#include "proto/directory.h"
#include "proto/identity.h"
#include "proto/log.h"
#include "proto/loop.h"
#include "admin.h"
#include "admin_log.h"
#include "audit_query.h"
#include "backup.h"
#include "stuck.h"
#include "verify.h"

#define ADMIN_MAX_REQUEST 65536
#define ADMIN_MAX_ARGS    8
#define ADMIN_MAX_ARG     4096 // bytes of one argument, with its NUL

struct broker_admin {
    broker_server_t *server; // borrowed: what the commands read and do
    void *socket;            // borrowed: the REP socket, bound by server.c
    int backup_pipe[2];      // a finished backup writes its result here
    bool backup_running;
    pthread_t backup_thread; // joined when it has answered, or at shutdown
    bool console;            // the web console's inproc socket: requests name their operator
    char operator[64];       // who the current request runs as
    bool may_act;            // whether its role is admin
    char who[128];           // "NAME (ROLE, truc-admin|console)" for the audit chain
};

typedef struct {
    msgpack_sbuffer buf;
    msgpack_packer pk;
} s_reply_t;

static void s_str(msgpack_packer *pk, const char *text)
{
    size_t len = text ? strlen(text) : 0;
    msgpack_pack_str_with_body(pk, text ? text : "", len);
}

static void s_kv_str(msgpack_packer *pk, const char *key, const char *value)
{
    s_str(pk, key);
    s_str(pk, value);
}

static void s_kv_u64(msgpack_packer *pk, const char *key, uint64_t value)
{
    s_str(pk, key);
    msgpack_pack_uint64(pk, value);
}

static void s_kv_bool(msgpack_packer *pk, const char *key, bool value)
{
    s_str(pk, key);
    if (value)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

static void s_time_text(uint64_t ms, char out[32])
{
    time_t seconds = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void s_send_reply(broker_admin_t *self, s_reply_t *reply)
{
    zmq_send(self->socket, reply->buf.data, reply->buf.size, 0);
    msgpack_sbuffer_destroy(&reply->buf);
}

static void s_fail(broker_admin_t *self, proto_err_t code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void s_fail(broker_admin_t *self, proto_err_t code, const char *format, ...)
{
    char text[512];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);
    s_reply_t reply;
    msgpack_sbuffer_init(&reply.buf);
    msgpack_packer_init(&reply.pk, &reply.buf, msgpack_sbuffer_write);
    msgpack_pack_map(&reply.pk, 3);
    s_kv_bool(&reply.pk, "ok", false);
    s_kv_u64(&reply.pk, "code", (uint64_t) code);
    s_kv_str(&reply.pk, "error", text);
    s_send_reply(self, &reply);
}

//  Start a successful reply; the caller packs exactly one value (the data).
static void s_ok(s_reply_t *reply)
{
    msgpack_sbuffer_init(&reply->buf);
    msgpack_packer_init(&reply->pk, &reply->buf, msgpack_sbuffer_write);
    msgpack_pack_map(&reply->pk, 2);
    s_kv_bool(&reply->pk, "ok", true);
    s_str(&reply->pk, "data");
}

//  Reads need a transaction: the open batch one, or a short read one.
static bool s_read_begin(broker_admin_t *self)
{
    return broker_store_writing(broker_server_store(self->server)) ||
           broker_store_read_begin(broker_server_store(self->server)) == PROTO_OK;
}

static void s_read_end(broker_admin_t *self)
{
    if (!broker_store_writing(broker_server_store(self->server)))
        broker_store_read_end(broker_server_store(self->server));
}

//  An administrative act goes into the audit chain with who did it.
static void s_audit(broker_admin_t *self, const char *agency, const char *what)
{
    char detail[400];
    snprintf(detail, sizeof detail, "%s; by %s", what, self->who);
    broker_server_audit(self->server, BROKER_AUDIT_ADMIN, agency, detail);
}

// ---------------------------------------------------------------------------

static void s_status(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) args;
    (void) nargs;
    uint64_t now = proto_clock_wall_ms(), used = 0, size = 0;
    struct statvfs fs;
    uint64_t disk_free = statvfs(broker_server_config(self->server)->data_dir, &fs) == 0
                             ? (uint64_t) fs.f_bavail * (uint64_t) fs.f_frsize
                             : 0;
    broker_counters_t counters;
    broker_server_counters(self->server, &counters);
    if (!s_read_begin(self))
        return s_fail(self, PROTO_ERR_STORE, "cannot read the store");
    broker_store_usage(broker_server_store(self->server), &used, &size);
    uint64_t audit_length = broker_store_audit_length(broker_server_store(self->server));
    size_t n = proto_directory_count(broker_server_directory(self->server)), waiting_agencies = 0;
    uint64_t *depth = calloc(n ? n : 1, sizeof *depth), *oldest = calloc(n ? n : 1, sizeof *oldest);
    for (size_t i = 0; depth && oldest && i < n; i++) {
        const proto_directory_entry_t *e =
            proto_directory_entry(broker_server_directory(self->server), i);
        depth[i] =
            broker_store_queue_depth(broker_server_store(self->server), e->code, now, &oldest[i]);
        waiting_agencies += depth[i] > 0;
    }
    s_read_end(self);
    char fingerprint[PROTO_FINGERPRINT_LEN + 1];
    proto_fingerprint(proto_identity_public(broker_server_identity(self->server))->sign_pk,
                      fingerprint);
    s_reply_t reply;
    s_ok(&reply);
    bool clock_held = broker_clock_held(broker_server_clock(self->server));
    int64_t clock_jump = broker_clock_jump(broker_server_clock(self->server), proto_clock_wall_ms(),
                                           proto_clock_mono_ms());
    msgpack_pack_map(&reply.pk, 28);
    s_kv_str(&reply.pk, "version", TRUC_VERSION);
    s_kv_str(&reply.pk, "broker",
             proto_identity_public(broker_server_identity(self->server))->name);
    s_kv_str(&reply.pk, "fingerprint", fingerprint);
    s_kv_u64(&reply.pk, "uptime_s", counters.uptime_ms / 1000);
    s_kv_u64(&reply.pk, "connected", counters.connected);
    s_kv_u64(&reply.pk, "agencies", n);
    s_kv_u64(&reply.pk, "accepted", counters.accepted);
    s_kv_u64(&reply.pk, "rejected", counters.rejected);
    s_kv_u64(&reply.pk, "delivered", counters.delivered);
    s_kv_u64(&reply.pk, "accepted_last_minute", counters.last_minute[0]);
    s_kv_u64(&reply.pk, "rejected_last_minute", counters.last_minute[1]);
    s_kv_u64(&reply.pk, "delivered_last_minute", counters.last_minute[2]);
    s_kv_u64(&reply.pk, "refused_handshakes", counters.refused_handshakes);
    s_kv_u64(&reply.pk, "handshake_timeouts", counters.handshake_timeouts);
    s_kv_u64(&reply.pk, "connections", counters.connections);
    s_kv_u64(&reply.pk, "capacity", counters.capacity);
    s_kv_u64(&reply.pk, "capacity_refused", counters.capacity_refused);
    s_kv_u64(&reply.pk, "commits", counters.commits);
    s_kv_u64(&reply.pk, "commit_us_p50", counters.commit_us[0]);
    s_kv_u64(&reply.pk, "commit_us_p99", counters.commit_us[1]);
    s_kv_u64(&reply.pk, "commit_us_max", counters.commit_us[2]);
    s_kv_u64(&reply.pk, "store_used", used);
    s_kv_u64(&reply.pk, "store_size", size);
    s_kv_u64(&reply.pk, "disk_free", disk_free);
    s_kv_u64(&reply.pk, "audit_length", audit_length);
    s_kv_bool(&reply.pk, "clock_held", clock_held);
    s_str(&reply.pk, "clock_jump_ms");
    msgpack_pack_int64(&reply.pk, clock_jump);
    s_str(&reply.pk, "waiting");
    msgpack_pack_array(&reply.pk, waiting_agencies);
    for (size_t i = 0; depth && oldest && i < n; i++) {
        if (!depth[i])
            continue;
        msgpack_pack_map(&reply.pk, 3);
        s_kv_str(&reply.pk, "agency",
                 proto_directory_entry(broker_server_directory(self->server), i)->code);
        s_kv_u64(&reply.pk, "documents", depth[i]);
        s_kv_u64(&reply.pk, "oldest_s", oldest[i] / 1000);
    }
    free(depth);
    free(oldest);
    s_send_reply(self, &reply);
}

static void s_agencies(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) args;
    (void) nargs;
    uint64_t now = proto_clock_wall_ms();
    size_t n = proto_directory_count(broker_server_directory(self->server));
    if (!s_read_begin(self))
        return s_fail(self, PROTO_ERR_STORE, "cannot read the store");
    s_reply_t reply;
    s_ok(&reply);
    msgpack_pack_array(&reply.pk, n);
    for (size_t i = 0; i < n; i++) {
        const proto_directory_entry_t *e =
            proto_directory_entry(broker_server_directory(self->server), i);
        uint64_t idle_ms = 0;
        uint32_t in_flight = 0;
        uint64_t since_ms = 0;
        bool connected =
            broker_server_session(self->server, e->code, &idle_ms, &in_flight, &since_ms);
        uint64_t oldest = 0;
        size_t depth =
            broker_store_queue_depth(broker_server_store(self->server), e->code, now, &oldest);
        char fingerprint[PROTO_FINGERPRINT_LEN + 1], from[32] = "", until[32] = "", since[32] = "";
        if (connected && since_ms > 0)
            s_time_text(since_ms, since);
        proto_fingerprint(e->sign_pk, fingerprint);
        if (e->valid_from > 0)
            s_time_text((uint64_t) e->valid_from * 1000, from);
        if (e->valid_until > 0)
            s_time_text((uint64_t) e->valid_until * 1000, until);
        msgpack_pack_map(&reply.pk, 12);
        s_kv_str(&reply.pk, "code", e->code);
        s_kv_str(&reply.pk, "state", proto_directory_state_name(e->state));
        s_kv_bool(&reply.pk, "connected", connected);
        s_kv_str(&reply.pk, "connected_since", since); // "" = not connected
        s_kv_u64(&reply.pk, "idle_s", idle_ms / 1000);
        s_kv_u64(&reply.pk, "in_flight", in_flight);
        s_kv_u64(&reply.pk, "waiting", depth);
        s_kv_u64(&reply.pk, "oldest_s", oldest / 1000);
        s_kv_str(&reply.pk, "fingerprint", fingerprint);
        s_kv_str(&reply.pk, "valid_from", from);   // "" = no lower bound
        s_kv_str(&reply.pk, "valid_until", until); // "" = no upper bound
        s_kv_str(&reply.pk, "name", e->name);
    }
    s_read_end(self);
    s_send_reply(self, &reply);
}

static void s_agency_state(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) nargs;
    const char *verb = args[0], *code = args[1];
    proto_directory_state_t state = strcmp(verb, "suspend") == 0  ? PROTO_DIRECTORY_SUSPENDED
                                    : strcmp(verb, "revoke") == 0 ? PROTO_DIRECTORY_REVOKED
                                                                  : PROTO_DIRECTORY_ACTIVE;
    if (proto_agency_code_check(code, strlen(code)) != PROTO_OK)
        return s_fail(self, PROTO_ERR_AGENCY_CODE, "'%.40s' is not an agency code", code);
    char err[256] = "";
    proto_directory_t *dir = NULL;
    proto_err_t rc =
        proto_directory_load(broker_server_config(self->server)->directory, &dir, err, sizeof err);
    if (!rc)
        rc = proto_directory_set_state(dir, code, state);
    if (!rc)
        rc = proto_directory_save(dir, broker_server_config(self->server)->directory, err,
                                  sizeof err);
    proto_directory_destroy(&dir);
    if (rc)
        return s_fail(self, rc, "%s %.13s: %s%s%s", verb, code, proto_strerror(rc),
                      *err ? ": " : "", err);
    char detail[64];
    snprintf(detail, sizeof detail, "agency %.10s %.13s", verb, code);
    s_audit(self, code, detail);
    proto_log_info("event=admin action=%s agency=%s operator=\"%s\"", verb, code, self->who);
    rc = broker_server_reload(self->server, err, sizeof err);
    if (rc)
        return s_fail(self, rc, "%s %.13s: saved, but the reload was refused: %s", verb, code, err);
    s_reply_t reply;
    s_ok(&reply);
    msgpack_pack_map(&reply.pk, 2);
    s_kv_str(&reply.pk, "agency", code);
    s_kv_str(&reply.pk, "state", proto_directory_state_name(state));
    s_send_reply(self, &reply);
}

static void s_directory_reload(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) args;
    (void) nargs;
    char err[256] = "";
    proto_err_t rc = broker_server_reload(self->server, err, sizeof err);
    s_audit(self, "", "directory reload");
    if (rc)
        return s_fail(self, rc, "directory reload refused: %s", err);
    s_reply_t reply;
    s_ok(&reply);
    msgpack_pack_map(&reply.pk, 2);
    s_kv_u64(&reply.pk, "serial", proto_directory_serial(broker_server_directory(self->server)));
    s_kv_u64(&reply.pk, "agencies", proto_directory_count(broker_server_directory(self->server)));
    s_send_reply(self, &reply);
}

//  The operator says the wall clock is right as it is: expiry and
//  retention resume by it. Audited, whether a jump was held or not.
static void s_clock_confirm(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) args;
    (void) nargs;
    bool held = false;
    int64_t jump = broker_server_clock_confirm(self->server, &held);
    char when[32], detail[160];
    s_time_text(proto_clock_wall_ms(), when);
    snprintf(detail, sizeof detail,
             held ? "clock confirmed at %s: a jump of %+" PRId64 " ms accepted, expiry resumes"
                  : "clock confirmed at %s (no jump held; %+" PRId64 " ms)",
             when, jump);
    s_audit(self, "", detail);
    proto_log_warning("event=clock_confirmed held=%s jump_ms=%" PRId64, held ? "yes" : "no", jump);
    s_reply_t reply;
    s_ok(&reply);
    msgpack_pack_map(&reply.pk, 3);
    s_kv_bool(&reply.pk, "was_held", held);
    s_str(&reply.pk, "jump_ms");
    msgpack_pack_int64(&reply.pk, jump);
    s_kv_str(&reply.pk, "time", when);
    s_send_reply(self, &reply);
}

//  "receipt": the signed batch head of the ACCEPTED that answered the
//  document and its place in the batch's tree (store.h), or nil when the
//  store keeps none for it.
static void s_receipt_pack(msgpack_packer *pk, broker_store_t *store, const proto_id_t *id)
{
    broker_receipt_t r;
    s_str(pk, "receipt");
    if (broker_store_receipt_get(store, id, &r) != PROTO_OK)
        return (void) msgpack_pack_nil(pk);
    char when[32], root[2 * PROTO_HASH_LEN + 1], sig[2 * PROTO_SIG_LEN + 1];
    s_time_text(r.head.time, when);
    proto_hex_encode(r.head.root, PROTO_HASH_LEN, root);
    proto_hex_encode(r.sig, PROTO_SIG_LEN, sig);
    msgpack_pack_map(pk, 7);
    s_kv_str(pk, "signer", r.signer);
    s_kv_str(pk, "time", when);
    s_kv_u64(pk, "batch_size", r.head.size);
    s_kv_str(pk, "root", root);
    s_kv_str(pk, "signature", sig);
    s_kv_u64(pk, "index", r.index);
    s_kv_u64(pk, "path_length", r.npath);
}

static void s_doc_show(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) nargs;
    const char *text = args[1];
    proto_id_t id;
    if (proto_id_parse(text, &id) != PROTO_OK)
        return s_fail(self, PROTO_ERR_VALUE, "'%s' is not a document id", text);
    if (!s_read_begin(self))
        return s_fail(self, PROTO_ERR_STORE, "cannot read the store");
    broker_doc_t doc;
    const void *frames[BROKER_MAX_FRAMES];
    size_t lens[BROKER_MAX_FRAMES], count = 0;
    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    proto_err_t rc = broker_store_doc_get(broker_server_store(self->server), &id, &doc);
    if (!rc)
        rc = broker_store_frames_get(broker_server_store(self->server), &id, frames, lens,
                                     BROKER_MAX_FRAMES, &count);
    if (!rc)
        rc = proto_msg_decode(PROTO_KIND_DELIVER, frames[0], lens[0], &msg, &info);
    if (rc) {
        s_read_end(self);
        return s_fail(self, rc, "document %s: %s", text, proto_strerror(rc));
    }
    const proto_doc_t *d = &msg->u.document.doc;
    char hash[2 * PROTO_HASH_LEN + 1], accepted[32];
    proto_hex_encode(doc.hash, PROTO_HASH_LEN, hash);
    s_time_text(doc.accepted, accepted);
    s_reply_t reply;
    s_ok(&reply);
    msgpack_pack_map(&reply.pk, 12);
    s_kv_str(&reply.pk, "id", text);
    s_kv_str(&reply.pk, "kind", proto_kind_name(doc.kind));
    s_kv_str(&reply.pk, "from", doc.from);
    s_kv_str(&reply.pk, "subject", d->subject);
    s_kv_str(&reply.pk, "type", d->doc_type);
    s_kv_u64(&reply.pk, "urgency", doc.urgency);
    s_kv_str(&reply.pk, "hash", hash);
    s_kv_str(&reply.pk, "accepted", accepted);
    s_kv_u64(&reply.pk, "seq", doc.seq);
    s_kv_bool(&reply.pk, "revoked", doc.revoked);
    s_receipt_pack(&reply.pk, broker_server_store(self->server), &id);
    s_str(&reply.pk, "recipients");
    msgpack_pack_array(&reply.pk, d->nto);
    for (uint32_t i = 0; i < d->nto; i++) {
        broker_dlv_t dlv = { 0 };
        char when[32];
        bool known = broker_store_dlv_get(broker_server_store(self->server), d->to[i], &id, &dlv) ==
                     PROTO_OK;
        s_time_text(dlv.time, when);
        msgpack_pack_map(&reply.pk, 3);
        s_kv_str(&reply.pk, "agency", d->to[i]);
        s_kv_str(&reply.pk, "state", known ? broker_dlv_state_name(dlv.state) : "unknown");
        s_kv_str(&reply.pk, "since", when);
    }
    proto_msg_destroy(&msg);
    s_read_end(self);
    s_send_reply(self, &reply);
}

static void s_audit_pack(msgpack_packer *pk, const broker_audit_entry_t *entry)
{
    char when[32], id[PROTO_ID_TEXT_LEN] = "", hash[2 * PROTO_HASH_LEN + 1];
    s_time_text(entry->time, when);
    if (entry->has_id)
        proto_id_format(&entry->id, id);
    proto_hex_encode(entry->hash, PROTO_HASH_LEN, hash);
    msgpack_pack_map(pk, 7);
    s_kv_u64(pk, "seq", entry->seq);
    s_kv_str(pk, "time", when);
    s_kv_str(pk, "event", broker_audit_event_name(entry->event));
    s_kv_str(pk, "agency", entry->agency);
    s_kv_str(pk, "id", id);
    s_kv_str(pk, "detail", entry->detail);
    s_kv_str(pk, "hash", hash);
}

//  audit show [ID] [NAME=VALUE]...: one page of the chain, filtered
//  (audit_query.h); by default the last 50 entries.
static void s_audit_show(broker_admin_t *self, const char *const *args, size_t nargs)
{
    broker_audit_query_t q;
    broker_audit_query_init(&q);
    char err[512] = "";
    proto_err_t rc = PROTO_OK;
    for (size_t i = 1; i < nargs && !rc; i++) {
        //  A bare word is a document id, as before there were filters.
        if (strchr(args[i], '=')) {
            rc = broker_audit_query_set(&q, args[i], err, sizeof err);
        } else if (proto_id_parse(args[i], &q.id) == PROTO_OK) {
            q.has_id = true;
        } else {
            snprintf(err, sizeof err, "'%s' is not a document id", args[i]);
            rc = PROTO_ERR_VALUE;
        }
    }
    if (!rc)
        rc = broker_audit_query_check(&q, err, sizeof err);
    if (rc)
        return s_fail(self, rc, "%s", err);
    if (!s_read_begin(self))
        return s_fail(self, PROTO_ERR_STORE, "cannot read the store");
    broker_audit_page_t *page = NULL;
    uint64_t bad = 0;
    rc = broker_audit_page_new(broker_server_store(self->server), &q, &page, &bad);
    if (rc) {
        s_read_end(self);
        return rc == PROTO_ERR_BAD_PROOF
                   ? s_fail(self, rc, "the audit chain is broken at entry %" PRIu64, bad)
                   : s_fail(self, rc, "%s", proto_strerror(rc));
    }
    s_reply_t reply;
    s_ok(&reply);
    size_t n = broker_audit_page_count(page);
    msgpack_pack_array(&reply.pk, n);
    for (size_t i = 0; i < n; i++)
        s_audit_pack(&reply.pk, broker_audit_page_entry(page, i));
    broker_audit_page_destroy(&page);
    s_read_end(self);
    s_send_reply(self, &reply);
}

static void s_audit_verify(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) args;
    (void) nargs;
    if (!s_read_begin(self))
        return s_fail(self, PROTO_ERR_STORE, "cannot read the store");
    uint64_t bad = 0, length = broker_store_audit_length(broker_server_store(self->server));
    proto_err_t rc =
        broker_store_audit_walk(broker_server_store(self->server), 1, NULL, NULL, &bad);
    broker_server_audit_verified(self->server, rc == PROTO_OK);
    s_read_end(self);
    s_reply_t reply;
    s_ok(&reply);
    msgpack_pack_map(&reply.pk, 3);
    s_kv_bool(&reply.pk, "intact", rc == PROTO_OK);
    s_kv_u64(&reply.pk, "length", length);
    s_kv_u64(&reply.pk, "first_bad", rc == PROTO_OK ? 0 : bad);
    s_send_reply(self, &reply);
}

//  log head, log prove A B: the transparency log (admin_log.c), read in
//  the open transaction or a short read one.
static void s_log(broker_admin_t *self, const char *const *args, size_t nargs)
{
    bool prove = strcmp(args[0], "prove") == 0;
    if (prove != (nargs == 3))
        return s_fail(self, PROTO_ERR_INVALID_ARG, "usage: log head | log prove A B");
    if (!s_read_begin(self))
        return s_fail(self, PROTO_ERR_STORE, "cannot read the store");
    char why[200];
    s_reply_t reply;
    s_ok(&reply);
    proto_err_t rc = prove
                         ? broker_admin_log_prove(broker_server_tlog(self->server),
                                                  broker_server_store(self->server), args[1],
                                                  args[2], &reply.pk, why, sizeof why)
                         : broker_admin_log_head(broker_server_tlog(self->server),
                                                 proto_clock_wall_ms(), &reply.pk, why, sizeof why);
    s_read_end(self);
    if (rc) {
        msgpack_sbuffer_destroy(&reply.buf);
        return s_fail(self, rc, "%s", why);
    }
    s_send_reply(self, &reply);
}

// ---------------------------------------------------------------------------
//  Stuck documents and the console's own reports

#define ADMIN_STUCK_MAX 200 // rows one answer lists

//  Documents that have waited for a recipient longer than args[0] seconds.
static void s_stuck(broker_admin_t *self, const char *const *args, size_t nargs)
{
    char *end = NULL;
    uint64_t seconds = nargs > 0 ? strtoull(args[0], &end, 10) : 3600;
    if (nargs > 0 && (!args[0][0] || *end))
        return s_fail(self, PROTO_ERR_VALUE, "'%.40s' is not a number of seconds", args[0]);
    uint64_t now = proto_clock_wall_ms();
    uint64_t before = seconds < now / 1000 ? now - seconds * 1000 : 0;
    broker_stuck_t *rows = calloc(ADMIN_STUCK_MAX, sizeof *rows);
    if (!rows)
        return s_fail(self, PROTO_ERR_NOMEM, "out of memory");
    if (!s_read_begin(self)) {
        free(rows);
        return s_fail(self, PROTO_ERR_STORE, "cannot read the store");
    }
    size_t count =
        broker_stuck_find(broker_server_store(self->server), broker_server_directory(self->server),
                          before, rows, ADMIN_STUCK_MAX);
    s_read_end(self);
    s_reply_t reply;
    s_ok(&reply);
    msgpack_pack_array(&reply.pk, count);
    for (size_t i = 0; i < count; i++) {
        const broker_stuck_t *row = &rows[i];
        char id[PROTO_ID_TEXT_LEN], accepted[32];
        proto_id_format(&row->id, id);
        s_time_text(row->doc.accepted, accepted);
        msgpack_pack_map(&reply.pk, 6);
        s_kv_str(&reply.pk, "id", id);
        s_kv_str(&reply.pk, "recipient", row->recipient);
        s_kv_str(&reply.pk, "from", row->doc.from);
        s_kv_str(&reply.pk, "accepted", accepted);
        s_kv_u64(&reply.pk, "waiting_s", (now - row->doc.accepted) / 1000);
        s_kv_u64(&reply.pk, "urgency", row->doc.urgency);
    }
    free(rows);
    s_send_reply(self, &reply);
}

//  The console reports each login, so that the audit chain names who came
//  in and who was turned away. Its own socket only: truc-admin cannot
//  write such entries.
static void s_console_login(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) nargs;
    if (!self->console)
        return s_fail(self, PROTO_ERR_NOT_AUTHORIZED, "only the web console reports logins");
    bool ok = strcmp(args[1], "ok") == 0;
    char detail[400];
    snprintf(detail, sizeof detail, "console login %s: %.63s (%.15s) from %.63s",
             ok ? "ok" : "failed", args[2], args[3], args[4]);
    broker_server_audit(self->server, ok ? BROKER_AUDIT_ADMIN : BROKER_AUDIT_DENIED, "", detail);
    s_reply_t reply;
    s_ok(&reply);
    msgpack_pack_true(&reply.pk);
    s_send_reply(self, &reply);
}

// ---------------------------------------------------------------------------
//  Backup: LMDB's copy runs on its own thread; the loop answers when done.

//  What the backup thread gets: the store to copy, where to, and the pipe
//  to answer through. Nothing of the server; the store outlives the thread
//  (broker_admin_destroy joins it before the server closes the store).
typedef struct {
    broker_store_t *store;
    int result_fd;
    char dir[4096];
} s_backup_t;

static void *s_backup_thread(void *arg)
{
    s_backup_t *job = arg;
    char err[256] = "", head[2 * PROTO_HASH_LEN + 1];
    broker_backup_info_t info;
    proto_err_t rc = broker_backup_write(job->store, job->dir, &info, err, sizeof err);
    proto_hex_encode(info.head, PROTO_HASH_LEN, head);
    char line[800];
    int n = rc ? snprintf(line, sizeof line, "%d %s\n%s", (int) rc, job->dir, err)
               : snprintf(line, sizeof line, "0 %" PRIu64 " %" PRIu64 " %s %s\n", info.size,
                          info.length, head, job->dir);
    if (n > (int) sizeof line - 1)
        n = (int) sizeof line - 1;
    //  One short write to a pipe is atomic; the loop reads it whole.
    ssize_t written = write(job->result_fd, line, (size_t) n);
    (void) written;
    free(job);
    return NULL;
}

static void s_backup(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) nargs;
    const char *dir = args[0];
    if (!dir[0])
        return s_fail(self, PROTO_ERR_VALUE, "unknown command or wrong arguments: backup");
    s_backup_t *job = calloc(1, sizeof *job);
    if (!job)
        return s_fail(self, PROTO_ERR_NOMEM, "out of memory");
    job->store = broker_server_store(self->server);
    job->result_fd = self->backup_pipe[1];
    snprintf(job->dir, sizeof job->dir, "%s", dir);
    //  Joined, not detached: the store must not close under LMDB's copy.
    if (pthread_create(&self->backup_thread, NULL, s_backup_thread, job) != 0) {
        free(job);
        return s_fail(self, PROTO_ERR_SYSTEM, "cannot start the backup thread");
    }
    self->backup_running = true;
    proto_log_info("event=backup_started dir=%s", dir);
}

void broker_admin_backup_done(broker_admin_t *self)
{
    char line[801];
    ssize_t n = read(self->backup_pipe[0], line, sizeof line - 1);
    if (n <= 0)
        return;
    line[n] = '\0';
    pthread_join(self->backup_thread, NULL);
    self->backup_running = false;
    int code = atoi(line);
    if (code) {
        char *dir = strchr(line, ' ');
        char *err = strchr(line, '\n');
        if (err)
            *err++ = '\0';
        dir = dir ? dir + 1 : "";
        s_audit(self, "", "backup failed");
        proto_log_error("event=backup_failed dir=%s detail=\"%s\"", dir, err ? err : "");
        return s_fail(self, (proto_err_t) code, "backup to %s failed: %s", dir, err ? err : "");
    }
    uint64_t size = 0, length = 0;
    char head[2 * PROTO_HASH_LEN + 1] = "";
    int used = 0;
    line[strcspn(line, "\n")] = '\0';
    sscanf(line, "0 %" SCNu64 " %" SCNu64 " %64s %n", &size, &length, head, &used);
    const char *dir = used > 0 ? line + used : "";
    s_audit(self, "", "backup");
    proto_log_info("event=backup_done dir=%s size=%" PRIu64 " audit_length=%" PRIu64, dir, size,
                   length);
    s_reply_t reply;
    s_ok(&reply);
    msgpack_pack_map(&reply.pk, 4);
    s_kv_str(&reply.pk, "backup", dir);
    s_kv_u64(&reply.pk, "size", size);
    s_kv_u64(&reply.pk, "audit_length", length);
    s_kv_str(&reply.pk, "audit_head", head);
    s_send_reply(self, &reply);
}

void broker_admin_backup_join(broker_admin_t *self)
{
    if (!self->backup_running)
        return;
    //  The thread writes its result to the pipe last thing; the read end
    //  blocks, so this waits for it, then joins it, logs and answers.
    proto_log_info("event=stop_waits_for_backup");
    broker_admin_backup_done(self);
}

// ---------------------------------------------------------------------------
//  Requests and the command table

//  A command answers on the admin socket itself, exactly once. args holds
//  nargs NUL-terminated strings (the row's verb, if any, is args[0]); the
//  table has checked their number.
typedef void(s_command_fn)(broker_admin_t *self, const char *const *args, size_t nargs);

typedef struct {
    const char *name; // the request's cmd
    const char *verb; // what args[0] must be, or NULL for anything
    size_t min_args;  // fewest arguments, the verb included
    size_t max_args;  // most arguments, the verb included
    s_command_fn *fn; // answers the request
    const char *help; // what it does (broker/DESIGN.md lists the answers)
    bool acts;        // changes something: admins only, and audited
} s_command_t;

static const s_command_t s_commands[] = {
    { "status", NULL, 0, ADMIN_MAX_ARGS, s_status,
      "counters, sessions, store size, commit times and the clock guard", false },
    { "agencies", NULL, 0, ADMIN_MAX_ARGS, s_agencies,
      "every agency in the directory: state, session, what waits for it", false },
    { "agency", "suspend", 2, 2, s_agency_state, "suspend CODE in the directory file and reload",
      true },
    { "agency", "reinstate", 2, 2, s_agency_state, "make CODE active again and reload", true },
    { "agency", "revoke", 2, 2, s_agency_state, "revoke CODE for good and reload", true },
    { "directory", "reload", 1, 1, s_directory_reload, "read the directory file again", true },
    { "clock", "confirm", 1, 1, s_clock_confirm, "take the wall clock as right; expiry resumes",
      true },
    { "doc", "show", 2, 2, s_doc_show,
      "one document: sender, subject, hash, each recipient's state", false },
    { "audit", "verify", 1, ADMIN_MAX_ARGS, s_audit_verify, "check the whole audit chain", false },
    { "audit", "show", 1, ADMIN_MAX_ARGS, s_audit_show,
      "a page of audit entries (default the last 50), filtered by ID and NAME=VALUE", false },
    { "log", "head", 1, 1, s_log, "the transparency log's current signed tree head", false },
    { "log", "prove", 3, 3, s_log,
      "the consistency proof between log sizes A and B, and whether it holds", false },
    { "backup", NULL, 1, 1, s_backup, "copy the store to DIR on a thread; answer when done", true },
    { "stuck", NULL, 0, 1, s_stuck,
      "documents waiting longer than SECONDS (default 3600), oldest first, at most 200", false },
    { "console", "login", 5, 5, s_console_login,
      "the web console reports a login: ok|failed NAME ROLE ADDRESS (its socket only)", false },
};

//  One request, read: the command and copies of its arguments.
typedef struct {
    char cmd[32];
    char operator[64];                // the console's operator, if it named one
    char role[16];                    // and their role
    const char *args[ADMIN_MAX_ARGS]; // point into text
    size_t nargs;
    char *text; // the arguments back to back, each with its NUL (owned)
} s_request_t;

//  Take one argument array into req. False if it is not an array of short
//  strings, or holds more than the room left.
static bool s_request_args(s_request_t *req, const msgpack_object *array, size_t *used)
{
    if (array->type != MSGPACK_OBJECT_ARRAY || array->via.array.size > ADMIN_MAX_ARGS - req->nargs)
        return false;
    for (uint32_t j = 0; j < array->via.array.size; j++) {
        const msgpack_object *a = &array->via.array.ptr[j];
        if (a->type != MSGPACK_OBJECT_STR || a->via.str.size >= ADMIN_MAX_ARG)
            return false;
        char *copy = req->text + *used;
        memcpy(copy, a->via.str.ptr, a->via.str.size);
        copy[a->via.str.size] = '\0';
        *used += a->via.str.size + 1;
        req->args[req->nargs++] = copy;
    }
    return true;
}

static bool s_copy_str(char *out, size_t cap, const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap)
        return false;
    memcpy(out, o->via.str.ptr, o->via.str.size);
    out[o->via.str.size] = '\0';
    return true;
}

//  Read {cmd: str, args: [str]} (and the console's operator, role) from n bytes. PROTO_ERR_VALUE if
//  it is anything else, PROTO_ERR_NOMEM if out of memory.
static proto_err_t s_request_read(s_request_t *req, const char *data, size_t n)
{
    //  The strings cannot take more room than the request, plus their NULs.
    req->text = malloc(n + ADMIN_MAX_ARGS);
    if (!req->text)
        return PROTO_ERR_NOMEM;
    size_t used = 0, off = 0;
    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    bool ok = msgpack_unpack_next(&unpacked, data, n, &off) == MSGPACK_UNPACK_SUCCESS && off == n &&
              unpacked.data.type == MSGPACK_OBJECT_MAP;
    for (uint32_t i = 0; ok && i < unpacked.data.via.map.size; i++) {
        const msgpack_object_kv *kv = &unpacked.data.via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR) {
            ok = false;
        } else if (kv->key.via.str.size == 3 && memcmp(kv->key.via.str.ptr, "cmd", 3) == 0 &&
                   kv->val.type == MSGPACK_OBJECT_STR && kv->val.via.str.size < sizeof req->cmd) {
            memcpy(req->cmd, kv->val.via.str.ptr, kv->val.via.str.size);
            req->cmd[kv->val.via.str.size] = '\0';
        } else if (kv->key.via.str.size == 4 && memcmp(kv->key.via.str.ptr, "args", 4) == 0) {
            ok = s_request_args(req, &kv->val, &used);
        } else if (kv->key.via.str.size == 8 && memcmp(kv->key.via.str.ptr, "operator", 8) == 0) {
            ok = s_copy_str(req->operator, sizeof req->operator, & kv->val);
        } else if (kv->key.via.str.size == 4 && memcmp(kv->key.via.str.ptr, "role", 4) == 0) {
            ok = s_copy_str(req->role, sizeof req->role, &kv->val);
        } else {
            ok = false;
        }
    }
    msgpack_unpacked_destroy(&unpacked);
    return ok && req->cmd[0] ? PROTO_OK : PROTO_ERR_VALUE;
}

static const s_command_t *s_command_find(const s_request_t *req)
{
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++) {
        const s_command_t *c = &s_commands[i];
        if (strcmp(c->name, req->cmd) == 0 && req->nargs >= c->min_args &&
            req->nargs <= c->max_args &&
            (!c->verb || (req->nargs > 0 && strcmp(req->args[0], c->verb) == 0)))
            return c;
    }
    return NULL;
}

//  Who the request runs as. The console names its operator and role (only
//  the console thread reaches its inproc socket); on the admin socket it is
//  the peer's Unix user, and the socket's mode has already decided that
//  user may administer. False if the console sent no valid pair.
static bool s_operator(broker_admin_t *self, const s_request_t *req, zmq_msg_t *msg)
{
    if (self->console) {
        bool admin = strcmp(req->role, "admin") == 0;
        if (!req->operator[0] ||(!admin && strcmp(req->role, "viewer") != 0))
            return false;
        snprintf(self->operator, sizeof self->operator, "%s", req->operator);
        self->may_act = admin;
        snprintf(self->who, sizeof self->who, "%s (%s, console)", req->operator, req->role);
        return true;
    }
    //  ipc:// peers: "host:uid:gid:pid"; a loopback tcp:// peer is an address.
    const char *peer = zmq_msg_gets(msg, "Peer-Address");
    const char *p = peer ? strrchr(peer, ':') : NULL;
    int fields = 0;
    unsigned long uid = 0;
    while (p && p > peer && fields < 2) {
        p--;
        while (p > peer && *p != ':')
            p--;
        fields++;
    }
    if (p && *p == ':' && fields == 2) {
        uid = strtoul(p + 1, NULL, 10);
        struct passwd pw, *found = NULL;
        char buf[1024];
        if (getpwuid_r((uid_t) uid, &pw, buf, sizeof buf, &found) == 0 && found)
            snprintf(self->operator, sizeof self->operator, "%s", found->pw_name);
        else
            snprintf(self->operator, sizeof self->operator, "uid %lu", uid);
    } else {
        snprintf(self->operator, sizeof self->operator, "%s", peer && *peer ? peer : "unknown");
    }
    self->may_act = true;
    snprintf(self->who, sizeof self->who, "%s (admin, truc-admin)", self->operator);
    return true;
}

//  Take the request's one frame (and drop any more). NULL and nothing
//  taken if none waits; the caller closes msg.
static bool s_receive(broker_admin_t *self, zmq_msg_t *msg)
{
    zmq_msg_init(msg);
    if (zmq_msg_recv(msg, self->socket, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(msg);
        return false;
    }
    int more = zmq_msg_more(msg);
    size_t more_len = sizeof more;
    while (more) { // requests are one frame; drop the rest
        char sink[64];
        zmq_recv(self->socket, sink, sizeof sink, 0);
        zmq_getsockopt(self->socket, ZMQ_RCVMORE, &more, &more_len);
    }
    return true;
}

void broker_admin_handle(broker_admin_t *self)
{
    if (self->backup_running)
        return; // the REP socket owes the backup's answer first
    zmq_msg_t msg;
    if (!s_receive(self, &msg))
        return;
    s_request_t req = { .nargs = 0 };
    proto_err_t rc = zmq_msg_size(&msg) <= ADMIN_MAX_REQUEST
                         ? s_request_read(&req, zmq_msg_data(&msg), zmq_msg_size(&msg))
                         : PROTO_ERR_VALUE;
    if (!rc && !s_operator(self, &req, &msg))
        rc = PROTO_ERR_NOT_AUTHORIZED;
    zmq_msg_close(&msg);
    if (rc) {
        free(req.text);
        return rc == PROTO_ERR_NOMEM ? s_fail(self, rc, "out of memory")
               : rc == PROTO_ERR_NOT_AUTHORIZED
                   ? s_fail(self, rc, "no operator or role")
                   : s_fail(self, rc, "a request is a map {cmd: str, args: [str]}");
    }
    proto_log_debug("event=admin_request cmd=%s args=%zu operator=\"%s\"", req.cmd, req.nargs,
                    self->who);
    const s_command_t *command = s_command_find(&req);
    if (command && command->acts && !self->may_act) {
        //  A viewer's attempt is refused here, whatever the page offered,
        //  and the refusal is audited like the act would have been.
        char detail[400];
        snprintf(detail, sizeof detail, "refused %s %s %s: not an admin; by %s", req.cmd,
                 req.nargs > 0 ? req.args[0] : "", req.nargs > 1 ? req.args[1] : "", self->who);
        broker_server_audit(self->server, BROKER_AUDIT_DENIED, "", detail);
        s_fail(self, PROTO_ERR_NOT_AUTHORIZED, "%s is a viewer: only an admin may %s %s",
               self->operator, req.cmd, req.nargs > 0 ? req.args[0] : "");
    } else if (command) {
        command->fn(self, req.args, req.nargs);
    } else {
        s_fail(self, PROTO_ERR_VALUE, "unknown command or wrong arguments: %s", req.cmd);
    }
    free(req.text);
}

broker_admin_t *broker_admin_new(broker_server_t *server, void *socket, bool console)
{
    broker_admin_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->server = server;
    self->socket = socket;
    self->console = console;
    if (pipe(self->backup_pipe) != 0) {
        free(self);
        return NULL;
    }
    return self;
}

void broker_admin_destroy(broker_admin_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_admin_t *self = *self_p;
    broker_admin_backup_join(self); // the store must outlive LMDB's copy
    close(self->backup_pipe[0]);
    close(self->backup_pipe[1]);
    free(self);
    *self_p = NULL;
}

int broker_admin_backup_fd(const broker_admin_t *self)
{
    return self->backup_pipe[0];
}

bool broker_admin_busy(const broker_admin_t *self)
{
    return self->backup_running;
}
