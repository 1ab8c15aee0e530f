/*  tests/proof/test_network.c - the network trouble suite: real truc
    agents and a real truc-broker, with a TCP proxy between them
    (tests/proof/netproxy.h) that cuts, blackholes, drops and refuses.

    Every test starts a broker with a 2 s heartbeat (a silent path is
    noticed within 3 heartbeats) and agents that reach it only through
    proxies, troubles the path while documents flow, lets the path recover,
    and then checks outcomes through the agents' local API, as a DMS would
    (agent/API.md):

      1. disconnect_mid_transfer: documents with attachments of 2 to 8 MiB
         go from A to B and C. The sender's path and the recipients' path
         are each reset several times, each time just after a few hundred
         KiB to a few MiB more went through it, so every cut falls in the
         middle of a submission or a delivery.
      2. heartbeats_lost: the paths are blackholed (nothing moves, nothing
         closes), and in another round drop every byte, for longer than
         the heartbeat timeout while documents are submitted. Every agent
         must report the broker lost (health, `connection` event) and the
         broker must drop their sessions; then the paths return. A last
         round loses only what the sender sends, while receipts for it
         still arrive: its acknowledgements are lost with its heartbeats.
      3. broker_disappears: the broker is stopped with SIGTERM, and in a
         second round killed with SIGKILL, while agents submit and receive;
         it stays down until every agent has noticed and a while longer,
         then starts again on the same endpoint. Its audit chain must
         verify afterwards.
      4. flapping_link: both paths (senders', recipients') switch on their
         own between pass, cut, blackhole (both ways or one way), drop and
         refuse every fraction of a second to a few seconds, while A and B
         stream a few hundred small documents to C and D.

    After each test every document is in every recipient's inbox exactly
    once (inbox entries and inbox.new events, counted per id), and the
    sender holds, for every document, `sent` with every recipient delivered,
    exactly one DELIVERED receipt per recipient and one sent.delivered event
    per recipient (PROTOCOL.md 4.5: the agency sees each exactly once).
    The broker still runs, and no broker or agent logged an error or a
    sanitizer report.

    Each test prints its counts: documents, cuts, connections the agents
    made again, deliveries. TRUC_TEST_LONG=1 makes every test longer and
    bigger. No assertion depends on speed: waits poll, and fail only when
    nothing moves for a long time (S_STALL_MS) or a harness deadline
    passes.

    Usage: test_network TRUC_BROKER TRUC_KEYS TRUC_AGENT TRUC_ADMIN [TEST_NAME]
    (or TRUC_BROKER, TRUC_KEYS, TRUC_AGENT and TRUC_ADMIN in the
    environment).
*/
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "agent_harness.h"
#include "netproxy.h"
#include "proto/msg.h"

#define S_TYPE        "Công văn"
#define S_MIB         (1024u * 1024u)
#define S_STALL_MS    90000 // no document moved anywhere for this long: stuck
#define S_TICK_MS     200   // pause between two looks at the agents
#define S_MAX_PROXIES 4
#define S_ADMIN_OUT   (64 * 1024)

//  Ids as text, and "id agency" pairs.
typedef char s_text_t[64];

static const char *s_admin_path; // truc-admin, from argv or TRUC_ADMIN

static uint64_t s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static bool s_long(void)
{
    const char *v = getenv("TRUC_TEST_LONG");
    return v && *v && strcmp(v, "0") != 0;
}

//  A random number in [lo, hi].
static uint32_t s_uniform(uint32_t lo, uint32_t hi)
{
    return lo + randombytes_uniform(hi - lo + 1);
}

static unsigned s_bit(th_agency_t who)
{
    return 1u << who;
}

static double s_mib(uint64_t bytes)
{
    return (double) bytes / S_MIB;
}

// ---------------------------------------------------------------------------
//  What a test started, for the teardown: proxies, the flapper, the ledger

static netproxy_t *s_proxies[S_MAX_PROXIES];

//  A proxy to the broker's endpoint, destroyed by the teardown.
static netproxy_t *s_proxy(ah_env_t *env)
{
    int slot = -1;
    for (int i = 0; i < S_MAX_PROXIES && slot < 0; i++)
        if (!s_proxies[i])
            slot = i;
    th_check(slot >= 0, "too many proxies in one test");
    netproxy_t *p = netproxy_new(env->broker_endpoint);
    th_check(p != NULL, "cannot start a proxy to %s", env->broker_endpoint);
    s_proxies[slot] = p;
    return p;
}

//  One path of the flapping test and what was done to it.
typedef struct {
    netproxy_t *proxy;
    uint64_t until; // when the current state ends
    unsigned passes, cuts, blackholes, one_way, drops, refusals;
} s_flap_link_t;

typedef struct {
    s_flap_link_t links[2];
    size_t nlinks;
    pthread_t thread;
    bool running;
    atomic_bool stop;
} s_flapper_t;

static s_flapper_t s_flap;

//  Every document a test sent: who sent it, to whom.
typedef struct {
    char id[40];
    th_agency_t from;
    unsigned to; // s_bit of each recipient
} s_doc_t;

typedef struct {
    ah_env_t *env;
    ah_agent_t *agent[TH_NAGENCIES]; // NULL for agencies without an agent
    s_doc_t *docs;
    size_t ndocs, cap;
} s_ledger_t;

static s_ledger_t s_book;

static void s_flap_stop(void);

static int s_setup(void **state)
{
    memset(&s_book, 0, sizeof s_book);
    int rc = ah_setup(state);
    s_book.env = *state;
    return rc;
}

static int s_teardown(void **state)
{
    s_flap_stop();
    for (int i = 0; i < S_MAX_PROXIES; i++)
        netproxy_destroy(&s_proxies[i]);
    free(s_book.docs);
    memset(&s_book, 0, sizeof s_book);
    return ah_teardown(state);
}

