/*  test_agent_store.c - the agent's record layouts (agent/store.c), from
    open to destroy.

    Every test works on a real LMDB store in a fresh mkdtemp directory that
    is removed afterwards. Each record type goes through its accessors and
    back, across a reopen (the DMS's client references, operations and
    recall answers too); the sent, inbox, recipient, outbox, frames and
    receipt records are also compared byte for byte with hand-built bytes of
    the layout agents have always written, and such hand-built bytes put
    into the store directly read back through the accessors: an existing
    agent store must keep working unchanged.

    The hand-built bytes are little-endian, as every machine truc runs on
    (the fixed headers are in host byte order).
*/
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

#define S_MAP      (16ull << 20)
#define S_PATH_MAX 4096
#define S_AGENCY_A "000.05.01.H01"
#define S_AGENCY_B "001.05.01.H01"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the hand-built records below are little-endian"
#endif

// ---------------------------------------------------------------------------
//  Fixture: a fresh temporary directory and an open store per test

typedef struct {
    char root[S_PATH_MAX];
    proto_store_t *kv;
} s_fx_t;

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

//  Remove the fixture's directory tree, deepest first.
static void s_rmtree(const char *path)
{
    nftw(path, s_remove, 16, FTW_DEPTH | FTW_PHYS);
}

static proto_store_t *s_open(const char *dir)
{
    char err[256] = "";
    proto_store_t *kv = agent_store_open(dir, S_MAP, err, sizeof err);
    if (!kv)
        print_error("agent_store_open %s: %s\n", dir, err);
    assert_non_null(kv);
    return kv;
}

static int s_setup(void **state)
{
    s_fx_t *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->root, sizeof fx->root, "%s/truc-agent-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx->root)) {
        free(fx);
        return -1;
    }
    char err[256] = "";
    fx->kv = agent_store_open(fx->root, S_MAP, err, sizeof err);
    if (!fx->kv) {
        s_rmtree(fx->root);
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    s_fx_t *fx = *state;
    proto_store_destroy(&fx->kv);
    s_rmtree(fx->root);
    free(fx);
    return 0;
}

//  Commit, close and open the store again: what follows reads the disk.
static void s_reopen(s_fx_t *fx)
{
    if (proto_store_writing(fx->kv))
        assert_int_equal(proto_store_commit(fx->kv), PROTO_OK);
    proto_store_destroy(&fx->kv);
    assert_null(fx->kv);
    fx->kv = s_open(fx->root);
}

static void s_begin(s_fx_t *fx)
{
    assert_int_equal(proto_store_begin(fx->kv), PROTO_OK);
}

static proto_id_t s_id(uint8_t n)
{
    proto_id_t id;
    for (size_t i = 0; i < PROTO_ID_LEN; i++)
        id.bytes[i] = (uint8_t) (n + i);
    return id;
}

//  The raw value of key in table, which must exist.
static void s_raw(s_fx_t *fx, int table, const void *key, size_t klen, const void **value,
                  size_t *len)
{
    assert_int_equal(proto_store_get(fx->kv, table, key, klen, value, len), PROTO_OK);
}

// ---------------------------------------------------------------------------
//  Sent records

//  The sent record agents have always written: state(1) code(4) accepted(8)
//  seq(8) created(8) kind(1), then the summary.
static const uint8_t s_sent_bytes[] = {
    0x02,                                           // state: rejected
    0x3a, 0x01, 0x00, 0x00,                         // code 314
    0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, // accepted 0x0102030405060708
    0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // seq 42
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, // created 0x7060504030201000
    0x05,                                           // kind
    0x81, 0xa1, 'a',  0x01                          // summary {"a": 1}
};

