/*  agent/api.c - the local API (agent/API.md) on a ROUTER socket.

    Each request is one msgpack map. Documents a DMS submits are turned into
    wire envelopes by copying the DMS's map into a SUBMIT body and running
    the protocol's strict decoder over it: one set of rules, and errors that
    name the field exactly as a receiver would. Replies to requests that
    change the store wait for the commit (agent.c sends them afterwards).
*/
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "agent_internal.h"
#include "proto/agency.h"
#include "proto/log.h"
#include "proto/sign.h"

#define API_MAX_DEPTH 8
#define MAX_FRAMES    (2 + PROTO_MAX_ATTACHMENTS)

typedef struct {
    agent_t *self;
    const uint8_t *route; // requester's routing frame
    size_t route_len;
    msgpack_sbuffer buf; // the reply being built
    msgpack_packer pk;
    msgpack_sbuffer *capture; // not NULL: replies go here, not to the socket (agent_api_handle)
} s_req_t;

// ---------------------------------------------------------------------------
//  Replies

static void s_reply_send(s_req_t *req, bool after_commit)
{
    agent_t *self = req->self;
    if (req->capture)
        msgpack_sbuffer_write(req->capture, req->buf.data, req->buf.size);
    if (after_commit) {
        agent_after_add(self, AFTER_REPLY, req->route, req->route_len, req->buf.data, req->buf.size,
                        NULL, 0);
    } else if (!req->capture) {
        zmq_send(self->api, req->route, req->route_len, ZMQ_SNDMORE);
        zmq_send(self->api, "", 0, ZMQ_SNDMORE);
        zmq_send(self->api, req->buf.data, req->buf.size, 0);
    }
    msgpack_sbuffer_clear(&req->buf);
}

static void s_key(msgpack_packer *pk, const char *key)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
}

static void s_str(msgpack_packer *pk, const char *value)
{
    if (value)
        msgpack_pack_str_with_body(pk, value, strlen(value));
    else
        msgpack_pack_nil(pk);
}

static void s_kv_str(msgpack_packer *pk, const char *key, const char *value)
{
    s_key(pk, key);
    s_str(pk, value);
}

static void s_kv_u64(msgpack_packer *pk, const char *key, uint64_t value)
{
    s_key(pk, key);
    msgpack_pack_uint64(pk, value);
}

static void s_kv_bool(msgpack_packer *pk, const char *key, bool value)
{
    s_key(pk, key);
    if (value)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

static void s_kv_id(msgpack_packer *pk, const char *key, const proto_id_t *id)
{
    char text[37];
    proto_id_format(id, text);
    s_kv_str(pk, key, text);
}

//  Start an ok reply with n more fields to follow.
static void s_ok(s_req_t *req, size_t n)
{
    msgpack_pack_map(&req->pk, 1 + n);
    s_kv_bool(&req->pk, "ok", true);
}

static void s_fail(s_req_t *req, proto_err_t code, const char *field, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static void s_fail(s_req_t *req, proto_err_t code, const char *field, const char *format, ...)
{
    char message[400];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    msgpack_sbuffer_clear(&req->buf);
    msgpack_pack_map(&req->pk, 5);
    s_kv_bool(&req->pk, "ok", false);
    s_kv_u64(&req->pk, "code", (uint64_t) code);
    s_kv_str(&req->pk, "error", proto_errname(code));
    s_kv_str(&req->pk, "field", field ? field : "");
    s_kv_str(&req->pk, "message", message[0] ? message : proto_strerror(code));
    s_reply_send(req, false);
}

// ---------------------------------------------------------------------------
//  Reading request fields

static bool s_is(const msgpack_object *o, const char *text)
{
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(text) &&
           memcmp(o->via.str.ptr, text, o->via.str.size) == 0;
}

//  Check the request's keys: every key must be in allowed (NULL-ended).
static bool s_keys_known(s_req_t *req, const msgpack_object *map, const char *const *allowed)
{
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *key = &map->via.map.ptr[i].key;
        bool known = false;
        for (size_t k = 0; allowed[k] && !known; k++)
            known = s_is(key, allowed[k]);
        if (!known) {
            //  Name the field when it is a plain name; anything else (other
            //  bytes, not a string) is not echoed back.
            char name[65] = "(key)";
            if (key->type == MSGPACK_OBJECT_STR && key->via.str.size > 0 &&
                key->via.str.size < sizeof name) {
                bool plain = true;
                for (uint32_t c = 0; c < key->via.str.size && plain; c++) {
                    char ch = key->via.str.ptr[c];
                    plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                            (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
                }
                if (plain)
                    snprintf(name, sizeof name, "%.*s", (int) key->via.str.size, key->via.str.ptr);
            }
            s_fail(req, PROTO_ERR_UNKNOWN_FIELD, name, "unknown field %s", name);
            return false;
        }
    }
    return true;
}

static const msgpack_object *s_get(const msgpack_object *map, const char *key)
{
    for (uint32_t i = 0; map->type == MSGPACK_OBJECT_MAP && i < map->via.map.size; i++)
        if (s_is(&map->via.map.ptr[i].key, key))
            return &map->via.map.ptr[i].val;
    return NULL;
}

//  Copy a str field into out (NUL-terminated). false (and a reply) when it
//  is present but not a string or too long.
static bool s_text(s_req_t *req, const msgpack_object *map, const char *key, char *out, size_t cap,
                   bool required)
{
    const msgpack_object *v = s_get(map, key);
    out[0] = '\0';
    if (!v || v->type == MSGPACK_OBJECT_NIL) {
        if (required)
            s_fail(req, PROTO_ERR_MISSING, key, "required field missing");
        return !required;
    }
    if (v->type != MSGPACK_OBJECT_STR) {
        s_fail(req, PROTO_ERR_TYPE, key, "expected a string");
        return false;
    }
    if (v->via.str.size >= cap) {
        s_fail(req, PROTO_ERR_LIMIT, key, "longer than %zu bytes", cap - 1);
        return false;
    }
    memcpy(out, v->via.str.ptr, v->via.str.size);
    out[v->via.str.size] = '\0';
    return true;
}

static bool s_uint(s_req_t *req, const msgpack_object *map, const char *key, uint64_t *out,
                   uint64_t min, uint64_t max)
{
    const msgpack_object *v = s_get(map, key);
    if (!v || v->type == MSGPACK_OBJECT_NIL)
        return true;
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        s_fail(req, PROTO_ERR_TYPE, key, "expected an unsigned integer");
        return false;
    }
    if (v->via.u64 < min || v->via.u64 > max) {
        s_fail(req, PROTO_ERR_VALUE, key, "outside %" PRIu64 "..%" PRIu64, min, max);
        return false;
    }
    *out = v->via.u64;
    return true;
}

static bool s_id_field(s_req_t *req, const msgpack_object *map, const char *key, proto_id_t *id)
{
    char text[64];
    if (!s_text(req, map, key, text, sizeof text, true))
        return false;
    if (proto_id_parse(text, id) != PROTO_OK) {
        s_fail(req, PROTO_ERR_VALUE, key, "'%s' is not a document id", text);
        return false;
    }
    return true;
}

// ---------------------------------------------------------------------------
//  Building documents from a DMS request

typedef struct {
    void *data[PROTO_MAX_ATTACHMENTS];
    size_t lens[PROTO_MAX_ATTACHMENTS];
    bool owned[PROTO_MAX_ATTACHMENTS];
    uint32_t n;
} s_atts_t;

static void s_atts_free(s_atts_t *atts)
{
    for (uint32_t i = 0; i < atts->n; i++)
        if (atts->owned[i])
            free(atts->data[i]);
    atts->n = 0;
}

//  A path outside the allowed directories, through a symlink or at the
//  agent's own files is an attempt worth an event, as a forged doc.from is.
static void s_denied_path(s_req_t *req, const char *field, const char *path)
{
    proto_log_warning("event=api_denied field=%s path=\"%.200s\"", field, path);
    agent_event(req->self, "api.denied", NULL, "sss", "field", field, "path", path, "code",
                proto_errname(PROTO_ERR_NOT_AUTHORIZED));
}

//  Read an attachment the request names by path, confined to the allowed
//  directories (agent/files.h).
static bool s_read_file(s_req_t *req, const char *path, uint64_t limit, void **data, size_t *len,
                        const char *field)
{
    char why[PATH_MAX + 128];
    proto_err_t rc = agent_files_read(req->self->files, path, limit, data, len, why, sizeof why);
    if (rc == PROTO_ERR_NOT_AUTHORIZED)
        s_denied_path(req, field, path);
    if (rc)
        s_fail(req, rc, field, "%s", why);
    return rc == PROTO_OK;
}

//  Pack the "att" list from the request's attachments, reading files given
//  by path, and keep the bytes for the frames.
static bool s_attachments(s_req_t *req, const msgpack_object *list, msgpack_packer *pk,
                          s_atts_t *atts)
{
    static const char *const keys[] = { "name", "type", "data", "path", NULL };
    uint64_t total = 0;
    if (!list || list->type == MSGPACK_OBJECT_NIL)
        return true;
    if (list->type != MSGPACK_OBJECT_ARRAY) {
        s_fail(req, PROTO_ERR_TYPE, "attachments", "expected an array");
        return false;
    }
    if (list->via.array.size > PROTO_MAX_ATTACHMENTS) {
        s_fail(req, PROTO_ERR_LIMIT, "attachments", "at most %d", PROTO_MAX_ATTACHMENTS);
        return false;
    }
    s_key(pk, "att");
    msgpack_pack_array(pk, list->via.array.size);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *a = &list->via.array.ptr[i];
        char field[32];
        snprintf(field, sizeof field, "attachments[%u]", i);
        if (a->type != MSGPACK_OBJECT_MAP) {
            s_fail(req, PROTO_ERR_TYPE, field, "expected a map");
            return false;
        }
        if (!s_keys_known(req, a, keys))
            return false;
        const msgpack_object *name = s_get(a, "name"), *type = s_get(a, "type");
        const msgpack_object *data = s_get(a, "data"), *path = s_get(a, "path");
        if (!name || !type || (!data == !path)) {
            s_fail(req, PROTO_ERR_MISSING, field, "needs name, type, and data or path");
            return false;
        }
        if (data && data->type != MSGPACK_OBJECT_BIN) {
            s_fail(req, PROTO_ERR_TYPE, field, "data must be binary");
            return false;
        }
        if (data) {
            atts->data[i] = (void *) (uintptr_t) data->via.bin.ptr;
            atts->lens[i] = data->via.bin.size;
            atts->owned[i] = false;
        } else {
            char file[PATH_MAX];
            if (path->type != MSGPACK_OBJECT_STR || path->via.str.size >= sizeof file) {
                s_fail(req, PROTO_ERR_TYPE, field, "path must be a string");
                return false;
            }
            memcpy(file, path->via.str.ptr, path->via.str.size);
            file[path->via.str.size] = '\0';
            if (!s_read_file(req, file, req->self->config->max_document, &atts->data[i],
                             &atts->lens[i], field))
                return false;
            atts->owned[i] = true;
        }
        atts->n = i + 1;
        total += atts->lens[i];
        if (total > req->self->config->max_document ||
            (req->self->max_frame && atts->lens[i] > req->self->max_frame) ||
            (req->self->max_document && total > req->self->max_document)) {
            s_fail(req, PROTO_ERR_TOO_LARGE, field,
                   "attachments larger than this agent or the broker accept");
            return false;
        }
        proto_attachment_t desc = { 0 };
        proto_attachment_hash(&desc, atts->data[i], atts->lens[i]);
        msgpack_pack_map(pk, 4);
        s_key(pk, "name");
        msgpack_pack_object(pk, *name);
        s_key(pk, "type");
        msgpack_pack_object(pk, *type);
        s_kv_u64(pk, "size", desc.size);
        s_key(pk, "hash");
        msgpack_pack_bin_with_body(pk, desc.hash, PROTO_HASH_LEN);
    }
    return true;
}