// ---------------------------------------------------------------------------
//  Agents and documents

//  Start the agent of `who`, reaching the broker through `via`.
static ah_agent_t *s_agent(s_ledger_t *l, th_agency_t who, netproxy_t *via)
{
    ah_agent_t *a = ah_agent_new(l->env, who, netproxy_endpoint(via), 0, NULL);
    ah_agent_start(a);
    l->agent[who] = a;
    return a;
}

static void s_wait_all_connected(s_ledger_t *l, bool connected)
{
    for (int w = 0; w < TH_NAGENCIES; w++)
        if (l->agent[w])
            ah_wait_connected(l->agent[w], connected);
}

//  Submit a document from `from` to the agencies in `to`, with one
//  attachment read from path or given inline (data, len); keep its id.
static void s_submit(s_ledger_t *l, th_agency_t from, unsigned to, const char *path,
                     const void *data, size_t len)
{
    ah_agent_t *a = l->agent[from];
    th_check(a != NULL, "no agent for %s", th_code(from));
    const char *codes[TH_NAGENCIES];
    size_t nto = 0;
    for (int w = 0; w < TH_NAGENCIES; w++)
        if (to & s_bit((th_agency_t) w))
            codes[nto++] = th_code((th_agency_t) w);
    char subject[128];
    snprintf(subject, sizeof subject, "Văn bản thử đường truyền số %zu", l->ndocs + 1);
    ah_reply_t *r;
    if (path)
        r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s path:s}]}",
                    "submit", codes, nto, S_TYPE, subject, "van-ban.pdf", "application/pdf", path);
    else
        r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s data:x}]}",
                    "submit", codes, nto, S_TYPE, subject, "van-ban.pdf", "application/pdf", data,
                    len);
    ah_expect_ok(r, "submit");
    const char *id = ah_str(r->map, "id");
    proto_id_t parsed;
    th_check(id && strlen(id) == 36 && proto_id_parse(id, &parsed) == PROTO_OK,
             "submit: no document id in %s", ah_show(r->map));
    if (l->ndocs == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        s_doc_t *grown = realloc(l->docs, cap * sizeof *grown);
        th_check(grown != NULL, "out of memory");
        l->docs = grown;
        l->cap = cap;
    }
    s_doc_t *d = &l->docs[l->ndocs++];
    snprintf(d->id, sizeof d->id, "%s", id);
    d->from = from;
    d->to = to;
    ah_reply_destroy(&r);
}

//  Submit a document with a small inline attachment (4 to 64 KiB).
static void s_submit_small(s_ledger_t *l, th_agency_t from, unsigned to)
{
    static uint8_t data[64 * 1024];
    size_t len = s_uniform(4096, sizeof data);
    randombytes_buf(data, len);
    s_submit(l, from, to, NULL, data, len);
}

//  Write `size` random bytes to path.
static void s_write_random(const char *path, size_t size)
{
    static uint8_t chunk[256 * 1024];
    FILE *f = fopen(path, "wb");
    th_check(f != NULL, "cannot write %s: %s", path, strerror(errno));
    for (size_t done = 0; done < size;) {
        size_t n = size - done < sizeof chunk ? size - done : sizeof chunk;
        randombytes_buf(chunk, n);
        size_t written = fwrite(chunk, 1, n, f);
        if (written != n) {
            fclose(f);
            th_check(false, "cannot write %s", path);
        }
        done += n;
    }
    th_check(fclose(f) == 0, "cannot write %s", path);
}

// ---------------------------------------------------------------------------
//  Reading the agents: inbox, events, sent

static int s_cmp_text(const void *x, const void *y)
{
    return strcmp(x, y);
}

typedef struct {
    s_text_t *items;
    size_t n, cap;
} s_list_t;

static void s_list_add(s_list_t *list, const char *text)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 256;
        s_text_t *grown = realloc(list->items, cap * sizeof *grown);
        th_check(grown != NULL, "out of memory");
        list->items = grown;
        list->cap = cap;
    }
    snprintf(list->items[list->n++], sizeof(s_text_t), "%s", text);
}

static void s_list_sort(s_list_t *list)
{
    if (list->n)
        qsort(list->items, list->n, sizeof list->items[0], s_cmp_text);
}

static void s_list_free(s_list_t *list)
{
    free(list->items);
    memset(list, 0, sizeof *list);
}

static void s_inbox_id(const msgpack_object *doc, void *arg)
{
    const char *id = ah_str(doc, "id");
    th_check(id != NULL, "inbox: an entry without id: %s", ah_show(doc));
    s_list_add(arg, id);
}

//  Every id in the inbox of a (all pages), unsorted.
static void s_inbox_ids(ah_agent_t *a, s_list_t *out)
{
    ah_inbox_each(a, s_inbox_id, out);
}

static size_t s_inbox_count(ah_agent_t *a)
{
    s_list_t ids = { 0 };
    s_inbox_ids(a, &ids);
    size_t n = ids.n;
    s_list_free(&ids);
    return n;
}

//  Call fn on every stored event of a, oldest first.
static void s_events_each(ah_agent_t *a, ah_each_fn *fn, void *arg)
{
    uint64_t after = 0;
    ah_events_each(a, &after, fn, arg);
}

//  Collects "id" (or "id agency" when field is set) of the events of a topic.
typedef struct {
    const char *topic;
    const char *field;
    s_list_t list;
} s_collect_t;

