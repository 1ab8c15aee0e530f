/*  tests/proof/test_failover.c - a broker survives its machine, in small.

    Two truc-broker processes on one data directory and one endpoint on
    loopback: the active one holds the directory's lock, the standby
    (truc-broker --standby) waits for it, the lock being the lease. Real
    processes only: the brokers, a truc-agent per agency and this program
    as the agencies' document-management systems (DMS), talking to the
    agents over their local API (agent/API.md).

    standby_waits  a second broker without --standby is still refused at
                   once (exit 2, naming the holder's pid); a standby logs
                   that it is standby and whose lease it waits for, holds
                   no socket, leaves the active broker serving, and exits 0
                   promptly on SIGTERM; the option form (ha.standby=yes)
                   takes over when the active broker stops cleanly, on the
                   same endpoint.
    takeover       two agencies send documents to two others continuously
                   while the active broker is killed with SIGKILL three
                   times (six with TRUC_TEST_LONG=1); each time the
                   standby takes over, a new standby is started, and the
                   agents reconnect by themselves. Afterwards: every
                   document a DMS handed to its agent was accepted (its
                   sender holds a verified ACCEPTED and a verified DELIVERED
                   from each recipient), is in each recipient's inbox
                   exactly once and was announced once, no DMS heard of a
                   receipt twice, and the audit chain verifies.

    The counts printed are the evidence; no assertion depends on speed.
    Waits end on progress: one fails only when nothing moved for a long
    time (S_STALL_MS), or a takeover did not happen at all (S_TAKEOVER_MS).

    Sizes: 3,000 documents (one in ten with an attachment), TRUC_TEST_LONG=1
    20,000 and six kills; TRUC_FAILOVER_DOCS sets the number.

    Usage: test_failover TRUC_BROKER TRUC_KEYS TRUC_AGENT TRUC_ADMIN [TEST_NAME]
*/
#include <dirent.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
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
#include "proto/msg.h"

#define S_TYPE        "Công văn"
#define S_STALL_MS    180000 // a wait fails when nothing moved for this long
#define S_TAKEOVER_MS 60000  // a standby must take over within this
#define S_NRCPT       2      // recipients C and D

static const char *s_admin_path;

// ---------------------------------------------------------------------------
//  Small helpers

static uint64_t s_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static bool s_long(void)
{
    const char *text = getenv("TRUC_TEST_LONG");
    return text && *text && strcmp(text, "0") != 0;
}

static size_t s_docs(void)
{
    const char *text = getenv("TRUC_FAILOVER_DOCS");
    if (text && *text)
        return (size_t) strtoull(text, NULL, 10);
    return s_long() ? 20000 : 3000;
}

//  True if a line of the log of broker process index holds needle.
static bool s_log_has(ah_env_t *env, int index, const char *needle)
{
    FILE *f = fopen(env->th->logs[index], "r");
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (f && !found && getline(&line, &cap, f) >= 0)
        found = strstr(line, needle) != NULL;
    free(line);
    if (f)
        fclose(f);
    return found;
}

//  True once the broker process index logged a session of every agent.
static bool s_all_connected(ah_env_t *env, int index, const th_agency_t *who, int n)
{
    for (int i = 0; i < n; i++) {
        char line[128];
        snprintf(line, sizeof line, "event=connected agency=%s ", th_code(who[i]));
        if (!s_log_has(env, index, line))
            return false;
    }
    return true;
}

//  Wait until the log of broker process index holds needle; the process
//  exiting first, or timeout_ms passing, fails the test.
static void s_wait_log(ah_env_t *env, int index, const char *needle, int timeout_ms)
{
    uint64_t until = s_ms() + (uint64_t) timeout_ms;
    while (!s_log_has(env, index, needle)) {
        int status;
        char st[64];
        th_check(!th_wait_exit(env->th, index, 0, &status), "broker %d exited (%s) before '%s'",
                 index, th_status_text(status, st, sizeof st), needle);
        th_check(s_ms() < until, "broker %d logged no '%s' within %d ms", index, needle,
                 timeout_ms);
        th_sleep_ms(20);
    }
}

//  Sockets a process holds (descriptors that are sockets); -1 if gone.
static long s_sockets(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int) pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char link[PATH_MAX], target[256];
        snprintf(link, sizeof link, "%s/%s", path, e->d_name);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len > 0) {
            target[len] = '\0';
            n += strncmp(target, "socket:", 7) == 0;
        }
    }
    closedir(d);
    return n;
}

