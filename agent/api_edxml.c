/*  agent/api_edxml.c - the edXML bridge (agent/edxml.h) on the local API:
    a DMS submits an edXML package instead of a document map, sends an
    edXML Status instead of a status request, fetches a received document
    as a package, and reads the notices about a document as Status
    messages (agent/API.md, "edXML").

    Packages are read with the agent's answers: From must be its agency,
    recipients are checked against its directory, and DocumentIds are
    looked up in the map the agent keeps on both sides (store.h, T_EDXML):
    the sender records a package's DocumentId when it queues it, the
    recipient when the document arrives (api_edxml_delivered). What the
    reader produces then goes through the very path of submit (api_send.c,
    api_doc_queue) or status: one set of checks.
*/
#include <limits.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_edxml.h"
#include "api_internal.h"
#include "api_ref.h"
#include "edxml.h"
#include "proto/log.h"

// ---------------------------------------------------------------------------
//  The agent's answers to the reader

static proto_err_t s_recipient(void *arg, const char *code)
{
    agent_t *self = arg;
    if (!self->directory)
        return PROTO_OK; // no directory yet: the broker will say
    const proto_dir_entry_t *e = agent_dir_find(self, code);
    return !e                                   ? PROTO_ERR_UNKNOWN_AGENCY
           : e->state == PROTO_AGENCY_SUSPENDED ? PROTO_ERR_AGENCY_SUSPENDED
           : e->state == PROTO_AGENCY_REVOKED   ? PROTO_ERR_AGENCY_REVOKED
                                                : PROTO_OK;
}

static bool s_lookup(void *arg, const char *document_id, proto_id_t *id)
{
    agent_t *self = arg;
    return agent_store_edxml_find(self->kv, document_id, id) == PROTO_OK;
}

//  The largest package a request may hold: the largest document, base64
//  (4/3), plus room for the header, within AGENT_EDXML_MAX_SIZE.
static size_t s_max_package(const agent_t *self)
{
    uint64_t max = self->config->max_document / 3 * 4 + (4u << 20);
    return max < AGENT_EDXML_MAX_SIZE ? (size_t) max : AGENT_EDXML_MAX_SIZE;
}

//  The package of a request: `edxml` (a path in api.allowed_dirs) or
//  `edxml_bytes` (bin). *owned is what to free afterwards (NULL: nothing).
static bool s_package(api_req_t *req, const msgpack_object *map, const void **data, size_t *len,
                      void **owned)
{
    const msgpack_object *path = api_get(map, "edxml"), *bytes = api_get(map, "edxml_bytes");
    size_t limit = s_max_package(req->self);
    *owned = NULL;
    if (path && bytes) {
        api_fail(req, PROTO_ERR_VALUE, "edxml", "edxml (a path) or edxml_bytes, not both");
        return false;
    }
    if (bytes) {
        if (bytes->type != MSGPACK_OBJECT_BIN && bytes->type != MSGPACK_OBJECT_STR) {
            api_fail(req, PROTO_ERR_TYPE, "edxml_bytes", "the package's bytes (bin)");
            return false;
        }
        *data = bytes->via.bin.ptr;
        *len = bytes->via.bin.size;
        if (*len > limit) {
            api_fail(req, PROTO_ERR_TOO_LARGE, "edxml_bytes", "a package of %zu bytes, limit %zu",
                     *len, limit);
            return false;
        }
        return true;
    }
    char file[PATH_MAX], why[PATH_MAX + 128];
    if (path->type != MSGPACK_OBJECT_STR || path->via.str.size >= sizeof file) {
        api_fail(req, PROTO_ERR_TYPE, "edxml", "the package's path (str)");
        return false;
    }
    memcpy(file, path->via.str.ptr, path->via.str.size);
    file[path->via.str.size] = '\0';
    void *read = NULL;
    proto_err_t rc = agent_files_read(req->self->files, file, limit, &read, len, why, sizeof why);
    if (rc == PROTO_ERR_NOT_AUTHORIZED)
        api_denied_path(req, "edxml", file);
    if (rc) {
        api_fail(req, rc, "edxml", "%s", why);
        return false;
    }
    *data = read;
    *owned = read;
    return true;
}

