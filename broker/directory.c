/*  broker/directory.c - applying a new agency directory while running.
    See directory.h.
*/
#include "directory.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "proto/log.h"

#include "batch.h"
#include "link.h"
#include "dirchange.h"
#include "dirhold.h"
#include "dirlink.h"
#include "expiry.h"
#include "session.h"

void broker_directory_signed(broker_server_t *self)
{
    proto_log_info(
        "event=directory_signed serial=%" PRIu64 " agencies=%zu bytes=%zu "
        "delta_from=%" PRIu64 " delta_bytes=%zu us=%" PRIu64,
        broker_dirpush_serial(self->dirpush), proto_directory_count(self->directory),
        broker_dirpush_snapshot_size(self->dirpush), broker_dirpush_delta_base(self->dirpush),
        broker_dirpush_delta_size(self->dirpush), broker_dirpush_build_us(self->dirpush));
}

//  One agency a reload changed, into the audit chain.
typedef struct {
    broker_server_t *self;
    uint64_t serial;
} s_dir_audit_t;

static void s_dir_changed(void *arg, const char *code, const char *what)
{
    s_dir_audit_t *a = arg;
    char detail[200];
    snprintf(detail, sizeof detail, "directory %" PRIu64 ": %s", a->serial, what);
    broker_batch_audit(a->self, BROKER_AUDIT_ADMIN, code, NULL, detail, NULL);
    proto_log_info("event=directory_change serial=%" PRIu64 " agency=%s change=\"%s\"", a->serial,
                   code, what);
}

proto_err_t broker_directory_reload(broker_server_t *self, char *errbuf, size_t errlen)
{
    //  A broker that takes the national directory merges its file with it.
    if (broker_dirlink_taking(self->dirlink))
        return broker_dirlink_reload(self, errbuf, errlen);
    //  A national broker merges it with its provinces' agencies.
    if (broker_dirhold_holding(self->dirhold))
        return broker_dirhold_reload(self, errbuf, errlen);
    char err[256] = "";
    proto_directory_t *fresh = NULL;
    //  The keys of agencies whose key did not change are reused: a reload
    //  of a national file costs tens of milliseconds, not seconds.
    proto_err_t rc = proto_directory_load_known(self->config->directory, self->directory, &fresh,
                                                err, sizeof err);
    if (rc) {
        proto_log_error("event=directory_reload_failed path=%s error=%s detail=\"%s\" "
                        "note=\"keeping the directory loaded before\"",
                        self->config->directory, proto_errname(rc), err);
        snprintf(errbuf, errlen, "%s", err);
        return rc;
    }
    //  A stale serial or a revoked agency brought back is refused, loudly
    //  and in the audit chain: it is what an intruder with write access to
    //  the file would try (broker/dirchange.h).
    bool unchanged = false;
    rc = broker_dirchange_check(self->directory, fresh, &unchanged, err, sizeof err);
    if (!rc && !unchanged)
        rc = broker_dirchange_check_store(self->store, fresh, err, sizeof err);
    if (rc || unchanged) {
        if (rc) {
            proto_log_error("event=directory_reload_refused path=%s error=%s detail=\"%s\" "
                            "note=\"keeping the directory loaded before\"",
                            self->config->directory, proto_errname(rc), err);
            char detail[300];
            snprintf(detail, sizeof detail, "directory reload refused: %s", err);
            broker_batch_audit(self, BROKER_AUDIT_ADMIN, "", NULL, detail, NULL);
        } else {
            proto_log_info("event=directory_unchanged serial=%" PRIu64,
                           proto_directory_serial(fresh));
        }
        proto_directory_destroy(&fresh);
        snprintf(errbuf, errlen, "%s", err);
        return rc;
    }
    return broker_directory_apply(self, &fresh, "directory reload", errbuf, errlen);
}

