/*  tests/proof/netproxy.c - a TCP proxy with a switchable path, for the
    network trouble suite (see netproxy.h).

    One thread owns every socket and runs one poll() loop: the listening
    socket, a wake-up pipe, and both ends of each connection. The test's
    thread only changes a few fields under the lock (mode, cut requests,
    trigger) and wakes the loop; the loop publishes its counters under the
    same lock once per turn.
*/
#include "netproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define S_BUF_SIZE (64 * 1024) // bytes buffered per direction of a connection
#define S_BUSY_MS  100         // a connection that moved bytes this recently is busy
#define S_POLL_MS  100         // longest sleep of the loop

typedef struct {
    uint8_t data[S_BUF_SIZE];
    size_t start, len; // the bytes waiting are data[start .. start + len)
} s_buf_t;

typedef struct {
    int fd[2];        // 0: the client (an agent), 1: upstream (the broker), -1 if none yet
    bool connecting;  // the upstream connect is in progress
    bool eof[2];      // fd[i] will send nothing more
    bool shut[2];     // shutdown(SHUT_WR) done on fd[i]
    s_buf_t buf[2];   // buf[i]: read from fd[i], to be written to fd[1 - i]
    uint64_t last_io; // when bytes last moved, ms
    bool done;        // closed; freed at the end of the turn
} s_conn_t;

struct netproxy {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t served;
    int listener;
    int wake[2];
    struct sockaddr_in upstream;
    char endpoint[64];
    //  Shared with the loop, under lock.
    netproxy_mode_t mode;
    uint64_t mode_asked; // mode changes asked for
    uint64_t mode_taken; // mode changes the loop has taken
    bool stop;
    uint64_t cut_asked;     // cuts asked for by netproxy_cut
    uint64_t cut_served;    // cuts the loop has done for them
    size_t cut_result;      // connections reset by the last of them
    uint64_t arm_bytes;     // the last trigger asked for (0: disarm)
    uint64_t arm_seq;       // triggers asked for
    bool armed;             // a trigger is armed and has not fired
    netproxy_stats_t stats; // published by the loop
    //  The loop's own.
    uint64_t arm_seen;   // arm_seq the loop has taken
    uint64_t trigger_at; // cut when forwarded bytes reach this; 0: no trigger
    bool fire;           // the trigger fired during this turn
    s_conn_t **conns;
    size_t nconns, conns_cap;
    netproxy_stats_t local;
};

static uint64_t s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static uint64_t s_forwarded(const netproxy_stats_t *stats)
{
    return stats->bytes_up + stats->bytes_down;
}

static void s_wake(netproxy_t *self)
{
    unsigned char byte = 1;
    ssize_t n = write(self->wake[1], &byte, 1);
    (void) n; // a full pipe already wakes the loop
}

static bool s_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

