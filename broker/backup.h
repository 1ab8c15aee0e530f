/*  broker/backup.h - backups of the broker's store: writing one while the
    broker runs, checking one, and putting one back while it is stopped.

    A backup is a directory holding data.mdb (LMDB's compacting copy) and a
    small text manifest (the file's size, the audit chain's length and head,
    the time). The copy is written as data.mdb.tmp, fsynced, checked
    against LMDB's own size information, and renamed to data.mdb only when
    complete: a backup interrupted at any point leaves nothing at the final
    name. Files are 0600 whatever the umask.

    Restoring is an offline step (truc-broker restore): the backup is
    checked, staged beside the store, given a `restored` audit entry
    numbered above everything the broker ever issued (its anchor), and
    swapped in; the replaced store is kept, not deleted.
*/
#ifndef BROKER_BACKUP_H
#define BROKER_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "proto/err.h"
#include "store.h"

//  What a backup holds, from its data file (and its manifest).
typedef struct {
    uint64_t size;                // bytes of data.mdb
    uint64_t length;              // the audit chain's highest number
    uint8_t head[PROTO_HASH_LEN]; // its head hash
} broker_backup_info_t;

//  Write a backup of store into dir (created 0700 if missing; it must not
//  hold a data.mdb yet). Runs on its own thread while the loop goes on.
//  PROTO_OK and *info; PROTO_ERR_EXISTS, PROTO_ERR_STORE_FULL,
//  PROTO_ERR_STORE_DAMAGED (the copy did not check out), PROTO_ERR_IO with
//  the reason in errbuf. Nothing is left at dir/data.mdb on failure.
proto_err_t broker_backup_write(broker_store_t *store, const char *dir, broker_backup_info_t *info,
                                char *errbuf, size_t errlen) PROTO_MUST_CHECK;

//  Check a backup: from is its directory or its data.mdb. The file against
//  LMDB's meta pages, its audit chain readable, and the manifest (when
//  there is one) agreeing with it. *file gets the data file's path.
proto_err_t broker_backup_check(const char *from, char *file, size_t file_len,
                                broker_backup_info_t *info, char *errbuf,
                                size_t errlen) PROTO_MUST_CHECK;

//  Put the backup `from` in place of the store in data_dir; the broker
//  must be stopped (its lock is taken). Appends a `restored` entry
//  numbered above both the backup's chain and the anchor, swaps the stores
//  (the old one is renamed DATA_DIR/store.replaced-TIME) and rewrites the
//  anchor. report gets a line for the operator. PROTO_ERR_EXISTS when the
//  broker runs, PROTO_ERR_STORE_DAMAGED for a bad backup or anchor, other
//  codes for I/O; errbuf says why.
proto_err_t broker_backup_restore(const char *data_dir, uint64_t map_size, const char *from,
                                  char *report, size_t report_len, char *errbuf,
                                  size_t errlen) PROTO_MUST_CHECK;

#endif
