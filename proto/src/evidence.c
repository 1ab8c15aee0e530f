/*  evidence.c - evidence bundles: written from the parts an agent holds,
    checked offline into a report.

    A bundle carries wire bodies byte for byte; this module never re-signs
    or re-encodes them. Checking decodes each body with the strict wire
    decoder, then verifies every signature against the key the directory
    snapshot says was valid when it was made (proto/keywin.h), every receipt
    through its Merkle path to its signed head (proto/merkle.h), and every
    attachment present against the hash the sender signed. What is missing
    is reported as unproven, what fails as invalid. The only trust anchor is
    the broker's key: the one the caller pins, or the one the bundle names.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "mp.h"
#include "proto/evidence.h"
#include "proto/keywin.h"
#include "proto/merkle.h"
#include "proto/sign.h"

#define S_MAX_LINES (2 * PROTO_EVIDENCE_MAX_PARTS + PROTO_MAX_ATTACHMENTS + 16)

struct proto_evidence_report {
    proto_evidence_verdict_t verdict;
    char id[PROTO_ID_TEXT_LEN];
    char from[PROTO_MAX_NAME * 4 + 1];
    char *subject;   // malloc'd, "" when unknown
    char **to;       // malloc'd recipient codes
    bool *delivered; // per recipient
    uint32_t nto;
    bool accepted;     // an ACCEPTED receipt verified
    bool by_recipient; // a DELIVER made by one of its recipients (step 7)
    char made_by[PROTO_MAX_NAME * 4 + 1];
    uint64_t made;
    char broker_key[2 * PROTO_KEY_LEN + 1];
    bool pinned; // broker key given by the caller
    proto_evidence_line_t *lines;
    uint32_t nlines;
};

// ---------------------------------------------------------------------------
//  Writing

static bool s_bytes_ok(const proto_evidence_bytes_t *b)
{
    return b->data && b->len > 0;
}

proto_err_t proto_evidence_write(const proto_evidence_parts_t *parts, proto_buf_t *buf)
{
    if (!parts || !buf || !parts->made_by || !s_bytes_ok(&parts->doc) ||
        !s_bytes_ok(&parts->directory) || !parts->broker_key ||
        (parts->nreceipts && (!parts->receipts || !parts->receipt_kinds)) ||
        (parts->nstatus && !parts->status))
        return PROTO_ERR_INVALID_ARG;
    if (parts->natt > PROTO_MAX_ATTACHMENTS || parts->nreceipts > PROTO_EVIDENCE_MAX_PARTS ||
        parts->nstatus > PROTO_EVIDENCE_MAX_PARTS)
        return PROTO_ERR_LIMIT;
    proto_buf_reset(buf);
    mp_writer_t w;
    mp_writer_init(&w, buf);
    uint32_t count = 0;
    size_t mark = mp_map_begin(&w);
    mp_f_str(&w, &count, "format", PROTO_EVIDENCE_FORMAT);
    mp_f_str(&w, &count, "made_by", parts->made_by);
    mp_f_uint(&w, &count, "made", parts->made);
    mp_f_bin(&w, &count, "broker_key", parts->broker_key, PROTO_KEY_LEN);
    mp_f_uint(&w, &count, "kind", parts->doc_kind);
    mp_f_bin(&w, &count, "doc", parts->doc.data, parts->doc.len);
    // Without content the attachments are left out entirely: their sizes
    // and hashes are in the signed document already.
    if (parts->att) {
        mp_f_key(&w, &count, "att");
        mp_w_array(&w, parts->natt);
        for (uint32_t i = 0; i < parts->natt; i++)
            mp_w_bin(&w, parts->att[i].data, parts->att[i].len);
    }
    mp_f_key(&w, &count, "receipts");
    mp_w_array(&w, parts->nreceipts);
    for (uint32_t i = 0; i < parts->nreceipts; i++) {
        mp_w_array(&w, 2);
        mp_w_uint(&w, parts->receipt_kinds[i]);
        mp_w_bin(&w, parts->receipts[i].data, parts->receipts[i].len);
    }
    mp_f_key(&w, &count, "status");
    mp_w_array(&w, parts->nstatus);
    for (uint32_t i = 0; i < parts->nstatus; i++)
        mp_w_bin(&w, parts->status[i].data, parts->status[i].len);
    mp_f_bin(&w, &count, "directory", parts->directory.data, parts->directory.len);
    mp_map_end(&w, mark, count);
    return w.err;
}

// ---------------------------------------------------------------------------
//  The report

static proto_evidence_line_t *s_line(proto_evidence_report_t *r, const char *what,
                                     const char *signer, uint64_t time, proto_err_t err,
                                     const char *format, ...) __attribute__((format(printf, 6, 7)));

static proto_evidence_line_t *s_line(proto_evidence_report_t *r, const char *what,
                                     const char *signer, uint64_t time, proto_err_t err,
                                     const char *format, ...)
{
    if (r->nlines >= S_MAX_LINES)
        return NULL;
    proto_evidence_line_t *l = &r->lines[r->nlines++];
    snprintf(l->what, sizeof l->what, "%s", what);
    snprintf(l->signer, sizeof l->signer, "%s", signer ? signer : "");
    l->time = time;
    l->err = err;
    va_list ap;
    va_start(ap, format);
    vsnprintf(l->detail, sizeof l->detail, format, ap);
    va_end(ap);
    if (err != PROTO_OK)
        r->verdict = PROTO_EVIDENCE_INVALID;
    return l;
}

//  Something not proven: not a failure, but the verdict cannot be PROVEN.
static void s_unproven(proto_evidence_report_t *r, const char *what, const char *detail)
{
    s_line(r, what, NULL, 0, PROTO_OK, "NOT PROVEN: %s", detail);
    if (r->verdict == PROTO_EVIDENCE_PROVEN)
        r->verdict = PROTO_EVIDENCE_UNPROVEN;
}

// ---------------------------------------------------------------------------
//  Keys: who may have signed at a given time

typedef struct {
    const uint8_t *current;
    const proto_keywin_t *retired;
    size_t nretired;
} s_keys_t;

static bool s_keys_of(const proto_directory_msg_t *dir, const uint8_t *broker_key,
                      const char *signer, s_keys_t *out)
{
    if (strcmp(signer, dir->broker) == 0) {
        *out = (s_keys_t){ broker_key, dir->broker_retired, dir->nbroker_retired };
        return true;
    }
    for (uint32_t i = 0; i < dir->nentries; i++)
        if (strcmp(dir->entries[i].code, signer) == 0) {
            const proto_dir_entry_t *e = &dir->entries[i];
            *out = (s_keys_t){ e->key, e->retired, e->nretired };
            return true;
        }
    return false;
}

typedef struct {
    const void *obj;          // what is signed
    const uint8_t *sig;       // its signature
    const proto_item_t *item; // receipts: the item
} s_check_arg_t;

static bool s_check_doc(const uint8_t key[32], const void *arg)
{
    const s_check_arg_t *a = arg;
    return proto_doc_verify(a->obj, key, a->sig) == PROTO_OK;
}

static bool s_check_notice(const uint8_t key[32], const void *arg)
{
    const s_check_arg_t *a = arg;
    return proto_notice_verify(a->obj, key, a->sig) == PROTO_OK;
}

static bool s_check_head(const uint8_t key[32], const void *arg)
{
    const s_check_arg_t *a = arg;
    return proto_head_verify(a->obj, key, a->sig) == PROTO_OK;
}

static bool s_check_dir(const uint8_t key[32], const void *arg)
{
    const s_check_arg_t *a = arg;
    return proto_directory_verify(a->obj, key, a->sig) == PROTO_OK;
}

static const char *s_err_words(proto_err_t err)
{
    return err == PROTO_ERR_KEY_RETIRED ? "signed with a key outside its validity window"
                                        : "the signature does not verify";
}

static const char *s_event_name(uint8_t event)
{
    static const char *const names[] = { "?",       "ACCEPTED", "REJECTED", "DELIVERED",
                                         "REFUSED", "EXPIRED",  "RETURNED" };
    return event < sizeof names / sizeof names[0] ? names[event] : "?";
}

// ---------------------------------------------------------------------------
//  Checking, one part at a time. Each step adds its lines to the report.

//  What the steps share: the decoded directory and document.
typedef struct {
    proto_evidence_report_t *r;
    const uint8_t *broker_key;
    const proto_directory_msg_t *dir;
    const proto_doc_t *doc;
    uint8_t doc_hash[PROTO_HASH_LEN];
} s_check_t;

static proto_err_t s_check_directory(s_check_t *c, const proto_directory_msg_t *dir)
{
    s_check_arg_t arg = { dir, dir->sig, NULL };
    proto_err_t rc = proto_keywin_verify(c->broker_key, dir->broker_retired, dir->nbroker_retired,
                                         dir->time / 1000, s_check_dir, &arg);
    if (rc)
        s_line(c->r, "directory", dir->broker, dir->time, rc,
               "directory snapshot %llu: %s (broker key %s)", (unsigned long long) dir->serial,
               s_err_words(rc), c->r->broker_key);
    else
        s_line(c->r, "directory", dir->broker, dir->time, PROTO_OK,
               "directory snapshot %llu (%u agencies) signed by the broker",
               (unsigned long long) dir->serial, dir->nentries);
    return rc;
}

//  Verify what signer signed at time_ms with check; one line either way.
static void s_check_signed(s_check_t *c, const char *what, const char *signer, uint64_t time_ms,
                           proto_keywin_check_fn check, const s_check_arg_t *arg,
                           const char *proven)
{
    s_keys_t keys;
    if (!s_keys_of(c->dir, c->broker_key, signer, &keys)) {
        s_line(c->r, what, signer, time_ms, PROTO_ERR_NOT_FOUND,
               "%s is not in the directory snapshot: no key to check its signature", signer);
        return;
    }
    proto_err_t rc =
        proto_keywin_verify(keys.current, keys.retired, keys.nretired, time_ms / 1000, check, arg);
    if (rc)
        s_line(c->r, what, signer, time_ms, rc, "%s", s_err_words(rc));
    else if (!check(keys.current, arg)) // said, so that a reader sees why an old key counts
        s_line(c->r, what, signer, time_ms, PROTO_OK,
               "%s, with a key since retired, inside its validity window", proven);
    else
        s_line(c->r, what, signer, time_ms, PROTO_OK, "%s", proven);
}

static void s_check_document(s_check_t *c, const proto_document_t *d)
{
    const proto_doc_t *doc = &d->doc;
    proto_evidence_report_t *r = c->r;
    proto_id_format(&doc->id, r->id);
    snprintf(r->from, sizeof r->from, "%s", doc->from);
    free(r->subject);
    r->subject = strdup(doc->subject);
    r->to = calloc(doc->nto, sizeof *r->to);
    r->delivered = calloc(doc->nto, sizeof *r->delivered);
    if (!r->subject || !r->to || !r->delivered) {
        s_line(r, "document", doc->from, 0, PROTO_ERR_NOMEM, "out of memory");
        return;
    }
    for (uint32_t i = 0; i < doc->nto; i++)
        if ((r->to[i] = strdup(doc->to[i])) != NULL)
            r->nto = i + 1;
    s_check_arg_t arg = { doc, d->sig, NULL };
    char proven[256];
    snprintf(proven, sizeof proven, "document %s signed by its sender for %u recipient(s)", r->id,
             doc->nto);
    s_check_signed(c, "document", doc->from, doc->created, s_check_doc, &arg, proven);
    if (proto_doc_hash(doc, c->doc_hash) != PROTO_OK)
        s_line(r, "document", doc->from, 0, PROTO_ERR_NOMEM, "out of memory");
}

static void s_check_attachments(s_check_t *c, const msgpack_object *att)
{
    const proto_doc_t *doc = c->doc;
    if (!att) {
        for (uint32_t i = 0; i < doc->natt; i++)
            s_line(c->r, "attachment", doc->from, 0, PROTO_OK,
                   "%s: content not included; its size %llu and hash are signed in the document",
                   doc->att[i].name, (unsigned long long) doc->att[i].size);
        return;
    }
    if (att->type != MSGPACK_OBJECT_ARRAY || att->via.array.size != doc->natt) {
        s_line(c->r, "attachment", NULL, 0, PROTO_ERR_VALUE,
               "the bundle's attachments do not match the document's %u", doc->natt);
        return;
    }
    for (uint32_t i = 0; i < doc->natt; i++) {
        const msgpack_object *b = &att->via.array.ptr[i];
        proto_err_t rc = b->type == MSGPACK_OBJECT_BIN
                             ? proto_attachment_check(&doc->att[i], b->via.bin.ptr, b->via.bin.size)
                             : PROTO_ERR_TYPE;
        s_line(c->r, "attachment", doc->from, 0, rc,
               rc ? "%s: its bytes do not match the size and hash the sender signed"
                  : "%s: bytes match the hash the sender signed",
               doc->att[i].name);
    }
}

//  One receipt item about this document: head signature, path, hash, meaning.
static void s_check_item(s_check_t *c, const proto_receipts_t *rc_body, const proto_item_t *item)
{
    const proto_head_t *head = &rc_body->head;
    const proto_leaf_t *leaf = &item->leaf;
    const char *name = s_event_name(leaf->event);
    proto_evidence_report_t *r = c->r;
    uint32_t before = r->nlines;
    s_check_arg_t arg = { head, rc_body->sig, item };
    s_check_signed(c, name, head->signer, head->time, s_check_head, &arg, "head signed");
    if (r->nlines == before || r->lines[r->nlines - 1].err != PROTO_OK)
        return;
    r->nlines--; // replaced by one line for the whole receipt below
    uint8_t lh[PROTO_HASH_LEN];
    proto_err_t rc = proto_leaf_hash(leaf, lh);
    if (!rc)
        rc = proto_merkle_verify(lh, item->index, head->size,
                                 (const uint8_t(*)[PROTO_HASH_LEN]) item->path, item->npath,
                                 head->root);
    if (rc) {
        s_line(r, name, head->signer, leaf->time, rc,
               "its Merkle path does not lead to the signed head's root");
        return;
    }
    if ((leaf->event == PROTO_EVENT_ACCEPTED || leaf->event == PROTO_EVENT_DELIVERED) &&
        sodium_memcmp(leaf->hash, c->doc_hash, PROTO_HASH_LEN) != 0) {
        s_line(r, name, head->signer, leaf->time, PROTO_ERR_HASH_MISMATCH,
               "the receipt is about other content than this document");
        return;
    }
    bool by_broker = strcmp(head->signer, c->dir->broker) == 0;
    if (leaf->event == PROTO_EVENT_ACCEPTED && by_broker)
        r->accepted = true;
    if (leaf->event == PROTO_EVENT_DELIVERED && leaf->to && strcmp(leaf->to, head->signer) == 0)
        for (uint32_t i = 0; i < r->nto; i++)
            if (strcmp(r->to[i], leaf->to) == 0)
                r->delivered[i] = true;
    s_line(r, name, head->signer, leaf->time, PROTO_OK,
           "%s%s%s (leaf %llu of %llu, head signed, path verified%s%s)", name,
           leaf->to ? " for " : "", leaf->to ? leaf->to : "", (unsigned long long) item->index,
           (unsigned long long) head->size, leaf->code ? ", code " : "",
           leaf->code ? proto_errname(leaf->code) : "");
}

static void s_check_receipt(s_check_t *c, const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2 ||
        o->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        o->via.array.ptr[1].type != MSGPACK_OBJECT_BIN) {
        s_line(c->r, "receipt", NULL, 0, PROTO_ERR_TYPE, "a receipt is not [kind, body]");
        return;
    }
    uint64_t kind = o->via.array.ptr[0].via.u64;
    const msgpack_object_bin *body = &o->via.array.ptr[1].via.bin;
    if (kind != PROTO_KIND_ACCEPTED && kind != PROTO_KIND_REJECTED && kind != PROTO_KIND_EXPIRED &&
        kind != PROTO_KIND_DELIVERED) {
        s_line(c->r, "receipt", NULL, 0, PROTO_ERR_KIND, "kind %llu is not a receipt",
               (unsigned long long) kind);
        return;
    }
    proto_msg_t *m = NULL;
    proto_errinfo_t info = { 0 };
    if (proto_msg_decode((int) kind, body->ptr, body->size, &m, &info) != PROTO_OK) {
        s_line(c->r, proto_kind_name((int) kind), NULL, 0, info.code, "malformed: %s: %s",
               info.field, info.message);
        return;
    }
    const proto_receipts_t *rb = &m->u.receipts;
    uint32_t about = 0;
    for (uint32_t i = 0; i < rb->nitems; i++)
        if (memcmp(&rb->items[i].leaf.id, &c->doc->id, sizeof c->doc->id) == 0) {
            s_check_item(c, rb, &rb->items[i]);
            about++;
        }
    if (about == 0)
        s_line(c->r, proto_kind_name((int) kind), rb->head.signer, rb->head.time, PROTO_ERR_VALUE,
               "the receipt names no event of this document");
    proto_msg_destroy(&m);
}

static void s_check_status(s_check_t *c, const msgpack_object *o)
{
    proto_msg_t *m = NULL;
    proto_errinfo_t info = { 0 };
    if (o->type != MSGPACK_OBJECT_BIN) {
        s_line(c->r, "STATUS", NULL, 0, PROTO_ERR_TYPE, "a STATUS is not a body");
        return;
    }
    if (proto_msg_decode(PROTO_KIND_STATUS, o->via.bin.ptr, o->via.bin.size, &m, &info) !=
        PROTO_OK) {
        s_line(c->r, "STATUS", NULL, 0, info.code, "malformed: %s: %s", info.field, info.message);
        return;
    }
    const proto_notice_t *n = &m->u.status.notice;
    if (memcmp(&n->doc, &c->doc->id, sizeof n->doc) != 0) {
        s_line(c->r, "STATUS", n->from, n->time, PROTO_ERR_VALUE,
               "the notice is about another document");
    } else {
        char proven[256];
        snprintf(proven, sizeof proven, "status %02u from %s to %s%s%s", n->code, n->from, n->to,
                 n->note ? ": " : "", n->note ? n->note : "");
        s_check_arg_t arg = { n, m->u.status.sig, NULL };
        s_check_signed(c, "STATUS", n->from, n->time, s_check_notice, &arg, proven);
    }
    proto_msg_destroy(&m);
}

// ---------------------------------------------------------------------------
//  The bundle

static const char *const s_keys[] = { "format", "made_by", "made",     "broker_key", "kind",
                                      "doc",    "att",     "receipts", "status",     "directory" };

static const msgpack_object_bin *s_bin(const msgpack_object *v)
{
    return v && v->type == MSGPACK_OBJECT_BIN && v->via.bin.size > 0 ? &v->via.bin : NULL;
}

//  Read the bundle's outer map into vals; one line and an error on failure.
static proto_err_t s_outer(proto_evidence_report_t *r, mp_ctx_t *ctx, const msgpack_object *root,
                           const msgpack_object **v, uint8_t key[PROTO_KEY_LEN])
{
    const char *format = NULL, *made_by = NULL;
    proto_err_t rc = mp_map(ctx, root, s_keys, sizeof s_keys / sizeof s_keys[0], v);
    if (!rc)
        rc = mp_ascii(ctx, "format", v[0], true, 64, &format);
    if (!rc && strcmp(format, PROTO_EVIDENCE_FORMAT) != 0)
        rc = mp_fail(ctx, PROTO_ERR_VERSION, "format", "not %s", PROTO_EVIDENCE_FORMAT);
    if (!rc)
        rc = mp_agency(ctx, "made_by", v[1], true, &made_by);
    if (!rc)
        rc = mp_uint(ctx, "made", v[2], true, 0, UINT64_MAX, &r->made);
    if (!rc)
        rc = mp_bin(ctx, "broker_key", v[3], true, PROTO_KEY_LEN, key);
    uint64_t kind = 0;
    if (!rc)
        rc = mp_uint(ctx, "kind", v[4], true, 0, 255, &kind);
    if (!rc && (!proto_kind_has_document((int) kind)))
        rc = mp_fail(ctx, PROTO_ERR_KIND, "kind", "kind %llu carries no document",
                     (unsigned long long) kind);
    if (!rc && (!s_bin(v[5]) || !s_bin(v[9])))
        rc = mp_fail(ctx, PROTO_ERR_MISSING, s_bin(v[5]) ? "directory" : "doc",
                     "required body missing");
    if (!rc && ((v[7] && v[7]->type != MSGPACK_OBJECT_ARRAY) ||
                (v[8] && v[8]->type != MSGPACK_OBJECT_ARRAY)))
        rc = mp_fail(ctx, PROTO_ERR_TYPE, "receipts", "receipts and status must be arrays");
    if (!rc && ((v[7] && v[7]->via.array.size > PROTO_EVIDENCE_MAX_PARTS) ||
                (v[8] && v[8]->via.array.size > PROTO_EVIDENCE_MAX_PARTS)))
        rc = mp_fail(ctx, PROTO_ERR_LIMIT, "receipts", "more than %d receipts or notices",
                     PROTO_EVIDENCE_MAX_PARTS);
    if (rc)
        return rc;
    snprintf(r->made_by, sizeof r->made_by, "%s", made_by);
    return PROTO_OK;
}

//  Decode kind's body into *m; one line on failure.
static proto_err_t s_decode(proto_evidence_report_t *r, const char *what, int kind,
                            const msgpack_object_bin *b, proto_msg_t **m)
{
    proto_errinfo_t info = { 0 };
    proto_err_t rc = proto_msg_decode(kind, b->ptr, b->size, m, &info);
    if (rc)
        s_line(r, what, NULL, 0, rc, "malformed: %s: %s", info.field, info.message);
    return rc;
}

//  Everything after the outer map: directory, document, attachments,
//  receipts, notices, and what stays unproven.
//  Step 7: what is missing. A recipient's bundle (a DELIVER made by one of
//  its recipients) cannot hold the broker's ACCEPTED nor the other
//  recipients' DELIVERED: the broker sends those to the sender only. It
//  proves what a recipient can: the document as signed and its own
//  delivery; the rest is reported as not held, not as unproven.
static void s_check_complete(proto_evidence_report_t *r, int kind, const proto_document_t *d)
{
    for (uint32_t i = 0; kind == PROTO_KIND_DELIVER && i < r->nto; i++)
        r->by_recipient |= strcmp(r->to[i], r->made_by) == 0;
    char detail[256];
    if (!r->accepted && r->by_recipient) {
        snprintf(detail, sizeof detail,
                 "not held: a recipient does not receive the broker's ACCEPTED (its DELIVER "
                 "says accepted, audit seq %llu, unsigned); the sender's bundle proves it",
                 (unsigned long long) d->seq);
        s_line(r, "ACCEPTED", NULL, d->accepted, PROTO_OK, "%s", detail);
    } else if (!r->accepted) {
        s_unproven(r, "ACCEPTED", "no ACCEPTED receipt signed by the broker for this document");
    }
    for (uint32_t i = 0; i < r->nto; i++) {
        if (r->delivered[i])
            continue;
        if (r->by_recipient && strcmp(r->to[i], r->made_by) != 0) {
            s_line(r, "DELIVERED", NULL, 0, PROTO_OK,
                   "not held: %s's DELIVERED goes to the sender, whose bundle proves it", r->to[i]);
            continue;
        }
        snprintf(detail, sizeof detail,
                 "no DELIVERED receipt signed by %s: delivery to it is not proven", r->to[i]);
        s_unproven(r, "DELIVERED", detail);
    }
}

static void s_check_parts(proto_evidence_report_t *r, const msgpack_object **v,
                          const uint8_t key[PROTO_KEY_LEN])
{
    proto_msg_t *dm = NULL, *docm = NULL;
    s_check_t c = { .r = r, .broker_key = key };
    if (s_decode(r, "directory", PROTO_KIND_DIRECTORY, s_bin(v[9]), &dm) != PROTO_OK)
        return;
    c.dir = &dm->u.directory;
    // Without a directory whose signature holds, no key in it can be
    // trusted: nothing else is checked.
    if (s_check_directory(&c, c.dir) == PROTO_OK &&
        s_decode(r, "document", (int) v[4]->via.u64, s_bin(v[5]), &docm) == PROTO_OK) {
        c.doc = &docm->u.document.doc;
        s_check_document(&c, &docm->u.document);
        s_check_attachments(&c, v[6]);
        for (uint32_t i = 0; v[7] && i < v[7]->via.array.size; i++)
            s_check_receipt(&c, &v[7]->via.array.ptr[i]);
        for (uint32_t i = 0; v[8] && i < v[8]->via.array.size; i++)
            s_check_status(&c, &v[8]->via.array.ptr[i]);
        s_check_complete(r, (int) v[4]->via.u64, &docm->u.document);
    }
    proto_msg_destroy(&docm);
    proto_msg_destroy(&dm);
}

proto_evidence_report_t *proto_evidence_check(const void *data, size_t len,
                                              const uint8_t *broker_key)
{
    proto_evidence_report_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->lines = calloc(S_MAX_LINES, sizeof *r->lines);
    r->subject = strdup("");
    proto_arena_t *arena = proto_arena_new();
    if (!r->lines || !r->subject || !arena) {
        proto_arena_destroy(&arena);
        proto_evidence_report_destroy(&r);
        return NULL;
    }
    r->pinned = broker_key != NULL;
    proto_errinfo_t info = { 0 };
    mp_ctx_t ctx = { .arena = arena, .info = &info };
    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t offset = 0;
    const msgpack_object *v[sizeof s_keys / sizeof s_keys[0]] = { 0 };
    uint8_t key[PROTO_KEY_LEN];
    proto_err_t rc = data && len ? mp_prescan(&ctx, data, len, 4) : PROTO_ERR_MSGPACK;
    if (!rc && msgpack_unpack_next(&unpacked, data, len, &offset) != MSGPACK_UNPACK_SUCCESS)
        rc = PROTO_ERR_MSGPACK;
    if (!rc)
        rc = s_outer(r, &ctx, &unpacked.data, v, key);
    if (rc) {
        s_line(r, "bundle", NULL, 0, rc, "not an evidence bundle: %s%s%s",
               info.field[0] ? info.field : "", info.field[0] ? ": " : "",
               info.message[0] ? info.message : proto_strerror(rc));
    } else {
        if (broker_key)
            memcpy(key, broker_key, PROTO_KEY_LEN);
        for (int i = 0; i < PROTO_KEY_LEN; i++)
            snprintf(r->broker_key + 2 * i, 3, "%02x", key[i]);
        s_check_parts(r, v, key);
    }
    msgpack_unpacked_destroy(&unpacked);
    proto_arena_destroy(&arena);
    return r;
}

void proto_evidence_report_destroy(proto_evidence_report_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    proto_evidence_report_t *r = *self_p;
    for (uint32_t i = 0; i < r->nto; i++)
        free(r->to[i]);
    free(r->to);
    free(r->delivered);
    free(r->subject);
    free(r->lines);
    free(r);
    *self_p = NULL;
}

proto_evidence_verdict_t proto_evidence_verdict(const proto_evidence_report_t *self)
{
    return self->verdict;
}

const char *proto_evidence_doc_id(const proto_evidence_report_t *self)
{
    return self->id;
}

const char *proto_evidence_doc_from(const proto_evidence_report_t *self)
{
    return self->from;
}

const char *proto_evidence_doc_subject(const proto_evidence_report_t *self)
{
    return self->subject;
}

uint32_t proto_evidence_doc_nto(const proto_evidence_report_t *self)
{
    return self->nto;
}

const char *proto_evidence_doc_to(const proto_evidence_report_t *self, uint32_t i)
{
    return i < self->nto ? self->to[i] : NULL;
}

bool proto_evidence_delivered(const proto_evidence_report_t *self, uint32_t i)
{
    return i < self->nto && self->delivered[i];
}

bool proto_evidence_by_recipient(const proto_evidence_report_t *self)
{
    return self->by_recipient;
}

bool proto_evidence_accepted(const proto_evidence_report_t *self)
{
    return self->accepted;
}

const char *proto_evidence_made_by(const proto_evidence_report_t *self)
{
    return self->made_by;
}

uint64_t proto_evidence_made(const proto_evidence_report_t *self)
{
    return self->made;
}

const char *proto_evidence_broker_key(const proto_evidence_report_t *self)
{
    return self->broker_key;
}

bool proto_evidence_broker_key_pinned(const proto_evidence_report_t *self)
{
    return self->pinned;
}

uint32_t proto_evidence_nlines(const proto_evidence_report_t *self)
{
    return self->nlines;
}

const proto_evidence_line_t *proto_evidence_line(const proto_evidence_report_t *self, uint32_t i)
{
    return i < self->nlines ? &self->lines[i] : NULL;
}
