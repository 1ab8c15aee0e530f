/*  mp.h - strict msgpack reading and writing helpers (private to proto).

    Reading happens in two steps. mp_prescan walks the raw bytes once and
    proves that every declared length and count fits in the bytes that are
    really there, that nesting stays within the schema's depth and that no
    bytes trail; only then does msgpack-c build the object tree, so its
    allocations are bounded by the input's real size. The typed getters then
    check each field against the schema and copy it into the message arena.

    Writing goes through msgpack-c's packer into a proto_buf_t.
*/
#ifndef PROTO_MP_H
#define PROTO_MP_H

#include <msgpack.h>
#include <stdarg.h>

#include "arena.h"
#include "proto/msg.h"

typedef struct {
    proto_arena_t *arena;
    proto_errinfo_t *info; // may be NULL
    char path[96];         // field path of what is being read
    size_t path_len;
} mp_ctx_t;

//  Check raw msgpack bytes: one object, nothing trailing, depth <= max_depth,
//  every length within the input. PROTO_OK or MSGPACK/TRAILING/DEPTH.
proto_err_t mp_prescan(mp_ctx_t *ctx, const uint8_t *data, size_t len, int max_depth);

//  Record a failure (code, current path + name, printf message) and return code.
proto_err_t mp_fail(mp_ctx_t *ctx, proto_err_t code, const char *name, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

//  Extend the path with ".name" or "[index]"; returns the mark to restore.
size_t mp_path_push(mp_ctx_t *ctx, const char *name);
size_t mp_path_push_index(mp_ctx_t *ctx, uint32_t index);
void mp_path_pop(mp_ctx_t *ctx, size_t mark);

//  Read map o against a list of known keys. vals[i] receives the value of
//  keys[i], or NULL when absent or nil. Unknown keys, repeated keys and
//  non-string keys are refused. nkeys <= MP_MAX_KEYS.
#define MP_MAX_KEYS 48
proto_err_t mp_map(mp_ctx_t *ctx, const msgpack_object *o, const char *const *keys, size_t nkeys,
                   const msgpack_object **vals);

//  Typed getters. v is the field's value or NULL when absent; name is the
//  key for error messages. When required and v is NULL: PROTO_ERR_MISSING.
//  When optional and absent, *out is left unchanged (callers zero structs).
proto_err_t mp_text(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                    size_t max_chars, const char **out);
proto_err_t mp_ascii(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                     size_t max_len, const char **out);
proto_err_t mp_agency(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                      const char **out);
proto_err_t mp_label(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                     const char **out);
proto_err_t mp_date(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                    const char **out);
proto_err_t mp_uint(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                    uint64_t min, uint64_t max, uint64_t *out);
proto_err_t mp_bool(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                    bool *out);
proto_err_t mp_bin(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                   size_t exact_len, uint8_t *out);
proto_err_t mp_array(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                     uint32_t min, uint32_t max, const msgpack_object **items, uint32_t *count);
//  Allocate count elements of size bytes in the arena.
proto_err_t mp_alloc(mp_ctx_t *ctx, size_t count, size_t size, void *out_ptr);

//  Writing.
typedef struct {
    proto_buf_t *buf;
    msgpack_packer pk;
    proto_err_t err; // sticky: first failure (only ever PROTO_ERR_NOMEM)
} mp_writer_t;

void mp_writer_init(mp_writer_t *w, proto_buf_t *buf);
//  Begin a map whose size is not known yet; mp_map_end patches the header.
size_t mp_map_begin(mp_writer_t *w);
void mp_map_end(mp_writer_t *w, size_t mark, uint32_t count);
void mp_w_str(mp_writer_t *w, const char *text); // nil when NULL
void mp_w_bin(mp_writer_t *w, const void *data, size_t len);
void mp_w_uint(mp_writer_t *w, uint64_t value);
void mp_w_bool(mp_writer_t *w, bool value);
void mp_w_nil(mp_writer_t *w);
void mp_w_array(mp_writer_t *w, uint32_t count);

//  Map-field writers: write key and value and bump *count, or do nothing when
//  the value is absent (NULL text, zero optional number).
void mp_f_str(mp_writer_t *w, uint32_t *count, const char *key, const char *text);
void mp_f_uint(mp_writer_t *w, uint32_t *count, const char *key, uint64_t value);
void mp_f_uint_opt(mp_writer_t *w, uint32_t *count, const char *key, uint64_t value);
void mp_f_bin(mp_writer_t *w, uint32_t *count, const char *key, const void *data, size_t len);
void mp_f_key(mp_writer_t *w, uint32_t *count, const char *key); // value follows

#endif
