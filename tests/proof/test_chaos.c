/*  tests/proof/test_chaos.c - crash consistency, a full disk, and a soak.

    Real processes only: a truc-broker, a truc-agent per agency and this
    program as the document-management systems (DMS) of those agencies,
    talking to the agents over their local API (agent/API.md).

    crash_consistency  three agencies send a stream of documents (10,000 in
                       the default run) to three agencies while the broker
                       is killed with SIGKILL at random moments, several
                       times, and agents are killed too. Afterwards: every
                       document an agent took from its DMS was accepted by
                       the broker, is in every recipient's inbox exactly
                       once, was announced once to the recipient's DMS
                       (inbox.new), its sender holds a verified ACCEPTED
                       receipt and a verified DELIVERED receipt from every
                       recipient, and the broker's audit chain verifies.
    disk_full          the broker's data directory is a small tmpfs. With
                       the disk nearly full the broker rejects submissions
                       with ERR_STORE_FULL, acknowledges nothing it did not
                       store, and keeps delivering what it holds; with the
                       disk completely full it still answers and loses
                       nothing; when space returns it accepts again.
                       Skipped, with the reason, where a file system cannot
                       be mounted.
    recv_disk_full     the receiving agent's data directory is a small
                       tmpfs, filled up: documents for it wait, its
                       `health` shows store_full, a request that stores
                       something is answered ERR_STORE_FULL; when space
                       returns it stores them, with a `store` event each
                       way. Skipped like disk_full.
    soak               (label soak, not in the default run) a steady load
                       for TRUC_SOAK_SECONDS (default 600) while the memory
                       (RssAnon, VmRSS) and open file descriptors of the
                       broker and the agents are sampled every 10 s; in
                       the second half of the run anonymous memory and
                       descriptors must not grow beyond the first half's
                       peak by more than a small allowance.

    The counts every test printed are its evidence; none of the assertions
    depends on speed. Waits end on progress: a wait fails only when nothing
    moved for a long time (S_STALL_MS).

    Sizes: TRUC_TEST_LONG=1 runs the long version (50,000 documents);
    TRUC_CHAOS_DOCS sets the number. TRUC_CHAOS_SEED replays a run's
    random choices.

    Usage: test_chaos TRUC_BROKER TRUC_KEYS TRUC_AGENT TRUC_ADMIN [TEST_NAME]
*/
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <cmocka.h>
#include <sodium.h>

#include "agent_harness.h"
#include "proto/msg.h"
#include "truc_client.h"

#define S_TYPE     "Công văn"
#define S_STALL_MS 180000 // a wait fails when nothing moved for this long
#define S_NRCPT    3      // recipients C, D, E

static const char *s_admin_path;

// ---------------------------------------------------------------------------
//  Small helpers

static uint64_t s_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static uint64_t s_env_u64(const char *name, uint64_t fallback)
{
    const char *text = getenv(name);
    if (!text || !*text)
        return fallback;
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);
    return end && *end == '\0' ? (uint64_t) v : fallback;
}

static bool s_long(void)
{
    const char *text = getenv("TRUC_TEST_LONG");
    return text && *text && strcmp(text, "0") != 0;
}

//  A reproducible random stream (xorshift64*), seeded once per test.
static uint64_t s_rand_state;

static uint64_t s_rand(void)
{
    s_rand_state ^= s_rand_state >> 12;
    s_rand_state ^= s_rand_state << 25;
    s_rand_state ^= s_rand_state >> 27;
    return s_rand_state * 2685821657736338717ull;
}

static uint64_t s_rand_between(uint64_t lo, uint64_t hi)
{
    return lo + s_rand() % (hi - lo + 1);
}

static void s_seed(void)
{
    uint64_t seed = s_env_u64("TRUC_CHAOS_SEED", 0);
    if (!seed)
        randombytes_buf(&seed, sizeof seed);
    seed |= 1;
    s_rand_state = seed;
    th_print("random seed %" PRIu64 " (TRUC_CHAOS_SEED=%" PRIu64 " replays it)", seed, seed);
}

//  Run truc-admin --data-dir DATA args...; the output in out.
static int s_admin(ah_env_t *env, char *out, size_t outlen, const char *a1, const char *a2,
                   const char *a3)
{
    const char *argv[] = { s_admin_path, "--data-dir", env->th->data, a1, a2, a3, NULL };
    return th_run(env->th, argv, out, outlen);
}

static void s_audit_verifies(ah_env_t *env)
{
    static char out[16384];
    int status = s_admin(env, out, sizeof out, "audit", "verify", NULL);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "truc-admin audit verify: %s\n%s",
             th_status_text(status, (char[64]){ 0 }, 64), out);
    th_print("audit verify: %s", out);
}

//  Open descriptors of a process; -1 when it is gone.
static long s_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int) pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

// ---------------------------------------------------------------------------
//  What was sent: one record per document, found by its id text.

typedef struct {
    char id[PROTO_ID_TEXT_LEN];
    uint8_t sender;               // index into the senders
    uint8_t rcpt_mask;            // recipients it was sent to (bit per recipient)
    bool accepted;                // sent.accepted seen at the sender
    uint8_t delivered_mask;       // sent.delivered seen per recipient
    uint16_t inbox_new[S_NRCPT];  // inbox.new events per recipient
    uint16_t inbox_list[S_NRCPT]; // appearances in each recipient's inbox list
} s_doc_t;

typedef struct {
    s_doc_t *docs;
    size_t ndocs, cap;
    uint32_t *slots; // open addressing: index + 1, 0 empty
    size_t nslots;
    uint64_t unknown; // events about ids that were never sent
    uint64_t dup_accepted, dup_delivered;
} s_ledger_t;

