/*  tests/agent/test_dms.c - what a document-management system (DMS) asks
    of the real truc-agent's local API (agent/API.md), beyond sending and
    receiving: requests it can repeat after a crash, what the recipient
    sees of revocations, updates and replacements, fields kept end to end,
    Unicode normalisation and the limits in force.

    Each test runs a real truc-broker and real truc-agent processes in a
    fresh temporary directory (tests/lib/agent_harness.h) and talks to the
    agents only through their API sockets, as a DMS does. No assertion
    depends on speed: every wait polls with a generous deadline.

    Usage: test_dms TRUC_BROKER TRUC_KEYS TRUC_AGENT [TEST_NAME]
*/
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "agent_harness.h"
#include "proto/msg.h"
#include "proto/sign.h"
#include "truc_client.h"

#define S_TYPE   "Công văn"
#define S_ID_LEN 37 // UUID text and NUL

typedef char s_id_t[S_ID_LEN];

// ---------------------------------------------------------------------------
//  Helpers

static void s_id_get(const msgpack_object *o, const char *path, s_id_t out)
{
    const char *text = ah_str(o, path);
    proto_id_t id;
    th_check(text && strlen(text) == 36 && proto_id_parse(text, &id) == PROTO_OK,
             "%s is not a document id in %s", path, ah_show(o));
    memcpy(out, text, S_ID_LEN);
}

//  How many entries of list (an array of maps) have key == value; the index
//  of the first in *at (if not NULL; -1 if none).
static int s_count(const msgpack_object *list, const char *key, const char *value, int *at)
{
    int n = 0;
    if (at)
        *at = -1;
    for (uint32_t i = 0; list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size;
         i++)
        if (ah_str_is(&list->via.array.ptr[i], key, value)) {
            if (at && *at < 0)
                *at = (int) i;
            n++;
        }
    return n;
}

static bool s_listed(const ah_reply_t *r, void *arg)
{
    return ah_is_ok(r) && s_count(ah_get(r->map, "documents"), "subject", arg, NULL) > 0;
}

static bool s_listed_id(const ah_reply_t *r, void *arg)
{
    return ah_is_ok(r) && s_count(ah_get(r->map, "documents"), "id", arg, NULL) > 0;
}

//  `sent ID`: accepted and delivered to every recipient.
static bool s_delivered(const ah_reply_t *r, void *arg)
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

// ---------------------------------------------------------------------------
//  1. idempotent_retry: a DMS that dies between submit and reply retries
//  with its client_ref, across an agent restart, and one document goes out.

#define S_SUBJECT_CLOSED "Về việc thử gửi lại: DMS đóng socket trước khi đọc trả lời"
#define S_SUBJECT_KILLED "Về việc thử gửi lại: tiến trình DMS bị giết"

//  A request with client_ref ref for a document to `to` with subject.
static void s_pack_submit(msgpack_sbuffer *buf, const char *ref, const char *to,
                          const char *subject)
{
    const char *list[] = { to };
    ah_pack(buf, "{cmd:s client_ref:s doc:{to:A type:s subject:s urgency:s}}", "submit", ref, list,
            (size_t) 1, S_TYPE, subject, "urgent");
}

//  The DMS as its own process: connect, send the submit, and wait to be
//  killed without ever reading the reply.
static pid_t s_dms_process(const char *endpoint, const msgpack_sbuffer *request)
{
    pid_t pid = fork();
    th_check(pid >= 0, "fork");
    if (pid == 0) {
        void *ctx = zmq_ctx_new();
        void *req = zmq_socket(ctx, ZMQ_REQ);
        if (!req || zmq_connect(req, endpoint) != 0 ||
            zmq_send(req, request->data, request->size, 0) < 0)
            _exit(2);
        for (;;)
            pause();
    }
    return pid;
}

//  Poll A's sent list until it holds subject; the id it shows in out.
static void s_sent_wait(ah_agent_t *a, const char *subject, s_id_t out)
{
    char want[600];
    snprintf(want, sizeof want, "%s", subject);
    ah_reply_t *r =
        ah_poll(a, s_listed, want, "the submission in sent", "{cmd:s limit:i}", "sent", 1000);
    int at;
    const msgpack_object *docs = ah_get(r->map, "documents");
    th_check(s_count(docs, "subject", subject, &at) == 1, "sent lists %s more than once: %s",
             subject, ah_show(r->map));
    s_id_get(&docs->via.array.ptr[at], "id", out);
    ah_reply_destroy(&r);
}

