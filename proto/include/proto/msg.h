/*  proto/msg.h - truc wire messages: kinds, framing, schemas, strict codec.

    A truc message on a ZeroMQ socket is a multipart message:

        frame 0   header, 4 bytes: 'T' 'R' version kind
        frame 1   body, one msgpack map whose schema depends on kind
        frame 2+  attachment bytes, one frame per attachment, in the order of
                  the attachment list (SUBMIT, REVOKE, UPDATE, REPLACE, DELIVER,
                  and FORWARD: those of the document body it carries)

    This module turns bodies into C structs and back. Decoding is strict: it
    never trusts a length from the wire, refuses unknown kinds and fields,
    wrong types, missing required fields, values over the limits below,
    invalid UTF-8, nesting deeper than the kind's schema and trailing bytes,
    each with its own proto_err_t and a message naming the field. Memory used
    by a decoded message is bounded by a small multiple of the body's size.

    Decoded structs point into memory owned by the proto_msg_t (an arena),
    valid until proto_msg_destroy. Structs built by a caller for encoding
    point wherever the caller likes; the encoder only reads them.

    proto/PROTOCOL.md is the specification; this header mirrors it.
*/
#ifndef PROTO_MSG_H
#define PROTO_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/err.h"
#include "proto/keywin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PROTO_VERSION    1    // the version this library speaks
#define PROTO_HEADER_LEN 4    // bytes in frame 0
#define PROTO_MAGIC0     0x54 // 'T'
#define PROTO_MAGIC1     0x52 // 'R'

#define PROTO_ID_LEN         16 // document and notice ids: 128 bits
#define PROTO_HASH_LEN       32 // BLAKE2b-256
#define PROTO_SIG_LEN        64 // Ed25519
#define PROTO_KEY_LEN        32 // Ed25519 / X25519 public key
#define PROTO_SEALED_KEY_LEN 80 // crypto_box_seal of a 32-byte file key

//  Limits of the protocol itself. A receiver may configure lower ones
//  (announced in READY) but never higher ones.
#define PROTO_MAX_BODY            (1u << 20)  // body frame, every kind but DIRECTORY
#define PROTO_MAX_DIRECTORY_BODY  (32u << 20) // body frame of DIRECTORY and DIRECTORY_DELTA
#define PROTO_MAX_ATTACHMENT_SIZE (1ull << 30)
#define PROTO_MAX_RECIPIENTS      500
#define PROTO_MAX_ATTACHMENTS     100
#define PROTO_MAX_SUBJECT         500   // characters (code points)
#define PROTO_MAX_NAME            200   // attachment name, agency name, place, ... characters
#define PROTO_MAX_SHORT           100   // short text fields, characters
#define PROTO_MAX_TEXT            2000  // reasons, notes, error messages, characters
#define PROTO_MAX_CONTENT         16384 // the optional content summary, characters
#define PROTO_MAX_MEDIA_TYPE      127   // bytes, ASCII
#define PROTO_MAX_EXT             64    // extension entries
#define PROTO_MAX_EXT_KEY         64    // bytes, [a-z0-9._-]
#define PROTO_MAX_EXT_VALUE       4096  // characters
#define PROTO_MAX_TRACE           32
#define PROTO_MAX_REFS            16 // response-for entries, operation targets
#define PROTO_MAX_PLACES          64
#define PROTO_MAX_VERSIONS        8
#define PROTO_MAX_ITEMS           4096       // receipts in one bundle, ids in one ACK
#define PROTO_MAX_PATH            64         // nodes in an inclusion path
#define PROTO_MAX_ENTRIES         65536      // agencies in a DIRECTORY
#define PROTO_MAX_BROKERS         256        // broker entries in a DIRECTORY between brokers
#define PROTO_MAX_BROKER_CODES    4096       // explicit codes of one broker entry
#define PROTO_MAX_BROKER_PATTERNS 32         // patterns of one broker entry
#define PROTO_MAX_WINDOW          100000     // delivery credit
#define PROTO_MAX_HOPS            8          // brokers a FORWARD's trace may name (hop limit)
#define PROTO_TLOG_MAX_SIZE       UINT32_MAX // leaves a broker's transparency log may hold
#define PROTO_TLOG_MAX_PROOF      64         // hashes in a consistency proof
//  A FORWARD carries a whole document body plus its own small fields
//  (recipients, trace): the body limit plus room for those.
#define PROTO_MAX_FORWARD_BODY (PROTO_MAX_BODY + (64u << 10))
//  A DELIVER is the sender's body plus the broker's fields (accepted, seq,
//  route): the body limit plus room for those.
#define PROTO_MAX_DELIVER_BODY (PROTO_MAX_BODY + (4u << 10))

