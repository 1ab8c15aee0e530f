/*  broker/peers.c - the peer table and each peer's in-flight index.

    See peers.h. The table is an array of pointers, so a peer stays where it
    is while the array grows; a dead peer is freed only by
    broker_peers_reap, at the end of a loop turn, never while a handler may
    still hold it.
*/
#include "peers.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/loop.h"

struct broker_peers {
    broker_peer_t **items;
    size_t n, cap;
    size_t reaped;     // sessions freed since memory was last trimmed
    size_t owed_total; // bytes owed to every peer (broker_owed_push)
};

broker_peers_t *broker_peers_new(void)
{
    return calloc(1, sizeof(broker_peers_t));
}

size_t broker_peers_count(const broker_peers_t *self)
{
    return self->n;
}

broker_peer_t *broker_peers_at(const broker_peers_t *self, size_t i)
{
    return self->items[i];
}

broker_peer_t *broker_peers_find(const broker_peers_t *self, const void *rid, size_t len)
{
    for (size_t i = 0; i < self->n; i++) {
        broker_peer_t *p = self->items[i];
        if (p->rid_len == len && memcmp(p->rid, rid, len) == 0)
            return p;
    }
    return NULL;
}

broker_peer_t *broker_peers_of_agency(const broker_peers_t *self, const char *agency)
{
    for (size_t i = 0; i < self->n; i++) {
        broker_peer_t *p = self->items[i];
        if (!p->dead && p->state == BROKER_PEER_READY && strcmp(p->agency, agency) == 0)
            return p;
    }
    return NULL;
}

static void s_peer_free(broker_peers_t *self, broker_peer_t *p)
{
    if (p) {
        while (p->owed)
            broker_owed_pop(self, p);
        free(p->flight);
        free(p->slots);
        free(p);
    }
}

broker_peer_t *broker_peers_add(broker_peers_t *self, const void *rid, size_t len,
                                const char *agency, const uint8_t *sign_pk)
{
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        broker_peer_t **grown = realloc(self->items, cap * sizeof *grown);
        if (!grown)
            return NULL;
        self->items = grown;
        self->cap = cap;
    }
    broker_peer_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    //  Room for a small window; HELLO and CREDIT grow it to the window
    //  granted (broker_flight_reserve), so a session costs what its agent asks
    //  for, not what max_window would allow.
    p->nslots = 16;
    p->flight_cap = 8;
    p->flight = calloc(p->flight_cap, sizeof *p->flight);
    p->slots = calloc(p->nslots, sizeof *p->slots);
    if (!p->flight || !p->slots) {
        s_peer_free(self, p);
        return NULL;
    }
    memcpy(p->rid, rid, len);
    p->rid_len = len;
    snprintf(p->agency, sizeof p->agency, "%s", agency);
    if (sign_pk)
        memcpy(p->sign_pk, sign_pk, sizeof p->sign_pk);
    p->last_recv = p->last_send = proto_clock_mono_ms();
    self->items[self->n++] = p;
    return p;
}

void broker_peers_reap(broker_peers_t *self)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->n; i++) {
        broker_peer_t *p = self->items[i];
        if (p->dead)
            s_peer_free(self, p);
        else
            self->items[kept++] = p;
    }
    self->reaped += self->n - kept;
    self->n = kept;
}

void broker_peers_mark_dirty(broker_peers_t *self, const char *agency)
{
    broker_peer_t *p = broker_peers_of_agency(self, agency);
    if (p)
        p->dirty = true;
}

//  The pushes a peer has not acknowledged: an array, and a hash index over
//  it (linear probing), so that a push or an ACK costs the same whatever
//  the window.
static uint32_t s_flight_hash(bool is_mid, uint64_t mid, const proto_id_t *id)
{
    uint64_t h = mid;
    if (!is_mid)
        memcpy(&h, id->bytes + 8, 8); // the random half of any UUID layout
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (uint32_t) h ^ (is_mid ? 0x9e3779b9u : 0);
}

static bool s_flight_is(const broker_flight_t *f, bool is_mid, uint64_t mid, const proto_id_t *id)
{
    return f->is_mid == is_mid &&
           (is_mid ? f->mid == mid : memcmp(f->id.bytes, id->bytes, PROTO_ID_LEN) == 0);
}

//  The slot that holds this push, or the empty slot where it would go.
static uint32_t s_flight_slot(const broker_peer_t *p, bool is_mid, uint64_t mid,
                              const proto_id_t *id)
{
    uint32_t mask = p->nslots - 1, at = s_flight_hash(is_mid, mid, id) & mask;
    while (p->slots[at] && !s_flight_is(&p->flight[p->slots[at] - 1], is_mid, mid, id))
        at = (at + 1) & mask;
    return at;
}

bool broker_flight_has(const broker_peer_t *p, bool is_mid, uint64_t mid, const proto_id_t *id)
{
    return p->slots[s_flight_slot(p, is_mid, mid, id)] != 0;
}

