/*  route_table.c - federation: the broker entries of a directory, in
    memory and in the directory file.

    Owns the brokers (one allocation each: the struct, then the arrays of
    code and pattern pointers, then their text and the name) in an array
    sorted by label, and the index route.c builds over them. Checks every
    broker on its own (label, name, state, key, codes, patterns) and
    against the rest of the directory (one key space with the agencies, an
    agency's home against the codes a broker lists), reads and writes the
    [broker LABEL] sections, and gives the public broker functions of
    proto/route.h.

    Does not route (route.c) or log; the directory file as a whole is
    directory.c's.
*/
#include "proto/route.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/identity.h"

#include "detail.h"
#include "route_table.h"

//  ---------------------------------------------------------------------
//  Broker entries

proto_route_table_t *proto_route_table_new(void)
{
    return calloc(1, sizeof(proto_route_table_t));
}

void proto_route_table_destroy(proto_route_table_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    proto_route_table_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        free(self->brokers[i]);
    free(self->brokers);
    free(self->rules);
    free(self);
    *self_p = NULL;
}

//  Binary search by label: the index of label, or where it would go.
static size_t s_search_label(const proto_route_table_t *self, const char *label, bool *found)
{
    size_t lo = 0, hi = self->count;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(label, self->brokers[mid]->label);
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

static proto_directory_broker_t *s_find(const proto_route_table_t *self, const char *label)
{
    bool found = false;
    size_t i = s_search_label(self, label, &found);
    return found ? self->brokers[i] : NULL;
}

const proto_directory_broker_t *proto_route_table_find_curve(const proto_route_table_t *self,
                                                             const uint8_t *curve_pk)
{
    for (size_t i = 0; self && curve_pk && i < self->count; i++)
        if (memcmp(self->brokers[i]->curve_pk, curve_pk, PROTO_IDENTITY_KEY_LEN) == 0)
            return self->brokers[i];
    return NULL;
}

//  What is wrong with a broker's own fields, or NULL; *code gets the error.
static const char *s_broker_problem(const proto_directory_broker_t *in, proto_err_t *code,
                                    const char **item)
{
    size_t label_len = strnlen(in->label, sizeof in->label);
    *code = PROTO_ERR_VALUE;
    *item = NULL;
    if (label_len == sizeof in->label || proto_label_check(in->label, label_len) != PROTO_OK)
        return "label is not a broker label (1 to 41 of A-Z a-z 0-9 . _ -, starting with a "
               "letter or digit)";
    if (label_len > PROTO_DIRECTORY_BROKER_LABEL)
        return "label is longer than 41 bytes, which a directory section cannot hold";
    if (proto_agency_code_check(in->label, label_len) == PROTO_OK)
        return "label is an agency code; a broker's label must not be one";
    if (!in->name || proto_directory_name_check(in->name) != PROTO_OK)
        return "name is not a display name (1 to 200 characters, no control characters, "
               "';', or leading, trailing or doubled spaces)";
    if (in->state != PROTO_DIRECTORY_ACTIVE && in->state != PROTO_DIRECTORY_SUSPENDED &&
        in->state != PROTO_DIRECTORY_REVOKED)
        return "state is unknown";
    *code = PROTO_ERR_LIMIT;
    if (in->code_count > PROTO_DIRECTORY_BROKER_CODES)
        return "codes lists more than 4096 codes";
    if (in->pattern_count > PROTO_DIRECTORY_BROKER_PATTERNS)
        return "patterns lists more than 32 patterns";
    *code = PROTO_ERR_VALUE;
    if ((in->code_count && !in->codes) || (in->pattern_count && !in->patterns))
        return "codes or patterns are missing";
    for (size_t i = 0; i < in->code_count; i++) {
        *item = in->codes[i];
        if (!in->codes[i] ||
            proto_agency_code_check(in->codes[i], strlen(in->codes[i])) != PROTO_OK)
            return "is not a valid agency code";
    }
    for (size_t i = 0; i < in->pattern_count; i++) {
        char key[PROTO_AGENCY_CODE_LEN + 1];
        int literals = 0;
        const char *why = NULL;
        *item = in->patterns[i];
        if (!in->patterns[i] || proto_route_pattern_parse(in->patterns[i], key, &literals, &why))
            return why ? why : "is not a pattern";
    }
    *item = NULL;
    *code = PROTO_OK;
    return NULL;
}

//  Check a broker and make an owned copy in one allocation, its CURVE key
//  derived. On failure detail says what is wrong.
static proto_err_t s_broker_copy(const proto_directory_broker_t *in, proto_directory_broker_t **out,
                                 char *detail, size_t dlen)
{
    proto_err_t rc = PROTO_OK;
    const char *item = NULL, *why = s_broker_problem(in, &rc, &item);
    if (why) {
        if (item)
            snprintf(detail, dlen, "[broker %.41s] '%s' %s", in->label, item, why);
        else
            snprintf(detail, dlen, "[broker %.41s] %s", in->label, why);
        return rc;
    }
    size_t n = in->code_count + in->pattern_count, text = strlen(in->name) + 1;
    for (size_t i = 0; i < in->pattern_count; i++)
        text += strlen(in->patterns[i]) + 1;
    text += in->code_count * (PROTO_AGENCY_CODE_LEN + 1);
    proto_directory_broker_t *copy = malloc(sizeof *copy + n * sizeof(char *) + text);
    if (!copy)
        return PROTO_ERR_NOMEM;
    *copy = *in;
    const char **ptrs = (const char **) (copy + 1);
    char *p = (char *) (ptrs + n);
    for (size_t i = 0; i < n; i++) {
        const char *src = i < in->code_count ? in->codes[i] : in->patterns[i - in->code_count];
        size_t len = strlen(src) + 1;
        memcpy(p, src, len);
        ptrs[i] = p;
        p += len;
    }
    memcpy(p, in->name, strlen(in->name) + 1);
    copy->name = p;
    copy->codes = in->code_count ? ptrs : NULL;
    copy->patterns = in->pattern_count ? ptrs + in->code_count : NULL;
    if (crypto_sign_ed25519_pk_to_curve25519(copy->curve_pk, copy->sign_pk) != 0) {
        snprintf(detail, dlen, "[broker %s] sign_key is not a usable Ed25519 public key",
                 in->label);
        free(copy);
        return PROTO_ERR_VALUE;
    }
    *out = copy;
    return PROTO_OK;
}

//  Insert an owned broker in label order (the caller checked the label).
static proto_err_t s_insert(proto_route_table_t *self, proto_directory_broker_t *broker)
{
    bool found = false;
    size_t at = s_search_label(self, broker->label, &found);
    proto_directory_broker_t **grown =
        realloc(self->brokers, (self->count + 1) * sizeof *self->brokers);
    if (!grown)
        return PROTO_ERR_NOMEM;
    self->brokers = grown;
    memmove(self->brokers + at + 1, self->brokers + at, (self->count - at) * sizeof *grown);
    self->brokers[at] = broker;
    self->count++;
    return PROTO_OK;
}

proto_err_t proto_route_table_copy(const proto_route_table_t *src, proto_route_table_t **out)
{
    proto_route_table_t *self = proto_route_table_new();
    if (!self)
        return PROTO_ERR_NOMEM;
    self->brokers = src->count ? calloc(src->count, sizeof *self->brokers) : NULL;
    proto_err_t rc = src->count && !self->brokers ? PROTO_ERR_NOMEM : PROTO_OK;
    char detail[PROTO_ROUTE_DETAIL_MAX];
    //  In label order already; each broker checked again, which costs
    //  little at the 256 a directory may hold.
    for (size_t i = 0; !rc && i < src->count; i++) {
        rc = s_broker_copy(src->brokers[i], &self->brokers[i], detail, sizeof detail);
        if (!rc)
            self->count++;
    }
    if (!rc)
        rc = proto_route_index(self, detail, sizeof detail);
    if (rc) {
        proto_route_table_destroy(&self);
        return rc == PROTO_ERR_NOMEM ? rc : PROTO_ERR_INTERNAL;
    }
    *out = self;
    return PROTO_OK;
}

static void s_remove(proto_route_table_t *self, const char *label)
{
    bool found = false;
    size_t at = s_search_label(self, label, &found);
    if (!found)
        return;
    free(self->brokers[at]);
    memmove(self->brokers + at, self->brokers + at + 1,
            (self->count - at - 1) * sizeof *self->brokers);
    self->count--;
}

proto_err_t proto_route_table_home_check(const proto_route_table_t *self, const char *code,
                                         const char *home, char *errbuf, size_t errlen)
{
    if (home && *home && !s_find(self, home)) {
        proto_detailf(errbuf, errlen, "[%s] home '%s' is not a broker of the directory", code,
                      home);
        return PROTO_ERR_NOT_FOUND;
    }
    const proto_route_rule_t *rule = proto_route_rule_find(self, code);
    if (rule && (!home || strcmp(home, rule->broker->label) != 0)) {
        if (home && *home)
            proto_detailf(errbuf, errlen,
                          "[broker %s] lists %s, whose entry has home = %s; a code has one home",
                          rule->broker->label, code, home);
        else
            proto_detailf(errbuf, errlen,
                          "[broker %s] lists %s, whose entry has no home (served here); a code "
                          "has one home",
                          rule->broker->label, code);
        return PROTO_ERR_DIRECTORY;
    }
    return PROTO_OK;
}

//  ---------------------------------------------------------------------
//  The broker sections of the directory file

//  Split a space-separated list (a copy of text, owned by *copy) into at
//  most max + 1 words; one more than max tells the caller it is too long.
static proto_err_t s_words(const char *text, size_t max, char **copy, const char ***words,
                           size_t *count)
{
    *count = 0;
    *words = NULL;
    *copy = strdup(text ? text : "");
    *words = malloc((max + 1) * sizeof **words);
    if (!*copy || !*words)
        return PROTO_ERR_NOMEM;
    for (char *p = *copy; *p && *count <= max;) {
        while (*p == ' ' || *p == '\t')
            *p++ = '\0';
        if (!*p)
            break;
        (*words)[(*count)++] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
    }
    return PROTO_OK;
}

static proto_err_t s_section_broker(const proto_ini_section_t *section, proto_directory_broker_t *b,
                                    char *detail, size_t dlen)
{
    static const char *const allowed[] = { "name", "sign_key", "state", "codes", "patterns", NULL };
    const char *label = section->name + strlen(PROTO_ROUTE_SECTION_PREFIX);
    snprintf(b->label, sizeof b->label, "%s", label);
    for (size_t i = 0; i < section->count; i++) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, section->pairs[i].key) == 0;
        if (!ok) {
            snprintf(detail, dlen, "line %u: [%s] unknown key '%s'", section->pairs[i].line,
                     section->name, section->pairs[i].key);
            return PROTO_ERR_DIRECTORY;
        }
    }
    const char *need[] = { "name", "sign_key", "state" };
    for (size_t i = 0; i < 3; i++) {
        if (!proto_ini_find(section, need[i])) {
            snprintf(detail, dlen, "line %u: [%s] has no '%s'", section->line, section->name,
                     need[i]);
            return PROTO_ERR_DIRECTORY;
        }
    }
    b->name = proto_ini_find(section, "name")->value;
    const proto_ini_pair_t *key = proto_ini_find(section, "sign_key");
    if (proto_hex_decode(key->value, b->sign_pk, sizeof b->sign_pk) != PROTO_OK) {
        snprintf(detail, dlen, "line %u: [%s] sign_key must be 64 hex digits", key->line,
                 section->name);
        return PROTO_ERR_DIRECTORY;
    }
    const proto_ini_pair_t *state = proto_ini_find(section, "state");
    if (proto_directory_state_parse(state->value, &b->state) != PROTO_OK) {
        snprintf(detail, dlen, "line %u: [%s] unknown state '%s' (active, suspended or revoked)",
                 state->line, section->name, state->value);
        return PROTO_ERR_DIRECTORY;
    }
    return PROTO_OK;
}

