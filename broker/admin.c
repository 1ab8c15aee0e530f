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
    it. Runs on the loop thread; a backup runs on a thread of its own and
    answers when it ends. The commands about documents and the audit chain
    are in admin_docs.c (admin_internal.h is what the two share).

    It sees the server only through admin.h (counters, store, directory,
    sessions, push again, audit, reload, clock confirm), never struct
    broker_server:
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
#include "admin_internal.h"
#include "admin_log.h"
#include "linklog.h"
#include "linkstat.h"
#include "backup.h"
#include "verify.h"

void admin_str(msgpack_packer *pk, const char *text)
{
    size_t len = text ? strlen(text) : 0;
    msgpack_pack_str_with_body(pk, text ? text : "", len);
}

void admin_kv_str(msgpack_packer *pk, const char *key, const char *value)
{
    admin_str(pk, key);
    admin_str(pk, value);
}

void admin_kv_u64(msgpack_packer *pk, const char *key, uint64_t value)
{
    admin_str(pk, key);
    msgpack_pack_uint64(pk, value);
}

void admin_kv_bool(msgpack_packer *pk, const char *key, bool value)
{
    admin_str(pk, key);
    if (value)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

void admin_time_text(uint64_t ms, char out[32])
{
    time_t seconds = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void admin_send_reply(broker_admin_t *self, admin_reply_t *reply)
{
    zmq_send(self->socket, reply->buf.data, reply->buf.size, 0);
    msgpack_sbuffer_destroy(&reply->buf);
}

void admin_fail(broker_admin_t *self, proto_err_t code, const char *format, ...)
{
    char text[512];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);
    admin_reply_t reply;
    msgpack_sbuffer_init(&reply.buf);
    msgpack_packer_init(&reply.pk, &reply.buf, msgpack_sbuffer_write);
    msgpack_pack_map(&reply.pk, 3);
    admin_kv_bool(&reply.pk, "ok", false);
    admin_kv_u64(&reply.pk, "code", (uint64_t) code);
    admin_kv_str(&reply.pk, "error", text);
    admin_send_reply(self, &reply);
}

//  Start a successful reply; the caller packs exactly one value (the data).
void admin_ok(admin_reply_t *reply)
{
    msgpack_sbuffer_init(&reply->buf);
    msgpack_packer_init(&reply->pk, &reply->buf, msgpack_sbuffer_write);
    msgpack_pack_map(&reply->pk, 2);
    admin_kv_bool(&reply->pk, "ok", true);
    admin_str(&reply->pk, "data");
}

//  Reads need a transaction: the open batch one, or a short read one.
bool admin_read_begin(broker_admin_t *self)
{
    return broker_store_writing(broker_server_store(self->server)) ||
           broker_store_read_begin(broker_server_store(self->server)) == PROTO_OK;
}

void admin_read_end(broker_admin_t *self)
{
    if (!broker_store_writing(broker_server_store(self->server)))
        broker_store_read_end(broker_server_store(self->server));
}

//  An administrative act goes into the audit chain with who did it.
void admin_audit(broker_admin_t *self, const char *agency, const proto_id_t *id, const char *what)
{
    char detail[400];
    snprintf(detail, sizeof detail, "%s; by %s", what, self->who);
    broker_server_audit(self->server, BROKER_AUDIT_ADMIN, agency, id, detail);
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
    if (!admin_read_begin(self))
        return admin_fail(self, PROTO_ERR_STORE, "cannot read the store");
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
    admin_read_end(self);
    char fingerprint[PROTO_FINGERPRINT_LEN + 1];
    proto_fingerprint(proto_identity_public(broker_server_identity(self->server))->sign_pk,
                      fingerprint);
    admin_reply_t reply;
    admin_ok(&reply);
    bool clock_held = broker_clock_held(broker_server_clock(self->server));
    int64_t clock_jump = broker_clock_jump(broker_server_clock(self->server), proto_clock_wall_ms(),
                                           proto_clock_mono_ms());
    msgpack_pack_map(&reply.pk, 29);
    admin_kv_str(&reply.pk, "version", TRUC_VERSION);
    admin_kv_str(&reply.pk, "broker",
                 proto_identity_public(broker_server_identity(self->server))->name);
    admin_kv_str(&reply.pk, "fingerprint", fingerprint);
    admin_kv_u64(&reply.pk, "uptime_s", counters.uptime_ms / 1000);
    admin_kv_u64(&reply.pk, "connected", counters.connected);
    admin_kv_u64(&reply.pk, "agencies", n);
    admin_kv_u64(&reply.pk, "accepted", counters.accepted);
    admin_kv_u64(&reply.pk, "rejected", counters.rejected);
    admin_kv_u64(&reply.pk, "delivered", counters.delivered);
    admin_kv_u64(&reply.pk, "accepted_last_minute", counters.last_minute[0]);
    admin_kv_u64(&reply.pk, "rejected_last_minute", counters.last_minute[1]);
    admin_kv_u64(&reply.pk, "delivered_last_minute", counters.last_minute[2]);
    admin_kv_u64(&reply.pk, "refused_handshakes", counters.refused_handshakes);
    admin_kv_u64(&reply.pk, "handshake_timeouts", counters.handshake_timeouts);
    admin_kv_u64(&reply.pk, "connections", counters.connections);
    admin_kv_u64(&reply.pk, "capacity", counters.capacity);
    admin_kv_u64(&reply.pk, "capacity_refused", counters.capacity_refused);
    admin_kv_u64(&reply.pk, "commits", counters.commits);
    admin_kv_u64(&reply.pk, "commit_us_p50", counters.commit_us[0]);
    admin_kv_u64(&reply.pk, "commit_us_p99", counters.commit_us[1]);
    admin_kv_u64(&reply.pk, "commit_us_max", counters.commit_us[2]);
    admin_kv_u64(&reply.pk, "store_used", used);
    admin_kv_u64(&reply.pk, "store_size", size);
    admin_kv_u64(&reply.pk, "disk_free", disk_free);
    admin_kv_u64(&reply.pk, "audit_length", audit_length);
    admin_kv_bool(&reply.pk, "clock_held", clock_held);
    admin_kv_u64(&reply.pk, "link_log_alarms",
                 broker_linklog_alarms(broker_server_linklog(self->server)));
    admin_str(&reply.pk, "clock_jump_ms");
    msgpack_pack_int64(&reply.pk, clock_jump);
    admin_str(&reply.pk, "waiting");
    msgpack_pack_array(&reply.pk, waiting_agencies);
    for (size_t i = 0; depth && oldest && i < n; i++) {
        if (!depth[i])
            continue;
        msgpack_pack_map(&reply.pk, 3);
        admin_kv_str(&reply.pk, "agency",
                     proto_directory_entry(broker_server_directory(self->server), i)->code);
        admin_kv_u64(&reply.pk, "documents", depth[i]);
        admin_kv_u64(&reply.pk, "oldest_s", oldest[i] / 1000);
    }
    free(depth);
    free(oldest);
    admin_send_reply(self, &reply);
}

static void s_agencies(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) args;
    (void) nargs;
    uint64_t now = proto_clock_wall_ms();
    size_t n = proto_directory_count(broker_server_directory(self->server));
    if (!admin_read_begin(self))
        return admin_fail(self, PROTO_ERR_STORE, "cannot read the store");
    admin_reply_t reply;
    admin_ok(&reply);
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
            admin_time_text(since_ms, since);
        proto_fingerprint(e->sign_pk, fingerprint);
        if (e->valid_from > 0)
            admin_time_text((uint64_t) e->valid_from * 1000, from);
        if (e->valid_until > 0)
            admin_time_text((uint64_t) e->valid_until * 1000, until);
        msgpack_pack_map(&reply.pk, 12);
        admin_kv_str(&reply.pk, "code", e->code);
        admin_kv_str(&reply.pk, "state", proto_directory_state_name(e->state));
        admin_kv_bool(&reply.pk, "connected", connected);
        admin_kv_str(&reply.pk, "connected_since", since); // "" = not connected
        admin_kv_u64(&reply.pk, "idle_s", idle_ms / 1000);
        admin_kv_u64(&reply.pk, "in_flight", in_flight);
        admin_kv_u64(&reply.pk, "waiting", depth);
        admin_kv_u64(&reply.pk, "oldest_s", oldest / 1000);
        admin_kv_str(&reply.pk, "fingerprint", fingerprint);
        admin_kv_str(&reply.pk, "valid_from", from);   // "" = no lower bound
        admin_kv_str(&reply.pk, "valid_until", until); // "" = no upper bound
        admin_kv_str(&reply.pk, "name", e->name);
    }
    admin_read_end(self);
    admin_send_reply(self, &reply);
}

