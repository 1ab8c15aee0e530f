/*  proto/route.h - federation: the brokers a directory lists, and where a
    document for an agency code goes.

    Brokers federate (PROTOCOL.md, "Federation: broker entries and
    routing"). Each broker's directory lists the other brokers it knows as
    broker entries: label, Ed25519 key, state, and what each is home for,
    as explicit agency codes and as patterns on the hierarchical code. An
    agency entry may name its home broker. From these, routing answers one
    question for a recipient code: deliver here (LOCAL), forward to a
    linked broker (LINK), or refuse (NONE, with the reason).

    Patterns are dot-separated levels like agency codes, read from the
    right: a pattern of fewer than four levels matches the code's last
    levels, and '*' stands for exactly one level at any position. So "H29",
    "*.H29" and "*.*.*.H29" are the same pattern: every code whose level 1
    is H29. A pattern has 0 to 3 literal levels; four literal levels make a
    code, which goes under codes. The most specific match wins: an explicit
    code beats every pattern, and between patterns more literal levels win.
    Two brokers whose best patterns tie on some code make the directory
    invalid unless a more specific code or pattern covers every code they
    share: routing is never left to chance.

    This module owns the broker entries of a directory (src/route_table.c)
    and an index of their codes and patterns (src/route.c), so a route
    costs at most 16 binary searches, whatever the number of agencies and
    patterns. It does not link to brokers, forward documents or log.
*/
#ifndef PROTO_ROUTE_H
#define PROTO_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/directory.h"
#include "proto/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PROTO_ROUTE_PATTERN_MAX 13 // bytes of a pattern as written

//  Where a document for one agency code goes.
typedef enum {
    PROTO_ROUTE_NONE = 0,  // nowhere: refuse it (reason says why)
    PROTO_ROUTE_LOCAL = 1, // an agency of this broker: deliver here
    PROTO_ROUTE_LINK = 2,  // forward to the broker in result.broker
} proto_route_kind_t;

//  What decided the route.
typedef enum {
    PROTO_ROUTE_BY_NOTHING = 0, // no entry, code or pattern matched
    PROTO_ROUTE_BY_ENTRY = 1,   // the agency's entry, without a home or with this broker's
    PROTO_ROUTE_BY_HOME = 2,    // the agency's entry names another broker as its home
    PROTO_ROUTE_BY_CODE = 3,    // a broker lists the code explicitly
    PROTO_ROUTE_BY_PATTERN = 4, // a broker's pattern, the most specific that matches
} proto_route_via_t;

//  The answer of proto_directory_route. Pointers are borrowed from the
//  directory: valid until it changes or is destroyed.
typedef struct {
    proto_route_kind_t kind;                // LOCAL, LINK or NONE
    proto_route_via_t via;                  // what decided it
    proto_err_t reason;                     // PROTO_OK, or why NONE
    const proto_directory_entry_t *agency;  // the agency's entry, or NULL if not listed
    const proto_directory_broker_t *broker; // LINK: next hop; NONE: the broker refused, or NULL
    const char *pattern;                    // BY_PATTERN: the pattern as written, else NULL
} proto_route_t;

//  Route a document for agency code (NUL-terminated) in dir, seen from the
//  broker labelled self_label (NULL or "" for a broker without a label:
//  then only agencies without a home are its own). In this order:
//    - the agency has an entry: LOCAL if its home is absent or self_label,
//      else LINK to its home broker;
//    - else the broker that lists the code explicitly, else the broker of
//      the most specific matching pattern: LINK to it, but NONE with
//      PROTO_ERR_UNKNOWN_AGENCY if that is this broker itself (the code
//      would be ours, and we do not know it: forwarding it would loop);
//    - else NONE with PROTO_ERR_UNKNOWN_AGENCY.
//  A LINK to a suspended or revoked broker becomes NONE with
//  PROTO_ERR_BROKER_SUSPENDED or PROTO_ERR_BROKER_REVOKED, and result.broker
//  names it; a less specific broker is never tried instead. LOCAL does not
//  check that the agency is usable (proto_directory_entry_usable does).
//  Returns PROTO_OK for LOCAL and LINK, else the reason (also in result):
//  PROTO_ERR_AGENCY_CODE for an invalid code, PROTO_ERR_INVALID_ARG.
//  O(log n + log p): never a walk over the agencies or the patterns.
proto_err_t proto_directory_route(const proto_directory_t *dir, const char *code,
                                  const char *self_label, proto_route_t *result) PROTO_MUST_CHECK;