//  Read what a request names with the reader given (package or status),
//  in a read transaction for the DocumentId map.
static bool s_begin_read(agent_t *self)
{
    return proto_store_read_begin(self->kv) == PROTO_OK || proto_store_writing(self->kv);
}

static void s_end_read(agent_t *self)
{
    if (!proto_store_writing(self->kv))
        proto_store_read_end(self->kv);
}

// ---------------------------------------------------------------------------
//  submit with a package

//  The API's attachments list for the package's attachments (bin data).
static void s_pack_attachments(msgpack_sbuffer *buf, const agent_edxml_pkg_t *pkg)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, pkg->natt);
    for (uint32_t i = 0; i < pkg->natt; i++) {
        msgpack_pack_map(&pk, 3);
        api_kv_str(&pk, "name", pkg->att_name[i]);
        api_kv_str(&pk, "type", pkg->att_type[i]);
        api_key(&pk, "data");
        msgpack_pack_bin_with_body(&pk, pkg->att_data[i], pkg->att_len[i]);
    }
}

//  An operation acts only on documents this agency sent (as api_cmd_operation).
static bool s_refs_sent(api_req_t *req, const agent_edxml_pkg_t *pkg)
{
    for (uint32_t i = 0; i < pkg->nrefs; i++) {
        agent_sent_t sent;
        char text[PROTO_ID_TEXT_LEN];
        proto_id_format(&pkg->refs[i], text);
        if (agent_store_sent_get(req->self->kv, &pkg->refs[i], &sent) != PROTO_OK ||
            sent.kind == PROTO_KIND_STATUS) {
            api_fail(req, PROTO_ERR_NOT_AUTHORIZED, "edxml",
                     "BussinessDocType %u names %s, not a document this agency sent", pkg->op,
                     text);
            return false;
        }
    }
    return true;
}

static void s_submit_queue(api_req_t *req, const agent_edxml_pkg_t *pkg, const api_ref_t *ref)
{
    agent_t *self = req->self;
    msgpack_sbuffer atts;
    msgpack_sbuffer_init(&atts);
    s_pack_attachments(&atts, pkg);
    msgpack_unpacked doc, list;
    msgpack_unpacked_init(&doc);
    msgpack_unpacked_init(&list);
    size_t off = 0, aoff = 0;
    proto_id_t id;
    bool ok = msgpack_unpack_next(&doc, pkg->doc, pkg->doc_len, &off) == MSGPACK_UNPACK_SUCCESS &&
              msgpack_unpack_next(&list, atts.data, atts.size, &aoff) == MSGPACK_UNPACK_SUCCESS;
    if (!ok)
        api_fail(req, PROTO_ERR_NOMEM, "", "out of memory");
    else
        ok = api_doc_queue(req, PROTO_KIND_SUBMIT + pkg->op, &doc.data, &list.data, pkg->refs,
                           pkg->nrefs, pkg->reason, ref, &id);
    msgpack_unpacked_destroy(&doc);
    msgpack_unpacked_destroy(&list);
    msgpack_sbuffer_destroy(&atts);
    if (!ok)
        return;
    //  In the transaction that queued the document: both or neither.
    if (pkg->document_id) {
        proto_err_t rc = proto_store_begin(self->kv);
        if (!rc)
            rc = agent_store_edxml_put(self->kv, pkg->document_id, &id);
        if (rc) {
            proto_store_abort(self->kv);
            return api_fail(req, rc, "", "could not record the DocumentId");
        }
    }
    char text[PROTO_ID_TEXT_LEN];
    proto_id_format(&id, text);
    proto_log_info("event=edxml_in doc=%s op=%u attachments=%u", text, pkg->op, pkg->natt);
    api_ok(req, 3);
    api_kv_str(&req->pk, "id", text);
    api_kv_str(&req->pk, "state", "queued");
    api_kv_str(&req->pk, "document_id", pkg->document_id);
    api_reply_send(req, true);
}

