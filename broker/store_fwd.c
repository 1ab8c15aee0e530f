/*  broker/store_fwd.c - the link queues and hop records. See store_fwd.h.

    Layouts (keys big-endian where they order, values little-endian):

      hops   key   label (PROTO_LABEL_MAX bytes, zero-padded) | id (16)
             value state (1) | urgency (1) | queue_seq (8) | time (8) | code (4)
      hopq   key   label (PROTO_LABEL_MAX bytes, zero-padded) | 3 - urgency (1) | seq (8)
             value id (16)
      trace  key   id (16)
             value ntrace (1), then each: label length (1) | label | time (8);
                   nto (2), then each: code length (1) | code
      linkbox key  label (PROTO_LABEL_MAX bytes, zero-padded) | mid (8)
             value kind (1) | body
      hopdlv key   id (16) | recipient code (13, zero-padded)
             value time (8)
      hopexp key   deadline (8) | label (PROTO_LABEL_MAX bytes, zero-padded) | id (16)
             value empty
      meta   key   "l:" | label (PROTO_LABEL_MAX bytes, zero-padded)
             value the label's hopq entries (8); absent when none

    The label is a fixed-width field so that one label's keys never share a
    prefix with a longer label's ("n" and "n2").
*/
#include "store_fwd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/agency.h"
#include "store_internal.h"

#define S_LABEL_LEN   PROTO_LABEL_MAX
#define S_HOP_KEY_LEN (S_LABEL_LEN + PROTO_ID_LEN)
#define S_Q_KEY_LEN   (S_LABEL_LEN + 9)
#define S_HOP_LEN     22

static proto_err_t s_label(uint8_t out[S_LABEL_LEN], const char *label)
{
    size_t len = label ? strlen(label) : 0;
    if (!label || len > S_LABEL_LEN || proto_label_check(label, len) != PROTO_OK)
        return PROTO_ERR_INVALID_ARG;
    memset(out, 0, S_LABEL_LEN);
    memcpy(out, label, len);
    return PROTO_OK;
}

static proto_err_t s_hop_key(uint8_t key[S_HOP_KEY_LEN], const char *label, const proto_id_t *id)
{
    proto_err_t rc = s_label(key, label);
    if (!rc)
        memcpy(key + S_LABEL_LEN, id->bytes, PROTO_ID_LEN);
    return rc;
}

static void s_q_key(uint8_t key[S_Q_KEY_LEN], const uint8_t label[S_LABEL_LEN], uint8_t urgency,
                    uint64_t seq)
{
    memcpy(key, label, S_LABEL_LEN);
    key[S_LABEL_LEN] = (uint8_t) (3 - (urgency > 3 ? 3 : urgency)); // most urgent first
    broker_store_put64be(key + S_LABEL_LEN + 1, seq);
}

static void s_hop_encode(const broker_hop_t *hop, uint8_t out[S_HOP_LEN])
{
    out[0] = hop->state;
    out[1] = hop->urgency;
    broker_store_put64le(out + 2, hop->queue_seq);
    broker_store_put64le(out + 10, hop->time);
    broker_store_put32le(out + 18, hop->code);
}

static proto_err_t s_hop_decode(const broker_store_val_t *v, broker_hop_t *out)
{
    if (v->mv_size != S_HOP_LEN)
        return PROTO_ERR_STORE;
    const uint8_t *p = v->mv_data;
    out->state = p[0];
    out->urgency = p[1];
    out->queue_seq = broker_store_get64le(p + 2);
    out->time = broker_store_get64le(p + 10);
    out->code = broker_store_get32le(p + 18);
    return PROTO_OK;
}

// ---------------------------------------------------------------------------
//  The queue counts: "l:" label -> 8-byte count in the meta table, moved in
//  the transaction that moves the queue, rebuilt with the waiting counts
//  (store_waiting.c) when the store was written without them.

#define S_COUNT_KEY_LEN (2 + S_LABEL_LEN)

