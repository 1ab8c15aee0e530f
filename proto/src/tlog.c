/*  tlog.c - the transparency log's hashes, roots, consistency proofs and
    signed tree heads (RFC 9162 section 2.1 over BLAKE2b-256). See
    proto/tlog.h.

    Subtree hashes come from the caller's node callback; only complete
    subtrees are ever asked for, and a range that is not complete is split
    at its largest power of two exactly as the RFC's MTH is, so every hash
    here is the RFC's for the same leaves.
*/
#include "proto/tlog.h"

#include <sodium.h>
#include <string.h>

#include "mp.h"
#include "proto/merkle.h"
#include "proto/sign.h"

proto_err_t proto_tlog_leaf_hash(const proto_head_t *head, uint8_t out[PROTO_HASH_LEN])
{
    proto_buf_t buf;
    proto_buf_init(&buf);
    proto_err_t rc = proto_head_canonical(head, &buf);
    if (!rc)
        proto_merkle_leaf(buf.data, buf.len, out);
    proto_buf_free(&buf);
    return rc;
}

//  The largest power of two strictly below n (n >= 2).
static uint64_t s_split(uint64_t n)
{
    uint64_t k = 1;
    while (k << 1 < n)
        k <<= 1;
    return k;
}

static bool s_pow2(uint64_t n)
{
    return n && (n & (n - 1)) == 0;
}

static uint32_t s_log2(uint64_t n)
{
    uint32_t level = 0;
    while (n >>= 1)
        level++;
    return level;
}

//  MTH(D[a:b]), b > a. A range the RFC's recursion produces starts at a
//  multiple of its split, so its left part is always one stored node.
static proto_err_t s_range(uint64_t a, uint64_t b, proto_tlog_node_fn *node, void *arg,
                           uint8_t out[PROTO_HASH_LEN])
{
    uint64_t n = b - a;
    if (s_pow2(n)) {
        if (a % n)
            return PROTO_ERR_INTERNAL;
        return node(arg, s_log2(n), a / n, out);
    }
    uint64_t k = s_split(n);
    uint8_t left[PROTO_HASH_LEN], right[PROTO_HASH_LEN];
    proto_err_t rc = s_range(a, a + k, node, arg, left);
    if (!rc)
        rc = s_range(a + k, b, node, arg, right);
    if (!rc)
        proto_merkle_node(left, right, out);
    return rc;
}

proto_err_t proto_tlog_root(uint64_t size, proto_tlog_node_fn *node, void *arg,
                            uint8_t root[PROTO_HASH_LEN])
{
    if (size > PROTO_TLOG_MAX_SIZE)
        return PROTO_ERR_INVALID_ARG;
    if (size == 0) {
        crypto_generichash(root, PROTO_HASH_LEN, NULL, 0, NULL, 0);
        return PROTO_OK;
    }
    return s_range(0, size, node, arg, root);
}

//  SUBPROOF(m, D[a:b], whole) of RFC 9162 section 2.1.4.1, appended to
//  proof: the sub-proof first, then the sibling's hash, as the RFC writes.
static proto_err_t s_subproof(uint64_t m, uint64_t a, uint64_t b, bool whole,
                              proto_tlog_node_fn *node, void *arg, uint8_t (*proof)[PROTO_HASH_LEN],
                              uint32_t *nproof)
{
    uint64_t n = b - a;
    if (m == n) {
        if (whole)
            return PROTO_OK;
        if (*nproof >= PROTO_TLOG_MAX_PROOF)
            return PROTO_ERR_INTERNAL;
        return s_range(a, b, node, arg, proof[(*nproof)++]);
    }
    uint64_t k = s_split(n);
    proto_err_t rc;
    if (m <= k) {
        rc = s_subproof(m, a, a + k, whole, node, arg, proof, nproof);
        if (!rc && *nproof >= PROTO_TLOG_MAX_PROOF)
            rc = PROTO_ERR_INTERNAL;
        if (!rc)
            rc = s_range(a + k, b, node, arg, proof[(*nproof)++]);
    } else {
        rc = s_subproof(m - k, a + k, b, false, node, arg, proof, nproof);
        if (!rc && *nproof >= PROTO_TLOG_MAX_PROOF)
            rc = PROTO_ERR_INTERNAL;
        if (!rc)
            rc = s_range(a, a + k, node, arg, proof[(*nproof)++]);
    }
    return rc;
}

proto_err_t proto_tlog_prove(uint64_t m, uint64_t n, proto_tlog_node_fn *node, void *arg,
                             uint8_t (*proof)[PROTO_HASH_LEN], uint32_t *nproof)
{
    *nproof = 0;
    if (m > n || n > PROTO_TLOG_MAX_SIZE)
        return PROTO_ERR_INVALID_ARG;
    //  The empty log is a prefix of every log, and a log of itself: both
    //  need no proof (the roots alone decide m = n).
    if (m == 0 || m == n)
        return PROTO_OK;
    return s_subproof(m, 0, n, true, node, arg, proof, nproof);
}

