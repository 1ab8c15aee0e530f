/*  tests/lib/agent_harness.c - real truc-agent processes and their local
    API, for integration tests (see agent_harness.h).
*/
#include "agent_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

const char *ah_agent_path;

struct ah_agent {
    ah_env_t *env;
    th_agency_t who;
    char data[TH_ROOT_MAX + 16];        // ROOT/agent-X
    char endpoint[TH_ROOT_MAX + 48];    // ipc://DATA/api.sock
    char socket_file[TH_ROOT_MAX + 32]; // DATA/api.sock
    char broker[TH_PATH_MAX];           // the broker endpoint it connects to
    char log[TH_ROOT_MAX + 48];         // log of the current (or last) process
    char *sets[AH_MAX_SETS];            // extra --set assignments, copied
    size_t nsets;
    uint32_t window;
    char config[TH_PATH_MAX]; // "--config" file, "" for none
    pid_t pid;                // current process, 0 if none
    int runs;                 // processes started so far
    void *req;                // REQ socket to the API, NULL until needed
};

//  A letter per agency for short paths (ipc paths are limited to ~100 bytes).
static const char s_letters[TH_NAGENCIES] = { 'a', 'b', 'c', 'd', 'e', 's', 'r', 'u' };

static uint64_t s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

//  Print the last lines of a file, for a failed test's report.
static void s_print_tail(const char *path, int lines)
{
    static char text[128 * 1024];
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    long size = 0;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    long from = size > (long) sizeof text - 1 ? size - (long) sizeof text + 1 : 0;
    if (fseek(f, from, SEEK_SET) != 0)
        from = 0;
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    const char *start = text + n;
    int seen = 0;
    while (start > text && seen <= lines) {
        start--;
        if (*start == '\n')
            seen++;
    }
    if (seen > lines)
        start++;
    fprintf(stderr, "  ---- last lines of %s ----\n%s", path, start);
    if (n && text[n - 1] != '\n')
        fputc('\n', stderr);
    fprintf(stderr, "  ---- end ----\n");
}

// ---------------------------------------------------------------------------
//  Setup and teardown

int ah_setup(void **state)
{
    th_check(ah_agent_path != NULL, "the path of truc-agent is not set");
    ah_env_t *env = calloc(1, sizeof *env);
    th_check(env != NULL, "out of memory");
    *state = env;
    void *th = NULL;
    th_setup(&th);
    env->th = th;
    env->ctx = zmq_ctx_new();
    th_check(env->ctx != NULL, "zmq_ctx_new failed");
    snprintf(env->broker_public, sizeof env->broker_public, "%s/hub.public", env->th->keys);
    return 0;
}

void ah_pass(ah_env_t *env)
{
    env->passed = true;
    th_pass(env->th);
}

static void s_close_req(ah_agent_t *self)
{
    if (self->req) {
        zmq_close(self->req);
        self->req = NULL;
    }
}

int ah_teardown(void **state)
{
    ah_env_t *env = *state;
    if (!env)
        return 0;
    for (int i = 0; i < AH_MAX_AGENTS; i++)
        if (env->agents[i])
            s_close_req(env->agents[i]);
    for (int i = 0; i < AH_MAX_SOCKETS; i++)
        ah_socket_close(env, &env->sockets[i]);
    for (int i = 0; i < env->nprocs; i++)
        if (env->procs[i] > 0) {
            kill(env->procs[i], SIGKILL);
            while (waitpid(env->procs[i], NULL, 0) < 0 && errno == EINTR)
                ;
            env->procs[i] = 0;
        }
    if (!env->passed) {
        for (int i = 0; i < AH_MAX_AGENTS; i++) {
            ah_agent_t *a = env->agents[i];
            for (int run = 0; a && run < a->runs; run++) {
                char log[TH_PATH_MAX + 16];
                snprintf(log, sizeof log, "%s-%d.log", a->data, run);
                s_print_tail(log, 40);
            }
        }
    }
    while (env->replies) {
        ah_reply_t *r = env->replies;
        ah_reply_destroy(&r);
    }
    for (int i = 0; i < AH_MAX_AGENTS; i++) {
        ah_agent_t *a = env->agents[i];
        if (!a)
            continue;
        for (size_t k = 0; k < a->nsets; k++)
            free(a->sets[k]);
        free(a);
    }
    if (env->ctx)
        zmq_ctx_term(env->ctx);
    void *th = env->th;
    th_teardown(&th);
    free(env);
    *state = NULL;
    return 0;
}

// ---------------------------------------------------------------------------
//  The broker

