/*  agent/tlog.c - the agent's check on the broker's transparency log. See
    tlog.h.

    The held head is trusted on first use, like the pinned broker key it is
    signed with: from then on every head must extend it. Heads are checked
    with the broker's key of their time (agent_dir_broker_verify), so a
    rotated broker key does not look like misbehaviour; a head that does
    not verify is ignored (anyone could have made it), never alarmed on.
*/
#include "tlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_internal.h"
#include "proto/log.h"
#include "proto/tlog.h"
#include "proto/tlog_evidence.h"
#include "session.h"

#define S_HEAD_KEY  "tlog.head"
#define S_ALARM_KEY "tlog.alarm"

struct agent_tlog {
    bool have;                        // a head is held
    proto_sth_t held;                 // it (signer points at signer)
    char signer[PROTO_LABEL_MAX + 1]; //
    uint64_t want;                    // the largest size seen named, above held.size
    uint64_t asked_want;              // want when the question now open was asked
    bool asking;                      // a LOG_PROVE is unanswered
    uint64_t asked_at;                // when (monotonic ms)
    bool alarm;                       // raised: nothing more is checked
};

// ---------------------------------------------------------------------------
//  Records

static void s_load(agent_t *self, agent_tlog_t *t)
{
    bool own = !proto_store_writing(self->kv) && proto_store_read_begin(self->kv) == PROTO_OK;
    const void *v;
    size_t len;
    proto_msg_t *msg = NULL;
    if (proto_store_get(self->kv, T_META, S_HEAD_KEY, strlen(S_HEAD_KEY), &v, &len) == PROTO_OK &&
        proto_msg_decode(PROTO_KIND_LOG_PROOF, v, len, &msg, NULL) == PROTO_OK) {
        t->held = msg->u.log_proof.sth;
        snprintf(t->signer, sizeof t->signer, "%s", t->held.signer);
        t->held.signer = t->signer;
        t->have = true;
    }
    proto_msg_destroy(&msg);
    t->alarm =
        proto_store_get(self->kv, T_META, S_ALARM_KEY, strlen(S_ALARM_KEY), &v, &len) == PROTO_OK;
    if (own)
        proto_store_read_end(self->kv);
}

agent_tlog_t *agent_tlog_new(agent_t *self)
{
    agent_tlog_t *t = calloc(1, sizeof *t);
    if (t)
        s_load(self, t);
    return t;
}

void agent_tlog_destroy(agent_tlog_t **tlog_p)
{
    if (!tlog_p || !*tlog_p)
        return;
    free(*tlog_p);
    *tlog_p = NULL;
}

static bool s_key_ok(const uint8_t key[32], const void *arg)
{
    return proto_sth_verify(arg, key) == PROTO_OK;
}

static bool s_verified(agent_t *self, const proto_sth_t *sth)
{
    if (agent_dir_broker_verify(self, sth->signer, sth->time, s_key_ok, sth) == PROTO_OK)
        return true;
    proto_log_warning("event=log_head_refused size=%llu reason=\"does not verify\"",
                      (unsigned long long) sth->size);
    return false;
}

//  Hold sth from now on, in the open transaction.
static void s_hold(agent_t *self, const proto_sth_t *sth)
{
    agent_tlog_t *t = self->tlog;
    proto_buf_t body;
    proto_buf_init(&body);
    if (proto_store_begin(self->kv) == PROTO_OK &&
        proto_tlog_head_body(sth, 0, NULL, 0, &body) == PROTO_OK &&
        proto_store_put(self->kv, T_META, S_HEAD_KEY, strlen(S_HEAD_KEY), body.data, body.len) ==
            PROTO_OK) {
        t->held = *sth;
        snprintf(t->signer, sizeof t->signer, "%s", sth->signer);
        t->held.signer = t->signer;
        t->have = true;
    }
    proto_buf_free(&body);
}

