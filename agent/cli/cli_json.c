/*  cli_json - msgpack values written as JSON, for `truc --json`.

    The agent speaks msgpack; scripts want JSON. The conversion is lossless
    for everything the agent sends (maps with string keys, strings, integers,
    booleans, nil, arrays); bin is base64 because JSON has no bytes.
*/
#include "cli_json.h"

#include <math.h>
#include <string.h>

#include "cli_out.h"

static void s_indent(FILE *out, int indent)
{
    fputc('\n', out);
    for (int i = 0; i < indent; i++)
        fputc(' ', out);
}

static void s_string(FILE *out, const char *text, size_t n)
{
    const unsigned char *p = (const unsigned char *) text;
    fputc('"', out);
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = cli_utf8_next(p + i, n - i, &cp);
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

//  JSON object keys must be strings: other scalar keys are quoted.
static void s_key(FILE *out, const msgpack_object *key)
{
    switch (key->type) {
    case MSGPACK_OBJECT_STR:
        s_string(out, key->via.str.ptr, key->via.str.size);
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

static void s_map(FILE *out, const msgpack_object *o, int indent, const char *skip)
{
    const msgpack_object_map *map = &o->via.map;
    bool first = true;
    fputc('{', out);
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object *key = &map->ptr[i].key;
        if (skip && key->type == MSGPACK_OBJECT_STR && key->via.str.size == strlen(skip) &&
            memcmp(key->via.str.ptr, skip, key->via.str.size) == 0)
            continue;
        if (!first)
            fputc(',', out);
        first = false;
        if (indent >= 0)
            s_indent(out, indent + 2);
        s_key(out, key);
        fputs(indent >= 0 ? ": " : ":", out);
        cli_json_write(out, &map->ptr[i].val, indent >= 0 ? indent + 2 : -1);
    }
    if (!first && indent >= 0)
        s_indent(out, indent);
    fputc('}', out);
}

void cli_json_write(FILE *out, const msgpack_object *o, int indent)
{
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
        if (isfinite(o->via.f64))
            fprintf(out, "%.17g", o->via.f64);
        else
            fputs("null", out);
        break;
    case MSGPACK_OBJECT_STR:
        s_string(out, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        s_base64(out, o->via.bin.ptr, o->via.bin.size);
        break;
    case MSGPACK_OBJECT_EXT:
        s_base64(out, o->via.ext.ptr, o->via.ext.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        fputc('[', out);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i)
                fputc(',', out);
            if (indent >= 0)
                s_indent(out, indent + 2);
            cli_json_write(out, &o->via.array.ptr[i], indent >= 0 ? indent + 2 : -1);
        }
        if (o->via.array.size && indent >= 0)
            s_indent(out, indent);
        fputc(']', out);
        break;
    case MSGPACK_OBJECT_MAP:
        s_map(out, o, indent, NULL);
        break;
    default:
        fputs("null", out);
    }
}

void cli_json_reply(FILE *out, const msgpack_object *reply, bool one_line)
{
    if (reply->type == MSGPACK_OBJECT_MAP)
        s_map(out, reply, one_line ? -1 : 0, "ok");
    else
        cli_json_write(out, reply, one_line ? -1 : 0);
    fputc('\n', out);
}
