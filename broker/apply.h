/*  broker/apply.h - applying what the workers verified to the store.

    Owns: for a document, admission (directory, idempotence, id space,
    signing time, op_refs, quota, disk room), storing it (record, frames,
    audit entry, queues) and the effect of a revoke on deliveries still
    waiting; for a STATUS notice, its authorisation and limits; for
    DELIVERED receipts, checking and routing them to the senders. Each
    outcome becomes an entry of the open batch (batch.c).

    Does not: verify signatures or decode (verify.c, on worker threads),
    commit (batch.c), or push (push.c). Loop thread only.
*/
#ifndef BROKER_APPLY_H
#define BROKER_APPLY_H

#include "server_internal.h"

//  Apply one verified job from its session, if the session still exists:
//  a refusal becomes REJECTED or ERROR, a success an ACCEPTED in the open
//  batch. The job is borrowed (its msg may be changed).
void broker_apply(broker_server_t *self, broker_job_t *job);

//  broker_rate_drain's callback (arg is the server): the notice rate
//  limit's refusals after the first of each minute, summed into one audit
//  entry per agency.
void broker_apply_rate_summary(void *arg, const char *agency, uint64_t refused);

#endif