//  Parse a routing pattern. On success key receives its normal form: the 13
//  bytes of a code with every wildcard level filled with '*' (H29 gives
//  "***.**.**.H29") and a NUL, and *literals the number of literal levels
//  (0 to 3). Returns PROTO_ERR_VALUE for anything else, with *problem (if
//  not NULL) saying what: empty, over PROTO_ROUTE_PATTERN_MAX bytes, more
//  than four levels, a level that is neither '*' nor valid for its
//  position (XNN: a capital and two digits, not 00; YY and ZZ: two digits;
//  WWW: three digits), four literal levels (a code: list it under codes),
//  or literals no agency code can have (a zero level above a non-zero one,
//  as in 01.00.*).
proto_err_t proto_route_pattern_parse(const char *pattern, char key[PROTO_AGENCY_CODE_LEN + 1],
                                      int *literals, const char **problem) PROTO_MUST_CHECK;

//  Does the valid pattern match the valid agency code? false if either is
//  invalid.
bool proto_route_pattern_match(const char *pattern, const char *code);

//  Number of brokers in dir.
size_t proto_directory_broker_count(const proto_directory_t *dir);

//  The broker at index (0 to count-1) in label order, or NULL.
const proto_directory_broker_t *proto_directory_broker(const proto_directory_t *dir, size_t index);

//  The broker labelled label, or NULL. O(log b).
const proto_directory_broker_t *proto_directory_broker_find(const proto_directory_t *dir,
                                                            const char *label);

//  The broker whose CURVE key is curve_pk, or NULL. O(b), b at most
//  PROTO_DIRECTORY_MAX_BROKERS. For the broker's link handshake; a ZAP
//  handler for agency sessions asks proto_directory_find_curve, which never
//  returns a broker.
const proto_directory_broker_t *
proto_directory_broker_find_curve(const proto_directory_t *dir,
                                  const uint8_t curve_pk[PROTO_IDENTITY_KEY_LEN]);

//  Add a copy of *broker (everything is copied; curve_pk is derived from
//  sign_pk). Increments the serial. Fails, leaving the directory unchanged,
//  with PROTO_ERR_VALUE (a label that is not a broker label of at most
//  PROTO_DIRECTORY_BROKER_LABEL bytes, or is an agency code; a bad name,
//  state, key, code or pattern; a code or pattern twice), PROTO_ERR_EXISTS
//  (the label, or a key that derives the same CURVE key as an agency's or
//  a broker's, is already present), PROTO_ERR_DIRECTORY (the broker would
//  make routing ambiguous, or lists an agency whose entry has another
//  home), PROTO_ERR_LIMIT (too many brokers, codes or patterns),
//  PROTO_ERR_NOMEM, PROTO_ERR_INVALID_ARG. errbuf (may be NULL) gets the
//  detail, naming both brokers and the pattern of an ambiguity.
proto_err_t proto_directory_broker_add(proto_directory_t *dir,
                                       const proto_directory_broker_t *broker, char *errbuf,
                                       size_t errlen) PROTO_MUST_CHECK;

//  Set the state of a broker, with the rules of proto_directory_set_state:
//  no change is PROTO_OK without touching the serial, revocation is final
//  (PROTO_ERR_BAD_STATE). PROTO_ERR_NOT_FOUND if there is no such broker,
//  PROTO_ERR_INVALID_ARG.
proto_err_t proto_directory_broker_set_state(proto_directory_t *dir, const char *label,
                                             proto_directory_state_t state) PROTO_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