static void s_collect_one(const msgpack_object *e, void *arg)
{
    s_collect_t *c = arg;
    if (!ah_str_is(e, "topic", c->topic))
        return;
    const char *id = ah_str(e, "id");
    th_check(id != NULL, "event %s without id: %s", c->topic, ah_show(e));
    char text[sizeof(s_text_t)];
    if (c->field) {
        const char *value = ah_str(e, c->field);
        th_check(value != NULL, "event %s without %s: %s", c->topic, c->field, ah_show(e));
        snprintf(text, sizeof text, "%.40s %.13s", id, value);
    } else {
        snprintf(text, sizeof text, "%s", id);
    }
    s_list_add(&c->list, text);
}

//  The agent's connection events: how often it got READY and lost the broker.
typedef struct {
    size_t up, down;
} s_links_t;

static void s_links_one(const msgpack_object *e, void *arg)
{
    s_links_t *links = arg;
    if (!ah_str_is(e, "topic", "connection"))
        return;
    if (ah_bool(e, "connected") == 1)
        links->up++;
    else
        links->down++;
}

static s_links_t s_links(ah_agent_t *a)
{
    s_links_t links = { 0, 0 };
    s_events_each(a, s_links_one, &links);
    return links;
}

//  got must hold exactly the texts of want, each once (both sorted).
static void s_same_set(const s_list_t *want, const s_list_t *got, const char *what)
{
    for (size_t i = 1; i < got->n; i++)
        th_check(strcmp(got->items[i - 1], got->items[i]) != 0, "%s: %s appears twice", what,
                 got->items[i]);
    size_t i = 0, k = 0, missing = 0, extra = 0;
    const char *first_missing = NULL, *first_extra = NULL;
    while (i < want->n || k < got->n) {
        int cmp = i == want->n ? 1 : k == got->n ? -1 : strcmp(want->items[i], got->items[k]);
        if (cmp == 0) {
            i++;
            k++;
        } else if (cmp < 0) {
            if (!missing++)
                first_missing = want->items[i];
            i++;
        } else {
            if (!extra++)
                first_extra = got->items[k];
            k++;
        }
    }
    th_check(missing == 0 && extra == 0,
             "%s: %zu entries for %zu expected; %zu missing (first %s), %zu unexpected (first %s)",
             what, got->n, want->n, missing, first_missing ? first_missing : "-", extra,
             first_extra ? first_extra : "-");
}

//  The ids of the documents sent to who, sorted.
static void s_expected(const s_ledger_t *l, th_agency_t who, s_list_t *out)
{
    for (size_t i = 0; i < l->ndocs; i++)
        if (l->docs[i].to & s_bit(who))
            s_list_add(out, l->docs[i].id);
    s_list_sort(out);
}

static size_t s_expected_count(const s_ledger_t *l, th_agency_t who)
{
    size_t n = 0;
    for (size_t i = 0; i < l->ndocs; i++)
        n += (l->docs[i].to & s_bit(who)) != 0;
    return n;
}

// ---------------------------------------------------------------------------
//  Reports and the end checks

static void s_print_proxy(const char *test, const char *name, netproxy_t *p)
{
    netproxy_stats_t st;
    netproxy_stats(p, &st);
    th_print("%s: path %s: %" PRIu64 " connections accepted, %" PRIu64 " refused at once, %" PRIu64
             " found no broker; %" PRIu64 " cuts reset %" PRIu64 " connections (%" PRIu64
             " carrying bytes); %.1f MiB up, %.1f MiB down, %.1f MiB dropped",
             test, name, st.accepted, st.refused, st.upstream_failed, st.cuts, st.cut_conns,
             st.cut_busy, s_mib(st.bytes_up), s_mib(st.bytes_down), s_mib(st.bytes_dropped));
}

//  Connections each agent made again, and times it lost the broker.
static size_t s_print_links(const char *test, s_ledger_t *l)
{
    size_t reconnects = 0;
    for (int w = 0; w < TH_NAGENCIES; w++) {
        if (!l->agent[w])
            continue;
        s_links_t links = s_links(l->agent[w]);
        size_t again = links.up ? links.up - 1 : 0;
        reconnects += again;
        th_print("%s: agent of %s: lost the broker %zu times, connected again %zu times", test,
                 th_code((th_agency_t) w), links.down, again);
    }
    return reconnects;
}

//  Health of every agent and inbox progress, for a test that is stuck.
static void s_print_state(s_ledger_t *l)
{
    for (int w = 0; w < TH_NAGENCIES; w++) {
        if (!l->agent[w])
            continue;
        ah_reply_t *r = ah_call(l->agent[w], "{cmd:s}", "health");
        th_print("agent of %s: inbox %zu of %zu; health %s", th_code((th_agency_t) w),
                 s_inbox_count(l->agent[w]), s_expected_count(l, (th_agency_t) w), ah_show(r->map));
        ah_reply_destroy(&r);
    }
    for (int i = 0; i < S_MAX_PROXIES; i++)
        if (s_proxies[i]) {
            char name[16];
            snprintf(name, sizeof name, "%d", i);
            s_print_proxy("stuck", name, s_proxies[i]);
        }
}

//  Wait until every inbox holds at least the documents sent to it. Fails
//  when no inbox grew for S_STALL_MS.
static void s_wait_inboxes(s_ledger_t *l)
{
    uint64_t last_progress = s_now();
    size_t best = 0;
    for (;;) {
        size_t total = 0;
        bool all = true;
        for (int w = 0; w < TH_NAGENCIES; w++) {
            size_t want = s_expected_count(l, (th_agency_t) w);
            if (!want)
                continue;
            th_check(l->agent[w] != NULL, "documents for %s, which has no agent",
                     th_code((th_agency_t) w));
            size_t n = s_inbox_count(l->agent[w]);
            total += n < want ? n : want;
            all = all && n >= want;
        }
        if (all)
            return;
        if (total > best) {
            best = total;
            last_progress = s_now();
        }
        if (s_now() - last_progress > S_STALL_MS) {
            s_print_state(l);
            th_check(false, "no document arrived anywhere for %d ms (%zu deliveries done)",
                     S_STALL_MS, best);
        }
        th_sleep_ms(S_TICK_MS);
    }
}