static void test_idempotent_retry(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_wait_directory(a);
    const char *to = th_code(TH_B);

    //  One DMS closes its socket before reading the reply.
    msgpack_sbuffer closed, killed;
    msgpack_sbuffer_init(&closed);
    msgpack_sbuffer_init(&killed);
    s_pack_submit(&closed, "CV-2026-0001", to, S_SUBJECT_CLOSED);
    s_pack_submit(&killed, "CV-2026-0002", to, S_SUBJECT_KILLED);
    void *req = ah_socket(env, ZMQ_REQ);
    th_check(zmq_connect(req, ah_agent_endpoint(a)) == 0, "connect: %s", zmq_strerror(zmq_errno()));
    th_check(zmq_send(req, closed.data, closed.size, 0) == (int) closed.size, "send: %s",
             zmq_strerror(zmq_errno()));
    s_id_t first_closed, first_killed;
    s_sent_wait(a, S_SUBJECT_CLOSED, first_closed);
    ah_socket_close(env, &req);

    //  Another is killed (SIGKILL) after sending, before reading.
    pid_t dms = s_dms_process(ah_agent_endpoint(a), &killed);
    s_sent_wait(a, S_SUBJECT_KILLED, first_killed);
    kill(dms, SIGKILL);
    waitpid(dms, NULL, 0);

    //  A request answered after both means their turn has committed; then
    //  the agent dies too, and comes back on the same store.
    ah_reply_t *r = ah_call(a, "{cmd:s}", "health");
    ah_reply_destroy(&r);
    ah_agent_kill(a);
    ah_agent_start(a);

    //  The DMSs retry the very same requests: the same ids, nothing new.
    const msgpack_sbuffer *again[] = { &closed, &killed };
    const char *firsts[] = { first_closed, first_killed };
    for (int i = 0; i < 2; i++) {
        r = ah_call_raw(a, again[i]->data, again[i]->size);
        ah_expect_ok(r, "submit repeated with its client_ref");
        th_check(ah_str_is(r->map, "id", firsts[i]) && ah_bool(r->map, "repeat") == 1 &&
                     ah_str(r->map, "state") != NULL,
                 "repeat %d: expected id %s with repeat true, got %s", i, firsts[i],
                 ah_show(r->map));
        ah_reply_destroy(&r);
    }

    //  The same request with its keys in another order is the same request.
    const char *list[] = { to };
    r = ah_call(a, "{doc:{urgency:s subject:s type:s to:A} client_ref:s cmd:s}", "urgent",
                S_SUBJECT_KILLED, S_TYPE, list, (size_t) 1, "CV-2026-0002", "submit");
    th_check(ah_str_is(r->map, "id", first_killed) && ah_bool(r->map, "repeat") == 1,
             "repeat in another key order: %s", ah_show(r->map));
    ah_reply_destroy(&r);

    //  What a client_ref may be.
    char longer[130];
    memset(longer, 'x', 129);
    longer[129] = '\0';
    r = ah_call(a, "{cmd:s client_ref:s doc:{to:[s] type:s subject:s}}", "submit", longer, to,
                S_TYPE, "x");
    ah_expect_error(r, PROTO_ERR_LIMIT, "client_ref", "a 129-byte client_ref");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s client_ref:s doc:{to:[s] type:s subject:s}}", "submit", "CV\n1", to,
                S_TYPE, "x");
    ah_expect_error(r, PROTO_ERR_VALUE, "client_ref", "a client_ref with a line feed");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s client_ref:i doc:{to:[s] type:s subject:s}}", "submit", 7, to, S_TYPE,
                "x");
    ah_expect_error(r, PROTO_ERR_TYPE, "client_ref", "a client_ref that is a number");
    ah_reply_destroy(&r);

    //  sent finds a document by the DMS's reference.
    r = ah_call(a, "{cmd:s client_ref:s}", "sent", "CV-2026-0002");
    th_check(ah_is_ok(r) && ah_str_is(r->map, "document.id", first_killed),
             "sent by client_ref: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s client_ref:s}", "sent", "CV-never-used");
    ah_expect_error(r, PROTO_ERR_UNKNOWN_DOC, "client_ref", "sent with an unknown client_ref");
    ah_reply_destroy(&r);

    //  The same reference on a different request is refused.
    r = ah_call(a, "{cmd:s client_ref:s doc:{to:[s] type:s subject:s}}", "submit", "CV-2026-0001",
                to, S_TYPE, "Một văn bản khác");
    ah_expect_error(r, PROTO_ERR_DUPLICATE_ID, "client_ref", "client_ref reused for another doc");
    ah_reply_destroy(&r);
    //  ... also on another kind of request.
    r = ah_call(a, "{cmd:s client_ref:s refs:[s] reason:s}", "revoke", "CV-2026-0002", first_killed,
                "Nhầm");
    ah_expect_error(r, PROTO_ERR_DUPLICATE_ID, "client_ref", "client_ref reused for a revoke");
    ah_reply_destroy(&r);

    //  Both delivered; afterwards a repeat reports the current state.
    for (int i = 0; i < 2; i++) {
        r = ah_poll(a, s_delivered, NULL, "delivered", "{cmd:s id:s}", "sent", firsts[i]);
        ah_reply_destroy(&r);
    }
    r = ah_call_raw(a, killed.data, killed.size);
    th_check(ah_str_is(r->map, "id", first_killed) && ah_str_is(r->map, "state", "accepted"),
             "repeat after delivery: %s", ah_show(r->map));
    ah_reply_destroy(&r);

    //  Exactly one document of each: in A's sent list and in B's inbox.
    const char *subjects[] = { S_SUBJECT_CLOSED, S_SUBJECT_KILLED };
    r = ah_call(a, "{cmd:s limit:i}", "sent", 1000);
    ah_reply_t *in =
        ah_poll(b, s_listed_id, first_killed, "B's inbox", "{cmd:s limit:i}", "inbox", 1000);
    ah_reply_t *in2 =
        ah_poll(b, s_listed_id, first_closed, "B's inbox", "{cmd:s limit:i}", "inbox", 1000);
    for (int i = 0; i < 2; i++) {
        int sent = s_count(ah_get(r->map, "documents"), "subject", subjects[i], NULL);
        int got = s_count(ah_get(in2->map, "documents"), "subject", subjects[i], NULL);
        th_check(sent == 1 && got == 1, "%s: %d sent, %d received (one of each expected)",
                 subjects[i], sent, got);
    }
    size_t events = ah_events_count(b, "inbox.new", NULL);
    th_check(events == 2, "B has %zu inbox.new events for 2 documents", events);
    ah_reply_destroy(&in);
    ah_reply_destroy(&in2);
    ah_reply_destroy(&r);
    msgpack_sbuffer_destroy(&closed);
    msgpack_sbuffer_destroy(&killed);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  2. fields_kept: every documented field of a document and of a notice
//  arrives, and every undocumented one is refused.

