/*  broker/dirpush.c - the directory as the broker sends it. See dirpush.h.

    The snapshot is kept decoded (from its own encoding, so it owns its
    strings) because the next delta is built from it after the directory
    it came from is gone.
*/
#include "dirpush.h"

#include <stdlib.h>
#include <string.h>

#include "proto/dirdelta.h"
#include "proto/sign.h"

struct broker_dirpush {
    proto_msg_t *snapshot;        // the current snapshot, decoded; NULL before the first update
    zmq_msg_t full;               // its encoded DIRECTORY body, shared by every send
    zmq_msg_t delta;              // DIRECTORY_DELTA from the snapshot before; empty if none
    uint64_t delta_base;          // serial the delta applies to, 0 = none
    size_t full_size, delta_size; // bytes of each body
};

broker_dirpush_t *broker_dirpush_new(void)
{
    broker_dirpush_t *self = calloc(1, sizeof *self);
    if (self) {
        zmq_msg_init(&self->full);
        zmq_msg_init(&self->delta);
    }
    return self;
}

void broker_dirpush_destroy(broker_dirpush_t **self_p)
{
    if (self_p && *self_p) {
        broker_dirpush_t *self = *self_p;
        proto_msg_destroy(&self->snapshot);
        zmq_msg_close(&self->full);
        zmq_msg_close(&self->delta);
        free(self);
        *self_p = NULL;
    }
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

static proto_err_t s_snapshot_encode(const proto_directory_t *dir, const proto_identity_t *id,
                                     uint64_t now_ms, proto_buf_t *out)
{
    size_t n = proto_directory_count(dir);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DIRECTORY;
    proto_directory_msg_t *d = &msg.u.directory;
    d->serial = proto_directory_serial(dir);
    if (d->serial == 0)
        d->serial = 1;
    d->time = now_ms;
    d->broker = proto_identity_public(id)->name;
    d->entries = calloc(n ? n : 1, sizeof *d->entries);
    if (!d->entries)
        return PROTO_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const proto_directory_entry_t *e = proto_directory_entry(dir, i);
        d->entries[i].code = e->code;
        d->entries[i].name = e->name;
        memcpy(d->entries[i].key, e->sign_pk, PROTO_KEY_LEN);
        d->entries[i].state = (uint8_t) e->state;
        d->entries[i].valid_from = e->valid_from > 0 ? (uint64_t) e->valid_from : 0;
        d->entries[i].valid_until = e->valid_until > 0 ? (uint64_t) e->valid_until : 0;
    }
    d->nentries = (uint32_t) n;
    proto_err_t rc = proto_directory_sign(d, id, d->sig);
    if (!rc)
        rc = proto_msg_encode(&msg, out, NULL);
    free(d->entries);
    return rc;
}

proto_err_t broker_dirpush_update(broker_dirpush_t *self, const proto_directory_t *dir,
                                  const proto_identity_t *id, uint64_t now_ms)
{
    proto_buf_t full, delta;
    proto_buf_init(&full);
    proto_buf_init(&delta);
    proto_msg_t *snapshot = NULL;
    proto_err_t rc = s_snapshot_encode(dir, id, now_ms, &full);
    if (!rc)
        rc = proto_msg_decode(PROTO_KIND_DIRECTORY, full.data, full.len, &snapshot, NULL);
    const proto_directory_msg_t *before = self->snapshot ? &self->snapshot->u.directory : NULL;
    bool chained = !rc && before && before->serial < snapshot->u.directory.serial;
    if (chained) {
        proto_msg_t msg;
        memset(&msg, 0, sizeof msg);
        msg.kind = PROTO_KIND_DIRECTORY_DELTA;
        rc = proto_dir_delta_build(before, &snapshot->u.directory, &msg.u.delta);
        if (!rc)
            rc = proto_msg_encode(&msg, &delta, NULL);
        proto_dir_delta_release(&msg.u.delta);
    }
    zmq_msg_t full_msg, delta_msg;
    zmq_msg_init(&delta_msg);
    if (!rc)
        rc = s_to_zmq(&full, &full_msg);
    if (!rc && chained && (rc = s_to_zmq(&delta, &delta_msg)) != PROTO_OK)
        zmq_msg_close(&full_msg);
    if (rc) {
        proto_buf_free(&full);
        proto_buf_free(&delta);
        proto_msg_destroy(&snapshot);
        return rc;
    }
    //  A serial that did not grow gets no delta: the agents that hold it
    //  cannot tell the two snapshots apart, so they get the whole one.
    self->delta_base = chained ? before->serial : 0;
    self->full_size = zmq_msg_size(&full_msg);
    self->delta_size = zmq_msg_size(&delta_msg);
    proto_msg_destroy(&self->snapshot);
    self->snapshot = snapshot;
    //  zmq_msg_move releases the destination's reference first.
    zmq_msg_move(&self->full, &full_msg);
    zmq_msg_move(&self->delta, &delta_msg);
    return PROTO_OK;
}

uint64_t broker_dirpush_serial(const broker_dirpush_t *self)
{
    return self->snapshot ? self->snapshot->u.directory.serial : 0;
}

uint64_t broker_dirpush_delta_base(const broker_dirpush_t *self)
{
    return self->delta_base;
}

size_t broker_dirpush_snapshot_size(const broker_dirpush_t *self)
{
    return self->full_size;
}

size_t broker_dirpush_delta_size(const broker_dirpush_t *self)
{
    return self->delta_size;
}

bool broker_dirpush_for(broker_dirpush_t *self, uint64_t held, bool deltas, proto_kind_t *kind,
                        zmq_msg_t *body)
{
    if (!self->snapshot || held == broker_dirpush_serial(self))
        return false;
    bool delta = deltas && self->delta_base && held == self->delta_base;
    *kind = delta ? PROTO_KIND_DIRECTORY_DELTA : PROTO_KIND_DIRECTORY;
    zmq_msg_init(body);
    //  A reference, not a copy: ZeroMQ counts the users of the bytes.
    zmq_msg_copy(body, delta ? &self->delta : &self->full);
    return true;
}