static void s_agency_state(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) nargs;
    const char *verb = args[0], *code = args[1];
    proto_directory_state_t state = strcmp(verb, "suspend") == 0  ? PROTO_DIRECTORY_SUSPENDED
                                    : strcmp(verb, "revoke") == 0 ? PROTO_DIRECTORY_REVOKED
                                                                  : PROTO_DIRECTORY_ACTIVE;
    if (proto_agency_code_check(code, strlen(code)) != PROTO_OK)
        return admin_fail(self, PROTO_ERR_AGENCY_CODE, "'%.40s' is not an agency code", code);
    char err[256] = "";
    proto_directory_t *dir = NULL;
    proto_err_t rc =
        proto_directory_load_known(broker_server_config(self->server)->directory,
                                   broker_server_directory(self->server), &dir, err, sizeof err);
    if (!rc)
        rc = proto_directory_set_state(dir, code, state);
    if (!rc)
        rc = proto_directory_save(dir, broker_server_config(self->server)->directory, err,
                                  sizeof err);
    proto_directory_destroy(&dir);
    if (rc)
        return admin_fail(self, rc, "%s %.13s: %s%s%s", verb, code, proto_strerror(rc),
                          *err ? ": " : "", err);
    char detail[64];
    snprintf(detail, sizeof detail, "agency %.10s %.13s", verb, code);
    admin_audit(self, code, NULL, detail);
    proto_log_info("event=admin action=%s agency=%s operator=\"%s\"", verb, code, self->who);
    rc = broker_server_reload(self->server, err, sizeof err);
    if (rc)
        return admin_fail(self, rc, "%s %.13s: saved, but the reload was refused: %s", verb, code,
                          err);
    admin_reply_t reply;
    admin_ok(&reply);
    msgpack_pack_map(&reply.pk, 2);
    admin_kv_str(&reply.pk, "agency", code);
    admin_kv_str(&reply.pk, "state", proto_directory_state_name(state));
    admin_send_reply(self, &reply);
}

