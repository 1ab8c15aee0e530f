/*  test_tlog.c - the transparency log: roots, consistency proofs, tree heads.

    Roots and proofs are checked against RFC 9162 section 2.1 written out
    here as plain recursion over the leaf hashes (MTH, PROOF, SUBPROOF),
    for every pair of sizes up to S_MAX_N: the same bytes, and the verifier
    accepts them. Then the edge cases the RFC's algorithm is easy to get
    wrong on (sizes 1 and 2, powers of two and one either side, 0 to n, n
    to n), and every way a proof can lie: a changed hash, a hash dropped or
    added, the wrong sizes, the wrong roots.
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
#include <sodium.h>

#include "proto/identity.h"
#include "proto/merkle.h"
#include "proto/msg.h"
#include "proto/tlog.h"

#define S_MAX_N  70
#define S_BROKER "truc-broker"

typedef uint8_t s_hash_t[PROTO_HASH_LEN];

static s_hash_t s_leaves[S_MAX_N + 1];

static int s_group_setup(void **state)
{
    (void) state;
    if (sodium_init() < 0)
        return -1;
    for (uint32_t i = 0; i <= S_MAX_N; i++) {
        uint8_t bytes[4] = { (uint8_t) i, 0x5a, (uint8_t) (i * 7), 0xa5 };
        proto_merkle_leaf(bytes, sizeof bytes, s_leaves[i]);
    }
    return 0;
}

// ---------------------------------------------------------------------------
//  The reference: RFC 9162 section 2.1, recursively, independent of tlog.c

static void s_ref_node(const s_hash_t l, const s_hash_t r, s_hash_t out)
{
    uint8_t in[1 + 2 * PROTO_HASH_LEN];
    in[0] = 0x01;
    memcpy(in + 1, l, PROTO_HASH_LEN);
    memcpy(in + 1 + PROTO_HASH_LEN, r, PROTO_HASH_LEN);
    crypto_generichash(out, PROTO_HASH_LEN, in, sizeof in, NULL, 0);
}

static void s_ref_mth(const s_hash_t *d, uint64_t n, s_hash_t out)
{
    if (n == 0) {
        crypto_generichash(out, PROTO_HASH_LEN, NULL, 0, NULL, 0);
        return;
    }
    if (n == 1) {
        memcpy(out, d[0], PROTO_HASH_LEN);
        return;
    }
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    s_hash_t l, r;
    s_ref_mth(d, k, l);
    s_ref_mth(d + k, n - k, r);
    s_ref_node(l, r, out);
}

static void s_ref_subproof(uint64_t m, const s_hash_t *d, uint64_t n, bool b, s_hash_t *out,
                           uint32_t *count)
{
    if (m == n) {
        if (!b)
            s_ref_mth(d, n, out[(*count)++]);
        return;
    }
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    if (m <= k) {
        s_ref_subproof(m, d, k, b, out, count);
        s_ref_mth(d + k, n - k, out[(*count)++]);
    } else {
        s_ref_subproof(m - k, d + k, n - k, false, out, count);
        s_ref_mth(d, k, out[(*count)++]);
    }
}

// ---------------------------------------------------------------------------

static proto_tlog_mem_t s_mem(uint64_t n)
{
    return (proto_tlog_mem_t){ .leaves = (const uint8_t(*)[PROTO_HASH_LEN]) s_leaves, .n = n };
}

static void s_root(uint64_t n, s_hash_t out)
{
    proto_tlog_mem_t mem = s_mem(n);
    assert_int_equal(proto_tlog_root(n, proto_tlog_mem_node, &mem, out), PROTO_OK);
}

static uint32_t s_prove(uint64_t m, uint64_t n, s_hash_t *proof)
{
    proto_tlog_mem_t mem = s_mem(n);
    uint32_t count = 99;
    assert_int_equal(proto_tlog_prove(m, n, proto_tlog_mem_node, &mem, proof, &count), PROTO_OK);
    return count;
}

static proto_err_t s_verify(uint64_t m, const s_hash_t rm, uint64_t n, const s_hash_t rn,
                            const s_hash_t *proof, uint32_t count)
{
    return proto_tlog_verify(m, rm, n, rn, (const uint8_t(*)[PROTO_HASH_LEN]) proof, count);
}

static void test_roots_match_rfc(void **state)
{
    (void) state;
    for (uint64_t n = 0; n <= S_MAX_N; n++) {
        s_hash_t lib, ref;
        s_root(n, lib);
        s_ref_mth((const s_hash_t *) s_leaves, n, ref);
        assert_memory_equal(lib, ref, PROTO_HASH_LEN);
    }
    //  The log's tree is the receipt batches' tree: same root for the same
    //  leaves.
    for (size_t n = 1; n <= S_MAX_N; n++) {
        proto_tree_t *tree = proto_tree_new((const uint8_t(*)[PROTO_HASH_LEN]) s_leaves, n);
        assert_non_null(tree);
        s_hash_t lib;
        s_root(n, lib);
        assert_memory_equal(lib, proto_tree_root(tree), PROTO_HASH_LEN);
        proto_tree_destroy(&tree);
    }
}

static void test_proofs_match_rfc_and_verify(void **state)
{
    (void) state;
    s_hash_t roots[S_MAX_N + 1];
    for (uint64_t n = 0; n <= S_MAX_N; n++)
        s_root(n, roots[n]);
    for (uint64_t n = 0; n <= S_MAX_N; n++) {
        for (uint64_t m = 0; m <= n; m++) {
            s_hash_t proof[PROTO_TLOG_MAX_PROOF], ref[PROTO_TLOG_MAX_PROOF];
            uint32_t count = s_prove(m, n, proof), nref = 0;
            if (m > 0 && m < n)
                s_ref_subproof(m, (const s_hash_t *) s_leaves, n, true, ref, &nref);
            assert_int_equal(count, nref);
            assert_memory_equal(proof, ref, (size_t) count * PROTO_HASH_LEN);
            assert_int_equal(s_verify(m, roots[m], n, roots[n], proof, count), PROTO_OK);
        }
    }
}

//  Every single change to a valid proof must be refused.
static void s_check_lies(uint64_t m, uint64_t n)
{
    s_hash_t rm, rn, proof[PROTO_TLOG_MAX_PROOF + 1];
    s_root(m, rm);
    s_root(n, rn);
    uint32_t count = s_prove(m, n, proof);
    assert_int_equal(s_verify(m, rm, n, rn, proof, count), PROTO_OK);
    for (uint32_t i = 0; i < count; i++) {
        proof[i][i % PROTO_HASH_LEN] ^= 0x01;
        assert_int_equal(s_verify(m, rm, n, rn, proof, count), PROTO_ERR_BAD_PROOF);
        proof[i][i % PROTO_HASH_LEN] ^= 0x01;
    }
    if (count) {
        assert_int_equal(s_verify(m, rm, n, rn, proof, count - 1), PROTO_ERR_BAD_PROOF);
        assert_int_equal(s_verify(m, rm, n, rn, proof + 1, count - 1), PROTO_ERR_BAD_PROOF);
    }
    memcpy(proof[count], rn, PROTO_HASH_LEN);
    assert_int_equal(s_verify(m, rm, n, rn, proof, count + 1), PROTO_ERR_BAD_PROOF);
    //  The wrong old size, or the roots swapped or damaged. (A wrong new
    //  size alone can verify: the signed head binds size and root together.)
    if (m > 1 && m < n)
        assert_int_equal(s_verify(m - 1, rm, n, rn, proof, count), PROTO_ERR_BAD_PROOF);
    if (m + 1 < n)
        assert_int_equal(s_verify(m + 1, rm, n, rn, proof, count), PROTO_ERR_BAD_PROOF);
    if (m < n) {
        //  (From the empty log any size is consistent with any root.)
        if (m > 0) {
            assert_int_equal(s_verify(m, rn, n, rm, proof, count), PROTO_ERR_BAD_PROOF);
            s_hash_t bad;
            memcpy(bad, rm, PROTO_HASH_LEN);
            bad[0] ^= 0x80;
            assert_int_equal(s_verify(m, bad, n, rn, proof, count), PROTO_ERR_BAD_PROOF);
        }
        s_hash_t bad;
        memcpy(bad, rn, PROTO_HASH_LEN);
        bad[31] ^= 0x80;
        if (m > 0)
            assert_int_equal(s_verify(m, rm, n, bad, proof, count), PROTO_ERR_BAD_PROOF);
    }
    //  A log that shrank is never consistent with its former self.
    if (m < n)
        assert_int_equal(s_verify(n, rn, m, rm, proof, count), PROTO_ERR_BAD_PROOF);
}

static void test_edge_cases(void **state)
{
    (void) state;
    static const uint64_t pairs[][2] = {
        { 0, 0 },  { 0, 1 },   { 0, 7 },   { 1, 1 },   { 1, 2 },   { 2, 2 },   { 1, 3 },
        { 2, 3 },  { 3, 4 },   { 4, 4 },   { 4, 5 },   { 3, 5 },   { 5, 8 },   { 7, 8 },
        { 8, 8 },  { 8, 9 },   { 7, 9 },   { 9, 16 },  { 15, 16 }, { 16, 17 }, { 15, 17 },
        { 1, 64 }, { 63, 65 }, { 64, 65 }, { 31, 33 }, { 6, 70 },  { 70, 70 },
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        s_check_lies(pairs[i][0], pairs[i][1]);

    //  0 -> n and n -> n need no proof; anything else given there is a lie.
    s_hash_t r0, r5, junk[1] = { { 1 } };
    s_root(0, r0);
    s_root(5, r5);
    assert_int_equal(s_verify(0, r0, 5, r5, NULL, 0), PROTO_OK);
    assert_int_equal(s_verify(0, r0, 5, r5, junk, 1), PROTO_ERR_BAD_PROOF);
    assert_int_equal(s_verify(5, r5, 5, r5, NULL, 0), PROTO_OK);
    assert_int_equal(s_verify(5, r5, 5, r5, junk, 1), PROTO_ERR_BAD_PROOF);
    assert_int_equal(s_verify(5, r5, 5, r0, NULL, 0), PROTO_ERR_BAD_PROOF);
    //  A size 1 to 2 proof is the second leaf alone; 2 to 3 the third.
    s_hash_t proof[PROTO_TLOG_MAX_PROOF];
    assert_int_equal(s_prove(1, 2, proof), 1);
    assert_memory_equal(proof[0], s_leaves[1], PROTO_HASH_LEN);
    assert_int_equal(s_prove(2, 3, proof), 1);
    assert_memory_equal(proof[0], s_leaves[2], PROTO_HASH_LEN);
    //  3 -> 4: leaf 2, leaf 3, then the node over leaves 0 and 1.
    assert_int_equal(s_prove(3, 4, proof), 3);
    assert_memory_equal(proof[0], s_leaves[2], PROTO_HASH_LEN);
    assert_memory_equal(proof[1], s_leaves[3], PROTO_HASH_LEN);

    //  Refused arguments: m > n, sizes past the log's limit, too long a proof.
    proto_tlog_mem_t mem = s_mem(5);
    uint32_t count;
    assert_int_equal(proto_tlog_prove(6, 5, proto_tlog_mem_node, &mem, proof, &count),
                     PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_tlog_prove(1, (uint64_t) PROTO_TLOG_MAX_SIZE + 1, proto_tlog_mem_node,
                                      &mem, proof, &count),
                     PROTO_ERR_INVALID_ARG);
    assert_int_equal(s_verify(1, r5, 5, r5, proof, PROTO_TLOG_MAX_PROOF + 1), PROTO_ERR_BAD_PROOF);
    //  A node the store cannot give is the store's error, not a proof.
    assert_int_equal(proto_tlog_prove(3, 9, proto_tlog_mem_node, &mem, proof, &count),
                     PROTO_ERR_NOT_FOUND);
}

typedef struct {
    s_hash_t *level;
} s_fake_t;

static proto_err_t s_fake_node(void *arg, uint32_t level, uint64_t index,
                               uint8_t out[PROTO_HASH_LEN])
{
    (void) index;
    if (level > 32)
        return PROTO_ERR_INTERNAL;
    memcpy(out, ((s_fake_t *) arg)->level[level], PROTO_HASH_LEN);
    return PROTO_OK;
}

//  Proofs between large sizes are short: at most about 2 log2 n hashes.
static void test_large_sizes(void **state)
{
    (void) state;
    //  Every node of a log of identical leaves at one level is the same,
    //  so a callback can answer for a log of 2^32 - 1 leaves at once.
    s_hash_t level[33];
    memcpy(level[0], s_leaves[0], PROTO_HASH_LEN);
    for (int i = 1; i < 33; i++)
        s_ref_node(level[i - 1], level[i - 1], level[i]);
    s_fake_t fake = { level };
    uint64_t sizes[][2] = { { 1, PROTO_TLOG_MAX_SIZE },
                            { PROTO_TLOG_MAX_SIZE - 1, PROTO_TLOG_MAX_SIZE },
                            { (1ull << 31) + 1, (1ull << 32) - 3 },
                            { 12345, 99999 } };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        s_hash_t proof[PROTO_TLOG_MAX_PROOF], rm, rn;
        uint32_t count;
        assert_int_equal(
            proto_tlog_prove(sizes[i][0], sizes[i][1], s_fake_node, &fake, proof, &count),
            PROTO_OK);
        assert_true(count <= PROTO_TLOG_MAX_PROOF);
        assert_int_equal(proto_tlog_root(sizes[i][0], s_fake_node, &fake, rm), PROTO_OK);
        assert_int_equal(proto_tlog_root(sizes[i][1], s_fake_node, &fake, rn), PROTO_OK);
        assert_int_equal(s_verify(sizes[i][0], rm, sizes[i][1], rn, proof, count), PROTO_OK);
    }
}

static void test_sth(void **state)
{
    (void) state;
    proto_identity_t *broker = proto_identity_generate(PROTO_ROLE_BROKER, S_BROKER);
    proto_identity_t *agency = proto_identity_generate(PROTO_ROLE_AGENCY, "000.05.01.H01");
    assert_non_null(broker);
    assert_non_null(agency);
    const uint8_t *pk = proto_identity_public(broker)->sign_pk;
    proto_sth_t a = { .signer = S_BROKER, .time = 1767225600123ull, .size = 5 };
    s_root(5, a.root);
    assert_int_equal(proto_sth_sign(&a, broker), PROTO_OK);
    assert_int_equal(proto_sth_verify(&a, pk), PROTO_OK);
    //  Every signed field counts.
    proto_sth_t b = a;
    b.size = 6;
    assert_int_equal(proto_sth_verify(&b, pk), PROTO_ERR_BAD_SIGNATURE);
    b = a;
    b.time++;
    assert_int_equal(proto_sth_verify(&b, pk), PROTO_ERR_BAD_SIGNATURE);
    b = a;
    b.root[3] ^= 1;
    assert_int_equal(proto_sth_verify(&b, pk), PROTO_ERR_BAD_SIGNATURE);
    b = a;
    b.signer = "truc-broker-2";
    assert_int_equal(proto_sth_verify(&b, pk), PROTO_ERR_BAD_SIGNATURE);
    //  Only the broker named signs its log's heads.
    b = a;
    assert_int_equal(proto_sth_sign(&b, agency), PROTO_ERR_NOT_AUTHORIZED);
    b.signer = "other-broker";
    assert_int_equal(proto_sth_sign(&b, broker), PROTO_ERR_NOT_AUTHORIZED);

    //  Contradictions: same size and another root (a fork); a later head
    //  that is smaller (a rollback). A head that grew is no contradiction.
    b = a;
    b.time += 1000;
    assert_false(proto_sth_contradict(&a, &b));
    b.root[0] ^= 1;
    assert_true(proto_sth_contradict(&a, &b));
    assert_true(proto_sth_contradict(&b, &a));
    b = a;
    b.size = 3;
    b.time += 1000;
    assert_true(proto_sth_contradict(&a, &b));
    b.time = a.time - 1000;
    assert_false(proto_sth_contradict(&a, &b));
    b = a;
    b.size = 9;
    b.time += 1000;
    assert_false(proto_sth_contradict(&a, &b));

    //  A batch head's leaf hash is 0x00 || its canonical bytes, the log
    //  index among them.
    proto_head_t head = { .signer = S_BROKER, .time = 1, .size = 2, .log = 7 };
    uint8_t h1[PROTO_HASH_LEN], h2[PROTO_HASH_LEN];
    assert_int_equal(proto_tlog_leaf_hash(&head, h1), PROTO_OK);
    head.log = 8;
    assert_int_equal(proto_tlog_leaf_hash(&head, h2), PROTO_OK);
    assert_memory_not_equal(h1, h2, PROTO_HASH_LEN);
    proto_identity_destroy(&broker);
    proto_identity_destroy(&agency);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roots_match_rfc),
        cmocka_unit_test(test_proofs_match_rfc_and_verify),
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_large_sizes),
        cmocka_unit_test(test_sth),
    };
    return cmocka_run_group_tests(tests, s_group_setup, NULL);
}
