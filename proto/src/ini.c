/*  ini.c - the strict INI reader and writer on top of inih.

    Owns no state between calls: a parse gathers one section at a time,
    hands it to the caller whole and wipes every value before it frees it,
    because key files carry secrets in their values.

    Deliberately not a general-purpose INI library: it refuses what inih
    would accept quietly (see proto/ini.h) and knows nothing of what the
    sections mean. Does not read files (fileio.c) and does not log.
*/
#include "proto/ini.h"

#include <ini.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Lines we write stay under S_INI_SOFT_WIDTH when they can, and never pass
//  S_INI_HARD_WIDTH: inih reads lines into a fixed buffer (INI_MAX_LINE, 200
//  bytes in the builds we use) and would silently split a longer line.
#define S_INI_SOFT_WIDTH  160
#define S_INI_HARD_WIDTH  190
#define S_INI_INDENT      "    "
#define S_INI_SECTION_MAX 48 // inih truncates section names at 49 bytes

//  ---------------------------------------------------------------------
//  Reading
//
//  inih calls our reader for each line and our handler for each key. The
//  reader sees the raw line first, so it can refuse what inih would accept
//  quietly (over-long lines it would split, NUL bytes, stray text after a
//  header) and tell the handler whether the current line was indented and
//  whether a new [section] began. The handler gathers one section at a
//  time and hands it over whole, so callers check required and unknown keys
//  in one place.

typedef struct {
    const char *text; // the input
    size_t len;
    size_t pos;
    const proto_ini_fold_t *folds; // foldable keys, NULL-key terminated, or NULL
    proto_ini_section_fn *fn;
    void *arg;
    proto_err_t fail;
    char *errbuf;
    size_t errlen;
    proto_err_t err; // first failure; once set, everything stops

    unsigned line;        // lines handed to inih so far
    bool indented;        // the current line starts with blank space
    bool header_pending;  // a [header] was read and no key since
    unsigned header_line; // line of the latest header
    char header_name[S_INI_SECTION_MAX + 1];

    bool in_section;                       // a section is being gathered
    char section[S_INI_SECTION_MAX + 1];   // its name
    unsigned section_line;                 // its header line
    size_t count;                          // keys gathered
    char *keys[PROTO_INI_MAX_KEYS];        // owned
    char *values[PROTO_INI_MAX_KEYS];      // owned, wiped before free
    size_t value_lens[PROTO_INI_MAX_KEYS]; // strlen of values
    unsigned lines[PROTO_INI_MAX_KEYS];    // line of each key
} s_ini_t;

static void s_ini_failf(s_ini_t *self, proto_err_t err, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void s_ini_failf(s_ini_t *self, proto_err_t err, const char *format, ...)
{
    if (self->err != PROTO_OK)
        return;
    self->err = err;
    if (self->errbuf && self->errlen > 0) {
        va_list args;
        va_start(args, format);
        vsnprintf(self->errbuf, self->errlen, format, args);
        va_end(args);
    }
}

static void s_ini_clear_section(s_ini_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        free(self->keys[i]);
        sodium_memzero(self->values[i], self->value_lens[i]);
        free(self->values[i]);
        self->keys[i] = self->values[i] = NULL;
    }
    self->count = 0;
    self->in_section = false;
}

static void s_ini_flush(s_ini_t *self)
{
    if (!self->in_section || self->err != PROTO_OK)
        return;
    proto_ini_pair_t pairs[PROTO_INI_MAX_KEYS];
    for (size_t i = 0; i < self->count; i++)
        pairs[i] = (proto_ini_pair_t){ self->keys[i], self->values[i], self->lines[i] };
    proto_ini_section_t section = { self->section, self->section_line, self->count, pairs };
    proto_err_t rc = self->fn(self->arg, &section, self->errbuf, self->errlen);
    if (rc != PROTO_OK)
        self->err = rc;
    s_ini_clear_section(self);
}

static const char *s_ini_joiner(const s_ini_t *self, const char *key)
{
    for (const proto_ini_fold_t *f = self->folds; f && f->key; f++)
        if (strcmp(f->key, key) == 0)
            return f->joiner;
    return NULL;
}

//  Look at one raw line (n bytes, no line ending) before inih does.
static void s_ini_classify(s_ini_t *self, const char *line, size_t n)
{
    if (self->line == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
        line += 3; // inih skips a UTF-8 byte order mark too
        n -= 3;
    }
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
        n--;
    size_t lead = 0;
    while (lead < n && (line[lead] == ' ' || line[lead] == '\t'))
        lead++;
    self->indented = false;
    if (lead == n || line[lead] == '#' || line[lead] == ';')
        return; // blank or comment
    if (line[lead] == '[') {
        if (lead > 0) {
            s_ini_failf(self, self->fail, "line %u: indented section header", self->line);
            return;
        }
        const char *close = memchr(line, ']', n);
        if (!close || close != line + n - 1) {
            s_ini_failf(self, self->fail, "line %u: a section header must be [name] alone",
                        self->line);
            return;
        }
        size_t name_len = (size_t) (close - line) - 1;
        if (name_len == 0 || name_len > S_INI_SECTION_MAX) {
            s_ini_failf(self, self->fail, "line %u: section name empty or longer than %d bytes",
                        self->line, S_INI_SECTION_MAX);
            return;
        }
        if (self->header_pending) {
            s_ini_failf(self, self->fail, "line %u: section [%s] is empty", self->header_line,
                        self->header_name);
            return;
        }
        self->header_pending = true;
        self->header_line = self->line;
        memcpy(self->header_name, line + 1, name_len);
        self->header_name[name_len] = '\0';
        return;
    }
    self->indented = lead > 0;
}

