/*  msg_receipt.c - receipts: ACCEPTED, REJECTED, EXPIRED, DELIVERED.

    A receipts body carries a signed tree head and, for each document it
    answers, the leaf the broker logged and its inclusion path. This file
    holds their strict decoder and encoder; hashing leaves and checking
    paths are merkle.c's, the signing bytes of a head sign.c's.
*/
#include <string.h>

#include "msg_internal.h"

// ---------------------------------------------------------------------------
//  Receipts

static const char *const s_receipts_keys[] = { "mid", "head", "sig", "items" };
static const char *const s_head_keys[] = { "signer", "time", "size", "root", "log" };
static const char *const s_item_keys[] = { "leaf", "index", "path" };
static const char *const s_leaf_keys[] = { "event", "id",  "hash", "from",  "to",
                                           "time",  "seq", "code", "reason" };

static bool s_event_fits(int kind, uint8_t event)
{
    switch (kind) {
    case PROTO_KIND_ACCEPTED:
        return event == PROTO_EVENT_ACCEPTED;
    case PROTO_KIND_REJECTED:
        return event == PROTO_EVENT_REJECTED;
    case PROTO_KIND_EXPIRED:
        return event == PROTO_EVENT_EXPIRED || event == PROTO_EVENT_RETURNED;
    case PROTO_KIND_DELIVERED:
        return event == PROTO_EVENT_DELIVERED || event == PROTO_EVENT_REFUSED;
    }
    return false;
}

static proto_err_t s_leaf_decode(mp_ctx_t *ctx, int kind, const msgpack_object *o,
                                 proto_leaf_t *leaf)
{
    const msgpack_object *f[NKEYS(s_leaf_keys)];
    size_t mark = mp_path_push(ctx, "leaf");
    proto_err_t rc = mp_map(ctx, o, s_leaf_keys, NKEYS(s_leaf_keys), f);
    if (!rc)
        rc = msg_u8(ctx, "event", f[0], true, 1, 6, &leaf->event);
    if (!rc && !s_event_fits(kind, leaf->event))
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "event", "event %u not allowed in %s", leaf->event,
                     proto_kind_name(kind));
    if (!rc)
        rc = msg_id(ctx, "id", f[1], true, &leaf->id);
    if (!rc)
        rc = mp_bin(ctx, "hash", f[2], true, PROTO_HASH_LEN, leaf->hash);
    if (!rc)
        rc = mp_agency(ctx, "from", f[3], true, &leaf->from);
    if (!rc)
        rc = mp_agency(ctx, "to", f[4], false, &leaf->to);
    if (!rc)
        rc = mp_uint(ctx, "time", f[5], true, 0, UINT64_MAX, &leaf->time);
    if (!rc)
        rc = mp_uint(ctx, "seq", f[6], false, 1, UINT64_MAX, &leaf->seq);
    if (!rc)
        rc = msg_u32(ctx, "code", f[7], false, 0, 999, &leaf->code);
    if (!rc && leaf->code && !proto_err_is_known(leaf->code))
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "code", "%u is not a defined error code", leaf->code);
    bool needs_code = leaf->event == PROTO_EVENT_REJECTED || leaf->event == PROTO_EVENT_REFUSED;
    if (!rc && needs_code != (leaf->code != 0))
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "code",
                     needs_code ? "required for this event" : "must be 0 for this event");
    bool needs_to = leaf->event >= PROTO_EVENT_DELIVERED;
    if (!rc && needs_to && !leaf->to)
        rc = mp_fail(ctx, PROTO_ERR_MISSING, "to", "required for this event");
    if (!rc)
        rc = mp_text(ctx, "reason", f[8], false, PROTO_MAX_TEXT, &leaf->reason);
    mp_path_pop(ctx, mark);
    return rc;
}

static void s_leaf_encode(mp_writer_t *w, const proto_leaf_t *leaf)
{
    uint32_t n = 0;
    size_t map = mp_map_begin(w);
    mp_f_uint(w, &n, "event", leaf->event);
    mp_f_bin(w, &n, "id", leaf->id.bytes, PROTO_ID_LEN);
    mp_f_bin(w, &n, "hash", leaf->hash, PROTO_HASH_LEN);
    mp_f_str(w, &n, "from", leaf->from);
    mp_f_str(w, &n, "to", leaf->to);
    mp_f_uint(w, &n, "time", leaf->time);
    mp_f_uint_opt(w, &n, "seq", leaf->seq);
    mp_f_uint_opt(w, &n, "code", leaf->code);
    mp_f_str(w, &n, "reason", leaf->reason);
    mp_map_end(w, map, n);
}

