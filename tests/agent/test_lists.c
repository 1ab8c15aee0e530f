/*  tests/agent/test_lists.c - `inbox` and `sent` as lists that scale.

    A real broker and real agents (tests/lib/agent_harness.h), driven
    through the local API as a DMS drives them. One agency sends a few
    dozen documents that differ in recipient, subject, number, notation
    and urgency; the lists are then read page by page, with every filter
    agent/API.md names (time window, counterpart agency, state, number,
    notation, subject text), and each listing is checked against what the
    test itself sent: every document that matches appears once, in the
    list's documented order (sent: id order; inbox: arrival order), none
    that does not, and the cursor ends as nil on the last page only. A
    document sent while a listing is under way shows up on a later page.

    test_scan_budget fills a stopped agent's store with more records than
    one call examines (API_LIST_SCAN_MAX), written with the agent's own
    store module, and checks that a filter matching only a late record
    comes back as an empty page with a cursor, then the record, and that a
    whole listing pages through every record once.

    Usage: test_lists TRUC_BROKER TRUC_KEYS TRUC_AGENT [TEST_NAME]
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent_harness.h"
#include "api_internal.h" // API_LIST_SCAN_MAX
#include "store.h"        // agent/store.h: test_scan_budget writes records directly

#define S_DOCS   24 // documents the test sends
#define S_ID_LEN 37 // UUID text and NUL

typedef char s_id_t[S_ID_LEN];

//  What the test sent, by the order it sent it.
typedef struct {
    s_id_t id;
    bool to_b;        // else to C
    bool urgent;      // urgency 1, else 0
    bool report;      // subject "Báo cáo đợt N", else "Công văn N"
    bool vp;          // notation UBND-VP, else SYT-KHTC
    char number[8];   // "N"
    uint64_t created; // from `sent`
} s_doc_t;

typedef struct {
    s_doc_t docs[S_DOCS + 1]; // one more is sent during a listing
    size_t n;
} s_sent_t;

//  The filters of one listing; NULL / 0 leave a filter out.
typedef struct {
    const char *cmd;
    const char *agency, *subject, *notation, *number, *state;
    uint64_t since, until, limit;
} s_query_t;

static void s_send(ah_agent_t *a, s_sent_t *sent, size_t i)
{
    s_doc_t *d = &sent->docs[sent->n];
    d->to_b = i % 3 != 2;
    d->urgent = i % 2 == 1;
    d->report = i % 4 == 0;
    d->vp = i % 2 == 1;
    snprintf(d->number, sizeof d->number, "%zu", i);
    char subject[64];
    snprintf(subject, sizeof subject, d->report ? "Báo cáo đợt %zu" : "Công văn %zu", i);
    const char *to[] = { th_code(d->to_b ? TH_B : TH_C) };
    ah_reply_t *r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s number:s notation:s urgency:s}}",
                            "submit", to, (size_t) 1, "Công văn", subject, d->number,
                            d->vp ? "UBND-VP" : "SYT-KHTC", d->urgent ? "urgent" : "normal");
    ah_expect_ok(r, "submit");
    const char *id = ah_str(r->map, "id");
    th_check(id && strlen(id) == S_ID_LEN - 1, "submit: no id in %s", ah_show(r->map));
    memcpy(d->id, id, S_ID_LEN);
    ah_reply_destroy(&r);
    sent->n++;
}

static s_doc_t *s_by_id(s_sent_t *sent, const char *id)
{
    for (size_t i = 0; id && i < sent->n; i++)
        if (strcmp(sent->docs[i].id, id) == 0)
            return &sent->docs[i];
    return NULL;
}

//  Does d match q, as agent/API.md says the filters work?
static bool s_matches(const s_query_t *q, const s_doc_t *d)
{
    bool inbox = strcmp(q->cmd, "inbox") == 0;
    if (inbox && !d->to_b)
        return false;
    if (q->agency && !inbox && strcmp(q->agency, th_code(d->to_b ? TH_B : TH_C)) != 0)
        return false;
    if (q->subject && strcmp(q->subject, "BÁO CÁO ĐỢT") == 0 && !d->report)
        return false;
    if (q->subject && strcmp(q->subject, "công văn") == 0 && d->report)
        return false;
    if (q->notation && (strcmp(q->notation, "ubnd-vp") == 0) != d->vp)
        return false;
    if (q->number && strcmp(q->number, d->number) != 0)
        return false;
    if (!inbox && (q->since || q->until) &&
        (d->created < q->since || (q->until && d->created > q->until)))
        return false;
    return true;
}

//  Read every page of q; check each page, the order and the cursor, and
//  that the listing is exactly the documents of sent that match. When
//  extra is not NULL, one more document is sent after the first page: it
//  must come on a later page. Returns the number of pages.
static int s_list_all(ah_agent_t *a, s_sent_t *sent, const s_query_t *q, ah_agent_t *extra)
{
    char cursor[128] = "", last[S_ID_LEN] = "";
    bool seen[S_DOCS + 1] = { false };
    int64_t last_seq = -1;
    int pages = 0;
    for (;;) {
        ah_reply_t *r = ah_call(a,
                                "{cmd:s agency:s subject:s notation:s number:s state:s since:U "
                                "until:U limit:U cursor:s}",
                                q->cmd, q->agency, q->subject, q->notation, q->number, q->state,
                                q->since, q->until, q->limit, cursor[0] ? cursor : NULL);
        ah_expect_ok(r, q->cmd);
        pages++;
        int64_t n = ah_count(r->map, "documents");
        th_check(n >= 0 && (uint64_t) n <= q->limit, "%s page %d: %lld documents for limit %llu",
                 q->cmd, pages, (long long) n, (unsigned long long) q->limit);
        for (int64_t i = 0; i < n; i++) {
            char path[64];
            snprintf(path, sizeof path, "documents[%lld].id", (long long) i);
            const char *id = ah_str(r->map, path);
            const s_doc_t *d = s_by_id(sent, id);
            th_check(d != NULL, "%s lists %s, which the test did not send", q->cmd, id);
            size_t k = (size_t) (d - sent->docs);
            th_check(!seen[k], "%s lists %s twice", q->cmd, id);
            th_check(s_matches(q, d), "%s lists %s, which does not match the filters", q->cmd, id);
            seen[k] = true;
            if (strcmp(q->cmd, "sent") == 0) {
                th_check(strcmp(last, id) < 0, "sent: %s after %s is not id order", id, last);
                memcpy(last, id, S_ID_LEN);
            } else {
                snprintf(path, sizeof path, "documents[%lld].seq", (long long) i);
                th_check(ah_int(r->map, path) > last_seq, "inbox: %s out of arrival order", id);
                last_seq = ah_int(r->map, path);
            }
        }
        bool end = ah_is_nil(r->map, "cursor");
        if (!end) {
            const char *c = ah_str(r->map, "cursor");
            th_check(c && strlen(c) < sizeof cursor, "%s: a cursor that is not text: %s", q->cmd,
                     ah_show(r->map));
            snprintf(cursor, sizeof cursor, "%s", c);
        }
        ah_reply_destroy(&r);
        if (extra && pages == 1) {
            s_send(extra, sent, 99);
            extra = NULL;
            th_check(!end, "the listing of the extra document needs a second page");
        }
        if (end)
            break;
        th_check(pages < 100, "%s: the cursor never ends", q->cmd);
    }
    for (size_t k = 0; k < sent->n; k++)
        th_check(seen[k] || !s_matches(q, &sent->docs[k]), "%s skipped %s", q->cmd,
                 sent->docs[k].id);
    return pages;
}

static bool s_all_accepted(const ah_reply_t *r, void *arg)
{
    return ah_is_ok(r) && ah_count(r->map, "documents") == *(const int64_t *) arg;
}

static bool s_inbox_holds(const ah_reply_t *r, void *arg)
{
    return ah_is_ok(r) && ah_count(r->map, "documents") >= *(const int64_t *) arg;
}

static void test_paging(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_agent_run(env, TH_C, 0, NULL);
    ah_wait_directory(a);
    static s_sent_t sent;
    memset(&sent, 0, sizeof sent);
    for (size_t i = 0; i < S_DOCS; i++)
        s_send(a, &sent, i);
    int64_t want = S_DOCS;
    ah_reply_t *r = ah_poll(a, s_all_accepted, &want, "every document accepted",
                            "{cmd:s state:s limit:i}", "sent", "accepted", 1000);
    for (size_t i = 0; i < S_DOCS; i++) {
        char path[64];
        snprintf(path, sizeof path, "documents[%zu].created", i);
        int64_t created = ah_int(r->map, path);
        snprintf(path, sizeof path, "documents[%zu].id", i);
        s_doc_t *d = s_by_id(&sent, ah_str(r->map, path));
        th_check(d && created > 0, "sent lists an unknown document: %s", ah_show(r->map));
        d->created = (uint64_t) created;
    }
    ah_reply_destroy(&r);

    //  Sent, to one agency, five a page, with a document sent meanwhile.
    s_query_t q = { .cmd = "sent", .agency = th_code(TH_B), .limit = 5 };
    int pages = s_list_all(a, &sent, &q, a);
    th_check(pages == 4, "16 + 1 documents to B in pages of 5: %d pages", pages);
    //  Several filters at once; subject words in capitals (Vietnamese ones
    //  too: "Báo cáo đợt" is found as "BÁO CÁO ĐỢT").
    q = (s_query_t){ .cmd = "sent",
                     .agency = th_code(TH_B),
                     .subject = "BÁO CÁO ĐỢT",
                     .notation = "syt-khtc",
                     .limit = 3 };
    th_check(s_list_all(a, &sent, &q, NULL) == 2, "4 reports to B in pages of 3");
    //  The same words decomposed (NFD, as some DMSs send them) find the
    //  same documents: the agent stores and looks for text in NFC.
    r = ah_call(a, "{cmd:s subject:s limit:i}", "sent",
                "B\xc3\x81O CA\xcc\x81O \xc4\x90O\xcc\x9b\xcc\xa3T", 1000);
    ah_reply_t *nfc = ah_call(a, "{cmd:s subject:s limit:i}", "sent", "BÁO CÁO ĐỢT", 1000);
    th_check(ah_count(r->map, "documents") == ah_count(nfc->map, "documents") &&
                 ah_count(nfc->map, "documents") > 0,
             "an NFD subject filter finds %d, the NFC one %d", (int) ah_count(r->map, "documents"),
             (int) ah_count(nfc->map, "documents"));
    ah_reply_destroy(&nfc);
    ah_reply_destroy(&r);
    //  A time window, from the 6th document's creation to the 18th's.
    q = (s_query_t){
        .cmd = "sent", .since = sent.docs[5].created, .until = sent.docs[17].created, .limit = 4
    };
    th_check(s_list_all(a, &sent, &q, NULL) >= 3, "13 documents in pages of 4");
    q = (s_query_t){ .cmd = "sent", .number = "7", .limit = 1 };
    s_list_all(a, &sent, &q, NULL);
    q = (s_query_t){ .cmd = "sent", .state = "rejected", .limit = 10 };
    r = ah_call(a, "{cmd:s state:s}", "sent", "rejected");
    th_check(ah_count(r->map, "documents") == 0 && ah_is_nil(r->map, "cursor"),
             "no rejected document: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    //  `after` takes an id: the rest of the list.
    //  (Ids made in the same millisecond sort at random: count by id.)
    int64_t later = 0;
    for (size_t k = 0; k < sent.n; k++)
        later += strcmp(sent.docs[k].id, sent.docs[20].id) > 0;
    r = ah_call(a, "{cmd:s after:s limit:i}", "sent", sent.docs[20].id, 1000);
    th_check(ah_count(r->map, "documents") == later &&
                 strcmp(ah_str(r->map, "documents[0].id"), sent.docs[20].id) > 0,
             "sent after the 21st document: %s", ah_show(r->map));
    ah_reply_destroy(&r);

    //  The inbox of B: 16 + 1 documents, in arrival order.
    want = 17;
    r = ah_poll(b, s_inbox_holds, &want, "B holds 17 documents", "{cmd:s limit:i}", "inbox", 1000);
    ah_reply_destroy(&r);
    q = (s_query_t){ .cmd = "inbox", .limit = 4 };
    th_check(s_list_all(b, &sent, &q, NULL) == 5, "17 documents in pages of 4");
    q = (s_query_t){ .cmd = "inbox",
                     .agency = th_code(TH_A),
                     .subject = "công văn",
                     .notation = "ubnd-vp",
                     .state = "unread",
                     .limit = 2 };
    th_check(s_list_all(b, &sent, &q, NULL) >= 2, "odd documents to B in pages of 2");
    q = (s_query_t){ .cmd = "inbox", .number = "7", .limit = 3 };
    s_list_all(b, &sent, &q, NULL);
    //  Acknowledged documents leave state "unread" and make up "acked".
    r = ah_call(b, "{cmd:s id:s}", "ack", sent.docs[1].id);
    ah_expect_ok(r, "ack");
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s state:s}", "inbox", "acked");
    th_check(ah_count(r->map, "documents") == 1 &&
                 ah_str_is(r->map, "documents[0].id", sent.docs[1].id),
             "inbox acked: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    //  The older `after` (a seq) still pages the inbox; `next` goes with it.
    r = ah_call(b, "{cmd:s limit:i}", "inbox", 16);
    int64_t next = ah_int(r->map, "next");
    th_check(next > 0 && ah_str(r->map, "cursor"), "inbox: next and cursor: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s after:U}", "inbox", (uint64_t) next);
    th_check(ah_count(r->map, "documents") == 1 && ah_is_nil(r->map, "next"),
             "inbox after %lld: %s", (long long) next, ah_show(r->map));
    ah_reply_destroy(&r);
    ah_pass(env);
}

static void test_errors(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    static const struct {
        const char *cmd, *key, *value, *field;
        proto_err_t code;
    } cases[] = {
        { "sent", "cursor", "i:12", "cursor", PROTO_ERR_VALUE },
        { "inbox", "cursor", "s:0196a4b0-0000-7000-8000-000000000000", "cursor", PROTO_ERR_VALUE },
        { "inbox", "cursor", "i:12x", "cursor", PROTO_ERR_VALUE },
        { "sent", "cursor", "s:not-an-id", "cursor", PROTO_ERR_VALUE },
        { "sent", "state", "delivered", "state", PROTO_ERR_VALUE },
        { "inbox", "state", "queued", "state", PROTO_ERR_VALUE },
        { "sent", "agency", "G09", "agency", PROTO_ERR_AGENCY_CODE },
        { "sent", "after", "12", "after", PROTO_ERR_VALUE },
        { "sent", "colour", "red", "colour", PROTO_ERR_UNKNOWN_FIELD },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char key[16], format[64];
        snprintf(key, sizeof key, "%s", cases[i].key);
        snprintf(format, sizeof format, "{cmd:s %s:s}", key);
        ah_reply_t *r = ah_call(a, format, cases[i].cmd, cases[i].value);
        char what[128];
        snprintf(what, sizeof what, "%s %s=%s", cases[i].cmd, cases[i].key, cases[i].value);
        ah_expect_error(r, cases[i].code, cases[i].field, what);
        ah_reply_destroy(&r);
    }
    ah_reply_t *r = ah_call(a, "{cmd:s limit:i}", "sent", 1001);
    ah_expect_error(r, PROTO_ERR_VALUE, "limit", "sent limit 1001");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s since:i until:i}", "inbox", 2000, 1000);
    ah_expect_error(r, PROTO_ERR_VALUE, "until", "inbox until before since");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s cursor:s after:i}", "inbox", "i:3", 3);
    ah_expect_error(r, PROTO_ERR_VALUE, "cursor", "inbox cursor and after");
    ah_reply_destroy(&r);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  Pages that stop before a full page: the scan budget

#define S_BIG       20050 // records written, more than one call examines
#define S_BIG_MATCH 20030 // the one record the filter matches
_Static_assert(S_BIG_MATCH > API_LIST_SCAN_MAX && S_BIG < 2 * API_LIST_SCAN_MAX,
               "the match is past one call's budget, within two");

//  A version-7-like id made at ms, told apart by n.
static void s_big_id(proto_id_t *id, uint64_t ms, uint32_t n)
{
    memset(id->bytes, 0, sizeof id->bytes);
    for (int i = 0; i < 6; i++)
        id->bytes[i] = (uint8_t) (ms >> (40 - 8 * i));
    id->bytes[6] = 0x70;
    id->bytes[8] = 0x80;
    for (int i = 0; i < 4; i++)
        id->bytes[12 + i] = (uint8_t) (n >> (24 - 8 * i));
}

//  Write S_BIG sent and inbox records into the store of the stopped agent.
static void s_big_fill(ah_agent_t *a)
{
    char err[256];
    proto_store_t *kv = agent_store_open(ah_agent_data(a), 1ull << 30, err, sizeof err);
    th_check(kv != NULL, "cannot open the agent's store: %s", err);
    th_check(proto_store_begin(kv) == PROTO_OK, "cannot begin a transaction");
    uint64_t base = 1700000000000ull;
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    for (uint32_t n = 0; n < S_BIG; n++) {
        char subject[64];
        snprintf(subject, sizeof subject, n == S_BIG_MATCH ? "Hồ sơ cuối %u" : "Hồ sơ %u", n);
        proto_id_t id;
        s_big_id(&id, base + n, n);
        msgpack_sbuffer_clear(&buf);
        msgpack_pack_map(&pk, 2);
        msgpack_pack_str_with_body(&pk, "subject", 7);
        msgpack_pack_str_with_body(&pk, subject, strlen(subject));
        msgpack_pack_str_with_body(&pk, "from", 4);
        msgpack_pack_str_with_body(&pk, th_code(TH_B), strlen(th_code(TH_B)));
        agent_sent_t sent = { .state = SENT_ACCEPTED,
                              .kind = PROTO_KIND_SUBMIT,
                              .created = base + n,
                              .summary = buf.data,
                              .summary_len = buf.size };
        agent_inbox_t in = { .received = base + n, .summary = buf.data, .summary_len = buf.size };
        th_check(agent_store_sent_put(kv, &id, &sent) == PROTO_OK &&
                     agent_store_inbox_add(kv, &id, &in) == PROTO_OK,
                 "cannot write record %u", n);
    }
    th_check(proto_store_commit(kv) == PROTO_OK, "cannot commit %d records", S_BIG);
    msgpack_sbuffer_destroy(&buf);
    proto_store_destroy(&kv);
}

static void test_scan_budget(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_stop(a);
    s_big_fill(a);
    ah_agent_start(a);
    static const char *const lists[] = { "sent", "inbox" };
    for (int k = 0; k < 2; k++) {
        //  Only one late record matches: the first call stops at the
        //  budget with an empty page and a cursor; the next finds it.
        ah_reply_t *r = ah_call(a, "{cmd:s subject:s}", lists[k], "hồ sơ CUỐI");
        ah_expect_ok(r, lists[k]);
        th_check(ah_count(r->map, "documents") == 0 && ah_str(r->map, "cursor"),
                 "%s: the first page should stop at the budget: %s", lists[k], ah_show(r->map));
        char cursor[128];
        snprintf(cursor, sizeof cursor, "%s", ah_str(r->map, "cursor"));
        ah_reply_destroy(&r);
        r = ah_call(a, "{cmd:s subject:s cursor:s}", lists[k], "hồ sơ CUỐI", cursor);
        ah_expect_ok(r, lists[k]);
        th_check(ah_count(r->map, "documents") == 1 && ah_is_nil(r->map, "cursor") &&
                     ah_str_is(r->map, "documents[0].subject", "Hồ sơ cuối 20030"),
                 "%s: the second page should hold the match: %s", lists[k], ah_show(r->map));
        ah_reply_destroy(&r);

        //  Every record, a thousand a page: each once, in order.
        cursor[0] = '\0';
        int pages = 0;
        uint32_t want = 0;
        do {
            r = ah_call(a, "{cmd:s limit:i cursor:s}", lists[k], 1000, cursor[0] ? cursor : NULL);
            ah_expect_ok(r, lists[k]);
            int64_t n = ah_count(r->map, "documents");
            th_check(n > 0 && n <= 1000, "%s page %d: %lld documents", lists[k], pages,
                     (long long) n);
            for (int64_t i = 0; i < n; i++, want++) {
                char path[64], subject[64];
                snprintf(path, sizeof path, "documents[%lld].subject", (long long) i);
                snprintf(subject, sizeof subject,
                         want == S_BIG_MATCH ? "Hồ sơ cuối %u" : "Hồ sơ %u", want);
                th_check(ah_str_is(r->map, path, subject), "%s: %s where %s was expected", lists[k],
                         ah_str(r->map, path), subject);
            }
            snprintf(cursor, sizeof cursor, "%s",
                     ah_is_nil(r->map, "cursor") ? "" : ah_str(r->map, "cursor"));
            ah_reply_destroy(&r);
            th_check(++pages <= S_BIG / 1000 + 1, "%s: too many pages", lists[k]);
        } while (cursor[0]);
        th_check(want == S_BIG, "%s listed %u of %d records", lists[k], want, S_BIG);
    }
    ah_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, ah_setup, ah_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_lists", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_AGENT", &ah_agent_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_paging),
        S_TEST(test_errors),
        S_TEST(test_scan_budget),
    };
    return th_run_tests("test_lists", "truc-agent", tests, sizeof tests / sizeof tests[0], filter);
}
