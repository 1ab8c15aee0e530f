/*  agent/api_evidence.c - the `evidence` command: one evidence bundle
    (proto/evidence.h, PROTOCOL.md section 17) about a document this agency
    sent or received, written to a file in an allowed directory.

    The parts come from the store as they travelled (evidence_keep.h): at
    the sender the body it signed and its attachment frames (T_FRAMES 's',
    or the outbox entry while the broker has not answered), at a recipient
    the DELIVER frames (T_FRAMES 'i'); every receipt kept for the document
    (T_RECEIPTS: ACCEPTED, REJECTED, EXPIRED, the recipients' DELIVERED, or
    the recipient's own); every STATUS body about it (T_STBODY); and the
    directory snapshot the broker signed that the agent holds, whose
    current and retired keys verify what was signed before a rotation.

    Nothing is re-signed: the bundle is checked offline by truc-verify. The
    reply says what the bundle lacks, so that a clerk is not surprised by
    an unproven verdict.
*/
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "proto/evidence.h"
#include "proto/log.h"

//  Receipts and notices gathered from the store: pointers into the map,
//  valid while the read transaction lasts.
typedef struct {
    uint8_t *kinds;
    proto_evidence_bytes_t *bodies;
    uint32_t n, cap;
    uint32_t accepted, delivered, other; // receipts by kind
    bool over;                           // more than PROTO_EVIDENCE_MAX_PARTS
} s_parts_t;

static bool s_parts_add(s_parts_t *p, uint8_t kind, const void *body, size_t len)
{
    if (p->n == PROTO_EVIDENCE_MAX_PARTS) {
        p->over = true;
        return false;
    }
    if (p->n == p->cap) {
        uint32_t cap = p->cap ? p->cap * 2 : 16;
        uint8_t *kinds = realloc(p->kinds, cap);
        if (!kinds)
            return false;
        p->kinds = kinds;
        proto_evidence_bytes_t *bodies = realloc(p->bodies, cap * sizeof *bodies);
        if (!bodies)
            return false;
        p->bodies = bodies;
        p->cap = cap;
    }
    p->kinds[p->n] = kind;
    p->bodies[p->n++] = (proto_evidence_bytes_t){ body, len };
    return true;
}

static void s_parts_free(s_parts_t *p)
{
    free(p->kinds);
    free(p->bodies);
}

static bool s_receipt_one(void *arg, uint8_t kind, const void *body, size_t len)
{
    s_parts_t *p = arg;
    if (!body || !len)
        return true; // a record from before receipts carried their kind
    if (kind == PROTO_KIND_ACCEPTED)
        p->accepted++;
    else if (kind == PROTO_KIND_DELIVERED)
        p->delivered++;
    else
        p->other++;
    return s_parts_add(p, kind, body, len);
}

static bool s_status_one(void *arg, const proto_id_t *notice, const void *body, size_t len)
{
    (void) notice;
    return s_parts_add(arg, PROTO_KIND_STATUS, body, len);
}

