/*  test_store.c - the broker's LMDB store, from open to destroy.

    Every test works on real LMDB files in a fresh mkdtemp directory that is
    removed afterwards. Besides the record layouts the tests check the
    promises the server builds on: the data directory lock, durability across
    a reopen, the push order of queues, that an aborted or thrown-away nested
    transaction leaves nothing behind, that a full map rejects one document
    without losing the batch around it, and that any change to the audit
    chain on disk is found by audit_walk. Where a check needs to see or
    damage the files underneath the store, the test opens the environment
    with LMDB itself while the store is closed.
*/
#include <setjmp.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "store.h"
#include "store_fixture.h"

#define S_T0       1767225600000ull // 2026-01-01T00:00:00Z in ms
#define S_SENDER   "000.00.01.H01"
#define S_R1       "000.05.01.H01"
#define S_R2       "001.05.01.H01"
#define S_MAP      (64ull << 20)
#define S_PATH_MAX 4096

static const char *const s_to[2] = { S_R1, S_R2 };

// ---------------------------------------------------------------------------
//  Fixture: a fresh temporary directory per test

typedef bt_fx_t s_fx_t;

static void s_path(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, S_PATH_MAX, "%s/%s", dir, name);
    assert_true(n > 0 && n < S_PATH_MAX);
}

static int s_setup(void **state)
{
    return bt_fx_setup(state, "store");
}

static int s_teardown(void **state)
{
    return bt_fx_teardown(state);
}

static broker_store_t *s_open(const char *dir, uint64_t map_size)
{
    char err[256] = "";
    broker_store_t *store = broker_store_open(dir, map_size, err, sizeof err);
    if (!store)
        print_error("broker_store_open %s: %s\n", dir, err);
    assert_non_null(store);
    return store;
}

static void s_reopen(broker_store_t **store, const char *dir)
{
    broker_store_destroy(store);
    assert_null(*store);
    *store = s_open(dir, S_MAP);
}

// ---------------------------------------------------------------------------
//  Documents built from a small number n

static proto_id_t s_id(uint8_t n)
{
    proto_id_t id;
    for (size_t i = 0; i < PROTO_ID_LEN; i++)
        id.bytes[i] = (uint8_t) (n * 17u + i);
    return id;
}

//  Every test document has three frames: a body, an attachment and an
//  empty attachment (zero-length frames must survive too).
#define S_FRAMES 3

static size_t s_frame_len(uint8_t n, size_t i)
{
    return i == 0 ? 40u + n : i == 1 ? 1000u + 10u * n : 0;
}

static uint8_t s_frame_byte(uint8_t n, size_t i, size_t k)
{
    return (uint8_t) (n * 13u + i * 101u + k * 7u);
}

static uint64_t s_doc_bytes(uint8_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < S_FRAMES; i++)
        total += s_frame_len(n, i);
    return total;
}

static broker_doc_t s_doc(uint8_t n, uint8_t urgency, uint64_t seq, uint32_t nto)
{
    broker_doc_t doc;
    memset(&doc, 0, sizeof doc);
    doc.id = s_id(n);
    snprintf(doc.from, sizeof doc.from, "%s", S_SENDER);
    memset(doc.hash, n, sizeof doc.hash);
    doc.accepted = S_T0 + n;
    doc.seq = seq;
    doc.kind = PROTO_KIND_SUBMIT;
    doc.urgency = urgency;
    doc.nto = nto;
    doc.open = nto;
    doc.bytes = s_doc_bytes(n);
    return doc;
}

static proto_err_t s_add(broker_store_t *store, uint8_t n, uint8_t urgency, uint64_t seq,
                         const char *const *to, uint32_t nto, uint64_t ttl)
{
    broker_doc_t doc = s_doc(n, urgency, seq, nto);
    uint8_t *bufs[S_FRAMES];
    const void *frames[S_FRAMES];
    size_t lens[S_FRAMES];
    for (size_t i = 0; i < S_FRAMES; i++) {
        lens[i] = s_frame_len(n, i);
        bufs[i] = malloc(lens[i] ? lens[i] : 1);
        assert_non_null(bufs[i]);
        for (size_t k = 0; k < lens[i]; k++)
            bufs[i][k] = s_frame_byte(n, i, k);
        frames[i] = bufs[i];
    }
    proto_err_t rc = broker_store_doc_add(store, &doc, to, frames, lens, S_FRAMES, ttl);
    for (size_t i = 0; i < S_FRAMES; i++)
        free(bufs[i]);
    return rc;
}

static void s_check_doc(broker_store_t *store, uint8_t n, uint8_t urgency, uint64_t seq,
                        uint32_t nto, uint32_t open)
{
    broker_doc_t want = s_doc(n, urgency, seq, nto), got;
    assert_int_equal(broker_store_doc_get(store, &want.id, &got), PROTO_OK);
    assert_memory_equal(got.id.bytes, want.id.bytes, PROTO_ID_LEN);
    assert_string_equal(got.from, want.from);
    assert_memory_equal(got.hash, want.hash, PROTO_HASH_LEN);
    assert_int_equal(got.accepted, want.accepted);
    assert_int_equal(got.seq, want.seq);
    assert_int_equal(got.kind, want.kind);
    assert_int_equal(got.urgency, want.urgency);
    assert_int_equal(got.revoked, 0);
    assert_int_equal(got.purged, 0);
    assert_int_equal(got.nto, nto);
    assert_int_equal(got.open, open);
    assert_int_equal(got.bytes, want.bytes);
}

static void s_check_frames(broker_store_t *store, uint8_t n)
{
    proto_id_t id = s_id(n);
    const void *frames[8];
    size_t lens[8], count = 0;
    assert_int_equal(broker_store_frames_get(store, &id, frames, lens, 8, &count), PROTO_OK);
    assert_int_equal(count, S_FRAMES);
    for (size_t i = 0; i < S_FRAMES; i++) {
        assert_int_equal(lens[i], s_frame_len(n, i));
        const uint8_t *p = frames[i];
        for (size_t k = 0; k < lens[i]; k++)
            assert_int_equal(p[k], s_frame_byte(n, i, k));
    }
    //  Room for fewer frames than stored is a refusal, not an overflow.
    assert_int_equal(broker_store_frames_get(store, &id, frames, lens, 2, &count), PROTO_ERR_STORE);
}

// ---------------------------------------------------------------------------
//  Collectors for the scan callbacks

typedef struct {
    proto_id_t ids[64];
    char who[64][PROTO_AGENCY_CODE_LEN + 1];
    size_t n;
    size_t stop_after; // queue/mbox: return false after this many (0: never)
} s_seen_t;

static bool s_queue_fn(void *arg, const proto_id_t *id)
{
    s_seen_t *seen = arg;
    assert_true(seen->n < 64);
    seen->ids[seen->n++] = *id;
    return seen->stop_after == 0 || seen->n < seen->stop_after;
}

static void s_retire_fn(void *arg, const proto_id_t *id)
{
    s_seen_t *seen = arg;
    assert_true(seen->n < 64);
    seen->ids[seen->n++] = *id;
}

static void s_expiry_fn(void *arg, const char *recipient, const proto_id_t *id)
{
    s_seen_t *seen = arg;
    assert_true(seen->n < 64);
    snprintf(seen->who[seen->n], sizeof seen->who[0], "%s", recipient);
    seen->ids[seen->n++] = *id;
}

