/*  dirtime.c - the UTC times of the directory file: 2026-01-01T00:00:00Z
    to Unix seconds and back (proto_directory_time_parse and _format,
    declared in proto/directory.h). Kept apart from directory.c, whose
    entries and file are enough for one file; no time zone, no locale, no
    libc time conversion, so the result never depends on the machine.
*/
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "proto/directory.h"

static bool s_leap(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int s_month_days(int64_t year, int month)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return month == 2 && s_leap(year) ? 29 : days[month - 1];
}

//  Days from 1970-01-01 to the first of January of year (year >= 1970).
static int64_t s_days_before_year(int64_t year)
{
    int64_t y = year - 1;
    int64_t leaps = (y / 4 - y / 100 + y / 400) - (1969 / 4 - 1969 / 100 + 1969 / 400);
    return 365 * (year - 1970) + leaps;
}

static bool s_digits(const char *p, size_t n, int64_t *out)
{
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

proto_err_t proto_directory_time_parse(const char *text, int64_t *out)
{
    if (!text || !out)
        return PROTO_ERR_INVALID_ARG;
    //  0123456789012345678 9
    //  YYYY-MM-DDTHH:MM:SS Z
    if (strlen(text) != PROTO_DIRECTORY_TIME_LEN || text[4] != '-' || text[7] != '-' ||
        text[10] != 'T' || text[13] != ':' || text[16] != ':' || text[19] != 'Z')
        return PROTO_ERR_VALUE;
    int64_t year, month, day, hour, minute, second;
    if (!s_digits(text, 4, &year) || !s_digits(text + 5, 2, &month) ||
        !s_digits(text + 8, 2, &day) || !s_digits(text + 11, 2, &hour) ||
        !s_digits(text + 14, 2, &minute) || !s_digits(text + 17, 2, &second))
        return PROTO_ERR_VALUE;
    if (year < 2000 || month < 1 || month > 12 || day < 1 ||
        day > s_month_days(year, (int) month) || hour > 23 || minute > 59 || second > 59)
        return PROTO_ERR_VALUE;
    int64_t days = s_days_before_year(year);
    for (int m = 1; m < month; m++)
        days += s_month_days(year, m);
    days += day - 1;
    *out = days * 86400 + hour * 3600 + minute * 60 + second;
    return PROTO_OK;
}

static void s_put_digits(char *out, uint32_t value, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char) ('0' + value % 10);
        value /= 10;
    }
}

void proto_directory_time_format(int64_t t, char out[PROTO_DIRECTORY_TIME_LEN + 1])
{
    int64_t lo = s_days_before_year(2000) * 86400;
    int64_t hi = s_days_before_year(10000) * 86400 - 1;
    t = t < lo ? lo : t > hi ? hi : t;
    int64_t days = t / 86400, secs = t % 86400;
    //  Start from an underestimate of the year and walk forward.
    int64_t year = 1970 + days / 366;
    while (s_days_before_year(year + 1) <= days)
        year++;
    days -= s_days_before_year(year);
    int month = 1;
    while (days >= s_month_days(year, month))
        days -= s_month_days(year, month++);
    //  Digits by hand: every field is known to be in range, which snprintf's
    //  truncation warning cannot see.
    s_put_digits(out, (uint32_t) year, 4);
    out[4] = '-';
    s_put_digits(out + 5, (uint32_t) month, 2);
    out[7] = '-';
    s_put_digits(out + 8, (uint32_t) days + 1, 2);
    out[10] = 'T';
    s_put_digits(out + 11, (uint32_t) (secs / 3600), 2);
    out[13] = ':';
    s_put_digits(out + 14, (uint32_t) (secs / 60 % 60), 2);
    out[16] = ':';
    s_put_digits(out + 17, (uint32_t) (secs % 60), 2);
    out[19] = 'Z';
    out[20] = '\0';
}
