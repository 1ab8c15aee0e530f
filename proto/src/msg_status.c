/*  msg_status.c - STATUS: a signed notice from one agency to another.

    The strict decoder and the encoder of a STATUS body: the mailbox id, the
    notice (document, parties, status code, staff member) and its
    signature. The notice's signing bytes are sign.c's.
*/
#include <string.h>

#include "msg_internal.h"

// ---------------------------------------------------------------------------
//  STATUS

static const char *const s_status_keys[] = { "mid", "notice", "sig" };
static const char *const s_notice_keys[] = { "id",   "doc",  "from", "to",
                                             "code", "time", "note", "staff" };
static const char *const s_staff_keys[] = { "name", "department", "phone", "email" };

static bool s_status_code_valid(uint8_t code)
{
    return (code >= 1 && code <= 6) || code == 13 || code == 15 || code == 16;
}

proto_err_t msg_status_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_status_t *out)
{
    const msgpack_object *f[NKEYS(s_status_keys)];
    const msgpack_object *g[NKEYS(s_notice_keys)];
    proto_notice_t *n = &out->notice;
    proto_err_t rc = mp_map(ctx, o, s_status_keys, NKEYS(s_status_keys), f);
    if (!rc)
        rc = mp_uint(ctx, "mid", f[0], false, 1, UINT64_MAX, &out->mid);
    if (!rc)
        rc = mp_bin(ctx, "sig", f[2], true, PROTO_SIG_LEN, out->sig);
    if (!rc && !f[1])
        rc = mp_fail(ctx, PROTO_ERR_MISSING, "notice", "required field missing");
    size_t mark = mp_path_push(ctx, "notice");
    if (!rc)
        rc = mp_map(ctx, f[1], s_notice_keys, NKEYS(s_notice_keys), g);
    if (!rc)
        rc = msg_id(ctx, "id", g[0], true, &n->id);
    if (!rc)
        rc = msg_id(ctx, "doc", g[1], true, &n->doc);
    if (!rc)
        rc = mp_agency(ctx, "from", g[2], true, &n->from);
    if (!rc)
        rc = mp_agency(ctx, "to", g[3], true, &n->to);
    if (!rc && strcmp(n->from, n->to) == 0)
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "to", "a notice cannot be sent to its sender");
    if (!rc)
        rc = msg_u8(ctx, "code", g[4], true, 1, 16, &n->code);
    if (!rc && !s_status_code_valid(n->code))
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "code", "%u is not a status code (01-06, 13, 15, 16)",
                     n->code);
    if (!rc)
        rc = mp_uint(ctx, "time", g[5], true, 0, UINT64_MAX, &n->time);
    if (!rc)
        rc = mp_text(ctx, "note", g[6], false, PROTO_MAX_TEXT, &n->note);
    if (!rc && g[7]) {
        const msgpack_object *h[NKEYS(s_staff_keys)];
        size_t mark_staff = mp_path_push(ctx, "staff");
        rc = mp_map(ctx, g[7], s_staff_keys, NKEYS(s_staff_keys), h);
        if (!rc)
            rc = mp_text(ctx, "name", h[0], false, PROTO_MAX_SHORT, &n->staff.name);
        if (!rc)
            rc = mp_text(ctx, "department", h[1], false, PROTO_MAX_NAME, &n->staff.department);
        if (!rc)
            rc = mp_text(ctx, "phone", h[2], false, PROTO_MAX_SHORT, &n->staff.phone);
        if (!rc)
            rc = mp_text(ctx, "email", h[3], false, PROTO_MAX_SHORT, &n->staff.email);
        mp_path_pop(ctx, mark_staff);
    }
    mp_path_pop(ctx, mark);
    return rc;
}

void msg_status_encode(mp_writer_t *w, const proto_status_t *in)
{
    const proto_notice_t *n = &in->notice;
    uint32_t c = 0, m = 0;
    size_t map = mp_map_begin(w);
    mp_f_uint_opt(w, &c, "mid", in->mid);
    mp_f_key(w, &c, "notice");
    size_t sub = mp_map_begin(w);
    mp_f_bin(w, &m, "id", n->id.bytes, PROTO_ID_LEN);
    mp_f_bin(w, &m, "doc", n->doc.bytes, PROTO_ID_LEN);
    mp_f_str(w, &m, "from", n->from);
    mp_f_str(w, &m, "to", n->to);
    mp_f_uint(w, &m, "code", n->code);
    mp_f_uint(w, &m, "time", n->time);
    mp_f_str(w, &m, "note", n->note);
    const proto_staff_t *s = &n->staff;
    if (s->name || s->department || s->phone || s->email) {
        uint32_t q = 0;
        mp_f_key(w, &m, "staff");
        size_t sub_staff = mp_map_begin(w);
        mp_f_str(w, &q, "name", s->name);
        mp_f_str(w, &q, "department", s->department);
        mp_f_str(w, &q, "phone", s->phone);
        mp_f_str(w, &q, "email", s->email);
        mp_map_end(w, sub_staff, q);
    }
    mp_map_end(w, sub, m);
    mp_f_bin(w, &c, "sig", in->sig, PROTO_SIG_LEN);
    mp_map_end(w, map, c);
}
