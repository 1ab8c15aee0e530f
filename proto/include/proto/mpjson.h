/*  proto/mpjson.h - msgpack values written as JSON, for people and scripts.

    The daemons answer their command-line tools in msgpack; `truc --json`
    and `truc-admin --json` print those answers as JSON. This module is the
    one printer both use. It writes what it is given and knows nothing of
    what a reply means.

    Two styles, because scripts already read what each tool has printed and
    the output stays byte for byte what it was:
      - PROTO_MPJSON_STRICT (truc): strings are checked as UTF-8 (invalid
        bytes become U+FFFD, so the output is always valid JSON), \n \r \t
        use their short escapes, DEL is escaped; bin and ext values become
        base64 strings (RFC 4648, with padding); map keys that are not
        strings are written as strings; floats are printed, NaN and
        infinities become null;
      - PROTO_MPJSON_PLAIN (truc-admin): string bytes are copied as they
        are except '"', '\' and control characters below 0x20 (\u00XX);
        floats, bin and ext become null; keys are written like values; a
        non-empty array closes at the start of its line.
*/
#ifndef PROTO_MPJSON_H
#define PROTO_MPJSON_H

#include <msgpack.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    PROTO_MPJSON_STRICT = 0, // what truc prints
    PROTO_MPJSON_PLAIN = 1,  // what truc-admin prints
} proto_mpjson_style_t;

//  Write o as JSON to out in style. indent < 0 writes one line; indent >= 0
//  pretty-prints with two spaces per level, starting at that indent. No
//  newline after the value. Nesting is as deep as the msgpack decoder
//  allowed (the caller's unpacker bounds it).
void proto_mpjson_write(FILE *out, const msgpack_object *o, int indent, proto_mpjson_style_t style);

//  proto_mpjson_write, except that if o is a map its entries whose key is
//  the string skip (may be NULL: none) are left out.
void proto_mpjson_write_without(FILE *out, const msgpack_object *o, int indent, const char *skip,
                                proto_mpjson_style_t style);

#ifdef __cplusplus
}
#endif
#endif