void api_edxml_submit(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "edxml", "edxml_bytes", "client_ref", NULL };
    agent_t *self = req->self;
    const void *data;
    size_t len;
    void *owned;
    api_ref_t ref; // api_ref.h: a repeat is answered with what it sent first
    if (!api_keys_known(req, map, keys) || !api_ref_begin(req, map, &ref) ||
        !s_package(req, map, &data, &len, &owned))
        return;
    agent_edxml_ctx_t ctx = { .agency = self->agency,
                              .recipient = s_recipient,
                              .lookup = s_lookup,
                              .arg = self,
                              .max_size = s_max_package(self) };
    agent_edxml_pkg_t pkg;
    agent_edxml_err_t err;
    if (!s_begin_read(self)) {
        free(owned);
        return api_fail(req, PROTO_ERR_STORE, "", "cannot read the store");
    }
    proto_err_t rc = agent_edxml_read(data, len, &ctx, &pkg, &err);
    bool refs_ok = rc == PROTO_OK && s_refs_sent(req, &pkg);
    s_end_read(self);
    free(owned);
    if (rc)
        return api_fail(req, rc, err.path, "%s", err.message);
    if (refs_ok)
        s_submit_queue(req, &pkg, &ref);
    agent_edxml_pkg_free(&pkg);
}

proto_err_t api_edxml_delivered(agent_t *self, const proto_doc_t *doc)
{
    for (uint32_t i = 0; i < doc->next; i++)
        if (strcmp(doc->ext[i].key, "edxml.document_id") == 0) {
            proto_err_t rc = agent_store_edxml_put(self->kv, doc->ext[i].value, &doc->id);
            //  A DocumentId too long to be a key is not worth losing the
            //  document over: it stays in ext, only Status cannot find it.
            return rc == PROTO_ERR_LIMIT ? PROTO_OK : rc;
        }
    return PROTO_OK;
}

// ---------------------------------------------------------------------------
//  fetch as a package

static bool s_format(api_req_t *req, const msgpack_object *map, bool *edxml)
{
    const msgpack_object *format = api_get(map, "format");
    *edxml = format && api_is(format, "edxml");
    if (format && !*edxml && !api_is(format, "map")) {
        api_fail(req, PROTO_ERR_VALUE, "format", "edxml or map");
        return false;
    }
    return true;
}

//  Write the package into DIR/<id>/edxml.xml (agent/files.h).
static bool s_write_package(api_req_t *req, const char *dir, const char *idtext, const char *xml,
                            size_t len, char *path, size_t cap)
{
    char why[PATH_MAX + 128] = "";
    int fd = -1;
    proto_err_t rc = agent_files_open_dir(req->self->files, dir, idtext, &fd, why, sizeof why);
    if (!rc)
        rc = agent_files_write(fd, "edxml.xml", xml, len, why, sizeof why);
    if (fd >= 0)
        close(fd);
    if (rc == PROTO_ERR_NOT_AUTHORIZED)
        api_denied_path(req, "dir", dir);
    if (rc) {
        api_fail(req, rc, "dir", "%s", why);
        return false;
    }
    snprintf(path, cap, "%s/%s/edxml.xml", dir, idtext);
    return true;
}

