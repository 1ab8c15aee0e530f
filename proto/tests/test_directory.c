/*  test_directory.c - the agency directory from new to destroy: mutations,
    lookups by code and by CURVE key, usability, times and names, the file
    round trip, and every way a directory file is refused.

    Files live in one mkdtemp directory made by the group setup and removed
    by the group teardown; most parse failures go through
    proto_directory_parse on text instead.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/directory.h"

#define T_2026 1767225600 // 2026-01-01T00:00:00Z
#define T_2027 1798761600 // 2027-01-01T00:00:00Z

static char s_tmp[256];

static int s_setup(void **state)
{
    (void) state;
    if (sodium_init() < 0)
        return -1;
    const char *base = getenv("TMPDIR");
    snprintf(s_tmp, sizeof s_tmp, "%s/truc-test-directory-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(s_tmp) ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void) state;
    DIR *dir = opendir(s_tmp);
    if (!dir)
        return -1;
    struct dirent *e;
    char path[512];
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", s_tmp, e->d_name);
        if (unlink(path) != 0)
            rmdir(path);
    }
    closedir(dir);
    return rmdir(s_tmp);
}

static const char *s_path(const char *name)
{
    static char paths[2][512];
    static int next = 0;
    char *p = paths[next++ % 2];
    snprintf(p, 512, "%s/%s", s_tmp, name);
    return p;
}

#define assert_contains(text, needle)                                                              \
    do {                                                                                           \
        if (!strstr((text), (needle))) {                                                           \
            print_error("'%s' does not contain '%s'\n", (text), (needle));                         \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

//  An entry with a fresh key. The name is borrowed from a string literal.
static proto_directory_entry_t s_entry(const char *code, const char *name)
{
    proto_directory_entry_t e;
    memset(&e, 0, sizeof e);
    snprintf(e.code, sizeof e.code, "%s", code);
    e.name = name;
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(e.sign_pk, sk);
    sodium_memzero(sk, sizeof sk);
    e.state = PROTO_DIRECTORY_ACTIVE;
    return e;
}

static void s_hex(const uint8_t *bin, char out[65])
{
    proto_hex_encode(bin, 32, out);
}

//  ---------------------------------------------------------------------

static void test_new_empty(void **state)
{
    (void) state;
    proto_directory_t *dir = proto_directory_new();
    assert_non_null(dir);
    assert_int_equal(proto_directory_count(dir), 0);
    assert_int_equal(proto_directory_serial(dir), 0);
    assert_int_equal(proto_directory_updated(dir), 0);
    assert_null(proto_directory_entry(dir, 0));
    assert_null(proto_directory_find(dir, "000.00.01.H01"));
    uint8_t key[32] = { 1 };
    assert_null(proto_directory_find_curve(dir, key));
    proto_directory_destroy(&dir);
    assert_null(dir);
    proto_directory_destroy(&dir);
    proto_directory_destroy(NULL);
    assert_int_equal(proto_directory_count(NULL), 0);
    assert_null(proto_directory_find(NULL, "000.00.01.H01"));
}

static void test_add_find(void **state)
{
    (void) state;
    proto_directory_t *dir = proto_directory_new();
    const char *codes[] = { "000.00.01.H29", "000.00.01.H01", "000.01.01.G02", "000.00.00.A01" };
    proto_directory_entry_t entries[4];
    for (int i = 0; i < 4; i++) {
        entries[i] = s_entry(codes[i], "Sở Nội vụ");
        memset(entries[i].curve_pk, 0xAA, 32); // ignored: derived from sign_pk
        assert_int_equal(proto_directory_add(dir, &entries[i]), PROTO_OK);
        assert_int_equal(proto_directory_serial(dir), (uint64_t) i + 1);
    }
    assert_int_equal(proto_directory_count(dir), 4);
    assert_true(proto_directory_updated(dir) > T_2026 - 86400 * 365);
    //  Index order is code order.
    assert_string_equal(proto_directory_entry(dir, 0)->code, "000.00.00.A01");
    assert_string_equal(proto_directory_entry(dir, 1)->code, "000.00.01.H01");
    assert_string_equal(proto_directory_entry(dir, 2)->code, "000.00.01.H29");
    assert_string_equal(proto_directory_entry(dir, 3)->code, "000.01.01.G02");
    assert_null(proto_directory_entry(dir, 4));

    for (int i = 0; i < 4; i++) {
        const proto_directory_entry_t *e = proto_directory_find(dir, codes[i]);
        assert_non_null(e);
        assert_string_equal(e->name, "Sở Nội vụ");
        assert_memory_equal(e->sign_pk, entries[i].sign_pk, 32);
        uint8_t curve[32];
        assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(curve, entries[i].sign_pk), 0);
        assert_memory_equal(e->curve_pk, curve, 32);
        assert_ptr_equal(proto_directory_find_curve(dir, curve), e);
        assert_int_equal(e->state, PROTO_DIRECTORY_ACTIVE);
    }
    assert_null(proto_directory_find(dir, "000.00.01.H02"));
    assert_null(proto_directory_find(dir, "nonsense"));
    uint8_t unknown[32];
    memset(unknown, 0x55, sizeof unknown);
    assert_null(proto_directory_find_curve(dir, unknown));
    //  The name was copied.
    char name[] = "Tạm";
    proto_directory_entry_t e = s_entry("000.00.02.H01", name);
    assert_int_equal(proto_directory_add(dir, &e), PROTO_OK);
    name[0] = 'X';
    assert_string_equal(proto_directory_find(dir, "000.00.02.H01")->name, "Tạm");
    proto_directory_destroy(&dir);
}

static void test_add_errors(void **state)
{
    (void) state;
    proto_directory_t *dir = proto_directory_new();
    proto_directory_entry_t a = s_entry("000.00.01.H01", "A");
    assert_int_equal(proto_directory_add(dir, &a), PROTO_OK);

    //  The same code with another key, the same key with another code.
    proto_directory_entry_t b = s_entry("000.00.01.H01", "B");
    assert_int_equal(proto_directory_add(dir, &b), PROTO_ERR_EXISTS);
    b = a;
    snprintf(b.code, sizeof b.code, "000.00.01.H02");
    assert_int_equal(proto_directory_add(dir, &b), PROTO_ERR_EXISTS);
    //  A key that differs only in the sign bit derives the same CURVE key.
    b.sign_pk[31] ^= 0x80;
    assert_int_equal(proto_directory_add(dir, &b), PROTO_ERR_EXISTS);

    proto_directory_entry_t c = s_entry("000.01.00.H01", "C");
    assert_int_equal(proto_directory_add(dir, &c), PROTO_ERR_AGENCY_CODE);
    c = s_entry("000.00.01.H03", "");
    assert_int_equal(proto_directory_add(dir, &c), PROTO_ERR_VALUE);
    c.name = NULL;
    assert_int_equal(proto_directory_add(dir, &c), PROTO_ERR_VALUE);
    c.name = "bad\xC3";
    assert_int_equal(proto_directory_add(dir, &c), PROTO_ERR_VALUE);
    c.name = "ok";
    c.state = (proto_directory_state_t) 7;
    assert_int_equal(proto_directory_add(dir, &c), PROTO_ERR_VALUE);
    c.state = PROTO_DIRECTORY_ACTIVE;
    c.valid_from = T_2027;
    c.valid_until = T_2026;
    assert_int_equal(proto_directory_add(dir, &c), PROTO_ERR_VALUE);
    c.valid_until = T_2027;
    assert_int_equal(proto_directory_add(dir, &c), PROTO_ERR_VALUE);
    c.valid_until = 0;
    memset(c.sign_pk, 0, 32);
    assert_int_equal(proto_directory_add(dir, &c), PROTO_ERR_VALUE);
    assert_int_equal(proto_directory_add(dir, NULL), PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_directory_add(NULL, &a), PROTO_ERR_INVALID_ARG);

    //  Nothing of the failures changed the directory.
    assert_int_equal(proto_directory_count(dir), 1);
    assert_int_equal(proto_directory_serial(dir), 1);
    proto_directory_destroy(&dir);
}

static void test_set_state(void **state)
{
    (void) state;
    proto_directory_t *dir = proto_directory_new();
    proto_directory_entry_t a = s_entry("000.00.01.H01", "A");
    assert_int_equal(proto_directory_add(dir, &a), PROTO_OK);
    const char *code = "000.00.01.H01";

    assert_int_equal(proto_directory_set_state(dir, code, PROTO_DIRECTORY_SUSPENDED), PROTO_OK);
    assert_int_equal(proto_directory_serial(dir), 2);
    assert_int_equal(proto_directory_find(dir, code)->state, PROTO_DIRECTORY_SUSPENDED);
    //  No change, no new serial.
    assert_int_equal(proto_directory_set_state(dir, code, PROTO_DIRECTORY_SUSPENDED), PROTO_OK);
    assert_int_equal(proto_directory_serial(dir), 2);
    assert_int_equal(proto_directory_set_state(dir, code, PROTO_DIRECTORY_ACTIVE), PROTO_OK);
    assert_int_equal(proto_directory_serial(dir), 3);

    assert_int_equal(proto_directory_set_state(dir, "000.00.01.H02", PROTO_DIRECTORY_SUSPENDED),
                     PROTO_ERR_UNKNOWN_AGENCY);
    assert_int_equal(proto_directory_set_state(dir, "H01", PROTO_DIRECTORY_SUSPENDED),
                     PROTO_ERR_AGENCY_CODE);
    assert_int_equal(proto_directory_set_state(dir, code, (proto_directory_state_t) 5),
                     PROTO_ERR_INVALID_ARG);

    //  Revocation is final.
    assert_int_equal(proto_directory_set_state(dir, code, PROTO_DIRECTORY_REVOKED), PROTO_OK);
    assert_int_equal(proto_directory_serial(dir), 4);
    assert_int_equal(proto_directory_set_state(dir, code, PROTO_DIRECTORY_ACTIVE),
                     PROTO_ERR_BAD_STATE);
    assert_int_equal(proto_directory_set_state(dir, code, PROTO_DIRECTORY_SUSPENDED),
                     PROTO_ERR_BAD_STATE);
    assert_int_equal(proto_directory_set_state(dir, code, PROTO_DIRECTORY_REVOKED), PROTO_OK);
    assert_int_equal(proto_directory_serial(dir), 4);
    assert_int_equal(proto_directory_find(dir, code)->state, PROTO_DIRECTORY_REVOKED);
    proto_directory_destroy(&dir);
}

static void test_set_key(void **state)
{
    (void) state;
    proto_directory_t *dir = proto_directory_new();
    const char *codes[] = { "000.00.01.H01", "000.00.02.H01", "000.00.03.H01", "000.00.04.H01" };
    proto_directory_entry_t e[4];
    for (int i = 0; i < 4; i++) {
        e[i] = s_entry(codes[i], "X");
        assert_int_equal(proto_directory_add(dir, &e[i]), PROTO_OK);
    }
    uint8_t old_curve[32];
    memcpy(old_curve, proto_directory_find(dir, codes[1])->curve_pk, 32);
    uint64_t serial = proto_directory_serial(dir);

    //  A new key: found by its CURVE key, the old one no longer.
    proto_directory_entry_t fresh = s_entry(codes[1], "X");
    assert_int_equal(proto_directory_set_key(dir, codes[1], fresh.sign_pk), PROTO_OK);
    assert_int_equal(proto_directory_serial(dir), serial + 1);
    const proto_directory_entry_t *b = proto_directory_find(dir, codes[1]);
    assert_memory_equal(b->sign_pk, fresh.sign_pk, 32);
    uint8_t curve[32];
    assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(curve, fresh.sign_pk), 0);
    assert_memory_equal(b->curve_pk, curve, 32);
    assert_ptr_equal(proto_directory_find_curve(dir, curve), b);
    assert_null(proto_directory_find_curve(dir, old_curve));
    //  Every other agency is still found by its key.
    for (int i = 0; i < 4; i++)
        if (i != 1)
            assert_string_equal(
                proto_directory_find_curve(dir, proto_directory_find(dir, codes[i])->curve_pk)
                    ->code,
                codes[i]);

    //  The same key again changes nothing; another agency's key is refused.
    assert_int_equal(proto_directory_set_key(dir, codes[1], fresh.sign_pk), PROTO_OK);
    assert_int_equal(proto_directory_serial(dir), serial + 1);
    assert_int_equal(proto_directory_set_key(dir, codes[1], e[2].sign_pk), PROTO_ERR_EXISTS);
    assert_int_equal(proto_directory_set_key(dir, "000.00.09.H01", fresh.sign_pk),
                     PROTO_ERR_UNKNOWN_AGENCY);
    assert_int_equal(proto_directory_set_key(dir, "H01", fresh.sign_pk), PROTO_ERR_AGENCY_CODE);
    uint8_t bad[32];
    memset(bad, 0xff, sizeof bad);
    assert_int_equal(proto_directory_set_key(dir, codes[1], bad), PROTO_ERR_VALUE);
    assert_int_equal(proto_directory_set_state(dir, codes[3], PROTO_DIRECTORY_REVOKED), PROTO_OK);
    proto_directory_entry_t other = s_entry(codes[3], "X");
    assert_int_equal(proto_directory_set_key(dir, codes[3], other.sign_pk), PROTO_ERR_BAD_STATE);

    //  The file keeps the new key.
    assert_int_equal(proto_directory_save(dir, s_path("rekeyed.ini"), NULL, 0), PROTO_OK);
    proto_directory_t *loaded = NULL;
    assert_int_equal(proto_directory_load(s_path("rekeyed.ini"), &loaded, NULL, 0), PROTO_OK);
    assert_memory_equal(proto_directory_find(loaded, codes[1])->sign_pk, fresh.sign_pk, 32);
    proto_directory_destroy(&loaded);
    proto_directory_destroy(&dir);
}

static void test_usable(void **state)
{
    (void) state;
    proto_directory_entry_t e = s_entry("000.00.01.H01", "A");
    assert_int_equal(proto_directory_entry_usable(&e, T_2026), PROTO_OK);
    e.valid_from = T_2026;
    e.valid_until = T_2027;
    assert_int_equal(proto_directory_entry_usable(&e, T_2026 - 1), PROTO_ERR_NOT_AUTHORIZED);
    assert_int_equal(proto_directory_entry_usable(&e, T_2026), PROTO_OK);
    assert_int_equal(proto_directory_entry_usable(&e, T_2027 - 1), PROTO_OK);
    assert_int_equal(proto_directory_entry_usable(&e, T_2027), PROTO_ERR_EXPIRED);
    e.state = PROTO_DIRECTORY_SUSPENDED;
    assert_int_equal(proto_directory_entry_usable(&e, T_2026), PROTO_ERR_AGENCY_SUSPENDED);
    e.state = PROTO_DIRECTORY_REVOKED;
    assert_int_equal(proto_directory_entry_usable(&e, T_2027), PROTO_ERR_AGENCY_REVOKED);
    assert_int_equal(proto_directory_entry_usable(NULL, T_2026), PROTO_ERR_INVALID_ARG);
}

static void test_time(void **state)
{
    (void) state;
    int64_t t = 0;
    assert_int_equal(proto_directory_time_parse("2026-01-01T00:00:00Z", &t), PROTO_OK);
    assert_int_equal(t, T_2026);
    assert_int_equal(proto_directory_time_parse("2000-02-29T12:34:56Z", &t), PROTO_OK);
    assert_int_equal(t, 951827696);
    assert_int_equal(proto_directory_time_parse("9999-12-31T23:59:59Z", &t), PROTO_OK);
    assert_int_equal(t, 253402300799LL);
    assert_int_equal(proto_directory_time_parse("2024-02-29T00:00:00Z", &t), PROTO_OK);
    const char *bad[] = {
        "2023-02-29T00:00:00Z", "2100-02-29T00:00:00Z",
        "1999-12-31T23:59:59Z", "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z", "2026-04-31T00:00:00Z",
        "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z",
        "2026-01-01T00:00:60Z", "2026-01-01 00:00:00Z",
        "2026-01-01T00:00:00",  "2026-01-01T00:00:00+07:00",
        "2026-1-01T00:00:00Z",  "+026-01-01T00:00:00Z",
        "2026-01-01T00:00:00z", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(proto_directory_time_parse(bad[i], &t), PROTO_ERR_VALUE);
    assert_int_equal(proto_directory_time_parse(NULL, &t), PROTO_ERR_INVALID_ARG);

    char out[PROTO_DIRECTORY_TIME_LEN + 1];
    proto_directory_time_format(951827696, out);
    assert_string_equal(out, "2000-02-29T12:34:56Z");
    proto_directory_time_format(253402300799LL, out);
    assert_string_equal(out, "9999-12-31T23:59:59Z");
    proto_directory_time_format(0, out);
    assert_string_equal(out, "2000-01-01T00:00:00Z");
    //  Every day of a few leap cycles survives the round trip.
    for (int64_t s = 946684800; s < 946684800 + 86400LL * 366 * 9; s += 86400 + 3601) {
        proto_directory_time_format(s, out);
        assert_int_equal(proto_directory_time_parse(out, &t), PROTO_OK);
        assert_int_equal(t, s);
    }
}

static void test_names_and_states(void **state)
{
    (void) state;
    assert_int_equal(proto_directory_name_check("Bộ Nội vụ"), PROTO_OK);
    assert_int_equal(proto_directory_name_check("A"), PROTO_OK);
    assert_int_equal(proto_directory_name_check(""), PROTO_ERR_LIMIT);
    assert_int_equal(proto_directory_name_check("bad \xC0\xAF"), PROTO_ERR_UTF8);
    assert_int_equal(proto_directory_name_check(" lead"), PROTO_ERR_VALUE);
    assert_int_equal(proto_directory_name_check("trail "), PROTO_ERR_VALUE);
    assert_int_equal(proto_directory_name_check("two  spaces"), PROTO_ERR_VALUE);
    assert_int_equal(proto_directory_name_check("tab\there"), PROTO_ERR_VALUE);
    assert_int_equal(proto_directory_name_check("c1 \xC2\x85 control"), PROTO_ERR_VALUE);
    assert_int_equal(proto_directory_name_check("a;b"), PROTO_ERR_VALUE);
    assert_int_equal(proto_directory_name_check(NULL), PROTO_ERR_INVALID_ARG);
    char name[1000];
    //  200 three-byte characters are fine; 201 are not.
    name[0] = '\0';
    for (int i = 0; i < 200; i++)
        strcat(name, i % 10 == 5 ? " " : "ệ");
    assert_int_equal(proto_directory_name_check(name), PROTO_OK);
    strcat(name, "ệ");
    assert_int_equal(proto_directory_name_check(name), PROTO_ERR_LIMIT);
    //  A word of 181 bytes cannot be folded.
    memset(name, 'w', 181);
    name[181] = '\0';
    assert_int_equal(proto_directory_name_check(name), PROTO_ERR_VALUE);
    name[180] = '\0';
    assert_int_equal(proto_directory_name_check(name), PROTO_OK);

    proto_directory_state_t st;
    assert_int_equal(proto_directory_state_parse("active", &st), PROTO_OK);
    assert_int_equal(st, PROTO_DIRECTORY_ACTIVE);
    assert_int_equal(proto_directory_state_parse("suspended", &st), PROTO_OK);
    assert_int_equal(st, PROTO_DIRECTORY_SUSPENDED);
    assert_int_equal(proto_directory_state_parse("revoked", &st), PROTO_OK);
    assert_int_equal(st, PROTO_DIRECTORY_REVOKED);
    assert_int_equal(proto_directory_state_parse("Active", &st), PROTO_ERR_VALUE);
    assert_string_equal(proto_directory_state_name((proto_directory_state_t) 9), "?");
}

static void test_save_load(void **state)
{
    (void) state;
    proto_directory_t *dir = proto_directory_new();
    //  The longest name, in Vietnamese, folds over several lines.
    char long_name[1000] = "";
    for (int i = 0; i < 5; i++)
        strcat(long_name, "Ủy ban nhân dân tỉnh Thừa Thiên Huế ");
    long_name[strlen(long_name) - 1] = '\0';
    size_t chars = 0;
    assert_int_equal(proto_utf8_check(long_name, strlen(long_name), &chars), PROTO_OK);
    assert_true(chars <= 200);
    proto_directory_entry_t a = s_entry("000.00.01.H01", "Bộ Nội vụ");
    a.valid_from = T_2026;
    a.valid_until = T_2027;
    proto_directory_entry_t b = s_entry("000.00.12.H30", long_name);
    proto_directory_entry_t c = s_entry("001.02.03.K04", "#1 [test] agency = x: y");
    assert_int_equal(proto_directory_add(dir, &a), PROTO_OK);
    assert_int_equal(proto_directory_add(dir, &b), PROTO_OK);
    assert_int_equal(proto_directory_add(dir, &c), PROTO_OK);
    assert_int_equal(proto_directory_set_state(dir, "000.00.12.H30", PROTO_DIRECTORY_SUSPENDED),
                     PROTO_OK);
    assert_int_equal(proto_directory_set_state(dir, "001.02.03.K04", PROTO_DIRECTORY_REVOKED),
                     PROTO_OK);
    const char *path = s_path("agencies.ini");
    char err[256] = "";
    assert_int_equal(proto_directory_save(dir, path, err, sizeof err), PROTO_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0600, 0600);

    proto_directory_t *back = NULL;
    assert_int_equal(proto_directory_load(path, &back, err, sizeof err), PROTO_OK);
    assert_int_equal(proto_directory_count(back), 3);
    assert_int_equal(proto_directory_serial(back), 5);
    assert_int_equal(proto_directory_updated(back), proto_directory_updated(dir));
    for (size_t i = 0; i < 3; i++) {
        const proto_directory_entry_t *x = proto_directory_entry(dir, i);
        const proto_directory_entry_t *y = proto_directory_entry(back, i);
        assert_string_equal(x->code, y->code);
        assert_string_equal(x->name, y->name);
        assert_memory_equal(x->sign_pk, y->sign_pk, 32);
        assert_memory_equal(x->curve_pk, y->curve_pk, 32);
        assert_int_equal(x->state, y->state);
        assert_int_equal(x->valid_from, y->valid_from);
        assert_int_equal(x->valid_until, y->valid_until);
        assert_ptr_equal(proto_directory_find_curve(back, x->curve_pk), y);
    }
    //  Saving again replaces the file; a missing directory fails.
    assert_int_equal(proto_directory_save(back, path, err, sizeof err), PROTO_OK);
    assert_int_equal(proto_directory_save(back, s_path("no/dir.ini"), err, sizeof err),
                     PROTO_ERR_NOT_FOUND);
    proto_directory_destroy(&back);

    //  An empty directory round-trips too.
    proto_directory_t *empty = proto_directory_new();
    assert_int_equal(proto_directory_save(empty, s_path("empty.ini"), err, sizeof err), PROTO_OK);
    proto_directory_destroy(&empty);
    assert_int_equal(proto_directory_load(s_path("empty.ini"), &empty, err, sizeof err), PROTO_OK);
    assert_int_equal(proto_directory_count(empty), 0);
    proto_directory_destroy(&empty);
    proto_directory_destroy(&dir);
}

//  A valid directory text with two agencies, for the parse failures.
static char s_good[2048];
static char s_key_a[65], s_key_b[65];

static void s_make_good(void)
{
    proto_directory_entry_t a = s_entry("000.00.01.H01", "A"), b = s_entry("000.00.01.H02", "B");
    s_hex(a.sign_pk, s_key_a);
    s_hex(b.sign_pk, s_key_b);
    snprintf(s_good, sizeof s_good,
             "# comment\n"                          // 1
             "[directory]\n"                        // 2
             "format = 1\n"                         // 3
             "serial = 7\n"                         // 4
             "updated = 2026-11-21T08:30:00Z\n"     // 5
             "\n"                                   // 6
             "[000.00.01.H01]\n"                    // 7
             "name = Bộ Nội vụ\n"                   // 8
             "sign_key = %s\n"                      // 9
             "state = active\n"                     // 10
             "valid_from = 2026-01-01T00:00:00Z\n"  // 11
             "valid_until = 2027-01-01T00:00:00Z\n" // 12
             "\n"                                   // 13
             "[000.00.01.H02]\n"                    // 14
             "name = Sở Tư pháp\n"                  // 15
             "sign_key = %s\n"                      // 16
             "state = suspended\n",                 // 17
             s_key_a, s_key_b);
}

static char *s_replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    assert_non_null(at);
    size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s%s", (int) (at - text), text, to, at + strlen(from));
    return out;
}

static void test_parse_good(void **state)
{
    (void) state;
    s_make_good();
    proto_directory_t *dir = NULL;
    char err[256] = "";
    assert_int_equal(proto_directory_parse(s_good, strlen(s_good), &dir, err, sizeof err),
                     PROTO_OK);
    assert_int_equal(proto_directory_count(dir), 2);
    assert_int_equal(proto_directory_serial(dir), 7);
    int64_t t;
    assert_int_equal(proto_directory_time_parse("2026-11-21T08:30:00Z", &t), PROTO_OK);
    assert_int_equal(proto_directory_updated(dir), t);
    const proto_directory_entry_t *a = proto_directory_find(dir, "000.00.01.H01");
    assert_string_equal(a->name, "Bộ Nội vụ");
    assert_int_equal(a->valid_from, T_2026);
    assert_int_equal(a->valid_until, T_2027);
    assert_int_equal(proto_directory_find(dir, "000.00.01.H02")->state, PROTO_DIRECTORY_SUSPENDED);
    proto_directory_destroy(&dir);
}

static void test_parse_errors(void **state)
{
    (void) state;
    s_make_good();
    char key_line_b[80], flipped_b[80], same_as_a[80];
    snprintf(key_line_b, sizeof key_line_b, "sign_key = %s", s_key_b);
    snprintf(same_as_a, sizeof same_as_a, "sign_key = %s", s_key_a);
    //  s_key_a with the sign bit flipped: a different Ed25519 key, the same
    //  CURVE key.
    uint8_t flipped[32];
    assert_int_equal(proto_hex_decode(s_key_a, flipped, 32), PROTO_OK);
    flipped[31] ^= 0x80;
    char flipped_hex[65];
    s_hex(flipped, flipped_hex);
    snprintf(flipped_b, sizeof flipped_b, "sign_key = %s", flipped_hex);

    struct {
        const char *from, *to, *needle;
    } cases[] = {
        { "[directory]", "[directory-x]",
          "line 2: section [directory-x] is not a valid agency code" },
        { "format = 1", "format = 2", "line 3: unknown format '2'" },
        { "serial = 7", "serial = -7", "line 4: serial '-7' is not a number" },
        { "serial = 7", "serial = 07", "serial '07' is not a number" },
        { "serial = 7", "serial = 99999999999999999999", "is not a number" },
        { "serial = 7\n", "", "line 2: [directory] has no 'serial'" },
        { "format = 1\n", "", "[directory] has no 'format'" },
        { "updated = 2026-11-21T08:30:00Z", "updated = yesterday",
          "line 5: [directory] updated 'yesterday' is not a UTC time" },
        { "serial = 7", "serial = 7\nowner = me", "line 5: [directory] unknown key 'owner'" },
        { "[000.00.01.H02]", "[000.00.01.H01]",
          "line 14: duplicate section [000.00.01.H01] (first on line 7)" },
        { "[000.00.01.H02]", "[000.00.01.h02]",
          "line 14: section [000.00.01.h02] is not a valid agency code" },
        { "[000.00.01.H02]", "[000.01.00.H02]", "is not a valid agency code" },
        { "[000.00.01.H02]", "[directory]",
          "line 14: duplicate section [directory] (first on line 2)" },
        { "state = active", "state = paused",
          "line 10: [000.00.01.H01] unknown state 'paused' (active, suspended or revoked)" },
        { "state = active", "state = active\nstate = revoked",
          "line 11: duplicate key 'state' in [000.00.01.H01] (first on line 10)" },
        { "state = active", "state = active\ncolour = red",
          "line 11: [000.00.01.H01] unknown key 'colour'" },
        { "state = active\n", "", "line 7: [000.00.01.H01] has no 'state'" },
        { "name = Bộ Nội vụ\n", "", "line 7: [000.00.01.H01] has no 'name'" },
        { "name = Sở Tư pháp\n", "", "line 14: [000.00.01.H02] has no 'name'" },
        { "name = Bộ Nội vụ", "name = Bộ \xC0\xAF",
          "line 8: [000.00.01.H01] name is not valid UTF-8" },
        { "name = Bộ Nội vụ", "name = Bộ\tNội vụ",
          "line 8: [000.00.01.H01] name contains a control" },
        { "name = Bộ Nội vụ", "name = Bộ  Nội vụ", "name contains two spaces" },
        { "name = Bộ Nội vụ", "name = ", "line 8: [000.00.01.H01] name is empty" },
        { "valid_from = 2026-01-01T00:00:00Z", "valid_from = 2026-01-01",
          "line 11: [000.00.01.H01] valid_from '2026-01-01' is not a UTC time" },
        { "valid_until = 2027-01-01T00:00:00Z", "valid_until = 2026-01-01T00:00:00Z",
          "line 11: [000.00.01.H01] valid_from is not before valid_until" },
        { key_line_b, "sign_key = 00", "line 16: [000.00.01.H02] sign_key must be 64 hex digits" },
        { key_line_b, same_as_a,
          "line 14: [000.00.01.H02] has the same key as [000.00.01.H01] (line 7)" },
        { key_line_b, flipped_b, "has the same key as" },
        { key_line_b, "sign_key = 0000000000000000000000000000000000000000000000000000000000000000",
          "line 16: [000.00.01.H02] sign_key is not a usable Ed25519 public key" },
        { "[directory]\nformat = 1\nserial = 7\nupdated = 2026-11-21T08:30:00Z\n", "",
          "no [directory] section" },
        { "\n[000.00.01.H01]", "\n[000.00.01.H09]\n[000.00.01.H01]",
          "line 7: section [000.00.01.H09] is empty" },
        { "state = active", "  state = active", "line 10: unexpected indented line" },
        { "# comment\n", "stray = 1\n", "line 1: key 'stray' outside any [section]" },
        { "[000.00.01.H02]", "[000.00.01.H02] # note",
          "line 14: a section header must be [name] alone" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *bad = s_replace(s_good, cases[i].from, cases[i].to);
        proto_directory_t *dir = NULL;
        char err[256] = "";
        proto_err_t rc = proto_directory_parse(bad, strlen(bad), &dir, err, sizeof err);
        if (rc != PROTO_ERR_DIRECTORY)
            print_error("case %zu: rc %d\n", i, rc);
        assert_int_equal(rc, PROTO_ERR_DIRECTORY);
        assert_null(dir);
        assert_contains(err, cases[i].needle);
        free(bad);
    }
}

static void test_load_files(void **state)
{
    (void) state;
    proto_directory_t *dir = NULL;
    char err[256] = "";
    assert_int_equal(proto_directory_load(s_path("missing.ini"), &dir, err, sizeof err),
                     PROTO_ERR_NOT_FOUND);
    assert_null(dir);
    //  A sparse file one byte over the limit is refused before it is read.
    const char *path = s_path("huge.ini");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t) PROTO_DIRECTORY_FILE_MAX + 1), 0);
    close(fd);
    assert_int_equal(proto_directory_load(path, &dir, err, sizeof err), PROTO_ERR_DIRECTORY);
    assert_contains(err, "larger than");
    unlink(path);
    assert_int_equal(proto_directory_load(s_tmp, &dir, err, sizeof err), PROTO_ERR_IO);
    assert_int_equal(proto_directory_load(NULL, &dir, err, sizeof err), PROTO_ERR_INVALID_ARG);
    //  A NUL byte in the middle.
    const char text[] = "[directory]\nformat = 1\0\nserial = 1\n";
    assert_int_equal(proto_directory_parse(text, sizeof text - 1, &dir, err, sizeof err),
                     PROTO_ERR_DIRECTORY);
    assert_contains(err, "line 2: contains a NUL byte");
}

//  The directory decides whom the broker trusts: a file group or others may
//  write is refused before it is read (a 0666 file was accepted silently),
//  with the chmod that fixes it; a file anyone may only read is fine.
static void test_load_permissions(void **state)
{
    (void) state;
    proto_directory_t *dir = proto_directory_new();
    proto_directory_entry_t a = s_entry("000.00.01.H01", "Bộ Nội vụ");
    assert_int_equal(proto_directory_add(dir, &a), PROTO_OK);
    const char *path = s_path("modes.ini");
    char err[1024] = "", want[600];
    assert_int_equal(proto_directory_save(dir, path, err, sizeof err), PROTO_OK);
    proto_directory_destroy(&dir);
    static const mode_t refused[] = { 0666, 0664, 0646, 0620, 0602 };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(chmod(path, refused[i]), 0);
        err[0] = '\0';
        assert_int_equal(proto_directory_load(path, &dir, err, sizeof err), PROTO_ERR_PERMISSIONS);
        assert_null(dir);
        assert_contains(err, "lets group or others change it");
        snprintf(want, sizeof want, "chmod go-w %s", path);
        assert_contains(err, want);
    }
    static const mode_t accepted[] = { 0644, 0640, 0600, 0444 };
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        assert_int_equal(chmod(path, accepted[i]), 0);
        assert_int_equal(proto_directory_load(path, &dir, err, sizeof err), PROTO_OK);
        assert_int_equal(proto_directory_count(dir), 1);
        proto_directory_destroy(&dir);
    }
}

//  Thousands of agencies: parsed in O(n log n), found by code and by key.
static void test_many(void **state)
{
    (void) state;
    enum { N = 5000 };
    size_t cap = 64 + (size_t) N * 160;
    char *text = malloc(cap);
    assert_non_null(text);
    uint8_t(*curves)[32] = malloc(N * sizeof *curves);
    assert_non_null(curves);
    size_t pos = (size_t) snprintf(text, cap, "[directory]\nformat = 1\nserial = 1\n");
    //  Codes WWW.ZZ.YY.XNN, written in descending order to exercise the sort.
    for (int i = N - 1; i >= 0; i--) {
        uint8_t pk[32], sk[64];
        crypto_sign_keypair(pk, sk);
        assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(curves[i], pk), 0);
        char hex[65];
        s_hex(pk, hex);
        pos += (size_t) snprintf(text + pos, cap - pos,
                                 "[%03d.%02d.%02d.H%02d]\nname = Agency %d\nsign_key = %s\n"
                                 "state = active\n",
                                 i % 999 + 1, i / 999 + 1, 1, 1, i, hex);
        assert_true(pos < cap);
    }
    proto_directory_t *dir = NULL;
    char err[256] = "";
    assert_int_equal(proto_directory_parse(text, pos, &dir, err, sizeof err), PROTO_OK);
    assert_int_equal(proto_directory_count(dir), N);
    for (size_t i = 1; i < N; i++)
        assert_true(strcmp(proto_directory_entry(dir, i - 1)->code,
                           proto_directory_entry(dir, i)->code) < 0);
    for (int i = 0; i < N; i++) {
        char code[16], name[32];
        snprintf(code, sizeof code, "%03d.%02d.%02d.H%02d", i % 999 + 1, i / 999 + 1, 1, 1);
        snprintf(name, sizeof name, "Agency %d", i);
        const proto_directory_entry_t *e = proto_directory_find(dir, code);
        assert_non_null(e);
        assert_string_equal(e->name, name);
        assert_ptr_equal(proto_directory_find_curve(dir, curves[i]), e);
    }
    //  Adding to a big directory keeps both indexes sorted.
    proto_directory_entry_t extra = s_entry("000.00.00.Z99", "Extra");
    assert_int_equal(proto_directory_add(dir, &extra), PROTO_OK);
    assert_string_equal(proto_directory_entry(dir, 0)->code, "000.00.00.Z99");
    uint8_t curve[32];
    assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(curve, extra.sign_pk), 0);
    assert_ptr_equal(proto_directory_find_curve(dir, curve), proto_directory_entry(dir, 0));
    for (int i = 0; i < N; i++)
        assert_non_null(proto_directory_find_curve(dir, curves[i]));
    //  Parsed again with dir known: the same entries and CURVE keys. A known
    //  directory whose entry has another Ed25519 key lends it nothing.
    proto_directory_t *again = NULL, *liar = proto_directory_new();
    proto_directory_entry_t other = s_entry(proto_directory_entry(dir, 1)->code, "Other");
    assert_int_equal(proto_directory_add(liar, &other), PROTO_OK);
    for (int pass = 0; pass < 2; pass++) {
        const proto_directory_t *known = pass ? liar : dir;
        assert_int_equal(proto_directory_parse_known(text, pos, known, &again, err, sizeof err),
                         PROTO_OK);
        assert_int_equal(proto_directory_count(again), N);
        for (int i = 0; i < N; i++) {
            const proto_directory_entry_t *e = proto_directory_find_curve(again, curves[i]);
            assert_non_null(e);
            assert_memory_equal(e->curve_pk, curves[i], 32);
        }
        proto_directory_destroy(&again);
    }
    proto_directory_destroy(&liar);
    //  A copy holds every entry, with the same keys, in both orders.
    proto_directory_t *copy = NULL;
    assert_int_equal(proto_directory_copy(dir, &copy), PROTO_OK);
    assert_int_equal(proto_directory_count(copy), N + 1);
    for (int i = 0; i < N; i++) {
        const proto_directory_entry_t *e = proto_directory_find_curve(copy, curves[i]);
        assert_non_null(e);
        assert_ptr_equal(proto_directory_find(copy, e->code), e);
        assert_string_equal(e->name, proto_directory_find(dir, e->code)->name);
    }
    proto_directory_destroy(&copy);
    proto_directory_destroy(&dir);
    free(curves);
    free(text);
}

//  Refusals proto_directory_put_many reports, by code.
typedef struct {
    char codes[8][PROTO_AGENCY_CODE_LEN + 1];
    proto_err_t rc[8];
    int n;
} s_refusals_t;

static void s_refused(void *arg, const char *code, proto_err_t rc)
{
    s_refusals_t *r = arg;
    assert_true(r->n < 8);
    snprintf(r->codes[r->n], sizeof r->codes[r->n], "%s", code);
    r->rc[r->n++] = rc;
}

//  A batch put at once: replacements and additions, both indexes sorted,
//  the serial up by one; what cannot be put is reported and left out;
//  CURVE keys taken from a known directory are the ones derived.
static void test_put_many(void **state)
{
    (void) state;
    proto_directory_t *dir = proto_directory_new();
    proto_directory_entry_t a = s_entry("000.00.01.H01", "Agency A");
    proto_directory_entry_t b = s_entry("000.00.02.H01", "Agency B");
    assert_int_equal(proto_directory_add(dir, &a), PROTO_OK);
    assert_int_equal(proto_directory_add(dir, &b), PROTO_OK);
    uint64_t serial = proto_directory_serial(dir);

    proto_directory_entry_t batch[6];
    batch[0] = s_entry("000.00.09.H01", "Agency Z"); // added, last
    batch[1] = b;                                    // B replaced: new name and state
    batch[1].name = "Agency B renamed";
    batch[1].state = PROTO_DIRECTORY_SUSPENDED;
    batch[2] = s_entry("000.00.00.H02", "Agency first"); // added, first
    batch[3] = s_entry("000.00.05.H01", "Agency C");     // A's key: refused
    memcpy(batch[3].sign_pk, a.sign_pk, sizeof a.sign_pk);
    batch[4] = s_entry("000.00.06.H01", "Agency D"); // home naming no broker
    snprintf(batch[4].home, sizeof batch[4].home, "nowhere");
    batch[5] = batch[0]; // the same code twice
    batch[5].name = "Agency Z again";
    s_refusals_t r = { .n = 0 };
    assert_int_equal(proto_directory_put_many(dir, batch, 6, NULL, s_refused, &r), PROTO_OK);
    assert_int_equal(r.n, 3);
    assert_int_equal(proto_directory_serial(dir), serial + 1);
    assert_int_equal(proto_directory_count(dir), 4);
    const char *order[] = { "000.00.00.H02", "000.00.01.H01", "000.00.02.H01", "000.00.09.H01" };
    for (size_t i = 0; i < 4; i++) {
        const proto_directory_entry_t *e = proto_directory_entry(dir, i);
        assert_string_equal(e->code, order[i]);
        assert_ptr_equal(proto_directory_find_curve(dir, e->curve_pk), e);
    }
    const proto_directory_entry_t *got = proto_directory_find(dir, b.code);
    assert_string_equal(got->name, "Agency B renamed");
    assert_int_equal(got->state, PROTO_DIRECTORY_SUSPENDED);
    assert_null(proto_directory_find(dir, "000.00.05.H01"));
    assert_null(proto_directory_find(dir, "000.00.06.H01"));

    //  The same batch into another directory, with dir as known: the same
    //  CURVE keys, looked up rather than derived.
    proto_directory_t *other = proto_directory_new();
    s_refusals_t r2 = { .n = 0 };
    assert_int_equal(proto_directory_put_many(other, batch, 3, dir, s_refused, &r2), PROTO_OK);
    assert_int_equal(r2.n, 0);
    for (size_t i = 0; i < 3; i++)
        assert_memory_equal(proto_directory_find(other, batch[i].code)->curve_pk,
                            proto_directory_find(dir, batch[i].code)->curve_pk,
                            PROTO_IDENTITY_KEY_LEN);
    //  Nothing to put: nothing changes.
    uint64_t before = proto_directory_serial(other);
    assert_int_equal(proto_directory_put_many(other, NULL, 0, NULL, NULL, NULL), PROTO_OK);
    assert_int_equal(proto_directory_serial(other), before);
    proto_directory_destroy(&other);
    proto_directory_destroy(&dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_empty),    cmocka_unit_test(test_add_find),
        cmocka_unit_test(test_add_errors),   cmocka_unit_test(test_set_state),
        cmocka_unit_test(test_set_key),      cmocka_unit_test(test_usable),
        cmocka_unit_test(test_time),         cmocka_unit_test(test_names_and_states),
        cmocka_unit_test(test_save_load),    cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_load_files),
        cmocka_unit_test(test_many),         cmocka_unit_test(test_load_permissions),
        cmocka_unit_test(test_put_many),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
