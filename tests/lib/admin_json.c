/*  tests/lib/admin_json.c - run truc-admin from a test and read its JSON.

    A small JSON reader, enough to prove that truc-admin --json prints JSON
    and to look at what it says, and the runner the broker tests share.
*/
#include "admin_json.h"

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

const char *th_admin_path;

#define TH_JSON_MAX_DEPTH 64

typedef struct {
    const char *p;
    int depth;
} s_reader_t;

void th_json_free(th_json_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    th_json_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++) {
        if (self->keys)
            free(self->keys[i]);
        th_json_free(&self->items[i]);
    }
    free(self->keys);
    free(self->items);
    free(self->string);
    free(self);
    *self_p = NULL;
}

static void s_json_ws(s_reader_t *r)
{
    while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
        r->p++;
}

static bool s_json_push(th_json_t *self, char *key, th_json_t *item)
{
    if (self->count == self->cap) {
        size_t cap = self->cap ? 2 * self->cap : 8;
        th_json_t **items = realloc(self->items, cap * sizeof *items);
        if (!items)
            return false;
        self->items = items;
        if (self->type == TH_JSON_OBJECT) {
            char **keys = realloc(self->keys, cap * sizeof *keys);
            if (!keys)
                return false;
            self->keys = keys;
        }
        self->cap = cap;
    }
    if (self->type == TH_JSON_OBJECT)
        self->keys[self->count] = key;
    self->items[self->count++] = item;
    return true;
}

static int s_json_hex4(const char *p)
{
    int value = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int digit = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
        if (digit < 0)
            return -1;
        value = value * 16 + digit;
    }
    return value;
}

static void s_utf8_put(char *out, size_t *n, uint32_t cp)
{
    if (cp < 0x80) {
        out[(*n)++] = (char) cp;
    } else if (cp < 0x800) {
        out[(*n)++] = (char) (0xc0 | (cp >> 6));
        out[(*n)++] = (char) (0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out[(*n)++] = (char) (0xe0 | (cp >> 12));
        out[(*n)++] = (char) (0x80 | ((cp >> 6) & 0x3f));
        out[(*n)++] = (char) (0x80 | (cp & 0x3f));
    } else {
        out[(*n)++] = (char) (0xf0 | (cp >> 18));
        out[(*n)++] = (char) (0x80 | ((cp >> 12) & 0x3f));
        out[(*n)++] = (char) (0x80 | ((cp >> 6) & 0x3f));
        out[(*n)++] = (char) (0x80 | (cp & 0x3f));
    }
}

//  A string at r->p (which is '"'); NULL if it is not valid JSON. \u0000 is
//  refused: the result is a C string.
static char *s_json_string(s_reader_t *r)
{
    const char *p = r->p + 1, *q = p;
    while (*q && *q != '"') {
        if (*q == '\\' && !*++q)
            return NULL;
        q++;
    }
    if (*q != '"')
        return NULL;
    //  Escapes never decode longer than they are written.
    char *out = malloc((size_t) (q - p) + 1);
    size_t n = 0;
    if (!out)
        return NULL;
    while (p < q) {
        unsigned char c = (unsigned char) *p++;
        if (c < 0x20)
            goto fail;
        if (c != '\\') {
            out[n++] = (char) c;
            continue;
        }
        static const char escapes[] = "\"\\/bfnrt", decoded[] = "\"\\/\b\f\n\r\t";
        char e = *p++;
        const char *simple = e ? strchr(escapes, e) : NULL;
        if (simple) {
            out[n++] = decoded[simple - escapes];
            continue;
        }
        if (e != 'u' || q - p < 4)
            goto fail;
        int cp = s_json_hex4(p);
        p += 4;
        if (cp <= 0 || (cp >= 0xdc00 && cp < 0xe000))
            goto fail;
        uint32_t code = (uint32_t) cp;
        if (cp >= 0xd800 && cp < 0xdc00) {
            if (q - p < 6 || p[0] != '\\' || p[1] != 'u')
                goto fail;
            int low = s_json_hex4(p + 2);
            if (low < 0xdc00 || low >= 0xe000)
                goto fail;
            p += 6;
            code = 0x10000 + (((uint32_t) cp - 0xd800) << 10) + ((uint32_t) low - 0xdc00);
        }
        s_utf8_put(out, &n, code);
    }
    out[n] = '\0';
    r->p = q + 1;
    return out;
fail:
    free(out);
    return NULL;
}

//  Past one or more digits; NULL if there is none.
static const char *s_digits(const char *p)
{
    if (!isdigit((unsigned char) *p))
        return NULL;
    while (isdigit((unsigned char) *p))
        p++;
    return p;
}

static bool s_json_number(s_reader_t *r, th_json_t *node)
{
    const char *p = r->p;
    bool integer = *p != '-';
    uint64_t value = 0;
    if (*p == '-')
        p++;
    if (!isdigit((unsigned char) *p))
        return false;
    if (*p == '0') {
        p++;
    } else {
        for (; isdigit((unsigned char) *p); p++) {
            uint64_t digit = (uint64_t) (*p - '0');
            if (value > (UINT64_MAX - digit) / 10)
                integer = false;
            value = value * 10 + digit;
        }
    }
    if (*p == '.') {
        if (!(p = s_digits(p + 1)))
            return false;
        integer = false;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(p = s_digits(p)))
            return false;
        integer = false;
    }
    node->type = TH_JSON_NUMBER;
    node->integer = integer;
    node->number = integer ? value : 0;
    r->p = p;
    return true;
}

