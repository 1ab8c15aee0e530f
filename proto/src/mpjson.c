/*  mpjson.c - msgpack values written as JSON (proto/mpjson.h).

    Writes straight to a stdio stream, so nothing here allocates and a
    failed write only leaves the stream's error flag set for the caller.
    Recursion follows the value's nesting, which the msgpack unpacker has
    already bounded. The two styles differ only in the few places the header
    lists; everything else is one code path.
*/
#include "proto/mpjson.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "proto/agency.h"

static void s_write(FILE *out, const msgpack_object *o, int indent, const char *skip,
                    proto_mpjson_style_t style);

static void s_indent(FILE *out, int indent)
{
    fputc('\n', out);
    for (int i = 0; i < indent; i++)
        fputc(' ', out);
}

//  truc-admin's strings: the bytes as they are, with only what JSON
//  requires escaped.
static void s_string_plain(FILE *out, const char *text, size_t n)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) text[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void s_string(FILE *out, const char *text, size_t n, proto_mpjson_style_t style)
{
    if (style == PROTO_MPJSON_PLAIN) {
        s_string_plain(out, text, n);
        return;
    }
    const unsigned char *p = (const unsigned char *) text;
    fputc('"', out);
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = proto_utf8_next(p + i, n - i, &cp);
        if (len == 0) {
            fputs("\\ufffd", out);
            i++;
            continue;
        }
        if (len > 1) {
            fwrite(p + i, 1, len, out);
        } else if (cp == '"' || cp == '\\') {
            fputc('\\', out);
            fputc((int) cp, out);
        } else if (cp == '\n') {
            fputs("\\n", out);
        } else if (cp == '\r') {
            fputs("\\r", out);
        } else if (cp == '\t') {
            fputs("\\t", out);
        } else if (cp < 0x20 || cp == 0x7f) {
            fprintf(out, "\\u%04x", (unsigned) cp);
        } else {
            fputc((int) cp, out);
        }
        i += len;
    }
    fputc('"', out);
}

static void s_base64(FILE *out, const char *data, size_t n)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *) data;
    fputc('"', out);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t) p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t) p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        fputc(digits[(v >> 18) & 63], out);
        fputc(digits[(v >> 12) & 63], out);
        fputc(i + 1 < n ? digits[(v >> 6) & 63] : '=', out);
        fputc(i + 2 < n ? digits[v & 63] : '=', out);
    }
    fputc('"', out);
}

//  JSON object keys must be strings: in the strict style other scalar keys
//  are quoted. The plain style writes a key like any value.
static void s_key(FILE *out, const msgpack_object *key, int indent, proto_mpjson_style_t style)
{
    if (style == PROTO_MPJSON_PLAIN) {
        s_write(out, key, indent, NULL, style);
        return;
    }
    switch (key->type) {
    case MSGPACK_OBJECT_STR:
        s_string(out, key->via.str.ptr, key->via.str.size, style);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        fprintf(out, "\"%llu\"", (unsigned long long) key->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        fprintf(out, "\"%lld\"", (long long) key->via.i64);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        fputs(key->via.boolean ? "\"true\"" : "\"false\"", out);
        break;
    case MSGPACK_OBJECT_BIN:
        s_base64(out, key->via.bin.ptr, key->via.bin.size);
        break;
    default:
        fputs("\"\"", out);
    }
}

static bool s_is_key(const msgpack_object *key, const char *name)
{
    return name && key->type == MSGPACK_OBJECT_STR && key->via.str.size == strlen(name) &&
           memcmp(key->via.str.ptr, name, key->via.str.size) == 0;
}

static void s_map(FILE *out, const msgpack_object *o, int indent, const char *skip,
                  proto_mpjson_style_t style)
{
    const msgpack_object_map *map = &o->via.map;
    bool first = true;
    fputc('{', out);
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *key = &map->ptr[i].key;
        if (s_is_key(key, skip))
            continue;
        if (!first)
            fputc(',', out);
        first = false;
        if (indent >= 0)
            s_indent(out, indent + 2);
        s_key(out, key, indent >= 0 ? indent + 2 : -1, style);
        fputs(indent >= 0 ? ": " : ":", out);
        s_write(out, &map->ptr[i].val, indent >= 0 ? indent + 2 : -1, NULL, style);
    }
    if (!first && indent >= 0)
        s_indent(out, indent);
    fputc('}', out);
}

static void s_array(FILE *out, const msgpack_object *o, int indent, proto_mpjson_style_t style)
{
    fputc('[', out);
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        if (i)
            fputc(',', out);
        if (indent >= 0)
            s_indent(out, indent + 2);
        s_write(out, &o->via.array.ptr[i], indent >= 0 ? indent + 2 : -1, NULL, style);
    }
    //  truc-admin has always closed its arrays at the start of the line.
    if (o->via.array.size && indent >= 0)
        s_indent(out, style == PROTO_MPJSON_PLAIN ? 0 : indent);
    fputc(']', out);
}

static void s_write(FILE *out, const msgpack_object *o, int indent, const char *skip,
                    proto_mpjson_style_t style)
{
    bool plain = style == PROTO_MPJSON_PLAIN;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        fputs("null", out);
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        fputs(o->via.boolean ? "true" : "false", out);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        fprintf(out, "%llu", (unsigned long long) o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        fprintf(out, "%lld", (long long) o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!plain && isfinite(o->via.f64))
            fprintf(out, "%.17g", o->via.f64);
        else
            fputs("null", out);
        break;
    case MSGPACK_OBJECT_STR:
        s_string(out, o->via.str.ptr, o->via.str.size, style);
        break;
    case MSGPACK_OBJECT_BIN:
        if (plain)
            fputs("null", out);
        else
            s_base64(out, o->via.bin.ptr, o->via.bin.size);
        break;
    case MSGPACK_OBJECT_EXT:
        if (plain)
            fputs("null", out);
        else
            s_base64(out, o->via.ext.ptr, o->via.ext.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        s_array(out, o, indent, style);
        break;
    case MSGPACK_OBJECT_MAP:
        s_map(out, o, indent, skip, style);
        break;
    default:
        fputs("null", out);
    }
}

void proto_mpjson_write(FILE *out, const msgpack_object *o, int indent, proto_mpjson_style_t style)
{
    s_write(out, o, indent, NULL, style);
}

void proto_mpjson_write_without(FILE *out, const msgpack_object *o, int indent, const char *skip,
                                proto_mpjson_style_t style)
{
    s_write(out, o, indent, skip, style);
}