static void s_directory_reload(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) args;
    (void) nargs;
    char err[256] = "";
    proto_err_t rc = broker_server_reload(self->server, err, sizeof err);
    admin_audit(self, "", NULL, "directory reload");
    if (rc)
        return admin_fail(self, rc, "directory reload refused: %s", err);
    admin_reply_t reply;
    admin_ok(&reply);
    msgpack_pack_map(&reply.pk, 2);
    admin_kv_u64(&reply.pk, "serial",
                 proto_directory_serial(broker_server_directory(self->server)));
    admin_kv_u64(&reply.pk, "agencies",
                 proto_directory_count(broker_server_directory(self->server)));
    admin_send_reply(self, &reply);
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
    admin_time_text(proto_clock_wall_ms(), when);
    snprintf(detail, sizeof detail,
             held ? "clock confirmed at %s: a jump of %+" PRId64 " ms accepted, expiry resumes"
                  : "clock confirmed at %s (no jump held; %+" PRId64 " ms)",
             when, jump);
    admin_audit(self, "", NULL, detail);
    proto_log_warning("event=clock_confirmed held=%s jump_ms=%" PRId64, held ? "yes" : "no", jump);
    admin_reply_t reply;
    admin_ok(&reply);
    msgpack_pack_map(&reply.pk, 3);
    admin_kv_bool(&reply.pk, "was_held", held);
    admin_str(&reply.pk, "jump_ms");
    msgpack_pack_int64(&reply.pk, jump);
    admin_kv_str(&reply.pk, "time", when);
    admin_send_reply(self, &reply);
}

//  doc show, doc resend, stuck and the audit commands: admin_docs.c