proto_err_t broker_directory_apply(broker_server_t *self, proto_directory_t **fresh_p,
                                   const char *cause, char *errbuf, size_t errlen)
{
    proto_directory_t *fresh = *fresh_p;
    *fresh_p = NULL;
    proto_err_t rc = PROTO_OK;
    proto_directory_t *old = self->directory;
    self->directory = fresh;
    //  Signed and encoded off the loop; broker_directory_built sends it.
    if (broker_dirpush_start(self->dirpush, self->directory, broker_now()) != PROTO_OK) {
        proto_log_error("event=directory_reload_failed error=snapshot");
        self->directory = old;
        proto_directory_destroy(&fresh);
        snprintf(errbuf, errlen, "out of memory for the snapshot");
        return PROTO_ERR_NOMEM;
    }
    //  Remembered in the store, so that a restart cannot undo it either.
    rc = broker_batch_begin(self);
    if (!rc)
        rc = broker_dirchange_record(self->store, fresh);
    if (rc)
        proto_log_error("event=directory_not_recorded error=%s", proto_errname(rc));
    s_dir_audit_t audit = { self, proto_directory_serial(fresh) };
    size_t changed = broker_dirchange_each(old, fresh, s_dir_changed, &audit);
    char detail[256];
    snprintf(detail, sizeof detail, "%s: serial %" PRIu64 " -> %" PRIu64 ", %zu agencies changed",
             cause, proto_directory_serial(old), audit.serial, changed);
    broker_batch_audit(self, BROKER_AUDIT_ADMIN, "", NULL, detail, NULL);
    proto_directory_destroy(&old);
    proto_log_info("event=directory_reloaded agencies=%zu serial=%" PRIu64 " changed=%zu "
                   "cause=\"%s\"",
                   proto_directory_count(self->directory), proto_directory_serial(self->directory),
                   changed, cause);
    int64_t now = (int64_t) (broker_now() / 1000);
    for (size_t i = 0; i < proto_directory_count(self->directory); i++) {
        const proto_directory_entry_t *e = proto_directory_entry(self->directory, i);
        if (e->state == PROTO_DIRECTORY_REVOKED)
            broker_expiry_return(self, e->code);
    }
    for (size_t i = 0; i < broker_peers_count(self->peers); i++) {
        broker_peer_t *p = broker_peers_at(self->peers, i);
        if (p->link) { // admitted by its broker entry
            broker_link_recheck(self, p);
            continue;
        }
        const proto_directory_entry_t *e = proto_directory_find(self->directory, p->agency);
        rc = e ? proto_directory_entry_usable(e, now) : PROTO_ERR_UNKNOWN_AGENCY;
        if (rc) {
            broker_session_error(self, p, rc, "this agency may no longer use the broker", NULL,
                                 true);
            broker_batch_audit(self, BROKER_AUDIT_DISCONNECTED, p->agency, NULL, proto_errname(rc),
                               NULL);
        } else if (memcmp(e->sign_pk, p->sign_pk, sizeof p->sign_pk) != 0) {
            broker_session_error(self, p, PROTO_ERR_NOT_AUTHENTICATED,
                                 "this agency's key changed: connect again with the new key", NULL,
                                 true);
            broker_batch_audit(self, BROKER_AUDIT_DISCONNECTED, p->agency, NULL, "key changed",
                               NULL);
        }
    }
    return PROTO_OK;
}

//  The worker signed the directory: every session in READY holds the
//  snapshot before it, and gets the delta or the whole. Under the same
//  serial a session could not tell them apart: it gets the whole.
void broker_directory_built(broker_server_t *self)
{
    uint64_t before = 0;
    proto_err_t rc = broker_dirpush_done(self->dirpush, &before);
    if (rc == PROTO_ERR_BUSY)
        return;
    if (rc) {
        proto_log_error("event=directory_sign_failed error=%s note=\"agents keep the snapshot "
                        "before; the next change signs again\"",
                        proto_errname(rc));
        return;
    }
    broker_directory_signed(self);
    uint64_t held = before == broker_dirpush_serial(self->dirpush) ? 0 : before;
    for (size_t i = 0; i < broker_peers_count(self->peers); i++) {
        broker_peer_t *p = broker_peers_at(self->peers, i);
        if (p->dead || p->state != BROKER_PEER_READY)
            continue;
        if (p->link) { // a broker that takes this one's directory, or its agencies (dirlink.c)
            broker_dirlink_push(self, p, p->dir_held);
            broker_dirlink_push_own(self, p);
        } else
            broker_session_directory(self, p, held);
    }
}
