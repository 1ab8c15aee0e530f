/*  agent/api_read.c - the local API's commands that show what the agent
    holds: inbox, fetch, sent, quarantine, health, directory. Only fetch
    changes anything outside the store: it writes the attachments into an
    allowed directory.
*/
#include <limits.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_internal.h"
#include "api_limits.h"
#include "api_ref.h"
#include "inbox_ops.h"
#include "seal.h"
#include "tlog.h"
#include "proto/agency.h"
#include "proto/sign.h"

// ---------------------------------------------------------------------------
//  Inbox

bool api_inbox_record(agent_t *self, const proto_id_t *id, uint64_t *seq, uint64_t *received,
                      bool *acked, msgpack_unpacked *summary)
{
    agent_inbox_t rec;
    if (agent_store_inbox_get(self->kv, id, &rec) != PROTO_OK)
        return false;
    *seq = rec.seq;
    *received = rec.received;
    *acked = rec.acked;
    size_t off = 0;
    msgpack_unpacked_init(summary);
    if (msgpack_unpack_next(summary, rec.summary, rec.summary_len, &off) !=
        MSGPACK_UNPACK_SUCCESS) {
        msgpack_unpacked_destroy(summary);
        return false;
    }
    return true;
}

//  A short str object as C text in buf (agency codes), "" otherwise.
static const char *s_text(const msgpack_object *o, char buf[PROTO_AGENCY_CODE_LEN + 1])
{
    buf[0] = '\0';
    if (o && o->type == MSGPACK_OBJECT_STR && o->via.str.size <= PROTO_AGENCY_CODE_LEN) {
        memcpy(buf, o->via.str.ptr, o->via.str.size);
        buf[o->via.str.size] = '\0';
    }
    return buf;
}

void api_inbox_pack(agent_t *self, msgpack_packer *pk, const proto_id_t *id, uint64_t seq,
                    uint64_t received, bool acked, const msgpack_object *summary)
{
    char sender[PROTO_AGENCY_CODE_LEN + 1];
    uint32_t n = summary->type == MSGPACK_OBJECT_MAP ? summary->via.map.size : 0;
    agent_ops_t ops; // inbox_ops.h: revoked, updated or replaced by a later document
    uint32_t marks = agent_ops_get(self, id, s_text(api_get(summary, "from"), sender), &ops);
    msgpack_pack_map(pk, 5 + n + marks);
    agent_ops_pack(pk, &ops);
    api_kv_id(pk, "id", id);
    api_kv_u64(pk, "seq", seq);
    api_kv_u64(pk, "received", received);
    api_kv_bool(pk, "acked", acked);
    api_kv_str(pk, "state", "verified");
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_object(pk, summary->via.map.ptr[i].key);
        msgpack_pack_object(pk, summary->via.map.ptr[i].val);
    }
}

