/*  loop.c - the reactor behind proto/loop.h.

    Owns the reader and timer lists and the zmq_pollitem_t array rebuilt
    from the readers before each poll. Removal during dispatch only marks
    an entry dead; dead entries are swept before the next poll, so indices
    into the poll array stay valid for the whole turn and a handler may add
    or remove anything. Timers are few (a handful per daemon): a linear
    scan for the earliest is cheaper than keeping a heap in order.
*/
#include "proto/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "proto/log.h"

//  The longest single sleep: a timer further out is reached in several
//  polls, so a far deadline never overflows zmq_poll's long.
#define S_POLL_MAX_MS 86400000u

typedef struct {
    void *socket;             // watched ZeroMQ socket, or NULL
    int fd;                   // watched descriptor, or -1
    proto_loop_reader_fn *fn; // called when readable
    void *arg;                // passed to fn
    bool dead;                // removed; swept before the next poll
    bool paused;              // watched but not polled for now
} s_reader_t;

typedef struct {
    int id;                  // > 0, never reused within a loop
    uint64_t when;           // due time on proto_clock_mono_ms
    uint64_t interval;       // repeat period, 0 for a one-shot timer
    proto_loop_timer_fn *fn; // called when due
    void *arg;               // passed to fn
    bool dead;               // cancelled or run; swept after the turn
} s_timer_t;

struct proto_loop {
    s_reader_t *readers; // in the order added
    size_t nreaders, readers_cap;
    zmq_pollitem_t *items; // one per reader, rebuilt before each poll
    size_t items_cap;
    s_timer_t *timers; // in the order added
    size_t ntimers, timers_cap;
    int last_id;              // the last timer id handed out
    proto_loop_turn_fn *turn; // after every turn, or NULL
    void *turn_arg;
    uint64_t wake_at; // proto_loop_wake_at for the next poll, or UINT64_MAX
    bool stop;        // return from proto_loop_run
};

static uint64_t s_clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

uint64_t proto_clock_mono_ms(void)
{
    return s_clock_ms(CLOCK_BOOTTIME);
}

uint64_t proto_clock_wall_ms(void)
{
    return s_clock_ms(CLOCK_REALTIME);
}

proto_loop_t *proto_loop_new(void)
{
    proto_loop_t *self = calloc(1, sizeof(proto_loop_t));
    if (self)
        self->wake_at = UINT64_MAX;
    return self;
}

void proto_loop_destroy(proto_loop_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    proto_loop_t *self = *self_p;
    free(self->readers);
    free(self->items);
    free(self->timers);
    free(self);
    *self_p = NULL;
}

//  Grow *array (of size elements) so that it holds at least need; false if
//  out of memory, the array untouched.
static bool s_reserve(void **array, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t grown = *cap ? *cap * 2 : 8;
    if (grown < need)
        grown = need;
    void *bigger = realloc(*array, grown * size);
    if (!bigger)
        return false;
    *array = bigger;
    *cap = grown;
    return true;
}

static proto_err_t s_reader_add(proto_loop_t *self, void *socket, int fd,
                                proto_loop_reader_fn *handler, void *arg)
{
    if (!handler)
        return PROTO_ERR_INVALID_ARG;
    for (size_t i = 0; i < self->nreaders; i++) {
        const s_reader_t *r = &self->readers[i];
        if (!r->dead && (socket ? r->socket == socket : r->fd == fd))
            return PROTO_ERR_INVALID_ARG;
    }
    if (!s_reserve((void **) &self->readers, &self->readers_cap, self->nreaders + 1,
                   sizeof(s_reader_t)))
        return PROTO_ERR_NOMEM;
    self->readers[self->nreaders++] =
        (s_reader_t){ .socket = socket, .fd = fd, .fn = handler, .arg = arg };
    return PROTO_OK;
}

proto_err_t proto_loop_socket_add(proto_loop_t *self, void *socket, proto_loop_reader_fn *handler,
                                  void *arg)
{
    if (!socket)
        return PROTO_ERR_INVALID_ARG;
    return s_reader_add(self, socket, -1, handler, arg);
}

proto_err_t proto_loop_fd_add(proto_loop_t *self, int fd, proto_loop_reader_fn *handler, void *arg)
{
    if (fd < 0)
        return PROTO_ERR_INVALID_ARG;
    return s_reader_add(self, NULL, fd, handler, arg);
}

void proto_loop_socket_remove(proto_loop_t *self, void *socket)
{
    for (size_t i = 0; socket && i < self->nreaders; i++)
        if (self->readers[i].socket == socket)
            self->readers[i].dead = true;
}

void proto_loop_fd_remove(proto_loop_t *self, int fd)
{
    for (size_t i = 0; fd >= 0 && i < self->nreaders; i++)
        if (!self->readers[i].socket && self->readers[i].fd == fd)
            self->readers[i].dead = true;
}

void proto_loop_socket_pause(proto_loop_t *self, void *socket, bool paused)
{
    for (size_t i = 0; socket && i < self->nreaders; i++)
        if (self->readers[i].socket == socket && !self->readers[i].dead)
            self->readers[i].paused = paused;
}

