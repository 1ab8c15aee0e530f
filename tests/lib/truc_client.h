/*  tests/lib/truc_client.h - a small synchronous truc client for tests and
    benchmarks.

    A truc_client_t is one agent session seen from the wire: a ZeroMQ DEALER
    connected to a broker with CURVE (the agency's derived Curve25519 pair,
    the broker's pinned CURVE key), speaking proto/PROTOCOL.md through the
    proto library. It sends HELLO, SUBMIT, DELIVERED, ACK, CREDIT and raw
    frames, and receives and strictly decodes whatever the broker answers.
    Every call blocks for at most the timeout it is given.

    It owns: its ZeroMQ context and socket, a backlog of received messages
    that a selective receive put aside, and the last DIRECTORY snapshot.

    It deliberately does not: retry, reconnect, keep an outbox or inbox, or
    decide whether a broker is right. It is a tool for tests that want to see
    exactly what crosses the wire, including hostile bytes; a real agent is
    agent/. Not thread-safe: one client per thread.
*/
#ifndef TRUC_CLIENT_H
#define TRUC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/directory.h"
#include "proto/err.h"
#include "proto/identity.h"
#include "proto/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Milliseconds since the Unix epoch (CLOCK_REALTIME), as the protocol counts time.
uint64_t truc_now_ms(void);

// ---------------------------------------------------------------------------
//  Received attachment frames.

typedef struct truc_frames truc_frames_t;

//  Number of frames, and the bytes and size of frame i (borrowed, valid until
//  the frames are destroyed). Safe on NULL (count 0, data NULL, size 0).
size_t truc_frames_count(const truc_frames_t *self);
const void *truc_frames_data(const truc_frames_t *self, size_t i);
size_t truc_frames_size(const truc_frames_t *self, size_t i);

//  Destroy the frames and set *self_p to NULL. Safe on NULL.
void truc_frames_destroy(truc_frames_t **self_p);

// ---------------------------------------------------------------------------
//  Signed documents, ready to submit.

//  One attachment given to truc_doc_build; the bytes are copied.
typedef struct {
    const char *name; // file name, e.g. "cong-van.pdf"
    const char *type; // media type, e.g. "application/pdf"
    const void *data; // attachment bytes
    size_t len;
} truc_att_t;

typedef struct truc_doc truc_doc_t;

//  Build a SUBMIT message signed by `from`: a fresh random id, doc.from =
//  the identity's name, the nto recipient codes, created = now, subject,
//  document type, urgency (proto_urgency_t) and natt attachments (their
//  size and hash computed with proto_attachment_hash). Everything is copied;
//  the identity is only used to sign. Returns NULL if the result is not a
//  valid SUBMIT (checked with proto_msg_encode), if `from` is not an agency
//  identity, or if out of memory.
truc_doc_t *truc_doc_build(const proto_identity_t *from, const char *const *to, uint32_t nto,
                           const char *subject, const char *doc_type, uint8_t urgency,
                           const truc_att_t *att, uint32_t natt);

//  Destroy the document and set *self_p to NULL. Safe on NULL.
void truc_doc_destroy(truc_doc_t **self_p);

//  The SUBMIT message. Borrowed and deliberately mutable: a test may change
//  any field (the id, a recipient, a signature byte) to build a bad
//  submission; call truc_doc_sign afterwards if the signature should follow.
//  Strings the caller points into it must outlive the document.
proto_msg_t *truc_doc_msg(truc_doc_t *self);
const proto_msg_t *truc_doc_cmsg(const truc_doc_t *self);

//  The document id (borrowed).
const proto_id_t *truc_doc_id(const truc_doc_t *self);

//  The content hash of the document as it is now (proto_doc_hash).
proto_err_t truc_doc_hash(const truc_doc_t *self, uint8_t hash[PROTO_HASH_LEN]) PROTO_MUST_CHECK;

//  Sign the document again with id (its name must be doc.from).
proto_err_t truc_doc_sign(truc_doc_t *self, const proto_identity_t *id) PROTO_MUST_CHECK;

