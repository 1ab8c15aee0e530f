/*  test_tlog.c - the transparency log in the broker's store (tlog.c).

    Real LMDB files in a fresh mkdtemp directory, removed afterwards. What
    is proved: the stored log gives the same roots and consistency proofs
    as proto/tlog.h over the same leaves held in memory; 100,000 leaves
    are appended and proofs between any sizes still cost a few reads each
    (timed, with a bound far above what any machine needs); a leaf is only
    ever the next one; a leaf record changed behind the broker's back makes
    proofs through it fail against the roots recorded at append time; a
    store written before the log existed (the table dropped with LMDB
    itself) opens with an empty log; and signed heads and LOG_PROOF answers
    verify with the broker's key.
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
#include <sodium.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proto/tlog.h"
#include "store.h"
#include "store_fixture.h"
#include "tlog.h"

#define S_T0       1767225600000ull
#define S_MAP      (256ull << 20)
#define S_PATH_MAX 4096
#define S_BROKER   "truc-hub"
#define S_BIG      100000

typedef bt_fx_t s_fx_t;

static int s_setup(void **state)
{
    if (sodium_init() < 0)
        return -1;
    return bt_fx_setup(state, "tlog");
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

//  The head of batch i (0-based): what a group commit would sign.
static proto_head_t s_head(uint64_t i)
{
    proto_head_t head = { .signer = S_BROKER, .time = S_T0 + i, .size = 1 + i % 7, .log = i + 1 };
    memset(head.root, (int) (i & 0xff), PROTO_HASH_LEN);
    head.root[0] = (uint8_t) (i >> 8);
    head.root[1] = (uint8_t) (i >> 16);
    return head;
}

//  Append leaves [from, to) in transactions of at most 1,000, and keep
//  their hashes in hashes (if not NULL).
static void s_append(broker_store_t *store, uint64_t from, uint64_t to,
                     uint8_t (*hashes)[PROTO_HASH_LEN])
{
    uint8_t sig[PROTO_SIG_LEN];
    memset(sig, 0x51, sizeof sig);
    for (uint64_t i = from; i < to;) {
        assert_int_equal(broker_store_begin(store), PROTO_OK);
        for (uint64_t end = i + 1000 < to ? i + 1000 : to; i < end; i++) {
            proto_head_t head = s_head(i);
            assert_int_equal(broker_tlog_append(store, &head, sig), PROTO_OK);
            if (hashes)
                assert_int_equal(proto_tlog_leaf_hash(&head, hashes[i]), PROTO_OK);
        }
        assert_int_equal(broker_store_commit(store), PROTO_OK);
    }
}

static proto_err_t s_stored_verify(broker_store_t *store, uint64_t m, uint64_t n)
{
    uint8_t proof[PROTO_TLOG_MAX_PROOF][PROTO_HASH_LEN], rm[PROTO_HASH_LEN], rn[PROTO_HASH_LEN];
    uint32_t count = 0;
    assert_int_equal(broker_tlog_root(store, m, rm), PROTO_OK);
    assert_int_equal(broker_tlog_root(store, n, rn), PROTO_OK);
    assert_int_equal(broker_tlog_prove(store, m, n, proof, &count), PROTO_OK);
    return proto_tlog_verify(m, rm, n, rn, (const uint8_t(*)[PROTO_HASH_LEN]) proof, count);
}

static void test_matches_memory(void **state)
{
    s_fx_t *fx = *state;
    enum { N = 70 };
    static uint8_t hashes[N][PROTO_HASH_LEN];
    broker_store_t *store = s_open(fx->data);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_int_equal(broker_tlog_size(store), 0);
    broker_store_read_end(store);
    s_append(store, 0, N, hashes);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_int_equal(broker_tlog_size(store), N);
    for (uint64_t n = 0; n <= N; n++) {
        proto_tlog_mem_t mem = { .leaves = (const uint8_t(*)[PROTO_HASH_LEN]) hashes, .n = n };
        uint8_t want[PROTO_HASH_LEN], got[PROTO_HASH_LEN];
        assert_int_equal(proto_tlog_root(n, proto_tlog_mem_node, &mem, want), PROTO_OK);
        assert_int_equal(broker_tlog_root(store, n, got), PROTO_OK);
        assert_memory_equal(got, want, PROTO_HASH_LEN);
        for (uint64_t m = 0; m <= n; m++) {
            uint8_t a[PROTO_TLOG_MAX_PROOF][PROTO_HASH_LEN],
                b[PROTO_TLOG_MAX_PROOF][PROTO_HASH_LEN];
            uint32_t na = 0, nb = 0;
            assert_int_equal(broker_tlog_prove(store, m, n, a, &na), PROTO_OK);
            assert_int_equal(proto_tlog_prove(m, n, proto_tlog_mem_node, &mem, b, &nb), PROTO_OK);
            assert_int_equal(na, nb);
            assert_memory_equal(a, b, (size_t) na * PROTO_HASH_LEN);
            assert_int_equal(s_stored_verify(store, m, n), PROTO_OK);
        }
    }
    uint8_t root[PROTO_HASH_LEN], proof[PROTO_TLOG_MAX_PROOF][PROTO_HASH_LEN];
    uint32_t count;
    assert_int_equal(broker_tlog_root(store, N + 1, root), PROTO_ERR_NOT_FOUND);
    assert_int_equal(broker_tlog_prove(store, 3, N + 1, proof, &count), PROTO_ERR_NOT_FOUND);
    assert_int_equal(broker_tlog_prove(store, 9, 3, proof, &count), PROTO_ERR_INVALID_ARG);
    broker_store_read_end(store);

    //  Only the next leaf may be appended: a head naming another place is
    //  refused, and nothing of it is written.
    uint8_t sig[PROTO_SIG_LEN] = { 0 };
    proto_head_t head = s_head(N + 1);
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_tlog_append(store, &head, sig), PROTO_ERR_INVALID_ARG);
    head.log = 0;
    assert_int_equal(broker_tlog_append(store, &head, sig), PROTO_ERR_INVALID_ARG);
    assert_int_equal(broker_tlog_size(store), N);
    broker_store_abort(store);

    //  The log survives a reopen.
    broker_store_destroy(&store);
    store = s_open(fx->data);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_int_equal(broker_tlog_size(store), N);
    assert_int_equal(s_stored_verify(store, 13, N), PROTO_OK);
    broker_store_read_end(store);
    broker_store_destroy(&store);
}

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void test_large_log(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data);
    double t0 = s_now();
    s_append(store, 0, S_BIG, NULL);
    double t1 = s_now();
    //  Proofs between many pairs of sizes, small and large, in one read
    //  transaction: each is O(log n) reads.
    enum { PROOFS = 2000 };
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_int_equal(broker_tlog_size(store), S_BIG);
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < PROOFS; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t n = 1 + x % S_BIG, m = (x >> 20) % (n + 1);
        if (i == 0)
            m = 1, n = S_BIG;
        if (i == 1)
            m = S_BIG - 1, n = S_BIG;
        assert_int_equal(s_stored_verify(store, m, n), PROTO_OK);
    }
    double t2 = s_now();
    broker_store_read_end(store);
    double per_proof_ms = (t2 - t1) * 1000.0 / PROOFS;
    print_message("tlog: %d leaves appended in %.2f s; %d proofs, %.3f ms each\n", S_BIG, t1 - t0,
                  PROOFS, per_proof_ms);
    //  A proof over 100,000 leaves reads about 2 log2 n records; a hundred
    //  milliseconds would mean something reads the whole log.
    assert_true(per_proof_ms < 100.0);
    broker_store_destroy(&store);
}

//  Change one byte of leaf index's record with LMDB itself, as someone
//  editing the store behind the broker's back would.
static void s_tamper(const char *data, uint64_t index)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_set_mapsize(env, S_MAP), 0);
    char path[S_PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/store", data);
    assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "tlog", 0, &dbi), 0);
    uint8_t k[9] = { 'L' };
    for (int i = 0; i < 8; i++)
        k[1 + i] = (uint8_t) (index >> (56 - 8 * i));
    MDB_val key = { sizeof k, k }, val;
    assert_int_equal(mdb_get(txn, dbi, &key, &val), 0);
    uint8_t copy[512];
    assert_true(val.mv_size <= sizeof copy);
    memcpy(copy, val.mv_data, val.mv_size);
    copy[val.mv_size - 1] ^= 0x01; // the last byte of the head's bytes
    MDB_val changed = { val.mv_size, copy };
    assert_int_equal(mdb_put(txn, dbi, &key, &changed, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void test_tampered_leaf(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data);
    s_append(store, 0, 20, NULL);
    broker_store_destroy(&store);
    s_tamper(fx->data, 6);
    store = s_open(fx->data);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    //  Leaf 6 is the last leaf of size 7: the proof from 7 starts with it.
    assert_int_equal(s_stored_verify(store, 7, 20), PROTO_ERR_BAD_PROOF);
    assert_int_equal(s_stored_verify(store, 7, 8), PROTO_ERR_BAD_PROOF);
    //  Proofs that do not pass through it still hold.
    assert_int_equal(s_stored_verify(store, 4, 6), PROTO_OK);
    assert_int_equal(s_stored_verify(store, 8, 20), PROTO_OK);
    broker_store_read_end(store);
    broker_store_destroy(&store);
}

static void test_old_store_and_heads(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data);
    s_append(store, 0, 5, NULL);
    broker_store_destroy(&store);

    //  A store from before the log: the table is not there at all.
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
    assert_int_equal(mdb_dbi_open(txn, "tlog", 0, &dbi), 0);
    assert_int_equal(mdb_drop(txn, dbi, 1), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    store = s_open(fx->data);
    proto_identity_t *id = proto_identity_generate(PROTO_ROLE_BROKER, S_BROKER);
    assert_non_null(id);
    const uint8_t *pk = proto_identity_public(id)->sign_pk;
    broker_tlog_t *tlog = broker_tlog_new(store, id);
    assert_non_null(tlog);
    assert_int_equal(broker_tlog_committed_size(tlog), 0);
    proto_sth_t sth;
    assert_int_equal(broker_tlog_head(tlog, S_T0, &sth), PROTO_OK);
    assert_int_equal(sth.size, 0);
    assert_string_equal(sth.signer, S_BROKER);
    assert_int_equal(proto_sth_verify(&sth, pk), PROTO_OK);

    //  Leaves of an open transaction are never shown; committed ones are.
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_tlog_next(tlog), 1);
    uint8_t sig[PROTO_SIG_LEN] = { 0 };
    for (uint64_t i = 0; i < 9; i++) {
        proto_head_t head = s_head(i);
        assert_int_equal(broker_tlog_append(store, &head, sig), PROTO_OK);
    }
    assert_int_equal(broker_tlog_head(tlog, S_T0 + 1, &sth), PROTO_OK);
    assert_int_equal(sth.size, 0);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
    broker_tlog_committed(tlog, 9);
    assert_int_equal(broker_tlog_head(tlog, S_T0 + 2, &sth), PROTO_OK);
    assert_int_equal(sth.size, 9);
    assert_int_equal(sth.time, S_T0 + 2);
    assert_int_equal(proto_sth_verify(&sth, pk), PROTO_OK);
    //  The same size is not signed again.
    proto_sth_t again;
    assert_int_equal(broker_tlog_head(tlog, S_T0 + 3, &again), PROTO_OK);
    assert_int_equal(again.time, S_T0 + 2);

    //  LOG_PROOF answers: from a smaller size with a proof that verifies,
    //  from the same size or 0 without one, from a larger size with none
    //  and from = 0 (the log shrank, as far as the asker knows).
    uint8_t proof[PROTO_TLOG_MAX_PROOF][PROTO_HASH_LEN], r3[PROTO_HASH_LEN];
    proto_log_proof_t answer;
    assert_int_equal(broker_tlog_answer(tlog, 3, S_T0 + 4, &answer, proof), PROTO_OK);
    assert_int_equal(answer.from, 3);
    assert_true(answer.nproof > 0);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_int_equal(broker_tlog_root(store, 3, r3), PROTO_OK);
    broker_store_read_end(store);
    assert_int_equal(proto_tlog_verify(3, r3, answer.sth.size, answer.sth.root,
                                       (const uint8_t(*)[PROTO_HASH_LEN]) answer.proof,
                                       answer.nproof),
                     PROTO_OK);
    assert_int_equal(broker_tlog_answer(tlog, 9, S_T0 + 4, &answer, proof), PROTO_OK);
    assert_int_equal(answer.from, 9);
    assert_int_equal(answer.nproof, 0);
    assert_int_equal(broker_tlog_answer(tlog, 12, S_T0 + 4, &answer, proof), PROTO_OK);
    assert_int_equal(answer.from, 0);
    assert_int_equal(answer.nproof, 0);
    assert_int_equal(answer.sth.size, 9);
    broker_tlog_destroy(&tlog);
    broker_tlog_destroy(&tlog);
    proto_identity_destroy(&id);
    broker_store_destroy(&store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_matches_memory, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_tampered_leaf, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_old_store_and_heads, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_large_log, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