void ah_broker_start(ah_env_t *env)
{
    char endpoint[TH_PATH_MAX + 32];
    const char *sets[] = { "network.heartbeat=" AH_HEARTBEAT, NULL, NULL };
    if (!env->broker_endpoint[0]) {
        int port = th_port_outside_ephemeral();
        if (port)
            snprintf(env->broker_endpoint, sizeof env->broker_endpoint, "tcp://127.0.0.1:%d", port);
    }
    if (env->broker_endpoint[0]) {
        snprintf(endpoint, sizeof endpoint, "network.endpoint=%s", env->broker_endpoint);
        sets[1] = endpoint;
    }
    th_broker_start(env->th, sets);
    if (!env->broker_endpoint[0])
        snprintf(env->broker_endpoint, sizeof env->broker_endpoint, "%s", env->th->endpoint);
    th_check(strcmp(env->broker_endpoint, env->th->endpoint) == 0,
             "the restarted broker is at %s, expected %s", env->th->endpoint, env->broker_endpoint);
}

void ah_broker_stop(ah_env_t *env)
{
    th_broker_stop(env->th);
}

// ---------------------------------------------------------------------------
//  Agents

ah_agent_t *ah_agent_new(ah_env_t *env, th_agency_t who, const char *broker_endpoint,
                         uint32_t window, const char *const *sets)
{
    int slot = -1;
    for (int i = 0; i < AH_MAX_AGENTS && slot < 0; i++)
        if (!env->agents[i])
            slot = i;
    th_check(slot >= 0, "too many agents in one test");
    if (!broker_endpoint)
        broker_endpoint = env->broker_endpoint;
    th_check(broker_endpoint[0], "no broker endpoint for the agent of %s", th_code(who));
    ah_agent_t *self = calloc(1, sizeof *self);
    th_check(self != NULL, "out of memory");
    env->agents[slot] = self;
    self->env = env;
    self->who = who;
    self->window = window;
    snprintf(self->data, sizeof self->data, "%s/agent-%c", env->th->root, s_letters[who]);
    snprintf(self->socket_file, sizeof self->socket_file, "%s/api.sock", self->data);
    snprintf(self->endpoint, sizeof self->endpoint, "ipc://%s", self->socket_file);
    snprintf(self->broker, sizeof self->broker, "%s", broker_endpoint);
    for (size_t i = 0; sets && sets[i]; i++) {
        th_check(self->nsets < AH_MAX_SETS, "too many --set for one agent");
        self->sets[self->nsets] = strdup(sets[i]);
        th_check(self->sets[self->nsets] != NULL, "out of memory");
        self->nsets++;
    }
    th_check(mkdir(self->data, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", self->data,
             strerror(errno));
    return self;
}

th_agency_t ah_agent_who(const ah_agent_t *self)
{
    return self->who;
}

const char *ah_agent_code(const ah_agent_t *self)
{
    return th_code(self->who);
}

const char *ah_agent_data(const ah_agent_t *self)
{
    return self->data;
}

const char *ah_agent_endpoint(const ah_agent_t *self)
{
    return self->endpoint;
}

const char *ah_agent_log(const ah_agent_t *self)
{
    return self->log;
}

pid_t ah_agent_pid(const ah_agent_t *self)
{
    return self->pid;
}

void ah_agent_set_window(ah_agent_t *self, uint32_t window)
{
    self->window = window;
}

void ah_agent_set_config(ah_agent_t *self, const char *path)
{
    snprintf(self->config, sizeof self->config, "%s", path ? path : "");
}

void *ah_socket(ah_env_t *env, int type)
{
    int slot = -1;
    for (int i = 0; i < AH_MAX_SOCKETS && slot < 0; i++)
        if (!env->sockets[i])
            slot = i;
    th_check(slot >= 0, "too many sockets in one test");
    void *socket = zmq_socket(env->ctx, type);
    th_check(socket != NULL, "zmq_socket: %s", zmq_strerror(zmq_errno()));
    int zero = 0;
    zmq_setsockopt(socket, ZMQ_LINGER, &zero, sizeof zero);
    env->sockets[slot] = socket;
    return socket;
}

void ah_socket_close(ah_env_t *env, void **socket_p)
{
    if (!socket_p || !*socket_p)
        return;
    void *socket = *socket_p; // socket_p may point into env->sockets
    *socket_p = NULL;
    for (int i = 0; i < AH_MAX_SOCKETS; i++)
        if (env->sockets[i] == socket)
            env->sockets[i] = NULL;
    zmq_close(socket);
}

static void s_forget_proc(ah_env_t *env, pid_t pid)
{
    for (int i = 0; i < env->nprocs; i++)
        if (env->procs[i] == pid)
            env->procs[i] = 0;
}

//  Wait up to timeout_ms for pid to exit; true (and the status) if it did.
static bool s_wait_pid(ah_env_t *env, pid_t pid, int timeout_ms, int *status)
{
    uint64_t end = s_now() + (uint64_t) timeout_ms;
    for (;;) {
        int st = 0;
        pid_t rc = waitpid(pid, &st, WNOHANG);
        if (rc == pid) {
            s_forget_proc(env, pid);
            if (status)
                *status = st;
            return true;
        }
        if (rc < 0 && errno != EINTR)
            return false;
        if (s_now() >= end)
            return false;
        th_sleep_ms(10);
    }
}

static pid_t s_spawn(ah_env_t *env, const char *const *argv, const char *log)
{
    th_check(env->nprocs < AH_MAX_PROCS, "too many agent processes in one test");
    fflush(stdout);
    fflush(stderr);
    long maxfd = th_fd_limit();
    pid_t pid = fork();
    th_check(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0)
            _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
        th_close_fds(maxfd);
        //  execv wants char *const[]; it does not change the strings.
        execv(argv[0], (char *const *) (uintptr_t) argv);
        _exit(127);
    }
    env->procs[env->nprocs++] = pid;
    return pid;
}

