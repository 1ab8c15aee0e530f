/*  broker/store.h - the broker's durable state in LMDB.

    Owns the LMDB environment under DATA_DIR/store and the lock file
    DATA_DIR/lock (flock, held while open: two brokers can never share a
    store). Every record layout lives in this module; the server speaks in
    documents, deliveries, mailbox messages and audit entries. The module is
    four files sharing store_internal.h: store.c (open, transactions, meta
    records), store_docs.c (documents, deliveries, queues, mailbox),
    store_audit.c (receipts, notices, the audit chain) and store_waiting.c
    (waiting counts per recipient and urgency, kept as the queues change).

    Transactions: at most one write transaction is open at a time, owned by
    the thread that opened the store (the broker's loop). Every mutating call
    needs it open; reading calls use it when it is open, else a read-only
    transaction the caller opens with broker_store_read_begin. Values
    returned by pointer point into LMDB's map and are valid only until the
    transaction they were read in ends.

    broker_store_commit is durable: the environment is opened with full
    sync, so when it returns PROTO_OK the data is on disk.
*/
#ifndef BROKER_STORE_H
#define BROKER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/agency.h"
#include "proto/identity.h"
#include "proto/msg.h"

typedef struct broker_store broker_store_t;

//  Per-recipient delivery state of a document.
typedef enum {
    BROKER_DLV_WAITING = 0,   // in the recipient's queue
    BROKER_DLV_DELIVERED = 1, // recipient's DELIVERED (event 3) recorded
    BROKER_DLV_REFUSED = 2,   // recipient quarantined it (event 4)
    BROKER_DLV_EXPIRED = 3,   // ttl passed before delivery
    BROKER_DLV_RETURNED = 4,  // recipient revoked before delivery
    BROKER_DLV_REVOKED = 5,   // sender revoked the document before delivery
} broker_dlv_state_t;

const char *broker_dlv_state_name(broker_dlv_state_t state);

//  What the broker keeps about a document besides its frames.
typedef struct {
    proto_id_t id;
    char from[PROTO_AGENCY_CODE_LEN + 1];
    uint8_t hash[PROTO_HASH_LEN]; // content hash
    uint64_t accepted;            // ms since epoch
    uint64_t seq;                 // audit sequence number of the acceptance
    uint8_t kind;                 // SUBMIT, REVOKE, UPDATE or REPLACE
    uint8_t urgency;
    uint8_t revoked; // 1 once a REVOKE of it was accepted
    uint8_t purged;  // 1 once its frames were purged (retention)
    uint32_t nto;    // recipients
    uint32_t open;   // recipients still waiting
    uint64_t bytes;  // bytes stored for it (frames)
} broker_doc_t;

typedef struct {
    uint8_t state;      // broker_dlv_state_t
    uint64_t time;      // when the state was last set, ms
    uint64_t deadline;  // expiry time while waiting, ms
    uint64_t queue_seq; // its key in the recipient's queue
} broker_dlv_t;

//  Open (creating if needed) the store in data_dir with a map of map_size
//  bytes. Returns NULL and a reason in errbuf when the directory cannot be
//  created or locked (another broker runs on it) or LMDB fails.
broker_store_t *broker_store_open(const char *data_dir, uint64_t map_size, char *errbuf,
                                  size_t errlen);

//  Abort any open transaction, close the environment, release the lock.
void broker_store_destroy(broker_store_t **self_p);

// ---------------------------------------------------------------------------
//  Transactions

proto_err_t broker_store_begin(broker_store_t *self) PROTO_MUST_CHECK; // no-op if open
bool broker_store_writing(const broker_store_t *self);
//  Commit durably. On failure the transaction is aborted: nothing of it is
//  stored. PROTO_ERR_STORE_FULL when the map is full, PROTO_ERR_STORE else.
proto_err_t broker_store_commit(broker_store_t *self) PROTO_MUST_CHECK;
void broker_store_abort(broker_store_t *self);
//  A transaction nested in the open write transaction, so that one item
//  that fails (a full map) can be undone without losing the whole batch.
//  unnest with keep merges it into the parent, else throws it away.
proto_err_t broker_store_nest(broker_store_t *self) PROTO_MUST_CHECK;
proto_err_t broker_store_unnest(broker_store_t *self, bool keep) PROTO_MUST_CHECK;
proto_err_t broker_store_read_begin(broker_store_t *self) PROTO_MUST_CHECK;
void broker_store_read_end(broker_store_t *self);