static void s_test_sent(void **state)
{
    s_fx_t *fx = *state;
    static const uint8_t summary[] = { 0x81, 0xa1, 'a', 0x01 };
    agent_sent_t rec = { .state = SENT_REJECTED,
                         .kind = 5,
                         .code = 314,
                         .accepted = 0x0102030405060708ull,
                         .seq = 42,
                         .created = 0x7060504030201000ull,
                         .summary = summary,
                         .summary_len = sizeof summary };
    assert_int_equal(agent_sent_size(&rec), sizeof s_sent_bytes);
    uint8_t out[sizeof s_sent_bytes];
    agent_sent_encode(&rec, out);
    assert_memory_equal(out, s_sent_bytes, sizeof s_sent_bytes);

    proto_id_t id = s_id(1), old = s_id(2);
    s_begin(fx);
    assert_int_equal(agent_store_sent_put(fx->kv, &id, &rec), PROTO_OK);
    //  A record as an older agent left it on disk.
    assert_int_equal(
        proto_store_put(fx->kv, T_SENT, old.bytes, PROTO_ID_LEN, s_sent_bytes, sizeof s_sent_bytes),
        PROTO_OK);
    s_reopen(fx);

    assert_int_equal(proto_store_read_begin(fx->kv), PROTO_OK);
    const void *raw;
    size_t rlen;
    s_raw(fx, T_SENT, id.bytes, PROTO_ID_LEN, &raw, &rlen);
    assert_int_equal(rlen, sizeof s_sent_bytes);
    assert_memory_equal(raw, s_sent_bytes, rlen);
    agent_sent_t got;
    assert_int_equal(agent_store_sent_get(fx->kv, &old, &got), PROTO_OK);
    assert_int_equal(got.state, SENT_REJECTED);
    assert_int_equal(got.kind, 5);
    assert_int_equal(got.code, 314);
    assert_int_equal(got.accepted, 0x0102030405060708ull);
    assert_int_equal(got.seq, 42);
    assert_int_equal(got.created, 0x7060504030201000ull);
    assert_int_equal(got.summary_len, sizeof summary);
    assert_memory_equal(got.summary, summary, sizeof summary);
    proto_id_t none = s_id(9);
    assert_int_equal(agent_store_sent_get(fx->kv, &none, &got), PROTO_ERR_NOT_FOUND);
    proto_store_read_end(fx->kv);

    //  Update in place from a record read in the same transaction (its
    //  summary points into the value being replaced).
    s_begin(fx);
    assert_int_equal(agent_store_sent_get(fx->kv, &id, &got), PROTO_OK);
    got.state = SENT_ACCEPTED;
    got.code = 0;
    assert_int_equal(agent_store_sent_put(fx->kv, &id, &got), PROTO_OK);
    //  A record too short to hold the header is damaged, not absent, and
    //  the scan skips it.
    assert_int_equal(proto_store_put(fx->kv, T_SENT, none.bytes, PROTO_ID_LEN, "x", 1), PROTO_OK);
    assert_int_equal(agent_store_sent_get(fx->kv, &none, &got), PROTO_ERR_STORE_DAMAGED);
    s_reopen(fx);
    assert_int_equal(proto_store_read_begin(fx->kv), PROTO_OK);
    assert_int_equal(agent_store_sent_get(fx->kv, &id, &got), PROTO_OK);
    assert_int_equal(got.state, SENT_ACCEPTED);
    assert_int_equal(got.code, 0);
    assert_int_equal(got.seq, 42);
    assert_memory_equal(got.summary, summary, sizeof summary);
    proto_store_read_end(fx->kv);
}

static bool s_count_sent(void *arg, const proto_id_t *id, const agent_sent_t *rec)
{
    (void) id;
    (void) rec;
    (*(size_t *) arg)++;
    return true;
}

static void s_test_sent_each(void **state)
{
    s_fx_t *fx = *state;
    s_begin(fx);
    for (uint8_t i = 0; i < 3; i++) {
        proto_id_t id = s_id((uint8_t) (10 * i));
        agent_sent_t rec = { .created = i };
        assert_int_equal(agent_store_sent_put(fx->kv, &id, &rec), PROTO_OK);
    }
    proto_id_t bad = s_id(200);
    assert_int_equal(proto_store_put(fx->kv, T_SENT, bad.bytes, PROTO_ID_LEN, "short", 5),
                     PROTO_OK);
    size_t n = 0;
    agent_store_sent_each(fx->kv, s_count_sent, &n);
    assert_int_equal(n, 3);
    //  From an id on: that id and the later ones, the short one skipped.
    proto_id_t from = s_id(10);
    n = 0;
    agent_store_sent_each_from(fx->kv, &from, s_count_sent, &n);
    assert_int_equal(n, 2);
    from = s_id(11);
    n = 0;
    agent_store_sent_each_from(fx->kv, &from, s_count_sent, &n);
    assert_int_equal(n, 1);
    proto_store_abort(fx->kv);
}

// ---------------------------------------------------------------------------
//  Inbox records

static const uint8_t s_inbox_bytes[] = {
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // seq 1
    0xe8, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // received 1000
    0x00,                                           // acked: no
    0x81, 0xa1, 'b',  0x02                          // summary {"b": 2}
};

static bool s_inbox_ids(void *arg, const proto_id_t *id)
{
    proto_id_t **out = arg;
    *(*out)++ = *id;
    return true;
}

