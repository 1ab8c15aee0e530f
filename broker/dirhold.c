/*  broker/dirhold.c - a province's own agencies, held by the broker it
    dials. See dirhold.h.

    A province's part is its own agencies, a few thousand at most: it is
    checked and merged on the loop, once per change there. The national
    file it merges into may hold the whole country, so it is parsed only
    when it is loaded (the start, a reload) and copied, CURVE keys and all,
    for each merge.
*/
#include "dirhold.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/dirdelta.h"
#include "proto/fileio.h"
#include "proto/log.h"
#include "proto/loop.h"
#include "proto/route.h"
#include "proto/sign.h"

#include "batch.h"
#include "dirchange.h"
#include "directory.h"
#include "dirlink.h"
#include "session.h"

#define S_MAX 256 // broker entries in a directory (PROTOCOL.md 16.1)

//  The store's high-water marks, so that a restart cannot go back: the
//  serial of the directory file merged, and each province's part held.
#define S_FILE_SERIAL "dirhold-file-serial"
#define S_HELD_PREFIX "dirhold-held:"

typedef struct {
    char label[PROTO_LABEL_MAX + 1];
    proto_msg_t *held; // its agencies, checked
} s_province_t;

struct broker_dirhold {
    broker_server_t *server;
    s_province_t provinces[S_MAX];
    size_t n;
    proto_directory_t *file; // the directory file as last applied; NULL until a part is held
};

broker_dirhold_t *broker_dirhold_new(broker_server_t *server)
{
    broker_dirhold_t *self = calloc(1, sizeof *self);
    if (self)
        self->server = server;
    return self;
}

void broker_dirhold_destroy(broker_dirhold_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_dirhold_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        proto_msg_destroy(&self->provinces[i].held);
    proto_directory_destroy(&self->file);
    free(self);
    *self_p = NULL;
}

bool broker_dirhold_taking(const broker_dirhold_t *self, const char *label)
{
    return self && label && strcmp(label, broker_dirlink_from(self->server->dirlink)) != 0;
}

//  Does this broker also take a directory from above (a broker in the
//  middle of a chain)? Then the file and its serial are dirlink.c's, and
//  the parts held merge into what it makes of them.
static bool s_middle(const broker_dirhold_t *self)
{
    return broker_dirlink_taking(self->server->dirlink);
}

const proto_dir_entry_t *broker_dirhold_find(const broker_dirhold_t *self, const char *code)
{
    for (size_t i = 0; self && i < self->n; i++) {
        const proto_dir_entry_t *u = broker_dirlink_find(self->provinces[i].held, code);
        if (u)
            return u;
    }
    return NULL;
}

static s_province_t *s_find(broker_dirhold_t *self, const char *label, bool add)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->provinces[i].label, label) == 0)
            return &self->provinces[i];
    if (!add || self->n == S_MAX)
        return NULL;
    s_province_t *p = &self->provinces[self->n++];
    snprintf(p->label, sizeof p->label, "%s", label);
    return p;
}

uint64_t broker_dirhold_held(const broker_dirhold_t *self, const char *label)
{
    for (size_t i = 0; self && i < self->n; i++)
        if (strcmp(self->provinces[i].label, label) == 0 && self->provinces[i].held)
            return self->provinces[i].held->u.directory.serial;
    return 0;
}

static void s_refuse(broker_server_t *server, broker_peer_t *p, proto_err_t code, bool fatal,
                     const char *why)
{
    char detail[300];
    broker_session_error_audit(server, p, code, why, NULL, fatal, false);
    snprintf(detail, sizeof detail, "agencies from %s refused: %s: %s", p->link_label,
             proto_errname(code), why);
    broker_batch_audit(server, BROKER_AUDIT_ADMIN, "", NULL, detail, NULL);
    proto_log_warning("event=dirhold_refused broker=%s error=%s detail=\"%s\"", p->link_label,
                      proto_errname(code), why);
}

//  May label speak for code? Its route in the directory file must name
//  that broker (an entry homed there, or its codes or patterns).
static proto_err_t s_routed(const proto_directory_t *file, const char *own, const char *label,
                            const char *code)
{
    proto_route_t r;
    proto_err_t rc = proto_directory_route(file, code, own, &r);
    if (rc == PROTO_ERR_BROKER_SUSPENDED || rc == PROTO_ERR_BROKER_REVOKED)
        rc = r.broker && strcmp(r.broker->label, label) == 0 ? PROTO_OK : rc;
    else if (!rc)
        rc = r.kind == PROTO_ROUTE_LINK && strcmp(r.broker->label, label) == 0
                 ? PROTO_OK
                 : PROTO_ERR_SENDER_MISMATCH;
    return rc;
}

