/*  cli_out - what `truc` prints for people: safe text, times, sizes, tables.

    Widths are counted in code points (combining marks count zero), which is
    right for Vietnamese in NFC or NFD and close enough for anything else a
    document subject holds.
*/
#include "cli_out.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/agency.h"

static bool s_combining(uint32_t cp)
{
    return (cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x1ab0 && cp <= 0x1aff) ||
           (cp >= 0x1dc0 && cp <= 0x1dff) || (cp >= 0x20d0 && cp <= 0x20ff) ||
           (cp >= 0xfe20 && cp <= 0xfe2f);
}

//  Code points a terminal must not receive from another agency's text:
//  C0 and C1 controls, DEL, and the bidirectional overrides that can make
//  a line read differently from what it holds.
static bool s_unsafe(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

static size_t s_chars(const unsigned char *p, size_t n)
{
    size_t chars = 0, i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = proto_utf8_next(p + i, n - i, &cp);
        i += len ? len : 1;
        chars++;
    }
    return chars;
}

void cli_text(const char *text, size_t n, size_t max_chars, char *out, size_t cap)
{
    static const char ellipsis[] = "\xe2\x80\xa6"; // U+2026
    const unsigned char *p = (const unsigned char *) text;
    size_t keep = (size_t) -1;
    if (max_chars && s_chars(p, n) > max_chars)
        keep = max_chars - 1;
    size_t o = 0, i = 0, chars = 0;
    if (cap == 0)
        return;
    while (i < n && chars < keep) {
        uint32_t cp;
        size_t len = proto_utf8_next(p + i, n - i, &cp);
        const char *piece = (const char *) p + i;
        size_t plen = len;
        if (len && (cp == '\n' || cp == '\r' || cp == '\t' || cp == 0x2028 || cp == 0x2029)) {
            piece = " ";
            plen = 1;
        } else if (len == 0 || s_unsafe(cp)) {
            piece = "?";
            plen = 1;
        }
        if (o + plen + 1 > cap)
            break;
        memcpy(out + o, piece, plen);
        o += plen;
        i += len ? len : 1;
        chars++;
    }
    if (keep != (size_t) -1 && o + sizeof ellipsis <= cap) {
        memcpy(out + o, ellipsis, sizeof ellipsis - 1);
        o += sizeof ellipsis - 1;
    }
    out[o] = '\0';
}

size_t cli_text_width(const char *text)
{
    const unsigned char *p = (const unsigned char *) text;
    size_t n = strlen(text), i = 0, width = 0;
    while (i < n) {
        uint32_t cp = '?';
        size_t len = proto_utf8_next(p + i, n - i, &cp);
        i += len ? len : 1;
        if (!s_combining(cp))
            width++;
    }
    return width;
}

// ---------------------------------------------------------------------------
//  Reading replies

const msgpack_object *cli_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t n = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
            memcmp(k->via.str.ptr, key, n) == 0) {
            const msgpack_object *v = &map->via.map.ptr[i].val;
            return v->type == MSGPACK_OBJECT_NIL ? NULL : v;
        }
    }
    return NULL;
}

