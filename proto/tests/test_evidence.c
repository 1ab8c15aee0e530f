/*  test_evidence.c - evidence bundles written and checked offline.

    A real signed document with an attachment, the broker's ACCEPTED, the
    recipient's DELIVERED, a STATUS and a broker-signed directory snapshot
    are made here with the library's own signing code, put into a bundle
    and checked. Then each part is tampered with (a byte of the document,
    of an attachment, of a receipt signature, of a path), left out, or
    signed after its key was retired, and the report must say so.
*/
#define _GNU_SOURCE // memmem
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "proto/evidence.h"
#include "proto/identity.h"
#include "proto/keywin.h"
#include "proto/merkle.h"
#include "proto/msg.h"
#include "proto/sign.h"

#define S_T0     1767225600123ull // 2026-01-01, ms
#define S_BROKER "truc-broker"
#define S_FROM   "000.00.00.G01"
#define S_TO     "000.05.01.H01"

static proto_identity_t *s_broker;
static proto_identity_t *s_from;
static proto_identity_t *s_to;
static proto_identity_t *s_old_from; // the sender's key before a rotation

static const char s_attachment[] = "%PDF-1.4 quyet dinh";

//  The bodies of one document's trip, each a wire body.
typedef struct {
    proto_buf_t doc, accepted, delivered, status, directory;
    proto_evidence_bytes_t att;
} s_trip_t;

static int s_group_setup(void **state)
{
    (void) state;
    if (sodium_init() < 0)
        return -1;
    s_broker = proto_identity_generate(PROTO_ROLE_BROKER, S_BROKER);
    s_from = proto_identity_generate(PROTO_ROLE_AGENCY, S_FROM);
    s_to = proto_identity_generate(PROTO_ROLE_AGENCY, S_TO);
    s_old_from = proto_identity_generate(PROTO_ROLE_AGENCY, S_FROM);
    return s_broker && s_from && s_to && s_old_from ? 0 : -1;
}

static int s_group_teardown(void **state)
{
    (void) state;
    proto_identity_destroy(&s_broker);
    proto_identity_destroy(&s_from);
    proto_identity_destroy(&s_to);
    proto_identity_destroy(&s_old_from);
    return 0;
}

static void s_encode(proto_msg_t *msg, proto_buf_t *buf)
{
    proto_errinfo_t info;
    proto_buf_init(buf);
    proto_err_t rc = proto_msg_encode(msg, buf, &info);
    if (rc)
        print_error("encode %s: %s: %s\n", proto_kind_name(msg->kind), info.field, info.message);
    assert_int_equal(rc, PROTO_OK);
}

//  A receipt of one event, signed by id at time.
static void s_receipt(proto_kind_t kind, const proto_leaf_t *leaf, const proto_identity_t *id,
                      proto_buf_t *out)
{
    proto_head_t head;
    proto_item_t item;
    uint8_t paths[PROTO_MAX_PATH][PROTO_HASH_LEN];
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    assert_int_equal(
        proto_receipts_build(leaf, 1, id, leaf->time + 5, &head, msg.u.receipts.sig, &item, paths),
        PROTO_OK);
    msg.kind = kind;
    msg.u.receipts.head = head;
    msg.u.receipts.items = &item;
    msg.u.receipts.nitems = 1;
    s_encode(&msg, out);
}

