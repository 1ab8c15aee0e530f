/*  keywin.c - retired keys and their windows. See proto/keywin.h.

    The scan over retired keys is linear on purpose: an agency keeps at most
    PROTO_KEYWIN_MAX of them, and the current key is tried first, so a
    rotation costs extra checks only for what was signed with an old key.
*/
#include "proto/keywin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/directory.h"

bool proto_keywin_holds(const proto_keywin_t *w, uint64_t t)
{
    return w && (!w->from || t >= w->from) && t < w->until;
}

proto_err_t proto_keywin_verify(const uint8_t current[32], const proto_keywin_t *retired, size_t n,
                                uint64_t t, proto_keywin_check_fn check, const void *arg)
{
    if (!current || !check || (!retired && n > 0))
        return PROTO_ERR_INVALID_ARG;
    if (check(current, arg))
        return PROTO_OK;
    for (size_t i = 0; i < n; i++)
        if (proto_keywin_holds(&retired[i], t) && check(retired[i].key, arg))
            return PROTO_OK;
    //  Only now the keys whose window does not hold t: a match means the
    //  signer used a retired key too late (or claims a time from before
    //  the key was issued), which an operator should hear by name.
    for (size_t i = 0; i < n; i++)
        if (!proto_keywin_holds(&retired[i], t) && check(retired[i].key, arg))
            return PROTO_ERR_KEY_RETIRED;
    return PROTO_ERR_BAD_SIGNATURE;
}

proto_err_t proto_keywin_check(const proto_keywin_t *retired, size_t n)
{
    if (n > PROTO_KEYWIN_MAX)
        return PROTO_ERR_LIMIT;
    if (!retired && n > 0)
        return PROTO_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++) {
        if (!retired[i].until || (retired[i].from && retired[i].from >= retired[i].until))
            return PROTO_ERR_VALUE;
        for (size_t j = 0; j < i; j++)
            if (memcmp(retired[j].key, retired[i].key, sizeof retired[i].key) == 0)
                return PROTO_ERR_VALUE;
    }
    return PROTO_OK;
}

proto_err_t proto_keywin_retire(proto_keywin_t *retired, size_t *n, const uint8_t key[32],
                                uint64_t from, uint64_t now, uint64_t grace)
{
    if (!retired || !n || !key || *n > PROTO_KEYWIN_MAX)
        return PROTO_ERR_INVALID_ARG;
    for (size_t i = 0; i < *n; i++)
        if (memcmp(retired[i].key, key, sizeof retired[i].key) == 0)
            return PROTO_ERR_EXISTS;
    if (*n == PROTO_KEYWIN_MAX) {
        //  Drop the oldest window that has closed. Dropping one that still
        //  holds the present would refuse documents in flight: then the
        //  operator must wait for it to close.
        size_t drop = 0;
        while (drop < *n && retired[drop].until > now)
            drop++;
        if (drop == *n)
            return PROTO_ERR_LIMIT;
        memmove(retired + drop, retired + drop + 1, (*n - drop - 1) * sizeof *retired);
        (*n)--;
    }
    proto_keywin_t *w = &retired[*n];
    memcpy(w->key, key, sizeof w->key);
    //  A grace of 0 still leaves a one-second window: what the key signed
    //  up to the second of the rotation stays valid.
    w->until = now + (grace ? grace : 1);
    w->from = from < w->until ? from : 0;
    (*n)++;
    return PROTO_OK;
}

proto_err_t proto_keywin_parse(const char *text, proto_keywin_t *out, size_t *n)
{
    if (!text || !out || !n)
        return PROTO_ERR_INVALID_ARG;
    *n = 0;
    const char *p = text;
    while (*p) {
        if (*n == PROTO_KEYWIN_MAX)
            return PROTO_ERR_LIMIT;
        proto_keywin_t *w = &out[*n];
        char hex[65], from[PROTO_DIRECTORY_TIME_LEN + 1], until[PROTO_DIRECTORY_TIME_LEN + 1];
        int used = 0;
        //  Exactly three words and one space between windows; sscanf's
        //  widths keep every word inside its buffer.
        if (sscanf(p, "%64s %20s %20s%n", hex, from, until, &used) != 3 || p[0] == ' ')
            return PROTO_ERR_VALUE;
        if (strlen(hex) != 64 || proto_hex_decode(hex, w->key, sizeof w->key) != PROTO_OK)
            return PROTO_ERR_VALUE;
        int64_t t = 0;
        if (strcmp(from, "-") == 0)
            w->from = 0;
        else if (proto_directory_time_parse(from, &t) == PROTO_OK)
            w->from = (uint64_t) t;
        else
            return PROTO_ERR_VALUE;
        if (proto_directory_time_parse(until, &t) != PROTO_OK)
            return PROTO_ERR_VALUE;
        w->until = (uint64_t) t;
        (*n)++;
        p += used;
        if (*p == ' ' && p[1] != '\0' && p[1] != ' ')
            p++;
        else if (*p)
            return PROTO_ERR_VALUE;
    }
    return proto_keywin_check(out, *n);
}

void proto_keywin_format(const proto_keywin_t *retired, size_t n, char buf[PROTO_KEYWIN_TEXT_MAX])
{
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && i < PROTO_KEYWIN_MAX; i++) {
        char hex[65], from[PROTO_DIRECTORY_TIME_LEN + 1], until[PROTO_DIRECTORY_TIME_LEN + 1];
        proto_hex_encode(retired[i].key, sizeof retired[i].key, hex);
        if (retired[i].from)
            proto_directory_time_format((int64_t) retired[i].from, from);
        else
            snprintf(from, sizeof from, "-");
        proto_directory_time_format((int64_t) retired[i].until, until);
        int w = snprintf(buf + pos, PROTO_KEYWIN_TEXT_MAX - pos, "%s%s %s %s", i ? " " : "", hex,
                         from, until);
        if (w > 0)
            pos += (size_t) w;
    }
}
