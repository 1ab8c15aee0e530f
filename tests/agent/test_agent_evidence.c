/*  tests/agent/test_agent_evidence.c - evidence bundles made by real agents and
    checked by the real truc-verify.

    Real truc-broker and truc-agent processes (tests/lib/agent_harness.h);
    bundles written by the real `truc evidence` command and through the
    local API's `evidence`, checked offline by truc-verify with the broker's
    key pinned.

      trip      A sends a document with an attachment to B and C; both
                receive it and B sends a status notice back. `truc evidence`
                at A and at B: truc-verify exits 0 on both, A's report
                proves acceptance and each delivery, B's its own delivery;
                A's notice is in both. --no-content verifies too; one byte
                changed in a bundle makes truc-verify exit 2. An unknown id
                is ERR_UNKNOWN_DOC, a path outside the allowed directories
                ERR_NOT_AUTHORIZED, both through the API and the CLI.
      rotation  A's document to B is delivered; a bundle is made; A's key
                is rotated (`truc-keys directory rekey`, default grace) and
                A restarts with its new key: the bundle made before still
                verifies, and bundles made after the rotation, at A and at
                B, about the document signed before it verify too.
      sealed    A seals a document to B (seal, seal_text): the bundles at A
                and at B verify, with and without content (the signature
                commits to the ciphertext and plaintext hashes).
      old_store what an older agent did not keep, removed from the stopped
                agents' stores: a notice's signed body (A's reply says it
                is held only as a summary), A's sent body (`evidence` is
                refused, saying what was not kept), B's own DELIVERED (B's
                bundle is made, says what it lacks, and is unproven).

    Every wait polls with a generous deadline.

    Usage: test_agent_evidence TRUC_BROKER TRUC_KEYS TRUC_AGENT TRUC TRUC_VERIFY
    [TEST_NAME] (or the same names in the environment).
*/
#include <errno.h>
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

#include <cmocka.h>
#include <sodium.h>

#include "agent_harness.h"
#include "store.h"

#define S_TYPE   "Công văn"
#define S_ID_LEN 37 // UUID text and NUL
#define S_OUT    (64 * 1024)

typedef char s_id_t[S_ID_LEN];

static const char *s_truc_path;
static const char *s_verify_path;
static const char *const s_fast_retry[] = { "broker.reconnect_max=2s", NULL };

//  The report truc-verify printed last.
static char s_out[S_OUT];

// ---------------------------------------------------------------------------
//  Helpers

static void s_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    th_check(f && fwrite(data, 1, len, f) == len && fclose(f) == 0, "write %s: %s", path,
             strerror(errno));
}

//  The broker's Ed25519 key as truc-verify --broker-key takes it.
static const char *s_broker_hex(ah_env_t *env)
{
    static char hex[2 * PROTO_KEY_LEN + 1];
    sodium_bin2hex(hex, sizeof hex, proto_identity_public(env->th->hub)->sign_pk, PROTO_KEY_LEN);
    return hex;
}

//  truc-verify FILE --broker-key KEY; returns its exit status, the report
//  in s_out.
static int s_verify(ah_env_t *env, const char *file)
{
    const char *argv[] = { s_verify_path, file, "--broker-key", s_broker_hex(env), NULL };
    int status = th_run(env->th, argv, s_out, sizeof s_out);
    th_check(WIFEXITED(status), "truc-verify %s did not exit", file);
    return WEXITSTATUS(status);
}

static void s_verify_ok(ah_env_t *env, const char *file, const char *what)
{
    int rc = s_verify(env, file);
    th_check(rc == 0, "%s: truc-verify exits %d, not 0:\n%s", what, rc, s_out);
}

//  `truc --data-dir DATA evidence ID --out FILE [--no-content]`; returns its
//  exit status, its output in out.
static int s_truc_evidence(ah_env_t *env, ah_agent_t *a, const char *id, const char *file,
                           bool content, char *out, size_t cap)
{
    const char *argv[] = { s_truc_path,
                           "--data-dir",
                           ah_agent_data(a),
                           "evidence",
                           id,
                           "--out",
                           file,
                           content ? NULL : "--no-content",
                           NULL };
    int status = th_run(env->th, argv, out, cap);
    th_check(WIFEXITED(status), "truc evidence did not exit");
    return WEXITSTATUS(status);
}

