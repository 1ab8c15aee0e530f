/*  proto/evidence.h - evidence bundles: proof of a document's trip that
    anyone can check offline.
    A bundle is one msgpack map (PROTOCOL.md section "Evidence bundles")
    holding, byte for byte as they travelled, the body the sender signed
    (SUBMIT or DELIVER), its attachment frames (or only their hashes, which
    the signed body already commits to), the receipt bodies (ACCEPTED,
    DELIVERED, REJECTED, EXPIRED) and STATUS notices an agent holds for it,
    and the DIRECTORY snapshot, signed by the broker, whose current and
    retired keys verify each signature at the time it was made.
    This module writes a bundle from those parts and checks one into a
    report. It does not read an agent's store, open sockets or trust
    anything in the bundle but the broker key the caller names (or, when
    the caller names none, the one in the bundle, which the report says).
*/
#ifndef PROTO_EVIDENCE_H
#define PROTO_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/err.h"
#include "proto/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PROTO_EVIDENCE_FORMAT    "truc/evidence/1" // the bundle's format and version
#define PROTO_EVIDENCE_MAX_PARTS 4096              // receipts, notices in one bundle

//  A byte string, borrowed.
typedef struct {
    const uint8_t *data;
    size_t len;
} proto_evidence_bytes_t;

//  What a bundle is made of. Everything is borrowed; bodies are wire body
//  frames exactly as received or sent.
typedef struct {
    const char *made_by;               // agency code of the agent that wrote it
    uint64_t made;                     // when, ms since epoch
    uint8_t doc_kind;                  // kind of doc: SUBMIT..REPLACE or DELIVER
    proto_evidence_bytes_t doc;        // the document body the sender signed
    const proto_evidence_bytes_t *att; // natt attachment frames; NULL: hashes only
    uint32_t natt;
    const uint8_t *receipt_kinds;           // kind of each receipt body
    const proto_evidence_bytes_t *receipts; // nreceipts receipt bodies
    uint32_t nreceipts;
    const proto_evidence_bytes_t *status; // nstatus STATUS bodies
    uint32_t nstatus;
    proto_evidence_bytes_t directory; // a DIRECTORY body
    const uint8_t *broker_key;        // the broker's Ed25519 key the agent pins
} proto_evidence_parts_t;

//  Write a bundle into buf (replacing its contents). PROTO_ERR_INVALID_ARG
//  when a required part is missing, PROTO_ERR_LIMIT over the limits,
//  PROTO_ERR_NOMEM.
proto_err_t proto_evidence_write(const proto_evidence_parts_t *parts,
                                 proto_buf_t *buf) PROTO_MUST_CHECK;

//  One finding of a check: a signature, a proof, a hash, or something that
//  could not be proven.
typedef struct {
    char what[64];    // "document", "attachment[0]", "ACCEPTED", "DELIVERED", ...
    char signer[208]; // agency code or broker label, "" when none
    uint64_t time;    // when it was signed or happened, ms since epoch
    proto_err_t err;  // PROTO_OK when proven
    char detail[256]; // plain words: what was checked, or why it failed
} proto_evidence_line_t;

//  The outcome of a check.
typedef enum {
    PROTO_EVIDENCE_PROVEN = 0,   // everything present verified, accepted and delivered to all
                                 // (a recipient's bundle: delivered to that recipient)
    PROTO_EVIDENCE_UNPROVEN = 1, // nothing failed, but something is not proven
    PROTO_EVIDENCE_INVALID = 2,  // malformed, or a signature, proof or hash failed
} proto_evidence_verdict_t;

typedef struct proto_evidence_report proto_evidence_report_t;

//  Check a bundle of len bytes. broker_key (32 bytes) is the broker key the
//  caller trusts, or NULL to use the one in the bundle. Always returns a
//  report (NULL only when out of memory); a malformed bundle gives a report
//  with verdict INVALID and a line saying why.
proto_evidence_report_t *proto_evidence_check(const void *data, size_t len,
                                              const uint8_t *broker_key);
void proto_evidence_report_destroy(proto_evidence_report_t **self_p);

proto_evidence_verdict_t proto_evidence_verdict(const proto_evidence_report_t *self);
//  The document's id text, sender, subject and recipients; "" / 0 when the
//  document could not be read. Borrowed, valid while the report lives.
const char *proto_evidence_doc_id(const proto_evidence_report_t *self);
const char *proto_evidence_doc_from(const proto_evidence_report_t *self);
const char *proto_evidence_doc_subject(const proto_evidence_report_t *self);
uint32_t proto_evidence_doc_nto(const proto_evidence_report_t *self);
const char *proto_evidence_doc_to(const proto_evidence_report_t *self, uint32_t i);
//  Was recipient i's delivery proven by a DELIVERED receipt it signed?
bool proto_evidence_delivered(const proto_evidence_report_t *self, uint32_t i);
//  Is it a recipient's bundle: a DELIVER made by one of its recipients,
//  which cannot hold the broker's ACCEPTED nor the other recipients'
//  DELIVERED (they go to the sender)? Its verdict asks only for the
//  delivery to the recipient that made it.
bool proto_evidence_by_recipient(const proto_evidence_report_t *self);
//  Was acceptance proven by an ACCEPTED receipt the broker signed?
bool proto_evidence_accepted(const proto_evidence_report_t *self);
//  Who made the bundle and when; the broker key's fingerprint (hex) used.
const char *proto_evidence_made_by(const proto_evidence_report_t *self);
uint64_t proto_evidence_made(const proto_evidence_report_t *self);
const char *proto_evidence_broker_key(const proto_evidence_report_t *self);
bool proto_evidence_broker_key_pinned(const proto_evidence_report_t *self);
//  The findings, in the order they were checked.
uint32_t proto_evidence_nlines(const proto_evidence_report_t *self);
const proto_evidence_line_t *proto_evidence_line(const proto_evidence_report_t *self, uint32_t i);

#ifdef __cplusplus
}
#endif

#endif
