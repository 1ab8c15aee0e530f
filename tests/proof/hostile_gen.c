/*  tests/proof/hostile_gen.c - malformed input for truc's receivers,
    deterministic from a seed (see hostile_gen.h).

    Seeds are kept twice: as bytes, and as the msgpack tree msgpack-c
    builds from them. The structured classes write the tree back out with
    one node (counted in pre-order, keys included) replaced: by a value of
    another type, a hostile value, a lying length header, a deep nest or a
    broken string. The byte classes cut, change or replace bytes. Every
    random choice comes from one splitmix64 stream.
*/
#include "hostile_gen.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "proto/msg.h"

#define S_LONG_MAX  (256u * 1024) // bytes of one generated long value at most
#define S_SEED_MAX  4             // attachment frames kept per seed
#define S_PROTO_DEP 64            // depth for the path check (deeper is refused anyway)

typedef struct {
    int kind;      // wire kind, -1 for API requests
    uint8_t *body; // the seed as bytes
    size_t len;
    uint8_t *att[S_SEED_MAX]; // attachment frames
    size_t att_lens[S_SEED_MAX];
    size_t natt;
    msgpack_unpacked tree; // the seed as a tree; its strings point into body
    size_t nodes;          // nodes in pre-order, keys included
    size_t nstr;           // string nodes among them
} s_seed_t;

typedef struct {
    uint8_t *data;
    size_t cap;
} s_buf_t;

struct hostile_gen {
    uint64_t state; // splitmix64
    s_seed_t *wire, *req;
    size_t nwire, nreq, wire_cap, req_cap;
    size_t max_frame;
    uint32_t classes;
    bool agent_kinds;
    char *path_root;
    hostile_msg_t msg;
    s_buf_t bufs[HOSTILE_MAX_FRAMES]; // the bytes of frame i of the current input
    msgpack_sbuffer sb;               // a body being written
};

static const char *const s_class_names[HOSTILE_CLASS_COUNT] = {
    "truncated", "wrong-type", "bad-value", "huge-length", "deep",       "bad-utf8",
    "flipped",   "garbage",    "oversize",  "frame-count", "bad-header", "random",
};

// ---------------------------------------------------------------------------
//  Randomness

