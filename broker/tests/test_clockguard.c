/*  broker/tests/test_clockguard.c - the wall clock against the monotonic one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "clockguard.h"

#define S_MIN  60000ull
#define S_DAY  (24 * 60 * S_MIN)
#define S_WALL 1796190000000ull // 2026-12-02

static void s_test_jump_and_confirm(void **state)
{
    (void) state;
    broker_clock_t *c = broker_clock_new(10 * S_MIN, S_WALL, 5000, 0);
    assert_non_null(c);
    int64_t jump = 0;
    //  In step, with drift under the bound; a commit moves the anchor.
    assert_int_equal(broker_clock_check(c, S_WALL + 1000 + 300, 6000, &jump), BROKER_CLOCK_OK);
    assert_int_equal(jump, 300);
    broker_clock_committed(c, S_WALL + 1300, 6000);
    assert_int_equal(broker_clock_jump(c, S_WALL + 2300, 7000), 0);
    //  400 days ahead: held, and a commit while held does not hide it.
    uint64_t ahead = S_WALL + 400 * S_DAY;
    assert_int_equal(broker_clock_check(c, ahead, 8000, &jump), BROKER_CLOCK_JUMPED);
    assert_true(jump > (int64_t) (399 * S_DAY));
    broker_clock_committed(c, ahead + 1000, 9000);
    assert_int_equal(broker_clock_check(c, ahead + 2000, 10000, NULL), BROKER_CLOCK_HELD);
    assert_true(broker_clock_held(c));
    //  While held, the time to trust is the anchor's plus what elapsed.
    assert_int_equal(broker_clock_now(c, ahead + 2000, 10000), S_WALL + 1300 + 4000);
    //  Set right again: in step by itself.
    assert_int_equal(broker_clock_check(c, S_WALL + 1300 + 5000, 11000, NULL),
                     BROKER_CLOCK_RETURNED);
    assert_false(broker_clock_held(c));
    //  Back 2 days: held; confirmed: in step at the new time.
    uint64_t back = S_WALL - 2 * S_DAY;
    assert_int_equal(broker_clock_check(c, back, 12000, &jump), BROKER_CLOCK_JUMPED);
    assert_true(jump < -(int64_t) S_DAY);
    int64_t confirmed = broker_clock_confirm(c, back, 12000);
    assert_int_equal(confirmed, jump);
    assert_false(broker_clock_held(c));
    assert_int_equal(broker_clock_check(c, back + 1000, 13000, NULL), BROKER_CLOCK_OK);
    assert_int_equal(broker_clock_now(c, back + 1000, 13000), back + 1000);
    broker_clock_destroy(&c);
    assert_null(c);
    broker_clock_destroy(&c);
}

static void s_test_startup(void **state)
{
    (void) state;
    //  The last commit is 3 days later than the clock at startup: stepped back.
    broker_clock_t *c = broker_clock_new(S_MIN, S_WALL, 100, S_WALL + 3 * S_DAY);
    assert_true(broker_clock_held(c));
    assert_int_equal(broker_clock_check(c, S_WALL + 1000, 1100, NULL), BROKER_CLOCK_HELD);
    broker_clock_destroy(&c);
    //  Earlier by less than the bound, or later (downtime): in step.
    c = broker_clock_new(S_MIN, S_WALL, 100, S_WALL + 1000);
    assert_false(broker_clock_held(c));
    broker_clock_destroy(&c);
    c = broker_clock_new(S_MIN, S_WALL, 100, S_WALL - 30 * S_DAY);
    assert_false(broker_clock_held(c));
    assert_int_equal(broker_clock_check(c, S_WALL + 1000, 1100, NULL), BROKER_CLOCK_OK);
    broker_clock_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s_test_jump_and_confirm),
        cmocka_unit_test(s_test_startup),
    };
    return cmocka_run_group_tests_name("broker_clockguard", tests, NULL, NULL);
}
