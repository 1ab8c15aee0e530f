/*  broker/dirpush.c - the directory as the broker sends it. See dirpush.h.

    A generation is what one directory gives: the decoded snapshot (kept,
    from its own encoding so it owns its strings, because the next delta is
    built from it after the directory it came from is gone), its encoded
    body and the delta from the generation before. The loop reads the
    current generation; only the worker thread makes new ones, from a copy
    of the directory the loop hands it, and reads the current snapshot
    while it does; the loop swaps in the new generation once the worker is
    done with it (broker_dirpush_done). So the two never write the same
    thing, and a lock guards only the hand-over.
*/
#include "dirpush.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/dirdelta.h"
#include "proto/sign.h"

//  One directory as the worker needs it: entries whose strings live in the
//  same allocation, a serial and a time.
typedef struct {
    proto_dir_entry_t *entries;
    uint32_t nentries;
    uint64_t serial, time;
    char *strings;           // codes and names the entries point into
    proto_keywin_t *windows; // every entry's retired keys, which the entries point into
    proto_keywin_t broker_retired[PROTO_KEYWIN_MAX]; // this broker's retired keys
    uint32_t nbroker_retired;
} s_input_t;

typedef struct {
    proto_msg_t *snapshot;        // decoded; NULL before the first generation
    zmq_msg_t full;               // its encoded DIRECTORY body, shared by every send
    zmq_msg_t delta;              // DIRECTORY_DELTA from the generation before; empty if none
    uint64_t delta_base;          // serial the delta applies to, 0 = none
    size_t full_size, delta_size; // bytes of each body
    uint64_t build_us;            // how long the worker took
} s_gen_t;

struct broker_dirpush {
    const proto_identity_t *id; // borrowed: the broker's, signs every snapshot
    s_gen_t current;            // what the loop sends
    //  The hand-over, under lock.
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool started;      // the thread runs
    bool stopping;     // the thread is to end
    bool building;     // a job is with the worker
    s_input_t *job;    // the next job for the worker, or NULL
    s_input_t *queued; // a newer directory while a job is being built
    s_gen_t *done;     // the worker's result, until the loop takes it
    proto_err_t done_rc;
    int pipe[2]; // the worker writes a byte here when done
};

static void s_input_free(s_input_t **in_p)
{
    if (in_p && *in_p) {
        free((*in_p)->entries);
        free((*in_p)->strings);
        free((*in_p)->windows);
        free(*in_p);
        *in_p = NULL;
    }
}

//  Copy what a snapshot needs out of dir: O(n) memcpy, nothing signed.
static s_input_t *s_input_new(const proto_directory_t *dir, uint64_t now_ms)
{
    size_t n = proto_directory_count(dir), bytes = 0, wins = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += sizeof proto_directory_entry(dir, i)->code +
                 strlen(proto_directory_entry(dir, i)->name) + 1;
        wins += proto_directory_entry(dir, i)->retired_count;
    }
    s_input_t *in = calloc(1, sizeof *in);
    if (!in)
        return NULL;
    in->entries = calloc(n ? n : 1, sizeof *in->entries);
    in->strings = malloc(bytes ? bytes : 1);
    in->windows = calloc(wins ? wins : 1, sizeof *in->windows);
    if (!in->entries || !in->strings || !in->windows) {
        s_input_free(&in);
        return NULL;
    }
    char *at = in->strings;
    size_t wins_used = 0;
    for (size_t i = 0; i < n; i++) {
        const proto_directory_entry_t *e = proto_directory_entry(dir, i);
        proto_dir_entry_t *d = &in->entries[i];
        size_t len = strlen(e->code) + 1;
        memcpy(at, e->code, len);
        d->code = at;
        at += sizeof e->code;
        len = strlen(e->name) + 1;
        memcpy(at, e->name, len);
        d->name = at;
        at += len;
        memcpy(d->key, e->sign_pk, PROTO_KEY_LEN);
        d->state = (uint8_t) e->state;
        d->valid_from = e->valid_from > 0 ? (uint64_t) e->valid_from : 0;
        d->valid_until = e->valid_until > 0 ? (uint64_t) e->valid_until : 0;
        //  Retired keys travel with the snapshot, so agents check what was
        //  signed before a rotation against the key of its time.
        if (e->retired_count) {
            d->retired = in->windows + wins_used;
            d->nretired = (uint32_t) e->retired_count;
            memcpy(d->retired, e->retired, e->retired_count * sizeof *d->retired);
            wins_used += e->retired_count;
        }
    }
    in->nentries = (uint32_t) n;
    size_t nb = 0;
    const proto_keywin_t *mine = proto_directory_broker_retired(dir, &nb);
    if (nb)
        memcpy(in->broker_retired, mine, nb * sizeof *mine);
    in->nbroker_retired = (uint32_t) nb;
    in->serial = proto_directory_serial(dir) ? proto_directory_serial(dir) : 1;
    in->time = now_ms;
    return in;
}