static uint64_t s_next(hostile_gen_t *self)
{
    uint64_t z = (self->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t hostile_gen_below(hostile_gen_t *self, uint64_t bound)
{
    return bound <= 1 ? 0 : s_next(self) % bound;
}

static bool s_chance(hostile_gen_t *self, unsigned percent)
{
    return hostile_gen_below(self, 100) < percent;
}

static void s_random_bytes(hostile_gen_t *self, uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t r = s_next(self);
        size_t n = len - i < 8 ? len - i : 8;
        memcpy(p + i, &r, n);
    }
}

#define S_PICK(self, array) ((array)[hostile_gen_below((self), sizeof(array) / sizeof((array)[0]))])

// ---------------------------------------------------------------------------
//  Frames of the current input

static uint8_t *s_frame(hostile_gen_t *self, size_t i, size_t len)
{
    s_buf_t *b = &self->bufs[i];
    if (b->cap < len || !b->data) {
        size_t cap = len < 64 ? 64 : len;
        uint8_t *grown = realloc(b->data, cap);
        if (!grown)
            abort(); // a test tool out of memory has nothing better to do
        b->data = grown;
        b->cap = cap;
    }
    self->msg.frames[i] = b->data;
    self->msg.lens[i] = len;
    if (self->msg.n < i + 1)
        self->msg.n = i + 1;
    return b->data;
}

static void s_frame_set(hostile_gen_t *self, size_t i, const void *data, size_t len)
{
    if (len)
        memcpy(s_frame(self, i, len), data, len);
    else
        s_frame(self, i, 0);
}

static void s_frame_random(hostile_gen_t *self, size_t i, size_t len)
{
    s_random_bytes(self, s_frame(self, i, len), len);
}

//  Fill a large frame cheaply: a random block repeated.
static void s_frame_large(hostile_gen_t *self, size_t i, size_t len)
{
    uint8_t *p = s_frame(self, i, len);
    uint8_t block[256];
    s_random_bytes(self, block, sizeof block);
    for (size_t at = 0; at < len; at += sizeof block)
        memcpy(p + at, block, len - at < sizeof block ? len - at : sizeof block);
}

static void s_reset(hostile_gen_t *self, hostile_class_t cls)
{
    self->msg.cls = cls;
    self->msg.n = 0;
    self->msg.bytes = 0;
}

static const hostile_msg_t *s_done(hostile_gen_t *self)
{
    self->msg.bytes = 0;
    for (size_t i = 0; i < self->msg.n; i++)
        self->msg.bytes += self->msg.lens[i];
    return &self->msg;
}

// ---------------------------------------------------------------------------
//  Life cycle and seeds

hostile_gen_t *hostile_gen_new(uint64_t seed)
{
    hostile_gen_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->state = seed;
    self->max_frame = 1u << 20;
    self->classes = HOSTILE_ALL;
    msgpack_sbuffer_init(&self->sb);
    return self;
}

static void s_seed_free(s_seed_t *seed)
{
    free(seed->body);
    for (size_t j = 0; j < seed->natt; j++)
        free(seed->att[j]);
    msgpack_unpacked_destroy(&seed->tree);
}

static void s_seeds_free(s_seed_t *seeds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        s_seed_free(&seeds[i]);
    free(seeds);
}

void hostile_gen_destroy(hostile_gen_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    hostile_gen_t *self = *self_p;
    s_seeds_free(self->wire, self->nwire);
    s_seeds_free(self->req, self->nreq);
    for (size_t i = 0; i < HOSTILE_MAX_FRAMES; i++)
        free(self->bufs[i].data);
    msgpack_sbuffer_destroy(&self->sb);
    free(self->path_root);
    free(self);
    *self_p = NULL;
}

static size_t s_count(const msgpack_object *o, bool str_only)
{
    size_t n = !str_only || o->type == MSGPACK_OBJECT_STR;
    if (o->type == MSGPACK_OBJECT_ARRAY)
        for (uint32_t i = 0; i < o->via.array.size; i++)
            n += s_count(&o->via.array.ptr[i], str_only);
    else if (o->type == MSGPACK_OBJECT_MAP)
        for (uint32_t i = 0; i < o->via.map.size; i++)
            n += s_count(&o->via.map.ptr[i].key, str_only) +
                 s_count(&o->via.map.ptr[i].val, str_only);
    return n;
}

static bool s_seed_add(s_seed_t **seeds, size_t *n, size_t *cap, int kind, const void *body,
                       size_t len, const void *const *att, const size_t *att_lens, size_t natt)
{
    if (*n == *cap) {
        size_t more = *cap ? 2 * *cap : 16;
        s_seed_t *grown = realloc(*seeds, more * sizeof *grown);
        if (!grown)
            return false;
        *seeds = grown;
        *cap = more;
    }
    s_seed_t *s = &(*seeds)[*n];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    msgpack_unpacked_init(&s->tree);
    size_t off = 0;
    s->body = malloc(len ? len : 1);
    if (s->body && len)
        memcpy(s->body, body, len);
    //  The tree's strings point into the bytes it was read from: our copy.
    if (!s->body ||
        msgpack_unpack_next(&s->tree, (const char *) s->body, len, &off) !=
            MSGPACK_UNPACK_SUCCESS ||
        off != len) {
        free(s->body);
        msgpack_unpacked_destroy(&s->tree);
        return false;
    }
    s->len = len;
    for (size_t i = 0; i < natt && i < S_SEED_MAX; i++) {
        s->att[i] = malloc(att_lens[i] ? att_lens[i] : 1);
        if (!s->att[i]) {
            s->natt = i;
            s_seed_free(s);
            return false;
        }
        memcpy(s->att[i], att[i], att_lens[i]);
        s->att_lens[i] = att_lens[i];
        s->natt = i + 1;
    }
    s->nodes = s_count(&s->tree.data, false);
    s->nstr = s_count(&s->tree.data, true);
    (*n)++;
    return true;
}

bool hostile_gen_add_wire(hostile_gen_t *self, int kind, const void *body, size_t len,
                          const void *const *att, const size_t *att_lens, size_t natt)
{
    return s_seed_add(&self->wire, &self->nwire, &self->wire_cap, kind, body, len, att, att_lens,
                      natt);
}

bool hostile_gen_add_request(hostile_gen_t *self, const void *request, size_t len)
{
    return s_seed_add(&self->req, &self->nreq, &self->req_cap, -1, request, len, NULL, NULL, 0);
}

void hostile_gen_set_max_frame(hostile_gen_t *self, size_t max_frame)
{
    self->max_frame = max_frame ? max_frame : 1;
}

void hostile_gen_set_classes(hostile_gen_t *self, uint32_t mask)
{
    self->classes = mask & HOSTILE_ALL ? mask & HOSTILE_ALL : HOSTILE_ALL;
}

void hostile_gen_set_agent_kinds(hostile_gen_t *self, bool only)
{
    self->agent_kinds = only;
}

void hostile_gen_set_path_root(hostile_gen_t *self, const char *root)
{
    free(self->path_root);
    self->path_root = root ? strdup(root) : NULL;
}

const char *hostile_class_name(hostile_class_t cls)
{
    return cls < HOSTILE_CLASS_COUNT ? s_class_names[cls] : "?";
}

// ---------------------------------------------------------------------------
//  Hostile values

static const char *const s_strings[] = {
    "",
    " ",
    "submit",
    "inbox",
    "fetch",
    "ack",
    "status",
    "recall",
    "sent",
    "quarantine",
    "health",
    "directory",
    "events",
    "revoke",
    "update",
    "replace",
    "Submit",
    "submit ",
    "frobnicate",
    "4fd6f877-1bab-4a47-8545-fa919b9e47fd",
    "4fd6f877-1bab-4a47-8545",
    "4fd6f877-1bab-4a47-8545-fa919b9e47fd0",
    "4FD6F877-1BAB-4A47-8545-FA919B9E47FD",
    "4fd6f8771bab4a478545fa919b9e47fd",
    "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
    "00000000-0000-0000-0000-000000000000",
    "000.00.01.H01",
    "000.00.01.h01",
    "000.01.00.H01",
    "001.00.01.H01",
    "000.00.00.H00",
    "0000.00.01.H01",
    "000.00.01.H1",
    "2026-02-29",
    "2025-13-01",
    "1899-12-31",
    "2025-1-1",
    "normal",
    "urgent",
    "very-urgent",
    "immediate",
    "hoa-toc",
    "application/pdf",
    "text",
    "application pdf",
    "truc/doc/1",
    "xchacha20poly1305-secretstream+sealbox",
    ".",
    "a\\b",
    "\x01\x02\x7f",
    "Về việc thử nghiệm",
    "\xf0\x9f\x98\x80",
    "\xe2\x80\xae",
};

static const char *const s_keys[] = {
    "cmd",  "id",     "doc",  "to",           "from",  "sig",    "att",   "window", "versions",
    "mids", "notice", "head", "items",        "leaf",  "path",   "refs",  "reason", "attachments",
    "data", "name",   "type", "subject",      "limit", "after",  "since", "code",   "agency",
    "time", "size",   "hash", "response_for", "ext",   "signer", "seq",   "mid",    "dir",
};

static const uint64_t s_uints[] = {
    0,          1,          2,
    3,          4,          5,
    7,          13,         15,
    16,         17,         64,
    65,         100,        101,
    127,        128,        255,
    256,        500,        501,
    1000,       1001,       4096,
    4097,       60000,      60001,
    65535,      65536,      100000,
    100001,     1ull << 30, (1ull << 30) + 1,
    UINT32_MAX, 1ull << 32, 1ull << 53,
    INT64_MAX,  UINT64_MAX,
};

static const int64_t s_ints[] = { -1, -32, -33, -128, -129, -32768, INT32_MIN, INT64_MIN };

//  Bytes that make a string invalid UTF-8 (or hold U+0000).
static const struct {
    const char *bytes;
    size_t len;
} s_bad_utf8[] = {
    { "\xc0\xaf", 2 },             // overlong '/'
    { "\xe0\x80\xaf", 3 },         // overlong, three bytes
    { "\xed\xa0\x80", 3 },         // a surrogate
    { "\xf4\x90\x80\x80", 4 },     // above U+10FFFF
    { "\xff", 1 },                 // never in UTF-8
    { "\xc3", 1 },                 // a sequence cut short
    { "\xe1\xbb", 2 },             // a sequence cut short
    { "\x80", 1 },                 // a lone continuation byte
    { "\0", 1 },                   // U+0000
    { "\xf8\x88\x80\x80\x80", 5 }, // five bytes
};

static void s_pack_str(msgpack_packer *pk, const char *text)
{
    msgpack_pack_str_with_body(pk, text, strlen(text));
}

//  A string of count repetitions of a unit, at most S_LONG_MAX bytes and a
//  quarter of the frame limit.
static void s_pack_long_str(hostile_gen_t *self, msgpack_packer *pk)
{
    static const char *const units[] = { "a", "\xe1\xbb\x87", "\xf0\x9f\x98\x80", "0" };
    static const size_t counts[] = { 65, 101, 201, 501, 2001, 4097, 16385, 70000 };
    const char *unit = S_PICK(self, units);
    size_t ulen = strlen(unit), count = S_PICK(self, counts);
    size_t limit = self->max_frame / 4 < S_LONG_MAX ? self->max_frame / 4 : S_LONG_MAX;
    if (count * ulen > limit)
        count = limit / ulen;
    msgpack_pack_str(pk, count * ulen);
    for (size_t i = 0; i < count; i++)
        msgpack_pack_str_body(pk, unit, ulen);
}

static void s_pack_bin(hostile_gen_t *self, msgpack_packer *pk)
{
    static const size_t lens[] = {
        0, 1, 15, 16, 17, 23, 24, 25, 31, 32, 33, 63, 64, 65, 79, 80, 81
    };
    uint8_t bytes[81];
    size_t len = S_PICK(self, lens);
    s_random_bytes(self, bytes, len);
    msgpack_pack_bin_with_body(pk, bytes, len);
}

//  A value of a type other than avoid (a msgpack_object_type, or -1).
static void s_pack_random(hostile_gen_t *self, msgpack_packer *pk, int avoid, int depth)
{
    //  Categories: 0 nil, 1 bool, 2 uint, 3 negative, 4 float, 5 str, 6 bin,
    //  7 array, 8 map, 9 ext.
    static const int category_of[] = {
        [MSGPACK_OBJECT_NIL] = 0,
        [MSGPACK_OBJECT_BOOLEAN] = 1,
        [MSGPACK_OBJECT_POSITIVE_INTEGER] = 2,
        [MSGPACK_OBJECT_NEGATIVE_INTEGER] = 3,
        [MSGPACK_OBJECT_FLOAT64] = 4,
        [MSGPACK_OBJECT_STR] = 5,
        [MSGPACK_OBJECT_ARRAY] = 7,
        [MSGPACK_OBJECT_MAP] = 8,
        [MSGPACK_OBJECT_BIN] = 6,
        [MSGPACK_OBJECT_EXT] = 9,
        [MSGPACK_OBJECT_FLOAT32] = 4,
    };
    int skip = avoid >= 0 && (size_t) avoid < sizeof category_of / sizeof category_of[0]
                   ? category_of[avoid]
                   : -1;
    int category;
    do
        category = (int) hostile_gen_below(self, depth >= 2 ? 7 : 10);
    while (category == skip);
    switch (category) {
    case 0:
        msgpack_pack_nil(pk);
        break;
    case 1:
        if (s_chance(self, 50))
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        break;
    case 2:
        msgpack_pack_uint64(pk, S_PICK(self, s_uints));
        break;
    case 3:
        msgpack_pack_int64(pk, S_PICK(self, s_ints));
        break;
    case 4:
        if (s_chance(self, 50))
            msgpack_pack_float(pk, 1.5f);
        else
            msgpack_pack_double(pk, s_chance(self, 50) ? 0.0 : 1e308);
        break;
    case 5:
        s_pack_str(pk, S_PICK(self, s_strings));
        break;
    case 6:
        s_pack_bin(self, pk);
        break;
    case 7: {
        size_t n = hostile_gen_below(self, 4);
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++)
            s_pack_random(self, pk, -1, depth + 1);
        break;
    }
    case 8: {
        size_t n = hostile_gen_below(self, 3);
        msgpack_pack_map(pk, n);
        for (size_t i = 0; i < n; i++) {
            s_pack_str(pk, S_PICK(self, s_keys));
            s_pack_random(self, pk, -1, depth + 1);
        }
        break;
    }
    default: {
        uint8_t bytes[16];
        size_t len = (size_t) 1 << hostile_gen_below(self, 5);
        s_random_bytes(self, bytes, len);
        msgpack_pack_ext(pk, len, (int8_t) hostile_gen_below(self, 256));
        msgpack_pack_ext_body(pk, bytes, len);
        break;
    }
    }
}