//  The whole trip. signer signs the document (s_from, or s_old_from whose
//  key the directory lists as retired with window [0, retired_until)).
static void s_trip(s_trip_t *t, const proto_identity_t *signer, uint64_t retired_until)
{
    memset(t, 0, sizeof *t);
    const char *to[1] = { S_TO };
    proto_attachment_t att = { .name = "quyet-dinh.pdf", .type = "application/pdf" };
    proto_attachment_hash(&att, s_attachment, sizeof s_attachment);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_SUBMIT;
    proto_doc_t *doc = &msg.u.document.doc;
    proto_id_new(&doc->id);
    doc->from = S_FROM;
    doc->to = to;
    doc->nto = 1;
    doc->created = S_T0;
    doc->doc_type = "Quyết định";
    doc->subject = "Về việc <phê duyệt> & kế hoạch";
    doc->att = &att;
    doc->natt = 1;
    assert_int_equal(proto_doc_sign(doc, signer, msg.u.document.sig), PROTO_OK);
    s_encode(&msg, &t->doc);
    t->att = (proto_evidence_bytes_t){ (const uint8_t *) s_attachment, sizeof s_attachment };

    proto_leaf_t leaf = {
        .event = PROTO_EVENT_ACCEPTED, .id = doc->id, .from = S_FROM, .time = S_T0 + 100, .seq = 7
    };
    assert_int_equal(proto_doc_hash(doc, leaf.hash), PROTO_OK);
    s_receipt(PROTO_KIND_ACCEPTED, &leaf, s_broker, &t->accepted);
    leaf.event = PROTO_EVENT_DELIVERED;
    leaf.to = S_TO;
    leaf.time = S_T0 + 200;
    s_receipt(PROTO_KIND_DELIVERED, &leaf, s_to, &t->delivered);

    proto_id_t doc_id = doc->id; // msg is reused below
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_STATUS;
    proto_notice_t *n = &msg.u.status.notice;
    proto_id_new(&n->id);
    n->doc = doc_id;
    n->from = S_TO;
    n->to = S_FROM;
    n->code = 3;
    n->time = S_T0 + 300;
    assert_int_equal(proto_notice_sign(n, s_to, msg.u.status.sig), PROTO_OK);
    s_encode(&msg, &t->status);

    proto_keywin_t win = { .from = 0, .until = retired_until };
    memcpy(win.key, proto_identity_public(s_old_from)->sign_pk, PROTO_KEY_LEN);
    proto_dir_entry_t entries[2] = {
        { .code = S_FROM,
          .name = "Văn phòng Chính phủ",
          .retired = &win,
          .nretired = retired_until ? 1u : 0u },
        { .code = S_TO, .name = "Sở Nội vụ" },
    };
    memcpy(entries[0].key, proto_identity_public(s_from)->sign_pk, PROTO_KEY_LEN);
    memcpy(entries[1].key, proto_identity_public(s_to)->sign_pk, PROTO_KEY_LEN);
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DIRECTORY;
    proto_directory_msg_t *dir = &msg.u.directory;
    dir->serial = 3;
    dir->time = S_T0 + 1000;
    dir->broker = S_BROKER;
    dir->entries = entries;
    dir->nentries = 2;
    assert_int_equal(proto_directory_sign(dir, s_broker, dir->sig), PROTO_OK);
    s_encode(&msg, &t->directory);
}

static void s_trip_free(s_trip_t *t)
{
    proto_buf_free(&t->doc);
    proto_buf_free(&t->accepted);
    proto_buf_free(&t->delivered);
    proto_buf_free(&t->status);
    proto_buf_free(&t->directory);
}

#define S_BYTES(b) ((proto_evidence_bytes_t){ (b).data, (b).len })

//  Write the trip's bundle; with_delivered false leaves DELIVERED out.
static void s_bundle(const s_trip_t *t, bool content, bool with_delivered, proto_buf_t *out)
{
    proto_evidence_bytes_t receipts[2] = { S_BYTES(t->accepted), S_BYTES(t->delivered) };
    uint8_t kinds[2] = { PROTO_KIND_ACCEPTED, PROTO_KIND_DELIVERED };
    proto_evidence_bytes_t status = S_BYTES(t->status);
    proto_evidence_parts_t parts = {
        .made_by = S_FROM,
        .made = S_T0 + 5000,
        .doc_kind = PROTO_KIND_SUBMIT,
        .doc = S_BYTES(t->doc),
        .att = content ? &t->att : NULL,
        .natt = 1,
        .receipt_kinds = kinds,
        .receipts = receipts,
        .nreceipts = with_delivered ? 2 : 1,
        .status = &status,
        .nstatus = 1,
        .directory = S_BYTES(t->directory),
        .broker_key = proto_identity_public(s_broker)->sign_pk,
    };
    proto_buf_init(out);
    assert_int_equal(proto_evidence_write(&parts, out), PROTO_OK);
}

static proto_evidence_report_t *s_check(const proto_buf_t *b)
{
    proto_evidence_report_t *r =
        proto_evidence_check(b->data, b->len, proto_identity_public(s_broker)->sign_pk);
    assert_non_null(r);
    // Shown when a test fails, so the failing line is on the screen.
    for (uint32_t i = 0; getenv("TRUC_TEST_VERBOSE") && i < proto_evidence_nlines(r); i++)
        print_message("%s %s: %s\n", proto_evidence_line(r, i)->what,
                      proto_errname(proto_evidence_line(r, i)->err),
                      proto_evidence_line(r, i)->detail);
    return r;
}

