/*  broker/anchor.h - the broker's memory of which store it had.

    The anchor is a small file, DATA_DIR/anchor, outside the LMDB data file:
    the length and head hash of the audit chain as of the last durable
    commit group. A store that is behind it (an emptied store, a store whose
    meta page LMDB misreads, an older data.mdb put back by hand) is refused
    at start-up instead of passing as good, and a restore numbers its
    `restored` entry above it, so no audit sequence number (which receipts
    cite) is ever given twice.

    Layout: two fixed 512-byte slots, each holding one record (magic,
    generation, length, head, BLAKE2b-256 of those). Updates overwrite the
    older slot in place and fdatasync; the newest valid slot counts. A torn
    write spoils at most the slot being written, and the other one still
    names a state the store has reached, so a torn write can never make the
    broker refuse a good store. The file is created whole (temporary file,
    fsync, rename, directory fsync).

    Owns the anchor file only; the store is broker/store.c's.
*/
#ifndef BROKER_ANCHOR_H
#define BROKER_ANCHOR_H

#include <stddef.h>
#include <stdint.h>

#include "proto/err.h"
#include "store.h"

typedef struct broker_anchor broker_anchor_t;

//  What an anchor records.
typedef struct {
    uint64_t generation;          // grows by one per write
    uint64_t length;              // the audit chain's highest number
    uint8_t head[PROTO_HASH_LEN]; // the hash of that entry (zeros for 0)
} broker_anchor_rec_t;

//  Read DATA_DIR/anchor. PROTO_OK and *rec; PROTO_ERR_NOT_FOUND when there
//  is no anchor; PROTO_ERR_STORE_DAMAGED (reason in errbuf) when neither
//  slot holds a valid record.
proto_err_t broker_anchor_read(const char *data_dir, broker_anchor_rec_t *rec, char *errbuf,
                               size_t errlen) PROTO_MUST_CHECK;

//  Replace DATA_DIR/anchor atomically with one record (truc-broker restore).
proto_err_t broker_anchor_write_new(const char *data_dir, const broker_anchor_rec_t *rec,
                                    char *errbuf, size_t errlen) PROTO_MUST_CHECK;

//  Open the broker's store the way the broker must: the data file checked
//  against LMDB's meta pages before it is mapped, the store opened and
//  locked, its audit chain compared with the anchor. The anchor is then
//  brought up to the store and kept there: after every durable commit that
//  moves the chain (broker_store_on_commit). *anchor_p receives the anchor,
//  which must outlive the store: destroy the store first.
//
//  A store ahead of its anchor is fine (a crash between LMDB's commit and
//  the anchor's write) if it extends the anchored chain. No anchor at all
//  (a new broker, or one from before anchors) is started from the store.
//  NULL with the reason in errbuf and *why: PROTO_ERR_STORE_DAMAGED (the
//  data file or the anchor is damaged), PROTO_ERR_STORE_BEHIND (the store is
//  older than the anchor, or another chain), or what opening failed with.
broker_store_t *broker_anchor_open_store(const char *data_dir, uint64_t map_size,
                                         broker_anchor_t **anchor_p, proto_err_t *why, char *errbuf,
                                         size_t errlen);

//  Close the anchor file and set *self_p to NULL. Safe on NULL.
void broker_anchor_destroy(broker_anchor_t **self_p);

#endif
