/*  proto/store.h - a small durable key-value layer over LMDB for the daemons.

    Owns one LMDB environment in DIR/store and the lock file DIR/lock (flock,
    held while open: two processes can never share a store; a standby waits
    for it with proto_store_lease_wait). Named tables,
    one write transaction at a time on the opening thread, full sync on
    commit, nested transactions for items that may fail alone, and ordered
    scans. Records are opaque bytes; callers choose their layouts.

    Values returned by pointer point into LMDB's map and stay valid only
    until the transaction they were read in ends.
*/
#ifndef PROTO_STORE_H
#define PROTO_STORE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct proto_store proto_store_t;

//  Open (creating) the store in dir with named tables (at most 32) and a
//  map of map_size bytes. NULL with the reason in errbuf when dir cannot be
//  created or locked (another process holds it) or LMDB fails. The names are
//  borrowed and must outlive the store.
proto_store_t *proto_store_open(const char *dir, uint64_t map_size, const char *const *tables,
                                size_t ntables, char *errbuf, size_t errlen);
void proto_store_destroy(proto_store_t **self_p);

//  A standby's wait for the lock of dir (created if missing), the lease of
//  whoever may open the store there: try the lock every poll_ms (> 0)
//  until it is free. Logs once, at info level, that it is standby and the
//  pid the lock file names (event=standby), and once that it took the
//  lease (event=lease_acquired). Opens no store and nothing else. The
//  lease is kept for this process's next proto_store_open of dir, which
//  takes it over without letting go of the lock in between.
//  PROTO_OK with the lease held; PROTO_ERR_BUSY when *stop (may be NULL)
//  became non-zero first, checked after every try (a signal handler sets
//  it; the signal also cuts the sleep short); PROTO_ERR_IO when the lock
//  file cannot be made, PROTO_ERR_SYSTEM when the file system refuses to
//  lock it (ENOLCK), PROTO_ERR_INVALID_ARG when a lease is held already.
//  The reason in errbuf. One lease per process; not thread-safe (a
//  daemon's start-up calls it before any thread runs).
proto_err_t proto_store_lease_wait(const char *dir, uint64_t poll_ms,
                                   const volatile sig_atomic_t *stop, char *errbuf,
                                   size_t errlen) PROTO_MUST_CHECK;
//  Let go of a lease proto_store_open has not taken over. Safe without one.
void proto_store_lease_release(void);

//  Transactions: begin is a no-op when a write transaction is open.
//  commit is durable; on failure everything since begin is gone and the
//  result is PROTO_ERR_STORE_FULL (map or disk full: ENOSPC, EDQUOT, or
//  LMDB's EIO for a short write on a file system out of space) or
//  PROTO_ERR_STORE.
proto_err_t proto_store_begin(proto_store_t *self) PROTO_MUST_CHECK;
proto_err_t proto_store_commit(proto_store_t *self) PROTO_MUST_CHECK;
void proto_store_abort(proto_store_t *self);
bool proto_store_writing(const proto_store_t *self);
proto_err_t proto_store_nest(proto_store_t *self) PROTO_MUST_CHECK;
proto_err_t proto_store_unnest(proto_store_t *self, bool keep) PROTO_MUST_CHECK;
//  A read-only transaction (when no write transaction is open).
proto_err_t proto_store_read_begin(proto_store_t *self) PROTO_MUST_CHECK;
void proto_store_read_end(proto_store_t *self);

//  Table operations in the open transaction. get: PROTO_ERR_NOT_FOUND when
//  absent. del of an absent key is PROTO_OK.
proto_err_t proto_store_get(proto_store_t *self, int table, const void *key, size_t klen,
                            const void **value, size_t *vlen) PROTO_MUST_CHECK;
proto_err_t proto_store_put(proto_store_t *self, int table, const void *key, size_t klen,
                            const void *value, size_t vlen) PROTO_MUST_CHECK;
//  Reserve vlen bytes for key and return where to write them (no copy).
proto_err_t proto_store_reserve(proto_store_t *self, int table, const void *key, size_t klen,
                                size_t vlen, void **where) PROTO_MUST_CHECK;
proto_err_t proto_store_del(proto_store_t *self, int table, const void *key,
                            size_t klen) PROTO_MUST_CHECK;

//  Visit keys >= from (NULL: from the first) in order while fn returns
//  true. Returns the number visited. fn must not change the table.
typedef bool(proto_store_fn)(void *arg, const void *key, size_t klen, const void *value,
                             size_t vlen);
size_t proto_store_scan(proto_store_t *self, int table, const void *from, size_t flen,
                        proto_store_fn *fn, void *arg);
//  Number of entries in a table.
size_t proto_store_count(proto_store_t *self, int table);

//  True when the file system holding the store has less than 1 MiB free
//  for this process (a write may fail for want of space).
bool proto_store_disk_low(const proto_store_t *self);

//  Bytes in use in the map, and the map size.
void proto_store_usage(proto_store_t *self, uint64_t *used, uint64_t *size);

//  A consistent, compacted copy of the store (LMDB's copy API) into a new
//  file at path, made while writers go on, created 0600 whatever the umask
//  and fsynced before this returns. PROTO_ERR_EXISTS if path exists,
//  PROTO_ERR_STORE_FULL when the disk fills, PROTO_ERR_IO else; a failed
//  copy leaves a partial file at path for the caller to remove. Safe from
//  another thread.
proto_err_t proto_store_copy_file(proto_store_t *self, const char *path, char *errbuf,
                                  size_t errlen) PROTO_MUST_CHECK;

//  What an LMDB data file's own meta pages say about it.
typedef struct {
    uint64_t file_size; // bytes on disk
    uint64_t psize;     // page size the meta pages give
    uint64_t pages;     // pages the newer meta page says are in use (0: a new file)
    uint64_t txnid;     // its transaction id
} proto_store_file_info_t;

//  Check an LMDB data file against LMDB's own size information before
//  anything maps it: both meta pages carry LMDB's magic and version and the
//  same sane page size, and the file holds every page the meta pages say
//  are in use. LMDB itself trusts these fields: a wrong page size makes it
//  read the wrong pages (an empty-looking store), a short file makes it
//  fault (SIGBUS) on the first read past the end. PROTO_OK also for a
//  missing or empty file (LMDB starts it afresh; info->pages is 0),
//  PROTO_ERR_STORE_DAMAGED with the reason in errbuf, PROTO_ERR_IO when it
//  cannot be read. info may be NULL.
proto_err_t proto_store_file_check(const char *path, proto_store_file_info_t *info, char *errbuf,
                                   size_t errlen) PROTO_MUST_CHECK;

//  Read one value of a table from an LMDB data file that no process has
//  open (a backup), read-only and without a lock file, after
//  proto_store_file_check. Copies at most cap bytes into out and sets *len
//  to the value's size. PROTO_ERR_NOT_FOUND when the table or key is
//  absent, PROTO_ERR_STORE_DAMAGED or PROTO_ERR_STORE else.
proto_err_t proto_store_file_get(const char *path, const char *table, const void *key, size_t klen,
                                 void *out, size_t cap, size_t *len) PROTO_MUST_CHECK;

//  A persistent counter kept in table: returns the next value (1, 2, ...)
//  and stores it in the open write transaction; 0 on failure.
uint64_t proto_store_next(proto_store_t *self, int table, const char *name);

//  Big-endian 64-bit for keys that sort numerically.
void proto_store_put64(uint8_t out[8], uint64_t value);
uint64_t proto_store_get64(const uint8_t in[8]);

#ifdef __cplusplus
}
#endif
#endif