//  Close with an RST: whatever is in transit is lost.
static void s_reset_fd(int *fd)
{
    if (*fd < 0)
        return;
    struct linger abortive = { 1, 0 };
    setsockopt(*fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
    close(*fd);
    *fd = -1;
}

static void s_close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static bool s_forwarding(netproxy_mode_t mode)
{
    return mode == NETPROXY_PASS || mode == NETPROXY_REFUSE;
}

// ---------------------------------------------------------------------------
//  Connections

static void s_conn_reset(s_conn_t *c)
{
    s_reset_fd(&c->fd[0]);
    s_reset_fd(&c->fd[1]);
    c->done = true;
}

//  Connect a held connection upstream.
static void s_upstream(netproxy_t *self, s_conn_t *c)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    if (fd < 0 || !s_nonblocking(fd)) {
        if (fd >= 0)
            close(fd);
        self->local.upstream_failed++;
        s_conn_reset(c);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd[1] = fd;
    if (connect(fd, (const struct sockaddr *) &self->upstream, sizeof self->upstream) == 0)
        c->connecting = false;
    else if (errno == EINPROGRESS || errno == EINTR)
        c->connecting = true;
    else {
        self->local.upstream_failed++;
        s_conn_reset(c);
    }
}

static void s_accept(netproxy_t *self, netproxy_mode_t mode)
{
    for (;;) {
        int fd = accept(self->listener, NULL, NULL);
        if (fd < 0)
            return; // EAGAIN, or an error that the next turn sees again
        if (mode == NETPROXY_REFUSE) {
            self->local.refused++;
            s_reset_fd(&fd);
            continue;
        }
        if (self->nconns == self->conns_cap) {
            size_t cap = self->conns_cap ? self->conns_cap * 2 : 16;
            s_conn_t **grown = realloc(self->conns, cap * sizeof *grown);
            if (!grown) {
                s_reset_fd(&fd);
                continue;
            }
            self->conns = grown;
            self->conns_cap = cap;
        }
        s_conn_t *c = calloc(1, sizeof *c);
        if (!c || !s_nonblocking(fd)) {
            free(c);
            s_reset_fd(&fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd[0] = fd;
        c->fd[1] = -1; // held until the path forwards
        c->last_io = s_now();
        self->conns[self->nconns++] = c;
        self->local.accepted++;
        if (s_forwarding(mode))
            s_upstream(self, c);
    }
}

//  Reset every connection. Returns how many there were.
static size_t s_cut_all(netproxy_t *self)
{
    uint64_t now = s_now();
    size_t n = 0;
    for (size_t i = 0; i < self->nconns; i++) {
        s_conn_t *c = self->conns[i];
        if (c->done)
            continue;
        bool busy = c->buf[0].len || c->buf[1].len || now - c->last_io < S_BUSY_MS;
        s_conn_reset(c);
        self->local.cut_conns++;
        self->local.cut_busy += busy;
        n++;
    }
    self->local.cuts++;
    return n;
}

static void s_reap(netproxy_t *self)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->nconns; i++) {
        s_conn_t *c = self->conns[i];
        if (c->done)
            free(c);
        else
            self->conns[kept++] = c;
    }
    self->nconns = kept;
}

//  Do the bytes that arrive on fd[side] go through in this mode?
static bool s_flows(netproxy_mode_t mode, int side)
{
    switch (mode) {
    case NETPROXY_PASS:
    case NETPROXY_REFUSE:
        return true;
    case NETPROXY_BLACKHOLE_UP:
        return side == 1;
    case NETPROXY_BLACKHOLE_DOWN:
        return side == 0;
    default:
        return false;
    }
}

//  What the loop waits for on fd[side] of c in this mode (0: nothing).
static short s_events(const s_conn_t *c, int side, netproxy_mode_t mode)
{
    if (c->done || c->fd[side] < 0 || c->fd[1] < 0)
        return 0; // a held connection moves nothing until it is connected upstream
    if (side == 1 && c->connecting)
        return s_forwarding(mode) ? POLLOUT : 0;
    short events = 0;
    if (!c->eof[side] &&
        (mode == NETPROXY_DROP || (s_flows(mode, side) && c->buf[side].len < S_BUF_SIZE)))
        events |= POLLIN;
    const s_buf_t *out = &c->buf[1 - side];
    if (s_flows(mode, 1 - side) && out->len && !(side == 0 && c->connecting) && !c->shut[side])
        events |= POLLOUT;
    return events;
}

static void s_read(netproxy_t *self, s_conn_t *c, int side, netproxy_mode_t mode)
{
    s_buf_t *b = &c->buf[side];
    uint8_t scratch[16384];
    uint8_t *into = scratch;
    size_t room = sizeof scratch;
    if (mode != NETPROXY_DROP) {
        if (b->start && b->start + b->len == S_BUF_SIZE) {
            memmove(b->data, b->data + b->start, b->len);
            b->start = 0;
        }
        into = b->data + b->start + b->len;
        room = S_BUF_SIZE - b->start - b->len;
        if (!room)
            return;
    }
    ssize_t n = recv(c->fd[side], into, room, 0);
    if (n > 0) {
        if (mode == NETPROXY_DROP)
            self->local.bytes_dropped += (uint64_t) n;
        else
            b->len += (size_t) n;
        c->last_io = s_now();
    } else if (n == 0) {
        c->eof[side] = true;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        self->local.closed++;
        s_conn_reset(c);
    }
}

static void s_write(netproxy_t *self, s_conn_t *c, int side)
{
    s_buf_t *b = &c->buf[1 - side];
    ssize_t n = send(c->fd[side], b->data + b->start, b->len, MSG_NOSIGNAL);
    if (n > 0) {
        b->start += (size_t) n;
        b->len -= (size_t) n;
        if (!b->len)
            b->start = 0;
        if (side == 1)
            self->local.bytes_up += (uint64_t) n;
        else
            self->local.bytes_down += (uint64_t) n;
        c->last_io = s_now();
        if (self->trigger_at && s_forwarded(&self->local) >= self->trigger_at)
            self->fire = true;
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        self->local.closed++;
        s_conn_reset(c);
    }
}

//  Handle what poll reported on fd[side] of c.
static void s_handle(netproxy_t *self, s_conn_t *c, int side, short events, short revents,
                     netproxy_mode_t mode)
{
    if (c->done || !revents)
        return;
    if (side == 1 && c->connecting) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err == 0) {
            c->connecting = false;
        } else if (err != EINPROGRESS && err != EALREADY) {
            self->local.upstream_failed++;
            s_conn_reset(c);
        }
        return;
    }
    //  An error or hang-up shows in the read or the write that follows.
    if ((events & POLLIN) && (revents & (POLLIN | POLLHUP | POLLERR)))
        s_read(self, c, side, mode);
    if (!c->done && (events & POLLOUT) && (revents & (POLLOUT | POLLHUP | POLLERR)))
        s_write(self, c, side);
}

