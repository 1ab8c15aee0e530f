/*  agent/store.h - the agent's durable records in LMDB.

    Every record layout the agent keeps lives here, as broker/store.h does
    for the broker: the rest of the agent speaks in sent records, inbox
    records, recipient states, receipts, frames blobs, notices and events,
    and never reads bytes at offsets. The layouts are the agent's on-disk
    format: they must stay byte for byte what they are, or existing stores
    stop reading (test_agent_store checks them against hand-built bytes).

    Integers in the fixed headers and in frames blobs are in host byte
    order (the store never leaves its machine; a backup restores on the
    same architecture); sequence numbers in keys are big-endian so that
    they sort.

    Does not: open or commit transactions (proto/store.h does, called by the
    loop), or decide what a record means to the DMS (api.c does). Every call
    works in the transaction the caller opened; values returned by pointer
    (summaries, frames, bodies) point into LMDB's map and stay valid only
    until that transaction ends.
*/
#ifndef AGENT_STORE_H
#define AGENT_STORE_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/agency.h"
#include "proto/err.h"
#include "proto/msg.h"
#include "proto/store.h"

//  Tables of the agent's store. Keys: ids are 16 bytes, sequence numbers
//  8 bytes big-endian, agency codes 13 bytes.
enum {
    T_OUT,      // id -> kind(1) [+ frames]: what to (re)send until the broker answers
    T_SENT,     // id -> sent record (fixed header + msgpack summary)
    T_RCPT,     // sent id + agency -> state(1) time(8) code(4)
    T_NOTES,    // doc id + notice id -> msgpack {from, to, code, time, note}: notices about a doc
    T_RECEIPTS, // doc id + n(8) -> kind(1) + bundle body, every receipt kept
    T_INBOX,    // id -> inbox record (fixed header + msgpack summary)
    T_INSEQ,    // seq -> id: inbox in arrival order
    T_FRAMES,   // 'i'|'q' + id -> the DELIVER frames as received; 's' + id -> as sent
    T_QUAR,     // id -> msgpack {from, received, code, reason}
    T_SEEN,     // notice id -> empty: routed notices already taken
    T_EVENTS,   // seq -> msgpack event
    T_META,     // counters, directory snapshot
    T_CREF,     // DMS client_ref -> agent_cref_t: what that reference sent (idempotent requests)
    T_OPS,      // original id + operation id -> agent_op_t: revoked/updated/replaced by
    T_ANSWER,   // received doc id -> agent_answer_t: recall answers (15/16) this agency sent
    T_EDXML,    // 'd' + edXML DocumentId -> id; 't' + id -> DocumentId (agent/edxml.h)
    T_STBODY,   // doc id + notice id -> STATUS body as signed: notices kept as evidence
    T_COUNT
};

//  Sent record states.
enum { SENT_QUEUED = 0, SENT_ACCEPTED = 1, SENT_REJECTED = 2 };
//  Recipient states (same meaning as the broker's).
enum {
    RCPT_WAITING = 0,
    RCPT_DELIVERED = 1,
    RCPT_REFUSED = 2,
    RCPT_EXPIRED = 3,
    RCPT_RETURNED = 4
};
#define AGENT_RCPT_STATES 5 // recipient states above: RCPT_WAITING .. RCPT_RETURNED

//  The most frames one frames blob is read with: a body, its attachments,
//  and one to spare (the bound the agent has always used).
#define AGENT_MAX_FRAMES (2 + PROTO_MAX_ATTACHMENTS)

//  Sizes of the fixed parts of the records.
#define AGENT_SENT_HEAD  30  // state 1, code 4, accepted 8, seq 8, created 8, kind 1
#define AGENT_INBOX_HEAD 17  // seq 8, received 8, acked 1
#define AGENT_RCPT_LEN   13  // state 1, time 8, code 4
#define AGENT_CREF_LEN   57  // kind 1, id 16, fingerprint 32, created 8
#define AGENT_OP_LEN     22  // op 1, from 13, received 8
#define AGENT_ANSWER_LEN 13  // count 4, code 1, time 8
#define AGENT_CREF_MAX   128 // bytes of a DMS client_ref