//  A fresh REQ socket to the agent's API.
static void s_open_req(ah_agent_t *self)
{
    s_close_req(self);
    self->req = zmq_socket(self->env->ctx, ZMQ_REQ);
    th_check(self->req != NULL, "zmq_socket: %s", zmq_strerror(zmq_errno()));
    int zero = 0;
    zmq_setsockopt(self->req, ZMQ_LINGER, &zero, sizeof zero);
    th_check(zmq_connect(self->req, self->endpoint) == 0, "connect %s: %s", self->endpoint,
             zmq_strerror(zmq_errno()));
}

//  One request/reply exchange. Returns false (socket reset) if no reply came
//  within timeout_ms.
static bool s_exchange(ah_agent_t *self, const void *data, size_t len, int timeout_ms,
                       zmq_msg_t *reply)
{
    if (!self->req)
        s_open_req(self);
    if (zmq_send(self->req, data, len, 0) < 0) {
        s_open_req(self);
        return false;
    }
    zmq_pollitem_t item = { self->req, 0, ZMQ_POLLIN, 0 };
    uint64_t end = s_now() + (uint64_t) timeout_ms;
    for (;;) {
        uint64_t now = s_now();
        if (now >= end)
            break;
        int rc = zmq_poll(&item, 1, (long) (end - now));
        if (rc < 0 && zmq_errno() == EINTR)
            continue;
        if (rc <= 0)
            break;
        zmq_msg_init(reply);
        if (zmq_msg_recv(reply, self->req, 0) >= 0)
            return true;
        zmq_msg_close(reply);
        break;
    }
    //  A REQ socket that missed its reply can send nothing more.
    s_open_req(self);
    return false;
}

static ah_reply_t *s_reply_new(ah_env_t *env, const void *data, size_t len)
{
    ah_reply_t *r = calloc(1, sizeof *r);
    th_check(r != NULL, "out of memory");
    r->raw = malloc(len ? len : 1);
    th_check(r->raw != NULL, "out of memory");
    memcpy(r->raw, data, len);
    r->len = len;
    r->env = env;
    r->next = env->replies;
    env->replies = r;
    msgpack_unpacked_init(&r->unpacked);
    size_t off = 0;
    msgpack_unpack_return rc = msgpack_unpack_next(&r->unpacked, r->raw, len, &off);
    th_check(rc == MSGPACK_UNPACK_SUCCESS && off == len, "the reply is not one msgpack value (%d)",
             (int) rc);
    r->map = &r->unpacked.data;
    th_check(r->map->type == MSGPACK_OBJECT_MAP, "the reply is not a map: %s", ah_show(r->map));
    return r;
}

void ah_reply_destroy(ah_reply_t **reply_p)
{
    if (!reply_p || !*reply_p)
        return;
    ah_reply_t *r = *reply_p;
    for (ah_reply_t **p = &r->env->replies; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            break;
        }
    msgpack_unpacked_destroy(&r->unpacked);
    free(r->raw);
    free(r);
    *reply_p = NULL;
}

static ah_reply_t *s_request(ah_agent_t *self, const void *data, size_t len)
{
    zmq_msg_t msg;
    if (!s_exchange(self, data, len, AH_CALL_MS, &msg)) {
        s_print_tail(self->log, 30);
        th_check(false, "the agent of %s did not answer a request within %d ms", th_code(self->who),
                 AH_CALL_MS);
    }
    ah_reply_t *r = s_reply_new(self->env, zmq_msg_data(&msg), zmq_msg_size(&msg));
    zmq_msg_close(&msg);
    return r;
}

ah_reply_t *ah_call_raw(ah_agent_t *self, const void *data, size_t len)
{
    return s_request(self, data, len);
}

static void s_unlink_socket(ah_agent_t *self)
{
    //  A killed agent leaves its socket file behind; readiness is the new
    //  one appearing.
    unlink(self->socket_file);
}