static void s_assert_ids(const s_seen_t *seen, const uint8_t *want, size_t n)
{
    assert_int_equal(seen->n, n);
    for (size_t i = 0; i < n; i++) {
        proto_id_t id = s_id(want[i]);
        if (memcmp(seen->ids[i].bytes, id.bytes, PROTO_ID_LEN) != 0) {
            print_error("position %zu: expected document %u\n", i, want[i]);
            fail();
        }
    }
}

static void s_queue(broker_store_t *store, const char *recipient, s_seen_t *seen)
{
    memset(seen, 0, sizeof *seen);
    size_t visited = broker_store_queue_scan(store, recipient, s_queue_fn, seen);
    assert_int_equal(visited, seen->n);
}

// ---------------------------------------------------------------------------
//  Open, lock, close

static void s_test_open_lock(void **state)
{
    s_fx_t *fx = *state;
    char path[S_PATH_MAX], err[256];
    struct stat st;

    broker_store_t *store = s_open(fx->data, S_MAP);
    //  The data directory is created private to the broker's user.
    assert_int_equal(stat(fx->data, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 077, 0);
    s_path(path, fx->data, "lock");
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    //  The lock file names the process holding it.
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long pid = 0;
    assert_int_equal(fscanf(f, "%ld", &pid), 1);
    fclose(f);
    assert_int_equal(pid, (long) getpid());
    s_path(path, fx->data, "store");
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    s_path(path, fx->data, "store/data.mdb");
    assert_int_equal(stat(path, &st), 0);

    uint64_t used = 0, size = 0;
    broker_store_usage(store, &used, &size);
    assert_int_equal(size, S_MAP);
    assert_true(used > 0 && used < size);

    //  A second open of the same directory takes a new open file description
    //  of the lock file, and flock locks conflict between those even in one
    //  process: a second broker is refused.
    memset(err, 0, sizeof err);
    broker_store_t *second = broker_store_open(fx->data, S_MAP, err, sizeof err);
    assert_null(second);
    assert_non_null(strstr(err, "locked"));
    //  The refused open did not take the first one's lock away.
    assert_null(broker_store_open(fx->data, S_MAP, err, sizeof err));

    broker_store_destroy(&store);
    assert_null(store);
    broker_store_destroy(&store); // harmless twice
    broker_store_destroy(NULL);

    //  Released on destroy: it opens again.
    store = s_open(fx->data, S_MAP);
    broker_store_destroy(&store);

    //  A data directory that cannot be created is a clear refusal.
    s_path(path, fx->root, "missing/deeper");
    memset(err, 0, sizeof err);
    assert_null(broker_store_open(path, S_MAP, err, sizeof err));
    assert_non_null(strstr(err, "cannot create"));
}

static void s_test_txn_rules(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data, S_MAP);
    proto_id_t id = s_id(1);
    broker_doc_t doc;
    uint64_t mid;

    //  Without a transaction nothing reads or writes.
    assert_false(broker_store_writing(store));
    assert_int_equal(broker_store_doc_get(store, &id, &doc), PROTO_ERR_INTERNAL);
    assert_int_equal(s_add(store, 1, 0, 1, s_to, 1, 1000), PROTO_ERR_INTERNAL);
    assert_int_equal(
        broker_store_audit_append(store, S_T0, BROKER_AUDIT_ADMIN, "", NULL, "x", NULL),
        PROTO_ERR_INTERNAL);
    assert_int_equal(broker_store_nest(store), PROTO_ERR_INTERNAL);
    assert_int_equal(broker_store_unnest(store, true), PROTO_ERR_INTERNAL);
    assert_int_equal(broker_store_commit(store), PROTO_OK); // nothing open: nothing to do

    //  A read transaction reads but does not write.
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_false(broker_store_writing(store));
    assert_int_equal(broker_store_doc_get(store, &id, &doc), PROTO_ERR_UNKNOWN_DOC);
    assert_int_equal(broker_store_mid_next(store, &mid), PROTO_ERR_INTERNAL);
    assert_int_equal(broker_store_nest(store), PROTO_ERR_INTERNAL);
    broker_store_read_end(store);

    //  begin replaces a read transaction and is a no-op when writing.
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_true(broker_store_writing(store));
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK); // uses the write txn
    broker_store_read_end(store);                               // does not end it
    assert_true(broker_store_writing(store));
    assert_int_equal(broker_store_mid_next(store, &mid), PROTO_OK);
    assert_int_equal(mid, 1);

    //  One nesting level; commit refuses while a child is open.
    assert_int_equal(broker_store_nest(store), PROTO_OK);
    assert_int_equal(broker_store_nest(store), PROTO_ERR_INTERNAL);
    assert_int_equal(broker_store_commit(store), PROTO_ERR_INTERNAL);
    assert_int_equal(broker_store_unnest(store, true), PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
    assert_false(broker_store_writing(store));

    //  Destroy aborts whatever is open, nested or not.
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_nest(store), PROTO_OK);
    assert_int_equal(s_add(store, 1, 0, 1, s_to, 1, 1000), PROTO_OK);
    broker_store_destroy(&store);
    store = s_open(fx->data, S_MAP);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_int_equal(broker_store_doc_get(store, &id, &doc), PROTO_ERR_UNKNOWN_DOC);
    broker_store_read_end(store);
    broker_store_destroy(&store);
}

// ---------------------------------------------------------------------------
//  Documents

static void s_test_durable_reopen(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data, S_MAP);
    const uint64_t ttl = 86400000;

    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(s_add(store, 1, PROTO_URGENCY_NORMAL, 11, s_to, 2, ttl), PROTO_OK);
    assert_int_equal(s_add(store, 2, PROTO_URGENCY_IMMEDIATE, 12, s_to, 2, ttl), PROTO_OK);
    assert_int_equal(s_add(store, 3, PROTO_URGENCY_NORMAL, 13, s_to, 1, ttl), PROTO_OK);
    //  Visible in the open transaction already.
    s_check_doc(store, 2, PROTO_URGENCY_IMMEDIATE, 12, 2, 2);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
    assert_false(broker_store_writing(store));

    s_reopen(&store, fx->data);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    s_check_doc(store, 1, PROTO_URGENCY_NORMAL, 11, 2, 2);
    s_check_doc(store, 2, PROTO_URGENCY_IMMEDIATE, 12, 2, 2);
    s_check_doc(store, 3, PROTO_URGENCY_NORMAL, 13, 1, 1);
    for (uint8_t n = 1; n <= 3; n++)
        s_check_frames(store, n);

    //  One delivery row per recipient, waiting, with its deadline.
    for (uint8_t n = 1; n <= 3; n++) {
        for (size_t r = 0; r < (n == 3 ? 1u : 2u); r++) {
            proto_id_t id = s_id(n);
            broker_dlv_t dlv;
            assert_int_equal(broker_store_dlv_get(store, s_to[r], &id, &dlv), PROTO_OK);
            assert_int_equal(dlv.state, BROKER_DLV_WAITING);
            assert_int_equal(dlv.time, S_T0 + n);
            assert_int_equal(dlv.deadline, S_T0 + n + ttl);
            assert_int_equal(dlv.queue_seq, 10u + n);
        }
    }
    proto_id_t id3 = s_id(3), unknown = s_id(99);
    broker_dlv_t dlv;
    broker_doc_t doc;
    assert_int_equal(broker_store_dlv_get(store, S_R2, &id3, &dlv), PROTO_ERR_UNKNOWN_DOC);
    assert_int_equal(broker_store_doc_get(store, &unknown, &doc), PROTO_ERR_UNKNOWN_DOC);
    const void *frames[4];
    size_t lens[4], count;
    assert_int_equal(broker_store_frames_get(store, &unknown, frames, lens, 4, &count),
                     PROTO_ERR_UNKNOWN_DOC);

    //  Queues in push order: the immediate one first.
    s_seen_t seen;
    s_queue(store, S_R1, &seen);
    s_assert_ids(&seen, (const uint8_t[]){ 2, 1, 3 }, 3);
    s_queue(store, S_R2, &seen);
    s_assert_ids(&seen, (const uint8_t[]){ 2, 1 }, 2);
    s_queue(store, "000.00.00.G01", &seen);
    assert_int_equal(seen.n, 0);
    broker_store_read_end(store);
    broker_store_destroy(&store);
}

