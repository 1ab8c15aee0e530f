/*  test_merkle.c - Merkle trees, inclusion proofs and receipt bundles.

    The tree code is checked against the definitions of RFC 9162 section
    2.1 written out here as plain recursion (MTH and PATH, with BLAKE2b-256
    and the 0x00/0x01 prefixes of proto/merkle.h): same root and same audit
    path for every size up to 130 and every index. The verifier must accept
    exactly the right proofs. Receipt bundles are then built, checked,
    tampered with, and sent through the wire codec.
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
#include "proto/sign.h"

#define S_T0     1767225600123ull
#define S_BROKER "truc-broker"
#define S_AGENCY "000.05.01.H01"
#define S_MAX_N  130

typedef uint8_t s_hash_t[PROTO_HASH_LEN];

static proto_identity_t *s_broker;
static proto_identity_t *s_agency;

static int s_group_setup(void **state)
{
    (void) state;
    if (sodium_init() < 0)
        return -1;
    s_broker = proto_identity_generate(PROTO_ROLE_BROKER, S_BROKER);
    s_agency = proto_identity_generate(PROTO_ROLE_AGENCY, S_AGENCY);
    return s_broker && s_agency ? 0 : -1;
}

static int s_group_teardown(void **state)
{
    (void) state;
    proto_identity_destroy(&s_broker);
    proto_identity_destroy(&s_agency);
    return 0;
}

// ---------------------------------------------------------------------------
//  The reference: RFC 9162 section 2.1, recursively, independent of merkle.c

static void s_ref_leaf(const void *data, size_t len, s_hash_t out)
{
    uint8_t *input = malloc(len + 1);
    assert_non_null(input);
    input[0] = 0x00;
    memcpy(input + 1, data, len);
    crypto_generichash(out, PROTO_HASH_LEN, input, len + 1, NULL, 0);
    free(input);
}

static void s_ref_node(const s_hash_t left, const s_hash_t right, s_hash_t out)
{
    uint8_t input[1 + 2 * PROTO_HASH_LEN];
    input[0] = 0x01;
    memcpy(input + 1, left, PROTO_HASH_LEN);
    memcpy(input + 1 + PROTO_HASH_LEN, right, PROTO_HASH_LEN);
    crypto_generichash(out, PROTO_HASH_LEN, input, sizeof input, NULL, 0);
}

//  The largest power of two smaller than n (n > 1).
static size_t s_split(size_t n)
{
    size_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

//  MTH(D[n]) over leaf hashes.
static void s_ref_mth(const s_hash_t *d, size_t n, s_hash_t out)
{
    if (n == 1) {
        memcpy(out, d[0], PROTO_HASH_LEN);
        return;
    }
    size_t k = s_split(n);
    s_hash_t left, right;
    s_ref_mth(d, k, left);
    s_ref_mth(d + k, n - k, right);
    s_ref_node(left, right, out);
}

//  PATH(m, D[n]): the sub-path first, then the other subtree's hash.
static uint32_t s_ref_path(size_t m, const s_hash_t *d, size_t n, s_hash_t *out)
{
    if (n == 1)
        return 0;
    size_t k = s_split(n);
    uint32_t count;
    if (m < k) {
        count = s_ref_path(m, d, k, out);
        s_ref_mth(d + k, n - k, out[count]);
    } else {
        count = s_ref_path(m - k, d + k, n - k, out);
        s_ref_mth(d, k, out[count]);
    }
    return count + 1;
}

//  The shape of PATH(m, n): for each element, is the sibling on the left or
//  the right. Two (index, size) pairs with the same shape combine a path the
//  same way, so a proof for one verifies for the other: the signed head, not
//  the proof, is what fixes the size.
static uint32_t s_ref_shape(size_t m, size_t n, char *out)
{
    if (n == 1)
        return 0;
    size_t k = s_split(n);
    uint32_t count = m < k ? s_ref_shape(m, k, out) : s_ref_shape(m - k, n - k, out);
    out[count] = m < k ? 'R' : 'L';
    return count + 1;
}

static bool s_same_shape(size_t m1, size_t n1, size_t m2, size_t n2)
{
    char a[PROTO_MAX_PATH + 1], b[PROTO_MAX_PATH + 1];
    uint32_t la = s_ref_shape(m1, n1, a), lb = s_ref_shape(m2, n2, b);
    return la == lb && memcmp(a, b, la) == 0;
}

static s_hash_t *s_leaf_hashes(size_t n)
{
    s_hash_t *d = calloc(n ? n : 1, sizeof *d);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++) {
        uint8_t data[8];
        for (int b = 0; b < 8; b++)
            data[b] = (uint8_t) ((i * 2654435761u) >> (b * 4));
        s_ref_leaf(data, sizeof data, d[i]);
    }
    return d;
}

// ---------------------------------------------------------------------------
//  Hashes and trees against the reference

static void s_test_hash_primitives(void **state)
{
    (void) state;
    const char *text = "truc";
    s_hash_t got, want;
    proto_merkle_leaf(text, 4, got);
    s_ref_leaf(text, 4, want);
    assert_memory_equal(got, want, PROTO_HASH_LEN);
    proto_merkle_leaf("", 0, got);
    s_ref_leaf("", 0, want);
    assert_memory_equal(got, want, PROTO_HASH_LEN);

    s_hash_t left, right;
    memset(left, 0x11, sizeof left);
    memset(right, 0x22, sizeof right);
    proto_merkle_node(left, right, got);
    s_ref_node(left, right, want);
    assert_memory_equal(got, want, PROTO_HASH_LEN);
    //  Order matters, and a node is never a leaf over the same 64 bytes.
    proto_merkle_node(right, left, want);
    assert_memory_not_equal(got, want, PROTO_HASH_LEN);
    uint8_t both[2 * PROTO_HASH_LEN];
    memcpy(both, left, PROTO_HASH_LEN);
    memcpy(both + PROTO_HASH_LEN, right, PROTO_HASH_LEN);
    proto_merkle_leaf(both, sizeof both, want);
    assert_memory_not_equal(got, want, PROTO_HASH_LEN);
    //  The output may alias an input.
    memcpy(want, left, PROTO_HASH_LEN);
    proto_merkle_node(want, right, want);
    assert_memory_equal(got, want, PROTO_HASH_LEN);

    //  A receipt leaf hash is the leaf hash of its canonical bytes.
    proto_leaf_t leaf;
    memset(&leaf, 0, sizeof leaf);
    leaf.event = PROTO_EVENT_DELIVERED;
    leaf.from = "000.00.01.H01";
    leaf.to = S_AGENCY;
    leaf.time = S_T0;
    proto_buf_t buf;
    proto_buf_init(&buf);
    assert_int_equal(proto_leaf_canonical(&leaf, &buf), PROTO_OK);
    s_ref_leaf(buf.data, buf.len, want);
    assert_int_equal(proto_leaf_hash(&leaf, got), PROTO_OK);
    assert_memory_equal(got, want, PROTO_HASH_LEN);
    proto_buf_free(&buf);
}

static void s_test_tree_matches_rfc(void **state)
{
    (void) state;
    s_hash_t *d = s_leaf_hashes(S_MAX_N);
    s_hash_t path[PROTO_MAX_PATH], want[PROTO_MAX_PATH], root;
    for (size_t n = 1; n <= S_MAX_N; n++) {
        proto_tree_t *tree = proto_tree_new((const uint8_t(*)[PROTO_HASH_LEN]) d, n);
        assert_non_null(tree);
        assert_int_equal(proto_tree_size(tree), n);
        s_ref_mth(d, n, root);
        assert_memory_equal(proto_tree_root(tree), root, PROTO_HASH_LEN);
        for (size_t m = 0; m < n; m++) {
            uint32_t npath = proto_tree_path(tree, m, path);
            uint32_t nwant = s_ref_path(m, d, n, want);
            if (npath != nwant || memcmp(path, want, npath * sizeof path[0]) != 0) {
                print_error("n=%zu m=%zu: path of %u, reference %u\n", n, m, npath, nwant);
                fail();
            }
            assert_int_equal(proto_merkle_verify(
                                 d[m], m, n, (const uint8_t(*)[PROTO_HASH_LEN]) path, npath, root),
                             PROTO_OK);
        }
        proto_tree_destroy(&tree);
        assert_null(tree);
    }
    free(d);

    //  The tree copies the leaves: changing them afterwards changes nothing.
    d = s_leaf_hashes(5);
    proto_tree_t *tree = proto_tree_new((const uint8_t(*)[PROTO_HASH_LEN]) d, 5);
    s_ref_mth(d, 5, root);
    memset(d, 0, 5 * sizeof *d);
    assert_memory_equal(proto_tree_root(tree), root, PROTO_HASH_LEN);
    proto_tree_destroy(&tree);
    free(d);
}

static void s_test_tree_edges(void **state)
{
    (void) state;
    s_hash_t one[1];
    memset(one, 7, sizeof one);
    assert_null(proto_tree_new((const uint8_t(*)[PROTO_HASH_LEN]) one, 0));
    proto_tree_t *tree = proto_tree_new((const uint8_t(*)[PROTO_HASH_LEN]) one, 1);
    assert_non_null(tree);
    //  The root of one leaf is that leaf's hash, and its path is empty.
    assert_memory_equal(proto_tree_root(tree), one[0], PROTO_HASH_LEN);
    s_hash_t path[PROTO_MAX_PATH];
    assert_int_equal(proto_tree_path(tree, 0, path), 0);
    assert_int_equal(proto_merkle_verify(one[0], 0, 1, NULL, 0, one[0]), PROTO_OK);
    proto_tree_destroy(&tree);
    proto_tree_destroy(&tree);
    proto_tree_destroy(NULL);
}

static proto_err_t s_verify(const s_hash_t leaf, uint64_t index, uint64_t size,
                            const s_hash_t *path, uint32_t npath, const s_hash_t root)
{
    return proto_merkle_verify(leaf, index, size, (const uint8_t(*)[PROTO_HASH_LEN]) path, npath,
                               root);
}

static void s_test_verify_rejects(void **state)
{
    (void) state;
    s_hash_t *d = s_leaf_hashes(S_MAX_N);
    s_hash_t path[PROTO_MAX_PATH + 1], root, bad;
    size_t size_rejections = 0, size_shape_matches = 0;
    for (size_t n = 1; n <= S_MAX_N; n++) {
        s_ref_mth(d, n, root);
        for (size_t m = 0; m < n; m++) {
            uint32_t npath = s_ref_path(m, d, n, path);
            assert_int_equal(s_verify(d[m], m, n, path, npath, root), PROTO_OK);

            //  Another index of the same tree: never, each index has its
            //  own shape.
            const size_t others[] = { m + 1, m - 1, m ^ 1, n - 1 - m, 0, n - 1, m + 2 };
            for (size_t k = 0; k < sizeof others / sizeof others[0]; k++) {
                size_t j = others[k];
                if (j == m || j >= n)
                    continue;
                assert_false(s_same_shape(m, n, j, n));
                assert_int_equal(s_verify(d[m], j, n, path, npath, root), PROTO_ERR_BAD_PROOF);
            }
            //  Another size: refused unless the path has the same shape in
            //  a tree of that size (then the root is the same too).
            const size_t sizes[] = { n - 1, n + 1, n + 2, 2 * n, n / 2, n + 64 };
            for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
                size_t s = sizes[k];
                if (s == n || s == 0 || m >= s)
                    continue;
                bool same = s_same_shape(m, n, m, s);
                proto_err_t rc = s_verify(d[m], m, s, path, npath, root);
                assert_int_equal(rc, same ? PROTO_OK : PROTO_ERR_BAD_PROOF);
                size_rejections += !same;
                size_shape_matches += same;
            }
            //  Index at or past the size.
            assert_int_equal(s_verify(d[m], n, n, path, npath, root), PROTO_ERR_BAD_PROOF);
            assert_int_equal(s_verify(d[m], n + 1, n, path, npath, root), PROTO_ERR_BAD_PROOF);
            assert_int_equal(s_verify(d[m], UINT64_MAX, n, path, npath, root), PROTO_ERR_BAD_PROOF);
            assert_int_equal(s_verify(d[m], m, 0, path, npath, root), PROTO_ERR_BAD_PROOF);
            //  A flipped bit anywhere in the path.
            for (uint32_t k = 0; k < npath; k++) {
                uint8_t mask = (uint8_t) (1u << (k % 8));
                size_t byte = (k * 13 + m) % PROTO_HASH_LEN;
                path[k][byte] ^= mask;
                assert_int_equal(s_verify(d[m], m, n, path, npath, root), PROTO_ERR_BAD_PROOF);
                path[k][byte] ^= mask;
            }
            //  Shorter or longer paths.
            if (npath > 0)
                assert_int_equal(s_verify(d[m], m, n, path, npath - 1, root), PROTO_ERR_BAD_PROOF);
            memcpy(path[npath], root, PROTO_HASH_LEN);
            assert_int_equal(s_verify(d[m], m, n, path, npath + 1, root), PROTO_ERR_BAD_PROOF);
            memcpy(path[npath], d[m], PROTO_HASH_LEN);
            assert_int_equal(s_verify(d[m], m, n, path, npath + 1, root), PROTO_ERR_BAD_PROOF);
            //  A different root, a different leaf.
            memcpy(bad, root, PROTO_HASH_LEN);
            bad[m % PROTO_HASH_LEN] ^= 0x80;
            assert_int_equal(s_verify(d[m], m, n, path, npath, bad), PROTO_ERR_BAD_PROOF);
            memcpy(bad, d[m], PROTO_HASH_LEN);
            bad[31] ^= 1;
            assert_int_equal(s_verify(bad, m, n, path, npath, root), PROTO_ERR_BAD_PROOF);
            if (n > 1)
                assert_int_equal(s_verify(d[(m + 1) % n], m, n, path, npath, root),
                                 PROTO_ERR_BAD_PROOF);
        }
    }
    //  Both cases of the size rule occurred, so neither branch is untested.
    assert_true(size_rejections > 1000);
    assert_true(size_shape_matches > 0);

    //  Absurd sizes and lengths end cleanly.
    s_hash_t big[PROTO_MAX_PATH];
    memset(big, 3, sizeof big);
    assert_int_equal(s_verify(d[0], UINT64_MAX - 1, UINT64_MAX, big, PROTO_MAX_PATH, root),
                     PROTO_ERR_BAD_PROOF);
    assert_int_equal(s_verify(d[0], 0, UINT64_MAX, big, PROTO_MAX_PATH, root), PROTO_ERR_BAD_PROOF);
    assert_int_equal(s_verify(d[0], 0, 1, big, PROTO_MAX_PATH, d[0]), PROTO_ERR_BAD_PROOF);
    free(d);
}

// ---------------------------------------------------------------------------
//  Receipt bundles

typedef struct {
    size_t n;
    proto_leaf_t *leaves;
    proto_item_t *items;
    s_hash_t *paths;
    proto_head_t head;
    uint8_t sig[PROTO_SIG_LEN];
} s_bundle_t;

static void s_bundle_new(s_bundle_t *b, size_t n, uint8_t event, const proto_identity_t *id)
{
    b->n = n;
    b->leaves = calloc(n, sizeof *b->leaves);
    b->items = calloc(n, sizeof *b->items);
    b->paths = calloc(n * PROTO_MAX_PATH, sizeof *b->paths);
    assert_true(b->leaves && b->items && b->paths);
    for (size_t i = 0; i < n; i++) {
        proto_leaf_t *leaf = &b->leaves[i];
        leaf->event = event;
        memset(leaf->id.bytes, 0x5c, PROTO_ID_LEN);
        memcpy(leaf->id.bytes, &i, sizeof i);
        memset(leaf->hash, (int) (i & 0xff), PROTO_HASH_LEN);
        leaf->hash[0] = (uint8_t) (i >> 8);
        leaf->from = "000.00.01.H01";
        leaf->to = event == PROTO_EVENT_ACCEPTED ? NULL : S_AGENCY;
        leaf->time = S_T0 + i;
        leaf->seq = 1 + i;
        if (event == PROTO_EVENT_REFUSED) {
            leaf->code = PROTO_ERR_HASH_MISMATCH;
            leaf->reason = "Tệp đính kèm không khớp";
        }
    }
    memset(&b->head, 0, sizeof b->head);
    assert_int_equal(proto_receipts_build(b->leaves, n, id, S_T0 + 1000, &b->head, b->sig, b->items,
                                          (uint8_t(*)[PROTO_HASH_LEN]) b->paths),
                     PROTO_OK);
}

static void s_bundle_free(s_bundle_t *b)
{
    free(b->leaves);
    free(b->items);
    free(b->paths);
}

//  Check one item after one change; restore happens by the caller.
static void s_expect_receipt(const s_bundle_t *b, const proto_head_t *head, const uint8_t *sig,
                             const proto_item_t *item, const uint8_t *pk, proto_err_t want,
                             const char *what)
{
    proto_err_t rc = proto_receipt_verify(head, sig, item, pk);
    if (rc != want) {
        print_error("n=%zu item %llu, %s: got %s, want %s\n", b->n,
                    (unsigned long long) item->index, what, proto_errname(rc), proto_errname(want));
        fail();
    }
    //  The path alone (the head's signature checked once per bundle
    //  elsewhere): wrong exactly when the proof is.
    proto_err_t path_want = want == PROTO_ERR_BAD_PROOF ? PROTO_ERR_BAD_PROOF : PROTO_OK;
    rc = proto_item_verify(head, item);
    if (rc != path_want) {
        print_error("n=%zu item %llu, %s: the path alone got %s, want %s\n", b->n,
                    (unsigned long long) item->index, what, proto_errname(rc),
                    proto_errname(path_want));
        fail();
    }
}

static void s_tamper(const s_bundle_t *b, size_t i, const uint8_t *pk)
{
    const proto_item_t *orig = &b->items[i];
    proto_item_t item;
    proto_head_t head;
    uint8_t sig[PROTO_SIG_LEN];
    s_hash_t path[PROTO_MAX_PATH];
    memcpy(sig, b->sig, sizeof sig);
    head = b->head;
    s_expect_receipt(b, &head, sig, orig, pk, PROTO_OK, "untouched");

    //  Any field of the leaf: the path no longer leads to the root.
#define S_LEAF(what, change)                                                                       \
    do {                                                                                           \
        item = *orig;                                                                              \
        change;                                                                                    \
        s_expect_receipt(b, &head, sig, &item, pk, PROTO_ERR_BAD_PROOF, what);                     \
    } while (0)
    S_LEAF("leaf.event", item.leaf.event = PROTO_EVENT_REJECTED);
    S_LEAF("leaf.id", item.leaf.id.bytes[15] ^= 1);
    S_LEAF("leaf.hash", item.leaf.hash[7] ^= 0x20);
    S_LEAF("leaf.from", item.leaf.from = "000.00.02.H01");
    S_LEAF("leaf.to", item.leaf.to = item.leaf.to ? NULL : S_AGENCY);
    S_LEAF("leaf.time", item.leaf.time++);
    S_LEAF("leaf.seq", item.leaf.seq = 0);
    S_LEAF("leaf.code", item.leaf.code = PROTO_ERR_QUOTA);
    S_LEAF("leaf.reason", item.leaf.reason = "khác");
    if (b->n > 1)
        S_LEAF("index", item.index = (item.index + 1) % b->n);
    S_LEAF("index = size", item.index = b->n);
    if (orig->npath) {
        S_LEAF("path shortened", item.npath--);
        memcpy(path, orig->path, orig->npath * sizeof path[0]);
        for (uint32_t k = 0; k < orig->npath; k++) {
            path[k][k % PROTO_HASH_LEN] ^= 1;
            S_LEAF("path element", item.path = path);
            path[k][k % PROTO_HASH_LEN] ^= 1;
        }
    }
    S_LEAF("path extended", (memcpy(path, orig->path, orig->npath * sizeof path[0]),
                             memcpy(path[orig->npath], b->head.root, PROTO_HASH_LEN),
                             item.path = path, item.npath++));
#undef S_LEAF

    //  The head: its root is checked by the proof, the rest by the signature.
    item = *orig;
    head.root[0] ^= 1;
    s_expect_receipt(b, &head, sig, &item, pk, PROTO_ERR_BAD_PROOF, "head.root");
    head = b->head;
    head.time++;
    s_expect_receipt(b, &head, sig, &item, pk, PROTO_ERR_BAD_SIGNATURE, "head.time");
    head = b->head;
    head.signer = "truc-broker-2";
    s_expect_receipt(b, &head, sig, &item, pk, PROTO_ERR_BAD_SIGNATURE, "head.signer");
    head = b->head;
    head.size++;
    proto_err_t rc = proto_receipt_verify(&head, sig, &item, pk);
    assert_true(rc == PROTO_ERR_BAD_PROOF || rc == PROTO_ERR_BAD_SIGNATURE);
    assert_int_equal(rc, s_same_shape(item.index, b->n, item.index, b->n + 1)
                             ? PROTO_ERR_BAD_SIGNATURE
                             : PROTO_ERR_BAD_PROOF);
    head = b->head;
    sig[i % PROTO_SIG_LEN] ^= 0x04;
    s_expect_receipt(b, &head, sig, &item, pk, PROTO_ERR_BAD_SIGNATURE, "signature");
    memcpy(sig, b->sig, sizeof sig);
    uint8_t other[PROTO_KEY_LEN];
    memcpy(other, pk, sizeof other);
    other[0] ^= 1;
    rc = proto_receipt_verify(&head, sig, &item, other);
    assert_int_equal(rc, PROTO_ERR_BAD_SIGNATURE);
}

static void s_test_receipts_build_verify(void **state)
{
    (void) state;
    static const size_t sizes[] = { 1, 2, 3, 64, 1000 };
    const uint8_t *pk = proto_identity_public(s_broker)->sign_pk;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        s_bundle_t b;
        s_bundle_new(&b, n, PROTO_EVENT_ACCEPTED, s_broker);
        assert_string_equal(b.head.signer, S_BROKER);
        assert_int_equal(b.head.size, n);
        assert_int_equal(b.head.time, S_T0 + 1000);
        assert_int_equal(proto_head_verify(&b.head, pk, b.sig), PROTO_OK);

        //  The root is the reference MTH of the leaves' hashes.
        s_hash_t *d = calloc(n, sizeof *d);
        assert_non_null(d);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(proto_leaf_hash(&b.leaves[i], d[i]), PROTO_OK);
        s_hash_t root;
        s_ref_mth(d, n, root);
        assert_memory_equal(b.head.root, root, PROTO_HASH_LEN);

        s_hash_t want[PROTO_MAX_PATH];
        for (size_t i = 0; i < n; i++) {
            const proto_item_t *item = &b.items[i];
            assert_int_equal(item->index, i);
            assert_int_equal(item->leaf.time, b.leaves[i].time);
            assert_memory_equal(item->leaf.id.bytes, b.leaves[i].id.bytes, PROTO_ID_LEN);
            //  Leaf strings are borrowed, not copied.
            assert_ptr_equal(item->leaf.from, b.leaves[i].from);
            assert_ptr_equal(item->path, b.paths + i * PROTO_MAX_PATH);
            uint32_t npath = s_ref_path(i, d, n, want);
            assert_int_equal(item->npath, npath);
            assert_memory_equal(item->path, want, npath * sizeof want[0]);
            assert_int_equal(proto_receipt_verify(&b.head, b.sig, item, pk), PROTO_OK);
            //  Tampering: every item for small bundles, a sample of the big one.
            if (n <= 64 || i % 37 == 0 || i == n - 1)
                s_tamper(&b, i, pk);
        }
        free(d);
        s_bundle_free(&b);
    }
}

static void s_test_receipts_build_arguments(void **state)
{
    (void) state;
    proto_leaf_t leaf;
    memset(&leaf, 0, sizeof leaf);
    leaf.event = PROTO_EVENT_ACCEPTED;
    leaf.from = "000.00.01.H01";
    proto_head_t head;
    uint8_t sig[PROTO_SIG_LEN];
    proto_item_t item;
    s_hash_t paths[PROTO_MAX_PATH];
    uint8_t(*p)[PROTO_HASH_LEN] = paths;
    assert_int_equal(proto_receipts_build(NULL, 1, s_broker, S_T0, &head, sig, &item, p),
                     PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_receipts_build(&leaf, 0, s_broker, S_T0, &head, sig, &item, p),
                     PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_receipts_build(&leaf, 1, NULL, S_T0, &head, sig, &item, p),
                     PROTO_ERR_INVALID_ARG);
    //  One leaf: the root is its hash and the path is empty.
    assert_int_equal(proto_receipts_build(&leaf, 1, s_agency, S_T0, &head, sig, &item, p),
                     PROTO_OK);
    s_hash_t hash;
    assert_int_equal(proto_leaf_hash(&leaf, hash), PROTO_OK);
    assert_memory_equal(head.root, hash, PROTO_HASH_LEN);
    assert_int_equal(item.npath, 0);
    assert_string_equal(head.signer, S_AGENCY);
    assert_int_equal(
        proto_receipt_verify(&head, sig, &item, proto_identity_public(s_agency)->sign_pk),
        PROTO_OK);
    assert_int_equal(
        proto_receipt_verify(&head, sig, &item, proto_identity_public(s_broker)->sign_pk),
        PROTO_ERR_BAD_SIGNATURE);
}

//  A bundle goes out as one message; each receipt in it is checked alone
//  by whoever receives it.
static void s_wire_roundtrip(proto_kind_t kind, size_t n, uint8_t event, const proto_identity_t *id,
                             uint64_t mid)
{
    s_bundle_t b;
    s_bundle_new(&b, n, event, id);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = kind;
    msg.u.receipts.mid = mid;
    msg.u.receipts.head = b.head;
    memcpy(msg.u.receipts.sig, b.sig, PROTO_SIG_LEN);
    msg.u.receipts.items = b.items;
    msg.u.receipts.nitems = (uint32_t) n;
    proto_buf_t body;
    proto_buf_init(&body);
    proto_errinfo_t info;
    proto_err_t rc = proto_msg_encode(&msg, &body, &info);
    if (rc != PROTO_OK) {
        print_error("%s of %zu: %s at '%s': %s\n", proto_kind_name(kind), n, proto_errname(rc),
                    info.field, info.message);
        fail();
    }
    assert_true(body.len <= PROTO_MAX_BODY);
    proto_msg_t *decoded = NULL;
    assert_int_equal(proto_msg_decode(kind, body.data, body.len, &decoded, NULL), PROTO_OK);
    const proto_receipts_t *r = &decoded->u.receipts;
    assert_int_equal(r->mid, mid);
    assert_int_equal(r->nitems, n);
    assert_int_equal(r->head.size, n);
    assert_memory_equal(r->head.root, b.head.root, PROTO_HASH_LEN);
    const uint8_t *pk = proto_identity_public(id)->sign_pk;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(proto_receipt_verify(&r->head, r->sig, &r->items[i], pk), PROTO_OK);
        assert_int_equal(r->items[i].npath, b.items[i].npath);
    }
    //  A receipt moved to another bundle's head does not verify.
    if (n > 1) {
        proto_item_t moved = r->items[0];
        moved.index = 1;
        assert_int_equal(proto_receipt_verify(&r->head, r->sig, &moved, pk), PROTO_ERR_BAD_PROOF);
    }
    proto_msg_destroy(&decoded);
    proto_buf_free(&body);
    s_bundle_free(&b);
}

static void s_test_receipts_wire(void **state)
{
    (void) state;
    s_wire_roundtrip(PROTO_KIND_ACCEPTED, 1000, PROTO_EVENT_ACCEPTED, s_broker, 0);
    s_wire_roundtrip(PROTO_KIND_ACCEPTED, 1, PROTO_EVENT_ACCEPTED, s_broker, 0);
    s_wire_roundtrip(PROTO_KIND_ACCEPTED, 3, PROTO_EVENT_ACCEPTED, s_broker, 0);
    s_wire_roundtrip(PROTO_KIND_DELIVERED, 64, PROTO_EVENT_DELIVERED, s_agency, 17);
    s_wire_roundtrip(PROTO_KIND_DELIVERED, 5, PROTO_EVENT_REFUSED, s_agency, 18);
    s_wire_roundtrip(PROTO_KIND_EXPIRED, 7, PROTO_EVENT_RETURNED, s_broker, 19);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s_test_hash_primitives),
        cmocka_unit_test(s_test_tree_matches_rfc),
        cmocka_unit_test(s_test_tree_edges),
        cmocka_unit_test(s_test_verify_rejects),
        cmocka_unit_test(s_test_receipts_build_verify),
        cmocka_unit_test(s_test_receipts_build_arguments),
        cmocka_unit_test(s_test_receipts_wire),
    };
    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
