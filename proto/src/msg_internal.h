/*  msg_internal.h - what the pieces of the message codec share (private).

    proto/msg.h is the codec's public surface; this header never leaves
    src/. msg.c owns kinds, headers, ids, buffers and the entry points
    (proto_msg_decode, proto_msg_encode), which dispatch on the kind to the
    decoder and encoder of its family, one family per file:

      msg_doc.c        the document envelope; SUBMIT REVOKE UPDATE REPLACE DELIVER
      msg_receipt.c    ACCEPTED REJECTED EXPIRED DELIVERED (heads, leaves, paths)
      msg_session.c    HELLO READY HEARTBEAT CREDIT ACK ERROR
      msg_status.c     STATUS
      msg_directory.c  DIRECTORY DIRECTORY_DELTA
      msg_forward.c    FORWARD (between brokers; embeds a document body)
      msg_log.c        LOG_PROVE LOG_PROOF, and the signed tree head READY carries

    Decoders check every rule of the schema and record failures through
    mp_fail; encoders write a msgpack map and leave errors in the writer.
*/
#ifndef PROTO_MSG_INTERNAL_H
#define PROTO_MSG_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "mp.h"
#include "proto/msg.h"

#define NKEYS(keys) (sizeof(keys) / sizeof((keys)[0]))

//  Field readers shared by every family (msg.c): an id, and unsigned
//  integers range-checked into narrower fields.
proto_err_t msg_id(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                   proto_id_t *out);
proto_err_t msg_u8(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                   uint64_t min, uint64_t max, uint8_t *out);
proto_err_t msg_u32(mp_ctx_t *ctx, const char *name, const msgpack_object *v, bool required,
                    uint64_t min, uint64_t max, uint32_t *out);

//  msg_doc.c: a kind for which proto_kind_has_document is true.
proto_err_t msg_document_decode(mp_ctx_t *ctx, int kind, const msgpack_object *o,
                                proto_document_t *out);
void msg_document_encode(mp_writer_t *w, int kind, const proto_document_t *in);

//  msg_receipt.c: ACCEPTED, REJECTED, EXPIRED, DELIVERED.
proto_err_t msg_receipts_decode(mp_ctx_t *ctx, int kind, const msgpack_object *o,
                                proto_receipts_t *out);
void msg_receipts_encode(mp_writer_t *w, const proto_receipts_t *in);

//  msg_session.c: HELLO, READY, HEARTBEAT, CREDIT, ACK, ERROR, into or from
//  the matching member of msg->u.
proto_err_t msg_session_decode(mp_ctx_t *ctx, int kind, const msgpack_object *o, proto_msg_t *msg);
void msg_session_encode(mp_writer_t *w, const proto_msg_t *msg);

//  msg_status.c: STATUS.
proto_err_t msg_status_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_status_t *out);
void msg_status_encode(mp_writer_t *w, const proto_status_t *in);

//  msg_directory.c: DIRECTORY and DIRECTORY_DELTA.
proto_err_t msg_directory_decode(mp_ctx_t *ctx, const msgpack_object *o,
                                 proto_directory_msg_t *out);
void msg_directory_encode(mp_writer_t *w, const proto_directory_msg_t *in);
proto_err_t msg_delta_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_dir_delta_t *out);
void msg_delta_encode(mp_writer_t *w, const proto_dir_delta_t *in);

//  msg_forward.c: FORWARD.
proto_err_t msg_forward_decode(mp_ctx_t *ctx, const msgpack_object *o, proto_forward_t *out);
void msg_forward_encode(mp_writer_t *w, const proto_forward_t *in);
//  A trace of brokers (FORWARD's `trace`, DELIVER's `route`): min..
//  PROTO_MAX_HOPS maps of broker label and time, no broker twice
//  (PROTO_ERR_ROUTE_LOOP). Optional and absent leaves *trace alone.
proto_err_t msg_broker_trace_decode(mp_ctx_t *ctx, const char *name, const msgpack_object *v,
                                    bool required, uint32_t min, proto_fwd_hop_t **trace,
                                    uint32_t *ntrace);
void msg_broker_trace_encode(mp_writer_t *w, uint32_t *n, const char *name,
                             const proto_fwd_hop_t *trace, uint32_t ntrace);

//  msg_log.c: LOG_PROVE and LOG_PROOF, and a signed tree head as the map
//  field `name` of another body (READY's `log`).
proto_err_t msg_log_decode(mp_ctx_t *ctx, int kind, const msgpack_object *o, proto_msg_t *msg);
void msg_log_encode(mp_writer_t *w, const proto_msg_t *msg);
proto_err_t msg_sth_decode(mp_ctx_t *ctx, const char *name, const msgpack_object *o,
                           proto_sth_t *out);
void msg_sth_encode(mp_writer_t *w, uint32_t *count, const char *name, const proto_sth_t *in);

#endif