void api_edxml_fetch(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "id", "format", "dir", NULL };
    agent_t *self = req->self;
    proto_id_t id;
    bool edxml;
    char dir[PATH_MAX - 300];
    if (!api_keys_known(req, map, keys) || !s_format(req, map, &edxml) ||
        !api_id_field(req, map, "id", &id) || !api_text(req, map, "dir", dir, sizeof dir, false))
        return;
    if (!edxml)
        return api_fail(req, PROTO_ERR_VALUE, "format",
                        "fetch gives a map without format, or a package with edxml");
    if (dir[0] && dir[0] != '/')
        return api_fail(req, PROTO_ERR_VALUE, "dir", "must be an absolute path");
    if (!s_begin_read(self))
        return api_fail(req, PROTO_ERR_STORE, "", "cannot read the store");
    const void *frames[AGENT_MAX_FRAMES];
    size_t lens[AGENT_MAX_FRAMES], nframes = 0;
    agent_inbox_t rec;
    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    proto_err_t rc = agent_store_inbox_get(self->kv, &id, &rec);
    if (rc == PROTO_OK &&
        (agent_store_frames_get(self->kv, 'i', &id, frames, lens, AGENT_MAX_FRAMES, &nframes) !=
             PROTO_OK ||
         proto_msg_decode(PROTO_KIND_DELIVER, frames[0], lens[0], &msg, &info) != PROTO_OK ||
         nframes != 1 + msg->u.document.doc.natt))
        rc = PROTO_ERR_STORE;
    char document_id[AGENT_EDXML_ID_MAX + 1];
    bool known = rc == PROTO_OK &&
                 agent_store_edxml_id(self->kv, &id, document_id, sizeof document_id) == PROTO_OK;
    char *xml = NULL;
    size_t len = 0;
    //  A sealed document (seal.h) is opened by `fetch` in the API's own
    //  form only: a package would carry its ciphertext and the placeholder
    //  subject, or put its plaintext in a file no key protects.
    bool sealed = false;
    for (uint32_t i = 0; rc == PROTO_OK && i < msg->u.document.doc.natt; i++)
        sealed |= msg->u.document.doc.att[i].enc != NULL;
    if (rc == PROTO_OK && sealed)
        rc = PROTO_ERR_BAD_STATE;
    if (rc == PROTO_OK)
        rc = agent_edxml_write(&msg->u.document.doc, frames + 1, lens + 1,
                               known ? document_id : NULL, &xml, &len);
    proto_msg_destroy(&msg);
    s_end_read(self);
    char idtext[PROTO_ID_TEXT_LEN], path[PATH_MAX + 64];
    proto_id_format(&id, idtext);
    if (rc == PROTO_ERR_NOT_FOUND)
        api_fail(req, PROTO_ERR_UNKNOWN_DOC, "id", "no such document in the inbox");
    else if (rc == PROTO_ERR_BAD_STATE)
        api_fail(req, rc, "format",
                 "a sealed document is not exported as edXML: fetch it without format");
    else if (rc)
        api_fail(req, rc, "", "cannot write the package: %s", proto_strerror(rc));
    else if (!dir[0] || s_write_package(req, dir, idtext, xml, len, path, sizeof path)) {
        api_ok(req, 3);
        api_kv_str(&req->pk, "id", idtext);
        api_kv_u64(&req->pk, "size", len);
        if (dir[0]) {
            api_kv_str(&req->pk, "path", path);
        } else {
            api_key(&req->pk, "edxml");
            msgpack_pack_bin_with_body(&req->pk, xml, len);
        }
        api_reply_send(req, false);
    }
    free(xml);
}

// ---------------------------------------------------------------------------
//  status with an edXML Status message

