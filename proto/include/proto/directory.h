/*  proto/directory.h - the agency directory: which agencies the broker trusts.

    The directory is a list of agencies, each with its agency code, display
    name, Ed25519 public key (the CURVE transport key is derived from it and
    never stored), state (active, suspended, revoked) and an optional
    validity window. Operators manage it with `truc-keys directory`; the
    broker loads it and its ZAP handler looks agencies up by CURVE key.

    This module owns the in-memory directory (an opaque handle with two
    sorted indexes, so lookups by code and by CURVE key are O(log n)), the
    strict parser and the atomic writer of the directory file (format in
    keys/README.md), and the rule that says whether an entry may be used at
    a given time. It does not sign or distribute the directory and does not
    log.

    A directory may also list brokers (federation): each with its label,
    Ed25519 key, state, and the agency codes and patterns it is home for,
    and an agency may name its home broker. Those entries and the routing
    they imply live in proto/route.h (src/route.c, src/route_table.c); the
    functions below that touch them keep the one key space and the rules
    of both.
*/
#ifndef PROTO_DIRECTORY_H
#define PROTO_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/agency.h"
#include "proto/err.h"
#include "proto/identity.h"
#include "proto/keywin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PROTO_DIRECTORY_NAME_MAX    200         // display name, characters (code points)
#define PROTO_DIRECTORY_MAX_ENTRIES 65536       // agencies in one directory
#define PROTO_DIRECTORY_FILE_MAX    (64u << 20) // bytes; larger files are refused
#define PROTO_DIRECTORY_TIME_LEN    20          // "2026-11-21T08:30:00Z", without NUL

//  The state of an agency. Same values as proto_agency_state_t on the wire.
typedef enum {
    PROTO_DIRECTORY_ACTIVE = 0,    // may connect and exchange documents
    PROTO_DIRECTORY_SUSPENDED = 1, // refused for now; can be reinstated
    PROTO_DIRECTORY_REVOKED = 2,   // refused for good; final
} proto_directory_state_t;

//  One agency. Entries returned by the directory are borrowed: valid until
//  the directory changes or is destroyed.
typedef struct {
    char code[PROTO_AGENCY_CODE_LEN + 1];     // agency code, NUL-terminated
    const char *name;                         // display name, UTF-8, NUL-terminated
    uint8_t sign_pk[PROTO_IDENTITY_KEY_LEN];  // Ed25519 public key
    uint8_t curve_pk[PROTO_IDENTITY_KEY_LEN]; // CURVE key derived from sign_pk
    proto_directory_state_t state;            // active, suspended or revoked
    int64_t valid_from;                       // Unix seconds, 0 = no lower bound
    int64_t valid_until;                      // Unix seconds (exclusive), 0 = no upper bound
    char home[PROTO_LABEL_MAX + 1];           // label of the broker that serves it, "" = this one
    int64_t key_since;                        // when sign_pk became its key, 0 = not recorded
    size_t retired_count;                     // retired keys, 0 to PROTO_KEYWIN_MAX
    const proto_keywin_t *retired;            // retired keys and windows, oldest first
} proto_directory_entry_t;

#define PROTO_DIRECTORY_MAX_BROKERS     256  // brokers in one directory
#define PROTO_DIRECTORY_BROKER_LABEL    41   // label bytes: "[broker LABEL]" fits a 48-byte section
#define PROTO_DIRECTORY_BROKER_PATTERNS 32   // patterns one broker is home for
#define PROTO_DIRECTORY_BROKER_CODES    4096 // explicit agency codes one broker is home for

//  One broker of a federation (see proto/route.h). Entries returned by the
//  directory are borrowed like agency entries. A broker entry is never an
//  agency: proto_directory_find and proto_directory_find_curve do not see it.
typedef struct {
    char label[PROTO_LABEL_MAX + 1];          // broker label, NUL-terminated
    const char *name;                         // display name, UTF-8, NUL-terminated
    uint8_t sign_pk[PROTO_IDENTITY_KEY_LEN];  // Ed25519 public key
    uint8_t curve_pk[PROTO_IDENTITY_KEY_LEN]; // CURVE key derived from sign_pk
    proto_directory_state_t state;            // active, suspended or revoked
    size_t code_count;                        // explicit agency codes it is home for
    const char *const *codes;                 // code_count codes, in the order given
    size_t pattern_count;                     // patterns it is home for
    const char *const *patterns;              // pattern_count patterns, as written
} proto_directory_broker_t;

typedef struct proto_directory proto_directory_t;

//  Create an empty directory with serial 0. Returns NULL if out of memory.
proto_directory_t *proto_directory_new(void);

//  Destroy the directory and its entries, set *self_p to NULL. Safe on NULL.
void proto_directory_destroy(proto_directory_t **self_p);

