/*  directory.c - the agency directory in memory (its file: directory_file.c).

    Owns every entry (one allocation each, the name stored right after the
    struct) and two arrays of pointers to them: one sorted by agency code,
    one by CURVE key. Both stay sorted on every change, so lookups are binary
    searches; an insertion moves pointers only, which is cheap at the sizes
    we allow (65536 agencies).

    The file parser is strict on purpose: the directory decides whom the
    broker trusts, so a typo must stop the load with a message that names the
    line, never be skipped. It does not sign or distribute the directory.

    Broker entries (federation) are route_table.c's: the parser hands it every
    [broker LABEL] section and asks it to check the whole once the agencies
    are in; the writer asks it for their text. This file keeps an agency's
    home and the one key space shared with the brokers.
*/
#include "proto/directory.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/fileio.h"
#include "proto/ini.h"
#include "proto/route.h"

#include "detail.h"
#include "directory_internal.h"
#include "route_table.h"

//  ---------------------------------------------------------------------
//  Names, states and times

//  What is wrong with a display name, or NULL if nothing.
static const char *s_name_problem(const char *name, proto_err_t *code)
{
    size_t chars = 0, len = strlen(name);
    *code = PROTO_ERR_UTF8;
    if (proto_utf8_check(name, len, &chars) != PROTO_OK)
        return "is not valid UTF-8";
    *code = PROTO_ERR_LIMIT;
    if (chars == 0)
        return "is empty";
    if (chars > PROTO_DIRECTORY_NAME_MAX)
        return "is longer than 200 characters";
    *code = PROTO_ERR_VALUE;
    if (name[0] == ' ' || name[len - 1] == ' ')
        return "starts or ends with a space";
    size_t word = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) name[i];
        if (c < 0x20 || c == 0x7F)
            return "contains a control character";
        //  U+0080..U+009F (C1 controls) are 0xC2 0x80..0x9F in UTF-8.
        if (c == 0xC2 && i + 1 < len && (unsigned char) name[i + 1] <= 0x9F)
            return "contains a control character";
        if (c == ';')
            return "contains ';' (it would start a comment in the file)";
        if (c == ' ' && name[i + 1] == ' ')
            return "contains two spaces in a row";
        word = c == ' ' ? 0 : word + 1;
        if (word > S_WORD_MAX)
            return "has a word longer than 180 bytes";
    }
    *code = PROTO_OK;
    return NULL;
}

proto_err_t proto_directory_name_check(const char *name)
{
    if (!name)
        return PROTO_ERR_INVALID_ARG;
    proto_err_t code = PROTO_OK;
    s_name_problem(name, &code);
    return code;
}

const char *proto_directory_state_name(proto_directory_state_t state)
{
    switch (state) {
    case PROTO_DIRECTORY_ACTIVE:
        return "active";
    case PROTO_DIRECTORY_SUSPENDED:
        return "suspended";
    case PROTO_DIRECTORY_REVOKED:
        return "revoked";
    }
    return "?";
}

static bool s_state_valid(proto_directory_state_t state)
{
    return state == PROTO_DIRECTORY_ACTIVE || state == PROTO_DIRECTORY_SUSPENDED ||
           state == PROTO_DIRECTORY_REVOKED;
}

proto_err_t proto_directory_state_parse(const char *text, proto_directory_state_t *state)
{
    static const proto_directory_state_t all[] = { PROTO_DIRECTORY_ACTIVE,
                                                   PROTO_DIRECTORY_SUSPENDED,
                                                   PROTO_DIRECTORY_REVOKED };
    if (!text || !state)
        return PROTO_ERR_INVALID_ARG;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(text, proto_directory_state_name(all[i])) == 0) {
            *state = all[i];
            return PROTO_OK;
        }
    }
    return PROTO_ERR_VALUE;
}

//  ---------------------------------------------------------------------
//  The directory in memory

proto_directory_t *proto_directory_new(void)
{
    proto_directory_t *self = calloc(1, sizeof(proto_directory_t));
    if (self)
        self->routes = proto_route_table_new();
    if (self && !self->routes)
        proto_directory_destroy(&self);
    return self;
}

void proto_directory_destroy(proto_directory_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    proto_directory_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        free(self->by_code[i]);
    free(self->by_code);
    free(self->by_curve);
    proto_route_table_destroy(&self->routes);
    free(self);
    *self_p = NULL;
}

