/*  store.c - LMDB environment, lock, transactions and ordered scans, and
    a standby's wait for the lock (the lease). */
#include "proto/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "proto/log.h"

#define KV_MAX_TABLES 32

struct proto_store {
    MDB_env *env;
    MDB_dbi dbi[KV_MAX_TABLES];
    size_t ntables;
    MDB_txn *txn;
    MDB_txn *outer; // the write transaction while a nested one is open
    bool writing;
    int lock_fd;
};

//  Less free space than this on the store's file system, after a write
//  failed, means the write failed for want of space.
#define KV_NO_SPACE (1u << 20)

//  Is the file system holding the store (nearly) out of space?
static bool s_out_of_space(const proto_store_t *self, uint64_t *avail)
{
    int fd = -1;
    struct statvfs fs;
    *avail = 0;
    if (!self || !self->env || mdb_env_get_fd(self->env, &fd) != 0 || fd < 0 ||
        fstatvfs(fd, &fs) != 0)
        return false;
    *avail = (uint64_t) fs.f_bavail * fs.f_frsize;
    return *avail < KV_NO_SPACE;
}

static proto_err_t s_err(const proto_store_t *self, int rc, const char *what)
{
    if (rc == 0)
        return PROTO_OK;
    if (rc == MDB_NOTFOUND)
        return PROTO_ERR_NOT_FOUND;
    if (rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT)
        return PROTO_ERR_STORE_FULL;
    //  LMDB reports a short write as EIO ("short write, filesystem full?"):
    //  that is how a full file system usually shows when a commit writes
    //  several pages at once. Where the disk is indeed out of space it is a
    //  full store, which the caller can act on (free space, retry), not a
    //  broken one.
    uint64_t avail;
    if (rc == EIO && s_out_of_space(self, &avail)) {
        proto_log_warning("event=store_full op=%s lmdb=%d error=\"%s\" disk_free=%" PRIu64, what,
                          rc, mdb_strerror(rc), avail);
        return PROTO_ERR_STORE_FULL;
    }
    proto_log_error("event=store_error op=%s lmdb=%d error=\"%s\"", what, rc, mdb_strerror(rc));
    return PROTO_ERR_STORE;
}

static MDB_val s_val(const void *data, size_t len)
{
    MDB_val v = { .mv_size = len, .mv_data = (void *) (uintptr_t) data };
    return v;
}

void proto_store_put64(uint8_t out[8], uint64_t value)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t) (value >> (56 - 8 * i));
}