//  What the agent keeps about a message it sent (document or notice).
typedef struct {
    uint8_t state;       // SENT_QUEUED, SENT_ACCEPTED, SENT_REJECTED
    uint8_t kind;        // proto_kind_t of the message sent
    uint32_t code;       // the broker's error code when rejected
    uint64_t accepted;   // when the broker answered, ms
    uint64_t seq;        // the broker's audit sequence number
    uint64_t created;    // when it was queued, ms
    const void *summary; // msgpack map that never changes (subject, to, ...)
    size_t summary_len;
} agent_sent_t;

//  What the agent keeps about a verified delivery.
typedef struct {
    uint64_t seq;        // arrival order (its key in T_INSEQ)
    uint64_t received;   // ms
    bool acked;          // the DMS took it
    const void *summary; // msgpack map: from, subject, type, ...
    size_t summary_len;
} agent_inbox_t;

//  The state of one recipient of a sent message.
typedef struct {
    uint8_t state; // RCPT_*
    uint64_t time; // when it was set, ms (0 while waiting)
    uint32_t code; // the recipient's or broker's code
} agent_rcpt_t;

//  What a DMS client_ref names: the message the first request with it
//  queued, and the fingerprint of that request (a repeat must match it).
typedef struct {
    uint8_t kind;            // proto_kind_t of the message queued
    proto_id_t id;           // document or notice id
    uint8_t fingerprint[32]; // BLAKE2b-256 of the request (agent/clientref.c)
    uint64_t created;        // when it was queued, ms
} agent_cref_t;

//  A received operation (revoke, update, replace) naming a received
//  document: kept under the original's id so inbox and fetch can flag it.
typedef struct {
    uint8_t op;                           // PROTO_OP_REVOKE, _UPDATE or _REPLACE
    char from[PROTO_AGENCY_CODE_LEN + 1]; // who sent the operation
    uint64_t received;                    // when it arrived, ms
} agent_op_t;

//  This agency's answers (15/16) to recall requests about a received
//  document: the count and the last answer.
typedef struct {
    uint32_t count; // answers sent
    uint8_t code;   // the last: 15 or 16
    uint64_t time;  // when it was queued, ms
} agent_answer_t;

//  Open (creating) the agent's store in dir with its tables. NULL with the
//  reason in errbuf, as proto_store_open.
proto_store_t *agent_store_open(const char *dir, uint64_t map_size, char *errbuf, size_t errlen);

// ---------------------------------------------------------------------------
//  Encode/decode pairs: the layouts themselves. encode writes exactly
//  agent_*_size bytes; decode returns false when the bytes are too short
//  to be the record, and leaves pointers into value.

size_t agent_sent_size(const agent_sent_t *rec);
void agent_sent_encode(const agent_sent_t *rec, uint8_t *out);
bool agent_sent_decode(const void *value, size_t len, agent_sent_t *rec);

size_t agent_inbox_size(const agent_inbox_t *rec);
void agent_inbox_encode(const agent_inbox_t *rec, uint8_t *out);
bool agent_inbox_decode(const void *value, size_t len, agent_inbox_t *rec);

void agent_rcpt_encode(const agent_rcpt_t *rec, uint8_t out[AGENT_RCPT_LEN]);
bool agent_rcpt_decode(const void *value, size_t len, agent_rcpt_t *rec);

void agent_cref_encode(const agent_cref_t *rec, uint8_t out[AGENT_CREF_LEN]);
bool agent_cref_decode(const void *value, size_t len, agent_cref_t *rec);

void agent_op_encode(const agent_op_t *rec, uint8_t out[AGENT_OP_LEN]);
bool agent_op_decode(const void *value, size_t len, agent_op_t *rec);

void agent_answer_encode(const agent_answer_t *rec, uint8_t out[AGENT_ANSWER_LEN]);
bool agent_answer_decode(const void *value, size_t len, agent_answer_t *rec);

//  Frames blob: count(4) lens(8 each) bytes.
size_t agent_frames_size(const size_t *lens, size_t count);
void agent_frames_encode(const void *const *frames, const size_t *lens, size_t count, uint8_t *out);
//  The frames of a blob (pointers into it), at most max; 0 if it is not one
//  or holds more than max.
size_t agent_frames_parse(const void *blob, size_t len, const void **frames, size_t *lens,
                          size_t max);