proto_route_table_t *proto_directory_routes(const proto_directory_t *self)
{
    return self->routes;
}

size_t proto_directory_count(const proto_directory_t *self)
{
    return self ? self->count : 0;
}

uint64_t proto_directory_serial(const proto_directory_t *self)
{
    return self ? self->serial : 0;
}

int64_t proto_directory_updated(const proto_directory_t *self)
{
    return self ? self->updated : 0;
}

const proto_directory_entry_t *proto_directory_entry(const proto_directory_t *self, size_t index)
{
    return self && index < self->count ? self->by_code[index] : NULL;
}

static int s_cmp_code(const char *code, const proto_directory_entry_t *entry)
{
    return strcmp(code, entry->code);
}

static int s_cmp_curve(const uint8_t *curve_pk, const proto_directory_entry_t *entry)
{
    return memcmp(curve_pk, entry->curve_pk, PROTO_IDENTITY_KEY_LEN);
}

//  Binary search in by_code: the index of code, or where it would go.
static size_t s_search_code(const proto_directory_t *self, const char *code, bool *found)
{
    size_t lo = 0, hi = self->count;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = s_cmp_code(code, self->by_code[mid]);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static size_t s_search_curve(const proto_directory_t *self, const uint8_t *curve_pk, bool *found)
{
    size_t lo = 0, hi = self->count;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = s_cmp_curve(curve_pk, self->by_curve[mid]);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

const proto_directory_entry_t *proto_directory_find(const proto_directory_t *self, const char *code)
{
    if (!self || !code)
        return NULL;
    bool found = false;
    size_t i = s_search_code(self, code, &found);
    return found ? self->by_code[i] : NULL;
}

const proto_directory_entry_t *
proto_directory_find_curve(const proto_directory_t *self,
                           const uint8_t curve_pk[PROTO_IDENTITY_KEY_LEN])
{
    if (!self || !curve_pk)
        return NULL;
    bool found = false;
    size_t i = s_search_curve(self, curve_pk, &found);
    return found ? self->by_curve[i] : NULL;
}

proto_err_t dir_reserve(proto_directory_t *self, size_t want)
{
    if (want <= self->cap)
        return PROTO_OK;
    size_t cap = self->cap ? self->cap : 16;
    while (cap < want)
        cap *= 2;
    proto_directory_entry_t **by_code = realloc(self->by_code, cap * sizeof *by_code);
    if (!by_code)
        return PROTO_ERR_NOMEM;
    self->by_code = by_code;
    proto_directory_entry_t **by_curve = realloc(self->by_curve, cap * sizeof *by_curve);
    if (!by_curve)
        return PROTO_ERR_NOMEM;
    self->by_curve = by_curve;
    self->cap = cap;
    return PROTO_OK;
}

//  dir_entry_copy, with the CURVE key known (derived from the same Ed25519
//  key by this module before) or NULL to derive it.
static proto_err_t s_entry_copy(const proto_directory_entry_t *entry, const uint8_t *curve_known,
                                proto_directory_entry_t **out, const char **field,
                                const char **problem)
{
    *problem = NULL;
    *field = "name";
    if (proto_agency_code_check(entry->code, strnlen(entry->code, sizeof entry->code)) !=
            PROTO_OK ||
        entry->code[PROTO_AGENCY_CODE_LEN] != '\0') {
        *field = "code";
        *problem = "is not a valid agency code";
        return PROTO_ERR_AGENCY_CODE;
    }
    if (!entry->name) {
        *problem = "is missing";
        return PROTO_ERR_VALUE;
    }
    proto_err_t code = PROTO_OK;
    const char *why = s_name_problem(entry->name, &code);
    if (why) {
        *problem = why;
        return PROTO_ERR_VALUE;
    }
    if (!s_state_valid(entry->state)) {
        *field = "state";
        *problem = "is unknown";
        return PROTO_ERR_VALUE;
    }
    if (entry->valid_from < 0 || entry->valid_until < 0 ||
        (entry->valid_from && entry->valid_until && entry->valid_from >= entry->valid_until)) {
        *field = "valid_from";
        *problem = "is not before valid_until";
        return PROTO_ERR_VALUE;
    }
    size_t home_len = strnlen(entry->home, sizeof entry->home);
    if (home_len == sizeof entry->home ||
        (home_len && proto_label_check(entry->home, home_len) != PROTO_OK)) {
        *field = "home";
        *problem = "is not a broker label";
        return PROTO_ERR_VALUE;
    }
    if (entry->key_since < 0 || proto_keywin_check(entry->retired, entry->retired_count)) {
        *field = "retired";
        *problem = "is not a list of retired keys with their windows, oldest first";
        return PROTO_ERR_VALUE;
    }
    //  One block: the entry, its retired windows, its name.
    size_t name_len = strlen(entry->name);
    size_t wins = entry->retired_count * sizeof(proto_keywin_t);
    proto_directory_entry_t *copy = malloc(sizeof *copy + wins + name_len + 1);
    if (!copy)
        return PROTO_ERR_NOMEM;
    *copy = *entry;
    proto_keywin_t *retired = (proto_keywin_t *) (copy + 1);
    if (wins)
        memcpy(retired, entry->retired, wins);
    copy->retired = entry->retired_count ? retired : NULL;
    char *name = (char *) retired + wins;
    memcpy(name, entry->name, name_len + 1);
    copy->name = name;
    //  The CURVE key is never taken from the caller: deriving it here is
    //  what makes "the key in the directory" mean one thing.
    if (curve_known)
        memcpy(copy->curve_pk, curve_known, PROTO_IDENTITY_KEY_LEN);
    else if (crypto_sign_ed25519_pk_to_curve25519(copy->curve_pk, copy->sign_pk) != 0) {
        free(copy);
        *field = "sign_key";
        *problem = "is not a usable Ed25519 public key";
        return PROTO_ERR_VALUE;
    }
    *out = copy;
    return PROTO_OK;
}

proto_err_t proto_directory_copy(const proto_directory_t *src, proto_directory_t **out)
{
    if (!src || !out)
        return PROTO_ERR_INVALID_ARG;
    proto_directory_t *self = calloc(1, sizeof *self);
    if (!self)
        return PROTO_ERR_NOMEM;
    proto_err_t rc = proto_route_table_copy(src->routes, &self->routes);
    if (!rc)
        rc = dir_reserve(self, src->count);
    //  The CURVE keys come with the entries: they were derived here from
    //  the same Ed25519 keys, and deriving 64,000 again costs seconds.
    for (size_t i = 0; !rc && i < src->count; i++) {
        const char *field = NULL, *problem = NULL;
        const proto_directory_entry_t *e = src->by_code[i];
        rc = s_entry_copy(e, e->curve_pk, &self->by_code[i], &field, &problem);
        if (!rc)
            self->count++;
    }
    //  The same order by key: each entry found again by its code.
    for (size_t i = 0; !rc && i < src->count; i++) {
        bool found = false;
        size_t at = s_search_code(self, src->by_curve[i]->code, &found);
        if (!found)
            rc = PROTO_ERR_INTERNAL;
        else
            self->by_curve[i] = self->by_code[at];
    }
    if (rc) {
        proto_directory_destroy(&self);
        return rc == PROTO_ERR_NOMEM ? rc : PROTO_ERR_INTERNAL;
    }
    self->serial = src->serial;
    self->updated = src->updated;
    memcpy(self->broker_retired, src->broker_retired, sizeof self->broker_retired);
    self->nbroker_retired = src->nbroker_retired;
    *out = self;
    return PROTO_OK;
}

//  The CURVE key of known's entry for entry's code, if it has the same
//  Ed25519 key; else NULL.
static const uint8_t *s_known_curve(const proto_directory_t *known,
                                    const proto_directory_entry_t *entry)
{
    const proto_directory_entry_t *was = proto_directory_find(known, entry->code);
    return was && memcmp(was->sign_pk, entry->sign_pk, PROTO_IDENTITY_KEY_LEN) == 0 ? was->curve_pk
                                                                                    : NULL;
}

proto_err_t dir_entry_copy(const proto_directory_entry_t *entry, const proto_directory_t *known,
                           proto_directory_entry_t **out, const char **field, const char **problem)
{
    return s_entry_copy(entry, s_known_curve(known, entry), out, field, problem);
}

static void s_touch(proto_directory_t *self)
{
    self->serial++;
    self->updated = (int64_t) time(NULL);
}

void proto_directory_touch(proto_directory_t *self)
{
    s_touch(self);
}

bool proto_directory_can_change(const proto_directory_t *self)
{
    return self->serial < S_SERIAL_MAX;
}

proto_err_t proto_directory_add(proto_directory_t *self, const proto_directory_entry_t *entry)
{
    if (!self || !entry)
        return PROTO_ERR_INVALID_ARG;
    if (sodium_init() < 0)
        return PROTO_ERR_CRYPTO;
    proto_directory_entry_t *copy = NULL;
    const char *field = NULL, *problem = NULL;
    proto_err_t rc = dir_entry_copy(entry, NULL, &copy, &field, &problem);
    if (rc != PROTO_OK)
        return rc;
    bool code_found = false, curve_found = false;
    size_t at_code = s_search_code(self, copy->code, &code_found);
    size_t at_curve = s_search_curve(self, copy->curve_pk, &curve_found);
    if (code_found || curve_found || proto_route_table_find_curve(self->routes, copy->curve_pk))
        rc = PROTO_ERR_EXISTS;
    else if (self->count >= PROTO_DIRECTORY_MAX_ENTRIES || self->serial >= S_SERIAL_MAX)
        rc = PROTO_ERR_LIMIT;
    else if (copy->home[0] || proto_directory_broker_count(self))
        rc = proto_route_table_home_check(self->routes, copy->code, copy->home, NULL, 0);
    if (rc == PROTO_OK)
        rc = dir_reserve(self, self->count + 1);
    if (rc != PROTO_OK) {
        free(copy);
        return rc;
    }
    memmove(self->by_code + at_code + 1, self->by_code + at_code,
            (self->count - at_code) * sizeof *self->by_code);
    self->by_code[at_code] = copy;
    memmove(self->by_curve + at_curve + 1, self->by_curve + at_curve,
            (self->count - at_curve) * sizeof *self->by_curve);
    self->by_curve[at_curve] = copy;
    self->count++;
    s_touch(self);
    return PROTO_OK;
}

//  The entry of an agency code: PROTO_ERR_AGENCY_CODE or
//  PROTO_ERR_UNKNOWN_AGENCY when there is none.
static proto_err_t s_entry_of(proto_directory_t *self, const char *code,
                              proto_directory_entry_t **entry)
{
    if (proto_agency_code_check(code, strlen(code)) != PROTO_OK)
        return PROTO_ERR_AGENCY_CODE;
    bool found = false;
    size_t i = s_search_code(self, code, &found);
    if (!found)
        return PROTO_ERR_UNKNOWN_AGENCY;
    *entry = self->by_code[i];
    return PROTO_OK;
}

proto_err_t proto_directory_set_state(proto_directory_t *self, const char *code,
                                      proto_directory_state_t state)
{
    if (!self || !code || !s_state_valid(state))
        return PROTO_ERR_INVALID_ARG;
    proto_directory_entry_t *entry = NULL;
    proto_err_t rc = s_entry_of(self, code, &entry);
    if (rc)
        return rc;
    if (entry->state == state)
        return PROTO_OK;
    if (entry->state == PROTO_DIRECTORY_REVOKED)
        return PROTO_ERR_BAD_STATE;
    if (self->serial >= S_SERIAL_MAX)
        return PROTO_ERR_LIMIT;
    entry->state = state;
    s_touch(self);
    return PROTO_OK;
}

proto_err_t proto_directory_set_key(proto_directory_t *self, const char *code,
                                    const uint8_t sign_pk[PROTO_IDENTITY_KEY_LEN])
{
    if (!self || !code || !sign_pk)
        return PROTO_ERR_INVALID_ARG;
    if (sodium_init() < 0)
        return PROTO_ERR_CRYPTO;
    proto_directory_entry_t *entry = NULL;
    proto_err_t rc = s_entry_of(self, code, &entry);
    if (rc)
        return rc;
    if (entry->state == PROTO_DIRECTORY_REVOKED)
        return PROTO_ERR_BAD_STATE;
    uint8_t curve_pk[PROTO_IDENTITY_KEY_LEN];
    if (crypto_sign_ed25519_pk_to_curve25519(curve_pk, sign_pk) != 0)
        return PROTO_ERR_VALUE;
    bool curve_found = false;
    size_t at = s_search_curve(self, curve_pk, &curve_found);
    if (curve_found)
        return self->by_curve[at] == entry ? PROTO_OK : PROTO_ERR_EXISTS;
    if (proto_route_table_find_curve(self->routes, curve_pk))
        return PROTO_ERR_EXISTS;
    if (self->serial >= S_SERIAL_MAX)
        return PROTO_ERR_LIMIT;
    //  Move the entry in the key index from its old place to where its new
    //  CURVE key sorts (at counts the entry itself when it lies before).
    size_t old = s_search_curve(self, entry->curve_pk, &curve_found);
    if (at > old) {
        at--;
        memmove(self->by_curve + old, self->by_curve + old + 1,
                (at - old) * sizeof *self->by_curve);
    } else {
        memmove(self->by_curve + at + 1, self->by_curve + at, (old - at) * sizeof *self->by_curve);
    }
    self->by_curve[at] = entry;
    memcpy(entry->sign_pk, sign_pk, PROTO_IDENTITY_KEY_LEN);
    memcpy(entry->curve_pk, curve_pk, PROTO_IDENTITY_KEY_LEN);
    s_touch(self);
    return PROTO_OK;
}

//  Swap the entry at by_code[at] for copy (same code, another key): the
//  key index loses the old entry and takes the copy where its key sorts.
static void s_entry_swap(proto_directory_t *self, size_t at, proto_directory_entry_t *copy)
{
    proto_directory_entry_t *old = self->by_code[at];
    bool found = false;
    size_t was = s_search_curve(self, old->curve_pk, &found);
    memmove(self->by_curve + was, self->by_curve + was + 1,
            (self->count - was - 1) * sizeof *self->by_curve);
    self->count--;
    size_t to = s_search_curve(self, copy->curve_pk, &found);
    memmove(self->by_curve + to + 1, self->by_curve + to,
            (self->count - to) * sizeof *self->by_curve);
    self->by_curve[to] = copy;
    self->count++;
    self->by_code[at] = copy;
    free(old);
}

proto_err_t proto_directory_rekey(proto_directory_t *self, const char *code,
                                  const uint8_t sign_pk[PROTO_IDENTITY_KEY_LEN], int64_t now,
                                  int64_t grace)
{
    if (!self || !code || !sign_pk || now <= 0)
        return PROTO_ERR_INVALID_ARG;
    if (grace < 0 || grace > PROTO_KEYWIN_GRACE_MAX)
        return PROTO_ERR_VALUE;
    if (sodium_init() < 0)
        return PROTO_ERR_CRYPTO;
    proto_directory_entry_t *entry = NULL;
    proto_err_t rc = s_entry_of(self, code, &entry);
    if (rc)
        return rc;
    if (entry->state == PROTO_DIRECTORY_REVOKED)
        return PROTO_ERR_BAD_STATE;
    uint8_t curve_pk[PROTO_IDENTITY_KEY_LEN];
    if (crypto_sign_ed25519_pk_to_curve25519(curve_pk, sign_pk) != 0)
        return PROTO_ERR_VALUE;
    bool found = false;
    size_t at = s_search_curve(self, curve_pk, &found);
    if (found)
        return self->by_curve[at] == entry ? PROTO_OK : PROTO_ERR_EXISTS;
    if (proto_route_table_find_curve(self->routes, curve_pk))
        return PROTO_ERR_EXISTS;
    if (self->serial >= S_SERIAL_MAX)
        return PROTO_ERR_LIMIT;
    proto_keywin_t retired[PROTO_KEYWIN_MAX];
    size_t n = entry->retired_count;
    if (n)
        memcpy(retired, entry->retired, n * sizeof *retired);
    uint64_t from = (uint64_t) (entry->key_since ? entry->key_since : entry->valid_from);
    rc = proto_keywin_retire(retired, &n, entry->sign_pk, from, (uint64_t) now, (uint64_t) grace);
    for (size_t i = 0; !rc && i < n; i++)
        if (memcmp(retired[i].key, sign_pk, PROTO_IDENTITY_KEY_LEN) == 0)
            rc = PROTO_ERR_EXISTS;
    if (rc)
        return rc;
    proto_directory_entry_t next = *entry, *copy = NULL;
    memcpy(next.sign_pk, sign_pk, PROTO_IDENTITY_KEY_LEN);
    next.key_since = now;
    next.retired = retired;
    next.retired_count = n;
    const char *field = NULL, *problem = NULL;
    rc = dir_entry_copy(&next, NULL, &copy, &field, &problem);
    if (rc)
        return rc;
    s_entry_swap(self, s_search_code(self, code, &found), copy);
    s_touch(self);
    return PROTO_OK;
}

const proto_keywin_t *proto_directory_broker_retired(const proto_directory_t *self, size_t *n)
{
    *n = self ? self->nbroker_retired : 0;
    return self && self->nbroker_retired ? self->broker_retired : NULL;
}

proto_err_t proto_directory_retire_broker_key(proto_directory_t *self,
                                              const uint8_t sign_pk[PROTO_IDENTITY_KEY_LEN],
                                              int64_t now, int64_t grace)
{
    if (!self || !sign_pk || now <= 0)
        return PROTO_ERR_INVALID_ARG;
    if (grace < 0 || grace > PROTO_KEYWIN_GRACE_MAX)
        return PROTO_ERR_VALUE;
    if (self->serial >= S_SERIAL_MAX)
        return PROTO_ERR_LIMIT;
    proto_err_t rc = proto_keywin_retire(self->broker_retired, &self->nbroker_retired, sign_pk, 0,
                                         (uint64_t) now, (uint64_t) grace);
    if (!rc)
        s_touch(self);
    return rc;
}

size_t proto_directory_keys_at(const proto_directory_t *self, const char *code, int64_t t,
                               uint8_t out[][PROTO_IDENTITY_KEY_LEN])
{
    const proto_directory_entry_t *e = proto_directory_find(self, code);
    if (!e || !out)
        return 0;
    size_t n = 0;
    memcpy(out[n++], e->sign_pk, PROTO_IDENTITY_KEY_LEN);
    for (size_t i = 0; i < e->retired_count; i++)
        if (t >= 0 && proto_keywin_holds(&e->retired[i], (uint64_t) t))
            memcpy(out[n++], e->retired[i].key, PROTO_IDENTITY_KEY_LEN);
    return n;
}

proto_err_t proto_directory_set_home(proto_directory_t *self, const char *code, const char *home,
                                     char *errbuf, size_t errlen)
{
    if (!self || !code)
        return PROTO_ERR_INVALID_ARG;
    proto_directory_entry_t *entry = NULL;
    proto_err_t rc = s_entry_of(self, code, &entry);
    if (rc)
        return rc;
    home = home ? home : "";
    if (strcmp(entry->home, home) == 0)
        return PROTO_OK;
    if (strlen(home) >= sizeof entry->home)
        return PROTO_ERR_NOT_FOUND; // longer than any label: no such broker
    rc = proto_route_table_home_check(self->routes, code, home, errbuf, errlen);
    if (rc)
        return rc;
    if (self->serial >= S_SERIAL_MAX)
        return PROTO_ERR_LIMIT;
    snprintf(entry->home, sizeof entry->home, "%s", home);
    s_touch(self);
    return PROTO_OK;
}

proto_err_t proto_directory_entry_usable(const proto_directory_entry_t *entry, int64_t now)
{
    if (!entry)
        return PROTO_ERR_INVALID_ARG;
    if (entry->state == PROTO_DIRECTORY_REVOKED)
        return PROTO_ERR_AGENCY_REVOKED;
    if (entry->state != PROTO_DIRECTORY_ACTIVE)
        return PROTO_ERR_AGENCY_SUSPENDED;
    if (entry->valid_from && now < entry->valid_from)
        return PROTO_ERR_NOT_AUTHORIZED;
    if (entry->valid_until && now >= entry->valid_until)
        return PROTO_ERR_EXPIRED;
    return PROTO_OK;
}

proto_err_t proto_directory_set_serial(proto_directory_t *self, uint64_t serial)
{
    if (!self || serial == 0 || serial > S_SERIAL_MAX)
        return PROTO_ERR_INVALID_ARG;
    self->serial = serial;
    return PROTO_OK;
}

static int s_order_code(const void *a, const void *b)
{
    const proto_directory_entry_t *const *x = a, *const *y = b;
    return strcmp((*x)->code, (*y)->code);
}

static int s_order_curve(const void *a, const void *b)
{
    const proto_directory_entry_t *const *x = a, *const *y = b;
    return memcmp((*x)->curve_pk, (*y)->curve_pk, PROTO_IDENTITY_KEY_LEN);
}

//  Checked copies of entries, each refused one reported; two of the batch
//  with the same code or CURVE key are refused (the later by code order).
static size_t s_batch(proto_directory_t *self, const proto_directory_entry_t *entries, size_t count,
                      const proto_directory_t *known, proto_directory_entry_t **fresh,
                      proto_directory_refused_fn *refused, void *arg)
{
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        proto_directory_entry_t *copy = NULL;
        const char *field = NULL, *problem = NULL;
        //  Deriving a CURVE key costs tens of µs: one this module derived
        //  before from the same Ed25519 key is the same key.
        proto_err_t rc = dir_entry_copy(&entries[i], known, &copy, &field, &problem);
        bool found = false;
        size_t at = rc ? 0 : s_search_curve(self, copy->curve_pk, &found);
        if (!rc && ((found && strcmp(self->by_curve[at]->code, copy->code) != 0) ||
                    proto_route_table_find_curve(self->routes, copy->curve_pk)))
            rc = PROTO_ERR_EXISTS;
        else if (!rc && (copy->home[0] || proto_directory_broker_count(self)))
            rc = proto_route_table_home_check(self->routes, copy->code, copy->home, NULL, 0);
        if (rc) {
            free(copy);
            if (refused)
                refused(arg, entries[i].code, rc);
            continue;
        }
        fresh[n++] = copy;
    }
    for (int pass = 0; pass < 2; pass++) {
        int (*order)(const void *, const void *) = pass ? s_order_curve : s_order_code;
        qsort(fresh, n, sizeof *fresh, order);
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            if (kept && order(&fresh[kept - 1], &fresh[i]) == 0) {
                if (refused)
                    refused(arg, fresh[i]->code, PROTO_ERR_EXISTS);
                free(fresh[i]);
                continue;
            }
            fresh[kept++] = fresh[i];
        }
        n = kept;
    }
    return n;
}