static void s_evidence(ah_env_t *env, ah_agent_t *a, const char *id, const char *file, bool content)
{
    char out[4096];
    int rc = s_truc_evidence(env, a, id, file, content, out, sizeof out);
    th_check(rc == 0, "truc evidence %s at %s exits %d: %s", id, ah_agent_code(a), rc, out);
}

//  A bundle's path in ROOT/evidence (an allowed directory: the harness
//  allows ROOT), which truc needs to exist to make the path absolute.
static void s_path(ah_env_t *env, char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/evidence", env->th->root);
    th_check(mkdir(out, 0750) == 0 || errno == EEXIST, "mkdir %s: %s", out, strerror(errno));
    snprintf(out, cap, "%s/evidence/%s", env->th->root, name);
}

//  Print the last report for the record, a line at a time (cmocka cuts
//  long messages).
static void s_print_report(const char *title)
{
    print_message("%s\n", title);
    for (const char *p = s_out; *p;) {
        const char *end = strchr(p, '\n');
        int len = end ? (int) (end - p) : (int) strlen(p);
        print_message("    %.*s\n", len, p);
        p += len + (end ? 1 : 0);
    }
}

//  The report holds this line (the start of one, after its label).
static void s_report_has(const char *text, const char *what)
{
    th_check(strstr(s_out, text) != NULL, "%s: the report does not say \"%s\":\n%s", what, text,
             s_out);
}

static void s_submit(ah_agent_t *a, const char *const *to, size_t nto, const char *subject,
                     const char *att, s_id_t id)
{
    ah_reply_t *r =
        att ? ah_call(a, "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s path:s}]}",
                      "submit", to, nto, S_TYPE, subject, "to-trinh.txt", "text/plain", att)
            : ah_call(a, "{cmd:s doc:{to:A type:s subject:s}}", "submit", to, nto, S_TYPE, subject);
    ah_expect_ok(r, "submit");
    snprintf(id, S_ID_LEN, "%s", ah_str(r->map, "id"));
    ah_reply_destroy(&r);
}

static bool s_delivered_by(const ah_reply_t *r, void *arg)
{
    const msgpack_object *list = ah_get(r->map, "document.recipients");
    for (uint32_t i = 0;
         ah_is_ok(r) && list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size; i++)
        if (ah_str_is(&list->via.array.ptr[i], "agency", arg) &&
            ah_str_is(&list->via.array.ptr[i], "state", "delivered"))
            return true;
    return false;
}

static void s_wait_delivered(ah_agent_t *a, const char *id, th_agency_t to)
{
    ah_reply_t *r =
        ah_poll(a, s_delivered_by, (void *) (uintptr_t) th_code(to),
                "the sender holds the recipient's DELIVERED", "{cmd:s id:s}", "sent", id);
    ah_reply_destroy(&r);
}

//  The bundle the API wrote holds at least *arg notices.
static bool s_notices_at_least(const ah_reply_t *r, void *arg)
{
    return ah_is_ok(r) && ah_int(r->map, "notices") >= (int64_t) (uintptr_t) arg;
}

static void s_status_back(ah_agent_t *b, ah_agent_t *a, const char *id, const char *file)
{
    ah_reply_t *r = ah_call(b, "{cmd:s id:s code:i note:s}", "status", id, 3, "Đã vào sổ");
    ah_expect_ok(r, "status 03");
    ah_reply_destroy(&r);
    ah_events_wait(a, "sent.status", "doc", id, NULL);
    //  B keeps its notice once the broker has accepted it.
    r = ah_poll(b, s_notices_at_least, (void *) (uintptr_t) 1, "B's bundle holds its notice",
                "{cmd:s id:s out:s}", "evidence", id, file);
    ah_reply_destroy(&r);
}

static void s_change_one_byte(const char *from, const char *to)
{
    static uint8_t buf[1 << 20];
    FILE *f = fopen(from, "rb");
    th_check(f != NULL, "open %s", from);
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    th_check(n > 200 && n < sizeof buf, "bundle %s is %zu bytes", from, n);
    //  A byte of the document body's subject, well inside the bundle.
    const char *subject = "Tờ trình";
    size_t len = strlen(subject);
    uint8_t *at = NULL;
    for (size_t i = 0; !at && i + len <= n; i++)
        if (memcmp(buf + i, subject, len) == 0)
            at = buf + i;
    th_check(at != NULL, "the subject is not in %s", from);
    at[1] ^= 0x01;
    s_write(to, buf, n);
}

