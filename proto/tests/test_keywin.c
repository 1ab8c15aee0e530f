/*  test_keywin.c - key rotation that keeps old signatures valid.

    The rule (proto/keywin.h): which of a current key and its retired
    windows verifies a signature made at a given time, and the specific
    ERR_KEY_RETIRED for a retired key used after its window. The directory
    keeps the retired keys through a rekey and its file; the DIRECTORY
    message carries them (and signs the same bytes as before when there are
    none); a delta carries a rekey.
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
#include <unistd.h>

#include "proto/directory.h"
#include "proto/dirdelta.h"
#include "proto/keywin.h"
#include "proto/msg.h"
#include "proto/sign.h"

#define S_CODE "000.00.01.H01"
#define S_T0   1798761600 // 2027-01-01T00:00:00Z

typedef struct {
    uint8_t pk[32], sk[64];
} s_key_t;

static s_key_t s_keys[4];

static int s_setup(void **state)
{
    (void) state;
    if (sodium_init() < 0)
        return -1;
    for (size_t i = 0; i < 4; i++)
        crypto_sign_keypair(s_keys[i].pk, s_keys[i].sk);
    return 0;
}

//  A "signature" for the rule's tests: the message is the key index.
typedef struct {
    uint8_t sig[64];
} s_signed_t;

static s_signed_t s_sign_with(int k)
{
    s_signed_t s;
    crypto_sign_detached(s.sig, NULL, (const uint8_t *) "msg", 3, s_keys[k].sk);
    return s;
}

static bool s_check(const uint8_t key[32], const void *arg)
{
    const s_signed_t *s = arg;
    return crypto_sign_verify_detached(s->sig, (const uint8_t *) "msg", 3, key) == 0;
}

static void s_test_rule(void **state)
{
    (void) state;
    //  Key 0 was current until S_T0 (grace until S_T0 + 100), key 1 since.
    proto_keywin_t retired[PROTO_KEYWIN_MAX];
    size_t n = 0;
    assert_int_equal(proto_keywin_retire(retired, &n, s_keys[0].pk, S_T0 - 1000, S_T0, 100),
                     PROTO_OK);
    assert_int_equal(n, 1);
    assert_int_equal(retired[0].from, S_T0 - 1000);
    assert_int_equal(retired[0].until, S_T0 + 100);
    s_signed_t by0 = s_sign_with(0), by1 = s_sign_with(1), by3 = s_sign_with(3);
    //  The current key verifies at any time; the retired key inside its
    //  window; outside it, ERR_KEY_RETIRED; an unknown key, a bad signature.
    assert_int_equal(proto_keywin_verify(s_keys[1].pk, retired, n, S_T0 + 5000, s_check, &by1),
                     PROTO_OK);
    assert_int_equal(proto_keywin_verify(s_keys[1].pk, retired, n, S_T0 - 10, s_check, &by0),
                     PROTO_OK);
    assert_int_equal(proto_keywin_verify(s_keys[1].pk, retired, n, S_T0 + 99, s_check, &by0),
                     PROTO_OK);
    assert_int_equal(proto_keywin_verify(s_keys[1].pk, retired, n, S_T0 + 100, s_check, &by0),
                     PROTO_ERR_KEY_RETIRED);
    assert_int_equal(proto_keywin_verify(s_keys[1].pk, retired, n, S_T0 - 2000, s_check, &by0),
                     PROTO_ERR_KEY_RETIRED);
    assert_int_equal(proto_keywin_verify(s_keys[1].pk, retired, n, S_T0, s_check, &by3),
                     PROTO_ERR_BAD_SIGNATURE);
    assert_int_equal(proto_keywin_verify(s_keys[1].pk, NULL, 0, S_T0, s_check, &by0),
                     PROTO_ERR_BAD_SIGNATURE);
    //  A key is retired once; grace 0 still covers the second of rotation.
    assert_int_equal(proto_keywin_retire(retired, &n, s_keys[0].pk, 0, S_T0, 0), PROTO_ERR_EXISTS);
    assert_int_equal(proto_keywin_retire(retired, &n, s_keys[1].pk, S_T0, S_T0 + 50, 0), PROTO_OK);
    assert_int_equal(retired[1].until, S_T0 + 51);
    //  The limit: full of open windows refuses, a closed one is dropped.
    n = 0;
    uint8_t k[32];
    for (int i = 0; i < PROTO_KEYWIN_MAX; i++) {
        memset(k, i + 1, sizeof k);
        assert_int_equal(proto_keywin_retire(retired, &n, k, 0, S_T0 + (uint64_t) i, 10), PROTO_OK);
    }
    memset(k, 0xee, sizeof k);
    assert_int_equal(proto_keywin_retire(retired, &n, k, 0, S_T0 + 8, 10), PROTO_ERR_LIMIT);
    assert_int_equal(n, PROTO_KEYWIN_MAX);
    assert_int_equal(proto_keywin_retire(retired, &n, k, 0, S_T0 + 10, 10), PROTO_OK);
    assert_int_equal(n, PROTO_KEYWIN_MAX);
    assert_int_equal(retired[0].key[0], 2);
    assert_int_equal(retired[PROTO_KEYWIN_MAX - 1].key[0], 0xee);
}

static void s_test_text(void **state)
{
    (void) state;
    proto_keywin_t w[PROTO_KEYWIN_MAX], back[PROTO_KEYWIN_MAX];
    size_t n = 0, m = 0;
    assert_int_equal(proto_keywin_retire(w, &n, s_keys[0].pk, 0, S_T0, 86400), PROTO_OK);
    assert_int_equal(proto_keywin_retire(w, &n, s_keys[1].pk, S_T0, S_T0 + 60, 3600), PROTO_OK);
    char text[PROTO_KEYWIN_TEXT_MAX];
    proto_keywin_format(w, n, text);
    assert_int_equal(proto_keywin_parse(text, back, &m), PROTO_OK);
    assert_int_equal(m, n);
    assert_memory_equal(back, w, n * sizeof *w);
    static const char *const bad[] = {
        "abc - 2027-01-01T00:00:00Z",
        "0000000000000000000000000000000000000000000000000000000000000000 -",
        "0000000000000000000000000000000000000000000000000000000000000000 - 2027-13-01T00:00:00Z",
        ("0000000000000000000000000000000000000000000000000000000000000000 2027-01-02T00:00:00Z "
         "2027-01-01T00:00:00Z"), // from after until: one string, split to fit the line
        "0000000000000000000000000000000000000000000000000000000000000000 - 2027-01-01T00:00:00Z ",
        " 0000000000000000000000000000000000000000000000000000000000000000 - 2027-01-01T00:00:00Z",
        "0000000000000000000000000000000000000000000000000000000000000000 - 2027-01-01T00:00:00Zx",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_not_equal(proto_keywin_parse(bad[i], back, &m), PROTO_OK);
}

//  A rekey keeps the old key, the file keeps both, keys_at answers by time.
static void s_test_directory(void **state)
{
    (void) state;
    proto_directory_t *dir = proto_directory_new();
    assert_non_null(dir);
    proto_directory_entry_t e;
    memset(&e, 0, sizeof e);
    snprintf(e.code, sizeof e.code, "%s", S_CODE);
    e.name = "Sở Nội vụ";
    memcpy(e.sign_pk, s_keys[0].pk, 32);
    assert_int_equal(proto_directory_add(dir, &e), PROTO_OK);
    uint64_t serial = proto_directory_serial(dir);
    assert_int_equal(proto_directory_rekey(dir, S_CODE, s_keys[1].pk, S_T0, 7 * 86400), PROTO_OK);
    assert_int_equal(proto_directory_serial(dir), serial + 1);
    assert_int_equal(proto_directory_rekey(dir, S_CODE, s_keys[1].pk, S_T0 + 1, 0), PROTO_OK);
    assert_int_equal(proto_directory_serial(dir), serial + 1);
    assert_int_equal(proto_directory_rekey(dir, S_CODE, s_keys[0].pk, S_T0 + 1, 0),
                     PROTO_ERR_EXISTS);
    assert_int_equal(proto_directory_rekey(dir, S_CODE, s_keys[2].pk, S_T0 + 1, -1),
                     PROTO_ERR_VALUE);
    assert_int_equal(proto_directory_rekey(dir, S_CODE, s_keys[2].pk, S_T0 + 100, 0), PROTO_OK);
    const proto_directory_entry_t *got = proto_directory_find(dir, S_CODE);
    assert_memory_equal(got->sign_pk, s_keys[2].pk, 32);
    assert_int_equal(got->key_since, S_T0 + 100);
    assert_int_equal(got->retired_count, 2);
    assert_int_equal(got->retired[1].from, S_T0);
    assert_int_equal(got->retired[1].until, S_T0 + 101);
    //  The new key is the one the handshake finds; the old ones are not.
    uint8_t curve[32];
    assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(curve, s_keys[2].pk), 0);
    assert_ptr_equal(proto_directory_find_curve(dir, curve), got);
    assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(curve, s_keys[0].pk), 0);
    assert_null(proto_directory_find_curve(dir, curve));

    uint8_t keys[1 + PROTO_KEYWIN_MAX][PROTO_IDENTITY_KEY_LEN];
    assert_int_equal(proto_directory_keys_at(dir, S_CODE, S_T0 + 50, keys), 3);
    assert_memory_equal(keys[0], s_keys[2].pk, 32);
    assert_int_equal(proto_directory_keys_at(dir, S_CODE, S_T0 - 50, keys), 2);
    assert_memory_equal(keys[1], s_keys[0].pk, 32);
    assert_int_equal(proto_directory_keys_at(dir, S_CODE, S_T0 + 8 * 86400, keys), 1);
    assert_int_equal(proto_directory_keys_at(dir, "000.00.01.H02", S_T0, keys), 0);

    //  Through the file and back.
    char path[] = "/tmp/test_keywin.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(proto_directory_save(dir, path, NULL, 0), PROTO_OK);
    proto_directory_t *again = NULL;
    char err[256] = "";
    assert_int_equal(proto_directory_load(path, &again, err, sizeof err), PROTO_OK);
    unlink(path);
    const proto_directory_entry_t *back = proto_directory_find(again, S_CODE);
    assert_int_equal(back->key_since, got->key_since);
    assert_int_equal(back->retired_count, 2);
    assert_memory_equal(back->retired, got->retired, 2 * sizeof *got->retired);
    proto_directory_destroy(&again);

    //  The broker's own retired key, in the header, through the file too.
    size_t nb = 5;
    assert_null(proto_directory_broker_retired(dir, &nb));
    assert_int_equal(nb, 0);
    assert_int_equal(proto_directory_retire_broker_key(dir, s_keys[3].pk, S_T0, 3600), PROTO_OK);
    assert_int_equal(proto_directory_retire_broker_key(dir, s_keys[3].pk, S_T0, 3600),
                     PROTO_ERR_EXISTS);
    assert_int_equal(proto_directory_save(dir, path, NULL, 0), PROTO_OK);
    assert_int_equal(proto_directory_load(path, &again, err, sizeof err), PROTO_OK);
    unlink(path);
    const proto_keywin_t *mine = proto_directory_broker_retired(again, &nb);
    assert_int_equal(nb, 1);
    assert_memory_equal(mine[0].key, s_keys[3].pk, 32);
    assert_int_equal(mine[0].until, S_T0 + 3600);
    proto_directory_destroy(&again);
    proto_directory_destroy(&dir);

    //  A file with a malformed retired list names its line.
    static const char bad[] =
        "[directory]\nformat = 1\nserial = 1\n\n[000.00.01.H01]\nname = A\n"
        "sign_key = 0000000000000000000000000000000000000000000000000000000000000000\n"
        "state = active\nretired = zz - 2027-01-01T00:00:00Z\n";
    assert_int_equal(proto_directory_parse(bad, sizeof bad - 1, &again, err, sizeof err),
                     PROTO_ERR_DIRECTORY);
    assert_non_null(strstr(err, "line 9"));
}

//  DIRECTORY carries the windows; without any it signs what it always did.
static void s_test_wire(void **state)
{
    (void) state;
    proto_keywin_t w[2];
    size_t n = 0;
    assert_int_equal(proto_keywin_retire(w, &n, s_keys[0].pk, 0, S_T0, 100), PROTO_OK);
    assert_int_equal(proto_keywin_retire(w, &n, s_keys[1].pk, S_T0, S_T0 + 10, 100), PROTO_OK);
    proto_dir_entry_t entry = { .code = S_CODE, .name = "A", .state = 0 };
    memcpy(entry.key, s_keys[2].pk, 32);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DIRECTORY;
    msg.u.directory = (proto_directory_msg_t){
        .serial = 3, .time = 1, .broker = "hub", .entries = &entry, .nentries = 1
    };
    proto_buf_t plain, with;
    proto_buf_init(&plain);
    proto_buf_init(&with);
    assert_int_equal(proto_directory_canonical(&msg.u.directory, &plain), PROTO_OK);
    entry.retired = w;
    entry.nretired = 2;
    assert_int_equal(proto_directory_canonical(&msg.u.directory, &with), PROTO_OK);
    assert_true(with.len > plain.len);
    //  Without retired keys an entry is the 6-element array of before.
    entry.nretired = 0;
    proto_buf_t again;
    proto_buf_init(&again);
    assert_int_equal(proto_directory_canonical(&msg.u.directory, &again), PROTO_OK);
    assert_int_equal(again.len, plain.len);
    assert_memory_equal(again.data, plain.data, plain.len);
    entry.nretired = 2;

    //  The signing broker's retired keys: a sixth element, only if any.
    msg.u.directory.broker_retired = &w[1];
    msg.u.directory.nbroker_retired = 1;
    proto_buf_t mine;
    proto_buf_init(&mine);
    assert_int_equal(proto_directory_canonical(&msg.u.directory, &mine), PROTO_OK);
    assert_true(mine.len > with.len);
    proto_buf_free(&mine);

    proto_buf_t body;
    proto_buf_init(&body);
    assert_int_equal(proto_msg_encode(&msg, &body, NULL), PROTO_OK);
    proto_msg_t *dec = NULL;
    assert_int_equal(proto_msg_decode(PROTO_KIND_DIRECTORY, body.data, body.len, &dec, NULL),
                     PROTO_OK);
    const proto_dir_entry_t *e = &dec->u.directory.entries[0];
    assert_int_equal(e->nretired, 2);
    assert_memory_equal(e->retired, w, sizeof w);
    assert_int_equal(dec->u.directory.nbroker_retired, 1);
    assert_memory_equal(dec->u.directory.broker_retired, &w[1], sizeof w[1]);
    proto_msg_destroy(&dec);

    //  A rekey travels as a delta.
    proto_directory_msg_t before = msg.u.directory, after = msg.u.directory;
    proto_dir_entry_t old_entry = entry, new_entry = entry;
    old_entry.nretired = 1;
    before.entries = &old_entry;
    after.entries = &new_entry;
    after.serial = 4;
    proto_dir_delta_t delta;
    assert_int_equal(proto_dir_delta_build(&before, &after, &delta), PROTO_OK);
    assert_int_equal(delta.nentries, 1);
    assert_int_equal(delta.nbroker_retired, 1);
    //  Through the DIRECTORY_DELTA codec and applied: the same snapshot.
    proto_identity_t *hub = proto_identity_generate(PROTO_ROLE_BROKER, "hub");
    assert_non_null(hub);
    assert_int_equal(proto_directory_sign(&after, hub, after.sig), PROTO_OK);
    memcpy(delta.sig, after.sig, sizeof delta.sig);
    proto_msg_t dm;
    memset(&dm, 0, sizeof dm);
    dm.kind = PROTO_KIND_DIRECTORY_DELTA;
    dm.u.delta = delta;
    proto_buf_t dbody, whole;
    proto_buf_init(&dbody);
    proto_buf_init(&whole);
    assert_int_equal(proto_msg_encode(&dm, &dbody, NULL), PROTO_OK);
    proto_msg_t *ddec = NULL;
    assert_int_equal(
        proto_msg_decode(PROTO_KIND_DIRECTORY_DELTA, dbody.data, dbody.len, &ddec, NULL), PROTO_OK);
    assert_int_equal(ddec->u.delta.nbroker_retired, 1);
    assert_int_equal(
        proto_dir_delta_apply(&before, &ddec->u.delta, proto_identity_public(hub)->sign_pk, &whole),
        PROTO_OK);
    proto_msg_destroy(&ddec);
    proto_buf_free(&dbody);
    proto_buf_free(&whole);
    proto_identity_destroy(&hub);
    proto_dir_delta_release(&delta);
    proto_buf_free(&body);
    proto_buf_free(&plain);
    proto_buf_free(&with);
    proto_buf_free(&again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s_test_rule),
        cmocka_unit_test(s_test_text),
        cmocka_unit_test(s_test_directory),
        cmocka_unit_test(s_test_wire),
    };
    return cmocka_run_group_tests(tests, s_setup, NULL);
}
