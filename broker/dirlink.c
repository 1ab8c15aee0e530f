/*  broker/dirlink.c - the directory between linked brokers. See dirlink.h.

    The sending side builds its form between brokers on the loop, once per
    serial: a national directory of tens of thousands of agencies costs
    tens of ms to sign, once per change, whatever the number of links.
    The taking side decodes, checks and merges on the loop too, once per
    change of the other broker's directory.
*/
#include "dirlink.h"

#include <inttypes.h>
#include <stdarg.h>
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
#include "dirhold.h"
#include "link.h"
#include "session.h"

#define S_HELD_FILE   "upstream.dir"
#define S_FILE_SERIAL "dir-file-serial" // the file's serial in the directory in force
#define S_UP_SERIAL   "dir-up-serial"   // the other broker's serial in it
#define S_EFF_SERIAL  "dir-serial"      // the directory in force's (dirchange.c's key)

//  One form between brokers as sent, built once per serial.
typedef struct {
    proto_msg_t *sent;   // decoded, owns its strings; NULL before the first
    proto_buf_t full;    // its DIRECTORY body
    proto_buf_t delta;   // DIRECTORY_DELTA from the one before; empty if none
    uint64_t delta_base; // serial the delta applies to, 0 = none
} s_sent_t;

static void s_sent_free(s_sent_t *c)
{
    proto_msg_destroy(&c->sent);
    proto_buf_free(&c->full);
    proto_buf_free(&c->delta);
}

struct broker_dirlink {
    broker_server_t *server;
    //  Sending side: this broker's directory in the form between brokers,
    //  and the part of it a broker that takes its own agencies holds.
    s_sent_t all;
    s_sent_t own;
    //  Taking side.
    const char *from;        // network.directory_from; "" = none
    proto_msg_t *held;       // the other broker's directory, checked; NULL if none
    proto_directory_t *file; // the directory file as last applied, parsed once
};

broker_dirlink_t *broker_dirlink_new(broker_server_t *server)
{
    broker_dirlink_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->server = server;
    self->from = server->config->directory_from ? server->config->directory_from : "";
    proto_buf_init(&self->all.full);
    proto_buf_init(&self->all.delta);
    proto_buf_init(&self->own.full);
    proto_buf_init(&self->own.delta);
    return self;
}

void broker_dirlink_destroy(broker_dirlink_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_dirlink_t *self = *self_p;
    s_sent_free(&self->all);
    s_sent_free(&self->own);
    proto_msg_destroy(&self->held);
    proto_directory_destroy(&self->file);
    free(self);
    *self_p = NULL;
}

bool broker_dirlink_taking(const broker_dirlink_t *self)
{
    return self && self->from[0];
}

const char *broker_dirlink_from(const broker_dirlink_t *self)
{
    return self ? self->from : "";
}

uint64_t broker_dirlink_held(const broker_dirlink_t *self)
{
    return self && self->held ? self->held->u.directory.serial : 0;
}

// ---------------------------------------------------------------------------
//  Sending side

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

//  What the form between brokers needs, pointing into dir (borrowed) and
//  into the arrays allocated here.
typedef struct {
    proto_dir_entry_t *entries;
    proto_dir_broker_t *brokers;
    const char **strings;    // every broker's codes and patterns
    proto_keywin_t *windows; // every retired key, the broker's own last
} s_form_t;

static void s_form_free(s_form_t *f)
{
    free(f->entries);
    free(f->brokers);
    free(f->strings);
    free(f->windows);
}

//  Does this broker answer for this entry of its directory (own: its
//  label)? Its own agencies, and those of a broker below it whose part it
//  holds (dirhold.h): the broker above knows them through this one.
static bool s_answers_for(const proto_directory_entry_t *e, const char *own,
                          const broker_dirhold_t *below)
{
    return !e->home[0] || strcmp(e->home, own) == 0 || broker_dirhold_held(below, e->home) > 0;
}