static void s_count_key(uint8_t key[S_COUNT_KEY_LEN], const uint8_t label[S_LABEL_LEN])
{
    key[0] = 'l';
    key[1] = ':';
    memcpy(key + 2, label, S_LABEL_LEN);
}

static proto_err_t s_count_add(broker_store_t *self, const uint8_t label[S_LABEL_LEN], int delta)
{
    if (!self->counted)
        return PROTO_OK;
    uint8_t key[S_COUNT_KEY_LEN];
    s_count_key(key, label);
    return broker_store_count_add(self, key, sizeof key, delta);
}

typedef struct {
    uint8_t labels[BROKER_STORE_HOP_LABELS][S_LABEL_LEN];
    uint64_t counts[BROKER_STORE_HOP_LABELS];
    size_t n;
    bool full;
} s_counting_t;

static bool s_counting_step(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                            size_t vlen)
{
    s_counting_t *c = arg;
    (void) value;
    (void) vlen;
    if (klen != S_Q_KEY_LEN)
        return true;
    if (c->n && memcmp(c->labels[c->n - 1], key, S_LABEL_LEN) == 0) {
        c->counts[c->n - 1]++;
        return true;
    }
    if (c->n == BROKER_STORE_HOP_LABELS) {
        c->full = true;
        return false;
    }
    memcpy(c->labels[c->n], key, S_LABEL_LEN);
    c->counts[c->n++] = 1;
    return true;
}

proto_err_t broker_store_hop_counts_rebuild(broker_store_t *self)
{
    s_counting_t *c = calloc(1, sizeof *c);
    if (!c)
        return PROTO_ERR_NOMEM;
    proto_err_t rc = broker_store_count_clear(self, "l:", S_COUNT_KEY_LEN);
    if (!rc)
        broker_store_kv_scan(self, DB_HOPQ, NULL, 0, s_counting_step, c);
    if (!rc && c->full)
        rc = PROTO_ERR_STORE; // more labels than a directory may list
    for (size_t i = 0; !rc && i < c->n; i++) {
        uint8_t key[S_COUNT_KEY_LEN];
        s_count_key(key, c->labels[i]);
        rc = broker_store_count_put(self, key, sizeof key, c->counts[i]);
    }
    free(c);
    return rc;
}

typedef struct {
    broker_store_hop_label_fn *fn;
    void *arg;
} s_labels_t;

static bool s_labels_step(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                          size_t vlen)
{
    s_labels_t *l = arg;
    if (klen != S_COUNT_KEY_LEN || vlen != 8)
        return true;
    char label[S_LABEL_LEN + 1];
    memcpy(label, key + 2, S_LABEL_LEN);
    label[S_LABEL_LEN] = '\0';
    return l->fn(l->arg, label, broker_store_get64le(value));
}

typedef struct {
    proto_id_t id;
    bool found;
} s_first_t;

static bool s_first_step(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                         size_t vlen)
{
    s_first_t *f = arg;
    (void) key, (void) klen;
    if (vlen == PROTO_ID_LEN) {
        memcpy(f->id.bytes, value, PROTO_ID_LEN);
        f->found = true;
    }
    return false;
}

size_t broker_store_hop_labels(broker_store_t *self, broker_store_hop_label_fn *fn, void *arg)
{
    if (!self->counted) {
        //  No counts kept: walk the queues once (rare: a store open failed
        //  to build them).
        s_counting_t *c = calloc(1, sizeof *c);
        if (!c)
            return 0;
        broker_store_kv_scan(self, DB_HOPQ, NULL, 0, s_counting_step, c);
        size_t i = 0;
        for (; i < c->n; i++) {
            char label[S_LABEL_LEN + 1];
            memcpy(label, c->labels[i], S_LABEL_LEN);
            label[S_LABEL_LEN] = '\0';
            if (!fn(arg, label, c->counts[i]))
                break;
        }
        free(c);
        return i;
    }
    s_labels_t l = { fn, arg };
    return broker_store_kv_scan(self, DB_META, (const uint8_t *) "l:", 2, s_labels_step, &l);
}

