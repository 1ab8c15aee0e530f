/*  broker/linklog.c - the check on linked brokers' logs. See linklog.h.

    The first head verified from a broker is trusted, like the broker
    entry's key it is signed with: from then on every head of that broker
    must extend it. A head that does not verify with that key, or names
    another signer, is ignored and logged (anyone on the path could have
    made it), never alarmed on. One entry per broker label ever linked,
    found by a linear walk: a broker has a handful of links.
*/
#include "linklog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/log.h"
#include "proto/route.h"
#include "proto/tlog.h"
#include "proto/tlog_evidence.h"
#include "batch.h"
#include "server_internal.h"
#include "session.h"
#include "store_internal.h"

#define TAG_HEAD  'H'
#define TAG_ALARM 'A'

typedef struct {
    char label[PROTO_LABEL_MAX + 1];
    bool have;                        // a head is held
    proto_sth_t held;                 // it (signer points at signer)
    char signer[PROTO_LABEL_MAX + 1]; //
    uint64_t want;                    // the largest size seen named, above held.size
    uint64_t asked_want;              // want when the question now open was asked
    bool asking;                      // a LOG_PROVE is unanswered
    uint64_t asked_at;                // when (monotonic ms)
    bool alarm;                       // raised: nothing more is checked
} s_entry_t;

struct broker_linklog {
    broker_server_t *server; // borrowed
    s_entry_t *entries;
    size_t n, cap;
};

// ---------------------------------------------------------------------------
//  Entries and records

static s_entry_t *s_entry(broker_linklog_t *self, const char *label, bool make)
{
    for (size_t i = 0; i < self->n; i++)
        if (strcmp(self->entries[i].label, label) == 0)
            return &self->entries[i];
    if (!make)
        return NULL;
    if (self->n == self->cap) {
        size_t cap = self->cap ? 2 * self->cap : 8;
        s_entry_t *grown = realloc(self->entries, cap * sizeof *grown);
        if (!grown)
            return NULL;
        self->entries = grown;
        self->cap = cap;
    }
    s_entry_t *e = &self->entries[self->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->label, sizeof e->label, "%s", label);
    return e;
}

//  A record's key: its tag, then the label.
static size_t s_key(uint8_t key[PROTO_LABEL_MAX + 1], uint8_t tag, const char *label)
{
    size_t len = strlen(label);
    key[0] = tag;
    memcpy(key + 1, label, len);
    return len + 1;
}

static void s_set_held(s_entry_t *e, const proto_sth_t *sth)
{
    e->held = *sth;
    snprintf(e->signer, sizeof e->signer, "%s", sth->signer);
    e->held.signer = e->signer;
    e->have = true;
}

static bool s_load_one(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                       size_t vlen)
{
    broker_linklog_t *self = arg;
    char label[PROTO_LABEL_MAX + 1];
    if (klen < 2 || klen > PROTO_LABEL_MAX + 1)
        return true;
    memcpy(label, key + 1, klen - 1);
    label[klen - 1] = '\0';
    s_entry_t *e = s_entry(self, label, true);
    proto_msg_t *msg = NULL;
    if (!e) {
        return false;
    } else if (key[0] == TAG_ALARM) {
        e->alarm = true;
    } else if (key[0] == TAG_HEAD &&
               proto_msg_decode(PROTO_KIND_LOG_PROOF, value, vlen, &msg, NULL) == PROTO_OK) {
        s_set_held(e, &msg->u.log_proof.sth);
    } else {
        proto_log_error("event=link_log_record_damaged broker=%s", label);
    }
    proto_msg_destroy(&msg);
    return true;
}

broker_linklog_t *broker_linklog_new(broker_server_t *server)
{
    broker_linklog_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->server = server;
    broker_store_t *store = server->store;
    bool own = !broker_store_writing(store) && broker_store_read_begin(store) == PROTO_OK;
    broker_store_kv_scan(store, DB_LINKLOG, NULL, 0, s_load_one, self);
    if (own)
        broker_store_read_end(store);
    return self;
}

void broker_linklog_destroy(broker_linklog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->entries);
    free(*self_p);
    *self_p = NULL;
}

// ---------------------------------------------------------------------------
//  Holding, alarming

