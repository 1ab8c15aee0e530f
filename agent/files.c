/*  agent/files.c - attachment paths confined to api.allowed_dirs.

    Paths are matched against the allowed directories as text first (both
    normalised: no empty, "." or ".." components), then walked one component
    at a time with openat and O_NOFOLLOW from a descriptor of the allowed
    directory, so what is checked is what is opened: no symlink swapped in
    between a check and an open can lead outside. The allowed directory
    itself is opened by its configured name, so an operator may point it at
    a symlinked mount; below it nothing is followed.

    It does not decide who may call the API (agent.c binds the sockets) nor
    how big a document may be (api.c checks the limits it is given).
*/
//  realpath is XSI, beyond the POSIX 2008 base the build asks for.
#define _XOPEN_SOURCE 700

#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/log.h"

#define FILES_MAX_DIRS 32 // configured; each may be listed twice (as spelled, resolved)

typedef struct {
    bool set;
    dev_t dev;
    ino_t ino;
} s_node_t;

struct agent_files {
    char *dirs[2 * FILES_MAX_DIRS]; // allowed directories, normalised: as configured, resolved
    size_t ndirs;
    bool implicit;      // no api.allowed_dirs: dirs[0] is DATA_DIR/../exchange
    s_node_t data_dir;  // never walked through
    s_node_t identity;  // never read
    s_node_t pass_file; // never read
};

static proto_err_t s_why(char *why, size_t whylen, proto_err_t rc, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static proto_err_t s_why(char *why, size_t whylen, proto_err_t rc, const char *format, ...)
{
    if (why && whylen) {
        va_list args;
        va_start(args, format);
        vsnprintf(why, whylen, format, args);
        va_end(args);
    }
    return rc;
}

static bool s_node_is(const s_node_t *node, const struct stat *st)
{
    return node->set && node->dev == st->st_dev && node->ino == st->st_ino;
}

static void s_node_note(s_node_t *node, const char *path)
{
    struct stat st;
    if (path && path[0] && stat(path, &st) == 0) {
        node->set = true;
        node->dev = st.st_dev;
        node->ino = st.st_ino;
    }
}

//  Normalise an absolute path into out: single slashes, no trailing slash
//  ("/" stays "/"). False if it is relative, has a "." or ".." component,
//  or does not fit.
static bool s_normalise(const char *path, size_t len, char *out, size_t cap)
{
    if (len == 0 || path[0] != '/' || cap < 2)
        return false;
    size_t n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && path[i] == '/')
            i++;
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        size_t clen = i - start;
        if (clen == 0)
            break;
        if ((clen == 1 && path[start] == '.') ||
            (clen == 2 && path[start] == '.' && path[start + 1] == '.'))
            return false;
        if (n + 1 + clen + 1 > cap)
            return false;
        out[n++] = '/';
        memcpy(out + n, path + start, clen);
        n += clen;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    return memchr(path, '\0', len) == NULL;
}

//  The allowed directory that holds path (normalised), and the rest of the
//  path below it ("" if path is the directory itself), or NULL.
static const char *s_allowed(const agent_files_t *self, const char *path, const char **rest)
{
    for (size_t i = 0; i < self->ndirs; i++) {
        const char *dir = self->dirs[i];
        size_t dlen = strcmp(dir, "/") == 0 ? 0 : strlen(dir);
        if (strncmp(path, dir, dlen) == 0 && (path[dlen] == '/' || path[dlen] == '\0')) {
            *rest = path[dlen] == '/' ? path + dlen + 1 : path + dlen;
            return dir;
        }
    }
    return NULL;
}

static proto_err_t s_outside(const agent_files_t *self, const char *path, char *why, size_t whylen)
{
    if (self->implicit)
        return s_why(why, whylen, PROTO_ERR_NOT_AUTHORIZED,
                     "%s is outside the agent's exchange directory %s (set api.allowed_dirs)", path,
                     self->ndirs ? self->dirs[0] : "");
    return s_why(why, whylen, PROTO_ERR_NOT_AUTHORIZED,
                 "%s is outside the directories of api.allowed_dirs", path);
}

