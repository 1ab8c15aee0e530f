/*  cli_json - agent API replies written as JSON, for `truc --json`.

    The agent speaks msgpack; scripts want JSON. proto/mpjson.h does the
    conversion, lossless for everything the agent sends (maps with string
    keys, strings, integers, booleans, nil, arrays; bin as base64).
*/
#include "cli_json.h"

#include "proto/mpjson.h"

void cli_json_reply(FILE *out, const msgpack_object *reply, bool one_line)
{
    proto_mpjson_write_without(out, reply, one_line ? -1 : 0, "ok", PROTO_MPJSON_STRICT);
    fputc('\n', out);
}