//  Hold sth for e from now on, in the open write transaction.
static void s_hold(broker_linklog_t *self, s_entry_t *e, const proto_sth_t *sth)
{
    broker_server_t *server = self->server;
    uint8_t key[PROTO_LABEL_MAX + 1];
    size_t klen = s_key(key, TAG_HEAD, e->label);
    proto_buf_t body;
    proto_buf_init(&body);
    proto_err_t rc = broker_batch_begin(server);
    if (!rc)
        rc = proto_tlog_head_body(sth, 0, NULL, 0, &body);
    if (!rc)
        rc = broker_store_kv_put(server->store, DB_LINKLOG, key, klen, body.data, body.len);
    proto_buf_free(&body);
    if (rc) {
        proto_log_error("event=link_log_hold_failed broker=%s size=%llu error=%s", e->label,
                        (unsigned long long) sth->size, proto_errname(rc));
        return;
    }
    proto_log_debug("event=link_log_head broker=%s size=%llu", e->label,
                    (unsigned long long) sth->size);
    s_set_held(e, sth);
}

//  Raise e's alarm: keep the evidence, log, audit, stop checking.
static void s_alarm(broker_linklog_t *self, s_entry_t *e, const char *reason,
                    const proto_sth_t *seen, uint64_t from, const uint8_t (*proof)[PROTO_HASH_LEN],
                    uint32_t nproof)
{
    broker_server_t *server = self->server;
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    uint8_t key[PROTO_LABEL_MAX + 1];
    size_t klen = s_key(key, TAG_ALARM, e->label);
    proto_err_t rc =
        proto_tlog_alarm_record(reason, broker_now(), &e->held, seen, from, proof, nproof, &buf);
    if (!rc)
        rc = broker_batch_begin(server);
    if (!rc)
        rc = broker_store_kv_put(server->store, DB_LINKLOG, key, klen, buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
    proto_log_error("event=link_log_alarm broker=%s reason=\"%s\" held_size=%llu seen_size=%llu "
                    "kept=%s",
                    e->label, reason, (unsigned long long) e->held.size,
                    (unsigned long long) seen->size, rc ? "no" : "yes");
    char detail[400];
    snprintf(detail, sizeof detail,
             "log alarm for linked broker %s: %s (held size %llu, seen size %llu); truc-admin log "
             "links shows the evidence",
             e->label, reason, (unsigned long long) e->held.size, (unsigned long long) seen->size);
    broker_batch_audit(server, BROKER_AUDIT_ADMIN, "", NULL, detail, NULL);
    e->alarm = true;
    e->asking = false;
}

// ---------------------------------------------------------------------------
//  The check

//  The READY link session of label that answers LOG_PROVE, or NULL.
static broker_peer_t *s_session(broker_linklog_t *self, const char *label)
{
    broker_peers_t *peers = self->server->peers;
    for (size_t i = 0; i < broker_peers_count(peers); i++) {
        broker_peer_t *p = broker_peers_at(peers, i);
        if (p->link && p->log && !p->dead && p->state == BROKER_PEER_READY &&
            strcmp(p->link_label, label) == 0)
            return p;
    }
    return NULL;
}

//  LOG_PROVE from the head held, one at a time per link.
static void s_ask(broker_linklog_t *self, s_entry_t *e, broker_peer_t *p)
{
    if (e->alarm || e->asking || !p)
        return;
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_LOG_PROVE;
    msg.u.log_prove.from = e->have ? e->held.size : 0;
    if (broker_session_send_msg(self->server, p, &msg)) {
        e->asking = true;
        e->asked_at = broker_mono();
        e->asked_want = e->want;
    }
}

static bool s_verified(broker_linklog_t *self, const s_entry_t *e, const proto_sth_t *sth)
{
    const proto_directory_broker_t *b =
        proto_directory_broker_find(self->server->directory, e->label);
    const char *why = !b                                   ? "no broker entry"
                      : strcmp(sth->signer, e->label) != 0 ? "signed by another broker"
                      : proto_sth_verify(sth, b->sign_pk) != PROTO_OK
                          ? "does not verify with its broker entry's key"
                          : NULL;
    if (why)
        proto_log_warning("event=link_log_head_refused broker=%s signer=%s size=%llu reason=\"%s\"",
                          e->label, sth->signer, (unsigned long long) sth->size, why);
    return !why;
}

//  A verified head that is not an extension of the one held, without a
//  proof to look at: the same size with another root, or a smaller size.
//  True if it raised the alarm.
static bool s_contradicts(broker_linklog_t *self, s_entry_t *e, const proto_sth_t *sth)
{
    if (sth->size == e->held.size && memcmp(sth->root, e->held.root, PROTO_HASH_LEN) != 0) {
        s_alarm(self, e, "fork: two signed heads of one size with different roots", sth, 0, NULL,
                0);
        return true;
    }
    if (sth->size < e->held.size) {
        s_alarm(self, e,
                "rollback: the linked broker's log is smaller than a head it signed before", sth, 0,
                NULL, 0);
        return true;
    }
    return false;
}

void broker_linklog_on_session(broker_linklog_t *self, broker_peer_t *p, const proto_sth_t *head)
{
    s_entry_t *e = s_entry(self, p->link_label, true);
    if (!e || e->alarm)
        return;
    e->asking = false; // a question of an earlier session is lost with it
    if (!head) {
        s_ask(self, e, p); // its head comes with the answer
        return;
    }
    if (!s_verified(self, e, head))
        return;
    if (!e->have) {
        s_hold(self, e, head);
        return;
    }
    if (s_contradicts(self, e, head))
        return;
    if (head->size > e->held.size) {
        if (head->size > e->want)
            e->want = head->size;
        s_ask(self, e, p);
    }
}

void broker_linklog_on_batch(broker_linklog_t *self, broker_peer_t *p, uint64_t log)
{
    if (log == 0 || !p->log)
        return;
    s_entry_t *e = s_entry(self, p->link_label, true);
    if (!e || e->alarm || (e->have && log <= e->held.size))
        return;
    if (log > e->want)
        e->want = log;
    s_ask(self, e, p);
}

void broker_linklog_message(broker_server_t *self, broker_peer_t *p, int kind, broker_job_t *job)
{
    if (job->nframes != 2) {
        broker_session_error(self, p, PROTO_ERR_FRAMING, "exactly 2 frames", NULL, false);
        return;
    }
    if (kind == PROTO_KIND_LOG_PROVE) {
        broker_session_message(self, p, kind, &job->frames[1]);
        return;
    }
    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    proto_err_t rc = proto_msg_decode(kind, zmq_msg_data(&job->frames[1]),
                                      zmq_msg_size(&job->frames[1]), &msg, &info);
    if (rc) {
        proto_log_warning("event=link_log_proof_refused broker=%s code=%s field=%s detail=\"%s\"",
                          p->link_label, proto_errname(rc), info.field, info.message);
        broker_session_error(self, p, rc, info.message, NULL, false);
        return;
    }
    broker_linklog_on_proof(self->linklog, p, &msg->u.log_proof);
    proto_msg_destroy(&msg);
}

void broker_linklog_on_proof(broker_linklog_t *self, broker_peer_t *p,
                             const proto_log_proof_t *proof)
{
    s_entry_t *e = s_entry(self, p->link_label, true);
    if (!e)
        return;
    //  Asked again only for a size named since the question: the answer is
    //  the current head, so a size it does not reach yet will be named by
    //  a later receipt, and asking at once would only repeat it.
    bool named_since = e->asking && e->want > e->asked_want;
    e->asking = false;
    if (e->alarm || !s_verified(self, e, &proof->sth))
        return;
    if (!e->have) {
        s_hold(self, e, &proof->sth);
    } else if (s_contradicts(self, e, &proof->sth)) {
        return;
    } else if (proof->sth.size > e->held.size) {
        if (proof->from != e->held.size ||
            proto_tlog_verify(e->held.size, e->held.root, proof->sth.size, proof->sth.root,
                              (const uint8_t(*)[PROTO_HASH_LEN]) proof->proof,
                              proof->nproof) != PROTO_OK) {
            s_alarm(self, e,
                    "the linked broker's log does not extend the head held: its proof "
                    "fails",
                    &proof->sth, proof->from, (const uint8_t(*)[PROTO_HASH_LEN]) proof->proof,
                    proof->nproof);
            return;
        }
        s_hold(self, e, &proof->sth);
    }
    if (named_since && e->want > e->held.size)
        s_ask(self, e, p);
}

void broker_linklog_tick(broker_linklog_t *self, uint64_t now)
{
    uint64_t limit = 3 * self->server->config->heartbeat;
    for (size_t i = 0; i < self->n; i++) {
        s_entry_t *e = &self->entries[i];
        if (e->alarm || !e->asking || broker_elapsed(now, e->asked_at) < limit)
            continue;
        //  Unanswered for three heartbeats (a session lost meanwhile): the
        //  next session asks anyway; this one asks again.
        e->asking = false;
        s_ask(self, e, s_session(self, e->label));
    }
}

size_t broker_linklog_alarms(const broker_linklog_t *self)
{
    size_t n = 0;
    for (size_t i = 0; self && i < self->n; i++)
        n += self->entries[i].alarm;
    return n;
}

proto_err_t broker_linklog_clear(broker_linklog_t *self, const char *label, bool *had_alarm)
{
    s_entry_t *e = s_entry(self, label, false);
    *had_alarm = e && e->alarm;
    if (!e || (!e->have && !e->alarm))
        return PROTO_ERR_NOT_FOUND;
    broker_server_t *server = self->server;
    uint8_t key[PROTO_LABEL_MAX + 1];
    proto_err_t rc = broker_batch_begin(server);
    if (!rc)
        rc = broker_store_kv_del(server->store, DB_LINKLOG, key, s_key(key, TAG_ALARM, label));
    if (!rc)
        rc = broker_store_kv_del(server->store, DB_LINKLOG, key, s_key(key, TAG_HEAD, label));
    if (rc)
        return rc;
    proto_log_warning("event=link_log_cleared broker=%s held_size=%llu alarm=%s", label,
                      (unsigned long long) (e->have ? e->held.size : 0), e->alarm ? "yes" : "no");
    char kept[PROTO_LABEL_MAX + 1];
    snprintf(kept, sizeof kept, "%s", e->label);
    memset(e, 0, sizeof *e);
    snprintf(e->label, sizeof e->label, "%s", kept);
    //  The broker's current head is taken anew, now if its session is up.
    s_ask(self, e, s_session(self, label));
    return PROTO_OK;
}

// ---------------------------------------------------------------------------
//  Showing it: truc-admin log links, the metrics' figures

static void s_key_str(msgpack_packer *pk, const char *key)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
}