uint64_t broker_store_hop_oldest(broker_store_t *self, const char *label, uint64_t now)
{
    uint8_t prefix[S_LABEL_LEN + 1];
    if (s_label(prefix, label) != PROTO_OK)
        return 0;
    uint64_t oldest = 0;
    //  The first hop of each urgency is the oldest of that urgency.
    for (uint8_t level = 0; level < 4; level++) {
        prefix[S_LABEL_LEN] = level;
        s_first_t first = { .found = false };
        broker_store_kv_scan(self, DB_HOPQ, prefix, sizeof prefix, s_first_step, &first);
        broker_hop_t hop;
        if (first.found && broker_store_hop_get(self, label, &first.id, &hop) == PROTO_OK &&
            hop.time < now && now - hop.time > oldest)
            oldest = now - hop.time;
    }
    return oldest;
}

proto_err_t broker_store_hop_add(broker_store_t *self, const char *label, const proto_id_t *id,
                                 uint8_t urgency, uint64_t seq, uint64_t now)
{
    uint8_t key[S_HOP_KEY_LEN], qkey[S_Q_KEY_LEN], record[S_HOP_LEN];
    broker_store_val_t v;
    proto_err_t rc = s_hop_key(key, label, id);
    if (rc)
        return rc;
    if (broker_store_kv_get(self, DB_HOPS, key, sizeof key, &v) == PROTO_OK)
        return PROTO_ERR_EXISTS;
    broker_hop_t hop = {
        .state = BROKER_HOP_WAITING, .urgency = urgency, .queue_seq = seq, .time = now
    };
    s_hop_encode(&hop, record);
    rc = broker_store_kv_put(self, DB_HOPS, key, sizeof key, record, sizeof record);
    s_q_key(qkey, key, urgency, seq);
    if (!rc)
        rc = broker_store_kv_put(self, DB_HOPQ, qkey, sizeof qkey, id->bytes, PROTO_ID_LEN);
    return rc ? rc : s_count_add(self, key, +1);
}

proto_err_t broker_store_hop_get(broker_store_t *self, const char *label, const proto_id_t *id,
                                 broker_hop_t *out)
{
    uint8_t key[S_HOP_KEY_LEN];
    broker_store_val_t v;
    proto_err_t rc = s_hop_key(key, label, id);
    if (!rc)
        rc = broker_store_kv_get(self, DB_HOPS, key, sizeof key, &v);
    return rc ? rc : s_hop_decode(&v, out);
}

proto_err_t broker_store_hop_answer(broker_store_t *self, const char *label, const proto_id_t *id,
                                    uint8_t state, uint32_t code, uint64_t now)
{
    if (state != BROKER_HOP_DONE && state != BROKER_HOP_REFUSED && state != BROKER_HOP_EXPIRED)
        return PROTO_ERR_INVALID_ARG;
    uint8_t key[S_HOP_KEY_LEN], qkey[S_Q_KEY_LEN], record[S_HOP_LEN];
    broker_hop_t hop;
    proto_err_t rc = broker_store_hop_get(self, label, id, &hop);
    if (rc)
        return rc;
    //  An answer comes once: a second one (a re-sent ACCEPTED after the
    //  next broker restarted) changes nothing.
    if (hop.state != BROKER_HOP_WAITING)
        return PROTO_ERR_BAD_STATE;
    rc = s_hop_key(key, label, id);
    s_q_key(qkey, key, hop.urgency, hop.queue_seq);
    if (!rc)
        rc = broker_store_kv_del(self, DB_HOPQ, qkey, sizeof qkey);
    if (!rc)
        rc = s_count_add(self, key, -1);
    hop.state = state;
    hop.code = code;
    hop.time = now;
    s_hop_encode(&hop, record);
    return rc ? rc : broker_store_kv_put(self, DB_HOPS, key, sizeof key, record, sizeof record);
}

#define S_EXP_KEY_LEN (8 + S_HOP_KEY_LEN)