//  The msgpack maps the records hold, packed in the order they always were,
//  keys added later at the end (records written before simply lack them).
//  The sent summary of a document (subject, type, urgency, to; then
//  number, notation, date) or a notice (doc, subject, status, to).
void agent_sent_summary_pack(msgpack_packer *pk, const proto_msg_t *msg);
//  The inbox summary of a delivered document (from, subject, type, number,
//  notation, urgency, op, attachments; then date).
void agent_inbox_summary_pack(msgpack_packer *pk, const proto_doc_t *doc);
//  A quarantine record {from, received, code, reason}, and the code it
//  holds (fallback when it holds none below 1000).
void agent_quar_pack(msgpack_packer *pk, const char *from, uint64_t received, uint32_t code,
                     const char *reason);
uint32_t agent_quar_code(const void *map, size_t len, uint32_t fallback);
//  A notice kept about a document {from, to, code, time, note, staff}, then
//  staff_department, staff_phone, staff_email when the notice has them.
void agent_note_pack(msgpack_packer *pk, const proto_notice_t *n);

// ---------------------------------------------------------------------------
//  Outbox: id -> kind, until the broker answers; a document's frames are
//  written once, under T_FRAMES 's' where they stay as evidence. A notice's
//  entry (and any entry written before that) holds its frames after its
//  kind; the readers below take either.

proto_err_t agent_store_out_put(proto_store_t *kv, const proto_id_t *id, uint8_t kind,
                                const void *const *frames, const size_t *lens,
                                size_t count) PROTO_MUST_CHECK;
proto_err_t agent_store_out_del(proto_store_t *kv, const proto_id_t *id) PROTO_MUST_CHECK;
size_t agent_store_out_count(proto_store_t *kv);
//  Visit the outbox while fn returns true; frames point into the map.
//  Entries that do not parse are skipped.
typedef bool(agent_store_out_fn)(void *arg, uint8_t kind, const void *const *frames,
                                 const size_t *lens, size_t count);
size_t agent_store_out_each(proto_store_t *kv, agent_store_out_fn *fn, void *arg);
//  One outbox entry: its kind and frames (pointers into the map, at most
//  max). PROTO_ERR_NOT_FOUND when absent, PROTO_ERR_STORE_DAMAGED when the
//  entry does not parse.
proto_err_t agent_store_out_get(proto_store_t *kv, const proto_id_t *id, uint8_t *kind,
                                const void **frames, size_t *lens, size_t max,
                                size_t *count) PROTO_MUST_CHECK;
//  Whether id's outbox entry holds its frames itself (a notice, or an
//  entry from before documents' frames went under 's'); false if absent.
bool agent_store_out_in_place(proto_store_t *kv, const proto_id_t *id);

// ---------------------------------------------------------------------------
//  Sent records

//  PROTO_ERR_NOT_FOUND when absent, PROTO_ERR_STORE_DAMAGED when too short.
proto_err_t agent_store_sent_get(proto_store_t *kv, const proto_id_t *id,
                                 agent_sent_t *rec) PROTO_MUST_CHECK;
//  rec->summary may point into the map (a get in the same transaction).
proto_err_t agent_store_sent_put(proto_store_t *kv, const proto_id_t *id,
                                 const agent_sent_t *rec) PROTO_MUST_CHECK;
typedef bool(agent_store_sent_fn)(void *arg, const proto_id_t *id, const agent_sent_t *rec);
//  Visit every readable sent record in id order while fn returns true.
size_t agent_store_sent_each(proto_store_t *kv, agent_store_sent_fn *fn, void *arg);
//  The same from the first id >= from: a page of a list starts where the
//  last one ended without walking what came before.
size_t agent_store_sent_each_from(proto_store_t *kv, const proto_id_t *from,
                                  agent_store_sent_fn *fn, void *arg);

// ---------------------------------------------------------------------------
//  Recipient states of a sent message

proto_err_t agent_store_rcpt_set(proto_store_t *kv, const proto_id_t *id, const char *agency,
                                 const agent_rcpt_t *rec) PROTO_MUST_CHECK;
proto_err_t agent_store_rcpt_get(proto_store_t *kv, const proto_id_t *id, const char *agency,
                                 agent_rcpt_t *rec) PROTO_MUST_CHECK;
typedef bool(agent_store_rcpt_fn)(void *arg, const char *agency, const agent_rcpt_t *rec);
//  Visit the recipients of id in agency order.
size_t agent_store_rcpt_each(proto_store_t *kv, const proto_id_t *id, agent_store_rcpt_fn *fn,
                             void *arg);

