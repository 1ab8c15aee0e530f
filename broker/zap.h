/*  broker/zap.h - who may connect: the ZAP handler and the ROUTER's
    socket monitor.

    Owns: the answer to each CURVE handshake (the directory's verdict on the
    key, or a temporary refusal at capacity), refused handshakes counted and
    audited at most REFUSED_AUDIT_PER_MINUTE a minute, handshakes that fail
    before ZAP, and ending a session as soon as its connection closes.

    Does not: count descriptors (conns.c does, fed from here) or speak the
    truc protocol. Loop thread only.
*/
#ifndef BROKER_ZAP_H
#define BROKER_ZAP_H

#include "server_internal.h"

//  Answer one ZAP request (after taking all the monitor's news).
void broker_zap_handle(broker_server_t *self);

//  Take up to DRAIN_LIMIT monitor events; returns how many.
int broker_zap_monitor(broker_server_t *self);

//  The minute ended: the refusals past the per-minute audit limit go in one
//  audit entry, and the counts start again.
void broker_zap_refused_minute(broker_server_t *self);

//  A minute without a refusal for lack of room ends the episode: the next
//  refusal is logged again. now is monotonic ms.
void broker_zap_capacity_minute(broker_server_t *self, uint64_t now);

#endif
