/*  broker/store_waiting.c - how many documents wait for each recipient.

    `truc-admin status`, `agencies` and the metrics endpoint ask for every
    agency's waiting documents per urgency and the age of the oldest. Walking
    each recipient's queue for that costs O(backlog) on the loop thread, so
    the counts are kept beside the queue instead: one meta record per
    recipient and urgency level ("w:" CODE level -> 8-byte count), moved in
    the same write transaction as the queue entry it counts (store_docs.c
    calls broker_store_waiting_add after each put and delete). They are
    LMDB records, not memory, so an aborted batch or nested transaction
    takes its counts back with its entries, and a backup carries them.

    The same marker covers the counts of the hop queues between brokers
    (store_fwd.c), rebuilt here with these.

    The marker "waiting_counts" holds the audit chain's length plus one,
    written with every commit (broker_store_waiting_mark): every change to
    a queue is audited, so a marker that does not match the chain means
    another program wrote the store without moving the counts (an older
    broker after a downgrade), or the store predates the counts. Then
    broker_store_open walks the queues once and writes them. If that fails
    (a full map), the store still opens and reads fall back to the walk
    until a later open succeeds.

    The oldest waiting document of a level is the first entry of that
    level (the queue is in acceptance order within a level): one cursor seek
    and one delivery lookup per level.
*/
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define WAITING_MARKER "waiting_counts"
#define LEVELS         4
#define KEY_LEN        (2 + CODE_LEN + 1) // "w:" code level

//  The queue key's level byte: 0 is the most urgent (store_docs.c).
static uint8_t s_level(uint8_t urgency)
{
    return (uint8_t) (3 - (urgency > 3 ? 3 : urgency));
}

static void s_key(uint8_t key[KEY_LEN], const uint8_t code[CODE_LEN], uint8_t level)
{
    key[0] = 'w';
    key[1] = ':';
    memcpy(key + 2, code, CODE_LEN);
    key[2 + CODE_LEN] = level;
}

proto_err_t broker_store_waiting_add(broker_store_t *self, const char *recipient, uint8_t urgency,
                                     int delta)
{
    if (!self->counted)
        return PROTO_OK;
    uint8_t code[CODE_LEN], key[KEY_LEN];
    broker_store_code(code, recipient);
    s_key(key, code, s_level(urgency));
    return broker_store_count_add(self, key, KEY_LEN, delta);
}

// ---------------------------------------------------------------------------
//  Building the counts once, from the queues

typedef struct {
    uint8_t code[CODE_LEN];
    uint8_t level;
    uint64_t n;
} s_run_t;

typedef struct {
    s_run_t *runs;
    size_t n, cap;
    bool failed;
} s_runs_t;

//  The queue is sorted by recipient then level: each (recipient, level) is
//  one run of consecutive keys.
static bool s_build_step(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                         size_t vlen)
{
    s_runs_t *runs = arg;
    (void) value;
    (void) vlen;
    if (klen != CODE_LEN + 9)
        return true;
    s_run_t *last = runs->n ? &runs->runs[runs->n - 1] : NULL;
    if (last && last->level == key[CODE_LEN] && memcmp(last->code, key, CODE_LEN) == 0) {
        last->n++;
        return true;
    }
    if (runs->n == runs->cap) {
        size_t cap = runs->cap ? 2 * runs->cap : 64;
        s_run_t *grown = realloc(runs->runs, cap * sizeof *grown);
        if (!grown) {
            runs->failed = true;
            return false;
        }
        runs->runs = grown;
        runs->cap = cap;
    }
    last = &runs->runs[runs->n++];
    memcpy(last->code, key, CODE_LEN);
    last->level = key[CODE_LEN];
    last->n = 1;
    return true;
}

