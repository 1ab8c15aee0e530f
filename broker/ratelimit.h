/*  broker/ratelimit.h - how many of something each agency did this minute.

    A fixed one-minute window per agency: the first event opens the window,
    and LIMIT events are allowed in it; the next event after a minute opens
    a new one. The broker uses it for STATUS notices (limits.notices_per_minute),
    so that one agency cannot fill the store, the audit chain and its
    partners' mailboxes with notices.

    Owns a hash table keyed by agency code, one slot per agency that ever
    took part (at most the directory's size: only authenticated agencies
    reach it). Times are monotonic milliseconds, so a clock step neither
    opens nor stretches a window. Does not log or audit; the caller does.
*/
#ifndef BROKER_RATELIMIT_H
#define BROKER_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct broker_rate broker_rate_t;

//  A limiter allowing limit events per agency per minute (limit >= 1).
//  Returns NULL if out of memory.
broker_rate_t *broker_rate_new(uint64_t limit);

//  Destroy it and set *self_p to NULL. Safe on NULL.
void broker_rate_destroy(broker_rate_t **self_p);

typedef enum {
    BROKER_RATE_OK = 0,      // allowed, and counted
    BROKER_RATE_REFUSED = 1, // over the limit: the first refusal of this window
    BROKER_RATE_AGAIN = 2,   // over the limit again in the same window (counted for a summary)
} broker_rate_verdict_t;

//  One more event of agency at now (monotonic ms). Without memory for a new
//  agency the event is allowed: a limiter must not refuse what it cannot count.
broker_rate_verdict_t broker_rate_take(broker_rate_t *self, const char *agency, uint64_t now);

//  Report, and reset, the BROKER_RATE_AGAIN refusals counted since the last
//  call: fn once per agency that has any (agency borrowed for the call).
typedef void(broker_rate_fn)(void *arg, const char *agency, uint64_t refused);
void broker_rate_drain(broker_rate_t *self, broker_rate_fn *fn, void *arg);

#endif
