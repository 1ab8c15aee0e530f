/*  tests/federation/fed_lib.c - see fed_lib.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fed_lib.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "expect.h"
#include "proto/identity.h"

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

//  Run truc-keys directory VERB --dir FILE ARGS..., which must succeed.
void fed_dir(th_env_t *env, const char *verb, const char *a1, const char *a2)
{
    const char *args[] = { th_keys_path, "directory", verb, "--dir", env->dirfile, a1, a2, NULL };
    fed_keys(env, args, verb);
}

//  Two brokers on one directory: hub (home for A, B, D, E) and nat (home
//  for C), each an entry with its key; every active agency has a home, so
//  each broker knows which are its own.
void fed_two_brokers(th_env_t *env)
{
    char pub[TH_PATH_MAX + 64];
    snprintf(pub, sizeof pub, "%s/%s.public", env->keys, TH_HUB);
    fed_dir(env, "add-broker", pub, NULL);
    const char *make[] = { th_keys_path, "new", "--broker", "nat", "--out", env->keys, NULL };
    fed_keys(env, make, "truc-keys new nat");
    snprintf(pub, sizeof pub, "%s/nat.public", env->keys);
    fed_dir(env, "add-broker", pub, NULL);
    const th_agency_t at_hub[] = { TH_A, TH_B, TH_D, TH_E };
    for (size_t i = 0; i < sizeof at_hub / sizeof at_hub[0]; i++)
        fed_dir(env, "set-home", th_code(at_hub[i]), TH_HUB);
    fed_dir(env, "set-home", th_code(TH_C), "nat");
}

//  Start nat with its own data directory (kept from an earlier start) on
//  endpoint: a free port is picked when endpoint is empty, and written
//  there, so that hub can name it. sets: more options (NULL-terminated, or
//  NULL). Returns its process index.
int fed_start_nat(th_env_t *env, char *endpoint, size_t len, const char *const *sets)
{
    static char identity[TH_PATH_MAX + 64], data[TH_PATH_MAX + 64], listen[TH_PATH_MAX];
    char dir[TH_PATH_MAX + 32];
    if (!endpoint[0]) {
        int port = th_port_outside_ephemeral();
        th_check(port > 0, "no free port");
        snprintf(endpoint, len, "tcp://127.0.0.1:%d", port);
    }
    snprintf(dir, sizeof dir, "%s/data-nat", env->root);
    th_check(mkdir(dir, 0700) == 0 || errno == EEXIST, "mkdir %s", dir);
    snprintf(identity, sizeof identity, "broker.identity=%s/nat.secret", env->keys);
    snprintf(data, sizeof data, "broker.data_dir=%s", dir);
    snprintf(listen, sizeof listen, "network.endpoint=%s", endpoint);
    const char *args[24] = { "--config", env->config, "--set", identity, "--set",
                             data,       "--set",     listen,  "--set",  "network.heartbeat=1s" };
    size_t n = 10;
    for (size_t i = 0; sets && sets[i] && n + 2 < sizeof args / sizeof args[0]; i++) {
        args[n++] = "--set";
        args[n++] = sets[i];
    }
    args[n] = NULL;
    int index = th_spawn(env, args);
    fed_wait_log(env, index, "event=listening", 1);
    return index;
}

//  An agent of agency who at nat (endpoint, nat's key), in a session.
truc_client_t *fed_connect_nat(th_env_t *env, th_agency_t who, const char *endpoint,
                               const proto_identity_t *nat)
{
    truc_client_t *c =
        truc_client_new(endpoint, env->agency[who], proto_identity_public(nat)->curve_pk, 16);
    th_check(c != NULL, "client at nat");
    proto_msg_t *ready = NULL;
    proto_err_t rc = truc_client_hello(c, TH_RECV_TIMEOUT_MS, &ready);
    th_check(rc == PROTO_OK, "%s at nat: no READY: %s (%s)", th_code(who), proto_errname(rc),
             truc_client_error_text(c));
    th_check(strcmp(ready->u.ready.broker, "nat") == 0, "READY from %s", ready->u.ready.broker);
    proto_msg_destroy(&ready);
    return c;
}

//  c receives document id exactly as sent (the sender's signature checked
//  against the directory, the attachment against its hash) and
//  acknowledges it.
void fed_receive(th_env_t *env, truc_client_t *c, const proto_id_t *id, const char *who)
{
    proto_msg_t *msg = NULL;
    truc_frames_t *frames = NULL;
    proto_err_t rc =
        truc_client_recv_kind(c, PROTO_KIND_DELIVER, TH_RECV_TIMEOUT_MS, &msg, &frames);
    th_check(rc == PROTO_OK, "%s: expected DELIVER: %s", who, proto_errname(rc));
    th_check(memcmp(msg->u.document.doc.id.bytes, id->bytes, PROTO_ID_LEN) == 0,
             "%s got another document", who);
    const proto_msg_t *const delivers[] = { msg };
    const truc_frames_t *const fr[] = { frames };
    rc = truc_client_ack_deliveries(c, env->dir, delivers, fr, 1);
    th_check(rc == PROTO_OK, "%s: the document does not verify: %s", who, proto_errname(rc));
    proto_msg_destroy(&msg);
    truc_frames_destroy(&frames);
}

void fed_accepted(truc_client_t *c, const truc_doc_t *doc)
{
    char what[400];
    proto_msg_t *answer = th_answer(c, truc_doc_id(doc), TH_RECV_TIMEOUT_MS);
    th_check(answer && answer->kind == PROTO_KIND_ACCEPTED, "answered with %s, expected ACCEPTED",
             truc_msg_describe(answer, truc_doc_id(doc), what, sizeof what));
    proto_msg_destroy(&answer);
}