void api_cmd_inbox(api_req_t *req, const msgpack_object *map)
{
    api_list_inbox(req, map);
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
    n += (d->copies ? 1 : 0) + (d->appendixes ? 1 : 0) + (d->ntrace ? 1 : 0);
    n += d->signer.name || d->signer.position || d->signer.competence;
    n += d->op_reason ? 1 : 0;
    n += d->nop_refs ? 1 : 0;
    n += d->nresponse_for ? 1 : 0;
    n += d->next ? 1 : 0;
    n += d->nplaces ? 1 : 0;
    msgpack_pack_map(pk, n);
    api_kv_id(pk, "id", &d->id);
    api_kv_str(pk, "from", d->from);
    api_key(pk, "to");
    msgpack_pack_array(pk, d->nto);
    for (uint32_t i = 0; i < d->nto; i++)
        api_str(pk, d->to[i]);
    api_kv_u64(pk, "created", d->created);
    api_kv_str(pk, "type", d->doc_type);
    api_kv_str(pk, "subject", d->subject);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (texts[i][1])
            api_kv_str(pk, texts[i][0], texts[i][1]);
    api_kv_u64(pk, "urgency", d->urgency);
    api_kv_u64(pk, "secrecy", d->secrecy);
    api_kv_u64(pk, "steering", d->steering);
    api_kv_u64(pk, "op", d->op);
    if (d->pages)
        api_kv_u64(pk, "pages", d->pages);
    if (d->copies)
        api_kv_u64(pk, "copies", d->copies);
    if (d->appendixes)
        api_kv_u64(pk, "appendixes", d->appendixes);
    if (d->ntrace) {
        api_key(pk, "trace");
        msgpack_pack_array(pk, d->ntrace);
        for (uint32_t i = 0; i < d->ntrace; i++) {
            msgpack_pack_map(pk, 2);
            api_kv_str(pk, "agency", d->trace[i].agency);
            api_kv_u64(pk, "time", d->trace[i].time);
        }
    }
    if (d->signer.name || d->signer.position || d->signer.competence) {
        api_key(pk, "signer");
        msgpack_pack_map(pk, 3);
        api_kv_str(pk, "name", d->signer.name);
        api_kv_str(pk, "position", d->signer.position);
        api_kv_str(pk, "competence", d->signer.competence);
    }
    if (d->op_reason)
        api_kv_str(pk, "op_reason", d->op_reason);
    if (d->nop_refs) {
        api_key(pk, "op_refs");
        msgpack_pack_array(pk, d->nop_refs);
        for (uint32_t i = 0; i < d->nop_refs; i++) {
            char text[PROTO_ID_TEXT_LEN];
            proto_id_format(&d->op_refs[i], text);
            api_str(pk, text);
        }
    }
    if (d->nresponse_for) {
        api_key(pk, "response_for");
        msgpack_pack_array(pk, d->nresponse_for);
        for (uint32_t i = 0; i < d->nresponse_for; i++) {
            const proto_ref_t *r = &d->response_for[i];
            char text[PROTO_ID_TEXT_LEN] = "";
            if (r->has_doc)
                proto_id_format(&r->doc, text);
            msgpack_pack_map(pk, 4);
            api_kv_str(pk, "agency", r->agency);
            api_kv_str(pk, "code", r->code);
            api_kv_str(pk, "date", r->date);
            api_kv_str(pk, "doc", r->has_doc ? text : NULL);
        }
    }
    if (d->next) {
        api_key(pk, "ext");
        msgpack_pack_map(pk, d->next);
        for (uint32_t i = 0; i < d->next; i++)
            api_kv_str(pk, d->ext[i].key, d->ext[i].value);
    }
    if (d->nplaces) {
        api_key(pk, "places");
        msgpack_pack_array(pk, d->nplaces);
        for (uint32_t i = 0; i < d->nplaces; i++)
            api_str(pk, d->places[i]);
    }
}

typedef struct {
    msgpack_packer *pk;
    uint32_t count;
    bool counting;
} s_notes_t;

static bool s_note_one(void *arg, const proto_id_t *id, const void *value, size_t vlen)
{
    s_notes_t *notes = arg;
    (void) id;
    notes->count++;
    if (!notes->counting)
        msgpack_sbuffer_write(((msgpack_packer *) notes->pk)->data, value, vlen);
    return true;
}

//  What api_cmd_fetch works with while it writes the attachments.
typedef struct {
    api_req_t *req;
    const void *const *frames; // the DELIVER frames: body, then one per attachment
    const size_t *lens;
    size_t nframes;
    const char *dir;      // "" = the bytes go inline in the reply
    const char *folder;   // dir/ID
    int folder_fd;        // open on folder when dir is set
    proto_err_t src, wrc; // opening a sealed attachment; writing a file
    char *why;            // wrc's detail
    size_t why_len;
} s_fetch_t;

