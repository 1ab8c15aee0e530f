/*  test_store_waiting.c - the waiting counts the broker keeps per recipient
    and urgency (broker/store_waiting.c).

    On a real LMDB store in a fresh mkdtemp directory: after every change
    that moves a queue (documents added, delivered, expired, a batch
    aborted, a nested transaction thrown away, a reopen, and a store written
    before the counts existed) broker_store_waiting must give exactly what a
    walk of the queues counts. The walk is the reference: it is what
    `truc-admin status` did on the loop thread before the counts. An older
    broker writing the store after a downgrade has them built again.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>
#include <unistd.h>

#include "store.h"

#define S_T0     1767225600000ull // 2026-01-01T00:00:00Z in ms
#define S_SENDER "000.00.01.H01"
#define S_R1     "000.05.01.H01"
#define S_R2     "001.05.01.H01"
#define S_R3     "002.05.01.H01"
#define S_MAP    (64ull << 20)
#define S_TTL    3600000ull

static const char *const s_recipients[3] = { S_R1, S_R2, S_R3 };

typedef struct {
    char root[512];
    char data[600];
} s_fx_t;

static int s_setup(void **state)
{
    s_fx_t *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->root, sizeof fx->root, "%s/truc-waiting-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx->root)) {
        free(fx);
        return -1;
    }
    snprintf(fx->data, sizeof fx->data, "%s/data", fx->root);
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    s_fx_t *fx = *state;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->root);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", fx->root);
    free(fx);
    return 0;
}

static broker_store_t *s_open(const char *dir)
{
    char err[256] = "";
    broker_store_t *store = broker_store_open(dir, S_MAP, err, sizeof err);
    if (!store)
        print_error("broker_store_open %s: %s\n", dir, err);
    assert_non_null(store);
    return store;
}

static proto_id_t s_id(uint8_t n)
{
    proto_id_t id;
    for (size_t i = 0; i < PROTO_ID_LEN; i++)
        id.bytes[i] = (uint8_t) (n * 31u + i);
    return id;
}

//  Document n, accepted at S_T0 + 1000 n, for the first nto recipients.
static void s_add(broker_store_t *store, uint8_t n, uint8_t urgency, uint32_t nto)
{
    broker_doc_t doc;
    memset(&doc, 0, sizeof doc);
    doc.id = s_id(n);
    snprintf(doc.from, sizeof doc.from, "%s", S_SENDER);
    doc.accepted = S_T0 + 1000u * n;
    doc.seq = 100u + n;
    doc.kind = PROTO_KIND_SUBMIT;
    doc.urgency = urgency;
    doc.nto = doc.open = nto;
    const void *frames[1] = { "body" };
    size_t lens[1] = { 4 };
    assert_int_equal(broker_store_doc_add(store, &doc, s_recipients, frames, lens, 1, S_TTL),
                     PROTO_OK);
}

typedef struct {
    broker_store_t *store;
    const char *recipient;
    uint64_t now;
    broker_waiting_t w;
} s_walk_t;

static bool s_walk_step(void *arg, const proto_id_t *id)
{
    s_walk_t *walk = arg;
    broker_doc_t doc;
    broker_dlv_t dlv;
    assert_int_equal(broker_store_doc_get(walk->store, id, &doc), PROTO_OK);
    assert_int_equal(broker_store_dlv_get(walk->store, walk->recipient, id, &dlv), PROTO_OK);
    assert_int_equal(dlv.state, BROKER_DLV_WAITING);
    walk->w.count[doc.urgency]++;
    uint64_t age = walk->now - dlv.time;
    if (age > walk->w.oldest_age[doc.urgency])
        walk->w.oldest_age[doc.urgency] = age;
    return true;
}

//  The counts equal a walk of every recipient's queue; returns the total.
static uint64_t s_check(broker_store_t *store)
{
    uint64_t now = S_T0 + 100000, total = 0;
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    for (size_t r = 0; r < 3; r++) {
        s_walk_t walk = { store, s_recipients[r], now, { { 0 }, { 0 } } };
        broker_store_queue_scan(store, s_recipients[r], s_walk_step, &walk);
        broker_waiting_t got;
        broker_store_waiting(store, s_recipients[r], now, &got);
        for (int u = 0; u < 4; u++) {
            if (got.count[u] != walk.w.count[u] || got.oldest_age[u] != walk.w.oldest_age[u])
                print_error("%s urgency %d: counted %llu oldest %llu, queue has %llu oldest "
                            "%llu\n",
                            s_recipients[r], u, (unsigned long long) got.count[u],
                            (unsigned long long) got.oldest_age[u],
                            (unsigned long long) walk.w.count[u],
                            (unsigned long long) walk.w.oldest_age[u]);
            assert_int_equal(got.count[u], walk.w.count[u]);
            assert_int_equal(got.oldest_age[u], walk.w.oldest_age[u]);
            total += got.count[u];
        }
    }
    broker_store_read_end(store);
    return total;
}

static void s_waiting_of(broker_store_t *store, const char *recipient, broker_waiting_t *w)
{
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    broker_store_waiting(store, recipient, S_T0 + 100000, w);
    broker_store_read_end(store);
}

//  Remove what store_waiting.c writes, as a store from before the counts
//  looks. The store must be closed.
static void s_strip_counts(const char *data)
{
    char path[700];
    snprintf(path, sizeof path, "%s/store", data);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_set_mapsize(env, S_MAP), 0);
    assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
    MDB_val k, v;
    size_t removed = 0;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        const char *key = k.mv_data;
        if ((k.mv_size > 2 && key[0] == 'w' && key[1] == ':') ||
            (k.mv_size == 14 && memcmp(key, "waiting_counts", 14) == 0)) {
            assert_int_equal(mdb_cursor_del(cur, 0), 0);
            removed++;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    assert_int_equal(rc, MDB_NOTFOUND);
    assert_true(removed >= 2); // the marker and at least one count
    mdb_cursor_close(cur);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

//  What an older broker does to a store after a downgrade, as far as the
//  counts go: it ends a delivery (the queue row goes, an audit entry is
//  appended) without moving the count. Here R3's only document at
//  urgency 1 (document 8, seq 108) leaves the queue. The store must be
//  closed.
static void s_older_broker_writes(const char *data)
{
    char path[700];
    snprintf(path, sizeof path, "%s/store", data);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi queue, meta;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_set_mapsize(env, S_MAP), 0);
    assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "queue", 0, &queue), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    uint8_t qkey[PROTO_AGENCY_CODE_LEN + 9] = { 0 };
    memcpy(qkey, S_R3, strlen(S_R3));
    qkey[PROTO_AGENCY_CODE_LEN] = 3 - 1;
    qkey[PROTO_AGENCY_CODE_LEN + 8] = 108;
    MDB_val k = { sizeof qkey, qkey };
    assert_int_equal(mdb_del(txn, queue, &k, NULL), 0);
    char name[] = "audit_seq";
    MDB_val sk = { 9, name }, sv;
    uint8_t seq[8] = { 0 };
    if (mdb_get(txn, meta, &sk, &sv) == 0 && sv.mv_size == 8)
        memcpy(seq, sv.mv_data, 8);
    seq[0]++; // little-endian: one entry more
    sv = (MDB_val){ 8, seq };
    assert_int_equal(mdb_put(txn, meta, &sk, &sv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void s_test_counts_follow_the_queues(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data);
    assert_int_equal(s_check(store), 0);

    //  Added: every urgency, one to three recipients.
    static const uint8_t urgency[10] = { 0, 0, 3, 1, 2, 3, 0, 2, 1, 0 };
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    for (uint8_t n = 1; n <= 9; n++)
        s_add(store, n, urgency[n], 1 + n % 3);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
    assert_int_equal(s_check(store), 9 + 6 + 3);
    broker_waiting_t w;
    s_waiting_of(store, S_R1, &w);
    assert_int_equal(w.count[0], 3);          // documents 1, 6, 9
    assert_int_equal(w.oldest_age[0], 99000); // document 1 at S_T0 + 1000
    assert_int_equal(w.count[3], 2);          // documents 2 and 5
    assert_int_equal(w.oldest_age[3], 98000); // document 2
    s_waiting_of(store, S_R3, &w);
    assert_int_equal(w.count[0] + w.count[1] + w.count[2] + w.count[3], 3); // 2, 5, 8
    uint64_t oldest = 0;
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_int_equal(broker_store_queue_depth(store, S_R1, S_T0 + 100000, &oldest), 9);
    assert_int_equal(oldest, 99000);
    broker_store_read_end(store);

    //  Aborted batch and a thrown-away nested transaction: nothing moves.
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    s_add(store, 20, 3, 3);
    broker_store_abort(store);
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_nest(store), PROTO_OK);
    s_add(store, 21, 2, 3);
    proto_id_t id1 = s_id(1);
    assert_int_equal(broker_store_dlv_set(store, S_R1, &id1, BROKER_DLV_DELIVERED, S_T0 + 50000),
                     PROTO_OK);
    assert_int_equal(broker_store_unnest(store, false), PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
    assert_int_equal(s_check(store), 18);

    //  Delivered, expired, returned: out of the counts; setting a state
    //  again on a delivery that has left the queue moves nothing.
    proto_id_t id2 = s_id(2), id5 = s_id(5);
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_dlv_set(store, S_R1, &id1, BROKER_DLV_DELIVERED, S_T0 + 50000),
                     PROTO_OK);
    assert_int_equal(broker_store_dlv_set(store, S_R1, &id1, BROKER_DLV_DELIVERED, S_T0 + 51000),
                     PROTO_OK);
    assert_int_equal(broker_store_dlv_set(store, S_R3, &id2, BROKER_DLV_EXPIRED, S_T0 + 50000),
                     PROTO_OK);
    assert_int_equal(broker_store_dlv_set(store, S_R2, &id5, BROKER_DLV_RETURNED, S_T0 + 50000),
                     PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
    assert_int_equal(s_check(store), 15);
    s_waiting_of(store, S_R1, &w);
    assert_int_equal(w.count[0], 2);
    assert_int_equal(w.oldest_age[0], 94000); // document 6 is now R1's oldest normal one

    //  Reopened: the same counts, from the store.
    broker_store_destroy(&store);
    store = s_open(fx->data);
    assert_int_equal(s_check(store), 15);

    //  A store from before the counts: built once at open, then kept.
    broker_store_destroy(&store);
    s_strip_counts(fx->data);
    store = s_open(fx->data);
    assert_int_equal(s_check(store), 15);
    proto_id_t id9 = s_id(9);
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    s_add(store, 30, 1, 2);
    assert_int_equal(broker_store_dlv_set(store, S_R1, &id9, BROKER_DLV_DELIVERED, S_T0 + 60000),
                     PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
    assert_int_equal(s_check(store), 16);
    broker_store_destroy(&store);
    store = s_open(fx->data);
    assert_int_equal(s_check(store), 16);

    //  An older broker ran on the store meanwhile: its audit entries no
    //  longer match the mark, so the counts are built again, and the count
    //  of the level it emptied goes.
    broker_store_destroy(&store);
    s_older_broker_writes(fx->data);
    store = s_open(fx->data);
    assert_int_equal(s_check(store), 15);
    s_waiting_of(store, S_R3, &w);
    assert_int_equal(w.count[1], 0);
    broker_store_destroy(&store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(s_test_counts_follow_the_queues, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
