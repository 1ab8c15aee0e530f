/*  test_anchor.c - the broker's anchor file and the guarded opening of its
    store (broker/anchor.h), and the audit chain's one allowed gap.

    Real LMDB files in a fresh mkdtemp directory per test. Checks that the
    anchor follows durable commits, that a torn write of either slot never
    makes a good store refused (the other slot still names a state the
    store has reached), that a damaged anchor, a store behind its anchor
    and another chain are refused with their codes, and that audit_walk
    accepts the gap before a `restored` entry (test_store checks that any
    other change to the chain is found).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anchor.h"
#include "store.h"

#define S_MAP (64ull << 20)
#define S_T0  1767225600000ull

typedef struct {
    char root[256];
    char anchor[300];
} s_fx_t;

static int s_setup(void **state)
{
    s_fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->root, sizeof fx->root, "/tmp/truc-anchor-XXXXXX");
    assert_non_null(mkdtemp(fx->root));
    snprintf(fx->anchor, sizeof fx->anchor, "%s/anchor", fx->root);
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    s_fx_t *fx = *state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->root);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

static broker_store_t *s_open(s_fx_t *fx, broker_anchor_t **anchor, proto_err_t want)
{
    char err[1024] = "";
    proto_err_t why = PROTO_OK;
    broker_store_t *store =
        broker_anchor_open_store(fx->root, S_MAP, anchor, &why, err, sizeof err);
    if (why != want)
        print_error("open: %s (%s)\n", proto_errname(why), err);
    assert_int_equal(why, want);
    assert_true(want ? store == NULL && err[0] : store != NULL);
    return store;
}

static void s_append(broker_store_t *store, int n)
{
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    for (int i = 0; i < n; i++)
        assert_int_equal(
            broker_store_audit_append(store, S_T0, BROKER_AUDIT_ADMIN, "", NULL, "test", NULL),
            PROTO_OK);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
}

static void s_close(broker_store_t **store, broker_anchor_t **anchor)
{
    broker_store_destroy(store);
    broker_anchor_destroy(anchor);
}

//  Spoil the slot holding generation gen: what a torn write leaves.
static void s_tear(s_fx_t *fx, uint64_t gen)
{
    int fd = open(fx->anchor, O_WRONLY);
    uint8_t junk[64];
    randombytes_buf(junk, sizeof junk);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, junk, sizeof junk, (off_t) (gen % 2) * 512 + 20), sizeof junk);
    close(fd);
}

static void s_test_follows_commits(void **state)
{
    s_fx_t *fx = *state;
    broker_anchor_t *anchor = NULL;
    broker_store_t *store = s_open(fx, &anchor, PROTO_OK);
    broker_anchor_rec_t rec;
    char err[256];
    assert_int_equal(broker_anchor_read(fx->root, &rec, err, sizeof err), PROTO_OK);
    assert_int_equal(rec.length, 0);
    s_append(store, 3);
    s_append(store, 2);
    uint64_t length;
    uint8_t head[PROTO_HASH_LEN];
    assert_int_equal(broker_store_audit_head(store, &length, head), PROTO_OK);
    assert_int_equal(broker_anchor_read(fx->root, &rec, err, sizeof err), PROTO_OK);
    assert_int_equal(rec.length, 5);
    assert_int_equal(length, 5);
    assert_memory_equal(rec.head, head, PROTO_HASH_LEN);
    struct stat st;
    assert_int_equal(stat(fx->anchor, &st), 0);
    assert_int_equal(st.st_size, 1024);
    assert_int_equal(st.st_mode & 07777, 0600);
    s_close(&store, &anchor);
    //  It reopens, and goes on; the file is updated in place (no new file,
    //  so a restart on a full disk still works).
    store = s_open(fx, &anchor, PROTO_OK);
    s_append(store, 1);
    s_close(&store, &anchor);
    struct stat again;
    assert_int_equal(stat(fx->anchor, &again), 0);
    assert_int_equal(again.st_ino, st.st_ino);
    assert_int_equal(broker_anchor_read(fx->root, &rec, err, sizeof err), PROTO_OK);
    assert_int_equal(rec.length, 6);
}

static void s_test_torn_write(void **state)
{
    s_fx_t *fx = *state;
    broker_anchor_t *anchor = NULL;
    broker_store_t *store = s_open(fx, &anchor, PROTO_OK);
    s_append(store, 4);
    s_append(store, 4);
    s_close(&store, &anchor);
    broker_anchor_rec_t rec;
    char err[256];
    assert_int_equal(broker_anchor_read(fx->root, &rec, err, sizeof err), PROTO_OK);
    assert_int_equal(rec.length, 8);
    //  The newest slot torn: the older one names entry 4, which the store
    //  has: it opens.
    s_tear(fx, rec.generation);
    broker_anchor_rec_t older;
    assert_int_equal(broker_anchor_read(fx->root, &older, err, sizeof err), PROTO_OK);
    assert_int_equal(older.generation, rec.generation - 1);
    assert_int_equal(older.length, 4);
    store = s_open(fx, &anchor, PROTO_OK);
    s_close(&store, &anchor);
    //  The older slot torn instead: the newest still counts.
    assert_int_equal(broker_anchor_read(fx->root, &rec, err, sizeof err), PROTO_OK);
    s_tear(fx, rec.generation - 1);
    store = s_open(fx, &anchor, PROTO_OK);
    s_close(&store, &anchor);
    //  Both spoilt is not a torn write: refused, with its own code.
    assert_int_equal(broker_anchor_read(fx->root, &rec, err, sizeof err), PROTO_OK);
    s_tear(fx, rec.generation);
    s_tear(fx, rec.generation - 1);
    assert_int_equal(broker_anchor_read(fx->root, &rec, err, sizeof err), PROTO_ERR_STORE_DAMAGED);
    s_open(fx, &anchor, PROTO_ERR_STORE_DAMAGED);
}

static void s_test_behind(void **state)
{
    s_fx_t *fx = *state;
    broker_anchor_t *anchor = NULL;
    broker_store_t *store = s_open(fx, &anchor, PROTO_OK);
    s_append(store, 3);
    s_close(&store, &anchor);
    broker_anchor_rec_t rec, good;
    char err[256];
    assert_int_equal(broker_anchor_read(fx->root, &good, err, sizeof err), PROTO_OK);
    //  An anchor ahead of the store: the store is behind.
    rec = good;
    rec.generation++;
    rec.length = 10;
    assert_int_equal(broker_anchor_write_new(fx->root, &rec, err, sizeof err), PROTO_OK);
    s_open(fx, &anchor, PROTO_ERR_STORE_BEHIND);
    //  The same length, another head: another chain.
    rec = good;
    rec.generation++;
    rec.head[0] ^= 1;
    assert_int_equal(broker_anchor_write_new(fx->root, &rec, err, sizeof err), PROTO_OK);
    s_open(fx, &anchor, PROTO_ERR_STORE_BEHIND);
    //  An anchor at entry 2 of this chain: the store is ahead, which is fine.
    rec = good;
    rec.generation++;
    rec.length = 2;
    broker_store_t *plain = broker_store_open(fx->root, S_MAP, err, sizeof err);
    assert_non_null(plain);
    assert_int_equal(broker_store_audit_hash(plain, 2, rec.head), PROTO_OK);
    broker_store_destroy(&plain);
    assert_int_equal(broker_anchor_write_new(fx->root, &rec, err, sizeof err), PROTO_OK);
    store = s_open(fx, &anchor, PROTO_OK);
    s_close(&store, &anchor);
}

typedef struct {
    uint64_t seqs[16];
    size_t n;
} s_seen_t;

static bool s_seen(void *arg, const broker_audit_entry_t *entry)
{
    s_seen_t *seen = arg;
    if (seen->n < 16)
        seen->seqs[seen->n++] = entry->seq;
    return true;
}

static void s_test_restored_gap(void **state)
{
    s_fx_t *fx = *state;
    char err[256];
    broker_store_t *store = broker_store_open(fx->root, S_MAP, err, sizeof err);
    assert_non_null(store);
    assert_int_equal(broker_store_begin(store), PROTO_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            broker_store_audit_append(store, S_T0, BROKER_AUDIT_ADMIN, "", NULL, "before", NULL),
            PROTO_OK);
    uint64_t seq = 0;
    assert_int_equal(broker_store_audit_restored(store, S_T0, 10, "restored", &seq), PROTO_OK);
    assert_int_equal(seq, 11);
    assert_int_equal(
        broker_store_audit_append(store, S_T0, BROKER_AUDIT_ADMIN, "", NULL, "after", &seq),
        PROTO_OK);
    assert_int_equal(seq, 12);
    //  Below the chain's own length it simply follows on.
    uint64_t next = 0;
    assert_int_equal(broker_store_audit_restored(store, S_T0, 2, "again", &next), PROTO_OK);
    assert_int_equal(next, 13);
    s_seen_t seen = { .n = 0 };
    uint64_t bad = 0;
    assert_int_equal(broker_store_audit_walk(store, 1, s_seen, &seen, &bad), PROTO_OK);
    assert_int_equal(seen.n, 6);
    assert_int_equal(seen.seqs[3], 11);
    assert_int_equal(broker_store_audit_length(store), 13);
    assert_int_equal(broker_store_commit(store), PROTO_OK);
    broker_store_destroy(&store);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(s_test_follows_commits, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_torn_write, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_behind, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_restored_gap, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("broker anchor", tests, NULL, NULL);
}