static void s_test_queue_retire_purge(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data, S_MAP);
    //  Eight documents with increasing seq and mixed urgency.
    static const uint8_t urgency[9] = { 0, 0, 3, 1, 2, 3, 0, 2, 1 };
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    for (uint8_t n = 1; n <= 8; n++)
        assert_int_equal(s_add(store, n, urgency[n], 100u + n, s_to, 2, 3600000), PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);

    //  Most urgent first, then by seq.
    static const uint8_t order[8] = { 2, 5, 4, 7, 3, 8, 1, 6 };
    s_seen_t seen;
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    s_queue(store, S_R1, &seen);
    s_assert_ids(&seen, order, 8);
    //  The callback stops the walk.
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 3;
    assert_int_equal(broker_store_queue_scan(store, S_R1, s_queue_fn, &seen), 3);
    s_assert_ids(&seen, order, 3);
    uint64_t oldest = 0;
    assert_int_equal(broker_store_queue_depth(store, S_R1, S_T0 + 1000, &oldest), 8);
    assert_int_equal(oldest, 1000 - 1); // document 1, accepted at S_T0 + 1
    assert_int_equal(broker_store_queue_depth(store, "000.00.00.G01", S_T0, &oldest), 0);
    assert_int_equal(oldest, 0);
    broker_store_read_end(store);

    //  Document 4 delivered to R1: out of R1's queue, still in R2's.
    proto_id_t id4 = s_id(4);
    const uint64_t t1 = S_T0 + 5000, t2 = S_T0 + 6000;
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_dlv_set(store, S_R1, &id4, BROKER_DLV_DELIVERED, t1), PROTO_OK);
    s_check_doc(store, 4, urgency[4], 104, 2, 1);
    s_queue(store, S_R1, &seen);
    s_assert_ids(&seen, (const uint8_t[]){ 2, 5, 7, 3, 8, 1, 6 }, 7);
    s_queue(store, S_R2, &seen);
    s_assert_ids(&seen, order, 8);
    broker_dlv_t dlv;
    assert_int_equal(broker_store_dlv_get(store, S_R1, &id4, &dlv), PROTO_OK);
    assert_int_equal(dlv.state, BROKER_DLV_DELIVERED);
    assert_int_equal(dlv.time, t1);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(broker_store_retire_scan(store, UINT64_MAX, 10, s_retire_fn, &seen), 0);

    //  Refused by R2, the last open recipient: finished at t2.
    assert_int_equal(broker_store_dlv_set(store, S_R2, &id4, BROKER_DLV_REFUSED, t2), PROTO_OK);
    s_check_doc(store, 4, urgency[4], 104, 2, 0);
    //  Setting a state again does not count the recipient twice.
    assert_int_equal(broker_store_dlv_set(store, S_R1, &id4, BROKER_DLV_DELIVERED, t2), PROTO_OK);
    s_check_doc(store, 4, urgency[4], 104, 2, 0);
    proto_id_t unknown = s_id(99);
    assert_int_equal(broker_store_dlv_set(store, S_R1, &unknown, BROKER_DLV_DELIVERED, t2),
                     PROTO_ERR_UNKNOWN_DOC);
    assert_int_equal(broker_store_commit(store), PROTO_OK);

    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    s_queue(store, S_R2, &seen);
    s_assert_ids(&seen, (const uint8_t[]){ 2, 5, 7, 3, 8, 1, 6 }, 7);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(broker_store_retire_scan(store, t2 - 1, 10, s_retire_fn, &seen), 0);
    assert_int_equal(broker_store_retire_scan(store, t2, 10, s_retire_fn, &seen), 1);
    s_assert_ids(&seen, (const uint8_t[]){ 4 }, 1);
    broker_store_read_end(store);

    //  Purge: frames gone, record kept and marked, bytes returned.
    uint64_t freed = 0;
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_doc_purge(store, &id4, &freed), PROTO_OK);
    //  The envelope (first frame) stays so the document can still be shown;
    //  the attachment frames are what is freed.
    assert_true(freed > 0 && freed < s_doc_bytes(4));
    assert_int_equal(broker_store_doc_purge(store, &unknown, &freed), PROTO_ERR_UNKNOWN_DOC);
    assert_int_equal(broker_store_commit(store), PROTO_OK);

    s_reopen(&store, fx->data);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    const void *frames[4];
    size_t lens[4], count;
    assert_int_equal(broker_store_frames_get(store, &id4, frames, lens, 4, &count), PROTO_OK);
    assert_int_equal(count, 1);
    broker_doc_t doc;
    assert_int_equal(broker_store_doc_get(store, &id4, &doc), PROTO_OK);
    assert_int_equal(doc.purged, 1);
    assert_int_equal(doc.open, 0);
    assert_int_equal(doc.bytes, s_doc_bytes(4));
    memset(&seen, 0, sizeof seen);
    assert_int_equal(broker_store_retire_scan(store, UINT64_MAX, 10, s_retire_fn, &seen), 0);
    s_check_frames(store, 5); // the neighbours are untouched
    broker_store_read_end(store);

    //  Purging twice frees nothing more.
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_doc_purge(store, &id4, &freed), PROTO_OK);
    assert_int_equal(freed, 0);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
    broker_store_destroy(&store);
}

static void s_test_abort(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data, S_MAP);
    proto_id_t id = s_id(7);
    broker_doc_t doc;
    uint64_t mid = 0;

    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(s_add(store, 7, 1, 7, s_to, 2, 1000), PROTO_OK);
    assert_int_equal(broker_store_mid_next(store, &mid), PROTO_OK);
    assert_int_equal(mid, 1);
    assert_int_equal(broker_store_audit_append(store, S_T0, BROKER_AUDIT_ACCEPTED, S_SENDER, &id,
                                               "kind=SUBMIT", NULL),
                     PROTO_OK);
    assert_int_equal(broker_store_doc_get(store, &id, &doc), PROTO_OK);
    broker_store_abort(store);
    assert_false(broker_store_writing(store));
    broker_store_abort(store); // harmless twice

    s_reopen(&store, fx->data);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_int_equal(broker_store_doc_get(store, &id, &doc), PROTO_ERR_UNKNOWN_DOC);
    s_seen_t seen;
    s_queue(store, S_R1, &seen);
    assert_int_equal(seen.n, 0);
    assert_int_equal(broker_store_audit_length(store), 0);
    broker_store_read_end(store);
    //  The aborted mailbox id is given back.
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_mid_next(store, &mid), PROTO_OK);
    assert_int_equal(mid, 1);
    broker_store_abort(store);
    broker_store_destroy(&store);
}