// ---------------------------------------------------------------------------
//  Receipts kept for a document: kind + encoded message, in arrival order.

proto_err_t agent_store_receipt_append(proto_store_t *kv, const proto_id_t *id, uint8_t kind,
                                       const void *body, size_t len) PROTO_MUST_CHECK;
typedef bool(agent_store_receipt_fn)(void *arg, uint8_t kind, const void *body, size_t len);
//  A receipt with no kind byte is visited with kind 0 and body NULL.
size_t agent_store_receipt_each(proto_store_t *kv, const proto_id_t *id, agent_store_receipt_fn *fn,
                                void *arg);

// ---------------------------------------------------------------------------
//  Inbox

//  Store a verified delivery's record with the next inbox sequence number
//  (set in rec->seq) and its place in arrival order.
proto_err_t agent_store_inbox_add(proto_store_t *kv, const proto_id_t *id,
                                  agent_inbox_t *rec) PROTO_MUST_CHECK;
//  PROTO_ERR_NOT_FOUND when absent, PROTO_ERR_STORE_DAMAGED when too short.
proto_err_t agent_store_inbox_get(proto_store_t *kv, const proto_id_t *id,
                                  agent_inbox_t *rec) PROTO_MUST_CHECK;
//  Rewrite a record (acked); rec->summary may point into the map.
proto_err_t agent_store_inbox_put(proto_store_t *kv, const proto_id_t *id,
                                  const agent_inbox_t *rec) PROTO_MUST_CHECK;
typedef bool(agent_store_inbox_fn)(void *arg, const proto_id_t *id);
//  Visit the inbox in arrival order from sequence number after + 1.
size_t agent_store_inbox_each(proto_store_t *kv, uint64_t after, agent_store_inbox_fn *fn,
                              void *arg);
//  Inbox records not acked yet.
size_t agent_store_inbox_unread(proto_store_t *kv);

//  Frames of a delivery as received: prefix 'i' (inbox) or 'q' (quarantine);
//  of a document this agency sent, as it went: prefix 's' (kept as evidence
//  once the broker answered it, agent/evidence_keep.h).
proto_err_t agent_store_frames_put(proto_store_t *kv, uint8_t prefix, const proto_id_t *id,
                                   const void *const *frames, const size_t *lens,
                                   size_t count) PROTO_MUST_CHECK;
//  Sets *count to the frames (at most max); PROTO_ERR_NOT_FOUND when absent,
//  PROTO_ERR_STORE_DAMAGED when the blob does not parse.
proto_err_t agent_store_frames_get(proto_store_t *kv, uint8_t prefix, const proto_id_t *id,
                                   const void **frames, size_t *lens, size_t max,
                                   size_t *count) PROTO_MUST_CHECK;

// ---------------------------------------------------------------------------
//  Quarantine, notices, seen notices: msgpack maps the agent writes whole.

proto_err_t agent_store_quar_put(proto_store_t *kv, const proto_id_t *id, const void *map,
                                 size_t len) PROTO_MUST_CHECK;
proto_err_t agent_store_quar_get(proto_store_t *kv, const proto_id_t *id, const void **map,
                                 size_t *len) PROTO_MUST_CHECK;
typedef bool(agent_store_map_fn)(void *arg, const proto_id_t *id, const void *map, size_t len);
size_t agent_store_quar_each(proto_store_t *kv, agent_store_map_fn *fn, void *arg);
size_t agent_store_quar_count(proto_store_t *kv);

//  A notice about document doc; fn gets the notice's id.
proto_err_t agent_store_note_put(proto_store_t *kv, const proto_id_t *doc, const proto_id_t *notice,
                                 const void *map, size_t len) PROTO_MUST_CHECK;
size_t agent_store_note_each(proto_store_t *kv, const proto_id_t *doc, agent_store_map_fn *fn,
                             void *arg);

//  A STATUS body about document doc, as signed (sent or received), kept as
//  evidence; fn gets the notice's id and the body.
proto_err_t agent_store_stbody_put(proto_store_t *kv, const proto_id_t *doc,
                                   const proto_id_t *notice, const void *body,
                                   size_t len) PROTO_MUST_CHECK;