//  The attachment bytes given at build time.
uint32_t truc_doc_natt(const truc_doc_t *self);
const void *truc_doc_att_data(const truc_doc_t *self, uint32_t i);
size_t truc_doc_att_len(const truc_doc_t *self, uint32_t i);

// ---------------------------------------------------------------------------
//  Receipts.

//  Check every item of a receipt bundle (ACCEPTED, REJECTED, EXPIRED or
//  DELIVERED message) with proto_receipt_verify against pk. Returns PROTO_OK,
//  PROTO_ERR_BAD_PROOF or PROTO_ERR_BAD_SIGNATURE for the first bad item,
//  PROTO_ERR_INVALID_ARG if msg is not a bundle or has no items.
proto_err_t truc_receipts_verify(const proto_msg_t *msg,
                                 const uint8_t pk[PROTO_KEY_LEN]) PROTO_MUST_CHECK;

//  The first item of a bundle whose leaf names id, or NULL.
const proto_item_t *truc_receipts_find(const proto_msg_t *msg, const proto_id_t *id);

// ---------------------------------------------------------------------------
//  The client.

typedef struct truc_client truc_client_t;

//  Connect a DEALER to endpoint. With broker_curve_pk the socket is a CURVE
//  client whose keys are the agency identity's derived Curve25519 pair and
//  whose server key is broker_curve_pk; with NULL it connects in the clear
//  (NULL mechanism), which a truc broker must refuse: for hostile tests.
//  agency is borrowed and must outlive the client; window is what HELLO will
//  announce. ZMQ_LINGER is 0: destroying a client drops what it has not sent
//  yet. Returns NULL on failure (bad endpoint, out of memory).
truc_client_t *truc_client_new(const char *endpoint, const proto_identity_t *agency,
                               const uint8_t broker_curve_pk[PROTO_KEY_LEN], uint32_t window);

//  truc_client_new for a slow consumer: its socket holds one message and
//  a 4 KiB kernel buffer, so what it does not read soon fills the broker's
//  queue for it.
truc_client_t *truc_client_new_slow(const char *endpoint, const proto_identity_t *agency,
                                    const uint8_t broker_curve_pk[PROTO_KEY_LEN], uint32_t window);

//  Close the socket, free the backlog, set *self_p to NULL. Safe on NULL.
void truc_client_destroy(truc_client_t **self_p);

//  The agency code this client speaks for (borrowed).
const char *truc_client_agency(const truc_client_t *self);

//  The ZeroMQ socket, for tests that need to poke at it. Borrowed.
void *truc_client_socket(truc_client_t *self);

//  One line describing the last failure of a call on this client (a
//  decoding error with its field, a ZeroMQ error, the ERROR a broker sent),
//  or "". Borrowed, valid until the next call.
const char *truc_client_error_text(const truc_client_t *self);

//  Raw mode off (the default): receive calls answer nothing but swallow
//  HEARTBEAT and keep DIRECTORY and DIRECTORY_DELTA aside (see
//  truc_client_directory and truc_client_delta). Raw mode
//  on: every message is returned to the caller.
void truc_client_set_raw(truc_client_t *self, bool raw);

//  The last DIRECTORY message received (borrowed, replaced by the next one),
//  or NULL; and how many have arrived.
const proto_msg_t *truc_client_directory(const truc_client_t *self);
size_t truc_client_directories(const truc_client_t *self);

//  The same for DIRECTORY_DELTA, kept aside the same way in raw mode off.
const proto_msg_t *truc_client_delta(const truc_client_t *self);
size_t truc_client_deltas(const truc_client_t *self);

//  What every later HELLO says about the directory: the serial held (0:
//  none, the default) and whether DIRECTORY_DELTA is applied (default no).
void truc_client_set_dir(truc_client_t *self, uint64_t serial, bool deltas);

//  Whether the next HELLO asks for DELIVER's `route` (PROTOCOL.md 5.5);
//  false until set.
void truc_client_set_route(truc_client_t *self, bool route);

