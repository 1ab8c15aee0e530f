/*  tests/bench/bench_rabbit.c - the same workloads on RabbitMQ, in the same
    run, so that truc's figures have a peer measured on the same machine at
    the same moment.

    A private RabbitMQ node (Debian's rabbitmq-server) starts on loopback in
    the run's temporary directory, with its own node name, ports, database
    and logs; nothing of a system installation is used or changed. Its
    workloads mirror truc's:

      rabbitmq_e2e         = truc's "delivery": plan->senders publishers
                             on plan->peer_queues durable quorum queues (1
                             by default), 4 KiB persistent messages,
                             publisher confirms, at most plan->depth
                             unconfirmed per publisher; one consumer per
                             queue with manual acks, its prefetch the depth
                             of its publishers. Messages per second from the
                             first publish to the last message consumed;
                             latency publish -> consumed.
      rabbitmq_latency_1k  = truc's "latency_1k": the same publishers paced
                             at 1,000 messages/s in all, nobody consuming;
                             latency publish -> confirm.

    Without librabbitmq at build time, or rabbitmq-server on this machine,
    it says so in the result's note and measures nothing: the rest of the
    run goes on.
*/
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <sodium.h>

#include "bench.h"

#define S_SERVER     "/usr/lib/rabbitmq/bin/rabbitmq-server"
#define S_START_MS   90000 // a cold Erlang node takes 10-20 s here
#define S_LATENCY_1K 1000.0

//  Append a result (or reuse the last slot when full, failed).
static bench_result_t *s_result(bench_result_t *out, int *n, int max, const char *name,
                                const char *label)
{
    bench_result_t *r = &out[*n < max ? (*n)++ : max - 1];
    bench_result_init(r, name, label);
    return r;
}

#ifndef TRUC_BENCH_RABBITMQ

void bench_run_rabbitmq(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                        bench_result_t *out, int *n, int max)
{
    (void) plan;
    (void) cal;
    bench_result_t *r = s_result(out, n, max, "rabbitmq_e2e", "RabbitMQ quorum e2e 4 KiB");
    snprintf(r->note, sizeof r->note,
             "not measured: truc-bench was built without librabbitmq (install librabbitmq-dev "
             "and build again)");
    bench_say(env, "RabbitMQ: %s", r->note);
}

#else

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

typedef struct {
    pid_t pid;
    int port;
    char dir[BENCH_PATH_MAX];
    char log[BENCH_PATH_MAX];
} s_node_t;

//  A TCP port free on loopback now (the kernel's choice), or 0.
static int s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *) &a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *) &a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

//  A logged-in connection with channel 1 open, or NULL.
static amqp_connection_state_t s_connect(int port)
{
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = conn ? amqp_tcp_socket_new(conn) : NULL;
    if (!sock || amqp_socket_open(sock, "127.0.0.1", port) != AMQP_STATUS_OK) {
        if (conn)
            amqp_destroy_connection(conn);
        return NULL;
    }
    amqp_rpc_reply_t login =
        amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    if (login.reply_type != AMQP_RESPONSE_NORMAL || !amqp_channel_open(conn, 1) ||
        amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL) {
        amqp_destroy_connection(conn);
        return NULL;
    }
    return conn;
}