//  What of one province's agencies goes into the merge: the entry, homed
//  there; or why not (audited when audit is set).
static size_t s_take(broker_dirhold_t *self, const proto_directory_t *file,
                     const proto_directory_t *inforce, const s_province_t *prov,
                     proto_directory_entry_t *take, bool audit, const proto_msg_t *prev)
{
    broker_server_t *server = self->server;
    const char *own = proto_identity_public(server->identity)->name;
    const proto_directory_msg_t *d = &prov->held->u.directory;
    size_t n = 0;
    for (uint32_t i = 0; i < d->nentries; i++) {
        const proto_dir_entry_t *u = &d->entries[i];
        const proto_directory_entry_t *was = proto_directory_find(inforce, u->code);
        const proto_directory_entry_t *local = proto_directory_find(file, u->code);
        proto_err_t rc =
            u->home ? PROTO_ERR_SENDER_MISMATCH : s_routed(file, own, prov->label, u->code);
        bool revoked = (was && was->state == PROTO_DIRECTORY_REVOKED) ||
                       (local && local->state == PROTO_DIRECTORY_REVOKED);
        if (!rc && revoked && u->state != PROTO_DIRECTORY_REVOKED)
            rc = PROTO_ERR_AGENCY_REVOKED;
        if (rc) {
            if (audit && broker_dirlink_changed(prev, u)) {
                char detail[300];
                snprintf(detail, sizeof detail,
                         "agencies from %s serial %" PRIu64 ": %s not taken: %s (%s)", prov->label,
                         d->serial, u->code, proto_errname(rc),
                         rc == PROTO_ERR_AGENCY_REVOKED ? "revoked here: revocation is final"
                                                        : "its route here names another broker");
                broker_batch_audit(server, BROKER_AUDIT_ADMIN, u->code, NULL, detail, NULL);
                proto_log_warning("event=dirhold_not_taken broker=%s agency=%s error=%s",
                                  prov->label, u->code, proto_errname(rc));
            }
            continue;
        }
        broker_dirlink_entry(&take[n++], u, prov->label);
    }
    return n;
}

static void s_not_put(void *arg, const char *code, proto_err_t rc)
{
    (void) arg;
    proto_log_warning("event=dirhold_not_taken agency=%s error=%s", code, proto_errname(rc));
}

//  Merge every province's agencies into eff (the directory file, changed
//  in place) and number it past the directory in force and the file; the
//  changes of province audit (NULL: none) are audited. false if it could
//  not be done (logged).
static bool s_merge(broker_dirhold_t *self, proto_directory_t *eff, const s_province_t *audit,
                    const proto_msg_t *prev)
{
    broker_server_t *server = self->server;
    size_t room = 0;
    for (size_t i = 0; i < self->n; i++)
        room += self->provinces[i].held ? self->provinces[i].held->u.directory.nentries : 0;
    proto_directory_entry_t *take = calloc(room ? room : 1, sizeof *take);
    size_t n = 0;
    for (size_t i = 0; take && i < self->n; i++)
        if (self->provinces[i].held)
            n += s_take(self, eff, server->directory, &self->provinces[i], take + n,
                        &self->provinces[i] == audit, prev);
    uint64_t serial = proto_directory_serial(server->directory) + 1;
    if (serial < proto_directory_serial(eff))
        serial = proto_directory_serial(eff);
    bool ok =
        take &&
        proto_directory_put_many(eff, take, n, server->directory, s_not_put, NULL) == PROTO_OK &&
        proto_directory_set_serial(eff, serial) == PROTO_OK;
    if (!ok)
        proto_log_error("event=dirhold_merge_failed agencies=%zu", n);
    free(take);
    return ok;
}

//  A copy of the directory file as last applied, to merge into. Before
//  any part was held the directory in force is that file (the start or a
//  reload applied it as it is), so it is kept from there, not read again:
//  a file changed on disk counts once the operator reloads it.
static proto_directory_t *s_file_copy(broker_dirhold_t *self)
{
    proto_directory_t *eff = NULL;
    if (s_middle(self)) {
        eff = broker_dirlink_base(self->server);
        if (!eff)
            proto_log_error("event=dirhold_merge_failed error=ERR_NOMEM");
        return eff;
    }
    if ((!self->file && proto_directory_copy(self->server->directory, &self->file) != PROTO_OK) ||
        proto_directory_copy(self->file, &eff) != PROTO_OK) {
        proto_log_error("event=dirhold_merge_failed error=ERR_NOMEM");
        return NULL;
    }
    return eff;
}

