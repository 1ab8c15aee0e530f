/*  test_route.c - federation in the directory: routing patterns, broker
    entries and agency homes in the file and through the API, and the route
    of an agency code, as tables of cases.

    Directory texts are written with "$K" where a fresh Ed25519 public key
    goes, so no case depends on a key another case uses.
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
#include "proto/route.h"

#define assert_contains(text, needle)                                                              \
    do {                                                                                           \
        if (!strstr((text), (needle))) {                                                           \
            print_error("'%s' does not contain '%s'\n", (text), (needle));                         \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

static int s_setup(void **state)
{
    (void) state;
    return sodium_init() < 0 ? -1 : 0;
}

static void s_fresh_key(uint8_t pk[32])
{
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk, sk);
    sodium_memzero(sk, sizeof sk);
}

//  The template with every "$K" replaced by a fresh key in hex. Caller frees.
static char *s_text(const char *template)
{
    size_t cap = strlen(template) * 40 + 1, w = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    for (const char *p = template; *p;) {
        if (p[0] == '$' && p[1] == 'K') {
            uint8_t pk[32];
            s_fresh_key(pk);
            proto_hex_encode(pk, 32, out + w);
            w += 64;
            p += 2;
        } else {
            out[w++] = *p++;
        }
    }
    out[w] = '\0';
    return out;
}

static proto_err_t s_parse(const char *template, proto_directory_t **dir, char *err, size_t len)
{
    char *text = s_text(template);
    err[0] = '\0';
    proto_err_t rc = proto_directory_parse(text, strlen(text), dir, err, len);
    free(text);
    return rc;
}

//  ---------------------------------------------------------------------

static void test_pattern_parse(void **state)
{
    (void) state;
    static const struct {
        const char *pattern;
        const char *key; // normal form, or NULL if refused
        int literals;
        const char *problem;
    } cases[] = {
        { "H29", "***.**.**.H29", 1, NULL },
        { "*.H29", "***.**.**.H29", 1, NULL },
        { "*.*.*.H29", "***.**.**.H29", 1, NULL },
        { "01.H29", "***.**.01.H29", 2, NULL },
        { "*.*.01.*", "***.**.01.***", 1, NULL },
        { "*", "***.**.**.***", 0, NULL },
        { "*.*.*.*", "***.**.**.***", 0, NULL },
        { "001.*.*.*", "001.**.**.***", 1, NULL },
        { "02.01.*", "***.02.01.***", 2, NULL },
        { "000.00.*.H29", "000.00.**.H29", 3, NULL },
        { "", NULL, 0, "is empty" },
        { "*.*.*.*.*", NULL, 0, "more than four levels" },
        { "000.00.01.H29", NULL, 0, "whole agency code" },
        { "h29", NULL, 0, "level 1" },
        { "H00", NULL, 0, "level 1" },
        { "H2", NULL, 0, "level 1" },
        { "1.H29", NULL, 0, "level 2 or 3" },
        { "01.*.*.*", NULL, 0, "level 4" },
        { "*..H29", NULL, 0, "empty level" },
        { ".H29", NULL, 0, "empty level" },
        { "H29.", NULL, 0, "empty level" },
        { "**.H29", NULL, 0, "level 2 or 3" },
        { "01.00.*", NULL, 0, "matches no agency code" },
        { "001.*.00.*", NULL, 0, "matches no agency code" },
        { "00.00.H29 ", NULL, 0, NULL },
        { "00000000000000", NULL, 0, "longer than 13" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char key[14];
        int literals = -1;
        const char *problem = NULL;
        proto_err_t rc = proto_route_pattern_parse(cases[i].pattern, key, &literals, &problem);
        if (cases[i].key) {
            assert_int_equal(rc, PROTO_OK);
            assert_string_equal(key, cases[i].key);
            assert_int_equal(literals, cases[i].literals);
            assert_null(problem);
        } else {
            if (rc != PROTO_ERR_VALUE)
                print_error("pattern '%s' was not refused\n", cases[i].pattern);
            assert_int_equal(rc, PROTO_ERR_VALUE);
            assert_non_null(problem);
            if (cases[i].problem)
                assert_contains(problem, cases[i].problem);
        }
    }
    char key[14];
    int literals = 0;
    assert_int_equal(proto_route_pattern_parse(NULL, key, &literals, NULL), PROTO_ERR_INVALID_ARG);
}

static void test_pattern_match(void **state)
{
    (void) state;
    static const struct {
        const char *pattern, *code;
        bool match;
    } cases[] = {
        { "H29", "000.00.00.H29", true },        { "H29", "001.02.03.H29", true },
        { "H29", "000.00.00.H30", false },       { "*.H29", "000.00.05.H29", true },
        { "01.*", "000.00.01.G02", true },       { "01.*", "000.01.02.G02", false },
        { "*", "000.00.00.A01", true },          { "001.*.*.*", "001.01.01.K04", true },
        { "001.*.*.*", "002.01.01.K04", false }, { "H29", "H29", false },
        { "bad", "000.00.00.H29", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(proto_route_pattern_match(cases[i].pattern, cases[i].code),
                         cases[i].match);
}

//  A province (hcm, home for H29) and a national broker (national-1, home
//  for everything else) as the national directory lists them, with the
//  ministries' broker holding two explicit codes and a more literal pattern.
static const char s_nation[] = "[directory]\nformat = 1\nserial = 3\n"
                               "\n[broker national-1]\nname = Trục quốc gia\nsign_key = $K\n"
                               "state = active\npatterns = *\n"
                               "\n[broker hcm]\nname = Trục TP.HCM\nsign_key = $K\n"
                               "state = active\npatterns = H29\n"
                               "\n[broker hcm-dist]\nname = Quận 1\nsign_key = $K\n"
                               "state = active\npatterns = 01.H29 *.*.02.H29\n"
                               "\n[broker hue]\nname = Huế\nsign_key = $K\nstate = suspended\n"
                               "patterns = H33\n"
                               "\n[broker old]\nname = Old\nsign_key = $K\nstate = revoked\n"
                               "patterns = H34\n"
                               "\n[broker ministries]\nname = Bộ ngành\nsign_key = $K\n"
                               "state = active\ncodes = 000.00.00.G01 000.00.05.H29\n"
                               "\n[000.00.00.A01]\nname = A\nsign_key = $K\nstate = active\n"
                               "\n[000.00.00.H29]\nname = HCM\nsign_key = $K\nstate = active\n"
                               "home = hcm\n"
                               "\n[000.00.00.H33]\nname = Huế\nsign_key = $K\nstate = active\n"
                               "home = national-1\n"
                               "\n[000.00.05.H29]\nname = M\nsign_key = $K\nstate = suspended\n"
                               "home = ministries\n";

static void test_route_table(void **state)
{
    (void) state;
    char err[512];
    proto_directory_t *dir = NULL;
    assert_int_equal(s_parse(s_nation, &dir, err, sizeof err), PROTO_OK);
    assert_int_equal(proto_directory_broker_count(dir), 6);
    assert_int_equal(proto_directory_count(dir), 4);
    static const struct {
        const char *code, *self;
        proto_route_kind_t kind;
        proto_route_via_t via;
        proto_err_t reason;
        const char *broker, *pattern;
    } cases[] = {
        //  An agency's entry: no home is ours, a home is where it goes.
        { "000.00.00.A01", "national-1", PROTO_ROUTE_LOCAL, PROTO_ROUTE_BY_ENTRY, PROTO_OK, NULL,
          NULL },
        { "000.00.00.A01", NULL, PROTO_ROUTE_LOCAL, PROTO_ROUTE_BY_ENTRY, PROTO_OK, NULL, NULL },
        { "000.00.00.H29", "national-1", PROTO_ROUTE_LINK, PROTO_ROUTE_BY_HOME, PROTO_OK, "hcm",
          NULL },
        { "000.00.00.H29", "hcm", PROTO_ROUTE_LOCAL, PROTO_ROUTE_BY_ENTRY, PROTO_OK, NULL, NULL },
        //  A home beats the patterns: hue's H33 is suspended, the entry's home is not.
        { "000.00.00.H33", "hcm", PROTO_ROUTE_LINK, PROTO_ROUTE_BY_HOME, PROTO_OK, "national-1",
          NULL },
        { "000.00.00.H33", "national-1", PROTO_ROUTE_LOCAL, PROTO_ROUTE_BY_ENTRY, PROTO_OK, NULL,
          NULL },
        //  A suspended agency still routes; the caller checks usability.
        { "000.00.05.H29", "hcm", PROTO_ROUTE_LINK, PROTO_ROUTE_BY_HOME, PROTO_OK, "ministries",
          NULL },
        //  No entry: explicit code beats every pattern.
        { "000.00.00.G01", "hcm", PROTO_ROUTE_LINK, PROTO_ROUTE_BY_CODE, PROTO_OK, "ministries",
          NULL },
        //  More literal levels win: 01.H29 (2) over H29 (1) over * (0).
        { "000.00.01.H29", "national-1", PROTO_ROUTE_LINK, PROTO_ROUTE_BY_PATTERN, PROTO_OK,
          "hcm-dist", "01.H29" },
        { "000.01.02.H29", "national-1", PROTO_ROUTE_LINK, PROTO_ROUTE_BY_PATTERN, PROTO_OK,
          "hcm-dist", "*.*.02.H29" },
        { "000.00.07.H29", "national-1", PROTO_ROUTE_LINK, PROTO_ROUTE_BY_PATTERN, PROTO_OK, "hcm",
          "H29" },
        { "000.00.07.K01", "hcm", PROTO_ROUTE_LINK, PROTO_ROUTE_BY_PATTERN, PROTO_OK, "national-1",
          "*" },
        //  Suspended and revoked brokers refuse, with their own reasons,
        //  and the less specific '*' is not tried instead.
        { "000.00.01.H33", "hcm", PROTO_ROUTE_NONE, PROTO_ROUTE_BY_PATTERN,
          PROTO_ERR_BROKER_SUSPENDED, "hue", "H33" },
        { "000.00.01.H34", "hcm", PROTO_ROUTE_NONE, PROTO_ROUTE_BY_PATTERN,
          PROTO_ERR_BROKER_REVOKED, "old", "H34" },
        //  Self is never a link: a code ours by pattern and unknown here.
        { "000.00.07.H29", "hcm", PROTO_ROUTE_NONE, PROTO_ROUTE_BY_PATTERN,
          PROTO_ERR_UNKNOWN_AGENCY, "hcm", "H29" },
        { "000.00.07.K01", "national-1", PROTO_ROUTE_NONE, PROTO_ROUTE_BY_PATTERN,
          PROTO_ERR_UNKNOWN_AGENCY, "national-1", "*" },
        //  Not a code.
        { "000.01.00.H29", "hcm", PROTO_ROUTE_NONE, PROTO_ROUTE_BY_NOTHING, PROTO_ERR_AGENCY_CODE,
          NULL, NULL },
        { "H29", "hcm", PROTO_ROUTE_NONE, PROTO_ROUTE_BY_NOTHING, PROTO_ERR_AGENCY_CODE, NULL,
          NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        proto_route_t r;
        proto_err_t rc = proto_directory_route(dir, cases[i].code, cases[i].self, &r);
        print_message("case %zu: %s from %s\n", i, cases[i].code,
                      cases[i].self ? cases[i].self : "(no label)");
        assert_int_equal(rc, cases[i].reason);
        assert_int_equal(r.reason, cases[i].reason);
        assert_int_equal(r.kind, cases[i].kind);
        assert_int_equal(r.via, cases[i].via);
        if (cases[i].broker) {
            assert_non_null(r.broker);
            assert_string_equal(r.broker->label, cases[i].broker);
        } else {
            assert_null(r.broker);
        }
        if (cases[i].pattern) {
            assert_non_null(r.pattern);
            assert_string_equal(r.pattern, cases[i].pattern);
        } else {
            assert_null(r.pattern);
        }
        assert_true((r.agency != NULL) == (proto_directory_find(dir, cases[i].code) != NULL));
    }
    proto_route_t r;
    assert_int_equal(proto_directory_route(NULL, "000.00.00.A01", NULL, &r), PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_directory_route(dir, "000.00.00.A01", NULL, NULL),
                     PROTO_ERR_INVALID_ARG);
    proto_directory_destroy(&dir);

    //  No brokers at all: today's directories route as before.
    assert_int_equal(s_parse("[directory]\nformat = 1\nserial = 1\n"
                             "[000.00.00.A01]\nname = A\nsign_key = $K\nstate = active\n",
                             &dir, err, sizeof err),
                     PROTO_OK);
    assert_int_equal(proto_directory_route(dir, "000.00.00.A01", "hub", &r), PROTO_OK);
    assert_int_equal(r.kind, PROTO_ROUTE_LOCAL);
    assert_int_equal(proto_directory_route(dir, "000.00.00.A02", "hub", &r),
                     PROTO_ERR_UNKNOWN_AGENCY);
    assert_int_equal(r.kind, PROTO_ROUTE_NONE);
    assert_int_equal(r.via, PROTO_ROUTE_BY_NOTHING);
    proto_directory_destroy(&dir);
}

//  Ties: refused at load with both brokers and the pattern named, unless a
//  more specific rule covers every code the two share.
static void test_ties(void **state)
{
    (void) state;
#define S_HEAD "[directory]\nformat = 1\nserial = 1\n"
#define S_BROKER(label, rules)                                                                     \
    "[broker " label "]\nname = " label "\nsign_key = $K\nstate = active\n" rules "\n"
    static const struct {
        const char *text;
        const char *detail; // NULL: accepted
    } cases[] = {
        { S_HEAD S_BROKER("a", "patterns = H29") S_BROKER("b", "patterns = *.H29"),
          "[broker a] and [broker b] both list the pattern" },
        { S_HEAD S_BROKER("a", "codes = 000.00.01.H29") S_BROKER("b", "codes = 000.00.01.H29"),
          "both list the code '000.00.01.H29'" },
        { S_HEAD S_BROKER("a", "patterns = *.*.01.*") S_BROKER("b", "patterns = H29"),
          "both match *.*.01.H29 with 1 literal level" },
        //  The overlap covered by a pattern with more literal levels.
        { S_HEAD S_BROKER("a", "patterns = *.*.01.*") S_BROKER("b", "patterns = H29")
              S_BROKER("c", "patterns = 01.H29"),
          NULL },
        //  Covered by one of the two brokers itself.
        { S_HEAD S_BROKER("a", "patterns = *.*.01.* 01.H29") S_BROKER("b", "patterns = H29"),
          NULL },
        //  A cover for part of the overlap is not enough.
        { S_HEAD S_BROKER("a", "patterns = *.*.*.* *.01.*") S_BROKER("b", "patterns = H29")
              S_BROKER("c", "patterns = *.01.01.H29"),
          "both match *.*.01.H29 with 1 literal level" },
        //  An explicit code covers a one-code overlap.
        { S_HEAD S_BROKER("a", "patterns = 001.01.01.*") S_BROKER("b", "patterns = 01.01.H29")
              S_BROKER("c", "codes = 001.01.01.H29"),
          NULL },
        { S_HEAD S_BROKER("a", "patterns = 001.01.01.*") S_BROKER("b", "patterns = 01.01.H29"),
          "both match 001.01.01.H29 with 3 literal levels" },
        //  Different literal counts never tie; disjoint patterns never tie.
        { S_HEAD S_BROKER("a", "patterns = *") S_BROKER("b", "patterns = H29 H30"), NULL },
        { S_HEAD S_BROKER("a", "patterns = 01.H29") S_BROKER("b", "patterns = 02.H29"), NULL },
        //  The same broker twice is no tie, but the same rule twice is a typo.
        { S_HEAD S_BROKER("a", "patterns = H29 *.*.01.*"), NULL },
        { S_HEAD S_BROKER("a", "patterns = H29 *.*.*.H29"),
          "[broker a] lists '*.*.*.H29' twice (as 'H29')" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512];
        proto_directory_t *dir = NULL;
        proto_err_t rc = s_parse(cases[i].text, &dir, err, sizeof err);
        print_message("case %zu: %s\n", i, err);
        if (!cases[i].detail) {
            assert_int_equal(rc, PROTO_OK);
            proto_directory_destroy(&dir);
        } else {
            assert_int_equal(rc, PROTO_ERR_DIRECTORY);
            assert_null(dir);
            assert_contains(err, cases[i].detail);
        }
    }
}

static void test_parse_errors(void **state)
{
    (void) state;
    static const struct {
        const char *text, *detail;
    } cases[] = {
        { S_HEAD "[broker hub]\nname = H\nsign_key = $K\nstate = active\nport = 5\n",
          "[broker hub] unknown key 'port'" },
        { S_HEAD "[broker hub]\nname = H\nsign_key = $K\n", "[broker hub] has no 'state'" },
        { S_HEAD "[broker hub]\nname = H\nsign_key = 12\nstate = active\n",
          "sign_key must be 64 hex digits" },
        { S_HEAD "[broker hub]\nname = H\nsign_key = $K\nstate = paused\n",
          "unknown state 'paused'" },
        { S_HEAD "[broker 000.00.01.H01]\nname = H\nsign_key = $K\nstate = active\n",
          "label is an agency code" },
        { S_HEAD "[broker -x]\nname = H\nsign_key = $K\nstate = active\n",
          "label is not a broker label" },
        { S_HEAD "[broker hub]\nname = H\nsign_key = $K\nstate = active\npatterns = H29 x\n",
          "line 4: [broker hub] 'x' has a level 1" },
        { S_HEAD "[broker hub]\nname = H\nsign_key = $K\nstate = active\ncodes = 000.01.00.H01\n",
          "'000.01.00.H01' is not a valid agency code" },
        { S_HEAD "[broker hub]\nname = H\nsign_key = $K\nstate = active\n"
                 "[broker hub]\nname = H\nsign_key = $K\nstate = active\n",
          "line 8: duplicate section [broker hub]" },
        { S_HEAD "[broker hub]\nname = H\nsign_key = $K\nstate = active\n"
                 "patterns = 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 "
                 "26 27 28 29 30 31 32 33\n",
          "more than 32 patterns" },
        { S_HEAD "[000.00.00.A01]\nname = A\nsign_key = $K\nstate = active\nhome = nobody\n",
          "[000.00.00.A01] home 'nobody' is not a broker of the directory" },
        { S_HEAD "[000.00.00.A01]\nname = A\nsign_key = $K\nstate = active\nhome = a b\n",
          "home 'a b' is not a broker label" },
        { S_HEAD S_BROKER(
              "a",
              "codes = 000.00.00.A01") "[000.00.00.A01]\nname = A\nsign_key = $K\nstate = active\n",
          "[broker a] lists 000.00.00.A01, whose entry has no home" },
        { S_HEAD S_BROKER("a", "codes = 000.00.00.A01") S_BROKER(
              "b", "") "[000.00.00.A01]\nname = A\nsign_key = $K\nstate = active\nhome = b\n",
          "[broker a] lists 000.00.00.A01, whose entry has home = b" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512];
        proto_directory_t *dir = NULL;
        proto_err_t rc = s_parse(cases[i].text, &dir, err, sizeof err);
        print_message("case %zu: %s\n", i, err);
        assert_int_equal(rc, PROTO_ERR_DIRECTORY);
        assert_null(dir);
        assert_contains(err, cases[i].detail);
    }
    //  One key space: a broker with an agency's key, or another broker's.
    uint8_t pk[32];
    s_fresh_key(pk);
    char hex[65], text[1024], err[512];
    proto_hex_encode(pk, 32, hex);
    snprintf(text, sizeof text,
             S_HEAD "[broker hub]\nname = H\nsign_key = %s\nstate = active\n"
                    "[000.00.00.A01]\nname = A\nsign_key = %s\nstate = active\n",
             hex, hex);
    proto_directory_t *dir = NULL;
    assert_int_equal(proto_directory_parse(text, strlen(text), &dir, err, sizeof err),
                     PROTO_ERR_DIRECTORY);
    assert_contains(err, "[broker hub] has the same key as [000.00.00.A01]");
    snprintf(text, sizeof text,
             S_HEAD "[broker hub]\nname = H\nsign_key = %s\nstate = active\n"
                    "[broker hub2]\nname = H\nsign_key = %s\nstate = active\n",
             hex, hex);
    assert_int_equal(proto_directory_parse(text, strlen(text), &dir, err, sizeof err),
                     PROTO_ERR_DIRECTORY);
    assert_contains(err, "has the same key as [broker hub");
}

//  The limits, named in the messages: codes per broker, brokers per file.
static void test_limits(void **state)
{
    (void) state;
    size_t cap = 64 * 1024 + 300 * 120;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t w = (size_t) snprintf(text, cap,
                                 S_HEAD "[broker hub]\nname = H\nsign_key = $K\n"
                                        "state = active\ncodes =");
    for (int i = 0; i <= PROTO_DIRECTORY_BROKER_CODES; i++) {
        //  Folded by hand: a line of the file holds at most 198 bytes.
        w += (size_t) snprintf(text + w, cap - w, "%s%03d.%02d.01.H01", i % 10 ? " " : "\n    ",
                               i % 999 + 1, i / 999 + 1);
    }
    snprintf(text + w, cap - w, "\n");
    char err[512];
    proto_directory_t *dir = NULL;
    assert_int_equal(s_parse(text, &dir, err, sizeof err), PROTO_ERR_DIRECTORY);
    assert_contains(err, "codes lists more than 4096 codes");
    //  Exactly the limit is fine, and routes.
    char *last = strrchr(text, ' ');
    assert_non_null(last);
    snprintf(last, cap - (size_t) (last - text), "\n");
    assert_int_equal(s_parse(text, &dir, err, sizeof err), PROTO_OK);
    proto_route_t r;
    assert_int_equal(proto_directory_route(dir, "999.04.01.H01", NULL, &r), PROTO_OK);
    assert_int_equal(r.via, PROTO_ROUTE_BY_CODE);
    proto_directory_destroy(&dir);

    w = (size_t) snprintf(text, cap, S_HEAD);
    for (int i = 0; i <= PROTO_DIRECTORY_MAX_BROKERS; i++)
        w += (size_t) snprintf(text + w, cap - w,
                               "[broker b%d]\nname = B\nsign_key = $K\nstate = active\n", i);
    assert_int_equal(s_parse(text, &dir, err, sizeof err), PROTO_ERR_DIRECTORY);
    assert_contains(err, "more than 256 brokers");
    free(text);
}

//  Written and read back: brokers first in label order, long code lists
//  folded, homes kept; the text is stable.
static void test_round_trip(void **state)
{
    (void) state;
    proto_directory_t *dir = proto_directory_new();
    char codes[300][14];
    const char *code_ptrs[300];
    for (int i = 0; i < 300; i++) {
        snprintf(codes[i], sizeof codes[i], "%03d.%02d.01.K01", i % 999 + 1, i / 99 + 1);
        code_ptrs[i] = codes[i];
    }
    const char *patterns[] = { "H29", "*.*.02.*" };
    proto_directory_broker_t b;
    memset(&b, 0, sizeof b);
    snprintf(b.label, sizeof b.label, "province-29");
    b.name = "Trục tỉnh 29";
    s_fresh_key(b.sign_pk);
    b.state = PROTO_DIRECTORY_ACTIVE;
    b.code_count = 300;
    b.codes = code_ptrs;
    b.pattern_count = 2;
    b.patterns = patterns;
    char err[512] = "";
    assert_int_equal(proto_directory_broker_add(dir, &b, err, sizeof err), PROTO_OK);
    proto_directory_broker_t n = b;
    snprintf(n.label, sizeof n.label, "national-1");
    n.name = "National";
    s_fresh_key(n.sign_pk);
    n.code_count = 0;
    n.codes = NULL;
    const char *star[] = { "*" };
    n.patterns = star;
    n.pattern_count = 1;
    assert_int_equal(proto_directory_broker_add(dir, &n, err, sizeof err), PROTO_OK);
    assert_int_equal(proto_directory_serial(dir), 2);
    proto_directory_entry_t e;
    memset(&e, 0, sizeof e);
    snprintf(e.code, sizeof e.code, "000.00.00.H29");
    e.name = "HCM";
    s_fresh_key(e.sign_pk);
    snprintf(e.home, sizeof e.home, "province-29");
    assert_int_equal(proto_directory_add(dir, &e), PROTO_OK);
    assert_int_equal(proto_directory_broker_set_state(dir, "national-1", PROTO_DIRECTORY_SUSPENDED),
                     PROTO_OK);

    char path[] = "/tmp/truc-test-route-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(proto_directory_save(dir, path, err, sizeof err), PROTO_OK);
    proto_directory_t *back = NULL;
    assert_int_equal(proto_directory_load(path, &back, err, sizeof err), PROTO_OK);
    assert_int_equal(proto_directory_broker_count(back), 2);
    const proto_directory_broker_t *p = proto_directory_broker(back, 1);
    assert_string_equal(p->label, "province-29");
    assert_string_equal(p->name, "Trục tỉnh 29");
    assert_int_equal(p->code_count, 300);
    for (int i = 0; i < 300; i++)
        assert_string_equal(p->codes[i], codes[i]);
    assert_int_equal(p->pattern_count, 2);
    assert_string_equal(p->patterns[1], "*.*.02.*");
    assert_memory_equal(p->sign_pk, b.sign_pk, 32);
    assert_string_equal(proto_directory_broker(back, 0)->label, "national-1");
    assert_int_equal(proto_directory_broker(back, 0)->state, PROTO_DIRECTORY_SUSPENDED);
    assert_string_equal(proto_directory_find(back, "000.00.00.H29")->home, "province-29");
    char path2[] = "/tmp/truc-test-route-XXXXXX";
    fd = mkstemp(path2);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(proto_directory_save(back, path2, err, sizeof err), PROTO_OK);
    FILE *f1 = fopen(path, "r"), *f2 = fopen(path2, "r");
    static char t1[65536], t2[65536];
    size_t n1 = fread(t1, 1, sizeof t1, f1), n2 = fread(t2, 1, sizeof t2, f2);
    fclose(f1);
    fclose(f2);
    assert_true(n1 < sizeof t1);
    assert_int_equal(n1, n2);
    assert_memory_equal(t1, t2, n1);
    t1[n1] = '\0';
    assert_contains(t1, "\n[broker national-1]\n");
    assert_contains(t1, "home = province-29\n");
    //  Brokers come before agencies.
    assert_true(strstr(t1, "[broker province-29]") < strstr(t1, "[000.00.00.H29]"));

    //  A copy writes the same text, routes the same, finds every key, and
    //  changes apart from what it was copied from.
    proto_directory_t *copy = NULL;
    assert_int_equal(proto_directory_copy(back, &copy), PROTO_OK);
    assert_int_equal(proto_directory_serial(copy), proto_directory_serial(back));
    assert_int_equal(proto_directory_save(copy, path2, err, sizeof err), PROTO_OK);
    f2 = fopen(path2, "r");
    n2 = fread(t2, 1, sizeof t2, f2);
    fclose(f2);
    assert_int_equal(n1, n2);
    assert_memory_equal(t1, t2, n1);
    proto_route_t r1, r2;
    assert_int_equal(proto_directory_route(back, codes[7], "me", &r1), PROTO_OK);
    assert_int_equal(proto_directory_route(copy, codes[7], "me", &r2), PROTO_OK);
    assert_int_equal(r1.kind, r2.kind);
    assert_string_equal(r2.broker->label, "province-29");
    assert_ptr_equal(r2.broker, proto_directory_broker_find(copy, "province-29"));
    const proto_directory_entry_t *h29 = proto_directory_find(copy, "000.00.00.H29");
    assert_ptr_equal(proto_directory_find_curve(copy, h29->curve_pk), h29);
    assert_ptr_not_equal(h29, proto_directory_find(back, "000.00.00.H29"));
    assert_int_equal(proto_directory_set_state(copy, "000.00.00.H29", PROTO_DIRECTORY_REVOKED),
                     PROTO_OK);
    assert_int_equal(proto_directory_find(back, "000.00.00.H29")->state, PROTO_DIRECTORY_ACTIVE);
    proto_directory_destroy(&copy);
    assert_int_equal(proto_directory_copy(NULL, &copy), PROTO_ERR_INVALID_ARG);

    unlink(path);
    unlink(path2);
    proto_directory_destroy(&back);
    proto_directory_destroy(&dir);
}

//  The API keeps the rules the loader keeps, and leaves the directory as it
//  was when it refuses.
static void test_api(void **state)
{
    (void) state;
    char err[512];
    proto_directory_t *dir = NULL;
    assert_int_equal(s_parse(s_nation, &dir, err, sizeof err), PROTO_OK);
    uint64_t serial = proto_directory_serial(dir);
    const proto_directory_entry_t *a01 = proto_directory_find(dir, "000.00.00.A01");
    const proto_directory_broker_t *hcm = proto_directory_broker_find(dir, "hcm");
    assert_non_null(hcm);
    assert_null(proto_directory_broker_find(dir, "nobody"));
    assert_ptr_equal(proto_directory_broker_find_curve(dir, hcm->curve_pk), hcm);
    //  A broker is not an agency: the ZAP lookup for agency sessions never
    //  finds one.
    assert_null(proto_directory_find_curve(dir, hcm->curve_pk));
    assert_null(proto_directory_broker_find_curve(dir, a01->curve_pk));

    proto_directory_broker_t b;
    memset(&b, 0, sizeof b);
    snprintf(b.label, sizeof b.label, "danang");
    b.name = "Đà Nẵng";
    s_fresh_key(b.sign_pk);
    const char *clash[] = { "*.H29" };
    b.patterns = clash;
    b.pattern_count = 1;
    assert_int_equal(proto_directory_broker_add(dir, &b, err, sizeof err), PROTO_ERR_DIRECTORY);
    assert_contains(err, "[broker danang] and [broker hcm] both list the pattern");
    const char *overlap[] = { "*.*.01.*" };
    b.patterns = overlap;
    assert_int_equal(proto_directory_broker_add(dir, &b, err, sizeof err), PROTO_ERR_DIRECTORY);
    assert_contains(err, "[broker danang] pattern '*.*.01.*'");
    assert_contains(err, "[broker hue] pattern 'H33'");
    const char *bad[] = { "H2" };
    b.patterns = bad;
    assert_int_equal(proto_directory_broker_add(dir, &b, err, sizeof err), PROTO_ERR_VALUE);
    const char *own[] = { "000.00.00.A01" };
    b.pattern_count = 0;
    b.codes = own;
    b.code_count = 1;
    assert_int_equal(proto_directory_broker_add(dir, &b, err, sizeof err), PROTO_ERR_DIRECTORY);
    assert_contains(err, "whose entry has no home");
    b.code_count = 0;
    memcpy(b.sign_pk, a01->sign_pk, 32);
    assert_int_equal(proto_directory_broker_add(dir, &b, err, sizeof err), PROTO_ERR_EXISTS);
    assert_contains(err, "for agency 000.00.00.A01");
    memcpy(b.sign_pk, hcm->sign_pk, 32);
    assert_int_equal(proto_directory_broker_add(dir, &b, err, sizeof err), PROTO_ERR_EXISTS);
    snprintf(b.label, sizeof b.label, "hcm");
    s_fresh_key(b.sign_pk);
    assert_int_equal(proto_directory_broker_add(dir, &b, err, sizeof err), PROTO_ERR_EXISTS);
    snprintf(b.label, sizeof b.label, "000.00.00.Z01");
    assert_int_equal(proto_directory_broker_add(dir, &b, err, sizeof err), PROTO_ERR_VALUE);
    memset(b.label, 'x', 42);
    b.label[42] = '\0';
    assert_int_equal(proto_directory_broker_add(dir, &b, err, sizeof err), PROTO_ERR_VALUE);
    assert_contains(err, "longer than 41 bytes");
    assert_int_equal(proto_directory_serial(dir), serial);
    assert_int_equal(proto_directory_broker_count(dir), 6);
    //  Still the old index: the refused brokers left no rule behind.
    proto_route_t r;
    assert_int_equal(proto_directory_route(dir, "000.00.01.H29", "national-1", &r), PROTO_OK);
    assert_string_equal(r.broker->label, "hcm-dist");

    //  Agencies: no agency may take a broker's key, and a home must name a
    //  broker that does not contradict an explicit code.
    proto_directory_entry_t e;
    memset(&e, 0, sizeof e);
    snprintf(e.code, sizeof e.code, "000.00.00.B01");
    e.name = "B";
    memcpy(e.sign_pk, hcm->sign_pk, 32);
    assert_int_equal(proto_directory_add(dir, &e), PROTO_ERR_EXISTS);
    s_fresh_key(e.sign_pk);
    snprintf(e.home, sizeof e.home, "nobody");
    assert_int_equal(proto_directory_add(dir, &e), PROTO_ERR_NOT_FOUND);
    snprintf(e.code, sizeof e.code, "000.00.00.G01");
    snprintf(e.home, sizeof e.home, "hcm");
    assert_int_equal(proto_directory_add(dir, &e), PROTO_ERR_DIRECTORY);
    snprintf(e.home, sizeof e.home, "ministries");
    assert_int_equal(proto_directory_add(dir, &e), PROTO_OK);
    assert_int_equal(proto_directory_set_key(dir, "000.00.00.A01", hcm->sign_pk), PROTO_ERR_EXISTS);

    //  set_home.
    serial = proto_directory_serial(dir);
    assert_int_equal(proto_directory_set_home(dir, "000.00.00.A01", "hcm", err, sizeof err),
                     PROTO_OK);
    assert_int_equal(proto_directory_serial(dir), serial + 1);
    assert_int_equal(proto_directory_set_home(dir, "000.00.00.A01", "hcm", err, sizeof err),
                     PROTO_OK);
    assert_int_equal(proto_directory_serial(dir), serial + 1);
    assert_int_equal(proto_directory_route(dir, "000.00.00.A01", "national-1", &r), PROTO_OK);
    assert_int_equal(r.kind, PROTO_ROUTE_LINK);
    assert_int_equal(proto_directory_set_home(dir, "000.00.00.A01", NULL, err, sizeof err),
                     PROTO_OK);
    assert_int_equal(proto_directory_route(dir, "000.00.00.A01", "national-1", &r), PROTO_OK);
    assert_int_equal(r.kind, PROTO_ROUTE_LOCAL);
    assert_int_equal(proto_directory_set_home(dir, "000.00.00.A01", "nobody", err, sizeof err),
                     PROTO_ERR_NOT_FOUND);
    assert_int_equal(proto_directory_set_home(dir, "000.00.00.G01", "", err, sizeof err),
                     PROTO_ERR_DIRECTORY);
    assert_contains(err, "[broker ministries] lists 000.00.00.G01");
    assert_int_equal(proto_directory_set_home(dir, "000.00.00.Z09", "hcm", err, sizeof err),
                     PROTO_ERR_UNKNOWN_AGENCY);
    assert_int_equal(proto_directory_set_home(dir, "Z09", "hcm", err, sizeof err),
                     PROTO_ERR_AGENCY_CODE);

    //  Broker states, with the agencies' rules.
    assert_int_equal(proto_directory_broker_set_state(dir, "hcm", PROTO_DIRECTORY_SUSPENDED),
                     PROTO_OK);
    assert_int_equal(proto_directory_route(dir, "000.00.00.H29", "national-1", &r),
                     PROTO_ERR_BROKER_SUSPENDED);
    assert_int_equal(r.kind, PROTO_ROUTE_NONE);
    assert_string_equal(r.broker->label, "hcm");
    assert_int_equal(proto_directory_broker_set_state(dir, "hcm", PROTO_DIRECTORY_ACTIVE),
                     PROTO_OK);
    serial = proto_directory_serial(dir);
    assert_int_equal(proto_directory_broker_set_state(dir, "hcm", PROTO_DIRECTORY_ACTIVE),
                     PROTO_OK);
    assert_int_equal(proto_directory_serial(dir), serial);
    assert_int_equal(proto_directory_broker_set_state(dir, "hcm", PROTO_DIRECTORY_REVOKED),
                     PROTO_OK);
    assert_int_equal(proto_directory_broker_set_state(dir, "hcm", PROTO_DIRECTORY_ACTIVE),
                     PROTO_ERR_BAD_STATE);
    assert_int_equal(proto_directory_route(dir, "000.00.00.H29", "national-1", &r),
                     PROTO_ERR_BROKER_REVOKED);
    assert_int_equal(proto_directory_broker_set_state(dir, "nobody", PROTO_DIRECTORY_ACTIVE),
                     PROTO_ERR_NOT_FOUND);
    assert_int_equal(proto_directory_broker_count(NULL), 0);
    assert_null(proto_directory_broker(dir, 99));
    proto_directory_destroy(&dir);
}

//  A national directory: 63 provinces, each with patterns, and 60000
//  agencies: a route costs the same for the last code as for the first.
static void test_scale(void **state)
{
    (void) state;
    proto_directory_t *dir = proto_directory_new();
    char err[512];
    for (int p = 1; p <= 63; p++) {
        char pat[2][8];
        const char *pats[2] = { pat[0], pat[1] };
        snprintf(pat[0], sizeof pat[0], "%c%02d", 'A' + p / 10, p % 10 + 1);
        snprintf(pat[1], sizeof pat[1], "%c%02d", 'M' + p / 10, p % 10 + 1);
        proto_directory_broker_t b;
        memset(&b, 0, sizeof b);
        snprintf(b.label, sizeof b.label, "province-%02d", p);
        b.name = "P";
        s_fresh_key(b.sign_pk);
        b.patterns = pats;
        b.pattern_count = 2;
        assert_int_equal(proto_directory_broker_add(dir, &b, err, sizeof err), PROTO_OK);
    }
    proto_route_t r;
    assert_int_equal(proto_directory_route(dir, "000.00.01.A02", NULL, &r), PROTO_OK);
    assert_string_equal(r.broker->label, "province-01");
    assert_int_equal(proto_directory_route(dir, "000.00.01.G04", NULL, &r), PROTO_OK);
    assert_string_equal(r.broker->label, "province-63");
    assert_int_equal(proto_directory_route(dir, "000.00.01.Z01", NULL, &r),
                     PROTO_ERR_UNKNOWN_AGENCY);
    proto_directory_destroy(&dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern_parse), cmocka_unit_test(test_pattern_match),
        cmocka_unit_test(test_route_table),   cmocka_unit_test(test_ties),
        cmocka_unit_test(test_parse_errors),  cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_api),           cmocka_unit_test(test_scale),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, s_setup, NULL);
}
