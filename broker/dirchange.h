/*  broker/dirchange.h - what a directory reload may change, and what it did.

    The broker reloads its agency directory on SIGHUP and on truc-admin
    commands. A reload is a change of who may exchange documents, so it is
    checked against the directory in force before it applies: the serial
    only grows (agents refuse an older one, and the views would part), and
    revocation is final (a revoked agency stays in the directory, revoked).
    What a reload changes is then described agency by agency for the audit
    chain.

    The store keeps the greatest serial applied and every agency revoked,
    so a restart with an older or edited file is refused as a reload is.

    This module compares two loaded directories, and a directory with what
    the store recorded; it does not load files, audit, log or touch
    sessions (server.c does).
*/
#ifndef BROKER_DIRCHANGE_H
#define BROKER_DIRCHANGE_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/directory.h"
#include "proto/err.h"
#include "store.h"

//  May the broker move from directory old to fresh (both borrowed)?
//  PROTO_OK with *unchanged set when fresh has old's serial and exactly
//  old's entries (a reload of the same file: nothing to do). Otherwise:
//    PROTO_ERR_BAD_STATE       fresh's serial is not greater than old's
//    PROTO_ERR_AGENCY_REVOKED  an agency revoked in old is missing from
//                              fresh or not revoked there
//  with a sentence in errbuf (may be NULL) naming the serials or the agency.
proto_err_t broker_dirchange_check(const proto_directory_t *old, const proto_directory_t *fresh,
                                   bool *unchanged, char *errbuf, size_t errlen) PROTO_MUST_CHECK;

//  Called once per agency that differs between old and fresh, in code
//  order, with a short description such as "added (active)", "removed",
//  "state active -> revoked", "key changed", "name changed", "validity
//  changed" (several joined by ", "). Both strings are borrowed for the call.
typedef void(broker_dirchange_fn)(void *arg, const char *code, const char *what);

//  Describe every agency that differs between old and fresh; returns how many.
size_t broker_dirchange_each(const proto_directory_t *old, const proto_directory_t *fresh,
                             broker_dirchange_fn *fn, void *arg);

//  What the store remembers of the directories applied before, so that a
//  restart does not undo what a reload may not: the greatest serial
//  applied, and every agency ever revoked. May fresh (borrowed) be applied
//  on top of it? PROTO_ERR_BAD_STATE when its serial is smaller than the
//  one recorded, PROTO_ERR_AGENCY_REVOKED when it lists an agency recorded
//  as revoked in any other state, PROTO_ERR_STORE when the store cannot be
//  read; a sentence in errbuf (may be NULL). Reads in the open write
//  transaction, or in a read transaction of its own.
proto_err_t broker_dirchange_check_store(broker_store_t *store, const proto_directory_t *fresh,
                                         char *errbuf, size_t errlen) PROTO_MUST_CHECK;

//  Record dir (borrowed) as applied: its serial, and its revoked agencies.
//  Needs the open write transaction.
proto_err_t broker_dirchange_record(broker_store_t *store,
                                    const proto_directory_t *dir) PROTO_MUST_CHECK;

#endif