void ah_agent_start(ah_agent_t *self)
{
    ah_env_t *env = self->env;
    th_check(self->pid == 0, "the agent of %s is already running", th_code(self->who));
    char key[TH_PATH_MAX + 32], window[64];
    snprintf(key, sizeof key, "%s/%s.secret", env->th->keys, th_code(self->who));
    snprintf(self->log, sizeof self->log, "%s-%d.log", self->data, self->runs);
    const char *argv[20 + 2 * AH_MAX_SETS];
    size_t n = 0;
    argv[n++] = ah_agent_path;
    if (self->config[0]) {
        argv[n++] = "--config";
        argv[n++] = self->config;
    }
    argv[n++] = "--identity";
    argv[n++] = key;
    argv[n++] = "--data-dir";
    argv[n++] = self->data;
    argv[n++] = "--broker";
    argv[n++] = self->broker;
    argv[n++] = "--broker-key";
    argv[n++] = env->broker_public;
    argv[n++] = "--log-level";
    argv[n++] = "debug";
    if (self->window) {
        snprintf(window, sizeof window, "broker.window=%u", self->window);
        argv[n++] = "--set";
        argv[n++] = window;
    }
    //  Tests keep their attachment files and fetch folders under the test's
    //  root: allow it, unless the test chooses the directories itself.
    bool chosen = self->config[0] != '\0';
    for (size_t i = 0; i < self->nsets; i++)
        chosen |= strncmp(self->sets[i], "api.allowed_dirs=", 17) == 0;
    char allowed[TH_PATH_MAX + 32];
    if (!chosen) {
        snprintf(allowed, sizeof allowed, "api.allowed_dirs=%s", env->th->root);
        argv[n++] = "--set";
        argv[n++] = allowed;
    }
    for (size_t i = 0; i < self->nsets; i++) {
        argv[n++] = "--set";
        argv[n++] = self->sets[i];
    }
    argv[n] = NULL;
    s_unlink_socket(self);
    s_close_req(self);
    self->pid = s_spawn(env, argv, self->log);
    self->runs++;
    uint64_t end = s_now() + AH_WAIT_MS;
    static const uint8_t health[] = {
        0x81, 0xa3, 'c', 'm', 'd', 0xa6, 'h', 'e', 'a', 'l', 't', 'h'
    };
    for (;;) {
        int status;
        if (s_wait_pid(env, self->pid, 0, &status)) {
            char st[64];
            self->pid = 0;
            s_print_tail(self->log, 30);
            th_check(false, "truc-agent of %s exited during start-up (%s)", th_code(self->who),
                     th_status_text(status, st, sizeof st));
        }
        struct stat sb;
        if (stat(self->socket_file, &sb) == 0) {
            zmq_msg_t msg;
            if (s_exchange(self, health, sizeof health, 2000, &msg)) {
                ah_reply_t *r = s_reply_new(env, zmq_msg_data(&msg), zmq_msg_size(&msg));
                zmq_msg_close(&msg);
                bool ok = ah_is_ok(r) && ah_str_is(r->map, "agency", th_code(self->who));
                ah_reply_destroy(&r);
                th_check(ok, "the agent of %s answered health wrongly", th_code(self->who));
                return;
            }
        }
        if (s_now() >= end)
            break;
        th_sleep_ms(20);
    }
    s_print_tail(self->log, 30);
    th_check(false, "the agent of %s did not answer health within %d ms", th_code(self->who),
             AH_WAIT_MS);
}

ah_agent_t *ah_agent_run(ah_env_t *env, th_agency_t who, uint32_t window, const char *const *sets)
{
    ah_agent_t *a = ah_agent_new(env, who, NULL, window, sets);
    ah_agent_start(a);
    return a;
}

void ah_agent_stop(ah_agent_t *self)
{
    th_check(self->pid > 0, "the agent of %s is not running", th_code(self->who));
    s_close_req(self);
    kill(self->pid, SIGTERM);
    int status = 0;
    pid_t pid = self->pid;
    self->pid = 0;
    if (!s_wait_pid(self->env, pid, AH_WAIT_MS, &status)) {
        kill(pid, SIGKILL);
        s_wait_pid(self->env, pid, AH_WAIT_MS, &status);
        th_check(false, "truc-agent of %s did not exit within %d ms of SIGTERM", th_code(self->who),
                 AH_WAIT_MS);
    }
    char st[64];
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
             "truc-agent of %s stopped with %s after SIGTERM, expected exit status 0",
             th_code(self->who), th_status_text(status, st, sizeof st));
}

void ah_agent_kill(ah_agent_t *self)
{
    th_check(self->pid > 0, "the agent of %s is not running", th_code(self->who));
    s_close_req(self);
    kill(self->pid, SIGKILL);
    pid_t pid = self->pid;
    self->pid = 0;
    th_check(s_wait_pid(self->env, pid, AH_WAIT_MS, NULL), "truc-agent survived SIGKILL");
}

