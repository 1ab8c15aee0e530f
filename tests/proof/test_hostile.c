/*  tests/proof/test_hostile.c - the hostile input suite: truc-broker and
    truc-agent flooded with malformed input.

    Each test starts real processes on a fresh directory (the harnesses of
    tests/lib/harness.h and tests/lib/agent_harness.h, used as they
    are) and floods them with input from tests/proof/hostile_gen.h, a
    generator of broken messages that is deterministic from its seed:

      hostile_broker_unauth  raw TCP peers writing noise and broken ZMTP
                             (many at once, some held open all along),
                             ZeroMQ peers without CURVE, and CURVE peers
                             whose keys the broker must refuse (not in the
                             directory, suspended, revoked, a stranger, a
                             wrong server key), all sending generated
                             messages; no refused peer may hear anything;
      hostile_broker_auth    agencies with real sessions (after HELLO)
                             sending thousands of generated malformed
                             messages, and frames over max_frame on
                             sessions of their own; every answer must be
                             protocol, never an ACCEPTED for an oversize
                             frame;
      hostile_agent_api      thousands of generated malformed requests on
                             the agent's API socket through a DEALER (wrong
                             frame counts, wrong types, unknown commands,
                             huge lengths, bad ids, oversize frames), each
                             answered exactly once with a proper reply, and
                             attachment paths naming a FIFO, a directory, a
                             device and a huge sparse file.

    In all three, a well-behaved pair of agencies (A sends to B) keeps
    working meanwhile and afterwards: through the broker with the protocol
    client (SUBMIT, ACCEPTED, DELIVER, DELIVERED) or through the agents
    (submit, B's inbox, A's sent shows delivered). No process may crash:
    each is still running after the flood and exits with status 0 on
    SIGTERM (under LeakSanitizer that also means no leak). Memory stays
    bounded: VmRSS of the broker (and the agent) is sampled before the
    flood, after its first fifth and after it, and the last sample must
    stay within S_RSS_SLACK_KB of the second. Counts and RSS figures are
    printed. No assertion depends on speed: waits have generous deadlines.

    Volume: a few thousand messages per test; TRUC_TEST_LONG=1 sends ten
    times as many. TRUC_HOSTILE_SEED=N changes the generator's seed; the
    seed used is printed, and the same seed makes the same choices again
    (only what this run's fresh keys sign - ids, signatures - differs).

    Usage: test_hostile TRUC_BROKER TRUC_KEYS TRUC_AGENT [TEST_NAME]
    (or TRUC_BROKER, TRUC_KEYS and TRUC_AGENT in the environment).
*/
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <msgpack.h>
#include <sodium.h>
#include <zmq.h>

#include "agent_harness.h"
#include "fuzz_kinds.h"
#include "harness.h"
#include "hostile_gen.h"
#include "proto/sign.h"
#include "truc_client.h"

#define S_SUBJECT   "Về việc thử nghiệm trục liên thông giữa các đầu vào độc hại"
#define S_TYPE      "Công văn"
#define S_MAX_FRAME 65536 // the broker's limits.max_frame, the agent's api.max_request
#define S_SEED      0x7472756368ull

//  VmRSS is sampled three times: before the flood, after its first fifth
//  (the warm-up: allocator arenas and size classes, libzmq's buffers and
//  the LMDB map reach their working size), and after it. Between the last
//  two, four fifths of the flood may add at most S_RSS_SLACK_KB. A bound,
//  not a measurement: those four fifths are thousands of refused messages
//  of up to 64 KiB (tens of thousands in the long run), so a process that
//  kept even a little of each - a frame, a decoded body, a session never
//  freed - grows past it, while what may grow legitimately stays well
//  inside it: the store's mapped pages for the few documents that happen
//  to be valid and are stored, allocator caches, and under AddressSanitizer
//  its per-size-class free lists (main caps its quarantine).
#define S_RSS_SLACK_KB (64L * 1024)

#define S_TCP_PARALLEL 32  // raw connections open at once
#define S_TCP_HELD     64  // raw connections held open during the whole flood
#define S_TCP_LISTEN   100 // ms a raw connection listens before it closes
#define S_SYNC_MS      10000
#define S_AUTH_BATCH   8  // malformed messages between two heartbeats
#define S_API_BATCH    32 // requests in flight on the DEALER
#define S_OVERSIZE     12 // sessions that each send one frame over max_frame

static int s_scale = 1; // 10 with TRUC_TEST_LONG=1

// ---------------------------------------------------------------------------
//  Helpers

static uint64_t s_seed(uint64_t test)
{
    const char *text = getenv("TRUC_HOSTILE_SEED");
    uint64_t base = text && *text ? strtoull(text, NULL, 0) : S_SEED;
    uint64_t seed = base + test;
    print_message("generator seed %" PRIu64 " (TRUC_HOSTILE_SEED=%" PRIu64 " repeats this run)\n",
                  seed, base);
    return seed;
}

static long s_rss_kb(pid_t pid)
{
    long rss = th_proc_kb(pid, "VmRSS");
    print_message("pid %ld: VmRSS %ld kB (RssAnon %ld kB, RssFile %ld kB)\n", (long) pid, rss,
                  th_proc_kb(pid, "RssAnon"), th_proc_kb(pid, "RssFile"));
    return rss;
}

//  VmRSS samples of one process: before the flood, after its warm-up, after.
typedef struct {
    pid_t pid;
    long before, warm, after;
} s_rss_t;

static void s_rss_check(th_env_t *env, const char *who, const s_rss_t *r)
{
    print_message("%s VmRSS: %ld kB before the flood, %ld kB after its first fifth, %ld kB after "
                  "it (%+ld kB since the first fifth, bound +%ld kB)\n",
                  who, r->before, r->warm, r->after, r->after - r->warm, S_RSS_SLACK_KB);
    th_check(r->before > 0 && r->warm > 0 && r->after > 0, "cannot read VmRSS of %s", who);
    th_soft(env, r->after <= r->warm + S_RSS_SLACK_KB,
            "%s grew from %ld kB to %ld kB during the flood, more than %ld kB", who, r->warm,
            r->after, S_RSS_SLACK_KB);
}

static void s_print_classes(const char *what, const size_t *by_class)
{
    char line[512];
    size_t pos = 0;
    for (int i = 0; i < HOSTILE_CLASS_COUNT; i++)
        pos += (size_t) snprintf(line + pos, sizeof line - pos, " %s=%zu",
                                 hostile_class_name((hostile_class_t) i), by_class[i]);
    print_message("%s by class:%s\n", what, line);
}