static bool s_has_notice(const ah_reply_t *r, void *arg)
{
    const msgpack_object *list = ah_get(r->map, "document.notices");
    for (uint32_t i = 0;
         ah_is_ok(r) && list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size; i++)
        if (ah_int(&list->via.array.ptr[i], "code") == *(const int64_t *) arg)
            return true;
    return false;
}

static void test_fields_kept(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_wait_directory(a);
    const char *to[] = { th_code(TH_B) };
    const char *places[] = { "Như trên", "Lưu: VT" };
    ah_reply_t *r = ah_call(
        a,
        "{cmd:s doc:{to:A type:s subject:s number:s notation:s place:s date:s due:s content:s "
        "sphere:s typist:s signer:{name:s position:s competence:s} urgency:i secrecy:i "
        "steering:i pages:i copies:i appendixes:i places:A "
        "response_for:[{agency:s code:s date:s}] trace:[{agency:s time:U}] ext:{vendor-ref:s}}}",
        "submit", to, (size_t) 1, S_TYPE, "Về việc giữ đủ mọi trường", "45", "UBND-VP", "Hà Nội",
        "2026-11-30", "2026-12-15", "Nội dung tóm tắt", "Toàn tỉnh", "NVA", "Nguyễn Văn A",
        "Chủ tịch", "TM.", 2, 1, 3, 12, 5, 2, places, (size_t) 2, th_code(TH_C), "12/BC-UBND",
        "2026-11-01", th_code(TH_A), (uint64_t) 1764000000000ull, "X-42");
    ah_expect_ok(r, "submit with every field");
    s_id_t id;
    s_id_get(r->map, "id", id);
    ah_reply_destroy(&r);
    r = ah_poll(b, s_listed_id, id, "the document at B", "{cmd:s}", "inbox");
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s id:s}", "fetch", id);
    ah_expect_ok(r, "fetch");
    const msgpack_object *d = ah_get(r->map, "document");
    th_check(ah_str_is(d, "number", "45") && ah_str_is(d, "notation", "UBND-VP") &&
                 ah_str_is(d, "place", "Hà Nội") && ah_str_is(d, "date", "2026-11-30") &&
                 ah_str_is(d, "due", "2026-12-15") && ah_str_is(d, "content", "Nội dung tóm tắt") &&
                 ah_str_is(d, "sphere", "Toàn tỉnh") && ah_str_is(d, "typist", "NVA") &&
                 ah_str_is(d, "signer.name", "Nguyễn Văn A") &&
                 ah_str_is(d, "signer.position", "Chủ tịch") &&
                 ah_str_is(d, "signer.competence", "TM.") && ah_int(d, "urgency") == 2 &&
                 ah_int(d, "secrecy") == 1 && ah_int(d, "steering") == 3 &&
                 ah_int(d, "pages") == 12 && ah_str_is(d, "places[1]", "Lưu: VT") &&
                 ah_str_is(d, "response_for[0].agency", th_code(TH_C)) &&
                 ah_str_is(d, "response_for[0].code", "12/BC-UBND") &&
                 ah_str_is(d, "response_for[0].date", "2026-11-01") &&
                 ah_str_is(d, "ext.vendor-ref", "X-42"),
             "fetch: a field was lost: %s", ah_show(d));
    //  The three that fetch used to leave out.
    th_check(ah_int(d, "copies") == 5 && ah_int(d, "appendixes") == 2 &&
                 ah_str_is(d, "trace[0].agency", th_code(TH_A)) &&
                 ah_int(d, "trace[0].time") == 1764000000000ll,
             "fetch: copies, appendixes or trace lost: %s", ah_show(d));
    ah_reply_destroy(&r);

    //  A notice with every staff field: the sender's `sent` shows them all.
    r = ah_call(b, "{cmd:s id:s code:i note:s staff:{name:s department:s phone:s email:s}}",
                "status", id, 4, "Giao xử lý", "Trần Thị B", "Phòng Tổng hợp", "0243 123 456",
                "tranthib@example.gov.vn");
    ah_expect_ok(r, "status with every staff field");
    ah_reply_destroy(&r);
    int64_t four = 4;
    r = ah_poll(a, s_has_notice, &four, "A's sent lists the notice", "{cmd:s id:s}", "sent", id);
    const msgpack_object *n = ah_get(r->map, "document.notices[0]");
    th_check(ah_str_is(n, "staff", "Trần Thị B") &&
                 ah_str_is(n, "staff_department", "Phòng Tổng hợp") &&
                 ah_str_is(n, "staff_phone", "0243 123 456") &&
                 ah_str_is(n, "staff_email", "tranthib@example.gov.vn") &&
                 ah_str_is(n, "note", "Giao xử lý"),
             "the notice lost staff details: %s", ah_show(n));
    ah_reply_destroy(&r);

    //  Undocumented fields, at every level, are refused and named.
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s colour:s}}", "submit", to, (size_t) 1, S_TYPE,
                "x", "blue");
    ah_expect_error(r, PROTO_ERR_UNKNOWN_FIELD, NULL, "doc.colour");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s signer:{name:s title:s}}}", "submit", to,
                (size_t) 1, S_TYPE, "x", "A", "Dr");
    ah_expect_error(r, PROTO_ERR_UNKNOWN_FIELD, NULL, "doc.signer.title");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s data:x md5:s}]}",
                "submit", to, (size_t) 1, S_TYPE, "x", "a.pdf", "application/pdf", "x", (size_t) 1,
                "00");
    ah_expect_error(r, PROTO_ERR_UNKNOWN_FIELD, "md5", "attachments[0].md5");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s} priority:i}", "submit", to, (size_t) 1,
                S_TYPE, "x", 1);
    ah_expect_error(r, PROTO_ERR_UNKNOWN_FIELD, "priority", "a top-level field");
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s id:s code:i staff:{name:s room:s}}", "status", id, 5, "B", "101");
    ah_expect_error(r, PROTO_ERR_UNKNOWN_FIELD, "room", "staff.room");
    ah_reply_destroy(&r);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  3. limits: health shows the limits in force, and ERR_TOO_LARGE names the
