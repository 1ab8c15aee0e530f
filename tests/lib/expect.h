/*  tests/lib/expect.h - the broker's answer to a document or notice, as the
    integration and proof suites require it.

    A test sends a document or a status notice on a client and then needs
    the one answer about its id: ACCEPTED (a receipt bundle signed by the
    broker whose item verifies and names what was sent), REJECTED with a
    given code, or nothing. These were copied between test programs; one
    copy lives here so that every suite checks a receipt the same way.
*/
#ifndef TH_EXPECT_H
#define TH_EXPECT_H

#include <stdint.h>

#include "harness.h"
#include "proto/msg.h"
#include "truc_client.h"

//  The broker's answer about a document or notice id: an ACCEPTED or
//  REJECTED bundle with an item for it, or any ERROR; NULL if nothing came
//  within timeout_ms (other messages stay in the client's backlog). The
//  caller destroys it. Quiet: tests also use it to see that nothing comes.
proto_msg_t *th_answer(truc_client_t *c, const proto_id_t *id, int timeout_ms);

//  Require an ACCEPTED for id with this content hash and sender: a bundle
//  signed by the broker (TH_HUB) that verifies with its key, fatal when
//  not; the checks of the item's leaf (event, hash, from) are soft, so a
//  wrong receipt is reported and the test goes on. Returns the bundle; the
//  caller destroys it.
proto_msg_t *th_expect_accepted(th_env_t *env, truc_client_t *c, const proto_id_t *id,
                                const uint8_t hash[PROTO_HASH_LEN], const char *from,
                                const char *what);

//  Require a REJECTED for id with code, signed by the broker, whose leaf
//  carries hash (not checked when hash is NULL). Soft: the test goes on.
void th_expect_rejected(th_env_t *env, truc_client_t *c, const proto_id_t *id,
                        const uint8_t hash[PROTO_HASH_LEN], proto_err_t code, const char *what);

#endif