static proto_err_t s_head_decode(mp_ctx_t *ctx, int kind, const msgpack_object *o,
                                 proto_head_t *head)
{
    const msgpack_object *f[NKEYS(s_head_keys)];
    size_t mark = mp_path_push(ctx, "head");
    proto_err_t rc = o ? mp_map(ctx, o, s_head_keys, NKEYS(s_head_keys), f)
                       : mp_fail(ctx, PROTO_ERR_MISSING, NULL, "required field missing");
    if (!rc)
        rc = mp_label(ctx, "signer", f[0], true, &head->signer);
    if (!rc)
        rc = mp_uint(ctx, "time", f[1], true, 0, UINT64_MAX, &head->time);
    if (!rc)
        rc = mp_uint(ctx, "size", f[2], true, 1, UINT32_MAX, &head->size);
    if (!rc)
        rc = mp_bin(ctx, "root", f[3], true, PROTO_HASH_LEN, head->root);
    if (!rc)
        rc = mp_uint(ctx, "log", f[4], false, 1, UINT32_MAX, &head->log);
    //  Only the broker's group commits are leaves of its log (ACCEPTED,
    //  REJECTED); a recipient's or an expiry's head has no place in it.
    if (!rc && head->log && kind != PROTO_KIND_ACCEPTED && kind != PROTO_KIND_REJECTED)
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "log", "only ACCEPTED and REJECTED heads are logged");
    mp_path_pop(ctx, mark);
    return rc;
}

proto_err_t msg_receipts_decode(mp_ctx_t *ctx, int kind, const msgpack_object *o,
                                proto_receipts_t *out)
{
    const msgpack_object *f[NKEYS(s_receipts_keys)];
    const msgpack_object *items = NULL;
    proto_err_t rc = mp_map(ctx, o, s_receipts_keys, NKEYS(s_receipts_keys), f);
    if (!rc)
        rc = mp_uint(ctx, "mid", f[0], false, 1, UINT64_MAX, &out->mid);
    if (!rc)
        rc = s_head_decode(ctx, kind, f[1], &out->head);
    if (!rc)
        rc = mp_bin(ctx, "sig", f[2], true, PROTO_SIG_LEN, out->sig);
    if (!rc)
        rc = mp_array(ctx, "items", f[3], true, 1, PROTO_MAX_ITEMS, &items, &out->nitems);
    if (!rc && out->nitems > out->head.size)
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "items", "more items than leaves in the tree");
    if (!rc)
        rc = mp_alloc(ctx, out->nitems, sizeof(proto_item_t), &out->items);
    size_t mark = mp_path_push(ctx, "items");
    for (uint32_t i = 0; !rc && i < out->nitems; i++) {
        const msgpack_object *g[NKEYS(s_item_keys)];
        const msgpack_object *path = NULL;
        proto_item_t *item = &out->items[i];
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = mp_map(ctx, &items[i], s_item_keys, NKEYS(s_item_keys), g);
        if (!rc && !g[0])
            rc = mp_fail(ctx, PROTO_ERR_MISSING, "leaf", "required field missing");
        if (!rc)
            rc = s_leaf_decode(ctx, kind, g[0], &item->leaf);
        if (!rc)
            rc = mp_uint(ctx, "index", g[1], true, 0, out->head.size - 1, &item->index);
        if (!rc)
            rc = mp_array(ctx, "path", g[2], false, 0, PROTO_MAX_PATH, &path, &item->npath);
        if (!rc && item->npath)
            rc = mp_alloc(ctx, item->npath, PROTO_HASH_LEN, &item->path);
        size_t mark_path = mp_path_push(ctx, "path");
        for (uint32_t k = 0; !rc && k < item->npath; k++) {
            size_t mark_k = mp_path_push_index(ctx, k);
            rc = mp_bin(ctx, NULL, &path[k], true, PROTO_HASH_LEN, item->path[k]);
            mp_path_pop(ctx, mark_k);
        }
        mp_path_pop(ctx, mark_path);
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    return rc;
}

void msg_receipts_encode(mp_writer_t *w, const proto_receipts_t *in)
{
    uint32_t n = 0, m = 0;
    size_t map = mp_map_begin(w);
    mp_f_uint_opt(w, &n, "mid", in->mid);
    mp_f_key(w, &n, "head");
    size_t sub = mp_map_begin(w);
    mp_f_str(w, &m, "signer", in->head.signer);
    mp_f_uint(w, &m, "time", in->head.time);
    mp_f_uint(w, &m, "size", in->head.size);
    mp_f_bin(w, &m, "root", in->head.root, PROTO_HASH_LEN);
    mp_f_uint_opt(w, &m, "log", in->head.log);
    mp_map_end(w, sub, m);
    mp_f_bin(w, &n, "sig", in->sig, PROTO_SIG_LEN);
    mp_f_key(w, &n, "items");
    mp_w_array(w, in->nitems);
    for (uint32_t i = 0; i < in->nitems; i++) {
        const proto_item_t *item = &in->items[i];
        uint32_t q = 0;
        size_t sub_item = mp_map_begin(w);
        mp_f_key(w, &q, "leaf");
        s_leaf_encode(w, &item->leaf);
        mp_f_uint(w, &q, "index", item->index);
        if (item->npath) {
            mp_f_key(w, &q, "path");
            mp_w_array(w, item->npath);
            for (uint32_t k = 0; k < item->npath; k++)
                mp_w_bin(w, item->path[k], PROTO_HASH_LEN);
        }
        mp_map_end(w, sub_item, q);
    }
    mp_map_end(w, map, n);
}