//  Send HELLO (versions [1], agency = the identity's name, the window) and
//  wait for READY. Returns PROTO_OK with *ready (if not NULL) set to the
//  READY message, owned by the caller; the ERROR code if the broker answers
//  ERROR; PROTO_ERR_TIMEOUT if nothing arrives in time (a peer refused at
//  the CURVE or ZAP handshake never hears anything); PROTO_ERR_UNEXPECTED if
//  another kind arrives (it stays in the backlog).
proto_err_t truc_client_hello(truc_client_t *self, int timeout_ms,
                              proto_msg_t **ready) PROTO_MUST_CHECK;

//  Send n frames exactly as given, as one multipart message. For hostile
//  tests. Returns PROTO_OK, PROTO_ERR_TIMEOUT (nothing to send to: sends
//  give up after a few seconds) or PROTO_ERR_SYSTEM.
proto_err_t truc_client_send_frames(truc_client_t *self, const void *const *frames,
                                    const size_t *lens, size_t n) PROTO_MUST_CHECK;

//  Encode msg with proto_msg_encode (so only valid bodies leave) and send
//  header + body + natt attachment frames. Returns the encoder's error (see
//  truc_client_error_text), or as truc_client_send_frames.
proto_err_t truc_client_send(truc_client_t *self, const proto_msg_t *msg, const void *const *att,
                             const size_t *att_lens, size_t natt) PROTO_MUST_CHECK;

//  Send a document as built: its SUBMIT message and its attachment bytes.
proto_err_t truc_client_submit(truc_client_t *self, const truc_doc_t *doc) PROTO_MUST_CHECK;

//  Send ACK for n mailbox ids (1..4096).
proto_err_t truc_client_ack(truc_client_t *self, const uint64_t *mids, size_t n) PROTO_MUST_CHECK;

//  Send CREDIT with a new window.
proto_err_t truc_client_credit(truc_client_t *self, uint32_t window) PROTO_MUST_CHECK;

//  Receive one message: the oldest in the backlog, else the next from the
//  wire, waiting up to timeout_ms. The header is parsed, the body decoded
//  strictly and the frame count checked. While it waits it sends HEARTBEAT
//  whenever nothing was sent for a third of the broker's heartbeat, so long
//  waits keep the session. On success *msg (owned by the caller) is set and
//  *frames (may be NULL: the frames are then dropped) receives the
//  attachment frames, or NULL if there are none. Returns PROTO_ERR_TIMEOUT
//  if nothing arrived, the decoding error for a message that breaks the
//  protocol (details in truc_client_error_text), PROTO_ERR_SYSTEM.
proto_err_t truc_client_recv(truc_client_t *self, int timeout_ms, proto_msg_t **msg,
                             truc_frames_t **frames) PROTO_MUST_CHECK;

//  Decide whether a received message is the one a caller waits for.
typedef bool(truc_match_fn)(const proto_msg_t *msg, void *arg);

//  Like truc_client_recv, but return only the first message (backlog first)
//  for which match returns true; the others are kept in the backlog in the
//  order they arrived, for later receive calls. timeout_ms bounds the whole
//  wait.
proto_err_t truc_client_recv_match(truc_client_t *self, int timeout_ms, truc_match_fn *match,
                                   void *arg, proto_msg_t **msg,
                                   truc_frames_t **frames) PROTO_MUST_CHECK;

//  Receive the first message of one kind, keeping others in the backlog.
//  An ERROR always ends the wait: it is returned in *msg with
//  PROTO_ERR_UNEXPECTED (unless kind is PROTO_KIND_ERROR).
proto_err_t truc_client_recv_kind(truc_client_t *self, int kind, int timeout_ms, proto_msg_t **msg,
                                  truc_frames_t **frames) PROTO_MUST_CHECK;

//  The broker's answer about a document or notice id: the first ACCEPTED or
//  REJECTED bundle with an item for id, or any ERROR (backlog first; other
//  messages stay in the backlog). Returns as truc_client_recv_match.
proto_err_t truc_client_recv_answer(truc_client_t *self, const proto_id_t *id, int timeout_ms,
                                    proto_msg_t **msg) PROTO_MUST_CHECK;