bool cli_get_uint(const msgpack_object *map, const char *key, uint64_t *out)
{
    const msgpack_object *v = cli_get(map, key);
    if (!v || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *out = v->via.u64;
    return true;
}

int cli_get_bool(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = cli_get(map, key);
    if (!v || v->type != MSGPACK_OBJECT_BOOLEAN)
        return -1;
    return v->via.boolean ? 1 : 0;
}

const char *cli_get_text(const msgpack_object *map, const char *key, char *buf, size_t cap)
{
    const msgpack_object *v = cli_get(map, key);
    if (!v || v->type != MSGPACK_OBJECT_STR || v->via.str.size == 0)
        return NULL;
    cli_text(v->via.str.ptr, v->via.str.size, 0, buf, cap);
    return buf;
}

static void s_append(char *buf, size_t cap, const char *text)
{
    size_t used = strlen(buf), n = strlen(text);
    if (used + 1 >= cap)
        return;
    if (n > cap - used - 1)
        n = cap - used - 1;
    memcpy(buf + used, text, n);
    buf[used + n] = '\0';
}

void cli_value_text(const msgpack_object *o, char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    char piece[512];
    if (cap == 0)
        return;
    buf[0] = '\0';
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        snprintf(buf, cap, "-");
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        snprintf(buf, cap, "%s", o->via.boolean ? "yes" : "no");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(buf, cap, "%llu", (unsigned long long) o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        snprintf(buf, cap, "%lld", (long long) o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        snprintf(buf, cap, "%g", o->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        cli_text(o->via.str.ptr, o->via.str.size, 0, buf, cap);
        if (!buf[0])
            snprintf(buf, cap, "-");
        break;
    case MSGPACK_OBJECT_BIN: {
        const unsigned char *p = (const unsigned char *) o->via.bin.ptr;
        size_t n = o->via.bin.size;
        for (size_t i = 0; i < n && 2 * i + 3 < sizeof piece; i++) {
            piece[2 * i] = hex[p[i] >> 4];
            piece[2 * i + 1] = hex[p[i] & 15];
            piece[2 * i + 2] = '\0';
        }
        if (n == 16)
            snprintf(buf, cap, "%.8s-%.4s-%.4s-%.4s-%.12s", piece, piece + 8, piece + 12,
                     piece + 16, piece + 20);
        else if (n == 0)
            snprintf(buf, cap, "-");
        else
            snprintf(buf, cap, "%s", piece);
        break;
    }
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            cli_value_text(&o->via.array.ptr[i], piece, sizeof piece);
            if (i)
                s_append(buf, cap, ", ");
            s_append(buf, cap, piece);
        }
        if (!buf[0])
            snprintf(buf, cap, "-");
        break;
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            if (i)
                s_append(buf, cap, ", ");
            cli_value_text(&o->via.map.ptr[i].key, piece, sizeof piece);
            s_append(buf, cap, piece);
            s_append(buf, cap, "=");
            cli_value_text(&o->via.map.ptr[i].val, piece, sizeof piece);
            s_append(buf, cap, piece);
        }
        if (!buf[0])
            snprintf(buf, cap, "-");
        break;
    default:
        snprintf(buf, cap, "?");
    }
}

void cli_time_text(uint64_t ms, bool with_seconds, char *buf, size_t cap)
{
    time_t t = (time_t) (ms / 1000u);
    struct tm tm;
    if (ms == 0 || !localtime_r(&t, &tm) ||
        strftime(buf, cap, with_seconds ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(buf, cap, "-");
}

void cli_size_text(uint64_t bytes, char *buf, size_t cap)
{
    if (bytes < 1024)
        snprintf(buf, cap, "%llu B", (unsigned long long) bytes);
    else if (bytes < (1u << 20))
        snprintf(buf, cap, "%.1f KiB", (double) bytes / 1024.0);
    else if (bytes < (1u << 30))
        snprintf(buf, cap, "%.1f MiB", (double) bytes / (1024.0 * 1024.0));
    else
        snprintf(buf, cap, "%.1f GiB", (double) bytes / (1024.0 * 1024.0 * 1024.0));
}

const char *cli_urgency_name(uint64_t urgency)
{
    static const char *const names[] = { "normal", "urgent", "very-urgent", "immediate" };
    return urgency < 4 ? names[urgency] : NULL;
}

const char *cli_status_name(uint64_t code)
{
    switch (code) {
    case 1:
        return "arrived";
    case 2:
        return "rejected";
    case 3:
        return "accepted";
    case 4:
        return "assigned";
    case 5:
        return "processing";
    case 6:
        return "completed";
    case 13:
        return "recall-requested";
    case 15:
        return "recall-accepted";
    case 16:
        return "recall-refused";
    default:
        return NULL;
    }
}

void cli_kv(FILE *out, const char *label, const char *value)
{
    fprintf(out, "%-16s %s\n", label, value ? value : "-");
}

// ---------------------------------------------------------------------------
//  Tables

struct cli_table {
    size_t ncols;               // columns
    const char *const *headers; // borrowed
    size_t *limit;              // per column, 0 = none
    char **cells;               // rows * ncols copies
    size_t rows;                // rows added
    size_t cap;                 // rows allocated
};

cli_table_t *cli_table_new(size_t ncols, const char *const *headers)
{
    cli_table_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ncols = ncols;
    self->headers = headers;
    self->limit = calloc(ncols, sizeof *self->limit);
    if (!self->limit) {
        free(self);
        return NULL;
    }
    return self;
}

void cli_table_destroy(cli_table_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cli_table_t *self = *self_p;
    for (size_t i = 0; i < self->rows * self->ncols; i++)
        free(self->cells[i]);
    free(self->cells);
    free(self->limit);
    free(self);
    *self_p = NULL;
}

void cli_table_limit(cli_table_t *self, size_t col, size_t max)
{
    if (col < self->ncols)
        self->limit[col] = max;
}

bool cli_table_add(cli_table_t *self, const char *const *cells)
{
    if (self->rows == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        char **grown = realloc(self->cells, cap * self->ncols * sizeof *grown);
        if (!grown)
            return false;
        self->cells = grown;
        self->cap = cap;
    }
    char **row = self->cells + self->rows * self->ncols;
    for (size_t c = 0; c < self->ncols; c++) {
        const char *text = cells[c] && cells[c][0] ? cells[c] : "-";
        size_t cap = strlen(text) + 4; // replacements never grow; room for "…"
        row[c] = malloc(cap);
        if (!row[c]) {
            for (size_t k = 0; k < c; k++)
                free(row[k]);
            return false;
        }
        cli_text(text, strlen(text), self->limit[c], row[c], cap);
    }
    self->rows++;
    return true;
}

size_t cli_table_rows(const cli_table_t *self)
{
    return self->rows;
}

static void s_cell(FILE *out, const char *text, size_t width, bool last)
{
    fputs(text, out);
    if (last)
        return;
    for (size_t w = cli_text_width(text); w < width + 2; w++)
        fputc(' ', out);
}

void cli_table_print(const cli_table_t *self, FILE *out)
{
    if (self->rows == 0) {
        fputs("  (none)\n", out);
        return;
    }
    size_t *width = calloc(self->ncols, sizeof *width);
    if (!width)
        return;
    for (size_t c = 0; c < self->ncols; c++) {
        width[c] = cli_text_width(self->headers[c]);
        for (size_t r = 0; r < self->rows; r++) {
            size_t w = cli_text_width(self->cells[r * self->ncols + c]);
            if (w > width[c])
                width[c] = w;
        }
    }
    for (size_t c = 0; c < self->ncols; c++)
        s_cell(out, self->headers[c], width[c], c + 1 == self->ncols);
    fputc('\n', out);
    for (size_t r = 0; r < self->rows; r++) {
        for (size_t c = 0; c < self->ncols; c++)
            s_cell(out, self->cells[r * self->ncols + c], width[c], c + 1 == self->ncols);
        fputc('\n', out);
    }
    free(width);
}
