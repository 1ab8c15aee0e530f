/*  broker/backup.c - writing, checking and restoring backups of the store.

    See backup.h. The manifest is a few "key value" lines:

        truc-backup 1
        file data.mdb
        size 1052672
        audit_length 4711
        audit_head 9f2c...(64 hex digits)
        time 2026-12-02T05:40:00Z
*/
#include "backup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "anchor.h"
#include "proto/identity.h"
#include "proto/fileio.h"
#include "proto/log.h"
#include "proto/store.h"

#define BACKUP_FILE     "data.mdb"
#define BACKUP_TMP      "data.mdb.tmp"
#define BACKUP_MANIFEST "manifest"

//  UTC now, for people (ISO 8601) or for a file name (no colons).
static void s_time_text(char out[32], bool for_name)
{
    time_t seconds = time(NULL);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    if (for_name)
        strftime(out, 32, "%Y%m%dT%H%M%SZ", &tm);
    else
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static proto_err_t s_sync_dir(const char *dir, char *errbuf, size_t errlen)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL)) {
        snprintf(errbuf, errlen, "cannot sync %s: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return PROTO_ERR_IO;
    }
    close(fd);
    return PROTO_OK;
}

//  Tests stop a backup midway with this: the copy waits so long before it
//  starts (TRUC_TEST_BACKUP_DELAY_MS), so that a kill or a SIGTERM lands
//  inside the backup on any machine.
static void s_test_delay(void)
{
    const char *text = getenv("TRUC_TEST_BACKUP_DELAY_MS");
    long ms = text ? strtol(text, NULL, 10) : 0;
    if (ms > 0 && ms <= 600000) {
        struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
        while (nanosleep(&t, &t) != 0 && errno == EINTR)
            ;
    }
}

proto_err_t broker_backup_write(broker_store_t *store, const char *dir, broker_backup_info_t *info,
                                char *errbuf, size_t errlen)
{
    char final[4200], tmp[4200], manifest[4200];
    struct stat st;
    memset(info, 0, sizeof *info);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(errbuf, errlen, "cannot create %s: %s", dir, strerror(errno));
        return PROTO_ERR_IO;
    }
    snprintf(final, sizeof final, "%s/" BACKUP_FILE, dir);
    snprintf(tmp, sizeof tmp, "%s/" BACKUP_TMP, dir);
    snprintf(manifest, sizeof manifest, "%s/" BACKUP_MANIFEST, dir);
    if (lstat(final, &st) == 0) {
        snprintf(errbuf, errlen, "%s holds a backup already", dir);
        return PROTO_ERR_EXISTS;
    }
    //  A backup killed midway left its temporary file; it is ours by name.
    unlink(tmp);
    s_test_delay();
    proto_err_t rc = broker_store_copy_file(store, tmp, errbuf, errlen);
    //  Check the copy as a restore will, before it gets the final name.
    proto_store_file_info_t file;
    if (!rc)
        rc = proto_store_file_check(tmp, &file, errbuf, errlen);
    if (!rc && broker_store_file_audit(tmp, &info->length, info->head) != PROTO_OK) {
        snprintf(errbuf, errlen, "the copy %s does not read back", tmp);
        rc = PROTO_ERR_STORE_DAMAGED;
    }
    if (!rc) {
        char head[2 * PROTO_HASH_LEN + 1], when[32], text[512];
        info->size = file.file_size;
        proto_hex_encode(info->head, PROTO_HASH_LEN, head);
        s_time_text(when, false);
        int n = snprintf(text, sizeof text,
                         "truc-backup 1\nfile " BACKUP_FILE "\nsize %" PRIu64
                         "\naudit_length %" PRIu64 "\naudit_head %s\ntime %s\n",
                         info->size, info->length, head, when);
        rc = proto_file_write_atomic(manifest, text, (size_t) n, 0600, true, errbuf, errlen);
    }
    if (!rc && rename(tmp, final) != 0) {
        snprintf(errbuf, errlen, "cannot rename %s: %s", tmp, strerror(errno));
        rc = PROTO_ERR_IO;
    }
    if (!rc)
        rc = s_sync_dir(dir, errbuf, errlen);
    if (rc)
        unlink(tmp);
    return rc;
}

//  Read a manifest into *out. false if it is missing; a manifest that is
//  there but unreadable gives *bad.
static bool s_manifest_read(const char *path, broker_backup_info_t *out, bool *bad)
{
    FILE *f = fopen(path, "re");
    *bad = false;
    if (!f)
        return false;
    char line[256], head[2 * PROTO_HASH_LEN + 2] = "";
    int have = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "size %" SCNu64, &out->size) == 1)
            have |= 1;
        else if (sscanf(line, "audit_length %" SCNu64, &out->length) == 1)
            have |= 2;
        else if (sscanf(line, "audit_head %65s", head) == 1 && strlen(head) == 2 * PROTO_HASH_LEN)
            have |= 4;
    }
    fclose(f);
    size_t len = 0;
    if (have != 7 ||
        sodium_hex2bin(out->head, PROTO_HASH_LEN, head, strlen(head), NULL, &len, NULL) != 0 ||
        len != PROTO_HASH_LEN)
        *bad = true;
    return true;
}

