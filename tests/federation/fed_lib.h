/*  tests/federation/fed_lib.h - what the federation tests share: a
    monotonic clock, waiting for a broker's log line, running truc-keys.
*/
#ifndef TESTS_FEDERATION_FED_LIB_H
#define TESTS_FEDERATION_FED_LIB_H

#include <stdint.h>

#include "harness.h"

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

#endif