// ---------------------------------------------------------------------------
//  Writing a seed back with one node changed

typedef struct {
    hostile_gen_t *gen;
    msgpack_packer pk;
    hostile_class_t action;
    size_t counter; // pre-order index of the next node
    size_t target;  // the node to change
    bool str_only;  // count string nodes only
    bool stop;      // nothing more is written
    size_t room;    // bytes a changed node may add and keep the body under max_frame
} s_writer_t;

static void s_write(s_writer_t *w, const msgpack_object *o);

//  A container of many copies of its first element, or an empty one.
static void s_write_many(s_writer_t *w, const msgpack_object *o)
{
    static const uint32_t counts[] = { 0, 9, 17, 33, 65, 101, 257, 501, 1001, 4097, 65537 };
    bool is_map = o->type == MSGPACK_OBJECT_MAP;
    uint32_t size = is_map ? o->via.map.size : o->via.array.size;
    uint32_t count = S_PICK(w->gen, counts);
    if (size == 0 || count == 0) {
        if (is_map)
            msgpack_pack_map(&w->pk, 0);
        else
            msgpack_pack_array(&w->pk, 0);
        return;
    }
    //  Bound the bytes: encode one element to see its size.
    msgpack_sbuffer one;
    msgpack_packer pk;
    msgpack_sbuffer_init(&one);
    msgpack_packer_init(&pk, &one, msgpack_sbuffer_write);
    if (is_map) {
        msgpack_pack_object(&pk, o->via.map.ptr[0].key);
        msgpack_pack_object(&pk, o->via.map.ptr[0].val);
    } else {
        msgpack_pack_object(&pk, o->via.array.ptr[0]);
    }
    size_t limit = w->gen->max_frame / 2 < S_LONG_MAX ? w->gen->max_frame / 2 : S_LONG_MAX;
    if (one.size && (size_t) count * one.size > limit)
        count = (uint32_t) (limit / one.size);
    if (is_map)
        msgpack_pack_map(&w->pk, count); // the same key again and again
    else
        msgpack_pack_array(&w->pk, count);
    for (uint32_t i = 0; i < count; i++)
        msgpack_sbuffer_write(w->pk.data, one.data, one.size);
    msgpack_sbuffer_destroy(&one);
}

