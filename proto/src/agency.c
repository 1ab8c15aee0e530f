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

size_t proto_utf8_next(const unsigned char *p, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    unsigned char c = p[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        v = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        v = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return len;
}

proto_err_t proto_utf8_check(const char *text, size_t len, size_t *chars)
{
    const unsigned char *p = (const unsigned char *) text;
    size_t count = 0, i = 0;
    while (i < len) {
        uint32_t cp = 0;
        size_t n = proto_utf8_next(p + i, len - i, &cp);
        if (n == 0 || cp == 0)
            return PROTO_ERR_UTF8;
        i += n;
        count++;
    }
    if (chars)
        *chars = count;
    return PROTO_OK;
}
