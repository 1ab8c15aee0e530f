/*  tests/broker/test_broker.c - integration tests of the real truc-broker.

    Each test starts truc-broker on a fresh temporary data directory (see
    harness.h), talks to it through tests/lib/truc_client.h exactly as
    agents would, and checks outcomes on the wire and on disk against
    proto/PROTOCOL.md: receipts verify with the right keys, documents arrive
    intact and in order, windows are respected, nothing accepted is lost
    across kill -9, refusals to start are clear, and hostile bytes are
    survived. No assertion depends on speed: waits have generous deadlines,
    and "nothing more arrives" is checked by listening for TH_QUIET_MS.

    Usage: test_broker TRUC_BROKER TRUC_KEYS [TEST_NAME]
    (or TRUC_BROKER and TRUC_KEYS in the environment). With TEST_NAME only
    that test runs; ctest registers each test on its own.
*/
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

#include "expect.h"
#include "harness.h"
#include "proto/merkle.h"
#include "proto/sign.h"
#include "truc_client.h"

#define S_SUBJECT "Về việc thử nghiệm trục liên thông văn bản điện tử"
#define S_TYPE    "Công văn"

// ---------------------------------------------------------------------------
//  Helpers

//  A document from `from` to the given agencies with natt random
//  attachments of about size bytes each.
static truc_doc_t *s_doc(th_env_t *env, th_agency_t from, const th_agency_t *to, uint32_t nto,
                         uint8_t urgency, uint32_t natt, size_t size)
{
    const char *codes[8];
    truc_att_t att[4];
    uint8_t *bytes[4] = { NULL };
    char names[4][32];
    th_check(nto <= 8 && natt <= 4, "s_doc: too many recipients or attachments");
    for (uint32_t i = 0; i < nto; i++)
        codes[i] = th_code(to[i]);
    for (uint32_t i = 0; i < natt; i++) {
        size_t len = size + i * 7; // sizes differ, so a swapped frame is noticed
        bytes[i] = malloc(len + 1);
        th_check(bytes[i] != NULL, "out of memory");
        randombytes_buf(bytes[i], len);
        snprintf(names[i], sizeof names[i], "phu-luc-%u.pdf", i + 1);
        att[i] = (truc_att_t){ names[i], "application/pdf", bytes[i], len };
    }
    truc_doc_t *doc =
        truc_doc_build(env->agency[from], codes, nto, S_SUBJECT, S_TYPE, urgency, att, natt);
    for (uint32_t i = 0; i < natt; i++)
        free(bytes[i]);
    th_check(doc != NULL, "truc_doc_build failed");
    return doc;
}

static void s_id_text(const proto_id_t *id, char out[PROTO_ID_TEXT_LEN])
{
    proto_id_format(id, out);
}

static bool s_id_eq(const proto_id_t *x, const proto_id_t *y)
{
    return memcmp(x->bytes, y->bytes, PROTO_ID_LEN) == 0;
}

//  Canonical bytes of two documents are equal: the same signed content.
static bool s_same_doc(const proto_doc_t *x, const proto_doc_t *y)
{
    proto_buf_t bx, by;
    proto_buf_init(&bx);
    proto_buf_init(&by);
    bool same = proto_doc_canonical(x, &bx) == PROTO_OK &&
                proto_doc_canonical(y, &by) == PROTO_OK && bx.len == by.len &&
                memcmp(bx.data, by.data, bx.len) == 0;
    proto_buf_free(&bx);
    proto_buf_free(&by);
    return same;
}

//  What makes one receipt, digested in three parts: the signed head with
//  its signature, the leaf, and the proof (index and path). Two receipts are
//  identical if all three are.
typedef struct {
    uint8_t head[PROTO_HASH_LEN];  // canonical head and signature
    uint8_t leaf[PROTO_HASH_LEN];  // canonical leaf
    uint8_t proof[PROTO_HASH_LEN]; // index and audit path
} s_receipt_digest_t;

static void s_receipt_digest(const proto_msg_t *bundle, const proto_item_t *item,
                             s_receipt_digest_t *out)
{
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
static const char *s_receipt_diff(const s_receipt_digest_t *x, const s_receipt_digest_t *y,
                                  char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s", memcmp(x->head, y->head, PROTO_HASH_LEN) ? " head/sig" : "",
             memcmp(x->leaf, y->leaf, PROTO_HASH_LEN) ? " leaf" : "",
             memcmp(x->proof, y->proof, PROTO_HASH_LEN) ? " index/path" : "");
    return buf;
}

//  Submit a document and require ACCEPTED: a bundle signed by the broker
//  whose item for it verifies and names the document. Returns the bundle.
static proto_msg_t *s_submit_accepted(th_env_t *env, truc_client_t *c, const truc_doc_t *doc)
{
    proto_err_t rc = truc_client_submit(c, doc);
    th_check(rc == PROTO_OK, "submit: %s (%s)", proto_errname(rc), truc_client_error_text(c));
    proto_msg_t *msg = th_answer(c, truc_doc_id(doc), TH_RECV_TIMEOUT_MS);
    char what[400];
    th_check(msg && msg->kind == PROTO_KIND_ACCEPTED, "submit answered with %s, expected ACCEPTED",
             truc_msg_describe(msg, NULL, what, sizeof what));
    rc = truc_receipts_verify(msg, th_hub_sign_pk(env));
    th_check(rc == PROTO_OK, "ACCEPTED does not verify with the broker key: %s", proto_errname(rc));
    th_check(strcmp(msg->u.receipts.head.signer, "hub") == 0, "ACCEPTED signed by '%s'",
             msg->u.receipts.head.signer);
    const proto_item_t *item = truc_receipts_find(msg, truc_doc_id(doc));
    uint8_t hash[PROTO_HASH_LEN];
    th_check(truc_doc_hash(doc, hash) == PROTO_OK, "hash");
    th_check(item->leaf.event == PROTO_EVENT_ACCEPTED, "leaf event %u", item->leaf.event);
    th_check(memcmp(item->leaf.hash, hash, PROTO_HASH_LEN) == 0,
             "ACCEPTED leaf hash is not the content hash");
    th_check(strcmp(item->leaf.from, truc_doc_cmsg(doc)->u.document.doc.from) == 0,
             "ACCEPTED leaf from %s", item->leaf.from);
    th_check(item->leaf.seq >= 1, "ACCEPTED leaf without seq");
    th_check(item->leaf.code == 0, "ACCEPTED leaf with code %u", item->leaf.code);
    return msg;
}

//  Receive one DELIVER (with its frames) on c, failing the test otherwise.
static proto_msg_t *s_deliver(truc_client_t *c, truc_frames_t **frames, int timeout_ms)
{
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv_kind(c, PROTO_KIND_DELIVER, timeout_ms, &msg, frames);
    th_check(rc == PROTO_OK, "%s: expected DELIVER: %s (%s)", truc_client_agency(c),
             proto_errname(rc), truc_client_error_text(c));
    return msg;
}

//  Listen for TH_QUIET_MS and require that nothing arrives (HEARTBEAT and
//  DIRECTORY are not counted: the client keeps them aside).
static void s_quiet(truc_client_t *c, const char *what)
{
    proto_msg_t *msg = NULL;
    proto_err_t rc = truc_client_recv(c, TH_QUIET_MS, &msg, NULL);
    char text[400];
    th_check(rc == PROTO_ERR_TIMEOUT, "%s: %s received %s (%s)", what, truc_client_agency(c),
             rc ? proto_errname(rc) : truc_msg_describe(msg, NULL, text, sizeof text),
             truc_client_error_text(c));
}

//  Receive routed DELIVERED bundles on c until every (document, recipient)
//  pair in want is covered; check each with the recipient's directory key
//  and ACK their mids.
static void s_collect_delivered(th_env_t *env, truc_client_t *c, const truc_doc_t *const *docs,
                                size_t ndocs, const th_agency_t *to, size_t nto)
{
    bool seen[256][4];
    th_check(ndocs <= 256 && nto <= 4, "s_collect_delivered: too many");
    memset(seen, 0, sizeof seen);
    size_t missing = ndocs * nto;
    while (missing) {
        proto_msg_t *msg = NULL;
        proto_err_t rc =
            truc_client_recv_kind(c, PROTO_KIND_DELIVERED, TH_RECV_TIMEOUT_MS, &msg, NULL);
        th_check(rc == PROTO_OK, "%s: %zu delivery receipt(s) missing: %s (%s)",
                 truc_client_agency(c), missing, proto_errname(rc), truc_client_error_text(c));
        const proto_receipts_t *r = &msg->u.receipts;
        th_check(r->mid >= 1, "routed DELIVERED without mid");
        const proto_directory_entry_t *signer = proto_directory_find(env->dir, r->head.signer);
        th_check(signer != NULL, "DELIVERED signed by unknown '%s'", r->head.signer);
        rc = truc_receipts_verify(msg, signer->sign_pk);
        th_check(rc == PROTO_OK, "DELIVERED from %s does not verify with its key: %s",
                 r->head.signer, proto_errname(rc));
        size_t t = 0;
        while (t < nto && strcmp(th_code(to[t]), r->head.signer) != 0)
            t++;
        th_check(t < nto, "DELIVERED signed by %s, not a recipient", r->head.signer);
        for (uint32_t i = 0; i < r->nitems; i++) {
            const proto_leaf_t *leaf = &r->items[i].leaf;
            th_check(strcmp(leaf->from, truc_client_agency(c)) == 0,
                     "%s received a receipt for a document from %s", truc_client_agency(c),
                     leaf->from);
            th_check(leaf->event == PROTO_EVENT_DELIVERED, "DELIVERED leaf event %u", leaf->event);
            th_check(leaf->to && strcmp(leaf->to, r->head.signer) == 0,
                     "DELIVERED leaf to %s, signer %s", leaf->to ? leaf->to : "(none)",
                     r->head.signer);
            size_t d = 0;
            while (d < ndocs && !s_id_eq(&leaf->id, truc_doc_id(docs[d])))
                d++;
            if (d == ndocs)
                continue; // a receipt for an earlier document of the test
            uint8_t hash[PROTO_HASH_LEN];
            th_check(truc_doc_hash(docs[d], hash) == PROTO_OK, "hash");
            th_check(memcmp(hash, leaf->hash, PROTO_HASH_LEN) == 0,
                     "DELIVERED leaf hash is not the content hash");
            if (!seen[d][t]) {
                seen[d][t] = true;
                missing--;
            }
        }
        rc = truc_client_ack(c, &r->mid, 1);
        th_check(rc == PROTO_OK, "ACK: %s", proto_errname(rc));
        proto_msg_destroy(&msg);
    }
}