static int s_urgency_value(const msgpack_object *v)
{
    static const char *names[] = { "normal", "urgent", "very-urgent", "immediate" };
    for (int i = 0; i < 4; i++)
        if (s_is(v, names[i]))
            return i;
    return -1;
}

//  Copy the DMS's document map into a wire envelope map, translating the
//  few fields the API spells differently. Returns false (with a reply) on a
//  field the agent fills itself or a translation that fails.
static bool s_copy_doc(s_req_t *req, const msgpack_object *doc, msgpack_packer *pk, size_t *count)
{
    for (uint32_t i = 0; i < doc->via.map.size; i++) {
        const msgpack_object *key = &doc->via.map.ptr[i].key, *val = &doc->via.map.ptr[i].val;
        if (key->type != MSGPACK_OBJECT_STR) {
            s_fail(req, PROTO_ERR_TYPE, "doc", "keys must be strings");
            return false;
        }
        if (s_is(key, "from")) {
            if (!s_is(val, req->self->agency)) {
                //  A DMS claiming another agency is worth an event, not
                //  only an answer: whoever watches the agent should see it.
                char claimed[41] = "";
                if (val->type == MSGPACK_OBJECT_STR)
                    snprintf(claimed, sizeof claimed, "%.*s",
                             (int) (val->via.str.size < 40 ? val->via.str.size : 40),
                             val->via.str.ptr);
                agent_event(req->self, "api.denied", NULL, "sss", "field", "doc.from", "claimed",
                            claimed, "code", proto_errname(PROTO_ERR_NOT_AUTHORIZED));
                s_fail(req, PROTO_ERR_NOT_AUTHORIZED, "doc.from", "this agent signs only as %s",
                       req->self->agency);
                return false;
            }
            continue;
        }
        if (s_is(key, "id") || s_is(key, "created") || s_is(key, "op") || s_is(key, "op_reason") ||
            s_is(key, "op_refs") || s_is(key, "att")) {
            s_fail(req, PROTO_ERR_UNKNOWN_FIELD, "doc", "%.*s is set by the agent",
                   (int) key->via.str.size, key->via.str.ptr);
            return false;
        }
        msgpack_pack_object(pk, *key);
        (*count)++;
        if (s_is(key, "urgency") && val->type == MSGPACK_OBJECT_STR) {
            int level = s_urgency_value(val);
            if (level < 0) {
                s_fail(req, PROTO_ERR_VALUE, "doc.urgency",
                       "normal, urgent, very-urgent or immediate");
                return false;
            }
            msgpack_pack_uint8(pk, (uint8_t) level);
        } else if (s_is(key, "response_for") && val->type == MSGPACK_OBJECT_ARRAY) {
            msgpack_pack_array(pk, val->via.array.size);
            for (uint32_t j = 0; j < val->via.array.size; j++) {
                const msgpack_object *ref = &val->via.array.ptr[j];
                if (ref->type != MSGPACK_OBJECT_MAP) {
                    msgpack_pack_object(pk, *ref); // the decoder names the error
                    continue;
                }
                msgpack_pack_map(pk, ref->via.map.size);
                for (uint32_t k = 0; k < ref->via.map.size; k++) {
                    const msgpack_object_kv *kv = &ref->via.map.ptr[k];
                    msgpack_pack_object(pk, kv->key);
                    proto_id_t id;
                    char text[64] = "";
                    if (s_is(&kv->key, "doc") && kv->val.type == MSGPACK_OBJECT_STR &&
                        kv->val.via.str.size < sizeof text) {
                        memcpy(text, kv->val.via.str.ptr, kv->val.via.str.size);
                        if (proto_id_parse(text, &id) != PROTO_OK) {
                            s_fail(req, PROTO_ERR_VALUE, "doc.response_for.doc",
                                   "not a document id");
                            return false;
                        }
                        msgpack_pack_bin_with_body(pk, id.bytes, PROTO_ID_LEN);
                    } else {
                        msgpack_pack_object(pk, kv->val);
                    }
                }
            }
        } else {
            msgpack_pack_object(pk, *val);
        }
    }
    return true;
}

//  Build, check, sign and queue a document. kind: SUBMIT, REVOKE, UPDATE or
//  REPLACE; refs/reason for the operations. On success *id is the new id.
static bool s_build_and_queue(s_req_t *req, int kind, const msgpack_object *doc,
                              const msgpack_object *attachments, const proto_id_t *refs,
                              uint32_t nrefs, const char *reason, proto_id_t *id)
{
    agent_t *self = req->self;
    msgpack_sbuffer body;
    msgpack_packer pk;
    s_atts_t atts = { 0 };
    msgpack_sbuffer_init(&body);
    msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
    //  SUBMIT body: {doc: {...}, sig: placeholder}; the map header of doc is
    //  written as map32 and patched once the field count is known.
    msgpack_pack_map(&pk, 2);
    s_key(&pk, "doc");
    size_t header_at = body.size;
    static const char map32[5] = { (char) 0xdf, 0, 0, 0, 0 };
    msgpack_sbuffer_write(&body, map32, sizeof map32);
    size_t count = 0;
    proto_id_new(id);
    s_key(&pk, "id");
    msgpack_pack_bin_with_body(&pk, id->bytes, PROTO_ID_LEN);
    s_kv_str(&pk, "from", self->agency);
    s_kv_u64(&pk, "created", agent_now());
    count += 3;
    bool ok = s_copy_doc(req, doc, &pk, &count);
    if (ok && kind != PROTO_KIND_SUBMIT) {
        s_kv_u64(&pk, "op", (uint64_t) (kind - PROTO_KIND_SUBMIT));
        s_kv_str(&pk, "op_reason", reason);
        s_key(&pk, "op_refs");
        msgpack_pack_array(&pk, nrefs);
        for (uint32_t i = 0; i < nrefs; i++)
            msgpack_pack_bin_with_body(&pk, refs[i].bytes, PROTO_ID_LEN);
        count += 3;
    }
    size_t before = body.size;
    ok = ok && s_attachments(req, attachments, &pk, &atts);
    if (ok && body.size != before)
        count++;
    uint8_t zero_sig[PROTO_SIG_LEN] = { 0 };
    s_key(&pk, "sig");
    msgpack_pack_bin_with_body(&pk, zero_sig, sizeof zero_sig);
    uint8_t *h = (uint8_t *) body.data + header_at + 1;
    h[0] = (uint8_t) (count >> 24), h[1] = (uint8_t) (count >> 16);
    h[2] = (uint8_t) (count >> 8), h[3] = (uint8_t) count;

    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    if (ok) {
        proto_err_t rc = proto_msg_decode(kind, body.data, body.size, &msg, &info);
        if (rc) {
            s_fail(req, rc, info.field, "%s", info.message);
            ok = false;
        }
    }
    //  Recipients the directory does not know or that cannot receive: say
    //  so now rather than after a round trip to the broker.
    for (uint32_t i = 0; ok && self->directory && i < msg->u.document.doc.nto; i++) {
        const char *to = msg->u.document.doc.to[i];
        const proto_dir_entry_t *e = agent_dir_find(self, to);
        if (!e || e->state != PROTO_AGENCY_ACTIVE) {
            proto_err_t code = !e                                   ? PROTO_ERR_UNKNOWN_AGENCY
                               : e->state == PROTO_AGENCY_SUSPENDED ? PROTO_ERR_AGENCY_SUSPENDED
                                                                    : PROTO_ERR_AGENCY_REVOKED;
            s_fail(req, code, "doc.to", "recipient %s: %s", to, proto_strerror(code));
            ok = false;
        }
    }
    if (ok) {
        proto_err_t rc = proto_doc_sign(&msg->u.document.doc, self->identity, msg->u.document.sig);
        if (!rc)
            rc = agent_outbox_add(self, msg, (const void *const *) atts.data, atts.lens, atts.n);
        if (rc) {
            s_fail(req, rc, "", "could not queue the document");
            ok = false;
        } else {
            char text[37];
            proto_id_format(id, text);
            proto_log_info("event=queued doc=%s kind=%s to=%u attachments=%u", text,
                           proto_kind_name(kind), msg->u.document.doc.nto, atts.n);
        }
    }
    proto_msg_destroy(&msg);
    s_atts_free(&atts);
    msgpack_sbuffer_destroy(&body);
    return ok;
}

