/*  msg_session.c - the session kinds: HELLO READY HEARTBEAT CREDIT ACK ERROR.

    The small unsigned messages that open a session, keep it alive, grant
    credit, acknowledge mailbox ids and report errors: their strict
    decoders and their encoders. Session state itself is the daemons'.
*/
#include <string.h>

#include "msg_internal.h"

// ---------------------------------------------------------------------------
//  Session kinds: HELLO READY HEARTBEAT CREDIT ACK ERROR

static const char *const s_hello_keys[] = { "versions", "agency",     "software", "dir_serial",
                                            "window",   "dir_deltas", "link",     "log",
                                            "dir_own",  "route" };

static proto_err_t s_hello_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_hello_t *out)
{
    const msgpack_object *f[NKEYS(s_hello_keys)];
    const msgpack_object *items = NULL;
    proto_err_t rc = mp_map(ctx, o, s_hello_keys, NKEYS(s_hello_keys), f);
    if (!rc)
        rc = mp_array(ctx, "versions", f[0], true, 1, PROTO_MAX_VERSIONS, &items, &out->nversions);
    if (!rc)
        rc = mp_alloc(ctx, out->nversions, 1, &out->versions);
    size_t mark = mp_path_push(ctx, "versions");
    for (uint32_t i = 0; !rc && i < out->nversions; i++) {
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = msg_u8(ctx, NULL, &items[i], true, 1, 255, &out->versions[i]);
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    //  A link between brokers (PROTOCOL.md section 16.5) names the dialing
    //  broker's label instead of an agency: exactly one of the two.
    if (!rc)
        rc = mp_label(ctx, "link", f[6], false, &out->link);
    if (!rc)
        rc = mp_agency(ctx, "agency", f[1], !out->link, &out->agency);
    if (!rc && out->link && out->agency)
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "agency", "a link's HELLO names no agency");
    if (!rc)
        rc = mp_text(ctx, "software", f[2], false, PROTO_MAX_SHORT, &out->software);
    if (!rc)
        rc = mp_uint(ctx, "dir_serial", f[3], false, 0, UINT64_MAX, &out->dir_serial);
    if (!rc)
        rc = msg_u32(ctx, "window", f[4], true, 1, PROTO_MAX_WINDOW, &out->window);
    if (!rc)
        rc = mp_bool(ctx, "dir_deltas", f[5], false, &out->dir_deltas);
    if (!rc)
        rc = mp_bool(ctx, "log", f[7], false, &out->log);
    if (!rc)
        rc = mp_bool(ctx, "dir_own", f[8], false, &out->dir_own);
    if (!rc && out->dir_own && !out->link)
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "dir_own", "only a link offers its own agencies");
    if (!rc)
        rc = mp_bool(ctx, "route", f[9], false, &out->route);
    if (!rc && out->route && out->link)
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "route", "only an agency is delivered documents");
    return rc;
}

static const char *const s_ready_keys[] = {
    "version",    "broker",    "agency",       "time",           "heartbeat",
    "dir_serial", "max_frame", "max_document", "max_recipients", "max_attachments",
    "link",       "log",       "dir_held",
};

