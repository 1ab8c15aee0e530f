/*  broker/anchor.c - the anchor file and the guarded opening of the store.

    See anchor.h for what the anchor is for and its two-slot layout. The
    record in a slot, little-endian:

        0   8   magic "TRUCANC1"
        8   8   generation
        16  8   audit length
        24  32  audit head
        56  32  BLAKE2b-256 of bytes 0..55
*/
#include "anchor.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/identity.h"
#include "proto/fileio.h"
#include "proto/log.h"
#include "proto/store.h"

#define ANCHOR_MAGIC     "TRUCANC1"
#define ANCHOR_SLOT      512 // a sector: a torn write stays inside one slot
#define ANCHOR_RECORD    (56 + PROTO_HASH_LEN)
#define ANCHOR_FILE_SIZE (2 * ANCHOR_SLOT)

struct broker_anchor {
    int fd;                  // DATA_DIR/anchor, open for updates
    char path[4200];         // for log lines
    broker_anchor_rec_t rec; // what the newest slot holds
    bool failed;             // the last update failed (logged once per run of failures)
};

static void s_encode(const broker_anchor_rec_t *rec, uint8_t out[ANCHOR_RECORD])
{
    memcpy(out, ANCHOR_MAGIC, 8);
    broker_store_put64le(out + 8, rec->generation);
    broker_store_put64le(out + 16, rec->length);
    memcpy(out + 24, rec->head, PROTO_HASH_LEN);
    crypto_generichash(out + 56, PROTO_HASH_LEN, out, 56, NULL, 0);
}

static bool s_decode(const uint8_t in[ANCHOR_RECORD], broker_anchor_rec_t *rec)
{
    uint8_t sum[PROTO_HASH_LEN];
    crypto_generichash(sum, sizeof sum, in, 56, NULL, 0);
    if (memcmp(in, ANCHOR_MAGIC, 8) != 0 || sodium_memcmp(sum, in + 56, PROTO_HASH_LEN) != 0)
        return false;
    rec->generation = broker_store_get64le(in + 8);
    rec->length = broker_store_get64le(in + 16);
    memcpy(rec->head, in + 24, PROTO_HASH_LEN);
    return true;
}

static void s_path(char *out, size_t len, const char *data_dir)
{
    snprintf(out, len, "%s/anchor", data_dir);
}