static void s_test_inbox(void **state)
{
    s_fx_t *fx = *state;
    static const uint8_t summary[] = { 0x81, 0xa1, 'b', 0x02 };
    agent_inbox_t rec = {
        .seq = 1, .received = 1000, .summary = summary, .summary_len = sizeof summary
    };
    uint8_t out[sizeof s_inbox_bytes];
    assert_int_equal(agent_inbox_size(&rec), sizeof s_inbox_bytes);
    agent_inbox_encode(&rec, out);
    assert_memory_equal(out, s_inbox_bytes, sizeof s_inbox_bytes);

    proto_id_t a = s_id(1), b = s_id(50), c = s_id(3);
    s_begin(fx);
    agent_inbox_t add = { .received = 1000, .summary = summary, .summary_len = sizeof summary };
    assert_int_equal(agent_store_inbox_add(fx->kv, &a, &add), PROTO_OK);
    assert_int_equal(add.seq, 1);
    assert_int_equal(agent_store_inbox_add(fx->kv, &b, &add), PROTO_OK);
    assert_int_equal(add.seq, 2);
    assert_int_equal(agent_store_inbox_add(fx->kv, &c, &add), PROTO_OK);
    assert_int_equal(add.seq, 3);
    s_reopen(fx);

    assert_int_equal(proto_store_read_begin(fx->kv), PROTO_OK);
    const void *raw;
    size_t rlen;
    s_raw(fx, T_INBOX, a.bytes, PROTO_ID_LEN, &raw, &rlen);
    assert_int_equal(rlen, sizeof s_inbox_bytes);
    assert_memory_equal(raw, s_inbox_bytes, rlen);
    //  Arrival order, from a sequence number on: big-endian keys in T_INSEQ.
    uint8_t skey[8] = { 0, 0, 0, 0, 0, 0, 0, 2 };
    s_raw(fx, T_INSEQ, skey, sizeof skey, &raw, &rlen);
    assert_int_equal(rlen, PROTO_ID_LEN);
    assert_memory_equal(raw, b.bytes, PROTO_ID_LEN);
    proto_id_t seen[4], *next = seen;
    assert_int_equal(agent_store_inbox_each(fx->kv, 1, s_inbox_ids, &next), 2);
    assert_int_equal(next - seen, 2);
    assert_memory_equal(seen[0].bytes, b.bytes, PROTO_ID_LEN);
    assert_memory_equal(seen[1].bytes, c.bytes, PROTO_ID_LEN);
    assert_int_equal(agent_store_inbox_unread(fx->kv), 3);
    proto_store_read_end(fx->kv);

    //  The DMS takes one: only the acked byte changes.
    s_begin(fx);
    agent_inbox_t got;
    assert_int_equal(agent_store_inbox_get(fx->kv, &b, &got), PROTO_OK);
    assert_int_equal(got.seq, 2);
    assert_int_equal(got.received, 1000);
    assert_false(got.acked);
    got.acked = true;
    assert_int_equal(agent_store_inbox_put(fx->kv, &b, &got), PROTO_OK);
    s_reopen(fx);
    assert_int_equal(proto_store_read_begin(fx->kv), PROTO_OK);
    assert_int_equal(agent_store_inbox_get(fx->kv, &b, &got), PROTO_OK);
    assert_true(got.acked);
    assert_int_equal(got.summary_len, sizeof summary);
    assert_memory_equal(got.summary, summary, sizeof summary);
    s_raw(fx, T_INBOX, b.bytes, PROTO_ID_LEN, &raw, &rlen);
    assert_int_equal(((const uint8_t *) raw)[16], 1);
    assert_int_equal(agent_store_inbox_unread(fx->kv), 2);
    proto_id_t none = s_id(99);
    assert_int_equal(agent_store_inbox_get(fx->kv, &none, &got), PROTO_ERR_NOT_FOUND);
    proto_store_read_end(fx->kv);
}

// ---------------------------------------------------------------------------
//  Recipient states

typedef struct {
    size_t n;
    char agency[2][PROTO_AGENCY_CODE_LEN + 1];
    agent_rcpt_t rec[2];
} s_rcpts_t;

static bool s_rcpt_collect(void *arg, const char *agency, const agent_rcpt_t *rec)
{
    s_rcpts_t *r = arg;
    if (r->n < 2) {
        snprintf(r->agency[r->n], sizeof r->agency[r->n], "%s", agency);
        r->rec[r->n] = *rec;
    }
    r->n++;
    return true;
}

static void s_test_rcpt(void **state)
{
    s_fx_t *fx = *state;
    static const uint8_t row_bytes[AGENT_RCPT_LEN] = {
        RCPT_REFUSED, 0xe8, 0x03, 0,   0, 0, 0, 0, 0, // time 1000
        0x07,         0x00, 0x00, 0x00                // code 7
    };
    agent_rcpt_t refused = { .state = RCPT_REFUSED, .time = 1000, .code = 7 };
    uint8_t row[AGENT_RCPT_LEN];
    agent_rcpt_encode(&refused, row);
    assert_memory_equal(row, row_bytes, sizeof row);

    proto_id_t id = s_id(1), other = s_id(2);
    const agent_rcpt_t waiting = { .state = RCPT_WAITING };
    s_begin(fx);
    assert_int_equal(agent_store_rcpt_set(fx->kv, &id, S_AGENCY_B, &waiting), PROTO_OK);
    assert_int_equal(agent_store_rcpt_set(fx->kv, &id, S_AGENCY_A, &refused), PROTO_OK);
    assert_int_equal(agent_store_rcpt_set(fx->kv, &other, S_AGENCY_A, &waiting), PROTO_OK);
    s_reopen(fx);
    assert_int_equal(proto_store_read_begin(fx->kv), PROTO_OK);
    //  Key: id + the 13 characters of the code; a waiting row is all zero.
    uint8_t key[PROTO_ID_LEN + PROTO_AGENCY_CODE_LEN];
    memcpy(key, id.bytes, PROTO_ID_LEN);
    memcpy(key + PROTO_ID_LEN, S_AGENCY_B, PROTO_AGENCY_CODE_LEN);
    const void *raw;
    size_t rlen;
    s_raw(fx, T_RCPT, key, sizeof key, &raw, &rlen);
    static const uint8_t zero[AGENT_RCPT_LEN] = { 0 };
    assert_int_equal(rlen, AGENT_RCPT_LEN);
    assert_memory_equal(raw, zero, rlen);
    agent_rcpt_t got;
    assert_int_equal(agent_store_rcpt_get(fx->kv, &id, S_AGENCY_A, &got), PROTO_OK);
    assert_int_equal(got.state, RCPT_REFUSED);
    assert_int_equal(got.time, 1000);
    assert_int_equal(got.code, 7);
    assert_int_equal(agent_store_rcpt_get(fx->kv, &other, S_AGENCY_B, &got), PROTO_ERR_NOT_FOUND);
    s_rcpts_t r = { 0 };
    agent_store_rcpt_each(fx->kv, &id, s_rcpt_collect, &r);
    assert_int_equal(r.n, 2); // only id's, in agency order
    assert_string_equal(r.agency[0], S_AGENCY_A);
    assert_int_equal(r.rec[0].state, RCPT_REFUSED);
    assert_string_equal(r.agency[1], S_AGENCY_B);
    assert_int_equal(r.rec[1].state, RCPT_WAITING);
    proto_store_read_end(fx->kv);
    assert_int_equal(AGENT_RCPT_STATES, RCPT_RETURNED + 1);
}