static void s_gen_init(s_gen_t *gen)
{
    memset(gen, 0, sizeof *gen);
    zmq_msg_init(&gen->full);
    zmq_msg_init(&gen->delta);
}

static void s_gen_clear(s_gen_t *gen)
{
    proto_msg_destroy(&gen->snapshot);
    zmq_msg_close(&gen->full);
    zmq_msg_close(&gen->delta);
    s_gen_init(gen);
}

//  Replace dst with src, which is left empty.
static void s_gen_move(s_gen_t *dst, s_gen_t *src)
{
    s_gen_clear(dst);
    dst->snapshot = src->snapshot;
    src->snapshot = NULL;
    zmq_msg_move(&dst->full, &src->full);
    zmq_msg_move(&dst->delta, &src->delta);
    dst->delta_base = src->delta_base;
    dst->full_size = src->full_size;
    dst->delta_size = src->delta_size;
    dst->build_us = src->build_us;
    s_gen_clear(src);
}

static void s_free_bytes(void *data, void *hint)
{
    (void) hint;
    free(data);
}

//  Move buf's bytes into a ZeroMQ message that frees them when the last
//  copy has been sent.
static proto_err_t s_to_zmq(proto_buf_t *buf, zmq_msg_t *out)
{
    if (zmq_msg_init_data(out, buf->data, buf->len, s_free_bytes, NULL) != 0)
        return PROTO_ERR_NOMEM;
    proto_buf_init(buf); // the bytes belong to the message now
    return PROTO_OK;
}

//  Sign and encode the snapshot of in, and the delta from prev (may be
//  NULL) when prev has a lower serial: a new generation in *gen.
static proto_err_t s_build(const s_input_t *in, const proto_msg_t *prev, const proto_identity_t *id,
                           s_gen_t *gen)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    proto_buf_t full, delta;
    proto_buf_init(&full);
    proto_buf_init(&delta);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DIRECTORY;
    proto_directory_msg_t *d = &msg.u.directory;
    d->serial = in->serial;
    d->time = in->time;
    d->broker = proto_identity_public(id)->name;
    d->entries = in->entries;
    d->nentries = in->nentries;
    proto_keywin_t mine[PROTO_KEYWIN_MAX];
    memcpy(mine, in->broker_retired, sizeof mine);
    d->broker_retired = in->nbroker_retired ? mine : NULL;
    d->nbroker_retired = in->nbroker_retired;
    proto_err_t rc = proto_directory_sign(d, id, d->sig);
    if (!rc)
        rc = proto_msg_encode(&msg, &full, NULL);
    if (!rc)
        rc = proto_msg_decode(PROTO_KIND_DIRECTORY, full.data, full.len, &gen->snapshot, NULL);
    const proto_directory_msg_t *before = prev ? &prev->u.directory : NULL;
    bool chained = !rc && before && before->serial < in->serial;
    if (chained) {
        memset(&msg, 0, sizeof msg);
        msg.kind = PROTO_KIND_DIRECTORY_DELTA;
        rc = proto_dir_delta_build(before, &gen->snapshot->u.directory, &msg.u.delta);
        if (!rc)
            rc = proto_msg_encode(&msg, &delta, NULL);
        proto_dir_delta_release(&msg.u.delta);
    }
    if (!rc)
        rc = s_to_zmq(&full, &gen->full);
    if (!rc && chained)
        rc = s_to_zmq(&delta, &gen->delta);
    proto_buf_free(&full);
    proto_buf_free(&delta);
    if (rc) {
        s_gen_clear(gen);
        return rc;
    }
    //  A serial that did not grow gets no delta: the agents that hold it
    //  cannot tell the two snapshots apart, so they get the whole one.
    gen->delta_base = chained ? before->serial : 0;
    gen->full_size = zmq_msg_size(&gen->full);
    gen->delta_size = zmq_msg_size(&gen->delta);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int64_t us = (int64_t) (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
    gen->build_us = us > 0 ? (uint64_t) us : 0;
    return PROTO_OK;
}