//  A header claiming far more than follows.
static void s_write_huge(s_writer_t *w, const msgpack_object *o)
{
    static const uint8_t heads[] = { 0xdb, 0xc6, 0xdd, 0xdf, 0xc9, 0xda, 0xc5, 0xdc, 0xde };
    static const uint32_t claims[] = { 0xffffffffu, 0x80000000u, 0x7fffffffu,
                                       1u << 30,    0x10000000u, 0x00100001u };
    uint8_t head = S_PICK(w->gen, heads), bytes[24];
    size_t n = 0;
    bytes[n++] = head;
    if (head == 0xda || head == 0xc5 || head == 0xdc || head == 0xde) {
        bytes[n++] = 0xff; // 16-bit: 65535
        bytes[n++] = 0xff;
    } else {
        uint32_t claim = S_PICK(w->gen, claims);
        if (s_chance(w->gen, 20) && o->type == MSGPACK_OBJECT_STR)
            claim = o->via.str.size + 1; // one byte more than it has
        bytes[n++] = (uint8_t) (claim >> 24);
        bytes[n++] = (uint8_t) (claim >> 16);
        bytes[n++] = (uint8_t) (claim >> 8);
        bytes[n++] = (uint8_t) claim;
        if (head == 0xc9)
            bytes[n++] = 1; // ext type
    }
    size_t tail = hostile_gen_below(w->gen, 17);
    s_random_bytes(w->gen, bytes + n, tail);
    msgpack_sbuffer_write(w->pk.data, (const char *) bytes, n + tail);
    //  Either nothing follows, or the rest of the body is read as its content.
    w->stop = s_chance(w->gen, 50);
}

