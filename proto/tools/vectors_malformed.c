/*  vectors_malformed.c - malformed.txt for truc-vectors: bodies every
    decoder must refuse, each with the error and the field a strict decoder
    names. The cases are written in a small text notation of msgpack (easier
    to read and review than C code building bytes) and checked against the
    library before they are written. Part of truc-vectors only.
*/
#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "proto/msg.h"
#include "vectors.h"

// ---------------------------------------------------------------------------
//  malformed.txt: bodies written in a small notation
//
//  Malformed bodies are easier to read and review as text than as C code
//  calling a packer. The notation, private to this file:
//
//      {k: v, ...}   map             [a, b, ...]   array
//      'text'        str (the bytes between the quotes, as written)
//      <00ff>        bin             `c1ff`        raw bytes, copied as they are
//      123  -5  1.5  integers (shortest form) and a float64
//      nil true false
//
//  A string, bin or raw value followed by *N is its content repeated N
//  times; an array followed by *N has its elements repeated N times. Commas
//  are optional. Several top-level values are written one after the other.

typedef struct {
    const char *p;    // next character
    const char *name; // the case, for error messages
} s_nt_t;

static void s_nt_fail(const s_nt_t *nt, const char *what) __attribute__((noreturn));

static void s_nt_fail(const s_nt_t *nt, const char *what)
{
    vec_die("malformed case %s: %s at \"%.20s\"", nt->name, what, nt->p);
}

static void s_nt_space(s_nt_t *nt)
{
    while (*nt->p == ' ' || *nt->p == ',' || *nt->p == '\n')
        nt->p++;
}

//  An optional "*N" after a value; 1 when absent.
static unsigned long s_nt_times(s_nt_t *nt)
{
    if (*nt->p != '*')
        return 1;
    char *end;
    nt->p++;
    unsigned long times = strtoul(nt->p, &end, 10);
    if (end == nt->p || times == 0 || times > 100000)
        s_nt_fail(nt, "bad repeat count");
    nt->p = end;
    return times;
}

static int s_nt_pack_write(void *data, const char *bytes, size_t len)
{
    vec_append(data, bytes, len);
    return 0;
}

static int s_nt_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

//  Hex digits up to the closing character into out.
static void s_nt_hex(s_nt_t *nt, char close, proto_buf_t *out)
{
    while (*nt->p != close) {
        if (*nt->p == ' ') {
            nt->p++;
            continue;
        }
        int hi = s_nt_hexval(nt->p[0]), lo = hi < 0 ? -1 : s_nt_hexval(nt->p[1]);
        if (lo < 0)
            s_nt_fail(nt, "bad hex");
        uint8_t byte = (uint8_t) (hi << 4 | lo);
        vec_append(out, &byte, 1);
        nt->p += 2;
    }
    nt->p++;
}

static void s_nt_value(s_nt_t *nt, proto_buf_t *out);

//  Elements up to close into items; returns how many (pairs for a map).
static size_t s_nt_elements(s_nt_t *nt, char close, bool pairs, proto_buf_t *items)
{
    size_t count = 0;
    for (;;) {
        s_nt_space(nt);
        if (*nt->p == close) {
            nt->p++;
            return count;
        }
        if (!*nt->p)
            s_nt_fail(nt, "unterminated container");
        s_nt_value(nt, items);
        if (pairs) {
            s_nt_space(nt);
            if (*nt->p != ':')
                s_nt_fail(nt, "expected ':'");
            nt->p++;
            s_nt_space(nt);
            s_nt_value(nt, items);
        }
        count++;
    }
}

static void s_nt_value(s_nt_t *nt, proto_buf_t *out)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, s_nt_pack_write);
    proto_buf_t tmp;
    proto_buf_init(&tmp);
    char c = *nt->p;
    if (c == '{' || c == '[') {
        nt->p++;
        size_t count = s_nt_elements(nt, c == '{' ? '}' : ']', c == '{', &tmp);
        unsigned long times = c == '[' ? s_nt_times(nt) : 1;
        if (c == '{')
            msgpack_pack_map(&pk, count);
        else
            msgpack_pack_array(&pk, count * times);
        for (unsigned long i = 0; i < times; i++)
            vec_append(out, tmp.data, tmp.len);
    } else if (c == '\'' || c == '<' || c == '`') {
        nt->p++;
        if (c == '\'') {
            const char *end = strchr(nt->p, '\'');
            if (!end)
                s_nt_fail(nt, "unterminated string");
            vec_append(&tmp, nt->p, (size_t) (end - nt->p));
            nt->p = end + 1;
        } else {
            s_nt_hex(nt, c == '<' ? '>' : '`', &tmp);
        }
        unsigned long times = s_nt_times(nt);
        size_t len = tmp.len * times;
        if (c == '\'')
            msgpack_pack_str(&pk, len);
        else if (c == '<')
            msgpack_pack_bin(&pk, len);
        for (unsigned long i = 0; i < times; i++)
            vec_append(out, tmp.data, tmp.len);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        char *end;
        size_t span = strspn(nt->p, "-0123456789.");
        if (memchr(nt->p, '.', span)) {
            msgpack_pack_double(&pk, strtod(nt->p, &end));
        } else if (c == '-') {
            msgpack_pack_int64(&pk, strtoll(nt->p, &end, 10));
        } else {
            msgpack_pack_uint64(&pk, strtoull(nt->p, &end, 10));
        }
        if (end != nt->p + span)
            s_nt_fail(nt, "bad number");
        nt->p = end;
    } else if (strncmp(nt->p, "nil", 3) == 0) {
        msgpack_pack_nil(&pk);
        nt->p += 3;
    } else if (strncmp(nt->p, "true", 4) == 0) {
        msgpack_pack_true(&pk);
        nt->p += 4;
    } else if (strncmp(nt->p, "false", 5) == 0) {
        msgpack_pack_false(&pk);
        nt->p += 5;
    } else {
        s_nt_fail(nt, "unexpected character");
    }
    proto_buf_free(&tmp);
}

static void s_nt_body(const char *name, const char *text, proto_buf_t *out)
{
    s_nt_t nt = { .p = text, .name = name };
    proto_buf_reset(out);
    for (;;) {
        s_nt_space(&nt);
        if (!*nt.p)
            return;
        s_nt_value(&nt, out);
    }
}