//  The attachments array of the reply: each with its path (written into
//  f->folder) or its bytes; sealed ones opened first (seal.h), so the DMS
//  gets the plaintext and size and hash describe it. The first failure is
//  kept in f->src or f->wrc; the array is complete either way.
static void s_fetch_attachments(s_fetch_t *f, const proto_doc_t *d)
{
    api_req_t *req = f->req;
    agent_t *self = req->self;
    api_key(&req->pk, "attachments");
    msgpack_pack_array(&req->pk, d->natt);
    proto_buf_t plain; // a sealed attachment opened (seal.h), one at a time
    proto_buf_init(&plain);
    for (uint32_t i = 0; i < d->natt && i + 1 < f->nframes; i++) {
        const proto_attachment_t *a = &d->att[i];
        char hash[2 * PROTO_HASH_LEN + 1], path[PATH_MAX + 256];
        const void *bytes = f->frames[i + 1];
        size_t len = f->lens[i + 1];
        if (a->enc && !f->src &&
            (f->src = agent_seal_open(self, a, bytes, len, &plain)) == PROTO_OK)
            bytes = plain.data, len = plain.len;
        proto_hex_encode(a->enc ? a->enc->plain_hash : a->hash, PROTO_HASH_LEN, hash);
        msgpack_pack_map(&req->pk, a->enc ? 6 : 5);
        api_kv_str(&req->pk, "name", a->name);
        api_kv_str(&req->pk, "type", a->type);
        api_kv_u64(&req->pk, "size", a->enc ? (uint64_t) len : a->size);
        api_kv_str(&req->pk, "hash", hash);
        if (a->enc)
            api_kv_bool(&req->pk, "sealed", true);
        if (f->dir[0]) {
            snprintf(path, sizeof path, "%s/%s", f->folder, a->name);
            if (!f->wrc && !f->src)
                f->wrc = agent_files_write(f->folder_fd, a->name, bytes, len, f->why, f->why_len);
            api_kv_str(&req->pk, "path", path);
        } else {
            api_key(&req->pk, "data");
            msgpack_pack_bin_with_body(&req->pk, bytes, len);
        }
        if (plain.data)
            sodium_memzero(plain.data, plain.cap);
    }
    proto_buf_free(&plain);
}

//  The brokers a document that crossed a link passed through, its
//  sender's broker first, this agency's last (PROTOCOL.md 5.5).
static void s_pack_route(msgpack_packer *pk, const proto_document_t *delivered)
{
    api_key(pk, "route");
    msgpack_pack_array(pk, delivered->nroute);
    for (uint32_t i = 0; i < delivered->nroute; i++) {
        msgpack_pack_map(pk, 2);
        api_kv_str(pk, "broker", delivered->route[i].broker);
        api_kv_u64(pk, "time", delivered->route[i].time);
    }
}