//  The document's frames as they travelled, and its kind. On failure the
//  reply is sent and false returned.
static bool s_doc_frames(api_req_t *req, const proto_id_t *id, uint8_t *kind, const void **frames,
                         size_t *lens, size_t *count, bool *sender, uint8_t *state)
{
    proto_store_t *kv = req->self->kv;
    agent_sent_t sent;
    agent_inbox_t inbox;
    *sender = agent_store_sent_get(kv, id, &sent) == PROTO_OK;
    if (*sender && sent.kind == PROTO_KIND_STATUS) {
        api_fail(req, PROTO_ERR_UNKNOWN_DOC, "id",
                 "this is a status notice, not a document: ask for the document it is about");
        return false;
    }
    proto_err_t rc;
    if (*sender) {
        *kind = sent.kind;
        *state = sent.state;
        rc = agent_store_frames_get(kv, 's', id, frames, lens, AGENT_MAX_FRAMES, count);
        if (rc == PROTO_ERR_NOT_FOUND && sent.state == SENT_QUEUED) {
            uint8_t out_kind;
            rc = agent_store_out_get(kv, id, &out_kind, frames, lens, AGENT_MAX_FRAMES, count);
        }
        if (rc == PROTO_ERR_NOT_FOUND) {
            api_fail(req, PROTO_ERR_NOT_FOUND, "id",
                     "the signed body of this document was not kept: the broker answered it "
                     "before this agent kept evidence, so no bundle can be written");
            return false;
        }
    } else if (agent_store_inbox_get(kv, id, &inbox) == PROTO_OK) {
        *kind = PROTO_KIND_DELIVER;
        rc = agent_store_frames_get(kv, 'i', id, frames, lens, AGENT_MAX_FRAMES, count);
    } else {
        api_fail(req, PROTO_ERR_UNKNOWN_DOC, "id",
                 "no document with this id was sent or received by this agency");
        return false;
    }
    if (rc) {
        api_fail(req, PROTO_ERR_STORE, "id", "the stored document is unreadable: %s",
                 proto_errname(rc));
        return false;
    }
    return true;
}

//  The reply's list of what the bundle cannot prove by itself. state: the
//  sent record's (SENT_*) at the sender; notes: notices kept as summaries,
//  whether or not their signed bodies were kept too.
static void s_pack_lacks(msgpack_packer *pk, bool sender, uint8_t state, const s_parts_t *receipts,
                         const s_parts_t *notices, size_t notes)
{
    const char *lacks[4];
    uint32_t n = 0;
    if (!receipts->accepted)
        lacks[n++] = !sender ? "ACCEPTED: the broker sends it to the sender only; the sender's "
                               "bundle proves acceptance"
                     : state == SENT_REJECTED ? "ACCEPTED: the broker rejected the document"
                                              : "ACCEPTED: the broker has not answered yet";
    if (!sender) {
        lacks[n++] = "other recipients' DELIVERED: the sender's bundle holds them";
        if (!receipts->delivered)
            lacks[n++] = "this agency's DELIVERED: not kept (the document arrived before this "
                         "agent kept evidence, or it is not signed yet)";
    } else if (!receipts->delivered) {
        lacks[n++] = "DELIVERED: no recipient has confirmed delivery yet";
    }
    if (notes > notices->n)
        lacks[n++] = "status notices: some are kept only as summaries (sent or received before "
                     "this agent kept evidence), without the signed notice";
    api_key(pk, "lacks");
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n; i++)
        api_str(pk, lacks[i]);
}

static bool s_note_count(void *arg, const proto_id_t *notice, const void *map, size_t len)
{
    (void) notice;
    (void) map;
    (void) len;
    (*(size_t *) arg)++;
    return true;
}

//  What the reply says about a bundle besides its parts.
typedef struct {
    bool sender;   // made at the sender (else at a recipient)
    uint8_t state; // the sent record's state, at the sender
    uint32_t natt; // attachments of the document
    size_t notes;  // notices about it kept as summaries (T_NOTES)
} s_made_t;