#define S_NCODES 600 // error codes counted per answer (0..599)

//  The error codes answered and how often, one line.
static void s_print_codes(const size_t *codes)
{
    char line[1024];
    size_t pos = 0;
    for (int i = 0; i < S_NCODES && pos < sizeof line - 64; i++)
        if (codes[i])
            pos += (size_t) snprintf(line + pos, sizeof line - pos, " %s=%zu",
                                     proto_errname((proto_err_t) i), codes[i]);
    print_message("codes answered:%s\n", pos ? line : "");
}

static int s_visible(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

//  The files of a corpus directory in name order (so that a seed makes the
//  same choices everywhere): fn is called with each file's bytes.
typedef bool(s_file_fn)(hostile_gen_t *g, const char *data, size_t len);

static size_t s_corpus(hostile_gen_t *g, const char *dir, s_file_fn *fn)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, s_visible, alphasort);
    th_check(n > 0, "cannot list %s", dir);
    size_t added = 0;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        static char data[1 << 20];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        FILE *f = fopen(path, "rb");
        size_t len = f ? fread(data, 1, sizeof data, f) : 0;
        if (f)
            fclose(f);
        added += len && fn(g, data, len);
        free(names[i]);
    }
    free(names);
    th_check(added > 0, "no seeds in %s", dir);
    return added;
}

//  A file of the decoder's fuzz corpus: a selector byte naming the kind,
//  then a valid body.
static bool s_wire_file(hostile_gen_t *g, const char *data, size_t len)
{
    int kind = len > 1 ? fuzz_kind_from_selector((uint8_t) data[0]) : 0;
    return proto_kind_name(kind) && hostile_gen_add_wire(g, kind, data + 1, len - 1, NULL, NULL, 0);
}

//  Wire seeds from the decoder's fuzz corpus (proto/fuzz/corpus).
static size_t s_seed_wire_corpus(hostile_gen_t *g)
{
    return s_corpus(g, TRUC_PROTO_CORPUS, s_wire_file);
}

static bool s_has_bytes(const char *data, size_t len, const char *what, size_t n)
{
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(data + i, what, n) == 0)
            return true;
    return false;
}

//  A file of the agent's fuzz corpus: one request. Some of the corpus is
//  broken on purpose and is no seed; and a long-poll (`wait`) is answered
//  only when it is due, up to a minute later, which is not what the flood
//  checks.
static bool s_request_file(hostile_gen_t *g, const char *data, size_t len)
{
    return !s_has_bytes(data, len, "\xa4wait", 5) && hostile_gen_add_request(g, data, len);
}

//  Request seeds from the agent's fuzz corpus (agent/fuzz/corpus).
static size_t s_seed_request_corpus(hostile_gen_t *g)
{
    return s_corpus(g, TRUC_API_CORPUS, s_request_file);
}

//  A document from `from` to `to` with natt small attachments, built and
//  signed with the protocol client.
static truc_doc_t *s_doc(th_env_t *env, th_agency_t from, th_agency_t to, uint32_t natt)
{
    const char *codes[] = { th_code(to) };
    uint8_t bytes[2][1500];
    truc_att_t att[2] = { { "cong-van.pdf", "application/pdf", bytes[0], sizeof bytes[0] },
                          { "phu-luc.txt", "text/plain", bytes[1], 700 } };
    randombytes_buf(bytes, sizeof bytes);
    truc_doc_t *doc = truc_doc_build(env->agency[from], codes, 1, S_SUBJECT, S_TYPE, 1, att, natt);
    th_check(doc != NULL, "truc_doc_build failed");
    return doc;
}

//  Add a document's message (body and attachments) as a wire seed.
static void s_seed_doc(hostile_gen_t *g, const truc_doc_t *doc)
{
    proto_buf_t body;
    proto_buf_init(&body);
    th_check(proto_msg_encode(truc_doc_cmsg(doc), &body, NULL) == PROTO_OK, "encode a seed");
    const void *att[2];
    size_t lens[2];
    uint32_t natt = truc_doc_natt(doc);
    for (uint32_t i = 0; i < natt && i < 2; i++) {
        att[i] = truc_doc_att_data(doc, i);
        lens[i] = truc_doc_att_len(doc, i);
    }
    th_check(hostile_gen_add_wire(g, truc_doc_cmsg(doc)->kind, body.data, body.len, att, lens,
                                  natt < 2 ? natt : 2),
             "add a seed");
    proto_buf_free(&body);
}

//  Seeds an agency's own session would send: documents signed by it (so
//  broken copies get past the sender check to the signature, hash and
//  state checks), an operation on one of them, and the decoder's corpus.
static hostile_gen_t *s_wire_gen(th_env_t *env, uint64_t seed, th_agency_t who, th_agency_t to)
{
    hostile_gen_t *g = hostile_gen_new(seed);
    th_check(g != NULL, "out of memory");
    hostile_gen_set_max_frame(g, S_MAX_FRAME);
    s_seed_wire_corpus(g);
    truc_doc_t *doc = s_doc(env, who, to, 2);
    s_seed_doc(g, doc);
    truc_doc_t *op = s_doc(env, who, to, 0);
    proto_msg_t *msg = truc_doc_msg(op);
    proto_id_t ref = *truc_doc_id(doc);
    msg->kind = PROTO_KIND_REVOKE;
    msg->u.document.doc.op = 1;
    msg->u.document.doc.op_reason = "Ban hành nhầm";
    msg->u.document.doc.op_refs = &ref;
    msg->u.document.doc.nop_refs = 1;
    th_check(truc_doc_sign(op, env->agency[who]) == PROTO_OK, "sign an operation");
    s_seed_doc(g, op);
    truc_doc_destroy(&op);
    truc_doc_destroy(&doc);
    return g;
}

// ---------------------------------------------------------------------------
//  The well-behaved pair through the broker: A sends, B receives and
//  acknowledges, A gets B's signed receipt.

typedef struct {
    th_env_t *env;
    truc_client_t *a, *b;
    int exchanges;
} s_pair_t;

static bool s_match_answer(const proto_msg_t *msg, void *arg)
{
    if (msg->kind == PROTO_KIND_ERROR)
        return true;
    return (msg->kind == PROTO_KIND_ACCEPTED || msg->kind == PROTO_KIND_REJECTED) &&
           truc_receipts_find(msg, arg) != NULL;
}

static bool s_match_deliver(const proto_msg_t *msg, void *arg)
{
    const proto_id_t *id = arg;
    return msg->kind == PROTO_KIND_DELIVER &&
           memcmp(msg->u.document.doc.id.bytes, id->bytes, PROTO_ID_LEN) == 0;
}

