/*  broker/stuck.h - the documents that have waited longest for a recipient.

    Owns: a bounded walk of every agency's queue for `truc-admin stuck` and
    the console's stuck page: at most BROKER_STUCK_SCAN entries per agency
    are read, so a large backlog never stalls the loop, and the oldest
    `max` documents accepted before a bound are kept.

    Does not: open a transaction (the caller holds a read or the write one)
    or format anything (admin.c packs the answer).
*/
#ifndef BROKER_STUCK_H
#define BROKER_STUCK_H

#include <stddef.h>
#include <stdint.h>

#include "proto/directory.h"
#include "store.h"

#define BROKER_STUCK_SCAN 1000 // queue entries read per agency

typedef struct {
    char recipient[PROTO_AGENCY_CODE_LEN + 1];
    proto_id_t id;
    broker_doc_t doc;
} broker_stuck_t;

//  Fill rows (room for max) with the documents accepted before `before`
//  (wall ms) still waiting for a recipient of dir, oldest first. Returns
//  how many.
size_t broker_stuck_find(broker_store_t *store, const proto_directory_t *dir, uint64_t before,
                         broker_stuck_t *rows, size_t max);

#endif