static void s_write_deep(s_writer_t *w)
{
    static const size_t depths[] = { 9, 17, 65, 1000, 10000, 100000 };
    size_t depth = S_PICK(w->gen, depths);
    if (depth * 3 > w->room)
        depth = w->room / 3 > 9 ? w->room / 3 : 9;
    int shape = (int) hostile_gen_below(w->gen, 3);
    for (size_t i = 0; i < depth; i++) {
        if (shape == 0 || (shape == 2 && i % 2))
            msgpack_sbuffer_write(w->pk.data, "\x91", 1);
        else
            msgpack_sbuffer_write(w->pk.data, "\x81\xa1k", 3);
    }
    if (s_chance(w->gen, 80))
        msgpack_pack_nil(&w->pk);
    else
        w->stop = true; // and the bottom never comes
}

static void s_write_bad_utf8(s_writer_t *w, const msgpack_object *o)
{
    const char *text = o->type == MSGPACK_OBJECT_STR ? o->via.str.ptr : "abc";
    size_t len = o->type == MSGPACK_OBJECT_STR ? o->via.str.size : 3;
    size_t which = hostile_gen_below(w->gen, sizeof s_bad_utf8 / sizeof s_bad_utf8[0]);
    size_t at = hostile_gen_below(w->gen, len + 1);
    msgpack_pack_str(&w->pk, len + s_bad_utf8[which].len);
    msgpack_pack_str_body(&w->pk, text, at);
    msgpack_pack_str_body(&w->pk, s_bad_utf8[which].bytes, s_bad_utf8[which].len);
    msgpack_pack_str_body(&w->pk, text + at, len - at);
}

static void s_act(s_writer_t *w, const msgpack_object *o)
{
    switch (w->action) {
    case HOSTILE_WRONG_TYPE:
        s_pack_random(w->gen, &w->pk, (int) o->type, 0);
        break;
    case HOSTILE_BAD_VALUE:
        if (o->type == MSGPACK_OBJECT_STR && s_chance(w->gen, 30))
            s_pack_long_str(w->gen, &w->pk);
        else if (o->type == MSGPACK_OBJECT_STR)
            s_pack_str(&w->pk, S_PICK(w->gen, s_strings));
        else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            msgpack_pack_uint64(&w->pk, S_PICK(w->gen, s_uints));
        else if (o->type == MSGPACK_OBJECT_BIN)
            s_pack_bin(w->gen, &w->pk);
        else if (o->type == MSGPACK_OBJECT_ARRAY || o->type == MSGPACK_OBJECT_MAP)
            s_write_many(w, o);
        else
            s_pack_random(w->gen, &w->pk, (int) o->type, 0);
        break;
    case HOSTILE_HUGE_LENGTH:
        s_write_huge(w, o);
        break;
    case HOSTILE_DEEP:
        s_write_deep(w);
        break;
    case HOSTILE_BAD_UTF8:
        s_write_bad_utf8(w, o);
        break;
    default:
        msgpack_pack_object(&w->pk, *o);
    }
}

static void s_write(s_writer_t *w, const msgpack_object *o)
{
    if (w->stop)
        return;
    bool counts = !w->str_only || o->type == MSGPACK_OBJECT_STR;
    if (counts && w->counter++ == w->target) {
        s_act(w, o);
        return;
    }
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        msgpack_pack_array(&w->pk, o->via.array.size);
        for (uint32_t i = 0; i < o->via.array.size; i++)
            s_write(w, &o->via.array.ptr[i]);
    } else if (o->type == MSGPACK_OBJECT_MAP) {
        msgpack_pack_map(&w->pk, o->via.map.size);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            s_write(w, &o->via.map.ptr[i].key);
            s_write(w, &o->via.map.ptr[i].val);
        }
    } else {
        msgpack_pack_object(&w->pk, *o);
    }
}

