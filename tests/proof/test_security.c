/*  tests/proof/test_security.c - the security proof suite: attacks on a
    real truc-broker and a real truc-agent.

    Each test starts the real programs on a fresh temporary directory (the
    broker harness, tests/lib/harness.h, and for the agent the agent
    harness, tests/lib/agent_harness.h) and mounts one attack the way an
    intruder or a misbehaving agency would: a peer without CURVE; keys that
    are unknown, revoked or suspended; an agency forging another agency as
    sender (in an envelope, a notice, a receipt or HELLO); tampered
    attachments; bad signatures; a replayed document id with other content,
    also as a notice id; an agency acknowledging or answering a document not
    addressed to it; a DMS asking its agent to sign as another agency; a
    revoked agency edited back into the directory file, or an older file
    put back.

    For every attack the suite proves three things:
      1. it is refused with the exact error code of proto/PROTOCOL.md
         (nothing at all for a refused handshake);
      2. the refusal is in the broker's hash-chained audit log, read with
         `truc-admin audit show --json` (and `audit show ID` for the
         document or notice concerned; `api.denied` in the agent's events),
         and `truc-admin audit verify` finds the chain intact at the end;
      3. nothing is stored: `truc-admin doc show` does not know the
         document, or the original document's content hash and delivery
         states are unchanged, and the broker's `accepted` counter moved only
         for what the test sent legitimately.

    No assertion depends on speed: waits poll with generous deadlines, and
    "nothing arrives" is checked by listening for TH_QUIET_MS.

    Usage: test_security TRUC_BROKER TRUC_KEYS TRUC_ADMIN TRUC_AGENT [TEST_NAME]
    (or TRUC_BROKER, TRUC_KEYS, TRUC_ADMIN and TRUC_AGENT in the
    environment). With TEST_NAME only that test runs; ctest registers each
    test on its own.
*/
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "agent_harness.h"
#include "admin_json.h"
#include "expect.h"
#include "harness.h"
#include "proto/merkle.h"
#include "proto/sign.h"
#include "truc_client.h"

#define S_SUBJECT "Về việc thử nghiệm an ninh trục liên thông văn bản"
#define S_TYPE    "Công văn"
#define S_POLL_MS 200 // pause between two looks at the audit chain

static void s_id_text(const proto_id_t *id, char out[PROTO_ID_TEXT_LEN])
{
    proto_id_format(id, out);
}

static bool s_id_eq(const proto_id_t *x, const proto_id_t *y)
{
    return memcmp(x->bytes, y->bytes, PROTO_ID_LEN) == 0;
}

//  The broker's counters that say what it stored and refused.
typedef struct {
    uint64_t accepted; // documents and notices durably accepted
    uint64_t rejected; // REJECTED receipts sent
    uint64_t refused;  // handshakes refused
} s_counters_t;

static void s_counters(th_env_t *env, s_counters_t *out)
{
    th_json_t *json = th_admin_json(env, (const char *const[]){ "status", NULL }, 0);
    th_check(th_json_uint(json, "accepted", &out->accepted) &&
                 th_json_uint(json, "rejected", &out->rejected) &&
                 th_json_uint(json, "refused_handshakes", &out->refused),
             "status: accepted, rejected or refused_handshakes is missing");
    th_json_free(&json);
}

//  Require that the broker accepted exactly `more` documents or notices
//  since `before` was read: the attacks in between stored nothing.
static void s_expect_accepted_count(th_env_t *env, const s_counters_t *before, uint64_t more,
                                    const char *what)
{
    s_counters_t now;
    s_counters(env, &now);
    th_soft(env, now.accepted == before->accepted + more,
            "%s: status says %llu accepted, expected %llu (%llu before, %llu sent legitimately)",
            what, (unsigned long long) now.accepted, (unsigned long long) (before->accepted + more),
            (unsigned long long) before->accepted, (unsigned long long) more);
}

//  `audit show --json` about one id (every entry) or, with NULL, the last
//  50 entries. The caller frees the array.
static th_json_t *s_audit_show(th_env_t *env, const proto_id_t *about)
{
    char text[PROTO_ID_TEXT_LEN] = "";
    if (about)
        s_id_text(about, text);
    th_json_t *json = th_admin_json(env,
                                    about ? (const char *const[]){ "audit", "show", text, NULL }
                                          : (const char *const[]){ "audit", "show", NULL },
                                    0);
    th_check(json->type == TH_JSON_ARRAY, "audit show %s: not an array", text);
    return json;
}

//  Does an audit entry match? NULL matches anything; detail is a substring.
static bool s_entry_is(const th_json_t *entry, const char *event, const char *agency,
                       const char *detail)
{
    return (!event || strcmp(th_json_text(entry, "event"), event) == 0) &&
           (!agency || strcmp(th_json_text(entry, "agency"), agency) == 0) &&
           (!detail || strstr(th_json_text(entry, "detail"), detail) != NULL);
}

static size_t s_audit_matches(const th_json_t *list, const char *event, const char *agency,
                              const char *detail)
{
    size_t n = 0;
    for (size_t i = 0; list && i < list->count; i++)
        n += s_entry_is(list->items[i], event, agency, detail);
    return n;
}

//  Number of entries about `about` (NULL: among the last 50) that match.
static size_t s_audit_count(th_env_t *env, const proto_id_t *about, const char *event,
                            const char *agency, const char *detail)
{
    th_json_t *list = s_audit_show(env, about);
    size_t n = s_audit_matches(list, event, agency, detail);
    th_json_free(&list);
    return n;
}

//  One line per entry, for failure messages.
static const char *s_audit_text(th_env_t *env, const proto_id_t *about, char *buf, size_t len)
{
    th_json_t *list = s_audit_show(env, about);
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < list->count && n + 1 < len; i++) {
        const th_json_t *e = list->items[i];
        uint64_t seq = 0;
        th_json_uint(e, "seq", &seq);
        int w =
            snprintf(buf + n, len - n, "\n      %llu %s agency='%s' id='%s' detail='%s'",
                     (unsigned long long) seq, th_json_text(e, "event"), th_json_text(e, "agency"),
                     th_json_text(e, "id"), th_json_text(e, "detail"));
        if (w < 0)
            break;
        n += (size_t) w;
    }
    if (!list->count)
        snprintf(buf, len, " (none)");
    th_json_free(&list);
    return buf;
}

//  Require that an audit entry matching event, agency and detail appears
//  (about `about`, or among the last 50 entries), polling within
//  TH_RECV_TIMEOUT_MS. A soft check: the test goes on.
static void s_audit_wait(th_env_t *env, const proto_id_t *about, const char *event,
                         const char *agency, const char *detail, const char *what)
{
    for (int waited = 0;; waited += S_POLL_MS) {
        if (s_audit_count(env, about, event, agency, detail) > 0)
            return;
        if (waited >= TH_RECV_TIMEOUT_MS)
            break;
        th_sleep_ms(S_POLL_MS);
    }
    static char entries[16384];
    char id[PROTO_ID_TEXT_LEN] = "";
    if (about)
        s_id_text(about, id);
    th_soft_fail(env, __FILE__, __LINE__,
                 "%s: no audit entry '%s' (agency '%s', detail containing '%s') within %d ms; "
                 "the entries%s%s:%s",
                 what, event, agency ? agency : "*", detail ? detail : "*", TH_RECV_TIMEOUT_MS,
                 about ? " about " : " (the last 50)", id,
                 s_audit_text(env, about, entries, sizeof entries));
}

//  Require exactly `want` entries about `about` that match.
static void s_audit_exactly(th_env_t *env, const proto_id_t *about, const char *event,
                            const char *agency, const char *detail, size_t want, const char *what)
{
    size_t n = s_audit_count(env, about, event, agency, detail);
    if (n != want) {
        static char entries[16384];
        th_soft_fail(env, __FILE__, __LINE__,
                     "%s: %zu audit entries %s agency=%s detail~'%s', expected %zu; the entries:%s",
                     what, n, event ? event : "*", agency ? agency : "*", detail ? detail : "*",
                     want, s_audit_text(env, about, entries, sizeof entries));
    }
}

//  `audit verify`: the chain is intact.
static void s_audit_verify(th_env_t *env)
{
    th_json_t *json = th_admin_json(env, (const char *const[]){ "audit", "verify", NULL }, 0);
    uint64_t length = 0, bad = 1;
    th_soft(env,
            th_json_flag(json, "intact") == 1 && th_json_uint(json, "length", &length) &&
                length > 0 && th_json_uint(json, "first_bad", &bad) && bad == 0,
            "audit verify: intact %d length %llu first_bad %llu", th_json_flag(json, "intact"),
            (unsigned long long) length, (unsigned long long) bad);
    th_json_free(&json);
}

//  Nothing of the document with this id is stored: `doc show` does not
//  know it (exit status 2) and no audit entry says it was accepted.
static void s_expect_absent(th_env_t *env, const proto_id_t *id, const char *what)
{
    static char out[TH_ADMIN_OUT_MAX];
    char text[PROTO_ID_TEXT_LEN];
    s_id_text(id, text);
    int status = th_admin(env, (const char *const[]){ "doc", "show", text, NULL }, out, sizeof out);
    th_soft(env, status == 2, "%s: doc show %s: exit %d, expected 2 (not found):\n%s", what, text,
            status, out);
    s_audit_exactly(env, id, "accepted", NULL, NULL, 0, what);
}

//  What `doc show` says of a stored document.
typedef struct {
    char hash[2 * PROTO_HASH_LEN + 1]; // content hash, hex
    char from[PROTO_AGENCY_CODE_LEN + 1];
    uint64_t seq;
    char states[8][32]; // per recipient, in `to` order
    char agencies[8][PROTO_AGENCY_CODE_LEN + 1];
    size_t nto;
} s_shown_t;

static void s_doc_show(th_env_t *env, const proto_id_t *id, s_shown_t *out)
{
    char text[PROTO_ID_TEXT_LEN];
    s_id_text(id, text);
    memset(out, 0, sizeof *out);
    th_json_t *json = th_admin_json(env, (const char *const[]){ "doc", "show", text, NULL }, 0);
    snprintf(out->hash, sizeof out->hash, "%s", th_json_text(json, "hash"));
    snprintf(out->from, sizeof out->from, "%s", th_json_text(json, "from"));
    th_json_uint(json, "seq", &out->seq);
    const th_json_t *rcpts = th_json_get(json, "recipients");
    for (size_t i = 0; rcpts && rcpts->type == TH_JSON_ARRAY && i < rcpts->count && i < 8; i++) {
        snprintf(out->agencies[i], sizeof out->agencies[i], "%s",
                 th_json_text(rcpts->items[i], "agency"));
        snprintf(out->states[i], sizeof out->states[i], "%s",
                 th_json_text(rcpts->items[i], "state"));
        out->nto++;
    }
    th_json_free(&json);
}