//  Check one DELIVER against the document that was submitted: same signed
//  content and signature, same attachment bytes, signature valid with the
//  sender's directory key, hashes right, acceptance data as in ACCEPTED.
static void s_check_deliver(th_env_t *env, const proto_msg_t *msg, const truc_frames_t *frames,
                            const truc_doc_t *doc, const proto_item_t *accepted)
{
    const proto_document_t *got = &msg->u.document;
    const proto_document_t *sent = &truc_doc_cmsg(doc)->u.document;
    char id[PROTO_ID_TEXT_LEN];
    s_id_text(&got->doc.id, id);
    th_check(s_id_eq(&got->doc.id, &sent->doc.id), "DELIVER of %s, another document", id);
    th_check(s_same_doc(&got->doc, &sent->doc), "DELIVER %s: envelope differs from the submitted",
             id);
    th_check(memcmp(got->sig, sent->sig, PROTO_SIG_LEN) == 0, "DELIVER %s: signature differs", id);
    const proto_directory_entry_t *sender = proto_directory_find(env->dir, got->doc.from);
    th_check(sender != NULL, "DELIVER %s from unknown %s", id, got->doc.from);
    th_check(proto_doc_verify(&got->doc, sender->sign_pk, got->sig) == PROTO_OK,
             "DELIVER %s: sender signature does not verify", id);
    th_check(truc_frames_count(frames) == truc_doc_natt(doc), "DELIVER %s: %zu frames for %u", id,
             truc_frames_count(frames), truc_doc_natt(doc));
    for (uint32_t i = 0; i < truc_doc_natt(doc); i++) {
        th_check(truc_frames_size(frames, i) == truc_doc_att_len(doc, i) &&
                     memcmp(truc_frames_data(frames, i), truc_doc_att_data(doc, i),
                            truc_doc_att_len(doc, i)) == 0,
                 "DELIVER %s: attachment %u differs", id, i);
        th_check(proto_attachment_check(&got->doc.att[i], truc_frames_data(frames, i),
                                        truc_frames_size(frames, i)) == PROTO_OK,
                 "DELIVER %s: attachment %u does not match its hash", id, i);
    }
    if (accepted) {
        th_check(got->seq == accepted->leaf.seq, "DELIVER %s: seq %llu, ACCEPTED said %llu", id,
                 (unsigned long long) got->seq, (unsigned long long) accepted->leaf.seq);
        th_check(got->accepted == accepted->leaf.time,
                 "DELIVER %s: accepted %llu, ACCEPTED leaf time %llu", id,
                 (unsigned long long) got->accepted, (unsigned long long) accepted->leaf.time);
    }
}

static void s_ack_one(th_env_t *env, truc_client_t *c, const proto_msg_t *msg,
                      const truc_frames_t *frames)
{
    proto_err_t rc = truc_client_ack_deliveries(c, env->dir, &msg, &frames, 1);
    th_check(rc == PROTO_OK, "DELIVERED: %s (%s)", proto_errname(rc), truc_client_error_text(c));
}

// ---------------------------------------------------------------------------
//  1. Accept and deliver

static void test_accept_deliver(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    proto_msg_t *ready = NULL;
    truc_client_t *a = th_connect(env, TH_A, 16, &ready);
    th_check(ready->u.ready.heartbeat == 60000, "READY heartbeat %u, configured 60s",
             ready->u.ready.heartbeat);
    th_check(ready->u.ready.dir_serial == proto_directory_serial(env->dir),
             "READY dir_serial %llu, the directory file has %llu",
             (unsigned long long) ready->u.ready.dir_serial,
             (unsigned long long) proto_directory_serial(env->dir));
    proto_msg_destroy(&ready);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    truc_client_t *c = th_connect(env, TH_C, 16, NULL);

    const th_agency_t to[] = { TH_B, TH_C };
    truc_doc_t *doc = s_doc(env, TH_A, to, 2, PROTO_URGENCY_URGENT, 2, 100 * 1024);
    proto_msg_t *acc = s_submit_accepted(env, a, doc);
    const proto_item_t *item = truc_receipts_find(acc, truc_doc_id(doc));

    truc_client_t *rcpt[] = { b, c };
    for (int i = 0; i < 2; i++) {
        truc_frames_t *frames = NULL;
        proto_msg_t *msg = s_deliver(rcpt[i], &frames, TH_RECV_TIMEOUT_MS);
        s_check_deliver(env, msg, frames, doc, item);
        s_ack_one(env, rcpt[i], msg, frames);
        proto_msg_destroy(&msg);
        truc_frames_destroy(&frames);
    }
    const truc_doc_t *docs[] = { doc };
    s_collect_delivered(env, a, docs, 1, to, 2);
    th_check(truc_client_ping(a, TH_RECV_TIMEOUT_MS) == PROTO_OK, "ping: %s",
             truc_client_error_text(a));

    //  The DIRECTORY snapshot that follows READY (A sent no dir_serial).
    const proto_msg_t *dir = truc_client_directory(a);
    th_check(dir != NULL, "no DIRECTORY after READY for an agent without a snapshot");
    th_check(proto_directory_verify(&dir->u.directory, th_hub_sign_pk(env), dir->u.directory.sig) ==
                 PROTO_OK,
             "DIRECTORY does not verify with the broker key");
    th_check(dir->u.directory.nentries == proto_directory_count(env->dir),
             "DIRECTORY has %u entries, the file %zu", dir->u.directory.nentries,
             proto_directory_count(env->dir));
    for (uint32_t i = 0; i < dir->u.directory.nentries; i++) {
        const proto_dir_entry_t *e = &dir->u.directory.entries[i];
        const proto_directory_entry_t *f = proto_directory_find(env->dir, e->code);
        th_check(f && memcmp(f->sign_pk, e->key, PROTO_KEY_LEN) == 0 &&
                     e->state == (uint8_t) f->state,
                 "DIRECTORY entry %s differs from the file", e->code);
    }

    //  Acknowledged means gone: new sessions get nothing again.
    th_drop(env, &b);
    b = th_connect(env, TH_B, 16, NULL);
    s_quiet(b, "after DELIVERED, a new session");
    th_drop(env, &a);
    a = th_connect(env, TH_A, 16, NULL);
    s_quiet(a, "after ACK, a new session");

    proto_msg_destroy(&acc);
    truc_doc_destroy(&doc);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  2. Every rejection

//  Expect REJECTED with code for doc (already sent on c).
static void s_expect_rejected(th_env_t *env, truc_client_t *c, const truc_doc_t *doc,
                              proto_err_t code, const char *what)
{
    uint8_t hash[PROTO_HASH_LEN];
    th_check(truc_doc_hash(doc, hash) == PROTO_OK, "hash");
    th_expect_rejected(env, c, truc_doc_id(doc), hash, code, what);
}

//  Expect ERROR with code (and, if fatal >= 0, that fatal flag).
static void s_expect_error(th_env_t *env, truc_client_t *c, proto_err_t code, int fatal,
                           const char *what)
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
    proto_msg_destroy(&msg);
}

//  A wrong frame count with a readable body: PROTOCOL 4.3 makes it a
//  REJECTED ERR_FRAMING (the id can be read), the ERROR form is what a
//  broker answers when it does not look at the body; both name the code.
static void s_expect_framing(th_env_t *env, truc_client_t *c, const truc_doc_t *doc,
                             const char *what)
{
    proto_msg_t *msg = th_answer(c, truc_doc_id(doc), TH_RECV_TIMEOUT_MS);
    char text[400];
    uint32_t code = 0;
    if (msg && msg->kind == PROTO_KIND_ERROR)
        code = msg->u.error.code;
    else if (msg && msg->kind == PROTO_KIND_REJECTED)
        code = truc_receipts_find(msg, truc_doc_id(doc))->leaf.code;
    th_soft(env, code == PROTO_ERR_FRAMING, "%s: answered with %s, expected ERR_FRAMING", what,
            truc_msg_describe(msg, NULL, text, sizeof text));
    proto_msg_destroy(&msg);
}

static void s_send_body(th_env_t *env, truc_client_t *c, int version, int kind, const void *body,
                        size_t len)
{
    uint8_t header[PROTO_HEADER_LEN] = { PROTO_MAGIC0, PROTO_MAGIC1, (uint8_t) version,
                                         (uint8_t) kind };
    const void *frames[2] = { header, body };
    size_t lens[2] = { sizeof header, len };
    proto_err_t rc = truc_client_send_frames(c, frames, lens, 2);
    th_check(rc == PROTO_OK, "send: %s", proto_errname(rc));
    (void) env;
}

//  Encode a HELLO naming agency with the given versions.
static void s_hello_body(const char *agency, const uint8_t *versions, uint32_t n, proto_buf_t *buf)
{
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_HELLO;
    msg.u.hello.versions = (uint8_t *) (uintptr_t) versions;
    msg.u.hello.nversions = n;
    msg.u.hello.agency = agency;
    msg.u.hello.window = 8;
    th_check(proto_msg_encode(&msg, buf, NULL) == PROTO_OK, "HELLO does not encode");
}

