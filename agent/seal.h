/*  agent/seal.h - sealed documents at the agent: sealing what the DMS asks
    to keep from the hub, opening what was sealed to this agency.

    Sending: once a document is built and checked, and before it is signed,
    every attachment is encrypted (proto/seal.h) to the recipients' keys in
    the verified directory; the envelope then describes the ciphertext
    (size, hash) and carries enc, whose plain_hash the signature covers.
    Receiving: every sealed attachment of a delivery is opened once as it
    arrives, so one that does not open is quarantined and refused at once
    rather than found out when the DMS fetches it; the plaintext is thrown
    away and the ciphertext is what the store keeps. Fetching opens it
    again.

    Sealed text: asked to, the sender also moves the subject and content
    into one more sealed attachment, the last, of type
    AGENT_SEAL_TEXT_TYPE: a msgpack map {subject: str, content: str
    (optional)}; the subject in clear becomes AGENT_SEAL_PLACEHOLDER and the
    content in clear goes. Fetching puts them back.

    Does not: decide whether to seal (api_send.c), store anything, or
    write files (files.c).
*/
#ifndef AGENT_SEAL_H
#define AGENT_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent.h"
#include "proto/msg.h"

#define AGENT_SEAL_TEXT_NAME   "truc-sealed-text.msgpack"
#define AGENT_SEAL_TEXT_TYPE   "application/vnd.truc.sealed-text+msgpack"
#define AGENT_SEAL_PLACEHOLDER "(trích yếu mật)"

//  The ciphertext frames and enc maps of one document being sealed.
typedef struct agent_seal agent_seal_t;

//  The subject and content of a sealed text, opened.
typedef struct {
    char *subject; // NUL-terminated, malloc'd
    char *content; // NULL if the sender had none
} agent_seal_text_t;

//  Seal every attachment of doc (decoded and checked, not yet signed):
//  data[i]/lens[i] are the plaintext frames (borrowed) and are replaced by
//  the ciphertext frames, which *seal_p owns, as do the enc maps doc->att
//  now points to. With text, the subject and content are sealed too, as one
//  more attachment: doc->natt grows by one, so data and lens must have room
//  for PROTO_MAX_ATTACHMENTS. Keep *seal_p until the document is queued,
//  then destroy it. Fails with PROTO_ERR_UNKNOWN_AGENCY when a recipient
//  has no key in the directory (or there is no directory yet),
//  PROTO_ERR_LIMIT when the text would be attachment 101, PROTO_ERR_NOMEM,
//  and writes a sentence to why; nothing is changed then.
proto_err_t agent_seal_document(const agent_t *self, proto_doc_t *doc, bool text, const void **data,
                                size_t *lens, agent_seal_t **seal_p, char *why,
                                size_t why_len) PROTO_MUST_CHECK;

//  Whether doc->att[i] is the sealed text: the last attachment, sealed, of
//  type AGENT_SEAL_TEXT_TYPE.
bool agent_seal_is_text(const proto_doc_t *doc, uint32_t i);

//  Open the sealed text of doc, if it has one (frames[i] for doc->att[i]):
//  PROTO_OK with *text filled (free it with agent_seal_text_free),
//  PROTO_ERR_NOT_FOUND when the document has none, PROTO_ERR_HASH_MISMATCH
//  when it does not open, PROTO_ERR_VALUE when it is not a map of subject
//  and content, PROTO_ERR_NOMEM.
proto_err_t agent_seal_text_open(const agent_t *self, const proto_doc_t *doc,
                                 const void *const *frames, const size_t *lens,
                                 agent_seal_text_t *text) PROTO_MUST_CHECK;
void agent_seal_text_free(agent_seal_text_t *text);

//  Destroy what agent_seal_document made and set *seal_p to NULL. Safe on
//  NULL.
void agent_seal_destroy(agent_seal_t **seal_p);

//  Open one sealed attachment with this agency's key: its plaintext into
//  out (replacing its contents). PROTO_ERR_HASH_MISMATCH if it does not
//  open or is not the plaintext the sender signed, PROTO_ERR_NOT_AUTHORIZED
//  if nothing is sealed to this agency, PROTO_ERR_NOMEM.
proto_err_t agent_seal_open(const agent_t *self, const proto_attachment_t *att, const void *frame,
                            size_t len, proto_buf_t *out) PROTO_MUST_CHECK;

//  Whether every sealed attachment of a delivered document opens (frames
//  are the attachment frames, frames[i] for doc->att[i]). PROTO_OK,
//  PROTO_ERR_HASH_MISMATCH with a sentence in reason, or PROTO_ERR_NOMEM
//  (then nothing is decided: the delivery is not acknowledged and comes
//  again).
proto_err_t agent_seal_check(const agent_t *self, const proto_doc_t *doc, const void *const *frames,
                             const size_t *lens, char *reason, size_t rlen) PROTO_MUST_CHECK;

#endif