static void s_cmd_submit(s_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "doc", "attachments", NULL };
    if (!s_keys_known(req, map, keys))
        return;
    const msgpack_object *doc = s_get(map, "doc");
    if (!doc || doc->type != MSGPACK_OBJECT_MAP)
        return s_fail(req, doc ? PROTO_ERR_TYPE : PROTO_ERR_MISSING, "doc", "a map is required");
    proto_id_t id;
    if (!s_build_and_queue(req, PROTO_KIND_SUBMIT, doc, s_get(map, "attachments"), NULL, 0, NULL,
                           &id))
        return;
    s_ok(req, 2);
    s_kv_id(&req->pk, "id", &id);
    s_kv_str(&req->pk, "state", "queued");
    s_reply_send(req, true);
}

//  A sent record's summary (msgpack map after the fixed header).
static bool s_sent_summary(agent_t *self, const proto_id_t *id, msgpack_unpacked *out,
                           uint8_t *kind)
{
    const void *v;
    size_t len;
    if (proto_store_get(self->kv, T_SENT, id->bytes, PROTO_ID_LEN, &v, &len) != PROTO_OK ||
        len < 30)
        return false;
    *kind = ((const uint8_t *) v)[29];
    size_t off = 0;
    msgpack_unpacked_init(out);
    if (msgpack_unpack_next(out, (const char *) v + 30, len - 30, &off) == MSGPACK_UNPACK_SUCCESS &&
        out->data.type == MSGPACK_OBJECT_MAP)
        return true;
    msgpack_unpacked_destroy(out);
    return false;
}

static void s_cmd_operation(s_req_t *req, const msgpack_object *map, int kind)
{
    static const char *const keys[] = { "cmd", "refs", "reason", "doc", "attachments", NULL };
    agent_t *self = req->self;
    if (!s_keys_known(req, map, keys))
        return;
    char reason[8192];
    if (!s_text(req, map, "reason", reason, sizeof reason, true))
        return;
    const msgpack_object *refs = s_get(map, "refs"), *doc = s_get(map, "doc");
    if (!refs || refs->type != MSGPACK_OBJECT_ARRAY || refs->via.array.size == 0 ||
        refs->via.array.size > PROTO_MAX_REFS)
        return s_fail(req, refs ? PROTO_ERR_VALUE : PROTO_ERR_MISSING, "refs",
                      "1 to %d document ids", PROTO_MAX_REFS);
    if (kind != PROTO_KIND_REVOKE && (!doc || doc->type != MSGPACK_OBJECT_MAP))
        return s_fail(req, PROTO_ERR_MISSING, "doc", "%s needs the new document",
                      kind == PROTO_KIND_UPDATE ? "update" : "replace");
    proto_id_t ids[PROTO_MAX_REFS];
    uint32_t n = refs->via.array.size;
    if (proto_store_read_begin(self->kv) != PROTO_OK && !proto_store_writing(self->kv))
        return s_fail(req, PROTO_ERR_STORE, "", "cannot read the store");
    //  Default revocation document: the referenced document's recipients,
    //  type and subject.
    msgpack_sbuffer made;
    msgpack_packer mpk;
    msgpack_sbuffer_init(&made);
    msgpack_packer_init(&mpk, &made, msgpack_sbuffer_write);
    bool ok = true;
    for (uint32_t i = 0; ok && i < n; i++) {
        const msgpack_object *r = &refs->via.array.ptr[i];
        char text[64] = "";
        if (r->type == MSGPACK_OBJECT_STR && r->via.str.size < sizeof text)
            memcpy(text, r->via.str.ptr, r->via.str.size);
        msgpack_unpacked summary;
        uint8_t sent_kind = 0;
        if (proto_id_parse(text, &ids[i]) != PROTO_OK) {
            s_fail(req, PROTO_ERR_VALUE, "refs", "'%s' is not a document id", text);
            ok = false;
        } else if (!s_sent_summary(self, &ids[i], &summary, &sent_kind)) {
            //  A document this agency received is known, but not its to act on.
            const void *v;
            size_t vlen;
            bool received = proto_store_get(self->kv, T_INBOX, ids[i].bytes, PROTO_ID_LEN, &v,
                                            &vlen) == PROTO_OK;
            s_fail(req, received ? PROTO_ERR_NOT_AUTHORIZED : PROTO_ERR_UNKNOWN_DOC, "refs",
                   "%s is not a document this agency sent", text);
            ok = false;
        } else {
            if (sent_kind == PROTO_KIND_STATUS) {
                s_fail(req, PROTO_ERR_NOT_AUTHORIZED, "refs", "%s is a notice, not a document",
                       text);
                ok = false;
            } else if (i == 0 && kind == PROTO_KIND_REVOKE && !doc) {
                const msgpack_object *subject = s_get(&summary.data, "subject");
                const msgpack_object *type = s_get(&summary.data, "type");
                const msgpack_object *to = s_get(&summary.data, "to");
                char line[700];
                snprintf(line, sizeof line, "Thu hồi: %.*s",
                         subject && subject->type == MSGPACK_OBJECT_STR
                             ? (int) (subject->via.str.size > 480 ? 480 : subject->via.str.size)
                             : 0,
                         subject && subject->type == MSGPACK_OBJECT_STR ? subject->via.str.ptr
                                                                        : "");
                msgpack_pack_map(&mpk, 3);
                s_kv_str(&mpk, "subject", line);
                s_key(&mpk, "type");
                if (type)
                    msgpack_pack_object(&mpk, *type);
                else
                    s_str(&mpk, "Công văn");
                s_key(&mpk, "to");
                if (to)
                    msgpack_pack_object(&mpk, *to);
                else
                    msgpack_pack_array(&mpk, 0);
            }
            msgpack_unpacked_destroy(&summary);
        }
    }
    msgpack_unpacked built;
    msgpack_unpacked_init(&built);
    if (ok && !doc) {
        size_t off = 0;
        msgpack_unpack_next(&built, made.data, made.size, &off);
        doc = &built.data;
    }
    proto_id_t id;
    //  The summary values borrowed above belong to the read transaction;
    //  they were copied into `made`, so the transaction may end here.
    if (!proto_store_writing(self->kv))
        proto_store_read_end(self->kv);
    ok = ok && s_build_and_queue(req, kind, doc, s_get(map, "attachments"), ids, n, reason, &id);
    msgpack_unpacked_destroy(&built);
    msgpack_sbuffer_destroy(&made);
    if (!ok)
        return;
    s_ok(req, 2);
    s_kv_id(&req->pk, "id", &id);
    s_kv_str(&req->pk, "state", "queued");
    s_reply_send(req, true);
}

// ---------------------------------------------------------------------------
//  Inbox

typedef struct {
    s_req_t *req;
    bool unread;
    uint64_t since, urgency; // urgency 4 = any
    char sender[PROTO_AGENCY_CODE_LEN + 1];
    uint32_t limit, count;
    uint64_t last_seq;
    bool more;
    bool counting;
} s_inbox_t;

