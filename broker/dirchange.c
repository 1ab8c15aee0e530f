/*  broker/dirchange.c - what a directory reload may change, and what it did. */
#include "dirchange.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void s_errf(char *errbuf, size_t errlen, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void s_errf(char *errbuf, size_t errlen, const char *format, ...)
{
    if (!errbuf || !errlen)
        return;
    va_list args;
    va_start(args, format);
    vsnprintf(errbuf, errlen, format, args);
    va_end(args);
}

//  What differs between two entries of the same agency (either may be
//  NULL: added or removed), written into out; false when nothing does.
static bool s_describe(const proto_directory_entry_t *was, const proto_directory_entry_t *is,
                       char *out, size_t len)
{
    if (!was) {
        snprintf(out, len, "added (%s)", proto_directory_state_name(is->state));
        return true;
    }
    if (!is) {
        snprintf(out, len, "removed (was %s)", proto_directory_state_name(was->state));
        return true;
    }
    size_t pos = 0;
    out[0] = '\0';
    if (was->state != is->state)
        pos += (size_t) snprintf(out + pos, len - pos, "state %s -> %s",
                                 proto_directory_state_name(was->state),
                                 proto_directory_state_name(is->state));
    if (pos < len && memcmp(was->sign_pk, is->sign_pk, sizeof was->sign_pk) != 0)
        pos += (size_t) snprintf(out + pos, len - pos, "%skey changed", pos ? ", " : "");
    if (pos < len && strcmp(was->name, is->name) != 0)
        pos += (size_t) snprintf(out + pos, len - pos, "%sname changed", pos ? ", " : "");
    if (pos < len && (was->valid_from != is->valid_from || was->valid_until != is->valid_until))
        pos += (size_t) snprintf(out + pos, len - pos, "%svalidity changed", pos ? ", " : "");
    return pos > 0;
}

//  Walk both directories in code order (both are sorted by code), calling
//  fn for each agency that differs. Returns how many did.
static size_t s_walk(const proto_directory_t *old, const proto_directory_t *fresh,
                     broker_dirchange_fn *fn, void *arg)
{
    size_t i = 0, j = 0, n = proto_directory_count(old), m = proto_directory_count(fresh);
    size_t changed = 0;
    while (i < n || j < m) {
        const proto_directory_entry_t *a = i < n ? proto_directory_entry(old, i) : NULL;
        const proto_directory_entry_t *b = j < m ? proto_directory_entry(fresh, j) : NULL;
        int order = !a ? 1 : !b ? -1 : strcmp(a->code, b->code);
        const proto_directory_entry_t *was = order <= 0 ? a : NULL;
        const proto_directory_entry_t *is = order >= 0 ? b : NULL;
        i += was != NULL;
        j += is != NULL;
        char what[160];
        if (s_describe(was, is, what, sizeof what)) {
            changed++;
            if (fn)
                fn(arg, was ? was->code : is->code, what);
        }
    }
    return changed;
}

proto_err_t broker_dirchange_check(const proto_directory_t *old, const proto_directory_t *fresh,
                                   bool *unchanged, char *errbuf, size_t errlen)
{
    *unchanged = false;
    uint64_t was = proto_directory_serial(old), is = proto_directory_serial(fresh);
    if (is == was && s_walk(old, fresh, NULL, NULL) == 0) {
        *unchanged = true;
        return PROTO_OK;
    }
    if (is <= was) {
        s_errf(errbuf, errlen,
               "serial %" PRIu64 " is not greater than the serial in force, %" PRIu64
               ": a changed directory needs a new serial (truc-keys directory does this)",
               is, was);
        return PROTO_ERR_BAD_STATE;
    }
    //  Revocation is final: the entry stays, revoked, so that the agency
    //  cannot come back by an edit nor by being removed and added again.
    for (size_t i = 0; i < proto_directory_count(old); i++) {
        const proto_directory_entry_t *e = proto_directory_entry(old, i);
        if (e->state != PROTO_DIRECTORY_REVOKED)
            continue;
        const proto_directory_entry_t *now = proto_directory_find(fresh, e->code);
        if (!now || now->state != PROTO_DIRECTORY_REVOKED) {
            s_errf(errbuf, errlen, "agency %s is revoked and would be %s: revocation is final",
                   e->code, now ? proto_directory_state_name(now->state) : "removed");
            return PROTO_ERR_AGENCY_REVOKED;
        }
    }
    return PROTO_OK;
}

size_t broker_dirchange_each(const proto_directory_t *old, const proto_directory_t *fresh,
                             broker_dirchange_fn *fn, void *arg)
{
    return s_walk(old, fresh, fn, arg);
}

//  The store's keys: a flag per revoked agency, a counter for the serial.
#define S_REVOKED_PREFIX "dir-revoked:"
#define S_SERIAL_KEY     "dir-serial"

static size_t s_revoked_key(const char *code, char out[64])
{
    return (size_t) snprintf(out, 64, "%s%s", S_REVOKED_PREFIX, code);
}

proto_err_t broker_dirchange_check_store(broker_store_t *store, const proto_directory_t *fresh,
                                         char *errbuf, size_t errlen)
{
    bool own = !broker_store_writing(store);
    if (own && broker_store_read_begin(store) != PROTO_OK) {
        s_errf(errbuf, errlen, "cannot read the store");
        return PROTO_ERR_STORE;
    }
    uint64_t applied = 0;
    proto_err_t rc = broker_store_counter_get(store, S_SERIAL_KEY, strlen(S_SERIAL_KEY), &applied);
    if (rc)
        s_errf(errbuf, errlen, "cannot read the serial applied before");
    else if (proto_directory_serial(fresh) < applied) {
        s_errf(errbuf, errlen,
               "serial %" PRIu64 " is older than serial %" PRIu64
               " this broker applied before: agents that hold the newer one refuse it",
               proto_directory_serial(fresh), applied);
        rc = PROTO_ERR_BAD_STATE;
    }
    for (size_t i = 0; !rc && i < proto_directory_count(fresh); i++) {
        const proto_directory_entry_t *e = proto_directory_entry(fresh, i);
        char key[64];
        size_t len = s_revoked_key(e->code, key);
        if (e->state != PROTO_DIRECTORY_REVOKED &&
            broker_store_flag_get(store, key, len) == PROTO_OK) {
            s_errf(errbuf, errlen, "agency %s was revoked and would be %s: revocation is final",
                   e->code, proto_directory_state_name(e->state));
            rc = PROTO_ERR_AGENCY_REVOKED;
        }
    }
    if (own)
        broker_store_read_end(store);
    return rc;
}

proto_err_t broker_dirchange_record(broker_store_t *store, const proto_directory_t *dir)
{
    uint64_t applied = 0, serial = proto_directory_serial(dir);
    proto_err_t rc = broker_store_counter_get(store, S_SERIAL_KEY, strlen(S_SERIAL_KEY), &applied);
    if (!rc && serial > applied)
        rc = broker_store_counter_add(store, S_SERIAL_KEY, strlen(S_SERIAL_KEY), serial - applied);
    for (size_t i = 0; !rc && i < proto_directory_count(dir); i++) {
        const proto_directory_entry_t *e = proto_directory_entry(dir, i);
        char key[64];
        size_t len = s_revoked_key(e->code, key);
        if (e->state == PROTO_DIRECTORY_REVOKED &&
            broker_store_flag_get(store, key, len) != PROTO_OK)
            rc = broker_store_flag_set(store, key, len);
    }
    return rc;
}