//  log head, log prove A B: the transparency log (admin_log.c), read in
//  the open transaction or a short read one.
static void s_log(broker_admin_t *self, const char *const *args, size_t nargs)
{
    bool prove = strcmp(args[0], "prove") == 0;
    if (prove != (nargs == 3))
        return admin_fail(self, PROTO_ERR_INVALID_ARG, "usage: log head | log prove A B");
    if (!admin_read_begin(self))
        return admin_fail(self, PROTO_ERR_STORE, "cannot read the store");
    char why[200];
    admin_reply_t reply;
    admin_ok(&reply);
    proto_err_t rc = prove
                         ? broker_admin_log_prove(broker_server_tlog(self->server),
                                                  broker_server_store(self->server), args[1],
                                                  args[2], &reply.pk, why, sizeof why)
                         : broker_admin_log_head(broker_server_tlog(self->server),
                                                 proto_clock_wall_ms(), &reply.pk, why, sizeof why);
    admin_read_end(self);
    if (rc) {
        msgpack_sbuffer_destroy(&reply.buf);
        return admin_fail(self, rc, "%s", why);
    }
    admin_send_reply(self, &reply);
}

//  log links: the linked brokers' heads held and their alarms (linklog.c).
static void s_log_links(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) args;
    (void) nargs;
    admin_reply_t reply;
    admin_ok(&reply);
    broker_linklog_pack(broker_server_linklog(self->server), NULL, &reply.pk);
    admin_send_reply(self, &reply);
}

//  links: each link with its session, its queue and what is in flight
//  (linkstat.h), a row per link in label order.
static void s_links(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) args;
    (void) nargs;
    broker_linkstat_t *rows = calloc(BROKER_LINKSTAT_MAX, sizeof *rows);
    if (!rows)
        return admin_fail(self, PROTO_ERR_NOMEM, "out of memory");
    size_t n = broker_linkstats(self->server, rows, BROKER_LINKSTAT_MAX);
    admin_reply_t reply;
    admin_ok(&reply);
    msgpack_pack_array(&reply.pk, n);
    for (size_t i = 0; i < n; i++) {
        const broker_linkstat_t *r = &rows[i];
        msgpack_pack_map(&reply.pk, 7);
        admin_kv_str(&reply.pk, "broker", r->label);
        admin_kv_str(&reply.pk, "dials", r->endpoint ? r->endpoint : "-");
        admin_kv_bool(&reply.pk, "up", r->up);
        admin_kv_u64(&reply.pk, "sessions", r->sessions);
        admin_kv_u64(&reply.pk, "waiting", r->waiting);
        admin_kv_u64(&reply.pk, "oldest_s", r->oldest_age / 1000);
        admin_kv_u64(&reply.pk, "in_flight", r->in_flight);
    }
    free(rows);
    admin_send_reply(self, &reply);
}

//  log clear LABEL: the operator has looked at a linked broker's alarm. The
//  answer is what was cleared, evidence included, as log links showed it.
static void s_log_clear(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) nargs;
    struct broker_linklog *ll = broker_server_linklog(self->server);
    admin_reply_t reply;
    admin_ok(&reply);
    msgpack_pack_map(&reply.pk, 1);
    admin_str(&reply.pk, "cleared");
    broker_linklog_pack(ll, args[1], &reply.pk);
    bool alarm = false;
    proto_err_t rc = broker_linklog_clear(ll, args[1], &alarm);
    if (rc) {
        msgpack_sbuffer_destroy(&reply.buf);
        return admin_fail(self, rc,
                          rc == PROTO_ERR_NOT_FOUND ? "no log head or alarm is held for %s"
                                                    : "cannot clear %s",
                          args[1]);
    }
    char detail[160];
    snprintf(detail, sizeof detail, "log of linked broker %s cleared (%s)", args[1],
             alarm ? "alarm and head held" : "head held");
    admin_audit(self, "", NULL, detail);
    admin_send_reply(self, &reply);
}

// ---------------------------------------------------------------------------
//  The console's own reports