void api_cmd_fetch(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "id", "dir", NULL };
    agent_t *self = req->self;
    proto_id_t id;
    char dir[PATH_MAX - 300];
    if (api_get(map, "format"))
        return api_edxml_fetch(req, map); // the document as an edXML package (api_edxml.c)
    if (!api_keys_known(req, map, keys) || !api_id_field(req, map, "id", &id) ||
        !api_text(req, map, "dir", dir, sizeof dir, false))
        return;
    if (dir[0] && dir[0] != '/')
        return api_fail(req, PROTO_ERR_VALUE, "dir", "must be an absolute path");
    if (proto_store_read_begin(self->kv) != PROTO_OK && !proto_store_writing(self->kv))
        return api_fail(req, PROTO_ERR_STORE, "", "cannot read the store");
    uint64_t seq, received;
    bool acked;
    msgpack_unpacked summary;
    const void *frames[AGENT_MAX_FRAMES];
    size_t lens[AGENT_MAX_FRAMES], nframes = 0;
    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    if (!api_inbox_record(self, &id, &seq, &received, &acked, &summary)) {
        if (!proto_store_writing(self->kv))
            proto_store_read_end(self->kv);
        return api_fail(req, PROTO_ERR_UNKNOWN_DOC, "id", "no such document in the inbox");
    }
    msgpack_unpacked_destroy(&summary);
    if (agent_store_frames_get(self->kv, 'i', &id, frames, lens, AGENT_MAX_FRAMES, &nframes) !=
            PROTO_OK ||
        proto_msg_decode(PROTO_KIND_DELIVER, frames[0], lens[0], &msg, &info) != PROTO_OK) {
        if (!proto_store_writing(self->kv))
            proto_store_read_end(self->kv);
        return api_fail(req, PROTO_ERR_STORE, "", "the stored document is unreadable");
    }
    const proto_doc_t *d = &msg->u.document.doc;
    char idtext[PROTO_ID_TEXT_LEN], folder[PATH_MAX], why[PATH_MAX + 128] = "";
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
            api_denied_path(req, "dir", dir);
        return api_fail(req, wrc, "dir", "%s", why);
    }
    //  A sealed subject and content (seal.h) replace the placeholder, and
    //  their attachment is not one the DMS sees.
    agent_seal_text_t text;
    proto_doc_t shown = *d;
    proto_err_t src = nframes > d->natt
                          ? agent_seal_text_open(self, d, frames + 1, lens + 1, &text)
                          : PROTO_ERR_NOT_FOUND; // frames missing: the loop below stops early
    if (src == PROTO_ERR_NOT_FOUND)
        memset(&text, 0, sizeof text);
    if (src == PROTO_OK) {
        shown.subject = text.subject;
        shown.content = text.content;
        shown.natt--;
    } else if (src == PROTO_ERR_NOT_FOUND) {
        src = PROTO_OK;
    }
    bool sealed = false;
    for (uint32_t i = 0; i < d->natt; i++)
        sealed |= d->att[i].enc != NULL;
    agent_ops_t ops;
    const proto_document_t *delivered = &msg->u.document;
    api_ok(req, 5 + (sealed ? 1 : 0) + (delivered->nroute ? 1 : 0) +
                    agent_ops_get(self, &id, d->from, &ops));
    agent_ops_pack(&req->pk, &ops);
    if (sealed)
        api_kv_str(&req->pk, "sealed", shown.natt < d->natt ? "text" : "attachments");
    if (delivered->nroute)
        s_pack_route(&req->pk, delivered);
    api_key(&req->pk, "document");
    s_pack_doc(&req->pk, &shown);
    d = &shown;
    s_fetch_t f = { .req = req,
                    .frames = frames,
                    .lens = lens,
                    .nframes = nframes,
                    .dir = dir,
                    .folder = folder,
                    .folder_fd = folder_fd,
                    .src = src,
                    .wrc = wrc,
                    .why = why,
                    .why_len = sizeof why };
    s_fetch_attachments(&f, d);
    agent_seal_text_free(&text); // after the reply is packed: shown pointed into it
    src = f.src;
    wrc = f.wrc;
    api_kv_u64(&req->pk, "received", received);
    api_kv_bool(&req->pk, "acked", acked);
    api_key(&req->pk, "notices");
    s_notes_t notes = { &req->pk, 0, true };
    agent_store_note_each(self->kv, &id, s_note_one, &notes);
    msgpack_pack_array(&req->pk, notes.count);
    notes.counting = false;
    agent_store_note_each(self->kv, &id, s_note_one, &notes);
    proto_msg_destroy(&msg);
    if (folder_fd >= 0)
        close(folder_fd);
    if (!proto_store_writing(self->kv))
        proto_store_read_end(self->kv);
    if (src)
        return api_fail(req, src == PROTO_ERR_NOMEM ? src : PROTO_ERR_HASH_MISMATCH, "id",
                        "a sealed attachment of %s does not open with this agency's key", idtext);
    if (wrc == PROTO_ERR_NOT_AUTHORIZED)
        api_denied_path(req, "dir", folder);
    if (wrc)
        return api_fail(req, wrc, "dir", "cannot write the attachments into %s: %s", folder, why);
    api_reply_send(req, false);
}

// ---------------------------------------------------------------------------
//  Sent documents