static void s_held_key(const char *label, char key[sizeof S_HELD_PREFIX + PROTO_LABEL_MAX])
{
    snprintf(key, sizeof S_HELD_PREFIX + PROTO_LABEL_MAX, "%s%s", S_HELD_PREFIX, label);
}

proto_err_t broker_dirhold_record(broker_server_t *server)
{
    broker_dirhold_t *self = server->dirhold;
    if (!self || (!self->file && !s_middle(self)))
        return PROTO_OK;
    proto_err_t rc = s_middle(self)
                         ? PROTO_OK
                         : broker_store_counter_raise(server->store, S_FILE_SERIAL,
                                                      proto_directory_serial(self->file));
    for (size_t i = 0; !rc && i < self->n; i++) {
        char key[sizeof S_HELD_PREFIX + PROTO_LABEL_MAX];
        s_held_key(self->provinces[i].label, key);
        rc = broker_store_counter_raise(server->store, key,
                                        broker_dirhold_held(self, self->provinces[i].label));
    }
    return rc;
}

bool broker_dirhold_merge(broker_server_t *server, proto_directory_t *eff)
{
    broker_dirhold_t *self = server->dirhold;
    return !self || self->n == 0 || s_merge(self, eff, NULL, NULL);
}

//  Check eff against the directory in force and the store, and apply it
//  unless nothing an agent sees changed.
static proto_err_t s_apply(broker_server_t *server, proto_directory_t **eff, const char *cause,
                           bool force, char *err, size_t len)
{
    bool unchanged = false;
    proto_err_t rc = broker_dirchange_check(server->directory, *eff, &unchanged, err, len);
    if (!rc && !unchanged)
        rc = broker_dirchange_check_store(server->store, *eff, err, len);
    if (!rc && !unchanged && (force || broker_dirchange_each(server->directory, *eff, NULL, NULL)))
        rc = broker_directory_apply(server, eff, cause, err, len);
    proto_directory_destroy(eff);
    return rc;
}

//  The province's new part, checked: keep it (file, then memory), merge,
//  apply.
static void s_keep(broker_dirhold_t *self, s_province_t *prov, proto_msg_t **msg_p,
                   const void *body, size_t len, int kind, size_t wire, bool same)
{
    uint64_t started = proto_clock_mono_ms(); // the loop is busy with this merge
    broker_server_t *server = self->server;
    char path[4096], err[256] = "";
    snprintf(path, sizeof path, "%s/from-%s.dir", server->config->data_dir, prov->label);
    proto_err_t rc = proto_file_write_atomic(path, body, len, 0600, true, err, sizeof err);
    if (rc) {
        proto_log_error("event=dirhold_not_kept path=%s error=%s detail=\"%s\"", path,
                        proto_errname(rc), err);
        proto_msg_destroy(msg_p);
        return;
    }
    proto_msg_t *prev = prov->held;
    prov->held = *msg_p;
    *msg_p = NULL;
    uint64_t serial = prov->held->u.directory.serial;
    uint64_t was = proto_directory_serial(server->directory);
    //  A province numbers its part with the serial in force, which each
    //  change from here moves: a delta that changes no agency merges
    //  nothing, and the national file is not parsed again for it.
    proto_directory_t *eff = same ? NULL : s_file_copy(self);
    char cause[PROTO_LABEL_MAX + 64];
    snprintf(cause, sizeof cause, "agencies from %s serial %" PRIu64, prov->label, serial);
    bool merged = eff && s_merge(self, eff, prov, prev);
    proto_msg_destroy(&prev);
    if (same) {
        rc = PROTO_OK;
    } else if (!merged) {
        proto_directory_destroy(&eff);
        rc = PROTO_ERR_DIRECTORY;
    } else {
        rc = s_apply(server, &eff, cause, false, err, sizeof err);
    }
    if (broker_batch_begin(server) != PROTO_OK || broker_dirhold_record(server) != PROTO_OK)
        proto_log_error("event=dirhold_not_recorded");
    proto_log_info("event=dirhold_taken from=%s kind=%s serial=%" PRIu64 " bytes=%zu "
                   "in_force=%" PRIu64 " was=%" PRIu64 " result=%s ms=%" PRIu64,
                   prov->label, kind == PROTO_KIND_DIRECTORY_DELTA ? "delta" : "whole", serial,
                   wire, proto_directory_serial(server->directory), was, proto_errname(rc),
                   proto_clock_mono_ms() - started);
}

