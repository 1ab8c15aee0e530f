/*  test_err.c - the error table behind proto_err_t.

    Codes travel on the wire (ERROR, REJECTED), so every code needs a stable
    name and a message, and the table must stay sorted because the lookup
    stops early. The header itself is read at test time, so a code added to
    err.h without a row in err.c fails here rather than in production as
    "unknown error".
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

#include "proto/err.h"

#define S_MAX_CODES 128

typedef struct {
    proto_err_t codes[S_MAX_CODES];
    size_t count;
} s_codes_t;

static void s_collect(proto_err_t err, void *arg)
{
    s_codes_t *codes = arg;
    assert_true(codes->count < S_MAX_CODES);
    codes->codes[codes->count++] = err;
}

static void s_test_foreach_sorted(void **state)
{
    (void) state;
    s_codes_t codes = { .count = 0 };
    proto_err_foreach(s_collect, &codes);
    assert_true(codes.count > 40);
    assert_int_equal(codes.codes[0], PROTO_OK);
    for (size_t i = 1; i < codes.count; i++)
        assert_true((unsigned long) codes.codes[i - 1] < (unsigned long) codes.codes[i]);
}

static void s_test_every_row_named(void **state)
{
    (void) state;
    s_codes_t codes = { .count = 0 };
    proto_err_foreach(s_collect, &codes);
    for (size_t i = 0; i < codes.count; i++) {
        proto_err_t err = codes.codes[i];
        const char *message = proto_strerror(err);
        const char *name = proto_errname(err);
        assert_non_null(message);
        assert_non_null(name);
        assert_true(strlen(message) > 0);
        assert_string_not_equal(message, "unknown error");
        assert_string_not_equal(name, "ERR_UNKNOWN");
        assert_true(proto_err_is_known((unsigned long) err));
        //  Codes go on the wire as 0..999; 0 is success and never sent.
        assert_true((unsigned long) err < 1000);
        if (err == PROTO_OK)
            assert_string_equal(name, "OK");
        else
            assert_memory_equal(name, "ERR_", 4);
        for (const char *p = name; *p; p++)
            assert_true((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_');
    }
}

static void s_test_names_and_messages_unique(void **state)
{
    (void) state;
    s_codes_t codes = { .count = 0 };
    proto_err_foreach(s_collect, &codes);
    for (size_t i = 0; i < codes.count; i++)
        for (size_t j = i + 1; j < codes.count; j++) {
            assert_string_not_equal(proto_errname(codes.codes[i]), proto_errname(codes.codes[j]));
            //  Two codes with the same message would be indistinguishable in a log.
            assert_string_not_equal(proto_strerror(codes.codes[i]), proto_strerror(codes.codes[j]));
        }
}

//  A few codes spelled out, so a renamed or renumbered code is noticed even
//  if the header cannot be read.
static void s_test_known_rows(void **state)
{
    (void) state;
    assert_string_equal(proto_errname(PROTO_ERR_BAD_SIGNATURE), "ERR_BAD_SIGNATURE");
    assert_string_equal(proto_strerror(PROTO_ERR_BAD_SIGNATURE), "bad signature");
    assert_int_equal(PROTO_ERR_BAD_SIGNATURE, 200);
    assert_string_equal(proto_errname(PROTO_ERR_FRAMING), "ERR_FRAMING");
    assert_int_equal(PROTO_ERR_FRAMING, 100);
    assert_string_equal(proto_errname(PROTO_ERR_INTERNAL), "ERR_INTERNAL");
    assert_int_equal(PROTO_ERR_INTERNAL, 599);
    assert_string_equal(proto_strerror(PROTO_OK), "success");
    assert_string_equal(proto_errname(PROTO_ERR_BAD_PROOF), "ERR_BAD_PROOF");
    assert_string_equal(proto_errname(PROTO_ERR_UNEXPECTED), "ERR_UNEXPECTED");
    assert_string_equal(proto_errname(PROTO_ERR_XML), "ERR_XML");
    assert_int_equal(PROTO_ERR_XML, 117);
    assert_int_equal(PROTO_ERR_HOP_LIMIT, 307);
    assert_string_equal(proto_errname(PROTO_ERR_HOP_LIMIT), "ERR_HOP_LIMIT");
    assert_int_equal(PROTO_ERR_ROUTE_LOOP, 308);
    assert_string_equal(proto_errname(PROTO_ERR_ROUTE_LOOP), "ERR_ROUTE_LOOP");
}

static void s_test_unknown_values(void **state)
{
    (void) state;
    static const unsigned long unknown[] = { 1,   99,  118, 199, 213, 299,  309,   405,
                                             499, 515, 598, 600, 999, 1000, 65535, 0xffffffffUL };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        proto_err_t err = (proto_err_t) unknown[i];
        assert_string_equal(proto_strerror(err), "unknown error");
        assert_string_equal(proto_errname(err), "ERR_UNKNOWN");
        assert_false(proto_err_is_known(unknown[i]));
    }
    assert_false(proto_err_is_known((unsigned long) -1));
    assert_string_equal(proto_strerror((proto_err_t) -1), "unknown error");
    assert_true(proto_err_is_known(0));
    assert_true(proto_err_is_known(PROTO_ERR_BAD_PROOF));
}

//  Read err.h and check that each "PROTO_X = N" enumerator has the row
//  named "X". This is what keeps the header and the table in step.
static void s_test_header_matches_table(void **state)
{
    (void) state;
    FILE *file = fopen(TRUC_ERR_H, "r");
    assert_non_null(file);
    char line[256];
    bool in_enum = false;
    size_t seen = 0;
    while (fgets(line, sizeof line, file)) {
        if (strncmp(line, "typedef enum", 12) == 0)
            in_enum = true;
        if (!in_enum)
            continue;
        if (line[0] == '}')
            break;
        const char *p = line;
        while (*p == ' ')
            p++;
        if (strncmp(p, "PROTO_", 6) != 0)
            continue;
        p += 6;
        char symbol[64];
        size_t n = 0;
        while (((*p >= 'A' && *p <= 'Z') || *p == '_' || (*p >= '0' && *p <= '9')) &&
               n + 1 < sizeof symbol)
            symbol[n++] = *p++;
        symbol[n] = '\0';
        while (*p == ' ')
            p++;
        assert_int_equal(*p, '=');
        unsigned long value = strtoul(p + 1, NULL, 10);
        proto_err_t err = (proto_err_t) value;
        if (strcmp(proto_errname(err), symbol) != 0) {
            print_error("err.h has PROTO_%s = %lu, table says %s\n", symbol, value,
                        proto_errname(err));
            fail();
        }
        assert_true(proto_err_is_known(value));
        assert_string_not_equal(proto_strerror(err), "unknown error");
        seen++;
    }
    fclose(file);

    //  And the other way round: no row without an enumerator.
    s_codes_t codes = { .count = 0 };
    proto_err_foreach(s_collect, &codes);
    assert_int_equal(seen, codes.count);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s_test_foreach_sorted),
        cmocka_unit_test(s_test_every_row_named),
        cmocka_unit_test(s_test_names_and_messages_unique),
        cmocka_unit_test(s_test_known_rows),
        cmocka_unit_test(s_test_unknown_values),
        cmocka_unit_test(s_test_header_matches_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