static const char *s_sent_state(uint8_t state)
{
    return state == SENT_ACCEPTED ? "accepted" : state == SENT_REJECTED ? "rejected" : "queued";
}

static const char *s_rcpt_state(uint8_t state)
{
    static const char *names[] = { "waiting", "delivered", "refused", "expired", "returned" };
    _Static_assert(sizeof names / sizeof names[0] == AGENT_RCPT_STATES, "one name per state");
    return state < AGENT_RCPT_STATES ? names[state] : "unknown";
}

typedef struct {
    api_req_t *req;
    uint32_t count;
    bool counting;
} s_list_t;

static bool s_rcpt_one(void *arg, const char *agency, const agent_rcpt_t *rcpt)
{
    s_list_t *l = arg;
    l->count++;
    if (l->counting)
        return true;
    msgpack_packer *pk = &l->req->pk;
    msgpack_pack_map(pk, 4);
    api_kv_str(pk, "agency", agency);
    api_kv_str(pk, "state", s_rcpt_state(rcpt->state));
    api_kv_u64(pk, "time", rcpt->time);
    api_kv_u64(pk, "code", rcpt->code);
    return true;
}

static bool s_receipt_one(void *arg, uint8_t kind, const void *body, size_t len)
{
    s_list_t *l = arg;
    l->count++;
    if (l->counting || !body)
        return true;
    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    msgpack_packer *pk = &l->req->pk;
    if (proto_msg_decode(kind, body, len, &msg, &info) != PROTO_OK) {
        msgpack_pack_map(pk, 1);
        api_kv_str(pk, "kind", "unreadable");
        return true;
    }
    const proto_receipts_t *r = &msg->u.receipts;
    const proto_leaf_t *leaf = r->nitems ? &r->items[0].leaf : NULL;
    msgpack_pack_map(pk, 7);
    api_kv_str(pk, "kind", proto_kind_name(msg->kind));
    api_kv_u64(pk, "event", leaf ? leaf->event : 0);
    api_kv_str(pk, "signer", r->head.signer);
    api_kv_str(pk, "agency", leaf && leaf->to ? leaf->to : NULL);
    api_kv_u64(pk, "time", leaf ? leaf->time : r->head.time);
    api_kv_u64(pk, "code", leaf ? leaf->code : 0);
    api_kv_bool(pk, "verified", true); // stored only after it verified
    proto_msg_destroy(&msg);
    return true;
}

typedef struct {
    uint32_t n[AGENT_RCPT_STATES];
} s_states_t;

static bool s_rcpt_count(void *arg, const char *agency, const agent_rcpt_t *rcpt)
{
    s_states_t *states = arg;
    (void) agency;
    if (rcpt->state < AGENT_RCPT_STATES)
        states->n[rcpt->state]++;
    return true;
}