static void s_test_nested(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data, S_MAP);
    proto_id_t a = s_id(1), b = s_id(2), c = s_id(3);
    broker_doc_t doc;

    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(s_add(store, 3, 0, 3, s_to, 1, 1000), PROTO_OK); // in the batch itself

    assert_int_equal(broker_store_nest(store), PROTO_OK);
    assert_int_equal(s_add(store, 1, 0, 1, s_to, 2, 1000), PROTO_OK);
    assert_int_equal(broker_store_doc_get(store, &a, &doc), PROTO_OK);
    assert_int_equal(broker_store_unnest(store, false), PROTO_OK);
    assert_true(broker_store_writing(store));
    assert_int_equal(broker_store_doc_get(store, &a, &doc), PROTO_ERR_UNKNOWN_DOC);

    assert_int_equal(broker_store_nest(store), PROTO_OK);
    assert_int_equal(s_add(store, 2, 0, 2, s_to, 2, 1000), PROTO_OK);
    assert_int_equal(broker_store_unnest(store, true), PROTO_OK);
    assert_int_equal(broker_store_doc_get(store, &b, &doc), PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);

    s_reopen(&store, fx->data);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_int_equal(broker_store_doc_get(store, &a, &doc), PROTO_ERR_UNKNOWN_DOC);
    s_check_doc(store, 2, 0, 2, 2, 2);
    s_check_doc(store, 3, 0, 3, 1, 1);
    assert_int_equal(broker_store_doc_get(store, &c, &doc), PROTO_OK);
    s_check_frames(store, 2);
    //  The thrown-away document left no delivery rows or queue entries.
    broker_dlv_t dlv;
    assert_int_equal(broker_store_dlv_get(store, S_R1, &a, &dlv), PROTO_ERR_UNKNOWN_DOC);
    s_seen_t seen;
    s_queue(store, S_R2, &seen);
    s_assert_ids(&seen, (const uint8_t[]){ 2 }, 1);
    broker_store_read_end(store);
    broker_store_destroy(&store);
}

//  One document with a single frame of len bytes; the result is returned.
static proto_err_t s_add_big(broker_store_t *store, uint8_t n, const uint8_t *frame, size_t len)
{
    broker_doc_t doc = s_doc(n, 0, n, 1);
    doc.bytes = len;
    const void *frames[1] = { frame };
    size_t lens[1] = { len };
    return broker_store_doc_add(store, &doc, s_to, frames, lens, 1, 3600000);
}

static void s_test_map_full(void **state)
{
    s_fx_t *fx = *state;
    //  The configuration allows no map under 16 MiB; the store API takes
    //  any size, and a small one fills up quickly.
    const uint64_t map = 1u << 20;
    const size_t frame_len = 96u << 10;
    uint8_t *frame = malloc(frame_len);
    assert_non_null(frame);
    memset(frame, 0x5a, frame_len);
    broker_store_t *store = s_open(fx->data, map);

    //  Each document in its own nested transaction, as the server does, in
    //  one batch, until the map is full.
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    uint8_t stored = 0;
    proto_err_t rc = PROTO_OK;
    for (uint8_t n = 1; n < 50; n++) {
        assert_int_equal(broker_store_nest(store), PROTO_OK);
        rc = s_add_big(store, n, frame, frame_len);
        if (rc != PROTO_OK) {
            assert_int_equal(broker_store_unnest(store, false), PROTO_OK);
            break;
        }
        assert_int_equal(broker_store_unnest(store, true), PROTO_OK);
        stored = n;
    }
    assert_int_equal(rc, PROTO_ERR_STORE_FULL);
    assert_true(stored >= 2);
    //  The batch is still usable: the rejected document is not in it, the
    //  others are, and it commits.
    assert_true(broker_store_writing(store));
    proto_id_t rejected = s_id((uint8_t) (stored + 1));
    broker_doc_t doc;
    assert_int_equal(broker_store_doc_get(store, &rejected, &doc), PROTO_ERR_UNKNOWN_DOC);
    assert_int_equal(broker_store_commit(store), PROTO_OK);

    broker_store_destroy(&store);
    store = s_open(fx->data, map);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    for (uint8_t n = 1; n <= stored; n++) {
        proto_id_t id = s_id(n);
        const void *frames[2];
        size_t lens[2], count = 0;
        assert_int_equal(broker_store_doc_get(store, &id, &doc), PROTO_OK);
        assert_int_equal(broker_store_frames_get(store, &id, frames, lens, 2, &count), PROTO_OK);
        assert_int_equal(count, 1);
        assert_int_equal(lens[0], frame_len);
        assert_memory_equal(frames[0], frame, frame_len);
    }
    assert_int_equal(broker_store_doc_get(store, &rejected, &doc), PROTO_ERR_UNKNOWN_DOC);
    broker_store_read_end(store);

    //  Batches of one document each until even the first document of a
    //  batch does not fit: that batch is aborted, the committed ones stay.
    uint8_t n = (uint8_t) (stored + 1);
    for (;; n++) {
        assert_true(n < 100);
        assert_int_equal(broker_store_begin(store), PROTO_OK);
        rc = s_add_big(store, n, frame, frame_len);
        if (rc != PROTO_OK)
            break;
        assert_int_equal(broker_store_commit(store), PROTO_OK);
    }
    assert_int_equal(rc, PROTO_ERR_STORE_FULL);
    broker_store_abort(store);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    proto_id_t first = s_id(1), last = s_id(n);
    assert_int_equal(broker_store_doc_get(store, &first, &doc), PROTO_OK);
    assert_int_equal(broker_store_doc_get(store, &last, &doc), PROTO_ERR_UNKNOWN_DOC);
    broker_store_read_end(store);
    broker_store_destroy(&store);
    free(frame);
}

// ---------------------------------------------------------------------------
//  Mailbox, expiry, notices, flags, receipts, quota

typedef struct {
    uint64_t mids[16];
    uint8_t kinds[16];
    char bodies[16][32];
    size_t n, stop_after;
} s_mbox_seen_t;

static bool s_mbox_fn(void *arg, uint64_t mid, uint8_t kind, const void *body, size_t len)
{
    s_mbox_seen_t *seen = arg;
    assert_true(seen->n < 16 && len < 32);
    seen->mids[seen->n] = mid;
    seen->kinds[seen->n] = kind;
    memcpy(seen->bodies[seen->n], body, len);
    seen->bodies[seen->n][len] = '\0';
    seen->n++;
    return seen->stop_after == 0 || seen->n < seen->stop_after;
}