//  The form of dir; with own set (this broker's label), the agencies it
//  answers for alone (below: the parts it holds), with no homes and no
//  broker entries: what it tells a broker that takes them.
static proto_err_t s_form(const proto_directory_t *dir, const char *own,
                          const broker_dirhold_t *below, s_form_t *f, proto_directory_msg_t *d)
{
    size_t n = proto_directory_count(dir), nb = own ? 0 : proto_directory_broker_count(dir);
    size_t nstr = 0, nwin = 0, nown = 0;
    for (size_t i = 0; i < n; i++)
        nwin += proto_directory_entry(dir, i)->retired_count;
    for (size_t i = 0; i < nb; i++)
        nstr += proto_directory_broker(dir, i)->code_count +
                proto_directory_broker(dir, i)->pattern_count;
    const proto_keywin_t *mine = proto_directory_broker_retired(dir, &nown);
    memset(f, 0, sizeof *f);
    f->entries = calloc(n ? n : 1, sizeof *f->entries);
    f->brokers = calloc(nb ? nb : 1, sizeof *f->brokers);
    f->strings = calloc(nstr ? nstr : 1, sizeof *f->strings);
    f->windows = calloc(nwin + nown + 1, sizeof *f->windows);
    if (!f->entries || !f->brokers || !f->strings || !f->windows)
        return PROTO_ERR_NOMEM;
    size_t w = 0, s = 0, ne = 0;
    for (size_t i = 0; i < n; i++) {
        const proto_directory_entry_t *e = proto_directory_entry(dir, i);
        if (own && !s_answers_for(e, own, below))
            continue;
        proto_dir_entry_t *o = &f->entries[ne++];
        o->code = e->code;
        o->name = e->name;
        memcpy(o->key, e->sign_pk, PROTO_KEY_LEN);
        o->state = (uint8_t) e->state;
        o->valid_from = (uint64_t) e->valid_from;
        o->valid_until = (uint64_t) e->valid_until;
        o->home = e->home[0] && !own ? e->home : NULL;
        if (e->retired_count) {
            memcpy(&f->windows[w], e->retired, e->retired_count * sizeof *e->retired);
            o->retired = &f->windows[w];
            o->nretired = (uint32_t) e->retired_count;
            w += e->retired_count;
        }
    }
    for (size_t i = 0; i < nb; i++) {
        const proto_directory_broker_t *b = proto_directory_broker(dir, i);
        proto_dir_broker_t *o = &f->brokers[i];
        o->label = b->label;
        o->name = b->name;
        memcpy(o->key, b->sign_pk, PROTO_KEY_LEN);
        o->state = (uint8_t) b->state;
        o->codes = &f->strings[s];
        o->ncodes = (uint32_t) b->code_count;
        for (size_t k = 0; k < b->code_count; k++)
            f->strings[s++] = b->codes[k];
        qsort(o->codes, o->ncodes, sizeof *o->codes, s_cmp_str);
        o->patterns = &f->strings[s];
        o->npatterns = (uint32_t) b->pattern_count;
        for (size_t k = 0; k < b->pattern_count; k++)
            f->strings[s++] = b->patterns[k];
    }
    if (nown) {
        memcpy(&f->windows[w], mine, nown * sizeof *mine);
        d->broker_retired = &f->windows[w];
        d->nbroker_retired = (uint32_t) nown;
    }
    d->entries = f->entries;
    d->nentries = (uint32_t) ne;
    d->brokers = f->brokers;
    d->nbrokers = (uint32_t) nb;
    d->federated = true;
    d->serial = proto_directory_serial(dir);
    return PROTO_OK;
}

