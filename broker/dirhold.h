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
    dirlink.c do, once the merge is applied). Loop thread only.
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

//  Does this broker take the agencies of the broker labelled label? From
//  every link but the one it takes its directory from (network.
//  directory_from): a broker in the middle of a chain holds the parts of
//  those below it. false on NULL.
bool broker_dirhold_taking(const broker_dirhold_t *self, const char *label);

//  The entry of code in a part held, NULL if none holds it.
const proto_dir_entry_t *broker_dirhold_find(const broker_dirhold_t *self, const char *code);

//  Merge every part held into eff (no audit): for dirlink.c, which makes
//  the directory in force of a broker in the middle of a chain from its
//  file, the directory from above and these. false if it could not be
//  done (logged).
bool broker_dirhold_merge(broker_server_t *server, proto_directory_t *eff);

//  The serial held of label's agencies, 0 if none.
uint64_t broker_dirhold_held(const broker_dirhold_t *self, const char *label);

//  At the start, once the store is open, on a broker that takes no other
//  broker's directory: the parts held (DATA_DIR/from-LABEL.dir, checked
//  again) merged into the directory file, the result made the directory
//  in force, numbered past what the store recorded. A part or the file
//  older than the serial the store recorded of it (broker_dirhold_record)
//  is a rollback: refused. On failure errbuf says why and the broker does
//  not start.
proto_err_t broker_dirhold_open(broker_server_t *server, char *errbuf,
                                size_t errlen) PROTO_MUST_CHECK;

//  In the write transaction: raise the store's marks to the serials of the
//  directory file merged and of each part held, which broker_dirhold_open
//  holds the files to at the next start. PROTO_OK when nothing is held.
proto_err_t broker_dirhold_record(broker_server_t *server) PROTO_MUST_CHECK;

//  Does it hold any province's part? false on NULL.
bool broker_dirhold_holding(const broker_dirhold_t *self);

//  A directory file reload on a broker that holds provinces' parts: the
//  file's own serial must grow past the file applied before and its
//  revocations stay, then the parts are merged in and it is applied.
proto_err_t broker_dirhold_reload(broker_server_t *server, char *errbuf, size_t errlen);

//  DIRECTORY or DIRECTORY_DELTA (kind) with body on the link session p,
//  whose HELLO offered its agencies: checked, kept, merged and applied,
//  or refused with an ERROR, a log line and an audit record.
void broker_dirhold_message(broker_server_t *server, broker_peer_t *p, int kind, zmq_msg_t *body);

#endif