//  A copy of src into *out, the caller's: entries, brokers, serial. The
//  CURVE keys are copied, not derived again, so copying a directory of
//  64,000 agencies costs milliseconds where loading its file again costs
//  seconds. PROTO_ERR_INVALID_ARG, PROTO_ERR_NOMEM.
proto_err_t proto_directory_copy(const proto_directory_t *src,
                                 proto_directory_t **out) PROTO_MUST_CHECK;

//  Read and validate a directory file. On success *out receives a new
//  directory the caller owns. Any violation of the format gives
//  PROTO_ERR_DIRECTORY with a detail naming the line and section in errbuf
//  (may be NULL), e.g. "line 14: [000.00.01.H01] unknown state 'paused'":
//  sections that are not agency codes, duplicate sections or keys, unknown or
//  missing keys, bad UTF-8 or characters in names, unknown states, bad times,
//  valid_from not before valid_until, two agencies with the same key, a file
//  over PROTO_DIRECTORY_FILE_MAX bytes or with more than
//  PROTO_DIRECTORY_MAX_ENTRIES agencies; and for federation (proto/route.h)
//  a bad [broker LABEL] section, a broker with an agency's or another
//  broker's key, a home naming no broker, ambiguous routing (both brokers
//  and the pattern named). PROTO_ERR_PERMISSIONS if group or
//  others may write the file (the directory decides whom the broker trusts;
//  checked before it is read). Also PROTO_ERR_NOT_FOUND, PROTO_ERR_IO,
//  PROTO_ERR_NOMEM.
proto_err_t proto_directory_load(const char *path, proto_directory_t **out, char *errbuf,
                                 size_t errlen) PROTO_MUST_CHECK;

//  The same from len bytes of text (borrowed). Failures as above.
proto_err_t proto_directory_parse(const char *text, size_t len, proto_directory_t **out,
                                  char *errbuf, size_t errlen) PROTO_MUST_CHECK;

//  proto_directory_load and _parse for a file read again: known (may be
//  NULL) is a directory this module built (the one in force), whose CURVE
//  keys are reused for the agencies whose Ed25519 key did not change
//  instead of being derived again. Deriving them is most of a load's
//  cost: 64,000 agencies take seconds, a reload of them with a few
//  changed tens of milliseconds. The result and the failures are the same.
proto_err_t proto_directory_load_known(const char *path, const proto_directory_t *known,
                                       proto_directory_t **out, char *errbuf,
                                       size_t errlen) PROTO_MUST_CHECK;
proto_err_t proto_directory_parse_known(const char *text, size_t len,
                                        const proto_directory_t *known, proto_directory_t **out,
                                        char *errbuf, size_t errlen) PROTO_MUST_CHECK;

//  Write the directory to path atomically (temporary file, fsync, rename,
//  directory fsync), mode 0644 before umask, replacing any existing file.
//  Entries are written in code order. Returns PROTO_ERR_NOT_FOUND if the
//  containing directory is missing, PROTO_ERR_IO, PROTO_ERR_NOMEM; errbuf
//  (may be NULL) gets the detail.
proto_err_t proto_directory_save(const proto_directory_t *self, const char *path, char *errbuf,
                                 size_t errlen) PROTO_MUST_CHECK;

//  Number of agencies.
size_t proto_directory_count(const proto_directory_t *self);

//  The serial number: as loaded, plus one for every change since.
uint64_t proto_directory_serial(const proto_directory_t *self);

//  When the directory last changed, Unix seconds (0 if never recorded).
int64_t proto_directory_updated(const proto_directory_t *self);

//  The entry at index (0 to count-1) in code order, or NULL if out of range.
const proto_directory_entry_t *proto_directory_entry(const proto_directory_t *self, size_t index);

//  The entry for an agency code, or NULL. O(log n).
const proto_directory_entry_t *proto_directory_find(const proto_directory_t *self,
                                                    const char *code);

//  The entry whose CURVE public key is curve_pk, or NULL. O(log n). This is
//  what a ZAP handler asks after a CURVE handshake.
const proto_directory_entry_t *
proto_directory_find_curve(const proto_directory_t *self,
                           const uint8_t curve_pk[PROTO_IDENTITY_KEY_LEN]);

//  Add a copy of *entry (name is copied; curve_pk is ignored and derived from
//  sign_pk). Increments the serial. Fails, leaving the directory unchanged,
//  with PROTO_ERR_AGENCY_CODE (bad code), PROTO_ERR_EXISTS (the code, or a
//  key that derives the same CURVE key as an agency's or a broker's, is
//  already present), PROTO_ERR_VALUE (bad name, state, times, key or home
//  label; see proto_directory_name_check), PROTO_ERR_NOT_FOUND (home names no broker
//  of the directory), PROTO_ERR_DIRECTORY (a broker lists the code
//  explicitly and home does not name it), PROTO_ERR_LIMIT (directory full),
//  PROTO_ERR_NOMEM, PROTO_ERR_INVALID_ARG.
proto_err_t proto_directory_add(proto_directory_t *self,
                                const proto_directory_entry_t *entry) PROTO_MUST_CHECK;