static bool s_match_receipt(const proto_msg_t *msg, void *arg)
{
    return msg->kind == PROTO_KIND_DELIVERED && truc_receipts_find(msg, arg) != NULL;
}

static void s_pair_exchange(s_pair_t *p, const char *when)
{
    th_env_t *env = p->env;
    truc_doc_t *doc = s_doc(env, TH_A, TH_B, 1);
    const proto_id_t *id = truc_doc_id(doc);
    proto_err_t rc = truc_client_submit(p->a, doc);
    th_check(rc == PROTO_OK, "%s: A cannot submit: %s", when, proto_errname(rc));
    proto_msg_t *msg = NULL;
    rc = truc_client_recv_match(p->a, TH_RECV_TIMEOUT_MS, s_match_answer, (void *) (uintptr_t) id,
                                &msg, NULL);
    th_check(rc == PROTO_OK, "%s: A got no answer to its document: %s (%s)", when,
             proto_errname(rc), truc_client_error_text(p->a));
    th_check(msg->kind == PROTO_KIND_ACCEPTED, "%s: A's document answered with %s %u", when,
             proto_kind_name(msg->kind),
             msg->kind == PROTO_KIND_ERROR ? msg->u.error.code
                                           : truc_receipts_find(msg, id)->leaf.code);
    th_check(truc_receipts_verify(msg, th_hub_sign_pk(env)) == PROTO_OK,
             "%s: ACCEPTED does not verify with the broker's key", when);
    proto_msg_destroy(&msg);

    truc_frames_t *frames = NULL;
    rc = truc_client_recv_match(p->b, TH_RECV_TIMEOUT_MS, s_match_deliver, (void *) (uintptr_t) id,
                                &msg, &frames);
    th_check(rc == PROTO_OK, "%s: B got no DELIVER: %s (%s)", when, proto_errname(rc),
             truc_client_error_text(p->b));
    const truc_frames_t *fs = frames;
    const proto_msg_t *dm = msg;
    rc = truc_client_ack_deliveries(p->b, env->dir, &dm, &fs, 1);
    th_check(rc == PROTO_OK, "%s: B refuses the DELIVER: %s (%s)", when, proto_errname(rc),
             truc_client_error_text(p->b));
    proto_msg_destroy(&msg);
    truc_frames_destroy(&frames);

    rc = truc_client_recv_match(p->a, TH_RECV_TIMEOUT_MS, s_match_receipt, (void *) (uintptr_t) id,
                                &msg, NULL);
    th_check(rc == PROTO_OK, "%s: A got no DELIVERED from B: %s (%s)", when, proto_errname(rc),
             truc_client_error_text(p->a));
    const proto_directory_entry_t *b = proto_directory_find(env->dir, th_code(TH_B));
    th_check(b && truc_receipts_verify(msg, b->sign_pk) == PROTO_OK,
             "%s: B's receipt does not verify with B's key", when);
    rc = truc_client_ack(p->a, &msg->u.receipts.mid, 1);
    th_check(rc == PROTO_OK, "%s: ACK: %s", when, proto_errname(rc));
    proto_msg_destroy(&msg);
    truc_doc_destroy(&doc);
    p->exchanges++;
}

//  Sessions the broker forgets after 3 heartbeats of silence: the pair says
//  HEARTBEAT between its exchanges, however slowly the flood goes.
static void s_send_heartbeat(truc_client_t *c);

static void s_pair_alive(s_pair_t *p)
{
    s_send_heartbeat(p->a);
    s_send_heartbeat(p->b);
}

// ---------------------------------------------------------------------------
//  a) The broker, unauthenticated

typedef struct {
    char host[64];
    uint16_t port;
} s_addr_t;

typedef struct {
    size_t tcp_connections, tcp_bytes, tcp_closed_by_broker, tcp_failed;
    size_t held, held_closed_by_broker;
    size_t zmq_peers, zmq_sent, zmq_answers, zmq_sent_by_class[HOSTILE_CLASS_COUNT];
    size_t streams_by_class[HOSTILE_CLASS_COUNT];
} s_unauth_t;

static void s_addr(th_env_t *env, s_addr_t *addr)
{
    th_check(strncmp(env->endpoint, "tcp://", 6) == 0, "endpoint %s", env->endpoint);
    const char *host = env->endpoint + 6, *colon = strrchr(host, ':');
    th_check(colon && (size_t) (colon - host) < sizeof addr->host, "endpoint %s", env->endpoint);
    memcpy(addr->host, host, (size_t) (colon - host));
    addr->host[colon - host] = '\0';
    addr->port = (uint16_t) atoi(colon + 1);
}

