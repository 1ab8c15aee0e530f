/*  agent/api_send.c - the local API's commands that make the agent sign
    and send something: submit, revoke, update, replace (documents built
    from the DMS's map), status and recall (notices), and ack.

    Documents a DMS submits are turned into wire envelopes by copying the
    DMS's map into a SUBMIT body and running the protocol's strict decoder
    over it. Replies wait for the commit.
*/
#include <limits.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_internal.h"
#include "api_ref.h"
#include "inbox_ops.h"
#include "levels.h"
#include "seal.h"
#include "text.h"
#include "proto/log.h"
#include "proto/sign.h"

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

//  Read an attachment the request names by path, confined to the allowed
//  directories (agent/files.h).
static bool s_read_file(api_req_t *req, const char *path, uint64_t limit, void **data, size_t *len,
                        const char *field)
{
    char why[PATH_MAX + 128];
    proto_err_t rc = agent_files_read(req->self->files, path, limit, data, len, why, sizeof why);
    if (rc == PROTO_ERR_NOT_AUTHORIZED)
        api_denied_path(req, field, path);
    if (rc == PROTO_ERR_TOO_LARGE)
        api_fail(req, rc, field, "%s: this agent's api.max_document is %llu bytes", why,
                 (unsigned long long) limit);
    else if (rc)
        api_fail(req, rc, field, "%s", why);
    return rc == PROTO_OK;
}

//  One attachment of len bytes, total so far, against the three limits:
//  this agent's (api.max_document), the broker's per frame and per
//  document (learned from READY, 0 before the first connection). The DMS
//  is told which limit and its value, so it knows what to split or shrink.
static bool s_size_check(api_req_t *req, const char *field, uint64_t len, uint64_t total)
{
    const agent_t *self = req->self;
    const char *which = NULL;
    uint64_t limit = 0, size = total;
    if (total > self->config->max_document)
        which = "this agent's api.max_document (all attachments)",
        limit = self->config->max_document;
    else if (self->max_frame && len > self->max_frame)
        which = "the broker's limits.max_frame (one attachment)", limit = self->max_frame,
        size = len;
    else if (self->max_document && total > self->max_document)
        which = "the broker's limits.max_document (all attachments)", limit = self->max_document;
    if (!which)
        return true;
    api_fail(req, PROTO_ERR_TOO_LARGE, field, "%llu bytes, over %s of %llu bytes (%.1f MiB)",
             (unsigned long long) size, which, (unsigned long long) limit,
             (double) limit / (1024.0 * 1024.0));
    return false;
}