static bool s_inbox_record(agent_t *self, const proto_id_t *id, uint64_t *seq, uint64_t *received,
                           bool *acked, msgpack_unpacked *summary)
{
    const void *v;
    size_t len;
    if (proto_store_get(self->kv, T_INBOX, id->bytes, PROTO_ID_LEN, &v, &len) != PROTO_OK ||
        len < 17)
        return false;
    const uint8_t *p = v;
    memcpy(seq, p, 8);
    memcpy(received, p + 8, 8);
    *acked = p[16] != 0;
    size_t off = 0;
    msgpack_unpacked_init(summary);
    if (msgpack_unpack_next(summary, (const char *) p + 17, len - 17, &off) !=
        MSGPACK_UNPACK_SUCCESS) {
        msgpack_unpacked_destroy(summary);
        return false;
    }
    return true;
}

static bool s_inbox_one(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_inbox_t *in = arg;
    (void) key;
    (void) klen;
    if (vlen != PROTO_ID_LEN)
        return true;
    proto_id_t id;
    memcpy(id.bytes, value, PROTO_ID_LEN);
    uint64_t seq, received;
    bool acked;
    msgpack_unpacked s;
    if (!s_inbox_record(in->req->self, &id, &seq, &received, &acked, &s))
        return true;
    const msgpack_object *from = s_get(&s.data, "from"), *urg = s_get(&s.data, "urgency");
    bool match = (!in->unread || !acked) && received >= in->since &&
                 (!in->sender[0] || (from && s_is(from, in->sender))) &&
                 (in->urgency > 3 || (urg && urg->via.u64 == in->urgency));
    if (match) {
        if (in->count == in->limit) {
            in->more = true;
            msgpack_unpacked_destroy(&s);
            return false;
        }
        in->count++;
        in->last_seq = seq;
        if (!in->counting) {
            msgpack_packer *pk = &in->req->pk;
            msgpack_pack_map(pk, 5 + s.data.via.map.size);
            s_kv_id(pk, "id", &id);
            s_kv_u64(pk, "seq", seq);
            s_kv_u64(pk, "received", received);
            s_kv_bool(pk, "acked", acked);
            s_kv_str(pk, "state", "verified");
            for (uint32_t i = 0; i < s.data.via.map.size; i++) {
                msgpack_pack_object(pk, s.data.via.map.ptr[i].key);
                msgpack_pack_object(pk, s.data.via.map.ptr[i].val);
            }
        }
    }
    msgpack_unpacked_destroy(&s);
    return true;
}

static void s_cmd_inbox(s_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd",     "unread", "since", "sender",
                                        "urgency", "after",  "limit", NULL };
    agent_t *self = req->self;
    if (!s_keys_known(req, map, keys))
        return;
    s_inbox_t in = { .req = req, .urgency = 4, .limit = 50 };
    uint64_t after = 0, limit = 50;
    const msgpack_object *unread = s_get(map, "unread");
    if (unread && unread->type != MSGPACK_OBJECT_BOOLEAN && unread->type != MSGPACK_OBJECT_NIL)
        return s_fail(req, PROTO_ERR_TYPE, "unread", "expected a boolean");
    in.unread = unread && unread->type == MSGPACK_OBJECT_BOOLEAN && unread->via.boolean;
    if (!s_uint(req, map, "since", &in.since, 0, UINT64_MAX) ||
        !s_uint(req, map, "urgency", &in.urgency, 0, 3) ||
        !s_uint(req, map, "after", &after, 0, UINT64_MAX) ||
        !s_uint(req, map, "limit", &limit, 1, 1000) ||
        !s_text(req, map, "sender", in.sender, sizeof in.sender, false))
        return;
    if (in.sender[0] && proto_agency_code_check(in.sender, strlen(in.sender)) != PROTO_OK)
        return s_fail(req, PROTO_ERR_AGENCY_CODE, "sender", "not an agency code");
    in.limit = (uint32_t) limit;
    if (proto_store_read_begin(self->kv) != PROTO_OK && !proto_store_writing(self->kv))
        return s_fail(req, PROTO_ERR_STORE, "", "cannot read the store");
    uint8_t from[8];
    proto_store_put64(from, after + 1);
    //  Two passes: count (for the array header), then write.
    in.counting = true;
    proto_store_scan(self->kv, T_INSEQ, from, sizeof from, s_inbox_one, &in);
    uint32_t total = in.count;
    bool more = in.more;
    s_ok(req, 2);
    s_key(&req->pk, "documents");
    msgpack_pack_array(&req->pk, total);
    in.counting = false;
    in.count = 0;
    in.more = false;
    proto_store_scan(self->kv, T_INSEQ, from, sizeof from, s_inbox_one, &in);
    s_key(&req->pk, "next");
    if (more)
        msgpack_pack_uint64(&req->pk, in.last_seq);
    else
        msgpack_pack_nil(&req->pk);
    if (!proto_store_writing(self->kv))
        proto_store_read_end(self->kv);
    s_reply_send(req, false);
}

//  The envelope of a document, as the API shows it (ids as text).
static void s_pack_doc(msgpack_packer *pk, const proto_doc_t *d)
{
    size_t n = 6;
    const char *texts[][2] = { { "number", d->code_number },
                               { "notation", d->code_notation },
                               { "place", d->place },
                               { "date", d->date },
                               { "due", d->due },
                               { "content", d->content },
                               { "sphere", d->sphere },
                               { "typist", d->typist } };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        n += texts[i][1] != NULL;
    n += 4; // urgency secrecy steering op
    n += d->pages ? 1 : 0;
    n += d->signer.name || d->signer.position || d->signer.competence;
    n += d->op_reason ? 1 : 0;
    n += d->nop_refs ? 1 : 0;
    n += d->nresponse_for ? 1 : 0;
    n += d->next ? 1 : 0;
    n += d->nplaces ? 1 : 0;
    msgpack_pack_map(pk, n);
    s_kv_id(pk, "id", &d->id);
    s_kv_str(pk, "from", d->from);
    s_key(pk, "to");
    msgpack_pack_array(pk, d->nto);
    for (uint32_t i = 0; i < d->nto; i++)
        s_str(pk, d->to[i]);
    s_kv_u64(pk, "created", d->created);
    s_kv_str(pk, "type", d->doc_type);
    s_kv_str(pk, "subject", d->subject);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (texts[i][1])
            s_kv_str(pk, texts[i][0], texts[i][1]);
    s_kv_u64(pk, "urgency", d->urgency);
    s_kv_u64(pk, "secrecy", d->secrecy);
    s_kv_u64(pk, "steering", d->steering);
    s_kv_u64(pk, "op", d->op);
    if (d->pages)
        s_kv_u64(pk, "pages", d->pages);
    if (d->signer.name || d->signer.position || d->signer.competence) {
        s_key(pk, "signer");
        msgpack_pack_map(pk, 3);
        s_kv_str(pk, "name", d->signer.name);
        s_kv_str(pk, "position", d->signer.position);
        s_kv_str(pk, "competence", d->signer.competence);
    }
    if (d->op_reason)
        s_kv_str(pk, "op_reason", d->op_reason);
    if (d->nop_refs) {
        s_key(pk, "op_refs");
        msgpack_pack_array(pk, d->nop_refs);
        for (uint32_t i = 0; i < d->nop_refs; i++) {
            char text[37];
            proto_id_format(&d->op_refs[i], text);
            s_str(pk, text);
        }
    }
    if (d->nresponse_for) {
        s_key(pk, "response_for");
        msgpack_pack_array(pk, d->nresponse_for);
        for (uint32_t i = 0; i < d->nresponse_for; i++) {
            const proto_ref_t *r = &d->response_for[i];
            char text[37] = "";
            if (r->has_doc)
                proto_id_format(&r->doc, text);
            msgpack_pack_map(pk, 4);
            s_kv_str(pk, "agency", r->agency);
            s_kv_str(pk, "code", r->code);
            s_kv_str(pk, "date", r->date);
            s_kv_str(pk, "doc", r->has_doc ? text : NULL);
        }
    }
    if (d->next) {
        s_key(pk, "ext");
        msgpack_pack_map(pk, d->next);
        for (uint32_t i = 0; i < d->next; i++)
            s_kv_str(pk, d->ext[i].key, d->ext[i].value);
    }
    if (d->nplaces) {
        s_key(pk, "places");
        msgpack_pack_array(pk, d->nplaces);
        for (uint32_t i = 0; i < d->nplaces; i++)
            s_str(pk, d->places[i]);
    }
}

typedef struct {
    msgpack_packer *pk;
    uint32_t count;
    bool counting;
} s_notes_t;

static bool s_note_one(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_notes_t *notes = arg;
    (void) key;
    (void) klen;
    notes->count++;
    if (!notes->counting)
        msgpack_sbuffer_write(((msgpack_packer *) notes->pk)->data, value, vlen);
    return true;
}

static bool s_prefix_fn(void *arg, const void *key, size_t klen, const void *value, size_t vlen);

typedef struct {
    const uint8_t *prefix;
    size_t plen;
    proto_store_fn *fn;
    void *arg;
} s_prefix_t;

static bool s_prefix_fn(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_prefix_t *p = arg;
    if (klen < p->plen || memcmp(key, p->prefix, p->plen) != 0)
        return false;
    return p->fn(p->arg, key, klen, value, vlen);
}

