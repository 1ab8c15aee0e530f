/*  tests/lib/admin_json.h - run truc-admin from a test and read its JSON.

    th_admin runs the real truc-admin against the environment's data
    directory; th_admin_json runs it with --json, requires an exit status
    and parses the answer with a small strict JSON reader (objects, arrays,
    strings with escapes, numbers, true, false, null; nesting bounded).
    Parsed values are trees the caller frees with th_json_free.
*/
#ifndef TH_ADMIN_JSON_H
#define TH_ADMIN_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

#define TH_ADMIN_OUT_MAX (256 * 1024) // truc-admin output kept for one command

//  Path of truc-admin, set by the test's main from argv or TRUC_ADMIN.
extern const char *th_admin_path;

typedef enum {
    TH_JSON_NULL,
    TH_JSON_BOOL,
    TH_JSON_NUMBER,
    TH_JSON_STRING,
    TH_JSON_ARRAY,
    TH_JSON_OBJECT,
} th_json_type_t;

typedef struct th_json th_json_t;
struct th_json {
    th_json_type_t type;
    bool boolean;      // TH_JSON_BOOL
    bool integer;      // TH_JSON_NUMBER without sign, fraction or exponent that fits 64 bits
    uint64_t number;   // its value when integer
    char *string;      // TH_JSON_STRING, decoded, NUL-terminated
    char **keys;       // TH_JSON_OBJECT: the key of each item
    th_json_t **items; // array elements or object values
    size_t count, cap;
};

//  Parse text; NULL if it is not one JSON value (or nests too deep).
th_json_t *th_json_parse(const char *text);
void th_json_free(th_json_t **self_p);

//  A member of an object (NULL if absent or obj is not an object); its
//  text if a string; its value if an unsigned integer (false otherwise);
//  a boolean member: 1 true, 0 false, -1 absent or not a boolean.
const th_json_t *th_json_get(const th_json_t *obj, const char *key);
const char *th_json_text(const th_json_t *obj, const char *key);
bool th_json_uint(const th_json_t *obj, const char *key, uint64_t *out);
int th_json_flag(const th_json_t *obj, const char *key);

//  Run truc-admin --data-dir DATA followed by args (NULL-terminated); out
//  gets stdout and stderr. Returns its exit status, -1 if it did not exit
//  normally.
int th_admin(th_env_t *env, const char *const *args, char *out, size_t outlen);

//  truc-admin --json with args: require exit status `want` and an answer
//  that parses as JSON, and return it (the caller frees it).
th_json_t *th_admin_json(th_env_t *env, const char *const *args, int want);

#endif