// ---------------------------------------------------------------------------
//  trip

static void test_trip(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, s_fast_retry);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, s_fast_retry);
    ah_agent_t *c = ah_agent_run(env, TH_C, 0, s_fast_retry);
    ah_wait_connected(a, true);
    ah_wait_connected(b, true);
    ah_wait_connected(c, true);

    char att[TH_PATH_MAX + 32];
    snprintf(att, sizeof att, "%s/to-trinh.txt", env->th->root);
    static const char text[] = "Nội dung tờ trình gửi kèm.\n";
    s_write(att, text, sizeof text - 1);
    const char *to[] = { th_code(TH_B), th_code(TH_C) };
    s_id_t id;
    s_submit(a, to, 2, "Tờ trình về việc cấp kinh phí", att, id);
    s_wait_delivered(a, id, TH_B);
    s_wait_delivered(a, id, TH_C);

    char at_a[TH_PATH_MAX + 64], at_b[TH_PATH_MAX + 64], bare[TH_PATH_MAX + 64],
        bad[TH_PATH_MAX + 64];
    s_path(env, at_a, sizeof at_a, "at-a.bundle");
    s_path(env, at_b, sizeof at_b, "at-b.bundle");
    s_path(env, bare, sizeof bare, "at-a-no-content.bundle");
    s_path(env, bad, sizeof bad, "tampered.bundle");
    s_status_back(b, a, id, at_b);

    //  The sender's bundle: acceptance and both deliveries, B's notice.
    s_evidence(env, a, id, at_a, true);
    s_verify_ok(env, at_a, "A's bundle");
    s_print_report("truc-verify of A's bundle:");
    s_report_has("accepted     proven", "A's bundle");
    char line[128];
    for (int i = 0; i < 2; i++) {
        snprintf(line, sizeof line, "recipient    %s: delivered proven", to[i]);
        s_report_has(line, "A's bundle");
    }
    s_report_has("STATUS", "A's bundle");
    s_report_has("to-trinh.txt: bytes match the hash the sender signed", "A's bundle");

    //  The recipient's bundle: the document as delivered, its own DELIVERED
    //  and the notice it sent.
    s_evidence(env, b, id, at_b, true);
    s_verify_ok(env, at_b, "B's bundle");
    s_print_report("truc-verify of B's bundle:");
    snprintf(line, sizeof line, "recipient    %s: delivered proven", th_code(TH_B));
    s_report_has(line, "B's bundle");
    s_report_has("accepted     not held", "B's bundle");
    s_report_has("STATUS", "B's bundle");

    //  The API's replies: nothing lacking at the sender; at B what only the
    //  sender holds.
    ah_reply_t *r = ah_call(a, "{cmd:s id:s out:s}", "evidence", id, at_a);
    ah_expect_ok(r, "evidence at A");
    th_check(ah_count(r->map, "lacks") == 0 && ah_str_is(r->map, "role", "sender") &&
                 ah_int(r->map, "receipts") == 3 && ah_int(r->map, "notices") == 1,
             "A's reply: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s id:s out:s}", "evidence", id, at_b);
    ah_expect_ok(r, "evidence at B");
    th_check(ah_count(r->map, "lacks") == 2 && ah_str_is(r->map, "role", "recipient") &&
                 ah_int(r->map, "receipts") == 1 && ah_int(r->map, "notices") == 1,
             "B's reply: %s", ah_show(r->map));
    ah_reply_destroy(&r);

    //  Without content: hashes only, still proven.
    s_evidence(env, a, id, bare, false);
    s_verify_ok(env, bare, "A's bundle without content");
    th_check(strstr(s_out, "bytes match") == NULL, "no attachment bytes are claimed: %s", s_out);

    //  One byte changed: invalid, exit 2 (PROTOCOL.md 17.2).
    s_change_one_byte(at_a, bad);
    int rc = s_verify(env, bad);
    th_check(rc == 2, "a tampered bundle: truc-verify exits %d, not 2:\n%s", rc, s_out);

    //  An unknown id; a path outside the allowed directories.
    r = ah_call(a, "{cmd:s id:s out:s}", "evidence", "0b6c1e55-3f0e-4c57-9a9e-8d3c7f1a2b44", at_a);
    ah_expect_error(r, PROTO_ERR_UNKNOWN_DOC, "id", "evidence about an unknown id");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s id:s out:s}", "evidence", id, "/tmp/truc-evidence-outside.bundle");
    ah_expect_error(r, PROTO_ERR_NOT_AUTHORIZED, "out", "evidence outside the allowed directories");
    ah_reply_destroy(&r);
    r = ah_call(a, "{cmd:s id:s out:s}", "evidence", id, "relative.bundle");
    ah_expect_error(r, PROTO_ERR_VALUE, "out", "evidence to a relative path");
    ah_reply_destroy(&r);
    char out[4096];
    rc = s_truc_evidence(env, a, "0b6c1e55-3f0e-4c57-9a9e-8d3c7f1a2b44", at_a, true, out,
                         sizeof out);
    th_check(rc == 3 && strstr(out, "ERR_UNKNOWN_DOC"), "truc evidence, unknown id: %d %s", rc,
             out);
    rc = s_truc_evidence(env, a, id, "/tmp/truc-evidence-outside.bundle", true, out, sizeof out);
    th_check(rc == 3 && strstr(out, "ERR_NOT_AUTHORIZED"), "truc evidence, outside: %d %s", rc,
             out);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  rotation