typedef enum {
    PROTO_KIND_HELLO = 1,
    PROTO_KIND_READY = 2,
    PROTO_KIND_HEARTBEAT = 3,
    PROTO_KIND_CREDIT = 4,
    PROTO_KIND_SUBMIT = 10,
    PROTO_KIND_REVOKE = 11,
    PROTO_KIND_UPDATE = 12,
    PROTO_KIND_REPLACE = 13,
    PROTO_KIND_ACCEPTED = 20,
    PROTO_KIND_REJECTED = 21,
    PROTO_KIND_EXPIRED = 22,
    PROTO_KIND_DELIVER = 30,
    PROTO_KIND_DELIVERED = 31,
    PROTO_KIND_ACK = 32,
    PROTO_KIND_STATUS = 40,
    PROTO_KIND_DIRECTORY = 50,
    PROTO_KIND_DIRECTORY_DELTA = 51,
    PROTO_KIND_ERROR = 60,
    PROTO_KIND_FORWARD = 70,
    PROTO_KIND_LOG_PROVE = 80, // agent or linked broker: prove the log extends the head I hold
    PROTO_KIND_LOG_PROOF = 81, // broker: the current signed tree head and that proof
} proto_kind_t;

//  Name of a kind ("SUBMIT"), or NULL if kind is not defined.
const char *proto_kind_name(int kind);

//  Kinds that carry a signed document and attachment frames.
bool proto_kind_has_document(int kind);

typedef struct {
    uint8_t bytes[PROTO_ID_LEN];
} proto_id_t;

//  Bytes of an id's text: 36 characters of UUID text and the NUL.
#define PROTO_ID_TEXT_LEN 37

//  Format an id as 36-character lowercase UUID text (8-4-4-4-12) plus NUL.
void proto_id_format(const proto_id_t *id, char out[PROTO_ID_TEXT_LEN]);
//  Parse UUID text or 32 hex digits. Returns PROTO_ERR_VALUE on bad input.
proto_err_t proto_id_parse(const char *text, proto_id_t *id) PROTO_MUST_CHECK;
//  A fresh id for a document or notice: a version-7 UUID (the time in ms,
//  then 74 random bits), so ids made later sort later.
void proto_id_new(proto_id_t *id);
//  A fresh random id (libsodium randombytes; version-4 UUID layout).
void proto_id_random(proto_id_t *id);

// ---------------------------------------------------------------------------
//  The document envelope (edXML header), signed by the sending agency.

typedef enum {
    PROTO_URGENCY_NORMAL = 0,      // thường
    PROTO_URGENCY_URGENT = 1,      // khẩn
    PROTO_URGENCY_VERY_URGENT = 2, // thượng khẩn
    PROTO_URGENCY_IMMEDIATE = 3,   // hỏa tốc
} proto_urgency_t;

typedef enum {
    PROTO_OP_NEW = 0,
    PROTO_OP_REVOKE = 1,
    PROTO_OP_UPDATE = 2,
    PROTO_OP_REPLACE = 3,
} proto_op_t;

typedef struct {
    const char *name;       // full name, optional
    const char *position;   // chức vụ, optional
    const char *competence; // thẩm quyền (e.g. "TM.", "KT."), optional
} proto_signer_t;

typedef struct {
    const char *agency; // agency code of the earlier document's sender, required
    const char *code;   // its code number/notation as text, optional
    const char *date;   // its promulgation date YYYY-MM-DD, optional
    bool has_doc;       // doc is set
    proto_id_t doc;     // its truc document id, optional
} proto_ref_t;

