/*  broker/dirhold.h - a province's own agencies, held by the broker it
    dials (federation, PROTOCOL.md 16.5).

    A province keeps authority over its agencies: adds, suspensions and
    revocations start at its broker. Its link HELLO offers them
    (`dir_own`); a broker that takes no other broker's directory (the
    national one) answers READY with `dir_held`, the serial it holds of
    them, and the province sends them, signed, in the form between brokers
    (whole, or the delta from that serial).

    Owns: one held directory per province (checked against the key of its
    broker entry, serials strictly growing, kept in DATA_DIR/from-LABEL.dir)
    and their merge into the directory in force: the directory file, then
    each province's agencies whose route in that file names that province;
    an agency routed elsewhere is refused and audited, a revoked agency
    stays revoked.

    Does not: send to agents or other provinces (directory.c, dirpush.c,
    dirlink.c do, once the merge is applied), reload the file at the start
    or on SIGHUP with what is held (not yet: a reload applies the file
    alone, and the next upload of each province merges again). Loop
    thread only.
*/
#ifndef BROKER_DIRHOLD_H
#define BROKER_DIRHOLD_H

#include <stdbool.h>
#include <stdint.h>

#include "server_internal.h"

typedef struct broker_dirhold broker_dirhold_t;

//  A new one for server (borrowed). NULL if out of memory.
broker_dirhold_t *broker_dirhold_new(broker_server_t *server);

//  Free, set *self_p to NULL. Safe on NULL.
void broker_dirhold_destroy(broker_dirhold_t **self_p);

//  Does this broker take its provinces' agencies? Those that take another
//  broker's directory do not. false on NULL.
bool broker_dirhold_taking(const broker_dirhold_t *self);

//  The serial held of label's agencies, 0 if none.
uint64_t broker_dirhold_held(const broker_dirhold_t *self, const char *label);

//  DIRECTORY or DIRECTORY_DELTA (kind) with body on the link session p,
//  whose HELLO offered its agencies: checked, kept, merged and applied,
//  or refused with an ERROR, a log line and an audit record.
void broker_dirhold_message(broker_server_t *server, broker_peer_t *p, int kind, zmq_msg_t *body);

#endif