static proto_err_t s_ready_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_ready_t *out)
{
    const msgpack_object *f[NKEYS(s_ready_keys)];
    proto_err_t rc = mp_map(ctx, o, s_ready_keys, NKEYS(s_ready_keys), f);
    if (!rc)
        rc = msg_u8(ctx, "version", f[0], true, 1, 255, &out->version);
    if (!rc)
        rc = mp_label(ctx, "broker", f[1], true, &out->broker);
    if (!rc)
        rc = mp_label(ctx, "link", f[10], false, &out->link);
    if (!rc)
        rc = mp_agency(ctx, "agency", f[2], !out->link, &out->agency);
    if (!rc && out->link && out->agency)
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "agency", "a link's READY names no agency");
    if (!rc)
        rc = mp_uint(ctx, "time", f[3], true, 0, UINT64_MAX, &out->time);
    if (!rc)
        rc = msg_u32(ctx, "heartbeat", f[4], true, 100, 3600000, &out->heartbeat);
    if (!rc)
        rc = mp_uint(ctx, "dir_serial", f[5], true, 0, UINT64_MAX, &out->dir_serial);
    if (!rc)
        rc =
            mp_uint(ctx, "max_frame", f[6], true, 1024, PROTO_MAX_ATTACHMENT_SIZE, &out->max_frame);
    if (!rc)
        rc = mp_uint(ctx, "max_document", f[7], true, 1024,
                     PROTO_MAX_ATTACHMENT_SIZE * PROTO_MAX_ATTACHMENTS, &out->max_document);
    if (!rc)
        rc = msg_u32(ctx, "max_recipients", f[8], true, 1, PROTO_MAX_RECIPIENTS,
                     &out->max_recipients);
    if (!rc)
        rc = msg_u32(ctx, "max_attachments", f[9], true, 0, PROTO_MAX_ATTACHMENTS,
                     &out->max_attachments);
    out->has_log = f[11] != NULL;
    if (!rc && out->has_log)
        rc = msg_sth_decode(ctx, "log", f[11], &out->log);
    //  A link's READY carries the listening broker's head too, when the
    //  dialing broker's HELLO said `log` (PROTOCOL.md 18.5).
    out->has_dir_held = f[12] != NULL;
    if (!rc && out->has_dir_held)
        rc = mp_uint(ctx, "dir_held", f[12], true, 0, UINT64_MAX, &out->dir_held);
    if (!rc && out->has_dir_held && !out->link)
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "dir_held", "only a link takes agencies");
    return rc;
}

static const char *const s_time_keys[] = { "time" };
static const char *const s_window_keys[] = { "window" };
static const char *const s_ack_keys[] = { "mids" };
static const char *const s_error_keys[] = { "code", "message", "ref", "fatal" };

static proto_err_t s_ack_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_ack_t *out)
{
    const msgpack_object *f[1];
    const msgpack_object *items = NULL;
    proto_err_t rc = mp_map(ctx, o, s_ack_keys, 1, f);
    if (!rc)
        rc = mp_array(ctx, "mids", f[0], true, 1, PROTO_MAX_ITEMS, &items, &out->nmids);
    if (!rc)
        rc = mp_alloc(ctx, out->nmids, sizeof(uint64_t), &out->mids);
    size_t mark = mp_path_push(ctx, "mids");
    for (uint32_t i = 0; !rc && i < out->nmids; i++) {
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = mp_uint(ctx, NULL, &items[i], true, 1, UINT64_MAX, &out->mids[i]);
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    return rc;
}

static proto_err_t s_error_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_error_t *out)
{
    const msgpack_object *f[NKEYS(s_error_keys)];
    proto_err_t rc = mp_map(ctx, o, s_error_keys, NKEYS(s_error_keys), f);
    if (!rc)
        rc = msg_u32(ctx, "code", f[0], true, 1, 999, &out->code);
    if (!rc && !proto_err_is_known(out->code))
        rc = mp_fail(ctx, PROTO_ERR_VALUE, "code", "%u is not a defined error code", out->code);
    if (!rc)
        rc = mp_text(ctx, "message", f[1], true, PROTO_MAX_TEXT, &out->message);
    if (!rc && f[2]) {
        out->has_ref = true;
        rc = msg_id(ctx, "ref", f[2], true, &out->ref);
    }
    if (!rc)
        rc = mp_bool(ctx, "fatal", f[3], false, &out->fatal);
    return rc;
}

proto_err_t msg_session_decode(mp_ctx_t *ctx, int kind, const msgpack_object *o, proto_msg_t *msg)
{
    const msgpack_object *f[1];
    proto_err_t rc;
    switch (kind) {
    case PROTO_KIND_HELLO:
        return s_hello_decode(ctx, o, &msg->u.hello);
    case PROTO_KIND_READY:
        return s_ready_decode(ctx, o, &msg->u.ready);
    case PROTO_KIND_HEARTBEAT:
        rc = mp_map(ctx, o, s_time_keys, 1, f);
        return rc ? rc : mp_uint(ctx, "time", f[0], true, 0, UINT64_MAX, &msg->u.heartbeat.time);
    case PROTO_KIND_CREDIT:
        rc = mp_map(ctx, o, s_window_keys, 1, f);
        return rc ? rc
                  : msg_u32(ctx, "window", f[0], true, 1, PROTO_MAX_WINDOW, &msg->u.credit.window);
    case PROTO_KIND_ACK:
        return s_ack_decode(ctx, o, &msg->u.ack);
    case PROTO_KIND_ERROR:
        return s_error_decode(ctx, o, &msg->u.error);
    }
    return mp_fail(ctx, PROTO_ERR_KIND, NULL, "unknown kind %d", kind);
}

