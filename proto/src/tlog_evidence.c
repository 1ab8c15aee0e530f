/*  proto/src/tlog_evidence.c - the evidence of a log that is not an
    extension of the head held. See proto/tlog_evidence.h.
*/
#include "proto/tlog_evidence.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

proto_err_t proto_tlog_head_body(const proto_sth_t *sth, uint64_t from,
                                 const uint8_t (*proof)[PROTO_HASH_LEN], uint32_t nproof,
                                 proto_buf_t *out)
{
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_LOG_PROOF;
    msg.u.log_proof.sth = *sth;
    msg.u.log_proof.from = nproof ? from : (from <= sth->size ? from : 0);
    msg.u.log_proof.proof =
        (uint8_t(*)[PROTO_HASH_LEN])(uintptr_t) proof; // only read by the encoder
    msg.u.log_proof.nproof = nproof;
    return proto_msg_encode(&msg, out, NULL);
}

static void s_str(msgpack_packer *pk, const char *text)
{
    msgpack_pack_str_with_body(pk, text, strlen(text));
}

proto_err_t proto_tlog_alarm_record(const char *reason, uint64_t time_ms, const proto_sth_t *held,
                                    const proto_sth_t *seen, uint64_t from,
                                    const uint8_t (*proof)[PROTO_HASH_LEN], uint32_t nproof,
                                    msgpack_sbuffer *out)
{
    proto_buf_t held_body, seen_body;
    proto_buf_init(&held_body);
    proto_buf_init(&seen_body);
    proto_err_t rc = proto_tlog_head_body(held, 0, NULL, 0, &held_body);
    if (!rc)
        rc = proto_tlog_head_body(seen, from, proof, nproof, &seen_body);
    if (!rc) {
        msgpack_packer pk;
        msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 4);
        s_str(&pk, "reason");
        s_str(&pk, reason);
        s_str(&pk, "time");
        msgpack_pack_uint64(&pk, time_ms);
        s_str(&pk, "held");
        msgpack_pack_bin_with_body(&pk, held_body.data, held_body.len);
        s_str(&pk, "seen");
        msgpack_pack_bin_with_body(&pk, seen_body.data, seen_body.len);
    }
    proto_buf_free(&held_body);
    proto_buf_free(&seen_body);
    return rc;
}

static void s_hex(msgpack_packer *pk, const uint8_t *data, size_t len)
{
    char hex[2 * PROTO_SIG_LEN + 1] = "";
    for (size_t i = 0; i < len && i < PROTO_SIG_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", data[i]);
    s_str(pk, hex);
}

static void s_pack_head(msgpack_packer *pk, const proto_sth_t *sth)
{
    msgpack_pack_map(pk, 5);
    s_str(pk, "size");
    msgpack_pack_uint64(pk, sth->size);
    s_str(pk, "time");
    msgpack_pack_uint64(pk, sth->time);
    s_str(pk, "root");
    s_hex(pk, sth->root, PROTO_HASH_LEN);
    s_str(pk, "signer");
    s_str(pk, sth->signer ? sth->signer : "");
    s_str(pk, "sig");
    s_hex(pk, sth->sig, PROTO_SIG_LEN);
}

//  A kept LOG_PROOF body as {head, proof_from, proof}; nil if unreadable.
static void s_pack_body(msgpack_packer *pk, const msgpack_object *bin)
{
    proto_msg_t *msg = NULL;
    if (bin->type != MSGPACK_OBJECT_BIN ||
        proto_msg_decode(PROTO_KIND_LOG_PROOF, bin->via.bin.ptr, bin->via.bin.size, &msg, NULL) !=
            PROTO_OK) {
        msgpack_pack_nil(pk);
        return;
    }
    const proto_log_proof_t *p = &msg->u.log_proof;
    msgpack_pack_map(pk, 3);
    s_str(pk, "head");
    s_pack_head(pk, &p->sth);
    s_str(pk, "proof_from");
    msgpack_pack_uint64(pk, p->from);
    s_str(pk, "proof");
    msgpack_pack_array(pk, p->nproof);
    for (uint32_t i = 0; i < p->nproof; i++)
        s_hex(pk, p->proof[i], PROTO_HASH_LEN);
    proto_msg_destroy(&msg);
}

void proto_tlog_alarm_pack(msgpack_packer *pk, const void *record, size_t len)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, record, len, NULL) != MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_MAP) {
        msgpack_pack_nil(pk);
    } else {
        const msgpack_object_map *m = &u.data.via.map;
        msgpack_pack_map(pk, m->size);
        for (uint32_t i = 0; i < m->size; i++) {
            msgpack_pack_object(pk, m->ptr[i].key);
            if (m->ptr[i].val.type == MSGPACK_OBJECT_BIN)
                s_pack_body(pk, &m->ptr[i].val);
            else
                msgpack_pack_object(pk, m->ptr[i].val);
        }
    }
    msgpack_unpacked_destroy(&u);
}