// ---------------------------------------------------------------------------
//  Outbox and delivery frames

typedef struct {
    size_t n;
    uint8_t kind;
    size_t count;
    size_t len1;
} s_out_t;

static bool s_out_one(void *arg, uint8_t kind, const void *const *frames, const size_t *lens,
                      size_t count)
{
    s_out_t *o = arg;
    o->n++;
    o->kind = kind;
    o->count = count;
    o->len1 = count > 1 ? lens[1] : 0;
    assert_memory_equal(frames[0], "body", 4);
    return true;
}

static void s_test_out_frames(void **state)
{
    s_fx_t *fx = *state;
    //  kind (a STATUS: its frames stay in the entry), then count(4) lens(8
    //  each) and the bytes.
    static const uint8_t out_bytes[] = { 0x28, 0x02, 0, 0,   0,    0x04, 0,   0,   0,
                                         0,    0,    0, 0,   0x02, 0,    0,   0,   0,
                                         0,    0,    0, 'b', 'o',  'd',  'y', 'P', 'D' };
    const void *frames[] = { "body", "PD" };
    const size_t lens[] = { 4, 2 };
    assert_int_equal(agent_frames_size(lens, 2), sizeof out_bytes - 1);

    proto_id_t id = s_id(1);
    s_begin(fx);
    assert_int_equal(agent_store_out_put(fx->kv, &id, PROTO_KIND_STATUS, frames, lens, 2),
                     PROTO_OK);
    assert_int_equal(agent_store_frames_put(fx->kv, 'i', &id, frames, lens, 2), PROTO_OK);
    s_reopen(fx);
    assert_int_equal(proto_store_read_begin(fx->kv), PROTO_OK);
    const void *raw;
    size_t rlen;
    s_raw(fx, T_OUT, id.bytes, PROTO_ID_LEN, &raw, &rlen);
    assert_int_equal(rlen, sizeof out_bytes);
    assert_memory_equal(raw, out_bytes, rlen);
    uint8_t fkey[1 + PROTO_ID_LEN] = { 'i' };
    memcpy(fkey + 1, id.bytes, PROTO_ID_LEN);
    s_raw(fx, T_FRAMES, fkey, sizeof fkey, &raw, &rlen);
    assert_int_equal(rlen, sizeof out_bytes - 1);
    assert_memory_equal(raw, out_bytes + 1, rlen);
    assert_int_equal(agent_store_out_count(fx->kv), 1);
    s_out_t o = { 0 };
    agent_store_out_each(fx->kv, s_out_one, &o);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.kind, PROTO_KIND_STATUS);
    assert_int_equal(o.count, 2);
    assert_int_equal(o.len1, 2);
    const void *got[4];
    size_t glens[4], n = 0;
    assert_int_equal(agent_store_frames_get(fx->kv, 'i', &id, got, glens, 4, &n), PROTO_OK);
    assert_int_equal(n, 2);
    assert_int_equal(glens[1], 2);
    assert_memory_equal(got[1], "PD", 2);
    assert_int_equal(agent_store_frames_get(fx->kv, 'q', &id, got, glens, 4, &n),
                     PROTO_ERR_NOT_FOUND);
    //  More frames than the caller has room for, or a truncated blob: none.
    assert_int_equal(agent_store_frames_get(fx->kv, 'i', &id, got, glens, 1, &n),
                     PROTO_ERR_STORE_DAMAGED);
    assert_int_equal(agent_frames_parse(out_bytes + 1, sizeof out_bytes - 2, got, glens, 4), 0);
    assert_int_equal(agent_frames_parse(out_bytes + 1, 3, got, glens, 4), 0);
    proto_store_read_end(fx->kv);

    s_begin(fx);
    assert_int_equal(agent_store_out_del(fx->kv, &id), PROTO_OK);
    assert_int_equal(agent_store_out_del(fx->kv, &id), PROTO_OK); // absent: fine
    assert_int_equal(agent_store_out_count(fx->kv), 0);
    proto_store_abort(fx->kv);
}