//  The state `doc show` gives one recipient.
static const char *s_state_of(const s_shown_t *shown, th_agency_t who)
{
    for (size_t i = 0; i < shown->nto; i++)
        if (strcmp(shown->agencies[i], th_code(who)) == 0)
            return shown->states[i];
    return "(not listed)";
}

static void s_hash_hex(const truc_doc_t *doc, char out[2 * PROTO_HASH_LEN + 1])
{
    uint8_t hash[PROTO_HASH_LEN];
    th_check(truc_doc_hash(doc, hash) == PROTO_OK, "hash");
    proto_hex_encode(hash, PROTO_HASH_LEN, out);
}

// ---------------------------------------------------------------------------
//  Documents, notices and receipts

//  A document from `from` to nto agencies with natt random attachments of
//  about size bytes (each a few bytes longer than the one before, so a
//  swapped frame is noticed).
static truc_doc_t *s_doc(th_env_t *env, th_agency_t from, const th_agency_t *to, uint32_t nto,
                         uint32_t natt, size_t size)
{
    static const char *const names[] = { "cong-van.pdf", "phu-luc-1.pdf", "phu-luc-2.pdf" };
    const char *codes[8];
    truc_att_t att[3];
    uint8_t *bytes[3] = { NULL, NULL, NULL };
    th_check(nto <= 8 && natt <= 3, "s_doc: at most 8 recipients and 3 attachments");
    for (uint32_t i = 0; i < nto; i++)
        codes[i] = th_code(to[i]);
    for (uint32_t i = 0; i < natt; i++) {
        size_t len = size + 7 * i;
        bytes[i] = malloc(len + 1);
        th_check(bytes[i] != NULL, "out of memory");
        randombytes_buf(bytes[i], len);
        att[i] = (truc_att_t){ names[i], "application/pdf", bytes[i], len };
    }
    truc_doc_t *doc = truc_doc_build(env->agency[from], codes, nto, S_SUBJECT, S_TYPE,
                                     PROTO_URGENCY_NORMAL, att, natt);
    for (uint32_t i = 0; i < natt; i++)
        free(bytes[i]);
    th_check(doc != NULL, "truc_doc_build failed");
    return doc;
}

static proto_msg_t *s_submit_ok(th_env_t *env, truc_client_t *c, const truc_doc_t *doc,
                                const char *what)
{
    uint8_t hash[PROTO_HASH_LEN];
    th_check(truc_doc_hash(doc, hash) == PROTO_OK, "hash");
    proto_err_t rc = truc_client_submit(c, doc);
    th_check(rc == PROTO_OK, "%s: submit: %s (%s)", what, proto_errname(rc),
             truc_client_error_text(c));
    return th_expect_accepted(env, c, truc_doc_id(doc), hash,
                              truc_doc_cmsg(doc)->u.document.doc.from, what);
}

//  Send a document message with these attachment frames and require
//  REJECTED code for it.
static void s_send_rejected(th_env_t *env, truc_client_t *c, const truc_doc_t *doc,
                            const void *const *att, const size_t *lens, size_t natt,
                            proto_err_t code, const char *what)
{
    uint8_t hash[PROTO_HASH_LEN];
    th_check(truc_doc_hash(doc, hash) == PROTO_OK, "hash");
    proto_err_t rc = truc_client_send(c, truc_doc_cmsg(doc), att, lens, natt);
    th_check(rc == PROTO_OK, "%s: send: %s (%s)", what, proto_errname(rc),
             truc_client_error_text(c));
    th_expect_rejected(env, c, truc_doc_id(doc), hash, code, what);
}

//  Submit a document as built and require REJECTED code.
static void s_submit_rejected(th_env_t *env, truc_client_t *c, const truc_doc_t *doc,
                              proto_err_t code, const char *what)
{
    const void *att[3];
    size_t lens[3];
    uint32_t n = truc_doc_natt(doc);
    th_check(n <= 3, "too many attachments");
    for (uint32_t i = 0; i < n; i++) {
        att[i] = truc_doc_att_data(doc, i);
        lens[i] = truc_doc_att_len(doc, i);
    }
    s_send_rejected(env, c, doc, att, lens, n, code, what);
}

//  Require an ERROR with code (fatal: -1 either, 0 or 1 required) and, if
//  ref is not NULL, naming that id.
static void s_expect_error(th_env_t *env, truc_client_t *c, proto_err_t code, int fatal,
                           const proto_id_t *ref, const char *what)
{
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv_kind(c, PROTO_KIND_ERROR, TH_RECV_TIMEOUT_MS, &msg, NULL);
    char text[400];
    if (rc) {
        th_soft_fail(env, __FILE__, __LINE__, "%s: no ERROR %s: %s (%s)", what, proto_errname(code),
                     proto_errname(rc), truc_client_error_text(c));
        return;
    }
    th_soft(env, msg->u.error.code == (uint32_t) code, "%s: %s, expected ERROR %s", what,
            truc_msg_describe(msg, NULL, text, sizeof text), proto_errname(code));
    th_soft(env, fatal < 0 || msg->u.error.fatal == (fatal > 0), "%s: ERROR fatal=%d, expected %d",
            what, msg->u.error.fatal, fatal);
    th_soft(env, !ref || (msg->u.error.has_ref && s_id_eq(&msg->u.error.ref, ref)),
            "%s: the ERROR does not name the document it refuses", what);
    proto_msg_destroy(&msg);
}

//  Listen for TH_QUIET_MS and require that nothing at all arrives
//  (HEARTBEAT and DIRECTORY are kept aside by the client).
static void s_quiet(th_env_t *env, truc_client_t *c, const char *what)
{
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv(c, TH_QUIET_MS, &msg, NULL);
    char text[400];
    th_soft(env, rc == PROTO_ERR_TIMEOUT, "%s: %s received %s (%s)", what, truc_client_agency(c),
            rc ? proto_errname(rc) : truc_msg_describe(msg, NULL, text, sizeof text),
            truc_client_error_text(c));
    proto_msg_destroy(&msg);
}

//  Receive one DELIVER on c, which must be doc exactly as submitted: the
//  same signed envelope and signature, the same attachment bytes.
static proto_msg_t *s_take(th_env_t *env, truc_client_t *c, const truc_doc_t *doc,
                           truc_frames_t **frames)
{
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv_kind(c, PROTO_KIND_DELIVER, TH_RECV_TIMEOUT_MS, &msg, frames);
    th_check(rc == PROTO_OK, "%s: expected DELIVER: %s (%s)", truc_client_agency(c),
             proto_errname(rc), truc_client_error_text(c));
    const proto_document_t *got = &msg->u.document;
    const proto_document_t *sent = &truc_doc_cmsg(doc)->u.document;
    char id[PROTO_ID_TEXT_LEN];
    s_id_text(&got->doc.id, id);
    th_check(s_id_eq(&got->doc.id, truc_doc_id(doc)), "%s received %s, another document",
             truc_client_agency(c), id);
    uint8_t want[PROTO_HASH_LEN], have[PROTO_HASH_LEN];
    th_check(truc_doc_hash(doc, want) == PROTO_OK && proto_doc_hash(&got->doc, have) == PROTO_OK,
             "hash");
    th_soft(env, memcmp(want, have, PROTO_HASH_LEN) == 0,
            "DELIVER %s: the envelope is not the one submitted", id);
    th_soft(env, memcmp(got->sig, sent->sig, PROTO_SIG_LEN) == 0,
            "DELIVER %s: the signature is not the one submitted", id);
    th_check(truc_frames_count(*frames) == truc_doc_natt(doc), "DELIVER %s: %zu frames for %u", id,
             truc_frames_count(*frames), truc_doc_natt(doc));
    for (uint32_t i = 0; i < truc_doc_natt(doc); i++)
        th_soft(env,
                truc_frames_size(*frames, i) == truc_doc_att_len(doc, i) &&
                    memcmp(truc_frames_data(*frames, i), truc_doc_att_data(doc, i),
                           truc_doc_att_len(doc, i)) == 0,
                "DELIVER %s: attachment %u is not the one submitted", id, i);
    return msg;
}

//  Listen for TH_QUIET_MS and require that no DELIVER arrives.
static void s_no_deliver(th_env_t *env, truc_client_t *c, const char *what)
{
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv_kind(c, PROTO_KIND_DELIVER, TH_QUIET_MS, &msg, NULL);
    char id[PROTO_ID_TEXT_LEN] = "";
    if (rc == PROTO_OK)
        s_id_text(&msg->u.document.doc.id, id);
    th_soft(env, rc == PROTO_ERR_TIMEOUT, "%s: %s received %s %s (%s)", what, truc_client_agency(c),
            rc ? proto_errname(rc) : "DELIVER", id, truc_client_error_text(c));
    proto_msg_destroy(&msg);
}

//  Receive routed DELIVERED bundles on c until one signed by `recipient`
//  names doc; each verifies with its signer's directory key and is ACKed.
static void s_collect_delivered(th_env_t *env, truc_client_t *c, const truc_doc_t *doc,
                                th_agency_t recipient)
{
    bool seen = false;
    while (!seen) {
        proto_msg_t *msg = NULL;
        proto_err_t rc =
            truc_client_recv_kind(c, PROTO_KIND_DELIVERED, TH_RECV_TIMEOUT_MS, &msg, NULL);
        th_check(rc == PROTO_OK, "%s: the delivery receipt of %s is missing: %s (%s)",
                 truc_client_agency(c), th_code(recipient), proto_errname(rc),
                 truc_client_error_text(c));
        const proto_receipts_t *r = &msg->u.receipts;
        const proto_directory_entry_t *signer = proto_directory_find(env->dir, r->head.signer);
        th_check(signer != NULL, "DELIVERED signed by unknown '%s'", r->head.signer);
        th_check(truc_receipts_verify(msg, signer->sign_pk) == PROTO_OK,
                 "DELIVERED from %s does not verify with its key", r->head.signer);
        th_soft(env, strcmp(r->head.signer, th_code(recipient)) == 0,
                "%s received a delivery receipt signed by %s, expected only %s",
                truc_client_agency(c), r->head.signer, th_code(recipient));
        seen = truc_receipts_find(msg, truc_doc_id(doc)) != NULL;
        rc = truc_client_ack(c, &r->mid, 1);
        th_check(rc == PROTO_OK, "ACK: %s", proto_errname(rc));
        proto_msg_destroy(&msg);
    }
}