static uint64_t s_hash_id(const char *id)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = id; *p; p++)
        h = (h ^ (uint8_t) *p) * 1099511628211ull;
    return h;
}

static void s_ledger_init(s_ledger_t *l, size_t cap)
{
    memset(l, 0, sizeof *l);
    l->cap = cap;
    l->docs = calloc(cap, sizeof *l->docs);
    l->nslots = 1;
    while (l->nslots < cap * 2)
        l->nslots <<= 1;
    l->slots = calloc(l->nslots, sizeof *l->slots);
    th_check(l->docs && l->slots, "out of memory");
}

static void s_ledger_free(s_ledger_t *l)
{
    free(l->docs);
    free(l->slots);
    memset(l, 0, sizeof *l);
}

static s_doc_t *s_ledger_find(s_ledger_t *l, const char *id)
{
    if (!id)
        return NULL;
    for (size_t i = s_hash_id(id) & (l->nslots - 1);; i = (i + 1) & (l->nslots - 1)) {
        if (!l->slots[i])
            return NULL;
        s_doc_t *d = &l->docs[l->slots[i] - 1];
        if (strcmp(d->id, id) == 0)
            return d;
    }
}

static s_doc_t *s_ledger_add(s_ledger_t *l, const char *id)
{
    th_check(l->ndocs < l->cap, "ledger full");
    th_check(!s_ledger_find(l, id), "the agent answered the id %s twice", id);
    s_doc_t *d = &l->docs[l->ndocs++];
    snprintf(d->id, sizeof d->id, "%s", id);
    size_t i = s_hash_id(id) & (l->nslots - 1);
    while (l->slots[i])
        i = (i + 1) & (l->nslots - 1);
    l->slots[i] = (uint32_t) l->ndocs;
    return d;
}

// ---------------------------------------------------------------------------
//  Reading an agent's events as its DMS does: from a cursor, page by page.

typedef struct {
    ah_agent_t *agent;
    uint64_t after; // the last event seq read
    int rcpt;       // index as a recipient, -1 if none
    int sender;     // index as a sender, -1 if none
    bool down;      // killed and not started again yet
} s_party_t;

static int s_rcpt_index(const char *code, s_party_t *const *rcpts)
{
    for (int i = 0; code && i < S_NRCPT; i++)
        if (strcmp(ah_agent_code(rcpts[i]->agent), code) == 0)
            return i;
    return -1;
}

//  Read every event the agent has after the cursor and account for it.
//  Returns how many were read.
typedef struct {
    s_party_t *party;
    s_ledger_t *ledger;
    s_party_t *const *rcpts;
} s_drain_t;

static void s_account(const msgpack_object *e, void *arg)
{
    s_drain_t *dr = arg;
    s_party_t *p = dr->party;
    s_ledger_t *l = dr->ledger;
    const char *topic = ah_str(e, "topic");
    if (!topic || strcmp(topic, "connection") == 0)
        return;
    char id[PROTO_ID_TEXT_LEN];
    const char *id_text = ah_str(e, "id");
    snprintf(id, sizeof id, "%s", id_text ? id_text : "");
    s_doc_t *d = s_ledger_find(l, id);
    if (strcmp(topic, "inbox.new") == 0 && p->rcpt >= 0) {
        if (!d)
            l->unknown++;
        else
            d->inbox_new[p->rcpt]++;
    } else if (strcmp(topic, "sent.accepted") == 0 && p->sender >= 0) {
        if (!d)
            l->unknown++;
        else if (d->accepted)
            l->dup_accepted++;
        else
            d->accepted = true;
    } else if (strcmp(topic, "sent.delivered") == 0 && p->sender >= 0) {
        int k = s_rcpt_index(ah_str(e, "agency"), dr->rcpts);
        if (!d || k < 0)
            l->unknown++;
        else if (d->delivered_mask & (1u << k))
            l->dup_delivered++;
        else
            d->delivered_mask |= (uint8_t) (1u << k);
    }
}

static size_t s_drain_events(s_party_t *p, s_ledger_t *l, s_party_t *const *rcpts)
{
    s_drain_t dr = { p, l, rcpts };
    return ah_events_each(p->agent, &p->after, s_account, &dr);
}

//  One entry of a recipient's inbox listing, counted against the ledger.
typedef struct {
    s_ledger_t *ledger;
    int rcpt;
    size_t *extra; // listed, never sent
} s_listing_t;

static void s_listed(const msgpack_object *doc, void *arg)
{
    s_listing_t *li = arg;
    s_doc_t *d = s_ledger_find(li->ledger, ah_str(doc, "id"));
    if (!d)
        (*li->extra)++;
    else
        d->inbox_list[li->rcpt]++;
}

// ---------------------------------------------------------------------------
//  1. crash_consistency

