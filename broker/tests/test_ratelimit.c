/*  broker/tests/test_ratelimit.c - the per-agency, per-minute limiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "ratelimit.h"

static uint64_t s_summed;

static void s_sum(void *arg, const char *agency, uint64_t refused)
{
    (void) arg;
    (void) agency;
    s_summed += refused;
}

static void s_test_window(void **state)
{
    (void) state;
    broker_rate_t *rate = broker_rate_new(3);
    assert_non_null(rate);
    const uint64_t t0 = 1000000;
    for (int i = 0; i < 3; i++)
        assert_int_equal(broker_rate_take(rate, "000.00.01.H01", t0 + (uint64_t) i),
                         BROKER_RATE_OK);
    assert_int_equal(broker_rate_take(rate, "000.00.01.H01", t0 + 10), BROKER_RATE_REFUSED);
    assert_int_equal(broker_rate_take(rate, "000.00.01.H01", t0 + 20), BROKER_RATE_AGAIN);
    assert_int_equal(broker_rate_take(rate, "000.00.01.H01", t0 + 59999), BROKER_RATE_AGAIN);
    //  Another agency has its own window.
    assert_int_equal(broker_rate_take(rate, "000.00.02.H01", t0 + 30), BROKER_RATE_OK);
    s_summed = 0;
    broker_rate_drain(rate, s_sum, NULL);
    assert_int_equal(s_summed, 2);
    broker_rate_drain(rate, s_sum, NULL);
    assert_int_equal(s_summed, 2); // drained once
    //  A minute after the window opened, a new one.
    assert_int_equal(broker_rate_take(rate, "000.00.01.H01", t0 + 60000), BROKER_RATE_OK);
    broker_rate_destroy(&rate);
    assert_null(rate);
    broker_rate_destroy(&rate);
}

static void s_test_many_agencies(void **state)
{
    (void) state;
    broker_rate_t *rate = broker_rate_new(1);
    assert_non_null(rate);
    char code[16];
    //  The table grows past its first size and keeps every agency apart.
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 1000; i++) {
            snprintf(code, sizeof code, "000.%02d.%02d.H01", i / 100, i % 100);
            assert_int_equal(broker_rate_take(rate, code, 5000),
                             round == 0 ? BROKER_RATE_OK : BROKER_RATE_REFUSED);
        }
    broker_rate_destroy(&rate);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s_test_window),
        cmocka_unit_test(s_test_many_agencies),
    };
    return cmocka_run_group_tests_name("broker_ratelimit", tests, NULL, NULL);
}