proto_err_t proto_directory_put_many(proto_directory_t *self,
                                     const proto_directory_entry_t *entries, size_t count,
                                     const proto_directory_t *known,
                                     proto_directory_refused_fn *refused, void *arg)
{
    if (!self || (count && !entries))
        return PROTO_ERR_INVALID_ARG;
    if (sodium_init() < 0)
        return PROTO_ERR_CRYPTO;
    if (self->serial >= S_SERIAL_MAX)
        return PROTO_ERR_LIMIT;
    proto_directory_entry_t **fresh = calloc(count ? count : 1, sizeof *fresh);
    if (!fresh)
        return PROTO_ERR_NOMEM;
    size_t n = s_batch(self, entries, count, known, fresh, refused, arg);
    if (dir_reserve(self, self->count + n) != PROTO_OK) {
        for (size_t i = 0; i < n; i++)
            free(fresh[i]);
        free(fresh);
        return PROTO_ERR_NOMEM;
    }
    //  Replacements take their entry's place in the code index; additions
    //  go after the sorted part, and both indexes are sorted once at the end.
    size_t sorted = self->count, added = 0;
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        size_t at = s_search_code(self, fresh[i]->code, &found); // the sorted part only
        if (found) {
            free(self->by_code[at]);
            self->by_code[at] = fresh[i];
        } else if (sorted + added >= PROTO_DIRECTORY_MAX_ENTRIES) {
            if (refused)
                refused(arg, fresh[i]->code, PROTO_ERR_LIMIT);
            free(fresh[i]);
        } else {
            self->by_code[sorted + added++] = fresh[i];
        }
    }
    free(fresh);
    self->count = sorted + added;
    if (added)
        qsort(self->by_code, self->count, sizeof *self->by_code, s_order_code);
    memcpy(self->by_curve, self->by_code, self->count * sizeof *self->by_curve);
    qsort(self->by_curve, self->count, sizeof *self->by_curve, s_order_curve);
    if (n)
        s_touch(self);
    return PROTO_OK;
}