int ah_run(ah_env_t *env, const char *const *args, char *out, size_t outlen)
{
    char capture[TH_PATH_MAX + 16];
    snprintf(capture, sizeof capture, "%s/agent-run.out", env->th->root);
    const char *argv[64];
    size_t n = 0;
    argv[n++] = ah_agent_path;
    for (size_t i = 0; args && args[i]; i++) {
        th_check(n + 1 < sizeof argv / sizeof argv[0], "too many arguments");
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    pid_t pid = s_spawn(env, argv, capture);
    int status = -1;
    if (!s_wait_pid(env, pid, AH_WAIT_MS, &status)) {
        kill(pid, SIGKILL);
        s_wait_pid(env, pid, AH_WAIT_MS, NULL);
        s_print_tail(capture, 30);
        th_check(false, "truc-agent %s did not exit within %d ms", args && args[0] ? args[0] : "",
                 AH_WAIT_MS);
    }
    if (out)
        th_read_file(capture, out, outlen);
    unlink(capture);
    return status;
}

// ---------------------------------------------------------------------------
//  Building requests from a format

static const char *s_blank(const char *p)
{
    while (*p == ' ' || *p == ',' || *p == '\n' || *p == '\t')
        p++;
    return p;
}

static bool s_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

//  After a "key:" at p; checks the shape.
static const char *s_skip_key(const char *format, const char *p)
{
    const char *start = p;
    while (s_key_char(*p))
        p++;
    th_check(p > start && *p == ':', "format \"%s\": a map key is expected at offset %d", format,
             (int) (start - format));
    return s_blank(p + 1);
}

static const char *s_skip_value(const char *format, const char *p)
{
    if (*p == '{' || *p == '[') {
        bool map = *p == '{';
        char close = map ? '}' : ']';
        p = s_blank(p + 1);
        while (*p && *p != close) {
            if (map)
                p = s_skip_key(format, p);
            p = s_blank(s_skip_value(format, p));
        }
        th_check(*p == close, "format \"%s\": unbalanced %c", format, close);
        return p + 1;
    }
    th_check(*p && strchr("sSiUbnxA", *p), "format \"%s\": bad value at offset %d", format,
             (int) (p - format));
    return p + 1;
}

//  Entries of the container whose contents start at p.
static uint32_t s_count(const char *format, const char *p, bool map)
{
    uint32_t n = 0;
    char close = map ? '}' : ']';
    p = s_blank(p);
    while (*p && *p != close) {
        if (map)
            p = s_skip_key(format, p);
        p = s_blank(s_skip_value(format, p));
        n++;
    }
    return n;
}

static const char *s_pack_value(msgpack_packer *pk, const char *format, const char *p, va_list *ap)
{
    switch (*p) {
    case '{':
    case '[': {
        bool map = *p == '{';
        char close = map ? '}' : ']';
        uint32_t n = s_count(format, p + 1, map);
        if (map)
            msgpack_pack_map(pk, n);
        else
            msgpack_pack_array(pk, n);
        p = s_blank(p + 1);
        while (*p != close) {
            if (map) {
                const char *key = p;
                while (s_key_char(*p))
                    p++;
                msgpack_pack_str_with_body(pk, key, (size_t) (p - key));
                p = s_blank(p + 1);
            }
            p = s_blank(s_pack_value(pk, format, p, ap));
        }
        return p + 1;
    }
    case 's': {
        const char *text = va_arg(*ap, const char *);
        if (text)
            msgpack_pack_str_with_body(pk, text, strlen(text));
        else
            msgpack_pack_nil(pk);
        break;
    }
    case 'S': {
        const char *text = va_arg(*ap, const char *);
        size_t len = va_arg(*ap, size_t);
        msgpack_pack_str_with_body(pk, text, len);
        break;
    }
    case 'i':
        msgpack_pack_int(pk, va_arg(*ap, int));
        break;
    case 'U':
        msgpack_pack_uint64(pk, va_arg(*ap, uint64_t));
        break;
    case 'b':
        if (va_arg(*ap, int))
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        break;
    case 'n':
        msgpack_pack_nil(pk);
        break;
    case 'x': {
        const void *data = va_arg(*ap, const void *);
        size_t len = va_arg(*ap, size_t);
        msgpack_pack_bin_with_body(pk, data, len);
        break;
    }
    case 'A': {
        const char *const *list = va_arg(*ap, const char *const *);
        size_t len = va_arg(*ap, size_t);
        msgpack_pack_array(pk, len);
        for (size_t i = 0; i < len; i++)
            msgpack_pack_str_with_body(pk, list[i], strlen(list[i]));
        break;
    }
    default:
        th_check(false, "format \"%s\": bad value at offset %d", format, (int) (p - format));
    }
    return p + 1;
}

static void s_vpack(msgpack_sbuffer *buf, const char *format, va_list *ap)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    const char *p = s_blank(format);
    s_skip_value(format, p); // checks the whole format first
    p = s_blank(s_pack_value(&pk, format, p, ap));
    th_check(*p == '\0', "format \"%s\": more than one value", format);
}