size_t agent_store_stbody_each(proto_store_t *kv, const proto_id_t *doc, agent_store_map_fn *fn,
                               void *arg);

bool agent_store_seen(proto_store_t *kv, const proto_id_t *notice);
proto_err_t agent_store_seen_put(proto_store_t *kv, const proto_id_t *notice) PROTO_MUST_CHECK;

// ---------------------------------------------------------------------------
//  Events: seq -> msgpack event.

//  The next event sequence number (stored in the open write transaction),
//  0 on failure.
uint64_t agent_store_event_next(proto_store_t *kv);
proto_err_t agent_store_event_put(proto_store_t *kv, uint64_t seq, const void *map,
                                  size_t len) PROTO_MUST_CHECK;
typedef bool(agent_store_event_fn)(void *arg, uint64_t seq, const void *map, size_t len);
//  Visit events from sequence number after + 1 while fn returns true.
size_t agent_store_event_page(proto_store_t *kv, uint64_t after, agent_store_event_fn *fn,
                              void *arg);

// ---------------------------------------------------------------------------
//  DMS client references (ref: 1..AGENT_CREF_MAX bytes).

//  PROTO_ERR_NOT_FOUND when absent, PROTO_ERR_STORE_DAMAGED when not a record.
proto_err_t agent_store_cref_get(proto_store_t *kv, const void *ref, size_t len,
                                 agent_cref_t *rec) PROTO_MUST_CHECK;
proto_err_t agent_store_cref_put(proto_store_t *kv, const void *ref, size_t len,
                                 const agent_cref_t *rec) PROTO_MUST_CHECK;
proto_err_t agent_store_cref_del(proto_store_t *kv, const void *ref, size_t len) PROTO_MUST_CHECK;

// ---------------------------------------------------------------------------
//  Operations naming a received document, and recall answers about it.

proto_err_t agent_store_op_put(proto_store_t *kv, const proto_id_t *original, const proto_id_t *by,
                               const agent_op_t *rec) PROTO_MUST_CHECK;
typedef bool(agent_store_op_fn)(void *arg, const proto_id_t *by, const agent_op_t *rec);
//  Visit the operations naming original, in operation id order.
size_t agent_store_op_each(proto_store_t *kv, const proto_id_t *original, agent_store_op_fn *fn,
                           void *arg);

//  PROTO_ERR_NOT_FOUND when none was sent.
proto_err_t agent_store_answer_get(proto_store_t *kv, const proto_id_t *doc,
                                   agent_answer_t *rec) PROTO_MUST_CHECK;
proto_err_t agent_store_answer_put(proto_store_t *kv, const proto_id_t *doc,
                                   const agent_answer_t *rec) PROTO_MUST_CHECK;
proto_err_t agent_store_answer_del(proto_store_t *kv, const proto_id_t *doc) PROTO_MUST_CHECK;
//  The edXML DocumentId of a document, both ways (agent/edxml.h). The
//  first document named by a DocumentId keeps it: a revoke or update that
//  repeats its original's DocumentId does not take it over.

#define AGENT_EDXML_ID_MAX 255 // bytes of a DocumentId kept

//  Record that document id has the edXML DocumentId document_id (1..255
//  bytes); PROTO_ERR_LIMIT when longer.
proto_err_t agent_store_edxml_put(proto_store_t *kv, const char *document_id,
                                  const proto_id_t *id) PROTO_MUST_CHECK;
//  The document a DocumentId names; PROTO_ERR_NOT_FOUND when none.
proto_err_t agent_store_edxml_find(proto_store_t *kv, const char *document_id,
                                   proto_id_t *id) PROTO_MUST_CHECK;
//  The DocumentId of a document into out (NUL-terminated, cap bytes);
//  PROTO_ERR_NOT_FOUND when none.
proto_err_t agent_store_edxml_id(proto_store_t *kv, const proto_id_t *id, char *out,
                                 size_t cap) PROTO_MUST_CHECK;

// ---------------------------------------------------------------------------
//  Meta: the last verified directory snapshot (an encoded DIRECTORY body).

proto_err_t agent_store_directory_get(proto_store_t *kv, const void **body,
                                      size_t *len) PROTO_MUST_CHECK;
proto_err_t agent_store_directory_put(proto_store_t *kv, const void *body,
                                      size_t len) PROTO_MUST_CHECK;

#endif