//  Scan every key that starts with prefix.
static void s_scan_prefix(agent_t *self, int table, const uint8_t *prefix, size_t plen,
                          proto_store_fn *fn, void *arg)
{
    s_prefix_t p = { prefix, plen, fn, arg };
    proto_store_scan(self->kv, table, prefix, plen, s_prefix_fn, &p);
}

static void s_cmd_fetch(s_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "id", "dir", NULL };
    agent_t *self = req->self;
    proto_id_t id;
    char dir[PATH_MAX - 300];
    if (!s_keys_known(req, map, keys) || !s_id_field(req, map, "id", &id) ||
        !s_text(req, map, "dir", dir, sizeof dir, false))
        return;
    if (dir[0] && dir[0] != '/')
        return s_fail(req, PROTO_ERR_VALUE, "dir", "must be an absolute path");
    if (proto_store_read_begin(self->kv) != PROTO_OK && !proto_store_writing(self->kv))
        return s_fail(req, PROTO_ERR_STORE, "", "cannot read the store");
    uint64_t seq, received;
    bool acked;
    msgpack_unpacked summary;
    const void *blob;
    size_t blen;
    uint8_t fkey[1 + PROTO_ID_LEN] = { 'i' };
    memcpy(fkey + 1, id.bytes, PROTO_ID_LEN);
    const void *frames[MAX_FRAMES];
    size_t lens[MAX_FRAMES], nframes = 0;
    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    if (!s_inbox_record(self, &id, &seq, &received, &acked, &summary)) {
        if (!proto_store_writing(self->kv))
            proto_store_read_end(self->kv);
        return s_fail(req, PROTO_ERR_UNKNOWN_DOC, "id", "no such document in the inbox");
    }
    msgpack_unpacked_destroy(&summary);
    if (proto_store_get(self->kv, T_FRAMES, fkey, sizeof fkey, &blob, &blen) == PROTO_OK)
        nframes = agent_frames_parse(blob, blen, frames, lens, MAX_FRAMES);
    if (nframes < 1 ||
        proto_msg_decode(PROTO_KIND_DELIVER, frames[0], lens[0], &msg, &info) != PROTO_OK) {
        if (!proto_store_writing(self->kv))
            proto_store_read_end(self->kv);
        return s_fail(req, PROTO_ERR_STORE, "", "the stored document is unreadable");
    }
    const proto_doc_t *d = &msg->u.document.doc;
    char idtext[37], folder[PATH_MAX], why[PATH_MAX + 128] = "";
    proto_id_format(&id, idtext);
    snprintf(folder, sizeof folder, "%s/%s", dir, idtext);
    int folder_fd = -1;
    proto_err_t wrc =
        dir[0] ? agent_files_open_dir(self->files, dir, idtext, &folder_fd, why, sizeof why) : 0;
    if (wrc) {
        proto_msg_destroy(&msg);
        if (!proto_store_writing(self->kv))
            proto_store_read_end(self->kv);
        if (wrc == PROTO_ERR_NOT_AUTHORIZED)
            s_denied_path(req, "dir", dir);
        return s_fail(req, wrc, "dir", "%s", why);
    }
    s_ok(req, 5);
    s_key(&req->pk, "document");
    s_pack_doc(&req->pk, d);
    s_key(&req->pk, "attachments");
    msgpack_pack_array(&req->pk, d->natt);
    for (uint32_t i = 0; i < d->natt && i + 1 < nframes; i++) {
        const proto_attachment_t *a = &d->att[i];
        char hash[2 * PROTO_HASH_LEN + 1], path[PATH_MAX + 256];
        proto_hex_encode(a->hash, PROTO_HASH_LEN, hash);
        msgpack_pack_map(&req->pk, 5);
        s_kv_str(&req->pk, "name", a->name);
        s_kv_str(&req->pk, "type", a->type);
        s_kv_u64(&req->pk, "size", a->size);
        s_kv_str(&req->pk, "hash", hash);
        if (dir[0]) {
            snprintf(path, sizeof path, "%s/%s", folder, a->name);
            if (!wrc)
                wrc = agent_files_write(folder_fd, a->name, frames[i + 1], lens[i + 1], why,
                                        sizeof why);
            s_kv_str(&req->pk, "path", path);
        } else {
            s_key(&req->pk, "data");
            msgpack_pack_bin_with_body(&req->pk, frames[i + 1], lens[i + 1]);
        }
    }
    s_kv_u64(&req->pk, "received", received);
    s_kv_bool(&req->pk, "acked", acked);
    s_key(&req->pk, "notices");
    s_notes_t notes = { &req->pk, 0, true };
    s_scan_prefix(self, T_NOTES, id.bytes, PROTO_ID_LEN, s_note_one, &notes);
    msgpack_pack_array(&req->pk, notes.count);
    notes.counting = false;
    s_scan_prefix(self, T_NOTES, id.bytes, PROTO_ID_LEN, s_note_one, &notes);
    proto_msg_destroy(&msg);
    if (folder_fd >= 0)
        close(folder_fd);
    if (!proto_store_writing(self->kv))
        proto_store_read_end(self->kv);
    if (wrc == PROTO_ERR_NOT_AUTHORIZED)
        s_denied_path(req, "dir", folder);
    if (wrc)
        return s_fail(req, wrc, "dir", "cannot write the attachments into %s: %s", folder, why);
    s_reply_send(req, false);
}

static void s_cmd_ack(s_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "id", NULL };
    agent_t *self = req->self;
    proto_id_t id;
    if (!s_keys_known(req, map, keys) || !s_id_field(req, map, "id", &id))
        return;
    const void *v;
    size_t len;
    if (proto_store_begin(self->kv) != PROTO_OK)
        return s_fail(req, PROTO_ERR_STORE, "", "cannot write the store");
    if (proto_store_get(self->kv, T_INBOX, id.bytes, PROTO_ID_LEN, &v, &len) != PROTO_OK ||
        len < 17)
        return s_fail(req, PROTO_ERR_UNKNOWN_DOC, "id", "no such document in the inbox");
    if (((const uint8_t *) v)[16] == 0) {
        uint8_t *copy = malloc(len);
        if (!copy)
            return s_fail(req, PROTO_ERR_NOMEM, "", "out of memory");
        memcpy(copy, v, len);
        copy[16] = 1;
        proto_err_t rc = proto_store_put(self->kv, T_INBOX, id.bytes, PROTO_ID_LEN, copy, len);
        free(copy);
        if (rc)
            return s_fail(req, rc, "", "cannot mark it");
    }
    s_ok(req, 0);
    s_reply_send(req, true);
}

// ---------------------------------------------------------------------------
//  Status notices

static bool s_recall_requested(void *arg, const void *key, size_t klen, const void *value,
                               size_t vlen)
{
    bool *found = arg;
    (void) key;
    (void) klen;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, value, vlen, &off) == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *code = s_get(&u.data, "code");
        if (code && code->type == MSGPACK_OBJECT_POSITIVE_INTEGER && code->via.u64 == 13)
            *found = true;
    }
    msgpack_unpacked_destroy(&u);
    return !*found;
}

static bool s_queue_notice(s_req_t *req, const proto_id_t *doc, const char *to, uint8_t code,
                           const char *note, const msgpack_object *staff, proto_id_t *notice_id)
{
    agent_t *self = req->self;
    char name[128] = "", department[256] = "", phone[128] = "", email[128] = "";
    if (staff && staff->type == MSGPACK_OBJECT_MAP) {
        static const char *const keys[] = { "name", "department", "phone", "email", NULL };
        if (!s_keys_known(req, staff, keys) ||
            !s_text(req, staff, "name", name, sizeof name, false) ||
            !s_text(req, staff, "department", department, sizeof department, false) ||
            !s_text(req, staff, "phone", phone, sizeof phone, false) ||
            !s_text(req, staff, "email", email, sizeof email, false))
            return false;
    }
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_STATUS;
    proto_notice_t *n = &msg.u.status.notice;
    proto_id_new(&n->id);
    n->doc = *doc;
    n->from = self->agency;
    n->to = to;
    n->code = code;
    n->time = agent_now();
    n->note = note && *note ? note : NULL;
    n->staff.name = name[0] ? name : NULL;
    n->staff.department = department[0] ? department : NULL;
    n->staff.phone = phone[0] ? phone : NULL;
    n->staff.email = email[0] ? email : NULL;
    proto_err_t rc = proto_notice_sign(n, self->identity, msg.u.status.sig);
    proto_buf_t check;
    proto_errinfo_t info;
    proto_buf_init(&check);
    if (!rc) {
        rc = proto_msg_encode(&msg, &check, &info);
        if (rc) {
            proto_buf_free(&check);
            s_fail(req, rc, info.field, "%s", info.message);
            return false;
        }
    }
    proto_buf_free(&check);
    if (!rc)
        rc = agent_outbox_add(self, &msg, NULL, NULL, 0);
    if (rc) {
        s_fail(req, rc, "", "could not queue the notice");
        return false;
    }
    *notice_id = n->id;
    return true;
}