static int s_tcp_connect(const s_addr_t *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(addr->port);
    if (inet_pton(AF_INET, addr->host, &sa.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *) &sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

//  Read what is there; true if the peer closed the connection.
static bool s_tcp_drain(int fd)
{
    uint8_t sink[4096];
    for (;;) {
        ssize_t n = recv(fd, sink, sizeof sink, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return true;
        if (n < 0)
            return false;
    }
}

//  S_TCP_PARALLEL raw connections at once: each writes one generated
//  stream, listens a moment (the broker's greeting, its closing) and closes,
//  half of them with a reset.
static void s_tcp_round(hostile_gen_t *g, const s_addr_t *addr, s_unauth_t *st)
{
    int fds[S_TCP_PARALLEL];
    bool closed[S_TCP_PARALLEL] = { false };
    for (int i = 0; i < S_TCP_PARALLEL; i++) {
        fds[i] = s_tcp_connect(addr);
        if (fds[i] < 0) {
            st->tcp_failed++;
            continue;
        }
        st->tcp_connections++;
        const hostile_msg_t *m = hostile_gen_stream(g);
        st->streams_by_class[m->cls]++;
        ssize_t n = send(fds[i], m->frames[0], m->lens[0], MSG_NOSIGNAL);
        if (n > 0)
            st->tcp_bytes += (size_t) n;
    }
    for (int turns = 0; turns < S_TCP_LISTEN / 10; turns++) {
        struct pollfd pfds[S_TCP_PARALLEL];
        for (int i = 0; i < S_TCP_PARALLEL; i++)
            pfds[i] = (struct pollfd){ fds[i] >= 0 && !closed[i] ? fds[i] : -1, POLLIN, 0 };
        if (poll(pfds, S_TCP_PARALLEL, 10) <= 0)
            continue;
        for (int i = 0; i < S_TCP_PARALLEL; i++)
            if (pfds[i].revents && s_tcp_drain(fds[i]))
                closed[i] = true;
    }
    for (int i = 0; i < S_TCP_PARALLEL; i++) {
        if (fds[i] < 0)
            continue;
        st->tcp_closed_by_broker += closed[i];
        if (i % 2) {
            struct linger reset = { 1, 0 };
            setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        }
        close(fds[i]);
    }
}

//  ZeroMQ peers the broker must refuse, each sending generated messages:
//  no CURVE at all; CURVE with keys of agencies that are not in the
//  directory, suspended, revoked, or a stranger's; CURVE with a wrong
//  server key. Then everyone listens; none of them may hear anything.
static void s_intruders(th_env_t *env, hostile_gen_t *g, const proto_identity_t *stranger,
                        int per_peer, s_unauth_t *st)
{
    uint8_t wrong_server[PROTO_KEY_LEN];
    randombytes_buf(wrong_server, sizeof wrong_server);
    const proto_identity_t *ids[] = { env->agency[TH_A], env->agency[TH_U], env->agency[TH_S],
                                      env->agency[TH_R], stranger,          env->agency[TH_C] };
    const uint8_t *servers[] = { NULL,
                                 th_hub_curve_pk(env),
                                 th_hub_curve_pk(env),
                                 th_hub_curve_pk(env),
                                 th_hub_curve_pk(env),
                                 wrong_server };
    enum { N = sizeof ids / sizeof ids[0] };
    truc_client_t *peers[N];
    for (size_t i = 0; i < N; i++) {
        peers[i] = truc_client_new(env->endpoint, ids[i], servers[i], 16);
        th_check(peers[i] != NULL, "cannot create a ZeroMQ peer");
        truc_client_set_raw(peers[i], true);
        //  A refused peer has nowhere to send to most of the time: queue
        //  what the socket takes at once rather than wait for each.
        int now = 0;
        zmq_setsockopt(truc_client_socket(peers[i]), ZMQ_SNDTIMEO, &now, sizeof now);
        st->zmq_peers++;
        for (int k = 0; k < per_peer; k++) {
            const hostile_msg_t *m = hostile_gen_wire(g);
            if (truc_client_send_frames(peers[i], (const void *const *) m->frames, m->lens, m->n) ==
                PROTO_OK) {
                st->zmq_sent++;
                st->zmq_sent_by_class[m->cls]++;
            }
        }
    }
    for (int turns = 0; turns < 10; turns++)
        for (size_t i = 0; i < N; i++) {
            proto_msg_t *msg = NULL;
            proto_err_t rc = truc_client_recv(peers[i], 10, &msg, NULL);
            if (rc != PROTO_ERR_TIMEOUT)
                st->zmq_answers++;
            proto_msg_destroy(&msg);
        }
    for (size_t i = 0; i < N; i++)
        truc_client_destroy(&peers[i]);
}

static void test_hostile_broker_unauth(void **state)
{
    th_env_t *env = *state;
    const char *sets[] = { "limits.max_frame=65536", "network.heartbeat=30s", NULL };
    th_broker_start(env, sets);
    s_rss_t rss = { .pid = env->pid };
    s_pair_t pair = { env, th_connect(env, TH_A, 16, NULL), th_connect(env, TH_B, 16, NULL), 0 };
    s_pair_exchange(&pair, "before the flood");
    rss.before = s_rss_kb(rss.pid);

    hostile_gen_t *g = hostile_gen_new(s_seed(1));
    th_check(g != NULL, "out of memory");
    hostile_gen_set_max_frame(g, S_MAX_FRAME);
    s_seed_wire_corpus(g);
    truc_doc_t *doc = s_doc(env, TH_A, TH_B, 2);
    s_seed_doc(g, doc);
    truc_doc_destroy(&doc);
    proto_identity_t *stranger = proto_identity_generate(PROTO_ROLE_AGENCY, "000.00.09.H01");
    th_check(stranger != NULL, "cannot make an identity");

    s_addr_t addr;
    s_addr(env, &addr);
    s_unauth_t st;
    memset(&st, 0, sizeof st);
    //  Connections that say a little and then nothing, for the whole flood.
    int held[S_TCP_HELD];
    for (int i = 0; i < S_TCP_HELD; i++) {
        held[i] = s_tcp_connect(&addr);
        if (held[i] < 0)
            continue;
        const hostile_msg_t *m = hostile_gen_stream(g);
        ssize_t n = send(held[i], m->frames[0], m->lens[0] < 10 ? m->lens[0] : 10, MSG_NOSIGNAL);
        (void) n;
        st.held++;
    }
    int rounds = 50 * s_scale;
    for (int r = 0; r < rounds; r++) {
        if (r == rounds / 5)
            rss.warm = s_rss_kb(rss.pid);
        s_pair_alive(&pair);
        s_tcp_round(g, &addr, &st);
        if (r % 4 == 3)
            s_intruders(env, g, stranger, 50, &st);
        if (r % 10 == 9) {
            char when[64];
            snprintf(when, sizeof when, "during the flood (round %d of %d)", r + 1, rounds);
            s_pair_exchange(&pair, when);
        }
    }
    for (int i = 0; i < S_TCP_HELD; i++)
        if (held[i] >= 0) {
            st.held_closed_by_broker += s_tcp_drain(held[i]);
            close(held[i]);
        }
    th_check(th_running(env, th_current(env)), "truc-broker died during the flood");
    s_pair_exchange(&pair, "after the flood");
    rss.after = s_rss_kb(rss.pid);

    print_message(
        "raw TCP: %zu connections (%zu failed), %zu bytes written, %zu closed by the "
        "broker within %d ms; %zu held open all along, %zu of them closed by the broker\n",
        st.tcp_connections, st.tcp_failed, st.tcp_bytes, st.tcp_closed_by_broker, S_TCP_LISTEN,
        st.held, st.held_closed_by_broker);
    s_print_classes("raw TCP streams", st.streams_by_class);
    print_message("refused ZeroMQ peers: %zu peers queued %zu generated messages (what their "
                  "sockets took at once), %zu answers to them\n",
                  st.zmq_peers, st.zmq_sent, st.zmq_answers);
    s_print_classes("messages from refused peers", st.zmq_sent_by_class);
    print_message("A to B: %d documents exchanged before, during and after the flood\n",
                  pair.exchanges);
    th_soft(env, st.tcp_connections > 0, "no raw TCP connection was made");
    th_soft(env, st.zmq_answers == 0, "refused peers received %zu message(s)", st.zmq_answers);
    s_rss_check(env, "truc-broker", &rss);
    proto_identity_destroy(&stranger);
    hostile_gen_destroy(&g);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  b) The broker, authenticated

typedef struct {
    th_agency_t who;
    truc_client_t *c;
    hostile_gen_t *g;
} s_flooder_t;

typedef struct {
    size_t sent, by_class[HOSTILE_CLASS_COUNT];
    size_t errors, rejected, accepted, other, fatal, reconnects, silent;
    size_t codes[S_NCODES]; // ERROR and REJECTED codes
    size_t oversize, oversize_answers, oversize_accepted;
} s_auth_t;

static void s_reconnect(th_env_t *env, s_flooder_t *f, s_auth_t *st)
{
    th_drop(env, &f->c);
    f->c = th_connect(env, f->who, 16, NULL);
    st->reconnects++;
}

static void s_send_hello(th_env_t *env, truc_client_t *c, th_agency_t who)
{
    uint8_t versions[] = { PROTO_VERSION };
    proto_msg_t hello;
    memset(&hello, 0, sizeof hello);
    hello.kind = PROTO_KIND_HELLO;
    hello.u.hello = (proto_hello_t){
        .versions = versions, .nversions = 1, .agency = th_code(who), .window = 16
    };
    proto_err_t rc = truc_client_send(c, &hello, NULL, NULL, 0);
    th_check(rc == PROTO_OK, "HELLO: %s", proto_errname(rc));
    (void) env;
}

static void s_send_heartbeat(truc_client_t *c)
{
    proto_msg_t hb;
    memset(&hb, 0, sizeof hb);
    hb.kind = PROTO_KIND_HEARTBEAT;
    hb.u.heartbeat.time = truc_now_ms();
    proto_err_t rc = truc_client_send(c, &hb, NULL, NULL, 0);
    th_check(rc == PROTO_OK, "HEARTBEAT: %s", proto_errname(rc));
}

//  One batch on a session: a HEARTBEAT, up to S_AUTH_BATCH malformed
//  messages, a HEARTBEAT (valid messages reset the broker's count of errors
//  in a row, so a session lives long enough to matter), and HELLO, which a
//  session answers with ERROR ERR_UNEXPECTED after everything sent before
//  it (the generator sends neither HELLO nor the broker's kinds). Every
//  answer before that one is counted. A fatal ERROR ends the session: the
//  agency connects again.
static void s_auth_batch(th_env_t *env, s_flooder_t *f, s_auth_t *st)
{
    s_send_heartbeat(f->c);
    size_t k = 1 + hostile_gen_below(f->g, S_AUTH_BATCH);
    for (size_t i = 0; i < k; i++) {
        const hostile_msg_t *m = hostile_gen_wire(f->g);
        proto_err_t rc =
            truc_client_send_frames(f->c, (const void *const *) m->frames, m->lens, m->n);
        th_check(rc == PROTO_OK, "%s: send: %s", th_code(f->who), proto_errname(rc));
        st->sent++;
        st->by_class[m->cls]++;
    }
    s_send_heartbeat(f->c);
    s_send_hello(env, f->c, f->who);
    for (;;) {
        proto_msg_t *msg = NULL;
        proto_err_t rc = truc_client_recv(f->c, S_SYNC_MS, &msg, NULL);
        if (rc == PROTO_ERR_TIMEOUT) {
            st->silent++;
            s_reconnect(env, f, st);
            return;
        }
        th_check(rc == PROTO_OK,
                 "%s: the broker answered with bytes that break the protocol: "
                 "%s (%s)",
                 th_code(f->who), proto_errname(rc), truc_client_error_text(f->c));
        bool done = false;
        if (msg->kind == PROTO_KIND_ERROR) {
            uint32_t code = msg->u.error.code;
            if (msg->u.error.fatal) {
                st->fatal++;
                st->codes[code < S_NCODES ? code : 0]++;
                proto_msg_destroy(&msg);
                s_reconnect(env, f, st);
                return;
            }
            done = code == PROTO_ERR_UNEXPECTED;
            if (!done) {
                st->errors++;
                st->codes[code < S_NCODES ? code : 0]++;
            }
        } else if (msg->kind == PROTO_KIND_READY) {
            done = true; // the session had ended quietly; HELLO began a new one
        } else if (msg->kind == PROTO_KIND_REJECTED) {
            st->rejected++;
            uint32_t code = msg->u.receipts.nitems ? msg->u.receipts.items[0].leaf.code : 0;
            st->codes[code < S_NCODES ? code : 0]++;
        } else if (msg->kind == PROTO_KIND_ACCEPTED) {
            st->accepted++;
        } else {
            st->other++;
        }
        proto_msg_destroy(&msg);
        if (done)
            return;
    }
}

//  Sessions of their own that each send one frame over max_frame, which
//  libzmq refuses before it is ever buffered whole; then everyone listens.
//  Whatever comes must not be an ACCEPTED.
static void s_oversize(th_env_t *env, uint64_t seed, s_auth_t *st)
{
    hostile_gen_t *g = s_wire_gen(env, seed, TH_C, TH_D);
    hostile_gen_set_classes(g, 1u << HOSTILE_OVERSIZE);
    hostile_gen_set_agent_kinds(g, true);
    truc_client_t *c[S_OVERSIZE];
    for (int i = 0; i < S_OVERSIZE; i++) {
        c[i] = th_connect(env, i % 2 ? TH_C : TH_D, 16, NULL);
        const hostile_msg_t *m = hostile_gen_wire(g);
        th_check(truc_client_send_frames(c[i], (const void *const *) m->frames, m->lens, m->n) ==
                     PROTO_OK,
                 "send an oversize frame");
        st->oversize++;
    }
    for (int turns = 0; turns < TH_QUIET_MS / 50; turns++)
        for (int i = 0; i < S_OVERSIZE; i++) {
            proto_msg_t *msg = NULL;
            if (truc_client_recv(c[i], 5, &msg, NULL) == PROTO_OK) {
                st->oversize_answers++;
                st->oversize_accepted += msg->kind == PROTO_KIND_ACCEPTED;
            }
            proto_msg_destroy(&msg);
        }
    for (int i = 0; i < S_OVERSIZE; i++)
        th_drop(env, &c[i]);
    hostile_gen_destroy(&g);
}

static void test_hostile_broker_auth(void **state)
{
    th_env_t *env = *state;
    const char *sets[] = { "limits.max_frame=65536", "network.heartbeat=30s", NULL };
    th_broker_start(env, sets);
    s_rss_t rss = { .pid = env->pid };
    s_pair_t pair = { env, th_connect(env, TH_A, 16, NULL), th_connect(env, TH_B, 16, NULL), 0 };
    s_pair_exchange(&pair, "before the flood");
    rss.before = s_rss_kb(rss.pid);

    uint64_t seed = s_seed(2);
    //  Three agencies flood, each sending copies of its own documents
    //  (addressed to the others, never to A or B) broken in every way.
    s_flooder_t fl[] = { { TH_C, NULL, NULL }, { TH_D, NULL, NULL }, { TH_E, NULL, NULL } };
    const th_agency_t to[] = { TH_D, TH_E, TH_C };
    enum { N = sizeof fl / sizeof fl[0] };
    for (size_t i = 0; i < N; i++) {
        fl[i].g = s_wire_gen(env, seed * 31 + i, fl[i].who, to[i]);
        hostile_gen_set_agent_kinds(fl[i].g, true);
        hostile_gen_set_classes(fl[i].g, HOSTILE_ALL & ~(1u << HOSTILE_OVERSIZE));
        fl[i].c = th_connect(env, fl[i].who, 16, NULL);
    }
    s_auth_t st;
    memset(&st, 0, sizeof st);
    size_t total = 3000 * (size_t) s_scale, next_exchange = total / 10;
    while (st.sent < total) {
        if (!rss.warm && st.sent >= total / 5)
            rss.warm = s_rss_kb(rss.pid);
        s_pair_alive(&pair);
        for (size_t i = 0; i < N; i++)
            s_auth_batch(env, &fl[i], &st);
        if (st.sent >= next_exchange) {
            char when[64];
            snprintf(when, sizeof when, "during the flood (%zu messages sent)", st.sent);
            s_pair_exchange(&pair, when);
            next_exchange += total / 10;
        }
    }
    s_oversize(env, seed * 31 + N, &st);
    th_check(th_running(env, th_current(env)), "truc-broker died during the flood");
    s_pair_exchange(&pair, "after the flood");
    rss.after = s_rss_kb(rss.pid);

    print_message("authenticated flood: %zu malformed messages on %d sessions; answers: %zu ERROR, "
                  "%zu REJECTED, %zu ACCEPTED, %zu other; %zu fatal ERRORs, %zu sessions began "
                  "again, %zu fell silent\n",
                  st.sent, (int) N, st.errors, st.rejected, st.accepted, st.other, st.fatal,
                  st.reconnects, st.silent);
    s_print_classes("authenticated flood", st.by_class);
    s_print_codes(st.codes);
    print_message("frames over max_frame: %zu sent on sessions of their own, %zu answers, %zu "
                  "ACCEPTED\n",
                  st.oversize, st.oversize_answers, st.oversize_accepted);
    print_message("A to B: %d documents exchanged before, during and after the flood\n",
                  pair.exchanges);
    th_soft(env, st.errors + st.rejected > 0, "the flood got no ERROR and no REJECTED at all");
    th_soft(env, st.oversize_accepted == 0, "%zu frame(s) over max_frame were ACCEPTED",
            st.oversize_accepted);
    s_rss_check(env, "truc-broker", &rss);
    for (size_t i = 0; i < N; i++)
        hostile_gen_destroy(&fl[i].g);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  c) The agent's local API

typedef struct {
    size_t sent, by_class[HOSTILE_CLASS_COUNT], oversize;
    size_t replies, ok, failed, codes[S_NCODES], malformed, extra;
} s_api_t;

static char *s_id_copy(const ah_reply_t *r, const char *path, char out[PROTO_ID_TEXT_LEN])
{
    const char *id = ah_str(r->map, path);
    th_check(id && strlen(id) == 36, "no id at %s in %s", path, ah_show(r->map));
    memcpy(out, id, 37);
    return out;
}

static bool s_lists_id(const ah_reply_t *r, void *arg)
{
    int64_t n = ah_count(r->map, "documents");
    for (int64_t i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof path, "documents[%" PRId64 "].id", i);
        if (ah_str_is(r->map, path, arg))
            return true;
    }
    return false;
}

static bool s_delivered(const ah_reply_t *r, void *arg)
{
    (void) arg;
    return ah_str_is(r->map, "document.recipients[0].state", "delivered");
}

//  A sends a document to B through the agents: submit on A, B's inbox lists
//  it (B takes it: ack), A's sent shows it delivered.
static void s_agents_exchange(ah_agent_t *a, ah_agent_t *b, int *exchanges)
{
    const char *to[] = { ah_agent_code(b) };
    uint8_t bytes[2000];
    randombytes_buf(bytes, sizeof bytes);
    ah_reply_t *r = ah_call(a,
                            "{cmd:s doc:{to:A type:s subject:s urgency:s} "
                            "attachments:[{name:s type:s data:x}]}",
                            "submit", to, (size_t) 1, S_TYPE, S_SUBJECT, "urgent", "cong-van.pdf",
                            "application/pdf", bytes, sizeof bytes);
    ah_expect_ok(r, "submit of the well-behaved pair");
    char id[PROTO_ID_TEXT_LEN];
    s_id_copy(r, "id", id);
    ah_reply_destroy(&r);
    r = ah_poll(b, s_lists_id, id, "B's inbox lists A's document", "{cmd:s unread:b limit:i}",
                "inbox", 1, 1000);
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s id:s}", "ack", id);
    ah_expect_ok(r, "B takes A's document");
    ah_reply_destroy(&r);
    r = ah_poll(a, s_delivered, NULL, "A's sent shows the document delivered", "{cmd:s id:s}",
                "sent", id);
    ah_reply_destroy(&r);
    (*exchanges)++;
}

static void s_send_msg(void *socket, const hostile_msg_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        th_check(zmq_send(socket, m->frames[i], m->lens[i], i + 1 < m->n ? ZMQ_SNDMORE : 0) >= 0,
                 "zmq_send: %s", zmq_strerror(zmq_errno()));
}

//  One reply on the DEALER: an empty delimiter, then one msgpack map with
//  a bool ok (and a code when it is false).
static void s_api_reply(th_env_t *env, void *dealer, s_api_t *st)
{
    zmq_msg_t frames[4];
    size_t n = 0;
    int more = 1;
    while (more) {
        zmq_msg_t spare, *into = n < 4 ? &frames[n] : &spare;
        zmq_msg_init(into);
        th_check(zmq_msg_recv(into, dealer, 0) >= 0, "recv: %s", zmq_strerror(zmq_errno()));
        more = zmq_msg_more(into);
        if (n < 4)
            n++;
        else
            zmq_msg_close(&spare);
    }
    st->replies++;
    bool good = n == 2 && zmq_msg_size(&frames[0]) == 0;
    if (good) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        good = msgpack_unpack_next(&u, zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]), &off) ==
                   MSGPACK_UNPACK_SUCCESS &&
               off == zmq_msg_size(&frames[1]) && u.data.type == MSGPACK_OBJECT_MAP;
        int ok = good ? ah_bool(&u.data, "ok") : -1;
        int64_t code = good ? ah_int(&u.data, "code") : -1;
        good = good && (ok == 1 || (ok == 0 && code > 0 && code < 600));
        if (ok == 1)
            st->ok++;
        else if (good) {
            st->failed++;
            st->codes[code]++;
        }
        msgpack_unpacked_destroy(&u);
    }
    if (!good) {
        st->malformed++;
        th_soft_fail(env, __FILE__, __LINE__,
                     "a reply of %zu frame(s) is not a delimiter and "
                     "one reply map",
                     n);
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&frames[i]);
}