void broker_dirhold_message(broker_server_t *server, broker_peer_t *p, int kind, zmq_msg_t *body)
{
    broker_dirhold_t *self = server->dirhold;
    s_province_t *prov =
        broker_dirhold_taking(self, p->link_label) ? s_find(self, p->link_label, true) : NULL;
    if (!prov) {
        s_refuse(server, p, PROTO_ERR_UNEXPECTED, false, "this broker does not take your agencies");
        return;
    }
    const void *data = zmq_msg_data(body);
    size_t len = zmq_msg_size(body);
    proto_msg_t *msg = NULL, *next = NULL;
    proto_errinfo_t info;
    proto_err_t rc = proto_msg_decode(kind, data, len, &msg, &info);
    if (rc) {
        s_refuse(server, p, rc, false, info.message);
        return;
    }
    char why[200] = "";
    const proto_directory_broker_t *b = proto_directory_broker_find(server->directory, prov->label);
    const uint8_t *key = b ? b->sign_pk : NULL;
    uint64_t held = broker_dirhold_held(self, prov->label);
    proto_buf_t whole;
    proto_buf_init(&whole);
    if (kind == PROTO_KIND_DIRECTORY) {
        next = msg;
        msg = NULL;
        rc = broker_dirlink_check(&next->u.directory, prov->label, key, held, why, sizeof why);
    } else if (!prov->held || msg->u.delta.base != held) {
        rc = PROTO_ERR_DIRECTORY_BASE;
        snprintf(why, sizeof why, "delta from serial %" PRIu64 ", %" PRIu64 " held",
                 msg->u.delta.base, held);
    } else if (!key) {
        rc = PROTO_ERR_BAD_SIGNATURE;
        snprintf(why, sizeof why, "no broker entry %s to check with", prov->label);
    } else if ((rc = proto_dir_delta_apply(&prov->held->u.directory, &msg->u.delta, key, &whole))) {
        snprintf(why, sizeof why, "the delta does not make a directory signed by %s", prov->label);
    } else if ((rc = proto_msg_decode(PROTO_KIND_DIRECTORY, whole.data, whole.len, &next, NULL))) {
        snprintf(why, sizeof why, "the directory it makes does not decode");
    } else {
        rc = broker_dirlink_check(&next->u.directory, prov->label, key, held, why, sizeof why);
    }
    if (!rc && next->u.directory.nbrokers) {
        rc = PROTO_ERR_VALUE;
        snprintf(why, sizeof why, "a province's agencies come without broker entries");
    }
    if (!rc) {
        const proto_buf_t *kept = whole.len ? &whole : NULL;
        bool same = msg && !msg->u.delta.nentries && !msg->u.delta.nremoved;
        s_keep(self, prov, &next, kept ? kept->data : data, kept ? kept->len : len, kind, len,
               same);
    } else {
        //  Out of step: a fatal ERROR starts the link over, and its new
        //  READY says what is held, so the whole comes next.
        s_refuse(server, p, rc, rc == PROTO_ERR_DIRECTORY_BASE, why);
    }
    proto_msg_destroy(&next);
    proto_msg_destroy(&msg);
    proto_buf_free(&whole);
}

// ---------------------------------------------------------------------------
//  The start and a reload

