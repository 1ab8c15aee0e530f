/*  agent/directory.c - the last agency directory the broker signed.

    Owns the snapshot (agent_t.directory) and its copy in the store: loaded
    at start-up, replaced by a DIRECTORY that carries the pinned broker's
    signature and is not older than the one held, or rebuilt from a
    DIRECTORY_DELTA that applies to exactly the snapshot held. Lookups by
    agency code are a binary search (the broker sorts the entries).

    Does not: ask for the directory (session.c puts dir_serial and
    dir_deltas in HELLO), nor decide what an agency's state means for a
    document (outbox.c, inbox.c and the API do).
*/
#include "directory.h"

#include <inttypes.h>
#include <string.h>

#include "agent_internal.h"
#include "proto/dirdelta.h"
#include "proto/log.h"
#include "proto/sign.h"
#include "session.h"

const proto_dir_entry_t *agent_dir_find(const agent_t *self, const char *code)
{
    if (!self->directory || !code)
        return NULL;
    const proto_directory_msg_t *d = &self->directory->u.directory;
    size_t lo = 0, hi = d->nentries;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(d->entries[mid].code, code);
        if (cmp == 0)
            return &d->entries[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

//  The last directory snapshot the broker signed, so deliveries can be
//  checked even before the broker is reachable again.
void agent_dir_load(agent_t *self)
{
    const void *dir_body;
    size_t dir_len;
    if (proto_store_read_begin(self->kv) == PROTO_OK) {
        if (agent_store_directory_get(self->kv, &dir_body, &dir_len) == PROTO_OK) {
            proto_errinfo_t info;
            if (proto_msg_decode(PROTO_KIND_DIRECTORY, dir_body, dir_len, &self->directory,
                                 &info) != PROTO_OK)
                self->directory = NULL;
        }
        proto_store_read_end(self->kv);
    }
}

proto_err_t agent_dir_usable(const agent_t *self, const char *code, const uint8_t **key)
{
    const proto_dir_entry_t *e = agent_dir_find(self, code);
    if (!e)
        return PROTO_ERR_UNKNOWN_AGENCY;
    if (key)
        *key = e->key;
    return e->state == PROTO_AGENCY_REVOKED     ? PROTO_ERR_AGENCY_REVOKED
           : e->state == PROTO_AGENCY_SUSPENDED ? PROTO_ERR_AGENCY_SUSPENDED
                                                : PROTO_OK;
}

proto_err_t agent_dir_verify(const agent_t *self, const char *code, uint64_t time_ms,
                             proto_keywin_check_fn check, const void *arg)
{
    const proto_dir_entry_t *e = agent_dir_find(self, code);
    if (!e)
        return PROTO_ERR_UNKNOWN_AGENCY;
    return proto_keywin_verify(e->key, e->retired, e->nretired, time_ms / 1000, check, arg);
}

proto_err_t agent_dir_broker_verify(const agent_t *self, const char *signer, uint64_t time_ms,
                                    proto_keywin_check_fn check, const void *arg)
{
    if (!signer || strcmp(signer, self->broker.name) != 0)
        return PROTO_ERR_BAD_SIGNATURE;
    //  The retired keys come only from a snapshot the pinned key signed,
    //  so the set the agent trusts grows only through the broker it trusts.
    const proto_directory_msg_t *d = self->directory ? &self->directory->u.directory : NULL;
    return proto_keywin_verify(self->broker.sign_pk, d ? d->broker_retired : NULL,
                               d ? d->nbroker_retired : 0, time_ms / 1000, check, arg);
}

void agent_dir_on_directory(agent_t *self, const uint8_t *body, size_t len, proto_msg_t **msg_p)
{
    proto_msg_t *msg = *msg_p;
    proto_directory_msg_t *d = &msg->u.directory;
    if (strcmp(d->broker, self->broker.name) != 0 ||
        proto_directory_verify(d, self->broker.sign_pk, d->sig) != PROTO_OK) {
        proto_log_warning("event=directory_refused reason=\"not signed by the pinned broker\"");
        return;
    }
    if (self->directory && self->directory->u.directory.serial > d->serial) {
        proto_log_warning("event=directory_refused reason=older serial=%" PRIu64, d->serial);
        return;
    }
    if (proto_store_begin(self->kv) != PROTO_OK ||
        agent_store_directory_put(self->kv, body, len) != PROTO_OK)
        return;
    proto_msg_destroy(&self->directory);
    self->directory = msg;
    self->dir_whole = false;
    *msg_p = NULL;
    proto_log_info("event=directory serial=%" PRIu64 " agencies=%u", d->serial, d->nentries);
}

//  A delta applies to exactly the snapshot held, and what it makes must
//  carry the broker's signature of the whole; it is then kept like a
//  DIRECTORY sent whole. Anything else: reconnect and ask for the whole
//  (HELLO without dir_deltas), never a directory the broker did not sign.
void agent_dir_on_delta(agent_t *self, const proto_msg_t *msg)
{
    const proto_dir_delta_t *delta = &msg->u.delta;
    proto_buf_t body;
    proto_buf_init(&body);
    proto_msg_t *whole = NULL;
    proto_err_t rc = self->directory ? proto_dir_delta_apply(&self->directory->u.directory, delta,
                                                             self->broker.sign_pk, &body)
                                     : PROTO_ERR_DIRECTORY_BASE;
    if (!rc)
        rc = proto_msg_decode(PROTO_KIND_DIRECTORY, body.data, body.len, &whole, NULL);
    if (!rc) {
        proto_log_info("event=directory_delta base=%" PRIu64 " serial=%" PRIu64
                       " changed=%u removed=%u",
                       delta->base, delta->serial, delta->nentries, delta->nremoved);
        agent_dir_on_directory(self, body.data, body.len, &whole);
    } else {
        proto_log_warning("event=directory_delta_refused base=%" PRIu64 " serial=%" PRIu64
                          " held=%" PRIu64 " error=%s",
                          delta->base, delta->serial,
                          self->directory ? self->directory->u.directory.serial : 0,
                          proto_errname(rc));
        self->dir_whole = true;
        agent_session_reset(self,
                            "a directory delta did not apply: asking for the whole directory");
    }
    proto_msg_destroy(&whole);
    proto_buf_free(&body);
}
