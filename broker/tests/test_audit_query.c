/*  test_audit_query.c - pages of the audit chain (broker/audit_query.h) on
    a real LMDB store.

    A chain of 1,500 entries with a `restored` entry numbered above a gap
    of 10,000, longer than the first windows the backward walk reads, so
    that pages cross windows and the gap. Every page is checked against
    what a full walk of the chain (broker_store_audit_walk) says it must
    hold; then an entry is damaged on disk and the pages that read it name
    it. The store lives in a fresh mkdtemp directory, removed afterwards.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>
#include <sodium.h>
#include <unistd.h>

#include "audit_query.h"
#include "store.h"

#define S_T0      1767225600000ull // 2026-01-01T00:00:00Z in ms
#define S_N       1500             // entries appended before and after the restore
#define S_GAP     10000            // numbers the `restored` entry skips
#define S_MAP     (64ull << 20)
#define S_AGENCY  "000.00.01.H01"
#define S_OTHER   "000.05.01.H01"
#define S_ENTRIES (S_N + 1)

typedef struct {
    char root[256];
    broker_store_t *store;
    uint64_t seq[S_ENTRIES]; // every entry's number, in order
    uint8_t event[S_ENTRIES];
    bool mine[S_ENTRIES]; // agency S_AGENCY
    uint64_t time[S_ENTRIES];
    size_t n;
} s_fx_t;

static bool s_record(void *arg, const broker_audit_entry_t *e)
{
    s_fx_t *fx = arg;
    assert_true(fx->n < S_ENTRIES);
    fx->seq[fx->n] = e->seq;
    fx->event[fx->n] = e->event;
    fx->mine[fx->n] = strcmp(e->agency, S_AGENCY) == 0;
    fx->time[fx->n] = e->time;
    fx->n++;
    return true;
}

static int s_setup(void **state)
{
    s_fx_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->root, sizeof fx->root, "%s/truc-aq-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(fx->root));
    char err[256] = "";
    fx->store = broker_store_open(fx->root, S_MAP, err, sizeof err);
    assert_non_null(fx->store);
    assert_int_equal(broker_store_begin(fx->store), PROTO_OK);
    for (uint64_t i = 1; i <= S_N; i++) {
        if (i == S_N / 2 + 1) {
            uint64_t seq = 0;
            assert_int_equal(
                broker_store_audit_restored(fx->store, S_T0 + i, S_N / 2 + S_GAP, "restored", &seq),
                PROTO_OK);
        }
        //  Every seventh entry is about S_AGENCY, every 97th a `denied`.
        broker_audit_event_t event = i % 97 == 0 ? BROKER_AUDIT_DENIED : BROKER_AUDIT_CONNECTED;
        assert_int_equal(broker_store_audit_append(fx->store, S_T0 + i * 1000, event,
                                                   i % 7 == 0 ? S_AGENCY : S_OTHER, NULL, "", NULL),
                         PROTO_OK);
    }
    assert_int_equal(broker_store_commit(fx->store), PROTO_OK);
    uint64_t bad = 0;
    assert_int_equal(broker_store_read_begin(fx->store), PROTO_OK);
    assert_int_equal(broker_store_audit_walk(fx->store, 1, s_record, fx, &bad), PROTO_OK);
    broker_store_read_end(fx->store);
    assert_int_equal(fx->n, S_ENTRIES);
    assert_true(fx->seq[S_ENTRIES - 1] > S_GAP);
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    s_fx_t *fx = *state;
    broker_store_destroy(&fx->store);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->root);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

static bool s_wanted(const s_fx_t *fx, const broker_audit_query_t *q, size_t i)
{
    return (!q->agency[0] || fx->mine[i]) && (q->event < 0 || fx->event[i] == q->event) &&
           (!q->since || fx->time[i] >= q->since) && (!q->until || fx->time[i] < q->until);
}

//  The page q asks for must be exactly what the full walk says.
static void s_check_page(s_fx_t *fx, broker_audit_query_t *q)
{
    char err[256] = "";
    assert_int_equal(broker_audit_query_check(q, err, sizeof err), PROTO_OK);
    size_t want[BROKER_AUDIT_PAGE_MAX], nwant = 0;
    if (q->has_after) {
        for (size_t i = 0; i < fx->n && nwant < q->limit; i++)
            if (fx->seq[i] > q->after && s_wanted(fx, q, i))
                want[nwant++] = i;
    } else {
        for (size_t i = fx->n; i-- > 0 && nwant < q->limit;)
            if ((!q->before || fx->seq[i] < q->before) && s_wanted(fx, q, i))
                want[nwant++] = i;
        for (size_t k = 0; k < nwant / 2; k++) {
            size_t t = want[k];
            want[k] = want[nwant - 1 - k];
            want[nwant - 1 - k] = t;
        }
    }
    broker_audit_page_t *page = NULL;
    uint64_t bad = 0;
    assert_int_equal(broker_store_read_begin(fx->store), PROTO_OK);
    assert_int_equal(broker_audit_page_new(fx->store, q, &page, &bad), PROTO_OK);
    broker_store_read_end(fx->store);
    assert_int_equal(broker_audit_page_count(page), nwant);
    for (size_t k = 0; k < nwant; k++)
        assert_int_equal(broker_audit_page_entry(page, k)->seq, fx->seq[want[k]]);
    broker_audit_page_destroy(&page);
    assert_null(page);
}

static void s_test_pages(void **state)
{
    s_fx_t *fx = *state;
    broker_audit_query_t q;
    //  The default, and long pages across windows and the gap.
    broker_audit_query_init(&q);
    s_check_page(fx, &q);
    size_t limits[] = { 1, 13, 300, 1000 };
    for (size_t l = 0; l < 4; l++) {
        broker_audit_query_init(&q);
        q.limit = limits[l];
        s_check_page(fx, &q);
        q.before = fx->seq[S_N / 2 + 3]; // just above the gap
        s_check_page(fx, &q);
        broker_audit_query_init(&q);
        q.limit = limits[l];
        q.has_after = true;
        q.after = fx->seq[S_N / 2 - 5]; // just below it
        s_check_page(fx, &q);
    }
    //  A `before` far above the chain is its end.
    broker_audit_query_init(&q);
    q.before = UINT64_MAX;
    s_check_page(fx, &q);
    //  Filters that match little: the walk goes down many windows.
    char err[256];
    broker_audit_query_init(&q);
    assert_int_equal(broker_audit_query_set(&q, "event=denied", err, sizeof err), PROTO_OK);
    assert_int_equal(broker_audit_query_set(&q, "limit=7", err, sizeof err), PROTO_OK);
    s_check_page(fx, &q);
    broker_audit_query_init(&q);
    assert_int_equal(broker_audit_query_set(&q, "agency=" S_AGENCY, err, sizeof err), PROTO_OK);
    q.since = S_T0 + 200 * 1000;
    q.until = S_T0 + 1200 * 1000;
    s_check_page(fx, &q);
    q.limit = 1000;
    s_check_page(fx, &q);
    //  Wrong filters.
    broker_audit_query_init(&q);
    assert_int_equal(broker_audit_query_set(&q, "event=nope", err, sizeof err), PROTO_ERR_VALUE);
    assert_non_null(strstr(err, "denied"));
    assert_int_equal(broker_audit_query_set(&q, "limit=1001", err, sizeof err), PROTO_ERR_VALUE);
    assert_int_equal(broker_audit_query_set(&q, "colour=red", err, sizeof err), PROTO_ERR_VALUE);
    assert_int_equal(broker_audit_query_set(&q, "after=x", err, sizeof err), PROTO_ERR_VALUE);
    q.has_after = true;
    q.before = 5;
    assert_int_equal(broker_audit_query_check(&q, err, sizeof err), PROTO_ERR_VALUE);
}

//  Damage one entry's stored bytes (with LMDB, the store closed): a page
//  that reads it answers PROTO_ERR_BAD_PROOF naming the entry after it (its
//  link no longer holds); a page above it does not read it.
static void s_test_damage(void **state)
{
    s_fx_t *fx = *state;
    uint64_t target = fx->seq[200];
    broker_store_destroy(&fx->store);
    char path[300];
    snprintf(path, sizeof path, "%s/store", fx->root);
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 16), 0);
    assert_int_equal(mdb_env_set_mapsize(env, S_MAP), 0);
    assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "audit", 0, &dbi), 0);
    uint8_t key[8], copy[1024];
    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t) (target >> (56 - 8 * i));
    MDB_val k = { sizeof key, key }, v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    assert_true(v.mv_size <= sizeof copy);
    memcpy(copy, v.mv_data, v.mv_size);
    //  The agency's last character: the entry still decodes, its hash
    //  changes, so the next entry no longer links to it.
    size_t at = 0, len = strlen(S_OTHER); // S_AGENCY is as long
    while (at + len <= v.mv_size && memcmp(copy + at, S_OTHER, len) != 0 &&
           memcmp(copy + at, S_AGENCY, len) != 0)
        at++;
    assert_true(at + len <= v.mv_size);
    copy[at + len - 1] ^= 0x01;
    MDB_val nv = { v.mv_size, copy };
    assert_int_equal(mdb_put(txn, dbi, &k, &nv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    char err[256] = "";
    fx->store = broker_store_open(fx->root, S_MAP, err, sizeof err);
    assert_non_null(fx->store);

    broker_audit_query_t q;
    broker_audit_page_t *page = NULL;
    uint64_t bad = 0;
    assert_int_equal(broker_store_read_begin(fx->store), PROTO_OK);
    broker_audit_query_init(&q);
    q.limit = 1000; // down across the damage, in more than one window
    assert_int_equal(broker_audit_query_check(&q, err, sizeof err), PROTO_OK);
    assert_int_equal(broker_audit_page_new(fx->store, &q, &page, &bad), PROTO_ERR_BAD_PROOF);
    assert_null(page);
    assert_int_equal(bad, target + 1);
    broker_audit_query_init(&q);
    q.has_after = true;
    q.after = 0;
    q.limit = 1000; // from the start up across the damage
    assert_int_equal(broker_audit_query_check(&q, err, sizeof err), PROTO_OK);
    assert_int_equal(broker_audit_page_new(fx->store, &q, &page, &bad), PROTO_ERR_BAD_PROOF);
    assert_int_equal(bad, target + 1);
    broker_audit_query_init(&q); // the last 50: far above the damage
    assert_int_equal(broker_audit_query_check(&q, err, sizeof err), PROTO_OK);
    assert_int_equal(broker_audit_page_new(fx->store, &q, &page, &bad), PROTO_OK);
    assert_int_equal(broker_audit_page_count(page), 50);
    broker_audit_page_destroy(&page);
    broker_store_read_end(fx->store);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(s_test_pages, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(s_test_damage, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("broker_audit_query", tests, NULL, NULL);
}
