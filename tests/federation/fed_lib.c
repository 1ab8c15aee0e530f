/*  tests/federation/fed_lib.c - see fed_lib.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fed_lib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

uint64_t fed_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

int fed_log_count(th_env_t *env, int index, const char *needle)
{
    FILE *f = fopen(env->logs[index], "r");
    char *line = NULL;
    size_t cap = 0;
    int found = 0;
    while (f && getline(&line, &cap, f) >= 0)
        found += strstr(line, needle) != NULL;
    free(line);
    if (f)
        fclose(f);
    return found;
}

void fed_wait_log(th_env_t *env, int index, const char *needle, int n)
{
    uint64_t until = fed_ms() + FED_WAIT_MS;
    while (fed_log_count(env, index, needle) < n) {
        int status;
        char st[64];
        th_check(!th_wait_exit(env, index, 0, &status), "process %d exited (%s) before '%s'", index,
                 th_status_text(status, st, sizeof st), needle);
        th_check(fed_ms() < until, "process %d logged '%s' %d times, not %d, within %d ms", index,
                 needle, fed_log_count(env, index, needle), n, FED_WAIT_MS);
        th_sleep_ms(50);
    }
}

void fed_keys(th_env_t *env, const char *const *args, const char *what)
{
    char out[4096];
    int status = th_run(env, args, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: %s", what, out);
}