//  One line about a received message for failure messages: "nothing" for
//  NULL, an ERROR's code and text, a receipt's kind and the code of its
//  item for id (or of its first item). Returns buf.
const char *truc_msg_describe(const proto_msg_t *msg, const proto_id_t *id, char *buf, size_t len);

//  Number of messages waiting in the backlog.
size_t truc_client_backlog(const truc_client_t *self);

//  Round trip to the broker's loop: send HELLO on a ready session and wait
//  for the ERROR ERR_UNEXPECTED the protocol answers with (not fatal). Once
//  it returns PROTO_OK the broker has read everything sent before it on this
//  connection. Returns PROTO_ERR_TIMEOUT, or PROTO_ERR_UNEXPECTED if the
//  broker answers something else (in the backlog then, or the ERROR text in
//  truc_client_error_text).
proto_err_t truc_client_ping(truc_client_t *self, int timeout_ms) PROTO_MUST_CHECK;

//  Acknowledge n DELIVER messages the way an agent does. For each: the
//  sender (doc.from) must be in dir (PROTO_ERR_UNKNOWN_AGENCY), the
//  signature must verify with its key (PROTO_ERR_BAD_SIGNATURE), the frames
//  must match the attachment list in count (PROTO_ERR_FRAMING), size and
//  hash (PROTO_ERR_HASH_MISMATCH). If all pass, one DELIVERED bundle signed
//  by this agency is built with proto_receipts_build, one leaf per
//  document (event DELIVERED, id, hash = content hash, from = doc.from,
//  to = this agency, time = now) and sent. On the first failure nothing is
//  sent and that code is returned. frames[i] may be NULL for a document
//  without attachments. n is 1..4096.
proto_err_t truc_client_ack_deliveries(truc_client_t *self, const proto_directory_t *dir,
                                       const proto_msg_t *const *delivers,
                                       const truc_frames_t *const *frames,
                                       size_t n) PROTO_MUST_CHECK;

// ---------------------------------------------------------------------------
//  Pipelined traffic, for benchmarks that drive many sessions from one
//  thread and keep many documents outstanding on each.

//  Like truc_client_new, but the socket lives in the caller's ZeroMQ
//  context, which is borrowed: it must outlive the client and
//  truc_client_destroy does not terminate it. Dozens of clients then share
//  one I/O thread instead of starting one each. NULL if ctx is NULL or as
//  truc_client_new.
truc_client_t *truc_client_new_shared(void *ctx, const char *endpoint,
                                      const proto_identity_t *agency,
                                      const uint8_t broker_curve_pk[PROTO_KEY_LEN],
                                      uint32_t window);

//  Like truc_client_send_frames, but without copying the frames: ZeroMQ
//  reads them while the message waits in its queue, so the bytes must stay
//  unchanged and allocated until the client is destroyed (with a shared
//  context: until that context is terminated). For replaying documents
//  encoded before a measurement. Returns as truc_client_send_frames.
proto_err_t truc_client_send_frames_nocopy(truc_client_t *self, const void *const *frames,
                                           const size_t *lens, size_t n) PROTO_MUST_CHECK;

//  True if a receive call would find a message without waiting: one in the
//  backlog, or the socket readable. Never blocks. Callers that poll many
//  sockets drain each with truc_client_recv(self, 0, ...) while this holds.
bool truc_client_readable(truc_client_t *self);

//  Acknowledge n DELIVER messages as an agent that leaves every check to
//  the broker would: one DELIVERED bundle signed by this agency, one leaf
//  per document (event DELIVERED, id, hash = content hash, from = doc.from,
//  to = this agency, time = now), sent at once. Unlike
//  truc_client_ack_deliveries nothing is verified, so a benchmark's
//  recipients do not take CPU from the broker they measure. n is 1..4096.
//  Returns PROTO_ERR_INVALID_ARG (a message that is not a DELIVER),
//  PROTO_ERR_NOMEM, or as truc_client_send.
proto_err_t truc_client_ack_deliveries_unchecked(truc_client_t *self,
                                                 const proto_msg_t *const *delivers,
                                                 size_t n) PROTO_MUST_CHECK;

#ifdef __cplusplus
}
#endif
#endif