//  Building blocks. Each malformed case below breaks exactly one rule of
//  the schema (unless its description says otherwise), so any decoder that
//  follows PROTOCOL.md must refuse it with the same error, whatever order it
//  checks fields in.
#define ID1  "<000000000000400080000000000000d1>"
#define ID2  "<000000000000400080000000000000d2>"
#define H32  "<00>*32"
#define SIG  "<00>*64"
#define TIME "1735689600000"
#define DOC_MIN                                                                                    \
    "'id': " ID1 ", 'from': '000.00.00.H01', 'to': ['000.00.00.G09'], 'created': " TIME ", "       \
    "'type': 'Công văn', 'subject': 'Thử nghiệm'"
#define SUBMIT(doc_extra, extra) "{'doc': {" DOC_MIN doc_extra "}, 'sig': " SIG extra "}"
#define ATT(fields)              ", 'att': [{" fields "}]"
#define ATT_OK                   "'name': 'a.pdf', 'type': 'application/pdf', 'size': 3, 'hash': " H32
#define ENC(fields)              ATT(ATT_OK ", 'enc': {" fields "}")
#define ENC_OK                                                                                     \
    "'alg': 'xchacha20poly1305-secretstream+sealbox', 'header': <00>*24, 'chunk': 65536, "         \
    "'plain_hash': " H32
#define KEY(code) "{'agency': '" code "', 'key': <00>*80}"
#define HEAD(size)                                                                                 \
    "'head': {'signer': 'truc-broker-1', 'time': " TIME ", 'size': " size ", 'root': " H32 "}"
#define LEAF(event, extra)                                                                         \
    "{'event': " event ", 'id': " ID1 ", 'hash': " H32 ", 'from': '000.00.00.H01', "               \
    "'time': " TIME extra "}"
#define RECEIPTS(size, items) "{" HEAD(size) ", 'sig': " SIG ", 'items': [" items "]}"
#define ITEM(leaf, extra)     "{'leaf': " leaf ", 'index': 0" extra "}"
#define NOTICE(extra)                                                                              \
    "'id': " ID2 ", 'doc': " ID1 ", 'from': '000.00.00.G09', 'to': '000.00.00.H01', "              \
    "'time': " TIME extra
#define STATUS(notice_extra, extra) "{'notice': {" NOTICE(notice_extra) "}, 'sig': " SIG extra "}"
#define ENTRY(code, extra)                                                                         \
    "{'code': '" code "', 'name': 'Cơ quan', 'key': <11>*32, 'state': 0" extra "}"
#define DIRECTORY(entries)                                                                         \
    "{'serial': 7, 'time': " TIME ", 'broker': 'truc-broker-1', 'entries': [" entries              \
    "], 'sig': " SIG "}"
#define HELLO(extra) "{'versions': [1], 'agency': '000.00.00.H01', 'window': 8" extra "}"
#define READY(heartbeat, broker)                                                                   \
    "{'version': 1, 'broker': '" broker "', 'agency': '000.00.00.H01', 'time': " TIME              \
    ", 'heartbeat': " heartbeat ", 'dir_serial': 0, 'max_frame': 65536, 'max_document': "          \
    "1048576, 'max_recipients': 10, 'max_attachments': 10}"

typedef struct {
    const char *name;
    const char *kind; // kind name, or a number for an undefined kind
    const char *body; // in the notation above
    proto_err_t error;
    const char *field;
    const char *desc;
} s_bad_t;

