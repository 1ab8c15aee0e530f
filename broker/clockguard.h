/*  broker/clockguard.h - is the wall clock still to be trusted for expiry?

    Deliveries expire, and finished documents are purged, by wall time (a
    deadline is a date in the store). A wall clock stepped far ahead would
    expire everything at once, for good; one stepped back would hold it
    all. Timers run on the monotonic clock, which no one can step, so the
    guard compares the two: it keeps an anchor (the wall and monotonic
    times of the last durable commit) and measures how far the wall clock
    has moved beyond what the monotonic clock says elapsed. A jump larger
    than the configured bound (store.clock_jump_max) holds expiry and
    retention until the wall clock comes back within the bound of where it
    should be, or an operator confirms the new time (truc-admin clock
    confirm), which moves the anchor.

    While held, the guard's estimate of the time (anchor plus monotonic
    time elapsed) stands in for the wall clock where a wrong time would
    refuse good input (a document's created time).

    Owns nothing but its numbers; does not log or audit (server.c does).
*/
#ifndef BROKER_CLOCKGUARD_H
#define BROKER_CLOCKGUARD_H

#include <stdbool.h>
#include <stdint.h>

typedef struct broker_clock broker_clock_t;

//  A guard that allows jumps of at most max_jump ms, anchored at (wall,
//  mono). last_commit is the wall time of the last entry in the store (0 if
//  none): a wall clock more than max_jump before it at startup is a jump
//  back, held until confirmed. A jump ahead while the broker was stopped
//  cannot be told from downtime and is not held. NULL without memory.
broker_clock_t *broker_clock_new(uint64_t max_jump, uint64_t wall, uint64_t mono,
                                 uint64_t last_commit);

//  Destroy it and set *self_p to NULL. Safe on NULL.
void broker_clock_destroy(broker_clock_t **self_p);

//  What check found.
typedef enum {
    BROKER_CLOCK_OK = 0,       // in step: expire and purge by wall time
    BROKER_CLOCK_JUMPED = 1,   // a jump found just now: hold, and say so loudly
    BROKER_CLOCK_HELD = 2,     // still held
    BROKER_CLOCK_RETURNED = 3, // the wall clock came back within the bound: in step again
} broker_clock_state_t;

//  Compare the wall clock with the monotonic one (both ms) and say whether
//  expiry may run. *jump (if not NULL) gets how far the wall clock is from
//  where it should be, in ms, negative for a step back.
broker_clock_state_t broker_clock_check(broker_clock_t *self, uint64_t wall, uint64_t mono,
                                        int64_t *jump);

//  A durable commit at (wall, mono): the new anchor, unless held (a commit
//  must not make a jumped clock look right).
void broker_clock_committed(broker_clock_t *self, uint64_t wall, uint64_t mono);

//  The operator takes the wall clock as right: anchor at (wall, mono), not
//  held. Returns the jump that was held (0 if none).
int64_t broker_clock_confirm(broker_clock_t *self, uint64_t wall, uint64_t mono);

//  How far the wall clock is from where the anchor says it should be, in
//  ms (negative: behind), without changing anything.
int64_t broker_clock_jump(const broker_clock_t *self, uint64_t wall, uint64_t mono);

//  True while held.
bool broker_clock_held(const broker_clock_t *self);

//  The time to trust now: the wall clock when in step, else the anchor's
//  wall time plus the monotonic time elapsed since it.
uint64_t broker_clock_now(const broker_clock_t *self, uint64_t wall, uint64_t mono);

#endif