static void s_kv_u64(msgpack_packer *pk, const char *key, uint64_t value)
{
    s_key_str(pk, key);
    msgpack_pack_uint64(pk, value);
}

static void s_kv_hex(msgpack_packer *pk, const char *key, const uint8_t *data, size_t len)
{
    char hex[2 * PROTO_SIG_LEN + 1] = "";
    for (size_t i = 0; i < len && i < PROTO_SIG_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", data[i]);
    s_key_str(pk, key);
    msgpack_pack_str_with_body(pk, hex, strlen(hex));
}

//  The alarm record of label as a map, its bodies unpacked; nil if none.
static void s_pack_alarm(broker_linklog_t *self, const char *label, msgpack_packer *pk)
{
    uint8_t key[PROTO_LABEL_MAX + 1];
    size_t klen = s_key(key, TAG_ALARM, label);
    broker_store_val_t v;
    if (broker_store_kv_get(self->server->store, DB_LINKLOG, key, klen, &v) == PROTO_OK)
        proto_tlog_alarm_pack(pk, v.mv_data, v.mv_size);
    else
        msgpack_pack_nil(pk);
}

static bool s_shown(const s_entry_t *e, const char *only)
{
    return (e->have || e->alarm) && (!only || strcmp(e->label, only) == 0);
}

void broker_linklog_pack(broker_linklog_t *self, const char *only, msgpack_packer *pk)
{
    broker_store_t *store = self->server->store;
    bool own = !broker_store_writing(store) && broker_store_read_begin(store) == PROTO_OK;
    size_t shown = 0;
    for (size_t i = 0; i < self->n; i++)
        shown += s_shown(&self->entries[i], only);
    msgpack_pack_array(pk, (uint32_t) shown);
    for (size_t i = 0; i < self->n; i++) {
        const s_entry_t *e = &self->entries[i];
        if (!s_shown(e, only))
            continue;
        msgpack_pack_map(pk, 6);
        s_key_str(pk, "broker");
        msgpack_pack_str_with_body(pk, e->label, strlen(e->label));
        s_kv_u64(pk, "size", e->have ? e->held.size : 0);
        if (e->have) {
            s_kv_hex(pk, "root", e->held.root, PROTO_HASH_LEN);
        } else {
            s_key_str(pk, "root");
            msgpack_pack_nil(pk);
        }
        s_kv_u64(pk, "time", e->have ? e->held.time : 0);
        s_key_str(pk, "connected");
        if (s_session(self, e->label))
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        s_key_str(pk, "alarm");
        if (e->alarm)
            s_pack_alarm(self, e->label, pk);
        else
            msgpack_pack_nil(pk);
    }
    if (own)
        broker_store_read_end(store);
}

bool broker_linklog_at(const broker_linklog_t *self, size_t i, const char **label, uint64_t *size,
                       bool *alarm)
{
    if (!self || i >= self->n)
        return false;
    const s_entry_t *e = &self->entries[i];
    *label = e->label;
    *size = e->have ? e->held.size : 0;
    *alarm = e->alarm;
    return true;
}