static char *s_ini_reader(char *str, int num, void *stream)
{
    s_ini_t *self = stream;
    if (self->err != PROTO_OK || self->pos >= self->len)
        return NULL;
    const char *start = self->text + self->pos;
    size_t rest = self->len - self->pos;
    const char *nl = memchr(start, '\n', rest);
    size_t n = nl ? (size_t) (nl - start) : rest;
    self->line++;
    //  inih needs room for the line ending and a NUL. A longer line would be
    //  split in two and the rest read as a line of its own: refuse instead.
    if (num < 2 || n > (size_t) num - 2) {
        s_ini_failf(self, self->fail,
                    "line %u: longer than %d bytes (continue long values on indented lines)",
                    self->line, num < 2 ? 0 : num - 2);
        return NULL;
    }
    if (memchr(start, '\0', n)) {
        s_ini_failf(self, self->fail, "line %u: contains a NUL byte", self->line);
        return NULL;
    }
    memcpy(str, start, n);
    str[n] = '\n';
    str[n + 1] = '\0';
    self->pos += n + (nl ? 1 : 0);
    s_ini_classify(self, str, n);
    return self->err == PROTO_OK ? str : NULL;
}

static proto_err_t s_ini_append(s_ini_t *self, size_t i, const char *joiner, const char *more)
{
    size_t old = self->value_lens[i], jl = strlen(joiner), ml = strlen(more);
    char *grown = malloc(old + jl + ml + 1);
    if (!grown)
        return PROTO_ERR_NOMEM;
    memcpy(grown, self->values[i], old);
    memcpy(grown + old, joiner, jl);
    memcpy(grown + old + jl, more, ml + 1);
    sodium_memzero(self->values[i], old);
    free(self->values[i]);
    self->values[i] = grown;
    self->value_lens[i] = old + jl + ml;
    return PROTO_OK;
}

static int s_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    s_ini_t *self = user;
    if (self->err != PROTO_OK)
        return 0;
    if (self->indented) {
        //  inih reads an indented line after a key as more of that key's
        //  value; we allow that only for the keys the caller lets fold.
        const char *joiner = NULL;
        if (!self->header_pending && self->count > 0 &&
            strcmp(self->keys[self->count - 1], name) == 0)
            joiner = s_ini_joiner(self, name);
        if (!joiner) {
            s_ini_failf(self, self->fail,
                        "line %u: unexpected indented line (only long values may continue on "
                        "indented lines)",
                        self->line);
            return 0;
        }
        if (s_ini_append(self, self->count - 1, joiner, value) != PROTO_OK) {
            s_ini_failf(self, PROTO_ERR_NOMEM, "out of memory");
            return 0;
        }
        return 1;
    }
    if (self->header_pending) {
        s_ini_flush(self);
        if (self->err != PROTO_OK)
            return 0;
        self->header_pending = false;
        self->in_section = true;
        snprintf(self->section, sizeof self->section, "%s", section);
        self->section_line = self->header_line;
    } else if (!self->in_section) {
        s_ini_failf(self, self->fail, "line %u: key '%s' outside any [section]", self->line, name);
        return 0;
    }
    if (name[0] == '\0') {
        s_ini_failf(self, self->fail, "line %u: empty key", self->line);
        return 0;
    }
    for (size_t i = 0; i < self->count; i++) {
        if (strcmp(self->keys[i], name) == 0) {
            s_ini_failf(self, self->fail, "line %u: duplicate key '%s' in [%s] (first on line %u)",
                        self->line, name, self->section, self->lines[i]);
            return 0;
        }
    }
    if (self->count == PROTO_INI_MAX_KEYS) {
        s_ini_failf(self, self->fail, "line %u: more than %d keys in [%s]", self->line,
                    PROTO_INI_MAX_KEYS, self->section);
        return 0;
    }
    size_t i = self->count;
    self->keys[i] = strdup(name);
    self->values[i] = strdup(value);
    if (!self->keys[i] || !self->values[i]) {
        free(self->keys[i]);
        free(self->values[i]);
        self->keys[i] = self->values[i] = NULL;
        s_ini_failf(self, PROTO_ERR_NOMEM, "out of memory");
        return 0;
    }
    self->value_lens[i] = strlen(value);
    self->lines[i] = self->line;
    self->count++;
    return 1;
}

