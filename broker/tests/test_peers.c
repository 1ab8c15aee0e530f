/*  broker/tests/test_peers.c - the peer table and the in-flight index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "peers.h"

static proto_id_t s_id(uint32_t n)
{
    proto_id_t id;
    memset(&id, 0, sizeof id);
    memcpy(id.bytes, &n, sizeof n);
    //  Collide on purpose in the half the hash reads, so probing is used.
    id.bytes[8] = (uint8_t) (n % 3);
    return id;
}

static void s_test_table(void **state)
{
    (void) state;
    broker_peers_t *peers = broker_peers_new();
    assert_non_null(peers);
    uint8_t key[PROTO_KEY_LEN] = { 7 };
    broker_peer_t *a = broker_peers_add(peers, "rid-a", 5, "000.00.01.H01", key);
    broker_peer_t *b = broker_peers_add(peers, "rid-b", 5, "000.00.02.H01", NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->sign_pk[0], 7);
    assert_int_equal(broker_peers_count(peers), 2);
    assert_ptr_equal(broker_peers_find(peers, "rid-b", 5), b);
    assert_null(broker_peers_find(peers, "rid-c", 5));
    //  Only a READY session is the agency's.
    assert_null(broker_peers_of_agency(peers, "000.00.01.H01"));
    a->state = BROKER_PEER_READY;
    assert_ptr_equal(broker_peers_of_agency(peers, "000.00.01.H01"), a);
    broker_peers_mark_dirty(peers, "000.00.01.H01");
    assert_true(a->dirty);
    //  A dead peer is still found by routing id until reaped.
    a->dead = true;
    assert_null(broker_peers_of_agency(peers, "000.00.01.H01"));
    assert_ptr_equal(broker_peers_find(peers, "rid-a", 5), a);
    broker_peers_reap(peers);
    assert_int_equal(broker_peers_count(peers), 1);
    assert_null(broker_peers_find(peers, "rid-a", 5));
    assert_ptr_equal(broker_peers_at(peers, 0), b);
    broker_peers_trim(peers);
    broker_peers_destroy(&peers);
    assert_null(peers);
    broker_peers_destroy(&peers); // harmless on NULL
}

static void s_test_flight(void **state)
{
    (void) state;
    broker_peers_t *peers = broker_peers_new();
    broker_peer_t *p = broker_peers_add(peers, "r", 1, "000.00.01.H01", NULL);
    assert_non_null(p);
    const uint32_t window = 1000;
    assert_int_equal(broker_flight_reserve(p, window), window);
    assert_true(p->nslots >= 2 * window);
    //  Documents and mailbox messages, interleaved.
    for (uint32_t i = 0; i < window; i++) {
        proto_id_t id = s_id(i);
        if (i % 2)
            broker_flight_add(p, true, i, NULL);
        else
            broker_flight_add(p, false, 0, &id);
    }
    assert_int_equal(p->nflight, window);
    for (uint32_t i = 0; i < window; i++) {
        proto_id_t id = s_id(i);
        assert_true(i % 2 ? broker_flight_has(p, true, i, NULL)
                          : broker_flight_has(p, false, 0, &id));
    }
    proto_id_t absent = s_id(window + 1);
    assert_false(broker_flight_has(p, false, 0, &absent));
    assert_false(broker_flight_has(p, true, window + 1, NULL));
    //  Remove every third entry; the rest stay reachable (no tombstones).
    uint32_t removed = 0;
    for (uint32_t i = 0; i < window; i += 3, removed++) {
        proto_id_t id = s_id(i);
        p->dirty = false;
        if (i % 2)
            broker_flight_remove(p, true, i, NULL);
        else
            broker_flight_remove(p, false, 0, &id);
        assert_true(p->dirty);
    }
    assert_int_equal(p->nflight, window - removed);
    for (uint32_t i = 0; i < window; i++) {
        proto_id_t id = s_id(i);
        bool has =
            i % 2 ? broker_flight_has(p, true, i, NULL) : broker_flight_has(p, false, 0, &id);
        assert_int_equal(has, i % 3 != 0);
    }
    //  Removing what is not in flight changes nothing.
    broker_flight_remove(p, false, 0, &absent);
    assert_int_equal(p->nflight, window - removed);
    //  Growing keeps what is in flight.
    assert_int_equal(broker_flight_reserve(p, 4 * window), 4 * window);
    for (uint32_t i = 1; i < window; i += 3) {
        proto_id_t id = s_id(i);
        assert_true(i % 2 ? broker_flight_has(p, true, i, NULL)
                          : broker_flight_has(p, false, 0, &id));
    }
    //  A smaller window never shrinks the arrays.
    assert_int_equal(broker_flight_reserve(p, 4), 4);
    broker_flight_clear(p);
    assert_int_equal(p->nflight, 0);
    assert_false(broker_flight_has(p, true, 1, NULL));
    broker_peers_destroy(&peers);
}

//  Answers owed: kept in order, counted per peer and in all, bounded, and
//  freed with the peer (LeakSanitizer checks that under ASan).
static void s_test_owed(void **state)
{
    (void) state;
    broker_peers_t *peers = broker_peers_new();
    broker_peer_t *a = broker_peers_add(peers, "rid-a", 5, "000.00.01.H01", NULL);
    broker_peer_t *b = broker_peers_add(peers, "rid-b", 5, "000.00.02.H01", NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(broker_owed_total(peers), 0);
    assert_true(broker_owed_push(peers, a, PROTO_KIND_ACCEPTED, "one", 3));
    assert_true(broker_owed_push(peers, a, PROTO_KIND_REJECTED, "second", 6));
    assert_true(broker_owed_push(peers, b, PROTO_KIND_ACCEPTED, "b", 1));
    assert_int_equal(a->owed_bytes, 9);
    assert_int_equal(broker_owed_total(peers), 10);
    assert_int_equal(a->owed->kind, PROTO_KIND_ACCEPTED);
    assert_memory_equal(a->owed->body, "one", 3);
    broker_owed_pop(peers, a);
    assert_int_equal(a->owed->kind, PROTO_KIND_REJECTED);
    assert_memory_equal(a->owed->body, "second", 6);
    assert_ptr_equal(a->owed, a->owed_tail);
    broker_owed_pop(peers, a);
    assert_null(a->owed);
    assert_null(a->owed_tail);
    broker_owed_pop(peers, a); // nothing owed: harmless
    assert_int_equal(broker_owed_total(peers), 1);
    //  A peer's limit: what would pass it is refused, the rest kept.
    static uint8_t big[BROKER_OWED_PEER_MAX];
    assert_true(broker_owed_push(peers, a, PROTO_KIND_ACCEPTED, big, sizeof big - 1));
    assert_false(broker_owed_push(peers, a, PROTO_KIND_ACCEPTED, big, 2));
    assert_true(broker_owed_push(peers, a, PROTO_KIND_ACCEPTED, big, 1));
    assert_int_equal(a->owed_bytes, BROKER_OWED_PEER_MAX);
    //  A reaped peer's answers are freed and no longer counted.
    a->dead = true;
    broker_peers_reap(peers);
    assert_int_equal(broker_owed_total(peers), 1);
    broker_peers_destroy(&peers); // b still owes one
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s_test_table),
        cmocka_unit_test(s_test_flight),
        cmocka_unit_test(s_test_owed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