// ---------------------------------------------------------------------------
//  Documents

//  PROTO_OK and *out, or PROTO_ERR_UNKNOWN_DOC.
proto_err_t broker_store_doc_get(broker_store_t *self, const proto_id_t *id,
                                 broker_doc_t *out) PROTO_MUST_CHECK;

//  Store a new document: its record, its frames (count frames, the body
//  first), one delivery row and one queue entry per recipient, all in the
//  open write transaction. PROTO_ERR_STORE_FULL when the map is full (the
//  caller aborts), PROTO_ERR_STORE otherwise.
proto_err_t broker_store_doc_add(broker_store_t *self, const broker_doc_t *doc,
                                 const char *const *to, const void *const *frames,
                                 const size_t *lens, size_t count, uint64_t ttl) PROTO_MUST_CHECK;

//  The ACCEPTED receipt that answered a document, kept so that a
//  re-submission gets exactly the original back: its batch's signed head
//  and signature, and the document's index and audit path in the batch's
//  tree. The leaf is not kept: it is the document's record (event ACCEPTED,
//  id, hash, from, time = accepted, seq), so the record is compact binary
//  and costs no encoding on the commit path.
typedef struct {
    proto_head_t head; // head.signer points at signer
    char signer[PROTO_LABEL_MAX + 1];
    uint8_t sig[PROTO_SIG_LEN];
    uint64_t index;
    uint32_t npath;
    uint8_t path[PROTO_MAX_PATH][PROTO_HASH_LEN];
} broker_receipt_t;

proto_err_t broker_store_receipt_put(broker_store_t *self, const proto_id_t *id,
                                     const proto_head_t *head, const uint8_t sig[PROTO_SIG_LEN],
                                     const proto_item_t *item) PROTO_MUST_CHECK;
//  PROTO_OK and *out, PROTO_ERR_NOT_FOUND, or PROTO_ERR_STORE for a record
//  this broker cannot read.
proto_err_t broker_store_receipt_get(broker_store_t *self, const proto_id_t *id,
                                     broker_receipt_t *out) PROTO_MUST_CHECK;

//  Rewrite the record of an existing document (open count, revoked flag).
proto_err_t broker_store_doc_update(broker_store_t *self, const broker_doc_t *doc) PROTO_MUST_CHECK;

//  The frames of a document: up to max frames as pointers into the map.
proto_err_t broker_store_frames_get(broker_store_t *self, const proto_id_t *id, const void **frames,
                                    size_t *lens, size_t max, size_t *count) PROTO_MUST_CHECK;

//  Retention. When the last recipient of a document leaves WAITING, the
//  document is listed as finished at that time. retire_scan calls fn for
//  finished documents whose time is at or before `before` (at most max),
//  and doc_purge removes a document's attachment frames and its finished
//  entry, keeps its record and envelope (so its id stays taken and `doc
//  show` still answers) and returns the bytes freed.
typedef void(broker_store_retire_fn)(void *arg, const proto_id_t *id);
size_t broker_store_retire_scan(broker_store_t *self, uint64_t before, size_t max,
                                broker_store_retire_fn *fn, void *arg);
proto_err_t broker_store_doc_purge(broker_store_t *self, const proto_id_t *id,
                                   uint64_t *freed) PROTO_MUST_CHECK;
//  List document id as finished at time (its last open item, a delivery
//  or a hop to another broker, ended then), for retire_scan. dlv_set does
//  this itself for deliveries; a hop's end calls it (hop.c).
proto_err_t broker_store_doc_finished(broker_store_t *self, const proto_id_t *id,
                                      uint64_t time) PROTO_MUST_CHECK;

