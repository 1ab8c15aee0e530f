/*  broker/audit_query.h - one page of the audit chain, filtered.

    `truc-admin audit show` asks for entries by agency, event, document and
    time, a page at a time: the first entries after a sequence number, or
    the last ones (before a number, or at the end of the chain). A page is
    found by walking the chain by sequence number in the store's open
    transaction, never by loading it: memory is bounded by the page's limit
    (at most BROKER_AUDIT_PAGE_MAX entries), whatever the chain's length.
    Time is not bounded: a filter that matches little reads the chain until
    the page is full or the chain ends.

    The walk checks the links between the entries it reads (numbering and
    hashes), not the chain before them: that is `audit verify`.
*/
#ifndef BROKER_AUDIT_QUERY_H
#define BROKER_AUDIT_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/agency.h"
#include "proto/err.h"
#include "proto/msg.h"
#include "store.h"

#define BROKER_AUDIT_PAGE_DEFAULT 50   // entries in a page when no limit is asked for
#define BROKER_AUDIT_PAGE_MAX     1000 // the most entries one page may hold

//  What a page holds: every condition set must match (0, "" or -1: any).
typedef struct {
    char agency[PROTO_LABEL_MAX + 1]; // the entry's agency, exactly; "" = any
    int event;                        // a broker_audit_event_t; -1 = any
    bool has_id;                      // only entries about this document
    proto_id_t id;                    //
    uint64_t since;                   // entry time >= since (Unix ms); 0 = any
    uint64_t until;                   // entry time < until (Unix ms); 0 = any
    bool has_after;                   // the first matches numbered above after,
    uint64_t after;                   //
    uint64_t before;                  // else the last ones below before (0: the end)
    size_t limit;                     // 1..BROKER_AUDIT_PAGE_MAX (0: not set yet)
} broker_audit_query_t;

typedef struct broker_audit_page broker_audit_page_t;

//  Fill q with "any" and no limit yet (broker_audit_query_check sets it).
void broker_audit_query_init(broker_audit_query_t *q);

//  Set one condition from a "name=value" argument of `audit show`: agency,
//  event (a name broker_audit_event_name gives), id, since, until (Unix
//  ms), after, before (sequence numbers), limit. PROTO_ERR_VALUE with a
//  message in errbuf for an unknown name or a bad value.
proto_err_t broker_audit_query_set(broker_audit_query_t *q, const char *arg, char *errbuf,
                                   size_t errlen) PROTO_MUST_CHECK;

//  Whether the conditions go together: not both after and before, since
//  before until. PROTO_ERR_VALUE with a message in errbuf if not. Then
//  the limit, if none was set: BROKER_AUDIT_PAGE_DEFAULT, or for one
//  document's entries BROKER_AUDIT_PAGE_MAX (all of them, as `audit show
//  ID` gave before pages).
proto_err_t broker_audit_query_check(broker_audit_query_t *q, char *errbuf,
                                     size_t errlen) PROTO_MUST_CHECK;

//  The page q asks for, read in the store's open transaction; *out gets a
//  new page the caller owns, its entries oldest first. PROTO_ERR_BAD_PROOF
//  with *bad_seq when an entry read does not link to the one before it,
//  PROTO_ERR_NOMEM, PROTO_ERR_INVALID_ARG for a limit out of range.
proto_err_t broker_audit_page_new(broker_store_t *store, const broker_audit_query_t *q,
                                  broker_audit_page_t **out, uint64_t *bad_seq) PROTO_MUST_CHECK;

//  Destroy the page and set *self_p to NULL. Safe on NULL.
void broker_audit_page_destroy(broker_audit_page_t **self_p);

//  The number of entries, and entry i (0 = oldest); borrowed, valid until
//  the page is destroyed.
size_t broker_audit_page_count(const broker_audit_page_t *self);
const broker_audit_entry_t *broker_audit_page_entry(const broker_audit_page_t *self, size_t i);

#endif
