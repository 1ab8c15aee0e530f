/*  agent/text.c - text from the DMS in NFC (see text.h), with GNU
    libunistring, which proto/ already uses for attachment names.
*/
#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>
#include <uninorm.h>

//  The NFC form of s (malloc'd, *out_len bytes), or NULL when s is already
//  NFC-identical, not UTF-8, or memory runs out (the caller keeps s).
static uint8_t *s_nfc(const char *s, size_t len, size_t *out_len)
{
    const uint8_t *p = (const uint8_t *) s;
    bool ascii = true;
    for (size_t i = 0; i < len && ascii; i++)
        ascii = p[i] < 0x80;
    //  ASCII is its own NFC: the common case costs one scan.
    if (ascii || u8_check(p, len) != NULL)
        return NULL;
    uint8_t *nfc = u8_normalize(UNINORM_NFC, p, len, NULL, out_len);
    if (nfc && *out_len == len && memcmp(nfc, p, len) == 0) {
        free(nfc);
        return NULL;
    }
    return nfc;
}

static void s_pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    size_t nlen = 0;
    uint8_t *nfc = s_nfc(s, len, &nlen);
    if (nfc)
        msgpack_pack_str_with_body(pk, nfc, nlen);
    else
        msgpack_pack_str_with_body(pk, s, len);
    free(nfc);
}

void agent_text_pack_nfc(msgpack_packer *pk, const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
        s_pack_str(pk, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        msgpack_pack_array(pk, o->via.array.size);
        for (uint32_t i = 0; i < o->via.array.size; i++)
            agent_text_pack_nfc(pk, &o->via.array.ptr[i]);
        break;
    case MSGPACK_OBJECT_MAP:
        msgpack_pack_map(pk, o->via.map.size);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            agent_text_pack_nfc(pk, &o->via.map.ptr[i].key);
            agent_text_pack_nfc(pk, &o->via.map.ptr[i].val);
        }
        break;
    default:
        msgpack_pack_object(pk, *o);
    }
}

bool agent_text_nfc(char *buf, size_t cap)
{
    size_t nlen = 0;
    uint8_t *nfc = s_nfc(buf, strlen(buf), &nlen);
    if (!nfc)
        return true;
    bool fits = nlen < cap;
    if (fits) {
        memcpy(buf, nfc, nlen);
        buf[nlen] = '\0';
    }
    free(nfc);
    return fits;
}