void ah_pack(msgpack_sbuffer *buf, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    s_vpack(buf, format, &ap);
    va_end(ap);
}

ah_reply_t *ah_call(ah_agent_t *self, const char *format, ...)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    va_list ap;
    va_start(ap, format);
    s_vpack(&buf, format, &ap);
    va_end(ap);
    //  Copy, so a failed check inside the request does not leak the buffer.
    size_t len = buf.size;
    uint8_t *data = malloc(len ? len : 1);
    if (data)
        memcpy(data, buf.data, len);
    msgpack_sbuffer_destroy(&buf);
    th_check(data != NULL, "out of memory");
    zmq_msg_t msg;
    bool answered = s_exchange(self, data, len, AH_CALL_MS, &msg);
    free(data);
    if (!answered) {
        s_print_tail(self->log, 30);
        th_check(false, "the agent of %s did not answer \"%s\" within %d ms", th_code(self->who),
                 format, AH_CALL_MS);
    }
    ah_reply_t *r = s_reply_new(self->env, zmq_msg_data(&msg), zmq_msg_size(&msg));
    zmq_msg_close(&msg);
    return r;
}

ah_reply_t *ah_poll(ah_agent_t *self, ah_check_fn *check, void *arg, const char *what,
                    const char *format, ...)
{
    //  The request is packed once; a stack copy leaks nothing if a check
    //  fails (cmocka leaves by longjmp).
    uint8_t request[64 * 1024];
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    va_list ap;
    va_start(ap, format);
    s_vpack(&buf, format, &ap);
    va_end(ap);
    size_t len = buf.size;
    if (len <= sizeof request)
        memcpy(request, buf.data, len);
    msgpack_sbuffer_destroy(&buf);
    th_check(len <= sizeof request, "ah_poll: request too large");
    uint64_t end = s_now() + AH_WAIT_MS;
    for (;;) {
        ah_reply_t *r = s_request(self, request, len);
        if (check(r, arg))
            return r;
        th_check(s_now() < end, "%s: not within %d ms (agent of %s); last reply: %s", what,
                 AH_WAIT_MS, th_code(self->who), ah_show(r->map));
        ah_reply_destroy(&r);
        th_sleep_ms(AH_POLL_MS);
    }
}

bool ah_is_ok(const ah_reply_t *reply)
{
    return reply && ah_bool(reply->map, "ok") == 1;
}

void ah_expect_ok(const ah_reply_t *reply, const char *what)
{
    th_check(ah_is_ok(reply), "%s: expected ok, got %s", what, ah_show(reply->map));
}

void ah_expect_error(const ah_reply_t *reply, proto_err_t code, const char *field, const char *what)
{
    const msgpack_object *m = reply->map;
    th_check(ah_bool(m, "ok") == 0, "%s: expected %s, got %s", what, proto_errname(code),
             ah_show(m));
    th_check(ah_int(m, "code") == (int64_t) code && ah_str_is(m, "error", proto_errname(code)),
             "%s: expected %s (%d), got %s", what, proto_errname(code), (int) code, ah_show(m));
    if (field)
        th_check(ah_str_is(m, "field", field), "%s: expected field \"%s\", got %s", what, field,
                 ah_show(m));
    th_check(ah_str(m, "message") != NULL, "%s: no message in %s", what, ah_show(m));
}

// ---------------------------------------------------------------------------
//  Reading replies

static const msgpack_object *s_key(const msgpack_object *o, const char *key, size_t len)
{
    if (!o || o->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
            memcmp(k->via.str.ptr, key, len) == 0)
            return &o->via.map.ptr[i].val;
    }
    return NULL;
}

const msgpack_object *ah_get(const msgpack_object *o, const char *path)
{
    const char *p = path ? path : "";
    while (o && *p) {
        if (*p == '.') {
            p++;
        } else if (*p == '[') {
            char *end;
            unsigned long index = strtoul(p + 1, &end, 10);
            if (*end != ']' || o->type != MSGPACK_OBJECT_ARRAY || index >= o->via.array.size)
                return NULL;
            o = &o->via.array.ptr[index];
            p = end + 1;
        } else {
            const char *start = p;
            while (*p && *p != '.' && *p != '[')
                p++;
            o = s_key(o, start, (size_t) (p - start));
        }
    }
    return o;
}

const char *ah_str(const msgpack_object *o, const char *path)
{
    static char buffers[8][4096];
    static int next;
    const msgpack_object *v = ah_get(o, path);
    if (!v || v->type != MSGPACK_OBJECT_STR)
        return NULL;
    char *out = buffers[next];
    next = (next + 1) % 8;
    size_t n = v->via.str.size < sizeof buffers[0] - 1 ? v->via.str.size : sizeof buffers[0] - 1;
    memcpy(out, v->via.str.ptr, n);
    out[n] = '\0';
    return out;
}