//  The senders A, B, C; the recipients C, D, E. A and B send to all three
//  recipients, C to D and E (not to itself).
static void test_crash_consistency(void **state)
{
    ah_env_t *env = *state;
    size_t ndocs = (size_t) s_env_u64("TRUC_CHAOS_DOCS", s_long() ? 50000 : 10000);
    int broker_kills = s_long() ? 6 : 5; // the harness keeps 8 broker processes at most
    int agent_kills = s_long() ? 12 : 4;
    s_seed();
    th_print("%zu documents from 3 agencies to 3 agencies; %d broker kills, %d agent kills", ndocs,
             broker_kills, agent_kills);

    ah_broker_start(env);
    th_agency_t codes[] = { TH_A, TH_B, TH_C, TH_D, TH_E };
    s_party_t parties[5];
    for (int i = 0; i < 5; i++) {
        parties[i] = (s_party_t){ .agent = ah_agent_run(env, codes[i], 0, NULL),
                                  .rcpt = i >= 2 ? i - 2 : -1,
                                  .sender = i <= 2 ? i : -1 };
    }
    s_party_t *senders[3] = { &parties[0], &parties[1], &parties[2] };
    s_party_t *rcpts[S_NRCPT] = { &parties[2], &parties[3], &parties[4] };
    for (int i = 0; i < 3; i++)
        ah_wait_directory(senders[i]->agent);
    const char *to_all[] = { th_code(TH_C), th_code(TH_D), th_code(TH_E) };

    //  When each fault happens, in documents submitted: spread over the
    //  stream, each lasting a random number of submissions.
    size_t *broker_at = calloc((size_t) broker_kills, sizeof *broker_at);
    size_t *agent_at = calloc((size_t) agent_kills, sizeof *agent_at);
    th_check(broker_at && agent_at, "out of memory");
    for (int k = 0; k < broker_kills; k++)
        broker_at[k] = ndocs / 20 + (ndocs * 8 / 10) * (size_t) k / (size_t) broker_kills +
                       (size_t) s_rand_between(0, ndocs / (size_t) (broker_kills * 2));
    for (int k = 0; k < agent_kills; k++)
        agent_at[k] = ndocs / 10 + (ndocs * 8 / 10) * (size_t) k / (size_t) agent_kills +
                      (size_t) s_rand_between(0, ndocs / (size_t) (agent_kills * 2));

    static uint8_t blob[2048];
    randombytes_buf(blob, sizeof blob);
    s_ledger_t ledger;
    s_ledger_init(&ledger, ndocs);
    size_t broker_up_at = 0, next_broker = 0, next_agent = 0;
    size_t agent_up_at[5] = { 0 };
    bool broker_down = false;
    int kills_b = 0, kills_a = 0, turn = 0;
    uint64_t started = s_ms();
    for (size_t i = 0; i < ndocs;) {
        //  Faults first: the broker dies, agents die, and they come back.
        if (!broker_down && next_broker < (size_t) broker_kills && i >= broker_at[next_broker]) {
            th_broker_kill(env->th);
            int64_t waiting = 0;
            for (int k = 0; k < 3; k++)
                if (!senders[k]->down) {
                    ah_reply_t *h = ah_call(senders[k]->agent, "{cmd:s}", "health");
                    waiting += ah_int(h->map, "outbox");
                    ah_reply_destroy(&h);
                }
            th_print("broker killed at document %zu; the senders' outboxes held %" PRId64, i,
                     waiting);
            broker_down = true;
            broker_up_at = i + (size_t) s_rand_between(20, 300);
            next_broker++;
            kills_b++;
        } else if (broker_down && i >= broker_up_at) {
            uint64_t t = s_ms();
            ah_broker_start(env);
            th_print("broker restarted at document %zu in %" PRIu64 " ms", i, s_ms() - t);
            broker_down = false;
        }
        if (next_agent < (size_t) agent_kills && i >= agent_at[next_agent]) {
            int who = (int) s_rand_between(0, 4);
            if (!parties[who].down) {
                ah_agent_kill(parties[who].agent);
                th_print("agent of %s killed at document %zu", ah_agent_code(parties[who].agent),
                         i);
                parties[who].down = true;
                agent_up_at[who] = i + (size_t) s_rand_between(10, 150);
                kills_a++;
            }
            next_agent++;
        }
        for (int k = 0; k < 5; k++)
            if (parties[k].down && i >= agent_up_at[k]) {
                ah_agent_start(parties[k].agent);
                parties[k].down = false;
            }

        //  One submission to the next sender whose agent is up.
        s_party_t *s = senders[turn++ % 3];
        if (s->down)
            continue;
        bool is_c = s == senders[2];
        char subject[64];
        snprintf(subject, sizeof subject, "Văn bản %zu", i + 1);
        ah_reply_t *r;
        if (i % 10 == 0)
            r = ah_call(s->agent,
                        "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s data:x}]}",
                        "submit", is_c ? to_all + 1 : to_all, (size_t) (is_c ? 2 : 3), S_TYPE,
                        subject, "van-ban.pdf", "application/pdf", blob, sizeof blob);
        else
            r = ah_call(s->agent, "{cmd:s doc:{to:A type:s subject:s}}", "submit",
                        is_c ? to_all + 1 : to_all, (size_t) (is_c ? 2 : 3), S_TYPE, subject);
        ah_expect_ok(r, "submit");
        const char *id = ah_str(r->map, "id");
        th_check(id && strlen(id) == 36, "submit answered no id: %s", ah_show(r->map));
        s_doc_t *d = s_ledger_add(&ledger, id);
        d->sender = (uint8_t) s->sender;
        d->rcpt_mask = is_c ? 0x6 : 0x7;
        ah_reply_destroy(&r);
        i++;
        if (i % 1000 == 0)
            th_print("%zu submitted (%.0f s)", i, (double) (s_ms() - started) / 1000.0);
    }
    if (broker_down)
        ah_broker_start(env);
    for (int k = 0; k < 5; k++)
        if (parties[k].down) {
            ah_agent_start(parties[k].agent);
            parties[k].down = false;
        }
    th_print("all %zu submitted in %.0f s; broker killed %d times, agents %d times", ndocs,
             (double) (s_ms() - started) / 1000.0, kills_b, kills_a);

    //  Wait for the end state, reading every agent's events as its DMS.
    size_t want_deliveries = 0;
    for (size_t i = 0; i < ledger.ndocs; i++)
        want_deliveries += (size_t) __builtin_popcount(ledger.docs[i].rcpt_mask);
    uint64_t last_progress = s_ms();
    for (;;) {
        size_t read = 0;
        for (int k = 0; k < 5; k++)
            read += s_drain_events(&parties[k], &ledger, rcpts);
        size_t accepted = 0, receipts = 0, arrived = 0;
        for (size_t i = 0; i < ledger.ndocs; i++) {
            const s_doc_t *d = &ledger.docs[i];
            accepted += d->accepted;
            receipts += (size_t) __builtin_popcount(d->delivered_mask);
            for (int k = 0; k < S_NRCPT; k++)
                arrived += d->inbox_new[k] > 0;
        }
        if (accepted == ledger.ndocs && receipts == want_deliveries && arrived == want_deliveries)
            break;
        if (read)
            last_progress = s_ms();
        th_check(s_ms() - last_progress < S_STALL_MS,
                 "no progress for %d s: %zu of %zu accepted, %zu of %zu delivered receipts, "
                 "%zu of %zu arrivals",
                 S_STALL_MS / 1000, accepted, ledger.ndocs, receipts, want_deliveries, arrived,
                 want_deliveries);
        th_sleep_ms(500);
    }
    th_print("everything arrived %.0f s after the start", (double) (s_ms() - started) / 1000.0);
    th_sleep_ms(TH_QUIET_MS); // a late duplicate would show now
    for (int k = 0; k < 5; k++)
        s_drain_events(&parties[k], &ledger, rcpts);

    //  Each recipient's inbox, as its DMS lists it: every document once.
    size_t listed = 0, extra = 0;
    for (int k = 0; k < S_NRCPT; k++) {
        s_listing_t li = { &ledger, k, &extra };
        listed += ah_inbox_each(rcpts[k]->agent, s_listed, &li);
    }

    //  The sender's own record of every document: accepted, every
    //  recipient delivered, every receipt verified.
    size_t bad_records = 0, receipts_verified = 0;
    for (size_t i = 0; i < ledger.ndocs; i++) {
        const s_doc_t *d = &ledger.docs[i];
        ah_reply_t *r = ah_call(senders[d->sender]->agent, "{cmd:s id:s}", "sent", d->id);
        ah_expect_ok(r, "sent");
        bool ok = ah_str_is(r->map, "document.state", "accepted");
        int64_t nr = ah_count(r->map, "document.recipients");
        ok = ok && nr == __builtin_popcount(d->rcpt_mask);
        for (int64_t k = 0; ok && k < nr; k++) {
            char path[64];
            snprintf(path, sizeof path, "document.recipients[%" PRId64 "].state", k);
            ok = ah_str_is(r->map, path, "delivered");
        }
        int64_t nrec = ah_count(r->map, "document.receipts");
        int accepted_receipts = 0, delivered_receipts = 0;
        for (int64_t k = 0; ok && k < nrec; k++) {
            char path[64];
            snprintf(path, sizeof path, "document.receipts[%" PRId64 "]", k);
            const msgpack_object *rc = ah_get(r->map, path);
            ok = ah_bool(rc, "verified") == 1;
            accepted_receipts += ah_str_is(rc, "kind", "ACCEPTED");
            delivered_receipts += ah_str_is(rc, "kind", "DELIVERED");
        }
        ok = ok && accepted_receipts >= 1 && delivered_receipts == (int) nr;
        if (!ok && bad_records++ < 5)
            th_print("sent record of %s: receipts %s", d->id,
                     ah_show(ah_get(r->map, "document.receipts")));
        receipts_verified += (size_t) (ok ? nrec : 0);
        ah_reply_destroy(&r);
    }

    //  The tally.
    size_t dup_new = 0, dup_list = 0, missing = 0;
    for (size_t i = 0; i < ledger.ndocs; i++) {
        const s_doc_t *d = &ledger.docs[i];
        for (int k = 0; k < S_NRCPT; k++) {
            bool sent_to = d->rcpt_mask & (1u << k);
            if (sent_to && (d->inbox_new[k] == 0 || d->inbox_list[k] == 0))
                missing++;
            dup_new += d->inbox_new[k] > 1 ? d->inbox_new[k] - 1u : 0;
            dup_list += d->inbox_list[k] > 1 ? d->inbox_list[k] - 1u : 0;
            if (!sent_to && (d->inbox_new[k] || d->inbox_list[k]))
                extra++;
        }
    }
    size_t accepted = 0;
    for (size_t i = 0; i < ledger.ndocs; i++)
        accepted += ledger.docs[i].accepted;
    th_print("documents acknowledged to the DMSs: %zu; accepted by the broker: %zu", ledger.ndocs,
             accepted);
    th_print("deliveries expected %zu; inbox entries listed %zu; missing %zu; duplicates in "
             "inboxes %zu; duplicate inbox.new events %zu; unexpected %zu",
             want_deliveries, listed, missing, dup_list, dup_new, extra + ledger.unknown);
    th_print("sender records complete %zu of %zu; receipts verified by the senders %zu; repeated "
             "receipt events: accepted %" PRIu64 ", delivered %" PRIu64,
             ledger.ndocs - bad_records, ledger.ndocs, receipts_verified, ledger.dup_accepted,
             ledger.dup_delivered);
    th_check(missing == 0 && dup_new == 0 && dup_list == 0 && extra == 0 && ledger.unknown == 0,
             "the inboxes do not hold every document exactly once");
    th_check(listed == want_deliveries, "%zu inbox entries, %zu deliveries", listed,
             want_deliveries);
    th_check(bad_records == 0, "%zu sender records are incomplete", bad_records);
    th_check(ledger.dup_accepted == 0 && ledger.dup_delivered == 0,
             "a sender's DMS was told of a receipt twice");
    s_audit_verifies(env);

    //  Everything stops cleanly.
    for (int k = 0; k < 5; k++)
        ah_agent_stop(parties[k].agent);
    ah_broker_stop(env);
    s_ledger_free(&ledger);
    free(broker_at);
    free(agent_at);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  2. disk_full

//  The broker's data directory becomes a tmpfs of this size.
#define S_DISK_SIZE "24m"
#define S_DISK_DOC  (192 * 1024) // attachment bytes per document

//  Mount a tmpfs at path. False, with the reason in why, where this
//  process may not mount (not root, no user namespaces).
static bool s_mount_tmpfs(const char *path, char *why, size_t len)
{
    if (mount("tmpfs", path, "tmpfs", 0, "size=" S_DISK_SIZE ",mode=0700") == 0)
        return true;
    snprintf(why, len, "mount -t tmpfs %s: %s", path, strerror(errno));
    return false;
}

static uint64_t s_disk_free(const char *path)
{
    struct statvfs fs;
    th_check(statvfs(path, &fs) == 0, "statvfs %s: %s", path, strerror(errno));
    return (uint64_t) fs.f_bavail * fs.f_frsize;
}

//  Fill the file system at dir with a file until at most keep bytes are
//  free (0: until the file system refuses).
static void s_fill(const char *file, uint64_t keep)
{
    int fd = open(file, O_WRONLY | O_CREAT | O_APPEND, 0600);
    th_check(fd >= 0, "open %s: %s", file, strerror(errno));
    static uint8_t chunk[64 * 1024];
    char dir[TH_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", file);
    *strrchr(dir, '/') = '\0';
    for (;;) {
        uint64_t free_now = s_disk_free(dir);
        if (keep && free_now <= keep)
            break;
        size_t n = sizeof chunk;
        if (keep && free_now - keep < n)
            n = (size_t) (free_now - keep);
        ssize_t w = write(fd, chunk, n);
        if (w <= 0) {
            th_check(keep == 0 && errno == ENOSPC, "write %s: %s", file, strerror(errno));
            break;
        }
    }
    fsync(fd);
    close(fd);
}

typedef struct {
    int accepted, rejected_full, rejected_other;
} s_tally_t;

//  Submit count documents of S_DISK_DOC bytes from c and wait for each
//  receipt. Accepted ids go to ids (if not NULL, up to cap).
static void s_submit_many(ah_env_t *env, truc_client_t *c, int count, s_tally_t *t, proto_id_t *ids,
                          int *nids, int cap)
{
    static uint8_t blob[S_DISK_DOC];
    const char *to[] = { th_code(TH_B) };
    for (int i = 0; i < count; i++) {
        randombytes_buf(blob, 64);
        truc_att_t att = { "ho-so.pdf", "application/pdf", blob, sizeof blob };
        truc_doc_t *doc = truc_doc_build(env->th->agency[TH_A], to, 1, "Báo cáo định kỳ", S_TYPE,
                                         PROTO_URGENCY_NORMAL, &att, 1);
        th_check(doc != NULL, "truc_doc_build");
        th_check(truc_client_submit(c, doc) == PROTO_OK, "submit: %s", truc_client_error_text(c));
        proto_msg_t *m = NULL;
        for (;;) {
            proto_err_t rc = truc_client_recv(c, TH_RECV_TIMEOUT_MS, &m, NULL);
            th_check(rc == PROTO_OK, "no receipt: %s", truc_client_error_text(c));
            if (m->kind == PROTO_KIND_ACCEPTED || m->kind == PROTO_KIND_REJECTED)
                break;
            th_check(m->kind == PROTO_KIND_DELIVERED, "unexpected %s", proto_kind_name(m->kind));
            proto_msg_destroy(&m);
        }
        th_check(truc_receipts_verify(m, th_hub_sign_pk(env->th)) == PROTO_OK,
                 "the receipt does not verify");
        const proto_item_t *item = truc_receipts_find(m, truc_doc_id(doc));
        th_check(item != NULL, "the receipt is not about the document");
        if (m->kind == PROTO_KIND_ACCEPTED) {
            t->accepted++;
            if (ids && *nids < cap)
                ids[(*nids)++] = *truc_doc_id(doc);
        } else if (item->leaf.code == PROTO_ERR_STORE_FULL) {
            t->rejected_full++;
        } else {
            th_print("rejected with %s", proto_errname((proto_err_t) item->leaf.code));
            t->rejected_other++;
        }
        proto_msg_destroy(&m);
        truc_doc_destroy(&doc);
    }
}

//  Receive and acknowledge deliveries at b until n distinct documents
//  arrived; return how many.
static int s_receive(ah_env_t *env, truc_client_t *b, int n)
{
    int got = 0;
    while (got < n) {
        proto_msg_t *m = NULL;
        truc_frames_t *fr = NULL;
        proto_err_t rc = truc_client_recv_kind(b, PROTO_KIND_DELIVER, TH_RECV_TIMEOUT_MS, &m, &fr);
        th_check(rc == PROTO_OK, "delivery %d of %d did not come: %s", got + 1, n,
                 truc_client_error_text(b));
        const proto_msg_t *ms[1] = { m };
        const truc_frames_t *fs[1] = { fr };
        th_check(truc_client_ack_deliveries(b, env->th->dir, ms, fs, 1) == PROTO_OK,
                 "acknowledging: %s", truc_client_error_text(b));
        proto_msg_destroy(&m);
        truc_frames_destroy(&fr);
        got++;
    }
    return got;
}

static void test_disk_full(void **state)
{
    ah_env_t *env = *state;
    th_env_t *th = env->th;
    mkdir(th->data, 0700);
    char why[TH_PATH_MAX + 64];
    if (!s_mount_tmpfs(th->data, why, sizeof why)) {
        th_print("SKIPPED disk_full: cannot mount a small file system here (%s); run as root "
                 "to prove the full-disk behaviour",
                 why);
        ah_pass(env);
        skip();
    }
    const char *sets[] = { "store.min_free=2M", "limits.max_document=1M", NULL };
    th_broker_start(th, sets);
    truc_client_t *a = th_connect(th, TH_A, 100, NULL);
    char filler[TH_PATH_MAX + 16];
    snprintf(filler, sizeof filler, "%s/filler", th->data);

    //  Nearly full: 4 MiB free, 2 MiB of it kept by store.min_free.
    s_fill(filler, 4u << 20);
    s_tally_t t1 = { 0 };
    static proto_id_t ids[256];
    int nids = 0;
    s_submit_many(env, a, 40, &t1, ids, &nids, 256);
    th_print("nearly full disk: %d accepted, %d rejected with STORE_FULL, %d other; %" PRIu64
             " bytes free",
             t1.accepted, t1.rejected_full, t1.rejected_other, s_disk_free(th->data));
    th_check(t1.rejected_full > 0, "nothing was refused with STORE_FULL");
    th_check(t1.rejected_other == 0, "refusals other than STORE_FULL");

    //  Deliveries go on: B takes every accepted document, A gets receipts.
    truc_client_t *b = th_connect(th, TH_B, 100, NULL);
    s_receive(env, b, t1.accepted);
    int delivered_receipts = 0;
    while (delivered_receipts < t1.accepted) {
        proto_msg_t *m = NULL;
        proto_err_t rc =
            truc_client_recv_kind(a, PROTO_KIND_DELIVERED, TH_RECV_TIMEOUT_MS, &m, NULL);
        th_check(rc == PROTO_OK, "DELIVERED receipt %d of %d: %s", delivered_receipts + 1,
                 t1.accepted, truc_client_error_text(a));
        delivered_receipts += (int) m->u.receipts.nitems;
        th_check(truc_client_ack(a, &m->u.receipts.mid, 1) == PROTO_OK, "ack");
        proto_msg_destroy(&m);
    }
    th_print("while nearly full: %d delivered to B, %d DELIVERED receipts routed to A", t1.accepted,
             delivered_receipts);

    //  Completely full: whatever the broker answers, it acknowledges only
    //  what it stored, and it keeps answering.
    s_fill(filler, 0);
    s_tally_t t2 = { 0 };
    s_submit_many(env, a, 5, &t2, NULL, NULL, 0);
    th_print("full disk: %d accepted, %d rejected with STORE_FULL, %d other", t2.accepted,
             t2.rejected_full, t2.rejected_other);
    th_check(t2.accepted == 0, "a document was accepted on a full disk");

    //  Space returns: accepted again, and delivered.
    th_check(unlink(filler) == 0, "unlink %s: %s", filler, strerror(errno));
    s_tally_t t3 = { 0 };
    s_submit_many(env, a, 10, &t3, NULL, NULL, 0);
    th_print("space back: %d accepted, %d rejected", t3.accepted,
             t3.rejected_full + t3.rejected_other);
    th_check(t3.accepted == 10, "only %d of 10 accepted after space returned", t3.accepted);
    s_receive(env, b, 10);

    //  Without store.min_free the file system itself runs out under a
    //  commit: the batch is refused, nothing is acknowledged, the broker
    //  goes on, and accepts again when space returns.
    th_drop(th, &a);
    th_drop(th, &b);
    th_broker_stop(th);
    const char *no_reserve[] = { "store.min_free=0", "limits.max_document=1M", NULL };
    th_broker_start(th, no_reserve);
    a = th_connect(th, TH_A, 100, NULL);
    s_fill(filler, 0);
    s_tally_t t4 = { 0 };
    s_submit_many(env, a, 5, &t4, NULL, NULL, 0);
    th_print("full disk, no reserve: %d accepted, %d rejected with STORE_FULL, %d other",
             t4.accepted, t4.rejected_full, t4.rejected_other);
    th_check(t4.accepted == 0, "a document was accepted on a full disk");
    th_check(truc_client_ping(a, TH_RECV_TIMEOUT_MS) == PROTO_OK, "the broker stopped answering");
    th_check(unlink(filler) == 0, "unlink %s: %s", filler, strerror(errno));
    s_tally_t t5 = { 0 };
    s_submit_many(env, a, 5, &t5, NULL, NULL, 0);
    th_print("space back: %d accepted", t5.accepted);
    th_check(t5.accepted == 5, "only %d of 5 accepted after space returned", t5.accepted);
    b = th_connect(th, TH_B, 100, NULL);
    s_receive(env, b, 5);

    //  What was accepted is stored; the chain holds.
    static char out[16384];
    for (int i = 0; i < nids; i++) {
        char text[PROTO_ID_TEXT_LEN];
        proto_id_format(&ids[i], text);
        int status = s_admin(env, out, sizeof out, "doc", "show", text);
        th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "doc show %s: %s", text, out);
    }
    s_audit_verifies(env);
    th_drop(th, &a);
    th_drop(th, &b);
    th_broker_stop(th);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  3. recv_disk_full

#define S_RECV_DOCS 4
#define S_RECV_ATT  (256 * 1024) // attachment bytes per document

static char s_agent_mount[TH_PATH_MAX]; // the agent data directory mounted, for the teardown

static bool s_store_full(const ah_reply_t *r, void *arg)
{
    return ah_is_ok(r) && ah_bool(r->map, "store_full") == *(const int *) arg;
}

static bool s_in_inbox(const ah_reply_t *r, const char *id)
{
    const msgpack_object *list = ah_get(r->map, "documents");
    for (uint32_t i = 0; list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size;
         i++)
        if (ah_str_is(&list->via.array.ptr[i], "id", id))
            return true;
    return false;
}

static bool s_sent_accepted_at(const ah_reply_t *r, void *arg)
{
    (void) arg;
    return ah_is_ok(r) && ah_str_is(r->map, "document.state", "accepted");
}

static void test_recv_disk_full(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *b = ah_agent_new(env, TH_B, NULL, 0, NULL);
    char why[TH_PATH_MAX + 64];
    if (!s_mount_tmpfs(ah_agent_data(b), why, sizeof why)) {
        th_print("SKIPPED disk_full at the receiving agent: cannot mount a small file system "
                 "here (%s); run as root to prove the full-disk behaviour",
                 why);
        ah_pass(env);
        skip();
    }
    snprintf(s_agent_mount, sizeof s_agent_mount, "%s", ah_agent_data(b));
    ah_agent_start(b);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_wait_directory(a);
    ah_wait_connected(b, true);

    //  B's disk nearly full: less room than one document. The first commit
    //  that needs more is cut short by the file system, which LMDB reports
    //  as EIO (a short write), not ENOSPC: it must still read as a full
    //  store. A request at B that stores something comes first.
    char filler[TH_PATH_MAX + 16];
    snprintf(filler, sizeof filler, "%s/filler", ah_agent_data(b));
    s_fill(filler, S_RECV_ATT / 2);
    static uint8_t blob[S_RECV_ATT];
    randombytes_buf(blob, sizeof blob);
    const char *to_a[] = { th_code(TH_A) };
    ah_reply_t *r =
        ah_call(b, "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s data:x}]}",
                "submit", to_a, (size_t) 1, S_TYPE, "Gửi từ đơn vị đĩa đầy", "ho-so.pdf",
                "application/pdf", blob, sizeof blob);
    ah_expect_error(r, PROTO_ERR_STORE_FULL, NULL, "submit at B on a full disk");
    ah_reply_destroy(&r);
    int full = 1;
    r = ah_poll(b, s_store_full, &full, "B's health shows store_full", "{cmd:s}", "health");
    ah_reply_destroy(&r);

    //  Documents for B: it cannot store them, so it does not list them.
    const char *to[] = { th_code(TH_B) };
    char ids[S_RECV_DOCS][PROTO_ID_TEXT_LEN];
    for (int i = 0; i < S_RECV_DOCS; i++) {
        randombytes_buf(blob, sizeof blob);
        r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s data:x}]}",
                    "submit", to, (size_t) 1, S_TYPE, "Gửi khi đĩa bên nhận đầy", "ho-so.pdf",
                    "application/pdf", blob, sizeof blob);
        ah_expect_ok(r, "submit to B");
        snprintf(ids[i], sizeof ids[i], "%s", ah_str(r->map, "id"));
        ah_reply_destroy(&r);
    }
    for (int i = 0; i < S_RECV_DOCS; i++) {
        r = ah_poll(a, s_sent_accepted_at, NULL, "A's document accepted by the broker",
                    "{cmd:s id:s}", "sent", ids[i]);
        ah_reply_destroy(&r);
    }
    r = ah_call(b, "{cmd:s limit:i}", "inbox", 1000);
    for (int i = 0; i < S_RECV_DOCS; i++)
        th_check(!s_in_inbox(r, ids[i]), "B lists %s although its disk is full", ids[i]);
    ah_reply_destroy(&r);
    th_print("full disk at B: store_full shown, a submit answered ERR_STORE_FULL, nothing listed");

    //  Space returns: the broker pushes again what B did not acknowledge
    //  (after at most its 30 s repush), B stores it, and says so.
    th_check(unlink(filler) == 0, "unlink %s: %s", filler, strerror(errno));
    uint64_t deadline = s_ms() + S_STALL_MS;
    int listed = 0;
    while (listed < S_RECV_DOCS) {
        th_check(s_ms() < deadline,
                 "only %d of %d documents reached B's inbox after space returned", listed,
                 S_RECV_DOCS);
        th_sleep_ms(AH_POLL_MS);
        r = ah_call(b, "{cmd:s limit:i}", "inbox", 1000);
        listed = 0;
        for (int i = 0; i < S_RECV_DOCS; i++)
            listed += s_in_inbox(r, ids[i]);
        ah_reply_destroy(&r);
    }
    full = 0;
    r = ah_poll(b, s_store_full, &full, "B's health: store_full over", "{cmd:s}", "health");
    ah_reply_destroy(&r);
    ah_events_wait(b, "store", "full", "true", NULL);
    ah_events_wait(b, "store", "full", "false", NULL);
    th_check(ah_events_count(b, "inbox.new", NULL) == S_RECV_DOCS, "B announced %zu inbox.new",
             ah_events_count(b, "inbox.new", NULL));
    th_print("space back at B: %d documents stored, store events full=true then full=false",
             listed);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  4. soak

