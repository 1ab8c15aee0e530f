/*  broker/forward.h - where a document's recipients go from this broker
    (federation, PROTOCOL.md 16.4 and 16.7).

    A plan splits a document's recipients by next hop: those this broker
    delivers itself, one group per linked broker, and those it refuses
    (no route, a suspended or revoked broker, or a hop the loop rules
    forbid). The plan reads the directory and the trace the document came
    with; it stores nothing and sends nothing - intake stores the document
    once and queues one delivery per local recipient and per group
    (store_fwd.h).

    A group whose broker is already in the trace, or that the hop limit
    stops, is refused as a whole, with PROTO_ERR_ROUTE_LOOP or
    PROTO_ERR_HOP_LIMIT. This broker's own entry counts as in the trace:
    the document leaves with it appended.
*/
#ifndef BROKER_FORWARD_H
#define BROKER_FORWARD_H

#include <stdint.h>

#include "proto/directory.h"
#include "proto/msg.h"

typedef struct broker_fwd_plan broker_fwd_plan_t;

//  Plan recipients to[0..nto-1] (borrowed: the plan points into them and
//  into dir, which must outlive it) as seen from the broker labelled
//  self_label, for a document whose trace so far is trace[0..ntrace-1]
//  (NULL and 0 for one an agency just submitted). Returns NULL if out of
//  memory or given nto 0.
broker_fwd_plan_t *broker_fwd_plan_new(const proto_directory_t *dir, const char *self_label,
                                       const char *const *to, uint32_t nto,
                                       const proto_fwd_hop_t *trace, uint32_t ntrace);

//  Destroy the plan and set *self_p to NULL. Safe on NULL.
void broker_fwd_plan_destroy(broker_fwd_plan_t **self_p);

//  The recipients this broker delivers itself, in the order given.
uint32_t broker_fwd_plan_local_count(const broker_fwd_plan_t *self);
const char *broker_fwd_plan_local(const broker_fwd_plan_t *self, uint32_t index);
//  The same recipients as one array of broker_fwd_plan_local_count codes
//  (borrowed from the plan), as the store takes them.
const char *const *broker_fwd_plan_locals(const broker_fwd_plan_t *self);

//  The groups for other brokers, in the order their first recipient came.
//  A group's recipients are in the order given; refused is PROTO_OK, or
//  why the whole group cannot be forwarded (loop, hop limit).
uint32_t broker_fwd_plan_hop_count(const broker_fwd_plan_t *self);
const char *broker_fwd_plan_hop_label(const broker_fwd_plan_t *self, uint32_t hop);
proto_err_t broker_fwd_plan_hop_refused(const broker_fwd_plan_t *self, uint32_t hop);
uint32_t broker_fwd_plan_hop_to_count(const broker_fwd_plan_t *self, uint32_t hop);
const char *broker_fwd_plan_hop_to(const broker_fwd_plan_t *self, uint32_t hop, uint32_t index);

//  A recipient that cannot be reached, and why, or NULL and PROTO_OK when
//  every recipient has a next hop: the first without a route (no route is
//  PROTO_ERR_UNKNOWN_AGENCY; a broker suspended or revoked says so), else
//  the first of a group the loop rules refuse (PROTO_ERR_ROUTE_LOOP,
//  PROTO_ERR_HOP_LIMIT). Intake refuses the whole document then, as for an
//  unknown recipient. This broker already in the trace is a loop too.
const char *broker_fwd_plan_refused(const broker_fwd_plan_t *self, proto_err_t *reason);

#endif