//  Start a standby on the environment's configuration and endpoint (option
//  is "--standby" or "--set" with ha.standby=yes) and wait until it says it
//  is standby and waits for the current broker's lease. Returns its index.
static int s_standby_start(ah_env_t *env, bool flag)
{
    char endpoint[TH_PATH_MAX + 32], holder[64];
    snprintf(endpoint, sizeof endpoint, "network.endpoint=%s", env->broker_endpoint);
    const char *args[] = { "--config",
                           env->th->config,
                           "--set",
                           "network.heartbeat=" AH_HEARTBEAT,
                           "--set",
                           endpoint,
                           "--set",
                           "ha.lease_poll=100ms",
                           flag ? "--standby" : "--set",
                           flag ? NULL : "ha.standby=yes",
                           NULL };
    int index = th_spawn(env->th, args);
    s_wait_log(env, index, "event=standby", TH_START_TIMEOUT_MS);
    snprintf(holder, sizeof holder, "holder_pid=%d ", (int) env->th->pid);
    th_check(s_log_has(env, index, holder), "the standby does not name the holder: %s", holder);
    th_check(s_sockets(env->th->procs[index]) == 0, "the standby holds %ld sockets",
             s_sockets(env->th->procs[index]));
    return index;
}

//  The standby at index is the broker now: wait until it listens (and so
//  has passed its store checks), and make it the harness's current broker.
//  Returns the milliseconds it took from since.
static uint64_t s_takeover(ah_env_t *env, int index, uint64_t since)
{
    s_wait_log(env, index, "event=listening", S_TAKEOVER_MS);
    uint64_t took = s_ms() - since;
    env->th->pid = env->th->procs[index];
    char endpoint[TH_PATH_MAX + 32];
    snprintf(endpoint, sizeof endpoint, "event=listening endpoint=%s", env->broker_endpoint);
    th_check(s_log_has(env, index, endpoint), "the standby listens elsewhere than %s",
             env->broker_endpoint);
    return took;
}

//  SIGTERM broker process index (not the current one) and require exit 0.
static void s_stop_standby(ah_env_t *env, int index)
{
    uint64_t t = s_ms();
    kill(env->th->procs[index], SIGTERM);
    int status = 0;
    char st[64];
    th_check(th_wait_exit(env->th, index, TH_STOP_TIMEOUT_MS, &status),
             "the standby did not exit within %d ms of SIGTERM", TH_STOP_TIMEOUT_MS);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
             "the standby ended with %s after SIGTERM", th_status_text(status, st, sizeof st));
    th_print("standby stopped %" PRIu64 " ms after SIGTERM", s_ms() - t);
}

static void s_audit_verifies(ah_env_t *env)
{
    static char out[16384];
    const char *argv[] = { s_admin_path, "--data-dir", env->th->data, "audit", "verify", NULL };
    int status = th_run(env->th, argv, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "truc-admin audit verify: %s\n%s",
             th_status_text(status, (char[64]){ 0 }, 64), out);
    th_print("audit verify: %s", out);
}

//  A document from the agent to B is ACCEPTED by whichever broker runs now:
//  the agent has reached it.
static void s_accepted_through(ah_agent_t *a)
{
    const char *to[] = { th_code(TH_B) };
    ah_reply_t *r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s}}", "submit", to, (size_t) 1,
                            S_TYPE, "Thử nghiệm");
    ah_expect_ok(r, "submit");
    char id[PROTO_ID_TEXT_LEN];
    snprintf(id, sizeof id, "%s", ah_str(r->map, "id") ? ah_str(r->map, "id") : "");
    ah_reply_destroy(&r);
    ah_events_wait(a, "sent.accepted", "id", id, NULL);
}

// ---------------------------------------------------------------------------
//  1. standby_waits

