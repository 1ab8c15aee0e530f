/*  broker/deliver_body.h - the DELIVER body a broker stores for a document.

    A broker never re-encodes what a sender signed: the DELIVER body it
    stores and pushes is the sender's body byte for byte, its map grown by
    the broker's own fields at the end, `accepted` and `seq` (PROTOCOL.md
    5.5). Handing the document on to another broker needs the sender's
    body back: the inverse strips exactly those fields. An agent whose
    HELLO asked for it gets a document that came over a link with one
    field more, `route`, the brokers that stored it, added as it is pushed.
*/
#ifndef BROKER_DELIVER_BODY_H
#define BROKER_DELIVER_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "proto/msg.h"

//  The DELIVER body of sender's body[0..len-1]: its fields, then accepted
//  and seq. PROTO_ERR_MSGPACK if body is not a map, PROTO_ERR_NOMEM.
proto_err_t broker_deliver_body(const uint8_t *body, size_t len, uint64_t accepted, uint64_t seq,
                                proto_buf_t *out) PROTO_MUST_CHECK;

//  The sender's body back from a stored DELIVER body that
//  broker_deliver_body built with these accepted and seq.
//  PROTO_ERR_STORE if stored does not end in exactly those fields.
proto_err_t broker_deliver_body_sender(const uint8_t *stored, size_t len, uint64_t accepted,
                                       uint64_t seq, proto_buf_t *out) PROTO_MUST_CHECK;

//  The stored DELIVER body with `route` (route[0..nroute-1], nroute >= 2)
//  added, for a session whose HELLO asked for it. PROTO_ERR_STORE if
//  stored is not a map, PROTO_ERR_NOMEM.
proto_err_t broker_deliver_body_route(const uint8_t *stored, size_t len,
                                      const proto_fwd_hop_t *route, uint32_t nroute,
                                      proto_buf_t *out) PROTO_MUST_CHECK;

#endif