static void test_rejections(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    const th_agency_t to_b[] = { TH_B };

    //  Sender field of another agency (signed by that agency).
    truc_doc_t *other = s_doc(env, TH_C, to_b, 1, 0, 1, 100);
    th_check(truc_client_submit(a, other) == PROTO_OK, "send");
    s_expect_rejected(env, a, other, PROTO_ERR_SENDER_MISMATCH, "doc.from of another agency");

    //  Recipients: unknown, suspended, revoked.
    const th_agency_t to_u[] = { TH_B, TH_U };
    const th_agency_t to_s[] = { TH_S };
    const th_agency_t to_r[] = { TH_R };
    truc_doc_t *unknown = s_doc(env, TH_A, to_u, 2, 0, 1, 100);
    th_check(truc_client_submit(a, unknown) == PROTO_OK, "send");
    s_expect_rejected(env, a, unknown, PROTO_ERR_UNKNOWN_AGENCY, "recipient not in directory");
    truc_doc_t *suspended = s_doc(env, TH_A, to_s, 1, 0, 1, 100);
    th_check(truc_client_submit(a, suspended) == PROTO_OK, "send");
    s_expect_rejected(env, a, suspended, PROTO_ERR_AGENCY_SUSPENDED, "suspended recipient");
    truc_doc_t *revoked = s_doc(env, TH_A, to_r, 1, 0, 1, 100);
    th_check(truc_client_submit(a, revoked) == PROTO_OK, "send");
    s_expect_rejected(env, a, revoked, PROTO_ERR_AGENCY_REVOKED, "revoked recipient");

    //  A signature with one bit changed.
    truc_doc_t *badsig = s_doc(env, TH_A, to_b, 1, 0, 1, 100);
    truc_doc_msg(badsig)->u.document.sig[5] ^= 0x20;
    th_check(truc_client_submit(a, badsig) == PROTO_OK, "send");
    s_expect_rejected(env, a, badsig, PROTO_ERR_BAD_SIGNATURE, "bad signature");

    //  Attachment bytes that do not match the signed hash and size.
    truc_doc_t *badatt = s_doc(env, TH_A, to_b, 1, 0, 2, 1000);
    uint8_t *tampered = malloc(truc_doc_att_len(badatt, 1));
    th_check(tampered != NULL, "out of memory");
    memcpy(tampered, truc_doc_att_data(badatt, 1), truc_doc_att_len(badatt, 1));
    tampered[17] ^= 1;
    const void *att[3] = { truc_doc_att_data(badatt, 0), tampered, truc_doc_att_data(badatt, 1) };
    size_t lens[3] = { truc_doc_att_len(badatt, 0), truc_doc_att_len(badatt, 1),
                       truc_doc_att_len(badatt, 1) };
    th_check(truc_client_send(a, truc_doc_cmsg(badatt), att, lens, 2) == PROTO_OK, "send");
    s_expect_rejected(env, a, badatt, PROTO_ERR_HASH_MISMATCH, "attachment byte changed");
    lens[1] -= 1; // the right bytes, one short
    att[1] = truc_doc_att_data(badatt, 1);
    th_check(truc_client_send(a, truc_doc_cmsg(badatt), att, lens, 2) == PROTO_OK, "send");
    s_expect_rejected(env, a, badatt, PROTO_ERR_HASH_MISMATCH, "attachment one byte short");

    //  Wrong frame counts: one attachment frame missing, one too many.
    lens[1] += 1;
    th_check(truc_client_send(a, truc_doc_cmsg(badatt), att, lens, 1) == PROTO_OK, "send");
    s_expect_framing(env, a, badatt, "2 attachments declared, 1 frame sent");
    th_check(truc_client_send(a, truc_doc_cmsg(badatt), att, lens, 3) == PROTO_OK, "send");
    s_expect_framing(env, a, badatt, "2 attachments declared, 3 frames sent");
    free(tampered);

    //  Idempotence: the same document again gets the very same receipt;
    //  the same id with other content is refused.
    truc_doc_t *first = s_doc(env, TH_A, to_b, 1, 0, 1, 2000);
    proto_msg_t *acc = s_submit_accepted(env, a, first);
    s_receipt_digest_t digest1, digest2;
    char diff[64];
    s_receipt_digest(acc, truc_receipts_find(acc, truc_doc_id(first)), &digest1);
    proto_msg_destroy(&acc);
    //  Let the clock move on, so that a receipt signed anew cannot pass
    //  for the original by having the same head time.
    th_sleep_ms(50);
    acc = s_submit_accepted(env, a, first);
    s_receipt_digest(acc, truc_receipts_find(acc, truc_doc_id(first)), &digest2);
    th_soft(env, !*s_receipt_diff(&digest1, &digest2, diff, sizeof diff),
            "same document again: ACCEPTED is not the original, it differs in:%s", diff);
    proto_msg_destroy(&acc);
    truc_doc_t *dup = s_doc(env, TH_A, to_b, 1, 0, 1, 2000);
    truc_doc_msg(dup)->u.document.doc.id = *truc_doc_id(first);
    th_check(truc_doc_sign(dup, env->agency[TH_A]) == PROTO_OK, "sign");
    th_check(truc_client_submit(a, dup) == PROTO_OK, "send");
    s_expect_rejected(env, a, dup, PROTO_ERR_DUPLICATE_ID, "same id, other content");

    //  Two attachments with one file name once case is ignored, properly
    //  signed: the encoder refuses to write it, so the name is changed in
    //  the encoded body (same length) after signing the changed struct. B
    //  receives nothing of it (checked at the end).
    {
        truc_doc_t *twice = s_doc(env, TH_A, to_b, 1, 0, 2, 300);
        proto_attachment_t *second = &truc_doc_msg(twice)->u.document.doc.att[1];
        const char *own_name = second->name; // "phu-luc-2.pdf"
        second->name = "PHU-LUC-1.pdf";
        th_check(truc_doc_sign(twice, env->agency[TH_A]) == PROTO_OK, "sign");
        second->name = own_name;
        proto_buf_t body;
        proto_buf_init(&body);
        th_check(proto_msg_encode(truc_doc_cmsg(twice), &body, NULL) == PROTO_OK, "encode");
        uint8_t *at = NULL;
        for (size_t i = 0; !at && i + 13 <= body.len; i++)
            if (memcmp(body.data + i, "phu-luc-2.pdf", 13) == 0)
                at = body.data + i;
        th_check(at != NULL, "the second name is not in the body");
        memcpy(at, "PHU-LUC-1.pdf", 13);
        uint8_t header[PROTO_HEADER_LEN];
        proto_header_write(header, PROTO_KIND_SUBMIT);
        const void *frames[4] = { header, body.data, truc_doc_att_data(twice, 0),
                                  truc_doc_att_data(twice, 1) };
        size_t frame_lens[4] = { sizeof header, body.len, truc_doc_att_len(twice, 0),
                                 truc_doc_att_len(twice, 1) };
        th_check(truc_client_send_frames(a, frames, frame_lens, 4) == PROTO_OK, "send");
        //  The strict decoder refuses it; its id can be read, so the answer
        //  is REJECTED for that id with the decoder's code (PROTOCOL.md 4.3).
        proto_msg_t *msg = th_answer(a, truc_doc_id(twice), TH_RECV_TIMEOUT_MS);
        const proto_item_t *item = msg && msg->kind == PROTO_KIND_REJECTED
                                       ? truc_receipts_find(msg, truc_doc_id(twice))
                                       : NULL;
        th_soft(env, item && item->leaf.code == PROTO_ERR_DUP_NAME,
                "two attachments named alike: no REJECTED ERR_DUP_NAME for its id (got %s, %u)",
                msg ? proto_kind_name(msg->kind) : "nothing", item ? item->leaf.code : 0);
        proto_msg_destroy(&msg);
        proto_buf_free(&body);
        truc_doc_destroy(&twice);
    }

    //  Bodies that do not decode: ERROR with the strict decoder's code.
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
    } bodies[] = {
        { "reserved byte 0xc1", "\xc1", 1 },
        { "truncated map",
          "\x81\xa3"
          "doc",
          5 },
        { "trailing byte", "\x80\x00", 2 },
        { "empty map", "\x80", 1 },
        { "array instead of map", "\x91\x01", 2 },
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        proto_msg_t *check = NULL;
        proto_err_t want =
            proto_msg_decode(PROTO_KIND_SUBMIT, bodies[i].bytes, bodies[i].len, &check, NULL);
        th_check(want != PROTO_OK, "test body decodes");
        s_send_body(env, a, PROTO_VERSION, PROTO_KIND_SUBMIT, bodies[i].bytes, bodies[i].len);
        s_expect_error(env, a, want, 0, bodies[i].what);
    }
    {
        uint8_t header[PROTO_HEADER_LEN];
        proto_header_write(header, PROTO_KIND_SUBMIT);
        const void *frames[1] = { header };
        size_t flens[1] = { sizeof header };
        th_check(truc_client_send_frames(a, frames, flens, 1) == PROTO_OK, "send");
        s_expect_error(env, a, PROTO_ERR_FRAMING, -1, "header without body");
    }
    th_soft(env, truc_client_ping(a, TH_RECV_TIMEOUT_MS) == PROTO_OK,
            "A's session after non-fatal errors: ping failed: %s", truc_client_error_text(a));

    //  A message before HELLO.
    truc_client_t *d = th_client(env, TH_D, 8);
    truc_doc_t *early = s_doc(env, TH_D, to_b, 1, 0, 0, 0);
    th_check(truc_client_submit(d, early) == PROTO_OK, "send");
    s_expect_error(env, d, PROTO_ERR_NOT_AUTHENTICATED, 1, "SUBMIT before HELLO");
    th_drop(env, &d);

    //  HELLO naming another agency than the authenticated one.
    proto_buf_t buf;
    proto_buf_init(&buf);
    const uint8_t v1[] = { 1 }, v2[] = { 2 }, v17[] = { 1, 7 };
    truc_client_t *e = th_client(env, TH_E, 8);
    s_hello_body(th_code(TH_A), v1, 1, &buf);
    s_send_body(env, e, 1, PROTO_KIND_HELLO, buf.data, buf.len);
    s_expect_error(env, e, PROTO_ERR_SENDER_MISMATCH, 1, "HELLO naming another agency");
    th_drop(env, &e);

    //  Versions: none in common; a HELLO header not saying 1; a choice.
    d = th_client(env, TH_D, 8);
    s_hello_body(th_code(TH_D), v2, 1, &buf);
    s_send_body(env, d, 1, PROTO_KIND_HELLO, buf.data, buf.len);
    s_expect_error(env, d, PROTO_ERR_VERSION, 1, "HELLO versions [2]");
    th_drop(env, &d);
    d = th_client(env, TH_D, 8);
    s_hello_body(th_code(TH_D), v1, 1, &buf);
    s_send_body(env, d, 2, PROTO_KIND_HELLO, buf.data, buf.len);
    s_expect_error(env, d, PROTO_ERR_VERSION, -1, "HELLO with header version 2");
    th_drop(env, &d);
    d = th_client(env, TH_D, 8);
    s_hello_body(th_code(TH_D), v17, 2, &buf);
    s_send_body(env, d, 1, PROTO_KIND_HELLO, buf.data, buf.len);
    proto_msg_t *ready = NULL;
    proto_err_t rc = truc_client_recv_kind(d, PROTO_KIND_READY, TH_RECV_TIMEOUT_MS, &ready, NULL);
    th_soft(env, rc == PROTO_OK && ready->u.ready.version == 1,
            "HELLO versions [1, 7]: expected READY version 1: %s (%s)", proto_errname(rc),
            truc_client_error_text(d));
    proto_msg_destroy(&ready);
    th_drop(env, &d);
    proto_buf_free(&buf);

    //  A is still served, and B received exactly the two accepted documents.
    truc_doc_t *last = s_doc(env, TH_A, to_b, 1, 0, 1, 500);
    acc = s_submit_accepted(env, a, last);
    proto_msg_destroy(&acc);
    bool got_first = false, got_last = false;
    while (!got_first || !got_last) {
        truc_frames_t *frames = NULL;
        proto_msg_t *msg = s_deliver(b, &frames, TH_RECV_TIMEOUT_MS);
        const proto_id_t *id = &msg->u.document.doc.id;
        char text[PROTO_ID_TEXT_LEN];
        s_id_text(id, text);
        if (s_id_eq(id, truc_doc_id(first))) {
            th_soft(env, !got_first, "document %s pushed twice in one session", text);
            s_check_deliver(env, msg, frames, first, NULL);
            got_first = true;
        } else if (s_id_eq(id, truc_doc_id(last))) {
            s_check_deliver(env, msg, frames, last, NULL);
            got_last = true;
        } else {
            th_soft_fail(env, __FILE__, __LINE__, "B received document %s that was not accepted",
                         text);
        }
        s_ack_one(env, b, msg, frames);
        proto_msg_destroy(&msg);
        truc_frames_destroy(&frames);
    }
    proto_msg_t *extra = NULL;
    truc_frames_t *extra_frames = NULL;
    rc = truc_client_recv_kind(b, PROTO_KIND_DELIVER, TH_QUIET_MS, &extra, &extra_frames);
    if (rc == PROTO_OK) {
        char text[PROTO_ID_TEXT_LEN];
        s_id_text(&extra->u.document.doc.id, text);
        th_soft_fail(env, __FILE__, __LINE__, "B received an extra document %s", text);
    }
    proto_msg_destroy(&extra);
    truc_frames_destroy(&extra_frames);

    truc_doc_t *all[] = { other,  unknown, suspended, revoked, badsig,
                          badatt, first,   dup,       early,   last };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        truc_doc_destroy(&all[i]);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