static void s_pack_sent(api_req_t *req, const proto_id_t *id, bool full)
{
    agent_t *self = req->self;
    agent_sent_t sent;
    if (agent_store_sent_get(self->kv, id, &sent) != PROTO_OK)
        return;
    msgpack_unpacked summary;
    msgpack_unpacked_init(&summary);
    size_t off = 0;
    bool has = msgpack_unpack_next(&summary, sent.summary, sent.summary_len, &off) ==
                   MSGPACK_UNPACK_SUCCESS &&
               summary.data.type == MSGPACK_OBJECT_MAP;
    uint32_t extra = has ? summary.data.via.map.size : 0;
    msgpack_packer *pk = &req->pk;
    msgpack_pack_map(pk, 7 + extra + (full ? 3 : 1));
    api_kv_id(pk, "id", id);
    api_kv_str(pk, "kind", proto_kind_name(sent.kind));
    api_kv_str(pk, "state", s_sent_state(sent.state));
    api_kv_u64(pk, "code", sent.code);
    api_kv_u64(pk, "created", sent.created);
    api_kv_u64(pk, "accepted", sent.accepted);
    api_kv_u64(pk, "seq", sent.seq);
    for (uint32_t i = 0; i < extra; i++) {
        msgpack_pack_object(pk, summary.data.via.map.ptr[i].key);
        msgpack_pack_object(pk, summary.data.via.map.ptr[i].val);
    }
    msgpack_unpacked_destroy(&summary);
    if (!full) {
        //  The list shows how many recipients are in each state.
        s_states_t states = { { 0 } };
        agent_store_rcpt_each(self->kv, id, s_rcpt_count, &states);
        uint32_t kinds = 0;
        for (int i = 0; i < AGENT_RCPT_STATES; i++)
            kinds += states.n[i] > 0;
        api_key(pk, "recipients");
        msgpack_pack_map(pk, kinds);
        for (uint8_t i = 0; i < AGENT_RCPT_STATES; i++)
            if (states.n[i])
                api_kv_u64(pk, s_rcpt_state(i), states.n[i]);
        return;
    }
    s_list_t l = { req, 0, true };
    api_key(pk, "recipients");
    agent_store_rcpt_each(self->kv, id, s_rcpt_one, &l);
    msgpack_pack_array(pk, l.count);
    l.counting = false;
    agent_store_rcpt_each(self->kv, id, s_rcpt_one, &l);
    api_key(pk, "notices");
    s_notes_t notes = { pk, 0, true };
    agent_store_note_each(self->kv, id, s_note_one, &notes);
    msgpack_pack_array(pk, notes.count);
    notes.counting = false;
    agent_store_note_each(self->kv, id, s_note_one, &notes);
    api_key(pk, "receipts");
    l.count = 0;
    l.counting = true;
    agent_store_receipt_each(self->kv, id, s_receipt_one, &l);
    msgpack_pack_array(pk, l.count);
    l.counting = false;
    agent_store_receipt_each(self->kv, id, s_receipt_one, &l);
}

void api_sent_pack(api_req_t *req, const proto_id_t *id, bool full)
{
    s_pack_sent(req, id, full);
}

void api_cmd_sent(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", "id", "limit", "client_ref", NULL };
    agent_t *self = req->self;
    if (!api_get(map, "id") && !api_get(map, "client_ref"))
        return api_list_sent(req, map);
    if (!api_keys_known(req, map, keys))
        return;
    if (proto_store_read_begin(self->kv) != PROTO_OK && !proto_store_writing(self->kv))
        return api_fail(req, PROTO_ERR_STORE, "", "cannot read the store");
    proto_id_t id;
    agent_sent_t sent;
    //  api_ref.h: by the DMS's own reference, as well as by id.
    if (api_get(map, "id") ? !api_id_field(req, map, "id", &id) : !api_ref_find(req, map, &id))
        goto done;
    if (agent_store_sent_get(self->kv, &id, &sent) != PROTO_OK) {
        api_fail(req, PROTO_ERR_UNKNOWN_DOC, "id", "not a document this agency sent");
        goto done;
    }
    api_ok(req, 1);
    api_key(&req->pk, "document");
    s_pack_sent(req, &id, true);
    api_reply_send(req, false);
done:
    if (!proto_store_writing(self->kv))
        proto_store_read_end(self->kv);
}

