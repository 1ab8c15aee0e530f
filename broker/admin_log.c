/*  broker/admin_log.c - the transparency log's admin answers. See
    admin_log.h.
*/
#include "admin_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/tlog.h"

static void s_str(msgpack_packer *pk, const char *text)
{
    msgpack_pack_str_with_body(pk, text, strlen(text));
}

static void s_kv_hex(msgpack_packer *pk, const char *key, const uint8_t *data, size_t len)
{
    char hex[2 * PROTO_SIG_LEN + 1];
    for (size_t i = 0; i < len && i < PROTO_SIG_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", data[i]);
    hex[2 * (len < PROTO_SIG_LEN ? len : PROTO_SIG_LEN)] = '\0';
    s_str(pk, key);
    s_str(pk, hex);
}

static void s_kv_u64(msgpack_packer *pk, const char *key, uint64_t value)
{
    s_str(pk, key);
    msgpack_pack_uint64(pk, value);
}

proto_err_t broker_admin_log_head(broker_tlog_t *tlog, uint64_t now, msgpack_packer *pk, char *why,
                                  size_t whylen)
{
    proto_sth_t sth;
    proto_err_t rc = broker_tlog_head(tlog, now, &sth);
    if (rc) {
        snprintf(why, whylen, "cannot sign the log's head: %s", proto_strerror(rc));
        return rc;
    }
    char when[32];
    time_t seconds = (time_t) (sth.time / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    msgpack_pack_map(pk, 6);
    s_str(pk, "signer");
    s_str(pk, sth.signer);
    s_kv_u64(pk, "time", sth.time);
    s_str(pk, "time_text");
    s_str(pk, when);
    s_kv_u64(pk, "size", sth.size);
    s_kv_hex(pk, "root", sth.root, PROTO_HASH_LEN);
    s_kv_hex(pk, "sig", sth.sig, PROTO_SIG_LEN);
    return PROTO_OK;
}

static bool s_size(const char *text, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || !end || *end || end == text || text[0] == '-' || v > PROTO_TLOG_MAX_SIZE)
        return false;
    *out = v;
    return true;
}

proto_err_t broker_admin_log_prove(broker_tlog_t *tlog, broker_store_t *store, const char *a,
                                   const char *b, msgpack_packer *pk, char *why, size_t whylen)
{
    uint64_t m, n, size = broker_tlog_committed_size(tlog);
    if (!s_size(a, &m) || !s_size(b, &n) || m > n) {
        snprintf(why, whylen, "log prove A B: two sizes, 0 <= A <= B");
        return PROTO_ERR_INVALID_ARG;
    }
    if (n > size) {
        snprintf(why, whylen, "the log holds %llu leaves, not %llu", (unsigned long long) size,
                 (unsigned long long) n);
        return PROTO_ERR_NOT_FOUND;
    }
    uint8_t rm[PROTO_HASH_LEN], rn[PROTO_HASH_LEN], proof[PROTO_TLOG_MAX_PROOF][PROTO_HASH_LEN];
    uint32_t count = 0;
    proto_err_t rc = broker_tlog_root(store, m, rm);
    if (!rc)
        rc = broker_tlog_root(store, n, rn);
    if (!rc)
        rc = broker_tlog_prove(store, m, n, proof, &count);
    if (rc) {
        snprintf(why, whylen, "cannot read the log: %s", proto_strerror(rc));
        return rc;
    }
    bool intact = proto_tlog_verify(m, rm, n, rn, (const uint8_t(*)[PROTO_HASH_LEN]) proof,
                                    count) == PROTO_OK;
    msgpack_pack_map(pk, 6);
    s_kv_u64(pk, "from", m);
    s_kv_u64(pk, "to", n);
    s_kv_hex(pk, "from_root", rm, PROTO_HASH_LEN);
    s_kv_hex(pk, "to_root", rn, PROTO_HASH_LEN);
    s_str(pk, "proof");
    msgpack_pack_array(pk, count);
    for (uint32_t i = 0; i < count; i++) {
        msgpack_pack_map(pk, 1);
        s_kv_hex(pk, "hash", proof[i], PROTO_HASH_LEN);
    }
    s_str(pk, "intact");
    if (intact)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    return PROTO_OK;
}
