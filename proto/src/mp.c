/*  mp.c - strict msgpack reading and writing helpers.

    Everything here treats the input as hostile: lengths are compared with
    what is left before they are used, and every failure names the field.
*/
#include "mp.h"

#include <stdio.h>
#include <string.h>

#include "proto/agency.h"

// ---------------------------------------------------------------------------
//  Errors and paths

proto_err_t mp_fail(mp_ctx_t *ctx, proto_err_t code, const char *name, const char *format, ...)
{
    if (ctx->info && ctx->info->code == PROTO_OK) {
        ctx->info->code = code;
        //  Paths are cut rather than failed when they do not fit.
        char *field = ctx->info->field;
        size_t cap = sizeof ctx->info->field, n = 0;
        for (const char *p = ctx->path; *p && n + 1 < cap; p++)
            field[n++] = *p;
        if (name && ctx->path_len && n + 1 < cap)
            field[n++] = '.';
        for (const char *p = name; p && *p && n + 1 < cap; p++)
            field[n++] = *p;
        field[n] = '\0';
        va_list args;
        va_start(args, format);
        vsnprintf(ctx->info->message, sizeof ctx->info->message, format, args);
        va_end(args);
    }
    return code;
}

//  Append text to the path, cut where it does not fit. Called for every
//  field and array element read, so it formats nothing: snprintf here was
//  a third of decoding a document addressed to 50 agencies.
static void s_path_append(mp_ctx_t *ctx, const char *text, size_t len)
{
    size_t room = sizeof ctx->path - 1 - ctx->path_len;
    if (len > room)
        len = room;
    memcpy(ctx->path + ctx->path_len, text, len);
    ctx->path_len += len;
    ctx->path[ctx->path_len] = '\0';
}

size_t mp_path_push(mp_ctx_t *ctx, const char *name)
{
    size_t mark = ctx->path_len;
    if (mark)
        s_path_append(ctx, ".", 1);
    if (name)
        s_path_append(ctx, name, strlen(name));
    return mark;
}

size_t mp_path_push_index(mp_ctx_t *ctx, uint32_t index)
{
    size_t mark = ctx->path_len;
    char text[16], *end = text + sizeof text, *p = end;
    *--p = ']';
    do
        *--p = (char) ('0' + index % 10);
    while ((index /= 10) != 0);
    *--p = '[';
    s_path_append(ctx, p, (size_t) (end - p));
    return mark;
}

void mp_path_pop(mp_ctx_t *ctx, size_t mark)
{
    ctx->path_len = mark;
    ctx->path[mark] = '\0';
}

// ---------------------------------------------------------------------------
//  Pre-scan

static uint64_t s_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

//  What an object's first byte says follows it: a length or count of
//  len_bytes bytes, fixed payload bytes, or the elements of a container.
//  False for a byte msgpack reserves.
typedef struct {
    size_t len_bytes; // width of a length or count that follows
    size_t fixed;     // fixed payload bytes that follow
    int container;    // 1 array, 2 map
    uint64_t count;   // container count or payload length
} s_shape_t;

static bool s_shape(uint8_t b, s_shape_t *shape)
{
    *shape = (s_shape_t){ 0 };
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        // fixint, negative fixint, nil, false, true
    } else if (b <= 0x8f) {
        shape->container = 2, shape->count = b & 0x0f;
    } else if (b <= 0x9f) {
        shape->container = 1, shape->count = b & 0x0f;
    } else if (b <= 0xbf) {
        shape->fixed = b & 0x1f;
    } else {
        switch (b) {
        case 0xc4:
        case 0xd9:
            shape->len_bytes = 1;
            break; // bin8 str8
        case 0xc5:
        case 0xda:
            shape->len_bytes = 2;
            break; // bin16 str16
        case 0xc6:
        case 0xdb:
            shape->len_bytes = 4;
            break; // bin32 str32
        case 0xc7:
            shape->len_bytes = 1, shape->fixed = 1;
            break; // ext8: len, type
        case 0xc8:
            shape->len_bytes = 2, shape->fixed = 1;
            break; // ext16
        case 0xc9:
            shape->len_bytes = 4, shape->fixed = 1;
            break; // ext32
        case 0xca:
            shape->fixed = 4;
            break; // float32
        case 0xcb:
            shape->fixed = 8;
            break; // float64
        case 0xcc:
        case 0xd0:
            shape->fixed = 1;
            break; // (u)int8
        case 0xcd:
        case 0xd1:
            shape->fixed = 2;
            break; // (u)int16
        case 0xce:
        case 0xd2:
            shape->fixed = 4;
            break; // (u)int32
        case 0xcf:
        case 0xd3:
            shape->fixed = 8;
            break; // (u)int64
        case 0xd4:
            shape->fixed = 2;
            break; // fixext1
        case 0xd5:
            shape->fixed = 3;
            break; // fixext2
        case 0xd6:
            shape->fixed = 5;
            break; // fixext4
        case 0xd7:
            shape->fixed = 9;
            break; // fixext8
        case 0xd8:
            shape->fixed = 17;
            break; // fixext16
        case 0xdc:
            shape->container = 1, shape->len_bytes = 2;
            break; // array16
        case 0xdd:
            shape->container = 1, shape->len_bytes = 4;
            break; // array32
        case 0xde:
            shape->container = 2, shape->len_bytes = 2;
            break; // map16
        case 0xdf:
            shape->container = 2, shape->len_bytes = 4;
            break; // map32
        default:
            return false;
        }
    }
    return true;
}