//  Pack the "att" list from the request's attachments, reading files given
//  by path, and keep the bytes for the frames.
static bool s_attachments(api_req_t *req, const msgpack_object *list, msgpack_packer *pk,
                          s_atts_t *atts)
{
    static const char *const keys[] = { "name", "type", "data", "path", NULL };
    uint64_t total = 0;
    if (!list || list->type == MSGPACK_OBJECT_NIL)
        return true;
    if (list->type != MSGPACK_OBJECT_ARRAY) {
        api_fail(req, PROTO_ERR_TYPE, "attachments", "expected an array");
        return false;
    }
    if (list->via.array.size > PROTO_MAX_ATTACHMENTS) {
        api_fail(req, PROTO_ERR_LIMIT, "attachments", "at most %d", PROTO_MAX_ATTACHMENTS);
        return false;
    }
    api_key(pk, "att");
    msgpack_pack_array(pk, list->via.array.size);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *a = &list->via.array.ptr[i];
        char field[32];
        snprintf(field, sizeof field, "attachments[%u]", i);
        if (a->type != MSGPACK_OBJECT_MAP) {
            api_fail(req, PROTO_ERR_TYPE, field, "expected a map");
            return false;
        }
        if (!api_keys_known(req, a, keys))
            return false;
        const msgpack_object *name = api_get(a, "name"), *type = api_get(a, "type");
        const msgpack_object *data = api_get(a, "data"), *path = api_get(a, "path");
        if (!name || !type || (!data == !path)) {
            api_fail(req, PROTO_ERR_MISSING, field, "needs name, type, and data or path");
            return false;
        }
        if (data && data->type != MSGPACK_OBJECT_BIN) {
            api_fail(req, PROTO_ERR_TYPE, field, "data must be binary");
            return false;
        }
        if (data) {
            atts->data[i] = (void *) (uintptr_t) data->via.bin.ptr;
            atts->lens[i] = data->via.bin.size;
            atts->owned[i] = false;
        } else {
            char file[PATH_MAX];
            if (path->type != MSGPACK_OBJECT_STR || path->via.str.size >= sizeof file) {
                api_fail(req, PROTO_ERR_TYPE, field, "path must be a string");
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
        if (!s_size_check(req, field, atts->lens[i], total))
            return false;
        proto_attachment_t desc = { 0 };
        proto_attachment_hash(&desc, atts->data[i], atts->lens[i]);
        msgpack_pack_map(pk, 4);
        api_key(pk, "name");
        agent_text_pack_nfc(pk, name);
        api_key(pk, "type");
        msgpack_pack_object(pk, *type);
        api_kv_u64(pk, "size", desc.size);
        api_key(pk, "hash");
        msgpack_pack_bin_with_body(pk, desc.hash, PROTO_HASH_LEN);
    }
    return true;
}

//  A text field read with api_text, in NFC (text.h).
static bool s_nfc(api_req_t *req, const char *field, char *text, size_t cap)
{
    if (agent_text_nfc(text, cap))
        return true;
    api_fail(req, PROTO_ERR_LIMIT, field, "longer than %zu bytes once normalised to NFC", cap - 1);
    return false;
}

//  Copy the DMS's document map into a wire envelope map, translating the
//  few fields the API spells differently. Returns false (with a reply) on a
//  field the agent fills itself or a translation that fails.
static bool s_copy_doc(api_req_t *req, const msgpack_object *doc, msgpack_packer *pk, size_t *count)
{
    for (uint32_t i = 0; i < doc->via.map.size; i++) {
        const msgpack_object *key = &doc->via.map.ptr[i].key, *val = &doc->via.map.ptr[i].val;
        if (key->type != MSGPACK_OBJECT_STR) {
            api_fail(req, PROTO_ERR_TYPE, "doc", "keys must be strings");
            return false;
        }
        if (api_is(key, "from")) {
            if (!api_is(val, req->self->agency)) {
                //  A DMS claiming another agency is worth an event, not
                //  only an answer: whoever watches the agent should see it.
                char claimed[41] = "";
                if (val->type == MSGPACK_OBJECT_STR)
                    snprintf(claimed, sizeof claimed, "%.*s",
                             (int) (val->via.str.size < 40 ? val->via.str.size : 40),
                             val->via.str.ptr);
                agent_event(req->self, "api.denied", NULL, "sss", "field", "doc.from", "claimed",
                            claimed, "code", proto_errname(PROTO_ERR_NOT_AUTHORIZED));
                api_fail(req, PROTO_ERR_NOT_AUTHORIZED, "doc.from", "this agent signs only as %s",
                         req->self->agency);
                return false;
            }
            continue;
        }
        if (api_is(key, "id") || api_is(key, "created") || api_is(key, "op") ||
            api_is(key, "op_reason") || api_is(key, "op_refs") || api_is(key, "att")) {
            api_fail(req, PROTO_ERR_UNKNOWN_FIELD, "doc", "%.*s is set by the agent",
                     (int) key->via.str.size, key->via.str.ptr);
            return false;
        }
        msgpack_pack_object(pk, *key);
        (*count)++;
        bool urgency = api_is(key, "urgency");
        if ((urgency || api_is(key, "secrecy")) && val->type == MSGPACK_OBJECT_STR) {
            //  levels.h: a level by name, English or Vietnamese.
            agent_level_kind_t kind = urgency ? AGENT_LEVEL_URGENCY : AGENT_LEVEL_SECRECY;
            int level = agent_levels_parse(kind, val->via.str.ptr, val->via.str.size);
            if (level < 0) {
                api_fail(req, PROTO_ERR_VALUE, urgency ? "doc.urgency" : "doc.secrecy", "%s",
                         agent_levels_help(kind));
                return false;
            }
            msgpack_pack_uint8(pk, (uint8_t) level);
        } else if (api_is(key, "response_for") && val->type == MSGPACK_OBJECT_ARRAY) {
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
                    if (api_is(&kv->key, "doc") && kv->val.type == MSGPACK_OBJECT_STR &&
                        kv->val.via.str.size < sizeof text) {
                        memcpy(text, kv->val.via.str.ptr, kv->val.via.str.size);
                        if (proto_id_parse(text, &id) != PROTO_OK) {
                            api_fail(req, PROTO_ERR_VALUE, "doc.response_for.doc",
                                     "not a document id");
                            return false;
                        }
                        msgpack_pack_bin_with_body(pk, id.bytes, PROTO_ID_LEN);
                    } else {
                        agent_text_pack_nfc(pk, &kv->val);
                    }
                }
            }
        } else {
            agent_text_pack_nfc(pk, val); // text.h: one Unicode form for every recipient
        }
    }
    return true;
}