static void s_keys(ah_env_t *env, const char *const *args)
{
    const char *argv[16] = { th_keys_path };
    for (size_t i = 0; args[i] && i < 14; i++)
        argv[i + 1] = args[i];
    static char out[4096];
    int status = th_run(env->th, argv, out, sizeof out);
    th_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "truc-keys %s %s: %s", args[0], args[1],
             out);
}

//  The operator's rotation of an agency's key, as test_rotation.c does it:
//  a new key pair, `directory rekey` with the default grace, the broker's
//  reload; the new secret takes the old one's place for the next start.
static void s_rotate(ah_env_t *env, th_agency_t who, const char *sub)
{
    char dir[TH_PATH_MAX + 16], secret[TH_PATH_MAX + 32], fresh[TH_PATH_MAX + 64],
        public[TH_PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/%s", env->th->root, sub);
    s_keys(env, (const char *const[]){ "new", "--agency", th_code(who), "--out", dir, NULL });
    snprintf(public, sizeof public, "%s/%s.public", dir, th_code(who));
    s_keys(env,
           (const char *const[]){ "directory", "rekey", "--dir", env->th->dirfile, public, NULL });
    th_check(kill(env->th->pid, SIGHUP) == 0, "kill SIGHUP");
    snprintf(secret, sizeof secret, "%s/%s.secret", env->th->keys, th_code(who));
    snprintf(fresh, sizeof fresh, "%s/%s.secret", dir, th_code(who));
    th_check(rename(fresh, secret) == 0, "rename %s: %s", fresh, strerror(errno));
}

//  The agent holds a directory newer than serial.
static bool s_serial_above(const ah_reply_t *r, void *arg)
{
    return ah_is_ok(r) && ah_int(r->map, "directory_serial") > (int64_t) (uintptr_t) arg;
}

static int64_t s_serial(ah_agent_t *a)
{
    ah_reply_t *r = ah_call(a, "{cmd:s}", "health");
    ah_expect_ok(r, "health");
    int64_t serial = ah_int(r->map, "directory_serial");
    ah_reply_destroy(&r);
    return serial;
}

static void test_rotation(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, s_fast_retry);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, s_fast_retry);
    ah_wait_connected(a, true);
    ah_wait_connected(b, true);
    ah_wait_directory(b);
    const char *to[] = { th_code(TH_B) };
    s_id_t id;
    s_submit(a, to, 1, "Tờ trình ký trước khi đổi khóa", NULL, id);
    s_wait_delivered(a, id, TH_B);
    char before[TH_PATH_MAX + 64], after_a[TH_PATH_MAX + 64], after_b[TH_PATH_MAX + 64];
    s_path(env, before, sizeof before, "before-rotation.bundle");
    s_path(env, after_a, sizeof after_a, "after-rotation-a.bundle");
    s_path(env, after_b, sizeof after_b, "after-rotation-b.bundle");
    s_evidence(env, a, id, before, true);
    s_verify_ok(env, before, "the bundle made before the rotation");

    //  A's key rotates; A starts again with its new key and learns the
    //  directory in which its old key is retired.
    int64_t serial_a = s_serial(a), serial_b = s_serial(b);
    s_rotate(env, TH_A, "keys-a2");
    ah_agent_stop(a);
    ah_agent_start(a);
    ah_wait_connected(a, true);
    ah_reply_t *r = ah_poll(a, s_serial_above, (void *) (uintptr_t) serial_a,
                            "A holds the directory with its old key retired", "{cmd:s}", "health");
    ah_reply_destroy(&r);
    r = ah_poll(b, s_serial_above, (void *) (uintptr_t) serial_b,
                "B holds the directory with A's old key retired", "{cmd:s}", "health");
    ah_reply_destroy(&r);

    s_verify_ok(env, before, "the bundle made before the rotation, checked after it");
    s_evidence(env, a, id, after_a, true);
    s_verify_ok(env, after_a, "A's bundle made after the rotation, document signed before");
    s_report_has("since retired", "A's bundle after the rotation: A's old key is retired");
    s_evidence(env, b, id, after_b, true);
    s_verify_ok(env, after_b, "B's bundle made after the rotation, document signed before");
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  sealed

