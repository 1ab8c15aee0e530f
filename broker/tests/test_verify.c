/*  test_verify.c - the checks a verify worker runs, and the worker pool.

    Jobs are built by hand the way the loop builds them: real agencies
    (fresh identities), documents signed with proto_doc_sign, bodies encoded
    with proto_msg_encode, and frames copied into zmq_msg_t. Each bad input
    is checked for its exact code and, where verify.c names one, its field.
    The pool is driven over inproc PUSH/PULL exactly as the server drives it,
    and must give back every job with its verdict and stop cleanly.
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
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <time.h>
#include <zmq.h>

#include "proto/identity.h"
#include "proto/merkle.h"
#include "proto/msg.h"
#include "proto/sign.h"
#include "verify.h"

#define S_T0     1767225600000ull
#define S_SENDER "000.00.01.H01" // sends documents
#define S_R1     "000.05.01.H01" // receives them, sends STATUS and DELIVERED
#define S_R2     "001.05.01.H01"
#define S_OTHER  "000.00.00.G01" // an agency with nothing to do with it

static proto_identity_t *s_sender, *s_r1, *s_r2, *s_other;

static int s_group_setup(void **state)
{
    (void) state;
    if (sodium_init() < 0)
        return -1;
    s_sender = proto_identity_generate(PROTO_ROLE_AGENCY, S_SENDER);
    s_r1 = proto_identity_generate(PROTO_ROLE_AGENCY, S_R1);
    s_r2 = proto_identity_generate(PROTO_ROLE_AGENCY, S_R2);
    s_other = proto_identity_generate(PROTO_ROLE_AGENCY, S_OTHER);
    return s_sender && s_r1 && s_r2 && s_other ? 0 : -1;
}

static int s_group_teardown(void **state)
{
    (void) state;
    proto_identity_destroy(&s_sender);
    proto_identity_destroy(&s_r1);
    proto_identity_destroy(&s_r2);
    proto_identity_destroy(&s_other);
    return 0;
}

static const uint8_t *s_pk(const proto_identity_t *id)
{
    return proto_identity_public(id)->sign_pk;
}

static proto_id_t s_id(uint8_t n)
{
    proto_id_t id;
    for (size_t i = 0; i < PROTO_ID_LEN; i++)
        id.bytes[i] = (uint8_t) (n * 29u + i);
    id.bytes[6] = (uint8_t) (0x40 | (id.bytes[6] & 0x0f));
    id.bytes[8] = (uint8_t) (0x80 | (id.bytes[8] & 0x3f));
    return id;
}

// ---------------------------------------------------------------------------
//  Jobs

static void s_free_copy(void *data, void *hint)
{
    (void) hint;
    free(data);
}

//  A job as the loop hands it over: the frames (header, body, then the
//  attachments), who sent it and that agency's key, the broker's limits.
static broker_job_t *s_job(int kind, const char *agency, const proto_identity_t *key_of,
                           const proto_buf_t *body)
{
    broker_job_t *job = calloc(1, sizeof *job);
    assert_non_null(job);
    job->kind = kind;
    snprintf(job->agency, sizeof job->agency, "%s", agency);
    memcpy(job->key, s_pk(key_of), PROTO_KEY_LEN);
    job->max_document = 256ull << 20;
    job->max_recipients = 500;
    job->max_attachments = 100;
    //  The header with zmq_msg_init_size, the body with zmq_msg_init_data
    //  (a copy the frame frees): both ways frames come in.
    assert_int_equal(zmq_msg_init_size(&job->frames[0], PROTO_HEADER_LEN), 0);
    proto_header_write(zmq_msg_data(&job->frames[0]), (proto_kind_t) kind);
    void *copy = malloc(body->len ? body->len : 1);
    assert_non_null(copy);
    if (body->len)
        memcpy(copy, body->data, body->len);
    assert_int_equal(zmq_msg_init_data(&job->frames[1], copy, body->len, s_free_copy, NULL), 0);
    job->nframes = 2;
    return job;
}

static void s_job_frame(broker_job_t *job, const void *data, size_t len)
{
    assert_true(job->nframes < BROKER_MAX_FRAMES);
    zmq_msg_t *frame = &job->frames[job->nframes++];
    assert_int_equal(zmq_msg_init_size(frame, len), 0);
    if (len)
        memcpy(zmq_msg_data(frame), data, len);
}

//  Run the checks and compare the verdict; field NULL: not compared.
static void s_expect(broker_job_t *job, proto_err_t want, const char *field)
{
    broker_verify_job(job);
    if (job->err != want) {
        print_error("expected %s, got %s at '%s': %s\n", proto_errname(want),
                    proto_errname(job->err), job->info.field, job->info.message);
        fail();
    }
    if (want != PROTO_OK)
        assert_true(job->info.message[0] != '\0');
    if (field)
        assert_string_equal(job->info.field, field);
}

static void s_encode(const proto_msg_t *msg, proto_buf_t *buf)
{
    proto_errinfo_t info;
    proto_buf_init(buf);
    proto_err_t rc = proto_msg_encode(msg, buf, &info);
    if (rc != PROTO_OK) {
        print_error("fixture does not encode: %s at '%s': %s\n", proto_errname(rc), info.field,
                    info.message);
        fail();
    }
}

// ---------------------------------------------------------------------------
//  A document from S_SENDER to S_R1 and S_R2 with two attachments

#define S_ATT0 3000
#define S_ATT1 17

typedef struct {
    proto_doc_t doc;
    const char *to[2];
    proto_id_t op_refs[1];
    proto_attachment_t att[2];
    uint8_t data0[S_ATT0];
    uint8_t data1[S_ATT1];
    uint8_t sig[PROTO_SIG_LEN];
    proto_buf_t body;
} s_doc_fx_t;

static void s_doc_fx(s_doc_fx_t *fx, proto_kind_t kind, uint8_t n)
{
    memset(fx, 0, sizeof *fx);
    proto_doc_t *doc = &fx->doc;
    doc->id = s_id(n);
    doc->from = S_SENDER;
    fx->to[0] = S_R1;
    fx->to[1] = S_R2;
    doc->to = fx->to;
    doc->nto = 2;
    doc->created = S_T0 + n;
    doc->doc_type = "Công văn";
    doc->subject = "Về việc triển khai trục liên thông văn bản";
    doc->urgency = PROTO_URGENCY_URGENT;
    if (kind == PROTO_KIND_REVOKE) {
        doc->op = PROTO_OP_REVOKE;
        doc->op_reason = "Ban hành sai thẩm quyền";
        fx->op_refs[0] = s_id((uint8_t) (n + 1));
        doc->op_refs = fx->op_refs;
        doc->nop_refs = 1;
    } else {
        for (size_t i = 0; i < S_ATT0; i++)
            fx->data0[i] = (uint8_t) (i * 7u + n);
        for (size_t i = 0; i < S_ATT1; i++)
            fx->data1[i] = (uint8_t) (i * 3u + 1u);
        fx->att[0].name = "cong-van.pdf";
        fx->att[0].type = "application/pdf";
        proto_attachment_hash(&fx->att[0], fx->data0, S_ATT0);
        fx->att[1].name = "phu-luc.txt";
        fx->att[1].type = "text/plain";
        proto_attachment_hash(&fx->att[1], fx->data1, S_ATT1);
        doc->att = fx->att;
        doc->natt = 2;
    }
    assert_int_equal(proto_doc_sign(doc, s_sender, fx->sig), PROTO_OK);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = kind;
    msg.u.document.doc = *doc;
    memcpy(msg.u.document.sig, fx->sig, PROTO_SIG_LEN);
    s_encode(&msg, &fx->body);
}

//  The job for the fixture with its attachment frames, as S_SENDER sends it.
static broker_job_t *s_doc_job(const s_doc_fx_t *fx, proto_kind_t kind)
{
    broker_job_t *job = s_job(kind, S_SENDER, s_sender, &fx->body);
    if (fx->doc.natt) {
        s_job_frame(job, fx->data0, S_ATT0);
        s_job_frame(job, fx->data1, S_ATT1);
    }
    return job;
}

static void s_test_submit_valid(void **state)
{
    (void) state;
    s_doc_fx_t *fx = malloc(sizeof *fx);
    assert_non_null(fx);
    s_doc_fx(fx, PROTO_KIND_SUBMIT, 1);
    broker_job_t *job = s_doc_job(fx, PROTO_KIND_SUBMIT);
    s_expect(job, PROTO_OK, "");
    uint8_t hash[PROTO_HASH_LEN];
    assert_int_equal(proto_doc_hash(&fx->doc, hash), PROTO_OK);
    assert_memory_equal(job->hash, hash, PROTO_HASH_LEN);
    assert_non_null(job->msg);
    assert_int_equal(job->msg->kind, PROTO_KIND_SUBMIT);
    const proto_doc_t *got = &job->msg->u.document.doc;
    assert_memory_equal(got->id.bytes, fx->doc.id.bytes, PROTO_ID_LEN);
    assert_string_equal(got->from, S_SENDER);
    assert_int_equal(got->nto, 2);
    assert_int_equal(got->natt, 2);
    broker_job_destroy(&job);
    assert_null(job);
    broker_job_destroy(&job); // harmless on NULL
    broker_job_destroy(NULL);

    //  The limits are inclusive: exactly at each one is fine.
    job = s_doc_job(fx, PROTO_KIND_SUBMIT);
    job->max_recipients = 2;
    job->max_attachments = 2;
    job->max_document = S_ATT0 + S_ATT1;
    s_expect(job, PROTO_OK, "");
    broker_job_destroy(&job);

    //  A REVOKE carries no attachments: two frames.
    s_doc_fx_t *revoke = malloc(sizeof *revoke);
    assert_non_null(revoke);
    s_doc_fx(revoke, PROTO_KIND_REVOKE, 2);
    job = s_doc_job(revoke, PROTO_KIND_REVOKE);
    assert_int_equal(job->nframes, 2);
    s_expect(job, PROTO_OK, "");
    assert_int_equal(proto_doc_hash(&revoke->doc, hash), PROTO_OK);
    assert_memory_equal(job->hash, hash, PROTO_HASH_LEN);
    broker_job_destroy(&job);
    proto_buf_free(&revoke->body);
    free(revoke);
    proto_buf_free(&fx->body);
    free(fx);
}

static void s_test_submit_refused(void **state)
{
    (void) state;
    s_doc_fx_t *fx = malloc(sizeof *fx);
    assert_non_null(fx);
    s_doc_fx(fx, PROTO_KIND_SUBMIT, 3);
    broker_job_t *job;

    //  Sent by another (authenticated) agency than doc.from, with its own
    //  key: the sender check comes before the signature.
    job = s_job(PROTO_KIND_SUBMIT, S_R1, s_r1, &fx->body);
    s_job_frame(job, fx->data0, S_ATT0);
    s_job_frame(job, fx->data1, S_ATT1);
    s_expect(job, PROTO_ERR_SENDER_MISMATCH, "doc.from");
    assert_non_null(job->msg); // decoded, so the loop can answer about the id
    broker_job_destroy(&job);

    //  The right agency, but not the key it signed with.
    job = s_doc_job(fx, PROTO_KIND_SUBMIT);
    memcpy(job->key, s_pk(s_other), PROTO_KEY_LEN);
    s_expect(job, PROTO_ERR_BAD_SIGNATURE, "sig");
    broker_job_destroy(&job);

    //  One byte of the second attachment flipped.
    job = s_job(PROTO_KIND_SUBMIT, S_SENDER, s_sender, &fx->body);
    s_job_frame(job, fx->data0, S_ATT0);
    s_job_frame(job, fx->data1, S_ATT1);
    ((uint8_t *) zmq_msg_data(&job->frames[3]))[5] ^= 0x01;
    s_expect(job, PROTO_ERR_HASH_MISMATCH, "doc.att[1]");
    broker_job_destroy(&job);

    //  The first attachment one byte short.
    job = s_job(PROTO_KIND_SUBMIT, S_SENDER, s_sender, &fx->body);
    s_job_frame(job, fx->data0, S_ATT0 - 1);
    s_job_frame(job, fx->data1, S_ATT1);
    s_expect(job, PROTO_ERR_HASH_MISMATCH, "doc.att[0]");
    broker_job_destroy(&job);

    //  The attachments swapped.
    job = s_job(PROTO_KIND_SUBMIT, S_SENDER, s_sender, &fx->body);
    s_job_frame(job, fx->data1, S_ATT1);
    s_job_frame(job, fx->data0, S_ATT0);
    s_expect(job, PROTO_ERR_HASH_MISMATCH, "doc.att[0]");
    broker_job_destroy(&job);

    //  An attachment frame missing, or one too many.
    job = s_job(PROTO_KIND_SUBMIT, S_SENDER, s_sender, &fx->body);
    s_job_frame(job, fx->data0, S_ATT0);
    s_expect(job, PROTO_ERR_FRAMING, NULL);
    broker_job_destroy(&job);
    job = s_doc_job(fx, PROTO_KIND_SUBMIT);
    s_job_frame(job, fx->data1, S_ATT1);
    s_expect(job, PROTO_ERR_FRAMING, NULL);
    broker_job_destroy(&job);

    //  The broker's limits.
    job = s_doc_job(fx, PROTO_KIND_SUBMIT);
    job->max_recipients = 1;
    s_expect(job, PROTO_ERR_LIMIT, "doc.to");
    broker_job_destroy(&job);
    job = s_doc_job(fx, PROTO_KIND_SUBMIT);
    job->max_attachments = 1;
    s_expect(job, PROTO_ERR_LIMIT, "doc.att");
    broker_job_destroy(&job);
    job = s_doc_job(fx, PROTO_KIND_SUBMIT);
    job->max_attachments = 0;
    s_expect(job, PROTO_ERR_LIMIT, "doc.att");
    broker_job_destroy(&job);
    job = s_doc_job(fx, PROTO_KIND_SUBMIT);
    job->max_document = S_ATT0 + S_ATT1 - 1;
    s_expect(job, PROTO_ERR_TOO_LARGE, "doc.att");
    broker_job_destroy(&job);

    //  A document changed after signing (another subject, re-encoded).
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_SUBMIT;
    msg.u.document.doc = fx->doc;
    msg.u.document.doc.subject = "Về việc khác";
    memcpy(msg.u.document.sig, fx->sig, PROTO_SIG_LEN);
    proto_buf_t changed;
    s_encode(&msg, &changed);
    job = s_job(PROTO_KIND_SUBMIT, S_SENDER, s_sender, &changed);
    s_job_frame(job, fx->data0, S_ATT0);
    s_job_frame(job, fx->data1, S_ATT1);
    s_expect(job, PROTO_ERR_BAD_SIGNATURE, "sig");
    broker_job_destroy(&job);
    proto_buf_free(&changed);

    proto_buf_free(&fx->body);
    free(fx);
}

//  Whatever the decoder says about a body, the worker says the same, and
//  hands back no message.
static void s_expect_decoder(int kind, const void *data, size_t len, proto_err_t want)
{
    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    proto_err_t direct = proto_msg_decode(kind, data, len, &msg, &info);
    assert_null(msg);
    assert_int_equal(direct, want);

    proto_buf_t body = { .data = (uint8_t *) (uintptr_t) data, .len = len, .cap = len };
    broker_job_t *job = s_job(kind, S_SENDER, s_sender, &body);
    s_expect(job, want, info.field);
    assert_string_equal(job->info.message, info.message);
    assert_null(job->msg);
    broker_job_destroy(&job);
}

static void s_test_garbage(void **state)
{
    (void) state;
    static const uint8_t reserved[] = { 0xc1 };
    static const uint8_t not_a_map[] = { 0x2a };
    static const uint8_t truncated[] = { 0x82, 0xa3, 'd', 'o' };
    static const uint8_t empty_map[] = { 0x80 };
    s_expect_decoder(PROTO_KIND_SUBMIT, reserved, sizeof reserved, PROTO_ERR_MSGPACK);
    s_expect_decoder(PROTO_KIND_SUBMIT, truncated, sizeof truncated, PROTO_ERR_MSGPACK);
    s_expect_decoder(PROTO_KIND_SUBMIT, "", 0, PROTO_ERR_MSGPACK);
    s_expect_decoder(PROTO_KIND_SUBMIT, not_a_map, sizeof not_a_map, PROTO_ERR_TYPE);
    s_expect_decoder(PROTO_KIND_STATUS, empty_map, sizeof empty_map, PROTO_ERR_MISSING);
    s_expect_decoder(PROTO_KIND_DELIVERED, empty_map, sizeof empty_map, PROTO_ERR_MISSING);

    //  A valid SUBMIT body with one byte more, and one sent as a REVOKE.
    s_doc_fx_t *fx = malloc(sizeof *fx);
    assert_non_null(fx);
    s_doc_fx(fx, PROTO_KIND_SUBMIT, 4);
    assert_int_equal(proto_buf_append(&fx->body, "\x00", 1), PROTO_OK);
    s_expect_decoder(PROTO_KIND_SUBMIT, fx->body.data, fx->body.len, PROTO_ERR_TRAILING);
    s_expect_decoder(PROTO_KIND_REVOKE, fx->body.data, fx->body.len - 1, PROTO_ERR_VALUE);
    proto_buf_free(&fx->body);
    free(fx);

    //  Fewer than two frames is a framing error before any decoding.
    proto_buf_t none = { 0 };
    broker_job_t *job = s_job(PROTO_KIND_SUBMIT, S_SENDER, s_sender, &none);
    zmq_msg_close(&job->frames[1]);
    job->nframes = 1;
    s_expect(job, PROTO_ERR_FRAMING, "");
    assert_null(job->msg);
    broker_job_destroy(&job);
}

// ---------------------------------------------------------------------------
//  STATUS

static void s_status_body(const char *from, const char *to, const proto_identity_t *signer,
                          uint64_t mid, proto_buf_t *body, uint8_t hash[PROTO_HASH_LEN])
{
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_STATUS;
    proto_status_t *s = &msg.u.status;
    s->mid = mid;
    s->notice.id = s_id(50);
    s->notice.doc = s_id(1);
    s->notice.from = from;
    s->notice.to = to;
    s->notice.code = 3;
    s->notice.time = S_T0 + 500;
    s->notice.note = "Đã tiếp nhận";
    assert_int_equal(proto_notice_sign(&s->notice, signer, s->sig), PROTO_OK);
    if (hash)
        assert_int_equal(proto_notice_hash(&s->notice, hash), PROTO_OK);
    s_encode(&msg, body);
}

static void s_test_status(void **state)
{
    (void) state;
    proto_buf_t body;
    uint8_t hash[PROTO_HASH_LEN];
    broker_job_t *job;

    s_status_body(S_R1, S_SENDER, s_r1, 0, &body, hash);
    job = s_job(PROTO_KIND_STATUS, S_R1, s_r1, &body);
    s_expect(job, PROTO_OK, "");
    assert_memory_equal(job->hash, hash, PROTO_HASH_LEN);
    assert_non_null(job->msg);
    broker_job_destroy(&job);

    //  Sent by someone else than notice.from.
    job = s_job(PROTO_KIND_STATUS, S_OTHER, s_other, &body);
    s_expect(job, PROTO_ERR_SENDER_MISMATCH, "notice.from");
    broker_job_destroy(&job);

    //  The right agency, another key.
    job = s_job(PROTO_KIND_STATUS, S_R1, s_other, &body);
    s_expect(job, PROTO_ERR_BAD_SIGNATURE, "sig");
    broker_job_destroy(&job);

    //  A STATUS has no attachment frames.
    job = s_job(PROTO_KIND_STATUS, S_R1, s_r1, &body);
    s_job_frame(job, "x", 1);
    s_expect(job, PROTO_ERR_FRAMING, "");
    broker_job_destroy(&job);
    proto_buf_free(&body);

    //  A notice signed by its author but passed on by another agency.
    s_status_body(S_OTHER, S_SENDER, s_other, 0, &body, NULL);
    job = s_job(PROTO_KIND_STATUS, S_R1, s_r1, &body);
    s_expect(job, PROTO_ERR_SENDER_MISMATCH, "notice.from");
    broker_job_destroy(&job);
    proto_buf_free(&body);

    //  Only the broker sets mid.
    s_status_body(S_R1, S_SENDER, s_r1, 7, &body, NULL);
    job = s_job(PROTO_KIND_STATUS, S_R1, s_r1, &body);
    s_expect(job, PROTO_ERR_VALUE, "mid");
    broker_job_destroy(&job);
    proto_buf_free(&body);
}

// ---------------------------------------------------------------------------
//  DELIVERED

#define S_LEAVES 3

typedef struct {
    proto_leaf_t leaves[S_LEAVES];
    proto_head_t head;
    uint8_t sig[PROTO_SIG_LEN];
    proto_item_t items[S_LEAVES];
    uint8_t paths[S_LEAVES * PROTO_MAX_PATH][PROTO_HASH_LEN];
} s_bundle_t;

//  Leaves for three documents S_SENDER sent to `to` (the last one refused);
//  s_bundle_sign then builds the tree and signs it.
static void s_bundle(s_bundle_t *b, const char *to)
{
    memset(b, 0, sizeof *b);
    for (size_t i = 0; i < S_LEAVES; i++) {
        proto_leaf_t *leaf = &b->leaves[i];
        leaf->event = i == 2 ? PROTO_EVENT_REFUSED : PROTO_EVENT_DELIVERED;
        leaf->id = s_id((uint8_t) (10 + i));
        memset(leaf->hash, (int) (0x30 + i), PROTO_HASH_LEN);
        leaf->from = S_SENDER;
        leaf->to = to;
        leaf->time = S_T0 + 1000 + i;
        leaf->seq = 100 + i;
        if (leaf->event == PROTO_EVENT_REFUSED) {
            leaf->code = PROTO_ERR_HASH_MISMATCH;
            leaf->reason = "Tệp đính kèm không khớp";
        }
    }
}

static void s_bundle_sign(s_bundle_t *b, const proto_identity_t *signer)
{
    assert_int_equal(proto_receipts_build(b->leaves, S_LEAVES, signer, S_T0 + 2000, &b->head,
                                          b->sig, b->items, b->paths),
                     PROTO_OK);
}

static void s_bundle_body(const s_bundle_t *b, uint64_t mid, proto_buf_t *body)
{
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DELIVERED;
    msg.u.receipts.mid = mid;
    msg.u.receipts.head = b->head;
    memcpy(msg.u.receipts.sig, b->sig, PROTO_SIG_LEN);
    msg.u.receipts.items = (proto_item_t *) (uintptr_t) b->items;
    msg.u.receipts.nitems = S_LEAVES;
    s_encode(&msg, body);
}

static void s_delivered_expect(const s_bundle_t *b, uint64_t mid, const proto_identity_t *key_of,
                               proto_err_t want, const char *field)
{
    proto_buf_t body;
    s_bundle_body(b, mid, &body);
    broker_job_t *job = s_job(PROTO_KIND_DELIVERED, S_R1, key_of, &body);
    s_expect(job, want, field);
    broker_job_destroy(&job);
    proto_buf_free(&body);
}

static void s_test_delivered(void **state)
{
    (void) state;
    s_bundle_t *b = malloc(sizeof *b);
    assert_non_null(b);

    //  S_R1 acknowledges its own deliveries.
    s_bundle(b, S_R1);
    s_bundle_sign(b, s_r1);
    assert_true(b->items[0].npath > 0);
    s_delivered_expect(b, 0, s_r1, PROTO_OK, "");
    //  ... but not under another key.
    s_delivered_expect(b, 0, s_other, PROTO_ERR_BAD_SIGNATURE, "sig");
    //  ... and never with a mid, which only the broker sets.
    s_delivered_expect(b, 9, s_r1, PROTO_ERR_VALUE, "mid");

    //  A bundle signed by another agency, sent by S_R1.
    s_bundle(b, S_R1);
    s_bundle_sign(b, s_r2);
    s_delivered_expect(b, 0, s_r1, PROTO_ERR_SENDER_MISMATCH, "head.signer");

    //  A leaf acknowledging a delivery to another recipient.
    s_bundle(b, S_R1);
    b->leaves[1].to = S_R2;
    s_bundle_sign(b, s_r1);
    s_delivered_expect(b, 0, s_r1, PROTO_ERR_SENDER_MISMATCH, "items.leaf.to");

    //  A tampered path: one bit of one node.
    s_bundle(b, S_R1);
    s_bundle_sign(b, s_r1);
    b->items[0].path[0][0] ^= 0x80;
    s_delivered_expect(b, 0, s_r1, PROTO_ERR_BAD_PROOF, "items.path");

    //  A leaf moved to another index, and a leaf changed after signing.
    s_bundle_sign(b, s_r1);
    b->items[2].index = 0;
    s_delivered_expect(b, 0, s_r1, PROTO_ERR_BAD_PROOF, "items.path");
    s_bundle_sign(b, s_r1);
    b->items[1].leaf.time++;
    s_delivered_expect(b, 0, s_r1, PROTO_ERR_BAD_PROOF, "items.path");

    //  The head changed after signing: every path still leads to the root,
    //  the signature no longer covers it.
    s_bundle_sign(b, s_r1);
    b->head.time++;
    s_delivered_expect(b, 0, s_r1, PROTO_ERR_BAD_SIGNATURE, "sig");

    //  A DELIVERED has no attachment frames.
    s_bundle_sign(b, s_r1);
    proto_buf_t body;
    s_bundle_body(b, 0, &body);
    broker_job_t *job = s_job(PROTO_KIND_DELIVERED, S_R1, s_r1, &body);
    s_job_frame(job, "", 0);
    s_expect(job, PROTO_ERR_FRAMING, "");
    broker_job_destroy(&job);
    proto_buf_free(&body);
    free(b);
}

// ---------------------------------------------------------------------------
//  The pool

#define S_JOBS    "inproc://t-jobs"
#define S_RESULTS "inproc://t-results"

typedef struct {
    void *ctx, *jobs, *results;
} s_sockets_t;

static void s_sockets(s_sockets_t *s)
{
    s->ctx = zmq_ctx_new();
    assert_non_null(s->ctx);
    s->jobs = zmq_socket(s->ctx, ZMQ_PUSH);
    s->results = zmq_socket(s->ctx, ZMQ_PULL);
    assert_non_null(s->jobs);
    assert_non_null(s->results);
    //  Bound before the pool starts, as the server does.
    assert_int_equal(zmq_bind(s->jobs, S_JOBS), 0);
    assert_int_equal(zmq_bind(s->results, S_RESULTS), 0);
}

static void s_sockets_close(s_sockets_t *s)
{
    int zero = 0;
    zmq_setsockopt(s->jobs, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s->results, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(s->jobs);
    zmq_close(s->results);
    assert_int_equal(zmq_ctx_term(s->ctx), 0);
}

//  broker_verify_destroy with a watchdog: if it has not joined its threads
//  after `seconds`, the context is shut down (which wakes every blocked
//  worker) and false is returned, so a hang is a failure, not a stuck test.
typedef struct {
    broker_verify_t *pool;
    void *jobs;
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    bool done;
} s_destroy_t;

static void *s_destroy_thread(void *arg)
{
    s_destroy_t *d = arg;
    broker_verify_destroy(&d->pool, d->jobs);
    pthread_mutex_lock(&d->lock);
    d->done = true;
    pthread_cond_signal(&d->done_cond);
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

static bool s_destroy_watched(broker_verify_t **pool, s_sockets_t *s, int seconds)
{
    s_destroy_t d = { .pool = *pool, .jobs = s->jobs, .done = false };
    pthread_mutex_init(&d.lock, NULL);
    pthread_cond_init(&d.done_cond, NULL);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, s_destroy_thread, &d), 0);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += seconds;
    pthread_mutex_lock(&d.lock);
    int rc = 0;
    while (!d.done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&d.done_cond, &d.lock, &deadline);
    bool joined = d.done;
    pthread_mutex_unlock(&d.lock);
    if (!joined)
        zmq_ctx_shutdown(s->ctx);
    pthread_join(thread, NULL);
    pthread_mutex_destroy(&d.lock);
    pthread_cond_destroy(&d.done_cond);
    *pool = d.pool;
    return joined;
}

#define S_POOL_JOBS 1000

typedef struct {
    s_doc_fx_t doc;
    proto_buf_t status;
    uint8_t status_hash[PROTO_HASH_LEN];
    uint8_t doc_hash[PROTO_HASH_LEN];
} s_pool_fx_t;

//  Job i of the run and the verdict it must come back with: four kinds of
//  work in turn.
static broker_job_t *s_pool_job(const s_pool_fx_t *fx, uint32_t i, proto_err_t *want)
{
    static const uint8_t garbage[] = { 0xc1, 0x00 };
    broker_job_t *job;
    switch (i % 4) {
    case 0:
        job = s_doc_job(&fx->doc, PROTO_KIND_SUBMIT);
        *want = PROTO_OK;
        break;
    case 1:
        job = s_doc_job(&fx->doc, PROTO_KIND_SUBMIT);
        memcpy(job->key, s_pk(s_other), PROTO_KEY_LEN);
        *want = PROTO_ERR_BAD_SIGNATURE;
        break;
    case 2:
        job = s_job(PROTO_KIND_STATUS, S_R1, s_r1, &fx->status);
        *want = PROTO_OK;
        break;
    default: {
        proto_buf_t body = { .data = (uint8_t *) (uintptr_t) garbage, .len = sizeof garbage };
        job = s_job(PROTO_KIND_SUBMIT, S_SENDER, s_sender, &body);
        *want = PROTO_ERR_MSGPACK;
        break;
    }
    }
    //  The loop finds the peer again by routing id; here it carries i.
    memcpy(job->routing, &i, sizeof i);
    job->routing_len = sizeof i;
    return job;
}

static void s_test_pool(void **state)
{
    (void) state;
    s_pool_fx_t *fx = malloc(sizeof *fx);
    assert_non_null(fx);
    s_doc_fx(&fx->doc, PROTO_KIND_SUBMIT, 5);
    assert_int_equal(proto_doc_hash(&fx->doc.doc, fx->doc_hash), PROTO_OK);
    s_status_body(S_R1, S_SENDER, s_r1, 0, &fx->status, fx->status_hash);
    proto_err_t *want = calloc(S_POOL_JOBS, sizeof *want);
    bool *back = calloc(S_POOL_JOBS, sizeof *back);
    assert_non_null(want);
    assert_non_null(back);

    s_sockets_t s;
    s_sockets(&s);
    broker_verify_t *pool = broker_verify_new(s.ctx, 2, S_JOBS, S_RESULTS);
    assert_non_null(pool);
    assert_int_equal(broker_verify_threads(pool), 2);

    //  Send and receive in one poll loop, as the server does, so that
    //  neither side's high-water mark can stall the run.
    uint32_t sent = 0, received = 0;
    while (received < S_POOL_JOBS) {
        zmq_pollitem_t items[2] = { { s.results, 0, ZMQ_POLLIN, 0 },
                                    { s.jobs, 0, sent < S_POOL_JOBS ? ZMQ_POLLOUT : 0, 0 } };
        int n = zmq_poll(items, 2, 30000);
        assert_true(n > 0); // 30 s without progress: the pool is stuck
        if (items[1].revents & ZMQ_POLLOUT) {
            broker_job_t *job = s_pool_job(fx, sent, &want[sent]);
            assert_int_equal(broker_job_send(s.jobs, job), 0);
            sent++;
        }
        broker_job_t *job;
        while ((job = broker_job_recv(s.results)) != NULL) {
            uint32_t i;
            assert_int_equal(job->routing_len, sizeof i);
            memcpy(&i, job->routing, sizeof i);
            assert_true(i < S_POOL_JOBS);
            assert_false(back[i]);
            back[i] = true;
            if (job->err != want[i]) {
                print_error("job %u: expected %s, got %s\n", i, proto_errname(want[i]),
                            proto_errname(job->err));
                fail();
            }
            if (i % 4 == 0)
                assert_memory_equal(job->hash, fx->doc_hash, PROTO_HASH_LEN);
            if (i % 4 == 2)
                assert_memory_equal(job->hash, fx->status_hash, PROTO_HASH_LEN);
            broker_job_destroy(&job);
            received++;
        }
    }
    assert_int_equal(sent, S_POOL_JOBS);

    assert_true(s_destroy_watched(&pool, &s, 30));
    assert_null(pool);
    broker_verify_destroy(&pool, s.jobs); // harmless on NULL
    s_sockets_close(&s);
    free(want);
    free(back);
    proto_buf_free(&fx->status);
    proto_buf_free(&fx->doc.body);
    free(fx);
}

//  A broker told to stop right after it started: the pool is destroyed
//  as soon as broker_verify_new has returned, when its workers have
//  connected but the test's PUSH may not yet have attached all their pipes.
//  Destroy must still join every thread: one NULL job per thread, sent
//  once, was dealt to the attached pipes only, and under load (about one
//  run in 200 with two busy loops on two cores) a worker got none and
//  destroy hung. Many short rounds, so that the window is hit often.
#define S_QUICK_ROUNDS 200

static void s_test_pool_quick_stop(void **state)
{
    (void) state;
    for (int round = 0; round < S_QUICK_ROUNDS; round++) {
        s_sockets_t s;
        s_sockets(&s);
        broker_verify_t *pool = broker_verify_new(s.ctx, 4, S_JOBS, S_RESULTS);
        assert_non_null(pool);
        bool joined = s_destroy_watched(&pool, &s, 10);
        if (!joined) {
            print_error("round %d: broker_verify_destroy did not join its threads in 10 s\n",
                        round);
            //  The watchdog's context shutdown woke the stuck threads, so the
            //  destroy has finished by now and freed the pool.
            assert_null(pool);
            s_sockets_close(&s);
            fail();
        }
        s_sockets_close(&s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s_test_submit_valid),    cmocka_unit_test(s_test_submit_refused),
        cmocka_unit_test(s_test_garbage),         cmocka_unit_test(s_test_status),
        cmocka_unit_test(s_test_delivered),       cmocka_unit_test(s_test_pool),
        cmocka_unit_test(s_test_pool_quick_stop),
    };
    return cmocka_run_group_tests_name("broker_verify", tests, s_group_setup, s_group_teardown);
}