//  Raise the alarm: keep the evidence, tell the DMS, stop checking.
static void s_alarm(agent_t *self, const char *reason, const proto_sth_t *seen, uint64_t from,
                    const uint8_t (*proof)[PROTO_HASH_LEN], uint32_t nproof)
{
    agent_tlog_t *t = self->tlog;
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    bool ok = proto_tlog_alarm_record(reason, agent_now(), &t->held, seen, from, proof, nproof,
                                      &buf) == PROTO_OK &&
              proto_store_begin(self->kv) == PROTO_OK &&
              proto_store_put(self->kv, T_META, S_ALARM_KEY, strlen(S_ALARM_KEY), buf.data,
                              buf.size) == PROTO_OK;
    proto_log_error("event=log_alarm reason=\"%s\" held_size=%llu seen_size=%llu kept=%s", reason,
                    (unsigned long long) t->held.size, (unsigned long long) seen->size,
                    ok ? "yes" : "no");
    agent_event(self, "log.alarm", NULL, "suu", "reason", reason, "held_size", t->held.size,
                "seen_size", seen->size);
    t->alarm = true;
    t->asking = false;
    msgpack_sbuffer_destroy(&buf);
}

// ---------------------------------------------------------------------------
//  The check

static void s_ask(agent_t *self)
{
    agent_tlog_t *t = self->tlog;
    uint64_t now = proto_clock_mono_ms();
    //  One question at a time; one lost with its session is asked again
    //  after READY, one the broker never answered after a while.
    if (t->alarm || self->state != A_READY ||
        (t->asking && now - t->asked_at < 3ull * (self->heartbeat ? self->heartbeat : 5000)))
        return;
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_LOG_PROVE;
    msg.u.log_prove.from = t->have ? t->held.size : 0;
    if (agent_session_send_msg(self, &msg)) {
        t->asking = true;
        t->asked_at = now;
        t->asked_want = t->want;
    }
}

//  A verified head that is not an extension of the one held, without a
//  proof to look at: the same size with another root, or a smaller size.
//  True if it raised the alarm.
static bool s_contradicts(agent_t *self, const proto_sth_t *sth)
{
    agent_tlog_t *t = self->tlog;
    if (sth->size == t->held.size && memcmp(sth->root, t->held.root, PROTO_HASH_LEN) != 0) {
        s_alarm(self, "fork: two signed heads of one size with different roots", sth, 0, NULL, 0);
        return true;
    }
    if (sth->size < t->held.size) {
        s_alarm(self, "rollback: the broker's log is smaller than a head it signed before", sth, 0,
                NULL, 0);
        return true;
    }
    return false;
}

void agent_tlog_on_ready(agent_t *self, const proto_ready_t *ready)
{
    agent_tlog_t *t = self->tlog;
    t->asking = false;
    if (t->alarm || !ready->has_log || !s_verified(self, &ready->log))
        return;
    if (!t->have) {
        s_hold(self, &ready->log);
        return;
    }
    if (s_contradicts(self, &ready->log))
        return;
    if (ready->log.size > t->held.size) {
        if (ready->log.size > t->want)
            t->want = ready->log.size;
        s_ask(self);
    }
}

void agent_tlog_on_batch(agent_t *self, uint64_t log)
{
    agent_tlog_t *t = self->tlog;
    if (t->alarm || log == 0 || (t->have && log <= t->held.size))
        return;
    if (log > t->want)
        t->want = log;
    s_ask(self);
}