bool ah_str_is(const msgpack_object *o, const char *path, const char *text)
{
    const msgpack_object *v = ah_get(o, path);
    return v && text && v->type == MSGPACK_OBJECT_STR && v->via.str.size == strlen(text) &&
           memcmp(v->via.str.ptr, text, v->via.str.size) == 0;
}

int64_t ah_int(const msgpack_object *o, const char *path)
{
    const msgpack_object *v = ah_get(o, path);
    if (!v || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 > INT64_MAX)
        return -1;
    return (int64_t) v->via.u64;
}

int ah_bool(const msgpack_object *o, const char *path)
{
    const msgpack_object *v = ah_get(o, path);
    if (!v || v->type != MSGPACK_OBJECT_BOOLEAN)
        return -1;
    return v->via.boolean ? 1 : 0;
}

int64_t ah_count(const msgpack_object *o, const char *path)
{
    const msgpack_object *v = ah_get(o, path);
    if (!v)
        return -1;
    if (v->type == MSGPACK_OBJECT_ARRAY)
        return v->via.array.size;
    if (v->type == MSGPACK_OBJECT_MAP)
        return v->via.map.size;
    return -1;
}

bool ah_is_nil(const msgpack_object *o, const char *path)
{
    const msgpack_object *v = ah_get(o, path);
    return v && v->type == MSGPACK_OBJECT_NIL;
}