static const s_bad_t s_bad[] = {
    //  Not msgpack at all, or not the one object the schema expects.
    { "empty", "HEARTBEAT", "", PROTO_ERR_MSGPACK, "", "an empty body" },
    { "truncated-map", "HEARTBEAT", "`81` 'time'", PROTO_ERR_MSGPACK, "",
      "a map of one entry whose value is missing" },
    { "truncated-uint64", "HEARTBEAT", "`81` 'time' `cf 00000194`", PROTO_ERR_MSGPACK, "",
      "a uint64 cut after four of its eight bytes" },
    { "truncated-str", "SUBMIT", "`82` 'doc' `a5 616263`", PROTO_ERR_MSGPACK, "",
      "a fixstr of 5 bytes with only 3 present" },
    { "huge-array32", "ACK", "{'mids': `ddffffffff`}", PROTO_ERR_MSGPACK, "",
      "an array32 declaring 4294967295 elements in a short body" },
    { "huge-map32", "HEARTBEAT", "`dfffffffff`", PROTO_ERR_MSGPACK, "",
      "a map32 declaring 4294967295 entries" },
    { "huge-array16", "ACK", "{'mids': `dc 0100 01 02`}", PROTO_ERR_MSGPACK, "",
      "an array16 declaring 256 elements with only 2 present" },
    { "huge-str32", "ERROR", "{'code': 200, 'message': `db ffffffff 616263`}", PROTO_ERR_MSGPACK,
      "", "a str32 declaring 4294967295 bytes" },
    { "huge-bin32", "SUBMIT", "{'sig': `c6ffffffff`}", PROTO_ERR_MSGPACK, "",
      "a bin32 declaring 4294967295 bytes" },
    { "huge-ext32", "HEARTBEAT", "{'time': `c9ffffffff01`}", PROTO_ERR_MSGPACK, "",
      "an ext32 declaring 4294967295 bytes" },
    { "huge-ext8", "HEARTBEAT", "{'time': `c7 ff 01 616263`}", PROTO_ERR_MSGPACK, "",
      "an ext8 declaring 255 bytes with only 4 present" },
    { "reserved-byte", "HEARTBEAT", "`c1`", PROTO_ERR_MSGPACK, "",
      "the reserved byte 0xc1 as the whole body" },
    { "reserved-byte-inside", "HEARTBEAT", "{'time': `c1`}", PROTO_ERR_MSGPACK, "",
      "the reserved byte 0xc1 as a value" },
    { "trailing-nil", "HEARTBEAT", "{'time': " TIME "} nil", PROTO_ERR_TRAILING, "",
      "a valid body followed by one nil byte" },
    { "trailing-map", "CREDIT", "{'window': 5} {'window': 6}", PROTO_ERR_TRAILING, "",
      "two bodies back to back" },
    { "deep-heartbeat", "HEARTBEAT", "{'time': [[[]]]}", PROTO_ERR_DEPTH, "",
      "arrays inside a body whose schema has no nesting" },
    { "deep-ext", "SUBMIT", SUBMIT(", 'ext': {'k': [[[[[[[1]]]]]]]}", ""), PROTO_ERR_DEPTH, "",
      "seven arrays nested in an extension value: ten levels where seven are allowed" },
    { "deep-arrays", "DIRECTORY",
      "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]"
      "]]]]]]]]]]]]]]]]]]",
      PROTO_ERR_DEPTH, "", "forty nested arrays" },
    { "random-bytes", "SUBMIT", "`c4b0e1a27d0f5c6e9d3348f1a7c2e5b09d1f4a6c88e2`", PROTO_ERR_MSGPACK,
      "", "arbitrary bytes: a bin8 declaring 176 bytes, 20 present" },
    { "random-bytes-2", "STATUS", "`3f8a1cd2e47b9065a1b3c5d7e9f00112`", PROTO_ERR_TRAILING, "",
      "arbitrary bytes: a positive fixint, then fifteen more" },
    { "undefined-kind", "7", "{'time': " TIME "}", PROTO_ERR_KIND, "",
      "a body for kind 7, which is not defined" },

    //  Well-formed msgpack, wrong shape.
    { "not-a-map", "HEARTBEAT", "[" TIME "]", PROTO_ERR_TYPE, "", "the body is an array" },
    { "string-body", "STATUS", "'notice'", PROTO_ERR_TYPE, "", "the body is a string" },
    { "integer-key", "HEARTBEAT", "{'time': " TIME ", 1: 2}", PROTO_ERR_TYPE, "",
      "a map key that is an integer" },
    { "missing-field", "HEARTBEAT", "{}", PROTO_ERR_MISSING, "time", "an empty map" },
    { "nil-required", "HEARTBEAT", "{'time': nil}", PROTO_ERR_MISSING, "time",
      "nil stands for absent, and time is required" },
    { "unknown-field", "HEARTBEAT", "{'time': " TIME ", 'extra': 1}", PROTO_ERR_UNKNOWN_FIELD,
      "extra", "a field the schema does not define" },
    { "duplicate-field", "HEARTBEAT", "{'time': 1, 'time': 2}", PROTO_ERR_DUP_FIELD, "time",
      "the same key twice" },
    { "string-for-int", "HEARTBEAT", "{'time': '1735689600000'}", PROTO_ERR_TYPE, "time",
      "a number written as text" },
    { "negative-int", "HEARTBEAT", "{'time': -1}", PROTO_ERR_TYPE, "time",
      "a negative integer where an unsigned one is required" },
    { "float-for-int", "HEARTBEAT", "{'time': 1.5}", PROTO_ERR_TYPE, "time",
      "a float where an unsigned integer is required" },
    { "ext-for-int", "HEARTBEAT", "{'time': `d40100`}", PROTO_ERR_TYPE, "time",
      "a fixext1 where an unsigned integer is required" },
    { "int-for-bool", "ERROR", "{'code': 200, 'message': 'x', 'fatal': 1}", PROTO_ERR_TYPE, "fatal",
      "an integer where a boolean is required" },
    { "str-for-bin", "ERROR", "{'code': 200, 'message': 'x', 'ref': '00000000000040008000'}",
      PROTO_ERR_TYPE, "ref", "an id written as text instead of 16 bytes" },

    //  Session messages: values out of range.
    { "credit-zero", "CREDIT", "{'window': 0}", PROTO_ERR_VALUE, "window",
      "a delivery credit of zero" },
    { "credit-over", "CREDIT", "{'window': 100001}", PROTO_ERR_LIMIT, "window",
      "a delivery credit over 100000" },
    { "hello-no-versions", "HELLO", "{'versions': [], 'agency': '000.00.00.H01', 'window': 8}",
      PROTO_ERR_MISSING, "versions", "an empty version list" },
    { "hello-many-versions", "HELLO", "{'versions': [1]*9, 'agency': '000.00.00.H01', 'window': 8}",
      PROTO_ERR_LIMIT, "versions", "nine versions where eight are allowed" },
    { "hello-version-zero", "HELLO", "{'versions': [0], 'agency': '000.00.00.H01', 'window': 8}",
      PROTO_ERR_VALUE, "versions[0]", "version 0 does not exist" },
    { "hello-agency-level", "HELLO", "{'versions': [1], 'agency': '000.01.00.H01', 'window': 8}",
      PROTO_ERR_AGENCY_CODE, "agency", "level 3 set while level 2 is zero" },
    { "hello-agency-lowercase", "HELLO",
      "{'versions': [1], 'agency': '000.00.00.h01', 'window': 8}", PROTO_ERR_AGENCY_CODE, "agency",
      "a lower-case letter in an agency code" },
    { "hello-agency-short", "HELLO", "{'versions': [1], 'agency': '00.00.00.H01', 'window': 8}",
      PROTO_ERR_AGENCY_CODE, "agency", "an agency code one digit short" },
    { "hello-link-and-agency", "HELLO",
      "{'versions': [1], 'agency': '000.00.00.H01', 'window': 8, 'link': 'province-h29'}",
      PROTO_ERR_VALUE, "agency", "a link's HELLO that also names an agency" },
    { "hello-link-label", "HELLO", "{'versions': [1], 'window': 8, 'link': '-province'}",
      PROTO_ERR_VALUE, "link", "a link named by something that is not a broker label" },
    { "hello-agency-dir-own", "HELLO",
      "{'versions': [1], 'agency': '000.00.00.H01', 'window': 8, 'dir_own': true}", PROTO_ERR_VALUE,
      "dir_own", "an agency's HELLO offering a broker's own agencies" },
    { "hello-link-route", "HELLO",
      "{'versions': [1], 'window': 8, 'link': 'province-h29', 'route': true}", PROTO_ERR_VALUE,
      "route", "a link's HELLO asking for DELIVER's route" },
    { "hello-neither", "HELLO", "{'versions': [1], 'window': 8}", PROTO_ERR_MISSING, "agency",
      "a HELLO naming neither an agency nor a link" },
    { "hello-software-utf8", "HELLO", HELLO(", 'software': 'truc\xc3\x28'"), PROTO_ERR_UTF8,
      "software", "a two-byte UTF-8 sequence whose second byte is not a continuation" },
    { "ready-heartbeat-low", "READY", READY("50", "truc-broker-1"), PROTO_ERR_VALUE, "heartbeat",
      "a heartbeat interval under 100 ms" },
    { "ready-heartbeat-high", "READY", READY("3600001", "truc-broker-1"), PROTO_ERR_LIMIT,
      "heartbeat", "a heartbeat interval over one hour" },
    { "ready-broker-label", "READY", READY("5000", "-broker"), PROTO_ERR_VALUE, "broker",
      "a broker label starting with '-'" },
    { "ack-zero-mid", "ACK", "{'mids': [1, 0]}", PROTO_ERR_VALUE, "mids[1]",
      "mailbox id 0 is never used" },
    { "ack-too-many", "ACK", "{'mids': [1]*4097}", PROTO_ERR_LIMIT, "mids",
      "4097 mailbox ids where 4096 are allowed" },
    { "error-code-zero", "ERROR", "{'code': 0, 'message': 'x'}", PROTO_ERR_VALUE, "code",
      "error code 0, below the range 1..999" },
    { "error-code-over", "ERROR", "{'code': 1000, 'message': 'x'}", PROTO_ERR_LIMIT, "code",
      "error code 1000, above the range 1..999" },
    { "error-unknown-code", "ERROR", "{'code': 199, 'message': 'x'}", PROTO_ERR_VALUE, "code",
      "an error code in range that is not defined" },
    { "error-overlong-utf8", "ERROR", "{'code': 200, 'message': '\xc0\xaf'}", PROTO_ERR_UTF8,
      "message", "an overlong encoding of '/'" },
    { "error-surrogate", "ERROR", "{'code': 200, 'message': '\xed\xa0\x80'}", PROTO_ERR_UTF8,
      "message", "an encoded UTF-16 surrogate (U+D800)" },
    { "error-nul", "ERROR", "{'code': 200, 'message': `a3610062`}", PROTO_ERR_UTF8, "message",
      "a NUL byte inside text" },
    { "error-above-unicode", "ERROR", "{'code': 200, 'message': '\xf4\x90\x80\x80'}",
      PROTO_ERR_UTF8, "message", "a code point above U+10FFFF" },
    { "error-ref-short", "ERROR", "{'code': 200, 'message': 'x', 'ref': <00>*15}", PROTO_ERR_VALUE,
      "ref", "an id of 15 bytes" },

    //  Documents.
    { "submit-no-sig", "SUBMIT", "{'doc': {" DOC_MIN "}}", PROTO_ERR_MISSING, "sig",
      "a document without its signature" },
    { "submit-no-doc", "SUBMIT", "{'sig': " SIG "}", PROTO_ERR_MISSING, "doc",
      "a signature without a document" },
    { "submit-sig-short", "SUBMIT", "{'doc': {" DOC_MIN "}, 'sig': <00>*63}", PROTO_ERR_VALUE,
      "sig", "a signature of 63 bytes" },
    { "submit-accepted", "SUBMIT", SUBMIT("", ", 'accepted': " TIME), PROTO_ERR_UNKNOWN_FIELD,
      "accepted", "a broker field in a message from an agent" },
    { "doc-unknown-field", "SUBMIT", SUBMIT(", 'colour': 'red'", ""), PROTO_ERR_UNKNOWN_FIELD,
      "doc.colour", "a document field the schema does not define" },
    { "doc-duplicate-field", "SUBMIT", SUBMIT(", 'subject': 'again'", ""), PROTO_ERR_DUP_FIELD,
      "doc.subject", "subject twice" },
    { "doc-no-subject", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H01', 'to': ['000.00.00.G09'], 'created': " TIME
      ", 'type': 'Công văn'}, 'sig': " SIG "}",
      PROTO_ERR_MISSING, "doc.subject", "a document without a subject" },
    { "doc-empty-type", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H01', 'to': ['000.00.00.G09'], 'created': " TIME
      ", 'type': '', 'subject': 'x'}, 'sig': " SIG "}",
      PROTO_ERR_VALUE, "doc.type", "an empty required text" },
    { "doc-subject-long", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H01', 'to': ['000.00.00.G09'], 'created': " TIME
      ", 'type': 'Công văn', 'subject': 'ệ'*501}, 'sig': " SIG "}",
      PROTO_ERR_LIMIT, "doc.subject", "501 characters (1503 bytes) where 500 are allowed" },
    { "doc-id-short", "SUBMIT",
      "{'doc': {'id': <00>*15, 'from': '000.00.00.H01', 'to': ['000.00.00.G09'], 'created': " TIME
      ", 'type': 'Công văn', 'subject': 'x'}, 'sig': " SIG "}",
      PROTO_ERR_VALUE, "doc.id", "a document id of 15 bytes" },
    { "doc-from-zero", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H00', 'to': ['000.00.00.G09'], 'created': " TIME
      ", 'type': 'Công văn', 'subject': 'x'}, 'sig': " SIG "}",
      PROTO_ERR_AGENCY_CODE, "doc.from", "level-1 number 00 does not exist" },
    { "doc-to-sender", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H01', 'to': ['000.00.00.H01'], 'created': " TIME
      ", 'type': 'Công văn', 'subject': 'x'}, 'sig': " SIG "}",
      PROTO_ERR_VALUE, "doc.to", "the sender among the recipients" },
    { "doc-to-repeat", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H01', 'to': ['000.00.00.G09', "
      "'000.00.00.G09'], 'created': " TIME ", 'type': 'Công văn', 'subject': 'x'}, 'sig': " SIG "}",
      PROTO_ERR_VALUE, "doc.to[1]", "a recipient listed twice" },
    { "doc-to-empty", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H01', 'to': [], 'created': " TIME
      ", 'type': 'Công văn', 'subject': 'x'}, 'sig': " SIG "}",
      PROTO_ERR_MISSING, "doc.to", "no recipients" },
    { "doc-to-not-text", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H01', 'to': [9], 'created': " TIME
      ", 'type': 'Công văn', 'subject': 'x'}, 'sig': " SIG "}",
      PROTO_ERR_TYPE, "doc.to[0]", "a recipient that is a number" },
    { "doc-date-feb29", "SUBMIT", SUBMIT(", 'date': '2025-02-29'", ""), PROTO_ERR_VALUE, "doc.date",
      "29 February of a year that is not a leap year" },
    { "doc-date-month", "SUBMIT", SUBMIT(", 'due': '2025-13-01'", ""), PROTO_ERR_VALUE, "doc.due",
      "month 13" },
    { "doc-date-form", "SUBMIT", SUBMIT(", 'date': '2025-1-05'", ""), PROTO_ERR_VALUE, "doc.date",
      "a date without its leading zero" },
    { "doc-date-old", "SUBMIT", SUBMIT(", 'date': '1899-12-31'", ""), PROTO_ERR_VALUE, "doc.date",
      "a date before 1900" },
    { "doc-urgency", "SUBMIT", SUBMIT(", 'urgency': 4", ""), PROTO_ERR_LIMIT, "doc.urgency",
      "urgency 4 does not exist" },
    { "doc-pages-zero", "SUBMIT", SUBMIT(", 'pages': 0", ""), PROTO_ERR_VALUE, "doc.pages",
      "a page count of 0 (absent means not given)" },
    { "doc-places-many", "SUBMIT", SUBMIT(", 'places': ['Lưu: VT']*65", ""), PROTO_ERR_LIMIT,
      "doc.places", "65 places where 64 are allowed" },
    { "doc-signer-unknown", "SUBMIT", SUBMIT(", 'signer': {'name': 'A', 'title': 'B'}", ""),
      PROTO_ERR_UNKNOWN_FIELD, "doc.signer.title", "a signer field the schema does not define" },
    { "doc-ref-no-agency", "SUBMIT", SUBMIT(", 'response_for': [{'code': '1/BTN'}]", ""),
      PROTO_ERR_MISSING, "doc.response_for[0].agency", "a reference without its agency" },
    { "doc-trace-no-time", "SUBMIT", SUBMIT(", 'trace': [{'agency': '000.01.01.H01'}]", ""),
      PROTO_ERR_MISSING, "doc.trace[0].time", "a hop without its time" },
    { "doc-trace-many", "SUBMIT",
      SUBMIT(", 'trace': [{'agency': '000.01.01.H01', 'time': 1}]*33", ""), PROTO_ERR_LIMIT,
      "doc.trace", "33 hops where 32 are allowed" },
    { "doc-ext-key", "SUBMIT", SUBMIT(", 'ext': {'Upper': 'x'}", ""), PROTO_ERR_VALUE, "doc.ext",
      "an extension key with an upper-case letter" },
    { "doc-ext-value", "SUBMIT", SUBMIT(", 'ext': {'k': 1}", ""), PROTO_ERR_TYPE, "doc.ext.k",
      "an extension value that is a number" },
    { "doc-ext-duplicate", "SUBMIT", SUBMIT(", 'ext': {'k': 'a', 'k': 'b'}", ""),
      PROTO_ERR_DUP_FIELD, "doc.ext.k", "an extension key twice" },
    { "doc-ext-array", "SUBMIT", SUBMIT(", 'ext': ['k', 'v']", ""), PROTO_ERR_TYPE, "doc.ext",
      "extensions as an array instead of a map" },
    { "submit-op-replace", "SUBMIT",
      SUBMIT(", 'op': 3, 'op_reason': 'x', 'op_refs': [" ID2 "]", ""), PROTO_ERR_VALUE, "doc.op",
      "a complete replacement sent as SUBMIT" },
    { "revoke-op-new", "REVOKE", SUBMIT("", ""), PROTO_ERR_VALUE, "doc.op",
      "a new document sent as REVOKE" },
    { "replace-no-reason", "REPLACE", SUBMIT(", 'op': 3, 'op_refs': [" ID2 "]", ""),
      PROTO_ERR_MISSING, "doc.op_reason", "a replacement without its reason" },
    { "replace-no-refs", "REPLACE", SUBMIT(", 'op': 3, 'op_reason': 'x'", ""), PROTO_ERR_MISSING,
      "doc.op_refs", "a replacement that names no document" },
    { "submit-refs-empty", "SUBMIT", SUBMIT(", 'op_refs': []", ""), PROTO_ERR_VALUE, "doc.op_refs",
      "an optional array present but below its minimum (op_refs of 0 ids)" },
    { "submit-reason", "SUBMIT", SUBMIT(", 'op_reason': 'x'", ""), PROTO_ERR_VALUE, "doc.op_reason",
      "a reason on a new document" },
    { "revoke-self", "REVOKE", SUBMIT(", 'op': 1, 'op_reason': 'x', 'op_refs': [" ID1 "]", ""),
      PROTO_ERR_VALUE, "doc.op_refs[0]", "a document that revokes itself" },
    { "revoke-many-refs", "REVOKE",
      SUBMIT(", 'op': 1, 'op_reason': 'x', 'op_refs': [" ID2 "]*17", ""), PROTO_ERR_LIMIT,
      "doc.op_refs", "17 targets where 16 are allowed" },
    { "op-unknown", "DELIVER",
      SUBMIT(", 'op': 4, 'op_reason': 'x', 'op_refs': [" ID2 "]", ", 'accepted': 1, 'seq': 1"),
      PROTO_ERR_LIMIT, "doc.op", "operation 4 does not exist (DELIVER carries any operation)" },
    { "att-slash", "SUBMIT",
      SUBMIT(ATT("'name': 'a/b.pdf', 'type': 'application/pdf', 'size': 3, 'hash': " H32), ""),
      PROTO_ERR_VALUE, "doc.att[0].name", "a file name with '/'" },
    { "att-backslash", "SUBMIT",
      SUBMIT(ATT("'name': 'a\\b.pdf', 'type': 'application/pdf', 'size': 3, 'hash': " H32), ""),
      PROTO_ERR_VALUE, "doc.att[0].name", "a file name with '\\'" },
    { "att-dotdot", "SUBMIT",
      SUBMIT(ATT("'name': '..', 'type': 'application/pdf', 'size': 3, 'hash': " H32), ""),
      PROTO_ERR_VALUE, "doc.att[0].name", "the file name '..'" },
    { "att-control", "SUBMIT",
      SUBMIT(ATT("'name': 'a\x01.pdf', 'type': 'application/pdf', 'size': 3, 'hash': " H32), ""),
      PROTO_ERR_VALUE, "doc.att[0].name", "a control character in a file name" },
    { "att-empty-name", "SUBMIT",
      SUBMIT(ATT("'name': '', 'type': 'application/pdf', 'size': 3, 'hash': " H32), ""),
      PROTO_ERR_VALUE, "doc.att[0].name", "an empty file name" },
    { "att-name-bytes", "SUBMIT",
      SUBMIT(ATT("'name': '\xe1\xbb\x87'*86, 'type': 'application/pdf', 'size': 3, 'hash': " H32),
             ""),
      PROTO_ERR_LIMIT, "doc.att[0].name",
      "a file name of 86 characters but 258 bytes of UTF-8, over the 255 a file system holds" },
    { "att-name-twice", "SUBMIT",
      SUBMIT(", 'att': [{" ATT_OK "}, {'name': 'A.PDF', 'type': 'application/pdf', 'size': 3, "
             "'hash': " H32 "}]",
             ""),
      PROTO_ERR_DUP_NAME, "doc.att[1].name", "two attachments named a.pdf and A.PDF" },
    { "att-name-twice-nfc", "SUBMIT",
      SUBMIT(", 'att': [{'name': 'Q\xc4\x91-\xe1\xbb\x87.pdf', 'type': 'application/pdf', "
             "'size': 3, 'hash': " H32 "}, {'name': 'q\xc4\x91-e\xcc\xa3\xcc\x82.pdf', "
             "'type': 'application/pdf', 'size': 3, 'hash': " H32 "}]",
             ""),
      PROTO_ERR_DUP_NAME, "doc.att[1].name",
      "two attachment names that differ only in case and Unicode form (NFC against NFD)" },
    { "att-type", "SUBMIT",
      SUBMIT(ATT("'name': 'a.pdf', 'type': 'pdf', 'size': 3, 'hash': " H32), ""), PROTO_ERR_VALUE,
      "doc.att[0].type", "a media type without '/'" },
    { "att-size", "SUBMIT",
      SUBMIT(ATT("'name': 'a.pdf', 'type': 'application/pdf', 'size': 1073741825, 'hash': " H32),
             ""),
      PROTO_ERR_LIMIT, "doc.att[0].size", "an attachment one byte over 1 GiB" },
    { "att-hash-short", "SUBMIT",
      SUBMIT(ATT("'name': 'a.pdf', 'type': 'application/pdf', 'size': 3, 'hash': <00>*31"), ""),
      PROTO_ERR_VALUE, "doc.att[0].hash", "a hash of 31 bytes" },
    { "att-no-hash", "SUBMIT",
      SUBMIT(ATT("'name': 'a.pdf', 'type': 'application/pdf', 'size': 3"), ""), PROTO_ERR_MISSING,
      "doc.att[0].hash", "an attachment without its hash" },
    { "att-many", "SUBMIT", SUBMIT(", 'att': [{" ATT_OK "}]*101", ""), PROTO_ERR_LIMIT, "doc.att",
      "101 attachments where 100 are allowed" },
    { "enc-alg", "SUBMIT",
      SUBMIT(ENC("'alg': 'aes-256-gcm', 'header': <00>*24, 'chunk': 65536, 'keys': [" KEY(
                 "000.00.00.G09") "]"),
             ""),
      PROTO_ERR_VALUE, "doc.att[0].enc.alg", "an encryption algorithm truc does not define" },
    { "enc-chunk", "SUBMIT",
      SUBMIT(ENC("'alg': 'xchacha20poly1305-secretstream+sealbox', 'header': <00>*24, 'chunk': "
                 "512, 'keys': [" KEY("000.00.00.G09") "]"),
             ""),
      PROTO_ERR_VALUE, "doc.att[0].enc.chunk", "chunks of 512 bytes where 1024 is the least" },
    { "enc-stranger", "SUBMIT", SUBMIT(ENC(ENC_OK ", 'keys': [" KEY("000.00.00.G01") "]"), ""),
      PROTO_ERR_VALUE, "doc.att[0].enc.keys[0].agency",
      "a file key sealed to an agency that is not a recipient" },
    { "enc-missing-key", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H01', 'to': ['000.00.00.G09', "
      "'000.00.01.H01'], 'created': " TIME ", 'type': 'Công văn', 'subject': 'x'" ENC(
          ENC_OK ", 'keys': [" KEY("000.00.00.G09") "]") "}, 'sig': " SIG "}",
      PROTO_ERR_VALUE, "doc.att[0].enc.keys", "two recipients but one sealed key" },
    { "enc-sealed-short", "SUBMIT",
      SUBMIT(ENC(ENC_OK ", 'keys': [{'agency': '000.00.00.G09', 'key': <00>*48}]"), ""),
      PROTO_ERR_VALUE, "doc.att[0].enc.keys[0].key", "a sealed key of 48 bytes" },
    { "enc-no-plain-hash", "SUBMIT",
      SUBMIT(ENC("'alg': 'xchacha20poly1305-secretstream+sealbox', 'header': <00>*24, 'chunk': "
                 "65536, 'keys': [" KEY("000.00.00.G09") "]"),
             ""),
      PROTO_ERR_MISSING, "doc.att[0].enc.plain_hash",
      "a sealed attachment without the hash of its plaintext" },
    { "enc-plain-hash-short", "SUBMIT",
      SUBMIT(ENC("'alg': 'xchacha20poly1305-secretstream+sealbox', 'header': <00>*24, 'chunk': "
                 "65536, 'plain_hash': <00>*31, 'keys': [" KEY("000.00.00.G09") "]"),
             ""),
      PROTO_ERR_VALUE, "doc.att[0].enc.plain_hash", "a plaintext hash of 31 bytes" },
    { "deliver-no-seq", "DELIVER", SUBMIT("", ", 'accepted': " TIME), PROTO_ERR_MISSING, "seq",
      "a delivery without the broker's sequence number" },
    { "deliver-seq-zero", "DELIVER", SUBMIT("", ", 'accepted': " TIME ", 'seq': 0"),
      PROTO_ERR_VALUE, "seq", "sequence number 0" },

    //  Receipts.
    { "receipt-event-kind", "ACCEPTED",
      RECEIPTS("1", ITEM(LEAF("3", ", 'to': '000.00.00.G09'"), "")), PROTO_ERR_VALUE,
      "items[0].leaf.event", "a delivery event in an ACCEPTED message" },
    { "receipt-event-over", "ACCEPTED", RECEIPTS("1", ITEM(LEAF("7", ""), "")), PROTO_ERR_LIMIT,
      "items[0].leaf.event",
      "event 7 does not exist (nor fits ACCEPTED: the range is checked first)" },
    { "receipt-event-zero", "ACCEPTED", RECEIPTS("1", ITEM(LEAF("0", ""), "")), PROTO_ERR_VALUE,
      "items[0].leaf.event", "event 0 does not exist" },
    { "receipt-index", "ACCEPTED",
      "{" HEAD("2") ", 'sig': " SIG ", 'items': [{'leaf': " LEAF("1", "") ", 'index': 2}]}",
      PROTO_ERR_LIMIT, "items[0].index", "leaf index 2 in a tree of 2 leaves" },
    { "receipt-more-items", "ACCEPTED",
      RECEIPTS("1", ITEM(LEAF("1", ""), "") ", " ITEM(LEAF("1", ""), "")), PROTO_ERR_VALUE, "items",
      "two items from a tree of one leaf (a rule between two fields)" },
    { "receipt-no-items", "ACCEPTED", RECEIPTS("1", ""), PROTO_ERR_MISSING, "items",
      "an empty item list" },
    { "receipt-size-zero", "ACCEPTED", RECEIPTS("0", ITEM(LEAF("1", ""), "")), PROTO_ERR_VALUE,
      "head.size", "a tree of no leaves" },
    { "receipt-no-head", "ACCEPTED", "{'sig': " SIG ", 'items': [" ITEM(LEAF("1", ""), "") "]}",
      PROTO_ERR_MISSING, "head", "receipts without their head" },
    { "receipt-signer", "ACCEPTED",
      "{'head': {'signer': 'trục', 'time': " TIME ", 'size': 1, 'root': " H32 "}, 'sig': " SIG
      ", 'items': [" ITEM(LEAF("1", ""), "") "]}",
      PROTO_ERR_VALUE, "head.signer", "a signer that is neither agency code nor label" },
    { "rejected-no-code", "REJECTED", RECEIPTS("1", ITEM(LEAF("2", ""), "")), PROTO_ERR_VALUE,
      "items[0].leaf.code", "a rejection that does not say why" },
    { "rejected-undefined-code", "REJECTED", RECEIPTS("1", ITEM(LEAF("2", ", 'code': 150"), "")),
      PROTO_ERR_VALUE, "items[0].leaf.code", "a rejection with an undefined error code" },
    { "rejected-code-zero", "REJECTED", RECEIPTS("1", ITEM(LEAF("2", ", 'code': 0"), "")),
      PROTO_ERR_VALUE, "items[0].leaf.code", "a rejection with code 0, the same as none" },
    { "rejected-code-over", "REJECTED", RECEIPTS("1", ITEM(LEAF("2", ", 'code': 1000"), "")),
      PROTO_ERR_LIMIT, "items[0].leaf.code",
      "code 1000: over the range, which is checked before the rule tying code to event" },
    { "accepted-with-code", "ACCEPTED", RECEIPTS("1", ITEM(LEAF("1", ", 'code': 200"), "")),
      PROTO_ERR_VALUE, "items[0].leaf.code", "an acceptance with an error code" },
    { "delivered-no-to", "DELIVERED", RECEIPTS("1", ITEM(LEAF("3", ""), "")), PROTO_ERR_MISSING,
      "items[0].leaf.to", "a delivery that does not name its recipient" },
    { "receipt-leaf-seq-zero", "ACCEPTED", RECEIPTS("1", ITEM(LEAF("1", ", 'seq': 0"), "")),
      PROTO_ERR_VALUE, "items[0].leaf.seq", "sequence number 0" },
    { "receipt-path-long", "ACCEPTED", RECEIPTS("1", ITEM(LEAF("1", ""), ", 'path': [" H32 "]*65")),
      PROTO_ERR_LIMIT, "items[0].path", "an audit path of 65 hashes" },
    { "receipt-path-node", "ACCEPTED", RECEIPTS("1", ITEM(LEAF("1", ""), ", 'path': [<00>*31]")),
      PROTO_ERR_VALUE, "items[0].path[0]", "a path node of 31 bytes" },
    { "receipt-deep", "ACCEPTED", RECEIPTS("1", ITEM(LEAF("1", ", 'reason': [['x']]"), "")),
      PROTO_ERR_DEPTH, "", "arrays nested inside a leaf: six levels where four are allowed" },

    //  STATUS.
    { "status-code-seven", "STATUS", STATUS(", 'code': 7", ""), PROTO_ERR_VALUE, "notice.code",
      "status code 07 is not defined" },
    { "status-code-zero", "STATUS", STATUS(", 'code': 0", ""), PROTO_ERR_VALUE, "notice.code",
      "status code 00 is not defined" },
    { "status-code-over", "STATUS", STATUS(", 'code': 17", ""), PROTO_ERR_LIMIT, "notice.code",
      "status code 17 is over the largest, 16" },
    { "status-to-self", "STATUS",
      "{'notice': {'id': " ID2 ", 'doc': " ID1 ", 'from': '000.00.00.G09', 'to': "
      "'000.00.00.G09', 'time': " TIME ", 'code': 1}, 'sig': " SIG "}",
      PROTO_ERR_VALUE, "notice.to", "a notice to its own sender" },
    { "status-no-notice", "STATUS", "{'sig': " SIG "}", PROTO_ERR_MISSING, "notice",
      "a signature without a notice" },
    { "status-staff-unknown", "STATUS", STATUS(", 'code': 1, 'staff': {'fax': '1'}", ""),
      PROTO_ERR_UNKNOWN_FIELD, "notice.staff.fax", "a staff field the schema does not define" },
    { "status-mid-zero", "STATUS", STATUS(", 'code': 1", ", 'mid': 0"), PROTO_ERR_VALUE, "mid",
      "mailbox id 0" },

//  FORWARD (section 16.7): the hop's own fields, and a carried body
//  that is checked as the sender's kind.
#define FORWARD(kind, body, extra)                                                                 \
    "{'kind': " kind ", 'body': " body ", 'to': ['000.00.00.G09'], "                               \
    "'trace': [{'broker': 'province-h29', 'time': 1735689600000}]" extra "}"
    { "forward-kind-deliver", "FORWARD", FORWARD("30", "<80>", ""), PROTO_ERR_VALUE, "kind",
      "a FORWARD carries what a sender sends, never a DELIVER" },
    { "forward-body-empty", "FORWARD", FORWARD("10", "<>", ""), PROTO_ERR_LIMIT, "body",
      "a carried body of no bytes" },
    { "forward-body-str", "FORWARD", FORWARD("10", "'body'", ""), PROTO_ERR_TYPE, "body",
      "the carried body as a string, not the sender's bytes" },
    { "forward-body-reserved", "FORWARD", FORWARD("10", "<c1>", ""), PROTO_ERR_MSGPACK, "body",
      "a carried body that is not msgpack" },
    { "forward-body-no-sig", "FORWARD", FORWARD("10", "<80>", ""), PROTO_ERR_MISSING, "body.sig",
      "a carried body that is not a SUBMIT: an empty map" },
    { "forward-unknown-field", "FORWARD", FORWARD("10", "<80>", ", 'hops': 1"),
      PROTO_ERR_UNKNOWN_FIELD, "hops", "a field FORWARD does not define" },
#undef FORWARD

    //  DIRECTORY.
    { "directory-unsorted", "DIRECTORY",
      DIRECTORY(ENTRY("000.00.00.H01", "") ", " ENTRY("000.00.00.G09", "")), PROTO_ERR_VALUE,
      "entries[1].code", "entries out of order" },
    { "directory-repeat", "DIRECTORY",
      DIRECTORY(ENTRY("000.00.00.G09", "") ", " ENTRY("000.00.00.G09", "")), PROTO_ERR_VALUE,
      "entries[1].code", "the same agency twice" },
    { "directory-state-twice", "DIRECTORY", DIRECTORY(ENTRY("000.00.00.G09", ", 'state': 3")),
      PROTO_ERR_DUP_FIELD, "entries[0].state", "state given twice" },
    { "directory-state-over", "DIRECTORY",
      DIRECTORY("{'code': '000.00.00.G09', 'name': 'Cơ quan', 'key': <11>*32, 'state': 3}"),
      PROTO_ERR_LIMIT, "entries[0].state", "state 3 does not exist" },
    { "directory-window", "DIRECTORY",
      DIRECTORY(ENTRY("000.00.00.G09", ", 'from': 1735689600, 'until': 1735689600")),
      PROTO_ERR_VALUE, "entries[0].until", "a validity window that ends where it starts" },
    { "directory-key-short", "DIRECTORY",
      DIRECTORY("{'code': '000.00.00.G09', 'name': 'Cơ quan', 'key': <11>*31, 'state': 0}"),
      PROTO_ERR_VALUE, "entries[0].key", "a public key of 31 bytes" },
    { "directory-serial-zero", "DIRECTORY",
      "{'serial': 0, 'time': " TIME ", 'broker': 'truc-broker-1', 'entries': [], 'sig': " SIG "}",
      PROTO_ERR_VALUE, "serial", "serial 0 is never used" },
    { "directory-code", "DIRECTORY", DIRECTORY(ENTRY("000.00.00.G9", "")), PROTO_ERR_AGENCY_CODE,
      "entries[0].code", "an agency code one digit short" },
};

