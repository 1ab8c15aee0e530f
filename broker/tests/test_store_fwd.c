/*  test_store_fwd.c - the store's link queues and hop records (store_fwd.c).

    Real LMDB files in a fresh mkdtemp directory, removed afterwards. What
    is proved: a hop is recorded once and queued for its link only; a link's
    queue is in push order (most urgent first, then oldest), apart from
    every other link's even when one label is a prefix of another; an
    answer takes the hop out of the queue, is kept across a reopen and
    comes only once; hop deadlines are taken once, oldest first, when due;
    and a store written before these tables existed (the tables dropped
    with LMDB itself) opens with them empty.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "store_fixture.h"
#include "store_fwd.h"

#define S_T0       1767225600000ull
#define S_MAP      (16ull << 20)
#define S_PATH_MAX 4096

typedef bt_fx_t s_fx_t;

static int s_setup(void **state)
{
    return bt_fx_setup(state, "hops");
}

static int s_teardown(void **state)
{
    return bt_fx_teardown(state);
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
    memset(id.bytes, 0, sizeof id.bytes);
    id.bytes[15] = n;
    return id;
}

typedef struct {
    uint8_t ids[16];
    size_t n;
} s_seen_t;

static bool s_collect(void *arg, const proto_id_t *id)
{
    s_seen_t *seen = arg;
    if (seen->n < sizeof seen->ids)
        seen->ids[seen->n++] = id->bytes[15];
    return true;
}

//  The ids queued for label, in a read transaction of its own.
static s_seen_t s_scan(broker_store_t *store, const char *label)
{
    s_seen_t seen = { .n = 0 };
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    size_t visited = broker_store_hop_scan(store, label, s_collect, &seen);
    assert_int_equal(visited, seen.n);
    broker_store_read_end(store);
    return seen;
}

static void s_test_queue_order_and_answers(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data);
    proto_id_t a = s_id(1), b = s_id(2), c = s_id(3), d = s_id(4);
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    //  Two normal documents, then an immediate one: the immediate goes first.
    assert_int_equal(broker_store_hop_add(store, "n", &a, PROTO_URGENCY_NORMAL, 10, S_T0),
                     PROTO_OK);
    assert_int_equal(broker_store_hop_add(store, "n", &b, PROTO_URGENCY_NORMAL, 11, S_T0),
                     PROTO_OK);
    assert_int_equal(broker_store_hop_add(store, "n", &c, PROTO_URGENCY_IMMEDIATE, 12, S_T0),
                     PROTO_OK);
    //  A label that "n" is a prefix of keeps its own queue.
    assert_int_equal(broker_store_hop_add(store, "n2", &d, PROTO_URGENCY_NORMAL, 13, S_T0),
                     PROTO_OK);
    assert_int_equal(broker_store_hop_add(store, "n", &a, PROTO_URGENCY_NORMAL, 10, S_T0),
                     PROTO_ERR_EXISTS);
    assert_int_equal(broker_store_hop_add(store, "", &a, PROTO_URGENCY_NORMAL, 10, S_T0),
                     PROTO_ERR_INVALID_ARG);
    assert_int_equal(broker_store_commit(store), PROTO_OK);

    s_seen_t seen = s_scan(store, "n");
    assert_int_equal(seen.n, 3);
    assert_int_equal(seen.ids[0], 3);
    assert_int_equal(seen.ids[1], 1);
    assert_int_equal(seen.ids[2], 2);
    seen = s_scan(store, "n2");
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.ids[0], 4);
    assert_int_equal(s_scan(store, "elsewhere").n, 0);

    //  The next broker accepted c and refused a: both leave the queue.
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_hop_answer(store, "n", &c, BROKER_HOP_DONE, 0, S_T0 + 5),
                     PROTO_OK);
    assert_int_equal(
        broker_store_hop_answer(store, "n", &a, BROKER_HOP_REFUSED, PROTO_ERR_ROUTE_LOOP, S_T0 + 6),
        PROTO_OK);
    assert_int_equal(broker_store_hop_answer(store, "n", &c, BROKER_HOP_DONE, 0, S_T0 + 7),
                     PROTO_ERR_BAD_STATE);
    assert_int_equal(broker_store_hop_answer(store, "n", &d, BROKER_HOP_DONE, 0, S_T0 + 7),
                     PROTO_ERR_NOT_FOUND);
    assert_int_equal(broker_store_hop_answer(store, "n", &b, BROKER_HOP_WAITING, 0, S_T0 + 7),
                     PROTO_ERR_INVALID_ARG);
    assert_int_equal(broker_store_commit(store), PROTO_OK);

    //  Durable: after a reopen the queue and the answers are as left.
    broker_store_destroy(&store);
    store = s_open(fx->data);
    seen = s_scan(store, "n");
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.ids[0], 2);
    broker_hop_t hop;
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_hop_get(store, "n", &c, &hop), PROTO_OK);
    assert_int_equal(hop.state, BROKER_HOP_DONE);
    assert_int_equal(hop.time, S_T0 + 5);
    assert_int_equal(hop.urgency, PROTO_URGENCY_IMMEDIATE);
    assert_int_equal(hop.queue_seq, 12);
    assert_int_equal(broker_store_hop_get(store, "n", &a, &hop), PROTO_OK);
    assert_int_equal(hop.state, BROKER_HOP_REFUSED);
    assert_int_equal(hop.code, PROTO_ERR_ROUTE_LOOP);
    assert_int_equal(broker_store_hop_get(store, "n", &b, &hop), PROTO_OK);
    assert_int_equal(hop.state, BROKER_HOP_WAITING);
    assert_int_equal(hop.time, S_T0);
    assert_int_equal(broker_store_hop_get(store, "n2", &a, &hop), PROTO_ERR_NOT_FOUND);
    broker_store_abort(store);
    broker_store_destroy(&store);
}

typedef struct {
    char labels[4][PROTO_LABEL_MAX + 1];
    uint64_t counts[4];
    size_t n;
} s_counts_t;

static bool s_count_one(void *arg, const char *label, uint64_t queued)
{
    s_counts_t *c = arg;
    if (c->n < 4) {
        snprintf(c->labels[c->n], sizeof c->labels[c->n], "%s", label);
        c->counts[c->n++] = queued;
    }
    return true;
}

//  The labels with hops queued and their counts, in a read transaction.
static s_counts_t s_counts(broker_store_t *store)
{
    s_counts_t c = { .n = 0 };
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    size_t visited = broker_store_hop_labels(store, s_count_one, &c);
    assert_int_equal(visited, c.n);
    broker_store_read_end(store);
    return c;
}

//  Make the meta record "l:n" say 99 and drop the counts' marker, as a
//  store written by a broker that kept no counts looks. The store must be
//  closed.
static void s_spoil_counts(const char *data)
{
    char path[S_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/store", data);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_set_mapsize(env, S_MAP), 0);
    assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    uint8_t key[2 + PROTO_LABEL_MAX] = { 'l', ':', 'n' }, value[8] = { 99 };
    MDB_val k = { sizeof key, key }, v = { sizeof value, value };
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    MDB_val marker = { 14, (void *) "waiting_counts" };
    assert_int_equal(mdb_del(txn, dbi, &marker, NULL), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

//  The counts of the link queues follow every add and answer, an aborted
//  transaction takes its count back, and a store whose counts cannot be
//  trusted has them rebuilt at open. The oldest is the first of each
//  urgency.
static void s_test_queue_counts(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data);
    proto_id_t a = s_id(1), b = s_id(2), c = s_id(3), d = s_id(4);
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_hop_add(store, "n", &a, PROTO_URGENCY_NORMAL, 10, S_T0),
                     PROTO_OK);
    assert_int_equal(broker_store_hop_add(store, "n", &b, PROTO_URGENCY_NORMAL, 11, S_T0 + 10),
                     PROTO_OK);
    assert_int_equal(broker_store_hop_add(store, "n", &c, PROTO_URGENCY_IMMEDIATE, 12, S_T0 + 20),
                     PROTO_OK);
    assert_int_equal(broker_store_hop_add(store, "n2", &d, PROTO_URGENCY_NORMAL, 13, S_T0 + 30),
                     PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
    s_counts_t got = s_counts(store);
    assert_int_equal(got.n, 2);
    assert_string_equal(got.labels[0], "n");
    assert_int_equal(got.counts[0], 3);
    assert_string_equal(got.labels[1], "n2");
    assert_int_equal(got.counts[1], 1);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_int_equal(broker_store_hop_oldest(store, "n", S_T0 + 1000), 1000);
    assert_int_equal(broker_store_hop_oldest(store, "n2", S_T0 + 1000), 970);
    assert_int_equal(broker_store_hop_oldest(store, "elsewhere", S_T0 + 1000), 0);
    broker_store_read_end(store);

    //  Aborted: the add and its count go together.
    proto_id_t e = s_id(5);
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_hop_add(store, "n", &e, PROTO_URGENCY_NORMAL, 14, S_T0),
                     PROTO_OK);
    broker_store_abort(store);
    assert_int_equal(s_counts(store).counts[0], 3);

    //  Answered hops leave the count; an empty queue leaves no label.
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_hop_answer(store, "n", &a, BROKER_HOP_DONE, 0, S_T0 + 5),
                     PROTO_OK);
    assert_int_equal(
        broker_store_hop_answer(store, "n2", &d, BROKER_HOP_EXPIRED, PROTO_ERR_EXPIRED, S_T0 + 5),
        PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
    got = s_counts(store);
    assert_int_equal(got.n, 1);
    assert_string_equal(got.labels[0], "n");
    assert_int_equal(got.counts[0], 2);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_int_equal(broker_store_hop_oldest(store, "n", S_T0 + 1000), 990); // b now
    broker_store_read_end(store);

    //  Counts that cannot be trusted are rebuilt from the queues at open,
    //  and the records beside them (a quota, "q:" and a code) stay.
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_quota_add(store, "000.00.01.H01", 3, 300), PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
    broker_store_destroy(&store);
    s_spoil_counts(fx->data);
    store = s_open(fx->data);
    got = s_counts(store);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.counts[0], 2);
    uint64_t documents = 0, bytes = 0;
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_int_equal(broker_store_quota_get(store, "000.00.01.H01", &documents, &bytes), PROTO_OK);
    broker_store_read_end(store);
    assert_int_equal(documents, 3);
    assert_int_equal(bytes, 300);
    broker_store_destroy(&store);
}

//  A store from before federation has no hops or hopq table.
static void s_test_older_store(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data);
    proto_id_t a = s_id(1);
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_hop_add(store, "n", &a, 0, 1, S_T0), PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
    broker_store_destroy(&store);

    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_set_mapsize(env, S_MAP), 0);
    char path[S_PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/store", fx->data);
    assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    static const char *const names[] = { "hops", "hopq" };
    for (int i = 0; i < 2; i++) {
        assert_int_equal(mdb_dbi_open(txn, names[i], 0, &dbi), 0);
        assert_int_equal(mdb_drop(txn, dbi, 1), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    store = s_open(fx->data);
    assert_int_equal(s_scan(store, "n").n, 0);
    broker_hop_t hop;
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_hop_get(store, "n", &a, &hop), PROTO_ERR_NOT_FOUND);
    assert_int_equal(broker_store_hop_add(store, "n", &a, 0, 1, S_T0), PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
    assert_int_equal(s_scan(store, "n").n, 1);
    broker_store_destroy(&store);
}

typedef struct {
    char labels[8][PROTO_LABEL_MAX + 1];
    uint8_t ids[8];
    size_t n;
} s_due_seen_t;

static void s_due(void *arg, const char *label, const proto_id_t *id)
{
    s_due_seen_t *seen = arg;
    if (seen->n < 8) {
        snprintf(seen->labels[seen->n], sizeof seen->labels[seen->n], "%s", label);
        seen->ids[seen->n++] = id->bytes[15];
    }
}

//  Hop deadlines: taken once each, oldest first, only when due, and an
//  expired hop leaves the queue like an answered one.
static void s_test_hop_deadlines(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data);
    proto_id_t a = s_id(1), b = s_id(2), c = s_id(3);
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_hop_add(store, "n", &a, 0, 1, S_T0), PROTO_OK);
    assert_int_equal(broker_store_hop_add(store, "n2", &b, 0, 2, S_T0), PROTO_OK);
    assert_int_equal(broker_store_hop_add(store, "n", &c, 0, 3, S_T0), PROTO_OK);
    assert_int_equal(broker_store_hop_deadline(store, "n", &a, S_T0 + 20), PROTO_OK);
    assert_int_equal(broker_store_hop_deadline(store, "n2", &b, S_T0 + 10), PROTO_OK);
    assert_int_equal(broker_store_hop_deadline(store, "n", &c, S_T0 + 30), PROTO_OK);
    assert_int_equal(broker_store_hop_deadline(store, "", &c, S_T0 + 30), PROTO_ERR_INVALID_ARG);
    assert_int_equal(broker_store_commit(store), PROTO_OK);

    s_due_seen_t seen = { .n = 0 };
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_hop_expiry_scan(store, S_T0 + 9, 16, s_due, &seen), 0);
    assert_int_equal(broker_store_hop_expiry_scan(store, S_T0 + 20, 16, s_due, &seen), 2);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.labels[0], "n2");
    assert_int_equal(seen.ids[0], 2);
    assert_string_equal(seen.labels[1], "n");
    assert_int_equal(seen.ids[1], 1);
    //  Taken rows are gone: the same time takes nothing more.
    assert_int_equal(broker_store_hop_expiry_scan(store, S_T0 + 20, 16, s_due, &seen), 0);
    assert_int_equal(
        broker_store_hop_answer(store, "n", &a, BROKER_HOP_EXPIRED, PROTO_ERR_EXPIRED, S_T0 + 21),
        PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
    s_seen_t q = s_scan(store, "n");
    assert_int_equal(q.n, 1);
    assert_int_equal(q.ids[0], 3);
    broker_hop_t hop;
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_hop_get(store, "n", &a, &hop), PROTO_OK);
    assert_int_equal(hop.state, BROKER_HOP_EXPIRED);
    assert_int_equal(hop.code, PROTO_ERR_EXPIRED);
    broker_store_abort(store);
    broker_store_destroy(&store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(s_test_queue_order_and_answers, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_older_store, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_queue_counts, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_hop_deadlines, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("broker_store_fwd", tests, NULL, NULL);
}