//  The parts of a receipt, digested: the signed head with its signature,
//  the leaf, the proof. Two receipts are identical if all three are.
typedef struct {
    uint8_t head[PROTO_HASH_LEN];
    uint8_t leaf[PROTO_HASH_LEN];
    uint8_t proof[PROTO_HASH_LEN];
} s_digest_t;

static void s_digest(const proto_msg_t *bundle, const proto_id_t *id, s_digest_t *out)
{
    const proto_item_t *item = truc_receipts_find(bundle, id);
    th_check(item != NULL, "no item for the document in the bundle");
    proto_buf_t buf;
    proto_buf_init(&buf);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, PROTO_HASH_LEN);
    th_check(proto_head_canonical(&bundle->u.receipts.head, &buf) == PROTO_OK, "head bytes");
    crypto_generichash_update(&st, buf.data, buf.len);
    crypto_generichash_update(&st, bundle->u.receipts.sig, PROTO_SIG_LEN);
    crypto_generichash_final(&st, out->head, PROTO_HASH_LEN);
    th_check(proto_leaf_canonical(&item->leaf, &buf) == PROTO_OK, "leaf bytes");
    crypto_generichash(out->leaf, PROTO_HASH_LEN, buf.data, buf.len, NULL, 0);
    crypto_generichash_init(&st, NULL, 0, PROTO_HASH_LEN);
    uint8_t index[8];
    for (int i = 0; i < 8; i++)
        index[i] = (uint8_t) (item->index >> (8 * i));
    crypto_generichash_update(&st, index, sizeof index);
    for (uint32_t i = 0; i < item->npath; i++)
        crypto_generichash_update(&st, item->path[i], PROTO_HASH_LEN);
    crypto_generichash_final(&st, out->proof, PROTO_HASH_LEN);
    proto_buf_free(&buf);
}

//  "" if two receipts are identical, else which parts differ.
static const char *s_digest_diff(const s_digest_t *x, const s_digest_t *y, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s", memcmp(x->head, y->head, PROTO_HASH_LEN) ? " head/sig" : "",
             memcmp(x->leaf, y->leaf, PROTO_HASH_LEN) ? " leaf" : "",
             memcmp(x->proof, y->proof, PROTO_HASH_LEN) ? " index/path" : "");
    return buf;
}

//  A status notice ready to send.
typedef struct {
    proto_msg_t msg; // kind STATUS: the notice and its signature
} s_notice_t;

static void s_notice(th_env_t *env, s_notice_t *n, th_agency_t from, th_agency_t to,
                     const proto_id_t *doc, uint8_t code, const char *note)
{
    memset(n, 0, sizeof *n);
    n->msg.kind = PROTO_KIND_STATUS;
    proto_notice_t *notice = &n->msg.u.status.notice;
    proto_id_random(&notice->id);
    notice->doc = *doc;
    notice->from = th_code(from);
    notice->to = th_code(to);
    notice->code = code;
    notice->time = truc_now_ms();
    notice->note = note;
    notice->staff.name = "Trần Thị Văn Thư";
    notice->staff.department = "Văn phòng";
    proto_err_t rc = proto_notice_sign(notice, env->agency[from], n->msg.u.status.sig);
    th_check(rc == PROTO_OK, "cannot sign a notice: %s", proto_errname(rc));
}

//  Send a notice on c and require REJECTED code for it.
static void s_notice_rejected(th_env_t *env, truc_client_t *c, const s_notice_t *n,
                              proto_err_t code, const char *what)
{
    uint8_t hash[PROTO_HASH_LEN];
    th_check(proto_notice_hash(&n->msg.u.status.notice, hash) == PROTO_OK, "notice hash");
    proto_err_t rc = truc_client_send(c, &n->msg, NULL, NULL, 0);
    th_check(rc == PROTO_OK, "%s: STATUS: %s (%s)", what, proto_errname(rc),
             truc_client_error_text(c));
    th_expect_rejected(env, c, &n->msg.u.status.notice.id, hash, code, what);
}

//  Send a DELIVERED bundle of one leaf, signed by `signer` (whatever the
//  leaf says): for receipts no honest agent would send.
static void s_send_receipt(th_env_t *env, truc_client_t *c, th_agency_t signer,
                           const proto_leaf_t *leaf)
{
    static uint8_t paths[PROTO_MAX_PATH][PROTO_HASH_LEN];
    proto_item_t item;
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DELIVERED;
    proto_err_t rc = proto_receipts_build(leaf, 1, env->agency[signer], truc_now_ms(),
                                          &msg.u.receipts.head, msg.u.receipts.sig, &item, paths);
    th_check(rc == PROTO_OK, "cannot build a receipt: %s", proto_errname(rc));
    msg.u.receipts.items = &item;
    msg.u.receipts.nitems = 1;
    rc = truc_client_send(c, &msg, NULL, NULL, 0);
    th_check(rc == PROTO_OK, "DELIVERED: %s (%s)", proto_errname(rc), truc_client_error_text(c));
}

//  Encode a HELLO naming agency and send it on c (header version 1).
static void s_send_hello(truc_client_t *c, const char *agency)
{
    static const uint8_t v1[] = { PROTO_VERSION };
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_HELLO;
    msg.u.hello.versions = (uint8_t *) (uintptr_t) v1;
    msg.u.hello.nversions = 1;
    msg.u.hello.agency = agency;
    msg.u.hello.window = 8;
    proto_err_t rc = truc_client_send(c, &msg, NULL, NULL, 0);
    th_check(rc == PROTO_OK, "HELLO: %s (%s)", proto_errname(rc), truc_client_error_text(c));
}

// ---------------------------------------------------------------------------
//  1-3. Refused at the handshake: no CURVE, an unknown key, a revoked key,
//  a suspended key. The peer speaks the protocol as if it were welcome
//  (HELLO, then a signed SUBMIT to B); it must never hear anything, and
//  nothing it sent may be stored or delivered.

