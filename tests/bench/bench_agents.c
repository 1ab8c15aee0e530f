/*  tests/bench/bench_agents.c - documents from one document-management
    system to another through everything truc runs:

        DMS --API--> truc-agent A --CURVE--> truc-broker --CURVE--> truc-agent B --events--> DMS

    The sending DMS pipelines `submit` requests (4 KiB inline attachment) on
    a DEALER to agent A's API socket. The receiving DMS listens to agent B's
    events socket (PUB) for `inbox.new`, then `fetch`es and `ack`s each
    document on a DEALER to B's API, as a DMS takes a document in. Latency
    is from the submit request leaving the DMS to `inbox.new` arriving at
    the other DMS: the document signed and stored by A, accepted by the
    broker, delivered to B, verified and stored there. Throughput is the
    number of documents over the time from the first submit to the last
    `ack` answered.

    Requests are encoded before the clock starts. Agents run with their
    defaults (window, outbox window); each has its own data directory.

    The reconnect scenario puts agent A behind a TCP proxy (tests/proof/
    netproxy.c) while its DMS submits 100 documents a second, cuts the
    path every 4 s, and measures from each cut to the first ACCEPTED (the
    `sent.accepted` event) of a document submitted after it: how soon
    documents flow again.
*/
#include "bench.h"
#include "netproxy.h"

#include <errno.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define S_SENDER    0 // agency of agent A
#define S_RECIPIENT 1 // agency of agent B
#define S_SUBJECT   "truc-bench "
#define S_DEPTH     64 // submit requests outstanding at agent A

typedef struct {
    bench_env_t *env;
    int agency;
    pid_t pid;
    char data[BENCH_ROOT_MAX + 16];
    char api[BENCH_ROOT_MAX + 48];    // ipc://DATA/api.sock
    char events[BENCH_ROOT_MAX + 48]; // ipc://DATA/events.sock
    char log[BENCH_ROOT_MAX + 48];
} s_agent_t;

// ---------------------------------------------------------------------------
//  Small msgpack helpers

static const msgpack_object *s_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t len = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
            memcmp(k->via.str.ptr, key, len) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static bool s_is_ok(const msgpack_object *map)
{
    const msgpack_object *ok = s_get(map, "ok");
    return ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean;
}

//  A str field copied into out ("" if absent).
static void s_text(const msgpack_object *map, const char *key, char *out, size_t len)
{
    const msgpack_object *v = s_get(map, key);
    out[0] = '\0';
    if (v && v->type == MSGPACK_OBJECT_STR)
        snprintf(out, len, "%.*s", (int) v->via.str.size, v->via.str.ptr);
}

static int64_t s_uint(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = s_get(map, key);
    return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t) v->via.u64 : -1;
}

static void s_pack_str(msgpack_packer *pk, const char *text)
{
    msgpack_pack_str_with_body(pk, text, strlen(text));
}

// ---------------------------------------------------------------------------
//  Agent processes

//  One request on a fresh REQ socket; the reply map is unpacked into u.
static bool s_request(void *ctx, const char *endpoint, const void *data, size_t len, int timeout_ms,
                      msgpack_unpacked *u, zmq_msg_t *reply)
{
    void *req = zmq_socket(ctx, ZMQ_REQ);
    int zero = 0;
    bool ok = false;
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(req, endpoint) == 0 && zmq_send(req, data, len, 0) >= 0) {
        zmq_pollitem_t item = { req, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll(&item, 1, timeout_ms) > 0) {
            zmq_msg_init(reply);
            if (zmq_msg_recv(reply, req, 0) >= 0) {
                size_t off = 0;
                ok = msgpack_unpack_next(u, zmq_msg_data(reply), zmq_msg_size(reply), &off) ==
                         MSGPACK_UNPACK_SUCCESS &&
                     u->data.type == MSGPACK_OBJECT_MAP;
                if (!ok)
                    zmq_msg_close(reply);
            } else {
                zmq_msg_close(reply);
            }
        }
    }
    zmq_close(req);
    return ok;
}

