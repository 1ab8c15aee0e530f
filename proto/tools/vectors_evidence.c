/*  vectors_evidence.c - evidence.txt: bundles and the verdicts a checker
    must reach (see vectors_evidence.h).

    One document from the province to a department, with one attachment:
    its SUBMIT as the sender signed it, the broker's ACCEPTED, the
    department's DELIVERED and a STATUS back, under a directory snapshot
    the broker signed. Every input is fixed (ids, times, texts); Ed25519
    and the Merkle code are deterministic, so the file is the same on every
    run. The invalid bundles are the valid one with one thing changed.
*/
#include "vectors_evidence.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/evidence.h"
#include "proto/keywin.h"
#include "proto/merkle.h"
#include "proto/msg.h"
#include "proto/sign.h"

#define S_T0       1735776000000ull // 2025-01-02T00:00:00Z in milliseconds
#define S_ROTATED  1735862400ull    // 2025-01-03T00:00:00Z, s: the end of the old key's window
#define S_DOC_ID   "01941f29-7c00-7000-8000-0000000000e1"
#define S_NOTE_ID  "01941f29-7c00-7000-8000-0000000000e2"
#define S_DOC_TEXT "Tờ trình về việc kiểm thử chứng cứ"

static const char s_att[] = "%PDF-1.7\n% truc evidence vector\n%%EOF\n";

static void s_die(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));