//  The console reports each login, so that the audit chain names who came
//  in and who was turned away. Its own socket only: truc-admin cannot
//  write such entries.
static void s_console_login(broker_admin_t *self, const char *const *args, size_t nargs)
{
    (void) nargs;
    if (!self->console)
        return admin_fail(self, PROTO_ERR_NOT_AUTHORIZED, "only the web console reports logins");
    bool ok = strcmp(args[1], "ok") == 0;
    char detail[400];
    snprintf(detail, sizeof detail, "console login %s: %.63s (%.15s) from %.63s",
             ok ? "ok" : "failed", args[2], args[3], args[4]);
    broker_server_audit(self->server, ok ? BROKER_AUDIT_ADMIN : BROKER_AUDIT_DENIED, "", NULL,
                        detail);
    admin_reply_t reply;
    admin_ok(&reply);
    msgpack_pack_true(&reply.pk);
    admin_send_reply(self, &reply);
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
        return admin_fail(self, PROTO_ERR_VALUE, "unknown command or wrong arguments: backup");
    s_backup_t *job = calloc(1, sizeof *job);
    if (!job)
        return admin_fail(self, PROTO_ERR_NOMEM, "out of memory");
    job->store = broker_server_store(self->server);
    job->result_fd = self->backup_pipe[1];
    snprintf(job->dir, sizeof job->dir, "%s", dir);
    //  Joined, not detached: the store must not close under LMDB's copy.
    if (pthread_create(&self->backup_thread, NULL, s_backup_thread, job) != 0) {
        free(job);
        return admin_fail(self, PROTO_ERR_SYSTEM, "cannot start the backup thread");
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
        admin_audit(self, "", NULL, "backup failed");
        proto_log_error("event=backup_failed dir=%s detail=\"%s\"", dir, err ? err : "");
        return admin_fail(self, (proto_err_t) code, "backup to %s failed: %s", dir, err ? err : "");
    }
    uint64_t size = 0, length = 0;
    char head[2 * PROTO_HASH_LEN + 1] = "";
    int used = 0;
    line[strcspn(line, "\n")] = '\0';
    sscanf(line, "0 %" SCNu64 " %" SCNu64 " %64s %n", &size, &length, head, &used);
    const char *dir = used > 0 ? line + used : "";
    admin_audit(self, "", NULL, "backup");
    proto_log_info("event=backup_done dir=%s size=%" PRIu64 " audit_length=%" PRIu64, dir, size,
                   length);
    admin_reply_t reply;
    admin_ok(&reply);
    msgpack_pack_map(&reply.pk, 4);
    admin_kv_str(&reply.pk, "backup", dir);
    admin_kv_u64(&reply.pk, "size", size);
    admin_kv_u64(&reply.pk, "audit_length", length);
    admin_kv_str(&reply.pk, "audit_head", head);
    admin_send_reply(self, &reply);
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
    { "doc", "show", 2, 2, admin_doc_show,
      "one document: sender, subject, hash, each recipient's state", false },
    { "doc", "resend", 2, 3, admin_doc_resend,
      "push ID again now to its recipients still waiting (or to CODE alone)", true },
    { "audit", "verify", 1, ADMIN_MAX_ARGS, admin_audit_verify, "check the whole audit chain",
      false },
    { "audit", "show", 1, ADMIN_MAX_ARGS, admin_audit_show,
      "a page of audit entries (default the last 50), filtered by ID and NAME=VALUE", false },
    { "log", "head", 1, 1, s_log, "the transparency log's current signed tree head", false },
    { "log", "prove", 3, 3, s_log,
      "the consistency proof between log sizes A and B, and whether it holds", false },
    { "links", NULL, 0, 0, s_links,
      "each linked broker: session up, documents queued for it and the oldest, in flight", false },
    { "log", "links", 1, 1, s_log_links,
      "each linked broker's log head held here, and its alarm with the evidence", false },
    { "log", "clear", 2, 2, s_log_clear,
      "forget LABEL's log alarm and head held; its next head is taken anew", true },
    { "backup", NULL, 1, 1, s_backup, "copy the store to DIR on a thread; answer when done", true },
    { "stuck", NULL, 0, 1, admin_stuck,
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
        return rc == PROTO_ERR_NOMEM ? admin_fail(self, rc, "out of memory")
               : rc == PROTO_ERR_NOT_AUTHORIZED
                   ? admin_fail(self, rc, "no operator or role")
                   : admin_fail(self, rc, "a request is a map {cmd: str, args: [str]}");
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
        broker_server_audit(self->server, BROKER_AUDIT_DENIED, "", NULL, detail);
        admin_fail(self, PROTO_ERR_NOT_AUTHORIZED, "%s is a viewer: only an admin may %s %s",
                   self->operator, req.cmd, req.nargs > 0 ? req.args[0] : "");
    } else if (command) {
        command->fn(self, req.args, req.nargs);
    } else {
        admin_fail(self, PROTO_ERR_VALUE, "unknown command or wrong arguments: %s", req.cmd);
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