//  Why openat of name in dirfd failed, as a reply: a symlink is refused as
//  such, anything else is the system's word.
static proto_err_t s_open_failed(int dirfd, const char *name, const char *shown, int err, char *why,
                                 size_t whylen)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        return s_why(why, whylen, PROTO_ERR_NOT_AUTHORIZED,
                     "%s is a symbolic link: the agent follows none below an allowed directory",
                     shown);
    return s_why(why, whylen, PROTO_ERR_IO, "cannot open %s: %s", shown, strerror(err));
}

//  Check a directory the walk reached: never the data directory.
static proto_err_t s_dir_ok(const agent_files_t *self, int fd, const char *shown, char *why,
                            size_t whylen)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return s_why(why, whylen, PROTO_ERR_IO, "cannot examine %s: %s", shown, strerror(errno));
    if (s_node_is(&self->data_dir, &st))
        return s_why(why, whylen, PROTO_ERR_NOT_AUTHORIZED,
                     "%s is the agent's data directory: its files are never sent or replaced",
                     shown);
    return PROTO_OK;
}

//  Open the allowed directory of path and walk down every component of
//  its rest but the last (all of them if whole), creating missing levels if
//  create. Returns a directory descriptor in *fd and, unless whole,
//  the last component in *last, a pointer into norm (the caller's buffer).
static proto_err_t s_walk(const agent_files_t *self, const char *path, bool whole, bool create,
                          char norm[PATH_MAX], int *fd, const char **last, char *why, size_t whylen)
{
    if (!s_normalise(path, strlen(path), norm, PATH_MAX))
        return s_why(why, whylen, PROTO_ERR_VALUE,
                     "%s is not an absolute path without . or .. components", path);
    const char *rest = NULL;
    const char *dir = s_allowed(self, norm, &rest);
    if (!dir)
        return s_outside(self, path, why, whylen);
    if (!whole && !rest[0])
        return s_why(why, whylen, PROTO_ERR_IO, "%s is a directory", path);
    int cur = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0)
        return s_why(why, whylen, PROTO_ERR_IO, "cannot open the allowed directory %s: %s", dir,
                     strerror(errno));
    proto_err_t rc = s_dir_ok(self, cur, dir, why, whylen);
    char shown[PATH_MAX];
    snprintf(shown, sizeof shown, "%s", dir);
    //  norm is the caller's buffer: cut it into components in place.
    char *p = norm + (rest - norm);
    while (!rc && *p) {
        char *slash = strchr(p, '/');
        if (!slash && !whole)
            break;
        if (slash)
            *slash = '\0';
        size_t used = strlen(shown);
        snprintf(shown + used, sizeof shown - used, "%s%s", used > 1 ? "/" : "", p);
        if (create && mkdirat(cur, p, 0750) != 0 && errno != EEXIST)
            rc = s_open_failed(cur, p, shown, errno, why, whylen);
        int next = rc ? -1 : openat(cur, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (!rc && next < 0)
            rc = s_open_failed(cur, p, shown, errno, why, whylen);
        close(cur);
        cur = next;
        if (!rc)
            rc = s_dir_ok(self, cur, shown, why, whylen);
        p = slash ? slash + 1 : p + strlen(p);
    }
    if (rc) {
        if (cur >= 0)
            close(cur);
        return rc;
    }
    *fd = cur;
    *last = p;
    return PROTO_OK;
}

