/*  proto/when.h - a time as an operator types it, for filters: a UTC date
    ("2026-12-01"), a UTC time ("2026-12-01T08:30", "2026-12-01T08:30:00Z":
    seconds and the Z optional, the time is UTC either way)
    or an age before now ("90s", "30m", "12h", "7d").
    Owns the parse and the calendar arithmetic (POSIX 2008 has no timegm).
    Does not: read the clock (the caller passes now), or accept local time.
*/
#ifndef PROTO_WHEN_H
#define PROTO_WHEN_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

//  text as Unix milliseconds into *ms; an age counts back from now_ms (and
//  stops at 1 ms past the epoch). False if text is none of the forms above
//  or names a date before 1970.
bool proto_when_parse(const char *text, uint64_t now_ms, uint64_t *ms);

#ifdef __cplusplus
}
#endif

#endif
