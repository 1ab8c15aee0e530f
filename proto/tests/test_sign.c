/*  test_sign.c - canonical signing bytes, content hashes, signatures.

    What a signature covers is the canonical form of the decoded struct, so
    the tests check three things: the canonical bytes depend on the values
    only (not on the wire encoding, not on the order of unordered sets), every
    field of every signed object is covered (change any one and the
    signature fails), and signatures over one object type never verify as
    another (domain separation). Signing on someone else's behalf is refused.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>
#include <sodium.h>

#include "proto/identity.h"
#include "proto/msg.h"
#include "proto/sign.h"

#define S_T0     1767225600123ull
#define S_AGENCY "000.00.01.H01"
#define S_BROKER "truc-broker"

static proto_identity_t *s_agency; // signs documents and notices
static proto_identity_t *s_other;  // another agency, for wrong-key checks
static proto_identity_t *s_broker; // signs heads and directories

static int s_group_setup(void **state)
{
    (void) state;
    if (sodium_init() < 0)
        return -1;
    s_agency = proto_identity_generate(PROTO_ROLE_AGENCY, S_AGENCY);
    s_other = proto_identity_generate(PROTO_ROLE_AGENCY, "000.05.01.H01");
    s_broker = proto_identity_generate(PROTO_ROLE_BROKER, S_BROKER);
    return s_agency && s_other && s_broker ? 0 : -1;
}

static int s_group_teardown(void **state)
{
    (void) state;
    proto_identity_destroy(&s_agency);
    proto_identity_destroy(&s_other);
    proto_identity_destroy(&s_broker);
    return 0;
}

static const uint8_t *s_pk(const proto_identity_t *id)
{
    return proto_identity_public(id)->sign_pk;
}

static void s_fill(void *out, size_t len, uint8_t seed)
{
    uint8_t *p = out;
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t) (seed * 31u + i * 7u + 1u);
}

// ---------------------------------------------------------------------------
//  A document with every field set

typedef struct {
    proto_doc_t doc;
    const char *to[3];
    const char *places[2];
    proto_ref_t refs[2];
    proto_id_t op_refs[2];
    proto_hop_t trace[2];
    proto_kv_t ext[3];
    proto_attachment_t att[2];
    proto_enc_t enc;
    proto_sealed_key_t keys[3];
} s_doc_fx_t;

static void s_doc_fx(s_doc_fx_t *fx, proto_op_t op)
{
    memset(fx, 0, sizeof *fx);
    proto_doc_t *doc = &fx->doc;
    s_fill(doc->id.bytes, PROTO_ID_LEN, 1);
    doc->from = S_AGENCY;
    fx->to[0] = "000.00.00.G01";
    fx->to[1] = "000.05.01.H01";
    fx->to[2] = "001.05.01.H01";
    doc->to = fx->to;
    doc->nto = 3;
    doc->created = S_T0;
    doc->doc_type = "Quyết định";
    doc->subject = "Về việc phê duyệt kế hoạch chuyển đổi số năm 2026";
    doc->code_number = "15";
    doc->code_notation = "QĐ-UBND";
    doc->place = "Hà Giang";
    doc->date = "2026-01-15";
    doc->due = "2026-03-31";
    doc->content = "Phê duyệt kế hoạch kèm theo Quyết định này.";
    doc->sphere = "Toàn tỉnh";
    doc->typist = "TTB";
    doc->signer.name = "Nguyễn Văn A";
    doc->signer.position = "Chủ tịch";
    doc->signer.competence = "TM.";
    doc->urgency = PROTO_URGENCY_URGENT;
    doc->secrecy = 1;
    doc->steering = 2;
    doc->pages = 3;
    doc->copies = 20;
    doc->appendixes = 1;
    fx->places[0] = "Như Điều 3";
    fx->places[1] = "Lưu: VT";
    doc->places = fx->places;
    doc->nplaces = 2;
    fx->refs[0].agency = "000.00.00.G01";
    fx->refs[0].code = "45/BTTTT";
    fx->refs[0].date = "2025-12-20";
    fx->refs[0].has_doc = true;
    s_fill(fx->refs[0].doc.bytes, PROTO_ID_LEN, 2);
    fx->refs[1].agency = "000.05.01.H01";
    doc->response_for = fx->refs;
    doc->nresponse_for = 2;
    doc->op = (uint8_t) op;
    if (op != PROTO_OP_NEW) {
        doc->op_reason = "Sai thể thức";
        s_fill(fx->op_refs[0].bytes, PROTO_ID_LEN, 3);
        s_fill(fx->op_refs[1].bytes, PROTO_ID_LEN, 4);
        doc->op_refs = fx->op_refs;
        doc->nop_refs = 2;
    }
    fx->trace[0].agency = S_AGENCY;
    fx->trace[0].time = S_T0 - 5000;
    fx->trace[1].agency = "000.00.00.G01";
    fx->trace[1].time = S_T0 - 1000;
    doc->trace = fx->trace;
    doc->ntrace = 2;
    fx->ext[0].key = "vendor.trace-id";
    fx->ext[0].value = "abc-123";
    fx->ext[1].key = "x_priority";
    fx->ext[1].value = "cao";
    fx->ext[2].key = "edxml.version";
    fx->ext[2].value = "2.0";
    doc->ext = fx->ext;
    doc->next = 3;
    fx->att[0].name = "Quyết định 15.pdf";
    fx->att[0].type = "application/pdf";
    fx->att[0].size = 123456;
    s_fill(fx->att[0].hash, PROTO_HASH_LEN, 5);
    fx->att[1].name = "Kế hoạch.docx";
    fx->att[1].type = "application/msword";
    fx->att[1].size = 999;
    s_fill(fx->att[1].hash, PROTO_HASH_LEN, 6);
    fx->enc.alg = "xchacha20poly1305-secretstream+sealbox";
    s_fill(fx->enc.header, sizeof fx->enc.header, 7);
    fx->enc.chunk = 65536;
    for (int i = 0; i < 3; i++) {
        fx->keys[i].agency = fx->to[i];
        s_fill(fx->keys[i].sealed, PROTO_SEALED_KEY_LEN, (uint8_t) (8 + i));
    }
    fx->enc.keys = fx->keys;
    fx->enc.nkeys = 3;
    fx->att[1].enc = &fx->enc;
    doc->att = fx->att;
    doc->natt = 2;
}

static void s_doc_canonical(const proto_doc_t *doc, proto_buf_t *buf)
{
    proto_buf_init(buf);
    assert_int_equal(proto_doc_canonical(doc, buf), PROTO_OK);
    assert_true(buf->len > 0);
}

static bool s_buf_equal(const proto_buf_t *a, const proto_buf_t *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

//  Encode a message and decode it again, as a receiver would see it.
static proto_msg_t *s_through_wire(const proto_msg_t *msg)
{
    proto_buf_t body;
    proto_buf_init(&body);
    proto_errinfo_t info;
    proto_err_t rc = proto_msg_encode(msg, &body, &info);
    if (rc != PROTO_OK) {
        print_error("encode: %s at '%s': %s\n", proto_errname(rc), info.field, info.message);
        fail();
    }
    proto_msg_t *out = NULL;
    assert_int_equal(proto_msg_decode(msg->kind, body.data, body.len, &out, NULL), PROTO_OK);
    proto_buf_free(&body);
    return out;
}

// ---------------------------------------------------------------------------
//  Canonical bytes

//  Check the canonical bytes: one msgpack array of n elements starting with
//  the domain string, nothing after it, and every header in its shortest
//  form (packing the parsed object again gives the same bytes, and
//  msgpack-c's packer always picks the shortest form).
static void s_assert_canonical_shape(const proto_buf_t *buf, const char *domain, uint32_t n)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 4096);
    msgpack_object root;
    size_t off = 0;
    assert_int_equal(msgpack_unpack((const char *) buf->data, buf->len, &off, &zone, &root),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, buf->len);
    assert_int_equal(root.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(root.via.array.size, n);
    const msgpack_object *first = &root.via.array.ptr[0];
    assert_int_equal(first->type, MSGPACK_OBJECT_STR);
    assert_int_equal(first->via.str.size, strlen(domain));
    assert_memory_equal(first->via.str.ptr, domain, strlen(domain));
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    assert_int_equal(msgpack_pack_object(&pk, root), 0);
    assert_int_equal(sbuf.size, buf->len);
    assert_memory_equal(sbuf.data, buf->data, buf->len);
    msgpack_sbuffer_destroy(&sbuf);
    msgpack_zone_destroy(&zone);
}

static void s_test_canonical_deterministic(void **state)
{
    (void) state;
    static const proto_kind_t kinds[] = { PROTO_KIND_SUBMIT, PROTO_KIND_REVOKE, PROTO_KIND_UPDATE,
                                          PROTO_KIND_REPLACE, PROTO_KIND_DELIVER };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        s_doc_fx_t fx;
        proto_op_t op = kinds[k] == PROTO_KIND_REVOKE    ? PROTO_OP_REVOKE
                        : kinds[k] == PROTO_KIND_UPDATE  ? PROTO_OP_UPDATE
                        : kinds[k] == PROTO_KIND_REPLACE ? PROTO_OP_REPLACE
                                                         : PROTO_OP_NEW;
        s_doc_fx(&fx, op);
        proto_buf_t a, b, c;
        s_doc_canonical(&fx.doc, &a);
        s_doc_canonical(&fx.doc, &b);
        assert_true(s_buf_equal(&a, &b));
        s_assert_canonical_shape(&a, "truc/doc/1", 30);

        proto_msg_t msg;
        memset(&msg, 0, sizeof msg);
        msg.kind = kinds[k];
        msg.u.document.doc = fx.doc;
        msg.u.document.accepted = S_T0;
        msg.u.document.seq = 1;
        proto_msg_t *decoded = s_through_wire(&msg);
        s_doc_canonical(&decoded->u.document.doc, &c);
        assert_true(s_buf_equal(&a, &c));

        uint8_t hash[PROTO_HASH_LEN], want[PROTO_HASH_LEN], again[PROTO_HASH_LEN];
        assert_int_equal(proto_doc_hash(&fx.doc, hash), PROTO_OK);
        crypto_generichash(want, sizeof want, a.data, a.len, NULL, 0);
        assert_memory_equal(hash, want, sizeof hash);
        assert_int_equal(proto_doc_hash(&decoded->u.document.doc, again), PROTO_OK);
        assert_memory_equal(hash, again, sizeof hash);

        proto_msg_destroy(&decoded);
        proto_buf_free(&a);
        proto_buf_free(&b);
        proto_buf_free(&c);
    }
}

//  Sets without an order (extension fields, sealed keys) sign the same in
//  any order, so two agents that build them differently agree.
static void s_test_canonical_unordered_sets(void **state)
{
    (void) state;
    s_doc_fx_t fx;
    s_doc_fx(&fx, PROTO_OP_NEW);
    proto_buf_t want;
    s_doc_canonical(&fx.doc, &want);
    static const int orders[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
                                      { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
    for (int p = 0; p < 6; p++)
        for (int q = 0; q < 6; q++) {
            s_doc_fx_t perm;
            s_doc_fx(&perm, PROTO_OP_NEW);
            for (int i = 0; i < 3; i++) {
                perm.ext[i] = fx.ext[orders[p][i]];
                perm.keys[i] = fx.keys[orders[q][i]];
            }
            proto_buf_t got;
            s_doc_canonical(&perm.doc, &got);
            assert_true(s_buf_equal(&want, &got));
            //  And through the wire, where the order is kept as sent.
            proto_msg_t msg;
            memset(&msg, 0, sizeof msg);
            msg.kind = PROTO_KIND_SUBMIT;
            msg.u.document.doc = perm.doc;
            proto_msg_t *decoded = s_through_wire(&msg);
            assert_string_equal(decoded->u.document.doc.ext[0].key, fx.ext[orders[p][0]].key);
            proto_buf_t wire;
            s_doc_canonical(&decoded->u.document.doc, &wire);
            assert_true(s_buf_equal(&want, &wire));
            proto_msg_destroy(&decoded);
            proto_buf_free(&got);
            proto_buf_free(&wire);
        }
    //  The caller's arrays are left in their order.
    assert_string_equal(fx.ext[0].key, "vendor.trace-id");
    assert_string_equal(fx.keys[0].agency, "000.00.00.G01");

    //  Ordered lists stay ordered: swapping two recipients is a different
    //  document.
    const char *swap = fx.to[0];
    fx.to[0] = fx.to[1];
    fx.to[1] = swap;
    proto_buf_t swapped;
    s_doc_canonical(&fx.doc, &swapped);
    assert_false(s_buf_equal(&want, &swapped));
    proto_buf_free(&swapped);
    proto_buf_free(&want);
}

//  The wire treats an empty optional text as absent, so the canonical form
//  must too: otherwise a sender that fills a field with "" signs bytes no
//  receiver can rebuild, and its signature never verifies.
static void s_test_canonical_empty_is_absent(void **state)
{
    (void) state;
    s_doc_fx_t with_empty, with_null;
    s_doc_fx(&with_empty, PROTO_OP_NEW);
    s_doc_fx(&with_null, PROTO_OP_NEW);
    with_empty.doc.place = "";
    with_empty.doc.content = "";
    with_empty.doc.signer.competence = "";
    with_empty.refs[1].code = "";
    with_null.doc.place = NULL;
    with_null.doc.content = NULL;
    with_null.doc.signer.competence = NULL;
    with_null.refs[1].code = NULL;
    proto_buf_t a, b;
    s_doc_canonical(&with_empty.doc, &a);
    s_doc_canonical(&with_null.doc, &b);
    assert_true(s_buf_equal(&a, &b));

    uint8_t sig[PROTO_SIG_LEN];
    assert_int_equal(proto_doc_sign(&with_empty.doc, s_agency, sig), PROTO_OK);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_SUBMIT;
    msg.u.document.doc = with_empty.doc;
    memcpy(msg.u.document.sig, sig, sizeof sig);
    proto_msg_t *decoded = s_through_wire(&msg);
    assert_null(decoded->u.document.doc.place);
    assert_int_equal(
        proto_doc_verify(&decoded->u.document.doc, s_pk(s_agency), decoded->u.document.sig),
        PROTO_OK);
    proto_msg_destroy(&decoded);

    //  The same holds for notices.
    proto_notice_t n1, n2;
    memset(&n1, 0, sizeof n1);
    n1.from = S_AGENCY;
    n1.to = "000.05.01.H01";
    n1.code = 1;
    n1.note = "";
    n1.staff.phone = "";
    n2 = n1;
    n2.note = NULL;
    n2.staff.phone = NULL;
    proto_buf_t c, d;
    proto_buf_init(&c);
    proto_buf_init(&d);
    assert_int_equal(proto_notice_canonical(&n1, &c), PROTO_OK);
    assert_int_equal(proto_notice_canonical(&n2, &d), PROTO_OK);
    assert_true(s_buf_equal(&c, &d));
    proto_buf_free(&a);
    proto_buf_free(&b);
    proto_buf_free(&c);
    proto_buf_free(&d);
}

// ---------------------------------------------------------------------------
//  Documents: every field is covered

//  Change field number i of the document; false when there is no field i.
//  The fixture is a REVOKE, so the operation fields are all present.
static bool s_doc_change(s_doc_fx_t *fx, int i, const char **what)
{
    proto_doc_t *doc = &fx->doc;
    proto_attachment_t first = fx->att[0];
    int n = 0;
#define S_FIELD(name, change)                                                                      \
    if (i == n++) {                                                                                \
        *what = name;                                                                              \
        change;                                                                                    \
        return true;                                                                               \
    }
    S_FIELD("id", doc->id.bytes[15] ^= 1);
    S_FIELD("from", doc->from = "000.00.02.H01");
    S_FIELD("to[0]", fx->to[0] = "000.00.00.G02");
    S_FIELD("to[1]", fx->to[1] = "000.05.02.H01");
    S_FIELD("to[2]", fx->to[2] = "002.05.01.H01");
    S_FIELD("to: one fewer", doc->nto = 2);
    S_FIELD("to: order", (fx->to[0] = "000.05.01.H01", fx->to[1] = "000.00.00.G01"));
    S_FIELD("created", doc->created++);
    S_FIELD("type", doc->doc_type = "Quyết đinh");
    S_FIELD("subject", doc->subject = "Về việc phê duyệt kế hoạch chuyển đổi số năm 2027");
    S_FIELD("subject absent", doc->subject = NULL);
    S_FIELD("number", doc->code_number = "16");
    S_FIELD("notation", doc->code_notation = "QĐ-UBND ");
    S_FIELD("place", doc->place = "Hà Nội");
    S_FIELD("place absent", doc->place = NULL);
    S_FIELD("date", doc->date = "2026-01-16");
    S_FIELD("due", doc->due = "2026-03-30");
    S_FIELD("due absent", doc->due = NULL);
    S_FIELD("content", doc->content = "Phê duyệt kế hoạch kèm theo Quyết định này!");
    S_FIELD("sphere", doc->sphere = "Toàn quốc");
    S_FIELD("typist", doc->typist = "TTC");
    S_FIELD("signer.name", doc->signer.name = "Nguyễn Văn B");
    S_FIELD("signer.position", doc->signer.position = "Phó Chủ tịch");
    S_FIELD("signer.competence", doc->signer.competence = "KT.");
    S_FIELD("urgency", doc->urgency = PROTO_URGENCY_IMMEDIATE);
    S_FIELD("secrecy", doc->secrecy = 0);
    S_FIELD("steering", doc->steering = 3);
    S_FIELD("pages", doc->pages = 4);
    S_FIELD("pages absent", doc->pages = 0);
    S_FIELD("copies", doc->copies = 21);
    S_FIELD("appendixes", doc->appendixes = 2);
    S_FIELD("places[0]", fx->places[0] = "Như Điều 4");
    S_FIELD("places: one fewer", doc->nplaces = 1);
    S_FIELD("response_for[0].agency", fx->refs[0].agency = "000.00.00.G02");
    S_FIELD("response_for[0].code", fx->refs[0].code = "46/BTTTT");
    S_FIELD("response_for[0].date", fx->refs[0].date = "2025-12-21");
    S_FIELD("response_for[0].doc", fx->refs[0].doc.bytes[0] ^= 0x80);
    S_FIELD("response_for[0].doc absent", fx->refs[0].has_doc = false);
    S_FIELD("response_for[1].doc present", fx->refs[1].has_doc = true);
    S_FIELD("response_for: one fewer", doc->nresponse_for = 1);
    S_FIELD("op", doc->op = PROTO_OP_UPDATE);
    S_FIELD("op_reason", doc->op_reason = "Sai thể thức.");
    S_FIELD("op_reason absent", doc->op_reason = NULL);
    S_FIELD("op_refs[1]", fx->op_refs[1].bytes[7] ^= 4);
    S_FIELD("op_refs: one fewer", doc->nop_refs = 1);
    S_FIELD("trace[0].agency", fx->trace[0].agency = "000.00.02.H01");
    S_FIELD("trace[1].time", fx->trace[1].time++);
    S_FIELD("trace: one fewer", doc->ntrace = 1);
    S_FIELD("ext value", fx->ext[1].value = "thấp");
    S_FIELD("ext key", fx->ext[2].key = "edxml.versions");
    S_FIELD("ext: one fewer", doc->next = 2);
    S_FIELD("att[0].name", fx->att[0].name = "Quyết định 16.pdf");
    S_FIELD("att[0].type", fx->att[0].type = "application/x-pdf");
    S_FIELD("att[0].size", fx->att[0].size++);
    S_FIELD("att[0].hash", fx->att[0].hash[31] ^= 1);
    S_FIELD("att[1].name", fx->att[1].name = "Kế hoạch.doc");
    S_FIELD("att[1].type", fx->att[1].type = "application/pdf");
    S_FIELD("att[1].size", fx->att[1].size = 0);
    S_FIELD("att[1].hash", fx->att[1].hash[0] ^= 0x10);
    S_FIELD("att[1].enc.alg", fx->enc.alg = "xchacha20poly1305-secretstream+sealbox2");
    S_FIELD("att[1].enc.header", fx->enc.header[23] ^= 1);
    S_FIELD("att[1].enc.chunk", fx->enc.chunk = 4096);
    S_FIELD("att[1].enc.keys[2].sealed", fx->keys[2].sealed[79] ^= 1);
    S_FIELD("att[1].enc.keys[0].agency", fx->keys[0].agency = "000.00.00.G03");
    S_FIELD("att[1].enc: one key fewer", fx->enc.nkeys = 2);
    S_FIELD("att[1].enc absent", fx->att[1].enc = NULL);
    S_FIELD("att: one fewer", doc->natt = 1);
    S_FIELD("att: order", (fx->att[0] = fx->att[1], fx->att[1] = first));
#undef S_FIELD
    return false;
}

static void s_test_doc_sign_verify(void **state)
{
    (void) state;
    s_doc_fx_t fx;
    s_doc_fx(&fx, PROTO_OP_NEW);
    uint8_t sig[PROTO_SIG_LEN];
    assert_int_equal(proto_doc_sign(&fx.doc, s_agency, sig), PROTO_OK);
    assert_int_equal(proto_doc_verify(&fx.doc, s_pk(s_agency), sig), PROTO_OK);
    //  Ed25519 is deterministic: the same bytes give the same signature.
    uint8_t again[PROTO_SIG_LEN];
    assert_int_equal(proto_doc_sign(&fx.doc, s_agency, again), PROTO_OK);
    assert_memory_equal(sig, again, sizeof sig);

    //  The canonical bytes are what is signed, with the identity's key.
    proto_buf_t canonical;
    s_doc_canonical(&fx.doc, &canonical);
    assert_int_equal(
        crypto_sign_verify_detached(sig, canonical.data, canonical.len, s_pk(s_agency)), 0);
    proto_buf_free(&canonical);

    assert_int_equal(proto_doc_verify(&fx.doc, s_pk(s_other), sig), PROTO_ERR_BAD_SIGNATURE);
    assert_int_equal(proto_doc_verify(&fx.doc, s_pk(s_broker), sig), PROTO_ERR_BAD_SIGNATURE);
    for (size_t byte = 0; byte < PROTO_SIG_LEN; byte++)
        for (int bit = 0; bit < 8; bit += 3) {
            memcpy(again, sig, sizeof sig);
            again[byte] ^= (uint8_t) (1u << bit);
            assert_int_equal(proto_doc_verify(&fx.doc, s_pk(s_agency), again),
                             PROTO_ERR_BAD_SIGNATURE);
        }
    memset(again, 0, sizeof again);
    assert_int_equal(proto_doc_verify(&fx.doc, s_pk(s_agency), again), PROTO_ERR_BAD_SIGNATURE);

    //  Through the wire: the receiver verifies the decoded struct.
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_SUBMIT;
    msg.u.document.doc = fx.doc;
    memcpy(msg.u.document.sig, sig, sizeof sig);
    proto_msg_t *decoded = s_through_wire(&msg);
    assert_int_equal(
        proto_doc_verify(&decoded->u.document.doc, s_pk(s_agency), decoded->u.document.sig),
        PROTO_OK);
    proto_msg_destroy(&decoded);
}

static void s_test_doc_every_field_signed(void **state)
{
    (void) state;
    s_doc_fx_t fx;
    s_doc_fx(&fx, PROTO_OP_REVOKE);
    uint8_t sig[PROTO_SIG_LEN], hash[PROTO_HASH_LEN];
    assert_int_equal(proto_doc_sign(&fx.doc, s_agency, sig), PROTO_OK);
    assert_int_equal(proto_doc_hash(&fx.doc, hash), PROTO_OK);
    int count = 0;
    for (int i = 0;; i++) {
        const char *what = NULL;
        s_doc_fx(&fx, PROTO_OP_REVOKE);
        assert_int_equal(proto_doc_verify(&fx.doc, s_pk(s_agency), sig), PROTO_OK);
        if (!s_doc_change(&fx, i, &what))
            break;
        proto_err_t rc = proto_doc_verify(&fx.doc, s_pk(s_agency), sig);
        uint8_t changed[PROTO_HASH_LEN];
        assert_int_equal(proto_doc_hash(&fx.doc, changed), PROTO_OK);
        if (rc != PROTO_ERR_BAD_SIGNATURE || memcmp(changed, hash, sizeof hash) == 0) {
            print_error("changing %s: verify gives %s, hash %s\n", what, proto_errname(rc),
                        memcmp(changed, hash, sizeof hash) ? "changed" : "unchanged");
            fail();
        }
        count++;
    }
    assert_true(count >= 65);
}

// ---------------------------------------------------------------------------
//  Notices, heads, directories

static void s_notice_fx(proto_notice_t *n)
{
    memset(n, 0, sizeof *n);
    s_fill(n->id.bytes, PROTO_ID_LEN, 60);
    s_fill(n->doc.bytes, PROTO_ID_LEN, 61);
    n->from = S_AGENCY;
    n->to = "000.05.01.H01";
    n->code = 3;
    n->time = S_T0 + 200;
    n->note = "Đã tiếp nhận";
    n->staff.name = "Trần Thị B";
    n->staff.department = "Văn phòng";
    n->staff.phone = "+84 24 1234 5678";
    n->staff.email = "vanthu@example.gov.vn";
}

static bool s_notice_change(proto_notice_t *n, int i, const char **what)
{
    int k = 0;
#define S_FIELD(name, change)                                                                      \
    if (i == k++) {                                                                                \
        *what = name;                                                                              \
        change;                                                                                    \
        return true;                                                                               \
    }
    S_FIELD("id", n->id.bytes[0] ^= 1);
    S_FIELD("doc", n->doc.bytes[15] ^= 1);
    S_FIELD("from", n->from = "000.00.02.H01");
    S_FIELD("to", n->to = "000.05.02.H01");
    S_FIELD("code", n->code = 4);
    S_FIELD("time", n->time++);
    S_FIELD("note", n->note = "Đã tiếp nhận.");
    S_FIELD("note absent", n->note = NULL);
    S_FIELD("staff.name", n->staff.name = "Trần Thị C");
    S_FIELD("staff.department", n->staff.department = "Văn phòng 2");
    S_FIELD("staff.phone", n->staff.phone = "+84 24 1234 5679");
    S_FIELD("staff.email", n->staff.email = "vanthu2@example.gov.vn");
    S_FIELD("staff.email absent", n->staff.email = NULL);
#undef S_FIELD
    return false;
}

static void s_test_notice_sign_verify(void **state)
{
    (void) state;
    proto_notice_t n;
    s_notice_fx(&n);
    uint8_t sig[PROTO_SIG_LEN];
    assert_int_equal(proto_notice_sign(&n, s_agency, sig), PROTO_OK);
    assert_int_equal(proto_notice_verify(&n, s_pk(s_agency), sig), PROTO_OK);
    assert_int_equal(proto_notice_verify(&n, s_pk(s_other), sig), PROTO_ERR_BAD_SIGNATURE);
    proto_buf_t buf;
    proto_buf_init(&buf);
    assert_int_equal(proto_notice_canonical(&n, &buf), PROTO_OK);
    s_assert_canonical_shape(&buf, "truc/status/1", 9);
    uint8_t hash[PROTO_HASH_LEN], want[PROTO_HASH_LEN];
    assert_int_equal(proto_notice_hash(&n, hash), PROTO_OK);
    crypto_generichash(want, sizeof want, buf.data, buf.len, NULL, 0);
    assert_memory_equal(hash, want, sizeof hash);
    proto_buf_free(&buf);

    int count = 0;
    for (int i = 0;; i++) {
        const char *what = NULL;
        s_notice_fx(&n);
        if (!s_notice_change(&n, i, &what))
            break;
        if (proto_notice_verify(&n, s_pk(s_agency), sig) != PROTO_ERR_BAD_SIGNATURE) {
            print_error("changing notice %s still verifies\n", what);
            fail();
        }
        count++;
    }
    assert_int_equal(count, 13);

    //  Through the wire inside a STATUS.
    s_notice_fx(&n);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_STATUS;
    msg.u.status.notice = n;
    memcpy(msg.u.status.sig, sig, sizeof sig);
    proto_msg_t *decoded = s_through_wire(&msg);
    assert_int_equal(
        proto_notice_verify(&decoded->u.status.notice, s_pk(s_agency), decoded->u.status.sig),
        PROTO_OK);
    proto_msg_destroy(&decoded);
}

static void s_test_head_sign_verify(void **state)
{
    (void) state;
    proto_head_t head = { .signer = S_BROKER, .time = S_T0, .size = 1000 };
    s_fill(head.root, PROTO_HASH_LEN, 9);
    uint8_t sig[PROTO_SIG_LEN];
    assert_int_equal(proto_head_sign(&head, s_broker, sig), PROTO_OK);
    assert_int_equal(proto_head_verify(&head, s_pk(s_broker), sig), PROTO_OK);
    assert_int_equal(proto_head_verify(&head, s_pk(s_agency), sig), PROTO_ERR_BAD_SIGNATURE);
    proto_buf_t buf;
    proto_buf_init(&buf);
    assert_int_equal(proto_head_canonical(&head, &buf), PROTO_OK);
    s_assert_canonical_shape(&buf, "truc/head/1", 5);
    proto_buf_free(&buf);

    proto_head_t changed = head;
    changed.signer = "truc-broker2";
    assert_int_equal(proto_head_verify(&changed, s_pk(s_broker), sig), PROTO_ERR_BAD_SIGNATURE);
    changed = head;
    changed.time++;
    assert_int_equal(proto_head_verify(&changed, s_pk(s_broker), sig), PROTO_ERR_BAD_SIGNATURE);
    changed = head;
    changed.size = 1001;
    assert_int_equal(proto_head_verify(&changed, s_pk(s_broker), sig), PROTO_ERR_BAD_SIGNATURE);
    for (int byte = 0; byte < PROTO_HASH_LEN; byte++) {
        changed = head;
        changed.root[byte] ^= 0x40;
        assert_int_equal(proto_head_verify(&changed, s_pk(s_broker), sig), PROTO_ERR_BAD_SIGNATURE);
    }

    //  A recipient agency signs the heads of its DELIVERED receipts.
    head.signer = S_AGENCY;
    assert_int_equal(proto_head_sign(&head, s_agency, sig), PROTO_OK);
    assert_int_equal(proto_head_verify(&head, s_pk(s_agency), sig), PROTO_OK);
}

typedef struct {
    proto_directory_msg_t dir;
    proto_dir_entry_t entries[3];
} s_dir_fx_t;

static void s_dir_fx(s_dir_fx_t *fx)
{
    memset(fx, 0, sizeof *fx);
    static const char *const codes[3] = { "000.00.00.G01", S_AGENCY, "000.05.01.H01" };
    static const char *const names[3] = { "Bộ Thông tin và Truyền thông",
                                          "Ủy ban nhân dân tỉnh Hà Giang",
                                          "Sở Thông tin và Truyền thông Hà Giang" };
    for (int i = 0; i < 3; i++) {
        fx->entries[i].code = codes[i];
        fx->entries[i].name = names[i];
        s_fill(fx->entries[i].key, PROTO_KEY_LEN, (uint8_t) (70 + i));
        fx->entries[i].state = (uint8_t) i;
        fx->entries[i].valid_from = 1700000000u + (unsigned) i;
        fx->entries[i].valid_until = 1900000000u + (unsigned) i;
    }
    fx->dir.serial = 7;
    fx->dir.time = S_T0;
    fx->dir.broker = S_BROKER;
    fx->dir.entries = fx->entries;
    fx->dir.nentries = 3;
}

static bool s_dir_change(s_dir_fx_t *fx, int i, const char **what)
{
    int k = 0;
#define S_FIELD(name, change)                                                                      \
    if (i == k++) {                                                                                \
        *what = name;                                                                              \
        change;                                                                                    \
        return true;                                                                               \
    }
    S_FIELD("serial", fx->dir.serial++);
    S_FIELD("time", fx->dir.time--);
    S_FIELD("broker", fx->dir.broker = "truc-broker-2");
    S_FIELD("one entry fewer", fx->dir.nentries = 2);
    for (int e = 0; e < 3; e++) {
        S_FIELD("code", fx->entries[e].code = "000.00.09.Z99");
        S_FIELD("name", fx->entries[e].name = "Cơ quan khác");
        S_FIELD("key", fx->entries[e].key[e] ^= 1);
        S_FIELD("state", fx->entries[e].state = (uint8_t) ((fx->entries[e].state + 1) % 3));
        S_FIELD("valid_from", fx->entries[e].valid_from = 0);
        S_FIELD("valid_until", fx->entries[e].valid_until += 1);
    }
#undef S_FIELD
    return false;
}

static void s_test_directory_sign_verify(void **state)
{
    (void) state;
    s_dir_fx_t fx;
    s_dir_fx(&fx);
    uint8_t sig[PROTO_SIG_LEN];
    assert_int_equal(proto_directory_sign(&fx.dir, s_broker, sig), PROTO_OK);
    assert_int_equal(proto_directory_verify(&fx.dir, s_pk(s_broker), sig), PROTO_OK);
    assert_int_equal(proto_directory_verify(&fx.dir, s_pk(s_agency), sig), PROTO_ERR_BAD_SIGNATURE);
    proto_buf_t buf;
    proto_buf_init(&buf);
    assert_int_equal(proto_directory_canonical(&fx.dir, &buf), PROTO_OK);
    s_assert_canonical_shape(&buf, "truc/directory/1", 5);
    proto_buf_free(&buf);

    int count = 0;
    for (int i = 0;; i++) {
        const char *what = NULL;
        s_dir_fx(&fx);
        if (!s_dir_change(&fx, i, &what))
            break;
        if (proto_directory_verify(&fx.dir, s_pk(s_broker), sig) != PROTO_ERR_BAD_SIGNATURE) {
            print_error("changing directory change #%d (%s) still verifies\n", i, what);
            fail();
        }
        count++;
    }
    assert_int_equal(count, 4 + 3 * 6);

    //  The signature lives outside the signed bytes.
    s_dir_fx(&fx);
    memcpy(fx.dir.sig, sig, sizeof sig);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DIRECTORY;
    msg.u.directory = fx.dir;
    proto_msg_t *decoded = s_through_wire(&msg);
    assert_int_equal(
        proto_directory_verify(&decoded->u.directory, s_pk(s_broker), decoded->u.directory.sig),
        PROTO_OK);
    proto_msg_destroy(&decoded);
}

// ---------------------------------------------------------------------------
//  Who may sign, and what a signature means

static void s_test_not_authorized(void **state)
{
    (void) state;
    uint8_t sig[PROTO_SIG_LEN], untouched[PROTO_SIG_LEN];
    memset(untouched, 0xa5, sizeof untouched);

    s_doc_fx_t fx;
    s_doc_fx(&fx, PROTO_OP_NEW);
    fx.doc.from = "000.05.01.H01"; // someone else's document
    memcpy(sig, untouched, sizeof sig);
    assert_int_equal(proto_doc_sign(&fx.doc, s_agency, sig), PROTO_ERR_NOT_AUTHORIZED);
    assert_memory_equal(sig, untouched, sizeof sig);
    assert_int_equal(proto_doc_sign(&fx.doc, s_broker, sig), PROTO_ERR_NOT_AUTHORIZED);
    assert_int_equal(proto_doc_sign(&fx.doc, NULL, sig), PROTO_ERR_NOT_AUTHORIZED);
    fx.doc.from = NULL;
    assert_int_equal(proto_doc_sign(&fx.doc, s_agency, sig), PROTO_ERR_NOT_AUTHORIZED);
    //  A prefix or a longer name is not the same name.
    fx.doc.from = "000.00.01.H0";
    assert_int_equal(proto_doc_sign(&fx.doc, s_agency, sig), PROTO_ERR_NOT_AUTHORIZED);
    fx.doc.from = "000.00.01.H011";
    assert_int_equal(proto_doc_sign(&fx.doc, s_agency, sig), PROTO_ERR_NOT_AUTHORIZED);
    //  The rightful owner may.
    fx.doc.from = "000.05.01.H01";
    assert_int_equal(proto_doc_sign(&fx.doc, s_other, sig), PROTO_OK);
    assert_int_equal(proto_doc_verify(&fx.doc, s_pk(s_other), sig), PROTO_OK);

    proto_notice_t n;
    s_notice_fx(&n);
    n.from = "000.05.01.H01";
    memcpy(sig, untouched, sizeof sig);
    assert_int_equal(proto_notice_sign(&n, s_agency, sig), PROTO_ERR_NOT_AUTHORIZED);
    assert_memory_equal(sig, untouched, sizeof sig);
    assert_int_equal(proto_notice_sign(&n, NULL, sig), PROTO_ERR_NOT_AUTHORIZED);

    proto_head_t head = { .signer = S_BROKER, .time = S_T0, .size = 1 };
    assert_int_equal(proto_head_sign(&head, s_agency, sig), PROTO_ERR_NOT_AUTHORIZED);
    head.signer = "other-broker";
    assert_int_equal(proto_head_sign(&head, s_broker, sig), PROTO_ERR_NOT_AUTHORIZED);
    assert_memory_equal(sig, untouched, sizeof sig);

    s_dir_fx_t dir;
    s_dir_fx(&dir);
    dir.dir.broker = "other-broker";
    assert_int_equal(proto_directory_sign(&dir.dir, s_broker, sig), PROTO_ERR_NOT_AUTHORIZED);
    dir.dir.broker = S_BROKER;
    assert_int_equal(proto_directory_sign(&dir.dir, s_agency, sig), PROTO_ERR_NOT_AUTHORIZED);
    assert_memory_equal(sig, untouched, sizeof sig);
}

//  A signature over one object type never verifies as another, even when
//  signer and key are the same.
static void s_test_domain_separation(void **state)
{
    (void) state;
    s_doc_fx_t fx;
    s_doc_fx(&fx, PROTO_OP_NEW);
    uint8_t doc_sig[PROTO_SIG_LEN], head_sig[PROTO_SIG_LEN], notice_sig[PROTO_SIG_LEN];
    assert_int_equal(proto_doc_sign(&fx.doc, s_agency, doc_sig), PROTO_OK);

    proto_head_t head = { .signer = S_AGENCY, .time = fx.doc.created, .size = 1 };
    assert_int_equal(proto_doc_hash(&fx.doc, head.root), PROTO_OK);
    assert_int_equal(proto_head_sign(&head, s_agency, head_sig), PROTO_OK);
    proto_notice_t n;
    s_notice_fx(&n);
    assert_int_equal(proto_notice_sign(&n, s_agency, notice_sig), PROTO_OK);
    s_dir_fx_t dir;
    s_dir_fx(&dir);
    dir.dir.broker = S_AGENCY; // an agency code is a valid label, still not a directory
    const uint8_t *pk = s_pk(s_agency);

    assert_int_equal(proto_head_verify(&head, pk, doc_sig), PROTO_ERR_BAD_SIGNATURE);
    assert_int_equal(proto_notice_verify(&n, pk, doc_sig), PROTO_ERR_BAD_SIGNATURE);
    assert_int_equal(proto_directory_verify(&dir.dir, pk, doc_sig), PROTO_ERR_BAD_SIGNATURE);
    assert_int_equal(proto_doc_verify(&fx.doc, pk, head_sig), PROTO_ERR_BAD_SIGNATURE);
    assert_int_equal(proto_doc_verify(&fx.doc, pk, notice_sig), PROTO_ERR_BAD_SIGNATURE);
    assert_int_equal(proto_head_verify(&head, pk, notice_sig), PROTO_ERR_BAD_SIGNATURE);

    //  The domain strings are the first element and all differ; a raw
    //  signature over the bare fields without them does not verify.
    proto_buf_t buf;
    proto_buf_init(&buf);
    assert_int_equal(proto_head_canonical(&head, &buf), PROTO_OK);
    size_t domain_len = 1 + strlen("truc/head/1");
    assert_int_equal(buf.data[0], 0x95);
    uint8_t bare_sig[PROTO_SIG_LEN];
    uint8_t *bare = malloc(buf.len);
    assert_non_null(bare);
    bare[0] = 0x94;
    memcpy(bare + 1, buf.data + 1 + domain_len, buf.len - 1 - domain_len);
    assert_int_equal(proto_identity_sign(s_agency, bare, buf.len - domain_len, bare_sig), PROTO_OK);
    assert_int_equal(proto_head_verify(&head, pk, bare_sig), PROTO_ERR_BAD_SIGNATURE);
    free(bare);

    proto_leaf_t leaf;
    memset(&leaf, 0, sizeof leaf);
    leaf.event = PROTO_EVENT_ACCEPTED;
    leaf.from = S_AGENCY;
    assert_int_equal(proto_leaf_canonical(&leaf, &buf), PROTO_OK);
    s_assert_canonical_shape(&buf, "truc/leaf/1", 10);
    proto_buf_free(&buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s_test_canonical_deterministic),
        cmocka_unit_test(s_test_canonical_unordered_sets),
        cmocka_unit_test(s_test_canonical_empty_is_absent),
        cmocka_unit_test(s_test_doc_sign_verify),
        cmocka_unit_test(s_test_doc_every_field_signed),
        cmocka_unit_test(s_test_notice_sign_verify),
        cmocka_unit_test(s_test_head_sign_verify),
        cmocka_unit_test(s_test_directory_sign_verify),
        cmocka_unit_test(s_test_not_authorized),
        cmocka_unit_test(s_test_domain_separation),
    };
    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