//  A frame over api.max_request makes libzmq drop the connection: it goes
//  on a socket of its own, which lingers until it is sent.
static void s_api_oversize(ah_env_t *env, const char *endpoint, const hostile_msg_t *m)
{
    void *socket = ah_socket(env, ZMQ_DEALER);
    int linger = 5000;
    zmq_setsockopt(socket, ZMQ_LINGER, &linger, sizeof linger);
    th_check(zmq_connect(socket, endpoint) == 0, "connect %s", endpoint);
    s_send_msg(socket, m);
    ah_socket_close(env, &socket);
}

//  Attachment paths the agent must refuse without blocking: a FIFO (open
//  would wait for a writer), a directory, a device, a sparse file far over
//  the limit. Each is answered, and the agent goes on.
static void s_hostile_paths(ah_env_t *env, ah_agent_t *a)
{
    char fifo[TH_PATH_MAX + 16], dir[TH_PATH_MAX + 16], huge[TH_PATH_MAX + 16];
    snprintf(fifo, sizeof fifo, "%s/fifo", env->th->root);
    snprintf(dir, sizeof dir, "%s/a-directory", env->th->root);
    snprintf(huge, sizeof huge, "%s/huge.pdf", env->th->root);
    th_check(mkfifo(fifo, 0600) == 0 && mkdir(dir, 0700) == 0, "mkfifo, mkdir: %s",
             strerror(errno));
    int fd = open(huge, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    th_check(fd >= 0 && ftruncate(fd, (off_t) 1 << 40) == 0 && close(fd) == 0, "a sparse file: %s",
             strerror(errno));
    const struct {
        const char *path;
        proto_err_t code;
    } cases[] = {
        { fifo, PROTO_ERR_IO },
        { dir, PROTO_ERR_IO },
        //  Outside api.allowed_dirs (the test root): refused before opening.
        { "/dev/zero", PROTO_ERR_NOT_AUTHORIZED },
        { huge, PROTO_ERR_TOO_LARGE },
    };
    const char *to[] = { th_code(TH_C) };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ah_reply_t *r = ah_call(a,
                                "{cmd:s doc:{to:A type:s subject:s} "
                                "attachments:[{name:s type:s path:s}]}",
                                "submit", to, (size_t) 1, S_TYPE, S_SUBJECT, "x.pdf",
                                "application/pdf", cases[i].path);
        ah_expect_error(r, cases[i].code, "attachments[0]", cases[i].path);
        ah_reply_destroy(&r);
    }
}