typedef struct {
    const char *agency; // agency that handled the document
    uint64_t time;      // milliseconds since the Unix epoch, UTC
} proto_hop_t;

typedef struct {
    const char *key;   // [a-z0-9._-]{1,64}, unique within the map
    const char *value; // UTF-8 text
} proto_kv_t;

typedef struct {
    const char *agency;                   // recipient agency the key is sealed to
    uint8_t sealed[PROTO_SEALED_KEY_LEN]; // crypto_box_seal(file key, agency X25519 key)
} proto_sealed_key_t;

//  Sealed attachments (PROTOCOL.md section 11, proto/seal.h).
typedef struct {
    const char *alg;                    // "xchacha20poly1305-secretstream+sealbox"
    uint8_t header[24];                 // secretstream header
    uint32_t chunk;                     // plaintext bytes per secretstream chunk
    uint8_t plain_hash[PROTO_HASH_LEN]; // BLAKE2b-256 of the plaintext, signed
    proto_sealed_key_t *keys;           // one per recipient
    uint32_t nkeys;
} proto_enc_t;

typedef struct {
    const char *name;             // file name, 1..200 characters, no '/' '\\' or controls
    const char *type;             // media type, e.g. "application/pdf"
    uint64_t size;                // bytes in the attachment frame
    uint8_t hash[PROTO_HASH_LEN]; // BLAKE2b-256 of the attachment frame
    const proto_enc_t *enc;       // NULL: plain bytes
} proto_attachment_t;

typedef struct {
    proto_id_t id;    // unique document id
    const char *from; // sender agency code
    const char **to;  // recipient agency codes, 1..500, no repeats
    uint32_t nto;
    uint64_t created;          // when the sender signed it, ms since epoch
    const char *doc_type;      // loại văn bản, required
    const char *subject;       // trích yếu, required, 1..500 characters
    const char *code_number;   // số
    const char *code_notation; // ký hiệu
    const char *place;         // nơi ban hành
    const char *date;          // ngày ban hành, YYYY-MM-DD
    const char *due;           // hạn xử lý, YYYY-MM-DD
    const char *content;       // optional content summary
    const char *sphere;        // phạm vi ban hành
    const char *typist;        // ký hiệu người đánh máy
    proto_signer_t signer;     // người ký
    uint8_t urgency;           // proto_urgency_t
    uint8_t secrecy;           // độ mật: 0 none .. 3 top secret
    uint8_t steering;          // edXML SteeringType, 0..255, carried as is
    uint32_t pages;            // page count, 0 = not given
    uint32_t copies;           // number of copies, 0 = not given
    uint32_t appendixes;       // number of appendixes, 0 = not given
    const char **places;       // nơi nhận as printed on the document
    uint32_t nplaces;
    proto_ref_t *response_for; // trả lời cho
    uint32_t nresponse_for;
    uint8_t op;            // proto_op_t
    const char *op_reason; // required when op != NEW
    proto_id_t *op_refs;   // documents revoked/updated/replaced; required when op != NEW
    uint32_t nop_refs;
    proto_hop_t *trace; // hops before the sender's agent
    uint32_t ntrace;
    proto_kv_t *ext; // vendor extension fields
    uint32_t next;
    proto_attachment_t *att; // attachments, bytes in frames 2..
    uint32_t natt;
} proto_doc_t;

// ---------------------------------------------------------------------------
//  Receipts: Merkle batches signed once per batch (see proto/merkle.h).

typedef enum {
    PROTO_EVENT_ACCEPTED = 1,  // broker stored it durably
    PROTO_EVENT_REJECTED = 2,  // broker refused it (code says why)
    PROTO_EVENT_DELIVERED = 3, // recipient verified and stored it
    PROTO_EVENT_REFUSED = 4,   // recipient quarantined it (code says why)
    PROTO_EVENT_EXPIRED = 5,   // not delivered to `to` within its time to live
    PROTO_EVENT_RETURNED = 6,  // `to` was revoked before delivery
} proto_event_t;

