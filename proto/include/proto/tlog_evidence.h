/*  proto/tlog_evidence.h - the evidence kept when a transparency log is not
    an extension of the head held (PROTOCOL.md 18.4, 18.5): by an agent
    about its broker, by a broker about each broker it links to.

    Owns: a signed tree head (with the proof that came with it) as a
    LOG_PROOF body, the form both keep heads in; the alarm record
    {reason, time, held, seen} with held and seen as such bodies; that
    record shown as a map for people (health, truc-admin), its bodies read
    into {head, proof_from, proof}.

    Does not: verify heads or proofs (proto/tlog.h, proto/sign.h), decide
    what contradicts what, or store anything.
*/
#ifndef PROTO_TLOG_EVIDENCE_H
#define PROTO_TLOG_EVIDENCE_H

#include <msgpack.h>

#include "proto/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

//  sth (with from and nproof hashes of proof, or none) as a LOG_PROOF body
//  in out, which the wire's strict decoder reads back. from is kept only
//  where the body may carry it (with a proof, or not above sth's size).
proto_err_t proto_tlog_head_body(const proto_sth_t *sth, uint64_t from,
                                 const uint8_t (*proof)[PROTO_HASH_LEN], uint32_t nproof,
                                 proto_buf_t *out) PROTO_MUST_CHECK;

//  The alarm record, msgpack appended to out: {reason, time (ms), held,
//  seen}, held and seen as LOG_PROOF bodies (seen with the proof that
//  failed, if any).
proto_err_t proto_tlog_alarm_record(const char *reason, uint64_t time_ms, const proto_sth_t *held,
                                    const proto_sth_t *seen, uint64_t from,
                                    const uint8_t (*proof)[PROTO_HASH_LEN], uint32_t nproof,
                                    msgpack_sbuffer *out) PROTO_MUST_CHECK;

//  A kept alarm record (len bytes) as a map: its entries as they are, each
//  LOG_PROOF body as {head: {size, time, root, signer, sig}, proof_from,
//  proof}, hashes and signatures in hex. nil if it is not a map.
void proto_tlog_alarm_pack(msgpack_packer *pk, const void *record, size_t len);

#ifdef __cplusplus
}
#endif

#endif
