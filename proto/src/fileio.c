/*  fileio.c - whole-file reads with permission checks, and atomic writes.

    Owns nothing past a call: a read hands its buffer to the caller (in
    sodium_malloc memory for secrets), a write leaves either the old file or
    the new one behind, never a part. The key files, the agency directory
    and the broker's own state files all go through here, so the rules on
    modes, sizes and fsync live in one place.

    Does not parse what it reads (that is ini.c and the callers) and does
    not log.
*/
#include "proto/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "detail.h"
#include "fileio_internal.h"

//  Map errno from a failed system call to our code, with the detail.
static proto_err_t s_errno_fail(int err, const char *what, char *errbuf, size_t errlen)
{
    char text[128];
    if (strerror_r(err, text, sizeof text) != 0)
        snprintf(text, sizeof text, "errno %d", err);
    proto_detailf(errbuf, errlen, "%s: %s", what, text);
    return err == ENOENT ? PROTO_ERR_NOT_FOUND : PROTO_ERR_IO;
}

static proto_err_t s_sodium_ready(void)
{
    //  sodium_init is idempotent and cheap after the first call; the
    //  programs call it at startup too, this only guards library users.
    return sodium_init() < 0 ? PROTO_ERR_CRYPTO : PROTO_OK;
}

static void *s_alloc(size_t size, bool secret)
{
    return secret ? sodium_malloc(size) : malloc(size);
}

void proto_file_free(char **data_p, size_t len, bool secret)
{
    if (!data_p || !*data_p)
        return;
    if (secret) {
        sodium_free(*data_p); // wipes the whole block first
    } else {
        sodium_memzero(*data_p, len);
        free(*data_p);
    }
    *data_p = NULL;
}

proto_err_t proto_file_read_mode(const char *path, size_t max, bool secret_memory, mode_t refuse,
                                 char **data, size_t *len, char *errbuf, size_t errlen)
{
    if (!path || !data || !len)
        return PROTO_ERR_INVALID_ARG;
    if (s_sodium_ready() != PROTO_OK)
        return PROTO_ERR_CRYPTO;
    //  O_NONBLOCK keeps a FIFO planted at path from blocking the open; it has
    //  no effect on reading a regular file, and anything else is refused.
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return s_errno_fail(errno, "cannot open", errbuf, errlen);
    proto_err_t rc = PROTO_OK;
    char *buf = NULL;
    size_t got = 0;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = s_errno_fail(errno, "cannot stat", errbuf, errlen);
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        proto_detailf(errbuf, errlen, "not a regular file");
        rc = PROTO_ERR_IO;
        goto done;
    }
    //  The same test as ssh: any access for group or others to a secret is
    //  refused, before a single byte is read. A file that decides whom to
    //  trust may be read by anyone, but only its owner may change it: whoever
    //  can write the agency directory can let in a key of their own.
    if (st.st_mode & refuse) {
        if (refuse == PROTO_FILE_REFUSE_SECRET)
            proto_detailf(errbuf, errlen, "mode %04o gives access to group or others",
                          (unsigned) (st.st_mode & 07777));
        else
            proto_detailf(errbuf, errlen, "mode %04o lets group or others change it",
                          (unsigned) (st.st_mode & 07777));
        rc = PROTO_ERR_PERMISSIONS;
        goto done;
    }
    if (st.st_size < 0 || (unsigned long long) st.st_size > max) {
        proto_detailf(errbuf, errlen, "larger than %zu bytes", max);
        rc = PROTO_ERR_TOO_LARGE;
        goto done;
    }
    //  One byte more than the size, to notice a file growing under us, and
    //  one for the NUL.
    size_t want = (size_t) st.st_size + 1;
    buf = s_alloc(want + 1, secret_memory);
    if (!buf) {
        rc = PROTO_ERR_NOMEM;
        goto done;
    }
    while (got < want) {
        ssize_t n = read(fd, buf + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = s_errno_fail(errno, "cannot read", errbuf, errlen);
            goto done;
        }
        if (n == 0)
            break;
        got += (size_t) n;
    }
    if (got > max || got == want) {
        proto_detailf(errbuf, errlen, "file changed while it was read");
        rc = PROTO_ERR_IO;
        goto done;
    }
    buf[got] = '\0';
done:
    close(fd);
    if (rc != PROTO_OK) {
        proto_file_free(&buf, got, secret_memory);
        return rc;
    }
    *data = buf;
    *len = got;
    return PROTO_OK;
}