proto_err_t proto_ini_parse(const char *text, size_t len, const proto_ini_fold_t *folds,
                            proto_ini_section_fn *fn, void *arg, proto_err_t fail, char *errbuf,
                            size_t errlen)
{
    if ((!text && len > 0) || !fn)
        return PROTO_ERR_INVALID_ARG;
    s_ini_t *self = calloc(1, sizeof *self);
    if (!self)
        return PROTO_ERR_NOMEM;
    self->text = text ? text : "";
    self->len = len;
    self->folds = folds;
    self->fn = fn;
    self->arg = arg;
    self->fail = fail;
    self->errbuf = errbuf;
    self->errlen = errlen;
    int rc = ini_parse_stream(s_ini_reader, self, s_ini_handler, self);
    if (self->err == PROTO_OK) {
        if (rc > 0)
            s_ini_failf(self, fail, "line %d: expected 'key = value', a [section] or a comment",
                        rc);
        else if (rc < 0)
            s_ini_failf(self, PROTO_ERR_NOMEM, "out of memory");
        else if (self->header_pending)
            s_ini_failf(self, fail, "line %u: section [%s] is empty", self->header_line,
                        self->header_name);
        else
            s_ini_flush(self);
    }
    s_ini_clear_section(self);
    proto_err_t err = self->err;
    sodium_memzero(self, sizeof *self);
    free(self);
    return err;
}

const proto_ini_pair_t *proto_ini_find(const proto_ini_section_t *section, const char *key)
{
    for (size_t i = 0; section && key && i < section->count; i++)
        if (strcmp(section->pairs[i].key, key) == 0)
            return &section->pairs[i];
    return NULL;
}

static proto_err_t s_put_piece(char *buf, size_t cap, size_t *pos, const char *prefix,
                               const char *piece, size_t n)
{
    int w = snprintf(buf + *pos, cap - *pos, "%s%.*s\n", prefix, (int) n, piece);
    if (w < 0 || (size_t) w >= cap - *pos) {
        buf[*pos] = '\0';
        return PROTO_ERR_LIMIT;
    }
    *pos += (size_t) w;
    return PROTO_OK;
}

//  Can text be folded at the space at i? Only between two words, and not
//  before a word that would read as a comment or a section header when it
//  starts a line.
static bool s_fold_point(const char *text, size_t i)
{
    return text[i] == ' ' && text[i - 1] != ' ' && text[i + 1] != '\0' && text[i + 1] != ' ' &&
           !strchr("#;[", text[i + 1]);
}

proto_err_t proto_ini_put(char *buf, size_t cap, size_t *pos, const char *key, const char *value,
                          const char *joiner)
{
    if (!buf || !pos || *pos >= cap || !key || !value || !joiner)
        return PROTO_ERR_INVALID_ARG;
    if (strpbrk(key, "\r\n") || strpbrk(value, "\r\n"))
        return PROTO_ERR_VALUE;
    bool at_space = joiner[0] == ' ';
    size_t first_prefix = strlen(key) + 3;
    if (first_prefix + 1 > S_INI_SOFT_WIDTH)
        return PROTO_ERR_LIMIT;
    char *prefix = malloc(first_prefix + 1);
    if (!prefix)
        return PROTO_ERR_NOMEM;
    snprintf(prefix, first_prefix + 1, "%s = ", key);
    const char *rest = value;
    size_t rest_len = strlen(value);
    size_t start = *pos;
    proto_err_t rc = PROTO_OK;
    for (bool first = true; rc == PROTO_OK; first = false) {
        const char *lead = first ? prefix : S_INI_INDENT;
        size_t lead_len = strlen(lead);
        size_t soft = S_INI_SOFT_WIDTH - lead_len, hard = S_INI_HARD_WIDTH - lead_len;
        if (rest_len <= soft) {
            rc = s_put_piece(buf, cap, pos, lead, rest, rest_len);
            break;
        }
        size_t cut = 0, skip = 0;
        if (!at_space) {
            cut = soft;
        } else {
            //  Fold at a single space between two words, as late as fits
            //  the soft width, else as early as fits the hard one.
            for (size_t i = soft; i >= 1 && cut == 0; i--)
                if (s_fold_point(rest, i))
                    cut = i;
            for (size_t i = soft + 1; i <= hard && i < rest_len && cut == 0; i++)
                if (s_fold_point(rest, i))
                    cut = i;
            if (cut == 0) {
                if (rest_len <= hard) {
                    rc = s_put_piece(buf, cap, pos, lead, rest, rest_len);
                    break;
                }
                rc = PROTO_ERR_LIMIT;
                break;
            }
            skip = 1;
        }
        rc = s_put_piece(buf, cap, pos, lead, rest, cut);
        rest += cut + skip;
        rest_len -= cut + skip;
    }
    free(prefix);
    if (rc != PROTO_OK) {
        *pos = start;
        buf[start] = '\0';
    }
    return rc;
}