typedef struct {
    uint8_t event;                // proto_event_t
    proto_id_t id;                // document or notice id
    uint8_t hash[PROTO_HASH_LEN]; // content hash of what the event is about
    const char *from;             // sender agency of the document/notice
    const char *to;               // recipient concerned, or NULL
    uint64_t time;                // when the event happened, ms since epoch
    uint64_t seq;                 // broker audit sequence number, 0 = none
    uint32_t code;                // 0, or the proto_err_t that explains it
    const char *reason;           // optional human text
} proto_leaf_t;

typedef struct {
    const char *signer;           // agency code or broker label
    uint64_t time;                // ms since epoch
    uint64_t size;                // number of leaves in the tree, >= 1
    uint8_t root[PROTO_HASH_LEN]; // Merkle tree hash
    uint64_t log;                 // a broker batch: the log's size with it appended; 0 = none
} proto_head_t;

//  A signed tree head of the broker's transparency log (proto/tlog.h).
//  The signature is over ["truc/sth/1", signer, time, size, root].
typedef struct {
    const char *signer;           // broker label
    uint64_t time;                // when it was signed, ms since epoch
    uint64_t size;                // leaves in the log, 0..PROTO_TLOG_MAX_SIZE
    uint8_t root[PROTO_HASH_LEN]; // the log's Merkle tree hash
    uint8_t sig[PROTO_SIG_LEN];   // signer's signature of the canonical bytes
} proto_sth_t;

typedef struct {
    proto_leaf_t leaf;
    uint64_t index;                  // leaf index in the tree, < head.size
    uint8_t (*path)[PROTO_HASH_LEN]; // audit path, leaf to root
    uint32_t npath;
} proto_item_t;

//  ACCEPTED, REJECTED, EXPIRED and DELIVERED bodies.
typedef struct {
    uint64_t mid; // mailbox id when it must be ACKed, else 0
    proto_head_t head;
    uint8_t sig[PROTO_SIG_LEN]; // head.signer's signature of the head
    proto_item_t *items;        // 1..4096
    uint32_t nitems;
} proto_receipts_t;

// ---------------------------------------------------------------------------
//  Bodies of the other kinds.

typedef struct {
    uint8_t *versions; // versions the agent speaks, 1..8 entries
    uint32_t nversions;
    const char *agency;   // the agency the agent speaks for (NULL on a link)
    const char *software; // optional "name/version"
    uint64_t dir_serial;  // serial of the directory it holds, 0 = none
    uint32_t window;      // delivery credit: unacknowledged pushes allowed, 1..100000
    bool dir_deltas;      // it applies DIRECTORY_DELTA (optional, false when absent)
    const char *link;     // a broker's link: the dialing broker's label, then agency is NULL
    bool log;             // it checks the broker's log (a link: and answers LOG_PROVE)
    bool dir_own;         // a link: the dialing broker offers its own agencies (16.5)
    bool route;           // an agency: it takes DELIVER's `route` (5.5)
} proto_hello_t;

typedef struct {
    uint8_t version;       // version chosen for this session
    const char *broker;    // broker label
    const char *agency;    // the authenticated agency (NULL on a link)
    uint64_t time;         // broker clock, ms since epoch
    uint32_t heartbeat;    // heartbeat interval in ms
    uint64_t dir_serial;   // current directory serial
    uint64_t max_frame;    // largest frame the broker accepts
    uint64_t max_document; // largest sum of attachment sizes
    uint32_t max_recipients;
    uint32_t max_attachments;
    const char *link;  // a link: the authenticated dialing broker's label, then agency is NULL
    bool has_log;      // the broker's current log head is given (HELLO said log)
    proto_sth_t log;   // that signed tree head
    bool has_dir_held; // a link: the listening broker takes the dialing one's agencies
    uint64_t dir_held; // the serial of them it holds, 0 = none
} proto_ready_t;

typedef struct {
    uint64_t time; // sender clock, ms since epoch
} proto_heartbeat_t;

typedef struct {
    uint32_t window; // new delivery credit
} proto_credit_t;

