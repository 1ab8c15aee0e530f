/*  err.c - the string table behind proto_err_t, and the failure detail
    callers get in their buffer (detail.h).

    One row per code. Tests check that every code in err.h has a row and that
    the rows are sorted, so a lookup can stop early.
*/
#include "proto/err.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "detail.h"

typedef struct {
    proto_err_t code;
    const char *name;
    const char *message;
} s_err_row_t;

#define ROW(sym, msg)                                                                              \
    {                                                                                              \
        PROTO_##sym, #sym, msg                                                                     \
    }

static const s_err_row_t s_rows[] = {
    ROW(OK, "success"),
    ROW(ERR_FRAMING, "malformed framing"),
    ROW(ERR_VERSION, "unsupported protocol version"),
    ROW(ERR_KIND, "unknown message kind"),
    ROW(ERR_MSGPACK, "malformed msgpack"),
    ROW(ERR_TRAILING, "trailing bytes after the message body"),
    ROW(ERR_DEPTH, "nesting deeper than the schema allows"),
    ROW(ERR_TYPE, "field has the wrong type"),
    ROW(ERR_MISSING, "required field missing"),
    ROW(ERR_UNKNOWN_FIELD, "unknown field"),
    ROW(ERR_DUP_FIELD, "duplicate field"),
    ROW(ERR_LIMIT, "value over its limit"),
    ROW(ERR_UTF8, "invalid UTF-8 in text"),
    ROW(ERR_VALUE, "invalid value"),
    ROW(ERR_AGENCY_CODE, "invalid agency code"),
    ROW(ERR_TOO_LARGE, "message too large"),
    ROW(ERR_UNEXPECTED, "message not allowed here"),
    ROW(ERR_DUP_NAME, "two attachments with the same file name"),
    ROW(ERR_XML, "not well-formed XML, or not an edXML package"),
    ROW(ERR_BAD_SIGNATURE, "bad signature"),
    ROW(ERR_HASH_MISMATCH, "attachment does not match its hash or size"),
    ROW(ERR_SENDER_MISMATCH, "sender differs from the authenticated agency"),
    ROW(ERR_UNKNOWN_AGENCY, "unknown agency"),
    ROW(ERR_AGENCY_SUSPENDED, "agency suspended"),
    ROW(ERR_AGENCY_REVOKED, "agency revoked"),
    ROW(ERR_NOT_AUTHORIZED, "not authorized"),
    ROW(ERR_NOT_AUTHENTICATED, "not authenticated"),
    ROW(ERR_BAD_PROOF, "inclusion proof does not match the signed root"),
    ROW(ERR_DIRECTORY_BASE, "directory delta does not apply to the directory held"),
    ROW(ERR_BROKER_SUSPENDED, "the recipient's home broker is suspended"),
    ROW(ERR_BROKER_REVOKED, "the recipient's home broker is revoked"),
    ROW(ERR_KEY_RETIRED, "signed with a retired key after its validity window closed"),
    ROW(ERR_DUPLICATE_ID, "document id already used for different content"),
    ROW(ERR_UNKNOWN_DOC, "unknown document"),
    ROW(ERR_EXPIRED, "expired before delivery"),
    ROW(ERR_REVOKED, "document revoked"),
    ROW(ERR_BAD_STATE, "not valid in the current state"),
    ROW(ERR_UNDELIVERABLE, "recipient can no longer receive"),
    ROW(ERR_TIME, "time too far from the receiver's clock"),
    ROW(ERR_HOP_LIMIT, "forwarded through too many brokers"),
    ROW(ERR_ROUTE_LOOP, "forwarding would pass a broker twice"),
    ROW(ERR_STORE_FULL, "store full"),
    ROW(ERR_QUOTA, "quota exceeded"),
    ROW(ERR_BUSY, "busy, try again later"),
    ROW(ERR_TIMEOUT, "timed out"),
    ROW(ERR_RATE, "rate limit reached, try again later"),
    ROW(ERR_NOMEM, "out of memory"),
    ROW(ERR_SYSTEM, "system call failed"),
    ROW(ERR_IO, "input/output error"),
    ROW(ERR_STORE, "store error"),
    ROW(ERR_CONFIG, "invalid configuration"),
    ROW(ERR_KEY_FILE, "key file corrupt or of an unknown format"),
    ROW(ERR_PASSPHRASE, "wrong or missing passphrase"),
    ROW(ERR_PERMISSIONS, "file mode gives group or others too much access"),
    ROW(ERR_DIRECTORY, "invalid agency directory"),
    ROW(ERR_NOT_FOUND, "not found"),
    ROW(ERR_EXISTS, "already exists"),
    ROW(ERR_INVALID_ARG, "invalid argument"),
    ROW(ERR_CRYPTO, "crypto library failure"),
    ROW(ERR_STORE_DAMAGED, "store file damaged or truncated"),
    ROW(ERR_STORE_BEHIND, "store is behind its anchor"),
    ROW(ERR_INTERNAL, "internal error"),
};

#define ROW_COUNT (sizeof s_rows / sizeof s_rows[0])

static const s_err_row_t *s_find(unsigned long code)
{
    for (size_t i = 0; i < ROW_COUNT; i++) {
        if ((unsigned long) s_rows[i].code == code)
            return &s_rows[i];
        if ((unsigned long) s_rows[i].code > code)
            break;
    }
    return NULL;
}

const char *proto_strerror(proto_err_t err)
{
    const s_err_row_t *row = s_find((unsigned long) err);
    return row ? row->message : "unknown error";
}

const char *proto_errname(proto_err_t err)
{
    const s_err_row_t *row = s_find((unsigned long) err);
    return row ? row->name : "ERR_UNKNOWN";
}

int proto_err_is_known(unsigned long err)
{
    return s_find(err) != NULL;
}

void proto_err_foreach(proto_err_foreach_fn *fn, void *arg)
{
    for (size_t i = 0; i < ROW_COUNT; i++)
        fn(s_rows[i].code, arg);
}

void proto_detailf(char *errbuf, size_t errlen, const char *format, ...)
{
    if (!errbuf || errlen == 0)
        return;
    va_list args;
    va_start(args, format);
    vsnprintf(errbuf, errlen, format, args);
    va_end(args);
}