enum { S_NO_SEAL, S_SEAL, S_SEAL_TEXT }; // what s_build_and_queue seals

//  Seal the attachments of a checked document before it is signed
//  (seal.h); the ciphertext frames replace the plaintext ones in atts and
//  must fit the same limits.
static bool s_seal(api_req_t *req, proto_doc_t *doc, bool text, s_atts_t *atts, agent_seal_t **seal)
{
    if (doc->secrecy == 0 || (doc->natt == 0 && !text)) {
        api_fail(req, PROTO_ERR_VALUE, doc->secrecy ? "attachments" : "doc.secrecy", "%s",
                 doc->secrecy ? "seal encrypts the attachments, and there are none "
                                "(seal_text seals the subject and content)"
                              : "seal needs a secrecy level of at least 1 (confidential)");
        return false;
    }
    char why[256];
    const void *data[PROTO_MAX_ATTACHMENTS];
    size_t lens[PROTO_MAX_ATTACHMENTS];
    memcpy(data, atts->data, atts->n * sizeof *data);
    memcpy(lens, atts->lens, atts->n * sizeof *lens);
    proto_err_t rc = agent_seal_document(req->self, doc, text, data, lens, seal, why, sizeof why);
    if (rc) {
        api_fail(req, rc, rc == PROTO_ERR_UNKNOWN_AGENCY ? "doc.to" : "attachments", "%s", why);
        return false;
    }
    //  The plaintext read from files goes now; the frames are the sealed
    //  ones, which *seal owns (one more with the sealed text).
    uint64_t total = 0;
    for (uint32_t i = 0; i < doc->natt; i++) {
        if (atts->owned[i]) {
            sodium_memzero(atts->data[i], atts->lens[i]);
            free(atts->data[i]);
        }
        atts->data[i] = (void *) (uintptr_t) data[i];
        atts->lens[i] = lens[i];
        atts->owned[i] = false;
    }
    atts->n = doc->natt;
    for (uint32_t i = 0; i < atts->n; i++) {
        char field[32];
        snprintf(field, sizeof field, "attachments[%u]", i);
        total += atts->lens[i];
        if (!s_size_check(req, field, atts->lens[i], total))
            return false;
    }
    return true;
}