static void s_test_mailbox(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data, S_MAP);
    uint64_t mids[4];
    char body[32];

    assert_int_equal(broker_store_begin(store), PROTO_OK);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(broker_store_mid_next(store, &mids[i]), PROTO_OK);
        if (i > 0)
            assert_true(mids[i] > mids[i - 1]);
    }
    //  Put out of order; the scan comes back in mid order.
    static const int put_order[3] = { 2, 0, 1 };
    for (int j = 0; j < 3; j++) {
        int i = put_order[j];
        snprintf(body, sizeof body, "body-%d", i);
        assert_int_equal(broker_store_mbox_put(store, S_R1, mids[i],
                                               (uint8_t) (PROTO_KIND_STATUS + i), body,
                                               strlen(body)),
                         PROTO_OK);
    }
    assert_int_equal(broker_store_mbox_put(store, S_R2, mids[3], PROTO_KIND_EXPIRED, "other", 5),
                     PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);

    s_reopen(&store, fx->data);
    s_mbox_seen_t seen;
    memset(&seen, 0, sizeof seen);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_int_equal(broker_store_mbox_scan(store, S_R1, s_mbox_fn, &seen), 3);
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof body, "body-%d", i);
        assert_int_equal(seen.mids[i], mids[i]);
        assert_int_equal(seen.kinds[i], PROTO_KIND_STATUS + i);
        assert_string_equal(seen.bodies[i], body);
    }
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 1;
    assert_int_equal(broker_store_mbox_scan(store, S_R1, s_mbox_fn, &seen), 1);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(broker_store_mbox_scan(store, S_R2, s_mbox_fn, &seen), 1);
    assert_int_equal(seen.mids[0], mids[3]);
    assert_string_equal(seen.bodies[0], "other");
    memset(&seen, 0, sizeof seen);
    assert_int_equal(broker_store_mbox_scan(store, "000.00.00.G01", s_mbox_fn, &seen), 0);
    broker_store_read_end(store);

    //  Delete one; unknown mids are fine; the counter survived the reopen.
    uint64_t next = 0;
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_mbox_del(store, S_R1, mids[1]), PROTO_OK);
    assert_int_equal(broker_store_mbox_del(store, S_R1, mids[1]), PROTO_OK);
    assert_int_equal(broker_store_mbox_del(store, S_R1, 999999), PROTO_OK);
    assert_int_equal(broker_store_mbox_del(store, S_R2, mids[0]), PROTO_OK); // R1's, not R2's
    assert_int_equal(broker_store_mid_next(store, &next), PROTO_OK);
    assert_true(next > mids[3]);
    assert_int_equal(broker_store_commit(store), PROTO_OK);

    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(broker_store_mbox_scan(store, S_R1, s_mbox_fn, &seen), 2);
    assert_int_equal(seen.mids[0], mids[0]);
    assert_int_equal(seen.mids[1], mids[2]);
    broker_store_read_end(store);
    broker_store_destroy(&store);
}

static void s_test_expiry(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data, S_MAP);
    //  Deadlines: doc 1 at S_T0+1+1000, doc 2 at S_T0+2+5000 (R1 only),
    //  doc 3 at S_T0+3+10000.
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(s_add(store, 1, 0, 1, s_to, 2, 1000), PROTO_OK);
    assert_int_equal(s_add(store, 2, 0, 2, s_to, 1, 5000), PROTO_OK);
    assert_int_equal(s_add(store, 3, 0, 3, s_to, 2, 10000), PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);

    s_seen_t seen;
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(broker_store_expiry_scan(store, S_T0 + 1000, 100, s_expiry_fn, &seen), 0);
    assert_int_equal(broker_store_expiry_scan(store, S_T0 + 1001, 100, s_expiry_fn, &seen), 2);
    s_assert_ids(&seen, (const uint8_t[]){ 1, 1 }, 2);
    assert_string_equal(seen.who[0], S_R1);
    assert_string_equal(seen.who[1], S_R2);

    memset(&seen, 0, sizeof seen);
    assert_int_equal(broker_store_expiry_scan(store, S_T0 + 5002, 100, s_expiry_fn, &seen), 3);
    s_assert_ids(&seen, (const uint8_t[]){ 1, 1, 2 }, 3);
    assert_string_equal(seen.who[2], S_R1);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(broker_store_expiry_scan(store, UINT64_MAX, 100, s_expiry_fn, &seen), 5);
    s_assert_ids(&seen, (const uint8_t[]){ 1, 1, 2, 3, 3 }, 5);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(broker_store_expiry_scan(store, UINT64_MAX, 2, s_expiry_fn, &seen), 2);
    broker_store_read_end(store);

    //  An expired delivery leaves the scan (and its queue).
    proto_id_t id1 = s_id(1);
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_dlv_set(store, S_R1, &id1, BROKER_DLV_EXPIRED, S_T0 + 1001),
                     PROTO_OK);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(broker_store_expiry_scan(store, S_T0 + 5002, 100, s_expiry_fn, &seen), 2);
    s_assert_ids(&seen, (const uint8_t[]){ 1, 2 }, 2);
    assert_string_equal(seen.who[0], S_R2);
    s_queue(store, S_R1, &seen);
    s_assert_ids(&seen, (const uint8_t[]){ 2, 3 }, 2);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
    broker_store_destroy(&store);
}

static void s_test_notices_flags_receipts(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data, S_MAP);
    proto_id_t nid = s_id(40), other = s_id(41), doc_id = s_id(1);
    broker_notice_t notice, got;
    memset(&notice, 0, sizeof notice);
    notice.doc = doc_id;
    snprintf(notice.from, sizeof notice.from, "%s", S_R1);
    snprintf(notice.to, sizeof notice.to, "%s", S_SENDER);
    notice.code = 16;
    memset(notice.hash, 0xab, sizeof notice.hash);
    static const char flag[] = "recall:000.05.01.H01:doc";
    //  A kept receipt: head, signature, index and a three-node path.
    uint8_t path[3][PROTO_HASH_LEN];
    memset(path, 0x3c, sizeof path);
    proto_head_t head = { .signer = "hub", .time = 1767225600123, .size = 6, .log = 41 };
    memset(head.root, 0x5e, sizeof head.root);
    uint8_t sig[PROTO_SIG_LEN];
    memset(sig, 0x51, sizeof sig);
    proto_item_t item = { .index = 5, .path = path, .npath = 3 };
    uint8_t long_key[100];
    memset(long_key, 'k', sizeof long_key);

    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_notice_put(store, &nid, &notice), PROTO_OK);
    assert_int_equal(broker_store_flag_get(store, flag, strlen(flag)), PROTO_ERR_NOT_FOUND);
    assert_int_equal(broker_store_flag_set(store, flag, strlen(flag)), PROTO_OK);
    assert_int_equal(broker_store_flag_set(store, long_key, sizeof long_key),
                     PROTO_ERR_INVALID_ARG);
    assert_int_equal(broker_store_receipt_put(store, &doc_id, &head, sig, &item), PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);

    s_reopen(&store, fx->data);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    memset(&got, 0x77, sizeof got);
    assert_int_equal(broker_store_notice_get(store, &nid, &got), PROTO_OK);
    assert_memory_equal(got.doc.bytes, doc_id.bytes, PROTO_ID_LEN);
    assert_string_equal(got.from, S_R1);
    assert_string_equal(got.to, S_SENDER);
    assert_int_equal(got.code, 16);
    assert_memory_equal(got.hash, notice.hash, PROTO_HASH_LEN);
    assert_int_equal(broker_store_notice_get(store, &other, &got), PROTO_ERR_UNKNOWN_DOC);

    assert_int_equal(broker_store_flag_get(store, flag, strlen(flag)), PROTO_OK);
    assert_int_equal(broker_store_flag_get(store, flag, strlen(flag) - 1), PROTO_ERR_NOT_FOUND);
    assert_int_equal(broker_store_flag_get(store, long_key, sizeof long_key),
                     PROTO_ERR_INVALID_ARG);

    broker_receipt_t kept;
    assert_int_equal(broker_store_receipt_get(store, &doc_id, &kept), PROTO_OK);
    assert_string_equal(kept.head.signer, "hub");
    assert_int_equal(kept.head.time, head.time);
    assert_int_equal(kept.head.size, 6);
    assert_int_equal(kept.head.log, 41); // signed with the rest: needed to verify it again
    assert_memory_equal(kept.head.root, head.root, PROTO_HASH_LEN);
    assert_memory_equal(kept.sig, sig, PROTO_SIG_LEN);
    assert_int_equal(kept.index, 5);
    assert_int_equal(kept.npath, 3);
    assert_memory_equal(kept.path, path, sizeof path);
    assert_int_equal(broker_store_receipt_get(store, &other, &kept), PROTO_ERR_NOT_FOUND);
    broker_store_read_end(store);
    broker_store_destroy(&store);
}