void api_edxml_status(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "edxml", "edxml_bytes", NULL };
    agent_t *self = req->self;
    const void *data;
    size_t len;
    void *owned;
    if (!api_keys_known(req, map, keys) || !s_package(req, map, &data, &len, &owned))
        return;
    agent_edxml_ctx_t ctx = {
        .agency = self->agency, .lookup = s_lookup, .arg = self, .max_size = s_max_package(self)
    };
    agent_edxml_status_t *st = malloc(sizeof *st);
    agent_edxml_err_t err;
    proto_err_t rc = st ? PROTO_OK : PROTO_ERR_NOMEM;
    if (!rc && !s_begin_read(self))
        rc = PROTO_ERR_STORE;
    else if (!rc) {
        rc = agent_edxml_status_read(data, len, &ctx, st, &err);
        s_end_read(self);
    }
    free(owned);
    if (rc == PROTO_ERR_NOMEM || rc == PROTO_ERR_STORE)
        api_fail(req, rc, "", "%s", proto_strerror(rc));
    else if (rc)
        api_fail(req, rc, err.path, "%s", err.message);
    else if (!st->has_doc)
        api_fail(req, PROTO_ERR_UNKNOWN_DOC, "ResponseFor/DocumentId",
                 "no document of this agent has the DocumentId %.200s", st->document_id);
    if (rc || !st->has_doc) {
        free(st);
        return;
    }
    //  The request a DMS would have made: recall (13) for a sent
    //  document, status for a received one, with the same checks.
    char idtext[PROTO_ID_TEXT_LEN];
    proto_id_format(&st->doc, idtext);
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    const char *staff[][2] = { { "name", st->staff_name },
                               { "department", st->staff_department },
                               { "phone", st->staff_phone },
                               { "email", st->staff_email } };
    uint32_t nstaff = 0;
    for (size_t i = 0; i < 4; i++)
        nstaff += staff[i][1][0] != '\0';
    msgpack_pack_map(&pk, st->code == 13 ? 3 : 4 + (nstaff > 0));
    api_kv_str(&pk, "cmd", st->code == 13 ? "recall" : "status");
    api_kv_str(&pk, "id", idtext);
    api_kv_str(&pk, "note", st->note);
    if (st->code != 13) {
        api_kv_u64(&pk, "code", st->code);
        if (nstaff) {
            api_key(&pk, "staff");
            msgpack_pack_map(&pk, nstaff);
            for (size_t i = 0; i < 4; i++)
                if (staff[i][1][0])
                    api_kv_str(&pk, staff[i][0], staff[i][1]);
        }
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, buf.data, buf.size, &off) != MSGPACK_UNPACK_SUCCESS)
        api_fail(req, PROTO_ERR_NOMEM, "", "out of memory");
    else if (st->code == 13)
        api_cmd_recall(req, &u.data);
    else
        api_cmd_status(req, &u.data);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&buf);
    free(st);
}

// ---------------------------------------------------------------------------
//  notices: what the agent holds about a document, as maps or Status messages

typedef struct {
    api_req_t *req;
    bool edxml, counting;
    uint32_t count;
    const char *doc_agency; // the document's sender
    const char *document_id;
    const char *code_text, *date; // from the DocumentId, or NULL
    proto_err_t rc;
} s_notices_t;

static const char *s_str(const msgpack_object *map, const char *key, char *out, size_t cap)
{
    const msgpack_object *v = api_get(map, key);
    if (!v || v->type != MSGPACK_OBJECT_STR || v->via.str.size >= cap)
        return NULL;
    memcpy(out, v->via.str.ptr, v->via.str.size);
    out[v->via.str.size] = '\0';
    return out;
}

static bool s_notice_one(void *arg, const proto_id_t *notice, const void *value, size_t vlen)
{
    s_notices_t *n = arg;
    n->count++;
    if (n->counting)
        return true;
    msgpack_packer *pk = &n->req->pk;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    if (msgpack_unpack_next(&u, value, vlen, &off) != MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_MAP) {
        msgpack_unpacked_destroy(&u);
        msgpack_pack_map(pk, 1);
        api_kv_id(pk, "id", notice);
        return true;
    }
    const msgpack_object *m = &u.data, *code = api_get(m, "code"), *time = api_get(m, "time");
    char from[PROTO_AGENCY_CODE_LEN + 1] = "", note[PROTO_MAX_TEXT * 4 + 1];
    char staff[PROTO_MAX_NAME * 4 + 1];
    s_str(m, "from", from, sizeof from);
    msgpack_pack_map(pk, 1 + m->via.map.size + n->edxml);
    api_kv_id(pk, "id", notice);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        msgpack_pack_object(pk, m->via.map.ptr[i].key);
        msgpack_pack_object(pk, m->via.map.ptr[i].val);
    }
    if (n->edxml) {
        const proto_dir_entry_t *e = agent_dir_find(n->req->self, from);
        agent_edxml_status_out_t out = {
            .doc_agency = n->doc_agency,
            .document_id = n->document_id,
            .code_text = n->code_text,
            .date = n->date,
            .from = from,
            .from_name = e ? e->name : NULL,
            .code =
                code && code->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (uint8_t) code->via.u64 : 0,
            .time = time && time->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? time->via.u64 : 0,
            .note = s_str(m, "note", note, sizeof note),
            .staff = { .name = s_str(m, "staff", staff, sizeof staff) },
        };
        char *xml = NULL;
        size_t len = 0;
        proto_err_t rc = agent_edxml_status_write(&out, &xml, &len);
        if (rc && !n->rc)
            n->rc = rc;
        api_key(pk, "edxml");
        msgpack_pack_bin_with_body(pk, xml ? xml : "", xml ? len : 0);
        free(xml);
    }
    msgpack_unpacked_destroy(&u);
    return true;
}