static void test_standby_waits(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    th_check(!strstr(env->broker_endpoint, ":*"), "no port below the ephemeral range");
    pid_t active = env->th->pid;

    //  Without --standby a second broker is refused at once, as before.
    char endpoint[TH_PATH_MAX + 32], named[64];
    snprintf(endpoint, sizeof endpoint, "network.endpoint=%s", env->broker_endpoint);
    const char *plain[] = { "--config", env->th->config, "--set", endpoint, NULL };
    int second = th_spawn(env->th, plain);
    int status = 0;
    char st[64];
    th_check(th_wait_exit(env->th, second, TH_START_TIMEOUT_MS, &status),
             "a second broker without --standby did not exit");
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 2, "the second broker ended with %s",
             th_status_text(status, st, sizeof st));
    snprintf(named, sizeof named, "locked by another process (pid %d)", (int) active);
    th_check(s_log_has(env, second, named), "the refusal does not say '%s'", named);

    //  A standby waits, bound to nothing, and the active broker serves on.
    int standby = s_standby_start(env, true);
    th_sleep_ms(500); // let it try the lock a few more times
    th_check(th_running(env->th, standby), "the standby exited");
    th_check(!s_log_has(env, standby, "event=listening"), "the standby listens");
    th_check(s_sockets(env->th->procs[standby]) == 0, "the standby holds a socket");
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_wait_connected(a, true);
    s_accepted_through(a);
    s_stop_standby(env, standby);
    th_check(s_log_has(env, standby, "event=stopped standby=yes"), "no event=stopped");

    //  The option form takes over when the active broker stops cleanly.
    standby = s_standby_start(env, false);
    uint64_t t = s_ms();
    ah_broker_stop(env);
    uint64_t took = s_takeover(env, standby, t);
    th_check(s_log_has(env, standby, "event=lease_acquired"), "no event=lease_acquired");
    s_accepted_through(a);
    th_print("the standby took over %" PRIu64 " ms after the active broker stopped", took);
    ah_agent_stop(a);
    ah_broker_stop(env);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  2. takeover

//  What was sent: one record per document, found by its id text.
typedef struct {
    char id[PROTO_ID_TEXT_LEN];
    uint8_t sender;               // 0 or 1
    bool accepted;                // sent.accepted seen at the sender
    uint8_t delivered_mask;       // sent.delivered seen per recipient
    uint16_t inbox_new[S_NRCPT];  // inbox.new events per recipient
    uint16_t inbox_list[S_NRCPT]; // appearances in each recipient's inbox list
} s_doc_t;

typedef struct {
    s_doc_t *docs;
    size_t ndocs, cap;
    uint64_t unknown; // events about ids never sent
    uint64_t dup_accepted, dup_delivered;
} s_ledger_t;

//  The ledger is sorted by id once everything is submitted, and searched
//  with bsearch from then on.
static int s_doc_cmp(const void *a, const void *b)
{
    return strcmp(((const s_doc_t *) a)->id, ((const s_doc_t *) b)->id);
}

static s_doc_t *s_find(s_ledger_t *l, const char *id)
{
    if (!id)
        return NULL;
    s_doc_t key;
    snprintf(key.id, sizeof key.id, "%s", id);
    return bsearch(&key, l->docs, l->ndocs, sizeof *l->docs, s_doc_cmp);
}

typedef struct {
    ah_agent_t *agent;
    uint64_t after; // the last event seq read
    int rcpt;       // index as a recipient, -1 if none
    int sender;     // index as a sender, -1 if none
} s_party_t;

typedef struct {
    s_party_t *party;
    s_ledger_t *ledger;
    const char *rcpt_codes[S_NRCPT];
} s_drain_t;

static void s_account(const msgpack_object *e, void *arg)
{
    s_drain_t *dr = arg;
    const char *topic = ah_str(e, "topic");
    if (!topic || strcmp(topic, "connection") == 0)
        return;
    s_doc_t *d = s_find(dr->ledger, ah_str(e, "id"));
    if (strcmp(topic, "inbox.new") == 0 && dr->party->rcpt >= 0) {
        if (!d)
            dr->ledger->unknown++;
        else
            d->inbox_new[dr->party->rcpt]++;
    } else if (strcmp(topic, "sent.accepted") == 0 && dr->party->sender >= 0) {
        if (!d)
            dr->ledger->unknown++;
        else if (d->accepted)
            dr->ledger->dup_accepted++;
        else
            d->accepted = true;
    } else if (strcmp(topic, "sent.delivered") == 0 && dr->party->sender >= 0) {
        const char *agency = ah_str(e, "agency");
        int k = -1;
        for (int i = 0; agency && i < S_NRCPT; i++)
            if (strcmp(agency, dr->rcpt_codes[i]) == 0)
                k = i;
        if (!d || k < 0)
            dr->ledger->unknown++;
        else if (d->delivered_mask & (1u << k))
            dr->ledger->dup_delivered++;
        else
            d->delivered_mask |= (uint8_t) (1u << k);
    }
}

