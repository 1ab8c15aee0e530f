/*  test_mpjson.c - msgpack written as JSON, in both styles: the exact bytes
    truc and truc-admin have always printed for the same values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/mpjson.h"

//  One value of every kind, nested: {"s": "a\"\\\n\t\x01\x7f é \xff",
//  "n": [1, -2, [], {}], 7: true, "f": 1.5, "b": bin 01 02 03 04,
//  "x": nil, "ok": false, "deep": [[3]]}.
static void s_pack_sample(msgpack_sbuffer *buf)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    static const char text[] = "a\"\\\n\t\x01\x7f \xc3\xa9 \xff";
    msgpack_pack_map(&pk, 8);
    msgpack_pack_str_with_body(&pk, "s", 1);
    msgpack_pack_str_with_body(&pk, text, sizeof text - 1);
    msgpack_pack_str_with_body(&pk, "n", 1);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_int64(&pk, -2);
    msgpack_pack_array(&pk, 0);
    msgpack_pack_map(&pk, 0);
    msgpack_pack_uint64(&pk, 7);
    msgpack_pack_true(&pk);
    msgpack_pack_str_with_body(&pk, "f", 1);
    msgpack_pack_double(&pk, 1.5);
    msgpack_pack_str_with_body(&pk, "b", 1);
    msgpack_pack_bin_with_body(&pk, "\x01\x02\x03\x04", 4);
    msgpack_pack_str_with_body(&pk, "x", 1);
    msgpack_pack_nil(&pk);
    msgpack_pack_str_with_body(&pk, "ok", 2);
    msgpack_pack_false(&pk);
    msgpack_pack_str_with_body(&pk, "deep", 4);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_uint64(&pk, 3);
}

//  What proto_mpjson_write_without prints for the sample, as a string the
//  caller frees.
static char *s_print(int indent, const char *skip, proto_mpjson_style_t style)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    s_pack_sample(&buf);
    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&unpacked, buf.data, buf.size, &off),
                     MSGPACK_UNPACK_SUCCESS);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    if (skip)
        proto_mpjson_write_without(out, &unpacked.data, indent, skip, style);
    else
        proto_mpjson_write(out, &unpacked.data, indent, style);
    assert_int_equal(fclose(out), 0);
    msgpack_unpacked_destroy(&unpacked);
    msgpack_sbuffer_destroy(&buf);
    return text;
}

static void s_expect(const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        print_error("got:\n%s\nwant:\n%s\n", got, want);
    assert_string_equal(got, want);
}

//  truc --json: checked UTF-8, short escapes, base64, quoted keys, floats.
static void test_strict_pretty(void **state)
{
    (void) state;
    char *got = s_print(0, NULL, PROTO_MPJSON_STRICT);
    s_expect(got, "{\n"
                  "  \"s\": \"a\\\"\\\\\\n\\t\\u0001\\u007f \xc3\xa9 \\ufffd\",\n"
                  "  \"n\": [\n"
                  "    1,\n"
                  "    -2,\n"
                  "    [],\n"
                  "    {}\n"
                  "  ],\n"
                  "  \"7\": true,\n"
                  "  \"f\": 1.5,\n"
                  "  \"b\": \"AQIDBA==\",\n"
                  "  \"x\": null,\n"
                  "  \"ok\": false,\n"
                  "  \"deep\": [\n"
                  "    [\n"
                  "      3\n"
                  "    ]\n"
                  "  ]\n"
                  "}");
    free(got);
}

//  truc --json for a reply on one line, without the "ok" key.
static void test_strict_one_line_without(void **state)
{
    (void) state;
    char *got = s_print(-1, "ok", PROTO_MPJSON_STRICT);
    s_expect(got, "{\"s\":\"a\\\"\\\\\\n\\t\\u0001\\u007f \xc3\xa9 \\ufffd\",\"n\":[1,-2,[],{}],"
                  "\"7\":true,\"f\":1.5,\"b\":\"AQIDBA==\",\"x\":null,\"deep\":[[3]]}");
    free(got);
}

//  truc-admin --json: bytes as they are, \u00XX for controls, null for
//  floats and bytes, bare keys, arrays closed at the start of the line.
static void test_plain_pretty(void **state)
{
    (void) state;
    char *got = s_print(0, NULL, PROTO_MPJSON_PLAIN);
    s_expect(got, "{\n"
                  "  \"s\": \"a\\\"\\\\\\u000a\\u0009\\u0001\x7f \xc3\xa9 \xff\",\n"
                  "  \"n\": [\n"
                  "    1,\n"
                  "    -2,\n"
                  "    [],\n"
                  "    {}\n"
                  "],\n"
                  "  7: true,\n"
                  "  \"f\": null,\n"
                  "  \"b\": null,\n"
                  "  \"x\": null,\n"
                  "  \"ok\": false,\n"
                  "  \"deep\": [\n"
                  "    [\n"
                  "      3\n"
                  "]\n"
                  "]\n"
                  "}");
    free(got);
}

//  Scalars on their own, and base64 padding for every length.
static void test_scalars(void **state)
{
    (void) state;
    static const struct {
        const char *bin;
        size_t len;
        const char *want;
    } cases[] = {
        { "", 0, "\"\"" },
        { "f", 1, "\"Zg==\"" },
        { "fo", 2, "\"Zm8=\"" },
        { "foo", 3, "\"Zm9v\"" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msgpack_object o = { .type = MSGPACK_OBJECT_BIN };
        o.via.bin.ptr = cases[i].bin;
        o.via.bin.size = (uint32_t) cases[i].len;
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        assert_non_null(out);
        proto_mpjson_write(out, &o, 0, PROTO_MPJSON_STRICT);
        assert_int_equal(fclose(out), 0);
        s_expect(text, cases[i].want);
        free(text);
    }
    msgpack_object nan = { .type = MSGPACK_OBJECT_FLOAT64 };
    nan.via.f64 = 0.0 / 0.0;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    proto_mpjson_write(out, &nan, -1, PROTO_MPJSON_STRICT);
    assert_int_equal(fclose(out), 0);
    s_expect(text, "null");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strict_pretty),
        cmocka_unit_test(test_strict_one_line_without),
        cmocka_unit_test(test_plain_pretty),
        cmocka_unit_test(test_scalars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