int proto_loop_timer_add(proto_loop_t *self, uint64_t delay_ms, bool repeat,
                         proto_loop_timer_fn *handler, void *arg)
{
    if (!handler || (repeat && delay_ms == 0) || self->last_id == INT32_MAX)
        return -1;
    if (!s_reserve((void **) &self->timers, &self->timers_cap, self->ntimers + 1,
                   sizeof(s_timer_t)))
        return -1;
    int id = ++self->last_id;
    self->timers[self->ntimers++] = (s_timer_t){ .id = id,
                                                 .when = proto_clock_mono_ms() + delay_ms,
                                                 .interval = repeat ? delay_ms : 0,
                                                 .fn = handler,
                                                 .arg = arg };
    return id;
}

void proto_loop_timer_cancel(proto_loop_t *self, int timer_id)
{
    for (size_t i = 0; timer_id > 0 && i < self->ntimers; i++)
        if (self->timers[i].id == timer_id)
            self->timers[i].dead = true;
}

void proto_loop_wake_at(proto_loop_t *self, uint64_t when)
{
    if (when < self->wake_at)
        self->wake_at = when;
}

void proto_loop_turn_set(proto_loop_t *self, proto_loop_turn_fn *handler, void *arg)
{
    self->turn = handler;
    self->turn_arg = arg;
}

void proto_loop_stop(proto_loop_t *self)
{
    self->stop = true;
}

//  Drop dead readers and timers, keeping the order of the rest. Only
//  between turns, when nobody holds an index.
static void s_sweep(proto_loop_t *self)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->nreaders; i++)
        if (!self->readers[i].dead)
            self->readers[kept++] = self->readers[i];
    self->nreaders = kept;
    kept = 0;
    for (size_t i = 0; i < self->ntimers; i++)
        if (!self->timers[i].dead)
            self->timers[kept++] = self->timers[i];
    self->ntimers = kept;
}

//  How long zmq_poll may sleep: until the earliest live timer or the
//  wake_at deadline, -1 (for ever) without either.
static long s_timeout(const proto_loop_t *self, uint64_t now)
{
    long timeout = -1;
    for (size_t i = 0; i <= self->ntimers; i++) {
        uint64_t when = i < self->ntimers ? self->timers[i].when : self->wake_at;
        if (i < self->ntimers ? self->timers[i].dead : when == UINT64_MAX)
            continue;
        uint64_t wait = when > now ? when - now : 0;
        if (wait > S_POLL_MAX_MS)
            wait = S_POLL_MAX_MS;
        if (timeout < 0 || (long) wait < timeout)
            timeout = (long) wait;
    }
    return timeout;
}

//  Run the timers due at now, earliest first, that existed when the turn
//  began (ids up to last_id): one that a handler adds, even with no delay,
//  waits for the next turn, so a handler re-arming itself cannot spin here.
static int s_run_timers(proto_loop_t *self, uint64_t now)
{
    int last_id = self->last_id;
    for (;;) {
        size_t due = self->ntimers;
        for (size_t i = 0; i < self->ntimers; i++) {
            const s_timer_t *t = &self->timers[i];
            if (t->dead || t->id > last_id || t->when > now)
                continue;
            if (due == self->ntimers || t->when < self->timers[due].when)
                due = i;
        }
        if (due == self->ntimers)
            return 0;
        s_timer_t *t = &self->timers[due];
        int id = t->id;
        proto_loop_timer_fn *fn = t->fn;
        void *arg = t->arg;
        //  Reschedule (or retire) before the call, so that a handler that
        //  cancels its own timer has the last word. From now, not from the
        //  old due time: a loop that fell behind does not fire in a burst.
        if (t->interval)
            t->when = now + t->interval;
        else
            t->dead = true;
        if (fn(self, id, arg) != 0 || self->stop)
            return -1;
    }
}

proto_err_t proto_loop_run(proto_loop_t *self)
{
    proto_err_t rc = PROTO_OK;
    while (!self->stop) {
        s_sweep(self);
        if (!s_reserve((void **) &self->items, &self->items_cap, self->nreaders,
                       sizeof(zmq_pollitem_t))) {
            rc = PROTO_ERR_NOMEM;
            break;
        }
        size_t npolled = self->nreaders;
        for (size_t i = 0; i < npolled; i++)
            self->items[i] =
                (zmq_pollitem_t){ .socket = self->readers[i].socket,
                                  .fd = self->readers[i].fd < 0 ? 0 : self->readers[i].fd,
                                  .events = self->readers[i].paused ? 0 : ZMQ_POLLIN };
        long timeout = s_timeout(self, proto_clock_mono_ms());
        if (zmq_poll(self->items, (int) npolled, timeout) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            proto_log_error("event=loop_poll_failed errno=%d error=\"%s\"", zmq_errno(),
                            zmq_strerror(zmq_errno()));
            rc = PROTO_ERR_SYSTEM;
            break;
        }
        self->wake_at = UINT64_MAX; // this poll's; the turn may ask again
        //  Index, never a pointer: a handler that adds a reader may move the
        //  array. Entries added in this turn sit past npolled.
        bool stopped = false;
        for (size_t i = 0; i < npolled && !stopped; i++) {
            s_reader_t *r = &self->readers[i];
            if (r->dead || !(self->items[i].revents & ZMQ_POLLIN))
                continue;
            void *socket = r->socket;
            int fd = r->fd;
            stopped = r->fn(self, socket, fd, r->arg) != 0 || self->stop;
        }
        if (!stopped)
            stopped = s_run_timers(self, proto_clock_mono_ms()) != 0;
        if (self->turn && self->turn(self, self->turn_arg) != 0)
            stopped = true;
        if (stopped)
            break;
    }
    s_sweep(self);
    self->stop = false;
    return rc;
}