proto_err_t broker_anchor_read(const char *data_dir, broker_anchor_rec_t *rec, char *errbuf,
                               size_t errlen)
{
    char path[4200];
    s_path(path, sizeof path, data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return PROTO_ERR_NOT_FOUND;
    if (fd < 0) {
        snprintf(errbuf, errlen, "cannot read %s: %s", path, strerror(errno));
        return PROTO_ERR_IO;
    }
    uint8_t file[ANCHOR_FILE_SIZE] = { 0 };
    ssize_t n = pread(fd, file, sizeof file, 0);
    close(fd);
    broker_anchor_rec_t slot[2];
    bool valid[2];
    for (int i = 0; i < 2; i++)
        valid[i] = n >= (ssize_t) (i * ANCHOR_SLOT + ANCHOR_RECORD) &&
                   s_decode(file + i * ANCHOR_SLOT, &slot[i]);
    if (!valid[0] && !valid[1]) {
        snprintf(errbuf, errlen, "%s is damaged: neither of its two records is valid", path);
        return PROTO_ERR_STORE_DAMAGED;
    }
    *rec = valid[0] && (!valid[1] || slot[0].generation > slot[1].generation) ? slot[0] : slot[1];
    return PROTO_OK;
}

proto_err_t broker_anchor_write_new(const char *data_dir, const broker_anchor_rec_t *rec,
                                    char *errbuf, size_t errlen)
{
    char path[4200];
    uint8_t file[ANCHOR_FILE_SIZE] = { 0 };
    s_path(path, sizeof path, data_dir);
    //  The record goes into the slot its generation names, as updates do;
    //  the other slot stays empty (invalid) until the next update.
    s_encode(rec, file + (rec->generation % 2) * ANCHOR_SLOT);
    return proto_file_write_atomic(path, file, sizeof file, 0600, true, errbuf, errlen);
}

//  After a durable commit: the next generation into the older slot, then
//  fdatasync. The file never changes size, so fdatasync writes one block
//  and no metadata.
static void s_on_commit(void *arg, uint64_t length, const uint8_t head[PROTO_HASH_LEN])
{
    broker_anchor_t *self = arg;
    broker_anchor_rec_t next = { .generation = self->rec.generation + 1, .length = length };
    memcpy(next.head, head, PROTO_HASH_LEN);
    uint8_t record[ANCHOR_RECORD];
    s_encode(&next, record);
    off_t off = (off_t) (next.generation % 2) * ANCHOR_SLOT;
    if (pwrite(self->fd, record, sizeof record, off) != (ssize_t) sizeof record ||
        fdatasync(self->fd) != 0) {
        //  The store is durable already; an anchor left behind only means a
        //  later check is weaker, never that a good store is refused.
        if (!self->failed)
            proto_log_error("event=anchor_write_failed path=%s length=%" PRIu64 " error=\"%s\"",
                            self->path, length, strerror(errno));
        self->failed = true;
        return;
    }
    if (self->failed)
        proto_log_info("event=anchor_written_again path=%s length=%" PRIu64, self->path, length);
    self->failed = false;
    self->rec = next;
}

//  Compare the open store with the anchor. PROTO_OK when the store holds
//  the anchored chain (or more of it).
static proto_err_t s_compare(broker_store_t *store, const broker_anchor_rec_t *anchor,
                             const char *data_dir, char *errbuf, size_t errlen)
{
    uint64_t length;
    uint8_t head[PROTO_HASH_LEN], at[PROTO_HASH_LEN];
    proto_err_t rc = broker_store_audit_head(store, &length, head);
    if (rc) {
        snprintf(errbuf, errlen, "cannot read the audit chain's head in %s/store: %s", data_dir,
                 proto_strerror(rc));
        return rc;
    }
    if (anchor->length == 0)
        return PROTO_OK;
    if (length < anchor->length) {
        char what[64];
        if (length)
            snprintf(what, sizeof what, "its audit chain ends at entry %" PRIu64, length);
        else
            snprintf(what, sizeof what, "it is empty");
        snprintf(errbuf, errlen,
                 "the store in %s/store is behind its anchor: %s, but this broker has issued "
                 "audit entries up to %" PRIu64 " (%s/anchor). The store was emptied, damaged, "
                 "or replaced by an older copy; starting on it would issue those numbers again. "
                 "Put the right store back, or restore a backup with 'truc-broker restore --from "
                 "BACKUP' (deploy/OPERATIONS.md)",
                 data_dir, what, anchor->length, data_dir);
        return PROTO_ERR_STORE_BEHIND;
    }
    if (length == anchor->length)
        memcpy(at, head, PROTO_HASH_LEN);
    else if (broker_store_audit_hash(store, anchor->length, at) != PROTO_OK)
        memset(at, 0, sizeof at);
    if (sodium_memcmp(at, anchor->head, PROTO_HASH_LEN) != 0) {
        snprintf(errbuf, errlen,
                 "the store in %s/store is not the one its anchor names: audit entry %" PRIu64
                 " differs from the one this broker issued (%s/anchor). Put the right store "
                 "back, or restore a backup with 'truc-broker restore --from BACKUP' "
                 "(deploy/OPERATIONS.md)",
                 data_dir, anchor->length, data_dir);
        return PROTO_ERR_STORE_BEHIND;
    }
    return PROTO_OK;
}

broker_store_t *broker_anchor_open_store(const char *data_dir, uint64_t map_size,
                                         broker_anchor_t **anchor_p, proto_err_t *why, char *errbuf,
                                         size_t errlen)
{
    *anchor_p = NULL;
    *why = PROTO_OK;
    //  Check the data file first, so that a damaged one gets its own code
    //  (proto_store_open checks it again, under the lock).
    char path[4200];
    snprintf(path, sizeof path, "%s/store/data.mdb", data_dir);
    proto_err_t rc = proto_store_file_check(path, NULL, errbuf, errlen);
    if (rc) {
        *why = rc;
        return NULL;
    }
    broker_store_t *store = broker_store_open(data_dir, map_size, errbuf, errlen);
    if (!store) {
        *why = PROTO_ERR_STORE;
        return NULL;
    }
    broker_anchor_rec_t anchor = { 0 };
    rc = broker_anchor_read(data_dir, &anchor, errbuf, errlen);
    bool fresh = rc == PROTO_ERR_NOT_FOUND;
    if (fresh)
        rc = PROTO_OK;
    if (!rc)
        rc = s_compare(store, &anchor, data_dir, errbuf, errlen);
    broker_anchor_t *self = NULL;
    if (!rc && !(self = calloc(1, sizeof *self))) {
        snprintf(errbuf, errlen, "out of memory");
        rc = PROTO_ERR_NOMEM;
    }
    if (rc) {
        broker_store_destroy(&store);
        *why = rc;
        return NULL;
    }
    //  Bring the anchor up to the store, then keep it there. An anchor file
    //  of the right size is updated in place, as after a commit: no new
    //  block is needed, so a broker restarted on a full disk still starts.
    self->fd = -1;
    s_path(self->path, sizeof self->path, data_dir);
    uint64_t length;
    broker_anchor_rec_t now = { .generation = anchor.generation + 1 };
    rc = broker_store_audit_head(store, &length, now.head);
    now.length = length;
    struct stat st;
    self->fd = fresh ? -1 : open(self->path, O_RDWR | O_CLOEXEC);
    if (!rc && self->fd >= 0 && fstat(self->fd, &st) == 0 && st.st_size == ANCHOR_FILE_SIZE) {
        self->rec = anchor;
        s_on_commit(self, length, now.head);
        if (self->failed) {
            snprintf(errbuf, errlen, "cannot update %s: %s", self->path, strerror(errno));
            rc = PROTO_ERR_IO;
        }
    } else if (!rc) {
        if (self->fd >= 0)
            close(self->fd);
        rc = broker_anchor_write_new(data_dir, &now, errbuf, errlen);
        self->fd = rc ? -1 : open(self->path, O_RDWR | O_CLOEXEC);
        if (!rc && self->fd < 0) {
            snprintf(errbuf, errlen, "cannot open %s: %s", self->path, strerror(errno));
            rc = PROTO_ERR_IO;
        }
    }
    if (rc) {
        broker_store_destroy(&store);
        broker_anchor_destroy(&self);
        *why = rc;
        return NULL;
    }
    self->rec = now;
    self->failed = false;
    if (fresh)
        proto_log_info("event=anchor_started path=%s length=%" PRIu64, self->path, length);
    else if (length > anchor.length)
        proto_log_info("event=anchor_caught_up path=%s anchor=%" PRIu64 " store=%" PRIu64,
                       self->path, anchor.length, length);
    broker_store_on_commit(store, s_on_commit, self);
    *anchor_p = self;
    return store;
}

void broker_anchor_destroy(broker_anchor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    if ((*self_p)->fd >= 0)
        close((*self_p)->fd);
    free(*self_p);
    *self_p = NULL;
}