//  Exactly once at every recipient: the inbox lists each document sent to
//  it once and nothing else, and inbox.new came once for each. Returns the
//  number of deliveries.
static size_t s_check_inboxes(s_ledger_t *l)
{
    size_t delivered = 0;
    for (int w = 0; w < TH_NAGENCIES; w++) {
        if (!l->agent[w])
            continue;
        s_list_t want = { 0 }, got = { 0 };
        s_expected(l, (th_agency_t) w, &want);
        s_inbox_ids(l->agent[w], &got);
        s_list_sort(&got);
        char what[96];
        snprintf(what, sizeof what, "inbox of %s", th_code((th_agency_t) w));
        s_same_set(&want, &got, what);
        s_collect_t events = { "inbox.new", NULL, { 0 } };
        s_events_each(l->agent[w], s_collect_one, &events);
        s_list_sort(&events.list);
        snprintf(what, sizeof what, "inbox.new events of %s", th_code((th_agency_t) w));
        s_same_set(&want, &events.list, what);
        delivered += want.n;
        s_list_free(&want);
        s_list_free(&got);
        s_list_free(&events.list);
    }
    return delivered;
}

//  `sent ID` says accepted and every recipient delivered.
static bool s_sent_done(const ah_reply_t *r, void *arg)
{
    (void) arg;
    const msgpack_object *d = ah_get(r->map, "document");
    int64_t n = ah_count(d, "recipients");
    if (!ah_is_ok(r) || !ah_str_is(d, "state", "accepted") || n < 1)
        return false;
    for (int64_t i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof path, "recipients[%d].state", (int) i);
        if (!ah_str_is(d, path, "delivered"))
            return false;
    }
    return true;
}

//  Wait until every sender holds every recipient delivered for each of its
//  documents. Like s_wait_inboxes it fails only when nothing moves for
//  S_STALL_MS: a push lost on a live session comes again only after the
//  broker's re-push delay, which a fixed deadline could race.
static void s_wait_senders(s_ledger_t *l)
{
    uint64_t last_progress = s_now();
    size_t done = 0; // documents 0 .. done-1 are settled
    while (done < l->ndocs) {
        const s_doc_t *d = &l->docs[done];
        ah_reply_t *r = ah_call(l->agent[d->from], "{cmd:s id:s}", "sent", d->id);
        bool settled = s_sent_done(r, NULL);
        if (settled) {
            done++;
            last_progress = s_now();
        } else if (s_now() - last_progress > S_STALL_MS) {
            char shown[2048];
            snprintf(shown, sizeof shown, "%s", ah_show(r->map));
            ah_reply_destroy(&r);
            s_print_state(l);
            th_check(false,
                     "sent %s: not every recipient delivered, and no document settled "
                     "for %d ms (%zu of %zu settled); last reply: %s",
                     d->id, S_STALL_MS, done, l->ndocs, shown);
        }
        ah_reply_destroy(&r);
        if (!settled)
            th_sleep_ms(S_TICK_MS);
    }
}

//  Every sender holds, for each document, every recipient delivered, one
//  DELIVERED receipt per recipient and one sent.delivered event per
//  recipient. Returns the number of receipts.
static size_t s_check_senders(s_ledger_t *l)
{
    size_t receipts = 0;
    s_wait_senders(l);
    for (size_t i = 0; i < l->ndocs; i++) {
        const s_doc_t *d = &l->docs[i];
        ah_reply_t *r =
            ah_poll(l->agent[d->from], s_sent_done, NULL,
                    "sent: accepted and every recipient delivered", "{cmd:s id:s}", "sent", d->id);
        const msgpack_object *list = ah_get(r->map, "document.receipts");
        th_check(list && list->type == MSGPACK_OBJECT_ARRAY, "sent %s: no receipts in %s", d->id,
                 ah_show(r->map));
        for (int w = 0; w < TH_NAGENCIES; w++) {
            if (!(d->to & s_bit((th_agency_t) w)))
                continue;
            int count = 0;
            for (uint32_t k = 0; k < list->via.array.size; k++) {
                const msgpack_object *rc = &list->via.array.ptr[k];
                count += ah_str_is(rc, "kind", "DELIVERED") &&
                         ah_str_is(rc, "signer", th_code((th_agency_t) w));
            }
            th_check(count == 1,
                     "PROTOCOL.md 4.5: the sender keeps receipts once per (id, event, to); "
                     "%s holds %d DELIVERED receipts from %s: %s",
                     d->id, count, th_code((th_agency_t) w), ah_show(list));
            receipts++;
        }
        ah_reply_destroy(&r);
    }
    for (int s = 0; s < TH_NAGENCIES; s++) {
        if (!l->agent[s])
            continue;
        s_list_t want = { 0 };
        for (size_t i = 0; i < l->ndocs; i++)
            for (int w = 0; w < TH_NAGENCIES; w++)
                if (l->docs[i].from == (th_agency_t) s &&
                    (l->docs[i].to & s_bit((th_agency_t) w))) {
                    char text[sizeof(s_text_t)];
                    snprintf(text, sizeof text, "%.40s %.13s", l->docs[i].id,
                             th_code((th_agency_t) w));
                    s_list_add(&want, text);
                }
        s_list_sort(&want);
        s_collect_t events = { "sent.delivered", "agency", { 0 } };
        s_events_each(l->agent[s], s_collect_one, &events);
        s_list_sort(&events.list);
        char what[128];
        snprintf(what, sizeof what, "PROTOCOL.md 4.5: sent.delivered events (id agency) of %s",
                 th_code((th_agency_t) s));
        s_same_set(&want, &events.list, what);
        s_list_free(&want);
        s_list_free(&events.list);
    }
    return receipts;
}