static void s_test_quota(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data, S_MAP);
    uint64_t docs = 99, bytes = 99;

    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_quota_get(store, S_SENDER, &docs, &bytes), PROTO_OK);
    assert_int_equal(docs, 0);
    assert_int_equal(bytes, 0);
    assert_int_equal(broker_store_quota_add(store, S_SENDER, 3, 3000), PROTO_OK);
    assert_int_equal(broker_store_quota_add(store, S_SENDER, -1, -400), PROTO_OK);
    assert_int_equal(broker_store_quota_add(store, S_R1, 1, 10), PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);

    s_reopen(&store, fx->data);
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_quota_get(store, S_SENDER, &docs, &bytes), PROTO_OK);
    assert_int_equal(docs, 2);
    assert_int_equal(bytes, 2600);
    //  Never below zero, whatever is subtracted.
    assert_int_equal(broker_store_quota_add(store, S_SENDER, -5, -10000), PROTO_OK);
    assert_int_equal(broker_store_quota_get(store, S_SENDER, &docs, &bytes), PROTO_OK);
    assert_int_equal(docs, 0);
    assert_int_equal(bytes, 0);
    //  Agencies are counted apart.
    assert_int_equal(broker_store_quota_get(store, S_R1, &docs, &bytes), PROTO_OK);
    assert_int_equal(docs, 1);
    assert_int_equal(bytes, 10);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
    broker_store_destroy(&store);
}

//  The most negative change there is must still floor at zero.
//
//  KNOWN BUG, fails under -fsanitize=undefined until broker/store.c is fixed
//  (reported, not fixed here): broker_store_quota_add computes
//  (uint64_t) -documents and (uint64_t) -bytes in int64_t, and negating
//  INT64_MIN is undefined behaviour (UBSan: "negation of
//  -9223372036854775808 cannot be represented"). Without the sanitizer it
//  happens to give the right answer. Correct: negate after the conversion,
//  0 - (uint64_t) documents. This test runs last so that the sanitizer's
//  abort cannot hide the results of the others.
static void s_test_quota_extreme(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data, S_MAP);
    uint64_t docs = 99, bytes = 99;
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(broker_store_quota_add(store, S_SENDER, 5, 5000), PROTO_OK);
    assert_int_equal(broker_store_quota_add(store, S_SENDER, INT64_MIN, INT64_MIN), PROTO_OK);
    assert_int_equal(broker_store_quota_get(store, S_SENDER, &docs, &bytes), PROTO_OK);
    assert_int_equal(docs, 0);
    assert_int_equal(bytes, 0);
    broker_store_abort(store);
    broker_store_destroy(&store);
}

// ---------------------------------------------------------------------------
//  Audit chain

#define S_AUDIT_N 6

typedef struct {
    broker_audit_entry_t entries[S_AUDIT_N + 2];
    char agency[S_AUDIT_N + 2][PROTO_LABEL_MAX + 1];
    char detail[S_AUDIT_N + 2][64];
    size_t n, stop_after;
} s_audit_seen_t;

static bool s_audit_fn(void *arg, const broker_audit_entry_t *entry)
{
    s_audit_seen_t *seen = arg;
    assert_true(seen->n < S_AUDIT_N + 2);
    //  Strings are valid during the call only: keep copies.
    seen->entries[seen->n] = *entry;
    snprintf(seen->agency[seen->n], sizeof seen->agency[0], "%s", entry->agency);
    snprintf(seen->detail[seen->n], sizeof seen->detail[0], "%s", entry->detail);
    seen->n++;
    return seen->stop_after == 0 || seen->n < seen->stop_after;
}

//  What entry i (1-based) of the test chain says.
static uint8_t s_audit_event(uint64_t i)
{
    return (uint8_t) (BROKER_AUDIT_CONNECTED + (i % 13));
}

static const char *s_audit_agency(uint64_t i)
{
    return i % 3 == 0 ? "" : i % 2 ? S_SENDER : S_R1;
}

static void s_audit_detail(uint64_t i, char *out, size_t len)
{
    snprintf(out, len, "entry %" PRIu64 " of the test chain", i);
}

//  A store in dir with a committed chain of S_AUDIT_N entries; entries with
//  an even number carry a document id. Returns the entries' hashes.
static void s_audit_build(const char *dir, uint8_t hashes[S_AUDIT_N][PROTO_HASH_LEN])
{
    broker_store_t *store = s_open(dir, S_MAP);
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    for (uint64_t i = 1; i <= S_AUDIT_N; i++) {
        proto_id_t id = s_id((uint8_t) i);
        char detail[64];
        uint64_t seq = 0;
        s_audit_detail(i, detail, sizeof detail);
        assert_int_equal(broker_store_audit_append(store, S_T0 + i, s_audit_event(i),
                                                   s_audit_agency(i), i % 2 == 0 ? &id : NULL,
                                                   detail, &seq),
                         PROTO_OK);
        assert_int_equal(seq, i);
    }
    assert_int_equal(broker_store_audit_length(store), S_AUDIT_N);
    assert_int_equal(broker_store_commit(store), PROTO_OK);

    s_audit_seen_t seen;
    memset(&seen, 0, sizeof seen);
    uint64_t bad = 0;
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_int_equal(broker_store_audit_walk(store, 1, s_audit_fn, &seen, &bad), PROTO_OK);
    broker_store_read_end(store);
    assert_int_equal(seen.n, S_AUDIT_N);
    for (size_t k = 0; k < S_AUDIT_N; k++)
        memcpy(hashes[k], seen.entries[k].hash, PROTO_HASH_LEN);
    broker_store_destroy(&store);
}