void agent_tlog_on_proof(agent_t *self, const proto_msg_t *msg)
{
    agent_tlog_t *t = self->tlog;
    const proto_log_proof_t *p = &msg->u.log_proof;
    //  Asked again only for a size named since the question: the answer is
    //  the broker's current head, so a size it does not reach (a log rolled
    //  back below a size a receipt named) would only be asked for again and
    //  again; a later receipt or READY names it anew.
    bool named_since = t->asking && t->want > t->asked_want;
    t->asking = false;
    if (t->alarm || !s_verified(self, &p->sth))
        return;
    if (!t->have) {
        s_hold(self, &p->sth);
    } else if (s_contradicts(self, &p->sth)) {
        return;
    } else if (p->sth.size > t->held.size) {
        if (p->from != t->held.size ||
            proto_tlog_verify(t->held.size, t->held.root, p->sth.size, p->sth.root,
                              (const uint8_t(*)[PROTO_HASH_LEN]) p->proof, p->nproof) != PROTO_OK) {
            s_alarm(self, "the broker's log does not extend the head held: its proof fails",
                    &p->sth, p->from, (const uint8_t(*)[PROTO_HASH_LEN]) p->proof, p->nproof);
            return;
        }
        s_hold(self, &p->sth);
    }
    if (named_since && t->want > t->held.size)
        s_ask(self);
}

// ---------------------------------------------------------------------------
//  health (packed here: the API's helpers are its own)

static void s_key(msgpack_packer *pk, const char *key)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
}

static void s_kv_u64(msgpack_packer *pk, const char *key, uint64_t value)
{
    s_key(pk, key);
    msgpack_pack_uint64(pk, value);
}

static void s_kv_str(msgpack_packer *pk, const char *key, const char *value)
{
    s_key(pk, key);
    if (value)
        msgpack_pack_str_with_body(pk, value, strlen(value));
    else
        msgpack_pack_nil(pk);
}

static void s_hex(msgpack_packer *pk, const char *key, const uint8_t *data, size_t len)
{
    char hex[2 * PROTO_SIG_LEN + 1] = "";
    for (size_t i = 0; i < len && i < PROTO_SIG_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", data[i]);
    s_kv_str(pk, key, hex);
}

static void s_pack_alarm(agent_t *self, msgpack_packer *pk)
{
    bool own = !proto_store_writing(self->kv) && proto_store_read_begin(self->kv) == PROTO_OK;
    const void *v;
    size_t len;
    if (proto_store_get(self->kv, T_META, S_ALARM_KEY, strlen(S_ALARM_KEY), &v, &len) == PROTO_OK)
        proto_tlog_alarm_pack(pk, v, len);
    else
        msgpack_pack_nil(pk);
    if (own)
        proto_store_read_end(self->kv);
}

void agent_tlog_pack(agent_t *self, msgpack_packer *pk)
{
    agent_tlog_t *t = self->tlog;
    msgpack_pack_map(pk, 4);
    s_kv_u64(pk, "size", t->have ? t->held.size : 0);
    if (t->have)
        s_hex(pk, "root", t->held.root, PROTO_HASH_LEN);
    else
        s_kv_str(pk, "root", NULL);
    s_kv_u64(pk, "time", t->have ? t->held.time : 0);
    s_key(pk, "alarm");
    if (t->alarm)
        s_pack_alarm(self, pk);
    else
        msgpack_pack_nil(pk);
}

proto_err_t agent_tlog_clear(agent_t *self)
{
    agent_tlog_t *t = self->tlog;
    proto_err_t rc = proto_store_begin(self->kv);
    if (!rc)
        rc = proto_store_del(self->kv, T_META, S_ALARM_KEY, strlen(S_ALARM_KEY));
    if (!rc)
        rc = proto_store_del(self->kv, T_META, S_HEAD_KEY, strlen(S_HEAD_KEY));
    if (rc)
        return rc;
    proto_log_warning("event=log_cleared held_size=%llu alarm=%s",
                      (unsigned long long) (t->have ? t->held.size : 0), t->alarm ? "yes" : "no");
    agent_event(self, "log.cleared", NULL, "ub", "held_size", t->have ? t->held.size : 0, "alarm",
                t->alarm ? 1 : 0);
    memset(t, 0, sizeof *t);
    //  A session already open goes on: its broker's next head (a batch, or
    //  the next READY) is asked for and held.
    return PROTO_OK;
}