//  The first failing line, or NULL.
static const proto_evidence_line_t *s_failed(const proto_evidence_report_t *r)
{
    for (uint32_t i = 0; i < proto_evidence_nlines(r); i++)
        if (proto_evidence_line(r, i)->err != PROTO_OK)
            return proto_evidence_line(r, i);
    return NULL;
}

static void test_evidence_proven(void **state)
{
    (void) state;
    s_trip_t t;
    s_trip(&t, s_from, 0);
    proto_buf_t b;
    s_bundle(&t, true, true, &b);
    proto_evidence_report_t *r = s_check(&b);
    assert_null(s_failed(r));
    assert_int_equal(proto_evidence_verdict(r), PROTO_EVIDENCE_PROVEN);
    assert_true(proto_evidence_accepted(r));
    assert_int_equal(proto_evidence_doc_nto(r), 1);
    assert_string_equal(proto_evidence_doc_to(r, 0), S_TO);
    assert_true(proto_evidence_delivered(r, 0));
    assert_string_equal(proto_evidence_doc_from(r), S_FROM);
    assert_string_equal(proto_evidence_made_by(r), S_FROM);
    proto_evidence_report_destroy(&r);
    assert_null(r);
    // Unpinned: the bundle's own broker key is used and named.
    r = proto_evidence_check(b.data, b.len, NULL);
    assert_int_equal(proto_evidence_verdict(r), PROTO_EVIDENCE_PROVEN);
    assert_false(proto_evidence_broker_key_pinned(r));
    proto_evidence_report_destroy(&r);
    proto_buf_free(&b);
    s_trip_free(&t);
}

static void test_evidence_no_content(void **state)
{
    (void) state;
    s_trip_t t;
    s_trip(&t, s_from, 0);
    proto_buf_t full, bare;
    s_bundle(&t, true, true, &full);
    s_bundle(&t, false, true, &bare);
    assert_true(bare.len < full.len);
    proto_evidence_report_t *r = s_check(&bare);
    assert_int_equal(proto_evidence_verdict(r), PROTO_EVIDENCE_PROVEN);
    assert_non_null(strstr(proto_evidence_line(r, 2)->detail, "not included"));
    proto_evidence_report_destroy(&r);
    proto_buf_free(&full);
    proto_buf_free(&bare);
    s_trip_free(&t);
}

static void test_evidence_unproven(void **state)
{
    (void) state;
    s_trip_t t;
    s_trip(&t, s_from, 0);
    proto_buf_t b;
    s_bundle(&t, true, false, &b);
    proto_evidence_report_t *r = s_check(&b);
    assert_null(s_failed(r));
    assert_int_equal(proto_evidence_verdict(r), PROTO_EVIDENCE_UNPROVEN);
    assert_true(proto_evidence_accepted(r));
    assert_false(proto_evidence_delivered(r, 0));
    const proto_evidence_line_t *last = proto_evidence_line(r, proto_evidence_nlines(r) - 1);
    assert_non_null(strstr(last->detail, "NOT PROVEN"));
    assert_non_null(strstr(last->detail, S_TO));
    proto_evidence_report_destroy(&r);
    proto_buf_free(&b);
    s_trip_free(&t);
}

//  Flip one byte of `part` inside the bundle and expect `what` to fail.
static void s_tamper(s_trip_t *t, proto_buf_t *part, size_t at_from_end, const char *what,
                     proto_err_t want)
{
    part->data[part->len - at_from_end] ^= 0x01;
    proto_buf_t b;
    s_bundle(t, true, true, &b);
    proto_evidence_report_t *r = s_check(&b);
    assert_int_equal(proto_evidence_verdict(r), PROTO_EVIDENCE_INVALID);
    const proto_evidence_line_t *l = s_failed(r);
    assert_non_null(l);
    assert_string_equal(l->what, what);
    assert_int_equal(l->err, want);
    proto_evidence_report_destroy(&r);
    proto_buf_free(&b);
    part->data[part->len - at_from_end] ^= 0x01;
}