//  limit a document is over, with its value.

static bool s_limits_known(const ah_reply_t *r, void *arg)
{
    (void) arg;
    return ah_is_ok(r) && ah_int(r->map, "limits.broker_frame") > 0;
}

//  Submit attachments of the given sizes (inline); expect ERR_TOO_LARGE at
//  field with a message holding both words.
static void s_too_large(ah_agent_t *a, const size_t *sizes, const char *field, const char *limit,
                        const char *value)
{
    static uint8_t bytes[200 * 1024];
    const char *to[] = { th_code(TH_C) };
    ah_reply_t *r =
        ah_call(a,
                "{cmd:s doc:{to:A type:s subject:s} "
                "attachments:[{name:s type:s data:x} {name:s type:s data:x}]}",
                "submit", to, (size_t) 1, S_TYPE, "Tệp quá lớn", "a.pdf", "application/pdf", bytes,
                sizes[0], "b.pdf", "application/pdf", bytes, sizes[1]);
    ah_expect_error(r, PROTO_ERR_TOO_LARGE, field, "attachments over a limit");
    const char *message = ah_str(r->map, "message");
    th_check(message && strstr(message, limit) && strstr(message, value),
             "ERR_TOO_LARGE should name %s and %s: %s", limit, value, ah_show(r->map));
    ah_reply_destroy(&r);
}

static void test_limits(void **state)
{
    ah_env_t *env = *state;
    //  A broker with small limits: 64 KiB a frame, 100 KiB a document.
    const char *sets[] = { "network.heartbeat=" AH_HEARTBEAT, "limits.max_frame=64K",
                           "limits.max_document=100K", NULL };
    th_broker_start(env->th, sets);
    snprintf(env->broker_endpoint, sizeof env->broker_endpoint, "%s", env->th->endpoint);
    const char *small[] = { "api.max_document=50K", NULL };
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, small);
    ah_wait_directory(a);
    ah_wait_directory(b);

    ah_reply_t *r =
        ah_poll(a, s_limits_known, NULL, "health shows the broker's limits", "{cmd:s}", "health");
    const msgpack_object *l = ah_get(r->map, "limits");
    th_check(ah_int(l, "broker_frame") == 65536 && ah_int(l, "broker_document") == 102400 &&
                 ah_int(l, "request") == 300ll * 1024 * 1024 &&
                 ah_int(l, "document") == 256ll * 1024 * 1024 && ah_int(l, "subject") == 500 &&
                 ah_int(l, "name") == 200 && ah_int(l, "recipients") == 500 &&
                 ah_int(l, "attachments") == 100 && ah_int(l, "broker_recipients") > 0,
             "health limits: %s", ah_show(l));
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s}", "health");
    th_check(ah_int(r->map, "limits.document") == 50 * 1024, "B's limits: %s", ah_show(r->map));
    ah_reply_destroy(&r);

    //  One attachment over the broker's frame limit; two over its document
    //  limit; at B, over the agent's own.
    size_t frame[] = { 70 * 1024, 10 };
    s_too_large(a, frame, "attachments[0]", "max_frame", "65536");
    size_t document[] = { 60 * 1024, 60 * 1024 };
    s_too_large(a, document, "attachments[1]", "limits.max_document", "102400");
    size_t agent[] = { 30 * 1024, 30 * 1024 };
    s_too_large(b, agent, "attachments[1]", "api.max_document", "51200");
    //  Under every limit, it goes.
    size_t fine[] = { 40 * 1024, 40 * 1024 };
    static uint8_t bytes[40 * 1024];
    const char *to[] = { th_code(TH_B) };
    r = ah_call(a,
                "{cmd:s doc:{to:A type:s subject:s} "
                "attachments:[{name:s type:s data:x} {name:s type:s data:x}]}",
                "submit", to, (size_t) 1, S_TYPE, "Vừa đủ", "a.pdf", "application/pdf", bytes,
                fine[0], "b.pdf", "application/pdf", bytes, fine[1]);
    ah_expect_ok(r, "submit under the limits");
    ah_reply_destroy(&r);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  4. recipient_ops: revoked, updated and replaced originals are marked in
//  inbox, fetch and events; no status about a revoked one; one answer per
//  recall.

typedef struct {
    const char *id;    // the original
    const char *field; // revoked_by, updated_by, replaced_by
    const char *by;    // the operation's id
} s_mark_t;

static bool s_inbox_marked(const ah_reply_t *r, void *arg)
{
    const s_mark_t *m = arg;
    int at;
    const msgpack_object *docs = ah_get(r->map, "documents");
    return ah_is_ok(r) && s_count(docs, "id", m->id, &at) == 1 &&
           ah_str_is(&docs->via.array.ptr[at], m->field, m->by);
}

static bool s_has_recall(const ah_reply_t *r, void *arg)
{
    (void) arg;
    const msgpack_object *list = ah_get(r->map, "notices");
    for (uint32_t i = 0;
         ah_is_ok(r) && list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size; i++)
        if (ah_int(&list->via.array.ptr[i], "code") == 13)
            return true;
    return false;
}

static void s_submit_to_b(ah_agent_t *a, const char *subject, s_id_t id)
{
    const char *to[] = { th_code(TH_B) };
    ah_reply_t *r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s}}", "submit", to, (size_t) 1,
                            S_TYPE, subject);
    ah_expect_ok(r, "submit");
    s_id_get(r->map, "id", id);
    ah_reply_destroy(&r);
}

