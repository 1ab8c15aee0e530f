/*  cli_json - agent API replies written as JSON, for `truc --json`.

    The printing itself is proto/mpjson.h (PROTO_MPJSON_STRICT); this only
    knows that a reply's "ok" key is for truc, not for the script.
*/
#ifndef CLI_JSON_H
#define CLI_JSON_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdio.h>

//  Write a reply map as JSON without its "ok" key, then a newline. One line
//  if one_line, else pretty-printed. A value that is not a map is written
//  as it is.
void cli_json_reply(FILE *out, const msgpack_object *reply, bool one_line);

#endif