static size_t s_drain(s_party_t *p, s_ledger_t *l)
{
    s_drain_t dr = { p, l, { th_code(TH_C), th_code(TH_D) } };
    return ah_events_each(p->agent, &p->after, s_account, &dr);
}

typedef struct {
    s_ledger_t *ledger;
    int rcpt;
    size_t *extra; // listed, never sent
} s_listing_t;

static void s_listed(const msgpack_object *doc, void *arg)
{
    s_listing_t *li = arg;
    s_doc_t *d = s_find(li->ledger, ah_str(doc, "id"));
    if (!d)
        (*li->extra)++;
    else
        d->inbox_list[li->rcpt]++;
}

//  The sender's own record of a document: accepted, delivered to both,
//  every receipt verified, an ACCEPTED and a DELIVERED from each.
static bool s_sent_complete(ah_agent_t *sender, const char *id)
{
    ah_reply_t *r = ah_call(sender, "{cmd:s id:s}", "sent", id);
    ah_expect_ok(r, "sent");
    bool ok = ah_str_is(r->map, "document.state", "accepted") &&
              ah_count(r->map, "document.recipients") == S_NRCPT;
    for (int k = 0; ok && k < S_NRCPT; k++) {
        char path[64];
        snprintf(path, sizeof path, "document.recipients[%d].state", k);
        ok = ah_str_is(r->map, path, "delivered");
    }
    int64_t nrec = ah_count(r->map, "document.receipts");
    int accepted = 0, delivered = 0;
    for (int64_t k = 0; ok && k < nrec; k++) {
        char path[64];
        snprintf(path, sizeof path, "document.receipts[%" PRId64 "]", k);
        const msgpack_object *rc = ah_get(r->map, path);
        ok = ah_bool(rc, "verified") == 1;
        accepted += ah_str_is(rc, "kind", "ACCEPTED");
        delivered += ah_str_is(rc, "kind", "DELIVERED");
    }
    ok = ok && accepted >= 1 && delivered == S_NRCPT;
    if (!ok)
        th_print("sent record of %s: %s", id, ah_show(ah_get(r->map, "document")));
    ah_reply_destroy(&r);
    return ok;
}

//  Poll every agent's events until each document is accepted, has both
//  DELIVERED receipts and reached both inboxes.
static void s_wait_end(s_party_t *parties, size_t nparties, s_ledger_t *l)
{
    uint64_t last_progress = s_ms();
    for (;;) {
        size_t read = 0, accepted = 0, receipts = 0, arrived = 0;
        for (size_t k = 0; k < nparties; k++)
            read += s_drain(&parties[k], l);
        for (size_t i = 0; i < l->ndocs; i++) {
            const s_doc_t *d = &l->docs[i];
            accepted += d->accepted;
            receipts += (size_t) __builtin_popcount(d->delivered_mask);
            for (int k = 0; k < S_NRCPT; k++)
                arrived += d->inbox_new[k] > 0;
        }
        if (accepted == l->ndocs && receipts == l->ndocs * S_NRCPT && arrived == l->ndocs * S_NRCPT)
            return;
        if (read)
            last_progress = s_ms();
        th_check(s_ms() - last_progress < S_STALL_MS,
                 "no progress for %d s: %zu of %zu accepted, %zu of %zu delivered receipts, %zu "
                 "arrivals",
                 S_STALL_MS / 1000, accepted, l->ndocs, receipts, l->ndocs * S_NRCPT, arrived);
        th_sleep_ms(500);
    }
}