//  One broker a forwarded document passed through (PROTOCOL.md 16.7).
typedef struct {
    const char *broker; // broker label
    uint64_t time;      // when that broker stored the document, ms since epoch
} proto_fwd_hop_t;

//  SUBMIT, REVOKE, UPDATE, REPLACE (agent to broker) and DELIVER (broker to
//  agent; accepted and seq set, and route for a document that came over a
//  link).
typedef struct {
    proto_doc_t doc;
    uint8_t sig[PROTO_SIG_LEN]; // doc.from's signature of the canonical bytes
    uint64_t accepted;          // DELIVER only: broker acceptance time
    uint64_t seq;               // DELIVER only: broker audit sequence number
    proto_fwd_hop_t *route;     // DELIVER only: the brokers that stored it, the origin first,
    uint32_t nroute;            //   this one last; 0 when it never left its broker, or the
                                //   agent's HELLO did not ask for it
} proto_document_t;

typedef struct {
    uint64_t *mids; // mailbox ids, 1..4096
    uint32_t nmids;
} proto_ack_t;

typedef struct {
    const char *name;
    const char *department;
    const char *phone;
    const char *email;
} proto_staff_t;

typedef struct {
    proto_id_t id;       // notice id
    proto_id_t doc;      // the document it is about
    const char *from;    // agency sending the notice
    const char *to;      // agency it is for
    uint8_t code;        // 1..6, 13, 15, 16 (edXML status codes)
    uint64_t time;       // ms since epoch
    const char *note;    // optional
    proto_staff_t staff; // optional handler details
} proto_notice_t;

typedef struct {
    uint64_t mid; // mailbox id when routed by the broker, else 0
    proto_notice_t notice;
    uint8_t sig[PROTO_SIG_LEN]; // notice.from's signature
} proto_status_t;

typedef enum {
    PROTO_AGENCY_ACTIVE = 0,
    PROTO_AGENCY_SUSPENDED = 1,
    PROTO_AGENCY_REVOKED = 2,
} proto_agency_state_t;

typedef struct {
    const char *code;
    const char *name;
    uint8_t key[PROTO_KEY_LEN]; // Ed25519 public key (CURVE key derives from it)
    uint8_t state;              // proto_agency_state_t
    uint64_t valid_from;        // seconds since epoch, 0 = unset
    uint64_t valid_until;       // seconds since epoch, 0 = unset
    proto_keywin_t *retired;    // retired keys with their windows, oldest first (10.1)
    uint32_t nretired;          // 0 to PROTO_KEYWIN_MAX; 0 = field absent
    const char *home;           // label of its home broker (16.5); NULL = the signer's
} proto_dir_entry_t;

//  A broker entry of the directory between brokers (16.5).
typedef struct {
    const char *label;
    const char *name;
    uint8_t key[PROTO_KEY_LEN]; // Ed25519 public key
    uint8_t state;              // proto_agency_state_t
    const char **codes;         // explicit agency codes it is home for, bytewise order
    uint32_t ncodes;
    const char **patterns; // patterns it is home for, as written
    uint32_t npatterns;
} proto_dir_broker_t;

typedef struct {
    uint64_t serial;
    uint64_t time;              // ms since epoch
    const char *broker;         // broker label
    proto_dir_entry_t *entries; // sorted by code, no repeats
    uint32_t nentries;
    uint8_t sig[PROTO_SIG_LEN];     // broker's signature
    proto_keywin_t *broker_retired; // the signing broker's retired keys (10.1), oldest first
    uint32_t nbroker_retired;       // 0 to PROTO_KEYWIN_MAX; 0 = field absent
    bool federated;                 // the form between brokers (16.5): `brokers` present
    proto_dir_broker_t *brokers;    // sorted by label, no repeats; only when federated
    uint32_t nbrokers;
} proto_directory_msg_t;