//  A SUBMIT that strict decoding refuses but whose id can be read (a
//  subject of 501 characters, one over the limit) is REJECTED for that id,
//  and so is such a STATUS (a note of 2,001 characters), for the notice's id,
//  as PROTOCOL.md section 4.3 promises: the agent waits for an answer about
//  that id, and an ERROR without `ref` would leave it waiting.
static void test_undecodable_with_id(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    const char *to_b[] = { th_code(TH_B) };
    char subject[501];
    memset(subject, 'x', 500);
    subject[500] = '\0';
    truc_doc_t *doc =
        truc_doc_build(env->agency[TH_A], to_b, 1, subject, S_TYPE, PROTO_URGENCY_NORMAL, NULL, 0);
    th_check(doc != NULL, "truc_doc_build failed");
    proto_buf_t buf;
    proto_buf_init(&buf);
    th_check(proto_msg_encode(truc_doc_cmsg(doc), &buf, NULL) == PROTO_OK, "encode");
    //  The subject is a str16 of 500 bytes; one byte more keeps the msgpack
    //  whole (maps count entries, not bytes) and breaks only the limit.
    static uint8_t grown[PROTO_MAX_BODY];
    size_t at = 0;
    for (; at + 3 + 500 <= buf.len; at++)
        if (buf.data[at] == 0xda && buf.data[at + 1] == 0x01 && buf.data[at + 2] == 0xf4 &&
            memcmp(buf.data + at + 3, subject, 500) == 0)
            break;
    th_check(at + 3 + 500 <= buf.len && buf.len + 1 <= sizeof grown, "subject not found");
    memcpy(grown, buf.data, at + 3 + 500);
    grown[at + 2] = 0xf5;
    grown[at + 3 + 500] = 'x';
    memcpy(grown + at + 3 + 501, buf.data + at + 3 + 500, buf.len - at - 3 - 500);
    size_t len = buf.len + 1;
    proto_buf_free(&buf);
    proto_msg_t *check = NULL;
    proto_err_t want = proto_msg_decode(PROTO_KIND_SUBMIT, grown, len, &check, NULL);
    th_check(want == PROTO_ERR_LIMIT, "the grown body: %s, expected ERR_LIMIT",
             proto_errname(want));

    s_send_body(env, a, PROTO_VERSION, PROTO_KIND_SUBMIT, grown, len);
    proto_msg_t *msg = th_answer(a, truc_doc_id(doc), TH_RECV_TIMEOUT_MS);
    char text[400];
    th_check(msg && msg->kind == PROTO_KIND_REJECTED,
             "501-character subject: answered with %s, expected REJECTED ERR_LIMIT",
             truc_msg_describe(msg, truc_doc_id(doc), text, sizeof text));
    const proto_item_t *item = truc_receipts_find(msg, truc_doc_id(doc));
    static const uint8_t zero[PROTO_HASH_LEN];
    th_soft(env, item && item->leaf.code == PROTO_ERR_LIMIT,
            "501-character subject: REJECTED with %u, expected ERR_LIMIT",
            item ? item->leaf.code : 0);
    th_soft(env,
            item && memcmp(item->leaf.hash, zero, sizeof zero) == 0 &&
                strcmp(item->leaf.from, th_code(TH_A)) == 0,
            "501-character subject: the leaf's hash is not all zero or its from is not A");
    th_soft(env, truc_receipts_verify(msg, th_hub_sign_pk(env)) == PROTO_OK,
            "501-character subject: REJECTED does not verify with the broker key");
    proto_msg_destroy(&msg);
    //  No ERROR besides, and the session goes on.
    proto_msg_t *extra = NULL;
    th_soft(env,
            truc_client_recv_kind(a, PROTO_KIND_ERROR, TH_QUIET_MS, &extra, NULL) ==
                PROTO_ERR_TIMEOUT,
            "501-character subject: an ERROR besides the REJECTED");
    proto_msg_destroy(&extra);
    th_soft(env, truc_client_ping(a, TH_RECV_TIMEOUT_MS) == PROTO_OK,
            "A's session after the REJECTED: ping failed: %s", truc_client_error_text(a));

    //  The same for a STATUS whose note is 2,001 characters: REJECTED for
    //  the notice's id.
    static char note[2001];
    memset(note, 'y', 2000);
    proto_msg_t status;
    memset(&status, 0, sizeof status);
    status.kind = PROTO_KIND_STATUS;
    proto_notice_t *n = &status.u.status.notice;
    proto_id_random(&n->id);
    n->doc = *truc_doc_id(doc);
    n->from = th_code(TH_A);
    n->to = th_code(TH_B);
    n->code = 1;
    n->time = truc_now_ms();
    n->note = note;
    th_check(proto_notice_sign(n, env->agency[TH_A], status.u.status.sig) == PROTO_OK, "sign");
    proto_buf_init(&buf);
    th_check(proto_msg_encode(&status, &buf, NULL) == PROTO_OK, "encode STATUS");
    for (at = 0; at + 3 + 2000 <= buf.len; at++)
        if (buf.data[at] == 0xda && buf.data[at + 1] == 0x07 && buf.data[at + 2] == 0xd0 &&
            memcmp(buf.data + at + 3, note, 2000) == 0)
            break;
    th_check(at + 3 + 2000 <= buf.len, "note not found");
    memcpy(grown, buf.data, at + 3 + 2000);
    grown[at + 2] = 0xd1;
    grown[at + 3 + 2000] = 'y';
    memcpy(grown + at + 3 + 2001, buf.data + at + 3 + 2000, buf.len - at - 3 - 2000);
    len = buf.len + 1;
    proto_buf_free(&buf);
    s_send_body(env, a, PROTO_VERSION, PROTO_KIND_STATUS, grown, len);
    msg = th_answer(a, &n->id, TH_RECV_TIMEOUT_MS);
    th_check(msg && msg->kind == PROTO_KIND_REJECTED,
             "2,001-character note: answered with %s, expected REJECTED ERR_LIMIT",
             truc_msg_describe(msg, &n->id, text, sizeof text));
    item = truc_receipts_find(msg, &n->id);
    th_soft(env, item && item->leaf.code == PROTO_ERR_LIMIT,
            "2,001-character note: REJECTED with %u, expected ERR_LIMIT",
            item ? item->leaf.code : 0);
    proto_msg_destroy(&msg);
    truc_doc_destroy(&doc);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  3. Handshake refusals

static void test_handshake_refusals(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);

    //  Not in the directory, revoked, suspended, and no CURVE at all: each
    //  sends a HELLO naming itself; none may ever hear back.
    struct {
        const char *what;
        truc_client_t *c;
    } refused[] = {
        { "agency not in the directory", th_client(env, TH_U, 8) },
        { "revoked agency", th_client(env, TH_R, 8) },
        { "suspended agency", th_client(env, TH_S, 8) },
        { "plain DEALER without CURVE", th_client_plain(env, TH_C, 8) },
    };
    const th_agency_t who[] = { TH_U, TH_R, TH_S, TH_C };
    proto_buf_t buf;
    proto_buf_init(&buf);
    const uint8_t v1[] = { 1 };
    for (size_t i = 0; i < 4; i++) {
        s_hello_body(th_code(who[i]), v1, 1, &buf);
        s_send_body(env, refused[i].c, 1, PROTO_KIND_HELLO, buf.data, buf.len);
    }
    proto_buf_free(&buf);

    //  Meanwhile A and B work as usual.
    const th_agency_t to_b[] = { TH_B };
    truc_doc_t *doc = s_doc(env, TH_A, to_b, 1, 0, 1, 4096);
    proto_msg_t *acc = s_submit_accepted(env, a, doc);
    truc_frames_t *frames = NULL;
    proto_msg_t *msg = s_deliver(b, &frames, TH_RECV_TIMEOUT_MS);
    s_check_deliver(env, msg, frames, doc, truc_receipts_find(acc, truc_doc_id(doc)));
    s_ack_one(env, b, msg, frames);
    proto_msg_destroy(&msg);
    truc_frames_destroy(&frames);
    const truc_doc_t *docs[] = { doc };
    s_collect_delivered(env, a, docs, 1, to_b, 1);

    for (size_t i = 0; i < 4; i++) {
        proto_msg_t *got = NULL;
        //  The first wait is long enough for every handshake to be over.
        proto_err_t rc = truc_client_recv(refused[i].c, i == 0 ? 3000 : 200, &got, NULL);
        char text[400];
        th_check(rc == PROTO_ERR_TIMEOUT, "%s: received %s (%s), expected nothing", refused[i].what,
                 rc ? proto_errname(rc) : truc_msg_describe(got, NULL, text, sizeof text),
                 truc_client_error_text(refused[i].c));
    }

    //  And once more after the refused peers' attempts.
    truc_doc_t *doc2 = s_doc(env, TH_A, to_b, 1, 0, 0, 0);
    proto_msg_t *acc2 = s_submit_accepted(env, a, doc2);
    msg = s_deliver(b, &frames, TH_RECV_TIMEOUT_MS);
    s_check_deliver(env, msg, frames, doc2, truc_receipts_find(acc2, truc_doc_id(doc2)));
    proto_msg_destroy(&msg);
    truc_frames_destroy(&frames);

    proto_msg_destroy(&acc);
    proto_msg_destroy(&acc2);
    truc_doc_destroy(&doc);
    truc_doc_destroy(&doc2);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  4. Store and forward, in urgency order

static void s_store_forward(th_env_t *env, bool restart)
{
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    const th_agency_t to_b[] = { TH_B };
    static const uint8_t urgency[5] = { PROTO_URGENCY_NORMAL, PROTO_URGENCY_VERY_URGENT,
                                        PROTO_URGENCY_IMMEDIATE, PROTO_URGENCY_NORMAL,
                                        PROTO_URGENCY_URGENT };
    //  Immediate, very urgent, urgent, then the two normal ones in the
    //  order they were accepted.
    static const int order[5] = { 2, 1, 4, 0, 3 };
    truc_doc_t *docs[5];
    uint64_t seq[5];
    for (int i = 0; i < 5; i++) {
        //  One at a time, so acceptance order is submission order.
        docs[i] = s_doc(env, TH_A, to_b, 1, urgency[i], 1, 300 + (size_t) i);
        proto_msg_t *acc = s_submit_accepted(env, a, docs[i]);
        seq[i] = truc_receipts_find(acc, truc_doc_id(docs[i]))->leaf.seq;
        th_check(i == 0 || seq[i] > seq[i - 1], "audit seq %llu after %llu",
                 (unsigned long long) seq[i], (unsigned long long) seq[i - 1]);
        proto_msg_destroy(&acc);
    }
    if (restart) {
        th_drop(env, &a);
        th_broker_stop(env);
        th_broker_start(env, NULL);
        a = th_connect(env, TH_A, 16, NULL);
    }

    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    proto_msg_t *msgs[5];
    truc_frames_t *frames[5];
    for (int i = 0; i < 5; i++) {
        msgs[i] = s_deliver(b, &frames[i], TH_RECV_TIMEOUT_MS);
        const truc_doc_t *want = docs[order[i]];
        char got_id[PROTO_ID_TEXT_LEN], want_id[PROTO_ID_TEXT_LEN];
        s_id_text(&msgs[i]->u.document.doc.id, got_id);
        s_id_text(truc_doc_id(want), want_id);
        th_check(s_id_eq(&msgs[i]->u.document.doc.id, truc_doc_id(want)),
                 "push %d is %s (urgency %u), expected %s (urgency %u)", i + 1, got_id,
                 msgs[i]->u.document.doc.urgency, want_id, urgency[order[i]]);
        s_check_deliver(env, msgs[i], frames[i], want, NULL);
        th_check(msgs[i]->u.document.seq == seq[order[i]], "DELIVER seq differs from ACCEPTED");
    }
    s_quiet(b, "after the 5 waiting documents");
    proto_err_t rc = truc_client_ack_deliveries(b, env->dir, (const proto_msg_t *const *) msgs,
                                                (const truc_frames_t *const *) frames, 5);
    th_check(rc == PROTO_OK, "DELIVERED: %s (%s)", proto_errname(rc), truc_client_error_text(b));
    s_collect_delivered(env, a, (const truc_doc_t *const *) docs, 5, to_b, 1);
    for (int i = 0; i < 5; i++) {
        proto_msg_destroy(&msgs[i]);
        truc_frames_destroy(&frames[i]);
        truc_doc_destroy(&docs[i]);
    }
    th_broker_stop(env);
    th_pass(env);
}

static void test_store_forward(void **state)
{
    s_store_forward(*state, false);
}

static void test_store_forward_restart(void **state)
{
    s_store_forward(*state, true);
}

// ---------------------------------------------------------------------------
//  5. Flow control

static void test_flow_control(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    const th_agency_t to_b[] = { TH_B };
    truc_doc_t *docs[5];
    for (int i = 0; i < 5; i++) {
        docs[i] = s_doc(env, TH_A, to_b, 1, 0, 1, 256);
        proto_msg_t *acc = s_submit_accepted(env, a, docs[i]);
        proto_msg_destroy(&acc);
    }

    truc_client_t *b = th_connect(env, TH_B, 2, NULL);
    proto_msg_t *msgs[5] = { NULL };
    truc_frames_t *frames[5] = { NULL };
    for (int i = 0; i < 2; i++) {
        msgs[i] = s_deliver(b, &frames[i], TH_RECV_TIMEOUT_MS);
        s_check_deliver(env, msgs[i], frames[i], docs[i], NULL);
    }
    s_quiet(b, "window 2, two pushes unacknowledged");

    //  One DELIVERED frees one place: exactly one more.
    s_ack_one(env, b, msgs[0], frames[0]);
    msgs[2] = s_deliver(b, &frames[2], TH_RECV_TIMEOUT_MS);
    s_check_deliver(env, msgs[2], frames[2], docs[2], NULL);
    s_quiet(b, "window 2, one acknowledged, three pushed");

    //  CREDIT 4 with two unacknowledged: two more, the last two documents.
    th_check(truc_client_credit(b, 4) == PROTO_OK, "CREDIT");
    for (int i = 3; i < 5; i++) {
        msgs[i] = s_deliver(b, &frames[i], TH_RECV_TIMEOUT_MS);
        s_check_deliver(env, msgs[i], frames[i], docs[i], NULL);
    }
    s_quiet(b, "all five pushed");

    proto_err_t rc = truc_client_ack_deliveries(b, env->dir, (const proto_msg_t *const *) msgs + 1,
                                                (const truc_frames_t *const *) frames + 1, 4);
    th_check(rc == PROTO_OK, "DELIVERED: %s (%s)", proto_errname(rc), truc_client_error_text(b));
    s_collect_delivered(env, a, (const truc_doc_t *const *) docs, 5, to_b, 1);
    for (int i = 0; i < 5; i++) {
        proto_msg_destroy(&msgs[i]);
        truc_frames_destroy(&frames[i]);
        truc_doc_destroy(&docs[i]);
    }
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  Redelivery: what is not acknowledged is pushed again to the next session.

static void test_redelivery(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    const th_agency_t to_b[] = { TH_B };
    truc_doc_t *doc = s_doc(env, TH_A, to_b, 1, 0, 1, 777);
    proto_msg_t *acc = s_submit_accepted(env, a, doc);
    proto_msg_destroy(&acc);

    truc_client_t *b = th_connect(env, TH_B, 4, NULL);
    truc_frames_t *frames = NULL;
    proto_msg_t *msg = s_deliver(b, &frames, TH_RECV_TIMEOUT_MS);
    s_check_deliver(env, msg, frames, doc, NULL);
    proto_msg_destroy(&msg);
    truc_frames_destroy(&frames);
    //  B goes away without acknowledging; its next session replaces the old one.
    th_drop(env, &b);
    b = th_connect(env, TH_B, 4, NULL);
    msg = s_deliver(b, &frames, TH_RECV_TIMEOUT_MS);
    s_check_deliver(env, msg, frames, doc, NULL);
    s_ack_one(env, b, msg, frames);
    proto_msg_destroy(&msg);
    truc_frames_destroy(&frames);
    const truc_doc_t *docs[] = { doc };
    s_collect_delivered(env, a, docs, 1, to_b, 1);
    th_drop(env, &b);
    b = th_connect(env, TH_B, 4, NULL);
    s_quiet(b, "acknowledged before the session ended");
    truc_doc_destroy(&doc);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  6. Crash: nothing acknowledged is lost to kill -9

#define S_BURST 200

typedef struct {
    truc_doc_t *docs[S_BURST];
    bool accepted[S_BURST];             // an ACCEPTED left the broker
    s_receipt_digest_t digest[S_BURST]; // of that ACCEPTED
    size_t naccepted;
} s_burst_t;

static int s_burst_find(const s_burst_t *burst, const proto_id_t *id)
{
    for (int i = 0; i < S_BURST; i++)
        if (s_id_eq(truc_doc_id(burst->docs[i]), id))
            return i;
    return -1;
}

//  Take note of every item of an ACCEPTED bundle.
static void s_burst_note(th_env_t *env, s_burst_t *burst, const proto_msg_t *msg)
{
    char text[400];
    th_check(msg->kind == PROTO_KIND_ACCEPTED, "burst answered with %s",
             truc_msg_describe(msg, NULL, text, sizeof text));
    proto_err_t rc = truc_receipts_verify(msg, th_hub_sign_pk(env));
    th_check(rc == PROTO_OK, "ACCEPTED does not verify: %s", proto_errname(rc));
    for (uint32_t i = 0; i < msg->u.receipts.nitems; i++) {
        const proto_item_t *item = &msg->u.receipts.items[i];
        int d = s_burst_find(burst, &item->leaf.id);
        th_check(d >= 0, "ACCEPTED for a document never sent");
        uint8_t hash[PROTO_HASH_LEN];
        th_check(truc_doc_hash(burst->docs[d], hash) == PROTO_OK, "hash");
        th_check(memcmp(hash, item->leaf.hash, PROTO_HASH_LEN) == 0, "ACCEPTED hash differs");
        if (!burst->accepted[d]) {
            burst->accepted[d] = true;
            burst->naccepted++;
            s_receipt_digest(msg, item, &burst->digest[d]);
        }
    }
}

//  Receive DELIVERs on b, verify and acknowledge each, until every document
//  marked in want has been seen (seen collects distinct documents).
static void s_burst_collect(th_env_t *env, s_burst_t *burst, truc_client_t *b, const bool *want,
                            bool *seen, size_t *nseen)
{
    while (true) {
        size_t missing = 0;
        for (int i = 0; i < S_BURST; i++)
            if (want[i] && !seen[i])
                missing++;
        if (!missing)
            return;
        proto_msg_t *msg = NULL;
        truc_frames_t *frames = NULL;
        proto_err_t rc =
            truc_client_recv_kind(b, PROTO_KIND_DELIVER, TH_RECV_TIMEOUT_MS, &msg, &frames);
        th_check(rc == PROTO_OK,
                 "%zu document(s) that were ACCEPTED before the crash never reached B: %s (%s)",
                 missing, proto_errname(rc), truc_client_error_text(b));
        int d = s_burst_find(burst, &msg->u.document.doc.id);
        th_check(d >= 0, "B received a document A never sent");
        s_check_deliver(env, msg, frames, burst->docs[d], NULL);
        if (!seen[d]) {
            seen[d] = true;
            (*nseen)++;
        }
        s_ack_one(env, b, msg, frames);
        proto_msg_destroy(&msg);
        truc_frames_destroy(&frames);
    }
}

static void test_crash_recovery(void **state)
{
    th_env_t *env = *state;
    s_burst_t *burst = calloc(1, sizeof *burst);
    th_check(burst != NULL, "out of memory");
    //  Small batches make it likely that the kill lands between commits.
    const char *sets[] = { "store.commit_batch=8", NULL };
    th_broker_start(env, sets);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    const th_agency_t to_b[] = { TH_B };
    for (int i = 0; i < S_BURST; i++)
        burst->docs[i] = s_doc(env, TH_A, to_b, 1, (uint8_t) (i % 4), 1, 512 + (size_t) i);

    for (int i = 0; i < S_BURST; i++) {
        proto_err_t rc = truc_client_submit(a, burst->docs[i]);
        th_check(rc == PROTO_OK, "submit %d: %s (%s)", i, proto_errname(rc),
                 truc_client_error_text(a));
    }
    while (burst->naccepted < S_BURST / 2) {
        proto_msg_t *msg = NULL;
        proto_err_t rc = truc_client_recv(a, TH_RECV_TIMEOUT_MS, &msg, NULL);
        th_check(rc == PROTO_OK, "burst: %zu accepted, then %s (%s)", burst->naccepted,
                 proto_errname(rc), truc_client_error_text(a));
        s_burst_note(env, burst, msg);
        proto_msg_destroy(&msg);
    }
    size_t before_kill = burst->naccepted;
    th_broker_kill(env);
    //  Whatever was already on its way counts too: it left the broker.
    while (true) {
        proto_msg_t *msg = NULL;
        if (truc_client_recv(a, 1000, &msg, NULL) != PROTO_OK)
            break;
        s_burst_note(env, burst, msg);
        proto_msg_destroy(&msg);
    }
    print_message("crash: %zu of %d documents ACCEPTED when killed, %zu after draining\n",
                  before_kill, S_BURST, burst->naccepted);
    th_drop(env, &a);

    th_broker_start(env, sets);
    truc_client_t *b = th_connect(env, TH_B, 64, NULL);
    bool seen[S_BURST] = { false };
    size_t nseen = 0;
    s_burst_collect(env, burst, b, burst->accepted, seen, &nseen);

    //  Re-submitting succeeds: documents that were not acknowledged are
    //  accepted now (or were stored before the crash and get their
    //  receipt), acknowledged ones get the very receipt they had.
    a = th_connect(env, TH_A, 16, NULL);
    size_t resent = 0;
    for (int i = 0; i < S_BURST; i++) {
        bool was = burst->accepted[i];
        if (was && resent >= 10 && i % 20 != 0)
            continue;
        proto_msg_t *acc = s_submit_accepted(env, a, burst->docs[i]);
        if (was) {
            s_receipt_digest_t digest;
            char diff[64];
            s_receipt_digest(acc, truc_receipts_find(acc, truc_doc_id(burst->docs[i])), &digest);
            th_soft(env, !*s_receipt_diff(&digest, &burst->digest[i], diff, sizeof diff),
                    "document %d: ACCEPTED again after the restart is not the original, it "
                    "differs in:%s",
                    i, diff);
        } else {
            s_burst_note(env, burst, acc);
        }
        resent++;
        proto_msg_destroy(&acc);
    }
    bool all[S_BURST];
    for (int i = 0; i < S_BURST; i++)
        all[i] = true;
    s_burst_collect(env, burst, b, all, seen, &nseen);
    th_check(nseen == S_BURST, "B has %zu distinct documents", nseen);
    th_soft_done(env);
    for (int i = 0; i < S_BURST; i++)
        truc_doc_destroy(&burst->docs[i]);
    free(burst);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  7. Refusing to start

//  Start a broker with env->config plus sets and require that it exits
//  non-zero on its own, with stderr naming the problem (one of keywords).
static void s_expect_refusal(th_env_t *env, const char *const *sets, const char *const *keywords,
                             const char *what)
{
    const char *args[32];
    size_t n = 0;
    args[n++] = "--config";
    args[n++] = env->config;
    args[n++] = "--set";
    args[n++] = "log.level=info";
    for (size_t i = 0; sets && sets[i]; i++) {
        args[n++] = "--set";
        args[n++] = sets[i];
    }
    args[n] = NULL;
    int index = th_spawn(env, args);
    int status = 0;
    if (!th_wait_exit(env, index, TH_START_TIMEOUT_MS, &status)) {
        kill(env->procs[index], SIGKILL);
        th_wait_exit(env, index, TH_STOP_TIMEOUT_MS, NULL);
        th_check(false, "%s: truc-broker did not refuse to start (still running after %d ms)", what,
                 TH_START_TIMEOUT_MS);
    }
    char st[64];
    th_check(WIFEXITED(status) && WEXITSTATUS(status) != 0,
             "%s: truc-broker ended with %s, expected a non-zero exit status", what,
             th_status_text(status, st, sizeof st));
    static char log[64 * 1024];
    th_read_file(env->logs[index], log, sizeof log);
    bool named = false;
    for (size_t i = 0; keywords[i] && !named; i++)
        named = th_contains(log, keywords[i]);
    th_check(named, "%s: exit status %d but the message does not name the problem:\n%s", what,
             WEXITSTATUS(status), log);
}

static void test_refuse_key_mode(void **state)
{
    th_env_t *env = *state;
    th_check(chmod(env->broker_key, 0644) == 0, "chmod");
    const char *keywords[] = { "permission", "readable", "chmod", "0644", "ERR_PERMISSIONS", NULL };
    s_expect_refusal(env, NULL, keywords, "secret key with mode 0644");
    th_check(chmod(env->broker_key, 0600) == 0, "chmod");

    //  An encrypted key whose passphrase file others can read: the message
    //  must send the operator to the passphrase file, not to the key.
    char enc[TH_PATH_MAX + 32], pass[TH_PATH_MAX + 32], set_key[TH_PATH_MAX + 64],
        set_pass[TH_PATH_MAX + 64], fix[TH_PATH_MAX + 64];
    snprintf(enc, sizeof enc, "%s/hub-enc.secret", env->keys);
    snprintf(pass, sizeof pass, "%s/hub.passphrase", env->root);
    th_check(proto_identity_save(env->hub, enc, "mật khẩu", PROTO_KDF_MIN, true) == PROTO_OK,
             "save %s", enc);
    FILE *f = fopen(pass, "w");
    th_check(f != NULL, "write %s", pass);
    fputs("mật khẩu\n", f);
    fclose(f);
    th_check(chmod(pass, 0644) == 0, "chmod");
    snprintf(set_key, sizeof set_key, "broker.identity=%s", enc);
    snprintf(set_pass, sizeof set_pass, "broker.passphrase_file=%s", pass);
    snprintf(fix, sizeof fix, "chmod 600 %s", pass);
    const char *sets[] = { set_key, set_pass, NULL };
    const char *named[] = { fix, NULL };
    s_expect_refusal(env, sets, named, "passphrase file with mode 0644");
    th_pass(env);
}

static void test_refuse_directory(void **state)
{
    th_env_t *env = *state;
    char bad[TH_PATH_MAX + 32], text[64 * 1024], set[TH_PATH_MAX + 64];
    th_check(th_read_file(env->dirfile, text, sizeof text), "read directory");
    snprintf(bad, sizeof bad, "%s/bad-directory.ini", env->root);
    FILE *f = fopen(bad, "w");
    th_check(f != NULL, "write");
    fprintf(f, "%s\n[not-an-agency]\nname = Sở Giả mạo\n", text);
    fclose(f);
    snprintf(set, sizeof set, "broker.directory=%s", bad);
    const char *sets[] = { set, NULL };
    const char *keywords[] = { "directory", "ERR_DIRECTORY", "not-an-agency", NULL };
    s_expect_refusal(env, sets, keywords, "invalid directory file");

    snprintf(set, sizeof set, "broker.directory=%s/missing.ini", env->root);
    s_expect_refusal(env, sets, keywords, "missing directory file");

    //  The trust anchor writable by anyone: refused, with the fix.
    th_check(chmod(env->dirfile, 0666) == 0, "chmod");
    snprintf(set, sizeof set, "broker.directory=%s", env->dirfile);
    const char *writable[] = { "lets group or others change it", NULL };
    s_expect_refusal(env, sets, writable, "directory file with mode 0666");
    th_check(chmod(env->dirfile, 0644) == 0, "chmod");
    th_pass(env);
}

static void test_refuse_bind(void **state)
{
    th_env_t *env = *state;
    const char *sets[] = { "network.endpoint=tcp://256.1.1.1:1", NULL };
    const char *keywords[] = { "256.1.1.1", "bind", "endpoint", "address", NULL };
    s_expect_refusal(env, sets, keywords, "endpoint tcp://256.1.1.1:1");
    th_pass(env);
}

static void test_refuse_locked(void **state)
{
    th_env_t *env = *state;
    th_broker_start(env, NULL);
    int first = th_current(env);
    char endpoint[TH_PATH_MAX];
    snprintf(endpoint, sizeof endpoint, "%s", env->endpoint);
    const char *keywords[] = { "lock", "in use", "already", "another", "running", "busy", NULL };
    s_expect_refusal(env, NULL, keywords, "data directory of a running broker");

    th_check(th_running(env, first), "the first broker died when the second one started");
    char path[TH_PATH_MAX + 16], now[TH_PATH_MAX];
    snprintf(path, sizeof path, "%s/endpoint", env->data);
    th_check(th_read_file(path, now, sizeof now), "endpoint file gone");
    th_check(strncmp(now, endpoint, strlen(endpoint)) == 0,
             "the refused broker replaced the endpoint file: '%s', was '%s'", now, endpoint);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);
    const th_agency_t to_b[] = { TH_B };
    truc_doc_t *doc = s_doc(env, TH_A, to_b, 1, 0, 1, 100);
    proto_msg_t *acc = s_submit_accepted(env, a, doc);
    truc_frames_t *frames = NULL;
    proto_msg_t *msg = s_deliver(b, &frames, TH_RECV_TIMEOUT_MS);
    s_check_deliver(env, msg, frames, doc, truc_receipts_find(acc, truc_doc_id(doc)));
    proto_msg_destroy(&msg);
    truc_frames_destroy(&frames);
    proto_msg_destroy(&acc);
    truc_doc_destroy(&doc);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  The command line: --help, --print-default-config as a config, SIGINT.

static void test_cli(void **state)
{
    th_env_t *env = *state;
    static char out[256 * 1024];
    char st[64];
    const char *help[] = { th_broker_path, "--help", NULL };
    int status = th_run(env, help, out, sizeof out);
    th_check(status == 0, "--help: %s", th_status_text(status, st, sizeof st));
    th_check(th_contains(out, "--config") && th_contains(out, "--set"),
             "--help does not mention --config and --set:\n%s", out);

    const char *print[] = { th_broker_path, "--print-default-config", NULL };
    status = th_run(env, print, out, sizeof out);
    th_check(status == 0, "--print-default-config: %s", th_status_text(status, st, sizeof st));
    const char *options[] = { "identity",  "directory",    "data_dir",     "endpoint", "heartbeat",
                              "max_frame", "commit_batch", "commit_delay", NULL };
    for (size_t i = 0; options[i]; i++)
        th_check(th_contains(out, options[i]), "default config lacks %s", options[i]);
    char defaults[TH_PATH_MAX];
    snprintf(defaults, sizeof defaults, "%s/default.conf", env->root);
    FILE *f = fopen(defaults, "w");
    th_check(f != NULL, "write");
    fputs(out, f);
    fclose(f);

    const char *bogus[] = {
        th_broker_path, "--config", env->config, "--set", "bogus.option=1", NULL
    };
    status = th_run(env, bogus, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) != 0,
             "unknown option bogus.option: %s, expected a non-zero exit",
             th_status_text(status, st, sizeof st));
    th_check(th_contains(out, "bogus"), "unknown option: message does not name it:\n%s", out);

    //  The printed defaults are a valid config file; the rest by overrides.
    char identity[TH_PATH_MAX + 32], directory[TH_PATH_MAX + 32], data[TH_PATH_MAX + 32];
    snprintf(identity, sizeof identity, "broker.identity=%s", env->broker_key);
    snprintf(directory, sizeof directory, "broker.directory=%s", env->dirfile);
    snprintf(data, sizeof data, "broker.data_dir=%s", env->data);
    const char *sets[] = {
        identity, directory, data, "network.endpoint=tcp://127.0.0.1:*", "network.heartbeat=60s",
        NULL
    };
    char saved[TH_PATH_MAX];
    snprintf(saved, sizeof saved, "%s", env->config);
    snprintf(env->config, sizeof env->config, "%s", defaults);
    th_broker_start(env, sets);
    snprintf(env->config, sizeof env->config, "%s", saved);
    truc_client_t *a = th_connect(env, TH_A, 16, NULL);
    th_drop(env, &a);

    int index = th_current(env);
    kill(env->pid, SIGINT);
    th_check(th_wait_exit(env, index, TH_STOP_TIMEOUT_MS, &status),
             "truc-broker did not exit after SIGINT");
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "after SIGINT: %s, expected exit 0",
             th_status_text(status, st, sizeof st));
    th_pass(env);
}

// ---------------------------------------------------------------------------
//  8. Hostile bytes from an authenticated peer

#define S_MAX_HOSTILE_FRAMES 100

typedef struct {
    const char *what;
    const void *frames[S_MAX_HOSTILE_FRAMES];
    size_t lens[S_MAX_HOSTILE_FRAMES];
    size_t n;
    uint32_t code;        // expected ERROR code, 0: any
    int fatal;            // -1: either, 0 or 1: required
    const proto_id_t *id; // a readable document id: REJECTED with code is fine too
} s_hostile_t;

static void s_hostile_run(th_env_t *env, const s_hostile_t *h)
{
    truc_client_t *c = th_connect(env, TH_C, 8, NULL);
    proto_err_t rc = truc_client_send_frames(c, h->frames, h->lens, h->n);
    th_check(rc == PROTO_OK, "%s: send: %s", h->what, proto_errname(rc));
    proto_msg_t *msg = NULL;
    //  Dropping the message or the session is allowed: then nothing comes.
    rc = truc_client_recv(c, 3000, &msg, NULL);
    char text[400];
    if (rc == PROTO_ERR_TIMEOUT) {
        print_message("hostile: %s: no answer (dropped)\n", h->what);
    } else if (rc) {
        th_soft_fail(env, __FILE__, __LINE__,
                     "%s: the broker answered with bytes that break the "
                     "protocol: %s (%s)",
                     h->what, proto_errname(rc), truc_client_error_text(c));
    } else if (msg->kind == PROTO_KIND_ERROR) {
        print_message("hostile: %s: %s\n", h->what,
                      truc_msg_describe(msg, NULL, text, sizeof text));
        th_soft(env, !h->code || msg->u.error.code == h->code, "%s: %s, expected ERROR %u %s",
                h->what, truc_msg_describe(msg, NULL, text, sizeof text), h->code,
                proto_errname((proto_err_t) h->code));
        th_soft(env, h->fatal < 0 || msg->u.error.fatal == (h->fatal > 0),
                "%s: ERROR fatal=%d, expected %d", h->what, msg->u.error.fatal, h->fatal);
    } else if (msg->kind == PROTO_KIND_REJECTED && h->id && truc_receipts_find(msg, h->id)) {
        uint32_t code = truc_receipts_find(msg, h->id)->leaf.code;
        print_message("hostile: %s: %s\n", h->what,
                      truc_msg_describe(msg, NULL, text, sizeof text));
        th_soft(env, !h->code || code == h->code, "%s: %s, expected code %u %s", h->what,
                truc_msg_describe(msg, NULL, text, sizeof text), h->code,
                proto_errname((proto_err_t) h->code));
    } else {
        th_soft_fail(env, __FILE__, __LINE__, "%s: answered with %s, expected ERROR or nothing",
                     h->what, truc_msg_describe(msg, NULL, text, sizeof text));
    }
    proto_msg_destroy(&msg);
    th_drop(env, &c);
    th_check(th_running(env, th_current(env)), "%s: truc-broker died", h->what);
}

//  The code the strict decoder gives for a body: what the broker must say.
static uint32_t s_decode_code(int kind, const void *body, size_t len)
{
    proto_msg_t *msg = NULL;
    proto_err_t rc = proto_msg_decode(kind, body, len, &msg, NULL);
    proto_msg_destroy(&msg);
    th_check(rc != PROTO_OK, "hostile body decodes");
    return (uint32_t) rc;
}

static void test_hostile(void **state)
{
    th_env_t *env = *state;
    const char *sets[] = { "limits.max_frame=65536", NULL };
    th_broker_start(env, sets);
    proto_msg_t *ready = NULL;
    truc_client_t *a = th_connect(env, TH_A, 16, &ready);
    th_check(ready->u.ready.max_frame == 65536, "READY max_frame %llu, configured 65536",
             (unsigned long long) ready->u.ready.max_frame);
    proto_msg_destroy(&ready);
    truc_client_t *b = th_connect(env, TH_B, 16, NULL);

    uint8_t submit[PROTO_HEADER_LEN], heartbeat_v2[PROTO_HEADER_LEN], kind99[PROTO_HEADER_LEN],
        ready_hdr[PROTO_HEADER_LEN], junk_header[PROTO_HEADER_LEN];
    proto_header_write(submit, PROTO_KIND_SUBMIT);
    proto_header_write(ready_hdr, PROTO_KIND_READY);
    proto_header_write(heartbeat_v2, PROTO_KIND_HEARTBEAT);
    heartbeat_v2[2] = 2;
    proto_header_write(kind99, PROTO_KIND_HEARTBEAT);
    kind99[3] = 99;
    randombytes_buf(junk_header, sizeof junk_header);
    junk_header[0] = 'X';
    uint8_t random_body[256];
    randombytes_buf(random_body, sizeof random_body);
    random_body[0] = 0xc1; // never a valid first byte: it must not decode

    //  A real document's body, to truncate and to pad with frames, and a
    //  valid document whose attachment is larger than max_frame.
    const th_agency_t to_b[] = { TH_B };
    truc_doc_t *doc = s_doc(env, TH_C, to_b, 1, 0, 0, 0);
    truc_doc_t *large = s_doc(env, TH_C, to_b, 1, 0, 1, 200 * 1024);
    proto_buf_t body, large_body;
    proto_buf_init(&body);
    proto_buf_init(&large_body);
    th_check(proto_msg_encode(truc_doc_cmsg(doc), &body, NULL) == PROTO_OK, "encode");
    th_check(proto_msg_encode(truc_doc_cmsg(large), &large_body, NULL) == PROTO_OK, "encode");

    //  Bodies that claim more than they hold, or nest without end.
    static const uint8_t huge_str[] = { 0x81, 0xa3, 'd', 'o', 'c', 0xdb, 0xff, 0xff, 0xff, 0xff };
    static const uint8_t huge_bin[] = { 0x81, 0xa3, 's', 'i', 'g', 0xc6, 0xff, 0xff, 0xff, 0xff };
    static const uint8_t huge_array[] = { 0x81, 0xa3, 'd', 'o', 'c', 0xdd, 0xff, 0xff, 0xff, 0xff };
    static const uint8_t huge_map[] = { 0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'k' };
    static const uint8_t a_float[] = {
        0x81, 0xa3, 's', 'i', 'g', 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0
    };
    //  Both stay below max_frame (64 KiB) so that they reach the decoder.
    size_t deep_len = 20000;
    uint8_t *deep_arrays = malloc(3 * deep_len + 1);
    uint8_t *deep_maps = malloc(3 * deep_len + 1);
    th_check(deep_arrays && deep_maps, "out of memory");
    memset(deep_arrays, 0x91, 3 * deep_len);
    deep_arrays[3 * deep_len] = 0xc0;
    for (size_t i = 0; i < deep_len; i++)
        memcpy(deep_maps + 3 * i, "\x81\xa1k", 3);
    deep_maps[3 * deep_len] = 0xc0;
    size_t big_len = 2u << 20;
    uint8_t *big = calloc(1, big_len);
    th_check(big != NULL, "out of memory");
    big[0] = 0x80;

    //  READY sent by an agent: a kind only the broker sends.
    proto_msg_t fake;
    memset(&fake, 0, sizeof fake);
    fake.kind = PROTO_KIND_READY;
    fake.u.ready = (proto_ready_t){ .version = 1,
                                    .broker = "hub",
                                    .agency = th_code(TH_C),
                                    .time = truc_now_ms(),
                                    .heartbeat = 5000,
                                    .dir_serial = 1,
                                    .max_frame = 65536,
                                    .max_document = 65536,
                                    .max_recipients = 10,
                                    .max_attachments = 10 };
    proto_buf_t ready_body;
    proto_buf_init(&ready_body);
    th_check(proto_msg_encode(&fake, &ready_body, NULL) == PROTO_OK, "encode READY");
    static const uint8_t empty_map[] = { 0x80 };
    static const uint8_t hb_body[] = { 0x81, 0xa4, 't', 'i', 'm', 'e', 0x01 };

    s_hostile_t cases[16];
    size_t n = 0;
#define S_CASE(label, expect, is_fatal, doc_id)                                                    \
    (cases[n] =                                                                                    \
         (s_hostile_t){ .what = (label), .code = (expect), .fatal = (is_fatal), .id = (doc_id) },  \
     &cases[n++])
    s_hostile_t *h;
    h = S_CASE("random header and body", PROTO_ERR_FRAMING, -1, NULL);
    h->frames[0] = junk_header, h->lens[0] = 4, h->frames[1] = random_body, h->lens[1] = 64,
    h->n = 2;
    h = S_CASE("header frame alone", PROTO_ERR_FRAMING, -1, NULL);
    h->frames[0] = submit, h->lens[0] = 4, h->n = 1;
    h = S_CASE("random body", s_decode_code(PROTO_KIND_SUBMIT, random_body, sizeof random_body), 0,
               NULL);
    h->frames[0] = submit, h->lens[0] = 4, h->frames[1] = random_body,
    h->lens[1] = sizeof random_body, h->n = 2;
    h = S_CASE("empty body", s_decode_code(PROTO_KIND_SUBMIT, "", 0), 0, NULL);
    h->frames[0] = submit, h->lens[0] = 4, h->frames[1] = "", h->lens[1] = 0, h->n = 2;
    h = S_CASE("truncated msgpack", s_decode_code(PROTO_KIND_SUBMIT, body.data, body.len / 2), 0,
               NULL);
    h->frames[0] = submit, h->lens[0] = 4, h->frames[1] = body.data, h->lens[1] = body.len / 2,
    h->n = 2;
    h = S_CASE("str 32 claiming 4 GiB", s_decode_code(PROTO_KIND_SUBMIT, huge_str, sizeof huge_str),
               0, NULL);
    h->frames[0] = submit, h->lens[0] = 4, h->frames[1] = huge_str, h->lens[1] = sizeof huge_str,
    h->n = 2;
    h = S_CASE("bin 32 claiming 4 GiB", s_decode_code(PROTO_KIND_SUBMIT, huge_bin, sizeof huge_bin),
               0, NULL);
    h->frames[0] = submit, h->lens[0] = 4, h->frames[1] = huge_bin, h->lens[1] = sizeof huge_bin,
    h->n = 2;
    h = S_CASE("array 32 claiming 2^32-1 elements",
               s_decode_code(PROTO_KIND_SUBMIT, huge_array, sizeof huge_array), 0, NULL);
    h->frames[0] = submit, h->lens[0] = 4, h->frames[1] = huge_array,
    h->lens[1] = sizeof huge_array, h->n = 2;
    h = S_CASE("map 32 claiming 2^32-1 pairs",
               s_decode_code(PROTO_KIND_SUBMIT, huge_map, sizeof huge_map), 0, NULL);
    h->frames[0] = submit, h->lens[0] = 4, h->frames[1] = huge_map, h->lens[1] = sizeof huge_map,
    h->n = 2;
    h = S_CASE("60000 nested arrays",
               s_decode_code(PROTO_KIND_SUBMIT, deep_arrays, 3 * deep_len + 1), 0, NULL);
    h->frames[0] = submit, h->lens[0] = 4, h->frames[1] = deep_arrays,
    h->lens[1] = 3 * deep_len + 1, h->n = 2;
    h = S_CASE("20000 nested maps", s_decode_code(PROTO_KIND_SUBMIT, deep_maps, 3 * deep_len + 1),
               0, NULL);
    h->frames[0] = submit, h->lens[0] = 4, h->frames[1] = deep_maps, h->lens[1] = 3 * deep_len + 1,
    h->n = 2;
    h = S_CASE("a float", s_decode_code(PROTO_KIND_SUBMIT, a_float, sizeof a_float), 0, NULL);
    h->frames[0] = submit, h->lens[0] = 4, h->frames[1] = a_float, h->lens[1] = sizeof a_float,
    h->n = 2;
    h = S_CASE("a valid SUBMIT in 100 frames", PROTO_ERR_FRAMING, -1, truc_doc_id(doc));
    h->frames[0] = submit, h->lens[0] = 4, h->frames[1] = body.data, h->lens[1] = body.len;
    for (size_t i = 2; i < S_MAX_HOSTILE_FRAMES; i++)
        h->frames[i] = random_body, h->lens[i] = 1 + i;
    h->n = S_MAX_HOSTILE_FRAMES;
    h = S_CASE("attachment frame over max_frame", PROTO_ERR_TOO_LARGE, -1, truc_doc_id(large));
    h->frames[0] = submit, h->lens[0] = 4, h->frames[1] = large_body.data,
    h->lens[1] = large_body.len, h->frames[2] = truc_doc_att_data(large, 0),
    h->lens[2] = truc_doc_att_len(large, 0), h->n = 3;
    h = S_CASE("2 MiB body", PROTO_ERR_TOO_LARGE, -1, NULL);
    h->frames[0] = submit, h->lens[0] = 4, h->frames[1] = big, h->lens[1] = big_len, h->n = 2;
    h = S_CASE("unknown kind 99", PROTO_ERR_KIND, -1, NULL);
    h->frames[0] = kind99, h->lens[0] = 4, h->frames[1] = empty_map, h->lens[1] = 1, h->n = 2;
    th_check(n <= sizeof cases / sizeof cases[0], "too many cases");
    for (size_t i = 0; i < n; i++)
        s_hostile_run(env, &cases[i]);

    s_hostile_t more[3];
    n = 0;
    memset(more, 0, sizeof more);
    more[n] = (s_hostile_t){ .what = "header version 2 after READY",
                             .code = PROTO_ERR_VERSION,
                             .fatal = 1,
                             .frames = { heartbeat_v2, hb_body },
                             .lens = { 4, sizeof hb_body },
                             .n = 2 };
    n++;
    more[n] = (s_hostile_t){ .what = "READY sent by an agent",
                             .code = PROTO_ERR_UNEXPECTED,
                             .fatal = 0,
                             .frames = { ready_hdr, ready_body.data },
                             .lens = { 4, ready_body.len },
                             .n = 2 };
    n++;
    for (size_t i = 0; i < n; i++)
        s_hostile_run(env, &more[i]);

    //  Undecodable messages in a row: after 16, the session is closed.
    truc_client_t *c = th_connect(env, TH_C, 8, NULL);
    int answers = 0, fatal_at = 0;
    uint32_t storm_code = s_decode_code(PROTO_KIND_SUBMIT, "\xc1", 1);
    for (int i = 0; i < 20; i++)
        s_send_body(env, c, PROTO_VERSION, PROTO_KIND_SUBMIT, "\xc1", 1);
    while (true) {
        proto_msg_t *msg = NULL;
        if (truc_client_recv(c, 3000, &msg, NULL) != PROTO_OK)
            break;
        answers++;
        th_soft(env, msg->kind == PROTO_KIND_ERROR && msg->u.error.code == storm_code,
                "error storm: answer %d is not ERROR %s", answers,
                proto_errname((proto_err_t) storm_code));
        if (msg->kind == PROTO_KIND_ERROR && msg->u.error.fatal && !fatal_at)
            fatal_at = answers;
        proto_msg_destroy(&msg);
    }
    print_message("error storm: %d answers to 20 undecodable messages, fatal at %d\n", answers,
                  fatal_at);
    th_soft(env, fatal_at == 16 || fatal_at == 17,
            "error storm: expected a fatal ERROR as the 16th or 17th answer, got it at %d of %d",
            fatal_at, answers);
    th_soft(env, answers == fatal_at, "error storm: %d answers after the fatal one",
            answers - fatal_at);
    th_drop(env, &c);
    th_check(th_running(env, th_current(env)), "truc-broker died");

    //  A well-behaved agency is still served.
    truc_doc_t *good = s_doc(env, TH_A, to_b, 1, 0, 2, 3000);
    proto_msg_t *acc = s_submit_accepted(env, a, good);
    truc_frames_t *frames = NULL;
    proto_msg_t *msg = s_deliver(b, &frames, TH_RECV_TIMEOUT_MS);
    s_check_deliver(env, msg, frames, good, truc_receipts_find(acc, truc_doc_id(good)));
    proto_msg_destroy(&msg);
    truc_frames_destroy(&frames);
    proto_msg_destroy(&acc);

    truc_doc_destroy(&good);
    truc_doc_destroy(&doc);
    truc_doc_destroy(&large);
    proto_buf_free(&body);
    proto_buf_free(&large_body);
    proto_buf_free(&ready_body);
    free(deep_arrays);
    free(deep_maps);
    free(big);
    th_soft_done(env);
    th_broker_stop(env);
    th_pass(env);
}

// ---------------------------------------------------------------------------

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, th_setup, th_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_broker", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_accept_deliver),
        S_TEST(test_rejections),
        S_TEST(test_undecodable_with_id),
        S_TEST(test_handshake_refusals),
        S_TEST(test_store_forward),
        S_TEST(test_store_forward_restart),
        S_TEST(test_flow_control),
        S_TEST(test_redelivery),
        S_TEST(test_crash_recovery),
        S_TEST(test_refuse_key_mode),
        S_TEST(test_refuse_directory),
        S_TEST(test_refuse_bind),
        S_TEST(test_refuse_locked),
        S_TEST(test_cli),
        S_TEST(test_hostile),
    };
    return th_run_tests("test_broker", "truc-broker", tests, sizeof tests / sizeof tests[0],
                        filter);
}