proto_err_t proto_tlog_verify(uint64_t m, const uint8_t root_m[PROTO_HASH_LEN], uint64_t n,
                              const uint8_t root_n[PROTO_HASH_LEN],
                              const uint8_t (*proof)[PROTO_HASH_LEN], uint32_t nproof)
{
    if (m > n || n > PROTO_TLOG_MAX_SIZE || nproof > PROTO_TLOG_MAX_PROOF)
        return PROTO_ERR_BAD_PROOF;
    if (m == n)
        return nproof == 0 && sodium_memcmp(root_m, root_n, PROTO_HASH_LEN) == 0
                   ? PROTO_OK
                   : PROTO_ERR_BAD_PROOF;
    if (m == 0)
        return nproof == 0 ? PROTO_OK : PROTO_ERR_BAD_PROOF;
    //  RFC 9162 section 2.1.4.2, step by step. When m is a power of two the
    //  old root is itself the first node of the path, and the proof leaves
    //  it out.
    if (nproof == 0)
        return PROTO_ERR_BAD_PROOF;
    const uint8_t(*path)[PROTO_HASH_LEN] = proof;
    uint32_t npath = nproof, first = 0;
    uint8_t fr[PROTO_HASH_LEN], sr[PROTO_HASH_LEN];
    uint64_t fn = m - 1, sn = n - 1;
    if (s_pow2(m)) {
        memcpy(fr, root_m, PROTO_HASH_LEN);
    } else {
        memcpy(fr, path[0], PROTO_HASH_LEN);
        first = 1;
    }
    memcpy(sr, fr, PROTO_HASH_LEN);
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    for (uint32_t i = first; i < npath; i++) {
        if (sn == 0)
            return PROTO_ERR_BAD_PROOF;
        if ((fn & 1) || fn == sn) {
            proto_merkle_node(path[i], fr, fr);
            proto_merkle_node(path[i], sr, sr);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            proto_merkle_node(sr, path[i], sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || sodium_memcmp(fr, root_m, PROTO_HASH_LEN) != 0 ||
        sodium_memcmp(sr, root_n, PROTO_HASH_LEN) != 0)
        return PROTO_ERR_BAD_PROOF;
    return PROTO_OK;
}

proto_err_t proto_tlog_mem_node(void *arg, uint32_t level, uint64_t index,
                                uint8_t out[PROTO_HASH_LEN])
{
    const proto_tlog_mem_t *mem = arg;
    if (level >= 64 || index >= (mem->n >> level))
        return PROTO_ERR_NOT_FOUND;
    if (level == 0) {
        memcpy(out, mem->leaves[index], PROTO_HASH_LEN);
        return PROTO_OK;
    }
    uint8_t left[PROTO_HASH_LEN], right[PROTO_HASH_LEN];
    proto_err_t rc = proto_tlog_mem_node(arg, level - 1, 2 * index, left);
    if (!rc)
        rc = proto_tlog_mem_node(arg, level - 1, 2 * index + 1, right);
    if (!rc)
        proto_merkle_node(left, right, out);
    return rc;
}

proto_err_t proto_sth_canonical(const proto_sth_t *sth, proto_buf_t *buf)
{
    mp_writer_t w;
    proto_buf_reset(buf);
    mp_writer_init(&w, buf);
    mp_w_array(&w, 5);
    mp_w_str(&w, "truc/sth/1");
    mp_w_str(&w, sth->signer);
    mp_w_uint(&w, sth->time);
    mp_w_uint(&w, sth->size);
    mp_w_bin(&w, sth->root, PROTO_HASH_LEN);
    return w.err;
}

proto_err_t proto_sth_sign(proto_sth_t *sth, const proto_identity_t *id)
{
    const proto_public_t *pub = id ? proto_identity_public(id) : NULL;
    if (!pub || !sth->signer || strcmp(pub->name, sth->signer) != 0 ||
        pub->role != PROTO_ROLE_BROKER)
        return PROTO_ERR_NOT_AUTHORIZED;
    proto_buf_t buf;
    proto_buf_init(&buf);
    proto_err_t rc = proto_sth_canonical(sth, &buf);
    if (!rc)
        rc = proto_identity_sign(id, buf.data, buf.len, sth->sig);
    proto_buf_free(&buf);
    return rc;
}

proto_err_t proto_sth_verify(const proto_sth_t *sth, const uint8_t pk[PROTO_KEY_LEN])
{
    proto_buf_t buf;
    proto_buf_init(&buf);
    proto_err_t rc = proto_sth_canonical(sth, &buf);
    if (!rc && crypto_sign_verify_detached(sth->sig, buf.data, buf.len, pk) != 0)
        rc = PROTO_ERR_BAD_SIGNATURE;
    proto_buf_free(&buf);
    return rc;
}

bool proto_sth_contradict(const proto_sth_t *a, const proto_sth_t *b)
{
    if (a->size == b->size)
        return sodium_memcmp(a->root, b->root, PROTO_HASH_LEN) != 0;
    const proto_sth_t *smaller = a->size < b->size ? a : b;
    const proto_sth_t *larger = smaller == a ? b : a;
    return smaller->time > larger->time;
}