static void s_refused_peer(th_env_t *env, th_agency_t who, bool curve, const char *audit_agency,
                           const char *audit_detail, const char *what)
{
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    const th_agency_t to_b[] = { TH_B };
    s_counters_t before;
    s_counters(env, &before);

    //  HELLO and a SUBMIT are queued at once, before the handshake is over:
    //  once a handshake has failed ZeroMQ has no pipe to send on and the
    //  SUBMIT gives up (PROTO_ERR_TIMEOUT, allowed in case that race is
    //  lost). The document is signed by the agency's own key, so only the
    //  handshake stands between it and B.
    truc_doc_t *doc = s_doc(env, who, to_b, 1, 1, 900);
    truc_client_t *intruder = curve ? th_client(env, who, 8) : th_client_plain(env, who, 8);
    s_send_hello(intruder, th_code(who));
    proto_err_t rc = truc_client_submit(intruder, doc);
    th_check(rc == PROTO_OK || rc == PROTO_ERR_TIMEOUT, "%s: submit: %s (%s)", what,
             proto_errname(rc), truc_client_error_text(intruder));
    //  The refusal is in the audit chain (so the handshake is over) and
    //  counted; the refused peer hears nothing, B receives nothing.
    s_audit_wait(env, NULL, "refused", audit_agency, audit_detail, what);
    s_counters_t after;
    s_counters(env, &after);
    th_soft(env, after.refused > before.refused,
            "%s: status says %llu refused handshakes, as before", what,
            (unsigned long long) after.refused);
    s_quiet(env, intruder, what);
    s_no_deliver(env, b, what);
    //  Nothing stored.
    th_drop(env, &intruder);
    s_expect_absent(env, truc_doc_id(doc), what);
    s_audit_exactly(env, NULL, "connected", th_code(who), NULL, 0, what);
    s_expect_accepted_count(env, &before, 0, what);

    //  The broker still serves the agencies it should.
    truc_doc_t *ok = s_doc(env, TH_A, to_b, 1, 1, 300);
    proto_msg_t *acc = s_submit_ok(env, a, ok, "A to B after the refused peer");
    truc_frames_t *frames = NULL;
    proto_msg_t *msg = s_take(env, b, ok, &frames);
    proto_msg_destroy(&msg);
    truc_frames_destroy(&frames);
    proto_msg_destroy(&acc);
    s_expect_accepted_count(env, &before, 1, what);
    s_audit_verify(env);

    truc_doc_destroy(&doc);
    truc_doc_destroy(&ok);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

//  A ZeroMQ peer without CURVE (the NULL mechanism).
static void test_no_curve(void **state)
{
    //  "not CURVE", or, when the peer's reset overtook its greeting, "handshake
    //  failed before CURVE authentication": the broker cannot tell more.
    s_refused_peer(*state, TH_C, false, NULL, "CURVE", "a peer without CURVE");
}

//  A CURVE key the directory does not list.
static void test_unknown_key(void **state)
{
    s_refused_peer(*state, TH_U, true, NULL, "ERR_UNKNOWN_AGENCY",
                   "an agency not in the directory");
}

static void test_revoked_key(void **state)
{
    s_refused_peer(*state, TH_R, true, th_code(TH_R), "ERR_AGENCY_REVOKED", "a revoked agency");
}

static void test_suspended_key(void **state)
{
    s_refused_peer(*state, TH_S, true, th_code(TH_S), "ERR_AGENCY_SUSPENDED", "a suspended agency");
}

// ---------------------------------------------------------------------------
//  4. An authenticated agency forging another agency: as the sender of a
//  document, as the sender of a notice, in HELLO.

static void test_sender_forgery(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    truc_client_t *c = th_connect(env, TH_C, 16, NULL);
    const th_agency_t to_b[] = { TH_B }, to_c[] = { TH_C };
    s_counters_t before;
    s_counters(env, &before);

    //  B's own document, genuinely signed by B, sent on A's session.
    truc_doc_t *stolen = s_doc(env, TH_B, to_c, 1, 1, 800);
    s_submit_rejected(env, a, stolen, PROTO_ERR_SENDER_MISMATCH, "B's signed document sent by A");
    s_audit_wait(env, truc_doc_id(stolen), "rejected", th_code(TH_A), "ERR_SENDER_MISMATCH",
                 "B's signed document sent by A");
    s_expect_absent(env, truc_doc_id(stolen), "B's signed document sent by A");

    //  A's document with doc.from changed to B (the signature is A's).
    truc_doc_t *relabelled = s_doc(env, TH_A, to_c, 1, 1, 700);
    truc_doc_msg(relabelled)->u.document.doc.from = th_code(TH_B);
    s_submit_rejected(env, a, relabelled, PROTO_ERR_SENDER_MISMATCH, "A's document naming B");
    s_audit_wait(env, truc_doc_id(relabelled), "rejected", th_code(TH_A), "ERR_SENDER_MISMATCH",
                 "A's document naming B");
    s_expect_absent(env, truc_doc_id(relabelled), "A's document naming B");
    s_no_deliver(env, c, "after the forged documents");

    //  A notice about a document to B, signed by B, sent on A's session.
    truc_doc_t *x = s_doc(env, TH_C, to_b, 1, 0, 0);
    proto_msg_t *acc = s_submit_ok(env, c, x, "X from C to B");
    proto_msg_destroy(&acc);
    s_notice_t forged;
    s_notice(env, &forged, TH_B, TH_C, truc_doc_id(x), 3, "Đã tiếp nhận (giả mạo)");
    s_notice_rejected(env, a, &forged, PROTO_ERR_SENDER_MISMATCH, "B's notice sent by A");
    s_audit_wait(env, &forged.msg.u.status.notice.id, "rejected", th_code(TH_A),
                 "ERR_SENDER_MISMATCH", "B's notice sent by A");
    s_audit_exactly(env, truc_doc_id(x), "status", NULL, NULL, 0, "B's notice sent by A");

    //  HELLO naming B on D's connection: fatal, audited, and B's own
    //  session is not touched.
    truc_client_t *d = th_client(env, TH_D, 8);
    s_send_hello(d, th_code(TH_B));
    s_expect_error(env, d, PROTO_ERR_SENDER_MISMATCH, 1, NULL, "HELLO of D naming B");
    s_audit_wait(env, NULL, "denied", th_code(TH_D), "ERR_SENDER_MISMATCH", "HELLO of D naming B");
    //  Whatever D sends next on that connection is not served.
    truc_doc_t *after_hello = s_doc(env, TH_D, to_c, 1, 1, 500);
    th_check(truc_client_submit(d, after_hello) == PROTO_OK, "send");
    proto_msg_t *answer = th_answer(d, truc_doc_id(after_hello), TH_QUIET_MS);
    char text[400];
    th_soft(env, !answer || answer->kind == PROTO_KIND_ERROR,
            "a SUBMIT after a refused HELLO was answered with %s",
            truc_msg_describe(answer, truc_doc_id(after_hello), text, sizeof text));
    proto_msg_destroy(&answer);
    s_expect_absent(env, truc_doc_id(after_hello), "a SUBMIT after a refused HELLO");
    s_audit_exactly(env, NULL, "connected", th_code(TH_D), NULL, 0, "HELLO of D naming B");
    th_drop(env, &d);

    //  Only X was stored; B still has its session and gets exactly X.
    truc_frames_t *frames = NULL;
    proto_msg_t *msg = s_take(env, b, x, &frames);
    proto_msg_destroy(&msg);
    truc_frames_destroy(&frames);
    s_no_deliver(env, b, "after X");
    s_quiet(env, a, "A after its forgeries");
    s_expect_accepted_count(env, &before, 1, "forged senders");
    s_audit_verify(env);

    truc_doc_destroy(&stolen);
    truc_doc_destroy(&relabelled);
    truc_doc_destroy(&x);
    truc_doc_destroy(&after_hello);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  5. Attachments that do not match the signed hash and size

static void test_tampered_attachment(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    const th_agency_t to_b[] = { TH_B };
    s_counters_t before;
    s_counters(env, &before);

    truc_doc_t *doc = s_doc(env, TH_A, to_b, 1, 2, 4096);
    const proto_id_t *id = truc_doc_id(doc);
    size_t len0 = truc_doc_att_len(doc, 0), len1 = truc_doc_att_len(doc, 1);
    uint8_t *bytes = malloc(len1 + 1);
    th_check(bytes != NULL, "out of memory");
    memcpy(bytes, truc_doc_att_data(doc, 1), len1);

    static const char *const cases[] = { "one bit of an attachment flipped",
                                         "the attachment frames swapped",
                                         "an attachment one byte short",
                                         "an attachment one byte longer" };
    for (size_t k = 0; k < 4; k++) {
        const void *att[2] = { truc_doc_att_data(doc, 0), bytes };
        size_t lens[2] = { len0, len1 };
        memcpy(bytes, truc_doc_att_data(doc, 1), len1);
        if (k == 0) {
            bytes[len1 / 2] ^= 0x04;
        } else if (k == 1) {
            att[0] = truc_doc_att_data(doc, 1);
            att[1] = truc_doc_att_data(doc, 0);
            lens[0] = len1;
            lens[1] = len0;
        } else if (k == 2) {
            lens[1] = len1 - 1;
        } else {
            bytes[len1] = 0x5a;
            lens[1] = len1 + 1;
        }
        s_send_rejected(env, a, doc, att, lens, 2, PROTO_ERR_HASH_MISMATCH, cases[k]);
    }
    s_audit_wait(env, id, "rejected", th_code(TH_A), "ERR_HASH_MISMATCH", "tampered attachments");
    s_audit_exactly(env, id, "rejected", th_code(TH_A), "ERR_HASH_MISMATCH", 4,
                    "four tampered submissions");
    s_expect_absent(env, id, "tampered attachments");
    s_no_deliver(env, b, "after the tampered attachments");
    s_expect_accepted_count(env, &before, 0, "tampered attachments");

    //  Nothing of the tampered bytes stuck to the id: the genuine document
    //  is accepted under it and B receives exactly the signed bytes.
    proto_msg_t *acc = s_submit_ok(env, a, doc, "the genuine document after the tampered ones");
    proto_msg_destroy(&acc);
    truc_frames_t *frames = NULL;
    proto_msg_t *msg = s_take(env, b, doc, &frames);
    proto_msg_destroy(&msg);
    truc_frames_destroy(&frames);
    s_shown_t shown;
    char hash[2 * PROTO_HASH_LEN + 1];
    s_doc_show(env, id, &shown);
    s_hash_hex(doc, hash);
    th_soft(env, strcmp(shown.hash, hash) == 0, "doc show: hash %s, the content hash is %s",
            shown.hash, hash);
    s_audit_exactly(env, id, "accepted", th_code(TH_A), NULL, 1, "the genuine document");
    s_expect_accepted_count(env, &before, 1, "tampered attachments, then the genuine document");
    s_audit_verify(env);

    free(bytes);
    truc_doc_destroy(&doc);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  6. Bad signatures

static void test_bad_signature(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    const th_agency_t to_b[] = { TH_B };
    s_counters_t before;
    s_counters(env, &before);

    static const char *const cases[] = { "one bit of the signature flipped",
                                         "a valid signature by C of A's document",
                                         "the subject changed after signing",
                                         "a signature of zeros" };
    truc_doc_t *docs[4];
    for (size_t k = 0; k < 4; k++) {
        docs[k] = s_doc(env, TH_A, to_b, 1, 1, 1500);
        proto_document_t *d = &truc_doc_msg(docs[k])->u.document;
        if (k == 0) {
            d->sig[17] ^= 0x10;
        } else if (k == 1) {
            proto_buf_t buf;
            proto_buf_init(&buf);
            th_check(proto_doc_canonical(&d->doc, &buf) == PROTO_OK, "canonical bytes");
            th_check(proto_identity_sign(env->agency[TH_C], buf.data, buf.len, d->sig) == PROTO_OK,
                     "cannot sign with C's key");
            proto_buf_free(&buf);
        } else if (k == 2) {
            d->doc.subject = "Về việc điều chỉnh kinh phí (sửa sau khi ký)";
        } else {
            memset(d->sig, 0, PROTO_SIG_LEN);
        }
        s_submit_rejected(env, a, docs[k], PROTO_ERR_BAD_SIGNATURE, cases[k]);
        s_audit_wait(env, truc_doc_id(docs[k]), "rejected", th_code(TH_A), "ERR_BAD_SIGNATURE",
                     cases[k]);
        s_expect_absent(env, truc_doc_id(docs[k]), cases[k]);
    }
    s_no_deliver(env, b, "after the bad signatures");
    s_expect_accepted_count(env, &before, 0, "bad signatures");
    s_audit_verify(env);

    for (size_t k = 0; k < 4; k++)
        truc_doc_destroy(&docs[k]);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  7. A replayed document id with other content

static void test_replay(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    truc_client_t *c = th_connect(env, TH_C, 16, NULL);
    const th_agency_t to_b[] = { TH_B }, to_d[] = { TH_D };

    truc_doc_t *x = s_doc(env, TH_A, to_b, 1, 1, 2048);
    const proto_id_t *id = truc_doc_id(x);
    proto_msg_t *acc = s_submit_ok(env, a, x, "X, the original");
    s_digest_t original, again;
    s_digest(acc, id, &original);
    proto_msg_destroy(&acc);
    s_shown_t shown0, shown1;
    s_doc_show(env, id, &shown0);
    s_counters_t before;
    s_counters(env, &before);

    //  The sender itself, other content under X's id, properly signed.
    truc_doc_t *other = s_doc(env, TH_A, to_d, 1, 1, 2048);
    truc_doc_msg(other)->u.document.doc.id = *id;
    th_check(truc_doc_sign(other, env->agency[TH_A]) == PROTO_OK, "sign");
    s_submit_rejected(env, a, other, PROTO_ERR_DUPLICATE_ID, "A: X's id, other content");
    //  Another agency, its own document under X's id.
    truc_doc_t *theirs = s_doc(env, TH_C, to_b, 1, 1, 2048);
    truc_doc_msg(theirs)->u.document.doc.id = *id;
    th_check(truc_doc_sign(theirs, env->agency[TH_C]) == PROTO_OK, "sign");
    s_submit_rejected(env, c, theirs, PROTO_ERR_DUPLICATE_ID, "C: X's id, its own content");

    s_audit_wait(env, id, "rejected", th_code(TH_A), "ERR_DUPLICATE_ID", "A's replay of X's id");
    s_audit_wait(env, id, "rejected", th_code(TH_C), "ERR_DUPLICATE_ID", "C's replay of X's id");
    s_audit_exactly(env, id, "accepted", NULL, NULL, 1, "X's id after two replays");
    s_doc_show(env, id, &shown1);
    th_soft(env, strcmp(shown0.hash, shown1.hash) == 0 && strcmp(shown1.from, th_code(TH_A)) == 0,
            "doc show X after the replays: hash %s from %s, before: hash %s from %s", shown1.hash,
            shown1.from, shown0.hash, shown0.from);
    th_soft(env,
            shown0.seq == shown1.seq && shown1.nto == 1 &&
                strcmp(shown1.agencies[0], th_code(TH_B)) == 0,
            "doc show X after the replays: seq or recipients changed");
    s_expect_accepted_count(env, &before, 0, "replays of X's id");

    //  The identical original again: the very same ACCEPTED.
    th_sleep_ms(50); // a receipt signed anew would have another head time
    acc = s_submit_ok(env, a, x, "X sent again, identical");
    s_digest(acc, id, &again);
    char diff[64];
    th_soft(env, !*s_digest_diff(&original, &again, diff, sizeof diff),
            "X sent again: the ACCEPTED is not the original, it differs in:%s", diff);
    proto_msg_destroy(&acc);
    s_expect_accepted_count(env, &before, 0, "X sent again");

    //  B receives the original content once; D nothing.
    truc_frames_t *frames = NULL;
    proto_msg_t *msg = s_take(env, b, x, &frames);
    proto_msg_destroy(&msg);
    truc_frames_destroy(&frames);
    s_no_deliver(env, b, "after X");
    s_audit_verify(env);

    truc_doc_destroy(&x);
    truc_doc_destroy(&other);
    truc_doc_destroy(&theirs);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

//  7b. The same, across kinds: a recipient sends a status notice whose
//  notice id is the id of the document it is about. Whether the broker
//  takes the notice or refuses the id, the document's record and its
//  original ACCEPTED must stay what they were.
static void test_replay_notice_id(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    const th_agency_t to_b[] = { TH_B };

    truc_doc_t *x = s_doc(env, TH_A, to_b, 1, 1, 1024);
    const proto_id_t *id = truc_doc_id(x);
    proto_msg_t *acc = s_submit_ok(env, a, x, "X, the original");
    s_digest_t original, again;
    s_digest(acc, id, &original);
    proto_msg_destroy(&acc);
    s_shown_t shown0, shown1;
    s_doc_show(env, id, &shown0);

    s_notice_t n;
    s_notice(env, &n, TH_B, TH_A, id, 1, "Đã đến");
    n.msg.u.status.notice.id = *id;
    th_check(proto_notice_sign(&n.msg.u.status.notice, env->agency[TH_B], n.msg.u.status.sig) ==
                 PROTO_OK,
             "sign");
    th_check(truc_client_send(b, &n.msg, NULL, NULL, 0) == PROTO_OK, "STATUS");
    proto_msg_t *answer = th_answer(b, id, TH_RECV_TIMEOUT_MS);
    char text[400];
    print_message("a notice with X's id as its notice id was answered with %s\n",
                  truc_msg_describe(answer, id, text, sizeof text));
    th_soft(env, answer != NULL, "the notice with X's id got no answer");
    proto_msg_destroy(&answer);

    s_doc_show(env, id, &shown1);
    th_soft(env, strcmp(shown0.hash, shown1.hash) == 0 && strcmp(shown1.from, th_code(TH_A)) == 0,
            "doc show X after the notice: hash %s from %s, before: hash %s from %s", shown1.hash,
            shown1.from, shown0.hash, shown0.from);
    //  A re-sends X, as an agent does when its ACCEPTED was lost.
    th_sleep_ms(50);
    acc = s_submit_ok(env, a, x, "X sent again after B's notice with X's id");
    s_digest(acc, id, &again);
    char diff[64];
    th_soft(env, !*s_digest_diff(&original, &again, diff, sizeof diff),
            "X sent again after B's notice with X's id: the ACCEPTED is not the original, it "
            "differs in:%s",
            diff);
    proto_msg_destroy(&acc);
    s_audit_exactly(env, id, "accepted", NULL, NULL, 1, "X's id after the notice");

    //  The other way round: a document whose id a stored notice holds.
    s_notice_t real;
    s_notice(env, &real, TH_B, TH_A, id, 1, "Đã đến");
    th_check(truc_client_send(b, &real.msg, NULL, NULL, 0) == PROTO_OK, "STATUS");
    const proto_id_t *notice_id = &real.msg.u.status.notice.id;
    answer = th_answer(b, notice_id, TH_RECV_TIMEOUT_MS);
    th_check(answer && answer->kind == PROTO_KIND_ACCEPTED, "B's notice about X: %s",
             truc_msg_describe(answer, notice_id, text, sizeof text));
    proto_msg_destroy(&answer);
    truc_doc_t *y = s_doc(env, TH_A, to_b, 1, 1, 512);
    truc_doc_msg(y)->u.document.doc.id = *notice_id;
    th_check(truc_doc_sign(y, env->agency[TH_A]) == PROTO_OK, "sign");
    s_submit_rejected(env, a, y, PROTO_ERR_DUPLICATE_ID, "a document with B's notice's id");
    s_expect_absent(env, notice_id, "a document with B's notice's id");
    truc_doc_destroy(&y);
    s_audit_verify(env);

    truc_doc_destroy(&x);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  8. Acknowledging or answering a document addressed to someone else

static void test_foreign_ack(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    truc_client_t *c = th_connect(env, TH_C, 16, NULL);
    const th_agency_t to_b[] = { TH_B };

    truc_doc_t *x = s_doc(env, TH_A, to_b, 1, 1, 1200);
    const proto_id_t *id = truc_doc_id(x);
    proto_msg_t *acc = s_submit_ok(env, a, x, "X from A to B");
    proto_msg_destroy(&acc);
    //  B has X and has not acknowledged it yet.
    truc_frames_t *frames = NULL;
    proto_msg_t *deliver = s_take(env, b, x, &frames);
    s_shown_t shown;
    s_doc_show(env, id, &shown);
    th_check(strcmp(s_state_of(&shown, TH_B), "waiting") == 0, "X at B is '%s' before the attacks",
             s_state_of(&shown, TH_B));
    s_counters_t before;
    s_counters(env, &before);

    //  C acknowledges X with a receipt of its own, built from B's copy.
    proto_err_t rc = truc_client_ack_deliveries(c, env->dir, (const proto_msg_t *const *) &deliver,
                                                (const truc_frames_t *const *) &frames, 1);
    th_check(rc == PROTO_OK, "C's DELIVERED: %s (%s)", proto_errname(rc),
             truc_client_error_text(c));
    s_expect_error(env, c, PROTO_ERR_NOT_AUTHORIZED, 0, id, "C acknowledges X");
    s_audit_wait(env, id, "denied", th_code(TH_C), "ERR_NOT_AUTHORIZED", "C acknowledges X");
    //  The sender acknowledges its own document.
    rc = truc_client_ack_deliveries(a, env->dir, (const proto_msg_t *const *) &deliver,
                                    (const truc_frames_t *const *) &frames, 1);
    th_check(rc == PROTO_OK, "A's DELIVERED: %s (%s)", proto_errname(rc),
             truc_client_error_text(a));
    s_expect_error(env, a, PROTO_ERR_NOT_AUTHORIZED, 0, id, "A acknowledges its own X");
    s_audit_wait(env, id, "denied", th_code(TH_A), "ERR_NOT_AUTHORIZED",
                 "A acknowledges its own X");
    //  C reports X as quarantined (event REFUSED).
    uint8_t hash[PROTO_HASH_LEN];
    th_check(truc_doc_hash(x, hash) == PROTO_OK, "hash");
    proto_leaf_t leaf = { .event = PROTO_EVENT_REFUSED,
                          .id = *id,
                          .from = th_code(TH_A),
                          .to = th_code(TH_C),
                          .time = truc_now_ms(),
                          .code = PROTO_ERR_BAD_SIGNATURE,
                          .reason = "chữ ký không hợp lệ" };
    memcpy(leaf.hash, hash, PROTO_HASH_LEN);
    s_send_receipt(env, c, TH_C, &leaf);
    s_expect_error(env, c, PROTO_ERR_NOT_AUTHORIZED, 0, id, "C refuses X");
    s_audit_exactly(env, id, "denied", th_code(TH_C), "ERR_NOT_AUTHORIZED", 2,
                    "C's two receipts for X");
    //  C acknowledges in B's name (leaf.to = B), signed by C.
    leaf.event = PROTO_EVENT_DELIVERED;
    leaf.to = th_code(TH_B);
    leaf.code = 0;
    leaf.reason = NULL;
    s_send_receipt(env, c, TH_C, &leaf);
    s_expect_error(env, c, PROTO_ERR_SENDER_MISMATCH, 0, NULL, "C acknowledges X as B");
    s_audit_wait(env, NULL, "denied", th_code(TH_C), "ERR_SENDER_MISMATCH",
                 "C acknowledges X as B");

    //  C answers X: registered (03), recall refused (16), and asks B to
    //  give it back (13) as if it were the sender.
    static const struct {
        uint8_t code;
        th_agency_t to;
        const char *what;
    } notices[] = { { 3, TH_A, "C's 03 to A about X" },
                    { 16, TH_A, "C's 16 to A about X" },
                    { 13, TH_B, "C's 13 to B about X" } };
    for (size_t k = 0; k < 3; k++) {
        s_notice_t n;
        s_notice(env, &n, TH_C, notices[k].to, id, notices[k].code, "Ý kiến của C");
        s_notice_rejected(env, c, &n, PROTO_ERR_NOT_AUTHORIZED, notices[k].what);
        s_audit_wait(env, &n.msg.u.status.notice.id, "rejected", th_code(TH_C),
                     "ERR_NOT_AUTHORIZED", notices[k].what);
    }

    //  Nothing moved: B still has X waiting, A and B heard nothing, the
    //  document's history has no delivery and no notice.
    s_doc_show(env, id, &shown);
    th_soft(env, strcmp(s_state_of(&shown, TH_B), "waiting") == 0,
            "after the foreign receipts and notices X at B is '%s', expected 'waiting'",
            s_state_of(&shown, TH_B));
    s_quiet(env, a, "A after C's receipts and notices about X");
    s_quiet(env, b, "B after C's notices about X");
    s_audit_exactly(env, id, "delivered", NULL, NULL, 0, "X before B acknowledged it");
    s_audit_exactly(env, id, "refused_by_recipient", NULL, NULL, 0, "X before B acknowledged it");
    s_audit_exactly(env, id, "status", NULL, NULL, 0, "X after C's notices");
    s_expect_accepted_count(env, &before, 0, "foreign receipts and notices");

    //  B's own acknowledgement still counts, once.
    rc = truc_client_ack_deliveries(b, env->dir, (const proto_msg_t *const *) &deliver,
                                    (const truc_frames_t *const *) &frames, 1);
    th_check(rc == PROTO_OK, "B's DELIVERED: %s (%s)", proto_errname(rc),
             truc_client_error_text(b));
    s_collect_delivered(env, a, x, TH_B);
    s_doc_show(env, id, &shown);
    th_soft(env, strcmp(s_state_of(&shown, TH_B), "delivered") == 0,
            "after B's receipt X at B is '%s', expected 'delivered'", s_state_of(&shown, TH_B));
    s_audit_exactly(env, id, "delivered", NULL, NULL, 1, "X after B acknowledged it");
    s_audit_verify(env);

    proto_msg_destroy(&deliver);
    truc_frames_destroy(&frames);
    truc_doc_destroy(&x);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  9. A DMS asking its agent to sign as another agency

static bool s_sent_accepted(const ah_reply_t *r, void *arg)
{
    (void) arg;
    return ah_is_ok(r) && ah_str_is(r->map, "document.state", "accepted");
}

//  Submit through the API and wait until the broker accepted it; the id
//  in id (UUID text).
static void s_api_submit_accepted(ah_agent_t *a, const char *const *to, size_t nto,
                                  const char *subject, char id[PROTO_ID_TEXT_LEN])
{
    ah_reply_t *r =
        ah_call(a, "{cmd:s doc:{to:A type:s subject:s}}", "submit", to, nto, S_TYPE, subject);
    ah_expect_ok(r, "submit");
    const char *text = ah_str(r->map, "id");
    th_check(text && strlen(text) == 36, "submit: no id in %s", ah_show(r->map));
    memcpy(id, text, 37);
    ah_reply_destroy(&r);
    r = ah_poll(a, s_sent_accepted, NULL, "sent: accepted by the broker", "{cmd:s id:s}", "sent",
                id);
    ah_reply_destroy(&r);
}

static void test_agent_impersonation(void **state)
{
    ah_env_t *env = *state;
    th_env_t *th = env->th;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_wait_connected(a, true);
    ah_wait_connected(b, true);
    ah_wait_directory(a);
    const char *to_b[] = { th_code(TH_B) };
    char legit[2][PROTO_ID_TEXT_LEN];
    s_api_submit_accepted(a, to_b, 1, "Văn bản hợp lệ thứ nhất", legit[0]);

    //  doc.from naming another agency: active (B), unlisted (U), revoked
    //  (R); and a replace whose new document names B.
    static const th_agency_t claimed[] = { TH_B, TH_U, TH_R };
    for (size_t k = 0; k < 3; k++) {
        ah_reply_t *r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s from:s}}", "submit", to_b,
                                (size_t) 1, S_TYPE, "Văn bản mạo danh", th_code(claimed[k]));
        ah_expect_error(r, PROTO_ERR_NOT_AUTHORIZED, "doc.from", "submit with doc.from of another");
        ah_reply_destroy(&r);
        th_soft(th,
                ah_events_count(a, "api.denied", "field", "doc.from", "claimed",
                                th_code(claimed[k]), "code", "ERR_NOT_AUTHORIZED", NULL) == 1,
                "no single api.denied event for doc.from %s", th_code(claimed[k]));
    }
    ah_reply_t *r = ah_call(a, "{cmd:s refs:[s] reason:s doc:{to:A type:s subject:s from:s}}",
                            "replace", legit[0], "Thay thế", to_b, (size_t) 1, S_TYPE,
                            "Văn bản thay thế mạo danh", th_code(TH_C));
    ah_expect_error(r, PROTO_ERR_NOT_AUTHORIZED, "doc.from", "replace with doc.from of another");
    ah_reply_destroy(&r);
    th_soft(th,
            ah_events_count(a, "api.denied", "field", "doc.from", "claimed", th_code(TH_C), "code",
                            "ERR_NOT_AUTHORIZED", NULL) == 1,
            "no single api.denied event for the replace naming %s", th_code(TH_C));
    //  A `from` beside the document is not a field of submit at all.
    r = ah_call(a, "{cmd:s from:s doc:{to:A type:s subject:s}}", "submit", th_code(TH_B), to_b,
                (size_t) 1, S_TYPE, "Văn bản mạo danh");
    ah_expect_error(r, PROTO_ERR_UNKNOWN_FIELD, NULL, "submit with a from beside doc");
    ah_reply_destroy(&r);
    th_soft(th, ah_events_count(a, "api.denied", NULL) == 4,
            "%zu api.denied events, expected 4 (one per doc.from of another agency)",
            ah_events_count(a, "api.denied", NULL));

    char legit2[PROTO_ID_TEXT_LEN];
    s_api_submit_accepted(a, to_b, 1, "Văn bản hợp lệ thứ hai", legit2);
    memcpy(legit[1], legit2, sizeof legit2);

    //  The agent sent nothing else: its sent list holds the two documents.
    r = ah_call(a, "{cmd:s limit:i}", "sent", 50);
    ah_expect_ok(r, "sent");
    th_soft(th, ah_count(r->map, "documents") == 2, "sent lists %d documents, expected 2: %s",
            (int) ah_count(r->map, "documents"), ah_show(r->map));
    ah_reply_destroy(&r);
    //  The broker stored exactly the two: two accepted entries, both A's,
    //  for these ids, and nothing in anyone else's name.
    th_json_t *list = s_audit_show(th, NULL);
    size_t accepted = s_audit_matches(list, "accepted", NULL, NULL);
    size_t of_a = s_audit_matches(list, "accepted", th_code(TH_A), NULL);
    bool ids_ok = true;
    for (size_t i = 0; i < list->count; i++)
        if (s_entry_is(list->items[i], "accepted", NULL, NULL))
            ids_ok = ids_ok && (strcmp(th_json_text(list->items[i], "id"), legit[0]) == 0 ||
                                strcmp(th_json_text(list->items[i], "id"), legit[1]) == 0);
    th_json_free(&list);
    th_soft(th, accepted == 2 && of_a == 2 && ids_ok,
            "the broker's audit has %zu accepted entries (%zu of A), expected exactly the two "
            "legitimate documents",
            accepted, of_a);
    s_counters_t now;
    s_counters(th, &now);
    th_soft(th, now.accepted == 2 && now.rejected == 0,
            "status: accepted %llu rejected %llu, expected 2 and 0",
            (unsigned long long) now.accepted, (unsigned long long) now.rejected);
    s_audit_verify(th);

    th_soft_done(th);
    ah_agent_stop(a);
    ah_agent_stop(b);
    ah_broker_stop(env);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  Files: what a DMS (or any local user of a loopback API) may make the
//  agent read and sign away, or overwrite (agent/files.h).

static void s_put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    th_check(f && fputs(text, f) >= 0 && fclose(f) == 0, "cannot write %s", path);
}

static void s_mkdir(const char *path)
{
    th_check(mkdir(path, 0750) == 0, "mkdir %s: %s", path, strerror(errno));
}

//  The whole content of a small file, in a static buffer ("" if missing).
static const char *s_slurp(const char *path)
{
    static char text[256];
    text[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    return text;
}

//  Start (or restart) a with a config file holding only api.allowed_dirs.
static void s_agent_allowed(ah_env_t *env, ah_agent_t *a, const char *allowed, bool restart)
{
    char cfg[TH_PATH_MAX + 32], text[2 * TH_PATH_MAX + 64];
    snprintf(cfg, sizeof cfg, "%s/allowed.conf", env->th->root);
    snprintf(text, sizeof text, "[api]\nallowed_dirs = %s\n", allowed);
    s_put(cfg, text);
    ah_agent_set_config(a, cfg);
    if (restart)
        ah_agent_stop(a);
    ah_agent_start(a);
    ah_wait_connected(a, true);
    ah_wait_directory(a);
}

static void s_submit_path(ah_agent_t *a, const char *const *to, const char *path, proto_err_t code,
                          const char *what)
{
    ah_reply_t *r = ah_call(a,
                            "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s "
                            "path:s}]}",
                            "submit", to, (size_t) 1, S_TYPE, "Văn bản kèm tệp", "tep.pdf",
                            "application/pdf", path);
    if (code == PROTO_OK)
        ah_expect_ok(r, what);
    else
        ah_expect_error(r, code, "attachments[0]", what);
    ah_reply_destroy(&r);
}

static bool s_inbox_has_five(const ah_reply_t *reply, void *arg)
{
    (void) arg;
    return ah_count(reply->map, "documents") >= 5;
}

static void test_attachment_paths(void **state)
{
    ah_env_t *env = *state;
    th_env_t *th = env->th;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_new(env, TH_A, NULL, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    const char *to_b[] = { th_code(TH_B) };
    char out[TH_PATH_MAX + 16], path[3 * TH_PATH_MAX], secret[TH_PATH_MAX + 64];
    snprintf(out, sizeof out, "%s/out", th->root);
    snprintf(secret, sizeof secret, "%s/%s.secret", th->keys, th_code(TH_A));
    s_mkdir(out);
    s_agent_allowed(env, a, out, false);

    //  A file in the allowed directory is sent.
    snprintf(path, sizeof path, "%s/cong-van.pdf", out);
    s_put(path, "%PDF-1.4 công văn");
    s_submit_path(a, to_b, path, PROTO_OK, "a file in api.allowed_dirs");
    //  Outside it: the agency's own key, a system file.
    s_submit_path(a, to_b, secret, PROTO_ERR_NOT_AUTHORIZED, "the agency's secret key");
    s_submit_path(a, to_b, "/etc/passwd", PROTO_ERR_NOT_AUTHORIZED, "/etc/passwd");
    //  Tricks on the text of the path.
    snprintf(path, sizeof path, "%s/../keys/%s.secret", out, th_code(TH_A));
    s_submit_path(a, to_b, path, PROTO_ERR_VALUE, "a .. component");
    s_submit_path(a, to_b, "out/cong-van.pdf", PROTO_ERR_VALUE, "a relative path");
    //  Symlinks below the allowed directory: to the key, to its folder.
    snprintf(path, sizeof path, "%s/link.pdf", out);
    th_check(symlink(secret, path) == 0, "symlink: %s", strerror(errno));
    s_submit_path(a, to_b, path, PROTO_ERR_NOT_AUTHORIZED, "a symlink to the secret key");
    snprintf(path, sizeof path, "%s/keys", out);
    th_check(symlink(th->keys, path) == 0, "symlink: %s", strerror(errno));
    snprintf(path, sizeof path, "%s/keys/%s.secret", out, th_code(TH_A));
    s_submit_path(a, to_b, path, PROTO_ERR_NOT_AUTHORIZED, "through a symlinked folder");
    //  A hard link to the key inside the allowed directory is still the key.
    snprintf(path, sizeof path, "%s/hard.pdf", out);
    th_check(link(secret, path) == 0, "link: %s", strerror(errno));
    s_submit_path(a, to_b, path, PROTO_ERR_NOT_AUTHORIZED, "a hard link to the secret key");
    //  Not regular files: refused at once, never waited on.
    snprintf(path, sizeof path, "%s/fifo", out);
    th_check(mkfifo(path, 0600) == 0, "mkfifo: %s", strerror(errno));
    s_submit_path(a, to_b, path, PROTO_ERR_IO, "a FIFO");
    snprintf(path, sizeof path, "%s/folder", out);
    s_mkdir(path);
    s_submit_path(a, to_b, path, PROTO_ERR_IO, "a directory");
    th_soft(th, ah_events_count(a, "api.denied", "field", "attachments[0]", NULL) == 5,
            "%zu api.denied events for attachment paths, expected 5",
            ah_events_count(a, "api.denied", "field", "attachments[0]", NULL));

    //  Even where the operator allows the keys folder and the whole test
    //  root, the key and the data directory are refused.
    snprintf(path, sizeof path, "%s:%s", th->keys, th->root);
    s_agent_allowed(env, a, path, true);
    s_submit_path(a, to_b, secret, PROTO_ERR_NOT_AUTHORIZED, "the key in an allowed folder");
    snprintf(path, sizeof path, "%s/data.mdb", ah_agent_data(a));
    s_submit_path(a, to_b, path, PROTO_ERR_NOT_AUTHORIZED, "the agent's store");
    snprintf(path, sizeof path, "%s/%s.public", th->keys, th_code(TH_A));
    s_submit_path(a, to_b, path, PROTO_OK, "a public file beside the key");

    //  An allowed directory named through a symlink (a mount point, say)
    //  holds the files under both its names; below it nothing is followed.
    char outlink[TH_PATH_MAX + 16];
    snprintf(outlink, sizeof outlink, "%s/outlink", th->root);
    th_check(symlink(out, outlink) == 0, "symlink: %s", strerror(errno));
    s_agent_allowed(env, a, outlink, true);
    snprintf(path, sizeof path, "%s/cong-van.pdf", outlink);
    s_submit_path(a, to_b, path, PROTO_OK, "through the allowed directory's own symlink");
    snprintf(path, sizeof path, "%s/cong-van.pdf", out);
    s_submit_path(a, to_b, path, PROTO_OK, "by the allowed directory's resolved name");
    snprintf(path, sizeof path, "%s/link.pdf", outlink);
    s_submit_path(a, to_b, path, PROTO_ERR_NOT_AUTHORIZED, "a symlink below it");

    //  Empty api.allowed_dirs: only the exchange folder beside the data one.
    s_agent_allowed(env, a, "", true);
    snprintf(path, sizeof path, "%s/cong-van.pdf", out);
    s_submit_path(a, to_b, path, PROTO_ERR_NOT_AUTHORIZED, "outside the default exchange");
    snprintf(path, sizeof path, "%s/exchange", th->root);
    s_mkdir(path);
    snprintf(path, sizeof path, "%s/exchange/cong-van.pdf", th->root);
    s_put(path, "%PDF-1.4 trao đổi");
    s_submit_path(a, to_b, path, PROTO_OK, "in the default exchange folder");

    //  B received exactly the five documents that were allowed.
    ah_reply_t *r = ah_call(a, "{cmd:s limit:i}", "sent", 50);
    ah_expect_ok(r, "sent");
    th_soft(th, ah_count(r->map, "documents") == 5, "sent lists %d documents, expected 5",
            (int) ah_count(r->map, "documents"));
    ah_reply_destroy(&r);
    r = ah_poll(b, s_inbox_has_five, NULL, "B's inbox: five documents", "{cmd:s limit:i}", "inbox",
                50);
    th_soft(th, ah_count(r->map, "documents") == 5, "B's inbox holds %d documents, expected 5",
            (int) ah_count(r->map, "documents"));
    ah_reply_destroy(&r);
    th_soft_done(th);
    ah_agent_stop(a);
    ah_agent_stop(b);
    ah_broker_stop(env);
    ah_pass(env);
}

static void s_fetch(ah_agent_t *b, const char *id, const char *dir, proto_err_t code,
                    const char *what)
{
    ah_reply_t *r = ah_call(b, "{cmd:s id:s dir:s}", "fetch", id, dir);
    if (code == PROTO_OK)
        ah_expect_ok(r, what);
    else
        ah_expect_error(r, code, "dir", what);
    ah_reply_destroy(&r);
}

static void test_fetch_symlinks(void **state)
{
    ah_env_t *env = *state;
    th_env_t *th = env->th;
    char in[TH_PATH_MAX + 16], victim_dir[TH_PATH_MAX + 16], victim[TH_PATH_MAX + 32];
    char set[TH_PATH_MAX + 64], d[TH_PATH_MAX + 32], p[TH_PATH_MAX + 128];
    snprintf(in, sizeof in, "%s/in", th->root);
    snprintf(victim_dir, sizeof victim_dir, "%s/victim", th->root);
    snprintf(victim, sizeof victim, "%s/victim/qd.pdf", th->root);
    s_mkdir(in);
    s_mkdir(victim_dir);
    s_put(victim, "original");
    snprintf(set, sizeof set, "api.allowed_dirs=%s", in);
    const char *sets[] = { set, NULL };
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, sets);
    ah_wait_directory(a);
    const char *to_b[] = { th_code(TH_B) };
    static const char content[] = "%PDF-1.4 quyết định";
    ah_reply_t *r = ah_call(a,
                            "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s "
                            "data:x}]}",
                            "submit", to_b, (size_t) 1, S_TYPE, "Quyết định", "qd.pdf",
                            "application/pdf", content, sizeof content - 1);
    ah_expect_ok(r, "submit");
    char id[PROTO_ID_TEXT_LEN];
    snprintf(id, sizeof id, "%s", ah_str(r->map, "id"));
    ah_reply_destroy(&r);
    ah_events_wait(b, "inbox.new", "id", id, NULL);

    //  DIR/<id> is a symlink to the victim's folder.
    snprintf(d, sizeof d, "%s/d1", in);
    s_mkdir(d);
    snprintf(p, sizeof p, "%s/%s", d, id);
    th_check(symlink(victim_dir, p) == 0, "symlink: %s", strerror(errno));
    s_fetch(b, id, d, PROTO_ERR_NOT_AUTHORIZED, "DIR/<id> a symlink");
    //  DIR/<id>/<name> is a symlink to the victim's file.
    snprintf(d, sizeof d, "%s/d2", in);
    s_mkdir(d);
    snprintf(p, sizeof p, "%s/%s", d, id);
    s_mkdir(p);
    snprintf(p, sizeof p, "%s/%s/qd.pdf", d, id);
    th_check(symlink(victim, p) == 0, "symlink: %s", strerror(errno));
    s_fetch(b, id, d, PROTO_ERR_NOT_AUTHORIZED, "DIR/<id>/<name> a symlink");
    //  DIR itself is a symlink below the allowed directory.
    snprintf(d, sizeof d, "%s/d3", in);
    th_check(symlink(victim_dir, d) == 0, "symlink: %s", strerror(errno));
    s_fetch(b, id, d, PROTO_ERR_NOT_AUTHORIZED, "DIR a symlink");
    snprintf(p, sizeof p, "%s/%s", victim_dir, id);
    th_soft(th, access(p, F_OK) != 0, "fetch created %s through a symlink", p);
    //  Outside the allowed directory.
    s_fetch(b, id, victim_dir, PROTO_ERR_NOT_AUTHORIZED, "DIR outside api.allowed_dirs");
    th_soft(th, strcmp(s_slurp(victim), "original") == 0, "the victim file now holds '%s'",
            s_slurp(victim));

    //  A plain folder works, twice (the second replaces the first), and
    //  leaves no temporary file behind.
    snprintf(d, sizeof d, "%s/d4/deeper", in);
    s_fetch(b, id, d, PROTO_OK, "a plain folder");
    s_fetch(b, id, d, PROTO_OK, "the same folder again");
    snprintf(p, sizeof p, "%s/%s/qd.pdf", d, id);
    th_soft(th, strcmp(s_slurp(p), content) == 0, "%s holds '%s'", p, s_slurp(p));
    snprintf(p, sizeof p, "%s/%s", d, id);
    DIR *dir = opendir(p);
    size_t entries = 0;
    for (struct dirent *e; dir && (e = readdir(dir)) != NULL;)
        entries += e->d_name[0] != '.';
    size_t hidden = 0;
    if (dir) {
        rewinddir(dir);
        for (struct dirent *e; (e = readdir(dir)) != NULL;)
            hidden += strncmp(e->d_name, ".truc-", 6) == 0;
        closedir(dir);
    }
    th_soft(th, entries == 1 && hidden == 0, "%s holds %zu files and %zu temporary ones", p,
            entries, hidden);
    th_soft(th, ah_events_count(b, "api.denied", "field", "dir", NULL) == 4,
            "%zu api.denied events for fetch folders, expected 4",
            ah_events_count(b, "api.denied", "field", "dir", NULL));
    th_soft_done(th);
    ah_agent_stop(a);
    ah_agent_stop(b);
    ah_broker_stop(env);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  Local services on the network: the agent's events (senders, subjects)
//  and the broker's admin socket (suspend, revoke; no authentication).

//  True if something accepts TCP connections on 127.0.0.1:port.
static bool s_listening(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    th_check(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool up = connect(fd, (struct sockaddr *) &addr, sizeof addr) == 0;
    close(fd);
    return up;
}

//  Run truc-agent for agency A with one more --set; it must refuse to start
//  and name the option.
static void s_agent_refuses(ah_env_t *env, const char *set, const char *option)
{
    th_env_t *th = env->th;
    char key[TH_PATH_MAX + 32], data[TH_PATH_MAX + 32], out[4096];
    snprintf(key, sizeof key, "%s/%s.secret", th->keys, th_code(TH_A));
    snprintf(data, sizeof data, "%s/agent-refused", th->root);
    th_check(mkdir(data, 0700) == 0 || errno == EEXIST, "mkdir %s", data);
    const char *args[] = { "--identity",
                           key,
                           "--data-dir",
                           data,
                           "--broker",
                           "tcp://127.0.0.1:9",
                           "--broker-key",
                           env->broker_public,
                           "--set",
                           set,
                           NULL };
    int status = ah_run(env, args, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) != 0 && th_contains(out, option),
             "truc-agent with %s: exit status %d, expected a refusal naming %s:\n%s", set,
             WIFEXITED(status) ? WEXITSTATUS(status) : -1, option, out);
}

static void test_local_endpoints(void **state)
{
    ah_env_t *env = *state;
    th_env_t *th = env->th;
    int port = th_port_outside_ephemeral();
    th_check(port > 0, "no free port");
    char set[128];

    //  The events endpoint on every interface, or on a host's address.
    snprintf(set, sizeof set, "api.events_endpoint=tcp://0.0.0.0:%d", port);
    s_agent_refuses(env, set, "api.events_endpoint");
    snprintf(set, sizeof set, "api.events_endpoint=tcp://*:%d", port);
    s_agent_refuses(env, set, "api.events_endpoint");
    snprintf(set, sizeof set, "api.endpoint=tcp://127.0.0.1.nip.io:%d", port);
    s_agent_refuses(env, set, "api.endpoint");
    th_check(!s_listening(port), "something listens on port %d after the refusals", port);

    //  The broker's admin socket likewise, before it binds anything.
    snprintf(set, sizeof set, "network.admin_endpoint=tcp://0.0.0.0:%d", port);
    const char *args[] = { "--config", th->config, "--set", set, NULL };
    int index = th_spawn(th, args);
    int status = 0;
    if (!th_wait_exit(th, index, TH_START_TIMEOUT_MS, &status)) {
        kill(th->procs[index], SIGKILL);
        th_wait_exit(th, index, TH_STOP_TIMEOUT_MS, NULL);
        th_check(false, "truc-broker started with %s", set);
    }
    static char log[64 * 1024];
    th_read_file(th->logs[index], log, sizeof log);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
                 th_contains(log, "network.admin_endpoint"),
             "truc-broker with %s: expected a refusal naming the option:\n%s", set, log);
    th_check(!s_listening(port), "something listens on port %d after the broker's refusal", port);

    //  On loopback both work: a subscriber on this host gets the events.
    snprintf(set, sizeof set, "api.events_endpoint=tcp://127.0.0.1:%d", port);
    const char *sets[] = { set, NULL };
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, sets);
    th_check(s_listening(port), "the agent's events are not on 127.0.0.1:%d", port);
    ah_agent_stop(a);
    ah_broker_stop(env);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  10. Revocation is final. An intruder who can write the directory file
//  edits a revoked agency back to active, with the same serial and with a
//  new one, and sends SIGHUP; or puts back an older file. Each reload is
//  refused and audited, the agency stays refused, and a reload that is
//  allowed leaves one audit entry per agency it changed.

//  Rewrite the directory file as an editor would: the `state` line in the
//  section of `code` (if not NULL) and the `serial` line.
static void s_dir_rewrite(th_env_t *env, const char *code, const char *state, uint64_t serial)
{
    static char text[1 << 16], out[1 << 16];
    th_check(th_read_file(env->dirfile, text, sizeof text), "read %s", env->dirfile);
    char section[64] = "";
    size_t n = 0;
    for (char *line = text; *line;) {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t) (end - line) : strlen(line);
        int w;
        if (line[0] == '[')
            snprintf(section, sizeof section, "%.*s", (int) len, line);
        char want[64];
        snprintf(want, sizeof want, "[%s]", code ? code : "");
        if (strncmp(line, "serial =", 8) == 0)
            w = snprintf(out + n, sizeof out - n, "serial = %llu\n", (unsigned long long) serial);
        else if (code && strcmp(section, want) == 0 && strncmp(line, "state =", 7) == 0)
            w = snprintf(out + n, sizeof out - n, "state = %s\n", state);
        else
            w = snprintf(out + n, sizeof out - n, "%.*s\n", (int) len, line);
        th_check(w > 0 && (size_t) w < sizeof out - n, "directory file too large");
        n += (size_t) w;
        line += len + (end != NULL);
    }
    char tmp[TH_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.new", env->dirfile);
    FILE *f = fopen(tmp, "w");
    th_check(f && fwrite(out, 1, n, f) == n && fclose(f) == 0, "write %s", tmp);
    th_check(rename(tmp, env->dirfile) == 0, "rename %s", tmp);
}

static uint64_t s_dir_serial(th_env_t *env)
{
    char err[256] = "";
    proto_directory_t *dir = NULL;
    proto_err_t rc = proto_directory_load(env->dirfile, &dir, err, sizeof err);
    th_check(rc == PROTO_OK, "load %s: %s %s", env->dirfile, proto_errname(rc), err);
    uint64_t serial = proto_directory_serial(dir);
    proto_directory_destroy(&dir);
    return serial;
}

//  A new session of who must be refused at the handshake: HELLO gets nothing.
static void s_still_refused(th_env_t *env, th_agency_t who, const char *what)
{
    truc_client_t *c = th_client(env, who, 4);
    proto_err_t rc = truc_client_hello(c, 3000, NULL);
    th_soft(env, rc == PROTO_ERR_TIMEOUT, "%s: a new session of %s: HELLO got %s (%s)", what,
            th_code(who), rc ? proto_errname(rc) : "READY", truc_client_error_text(c));
    th_drop(env, &c);
}

//  truc-broker must refuse to start, naming code in its log.
static void s_refused_start(th_env_t *env, const char *code, const char *what)
{
    const char *args[] = { "--config", env->config, NULL };
    int index = th_spawn(env, args);
    int status = 0;
    if (!th_wait_exit(env, index, TH_START_TIMEOUT_MS, &status)) {
        kill(env->procs[index], SIGKILL);
        th_wait_exit(env, index, TH_STOP_TIMEOUT_MS, NULL);
        th_check(false, "%s: truc-broker did not refuse to start", what);
    }
    char st[64], log[8192] = "";
    th_read_file(env->logs[index], log, sizeof log);
    th_soft(env, WIFEXITED(status) && WEXITSTATUS(status) != 0 && strstr(log, code) != NULL,
            "%s: truc-broker ended with %s; expected a refusal naming %s; its log: %s", what,
            th_status_text(status, st, sizeof st), code, log);
}

static void test_revocation_final(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    const th_agency_t to_c[] = { TH_C };
    th_json_t *json =
        th_admin_json(env, (const char *const[]){ "agency", "revoke", th_code(TH_C), NULL }, 0);
    th_json_free(&json);
    uint64_t serial = s_dir_serial(env);

    //  Back to active with the serial in force, then with a new one: both
    //  refused, and said so in the audit chain.
    s_dir_rewrite(env, th_code(TH_C), "active", serial);
    th_check(kill(env->pid, SIGHUP) == 0, "kill SIGHUP");
    s_audit_wait(env, NULL, "admin", "", "directory reload refused: serial",
                 "C active again under the same serial");
    s_still_refused(env, TH_C, "C active again under the same serial");
    s_dir_rewrite(env, th_code(TH_C), "active", serial + 1);
    th_check(kill(env->pid, SIGHUP) == 0, "kill SIGHUP");
    s_audit_wait(env, NULL, "admin", "", "revocation is final", "C active again, serial + 1");
    s_still_refused(env, TH_C, "C active again, serial + 1");
    //  The same through truc-admin: refused with the code.
    json = th_admin_json(env, (const char *const[]){ "directory", "reload", NULL }, 2);
    uint64_t code = 0;
    th_soft(env,
            th_json_flag(json, "ok") == 0 && th_json_uint(json, "code", &code) &&
                code == PROTO_ERR_AGENCY_REVOKED,
            "directory reload of C active again: ok %d code %llu, expected %d",
            th_json_flag(json, "ok"), (unsigned long long) code, PROTO_ERR_AGENCY_REVOKED);
    th_json_free(&json);
    //  A document for C is still refused with ERR_AGENCY_REVOKED.
    truc_doc_t *to_revoked = s_doc(env, TH_A, to_c, 1, 1, 200);
    s_submit_rejected(env, a, to_revoked, PROTO_ERR_AGENCY_REVOKED,
                      "a document to C after the refused reloads");

    //  An older serial, C revoked but D suspended: refused, D still served.
    s_dir_rewrite(env, th_code(TH_C), "revoked", serial);
    s_dir_rewrite(env, th_code(TH_D), "suspended", 1);
    json = th_admin_json(env, (const char *const[]){ "directory", "reload", NULL }, 2);
    th_soft(env, th_json_uint(json, "code", &code) && code == PROTO_ERR_BAD_STATE,
            "directory reload of serial 1: code %llu, expected %d", (unsigned long long) code,
            PROTO_ERR_BAD_STATE);
    th_json_free(&json);
    truc_client_t *d = th_connect(env, TH_D, 4, NULL);
    th_drop(env, &d);

    //  The same change under a new serial applies, and is audited: the
    //  serials and D's change.
    s_dir_rewrite(env, th_code(TH_D), "suspended", serial + 1);
    th_check(kill(env->pid, SIGHUP) == 0, "kill SIGHUP");
    char serials[96];
    snprintf(serials, sizeof serials, "serial %llu -> %llu, 1 agencies changed",
             (unsigned long long) serial, (unsigned long long) serial + 1);
    s_audit_wait(env, NULL, "admin", "", serials, "the reload that suspends D");
    s_audit_wait(env, NULL, "admin", th_code(TH_D), "state active -> suspended",
                 "the reload that suspends D");
    s_still_refused(env, TH_D, "D suspended by the allowed reload");
    s_still_refused(env, TH_C, "C after the allowed reload");
    s_audit_verify(env);
    truc_doc_destroy(&to_revoked);
    th_soft_done(env);
    th_broker_stop(env);

    //  Nor does a restart undo it: the broker refuses to start with C
    //  active under a new serial, or with an older serial.
    s_dir_rewrite(env, th_code(TH_C), "active", serial + 5);
    s_refused_start(env, "ERR_AGENCY_REVOKED", "a restart with C active again");
    s_dir_rewrite(env, th_code(TH_C), "revoked", serial);
    s_refused_start(env, "ERR_BAD_STATE", "a restart with an older serial");
    s_dir_rewrite(env, th_code(TH_C), "revoked", serial + 1);
    th_broker_start(env, NULL);
    s_still_refused(env, TH_C, "C after a restart");
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------

#define S_TEST(f)       cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)
#define S_AGENT_TEST(f) cmocka_unit_test_setup_teardown(f, ah_setup, ah_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_security", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_ADMIN", &th_admin_path, "TRUC_AGENT",
                           &ah_agent_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_no_curve),
        S_TEST(test_unknown_key),
        S_TEST(test_revoked_key),
        S_TEST(test_suspended_key),
        S_TEST(test_sender_forgery),
        S_TEST(test_tampered_attachment),
        S_TEST(test_bad_signature),
        S_TEST(test_replay),
        S_TEST(test_replay_notice_id),
        S_TEST(test_foreign_ack),
        S_AGENT_TEST(test_agent_impersonation),
        S_AGENT_TEST(test_attachment_paths),
        S_AGENT_TEST(test_fetch_symlinks),
        S_AGENT_TEST(test_local_endpoints),
        S_TEST(test_revocation_final),
    };
    return th_run_tests("test_security", "truc security", tests, sizeof tests / sizeof tests[0],
                        filter);
}
