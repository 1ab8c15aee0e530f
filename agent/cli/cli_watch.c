/*  cli_watch - `truc watch`: the agent's events, one line each, as they
    happen.

    A PUB socket drops what is published while nobody listens, and a new
    subscription takes a moment to reach the publisher. So with --after we
    subscribe first and then catch up through the `events` request, and
    whenever a live event's seq jumps past the last one printed we ask for
    the missing ones before printing it. Each event is printed once, in
    seq order. Without --after we print what arrives, nothing more.
*/
#include "cli_watch.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "cli_agent.h"
#include "proto/mpjson.h"
#include "cli_out.h"

#define CATCH_UP_PAGE 100 // events per `events` request
#define MAX_TOPICS    16

static volatile sig_atomic_t s_stop = 0;

static void s_on_signal(int sig)
{
    (void) sig;
    s_stop = 1;
}

static const char s_watch_usage[] =
    "usage: truc watch [--after SEQ] [--topic PREFIX]... [--count N] [--events EP]\n"
    "\n"
    "Print the agent's events as they happen, one line each, until interrupted\n"
    "(Ctrl-C). With --json, one JSON object per line.\n"
    "\n"
    "  --after SEQ      first print the stored events after SEQ (0: all of them),\n"
    "                   then follow live events without missing any\n"
    "  --topic PREFIX   only events whose topic starts with PREFIX, e.g. inbox.\n"
    "                   or sent.delivered (repeatable)\n"
    "  --count N        stop after N events\n"
    "  --events EP      the events endpoint (default events.sock, see --data-dir)\n"
    "\n"
    "Topics: inbox.new, inbox.quarantined, inbox.status, sent.accepted,\n"
    "sent.rejected, sent.delivered, sent.refused, sent.expired, sent.status,\n"
    "connection. A line: time, seq, topic, then the event's fields.\n"
    "\n" CLI_GLOBAL_HELP "\n" CLI_EXIT_HELP;

typedef struct {
    const cli_opts_t *opts;
    cli_agent_t *agent;
    const char *topics[MAX_TOPICS]; // prefixes; none = everything
    int ntopics;
    bool catch_up;  // --after given: keep seq order, fill gaps
    uint64_t last;  // highest seq seen (printed or filtered out)
    uint64_t count; // stop after this many printed, 0 = never
    uint64_t printed;
} s_watch_t;

static bool s_wanted(const s_watch_t *self, const char *topic, size_t n)
{
    if (self->ntopics == 0)
        return true;
    for (int i = 0; i < self->ntopics; i++) {
        size_t len = strlen(self->topics[i]);
        if (len <= n && memcmp(self->topics[i], topic, len) == 0)
            return true;
    }
    return false;
}

static void s_value_word(const msgpack_object *v, char *buf, size_t cap)
{
    char text[1024];
    cli_value_text(v, text, sizeof text);
    bool quote = v->type == MSGPACK_OBJECT_STR && (!v->via.str.size || strpbrk(text, " \"="));
    if (!quote) {
        snprintf(buf, cap, "%s", text);
        return;
    }
    size_t o = 0;
    if (cap < 3)
        return;
    buf[o++] = '"';
    for (const char *p = text; *p && o + 3 < cap; p++) {
        if (*p == '"' || *p == '\\')
            buf[o++] = '\\';
        buf[o++] = *p;
    }
    buf[o++] = '"';
    buf[o] = '\0';
}

//  One event as a line: time, seq, topic, then its other fields as key=value.
static void s_print_text(const msgpack_object *event, const char *topic, size_t topic_len)
{
    char when[32], word[1100];
    uint64_t u;
    if (cli_get_uint(event, "time", &u))
        cli_time_text(u, true, when, sizeof when);
    else
        snprintf(when, sizeof when, "-");
    char seq[24] = "-";
    if (cli_get_uint(event, "seq", &u))
        snprintf(seq, sizeof seq, "%llu", (unsigned long long) u);
    char name[128];
    cli_text(topic, topic_len, 40, name, sizeof name);
    printf("%s  %6s  %-17s", when, seq, name);
    bool status_topic = topic_len >= 7 && memcmp(topic + topic_len - 7, ".status", 7) == 0;
    bool seq_seen = false;
    for (uint32_t i = 0; i < event->via.map.size; i++) {
        const msgpack_object *k = &event->via.map.ptr[i].key, *v = &event->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR)
            continue;
        const char *key = k->via.str.ptr;
        size_t n = k->via.str.size;
        bool is_seq = n == 3 && !memcmp(key, "seq", 3);
        if ((is_seq && !seq_seen) || (n == 4 && !memcmp(key, "time", 4)) ||
            (n == 5 && !memcmp(key, "topic", 5))) {
            seq_seen = seq_seen || is_seq;
            continue;
        }
        char label[80];
        //  sent.accepted carries the broker's seq beside the event's own.
        cli_text(is_seq ? "broker_seq" : key, is_seq ? 10 : n, 40, label, sizeof label);
        if (n == 7 && !memcmp(key, "urgency", 7) && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
            cli_urgency_name(v->via.u64))
            snprintf(word, sizeof word, "%s", cli_urgency_name(v->via.u64));
        else if (status_topic && n == 4 && !memcmp(key, "code", 4) &&
                 v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && cli_status_name(v->via.u64))
            snprintf(word, sizeof word, "%02llu(%s)", (unsigned long long) v->via.u64,
                     cli_status_name(v->via.u64));
        else
            s_value_word(v, word, sizeof word);
        printf("  %s=%s", label, word);
    }
    printf("\n");
}