static void test_sealed(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, s_fast_retry);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, s_fast_retry);
    ah_wait_connected(a, true);
    ah_wait_connected(b, true);
    ah_wait_directory(a);
    char att[TH_PATH_MAX + 32];
    snprintf(att, sizeof att, "%s/mat.txt", env->th->root);
    static const char text[] = "Tài liệu mật: chỉ người nhận đọc được.\n";
    s_write(att, text, sizeof text - 1);
    const char *to[] = { th_code(TH_B) };
    ah_reply_t *r = ah_call(a,
                            "{cmd:s doc:{to:A type:s subject:s content:s secrecy:i} "
                            "attachments:[{name:s type:s path:s}] seal:b seal_text:b}",
                            "submit", to, (size_t) 1, S_TYPE, "Về việc hồ sơ mật", "Tóm tắt mật", 1,
                            "mat.txt", "text/plain", att, 1, 1);
    ah_expect_ok(r, "submit sealed");
    s_id_t id;
    snprintf(id, sizeof id, "%s", ah_str(r->map, "id"));
    ah_reply_destroy(&r);
    s_wait_delivered(a, id, TH_B);
    const char *names[] = { "sealed-a.bundle", "sealed-a-bare.bundle", "sealed-b.bundle",
                            "sealed-b-bare.bundle" };
    for (int i = 0; i < 4; i++) {
        char file[TH_PATH_MAX + 64];
        s_path(env, file, sizeof file, names[i]);
        s_evidence(env, i < 2 ? a : b, id, file, i % 2 == 0);
        s_verify_ok(env, file, names[i]);
        th_check(strstr(s_out, "Tài liệu mật") == NULL, "plaintext in the report of %s", names[i]);
    }
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  old_store

//  Does the n bytes at p hold text?
static bool s_holds(const char *p, size_t n, const char *text)
{
    size_t len = strlen(text);
    for (size_t i = 0; i + len <= n; i++)
        if (memcmp(p + i, text, len) == 0)
            return true;
    return false;
}

//  Keys of table that start with the document's id, for s_forget.
typedef struct {
    const proto_id_t *id;
    uint8_t keys[16][2 * PROTO_ID_LEN];
    size_t lens[16], n;
} s_keys_t;

static bool s_key_one(void *arg, const void *key, size_t klen, const void *value, size_t vlen)
{
    s_keys_t *k = arg;
    (void) value;
    (void) vlen;
    if (klen < PROTO_ID_LEN || klen > sizeof k->keys[0] ||
        memcmp(key, k->id->bytes, PROTO_ID_LEN) != 0 || k->n == 16)
        return false;
    memcpy(k->keys[k->n], key, klen);
    k->lens[k->n++] = klen;
    return true;
}

