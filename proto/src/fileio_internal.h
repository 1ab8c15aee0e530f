/*  fileio_internal.h - the general read behind proto_file_read (private to
    proto).

    The public calls tie the permission check to the kind of memory. A
    public identity file is read into sodium memory like a secret one (the
    same parser wipes it) but anyone may read it, so identity.c needs the
    two choices apart.
*/
#ifndef PROTO_FILEIO_INTERNAL_H
#define PROTO_FILEIO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "proto/err.h"

//  What the mode of a file may not allow: nothing for group or others
//  (secrets), or no writing by them (what decides whom to trust).
#define PROTO_FILE_REFUSE_SECRET  ((mode_t) 077)
#define PROTO_FILE_REFUSE_TRUSTED ((mode_t) 022)

//  proto_file_read with the two choices apart: secret_memory puts the
//  buffer in sodium_malloc memory (free it with proto_file_free(.., true)),
//  refuse is a mode mask the file must not have (0, or one of the above).
proto_err_t proto_file_read_mode(const char *path, size_t max, bool secret_memory, mode_t refuse,
                                 char **data, size_t *len, char *errbuf, size_t errlen);

#endif