//  Put copies of many entries at once, each in place of the agency with
//  the same code or added, in O((n + count) log(n + count)): for a broker
//  that merges a directory of tens of thousands of agencies it was sent.
//  known (may be NULL): a directory whose entries' CURVE keys are reused
//  for the same code with the same Ed25519 key instead of being derived
//  again (tens of µs each). Each entry that cannot be put is left out and
//  reported to refused (may be NULL) with its code and the reason, as
//  proto_directory_add gives them (PROTO_ERR_EXISTS for a key another
//  agency or a broker has, or a second entry of the batch with the same
//  code or CURVE key; PROTO_ERR_LIMIT when the directory is full); the
//  others are put. Increments the serial once when anything was put.
//  Fails, leaving the directory unchanged, with PROTO_ERR_NOMEM,
//  PROTO_ERR_LIMIT (the serial cannot grow), PROTO_ERR_INVALID_ARG.
typedef void(proto_directory_refused_fn)(void *arg, const char *code, proto_err_t rc);
proto_err_t proto_directory_put_many(proto_directory_t *self,
                                     const proto_directory_entry_t *entries, size_t count,
                                     const proto_directory_t *known,
                                     proto_directory_refused_fn *refused,
                                     void *arg) PROTO_MUST_CHECK;

//  Give the directory the serial serial (1 to INT64_MAX), whatever it had:
//  for a broker whose directory in force merges its file with one it was
//  sent, and numbers the result itself. PROTO_ERR_INVALID_ARG otherwise.
proto_err_t proto_directory_set_serial(proto_directory_t *self, uint64_t serial) PROTO_MUST_CHECK;

//  Set the state of an agency. Setting the state it already has changes
//  nothing and returns PROTO_OK without touching the serial; a real change
//  increments it. Revocation is final. Fails with PROTO_ERR_AGENCY_CODE (bad
//  code), PROTO_ERR_UNKNOWN_AGENCY (not in the directory), PROTO_ERR_BAD_STATE
//  (the agency is revoked and state is not), PROTO_ERR_INVALID_ARG.
proto_err_t proto_directory_set_state(proto_directory_t *self, const char *code,
                                      proto_directory_state_t state) PROTO_MUST_CHECK;

//  Give an agency a new Ed25519 key (its CURVE key is derived anew) and
//  forget the old one: its retired keys stay as they are, the old key is not
//  added to them (proto_directory_rekey, which `truc-keys directory rekey`
//  uses, keeps it). The old key can no longer connect. Setting the key
//  it already has changes nothing and returns PROTO_OK. Fails, leaving the
//  directory unchanged, with PROTO_ERR_AGENCY_CODE, PROTO_ERR_UNKNOWN_AGENCY,
//  PROTO_ERR_BAD_STATE (revoked: final), PROTO_ERR_EXISTS (another agency
//  or a broker has this key), PROTO_ERR_VALUE (not a usable Ed25519 key),
//  PROTO_ERR_LIMIT, PROTO_ERR_INVALID_ARG.
proto_err_t proto_directory_set_key(proto_directory_t *self, const char *code,
                                    const uint8_t sign_pk[PROTO_IDENTITY_KEY_LEN]) PROTO_MUST_CHECK;

//  Rotate an agency's key and keep the old one (proto/keywin.h): the old
//  key becomes a retired key valid from key_since (when recorded) until
//  now + grace (seconds, 0 to PROTO_KEYWIN_GRACE_MAX), so what was signed
//  with it before then keeps verifying; sign_pk becomes the key, from now
//  on (key_since = now, Unix seconds). An agency keeps PROTO_KEYWIN_MAX
//  retired keys: rotating once more drops the oldest if its window has
//  closed by now, else fails with PROTO_ERR_LIMIT. The key it already has
//  changes nothing and returns PROTO_OK. Fails, leaving the directory
//  unchanged, as proto_directory_set_key does, and with PROTO_ERR_EXISTS
//  when sign_pk is one of the agency's retired keys (a key never comes
//  back), PROTO_ERR_VALUE for a grace out of range.
proto_err_t proto_directory_rekey(proto_directory_t *self, const char *code,
                                  const uint8_t sign_pk[PROTO_IDENTITY_KEY_LEN], int64_t now,
                                  int64_t grace) PROTO_MUST_CHECK;