static void test_evidence_tampered(void **state)
{
    (void) state;
    s_trip_t t;
    s_trip(&t, s_from, 0);
    // The subject text is in the signed document: one byte of it changed.
    uint8_t *subject = memmem(t.doc.data, t.doc.len, "phê", 4);
    assert_non_null(subject);
    s_tamper(&t, &t.doc, t.doc.len - (size_t) (subject - t.doc.data), "document",
             PROTO_ERR_BAD_SIGNATURE);
    // The receipts end with their signature... the last field written is
    // `sig` or the items: find the 64-byte signature by its bin header.
    uint8_t *sig = memmem(t.accepted.data, t.accepted.len, "\xc4\x40", 2);
    assert_non_null(sig);
    s_tamper(&t, &t.accepted, t.accepted.len - (size_t) (sig + 10 - t.accepted.data), "ACCEPTED",
             PROTO_ERR_BAD_SIGNATURE);
    sig = memmem(t.delivered.data, t.delivered.len, "\xc4\x40", 2);
    s_tamper(&t, &t.delivered, t.delivered.len - (size_t) (sig + 10 - t.delivered.data),
             "DELIVERED", PROTO_ERR_BAD_SIGNATURE);
    sig = memmem(t.status.data, t.status.len, "\xc4\x40", 2);
    s_tamper(&t, &t.status, t.status.len - (size_t) (sig + 10 - t.status.data), "STATUS",
             PROTO_ERR_BAD_SIGNATURE);
    sig = memmem(t.directory.data, t.directory.len, "\xc4\x40", 2);
    s_tamper(&t, &t.directory, t.directory.len - (size_t) (sig + 10 - t.directory.data),
             "directory", PROTO_ERR_BAD_SIGNATURE);
    // The attachment's bytes.
    char copy[sizeof s_attachment];
    memcpy(copy, s_attachment, sizeof copy);
    copy[3] ^= 1;
    t.att.data = (const uint8_t *) copy;
    proto_buf_t b;
    s_bundle(&t, true, true, &b);
    proto_evidence_report_t *r = s_check(&b);
    assert_int_equal(proto_evidence_verdict(r), PROTO_EVIDENCE_INVALID);
    assert_string_equal(s_failed(r)->what, "attachment");
    assert_int_equal(s_failed(r)->err, PROTO_ERR_HASH_MISMATCH);
    proto_evidence_report_destroy(&r);
    proto_buf_free(&b);
    s_trip_free(&t);
}

//  A genuine receipt of another document does not prove this one.
static void test_evidence_other_receipt(void **state)
{
    (void) state;
    s_trip_t t, other;
    s_trip(&t, s_from, 0);
    s_trip(&other, s_from, 0);
    proto_buf_t mine = t.accepted;
    t.accepted = other.accepted;
    proto_buf_t b;
    s_bundle(&t, true, true, &b);
    proto_evidence_report_t *r = s_check(&b);
    assert_int_equal(proto_evidence_verdict(r), PROTO_EVIDENCE_INVALID);
    assert_string_equal(s_failed(r)->what, "ACCEPTED");
    assert_int_equal(s_failed(r)->err, PROTO_ERR_VALUE);
    assert_false(proto_evidence_accepted(r));
    proto_evidence_report_destroy(&r);
    proto_buf_free(&b);
    t.accepted = mine;
    s_trip_free(&t);
    s_trip_free(&other);
}

//  Another broker key than the one that signed the directory: nothing in
//  the bundle can be trusted.
static void test_evidence_wrong_broker(void **state)
{
    (void) state;
    s_trip_t t;
    s_trip(&t, s_from, 0);
    proto_buf_t b;
    s_bundle(&t, true, true, &b);
    proto_evidence_report_t *r =
        proto_evidence_check(b.data, b.len, proto_identity_public(s_to)->sign_pk);
    assert_int_equal(proto_evidence_verdict(r), PROTO_EVIDENCE_INVALID);
    assert_string_equal(s_failed(r)->what, "directory");
    assert_false(proto_evidence_accepted(r));
    proto_evidence_report_destroy(&r);
    proto_buf_free(&b);
    s_trip_free(&t);
}