proto_err_t broker_backup_check(const char *from, char *file, size_t file_len,
                                broker_backup_info_t *info, char *errbuf, size_t errlen)
{
    struct stat st;
    char manifest[4200];
    memset(info, 0, sizeof *info);
    if (stat(from, &st) != 0) {
        snprintf(errbuf, errlen, "cannot read %s: %s", from, strerror(errno));
        return errno == ENOENT ? PROTO_ERR_NOT_FOUND : PROTO_ERR_IO;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(file, file_len, "%s/" BACKUP_FILE, from);
        snprintf(manifest, sizeof manifest, "%s/" BACKUP_MANIFEST, from);
    } else {
        const char *slash = strrchr(from, '/');
        snprintf(file, file_len, "%s", from);
        snprintf(manifest, sizeof manifest, "%.*s" BACKUP_MANIFEST,
                 slash ? (int) (slash - from + 1) : 0, from);
    }
    proto_store_file_info_t fi;
    proto_err_t rc = proto_store_file_check(file, &fi, errbuf, errlen);
    if (!rc && fi.pages == 0) {
        snprintf(errbuf, errlen, "%s is %s", file,
                 fi.file_size ? "empty" : "missing (no data.mdb: not a backup)");
        rc = fi.file_size ? PROTO_ERR_STORE_DAMAGED : PROTO_ERR_NOT_FOUND;
    }
    if (rc)
        return rc;
    info->size = fi.file_size;
    if (broker_store_file_audit(file, &info->length, info->head) != PROTO_OK) {
        snprintf(errbuf, errlen, "%s does not read as a broker store", file);
        return PROTO_ERR_STORE_DAMAGED;
    }
    broker_backup_info_t said = { 0 };
    bool bad = false;
    if (s_manifest_read(manifest, &said, &bad) &&
        (bad || said.size != info->size || said.length != info->length ||
         sodium_memcmp(said.head, info->head, PROTO_HASH_LEN) != 0)) {
        snprintf(errbuf, errlen,
                 "%s does not match its manifest %s (size %" PRIu64 " and %" PRIu64
                 ", audit length %" PRIu64 " and %" PRIu64 ")",
                 file, manifest, info->size, said.size, info->length, said.length);
        return PROTO_ERR_STORE_DAMAGED;
    }
    return PROTO_OK;
}

static proto_err_t s_copy(const char *from, const char *to, char *errbuf, size_t errlen)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = in < 0 ? -1 : open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    proto_err_t rc = in < 0 || out < 0 ? PROTO_ERR_IO : PROTO_OK;
    static char buf[1 << 16];
    ssize_t n = 0;
    while (!rc && (n = read(in, buf, sizeof buf)) > 0)
        for (ssize_t done = 0, w; !rc && done < n; done += w)
            if ((w = write(out, buf + done, (size_t) (n - done))) < 0)
                rc = PROTO_ERR_IO;
    if (!rc && (n < 0 || fsync(out) != 0))
        rc = PROTO_ERR_IO;
    if (rc)
        snprintf(errbuf, errlen, "cannot copy %s to %s: %s", from, to, strerror(errno));
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

//  Remove the staging directory's known contents and the directory.
static void s_staging_remove(const char *staging)
{
    static const char *names[] = { "store/data.mdb", "store/lock.mdb", "store", "lock", "" };
    char path[4300];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", staging, names[i]);
        if (unlink(path) != 0)
            rmdir(path);
    }
}