//  A document's outbox entry is its kind alone, its frames written once
//  under T_FRAMES 's'; an entry with its frames in place (written before
//  that) still reads, and says so.
static void s_test_out_documents(void **state)
{
    s_fx_t *fx = *state;
    const void *frames[] = { "body", "PD" };
    const size_t lens[] = { 4, 2 };
    proto_id_t doc = s_id(1), old = s_id(2);
    uint8_t in_place[1 + 32];
    in_place[0] = PROTO_KIND_SUBMIT;
    assert_true(agent_frames_size(lens, 2) <= sizeof in_place - 1);
    agent_frames_encode(frames, lens, 2, in_place + 1);
    s_begin(fx);
    assert_int_equal(agent_store_out_put(fx->kv, &doc, PROTO_KIND_SUBMIT, frames, lens, 2),
                     PROTO_OK);
    assert_int_equal(proto_store_put(fx->kv, T_OUT, old.bytes, PROTO_ID_LEN, in_place,
                                     1 + agent_frames_size(lens, 2)),
                     PROTO_OK);
    s_reopen(fx);
    assert_int_equal(proto_store_read_begin(fx->kv), PROTO_OK);
    const void *raw;
    size_t rlen;
    s_raw(fx, T_OUT, doc.bytes, PROTO_ID_LEN, &raw, &rlen);
    assert_int_equal(rlen, 1);
    assert_int_equal(((const uint8_t *) raw)[0], PROTO_KIND_SUBMIT);
    uint8_t fkey[1 + PROTO_ID_LEN] = { 's' };
    memcpy(fkey + 1, doc.bytes, PROTO_ID_LEN);
    s_raw(fx, T_FRAMES, fkey, sizeof fkey, &raw, &rlen);
    assert_int_equal(rlen, agent_frames_size(lens, 2));
    assert_memory_equal(raw, in_place + 1, rlen);
    const proto_id_t *ids[] = { &doc, &old };
    for (int i = 0; i < 2; i++) {
        const void *got[4];
        size_t glens[4], n = 0;
        uint8_t kind = 0;
        assert_int_equal(agent_store_out_get(fx->kv, ids[i], &kind, got, glens, 4, &n), PROTO_OK);
        assert_int_equal(kind, PROTO_KIND_SUBMIT);
        assert_int_equal(n, 2);
        assert_memory_equal(got[0], "body", 4);
        assert_memory_equal(got[1], "PD", 2);
    }
    assert_false(agent_store_out_in_place(fx->kv, &doc));
    assert_true(agent_store_out_in_place(fx->kv, &old));
    assert_false(agent_store_out_in_place(fx->kv, &(proto_id_t){ { 9 } }));
    s_out_t o = { 0 };
    agent_store_out_each(fx->kv, s_out_one, &o);
    assert_int_equal(o.n, 2);
    assert_int_equal(o.count, 2);
    proto_store_read_end(fx->kv);
}

//  What evidence keeps (evidence_keep.h): an outbox entry read back whole,
//  a sent document's frames under 's', STATUS bodies by document, and a
//  store made before the table existed opens with it.
static bool s_stbody_one(void *arg, const proto_id_t *id, const void *map, size_t len)
{
    size_t *n = arg;
    assert_int_equal(id->bytes[0], 7 + *n);
    assert_int_equal(len, 4);
    assert_memory_equal(map, *n ? "nt-2" : "nt-1", len);
    (*n)++;
    return true;
}

static void s_test_evidence_kept(void **state)
{
    s_fx_t *fx = *state;
    const void *frames[] = { "body", "PD" };
    const size_t lens[] = { 4, 2 };
    proto_id_t id = s_id(1), other = s_id(2), n1 = s_id(7), n2 = s_id(8);
    s_begin(fx);
    assert_int_equal(agent_store_out_put(fx->kv, &id, 10, frames, lens, 2), PROTO_OK);
    assert_int_equal(agent_store_frames_put(fx->kv, 's', &id, frames, lens, 2), PROTO_OK);
    assert_int_equal(agent_store_stbody_put(fx->kv, &id, &n2, "nt-2", 4), PROTO_OK);
    assert_int_equal(agent_store_stbody_put(fx->kv, &id, &n1, "nt-1", 4), PROTO_OK);
    assert_int_equal(agent_store_stbody_put(fx->kv, &other, &n1, "nt-x", 4), PROTO_OK);
    s_reopen(fx);
    assert_int_equal(proto_store_read_begin(fx->kv), PROTO_OK);
    const void *got[4];
    size_t glens[4], n = 0;
    uint8_t kind = 0;
    assert_int_equal(agent_store_out_get(fx->kv, &id, &kind, got, glens, 4, &n), PROTO_OK);
    assert_int_equal(kind, 10);
    assert_int_equal(n, 2);
    assert_memory_equal(got[0], "body", 4);
    assert_int_equal(agent_store_out_get(fx->kv, &other, &kind, got, glens, 4, &n),
                     PROTO_ERR_NOT_FOUND);
    assert_int_equal(agent_store_out_get(fx->kv, &id, &kind, got, glens, 1, &n),
                     PROTO_ERR_STORE_DAMAGED);
    assert_int_equal(agent_store_frames_get(fx->kv, 's', &id, got, glens, 4, &n), PROTO_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(got[1], "PD", 2);
    size_t seen = 0;
    agent_store_stbody_each(fx->kv, &id, s_stbody_one, &seen);
    assert_int_equal(seen, 2); // in notice id order, not the other document's
    proto_store_read_end(fx->kv);

    //  A store from before T_STBODY: the agent opens it and adds the table.
    static const char *const old_tables[] = { "out",      "sent",  "rcpt",   "notes",
                                              "receipts", "inbox", "inseq",  "frames",
                                              "quar",     "seen",  "events", "meta",
                                              "cref",     "ops",   "answer", "edxml" };
    char dir[sizeof fx->root + 8], err[256] = "";
    snprintf(dir, sizeof dir, "%s/old", fx->root);
    assert_int_equal(mkdir(dir, 0700), 0);
    proto_store_t *old = proto_store_open(dir, S_MAP, old_tables, 16, err, sizeof err);
    assert_non_null(old);
    proto_store_destroy(&old);
    old = s_open(dir);
    assert_int_equal(proto_store_begin(old), PROTO_OK);
    assert_int_equal(agent_store_stbody_put(old, &id, &n1, "nt-1", 4), PROTO_OK);
    assert_int_equal(proto_store_commit(old), PROTO_OK);
    proto_store_destroy(&old);
}

// ---------------------------------------------------------------------------
//  Receipts, quarantine, notices, events, directory

typedef struct {
    size_t n;
    uint8_t kinds[4];
    size_t lens[4];
} s_receipts_t;

static bool s_receipt_one(void *arg, uint8_t kind, const void *body, size_t len)
{
    s_receipts_t *r = arg;
    if (r->n < 4) {
        r->kinds[r->n] = kind;
        r->lens[r->n] = body ? len : SIZE_MAX;
    }
    r->n++;
    return true;
}

static void s_test_receipts(void **state)
{
    s_fx_t *fx = *state;
    proto_id_t id = s_id(1), other = s_id(2);
    s_begin(fx);
    assert_int_equal(agent_store_receipt_append(fx->kv, &id, 7, "abc", 3), PROTO_OK);
    assert_int_equal(agent_store_receipt_append(fx->kv, &other, 8, "x", 1), PROTO_OK);
    assert_int_equal(agent_store_receipt_append(fx->kv, &id, 9, "de", 2), PROTO_OK);
    s_reopen(fx);
    assert_int_equal(proto_store_read_begin(fx->kv), PROTO_OK);
    //  Key: id + the receipt counter, big-endian; value kind + body.
    uint8_t key[PROTO_ID_LEN + 8] = { 0 };
    memcpy(key, id.bytes, PROTO_ID_LEN);
    key[PROTO_ID_LEN + 7] = 3;
    const void *raw;
    size_t rlen;
    s_raw(fx, T_RECEIPTS, key, sizeof key, &raw, &rlen);
    assert_int_equal(rlen, 3);
    assert_memory_equal(raw,
                        "\x09"
                        "de",
                        3);
    s_receipts_t r = { 0 };
    agent_store_receipt_each(fx->kv, &id, s_receipt_one, &r);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.kinds[0], 7);
    assert_int_equal(r.lens[0], 3);
    assert_int_equal(r.kinds[1], 9);
    assert_int_equal(r.lens[1], 2);
    proto_store_read_end(fx->kv);
}