//  Print one event if wanted; track the last seq. Returns false once
//  --count events are printed.
static bool s_event(s_watch_t *self, const msgpack_object *event, const char *topic,
                    size_t topic_len)
{
    uint64_t seq = 0;
    bool has_seq = cli_get_uint(event, "seq", &seq);
    const msgpack_object *t = cli_get(event, "topic");
    if (t && t->type == MSGPACK_OBJECT_STR) {
        topic = t->via.str.ptr;
        topic_len = t->via.str.size;
    }
    if (self->catch_up && has_seq) {
        if (seq <= self->last)
            return true; // printed (or passed over) already
        self->last = seq;
    }
    if (!s_wanted(self, topic, topic_len))
        return true;
    if (self->opts->json) {
        proto_mpjson_write(stdout, event, -1, PROTO_MPJSON_STRICT);
        fputc('\n', stdout);
    } else {
        s_print_text(event, topic, topic_len);
    }
    fflush(stdout);
    self->printed++;
    return !(self->count && self->printed >= self->count);
}

//  Read stored events after self->last through the API, up to `until` (0:
//  all). Returns CLI_EXIT_OK, or the call's exit code; *more is false
//  once --count is reached.
static int s_catch_up(s_watch_t *self, uint64_t until, bool *more)
{
    *more = true;
    for (;;) {
        cli_req_t *req = cli_req_new("events");
        cli_reply_t *reply = NULL;
        if (!req)
            return CLI_EXIT_LOCAL;
        cli_req_kuint(req, "after", self->last);
        cli_req_kuint(req, "limit", CATCH_UP_PAGE);
        cli_call_t how = { .stop = &s_stop };
        int status = cli_agent_call(self->agent, req, &how, &reply);
        cli_req_destroy(&req);
        if (status != CLI_EXIT_OK)
            return s_stop ? CLI_EXIT_OK : status;
        const msgpack_object *events = cli_get(cli_reply_root(reply), "events");
        uint64_t before = self->last;
        uint32_t n = events && events->type == MSGPACK_OBJECT_ARRAY ? events->via.array.size : 0;
        for (uint32_t i = 0; i < n && *more; i++) {
            const msgpack_object *e = &events->via.array.ptr[i];
            if (e->type == MSGPACK_OBJECT_MAP)
                *more = s_event(self, e, "", 0);
        }
        cli_reply_destroy(&reply);
        //  Stop at the end, at the live event that sent us here, or if the
        //  agent gave nothing new (so a confused reply cannot loop us).
        if (!*more || n == 0 || self->last == before || (until && self->last >= until - 1))
            return CLI_EXIT_OK;
    }
}

//  Print events from sub (connected to endpoint) until --count is reached,
//  a signal stops it or reading fails: after catching up first with
//  --after, and again whenever a jump in seq shows a dropped event.
static int s_watch(s_watch_t *self, void *sub, const char *endpoint)
{
    int status = CLI_EXIT_OK;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    bool more = true;
    if (self->catch_up)
        status = s_catch_up(self, 0, &more);
    if (status == CLI_EXIT_OK && more && isatty(STDERR_FILENO))
        fprintf(stderr, "truc: watching %s (Ctrl-C to stop)\n", endpoint);

    zmq_msg_t topic, body;
    zmq_msg_init(&topic);
    zmq_msg_init(&body);
    while (status == CLI_EXIT_OK && more && !s_stop) {
        zmq_pollitem_t item = { sub, 0, ZMQ_POLLIN, 0 };
        int rc = zmq_poll(&item, 1, 1000);
        if (rc < 0 && zmq_errno() != EINTR) {
            fprintf(stderr, "truc: reading events failed: %s\n", zmq_strerror(zmq_errno()));
            status = CLI_EXIT_UNREACHABLE;
            break;
        }
        if (rc <= 0)
            continue;
        if (zmq_msg_recv(&topic, sub, ZMQ_DONTWAIT) < 0)
            continue;
        if (!zmq_msg_more(&topic))
            continue; // not an event: a topic frame alone
        if (zmq_msg_recv(&body, sub, ZMQ_DONTWAIT) < 0)
            continue;
        while (zmq_msg_more(&body)) // extra frames: none are defined, drop them
            if (zmq_msg_recv(&body, sub, ZMQ_DONTWAIT) < 0)
                break;
        msgpack_unpacked unpacked;
        msgpack_unpacked_init(&unpacked);
        size_t offset = 0;
        if (msgpack_unpack_next(&unpacked, zmq_msg_data(&body), zmq_msg_size(&body), &offset) ==
                MSGPACK_UNPACK_SUCCESS &&
            unpacked.data.type == MSGPACK_OBJECT_MAP) {
            uint64_t seq;
            if (self->catch_up && cli_get_uint(&unpacked.data, "seq", &seq) && seq > self->last + 1)
                status = s_catch_up(self, seq, &more);
            if (status == CLI_EXIT_OK && more)
                more = s_event(self, &unpacked.data, zmq_msg_data(&topic), zmq_msg_size(&topic));
        }
        msgpack_unpacked_destroy(&unpacked);
    }
    zmq_msg_close(&topic);
    zmq_msg_close(&body);
    return status;
}