static void test_recipient_ops(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_wait_directory(a);
    s_id_t doc[3], op[3];
    const char *subjects[] = { "Văn bản sẽ bị thu hồi", "Văn bản sẽ được cập nhật",
                               "Văn bản sẽ bị thay thế" };
    for (int i = 0; i < 3; i++)
        s_submit_to_b(a, subjects[i], doc[i]);
    for (int i = 0; i < 3; i++) {
        ah_reply_t *r =
            ah_poll(b, s_listed_id, doc[i], "the original at B", "{cmd:s limit:i}", "inbox", 1000);
        ah_reply_destroy(&r);
    }

    //  A recall of the first: B answers once; a second, contradicting
    //  answer is refused.
    ah_reply_t *r = ah_call(a, "{cmd:s id:s}", "recall", doc[0]);
    ah_expect_ok(r, "recall");
    ah_reply_destroy(&r);
    r = ah_poll(b, s_has_recall, NULL, "the recall request at B", "{cmd:s id:s}", "fetch", doc[0]);
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s id:s code:i}", "status", doc[0], 15);
    ah_expect_ok(r, "the answer 15 to the recall");
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s id:s code:i}", "status", doc[0], 16);
    ah_expect_error(r, PROTO_ERR_BAD_STATE, "code", "a second answer (16) to the same recall");
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s id:s code:i}", "status", doc[0], 15);
    ah_expect_error(r, PROTO_ERR_BAD_STATE, "code", "the same answer twice");
    ah_reply_destroy(&r);

    //  A revokes the first, updates the second, replaces the third.
    r = ah_call(a, "{cmd:s refs:[s] reason:s}", "revoke", doc[0], "Ban hành nhầm");
    ah_expect_ok(r, "revoke");
    s_id_get(r->map, "id", op[0]);
    ah_reply_destroy(&r);
    const char *cmds[] = { NULL, "update", "replace" };
    for (int i = 1; i < 3; i++) {
        const char *to[] = { th_code(TH_B) };
        r = ah_call(a, "{cmd:s refs:[s] reason:s doc:{to:A type:s subject:s}}", cmds[i], doc[i],
                    "Sửa trích yếu", to, (size_t) 1, S_TYPE, "Bản mới");
        ah_expect_ok(r, cmds[i]);
        s_id_get(r->map, "id", op[i]);
        ah_reply_destroy(&r);
    }
    const char *fields[] = { "revoked_by", "updated_by", "replaced_by" };
    const char *topics[] = { "inbox.revoked", "inbox.updated", "inbox.replaced" };
    for (int i = 0; i < 3; i++) {
        s_mark_t mark = { doc[i], fields[i], op[i] };
        r = ah_poll(b, s_inbox_marked, &mark, "the original marked in the inbox", "{cmd:s limit:i}",
                    "inbox", 1000);
        ah_reply_destroy(&r);
        r = ah_call(b, "{cmd:s id:s}", "fetch", doc[i]);
        ah_expect_ok(r, "fetch the original");
        th_check(ah_str_is(r->map, fields[i], op[i]), "fetch %s: expected %s %s in %s", doc[i],
                 fields[i], op[i], ah_show(r->map));
        for (int k = 0; k < 3; k++)
            th_check(k == i || !ah_get(r->map, fields[k]), "fetch %s: %s is set: %s", doc[i],
                     fields[k], ah_show(r->map));
        ah_reply_destroy(&r);
        ah_events_wait(b, topics[i], "id", doc[i], fields[i], op[i], "from", th_code(TH_A), NULL);
        //  The operations themselves are not marked.
        r = ah_call(b, "{cmd:s id:s}", "fetch", op[i]);
        th_check(ah_is_ok(r) && !ah_get(r->map, "revoked_by") && !ah_get(r->map, "updated_by") &&
                     !ah_get(r->map, "replaced_by"),
                 "fetch of the operation %s: %s", op[i], ah_show(r->map));
        ah_reply_destroy(&r);
    }

    //  No status about the revoked document; the replaced one may still
    //  get one.
    r = ah_call(b, "{cmd:s id:s code:i}", "status", doc[0], 3);
    ah_expect_error(r, PROTO_ERR_REVOKED, "id", "a status about a revoked document");
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s id:s code:i}", "status", doc[2], 3);
    ah_expect_ok(r, "a status about a replaced document");
    ah_reply_destroy(&r);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  5. unicode_nfc: decomposed (NFD) text from the DMS is stored and sent in
//  NFC, and limits count the characters a reader sees.

//  "ệ" as NFD (e, U+0323, U+0302) and NFC (U+1EC7).
#define S_E_NFD      "e\xcc\xa3\xcc\x82"
#define S_E_NFC      "\xe1\xbb\x87"
#define S_NGUYEN_NFD "Nguye\xcc\x82\xcc\x83n"
#define S_NGUYEN_NFC "Nguy\xe1\xbb\x85n"

