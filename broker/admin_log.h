/*  broker/admin_log.h - truc-admin's `log head` and `log prove A B`.

    Builds the answers from the transparency log (tlog.h) into the admin
    reply's data value; admin.c owns the socket, the request and the
    command table. Hashes go out as lowercase hex, so text and JSON show
    them alike and an operator can compare them with an agent's.
*/
#ifndef BROKER_ADMIN_LOG_H
#define BROKER_ADMIN_LOG_H

#include <msgpack.h>
#include <stddef.h>

#include "proto/err.h"
#include "store.h"
#include "tlog.h"

//  The current signed tree head as a map {signer, time, time_text, size,
//  root, sig}. On failure nothing is packed and why says what went wrong.
proto_err_t broker_admin_log_head(broker_tlog_t *tlog, uint64_t now, msgpack_packer *pk, char *why,
                                  size_t whylen) PROTO_MUST_CHECK;

//  The consistency proof between sizes a and b (text, as typed) of the
//  committed log, as a map {from, to, from_root, to_root, proof: [{hash}],
//  intact}: roots as recorded when the log reached each size, the proof
//  from the stored subtrees, and whether the one leads to the other (a
//  stored record changed since breaks it). PROTO_ERR_INVALID_ARG for sizes
//  that are not numbers with a <= b, PROTO_ERR_NOT_FOUND past the log.
proto_err_t broker_admin_log_prove(broker_tlog_t *tlog, broker_store_t *store, const char *a,
                                   const char *b, msgpack_packer *pk, char *why,
                                   size_t whylen) PROTO_MUST_CHECK;

#endif
