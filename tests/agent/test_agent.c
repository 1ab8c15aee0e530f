/*  tests/agent/test_agent.c - integration tests of the real truc-agent.

    Each test gets a fresh temporary directory with keys and a directory
    made by truc-keys (tests/lib/harness.h), a real truc-broker, and
    real truc-agent processes for the agencies it needs
    (tests/lib/agent_harness.h). The tests talk to the agents only
    through their local API, as a DMS does, and check outcomes against
    agent/API.md and proto/PROTOCOL.md: documents arrive intact and exactly
    once, receipts verify, urgency orders deliveries, nothing acknowledged
    is lost across a broker outage or kill -9, tampered deliveries are
    quarantined and refused with a receipt signed by the recipient, every
    documented API error comes with its exact code and field, and the agent
    refuses to start on unsafe keys, a locked store or a wrong broker key.

    The quarantine test replaces the broker with a fake one built here: a
    ROUTER with the broker's CURVE keys that serves HELLO, a signed
    DIRECTORY and hand-made DELIVER messages.

    No assertion depends on speed: every wait polls with a generous
    deadline (AH_WAIT_MS).

    Usage: test_agent TRUC_BROKER TRUC_KEYS TRUC_AGENT [TEST_NAME]
    (or TRUC_BROKER, TRUC_KEYS and TRUC_AGENT in the environment).
*/
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <zmq.h>

#include "agent_harness.h"
#include "proto/dirdelta.h"
#include "proto/merkle.h"
#include "proto/sign.h"
#include "truc_client.h"

#define S_SUBJECT "Về việc thử nghiệm trục liên thông văn bản điện tử"
#define S_TYPE    "Công văn"
#define S_ID_LEN  37 // UUID text and NUL

typedef char s_id_t[S_ID_LEN];

// ---------------------------------------------------------------------------
//  Helpers

static void s_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    th_check(fd >= 0, "open %s: %s", path, strerror(errno));
    ssize_t n = write(fd, data, len);
    close(fd);
    th_check(n == (ssize_t) len, "write %s", path);
    th_check(chmod(path, mode) == 0, "chmod %s: %s", path, strerror(errno));
}

//  Read a whole file into a new buffer (*len bytes); NULL if missing.
static uint8_t *s_read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *data = malloc(cap);
    while (data) {
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        uint8_t *grown = realloc(data, cap * 2);
        if (!grown) {
            free(data);
            data = NULL;
            break;
        }
        data = grown;
        cap *= 2;
    }
    fclose(f);
    *len = n;
    return data;
}

//  Copy an id from a reply field, and check that it is UUID text.
static void s_id_get(const msgpack_object *o, const char *path, s_id_t out)
{
    const char *text = ah_str(o, path);
    proto_id_t id;
    th_check(text && strlen(text) == 36 && proto_id_parse(text, &id) == PROTO_OK,
             "%s is not a document id in %s", path, ah_show(o));
    memcpy(out, text, S_ID_LEN);
}

//  The index of the entry of list (an array of maps) whose `key` is the
//  string value, -1 if none; *count (if not NULL) gets how many match.
static int s_find(const msgpack_object *list, const char *key, const char *value, int *count)
{
    int found = -1, n = 0;
    for (uint32_t i = 0; list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size;
         i++)
        if (ah_str_is(&list->via.array.ptr[i], key, value)) {
            if (found < 0)
                found = (int) i;
            n++;
        }
    if (count)
        *count = n;
    return found;
}

//  Submit a document without attachments; the new id in id.
static void s_submit(ah_agent_t *a, const char *const *to, size_t nto, const char *subject,
                     const char *urgency, s_id_t id)
{
    ah_reply_t *r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s urgency:s}}", "submit", to, nto,
                            S_TYPE, subject, urgency);
    ah_expect_ok(r, "submit");
    th_check(ah_str_is(r->map, "state", "queued"), "submit: state is not queued in %s",
             ah_show(r->map));
    s_id_get(r->map, "id", id);
    ah_reply_destroy(&r);
}

static int s_cmp_ids(const void *x, const void *y)
{
    return strcmp(x, y);
}

// ---------------------------------------------------------------------------
//  Poll checks

static bool s_inbox_has(const ah_reply_t *r, void *arg)
{
    return ah_is_ok(r) && s_find(ah_get(r->map, "documents"), "id", arg, NULL) >= 0;
}

static bool s_inbox_at_least(const ah_reply_t *r, void *arg)
{
    return ah_is_ok(r) && ah_count(r->map, "documents") >= *(const int64_t *) arg;
}

//  `sent ID`: accepted, and every recipient delivered.
static bool s_sent_delivered(const ah_reply_t *r, void *arg)
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

static bool s_sent_accepted(const ah_reply_t *r, void *arg)
{
    (void) arg;
    return ah_is_ok(r) && ah_str_is(r->map, "document.state", "accepted");
}

//  A notice with this code from this agency in a list at `notices`.
typedef struct {
    const char *path; // where the list is: "document.notices" or "notices"
    const char *from;
    int64_t code;
} s_notice_t;

static bool s_has_notice(const ah_reply_t *r, void *arg)
{
    const s_notice_t *want = arg;
    const msgpack_object *list = ah_get(r->map, want->path);
    for (uint32_t i = 0;
         ah_is_ok(r) && list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size;
         i++) {
        const msgpack_object *n = &list->via.array.ptr[i];
        if (ah_int(n, "code") == want->code && ah_str_is(n, "from", want->from))
            return true;
    }
    return false;
}

static bool s_outbox_empty(const ah_reply_t *r, void *arg)
{
    (void) arg;
    return ah_is_ok(r) && ah_int(r->map, "outbox") == 0 && ah_bool(r->map, "connected") == 1;
}

//  Poll `inbox` (every document) until it holds at least n; return the reply.
static ah_reply_t *s_inbox_wait(ah_agent_t *a, int64_t n)
{
    char what[96];
    snprintf(what, sizeof what, "inbox of %s holds %d documents", ah_agent_code(a), (int) n);
    return ah_poll(a, s_inbox_at_least, &n, what, "{cmd:s limit:i}", "inbox", 1000);
}

//  Ids of an inbox reply, sorted, in ids (room for cap); returns the count.
static size_t s_inbox_ids(const ah_reply_t *r, s_id_t *ids, size_t cap)
{
    const msgpack_object *list = ah_get(r->map, "documents");
    size_t n = 0;
    for (uint32_t i = 0; list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size;
         i++) {
        th_check(n < cap, "more inbox entries than expected: %u", list->via.array.size);
        s_id_get(&list->via.array.ptr[i], "id", ids[n++]);
    }
    qsort(ids, n, sizeof ids[0], s_cmp_ids);
    return n;
}

//  The inbox of `a` holds exactly the n documents in want (any order), each
//  once, and emitted inbox.new once for each.
static void s_inbox_exactly(ah_agent_t *a, s_id_t *want, size_t n)
{
    ah_reply_t *r = s_inbox_wait(a, (int64_t) n);
    s_id_t *got = calloc(n + 64, sizeof *got);
    th_check(got != NULL, "out of memory");
    size_t count = s_inbox_ids(r, got, n + 64);
    ah_reply_destroy(&r);
    qsort(want, n, sizeof want[0], s_cmp_ids);
    for (size_t i = 1; i < count; i++)
        th_check(strcmp(got[i - 1], got[i]) != 0, "inbox of %s lists %s twice", ah_agent_code(a),
                 got[i]);
    th_check(count == n, "inbox of %s holds %zu documents, expected %zu", ah_agent_code(a), count,
             n);
    for (size_t i = 0; i < n; i++)
        th_check(strcmp(got[i], want[i]) == 0, "inbox of %s: %s where %s was expected",
                 ah_agent_code(a), got[i], want[i]);
    free(got);
    size_t events = ah_events_count(a, "inbox.new", NULL);
    th_check(events == n, "%s has %zu inbox.new events for %zu documents", ah_agent_code(a), events,
             n);
}

// ---------------------------------------------------------------------------
//  1. send_receive

//  The hex BLAKE2b-256 of data, as `fetch` shows attachment hashes.
static void s_hash_hex(const void *data, size_t len, char out[2 * PROTO_HASH_LEN + 1])
{
    uint8_t hash[PROTO_HASH_LEN];
    crypto_generichash(hash, sizeof hash, data, len, NULL, 0);
    proto_hex_encode(hash, sizeof hash, out);
}

static bool s_bin_is(const msgpack_object *o, const char *path, const void *data, size_t len)
{
    const msgpack_object *v = ah_get(o, path);
    return v && v->type == MSGPACK_OBJECT_BIN && v->via.bin.size == len &&
           memcmp(v->via.bin.ptr, data, len) == 0;
}