//  The keys that verify agency code's signatures made at time t (Unix
//  seconds): its current key first, then each retired key whose window
//  holds t. Writes up to 1 + PROTO_KEYWIN_MAX keys to out and returns how
//  many (0: no such agency). O(log n) to find the agency, then a scan of
//  its few retired keys. The agency's state is not looked at
//  (proto_directory_entry_usable is).
size_t proto_directory_keys_at(const proto_directory_t *self, const char *code, int64_t t,
                               uint8_t out[][PROTO_IDENTITY_KEY_LEN]);

//  The retired keys of the broker that reads (and signs) this directory,
//  oldest first, and their count in *n: the `broker_retired` of the
//  file's [directory] section, sent to agents in DIRECTORY so that
//  receipts signed with an earlier key of the broker keep verifying
//  (PROTOCOL.md 10.1). Borrowed; NULL when there are none.
const proto_keywin_t *proto_directory_broker_retired(const proto_directory_t *self, size_t *n);

//  Record that the broker's key sign_pk was retired at now (Unix seconds)
//  with grace seconds (0 to PROTO_KEYWIN_GRACE_MAX): what it signed until
//  now + grace keeps verifying at agents that learn it from a DIRECTORY
//  signed with the broker's new key. Increments the serial. Fails with
//  PROTO_ERR_EXISTS (already retired), PROTO_ERR_LIMIT (PROTO_KEYWIN_MAX
//  windows, none closed), PROTO_ERR_VALUE (grace), PROTO_ERR_INVALID_ARG.
proto_err_t proto_directory_retire_broker_key(proto_directory_t *self,
                                              const uint8_t sign_pk[PROTO_IDENTITY_KEY_LEN],
                                              int64_t now, int64_t grace) PROTO_MUST_CHECK;

//  Name the broker that serves an agency (federation, proto/route.h): home
//  is a broker label of the directory, or NULL or "" for this broker (the
//  entry then has no home, as in directories without brokers). The same
//  home again changes nothing and returns PROTO_OK; a real change
//  increments the serial. Fails with PROTO_ERR_AGENCY_CODE,
//  PROTO_ERR_UNKNOWN_AGENCY, PROTO_ERR_NOT_FOUND (no such broker),
//  PROTO_ERR_DIRECTORY (a broker lists the code explicitly and home does
//  not name it; errbuf, may be NULL, names it), PROTO_ERR_LIMIT,
//  PROTO_ERR_INVALID_ARG.
proto_err_t proto_directory_set_home(proto_directory_t *self, const char *code, const char *home,
                                     char *errbuf, size_t errlen) PROTO_MUST_CHECK;

//  May this agency be used at time now (Unix seconds)? Returns, in this order:
//    PROTO_ERR_AGENCY_REVOKED    the agency is revoked
//    PROTO_ERR_AGENCY_SUSPENDED  the agency is suspended
//    PROTO_ERR_NOT_AUTHORIZED    now is before valid_from (not valid yet)
//    PROTO_ERR_EXPIRED           now is at or after valid_until
//    PROTO_OK                    usable
//  PROTO_ERR_INVALID_ARG if entry is NULL.
proto_err_t proto_directory_entry_usable(const proto_directory_entry_t *entry,
                                         int64_t now) PROTO_MUST_CHECK;

//  "active", "suspended", "revoked", or "?".
const char *proto_directory_state_name(proto_directory_state_t state);

//  Parse a state name. Returns PROTO_ERR_VALUE for anything else.
proto_err_t proto_directory_state_parse(const char *text,
                                        proto_directory_state_t *state) PROTO_MUST_CHECK;

//  Check a display name: valid UTF-8 (else PROTO_ERR_UTF8) of 1 to
//  PROTO_DIRECTORY_NAME_MAX characters (else PROTO_ERR_LIMIT), and nothing
//  the file cannot carry (else PROTO_ERR_VALUE): no control characters, no
//  ';', no leading, trailing or doubled spaces, no word over 180 bytes.
proto_err_t proto_directory_name_check(const char *name) PROTO_MUST_CHECK;

//  Parse a UTC time written exactly as YYYY-MM-DDTHH:MM:SSZ, years 2000 to
//  9999, into Unix seconds. Returns PROTO_ERR_VALUE for anything else.
proto_err_t proto_directory_time_parse(const char *text, int64_t *out) PROTO_MUST_CHECK;

//  Write t (Unix seconds, 2000 to 9999) as YYYY-MM-DDTHH:MM:SSZ and a NUL.
//  Times outside that range are clamped to it.
void proto_directory_time_format(int64_t t, char out[PROTO_DIRECTORY_TIME_LEN + 1]);

#ifdef __cplusplus
}
#endif
#endif