int cli_watch(cli_opts_t *opts, int argc, char **argv)
{
    static const struct option options[] = {
        { "after", required_argument, NULL, 'a' },
        { "topic", required_argument, NULL, 't' },
        { "count", required_argument, NULL, 'c' },
        { "events", required_argument, NULL, 'e' },
        CLI_GLOBAL_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    s_watch_t self = { .opts = opts };
    const char *events_ep = NULL;
    int opt, status = CLI_EXIT_OK;

    cli_parser_t p;
    cli_parser_init(&p, "watch", s_watch_usage, options, opts, argc, argv);
    while (status == CLI_EXIT_OK && (opt = cli_parser_next(&p)) != -1) {
        switch (opt) {
        case 'a':
            self.catch_up = cli_parse_uint(optarg, 0, UINT64_MAX, &self.last);
            if (!self.catch_up)
                status = cli_usage_error("watch", "--after '%s' is not a sequence number", optarg);
            break;
        case 't':
            if (self.ntopics == MAX_TOPICS)
                status = cli_usage_error("watch", "at most %d --topic options", MAX_TOPICS);
            else
                self.topics[self.ntopics++] = optarg;
            break;
        case 'c':
            if (!cli_parse_uint(optarg, 1, UINT64_MAX, &self.count))
                status = cli_usage_error("watch", "--count '%s' is not a positive number", optarg);
            break;
        default:
            if (!strstr(optarg, "://"))
                status = cli_usage_error("watch",
                                         "--events '%s' is not a ZeroMQ endpoint (like "
                                         "ipc:///path/events.sock)",
                                         optarg);
            events_ep = optarg;
        }
    }
    if (p.stop)
        return p.status;
    if (status != CLI_EXIT_OK)
        return status;
    if (cli_parser_npos(&p) > 0)
        return cli_usage_error("watch", "unexpected argument '%s'", cli_parser_pos(&p, 0));

    char endpoint[4200];
    if (events_ep)
        snprintf(endpoint, sizeof endpoint, "%s", events_ep);
    else
        cli_endpoint_in(opts, "events.sock", endpoint, sizeof endpoint);
    status = cli_endpoint_check(endpoint, events_ep ? "--events" : "--data-dir");
    if (status != CLI_EXIT_OK)
        return status;

    self.agent = cli_agent_new(opts);
    void *sub = self.agent ? zmq_socket(cli_agent_zmq(self.agent), ZMQ_SUB) : NULL;
    if (!sub) {
        fprintf(stderr, "truc: cannot start ZeroMQ (out of memory?)\n");
        cli_agent_destroy(&self.agent);
        return CLI_EXIT_LOCAL;
    }
    int zero = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &zero, sizeof zero);
    //  Live only, filter at the publisher (the first frame is the topic).
    //  With --after we take every event, so that a jump in seq means a
    //  dropped event and not merely one of another topic; s_event filters.
    if (self.ntopics == 0 || self.catch_up)
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    else
        for (int i = 0; i < self.ntopics; i++)
            zmq_setsockopt(sub, ZMQ_SUBSCRIBE, self.topics[i], strlen(self.topics[i]));
    if (zmq_connect(sub, endpoint) != 0) {
        fprintf(stderr, "truc: cannot connect to %s: %s: is %s right?\n", endpoint,
                zmq_strerror(zmq_errno()), events_ep ? "--events" : "--data-dir");
        zmq_close(sub);
        cli_agent_destroy(&self.agent);
        return CLI_EXIT_UNREACHABLE;
    }

    status = s_watch(&self, sub, endpoint);
    zmq_close(sub);
    cli_agent_destroy(&self.agent);
    return status;
}
