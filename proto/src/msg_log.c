/*  msg_log.c - the transparency log's kinds: LOG_PROVE and LOG_PROOF, and
    the signed tree head (also carried by READY).

    Strict decoders and encoders only; what a head or proof means is
    proto/tlog.h's, what an agent does with them agent/tlog.c's.
*/
#include <string.h>

#include "msg_internal.h"

static const char *const s_sth_keys[] = { "signer", "time", "size", "root", "sig" };
static const char *const s_prove_keys[] = { "from" };
static const char *const s_proof_keys[] = { "sth", "from", "proof" };

proto_err_t msg_sth_decode(mp_ctx_t *ctx, const char *name, const msgpack_object *o,
                           proto_sth_t *out)
{
    const msgpack_object *f[NKEYS(s_sth_keys)];
    size_t mark = mp_path_push(ctx, name);
    proto_err_t rc = o ? mp_map(ctx, o, s_sth_keys, NKEYS(s_sth_keys), f)
                       : mp_fail(ctx, PROTO_ERR_MISSING, NULL, "required field missing");
    if (!rc)
        rc = mp_label(ctx, "signer", f[0], true, &out->signer);
    if (!rc)
        rc = mp_uint(ctx, "time", f[1], true, 0, UINT64_MAX, &out->time);
    //  The empty log (size 0) has a head too: a new broker's first READY.
    if (!rc)
        rc = mp_uint(ctx, "size", f[2], true, 0, PROTO_TLOG_MAX_SIZE, &out->size);
    if (!rc)
        rc = mp_bin(ctx, "root", f[3], true, PROTO_HASH_LEN, out->root);
    if (!rc)
        rc = mp_bin(ctx, "sig", f[4], true, PROTO_SIG_LEN, out->sig);
    mp_path_pop(ctx, mark);
    return rc;
}

void msg_sth_encode(mp_writer_t *w, uint32_t *count, const char *name, const proto_sth_t *in)
{
    uint32_t m = 0;
    mp_f_key(w, count, name);
    size_t map = mp_map_begin(w);
    mp_f_str(w, &m, "signer", in->signer);
    mp_f_uint(w, &m, "time", in->time);
    mp_f_uint(w, &m, "size", in->size);
    mp_f_bin(w, &m, "root", in->root, PROTO_HASH_LEN);
    mp_f_bin(w, &m, "sig", in->sig, PROTO_SIG_LEN);
    mp_map_end(w, map, m);
}

static proto_err_t s_proof_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_log_proof_t *out)
{
    const msgpack_object *f[NKEYS(s_proof_keys)];
    const msgpack_object *items = NULL;
    proto_err_t rc = mp_map(ctx, o, s_proof_keys, NKEYS(s_proof_keys), f);
    if (!rc)
        rc = msg_sth_decode(ctx, "sth", f[0], &out->sth);
    if (!rc)
        rc = mp_uint(ctx, "from", f[1], false, 0, PROTO_TLOG_MAX_SIZE, &out->from);
    if (!rc)
        rc = mp_array(ctx, "proof", f[2], false, 0, PROTO_TLOG_MAX_PROOF, &items, &out->nproof);
    if (!rc && out->nproof)
        rc = mp_alloc(ctx, out->nproof, PROTO_HASH_LEN, &out->proof);
    size_t mark = mp_path_push(ctx, "proof");
    for (uint32_t i = 0; !rc && i < out->nproof; i++) {
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = mp_bin(ctx, NULL, &items[i], true, PROTO_HASH_LEN, out->proof[i]);
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    //  Cross-field rules last (PROTOCOL.md 12): a proof starts inside the
    //  log it proves, and from 0 or from the whole log there is nothing to
    //  prove.
    if (!rc && out->from > out->sth.size)
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "from", "larger than sth.size");
    if (!rc && out->nproof && (out->from == 0 || out->from == out->sth.size))
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "proof", "no proof is needed from size %llu",
                     (unsigned long long) out->from);
    return rc;
}

proto_err_t msg_log_decode(mp_ctx_t *ctx, int kind, const msgpack_object *o, proto_msg_t *msg)
{
    if (kind == PROTO_KIND_LOG_PROOF)
        return s_proof_decode(ctx, o, &msg->u.log_proof);
    const msgpack_object *f[NKEYS(s_prove_keys)];
    proto_err_t rc = mp_map(ctx, o, s_prove_keys, NKEYS(s_prove_keys), f);
    return rc ? rc
              : mp_uint(ctx, "from", f[0], true, 0, PROTO_TLOG_MAX_SIZE, &msg->u.log_prove.from);
}

void msg_log_encode(mp_writer_t *w, const proto_msg_t *msg)
{
    uint32_t n = 0;
    size_t map = mp_map_begin(w);
    if (msg->kind == PROTO_KIND_LOG_PROVE) {
        mp_f_uint(w, &n, "from", msg->u.log_prove.from);
    } else {
        const proto_log_proof_t *p = &msg->u.log_proof;
        msg_sth_encode(w, &n, "sth", &p->sth);
        mp_f_uint_opt(w, &n, "from", p->from);
        if (p->nproof) {
            mp_f_key(w, &n, "proof");
            mp_w_array(w, p->nproof);
            for (uint32_t i = 0; i < p->nproof; i++)
                mp_w_bin(w, p->proof[i], PROTO_HASH_LEN);
        }
    }
    mp_map_end(w, map, n);
}