static bool s_map_count(void *arg, const proto_id_t *id, const void *map, size_t len)
{
    (void) id;
    (void) map;
    (void) len;
    (*(size_t *) arg)++;
    return true;
}

static bool s_event_seqs(void *arg, uint64_t seq, const void *map, size_t len)
{
    uint64_t *last = arg;
    assert_int_equal(len, 1);
    assert_int_equal(((const uint8_t *) map)[0], 0x80);
    *last = seq;
    return true;
}

static void s_test_maps(void **state)
{
    s_fx_t *fx = *state;
    proto_id_t doc = s_id(1), notice = s_id(2), other = s_id(3);
    const uint8_t empty_map = 0x80;
    s_begin(fx);
    assert_int_equal(agent_store_quar_put(fx->kv, &doc, &empty_map, 1), PROTO_OK);
    assert_int_equal(agent_store_note_put(fx->kv, &doc, &notice, &empty_map, 1), PROTO_OK);
    assert_int_equal(agent_store_note_put(fx->kv, &other, &notice, &empty_map, 1), PROTO_OK);
    assert_false(agent_store_seen(fx->kv, &notice));
    assert_int_equal(agent_store_seen_put(fx->kv, &notice), PROTO_OK);
    for (int i = 0; i < 3; i++) {
        uint64_t seq = agent_store_event_next(fx->kv);
        assert_int_equal(seq, (uint64_t) i + 1);
        assert_int_equal(agent_store_event_put(fx->kv, seq, &empty_map, 1), PROTO_OK);
    }
    assert_int_equal(agent_store_directory_put(fx->kv, "dir", 3), PROTO_OK);
    s_reopen(fx);
    assert_int_equal(proto_store_read_begin(fx->kv), PROTO_OK);
    const void *v;
    size_t len;
    assert_int_equal(agent_store_quar_get(fx->kv, &doc, &v, &len), PROTO_OK);
    assert_int_equal(len, 1);
    assert_int_equal(agent_store_quar_count(fx->kv), 1);
    size_t n = 0;
    agent_store_quar_each(fx->kv, s_map_count, &n);
    assert_int_equal(n, 1);
    n = 0;
    agent_store_note_each(fx->kv, &doc, s_map_count, &n);
    assert_int_equal(n, 1);
    assert_true(agent_store_seen(fx->kv, &notice));
    assert_false(agent_store_seen(fx->kv, &doc));
    uint64_t last = 0;
    assert_int_equal(agent_store_event_page(fx->kv, 1, s_event_seqs, &last), 2);
    assert_int_equal(last, 3);
    assert_int_equal(agent_store_directory_get(fx->kv, &v, &len), PROTO_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(v, "dir", 3);
    //  The directory sits under the key it always had.
    s_raw(fx, T_META, "directory", 9, &v, &len);
    proto_store_read_end(fx->kv);
}

// ---------------------------------------------------------------------------
//  The msgpack maps inside the records

//  Append a fixstr (under 32 bytes) as msgpack writes it.
static void s_fixstr(uint8_t *buf, size_t *n, const char *text)
{
    size_t len = strlen(text);
    assert_true(len < 32);
    buf[(*n)++] = (uint8_t) (0xa0 | len);
    memcpy(buf + *n, text, len);
    *n += len;
}

static void s_test_maps_layout(void **state)
{
    (void) state;
    const char *to[] = { S_AGENCY_B };
    proto_doc_t doc = { .from = S_AGENCY_A,
                        .to = to,
                        .nto = 1,
                        .subject = "Subject",
                        .doc_type = "Type",
                        .code_number = "12",
                        .code_notation = "QD",
                        .date = "2025-11-21",
                        .urgency = 2,
                        .op = 1,
                        .natt = 3 };
    //  The inbox summary, as agents have always packed it, then the date.
    uint8_t want[256];
    size_t n = 0;
    want[n++] = 0x89;
    const char *texts[][2] = { { "from", S_AGENCY_A },
                               { "subject", "Subject" },
                               { "type", "Type" },
                               { "number", "12" },
                               { "notation", "QD" } };
    for (size_t i = 0; i < 5; i++) {
        s_fixstr(want, &n, texts[i][0]);
        s_fixstr(want, &n, texts[i][1]);
    }
    s_fixstr(want, &n, "urgency");
    want[n++] = 2;
    s_fixstr(want, &n, "op");
    want[n++] = 1;
    s_fixstr(want, &n, "attachments");
    want[n++] = 3;
    s_fixstr(want, &n, "date");
    s_fixstr(want, &n, "2025-11-21");
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    agent_inbox_summary_pack(&pk, &doc);
    assert_int_equal(buf.size, n);
    assert_memory_equal(buf.data, want, n);

    //  The sent summary of a document: subject, type, urgency, to, then
    //  number, notation and date.
    proto_msg_t msg = { .kind = PROTO_KIND_SUBMIT };
    msg.u.document.doc = doc;
    n = 0;
    want[n++] = 0x87;
    s_fixstr(want, &n, "subject");
    s_fixstr(want, &n, "Subject");
    s_fixstr(want, &n, "type");
    s_fixstr(want, &n, "Type");
    s_fixstr(want, &n, "urgency");
    want[n++] = 2;
    s_fixstr(want, &n, "to");
    want[n++] = 0x91;
    s_fixstr(want, &n, S_AGENCY_B);
    s_fixstr(want, &n, "number");
    s_fixstr(want, &n, "12");
    s_fixstr(want, &n, "notation");
    s_fixstr(want, &n, "QD");
    s_fixstr(want, &n, "date");
    s_fixstr(want, &n, "2025-11-21");
    msgpack_sbuffer_clear(&buf);
    agent_sent_summary_pack(&pk, &msg);
    assert_int_equal(buf.size, n);
    assert_memory_equal(buf.data, want, n);

    //  A quarantine record gives back its code; one without a usable code
    //  gives the fallback.
    msgpack_sbuffer_clear(&buf);
    agent_quar_pack(&pk, S_AGENCY_A, 1000, 301, "why");
    assert_int_equal(agent_quar_code(buf.data, buf.size, 1), 301);
    assert_int_equal(agent_quar_code("\x80", 1, 7), 7);
    assert_int_equal(agent_quar_code("\xc1", 1, 7), 7);
    msgpack_sbuffer_destroy(&buf);
}

//  The DMS's records: client references, operations naming a received
//  document, recall answers. Fixed layouts, byte for byte, and back
//  through the accessors across a reopen.
typedef struct {
    int n;
    proto_id_t by[3];
    agent_op_t rec[3];
} s_ops_t;

static bool s_op_collect(void *arg, const proto_id_t *by, const agent_op_t *rec)
{
    s_ops_t *o = arg;
    if (o->n < 3) {
        o->by[o->n] = *by;
        o->rec[o->n] = *rec;
    }
    o->n++;
    return true;
}

static void s_test_dms_records(void **state)
{
    s_fx_t *fx = *state;
    proto_id_t doc = s_id(3), op = s_id(4), other = s_id(5);
    agent_cref_t cref = { .kind = PROTO_KIND_SUBMIT, .id = doc, .created = 1000 };
    memset(cref.fingerprint, 0xab, sizeof cref.fingerprint);
    uint8_t bytes[AGENT_CREF_LEN], want[AGENT_CREF_LEN] = { PROTO_KIND_SUBMIT };
    memcpy(want + 1, doc.bytes, PROTO_ID_LEN);
    memset(want + 17, 0xab, 32);
    want[49] = 0xe8, want[50] = 0x03; // created 1000
    agent_cref_encode(&cref, bytes);
    assert_memory_equal(bytes, want, sizeof want);
    agent_op_t rec = { .op = PROTO_OP_REVOKE, .from = S_AGENCY_A, .received = 1000 };
    uint8_t op_bytes[AGENT_OP_LEN], op_want[AGENT_OP_LEN] = { PROTO_OP_REVOKE };
    memcpy(op_want + 1, S_AGENCY_A, PROTO_AGENCY_CODE_LEN);
    op_want[14] = 0xe8, op_want[15] = 0x03;
    agent_op_encode(&rec, op_bytes);
    assert_memory_equal(op_bytes, op_want, sizeof op_want);
    agent_answer_t answer = { .count = 1, .code = 16, .time = 1000 };
    uint8_t a_bytes[AGENT_ANSWER_LEN], a_want[AGENT_ANSWER_LEN] = { 1, 0, 0, 0, 16, 0xe8, 0x03 };
    agent_answer_encode(&answer, a_bytes);
    assert_memory_equal(a_bytes, a_want, sizeof a_want);

    s_begin(fx);
    assert_int_equal(agent_store_cref_put(fx->kv, "CV-1", 4, &cref), PROTO_OK);
    assert_int_equal(agent_store_cref_put(fx->kv, "CV-2", 4, &cref), PROTO_OK);
    assert_int_equal(agent_store_cref_del(fx->kv, "CV-2", 4), PROTO_OK);
    assert_int_equal(agent_store_cref_put(fx->kv, "", 0, &cref), PROTO_ERR_INVALID_ARG);
    assert_int_equal(agent_store_op_put(fx->kv, &doc, &op, &rec), PROTO_OK);
    rec.op = PROTO_OP_UPDATE;
    assert_int_equal(agent_store_op_put(fx->kv, &other, &op, &rec), PROTO_OK);
    assert_int_equal(agent_store_answer_put(fx->kv, &doc, &answer), PROTO_OK);
    s_reopen(fx);
    assert_int_equal(proto_store_read_begin(fx->kv), PROTO_OK);
    agent_cref_t got;
    assert_int_equal(agent_store_cref_get(fx->kv, "CV-1", 4, &got), PROTO_OK);
    assert_memory_equal(&got.id, &doc, sizeof doc);
    assert_int_equal(got.kind, PROTO_KIND_SUBMIT);
    assert_int_equal(got.created, 1000);
    assert_int_equal(agent_store_cref_get(fx->kv, "CV-2", 4, &got), PROTO_ERR_NOT_FOUND);
    s_ops_t ops = { 0 };
    agent_store_op_each(fx->kv, &doc, s_op_collect, &ops);
    assert_int_equal(ops.n, 1); // only doc's
    assert_memory_equal(&ops.by[0], &op, sizeof op);
    assert_int_equal(ops.rec[0].op, PROTO_OP_REVOKE);
    assert_string_equal(ops.rec[0].from, S_AGENCY_A);
    assert_int_equal(ops.rec[0].received, 1000);
    agent_answer_t a;
    assert_int_equal(agent_store_answer_get(fx->kv, &doc, &a), PROTO_OK);
    assert_int_equal(a.count, 1);
    assert_int_equal(a.code, 16);
    assert_int_equal(agent_store_answer_get(fx->kv, &other, &a), PROTO_ERR_NOT_FOUND);
    proto_store_read_end(fx->kv);
}

// ---------------------------------------------------------------------------
//  edXML DocumentIds: both ways, the first document keeps its DocumentId,
//  and the layout ('d' + DocumentId -> id, 't' + id -> DocumentId).

static void s_test_edxml(void **state)
{
    s_fx_t *fx = *state;
    proto_id_t doc = s_id(1), revoke = s_id(2), found;
    const char *docid = "000.00.01.H01,2024/05/06,123/QĐ-UBND";
    char long_id[AGENT_EDXML_ID_MAX + 2], text[AGENT_EDXML_ID_MAX + 1];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    s_begin(fx);
    assert_int_equal(agent_store_edxml_put(fx->kv, docid, &doc), PROTO_OK);
    assert_int_equal(agent_store_edxml_put(fx->kv, docid, &revoke), PROTO_OK);
    assert_int_equal(agent_store_edxml_put(fx->kv, long_id, &doc), PROTO_ERR_LIMIT);
    assert_int_equal(agent_store_edxml_put(fx->kv, "", &doc), PROTO_ERR_LIMIT);
    s_reopen(fx);
    assert_int_equal(proto_store_read_begin(fx->kv), PROTO_OK);
    assert_int_equal(agent_store_edxml_find(fx->kv, docid, &found), PROTO_OK);
    assert_memory_equal(found.bytes, doc.bytes, PROTO_ID_LEN); // the first keeps it
    assert_int_equal(agent_store_edxml_find(fx->kv, "000.00.09.H01,,1/X", &found),
                     PROTO_ERR_NOT_FOUND);
    assert_int_equal(agent_store_edxml_id(fx->kv, &revoke, text, sizeof text), PROTO_OK);
    assert_string_equal(text, docid);
    assert_int_equal(agent_store_edxml_id(fx->kv, &doc, text, 8), PROTO_ERR_LIMIT);
    const void *v;
    size_t len;
    uint8_t key[1 + PROTO_ID_LEN] = { 't' };
    memcpy(key + 1, doc.bytes, PROTO_ID_LEN);
    s_raw(fx, T_EDXML, key, sizeof key, &v, &len);
    assert_int_equal(len, strlen(docid));
    proto_store_read_end(fx->kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(s_test_sent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_sent_each, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_inbox, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_rcpt, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_out_frames, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_out_documents, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_evidence_kept, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_receipts, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_maps, s_setup, s_teardown),
        cmocka_unit_test(s_test_maps_layout),
        cmocka_unit_test_setup_teardown(s_test_dms_records, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_edxml, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("agent_store", tests, NULL, NULL);
}