static void s_cmd_status(s_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "id", "code", "note", "staff", NULL };
    agent_t *self = req->self;
    proto_id_t id, notice;
    uint64_t code = 0;
    char note[8192];
    if (!s_keys_known(req, map, keys) || !s_id_field(req, map, "id", &id) ||
        !s_uint(req, map, "code", &code, 1, 16) ||
        !s_text(req, map, "note", note, sizeof note, false))
        return;
    if (!((code >= 1 && code <= 6) || code == 15 || code == 16))
        return s_fail(req, code ? PROTO_ERR_VALUE : PROTO_ERR_MISSING, "code",
                      "01-06, or 15/16 to answer a recall");
    if (proto_store_begin(self->kv) != PROTO_OK)
        return s_fail(req, PROTO_ERR_STORE, "", "cannot write the store");
    uint64_t seq, received;
    bool acked;
    msgpack_unpacked summary;
    if (!s_inbox_record(self, &id, &seq, &received, &acked, &summary))
        return s_fail(req, PROTO_ERR_UNKNOWN_DOC, "id", "no such document in the inbox");
    const msgpack_object *from = s_get(&summary.data, "from");
    char sender[PROTO_AGENCY_CODE_LEN + 1] = "";
    if (from && from->type == MSGPACK_OBJECT_STR && from->via.str.size == PROTO_AGENCY_CODE_LEN)
        memcpy(sender, from->via.str.ptr, PROTO_AGENCY_CODE_LEN);
    msgpack_unpacked_destroy(&summary);
    if (code == 15 || code == 16) {
        bool requested = false;
        s_scan_prefix(self, T_NOTES, id.bytes, PROTO_ID_LEN, s_recall_requested, &requested);
        if (!requested)
            return s_fail(req, PROTO_ERR_BAD_STATE, "code",
                          "the sender has not asked to recall this document");
    }
    if (!s_queue_notice(req, &id, sender, (uint8_t) code, note, s_get(map, "staff"), &notice))
        return;
    s_ok(req, 2);
    s_kv_id(&req->pk, "notice", &notice);
    s_kv_str(&req->pk, "state", "queued");
    s_reply_send(req, true);
}

static void s_cmd_recall(s_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "id", "to", "note", NULL };
    agent_t *self = req->self;
    proto_id_t id;
    char note[8192];
    if (!s_keys_known(req, map, keys) || !s_id_field(req, map, "id", &id) ||
        !s_text(req, map, "note", note, sizeof note, false))
        return;
    if (proto_store_begin(self->kv) != PROTO_OK)
        return s_fail(req, PROTO_ERR_STORE, "", "cannot write the store");
    msgpack_unpacked summary;
    uint8_t kind;
    bool found = s_sent_summary(self, &id, &summary, &kind);
    if (found && kind == PROTO_KIND_STATUS)
        msgpack_unpacked_destroy(&summary); // a notice: nothing to recall
    if (!found || kind == PROTO_KIND_STATUS)
        return s_fail(req, PROTO_ERR_UNKNOWN_DOC, "id", "not a document this agency sent");
    const msgpack_object *all = s_get(&summary.data, "to"), *want = s_get(map, "to");
    const msgpack_object *list = want ? want : all;
    char to[PROTO_MAX_RECIPIENTS][PROTO_AGENCY_CODE_LEN + 1];
    uint32_t n = 0;
    bool ok = list && list->type == MSGPACK_OBJECT_ARRAY;
    for (uint32_t i = 0; ok && i < list->via.array.size && n < PROTO_MAX_RECIPIENTS; i++) {
        const msgpack_object *c = &list->via.array.ptr[i];
        bool listed = false;
        for (uint32_t j = 0; all && j < all->via.array.size; j++)
            listed |=
                c->type == MSGPACK_OBJECT_STR && all->via.array.ptr[j].type == c->type &&
                c->via.str.size == all->via.array.ptr[j].via.str.size &&
                memcmp(c->via.str.ptr, all->via.array.ptr[j].via.str.ptr, c->via.str.size) == 0;
        if (!listed || c->via.str.size != PROTO_AGENCY_CODE_LEN) {
            ok = false;
            break;
        }
        memcpy(to[n], c->via.str.ptr, PROTO_AGENCY_CODE_LEN);
        to[n++][PROTO_AGENCY_CODE_LEN] = '\0';
    }
    msgpack_unpacked_destroy(&summary);
    if (!ok || n == 0)
        return s_fail(req, PROTO_ERR_VALUE, "to", "recipients of this document only");
    proto_id_t notices[PROTO_MAX_RECIPIENTS];
    for (uint32_t i = 0; i < n; i++)
        if (!s_queue_notice(req, &id, to[i], 13, note, NULL, &notices[i]))
            return;
    s_ok(req, 2);
    s_key(&req->pk, "notices");
    msgpack_pack_array(&req->pk, n);
    for (uint32_t i = 0; i < n; i++) {
        char text[37];
        proto_id_format(&notices[i], text);
        s_str(&req->pk, text);
    }
    s_kv_str(&req->pk, "state", "queued");
    s_reply_send(req, true);
}

// ---------------------------------------------------------------------------
//  Sent documents

static const char *s_sent_state(uint8_t state)
{
    return state == 1 ? "accepted" : state == 2 ? "rejected" : "queued";
}

static const char *s_rcpt_state(uint8_t state)
{
    static const char *names[] = { "waiting", "delivered", "refused", "expired", "returned" };
    return state < 5 ? names[state] : "unknown";
}

typedef struct {
    s_req_t *req;
    uint32_t count;
    bool counting;
} s_list_t;

static bool s_rcpt_one(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_list_t *l = arg;
    if (klen != PROTO_ID_LEN + PROTO_AGENCY_CODE_LEN || vlen != 13)
        return true;
    l->count++;
    if (l->counting)
        return true;
    const uint8_t *v = value;
    uint64_t time;
    uint32_t code;
    memcpy(&time, v + 1, 8);
    memcpy(&code, v + 9, 4);
    char agency[PROTO_AGENCY_CODE_LEN + 1];
    memcpy(agency, (const uint8_t *) key + PROTO_ID_LEN, PROTO_AGENCY_CODE_LEN);
    agency[PROTO_AGENCY_CODE_LEN] = '\0';
    msgpack_packer *pk = &l->req->pk;
    msgpack_pack_map(pk, 4);
    s_kv_str(pk, "agency", agency);
    s_kv_str(pk, "state", s_rcpt_state(v[0]));
    s_kv_u64(pk, "time", time);
    s_kv_u64(pk, "code", code);
    return true;
}

static bool s_receipt_one(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_list_t *l = arg;
    (void) key;
    (void) klen;
    l->count++;
    if (l->counting || vlen < 1)
        return true;
    const uint8_t *v = value;
    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    msgpack_packer *pk = &l->req->pk;
    if (proto_msg_decode(v[0], v + 1, vlen - 1, &msg, &info) != PROTO_OK) {
        msgpack_pack_map(pk, 1);
        s_kv_str(pk, "kind", "unreadable");
        return true;
    }
    const proto_receipts_t *r = &msg->u.receipts;
    const proto_leaf_t *leaf = r->nitems ? &r->items[0].leaf : NULL;
    msgpack_pack_map(pk, 7);
    s_kv_str(pk, "kind", proto_kind_name(msg->kind));
    s_kv_u64(pk, "event", leaf ? leaf->event : 0);
    s_kv_str(pk, "signer", r->head.signer);
    s_kv_str(pk, "agency", leaf && leaf->to ? leaf->to : NULL);
    s_kv_u64(pk, "time", leaf ? leaf->time : r->head.time);
    s_kv_u64(pk, "code", leaf ? leaf->code : 0);
    s_kv_bool(pk, "verified", true); // stored only after it verified
    proto_msg_destroy(&msg);
    return true;
}

typedef struct {
    uint32_t n[5];
} s_states_t;

static bool s_rcpt_count(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_states_t *states = arg;
    (void) key;
    (void) klen;
    if (vlen == 13 && ((const uint8_t *) value)[0] < 5)
        states->n[((const uint8_t *) value)[0]]++;
    return true;
}

typedef struct {
    proto_id_t id;
    uint64_t created;
} s_sent_item_t;

typedef struct {
    s_sent_item_t *items;
    size_t n, cap;
} s_sent_all_t;

static bool s_sent_collect(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_sent_all_t *all = arg;
    if (klen != PROTO_ID_LEN || vlen < 30)
        return true;
    if (all->n == all->cap) {
        size_t cap = all->cap ? all->cap * 2 : 256;
        s_sent_item_t *grown = realloc(all->items, cap * sizeof *grown);
        if (!grown)
            return false;
        all->items = grown;
        all->cap = cap;
    }
    memcpy(all->items[all->n].id.bytes, key, PROTO_ID_LEN);
    memcpy(&all->items[all->n].created, (const uint8_t *) value + 21, 8);
    all->n++;
    return true;
}

static int s_by_created(const void *a, const void *b)
{
    const s_sent_item_t *x = a, *y = b;
    return x->created < y->created ? 1 : x->created > y->created ? -1 : 0; // newest first
}