//  Signed with a key since retired: verifies while its window held the
//  signing time, and is refused with KEY_RETIRED when it did not.
static void test_evidence_retired_key(void **state)
{
    (void) state;
    s_trip_t t;
    s_trip(&t, s_old_from, S_T0 / 1000 + 60);
    proto_buf_t b;
    s_bundle(&t, true, true, &b);
    proto_evidence_report_t *r = s_check(&b);
    assert_int_equal(proto_evidence_verdict(r), PROTO_EVIDENCE_PROVEN);
    proto_evidence_report_destroy(&r);
    proto_buf_free(&b);
    s_trip_free(&t);

    s_trip(&t, s_old_from, S_T0 / 1000 - 60);
    s_bundle(&t, true, true, &b);
    r = s_check(&b);
    assert_int_equal(proto_evidence_verdict(r), PROTO_EVIDENCE_INVALID);
    assert_string_equal(s_failed(r)->what, "document");
    assert_int_equal(s_failed(r)->err, PROTO_ERR_KEY_RETIRED);
    proto_evidence_report_destroy(&r);
    proto_buf_free(&b);
    s_trip_free(&t);
}

//  Not a bundle, a truncated one, garbage: a report saying why, never a crash.
static void test_evidence_malformed(void **state)
{
    (void) state;
    s_trip_t t;
    s_trip(&t, s_from, 0);
    proto_buf_t b;
    s_bundle(&t, true, true, &b);
    for (size_t cut = 0; cut < b.len; cut += 1 + cut / 8) {
        proto_evidence_report_t *r = proto_evidence_check(b.data, cut, NULL);
        assert_non_null(r);
        assert_int_equal(proto_evidence_verdict(r), PROTO_EVIDENCE_INVALID);
        proto_evidence_report_destroy(&r);
    }
    proto_evidence_report_t *r = proto_evidence_check(t.doc.data, t.doc.len, NULL);
    assert_int_equal(proto_evidence_verdict(r), PROTO_EVIDENCE_INVALID);
    assert_string_equal(s_failed(r)->what, "bundle");
    proto_evidence_report_destroy(&r);
    proto_evidence_parts_t none = { 0 };
    assert_int_equal(proto_evidence_write(&none, &b), PROTO_ERR_INVALID_ARG);
    proto_buf_free(&b);
    s_trip_free(&t);
}

static void s_write(const char *dir, const char *name, const proto_buf_t *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b->data, 1, b->len, f) != b->len || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

//  `test_evidence --write DIR`: the bundles truc-verify's CLI test checks
//  (proven, without content, unproven, a tampered receipt signature, signed
//  with a key retired since but valid then), and broker.key, the key to pin.
static int s_write_bundles(const char *dir)
{
    if (sodium_init() < 0 || s_group_setup(NULL) != 0)
        return 1;
    s_trip_t t;
    proto_buf_t b;
    s_trip(&t, s_from, 0);
    s_bundle(&t, true, true, &b);
    s_write(dir, "proven.bundle", &b);
    proto_buf_free(&b);
    s_bundle(&t, false, true, &b);
    s_write(dir, "bare.bundle", &b);
    proto_buf_free(&b);
    s_bundle(&t, true, false, &b);
    s_write(dir, "unproven.bundle", &b);
    proto_buf_free(&b);
    uint8_t *sig = memmem(t.accepted.data, t.accepted.len, "\xc4\x40", 2);
    sig[10] ^= 1;
    s_bundle(&t, true, true, &b);
    s_write(dir, "tampered.bundle", &b);
    proto_buf_free(&b);
    s_trip_free(&t);
    s_trip(&t, s_old_from, S_T0 / 1000 + 60);
    s_bundle(&t, true, true, &b);
    s_write(dir, "rotated.bundle", &b);
    proto_buf_free(&b);
    s_trip_free(&t);
    char hex[2 * PROTO_KEY_LEN + 1];
    sodium_bin2hex(hex, sizeof hex, proto_identity_public(s_broker)->sign_pk, PROTO_KEY_LEN);
    proto_buf_t k = { (uint8_t *) hex, strlen(hex), 0 };
    s_write(dir, "broker.key", &k);
    return s_group_teardown(NULL);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0)
        return s_write_bundles(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evidence_proven),       cmocka_unit_test(test_evidence_no_content),
        cmocka_unit_test(test_evidence_unproven),     cmocka_unit_test(test_evidence_tampered),
        cmocka_unit_test(test_evidence_wrong_broker), cmocka_unit_test(test_evidence_retired_key),
        cmocka_unit_test(test_evidence_malformed),    cmocka_unit_test(test_evidence_other_receipt),
    };
    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