//  The seed's body broken as cls (one of the body classes) into self->sb.
static void s_body(hostile_gen_t *self, const s_seed_t *seed, hostile_class_t cls)
{
    msgpack_sbuffer_clear(&self->sb);
    if (cls == HOSTILE_TRUNCATED) {
        size_t cut = seed->len > 1 ? hostile_gen_below(self, seed->len) : 0;
        msgpack_sbuffer_write(&self->sb, (const char *) seed->body, cut);
        return;
    }
    if (cls == HOSTILE_FLIPPED) {
        static const uint8_t values[] = {
            0x00, 0x7f, 0x80, 0xc0, 0xc1, 0xd9, 0xdb, 0xdc, 0xdf, 0xff
        };
        msgpack_sbuffer_write(&self->sb, (const char *) seed->body, seed->len);
        size_t edits = 1 + hostile_gen_below(self, 8);
        for (size_t e = 0; e < edits && self->sb.size; e++) {
            size_t at = hostile_gen_below(self, self->sb.size);
            uint8_t *p = (uint8_t *) self->sb.data;
            switch (hostile_gen_below(self, 4)) {
            case 0:
                p[at] = (uint8_t) s_next(self);
                break;
            case 1:
                p[at] = S_PICK(self, values);
                break;
            case 2: // delete
                memmove(p + at, p + at + 1, self->sb.size - at - 1);
                self->sb.size--;
                break;
            default: { // insert
                uint8_t byte = (uint8_t) s_next(self);
                msgpack_sbuffer_write(&self->sb, (const char *) &byte, 1);
                p = (uint8_t *) self->sb.data;
                memmove(p + at + 1, p + at, self->sb.size - at - 1);
                p[at] = byte;
            }
            }
        }
        return;
    }
    //  Room for what a node may grow by: a deep nest must reach the decoder,
    //  not be refused with the whole connection for its size.
    size_t room = self->max_frame > seed->len + 256 ? self->max_frame - seed->len - 256 : 0;
    s_writer_t w = {
        .gen = self, .action = cls, .str_only = cls == HOSTILE_BAD_UTF8, .room = room
    };
    msgpack_packer_init(&w.pk, &self->sb, msgpack_sbuffer_write);
    size_t nodes = w.str_only ? seed->nstr : seed->nodes;
    if (nodes == 0) { // nothing to aim at: the whole body is the target
        w.str_only = false;
        nodes = 1;
    }
    w.target = hostile_gen_below(self, nodes);
    s_write(&w, &seed->tree.data);
}

static bool s_is_body_class(hostile_class_t cls)
{
    return cls <= HOSTILE_FLIPPED;
}

//  One of the allowed classes, uniformly.
static hostile_class_t s_class(hostile_gen_t *self)
{
    uint32_t mask = self->classes, n = 0;
    for (int i = 0; i < HOSTILE_CLASS_COUNT; i++)
        n += (mask >> i) & 1;
    uint32_t pick = (uint32_t) hostile_gen_below(self, n);
    for (int i = 0; i < HOSTILE_CLASS_COUNT; i++)
        if ((mask >> i) & 1 && pick-- == 0)
            return (hostile_class_t) i;
    return HOSTILE_RANDOM;
}

// ---------------------------------------------------------------------------
//  Wire messages

static const int s_agent_kinds[] = {
    PROTO_KIND_HEARTBEAT, PROTO_KIND_CREDIT, PROTO_KIND_SUBMIT,
    PROTO_KIND_REVOKE,    PROTO_KIND_UPDATE, PROTO_KIND_REPLACE,
    PROTO_KIND_DELIVERED, PROTO_KIND_ACK,    PROTO_KIND_STATUS,
};

static const int s_all_kinds[] = {
    PROTO_KIND_HELLO,     PROTO_KIND_READY,    PROTO_KIND_HEARTBEAT, PROTO_KIND_CREDIT,
    PROTO_KIND_SUBMIT,    PROTO_KIND_REVOKE,   PROTO_KIND_UPDATE,    PROTO_KIND_REPLACE,
    PROTO_KIND_ACCEPTED,  PROTO_KIND_REJECTED, PROTO_KIND_EXPIRED,   PROTO_KIND_DELIVER,
    PROTO_KIND_DELIVERED, PROTO_KIND_ACK,      PROTO_KIND_STATUS,    PROTO_KIND_DIRECTORY,
    PROTO_KIND_ERROR,
};

static bool s_agent_kind(int kind)
{
    for (size_t i = 0; i < sizeof s_agent_kinds / sizeof s_agent_kinds[0]; i++)
        if (s_agent_kinds[i] == kind)
            return true;
    return false;
}

static void s_header(hostile_gen_t *self, int kind)
{
    uint8_t *h = s_frame(self, 0, PROTO_HEADER_LEN);
    proto_header_write(h, (proto_kind_t) kind);
}

static void s_bad_header(hostile_gen_t *self, int kind)
{
    uint8_t h[8];
    proto_header_write(h, (proto_kind_t) kind);
    static const uint8_t undefined[] = { 0, 5, 9, 14, 23, 33, 41, 61, 99, 255 };
    static const uint8_t versions[] = { 0, 2, 3, 255 };
    switch (hostile_gen_below(self, self->agent_kinds ? 5 : 6)) {
    case 0: { // wrong length: a prefix, or the header with bytes after it
        size_t len = hostile_gen_below(self, 9);
        if (len == PROTO_HEADER_LEN)
            len = 0;
        s_random_bytes(self, h + PROTO_HEADER_LEN, 4);
        s_frame_set(self, 0, h, len);
        return;
    }
    case 1: // wrong magic
        h[hostile_gen_below(self, 2)] ^= (uint8_t) (1 + hostile_gen_below(self, 255));
        break;
    case 2: // another version: fatal for a session
        h[2] = S_PICK(self, versions);
        break;
    case 3: // a kind nobody defined
    case 4:
        h[3] = S_PICK(self, undefined);
        break;
    default: // a kind an agent does not send
        h[3] = (uint8_t) S_PICK(self, s_all_kinds);
        break;
    }
    s_frame_set(self, 0, h, PROTO_HEADER_LEN);
}

