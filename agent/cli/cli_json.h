/*  cli_json - msgpack values written as JSON, for `truc --json`.

    Strings are escaped (invalid UTF-8 becomes U+FFFD, so the output is
    always valid JSON); bin and ext values become base64 strings (RFC 4648,
    with padding); map keys that are not strings are written as strings;
    NaN and infinities become null. Nothing here knows what a reply means.
*/
#ifndef CLI_JSON_H
#define CLI_JSON_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdio.h>

//  Write o as JSON to out. indent < 0 writes one line; indent >= 0
//  pretty-prints with two spaces per level, starting at that indent.
void cli_json_write(FILE *out, const msgpack_object *o, int indent);

//  Write a reply map as JSON without its "ok" key, then a newline. One line
//  if one_line, else pretty-printed. A value that is not a map is written
//  as it is.
void cli_json_reply(FILE *out, const msgpack_object *reply, bool one_line);

#endif