static void s_test_audit_chain(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data, S_MAP);
    uint64_t bad = 12345;

    //  An empty chain is intact.
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_int_equal(broker_store_audit_length(store), 0);
    assert_int_equal(broker_store_audit_walk(store, 1, NULL, NULL, &bad), PROTO_OK);
    broker_store_read_end(store);
    assert_int_equal(broker_store_audit_walk(store, 1, NULL, NULL, &bad), PROTO_ERR_INTERNAL);
    broker_store_destroy(&store);

    uint8_t hashes[S_AUDIT_N][PROTO_HASH_LEN];
    s_audit_build(fx->data, hashes);

    store = s_open(fx->data, S_MAP);
    s_audit_seen_t seen;
    memset(&seen, 0, sizeof seen);
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    assert_int_equal(broker_store_audit_length(store), S_AUDIT_N);
    assert_int_equal(broker_store_audit_walk(store, 1, s_audit_fn, &seen, &bad), PROTO_OK);
    assert_int_equal(seen.n, S_AUDIT_N);
    static const uint8_t zero[PROTO_HASH_LEN] = { 0 };
    for (size_t k = 0; k < S_AUDIT_N; k++) {
        const broker_audit_entry_t *e = &seen.entries[k];
        uint64_t i = k + 1;
        char detail[64];
        s_audit_detail(i, detail, sizeof detail);
        assert_int_equal(e->seq, i);
        assert_int_equal(e->time, S_T0 + i);
        assert_int_equal(e->event, s_audit_event(i));
        assert_string_equal(seen.agency[k], s_audit_agency(i));
        assert_string_equal(seen.detail[k], detail);
        assert_int_equal(e->has_id, i % 2 == 0);
        if (e->has_id) {
            proto_id_t id = s_id((uint8_t) i);
            assert_memory_equal(e->id.bytes, id.bytes, PROTO_ID_LEN);
        }
        //  The links: zeros first, then the previous entry's hash.
        assert_memory_equal(e->prev, k == 0 ? zero : seen.entries[k - 1].hash, PROTO_HASH_LEN);
        assert_memory_not_equal(e->hash, zero, PROTO_HASH_LEN);
    }
    //  From the middle: the chain is still checked from 1, fn sees 4..6.
    memset(&seen, 0, sizeof seen);
    assert_int_equal(broker_store_audit_walk(store, 4, s_audit_fn, &seen, &bad), PROTO_OK);
    assert_int_equal(seen.n, 3);
    assert_int_equal(seen.entries[0].seq, 4);
    //  fn can stop the walk; the verdict is still about the whole chain.
    memset(&seen, 0, sizeof seen);
    seen.stop_after = 2;
    assert_int_equal(broker_store_audit_walk(store, 1, s_audit_fn, &seen, &bad), PROTO_OK);
    assert_int_equal(seen.n, 2);
    broker_store_read_end(store);
    broker_store_destroy(&store);

    //  The hash of an entry is BLAKE2b-256 of exactly its stored bytes.
    char path[S_PATH_MAX];
    s_path(path, fx->data, "store");
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_open(env, path, MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "audit", 0, &dbi), 0);
    for (uint64_t i = 1; i <= S_AUDIT_N; i++) {
        uint8_t key[8], hash[PROTO_HASH_LEN];
        for (int b = 0; b < 8; b++)
            key[b] = (uint8_t) (i >> (56 - 8 * b));
        MDB_val k = { sizeof key, key }, v;
        assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
        crypto_generichash(hash, sizeof hash, v.mv_data, v.mv_size, NULL, 0);
        assert_memory_equal(hash, hashes[i - 1], PROTO_HASH_LEN);
    }
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

//  Open the store's environment in dir directly, let fn change the audit
//  db, commit. The store must be closed.
typedef void(s_tamper_fn)(MDB_txn *txn, MDB_dbi dbi, void *arg);

static void s_tamper(const char *dir, s_tamper_fn *fn, void *arg)
{
    char path[S_PATH_MAX];
    s_path(path, dir, "store");
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_set_mapsize(env, S_MAP), 0);
    assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "audit", 0, &dbi), 0);
    fn(txn, dbi, arg);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static MDB_val s_audit_key(uint64_t seq, uint8_t key[8])
{
    for (int b = 0; b < 8; b++)
        key[b] = (uint8_t) (seq >> (56 - 8 * b));
    MDB_val k = { 8, key };
    return k;
}

typedef struct {
    uint64_t seq;
    int how; // 0: change a byte of the detail text, 1: cut the last byte, 2: delete
} s_damage_t;

static void s_damage_fn(MDB_txn *txn, MDB_dbi dbi, void *arg)
{
    const s_damage_t *damage = arg;
    uint8_t key[8];
    MDB_val k = s_audit_key(damage->seq, key), v;
    if (damage->how == 2) {
        assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
        return;
    }
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    uint8_t *copy = malloc(v.mv_size);
    assert_non_null(copy);
    memcpy(copy, v.mv_data, v.mv_size);
    MDB_val changed = { v.mv_size, copy };
    if (damage->how == 0) {
        //  The detail is the last element and ends in "chain": the last
        //  byte is text, and 'n' -> 'N' keeps the entry well-formed.
        assert_int_equal(copy[v.mv_size - 1], 'n');
        copy[v.mv_size - 1] = 'N';
    } else {
        changed.mv_size--;
    }
    assert_int_equal(mdb_put(txn, dbi, &k, &changed, 0), 0);
    free(copy);
}

//  Build an intact chain in a new subdirectory, damage it, and return what
//  audit_walk says about it.
static proto_err_t s_walk_damaged(s_fx_t *fx, const char *name, uint64_t seq, int how,
                                  uint64_t *bad, size_t *visited)
{
    char dir[S_PATH_MAX];
    uint8_t hashes[S_AUDIT_N][PROTO_HASH_LEN];
    s_path(dir, fx->root, name);
    s_audit_build(dir, hashes);
    s_damage_t damage = { seq, how };
    s_tamper(dir, s_damage_fn, &damage);

    broker_store_t *store = s_open(dir, S_MAP);
    s_audit_seen_t seen;
    memset(&seen, 0, sizeof seen);
    *bad = 0;
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    proto_err_t rc = broker_store_audit_walk(store, 1, s_audit_fn, &seen, bad);
    broker_store_read_end(store);
    broker_store_destroy(&store);
    *visited = seen.n;
    return rc;
}

static void s_test_audit_tamper(void **state)
{
    s_fx_t *fx = *state;
    uint64_t bad;
    size_t visited;
    const uint64_t k = 3;

    //  A changed byte in entry k: entry k itself still decodes, its number
    //  is right and its prev matches entry k-1, so it passes (and is shown
    //  to fn). Its hash now differs from what entry k+1 recorded as prev,
    //  so the walk stops at k+1.
    assert_int_equal(s_walk_damaged(fx, "modified", k, 0, &bad, &visited), PROTO_ERR_BAD_PROOF);
    assert_int_equal(bad, k + 1);
    assert_int_equal(visited, k);

    //  A truncated entry k no longer decodes: the walk names k itself.
    assert_int_equal(s_walk_damaged(fx, "truncated", k, 1, &bad, &visited), PROTO_ERR_BAD_PROOF);
    assert_int_equal(bad, k);
    assert_int_equal(visited, k - 1);

    //  Entry k deleted: after k-1 comes k+1 where k was expected.
    assert_int_equal(s_walk_damaged(fx, "deleted", k, 2, &bad, &visited), PROTO_ERR_BAD_PROOF);
    assert_int_equal(bad, k);
    assert_int_equal(visited, k - 1);

    //  The first entry deleted: entry 2 comes where 1 was expected.
    assert_int_equal(s_walk_damaged(fx, "first", 1, 2, &bad, &visited), PROTO_ERR_BAD_PROOF);
    assert_int_equal(bad, 1);
    assert_int_equal(visited, 0);

    //  The last entry deleted: every remaining link is fine, but the
    //  stored length and head name an entry N that is gone.
    assert_int_equal(s_walk_damaged(fx, "last", S_AUDIT_N, 2, &bad, &visited), PROTO_ERR_BAD_PROOF);
    assert_int_equal(bad, S_AUDIT_N);
    assert_int_equal(visited, S_AUDIT_N - 1);

    //  The last entry changed: no later entry holds its hash, only the head
    //  does. The walk reports the position after the chain (N+1), as it
    //  reports k+1 for a change to entry k in the middle.
    assert_int_equal(s_walk_damaged(fx, "last-modified", S_AUDIT_N, 0, &bad, &visited),
                     PROTO_ERR_BAD_PROOF);
    assert_int_equal(bad, S_AUDIT_N + 1);
    assert_int_equal(visited, S_AUDIT_N);
}