static void s_close(amqp_connection_state_t conn)
{
    if (!conn)
        return;
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

//  Start the node and wait until it takes a login. 0, or -1 with err set.
static int s_node_start(bench_env_t *env, s_node_t *node, char *err, size_t errlen)
{
    memset(node, 0, sizeof *node);
    const char *server = getenv("RABBITMQ_SERVER") ? getenv("RABBITMQ_SERVER") : S_SERVER;
    if (access(server, X_OK) != 0) {
        snprintf(err, errlen,
                 "not measured: %s is not installed here (scripts/install-deps.sh --rabbitmq "
                 "installs Debian's rabbitmq-server)",
                 server);
        return -1;
    }
    node->port = s_free_port();
    int dist = s_free_port();
    snprintf(node->dir, sizeof node->dir, "%s/rabbitmq", env->root);
    snprintf(node->log, sizeof node->log, "%s/rabbitmq.log", env->root);
    char conf[BENCH_PATH_MAX + 16], plugins[BENCH_PATH_MAX + 16];
    snprintf(conf, sizeof conf, "%s/rabbitmq.conf", node->dir);
    snprintf(plugins, sizeof plugins, "%s/enabled_plugins", node->dir);
    FILE *f = NULL;
    if (!node->port || !dist || mkdir(node->dir, 0700) != 0 || !(f = fopen(conf, "w"))) {
        snprintf(err, errlen, "cannot prepare the RabbitMQ node in %s", node->dir);
        return -1;
    }
    fprintf(f, "listeners.tcp.default = 127.0.0.1:%d\nloopback_users = none\n", node->port);
    fclose(f);
    if (!(f = fopen(plugins, "w"))) {
        snprintf(err, errlen, "cannot write %s", plugins);
        return -1;
    }
    fputs("[].\n", f);
    fclose(f);
    char v[10][BENCH_PATH_MAX + 48];
    snprintf(v[0], sizeof v[0], "HOME=%s", node->dir); // its Erlang cookie
    snprintf(v[1], sizeof v[1], "RABBITMQ_MNESIA_BASE=%s/mnesia", node->dir);
    snprintf(v[2], sizeof v[2], "RABBITMQ_LOG_BASE=%s/log", node->dir);
    snprintf(v[3], sizeof v[3], "RABBITMQ_NODENAME=trucbench%ld@localhost", (long) getpid());
    snprintf(v[4], sizeof v[4], "RABBITMQ_NODE_PORT=%d", node->port);
    snprintf(v[5], sizeof v[5], "RABBITMQ_DIST_PORT=%d", dist);
    snprintf(v[6], sizeof v[6], "RABBITMQ_CONFIG_FILE=%s/rabbitmq", node->dir);
    snprintf(v[7], sizeof v[7], "RABBITMQ_ENABLED_PLUGINS_FILE=%s", plugins);
    snprintf(v[8], sizeof v[8], "RABBITMQ_PID_FILE=%s/pid", node->dir);
    //  Exec the Erlang VM in place of the script: the pid is the node's,
    //  and SIGTERM stops it cleanly.
    snprintf(v[9], sizeof v[9], "RUNNING_UNDER_SYSTEMD=true");
    const char *argv[] = { "/usr/bin/env", v[0], v[1], v[2], v[3],   v[4], v[5],
                           v[6],           v[7], v[8], v[9], server, NULL };
    node->pid = bench_spawn(env, argv, node->log);
    if (node->pid < 0) {
        snprintf(err, errlen, "cannot start %s", server);
        return -1;
    }
    bench_say(env, "RabbitMQ: starting a private node on 127.0.0.1:%d", node->port);
    int64_t end = bench_now_ns() + (int64_t) S_START_MS * 1000000;
    while (bench_now_ns() < end) {
        int status;
        if (bench_wait_exit(node->pid, 0, &status)) {
            char tail[512];
            bench_tail(node->log, 12, tail, sizeof tail);
            snprintf(err, errlen, "rabbitmq-server exited (status %d) while starting:\n%s", status,
                     tail);
            bench_forget(node->pid);
            node->pid = 0;
            return -1;
        }
        amqp_connection_state_t conn = s_connect(node->port);
        if (conn) {
            s_close(conn);
            return 0;
        }
        bench_sleep_ms(250);
    }
    snprintf(err, errlen, "the RabbitMQ node did not take a login within %d s", S_START_MS / 1000);
    return -1;
}

static void s_node_stop(s_node_t *node)
{
    if (node->pid <= 0)
        return;
    kill(node->pid, SIGTERM);
    int status;
    if (!bench_wait_exit(node->pid, BENCH_STOP_MS, &status)) {
        kill(node->pid, SIGKILL);
        bench_wait_exit(node->pid, BENCH_STOP_MS, &status);
    }
    bench_forget(node->pid);
    node->pid = 0;
}

// ---------------------------------------------------------------------------
//  Publishers and consumers, one connection and thread each

typedef struct {
    int port;
    int index; // which queue: truc-bench-<index>
    size_t count, depth;
    double rate; // messages/s of this publisher; 0: as fast as confirms come
    bool consume;
    uint8_t *body; // this publisher's own: its first 8 bytes carry the publish time
    size_t body_len;
    //  results
    int64_t *t_pub;  // when each was published (ns), by delivery tag - 1
    bench_lat_t lat; // publish -> confirm (publisher), publish -> consumed (consumer)
    int64_t t_first; // first publish
    int64_t t_last;  // last confirm or consume
    _Atomic size_t done;
    char error[200];
} s_side_t;

static void s_queue_name(int index, char out[32])
{
    snprintf(out, 32, "truc-bench-%d", index);
}

//  Declare the side's durable quorum queue.
static bool s_declare(amqp_connection_state_t conn, int index)
{
    char name[32];
    s_queue_name(index, name);
    amqp_table_entry_t type = { .key = amqp_cstring_bytes("x-queue-type"),
                                .value = { .kind = AMQP_FIELD_KIND_UTF8,
                                           .value.bytes = amqp_cstring_bytes("quorum") } };
    amqp_table_t args = { .num_entries = 1, .entries = &type };
    amqp_queue_declare(conn, 1, amqp_cstring_bytes(name), 0, 1, 0, 0, args);
    return amqp_get_rpc_reply(conn).reply_type == AMQP_RESPONSE_NORMAL;
}

//  Take what the broker sent a publisher: confirms (acks, possibly
//  several at once) and anything else. block: wait up to 1 s for the
//  first frame; then, and otherwise, only what has arrived. Returns the
//  messages confirmed, or -1 on a nack or a lost connection.
static long s_confirms(s_side_t *s, amqp_connection_state_t conn, uint64_t *confirmed, bool block)
{
    long got = 0;
    if (!amqp_frames_enqueued(conn) && !amqp_data_in_buffer(conn))
        amqp_maybe_release_buffers(conn);
    for (;;) {
        struct timeval tv = { block && got == 0 ? 1 : 0, 0 };
        amqp_frame_t frame;
        int rc = amqp_simple_wait_frame_noblock(conn, &frame, &tv);
        if (rc == AMQP_STATUS_TIMEOUT)
            return got;
        if (rc != AMQP_STATUS_OK) {
            snprintf(s->error, sizeof s->error, "publisher %d: connection lost: %s", s->index,
                     amqp_error_string2(rc));
            return -1;
        }
        if (frame.frame_type != AMQP_FRAME_METHOD)
            continue;
        amqp_method_number_t id = frame.payload.method.id;
        if (id == AMQP_CHANNEL_CLOSE_METHOD || id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_bytes_t text =
                id == AMQP_CHANNEL_CLOSE_METHOD
                    ? ((amqp_channel_close_t *) frame.payload.method.decoded)->reply_text
                    : ((amqp_connection_close_t *) frame.payload.method.decoded)->reply_text;
            snprintf(s->error, sizeof s->error, "publisher %d: closed by the server: %.*s",
                     s->index, (int) (text.len < 120 ? text.len : 120), (char *) text.bytes);
            return -1;
        }
        if (id == AMQP_BASIC_NACK_METHOD) {
            snprintf(s->error, sizeof s->error, "publisher %d: a message was nacked", s->index);
            return -1;
        }
        if (id != AMQP_BASIC_ACK_METHOD)
            continue;
        const amqp_basic_ack_t *ack = frame.payload.method.decoded;
        uint64_t upto = ack->multiple ? ack->delivery_tag : *confirmed + 1;
        int64_t now = bench_now_ns();
        for (uint64_t tag = *confirmed + 1; tag <= upto && tag <= s->count; tag++)
            bench_lat_add(&s->lat, now - s->t_pub[tag - 1]);
        got += (long) (upto - *confirmed);
        *confirmed = upto;
        s->t_last = now;
    }
}

static void *s_publisher(void *arg)
{
    s_side_t *s = arg;
    amqp_connection_state_t conn = s_connect(s->port);
    if (!conn || !s_declare(conn, s->index) || !amqp_confirm_select(conn, 1) ||
        amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL) {
        snprintf(s->error, sizeof s->error, "publisher %d: cannot connect, declare or confirm",
                 s->index);
        s_close(conn);
        return NULL;
    }
    char name[32];
    s_queue_name(s->index, name);
    amqp_basic_properties_t props = { ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
                                      .delivery_mode = AMQP_DELIVERY_PERSISTENT };
    amqp_bytes_t body = { .len = s->body_len, .bytes = (void *) s->body };
    uint64_t confirmed = 0;
    size_t sent = 0;
    int64_t start = bench_now_ns();
    s->t_first = start;
    while (confirmed < s->count) {
        bool room = sent < s->count && sent - confirmed < s->depth;
        if (room && s->rate > 0) {
            int64_t due = start + (int64_t) ((double) sent * 1e9 / s->rate);
            room = bench_now_ns() >= due;
        }
        if (room) {
            s->t_pub[sent] = bench_now_ns();
            memcpy(s->body, &s->t_pub[sent], sizeof s->t_pub[sent]);
            if (amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes(name), 0, 0,
                                   &props, body) != AMQP_STATUS_OK) {
                snprintf(s->error, sizeof s->error, "publisher %d: publish failed", s->index);
                break;
            }
            sent++;
        }
        //  Wait for a confirm when the window is full or everything is out;
        //  otherwise only take what already arrived.
        bool full = sent == s->count || sent - confirmed >= s->depth;
        long got = s_confirms(s, conn, &confirmed, full && s->rate == 0);
        if (got < 0)
            break;
        if (!room && !got && s->rate > 0)
            bench_sleep_ms(1);
        atomic_store(&s->done, (size_t) confirmed);
    }
    s_close(conn);
    return NULL;
}