//  Small named flags (for example "a recall was requested of agency X for
//  document Y"). get returns PROTO_OK if set, PROTO_ERR_NOT_FOUND if not.
proto_err_t broker_store_flag_set(broker_store_t *self, const void *key,
                                  size_t len) PROTO_MUST_CHECK;
proto_err_t broker_store_flag_get(broker_store_t *self, const void *key,
                                  size_t len) PROTO_MUST_CHECK;

//  Small named counters beside the flags (for example "notices agency X
//  sent Y about document Z"), key at most 78 bytes. get gives 0 for a
//  counter never added to; add needs the write transaction.
proto_err_t broker_store_counter_get(broker_store_t *self, const void *key, size_t len,
                                     uint64_t *value) PROTO_MUST_CHECK;
proto_err_t broker_store_counter_add(broker_store_t *self, const void *key, size_t len,
                                     uint64_t delta) PROTO_MUST_CHECK;
//  A high-water mark: raise the counter key to value if it is below
//  (write transaction).
proto_err_t broker_store_counter_raise(broker_store_t *self, const char *key,
                                       uint64_t value) PROTO_MUST_CHECK;
//  The counter key, in a read transaction of its own unless one is open;
//  0 if it cannot be read.
uint64_t broker_store_counter_peek(broker_store_t *self, const char *key);

// ---------------------------------------------------------------------------
//  Deliveries and queues

proto_err_t broker_store_dlv_get(broker_store_t *self, const char *recipient, const proto_id_t *id,
                                 broker_dlv_t *out) PROTO_MUST_CHECK;
//  Set the state; leaving WAITING removes the queue entry.
proto_err_t broker_store_dlv_set(broker_store_t *self, const char *recipient, const proto_id_t *id,
                                 broker_dlv_state_t state, uint64_t time) PROTO_MUST_CHECK;

//  Walk the recipient's waiting documents in push order (urgency, then
//  acceptance). fn returns true to go on. Returns the number visited.
typedef bool(broker_store_queue_fn)(void *arg, const proto_id_t *id);
size_t broker_store_queue_scan(broker_store_t *self, const char *recipient,
                               broker_store_queue_fn *fn, void *arg);

//  A recipient's waiting documents per urgency (proto_urgency_t, 0..3) and
//  the age of the oldest of each (ms relative to now, 0 when none). Kept
//  as the queues change (store_waiting.c): O(1) reads, not a queue walk.
typedef struct {
    uint64_t count[4];
    uint64_t oldest_age[4];
} broker_waiting_t;
void broker_store_waiting(broker_store_t *self, const char *recipient, uint64_t now,
                          broker_waiting_t *out);

//  Count a recipient's waiting documents and the age of the oldest (ms, 0
//  when none) relative to now, from the same counts.
size_t broker_store_queue_depth(broker_store_t *self, const char *recipient, uint64_t now,
                                uint64_t *oldest_age);

//  Expired deliveries: call fn for each (recipient, id) whose deadline is at
//  or before now, at most max of them.
typedef void(broker_store_expiry_fn)(void *arg, const char *recipient, const proto_id_t *id);
size_t broker_store_expiry_scan(broker_store_t *self, uint64_t now, size_t max,
                                broker_store_expiry_fn *fn, void *arg);

// ---------------------------------------------------------------------------
//  Mailbox: routed STATUS, DELIVERED and EXPIRED messages awaiting ACK

//  Reserve the next mailbox id (the counter moves in the write transaction,
//  so an aborted transaction gives the id back).
proto_err_t broker_store_mid_next(broker_store_t *self, uint64_t *mid) PROTO_MUST_CHECK;
//  Store a message (kind and encoded body, which already carries mid) for
//  agency under mid.
proto_err_t broker_store_mbox_put(broker_store_t *self, const char *agency, uint64_t mid,
                                  uint8_t kind, const void *body, size_t len) PROTO_MUST_CHECK;