//  Build, check, sign and queue a document. kind: SUBMIT, REVOKE, UPDATE or
//  REPLACE; refs/reason for the operations; seal: S_SEAL encrypts the
//  attachments to the recipients (seal.h), S_SEAL_TEXT the subject and
//  content too. On success *id is the new id.
static bool s_build_and_queue(api_req_t *req, int kind, const msgpack_object *doc,
                              const msgpack_object *attachments, const proto_id_t *refs,
                              uint32_t nrefs, const char *reason, const api_ref_t *ref, int seal,
                              proto_id_t *id)
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
    api_key(&pk, "doc");
    size_t header_at = body.size;
    static const char map32[5] = { (char) 0xdf, 0, 0, 0, 0 };
    msgpack_sbuffer_write(&body, map32, sizeof map32);
    size_t count = 0;
    proto_id_new(id);
    api_key(&pk, "id");
    msgpack_pack_bin_with_body(&pk, id->bytes, PROTO_ID_LEN);
    api_kv_str(&pk, "from", self->agency);
    api_kv_u64(&pk, "created", agent_now());
    count += 3;
    bool ok = s_copy_doc(req, doc, &pk, &count);
    if (ok && kind != PROTO_KIND_SUBMIT) {
        api_kv_u64(&pk, "op", (uint64_t) (kind - PROTO_KIND_SUBMIT));
        api_kv_str(&pk, "op_reason", reason);
        api_key(&pk, "op_refs");
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
    api_key(&pk, "sig");
    msgpack_pack_bin_with_body(&pk, zero_sig, sizeof zero_sig);
    uint8_t *h = (uint8_t *) body.data + header_at + 1;
    h[0] = (uint8_t) (count >> 24), h[1] = (uint8_t) (count >> 16);
    h[2] = (uint8_t) (count >> 8), h[3] = (uint8_t) count;

    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    if (ok) {
        proto_err_t rc = proto_msg_decode(kind, body.data, body.size, &msg, &info);
        if (rc) {
            api_fail(req, rc, info.field, "%s", info.message);
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
            api_fail(req, code, "doc.to", "recipient %s: %s", to, proto_strerror(code));
            ok = false;
        }
    }
    agent_seal_t *sealed = NULL;
    if (ok && seal && !s_seal(req, &msg->u.document.doc, seal == S_SEAL_TEXT, &atts, &sealed))
        ok = false;
    if (ok && !api_ref_record(req, ref, kind, id))
        ok = false;
    if (ok) {
        proto_err_t rc = proto_doc_sign(&msg->u.document.doc, self->identity, msg->u.document.sig);
        if (!rc)
            rc = agent_outbox_add(self, msg, (const void *const *) atts.data, atts.lens, atts.n);
        if (rc) {
            api_ref_undo(req, ref);
            api_fail(req, rc, "", "could not queue the document");
            ok = false;
        } else {
            char text[PROTO_ID_TEXT_LEN];
            proto_id_format(id, text);
            proto_log_debug("event=queued doc=%s kind=%s to=%u attachments=%u", text,
                            proto_kind_name(kind), msg->u.document.doc.nto, atts.n);
        }
    }
    proto_msg_destroy(&msg);
    agent_seal_destroy(&sealed);
    s_atts_free(&atts);
    msgpack_sbuffer_destroy(&body);
    return ok;
}

bool api_doc_queue(api_req_t *req, int kind, const msgpack_object *doc,
                   const msgpack_object *attachments, const proto_id_t *refs, uint32_t nrefs,
                   const char *reason, const api_ref_t *ref, proto_id_t *id)
{
    return s_build_and_queue(req, kind, doc, attachments, refs, nrefs, reason, ref, S_NO_SEAL, id);
}

void api_cmd_submit(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd",  "doc",       "attachments", "client_ref",
                                        "seal", "seal_text", NULL };
    if (api_get(map, "edxml") || api_get(map, "edxml_bytes"))
        return api_edxml_submit(req, map); // a package instead of the map (api_edxml.c)
    if (!api_keys_known(req, map, keys))
        return;
    const msgpack_object *doc = api_get(map, "doc");
    if (!doc || doc->type != MSGPACK_OBJECT_MAP)
        return api_fail(req, doc ? PROTO_ERR_TYPE : PROTO_ERR_MISSING, "doc", "a map is required");
    const msgpack_object *seal = api_get(map, "seal"), *text = api_get(map, "seal_text");
    if (seal && seal->type != MSGPACK_OBJECT_BOOLEAN)
        return api_fail(req, PROTO_ERR_TYPE, "seal", "true or false");
    if (text && text->type != MSGPACK_OBJECT_BOOLEAN)
        return api_fail(req, PROTO_ERR_TYPE, "seal_text", "true or false");
    bool sealing = seal && seal->via.boolean, sealing_text = text && text->via.boolean;
    if (sealing_text && !sealing)
        return api_fail(req, PROTO_ERR_VALUE, "seal_text", "needs seal: true");
    proto_id_t id;
    api_ref_t ref;
    if (!api_ref_begin(req, map, &ref) ||
        !s_build_and_queue(req, PROTO_KIND_SUBMIT, doc, api_get(map, "attachments"), NULL, 0, NULL,
                           &ref,
                           sealing_text ? S_SEAL_TEXT
                           : sealing    ? S_SEAL
                                        : S_NO_SEAL,
                           &id))
        return;
    api_ok(req, 2);
    api_kv_id(&req->pk, "id", &id);
    api_kv_str(&req->pk, "state", "queued");
    api_reply_send(req, true);
}