//  DIRECTORY_DELTA: what changed between the snapshot at `base` and the one
//  at `serial`. Applying it to exactly the snapshot at `base` gives the
//  snapshot at `serial`, whose signature it carries (proto/dirdelta.h).
typedef struct {
    uint64_t base;              // serial of the snapshot it applies to
    uint64_t serial;            // serial of the snapshot it makes, > base
    uint64_t time;              // that snapshot's time, ms since epoch
    const char *broker;         // broker label
    proto_dir_entry_t *entries; // added or changed since base, sorted by code, no repeats
    uint32_t nentries;
    const char **removed; // codes no longer in the directory, sorted, no repeats
    uint32_t nremoved;
    uint8_t sig[PROTO_SIG_LEN];     // broker's signature of the snapshot at serial
    proto_keywin_t *broker_retired; // that snapshot's broker_retired (10.1)
    uint32_t nbroker_retired;       // 0 = field absent
    bool federated;                 // between brokers (16.5): `brokers` present
    proto_dir_broker_t *brokers;    // that snapshot's broker entries, whole; only when federated
    uint32_t nbrokers;
} proto_dir_delta_t;

//  FORWARD: a document one broker hands to the next over a link. The
//  sender's signed body travels byte for byte and is never re-signed; the
//  attachment frames follow as in the sender's message.
typedef struct {
    uint8_t kind;           // the sender's kind: SUBMIT REVOKE UPDATE REPLACE
    const uint8_t *body;    // the sender's body frame, byte for byte
    size_t body_len;        // 1..PROTO_MAX_BODY
    const char **to;        // the recipients this hop carries, a subset of the document's
    uint32_t nto;           // 1..500, no repeats
    proto_fwd_hop_t *trace; // brokers that stored it, the origin first, 1..PROTO_MAX_HOPS
    uint32_t ntrace;
    //  Filled by the decoder from body (the encoder ignores it): the
    //  sender's document and signature as a SUBMIT of kind would give them.
    proto_document_t document;
} proto_forward_t;

//  LOG_PROVE: the agent holds a head of size `from` and asks the broker to
//  prove that its current log extends it.
typedef struct {
    uint64_t from; // the size of the head the agent holds, 0..PROTO_TLOG_MAX_SIZE
} proto_log_prove_t;

//  LOG_PROOF: the broker's current signed tree head and the consistency
//  proof from `from` to its size (empty when from is 0 or equals it, or
//  when the log is smaller than the size asked for: then from is 0).
typedef struct {
    proto_sth_t sth;
    uint64_t from;                    // the size the proof starts at, <= sth.size
    uint8_t (*proof)[PROTO_HASH_LEN]; // 0..PROTO_TLOG_MAX_PROOF hashes
    uint32_t nproof;
} proto_log_proof_t;

typedef struct {
    uint32_t code;       // proto_err_t
    const char *message; // human text
    bool has_ref;
    proto_id_t ref; // document or notice it concerns
    bool fatal;     // the sender closes the session after this
} proto_error_t;

// ---------------------------------------------------------------------------
//  Messages.

typedef struct proto_arena proto_arena_t;

typedef struct {
    proto_kind_t kind;
    union {
        proto_hello_t hello;
        proto_ready_t ready;
        proto_heartbeat_t heartbeat;
        proto_credit_t credit;
        proto_document_t document; // SUBMIT REVOKE UPDATE REPLACE DELIVER
        proto_receipts_t receipts; // ACCEPTED REJECTED EXPIRED DELIVERED
        proto_ack_t ack;
        proto_status_t status;
        proto_directory_msg_t directory;
        proto_dir_delta_t delta; // DIRECTORY_DELTA
        proto_error_t error;
        proto_forward_t forward; // FORWARD
        proto_log_prove_t log_prove;
        proto_log_proof_t log_proof;
    } u;
    proto_arena_t *arena; // private: owns decoded strings and arrays
} proto_msg_t;

//  Detail of a decoding failure: the code, the field path (e.g.
//  "doc.att[2].name") and a sentence. Pass NULL where not wanted.
typedef struct {
    proto_err_t code;
    char field[96];
    char message[160];
} proto_errinfo_t;

//  Parse a header frame. On success *version and *kind are set. Returns
//  PROTO_ERR_FRAMING (length or magic), PROTO_ERR_VERSION (version not
//  PROTO_VERSION) or PROTO_ERR_KIND (kind undefined); *version and *kind are
//  set whenever the length and magic are right, so a receiver can answer.
proto_err_t proto_header_parse(const void *data, size_t len, uint8_t *version,
                               int *kind) PROTO_MUST_CHECK;
