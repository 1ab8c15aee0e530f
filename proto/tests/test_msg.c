/*  test_msg.c - the wire codec: headers, ids, bodies of every kind.

    Three parts. First the easy half: headers, ids, and a round trip of a
    realistic struct of every kind through proto_msg_encode and
    proto_msg_decode, field by field. Then the strictness matrix: valid bodies
    are unpacked into a msgpack-c object tree, one thing is changed (a value
    replaced, a key removed or repeated), the tree is packed again and the
    decoder must answer with one exact proto_err_t and field path. Hand-made
    byte arrays cover what a tree cannot express (truncation, lying lengths,
    reserved bytes, trailing bytes). Last, the resource bounds: the decoder
    must refuse lying lengths before msgpack-c allocates anything, and the
    memory a decoded message holds must stay a small multiple of the body.

    The test binary is linked with --wrap for msgpack_unpack_next and the
    allocator, so it can count what a decode call does.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <msgpack.h>
#include <sodium.h>

#include "arena.h"
#include "proto/agency.h"
#include "proto/msg.h"

// ---------------------------------------------------------------------------
//  Counting wrappers (see the link options in proto/CMakeLists.txt)

static bool s_counting;
static size_t s_allocs;             // malloc/calloc/realloc calls from truc_proto and this file
static size_t s_unpacks;            // times msgpack-c was asked to build an object tree
static size_t s_fail_at = SIZE_MAX; // while counting, this allocation fails

//  Count one allocation; true if it is the one that must fail.
static bool s_alloc_fails(void)
{
    if (!s_counting)
        return false;
    return s_allocs++ == s_fail_at;
}

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *ptr, size_t size);
msgpack_unpack_return __real_msgpack_unpack_next(msgpack_unpacked *result, const char *data,
                                                 size_t len, size_t *off);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *ptr, size_t size);
msgpack_unpack_return __wrap_msgpack_unpack_next(msgpack_unpacked *result, const char *data,
                                                 size_t len, size_t *off);

void *__wrap_malloc(size_t size)
{
    if (s_alloc_fails())
        return NULL;
    return __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (s_alloc_fails())
        return NULL;
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *ptr, size_t size)
{
    if (s_alloc_fails())
        return NULL;
    return __real_realloc(ptr, size);
}

msgpack_unpack_return __wrap_msgpack_unpack_next(msgpack_unpacked *result, const char *data,
                                                 size_t len, size_t *off)
{
    if (s_counting)
        s_unpacks++;
    return __real_msgpack_unpack_next(result, data, len, off);
}

// ---------------------------------------------------------------------------
//  Fixtures: one realistic struct per kind

#define S_T0 1767225600123ull // 2026-01-01T00:00:00.123Z

static const proto_kind_t s_all_kinds[] = {
    PROTO_KIND_HELLO,     PROTO_KIND_READY,     PROTO_KIND_HEARTBEAT,
    PROTO_KIND_CREDIT,    PROTO_KIND_SUBMIT,    PROTO_KIND_REVOKE,
    PROTO_KIND_UPDATE,    PROTO_KIND_REPLACE,   PROTO_KIND_ACCEPTED,
    PROTO_KIND_REJECTED,  PROTO_KIND_EXPIRED,   PROTO_KIND_DELIVER,
    PROTO_KIND_DELIVERED, PROTO_KIND_ACK,       PROTO_KIND_STATUS,
    PROTO_KIND_DIRECTORY, PROTO_KIND_ERROR,     PROTO_KIND_DIRECTORY_DELTA,
    PROTO_KIND_FORWARD,   PROTO_KIND_LOG_PROVE, PROTO_KIND_LOG_PROOF,
};
#define S_NKINDS (sizeof s_all_kinds / sizeof s_all_kinds[0])

typedef struct {
    proto_msg_t msg;
    //  Storage the structs point into.
    const char *to[3];
    const char *places[2];
    proto_ref_t refs[2];
    proto_id_t op_refs[2];
    proto_hop_t trace[2];
    proto_kv_t ext[3];
    proto_attachment_t att[2];
    proto_enc_t enc;
    proto_sealed_key_t keys[3];
    uint8_t versions[2];
    proto_item_t items[2];
    uint8_t paths[2][3][PROTO_HASH_LEN];
    uint64_t mids[3];
    proto_dir_entry_t entries[4];
    const char *removed[2];
    uint8_t inner[8192]; // FORWARD: the SUBMIT body it carries
    const char *fwd_to[2];
    proto_fwd_hop_t hops[2];
} s_fx_t;

static void s_fixture(s_fx_t *fx, proto_kind_t kind);

//  Deterministic bytes that differ per use.
static void s_fill(void *out, size_t len, uint8_t seed)
{
    uint8_t *p = out;
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t) (seed * 31u + i * 7u + 1u);
}

static void s_doc_fixture(s_fx_t *fx, proto_doc_t *doc, proto_op_t op)
{
    s_fill(doc->id.bytes, PROTO_ID_LEN, 1);
    doc->from = "000.00.01.H01";
    fx->to[0] = "000.00.00.G01";
    fx->to[1] = "000.05.01.H01";
    fx->to[2] = "001.05.01.H01";
    doc->to = fx->to;
    doc->nto = 3;
    doc->created = S_T0;
    doc->doc_type = "Công văn";
    doc->subject = "V/v triển khai hệ thống trao đổi văn bản điện tử liên thông";
    doc->code_number = "123";
    doc->code_notation = "UBND-VP";
    doc->place = "Hà Giang";
    doc->date = "2026-01-15";
    doc->due = "2026-02-28";
    doc->content = "Đề nghị các cơ quan, đơn vị triển khai trước ngày 28/02/2026.";
    doc->sphere = "Toàn tỉnh";
    doc->typist = "NVA";
    doc->signer.name = "Nguyễn Văn A";
    doc->signer.position = "Chủ tịch";
    doc->signer.competence = "TM.";
    doc->urgency = PROTO_URGENCY_VERY_URGENT;
    doc->secrecy = 1;
    doc->steering = 3;
    doc->pages = 4;
    doc->copies = 10;
    doc->appendixes = 1;
    fx->places[0] = "Như trên";
    fx->places[1] = "Lưu: VT, VP";
    doc->places = fx->places;
    doc->nplaces = 2;
    fx->refs[0].agency = "000.00.00.G01";
    fx->refs[0].code = "45/BTTTT-CĐSQG";
    fx->refs[0].date = "2025-12-20";
    fx->refs[0].has_doc = true;
    s_fill(fx->refs[0].doc.bytes, PROTO_ID_LEN, 2);
    fx->refs[1].agency = "000.05.01.H01";
    doc->response_for = fx->refs;
    doc->nresponse_for = 2;
    doc->op = (uint8_t) op;
    if (op != PROTO_OP_NEW) {
        doc->op_reason = "Thu hồi do sai sót về thể thức";
        s_fill(fx->op_refs[0].bytes, PROTO_ID_LEN, 3);
        s_fill(fx->op_refs[1].bytes, PROTO_ID_LEN, 4);
        doc->op_refs = fx->op_refs;
        doc->nop_refs = 2;
    }
    fx->trace[0].agency = "000.00.01.H01";
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
    fx->att[0].name = "Công văn 123.pdf";
    fx->att[0].type = "application/pdf";
    fx->att[0].size = 123456;
    s_fill(fx->att[0].hash, PROTO_HASH_LEN, 5);
    fx->att[1].name = "Phụ lục.docx";
    fx->att[1].type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    fx->att[1].size = 999;
    s_fill(fx->att[1].hash, PROTO_HASH_LEN, 6);
    fx->enc.alg = "xchacha20poly1305-secretstream+sealbox";
    s_fill(fx->enc.header, sizeof fx->enc.header, 7);
    fx->enc.chunk = 65536;
    for (int i = 0; i < 3; i++) {
        fx->keys[i].agency = fx->to[2 - i]; // order differs from `to` on purpose
        s_fill(fx->keys[i].sealed, PROTO_SEALED_KEY_LEN, (uint8_t) (8 + i));
    }
    fx->enc.keys = fx->keys;
    fx->enc.nkeys = 3;
    fx->att[1].enc = &fx->enc;
    doc->att = fx->att;
    doc->natt = 2;
}

static void s_leaf_fixture(proto_leaf_t *leaf, uint8_t event, uint8_t seed)
{
    leaf->event = event;
    s_fill(leaf->id.bytes, PROTO_ID_LEN, seed);
    s_fill(leaf->hash, PROTO_HASH_LEN, (uint8_t) (seed + 1));
    leaf->from = "000.00.01.H01";
    leaf->time = S_T0 + seed;
    leaf->seq = 1000u + seed;
    if (event >= PROTO_EVENT_DELIVERED)
        leaf->to = "000.05.01.H01";
    if (event == PROTO_EVENT_REJECTED) {
        leaf->code = PROTO_ERR_UNKNOWN_AGENCY;
        leaf->to = "001.05.01.H01";
        leaf->reason = "Cơ quan nhận không có trong danh bạ";
    }
    if (event == PROTO_EVENT_REFUSED) {
        leaf->code = PROTO_ERR_HASH_MISMATCH;
        leaf->reason = "Tệp đính kèm không khớp";
    }
}

static void s_receipts_fixture(s_fx_t *fx, proto_kind_t kind)
{
    proto_receipts_t *r = &fx->msg.u.receipts;
    uint8_t events[2];
    r->head.signer = "truc-broker";
    switch (kind) {
    case PROTO_KIND_ACCEPTED:
        events[0] = events[1] = PROTO_EVENT_ACCEPTED;
        break;
    case PROTO_KIND_REJECTED:
        events[0] = events[1] = PROTO_EVENT_REJECTED;
        r->mid = 9;
        break;
    case PROTO_KIND_EXPIRED:
        events[0] = PROTO_EVENT_EXPIRED;
        events[1] = PROTO_EVENT_RETURNED;
        r->mid = 10;
        break;
    default:
        events[0] = PROTO_EVENT_DELIVERED;
        events[1] = PROTO_EVENT_REFUSED;
        r->head.signer = "000.05.01.H01"; // a recipient signs its own receipts
        r->mid = 11;
        break;
    }
    r->head.time = S_T0 + 100;
    r->head.size = 5;
    s_fill(r->head.root, PROTO_HASH_LEN, 20);
    s_fill(r->sig, PROTO_SIG_LEN, 21);
    for (int i = 0; i < 2; i++) {
        s_leaf_fixture(&fx->items[i].leaf, events[i], (uint8_t) (30 + i));
        fx->items[i].index = i == 0 ? 0 : 4;
        for (int k = 0; k < 3; k++)
            s_fill(fx->paths[i][k], PROTO_HASH_LEN, (uint8_t) (40 + 3 * i + k));
        fx->items[i].path = fx->paths[i];
        fx->items[i].npath = i == 0 ? 3 : 1;
    }
    r->items = fx->items;
    r->nitems = 2;
}

static void s_fixture(s_fx_t *fx, proto_kind_t kind)
{
    memset(fx, 0, sizeof *fx);
    fx->msg.kind = kind;
    switch (kind) {
    case PROTO_KIND_HELLO: {
        proto_hello_t *h = &fx->msg.u.hello;
        fx->versions[0] = 1;
        fx->versions[1] = 2;
        h->versions = fx->versions;
        h->nversions = 2;
        h->agency = "000.00.01.H01";
        h->software = "truc-agent/0.1.0";
        h->dir_serial = 42;
        h->log = true;
        h->window = 64;
        break;
    }
    case PROTO_KIND_READY: {
        proto_ready_t *r = &fx->msg.u.ready;
        r->version = 1;
        r->broker = "truc-broker";
        r->agency = "000.00.01.H01";
        r->time = S_T0;
        r->heartbeat = 5000;
        r->dir_serial = 42;
        r->max_frame = 64u << 20;
        r->max_document = 1u << 30;
        r->max_recipients = PROTO_MAX_RECIPIENTS;
        r->max_attachments = PROTO_MAX_ATTACHMENTS;
        r->has_log = true;
        r->log = (proto_sth_t){ .signer = "truc-broker", .time = S_T0 - 1, .size = 77 };
        s_fill(r->log.root, PROTO_HASH_LEN, 60);
        s_fill(r->log.sig, PROTO_SIG_LEN, 61);
        break;
    }
    case PROTO_KIND_LOG_PROVE:
        fx->msg.u.log_prove.from = 65;
        break;
    case PROTO_KIND_LOG_PROOF: {
        proto_log_proof_t *p = &fx->msg.u.log_proof;
        p->sth = (proto_sth_t){ .signer = "truc-broker", .time = S_T0 + 9, .size = 100 };
        s_fill(p->sth.root, PROTO_HASH_LEN, 62);
        s_fill(p->sth.sig, PROTO_SIG_LEN, 63);
        p->from = 65;
        for (int k = 0; k < 3; k++)
            s_fill(fx->paths[0][k], PROTO_HASH_LEN, (uint8_t) (64 + k));
        p->proof = fx->paths[0];
        p->nproof = 3;
        break;
    }
    case PROTO_KIND_HEARTBEAT:
        fx->msg.u.heartbeat.time = S_T0;
        break;
    case PROTO_KIND_CREDIT:
        fx->msg.u.credit.window = 128;
        break;
    case PROTO_KIND_SUBMIT:
    case PROTO_KIND_REVOKE:
    case PROTO_KIND_UPDATE:
    case PROTO_KIND_REPLACE:
    case PROTO_KIND_DELIVER: {
        proto_document_t *d = &fx->msg.u.document;
        proto_op_t op = kind == PROTO_KIND_REVOKE    ? PROTO_OP_REVOKE
                        : kind == PROTO_KIND_UPDATE  ? PROTO_OP_UPDATE
                        : kind == PROTO_KIND_REPLACE ? PROTO_OP_REPLACE
                                                     : PROTO_OP_NEW;
        s_doc_fixture(fx, &d->doc, op);
        s_fill(d->sig, PROTO_SIG_LEN, 50);
        if (kind == PROTO_KIND_DELIVER) {
            d->accepted = S_T0 + 5;
            d->seq = 1001;
            //  As it reaches an agency after one link: both brokers.
            fx->hops[0] = (proto_fwd_hop_t){ .broker = "province-h29", .time = S_T0 + 3 };
            fx->hops[1] = (proto_fwd_hop_t){ .broker = "national", .time = S_T0 + 5 };
            d->route = fx->hops;
            d->nroute = 2;
        }
        break;
    }
    case PROTO_KIND_ACCEPTED:
    case PROTO_KIND_REJECTED:
    case PROTO_KIND_EXPIRED:
    case PROTO_KIND_DELIVERED:
        s_receipts_fixture(fx, kind);
        break;
    case PROTO_KIND_ACK:
        fx->mids[0] = 1;
        fx->mids[1] = 2;
        fx->mids[2] = 1ull << 40;
        fx->msg.u.ack.mids = fx->mids;
        fx->msg.u.ack.nmids = 3;
        break;
    case PROTO_KIND_STATUS: {
        proto_status_t *s = &fx->msg.u.status;
        s->mid = 5;
        s_fill(s->notice.id.bytes, PROTO_ID_LEN, 60);
        s_fill(s->notice.doc.bytes, PROTO_ID_LEN, 61);
        s->notice.from = "000.05.01.H01";
        s->notice.to = "000.00.01.H01";
        s->notice.code = 3;
        s->notice.time = S_T0 + 200;
        s->notice.note = "Đã tiếp nhận, chuyển Phòng Tổng hợp xử lý";
        s->notice.staff.name = "Trần Thị B";
        s->notice.staff.department = "Văn phòng";
        s->notice.staff.phone = "+84 24 1234 5678";
        s->notice.staff.email = "vanthu@example.gov.vn";
        s_fill(s->sig, PROTO_SIG_LEN, 62);
        break;
    }
    case PROTO_KIND_DIRECTORY: {
        proto_directory_msg_t *d = &fx->msg.u.directory;
        static const char *const codes[4] = { "000.00.00.G01", "000.00.01.H01", "000.05.01.H01",
                                              "001.05.01.H01" };
        static const char *const names[4] = { "Bộ Thông tin và Truyền thông",
                                              "Ủy ban nhân dân tỉnh Hà Giang",
                                              "Sở Thông tin và Truyền thông Hà Giang",
                                              "Phòng Văn hóa huyện Đồng Văn" };
        d->serial = 7;
        d->time = S_T0 + 300;
        d->broker = "truc-broker";
        for (int i = 0; i < 4; i++) {
            fx->entries[i].code = codes[i];
            fx->entries[i].name = names[i];
            s_fill(fx->entries[i].key, PROTO_KEY_LEN, (uint8_t) (70 + i));
            fx->entries[i].state = (uint8_t) (i < 2 ? PROTO_AGENCY_ACTIVE : i - 1);
        }
        fx->entries[1].valid_from = 1700000000;
        fx->entries[1].valid_until = 1900000000;
        fx->entries[3].valid_until = 1800000000;
        d->entries = fx->entries;
        d->nentries = 4;
        s_fill(d->sig, PROTO_SIG_LEN, 80);
        break;
    }
    case PROTO_KIND_DIRECTORY_DELTA: {
        proto_dir_delta_t *d = &fx->msg.u.delta;
        d->base = 7;
        d->serial = 9;
        d->time = S_T0 + 400;
        d->broker = "truc-broker";
        fx->entries[0].code = "000.00.01.H01";
        fx->entries[0].name = "Ủy ban nhân dân tỉnh Hà Giang";
        s_fill(fx->entries[0].key, PROTO_KEY_LEN, 71);
        fx->entries[0].state = PROTO_AGENCY_SUSPENDED;
        fx->entries[0].valid_until = 1900000000;
        d->entries = fx->entries;
        d->nentries = 1;
        fx->removed[0] = "000.05.01.H01";
        fx->removed[1] = "001.05.01.H01";
        d->removed = fx->removed;
        d->nremoved = 2;
        s_fill(d->sig, PROTO_SIG_LEN, 81);
        break;
    }
    case PROTO_KIND_ERROR: {
        proto_error_t *e = &fx->msg.u.error;
        e->code = PROTO_ERR_UNKNOWN_DOC;
        e->message = "Không tìm thấy văn bản";
        e->has_ref = true;
        s_fill(e->ref.bytes, PROTO_ID_LEN, 90);
        e->fatal = true;
        break;
    }
    case PROTO_KIND_FORWARD: {
        //  The SUBMIT fixture's body, carried for two of its recipients
        //  by a document that passed one broker before this hop.
        s_fx_t *sub = calloc(1, sizeof *sub);
        assert_non_null(sub);
        s_fixture(sub, PROTO_KIND_SUBMIT);
        proto_buf_t body;
        proto_buf_init(&body);
        assert_int_equal(proto_msg_encode(&sub->msg, &body, NULL), PROTO_OK);
        assert_true(body.len <= sizeof fx->inner);
        memcpy(fx->inner, body.data, body.len);
        proto_forward_t *f = &fx->msg.u.forward;
        f->kind = PROTO_KIND_SUBMIT;
        f->body = fx->inner;
        f->body_len = body.len;
        fx->fwd_to[0] = sub->msg.u.document.doc.to[0];
        fx->fwd_to[1] = sub->msg.u.document.doc.to[1];
        f->to = fx->fwd_to;
        f->nto = 2;
        fx->hops[0] = (proto_fwd_hop_t){ .broker = "province-h29", .time = S_T0 + 500 };
        fx->hops[1] = (proto_fwd_hop_t){ .broker = "national", .time = S_T0 + 501 };
        f->trace = fx->hops;
        f->ntrace = 2;
        proto_buf_free(&body);
        free(sub);
        break;
    }
    }
}

//  Encode the fixture of kind into buf (which the caller frees).
static void s_fixture_body(proto_kind_t kind, proto_buf_t *buf)
{
    s_fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    s_fixture(fx, kind);
    proto_errinfo_t info;
    proto_buf_init(buf);
    proto_err_t rc = proto_msg_encode(&fx->msg, buf, &info);
    if (rc != PROTO_OK) {
        print_error("fixture %s does not encode: %s at '%s': %s\n", proto_kind_name(kind),
                    proto_errname(rc), info.field, info.message);
        fail();
    }
    free(fx);
}

// ---------------------------------------------------------------------------
//  Comparing structs field by field

#define S_STR(a, b) s_assert_str(__LINE__, #a, (a), (b))

static void s_assert_str(int line, const char *what, const char *a, const char *b)
{
    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0)) {
        print_error("line %d: %s: '%s' != '%s'\n", line, what, a ? a : "(null)", b ? b : "(null)");
        fail();
    }
}

static void s_assert_doc_equal(const proto_doc_t *a, const proto_doc_t *b)
{
    assert_memory_equal(a->id.bytes, b->id.bytes, PROTO_ID_LEN);
    S_STR(a->from, b->from);
    assert_int_equal(a->nto, b->nto);
    for (uint32_t i = 0; i < a->nto; i++)
        S_STR(a->to[i], b->to[i]);
    assert_int_equal(a->created, b->created);
    S_STR(a->doc_type, b->doc_type);
    S_STR(a->subject, b->subject);
    S_STR(a->code_number, b->code_number);
    S_STR(a->code_notation, b->code_notation);
    S_STR(a->place, b->place);
    S_STR(a->date, b->date);
    S_STR(a->due, b->due);
    S_STR(a->content, b->content);
    S_STR(a->sphere, b->sphere);
    S_STR(a->typist, b->typist);
    S_STR(a->signer.name, b->signer.name);
    S_STR(a->signer.position, b->signer.position);
    S_STR(a->signer.competence, b->signer.competence);
    assert_int_equal(a->urgency, b->urgency);
    assert_int_equal(a->secrecy, b->secrecy);
    assert_int_equal(a->steering, b->steering);
    assert_int_equal(a->pages, b->pages);
    assert_int_equal(a->copies, b->copies);
    assert_int_equal(a->appendixes, b->appendixes);
    assert_int_equal(a->nplaces, b->nplaces);
    for (uint32_t i = 0; i < a->nplaces; i++)
        S_STR(a->places[i], b->places[i]);
    assert_int_equal(a->nresponse_for, b->nresponse_for);
    for (uint32_t i = 0; i < a->nresponse_for; i++) {
        const proto_ref_t *x = &a->response_for[i], *y = &b->response_for[i];
        S_STR(x->agency, y->agency);
        S_STR(x->code, y->code);
        S_STR(x->date, y->date);
        assert_int_equal(x->has_doc, y->has_doc);
        if (x->has_doc)
            assert_memory_equal(x->doc.bytes, y->doc.bytes, PROTO_ID_LEN);
    }
    assert_int_equal(a->op, b->op);
    S_STR(a->op_reason, b->op_reason);
    assert_int_equal(a->nop_refs, b->nop_refs);
    for (uint32_t i = 0; i < a->nop_refs; i++)
        assert_memory_equal(a->op_refs[i].bytes, b->op_refs[i].bytes, PROTO_ID_LEN);
    assert_int_equal(a->ntrace, b->ntrace);
    for (uint32_t i = 0; i < a->ntrace; i++) {
        S_STR(a->trace[i].agency, b->trace[i].agency);
        assert_int_equal(a->trace[i].time, b->trace[i].time);
    }
    assert_int_equal(a->next, b->next);
    for (uint32_t i = 0; i < a->next; i++) {
        S_STR(a->ext[i].key, b->ext[i].key);
        S_STR(a->ext[i].value, b->ext[i].value);
    }
    assert_int_equal(a->natt, b->natt);
    for (uint32_t i = 0; i < a->natt; i++) {
        const proto_attachment_t *x = &a->att[i], *y = &b->att[i];
        S_STR(x->name, y->name);
        S_STR(x->type, y->type);
        assert_int_equal(x->size, y->size);
        assert_memory_equal(x->hash, y->hash, PROTO_HASH_LEN);
        assert_int_equal(x->enc == NULL, y->enc == NULL);
        if (!x->enc)
            continue;
        S_STR(x->enc->alg, y->enc->alg);
        assert_memory_equal(x->enc->header, y->enc->header, sizeof x->enc->header);
        assert_int_equal(x->enc->chunk, y->enc->chunk);
        assert_int_equal(x->enc->nkeys, y->enc->nkeys);
        for (uint32_t k = 0; k < x->enc->nkeys; k++) {
            S_STR(x->enc->keys[k].agency, y->enc->keys[k].agency);
            assert_memory_equal(x->enc->keys[k].sealed, y->enc->keys[k].sealed,
                                PROTO_SEALED_KEY_LEN);
        }
    }
}

static void s_assert_leaf_equal(const proto_leaf_t *a, const proto_leaf_t *b)
{
    assert_int_equal(a->event, b->event);
    assert_memory_equal(a->id.bytes, b->id.bytes, PROTO_ID_LEN);
    assert_memory_equal(a->hash, b->hash, PROTO_HASH_LEN);
    S_STR(a->from, b->from);
    S_STR(a->to, b->to);
    assert_int_equal(a->time, b->time);
    assert_int_equal(a->seq, b->seq);
    assert_int_equal(a->code, b->code);
    S_STR(a->reason, b->reason);
}

static void s_assert_sth_equal(const proto_sth_t *a, const proto_sth_t *b)
{
    S_STR(a->signer, b->signer);
    assert_int_equal(a->time, b->time);
    assert_int_equal(a->size, b->size);
    assert_memory_equal(a->root, b->root, PROTO_HASH_LEN);
    assert_memory_equal(a->sig, b->sig, PROTO_SIG_LEN);
}

static void s_assert_msg_equal(const proto_msg_t *a, const proto_msg_t *b)
{
    assert_int_equal(a->kind, b->kind);
    switch (a->kind) {
    case PROTO_KIND_HELLO: {
        const proto_hello_t *x = &a->u.hello, *y = &b->u.hello;
        assert_int_equal(x->nversions, y->nversions);
        assert_memory_equal(x->versions, y->versions, x->nversions);
        S_STR(x->agency, y->agency);
        S_STR(x->software, y->software);
        assert_int_equal(x->dir_serial, y->dir_serial);
        assert_int_equal(x->window, y->window);
        assert_int_equal(x->log, y->log);
        break;
    }
    case PROTO_KIND_READY: {
        const proto_ready_t *x = &a->u.ready, *y = &b->u.ready;
        assert_int_equal(x->version, y->version);
        S_STR(x->broker, y->broker);
        S_STR(x->agency, y->agency);
        assert_int_equal(x->time, y->time);
        assert_int_equal(x->heartbeat, y->heartbeat);
        assert_int_equal(x->dir_serial, y->dir_serial);
        assert_int_equal(x->max_frame, y->max_frame);
        assert_int_equal(x->max_document, y->max_document);
        assert_int_equal(x->max_recipients, y->max_recipients);
        assert_int_equal(x->max_attachments, y->max_attachments);
        assert_int_equal(x->has_log, y->has_log);
        s_assert_sth_equal(&x->log, &y->log);
        break;
    }
    case PROTO_KIND_LOG_PROVE:
        assert_int_equal(a->u.log_prove.from, b->u.log_prove.from);
        break;
    case PROTO_KIND_LOG_PROOF: {
        const proto_log_proof_t *x = &a->u.log_proof, *y = &b->u.log_proof;
        s_assert_sth_equal(&x->sth, &y->sth);
        assert_int_equal(x->from, y->from);
        assert_int_equal(x->nproof, y->nproof);
        assert_memory_equal(x->proof, y->proof, (size_t) x->nproof * PROTO_HASH_LEN);
        break;
    }
    case PROTO_KIND_HEARTBEAT:
        assert_int_equal(a->u.heartbeat.time, b->u.heartbeat.time);
        break;
    case PROTO_KIND_CREDIT:
        assert_int_equal(a->u.credit.window, b->u.credit.window);
        break;
    case PROTO_KIND_SUBMIT:
    case PROTO_KIND_REVOKE:
    case PROTO_KIND_UPDATE:
    case PROTO_KIND_REPLACE:
    case PROTO_KIND_DELIVER: {
        const proto_document_t *x = &a->u.document, *y = &b->u.document;
        s_assert_doc_equal(&x->doc, &y->doc);
        assert_memory_equal(x->sig, y->sig, PROTO_SIG_LEN);
        assert_int_equal(x->accepted, y->accepted);
        assert_int_equal(x->seq, y->seq);
        assert_int_equal(x->nroute, y->nroute);
        for (uint32_t i = 0; i < x->nroute; i++) {
            assert_string_equal(x->route[i].broker, y->route[i].broker);
            assert_int_equal(x->route[i].time, y->route[i].time);
        }
        break;
    }
    case PROTO_KIND_ACCEPTED:
    case PROTO_KIND_REJECTED:
    case PROTO_KIND_EXPIRED:
    case PROTO_KIND_DELIVERED: {
        const proto_receipts_t *x = &a->u.receipts, *y = &b->u.receipts;
        assert_int_equal(x->mid, y->mid);
        S_STR(x->head.signer, y->head.signer);
        assert_int_equal(x->head.time, y->head.time);
        assert_int_equal(x->head.size, y->head.size);
        assert_memory_equal(x->head.root, y->head.root, PROTO_HASH_LEN);
        assert_memory_equal(x->sig, y->sig, PROTO_SIG_LEN);
        assert_int_equal(x->nitems, y->nitems);
        for (uint32_t i = 0; i < x->nitems; i++) {
            s_assert_leaf_equal(&x->items[i].leaf, &y->items[i].leaf);
            assert_int_equal(x->items[i].index, y->items[i].index);
            assert_int_equal(x->items[i].npath, y->items[i].npath);
            for (uint32_t k = 0; k < x->items[i].npath; k++)
                assert_memory_equal(x->items[i].path[k], y->items[i].path[k], PROTO_HASH_LEN);
        }
        break;
    }
    case PROTO_KIND_ACK:
        assert_int_equal(a->u.ack.nmids, b->u.ack.nmids);
        for (uint32_t i = 0; i < a->u.ack.nmids; i++)
            assert_int_equal(a->u.ack.mids[i], b->u.ack.mids[i]);
        break;
    case PROTO_KIND_STATUS: {
        const proto_status_t *x = &a->u.status, *y = &b->u.status;
        assert_int_equal(x->mid, y->mid);
        assert_memory_equal(x->notice.id.bytes, y->notice.id.bytes, PROTO_ID_LEN);
        assert_memory_equal(x->notice.doc.bytes, y->notice.doc.bytes, PROTO_ID_LEN);
        S_STR(x->notice.from, y->notice.from);
        S_STR(x->notice.to, y->notice.to);
        assert_int_equal(x->notice.code, y->notice.code);
        assert_int_equal(x->notice.time, y->notice.time);
        S_STR(x->notice.note, y->notice.note);
        S_STR(x->notice.staff.name, y->notice.staff.name);
        S_STR(x->notice.staff.department, y->notice.staff.department);
        S_STR(x->notice.staff.phone, y->notice.staff.phone);
        S_STR(x->notice.staff.email, y->notice.staff.email);
        assert_memory_equal(x->sig, y->sig, PROTO_SIG_LEN);
        break;
    }
    case PROTO_KIND_DIRECTORY: {
        const proto_directory_msg_t *x = &a->u.directory, *y = &b->u.directory;
        assert_int_equal(x->serial, y->serial);
        assert_int_equal(x->time, y->time);
        S_STR(x->broker, y->broker);
        assert_int_equal(x->nentries, y->nentries);
        for (uint32_t i = 0; i < x->nentries; i++) {
            const proto_dir_entry_t *p = &x->entries[i], *q = &y->entries[i];
            S_STR(p->code, q->code);
            S_STR(p->name, q->name);
            assert_memory_equal(p->key, q->key, PROTO_KEY_LEN);
            assert_int_equal(p->state, q->state);
            assert_int_equal(p->valid_from, q->valid_from);
            assert_int_equal(p->valid_until, q->valid_until);
        }
        assert_memory_equal(x->sig, y->sig, PROTO_SIG_LEN);
        break;
    }
    case PROTO_KIND_FORWARD: {
        const proto_forward_t *x = &a->u.forward, *y = &b->u.forward;
        assert_int_equal(x->kind, y->kind);
        assert_int_equal(x->body_len, y->body_len);
        assert_memory_equal(x->body, y->body, x->body_len);
        assert_int_equal(x->nto, y->nto);
        for (uint32_t i = 0; i < x->nto; i++)
            S_STR(x->to[i], y->to[i]);
        assert_int_equal(x->ntrace, y->ntrace);
        for (uint32_t i = 0; i < x->ntrace; i++) {
            S_STR(x->trace[i].broker, y->trace[i].broker);
            assert_int_equal(x->trace[i].time, y->trace[i].time);
        }
        break;
    }
    case PROTO_KIND_DIRECTORY_DELTA: {
        const proto_dir_delta_t *x = &a->u.delta, *y = &b->u.delta;
        assert_int_equal(x->base, y->base);
        assert_int_equal(x->serial, y->serial);
        assert_int_equal(x->time, y->time);
        S_STR(x->broker, y->broker);
        assert_int_equal(x->nentries, y->nentries);
        for (uint32_t i = 0; i < x->nentries; i++) {
            S_STR(x->entries[i].code, y->entries[i].code);
            S_STR(x->entries[i].name, y->entries[i].name);
            assert_memory_equal(x->entries[i].key, y->entries[i].key, PROTO_KEY_LEN);
            assert_int_equal(x->entries[i].state, y->entries[i].state);
            assert_int_equal(x->entries[i].valid_from, y->entries[i].valid_from);
            assert_int_equal(x->entries[i].valid_until, y->entries[i].valid_until);
        }
        assert_int_equal(x->nremoved, y->nremoved);
        for (uint32_t i = 0; i < x->nremoved; i++)
            S_STR(x->removed[i], y->removed[i]);
        assert_memory_equal(x->sig, y->sig, PROTO_SIG_LEN);
        break;
    }
    case PROTO_KIND_ERROR: {
        const proto_error_t *x = &a->u.error, *y = &b->u.error;
        assert_int_equal(x->code, y->code);
        S_STR(x->message, y->message);
        assert_int_equal(x->has_ref, y->has_ref);
        if (x->has_ref)
            assert_memory_equal(x->ref.bytes, y->ref.bytes, PROTO_ID_LEN);
        assert_int_equal(x->fatal, y->fatal);
        break;
    }
    }
}

// ---------------------------------------------------------------------------
//  Headers, kinds, ids, buffers

static void s_test_header(void **state)
{
    (void) state;
    for (size_t i = 0; i < S_NKINDS; i++) {
        uint8_t header[PROTO_HEADER_LEN];
        proto_header_write(header, s_all_kinds[i]);
        assert_int_equal(header[0], 'T');
        assert_int_equal(header[1], 'R');
        assert_int_equal(header[2], PROTO_VERSION);
        uint8_t version = 0;
        int kind = 0;
        assert_int_equal(proto_header_parse(header, sizeof header, &version, &kind), PROTO_OK);
        assert_int_equal(version, PROTO_VERSION);
        assert_int_equal(kind, s_all_kinds[i]);
    }

    uint8_t version = 0xee;
    int kind = -1;
    const uint8_t good[5] = { 'T', 'R', 1, PROTO_KIND_SUBMIT, 0 };
    assert_int_equal(proto_header_parse(good, 3, &version, &kind), PROTO_ERR_FRAMING);
    assert_int_equal(proto_header_parse(good, 5, &version, &kind), PROTO_ERR_FRAMING);
    assert_int_equal(proto_header_parse(good, 0, &version, &kind), PROTO_ERR_FRAMING);
    assert_int_equal(proto_header_parse(NULL, 4, &version, &kind), PROTO_ERR_FRAMING);
    const uint8_t magic1[4] = { 'X', 'R', 1, PROTO_KIND_SUBMIT };
    const uint8_t magic2[4] = { 'T', 'r', 1, PROTO_KIND_SUBMIT };
    assert_int_equal(proto_header_parse(magic1, 4, &version, &kind), PROTO_ERR_FRAMING);
    assert_int_equal(proto_header_parse(magic2, 4, &version, &kind), PROTO_ERR_FRAMING);
    //  Framing errors leave the outputs alone: there is nothing to answer to.
    assert_int_equal(version, 0xee);
    assert_int_equal(kind, -1);

    //  A newer version: refused, but version and kind are reported so the
    //  receiver can answer with an ERROR in a version both understand.
    const uint8_t v2[4] = { 'T', 'R', 2, PROTO_KIND_SUBMIT };
    assert_int_equal(proto_header_parse(v2, 4, &version, &kind), PROTO_ERR_VERSION);
    assert_int_equal(version, 2);
    assert_int_equal(kind, PROTO_KIND_SUBMIT);
    const uint8_t v0[4] = { 'T', 'R', 0, PROTO_KIND_HELLO };
    assert_int_equal(proto_header_parse(v0, 4, &version, &kind), PROTO_ERR_VERSION);
    assert_int_equal(version, 0);
    assert_int_equal(kind, PROTO_KIND_HELLO);

    static const uint8_t unknown[] = { 0, 5, 9, 14, 19, 23, 29, 33, 41, 52, 59, 61, 255 };
    for (size_t i = 0; i < sizeof unknown; i++) {
        const uint8_t h[4] = { 'T', 'R', 1, unknown[i] };
        version = 0;
        kind = -1;
        assert_int_equal(proto_header_parse(h, 4, &version, &kind), PROTO_ERR_KIND);
        assert_int_equal(version, 1);
        assert_int_equal(kind, unknown[i]);
    }
}

static void s_test_kind_table(void **state)
{
    (void) state;
    static const char *const names[] = {
        "HELLO",   "READY",     "HEARTBEAT", "CREDIT",          "SUBMIT",  "REVOKE",    "UPDATE",
        "REPLACE", "ACCEPTED",  "REJECTED",  "EXPIRED",         "DELIVER", "DELIVERED", "ACK",
        "STATUS",  "DIRECTORY", "ERROR",     "DIRECTORY_DELTA", "FORWARD", "LOG_PROVE", "LOG_PROOF"
    };
    size_t defined = 0;
    for (int kind = -1; kind < 300; kind++)
        defined += proto_kind_name(kind) != NULL;
    assert_int_equal(defined, S_NKINDS);
    for (size_t i = 0; i < S_NKINDS; i++) {
        proto_kind_t kind = s_all_kinds[i];
        assert_string_equal(proto_kind_name(kind), names[i]);
        bool document = kind == PROTO_KIND_SUBMIT || kind == PROTO_KIND_REVOKE ||
                        kind == PROTO_KIND_UPDATE || kind == PROTO_KIND_REPLACE ||
                        kind == PROTO_KIND_DELIVER;
        assert_int_equal(proto_kind_has_document(kind), document);
        assert_int_equal(proto_body_limit(kind),
                         kind == PROTO_KIND_DIRECTORY || kind == PROTO_KIND_DIRECTORY_DELTA
                             ? PROTO_MAX_DIRECTORY_BODY
                         : kind == PROTO_KIND_FORWARD ? PROTO_MAX_FORWARD_BODY
                         : kind == PROTO_KIND_DELIVER ? PROTO_MAX_DELIVER_BODY
                                                      : PROTO_MAX_BODY);
    }
    assert_false(proto_kind_has_document(PROTO_KIND_ACCEPTED));
    assert_false(proto_kind_has_document(0));
}

static void s_test_id(void **state)
{
    (void) state;
    proto_id_t id;
    for (int i = 0; i < PROTO_ID_LEN; i++)
        id.bytes[i] = (uint8_t) (i * 17);
    char text[PROTO_ID_TEXT_LEN];
    proto_id_format(&id, text);
    assert_string_equal(text, "00112233-4455-6677-8899-aabbccddeeff");

    proto_id_t back;
    assert_int_equal(proto_id_parse(text, &back), PROTO_OK);
    assert_memory_equal(back.bytes, id.bytes, PROTO_ID_LEN);
    memset(&back, 0, sizeof back);
    assert_int_equal(proto_id_parse("00112233445566778899AABBCCDDEEFF", &back), PROTO_OK);
    assert_memory_equal(back.bytes, id.bytes, PROTO_ID_LEN);
    assert_int_equal(proto_id_parse("00112233-4455-6677-8899-AABBCCDDEEFF", &back), PROTO_OK);
    assert_memory_equal(back.bytes, id.bytes, PROTO_ID_LEN);

    static const char *const bad[] = {
        "",
        "00112233-4455-6677-8899-aabbccddeef",   // 35 characters
        "00112233-4455-6677-8899-aabbccddeeff0", // 37
        "0011223344556677-8899aabbccddeeff",     // 33
        "001122334455667788 9aabbccddeeff",      // 32 with a space
        "00112233-4455-6677-8899_aabbccddeeff",  // wrong separator
        "001122334-455-6677-8899-aabbccddeeff",  // dash misplaced
        "0011223g-4455-6677-8899-aabbccddeeff",  // not hex
        "00112233445566778899aabbccddeefg",
        "{0112233-4455-6677-8899-aabbccddeef}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        proto_id_t out;
        memset(&out, 0x5a, sizeof out);
        assert_int_equal(proto_id_parse(bad[i], &out), PROTO_ERR_VALUE);
        //  A failed parse leaves the output as it was.
        for (int k = 0; k < PROTO_ID_LEN; k++)
            assert_int_equal(out.bytes[k], 0x5a);
    }
    assert_int_equal(proto_id_parse(NULL, &back), PROTO_ERR_VALUE);

    //  Random ids are version-4 UUIDs, distinct, and survive format/parse.
    proto_id_t previous;
    memset(&previous, 0, sizeof previous);
    for (int i = 0; i < 1000; i++) {
        proto_id_random(&id);
        assert_int_equal(id.bytes[6] >> 4, 4);
        assert_int_equal(id.bytes[8] & 0xc0, 0x80);
        assert_memory_not_equal(id.bytes, previous.bytes, PROTO_ID_LEN);
        proto_id_format(&id, text);
        assert_int_equal(strlen(text), 36);
        assert_int_equal(text[14], '4');
        assert_true(strchr("89ab", text[19]) != NULL);
        assert_int_equal(proto_id_parse(text, &back), PROTO_OK);
        assert_memory_equal(back.bytes, id.bytes, PROTO_ID_LEN);
        previous = id;
    }

    //  New ids are version-7 UUIDs: the time in ms leads (checked loosely:
    //  the wall clock may be stepped while this runs), the rest is random.
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
    memset(&previous, 0, sizeof previous);
    for (int i = 0; i < 1000; i++) {
        proto_id_new(&id);
        assert_int_equal(id.bytes[6] >> 4, 7);
        assert_int_equal(id.bytes[8] & 0xc0, 0x80);
        assert_memory_not_equal(id.bytes, previous.bytes, PROTO_ID_LEN);
        uint64_t ms = 0;
        for (int k = 0; k < 6; k++)
            ms = ms << 8 | id.bytes[k];
        assert_true(ms + 86400000 > now && ms < now + 86400000);
        proto_id_format(&id, text);
        assert_int_equal(text[14], '7');
        previous = id;
    }
}

static void s_test_buf_and_attachment(void **state)
{
    (void) state;
    proto_buf_t buf;
    proto_buf_init(&buf);
    uint8_t chunk[1000];
    s_fill(chunk, sizeof chunk, 3);
    for (int i = 0; i < 100; i++)
        assert_int_equal(proto_buf_append(&buf, chunk, sizeof chunk), PROTO_OK);
    assert_int_equal(buf.len, 100000);
    assert_true(buf.cap >= buf.len);
    assert_memory_equal(buf.data + 99000, chunk, sizeof chunk);
    assert_int_equal(proto_buf_append(&buf, chunk, 0), PROTO_OK);
    assert_int_equal(proto_buf_append(&buf, chunk, SIZE_MAX), PROTO_ERR_NOMEM);
    assert_int_equal(buf.len, 100000);
    proto_buf_reset(&buf);
    assert_int_equal(buf.len, 0);
    assert_non_null(buf.data);
    proto_buf_free(&buf);
    assert_null(buf.data);
    assert_int_equal(buf.cap, 0);

    proto_attachment_t att;
    memset(&att, 0, sizeof att);
    proto_attachment_hash(&att, chunk, sizeof chunk);
    assert_int_equal(att.size, sizeof chunk);
    uint8_t want[PROTO_HASH_LEN];
    crypto_generichash(want, sizeof want, chunk, sizeof chunk, NULL, 0);
    assert_memory_equal(att.hash, want, sizeof want);
    assert_int_equal(proto_attachment_check(&att, chunk, sizeof chunk), PROTO_OK);
    assert_int_equal(proto_attachment_check(&att, chunk, sizeof chunk - 1),
                     PROTO_ERR_HASH_MISMATCH);
    chunk[500] ^= 1;
    assert_int_equal(proto_attachment_check(&att, chunk, sizeof chunk), PROTO_ERR_HASH_MISMATCH);
}

// ---------------------------------------------------------------------------
//  Round trips

static void s_test_roundtrip_every_kind(void **state)
{
    (void) state;
    for (size_t i = 0; i < S_NKINDS; i++) {
        s_fx_t *fx = calloc(1, sizeof *fx);
        assert_non_null(fx);
        s_fixture(fx, s_all_kinds[i]);
        proto_buf_t buf, again;
        proto_buf_init(&buf);
        proto_buf_init(&again);
        proto_errinfo_t info;
        proto_err_t rc = proto_msg_encode(&fx->msg, &buf, &info);
        if (rc != PROTO_OK) {
            print_error("%s: %s at '%s': %s\n", proto_kind_name(s_all_kinds[i]), proto_errname(rc),
                        info.field, info.message);
            fail();
        }
        assert_int_equal(info.code, PROTO_OK);
        assert_true(buf.len > 0 && buf.len <= proto_body_limit(s_all_kinds[i]));

        proto_msg_t *msg = NULL;
        assert_int_equal(proto_msg_decode(s_all_kinds[i], buf.data, buf.len, &msg, &info),
                         PROTO_OK);
        assert_non_null(msg);
        assert_non_null(msg->arena);
        s_assert_msg_equal(&fx->msg, msg);

        //  Encoding what was decoded gives the same bytes: the encoder is a
        //  function of the struct alone.
        assert_int_equal(proto_msg_encode(msg, &again, NULL), PROTO_OK);
        assert_int_equal(again.len, buf.len);
        assert_memory_equal(again.data, buf.data, buf.len);

        proto_msg_destroy(&msg);
        assert_null(msg);
        proto_msg_destroy(&msg);
        proto_buf_free(&buf);
        proto_buf_free(&again);
        free(fx);
    }
}

//  The smallest struct each kind accepts: optional fields absent.
static void s_test_roundtrip_minimal(void **state)
{
    (void) state;
    const char *to[1] = { "000.00.00.G01" };
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_SUBMIT;
    proto_doc_t *doc = &msg.u.document.doc;
    s_fill(doc->id.bytes, PROTO_ID_LEN, 9);
    doc->from = "000.00.01.H01";
    doc->to = to;
    doc->nto = 1;
    doc->doc_type = "Thông báo";
    doc->subject = "x";
    proto_buf_t buf;
    proto_buf_init(&buf);
    assert_int_equal(proto_msg_encode(&msg, &buf, NULL), PROTO_OK);
    proto_msg_t *out = NULL;
    assert_int_equal(proto_msg_decode(PROTO_KIND_SUBMIT, buf.data, buf.len, &out, NULL), PROTO_OK);
    s_assert_msg_equal(&msg, out);
    assert_null(out->u.document.doc.place);
    assert_null(out->u.document.doc.att);
    assert_null(out->u.document.doc.signer.name);
    proto_msg_destroy(&out);

    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_ERROR;
    msg.u.error.code = PROTO_ERR_BUSY;
    msg.u.error.message = "bận";
    assert_int_equal(proto_msg_encode(&msg, &buf, NULL), PROTO_OK);
    assert_int_equal(proto_msg_decode(PROTO_KIND_ERROR, buf.data, buf.len, &out, NULL), PROTO_OK);
    s_assert_msg_equal(&msg, out);
    assert_false(out->u.error.has_ref);
    assert_false(out->u.error.fatal);
    proto_msg_destroy(&out);

    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DIRECTORY;
    msg.u.directory.serial = 1;
    msg.u.directory.broker = "b";
    assert_int_equal(proto_msg_encode(&msg, &buf, NULL), PROTO_OK);
    assert_int_equal(proto_msg_decode(PROTO_KIND_DIRECTORY, buf.data, buf.len, &out, NULL),
                     PROTO_OK);
    assert_int_equal(out->u.directory.nentries, 0);
    proto_msg_destroy(&out);
    proto_buf_free(&buf);
}

//  Where text first occurs in buf, or NULL.
static uint8_t *s_find(proto_buf_t *buf, const char *text)
{
    size_t n = strlen(text);
    for (size_t i = 0; i + n <= buf->len; i++)
        if (memcmp(buf->data + i, text, n) == 0)
            return buf->data + i;
    return NULL;
}

//  A refusal deep in a list names the element by its index, one digit or
//  several: the decoder builds the field path as it reads.
static void s_test_field_path_index(void **state)
{
    (void) state;
    s_fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    s_fixture(fx, PROTO_KIND_SUBMIT);
    char codes[12][PROTO_AGENCY_CODE_LEN + 1];
    const char *to[12];
    for (int i = 0; i < 12; i++) {
        snprintf(codes[i], sizeof codes[i], "000.00.%02d.H77", i);
        to[i] = codes[i];
    }
    fx->msg.u.document.doc.to = to;
    fx->msg.u.document.doc.nto = 12;
    fx->msg.u.document.doc.natt = 1; // the second is sealed to the fixture's three
    proto_buf_t buf;
    proto_buf_init(&buf);
    proto_errinfo_t info;
    assert_int_equal(proto_msg_encode(&fx->msg, &buf, &info), PROTO_OK);
    //  The last recipient becomes the first again, after encoding.
    uint8_t *at = s_find(&buf, codes[11]);
    assert_non_null(at);
    memcpy(at, codes[0], strlen(codes[0]));
    proto_msg_t *out = NULL;
    assert_int_equal(proto_msg_decode(PROTO_KIND_SUBMIT, buf.data, buf.len, &out, &info),
                     PROTO_ERR_VALUE);
    assert_string_equal(info.field, "doc.to[11]");
    assert_null(out);
    //  A one-digit index, a code that is not one.
    memcpy(at, codes[11], strlen(codes[11]));
    at = s_find(&buf, codes[3]);
    assert_non_null(at);
    at[strlen(codes[3]) - 1] = '!';
    assert_int_equal(proto_msg_decode(PROTO_KIND_SUBMIT, buf.data, buf.len, &out, &info),
                     PROTO_ERR_AGENCY_CODE);
    assert_string_equal(info.field, "doc.to[3]");
    assert_null(out);
    proto_buf_free(&buf);
    free(fx);
}

//  The encoder refuses what the decoder would refuse, with the same detail,
//  and leaves nothing in the buffer.
static void s_test_encode_refuses(void **state)
{
    (void) state;
    s_fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    proto_buf_t buf;
    proto_buf_init(&buf);
    proto_errinfo_t info;

    s_fixture(fx, PROTO_KIND_SUBMIT);
    fx->msg.u.document.doc.subject = NULL;
    assert_int_equal(proto_msg_encode(&fx->msg, &buf, &info), PROTO_ERR_MISSING);
    assert_int_equal(info.code, PROTO_ERR_MISSING);
    assert_string_equal(info.field, "doc.subject");
    assert_int_equal(buf.len, 0);

    s_fixture(fx, PROTO_KIND_SUBMIT);
    fx->to[1] = "000.00.01.H01"; // the sender
    assert_int_equal(proto_msg_encode(&fx->msg, &buf, &info), PROTO_ERR_VALUE);
    assert_string_equal(info.field, "doc.to");
    assert_int_equal(buf.len, 0);

    s_fixture(fx, PROTO_KIND_SUBMIT);
    fx->att[0].name = "../../etc/passwd";
    assert_int_equal(proto_msg_encode(&fx->msg, &buf, &info), PROTO_ERR_VALUE);
    assert_string_equal(info.field, "doc.att[0].name");

    s_fixture(fx, PROTO_KIND_REVOKE);
    fx->msg.u.document.doc.op = PROTO_OP_NEW;
    fx->msg.u.document.doc.op_reason = NULL;
    fx->msg.u.document.doc.nop_refs = 0;
    assert_int_equal(proto_msg_encode(&fx->msg, &buf, &info), PROTO_ERR_VALUE);
    assert_string_equal(info.field, "doc.op");

    s_fixture(fx, PROTO_KIND_SUBMIT);
    fx->msg.kind = (proto_kind_t) 99;
    assert_int_equal(proto_msg_encode(&fx->msg, &buf, &info), PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_msg_encode(NULL, &buf, &info), PROTO_ERR_INVALID_ARG);
    fx->msg.kind = PROTO_KIND_SUBMIT;
    assert_int_equal(proto_msg_encode(&fx->msg, NULL, &info), PROTO_ERR_INVALID_ARG);
    //  info is optional.
    assert_int_equal(proto_msg_encode(&fx->msg, &buf, NULL), PROTO_OK);

    proto_buf_free(&buf);
    free(fx);
}

// ---------------------------------------------------------------------------
//  Decoding expectations

static proto_msg_t s_sentinel; // *msg_p is set to this before a decode

//  Decode and check the outcome: the code, the field path (when given), and
//  the contract around them (no message on failure, info consistent).
//  Returns the decoded message on success, for further checks; else NULL.
static proto_msg_t *s_expect_at(int line, int kind, const void *body, size_t len, proto_err_t want,
                                const char *field)
{
    //  An exact-size heap copy: a read past len is an ASan report.
    void *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, body, len);
    proto_msg_t *msg = &s_sentinel;
    proto_errinfo_t info;
    memset(&info, 0x55, sizeof info);
    proto_err_t rc = proto_msg_decode(kind, copy, len, &msg, &info);
    free(copy);
    if (rc != want || (field && rc != PROTO_OK && strcmp(info.field, field) != 0)) {
        print_error("line %d: %s: got %s at '%.96s' (%.160s), want %s at '%s'\n", line,
                    proto_kind_name(kind) ? proto_kind_name(kind) : "?", proto_errname(rc),
                    rc ? info.field : "", rc ? info.message : "", proto_errname(want),
                    field ? field : "*");
        fail();
    }
    assert_int_equal(info.code, rc);
    if (rc != PROTO_OK) {
        //  No half-decoded result, and a sentence for the log.
        assert_null(msg);
        assert_true(memchr(info.field, '\0', sizeof info.field) != NULL);
        assert_true(memchr(info.message, '\0', sizeof info.message) != NULL);
        assert_true(strlen(info.message) > 0);
        return NULL;
    }
    assert_non_null(msg);
    assert_true(msg != &s_sentinel);
    assert_int_equal(msg->kind, kind);
    return msg;
}

#define S_EXPECT(kind, body, len, want, field)                                                     \
    s_expect_at(__LINE__, (kind), (body), (len), (want), (field))

// ---------------------------------------------------------------------------
//  Object trees: take a valid body apart, change one thing, pack it again

static msgpack_zone *s_zone; // values and trees of the running test

static int s_setup(void **state)
{
    (void) state;
    s_zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
    return s_zone ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void) state;
    msgpack_zone_free(s_zone);
    s_zone = NULL;
    return 0;
}

static void *s_zalloc(size_t size)
{
    void *p = msgpack_zone_malloc(s_zone, size ? size : 1);
    assert_non_null(p);
    return p;
}

static msgpack_object s_nil(void)
{
    msgpack_object o;
    memset(&o, 0, sizeof o);
    o.type = MSGPACK_OBJECT_NIL;
    return o;
}

static msgpack_object s_bool(bool value)
{
    msgpack_object o = s_nil();
    o.type = MSGPACK_OBJECT_BOOLEAN;
    o.via.boolean = value;
    return o;
}

static msgpack_object s_int(int64_t value)
{
    msgpack_object o = s_nil();
    if (value < 0) {
        o.type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o.via.i64 = value;
    } else {
        o.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o.via.u64 = (uint64_t) value;
    }
    return o;
}

static msgpack_object s_uint(uint64_t value)
{
    msgpack_object o = s_nil();
    o.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
    o.via.u64 = value;
    return o;
}

static msgpack_object s_f64(double value)
{
    msgpack_object o = s_nil();
    o.type = MSGPACK_OBJECT_FLOAT64;
    o.via.f64 = value;
    return o;
}

static msgpack_object s_f32(float value)
{
    msgpack_object o = s_nil();
    o.type = MSGPACK_OBJECT_FLOAT32;
    o.via.f64 = value;
    return o;
}

static msgpack_object s_strn(const char *bytes, size_t len)
{
    msgpack_object o = s_nil();
    char *copy = s_zalloc(len);
    if (len)
        memcpy(copy, bytes, len);
    o.type = MSGPACK_OBJECT_STR;
    o.via.str.ptr = copy;
    o.via.str.size = (uint32_t) len;
    return o;
}

static msgpack_object s_str(const char *text)
{
    return s_strn(text, strlen(text));
}

//  count copies of one UTF-8 piece.
static msgpack_object s_str_rep(const char *piece, size_t count)
{
    size_t n = strlen(piece);
    char *text = s_zalloc(n * count + 1);
    for (size_t i = 0; i < count; i++)
        memcpy(text + i * n, piece, n);
    return s_strn(text, n * count);
}

static msgpack_object s_bin(const void *bytes, size_t len)
{
    msgpack_object o = s_nil();
    char *copy = s_zalloc(len);
    if (len)
        memcpy(copy, bytes, len);
    o.type = MSGPACK_OBJECT_BIN;
    o.via.bin.ptr = copy;
    o.via.bin.size = (uint32_t) len;
    return o;
}

static msgpack_object s_bin_fill(size_t len, uint8_t seed)
{
    uint8_t *bytes = s_zalloc(len);
    s_fill(bytes, len, seed);
    return s_bin(bytes, len);
}

static msgpack_object s_ext(int8_t type, size_t len)
{
    msgpack_object o = s_nil();
    char *bytes = s_zalloc(len);
    memset(bytes, 0x11, len);
    o.type = MSGPACK_OBJECT_EXT;
    o.via.ext.type = type;
    o.via.ext.ptr = bytes;
    o.via.ext.size = (uint32_t) len;
    return o;
}

//  An array of n elements, all nil; the caller fills via.array.ptr.
static msgpack_object s_arr_n(size_t n)
{
    msgpack_object o = s_nil();
    o.type = MSGPACK_OBJECT_ARRAY;
    o.via.array.size = (uint32_t) n;
    o.via.array.ptr = s_zalloc(n * sizeof(msgpack_object));
    for (size_t i = 0; i < n; i++)
        o.via.array.ptr[i] = s_nil();
    return o;
}

static msgpack_object s_arr(size_t n, ...)
{
    msgpack_object o = s_arr_n(n);
    va_list args;
    va_start(args, n);
    for (size_t i = 0; i < n; i++)
        o.via.array.ptr[i] = va_arg(args, msgpack_object);
    va_end(args);
    return o;
}

//  A map of n pairs given as (const char *key, msgpack_object value).
static msgpack_object s_map(size_t n, ...)
{
    msgpack_object o = s_nil();
    o.type = MSGPACK_OBJECT_MAP;
    o.via.map.size = (uint32_t) n;
    o.via.map.ptr = s_zalloc(n * sizeof(msgpack_object_kv));
    va_list args;
    va_start(args, n);
    for (size_t i = 0; i < n; i++) {
        const char *key = va_arg(args, const char *);
        o.via.map.ptr[i].key = s_str(key);
        o.via.map.ptr[i].val = va_arg(args, msgpack_object);
    }
    va_end(args);
    return o;
}

//  Arrays nested depth deep around a 1.
static msgpack_object s_nested(int depth)
{
    msgpack_object o = s_uint(1);
    for (int i = 0; i < depth; i++)
        o = s_arr(1, o);
    return o;
}

//  A distinct valid level-2 agency code for each i < 693 (never the
//  fixtures' sender, 000.00.01.H01).
static const char *s_code(unsigned i)
{
    char *code = s_zalloc(PROTO_AGENCY_CODE_LEN + 1);
    snprintf(code, PROTO_AGENCY_CODE_LEN + 1, "000.00.%02u.%c%02u", 1 + i % 99,
             'A' + (int) (i / 99), 1u);
    return code;
}

typedef enum {
    S_SET, // replace the value (or add the key / append the element)
    S_DEL, // remove the key or element
    S_DUP, // add the key a second time with this value
} s_op_t;

static msgpack_object *s_find_key(msgpack_object *map, const char *key)
{
    assert_int_equal(map->type, MSGPACK_OBJECT_MAP);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static void s_map_append(msgpack_object *map, msgpack_object key, msgpack_object value)
{
    uint32_t n = map->via.map.size;
    msgpack_object_kv *kv = s_zalloc((n + 1) * sizeof *kv);
    if (n)
        memcpy(kv, map->via.map.ptr, n * sizeof *kv);
    kv[n].key = key;
    kv[n].val = value;
    map->via.map.ptr = kv;
    map->via.map.size = n + 1;
}

//  Apply op at path ("doc.att[0].name", "items[1].leaf.code") in the tree.
static void s_apply(msgpack_object *root, const char *path, s_op_t op, msgpack_object value)
{
    msgpack_object *node = root;
    const char *p = path;
    for (;;) {
        bool index = *p == '[';
        char key[64];
        size_t n = 0;
        unsigned long at = 0;
        if (index) {
            at = strtoul(p + 1, NULL, 10);
            p = strchr(p, ']') + 1;
        } else {
            while (*p && *p != '.' && *p != '[' && n + 1 < sizeof key)
                key[n++] = *p++;
            key[n] = '\0';
        }
        if (*p == '.')
            p++;
        bool last = *p == '\0';
        if (index) {
            assert_int_equal(node->type, MSGPACK_OBJECT_ARRAY);
            uint32_t size = node->via.array.size;
            if (!last) {
                assert_true(at < size);
                node = &node->via.array.ptr[at];
                continue;
            }
            if (op == S_DEL) {
                assert_true(at < size);
                memmove(&node->via.array.ptr[at], &node->via.array.ptr[at + 1],
                        (size - at - 1) * sizeof(msgpack_object));
                node->via.array.size--;
            } else if (at < size) {
                node->via.array.ptr[at] = value;
            } else {
                assert_true(at == size);
                msgpack_object grown = s_arr_n(size + 1);
                if (size)
                    memcpy(grown.via.array.ptr, node->via.array.ptr, size * sizeof(msgpack_object));
                grown.via.array.ptr[size] = value;
                *node = grown;
            }
            return;
        }
        msgpack_object *child = s_find_key(node, key);
        if (!last) {
            assert_non_null(child);
            node = child;
            continue;
        }
        if (op == S_SET && child) {
            *child = value;
        } else if (op == S_SET || op == S_DUP) {
            s_map_append(node, s_str(key), value);
        } else {
            assert_non_null(child);
            msgpack_object_kv *kv = node->via.map.ptr;
            uint32_t i = 0;
            while (&kv[i].val != child)
                i++;
            memmove(&kv[i], &kv[i + 1], (node->via.map.size - i - 1) * sizeof *kv);
            node->via.map.size--;
        }
        return;
    }
}

typedef struct {
    char *data;
    size_t len;
} s_bytes_t;

static s_bytes_t s_pack(const msgpack_object *root)
{
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    assert_int_equal(msgpack_pack_object(&pk, *root), 0);
    s_bytes_t out = { s_zalloc(sbuf.size), sbuf.size };
    memcpy(out.data, sbuf.data, sbuf.size);
    msgpack_sbuffer_destroy(&sbuf);
    return out;
}

//  The fixture body of kind as an object tree in s_zone.
static msgpack_object s_tree(proto_kind_t kind)
{
    proto_buf_t buf;
    s_fixture_body(kind, &buf);
    //  The tree points into the bytes, so they move into the zone first.
    char *bytes = s_zalloc(buf.len);
    memcpy(bytes, buf.data, buf.len);
    size_t off = 0;
    msgpack_object root;
    assert_int_equal(msgpack_unpack(bytes, buf.len, &off, s_zone, &root), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, buf.len);
    proto_buf_free(&buf);
    return root;
}

//  One case of the matrix: the fixture of kind, one change, the verdict.
static proto_msg_t *s_case_at(int line, proto_kind_t kind, const char *path, s_op_t op,
                              msgpack_object value, proto_err_t want, const char *field)
{
    msgpack_object root = s_tree(kind);
    s_apply(&root, path, op, value);
    s_bytes_t body = s_pack(&root);
    return s_expect_at(line, kind, body.data, body.len, want, field);
}

#define S_CASE(kind, path, op, value, want, field)                                                 \
    s_case_at(__LINE__, (kind), (path), (op), (value), (want), (field))
//  The same, for changes that must be accepted; the message is destroyed.
#define S_ACCEPT(kind, path, op, value)                                                            \
    do {                                                                                           \
        proto_msg_t *accepted_ =                                                                   \
            s_case_at(__LINE__, (kind), (path), (op), (value), PROTO_OK, NULL);                    \
        proto_msg_destroy(&accepted_);                                                             \
    } while (0)

#define S_SUBMIT PROTO_KIND_SUBMIT

// ---------------------------------------------------------------------------
//  Framing-level refusals: hand-made bytes

//  FORWARD (PROTOCOL.md 16.7): the carried body is decoded with its own
//  kind's rules, the hop's recipients must be the document's, the trace
//  names each broker once and at most PROTO_MAX_HOPS of them; a broker may
//  not hand it to one already in the trace nor past the hop limit.
static void s_forward_expect(s_fx_t *fx, proto_err_t want, const char *field)
{
    proto_buf_t buf;
    proto_buf_init(&buf);
    proto_errinfo_t info;
    proto_err_t rc = proto_msg_encode(&fx->msg, &buf, &info);
    if (rc != want || (field && strcmp(info.field, field) != 0)) {
        print_error("FORWARD: want %s at '%s', got %s at '%s': %s\n", proto_errname(want),
                    field ? field : "", proto_errname(rc), info.field, info.message);
        fail();
    }
    assert_int_equal(buf.len, 0);
    proto_buf_free(&buf);
}

static void s_test_forward_rules(void **state)
{
    (void) state;
    s_fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    proto_forward_t *f = &fx->msg.u.forward;

    //  What a receiver gets: the sender's document, its frames, the trace.
    s_fixture(fx, PROTO_KIND_FORWARD);
    proto_buf_t buf;
    proto_buf_init(&buf);
    assert_int_equal(proto_msg_encode(&fx->msg, &buf, NULL), PROTO_OK);
    proto_msg_t *msg = NULL;
    assert_int_equal(proto_msg_decode(PROTO_KIND_FORWARD, buf.data, buf.len, &msg, NULL), PROTO_OK);
    const proto_forward_t *got = &msg->u.forward;
    assert_int_equal(got->document.doc.nto, 3);
    assert_string_equal(got->document.doc.from, "000.00.01.H01");
    assert_int_equal(proto_msg_frame_count(msg), 2 + got->document.doc.natt);
    assert_true(got->document.doc.natt > 0);
    assert_int_equal(proto_forward_next_check(got, "district-dv"), PROTO_OK);
    assert_int_equal(proto_forward_next_check(got, "province-h29"), PROTO_ERR_ROUTE_LOOP);
    assert_int_equal(proto_forward_next_check(got, "national"), PROTO_ERR_ROUTE_LOOP);
    assert_int_equal(proto_forward_next_check(NULL, "x"), PROTO_ERR_INVALID_ARG);
    proto_msg_destroy(&msg);
    proto_buf_free(&buf);

    //  A trace at the hop limit decodes, but no broker may add to it.
    s_fixture(fx, PROTO_KIND_FORWARD);
    static const char *const labels[PROTO_MAX_HOPS + 1] = { "b0", "b1", "b2", "b3", "b4",
                                                            "b5", "b6", "b7", "b8" };
    proto_fwd_hop_t hops[PROTO_MAX_HOPS + 1];
    for (int i = 0; i <= PROTO_MAX_HOPS; i++)
        hops[i] = (proto_fwd_hop_t){ .broker = labels[i], .time = S_T0 + (uint64_t) i };
    f->trace = hops;
    f->ntrace = PROTO_MAX_HOPS;
    assert_int_equal(proto_forward_next_check(f, "elsewhere"), PROTO_ERR_HOP_LIMIT);
    assert_int_equal(proto_msg_encode(&fx->msg, &buf, NULL), PROTO_OK);
    proto_buf_free(&buf);
    f->ntrace = PROTO_MAX_HOPS + 1;
    s_forward_expect(fx, PROTO_ERR_LIMIT, "trace");

    s_fixture(fx, PROTO_KIND_FORWARD);
    fx->hops[1].broker = "province-h29";
    s_forward_expect(fx, PROTO_ERR_ROUTE_LOOP, "trace[1].broker");
    s_fixture(fx, PROTO_KIND_FORWARD);
    fx->hops[0].broker = "Tỉnh Hà Giang"; // text, not a label
    s_forward_expect(fx, PROTO_ERR_VALUE, "trace[0].broker");
    s_fixture(fx, PROTO_KIND_FORWARD);
    f->ntrace = 0;
    s_forward_expect(fx, PROTO_ERR_MISSING, "trace");

    //  Recipients: the document's, each once.
    s_fixture(fx, PROTO_KIND_FORWARD);
    fx->fwd_to[1] = "000.99.99.H99";
    s_forward_expect(fx, PROTO_ERR_VALUE, "to[1]");
    s_fixture(fx, PROTO_KIND_FORWARD);
    fx->fwd_to[1] = fx->fwd_to[0];
    s_forward_expect(fx, PROTO_ERR_VALUE, "to[1]");
    s_fixture(fx, PROTO_KIND_FORWARD);
    f->nto = 0;
    s_forward_expect(fx, PROTO_ERR_MISSING, "to");

    //  The sender's kind, and a body that is a document of that kind.
    s_fixture(fx, PROTO_KIND_FORWARD);
    f->kind = PROTO_KIND_DELIVER;
    s_forward_expect(fx, PROTO_ERR_VALUE, "kind");
    s_fixture(fx, PROTO_KIND_FORWARD);
    f->kind = PROTO_KIND_REVOKE;
    s_forward_expect(fx, PROTO_ERR_VALUE, "body.doc.op");
    s_fixture(fx, PROTO_KIND_FORWARD);
    f->body_len = 0;
    s_forward_expect(fx, PROTO_ERR_LIMIT, "body");
    s_fixture(fx, PROTO_KIND_FORWARD);
    f->body_len -= 1; // truncated: the body is no longer one msgpack value
    s_forward_expect(fx, PROTO_ERR_MSGPACK, NULL);
    s_fixture(fx, PROTO_KIND_FORWARD);
    fx->inner[f->body_len++] = 0xc0; // a trailing nil after the body's map
    s_forward_expect(fx, PROTO_ERR_TRAILING, NULL);
    free(fx);
}

static void s_test_decode_arguments(void **state)
{
    (void) state;
    proto_buf_t buf;
    s_fixture_body(PROTO_KIND_HEARTBEAT, &buf);
    S_EXPECT(0, buf.data, buf.len, PROTO_ERR_KIND, "");
    S_EXPECT(5, buf.data, buf.len, PROTO_ERR_KIND, "");
    S_EXPECT(256 + PROTO_KIND_HEARTBEAT, buf.data, buf.len, PROTO_ERR_KIND, "");
    S_EXPECT(-1, buf.data, buf.len, PROTO_ERR_KIND, "");
    //  A body of one kind is not a body of another.
    S_EXPECT(PROTO_KIND_CREDIT, buf.data, buf.len, PROTO_ERR_UNKNOWN_FIELD, "time");
    proto_buf_free(&buf);

    proto_msg_t *msg = &s_sentinel;
    proto_errinfo_t info;
    assert_int_equal(proto_msg_decode(PROTO_KIND_HEARTBEAT, NULL, 5, &msg, &info),
                     PROTO_ERR_INVALID_ARG);
    assert_null(msg);
    msg = &s_sentinel;
    assert_int_equal(proto_msg_decode(PROTO_KIND_HEARTBEAT, NULL, 0, &msg, NULL),
                     PROTO_ERR_MSGPACK);
    assert_null(msg);
    S_EXPECT(PROTO_KIND_HEARTBEAT, "", 0, PROTO_ERR_MSGPACK, "");

    //  The whole body: PROTO_MAX_BODY bytes are looked at (zeros are one
    //  tiny object and then trailing bytes), one byte more is refused unread.
    uint8_t *zeros = calloc(1, PROTO_MAX_DIRECTORY_BODY + 1);
    assert_non_null(zeros);
    S_EXPECT(S_SUBMIT, zeros, PROTO_MAX_BODY + 1, PROTO_ERR_TOO_LARGE, "");
    S_EXPECT(PROTO_KIND_ACCEPTED, zeros, PROTO_MAX_BODY + 1, PROTO_ERR_TOO_LARGE, "");
    S_EXPECT(S_SUBMIT, zeros, PROTO_MAX_BODY, PROTO_ERR_TRAILING, "");
    //  DIRECTORY has its own, larger limit.
    S_EXPECT(PROTO_KIND_DIRECTORY, zeros, PROTO_MAX_BODY + 1, PROTO_ERR_TRAILING, "");
    S_EXPECT(PROTO_KIND_DIRECTORY, zeros, PROTO_MAX_DIRECTORY_BODY + 1, PROTO_ERR_TOO_LARGE, "");
    free(zeros);
}

//  Every strict prefix of every valid body is refused as malformed msgpack.
static void s_test_truncated_every_length(void **state)
{
    (void) state;
    for (size_t i = 0; i < S_NKINDS; i++) {
        proto_buf_t buf;
        s_fixture_body(s_all_kinds[i], &buf);
        for (size_t len = 0; len < buf.len; len++)
            S_EXPECT(s_all_kinds[i], buf.data, len, PROTO_ERR_MSGPACK, "");
        proto_msg_t *msg = S_EXPECT(s_all_kinds[i], buf.data, buf.len, PROTO_OK, NULL);
        proto_msg_destroy(&msg);
        proto_buf_free(&buf);
    }
}

typedef struct {
    const char *why;
    uint8_t bytes[16];
    size_t len;
} s_raw_t;

//  Lengths and counts that promise more than the body holds. Each one is
//  refused by the pre-scan: msgpack-c never runs and nothing is allocated.
static const s_raw_t s_lies[] = {
    { "map32 of 2^32-1 pairs", { 0xdf, 0xff, 0xff, 0xff, 0xff }, 5 },
    { "map32 of 2^31 pairs", { 0xdf, 0x80, 0x00, 0x00, 0x00, 0xa1, 'x', 0x01 }, 8 },
    { "array32 of 2^32-1", { 0xdd, 0xff, 0xff, 0xff, 0xff }, 5 },
    { "map16 of 65535 pairs", { 0xde, 0xff, 0xff, 0xa1, 'x', 0x01 }, 6 },
    { "array16 of 65535", { 0xdc, 0xff, 0xff, 0x01 }, 4 },
    { "fixmap of 15 with 1 pair", { 0x8f, 0xa1, 'x', 0x01 }, 4 },
    { "nested map32", { 0x81, 0xa3, 'd', 'o', 'c', 0xdf, 0xff, 0xff, 0xff, 0xff }, 10 },
    { "nested array32 of 10^6",
      { 0x81, 0xa4, 'm', 'i', 'd', 's', 0xdd, 0x00, 0x0f, 0x42, 0x40, 0x01, 0x02 },
      13 },
    { "str32 of 4 GiB", { 0x81, 0xa1, 'x', 0xdb, 0xff, 0xff, 0xff, 0xff, 'a' }, 9 },
    { "bin32 of 4 GiB", { 0x81, 0xa1, 'x', 0xc6, 0xff, 0xff, 0xff, 0xff, 'a' }, 9 },
    { "ext32 of 4 GiB", { 0x81, 0xa1, 'x', 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01, 'a' }, 10 },
    { "str8 of 200", { 0x81, 0xa1, 'x', 0xd9, 200, 'a', 'b', 'c' }, 8 },
    { "fixstr of 31", { 0x81, 0xa1, 'x', 0xbf, 'a' }, 5 },
    { "str16 length cut", { 0x81, 0xa1, 'x', 0xda, 0x01 }, 5 },
    { "uint64 cut", { 0x81, 0xa1, 'x', 0xcf, 0x01, 0x02 }, 6 },
    { "fixext16 cut", { 0x81, 0xa1, 'x', 0xd8, 0x01, 0x02 }, 6 },
};

static void s_test_lying_lengths(void **state)
{
    (void) state;
    for (size_t i = 0; i < S_NKINDS; i++)
        for (size_t k = 0; k < sizeof s_lies / sizeof s_lies[0]; k++) {
            proto_msg_t *msg = &s_sentinel;
            proto_errinfo_t info;
            s_allocs = s_unpacks = 0;
            s_counting = true;
            proto_err_t rc =
                proto_msg_decode(s_all_kinds[i], s_lies[k].bytes, s_lies[k].len, &msg, &info);
            s_counting = false;
            if (rc != PROTO_ERR_MSGPACK || s_unpacks || s_allocs) {
                print_error("%s / %s: %s, %zu unpacks, %zu allocations\n",
                            proto_kind_name(s_all_kinds[i]), s_lies[k].why, proto_errname(rc),
                            s_unpacks, s_allocs);
                fail();
            }
            assert_null(msg);
            assert_string_equal(info.field, "");
        }

    //  The counters do see a real decode.
    proto_buf_t buf;
    s_fixture_body(S_SUBMIT, &buf);
    proto_msg_t *msg = NULL;
    s_allocs = s_unpacks = 0;
    s_counting = true;
    assert_int_equal(proto_msg_decode(S_SUBMIT, buf.data, buf.len, &msg, NULL), PROTO_OK);
    s_counting = false;
    assert_int_equal(s_unpacks, 1);
    assert_true(s_allocs > 0);
    proto_msg_destroy(&msg);

    proto_buf_free(&buf);

    //  A schema failure deep in the body, after msgpack-c ran and the arena
    //  filled up: no message comes back, and ASan's leak check sees the rest.
    s_counting = true;
    S_CASE(S_SUBMIT, "doc.att[1].name", S_SET, s_str(".."), PROTO_ERR_VALUE, "doc.att[1].name");
    s_counting = false;
    assert_true(s_allocs > 0);
}

static void s_test_reserved_and_trailing(void **state)
{
    (void) state;
    static const s_raw_t reserved[] = {
        { "alone", { 0xc1 }, 1 },
        { "as a value", { 0x81, 0xa4, 't', 'i', 'm', 'e', 0xc1 }, 7 },
        { "as a key", { 0x81, 0xc1, 0x01 }, 3 },
        { "in an array", { 0x81, 0xa4, 't', 'i', 'm', 'e', 0x92, 0x01, 0xc1 }, 9 },
    };
    for (size_t k = 0; k < sizeof reserved / sizeof reserved[0]; k++)
        S_EXPECT(S_SUBMIT, reserved[k].bytes, reserved[k].len, PROTO_ERR_MSGPACK, "");

    for (size_t i = 0; i < S_NKINDS; i++) {
        proto_buf_t buf;
        s_fixture_body(s_all_kinds[i], &buf);
        size_t len = buf.len;
        static const uint8_t tails[] = { 0x00, 0xc0, 0xc1, 0xff };
        for (size_t t = 0; t < sizeof tails; t++) {
            buf.len = len;
            assert_int_equal(proto_buf_append(&buf, &tails[t], 1), PROTO_OK);
            S_EXPECT(s_all_kinds[i], buf.data, buf.len, PROTO_ERR_TRAILING, "");
        }
        //  A second complete body is trailing bytes too.
        buf.len = len;
        uint8_t *copy = malloc(len);
        assert_non_null(copy);
        memcpy(copy, buf.data, len);
        assert_int_equal(proto_buf_append(&buf, copy, len), PROTO_OK);
        free(copy);
        S_EXPECT(s_all_kinds[i], buf.data, buf.len, PROTO_ERR_TRAILING, "");
        proto_buf_free(&buf);
    }
}

//  Valid msgpack in longer forms than needed is still valid: signatures do
//  not depend on the wire encoding, so the decoder must not either.
static void s_test_any_valid_encoding(void **state)
{
    (void) state;
    static const uint8_t longer[] = { 0xde, 0x00, 0x01,                  // map16 of 1
                                      0xd9, 0x04, 't',  'i',  'm',  'e', // str8 key
                                      0xd3, 0x00, 0x00, 0x01, 0x9b, 0x76, 0xda, 0xa8, 0x7b };
    proto_msg_t *msg = S_EXPECT(PROTO_KIND_HEARTBEAT, longer, sizeof longer, PROTO_OK, NULL);
    assert_int_equal(msg->u.heartbeat.time, S_T0);
    proto_msg_destroy(&msg);
    static const uint8_t int8[] = { 0x81, 0xa6, 'w', 'i', 'n', 'd', 'o', 'w', 0xd0, 0x05 };
    msg = S_EXPECT(PROTO_KIND_CREDIT, int8, sizeof int8, PROTO_OK, NULL);
    assert_int_equal(msg->u.credit.window, 5);
    proto_msg_destroy(&msg);
}

// ---------------------------------------------------------------------------
//  The strictness matrix

static void s_test_depth(void **state)
{
    (void) state;
    S_CASE(PROTO_KIND_HEARTBEAT, "time", S_SET, s_arr(1, s_uint(1)), PROTO_ERR_DEPTH, "");
    S_CASE(PROTO_KIND_HEARTBEAT, "time", S_SET, s_arr(0), PROTO_ERR_TYPE, "time");
    S_CASE(PROTO_KIND_HEARTBEAT, "time", S_SET, s_map(0), PROTO_ERR_TYPE, "time");
    S_CASE(PROTO_KIND_ERROR, "message", S_SET, s_map(1, "a", s_uint(1)), PROTO_ERR_DEPTH, "");
    S_CASE(PROTO_KIND_CREDIT, "window", S_SET, s_nested(1), PROTO_ERR_DEPTH, "");
    //  READY's log head makes it 2 deep.
    S_CASE(PROTO_KIND_READY, "broker", S_SET, s_nested(1), PROTO_ERR_TYPE, "broker");
    S_CASE(PROTO_KIND_READY, "broker", S_SET, s_nested(2), PROTO_ERR_DEPTH, "");
    S_CASE(PROTO_KIND_LOG_PROVE, "from", S_SET, s_nested(1), PROTO_ERR_DEPTH, "");
    S_CASE(PROTO_KIND_LOG_PROOF, "proof[0]", S_SET, s_nested(1), PROTO_ERR_DEPTH, "");
    S_CASE(PROTO_KIND_HELLO, "versions[0]", S_SET, s_nested(1), PROTO_ERR_DEPTH, "");
    S_CASE(PROTO_KIND_ACK, "mids[0]", S_SET, s_nested(1), PROTO_ERR_DEPTH, "");
    S_CASE(PROTO_KIND_STATUS, "notice.staff.name", S_SET, s_nested(1), PROTO_ERR_DEPTH, "");
    //  An entry's retired keys make DIRECTORY 5 deep: name sits at 3.
    S_CASE(PROTO_KIND_DIRECTORY, "entries[0].name", S_SET, s_nested(2), PROTO_ERR_TYPE,
           "entries[0].name");
    S_CASE(PROTO_KIND_DIRECTORY, "entries[0].name", S_SET, s_nested(3), PROTO_ERR_DEPTH, "");
    S_CASE(PROTO_KIND_ACCEPTED, "items[0].leaf.reason", S_SET, s_nested(1), PROTO_ERR_DEPTH, "");
    S_CASE(PROTO_KIND_ACCEPTED, "items[0].leaf.reason", S_SET, s_arr(0), PROTO_ERR_TYPE,
           "items[0].leaf.reason");
    //  doc.subject sits at depth 2 of 7: five more levels are a type error,
    //  six are too deep.
    S_CASE(S_SUBMIT, "doc.subject", S_SET, s_nested(5), PROTO_ERR_TYPE, "doc.subject");
    S_CASE(S_SUBMIT, "doc.subject", S_SET, s_nested(6), PROTO_ERR_DEPTH, "");
    S_CASE(PROTO_KIND_DELIVER, "doc.subject", S_SET, s_nested(6), PROTO_ERR_DEPTH, "");
    //  The encrypted attachment keys are the deepest legal point (7).
    S_CASE(S_SUBMIT, "doc.att[1].enc.keys[0].agency", S_SET, s_nested(1), PROTO_ERR_DEPTH, "");

    //  Far too deep, for every kind, from the top.
    for (size_t i = 0; i < S_NKINDS; i++) {
        for (int depth = 17; depth <= 200; depth += 183) {
            msgpack_object root = s_nested(depth);
            s_bytes_t body = s_pack(&root);
            S_EXPECT(s_all_kinds[i], body.data, body.len, PROTO_ERR_DEPTH, "");
        }
        msgpack_object root = s_map(1, "x", s_nested(16));
        s_bytes_t body = s_pack(&root);
        S_EXPECT(s_all_kinds[i], body.data, body.len, PROTO_ERR_DEPTH, "");
    }
}

static void s_test_wrong_types(void **state)
{
    (void) state;
    S_CASE(S_SUBMIT, "doc.subject", S_SET, s_int(5), PROTO_ERR_TYPE, "doc.subject");
    S_CASE(S_SUBMIT, "doc.subject", S_SET, s_bin("abc", 3), PROTO_ERR_TYPE, "doc.subject");
    S_CASE(S_SUBMIT, "doc.subject", S_SET, s_ext(1, 4), PROTO_ERR_TYPE, "doc.subject");
    S_CASE(S_SUBMIT, "doc.subject", S_SET, s_bool(true), PROTO_ERR_TYPE, "doc.subject");
    S_CASE(S_SUBMIT, "doc.subject", S_SET, s_arr(0), PROTO_ERR_TYPE, "doc.subject");
    S_CASE(S_SUBMIT, "doc.created", S_SET, s_str("2026-01-01"), PROTO_ERR_TYPE, "doc.created");
    S_CASE(S_SUBMIT, "doc.to", S_SET, s_str("000.00.00.G01"), PROTO_ERR_TYPE, "doc.to");
    S_CASE(S_SUBMIT, "doc.to[0]", S_SET, s_int(5), PROTO_ERR_TYPE, "doc.to[0]");
    S_CASE(S_SUBMIT, "doc.id", S_SET, s_str("0123456789abcdef"), PROTO_ERR_TYPE, "doc.id");
    S_CASE(S_SUBMIT, "sig", S_SET, s_str_rep("s", 64), PROTO_ERR_TYPE, "sig");
    S_CASE(S_SUBMIT, "doc", S_SET, s_arr(0), PROTO_ERR_TYPE, "doc");
    S_CASE(S_SUBMIT, "doc", S_SET, s_str("doc"), PROTO_ERR_TYPE, "doc");
    S_CASE(S_SUBMIT, "doc.signer", S_SET, s_str("Nguyễn Văn A"), PROTO_ERR_TYPE, "doc.signer");
    S_CASE(S_SUBMIT, "doc.att[0]", S_SET, s_str("x.pdf"), PROTO_ERR_TYPE, "doc.att[0]");
    S_CASE(S_SUBMIT, "doc.att", S_SET, s_map(0), PROTO_ERR_TYPE, "doc.att");
    S_CASE(S_SUBMIT, "doc.att[0].hash", S_SET, s_str_rep("h", 32), PROTO_ERR_TYPE,
           "doc.att[0].hash");
    S_CASE(S_SUBMIT, "doc.att[1].enc", S_SET, s_arr(0), PROTO_ERR_TYPE, "doc.att[1].enc");
    S_CASE(S_SUBMIT, "doc.trace[0]", S_SET, s_arr(0), PROTO_ERR_TYPE, "doc.trace[0]");
    S_CASE(S_SUBMIT, "doc.response_for", S_SET, s_map(0), PROTO_ERR_TYPE, "doc.response_for");
    S_CASE(S_SUBMIT, "doc.places[0]", S_SET, s_uint(1), PROTO_ERR_TYPE, "doc.places[0]");
    S_CASE(PROTO_KIND_REVOKE, "doc.op_refs[0]", S_SET, s_str_rep("0", 16), PROTO_ERR_TYPE,
           "doc.op_refs[0]");
    S_CASE(PROTO_KIND_ERROR, "fatal", S_SET, s_uint(1), PROTO_ERR_TYPE, "fatal");
    S_CASE(PROTO_KIND_ERROR, "ref", S_SET, s_str("00112233-4455-6677-8899-aabbccddeeff"),
           PROTO_ERR_TYPE, "ref");
    S_CASE(PROTO_KIND_ACCEPTED, "head", S_SET, s_arr(0), PROTO_ERR_TYPE, "head");
    S_CASE(PROTO_KIND_ACCEPTED, "items[0].path[0]", S_SET, s_str_rep("p", 32), PROTO_ERR_TYPE,
           "items[0].path[0]");
    S_CASE(PROTO_KIND_STATUS, "notice.staff", S_SET, s_str("Trần Thị B"), PROTO_ERR_TYPE,
           "notice.staff");
    S_CASE(PROTO_KIND_DIRECTORY, "entries[0].key", S_SET, s_str_rep("k", 32), PROTO_ERR_TYPE,
           "entries[0].key");
    S_CASE(PROTO_KIND_HELLO, "versions", S_SET, s_uint(1), PROTO_ERR_TYPE, "versions");

    //  The body itself must be a map with string keys.
    for (size_t i = 0; i < S_NKINDS; i++) {
        msgpack_object roots[4] = { s_arr(0), s_str("x"), s_uint(7), s_nil() };
        for (int r = 0; r < 4; r++) {
            s_bytes_t body = s_pack(&roots[r]);
            S_EXPECT(s_all_kinds[i], body.data, body.len, PROTO_ERR_TYPE, "");
        }
        msgpack_object root = s_tree(s_all_kinds[i]);
        s_map_append(&root, s_uint(1), s_uint(1));
        s_bytes_t body = s_pack(&root);
        S_EXPECT(s_all_kinds[i], body.data, body.len, PROTO_ERR_TYPE, "");
    }
    msgpack_object root = s_tree(S_SUBMIT);
    msgpack_object *doc = s_find_key(&root, "doc");
    s_map_append(doc, s_bin("subject", 7), s_str("x"));
    s_bytes_t body = s_pack(&root);
    S_EXPECT(S_SUBMIT, body.data, body.len, PROTO_ERR_TYPE, "doc");
}

static void s_test_numbers(void **state)
{
    (void) state;
    const proto_kind_t hb = PROTO_KIND_HEARTBEAT;
    S_CASE(hb, "time", S_SET, s_int(-1), PROTO_ERR_TYPE, "time");
    S_CASE(hb, "time", S_SET, s_int(INT64_MIN), PROTO_ERR_TYPE, "time");
    S_CASE(hb, "time", S_SET, s_f64(1767225600123.0), PROTO_ERR_TYPE, "time");
    S_CASE(hb, "time", S_SET, s_f32(1.0f), PROTO_ERR_TYPE, "time");
    S_CASE(hb, "time", S_SET, s_bool(false), PROTO_ERR_TYPE, "time");
    S_CASE(hb, "time", S_SET, s_str("1767225600123"), PROTO_ERR_TYPE, "time");
    proto_msg_t *msg = S_CASE(hb, "time", S_SET, s_uint(UINT64_MAX), PROTO_OK, NULL);
    assert_int_equal(msg->u.heartbeat.time, UINT64_MAX);
    proto_msg_destroy(&msg);
    msg = S_CASE(hb, "time", S_SET, s_uint(0), PROTO_OK, NULL);
    assert_int_equal(msg->u.heartbeat.time, 0);
    proto_msg_destroy(&msg);

    S_CASE(S_SUBMIT, "doc.created", S_SET, s_int(-5), PROTO_ERR_TYPE, "doc.created");
    S_CASE(S_SUBMIT, "doc.pages", S_SET, s_f32(4.0f), PROTO_ERR_TYPE, "doc.pages");
    S_CASE(S_SUBMIT, "doc.urgency", S_SET, s_int(-1), PROTO_ERR_TYPE, "doc.urgency");
    S_CASE(S_SUBMIT, "doc.att[0].size", S_SET, s_int(-1), PROTO_ERR_TYPE, "doc.att[0].size");
    S_CASE(S_SUBMIT, "doc.att[0].size", S_SET, s_f64(1e3), PROTO_ERR_TYPE, "doc.att[0].size");
    S_CASE(PROTO_KIND_ACK, "mids[1]", S_SET, s_int(-2), PROTO_ERR_TYPE, "mids[1]");
    S_CASE(PROTO_KIND_CREDIT, "window", S_SET, s_f64(1.0), PROTO_ERR_TYPE, "window");
    S_CASE(PROTO_KIND_STATUS, "notice.code", S_SET, s_int(-3), PROTO_ERR_TYPE, "notice.code");
    S_CASE(PROTO_KIND_ACCEPTED, "items[0].index", S_SET, s_f64(0.0), PROTO_ERR_TYPE,
           "items[0].index");
    S_CASE(PROTO_KIND_DIRECTORY, "entries[0].state", S_SET, s_bool(false), PROTO_ERR_TYPE,
           "entries[0].state");
}

static void s_test_missing(void **state)
{
    (void) state;
    static const char *const required[] = { "doc.id",      "doc.from", "doc.to",
                                            "doc.created", "doc.type", "doc.subject" };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        S_CASE(S_SUBMIT, required[i], S_DEL, s_nil(), PROTO_ERR_MISSING, required[i]);
        //  nil is the same as absent, for required fields too.
        S_CASE(S_SUBMIT, required[i], S_SET, s_nil(), PROTO_ERR_MISSING, required[i]);
    }
    S_CASE(S_SUBMIT, "sig", S_DEL, s_nil(), PROTO_ERR_MISSING, "sig");
    S_CASE(S_SUBMIT, "doc", S_DEL, s_nil(), PROTO_ERR_MISSING, "doc");
    S_CASE(S_SUBMIT, "doc", S_SET, s_nil(), PROTO_ERR_MISSING, "doc");
    S_CASE(S_SUBMIT, "doc.to", S_SET, s_arr(0), PROTO_ERR_MISSING, "doc.to");
    S_CASE(S_SUBMIT, "doc.att[0].hash", S_DEL, s_nil(), PROTO_ERR_MISSING, "doc.att[0].hash");
    S_CASE(S_SUBMIT, "doc.att[0].name", S_DEL, s_nil(), PROTO_ERR_MISSING, "doc.att[0].name");
    S_CASE(S_SUBMIT, "doc.att[0].size", S_DEL, s_nil(), PROTO_ERR_MISSING, "doc.att[0].size");
    S_CASE(S_SUBMIT, "doc.att[0].type", S_DEL, s_nil(), PROTO_ERR_MISSING, "doc.att[0].type");
    S_CASE(S_SUBMIT, "doc.att[1].enc.keys", S_DEL, s_nil(), PROTO_ERR_MISSING,
           "doc.att[1].enc.keys");
    S_CASE(S_SUBMIT, "doc.att[1].enc.alg", S_DEL, s_nil(), PROTO_ERR_MISSING, "doc.att[1].enc.alg");
    S_CASE(S_SUBMIT, "doc.trace[1].time", S_DEL, s_nil(), PROTO_ERR_MISSING, "doc.trace[1].time");
    S_CASE(S_SUBMIT, "doc.response_for[1].agency", S_DEL, s_nil(), PROTO_ERR_MISSING,
           "doc.response_for[1].agency");
    S_CASE(PROTO_KIND_DELIVER, "seq", S_DEL, s_nil(), PROTO_ERR_MISSING, "seq");
    S_CASE(PROTO_KIND_DELIVER, "accepted", S_DEL, s_nil(), PROTO_ERR_MISSING, "accepted");
    //  DELIVER's route: optional, but when there at least two brokers, each once.
    S_ACCEPT(PROTO_KIND_DELIVER, "route", S_DEL, s_nil());
    S_CASE(PROTO_KIND_DELIVER, "route[1].broker", S_SET, s_str("province-h29"),
           PROTO_ERR_ROUTE_LOOP, "route[1].broker");
    S_CASE(PROTO_KIND_DELIVER, "route", S_SET,
           s_arr(1, s_map(2, "broker", s_str("national"), "time", s_uint(S_T0))), PROTO_ERR_VALUE,
           "route");
    S_CASE(PROTO_KIND_DELIVER, "route[0].time", S_DEL, s_nil(), PROTO_ERR_MISSING, "route[0].time");
    S_CASE(PROTO_KIND_DELIVER, "route[0].broker", S_SET, s_str("Tỉnh"), PROTO_ERR_VALUE,
           "route[0].broker");
    S_CASE(PROTO_KIND_HELLO, "window", S_DEL, s_nil(), PROTO_ERR_MISSING, "window");
    S_CASE(PROTO_KIND_HELLO, "agency", S_DEL, s_nil(), PROTO_ERR_MISSING, "agency");
    S_CASE(PROTO_KIND_HELLO, "versions", S_SET, s_arr(0), PROTO_ERR_MISSING, "versions");
    S_CASE(PROTO_KIND_READY, "heartbeat", S_DEL, s_nil(), PROTO_ERR_MISSING, "heartbeat");
    S_CASE(PROTO_KIND_HEARTBEAT, "time", S_DEL, s_nil(), PROTO_ERR_MISSING, "time");
    S_CASE(PROTO_KIND_CREDIT, "window", S_SET, s_nil(), PROTO_ERR_MISSING, "window");
    S_CASE(PROTO_KIND_ACK, "mids", S_SET, s_arr(0), PROTO_ERR_MISSING, "mids");
    S_CASE(PROTO_KIND_ACCEPTED, "head", S_DEL, s_nil(), PROTO_ERR_MISSING, "head");
    S_CASE(PROTO_KIND_ACCEPTED, "head.root", S_DEL, s_nil(), PROTO_ERR_MISSING, "head.root");
    S_CASE(PROTO_KIND_ACCEPTED, "sig", S_DEL, s_nil(), PROTO_ERR_MISSING, "sig");
    S_CASE(PROTO_KIND_ACCEPTED, "items", S_DEL, s_nil(), PROTO_ERR_MISSING, "items");
    S_CASE(PROTO_KIND_ACCEPTED, "items", S_SET, s_arr(0), PROTO_ERR_MISSING, "items");
    S_CASE(PROTO_KIND_ACCEPTED, "items[0].leaf", S_DEL, s_nil(), PROTO_ERR_MISSING,
           "items[0].leaf");
    S_CASE(PROTO_KIND_ACCEPTED, "items[1].index", S_DEL, s_nil(), PROTO_ERR_MISSING,
           "items[1].index");
    S_CASE(PROTO_KIND_ACCEPTED, "items[0].leaf.hash", S_DEL, s_nil(), PROTO_ERR_MISSING,
           "items[0].leaf.hash");
    S_CASE(PROTO_KIND_DELIVERED, "items[0].leaf.to", S_DEL, s_nil(), PROTO_ERR_MISSING,
           "items[0].leaf.to");
    S_CASE(PROTO_KIND_EXPIRED, "items[1].leaf.to", S_DEL, s_nil(), PROTO_ERR_MISSING,
           "items[1].leaf.to");
    S_CASE(PROTO_KIND_STATUS, "notice", S_DEL, s_nil(), PROTO_ERR_MISSING, "notice");
    S_CASE(PROTO_KIND_STATUS, "notice.code", S_DEL, s_nil(), PROTO_ERR_MISSING, "notice.code");
    S_CASE(PROTO_KIND_STATUS, "notice.doc", S_DEL, s_nil(), PROTO_ERR_MISSING, "notice.doc");
    S_CASE(PROTO_KIND_DIRECTORY, "entries", S_DEL, s_nil(), PROTO_ERR_MISSING, "entries");
    S_CASE(PROTO_KIND_DIRECTORY, "entries[0].key", S_DEL, s_nil(), PROTO_ERR_MISSING,
           "entries[0].key");
    S_CASE(PROTO_KIND_DIRECTORY, "sig", S_DEL, s_nil(), PROTO_ERR_MISSING, "sig");
    S_CASE(PROTO_KIND_ERROR, "message", S_DEL, s_nil(), PROTO_ERR_MISSING, "message");
    S_CASE(PROTO_KIND_ERROR, "code", S_DEL, s_nil(), PROTO_ERR_MISSING, "code");
}

static void s_test_unknown_and_duplicate(void **state)
{
    (void) state;
    S_CASE(S_SUBMIT, "doc.color", S_SET, s_str("đỏ"), PROTO_ERR_UNKNOWN_FIELD, "doc.color");
    S_CASE(S_SUBMIT, "doc.Subject", S_SET, s_str("x"), PROTO_ERR_UNKNOWN_FIELD, "doc.Subject");
    S_CASE(S_SUBMIT, "doc.subjec", S_SET, s_str("x"), PROTO_ERR_UNKNOWN_FIELD, "doc.subjec");
    S_CASE(S_SUBMIT, "doc.subjects", S_SET, s_str("x"), PROTO_ERR_UNKNOWN_FIELD, "doc.subjects");
    S_CASE(S_SUBMIT, "doc.a\x01z", S_SET, s_nil(), PROTO_ERR_UNKNOWN_FIELD, "doc.a?z");
    S_CASE(S_SUBMIT, "extra", S_SET, s_uint(1), PROTO_ERR_UNKNOWN_FIELD, "extra");
    //  DELIVER's broker fields are not part of a SUBMIT.
    S_CASE(S_SUBMIT, "accepted", S_SET, s_uint(1), PROTO_ERR_UNKNOWN_FIELD, "accepted");
    S_CASE(S_SUBMIT, "seq", S_SET, s_uint(1), PROTO_ERR_UNKNOWN_FIELD, "seq");
    S_CASE(S_SUBMIT, "doc.att[0].owner", S_SET, s_str("x"), PROTO_ERR_UNKNOWN_FIELD,
           "doc.att[0].owner");
    S_CASE(S_SUBMIT, "doc.signer.title", S_SET, s_str("x"), PROTO_ERR_UNKNOWN_FIELD,
           "doc.signer.title");
    S_CASE(S_SUBMIT, "doc.att[1].enc.mode", S_SET, s_str("x"), PROTO_ERR_UNKNOWN_FIELD,
           "doc.att[1].enc.mode");
    S_CASE(PROTO_KIND_ACCEPTED, "items[0].leaf.note", S_SET, s_str("x"), PROTO_ERR_UNKNOWN_FIELD,
           "items[0].leaf.note");
    S_CASE(PROTO_KIND_ACCEPTED, "head.sig", S_SET, s_str("x"), PROTO_ERR_UNKNOWN_FIELD, "head.sig");
    S_CASE(PROTO_KIND_STATUS, "notice.staff.fax", S_SET, s_str("x"), PROTO_ERR_UNKNOWN_FIELD,
           "notice.staff.fax");
    S_CASE(PROTO_KIND_DIRECTORY, "entries[2].email", S_SET, s_str("x"), PROTO_ERR_UNKNOWN_FIELD,
           "entries[2].email");
    S_CASE(PROTO_KIND_HEARTBEAT, "window", S_SET, s_uint(1), PROTO_ERR_UNKNOWN_FIELD, "window");

    S_CASE(S_SUBMIT, "doc.subject", S_DUP, s_str("khác"), PROTO_ERR_DUP_FIELD, "doc.subject");
    S_CASE(S_SUBMIT, "doc.subject", S_DUP, s_nil(), PROTO_ERR_DUP_FIELD, "doc.subject");
    S_CASE(S_SUBMIT, "sig", S_DUP, s_bin_fill(PROTO_SIG_LEN, 1), PROTO_ERR_DUP_FIELD, "sig");
    S_CASE(S_SUBMIT, "doc.att[0].hash", S_DUP, s_bin_fill(32, 1), PROTO_ERR_DUP_FIELD,
           "doc.att[0].hash");
    S_CASE(PROTO_KIND_ACCEPTED, "items[0].leaf.event", S_DUP, s_uint(1), PROTO_ERR_DUP_FIELD,
           "items[0].leaf.event");
    S_CASE(PROTO_KIND_STATUS, "notice.code", S_DUP, s_uint(3), PROTO_ERR_DUP_FIELD, "notice.code");
    S_CASE(PROTO_KIND_HEARTBEAT, "time", S_DUP, s_uint(1), PROTO_ERR_DUP_FIELD, "time");
    S_CASE(PROTO_KIND_DIRECTORY, "entries[3].code", S_DUP, s_str("001.05.01.H01"),
           PROTO_ERR_DUP_FIELD, "entries[3].code");
}

static proto_msg_t *s_tree_expect_at(int line, proto_kind_t kind, const msgpack_object *root,
                                     proto_err_t want, const char *field)
{
    s_bytes_t body = s_pack(root);
    return s_expect_at(line, kind, body.data, body.len, want, field);
}

#define S_TREE_EXPECT(kind, root, want, field)                                                     \
    s_tree_expect_at(__LINE__, (kind), &(root), (want), (field))
//  The same, when the decoded message (if any) is not needed.
#define S_TREE_CHECK(kind, root, want, field)                                                      \
    do {                                                                                           \
        proto_msg_t *checked_ = s_tree_expect_at(__LINE__, (kind), &(root), (want), (field));      \
        proto_msg_destroy(&checked_);                                                              \
    } while (0)

//  An array of n distinct recipients.
static msgpack_object s_recipients(size_t n)
{
    msgpack_object to = s_arr_n(n);
    for (size_t i = 0; i < n; i++)
        to.via.array.ptr[i] = s_str(s_code((unsigned) i));
    return to;
}

//  The fixture's first (plain) attachment n times, with distinct names.
static msgpack_object s_attachments(size_t n)
{
    msgpack_object root = s_tree(S_SUBMIT);
    msgpack_object *doc = s_find_key(&root, "doc");
    msgpack_object *att = s_find_key(doc, "att");
    msgpack_object list = s_arr_n(n);
    for (size_t i = 0; i < n; i++) {
        msgpack_object one = att->via.array.ptr[0];
        msgpack_object_kv *kv = s_zalloc(one.via.map.size * sizeof *kv);
        memcpy(kv, one.via.map.ptr, one.via.map.size * sizeof *kv);
        one.via.map.ptr = kv;
        char name[64];
        snprintf(name, sizeof name, "Phụ lục %03zu.pdf", i);
        *s_find_key(&one, "name") = s_str(name);
        list.via.array.ptr[i] = one;
    }
    return list;
}

static void s_test_limits(void **state)
{
    (void) state;
    //  Subject: 500 characters, however many bytes they take.
    S_CASE(S_SUBMIT, "doc.subject", S_SET, s_str_rep("a", 501), PROTO_ERR_LIMIT, "doc.subject");
    S_ACCEPT(S_SUBMIT, "doc.subject", S_SET, s_str_rep("a", 500));
    proto_msg_t *msg = S_CASE(S_SUBMIT, "doc.subject", S_SET, s_str_rep("ệ", 500), PROTO_OK, NULL);
    assert_int_equal(strlen(msg->u.document.doc.subject), 1500);
    proto_msg_destroy(&msg);
    S_ACCEPT(S_SUBMIT, "doc.subject", S_SET, s_str_rep("\xf0\x9f\x98\x80", 500)); // 2000 bytes
    S_CASE(S_SUBMIT, "doc.subject", S_SET, s_str_rep("ệ", 501), PROTO_ERR_LIMIT, "doc.subject");
    S_CASE(S_SUBMIT, "doc.subject", S_SET, s_str_rep("\xf0\x9f\x98\x80", 501), PROTO_ERR_LIMIT,
           "doc.subject");
    S_CASE(S_SUBMIT, "doc.subject", S_SET, s_str_rep("a", 100000), PROTO_ERR_LIMIT, "doc.subject");
    S_CASE(S_SUBMIT, "doc.type", S_SET, s_str_rep("ư", 101), PROTO_ERR_LIMIT, "doc.type");
    S_CASE(S_SUBMIT, "doc.content", S_SET, s_str_rep("n", PROTO_MAX_CONTENT + 1), PROTO_ERR_LIMIT,
           "doc.content");
    S_ACCEPT(S_SUBMIT, "doc.content", S_SET, s_str_rep("n", PROTO_MAX_CONTENT));
    S_CASE(S_SUBMIT, "doc.att[0].name", S_SET, s_str_rep("ả", 201), PROTO_ERR_LIMIT,
           "doc.att[0].name");
    S_ACCEPT(S_SUBMIT, "doc.att[0].name", S_SET, s_str_rep("a", 200));
    //  Within 200 characters but over the 255 bytes a file system holds.
    S_ACCEPT(S_SUBMIT, "doc.att[0].name", S_SET, s_str_rep("ả", 85));
    S_CASE(S_SUBMIT, "doc.att[0].name", S_SET, s_str_rep("ả", 86), PROTO_ERR_LIMIT,
           "doc.att[0].name");
    //  Two attachments that would be one file (proto/fname.h).
    S_CASE(S_SUBMIT, "doc.att[1].name", S_SET, s_str("CÔNG VĂN 123.PDF"), PROTO_ERR_DUP_NAME,
           "doc.att[1].name");

    //  Recipients and attachments. The encrypted attachment has one key per
    //  recipient, so it goes when the recipient list changes.
    for (size_t n = 499; n <= 501; n++) {
        msgpack_object root = s_tree(S_SUBMIT);
        s_apply(&root, "doc.att[1].enc", S_DEL, s_nil());
        s_apply(&root, "doc.to", S_SET, s_recipients(n));
        msg = S_TREE_EXPECT(S_SUBMIT, root, n <= 500 ? PROTO_OK : PROTO_ERR_LIMIT, "doc.to");
        if (msg)
            assert_int_equal(msg->u.document.doc.nto, n);
        proto_msg_destroy(&msg);
    }
    for (size_t n = 99; n <= 101; n++) {
        msg = S_CASE(S_SUBMIT, "doc.att", S_SET, s_attachments(n),
                     n <= 100 ? PROTO_OK : PROTO_ERR_LIMIT, "doc.att");
        if (msg)
            assert_int_equal(msg->u.document.doc.natt, n);
        proto_msg_destroy(&msg);
    }

    S_CASE(S_SUBMIT, "doc.urgency", S_SET, s_uint(4), PROTO_ERR_LIMIT, "doc.urgency");
    S_CASE(S_SUBMIT, "doc.secrecy", S_SET, s_uint(4), PROTO_ERR_LIMIT, "doc.secrecy");
    S_CASE(S_SUBMIT, "doc.steering", S_SET, s_uint(256), PROTO_ERR_LIMIT, "doc.steering");
    S_ACCEPT(S_SUBMIT, "doc.steering", S_SET, s_uint(255));
    S_CASE(S_SUBMIT, "doc.op", S_SET, s_uint(4), PROTO_ERR_LIMIT, "doc.op");
    S_CASE(S_SUBMIT, "doc.pages", S_SET, s_uint(1000001), PROTO_ERR_LIMIT, "doc.pages");
    S_CASE(S_SUBMIT, "doc.pages", S_SET, s_uint(1ull << 32), PROTO_ERR_LIMIT, "doc.pages");
    S_CASE(S_SUBMIT, "doc.copies", S_SET, s_uint(0), PROTO_ERR_VALUE, "doc.copies");
    S_CASE(S_SUBMIT, "doc.att[0].size", S_SET, s_uint(PROTO_MAX_ATTACHMENT_SIZE + 1),
           PROTO_ERR_LIMIT, "doc.att[0].size");
    S_ACCEPT(S_SUBMIT, "doc.att[0].size", S_SET, s_uint(PROTO_MAX_ATTACHMENT_SIZE));
    S_ACCEPT(S_SUBMIT, "doc.att[0].size", S_SET, s_uint(0));
    S_CASE(S_SUBMIT, "doc.att[0].type", S_SET, s_str_rep("a/", 64), PROTO_ERR_LIMIT,
           "doc.att[0].type");
    char type127[PROTO_MAX_MEDIA_TYPE];
    memset(type127, 'x', sizeof type127);
    memcpy(type127, "text/", 5);
    S_ACCEPT(S_SUBMIT, "doc.att[0].type", S_SET, s_strn(type127, sizeof type127));

    msgpack_object places = s_arr_n(PROTO_MAX_PLACES + 1);
    for (size_t i = 0; i <= PROTO_MAX_PLACES; i++)
        places.via.array.ptr[i] = s_str("Sở Nội vụ");
    S_CASE(S_SUBMIT, "doc.places", S_SET, places, PROTO_ERR_LIMIT, "doc.places");
    places.via.array.size--;
    S_ACCEPT(S_SUBMIT, "doc.places", S_SET, places);

    msgpack_object trace = s_arr_n(PROTO_MAX_TRACE + 1);
    for (size_t i = 0; i <= PROTO_MAX_TRACE; i++)
        trace.via.array.ptr[i] = s_map(2, "agency", s_str("000.00.01.H01"), "time", s_uint(i));
    S_CASE(S_SUBMIT, "doc.trace", S_SET, trace, PROTO_ERR_LIMIT, "doc.trace");
    trace.via.array.size--;
    S_ACCEPT(S_SUBMIT, "doc.trace", S_SET, trace);

    msgpack_object refs = s_arr_n(PROTO_MAX_REFS + 1);
    for (size_t i = 0; i <= PROTO_MAX_REFS; i++)
        refs.via.array.ptr[i] = s_map(1, "agency", s_str(s_code((unsigned) i)));
    S_CASE(S_SUBMIT, "doc.response_for", S_SET, refs, PROTO_ERR_LIMIT, "doc.response_for");
    refs.via.array.size--;
    S_ACCEPT(S_SUBMIT, "doc.response_for", S_SET, refs);

    msgpack_object op_refs = s_arr_n(PROTO_MAX_REFS + 1);
    for (size_t i = 0; i <= PROTO_MAX_REFS; i++)
        op_refs.via.array.ptr[i] = s_bin_fill(PROTO_ID_LEN, (uint8_t) (100 + i));
    S_CASE(PROTO_KIND_REVOKE, "doc.op_refs", S_SET, op_refs, PROTO_ERR_LIMIT, "doc.op_refs");
    op_refs.via.array.size--;
    S_ACCEPT(PROTO_KIND_REVOKE, "doc.op_refs", S_SET, op_refs);

    S_CASE(S_SUBMIT, "doc.att[1].enc.chunk", S_SET, s_uint((1u << 24) + 1), PROTO_ERR_LIMIT,
           "doc.att[1].enc.chunk");
    S_CASE(S_SUBMIT, "doc.att[1].enc.chunk", S_SET, s_uint(1023), PROTO_ERR_VALUE,
           "doc.att[1].enc.chunk");

    //  Session kinds.
    S_CASE(PROTO_KIND_CREDIT, "window", S_SET, s_uint(PROTO_MAX_WINDOW + 1), PROTO_ERR_LIMIT,
           "window");
    S_ACCEPT(PROTO_KIND_CREDIT, "window", S_SET, s_uint(PROTO_MAX_WINDOW));
    S_CASE(PROTO_KIND_CREDIT, "window", S_SET, s_uint(0), PROTO_ERR_VALUE, "window");
    S_CASE(PROTO_KIND_HELLO, "window", S_SET, s_uint(PROTO_MAX_WINDOW + 1), PROTO_ERR_LIMIT,
           "window");
    msgpack_object versions = s_arr_n(PROTO_MAX_VERSIONS + 1);
    for (size_t i = 0; i <= PROTO_MAX_VERSIONS; i++)
        versions.via.array.ptr[i] = s_uint(1 + i);
    S_CASE(PROTO_KIND_HELLO, "versions", S_SET, versions, PROTO_ERR_LIMIT, "versions");
    S_CASE(PROTO_KIND_HELLO, "versions[0]", S_SET, s_uint(256), PROTO_ERR_LIMIT, "versions[0]");
    S_CASE(PROTO_KIND_HELLO, "versions[0]", S_SET, s_uint(0), PROTO_ERR_VALUE, "versions[0]");
    S_CASE(PROTO_KIND_HELLO, "software", S_SET, s_str_rep("v", 101), PROTO_ERR_LIMIT, "software");
    S_CASE(PROTO_KIND_READY, "max_recipients", S_SET, s_uint(501), PROTO_ERR_LIMIT,
           "max_recipients");
    S_CASE(PROTO_KIND_READY, "max_attachments", S_SET, s_uint(101), PROTO_ERR_LIMIT,
           "max_attachments");
    S_CASE(PROTO_KIND_READY, "heartbeat", S_SET, s_uint(99), PROTO_ERR_VALUE, "heartbeat");
    S_CASE(PROTO_KIND_READY, "max_frame", S_SET, s_uint(1023), PROTO_ERR_VALUE, "max_frame");
    S_CASE(PROTO_KIND_READY, "max_frame", S_SET, s_uint(PROTO_MAX_ATTACHMENT_SIZE + 1),
           PROTO_ERR_LIMIT, "max_frame");
    S_CASE(PROTO_KIND_READY, "version", S_SET, s_uint(0), PROTO_ERR_VALUE, "version");

    msgpack_object mids = s_arr_n(PROTO_MAX_ITEMS + 1);
    for (size_t i = 0; i <= PROTO_MAX_ITEMS; i++)
        mids.via.array.ptr[i] = s_uint(1 + i);
    S_CASE(PROTO_KIND_ACK, "mids", S_SET, mids, PROTO_ERR_LIMIT, "mids");
    mids.via.array.size--;
    S_ACCEPT(PROTO_KIND_ACK, "mids", S_SET, mids);
    S_CASE(PROTO_KIND_ACK, "mids[1]", S_SET, s_uint(0), PROTO_ERR_VALUE, "mids[1]");

    //  Receipts: items, paths, codes.
    msgpack_object root = s_tree(PROTO_KIND_ACCEPTED);
    msgpack_object *items = s_find_key(&root, "items");
    msgpack_object one = items->via.array.ptr[1];
    msgpack_object many = s_arr_n(PROTO_MAX_ITEMS + 1);
    for (size_t i = 0; i <= PROTO_MAX_ITEMS; i++)
        many.via.array.ptr[i] = one;
    *items = many;
    s_apply(&root, "head.size", S_SET, s_uint(1u << 20));
    S_TREE_CHECK(PROTO_KIND_ACCEPTED, root, PROTO_ERR_LIMIT, "items");
    items->via.array.size--;
    S_TREE_CHECK(PROTO_KIND_ACCEPTED, root, PROTO_OK, NULL);

    msgpack_object path = s_arr_n(PROTO_MAX_PATH + 1);
    for (size_t i = 0; i <= PROTO_MAX_PATH; i++)
        path.via.array.ptr[i] = s_bin_fill(PROTO_HASH_LEN, (uint8_t) i);
    S_CASE(PROTO_KIND_ACCEPTED, "items[0].path", S_SET, path, PROTO_ERR_LIMIT, "items[0].path");
    path.via.array.size--;
    S_ACCEPT(PROTO_KIND_ACCEPTED, "items[0].path", S_SET, path);
    S_CASE(PROTO_KIND_ACCEPTED, "items[0].leaf.event", S_SET, s_uint(7), PROTO_ERR_LIMIT,
           "items[0].leaf.event");
    S_CASE(PROTO_KIND_REJECTED, "items[0].leaf.code", S_SET, s_uint(1000), PROTO_ERR_LIMIT,
           "items[0].leaf.code");
    S_CASE(PROTO_KIND_ACCEPTED, "head.size", S_SET, s_uint(1ull << 32), PROTO_ERR_LIMIT,
           "head.size");
    S_CASE(PROTO_KIND_REJECTED, "items[0].leaf.reason", S_SET, s_str_rep("l", 2001),
           PROTO_ERR_LIMIT, "items[0].leaf.reason");

    //  STATUS, DIRECTORY, ERROR.
    S_CASE(PROTO_KIND_STATUS, "notice.code", S_SET, s_uint(17), PROTO_ERR_LIMIT, "notice.code");
    S_CASE(PROTO_KIND_STATUS, "notice.note", S_SET, s_str_rep("ố", 2001), PROTO_ERR_LIMIT,
           "notice.note");
    S_ACCEPT(PROTO_KIND_STATUS, "notice.note", S_SET, s_str_rep("ố", 2000));
    S_CASE(PROTO_KIND_DIRECTORY, "entries[0].state", S_SET, s_uint(3), PROTO_ERR_LIMIT,
           "entries[0].state");
    S_CASE(PROTO_KIND_DIRECTORY, "entries[1].name", S_SET, s_str_rep("b", 201), PROTO_ERR_LIMIT,
           "entries[1].name");
    //  Retired keys (10.1): an optional array, present means 1..8.
    S_CASE(PROTO_KIND_DIRECTORY, "entries[0].retired", S_SET, s_arr(0), PROTO_ERR_VALUE,
           "entries[0].retired");
    S_CASE(PROTO_KIND_DIRECTORY, "entries[0].retired", S_SET, s_uint(1), PROTO_ERR_TYPE,
           "entries[0].retired");
    S_CASE(PROTO_KIND_DIRECTORY, "broker_retired", S_SET, s_arr(0), PROTO_ERR_VALUE,
           "broker_retired");
    S_CASE(PROTO_KIND_DIRECTORY_DELTA, "broker_retired", S_SET, s_str("x"), PROTO_ERR_TYPE,
           "broker_retired");
    S_CASE(PROTO_KIND_ERROR, "code", S_SET, s_uint(1000), PROTO_ERR_LIMIT, "code");
    S_CASE(PROTO_KIND_ERROR, "message", S_SET, s_str_rep("e", 2001), PROTO_ERR_LIMIT, "message");
}

static void s_test_utf8_fields(void **state)
{
    (void) state;
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        { "\xc3\x28", 2 },             // bad continuation
        { "Vi\xe1\xbb", 4 },           // cut sequence
        { "a\0b", 3 },                 // NUL
        { "\xc0\xaf", 2 },             // overlong '/'
        { "\xed\xa0\x80", 3 },         // surrogate
        { "\xf4\x90\x80\x80", 4 },     // above U+10FFFF
        { "\xff", 1 },                 // never valid
        { "H\xe0 N\xe1\xbb\x99i", 8 }, // Latin-1 'à' amid UTF-8
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msgpack_object text = s_strn(bad[i].bytes, bad[i].len);
        S_CASE(S_SUBMIT, "doc.subject", S_SET, text, PROTO_ERR_UTF8, "doc.subject");
        S_CASE(S_SUBMIT, "doc.att[0].name", S_SET, text, PROTO_ERR_UTF8, "doc.att[0].name");
        S_CASE(S_SUBMIT, "doc.places[1]", S_SET, text, PROTO_ERR_UTF8, "doc.places[1]");
        S_CASE(S_SUBMIT, "doc.signer.name", S_SET, text, PROTO_ERR_UTF8, "doc.signer.name");
        S_CASE(S_SUBMIT, "doc.response_for[0].code", S_SET, text, PROTO_ERR_UTF8,
               "doc.response_for[0].code");
        S_CASE(S_SUBMIT, "doc.ext", S_SET, s_map(1, "k", text), PROTO_ERR_UTF8, "doc.ext.k");
        S_CASE(PROTO_KIND_REVOKE, "doc.op_reason", S_SET, text, PROTO_ERR_UTF8, "doc.op_reason");
        S_CASE(PROTO_KIND_ERROR, "message", S_SET, text, PROTO_ERR_UTF8, "message");
        S_CASE(PROTO_KIND_STATUS, "notice.note", S_SET, text, PROTO_ERR_UTF8, "notice.note");
        S_CASE(PROTO_KIND_STATUS, "notice.staff.name", S_SET, text, PROTO_ERR_UTF8,
               "notice.staff.name");
        S_CASE(PROTO_KIND_DIRECTORY, "entries[0].name", S_SET, text, PROTO_ERR_UTF8,
               "entries[0].name");
        S_CASE(PROTO_KIND_REJECTED, "items[1].leaf.reason", S_SET, text, PROTO_ERR_UTF8,
               "items[1].leaf.reason");
        S_CASE(PROTO_KIND_HELLO, "software", S_SET, text, PROTO_ERR_UTF8, "software");
    }
}

static void s_test_agency_fields(void **state)
{
    (void) state;
    static const char *const bad[] = { "000.00.01.h01", "000.01.00.H01",
                                       "000.00.00.H00", "001.00.01.H01",
                                       "000.00.01.H1",  "000.00.01.H010",
                                       "truc-broker",   "",
                                       "000.00.01.H01 " };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msgpack_object code = s_str(bad[i]);
        S_CASE(S_SUBMIT, "doc.from", S_SET, code, PROTO_ERR_AGENCY_CODE, "doc.from");
        S_CASE(S_SUBMIT, "doc.to[1]", S_SET, code, PROTO_ERR_AGENCY_CODE, "doc.to[1]");
        S_CASE(S_SUBMIT, "doc.trace[0].agency", S_SET, code, PROTO_ERR_AGENCY_CODE,
               "doc.trace[0].agency");
        S_CASE(S_SUBMIT, "doc.response_for[1].agency", S_SET, code, PROTO_ERR_AGENCY_CODE,
               "doc.response_for[1].agency");
        S_CASE(S_SUBMIT, "doc.att[1].enc.keys[2].agency", S_SET, code, PROTO_ERR_AGENCY_CODE,
               "doc.att[1].enc.keys[2].agency");
        S_CASE(PROTO_KIND_HELLO, "agency", S_SET, code, PROTO_ERR_AGENCY_CODE, "agency");
        S_CASE(PROTO_KIND_READY, "agency", S_SET, code, PROTO_ERR_AGENCY_CODE, "agency");
        S_CASE(PROTO_KIND_STATUS, "notice.from", S_SET, code, PROTO_ERR_AGENCY_CODE, "notice.from");
        S_CASE(PROTO_KIND_STATUS, "notice.to", S_SET, code, PROTO_ERR_AGENCY_CODE, "notice.to");
        S_CASE(PROTO_KIND_DIRECTORY, "entries[0].code", S_SET, code, PROTO_ERR_AGENCY_CODE,
               "entries[0].code");
        S_CASE(PROTO_KIND_ACCEPTED, "items[0].leaf.from", S_SET, code, PROTO_ERR_AGENCY_CODE,
               "items[0].leaf.from");
        S_CASE(PROTO_KIND_DELIVERED, "items[0].leaf.to", S_SET, code, PROTO_ERR_AGENCY_CODE,
               "items[0].leaf.to");
    }
    //  An agency code hidden behind a NUL is not an agency code.
    S_CASE(S_SUBMIT, "doc.from", S_SET, s_strn("000.00.01.H01\0", 14), PROTO_ERR_AGENCY_CODE,
           "doc.from");
    S_CASE(S_SUBMIT, "doc.from", S_SET, s_strn("000.00\0001.H01", 13), PROTO_ERR_AGENCY_CODE,
           "doc.from");

    //  Signers and brokers are named by an agency code or a broker label.
    static const char *const bad_labels[] = { "-broker", "truc broker", "", "br\xc3\xb4ker",
                                              "b/1" };
    for (size_t i = 0; i < sizeof bad_labels / sizeof bad_labels[0]; i++) {
        msgpack_object label = s_str(bad_labels[i]);
        S_CASE(PROTO_KIND_ACCEPTED, "head.signer", S_SET, label, PROTO_ERR_VALUE, "head.signer");
        S_CASE(PROTO_KIND_READY, "broker", S_SET, label, PROTO_ERR_VALUE, "broker");
        S_CASE(PROTO_KIND_DIRECTORY, "broker", S_SET, label, PROTO_ERR_VALUE, "broker");
    }
    S_ACCEPT(PROTO_KIND_ACCEPTED, "head.signer", S_SET, s_str("000.05.01.H01"));
    S_ACCEPT(PROTO_KIND_DELIVERED, "head.signer", S_SET, s_str("truc-broker-2"));
}

static void s_test_document_rules(void **state)
{
    (void) state;
    //  Recipients: no repeats, never the sender.
    S_CASE(S_SUBMIT, "doc.to[2]", S_SET, s_str("000.00.00.G01"), PROTO_ERR_VALUE, "doc.to[2]");
    S_CASE(S_SUBMIT, "doc.to[1]", S_SET, s_str("000.00.00.G01"), PROTO_ERR_VALUE, "doc.to[1]");
    S_CASE(S_SUBMIT, "doc.to[1]", S_SET, s_str("000.00.01.H01"), PROTO_ERR_VALUE, "doc.to");
    S_CASE(S_SUBMIT, "doc.to[3]", S_SET, s_str("000.00.01.H01"), PROTO_ERR_VALUE, "doc.to");

    //  Calendar dates.
    static const char *const bad_dates[] = {
        "2026-02-30", "2026-02-29", "1900-02-29",       "2100-02-29", "2026-04-31", "2026-13-01",
        "2026-00-10", "2026-01-00", "2026-01-32",       "2026-1-01",  "26-01-01",   "2026/01/01",
        "20260101",   "1899-12-31", "2026-01-01T00:00", "2026-0a-01", "+026-01-01", "",
    };
    for (size_t i = 0; i < sizeof bad_dates / sizeof bad_dates[0]; i++) {
        S_CASE(S_SUBMIT, "doc.date", S_SET, s_str(bad_dates[i]), PROTO_ERR_VALUE, "doc.date");
        S_CASE(S_SUBMIT, "doc.due", S_SET, s_str(bad_dates[i]), PROTO_ERR_VALUE, "doc.due");
        S_CASE(S_SUBMIT, "doc.response_for[0].date", S_SET, s_str(bad_dates[i]), PROTO_ERR_VALUE,
               "doc.response_for[0].date");
    }
    static const char *const good_dates[] = { "2024-02-29", "2000-02-29", "2026-12-31",
                                              "1900-01-01", "9999-12-31", "2026-02-28" };
    for (size_t i = 0; i < sizeof good_dates / sizeof good_dates[0]; i++) {
        proto_msg_t *msg =
            S_CASE(S_SUBMIT, "doc.date", S_SET, s_str(good_dates[i]), PROTO_OK, NULL);
        assert_string_equal(msg->u.document.doc.date, good_dates[i]);
        proto_msg_destroy(&msg);
    }
    S_CASE(S_SUBMIT, "doc.date", S_SET, s_uint(20260101), PROTO_ERR_TYPE, "doc.date");

    //  Attachment names end up as file names on the recipient's disk.
    static const struct {
        const char *bytes;
        size_t len;
    } bad_names[] = {
        { "..", 2 },    { ".", 1 },
        { "a/b", 3 },   { "../x.pdf", 8 },
        { "a\\b", 3 },  { "/etc/passwd", 11 },
        { "a\tb", 3 },  { "a\nb.pdf", 7 },
        { "x\x7f", 2 }, { "\x1b[31m.pdf", 9 },
        { "a\rb", 3 },  { "C:\\x", 4 },
        { "", 0 },
    };
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++)
        S_CASE(S_SUBMIT, "doc.att[0].name", S_SET, s_strn(bad_names[i].bytes, bad_names[i].len),
               PROTO_ERR_VALUE, "doc.att[0].name");
    static const char *const good_names[] = {
        "...", "..a", "a..b", ".hidden", "Báo cáo (bản 2).pdf", "Quyết định số 12-QĐ.pdf"
    };
    for (size_t i = 0; i < sizeof good_names / sizeof good_names[0]; i++)
        S_ACCEPT(S_SUBMIT, "doc.att[0].name", S_SET, s_str(good_names[i]));

    //  Media types: printable ASCII, type/subtype.
    static const char *const bad_types[] = { "pdf", "application/ pdf", "application/pdf\x01",
                                             "ứng-dụng/pdf", "" };
    for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++)
        S_CASE(S_SUBMIT, "doc.att[0].type", S_SET, s_str(bad_types[i]), PROTO_ERR_VALUE,
               "doc.att[0].type");

    //  Fixed-size binaries.
    S_CASE(S_SUBMIT, "doc.id", S_SET, s_bin_fill(15, 1), PROTO_ERR_VALUE, "doc.id");
    S_CASE(S_SUBMIT, "doc.id", S_SET, s_bin_fill(17, 1), PROTO_ERR_VALUE, "doc.id");
    S_CASE(S_SUBMIT, "sig", S_SET, s_bin_fill(63, 1), PROTO_ERR_VALUE, "sig");
    S_CASE(S_SUBMIT, "sig", S_SET, s_bin_fill(0, 1), PROTO_ERR_VALUE, "sig");
    S_CASE(S_SUBMIT, "doc.att[0].hash", S_SET, s_bin_fill(31, 1), PROTO_ERR_VALUE,
           "doc.att[0].hash");
    S_CASE(S_SUBMIT, "doc.response_for[0].doc", S_SET, s_bin_fill(15, 1), PROTO_ERR_VALUE,
           "doc.response_for[0].doc");
    S_CASE(S_SUBMIT, "doc.att[1].enc.header", S_SET, s_bin_fill(23, 1), PROTO_ERR_VALUE,
           "doc.att[1].enc.header");
    S_CASE(S_SUBMIT, "doc.att[1].enc.keys[0].key", S_SET, s_bin_fill(79, 1), PROTO_ERR_VALUE,
           "doc.att[1].enc.keys[0].key");

    //  Required text may not be empty; optional empty text is absent.
    S_CASE(S_SUBMIT, "doc.subject", S_SET, s_str(""), PROTO_ERR_VALUE, "doc.subject");
    S_CASE(S_SUBMIT, "doc.type", S_SET, s_str(""), PROTO_ERR_VALUE, "doc.type");
    S_CASE(S_SUBMIT, "doc.places[0]", S_SET, s_str(""), PROTO_ERR_VALUE, "doc.places[0]");
    proto_msg_t *msg = S_CASE(S_SUBMIT, "doc.place", S_SET, s_str(""), PROTO_OK, NULL);
    assert_null(msg->u.document.doc.place);
    proto_msg_destroy(&msg);

    //  Encrypted attachments: one sealed key per recipient.
    S_CASE(S_SUBMIT, "doc.att[1].enc.alg", S_SET, s_str("aes-256-gcm"), PROTO_ERR_VALUE,
           "doc.att[1].enc.alg");
    S_CASE(S_SUBMIT, "doc.att[1].enc.keys[0].agency", S_SET, s_str("000.07.01.H01"),
           PROTO_ERR_VALUE, "doc.att[1].enc.keys[0].agency");
    S_CASE(S_SUBMIT, "doc.att[1].enc.keys[0].agency", S_SET, s_str("000.00.01.H01"),
           PROTO_ERR_VALUE, "doc.att[1].enc.keys[0].agency");
    S_CASE(S_SUBMIT, "doc.att[1].enc.keys[1].agency", S_SET, s_str("001.05.01.H01"),
           PROTO_ERR_VALUE, "doc.att[1].enc.keys[1].agency");
    S_CASE(S_SUBMIT, "doc.att[1].enc.keys[2]", S_DEL, s_nil(), PROTO_ERR_VALUE,
           "doc.att[1].enc.keys");
}

static void s_test_operations(void **state)
{
    (void) state;
    msgpack_object id = s_bin_fill(PROTO_ID_LEN, 3);
    //  A SUBMIT that claims to revoke, complete otherwise.
    msgpack_object root = s_tree(S_SUBMIT);
    s_apply(&root, "doc.op", S_SET, s_uint(PROTO_OP_REVOKE));
    s_apply(&root, "doc.op_reason", S_SET, s_str("Thu hồi"));
    s_apply(&root, "doc.op_refs", S_SET, s_arr(1, id));
    S_TREE_CHECK(S_SUBMIT, root, PROTO_ERR_VALUE, "doc.op");
    //  The same body is a fine REVOKE, and DELIVER carries any operation.
    S_TREE_CHECK(PROTO_KIND_REVOKE, root, PROTO_OK, NULL);
    s_apply(&root, "accepted", S_SET, s_uint(S_T0));
    s_apply(&root, "seq", S_SET, s_uint(9));
    proto_msg_t *msg = S_TREE_EXPECT(PROTO_KIND_DELIVER, root, PROTO_OK, NULL);
    assert_int_equal(msg->u.document.doc.op, PROTO_OP_REVOKE);
    proto_msg_destroy(&msg);

    S_CASE(PROTO_KIND_REVOKE, "doc.op", S_SET, s_uint(PROTO_OP_UPDATE), PROTO_ERR_VALUE, "doc.op");
    S_CASE(PROTO_KIND_UPDATE, "doc.op", S_SET, s_uint(PROTO_OP_REPLACE), PROTO_ERR_VALUE, "doc.op");
    S_CASE(PROTO_KIND_REPLACE, "doc.op", S_SET, s_uint(PROTO_OP_REVOKE), PROTO_ERR_VALUE, "doc.op");
    //  op absent means NEW, and NEW carries no reason or targets.
    S_CASE(PROTO_KIND_REVOKE, "doc.op", S_DEL, s_nil(), PROTO_ERR_VALUE, "doc.op_reason");
    root = s_tree(PROTO_KIND_REVOKE);
    s_apply(&root, "doc.op", S_DEL, s_nil());
    s_apply(&root, "doc.op_reason", S_DEL, s_nil());
    s_apply(&root, "doc.op_refs", S_DEL, s_nil());
    S_TREE_CHECK(PROTO_KIND_REVOKE, root, PROTO_ERR_VALUE, "doc.op");
    S_CASE(S_SUBMIT, "doc.op_reason", S_SET, s_str("x"), PROTO_ERR_VALUE, "doc.op_reason");
    S_CASE(S_SUBMIT, "doc.op_refs", S_SET, s_arr(1, id), PROTO_ERR_VALUE, "doc.op_refs");
    S_ACCEPT(S_SUBMIT, "doc.op", S_SET, s_uint(PROTO_OP_NEW));

    //  A revocation must say why and what.
    S_CASE(PROTO_KIND_REVOKE, "doc.op_reason", S_DEL, s_nil(), PROTO_ERR_MISSING, "doc.op_reason");
    S_CASE(PROTO_KIND_REVOKE, "doc.op_reason", S_SET, s_str(""), PROTO_ERR_VALUE, "doc.op_reason");
    S_CASE(PROTO_KIND_REVOKE, "doc.op_refs", S_DEL, s_nil(), PROTO_ERR_MISSING, "doc.op_refs");
    S_CASE(PROTO_KIND_REVOKE, "doc.op_refs", S_SET, s_arr(0), PROTO_ERR_MISSING, "doc.op_refs");
    S_CASE(PROTO_KIND_UPDATE, "doc.op_refs", S_SET, s_nil(), PROTO_ERR_MISSING, "doc.op_refs");
    S_CASE(PROTO_KIND_REVOKE, "doc.op_refs[1]", S_SET, s_bin_fill(15, 3), PROTO_ERR_VALUE,
           "doc.op_refs[1]");
    //  Nothing acts on itself.
    S_CASE(PROTO_KIND_REPLACE, "doc.op_refs[1]", S_SET, s_bin_fill(PROTO_ID_LEN, 1),
           PROTO_ERR_VALUE, "doc.op_refs[1]");
}

//  The transparency log's fields (PROTOCOL.md 5.12): a batch head's place
//  in the log, READY's head, LOG_PROVE and LOG_PROOF.
static void s_test_log_rules(void **state)
{
    (void) state;
    S_ACCEPT(PROTO_KIND_ACCEPTED, "head.log", S_SET, s_uint(3));
    S_ACCEPT(PROTO_KIND_REJECTED, "head.log", S_SET, s_uint(3));
    S_CASE(PROTO_KIND_ACCEPTED, "head.log", S_SET, s_uint(0), PROTO_ERR_VALUE, "head.log");
    S_CASE(PROTO_KIND_ACCEPTED, "head.log", S_SET, s_uint(1ull << 32), PROTO_ERR_LIMIT, "head.log");
    S_CASE(PROTO_KIND_DELIVERED, "head.log", S_SET, s_uint(3), PROTO_ERR_VALUE, "head.log");
    S_CASE(PROTO_KIND_EXPIRED, "head.log", S_SET, s_uint(3), PROTO_ERR_VALUE, "head.log");
    S_ACCEPT(PROTO_KIND_READY, "log", S_DEL, s_nil());
    S_CASE(PROTO_KIND_READY, "log.sig", S_DEL, s_nil(), PROTO_ERR_MISSING, "log.sig");
    S_ACCEPT(PROTO_KIND_READY, "log.size", S_SET, s_uint(0));
    S_CASE(PROTO_KIND_READY, "log.size", S_SET, s_uint(1ull << 32), PROTO_ERR_LIMIT, "log.size");
    S_CASE(PROTO_KIND_READY, "log.root", S_SET, s_bin_fill(31, 1), PROTO_ERR_VALUE, "log.root");
    S_CASE(PROTO_KIND_READY, "log.extra", S_SET, s_uint(1), PROTO_ERR_UNKNOWN_FIELD, "log.extra");
    S_ACCEPT(PROTO_KIND_LOG_PROVE, "from", S_SET, s_uint(0));
    S_CASE(PROTO_KIND_LOG_PROVE, "from", S_DEL, s_nil(), PROTO_ERR_MISSING, "from");
    S_CASE(PROTO_KIND_LOG_PROVE, "from", S_SET, s_uint(1ull << 32), PROTO_ERR_LIMIT, "from");
    S_CASE(PROTO_KIND_LOG_PROOF, "sth", S_DEL, s_nil(), PROTO_ERR_MISSING, "sth");
    S_CASE(PROTO_KIND_LOG_PROOF, "from", S_SET, s_uint(101), PROTO_ERR_VALUE, "from");
    S_CASE(PROTO_KIND_LOG_PROOF, "from", S_SET, s_uint(100), PROTO_ERR_VALUE, "proof");
    S_CASE(PROTO_KIND_LOG_PROOF, "from", S_DEL, s_nil(), PROTO_ERR_VALUE, "proof");
    S_ACCEPT(PROTO_KIND_LOG_PROOF, "proof", S_DEL, s_nil());
    S_CASE(PROTO_KIND_LOG_PROOF, "proof[1]", S_SET, s_bin_fill(33, 1), PROTO_ERR_VALUE, "proof[1]");
    S_CASE(PROTO_KIND_LOG_PROOF, "sth.signer", S_SET, s_str("no such label!"), PROTO_ERR_VALUE,
           "sth.signer");
}

static void s_test_receipt_rules(void **state)
{
    (void) state;
    //  Each kind carries its own events only.
    static const struct {
        proto_kind_t kind;
        uint8_t event;
        bool ok;
    } events[] = {
        { PROTO_KIND_ACCEPTED, PROTO_EVENT_ACCEPTED, true },
        { PROTO_KIND_ACCEPTED, PROTO_EVENT_DELIVERED, false },
        { PROTO_KIND_ACCEPTED, PROTO_EVENT_EXPIRED, false },
        { PROTO_KIND_REJECTED, PROTO_EVENT_ACCEPTED, false },
        { PROTO_KIND_REJECTED, PROTO_EVENT_REFUSED, false },
        { PROTO_KIND_EXPIRED, PROTO_EVENT_RETURNED, true },
        { PROTO_KIND_EXPIRED, PROTO_EVENT_ACCEPTED, false },
        { PROTO_KIND_EXPIRED, PROTO_EVENT_DELIVERED, false },
        { PROTO_KIND_DELIVERED, PROTO_EVENT_ACCEPTED, false },
        { PROTO_KIND_DELIVERED, PROTO_EVENT_EXPIRED, false },
        { PROTO_KIND_DELIVERED, PROTO_EVENT_REJECTED, false },
    };
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        msgpack_object root = s_tree(events[i].kind);
        s_apply(&root, "items[0].leaf.event", S_SET, s_uint(events[i].event));
        //  Make code and `to` fit the event, so only the event is wrong.
        bool needs_code =
            events[i].event == PROTO_EVENT_REJECTED || events[i].event == PROTO_EVENT_REFUSED;
        s_apply(&root, "items[0].leaf.code", S_SET, needs_code ? s_uint(PROTO_ERR_QUOTA) : s_nil());
        s_apply(&root, "items[0].leaf.to", S_SET, s_str("000.05.01.H01"));
        S_TREE_CHECK(events[i].kind, root, events[i].ok ? PROTO_OK : PROTO_ERR_VALUE,
                     "items[0].leaf.event");
    }
    S_CASE(PROTO_KIND_ACCEPTED, "items[0].leaf.event", S_SET, s_uint(0), PROTO_ERR_VALUE,
           "items[0].leaf.event");

    //  A refusal says why; an acceptance carries no error code.
    S_CASE(PROTO_KIND_REJECTED, "items[0].leaf.code", S_DEL, s_nil(), PROTO_ERR_VALUE,
           "items[0].leaf.code");
    S_CASE(PROTO_KIND_REJECTED, "items[0].leaf.code", S_SET, s_uint(0), PROTO_ERR_VALUE,
           "items[0].leaf.code");
    S_CASE(PROTO_KIND_DELIVERED, "items[1].leaf.code", S_DEL, s_nil(), PROTO_ERR_VALUE,
           "items[1].leaf.code");
    S_CASE(PROTO_KIND_ACCEPTED, "items[0].leaf.code", S_SET, s_uint(PROTO_ERR_BAD_PROOF),
           PROTO_ERR_VALUE, "items[0].leaf.code");
    S_CASE(PROTO_KIND_DELIVERED, "items[0].leaf.code", S_SET, s_uint(PROTO_ERR_BUSY),
           PROTO_ERR_VALUE, "items[0].leaf.code");
    S_CASE(PROTO_KIND_REJECTED, "items[0].leaf.code", S_SET, s_uint(777), PROTO_ERR_VALUE,
           "items[0].leaf.code");
    S_CASE(PROTO_KIND_REJECTED, "items[0].leaf.code", S_SET, s_uint(1), PROTO_ERR_VALUE,
           "items[0].leaf.code");
    S_ACCEPT(PROTO_KIND_REJECTED, "items[0].leaf.code", S_SET, s_uint(PROTO_ERR_INTERNAL));
    S_CASE(PROTO_KIND_ACCEPTED, "items[0].leaf.seq", S_SET, s_uint(0), PROTO_ERR_VALUE,
           "items[0].leaf.seq");
    S_CASE(PROTO_KIND_REJECTED, "mid", S_SET, s_uint(0), PROTO_ERR_VALUE, "mid");

    //  Indexes and sizes: the fixture's head says 5 leaves.
    S_CASE(PROTO_KIND_ACCEPTED, "items[1].index", S_SET, s_uint(5), PROTO_ERR_LIMIT,
           "items[1].index");
    S_CASE(PROTO_KIND_ACCEPTED, "items[0].index", S_SET, s_uint(UINT64_MAX), PROTO_ERR_LIMIT,
           "items[0].index");
    S_ACCEPT(PROTO_KIND_ACCEPTED, "items[0].index", S_SET, s_uint(4));
    S_CASE(PROTO_KIND_ACCEPTED, "head.size", S_SET, s_uint(0), PROTO_ERR_VALUE, "head.size");
    S_CASE(PROTO_KIND_ACCEPTED, "head.size", S_SET, s_uint(1), PROTO_ERR_VALUE, "items");
    S_CASE(PROTO_KIND_ACCEPTED, "head.root", S_SET, s_bin_fill(31, 1), PROTO_ERR_VALUE,
           "head.root");
    S_CASE(PROTO_KIND_ACCEPTED, "sig", S_SET, s_bin_fill(65, 1), PROTO_ERR_VALUE, "sig");
    S_CASE(PROTO_KIND_ACCEPTED, "items[0].path[2]", S_SET, s_bin_fill(31, 1), PROTO_ERR_VALUE,
           "items[0].path[2]");
    S_CASE(PROTO_KIND_ACCEPTED, "items[0].leaf.id", S_SET, s_bin_fill(15, 1), PROTO_ERR_VALUE,
           "items[0].leaf.id");
}

static void s_test_status_directory_error_rules(void **state)
{
    (void) state;
    for (unsigned code = 0; code <= 16; code++) {
        bool ok = (code >= 1 && code <= 6) || code == 13 || code == 15 || code == 16;
        proto_msg_t *msg = S_CASE(PROTO_KIND_STATUS, "notice.code", S_SET, s_uint(code),
                                  ok ? PROTO_OK : PROTO_ERR_VALUE, "notice.code");
        if (msg)
            assert_int_equal(msg->u.status.notice.code, code);
        proto_msg_destroy(&msg);
    }
    S_CASE(PROTO_KIND_STATUS, "notice.to", S_SET, s_str("000.05.01.H01"), PROTO_ERR_VALUE,
           "notice.to");
    S_CASE(PROTO_KIND_STATUS, "notice.id", S_SET, s_bin_fill(8, 1), PROTO_ERR_VALUE, "notice.id");
    S_CASE(PROTO_KIND_STATUS, "mid", S_SET, s_uint(0), PROTO_ERR_VALUE, "mid");

    //  Directory entries are sorted by code and unique.
    msgpack_object root = s_tree(PROTO_KIND_DIRECTORY);
    msgpack_object *entries = s_find_key(&root, "entries");
    msgpack_object first = entries->via.array.ptr[0];
    entries->via.array.ptr[0] = entries->via.array.ptr[1];
    entries->via.array.ptr[1] = first;
    S_TREE_CHECK(PROTO_KIND_DIRECTORY, root, PROTO_ERR_VALUE, "entries[1].code");
    S_CASE(PROTO_KIND_DIRECTORY, "entries[2].code", S_SET, s_str("000.00.01.H01"), PROTO_ERR_VALUE,
           "entries[2].code");
    S_CASE(PROTO_KIND_DIRECTORY, "entries[3].code", S_SET, s_str("000.05.01.H01"), PROTO_ERR_VALUE,
           "entries[3].code");
    S_CASE(PROTO_KIND_DIRECTORY, "entries[1].until", S_SET, s_uint(1700000000), PROTO_ERR_VALUE,
           "entries[1].until");
    S_CASE(PROTO_KIND_DIRECTORY, "entries[1].until", S_SET, s_uint(1600000000), PROTO_ERR_VALUE,
           "entries[1].until");
    S_CASE(PROTO_KIND_DIRECTORY, "entries[1].from", S_SET, s_uint(0), PROTO_ERR_VALUE,
           "entries[1].from");
    S_CASE(PROTO_KIND_DIRECTORY, "serial", S_SET, s_uint(0), PROTO_ERR_VALUE, "serial");
    S_CASE(PROTO_KIND_DIRECTORY, "entries[0].key", S_SET, s_bin_fill(31, 1), PROTO_ERR_VALUE,
           "entries[0].key");
    proto_msg_t *msg = S_CASE(PROTO_KIND_DIRECTORY, "entries", S_SET, s_arr(0), PROTO_OK, NULL);
    assert_int_equal(msg->u.directory.nentries, 0);
    proto_msg_destroy(&msg);

    //  ERROR carries a defined code only.
    S_CASE(PROTO_KIND_ERROR, "code", S_SET, s_uint(777), PROTO_ERR_VALUE, "code");
    S_CASE(PROTO_KIND_ERROR, "code", S_SET, s_uint(0), PROTO_ERR_VALUE, "code");
    S_CASE(PROTO_KIND_ERROR, "code", S_SET, s_uint(118), PROTO_ERR_VALUE, "code");
    S_ACCEPT(PROTO_KIND_ERROR, "code", S_SET, s_uint(PROTO_ERR_INTERNAL));
    S_ACCEPT(PROTO_KIND_ERROR, "code", S_SET, s_uint(PROTO_ERR_FRAMING));
    S_CASE(PROTO_KIND_ERROR, "message", S_SET, s_str(""), PROTO_ERR_VALUE, "message");
    S_CASE(PROTO_KIND_ERROR, "ref", S_SET, s_bin_fill(16 + 1, 1), PROTO_ERR_VALUE, "ref");
}

//  nil stands for "absent": optional fields accept it.
static void s_test_nil_optional(void **state)
{
    (void) state;
    static const char *const optional[] = {
        "doc.number",
        "doc.notation",
        "doc.place",
        "doc.date",
        "doc.due",
        "doc.content",
        "doc.sphere",
        "doc.typist",
        "doc.signer",
        "doc.urgency",
        "doc.secrecy",
        "doc.steering",
        "doc.pages",
        "doc.copies",
        "doc.appendixes",
        "doc.places",
        "doc.response_for",
        "doc.op",
        "doc.trace",
        "doc.ext",
        "doc.att",
        "doc.signer.name",
        "doc.response_for[0].code",
        "doc.response_for[0].date",
        "doc.response_for[0].doc",
        "doc.op_reason",
        "doc.op_refs",
    };
    for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++) {
        proto_msg_t *msg = S_CASE(S_SUBMIT, optional[i], S_SET, s_nil(), PROTO_OK, NULL);
        const proto_doc_t *doc = &msg->u.document.doc;
        if (strcmp(optional[i], "doc.place") == 0)
            assert_null(doc->place);
        if (strcmp(optional[i], "doc.att") == 0) {
            assert_int_equal(doc->natt, 0);
            assert_null(doc->att);
        }
        if (strcmp(optional[i], "doc.signer") == 0)
            assert_null(doc->signer.position);
        if (strcmp(optional[i], "doc.pages") == 0)
            assert_int_equal(doc->pages, 0);
        if (strcmp(optional[i], "doc.ext") == 0)
            assert_int_equal(doc->next, 0);
        if (strcmp(optional[i], "doc.response_for[0].doc") == 0)
            assert_false(doc->response_for[0].has_doc);
        proto_msg_destroy(&msg);
    }
    proto_msg_t *msg = S_CASE(PROTO_KIND_ERROR, "ref", S_SET, s_nil(), PROTO_OK, NULL);
    assert_false(msg->u.error.has_ref);
    proto_msg_destroy(&msg);
    msg = S_CASE(PROTO_KIND_ERROR, "fatal", S_SET, s_nil(), PROTO_OK, NULL);
    assert_false(msg->u.error.fatal);
    proto_msg_destroy(&msg);
    msg = S_CASE(PROTO_KIND_REJECTED, "mid", S_SET, s_nil(), PROTO_OK, NULL);
    assert_int_equal(msg->u.receipts.mid, 0);
    proto_msg_destroy(&msg);
    msg = S_CASE(PROTO_KIND_ACCEPTED, "items[0].path", S_SET, s_nil(), PROTO_OK, NULL);
    assert_int_equal(msg->u.receipts.items[0].npath, 0);
    proto_msg_destroy(&msg);
    S_ACCEPT(PROTO_KIND_ACCEPTED, "items[0].leaf.seq", S_SET, s_nil());
    S_ACCEPT(PROTO_KIND_ACCEPTED, "items[0].leaf.to", S_SET, s_nil());
    S_ACCEPT(PROTO_KIND_REJECTED, "items[0].leaf.reason", S_SET, s_nil());
    S_ACCEPT(PROTO_KIND_STATUS, "notice.staff", S_SET, s_nil());
    S_ACCEPT(PROTO_KIND_STATUS, "notice.note", S_SET, s_nil());
    S_ACCEPT(PROTO_KIND_STATUS, "mid", S_SET, s_nil());
    S_ACCEPT(PROTO_KIND_HELLO, "software", S_SET, s_nil());
    S_ACCEPT(PROTO_KIND_HELLO, "dir_serial", S_SET, s_nil());
    S_ACCEPT(PROTO_KIND_DIRECTORY, "entries[1].from", S_SET, s_nil());
}

static void s_test_ext(void **state)
{
    (void) state;
    static const char *const bad_keys[] = { "Upper", "", "a b", "ý", "a/b", "a:b", "k\x01" };
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++)
        S_CASE(S_SUBMIT, "doc.ext", S_SET, s_map(1, bad_keys[i], s_str("v")), PROTO_ERR_VALUE,
               "doc.ext");
    char key[PROTO_MAX_EXT_KEY + 2];
    memset(key, 'k', sizeof key - 1);
    key[PROTO_MAX_EXT_KEY + 1] = '\0';
    S_CASE(S_SUBMIT, "doc.ext", S_SET, s_map(1, key, s_str("v")), PROTO_ERR_VALUE, "doc.ext");
    key[PROTO_MAX_EXT_KEY] = '\0';
    S_ACCEPT(S_SUBMIT, "doc.ext", S_SET, s_map(1, key, s_str("v")));
    S_ACCEPT(S_SUBMIT, "doc.ext", S_SET, s_map(1, "a.b_c-9", s_str("v")));

    msgpack_object int_key = s_map(1, "k", s_str("v"));
    int_key.via.map.ptr[0].key = s_uint(1);
    S_CASE(S_SUBMIT, "doc.ext", S_SET, int_key, PROTO_ERR_TYPE, "doc.ext");
    S_CASE(S_SUBMIT, "doc.ext", S_SET, s_arr(1, s_str("k")), PROTO_ERR_TYPE, "doc.ext");
    S_CASE(S_SUBMIT, "doc.ext", S_SET, s_str("k=v"), PROTO_ERR_TYPE, "doc.ext");

    S_CASE(S_SUBMIT, "doc.ext", S_SET, s_map(2, "k", s_str("a"), "k", s_str("b")),
           PROTO_ERR_DUP_FIELD, "doc.ext.k");
    S_CASE(S_SUBMIT, "doc.ext", S_SET, s_map(3, "a", s_str("1"), "b", s_str("2"), "a", s_str("3")),
           PROTO_ERR_DUP_FIELD, "doc.ext.a");

    S_CASE(S_SUBMIT, "doc.ext", S_SET, s_map(1, "k", s_str("")), PROTO_ERR_VALUE, "doc.ext.k");
    S_CASE(S_SUBMIT, "doc.ext", S_SET, s_map(1, "k", s_uint(1)), PROTO_ERR_TYPE, "doc.ext.k");
    S_CASE(S_SUBMIT, "doc.ext", S_SET, s_map(1, "k", s_nil()), PROTO_ERR_TYPE, "doc.ext.k");
    S_CASE(S_SUBMIT, "doc.ext", S_SET, s_map(1, "k", s_str_rep("v", PROTO_MAX_EXT_VALUE + 1)),
           PROTO_ERR_LIMIT, "doc.ext.k");
    S_ACCEPT(S_SUBMIT, "doc.ext", S_SET, s_map(1, "k", s_str_rep("ư", PROTO_MAX_EXT_VALUE)));

    msgpack_object many = s_map(0);
    for (unsigned i = 0; i <= PROTO_MAX_EXT; i++) {
        char name[16];
        snprintf(name, sizeof name, "k%u", i);
        s_map_append(&many, s_str(name), s_str("v"));
    }
    S_CASE(S_SUBMIT, "doc.ext", S_SET, many, PROTO_ERR_LIMIT, "doc.ext");
    many.via.map.size--;
    proto_msg_t *msg = S_CASE(S_SUBMIT, "doc.ext", S_SET, many, PROTO_OK, NULL);
    assert_int_equal(msg->u.document.doc.next, PROTO_MAX_EXT);
    assert_string_equal(msg->u.document.doc.ext[63].key, "k63");
    proto_msg_destroy(&msg);
    msg = S_CASE(S_SUBMIT, "doc.ext", S_SET, s_map(0), PROTO_OK, NULL);
    assert_int_equal(msg->u.document.doc.next, 0);
    proto_msg_destroy(&msg);
}

// ---------------------------------------------------------------------------
//  Robustness and resource bounds

//  Change every byte of a few valid bodies to a few telling values. Whatever
//  the decoder says, it says it cleanly, and what it accepts can be encoded
//  again: decoded structs always satisfy the schema.
static void s_test_byte_sweep(void **state)
{
    (void) state;
    static const proto_kind_t kinds[] = { S_SUBMIT,          PROTO_KIND_REJECTED,
                                          PROTO_KIND_STATUS, PROTO_KIND_DIRECTORY,
                                          PROTO_KIND_HELLO,  PROTO_KIND_ERROR };
    size_t accepted = 0, refused = 0;
    proto_buf_t again;
    proto_buf_init(&again);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        proto_buf_t buf;
        s_fixture_body(kinds[k], &buf);
        for (size_t pos = 0; pos < buf.len; pos++) {
            uint8_t original = buf.data[pos];
            const uint8_t values[] = { 0x00,
                                       0x7f,
                                       0xc0,
                                       0xc1,
                                       0xc3,
                                       0xdf,
                                       0xff,
                                       (uint8_t) (original ^ 0x01),
                                       (uint8_t) (original ^ 0x80),
                                       (uint8_t) (original + 1) };
            for (size_t v = 0; v < sizeof values; v++) {
                if (values[v] == original)
                    continue;
                buf.data[pos] = values[v];
                proto_msg_t *msg = &s_sentinel;
                proto_errinfo_t info;
                proto_err_t rc = proto_msg_decode(kinds[k], buf.data, buf.len, &msg, &info);
                assert_int_equal(info.code, rc);
                if (rc != PROTO_OK) {
                    assert_null(msg);
                    assert_true(rc >= PROTO_ERR_MSGPACK && rc <= PROTO_ERR_TOO_LARGE);
                    refused++;
                    continue;
                }
                accepted++;
                proto_err_t again_rc = proto_msg_encode(msg, &again, &info);
                if (again_rc != PROTO_OK) {
                    print_error("%s byte %zu = 0x%02x: decoded, but re-encoding gives %s at "
                                "'%s'\n",
                                proto_kind_name(kinds[k]), pos, values[v], proto_errname(again_rc),
                                info.field);
                    fail();
                }
                proto_msg_destroy(&msg);
            }
            buf.data[pos] = original;
        }
        proto_buf_free(&buf);
    }
    proto_buf_free(&again);
    //  Both outcomes occur, or the sweep tested nothing.
    assert_true(accepted > 100);
    assert_true(refused > 1000);
}

static size_t s_arena_used(const proto_msg_t *msg)
{
    return proto_arena_used(msg->arena);
}

//  A decoded message holds at most 8 bytes of arena per body byte, plus a
//  little: the receiver's memory is bounded by what it was sent.
#define S_ARENA_BOUND(len) (8 * (len) + 4096)

static void s_test_memory_bound(void **state)
{
    (void) state;
    //  The largest SUBMIT the limits allow in recipients and attachments.
    s_fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    s_fixture(fx, S_SUBMIT);
    proto_doc_t *doc = &fx->msg.u.document.doc;
    const char **to = calloc(PROTO_MAX_RECIPIENTS, sizeof *to);
    char(*codes)[PROTO_AGENCY_CODE_LEN + 1] = calloc(PROTO_MAX_RECIPIENTS, sizeof *codes);
    proto_attachment_t *att = calloc(PROTO_MAX_ATTACHMENTS, sizeof *att);
    char(*names)[40] = calloc(PROTO_MAX_ATTACHMENTS, sizeof *names);
    assert_true(to && codes && att && names);
    for (unsigned i = 0; i < PROTO_MAX_RECIPIENTS; i++) {
        strcpy(codes[i], s_code(i));
        to[i] = codes[i];
    }
    for (unsigned i = 0; i < PROTO_MAX_ATTACHMENTS; i++) {
        snprintf(names[i], sizeof names[i], "Phụ lục %03u.pdf", i);
        att[i].name = names[i];
        att[i].type = "application/pdf";
        att[i].size = 1000u + i;
        s_fill(att[i].hash, PROTO_HASH_LEN, (uint8_t) i);
    }
    doc->to = to;
    doc->nto = PROTO_MAX_RECIPIENTS;
    doc->att = att;
    doc->natt = PROTO_MAX_ATTACHMENTS;
    proto_buf_t buf;
    proto_buf_init(&buf);
    assert_int_equal(proto_msg_encode(&fx->msg, &buf, NULL), PROTO_OK);
    proto_msg_t *msg = NULL;
    assert_int_equal(proto_msg_decode(S_SUBMIT, buf.data, buf.len, &msg, NULL), PROTO_OK);
    s_assert_msg_equal(&fx->msg, msg);
    size_t used = s_arena_used(msg);
    assert_true(used > 0);
    if (used > S_ARENA_BOUND(buf.len)) {
        print_error("SUBMIT: %zu arena bytes for a %zu byte body\n", used, buf.len);
        fail();
    }
    proto_msg_destroy(&msg);
    free(to);
    free(codes);
    free(att);
    free(names);
    free(fx);

    //  ACK is the worst ratio the schema allows: each one-byte mid becomes an
    //  eight-byte integer.
    msgpack_object mids = s_arr_n(PROTO_MAX_ITEMS);
    for (size_t i = 0; i < PROTO_MAX_ITEMS; i++)
        mids.via.array.ptr[i] = s_uint(1);
    msgpack_object root = s_map(1, "mids", mids);
    s_bytes_t body = s_pack(&root);
    msg = S_EXPECT(PROTO_KIND_ACK, body.data, body.len, PROTO_OK, NULL);
    used = s_arena_used(msg);
    assert_true(used >= PROTO_MAX_ITEMS * sizeof(uint64_t));
    assert_true(used <= S_ARENA_BOUND(body.len));
    proto_msg_destroy(&msg);

    //  Many short places, many small ext entries, many tiny trace hops.
    root = s_tree(S_SUBMIT);
    msgpack_object places = s_arr_n(PROTO_MAX_PLACES);
    for (size_t i = 0; i < PROTO_MAX_PLACES; i++)
        places.via.array.ptr[i] = s_str("a");
    s_apply(&root, "doc.places", S_SET, places);
    msgpack_object ext = s_map(0);
    for (unsigned i = 0; i < PROTO_MAX_EXT; i++) {
        char name[8];
        snprintf(name, sizeof name, "%u", i);
        s_map_append(&ext, s_str(name), s_str("v"));
    }
    s_apply(&root, "doc.ext", S_SET, ext);
    body = s_pack(&root);
    msg = S_EXPECT(S_SUBMIT, body.data, body.len, PROTO_OK, NULL);
    assert_true(s_arena_used(msg) <= S_ARENA_BOUND(body.len));
    proto_msg_destroy(&msg);

    //  A large receipt bundle and a large directory.
    root = s_tree(PROTO_KIND_ACCEPTED);
    msgpack_object *items = s_find_key(&root, "items");
    msgpack_object one = items->via.array.ptr[0];
    *items = s_arr_n(PROTO_MAX_ITEMS);
    for (size_t i = 0; i < PROTO_MAX_ITEMS; i++)
        items->via.array.ptr[i] = one;
    s_apply(&root, "head.size", S_SET, s_uint(PROTO_MAX_ITEMS));
    body = s_pack(&root);
    msg = S_EXPECT(PROTO_KIND_ACCEPTED, body.data, body.len, PROTO_OK, NULL);
    assert_true(s_arena_used(msg) <= S_ARENA_BOUND(body.len));
    proto_msg_destroy(&msg);

    root = s_tree(PROTO_KIND_DIRECTORY);
    msgpack_object *entries = s_find_key(&root, "entries");
    msgpack_object entry = entries->via.array.ptr[0];
    *entries = s_arr_n(600);
    for (unsigned i = 0; i < 600; i++) {
        //  s_code is sorted by its middle group first, so build sorted codes.
        char code[PROTO_AGENCY_CODE_LEN + 1];
        snprintf(code, sizeof code, "000.00.%02u.%c01", 1 + i / 26, 'A' + (int) (i % 26));
        msgpack_object e = entry;
        msgpack_object_kv *kv = s_zalloc(e.via.map.size * sizeof *kv);
        memcpy(kv, e.via.map.ptr, e.via.map.size * sizeof *kv);
        e.via.map.ptr = kv;
        *s_find_key(&e, "code") = s_str(code);
        *s_find_key(&e, "name") = s_str("x");
        entries->via.array.ptr[i] = e;
    }
    body = s_pack(&root);
    msg = S_EXPECT(PROTO_KIND_DIRECTORY, body.data, body.len, PROTO_OK, NULL);
    assert_int_equal(msg->u.directory.nentries, 600);
    assert_true(s_arena_used(msg) <= S_ARENA_BOUND(body.len));
    proto_msg_destroy(&msg);
    proto_buf_free(&buf);
}

//  Fail each allocation of a decode and an encode in turn: the call reports
//  PROTO_ERR_NOMEM, hands back no message and no partial body, and leaks
//  nothing (ASan's leak check runs at exit).
static void s_test_alloc_failures(void **state)
{
    (void) state;
    static const proto_kind_t kinds[] = { S_SUBMIT, PROTO_KIND_DELIVERED, PROTO_KIND_DIRECTORY,
                                          PROTO_KIND_STATUS, PROTO_KIND_HELLO };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        proto_buf_t body;
        s_fixture_body(kinds[k], &body);
        size_t failures = 0;
        for (size_t n = 0;; n++) {
            proto_msg_t *msg = &s_sentinel;
            s_allocs = 0;
            s_fail_at = n;
            s_counting = true;
            proto_err_t rc = proto_msg_decode(kinds[k], body.data, body.len, &msg, NULL);
            s_counting = false;
            s_fail_at = SIZE_MAX;
            if (s_allocs <= n) {
                //  Nothing left to fail: the decode went through.
                assert_int_equal(rc, PROTO_OK);
                proto_msg_destroy(&msg);
                break;
            }
            assert_int_equal(rc, PROTO_ERR_NOMEM);
            assert_null(msg);
            failures++;
        }
        assert_true(failures >= 2);

        s_fx_t *fx = calloc(1, sizeof *fx);
        assert_non_null(fx);
        s_fixture(fx, kinds[k]);
        proto_buf_t out;
        proto_buf_init(&out);
        for (size_t n = 0;; n++) {
            proto_buf_reset(&out);
            proto_errinfo_t info;
            s_allocs = 0;
            s_fail_at = n;
            s_counting = true;
            proto_err_t rc = proto_msg_encode(&fx->msg, &out, &info);
            s_counting = false;
            s_fail_at = SIZE_MAX;
            if (s_allocs <= n) {
                assert_int_equal(rc, PROTO_OK);
                assert_int_equal(out.len, body.len);
                assert_memory_equal(out.data, body.data, body.len);
                break;
            }
            assert_int_equal(rc, PROTO_ERR_NOMEM);
            //  A half-written body must not look like a result.
            assert_int_equal(out.len, 0);
        }
        proto_buf_free(&out);
        proto_buf_free(&body);
        free(fx);
    }
}

//  The arena behind decoded messages.
static void s_test_arena(void **state)
{
    (void) state;
    proto_arena_t *arena = proto_arena_new();
    assert_non_null(arena);
    assert_int_equal(proto_arena_used(arena), 0);
    size_t total = 0;
    for (size_t size = 0; size < 300; size += 7) {
        uint8_t *p = proto_arena_calloc(arena, 1, size);
        assert_non_null(p);
        assert_int_equal((uintptr_t) p % 8, 0);
        for (size_t i = 0; i < size; i++)
            assert_int_equal(p[i], 0);
        memset(p, 0xee, size); // the whole request is usable
        total += size ? (size + 7) / 8 * 8 : 8;
        assert_int_equal(proto_arena_used(arena), total);
    }
    //  A one-off block larger than a chunk, then small ones again.
    uint8_t *big = proto_arena_calloc(arena, 3, 10000);
    assert_non_null(big);
    memset(big, 1, 30000);
    uint8_t *small = proto_arena_calloc(arena, 2, 4);
    assert_non_null(small);
    assert_int_equal(small[0], 0);
    char *copy = proto_arena_strndup(arena, "Hà Nội\0tail", 9);
    assert_non_null(copy);
    assert_string_equal(copy, "Hà Nội");
    copy = proto_arena_strndup(arena, NULL, 0);
    assert_non_null(copy);
    assert_string_equal(copy, "");
    //  Requests whose size, rounded up, would wrap around are refused, never
    //  served with a few bytes.
    assert_null(proto_arena_calloc(arena, SIZE_MAX, 2));
    assert_null(proto_arena_calloc(arena, 2, SIZE_MAX));
    assert_null(proto_arena_calloc(arena, SIZE_MAX, 1));
    assert_null(proto_arena_calloc(arena, 1, SIZE_MAX - 3));
    assert_null(proto_arena_calloc(arena, (SIZE_MAX - 40) / 8, 8));
    proto_arena_destroy(&arena);
    assert_null(arena);
    proto_arena_destroy(&arena);
    proto_arena_destroy(NULL);
}

//  A deterministic random walk over mutated bodies of every kind: flipped
//  bytes, cut tails, inserted and deleted bytes, several at once.
static uint64_t s_rng = 0x9e3779b97f4a7c15ull;

static uint64_t s_random(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

static void s_test_random_mutations(void **state)
{
    (void) state;
    proto_buf_t again;
    proto_buf_init(&again);
    size_t accepted = 0;
    for (size_t i = 0; i < S_NKINDS; i++) {
        proto_buf_t base;
        s_fixture_body(s_all_kinds[i], &base);
        uint8_t *body = malloc(base.len + 64);
        assert_non_null(body);
        for (int round = 0; round < 1500; round++) {
            memcpy(body, base.data, base.len);
            size_t len = base.len;
            int edits = 1 + (int) (s_random() % 4);
            for (int e = 0; e < edits && len > 1; e++) {
                size_t pos = s_random() % len;
                switch (s_random() % 5) {
                case 0:
                    body[pos] = (uint8_t) s_random();
                    break;
                case 1:
                    body[pos] ^= (uint8_t) (1u << (s_random() % 8));
                    break;
                case 2:
                    len = pos + 1;
                    break;
                case 3:
                    memmove(body + pos + 1, body + pos, len - pos);
                    body[pos] = (uint8_t) s_random();
                    len++;
                    break;
                default:
                    memmove(body + pos, body + pos + 1, len - pos - 1);
                    len--;
                    break;
                }
            }
            proto_msg_t *msg = &s_sentinel;
            proto_errinfo_t info;
            void *exact = malloc(len);
            assert_non_null(exact);
            memcpy(exact, body, len);
            proto_err_t rc = proto_msg_decode(s_all_kinds[i], exact, len, &msg, &info);
            free(exact);
            assert_int_equal(info.code, rc);
            if (rc != PROTO_OK) {
                assert_null(msg);
                continue;
            }
            accepted++;
            assert_int_equal(proto_msg_encode(msg, &again, NULL), PROTO_OK);
            proto_msg_destroy(&msg);
        }
        free(body);
        proto_buf_free(&base);
    }
    proto_buf_free(&again);
    assert_true(accepted > 0);
}

//  proto_msg_peek_id: the id of a document or notice that strict decoding
//  refused, when it can be read; never for other kinds, broken structure,
//  a repeated or missing id.
static void s_test_peek_id(void **state)
{
    (void) state;
    proto_buf_t buf;
    proto_id_t id;
    s_fixture_body(PROTO_KIND_SUBMIT, &buf);
    proto_msg_t *msg = NULL;
    assert_int_equal(proto_msg_decode(PROTO_KIND_SUBMIT, buf.data, buf.len, &msg, NULL), PROTO_OK);
    memset(&id, 0, sizeof id);
    assert_true(proto_msg_peek_id(PROTO_KIND_SUBMIT, buf.data, buf.len, &id));
    assert_memory_equal(id.bytes, msg->u.document.doc.id.bytes, PROTO_ID_LEN);
    proto_msg_destroy(&msg);
    //  Not for kinds without a document or notice id, nor cut short.
    assert_false(proto_msg_peek_id(PROTO_KIND_HELLO, buf.data, buf.len, &id));
    assert_false(proto_msg_peek_id(PROTO_KIND_SUBMIT, buf.data, buf.len - 1, &id));
    assert_false(proto_msg_peek_id(PROTO_KIND_SUBMIT, NULL, 0, &id));
    proto_buf_free(&buf);

    s_fixture_body(PROTO_KIND_STATUS, &buf);
    assert_int_equal(proto_msg_decode(PROTO_KIND_STATUS, buf.data, buf.len, &msg, NULL), PROTO_OK);
    assert_true(proto_msg_peek_id(PROTO_KIND_STATUS, buf.data, buf.len, &id));
    assert_memory_equal(id.bytes, msg->u.status.notice.id.bytes, PROTO_ID_LEN);
    proto_msg_destroy(&msg);
    proto_buf_free(&buf);

    //  A FORWARD names the document it carries.
    s_fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    s_fixture(fx, PROTO_KIND_FORWARD);
    assert_int_equal(proto_msg_encode(&fx->msg, &buf, NULL), PROTO_OK);
    assert_int_equal(proto_msg_decode(PROTO_KIND_FORWARD, buf.data, buf.len, &msg, NULL), PROTO_OK);
    memset(&id, 0, sizeof id);
    assert_true(proto_msg_peek_id(PROTO_KIND_FORWARD, buf.data, buf.len, &id));
    assert_memory_equal(id.bytes, msg->u.forward.document.doc.id.bytes, PROTO_ID_LEN);
    proto_msg_destroy(&msg);
    //  Cut short, or asked as the kind it carries: no id.
    assert_false(proto_msg_peek_id(PROTO_KIND_FORWARD, buf.data, buf.len - 1, &id));
    assert_false(proto_msg_peek_id(PROTO_KIND_SUBMIT, buf.data, buf.len, &id));
    proto_buf_free(&buf);
    free(fx);

    //  {"doc": {"id": bin16, "x": 1}}: undecodable (unknown field), id readable.
    uint8_t body[64] = { 0x81, 0xa3, 'd', 'o', 'c', 0x82, 0xa2, 'i', 'd', 0xc4, 0x10 };
    size_t n = 11;
    for (int i = 0; i < 16; i++)
        body[n++] = (uint8_t) (0xa0 + i);
    body[n++] = 0xa1;
    body[n++] = 'x';
    body[n++] = 0x01;
    assert_int_not_equal(proto_msg_decode(PROTO_KIND_SUBMIT, body, n, &msg, NULL), PROTO_OK);
    assert_true(proto_msg_peek_id(PROTO_KIND_SUBMIT, body, n, &id));
    assert_int_equal(id.bytes[0], 0xa0);
    assert_int_equal(id.bytes[15], 0xaf);
    //  The same "x" renamed "id": two ids, neither is meant.
    body[n - 2] = 'i';
    uint8_t twice[64];
    memcpy(twice, body, n - 3);
    size_t m = n - 3;
    twice[m++] = 0xa2;
    twice[m++] = 'i';
    twice[m++] = 'd';
    twice[m++] = 0x01;
    assert_false(proto_msg_peek_id(PROTO_KIND_SUBMIT, twice, m, &id));
    //  An id of the wrong size.
    body[10] = 0x0f;
    assert_false(proto_msg_peek_id(PROTO_KIND_SUBMIT, body, n - 4, &id));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s_test_header),
        cmocka_unit_test(s_test_kind_table),
        cmocka_unit_test(s_test_id),
        cmocka_unit_test(s_test_buf_and_attachment),
        cmocka_unit_test(s_test_roundtrip_every_kind),
        cmocka_unit_test(s_test_roundtrip_minimal),
        cmocka_unit_test(s_test_encode_refuses),
        cmocka_unit_test(s_test_forward_rules),
        cmocka_unit_test_setup_teardown(s_test_decode_arguments, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_truncated_every_length, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_lying_lengths, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_reserved_and_trailing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_any_valid_encoding, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_depth, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_wrong_types, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_numbers, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_missing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_unknown_and_duplicate, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_limits, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_utf8_fields, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_agency_fields, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_document_rules, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_operations, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_receipt_rules, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_log_rules, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_status_directory_error_rules, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_nil_optional, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_ext, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_byte_sweep, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_memory_bound, s_setup, s_teardown),
        cmocka_unit_test(s_test_alloc_failures),
        cmocka_unit_test(s_test_arena),
        cmocka_unit_test(s_test_random_mutations),
        cmocka_unit_test(s_test_peek_id),
        cmocka_unit_test(s_test_field_path_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