proto_err_t proto_route_table_section(proto_route_table_t *self, const proto_ini_section_t *section,
                                      char *errbuf, size_t errlen)
{
    char detail[PROTO_ROUTE_DETAIL_MAX] = "";
    proto_directory_broker_t b;
    memset(&b, 0, sizeof b);
    proto_err_t rc = s_section_broker(section, &b, detail, sizeof detail);
    if (rc != PROTO_OK) {
        proto_detailf(errbuf, errlen, "%s", detail);
        return rc;
    }
    const proto_ini_pair_t *codes = proto_ini_find(section, "codes");
    const proto_ini_pair_t *patterns = proto_ini_find(section, "patterns");
    char *code_text = NULL, *pattern_text = NULL;
    const char **code_words = NULL, **pattern_words = NULL;
    rc = s_words(codes ? codes->value : "", PROTO_DIRECTORY_BROKER_CODES, &code_text, &code_words,
                 &b.code_count);
    if (rc == PROTO_OK)
        rc = s_words(patterns ? patterns->value : "", PROTO_DIRECTORY_BROKER_PATTERNS,
                     &pattern_text, &pattern_words, &b.pattern_count);
    b.codes = code_words;
    b.patterns = pattern_words;
    proto_directory_broker_t *copy = NULL;
    if (rc == PROTO_OK && s_find(self, b.label)) {
        snprintf(detail, sizeof detail, "duplicate section [%s]", section->name);
        rc = PROTO_ERR_DIRECTORY;
    } else if (rc == PROTO_OK && self->count >= PROTO_DIRECTORY_MAX_BROKERS) {
        snprintf(detail, sizeof detail, "more than %d brokers", PROTO_DIRECTORY_MAX_BROKERS);
        rc = PROTO_ERR_DIRECTORY;
    } else if (rc == PROTO_OK) {
        rc = s_broker_copy(&b, &copy, detail, sizeof detail);
    }
    if (rc == PROTO_OK) {
        rc = s_insert(self, copy);
        if (rc != PROTO_OK)
            free(copy);
    }
    free(code_text);
    free(pattern_text);
    free(code_words);
    free(pattern_words);
    if (rc == PROTO_ERR_NOMEM)
        return rc;
    if (rc != PROTO_OK) {
        proto_detailf(errbuf, errlen, "line %u: %s", section->line, detail);
        return PROTO_ERR_DIRECTORY;
    }
    return PROTO_OK;
}