void broker_flight_add(broker_peer_t *p, bool is_mid, uint64_t mid, const proto_id_t *id)
{
    if (p->nflight == 0)
        p->last_answer = proto_clock_mono_ms();
    broker_flight_t *f = &p->flight[p->nflight];
    *f = (broker_flight_t){ .is_mid = is_mid, .mid = mid, .seq = ++p->pushes };
    if (id)
        f->id = *id;
    p->slots[s_flight_slot(p, is_mid, mid, id)] = ++p->nflight;
}

void broker_flight_remove(broker_peer_t *p, bool is_mid, uint64_t mid, const proto_id_t *id)
{
    uint32_t mask = p->nslots - 1, hole = s_flight_slot(p, is_mid, mid, id);
    uint32_t index = p->slots[hole];
    if (!index)
        return;
    if (p->flight[index - 1].seq > p->answered)
        p->answered = p->flight[index - 1].seq;
    //  Empty the slot, then move back the entries of the probe run after it
    //  that may no longer be reachable (deletion without tombstones).
    p->slots[hole] = 0;
    for (uint32_t at = (hole + 1) & mask; p->slots[at]; at = (at + 1) & mask) {
        const broker_flight_t *f = &p->flight[p->slots[at] - 1];
        uint32_t home = s_flight_hash(f->is_mid, f->mid, &f->id) & mask;
        if (((at - home) & mask) >= ((at - hole) & mask)) {
            p->slots[hole] = p->slots[at];
            p->slots[at] = 0;
            hole = at;
        }
    }
    p->last_answer = proto_clock_mono_ms();
    //  Keep the array dense: the last entry takes the removed one's place.
    uint32_t last = --p->nflight;
    if (index - 1 != last) {
        const broker_flight_t *moved = &p->flight[last];
        p->slots[s_flight_slot(p, moved->is_mid, moved->mid, &moved->id)] = index;
        p->flight[index - 1] = *moved;
    }
    p->dirty = true;
}

//  Make room for window pushes in flight (the arrays only grow, so what is
//  in flight always fits). Returns the window there is room for: window,
//  or the room there was if memory ran out.
uint32_t broker_flight_reserve(broker_peer_t *p, uint32_t window)
{
    if (window <= p->flight_cap)
        return window;
    uint32_t nslots = p->nslots;
    while (nslots < 2 * window)
        nslots *= 2;
    broker_flight_t *flight = realloc(p->flight, window * sizeof *flight);
    if (!flight)
        return p->flight_cap;
    p->flight = flight;
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots)
        return p->flight_cap;
    free(p->slots);
    p->slots = slots;
    p->nslots = nslots;
    p->flight_cap = window;
    for (uint32_t i = 0; i < p->nflight; i++) {
        const broker_flight_t *f = &p->flight[i];
        p->slots[s_flight_slot(p, f->is_mid, f->mid, &f->id)] = i + 1;
    }
    return window;
}

//  Sessions that ended leave their memory in malloc's free lists, and
//  glibc gives the top of the heap back only: after a thousand agencies
//  came and went the broker would keep their peak. Once sessions have
//  ended, at most once a second, the free pages go back to the system.
void broker_peers_trim(broker_peers_t *self)
{
    if (self->reaped) {
        self->reaped = 0;
        malloc_trim(0);
    }
}

void broker_flight_clear(broker_peer_t *p)
{
    memset(p->slots, 0, p->nslots * sizeof *p->slots);
    p->nflight = 0;
    p->gap_seq = 0;
}

void broker_peers_destroy(broker_peers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_peers_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++)
        s_peer_free(self, self->items[i]);
    free(self->items);
    free(self);
    *self_p = NULL;
}

bool broker_owed_push(broker_peers_t *self, broker_peer_t *p, proto_kind_t kind, const void *body,
                      size_t len)
{
    if (len > BROKER_OWED_PEER_MAX - p->owed_bytes ||
        len > BROKER_OWED_TOTAL_MAX - self->owed_total)
        return false;
    broker_owed_t *o = malloc(sizeof *o + len);
    if (!o)
        return false;
    o->next = NULL;
    o->kind = kind;
    o->len = len;
    memcpy(o->body, body, len);
    if (p->owed_tail)
        p->owed_tail->next = o;
    else
        p->owed = o;
    p->owed_tail = o;
    p->owed_bytes += len;
    self->owed_total += len;
    return true;
}

void broker_owed_pop(broker_peers_t *self, broker_peer_t *p)
{
    broker_owed_t *o = p->owed;
    if (!o)
        return;
    p->owed = o->next;
    if (!p->owed)
        p->owed_tail = NULL;
    p->owed_bytes -= o->len;
    self->owed_total -= o->len;
    free(o);
}

size_t broker_owed_total(const broker_peers_t *self)
{
    return self->owed_total;
}