const hostile_msg_t *hostile_gen_wire(hostile_gen_t *self)
{
    if (self->nwire == 0)
        abort();
    const s_seed_t *seed = &self->wire[hostile_gen_below(self, self->nwire)];
    hostile_class_t cls = s_class(self);
    s_reset(self, cls);
    int kind = seed->kind;
    if (self->agent_kinds && !s_agent_kind(kind))
        kind = S_PICK(self, s_agent_kinds);
    else if (s_chance(self, 10)) // a body under another kind's header
        kind = self->agent_kinds ? S_PICK(self, s_agent_kinds) : S_PICK(self, s_all_kinds);
    s_header(self, kind);
    size_t n = 2;
    if (s_is_body_class(cls)) {
        s_body(self, seed, cls);
        s_frame_set(self, 1, self->sb.data, self->sb.size);
    } else if (cls == HOSTILE_GARBAGE_BODY) {
        size_t len = hostile_gen_below(self, 2048);
        uint8_t *p = s_frame(self, 1, len);
        s_random_bytes(self, p, len);
        if (len && s_chance(self, 50))
            p[0] = (uint8_t) (0x80 | hostile_gen_below(self, 16)); // looks like a map
    } else if (cls == HOSTILE_RANDOM) {
        self->msg.n = 0;
        size_t frames = 1 + hostile_gen_below(self, 6);
        for (size_t i = 0; i < frames; i++)
            s_frame_random(self, i, hostile_gen_below(self, i == 0 ? 9 : 512));
        return s_done(self);
    } else {
        s_frame_set(self, 1, seed->body, seed->len);
    }
    for (size_t i = 0; i < seed->natt; i++)
        s_frame_set(self, n++, seed->att[i], seed->att_lens[i]);
    if (cls == HOSTILE_FLIPPED && seed->natt && s_chance(self, 30)) {
        //  The body is fine, an attachment is not: its hash no longer matches.
        size_t i = 2 + hostile_gen_below(self, seed->natt);
        s_frame_set(self, i, seed->att[i - 2], seed->att_lens[i - 2]);
        s_frame_set(self, 1, seed->body, seed->len);
        if (self->msg.lens[i])
            self->bufs[i].data[hostile_gen_below(self, self->msg.lens[i])] ^= 0x20;
    } else if (cls == HOSTILE_OVERSIZE) {
        size_t i = n > 2 && s_chance(self, 70) ? 2 + hostile_gen_below(self, n - 2) : 1;
        s_frame_large(self, i, self->max_frame + 1 + hostile_gen_below(self, 4096));
    } else if (cls == HOSTILE_FRAME_COUNT) {
        switch (hostile_gen_below(self, 3)) {
        case 0: // the header alone
            n = 1;
            break;
        case 1: // attachments missing
            n = n > 2 ? 2 + hostile_gen_below(self, n - 2) : 1;
            break;
        default: { // frames added, up to more than any kind allows
            size_t more = 1 + (s_chance(self, 20) ? hostile_gen_below(self, HOSTILE_MAX_FRAMES - n)
                                                  : hostile_gen_below(self, 4));
            for (size_t i = 0; i < more && n < HOSTILE_MAX_FRAMES; i++)
                s_frame_random(self, n++, hostile_gen_below(self, 64));
        }
        }
    } else if (cls == HOSTILE_BAD_HEADER) {
        s_bad_header(self, kind);
    }
    self->msg.n = n;
    return s_done(self);
}

// ---------------------------------------------------------------------------
//  API requests

static bool s_text_allowed(const char *root, const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '.' && p[i + 1] == '.')
            return false;
    size_t r = strlen(root);
    return n == 0 || p[0] != '/' || (n > r && memcmp(p, root, r) == 0 && p[r] == '/');
}

static bool s_object_allowed(const char *root, const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_STR)
        return s_text_allowed(root, o->via.str.ptr, o->via.str.size);
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (!s_object_allowed(root, &o->via.array.ptr[i]))
                return false;
    } else if (o->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < o->via.map.size; i++)
            if (!s_object_allowed(root, &o->via.map.ptr[i].key) ||
                !s_object_allowed(root, &o->via.map.ptr[i].val))
                return false;
    }
    return true;
}

//  False if a frame of the current input holds a string that could name a
//  file outside the root. Frames that are not one msgpack value are refused
//  by the agent before it looks at any string.
static bool s_paths_allowed(hostile_gen_t *self)
{
    for (size_t i = 0; i < self->msg.n; i++) {
        if (proto_msgpack_check(self->msg.frames[i], self->msg.lens[i], S_PROTO_DEP, NULL) !=
            PROTO_OK)
            continue;
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        bool ok = msgpack_unpack_next(&u, (const char *) self->msg.frames[i], self->msg.lens[i],
                                      &off) != MSGPACK_UNPACK_SUCCESS ||
                  s_object_allowed(self->path_root, &u.data);
        msgpack_unpacked_destroy(&u);
        if (!ok)
            return false;
    }
    return true;
}