//  The form between brokers of the directory in force (with own: of its
//  own agencies), and the delta from the one before, into c unless
//  already built for this serial.
static proto_err_t s_build(broker_dirlink_t *self, s_sent_t *c, const char *own)
{
    broker_server_t *server = self->server;
    uint64_t serial = proto_directory_serial(server->directory);
    if (c->sent && c->sent->u.directory.serial == serial)
        return PROTO_OK;
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DIRECTORY;
    proto_directory_msg_t *d = &msg.u.directory;
    s_form_t form;
    proto_err_t rc = s_form(server->directory, own, server->dirhold, &form, d);
    d->time = broker_now();
    d->broker = proto_identity_public(server->identity)->name;
    proto_buf_t full;
    proto_buf_init(&full);
    proto_msg_t *fresh = NULL;
    if (!rc)
        rc = proto_directory_sign(d, server->identity, d->sig);
    if (!rc)
        rc = proto_msg_encode(&msg, &full, NULL);
    s_form_free(&form);
    //  Kept decoded from its own bytes, so the next delta can be built
    //  from it after the directory it came from is gone.
    if (!rc)
        rc = proto_msg_decode(PROTO_KIND_DIRECTORY, full.data, full.len, &fresh, NULL);
    proto_buf_reset(&c->delta);
    c->delta_base = 0;
    if (!rc && c->sent && c->sent->u.directory.serial < serial) {
        proto_msg_t dm;
        memset(&dm, 0, sizeof dm);
        dm.kind = PROTO_KIND_DIRECTORY_DELTA;
        if (proto_dir_delta_build(&c->sent->u.directory, &fresh->u.directory, &dm.u.delta) ==
                PROTO_OK &&
            proto_msg_encode(&dm, &c->delta, NULL) == PROTO_OK)
            c->delta_base = c->sent->u.directory.serial;
        proto_dir_delta_release(&dm.u.delta);
    }
    if (rc) {
        proto_buf_free(&full);
        proto_msg_destroy(&fresh);
        return rc;
    }
    proto_msg_destroy(&c->sent);
    c->sent = fresh;
    proto_buf_free(&c->full);
    c->full = full;
    return PROTO_OK;
}

//  Send p what it lacks of c (built with own): nothing, the delta from
//  held, or the whole; *held_p is what it then holds.
static void s_push(broker_server_t *server, broker_peer_t *p, s_sent_t *c, const char *own,
                   uint64_t held, uint64_t *held_p)
{
    proto_err_t rc = s_build(server->dirlink, c, own);
    if (rc) {
        proto_log_error("event=dirlink_sign_failed broker=%s error=%s", p->link_label,
                        proto_errname(rc));
        return;
    }
    uint64_t serial = c->sent->u.directory.serial;
    if (held == serial)
        return;
    bool delta = held && held == c->delta_base && c->delta.len;
    const proto_buf_t *body = delta ? &c->delta : &c->full;
    //  What it holds from now on, as far as this broker knows: a send that
    //  is lost shows as a delta that does not fit, and the taker starts the
    //  link over.
    if (broker_session_send(server, p, delta ? PROTO_KIND_DIRECTORY_DELTA : PROTO_KIND_DIRECTORY,
                            body->data, body->len, NULL, NULL, 0))
        *held_p = serial;
    proto_log_info("event=dirlink_sent broker=%s kind=%s held=%" PRIu64 " serial=%" PRIu64
                   " bytes=%zu part=%s",
                   p->link_label, delta ? "delta" : "whole", held, serial, body->len,
                   own ? "own" : "all");
}

void broker_dirlink_push(broker_server_t *server, broker_peer_t *p, uint64_t held)
{
    broker_dirlink_t *self = server->dirlink;
    if (!p->link || !p->dir_deltas || !self)
        return;
    s_push(server, p, &self->all, NULL, held, &p->dir_held);
}

void broker_dirlink_push_own(broker_server_t *server, broker_peer_t *p)
{
    broker_dirlink_t *self = server->dirlink;
    if (!p->link || !p->own_taken || !self)
        return;
    s_push(server, p, &self->own, proto_identity_public(server->identity)->name, p->own_held,
           &p->own_held);
}

// ---------------------------------------------------------------------------
//  Taking side: the merge