static void test_unicode_nfc(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_wait_directory(a);
    //  400 × "ệ": 1,200 code points as NFD, over the 500 of a subject; 400
    //  as NFC, within it.
    char subject_nfd[400 * 5 + 1] = "", subject_nfc[400 * 3 + 1] = "";
    for (int i = 0; i < 400; i++) {
        strcat(subject_nfd, S_E_NFD);
        strcat(subject_nfc, S_E_NFC);
    }
    const char *to[] = { th_code(TH_B) };
    static const uint8_t pdf[] = "%PDF-1.4";
    ah_reply_t *r =
        ah_call(a,
                "{cmd:s doc:{to:A type:s subject:s signer:{name:s} ext:{ghi-chu:s}} "
                "attachments:[{name:s type:s data:x}]}",
                "submit", to, (size_t) 1, "Quy" S_E_NFD "t \xc4\x91\xe1\xbb\x8bnh", subject_nfd,
                S_NGUYEN_NFD " V\xc4\x83n A", S_NGUYEN_NFD, "Bi" S_E_NFD "u m" S_E_NFD "u.pdf",
                "application/pdf", pdf, sizeof pdf - 1);
    ah_expect_ok(r, "submit in NFD");
    s_id_t id;
    s_id_get(r->map, "id", id);
    ah_reply_destroy(&r);
    r = ah_poll(b, s_listed_id, id, "the document at B", "{cmd:s}", "inbox");
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s id:s}", "fetch", id);
    ah_expect_ok(r, "fetch");
    th_check(ah_str_is(r->map, "document.subject", subject_nfc) &&
                 ah_str_is(r->map, "document.type", "Quy" S_E_NFC "t \xc4\x91\xe1\xbb\x8bnh") &&
                 ah_str_is(r->map, "document.signer.name", S_NGUYEN_NFC " V\xc4\x83n A") &&
                 ah_str_is(r->map, "document.ext.ghi-chu", S_NGUYEN_NFC) &&
                 ah_str_is(r->map, "attachments[0].name", "Bi" S_E_NFC "u m" S_E_NFC "u.pdf"),
             "fetch: text not in NFC: %s", ah_show(r->map));
    ah_reply_destroy(&r);

    //  A notice's text too.
    r = ah_call(b, "{cmd:s id:s code:i note:s staff:{name:s}}", "status", id, 3,
                "\xc4\x90\xc3\xa3 v\xc3\xa0o s"
                "o\xcc\x82\xcc\x89",
                S_NGUYEN_NFD);
    ah_expect_ok(r, "status in NFD");
    ah_reply_destroy(&r);
    int64_t three = 3;
    r = ah_poll(a, s_has_notice, &three, "A's sent lists the notice", "{cmd:s id:s}", "sent", id);
    th_check(ah_str_is(r->map, "document.notices[0].note",
                       "\xc4\x90\xc3\xa3 v\xc3\xa0o s\xe1\xbb\x95") &&
                 ah_str_is(r->map, "document.notices[0].staff", S_NGUYEN_NFC),
             "the notice is not in NFC: %s", ah_show(r->map));
    ah_reply_destroy(&r);

    //  501 characters are still too many, however they are written.
    char over[501 * 5 + 1] = "";
    for (int i = 0; i < 501; i++)
        strcat(over, S_E_NFD);
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s}}", "submit", to, (size_t) 1, S_TYPE, over);
    ah_expect_error(r, PROTO_ERR_LIMIT, "doc.subject", "501 characters");
    ah_reply_destroy(&r);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  6. domain_values: urgency and secrecy by their Vietnamese names (any
//  Unicode form), and a document type's edXML code and name kept.

//  The value of key in the map at o (keys may hold dots), as text.
static const char *s_map_str(const msgpack_object *o, const char *key)
{
    static char out[256];
    for (uint32_t i = 0; o && o->type == MSGPACK_OBJECT_MAP && i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(key) &&
            memcmp(kv->key.via.str.ptr, key, kv->key.via.str.size) == 0 &&
            kv->val.type == MSGPACK_OBJECT_STR && kv->val.via.str.size < sizeof out) {
            memcpy(out, kv->val.via.str.ptr, kv->val.via.str.size);
            out[kv->val.via.str.size] = '\0';
            return out;
        }
    }
    return NULL;
}

//  "thượng khẩn" and "tối mật" decomposed (NFD).
#define S_THUONG_KHAN_NFD "thu\xcc\x9bo\xcc\x9b\xcc\xa3ng kha\xcc\x82\xcc\x89n"
#define S_TOI_MAT_NFD     "to\xcc\x82\xcc\x81i ma\xcc\xa3\xcc\x82t"

static void test_domain_values(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_wait_directory(a);
    const char *to[] = { th_code(TH_B) };
    static const struct {
        const char *urgency, *secrecy;
        int64_t u, s;
    } cases[] = {
        { "thường", "thường", 0, 0 },       { "khẩn", "mật", 1, 1 },
        { "thượng khẩn", "tối mật", 2, 2 }, { "hỏa tốc", "tuyệt mật", 3, 3 },
        { "hoả tốc", "none", 3, 0 },        { S_THUONG_KHAN_NFD, S_TOI_MAT_NFD, 2, 2 },
    };
    s_id_t ids[6];
    for (int i = 0; i < 6; i++) {
        char subject[64];
        snprintf(subject, sizeof subject, "Độ khẩn, độ mật %d", i);
        ah_reply_t *r = ah_call(a,
                                "{cmd:s doc:{to:A type:s subject:s urgency:s secrecy:s "
                                "ext:{edxml.type:s edxml.type_detail:s}}}",
                                "submit", to, (size_t) 1, S_TYPE, subject, cases[i].urgency,
                                cases[i].secrecy, "1", "Công văn hành chính");
        ah_expect_ok(r, cases[i].urgency);
        s_id_get(r->map, "id", ids[i]);
        ah_reply_destroy(&r);
    }
    for (int i = 0; i < 6; i++) {
        ah_reply_t *r =
            ah_poll(b, s_listed_id, ids[i], "the document at B", "{cmd:s limit:i}", "inbox", 1000);
        ah_reply_destroy(&r);
        r = ah_call(b, "{cmd:s id:s}", "fetch", ids[i]);
        const msgpack_object *d = ah_get(r->map, "document");
        const char *code = s_map_str(ah_get(d, "ext"), "edxml.type");
        bool code_kept = code && strcmp(code, "1") == 0;
        const char *detail = s_map_str(ah_get(d, "ext"), "edxml.type_detail");
        th_check(ah_int(d, "urgency") == cases[i].u && ah_int(d, "secrecy") == cases[i].s &&
                     ah_str_is(d, "type", S_TYPE) && code_kept && detail &&
                     strcmp(detail, "Công văn hành chính") == 0,
                 "case %d (%s, %s): %s", i, cases[i].urgency, cases[i].secrecy, ah_show(d));
        ah_reply_destroy(&r);
    }
    ah_reply_t *r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s urgency:s}}", "submit", to,
                            (size_t) 1, S_TYPE, "x", "gấp");
    ah_expect_error(r, PROTO_ERR_VALUE, "doc.urgency", "an unknown urgency name");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s secrecy:s}}", "submit", to, (size_t) 1,
                S_TYPE, "x", "bí mật");
    ah_expect_error(r, PROTO_ERR_VALUE, "doc.secrecy", "an unknown secrecy name");
    ah_reply_destroy(&r);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  7. forged_operation: a REVOKE from an agency that did not send the
