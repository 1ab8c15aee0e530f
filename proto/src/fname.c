/*  fname.c - attachment file names: the byte limit, the forbidden names and
    characters, and "the same name" after case folding and NFC.

    The decoder runs this on every document the broker and the agents see,
    so it is bounded by the protocol's limits: at most 100 names of at most
    255 bytes, each folded once.
*/
#include "proto/fname.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unistr.h>
#include <uninorm.h>

proto_err_t proto_fname_check(const char *name, size_t len, const char **why)
{
    const char *reason = NULL;
    proto_err_t rc = PROTO_OK;
    if (len > PROTO_MAX_NAME_BYTES) {
        reason = "over 255 bytes of UTF-8, more than a file system holds in one name";
        rc = PROTO_ERR_LIMIT;
    } else if (len == 0 || (len == 1 && name[0] == '.') ||
               (len == 2 && name[0] == '.' && name[1] == '.')) {
        reason = "a file name may not be empty, . or ..";
        rc = PROTO_ERR_VALUE;
    } else {
        for (size_t i = 0; i < len && !rc; i++) {
            unsigned char c = (unsigned char) name[i];
            if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') {
                reason = "a file name may not contain / \\ or control characters";
                rc = PROTO_ERR_VALUE;
            }
        }
    }
    if (why)
        *why = reason;
    return rc;
}

typedef struct {
    uint8_t *bytes;
    size_t len;
} s_key_t;

proto_err_t proto_fname_find_twice(const char *const *names, size_t n, size_t *first,
                                   size_t *second)
{
    if (n < 2)
        return PROTO_OK;
    s_key_t *keys = calloc(n, sizeof *keys);
    if (!keys)
        return PROTO_ERR_NOMEM;
    proto_err_t rc = PROTO_OK;
    //  Fold each name once: toCasefold then NFC, Unicode's canonical caseless
    //  match up to the final normal form, which only has to be the same for
    //  both sides of a comparison. The language argument stays NULL: Turkish
    //  dotless i rules must not make two agencies disagree.
    for (size_t i = 0; i < n && !rc; i++) {
        const uint8_t *s = (const uint8_t *) names[i];
        size_t len = strlen(names[i]);
        if (u8_check(s, len) != NULL) {
            rc = PROTO_ERR_UTF8;
            break;
        }
        keys[i].bytes = u8_casefold(s, len, NULL, UNINORM_NFC, NULL, &keys[i].len);
        if (!keys[i].bytes)
            rc = PROTO_ERR_NOMEM;
    }
    //  At most 100 names: comparing every pair of short keys costs less than
    //  sorting them would in code.
    for (size_t j = 1; j < n && !rc; j++)
        for (size_t i = 0; i < j && !rc; i++)
            if (keys[i].len == keys[j].len &&
                memcmp(keys[i].bytes, keys[j].bytes, keys[i].len) == 0) {
                *first = i;
                *second = j;
                rc = PROTO_ERR_DUP_NAME;
            }
    for (size_t i = 0; i < n; i++)
        free(keys[i].bytes);
    free(keys);
    return rc;
}