//  Poll `health` until the agent is connected and holds a directory.
static int s_agent_ready(void *ctx, s_agent_t *a, char *err, size_t errlen)
{
    static const uint8_t health[] = {
        0x81, 0xa3, 'c', 'm', 'd', 0xa6, 'h', 'e', 'a', 'l', 't', 'h'
    };
    int64_t end = bench_now_ns() + (int64_t) BENCH_START_MS * 1000000;
    char last[200] = "no answer";
    while (bench_now_ns() < end) {
        int status;
        if (bench_wait_exit(a->pid, 0, &status)) {
            char tail[1024];
            bench_tail(a->log, 10, tail, sizeof tail);
            snprintf(err, errlen, "truc-agent of %s exited (status 0x%x):\n%s",
                     a->env->codes[a->agency], (unsigned) status, tail);
            a->pid = 0;
            return -1;
        }
        msgpack_unpacked u;
        zmq_msg_t reply;
        msgpack_unpacked_init(&u);
        if (access(a->api + 6, F_OK) == 0 &&
            s_request(ctx, a->api, health, sizeof health, 2000, &u, &reply)) {
            const msgpack_object *connected = s_get(&u.data, "connected");
            bool up = s_is_ok(&u.data) && connected && connected->type == MSGPACK_OBJECT_BOOLEAN &&
                      connected->via.boolean && s_uint(&u.data, "directory_serial") > 0;
            s_text(&u.data, "last_error", last, sizeof last);
            msgpack_unpacked_destroy(&u);
            zmq_msg_close(&reply);
            if (up)
                return 0;
        } else {
            msgpack_unpacked_destroy(&u);
        }
        bench_sleep_ms(20);
    }
    snprintf(err, errlen, "truc-agent of %s not connected within %d ms (last: %s)",
             a->env->codes[a->agency], BENCH_START_MS, last[0] ? last : "-");
    return -1;
}