//  Subscribe to the side's queue with manual acks and depth prefetch. A
//  quorum queue just declared may not take consumers for a moment (its Raft
//  member starts behind the declare-ok): tried again for up to 10 s. NULL
//  with s->error set if it never does.
static amqp_connection_state_t s_subscribe(s_side_t *s)
{
    char name[32];
    s_queue_name(s->index, name);
    for (int attempt = 0;; attempt++) {
        amqp_connection_state_t conn = s_connect(s->port);
        const char *step =
            !conn                        ? "connect"
            : !s_declare(conn, s->index) ? "declare its queue"
            : !amqp_basic_qos(conn, 1, 0, (uint16_t) (s->depth < 65535 ? s->depth : 65535), 0)
                ? "set its prefetch"
            : !amqp_basic_consume(conn, 1, amqp_cstring_bytes(name), amqp_empty_bytes, 0, 0, 0,
                                  amqp_empty_table)
                ? "consume"
                : NULL;
        if (!step)
            return conn;
        amqp_rpc_reply_t why = conn ? amqp_get_rpc_reply(conn) : (amqp_rpc_reply_t){ 0 };
        amqp_bytes_t text = { 0, NULL };
        if (why.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
            why.reply.id == AMQP_CONNECTION_CLOSE_METHOD)
            text = ((amqp_connection_close_t *) why.reply.decoded)->reply_text;
        else if (why.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
                 why.reply.id == AMQP_CHANNEL_CLOSE_METHOD)
            text = ((amqp_channel_close_t *) why.reply.decoded)->reply_text;
        snprintf(s->error, sizeof s->error, "consumer %d: cannot %s: %.*s", s->index, step,
                 (int) (text.len < 120 ? text.len : 120), text.bytes ? (char *) text.bytes : "");
        if (conn)
            amqp_destroy_connection(conn); // the server closed it
        if (attempt == 50)
            return NULL;
        bench_sleep_ms(200);
    }
}

