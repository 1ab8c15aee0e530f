/*  proto/fname.h - the rules for attachment file names.

    An attachment's name becomes a file name on the recipient's disk
    (truc fetch --dir writes DIR/<id>/<name>), so the sender's agent, the
    broker and the receiving agent all apply the same rules, here:

      - 1 to 200 characters (PROTO_MAX_NAME, checked by the decoder) and at
        most 255 bytes of UTF-8, what ext4, XFS and btrfs hold in one name;
      - not "." or "..", no '/', '\', U+0000-U+001F or U+007F;
      - no two attachments of one document with the same name, where names
        are the same if they are equal after case folding and Unicode NFC
        normalisation ("QD.pdf", "qd.pdf" and a decomposed "qđ.pdf" are one
        name): on a case-insensitive or normalising file system, or in the
        DMS that files them, they would be one file.

    Normalisation and case folding come from GNU libunistring; nothing here
    changes a name, names travel and are signed byte for byte.
*/
#ifndef PROTO_FNAME_H
#define PROTO_FNAME_H

#include <stddef.h>

#include "proto/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PROTO_MAX_NAME_BYTES 255 // bytes of UTF-8 in an attachment name

//  Check the len bytes at name (valid UTF-8, need not be NUL-terminated)
//  as one attachment name. Returns PROTO_OK, PROTO_ERR_LIMIT (over 255
//  bytes) or PROTO_ERR_VALUE (empty, "." or "..", a separator or a control
//  character); with *why (if not NULL) set to a constant sentence.
proto_err_t proto_fname_check(const char *name, size_t len, const char **why) PROTO_MUST_CHECK;

//  Look for two names in names[0..n) that are the same file name (equal
//  after case folding and NFC). Each name is a NUL-terminated UTF-8 string,
//  borrowed. Returns PROTO_OK if all differ; PROTO_ERR_DUP_NAME with *first
//  and *second (first < second, the earliest such second) set if not;
//  PROTO_ERR_UTF8 if a name is not valid UTF-8, PROTO_ERR_NOMEM.
proto_err_t proto_fname_find_twice(const char *const *names, size_t n, size_t *first,
                                   size_t *second) PROTO_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
