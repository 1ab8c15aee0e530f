/*  agent/files.h - where the local API may read attachments and write them.

    A DMS names attachment files by path (submit) and a directory to write
    received attachments into (fetch). Whoever can reach the API - the DMS,
    or any local user once the loopback TCP API is on - would otherwise make
    the agent read any file it can (its own secret key, /etc/shadow as root)
    and sign it away, or follow a planted symlink and overwrite any file.
    This module confines both to the directories of api.allowed_dirs:

      - a path must be absolute, without "." or ".." components, and below
        one of the allowed directories as the operator spelled it or as
        realpath resolves it (the truc command sends resolved paths);
      - below that directory, every component is opened relative to its
        parent's descriptor with O_NOFOLLOW: a symlink anywhere below an
        allowed directory is refused, never followed;
      - only regular files are read; the agent's identity, its passphrase
        file and anything reached through its data directory are refused
        always, whatever the configuration says;
      - fetch writes each file under a temporary name in DIR/<id> (itself
        opened without following links), syncs it and renames it over the
        final name, refusing a final name that is a symlink or a directory.

    It owns no open descriptor between calls: directories are opened per
    request, so an operator may replace one while the agent runs.
*/
#ifndef AGENT_FILES_H
#define AGENT_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "proto/err.h"

typedef struct agent_files agent_files_t;

//  Resolve api.allowed_dirs (empty: the exchange directory beside the data
//  directory, DATA_DIR/../exchange) and note the files the agent never
//  hands out. The data directory must exist. The config is borrowed for
//  the call only. NULL with the reason in errbuf: the agent refuses to start.
agent_files_t *agent_files_new(const agent_config_t *config, char *errbuf, size_t errlen);

//  Destroy and set *self_p to NULL. Safe on NULL.
void agent_files_destroy(agent_files_t **self_p);

//  Read the regular file at path (absolute, NUL-terminated, borrowed),
//  at most limit bytes. On success *data (malloc'd, the caller frees it)
//  and *len are set. Errors, with a sentence in why: PROTO_ERR_VALUE (not
//  an absolute, plain path), PROTO_ERR_NOT_AUTHORIZED (outside the allowed
//  directories, through a symlink, the agent's own file), PROTO_ERR_IO
//  (missing, not a regular file, unreadable), PROTO_ERR_TOO_LARGE,
//  PROTO_ERR_NOMEM.
proto_err_t agent_files_read(const agent_files_t *self, const char *path, uint64_t limit,
                             void **data, size_t *len, char *why, size_t whylen) PROTO_MUST_CHECK;

//  Open the directory dir/sub for writing, creating dir's missing levels
//  below its allowed directory and sub with mode 0750. dir is absolute;
//  sub is one plain name. On success *fd is a directory descriptor the
//  caller closes. Errors as for agent_files_read.
proto_err_t agent_files_open_dir(const agent_files_t *self, const char *dir, const char *sub,
                                 int *fd, char *why, size_t whylen) PROTO_MUST_CHECK;

//  Write len bytes as the file name (one plain name) in the directory
//  dirfd from agent_files_open_dir: a temporary file, synced, renamed over
//  name, then the directory synced. A name that is a symlink or a
//  directory is refused with PROTO_ERR_NOT_AUTHORIZED; PROTO_ERR_IO.
proto_err_t agent_files_write(int dirfd, const char *name, const void *data, size_t len, char *why,
                              size_t whylen) PROTO_MUST_CHECK;

//  Write len bytes as the file at path (absolute, inside an allowed
//  directory; missing directory levels below it are created with mode
//  0750), as agent_files_write does. Errors as for agent_files_read and
//  agent_files_write.
proto_err_t agent_files_write_path(const agent_files_t *self, const char *path, const void *data,
                                   size_t len, char *why, size_t whylen) PROTO_MUST_CHECK;

#endif
