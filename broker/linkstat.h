/*  broker/linkstat.h - what an operator sees of each link between brokers:
    whether its session is up, the documents queued for it (how many, and
    how long the oldest has waited) and the FORWARDs in flight on it. For
    `truc-admin links` (admin.c) and the metrics (metrics.c).

    The links shown are the ones that matter now: each link this broker
    dials (network.links), each broker with a session here, and each label
    with documents queued for it - a downstream broker that has not dialed
    in for hours still shows, with its backlog. Loop thread only.
*/
#ifndef BROKER_LINKSTAT_H
#define BROKER_LINKSTAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/agency.h"

struct broker_server;

#define BROKER_LINKSTAT_MAX 256 // links shown: the brokers one directory may list

typedef struct {
    char label[PROTO_LABEL_MAX + 1];
    const char *endpoint; // where this broker dials it, NULL if it dials in
    bool up;              // a session in READY now
    uint64_t sessions;    // READY sessions since start (dialed links only)
    uint32_t in_flight;   // FORWARDs pushed on the session and not yet answered
    uint64_t waiting;     // documents queued for it (hops not yet taken)
    uint64_t oldest_age;  // ms since the oldest of them was queued, 0 when none
} broker_linkstat_t;

//  Fill out[0..max-1] with the links, in label order, as of now. Reads the
//  store in a read transaction of its own, or the open batch's. Returns
//  how many.
size_t broker_linkstats(struct broker_server *server, broker_linkstat_t *out, size_t max);

#endif