static void test_hostile_agent_api(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    pid_t broker = env->th->pid;
    const char *sets[] = { "api.max_request=65536", "api.max_document=4096", NULL };
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, sets);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_wait_directory(a);
    ah_wait_directory(b);
    int exchanges = 0;
    s_agents_exchange(a, b, &exchanges);

    //  Documents the requests can name: one A sent (to C, who has no agent,
    //  so an accidental revoke or recall of it touches nothing else) and one
    //  A received from B.
    const char *to_c[] = { th_code(TH_C) }, *to_a[] = { ah_agent_code(a) };
    char sent_id[PROTO_ID_TEXT_LEN], received_id[PROTO_ID_TEXT_LEN];
    ah_reply_t *r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s}}", "submit", to_c, (size_t) 1,
                            S_TYPE, S_SUBJECT);
    ah_expect_ok(r, "submit to C");
    s_id_copy(r, "id", sent_id);
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s doc:{to:A type:s subject:s}}", "submit", to_a, (size_t) 1, S_TYPE,
                S_SUBJECT);
    ah_expect_ok(r, "submit from B to A");
    s_id_copy(r, "id", received_id);
    ah_reply_destroy(&r);
    r = ah_poll(a, s_lists_id, received_id, "A's inbox lists B's document", "{cmd:s limit:i}",
                "inbox", 1000);
    ah_reply_destroy(&r);

    hostile_gen_t *g = hostile_gen_new(s_seed(3));
    th_check(g != NULL, "out of memory");
    hostile_gen_set_max_frame(g, S_MAX_FRAME);
    hostile_gen_set_path_root(g, env->th->root);
    s_seed_request_corpus(g);
    //  Requests for every command, naming this environment's agencies and
    //  documents, addressed to C so that accidental valid ones stay aside.
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    uint8_t bytes[300];
    randombytes_buf(bytes, sizeof bytes);
    const char *to_c2[] = { th_code(TH_C), th_code(TH_D) };
