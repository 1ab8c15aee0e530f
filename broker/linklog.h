/*  broker/linklog.h - this broker's check on the transparency logs of the
    brokers it is linked to (PROTOCOL.md 18.5).

    The same check an agent makes on its broker (agent/tlog.c), once per
    linked broker: the latest signed tree head of that broker's log this
    broker has verified (with the key of its broker entry) is kept durably;
    a newer one, seen in a link's READY, in the first LOG_PROOF of a session
    or named by a hop receipt (head.log), is asked for with LOG_PROVE (one
    at a time per link) and taken only when the consistency proof shows
    that the log extends the one held. A fork, a rollback or a proof that
    fails raises that link's alarm: an error log line, an admin audit entry,
    `truc-admin log links`, the metric truc_broker_link_log_alarm, and the
    evidence kept durably (the head held and the head seen, with the failed
    proof if any). From then on nothing more is checked against that broker
    until an operator clears it (`truc-admin log clear LABEL`, audited).
    Documents keep crossing the link: the alarm is the operator's.

    Owns the `linklog` table: per broker label, 'H' + label (a LOG_PROOF
    body holding the head) and 'A' + label (a msgpack map {reason, time,
    held, seen}, held and seen LOG_PROOF bodies). Loop thread only.

    Does not: decide who may link (link.c), answer LOG_PROVE (session.c,
    tlog.c), or check that a hop receipt's batch is in the log (inclusion).
*/
#ifndef BROKER_LINKLOG_H
#define BROKER_LINKLOG_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/msg.h"
#include "peers.h"
#include "server.h"

typedef struct broker_linklog broker_linklog_t;

//  The check's state, loaded from the server's store (which must be open;
//  server borrowed, must outlive it). NULL if out of memory.
broker_linklog_t *broker_linklog_new(broker_server_t *server);
void broker_linklog_destroy(broker_linklog_t **self_p);

//  Link session p (p->log: the other broker checks logs, so it answers
//  LOG_PROVE) became READY; head is the other broker's head from its
//  READY, or NULL (the listening side learns it from its first LOG_PROOF):
//  ask for the proof from the head held.
void broker_linklog_on_session(broker_linklog_t *self, broker_peer_t *p, const proto_sth_t *head);

//  A hop receipt from link session p whose head names log size `log` (0:
//  none).
void broker_linklog_on_batch(broker_linklog_t *self, broker_peer_t *p, uint64_t log);

//  LOG_PROOF from link session p.
//  LOG_PROVE (answered as an agent's, session.c) or LOG_PROOF (checked
//  here) on a link session; a malformed one gets a non-fatal ERROR.
void broker_linklog_message(broker_server_t *self, broker_peer_t *p, int kind, broker_job_t *job);

void broker_linklog_on_proof(broker_linklog_t *self, broker_peer_t *p,
                             const proto_log_proof_t *proof);

//  Every second: a LOG_PROVE unanswered for long is asked again.
void broker_linklog_tick(broker_linklog_t *self, uint64_t now);

//  Links with a raised alarm (the metric, status).
size_t broker_linklog_alarms(const broker_linklog_t *self);

//  `truc-admin log links`: an array of {broker, size, root, time,
//  connected, alarm} per broker whose head is held or alarm raised (only
//  label's if not NULL), the alarm with its evidence (nil when there is
//  none). Reads in the open transaction or a short read one.
void broker_linklog_pack(broker_linklog_t *self, const char *only, msgpack_packer *pk);

//  The brokers known here (a head held, an alarm, or a session so far),
//  for the metrics: the i-th's label (borrowed), the size of the head held
//  (0: none) and whether its alarm is raised. False past the end.
bool broker_linklog_at(const broker_linklog_t *self, size_t i, const char **label, uint64_t *size,
                       bool *alarm);

//  An operator has looked at label's alarm: forget it and the head held,
//  in the open write transaction (opened if need be), and ask that broker
//  anew if a session is up. The caller packs the evidence first if it
//  wants it (broker_linklog_pack). PROTO_ERR_NOT_FOUND if nothing is held
//  for label; the store's error otherwise.
proto_err_t broker_linklog_clear(broker_linklog_t *self, const char *label,
                                 bool *had_alarm) PROTO_MUST_CHECK;

#endif