//  RssAnon is the process's own memory (heap, stacks); RssFile is mostly
//  the store's memory map, which grows with the data kept and belongs to
//  the page cache, so flatness is judged on RssAnon and VmRSS is shown.
typedef struct {
    long anon_kb, rss_kb, fds;
} s_sample_t;

static void test_soak(void **state)
{
    ah_env_t *env = *state;
    uint64_t seconds = s_env_u64("TRUC_SOAK_SECONDS", 600);
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_wait_directory(a);
    s_party_t pa = { .agent = a, .rcpt = -1, .sender = 0 };
    s_party_t pb = { .agent = b, .rcpt = 0, .sender = -1 };
    s_party_t *rcpts[S_NRCPT] = { &pb, &pb, &pb };
    const char *to[] = { th_code(TH_B) };
    static uint8_t blob[16384];
    randombytes_buf(blob, sizeof blob);

    enum { S_MAX_SAMPLES = 4096 };
    static s_sample_t samples[3][S_MAX_SAMPLES]; // broker, A, B
    pid_t pids[3] = { env->th->pid, ah_agent_pid(a), ah_agent_pid(b) };
    const char *names[3] = { "broker", "agent A", "agent B" };
    size_t nsamples = 0;
    s_ledger_t ledger;
    s_ledger_init(&ledger, 4u << 20);
    uint64_t start = s_ms(), next_sample = start, end = start + seconds * 1000;
    size_t sent = 0;
    while (s_ms() < end) {
        //  A steady stream: a burst of 20 documents, then the DMS reads.
        for (int i = 0; i < 20 && ledger.ndocs < ledger.cap; i++) {
            ah_reply_t *r = ah_call(a,
                                    "{cmd:s doc:{to:A type:s subject:s} "
                                    "attachments:[{name:s type:s data:x}]}",
                                    "submit", to, (size_t) 1, S_TYPE, "Văn bản thường kỳ",
                                    "van-ban.pdf", "application/pdf", blob, sizeof blob);
            ah_expect_ok(r, "submit");
            s_doc_t *d = s_ledger_add(&ledger, ah_str(r->map, "id"));
            d->rcpt_mask = 1;
            ah_reply_destroy(&r);
            sent++;
        }
        s_drain_events(&pa, &ledger, rcpts);
        s_drain_events(&pb, &ledger, rcpts);
        if (s_ms() >= next_sample && nsamples < S_MAX_SAMPLES) {
            for (int k = 0; k < 3; k++)
                samples[k][nsamples] = (s_sample_t){ th_proc_kb(pids[k], "RssAnon"),
                                                     th_proc_kb(pids[k], "VmRSS"), s_fds(pids[k]) };
            nsamples++;
            next_sample += 10000;
        }
        th_sleep_ms(50);
    }
    //  Let the last ones arrive.
    uint64_t last_progress = s_ms();
    size_t arrived = 0;
    while (arrived < ledger.ndocs) {
        size_t read = s_drain_events(&pa, &ledger, rcpts) + s_drain_events(&pb, &ledger, rcpts);
        arrived = 0;
        for (size_t i = 0; i < ledger.ndocs; i++)
            arrived += ledger.docs[i].inbox_new[0] == 1;
        if (read)
            last_progress = s_ms();
        th_check(s_ms() - last_progress < S_STALL_MS, "stalled at %zu of %zu", arrived,
                 ledger.ndocs);
        th_sleep_ms(200);
    }
    th_print("soak: %zu documents of %zu bytes in %" PRIu64 " s, all delivered once; %zu samples",
             sent, sizeof blob, seconds, nsamples);
    th_check(nsamples >= 4, "too few samples (%zu): run longer", nsamples);
    //  Flat: the second half's peak of anonymous memory within the first
    //  half's peak plus an allowance (allocator slack, ZeroMQ buffers).
    for (int k = 0; k < 3; k++) {
        long peak1 = 0, peak2 = 0, fd1 = 0, fd2 = 0;
        for (size_t i = 0; i < nsamples; i++) {
            s_sample_t s = samples[k][i];
            th_check(s.anon_kb > 0, "%s is gone", names[k]);
            long *peak = i < nsamples / 2 ? &peak1 : &peak2, *fd = i < nsamples / 2 ? &fd1 : &fd2;
            *peak = s.anon_kb > *peak ? s.anon_kb : *peak;
            *fd = s.fds > *fd ? s.fds : *fd;
        }
        th_print("%s: RssAnon first %ld kB, first-half peak %ld kB, second-half peak %ld kB, last "
                 "%ld kB; VmRSS first %ld kB, last %ld kB; descriptors first-half peak %ld, "
                 "second-half peak %ld",
                 names[k], samples[k][0].anon_kb, peak1, peak2, samples[k][nsamples - 1].anon_kb,
                 samples[k][0].rss_kb, samples[k][nsamples - 1].rss_kb, fd1, fd2);
        th_check(peak2 <= peak1 + peak1 / 10 + 8192, "%s: RssAnon grew from %ld to %ld kB",
                 names[k], peak1, peak2);
        th_check(fd2 <= fd1 + 4, "%s: descriptors grew from %ld to %ld", names[k], fd1, fd2);
    }
    ah_agent_stop(a);
    ah_agent_stop(b);
    ah_broker_stop(env);
    s_ledger_free(&ledger);
    ah_pass(env);
}

// ---------------------------------------------------------------------------

//  The disk test mounts over the data directory; unmount it before the
//  harness removes the test's directory.
static int s_teardown(void **state)
{
    ah_env_t *env = *state;
    if (env && env->th) {
        if (env->th->pid > 0)
            th_broker_kill(env->th);
        umount2(env->th->data, MNT_DETACH);
    }
    if (s_agent_mount[0]) {
        umount2(s_agent_mount, MNT_DETACH);
        s_agent_mount[0] = '\0';
    }
    return ah_teardown(state);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, ah_setup, s_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_chaos", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_AGENT", &ah_agent_path, "TRUC_ADMIN",
                           &s_admin_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_crash_consistency),
        S_TEST(test_disk_full),
        S_TEST(test_recv_disk_full),
        S_TEST(test_soak),
    };
    return th_run_tests("test_chaos", "truc chaos", tests, sizeof tests / sizeof tests[0], filter);
}