static int s_kind_by_name(const char *name)
{
    for (int kind = 0; kind < 256; kind++)
        if (proto_kind_name(kind) && strcmp(proto_kind_name(kind), name) == 0)
            return kind;
    char *end;
    long kind = strtol(name, &end, 10);
    if (*name && !*end && kind >= 0 && kind < 256 && !proto_kind_name((int) kind))
        return (int) kind;
    vec_die("no kind %s", name);
}

void vectors_malformed_write(const char *dir)
{
    vec_out_t out;
    proto_buf_t body;
    proto_buf_init(&body);
    vec_out_open(&out, dir, "malformed.txt", "bodies every decoder must refuse");
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        const s_bad_t *bad = &s_bad[i];
        int kind = s_kind_by_name(bad->kind);
        proto_msg_t *msg = NULL;
        proto_errinfo_t info;
        s_nt_body(bad->name, bad->body, &body);
        proto_err_t rc = proto_msg_decode(kind, body.data, body.len, &msg, &info);
        proto_msg_destroy(&msg);
        if (rc != bad->error || info.code != rc || strcmp(info.field, bad->field) != 0)
            vec_die("malformed case %s: expected %s at '%s', the library says %s at '%s' (%s)",
                    bad->name, proto_errname(bad->error), bad->field, proto_errname(rc), info.field,
                    info.message);
        for (size_t j = 0; j < i; j++)
            if (strcmp(s_bad[j].name, bad->name) == 0)
                vec_die("malformed case %s twice", bad->name);
        vec_block(&out, NULL);
        vec_field(&out, "name", "%s", bad->name);
        vec_field(&out, "kind", "%s", bad->kind);
        vec_field_hex(&out, "body", body.data, body.len);
        vec_field(&out, "error", "%s", proto_errname(bad->error));
        vec_field(&out, "field", "%s", bad->field);
        vec_field(&out, "desc", "%s", bad->desc);
    }
    proto_buf_free(&body);
    vec_out_close(&out);
}