static void s_request_once(hostile_gen_t *self)
{
    const s_seed_t *seed = &self->req[hostile_gen_below(self, self->nreq)];
    hostile_class_t cls = s_class(self);
    s_reset(self, cls);
    s_frame(self, 0, 0); // the empty delimiter a DEALER sends before a request
    if (s_is_body_class(cls)) {
        s_body(self, seed, cls);
        s_frame_set(self, 1, self->sb.data, self->sb.size);
    } else if (cls == HOSTILE_GARBAGE_BODY) {
        s_frame_random(self, 1, hostile_gen_below(self, 1024));
    } else if (cls == HOSTILE_OVERSIZE) {
        s_frame_large(self, 1, self->max_frame + 1 + hostile_gen_below(self, 4096));
    } else if (cls == HOSTILE_RANDOM) {
        self->msg.n = 0;
        size_t frames = 1 + hostile_gen_below(self, 4);
        for (size_t i = 0; i < frames; i++)
            s_frame_random(self, i, hostile_gen_below(self, 256));
    } else {
        s_frame_set(self, 1, seed->body, seed->len);
        if (cls == HOSTILE_BAD_HEADER) { // a delimiter that is not empty
            s_frame_random(self, 0, 1 + hostile_gen_below(self, 8));
        } else if (cls == HOSTILE_FRAME_COUNT) {
            switch (hostile_gen_below(self, 4)) {
            case 0: // no delimiter
                s_frame_set(self, 0, seed->body, seed->len);
                self->msg.n = 1;
                break;
            case 1: // the delimiter alone
                self->msg.n = 1;
                break;
            case 2: // two delimiters
                s_frame(self, 1, 0);
                s_frame_set(self, 2, seed->body, seed->len);
                break;
            default: { // frames after the request
                size_t more = 1 + hostile_gen_below(self, 8);
                for (size_t i = 0; i < more; i++)
                    s_frame_random(self, 2 + i, hostile_gen_below(self, 64));
            }
            }
        }
    }
}

const hostile_msg_t *hostile_gen_request(hostile_gen_t *self)
{
    if (self->nreq == 0)
        abort();
    do
        s_request_once(self);
    while (self->path_root && !s_paths_allowed(self));
    return s_done(self);
}

// ---------------------------------------------------------------------------
//  Raw byte streams

//  A ZMTP 3 greeting: signature, version, mechanism, as-server, filler.
static void s_greeting(uint8_t out[64], const char *mechanism, uint8_t major)
{
    memset(out, 0, 64);
    out[0] = 0xff;
    out[9] = 0x7f;
    out[10] = major;
    out[11] = 0;
    memcpy(out + 12, mechanism, strlen(mechanism));
}

const hostile_msg_t *hostile_gen_stream(hostile_gen_t *self)
{
    static const char *const mechanisms[] = { "NULL", "PLAIN", "CURVE", "GSSAPI", "CURVEX" };
    size_t variant = hostile_gen_below(self, 8);
    s_reset(self, variant == 0 ? HOSTILE_RANDOM : HOSTILE_BAD_HEADER);
    size_t noise = hostile_gen_below(self, 2048);
    uint8_t *p = s_frame(self, 0, 64 + 256 + noise);
    size_t n = 0;
    if (variant == 0) {
        s_random_bytes(self, p, 1 + noise);
        self->msg.lens[0] = 1 + noise;
        return s_done(self);
    }
    s_greeting(p, S_PICK(self, mechanisms), 3);
    n = 64;
    switch (variant) {
    case 1: // a bad signature
        p[hostile_gen_below(self, 2) ? 0 : 9] ^= 0x5a;
        break;
    case 2: // a version nobody speaks
        p[10] = (uint8_t) (s_chance(self, 50) ? 1 : 4 + hostile_gen_below(self, 252));
        break;
    case 3: // cut short
        n = 1 + hostile_gen_below(self, 63);
        break;
    case 4: { // CURVE HELLO whose keys and box are noise
        s_greeting(p, "CURVE", 3);
        uint8_t hello[202] = { 0x04, 200, 5, 'H', 'E', 'L', 'L', 'O', 1, 0 };
        s_random_bytes(self, hello + 82, 120);
        memcpy(p + n, hello, sizeof hello);
        n += sizeof hello;
        break;
    }
    case 5: { // NULL READY claiming DEALER, then a frame claiming 2^63 bytes
        s_greeting(p, "NULL", 3);
        uint8_t ready[30] = { 0x04, 28, 5, 'R', 'E', 'A', 'D', 'Y', 11 };
        memcpy(ready + 9, "Socket-Type", 11);
        ready[23] = 6;
        memcpy(ready + 24, "DEALER", 6);
        memcpy(p + n, ready, sizeof ready);
        n += sizeof ready;
        uint8_t frame[9] = { 0x02, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
        memcpy(p + n, frame, sizeof frame);
        n += sizeof frame;
        break;
    }
    case 6: { // a command with a long size that lies
        uint8_t command[9] = { 0x06, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff };
        memcpy(p + n, command, sizeof command);
        n += sizeof command;
        break;
    }
    default: // ZMTP frames of random flags and sizes
        for (int i = 0; i < 8; i++) {
            p[n++] = (uint8_t) hostile_gen_below(self, 8);
            p[n++] = (uint8_t) hostile_gen_below(self, 32);
        }
        break;
    }
    s_random_bytes(self, p + n, noise);
    self->msg.lens[0] = n + noise;
    return s_done(self);
}