//  The first line of a log that reports an internal failure, in out
//  (empty if none): an error-level line or a sanitizer report.
static bool s_log_failure(const char *path, char *out, size_t outlen)
{
    static const char *marks[] = { "level=error", "AddressSanitizer", "LeakSanitizer",
                                   "runtime error:" };
    static char line[4096];
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    while (!out[0] && fgets(line, sizeof line, f))
        for (size_t i = 0; i < sizeof marks / sizeof marks[0] && !out[0]; i++)
            if (strstr(line, marks[i]))
                snprintf(out, outlen, "%.400s", line);
    fclose(f);
    return out[0] != '\0';
}

//  The broker still runs, and no broker or agent logged an internal
//  failure while the network was in trouble.
static void s_check_logs(s_ledger_t *l)
{
    th_env_t *th = l->env->th;
    th_check(th_current(th) >= 0 && th_running(th, th_current(th)), "the broker is not running");
    char first[512];
    for (int i = 0; i < th->nprocs; i++)
        th_check(!s_log_failure(th->logs[i], first, sizeof first), "%s: %s", th->logs[i], first);
    for (int w = 0; w < TH_NAGENCIES; w++)
        if (l->agent[w])
            th_check(!s_log_failure(ah_agent_log(l->agent[w]), first, sizeof first), "%s: %s",
                     ah_agent_log(l->agent[w]), first);
}

// ---------------------------------------------------------------------------
//  truc-admin