//  Pass on a half close once everything before it went through; close a
//  connection both ends have finished.
static void s_finish(netproxy_t *self, s_conn_t *c, netproxy_mode_t mode)
{
    if (c->done || !s_forwarding(mode) || c->connecting || c->fd[1] < 0)
        return;
    for (int side = 0; side < 2; side++)
        if (c->eof[side] && !c->buf[side].len && !c->shut[1 - side]) {
            shutdown(c->fd[1 - side], SHUT_WR);
            c->shut[1 - side] = true;
        }
    if (c->eof[0] && c->eof[1] && !c->buf[0].len && !c->buf[1].len) {
        s_close_fd(&c->fd[0]);
        s_close_fd(&c->fd[1]);
        c->done = true;
        self->local.closed++;
    }
}

// ---------------------------------------------------------------------------
//  The loop

static void s_publish(netproxy_t *self)
{
    size_t open = 0;
    for (size_t i = 0; i < self->nconns; i++)
        open += !self->conns[i]->done;
    self->local.open = open;
    pthread_mutex_lock(&self->lock);
    self->stats = self->local;
    self->armed = self->trigger_at != 0 || (self->arm_seq != self->arm_seen && self->arm_bytes);
    pthread_mutex_unlock(&self->lock);
}

static void *s_run(void *arg)
{
    netproxy_t *self = arg;
    struct pollfd *fds = NULL;
    size_t fds_cap = 0;
    for (;;) {
        pthread_mutex_lock(&self->lock);
        bool stop = self->stop;
        netproxy_mode_t mode = self->mode;
        if (self->mode_taken != self->mode_asked) {
            self->mode_taken = self->mode_asked;
            pthread_cond_broadcast(&self->served);
        }
        bool cut = self->cut_asked != self->cut_served;
        uint64_t cut_asked = self->cut_asked;
        if (self->arm_seq != self->arm_seen) {
            self->arm_seen = self->arm_seq;
            self->trigger_at = self->arm_bytes ? s_forwarded(&self->local) + self->arm_bytes : 0;
        }
        pthread_mutex_unlock(&self->lock);
        if (stop)
            break;
        if (cut) {
            size_t n = s_cut_all(self);
            s_reap(self);
            s_publish(self);
            pthread_mutex_lock(&self->lock);
            self->cut_result = n;
            self->cut_served = cut_asked;
            pthread_cond_broadcast(&self->served);
            pthread_mutex_unlock(&self->lock);
        }
        if (s_forwarding(mode))
            for (size_t i = 0; i < self->nconns; i++)
                if (!self->conns[i]->done && self->conns[i]->fd[1] < 0)
                    s_upstream(self, self->conns[i]);
        s_reap(self);

        size_t want = 2 + 2 * self->nconns;
        if (want > fds_cap) {
            struct pollfd *grown = realloc(fds, want * sizeof *grown);
            if (!grown) {
                struct timespec pause = { 0, 10 * 1000000L };
                nanosleep(&pause, NULL);
                continue;
            }
            fds = grown;
            fds_cap = want;
        }
        fds[0] = (struct pollfd){ self->wake[0], POLLIN, 0 };
        fds[1] = (struct pollfd){ self->listener, POLLIN, 0 };
        for (size_t i = 0; i < self->nconns; i++)
            for (int side = 0; side < 2; side++) {
                short events = s_events(self->conns[i], side, mode);
                //  A negative fd is skipped by poll (no POLLHUP either).
                fds[2 + 2 * i + (size_t) side] =
                    (struct pollfd){ events ? self->conns[i]->fd[side] : -1, events, 0 };
            }
        int rc = poll(fds, (nfds_t) want, S_POLL_MS);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc <= 0)
            continue;
        if (fds[0].revents & POLLIN) {
            unsigned char bytes[64];
            while (read(self->wake[0], bytes, sizeof bytes) > 0)
                ;
        }
        size_t nconns = self->nconns; // accepting may add some: they are polled next turn
        if (fds[1].revents & POLLIN)
            s_accept(self, mode);
        for (size_t i = 0; i < nconns && !self->fire; i++) {
            s_conn_t *c = self->conns[i];
            for (int side = 0; side < 2; side++) {
                const struct pollfd *p = &fds[2 + 2 * i + (size_t) side];
                if (p->fd >= 0)
                    s_handle(self, c, side, p->events, p->revents, mode);
            }
            s_finish(self, c, mode);
        }
        if (self->fire) {
            s_cut_all(self);
            self->fire = false;
            self->trigger_at = 0;
        }
        s_reap(self);
        s_publish(self);
    }
    for (size_t i = 0; i < self->nconns; i++)
        s_conn_reset(self->conns[i]);
    s_reap(self);
    s_publish(self);
    free(fds);
    return NULL;
}

