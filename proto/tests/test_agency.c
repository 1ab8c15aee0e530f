/*  test_agency.c - agency codes, broker labels and UTF-8 validation.

    These three checks guard every identifier and every text field that
    comes from the wire, so the tests walk the grammar's edges one by one.
    Inputs are copied into heap buffers of exactly their length, so a check
    that reads one byte too far trips AddressSanitizer.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/agency.h"

//  A heap copy of exactly len bytes, no terminator.
static char *s_exact(const char *bytes, size_t len)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    if (len)
        memcpy(copy, bytes, len);
    return copy;
}

static proto_err_t s_code_check(const char *bytes, size_t len)
{
    char *copy = s_exact(bytes, len);
    proto_err_t rc = proto_agency_code_check(copy, len);
    free(copy);
    return rc;
}

static int s_code_level(const char *bytes, size_t len)
{
    char *copy = s_exact(bytes, len);
    int level = proto_agency_code_level(copy, len);
    free(copy);
    return level;
}

static proto_err_t s_label_check(const char *bytes, size_t len)
{
    char *copy = s_exact(bytes, len);
    proto_err_t rc = proto_label_check(copy, len);
    free(copy);
    return rc;
}

static proto_err_t s_utf8(const char *bytes, size_t len, size_t *chars)
{
    char *copy = s_exact(bytes, len);
    proto_err_t rc = proto_utf8_check(copy, len, chars);
    free(copy);
    return rc;
}

// ---------------------------------------------------------------------------
//  Agency codes

static void s_test_code_levels(void **state)
{
    (void) state;
    static const struct {
        const char *code;
        int level;
    } valid[] = {
        { "000.00.00.H01", 1 }, { "000.00.01.H01", 2 }, { "000.05.01.H01", 3 },
        { "001.05.01.H01", 4 }, { "000.00.00.A10", 1 }, { "999.99.99.Z99", 4 },
        { "000.00.99.G12", 2 }, { "000.10.10.K03", 3 }, { "100.01.01.B01", 4 },
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        assert_int_equal(s_code_check(valid[i].code, 13), PROTO_OK);
        assert_int_equal(s_code_level(valid[i].code, 13), valid[i].level);
    }
}

static void s_test_code_invalid(void **state)
{
    (void) state;
    static const char *const invalid[] = {
        "000.00.00.h01",       // lower-case letter
        "000.00.00.H00",       // X00 is not an agency
        "000.00.00.A00",       // nor A00
        "000.00.00.101",       // digit where the letter goes
        "000.00.00.HH1",       // letter where a digit goes
        "000.00.00.H0x",       // letter in NN
        "00a.00.00.H01",       // non-digit in WWW
        "000.0b.00.H01",       // in ZZ
        "000.00.0c.H01",       // in YY
        "0 0.00.00.H01",       // a space
        "000-00-00-H01",       // wrong separators
        "000.00.00_H01",       // one wrong separator
        "000,00.00.H01",       // a comma
        "00.000.00.H01",       // dots in the wrong places
        "000.000.0.H01",       // again
        "000.01.00.H01",       // level 3 without level 2
        "001.00.01.H01",       // level 4 without level 3
        "001.00.00.H01",       // level 4 alone
        "001.01.00.H01",       // level 4 and 3 without level 2
        "000.00.00.\303\2101", // non-ASCII letter (2 bytes, still 13 total)
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        size_t len = strlen(invalid[i]);
        assert_int_equal(len, 13);
        if (s_code_check(invalid[i], len) != PROTO_ERR_AGENCY_CODE) {
            print_error("accepted invalid code %s\n", invalid[i]);
            fail();
        }
        assert_int_equal(s_code_level(invalid[i], len), 0);
    }
}

static void s_test_code_length(void **state)
{
    (void) state;
    assert_int_equal(s_code_check("000.00.00.H0", 12), PROTO_ERR_AGENCY_CODE);
    assert_int_equal(s_code_check("000.00.00.H011", 14), PROTO_ERR_AGENCY_CODE);
    assert_int_equal(s_code_check("000.00.00.H01", 0), PROTO_ERR_AGENCY_CODE);
    assert_int_equal(s_code_check("0000.00.00.H01", 14), PROTO_ERR_AGENCY_CODE);
    //  The terminating NUL is not part of the code.
    assert_int_equal(s_code_check("000.00.00.H01", 14), PROTO_ERR_AGENCY_CODE);
    //  The code need not be NUL-terminated: only len bytes count.
    assert_int_equal(s_code_check("000.00.00.H01xyz", 13), PROTO_OK);
    assert_int_equal(proto_agency_code_check(NULL, 13), PROTO_ERR_AGENCY_CODE);
    assert_int_equal(proto_agency_code_check(NULL, 0), PROTO_ERR_AGENCY_CODE);
    assert_int_equal(proto_agency_code_level(NULL, 13), 0);
    assert_int_equal(PROTO_AGENCY_CODE_LEN, 13);
}

static void s_test_code_embedded_nul(void **state)
{
    (void) state;
    //  A C string comparison would stop at the NUL; the check must not.
    static const char with_nul[13] = { '0', '0',  '0', '.', '0', '0', '.',
                                       '0', '\0', '.', 'H', '0', '1' };
    assert_int_equal(s_code_check(with_nul, 13), PROTO_ERR_AGENCY_CODE);
    static const char nul_letter[13] = { '0', '0', '0', '.',  '0', '0', '.',
                                         '0', '1', '.', '\0', '0', '1' };
    assert_int_equal(s_code_check(nul_letter, 13), PROTO_ERR_AGENCY_CODE);
    static const char nul_last[13] = { '0', '0', '0', '.', '0', '0', '.',
                                       '0', '1', '.', 'H', '0', '\0' };
    assert_int_equal(s_code_check(nul_last, 13), PROTO_ERR_AGENCY_CODE);
}

//  The grammar written out a second way: numbers per group, then the rules.
static int s_ref_level(const char *c)
{
    for (int i = 0; i < 13; i++) {
        bool ok;
        if (i == 3 || i == 6 || i == 9)
            ok = c[i] == '.';
        else if (i == 10)
            ok = c[i] >= 'A' && c[i] <= 'Z';
        else
            ok = c[i] >= '0' && c[i] <= '9';
        if (!ok)
            return 0;
    }
    int www = (c[0] - '0') * 100 + (c[1] - '0') * 10 + (c[2] - '0');
    int zz = (c[4] - '0') * 10 + (c[5] - '0');
    int yy = (c[7] - '0') * 10 + (c[8] - '0');
    int nn = (c[11] - '0') * 10 + (c[12] - '0');
    if (nn == 0 || (zz && !yy) || (www && !zz))
        return 0;
    return www ? 4 : zz ? 3 : yy ? 2 : 1;
}

//  Every single-byte change of a few valid codes: the check agrees with the
//  reference grammar on validity and level.
static void s_test_code_every_byte(void **state)
{
    (void) state;
    static const char *const bases[] = { "001.05.01.H01", "000.00.00.H01", "000.10.01.Z99" };
    for (size_t k = 0; k < sizeof bases / sizeof bases[0]; k++)
        for (size_t pos = 0; pos < 13; pos++)
            for (int b = 0; b < 256; b++) {
                char code[13];
                memcpy(code, bases[k], 13);
                code[pos] = (char) b;
                int want = s_ref_level(code);
                proto_err_t rc = s_code_check(code, 13);
                if ((rc == PROTO_OK) != (want != 0) || s_code_level(code, 13) != want) {
                    print_error("%s byte %zu = 0x%02x: got %d, level %d want %d\n", bases[k], pos,
                                (unsigned) b, (int) rc, s_code_level(code, 13), want);
                    fail();
                }
            }
}

// ---------------------------------------------------------------------------
//  Broker labels

static void s_test_labels(void **state)
{
    (void) state;
    static const char *const valid[] = { "broker",         "Broker-1", "b",     "0",
                                         "truc.broker_01", "a-b.c_d",  "9lives" };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
        assert_int_equal(s_label_check(valid[i], strlen(valid[i])), PROTO_OK);
    static const char *const invalid[] = { "-broker",       ".broker",  "_broker",
                                           "bro ker",       "broker/1", "broker:1",
                                           "br\xc3\xb4ker", "broker\n", "b@r" };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        assert_int_equal(s_label_check(invalid[i], strlen(invalid[i])), PROTO_ERR_VALUE);

    char longest[PROTO_LABEL_MAX + 1];
    memset(longest, 'a', sizeof longest);
    assert_int_equal(s_label_check(longest, PROTO_LABEL_MAX), PROTO_OK);
    assert_int_equal(s_label_check(longest, PROTO_LABEL_MAX + 1), PROTO_ERR_VALUE);
    assert_int_equal(s_label_check("", 0), PROTO_ERR_VALUE);
    assert_int_equal(proto_label_check(NULL, 5), PROTO_ERR_VALUE);
    static const char with_nul[] = { 'a', '\0', 'b' };
    assert_int_equal(s_label_check(with_nul, 3), PROTO_ERR_VALUE);
}

// ---------------------------------------------------------------------------
//  UTF-8

static void s_test_utf8_valid(void **state)
{
    (void) state;
    static const struct {
        const char *text;
        size_t chars;
    } valid[] = {
        { "", 0 },
        { "hello", 5 },
        { "Vi\xe1\xbb\x87t Nam", 8 }, // Việt Nam
        { "C\xe1\xbb\x99ng h\xc3\xb2"
          "a x\xc3\xa3 h\xe1\xbb\x99i ch\xe1\xbb\xa7 ngh\xc4\xa9"
          "a Vi\xe1\xbb\x87t Nam",
          34 }, // Cộng hòa xã hội chủ nghĩa Việt Nam
        { "\xc4\x90\xe1\xbb\x99"
          "c l\xe1\xba\xadp - T\xe1\xbb\xb1 do - H\xe1\xba\xa1nh "
          "ph\xc3\xba"
          "c",
          27 },                        // Độc lập - Tự do - Hạnh phúc
        { "Vie\xcc\xa3\xcc\x82t", 6 }, // decomposed: code points, not glyphs
        { "\xc2\x80", 1 },             // U+0080, smallest 2-byte
        { "\xdf\xbf", 1 },             // U+07FF
        { "\xe0\xa0\x80", 1 },         // U+0800, smallest 3-byte
        { "\xed\x9f\xbf", 1 },         // U+D7FF, just below surrogates
        { "\xee\x80\x80", 1 },         // U+E000, just above them
        { "\xef\xbf\xbf", 1 },         // U+FFFF
        { "\xf0\x90\x80\x80", 1 },     // U+10000, smallest 4-byte
        { "\xf0\x9f\x98\x80", 1 },     // U+1F600
        { "\xf4\x8f\xbf\xbf", 1 },     // U+10FFFF, the last code point
        { "\x7f\x01\t\n", 4 },         // controls other than NUL are text
    };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        size_t chars = 12345;
        assert_int_equal(s_utf8(valid[i].text, strlen(valid[i].text), &chars), PROTO_OK);
        assert_int_equal(chars, valid[i].chars);
        assert_int_equal(s_utf8(valid[i].text, strlen(valid[i].text), NULL), PROTO_OK);
    }
}

static void s_test_utf8_invalid(void **state)
{
    (void) state;
    static const struct {
        const char *bytes;
        size_t len;
        const char *why;
    } invalid[] = {
        { "\xc0\x80", 2, "overlong NUL" },
        { "\xc1\xbf", 2, "overlong U+007F" },
        { "\xe0\x80\x80", 3, "overlong 3-byte NUL" },
        { "\xe0\x9f\xbf", 3, "overlong U+07FF" },
        { "\xf0\x80\x80\x80", 4, "overlong 4-byte NUL" },
        { "\xf0\x8f\xbf\xbf", 4, "overlong U+FFFF" },
        { "\xed\xa0\x80", 3, "surrogate U+D800" },
        { "\xed\xbf\xbf", 3, "surrogate U+DFFF" },
        { "\xed\xa0\xbd\xed\xb8\x80", 6, "CESU-8 surrogate pair" },
        { "\xf4\x90\x80\x80", 4, "U+110000" },
        { "\xf5\x80\x80\x80", 4, "lead byte F5" },
        { "\xf7\xbf\xbf\xbf", 4, "U+1FFFFF" },
        { "\xf8\x88\x80\x80\x80", 5, "5-byte form" },
        { "\xfc\x84\x80\x80\x80\x80", 6, "6-byte form" },
        { "\xfe", 1, "byte FE" },
        { "\xff", 1, "byte FF" },
        { "\x80", 1, "lone continuation" },
        { "a\xbf", 2, "continuation after ASCII" },
        { "\xc3", 1, "truncated 2-byte" },
        { "\xe1\xbb", 2, "truncated 3-byte" },
        { "\xf0\x9f\x98", 3, "truncated 4-byte" },
        { "Vi\xe1\xbb", 4, "truncated at the end of text" },
        { "\xc3\x28", 2, "bad continuation" },
        { "\xe1\x80\x28", 3, "bad third byte" },
        { "\xf0\x9f\x28\x80", 4, "bad third of four" },
        { "\xe1\xbb\x87\x87", 4, "extra continuation" },
        { "a\0b", 3, "NUL inside" },
        { "\0", 1, "NUL alone" },
        { "abc\0", 4, "NUL at the end" },
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        size_t chars = 777;
        if (s_utf8(invalid[i].bytes, invalid[i].len, &chars) != PROTO_ERR_UTF8) {
            print_error("accepted invalid UTF-8: %s\n", invalid[i].why);
            fail();
        }
    }
}

//  A sequence cut by len is invalid even if the bytes after len would
//  complete it; only len bytes are ever looked at (ASan checks the reads).
static void s_test_utf8_bounded(void **state)
{
    (void) state;
    const char *text = "\xe1\xbb\x87\xf0\x9f\x98\x80";
    assert_int_equal(s_utf8(text, 7, NULL), PROTO_OK);
    for (size_t len = 0; len < 7; len++) {
        proto_err_t want = (len == 0 || len == 3) ? PROTO_OK : PROTO_ERR_UTF8;
        assert_int_equal(s_utf8(text, len, NULL), want);
    }
}

//  Every 1- and 2-byte input: the validator agrees with a direct decoding
//  of the rules, and counts right.
static void s_test_utf8_exhaustive_short(void **state)
{
    (void) state;
    for (int a = 0; a < 256; a++) {
        char one[1] = { (char) a };
        bool ok = a >= 0x01 && a <= 0x7f;
        assert_int_equal(s_utf8(one, 1, NULL), ok ? PROTO_OK : PROTO_ERR_UTF8);
        for (int b = 0; b < 256; b++) {
            char two[2] = { (char) a, (char) b };
            bool ascii_pair = ok && b >= 0x01 && b <= 0x7f;
            bool two_byte = a >= 0xc2 && a <= 0xdf && b >= 0x80 && b <= 0xbf;
            size_t chars = 0;
            proto_err_t rc = s_utf8(two, 2, &chars);
            assert_int_equal(rc, ascii_pair || two_byte ? PROTO_OK : PROTO_ERR_UTF8);
            if (rc == PROTO_OK)
                assert_int_equal(chars, ascii_pair ? 2 : 1);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s_test_code_levels),     cmocka_unit_test(s_test_code_invalid),
        cmocka_unit_test(s_test_code_length),     cmocka_unit_test(s_test_code_embedded_nul),
        cmocka_unit_test(s_test_code_every_byte), cmocka_unit_test(s_test_labels),
        cmocka_unit_test(s_test_utf8_valid),      cmocka_unit_test(s_test_utf8_invalid),
        cmocka_unit_test(s_test_utf8_bounded),    cmocka_unit_test(s_test_utf8_exhaustive_short),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
