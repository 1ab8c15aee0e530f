/*  msg_directory.c - DIRECTORY and DIRECTORY_DELTA bodies.

    The signed agency directory the broker pushes, whole or as a delta from
    a base serial: strict decoders (entries sorted and unique) and encoders.
    Between brokers (PROTOCOL.md 16.5) both carry `brokers` and each entry
    may carry `home`.
    What a directory means, and applying a delta, are directory.c's and
    dirdelta.c's.
*/
#include <string.h>

#include "msg_internal.h"

// ---------------------------------------------------------------------------
//  DIRECTORY

static const char *const s_directory_keys[] = { "serial", "time",           "broker", "entries",
                                                "sig",    "broker_retired", "brokers" };
static const char *const s_entry_keys[] = { "code", "name",  "key",     "state",
                                            "from", "until", "retired", "home" };
static const char *const s_broker_keys[] = { "label", "name", "key", "state", "codes", "patterns" };

#define S_PATTERN_MAX 16 // bytes: the normal form of a pattern is 13
static const char *const s_retired_keys[] = { "key", "from", "until" };

//  Retired keys (an entry's, or the signing broker's): present only when
//  there are some, each with a window, oldest first (proto/keywin.h).
static proto_err_t s_retired_decode(mp_ctx_t *ctx, const char *name, const msgpack_object *o,
                                    proto_keywin_t **out, uint32_t *count)
{
    const msgpack_object *items = NULL;
    proto_err_t rc = mp_array(ctx, name, o, false, 1, PROTO_KEYWIN_MAX, &items, count);
    if (!rc && items)
        rc = mp_alloc(ctx, *count, sizeof(proto_keywin_t), out);
    size_t mark = mp_path_push(ctx, name);
    for (uint32_t i = 0; !rc && items && i < *count; i++) {
        const msgpack_object *g[NKEYS(s_retired_keys)];
        proto_keywin_t *w = &(*out)[i];
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = mp_map(ctx, &items[i], s_retired_keys, NKEYS(s_retired_keys), g);
        if (!rc)
            rc = mp_bin(ctx, "key", g[0], true, PROTO_KEY_LEN, w->key);
        if (!rc)
            rc = mp_uint(ctx, "from", g[1], false, 1, UINT64_MAX, &w->from);
        if (!rc)
            rc = mp_uint(ctx, "until", g[2], true, 1, UINT64_MAX, &w->until);
        if (!rc && w->from && w->from >= w->until)
            rc = mp_fail(ctx, PROTO_ERR_VALUE, "until", "must be after from");
        for (uint32_t j = 0; !rc && j < i; j++)
            if (memcmp((*out)[j].key, w->key, PROTO_KEY_LEN) == 0)
                rc = mp_fail(ctx, PROTO_ERR_VALUE, "key", "a retired key is listed twice");
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    return rc;
}

//  The entries of a DIRECTORY or DIRECTORY_DELTA: sorted and unique, so the
//  canonical form is the wire order and a lookup can bisect.
static proto_err_t s_dir_entries_decode(mp_ctx_t *ctx, const msgpack_object *items, uint32_t n,
                                        proto_dir_entry_t **out)
{
    proto_err_t rc = mp_alloc(ctx, n, sizeof(proto_dir_entry_t), out);
    size_t mark = mp_path_push(ctx, "entries");
    for (uint32_t i = 0; !rc && i < n; i++) {
        const msgpack_object *g[NKEYS(s_entry_keys)];
        proto_dir_entry_t *e = &(*out)[i];
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = mp_map(ctx, &items[i], s_entry_keys, NKEYS(s_entry_keys), g);
        if (!rc)
            rc = mp_agency(ctx, "code", g[0], true, &e->code);
        if (!rc && i > 0 && strcmp((*out)[i - 1].code, e->code) >= 0)
            rc = mp_fail(ctx, PROTO_ERR_VALUE, "code", "entries must be sorted by code, unique");
        if (!rc)
            rc = mp_text(ctx, "name", g[1], true, PROTO_MAX_NAME, &e->name);
        if (!rc)
            rc = mp_bin(ctx, "key", g[2], true, PROTO_KEY_LEN, e->key);
        if (!rc)
            rc = msg_u8(ctx, "state", g[3], true, 0, 2, &e->state);
        if (!rc)
            rc = mp_uint(ctx, "from", g[4], false, 1, UINT64_MAX, &e->valid_from);
        if (!rc)
            rc = mp_uint(ctx, "until", g[5], false, 1, UINT64_MAX, &e->valid_until);
        if (!rc && e->valid_from && e->valid_until && e->valid_from >= e->valid_until)
            rc = mp_fail(ctx, PROTO_ERR_VALUE, "until", "must be after from");
        if (!rc)
            rc = s_retired_decode(ctx, "retired", g[6], &e->retired, &e->nretired);
        if (!rc)
            rc = mp_label(ctx, "home", g[7], false, &e->home);
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    return rc;
}

//  An array of strings, each checked by one of the mp_ readers; sorted
//  and unique when sorted is set.
static proto_err_t s_strings_decode(mp_ctx_t *ctx, const char *name, const msgpack_object *o,
                                    uint32_t max, bool sorted, bool agency, const char ***out,
                                    uint32_t *count)
{
    const msgpack_object *items = NULL;
    proto_err_t rc = mp_array(ctx, name, o, true, 0, max, &items, count);
    if (!rc)
        rc = mp_alloc(ctx, *count, sizeof(const char *), out);
    size_t mark = mp_path_push(ctx, name);
    for (uint32_t i = 0; !rc && i < *count; i++) {
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = agency ? mp_agency(ctx, NULL, &items[i], true, &(*out)[i])
                    : mp_ascii(ctx, NULL, &items[i], true, S_PATTERN_MAX, &(*out)[i]);
        if (!rc && sorted && i > 0 && strcmp((*out)[i - 1], (*out)[i]) >= 0)
            rc = mp_fail(ctx, PROTO_ERR_VALUE, NULL, "must be sorted, unique");
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    return rc;
}

//  The broker entries of the directory between brokers (16.5): present
//  (even empty) only in that form, sorted by label.
static proto_err_t s_brokers_decode(mp_ctx_t *ctx, const msgpack_object *o, bool *federated,
                                    proto_dir_broker_t **out, uint32_t *count)
{
    const msgpack_object *items = NULL;
    proto_err_t rc = mp_array(ctx, "brokers", o, false, 0, PROTO_MAX_BROKERS, &items, count);
    *federated = !rc && o != NULL;
    if (rc || !o)
        return rc;
    rc = mp_alloc(ctx, *count, sizeof(proto_dir_broker_t), out);
    size_t mark = mp_path_push(ctx, "brokers");
    for (uint32_t i = 0; !rc && i < *count; i++) {
        const msgpack_object *g[NKEYS(s_broker_keys)];
        proto_dir_broker_t *b = &(*out)[i];
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = mp_map(ctx, &items[i], s_broker_keys, NKEYS(s_broker_keys), g);
        if (!rc)
            rc = mp_label(ctx, "label", g[0], true, &b->label);
        if (!rc && i > 0 && strcmp((*out)[i - 1].label, b->label) >= 0)
            rc = mp_fail(ctx, PROTO_ERR_VALUE, "label", "brokers must be sorted by label, unique");
        if (!rc)
            rc = mp_text(ctx, "name", g[1], true, PROTO_MAX_NAME, &b->name);
        if (!rc)
            rc = mp_bin(ctx, "key", g[2], true, PROTO_KEY_LEN, b->key);
        if (!rc)
            rc = msg_u8(ctx, "state", g[3], true, 0, 2, &b->state);
        if (!rc)
            rc = s_strings_decode(ctx, "codes", g[4], PROTO_MAX_BROKER_CODES, true, true, &b->codes,
                                  &b->ncodes);
        if (!rc)
            rc = s_strings_decode(ctx, "patterns", g[5], PROTO_MAX_BROKER_PATTERNS, false, false,
                                  &b->patterns, &b->npatterns);
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    return rc;
}

proto_err_t msg_directory_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_directory_msg_t *out)
{
    const msgpack_object *f[NKEYS(s_directory_keys)];
    const msgpack_object *items = NULL;
    proto_err_t rc = mp_map(ctx, o, s_directory_keys, NKEYS(s_directory_keys), f);
    if (!rc)
        rc = mp_uint(ctx, "serial", f[0], true, 1, UINT64_MAX, &out->serial);
    if (!rc)
        rc = mp_uint(ctx, "time", f[1], true, 0, UINT64_MAX, &out->time);
    if (!rc)
        rc = mp_label(ctx, "broker", f[2], true, &out->broker);
    if (!rc)
        rc = mp_array(ctx, "entries", f[3], true, 0, PROTO_MAX_ENTRIES, &items, &out->nentries);
    if (!rc)
        rc = mp_bin(ctx, "sig", f[4], true, PROTO_SIG_LEN, out->sig);
    if (!rc)
        rc = s_dir_entries_decode(ctx, items, out->nentries, &out->entries);
    if (!rc)
        rc = s_retired_decode(ctx, "broker_retired", f[5], &out->broker_retired,
                              &out->nbroker_retired);
    if (!rc)
        rc = s_brokers_decode(ctx, f[6], &out->federated, &out->brokers, &out->nbrokers);
    return rc;
}

static void s_retired_encode(mp_writer_t *w, uint32_t *n, const char *name,
                             const proto_keywin_t *retired, uint32_t count)
{
    if (!count)
        return;
    mp_f_key(w, n, name);
    mp_w_array(w, count);
    for (uint32_t k = 0; k < count; k++) {
        uint32_t r = 0;
        size_t win = mp_map_begin(w);
        mp_f_bin(w, &r, "key", retired[k].key, PROTO_KEY_LEN);
        mp_f_uint_opt(w, &r, "from", retired[k].from);
        mp_f_uint(w, &r, "until", retired[k].until);
        mp_map_end(w, win, r);
    }
}

static void s_dir_entries_encode(mp_writer_t *w, uint32_t *n, const proto_dir_entry_t *entries,
                                 uint32_t count)
{
    mp_f_key(w, n, "entries");
    mp_w_array(w, count);
    for (uint32_t i = 0; i < count; i++) {
        const proto_dir_entry_t *e = &entries[i];
        uint32_t m = 0;
        size_t sub = mp_map_begin(w);
        mp_f_str(w, &m, "code", e->code);
        mp_f_str(w, &m, "name", e->name);
        mp_f_bin(w, &m, "key", e->key, PROTO_KEY_LEN);
        mp_f_uint(w, &m, "state", e->state);
        mp_f_uint_opt(w, &m, "from", e->valid_from);
        mp_f_uint_opt(w, &m, "until", e->valid_until);
        s_retired_encode(w, &m, "retired", e->retired, e->nretired);
        if (e->home)
            mp_f_str(w, &m, "home", e->home);
        mp_map_end(w, sub, m);
    }
}

static void s_brokers_encode(mp_writer_t *w, uint32_t *n, bool federated,
                             const proto_dir_broker_t *brokers, uint32_t count)
{
    if (!federated)
        return;
    mp_f_key(w, n, "brokers");
    mp_w_array(w, count);
    for (uint32_t i = 0; i < count; i++) {
        const proto_dir_broker_t *b = &brokers[i];
        uint32_t m = 0;
        size_t sub = mp_map_begin(w);
        mp_f_str(w, &m, "label", b->label);
        mp_f_str(w, &m, "name", b->name);
        mp_f_bin(w, &m, "key", b->key, PROTO_KEY_LEN);
        mp_f_uint(w, &m, "state", b->state);
        mp_f_key(w, &m, "codes");
        mp_w_array(w, b->ncodes);
        for (uint32_t k = 0; k < b->ncodes; k++)
            mp_w_str(w, b->codes[k]);
        mp_f_key(w, &m, "patterns");
        mp_w_array(w, b->npatterns);
        for (uint32_t k = 0; k < b->npatterns; k++)
            mp_w_str(w, b->patterns[k]);
        mp_map_end(w, sub, m);
    }
}

void msg_directory_encode(mp_writer_t *w, const proto_directory_msg_t *in)
{
    uint32_t n = 0;
    size_t map = mp_map_begin(w);
    mp_f_uint(w, &n, "serial", in->serial);
    mp_f_uint(w, &n, "time", in->time);
    mp_f_str(w, &n, "broker", in->broker);
    s_dir_entries_encode(w, &n, in->entries, in->nentries);
    mp_f_bin(w, &n, "sig", in->sig, PROTO_SIG_LEN);
    s_retired_encode(w, &n, "broker_retired", in->broker_retired, in->nbroker_retired);
    s_brokers_encode(w, &n, in->federated, in->brokers, in->nbrokers);
    mp_map_end(w, map, n);
}

// ---------------------------------------------------------------------------
//  DIRECTORY_DELTA

static const char *const s_delta_keys[] = { "base",   "serial",         "time",
                                            "broker", "entries",        "removed",
                                            "sig",    "broker_retired", "brokers" };

proto_err_t msg_delta_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_dir_delta_t *out)
{
    const msgpack_object *f[NKEYS(s_delta_keys)];
    const msgpack_object *items = NULL, *gone = NULL;
    proto_err_t rc = mp_map(ctx, o, s_delta_keys, NKEYS(s_delta_keys), f);
    if (!rc)
        rc = mp_uint(ctx, "base", f[0], true, 1, UINT64_MAX - 1, &out->base);
    if (!rc)
        rc = mp_uint(ctx, "serial", f[1], true, out->base + 1, UINT64_MAX, &out->serial);
    if (!rc)
        rc = mp_uint(ctx, "time", f[2], true, 0, UINT64_MAX, &out->time);
    if (!rc)
        rc = mp_label(ctx, "broker", f[3], true, &out->broker);
    if (!rc)
        rc = mp_array(ctx, "entries", f[4], true, 0, PROTO_MAX_ENTRIES, &items, &out->nentries);
    if (!rc)
        rc = mp_array(ctx, "removed", f[5], true, 0, PROTO_MAX_ENTRIES, &gone, &out->nremoved);
    if (!rc)
        rc = mp_bin(ctx, "sig", f[6], true, PROTO_SIG_LEN, out->sig);
    if (!rc)
        rc = s_dir_entries_decode(ctx, items, out->nentries, &out->entries);
    if (!rc)
        rc = s_retired_decode(ctx, "broker_retired", f[7], &out->broker_retired,
                              &out->nbroker_retired);
    if (!rc)
        rc = s_brokers_decode(ctx, f[8], &out->federated, &out->brokers, &out->nbrokers);
    if (!rc)
        rc = mp_alloc(ctx, out->nremoved, sizeof(const char *), &out->removed);
    size_t mark = mp_path_push(ctx, "removed");
    for (uint32_t i = 0; !rc && i < out->nremoved; i++) {
        size_t mark_i = mp_path_push_index(ctx, i);
        rc = mp_agency(ctx, NULL, &gone[i], true, &out->removed[i]);
        if (!rc && i > 0 && strcmp(out->removed[i - 1], out->removed[i]) >= 0)
            rc = mp_fail(ctx, PROTO_ERR_VALUE, NULL, "removed codes must be sorted, unique");
        mp_path_pop(ctx, mark_i);
    }
    mp_path_pop(ctx, mark);
    return rc;
}

void msg_delta_encode(mp_writer_t *w, const proto_dir_delta_t *in)
{
    uint32_t n = 0;
    size_t map = mp_map_begin(w);
    mp_f_uint(w, &n, "base", in->base);
    mp_f_uint(w, &n, "serial", in->serial);
    mp_f_uint(w, &n, "time", in->time);
    mp_f_str(w, &n, "broker", in->broker);
    s_dir_entries_encode(w, &n, in->entries, in->nentries);
    mp_f_key(w, &n, "removed");
    mp_w_array(w, in->nremoved);
    for (uint32_t i = 0; i < in->nremoved; i++)
        mp_w_str(w, in->removed[i]);
    mp_f_bin(w, &n, "sig", in->sig, PROTO_SIG_LEN);
    s_retired_encode(w, &n, "broker_retired", in->broker_retired, in->nbroker_retired);
    s_brokers_encode(w, &n, in->federated, in->brokers, in->nbrokers);
    mp_map_end(w, map, n);
}