proto_err_t proto_file_read(const char *path, size_t max, bool secret, char **data, size_t *len,
                            char *errbuf, size_t errlen)
{
    return proto_file_read_mode(path, max, secret, secret ? PROTO_FILE_REFUSE_SECRET : 0, data, len,
                                errbuf, errlen);
}

proto_err_t proto_file_read_trusted(const char *path, size_t max, char **data, size_t *len,
                                    char *errbuf, size_t errlen)
{
    return proto_file_read_mode(path, max, false, PROTO_FILE_REFUSE_TRUSTED, data, len, errbuf,
                                errlen);
}

static proto_err_t s_write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return PROTO_ERR_IO;
        p += n;
        len -= (size_t) n;
    }
    return PROTO_OK;
}

//  fsync the directory that holds path, so the rename survives a crash.
static proto_err_t s_sync_parent(const char *path, char *errbuf, size_t errlen)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t) (slash - path));
    if (!dir)
        return PROTO_ERR_NOMEM;
    proto_err_t rc = PROTO_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        rc = s_errno_fail(errno, "cannot open the directory to sync it", errbuf, errlen);
    } else {
        //  Some file systems cannot sync a directory (EINVAL); the data is
        //  as safe as they allow, so that is not a failure.
        if (fsync(fd) != 0 && errno != EINVAL)
            rc = s_errno_fail(errno, "cannot sync the directory", errbuf, errlen);
        close(fd);
    }
    free(dir);
    return rc;
}

proto_err_t proto_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                                    bool overwrite, char *errbuf, size_t errlen)
{
    if (!path || (!data && len > 0))
        return PROTO_ERR_INVALID_ARG;
    if (s_sodium_ready() != PROTO_OK)
        return PROTO_ERR_CRYPTO;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dir_len = (size_t) (base - path);
    if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        proto_detailf(errbuf, errlen, "not a file name");
        return PROTO_ERR_INVALID_ARG;
    }
    //  The temporary file sits beside the target (rename only works within
    //  one file system) and is hidden: ".NAME.tmp-<random>".
    size_t tmp_size = strlen(path) + 32;
    char *tmp = malloc(tmp_size);
    if (!tmp)
        return PROTO_ERR_NOMEM;
    int fd = -1;
    for (int attempt = 0; attempt < 8 && fd < 0; attempt++) {
        uint8_t rnd[8];
        char rnd_hex[17];
        randombytes_buf(rnd, sizeof rnd);
        sodium_bin2hex(rnd_hex, sizeof rnd_hex, rnd, sizeof rnd);
        snprintf(tmp, tmp_size, "%.*s.%s.tmp-%s", (int) dir_len, path, base, rnd_hex);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        proto_err_t rc = s_errno_fail(errno, "cannot create a temporary file", errbuf, errlen);
        free(tmp);
        return rc;
    }
    proto_err_t rc = s_write_all(fd, data, len);
    if (rc != PROTO_OK)
        s_errno_fail(errno, "cannot write", errbuf, errlen);
    else if (fsync(fd) != 0)
        rc = s_errno_fail(errno, "cannot sync", errbuf, errlen);
    if (close(fd) != 0 && rc == PROTO_OK)
        rc = s_errno_fail(errno, "cannot close", errbuf, errlen);
    if (rc != PROTO_OK) {
        unlink(tmp);
        free(tmp);
        return rc == PROTO_ERR_NOT_FOUND ? PROTO_ERR_IO : rc;
    }
    if (overwrite) {
        if (rename(tmp, path) != 0)
            rc = s_errno_fail(errno, "cannot move the new file into place", errbuf, errlen);
    } else if (link(tmp, path) != 0) {
        //  link() refuses to replace an existing file, atomically. File
        //  systems without hard links say EPERM; there we check and rename,
        //  which leaves a small window but never loses a file silently.
        int err = errno;
        struct stat st;
        if (err == EEXIST || (err == EPERM && lstat(path, &st) == 0)) {
            proto_detailf(errbuf, errlen, "file exists");
            rc = PROTO_ERR_EXISTS;
        } else if (err == EPERM) {
            if (rename(tmp, path) != 0)
                rc = s_errno_fail(errno, "cannot move the new file into place", errbuf, errlen);
        } else {
            rc = s_errno_fail(err, "cannot link the new file into place", errbuf, errlen);
        }
    }
    unlink(tmp); // after rename it is gone already; after link it is a second name
    free(tmp);
    if (rc == PROTO_OK)
        rc = s_sync_parent(path, errbuf, errlen);
    return rc;
}