proto_err_t proto_route_table_check(proto_route_table_t *self, const proto_directory_t *dir,
                                    char *errbuf, size_t errlen)
{
    char detail[PROTO_ROUTE_DETAIL_MAX] = "";
    //  One key space: ZAP looks CURVE keys up without knowing who may come.
    for (size_t i = 0; i < self->count; i++) {
        const proto_directory_broker_t *b = self->brokers[i];
        const proto_directory_entry_t *agency = proto_directory_find_curve(dir, b->curve_pk);
        const proto_directory_broker_t *other = proto_route_table_find_curve(self, b->curve_pk);
        if (agency || other != b) {
            proto_detailf(errbuf, errlen, "[broker %s] has the same key as [%s%s]", b->label,
                          agency ? "" : "broker ", agency ? agency->code : other->label);
            return PROTO_ERR_DIRECTORY;
        }
    }
    proto_err_t rc = proto_route_index(self, detail, sizeof detail);
    if (rc == PROTO_ERR_NOMEM || rc == PROTO_ERR_INTERNAL)
        return rc;
    if (rc != PROTO_OK) {
        proto_detailf(errbuf, errlen, "%s", detail);
        return PROTO_ERR_DIRECTORY;
    }
    //  Homes last: they need the brokers and the index of explicit codes.
    for (size_t i = 0; i < proto_directory_count(dir); i++) {
        const proto_directory_entry_t *e = proto_directory_entry(dir, i);
        if (!e->home[0] && !self->rule_count)
            continue;
        rc = proto_route_table_home_check(self, e->code, e->home, errbuf, errlen);
        if (rc != PROTO_OK)
            return PROTO_ERR_DIRECTORY;
    }
    return PROTO_OK;
}

