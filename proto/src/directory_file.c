/*  directory_file.c - the agency directory in its file: the strict
    parser and the writer.

    The parser is strict on purpose: the directory decides whom the broker
    trusts, so a typo must stop the load with a message that names the
    line, never be skipped. Broker entries (federation) are route_table.c's:
    the parser hands it every [broker LABEL] section and asks it to check
    the whole once the agencies are in; the writer asks it for their text.
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
//  The directory file

typedef struct {
    proto_directory_t *dir;         // being built, entries in file order until the end
    const proto_directory_t *known; // CURVE keys to reuse (proto_directory_parse_known)
    unsigned *lines;                // header line of each entry, same order
    bool seen_header;               // the [directory] section was read
    unsigned header_line;
} s_load_t;

static proto_err_t s_need(const proto_ini_section_t *section, const char *key,
                          const proto_ini_pair_t **pair, char *errbuf, size_t errlen)
{
    *pair = proto_ini_find(section, key);
    if (*pair)
        return PROTO_OK;
    proto_detailf(errbuf, errlen, "line %u: [%s] has no '%s'", section->line, section->name, key);
    return PROTO_ERR_DIRECTORY;
}

static proto_err_t s_keys_allowed(const proto_ini_section_t *section, const char *const *allowed,
                                  char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < section->count; i++) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, section->pairs[i].key) == 0;
        if (!ok) {
            proto_detailf(errbuf, errlen, "line %u: [%s] unknown key '%s'", section->pairs[i].line,
                          section->name, section->pairs[i].key);
            return PROTO_ERR_DIRECTORY;
        }
    }
    return PROTO_OK;
}

static proto_err_t s_time_field(const proto_ini_section_t *section, const char *key, int64_t *out,
                                char *errbuf, size_t errlen)
{
    const proto_ini_pair_t *pair = proto_ini_find(section, key);
    *out = 0;
    if (!pair)
        return PROTO_OK;
    if (proto_directory_time_parse(pair->value, out) != PROTO_OK) {
        proto_detailf(errbuf, errlen,
                      "line %u: [%s] %s '%s' is not a UTC time like 2026-01-01T00:00:00Z",
                      pair->line, section->name, key, pair->value);
        return PROTO_ERR_DIRECTORY;
    }
    return PROTO_OK;
}

//  retired = HEX FROM UNTIL ... (proto/keywin.h), folded between words;
//  the same for the header's broker_retired.
static proto_err_t s_retired_field(const proto_ini_section_t *section, const char *key,
                                   proto_keywin_t *out, size_t *n, char *errbuf, size_t errlen)
{
    const proto_ini_pair_t *pair = proto_ini_find(section, key);
    *n = 0;
    if (!pair)
        return PROTO_OK;
    proto_err_t rc = proto_keywin_parse(pair->value, out, n);
    if (rc == PROTO_ERR_LIMIT)
        proto_detailf(errbuf, errlen, "line %u: [%s] %s lists more than %d keys", pair->line,
                      section->name, key, PROTO_KEYWIN_MAX);
    else if (rc != PROTO_OK)
        proto_detailf(errbuf, errlen,
                      "line %u: [%s] %s must be 'KEY FROM UNTIL' for each key (64 hex "
                      "digits, a UTC time or '-', a UTC time after it), oldest first",
                      pair->line, section->name, key);
    return rc == PROTO_OK ? PROTO_OK : PROTO_ERR_DIRECTORY;
}

static proto_err_t s_header_section(s_load_t *self, const proto_ini_section_t *section,
                                    char *errbuf, size_t errlen)
{
    static const char *const allowed[] = { "format", "serial", "updated", "broker_retired", NULL };
    if (self->seen_header) {
        proto_detailf(errbuf, errlen, "line %u: duplicate section [directory] (first on line %u)",
                      section->line, self->header_line);
        return PROTO_ERR_DIRECTORY;
    }
    self->seen_header = true;
    self->header_line = section->line;
    const proto_ini_pair_t *format = NULL, *serial = NULL;
    proto_err_t rc = s_keys_allowed(section, allowed, errbuf, errlen);
    if (rc == PROTO_OK)
        rc = s_need(section, "format", &format, errbuf, errlen);
    if (rc == PROTO_OK)
        rc = s_need(section, "serial", &serial, errbuf, errlen);
    if (rc != PROTO_OK)
        return rc;
    if (strcmp(format->value, "1") != 0) {
        proto_detailf(errbuf, errlen, "line %u: unknown format '%s' (this version reads format 1)",
                      format->line, format->value);
        return PROTO_ERR_DIRECTORY;
    }
    //  A serial is a plain decimal number, no sign, no leading zeros.
    const char *s = serial->value;
    size_t n = strlen(s);
    uint64_t v = 0;
    bool ok = n > 0 && n <= 19 && (n == 1 || s[0] != '0');
    for (size_t i = 0; ok && i < n; i++) {
        ok = s[i] >= '0' && s[i] <= '9';
        v = v * 10 + (uint64_t) (s[i] - '0');
    }
    if (!ok || v > S_SERIAL_MAX) {
        proto_detailf(errbuf, errlen, "line %u: serial '%s' is not a number from 0 to %llu",
                      serial->line, s, (unsigned long long) S_SERIAL_MAX);
        return PROTO_ERR_DIRECTORY;
    }
    self->dir->serial = v;
    rc = s_retired_field(section, "broker_retired", self->dir->broker_retired,
                         &self->dir->nbroker_retired, errbuf, errlen);
    if (rc)
        return rc;
    return s_time_field(section, "updated", &self->dir->updated, errbuf, errlen);
}

static proto_err_t s_agency_section(s_load_t *self, const proto_ini_section_t *section,
                                    char *errbuf, size_t errlen)
{
    static const char *const allowed[] = { "name",       "sign_key",    "state",
                                           "valid_from", "valid_until", "home",
                                           "key_since",  "retired",     NULL };
    proto_directory_t *dir = self->dir;
    if (proto_agency_code_check(section->name, strlen(section->name)) != PROTO_OK) {
        proto_detailf(errbuf, errlen, "line %u: section [%s] is not a valid agency code",
                      section->line, section->name);
        return PROTO_ERR_DIRECTORY;
    }
    if (dir->count >= PROTO_DIRECTORY_MAX_ENTRIES) {
        proto_detailf(errbuf, errlen, "line %u: more than %d agencies", section->line,
                      PROTO_DIRECTORY_MAX_ENTRIES);
        return PROTO_ERR_DIRECTORY;
    }
    proto_directory_entry_t entry;
    memset(&entry, 0, sizeof entry);
    memcpy(entry.code, section->name, PROTO_AGENCY_CODE_LEN + 1);
    const proto_ini_pair_t *name = NULL, *key = NULL, *state = NULL;
    proto_err_t rc = s_keys_allowed(section, allowed, errbuf, errlen);
    if (rc == PROTO_OK)
        rc = s_need(section, "name", &name, errbuf, errlen);
    if (rc == PROTO_OK)
        rc = s_need(section, "sign_key", &key, errbuf, errlen);
    if (rc == PROTO_OK)
        rc = s_need(section, "state", &state, errbuf, errlen);
    if (rc == PROTO_OK)
        rc = s_time_field(section, "valid_from", &entry.valid_from, errbuf, errlen);
    if (rc == PROTO_OK)
        rc = s_time_field(section, "valid_until", &entry.valid_until, errbuf, errlen);
    if (rc == PROTO_OK)
        rc = s_time_field(section, "key_since", &entry.key_since, errbuf, errlen);
    proto_keywin_t retired[PROTO_KEYWIN_MAX];
    if (rc == PROTO_OK)
        rc = s_retired_field(section, "retired", retired, &entry.retired_count, errbuf, errlen);
    if (rc != PROTO_OK)
        return rc;
    entry.retired = retired;
    entry.name = name->value;
    const proto_ini_pair_t *home = proto_ini_find(section, "home");
    if (home && (strlen(home->value) >= sizeof entry.home ||
                 proto_label_check(home->value, strlen(home->value)) != PROTO_OK)) {
        proto_detailf(errbuf, errlen, "line %u: [%s] home '%s' is not a broker label", home->line,
                      section->name, home->value);
        return PROTO_ERR_DIRECTORY;
    }
    if (home)
        memcpy(entry.home, home->value, strlen(home->value) + 1);
    if (proto_hex_decode(key->value, entry.sign_pk, sizeof entry.sign_pk) != PROTO_OK) {
        proto_detailf(errbuf, errlen, "line %u: [%s] sign_key must be 64 hex digits", key->line,
                      section->name);
        return PROTO_ERR_DIRECTORY;
    }
    if (proto_directory_state_parse(state->value, &entry.state) != PROTO_OK) {
        proto_detailf(errbuf, errlen,
                      "line %u: [%s] unknown state '%s' (active, suspended or revoked)",
                      state->line, section->name, state->value);
        return PROTO_ERR_DIRECTORY;
    }
    proto_directory_entry_t *copy = NULL;
    const char *field = NULL, *problem = NULL;
    rc = dir_entry_copy(&entry, self->known, &copy, &field, &problem);
    if (rc == PROTO_ERR_NOMEM)
        return rc;
    if (rc != PROTO_OK) {
        //  Point at the line of the key the problem is about.
        const proto_ini_pair_t *at = proto_ini_find(section, field);
        proto_detailf(errbuf, errlen, "line %u: [%s] %s %s", at ? at->line : section->line,
                      section->name, field, problem);
        return PROTO_ERR_DIRECTORY;
    }
    rc = dir_reserve(dir, dir->count + 1);
    unsigned *lines = rc == PROTO_OK ? realloc(self->lines, dir->cap * sizeof *lines) : NULL;
    if (!lines) {
        free(copy);
        return PROTO_ERR_NOMEM;
    }
    self->lines = lines;
    self->lines[dir->count] = section->line;
    dir->by_code[dir->count] = copy;
    dir->by_curve[dir->count] = copy;
    dir->count++;
    return PROTO_OK;
}

static proto_err_t s_load_section(void *arg, const proto_ini_section_t *section, char *errbuf,
                                  size_t errlen)
{
    s_load_t *self = arg;
    if (strcmp(section->name, "directory") == 0)
        return s_header_section(self, section, errbuf, errlen);
    if (strncmp(section->name, PROTO_ROUTE_SECTION_PREFIX, strlen(PROTO_ROUTE_SECTION_PREFIX)) == 0)
        return proto_route_table_section(self->dir->routes, section, errbuf, errlen);
    return s_agency_section(self, section, errbuf, errlen);
}

//  The entries reach the sort with their file line in a parallel array; the
//  sort moves both, so messages about duplicates can name both lines.
typedef struct {
    proto_directory_entry_t *entry;
    unsigned line;
} s_sort_item_t;

static int s_sort_by_code(const void *a, const void *b)
{
    const s_sort_item_t *x = a, *y = b;
    int c = strcmp(x->entry->code, y->entry->code);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int s_sort_by_curve(const void *a, const void *b)
{
    const s_sort_item_t *x = a, *y = b;
    int c = memcmp(x->entry->curve_pk, y->entry->curve_pk, PROTO_IDENTITY_KEY_LEN);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

//  Sort both indexes and refuse duplicate codes and keys.
static proto_err_t s_index(proto_directory_t *dir, const unsigned *lines, char *errbuf,
                           size_t errlen)
{
    if (dir->count == 0)
        return PROTO_OK;
    s_sort_item_t *items = malloc(dir->count * sizeof *items);
    if (!items)
        return PROTO_ERR_NOMEM;
    proto_err_t rc = PROTO_OK;
    for (size_t i = 0; i < dir->count; i++)
        items[i] = (s_sort_item_t){ dir->by_code[i], lines[i] };
    qsort(items, dir->count, sizeof *items, s_sort_by_code);
    for (size_t i = 0; i < dir->count; i++) {
        dir->by_code[i] = items[i].entry;
        if (i > 0 && rc == PROTO_OK &&
            strcmp(items[i].entry->code, items[i - 1].entry->code) == 0) {
            proto_detailf(errbuf, errlen, "line %u: duplicate section [%s] (first on line %u)",
                          items[i].line, items[i].entry->code, items[i - 1].line);
            rc = PROTO_ERR_DIRECTORY;
        }
    }
    qsort(items, dir->count, sizeof *items, s_sort_by_curve);
    for (size_t i = 0; i < dir->count; i++) {
        dir->by_curve[i] = items[i].entry;
        if (i > 0 && rc == PROTO_OK &&
            memcmp(items[i].entry->curve_pk, items[i - 1].entry->curve_pk,
                   PROTO_IDENTITY_KEY_LEN) == 0) {
            //  Equal CURVE keys come from equal sign keys, or from two sign
            //  keys that differ only in the sign bit: the same key either way.
            proto_detailf(errbuf, errlen, "line %u: [%s] has the same key as [%s] (line %u)",
                          items[i].line, items[i].entry->code, items[i - 1].entry->code,
                          items[i - 1].line);
            rc = PROTO_ERR_DIRECTORY;
        }
    }
    free(items);
    return rc;
}

proto_err_t proto_directory_parse(const char *text, size_t len, proto_directory_t **out,
                                  char *errbuf, size_t errlen)
{
    return proto_directory_parse_known(text, len, NULL, out, errbuf, errlen);
}

proto_err_t proto_directory_parse_known(const char *text, size_t len,
                                        const proto_directory_t *known, proto_directory_t **out,
                                        char *errbuf, size_t errlen)
{
    static const proto_ini_fold_t folds[] = { { "name", " " },           { "codes", " " },
                                              { "patterns", " " },       { "retired", " " },
                                              { "broker_retired", " " }, { NULL, NULL } };
    if ((!text && len > 0) || !out)
        return PROTO_ERR_INVALID_ARG;
    *out = NULL;
    if (sodium_init() < 0)
        return PROTO_ERR_CRYPTO;
    s_load_t load;
    memset(&load, 0, sizeof load);
    load.known = known;
    load.dir = proto_directory_new();
    if (!load.dir)
        return PROTO_ERR_NOMEM;
    proto_err_t rc = proto_ini_parse(text, len, folds, s_load_section, &load, PROTO_ERR_DIRECTORY,
                                     errbuf, errlen);
    if (rc == PROTO_OK && !load.seen_header) {
        proto_detailf(errbuf, errlen, "no [directory] section (with format and serial)");
        rc = PROTO_ERR_DIRECTORY;
    }
    if (rc == PROTO_OK)
        rc = s_index(load.dir, load.lines, errbuf, errlen);
    if (rc == PROTO_OK)
        rc = proto_route_table_check(load.dir->routes, load.dir, errbuf, errlen);
    free(load.lines);
    if (rc != PROTO_OK)
        proto_directory_destroy(&load.dir);
    *out = load.dir;
    return rc;
}

proto_err_t proto_directory_load(const char *path, proto_directory_t **out, char *errbuf,
                                 size_t errlen)
{
    return proto_directory_load_known(path, NULL, out, errbuf, errlen);
}

proto_err_t proto_directory_load_known(const char *path, const proto_directory_t *known,
                                       proto_directory_t **out, char *errbuf, size_t errlen)
{
    if (!path || !out)
        return PROTO_ERR_INVALID_ARG;
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    proto_err_t rc =
        proto_file_read_trusted(path, PROTO_DIRECTORY_FILE_MAX, &text, &len, errbuf, errlen);
    if (rc == PROTO_ERR_TOO_LARGE)
        return PROTO_ERR_DIRECTORY;
    if (rc == PROTO_ERR_PERMISSIONS && errbuf && errlen) {
        size_t used = strlen(errbuf);
        snprintf(errbuf + used, errlen - used, " (run: chmod go-w %s)", path);
    }
    if (rc != PROTO_OK)
        return rc;
    rc = proto_directory_parse_known(text, len, known, out, errbuf, errlen);
    proto_file_free(&text, len, false);
    return rc;
}

static proto_err_t s_put_entry(char *buf, size_t cap, size_t *pos,
                               const proto_directory_entry_t *entry)
{
    char hex[2 * PROTO_IDENTITY_KEY_LEN + 1], when[PROTO_DIRECTORY_TIME_LEN + 1];
    int w = snprintf(buf + *pos, cap - *pos, "\n[%s]\n", entry->code);
    if (w < 0 || (size_t) w >= cap - *pos)
        return PROTO_ERR_LIMIT;
    *pos += (size_t) w;
    proto_hex_encode(entry->sign_pk, sizeof entry->sign_pk, hex);
    proto_err_t rc = proto_ini_put(buf, cap, pos, "name", entry->name, " ");
    if (rc == PROTO_OK)
        rc = proto_ini_put(buf, cap, pos, "sign_key", hex, "");
    if (rc == PROTO_OK)
        rc = proto_ini_put(buf, cap, pos, "state", proto_directory_state_name(entry->state), "");
    if (rc == PROTO_OK && entry->home[0])
        rc = proto_ini_put(buf, cap, pos, "home", entry->home, "");
    if (rc == PROTO_OK && entry->valid_from) {
        proto_directory_time_format(entry->valid_from, when);
        rc = proto_ini_put(buf, cap, pos, "valid_from", when, "");
    }
    if (rc == PROTO_OK && entry->valid_until) {
        proto_directory_time_format(entry->valid_until, when);
        rc = proto_ini_put(buf, cap, pos, "valid_until", when, "");
    }
    if (rc == PROTO_OK && entry->key_since) {
        proto_directory_time_format(entry->key_since, when);
        rc = proto_ini_put(buf, cap, pos, "key_since", when, "");
    }
    if (rc == PROTO_OK && entry->retired_count) {
        char text[PROTO_KEYWIN_TEXT_MAX];
        proto_keywin_format(entry->retired, entry->retired_count, text);
        rc = proto_ini_put(buf, cap, pos, "retired", text, " ");
    }
    return rc;
}

proto_err_t proto_directory_save(const proto_directory_t *self, const char *path, char *errbuf,
                                 size_t errlen)
{
    if (!self || !path)
        return PROTO_ERR_INVALID_ARG;
    size_t cap = 512 + self->count * S_ENTRY_TEXT_MAX + proto_route_table_text_max(self->routes);
    char *buf = malloc(cap);
    if (!buf)
        return PROTO_ERR_NOMEM;
    int w = snprintf(buf, cap,
                     "# truc agency directory - managed with `truc-keys directory`\n"
                     "[directory]\nformat = 1\nserial = %llu\n",
                     (unsigned long long) self->serial);
    size_t pos = w > 0 ? (size_t) w : 0;
    proto_err_t rc = PROTO_OK;
    if (self->updated) {
        char when[PROTO_DIRECTORY_TIME_LEN + 1];
        proto_directory_time_format(self->updated, when);
        rc = proto_ini_put(buf, cap, &pos, "updated", when, "");
    }
    if (rc == PROTO_OK && self->nbroker_retired) {
        char text[PROTO_KEYWIN_TEXT_MAX];
        proto_keywin_format(self->broker_retired, self->nbroker_retired, text);
        rc = proto_ini_put(buf, cap, &pos, "broker_retired", text, " ");
    }
    if (rc == PROTO_OK)
        rc = proto_route_table_put(self->routes, buf, cap, &pos);
    for (size_t i = 0; i < self->count && rc == PROTO_OK; i++)
        rc = s_put_entry(buf, cap, &pos, self->by_code[i]);
    if (rc != PROTO_OK) {
        //  Entries were checked when they came in, so they always fit.
        proto_detailf(errbuf, errlen, "cannot format the directory (%s)", proto_strerror(rc));
        rc = PROTO_ERR_INTERNAL;
    } else {
        rc = proto_file_write_atomic(path, buf, pos, 0644, true, errbuf, errlen);
    }
    free(buf);
    return rc;
}
