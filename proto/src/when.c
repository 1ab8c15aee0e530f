/*  proto/src/when.c - times an operator types (proto/when.h). */
#include "proto/when.h"

#include <stdio.h>
#include <string.h>

//  Days since 1970-01-01 of a proleptic Gregorian date: years counted from
//  March, so that February, with its leap day, ends a year.
static int64_t s_days(int year, int month, int day)
{
    int y = year - (month <= 2), era = y / 400;
    int yoe = y - era * 400, mp = (month + 9) % 12;
    int doy = (153 * mp + 2) / 5 + day - 1;
    return (int64_t) era * 146097 + (int64_t) yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static bool s_age(const char *text, uint64_t now_ms, uint64_t *ms)
{
    char unit = 0, tail = 0;
    unsigned long long n = 0;
    if (text[0] < '0' || text[0] > '9' || sscanf(text, "%llu%c%c", &n, &unit, &tail) != 2 ||
        !unit || !strchr("smhd", unit))
        return false;
    uint64_t scale = unit == 's' ? 1000 : unit == 'm' ? 60000 : unit == 'h' ? 3600000 : 86400000;
    if (n > UINT64_MAX / scale)
        return false;
    *ms = n * scale < now_ms ? now_ms - n * scale : 1;
    return true;
}

bool proto_when_parse(const char *text, uint64_t now_ms, uint64_t *ms)
{
    if (!text || !*text)
        return false;
    if (s_age(text, now_ms, ms))
        return true;
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, used = 0;
    if (sscanf(text, "%4d-%2d-%2d%n", &year, &month, &day, &used) != 3 || used != 10)
        return false;
    if (text[used] == 'T') {
        //  HH:MM or HH:MM:SS, then an optional Z (the time is UTC either way).
        const char *t = text + used;
        int n = 0;
        if (sscanf(t, "T%2d:%2d:%2d%n", &hour, &minute, &second, &n) != 3 || n != 9) {
            second = 0;
            n = 0;
            if (sscanf(t, "T%2d:%2d%n", &hour, &minute, &n) != 2 || n != 6)
                return false;
        }
        if (t[n] == 'Z')
            n++;
        if (t[n] != '\0')
            return false;
    } else if (text[used] != '\0') {
        return false;
    }
    if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
        second > 60 || hour < 0 || minute < 0 || second < 0)
        return false;
    int64_t days = s_days(year, month, day);
    *ms = ((uint64_t) days * 86400 + (uint64_t) hour * 3600 + (uint64_t) minute * 60 +
           (uint64_t) second) *
          1000;
    return true;
}