static void *s_consumer(void *arg)
{
    s_side_t *s = arg;
    amqp_connection_state_t conn = s_subscribe(s);
    if (!conn)
        return NULL;
    s->error[0] = '\0';
    size_t got = 0;
    while (got < s->count) {
        amqp_envelope_t env;
        amqp_maybe_release_buffers(conn);
        struct timeval tv = { 60, 0 };
        amqp_rpc_reply_t rc = amqp_consume_message(conn, &env, &tv, 0);
        if (rc.reply_type != AMQP_RESPONSE_NORMAL) {
            snprintf(s->error, sizeof s->error, "consumer %d: nothing for 60 s or lost (%d of %zu)",
                     s->index, (int) rc.reply_type, s->count);
            break;
        }
        int64_t now = bench_now_ns();
        int64_t sent_at = 0;
        if (env.message.body.len >= sizeof sent_at)
            memcpy(&sent_at, env.message.body.bytes, sizeof sent_at);
        if (sent_at > 0)
            bench_lat_add(&s->lat, now - sent_at);
        amqp_basic_ack(conn, 1, env.delivery_tag, 0);
        amqp_destroy_envelope(&env);
        s->t_last = now;
        atomic_store(&s->done, ++got);
    }
    s_close(conn);
    return NULL;
}

//  What one round runs: publishers spread over queues (publisher i on
//  queue i % queues), each publishing per messages with at most depth
//  unconfirmed, paced at rate each (0: not paced); with consume, one
//  consumer per queue, its prefetch the depth of its publishers together.
typedef struct {
    int publishers, queues;
    size_t per, depth;
    double rate;
    bool consume;
} s_shape_t;