#define S_REQUEST(...)                                                                             \
    do {                                                                                           \
        msgpack_sbuffer_clear(&buf);                                                               \
        ah_pack(&buf, __VA_ARGS__);                                                                \
        th_check(hostile_gen_add_request(g, buf.data, buf.size), "add a request seed");            \
    } while (0)
    S_REQUEST("{cmd:s}", "health");
    S_REQUEST("{cmd:s}", "directory");
    S_REQUEST("{cmd:s}", "quarantine");
    S_REQUEST("{cmd:s after:i limit:i}", "events", 0, 10);
    S_REQUEST("{cmd:s unread:b since:i sender:s urgency:i after:i limit:i}", "inbox", 1, 0,
              th_code(TH_B), 0, 0, 20);
    S_REQUEST("{cmd:s id:s}", "fetch", received_id);
    S_REQUEST("{cmd:s id:s}", "ack", received_id);
    S_REQUEST("{cmd:s id:s code:i note:s staff:{name:s department:s phone:s email:s}}", "status",
              received_id, 3, "Đã vào sổ", "Trần Thị B", "Văn thư", "024 3825 1234",
              "vanthu@example.vn");
    S_REQUEST("{cmd:s id:s to:A note:s}", "recall", sent_id, to_c, (size_t) 1, "Đề nghị trả lại");
    S_REQUEST("{cmd:s limit:i}", "sent", 20);
    S_REQUEST("{cmd:s id:s}", "sent", sent_id);
    S_REQUEST("{cmd:s doc:{to:A type:s subject:s number:s notation:s urgency:s date:s "
              "signer:{name:s position:s} places:A ext:{acme.no:s}} "
              "attachments:[{name:s type:s data:x}]}",
              "submit", to_c2, (size_t) 2, S_TYPE, S_SUBJECT, "12", "UBND-VP", "very-urgent",
              "2025-11-20", "Nguyễn Văn A", "Chủ tịch", to_c, (size_t) 1, "2025/12", "cv.pdf",
              "application/pdf", bytes, sizeof bytes);
    S_REQUEST("{cmd:s refs:[s] reason:s}", "revoke", sent_id, "Ban hành nhầm");
    S_REQUEST("{cmd:s refs:[s] reason:s doc:{to:A type:s subject:s due:s}}", "update", sent_id,
              "Sửa hạn", to_c, (size_t) 1, S_TYPE, S_SUBJECT, "2026-01-15");
    S_REQUEST("{cmd:s refs:[s] reason:s doc:{to:A type:s subject:s} "
              "attachments:[{name:s type:s data:x}]}",
              "replace", sent_id, "Thay thế", to_c, (size_t) 1, S_TYPE, S_SUBJECT, "cv.pdf",
              "application/pdf", bytes, (size_t) 100);