static void s_audit(broker_server_t *server, const char *code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void s_audit(broker_server_t *server, const char *code, const char *format, ...)
{
    char detail[300];
    va_list args;
    va_start(args, format);
    vsnprintf(detail, sizeof detail, format, args);
    va_end(args);
    broker_batch_audit(server, BROKER_AUDIT_ADMIN, code, NULL, detail, NULL);
    proto_log_warning("event=dirlink_refused agency=%s detail=\"%s\"", code[0] ? code : "-",
                      detail);
}

const proto_dir_entry_t *broker_dirlink_find(const proto_msg_t *msg, const char *code)
{
    const proto_directory_msg_t *d = msg ? &msg->u.directory : NULL;
    size_t lo = 0, hi = d ? d->nentries : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(code, d->entries[mid].code);
        if (c == 0)
            return &d->entries[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

void broker_dirlink_entry(proto_directory_entry_t *e, const proto_dir_entry_t *u, const char *home)
{
    snprintf(e->code, sizeof e->code, "%s", u->code);
    e->name = u->name;
    memcpy(e->sign_pk, u->key, PROTO_KEY_LEN);
    e->state = (proto_directory_state_t) u->state;
    e->valid_from = (int64_t) u->valid_from;
    e->valid_until = (int64_t) u->valid_until;
    e->retired = u->retired;
    e->retired_count = u->nretired;
    snprintf(e->home, sizeof e->home, "%s", home);
}

bool broker_dirlink_changed(const proto_msg_t *prev, const proto_dir_entry_t *u)
{
    const proto_dir_entry_t *was = broker_dirlink_find(prev, u->code);
    return !was || was->state != u->state || memcmp(was->key, u->key, PROTO_KEY_LEN) != 0 ||
           strcmp(was->name, u->name) != 0 || was->valid_from != u->valid_from ||
           was->valid_until != u->valid_until ||
           (was->home ? !u->home || strcmp(was->home, u->home) != 0 : u->home != NULL);
}

static bool s_same(const proto_directory_entry_t *local, const proto_dir_entry_t *u)
{
    return local->state == u->state && memcmp(local->sign_pk, u->key, PROTO_KEY_LEN) == 0 &&
           strcmp(local->name, u->name) == 0 && (uint64_t) local->valid_from == u->valid_from &&
           (uint64_t) local->valid_until == u->valid_until;
}

static bool s_same_wire(const proto_dir_entry_t *a, const proto_dir_entry_t *u)
{
    return a->state == u->state && memcmp(a->key, u->key, PROTO_KEY_LEN) == 0 &&
           strcmp(a->name, u->name) == 0 && a->valid_from == u->valid_from &&
           a->valid_until == u->valid_until;
}

//  Is this agency this broker's own, by the other broker's word or its file's?
static bool s_ours(const char *self_label, const char *home, const proto_directory_entry_t *local)
{
    return strcmp(home, self_label) == 0 ||
           (local && (!local->home[0] || strcmp(local->home, self_label) == 0));
}

//  Merge the held directory into file (the directory file, changed in
//  place). inforce (may be NULL at the start) keeps its revoked agencies.
//  With audit, each agency not taken is audited, an agency homed here only
//  when the other broker changed it since prev (the directory it sent
//  before, NULL: none), so one refusal is not audited again on every
//  later change.
typedef struct {
    broker_server_t *server;
    const proto_directory_msg_t *d;
    bool audit;
} s_refused_t;

static void s_not_taken(void *arg, const char *code, proto_err_t rc)
{
    const s_refused_t *r = arg;
    if (r->audit)
        s_audit(r->server, code, "directory from %s serial %" PRIu64 ": %s not taken: %s",
                r->d->broker, r->d->serial, code, proto_errname(rc));
}

static void s_merge(broker_dirlink_t *self, proto_directory_t *file,
                    const proto_directory_t *inforce, const proto_msg_t *prev, bool audit)
{
    broker_server_t *server = self->server;
    const char *own = proto_identity_public(server->identity)->name;
    const proto_directory_msg_t *d = self->held ? &self->held->u.directory : NULL;
    size_t n = 0, room = (d ? d->nentries : 0) + proto_directory_count(inforce);
    proto_directory_entry_t *take = calloc(room ? room : 1, sizeof *take);
    if (!take) {
        proto_log_error("event=dirlink_merge_failed error=ERR_NOMEM");
        return;
    }
    for (uint32_t i = 0; d && i < d->nentries; i++) {
        const proto_dir_entry_t *u = &d->entries[i];
        const char *home = u->home ? u->home : d->broker;
        const proto_directory_entry_t *local = proto_directory_find(file, u->code);
        if (s_ours(own, home, local)) {
            //  An agency of a broker below, as this one sent it up, is not
            //  a change of the other broker's.
            const proto_dir_entry_t *below = broker_dirhold_find(server->dirhold, u->code);
            bool differs = below ? !s_same_wire(below, u) : !local || !s_same(local, u);
            if (audit && differs && broker_dirlink_changed(prev, u))
                s_audit(server, u->code,
                        "directory from %s serial %" PRIu64 ": %s is homed here; its change "
                        "there is not applied (a province keeps authority over its agencies)",
                        d->broker, d->serial, u->code);
            continue;
        }
        const proto_directory_entry_t *was = proto_directory_find(inforce, u->code);
        if (was && was->state == PROTO_DIRECTORY_REVOKED && u->state != PROTO_DIRECTORY_REVOKED) {
            if (audit)
                s_audit(server, u->code,
                        "directory from %s serial %" PRIu64 ": %s is revoked here and would be "
                        "%s: revocation is final",
                        d->broker, d->serial, u->code,
                        proto_directory_state_name((proto_directory_state_t) u->state));
            continue;
        }
        //  Routed to its home when this broker knows that broker, else
        //  through the broker it took the directory from.
        const char *via = proto_directory_broker_find(file, home) ? home : d->broker;
        broker_dirlink_entry(&take[n++], u, via);
    }
    //  What this broker revoked stays, even if neither source lists it now.
    for (size_t i = 0; i < proto_directory_count(inforce); i++) {
        const proto_directory_entry_t *was = proto_directory_entry(inforce, i);
        const proto_directory_entry_t *now = proto_directory_find(file, was->code);
        const proto_dir_entry_t *up = broker_dirlink_find(self->held, was->code);
        bool taken = up && up->state == PROTO_DIRECTORY_REVOKED; // and in take, as it is
        if (was->state == PROTO_DIRECTORY_REVOKED && !taken &&
            (!now || now->state != PROTO_DIRECTORY_REVOKED))
            take[n++] = *was;
    }
    //  In one go, with the CURVE keys of the directory in force: a national
    //  directory of 64,000 agencies merges in about 0.1 s, not 2.7.
    s_refused_t r = { server, d, audit && d };
    if (proto_directory_put_many(file, take, n, inforce, s_not_taken, &r) != PROTO_OK)
        proto_log_error("event=dirlink_merge_failed agencies=%zu", n);
    free(take);
}

//  A copy of the file as last applied, to merge into: copied rather than
//  parsed again, which would derive every CURVE key once more.
static proto_directory_t *s_file_dir(broker_dirlink_t *self)
{
    proto_directory_t *dir = NULL;
    if (!self->file || proto_directory_copy(self->file, &dir) != PROTO_OK)
        return NULL;
    return dir;
}

//  Number the merged directory: the serial in force when nothing an agent
//  sees changed and the file did not either, else past both.
static void s_number(proto_directory_t *eff, const proto_directory_t *inforce, uint64_t file_serial,
                     bool file_changed)
{
    uint64_t was = proto_directory_serial(inforce);
    bool same = !file_changed && broker_dirchange_each(inforce, eff, NULL, NULL) == 0;
    uint64_t serial = same ? was : was + 1 > file_serial ? was + 1 : file_serial;
    if (proto_directory_set_serial(eff, serial) != PROTO_OK)
        proto_log_error("event=dirlink_serial_refused serial=%" PRIu64, serial);
}

proto_directory_t *broker_dirlink_base(broker_server_t *server)
{
    broker_dirlink_t *self = server->dirlink;
    proto_directory_t *eff = s_file_dir(self);
    if (eff)
        s_merge(self, eff, server->directory, NULL, false);
    return eff;
}

//  Check eff against the directory in force and the store, and apply it.
static proto_err_t s_apply(broker_server_t *server, proto_directory_t **eff, const char *cause,
                           char *errbuf, size_t errlen)
{
    bool unchanged = false;
    char err[256] = "";
    proto_err_t rc = broker_dirchange_check(server->directory, *eff, &unchanged, err, sizeof err);
    if (!rc && !unchanged)
        rc = broker_dirchange_check_store(server->store, *eff, err, sizeof err);
    if (rc || unchanged) {
        if (rc)
            s_audit(server, "", "%s refused: %s", cause, err);
        proto_directory_destroy(eff);
        snprintf(errbuf, errlen, "%s", err);
        return rc;
    }
    return broker_directory_apply(server, eff, cause, errbuf, errlen);
}

// ---------------------------------------------------------------------------
//  Taking side: the store and the start

static uint64_t s_file_serial(broker_dirlink_t *self)
{
    return proto_directory_serial(self->file);
}

proto_err_t broker_dirlink_record(broker_server_t *server)
{
    broker_dirlink_t *self = server->dirlink;
    if (!broker_dirlink_taking(self))
        return PROTO_OK;
    proto_err_t rc = broker_store_counter_raise(server->store, S_FILE_SERIAL, s_file_serial(self));
    if (!rc)
        rc = broker_store_counter_raise(server->store, S_UP_SERIAL, broker_dirlink_held(self));
    return rc;
}

//  The key of the broker the directory comes from, in dir; NULL if none.
static const uint8_t *s_from_key(const broker_dirlink_t *self, const proto_directory_t *dir)
{
    const proto_directory_broker_t *b = proto_directory_broker_find(dir, self->from);
    return b ? b->sign_pk : NULL;
}

proto_err_t broker_dirlink_check(const proto_directory_msg_t *d, const char *label,
                                 const uint8_t *key, uint64_t floor, char *why, size_t len)
{
    if (!d->federated) {
        snprintf(why, len, "not the form between brokers (no brokers)");
        return PROTO_ERR_VALUE;
    }
    if (strcmp(d->broker, label) != 0) {
        snprintf(why, len, "signed by %s, not %s", d->broker, label);
        return PROTO_ERR_SENDER_MISMATCH;
    }
    if (!key || proto_directory_verify(d, key, d->sig) != PROTO_OK) {
        snprintf(why, len, "the signature does not verify with the key of broker %s", label);
        return PROTO_ERR_BAD_SIGNATURE;
    }
    if (d->serial <= floor) {
        snprintf(why, len,
                 "serial %" PRIu64 " is not greater than %" PRIu64 " held: a replay or a rollback",
                 d->serial, floor);
        return PROTO_ERR_BAD_STATE;
    }
    return PROTO_OK;
}

static proto_err_t s_check(broker_dirlink_t *self, const proto_directory_msg_t *d,
                           const uint8_t *key, uint64_t floor, char *why, size_t len)
{
    return broker_dirlink_check(d, self->from, key, floor, why, len);
}

proto_err_t broker_dirlink_open(broker_server_t *server, char *errbuf, size_t errlen)
{
    broker_dirlink_t *self = server->dirlink;
    const broker_config_t *config = server->config;
    char err[256] = "", path[4096];
    proto_err_t rc = proto_directory_load_known(config->directory, server->directory, &self->file,
                                                err, sizeof err);
    proto_directory_t *eff = rc ? NULL : s_file_dir(self);
    if (!eff) {
        snprintf(errbuf, errlen, "cannot load the agency directory %s: %s", config->directory,
                 rc ? err : "out of memory");
        return rc ? rc : PROTO_ERR_NOMEM;
    }
    uint64_t file_serial = proto_directory_serial(eff);
    uint64_t recorded_file = broker_store_counter_peek(server->store, S_FILE_SERIAL);
    uint64_t recorded_up = broker_store_counter_peek(server->store, S_UP_SERIAL);
    //  The merge numbers the result above what was applied, so the file's
    //  own serial is held to the rule here (broker/dirchange.h).
    if (file_serial < recorded_file) {
        snprintf(errbuf, errlen,
                 "cannot apply the agency directory %s: serial %" PRIu64
                 " is older than serial %" PRIu64 " of the file this broker applied before",
                 config->directory, file_serial, recorded_file);
        proto_directory_destroy(&eff);
        return PROTO_ERR_BAD_STATE;
    }
    snprintf(path, sizeof path, "%s/%s", config->data_dir, S_HELD_FILE);
    char *data = NULL;
    size_t len = 0;
    proto_msg_t *held = NULL;
    if (proto_file_read(path, PROTO_DIRECTORY_FILE_MAX, false, &data, &len, NULL, 0) == PROTO_OK) {
        rc = proto_msg_decode(PROTO_KIND_DIRECTORY, data, len, &held, NULL);
        if (!rc)
            rc = s_check(self, &held->u.directory, s_from_key(self, eff),
                         recorded_up ? recorded_up - 1 : 0, err, sizeof err);
        proto_file_free(&data, len, false);
        if (rc) {
            snprintf(errbuf, errlen, "%s: %s: %s", path, proto_errname(rc), err);
            proto_msg_destroy(&held);
            proto_directory_destroy(&eff);
            return rc;
        }
    }
    self->held = held;
    s_merge(self, eff, NULL, NULL, false);
    //  The same sources give the same directory: the serial recorded. A
    //  file or a held directory changed while the broker was down: past it.
    uint64_t applied = broker_store_counter_peek(server->store, S_EFF_SERIAL);
    bool same = file_serial == recorded_file && broker_dirlink_held(self) == recorded_up &&
                applied >= file_serial;
    uint64_t serial = same ? applied : applied + 1 > file_serial ? applied + 1 : file_serial;
    if (proto_directory_set_serial(eff, serial) != PROTO_OK) {
        snprintf(errbuf, errlen, "cannot number the agency directory %" PRIu64, serial);
        proto_directory_destroy(&eff);
        return PROTO_ERR_LIMIT;
    }
    proto_directory_destroy(&server->directory);
    server->directory = eff;
    broker_dirpush_destroy(&server->dirpush);
    server->dirpush = broker_dirpush_new(server->identity);
    if (!server->dirpush ||
        broker_dirpush_update(server->dirpush, server->directory, broker_now()) != PROTO_OK) {
        snprintf(errbuf, errlen, "cannot sign the directory snapshot");
        return PROTO_ERR_NOMEM;
    }
    proto_log_info("event=dirlink_opened from=%s held=%" PRIu64 " file_serial=%" PRIu64
                   " serial=%" PRIu64 " agencies=%zu",
                   self->from, broker_dirlink_held(self), file_serial, proto_directory_serial(eff),
                   proto_directory_count(eff));
    return PROTO_OK;
}

proto_err_t broker_dirlink_reload(broker_server_t *server, char *errbuf, size_t errlen)
{
    broker_dirlink_t *self = server->dirlink;
    const broker_config_t *config = server->config;
    char err[256] = "";
    proto_directory_t *fresh = NULL, *kept = NULL;
    proto_err_t rc =
        proto_directory_load_known(config->directory, server->directory, &fresh, err, sizeof err);
    //  The file alone keeps the rules of a reload: its serial grows, what
    //  it revoked stays revoked (broker/dirchange.h).
    bool unchanged = false;
    if (!rc)
        rc = broker_dirchange_check(self->file, fresh, &unchanged, err, sizeof err);
    if (!rc && !unchanged && proto_directory_copy(fresh, &kept) != PROTO_OK) {
        rc = PROTO_ERR_NOMEM;
        snprintf(err, sizeof err, "out of memory");
    }
    if (rc || unchanged) {
        if (rc) {
            proto_log_error("event=directory_reload_refused path=%s error=%s detail=\"%s\"",
                            config->directory, proto_errname(rc), err);
            s_audit(server, "", "directory reload refused: %s", err);
        }
        proto_directory_destroy(&fresh);
        snprintf(errbuf, errlen, "%s", err);
        return rc;
    }
    uint64_t file_serial = proto_directory_serial(fresh);
    s_merge(self, fresh, server->directory, self->held, true);
    broker_dirhold_merge(server, fresh);
    s_number(fresh, server->directory, file_serial, true);
    rc = s_apply(server, &fresh, "directory reload", errbuf, errlen);
    if (!rc) {
        proto_directory_destroy(&self->file);
        self->file = kept;
        kept = NULL;
        if (broker_batch_begin(server) != PROTO_OK || broker_dirlink_record(server) != PROTO_OK)
            proto_log_error("event=dirlink_not_recorded");
    }
    proto_directory_destroy(&kept);
    return rc;
}

// ---------------------------------------------------------------------------
//  Taking side: what the other broker sends

static void s_refuse(broker_server_t *server, broker_peer_t *p, proto_err_t code, const char *why)
{
    broker_session_error_audit(server, p, code, why, NULL, false, false);
    s_audit(server, "", "directory from %s refused: %s: %s", p->link_label, proto_errname(code),
            why);
}

//  The new directory of the other broker, checked: keep it (file, then
//  memory), merge, apply.
static void s_take(broker_server_t *server, proto_msg_t **msg_p, const void *body, size_t len,
                   int kind, size_t wire)
{
    uint64_t started = proto_clock_mono_ms(); // the loop is busy with this merge
    broker_dirlink_t *self = server->dirlink;
    char path[4096], err[256] = "";
    snprintf(path, sizeof path, "%s/%s", server->config->data_dir, S_HELD_FILE);
    proto_err_t rc = proto_file_write_atomic(path, body, len, 0600, true, err, sizeof err);
    if (rc) {
        proto_log_error("event=dirlink_not_kept path=%s error=%s detail=\"%s\"", path,
                        proto_errname(rc), err);
        proto_msg_destroy(msg_p);
        return;
    }
    proto_msg_t *prev = self->held;
    self->held = *msg_p;
    *msg_p = NULL;
    uint64_t serial = self->held->u.directory.serial;
    proto_directory_t *eff = s_file_dir(self);
    if (!eff) {
        proto_log_error("event=dirlink_merge_failed error=ERR_NOMEM");
        proto_msg_destroy(&prev);
        return;
    }
    uint64_t file_serial = proto_directory_serial(eff);
    s_merge(self, eff, server->directory, prev, true);
    broker_dirhold_merge(server, eff);
    proto_msg_destroy(&prev);
    s_number(eff, server->directory, file_serial, false);
    uint64_t was = proto_directory_serial(server->directory);
    char cause[PROTO_LABEL_MAX + 64];
    snprintf(cause, sizeof cause, "directory from %s serial %" PRIu64, self->from, serial);
    rc = s_apply(server, &eff, cause, err, sizeof err);
    if (broker_batch_begin(server) != PROTO_OK || broker_dirlink_record(server) != PROTO_OK)
        proto_log_error("event=dirlink_not_recorded");
    proto_log_info("event=dirlink_taken from=%s kind=%s serial=%" PRIu64 " bytes=%zu "
                   "in_force=%" PRIu64 " was=%" PRIu64 " result=%s ms=%" PRIu64,
                   self->from, kind == PROTO_KIND_DIRECTORY_DELTA ? "delta" : "whole", serial, wire,
                   proto_directory_serial(server->directory), was, proto_errname(rc),
                   proto_clock_mono_ms() - started);
}

void broker_dirlink_message(broker_server_t *server, broker_peer_t *p, int kind, zmq_msg_t *body)
{
    broker_dirlink_t *self = server->dirlink;
    if (!broker_dirlink_taking(self) || strcmp(p->link_label, self->from) != 0) {
        s_refuse(server, p, PROTO_ERR_UNEXPECTED,
                 "this broker does not take its directory from yours (network.directory_from)");
        return;
    }
    const void *data = zmq_msg_data(body);
    size_t len = zmq_msg_size(body);
    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    proto_err_t rc = proto_msg_decode(kind, data, len, &msg, &info);
    if (rc) {
        s_refuse(server, p, rc, info.message);
        return;
    }
    char why[200] = "";
    const uint8_t *key = s_from_key(self, server->directory);
    uint64_t held = broker_dirlink_held(self);
    if (kind == PROTO_KIND_DIRECTORY) {
        rc = s_check(self, &msg->u.directory, key, held, why, sizeof why);
        if (!rc)
            s_take(server, &msg, data, len, kind, len);
        else
            s_refuse(server, p, rc, why);
        proto_msg_destroy(&msg);
        return;
    }
    const proto_dir_delta_t *delta = &msg->u.delta;
    proto_buf_t whole;
    proto_buf_init(&whole);
    proto_msg_t *next = NULL;
    if (!self->held || delta->base != held) {
        rc = PROTO_ERR_DIRECTORY_BASE;
        snprintf(why, sizeof why, "delta from serial %" PRIu64 ", %" PRIu64 " held", delta->base,
                 held);
    } else if (!key) {
        rc = PROTO_ERR_BAD_SIGNATURE;
        snprintf(why, sizeof why, "no broker entry %s to check with", self->from);
    } else if ((rc = proto_dir_delta_apply(&self->held->u.directory, delta, key, &whole))) {
        snprintf(why, sizeof why, "the delta does not make a directory signed by %s", self->from);
    } else if ((rc = proto_msg_decode(PROTO_KIND_DIRECTORY, whole.data, whole.len, &next, NULL)) ||
               (rc = s_check(self, &next->u.directory, key, held, why, sizeof why))) {
        if (!why[0])
            snprintf(why, sizeof why, "the directory it makes does not decode");
    }
    if (!rc) {
        s_take(server, &next, whole.data, whole.len, kind, len);
    } else {
        s_refuse(server, p, rc, why);
        //  Out of step: a new session says what is held and gets it whole.
        if (rc == PROTO_ERR_DIRECTORY_BASE)
            broker_links_restart(server->links, self->from, "directory delta out of step");
    }
    proto_msg_destroy(&next);
    proto_buf_free(&whole);
    proto_msg_destroy(&msg);
}
