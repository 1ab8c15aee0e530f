/*  broker/clockguard.c - is the wall clock still to be trusted for expiry? */
#include "clockguard.h"

#include <stdlib.h>

struct broker_clock {
    uint64_t max_jump; // ms
    uint64_t wall;     // the anchor: wall time of the last commit in step
    uint64_t mono;     // and the monotonic time then
    bool held;         // a jump over max_jump is waiting for the operator
};

broker_clock_t *broker_clock_new(uint64_t max_jump, uint64_t wall, uint64_t mono,
                                 uint64_t last_commit)
{
    broker_clock_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max_jump = max_jump;
    self->wall = wall;
    self->mono = mono;
    //  Stepped back while stopped: what was committed last is later than
    //  now. Anchor there, so that the jump shows and is held.
    if (last_commit > wall && last_commit - wall > max_jump) {
        self->wall = last_commit;
        self->held = true;
    }
    return self;
}

void broker_clock_destroy(broker_clock_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

static int64_t s_jump(const broker_clock_t *self, uint64_t wall, uint64_t mono)
{
    uint64_t expected = self->wall + (mono - self->mono);
    return wall >= expected ? (int64_t) (wall - expected) : -(int64_t) (expected - wall);
}

broker_clock_state_t broker_clock_check(broker_clock_t *self, uint64_t wall, uint64_t mono,
                                        int64_t *jump)
{
    int64_t j = s_jump(self, wall, mono);
    if (jump)
        *jump = j;
    uint64_t size = j < 0 ? (uint64_t) -j : (uint64_t) j;
    if (size > self->max_jump) {
        if (self->held)
            return BROKER_CLOCK_HELD;
        self->held = true;
        return BROKER_CLOCK_JUMPED;
    }
    if (self->held) {
        self->held = false;
        return BROKER_CLOCK_RETURNED;
    }
    return BROKER_CLOCK_OK;
}

void broker_clock_committed(broker_clock_t *self, uint64_t wall, uint64_t mono)
{
    if (self->held)
        return;
    //  Only a commit in step moves the anchor: one made between a jump and
    //  the next check would otherwise hide the jump.
    int64_t j = s_jump(self, wall, mono);
    if ((j < 0 ? (uint64_t) -j : (uint64_t) j) > self->max_jump)
        return;
    self->wall = wall;
    self->mono = mono;
}

int64_t broker_clock_confirm(broker_clock_t *self, uint64_t wall, uint64_t mono)
{
    int64_t j = self->held ? s_jump(self, wall, mono) : 0;
    self->wall = wall;
    self->mono = mono;
    self->held = false;
    return j;
}

int64_t broker_clock_jump(const broker_clock_t *self, uint64_t wall, uint64_t mono)
{
    return s_jump(self, wall, mono);
}

bool broker_clock_held(const broker_clock_t *self)
{
    return self->held;
}

uint64_t broker_clock_now(const broker_clock_t *self, uint64_t wall, uint64_t mono)
{
    return self->held ? self->wall + (mono - self->mono) : wall;
}