//  One round. 0, or -1 with err set.
static int s_round(const s_node_t *node, const s_shape_t *shape, s_side_t *pub, s_side_t *con,
                   char *err, size_t errlen)
{
    pthread_t tp[BENCH_NAGENCIES], tc[BENCH_NAGENCIES];
    static uint8_t bodies[BENCH_NAGENCIES][BENCH_DOC_SIZE];
    int started_p = 0, started_c = 0, np = shape->publishers, nq = shape->queues;
    for (int q = 0; q < nq; q++)
        con[q] = (s_side_t){ .port = node->port, .index = q };
    for (int i = 0; i < np; i++) {
        randombytes_buf(bodies[i], sizeof bodies[i]);
        pub[i] = (s_side_t){ .port = node->port,
                             .index = i % nq,
                             .count = shape->per,
                             .depth = shape->depth,
                             .rate = shape->rate,
                             .body = bodies[i],
                             .body_len = sizeof bodies[i] };
        pub[i].t_pub = calloc(shape->per, sizeof *pub[i].t_pub);
        con[i % nq].count += shape->per;
        con[i % nq].depth += shape->depth;
    }
    //  Every queue declared and taking consumers before anything is
    //  published: a quorum queue nacks what comes before its member runs.
    for (int q = 0; q < nq; q++) {
        s_side_t probe = { .port = node->port, .index = q, .depth = 1 };
        amqp_connection_state_t conn = s_subscribe(&probe);
        if (!conn) {
            snprintf(err, errlen, "%s", probe.error);
            return -1;
        }
        s_close(conn);
    }
    if (shape->consume)
        for (int q = 0; q < nq; q++)
            started_c += pthread_create(&tc[q], NULL, s_consumer, &con[q]) == 0;
    for (int i = 0; i < np; i++)
        started_p += pub[i].t_pub && pthread_create(&tp[i], NULL, s_publisher, &pub[i]) == 0;
    for (int i = 0; i < started_p; i++)
        pthread_join(tp[i], NULL);
    for (int q = 0; q < started_c; q++)
        pthread_join(tc[q], NULL);
    for (int i = 0; i < np; i++)
        if (pub[i].error[0]) {
            snprintf(err, errlen, "%s", pub[i].error);
            return -1;
        }
    for (int q = 0; q < nq && shape->consume; q++)
        if (con[q].error[0]) {
            snprintf(err, errlen, "%s", con[q].error);
            return -1;
        }
    if (started_p < np || (shape->consume && started_c < nq)) {
        snprintf(err, errlen, "cannot start the RabbitMQ client threads");
        return -1;
    }
    return 0;
}

static void s_sides_free(s_side_t *sides, int n)
{
    for (int i = 0; i < n; i++) {
        free(sides[i].t_pub);
        sides[i].t_pub = NULL;
        bench_lat_free(&sides[i].lat);
    }
}

//  Merge the sides' latencies into one set and the span they cover.
static void s_merge(s_side_t *sides, int n, bench_lat_t *lat, int64_t *first, int64_t *last)
{
    for (int i = 0; i < n; i++) {
        for (size_t k = 0; k < sides[i].lat.n; k++)
            bench_lat_add(lat, sides[i].lat.ns[k]);
        if (sides[i].t_first && (!*first || sides[i].t_first < *first))
            *first = sides[i].t_first;
        if (sides[i].t_last > *last)
            *last = sides[i].t_last;
    }
}

