/*  agent/tlog.h - the agent's check on the broker's transparency log.

    The agent keeps, durably, the latest signed tree head of the broker's
    log it has verified (PROTOCOL.md section 18). A newer head, seen in
    READY or named by a receipt batch (head.log), is asked for with
    LOG_PROVE and taken only when LOG_PROOF's consistency proof shows that
    the log extends the one held. A broker whose log does not (rolled back,
    forked, restored from an older copy) raises the alarm: the event
    `log.alarm`, `log.alarm` in `health`, and the evidence kept durably -
    the head held and the head seen (two signed heads that cannot both be
    true), with the proof that failed, if any. Once raised, the alarm
    stays, with its evidence, and nothing more is checked against that
    broker: an operator decides what happened.

    Owns two records of the meta table, "tlog.head" (a LOG_PROOF body
    holding the head) and "tlog.alarm" (a msgpack map {reason, time, held,
    seen}, held and seen LOG_PROOF bodies). Loop thread only.

    Does not: check that a receipt's batch is in the log (inclusion), or
    watch other brokers' logs.
*/
#ifndef AGENT_TLOG_H
#define AGENT_TLOG_H

#include <msgpack.h>
#include <stdint.h>

#include "proto/msg.h"

typedef struct agent agent_t;
typedef struct agent_tlog agent_tlog_t;

//  The check's state, loaded from the store (which must be open). NULL if
//  out of memory.
agent_tlog_t *agent_tlog_new(agent_t *self);
void agent_tlog_destroy(agent_tlog_t **tlog_p);

//  READY: the broker's current head (a new session: nothing is being
//  asked any more).
void agent_tlog_on_ready(agent_t *self, const proto_ready_t *ready);
//  A receipt batch whose head names log size `log` (0: none).
void agent_tlog_on_batch(agent_t *self, uint64_t log);
//  LOG_PROOF from the broker.
void agent_tlog_on_proof(agent_t *self, const proto_msg_t *msg);

//  health's "log": {size, root, time, alarm}: the head held and the
//  alarm with its evidence (nil when there is none).
void agent_tlog_pack(agent_t *self, msgpack_packer *pk);

//  An operator has looked at the alarm: forget it and the head held, in
//  the open transaction (opened if need be), so that the broker's next
//  head is trusted anew; record the event log.cleared. The caller packs
//  the evidence into its reply first if it wants it kept. PROTO_OK or the
//  store's error.
proto_err_t agent_tlog_clear(agent_t *self) PROTO_MUST_CHECK;

#endif
