/*  proto/agency.h - agency identifier codes and other small text checks.

    Agencies are named by the hierarchical code of Vietnam's agency
    identifier standard, four dot-separated groups read right to left:

        WWW.ZZ.YY.XNN     e.g. 000.00.01.H01

        XNN  level 1: one upper-case letter and two digits (ministry, province)
        YY   level 2: two digits, 00 if the agency is level 1
        ZZ   level 3: two digits, 00 if the agency is level 1 or 2
        WWW  level 4: three digits, 000 if the agency is level 1 to 3

    A lower level can only be non-zero if every level above it is non-zero:
    000.01.00.H01 is refused. The code is exactly 13 ASCII bytes.
*/
#ifndef PROTO_AGENCY_H
#define PROTO_AGENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PROTO_AGENCY_CODE_LEN 13 // bytes, without a terminating NUL

//  Check that the len bytes at code form a valid agency code. Returns
//  PROTO_OK or PROTO_ERR_AGENCY_CODE. code need not be NUL-terminated.
proto_err_t proto_agency_code_check(const char *code, size_t len) PROTO_MUST_CHECK;

//  The level of a valid code (1 to 4), or 0 if the code is invalid.
int proto_agency_code_level(const char *code, size_t len);

//  Broker identities are not agencies; they are named by a label of 1 to 64
//  bytes from [A-Za-z0-9._-], starting with a letter or digit.
#define PROTO_LABEL_MAX 64
proto_err_t proto_label_check(const char *label, size_t len) PROTO_MUST_CHECK;

//  Check that len bytes are well-formed UTF-8 (no overlongs, no surrogates,
//  nothing above U+10FFFF) and contain no NUL. On success *chars (if not NULL)
//  receives the number of code points. Returns PROTO_OK or PROTO_ERR_UTF8.
proto_err_t proto_utf8_check(const char *text, size_t len, size_t *chars) PROTO_MUST_CHECK;

//  Decode one UTF-8 sequence at p (n bytes available). Returns its length
//  (1 to 4) and sets *cp, or returns 0 if the bytes are not well-formed
//  UTF-8 (overlong, surrogate, above U+10FFFF, truncated) or n is 0. A NUL
//  byte decodes as U+0000.
size_t proto_utf8_next(const unsigned char *p, size_t n, uint32_t *cp);

#ifdef __cplusplus
}
#endif
#endif