static void test_send_receive(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_agent_t *c = ah_agent_run(env, TH_C, 0, NULL);
    ah_wait_directory(a);

    static uint8_t inline_bytes[3000], file_bytes[20000];
    randombytes_buf(inline_bytes, sizeof inline_bytes);
    randombytes_buf(file_bytes, sizeof file_bytes);
    char path[TH_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/phu-luc-out.pdf", env->th->root);
    s_write_file(path, file_bytes, sizeof file_bytes, 0600);
    const char *to[] = { th_code(TH_B), th_code(TH_C) };
    ah_reply_t *r =
        ah_call(a,
                "{cmd:s doc:{to:A type:s subject:s number:s notation:s urgency:s "
                "signer:{name:s position:s}} "
                "attachments:[{name:s type:s data:x} {name:s type:s path:s}]}",
                "submit", to, (size_t) 2, S_TYPE, S_SUBJECT, "123", "UBND-VP", "urgent",
                "Nguyễn Văn A", "Chủ tịch", "quyet-dinh.pdf", "application/pdf", inline_bytes,
                sizeof inline_bytes, "phu-luc.pdf", "application/pdf", path);
    ah_expect_ok(r, "submit");
    th_check(ah_str_is(r->map, "state", "queued"), "submit: %s", ah_show(r->map));
    s_id_t id;
    s_id_get(r->map, "id", id);
    ah_reply_destroy(&r);

    //  Both inboxes list it, once, with its summary.
    ah_agent_t *rcpt[] = { b, c };
    for (int k = 0; k < 2; k++) {
        r = ah_poll(rcpt[k], s_inbox_has, id, "the document in the inbox", "{cmd:s}", "inbox");
        const msgpack_object *docs = ah_get(r->map, "documents");
        int count = 0;
        int i = s_find(docs, "id", id, &count);
        th_check(count == 1 && ah_count(r->map, "documents") == 1,
                 "inbox of %s lists the document %d times: %s", ah_agent_code(rcpt[k]), count,
                 ah_show(r->map));
        const msgpack_object *e = &docs->via.array.ptr[i];
        th_check(ah_str_is(e, "from", th_code(TH_A)) && ah_str_is(e, "subject", S_SUBJECT) &&
                     ah_str_is(e, "type", S_TYPE) && ah_str_is(e, "number", "123") &&
                     ah_str_is(e, "notation", "UBND-VP") && ah_int(e, "urgency") == 1 &&
                     ah_int(e, "op") == 0 && ah_int(e, "attachments") == 2 &&
                     ah_bool(e, "acked") == 0 && ah_int(e, "seq") > 0 && ah_int(e, "received") > 0,
                 "inbox entry at %s: %s", ah_agent_code(rcpt[k]), ah_show(e));
        th_check(ah_is_nil(r->map, "next"), "inbox: next should be nil: %s", ah_show(r->map));
        ah_reply_destroy(&r);
    }

    //  fetch: the same envelope and the same bytes at both.
    char hex_inline[2 * PROTO_HASH_LEN + 1], hex_file[2 * PROTO_HASH_LEN + 1];
    s_hash_hex(inline_bytes, sizeof inline_bytes, hex_inline);
    s_hash_hex(file_bytes, sizeof file_bytes, hex_file);
    ah_reply_t *fetched[2];
    for (int k = 0; k < 2; k++) {
        r = ah_call(rcpt[k], "{cmd:s id:s}", "fetch", id);
        ah_expect_ok(r, "fetch");
        const msgpack_object *d = ah_get(r->map, "document");
        th_check(ah_str_is(d, "id", id) && ah_str_is(d, "from", th_code(TH_A)) &&
                     ah_count(d, "to") == 2 && ah_str_is(d, "to[0]", th_code(TH_B)) &&
                     ah_str_is(d, "to[1]", th_code(TH_C)) && ah_int(d, "created") > 0 &&
                     ah_str_is(d, "type", S_TYPE) && ah_str_is(d, "subject", S_SUBJECT) &&
                     ah_str_is(d, "number", "123") && ah_str_is(d, "notation", "UBND-VP") &&
                     ah_int(d, "urgency") == 1 && ah_int(d, "op") == 0 &&
                     ah_str_is(d, "signer.name", "Nguyễn Văn A") &&
                     ah_str_is(d, "signer.position", "Chủ tịch"),
                 "fetch at %s: document %s", ah_agent_code(rcpt[k]), ah_show(d));
        const msgpack_object *att = ah_get(r->map, "attachments");
        th_check(ah_count(r->map, "attachments") == 2 &&
                     ah_str_is(att, "[0].name", "quyet-dinh.pdf") &&
                     ah_str_is(att, "[0].type", "application/pdf") &&
                     ah_int(att, "[0].size") == (int64_t) sizeof inline_bytes &&
                     ah_str_is(att, "[0].hash", hex_inline) &&
                     s_bin_is(att, "[0].data", inline_bytes, sizeof inline_bytes) &&
                     ah_str_is(att, "[1].name", "phu-luc.pdf") &&
                     ah_int(att, "[1].size") == (int64_t) sizeof file_bytes &&
                     ah_str_is(att, "[1].hash", hex_file) &&
                     s_bin_is(att, "[1].data", file_bytes, sizeof file_bytes),
                 "fetch at %s: attachments differ from what was submitted: %s",
                 ah_agent_code(rcpt[k]), ah_show(att));
        th_check(ah_bool(r->map, "acked") == 0 && ah_int(r->map, "received") > 0 &&
                     ah_count(r->map, "notices") == 0,
                 "fetch at %s: %s", ah_agent_code(rcpt[k]), ah_show(r->map));
        fetched[k] = r;
    }
    th_check(msgpack_object_equal(*ah_get(fetched[0]->map, "document"),
                                  *ah_get(fetched[1]->map, "document")),
             "B and C see different envelopes:\n%s", ah_show(ah_get(fetched[0]->map, "document")));
    th_check(msgpack_object_equal(*ah_get(fetched[0]->map, "attachments"),
                                  *ah_get(fetched[1]->map, "attachments")),
             "B and C see different attachments");
    ah_reply_destroy(&fetched[0]);
    ah_reply_destroy(&fetched[1]);

    //  fetch with dir writes the files.
    char dir[TH_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/dms-in", env->th->root);
    r = ah_call(b, "{cmd:s id:s dir:s}", "fetch", id, dir);
    ah_expect_ok(r, "fetch with dir");
    const char *names[] = { "quyet-dinh.pdf", "phu-luc.pdf" };
    const uint8_t *bytes[] = { inline_bytes, file_bytes };
    size_t sizes[] = { sizeof inline_bytes, sizeof file_bytes };
    for (int i = 0; i < 2; i++) {
        char want[TH_PATH_MAX + 128], field[32];
        snprintf(want, sizeof want, "%s/%s/%s", dir, id, names[i]);
        snprintf(field, sizeof field, "attachments[%d]", i);
        const msgpack_object *att = ah_get(r->map, field);
        th_check(ah_str_is(att, "path", want) && !ah_get(att, "data"),
                 "fetch with dir: attachment %d is %s, expected path %s", i, ah_show(att), want);
        size_t len = 0;
        uint8_t *data = s_read_all(want, &len);
        bool same = data && len == sizes[i] && memcmp(data, bytes[i], len) == 0;
        free(data);
        th_check(same, "fetch with dir: %s does not hold the attachment bytes", want);
    }
    ah_reply_destroy(&r);

    //  ack marks it, idempotently; C's copy stays unread.
    for (int i = 0; i < 2; i++) {
        r = ah_call(b, "{cmd:s id:s}", "ack", id);
        ah_expect_ok(r, "ack");
        ah_reply_destroy(&r);
    }
    r = ah_call(b, "{cmd:s unread:b}", "inbox", 1);
    ah_expect_ok(r, "inbox unread");
    th_check(ah_count(r->map, "documents") == 0, "B's unread inbox after ack: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s}", "inbox");
    th_check(ah_count(r->map, "documents") == 1 && ah_bool(r->map, "documents[0].acked") == 1,
             "B's inbox after ack: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s id:s}", "fetch", id);
    th_check(ah_bool(r->map, "acked") == 1, "fetch after ack: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s}", "health");
    th_check(ah_int(r->map, "inbox_unread") == 0, "B's health after ack: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    r = ah_call(c, "{cmd:s unread:b}", "inbox", 1);
    th_check(s_inbox_has(r, id), "C's unread inbox: %s", ah_show(r->map));
    ah_reply_destroy(&r);

    //  The sender's view: accepted, delivered to both, every receipt verified.
    r = ah_poll(a, s_sent_delivered, NULL, "sent: accepted and delivered to both", "{cmd:s id:s}",
                "sent", id);
    const msgpack_object *d = ah_get(r->map, "document");
    th_check(ah_str_is(d, "id", id) && ah_str_is(d, "kind", "SUBMIT") &&
                 ah_str_is(d, "subject", S_SUBJECT) && ah_int(d, "code") == 0 &&
                 ah_int(d, "accepted") > 0 && ah_int(d, "seq") > 0 &&
                 ah_count(d, "recipients") == 2,
             "sent: %s", ah_show(d));
    for (int k = 0; k < 2; k++)
        th_check(s_find(ah_get(d, "recipients"), "agency", ah_agent_code(rcpt[k]), NULL) >= 0,
                 "sent: recipient %s missing: %s", ah_agent_code(rcpt[k]), ah_show(d));
    const msgpack_object *receipts = ah_get(d, "receipts");
    int accepted = 0, delivered = 0;
    th_check(ah_count(d, "receipts") == 3, "sent: expected 3 receipts: %s", ah_show(receipts));
    for (uint32_t i = 0; i < receipts->via.array.size; i++) {
        const msgpack_object *rc = &receipts->via.array.ptr[i];
        th_check(ah_bool(rc, "verified") == 1, "receipt not verified: %s", ah_show(rc));
        if (ah_str_is(rc, "kind", "ACCEPTED")) {
            accepted++;
            th_check(ah_int(rc, "event") == PROTO_EVENT_ACCEPTED && ah_str_is(rc, "signer", "hub"),
                     "ACCEPTED receipt: %s", ah_show(rc));
        } else if (ah_str_is(rc, "kind", "DELIVERED")) {
            delivered++;
            th_check(ah_int(rc, "event") == PROTO_EVENT_DELIVERED &&
                         (ah_str_is(rc, "signer", th_code(TH_B)) ||
                          ah_str_is(rc, "signer", th_code(TH_C))),
                     "DELIVERED receipt: %s", ah_show(rc));
        }
    }
    th_check(accepted == 1 && delivered == 2, "receipts: %d ACCEPTED, %d DELIVERED: %s", accepted,
             delivered, ah_show(receipts));
    int64_t sent_seq = ah_int(d, "seq");
    ah_reply_destroy(&r);

    //  Events.
    ah_events_wait(b, "inbox.new", "id", id, "from", th_code(TH_A), NULL);
    ah_events_wait(c, "inbox.new", "id", id, "from", th_code(TH_A), NULL);
    ah_events_wait(a, "sent.accepted", "id", id, NULL);
    ah_events_wait(a, "sent.delivered", "id", id, "agency", th_code(TH_B), NULL);
    ah_events_wait(a, "sent.delivered", "id", id, "agency", th_code(TH_C), NULL);
    th_check(ah_events_count(b, "inbox.new", "id", id, NULL) == 1, "inbox.new more than once");

    //  The `sent` list as agent/API.md shows it: each document with its
    //  state and its recipients counted by state.
    r = ah_call(a, "{cmd:s limit:i}", "sent", 20);
    ah_expect_ok(r, "sent list");
    th_check(ah_count(r->map, "documents") == 1 && ah_str_is(r->map, "documents[0].id", id) &&
                 ah_str_is(r->map, "documents[0].state", "accepted") &&
                 ah_str_is(r->map, "documents[0].subject", S_SUBJECT) &&
                 ah_int(r->map, "documents[0].created") > 0 &&
                 ah_int(r->map, "documents[0].recipients.delivered") == 2 &&
                 ah_count(r->map, "documents[0].recipients") == 1,
             "sent list: %s", ah_show(r->map));
    ah_reply_destroy(&r);

    //  sent.accepted carries the broker's sequence number as `broker_seq`
    //  (API.md 5), and an event map has each key once.
    r = ah_call(a, "{cmd:s after:i limit:i}", "events", 0, 1000);
    const msgpack_object *events = ah_get(r->map, "events");
    int found = 0;
    for (uint32_t i = 0; events && i < events->via.array.size; i++) {
        const msgpack_object *e = &events->via.array.ptr[i];
        if (!ah_str_is(e, "topic", "sent.accepted") || !ah_str_is(e, "id", id))
            continue;
        found++;
        int seq_keys = 0;
        for (uint32_t k = 0; k < e->via.map.size; k++)
            seq_keys += e->via.map.ptr[k].key.via.str.size == 3 &&
                        memcmp(e->via.map.ptr[k].key.via.str.ptr, "seq", 3) == 0;
        th_soft(env->th, seq_keys == 1 && ah_int(e, "broker_seq") == sent_seq,
                "API.md 5: sent.accepted has `broker_seq` = %d and one `seq`, got %s",
                (int) sent_seq, ah_show(e));
    }
    th_check(found == 1, "%d sent.accepted events for the document", found);
    ah_reply_destroy(&r);
    th_soft_done(env->th);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  2. status_and_revoke

static void test_status_and_revoke(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_agent_t *c = ah_agent_run(env, TH_C, 0, NULL);
    ah_wait_directory(a);
    const char *to[] = { th_code(TH_B), th_code(TH_C) };
    s_id_t id;
    s_submit(a, to, 2, S_SUBJECT, "normal", id);
    ah_reply_t *r;
    ah_agent_t *rcpt[] = { b, c };
    for (int k = 0; k < 2; k++) {
        r = ah_poll(rcpt[k], s_inbox_has, id, "the document in the inbox", "{cmd:s}", "inbox");
        ah_reply_destroy(&r);
    }

    //  B: 03 accepted, with a note and the handler.
    r = ah_call(b, "{cmd:s id:s code:i note:s staff:{name:s department:s}}", "status", id, 3,
                "Đã vào sổ", "Trần Thị B", "Văn thư");
    ah_expect_ok(r, "status 3");
    th_check(ah_str_is(r->map, "state", "queued"), "status: %s", ah_show(r->map));
    s_id_t notice;
    s_id_get(r->map, "notice", notice);
    ah_reply_destroy(&r);
    s_notice_t want = { "document.notices", th_code(TH_B), 3 };
    r = ah_poll(a, s_has_notice, &want, "A's sent lists B's notice 03", "{cmd:s id:s}", "sent", id);
    const msgpack_object *notices = ah_get(r->map, "document.notices");
    int i = -1;
    for (uint32_t k = 0; k < notices->via.array.size; k++)
        if (ah_int(&notices->via.array.ptr[k], "code") == 3)
            i = (int) k;
    const msgpack_object *n3 = &notices->via.array.ptr[i];
    th_check(ah_str_is(n3, "to", th_code(TH_A)) && ah_str_is(n3, "note", "Đã vào sổ") &&
                 ah_str_is(n3, "staff", "Trần Thị B") && ah_int(n3, "time") > 0,
             "A's notice 03: %s", ah_show(n3));
    ah_reply_destroy(&r);
    ah_events_wait(a, "sent.status", "doc", id, "agency", th_code(TH_B), "code", "3", NULL);

    //  A asks B to give it back (13); B sees the request with the document.
    const char *only_b[] = { th_code(TH_B) };
    r = ah_call(a, "{cmd:s id:s to:A note:s}", "recall", id, only_b, (size_t) 1, "Xin thu hồi");
    ah_expect_ok(r, "recall");
    th_check(ah_count(r->map, "notices") == 1 && ah_str_is(r->map, "state", "queued"), "recall: %s",
             ah_show(r->map));
    ah_reply_destroy(&r);
    want = (s_notice_t){ "notices", th_code(TH_A), 13 };
    r = ah_poll(b, s_has_notice, &want, "B's fetch lists the recall request 13", "{cmd:s id:s}",
                "fetch", id);
    ah_reply_destroy(&r);
    ah_events_wait(b, "inbox.status", "doc", id, "code", "13", NULL);
    th_soft(env->th,
            ah_events_count(b, "inbox.status", "doc", id, "from", th_code(TH_A), NULL) == 1,
            "API.md 5: inbox.status carries `from` (the sender of the notice, %s)", th_code(TH_A));

    //  B answers 16 (allowed: recall requested); C, never asked, may not answer.
    r = ah_call(b, "{cmd:s id:s code:i note:s}", "status", id, 16, "Không đồng ý thu hồi");
    ah_expect_ok(r, "status 16 after a recall request");
    ah_reply_destroy(&r);
    r = ah_call(c, "{cmd:s id:s code:i}", "status", id, 15);
    ah_expect_error(r, PROTO_ERR_BAD_STATE, "code", "status 15 without a recall request");
    ah_reply_destroy(&r);
    want = (s_notice_t){ "document.notices", th_code(TH_B), 16 };
    r = ah_poll(a, s_has_notice, &want, "A's sent lists B's answer 16", "{cmd:s id:s}", "sent", id);
    ah_reply_destroy(&r);
    ah_events_wait(a, "sent.status", "doc", id, "agency", th_code(TH_B), "code", "16", NULL);

    //  A revokes the document: both recipients receive the revocation.
    r = ah_call(a, "{cmd:s refs:[s] reason:s}", "revoke", id, "Ban hành nhầm");
    ah_expect_ok(r, "revoke");
    th_check(ah_str_is(r->map, "state", "queued"), "revoke: %s", ah_show(r->map));
    s_id_t rid;
    s_id_get(r->map, "id", rid);
    ah_reply_destroy(&r);
    th_check(strcmp(rid, id) != 0, "the revocation has the id of the document");
    for (int k = 0; k < 2; k++) {
        r = ah_poll(rcpt[k], s_inbox_has, rid, "the revocation in the inbox", "{cmd:s}", "inbox");
        const msgpack_object *docs = ah_get(r->map, "documents");
        int at = s_find(docs, "id", rid, NULL);
        th_check(ah_int(&docs->via.array.ptr[at], "op") == PROTO_OP_REVOKE &&
                     ah_str_is(&docs->via.array.ptr[at], "from", th_code(TH_A)),
                 "revocation in the inbox of %s: %s", ah_agent_code(rcpt[k]),
                 ah_show(&docs->via.array.ptr[at]));
        ah_reply_destroy(&r);
        r = ah_call(rcpt[k], "{cmd:s id:s}", "fetch", rid);
        ah_expect_ok(r, "fetch the revocation");
        const msgpack_object *d = ah_get(r->map, "document");
        th_check(ah_int(d, "op") == PROTO_OP_REVOKE && ah_count(d, "op_refs") == 1 &&
                     ah_str_is(d, "op_refs[0]", id) && ah_str_is(d, "op_reason", "Ban hành nhầm") &&
                     ah_str_is(d, "from", th_code(TH_A)),
                 "revocation at %s: %s", ah_agent_code(rcpt[k]), ah_show(d));
        ah_reply_destroy(&r);
        ah_events_wait(rcpt[k], "inbox.new", "id", rid, "op", "1", NULL);
    }
    r = ah_poll(a, s_sent_accepted, NULL, "the revocation accepted", "{cmd:s id:s}", "sent", rid);
    th_check(ah_str_is(r->map, "document.kind", "REVOKE"), "sent revocation: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    th_soft_done(env->th);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  3. offline_recipient_urgency

static void test_offline_recipient_urgency(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_wait_directory(a);
    static const char *levels[] = { "normal", "urgent", "very-urgent", "immediate" };
    const char *to[] = { th_code(TH_B) };
    s_id_t ids[4];
    for (int i = 0; i < 4; i++) {
        char subject[128];
        snprintf(subject, sizeof subject, "Độ khẩn: %s", levels[i]);
        s_submit(a, to, 1, subject, levels[i], ids[i]);
    }
    //  All four stored by the broker before B comes.
    for (int i = 0; i < 4; i++) {
        ah_reply_t *r = ah_poll(a, s_sent_accepted, NULL, "accepted by the broker", "{cmd:s id:s}",
                                "sent", ids[i]);
        ah_reply_destroy(&r);
    }
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_reply_t *r = s_inbox_wait(b, 4);
    const msgpack_object *docs = ah_get(r->map, "documents");
    th_check(ah_count(r->map, "documents") == 4, "B's inbox: %s", ah_show(r->map));
    int64_t last_seq = 0;
    for (int k = 0; k < 4; k++) {
        const msgpack_object *e = &docs->via.array.ptr[k];
        int64_t seq = ah_int(e, "seq");
        th_check(seq > last_seq, "inbox not in seq order: %s", ah_show(docs));
        last_seq = seq;
        th_check(ah_str_is(e, "id", ids[3 - k]) && ah_int(e, "urgency") == 3 - k,
                 "inbox position %d: expected the %s document, got %s", k, levels[3 - k],
                 ah_show(e));
    }
    ah_reply_destroy(&r);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  4. broker_down

static void test_broker_down(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_wait_directory(a);
    ah_wait_connected(a, true);
    ah_wait_connected(b, true);
    ah_broker_stop(env);
    ah_wait_connected(a, false);

    const char *to[] = { th_code(TH_B) };
    s_id_t ids[5];
    for (int i = 0; i < 5; i++) {
        char subject[64];
        snprintf(subject, sizeof subject, "Gửi khi trục ngừng #%d", i + 1);
        s_submit(a, to, 1, subject, "normal", ids[i]);
    }
    ah_reply_t *r = ah_call(a, "{cmd:s}", "health");
    th_check(ah_bool(r->map, "connected") == 0 && ah_int(r->map, "outbox") == 5,
             "health with the broker down: %s", ah_show(r->map));
    th_check(ah_str(r->map, "last_error") != NULL, "health: no last_error while down: %s",
             ah_show(r->map));
    ah_reply_destroy(&r);
    for (int i = 0; i < 5; i++) {
        r = ah_call(a, "{cmd:s id:s}", "sent", ids[i]);
        th_check(ah_str_is(r->map, "document.state", "queued"), "sent while down: %s",
                 ah_show(r->map));
        ah_reply_destroy(&r);
    }

    ah_broker_start(env);
    s_inbox_exactly(b, ids, 5);
    r = ah_poll(a, s_outbox_empty, NULL, "A's outbox drains", "{cmd:s}", "health");
    ah_reply_destroy(&r);
    for (int i = 0; i < 5; i++) {
        r = ah_poll(a, s_sent_delivered, NULL, "sent: delivered", "{cmd:s id:s}", "sent", ids[i]);
        ah_reply_destroy(&r);
    }
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  5. agent_kill9_submissions

#define S_MANY 50

static void test_agent_kill9_submissions(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_wait_directory(a);
    const char *to[] = { th_code(TH_B) };
    static s_id_t ids[S_MANY];
    static uint8_t blob[8192];
    randombytes_buf(blob, sizeof blob);
    for (int i = 0; i < S_MANY; i++) {
        if (i == S_MANY / 2) {
            //  Every answered submission is stored; the agent is most
            //  likely still sending its outbox to the broker.
            ah_agent_kill(a);
            ah_agent_start(a);
            ah_reply_t *h = ah_call(a, "{cmd:s}", "health");
            th_print("A killed after %d submissions; after the restart its outbox held %d", i,
                     (int) ah_int(h->map, "outbox"));
            ah_reply_destroy(&h);
        }
        char subject[64];
        snprintf(subject, sizeof subject, "Văn bản số %d", i + 1);
        ah_reply_t *r = ah_call(a,
                                "{cmd:s doc:{to:A type:s subject:s} "
                                "attachments:[{name:s type:s data:x}]}",
                                "submit", to, (size_t) 1, S_TYPE, subject, "van-ban.pdf",
                                "application/pdf", blob, sizeof blob);
        ah_expect_ok(r, "submit");
        s_id_get(r->map, "id", ids[i]);
        ah_reply_destroy(&r);
    }
    ah_reply_t *r = ah_poll(a, s_outbox_empty, NULL, "A's outbox drains", "{cmd:s}", "health");
    ah_reply_destroy(&r);
    s_inbox_exactly(b, ids, S_MANY);
    r = ah_call(a, "{cmd:s limit:i}", "sent", 1000);
    th_check(ah_count(r->map, "documents") == S_MANY, "A's sent list has %d documents",
             (int) ah_count(r->map, "documents"));
    ah_reply_destroy(&r);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  6. agent_kill9_deliveries

static void test_agent_kill9_deliveries(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_wait_directory(a);
    const char *to[] = { th_code(TH_B) };
    static s_id_t ids[S_MANY];
    static uint8_t blob[32768];
    randombytes_buf(blob, sizeof blob);
    for (int i = 0; i < S_MANY; i++) {
        char subject[64];
        snprintf(subject, sizeof subject, "Văn bản chờ nhận %d", i + 1);
        ah_reply_t *r = ah_call(a,
                                "{cmd:s doc:{to:A type:s subject:s} "
                                "attachments:[{name:s type:s data:x}]}",
                                "submit", to, (size_t) 1, S_TYPE, subject, "van-ban.pdf",
                                "application/pdf", blob, sizeof blob);
        ah_expect_ok(r, "submit");
        s_id_get(r->map, "id", ids[i]);
        ah_reply_destroy(&r);
    }
    ah_reply_t *r = ah_poll(a, s_outbox_empty, NULL, "A's outbox drains", "{cmd:s}", "health");
    ah_reply_destroy(&r);

    //  B takes one delivery at a time, and is killed while they arrive.
    ah_agent_t *b = ah_agent_new(env, TH_B, NULL, 1, NULL);
    ah_agent_start(b);
    int64_t seen = 0;
    for (int waited = 0; seen < 5; waited += 5) {
        th_check(waited < AH_WAIT_MS, "B received %d documents in %d ms", (int) seen, AH_WAIT_MS);
        r = ah_call(b, "{cmd:s limit:i}", "inbox", 1000);
        seen = ah_count(r->map, "documents");
        ah_reply_destroy(&r);
        th_sleep_ms(5);
    }
    ah_agent_kill(b);
    th_print("B killed with %d of %d deliveries in its inbox", (int) seen, S_MANY);
    ah_agent_set_window(b, 0);
    ah_agent_start(b);
    s_inbox_exactly(b, ids, S_MANY);

    //  The sender sees every document delivered, and hears of it once.
    for (int i = 0; i < S_MANY; i++) {
        r = ah_poll(a, s_sent_delivered, NULL, "sent: delivered to B", "{cmd:s id:s}", "sent",
                    ids[i]);
        const msgpack_object *receipts = ah_get(r->map, "document.receipts");
        int delivered = 0;
        for (uint32_t k = 0; receipts && k < receipts->via.array.size; k++)
            delivered += ah_str_is(&receipts->via.array.ptr[k], "kind", "DELIVERED");
        th_soft(env->th, delivered == 1,
                "PROTOCOL 4.5: receipts are kept once per (id, event, to); %s has %d "
                "DELIVERED receipts",
                ids[i], delivered);
        ah_reply_destroy(&r);
        size_t events = ah_events_count(a, "sent.delivered", "id", ids[i], NULL);
        th_soft(env->th, events == 1, "PROTOCOL 4.5: %s: %zu sent.delivered events, expected 1",
                ids[i], events);
    }
    th_soft_done(env->th);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  7. quarantine, against a fake broker

typedef struct {
    void *router;
    char endpoint[128];
    uint8_t rid[256]; // the agent's routing id
    size_t rid_len;
} s_fake_t;

static void s_fake_open(ah_env_t *env, s_fake_t *f)
{
    memset(f, 0, sizeof *f);
    f->router = ah_socket(env, ZMQ_ROUTER);
    int one = 1;
    zmq_setsockopt(f->router, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(f->router, ZMQ_CURVE_SECRETKEY, proto_identity_curve_sk(env->th->hub),
                   PROTO_KEY_LEN);
    th_check(zmq_bind(f->router, "tcp://127.0.0.1:*") == 0, "bind: %s", zmq_strerror(zmq_errno()));
    size_t len = sizeof f->endpoint;
    th_check(zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, f->endpoint, &len) == 0,
             "ZMQ_LAST_ENDPOINT: %s", zmq_strerror(zmq_errno()));
}

//  Receive the next message of this kind from the agent (heartbeats are
//  skipped; anything else fails the test). *frames gets the frame count.
static proto_msg_t *s_fake_recv(s_fake_t *f, int kind)
{
    zmq_pollitem_t item = { f->router, 0, ZMQ_POLLIN, 0 };
    for (int waited = 0; waited < AH_WAIT_MS; waited += 100) {
        if (zmq_poll(&item, 1, 100) <= 0)
            continue;
        zmq_msg_t frames[4];
        size_t n = 0;
        int more = 1;
        while (more && n < 4) {
            zmq_msg_init(&frames[n]);
            th_check(zmq_msg_recv(&frames[n], f->router, 0) >= 0, "recv: %s",
                     zmq_strerror(zmq_errno()));
            more = zmq_msg_more(&frames[n]);
            n++;
        }
        th_check(!more && n == 3, "the agent sent a message of %zu+ frames", n);
        f->rid_len = zmq_msg_size(&frames[0]);
        th_check(f->rid_len <= sizeof f->rid, "routing id too long");
        memcpy(f->rid, zmq_msg_data(&frames[0]), f->rid_len);
        uint8_t version;
        int got;
        proto_err_t rc =
            proto_header_parse(zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]), &version, &got);
        proto_msg_t *msg = NULL;
        proto_errinfo_t info;
        if (!rc)
            rc = proto_msg_decode(got, zmq_msg_data(&frames[2]), zmq_msg_size(&frames[2]), &msg,
                                  &info);
        for (size_t i = 0; i < n; i++)
            zmq_msg_close(&frames[i]);
        th_check(rc == PROTO_OK, "the agent sent an undecodable message: %s", proto_errname(rc));
        if (got == PROTO_KIND_HEARTBEAT) {
            proto_msg_destroy(&msg);
            continue;
        }
        if (got != kind)
            proto_msg_destroy(&msg);
        th_check(got == kind, "the agent sent %s, expected %s", proto_kind_name(got),
                 proto_kind_name(kind));
        return msg;
    }
    th_check(false, "the agent sent no %s within %d ms", proto_kind_name(kind), AH_WAIT_MS);
    return NULL;
}

static void s_fake_send(s_fake_t *f, const proto_msg_t *msg, const void *const *att,
                        const size_t *lens, size_t natt)
{
    proto_buf_t body;
    proto_errinfo_t info;
    proto_buf_init(&body);
    proto_err_t rc = proto_msg_encode(msg, &body, &info);
    uint8_t header[PROTO_HEADER_LEN];
    proto_header_write(header, msg->kind);
    bool sent = rc == PROTO_OK && zmq_send(f->router, f->rid, f->rid_len, ZMQ_SNDMORE) >= 0 &&
                zmq_send(f->router, header, sizeof header, ZMQ_SNDMORE) >= 0 &&
                zmq_send(f->router, body.data, body.len, natt ? ZMQ_SNDMORE : 0) >= 0;
    for (size_t i = 0; sent && i < natt; i++)
        sent = zmq_send(f->router, att[i], lens[i], i + 1 < natt ? ZMQ_SNDMORE : 0) >= 0;
    proto_buf_free(&body);
    th_check(rc == PROTO_OK, "encode %s: %s at %s: %s", proto_kind_name(msg->kind),
             proto_errname(rc), info.field, info.message);
    th_check(sent, "send %s: %s", proto_kind_name(msg->kind), zmq_strerror(zmq_errno()));
}

//  DELIVER a document as the broker would, optionally with its first
//  attachment altered or its signature broken.
static void s_fake_deliver(s_fake_t *f, const truc_doc_t *doc, uint64_t seq, bool bad_att,
                           bool bad_sig)
{
    proto_msg_t msg = *truc_doc_cmsg(doc);
    msg.kind = PROTO_KIND_DELIVER;
    msg.arena = NULL;
    msg.u.document.accepted = truc_now_ms();
    msg.u.document.seq = seq;
    if (bad_sig)
        msg.u.document.sig[7] ^= 0x20;
    uint32_t natt = truc_doc_natt(doc);
    th_check(natt == 1, "s_fake_deliver: one attachment expected");
    size_t len = truc_doc_att_len(doc, 0);
    uint8_t *copy = malloc(len);
    th_check(copy != NULL, "out of memory");
    memcpy(copy, truc_doc_att_data(doc, 0), len);
    if (bad_att)
        copy[len / 2] ^= 0x01;
    const void *att[] = { copy };
    size_t lens[] = { len };
    s_fake_send(f, &msg, att, lens, 1);
    free(copy);
}

//  Wait for the DELIVERED bundle that answers doc: signed by B, proving
//  `event` with `code` for exactly this document.
static void s_fake_expect_receipt(ah_env_t *env, s_fake_t *f, const truc_doc_t *doc, uint8_t event,
                                  proto_err_t code)
{
    proto_msg_t *msg = s_fake_recv(f, PROTO_KIND_DELIVERED);
    const proto_receipts_t *r = &msg->u.receipts;
    const uint8_t *b_pk = proto_identity_public(env->th->agency[TH_B])->sign_pk;
    bool signer_ok = strcmp(r->head.signer, th_code(TH_B)) == 0;
    proto_err_t verified = PROTO_OK;
    for (uint32_t i = 0; i < r->nitems && !verified; i++)
        verified = proto_receipt_verify(&r->head, r->sig, &r->items[i], b_pk);
    const proto_item_t *item = truc_receipts_find(msg, truc_doc_id(doc));
    uint8_t hash[PROTO_HASH_LEN];
    th_check(truc_doc_hash(doc, hash) == PROTO_OK, "hash");
    bool leaf_ok = item && item->leaf.event == event && item->leaf.code == (uint32_t) code &&
                   strcmp(item->leaf.from, th_code(TH_A)) == 0 && item->leaf.to &&
                   strcmp(item->leaf.to, th_code(TH_B)) == 0 &&
                   memcmp(item->leaf.hash, hash, PROTO_HASH_LEN) == 0;
    char text[160] = "no item for the document";
    if (item)
        snprintf(text, sizeof text, "event %u code %s from %s to %s", item->leaf.event,
                 proto_errname((proto_err_t) item->leaf.code), item->leaf.from,
                 item->leaf.to ? item->leaf.to : "(none)");
    proto_msg_destroy(&msg);
    th_check(signer_ok, "DELIVERED not signed by B");
    th_check(verified == PROTO_OK, "DELIVERED does not verify with B's key: %s",
             proto_errname(verified));
    th_check(leaf_ok, "DELIVERED: expected event %u code %s, got %s", event, proto_errname(code),
             text);
}

static truc_doc_t *s_doc_for_b(ah_env_t *env, const char *subject)
{
    uint8_t bytes[1500];
    randombytes_buf(bytes, sizeof bytes);
    truc_att_t att = { "phu-luc.pdf", "application/pdf", bytes, sizeof bytes };
    const char *to[] = { th_code(TH_B) };
    truc_doc_t *doc = truc_doc_build(env->th->agency[TH_A], to, 1, subject, S_TYPE,
                                     PROTO_URGENCY_NORMAL, &att, 1);
    th_check(doc != NULL, "truc_doc_build failed");
    return doc;
}

static void test_quarantine(void **state)
{
    ah_env_t *env = *state;
    s_fake_t f;
    s_fake_open(env, &f);
    ah_agent_t *b = ah_agent_new(env, TH_B, f.endpoint, 0, NULL);
    ah_agent_start(b);

    //  The session: HELLO, READY, then a signed directory with A and B.
    proto_msg_t *hello = s_fake_recv(&f, PROTO_KIND_HELLO);
    bool hello_ok = strcmp(hello->u.hello.agency, th_code(TH_B)) == 0 &&
                    hello->u.hello.nversions >= 1 && hello->u.hello.versions[0] == PROTO_VERSION;
    proto_msg_destroy(&hello);
    th_check(hello_ok, "HELLO from the agent is not B's");
    proto_msg_t ready;
    memset(&ready, 0, sizeof ready);
    ready.kind = PROTO_KIND_READY;
    ready.u.ready = (proto_ready_t){ .version = PROTO_VERSION,
                                     .broker = "hub",
                                     .agency = th_code(TH_B),
                                     .time = truc_now_ms(),
                                     .heartbeat = 60000,
                                     .dir_serial = 1,
                                     .max_frame = 1u << 20,
                                     .max_document = 4u << 20,
                                     .max_recipients = 500,
                                     .max_attachments = 100 };
    s_fake_send(&f, &ready, NULL, NULL, 0);
    proto_dir_entry_t entries[2] = {
        { .code = th_code(TH_A), .name = "Văn phòng", .state = PROTO_AGENCY_ACTIVE },
        { .code = th_code(TH_B), .name = "Sở Nội vụ", .state = PROTO_AGENCY_ACTIVE },
    };
    memcpy(entries[0].key, proto_identity_public(env->th->agency[TH_A])->sign_pk, PROTO_KEY_LEN);
    memcpy(entries[1].key, proto_identity_public(env->th->agency[TH_B])->sign_pk, PROTO_KEY_LEN);
    proto_msg_t dir;
    memset(&dir, 0, sizeof dir);
    dir.kind = PROTO_KIND_DIRECTORY;
    dir.u.directory = (proto_directory_msg_t){
        .serial = 1, .time = truc_now_ms(), .broker = "hub", .entries = entries, .nentries = 2
    };
    th_check(proto_directory_sign(&dir.u.directory, env->th->hub, dir.u.directory.sig) == PROTO_OK,
             "proto_directory_sign");
    s_fake_send(&f, &dir, NULL, NULL, 0);
    ah_wait_directory(b);
    ah_wait_connected(b, true);

    //  Tampered: an attachment byte, then the signature.
    truc_doc_t *bad_att = s_doc_for_b(env, "Tệp đính kèm bị sửa");
    truc_doc_t *bad_sig = s_doc_for_b(env, "Chữ ký sai");
    truc_doc_t *good = s_doc_for_b(env, "Văn bản hợp lệ");
    s_fake_deliver(&f, bad_att, 1, true, false);
    s_fake_expect_receipt(env, &f, bad_att, PROTO_EVENT_REFUSED, PROTO_ERR_HASH_MISMATCH);
    s_fake_deliver(&f, bad_sig, 2, false, true);
    s_fake_expect_receipt(env, &f, bad_sig, PROTO_EVENT_REFUSED, PROTO_ERR_BAD_SIGNATURE);
    s_id_t att_id, sig_id, good_id;
    proto_id_format(truc_doc_id(bad_att), att_id);
    proto_id_format(truc_doc_id(bad_sig), sig_id);
    proto_id_format(truc_doc_id(good), good_id);

    ah_reply_t *r = ah_call(b, "{cmd:s}", "quarantine");
    ah_expect_ok(r, "quarantine");
    const msgpack_object *q = ah_get(r->map, "documents");
    int ia = s_find(q, "id", att_id, NULL), is = s_find(q, "id", sig_id, NULL);
    th_check(ah_count(r->map, "documents") == 2 && ia >= 0 && is >= 0,
             "quarantine should list both: %s", ah_show(r->map));
    const msgpack_object *qa = &q->via.array.ptr[ia], *qs = &q->via.array.ptr[is];
    th_check(ah_int(qa, "code") == PROTO_ERR_HASH_MISMATCH &&
                 ah_str_is(qa, "error", "ERR_HASH_MISMATCH") &&
                 ah_str_is(qa, "from", th_code(TH_A)) && ah_int(qa, "received") > 0 &&
                 ah_str(qa, "reason") != NULL,
             "quarantined (attachment): %s", ah_show(qa));
    th_check(ah_int(qs, "code") == PROTO_ERR_BAD_SIGNATURE &&
                 ah_str_is(qs, "error", "ERR_BAD_SIGNATURE") &&
                 ah_str_is(qs, "from", th_code(TH_A)),
             "quarantined (signature): %s", ah_show(qs));
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s}", "inbox");
    th_check(ah_count(r->map, "documents") == 0, "quarantined documents in the inbox: %s",
             ah_show(r->map));
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s id:s}", "fetch", att_id);
    ah_expect_error(r, PROTO_ERR_UNKNOWN_DOC, "id", "fetch a quarantined document");
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s}", "health");
    th_check(ah_int(r->map, "quarantine") == 2 && ah_int(r->map, "inbox_unread") == 0, "health: %s",
             ah_show(r->map));
    ah_reply_destroy(&r);
    ah_events_wait(b, "inbox.quarantined", "id", att_id, "from", th_code(TH_A), "error",
                   "ERR_HASH_MISMATCH", NULL);
    ah_events_wait(b, "inbox.quarantined", "id", sig_id, "from", th_code(TH_A), "error",
                   "ERR_BAD_SIGNATURE", NULL);
    th_check(ah_events_count(b, "inbox.new", NULL) == 0, "inbox.new for a quarantined document");

    //  A valid delivery is stored and acknowledged, twice, but listed once.
    for (int round = 0; round < 2; round++) {
        s_fake_deliver(&f, good, 3, false, false);
        s_fake_expect_receipt(env, &f, good, PROTO_EVENT_DELIVERED, PROTO_OK);
    }
    r = ah_call(b, "{cmd:s}", "inbox");
    int count = 0;
    s_find(ah_get(r->map, "documents"), "id", good_id, &count);
    th_check(count == 1 && ah_count(r->map, "documents") == 1, "inbox after two deliveries: %s",
             ah_show(r->map));
    ah_reply_destroy(&r);
    th_check(ah_events_count(b, "inbox.new", "id", good_id, NULL) == 1,
             "inbox.new not exactly once");
    r = ah_call(b, "{cmd:s id:s}", "fetch", good_id);
    ah_expect_ok(r, "fetch the valid delivery");
    th_check(s_bin_is(r->map, "attachments[0].data", truc_doc_att_data(good, 0),
                      truc_doc_att_len(good, 0)),
             "fetch: attachment bytes differ");
    ah_reply_destroy(&r);

    //  A quarantined document delivered again is refused again, for the
    //  same reason (PROTOCOL 8.5: the code says why it was quarantined).
    s_fake_deliver(&f, bad_att, 1, true, false);
    s_fake_expect_receipt(env, &f, bad_att, PROTO_EVENT_REFUSED, PROTO_ERR_HASH_MISMATCH);
    r = ah_call(b, "{cmd:s}", "quarantine");
    th_check(ah_count(r->map, "documents") == 2, "quarantine after a repeat: %s", ah_show(r->map));
    ah_reply_destroy(&r);

    truc_doc_destroy(&bad_att);
    truc_doc_destroy(&bad_sig);
    truc_doc_destroy(&good);
    ah_agent_stop(b);
    ah_socket_close(env, &f.router);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  7a. quarantine_retired: a sender's retired key, against the fake broker

//  The fake broker's directory: A's current key is a new one and the key A
//  signs with is retired, its window ending at `until` (Unix seconds).
static void s_fake_retired_dir(ah_env_t *env, s_fake_t *f, uint64_t serial, uint64_t until)
{
    static uint8_t fresh[PROTO_KEY_LEN];
    if (serial == 1) {
        uint8_t sk[64];
        crypto_sign_keypair(fresh, sk);
    }
    proto_keywin_t retired = { .from = 0, .until = until };
    memcpy(retired.key, proto_identity_public(env->th->agency[TH_A])->sign_pk, PROTO_KEY_LEN);
    proto_dir_entry_t entries[2] = {
        { .code = th_code(TH_A),
          .name = "Văn phòng",
          .state = PROTO_AGENCY_ACTIVE,
          .retired = &retired,
          .nretired = 1 },
        { .code = th_code(TH_B), .name = "Sở Nội vụ", .state = PROTO_AGENCY_ACTIVE },
    };
    memcpy(entries[0].key, fresh, PROTO_KEY_LEN);
    memcpy(entries[1].key, proto_identity_public(env->th->agency[TH_B])->sign_pk, PROTO_KEY_LEN);
    proto_msg_t dir;
    memset(&dir, 0, sizeof dir);
    dir.kind = PROTO_KIND_DIRECTORY;
    dir.u.directory = (proto_directory_msg_t){
        .serial = serial, .time = truc_now_ms(), .broker = "hub", .entries = entries, .nentries = 2
    };
    th_check(proto_directory_sign(&dir.u.directory, env->th->hub, dir.u.directory.sig) == PROTO_OK,
             "proto_directory_sign");
    s_fake_send(f, &dir, NULL, NULL, 0);
}

static bool s_dir_serial_is(const ah_reply_t *r, void *arg)
{
    return ah_is_ok(r) && ah_int(r->map, "directory_serial") == (int64_t) (uintptr_t) arg;
}

//  A document signed with a retired key after its window closed is
//  quarantined with ERR_KEY_RETIRED and refused back with that code; with
//  the window still open it is delivered. (The real broker refuses the
//  first already: tests/broker/test_broker_keys.c.)
static void test_quarantine_retired(void **state)
{
    ah_env_t *env = *state;
    s_fake_t f;
    s_fake_open(env, &f);
    ah_agent_t *b = ah_agent_new(env, TH_B, f.endpoint, 0, NULL);
    ah_agent_start(b);
    proto_msg_t *hello = s_fake_recv(&f, PROTO_KIND_HELLO);
    proto_msg_destroy(&hello);
    proto_msg_t ready;
    memset(&ready, 0, sizeof ready);
    ready.kind = PROTO_KIND_READY;
    ready.u.ready = (proto_ready_t){ .version = PROTO_VERSION,
                                     .broker = "hub",
                                     .agency = th_code(TH_B),
                                     .time = truc_now_ms(),
                                     .heartbeat = 60000,
                                     .dir_serial = 1,
                                     .max_frame = 1u << 20,
                                     .max_document = 4u << 20,
                                     .max_recipients = 500,
                                     .max_attachments = 100 };
    s_fake_send(&f, &ready, NULL, NULL, 0);
    uint64_t now = truc_now_ms() / 1000;
    s_fake_retired_dir(env, &f, 1, now - 3600);
    ah_wait_directory(b);
    ah_wait_connected(b, true);

    truc_doc_t *late = s_doc_for_b(env, "Ký bằng khóa đã hết hạn");
    s_fake_deliver(&f, late, 1, false, false);
    s_fake_expect_receipt(env, &f, late, PROTO_EVENT_REFUSED, PROTO_ERR_KEY_RETIRED);
    s_id_t late_id;
    proto_id_format(truc_doc_id(late), late_id);
    ah_events_wait(b, "inbox.quarantined", "id", late_id, "from", th_code(TH_A), "error",
                   "ERR_KEY_RETIRED", NULL);

    s_fake_retired_dir(env, &f, 2, now + 3600);
    ah_reply_t *r = ah_poll(b, s_dir_serial_is, (void *) (uintptr_t) 2,
                            "B holds the directory with the window open", "{cmd:s}", "health");
    ah_reply_destroy(&r);
    truc_doc_t *inside = s_doc_for_b(env, "Ký trong thời gian ân hạn");
    s_fake_deliver(&f, inside, 2, false, false);
    s_fake_expect_receipt(env, &f, inside, PROTO_EVENT_DELIVERED, PROTO_OK);
    r = ah_call(b, "{cmd:s}", "health");
    th_check(ah_int(r->map, "quarantine") == 1 && ah_int(r->map, "inbox_unread") == 1, "health: %s",
             ah_show(r->map));
    ah_reply_destroy(&r);

    truc_doc_destroy(&late);
    truc_doc_destroy(&inside);
    ah_agent_stop(b);
    ah_socket_close(env, &f.router);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  7c. broker_key_retired: receipts signed with the broker's earlier key

//  The fake broker answers a SUBMIT with an ACCEPTED signed by `signer`
//  (an identity named "hub", as the pinned broker is).
static void s_fake_accept(s_fake_t *f, const proto_identity_t *signer, const proto_msg_t *submit,
                          uint64_t seq)
{
    const proto_doc_t *doc = &submit->u.document.doc;
    proto_leaf_t leaf = { .event = PROTO_EVENT_ACCEPTED,
                          .id = doc->id,
                          .from = doc->from,
                          .time = truc_now_ms(),
                          .seq = seq };
    th_check(proto_doc_hash(doc, leaf.hash) == PROTO_OK, "hash");
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_ACCEPTED;
    proto_item_t item;
    uint8_t paths[PROTO_MAX_PATH][PROTO_HASH_LEN];
    proto_receipts_t *r = &msg.u.receipts;
    th_check(proto_receipts_build(&leaf, 1, signer, leaf.time, &r->head, r->sig, &item, paths) ==
                 PROTO_OK,
             "proto_receipts_build");
    r->items = &item;
    r->nitems = 1;
    s_fake_send(f, &msg, NULL, NULL, 0);
}

static bool s_sent_state(const ah_reply_t *r, void *arg)
{
    return ah_is_ok(r) && ah_str_is(r->map, "document.state", arg);
}

//  The broker's key rotated: the DIRECTORY signed with its new (pinned)
//  key lists the old one in broker_retired. An ACCEPTED signed with the old
//  key inside its window counts; one signed with a key the agent never
//  learned does not (the document stays queued).
static void test_broker_key_retired(void **state)
{
    ah_env_t *env = *state;
    s_fake_t f;
    s_fake_open(env, &f);
    ah_agent_t *a = ah_agent_new(env, TH_A, f.endpoint, 0, NULL);
    ah_agent_start(a);
    proto_msg_t *hello = s_fake_recv(&f, PROTO_KIND_HELLO);
    proto_msg_destroy(&hello);
    proto_msg_t ready;
    memset(&ready, 0, sizeof ready);
    ready.kind = PROTO_KIND_READY;
    ready.u.ready = (proto_ready_t){ .version = PROTO_VERSION,
                                     .broker = "hub",
                                     .agency = th_code(TH_A),
                                     .time = truc_now_ms(),
                                     .heartbeat = 60000,
                                     .dir_serial = 1,
                                     .max_frame = 1u << 20,
                                     .max_document = 4u << 20,
                                     .max_recipients = 500,
                                     .max_attachments = 100 };
    s_fake_send(&f, &ready, NULL, NULL, 0);
    proto_identity_t *old = proto_identity_generate(PROTO_ROLE_BROKER, "hub");
    proto_identity_t *stranger = proto_identity_generate(PROTO_ROLE_BROKER, "hub");
    th_check(old && stranger, "broker identities");
    proto_keywin_t retired = { .from = 0, .until = truc_now_ms() / 1000 + 3600 };
    memcpy(retired.key, proto_identity_public(old)->sign_pk, PROTO_KEY_LEN);
    proto_dir_entry_t entries[2] = {
        { .code = th_code(TH_A), .name = "Văn phòng", .state = PROTO_AGENCY_ACTIVE },
        { .code = th_code(TH_B), .name = "Sở Nội vụ", .state = PROTO_AGENCY_ACTIVE },
    };
    memcpy(entries[0].key, proto_identity_public(env->th->agency[TH_A])->sign_pk, PROTO_KEY_LEN);
    memcpy(entries[1].key, proto_identity_public(env->th->agency[TH_B])->sign_pk, PROTO_KEY_LEN);
    proto_msg_t dir;
    memset(&dir, 0, sizeof dir);
    dir.kind = PROTO_KIND_DIRECTORY;
    dir.u.directory = (proto_directory_msg_t){ .serial = 1,
                                               .time = truc_now_ms(),
                                               .broker = "hub",
                                               .entries = entries,
                                               .nentries = 2,
                                               .broker_retired = &retired,
                                               .nbroker_retired = 1 };
    th_check(proto_directory_sign(&dir.u.directory, env->th->hub, dir.u.directory.sig) == PROTO_OK,
             "proto_directory_sign");
    s_fake_send(&f, &dir, NULL, NULL, 0);
    ah_wait_directory(a);
    ah_wait_connected(a, true);

    //  Three documents: answered by the retired key, by the pinned key,
    //  and by a key never learned, in this order.
    const proto_identity_t *signers[3] = { old, env->th->hub, stranger };
    s_id_t ids[3];
    for (int i = 0; i < 3; i++) {
        const char *list[] = { th_code(TH_B) };
        ah_reply_t *r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s}}", "submit", list,
                                (size_t) 1, S_TYPE, "Biên nhận của trục");
        ah_expect_ok(r, "submit");
        snprintf(ids[i], sizeof ids[i], "%s", ah_str(r->map, "id"));
        ah_reply_destroy(&r);
        proto_msg_t *submit = s_fake_recv(&f, PROTO_KIND_SUBMIT);
        s_fake_accept(&f, signers[i], submit, (uint64_t) i + 1);
        proto_msg_destroy(&submit);
    }
    ah_reply_t *r = ah_poll(a, s_sent_state, (void *) "accepted",
                            "the pinned key's ACCEPTED counts", "{cmd:s id:s}", "sent", ids[1]);
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s id:s}", "sent", ids[0]);
    th_check(s_sent_state(r, (void *) "accepted"),
             "an ACCEPTED signed with the broker's retired key: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    //  The agent logs the refusal of the last one once it has read it.
    static char log[1 << 20];
    bool seen = false;
    for (int i = 0; i < 600 && !seen; i++) {
        seen = th_read_file(ah_agent_log(a), log, sizeof log) &&
               th_contains(log, "event=receipt_refused kind=ACCEPTED");
        if (!seen)
            th_sleep_ms(50);
    }
    th_check(seen, "the agent refuses the ACCEPTED signed with a key it never learned");
    r = ah_call(a, "{cmd:s id:s}", "sent", ids[2]);
    th_check(s_sent_state(r, (void *) "queued"),
             "an ACCEPTED signed with a broker key never learned: %s", ah_show(r->map));
    ah_reply_destroy(&r);

    proto_identity_destroy(&old);
    proto_identity_destroy(&stranger);
    ah_agent_stop(a);
    ah_socket_close(env, &f.router);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  8. api_errors

// ---------------------------------------------------------------------------
//  7b. directory deltas, against the fake broker

//  A snapshot of the fake broker's directory: A, B and, with c, C; A in
//  state a_state. Signed by the hub.
typedef struct {
    proto_msg_t msg;
    proto_dir_entry_t entries[3];
} s_snap_t;

static void s_snap(ah_env_t *env, s_snap_t *s, uint64_t serial, uint8_t a_state, bool c)
{
    memset(s, 0, sizeof *s);
    const th_agency_t who[3] = { TH_A, TH_B, TH_C };
    const char *names[3] = { "Văn phòng", "Sở Nội vụ", "Sở Tài chính" };
    for (int i = 0; i < 3; i++) {
        s->entries[i].code = th_code(who[i]);
        s->entries[i].name = names[i];
        memcpy(s->entries[i].key, proto_identity_public(env->th->agency[who[i]])->sign_pk,
               PROTO_KEY_LEN);
    }
    s->entries[0].state = a_state;
    s->msg.kind = PROTO_KIND_DIRECTORY;
    s->msg.u.directory = (proto_directory_msg_t){ .serial = serial,
                                                  .time = truc_now_ms(),
                                                  .broker = "hub",
                                                  .entries = s->entries,
                                                  .nentries = c ? 3 : 2 };
    th_check(proto_directory_sign(&s->msg.u.directory, env->th->hub, s->msg.u.directory.sig) ==
                 PROTO_OK,
             "proto_directory_sign");
}

static void s_fake_delta(s_fake_t *f, const s_snap_t *from, const s_snap_t *to, bool tamper)
{
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DIRECTORY_DELTA;
    th_check(proto_dir_delta_build(&from->msg.u.directory, &to->msg.u.directory, &msg.u.delta) ==
                 PROTO_OK,
             "proto_dir_delta_build");
    if (tamper)
        msg.u.delta.entries[0].state = PROTO_AGENCY_ACTIVE; // reinstated on the way
    s_fake_send(f, &msg, NULL, NULL, 0);
    proto_dir_delta_release(&msg.u.delta);
}

//  HELLO, then READY: the HELLO's dir_serial and dir_deltas are checked.
static void s_fake_session(ah_env_t *env, s_fake_t *f, uint64_t serial, bool deltas,
                           const char *what)
{
    proto_msg_t *hello = s_fake_recv(f, PROTO_KIND_HELLO);
    uint64_t got_serial = hello->u.hello.dir_serial;
    bool got_deltas = hello->u.hello.dir_deltas;
    proto_msg_destroy(&hello);
    th_check(got_serial == serial && got_deltas == deltas,
             "%s: HELLO says dir_serial %llu dir_deltas %d, expected %llu %d", what,
             (unsigned long long) got_serial, got_deltas, (unsigned long long) serial, deltas);
    (void) env;
    proto_msg_t ready;
    memset(&ready, 0, sizeof ready);
    ready.kind = PROTO_KIND_READY;
    ready.u.ready = (proto_ready_t){ .version = PROTO_VERSION,
                                     .broker = "hub",
                                     .agency = th_code(TH_B),
                                     .time = truc_now_ms(),
                                     .heartbeat = 60000,
                                     .dir_serial = serial,
                                     .max_frame = 1u << 20,
                                     .max_document = 4u << 20,
                                     .max_recipients = 500,
                                     .max_attachments = 100 };
    s_fake_send(f, &ready, NULL, NULL, 0);
}

typedef struct {
    int64_t serial;
    const char *a_state;
    int64_t count;
} s_dir_want_t;

static bool s_dir_is(const ah_reply_t *r, void *arg)
{
    const s_dir_want_t *want = arg;
    return ah_is_ok(r) && ah_int(r->map, "serial") == want->serial &&
           ah_count(r->map, "agencies") == want->count &&
           ah_str_is(r->map, "agencies[0].state", want->a_state);
}

static void s_expect_dir(ah_agent_t *b, int64_t serial, const char *a_state, int64_t count,
                         const char *what)
{
    s_dir_want_t want = { serial, a_state, count };
    ah_reply_t *r = ah_poll(b, s_dir_is, &want, what, "{cmd:s}", "directory");
    ah_reply_destroy(&r);
}

//  A READY meant for a link between brokers (PROTOCOL.md 16.6: `link`, no
//  `agency`) is not a session of this agency: the agent starts over with a
//  new connection and HELLO, and neither crashes nor takes the session.
static void test_ready_link(void **state)
{
    ah_env_t *env = *state;
    s_fake_t f;
    s_fake_open(env, &f);
    ah_agent_t *b = ah_agent_new(env, TH_B, f.endpoint, 0, NULL);
    ah_agent_start(b);
    proto_msg_t *hello = s_fake_recv(&f, PROTO_KIND_HELLO);
    proto_msg_destroy(&hello);
    proto_msg_t ready;
    memset(&ready, 0, sizeof ready);
    ready.kind = PROTO_KIND_READY;
    ready.u.ready = (proto_ready_t){ .version = PROTO_VERSION,
                                     .broker = "hub",
                                     .link = "prov",
                                     .time = truc_now_ms(),
                                     .heartbeat = 60000,
                                     .dir_serial = 1,
                                     .max_frame = 1u << 20,
                                     .max_document = 4u << 20,
                                     .max_recipients = 500,
                                     .max_attachments = 100 };
    s_fake_send(&f, &ready, NULL, NULL, 0);
    hello = s_fake_recv(&f, PROTO_KIND_HELLO);
    bool again = hello->u.hello.agency && strcmp(hello->u.hello.agency, th_code(TH_B)) == 0;
    proto_msg_destroy(&hello);
    th_check(again, "the agent's second HELLO is not B's");
    char log[65536];
    th_check(th_read_file(ah_agent_log(b), log, sizeof log) &&
                 strstr(log, "READY names another broker or agency"),
             "the agent did not say why it started over");
    ah_agent_stop(b);
    ah_pass(env);
}

//  The agent applies a delta on top of exactly the serial it names, checks
//  the broker's signature of the result, and keeps it as a snapshot; a
//  delta for another serial or a tampered one is refused, and the agent
//  asks for the whole directory (HELLO without dir_deltas) instead. A
//  broker from before refusing dir_deltas or route is asked again
//  without the field.
static void test_directory_delta(void **state)
{
    ah_env_t *env = *state;
    s_fake_t f;
    s_fake_open(env, &f);
    ah_agent_t *b = ah_agent_new(env, TH_B, f.endpoint, 0, NULL);
    ah_agent_start(b);
    s_fake_session(env, &f, 0, true, "first session");
    s_snap_t one, two, three, four;
    s_snap(env, &one, 1, PROTO_AGENCY_ACTIVE, false);
    s_fake_send(&f, &one.msg, NULL, NULL, 0);
    s_expect_dir(b, 1, "active", 2, "the whole directory, serial 1");

    //  1 -> 2: A suspended, C added.
    s_snap(env, &two, 2, PROTO_AGENCY_SUSPENDED, true);
    s_fake_delta(&f, &one, &two, false);
    s_expect_dir(b, 2, "suspended", 3, "serial 2 from the delta");

    //  A delta from serial 3 does not apply to 2: the agent reconnects and
    //  asks for the whole.
    s_snap(env, &three, 3, PROTO_AGENCY_ACTIVE, true);
    s_snap(env, &four, 4, PROTO_AGENCY_REVOKED, true);
    s_fake_delta(&f, &three, &four, false);
    s_fake_session(env, &f, 2, false, "after a delta for another serial");
    s_expect_dir(b, 2, "suspended", 3, "still serial 2");
    s_fake_send(&f, &three.msg, NULL, NULL, 0);
    s_expect_dir(b, 3, "active", 3, "the whole directory, serial 3");

    //  A tampered delta (A reinstated instead of revoked) fails the
    //  signature of the whole and changes nothing.
    s_fake_delta(&f, &three, &four, true);
    s_fake_session(env, &f, 3, false, "after a tampered delta");
    s_expect_dir(b, 3, "active", 3, "still serial 3 after a tampered delta");
    s_fake_send(&f, &four.msg, NULL, NULL, 0);
    s_expect_dir(b, 4, "revoked", 3, "the whole directory, serial 4");
    //  Kept across a restart, and with a whole directory held the agent
    //  takes deltas again.
    ah_agent_stop(b);
    ah_agent_start(b);
    s_fake_session(env, &f, 4, true, "after a restart");
    //  A broker from before deltas refuses the field (ERR_UNKNOWN_FIELD,
    //  fatal): the agent connects again without it.
    ah_agent_stop(b);
    ah_agent_start(b);
    proto_msg_t *hello = s_fake_recv(&f, PROTO_KIND_HELLO);
    bool asked = hello->u.hello.dir_deltas;
    proto_msg_destroy(&hello);
    th_check(asked, "HELLO after a restart without dir_deltas");
    proto_msg_t error;
    memset(&error, 0, sizeof error);
    error.kind = PROTO_KIND_ERROR;
    error.u.error = (proto_error_t){ .code = PROTO_ERR_UNKNOWN_FIELD,
                                     .message = "dir_deltas: unknown field",
                                     .fatal = true };
    s_fake_send(&f, &error, NULL, NULL, 0);
    s_fake_session(env, &f, 4, false, "after an older broker refused dir_deltas");
    ah_agent_stop(b);
    //  A broker from before routes between brokers refuses `route` the
    //  same way: the agent says HELLO again without it.
    ah_agent_start(b);
    hello = s_fake_recv(&f, PROTO_KIND_HELLO);
    asked = hello->u.hello.route;
    proto_msg_destroy(&hello);
    th_check(asked, "HELLO does not ask for routes");
    error.u.error.message = "route: unknown field";
    s_fake_send(&f, &error, NULL, NULL, 0);
    hello = s_fake_recv(&f, PROTO_KIND_HELLO);
    asked = hello->u.hello.route;
    proto_msg_destroy(&hello);
    th_check(!asked, "HELLO still asks for routes after an older broker refused the field");
    ah_agent_stop(b);
}

static void test_api_errors(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    const char *sets[] = { "api.max_document=4096", NULL };
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, sets);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_wait_directory(a);
    ah_wait_directory(b);
    const char *to_b[] = { th_code(TH_B) };
    ah_reply_t *r;

    //  Requests.
    r = ah_call(a, "{cmd:s}", "frobnicate");
    ah_expect_error(r, PROTO_ERR_UNKNOWN_FIELD, "cmd", "unknown cmd");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s bogus:i}", "health", 1);
    ah_expect_error(r, PROTO_ERR_UNKNOWN_FIELD, "bogus", "unknown request field");
    ah_reply_destroy(&r);
    r = ah_call(a, "{id:s}", "x");
    ah_expect_error(r, PROTO_ERR_MISSING, "cmd", "no cmd");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s}", "submit");
    ah_expect_error(r, PROTO_ERR_MISSING, "doc", "submit without doc");
    ah_reply_destroy(&r);

    //  Document fields.
    const char *bad_code[] = { "000.00.01.h01" };
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s}}", "submit", bad_code, (size_t) 1, S_TYPE,
                S_SUBJECT);
    ah_expect_error(r, PROTO_ERR_AGENCY_CODE, "doc.to[0]", "bad agency code in to");
    ah_reply_destroy(&r);
    const th_agency_t refused[] = { TH_U, TH_S, TH_R };
    const proto_err_t refused_code[] = { PROTO_ERR_UNKNOWN_AGENCY, PROTO_ERR_AGENCY_SUSPENDED,
                                         PROTO_ERR_AGENCY_REVOKED };
    for (int i = 0; i < 3; i++) {
        const char *to[] = { th_code(refused[i]) };
        r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s}}", "submit", to, (size_t) 1, S_TYPE,
                    S_SUBJECT);
        ah_expect_error(r, refused_code[i], "doc.to", "recipient the directory refuses");
        ah_reply_destroy(&r);
    }
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s from:s}}", "submit", to_b, (size_t) 1, S_TYPE,
                S_SUBJECT, th_code(TH_B));
    ah_expect_error(r, PROTO_ERR_NOT_AUTHORIZED, "doc.from", "from another agency");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s from:s}}", "submit", to_b, (size_t) 1, S_TYPE,
                S_SUBJECT, th_code(TH_A));
    ah_expect_ok(r, "from this agency");
    ah_reply_destroy(&r);
    char subject[3 * 501 + 1];
    memset(subject, 'a', 501);
    subject[501] = '\0';
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s}}", "submit", to_b, (size_t) 1, S_TYPE,
                subject);
    ah_expect_error(r, PROTO_ERR_LIMIT, "doc.subject", "subject of 501 characters");
    ah_reply_destroy(&r);
    //  The limit counts characters: 500 of three bytes each pass.
    subject[0] = '\0';
    for (int i = 0; i < 500; i++)
        strcat(subject, "ệ");
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s}}", "submit", to_b, (size_t) 1, S_TYPE,
                subject);
    ah_expect_ok(r, "subject of 500 three-byte characters");
    ah_reply_destroy(&r);
    static const char bad_utf8[] = "V\xe1\xbb\x81 vi\xc3\x28"
                                   "c";
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:S}}", "submit", to_b, (size_t) 1, S_TYPE,
                bad_utf8, sizeof bad_utf8 - 1);
    ah_expect_error(r, PROTO_ERR_UTF8, "doc.subject", "invalid UTF-8");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:i}}", "submit", to_b, (size_t) 1, S_TYPE, 7);
    ah_expect_error(r, PROTO_ERR_TYPE, "doc.subject", "subject of the wrong type");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s urgency:s}}", "submit", to_b, (size_t) 1,
                S_TYPE, S_SUBJECT, "hoa-toc");
    ah_expect_error(r, PROTO_ERR_VALUE, "doc.urgency", "unknown urgency");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s colour:s}}", "submit", to_b, (size_t) 1,
                S_TYPE, S_SUBJECT, "blue");
    ah_expect_error(r, PROTO_ERR_UNKNOWN_FIELD, "doc.colour", "unknown document field");
    ah_reply_destroy(&r);

    //  Attachments.
    char missing[TH_PATH_MAX + 32], big[TH_PATH_MAX + 32];
    snprintf(missing, sizeof missing, "%s/no-such-file.pdf", env->th->root);
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s path:s}]}",
                "submit", to_b, (size_t) 1, S_TYPE, S_SUBJECT, "x.pdf", "application/pdf", missing);
    ah_expect_error(r, PROTO_ERR_IO, "attachments[0]", "attachment path missing");
    ah_reply_destroy(&r);
    static uint8_t bytes[5000];
    randombytes_buf(bytes, sizeof bytes);
    snprintf(big, sizeof big, "%s/big.pdf", env->th->root);
    s_write_file(big, bytes, sizeof bytes, 0600);
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s data:x}]}",
                "submit", to_b, (size_t) 1, S_TYPE, S_SUBJECT, "x.pdf", "application/pdf", bytes,
                sizeof bytes);
    ah_expect_error(r, PROTO_ERR_TOO_LARGE, "attachments[0]", "inline attachment too large");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s path:s}]}",
                "submit", to_b, (size_t) 1, S_TYPE, S_SUBJECT, "x.pdf", "application/pdf", big);
    ah_expect_error(r, PROTO_ERR_TOO_LARGE, "attachments[0]", "attachment file too large");
    ah_reply_destroy(&r);
    r = ah_call(a,
                "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s data:x} "
                "{name:s type:s data:x}]}",
                "submit", to_b, (size_t) 1, S_TYPE, S_SUBJECT, "x.pdf", "application/pdf", bytes,
                (size_t) 3000, "y.pdf", "application/pdf", bytes, (size_t) 3000);
    ah_expect_error(r, PROTO_ERR_TOO_LARGE, "attachments[1]", "attachments too large together");
    ah_reply_destroy(&r);
    //  Two attachments that would be one file once fetched: the same name,
    //  another case, another Unicode form (NFC against NFD).
    static const char *const twins[][2] = {
        { "qd.pdf", "qd.pdf" },
        { "qd.pdf", "QD.PDF" },
        { "Vi\xe1\xbb\x87t.pdf", "vie\xcc\xa3\xcc\x82t.pdf" },
    };
    for (size_t i = 0; i < sizeof twins / sizeof twins[0]; i++) {
        r = ah_call(a,
                    "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s data:x} "
                    "{name:s type:s data:x}]}",
                    "submit", to_b, (size_t) 1, S_TYPE, S_SUBJECT, twins[i][0], "application/pdf",
                    bytes, (size_t) 10, twins[i][1], "application/pdf", bytes + 10, (size_t) 10);
        ah_expect_error(r, PROTO_ERR_DUP_NAME, "doc.att[1].name", twins[i][1]);
        ah_reply_destroy(&r);
    }
    //  200 characters are allowed, but not over 255 bytes: 86 x U+1EC7.
    char long_name[3 * 86 + 1] = "";
    for (int i = 0; i < 86; i++)
        strcat(long_name, "\xe1\xbb\x87");
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s data:x}]}",
                "submit", to_b, (size_t) 1, S_TYPE, S_SUBJECT, long_name, "application/pdf", bytes,
                (size_t) 10);
    ah_expect_error(r, PROTO_ERR_LIMIT, "doc.att[0].name", "a name of 258 bytes");
    ah_reply_destroy(&r);
    long_name[3 * 85] = '\0';
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s data:x}]}",
                "submit", to_b, (size_t) 1, S_TYPE, S_SUBJECT, long_name, "application/pdf", bytes,
                (size_t) 10);
    ah_expect_ok(r, "a name of 255 bytes");
    ah_reply_destroy(&r);

    //  Ids.
    proto_id_t random_id;
    proto_id_random(&random_id);
    s_id_t unknown;
    proto_id_format(&random_id, unknown);
    static const char *const by_id[] = { "fetch", "ack", "sent" };
    for (int i = 0; i < 3; i++) {
        r = ah_call(a, "{cmd:s id:s}", by_id[i], unknown);
        ah_expect_error(r, PROTO_ERR_UNKNOWN_DOC, "id", by_id[i]);
        ah_reply_destroy(&r);
        r = ah_call(a, "{cmd:s id:s}", by_id[i], "4fd6f877-1bab-4a47-8545");
        ah_expect_error(r, PROTO_ERR_VALUE, "id", by_id[i]);
        ah_reply_destroy(&r);
    }
    r = ah_call(a, "{cmd:s id:s code:i}", "status", unknown, 3);
    ah_expect_error(r, PROTO_ERR_UNKNOWN_DOC, "id", "status of an unknown document");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s id:s code:i}", "status", "not-an-id", 3);
    ah_expect_error(r, PROTO_ERR_VALUE, "id", "status with a bad id");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s id:s}", "recall", unknown);
    ah_expect_error(r, PROTO_ERR_UNKNOWN_DOC, "id", "recall of an unknown document");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s refs:[s] reason:s}", "revoke", unknown, "Nhầm");
    ah_expect_error(r, PROTO_ERR_UNKNOWN_DOC, "refs", "revoke of an unknown document");
    ah_reply_destroy(&r);

    //  Bytes that are not one msgpack map.
    static const uint8_t reserved[] = { 0xc1, 0xff, 0x00 };
    r = ah_call_raw(a, reserved, sizeof reserved);
    ah_expect_error(r, PROTO_ERR_MSGPACK, NULL, "garbage bytes");
    ah_reply_destroy(&r);
    static const uint8_t truncated[] = { 0x82, 0xa3, 'c', 'm', 'd' };
    r = ah_call_raw(a, truncated, sizeof truncated);
    ah_expect_error(r, PROTO_ERR_MSGPACK, NULL, "a truncated map");
    ah_reply_destroy(&r);
    static const uint8_t array[] = { 0x92, 0x01, 0x02 };
    r = ah_call_raw(a, array, sizeof array);
    ah_expect_error(r, PROTO_ERR_MSGPACK, NULL, "an array, not a map");
    ah_reply_destroy(&r);

    //  A DEALER that forgets the empty delimiter frame.
    void *dealer = ah_socket(env, ZMQ_DEALER);
    th_check(zmq_connect(dealer, ah_agent_endpoint(a)) == 0, "connect: %s",
             zmq_strerror(zmq_errno()));
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    ah_pack(&buf, "{cmd:s}", "health");
    zmq_send(dealer, buf.data, buf.size, ZMQ_SNDMORE);
    zmq_send(dealer, buf.data, buf.size, 0);
    msgpack_sbuffer_destroy(&buf);
    zmq_pollitem_t item = { dealer, 0, ZMQ_POLLIN, 0 };
    th_check(zmq_poll(&item, 1, AH_CALL_MS) == 1, "no answer to a 2-frame request");
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    th_check(zmq_msg_recv(&frame, dealer, 0) == 0 && zmq_msg_more(&frame),
             "the answer to a DEALER starts with an empty delimiter");
    zmq_msg_close(&frame);
    zmq_msg_init(&frame);
    th_check(zmq_msg_recv(&frame, dealer, 0) >= 0, "recv");
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    bool decoded = msgpack_unpack_next(&u, zmq_msg_data(&frame), zmq_msg_size(&frame), &off) ==
                   MSGPACK_UNPACK_SUCCESS;
    bool framing = decoded && ah_bool(&u.data, "ok") == 0 &&
                   ah_int(&u.data, "code") == PROTO_ERR_FRAMING &&
                   ah_str_is(&u.data, "error", "ERR_FRAMING");
    char shown[512];
    snprintf(shown, sizeof shown, "%s", decoded ? ah_show(&u.data) : "(not msgpack)");
    msgpack_unpacked_destroy(&u);
    zmq_msg_close(&frame);
    th_check(framing, "2-frame request: expected ERR_FRAMING, got %s", shown);
    ah_socket_close(env, &dealer);

    //  The agent still answers normally after all that.
    r = ah_call(a, "{cmd:s}", "health");
    ah_expect_ok(r, "health after the errors");
    ah_reply_destroy(&r);

    //  A full store: nothing is kept, the agent says so and goes on.
    const char *small[] = { "store.map_size=16M", NULL };
    ah_agent_t *d = ah_agent_new(env, TH_D, "tcp://127.0.0.1:9", 0, small);
    ah_agent_start(d);
    static uint8_t chunk[3u << 20];
    randombytes_buf(chunk, sizeof chunk);
    int stored = 0;
    bool full = false;
    for (int i = 0; i < 12 && !full; i++) {
        r = ah_call(d, "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s data:x}]}",
                    "submit", to_b, (size_t) 1, S_TYPE, S_SUBJECT, "lon.pdf", "application/pdf",
                    chunk, sizeof chunk);
        if (ah_is_ok(r))
            stored++;
        else {
            ah_expect_error(r, PROTO_ERR_STORE_FULL, NULL, "submit into a full store");
            full = true;
        }
        ah_reply_destroy(&r);
    }
    th_check(full, "a 16 MiB store took %d documents of 3 MiB", stored);
    r = ah_call(d, "{cmd:s}", "health");
    th_check(ah_is_ok(r) && ah_int(r->map, "outbox") == stored,
             "health after ERR_STORE_FULL: %d stored, got %s", stored, ah_show(r->map));
    ah_reply_destroy(&r);
    r = ah_call(d, "{cmd:s limit:i}", "sent", 1000);
    th_check(ah_count(r->map, "documents") == stored,
             "sent after ERR_STORE_FULL: %d stored, got %s", stored, ah_show(r->map));
    ah_reply_destroy(&r);

    //  API.md 2: 103 ERR_MSGPACK when "the request is not one valid
    //  msgpack map": a map with bytes after it is not.
    static const uint8_t trailing[] = { 0x81, 0xa3, 'c', 'm', 'd', 0xa6, 'h',
                                        'e',  'a',  'l', 't', 'h', 0x00 };
    r = ah_call_raw(a, trailing, sizeof trailing);
    th_soft(env->th, ah_bool(r->map, "ok") == 0 && ah_int(r->map, "code") == PROTO_ERR_TRAILING,
            "a map followed by a byte: expected ERR_TRAILING (API.md 2), got %s", ah_show(r->map));
    ah_reply_destroy(&r);

    //  API.md 4.2: refs must be documents this agency sent;
    //  ERR_NOT_AUTHORIZED for one it knows but did not send (it received it).
    const char *to_a[] = { th_code(TH_A) };
    s_id_t received;
    s_submit(b, to_a, 1, "Gửi ngược lại", "normal", received);
    r = ah_poll(a, s_inbox_has, received, "A received B's document", "{cmd:s}", "inbox");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s refs:[s] reason:s}", "revoke", received, "Không phải của tôi");
    th_soft(env->th,
            ah_bool(r->map, "ok") == 0 && ah_int(r->map, "code") == PROTO_ERR_NOT_AUTHORIZED,
            "revoke of a received document: expected ERR_NOT_AUTHORIZED (API.md 4.2), got %s",
            ah_show(r->map));
    ah_reply_destroy(&r);
    th_soft_done(env->th);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  socket_mode: api.socket_mode and api.socket_group, so that a DMS running