//  The senders A and B send every document to C and D. The kills are
//  spread over the stream; after each, the loop goes on submitting while
//  the standby takes over, then starts the next standby.
static void test_takeover(void **state)
{
    ah_env_t *env = *state;
    size_t ndocs = s_docs();
    int kills = s_long() ? 6 : 3; // the harness keeps 8 broker processes: 2 + kills
    th_print("%zu documents from 2 agencies to 2; the active broker killed %d times", ndocs, kills);

    ah_broker_start(env);
    th_check(!strstr(env->broker_endpoint, ":*"), "no port below the ephemeral range");
    int standby = s_standby_start(env, true);
    th_agency_t codes[] = { TH_A, TH_B, TH_C, TH_D };
    s_party_t parties[4];
    for (int i = 0; i < 4; i++)
        parties[i] = (s_party_t){ .agent = ah_agent_run(env, codes[i], 0, NULL),
                                  .rcpt = i >= 2 ? i - 2 : -1,
                                  .sender = i < 2 ? i : -1 };
    for (int i = 0; i < 2; i++)
        ah_wait_directory(parties[i].agent);
    const char *to[] = { th_code(TH_C), th_code(TH_D) };

    static uint8_t blob[2048];
    randombytes_buf(blob, sizeof blob);
    s_ledger_t ledger = { .cap = ndocs };
    ledger.docs = calloc(ndocs, sizeof *ledger.docs);
    th_check(ledger.docs != NULL, "out of memory");
    int next_kill = 0, taking_over = -1, reconnecting = -1;
    uint64_t killed_at = 0, started = s_ms(), took_max = 0, back_max = 0;
    for (size_t i = 0; i < ndocs; i++) {
        //  Kill the active broker at its share of the stream, once the last
        //  takeover is complete and every agent has reached the new broker.
        //  When the stream gets there first (submitting is faster than a
        //  reconnection on some machines), it waits for them, so every kill
        //  happens whatever the machine's speed.
        bool due =
            next_kill < kills && i >= ndocs * (size_t) (next_kill + 1) / (size_t) (kills + 1);
        bool every_turn = due && (taking_over >= 0 || reconnecting >= 0);
        if (every_turn)
            th_sleep_ms(20);
        if (every_turn && s_ms() - killed_at > S_STALL_MS)
            th_check(false, "kill %d: no takeover and reconnection within %d s", next_kill,
                     S_STALL_MS / 1000);
        if (reconnecting >= 0 && (i % 8 == 0 || every_turn) &&
            s_all_connected(env, reconnecting, codes, 4)) {
            uint64_t back = s_ms() - killed_at;
            back_max = back > back_max ? back : back_max;
            th_print("every agent reconnected %" PRIu64 " ms after the kill, at document %zu", back,
                     i);
            reconnecting = -1;
        }
        if (taking_over < 0 && reconnecting < 0 && next_kill < kills &&
            i >= ndocs * (size_t) (next_kill + 1) / (size_t) (kills + 1)) {
            ah_reply_t *h = ah_call(parties[0].agent, "{cmd:s}", "health");
            int64_t outbox = ah_int(h->map, "outbox");
            ah_reply_destroy(&h);
            th_broker_kill(env->th);
            killed_at = s_ms();
            taking_over = standby;
            th_print("active broker killed at document %zu (A's outbox held %" PRId64 ")", i,
                     outbox);
            next_kill++;
        }
        if (taking_over >= 0 && (i % 8 == 0 || i + 1 == ndocs || every_turn) &&
            s_log_has(env, taking_over, "event=listening")) {
            uint64_t took = s_takeover(env, taking_over, killed_at);
            took_max = took > took_max ? took : took_max;
            th_print("the standby took over %" PRIu64 " ms after the kill, at document %zu", took,
                     i);
            reconnecting = taking_over;
            taking_over = -1;
            standby = s_standby_start(env, true);
        }
        if (every_turn) {
            i--; // this document is not submitted yet: look again
            continue;
        }
        s_party_t *s = &parties[i % 2];
        char subject[64];
        snprintf(subject, sizeof subject, "Văn bản %zu", i + 1);
        ah_reply_t *r;
        if (i % 10 == 0)
            r = ah_call(s->agent,
                        "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s data:x}]}",
                        "submit", to, (size_t) S_NRCPT, S_TYPE, subject, "van-ban.pdf",
                        "application/pdf", blob, sizeof blob);
        else
            r = ah_call(s->agent, "{cmd:s doc:{to:A type:s subject:s}}", "submit", to,
                        (size_t) S_NRCPT, S_TYPE, subject);
        ah_expect_ok(r, "submit");
        const char *id = ah_str(r->map, "id");
        th_check(id && strlen(id) == 36, "submit answered no id: %s", ah_show(r->map));
        s_doc_t *d = &ledger.docs[ledger.ndocs++];
        snprintf(d->id, sizeof d->id, "%s", id);
        d->sender = (uint8_t) s->sender;
        ah_reply_destroy(&r);
    }
    if (taking_over >= 0) {
        uint64_t took = s_takeover(env, taking_over, killed_at);
        took_max = took > took_max ? took : took_max;
        th_print("the standby took over %" PRIu64 " ms after the kill", took);
        reconnecting = taking_over;
        standby = s_standby_start(env, true);
    }
    for (uint64_t until = s_ms() + S_STALL_MS; reconnecting >= 0; th_sleep_ms(100)) {
        th_check(s_ms() < until, "the agents did not all reconnect within %d s", S_STALL_MS / 1000);
        if (s_all_connected(env, reconnecting, codes, 4)) {
            uint64_t back = s_ms() - killed_at;
            back_max = back > back_max ? back : back_max;
            th_print("every agent reconnected %" PRIu64 " ms after the kill", back);
            reconnecting = -1;
        }
    }
    th_check(next_kill == kills, "only %d of %d kills happened", next_kill, kills);
    th_print("all %zu submitted in %.0f s", ndocs, (double) (s_ms() - started) / 1000.0);
    qsort(ledger.docs, ledger.ndocs, sizeof *ledger.docs, s_doc_cmp);
    for (size_t i = 1; i < ledger.ndocs; i++)
        th_check(strcmp(ledger.docs[i - 1].id, ledger.docs[i].id) != 0,
                 "an agent answered the id %s twice", ledger.docs[i].id);

    //  The end state, read as each DMS reads it, then listened for late
    //  duplicates.
    s_wait_end(parties, 4, &ledger);
    th_print("everything arrived %.0f s after the start", (double) (s_ms() - started) / 1000.0);
    th_sleep_ms(TH_QUIET_MS);
    for (int k = 0; k < 4; k++)
        s_drain(&parties[k], &ledger);
    size_t listed = 0, extra = 0;
    for (int k = 0; k < S_NRCPT; k++) {
        s_listing_t li = { &ledger, k, &extra };
        listed += ah_inbox_each(parties[2 + k].agent, s_listed, &li);
    }
    size_t missing = 0, dup_new = 0, dup_list = 0, incomplete = 0, accepted = 0;
    for (size_t i = 0; i < ledger.ndocs; i++) {
        const s_doc_t *d = &ledger.docs[i];
        accepted += d->accepted;
        for (int k = 0; k < S_NRCPT; k++) {
            missing += d->inbox_new[k] == 0 || d->inbox_list[k] == 0;
            dup_new += d->inbox_new[k] > 1 ? d->inbox_new[k] - 1u : 0;
            dup_list += d->inbox_list[k] > 1 ? d->inbox_list[k] - 1u : 0;
        }
        incomplete += !s_sent_complete(parties[d->sender].agent, d->id);
    }
    th_print("takeovers %d, the longest %" PRIu64 " ms after the kill; every agent back at "
             "the new broker at most %" PRIu64 " ms after the kill",
             kills, took_max, back_max);
    th_print("documents handed to the agents %zu; accepted %zu; deliveries expected %zu; inbox "
             "entries %zu; missing %zu; duplicates in inboxes %zu; duplicate inbox.new %zu; "
             "unexpected %zu",
             ledger.ndocs, accepted, ledger.ndocs * S_NRCPT, listed, missing, dup_list, dup_new,
             extra + ledger.unknown);
    th_print("sender records incomplete %zu; repeated receipt events: accepted %" PRIu64
             ", delivered %" PRIu64,
             incomplete, ledger.dup_accepted, ledger.dup_delivered);
    th_check(missing == 0 && dup_new == 0 && dup_list == 0 && extra == 0 && ledger.unknown == 0,
             "the inboxes do not hold every document exactly once");
    th_check(listed == ledger.ndocs * S_NRCPT, "%zu inbox entries for %zu deliveries", listed,
             ledger.ndocs * S_NRCPT);
    th_check(incomplete == 0, "%zu sender records are incomplete", incomplete);
    th_check(ledger.dup_accepted == 0 && ledger.dup_delivered == 0,
             "a sender's DMS was told of a receipt twice");
    s_audit_verifies(env);

    //  The standby first: stopping the active broker would hand it the lease.
    s_stop_standby(env, standby);
    for (int k = 0; k < 4; k++)
        ah_agent_stop(parties[k].agent);
    ah_broker_stop(env);
    free(ledger.docs);
    ah_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, ah_setup, ah_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_failover", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_AGENT", &ah_agent_path, "TRUC_ADMIN",
                           &s_admin_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_standby_waits),
        S_TEST(test_takeover),
    };
    return th_run_tests("test_failover", "truc failover", tests, sizeof tests / sizeof tests[0],
                        filter);
}