static int s_agent_start(bench_env_t *env, s_agent_t *a, int agency, const char *broker, char *err,
                         size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->env = env;
    a->agency = agency;
    int instance = ++env->instances;
    snprintf(a->data, sizeof a->data, "%s/a%d", env->root, instance);
    snprintf(a->api, sizeof a->api, "ipc://%s/api.sock", a->data);
    snprintf(a->events, sizeof a->events, "ipc://%s/events.sock", a->data);
    snprintf(a->log, sizeof a->log, "%s.log", a->data);
    if (mkdir(a->data, 0700) != 0) {
        snprintf(err, errlen, "mkdir %s: %s", a->data, strerror(errno));
        return -1;
    }
    char key[BENCH_PATH_MAX + 32];
    snprintf(key, sizeof key, "%s/%s.secret", env->keys, env->codes[agency]);
    const char *argv[] = { env->agent_path, "--identity",  key,    "--data-dir",
                           a->data,         "--broker",    broker, "--broker-key",
                           env->hub_public, "--log-level", "info", NULL };
    a->pid = bench_spawn(env, argv, a->log);
    if (a->pid < 0) {
        a->pid = 0;
        snprintf(err, errlen, "fork: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void s_agent_stop(s_agent_t *a)
{
    if (a->pid > 0) {
        kill(a->pid, SIGTERM);
        if (!bench_wait_exit(a->pid, BENCH_STOP_MS, NULL)) {
            kill(a->pid, SIGKILL);
            bench_wait_exit(a->pid, BENCH_STOP_MS, NULL);
        }
        a->pid = 0;
    }
    if (a->data[0] && !a->env->keep)
        bench_remove_tree(a->data);
}

// ---------------------------------------------------------------------------
//  The scenario

typedef struct {
    size_t n;
    msgpack_sbuffer *requests; // encoded submit requests
    int64_t *t_submit;         // when each left the DMS
    uint8_t *arrived;          // inbox.new seen
    size_t submitted, replied, arrivals, taken, taken_sent, failures, missed;
    bench_lat_t lat;    // submit -> inbox.new
    bench_lat_t stored; // submit -> the submit reply (signed and stored by A)
    char first_error[256];
    int64_t t_first, t_last;
} s_flow_t;

static void s_flow_error(s_flow_t *f, const char *what, const msgpack_object *map)
{
    f->failures++;
    if (f->first_error[0])
        return;
    char error[64], message[160];
    s_text(map, "error", error, sizeof error);
    s_text(map, "message", message, sizeof message);
    snprintf(f->first_error, sizeof f->first_error, "%s: %s %s", what, error, message);
}

//  Send "" + body on a DEALER.
static int s_dealer_send(void *dealer, const void *body, size_t len)
{
    if (zmq_send(dealer, "", 0, ZMQ_SNDMORE) < 0 || zmq_send(dealer, body, len, 0) < 0)
        return -1;
    return 0;
}

//  Receive "" + body from a DEALER without waiting; false if nothing.
static bool s_dealer_recv(void *dealer, zmq_msg_t *body)
{
    zmq_msg_t delimiter;
    zmq_msg_init(&delimiter);
    if (zmq_msg_recv(&delimiter, dealer, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&delimiter);
        return false;
    }
    bool more = zmq_msg_more(&delimiter);
    zmq_msg_close(&delimiter);
    zmq_msg_init(body);
    if (!more || zmq_msg_recv(body, dealer, 0) < 0) {
        zmq_msg_close(body);
        return false;
    }
    return true;
}

static int s_unpack(const zmq_msg_t *msg, msgpack_unpacked *u)
{
    size_t off = 0;
    msgpack_unpacked_init(u);
    return msgpack_unpack_next(u, zmq_msg_data((zmq_msg_t *) (uintptr_t) msg),
                               zmq_msg_size((zmq_msg_t *) (uintptr_t) msg),
                               &off) == MSGPACK_UNPACK_SUCCESS
               ? 0
               : -1;
}

//  An inbox.new event: find the document by its subject, then fetch and ack it.
//  now 0: the arrival time is not known (read back from the store), no sample.
static void s_on_event(s_flow_t *f, void *take, const zmq_msg_t *body, int64_t now)
{
    msgpack_unpacked u;
    if (s_unpack(body, &u) == 0) {
        char subject[128], id[64], topic[40];
        s_text(&u.data, "topic", topic, sizeof topic);
        s_text(&u.data, "subject", subject, sizeof subject);
        s_text(&u.data, "id", id, sizeof id);
        if (!strcmp(topic, "inbox.quarantined")) {
            s_flow_error(f, "inbox.quarantined", &u.data);
        } else if (!strncmp(subject, S_SUBJECT, strlen(S_SUBJECT))) {
            size_t i = (size_t) strtoull(subject + strlen(S_SUBJECT), NULL, 10);
            if (i < f->n && !f->arrived[i]) {
                f->arrived[i] = 1;
                f->arrivals++;
                if (now)
                    bench_lat_add(&f->lat, now - f->t_submit[i]);
                msgpack_sbuffer buf;
                msgpack_packer pk;
                msgpack_sbuffer_init(&buf);
                msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
                msgpack_pack_map(&pk, 2);
                s_pack_str(&pk, "cmd");
                s_pack_str(&pk, "fetch");
                s_pack_str(&pk, "id");
                s_pack_str(&pk, id);
                if (s_dealer_send(take, buf.data, buf.size) == 0)
                    f->taken_sent++;
                msgpack_sbuffer_clear(&buf);
                msgpack_pack_map(&pk, 2);
                s_pack_str(&pk, "cmd");
                s_pack_str(&pk, "ack");
                s_pack_str(&pk, "id");
                s_pack_str(&pk, id);
                if (s_dealer_send(take, buf.data, buf.size) == 0)
                    f->taken_sent++;
                msgpack_sbuffer_destroy(&buf);
            }
        }
    }
    msgpack_unpacked_destroy(&u);
}

//  Ask agent B for its stored events and count the inbox.new ones the
//  events socket did not bring (a PUB socket may drop under load).
static void s_catch_up(void *ctx, const s_agent_t *b, s_flow_t *f, void *take)
{
    uint64_t after = 0;
    for (int pages = 0; pages < 10000; pages++) {
        msgpack_sbuffer buf;
        msgpack_packer pk;
        msgpack_sbuffer_init(&buf);
        msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 3);
        s_pack_str(&pk, "cmd");
        s_pack_str(&pk, "events");
        s_pack_str(&pk, "after");
        msgpack_pack_uint64(&pk, after);
        s_pack_str(&pk, "limit");
        msgpack_pack_uint32(&pk, 1000);
        msgpack_unpacked u;
        zmq_msg_t reply;
        msgpack_unpacked_init(&u);
        bool ok = s_request(ctx, b->api, buf.data, buf.size, 10000, &u, &reply);
        msgpack_sbuffer_destroy(&buf);
        if (!ok) {
            msgpack_unpacked_destroy(&u);
            return;
        }
        const msgpack_object *events = s_get(&u.data, "events");
        uint32_t count =
            events && events->type == MSGPACK_OBJECT_ARRAY ? events->via.array.size : 0;
        for (uint32_t k = 0; k < count; k++) {
            const msgpack_object *e = &events->via.array.ptr[k];
            int64_t seq = s_uint(e, "seq");
            if (seq > 0)
                after = (uint64_t) seq;
            char topic[40], subject[128];
            s_text(e, "topic", topic, sizeof topic);
            s_text(e, "subject", subject, sizeof subject);
            if (strcmp(topic, "inbox.new") != 0 ||
                strncmp(subject, S_SUBJECT, strlen(S_SUBJECT)) != 0)
                continue;
            size_t i = (size_t) strtoull(subject + strlen(S_SUBJECT), NULL, 10);
            if (i >= f->n || f->arrived[i])
                continue;
            //  No latency sample: the moment it arrived is not known here.
            f->missed++;
            msgpack_sbuffer one;
            msgpack_packer opk;
            msgpack_sbuffer_init(&one);
            msgpack_packer_init(&opk, &one, msgpack_sbuffer_write);
            msgpack_pack_object(&opk, *e);
            zmq_msg_t fake;
            zmq_msg_init_size(&fake, one.size);
            memcpy(zmq_msg_data(&fake), one.data, one.size);
            s_on_event(f, take, &fake, 0);
            zmq_msg_close(&fake);
            msgpack_sbuffer_destroy(&one);
        }
        msgpack_unpacked_destroy(&u);
        zmq_msg_close(&reply);
        if (count < 1000)
            return;
    }
}

static int s_flow_run(bench_env_t *env, void *ctx, s_agent_t *a, s_agent_t *b, s_flow_t *f,
                      char *err, size_t errlen)
{
    void *submit = zmq_socket(ctx, ZMQ_DEALER);
    void *take = zmq_socket(ctx, ZMQ_DEALER);
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    int zero = 0, rc = -1;
    void *sockets[3] = { submit, take, sub };
    for (int i = 0; i < 3; i++)
        zmq_setsockopt(sockets[i], ZMQ_LINGER, &zero, sizeof zero);
    //  Never drop an event on this side of the socket.
    zmq_setsockopt(sub, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "inbox.", 6);
    if (zmq_connect(submit, a->api) || zmq_connect(take, b->api) || zmq_connect(sub, b->events)) {
        snprintf(err, errlen, "cannot connect to the agents' sockets: %s",
                 zmq_strerror(zmq_errno()));
        goto done;
    }
    //  A SUB connection is only there once the agent saw it: wait a little.
    bench_sleep_ms(200);
    zmq_pollitem_t items[3] = { { submit, 0, ZMQ_POLLIN, 0 },
                                { take, 0, ZMQ_POLLIN, 0 },
                                { sub, 0, ZMQ_POLLIN, 0 } };
    size_t outstanding = 0;
    int64_t progress_at = bench_now_ns();
    size_t progress = 0;
    bool caught_up = false;
    while (f->taken < 2 * f->n) {
        while (f->submitted < f->n && outstanding < S_DEPTH) {
            int64_t now = bench_now_ns();
            f->t_submit[f->submitted] = now;
            if (!f->t_first)
                f->t_first = now;
            msgpack_sbuffer *req = &f->requests[f->submitted];
            if (s_dealer_send(submit, req->data, req->size)) {
                snprintf(err, errlen, "cannot send to agent A: %s", zmq_strerror(zmq_errno()));
                goto done;
            }
            f->submitted++;
            outstanding++;
        }
        if (zmq_poll(items, 3, 100) < 0 && zmq_errno() != EINTR) {
            snprintf(err, errlen, "zmq_poll: %s", zmq_strerror(zmq_errno()));
            goto done;
        }
        zmq_msg_t body;
        while (s_dealer_recv(submit, &body)) {
            msgpack_unpacked u;
            int64_t now = bench_now_ns();
            if (s_unpack(&body, &u) == 0 && s_is_ok(&u.data)) {
                //  Replies come in request order: the oldest unanswered one.
                bench_lat_add(&f->stored, now - f->t_submit[f->replied]);
            } else {
                s_flow_error(f, "submit", &u.data);
            }
            f->replied++;
            outstanding--;
            msgpack_unpacked_destroy(&u);
            zmq_msg_close(&body);
        }
        for (;;) {
            zmq_msg_t topic, event;
            zmq_msg_init(&topic);
            if (zmq_msg_recv(&topic, sub, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&topic);
                break;
            }
            bool more = zmq_msg_more(&topic);
            zmq_msg_close(&topic);
            if (!more)
                continue;
            zmq_msg_init(&event);
            if (zmq_msg_recv(&event, sub, 0) >= 0)
                s_on_event(f, take, &event, bench_now_ns());
            zmq_msg_close(&event);
        }
        while (s_dealer_recv(take, &body)) {
            msgpack_unpacked u;
            if (s_unpack(&body, &u) != 0 || !s_is_ok(&u.data))
                s_flow_error(f, "fetch/ack", &u.data);
            f->taken++;
            f->t_last = bench_now_ns();
            msgpack_unpacked_destroy(&u);
            zmq_msg_close(&body);
        }
        if (f->failures) {
            snprintf(err, errlen, "%zu failures: %s", f->failures, f->first_error);
            goto done;
        }
        int64_t now = bench_now_ns();
        size_t done_now = f->replied + f->arrivals + f->taken;
        if (done_now != progress) {
            progress = done_now;
            progress_at = now;
        } else if (!caught_up && f->replied == f->n && now - progress_at > 3000000000) {
            //  Everything submitted, nothing arriving for 3 s: events lost?
            s_catch_up(ctx, b, f, take);
            caught_up = true;
        } else if (now - progress_at > (int64_t) env->stall_ms * 1000000) {
            snprintf(err, errlen,
                     "no progress for %d ms: %zu submitted, %zu stored by A, %zu arrived at B, "
                     "%zu fetch/ack answered",
                     env->stall_ms, f->submitted, f->replied, f->arrivals, f->taken);
            goto done;
        }
    }
    rc = 0;
done:
    for (int i = 0; i < 3; i++)
        zmq_close(sockets[i]);
    return rc;
}

//  A submit request for document i (subject S_SUBJECT + i, to agency
//  S_RECIPIENT, one 4 KiB attachment att) into buf (initialised here).
static void s_submit_request(const bench_env_t *env, msgpack_sbuffer *buf, size_t i,
                             const uint8_t *att)
{
    char subject[64];
    snprintf(subject, sizeof subject, S_SUBJECT "%zu", i);
    msgpack_packer pk;
    msgpack_sbuffer_init(buf);
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    s_pack_str(&pk, "cmd");
    s_pack_str(&pk, "submit");
    s_pack_str(&pk, "doc");
    msgpack_pack_map(&pk, 3);
    s_pack_str(&pk, "to");
    msgpack_pack_array(&pk, 1);
    s_pack_str(&pk, env->codes[S_RECIPIENT]);
    s_pack_str(&pk, "type");
    s_pack_str(&pk, "Công văn");
    s_pack_str(&pk, "subject");
    s_pack_str(&pk, subject);
    s_pack_str(&pk, "attachments");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 3);
    s_pack_str(&pk, "name");
    s_pack_str(&pk, "van-ban.pdf");
    s_pack_str(&pk, "type");
    s_pack_str(&pk, "application/pdf");
    s_pack_str(&pk, "data");
    msgpack_pack_bin_with_body(&pk, att, BENCH_DOC_SIZE);
}

void bench_run_agents(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                      bench_result_t *out, int *n, int max)
{
    (void) cal;
    static bench_result_t spare;
    bench_result_t *r = *n < max ? &out[(*n)++] : &spare;
    bench_result_init(r, "agents", "through 2 agents 4 KiB");
    size_t count = plan->agent_docs;
    bench_say(env, "through agents: %zu documents of 4 KiB, DMS -> agent -> broker -> agent -> DMS",
              count);
    char err[2048] = "";
    bench_broker_t broker;
    s_agent_t a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    s_flow_t f;
    memset(&f, 0, sizeof f);
    f.n = count;
    f.requests = calloc(count, sizeof *f.requests);
    f.t_submit = calloc(count, sizeof *f.t_submit);
    f.arrived = calloc(count, 1);
    uint8_t *att = malloc(BENCH_DOC_SIZE);
    void *ctx = zmq_ctx_new();
    bench_broker_init(&broker, env, NULL);
    bench_proc_t before[3], after[3];
    int rc = f.requests && f.t_submit && f.arrived && att && ctx ? 0 : -1;
    if (rc)
        snprintf(err, sizeof err, "out of memory");
    for (size_t i = 0; !rc && i < BENCH_DOC_SIZE; i++)
        att[i] = (uint8_t) (i * 13 + 1);
    //  The requests, encoded before anything is timed.
    for (size_t i = 0; !rc && i < count; i++)
        s_submit_request(env, &f.requests[i], i, att);
    if (!rc)
        rc = bench_broker_start(&broker, NULL, err, sizeof err);
    if (!rc)
        rc = s_agent_start(env, &a, S_SENDER, broker.endpoint, err, sizeof err);
    if (!rc)
        rc = s_agent_start(env, &b, S_RECIPIENT, broker.endpoint, err, sizeof err);
    if (!rc)
        rc = s_agent_ready(ctx, &a, err, sizeof err);
    if (!rc)
        rc = s_agent_ready(ctx, &b, err, sizeof err);
    pid_t pids[3] = { broker.pid, a.pid, b.pid };
    for (int k = 0; !rc && k < 3; k++)
        rc = bench_proc_read(pids[k], &before[k]);
    if (!rc)
        rc = s_flow_run(env, ctx, &a, &b, &f, err, sizeof err);
    for (int k = 0; !rc && k < 3; k++)
        rc = bench_proc_read(pids[k], &after[k]);
    if (rc) {
        bench_result_fail(r, "%s", err);
    } else {
        r->docs = count;
        double secs = (double) (f.t_last - f.t_first) / 1e9;
        if (secs > 0) {
            r->seconds = secs;
            r->docs_per_s = (double) count / secs;
            r->mb_per_s = (double) count * BENCH_DOC_SIZE / 1e6 / secs;
        }
        bench_result_latency(r, &f.lat);
        r->cpu_us_per_doc = (after[0].cpu_s - before[0].cpu_s) * 1e6 / (double) count;
        r->peak_rss_mb = after[0].hwm_mb;
        r->anon_mb = after[0].anon_mb;
        double cpu_a = (after[1].cpu_s - before[1].cpu_s) * 1e6 / (double) count;
        double cpu_b = (after[2].cpu_s - before[2].cpu_s) * 1e6 / (double) count;
        bench_result_extra(r, "agent_a_cpu_us_per_doc", cpu_a);
        bench_result_extra(r, "agent_b_cpu_us_per_doc", cpu_b);
        bench_result_extra(r, "agent_a_peak_rss_mb", after[1].hwm_mb);
        bench_result_extra(r, "agent_b_peak_rss_mb", after[2].hwm_mb);
        bench_result_extra(r, "submit_p50_ms", bench_lat_ms(&f.stored, 0.5));
        bench_result_extra(r, "submit_p99_ms", bench_lat_ms(&f.stored, 0.99));
        bench_result_extra(r, "events_missed", (double) f.missed);
        snprintf(r->note, sizeof r->note,
                 "latency: submit -> inbox.new at B's DMS; submit answered p50 %.1f ms; agent CPU "
                 "A %.0f, B %.0f us/doc%s",
                 bench_lat_ms(&f.stored, 0.5), cpu_a, cpu_b,
                 f.missed ? "; some events read back from the store" : "");
    }
    s_agent_stop(&a);
    s_agent_stop(&b);
    bench_broker_fini(&broker);
    if (ctx)
        zmq_ctx_term(ctx);
    for (size_t i = 0; f.requests && i < count; i++)
        msgpack_sbuffer_destroy(&f.requests[i]);
    free(f.requests);
    free(f.t_submit);
    free(f.arrived);
    bench_lat_free(&f.lat);
    bench_lat_free(&f.stored);
    free(att);
}

// ---------------------------------------------------------------------------
//  Documents flowing again after a TCP cut

#define S_RC_RATE       100  // documents/s the DMS submits, steadily
#define S_RC_SPACING_MS 4000 // between two cuts: the agent retries at once after a 2 s session
#define S_RC_WARM_MS    3000

//  The cut being measured: when, and whether a document submitted after it
//  was accepted yet.
typedef struct {
    int64_t t_cut;      // 0: none pending
    size_t first_after; // index of the first document submitted after the cut
    bench_lat_t lat;    // cut -> the first sent.accepted of a document submitted after it
    size_t cuts;
    char (*ids)[40]; // id of each replied submit, by index
    size_t replied;
} s_cuts_t;

//  A sent.accepted event: if it is the first for a document submitted after
//  the pending cut, the path carries documents again.
static void s_on_accepted(s_cuts_t *c, const zmq_msg_t *body, int64_t now)
{
    msgpack_unpacked u;
    if (s_unpack(body, &u) == 0 && c->t_cut) {
        char id[40];
        s_text(&u.data, "id", id, sizeof id);
        for (size_t i = c->replied; i-- > c->first_after;)
            if (!strcmp(c->ids[i], id)) {
                bench_lat_add(&c->lat, now - c->t_cut);
                c->t_cut = 0;
                break;
            }
    }
    msgpack_unpacked_destroy(&u);
}

static int s_reconnect_run(bench_env_t *env, void *ctx, const s_agent_t *a, netproxy_t *proxy,
                           size_t ncuts, s_cuts_t *c, char *err, size_t errlen)
{
    void *submit = zmq_socket(ctx, ZMQ_DEALER), *sub = zmq_socket(ctx, ZMQ_SUB);
    int zero = 0, rc = -1;
    zmq_setsockopt(submit, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sub, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "sent.accepted", 13);
    size_t n = (size_t) ((S_RC_WARM_MS + (ncuts + 1) * S_RC_SPACING_MS) / 1000 * S_RC_RATE) * 4;
    c->ids = calloc(n, sizeof *c->ids);
    uint8_t att[BENCH_DOC_SIZE];
    memset(att, 0x5a, sizeof att);
    if (!c->ids || zmq_connect(submit, a->api) || zmq_connect(sub, a->events)) {
        snprintf(err, errlen, "cannot connect to agent A's sockets");
        goto done;
    }
    bench_sleep_ms(200); // the SUB connection, seen by the agent
    zmq_pollitem_t items[2] = { { submit, 0, ZMQ_POLLIN, 0 }, { sub, 0, ZMQ_POLLIN, 0 } };
    int64_t start = bench_now_ns(), next_cut = start + (int64_t) S_RC_WARM_MS * 1000000;
    size_t submitted = 0;
    while (c->cuts < ncuts || c->t_cut) {
        int64_t now = bench_now_ns();
        //  Steady submissions, whatever the path does: the agent queues them.
        while (submitted < n && start + (int64_t) (submitted * 1000000000ull / S_RC_RATE) <= now) {
            msgpack_sbuffer req;
            s_submit_request(env, &req, submitted, att);
            int sent = s_dealer_send(submit, req.data, req.size);
            msgpack_sbuffer_destroy(&req);
            if (sent) {
                snprintf(err, errlen, "cannot send to agent A");
                goto done;
            }
            submitted++;
        }
        if (!c->t_cut && c->cuts < ncuts && now >= next_cut) {
            netproxy_cut(proxy);
            c->t_cut = bench_now_ns();
            c->first_after = submitted;
            c->cuts++;
            next_cut = c->t_cut + (int64_t) S_RC_SPACING_MS * 1000000;
        }
        if (c->t_cut && now - c->t_cut > (int64_t) env->stall_ms * 1000000) {
            snprintf(err, errlen, "nothing accepted for %d ms after cut %zu", env->stall_ms,
                     c->cuts);
            goto done;
        }
        if (submitted >= n) {
            snprintf(err, errlen, "ran out of documents (%zu) before the cuts were done", n);
            goto done;
        }
        zmq_poll(items, 2, 2);
        zmq_msg_t body;
        while (s_dealer_recv(submit, &body)) {
            msgpack_unpacked u;
            if (s_unpack(&body, &u) == 0 && s_is_ok(&u.data) && c->replied < n)
                s_text(&u.data, "id", c->ids[c->replied], sizeof c->ids[0]);
            c->replied++; // replies come in request order
            msgpack_unpacked_destroy(&u);
            zmq_msg_close(&body);
        }
        for (;;) {
            zmq_msg_t topic, event;
            zmq_msg_init(&topic);
            if (zmq_msg_recv(&topic, sub, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&topic);
                break;
            }
            bool more = zmq_msg_more(&topic);
            zmq_msg_close(&topic);
            if (!more)
                continue;
            zmq_msg_init(&event);
            if (zmq_msg_recv(&event, sub, 0) >= 0)
                s_on_accepted(c, &event, bench_now_ns());
            zmq_msg_close(&event);
        }
    }
    rc = 0;
done:
    zmq_close(submit);
    zmq_close(sub);
    return rc;
}

void bench_run_reconnect(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                         bench_result_t *out, int *n, int max)
{
    (void) cal;
    static bench_result_t spare;
    bench_result_t *r = *n < max ? &out[(*n)++] : &spare;
    bench_result_init(r, "reconnect", "flowing again after a cut");
    size_t ncuts = plan->quick ? 5 : 20;
    bench_say(env, "reconnect: agent A behind a TCP proxy, %d documents/s, %zu cuts %d s apart",
              S_RC_RATE, ncuts, S_RC_SPACING_MS / 1000);
    char err[2048] = "";
    bench_broker_t broker;
    s_agent_t a;
    memset(&a, 0, sizeof a);
    s_cuts_t c;
    memset(&c, 0, sizeof c);
    netproxy_t *proxy = NULL;
    void *ctx = zmq_ctx_new();
    bench_broker_init(&broker, env, NULL);
    int rc = bench_broker_start(&broker, NULL, err, sizeof err);
    if (!rc && !(proxy = netproxy_new(broker.endpoint))) {
        snprintf(err, sizeof err, "cannot start the TCP proxy to %s", broker.endpoint);
        rc = -1;
    }
    if (!rc)
        rc = s_agent_start(env, &a, S_SENDER, netproxy_endpoint(proxy), err, sizeof err);
    if (!rc)
        rc = s_agent_ready(ctx, &a, err, sizeof err);
    if (!rc)
        rc = s_reconnect_run(env, ctx, &a, proxy, ncuts, &c, err, sizeof err);
    if (rc) {
        bench_result_fail(r, "%s", err);
    } else {
        r->docs = c.lat.n;
        bench_result_latency(r, &c.lat);
        bench_result_extra(r, "cuts", (double) c.cuts);
        snprintf(r->note, sizeof r->note,
                 "latency: a TCP cut -> the first ACCEPTED of a document submitted after it, "
                 "%zu cuts at %d documents/s",
                 c.cuts, S_RC_RATE);
    }
    s_agent_stop(&a);
    netproxy_destroy(&proxy);
    bench_broker_fini(&broker);
    if (ctx)
        zmq_ctx_term(ctx);
    free(c.ids);
    bench_lat_free(&c.lat);
}