//  Remove from the stopped agent's store what an agent that did not keep
//  evidence never wrote about document id: with sent, the body and frames
//  it sent (T_FRAMES 's'); with receipts, the receipts kept under it (at a
//  recipient: its own DELIVERED); always, the signed STATUS bodies
//  (T_STBODY), whose summaries stay in T_NOTES.
static void s_forget(ah_agent_t *a, const char *id_text, bool sent, bool receipts)
{
    char err[256];
    proto_id_t id;
    th_check(proto_id_parse(id_text, &id) == PROTO_OK, "id %s", id_text);
    proto_store_t *kv = agent_store_open(ah_agent_data(a), 1ull << 30, err, sizeof err);
    th_check(kv != NULL, "cannot open the agent's store: %s", err);
    th_check(proto_store_begin(kv) == PROTO_OK, "begin");
    uint8_t key[1 + PROTO_ID_LEN] = { 's' };
    memcpy(key + 1, id.bytes, PROTO_ID_LEN);
    if (sent)
        th_check(proto_store_del(kv, T_FRAMES, key, sizeof key) == PROTO_OK, "del frames");
    int tables[2] = { T_STBODY, T_RECEIPTS };
    for (int t = 0; t < (receipts ? 2 : 1); t++) {
        s_keys_t k = { .id = &id };
        proto_store_scan(kv, tables[t], id.bytes, PROTO_ID_LEN, s_key_one, &k);
        for (size_t i = 0; i < k.n; i++)
            th_check(proto_store_del(kv, tables[t], k.keys[i], k.lens[i]) == PROTO_OK, "del");
    }
    th_check(proto_store_commit(kv) == PROTO_OK, "commit");
    proto_store_destroy(&kv);
}

//  The reply's `lacks` names text.
static bool s_lacks(const ah_reply_t *r, const char *text)
{
    const msgpack_object *l = ah_get(r->map, "lacks");
    for (uint32_t i = 0; l && l->type == MSGPACK_OBJECT_ARRAY && i < l->via.array.size; i++)
        if (l->via.array.ptr[i].type == MSGPACK_OBJECT_STR &&
            s_holds(l->via.array.ptr[i].via.str.ptr, l->via.array.ptr[i].via.str.size, text))
            return true;
    return false;
}

static void test_old_store(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, s_fast_retry);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, s_fast_retry);
    ah_wait_connected(a, true);
    ah_wait_connected(b, true);
    const char *to[] = { th_code(TH_B) };
    s_id_t id;
    s_submit(a, to, 1, "Tờ trình gửi trước khi lưu chứng cứ", NULL, id);
    s_wait_delivered(a, id, TH_B);
    char file[TH_PATH_MAX + 64];
    s_path(env, file, sizeof file, "old.bundle");
    s_status_back(b, a, id, file);

    //  A's notice from B kept only as a summary: the bundle is made and
    //  says so.
    ah_agent_stop(a);
    s_forget(a, id, false, false);
    ah_agent_start(a);
    ah_reply_t *r = ah_call(a, "{cmd:s id:s out:s}", "evidence", id, file);
    ah_expect_ok(r, "evidence with a notice kept as a summary only");
    th_check(ah_int(r->map, "notices") == 0 && s_lacks(r, "only as summaries"),
             "the reply says the notice is not held: %s", ah_show(r->map));
    ah_reply_destroy(&r);

    //  A's sent body not kept: refused, saying what is missing.
    ah_agent_stop(a);
    s_forget(a, id, true, false);
    ah_agent_start(a);
    r = ah_call(a, "{cmd:s id:s out:s}", "evidence", id, file);
    ah_expect_error(r, PROTO_ERR_NOT_FOUND, "id", "evidence about a document sent before");
    th_check(strstr(ah_str(r->map, "message"), "was not kept") != NULL,
             "the refusal says what is missing: %s", ah_show(r->map));
    ah_reply_destroy(&r);

    //  B without its own DELIVERED: the bundle is made, unproven (exit 1),
    //  and the reply says why.
    ah_agent_stop(b);
    s_forget(b, id, false, true);
    ah_agent_start(b);
    r = ah_call(b, "{cmd:s id:s out:s}", "evidence", id, file);
    ah_expect_ok(r, "evidence at B without its DELIVERED");
    th_check(s_lacks(r, "this agency's DELIVERED: not kept"), "B's reply: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    int rc = s_verify(env, file);
    th_check(rc == 1, "B's bundle without its DELIVERED: truc-verify exits %d, not 1:\n%s", rc,
             s_out);
    ah_pass(env);
}

// ---------------------------------------------------------------------------

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, ah_setup, ah_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc =
        th_main_start(argc, argv, "test_agent_evidence", &filter, "TRUC_BROKER", &th_broker_path,
                      "TRUC_KEYS", &th_keys_path, "TRUC_AGENT", &ah_agent_path, "TRUC",
                      &s_truc_path, "TRUC_VERIFY", &s_verify_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_trip),
        S_TEST(test_rotation),
        S_TEST(test_sealed),
        S_TEST(test_old_store),
    };
    return th_run_tests("test_agent_evidence", "evidence bundles from real agents", tests,
                        sizeof tests / sizeof tests[0], filter);
}