#undef S_REQUEST
    msgpack_sbuffer_destroy(&buf);

    s_rss_t rss_agent = { .pid = ah_agent_pid(a) }, rss_broker = { .pid = broker };
    rss_agent.before = s_rss_kb(rss_agent.pid);
    rss_broker.before = s_rss_kb(rss_broker.pid);
    void *dealer = ah_socket(env, ZMQ_DEALER);
    th_check(zmq_connect(dealer, ah_agent_endpoint(a)) == 0, "connect to %s", ah_agent_endpoint(a));
    s_api_t st;
    memset(&st, 0, sizeof st);
    size_t total = 3000 * (size_t) s_scale, next_exchange = total / 10;
    while (st.sent + st.oversize < total) {
        if (!rss_agent.warm && st.sent + st.oversize >= total / 5) {
            rss_agent.warm = s_rss_kb(rss_agent.pid);
            rss_broker.warm = s_rss_kb(rss_broker.pid);
        }
        size_t expected = 0;
        for (int i = 0; i < S_API_BATCH; i++) {
            const hostile_msg_t *m = hostile_gen_request(g);
            st.by_class[m->cls]++;
            if (m->cls == HOSTILE_OVERSIZE) {
                s_api_oversize(env, ah_agent_endpoint(a), m);
                st.oversize++;
                continue;
            }
            s_send_msg(dealer, m);
            st.sent++;
            expected++;
        }
        //  Every request is answered, once.
        for (size_t got = 0; got < expected; got++) {
            zmq_pollitem_t item = { dealer, 0, ZMQ_POLLIN, 0 };
            th_check(zmq_poll(&item, 1, AH_CALL_MS) == 1,
                     "the agent answered %zu of a batch of %zu requests within %d ms (%zu sent "
                     "so far); broker running: %s",
                     got, expected, AH_CALL_MS, st.sent,
                     th_running(env->th, th_current(env->th)) ? "yes" : "no");
            s_api_reply(env->th, dealer, &st);
        }
        if (st.sent + st.oversize >= next_exchange) {
            s_agents_exchange(a, b, &exchanges);
            next_exchange += total / 10;
        }
    }
    //  Nothing more comes: no request was answered twice.
    zmq_pollitem_t item = { dealer, 0, ZMQ_POLLIN, 0 };
    while (zmq_poll(&item, 1, TH_QUIET_MS) == 1) {
        s_api_reply(env->th, dealer, &st);
        st.extra++;
    }
    s_hostile_paths(env, a);
    s_agents_exchange(a, b, &exchanges);
    rss_agent.after = s_rss_kb(rss_agent.pid);
    rss_broker.after = s_rss_kb(rss_broker.pid);

    print_message("agent API flood: %zu requests sent on a DEALER, %zu frames over max_request on "
                  "sockets of their own; %zu replies: %zu ok, %zu failed, %zu malformed, %zu more "
                  "than one per request\n",
                  st.sent, st.oversize, st.replies, st.ok, st.failed, st.malformed, st.extra);
    s_print_classes("agent API flood", st.by_class);
    s_print_codes(st.codes);
    print_message("A to B through the agents: %d documents submitted, delivered and taken before, "
                  "during and after the flood\n",
                  exchanges);
    th_soft(env->th, st.extra == 0, "%zu replies more than requests", st.extra);
    th_soft(env->th, st.failed > 0 && st.ok > 0, "the flood got only one kind of answer");
    s_rss_check(env->th, "truc-agent A", &rss_agent);
    s_rss_check(env->th, "truc-broker", &rss_broker);
    ah_socket_close(env, &dealer);
    hostile_gen_destroy(&g);
    th_soft_done(env->th);
    ah_agent_stop(a);
    ah_agent_stop(b);
    ah_broker_stop(env);
    ah_pass(env);
}

// ---------------------------------------------------------------------------

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_hostile", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_AGENT", &ah_agent_path, NULL);
    if (rc)
        return rc;
    const char *long_run = getenv("TRUC_TEST_LONG");
    s_scale = long_run && *long_run && strcmp(long_run, "0") != 0 ? 10 : 1;
    //  Under AddressSanitizer freed blocks wait in a quarantine (256 MiB by
    //  default) before they are reused, and freed memory goes back to the
    //  system only now and then: both read as growth. The daemons these
    //  tests start keep a small quarantine, which still catches a use soon
    //  after a free, and give memory back often. Builds without ASan ignore
    //  the variable.
    const char *asan = getenv("ASAN_OPTIONS");
    char options[1024];
    snprintf(options, sizeof options,
             "%s%squarantine_size_mb=4:allocator_release_to_os_interval_ms=100", asan ? asan : "",
             asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", options, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hostile_broker_unauth, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_hostile_broker_auth, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_hostile_agent_api, ah_setup, ah_teardown),
    };
    return th_run_tests("test_hostile", "hostile input", tests, sizeof tests / sizeof tests[0],
                        filter);
}
