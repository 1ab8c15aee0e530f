/*  tests/federation/fed_lib.h - what the federation tests share: a
    monotonic clock, waiting for a broker's log line, running truc-keys,
    and two brokers on one directory: hub (the harness's broker) and nat.
*/
#ifndef TESTS_FEDERATION_FED_LIB_H
#define TESTS_FEDERATION_FED_LIB_H

#include <stdint.h>

#include "harness.h"
#include "proto/identity.h"

#define FED_WAIT_MS 30000 // a log line that must come

//  Monotonic milliseconds.
uint64_t fed_ms(void);

//  Lines of the log of process index that hold needle.
int fed_log_count(th_env_t *env, int index, const char *needle);

//  Wait until the log of process index holds needle at least n times; the
//  test fails if the process exits first or FED_WAIT_MS pass.
void fed_wait_log(th_env_t *env, int index, const char *needle, int n);

//  Run truc-keys with args (a NULL-terminated argv), which must succeed.
void fed_keys(th_env_t *env, const char *const *args, const char *what);

//  Run truc-keys directory VERB --dir (the harness's file) A1 A2, which must
//  succeed (a2 may be NULL).
void fed_dir(th_env_t *env, const char *verb, const char *a1, const char *a2);

//  Two brokers on the harness's directory: hub (home for A, B, D, E) and
//  nat (home for C, its key made here), each an entry with its key.
void fed_two_brokers(th_env_t *env);

//  Start nat with its data directory under the test's root (kept across
//  starts) on endpoint (a free port is picked and written there when it is
//  empty), heartbeats of 1 s, and sets (more options, NULL-terminated, or
//  NULL); wait until it listens. Returns its process index.
int fed_start_nat(th_env_t *env, char *endpoint, size_t len, const char *const *sets);

//  A session of agency who at nat (endpoint, nat's identity): READY from nat.
truc_client_t *fed_connect_nat(th_env_t *env, th_agency_t who, const char *endpoint,
                               const proto_identity_t *nat);

//  c gets document id as DELIVER, verifies it against the directory and
//  acknowledges it (who names c in failures).
void fed_receive(th_env_t *env, truc_client_t *c, const proto_id_t *id, const char *who);

//  c gets ACCEPTED for doc.
void fed_accepted(truc_client_t *c, const truc_doc_t *doc);

#endif