//  A sent record's summary (msgpack map after the fixed header).
static bool s_sent_summary(agent_t *self, const proto_id_t *id, msgpack_unpacked *out,
                           uint8_t *kind)
{
    agent_sent_t sent;
    if (agent_store_sent_get(self->kv, id, &sent) != PROTO_OK)
        return false;
    *kind = sent.kind;
    size_t off = 0;
    msgpack_unpacked_init(out);
    if (msgpack_unpack_next(out, sent.summary, sent.summary_len, &off) == MSGPACK_UNPACK_SUCCESS &&
        out->data.type == MSGPACK_OBJECT_MAP)
        return true;
    msgpack_unpacked_destroy(out);
    return false;
}

void api_cmd_operation(api_req_t *req, const msgpack_object *map, int kind)
{
    static const char *const keys[] = { "cmd",         "refs",       "reason", "doc",
                                        "attachments", "client_ref", NULL };
    agent_t *self = req->self;
    api_ref_t ref;
    if (!api_keys_known(req, map, keys) || !api_ref_begin(req, map, &ref))
        return;
    char reason[8192];
    if (!api_text(req, map, "reason", reason, sizeof reason, true) ||
        !s_nfc(req, "reason", reason, sizeof reason))
        return;
    const msgpack_object *refs = api_get(map, "refs"), *doc = api_get(map, "doc");
    if (!refs || refs->type != MSGPACK_OBJECT_ARRAY || refs->via.array.size == 0 ||
        refs->via.array.size > PROTO_MAX_REFS)
        return api_fail(req, refs ? PROTO_ERR_VALUE : PROTO_ERR_MISSING, "refs",
                        "1 to %d document ids", PROTO_MAX_REFS);
    if (kind != PROTO_KIND_REVOKE && (!doc || doc->type != MSGPACK_OBJECT_MAP))
        return api_fail(req, PROTO_ERR_MISSING, "doc", "%s needs the new document",
                        kind == PROTO_KIND_UPDATE ? "update" : "replace");
    proto_id_t ids[PROTO_MAX_REFS];
    uint32_t n = refs->via.array.size;
    if (proto_store_read_begin(self->kv) != PROTO_OK && !proto_store_writing(self->kv))
        return api_fail(req, PROTO_ERR_STORE, "", "cannot read the store");
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
            api_fail(req, PROTO_ERR_VALUE, "refs", "'%s' is not a document id", text);
            ok = false;
        } else if (!s_sent_summary(self, &ids[i], &summary, &sent_kind)) {
            //  A document this agency received is known, but not its to act on.
            agent_inbox_t inbox;
            proto_err_t got = agent_store_inbox_get(self->kv, &ids[i], &inbox);
            bool received = got == PROTO_OK || got == PROTO_ERR_STORE_DAMAGED;
            api_fail(req, received ? PROTO_ERR_NOT_AUTHORIZED : PROTO_ERR_UNKNOWN_DOC, "refs",
                     "%s is not a document this agency sent", text);
            ok = false;
        } else {
            if (sent_kind == PROTO_KIND_STATUS) {
                api_fail(req, PROTO_ERR_NOT_AUTHORIZED, "refs", "%s is a notice, not a document",
                         text);
                ok = false;
            } else if (i == 0 && kind == PROTO_KIND_REVOKE && !doc) {
                const msgpack_object *subject = api_get(&summary.data, "subject");
                const msgpack_object *type = api_get(&summary.data, "type");
                const msgpack_object *to = api_get(&summary.data, "to");
                char line[700];
                snprintf(line, sizeof line, "Thu hồi: %.*s",
                         subject && subject->type == MSGPACK_OBJECT_STR
                             ? (int) (subject->via.str.size > 480 ? 480 : subject->via.str.size)
                             : 0,
                         subject && subject->type == MSGPACK_OBJECT_STR ? subject->via.str.ptr
                                                                        : "");
                msgpack_pack_map(&mpk, 3);
                api_kv_str(&mpk, "subject", line);
                api_key(&mpk, "type");
                if (type)
                    msgpack_pack_object(&mpk, *type);
                else
                    api_str(&mpk, "Công văn");
                api_key(&mpk, "to");
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
    ok = ok && s_build_and_queue(req, kind, doc, api_get(map, "attachments"), ids, n, reason, &ref,
                                 S_NO_SEAL, &id);
    msgpack_unpacked_destroy(&built);
    msgpack_sbuffer_destroy(&made);
    if (!ok)
        return;
    api_ok(req, 2);
    api_kv_id(&req->pk, "id", &id);
    api_kv_str(&req->pk, "state", "queued");
    api_reply_send(req, true);
}

void api_cmd_ack(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "id", NULL };
    agent_t *self = req->self;
    proto_id_t id;
    if (!api_keys_known(req, map, keys) || !api_id_field(req, map, "id", &id))
        return;
    agent_inbox_t rec;
    if (proto_store_begin(self->kv) != PROTO_OK)
        return api_fail(req, PROTO_ERR_STORE, "", "cannot write the store");
    if (agent_store_inbox_get(self->kv, &id, &rec) != PROTO_OK)
        return api_fail(req, PROTO_ERR_UNKNOWN_DOC, "id", "no such document in the inbox");
    if (!rec.acked) {
        rec.acked = true;
        proto_err_t rc = agent_store_inbox_put(self->kv, &id, &rec);
        if (rc)
            return api_fail(req, rc, "", "cannot mark it");
    }
    api_ok(req, 0);
    api_reply_send(req, true);
}