proto_err_t broker_store_hop_deadline(broker_store_t *self, const char *label, const proto_id_t *id,
                                      uint64_t deadline)
{
    uint8_t key[S_EXP_KEY_LEN];
    broker_store_put64be(key, deadline);
    proto_err_t rc = s_hop_key(key + 8, label, id);
    return rc ? rc : broker_store_kv_put(self, DB_HOPEXP, key, sizeof key, "", 0);
}

typedef struct {
    uint8_t (*keys)[S_EXP_KEY_LEN];
    size_t n, max;
    uint64_t now;
} s_due_t;

static bool s_due_step(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                       size_t vlen)
{
    s_due_t *due = arg;
    (void) value;
    (void) vlen;
    if (due->n == due->max || broker_store_get64be(key) > due->now)
        return false;
    if (klen == S_EXP_KEY_LEN)
        memcpy(due->keys[due->n++], key, S_EXP_KEY_LEN);
    return true;
}

size_t broker_store_hop_expiry_scan(broker_store_t *self, uint64_t now, size_t max,
                                    broker_store_hop_due_fn *fn, void *arg)
{
    s_due_t due = { calloc(max ? max : 1, S_EXP_KEY_LEN), 0, max, now };
    if (!due.keys)
        return 0;
    //  Collect, then act: fn changes the tables being walked.
    broker_store_kv_scan(self, DB_HOPEXP, NULL, 0, s_due_step, &due);
    size_t taken = 0;
    for (size_t i = 0; i < due.n; i++) {
        if (broker_store_kv_del(self, DB_HOPEXP, due.keys[i], S_EXP_KEY_LEN) != PROTO_OK)
            break;
        char label[S_LABEL_LEN + 1];
        memcpy(label, due.keys[i] + 8, S_LABEL_LEN);
        label[S_LABEL_LEN] = '\0';
        proto_id_t id;
        memcpy(id.bytes, due.keys[i] + 8 + S_LABEL_LEN, PROTO_ID_LEN);
        fn(arg, label, &id);
        taken++;
    }
    free(due.keys);
    return taken;
}

typedef struct {
    broker_store_queue_fn *fn;
    void *arg;
} s_visit_t;

static bool s_scan_step(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                        size_t vlen)
{
    s_visit_t *visit = arg;
    (void) key;
    (void) klen;
    if (vlen != PROTO_ID_LEN)
        return true;
    proto_id_t id;
    memcpy(id.bytes, value, PROTO_ID_LEN);
    return visit->fn(visit->arg, &id);
}

size_t broker_store_hop_scan(broker_store_t *self, const char *label, broker_store_queue_fn *fn,
                             void *arg)
{
    uint8_t prefix[S_LABEL_LEN];
    if (s_label(prefix, label) != PROTO_OK)
        return 0;
    s_visit_t visit = { fn, arg };
    return broker_store_kv_scan(self, DB_HOPQ, prefix, sizeof prefix, s_scan_step, &visit);
}

proto_err_t broker_fwd_in_set(broker_fwd_in_t *in, const proto_fwd_hop_t *trace, uint32_t ntrace,
                              const char *const *to, uint32_t nto)
{
    if (ntrace == 0 || ntrace > PROTO_MAX_HOPS || nto == 0 || nto > PROTO_MAX_RECIPIENTS)
        return PROTO_ERR_INVALID_ARG;
    for (uint32_t i = 0; i < ntrace; i++) {
        if (strlen(trace[i].broker) > PROTO_LABEL_MAX)
            return PROTO_ERR_INVALID_ARG;
        snprintf(in->labels[i], sizeof in->labels[i], "%s", trace[i].broker);
        in->trace[i].broker = in->labels[i];
        in->trace[i].time = trace[i].time;
    }
    for (uint32_t i = 0; i < nto; i++) {
        if (strlen(to[i]) > PROTO_AGENCY_CODE_LEN)
            return PROTO_ERR_INVALID_ARG;
        snprintf(in->codes[i], sizeof in->codes[i], "%s", to[i]);
        in->to[i] = in->codes[i];
    }
    in->ntrace = ntrace;
    in->nto = nto;
    return PROTO_OK;
}