//  Write the 4 header bytes for kind in this library's version.
void proto_header_write(uint8_t out[PROTO_HEADER_LEN], proto_kind_t kind);

//  Number of frames a decoded message must have arrived in: 2, plus one per
//  attachment for the document kinds and for a FORWARD (the attachments of
//  the body it carries). A receiver compares it with what it
//  received and answers PROTO_ERR_FRAMING on a difference.
size_t proto_msg_frame_count(const proto_msg_t *msg);

//  Largest body frame allowed for kind by the protocol.
size_t proto_body_limit(int kind);

//  Decode the body of a message of the given kind. On success *msg_p is a
//  new message owned by the caller. On failure *msg_p is NULL, nothing is
//  allocated and info (if not NULL) says what was wrong.
proto_err_t proto_msg_decode(int kind, const void *body, size_t len, proto_msg_t **msg_p,
                             proto_errinfo_t *info) PROTO_MUST_CHECK;

//  After proto_msg_decode refused a document (SUBMIT and friends) or a
//  STATUS, the id it names, if it can still be read: the body passes the
//  single structural pass of section 12 and its `doc` (or `notice`) map has
//  exactly one `id`, a bin of 16 bytes. A receiver then answers the refusal
//  for that id (REJECTED) instead of an ERROR no one waits for
//  (PROTOCOL.md section 4.3). Allocates no more than a decode would and
//  nothing that outlives the call. False when there is no such id. For a
//  FORWARD, the id is that of the document in its carried `body`, read the
//  same way.
bool proto_msg_peek_id(int kind, const void *body, size_t len, proto_id_t *id);

//  Check that len bytes hold exactly one msgpack value, nested at most
//  max_depth deep, whose every declared length fits in the bytes really
//  there - the first pass of proto_msg_decode, for other msgpack inputs
//  (the agent's local API). After PROTO_OK, msgpack-c can build the object
//  tree with allocations bounded by a small multiple of len.
proto_err_t proto_msgpack_check(const void *data, size_t len, int max_depth,
                                proto_errinfo_t *info) PROTO_MUST_CHECK;

//  Destroy a decoded message and set *msg_p to NULL. Safe on NULL.
void proto_msg_destroy(proto_msg_t **msg_p);

//  A growable byte buffer; the encoder appends to it.
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} proto_buf_t;

void proto_buf_init(proto_buf_t *buf);
void proto_buf_reset(proto_buf_t *buf); // len = 0, keeps memory
void proto_buf_free(proto_buf_t *buf);  // frees and re-inits
proto_err_t proto_buf_append(proto_buf_t *buf, const void *data, size_t len) PROTO_MUST_CHECK;

//  Encode msg->u (for msg->kind) as a body, replacing buf's contents. The
//  result is then decoded again, so a struct that breaks any rule of the
//  schema is refused with the same code and info a receiver would give;
//  nothing invalid ever leaves through this function.
proto_err_t proto_msg_encode(const proto_msg_t *msg, proto_buf_t *buf,
                             proto_errinfo_t *info) PROTO_MUST_CHECK;

//  Check one attachment frame against its descriptor: size and BLAKE2b-256.
//  Returns PROTO_OK or PROTO_ERR_HASH_MISMATCH.
proto_err_t proto_attachment_check(const proto_attachment_t *att, const void *data,
                                   size_t len) PROTO_MUST_CHECK;

//  Fill att->size and att->hash from the attachment bytes.
void proto_attachment_hash(proto_attachment_t *att, const void *data, size_t len);

//  May a broker hand fwd on to the broker labelled next (PROTOCOL.md 16.7)?
//  PROTO_OK, or PROTO_ERR_ROUTE_LOOP when next is already in the trace, or
//  PROTO_ERR_HOP_LIMIT when the trace already names PROTO_MAX_HOPS brokers
//  (next could not add its own entry).
proto_err_t proto_forward_next_check(const proto_forward_t *fwd, const char *next) PROTO_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