typedef bool(broker_store_mbox_fn)(void *arg, uint64_t mid, uint8_t kind, const void *body,
                                   size_t len);
size_t broker_store_mbox_scan(broker_store_t *self, const char *agency, broker_store_mbox_fn *fn,
                              void *arg);
//  Remove an acknowledged message; unknown mids are ignored (PROTO_OK).
proto_err_t broker_store_mbox_del(broker_store_t *self, const char *agency,
                                  uint64_t mid) PROTO_MUST_CHECK;

// ---------------------------------------------------------------------------
//  Status notices (idempotence and recall state)

typedef struct {
    proto_id_t doc;
    char from[PROTO_AGENCY_CODE_LEN + 1];
    char to[PROTO_AGENCY_CODE_LEN + 1];
    uint8_t code;
    uint8_t hash[PROTO_HASH_LEN];
} broker_notice_t;

proto_err_t broker_store_notice_get(broker_store_t *self, const proto_id_t *id,
                                    broker_notice_t *out) PROTO_MUST_CHECK;
proto_err_t broker_store_notice_put(broker_store_t *self, const proto_id_t *id,
                                    const broker_notice_t *notice) PROTO_MUST_CHECK;

// ---------------------------------------------------------------------------
//  Audit chain

typedef enum {
    BROKER_AUDIT_CONNECTED = 1,
    BROKER_AUDIT_REFUSED = 2, // ZAP refusal
    BROKER_AUDIT_ACCEPTED = 3,
    BROKER_AUDIT_REJECTED = 4,
    BROKER_AUDIT_DELIVERED = 5,
    BROKER_AUDIT_REFUSED_BY_RECIPIENT = 6,
    BROKER_AUDIT_STATUS = 7,
    BROKER_AUDIT_REVOKE = 8,
    BROKER_AUDIT_EXPIRED = 9,
    BROKER_AUDIT_RETURNED = 10,
    BROKER_AUDIT_PURGED = 11,
    BROKER_AUDIT_ADMIN = 12,
    BROKER_AUDIT_DISCONNECTED = 13,
    BROKER_AUDIT_DENIED = 14,   // an agency's request refused for who it is or what it asked
    BROKER_AUDIT_RESTORED = 15, // a backup was put back (truc-broker restore); numbered above
                                // every entry ever issued, so its number follows a gap
} broker_audit_event_t;

const char *broker_audit_event_name(int event);

typedef struct {
    uint64_t seq;
    uint8_t prev[PROTO_HASH_LEN];
    uint64_t time;
    uint8_t event;
    const char *agency; // may be empty
    bool has_id;
    proto_id_t id;
    const char *detail;           // may be empty
    uint8_t hash[PROTO_HASH_LEN]; // hash of this entry
} broker_audit_entry_t;

//  Append an entry in the open write transaction; *seq (if not NULL)
//  receives its sequence number.
proto_err_t broker_store_audit_append(broker_store_t *self, uint64_t time,
                                      broker_audit_event_t event, const char *agency,
                                      const proto_id_t *id, const char *detail,
                                      uint64_t *seq) PROTO_MUST_CHECK;

//  Walk the chain from seq `from` (1 = start). fn gets each decoded entry
//  (strings valid during the call) and returns true to go on. Returns
//  PROTO_OK, or PROTO_ERR_BAD_PROOF with *bad_seq set at the first entry
//  whose stored form, hash link or numbering is wrong.
typedef bool(broker_store_audit_fn)(void *arg, const broker_audit_entry_t *entry);
proto_err_t broker_store_audit_walk(broker_store_t *self, uint64_t from, broker_store_audit_fn *fn,
                                    void *arg, uint64_t *bad_seq) PROTO_MUST_CHECK;
uint64_t broker_store_audit_length(broker_store_t *self);