#define MP_SCAN_DEPTH_MAX 16

proto_err_t mp_prescan(mp_ctx_t *ctx, const uint8_t *data, size_t len, int max_depth)
{
    uint64_t remaining[MP_SCAN_DEPTH_MAX + 1];
    int depth = 0;
    size_t pos = 0;
    if (max_depth > MP_SCAN_DEPTH_MAX)
        max_depth = MP_SCAN_DEPTH_MAX;
    remaining[0] = 1;
    for (;;) {
        while (depth > 0 && remaining[depth] == 0)
            depth--;
        if (depth == 0 && remaining[0] == 0)
            break;
        remaining[depth]--;
        if (pos >= len)
            return mp_fail(ctx, PROTO_ERR_MSGPACK, NULL, "truncated at byte %zu", pos);
        uint8_t b = data[pos++];
        s_shape_t shape;
        if (!s_shape(b, &shape))
            return mp_fail(ctx, PROTO_ERR_MSGPACK, NULL, "reserved byte 0x%02x at %zu", b, pos - 1);
        size_t len_bytes = shape.len_bytes;
        size_t fixed = shape.fixed;
        int container = shape.container;
        uint64_t count = shape.count;
        if (len_bytes) {
            if (len - pos < len_bytes)
                return mp_fail(ctx, PROTO_ERR_MSGPACK, NULL, "truncated length at byte %zu", pos);
            count = s_be(data + pos, len_bytes);
            pos += len_bytes;
        }
        if (container) {
            //  Every element takes at least one byte, so a count larger than
            //  what is left is a lie; refusing it here keeps msgpack-c from
            //  allocating for elements that are not there.
            uint64_t items = container == 2 ? count * 2 : count;
            if (items > len - pos)
                return mp_fail(ctx, PROTO_ERR_MSGPACK, NULL,
                               "declared %llu elements but only %zu bytes left at byte %zu",
                               (unsigned long long) items, len - pos, pos);
            if (items) {
                if (depth + 1 > max_depth)
                    return mp_fail(ctx, PROTO_ERR_DEPTH, NULL,
                                   "nesting deeper than %d levels at byte %zu", max_depth, pos);
                remaining[++depth] = items;
            }
            continue;
        }
        uint64_t payload = (len_bytes ? count : 0) + fixed;
        if (payload > len - pos)
            return mp_fail(ctx, PROTO_ERR_MSGPACK, NULL,
                           "declared %llu bytes but only %zu left at byte %zu",
                           (unsigned long long) payload, len - pos, pos);
        pos += (size_t) payload;
    }
    if (pos != len)
        return mp_fail(ctx, PROTO_ERR_TRAILING, NULL, "%zu bytes after the end of the body",
                       len - pos);
    return PROTO_OK;
}

// ---------------------------------------------------------------------------
//  Maps and typed getters

static const char *s_type_name(msgpack_object_type type)
{
    switch (type) {
    case MSGPACK_OBJECT_NIL:
        return "nil";
    case MSGPACK_OBJECT_BOOLEAN:
        return "boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return "integer";
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return "negative integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return "float";
    case MSGPACK_OBJECT_STR:
        return "string";
    case MSGPACK_OBJECT_ARRAY:
        return "array";
    case MSGPACK_OBJECT_MAP:
        return "map";
    case MSGPACK_OBJECT_BIN:
        return "binary";
    case MSGPACK_OBJECT_EXT:
        return "extension";
    }
    return "unknown";
}