proto_err_t agent_files_read(const agent_files_t *self, const char *path, uint64_t limit,
                             void **data, size_t *len, char *why, size_t whylen)
{
    char norm[PATH_MAX];
    int dirfd = -1;
    const char *last = NULL;
    proto_err_t rc = s_walk(self, path, false, false, norm, &dirfd, &last, why, whylen);
    if (rc)
        return rc;
    //  O_NONBLOCK: opening a FIFO would otherwise wait for a writer and hang
    //  the loop; it is refused below. Reading a regular file ignores it.
    int fd = openat(dirfd, last, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        rc = s_open_failed(dirfd, last, path, errno, why, whylen);
    close(dirfd);
    if (rc)
        return rc;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        rc = s_why(why, whylen, PROTO_ERR_IO, "cannot read %s: not a regular file", path);
    else if (s_node_is(&self->identity, &st) || s_node_is(&self->pass_file, &st))
        rc = s_why(why, whylen, PROTO_ERR_NOT_AUTHORIZED,
                   "%s is the agent's own key or passphrase: never sent", path);
    else if ((uint64_t) st.st_size > limit)
        rc = s_why(why, whylen, PROTO_ERR_TOO_LARGE, "%s is %lld bytes, over the limit", path,
                   (long long) st.st_size);
    size_t size = rc ? 0 : (size_t) st.st_size, got = 0;
    uint8_t *buf = rc ? NULL : malloc(size ? size : 1);
    if (!rc && !buf)
        rc = s_why(why, whylen, PROTO_ERR_NOMEM, "out of memory for %s", path);
    while (!rc && got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            rc = s_why(why, whylen, PROTO_ERR_IO, "cannot read %s: %s", path,
                       n < 0 ? strerror(errno) : "it became shorter while read");
        else
            got += (size_t) n;
    }
    close(fd);
    if (rc) {
        free(buf);
        return rc;
    }
    *data = buf;
    *len = size;
    return PROTO_OK;
}

proto_err_t agent_files_write_path(const agent_files_t *self, const char *path, const void *data,
                                   size_t len, char *why, size_t whylen)
{
    char norm[PATH_MAX];
    int dirfd = -1;
    const char *last = NULL;
    proto_err_t rc = s_walk(self, path, false, true, norm, &dirfd, &last, why, whylen);
    if (rc)
        return rc;
    rc = agent_files_write(dirfd, last, data, len, why, whylen);
    close(dirfd);
    return rc;
}

static bool s_plain_name(const char *name)
{
    return name[0] && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && !strchr(name, '/');
}

proto_err_t agent_files_open_dir(const agent_files_t *self, const char *dir, const char *sub,
                                 int *fd, char *why, size_t whylen)
{
    if (!s_plain_name(sub))
        return s_why(why, whylen, PROTO_ERR_VALUE, "'%s' is not a plain name", sub);
    char norm[PATH_MAX];
    int parent = -1;
    const char *last = NULL;
    proto_err_t rc = s_walk(self, dir, true, true, norm, &parent, &last, why, whylen);
    if (rc)
        return rc;
    char shown[PATH_MAX];
    snprintf(shown, sizeof shown, "%s/%s", dir, sub);
    if (mkdirat(parent, sub, 0750) != 0 && errno != EEXIST)
        rc = s_why(why, whylen, PROTO_ERR_IO, "cannot create %s: %s", shown, strerror(errno));
    int out = rc ? -1 : openat(parent, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (!rc && out < 0)
        rc = s_open_failed(parent, sub, shown, errno, why, whylen);
    close(parent);
    if (!rc)
        rc = s_dir_ok(self, out, shown, why, whylen);
    if (rc) {
        if (out >= 0)
            close(out);
        return rc;
    }
    *fd = out;
    return PROTO_OK;
}

proto_err_t agent_files_write(int dirfd, const char *name, const void *data, size_t len, char *why,
                              size_t whylen)
{
    if (!s_plain_name(name))
        return s_why(why, whylen, PROTO_ERR_VALUE, "'%s' is not a plain file name", name);
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
        return s_why(why, whylen, S_ISLNK(st.st_mode) ? PROTO_ERR_NOT_AUTHORIZED : PROTO_ERR_IO,
                     "%s is %s: not replaced", name,
                     S_ISLNK(st.st_mode)   ? "a symbolic link"
                     : S_ISDIR(st.st_mode) ? "a directory"
                                           : "not a regular file");
    //  A fresh, unguessable name created with O_EXCL: nothing planted can be
    //  opened in its place. The rename then replaces name itself, even if a
    //  symlink appeared there since the check above, and never follows it.
    uint8_t random[8];
    randombytes_buf(random, sizeof random);
    char tmp[64];
    char hex[2 * sizeof random + 1];
    sodium_bin2hex(hex, sizeof hex, random, sizeof random);
    snprintf(tmp, sizeof tmp, ".truc-%s.part", hex);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (fd < 0)
        return s_why(why, whylen, PROTO_ERR_IO, "cannot create a file beside %s: %s", name,
                     strerror(errno));
    size_t done = 0;
    int err = 0;
    while (done < len) {
        ssize_t n = write(fd, (const uint8_t *) data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? errno : EIO;
            break;
        }
        done += (size_t) n;
    }
    if (!err && fsync(fd) != 0)
        err = errno;
    if (close(fd) != 0 && !err)
        err = errno;
    if (!err && renameat(dirfd, tmp, dirfd, name) != 0)
        err = errno;
    if (err) {
        unlinkat(dirfd, tmp, 0);
        return s_why(why, whylen, PROTO_ERR_IO, "cannot write %s: %s", name, strerror(err));
    }
    if (fsync(dirfd) != 0)
        return s_why(why, whylen, PROTO_ERR_IO, "cannot sync the directory of %s: %s", name,
                     strerror(errno));
    return PROTO_OK;
}

static bool s_inside(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

agent_files_t *agent_files_new(const agent_config_t *config, char *errbuf, size_t errlen)
{
    agent_files_t *self = calloc(1, sizeof *self);
    char data_real[PATH_MAX];
    if (!self) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    if (!realpath(config->data_dir, data_real)) {
        snprintf(errbuf, errlen, "cannot resolve the data directory %s: %s", config->data_dir,
                 strerror(errno));
        goto fail;
    }
    s_node_note(&self->data_dir, data_real);
    s_node_note(&self->identity, config->identity);
    s_node_note(&self->pass_file, config->passphrase_file);
    const char *list = config->allowed_dirs ? config->allowed_dirs : "";
    if (!list[0]) {
        //  The exchange directory beside the data directory. It need not
        //  exist yet: requests say so until the operator makes it.
        char exchange[PATH_MAX];
        char *slash = strrchr(data_real, '/');
        size_t keep = slash && slash != data_real ? (size_t) (slash - data_real) : 0;
        snprintf(exchange, sizeof exchange, "%.*s/exchange", (int) keep, data_real);
        self->implicit = true;
        self->dirs[0] = strdup(exchange);
        if (!self->dirs[0]) {
            snprintf(errbuf, errlen, "out of memory");
            goto fail;
        }
        self->ndirs = 1;
        return self;
    }
    for (const char *p = list; *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t) (colon - p) : strlen(p);
        char norm[PATH_MAX], real[PATH_MAX];
        struct stat st;
        if (n == 0) {
            p += 1;
            continue;
        }
        if (self->ndirs + 2 > 2 * FILES_MAX_DIRS) {
            snprintf(errbuf, errlen, "api.allowed_dirs: more than %d directories", FILES_MAX_DIRS);
            goto fail;
        }
        if (!s_normalise(p, n, norm, sizeof norm)) {
            snprintf(errbuf, errlen,
                     "api.allowed_dirs: '%.*s' is not an absolute path without . or .. "
                     "components",
                     (int) n, p);
            goto fail;
        }
        errno = 0;
        if (stat(norm, &st) != 0 || !S_ISDIR(st.st_mode) || !realpath(norm, real)) {
            snprintf(errbuf, errlen, "api.allowed_dirs: %s is not a directory%s%s", norm,
                     errno ? ": " : "", errno ? strerror(errno) : "");
            goto fail;
        }
        if (s_inside(real, data_real)) {
            snprintf(errbuf, errlen,
                     "api.allowed_dirs: %s is inside the data directory %s, whose files the "
                     "agent never sends or replaces",
                     norm, data_real);
            goto fail;
        }
        if (!(self->dirs[self->ndirs] = strdup(norm))) {
            snprintf(errbuf, errlen, "out of memory");
            goto fail;
        }
        self->ndirs++;
        //  Also by its resolved name: truc (and many a DMS) hands over paths
        //  it resolved with realpath, which a symlinked mount changes.
        if (strcmp(real, norm) != 0) {
            if (!(self->dirs[self->ndirs] = strdup(real))) {
                snprintf(errbuf, errlen, "out of memory");
                goto fail;
            }
            self->ndirs++;
        }
        p += n + (colon ? 1 : 0);
    }
    if (!self->ndirs) {
        snprintf(errbuf, errlen, "api.allowed_dirs names no directory");
        goto fail;
    }
    return self;
fail:
    agent_files_destroy(&self);
    return NULL;
}

void agent_files_destroy(agent_files_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    agent_files_t *self = *self_p;
    for (size_t i = 0; i < self->ndirs; i++)
        free(self->dirs[i]);
    free(self);
    *self_p = NULL;
}