//  The worker: builds one generation at a time. It reads the loop's
//  current snapshot, which the loop replaces only once the worker is done.
static void *s_worker(void *arg)
{
    broker_dirpush_t *self = arg;
    pthread_mutex_lock(&self->lock);
    while (!self->stopping) {
        if (!self->job) {
            pthread_cond_wait(&self->wake, &self->lock);
            continue;
        }
        s_input_t *in = self->job;
        self->job = NULL;
        pthread_mutex_unlock(&self->lock);
        s_gen_t *gen = malloc(sizeof *gen);
        proto_err_t rc = PROTO_ERR_NOMEM;
        if (gen) {
            s_gen_init(gen);
            rc = s_build(in, self->current.snapshot, self->id, gen);
        }
        s_input_free(&in);
        pthread_mutex_lock(&self->lock);
        self->done = gen;
        self->done_rc = rc;
        ssize_t written = write(self->pipe[1], "d", 1);
        (void) written;
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

broker_dirpush_t *broker_dirpush_new(const proto_identity_t *id)
{
    broker_dirpush_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->id = id;
    s_gen_init(&self->current);
    self->pipe[0] = self->pipe[1] = -1;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    if (pipe(self->pipe) != 0 || fcntl(self->pipe[0], F_SETFL, O_NONBLOCK) != 0 ||
        pthread_create(&self->thread, NULL, s_worker, self) != 0) {
        broker_dirpush_destroy(&self);
        return NULL;
    }
    self->started = true;
    return self;
}

void broker_dirpush_destroy(broker_dirpush_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_dirpush_t *self = *self_p;
    if (self->started) {
        pthread_mutex_lock(&self->lock);
        self->stopping = true;
        pthread_cond_signal(&self->wake);
        pthread_mutex_unlock(&self->lock);
        pthread_join(self->thread, NULL);
    }
    s_input_free(&self->job);
    s_input_free(&self->queued);
    if (self->done) {
        s_gen_clear(self->done);
        free(self->done);
    }
    s_gen_clear(&self->current);
    for (int i = 0; i < 2; i++)
        if (self->pipe[i] >= 0)
            close(self->pipe[i]);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->wake);
    free(self);
    *self_p = NULL;
}

proto_err_t broker_dirpush_update(broker_dirpush_t *self, const proto_directory_t *dir,
                                  uint64_t now_ms)
{
    pthread_mutex_lock(&self->lock);
    bool busy = self->building;
    pthread_mutex_unlock(&self->lock);
    if (busy)
        return PROTO_ERR_BUSY;
    s_input_t *in = s_input_new(dir, now_ms);
    if (!in)
        return PROTO_ERR_NOMEM;
    s_gen_t gen;
    s_gen_init(&gen);
    proto_err_t rc = s_build(in, self->current.snapshot, self->id, &gen);
    s_input_free(&in);
    if (!rc)
        s_gen_move(&self->current, &gen);
    return rc;
}

proto_err_t broker_dirpush_start(broker_dirpush_t *self, const proto_directory_t *dir,
                                 uint64_t now_ms)
{
    s_input_t *in = s_input_new(dir, now_ms);
    if (!in)
        return PROTO_ERR_NOMEM;
    pthread_mutex_lock(&self->lock);
    if (self->building) {
        //  Built after the one in hand, from the generation that one makes.
        s_input_free(&self->queued);
        self->queued = in;
    } else {
        self->job = in;
        self->building = true;
        pthread_cond_signal(&self->wake);
    }
    pthread_mutex_unlock(&self->lock);
    return PROTO_OK;
}

int broker_dirpush_fd(const broker_dirpush_t *self)
{
    return self->pipe[0];
}

proto_err_t broker_dirpush_done(broker_dirpush_t *self, uint64_t *before)
{
    char byte;
    if (read(self->pipe[0], &byte, 1) != 1)
        return PROTO_ERR_BUSY; // nothing finished
    pthread_mutex_lock(&self->lock);
    s_gen_t *gen = self->done;
    proto_err_t rc = self->done_rc;
    self->done = NULL;
    pthread_mutex_unlock(&self->lock);
    *before = broker_dirpush_serial(self);
    //  The worker is idle: the current generation is the loop's alone.
    if (!rc)
        s_gen_move(&self->current, gen);
    free(gen);
    pthread_mutex_lock(&self->lock);
    if (self->queued) {
        self->job = self->queued;
        self->queued = NULL;
        pthread_cond_signal(&self->wake);
    } else {
        self->building = false;
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}

uint64_t broker_dirpush_serial(const broker_dirpush_t *self)
{
    return self->current.snapshot ? self->current.snapshot->u.directory.serial : 0;
}

uint64_t broker_dirpush_delta_base(const broker_dirpush_t *self)
{
    return self->current.delta_base;
}

size_t broker_dirpush_snapshot_size(const broker_dirpush_t *self)
{
    return self->current.full_size;
}

size_t broker_dirpush_delta_size(const broker_dirpush_t *self)
{
    return self->current.delta_size;
}

uint64_t broker_dirpush_build_us(const broker_dirpush_t *self)
{
    return self->current.build_us;
}

bool broker_dirpush_for(broker_dirpush_t *self, uint64_t held, bool deltas, proto_kind_t *kind,
                        zmq_msg_t *body)
{
    if (!self->current.snapshot || held == broker_dirpush_serial(self))
        return false;
    bool delta = deltas && self->current.delta_base && held == self->current.delta_base;
    *kind = delta ? PROTO_KIND_DIRECTORY_DELTA : PROTO_KIND_DIRECTORY;
    zmq_msg_init(body);
    //  A reference, not a copy: ZeroMQ counts the users of the bytes.
    zmq_msg_copy(body, delta ? &self->current.delta : &self->current.full);
    return true;
}