//  Build the bundle into buf, with the counts the reply shows. On failure
//  the reply is sent and false returned. Runs in a read transaction.
static bool s_build(api_req_t *req, const proto_id_t *id, bool content, proto_buf_t *buf,
                    s_parts_t *receipts, s_parts_t *notices, s_made_t *made)
{
    agent_t *self = req->self;
    const void *frames[AGENT_MAX_FRAMES];
    size_t lens[AGENT_MAX_FRAMES], count = 0;
    uint8_t kind = 0;
    if (!s_doc_frames(req, id, &kind, frames, lens, &count, &made->sender, &made->state))
        return false;
    const void *dir = NULL;
    size_t dir_len = 0;
    if (agent_store_directory_get(self->kv, &dir, &dir_len) != PROTO_OK) {
        api_fail(req, PROTO_ERR_NOT_FOUND, "",
                 "the agent holds no directory signed by the broker: connect it once first");
        return false;
    }
    agent_store_receipt_each(self->kv, id, s_receipt_one, receipts);
    agent_store_stbody_each(self->kv, id, s_status_one, notices);
    agent_store_note_each(self->kv, id, s_note_count, &made->notes);
    if (receipts->over || notices->over) {
        api_fail(req, PROTO_ERR_LIMIT, "id", "more than %d receipts or notices about the document",
                 PROTO_EVIDENCE_MAX_PARTS);
        return false;
    }
    proto_evidence_bytes_t att[PROTO_MAX_ATTACHMENTS];
    made->natt = (uint32_t) (count - 1);
    for (size_t i = 1; i < count && i <= PROTO_MAX_ATTACHMENTS; i++)
        att[i - 1] = (proto_evidence_bytes_t){ frames[i], lens[i] };
    proto_evidence_parts_t parts = {
        .made_by = self->agency,
        .made = agent_now(),
        .doc_kind = kind,
        .doc = { frames[0], lens[0] },
        .att = content ? att : NULL,
        .natt = content ? made->natt : 0,
        .receipt_kinds = receipts->kinds,
        .receipts = receipts->bodies,
        .nreceipts = receipts->n,
        .status = notices->bodies,
        .nstatus = notices->n,
        .directory = { dir, dir_len },
        .broker_key = self->broker.sign_pk,
    };
    proto_err_t rc = proto_evidence_write(&parts, buf);
    if (rc) {
        api_fail(req, rc, "", "cannot write the bundle: %s", proto_strerror(rc));
        return false;
    }
    return true;
}

void api_cmd_evidence(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "id", "out", "content", NULL };
    agent_t *self = req->self;
    proto_id_t id;
    char out[PATH_MAX];
    if (!api_keys_known(req, map, keys) || !api_id_field(req, map, "id", &id) ||
        !api_text(req, map, "out", out, sizeof out, true))
        return;
    const msgpack_object *c = api_get(map, "content");
    if (c && c->type != MSGPACK_OBJECT_BOOLEAN)
        return api_fail(req, PROTO_ERR_TYPE, "content", "must be true or false");
    bool content = !c || c->via.boolean;
    if (out[0] != '/')
        return api_fail(req, PROTO_ERR_VALUE, "out", "must be an absolute path");
    bool reading = proto_store_read_begin(self->kv) == PROTO_OK;
    if (!reading && !proto_store_writing(self->kv))
        return api_fail(req, PROTO_ERR_STORE, "", "cannot read the store");
    proto_buf_t buf;
    proto_buf_init(&buf);
    s_parts_t receipts = { 0 }, notices = { 0 };
    s_made_t made = { 0 };
    bool built = s_build(req, &id, content, &buf, &receipts, &notices, &made);
    if (reading)
        proto_store_read_end(self->kv);
    char why[PATH_MAX + 128] = "";
    proto_err_t wrc =
        built ? agent_files_write_path(self->files, out, buf.data, buf.len, why, sizeof why) : 0;
    if (built && wrc) {
        if (wrc == PROTO_ERR_NOT_AUTHORIZED)
            api_denied_path(req, "out", out);
        api_fail(req, wrc, "out", "%s", why);
    } else if (built) {
        api_ok(req, 9);
        api_kv_id(&req->pk, "id", &id);
        api_kv_str(&req->pk, "out", out);
        api_kv_u64(&req->pk, "bytes", buf.len);
        api_kv_str(&req->pk, "role", made.sender ? "sender" : "recipient");
        api_kv_u64(&req->pk, "attachments", made.natt);
        api_kv_bool(&req->pk, "content", content);
        api_kv_u64(&req->pk, "receipts", receipts.n);
        api_kv_u64(&req->pk, "notices", notices.n);
        s_pack_lacks(&req->pk, made.sender, made.state, &receipts, &notices, made.notes);
        api_reply_send(req, false);
    }
    proto_buf_free(&buf);
    s_parts_free(&receipts);
    s_parts_free(&notices);
}