static bool s_quar_one(void *arg, const proto_id_t *id, const void *value, size_t vlen)
{
    s_list_t *l = arg;
    l->count++;
    if (l->counting)
        return true;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    bool ok = msgpack_unpack_next(&u, value, vlen, &off) == MSGPACK_UNPACK_SUCCESS &&
              u.data.type == MSGPACK_OBJECT_MAP;
    msgpack_packer *pk = &l->req->pk;
    uint32_t n = ok ? u.data.via.map.size : 0;
    const msgpack_object *code = ok ? api_get(&u.data, "code") : NULL;
    msgpack_pack_map(pk, 2 + n);
    api_kv_id(pk, "id", id);
    api_kv_str(pk, "error",
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

void api_cmd_quarantine(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", NULL };
    agent_t *self = req->self;
    if (!api_keys_known(req, map, keys))
        return;
    if (proto_store_read_begin(self->kv) != PROTO_OK && !proto_store_writing(self->kv))
        return api_fail(req, PROTO_ERR_STORE, "", "cannot read the store");
    s_list_t l = { req, 0, true };
    agent_store_quar_each(self->kv, s_quar_one, &l);
    api_ok(req, 1);
    api_key(&req->pk, "documents");
    msgpack_pack_array(&req->pk, l.count);
    l.counting = false;
    agent_store_quar_each(self->kv, s_quar_one, &l);
    if (!proto_store_writing(self->kv))
        proto_store_read_end(self->kv);
    api_reply_send(req, false);
}

void api_cmd_health(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", NULL };
    agent_t *self = req->self;
    if (!api_keys_known(req, map, keys))
        return;
    size_t outbox = 0, unread = 0, quarantine = 0;
    if (proto_store_read_begin(self->kv) == PROTO_OK || proto_store_writing(self->kv)) {
        outbox = agent_store_out_count(self->kv);
        quarantine = agent_store_quar_count(self->kv);
        unread = agent_store_inbox_unread(self->kv);
        if (!proto_store_writing(self->kv))
            proto_store_read_end(self->kv);
    }
    api_ok(req, 14);
    api_kv_str(&req->pk, "agency", self->agency);
    api_kv_str(&req->pk, "version", TRUC_VERSION);
    api_kv_bool(&req->pk, "connected", self->state == A_READY);
    api_kv_bool(&req->pk, "refused", self->refused);
    api_kv_u64(&req->pk, "since", self->state_since);
    api_kv_str(&req->pk, "broker", self->config->endpoint);
    api_kv_u64(&req->pk, "outbox", outbox);
    api_kv_u64(&req->pk, "inbox_unread", unread);
    api_kv_u64(&req->pk, "quarantine", quarantine);
    api_kv_bool(&req->pk, "store_full", self->storage.full);
    api_kv_u64(&req->pk, "directory_serial",
               self->directory ? self->directory->u.directory.serial : 0);
    api_kv_str(&req->pk, "last_error", self->last_error[0] ? self->last_error : NULL);
    api_key(&req->pk, "limits");
    api_limits_pack(self, &req->pk);
    api_key(&req->pk, "log");
    agent_tlog_pack(self, &req->pk);
    api_reply_send(req, false);
}

//  log_clear: the operator has read the log alarm; the reply carries what
//  was cleared, so the evidence is not lost with it.
void api_cmd_log_clear(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", NULL };
    agent_t *self = req->self;
    if (!api_keys_known(req, map, keys))
        return;
    api_ok(req, 1);
    api_key(&req->pk, "cleared");
    agent_tlog_pack(self, &req->pk);
    proto_err_t rc = agent_tlog_clear(self);
    if (rc)
        return api_fail(req, rc, "", "cannot clear the log alarm: %s", proto_strerror(rc));
    api_reply_send(req, true);
}

void api_cmd_directory(api_req_t *req, const msgpack_object *map)
{
    static const char *const keys[] = { "cmd", NULL };
    agent_t *self = req->self;
    if (!api_keys_known(req, map, keys))
        return;
    if (!self->directory)
        return api_fail(req, PROTO_ERR_NOT_FOUND, "",
                        "no directory yet: the agent has not reached the broker");
    const proto_directory_msg_t *d = &self->directory->u.directory;
    static const char *states[] = { "active", "suspended", "revoked" };
    api_ok(req, 2);
    api_kv_u64(&req->pk, "serial", d->serial);
    api_key(&req->pk, "agencies");
    msgpack_pack_array(&req->pk, d->nentries);
    for (uint32_t i = 0; i < d->nentries; i++) {
        msgpack_pack_map(&req->pk, 3);
        api_kv_str(&req->pk, "code", d->entries[i].code);
        api_kv_str(&req->pk, "name", d->entries[i].name);
        api_kv_str(&req->pk, "state", states[d->entries[i].state % 3]);
    }
    api_reply_send(req, false);
}