//  original marks nothing. A real broker refuses such an operation; the
//  agent does not rely on it, and this test plays a broker that lets it
//  through: a ROUTER with the hub's CURVE key serving READY, a signed
//  directory and hand-made DELIVERs.

typedef struct {
    void *router;
    char endpoint[128];
    uint8_t rid[256]; // the agent's routing id, from its first message
    size_t rid_len;
} s_fake_t;

static void s_fake_send(s_fake_t *f, const proto_msg_t *msg, const void *att, size_t len)
{
    proto_buf_t body;
    proto_buf_init(&body);
    proto_err_t rc = proto_msg_encode(msg, &body, NULL);
    uint8_t header[PROTO_HEADER_LEN];
    proto_header_write(header, msg->kind);
    bool sent = rc == PROTO_OK && zmq_send(f->router, f->rid, f->rid_len, ZMQ_SNDMORE) >= 0 &&
                zmq_send(f->router, header, sizeof header, ZMQ_SNDMORE) >= 0 &&
                zmq_send(f->router, body.data, body.len, att ? ZMQ_SNDMORE : 0) >= 0 &&
                (!att || zmq_send(f->router, att, len, 0) >= 0);
    proto_buf_free(&body);
    th_check(sent, "send %s: %s", proto_kind_name(msg->kind), proto_errname(rc));
}

//  Wait for the agent's HELLO and keep its routing id.
static void s_fake_hello(s_fake_t *f)
{
    zmq_pollitem_t item = { f->router, 0, ZMQ_POLLIN, 0 };
    th_check(zmq_poll(&item, 1, AH_WAIT_MS) == 1, "no HELLO from the agent");
    int more = 1;
    for (int n = 0; more; n++) {
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        th_check(zmq_msg_recv(&frame, f->router, 0) >= 0, "recv");
        if (n == 0) {
            f->rid_len = zmq_msg_size(&frame);
            th_check(f->rid_len <= sizeof f->rid, "routing id too long");
            memcpy(f->rid, zmq_msg_data(&frame), f->rid_len);
        }
        more = zmq_msg_more(&frame);
        zmq_msg_close(&frame);
    }
}

//  Start B on a fake broker: READY, and a directory of A, B and C.
static ah_agent_t *s_fake_session(ah_env_t *env, s_fake_t *f)
{
    memset(f, 0, sizeof *f);
    f->router = ah_socket(env, ZMQ_ROUTER);
    int one = 1;
    zmq_setsockopt(f->router, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(f->router, ZMQ_CURVE_SECRETKEY, proto_identity_curve_sk(env->th->hub),
                   PROTO_KEY_LEN);
    th_check(zmq_bind(f->router, "tcp://127.0.0.1:*") == 0, "bind");
    size_t len = sizeof f->endpoint;
    th_check(zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, f->endpoint, &len) == 0, "endpoint");
    ah_agent_t *b = ah_agent_new(env, TH_B, f->endpoint, 0, NULL);
    ah_agent_start(b);
    s_fake_hello(f);
    proto_msg_t ready = { .kind = PROTO_KIND_READY };
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
    s_fake_send(f, &ready, NULL, 0);
    th_agency_t who[] = { TH_A, TH_B, TH_C };
    proto_dir_entry_t entries[3];
    for (int i = 0; i < 3; i++) {
        entries[i] = (proto_dir_entry_t){ .code = th_code(who[i]),
                                          .name = "Cơ quan",
                                          .state = PROTO_AGENCY_ACTIVE };
        memcpy(entries[i].key, proto_identity_public(env->th->agency[who[i]])->sign_pk,
               PROTO_KEY_LEN);
    }
    proto_msg_t dir = { .kind = PROTO_KIND_DIRECTORY };
    dir.u.directory = (proto_directory_msg_t){
        .serial = 1, .time = truc_now_ms(), .broker = "hub", .entries = entries, .nentries = 3
    };
    th_check(proto_directory_sign(&dir.u.directory, env->th->hub, dir.u.directory.sig) == PROTO_OK,
             "proto_directory_sign");
    s_fake_send(f, &dir, NULL, 0);
    ah_wait_directory(b);
    return b;
}