static void s_append(char *out, size_t cap, size_t *pos, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static void s_append(char *out, size_t cap, size_t *pos, const char *format, ...)
{
    if (*pos + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(out + *pos, cap - *pos, format, ap);
    va_end(ap);
    if (n > 0)
        *pos = *pos + (size_t) n < cap ? *pos + (size_t) n : cap - 1;
}

static void s_show(const msgpack_object *o, char *out, size_t cap, size_t *pos)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        s_append(out, cap, pos, "nil");
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        s_append(out, cap, pos, "%s", o->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        s_append(out, cap, pos, "%" PRIu64, o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        s_append(out, cap, pos, "%" PRId64, o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        s_append(out, cap, pos, "%g", o->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        s_append(out, cap, pos, "\"%.*s%s\"", o->via.str.size > 120 ? 120 : (int) o->via.str.size,
                 o->via.str.ptr, o->via.str.size > 120 ? "..." : "");
        break;
    case MSGPACK_OBJECT_BIN:
        s_append(out, cap, pos, "<bin %u>", o->via.bin.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        s_append(out, cap, pos, "[");
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            s_append(out, cap, pos, "%s", i ? "," : "");
            s_show(&o->via.array.ptr[i], out, cap, pos);
        }
        s_append(out, cap, pos, "]");
        break;
    case MSGPACK_OBJECT_MAP:
        s_append(out, cap, pos, "{");
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            s_append(out, cap, pos, "%s", i ? "," : "");
            s_show(&o->via.map.ptr[i].key, out, cap, pos);
            s_append(out, cap, pos, ":");
            s_show(&o->via.map.ptr[i].val, out, cap, pos);
        }
        s_append(out, cap, pos, "}");
        break;
    default:
        s_append(out, cap, pos, "?");
    }
}

const char *ah_show(const msgpack_object *o)
{
    static char text[16384];
    size_t pos = 0;
    text[0] = '\0';
    if (!o)
        return "(none)";
    s_show(o, text, sizeof text, &pos);
    return text;
}

// ---------------------------------------------------------------------------
//  Common waits and stored events

static bool s_connected_is(const ah_reply_t *r, void *arg)
{
    return ah_is_ok(r) && ah_bool(r->map, "connected") == *(const int *) arg;
}

void ah_wait_connected(ah_agent_t *self, bool connected)
{
    int want = connected ? 1 : 0;
    ah_reply_t *r =
        ah_poll(self, s_connected_is, &want,
                connected ? "health: connected" : "health: not connected", "{cmd:s}", "health");
    ah_reply_destroy(&r);
}

static bool s_has_directory(const ah_reply_t *r, void *arg)
{
    (void) arg;
    return ah_is_ok(r) && ah_int(r->map, "directory_serial") > 0;
}

void ah_wait_directory(ah_agent_t *self)
{
    ah_reply_t *r =
        ah_poll(self, s_has_directory, NULL, "health: a directory snapshot", "{cmd:s}", "health");
    ah_reply_destroy(&r);
}

//  Does a field of an event have the value given as text?
static bool s_field_is(const msgpack_object *event, const char *key, const char *value)
{
    const msgpack_object *v = ah_get(event, key);
    if (!v)
        return false;
    switch (v->type) {
    case MSGPACK_OBJECT_STR:
        return ah_str_is(event, key, value);
    case MSGPACK_OBJECT_POSITIVE_INTEGER: {
        char text[32];
        snprintf(text, sizeof text, "%" PRIu64, v->via.u64);
        return strcmp(text, value) == 0;
    }
    case MSGPACK_OBJECT_BOOLEAN:
        return strcmp(v->via.boolean ? "true" : "false", value) == 0;
    case MSGPACK_OBJECT_NIL:
        return value == NULL;
    default:
        return false;
    }
}

#define S_MAX_PAIRS 8

size_t ah_events_each(ah_agent_t *self, uint64_t *after, ah_each_fn *fn, void *arg)
{
    size_t total = 0;
    for (;;) {
        ah_reply_t *r = ah_call(self, "{cmd:s after:U limit:i}", "events", *after, AH_EVENTS_PAGE);
        ah_expect_ok(r, "events");
        const msgpack_object *events = ah_get(r->map, "events");
        th_check(events && events->type == MSGPACK_OBJECT_ARRAY, "events: no list in %s",
                 ah_show(r->map));
        uint32_t n = events->via.array.size;
        for (uint32_t i = 0; i < n; i++) {
            const msgpack_object *e = &events->via.array.ptr[i];
            int64_t seq = ah_int(e, "seq");
            th_check(seq > 0 && (uint64_t) seq > *after, "events: bad or unordered seq in %s",
                     ah_show(e));
            *after = (uint64_t) seq;
            fn(e, arg);
        }
        ah_reply_destroy(&r);
        total += n;
        if (n < AH_EVENTS_PAGE)
            return total;
    }
}

size_t ah_inbox_each(ah_agent_t *self, ah_each_fn *fn, void *arg)
{
    size_t total = 0;
    uint64_t after = 0;
    for (;;) {
        ah_reply_t *r = ah_call(self, "{cmd:s after:U limit:i}", "inbox", after, AH_EVENTS_PAGE);
        ah_expect_ok(r, "inbox");
        const msgpack_object *docs = ah_get(r->map, "documents");
        th_check(docs && docs->type == MSGPACK_OBJECT_ARRAY, "inbox: no list in %s",
                 ah_show(r->map));
        uint32_t n = docs->via.array.size;
        for (uint32_t i = 0; i < n; i++)
            fn(&docs->via.array.ptr[i], arg);
        total += n;
        int64_t next = ah_int(r->map, "next");
        ah_reply_destroy(&r);
        if (next <= 0 || n == 0)
            return total;
        after = (uint64_t) next;
    }
}

typedef struct {
    const char *topic;
    const char *const *pairs;
    size_t npairs, count;
} s_match_t;

static void s_match_one(const msgpack_object *e, void *arg)
{
    s_match_t *m = arg;
    if (!ah_str_is(e, "topic", m->topic))
        return;
    bool match = true;
    for (size_t k = 0; match && k < m->npairs; k++)
        match = s_field_is(e, m->pairs[2 * k], m->pairs[2 * k + 1]);
    m->count += match;
}

static size_t s_events_count(ah_agent_t *self, const char *topic, const char *const *pairs,
                             size_t npairs)
{
    s_match_t m = { .topic = topic, .pairs = pairs, .npairs = npairs };
    uint64_t after = 0;
    ah_events_each(self, &after, s_match_one, &m);
    return m.count;
}

static size_t s_pairs(va_list *ap, const char **pairs)
{
    size_t n = 0;
    for (;;) {
        const char *key = va_arg(*ap, const char *);
        if (!key)
            return n;
        th_check(n < S_MAX_PAIRS, "too many key/value pairs");
        pairs[2 * n] = key;
        pairs[2 * n + 1] = va_arg(*ap, const char *);
        n++;
    }
}

size_t ah_events_count(ah_agent_t *self, const char *topic, ...)
{
    const char *pairs[2 * S_MAX_PAIRS];
    va_list ap;
    va_start(ap, topic);
    size_t n = s_pairs(&ap, pairs);
    va_end(ap);
    return s_events_count(self, topic, pairs, n);
}

void ah_events_wait(ah_agent_t *self, const char *topic, ...)
{
    const char *pairs[2 * S_MAX_PAIRS];
    va_list ap;
    va_start(ap, topic);
    size_t n = s_pairs(&ap, pairs);
    va_end(ap);
    uint64_t end = s_now() + AH_WAIT_MS;
    while (s_events_count(self, topic, pairs, n) == 0) {
        if (s_now() >= end) {
            char want[512] = "";
            size_t pos = 0;
            for (size_t k = 0; k < n && pos < sizeof want; k++) {
                int w = snprintf(want + pos, sizeof want - pos, " %s=%s", pairs[2 * k],
                                 pairs[2 * k + 1] ? pairs[2 * k + 1] : "nil");
                if (w > 0)
                    pos += (size_t) w;
            }
            th_check(false, "no event %s%s at the agent of %s within %d ms", topic, want,
                     th_code(self->who), AH_WAIT_MS);
        }
        th_sleep_ms(AH_POLL_MS);
    }
}