static void s_pack_sent(s_req_t *req, const proto_id_t *id, bool full)
{
    agent_t *self = req->self;
    const void *v;
    size_t len;
    if (proto_store_get(self->kv, T_SENT, id->bytes, PROTO_ID_LEN, &v, &len) != PROTO_OK ||
        len < 30)
        return;
    const uint8_t *p = v;
    uint32_t code;
    uint64_t accepted, seq, created;
    memcpy(&code, p + 1, 4);
    memcpy(&accepted, p + 5, 8);
    memcpy(&seq, p + 13, 8);
    memcpy(&created, p + 21, 8);
    msgpack_unpacked summary;
    msgpack_unpacked_init(&summary);
    size_t off = 0;
    bool has = msgpack_unpack_next(&summary, (const char *) p + 30, len - 30, &off) ==
                   MSGPACK_UNPACK_SUCCESS &&
               summary.data.type == MSGPACK_OBJECT_MAP;
    uint32_t extra = has ? summary.data.via.map.size : 0;
    msgpack_packer *pk = &req->pk;
    msgpack_pack_map(pk, 7 + extra + (full ? 3 : 1));
    s_kv_id(pk, "id", id);
    s_kv_str(pk, "kind", proto_kind_name(p[29]));
    s_kv_str(pk, "state", s_sent_state(p[0]));
    s_kv_u64(pk, "code", code);
    s_kv_u64(pk, "created", created);
    s_kv_u64(pk, "accepted", accepted);
    s_kv_u64(pk, "seq", seq);
    for (uint32_t i = 0; i < extra; i++) {
        msgpack_pack_object(pk, summary.data.via.map.ptr[i].key);
        msgpack_pack_object(pk, summary.data.via.map.ptr[i].val);
    }
    msgpack_unpacked_destroy(&summary);
    if (!full) {
        //  The list shows how many recipients are in each state.
        s_states_t states = { { 0 } };
        s_scan_prefix(self, T_RCPT, id->bytes, PROTO_ID_LEN, s_rcpt_count, &states);
        uint32_t kinds = 0;
        for (int i = 0; i < 5; i++)
            kinds += states.n[i] > 0;
        s_key(pk, "recipients");
        msgpack_pack_map(pk, kinds);
        for (uint8_t i = 0; i < 5; i++)
            if (states.n[i])
                s_kv_u64(pk, s_rcpt_state(i), states.n[i]);
        return;
    }
    s_list_t l = { req, 0, true };
    s_key(pk, "recipients");
    s_scan_prefix(self, T_RCPT, id->bytes, PROTO_ID_LEN, s_rcpt_one, &l);
    msgpack_pack_array(pk, l.count);
    l.counting = false;
    s_scan_prefix(self, T_RCPT, id->bytes, PROTO_ID_LEN, s_rcpt_one, &l);
    s_key(pk, "notices");
    s_notes_t notes = { pk, 0, true };
    s_scan_prefix(self, T_NOTES, id->bytes, PROTO_ID_LEN, s_note_one, &notes);
    msgpack_pack_array(pk, notes.count);
    notes.counting = false;
    s_scan_prefix(self, T_NOTES, id->bytes, PROTO_ID_LEN, s_note_one, &notes);
    s_key(pk, "receipts");
    l.count = 0;
    l.counting = true;
    s_scan_prefix(self, T_RECEIPTS, id->bytes, PROTO_ID_LEN, s_receipt_one, &l);
    msgpack_pack_array(pk, l.count);
    l.counting = false;
    s_scan_prefix(self, T_RECEIPTS, id->bytes, PROTO_ID_LEN, s_receipt_one, &l);
}

static void s_cmd_sent(s_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "id", "limit", NULL };
    agent_t *self = req->self;
    uint64_t limit = 50;
    if (!s_keys_known(req, map, keys) || !s_uint(req, map, "limit", &limit, 1, 1000))
        return;
    if (proto_store_read_begin(self->kv) != PROTO_OK && !proto_store_writing(self->kv))
        return s_fail(req, PROTO_ERR_STORE, "", "cannot read the store");
    if (s_get(map, "id")) {
        proto_id_t id;
        const void *v;
        size_t len;
        if (!s_id_field(req, map, "id", &id))
            goto done;
        if (proto_store_get(self->kv, T_SENT, id.bytes, PROTO_ID_LEN, &v, &len) != PROTO_OK) {
            s_fail(req, PROTO_ERR_UNKNOWN_DOC, "id", "not a document this agency sent");
            goto done;
        }
        s_ok(req, 1);
        s_key(&req->pk, "document");
        s_pack_sent(req, &id, true);
        s_reply_send(req, false);
        goto done;
    }
    s_sent_all_t all = { 0 };
    proto_store_scan(self->kv, T_SENT, NULL, 0, s_sent_collect, &all);
    if (all.n)
        qsort(all.items, all.n, sizeof *all.items, s_by_created);
    size_t n = all.n < limit ? all.n : (size_t) limit;
    s_ok(req, 1);
    s_key(&req->pk, "documents");
    msgpack_pack_array(&req->pk, n);
    for (size_t i = 0; i < n; i++)
        s_pack_sent(req, &all.items[i].id, false);
    free(all.items);
    s_reply_send(req, false);
done:
    if (!proto_store_writing(self->kv))
        proto_store_read_end(self->kv);
}

static bool s_quar_one(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_list_t *l = arg;
    if (klen != PROTO_ID_LEN)
        return true;
    l->count++;
    if (l->counting)
        return true;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    bool ok = msgpack_unpack_next(&u, value, vlen, &off) == MSGPACK_UNPACK_SUCCESS &&
              u.data.type == MSGPACK_OBJECT_MAP;
    proto_id_t id;
    memcpy(id.bytes, key, PROTO_ID_LEN);
    msgpack_packer *pk = &l->req->pk;
    uint32_t n = ok ? u.data.via.map.size : 0;
    const msgpack_object *code = ok ? s_get(&u.data, "code") : NULL;
    msgpack_pack_map(pk, 2 + n);
    s_kv_id(pk, "id", &id);
    s_kv_str(pk, "error",
             code && code->type == MSGPACK_OBJECT_POSITIVE_INTEGER
                 ? proto_errname((proto_err_t) code->via.u64)
                 : "?");
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_object(pk, u.data.via.map.ptr[i].key);
        msgpack_pack_object(pk, u.data.via.map.ptr[i].val);
    }
    msgpack_unpacked_destroy(&u);
    return true;
}

static void s_cmd_quarantine(s_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", NULL };
    agent_t *self = req->self;
    if (!s_keys_known(req, map, keys))
        return;
    if (proto_store_read_begin(self->kv) != PROTO_OK && !proto_store_writing(self->kv))
        return s_fail(req, PROTO_ERR_STORE, "", "cannot read the store");
    s_list_t l = { req, 0, true };
    proto_store_scan(self->kv, T_QUAR, NULL, 0, s_quar_one, &l);
    s_ok(req, 1);
    s_key(&req->pk, "documents");
    msgpack_pack_array(&req->pk, l.count);
    l.counting = false;
    proto_store_scan(self->kv, T_QUAR, NULL, 0, s_quar_one, &l);
    if (!proto_store_writing(self->kv))
        proto_store_read_end(self->kv);
    s_reply_send(req, false);
}

static bool s_count_unread(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    size_t *n = arg;
    (void) key;
    (void) klen;
    if (vlen >= 17 && ((const uint8_t *) value)[16] == 0)
        (*n)++;
    return true;
}

static void s_cmd_health(s_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", NULL };
    agent_t *self = req->self;
    if (!s_keys_known(req, map, keys))
        return;
    size_t outbox = 0, unread = 0, quarantine = 0;
    if (proto_store_read_begin(self->kv) == PROTO_OK || proto_store_writing(self->kv)) {
        outbox = proto_store_count(self->kv, T_OUT);
        quarantine = proto_store_count(self->kv, T_QUAR);
        proto_store_scan(self->kv, T_INBOX, NULL, 0, s_count_unread, &unread);
        if (!proto_store_writing(self->kv))
            proto_store_read_end(self->kv);
    }
    s_ok(req, 12);
    s_kv_str(&req->pk, "agency", self->agency);
    s_kv_str(&req->pk, "version", TRUC_VERSION);
    s_kv_bool(&req->pk, "connected", self->state == A_READY);
    s_kv_bool(&req->pk, "refused", self->refused);
    s_kv_u64(&req->pk, "since", self->state_since);
    s_kv_str(&req->pk, "broker", self->config->endpoint);
    s_kv_u64(&req->pk, "outbox", outbox);
    s_kv_u64(&req->pk, "inbox_unread", unread);
    s_kv_u64(&req->pk, "quarantine", quarantine);
    s_kv_bool(&req->pk, "store_full", self->storage.full);
    s_kv_u64(&req->pk, "directory_serial",
             self->directory ? self->directory->u.directory.serial : 0);
    s_kv_str(&req->pk, "last_error", self->last_error[0] ? self->last_error : NULL);
    s_reply_send(req, false);
}

