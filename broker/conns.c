/*  broker/conns.c - the agents' connections as the kernel counts them.

    See conns.h. The table is indexed by descriptor because that is what
    the monitor's ACCEPTED and DISCONNECTED events carry; it grows to the
    highest descriptor seen, so its size follows the connections actually
    open, never the limit.
*/
#include "conns.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

//  Descriptors beyond this are not counted on: Linux's own ceiling
//  (fs.nr_open) is 1,048,576 unless raised.
#define S_NOFILE_CEILING (1u << 20)

struct broker_conns {
    uint64_t nofile;    // the soft limit after raising
    size_t capacity;    // connections that fit
    size_t open;        // connections open now
    uint64_t *accepted; // per descriptor: ms when accepted + 1, 0 = not open
    size_t nslots;      // entries in accepted
    bool failing;       // a handshake failed without detail; its DISCONNECTED comes next
};

broker_conns_t *broker_conns_new(uint64_t *raised_from)
{
    broker_conns_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    struct rlimit rl;
    uint64_t found = 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        found = rl.rlim_cur;
        //  Distributions start services with a soft limit of 1,024 and a
        //  far higher hard one: the soft limit is only a default, and at a
        //  thousand agencies it is the first thing the broker runs into.
        if (rl.rlim_cur < rl.rlim_max) {
            rlim_t soft = rl.rlim_cur;
            rl.rlim_cur = rl.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
                rl.rlim_cur = soft;
        }
        self->nofile = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > S_NOFILE_CEILING
                           ? S_NOFILE_CEILING
                           : (uint64_t) rl.rlim_cur;
    } else {
        self->nofile = 1024;
    }
    if (raised_from)
        *raised_from = found < self->nofile ? found : 0;
    uint64_t reserve = BROKER_CONNS_RESERVE + self->nofile / 16;
    self->capacity = self->nofile > reserve ? (size_t) (self->nofile - reserve) : 0;
    return self;
}

void broker_conns_destroy(broker_conns_t **self_p)
{
    if (self_p && *self_p) {
        free((*self_p)->accepted);
        free(*self_p);
        *self_p = NULL;
    }
}

uint64_t broker_conns_nofile(const broker_conns_t *self)
{
    return self->nofile;
}

size_t broker_conns_capacity(const broker_conns_t *self)
{
    return self->capacity;
}

size_t broker_conns_open(const broker_conns_t *self)
{
    return self->open;
}

bool broker_conns_full(const broker_conns_t *self)
{
    return self->open > self->capacity;
}

static void s_accepted(broker_conns_t *self, uint32_t fd, uint64_t now_ms)
{
    if (fd >= self->nslots) {
        if (fd >= S_NOFILE_CEILING)
            return;
        size_t n = self->nslots ? self->nslots : 256;
        while (n <= fd)
            n *= 2;
        uint64_t *grown = realloc(self->accepted, n * sizeof *grown);
        if (!grown)
            return; // not counted: the capacity check errs on the generous side
        memset(grown + self->nslots, 0, (n - self->nslots) * sizeof *grown);
        self->accepted = grown;
        self->nslots = n;
    }
    if (!self->accepted[fd])
        self->open++;
    self->accepted[fd] = now_ms + 1;
}

broker_conns_verdict_t broker_conns_event(broker_conns_t *self, uint16_t event, uint32_t value,
                                          uint64_t now_ms, uint64_t *age_ms)
{
    if (event == ZMQ_EVENT_ACCEPTED) {
        s_accepted(self, value, now_ms);
        return BROKER_CONNS_NONE;
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        self->failing = true;
        return BROKER_CONNS_NONE;
    }
    if (event != ZMQ_EVENT_DISCONNECTED)
        return BROKER_CONNS_NONE;
    uint64_t since = 0;
    if (value < self->nslots && self->accepted[value]) {
        since = self->accepted[value] - 1;
        self->accepted[value] = 0;
        self->open--;
    }
    if (!self->failing)
        return BROKER_CONNS_NONE;
    self->failing = false;
    uint64_t age = since && now_ms > since ? now_ms - since : 0;
    if (age_ms)
        *age_ms = age;
    return age >= BROKER_CONNS_SLOW_MS ? BROKER_CONNS_TIMED_OUT : BROKER_CONNS_REFUSED;
}