void msg_session_encode(mp_writer_t *w, const proto_msg_t *msg)
{
    uint32_t n = 0;
    size_t map;
    switch (msg->kind) {
    case PROTO_KIND_HELLO: {
        const proto_hello_t *h = &msg->u.hello;
        map = mp_map_begin(w);
        mp_f_key(w, &n, "versions");
        mp_w_array(w, h->nversions);
        for (uint32_t i = 0; i < h->nversions; i++)
            mp_w_uint(w, h->versions[i]);
        mp_f_str(w, &n, "agency", h->agency);
        mp_f_str(w, &n, "software", h->software);
        mp_f_uint_opt(w, &n, "dir_serial", h->dir_serial);
        mp_f_uint(w, &n, "window", h->window);
        if (h->dir_deltas) {
            mp_f_key(w, &n, "dir_deltas");
            mp_w_bool(w, true);
        }
        mp_f_str(w, &n, "link", h->link);
        if (h->log) {
            mp_f_key(w, &n, "log");
            mp_w_bool(w, true);
        }
        if (h->dir_own) {
            mp_f_key(w, &n, "dir_own");
            mp_w_bool(w, true);
        }
        if (h->route) {
            mp_f_key(w, &n, "route");
            mp_w_bool(w, true);
        }
        mp_map_end(w, map, n);
        return;
    }
    case PROTO_KIND_READY: {
        const proto_ready_t *r = &msg->u.ready;
        map = mp_map_begin(w);
        mp_f_uint(w, &n, "version", r->version);
        mp_f_str(w, &n, "broker", r->broker);
        mp_f_str(w, &n, "agency", r->agency);
        mp_f_uint(w, &n, "time", r->time);
        mp_f_uint(w, &n, "heartbeat", r->heartbeat);
        mp_f_uint(w, &n, "dir_serial", r->dir_serial);
        mp_f_uint(w, &n, "max_frame", r->max_frame);
        mp_f_uint(w, &n, "max_document", r->max_document);
        mp_f_uint(w, &n, "max_recipients", r->max_recipients);
        mp_f_uint(w, &n, "max_attachments", r->max_attachments);
        mp_f_str(w, &n, "link", r->link);
        if (r->has_log)
            msg_sth_encode(w, &n, "log", &r->log);
        if (r->has_dir_held)
            mp_f_uint(w, &n, "dir_held", r->dir_held);
        mp_map_end(w, map, n);
        return;
    }
    case PROTO_KIND_HEARTBEAT:
        map = mp_map_begin(w);
        mp_f_uint(w, &n, "time", msg->u.heartbeat.time);
        mp_map_end(w, map, n);
        return;
    case PROTO_KIND_CREDIT:
        map = mp_map_begin(w);
        mp_f_uint(w, &n, "window", msg->u.credit.window);
        mp_map_end(w, map, n);
        return;
    case PROTO_KIND_ACK:
        map = mp_map_begin(w);
        mp_f_key(w, &n, "mids");
        mp_w_array(w, msg->u.ack.nmids);
        for (uint32_t i = 0; i < msg->u.ack.nmids; i++)
            mp_w_uint(w, msg->u.ack.mids[i]);
        mp_map_end(w, map, n);
        return;
    case PROTO_KIND_ERROR: {
        const proto_error_t *e = &msg->u.error;
        map = mp_map_begin(w);
        mp_f_uint(w, &n, "code", e->code);
        mp_f_str(w, &n, "message", e->message);
        if (e->has_ref)
            mp_f_bin(w, &n, "ref", e->ref.bytes, PROTO_ID_LEN);
        if (e->fatal) {
            mp_f_key(w, &n, "fatal");
            mp_w_bool(w, true);
        }
        mp_map_end(w, map, n);
        return;
    }
    default:
        break;
    }
}