static void s_cmd_directory(s_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", NULL };
    agent_t *self = req->self;
    if (!s_keys_known(req, map, keys))
        return;
    if (!self->directory)
        return s_fail(req, PROTO_ERR_NOT_FOUND, "",
                      "no directory yet: the agent has not reached the broker");
    const proto_directory_msg_t *d = &self->directory->u.directory;
    static const char *states[] = { "active", "suspended", "revoked" };
    s_ok(req, 2);
    s_kv_u64(&req->pk, "serial", d->serial);
    s_key(&req->pk, "agencies");
    msgpack_pack_array(&req->pk, d->nentries);
    for (uint32_t i = 0; i < d->nentries; i++) {
        msgpack_pack_map(&req->pk, 3);
        s_kv_str(&req->pk, "code", d->entries[i].code);
        s_kv_str(&req->pk, "name", d->entries[i].name);
        s_kv_str(&req->pk, "state", states[d->entries[i].state % 3]);
    }
    s_reply_send(req, false);
}

// ---------------------------------------------------------------------------
//  Events catch-up and long-poll

typedef struct {
    msgpack_packer *pk;
    uint32_t count, limit;
    uint64_t last;
    bool counting;
} s_events_t;

static bool s_event_one(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_events_t *e = arg;
    if (klen != 8 || e->count == e->limit)
        return false;
    e->count++;
    e->last = proto_store_get64(key);
    if (!e->counting)
        msgpack_sbuffer_write(e->pk->data, value, vlen);
    return true;
}

//  Answer an events request if there is something (or force): true if sent.
//  capture: as in s_req_t (agent_api_handle), or NULL.
static bool s_events_answer(agent_t *self, const uint8_t *route, size_t route_len,
                            msgpack_sbuffer *capture, uint64_t after, uint32_t limit, bool force)
{
    if (proto_store_read_begin(self->kv) != PROTO_OK && !proto_store_writing(self->kv))
        return false;
    s_req_t req = { .self = self, .route = route, .route_len = route_len, .capture = capture };
    msgpack_sbuffer_init(&req.buf);
    msgpack_packer_init(&req.pk, &req.buf, msgpack_sbuffer_write);
    uint8_t from[8];
    proto_store_put64(from, after + 1);
    s_events_t e = { &req.pk, 0, limit, after, true };
    proto_store_scan(self->kv, T_EVENTS, from, sizeof from, s_event_one, &e);
    bool sent = false;
    if (e.count || force) {
        s_ok(&req, 2);
        s_key(&req.pk, "events");
        msgpack_pack_array(&req.pk, e.count);
        e.counting = false;
        e.count = 0;
        proto_store_scan(self->kv, T_EVENTS, from, sizeof from, s_event_one, &e);
        s_kv_u64(&req.pk, "next", e.last);
        s_reply_send(&req, false);
        sent = true;
    }
    if (!proto_store_writing(self->kv))
        proto_store_read_end(self->kv);
    msgpack_sbuffer_destroy(&req.buf);
    return sent;
}

static void s_cmd_events(s_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "after", "limit", "wait", NULL };
    agent_t *self = req->self;
    uint64_t after = 0, limit = 100, wait = 0;
    if (!s_keys_known(req, map, keys) || !s_uint(req, map, "after", &after, 0, UINT64_MAX) ||
        !s_uint(req, map, "limit", &limit, 1, 1000) || !s_uint(req, map, "wait", &wait, 0, 60000))
        return;
    if (s_events_answer(self, req->route, req->route_len, req->capture, after, (uint32_t) limit,
                        wait == 0))
        return;
    if (self->nwaiters == self->waiters_cap) {
        size_t cap = self->waiters_cap ? self->waiters_cap * 2 : 8;
        agent_waiter_t *grown = realloc(self->waiters, cap * sizeof *grown);
        if (!grown)
            return s_fail(req, PROTO_ERR_NOMEM, "", "out of memory");
        self->waiters = grown;
        self->waiters_cap = cap;
    }
    agent_waiter_t *w = &self->waiters[self->nwaiters];
    w->route.data = malloc(req->route_len);
    if (!w->route.data)
        return s_fail(req, PROTO_ERR_NOMEM, "", "out of memory");
    memcpy(w->route.data, req->route, req->route_len);
    w->route.len = req->route_len;
    w->after = after;
    w->limit = (uint32_t) limit;
    w->deadline = proto_clock_mono_ms() + wait;
    self->nwaiters++;
}

static void s_waiters_check(agent_t *self, uint64_t now, bool woken)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->nwaiters; i++) {
        agent_waiter_t *w = &self->waiters[i];
        bool due = now >= w->deadline;
        if ((woken || due) &&
            s_events_answer(self, w->route.data, w->route.len, NULL, w->after, w->limit, due)) {
            free(w->route.data);
            continue;
        }
        self->waiters[kept++] = *w;
    }
    self->nwaiters = kept;
}

void agent_api_wake(agent_t *self)
{
    s_waiters_check(self, proto_clock_mono_ms(), true);
}

void agent_api_timers(agent_t *self, uint64_t now)
{
    if (self->nwaiters)
        s_waiters_check(self, now, false);
}

// ---------------------------------------------------------------------------

static void s_handle(s_req_t *req, const uint8_t *data, size_t len)
{
    proto_errinfo_t info;
    if (proto_msgpack_check(data, len, API_MAX_DEPTH, &info) != PROTO_OK)
        return s_fail(req, info.code ? info.code : PROTO_ERR_MSGPACK, "", "%s", info.message);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, (const char *) data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_MAP) {
        msgpack_unpacked_destroy(&u);
        return s_fail(req, PROTO_ERR_MSGPACK, "", "a request is one msgpack map");
    }
    const msgpack_object *map = &u.data, *cmd = s_get(map, "cmd");
    static const struct {
        const char *name;
        void (*fn)(s_req_t *, const msgpack_object *);
    } commands[] = {
        { "submit", s_cmd_submit }, { "inbox", s_cmd_inbox },
        { "fetch", s_cmd_fetch },   { "ack", s_cmd_ack },
        { "status", s_cmd_status }, { "recall", s_cmd_recall },
        { "sent", s_cmd_sent },     { "quarantine", s_cmd_quarantine },
        { "health", s_cmd_health }, { "directory", s_cmd_directory },
        { "events", s_cmd_events },
    };
    bool done = false;
    if (!cmd || cmd->type != MSGPACK_OBJECT_STR) {
        s_fail(req, cmd ? PROTO_ERR_TYPE : PROTO_ERR_MISSING, "cmd", "the command name");
        done = true;
    } else if (s_is(cmd, "revoke") || s_is(cmd, "update") || s_is(cmd, "replace")) {
        s_cmd_operation(req, map,
                        s_is(cmd, "revoke")   ? PROTO_KIND_REVOKE
                        : s_is(cmd, "update") ? PROTO_KIND_UPDATE
                                              : PROTO_KIND_REPLACE);
        done = true;
    }
    for (size_t i = 0; !done && i < sizeof commands / sizeof commands[0]; i++) {
        if (s_is(cmd, commands[i].name)) {
            commands[i].fn(req, map);
            done = true;
        }
    }
    if (!done)
        s_fail(req, PROTO_ERR_UNKNOWN_FIELD, "cmd", "unknown command %.*s",
               (int) (cmd->via.str.size > 40 ? 40 : cmd->via.str.size), cmd->via.str.ptr);
    msgpack_unpacked_destroy(&u);
}

void agent_api_handle(agent_t *self, const void *route, size_t route_len, const void *data,
                      size_t len, msgpack_sbuffer *replies)
{
    s_req_t req = { .self = self, .route = route, .route_len = route_len, .capture = replies };
    msgpack_sbuffer_init(&req.buf);
    msgpack_packer_init(&req.pk, &req.buf, msgpack_sbuffer_write);
    s_handle(&req, data, len);
    msgpack_sbuffer_destroy(&req.buf);
}

void agent_api_readable(agent_t *self)
{
    for (int taken = 0; taken < 64; taken++) {
        zmq_msg_t frames[3];
        size_t n = 0;
        int more = 1;
        bool broken = false;
        //  A REQ client sends: routing id (added by ROUTER), empty, body.
        while (more) {
            zmq_msg_t spare, *into = n < 3 ? &frames[n] : &spare;
            zmq_msg_init(into);
            if (zmq_msg_recv(into, self->api, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close(into);
                if (n == 0)
                    return;
                broken = true;
                break;
            }
            more = zmq_msg_more(into);
            if (n < 3)
                n++;
            else {
                zmq_msg_close(&spare);
                broken = true;
            }
        }
        if (n >= 1) {
            s_req_t req = { .self = self,
                            .route = zmq_msg_data(&frames[0]),
                            .route_len = zmq_msg_size(&frames[0]) };
            msgpack_sbuffer_init(&req.buf);
            msgpack_packer_init(&req.pk, &req.buf, msgpack_sbuffer_write);
            if (broken || n != 3 || zmq_msg_size(&frames[1]) != 0)
                s_fail(&req, PROTO_ERR_FRAMING, "",
                       "send one frame with a REQ socket (or empty delimiter + frame)");
            else
                s_handle(&req, zmq_msg_data(&frames[2]), zmq_msg_size(&frames[2]));
            msgpack_sbuffer_destroy(&req.buf);
        }
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&frames[i]);
    }
}