// ---------------------------------------------------------------------------
//  The test's side

static bool s_parse_endpoint(const char *endpoint, struct sockaddr_in *addr)
{
    char host[64];
    const char *p = endpoint;
    if (strncmp(p, "tcp://", 6) != 0)
        return false;
    p += 6;
    const char *colon = strrchr(p, ':');
    if (!colon || (size_t) (colon - p) >= sizeof host)
        return false;
    memcpy(host, p, (size_t) (colon - p));
    host[colon - p] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535)
        return false;
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t) port);
    return inet_pton(AF_INET, host, &addr->sin_addr) == 1;
}

netproxy_t *netproxy_new(const char *upstream)
{
    netproxy_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->listener = -1;
    self->wake[0] = self->wake[1] = -1;
    if (!s_parse_endpoint(upstream, &self->upstream))
        goto fail;
    self->listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in here;
    memset(&here, 0, sizeof here);
    here.sin_family = AF_INET;
    here.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof here;
    if (self->listener < 0 ||
        bind(self->listener, (const struct sockaddr *) &here, sizeof here) != 0 ||
        listen(self->listener, 128) != 0 ||
        getsockname(self->listener, (struct sockaddr *) &here, &len) != 0 ||
        !s_nonblocking(self->listener))
        goto fail;
    snprintf(self->endpoint, sizeof self->endpoint, "tcp://127.0.0.1:%u",
             (unsigned) ntohs(here.sin_port));
    if (pipe(self->wake) != 0 || !s_nonblocking(self->wake[0]) || !s_nonblocking(self->wake[1]))
        goto fail;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->served, NULL);
    if (pthread_create(&self->thread, NULL, s_run, self) != 0) {
        pthread_cond_destroy(&self->served);
        pthread_mutex_destroy(&self->lock);
        goto fail;
    }
    return self;