//  as another user (in the agent's group) can reach the ipc:// sockets.

static void s_expect_socket(ah_env_t *env, const char *path, mode_t mode, long gid)
{
    struct stat st;
    th_check(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
    th_soft(env->th, S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == mode,
            "%s has mode %04o, expected %04o", path, (unsigned) (st.st_mode & 07777),
            (unsigned) mode);
    th_soft(env->th, gid < 0 || st.st_gid == (gid_t) gid, "%s has group %ld, expected %ld", path,
            (long) st.st_gid, gid);
}

static void test_socket_mode(void **state)
{
    ah_env_t *env = *state;
    //  A group other than ours, so the test sees the socket change hands.
    //  The tests run as root or as a member of such a group.
    static const char *const candidates[] = { "nogroup", "daemon", "users", "adm", NULL };
    const struct group *group = NULL;
    for (size_t i = 0; candidates[i] && !group; i++) {
        group = getgrnam(candidates[i]);
        if (group && group->gr_gid == getegid())
            group = NULL;
    }
    th_check(group != NULL, "no group to hand the sockets to");
    long gid = (long) group->gr_gid;
    char group_set[64];
    snprintf(group_set, sizeof group_set, "api.socket_group=%s", group->gr_name);
    ah_broker_start(env);

    //  Default: 0600, the agent's group.
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    char path[TH_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/api.sock", ah_agent_data(a));
    s_expect_socket(env, path, 0600, (long) getegid());
    snprintf(path, sizeof path, "%s/events.sock", ah_agent_data(a));
    s_expect_socket(env, path, 0600, (long) getegid());

    //  0660 and a group: both sockets, and the API answers.
    const char *sets[] = { "api.socket_mode=0660", group_set, NULL };
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, sets);
    snprintf(path, sizeof path, "%s/api.sock", ah_agent_data(b));
    s_expect_socket(env, path, 0660, gid);
    snprintf(path, sizeof path, "%s/events.sock", ah_agent_data(b));
    s_expect_socket(env, path, 0660, gid);
    ah_reply_t *r = ah_call(b, "{cmd:s}", "health");
    ah_expect_ok(r, "health through a 0660 socket");
    ah_reply_destroy(&r);
    ah_agent_stop(b);

    //  Modes that open the API to others, and unknown groups, are refused
    //  before anything is bound.
    char out[4096], st[64], key[TH_PATH_MAX + 32], data[TH_PATH_MAX + 32];
    snprintf(key, sizeof key, "%s/%s.secret", env->th->keys, th_code(TH_C));
    snprintf(data, sizeof data, "%s/agent-refused", env->th->root);
    th_check(mkdir(data, 0700) == 0, "mkdir %s", data);
    static const char *const refused[][2] = {
        { "api.socket_mode=0666", "api.socket_mode" },
        { "api.socket_mode=0606", "api.socket_mode" },
        { "api.socket_mode=0770", "api.socket_mode" },
        { "api.socket_mode=rw-rw----", "api.socket_mode" },
        { "api.socket_mode=0400", "api.socket_mode" },
        { "api.socket_group=no-such-group-here", "api.socket_group" },
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        const char *args[] = { "--identity",
                               key,
                               "--data-dir",
                               data,
                               "--broker",
                               "tcp://127.0.0.1:9",
                               "--broker-key",
                               env->broker_public,
                               "--set",
                               refused[i][0],
                               NULL };
        int status = ah_run(env, args, out, sizeof out);
        th_soft(env->th,
                WIFEXITED(status) && WEXITSTATUS(status) != 0 && th_contains(out, refused[i][1]),
                "%s: expected a refusal naming %s, got %s:\n%s", refused[i][0], refused[i][1],
                th_status_text(status, st, sizeof st), out);
    }
    snprintf(path, sizeof path, "%s/api.sock", data);
    th_soft(env->th, access(path, F_OK) != 0, "a refused agent left %s", path);
    th_soft_done(env->th);
    ah_agent_stop(a);
    ah_broker_stop(env);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  9. refuse_start

static void test_refuse_start(void **state)
{
    ah_env_t *env = *state;
    char out[8192], st[64], key[TH_PATH_MAX + 32], loose[TH_PATH_MAX + 32];
    char data[TH_PATH_MAX + 32], agency_public[TH_PATH_MAX + 32];
    snprintf(key, sizeof key, "%s/%s.secret", env->th->keys, th_code(TH_A));
    snprintf(loose, sizeof loose, "%s/loose.secret", env->th->root);
    snprintf(data, sizeof data, "%s/refused", env->th->root);
    snprintf(agency_public, sizeof agency_public, "%s/%s.public", env->th->keys, th_code(TH_B));
    th_check(mkdir(data, 0700) == 0, "mkdir %s", data);
    const char *nowhere = "tcp://127.0.0.1:9";

    //  A key readable by others.
    size_t len = 0;
    uint8_t *secret = s_read_all(key, &len);
    th_check(secret != NULL, "read %s", key);
    s_write_file(loose, secret, len, 0644);
    free(secret);
    const char *world[] = { "--identity", loose,          "--data-dir",       data, "--broker",
                            nowhere,      "--broker-key", env->broker_public, NULL };
    int status = ah_run(env, world, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 2 && th_contains(out, "chmod 600"),
             "world-readable key: expected exit 2 with \"chmod 600\", got %s:\n%s",
             th_status_text(status, st, sizeof st), out);

    //  A broker public file that is an agency's.
    const char *agency_key[] = { "--identity",   key,           "--data-dir",
                                 data,           "--broker",    nowhere,
                                 "--broker-key", agency_public, NULL };
    status = ah_run(env, agency_key, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 2 && th_contains(out, "broker"),
             "agency key as the broker's: expected exit 2, got %s:\n%s",
             th_status_text(status, st, sizeof st), out);

    //  A data directory in use by a running agent.
    ah_agent_t *a = ah_agent_new(env, TH_A, nowhere, 0, NULL);
    ah_agent_start(a);
    const char *locked[] = { "--identity", key,     "--data-dir",   ah_agent_data(a),
                             "--broker",   nowhere, "--broker-key", env->broker_public,
                             NULL };
    status = ah_run(env, locked, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 2 && th_contains(out, "locked"),
             "locked data dir: expected exit 2 with \"locked\", got %s:\n%s",
             th_status_text(status, st, sizeof st), out);
    ah_reply_t *r = ah_call(a, "{cmd:s}", "health");
    ah_expect_ok(r, "the running agent after a second one was refused");
    ah_reply_destroy(&r);
    ah_agent_stop(a);

    //  --help, and a configuration printed, written and read back.
    const char *help[] = { "--help", NULL };
    status = ah_run(env, help, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0 && th_contains(out, "usage: truc-agent"),
             "--help: %s:\n%s", th_status_text(status, st, sizeof st), out);
    const char *print[] = { "--print-default-config", NULL };
    static char config[64 * 1024];
    status = ah_run(env, print, config, sizeof config);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0 && th_contains(config, "[agent]"),
             "--print-default-config: %s:\n%s", th_status_text(status, st, sizeof st), config);
    char conf[TH_PATH_MAX + 32];
    snprintf(conf, sizeof conf, "%s/agent.conf", env->th->root);
    s_write_file(conf, config, strlen(config), 0600);
    //  As printed, it names key files that do not exist here: the file is
    //  read (not exit 1, a configuration error), the start refused (2).
    const char *defaults[] = { "--config", conf, NULL };
    status = ah_run(env, defaults, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 2 && !th_contains(out, "configuration"),
             "--config with the printed defaults: expected exit 2 (no key), got %s:\n%s",
             th_status_text(status, st, sizeof st), out);
    //  With the paths of this test on top, an agent runs on it.
    ah_agent_set_config(a, conf);
    ah_agent_start(a);
    ah_agent_stop(a);
    //  A configuration with an unknown option is a configuration error.
    static const char bogus[] = "[agent]\nno_such_option = 1\n";
    s_write_file(conf, bogus, sizeof bogus - 1, 0600);
    status = ah_run(env, defaults, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 1,
             "--config with an unknown option: expected exit 1, got %s:\n%s",
             th_status_text(status, st, sizeof st), out);
    ah_pass(env);
}

// ---------------------------------------------------------------------------

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, ah_setup, ah_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_agent", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_AGENT", &ah_agent_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_send_receive),
        S_TEST(test_status_and_revoke),
        S_TEST(test_offline_recipient_urgency),
        S_TEST(test_broker_down),
        S_TEST(test_agent_kill9_submissions),
        S_TEST(test_agent_kill9_deliveries),
        S_TEST(test_quarantine),
        S_TEST(test_ready_link),
        S_TEST(test_quarantine_retired),
        S_TEST(test_broker_key_retired),
        S_TEST(test_directory_delta),
        S_TEST(test_api_errors),
        S_TEST(test_refuse_start),
        S_TEST(test_socket_mode),
    };
    return th_run_tests("test_agent", "truc-agent", tests, sizeof tests / sizeof tests[0], filter);
}