// ---------------------------------------------------------------------------
//  Status notices

static bool s_queue_notice(api_req_t *req, const proto_id_t *doc, const char *to, uint8_t code,
                           const char *note, const msgpack_object *staff, const api_ref_t *ref,
                           proto_id_t *notice_id)
{
    agent_t *self = req->self;
    char name[128] = "", department[256] = "", phone[128] = "", email[128] = "";
    if (staff && staff->type == MSGPACK_OBJECT_MAP) {
        static const char *const keys[] = { "name", "department", "phone", "email", NULL };
        if (!api_keys_known(req, staff, keys) ||
            !api_text(req, staff, "name", name, sizeof name, false) ||
            !api_text(req, staff, "department", department, sizeof department, false) ||
            !api_text(req, staff, "phone", phone, sizeof phone, false) ||
            !api_text(req, staff, "email", email, sizeof email, false) ||
            !s_nfc(req, "staff.name", name, sizeof name) ||
            !s_nfc(req, "staff.department", department, sizeof department) ||
            !s_nfc(req, "staff.phone", phone, sizeof phone) ||
            !s_nfc(req, "staff.email", email, sizeof email))
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
            api_fail(req, rc, info.field, "%s", info.message);
            return false;
        }
    }
    proto_buf_free(&check);
    if (!rc && !api_ref_record(req, ref, PROTO_KIND_STATUS, &n->id))
        return false;
    if (!rc)
        rc = agent_outbox_add(self, &msg, NULL, NULL, 0);
    if (rc) {
        api_ref_undo(req, ref);
        api_fail(req, rc, "", "could not queue the notice");
        return false;
    }
    *notice_id = n->id;
    return true;
}