#define S_IN_MAX                                                                                   \
    (1 + PROTO_MAX_HOPS * (1 + PROTO_LABEL_MAX + 8) + 2 +                                          \
     PROTO_MAX_RECIPIENTS * (1 + PROTO_AGENCY_CODE_LEN))

proto_err_t broker_store_fwd_in_put(broker_store_t *self, const proto_id_t *id,
                                    const broker_fwd_in_t *in)
{
    uint8_t *value = malloc(S_IN_MAX);
    size_t len = 0;
    if (!value)
        return PROTO_ERR_NOMEM;
    value[len++] = (uint8_t) in->ntrace;
    for (uint32_t i = 0; i < in->ntrace; i++) {
        size_t n = strlen(in->trace[i].broker);
        value[len++] = (uint8_t) n;
        memcpy(value + len, in->trace[i].broker, n);
        len += n;
        broker_store_put64le(value + len, in->trace[i].time);
        len += 8;
    }
    value[len++] = (uint8_t) (in->nto & 0xff);
    value[len++] = (uint8_t) (in->nto >> 8);
    for (uint32_t i = 0; i < in->nto; i++) {
        size_t n = strlen(in->to[i]);
        value[len++] = (uint8_t) n;
        memcpy(value + len, in->to[i], n);
        len += n;
    }
    proto_err_t rc = broker_store_kv_put(self, DB_TRACE, id->bytes, PROTO_ID_LEN, value, len);
    free(value);
    return rc;
}

//  One length-prefixed string of at most max bytes from *p (before end)
//  into out; false if the record is cut short or too long.
static bool s_take(const uint8_t **p, const uint8_t *end, size_t max, size_t extra, char *out)
{
    if (*p >= end || **p > max || (size_t) (end - *p) < 1u + **p + extra)
        return false;
    memcpy(out, *p + 1, **p);
    out[**p] = '\0';
    *p += 1 + **p;
    return true;
}

proto_err_t broker_store_fwd_in_get(broker_store_t *self, const proto_id_t *id,
                                    broker_fwd_in_t *out)
{
    broker_store_val_t v;
    proto_err_t rc = broker_store_kv_get(self, DB_TRACE, id->bytes, PROTO_ID_LEN, &v);
    if (rc)
        return rc;
    const uint8_t *p = v.mv_data, *end = p + v.mv_size;
    if (v.mv_size < 1 || p[0] == 0 || p[0] > PROTO_MAX_HOPS)
        return PROTO_ERR_STORE;
    out->ntrace = *p++;
    for (uint32_t i = 0; i < out->ntrace; i++) {
        if (!s_take(&p, end, PROTO_LABEL_MAX, 8, out->labels[i]))
            return PROTO_ERR_STORE;
        out->trace[i].broker = out->labels[i];
        out->trace[i].time = broker_store_get64le(p);
        p += 8;
    }
    if (end - p < 2)
        return PROTO_ERR_STORE;
    out->nto = (uint32_t) p[0] | (uint32_t) p[1] << 8;
    p += 2;
    if (out->nto == 0 || out->nto > PROTO_MAX_RECIPIENTS)
        return PROTO_ERR_STORE;
    for (uint32_t i = 0; i < out->nto; i++) {
        if (!s_take(&p, end, PROTO_AGENCY_CODE_LEN, 0, out->codes[i]))
            return PROTO_ERR_STORE;
        out->to[i] = out->codes[i];
    }
    return p == end ? PROTO_OK : PROTO_ERR_STORE;
}

// ---------------------------------------------------------------------------
//  A link's mailbox, and deliveries behind links

#define S_BOX_KEY_LEN (S_LABEL_LEN + 8)

