/*  broker/dirlink.h - the directory between linked brokers (federation,
    PROTOCOL.md 16.5).

    A broker whose network.directory_from names one of its links (a
    province, dialing its national broker) asks in its link HELLO for that
    broker's directory: `dir_deltas` set, `dir_serial` the serial it holds
    of it. The other broker sends its signed directory in the form between
    brokers (homes and broker entries): whole when that serial is not the
    one just before its own, else the DIRECTORY_DELTA from it; and again on
    every change, to every link that asked.

    Owns, on the sending side: that form of the directory in force, signed,
    and the delta from the one before, built once per serial. On the
    taking side: the signed directory held of the other broker (checked
    against the key of its broker entry, serials strictly growing, kept in
    DATA_DIR/upstream.dir so a restart needs no link), the directory file
    as last applied, and the merge of the two into the directory in force:
    agencies homed elsewhere come from the other broker, agencies homed
    here stay this broker's (an attempt to change one is refused and
    audited), a revoked agency stays revoked, and the result is numbered
    by this broker (greater than any serial it had in force).

    Does not: send to agents (directory.c and dirpush.c do, with deltas),
    dial or reset links (link.c), decide what a file reload may change
    (dirchange.c). Loop thread only.
*/
#ifndef BROKER_DIRLINK_H
#define BROKER_DIRLINK_H

#include <stdbool.h>
#include <stdint.h>

#include "server_internal.h"

typedef struct broker_dirlink broker_dirlink_t;

//  A new one for server (borrowed), taking the directory from
//  config->directory_from when it is set. NULL if out of memory.
broker_dirlink_t *broker_dirlink_new(broker_server_t *server);

//  Free, set *self_p to NULL. Safe on NULL.
void broker_dirlink_destroy(broker_dirlink_t **self_p);

//  Does this broker take another's directory (network.directory_from)?
//  false on NULL.
bool broker_dirlink_taking(const broker_dirlink_t *self);

//  The label it takes it from ("" when none), and the serial it holds of
//  it (0: none), for the link's HELLO.
const char *broker_dirlink_from(const broker_dirlink_t *self);
uint64_t broker_dirlink_held(const broker_dirlink_t *self);

//  At the start, once the store is open: read the directory file again
//  (kept as text), the directory held of the other broker
//  (DATA_DIR/upstream.dir, checked again), merge them and make the result
//  the directory in force, numbered after what the store recorded. On
//  failure errbuf says why and the broker does not start.
proto_err_t broker_dirlink_open(broker_server_t *server, char *errbuf,
                                size_t errlen) PROTO_MUST_CHECK;

//  Record in the open write transaction what the directory in force was
//  made of (the file's serial and the other broker's).
proto_err_t broker_dirlink_record(broker_server_t *server) PROTO_MUST_CHECK;

//  A directory file reload on a broker that takes another's directory:
//  the file's own serial must grow and its revocations stay, then it is
//  merged with what is held and applied (broker_directory_apply).
proto_err_t broker_dirlink_reload(broker_server_t *server, char *errbuf, size_t errlen);

//  Sending side: the link session p asked for this broker's directory
//  (its HELLO's dir_deltas); it holds serial held of it (0: none; at
//  READY its HELLO's dir_serial, later p->dir_held). Sends nothing, the
//  delta, or the whole, and sets p->dir_held to what it then holds.
void broker_dirlink_push(broker_server_t *server, broker_peer_t *p, uint64_t held);

//  Sending side, the other way: the link session p says in READY that its
//  broker takes this one's own agencies (p->own_taken) and holds serial
//  p->own_held of them. Sends the directory in force reduced to the
//  agencies homed here, without broker entries: nothing, the delta, or
//  the whole, and sets p->own_held.
void broker_dirlink_push_own(broker_server_t *server, broker_peer_t *p);

//  Check a decoded DIRECTORY from the broker labelled label: the form
//  between brokers, signed by label with key (NULL: none known), its
//  serial greater than floor. PROTO_ERR_VALUE, _SENDER_MISMATCH,
//  _BAD_SIGNATURE or _BAD_STATE with why; PROTO_OK.
proto_err_t broker_dirlink_check(const proto_directory_msg_t *d, const char *label,
                                 const uint8_t *key, uint64_t floor, char *why,
                                 size_t len) PROTO_MUST_CHECK;

//  A directory entry as the wire form u says (borrowing its name and
//  retired keys), home named home; for a merge by proto_directory_put_many.
void broker_dirlink_entry(proto_directory_entry_t *e, const proto_dir_entry_t *u, const char *home);

//  The entry for code in a decoded directory (sorted by code), or NULL.
const proto_dir_entry_t *broker_dirlink_find(const proto_msg_t *msg, const char *code);

//  On a broker that takes a directory: its file merged with the directory
//  from above, unnumbered and not audited; what a broker in the middle of
//  a chain merges the parts it holds into (dirhold.c). NULL if out of
//  memory.
proto_directory_t *broker_dirlink_base(broker_server_t *server);

//  Did the sender change entry u since the directory it sent before (prev,
//  NULL: none)? So that a refusal is audited once, not on every change.
bool broker_dirlink_changed(const proto_msg_t *prev, const proto_dir_entry_t *u);

//  Taking side: DIRECTORY or DIRECTORY_DELTA (kind) with body on the link
//  session p. Checked, merged and applied, or refused with an ERROR to the
//  other broker, a log line and an audit record.
void broker_dirlink_message(broker_server_t *server, broker_peer_t *p, int kind, zmq_msg_t *body);

#endif