//  Run truc-admin --data-dir DATA followed by args (NULL-terminated);
//  out gets what it printed. Returns its exit status, -1 if it did not
//  exit normally.
static int s_admin(ah_env_t *env, const char *const *args, char *out, size_t outlen)
{
    const char *argv[16];
    size_t n = 0;
    argv[n++] = s_admin_path;
    argv[n++] = "--data-dir";
    argv[n++] = env->th->data;
    for (size_t i = 0; args[i]; i++) {
        th_check(n + 1 < sizeof argv / sizeof argv[0], "too many truc-admin arguments");
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    int status = th_run(env->th, argv, out, outlen);
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

//  The value after "key": in truc-admin's JSON, or NULL.
static const char *s_json_value(const char *json, const char *key)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    const char *p = strstr(json, quoted);
    if (!p)
        return NULL;
    p = strchr(p + strlen(quoted), ':');
    if (!p)
        return NULL;
    p++;
    while (*p == ' ' || *p == '\n' || *p == '\t')
        p++;
    return p;
}

//  Sessions the broker holds (truc-admin status: connected).
static long s_broker_sessions(ah_env_t *env)
{
    static char out[S_ADMIN_OUT];
    int status = s_admin(env, (const char *const[]){ "--json", "status", NULL }, out, sizeof out);
    th_check(status == 0, "truc-admin status: exit status %d:\n%s", status, out);
    const char *v = s_json_value(out, "connected");
    th_check(v != NULL, "truc-admin status: no connected in:\n%s", out);
    return strtol(v, NULL, 10);
}

static void s_wait_broker_sessions(ah_env_t *env, long want)
{
    uint64_t end = s_now() + AH_WAIT_MS;
    long n;
    while ((n = s_broker_sessions(env)) != want) {
        th_check(s_now() < end, "the broker holds %ld sessions, expected %ld, after %d ms", n, want,
                 AH_WAIT_MS);
        th_sleep_ms(S_TICK_MS);
    }
}

//  truc-admin audit verify: exit status 0 and an intact chain.
static void s_audit_verify(ah_env_t *env, const char *test)
{
    static char out[S_ADMIN_OUT];
    int status =
        s_admin(env, (const char *const[]){ "--json", "audit", "verify", NULL }, out, sizeof out);
    const char *intact = s_json_value(out, "intact");
    const char *length = s_json_value(out, "length");
    th_check(status == 0 && intact && strncmp(intact, "true", 4) == 0,
             "truc-admin audit verify: exit status %d:\n%s", status, out);
    th_print("%s: truc-admin audit verify: intact, %ld entries", test,
             length ? strtol(length, NULL, 10) : -1L);
}

// ---------------------------------------------------------------------------
//  1. disconnect_mid_transfer

//  Bytes a path carries between two cuts: from a few hundred KiB (inside the
//  first frames of a document) to a few MiB (inside its attachment).
static uint64_t s_cut_gap(void)
{
    return s_uniform(256 * 1024, 3 * S_MIB);
}

static void test_disconnect_mid_transfer(void **state)
{
    static const char *test = "disconnect_mid_transfer";
    ah_env_t *env = *state;
    s_ledger_t *l = &s_book;
    bool lng = s_long();
    int ndocs = lng ? 24 : 6;
    uint64_t rounds = lng ? 12 : 4; // cuts of each path
    ah_broker_start(env);
    //  0: the sender's path, 1: the recipients' path.
    netproxy_t *path[2] = { s_proxy(env), s_proxy(env) };
    ah_agent_t *a = s_agent(l, TH_A, path[0]);
    ah_agent_t *b = s_agent(l, TH_B, path[1]);
    ah_agent_t *c = s_agent(l, TH_C, path[1]);
    ah_wait_directory(a);
    s_wait_all_connected(l, true);

    //  The cuts are armed before the documents go: each fires in the middle
    //  of whatever its path is carrying.
    for (int side = 0; side < 2; side++)
        netproxy_cut_after(path[side], s_cut_gap());
    uint64_t bytes = 0;
    for (int i = 0; i < ndocs; i++) {
        char file[TH_PATH_MAX + 32];
        snprintf(file, sizeof file, "%s/attachment-%d.bin", env->th->root, i);
        size_t size = s_uniform(2 * S_MIB, 8 * S_MIB);
        s_write_random(file, size);
        s_submit(l, TH_A, s_bit(TH_B) | s_bit(TH_C), file, NULL, 0);
        bytes += size;
    }

    //  Cut each path again and again while it carries documents, until it
    //  was cut `rounds` times or its work is done.
    uint64_t mark = 0, last_progress = s_now();
    for (;;) {
        ah_reply_t *r = ah_call(a, "{cmd:s}", "health");
        bool done[2] = { ah_int(r->map, "outbox") == 0,
                         s_inbox_count(b) >= (size_t) ndocs && s_inbox_count(c) >= (size_t) ndocs };
        ah_reply_destroy(&r);
        bool more = false;
        uint64_t moved = 0;
        for (int side = 0; side < 2; side++) {
            netproxy_stats_t st;
            netproxy_stats(path[side], &st);
            moved += st.bytes_up + st.bytes_down;
            if (done[side] || st.cuts >= rounds) {
                netproxy_cut_after(path[side], 0);
                continue;
            }
            more = true;
            if (!netproxy_cut_armed(path[side]))
                netproxy_cut_after(path[side], s_cut_gap());
        }
        if (!more)
            break;
        //  Heartbeats always move a little; documents move much more.
        if (moved - mark >= 64 * 1024) {
            mark = moved;
            last_progress = s_now();
        }
        if (s_now() - last_progress > S_STALL_MS) {
            s_print_state(l);
            th_check(false, "no document moved on either path for %d ms", S_STALL_MS);
        }
        th_sleep_ms(S_TICK_MS);
    }
    for (int side = 0; side < 2; side++)
        netproxy_cut_after(path[side], 0);

    s_wait_inboxes(l);
    size_t delivered = s_check_inboxes(l);
    size_t receipts = s_check_senders(l);
    s_check_logs(l);

    netproxy_stats_t st[2];
    for (int side = 0; side < 2; side++)
        netproxy_stats(path[side], &st[side]);
    th_print("%s: %d documents, %.1f MiB of attachments, from %s to %s and %s", test, ndocs,
             s_mib(bytes), th_code(TH_A), th_code(TH_B), th_code(TH_C));
    s_print_proxy(test, "of the sender", path[0]);
    s_print_proxy(test, "of the recipients", path[1]);
    size_t reconnects = s_print_links(test, l);
    th_print("%s: documents sent %d, cuts %" PRIu64 " (sender) + %" PRIu64
             " (recipients), reconnects observed %zu, delivered %zu (exactly once), "
             "receipts %zu",
             test, ndocs, st[0].cuts, st[1].cuts, reconnects, delivered, receipts);
    //  The test did what it claims: both paths were cut while carrying bytes.
    for (int side = 0; side < 2; side++)
        th_check(st[side].cuts >= 1 && st[side].cut_busy >= 1,
                 "the %s path was never cut in the middle of a transfer",
                 side ? "recipients'" : "sender's");
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  2. heartbeats_lost

static bool s_outbox_empty(const ah_reply_t *r, void *arg)
{
    (void) arg;
    return ah_is_ok(r) && ah_int(r->map, "outbox") == 0;
}

static void test_heartbeats_lost(void **state)
{
    static const char *test = "heartbeats_lost";
    ah_env_t *env = *state;
    s_ledger_t *l = &s_book;
    bool lng = s_long();
    static const netproxy_mode_t modes[] = { NETPROXY_BLACKHOLE, NETPROXY_DROP, NETPROXY_BLACKHOLE,
                                             NETPROXY_DROP };
    int nrounds = lng ? 4 : 2;
    int per_phase = lng ? 20 : 4;
    ah_broker_start(env);
    //  0: the sender's path, 1: the recipients' path.
    netproxy_t *path[2] = { s_proxy(env), s_proxy(env) };
    ah_agent_t *a = s_agent(l, TH_A, path[0]);
    s_agent(l, TH_B, path[1]);
    s_agent(l, TH_C, path[1]);
    ah_wait_directory(a);
    s_wait_all_connected(l, true);
    s_wait_broker_sessions(env, 3);
    unsigned to = s_bit(TH_B) | s_bit(TH_C);

    //  Both ways silent: documents submitted before and during the silence.
    for (int round = 0; round < nrounds; round++) {
        for (int i = 0; i < per_phase; i++)
            s_submit_small(l, TH_A, to);
        for (int side = 0; side < 2; side++)
            netproxy_set_mode(path[side], modes[round]);
        for (int i = 0; i < per_phase; i++)
            s_submit_small(l, TH_A, to);
        //  Both ends notice the silence: every agent, and the broker.
        s_wait_all_connected(l, false);
        s_wait_broker_sessions(env, 0);
        ah_reply_t *r = ah_call(a, "{cmd:s}", "health");
        th_print("%s: round %d (%s): every agent and the broker noticed; A: %s", test, round + 1,
                 netproxy_mode_name(modes[round]), ah_show(r->map));
        ah_reply_destroy(&r);
        for (int side = 0; side < 2; side++)
            netproxy_set_mode(path[side], NETPROXY_PASS);
        s_wait_all_connected(l, true);
    }

    //  One way: what A sends is lost, what the broker sends A arrives. The
    //  documents are accepted while B and C cannot receive; then B and C
    //  take them and acknowledge, the broker routes their receipts to A,
    //  and A's acknowledgements and heartbeats are lost. The broker drops
    //  A's session and goes silent; A notices, and on its next session is
    //  sent the unacknowledged receipts again.
    netproxy_set_mode(path[1], NETPROXY_BLACKHOLE);
    size_t first = l->ndocs;
    for (int i = 0; i < per_phase; i++)
        s_submit_small(l, TH_A, to);
    ah_reply_t *r = ah_poll(a, s_outbox_empty, NULL, "A's outbox drains", "{cmd:s}", "health");
    ah_reply_destroy(&r);
    netproxy_set_mode(path[0], NETPROXY_BLACKHOLE_UP);
    netproxy_set_mode(path[1], NETPROXY_PASS);
    ah_wait_connected(a, false);
    size_t known = 0;
    for (size_t i = first; i < l->ndocs; i++) {
        r = ah_call(a, "{cmd:s id:s}", "sent", l->docs[i].id);
        known += s_sent_done(r, NULL);
        ah_reply_destroy(&r);
    }
    th_print("%s: one way (%s on A's path): A noticed; it held receipts for %zu of %d "
             "documents before it did; the broker holds %ld sessions",
             test, netproxy_mode_name(NETPROXY_BLACKHOLE_UP), known, per_phase,
             s_broker_sessions(env));
    netproxy_set_mode(path[0], NETPROXY_PASS);
    s_wait_all_connected(l, true);
    for (int i = 0; i < per_phase; i++)
        s_submit_small(l, TH_A, to);

    s_wait_inboxes(l);
    size_t delivered = s_check_inboxes(l);
    size_t receipts = s_check_senders(l);
    s_check_logs(l);
    for (int w = 0; w < TH_NAGENCIES; w++)
        if (l->agent[w]) {
            s_links_t links = s_links(l->agent[w]);
            th_check(links.down >= (size_t) nrounds,
                     "the agent of %s reported the broker lost %zu times in %d rounds",
                     th_code((th_agency_t) w), links.down, nrounds);
        }
    s_print_proxy(test, "of the sender", path[0]);
    s_print_proxy(test, "of the recipients", path[1]);
    size_t reconnects = s_print_links(test, l);
    th_print("%s: documents sent %zu, silent rounds %d + 1 one way, cuts 0, reconnects "
             "observed %zu, delivered %zu (exactly once), receipts %zu",
             test, l->ndocs, nrounds, reconnects, delivered, receipts);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  3. broker_disappears

//  One document from each sender: A and B to C and D, C to A.
static void s_batch(s_ledger_t *l, int n)
{
    for (int i = 0; i < n; i++) {
        s_submit_small(l, TH_A, s_bit(TH_C) | s_bit(TH_D));
        s_submit_small(l, TH_B, s_bit(TH_C) | s_bit(TH_D));
        s_submit_small(l, TH_C, s_bit(TH_A));
    }
}

static void test_broker_disappears(void **state)
{
    static const char *test = "broker_disappears";
    ah_env_t *env = *state;
    s_ledger_t *l = &s_book;
    bool lng = s_long();
    static const int signals[] = { SIGTERM, SIGKILL, SIGTERM, SIGKILL };
    int nrounds = lng ? 4 : 2;
    int batch = lng ? 30 : 5;
    int down_ms = lng ? 10000 : 2000; // beyond the time the agents need to notice
    ah_broker_start(env);
    netproxy_t *path = s_proxy(env);
    ah_agent_t *a = s_agent(l, TH_A, path);
    s_agent(l, TH_B, path);
    ah_agent_t *c = s_agent(l, TH_C, path);
    s_agent(l, TH_D, path);
    ah_wait_directory(a);
    ah_wait_directory(c);
    s_wait_all_connected(l, true);
    s_batch(l, batch);
    //  Deliveries are flowing before the first stop.
    for (uint64_t end = s_now() + AH_WAIT_MS; s_inbox_count(c) == 0; th_sleep_ms(S_TICK_MS))
        th_check(s_now() < end, "nothing reached C within %d ms", AH_WAIT_MS);

    for (int round = 0; round < nrounds; round++) {
        size_t before = l->ndocs;
        s_batch(l, batch);
        if (signals[round] == SIGTERM)
            ah_broker_stop(env);
        else
            th_broker_kill(env->th);
        s_batch(l, batch);
        s_wait_all_connected(l, false);
        //  What was submitted while the broker is gone waits in the outboxes.
        ah_reply_t *r = ah_call(a, "{cmd:s}", "health");
        th_check(ah_int(r->map, "outbox") >= batch,
                 "A's outbox holds %d with the broker down, expected at least %d",
                 (int) ah_int(r->map, "outbox"), batch);
        th_print("%s: round %d: broker stopped by signal %d; every agent noticed; A: %s", test,
                 round + 1, signals[round], ah_show(r->map));
        ah_reply_destroy(&r);
        th_sleep_ms(down_ms);
        s_batch(l, batch);
        ah_broker_start(env);
        s_batch(l, batch);
        s_wait_all_connected(l, true);
        th_print("%s: round %d: broker back on %s, %zu documents submitted in the round", test,
                 round + 1, env->broker_endpoint, l->ndocs - before);
    }

    s_wait_inboxes(l);
    size_t delivered = s_check_inboxes(l);
    size_t receipts = s_check_senders(l);
    s_check_logs(l);
    s_audit_verify(env, test);
    netproxy_stats_t st;
    netproxy_stats(path, &st);
    s_print_proxy(test, "of every agent", path);
    size_t reconnects = s_print_links(test, l);
    th_print("%s: documents sent %zu, broker stops %d, cuts %" PRIu64
             ", reconnects observed %zu, delivered %zu (exactly once), receipts %zu",
             test, l->ndocs, nrounds, st.cuts, reconnects, delivered, receipts);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  4. flapping_link

//  Choose what the path does next, and for how long.
static void s_flap_next(s_flap_link_t *k, uint64_t now)
{
    uint32_t r = randombytes_uniform(100);
    netproxy_mode_t mode = NETPROXY_PASS;
    uint32_t ms;
    if (r < 35) {
        ms = s_uniform(300, 1500);
        k->passes++;
    } else if (r < 60) {
        netproxy_cut(k->proxy);
        ms = s_uniform(200, 1200);
        k->cuts++;
    } else if (r < 72) {
        mode = NETPROXY_BLACKHOLE;
        ms = s_uniform(200, 2500);
        k->blackholes++;
    } else if (r < 84) {
        mode = r < 78 ? NETPROXY_BLACKHOLE_UP : NETPROXY_BLACKHOLE_DOWN;
        ms = s_uniform(200, 2500);
        k->one_way++;
    } else if (r < 92) {
        mode = NETPROXY_DROP;
        ms = s_uniform(100, 800);
        k->drops++;
    } else {
        mode = NETPROXY_REFUSE;
        netproxy_cut(k->proxy);
        ms = s_uniform(200, 1500);
        k->refusals++;
        k->cuts++;
    }
    netproxy_set_mode(k->proxy, mode);
    k->until = now + ms;
}

static void *s_flap_run(void *arg)
{
    s_flapper_t *f = arg;
    while (!atomic_load(&f->stop)) {
        uint64_t now = s_now();
        for (size_t i = 0; i < f->nlinks; i++)
            if (now >= f->links[i].until)
                s_flap_next(&f->links[i], now);
        th_sleep_ms(20);
    }
    for (size_t i = 0; i < f->nlinks; i++)
        netproxy_set_mode(f->links[i].proxy, NETPROXY_PASS);
    return NULL;
}

static void s_flap_start(netproxy_t *const *proxies, size_t n)
{
    memset(&s_flap, 0, sizeof s_flap);
    atomic_init(&s_flap.stop, false);
    for (size_t i = 0; i < n && i < 2; i++)
        s_flap.links[s_flap.nlinks++].proxy = proxies[i];
    th_check(pthread_create(&s_flap.thread, NULL, s_flap_run, &s_flap) == 0,
             "cannot start the flapping thread");
    s_flap.running = true;
}

static void s_flap_stop(void)
{
    if (!s_flap.running)
        return;
    atomic_store(&s_flap.stop, true);
    pthread_join(s_flap.thread, NULL);
    s_flap.running = false;
}

static void test_flapping_link(void **state)
{
    static const char *test = "flapping_link";
    ah_env_t *env = *state;
    s_ledger_t *l = &s_book;
    bool lng = s_long();
    int ndocs = lng ? 1000 : 240;
    int flap_ms = lng ? 120000 : 20000;
    ah_broker_start(env);
    //  0: the senders' path, 1: the recipients' path; each flaps on its own.
    netproxy_t *path[2] = { s_proxy(env), s_proxy(env) };
    ah_agent_t *a = s_agent(l, TH_A, path[0]);
    s_agent(l, TH_B, path[0]);
    ah_agent_t *c = s_agent(l, TH_C, path[1]);
    s_agent(l, TH_D, path[1]);
    ah_wait_directory(a);
    ah_wait_directory(l->agent[TH_B]);
    s_wait_all_connected(l, true);

    s_flap_start(path, 2);
    uint64_t start = s_now();
    //  The stream spreads over the flapping.
    for (int i = 0; i < ndocs; i++) {
        static uint8_t data[4096];
        size_t len = s_uniform(256, sizeof data);
        randombytes_buf(data, len);
        s_submit(l, i % 2 ? TH_B : TH_A, s_bit(TH_C) | s_bit(TH_D), NULL, data, len);
        uint64_t due = start + (uint64_t) flap_ms * (uint64_t) (i + 1) / (uint64_t) ndocs;
        uint64_t now = s_now();
        if (due > now)
            th_sleep_ms((int) (due - now));
    }
    while (s_now() - start < (uint64_t) flap_ms)
        th_sleep_ms(S_TICK_MS);
    s_flap_stop();
    th_print("%s: %d documents submitted while the paths flapped for %d ms; C holds %zu", test,
             ndocs, flap_ms, s_inbox_count(c));

    s_wait_inboxes(l);
    size_t delivered = s_check_inboxes(l);
    size_t receipts = s_check_senders(l);
    s_check_logs(l);
    static const char *names[] = { "of the senders", "of the recipients" };
    uint64_t cuts = 0;
    for (int side = 0; side < 2; side++) {
        const s_flap_link_t *k = &s_flap.links[side];
        th_print("%s: path %s flapped: %u passes, %u cuts, %u blackholes, %u one way, %u drops, "
                 "%u refusals",
                 test, names[side], k->passes, k->cuts, k->blackholes, k->one_way, k->drops,
                 k->refusals);
        s_print_proxy(test, names[side], path[side]);
        netproxy_stats_t st;
        netproxy_stats(path[side], &st);
        cuts += st.cuts;
    }
    size_t reconnects = s_print_links(test, l);
    th_print("%s: documents sent %d, cuts %" PRIu64
             ", reconnects observed %zu, delivered %zu (exactly once), receipts %zu",
             test, ndocs, cuts, reconnects, delivered, receipts);
    ah_pass(env);
}

// ---------------------------------------------------------------------------

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, s_setup, s_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_network", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_AGENT", &ah_agent_path, "TRUC_ADMIN",
                           &s_admin_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_disconnect_mid_transfer),
        S_TEST(test_heartbeats_lost),
        S_TEST(test_broker_disappears),
        S_TEST(test_flapping_link),
    };
    return th_run_tests("test_network", "truc network trouble", tests,
                        sizeof tests / sizeof tests[0], filter);
}
