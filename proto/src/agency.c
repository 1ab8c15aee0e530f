/*  agency.c - agency codes, labels and UTF-8 validation.

    These checks run on every field from the wire, so they are written to be
    obviously bounded: each looks at each byte at most once and never reads
    past len.
*/
#include "proto/agency.h"

#include <stdint.h>

static bool s_digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

static bool s_zeros(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != '0')
            return false;
    return true;
}

int proto_agency_code_level(const char *code, size_t len)
{
    //  Layout: WWW.ZZ.YY.XNN -> offsets 0,4,7,10
    if (!code || len != PROTO_AGENCY_CODE_LEN)
        return 0;
    if (code[3] != '.' || code[6] != '.' || code[9] != '.')
        return 0;
    const char *www = code, *zz = code + 4, *yy = code + 7, *xnn = code + 10;
    if (!s_digits(www, 3) || !s_digits(zz, 2) || !s_digits(yy, 2))
        return 0;
    if (xnn[0] < 'A' || xnn[0] > 'Z' || !s_digits(xnn + 1, 2) || s_zeros(xnn + 1, 2))
        return 0;
    bool l2 = !s_zeros(yy, 2), l3 = !s_zeros(zz, 2), l4 = !s_zeros(www, 3);
    if ((l3 && !l2) || (l4 && !l3))
        return 0;
    return l4 ? 4 : l3 ? 3 : l2 ? 2 : 1;
}

proto_err_t proto_agency_code_check(const char *code, size_t len)
{
    return proto_agency_code_level(code, len) ? PROTO_OK : PROTO_ERR_AGENCY_CODE;
}

proto_err_t proto_label_check(const char *label, size_t len)
{
    if (!label || len == 0 || len > PROTO_LABEL_MAX)
        return PROTO_ERR_VALUE;
    for (size_t i = 0; i < len; i++) {
        char c = label[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
            return PROTO_ERR_VALUE;
    }
    return PROTO_OK;
}

proto_err_t proto_utf8_check(const char *text, size_t len, size_t *chars)
{
    const uint8_t *p = (const uint8_t *) text;
    size_t count = 0, i = 0;
    while (i < len) {
        uint8_t c = p[i];
        size_t need;
        uint32_t cp, min;
        if (c == 0)
            return PROTO_ERR_UTF8;
        if (c < 0x80) {
            i++;
            count++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            need = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return PROTO_ERR_UTF8;
        }
        if (len - i - 1 < need)
            return PROTO_ERR_UTF8;
        for (size_t k = 1; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return PROTO_ERR_UTF8;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return PROTO_ERR_UTF8;
        i += need + 1;
        count++;
    }
    if (chars)
        *chars = count;
    return PROTO_OK;
}