//  The document's sender: this agency for a sent one, the summary's from
//  for a received one. False when the agent holds no such document.
static bool s_doc_sender(agent_t *self, const proto_id_t *id, char *out, size_t cap)
{
    agent_sent_t sent;
    if (agent_store_sent_get(self->kv, id, &sent) == PROTO_OK) {
        snprintf(out, cap, "%s", self->agency);
        return sent.kind != PROTO_KIND_STATUS;
    }
    uint64_t seq, received;
    bool acked;
    msgpack_unpacked summary;
    if (!api_inbox_record(self, id, &seq, &received, &acked, &summary))
        return false;
    out[0] = '\0';
    s_str(&summary.data, "from", out, cap);
    msgpack_unpacked_destroy(&summary);
    return true;
}

void api_cmd_notices(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "id", "format", NULL };
    agent_t *self = req->self;
    proto_id_t id;
    s_notices_t n = { .req = req, .counting = true };
    if (!api_keys_known(req, map, keys) || !s_format(req, map, &n.edxml) ||
        !api_id_field(req, map, "id", &id))
        return;
    if (!s_begin_read(self))
        return api_fail(req, PROTO_ERR_STORE, "", "cannot read the store");
    char sender[PROTO_AGENCY_CODE_LEN + 1], document_id[AGENT_EDXML_ID_MAX + 1];
    char date[11] = "", code_text[AGENT_EDXML_ID_MAX + 1] = "";
    if (!s_doc_sender(self, &id, sender, sizeof sender)) {
        s_end_read(self);
        return api_fail(req, PROTO_ERR_UNKNOWN_DOC, "id",
                        "not a document this agency sent or received");
    }
    //  A document that never was edXML goes by its truc id; one that was,
    //  by its DocumentId, whose parts give the Code and the date.
    if (agent_store_edxml_id(self->kv, &id, document_id, sizeof document_id) != PROTO_OK)
        proto_id_format(&id, document_id);
    const char *c1 = strchr(document_id, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
    if (c2 && c2 - c1 - 1 < (ptrdiff_t) sizeof date) {
        char day[32];
        snprintf(day, sizeof day, "%.*s", (int) (c2 - c1 - 1), c1 + 1);
        if (!agent_edxml_date(day, date))
            date[0] = '\0';
        snprintf(code_text, sizeof code_text, "%s", c2 + 1);
    }
    n.doc_agency = sender;
    n.document_id = document_id;
    n.code_text = code_text[0] && strcmp(code_text, "/") ? code_text : NULL;
    n.date = date[0] ? date : NULL;
    agent_store_note_each(self->kv, &id, s_notice_one, &n);
    api_ok(req, 3);
    api_kv_id(&req->pk, "id", &id);
    api_kv_str(&req->pk, "document_id", document_id);
    api_key(&req->pk, "notices");
    msgpack_pack_array(&req->pk, n.count);
    n.counting = false;
    n.count = 0;
    agent_store_note_each(self->kv, &id, s_notice_one, &n);
    s_end_read(self);
    if (n.rc)
        return api_fail(req, n.rc, "", "cannot write a Status message");
    api_reply_send(req, false);
}
