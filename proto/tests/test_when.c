/*  test_when.c - times an operator types (proto/when.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proto/when.h"

static void s_test_dates(void **state)
{
    (void) state;
    uint64_t ms = 0;
    assert_true(proto_when_parse("1970-01-01", 0, &ms));
    assert_int_equal(ms, 0);
    assert_true(proto_when_parse("2026-12-01", 0, &ms));
    assert_int_equal(ms, 1796083200000ull);
    assert_true(proto_when_parse("2024-02-29T12:30Z", 0, &ms)); // a leap day
    assert_int_equal(ms, 1709209800000ull);
    assert_true(proto_when_parse("2026-12-01T08:30:05Z", 0, &ms));
    assert_int_equal(ms, 1796113805000ull);
    assert_true(proto_when_parse("2026-12-01T08:30:05", 0, &ms)); // UTC without the Z
    assert_int_equal(ms, 1796113805000ull);
    assert_true(proto_when_parse("2026-12-01T08:30", 0, &ms));
    assert_int_equal(ms, 1796113800000ull);
}

static void s_test_ages(void **state)
{
    (void) state;
    uint64_t ms = 0, now = 1796083200000ull;
    assert_true(proto_when_parse("90s", now, &ms));
    assert_int_equal(ms, now - 90000);
    assert_true(proto_when_parse("7d", now, &ms));
    assert_int_equal(ms, now - 7ull * 86400000);
    assert_true(proto_when_parse("100000000d", now, &ms)); // before the epoch: stops at 1
    assert_int_equal(ms, 1);
}

static void s_test_refused(void **state)
{
    (void) state;
    uint64_t ms = 0;
    const char *bad[] = { "",
                          "yesterday",
                          "2026-13-01",
                          "2026-12-32",
                          "1969-12-31",
                          "2026-12-01T25:00Z",
                          "2026-12-01T8:30",
                          "2026-12-01 08:30",
                          "2026-1-1",
                          "30",
                          "30w",
                          "-5m",
                          "2026-12-01Z",
                          "2026-12-01T08:30:05Zx" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(proto_when_parse(bad[i], 1000, &ms));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s_test_dates),
        cmocka_unit_test(s_test_ages),
        cmocka_unit_test(s_test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