static void s_die(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("truc-vectors: evidence.txt: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    exit(EXIT_FAILURE);
}

static void s_ok(proto_err_t rc, const char *what)
{
    if (rc != PROTO_OK)
        s_die("%s: %s", what, proto_errname(rc));
}

static void s_encode(const proto_msg_t *msg, proto_buf_t *out)
{
    proto_buf_init(out);
    s_ok(proto_msg_encode(msg, out, NULL), proto_kind_name(msg->kind));
}

//  The bodies of the trip.
typedef struct {
    proto_buf_t submit, deliver, accepted, delivered, status, directory;
} s_trip_t;

static void s_receipt(proto_kind_t kind, const proto_leaf_t *leaf, const proto_identity_t *id,
                      proto_buf_t *out)
{
    proto_item_t item;
    uint8_t paths[PROTO_MAX_PATH][PROTO_HASH_LEN];
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = kind;
    s_ok(proto_receipts_build(leaf, 1, id, leaf->time + 5, &msg.u.receipts.head, msg.u.receipts.sig,
                              &item, paths),
         "receipt");
    msg.u.receipts.items = &item;
    msg.u.receipts.nitems = 1;
    s_encode(&msg, out);
}

//  The trip with the document signed by signer; the directory lists
//  old_from's key as retired until window_end (s).
static void s_trip(const vectors_evidence_ids_t *ids, const proto_identity_t *signer,
                   uint64_t window_end, s_trip_t *t)
{
    const char *from = proto_identity_public(ids->from)->name;
    const char *to[1] = { proto_identity_public(ids->to)->name };
    proto_attachment_t att = { .name = "to-trinh.pdf", .type = "application/pdf" };
    proto_attachment_hash(&att, s_att, sizeof s_att - 1);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_SUBMIT;
    proto_doc_t *doc = &msg.u.document.doc;
    s_ok(proto_id_parse(S_DOC_ID, &doc->id), "id");
    doc->from = from;
    doc->to = to;
    doc->nto = 1;
    doc->created = S_T0;
    doc->doc_type = "Tờ trình";
    doc->subject = S_DOC_TEXT;
    doc->att = &att;
    doc->natt = 1;
    s_ok(proto_doc_sign(doc, signer, msg.u.document.sig), "document");
    s_encode(&msg, &t->submit);
    //  The same document as the broker delivered it.
    msg.kind = PROTO_KIND_DELIVER;
    msg.u.document.accepted = S_T0 + 100;
    msg.u.document.seq = 7;
    s_encode(&msg, &t->deliver);

    proto_leaf_t leaf = {
        .event = PROTO_EVENT_ACCEPTED, .id = doc->id, .from = from, .time = S_T0 + 100, .seq = 7
    };
    s_ok(proto_doc_hash(doc, leaf.hash), "hash");
    s_receipt(PROTO_KIND_ACCEPTED, &leaf, ids->broker, &t->accepted);
    leaf.event = PROTO_EVENT_DELIVERED;
    leaf.to = to[0];
    leaf.time = S_T0 + 200;
    leaf.seq = 0;
    s_receipt(PROTO_KIND_DELIVERED, &leaf, ids->to, &t->delivered);

    proto_id_t doc_id = doc->id;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_STATUS;
    proto_notice_t *n = &msg.u.status.notice;
    s_ok(proto_id_parse(S_NOTE_ID, &n->id), "notice id");
    n->doc = doc_id;
    n->from = to[0];
    n->to = from;
    n->code = 3;
    n->time = S_T0 + 300;
    n->note = "Đã vào sổ";
    s_ok(proto_notice_sign(n, ids->to, msg.u.status.sig), "notice");
    s_encode(&msg, &t->status);

    proto_keywin_t win = { .from = 0, .until = window_end };
    memcpy(win.key, proto_identity_public(ids->old_from)->sign_pk, PROTO_KEY_LEN);
    proto_dir_entry_t entries[2] = {
        { .code = from, .name = "Ủy ban nhân dân tỉnh Thử Nghiệm", .retired = &win, .nretired = 1 },
        { .code = to[0], .name = "Sở Nội vụ tỉnh Thử Nghiệm" },
    };
    memcpy(entries[0].key, proto_identity_public(ids->from)->sign_pk, PROTO_KEY_LEN);
    memcpy(entries[1].key, proto_identity_public(ids->to)->sign_pk, PROTO_KEY_LEN);
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DIRECTORY;
    proto_directory_msg_t *dir = &msg.u.directory;
    dir->serial = 5;
    dir->time = S_T0 + 1000;
    dir->broker = proto_identity_public(ids->broker)->name;
    dir->entries = entries;
    dir->nentries = 2;
    s_ok(proto_directory_sign(dir, ids->broker, dir->sig), "directory");
    s_encode(&msg, &t->directory);
}

static void s_trip_free(s_trip_t *t)
{
    proto_buf_free(&t->submit);
    proto_buf_free(&t->deliver);
    proto_buf_free(&t->accepted);
    proto_buf_free(&t->delivered);
    proto_buf_free(&t->status);
    proto_buf_free(&t->directory);
}

#define S_BYTES(b) ((proto_evidence_bytes_t){ (b).data, (b).len })

//  How one vector differs from the sender's full bundle.
typedef struct {
    const char *name;
    const char *about;
    proto_evidence_verdict_t verdict;
    bool recipient;         // the recipient's bundle (DELIVER, its DELIVERED only)
    bool no_content;        // without the attachment frame
    bool no_delivered;      // without the DELIVERED
    bool old_key;           // the document signed with the sender's retired key
    uint64_t window_end;    // of the retired key, s
    const char *tamper;     // change one byte of the first occurrence of this text
    bool tamper_attachment; // change one byte of the attachment frame
} s_vec_t;

static void s_bundle(const vectors_evidence_ids_t *ids, const s_vec_t *v, proto_buf_t *out)
{
    s_trip_t t;
    memset(&t, 0, sizeof t);
    s_trip(ids, v->old_key ? ids->old_from : ids->from, v->window_end, &t);
    char att[sizeof s_att];
    memcpy(att, s_att, sizeof s_att);
    if (v->tamper_attachment)
        att[3] ^= 0x01;
    proto_evidence_bytes_t att_bytes = { (const uint8_t *) att, sizeof s_att - 1 };
    proto_evidence_bytes_t receipts[2] = { S_BYTES(t.accepted), S_BYTES(t.delivered) };
    uint8_t kinds[2] = { PROTO_KIND_ACCEPTED, PROTO_KIND_DELIVERED };
    proto_evidence_bytes_t status = S_BYTES(t.status);
    proto_evidence_parts_t parts = {
        .made_by = proto_identity_public(v->recipient ? ids->to : ids->from)->name,
        .made = S_T0 + 5000,
        .doc_kind = v->recipient ? PROTO_KIND_DELIVER : PROTO_KIND_SUBMIT,
        .doc = v->recipient ? S_BYTES(t.deliver) : S_BYTES(t.submit),
        .att = v->no_content ? NULL : &att_bytes,
        .natt = 1,
        .receipt_kinds = v->recipient ? kinds + 1 : kinds,
        .receipts = v->recipient ? receipts + 1 : receipts,
        .nreceipts = v->recipient      ? 1
                     : v->no_delivered ? 1
                                       : 2,
        .status = &status,
        .nstatus = 1,
        .directory = S_BYTES(t.directory),
        .broker_key = proto_identity_public(ids->broker)->sign_pk,
    };
    s_ok(proto_evidence_write(&parts, out), v->name);
    s_trip_free(&t);
    if (v->tamper) {
        size_t len = strlen(v->tamper);
        uint8_t *at = NULL;
        for (size_t i = 0; !at && i + len <= out->len; i++)
            if (memcmp(out->data + i, v->tamper, len) == 0)
                at = out->data + i;
        if (!at)
            s_die("%s: '%s' is not in the bundle", v->name, v->tamper);
        at[len - 1] ^= 0x01;
    }
}

static void s_hex_line(FILE *f, const char *key, const uint8_t *data, size_t len)
{
    fprintf(f, len ? "%s: " : "%s:", key);
    for (size_t i = 0; i < len; i++)
        fprintf(f, "%02x", data[i]);
    fputc('\n', f);
}

static const char *s_verdict_name(proto_evidence_verdict_t v)
{
    return v == PROTO_EVIDENCE_PROVEN     ? "proven"
           : v == PROTO_EVIDENCE_UNPROVEN ? "unproven"
                                          : "invalid";
}

void vectors_evidence_write(const char *dir, const vectors_evidence_ids_t *ids)
{
    const s_vec_t vecs[] = {
        { "proven", "the sender's bundle: document, attachment, ACCEPTED, DELIVERED, STATUS",
          PROTO_EVIDENCE_PROVEN, .window_end = S_ROTATED },
        { "proven_no_content", "the same without the attachment frame (--no-content)",
          PROTO_EVIDENCE_PROVEN, .no_content = true, .window_end = S_ROTATED },
        { "proven_recipient",
          "the recipient's bundle: the DELIVER, its own DELIVERED and its STATUS (17.2 step 7)",
          PROTO_EVIDENCE_PROVEN, .recipient = true, .window_end = S_ROTATED },
        { "proven_retired_key",
          "the document signed with the sender's key since retired, inside its window",
          PROTO_EVIDENCE_PROVEN, .old_key = true, .window_end = S_ROTATED },
        { "unproven_no_delivered", "the sender's bundle without the recipient's DELIVERED",
          PROTO_EVIDENCE_UNPROVEN, .no_delivered = true, .window_end = S_ROTATED },
        { "invalid_document", "one byte of the signed subject changed", PROTO_EVIDENCE_INVALID,
          .tamper = S_DOC_TEXT, .window_end = S_ROTATED },
        { "invalid_attachment", "one byte of the attachment frame changed", PROTO_EVIDENCE_INVALID,
          .tamper_attachment = true, .window_end = S_ROTATED },
        { "invalid_key_retired",
          "the document signed with a retired key whose window closed before it was made "
          "(ERR_KEY_RETIRED)",
          PROTO_EVIDENCE_INVALID, .old_key = true, .window_end = S_T0 / 1000 - 1 },
        { "invalid_format", "format \"truc/evidence/0\": a version no checker knows",
          PROTO_EVIDENCE_INVALID, .tamper = "truc/evidence/1", .window_end = S_ROTATED },
    };
    char path[4096];
    snprintf(path, sizeof path, "%s/evidence.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        s_die("cannot write %s", path);
    fprintf(f, "# truc known-answer test vectors: evidence bundles (section 17)\n"
               "# Written by truc-vectors (proto/tools/vectors_evidence.c); do not edit by hand.\n"
               "# Format: proto/vectors/README.md. Binary values are lowercase hex.\n");
    unsigned n = 0;
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
        const s_vec_t *v = &vecs[i];
        proto_buf_t bundle;
        proto_buf_init(&bundle);
        s_bundle(ids, v, &bundle);
        const uint8_t *key = proto_identity_public(ids->broker)->sign_pk;
        proto_evidence_report_t *r = proto_evidence_check(bundle.data, bundle.len, key);
        if (!r)
            s_die("%s: out of memory", v->name);
        if (proto_evidence_verdict(r) != v->verdict)
            s_die("%s: the checker says %s, not %s", v->name,
                  s_verdict_name(proto_evidence_verdict(r)), s_verdict_name(v->verdict));
        proto_evidence_report_destroy(&r);
        fprintf(f, "\n# %s\n", v->about);
        fprintf(f, "name: %s\n", v->name);
        fprintf(f, "verdict: %s\n", s_verdict_name(v->verdict));
        fprintf(f, "exit: %d\n", (int) v->verdict);
        s_hex_line(f, "broker_key", key, PROTO_KEY_LEN);
        s_hex_line(f, "bundle", bundle.data, bundle.len);
        proto_buf_free(&bundle);
        n++;
    }
    if (fflush(f) != 0 || ferror(f) || fclose(f) != 0)
        s_die("write failed");
    printf("%s: %u blocks\n", path, n);
}
