/*  broker/dirpush.h - the directory as the broker sends it: the signed
    snapshot and the delta from the snapshot before, each built once.

    Owns: the encoded DIRECTORY body of the current directory, the encoded
    DIRECTORY_DELTA from the previous snapshot to it (when there was one),
    the decoded current snapshot the next delta is built from, and the
    worker thread that signs and encodes them, so that a change of a
    national directory (tens of thousands of agencies: tens of ms) does not
    hold the loop. Both bodies live in ZeroMQ messages whose bytes are
    reference-counted: every session gets a zmq_msg_copy of the same bytes,
    so a change pushed to a thousand sessions costs one body, not a
    thousand copies queued in the sessions' pipes.

    Does not: send, decide who needs what beyond the serial an agent holds,
    read the directory file, or log.
*/
#ifndef BROKER_DIRPUSH_H
#define BROKER_DIRPUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "proto/directory.h"
#include "proto/err.h"
#include "proto/identity.h"
#include "proto/msg.h"

typedef struct broker_dirpush broker_dirpush_t;

//  An empty one (no snapshot yet) whose snapshots the broker identity id
//  signs (borrowed: it must outlive this), with its worker thread
//  started. NULL if out of memory or no thread could start.
broker_dirpush_t *broker_dirpush_new(const proto_identity_t *id);

//  Stop the worker, destroy, set *self_p to NULL. Messages already handed
//  out stay valid until ZeroMQ has sent them. Safe on NULL.
void broker_dirpush_destroy(broker_dirpush_t **self_p);

//  Make dir (borrowed) the current directory now, on the caller's thread:
//  sign its snapshot (serial at least 1, time now_ms) and, when the current
//  snapshot has a lower serial, the delta from it. For the start, before
//  sessions exist. On failure nothing changes: PROTO_ERR_BUSY if the
//  worker is building, PROTO_ERR_NOMEM, or what signing and encoding
//  return.
proto_err_t broker_dirpush_update(broker_dirpush_t *self, const proto_directory_t *dir,
                                  uint64_t now_ms) PROTO_MUST_CHECK;

//  The same off the caller's thread: copy what the snapshot needs from dir
//  (borrowed; O(n), nothing signed) and hand it to the worker. Until it is
//  done the current snapshot and delta stay what they were; a directory
//  given while one is being built is built next (only the newest). Returns
//  PROTO_ERR_NOMEM if the copy failed.
proto_err_t broker_dirpush_start(broker_dirpush_t *self, const proto_directory_t *dir,
                                 uint64_t now_ms) PROTO_MUST_CHECK;

//  Readable (one byte) when the worker has finished a directory: poll it.
int broker_dirpush_fd(const broker_dirpush_t *self);

//  Take what the worker finished: PROTO_OK, and the new snapshot and delta
//  are current, *before the serial that was current until now (every
//  session in READY holds it); PROTO_ERR_BUSY if nothing was finished; the
//  worker's error if signing or encoding failed (nothing changed). The
//  next queued directory, if any, goes to the worker.
proto_err_t broker_dirpush_done(broker_dirpush_t *self, uint64_t *before) PROTO_MUST_CHECK;

//  Serial of the current snapshot (0 before the first update).
uint64_t broker_dirpush_serial(const broker_dirpush_t *self);

//  Serial the current delta applies to, 0 if there is none.
uint64_t broker_dirpush_delta_base(const broker_dirpush_t *self);

//  Bytes of the current snapshot's body and of the delta's (0 if none).
size_t broker_dirpush_snapshot_size(const broker_dirpush_t *self);
size_t broker_dirpush_delta_size(const broker_dirpush_t *self);

//  How long building the current snapshot and delta took, µs.
uint64_t broker_dirpush_build_us(const broker_dirpush_t *self);

//  What a session whose agent holds serial `held` (0: none) needs, given
//  whether it applies deltas: false if nothing (it is current); else true
//  with *kind set and *body initialised to a new reference to the shared
//  bytes, which the caller sends (zmq_msg_send) or closes.
bool broker_dirpush_for(broker_dirpush_t *self, uint64_t held, bool deltas, proto_kind_t *kind,
                        zmq_msg_t *body);

#endif