static th_json_t *s_json_value(s_reader_t *r)
{
    s_json_ws(r);
    th_json_t *node = calloc(1, sizeof *node);
    if (!node)
        return NULL;
    char c = *r->p;
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        node->type = c == '{' ? TH_JSON_OBJECT : TH_JSON_ARRAY;
        if (++r->depth > TH_JSON_MAX_DEPTH)
            goto fail;
        r->p++;
        s_json_ws(r);
        if (*r->p == close) {
            r->p++;
            r->depth--;
            return node;
        }
        while (true) {
            char *key = NULL;
            if (node->type == TH_JSON_OBJECT) {
                s_json_ws(r);
                if (*r->p != '"' || !(key = s_json_string(r)))
                    goto fail;
                s_json_ws(r);
                if (*r->p != ':') {
                    free(key);
                    goto fail;
                }
                r->p++;
            }
            th_json_t *item = s_json_value(r);
            if (!item || !s_json_push(node, key, item)) {
                free(key);
                th_json_free(&item);
                goto fail;
            }
            s_json_ws(r);
            if (*r->p == ',') {
                r->p++;
                continue;
            }
            if (*r->p != close)
                goto fail;
            r->p++;
            break;
        }
        r->depth--;
        return node;
    }
    if (c == '"') {
        node->type = TH_JSON_STRING;
        node->string = s_json_string(r);
        if (node->string)
            return node;
    } else if (strncmp(r->p, "true", 4) == 0 || strncmp(r->p, "false", 5) == 0) {
        node->type = TH_JSON_BOOL;
        node->boolean = c == 't';
        r->p += node->boolean ? 4 : 5;
        return node;
    } else if (strncmp(r->p, "null", 4) == 0) {
        node->type = TH_JSON_NULL;
        r->p += 4;
        return node;
    } else if (s_json_number(r, node)) {
        return node;
    }
fail:
    th_json_free(&node);
    return NULL;
}

//  Parse text that must be exactly one JSON value (and white space).
th_json_t *th_json_parse(const char *text)
{
    s_reader_t r = { text, 0 };
    th_json_t *root = s_json_value(&r);
    if (root) {
        s_json_ws(&r);
        if (*r.p)
            th_json_free(&root);
    }
    return root;
}

const th_json_t *th_json_get(const th_json_t *obj, const char *key)
{
    if (!obj || obj->type != TH_JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < obj->count; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->items[i];
    return NULL;
}

//  A string member, or "" when absent or not a string.
const char *th_json_text(const th_json_t *obj, const char *key)
{
    const th_json_t *v = th_json_get(obj, key);
    return v && v->type == TH_JSON_STRING ? v->string : "";
}

//  An unsigned integer member; false when absent or not one.
bool th_json_uint(const th_json_t *obj, const char *key, uint64_t *out)
{
    const th_json_t *v = th_json_get(obj, key);
    if (!v || v->type != TH_JSON_NUMBER || !v->integer)
        return false;
    *out = v->number;
    return true;
}

//  A boolean member: 1 true, 0 false, -1 absent or not a boolean.
int th_json_flag(const th_json_t *obj, const char *key)
{
    const th_json_t *v = th_json_get(obj, key);
    return v && v->type == TH_JSON_BOOL ? v->boolean : -1;
}

// ---------------------------------------------------------------------------
//  truc-admin

//  Run truc-admin --data-dir DATA followed by args (NULL-terminated);
//  out gets stdout and stderr. Returns its exit status, -1 if it did not
//  exit normally.
int th_admin(th_env_t *env, const char *const *args, char *out, size_t outlen)
{
    const char *argv[24];
    size_t n = 0;
    argv[n++] = th_admin_path;
    argv[n++] = "--data-dir";
    argv[n++] = env->data;
    for (size_t i = 0; args[i]; i++) {
        th_check(n + 1 < sizeof argv / sizeof argv[0], "too many truc-admin arguments");
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    int status = th_run(env, argv, out, outlen);
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

//  truc-admin --json with args: require exit status `want` and an answer
//  that parses as JSON, and return it (the caller frees it).
th_json_t *th_admin_json(th_env_t *env, const char *const *args, int want)
{
    static char out[TH_ADMIN_OUT_MAX];
    const char *argv[20];
    size_t n = 0;
    argv[n++] = "--json";
    for (size_t i = 0; args[i]; i++) {
        th_check(n + 1 < sizeof argv / sizeof argv[0], "too many truc-admin arguments");
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    int status = th_admin(env, argv, out, sizeof out);
    th_check(status == want, "truc-admin --json %s %s: exit status %d, expected %d:\n%s", args[0],
             args[1] ? args[1] : "", status, want, out);
    th_json_t *json = th_json_parse(out);
    th_check(json != NULL, "truc-admin --json %s: the answer is not JSON:\n%s", args[0], out);
    return json;
}