proto_err_t broker_dirhold_open(broker_server_t *server, char *errbuf, size_t errlen)
{
    broker_dirhold_t *self = server->dirhold;
    proto_directory_t *dir = server->directory;
    for (size_t i = 0; i < proto_directory_broker_count(dir); i++) {
        const proto_directory_broker_t *b = proto_directory_broker(dir, i);
        char path[4096], why[200] = "";
        if (!broker_dirhold_taking(self, b->label))
            continue;
        snprintf(path, sizeof path, "%s/from-%s.dir", server->config->data_dir, b->label);
        char *data = NULL, key[sizeof S_HELD_PREFIX + PROTO_LABEL_MAX];
        size_t len = 0;
        if (proto_file_read(path, PROTO_DIRECTORY_FILE_MAX, false, &data, &len, NULL, 0))
            continue;
        //  A part older than one held before is a rollback of the file.
        s_held_key(b->label, key);
        uint64_t recorded = broker_store_counter_peek(server->store, key);
        proto_msg_t *held = NULL;
        proto_err_t rc = proto_msg_decode(PROTO_KIND_DIRECTORY, data, len, &held, NULL);
        if (!rc)
            rc = broker_dirlink_check(&held->u.directory, b->label, b->sign_pk,
                                      recorded ? recorded - 1 : 0, why, sizeof why);
        proto_file_free(&data, len, false);
        s_province_t *prov = rc ? NULL : s_find(self, b->label, true);
        if (!prov) {
            snprintf(errbuf, errlen, "%s: %s: %s", path, proto_errname(rc ? rc : PROTO_ERR_LIMIT),
                     why);
            proto_msg_destroy(&held);
            return rc ? rc : PROTO_ERR_LIMIT;
        }
        prov->held = held;
    }
    if (self->n == 0)
        return PROTO_OK; // nothing held: the directory is the file, loaded once
    //  The merge numbers the result past what was applied, which would
    //  hide an older file: its own serial is held to the rule here.
    uint64_t file_serial = proto_directory_serial(server->directory);
    uint64_t recorded_file = broker_store_counter_peek(server->store, S_FILE_SERIAL);
    if (!s_middle(self) && file_serial < recorded_file) {
        snprintf(errbuf, errlen,
                 "cannot apply the agency directory %s: serial %" PRIu64
                 " is older than serial %" PRIu64 " of the file this broker applied before",
                 server->config->directory, file_serial, recorded_file);
        return PROTO_ERR_BAD_STATE;
    }
    proto_directory_t *eff = s_file_copy(self); // the file, and what comes from above
    if (!eff) {
        snprintf(errbuf, errlen, "out of memory for the agency directory");
        return PROTO_ERR_NOMEM;
    }
    //  Numbered past what agents were last given: the merge is made again.
    uint64_t applied = broker_store_counter_peek(server->store, "dir-serial");
    if (!s_merge(self, eff, NULL, NULL)) {
        proto_directory_destroy(&eff);
        snprintf(errbuf, errlen, "cannot merge the provinces' agencies held");
        return PROTO_ERR_NOMEM;
    }
    uint64_t serial =
        proto_directory_serial(eff) > applied ? proto_directory_serial(eff) : applied + 1;
    if (proto_directory_set_serial(eff, serial) != PROTO_OK) {
        proto_directory_destroy(&eff);
        snprintf(errbuf, errlen, "cannot number the agency directory %" PRIu64, serial);
        return PROTO_ERR_LIMIT;
    }
    proto_directory_destroy(&server->directory);
    server->directory = eff;
    if (broker_dirpush_update(server->dirpush, server->directory, broker_now()) != PROTO_OK) {
        snprintf(errbuf, errlen, "cannot sign the directory snapshot");
        return PROTO_ERR_NOMEM;
    }
    proto_log_info("event=dirhold_opened provinces=%zu serial=%" PRIu64 " agencies=%zu", self->n,
                   serial, proto_directory_count(eff));
    return PROTO_OK;
}

bool broker_dirhold_holding(const broker_dirhold_t *self)
{
    for (size_t i = 0; self && self->file && i < self->n; i++)
        if (self->provinces[i].held)
            return true;
    return false;
}

proto_err_t broker_dirhold_reload(broker_server_t *server, char *errbuf, size_t errlen)
{
    broker_dirhold_t *self = server->dirhold;
    char err[256] = "";
    proto_directory_t *fresh = NULL, *eff = NULL;
    bool unchanged = false;
    proto_err_t rc = proto_directory_load_known(server->config->directory, server->directory,
                                                &fresh, err, sizeof err);
    //  The file alone keeps the rules of a reload (broker/dirchange.h).
    if (!rc)
        rc = broker_dirchange_check(self->file, fresh, &unchanged, err, sizeof err);
    if (!rc && !unchanged && proto_directory_copy(fresh, &eff) != PROTO_OK) {
        rc = PROTO_ERR_NOMEM;
        snprintf(err, sizeof err, "out of memory");
    }
    if (rc || unchanged) {
        if (rc) {
            proto_log_error("event=directory_reload_refused path=%s error=%s detail=\"%s\"",
                            server->config->directory, proto_errname(rc), err);
            char detail[300];
            snprintf(detail, sizeof detail, "directory reload refused: %s", err);
            broker_batch_audit(server, BROKER_AUDIT_ADMIN, "", NULL, detail, NULL);
        }
        proto_directory_destroy(&fresh);
        snprintf(errbuf, errlen, "%s", err);
        return rc;
    }
    if (!s_merge(self, eff, NULL, NULL)) {
        proto_directory_destroy(&fresh);
        proto_directory_destroy(&eff);
        snprintf(errbuf, errlen, "the provinces' agencies could not be merged");
        return PROTO_ERR_NOMEM;
    }
    rc = s_apply(server, &eff, "directory reload", true, errbuf, errlen);
    if (!rc) {
        proto_directory_destroy(&self->file);
        self->file = fresh;
        fresh = NULL;
        if (broker_batch_begin(server) != PROTO_OK || broker_dirhold_record(server) != PROTO_OK)
            proto_log_error("event=dirhold_not_recorded");
    }
    proto_directory_destroy(&fresh);
    return rc;
}
