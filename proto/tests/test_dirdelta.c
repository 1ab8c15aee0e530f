/*  test_dirdelta.c - directory deltas: built between two signed snapshots,
    carried through the DIRECTORY_DELTA codec, applied to rebuild exactly
    the newer snapshot, and refused on any other base, when tampered with,
    or when signed by another key.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/dirdelta.h"
#include "proto/identity.h"
#include "proto/msg.h"
#include "proto/sign.h"

#define S_MAX 2000

//  A snapshot the way a broker builds one: entries sorted by code, signed.
typedef struct {
    proto_msg_t msg;
    proto_dir_entry_t entries[S_MAX];
    char codes[S_MAX][16];
    char names[S_MAX][40];
} s_snap_t;

static proto_identity_t *s_hub, *s_other;

static int s_setup(void **state)
{
    (void) state;
    if (sodium_init() < 0)
        return -1;
    s_hub = proto_identity_generate(PROTO_ROLE_BROKER, "hub");
    s_other = proto_identity_generate(PROTO_ROLE_BROKER, "hub");
    return s_hub && s_other ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void) state;
    proto_identity_destroy(&s_hub);
    proto_identity_destroy(&s_other);
    return 0;
}

//  Agency i of the test: codes sort in i order.
static void s_code(int i, char out[16])
{
    snprintf(out, 16, "000.%02u.%02u.H01", (unsigned) (i / 99) % 100u,
             (unsigned) (i % 99 + 1) % 100u);
}

static s_snap_t *s_snap(uint64_t serial, int n)
{
    s_snap_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->msg.kind = PROTO_KIND_DIRECTORY;
    proto_directory_msg_t *d = &s->msg.u.directory;
    d->serial = serial;
    d->time = 1767225600000ull + serial;
    d->broker = "hub";
    d->entries = s->entries;
    d->nentries = (uint32_t) n;
    for (int i = 0; i < n; i++) {
        s_code(i * 2, s->codes[i]); // every other code, so tests can insert between
        snprintf(s->names[i], sizeof s->names[i], "Agency %d", i * 2);
        s->entries[i].code = s->codes[i];
        s->entries[i].name = s->names[i];
        randombytes_buf(s->entries[i].key, PROTO_KEY_LEN);
    }
    return s;
}

static void s_sign(s_snap_t *s, const proto_identity_t *id)
{
    proto_directory_msg_t *d = &s->msg.u.directory;
    assert_int_equal(proto_directory_sign(d, id, d->sig), PROTO_OK);
}

//  A copy of from with serial+1, to change before signing.
static s_snap_t *s_next(const s_snap_t *from)
{
    s_snap_t *s = malloc(sizeof *s);
    assert_non_null(s);
    memcpy(s, from, sizeof *s);
    proto_directory_msg_t *d = &s->msg.u.directory;
    d->entries = s->entries;
    for (uint32_t i = 0; i < d->nentries; i++) {
        s->entries[i].code = s->codes[i];
        s->entries[i].name = s->names[i];
    }
    d->serial++;
    d->time += 1000;
    return s;
}

//  Insert a new agency with code index c (odd, so between existing ones).
static void s_insert(s_snap_t *s, int c)
{
    proto_directory_msg_t *d = &s->msg.u.directory;
    char code[16];
    s_code(c, code);
    uint32_t at = 0;
    while (at < d->nentries && strcmp(s->codes[at], code) < 0)
        at++;
    for (uint32_t i = d->nentries; i > at; i--) {
        memcpy(s->codes[i], s->codes[i - 1], 16);
        memcpy(s->names[i], s->names[i - 1], 40);
        s->entries[i] = s->entries[i - 1];
    }
    memcpy(s->codes[at], code, 16);
    snprintf(s->names[at], 40, "New agency %d", c);
    randombytes_buf(s->entries[at].key, PROTO_KEY_LEN);
    s->entries[at].state = 0;
    s->entries[at].valid_from = s->entries[at].valid_until = 0;
    d->nentries++;
    for (uint32_t i = 0; i < d->nentries; i++) {
        s->entries[i].code = s->codes[i];
        s->entries[i].name = s->names[i];
    }
}

static void s_remove(s_snap_t *s, uint32_t at)
{
    proto_directory_msg_t *d = &s->msg.u.directory;
    for (uint32_t i = at; i + 1 < d->nentries; i++) {
        memcpy(s->codes[i], s->codes[i + 1], 16);
        memcpy(s->names[i], s->names[i + 1], 40);
        s->entries[i] = s->entries[i + 1];
    }
    d->nentries--;
    for (uint32_t i = 0; i < d->nentries; i++) {
        s->entries[i].code = s->codes[i];
        s->entries[i].name = s->names[i];
    }
}

//  Encode delta, decode it again (as an agent receives it) and apply it to
//  base; the result is compared with want's own encoding when rc is OK.
static proto_err_t s_apply_wire(const s_snap_t *base, const proto_dir_delta_t *delta,
                                const s_snap_t *want, const proto_identity_t *signer)
{
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DIRECTORY_DELTA;
    msg.u.delta = *delta;
    proto_buf_t wire, body, whole;
    proto_buf_init(&wire);
    proto_buf_init(&body);
    proto_buf_init(&whole);
    proto_errinfo_t info;
    assert_int_equal(proto_msg_encode(&msg, &wire, &info), PROTO_OK);
    proto_msg_t *got = NULL;
    assert_int_equal(proto_msg_decode(PROTO_KIND_DIRECTORY_DELTA, wire.data, wire.len, &got, &info),
                     PROTO_OK);
    proto_err_t rc = proto_dir_delta_apply(&base->msg.u.directory, &got->u.delta,
                                           proto_identity_public(signer)->sign_pk, &body);
    if (rc == PROTO_OK && want) {
        assert_int_equal(proto_msg_encode(&want->msg, &whole, &info), PROTO_OK);
        assert_int_equal(body.len, whole.len);
        assert_memory_equal(body.data, whole.data, whole.len);
    }
    if (rc)
        assert_int_equal(body.len, 0);
    proto_msg_destroy(&got);
    proto_buf_free(&wire);
    proto_buf_free(&body);
    proto_buf_free(&whole);
    return rc;
}

static void test_round_trip(void **state)
{
    (void) state;
    s_snap_t *a = s_snap(7, 1000);
    s_sign(a, s_hub);
    s_snap_t *b = s_next(a);
    b->entries[10].state = PROTO_AGENCY_SUSPENDED; // changed
    s_remove(b, 500);                              // removed
    s_insert(b, 1);                                // added, first in order
    s_insert(b, 3001);                             // added, after every code of a
    s_sign(b, s_hub);
    proto_dir_delta_t delta;
    assert_int_equal(proto_dir_delta_build(&a->msg.u.directory, &b->msg.u.directory, &delta),
                     PROTO_OK);
    assert_int_equal(delta.base, 7);
    assert_int_equal(delta.serial, 8);
    assert_int_equal(delta.nentries, 3);
    assert_int_equal(delta.nremoved, 1);
    assert_string_equal(delta.removed[0], a->codes[500]);
    assert_int_equal(s_apply_wire(a, &delta, b, s_hub), PROTO_OK);
    //  The delta is what makes it worth it: a few hundred bytes, not the
    //  whole directory.
    proto_msg_t msg = { .kind = PROTO_KIND_DIRECTORY_DELTA, .u.delta = delta };
    proto_buf_t small, whole;
    proto_buf_init(&small);
    proto_buf_init(&whole);
    assert_int_equal(proto_msg_encode(&msg, &small, NULL), PROTO_OK);
    assert_int_equal(proto_msg_encode(&b->msg, &whole, NULL), PROTO_OK);
    assert_true(small.len * 50 < whole.len);
    proto_buf_free(&small);
    proto_buf_free(&whole);
    proto_dir_delta_release(&delta);

    //  Nothing changed but the serial: an empty delta still rebuilds b.
    s_snap_t *c = s_next(b);
    s_sign(c, s_hub);
    assert_int_equal(proto_dir_delta_build(&b->msg.u.directory, &c->msg.u.directory, &delta),
                     PROTO_OK);
    assert_int_equal(delta.nentries + delta.nremoved, 0);
    assert_int_equal(s_apply_wire(b, &delta, c, s_hub), PROTO_OK);
    proto_dir_delta_release(&delta);
    proto_dir_delta_release(&delta); // harmless twice
    free(a);
    free(b);
    free(c);
}

static void test_wrong_base(void **state)
{
    (void) state;
    s_snap_t *a = s_snap(7, 50);
    s_sign(a, s_hub);
    s_snap_t *b = s_next(a);
    b->entries[3].state = PROTO_AGENCY_REVOKED;
    s_remove(b, 20);
    s_sign(b, s_hub);
    s_snap_t *c = s_next(b);
    c->entries[4].state = PROTO_AGENCY_SUSPENDED;
    s_sign(c, s_hub);
    proto_dir_delta_t ab, bc;
    assert_int_equal(proto_dir_delta_build(&a->msg.u.directory, &b->msg.u.directory, &ab),
                     PROTO_OK);
    assert_int_equal(proto_dir_delta_build(&b->msg.u.directory, &c->msg.u.directory, &bc),
                     PROTO_OK);
    //  Chained by serial: b->c applies to b only, a->b to a only.
    assert_int_equal(s_apply_wire(a, &bc, NULL, s_hub), PROTO_ERR_DIRECTORY_BASE);
    assert_int_equal(s_apply_wire(c, &ab, NULL, s_hub), PROTO_ERR_DIRECTORY_BASE);
    assert_int_equal(s_apply_wire(b, &ab, NULL, s_hub), PROTO_ERR_DIRECTORY_BASE);
    assert_int_equal(s_apply_wire(b, &bc, c, s_hub), PROTO_OK);
    //  Another snapshot under the same serial: the removal does not fit it,
    //  or the result does not verify.
    s_snap_t *forged = s_snap(7, 50);
    s_sign(forged, s_hub);
    proto_err_t rc = s_apply_wire(forged, &ab, NULL, s_hub);
    assert_true(rc == PROTO_ERR_BAD_SIGNATURE || rc == PROTO_ERR_DIRECTORY_BASE);
    s_snap_t *same_codes = s_next(a);
    same_codes->msg.u.directory.serial = 7;
    same_codes->entries[9].state = PROTO_AGENCY_SUSPENDED;
    assert_int_equal(s_apply_wire(same_codes, &ab, NULL, s_hub), PROTO_ERR_BAD_SIGNATURE);
    //  A removal of an agency the base does not hold, past the end or in
    //  between, and a code both changed and removed.
    proto_dir_delta_t bad = ab;
    const char *gone[2];
    char beyond[16], between[16];
    s_code(4001, beyond);
    s_code(5, between);
    gone[0] = beyond;
    bad.removed = gone;
    bad.nremoved = 1;
    assert_int_equal(s_apply_wire(a, &bad, NULL, s_hub), PROTO_ERR_DIRECTORY_BASE);
    gone[0] = between;
    assert_int_equal(s_apply_wire(a, &bad, NULL, s_hub), PROTO_ERR_DIRECTORY_BASE);
    gone[0] = ab.entries[0].code;
    assert_int_equal(s_apply_wire(a, &bad, NULL, s_hub), PROTO_ERR_DIRECTORY_BASE);
    proto_dir_delta_release(&ab);
    proto_dir_delta_release(&bc);
    free(a);
    free(b);
    free(c);
    free(forged);
    free(same_codes);
}

static void test_tampered(void **state)
{
    (void) state;
    s_snap_t *a = s_snap(1, 30);
    s_sign(a, s_hub);
    s_snap_t *b = s_next(a);
    b->entries[2].state = PROTO_AGENCY_SUSPENDED;
    s_sign(b, s_hub);
    proto_dir_delta_t delta;
    assert_int_equal(proto_dir_delta_build(&a->msg.u.directory, &b->msg.u.directory, &delta),
                     PROTO_OK);
    //  Reinstated on the way: the result is not what the broker signed.
    delta.entries[0].state = PROTO_AGENCY_ACTIVE;
    assert_int_equal(s_apply_wire(a, &delta, NULL, s_hub), PROTO_ERR_BAD_SIGNATURE);
    delta.entries[0].state = PROTO_AGENCY_SUSPENDED;
    delta.time++;
    assert_int_equal(s_apply_wire(a, &delta, NULL, s_hub), PROTO_ERR_BAD_SIGNATURE);
    delta.time--;
    //  Right content, checked against another broker's key.
    assert_int_equal(s_apply_wire(a, &delta, NULL, s_other), PROTO_ERR_BAD_SIGNATURE);
    assert_int_equal(s_apply_wire(a, &delta, b, s_hub), PROTO_OK);
    proto_dir_delta_release(&delta);
    free(a);
    free(b);
}

static void test_build_errors(void **state)
{
    (void) state;
    s_snap_t *a = s_snap(5, 3);
    s_sign(a, s_hub);
    proto_dir_delta_t delta;
    assert_int_equal(proto_dir_delta_build(&a->msg.u.directory, &a->msg.u.directory, &delta),
                     PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_dir_delta_build(NULL, &a->msg.u.directory, &delta),
                     PROTO_ERR_INVALID_ARG);
    proto_buf_t body;
    proto_buf_init(&body);
    assert_int_equal(
        proto_dir_delta_apply(NULL, &delta, proto_identity_public(s_hub)->sign_pk, &body),
        PROTO_ERR_DIRECTORY_BASE);
    proto_buf_free(&body);
    free(a);
}

//  The codec refuses what no broker may send: a serial not above the base,
//  removed codes out of order or repeated, fields that are not defined.
static void test_codec_refusals(void **state)
{
    (void) state;
    char one[16], two[16];
    s_code(1, one);
    s_code(2, two);
    const char *removed[2] = { two, one };
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DIRECTORY_DELTA;
    proto_dir_delta_t *d = &msg.u.delta;
    d->base = 4;
    d->serial = 4;
    d->broker = "hub";
    d->removed = removed;
    d->nremoved = 1;
    proto_buf_t buf;
    proto_buf_init(&buf);
    proto_errinfo_t info;
    assert_int_not_equal(proto_msg_encode(&msg, &buf, &info), PROTO_OK);
    assert_string_equal(info.field, "serial");
    d->serial = 5;
    assert_int_equal(proto_msg_encode(&msg, &buf, &info), PROTO_OK);
    d->nremoved = 2;
    assert_int_equal(proto_msg_encode(&msg, &buf, &info), PROTO_ERR_VALUE);
    removed[1] = two;
    assert_int_equal(proto_msg_encode(&msg, &buf, &info), PROTO_ERR_VALUE);
    d->base = 0;
    d->nremoved = 0;
    assert_int_not_equal(proto_msg_encode(&msg, &buf, &info), PROTO_OK);
    assert_string_equal(info.field, "base");
    assert_string_equal(proto_kind_name(PROTO_KIND_DIRECTORY_DELTA), "DIRECTORY_DELTA");
    assert_int_equal(proto_body_limit(PROTO_KIND_DIRECTORY_DELTA), PROTO_MAX_DIRECTORY_BODY);
    proto_buf_free(&buf);
}

//  HELLO's optional dir_deltas: absent means false, and it survives a
//  round trip; an older HELLO without it still decodes.
static void test_hello_dir_deltas(void **state)
{
    (void) state;
    uint8_t versions[1] = { PROTO_VERSION };
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_HELLO;
    msg.u.hello.versions = versions;
    msg.u.hello.nversions = 1;
    msg.u.hello.agency = "000.00.01.H01";
    msg.u.hello.window = 8;
    msg.u.hello.dir_serial = 12;
    proto_buf_t buf;
    proto_buf_init(&buf);
    for (int deltas = 0; deltas < 2; deltas++) {
        msg.u.hello.dir_deltas = deltas;
        assert_int_equal(proto_msg_encode(&msg, &buf, NULL), PROTO_OK);
        bool named = false;
        for (size_t i = 0; i + 10 <= buf.len; i++)
            named |= memcmp(buf.data + i, "dir_deltas", 10) == 0;
        assert_int_equal(named, deltas);
        proto_msg_t *got = NULL;
        assert_int_equal(proto_msg_decode(PROTO_KIND_HELLO, buf.data, buf.len, &got, NULL),
                         PROTO_OK);
        assert_int_equal(got->u.hello.dir_deltas, deltas);
        assert_int_equal(got->u.hello.dir_serial, 12);
        proto_msg_destroy(&got);
    }
    proto_buf_free(&buf);
}

//  Between brokers (PROTOCOL.md 16.5): homes and broker entries signed in
//  "truc/directory/2", a change of home alone is a change, the brokers
//  travel whole in the delta, and a delta of one form never applies to a
//  snapshot of the other.
static void test_between_brokers(void **state)
{
    (void) state;
    static const char *codes[] = { "000.00.01.H29" }, *patterns[] = { "H29" };
    proto_dir_broker_t brokers[1] = { { .label = "hcm",
                                        .name = "HCM broker",
                                        .codes = codes,
                                        .ncodes = 1,
                                        .patterns = patterns,
                                        .npatterns = 1 } };
    randombytes_buf(brokers[0].key, PROTO_KEY_LEN);
    s_snap_t *a = s_snap(7, 20);
    proto_directory_msg_t *d = &a->msg.u.directory;
    d->federated = true;
    d->brokers = brokers;
    d->nbrokers = 1;
    a->entries[3].home = "hcm";
    s_sign(a, s_hub);
    //  Not the agents' signature: the form is part of what is signed.
    proto_directory_msg_t agents = *d;
    agents.federated = false;
    assert_int_equal(proto_directory_verify(&agents, proto_identity_public(s_hub)->sign_pk, d->sig),
                     PROTO_ERR_BAD_SIGNATURE);
    //  The home too.
    a->entries[3].home = "hue";
    assert_int_equal(proto_directory_verify(d, proto_identity_public(s_hub)->sign_pk, d->sig),
                     PROTO_ERR_BAD_SIGNATURE);
    a->entries[3].home = "hcm";
    //  The wire keeps the form, the homes and the brokers.
    proto_buf_t wire;
    proto_buf_init(&wire);
    assert_int_equal(proto_msg_encode(&a->msg, &wire, NULL), PROTO_OK);
    proto_msg_t *got = NULL;
    assert_int_equal(proto_msg_decode(PROTO_KIND_DIRECTORY, wire.data, wire.len, &got, NULL),
                     PROTO_OK);
    const proto_directory_msg_t *g = &got->u.directory;
    assert_true(g->federated);
    assert_int_equal(g->nbrokers, 1);
    assert_string_equal(g->brokers[0].label, "hcm");
    assert_string_equal(g->brokers[0].codes[0], codes[0]);
    assert_string_equal(g->entries[3].home, "hcm");
    assert_null(g->entries[4].home);
    assert_int_equal(proto_directory_verify(g, proto_identity_public(s_hub)->sign_pk, g->sig),
                     PROTO_OK);
    proto_msg_destroy(&got);
    proto_buf_free(&wire);

    //  A home moved, nothing else: one entry in the delta, which rebuilds b.
    s_snap_t *b = s_next(a);
    b->entries[3].home = NULL;
    b->entries[5].home = "hcm";
    s_sign(b, s_hub);
    proto_dir_delta_t delta;
    assert_int_equal(proto_dir_delta_build(&a->msg.u.directory, &b->msg.u.directory, &delta),
                     PROTO_OK);
    assert_int_equal(delta.nentries, 2);
    assert_true(delta.federated);
    assert_int_equal(delta.nbrokers, 1);
    assert_int_equal(s_apply_wire(a, &delta, b, s_hub), PROTO_OK);
    //  The same delta on the agents' form of a: another base.
    s_snap_t *plain = s_next(a);
    plain->msg.u.directory.serial = 7;
    plain->msg.u.directory.federated = false;
    assert_int_equal(s_apply_wire(plain, &delta, NULL, s_hub), PROTO_ERR_DIRECTORY_BASE);
    proto_dir_delta_release(&delta);

    //  Brokers out of label order are refused (the encoder checks its
    //  output with the strict decoder).
    proto_dir_broker_t two[2] = { brokers[0], brokers[0] };
    two[1].label = "cantho";
    d->brokers = two;
    d->nbrokers = 2;
    proto_buf_init(&wire);
    proto_errinfo_t info;
    assert_int_not_equal(proto_msg_encode(&a->msg, &wire, &info), PROTO_OK);
    assert_string_equal(info.field, "brokers[1].label");
    proto_buf_free(&wire);
    free(a);
    free(b);
    free(plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_wrong_base),
        cmocka_unit_test(test_tampered),        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_codec_refusals),  cmocka_unit_test(test_hello_dir_deltas),
        cmocka_unit_test(test_between_brokers),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
