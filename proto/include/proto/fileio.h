/*  proto/fileio.h - whole-file reads with permission checks, atomic writes.

    The key files (proto/identity.h), the agency directory
    (proto/directory.h) and the broker's own state files need the same
    guarantees: a file that holds a secret or decides whom to trust is
    refused when its mode lets others read or change it, nothing is read
    without a size bound, and a file is replaced so that readers see the
    old one or the new one, never a part. Not a general-purpose I/O layer.

    Nothing here logs; failures come back as proto_err_t with a one-line
    detail in an optional caller's buffer.
*/
#ifndef PROTO_FILEIO_H
#define PROTO_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "proto/err.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Read a whole regular file of at most max bytes. With secret, the file
//  must not be accessible by group or others (PROTO_ERR_PERMISSIONS, checked
//  on the open descriptor before reading) and the buffer is sodium_malloc'd.
//  On success *data (NUL-terminated, owned by the caller, free it with
//  proto_file_free with the same secret flag) and *len are set. Fails with
//  PROTO_ERR_NOT_FOUND, PROTO_ERR_TOO_LARGE (over max), PROTO_ERR_IO (also for
//  something that is not a regular file), PROTO_ERR_NOMEM; errbuf (may be
//  NULL) gets the detail.
proto_err_t proto_file_read(const char *path, size_t max, bool secret, char **data, size_t *len,
                            char *errbuf, size_t errlen) PROTO_MUST_CHECK;

//  proto_file_read for a file that decides whom to trust (the agency
//  directory): anyone may read it, but a mode that lets group or others
//  write it is refused with PROTO_ERR_PERMISSIONS (st_mode & 022), checked
//  before anything is read. Free the buffer with proto_file_free(.., false).
proto_err_t proto_file_read_trusted(const char *path, size_t max, char **data, size_t *len,
                                    char *errbuf, size_t errlen) PROTO_MUST_CHECK;

//  Free a buffer from proto_file_read (wiping it first) and set *data_p to NULL.
void proto_file_free(char **data_p, size_t len, bool secret);

//  Write len bytes to path atomically: a new temporary file in the same
//  directory created with O_EXCL and mode (before umask), fsync, then moved
//  into place and the directory fsync'd. Readers see the old file or the new
//  one, never a part. If overwrite is false and path exists, nothing is
//  changed and PROTO_ERR_EXISTS is returned. Else PROTO_ERR_NOT_FOUND (the
//  directory is missing), PROTO_ERR_IO; errbuf (may be NULL) gets the detail.
proto_err_t proto_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                                    bool overwrite, char *errbuf, size_t errlen) PROTO_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
