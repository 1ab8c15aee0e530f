/*  broker/dirpush.h - the directory as the broker sends it: the signed
    snapshot and the delta from the snapshot before, each built once.

    Owns: the encoded DIRECTORY body of the current directory, the encoded
    DIRECTORY_DELTA from the previous snapshot to it (when there was one),
    and the decoded current snapshot the next delta is built from. Both
    bodies live in ZeroMQ messages whose bytes are reference-counted: every
    session gets a zmq_msg_copy of the same bytes, so a change pushed to a
    thousand sessions costs one body, not a thousand copies queued in the
    sessions' pipes.

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

//  An empty one: no snapshot yet. NULL if out of memory.
broker_dirpush_t *broker_dirpush_new(void);

//  Destroy, set *self_p to NULL. Messages already handed out stay valid
//  until ZeroMQ has sent them. Safe on NULL.
void broker_dirpush_destroy(broker_dirpush_t **self_p);

//  Make dir the current directory: sign its snapshot (serial at least 1,
//  time now_ms) with the broker identity id and, when the previous
//  snapshot has a lower serial, the delta from it. Both are borrowed. On
//  failure nothing changes. PROTO_ERR_NOMEM, or what signing and encoding
//  return.
proto_err_t broker_dirpush_update(broker_dirpush_t *self, const proto_directory_t *dir,
                                  const proto_identity_t *id, uint64_t now_ms) PROTO_MUST_CHECK;

//  Serial of the current snapshot (0 before the first update).
uint64_t broker_dirpush_serial(const broker_dirpush_t *self);

//  Serial the current delta applies to, 0 if there is none.
uint64_t broker_dirpush_delta_base(const broker_dirpush_t *self);

//  Bytes of the current snapshot's body and of the delta's (0 if none).
size_t broker_dirpush_snapshot_size(const broker_dirpush_t *self);
size_t broker_dirpush_delta_size(const broker_dirpush_t *self);

//  What a session whose agent holds serial `held` (0: none) needs, given
//  whether it applies deltas: false if nothing (it is current); else true
//  with *kind set and *body initialised to a new reference to the shared
//  bytes, which the caller sends (zmq_msg_send) or closes.
bool broker_dirpush_for(broker_dirpush_t *self, uint64_t held, bool deltas, proto_kind_t *kind,
                        zmq_msg_t *body);

#endif