uint64_t proto_store_get64(const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

// ---------------------------------------------------------------------------
//  The lease: a standby's wait for the lock of a data directory. Once it
//  has the lock it keeps the descriptor here until proto_store_open of the
//  same lock file takes it over, so the lock is never let go in between
//  (another standby would take it, and this process would fail to open).
//  flock belongs to the open file description: opening the file again and
//  locking that would conflict with our own lease.

static struct {
    int fd;    // the locked lock file, -1 when no lease is held
    dev_t dev; // which file it is
    ino_t ino;
} s_lease = { -1, 0, 0 };

//  The pid the lock file names (what the holder wrote), "?" if none.
static void s_lock_holder(int fd, char *out, size_t outlen)
{
    char text[32] = "";
    ssize_t n = pread(fd, text, sizeof text - 1, 0);
    text[n > 0 ? n : 0] = '\0';
    text[strcspn(text, "\n")] = '\0';
    snprintf(out, outlen, "%s", *text ? text : "?");
}

//  Open (creating) DIR/lock. -1 with the reason in errbuf.
static int s_lock_open(const char *dir, char *errbuf, size_t errlen)
{
    char path[4096];
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(errbuf, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        snprintf(errbuf, errlen, "cannot open %s: %s", path, strerror(errno));
    return fd;
}

static uint64_t s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

proto_err_t proto_store_lease_wait(const char *dir, uint64_t poll_ms,
                                   const volatile sig_atomic_t *stop, char *errbuf, size_t errlen)
{
    if (s_lease.fd >= 0 || poll_ms == 0) {
        snprintf(errbuf, errlen, "a lease is held already, or no poll interval");
        return PROTO_ERR_INVALID_ARG;
    }
    int fd = s_lock_open(dir, errbuf, errlen);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) {
            snprintf(errbuf, errlen, "cannot stat %s/lock: %s", dir, strerror(errno));
            close(fd);
        }
        return PROTO_ERR_IO;
    }
    uint64_t started = s_mono_ms();
    bool said = false;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        //  Anything but "held by someone else" (ENOLCK on a file system
        //  without locks) would make the wait endless: refuse instead.
        if (errno != EWOULDBLOCK && errno != EINTR) {
            snprintf(errbuf, errlen, "cannot lock %s/lock: %s", dir, strerror(errno));
            close(fd);
            return PROTO_ERR_SYSTEM;
        }
        if (!said) {
            char holder[32];
            s_lock_holder(fd, holder, sizeof holder);
            proto_log_info("event=standby data_dir=%s holder_pid=%s poll_ms=%" PRIu64, dir, holder,
                           poll_ms);
            said = true;
        }
        if (stop && *stop) {
            snprintf(errbuf, errlen, "stopped while waiting for the lock of %s", dir);
            close(fd);
            return PROTO_ERR_BUSY;
        }
        //  A signal cuts the sleep short (nanosleep is never restarted), so
        //  SIGTERM is answered at once, not after the interval.
        struct timespec ts = { .tv_sec = (time_t) (poll_ms / 1000),
                               .tv_nsec = (long) (poll_ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    if (said)
        proto_log_info("event=lease_acquired data_dir=%s waited_ms=%" PRIu64, dir,
                       s_mono_ms() - started);
    s_lease.fd = fd;
    s_lease.dev = st.st_dev;
    s_lease.ino = st.st_ino;
    return PROTO_OK;
}

void proto_store_lease_release(void)
{
    if (s_lease.fd >= 0)
        close(s_lease.fd);
    s_lease.fd = -1;
}

//  The lease, if it is the lock file fd also opens: then fd is closed and
//  the lease's descriptor, already locked, is returned (and no longer a
//  lease). Else fd itself.
static int s_lease_take(int fd)
{
    struct stat st;
    if (s_lease.fd < 0 || fstat(fd, &st) != 0 || st.st_dev != s_lease.dev ||
        st.st_ino != s_lease.ino)
        return fd;
    close(fd);
    fd = s_lease.fd;
    s_lease.fd = -1;
    return fd;
}

proto_store_t *proto_store_open(const char *dir, uint64_t map_size, const char *const *tables,
                                size_t ntables, char *errbuf, size_t errlen)
{
    char path[4096];
    proto_store_t *self = calloc(1, sizeof *self);
    if (!self || ntables > KV_MAX_TABLES) {
        snprintf(errbuf, errlen, "out of memory or too many tables");
        free(self);
        return NULL;
    }
    self->lock_fd = -1;
    self->ntables = ntables;
    self->lock_fd = s_lock_open(dir, errbuf, errlen);
    if (self->lock_fd < 0)
        goto fail;
    self->lock_fd = s_lease_take(self->lock_fd);
    if (flock(self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char other[32];
        s_lock_holder(self->lock_fd, other, sizeof other);
        snprintf(errbuf, errlen, "%s is locked by another process (pid %s)", dir, other);
        goto fail;
    }
    snprintf(path, sizeof path, "%s/lock", dir);
    char pid[32];
    int pid_len = snprintf(pid, sizeof pid, "%ld\n", (long) getpid());
    if (ftruncate(self->lock_fd, 0) != 0 || pwrite(self->lock_fd, pid, (size_t) pid_len, 0) < 0)
        proto_log_warning("event=lock_pid_unwritten path=%s", path);
    snprintf(path, sizeof path, "%s/store", dir);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        snprintf(errbuf, errlen, "cannot create %s: %s", path, strerror(errno));
        goto fail;
    }
    //  Check the data file before LMDB maps it: LMDB trusts its meta pages,
    //  and a damaged or truncated file would make it read the wrong pages
    //  or fault instead of failing.
    char data_path[4200];
    snprintf(data_path, sizeof data_path, "%s/data.mdb", path);
    if (proto_store_file_check(data_path, NULL, errbuf, errlen) != PROTO_OK)
        goto fail;
    int rc = mdb_env_create(&self->env);
    if (!rc)
        rc = mdb_env_set_mapsize(self->env, (size_t) map_size);
    if (!rc)
        rc = mdb_env_set_maxdbs(self->env, (MDB_dbi) ntables);
    //  Full sync on commit: no MDB_NOSYNC, MDB_NOMETASYNC or MDB_WRITEMAP.
    if (!rc)
        rc = mdb_env_open(self->env, path, MDB_NOTLS, 0600);
    MDB_txn *txn = NULL;
    if (!rc)
        rc = mdb_txn_begin(self->env, NULL, 0, &txn);
    for (size_t i = 0; !rc && i < ntables; i++)
        rc = mdb_dbi_open(txn, tables[i], MDB_CREATE, &self->dbi[i]);
    if (txn)
        rc = rc ? (mdb_txn_abort(txn), rc) : mdb_txn_commit(txn);
    if (rc) {
        snprintf(errbuf, errlen, "cannot open the store in %s: %s", path, mdb_strerror(rc));
        goto fail;
    }
    return self;
fail:
    proto_store_destroy(&self);
    return NULL;
}

void proto_store_destroy(proto_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    proto_store_t *self = *self_p;
    proto_store_abort(self);
    if (self->env)
        mdb_env_close(self->env);
    if (self->lock_fd >= 0)
        close(self->lock_fd);
    free(self);
    *self_p = NULL;
}

proto_err_t proto_store_begin(proto_store_t *self)
{
    if (self->txn && self->writing)
        return PROTO_OK;
    proto_store_read_end(self);
    int rc = mdb_txn_begin(self->env, NULL, 0, &self->txn);
    if (rc) {
        self->txn = NULL;
        return s_err(self, rc, "begin");
    }
    self->writing = true;
    return PROTO_OK;
}

proto_err_t proto_store_commit(proto_store_t *self)
{
    if (!self->txn || !self->writing)
        return PROTO_OK;
    if (self->outer)
        return PROTO_ERR_INTERNAL;
    int rc = mdb_txn_commit(self->txn);
    self->txn = NULL;
    self->writing = false;
    return s_err(self, rc, "commit");
}

void proto_store_abort(proto_store_t *self)
{
    if (self->outer) {
        mdb_txn_abort(self->txn);
        self->txn = self->outer;
        self->outer = NULL;
    }
    if (self->txn)
        mdb_txn_abort(self->txn);
    self->txn = NULL;
    self->writing = false;
}

bool proto_store_writing(const proto_store_t *self)
{
    return self->txn && self->writing;
}

proto_err_t proto_store_nest(proto_store_t *self)
{
    if (!self->writing || self->outer)
        return PROTO_ERR_INTERNAL;
    MDB_txn *child;
    int rc = mdb_txn_begin(self->env, self->txn, 0, &child);
    if (rc)
        return s_err(self, rc, "nest");
    self->outer = self->txn;
    self->txn = child;
    return PROTO_OK;
}

proto_err_t proto_store_unnest(proto_store_t *self, bool keep)
{
    if (!self->outer)
        return PROTO_ERR_INTERNAL;
    int rc = 0;
    if (keep)
        rc = mdb_txn_commit(self->txn);
    else
        mdb_txn_abort(self->txn);
    self->txn = self->outer;
    self->outer = NULL;
    return s_err(self, rc, "unnest");
}

proto_err_t proto_store_read_begin(proto_store_t *self)
{
    if (self->txn)
        return PROTO_OK;
    int rc = mdb_txn_begin(self->env, NULL, MDB_RDONLY, &self->txn);
    if (rc) {
        self->txn = NULL;
        return s_err(self, rc, "read_begin");
    }
    self->writing = false;
    return PROTO_OK;
}

void proto_store_read_end(proto_store_t *self)
{
    if (self->txn && !self->writing) {
        mdb_txn_abort(self->txn);
        self->txn = NULL;
    }
}

proto_err_t proto_store_get(proto_store_t *self, int table, const void *key, size_t klen,
                            const void **value, size_t *vlen)
{
    if (!self->txn || table < 0 || (size_t) table >= self->ntables)
        return PROTO_ERR_INTERNAL;
    MDB_val k = s_val(key, klen), v;
    proto_err_t rc = s_err(self, mdb_get(self->txn, self->dbi[table], &k, &v), "get");
    if (!rc) {
        *value = v.mv_data;
        *vlen = v.mv_size;
    }
    return rc;
}

proto_err_t proto_store_put(proto_store_t *self, int table, const void *key, size_t klen,
                            const void *value, size_t vlen)
{
    void *where = NULL;
    proto_err_t rc = proto_store_reserve(self, table, key, klen, vlen, &where);
    if (!rc && vlen)
        memcpy(where, value, vlen);
    return rc;
}

proto_err_t proto_store_reserve(proto_store_t *self, int table, const void *key, size_t klen,
                                size_t vlen, void **where)
{
    if (!self->writing || table < 0 || (size_t) table >= self->ntables)
        return PROTO_ERR_INTERNAL;
    MDB_val k = s_val(key, klen), v = { .mv_size = vlen, .mv_data = NULL };
    proto_err_t rc = s_err(self, mdb_put(self->txn, self->dbi[table], &k, &v, MDB_RESERVE), "put");
    if (!rc)
        *where = v.mv_data;
    return rc;
}

proto_err_t proto_store_del(proto_store_t *self, int table, const void *key, size_t klen)
{
    if (!self->writing || table < 0 || (size_t) table >= self->ntables)
        return PROTO_ERR_INTERNAL;
    MDB_val k = s_val(key, klen);
    int rc = mdb_del(self->txn, self->dbi[table], &k, NULL);
    return rc == MDB_NOTFOUND ? PROTO_OK : s_err(self, rc, "del");
}

size_t proto_store_scan(proto_store_t *self, int table, const void *from, size_t flen,
                        proto_store_fn *fn, void *arg)
{
    MDB_cursor *cursor;
    if (!self->txn || table < 0 || (size_t) table >= self->ntables ||
        mdb_cursor_open(self->txn, self->dbi[table], &cursor))
        return 0;
    MDB_val key = s_val(from, flen), value;
    int rc = mdb_cursor_get(cursor, &key, &value, from ? MDB_SET_RANGE : MDB_FIRST);
    size_t visited = 0;
    while (rc == 0) {
        visited++;
        if (!fn(arg, key.mv_data, key.mv_size, value.mv_data, value.mv_size))
            break;
        rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    return visited;
}

size_t proto_store_count(proto_store_t *self, int table)
{
    MDB_stat stat;
    if (!self->txn || table < 0 || (size_t) table >= self->ntables ||
        mdb_stat(self->txn, self->dbi[table], &stat))
        return 0;
    return stat.ms_entries;
}

uint64_t proto_store_next(proto_store_t *self, int table, const char *name)
{
    const void *value;
    size_t vlen;
    uint64_t next = 1;
    if (proto_store_get(self, table, name, strlen(name), &value, &vlen) == PROTO_OK && vlen == 8)
        next = proto_store_get64(value) + 1;
    uint8_t buf[8];
    proto_store_put64(buf, next);
    return proto_store_put(self, table, name, strlen(name), buf, sizeof buf) == PROTO_OK ? next : 0;
}

bool proto_store_disk_low(const proto_store_t *self)
{
    uint64_t avail;
    return s_out_of_space(self, &avail);
}

void proto_store_usage(proto_store_t *self, uint64_t *used, uint64_t *size)
{
    MDB_envinfo info;
    MDB_stat stat;
    *used = *size = 0;
    if (mdb_env_info(self->env, &info) == 0 && mdb_env_stat(self->env, &stat) == 0) {
        *used = (uint64_t) (info.me_last_pgno + 1) * stat.ms_psize;
        *size = info.me_mapsize;
    }
}

proto_err_t proto_store_copy_file(proto_store_t *self, const char *path, char *errbuf,
                                  size_t errlen)
{
    //  O_EXCL: never write over an earlier copy. fchmod: the umask may have
    //  taken bits away, never added them, but a copy of the store is as
    //  secret as the store itself, so say exactly what it gets.
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        snprintf(errbuf, errlen, "cannot create %s: %s", path, strerror(e));
        return e == EEXIST ? PROTO_ERR_EXISTS : e == ENOSPC ? PROTO_ERR_STORE_FULL : PROTO_ERR_IO;
    }
    int rc = fchmod(fd, 0600) != 0 ? errno : 0;
    if (!rc)
        rc = mdb_env_copyfd2(self->env, fd, MDB_CP_COMPACT);
    if (!rc && fsync(fd) != 0)
        rc = errno;
    if (close(fd) != 0 && !rc)
        rc = errno;
    if (rc) {
        snprintf(errbuf, errlen, "copy to %s failed: %s", path, mdb_strerror(rc));
        return rc == ENOSPC || rc == EDQUOT ? PROTO_ERR_STORE_FULL : PROTO_ERR_IO;
    }
    return PROTO_OK;
}

// ---------------------------------------------------------------------------
//  LMDB's file layout, as far as checking a file needs it (liblmdb mdb.c,
//  0.9.x): a page starts with a 16-byte header (page number, pad, flags,
//  bounds); pages 0 and 1 are meta pages (flag P_META) whose body is
//  MDB_meta: magic, version, address, map size, the free and main
//  databases (48 bytes each; the free db's first field is the page size),
//  the last page in use, the transaction id. Native byte order.

#define S_LMDB_PAGEHDR     16
#define S_LMDB_P_META      0x08
#define S_LMDB_MAGIC       0xBEEFC0DEu
#define S_LMDB_VERSION     1
#define S_LMDB_META_PSIZE  (S_LMDB_PAGEHDR + 24)
#define S_LMDB_META_LASTPG (S_LMDB_PAGEHDR + 120)
#define S_LMDB_META_TXNID  (S_LMDB_PAGEHDR + 128)
#define S_LMDB_META_LEN    (S_LMDB_PAGEHDR + 136)

typedef struct {
    uint32_t psize;
    uint64_t last_pg, txnid;
} s_meta_t;

static bool s_meta_read(int fd, off_t off, s_meta_t *meta, const char **why)
{
    uint8_t page[S_LMDB_META_LEN];
    uint16_t flags;
    uint32_t magic, version;
    if (pread(fd, page, sizeof page, off) != (ssize_t) sizeof page) {
        *why = "it ends inside a meta page";
        return false;
    }
    memcpy(&flags, page + 10, 2);
    memcpy(&magic, page + S_LMDB_PAGEHDR, 4);
    memcpy(&version, page + S_LMDB_PAGEHDR + 4, 4);
    memcpy(&meta->psize, page + S_LMDB_META_PSIZE, 4);
    memcpy(&meta->last_pg, page + S_LMDB_META_LASTPG, 8);
    memcpy(&meta->txnid, page + S_LMDB_META_TXNID, 8);
    if (!(flags & S_LMDB_P_META) || magic != S_LMDB_MAGIC)
        *why = "it is not an LMDB meta page";
    else if (version != S_LMDB_VERSION)
        *why = "it has an LMDB data version this build does not read";
    else if (meta->psize < 512 || meta->psize > 65536 || (meta->psize & (meta->psize - 1)))
        *why = "its page size is not one LMDB writes";
    else
        return true;
    return false;
}

proto_err_t proto_store_file_check(const char *path, proto_store_file_info_t *info, char *errbuf,
                                   size_t errlen)
{
    proto_store_file_info_t local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return PROTO_OK;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(errbuf, errlen, "cannot read %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return PROTO_ERR_IO;
    }
    info->file_size = (uint64_t) st.st_size;
    if (st.st_size == 0) {
        close(fd);
        return PROTO_OK;
    }
    //  Meta page 0 gives the page size, which places meta page 1; LMDB then
    //  uses the meta page with the higher transaction id.
    s_meta_t m0 = { 0 }, m1 = { 0 };
    const char *why = NULL;
    int bad = -1; // the meta page that failed
    if (!s_meta_read(fd, 0, &m0, &why))
        bad = 0;
    else if (!s_meta_read(fd, (off_t) m0.psize, &m1, &why))
        bad = 1;
    close(fd);
    if (bad >= 0) {
        snprintf(errbuf, errlen, "%s is damaged: meta page %d: %s", path, bad, why);
        return PROTO_ERR_STORE_DAMAGED;
    }
    if (m1.psize != m0.psize) {
        snprintf(errbuf, errlen,
                 "%s is damaged: its meta pages disagree on the page size (%u and %u bytes)", path,
                 m0.psize, m1.psize);
        return PROTO_ERR_STORE_DAMAGED;
    }
    const s_meta_t *newer = m1.txnid > m0.txnid ? &m1 : &m0;
    uint64_t last = m0.last_pg > m1.last_pg ? m0.last_pg : m1.last_pg;
    info->psize = m0.psize;
    info->pages = newer->last_pg + 1;
    info->txnid = newer->txnid;
    if (last >= UINT64_MAX / m0.psize || (last + 1) * m0.psize > info->file_size) {
        snprintf(errbuf, errlen,
                 "%s is truncated: its meta pages say %" PRIu64 " pages of %u bytes are in use, "
                 "the file holds %" PRIu64 " bytes",
                 path, last + 1, m0.psize, info->file_size);
        return PROTO_ERR_STORE_DAMAGED;
    }
    return PROTO_OK;
}

proto_err_t proto_store_file_get(const char *path, const char *table, const void *key, size_t klen,
                                 void *out, size_t cap, size_t *len)
{
    char err[256];
    proto_store_file_info_t info;
    proto_err_t status = proto_store_file_check(path, &info, err, sizeof err);
    if (status)
        return status;
    if (info.pages == 0)
        return PROTO_ERR_NOT_FOUND;
    //  Read-only, no lock file (nothing else has this file open), the map
    //  no larger than the file: nothing is written, nothing is mapped past
    //  the end.
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (!rc)
        rc = mdb_env_set_maxdbs(env, KV_MAX_TABLES);
    if (!rc)
        rc = mdb_env_set_mapsize(env, (size_t) info.file_size);
    if (!rc)
        rc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOTLS, 0600);
    if (!rc)
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (!rc)
        rc = mdb_dbi_open(txn, table, 0, &dbi);
    MDB_val k = s_val(key, klen), v;
    if (!rc)
        rc = mdb_get(txn, dbi, &k, &v);
    if (!rc) {
        *len = v.mv_size;
        memcpy(out, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
    }
    if (txn)
        mdb_txn_abort(txn);
    if (env)
        mdb_env_close(env);
    if (rc == MDB_NOTFOUND)
        return PROTO_ERR_NOT_FOUND;
    if (rc) {
        proto_log_error("event=store_error op=file_get path=%s lmdb=%d error=\"%s\"", path, rc,
                        mdb_strerror(rc));
        return PROTO_ERR_STORE;
    }
    return PROTO_OK;
}
