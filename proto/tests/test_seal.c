/*  test_seal.c - sealed attachments (proto/seal.h, PROTOCOL.md section 11).

    Round trips of every shape of stream (empty, one byte, exact and
    ragged chunks, 3 MiB in 1 MiB chunks) to two recipients; an agency the
    file key was not sealed to cannot open it, not even by using a
    recipient's name; every kind of damage (a flipped byte, a chunk
    dropped, bytes appended, another plaintext hash) is
    PROTO_ERR_HASH_MISMATCH; and the sender's signature commits to the
    plaintext hash.
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
#include <sodium.h>

#include "proto/identity.h"
#include "proto/msg.h"
#include "proto/seal.h"
#include "proto/sign.h"

#define S_SENDER   "000.00.00.H01"
#define S_TO_A     "000.00.00.H02"
#define S_TO_B     "000.00.00.H03"
#define S_STRANGER "000.00.00.H04"
#define S_MARKER   "TRUC-SEAL-MARKER-7f3a"

static proto_identity_t *s_sender, *s_a, *s_b, *s_stranger;

static int s_group_setup(void **state)
{
    (void) state;
    if (sodium_init() < 0)
        return -1;
    s_sender = proto_identity_generate(PROTO_ROLE_AGENCY, S_SENDER);
    s_a = proto_identity_generate(PROTO_ROLE_AGENCY, S_TO_A);
    s_b = proto_identity_generate(PROTO_ROLE_AGENCY, S_TO_B);
    s_stranger = proto_identity_generate(PROTO_ROLE_AGENCY, S_STRANGER);
    return s_sender && s_a && s_b && s_stranger ? 0 : -1;
}

static int s_group_teardown(void **state)
{
    (void) state;
    proto_identity_destroy(&s_sender);
    proto_identity_destroy(&s_a);
    proto_identity_destroy(&s_b);
    proto_identity_destroy(&s_stranger);
    return 0;
}

//  A plaintext of len bytes with the marker at its start and its end.
static uint8_t *s_plain(size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t) (i * 31 + 7);
    size_t m = strlen(S_MARKER);
    if (len >= 2 * m) {
        memcpy(p, S_MARKER, m);
        memcpy(p + len - m, S_MARKER, m);
    }
    return p;
}

static bool s_contains(const uint8_t *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return true;
    return false;
}

static void s_seal(const uint8_t *plain, size_t len, uint32_t chunk, proto_enc_t *enc,
                   proto_sealed_key_t keys[2], proto_buf_t *out)
{
    proto_seal_to_t to[2] = {
        { S_TO_A, proto_identity_public(s_a)->curve_pk },
        { S_TO_B, proto_identity_public(s_b)->curve_pk },
    };
    assert_int_equal(proto_seal_encrypt(plain, len, chunk, to, 2, enc, keys, out), PROTO_OK);
}

static proto_err_t s_open(const proto_identity_t *id, const char *as, const proto_enc_t *enc,
                          const proto_buf_t *frame, proto_buf_t *out)
{
    return proto_seal_decrypt(enc, frame->data, frame->len, as, proto_identity_public(id)->curve_pk,
                              proto_identity_curve_sk(id), out);
}

static void s_test_round_trip(void **state)
{
    (void) state;
    static const struct {
        size_t len;
        uint32_t chunk;
    } cases[] = {
        { 0, 1024 },      { 1, 1024 },       { 1023, 1024 },         { 1024, 1024 },
        { 1025, 1024 },   { 5000, 1024 },    { 3u << 20, 1u << 20 }, { (3u << 20) + 5, 1u << 20 },
        { 70000, 65536 }, { 100, 1u << 24 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint8_t *plain = s_plain(cases[c].len);
        proto_enc_t enc;
        proto_sealed_key_t keys[2];
        proto_buf_t frame, out;
        proto_buf_init(&frame);
        proto_buf_init(&out);
        s_seal(plain, cases[c].len, cases[c].chunk, &enc, keys, &frame);
        assert_int_equal(frame.len, proto_seal_size(cases[c].len, cases[c].chunk));
        assert_string_equal(enc.alg, PROTO_SEAL_ALG);
        assert_int_equal(enc.nkeys, 2);
        //  The ciphertext does not carry the marker.
        assert_false(s_contains(frame.data, frame.len, S_MARKER));
        uint8_t hash[PROTO_HASH_LEN];
        crypto_generichash(hash, sizeof hash, plain, cases[c].len, NULL, 0);
        assert_memory_equal(enc.plain_hash, hash, sizeof hash);
        assert_int_equal(s_open(s_a, S_TO_A, &enc, &frame, &out), PROTO_OK);
        assert_int_equal(out.len, cases[c].len);
        if (cases[c].len)
            assert_memory_equal(out.data, plain, cases[c].len);
        assert_int_equal(s_open(s_b, S_TO_B, &enc, &frame, &out), PROTO_OK);
        assert_int_equal(out.len, cases[c].len);
        if (cases[c].len)
            assert_memory_equal(out.data, plain, cases[c].len);
        proto_buf_free(&frame);
        proto_buf_free(&out);
        free(plain);
    }
}

static void s_test_stranger(void **state)
{
    (void) state;
    uint8_t *plain = s_plain(4096);
    proto_enc_t enc;
    proto_sealed_key_t keys[2];
    proto_buf_t frame, out;
    proto_buf_init(&frame);
    proto_buf_init(&out);
    s_seal(plain, 4096, 1024, &enc, keys, &frame);
    //  Nothing sealed to it: told so, not a damaged frame.
    assert_int_equal(s_open(s_stranger, S_STRANGER, &enc, &frame, &out), PROTO_ERR_NOT_AUTHORIZED);
    //  Its own keys under a recipient's name do not open that recipient's key.
    assert_int_equal(s_open(s_stranger, S_TO_A, &enc, &frame, &out), PROTO_ERR_HASH_MISMATCH);
    assert_int_equal(out.len, 0);
    //  Nor does the sender's: sealing is to the recipients only.
    assert_int_equal(s_open(s_sender, S_TO_B, &enc, &frame, &out), PROTO_ERR_HASH_MISMATCH);
    proto_buf_free(&frame);
    proto_buf_free(&out);
    free(plain);
}

static void s_test_tampered(void **state)
{
    (void) state;
    const size_t len = 3000; // chunks of 1024, 1024, 952
    uint8_t *plain = s_plain(len);
    proto_enc_t enc;
    proto_sealed_key_t keys[2];
    proto_buf_t frame, out, bad;
    proto_buf_init(&frame);
    proto_buf_init(&out);
    proto_buf_init(&bad);
    s_seal(plain, len, 1024, &enc, keys, &frame);
    //  Every byte of the frame is authenticated.
    for (size_t i = 0; i < frame.len; i += 97) {
        proto_buf_reset(&bad);
        assert_int_equal(proto_buf_append(&bad, frame.data, frame.len), PROTO_OK);
        bad.data[i] ^= 0x01;
        assert_int_equal(s_open(s_a, S_TO_A, &enc, &bad, &out), PROTO_ERR_HASH_MISMATCH);
        assert_int_equal(out.len, 0);
    }
    //  The last chunk dropped: the stream ends without FINAL.
    size_t full = 1024 + crypto_secretstream_xchacha20poly1305_ABYTES;
    proto_buf_reset(&bad);
    assert_int_equal(proto_buf_append(&bad, frame.data, 2 * full), PROTO_OK);
    assert_int_equal(s_open(s_a, S_TO_A, &enc, &bad, &out), PROTO_ERR_HASH_MISMATCH);
    //  Bytes after the FINAL chunk.
    proto_buf_reset(&bad);
    assert_int_equal(proto_buf_append(&bad, frame.data, frame.len), PROTO_OK);
    assert_int_equal(proto_buf_append(&bad, "x", 1), PROTO_OK);
    assert_int_equal(s_open(s_a, S_TO_A, &enc, &bad, &out), PROTO_ERR_HASH_MISMATCH);
    //  Empty frame, and a frame shorter than one tag.
    proto_buf_reset(&bad);
    assert_int_equal(s_open(s_a, S_TO_A, &enc, &bad, &out), PROTO_ERR_HASH_MISMATCH);
    assert_int_equal(proto_buf_append(&bad, frame.data, 5), PROTO_OK);
    assert_int_equal(s_open(s_a, S_TO_A, &enc, &bad, &out), PROTO_ERR_HASH_MISMATCH);
    //  A sealed key from another recipient's slot.
    proto_enc_t swapped = enc;
    proto_sealed_key_t swapped_keys[2] = { keys[0], keys[1] };
    memcpy(swapped_keys[0].sealed, keys[1].sealed, PROTO_SEALED_KEY_LEN);
    swapped.keys = swapped_keys;
    assert_int_equal(s_open(s_a, S_TO_A, &swapped, &frame, &out), PROTO_ERR_HASH_MISMATCH);
    //  The stream decrypts, but to a plaintext the sender did not sign.
    proto_enc_t other = enc;
    other.plain_hash[0] ^= 0x80;
    assert_int_equal(s_open(s_a, S_TO_A, &other, &frame, &out), PROTO_ERR_HASH_MISMATCH);
    //  The untouched frame still opens.
    assert_int_equal(s_open(s_a, S_TO_A, &enc, &frame, &out), PROTO_OK);
    proto_buf_free(&frame);
    proto_buf_free(&out);
    proto_buf_free(&bad);
    free(plain);
}

static void s_test_arguments(void **state)
{
    (void) state;
    proto_enc_t enc;
    proto_sealed_key_t keys[1];
    proto_buf_t out;
    proto_buf_init(&out);
    proto_seal_to_t to = { S_TO_A, proto_identity_public(s_a)->curve_pk };
    assert_int_equal(proto_seal_encrypt("x", 1, 1023, &to, 1, &enc, keys, &out),
                     PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_seal_encrypt("x", 1, (1u << 24) + 1, &to, 1, &enc, keys, &out),
                     PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_seal_encrypt("x", 1, 1024, &to, 0, &enc, keys, &out),
                     PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_seal_size(0, 1024), 17);
    assert_int_equal(proto_seal_size(1024, 1024), 1024 + 17);
    assert_int_equal(proto_seal_size(1025, 1024), 1025 + 34);
    proto_buf_free(&out);
}

//  The sender signs the plaintext hash: a document whose plain_hash is
//  changed no longer verifies, even though its ciphertext is the same.
static void s_test_signature_commits(void **state)
{
    (void) state;
    uint8_t *plain = s_plain(2048);
    proto_enc_t enc;
    proto_sealed_key_t keys[2];
    proto_buf_t frame;
    proto_buf_init(&frame);
    s_seal(plain, 2048, 1024, &enc, keys, &frame);
    const char *to[] = { S_TO_A, S_TO_B };
    proto_attachment_t att = { .name = "mật.pdf", .type = "application/pdf", .enc = &enc };
    proto_attachment_hash(&att, frame.data, frame.len);
    proto_doc_t doc = {
        .from = S_SENDER,
        .to = to,
        .nto = 2,
        .created = 1767225600000ull,
        .doc_type = "CV",
        .subject = "sealed",
        .secrecy = 1,
        .att = &att,
        .natt = 1,
    };
    proto_id_random(&doc.id);
    uint8_t sig[PROTO_SIG_LEN];
    assert_int_equal(proto_doc_sign(&doc, s_sender, sig), PROTO_OK);
    const uint8_t *pk = proto_identity_public(s_sender)->sign_pk;
    assert_int_equal(proto_doc_verify(&doc, pk, sig), PROTO_OK);

    //  Through the wire codec: plain_hash travels and is required.
    proto_msg_t msg = { .kind = PROTO_KIND_SUBMIT };
    msg.u.document.doc = doc;
    memcpy(msg.u.document.sig, sig, sizeof sig);
    proto_buf_t body;
    proto_buf_init(&body);
    proto_errinfo_t info;
    assert_int_equal(proto_msg_encode(&msg, &body, &info), PROTO_OK);
    proto_msg_t *back = NULL;
    assert_int_equal(proto_msg_decode(PROTO_KIND_SUBMIT, body.data, body.len, &back, &info),
                     PROTO_OK);
    const proto_enc_t *got = back->u.document.doc.att[0].enc;
    assert_non_null(got);
    assert_memory_equal(got->plain_hash, enc.plain_hash, PROTO_HASH_LEN);
    assert_int_equal(proto_doc_verify(&back->u.document.doc, pk, sig), PROTO_OK);
    proto_msg_destroy(&back);

    enc.plain_hash[5] ^= 0x20;
    assert_int_equal(proto_doc_verify(&doc, pk, sig), PROTO_ERR_BAD_SIGNATURE);
    proto_buf_free(&body);
    proto_buf_free(&frame);
    free(plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s_test_round_trip),        cmocka_unit_test(s_test_stranger),
        cmocka_unit_test(s_test_tampered),          cmocka_unit_test(s_test_arguments),
        cmocka_unit_test(s_test_signature_commits),
    };
    return cmocka_run_group_tests(tests, s_group_setup, s_group_teardown);
}