proto_err_t broker_backup_restore(const char *data_dir, uint64_t map_size, const char *from,
                                  char *report, size_t report_len, char *errbuf, size_t errlen)
{
    char file[4200], lock_path[4200], staging[4200], path[4300], live[4200], aside[4300];
    broker_backup_info_t info;
    proto_err_t rc = broker_backup_check(from, file, sizeof file, &info, errbuf, errlen);
    if (rc)
        return rc;
    //  The broker's own lock: a running broker holds it.
    if (mkdir(data_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(errbuf, errlen, "cannot create %s: %s", data_dir, strerror(errno));
        return PROTO_ERR_IO;
    }
    snprintf(lock_path, sizeof lock_path, "%s/lock", data_dir);
    int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) != 0) {
        snprintf(errbuf, errlen, "%s is locked: stop truc-broker before restoring", data_dir);
        if (lock >= 0)
            close(lock);
        return PROTO_ERR_EXISTS;
    }
    broker_anchor_rec_t anchor = { 0 };
    rc = broker_anchor_read(data_dir, &anchor, errbuf, errlen);
    if (rc == PROTO_ERR_NOT_FOUND) {
        proto_log_warning("event=restore_without_anchor data_dir=%s note=\"numbering continues "
                          "from the backup: nothing is known of what was issued after it\"",
                          data_dir);
        rc = PROTO_OK;
    }
    //  Stage: a copy of the backup opened as a store of its own, given its
    //  `restored` entry and committed, before anything live is touched.
    snprintf(staging, sizeof staging, "%s/restore.tmp", data_dir);
    s_staging_remove(staging);
    snprintf(path, sizeof path, "%s/store", staging);
    if (!rc && (mkdir(staging, 0700) != 0 || mkdir(path, 0700) != 0)) {
        snprintf(errbuf, errlen, "cannot create %s: %s", path, strerror(errno));
        rc = PROTO_ERR_IO;
    }
    snprintf(path, sizeof path, "%s/store/data.mdb", staging);
    if (!rc)
        rc = s_copy(file, path, errbuf, errlen);
    uint64_t seq = 0, length = 0;
    uint8_t head[PROTO_HASH_LEN];
    if (!rc) {
        char detail[400], hex[2 * PROTO_HASH_LEN + 1];
        proto_hex_encode(info.head, PROTO_HASH_LEN, hex);
        snprintf(detail, sizeof detail,
                 "restored from %.160s: backup chain length %" PRIu64
                 " head %.16s; entries above it "
                 "up to %" PRIu64 " were issued before and are not in this store",
                 file, info.length, hex, anchor.length > info.length ? anchor.length : info.length);
        broker_store_t *store = broker_store_open(staging, map_size, errbuf, errlen);
        rc = store ? broker_store_begin(store) : PROTO_ERR_STORE;
        //  A backup whose chain is broken is not put back: the restore
        //  would link a trusted entry to it.
        uint64_t bad = 0;
        if (!rc && broker_store_audit_walk(store, 1, NULL, NULL, &bad) != PROTO_OK) {
            snprintf(errbuf, errlen, "the audit chain of %s is broken at entry %" PRIu64, file,
                     bad);
            rc = PROTO_ERR_BAD_PROOF;
            broker_store_destroy(&store);
        }
        if (!rc)
            rc = broker_store_audit_restored(store, (uint64_t) time(NULL) * 1000, anchor.length,
                                             detail, &seq);
        if (!rc)
            rc = broker_store_commit(store);
        if (!rc)
            rc = broker_store_audit_head(store, &length, head);
        if (rc && store)
            snprintf(errbuf, errlen, "cannot record the restore in the staged store: %s",
                     proto_strerror(rc));
        broker_store_destroy(&store);
    }
    //  Swap: the live store aside (kept for a look), the staged one in.
    char when[32];
    s_time_text(when, true);
    snprintf(live, sizeof live, "%s/store", data_dir);
    snprintf(aside, sizeof aside, "%s/store.replaced-%s", data_dir, when);
    snprintf(path, sizeof path, "%s/store", staging);
    struct stat st;
    bool had = !rc && stat(live, &st) == 0;
    if (had && rename(live, aside) != 0) {
        snprintf(errbuf, errlen, "cannot move %s aside: %s", live, strerror(errno));
        rc = PROTO_ERR_IO;
    }
    if (!rc && rename(path, live) != 0) {
        snprintf(errbuf, errlen, "cannot move the restored store into %s: %s", live,
                 strerror(errno));
        rc = PROTO_ERR_IO;
    }
    if (!rc)
        rc = s_sync_dir(data_dir, errbuf, errlen);
    broker_anchor_rec_t now = { .generation = anchor.generation + 1, .length = length };
    memcpy(now.head, head, PROTO_HASH_LEN);
    if (!rc)
        rc = broker_anchor_write_new(data_dir, &now, errbuf, errlen);
    s_staging_remove(staging);
    close(lock);
    char skipped[96] = "";
    if (!rc && seq > info.length + 1)
        snprintf(skipped, sizeof skipped,
                 " (numbers %" PRIu64 "..%" PRIu64 " were issued before and stay unused)",
                 info.length + 1, seq - 1);
    if (!rc)
        snprintf(report, report_len,
                 "restored %s into %s: its audit chain ends at %" PRIu64
                 ", the restore is entry %" PRIu64 "%s%s%s",
                 file, live, info.length, seq, skipped,
                 had ? "; the replaced store is kept in " : "", had ? aside : "");
    return rc;
}
