/*  broker/deliver_body.c - the DELIVER body a broker stores for a
    document. See deliver_body.h.
*/
#include "deliver_body.h"

#include <msgpack.h>
#include <string.h>

//  The map header of a body: its count and length. False if it is none.
static bool s_map_header(const uint8_t *body, size_t len, uint32_t *count, size_t *skip)
{
    if (len >= 1 && (body[0] & 0xf0) == 0x80)
        *count = body[0] & 0x0f, *skip = 1;
    else if (len >= 3 && body[0] == 0xde)
        *count = (uint32_t) body[1] << 8 | body[2], *skip = 3;
    else if (len >= 5 && body[0] == 0xdf)
        *count =
            (uint32_t) body[1] << 24 | (uint32_t) body[2] << 16 | (uint32_t) body[3] << 8 | body[4],
        *skip = 5;
    else
        return false;
    return true;
}

static void s_pack_key(msgpack_packer *pk, const char *key)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
}

static void s_pack_route(msgpack_packer *pk, const proto_fwd_hop_t *route, uint32_t nroute)
{
    s_pack_key(pk, "route");
    msgpack_pack_array(pk, nroute);
    for (uint32_t i = 0; i < nroute; i++) {
        msgpack_pack_map(pk, 2);
        s_pack_key(pk, "broker");
        s_pack_key(pk, route[i].broker);
        s_pack_key(pk, "time");
        msgpack_pack_uint64(pk, route[i].time);
    }
}

//  Into sb: accepted and seq, as the last fields of a DELIVER body.
static void s_broker_fields(msgpack_sbuffer *sb, uint64_t accepted, uint64_t seq)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    s_pack_key(&pk, "accepted");
    msgpack_pack_uint64(&pk, accepted);
    s_pack_key(&pk, "seq");
    msgpack_pack_uint64(&pk, seq);
}

//  Into out: a map header of count entries, then fields[0..len-1] (the
//  pairs of a map without its header) and tail[0..tail_len-1].
static proto_err_t s_map(uint32_t count, const uint8_t *fields, size_t len, const void *tail,
                         size_t tail_len, proto_buf_t *out)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, count);
    proto_buf_reset(out);
    proto_err_t rc = proto_buf_append(out, sb.data, sb.size);
    if (!rc)
        rc = proto_buf_append(out, fields, len);
    if (!rc && tail_len)
        rc = proto_buf_append(out, tail, tail_len);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

//  Grow the map body[0..len-1] by the `added` fields packed in sb.
static proto_err_t s_grow(const uint8_t *body, size_t len, uint32_t added,
                          const msgpack_sbuffer *sb, proto_buf_t *out, proto_err_t not_map)
{
    uint32_t count;
    size_t skip;
    if (!s_map_header(body, len, &count, &skip))
        return not_map;
    return s_map(count + added, body + skip, len - skip, sb->data, sb->size, out);
}

proto_err_t broker_deliver_body(const uint8_t *body, size_t len, uint64_t accepted, uint64_t seq,
                                proto_buf_t *out)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_broker_fields(&sb, accepted, seq);
    proto_err_t rc = s_grow(body, len, 2, &sb, out, PROTO_ERR_MSGPACK);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

proto_err_t broker_deliver_body_sender(const uint8_t *stored, size_t len, uint64_t accepted,
                                       uint64_t seq, proto_buf_t *out)
{
    uint32_t count;
    size_t skip;
    if (!s_map_header(stored, len, &count, &skip) || count < 3)
        return PROTO_ERR_STORE;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_broker_fields(&sb, accepted, seq);
    proto_err_t rc = PROTO_OK;
    if (len < skip + sb.size || memcmp(stored + len - sb.size, sb.data, sb.size) != 0)
        rc = PROTO_ERR_STORE; // not what broker_deliver_body wrote
    if (!rc)
        rc = s_map(count - 2, stored + skip, len - skip - sb.size, NULL, 0, out);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

proto_err_t broker_deliver_body_route(const uint8_t *stored, size_t len,
                                      const proto_fwd_hop_t *route, uint32_t nroute,
                                      proto_buf_t *out)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    s_pack_route(&pk, route, nroute);
    proto_err_t rc = s_grow(stored, len, 1, &sb, out, PROTO_ERR_STORE);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}