void api_cmd_status(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "id", "code", "note", "staff", "client_ref", NULL };
    agent_t *self = req->self;
    proto_id_t id, notice;
    if (api_get(map, "edxml") || api_get(map, "edxml_bytes"))
        return api_edxml_status(req, map); // an edXML Status message (api_edxml.c)
    uint64_t code = 0;
    char note[8192];
    api_ref_t ref;
    if (!api_keys_known(req, map, keys) || !api_ref_begin(req, map, &ref) ||
        !api_id_field(req, map, "id", &id) || !api_uint(req, map, "code", &code, 1, 16) ||
        !api_text(req, map, "note", note, sizeof note, false) ||
        !s_nfc(req, "note", note, sizeof note))
        return;
    if (!((code >= 1 && code <= 6) || code == 15 || code == 16))
        return api_fail(req, code ? PROTO_ERR_VALUE : PROTO_ERR_MISSING, "code",
                        "01-06, or 15/16 to answer a recall");
    if (proto_store_begin(self->kv) != PROTO_OK)
        return api_fail(req, PROTO_ERR_STORE, "", "cannot write the store");
    uint64_t seq, received;
    bool acked;
    msgpack_unpacked summary;
    if (!api_inbox_record(self, &id, &seq, &received, &acked, &summary))
        return api_fail(req, PROTO_ERR_UNKNOWN_DOC, "id", "no such document in the inbox");
    const msgpack_object *from = api_get(&summary.data, "from");
    char sender[PROTO_AGENCY_CODE_LEN + 1] = "";
    if (from && from->type == MSGPACK_OBJECT_STR && from->via.str.size == PROTO_AGENCY_CODE_LEN)
        memcpy(sender, from->via.str.ptr, PROTO_AGENCY_CODE_LEN);
    msgpack_unpacked_destroy(&summary);
    char why[160];
    proto_err_t allowed =
        agent_ops_status_check(self, &id, sender, (uint8_t) code, why, sizeof why);
    if (allowed)
        return api_fail(req, allowed, allowed == PROTO_ERR_REVOKED ? "id" : "code", "%s", why);
    if (!s_queue_notice(req, &id, sender, (uint8_t) code, note, api_get(map, "staff"), &ref,
                        &notice))
        return;
    if ((code == 15 || code == 16) && agent_ops_answer_record(self, &id, (uint8_t) code))
        return api_fail(req, PROTO_ERR_STORE, "", "could not record the answer");
    api_ok(req, 2);
    api_kv_id(&req->pk, "notice", &notice);
    api_kv_str(&req->pk, "state", "queued");
    api_reply_send(req, true);
}

void api_cmd_recall(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "id", "to", "note", NULL };
    agent_t *self = req->self;
    proto_id_t id;
    char note[8192];
    if (!api_keys_known(req, map, keys) || !api_id_field(req, map, "id", &id) ||
        !api_text(req, map, "note", note, sizeof note, false) ||
        !s_nfc(req, "note", note, sizeof note))
        return;
    if (proto_store_begin(self->kv) != PROTO_OK)
        return api_fail(req, PROTO_ERR_STORE, "", "cannot write the store");
    msgpack_unpacked summary;
    uint8_t kind;
    bool found = s_sent_summary(self, &id, &summary, &kind);
    if (found && kind == PROTO_KIND_STATUS)
        msgpack_unpacked_destroy(&summary); // a notice: nothing to recall
    if (!found || kind == PROTO_KIND_STATUS)
        return api_fail(req, PROTO_ERR_UNKNOWN_DOC, "id", "not a document this agency sent");
    const msgpack_object *all = api_get(&summary.data, "to"), *want = api_get(map, "to");
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
        return api_fail(req, PROTO_ERR_VALUE, "to", "recipients of this document only");
    proto_id_t notices[PROTO_MAX_RECIPIENTS];
    for (uint32_t i = 0; i < n; i++)
        if (!s_queue_notice(req, &id, to[i], 13, note, NULL, NULL, &notices[i]))
            return;
    api_ok(req, 2);
    api_key(&req->pk, "notices");
    msgpack_pack_array(&req->pk, n);
    for (uint32_t i = 0; i < n; i++) {
        char text[PROTO_ID_TEXT_LEN];
        proto_id_format(&notices[i], text);
        api_str(&req->pk, text);
    }
    api_kv_str(&req->pk, "state", "queued");
    api_reply_send(req, true);
}