static proto_err_t s_type(mp_ctx_t *ctx, const char *name, const msgpack_object *v,
                          msgpack_object_type want, const char *want_name)
{
    if (v->type != want)
        return mp_fail(ctx, PROTO_ERR_TYPE, name, "expected %s, got %s", want_name,
                       s_type_name(v->type));
    return PROTO_OK;
}

//  Copy a key into printable form for an error message.
static void s_key_text(const msgpack_object *key, char *out, size_t cap)
{
    size_t n = 0;
    for (uint32_t i = 0; i < key->via.str.size && n + 1 < cap; i++) {
        char c = key->via.str.ptr[i];
        out[n++] = (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    out[n] = '\0';
}

proto_err_t mp_map(mp_ctx_t *ctx, const msgpack_object *o, const char *const *keys, size_t nkeys,
                   const msgpack_object **vals)
{
    bool seen[MP_MAX_KEYS] = { false };
    proto_err_t rc = s_type(ctx, NULL, o, MSGPACK_OBJECT_MAP, "map");
    if (rc)
        return rc;
    for (size_t i = 0; i < nkeys; i++)
        vals[i] = NULL;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *key = &o->via.map.ptr[i].key;
        if (key->type != MSGPACK_OBJECT_STR)
            return mp_fail(ctx, PROTO_ERR_TYPE, NULL, "map key %u is a %s, not a string", i,
                           s_type_name(key->type));
        size_t k = 0;
        while (k < nkeys && !(strlen(keys[k]) == key->via.str.size &&
                              memcmp(keys[k], key->via.str.ptr, key->via.str.size) == 0))
            k++;
        char text[40];
        if (k == nkeys) {
            s_key_text(key, text, sizeof text);
            return mp_fail(ctx, PROTO_ERR_UNKNOWN_FIELD, text, "unknown field");
        }
        if (seen[k])
            return mp_fail(ctx, PROTO_ERR_DUP_FIELD, keys[k], "field appears twice");
        seen[k] = true;
        const msgpack_object *value = &o->via.map.ptr[i].val;
        vals[k] = value->type == MSGPACK_OBJECT_NIL ? NULL : value;
    }
    return PROTO_OK;
}

static proto_err_t s_missing(mp_ctx_t *ctx, const char *name)
{
    return mp_fail(ctx, PROTO_ERR_MISSING, name, "required field missing");
}

//  Copy a checked string value into the message arena.
static proto_err_t s_keep(mp_ctx_t *ctx, const char *name, const msgpack_object *v,
                          const char **out)
{
    char *copy = proto_arena_strndup(ctx->arena, v->via.str.ptr, v->via.str.size);
    if (!copy)
        return mp_fail(ctx, PROTO_ERR_NOMEM, name, "out of memory");
    *out = copy;
    return PROTO_OK;
}

proto_err_t mp_text(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                    size_t max_chars, const char **out)
{
    if (!v)
        return required ? s_missing(ctx, name) : PROTO_OK;
    proto_err_t rc = s_type(ctx, name, v, MSGPACK_OBJECT_STR, "string");
    if (rc)
        return rc;
    size_t chars = 0;
    //  A code point takes at most 4 bytes; anything longer is over the limit
    //  before we spend time decoding it.
    if (v->via.str.size > max_chars * 4)
        return mp_fail(ctx, PROTO_ERR_LIMIT, name, "longer than %zu characters", max_chars);
    if (proto_utf8_check(v->via.str.ptr, v->via.str.size, &chars) != PROTO_OK)
        return mp_fail(ctx, PROTO_ERR_UTF8, name, "not valid UTF-8 (or contains NUL)");
    if (chars > max_chars)
        return mp_fail(ctx, PROTO_ERR_LIMIT, name, "%zu characters, limit %zu", chars, max_chars);
    if (chars == 0) {
        if (required)
            return mp_fail(ctx, PROTO_ERR_VALUE, name, "must not be empty");
        return PROTO_OK; // empty optional text is the same as absent
    }
    return s_keep(ctx, name, v, out);
}

proto_err_t mp_ascii(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                     size_t max_len, const char **out)
{
    if (!v)
        return required ? s_missing(ctx, name) : PROTO_OK;
    proto_err_t rc = s_type(ctx, name, v, MSGPACK_OBJECT_STR, "string");
    if (rc)
        return rc;
    if (v->via.str.size > max_len)
        return mp_fail(ctx, PROTO_ERR_LIMIT, name, "longer than %zu bytes", max_len);
    for (uint32_t i = 0; i < v->via.str.size; i++) {
        unsigned char c = (unsigned char) v->via.str.ptr[i];
        if (c < 0x21 || c > 0x7e)
            return mp_fail(ctx, PROTO_ERR_VALUE, name, "must be printable ASCII without spaces");
    }
    if (v->via.str.size == 0)
        return required ? mp_fail(ctx, PROTO_ERR_VALUE, name, "must not be empty") : PROTO_OK;
    return s_keep(ctx, name, v, out);
}

proto_err_t mp_agency(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                      const char **out)
{
    if (!v)
        return required ? s_missing(ctx, name) : PROTO_OK;
    proto_err_t rc = s_type(ctx, name, v, MSGPACK_OBJECT_STR, "string");
    if (rc)
        return rc;
    if (proto_agency_code_check(v->via.str.ptr, v->via.str.size) != PROTO_OK)
        return mp_fail(ctx, PROTO_ERR_AGENCY_CODE, name,
                       "not an agency code of the form 000.00.00.X00");
    return s_keep(ctx, name, v, out);
}

proto_err_t mp_label(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                     const char **out)
{
    if (!v)
        return required ? s_missing(ctx, name) : PROTO_OK;
    proto_err_t rc = s_type(ctx, name, v, MSGPACK_OBJECT_STR, "string");
    if (rc)
        return rc;
    //  A signer is an agency (code) or a broker (label); both grammars are
    //  ASCII, so accept either.
    if (proto_agency_code_check(v->via.str.ptr, v->via.str.size) != PROTO_OK &&
        proto_label_check(v->via.str.ptr, v->via.str.size) != PROTO_OK)
        return mp_fail(ctx, PROTO_ERR_VALUE, name, "not an agency code or broker label");
    return s_keep(ctx, name, v, out);
}

static bool s_date_valid(const char *p, size_t n)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (n != 10 || p[4] != '-' || p[7] != '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (i != 4 && i != 7 && (p[i] < '0' || p[i] > '9'))
            return false;
    int year = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
    int month = (p[5] - '0') * 10 + (p[6] - '0');
    int day = (p[8] - '0') * 10 + (p[9] - '0');
    if (year < 1900 || month < 1 || month > 12 || day < 1)
        return false;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int limit = days[month - 1] + (month == 2 && leap);
    return day <= limit;
}

proto_err_t mp_date(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                    const char **out)
{
    if (!v)
        return required ? s_missing(ctx, name) : PROTO_OK;
    proto_err_t rc = s_type(ctx, name, v, MSGPACK_OBJECT_STR, "string");
    if (rc)
        return rc;
    if (!s_date_valid(v->via.str.ptr, v->via.str.size))
        return mp_fail(ctx, PROTO_ERR_VALUE, name, "not a calendar date YYYY-MM-DD");
    return s_keep(ctx, name, v, out);
}

proto_err_t mp_uint(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                    uint64_t min, uint64_t max, uint64_t *out)
{
    if (!v)
        return required ? s_missing(ctx, name) : PROTO_OK;
    proto_err_t rc = s_type(ctx, name, v, MSGPACK_OBJECT_POSITIVE_INTEGER, "unsigned integer");
    if (rc)
        return rc;
    if (v->via.u64 < min || v->via.u64 > max)
        return mp_fail(ctx, v->via.u64 > max ? PROTO_ERR_LIMIT : PROTO_ERR_VALUE, name,
                       "%llu is outside %llu..%llu", (unsigned long long) v->via.u64,
                       (unsigned long long) min, (unsigned long long) max);
    *out = v->via.u64;
    return PROTO_OK;
}

proto_err_t mp_bool(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                    bool *out)
{
    if (!v)
        return required ? s_missing(ctx, name) : PROTO_OK;
    proto_err_t rc = s_type(ctx, name, v, MSGPACK_OBJECT_BOOLEAN, "boolean");
    if (rc)
        return rc;
    *out = v->via.boolean;
    return PROTO_OK;
}

proto_err_t mp_bin(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                   size_t exact_len, uint8_t *out)
{
    if (!v)
        return required ? s_missing(ctx, name) : PROTO_OK;
    proto_err_t rc = s_type(ctx, name, v, MSGPACK_OBJECT_BIN, "binary");
    if (rc)
        return rc;
    if (v->via.bin.size != exact_len)
        return mp_fail(ctx, PROTO_ERR_VALUE, name, "%u bytes, must be exactly %zu", v->via.bin.size,
                       exact_len);
    memcpy(out, v->via.bin.ptr, exact_len);
    return PROTO_OK;
}

proto_err_t mp_array(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                     uint32_t min, uint32_t max, const msgpack_object **items, uint32_t *count)
{
    *items = NULL;
    *count = 0;
    if (!v)
        return required ? s_missing(ctx, name) : PROTO_OK;
    proto_err_t rc = s_type(ctx, name, v, MSGPACK_OBJECT_ARRAY, "array");
    if (rc)
        return rc;
    if (v->via.array.size > max)
        return mp_fail(ctx, PROTO_ERR_LIMIT, name, "%u elements, limit %u", v->via.array.size, max);
    if (v->via.array.size < min)
        return mp_fail(ctx, required ? PROTO_ERR_MISSING : PROTO_ERR_VALUE, name,
                       "%u elements, at least %u needed", v->via.array.size, min);
    *items = v->via.array.ptr;
    *count = v->via.array.size;
    return PROTO_OK;
}

proto_err_t mp_alloc(mp_ctx_t *ctx, size_t count, size_t size, void *out_ptr)
{
    void *mem = proto_arena_calloc(ctx->arena, count ? count : 1, size);
    if (!mem)
        return mp_fail(ctx, PROTO_ERR_NOMEM, NULL, "out of memory");
    memcpy(out_ptr, &mem, sizeof mem);
    return PROTO_OK;
}

// ---------------------------------------------------------------------------
//  Writing

static int s_write(void *data, const char *bytes, size_t len)
{
    mp_writer_t *w = data;
    if (w->err)
        return -1;
    if (proto_buf_append(w->buf, bytes, len) != PROTO_OK) {
        w->err = PROTO_ERR_NOMEM;
        return -1;
    }
    return 0;
}

void mp_writer_init(mp_writer_t *w, proto_buf_t *buf)
{
    w->buf = buf;
    w->err = PROTO_OK;
    msgpack_packer_init(&w->pk, w, s_write);
}

size_t mp_map_begin(mp_writer_t *w)
{
    size_t mark = w->buf->len;
    static const uint8_t placeholder[3] = { 0xde, 0, 0 };
    s_write(w, (const char *) placeholder, sizeof placeholder);
    return mark;
}

void mp_map_end(mp_writer_t *w, size_t mark, uint32_t count)
{
    if (w->err)
        return;
    uint8_t *head = w->buf->data + mark;
    if (count < 16) {
        //  Rewrite as a fixmap so the bytes are the shortest form, which is
        //  what every other msgpack encoder produces too.
        head[0] = (uint8_t) (0x80 | count);
        memmove(head + 1, head + 3, w->buf->len - mark - 3);
        w->buf->len -= 2;
    } else {
        head[1] = (uint8_t) (count >> 8);
        head[2] = (uint8_t) count;
    }
}

void mp_w_str(mp_writer_t *w, const char *text)
{
    if (!text) {
        msgpack_pack_nil(&w->pk);
        return;
    }
    size_t len = strlen(text);
    msgpack_pack_str(&w->pk, len);
    msgpack_pack_str_body(&w->pk, text, len);
}

void mp_w_bin(mp_writer_t *w, const void *data, size_t len)
{
    msgpack_pack_bin(&w->pk, len);
    msgpack_pack_bin_body(&w->pk, data, len);
}

void mp_w_uint(mp_writer_t *w, uint64_t value)
{
    msgpack_pack_uint64(&w->pk, value);
}

void mp_w_bool(mp_writer_t *w, bool value)
{
    if (value)
        msgpack_pack_true(&w->pk);
    else
        msgpack_pack_false(&w->pk);
}

void mp_w_nil(mp_writer_t *w)
{
    msgpack_pack_nil(&w->pk);
}

void mp_w_array(mp_writer_t *w, uint32_t count)
{
    msgpack_pack_array(&w->pk, count);
}

void mp_f_key(mp_writer_t *w, uint32_t *count, const char *key)
{
    mp_w_str(w, key);
    (*count)++;
}

void mp_f_str(mp_writer_t *w, uint32_t *count, const char *key, const char *text)
{
    if (!text)
        return;
    mp_f_key(w, count, key);
    mp_w_str(w, text);
}

void mp_f_uint(mp_writer_t *w, uint32_t *count, const char *key, uint64_t value)
{
    mp_f_key(w, count, key);
    mp_w_uint(w, value);
}

void mp_f_uint_opt(mp_writer_t *w, uint32_t *count, const char *key, uint64_t value)
{
    if (value)
        mp_f_uint(w, count, key, value);
}

void mp_f_bin(mp_writer_t *w, uint32_t *count, const char *key, const void *data, size_t len)
{
    mp_f_key(w, count, key);
    mp_w_bin(w, data, len);
}