proto_err_t broker_store_linkbox_put(broker_store_t *self, const char *label, uint64_t mid,
                                     uint8_t kind, const void *body, size_t len)
{
    uint8_t key[S_BOX_KEY_LEN];
    proto_err_t rc = s_label(key, label);
    uint8_t *value = rc ? NULL : malloc(len + 1);
    if (rc || !value)
        return rc ? rc : PROTO_ERR_NOMEM;
    broker_store_put64be(key + S_LABEL_LEN, mid);
    value[0] = kind;
    memcpy(value + 1, body, len);
    rc = broker_store_kv_put(self, DB_LINKBOX, key, sizeof key, value, len + 1);
    free(value);
    return rc;
}

typedef struct {
    broker_store_mbox_fn *fn;
    void *arg;
} s_box_visit_t;

static bool s_box_step(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                       size_t vlen)
{
    s_box_visit_t *visit = arg;
    if (klen != S_BOX_KEY_LEN || vlen < 1)
        return true;
    return visit->fn(visit->arg, broker_store_get64be(key + S_LABEL_LEN), value[0], value + 1,
                     vlen - 1);
}

size_t broker_store_linkbox_scan(broker_store_t *self, const char *label, broker_store_mbox_fn *fn,
                                 void *arg)
{
    uint8_t prefix[S_LABEL_LEN];
    if (s_label(prefix, label) != PROTO_OK)
        return 0;
    s_box_visit_t visit = { fn, arg };
    return broker_store_kv_scan(self, DB_LINKBOX, prefix, sizeof prefix, s_box_step, &visit);
}

proto_err_t broker_store_linkbox_del(broker_store_t *self, const char *label, uint64_t mid)
{
    uint8_t key[S_BOX_KEY_LEN];
    proto_err_t rc = s_label(key, label);
    if (rc)
        return rc;
    broker_store_put64be(key + S_LABEL_LEN, mid);
    rc = broker_store_kv_del(self, DB_LINKBOX, key, sizeof key);
    return rc == PROTO_ERR_NOT_FOUND ? PROTO_OK : rc;
}

//  The "hopdlv" key of (id, to); false if to is too long.
static bool s_hopdlv_key(uint8_t key[PROTO_ID_LEN + PROTO_AGENCY_CODE_LEN], const proto_id_t *id,
                         const char *to)
{
    size_t len = strlen(to);
    if (len > PROTO_AGENCY_CODE_LEN)
        return false;
    memset(key, 0, PROTO_ID_LEN + PROTO_AGENCY_CODE_LEN);
    memcpy(key, id->bytes, PROTO_ID_LEN);
    memcpy(key + PROTO_ID_LEN, to, len);
    return true;
}

proto_err_t broker_store_hop_delivered(broker_store_t *self, const proto_id_t *id, const char *to,
                                       uint64_t now)
{
    uint8_t key[PROTO_ID_LEN + PROTO_AGENCY_CODE_LEN], value[8];
    broker_store_val_t v;
    if (!s_hopdlv_key(key, id, to))
        return PROTO_ERR_INVALID_ARG;
    if (broker_store_kv_get(self, DB_HOPDLV, key, sizeof key, &v) == PROTO_OK)
        return PROTO_ERR_EXISTS;
    broker_store_put64le(value, now);
    return broker_store_kv_put(self, DB_HOPDLV, key, sizeof key, value, sizeof value);
}

proto_err_t broker_store_hop_delivered_get(broker_store_t *self, const proto_id_t *id,
                                           const char *to, uint64_t *time)
{
    uint8_t key[PROTO_ID_LEN + PROTO_AGENCY_CODE_LEN];
    broker_store_val_t v;
    if (!s_hopdlv_key(key, id, to))
        return PROTO_ERR_INVALID_ARG;
    proto_err_t rc = broker_store_kv_get(self, DB_HOPDLV, key, sizeof key, &v);
    if (rc)
        return rc;
    if (v.mv_size != 8)
        return PROTO_ERR_STORE;
    *time = broker_store_get64le(v.mv_data);
    return PROTO_OK;
}