fail:
    s_close_fd(&self->listener);
    s_close_fd(&self->wake[0]);
    s_close_fd(&self->wake[1]);
    free(self);
    return NULL;
}

void netproxy_destroy(netproxy_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    netproxy_t *self = *self_p;
    pthread_mutex_lock(&self->lock);
    self->stop = true;
    pthread_cond_broadcast(&self->served);
    pthread_mutex_unlock(&self->lock);
    s_wake(self);
    pthread_join(self->thread, NULL);
    pthread_cond_destroy(&self->served);
    pthread_mutex_destroy(&self->lock);
    s_close_fd(&self->listener);
    s_close_fd(&self->wake[0]);
    s_close_fd(&self->wake[1]);
    free(self->conns);
    free(self);
    *self_p = NULL;
}

const char *netproxy_endpoint(const netproxy_t *self)
{
    return self->endpoint;
}

void netproxy_set_mode(netproxy_t *self, netproxy_mode_t mode)
{
    pthread_mutex_lock(&self->lock);
    self->mode = mode;
    uint64_t mine = ++self->mode_asked;
    s_wake(self);
    while (self->mode_taken < mine && !self->stop)
        pthread_cond_wait(&self->served, &self->lock);
    pthread_mutex_unlock(&self->lock);
}

netproxy_mode_t netproxy_mode(netproxy_t *self)
{
    pthread_mutex_lock(&self->lock);
    netproxy_mode_t mode = self->mode;
    pthread_mutex_unlock(&self->lock);
    return mode;
}

const char *netproxy_mode_name(netproxy_mode_t mode)
{
    switch (mode) {
    case NETPROXY_PASS:
        return "pass";
    case NETPROXY_BLACKHOLE:
        return "blackhole";
    case NETPROXY_DROP:
        return "drop";
    case NETPROXY_REFUSE:
        return "refuse";
    case NETPROXY_BLACKHOLE_UP:
        return "blackhole-up";
    case NETPROXY_BLACKHOLE_DOWN:
        return "blackhole-down";
    }
    return "?";
}

size_t netproxy_cut(netproxy_t *self)
{
    pthread_mutex_lock(&self->lock);
    uint64_t mine = ++self->cut_asked;
    s_wake(self);
    while (self->cut_served < mine && !self->stop)
        pthread_cond_wait(&self->served, &self->lock);
    size_t n = self->cut_result;
    pthread_mutex_unlock(&self->lock);
    return n;
}

void netproxy_cut_after(netproxy_t *self, uint64_t bytes)
{
    pthread_mutex_lock(&self->lock);
    self->arm_bytes = bytes;
    self->arm_seq++;
    self->armed = bytes != 0;
    pthread_mutex_unlock(&self->lock);
    s_wake(self);
}

bool netproxy_cut_armed(netproxy_t *self)
{
    pthread_mutex_lock(&self->lock);
    bool armed = self->armed;
    pthread_mutex_unlock(&self->lock);
    return armed;
}

void netproxy_stats(netproxy_t *self, netproxy_stats_t *stats)
{
    pthread_mutex_lock(&self->lock);
    *stats = self->stats;
    pthread_mutex_unlock(&self->lock);
}