//  What one bounded walk saw: the first and last entries it visited (0 when
//  none), the first one's link back and the last one's hash, so that a
//  caller walking a chain in pieces can join them.
typedef struct {
    uint64_t first, last;
    uint8_t first_prev[PROTO_HASH_LEN];
    uint8_t last_hash[PROTO_HASH_LEN];
} broker_store_audit_range_t;

//  Visit the stored entries numbered from..to (inclusive), in order, in the
//  open transaction, until fn returns false (fn may be NULL). Unlike
//  broker_store_audit_walk it reads only that range, one entry at a time:
//  each entry is decoded strictly and must link to the one visited before
//  it (numbering and hash), but the first one's link is only reported in
//  *range, not checked; `audit verify` checks the whole chain. Returns
//  PROTO_OK, or PROTO_ERR_BAD_PROOF with *bad_seq (if not NULL) at the
//  first entry that does not follow.
proto_err_t broker_store_audit_range(broker_store_t *self, uint64_t from, uint64_t to,
                                     broker_store_audit_fn *fn, void *arg,
                                     broker_store_audit_range_t *range,
                                     uint64_t *bad_seq) PROTO_MUST_CHECK;

//  Append the `restored` entry in the open write transaction, numbered
//  above both the chain's length and `above` (the highest number the
//  broker ever issued, from its anchor), linked to the current head.
proto_err_t broker_store_audit_restored(broker_store_t *self, uint64_t time, uint64_t above,
                                        const char *detail, uint64_t *seq) PROTO_MUST_CHECK;

//  The chain's length (its highest number) and head hash (zeros when
//  empty), in the open transaction or a short read transaction.
proto_err_t broker_store_audit_head(broker_store_t *self, uint64_t *length,
                                    uint8_t head[PROTO_HASH_LEN]) PROTO_MUST_CHECK;
//  The hash of the stored entry seq: PROTO_OK, or PROTO_ERR_NOT_FOUND.
proto_err_t broker_store_audit_hash(broker_store_t *self, uint64_t seq,
                                    uint8_t hash[PROTO_HASH_LEN]) PROTO_MUST_CHECK;
//  The same two facts of a store file nothing has open (a backup's
//  data.mdb), read-only. PROTO_ERR_STORE_DAMAGED for a damaged file.
proto_err_t broker_store_file_audit(const char *path, uint64_t *length,
                                    uint8_t head[PROTO_HASH_LEN]) PROTO_MUST_CHECK;

//  Called after each durable commit that moved the audit chain, with its
//  new length and head, on the committing thread (broker/anchor.c keeps
//  the anchor this way). arg is borrowed; NULL fn stops it.
typedef void(broker_store_commit_fn)(void *arg, uint64_t length,
                                     const uint8_t head[PROTO_HASH_LEN]);
void broker_store_on_commit(broker_store_t *self, broker_store_commit_fn *fn, void *arg);

// ---------------------------------------------------------------------------
//  Accounting and maintenance

//  Per-sender quota use: waiting documents and stored bytes.
proto_err_t broker_store_quota_get(broker_store_t *self, const char *agency, uint64_t *documents,
                                   uint64_t *bytes) PROTO_MUST_CHECK;
proto_err_t broker_store_quota_add(broker_store_t *self, const char *agency, int64_t documents,
                                   int64_t bytes) PROTO_MUST_CHECK;

//  Bytes in use and the map size.
void broker_store_usage(broker_store_t *self, uint64_t *used, uint64_t *size);

//  A consistent, compacted copy of the store into a new file at path
//  (0600, fsynced), made while the broker runs. Safe from another thread.
//  broker/backup.c builds a whole backup on it. See proto_store_copy_file.
proto_err_t broker_store_copy_file(broker_store_t *self, const char *path, char *errbuf,
                                   size_t errlen) PROTO_MUST_CHECK;

//  Little-endian 64-bit integers, as every broker record (and the anchor)
//  stores them.
void broker_store_put64le(uint8_t *p, uint64_t v);
uint64_t broker_store_get64le(const uint8_t *p);

#endif