// ---------------------------------------------------------------------------
//  Backup

typedef struct {
    broker_store_t *store;
    char dir[S_PATH_MAX];
    char err[256];
    proto_err_t rc;
} s_backup_t;

static void *s_backup_thread(void *arg)
{
    s_backup_t *job = arg;
    broker_backup_info_t info;
    job->rc = broker_backup_write(job->store, job->dir, &info, job->err, sizeof job->err);
    return NULL;
}

static void s_backup_in_thread(s_backup_t *job)
{
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, s_backup_thread, job), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
}

static void s_backup_ok(s_backup_t *job)
{
    s_backup_in_thread(job);
    if (job->rc != PROTO_OK) {
        print_error("backup to %s: %s\n", job->dir, job->err);
        fail();
    }
}

typedef struct {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
} s_raw_t;

static void s_raw_open(s_raw_t *raw, const char *path, const char *db)
{
    assert_int_equal(mdb_env_create(&raw->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(raw->env, 16), 0);
    assert_int_equal(mdb_env_open(raw->env, path, MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(raw->env, NULL, MDB_RDONLY, &raw->txn), 0);
    assert_int_equal(mdb_dbi_open(raw->txn, db, 0, &raw->dbi), 0);
}

static void s_raw_close(s_raw_t *raw)
{
    mdb_txn_abort(raw->txn);
    mdb_env_close(raw->env);
}

//  Compare one named db of two environments entry by entry, leaving out
//  the entry of document `skip` (if not NULL) in the first; returns the
//  number of entries compared.
static size_t s_same_db(const char *a_path, const char *b_path, const char *db,
                        const proto_id_t *skip)
{
    s_raw_t a, b;
    MDB_cursor *ca, *cb;
    s_raw_open(&a, a_path, db);
    s_raw_open(&b, b_path, db);
    assert_int_equal(mdb_cursor_open(a.txn, a.dbi, &ca), 0);
    assert_int_equal(mdb_cursor_open(b.txn, b.dbi, &cb), 0);
    MDB_val ka, va, kb, vb;
    size_t n = 0;
    int ra = mdb_cursor_get(ca, &ka, &va, MDB_FIRST), rb = mdb_cursor_get(cb, &kb, &vb, MDB_FIRST);
    for (;;) {
        if (ra == 0 && skip && ka.mv_size == PROTO_ID_LEN &&
            memcmp(ka.mv_data, skip->bytes, PROTO_ID_LEN) == 0) {
            ra = mdb_cursor_get(ca, &ka, &va, MDB_NEXT);
            continue;
        }
        if (ra != 0 || rb != 0)
            break;
        assert_int_equal(ka.mv_size, kb.mv_size);
        assert_memory_equal(ka.mv_data, kb.mv_data, ka.mv_size);
        assert_int_equal(va.mv_size, vb.mv_size);
        if (va.mv_size)
            assert_memory_equal(va.mv_data, vb.mv_data, va.mv_size);
        n++;
        ra = mdb_cursor_get(ca, &ka, &va, MDB_NEXT);
        rb = mdb_cursor_get(cb, &kb, &vb, MDB_NEXT);
    }
    assert_int_equal(ra, MDB_NOTFOUND);
    assert_int_equal(rb, MDB_NOTFOUND);
    mdb_cursor_close(ca);
    mdb_cursor_close(cb);
    s_raw_close(&a);
    s_raw_close(&b);
    return n;
}

static void s_test_backup(void **state)
{
    s_fx_t *fx = *state;
    broker_store_t *store = s_open(fx->data, S_MAP);
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    for (uint8_t n = 1; n <= 5; n++)
        assert_int_equal(s_add(store, n, n % 4, n, s_to, 2, 60000), PROTO_OK);
    assert_int_equal(
        broker_store_audit_append(store, S_T0, BROKER_AUDIT_ADMIN, "", NULL, "backup", NULL),
        PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);

    //  A copy taken from another thread while the loop holds a read
    //  transaction.
    s_backup_t job = { .store = store };
    s_path(job.dir, fx->root, "backup-1");
    assert_int_equal(broker_store_read_begin(store), PROTO_OK);
    s_backup_ok(&job);
    s_check_doc(store, 1, 1, 1, 2, 2);
    broker_store_read_end(store);

    //  A copy taken while a write transaction holds an uncommitted document:
    //  the copy has what was committed, not the open batch.
    s_backup_t job2 = { .store = store };
    s_path(job2.dir, fx->root, "backup-2");
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    assert_int_equal(s_add(store, 6, 0, 6, s_to, 2, 60000), PROTO_OK);
    s_backup_ok(&job2);
    assert_int_equal(broker_store_commit(store), PROTO_OK);

    //  A directory that holds a copy already is refused.
    s_backup_t job3 = { .store = store };
    s_path(job3.dir, fx->root, "backup-1");
    s_backup_in_thread(&job3);
    assert_int_equal(job3.rc, PROTO_ERR_EXISTS);
    assert_true(job3.err[0] != '\0');
    broker_store_destroy(&store);

    //  With the store closed, LMDB itself opens the copies: the docs db has
    //  the same entries as the live one, byte for byte (document 6 came
    //  after both copies).
    char live[S_PATH_MAX];
    proto_id_t id6 = s_id(6);
    s_path(live, fx->data, "store");
    assert_int_equal(s_same_db(live, job.dir, "docs", &id6), 5);
    assert_int_equal(s_same_db(live, job.dir, "frames", &id6), 5);
    assert_int_equal(s_same_db(live, job2.dir, "docs", &id6), 5);
    assert_int_equal(s_same_db(job.dir, job2.dir, "dlv", NULL), 10);
    assert_int_equal(s_same_db(job.dir, job2.dir, "queue", NULL), 10);
    assert_int_equal(s_same_db(job.dir, job2.dir, "audit", NULL), 1);
    s_raw_t raw;
    s_raw_open(&raw, job2.dir, "docs");
    MDB_val k = { PROTO_ID_LEN, id6.bytes }, v;
    assert_int_equal(mdb_get(raw.txn, raw.dbi, &k, &v), MDB_NOTFOUND);
    s_raw_close(&raw);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(s_test_open_lock, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_txn_rules, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_durable_reopen, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_queue_retire_purge, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_abort, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_nested, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_map_full, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_mailbox, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_expiry, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_notices_flags_receipts, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_quota, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_audit_chain, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_audit_tamper, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_backup, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_quota_extreme, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("broker_store", tests, NULL, NULL);
}
