/*  broker/ratelimit.c - how many of something each agency did this minute. */
#include "ratelimit.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proto/agency.h"

#define S_WINDOW_MS 60000

typedef struct {
    char agency[PROTO_AGENCY_CODE_LEN + 1]; // empty: a free slot
    uint64_t opened;                        // when the window opened, monotonic ms
    uint64_t count;                         // events allowed in the window
    uint64_t again;                         // refusals after the first, not yet drained
    bool refused;                           // the window has refused once
} s_slot_t;

struct broker_rate {
    uint64_t limit;
    s_slot_t *slots;
    size_t cap; // a power of two
    size_t used;
};

broker_rate_t *broker_rate_new(uint64_t limit)
{
    broker_rate_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->limit = limit ? limit : 1;
    self->cap = 64;
    self->slots = calloc(self->cap, sizeof *self->slots);
    if (!self->slots)
        broker_rate_destroy(&self);
    return self;
}

void broker_rate_destroy(broker_rate_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

//  FNV-1a over the code.
static size_t s_hash(const char *agency)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *c = agency; *c; c++)
        h = (h ^ (uint8_t) *c) * 1099511628211ull;
    return (size_t) h;
}

static s_slot_t *s_find(s_slot_t *slots, size_t cap, const char *agency)
{
    size_t i = s_hash(agency) & (cap - 1);
    while (slots[i].agency[0] && strcmp(slots[i].agency, agency) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

//  Keep the table at most half full, so probes stay short.
static bool s_grow(broker_rate_t *self)
{
    size_t cap = self->cap * 2;
    s_slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < self->cap; i++)
        if (self->slots[i].agency[0])
            *s_find(slots, cap, self->slots[i].agency) = self->slots[i];
    free(self->slots);
    self->slots = slots;
    self->cap = cap;
    return true;
}

broker_rate_verdict_t broker_rate_take(broker_rate_t *self, const char *agency, uint64_t now)
{
    if (!agency[0] || strlen(agency) > PROTO_AGENCY_CODE_LEN)
        return BROKER_RATE_OK;
    s_slot_t *slot = s_find(self->slots, self->cap, agency);
    if (!slot->agency[0]) {
        if ((self->used + 1) * 2 > self->cap) {
            if (!s_grow(self))
                return BROKER_RATE_OK;
            slot = s_find(self->slots, self->cap, agency);
        }
        memcpy(slot->agency, agency, strlen(agency) + 1);
        slot->opened = now;
        self->used++;
    }
    if (now - slot->opened >= S_WINDOW_MS || now < slot->opened) {
        slot->opened = now;
        slot->count = 0;
        slot->refused = false;
    }
    if (slot->count < self->limit) {
        slot->count++;
        return BROKER_RATE_OK;
    }
    if (!slot->refused) {
        slot->refused = true;
        return BROKER_RATE_REFUSED;
    }
    slot->again++;
    return BROKER_RATE_AGAIN;
}

void broker_rate_drain(broker_rate_t *self, broker_rate_fn *fn, void *arg)
{
    for (size_t i = 0; i < self->cap; i++) {
        s_slot_t *slot = &self->slots[i];
        if (slot->agency[0] && slot->again) {
            fn(arg, slot->agency, slot->again);
            slot->again = 0;
        }
    }
}