void bench_run_rabbitmq(bench_env_t *env, const bench_plan_t *plan, const bench_calibration_t *cal,
                        bench_result_t *out, int *n, int max)
{
    (void) cal;
    bench_result_t *e2e = s_result(out, n, max, "rabbitmq_e2e", "RabbitMQ quorum e2e 4 KiB");
    bench_result_t *lat1k =
        s_result(out, n, max, "rabbitmq_latency_1k", "RabbitMQ confirm at 1,000/s");
    s_node_t node;
    char err[1024] = "";
    if (s_node_start(env, &node, err, sizeof err) != 0) {
        bool skipped = strncmp(err, "not measured", 12) == 0;
        if (skipped) {
            snprintf(e2e->note, sizeof e2e->note, "%.300s", err);
            snprintf(lat1k->note, sizeof lat1k->note, "%.300s", err);
        } else {
            bench_result_fail(e2e, "%s", err);
            bench_result_fail(lat1k, "%s", err);
        }
        bench_say(env, "RabbitMQ: %s", err);
        s_node_stop(&node);
        return;
    }
    int np = plan->senders, nq = plan->peer_queues < np ? plan->peer_queues : np;
    size_t per = plan->docs / (size_t) np;
    static s_side_t pub[BENCH_NAGENCIES], con[BENCH_NAGENCIES];
    bench_proc_t before, after;

    //  End to end: warm up with a tenth, then measure.
    bench_say(env,
              "RabbitMQ e2e: %zu messages of 4 KiB, %d publishers -> %d quorum queue%s -> %d "
              "consumer%s",
              per * (size_t) np, np, nq, nq > 1 ? "s" : "", nq, nq > 1 ? "s" : "");
    s_shape_t shape = { np, nq, per / 10 > 10 ? per / 10 : 10, plan->depth, 0, true };
    int rc = s_round(&node, &shape, pub, con, err, sizeof err);
    s_sides_free(pub, np);
    s_sides_free(con, nq);
    shape.per = per;
    if (!rc && bench_proc_read(node.pid, &before) == 0 &&
        !(rc = s_round(&node, &shape, pub, con, err, sizeof err))) {
        bench_lat_t lat = { 0 }, confirm = { 0 };
        int64_t first = 0, last = 0, confirmed_last = 0;
        s_merge(con, nq, &lat, &first, &last);
        s_merge(pub, np, &confirm, &first, &confirmed_last);
        double seconds = (double) (last - first) / 1e9;
        e2e->docs = per * (size_t) np;
        e2e->seconds = seconds;
        e2e->docs_per_s = seconds > 0 ? (double) e2e->docs / seconds : -1;
        e2e->mb_per_s = seconds > 0 ? (double) e2e->docs * BENCH_DOC_SIZE / 1e6 / seconds : -1;
        bench_result_latency(e2e, &lat);
        bench_result_extra(e2e, "confirm_p50_ms", bench_lat_ms(&confirm, 0.5));
        bench_result_extra(e2e, "confirm_p99_ms", bench_lat_ms(&confirm, 0.99));
        bench_result_extra(e2e, "queues", nq);
        if (bench_proc_read(node.pid, &after) == 0 && e2e->docs)
            e2e->cpu_us_per_doc = (after.cpu_s - before.cpu_s) * 1e6 / (double) e2e->docs;
        e2e->peak_rss_mb = after.hwm_mb;
        snprintf(e2e->note, sizeof e2e->note,
                 "latency: publish -> consumed; confirms p50 %.1f ms, p99 %.1f ms; %d -> %d "
                 "queue%s; CPU is the RabbitMQ node's",
                 bench_lat_ms(&confirm, 0.5), bench_lat_ms(&confirm, 0.99), np, nq,
                 nq > 1 ? "s" : "");
        bench_lat_free(&lat);
        bench_lat_free(&confirm);
    }
    if (rc)
        bench_result_fail(e2e, "%s", err);
    s_sides_free(pub, np);
    s_sides_free(con, nq);

    //  Publish -> confirm at 1,000 messages/s in all, nobody consuming.
    shape.per = (size_t) (S_LATENCY_1K * plan->seconds_1k) / (size_t) np;
    if (shape.per < 10)
        shape.per = 10;
    shape.depth = 100000;
    shape.rate = S_LATENCY_1K / np;
    shape.consume = false;
    bench_say(env, "RabbitMQ latency: %.1f s at 1,000/s", plan->seconds_1k);
    rc = s_round(&node, &shape, pub, con, err, sizeof err);
    if (!rc) {
        bench_lat_t lat = { 0 };
        int64_t first = 0, last = 0;
        s_merge(pub, np, &lat, &first, &last);
        lat1k->docs = shape.per * (size_t) np;
        lat1k->seconds = (double) (last - first) / 1e9;
        lat1k->docs_per_s = lat1k->seconds > 0 ? (double) lat1k->docs / lat1k->seconds : -1;
        bench_result_latency(lat1k, &lat);
        bench_result_extra(lat1k, "rate", S_LATENCY_1K);
        snprintf(lat1k->note, sizeof lat1k->note,
                 "publish -> confirm, %s messages paced over %d publishers",
                 bench_num((double) lat1k->docs, 0), np);
        bench_lat_free(&lat);
    } else {
        bench_result_fail(lat1k, "%s", err);
    }
    s_sides_free(pub, np);
    s_sides_free(con, nq);
    s_node_stop(&node);
}

#endif