//  A document from `from` to B, signed; op REVOKE of original when given.
static truc_doc_t *s_fake_doc(ah_env_t *env, th_agency_t from, const char *subject,
                              const proto_id_t *original)
{
    static const uint8_t bytes[] = "%PDF-1.4 phụ lục";
    truc_att_t att = { "phu-luc.pdf", "application/pdf", bytes, sizeof bytes - 1 };
    const char *to[] = { th_code(TH_B) };
    truc_doc_t *doc = truc_doc_build(env->th->agency[from], to, 1, subject, S_TYPE,
                                     PROTO_URGENCY_NORMAL, &att, 1);
    th_check(doc != NULL, "truc_doc_build");
    if (original) {
        proto_doc_t *d = &truc_doc_msg(doc)->u.document.doc;
        d->op = PROTO_OP_REVOKE;
        d->op_reason = "Thu hồi";
        d->op_refs = (proto_id_t *) (uintptr_t) original;
        d->nop_refs = 1;
        th_check(truc_doc_sign(doc, env->th->agency[from]) == PROTO_OK, "truc_doc_sign");
    }
    return doc;
}

static void s_fake_deliver(s_fake_t *f, const truc_doc_t *doc, uint64_t seq)
{
    proto_msg_t msg = *truc_doc_cmsg(doc);
    msg.kind = PROTO_KIND_DELIVER;
    msg.arena = NULL;
    msg.u.document.accepted = truc_now_ms();
    msg.u.document.seq = seq;
    s_fake_send(f, &msg, truc_doc_att_data(doc, 0), truc_doc_att_len(doc, 0));
}

static void test_forged_operation(void **state)
{
    ah_env_t *env = *state;
    s_fake_t f;
    ah_agent_t *b = s_fake_session(env, &f);
    truc_doc_t *original = s_fake_doc(env, TH_A, "Văn bản gốc của A", NULL);
    proto_id_t original_id = *truc_doc_id(original);
    truc_doc_t *forged = s_fake_doc(env, TH_C, "C thu hồi văn bản của A", &original_id);
    truc_doc_t *genuine = s_fake_doc(env, TH_A, "A thu hồi văn bản của mình", &original_id);
    s_id_t id, forged_id, genuine_id;
    proto_id_format(&original_id, id);
    proto_id_format(truc_doc_id(forged), forged_id);
    proto_id_format(truc_doc_id(genuine), genuine_id);

    s_fake_deliver(&f, original, 1);
    s_fake_deliver(&f, forged, 2);
    ah_reply_t *r = ah_poll(b, s_listed_id, forged_id, "C's revocation in B's inbox",
                            "{cmd:s limit:i}", "inbox", 1000);
    int at;
    th_check(s_count(ah_get(r->map, "documents"), "id", id, &at) == 1 &&
                 !ah_get(&ah_get(r->map, "documents")->via.array.ptr[at], "revoked_by"),
             "C's revocation marked A's document: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s id:s}", "fetch", id);
    th_check(ah_is_ok(r) && !ah_get(r->map, "revoked_by"), "fetch after C's revocation: %s",
             ah_show(r->map));
    ah_reply_destroy(&r);
    th_check(ah_events_count(b, "inbox.revoked", NULL) == 0,
             "an inbox.revoked event for C's revocation");

    //  A's own revocation marks it.
    s_fake_deliver(&f, genuine, 3);
    s_mark_t mark = { id, "revoked_by", genuine_id };
    r = ah_poll(b, s_inbox_marked, &mark, "A's revocation marks the original", "{cmd:s limit:i}",
                "inbox", 1000);
    ah_reply_destroy(&r);
    ah_events_wait(b, "inbox.revoked", "id", id, "revoked_by", genuine_id, NULL);
    th_check(ah_events_count(b, "inbox.revoked", NULL) == 1, "one inbox.revoked event expected");
    truc_doc_destroy(&original);
    truc_doc_destroy(&forged);
    truc_doc_destroy(&genuine);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  8. python_example: agent/examples/dms_example.py, the integration a
//  vendor copies, runs against two real agents and says ok. TRUC_PYTHON
//  and TRUC_DMS_EXAMPLE (set by ctest) name the interpreter and the script.

static void test_python_example(void **state)
{
    ah_env_t *env = *state;
    const char *python = getenv("TRUC_PYTHON"), *script = getenv("TRUC_DMS_EXAMPLE");
    th_check(python && script, "TRUC_PYTHON and TRUC_DMS_EXAMPLE must be set");
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_wait_directory(a);
    ah_wait_directory(b);
    //  Some traffic first, so that the example's inbox pages hold more
    //  than its own document.
    const char *to[] = { th_code(TH_B) };
    for (int i = 0; i < 3; i++) {
        ah_reply_t *r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s}}", "submit", to, (size_t) 1,
                                S_TYPE, "Văn bản trước");
        ah_expect_ok(r, "submit");
        ah_reply_destroy(&r);
    }
    char dir[TH_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/dms-in", env->th->root);
    const char *argv[] = { python,        script,
                           "--sender",    ah_agent_endpoint(a),
                           "--recipient", ah_agent_endpoint(b),
                           "--to",        th_code(TH_B),
                           "--dir",       dir,
                           NULL };
    static char out[32768];
    int status = th_run(env->th, argv, out, sizeof out);
    char st[64];
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0 && th_contains(out, "\nok\n"),
             "%s: %s\n%s", script, th_status_text(status, st, sizeof st), out);
    th_print("%s", out);
    ah_pass(env);
}

// ---------------------------------------------------------------------------

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, ah_setup, ah_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_dms", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_AGENT", &ah_agent_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        // clang-format off
        S_TEST(test_idempotent_retry),
        S_TEST(test_fields_kept),
        S_TEST(test_limits),
        S_TEST(test_recipient_ops),
        S_TEST(test_unicode_nfc),
        S_TEST(test_domain_values),
        S_TEST(test_forged_operation),
        S_TEST(test_python_example),
        // clang-format on
    };
    return th_run_tests("test_dms", "truc-agent DMS API", tests, sizeof tests / sizeof tests[0],
                        filter);
}