void broker_store_waiting_open(broker_store_t *self)
{
    //  Read the marker in a write transaction: most opens stop right there
    //  and abort it.
    if (broker_store_begin(self) != PROTO_OK)
        return;
    if (broker_store_meta_u64(self, WAITING_MARKER) ==
        broker_store_meta_u64(self, "audit_seq") + 1) {
        self->counted = true;
        broker_store_abort(self);
        return;
    }
    proto_err_t rc = broker_store_count_clear(self, "w:", KEY_LEN);
    if (!rc)
        rc = broker_store_hop_counts_rebuild(self);
    s_runs_t runs = { 0 };
    if (!rc)
        broker_store_kv_scan(self, DB_QUEUE, NULL, 0, s_build_step, &runs);
    if (!rc && runs.failed)
        rc = PROTO_ERR_NOMEM;
    for (size_t i = 0; !rc && i < runs.n; i++) {
        uint8_t key[KEY_LEN];
        s_key(key, runs.runs[i].code, runs.runs[i].level);
        rc = broker_store_count_put(self, key, KEY_LEN, runs.runs[i].n);
    }
    free(runs.runs);
    self->counted = rc == PROTO_OK; // the commit writes the marker
    if (!rc)
        rc = broker_store_commit(self);
    else
        broker_store_abort(self);
    self->counted = rc == PROTO_OK;
}

proto_err_t broker_store_waiting_mark(broker_store_t *self)
{
    if (!self->counted)
        return PROTO_OK;
    return broker_store_meta_put_u64(self, WAITING_MARKER,
                                     broker_store_meta_u64(self, "audit_seq") + 1);
}

// ---------------------------------------------------------------------------
//  Reading

typedef struct {
    broker_store_t *store;
    const char *recipient;
    uint64_t now;
    broker_waiting_t *out;
    bool count; // walking for counts too (no marker)
} s_read_t;

static void s_oldest(s_read_t *r, const uint8_t *value, uint8_t level)
{
    proto_id_t id;
    memcpy(id.bytes, value, PROTO_ID_LEN);
    broker_dlv_t dlv;
    uint8_t urgency = (uint8_t) (3 - level);
    if (broker_store_dlv_get(r->store, r->recipient, &id, &dlv) == PROTO_OK && r->now > dlv.time)
        r->out->oldest_age[urgency] = r->now - dlv.time;
}

//  The first entry of a level is its oldest; without counts, every entry
//  is counted on the way.
static bool s_read_step(void *arg, const uint8_t *key, size_t klen, const uint8_t *value,
                        size_t vlen)
{
    s_read_t *r = arg;
    if (vlen != PROTO_ID_LEN || klen != CODE_LEN + 9 || key[CODE_LEN] >= LEVELS)
        return r->count;
    uint8_t urgency = (uint8_t) (3 - key[CODE_LEN]);
    if (r->count && r->out->count[urgency]++ > 0)
        return true;
    s_oldest(r, value, key[CODE_LEN]);
    return r->count;
}

void broker_store_waiting(broker_store_t *self, const char *recipient, uint64_t now,
                          broker_waiting_t *out)
{
    memset(out, 0, sizeof *out);
    s_read_t r = { self, recipient, now, out, !self->counted };
    uint8_t prefix[CODE_LEN + 1];
    broker_store_code(prefix, recipient);
    if (r.count) {
        broker_store_kv_scan(self, DB_QUEUE, prefix, CODE_LEN, s_read_step, &r);
        return;
    }
    for (uint8_t level = 0; level < LEVELS; level++) {
        uint8_t key[KEY_LEN];
        s_key(key, prefix, level);
        uint8_t urgency = (uint8_t) (3 - level);
        out->count[urgency] = broker_store_count_get(self, key, KEY_LEN);
        if (!out->count[urgency])
            continue;
        prefix[CODE_LEN] = level;
        broker_store_kv_scan(self, DB_QUEUE, prefix, CODE_LEN + 1, s_read_step, &r);
    }
}

size_t broker_store_queue_depth(broker_store_t *self, const char *recipient, uint64_t now,
                                uint64_t *oldest_age)
{
    broker_waiting_t w;
    broker_store_waiting(self, recipient, now, &w);
    uint64_t total = 0, oldest = 0;
    for (int u = 0; u < LEVELS; u++) {
        total += w.count[u];
        oldest = w.oldest_age[u] > oldest ? w.oldest_age[u] : oldest;
    }
    if (oldest_age)
        *oldest_age = oldest;
    return (size_t) total;
}