size_t proto_route_table_text_max(const proto_route_table_t *self)
{
    //  Header, name (folded), key and state fit 1400 bytes like an agency;
    //  each code or pattern takes its bytes, a space, and its share of the
    //  folding (a newline and four blanks every 160 bytes).
    size_t size = 0;
    for (size_t i = 0; self && i < self->count; i++)
        size += 1400 + (self->brokers[i]->code_count + self->brokers[i]->pattern_count) * 16;
    return size;
}

//  A list joined by single spaces, for proto_ini_put to fold.
static proto_err_t s_put_list(char *buf, size_t cap, size_t *pos, const char *key,
                              const char *const *items, size_t count)
{
    if (count == 0)
        return PROTO_OK;
    size_t len = 0;
    for (size_t i = 0; i < count; i++)
        len += strlen(items[i]) + 1;
    char *joined = malloc(len);
    if (!joined)
        return PROTO_ERR_NOMEM;
    size_t w = 0;
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(items[i]);
        memcpy(joined + w, items[i], n);
        w += n;
        joined[w++] = i + 1 < count ? ' ' : '\0';
    }
    proto_err_t rc = proto_ini_put(buf, cap, pos, key, joined, " ");
    free(joined);
    return rc;
}

proto_err_t proto_route_table_put(const proto_route_table_t *self, char *buf, size_t cap,
                                  size_t *pos)
{
    char hex[2 * PROTO_IDENTITY_KEY_LEN + 1];
    proto_err_t rc = PROTO_OK;
    for (size_t i = 0; self && i < self->count && rc == PROTO_OK; i++) {
        const proto_directory_broker_t *b = self->brokers[i];
        int w =
            snprintf(buf + *pos, cap - *pos, "\n[" PROTO_ROUTE_SECTION_PREFIX "%s]\n", b->label);
        if (w < 0 || (size_t) w >= cap - *pos)
            return PROTO_ERR_LIMIT;
        *pos += (size_t) w;
        proto_hex_encode(b->sign_pk, sizeof b->sign_pk, hex);
        rc = proto_ini_put(buf, cap, pos, "name", b->name, " ");
        if (rc == PROTO_OK)
            rc = proto_ini_put(buf, cap, pos, "sign_key", hex, "");
        if (rc == PROTO_OK)
            rc = proto_ini_put(buf, cap, pos, "state", proto_directory_state_name(b->state), "");
        if (rc == PROTO_OK)
            rc = s_put_list(buf, cap, pos, "codes", b->codes, b->code_count);
        if (rc == PROTO_OK)
            rc = s_put_list(buf, cap, pos, "patterns", b->patterns, b->pattern_count);
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  The public face: the brokers of a directory

size_t proto_directory_broker_count(const proto_directory_t *dir)
{
    return dir ? proto_directory_routes(dir)->count : 0;
}

const proto_directory_broker_t *proto_directory_broker(const proto_directory_t *dir, size_t index)
{
    if (!dir || index >= proto_directory_routes(dir)->count)
        return NULL;
    return proto_directory_routes(dir)->brokers[index];
}

const proto_directory_broker_t *proto_directory_broker_find(const proto_directory_t *dir,
                                                            const char *label)
{
    return dir && label ? s_find(proto_directory_routes(dir), label) : NULL;
}

const proto_directory_broker_t *
proto_directory_broker_find_curve(const proto_directory_t *dir,
                                  const uint8_t curve_pk[PROTO_IDENTITY_KEY_LEN])
{
    return dir ? proto_route_table_find_curve(proto_directory_routes(dir), curve_pk) : NULL;
}

//  The checks of a new broker against the rest of the directory, before it
//  goes in: label and key free, explicit codes not another's home.
static proto_err_t s_add_check(const proto_directory_t *dir, const proto_directory_broker_t *b,
                               char *detail, size_t dlen)
{
    const proto_route_table_t *self = proto_directory_routes(dir);
    const proto_directory_entry_t *agency = proto_directory_find_curve(dir, b->curve_pk);
    const proto_directory_broker_t *other = proto_route_table_find_curve(self, b->curve_pk);
    if (s_find(self, b->label)) {
        snprintf(detail, dlen, "[broker %s] is already in the directory", b->label);
        return PROTO_ERR_EXISTS;
    }
    if (agency || other) {
        snprintf(detail, dlen, "the key of broker %s is already in the directory for %s %s",
                 b->label, agency ? "agency" : "broker", agency ? agency->code : other->label);
        return PROTO_ERR_EXISTS;
    }
    if (self->count >= PROTO_DIRECTORY_MAX_BROKERS || !proto_directory_can_change(dir)) {
        snprintf(detail, dlen, "the directory is full (%d brokers) or its serial is at its end",
                 PROTO_DIRECTORY_MAX_BROKERS);
        return PROTO_ERR_LIMIT;
    }
    for (size_t i = 0; i < b->code_count; i++) {
        const proto_directory_entry_t *e = proto_directory_find(dir, b->codes[i]);
        if (e && strcmp(e->home, b->label) != 0) {
            snprintf(detail, dlen,
                     "[broker %s] lists %s, whose entry has %s%s; a code has one home", b->label,
                     e->code, e->home[0] ? "home = " : "no home (served here)", e->home);
            return PROTO_ERR_DIRECTORY;
        }
    }
    return PROTO_OK;
}

proto_err_t proto_directory_broker_add(proto_directory_t *dir,
                                       const proto_directory_broker_t *broker, char *errbuf,
                                       size_t errlen)
{
    if (!dir || !broker)
        return PROTO_ERR_INVALID_ARG;
    if (sodium_init() < 0)
        return PROTO_ERR_CRYPTO;
    proto_route_table_t *self = proto_directory_routes(dir);
    char detail[PROTO_ROUTE_DETAIL_MAX] = "";
    proto_directory_broker_t *copy = NULL;
    proto_err_t rc = s_broker_copy(broker, &copy, detail, sizeof detail);
    if (rc == PROTO_OK)
        rc = s_add_check(dir, copy, detail, sizeof detail);
    if (rc == PROTO_OK) {
        rc = s_insert(self, copy);
        if (rc == PROTO_OK) {
            char label[PROTO_LABEL_MAX + 1];
            memcpy(label, copy->label, sizeof label);
            copy = NULL; // the table owns it now
            rc = proto_route_index(self, detail, sizeof detail);
            if (rc != PROTO_OK)
                s_remove(self, label); // the old index still stands
        }
    }
    free(copy);
    if (rc != PROTO_OK) {
        proto_detailf(errbuf, errlen, "%s", detail);
        return rc;
    }
    proto_directory_touch(dir);
    return PROTO_OK;
}

proto_err_t proto_directory_broker_set_state(proto_directory_t *dir, const char *label,
                                             proto_directory_state_t state)
{
    if (!dir || !label ||
        (state != PROTO_DIRECTORY_ACTIVE && state != PROTO_DIRECTORY_SUSPENDED &&
         state != PROTO_DIRECTORY_REVOKED))
        return PROTO_ERR_INVALID_ARG;
    proto_directory_broker_t *b = s_find(proto_directory_routes(dir), label);
    if (!b)
        return PROTO_ERR_NOT_FOUND;
    if (b->state == state)
        return PROTO_OK;
    if (b->state == PROTO_DIRECTORY_REVOKED)
        return PROTO_ERR_BAD_STATE;
    if (!proto_directory_can_change(dir))
        return PROTO_ERR_LIMIT;
    b->state = state;
    proto_directory_touch(dir);
    return PROTO_OK;
}
