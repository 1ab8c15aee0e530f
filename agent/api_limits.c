/*  agent/api_limits.c - the limits in force (see api_limits.h).

    A DMS that knows the limits before it sends can split or shrink a
    document instead of learning them from a refusal. Sizes are bytes,
    text limits are characters (Unicode code points, counted after the
    agent has normalised the text to NFC).
*/
#include "api_limits.h"

#include <string.h>

#include "api_internal.h"
#include "api_ref.h"

static void s_kv_known(msgpack_packer *pk, const char *key, uint64_t value, bool known)
{
    api_key(pk, key);
    if (known)
        msgpack_pack_uint64(pk, value);
    else
        msgpack_pack_nil(pk);
}

void api_limits_pack(const agent_t *self, msgpack_packer *pk)
{
    //  The broker's numbers come with READY; 0 means not heard yet.
    bool heard = self->max_frame != 0;
    static const struct {
        const char *key;
        uint64_t value;
    } envelope[] = {
        { "recipients", PROTO_MAX_RECIPIENTS },
        { "attachments", PROTO_MAX_ATTACHMENTS },
        { "refs", PROTO_MAX_REFS },
        { "subject", PROTO_MAX_SUBJECT },
        { "name", PROTO_MAX_NAME },
        { "short", PROTO_MAX_SHORT },
        { "text", PROTO_MAX_TEXT },
        { "content", PROTO_MAX_CONTENT },
        { "places", PROTO_MAX_PLACES },
        { "ext", PROTO_MAX_EXT },
        { "ext_value", PROTO_MAX_EXT_VALUE },
        { "client_ref", AGENT_CREF_MAX },
    };
    size_t n = sizeof envelope / sizeof envelope[0];
    msgpack_pack_map(pk, 6 + n);
    api_kv_u64(pk, "request", self->config->max_request);
    api_kv_u64(pk, "document", self->config->max_document);
    s_kv_known(pk, "broker_frame", self->max_frame, heard);
    s_kv_known(pk, "broker_document", self->max_document, heard);
    s_kv_known(pk, "broker_recipients", self->max_recipients, heard);
    s_kv_known(pk, "broker_attachments", self->max_attachments, heard);
    for (size_t i = 0; i < n; i++)
        api_kv_u64(pk, envelope[i].key, envelope[i].value);
}
