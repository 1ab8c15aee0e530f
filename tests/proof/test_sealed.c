/*  test_sealed.c - sealed documents between real agents through a real
    broker (PROTOCOL.md section 11, agent/seal.h).

        test_sealed BROKER KEYS AGENT [TEST_NAME]

    exchange: A seals two attachments (one of 3 MiB, so three 1 MiB
        chunks, with a marker across a chunk boundary) and its subject and
        content to B and D. B and D fetch the exact bytes, as files and
        inline, and the subject and content, while their inbox lists show
        the placeholder; C, not addressed, never sees the document. The marker is nowhere in the
   broker's data directory (its LMDB files included) nor in its log, while the marker of an unsealed
   document sent the same way is found there: the search would see it. tampered: a sender built here
   (a wire client signing as C) seals to B and signs a frame whose ciphertext was changed before
   signing, then one whose plaintext hash is not the plaintext's. The broker accepts both (their
   signatures and hashes hold); B's agent quarantines them as ERR_HASH_MISMATCH and C gets REFUSED
   back; a sealed document built right by the same sender is delivered and opens. refusals: what the
   API refuses about `seal`, with codes and fields.

    Labels evidence and security.
*/
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sodium.h>

#include "agent_harness.h"
#include "harness.h"
#include "proto/seal.h"
#include "truc_client.h"

#define S_MARKER   "TRUC-SEALED-MARKER-4c1d9e"
#define S_UNSEALED "TRUC-UNSEALED-MARKER-83b2"
#define S_BIG      ((3u << 20) + 4321) // three full 1 MiB chunks and a bit

typedef char s_id_t[PROTO_ID_TEXT_LEN];

// ---------------------------------------------------------------------------
//  Helpers

//  len bytes of pseudo-random content with the marker at the start, across
//  the first chunk boundary and at the end.
static uint8_t *s_content(size_t len, const char *marker, uint32_t seed)
{
    uint8_t *p = malloc(len);
    th_check(p != NULL, "out of memory");
    uint8_t key[randombytes_SEEDBYTES] = { (uint8_t) seed, (uint8_t) (seed >> 8) };
    randombytes_buf_deterministic(p, len, key);
    size_t m = strlen(marker);
    size_t at[] = { 0, len > (1u << 20) ? (1u << 20) - m / 2 : len / 2, len - m };
    for (size_t i = 0; i < 3; i++)
        memcpy(p + at[i], marker, m);
    return p;
}

static void s_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    th_check(f && fwrite(data, 1, len, f) == len && fclose(f) == 0, "cannot write %s", path);
}

//  The whole file, or NULL; *len its size.
static uint8_t *s_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *grown = realloc(buf, cap *= 2);
            if (!grown)
                free(buf);
            buf = grown;
        }
    }
    fclose(f);
    th_check(buf != NULL, "out of memory reading %s", path);
    *len = n;
    return buf;
}

static bool s_has(const uint8_t *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (hay[i] == (uint8_t) needle[0] && memcmp(hay + i, needle, n) == 0)
            return true;
    return false;
}

//  Whether any regular file under dir (recursively) holds needle; the
//  first such file goes into found.
static bool s_tree_has(const char *dir, const char *needle, char *found, size_t flen)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool hit = false;
    struct dirent *e;
    while (!hit && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[TH_PATH_MAX * 2];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            hit = s_tree_has(path, needle, found, flen);
        } else if (S_ISREG(st.st_mode)) {
            size_t len = 0;
            uint8_t *bytes = s_slurp(path, &len);
            hit = bytes && s_has(bytes, len, needle);
            free(bytes);
            if (hit)
                snprintf(found, flen, "%s", path);
        }
    }
    closedir(d);
    return hit;
}

//  Whether the broker's data directory or any broker log holds needle.
static bool s_broker_has(ah_env_t *env, const char *needle, char *found, size_t flen)
{
    if (s_tree_has(env->th->data, needle, found, flen))
        return true;
    for (int i = 0; i < env->th->nprocs; i++) {
        size_t len = 0;
        uint8_t *log = s_slurp(env->th->logs[i], &len);
        bool hit = log && s_has(log, len, needle);
        free(log);
        if (hit) {
            snprintf(found, flen, "%s", env->th->logs[i]);
            return true;
        }
    }
    return false;
}

static void s_hash_hex(const void *data, size_t len, char hex[2 * PROTO_HASH_LEN + 1])
{
    uint8_t hash[PROTO_HASH_LEN];
    crypto_generichash(hash, sizeof hash, data, len, NULL, 0);
    sodium_bin2hex(hex, 2 * PROTO_HASH_LEN + 1, hash, sizeof hash);
}

//  Fetch id at agent into ROOT/fetch-<code>/ and check each attachment's
//  bytes, size and hash against the plaintext.
static void s_fetch_exact(ah_env_t *env, ah_agent_t *agent, const char *id,
                          const char *const *names, const uint8_t *const *plain, const size_t *lens,
                          size_t n)
{
    char dir[TH_PATH_MAX * 2];
    snprintf(dir, sizeof dir, "%s/fetch-%s", env->th->root, ah_agent_code(agent));
    th_check(mkdir(dir, 0700) == 0, "mkdir %s", dir);
    ah_reply_t *r = ah_call(agent, "{cmd:s id:s dir:s}", "fetch", id, dir);
    ah_expect_ok(r, "fetch a sealed document into a folder");
    th_check(ah_count(r->map, "attachments") == (int64_t) n, "fetch: %s", ah_show(r->map));
    for (size_t i = 0; i < n; i++) {
        char key[64], hex[2 * PROTO_HASH_LEN + 1], path[TH_PATH_MAX * 3];
        const msgpack_object *a = ah_get(r->map, "attachments");
        a = &a->via.array.ptr[i];
        s_hash_hex(plain[i], lens[i], hex);
        th_check(ah_str_is(a, "name", names[i]) && ah_int(a, "size") == (int64_t) lens[i] &&
                     ah_str_is(a, "hash", hex) && ah_bool(a, "sealed") == 1,
                 "fetched attachment %zu: %s", i, ah_show(a));
        snprintf(path, sizeof path, "%s/%s/%s", dir, id, names[i]);
        size_t got = 0;
        uint8_t *bytes = s_slurp(path, &got);
        th_check(bytes && got == lens[i] && memcmp(bytes, plain[i], got) == 0,
                 "%s: %zu bytes, not the %zu bytes sent", path, got, lens[i]);
        free(bytes);
        (void) key;
    }
    ah_reply_destroy(&r);
}

typedef struct {
    const char *agency;
} s_rcpt_wait_t;

//  The sent record shows every recipient delivered.
static bool s_all_delivered(const ah_reply_t *r, void *arg)
{
    (void) arg;
    int64_t n = ah_count(r->map, "document.recipients");
    if (!ah_is_ok(r) || n <= 0)
        return false;
    const msgpack_object *list = ah_get(r->map, "document.recipients");
    for (int64_t i = 0; i < n; i++)
        if (!ah_str_is(&list->via.array.ptr[i], "state", "delivered"))
            return false;
    return true;
}

// ---------------------------------------------------------------------------
//  exchange

static void test_exchange(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_agent_t *c = ah_agent_run(env, TH_C, 0, NULL);
    ah_agent_t *d = ah_agent_run(env, TH_D, 0, NULL);
    ah_wait_directory(a);

    static const char *const names[] = { "Hồ sơ mật.bin", "ghi-chu.txt" };
    static const char note[] = "Ghi chú mật: " S_MARKER " — chỉ người nhận đọc được.\n";
    uint8_t *big = s_content(S_BIG, S_MARKER, 1);
    const uint8_t *plain[2] = { big, (const uint8_t *) note };
    size_t lens[2] = { S_BIG, sizeof note - 1 };
    char paths[2][TH_PATH_MAX * 2];
    for (int i = 0; i < 2; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/send-%d", env->th->root, i);
        s_write(paths[i], plain[i], lens[i]);
    }
    const char *to[] = { th_code(TH_B), th_code(TH_D) };
    static const char subject[] = "Về việc hồ sơ mật " S_MARKER;
    static const char content[] = "Tóm tắt: " S_MARKER " không được lộ.";
    ah_reply_t *r =
        ah_call(a,
                "{cmd:s doc:{to:A type:s subject:s content:s secrecy:i} "
                "attachments:[{name:s type:s path:s} {name:s type:s path:s}] seal:b "
                "seal_text:b}",
                "submit", to, (size_t) 2, "Công văn", subject, content, 1, names[0],
                "application/octet-stream", paths[0], names[1], "text/plain", paths[1], 1, 1);
    ah_expect_ok(r, "submit with seal and seal_text");
    s_id_t id;
    snprintf(id, sizeof id, "%s", ah_str(r->map, "id"));
    ah_reply_destroy(&r);

    //  B and D receive it and read exactly what A read from its files.
    ah_events_wait(b, "inbox.new", "id", id, "from", th_code(TH_A), NULL);
    ah_events_wait(d, "inbox.new", "id", id, "from", th_code(TH_A), NULL);
    s_fetch_exact(env, b, id, names, plain, lens, 2);
    s_fetch_exact(env, d, id, names, plain, lens, 2);
    //  Not as an edXML package: it would hold ciphertext, or plaintext no
    //  key protects.
    r = ah_call(d, "{cmd:s id:s format:s}", "fetch", id, "edxml");
    ah_expect_error(r, PROTO_ERR_BAD_STATE, "format", "a sealed document as edXML");
    ah_reply_destroy(&r);
    r = ah_call(d, "{cmd:s id:s}", "fetch", id);
    ah_expect_ok(r, "fetch inline");
    const msgpack_object *data = ah_get(r->map, "attachments[1].data");
    th_check(data && data->type == MSGPACK_OBJECT_BIN && data->via.bin.size == lens[1] &&
                 memcmp(data->via.bin.ptr, note, lens[1]) == 0,
             "inline fetch: %s", ah_show(r->map));
    th_check(ah_str_is(r->map, "document.subject", subject) &&
                 ah_str_is(r->map, "document.content", content) &&
                 ah_str_is(r->map, "sealed", "text"),
             "the sealed subject and content come back: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    r = ah_call(b, "{cmd:s}", "inbox");
    th_check(ah_str_is(r->map, "documents[0].subject", "(trích yếu mật)"),
             "the inbox lists the placeholder: %s", ah_show(r->map));
    ah_reply_destroy(&r);
    ah_poll(a, s_all_delivered, NULL, "B and D deliver the sealed document", "{cmd:s id:s}", "sent",
            id);
    th_check(ah_events_count(b, "inbox.quarantined", NULL) == 0 &&
                 ah_events_count(d, "inbox.quarantined", NULL) == 0,
             "nothing quarantined");

    //  C, not addressed, has nothing of it.
    r = ah_call(c, "{cmd:s id:s}", "fetch", id);
    ah_expect_error(r, PROTO_ERR_UNKNOWN_DOC, "id", "fetch at an agency not addressed");
    ah_reply_destroy(&r);

    //  The control: an unsealed document carries its marker into the
    //  broker's store, where the search below finds it.
    char plain_path[TH_PATH_MAX * 2];
    snprintf(plain_path, sizeof plain_path, "%s/send-plain", env->th->root);
    s_write(plain_path, "plain " S_UNSEALED "\n", strlen("plain " S_UNSEALED "\n"));
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s} attachments:[{name:s type:s path:s}]}",
                "submit", to, (size_t) 1, "Công văn", "Không mật", "thuong.txt", "text/plain",
                plain_path);
    ah_expect_ok(r, "submit without seal");
    s_id_t plain_id;
    snprintf(plain_id, sizeof plain_id, "%s", ah_str(r->map, "id"));
    ah_reply_destroy(&r);
    ah_events_wait(b, "inbox.new", "id", plain_id, NULL);

    //  Clean exits (under the sanitizers: no leak of plaintext buffers).
    ah_agent_stop(a);
    ah_agent_stop(b);
    ah_agent_stop(c);
    ah_agent_stop(d);
    ah_broker_stop(env);
    char found[TH_PATH_MAX * 3] = "";
    th_check(s_broker_has(env, S_UNSEALED, found, sizeof found),
             "the unsealed marker is not in the broker's files: the search sees nothing");
    th_check(!s_broker_has(env, S_MARKER, found, sizeof found),
             "the sealed marker is in %s: the broker held plaintext", found);
    free(big);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  tampered

typedef enum { S_GOOD, S_FLIPPED, S_WRONG_HASH } s_how_t;

//  A sealed document from C to B, built and signed here; how says what is
//  wrong with it.
static truc_doc_t *s_crafted(ah_env_t *env, s_how_t how, const uint8_t *plain, size_t len,
                             proto_enc_t *enc, proto_sealed_key_t *key, proto_buf_t *frame)
{
    const char *to[] = { th_code(TH_B) };
    truc_att_t att = { "mat.bin", "application/octet-stream", plain, len };
    truc_doc_t *doc =
        truc_doc_build(env->th->agency[TH_C], to, 1, "Tài liệu mật", "Công văn", 0, &att, 1);
    th_check(doc != NULL, "truc_doc_build");
    proto_seal_to_t rcpt = { th_code(TH_B),
                             proto_identity_public(env->th->agency[TH_B])->curve_pk };
    th_check(proto_seal_encrypt(plain, len, 1024, &rcpt, 1, enc, key, frame) == PROTO_OK,
             "proto_seal_encrypt");
    if (how == S_FLIPPED)
        frame->data[frame->len / 2] ^= 0x10; // inside the second of three chunks
    if (how == S_WRONG_HASH)
        enc->plain_hash[0] ^= 0x01; // the sender signs a plaintext it did not seal
    proto_doc_t *d = &truc_doc_msg(doc)->u.document.doc;
    d->secrecy = 2;
    proto_attachment_hash(&d->att[0], frame->data, frame->len);
    d->att[0].enc = enc;
    th_check(truc_doc_sign(doc, env->th->agency[TH_C]) == PROTO_OK, "truc_doc_sign");
    return doc;
}

//  The DELIVERED item about id that C receives: its event and code.
static void s_receipt_for(truc_client_t *c, const proto_id_t *id, uint8_t *event, uint32_t *code)
{
    for (int tries = 0; tries < 20; tries++) {
        proto_msg_t *msg = NULL;
        proto_err_t rc =
            truc_client_recv_kind(c, PROTO_KIND_DELIVERED, TH_RECV_TIMEOUT_MS, &msg, NULL);
        th_check(rc == PROTO_OK, "no DELIVERED for C: %s", proto_errname(rc));
        const proto_receipts_t *rs = &msg->u.receipts;
        bool found = false;
        for (uint32_t i = 0; i < rs->nitems && !found; i++)
            if (memcmp(rs->items[i].leaf.id.bytes, id->bytes, PROTO_ID_LEN) == 0) {
                *event = rs->items[i].leaf.event;
                *code = rs->items[i].leaf.code;
                found = true;
            }
        if (rs->mid) {
            uint64_t mid = rs->mid;
            th_check(truc_client_ack(c, &mid, 1) == PROTO_OK, "ACK");
        }
        proto_msg_destroy(&msg);
        if (found)
            return;
    }
    th_check(false, "no receipt about the document reached C");
}

static void test_tampered(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *b = ah_agent_run(env, TH_B, 0, NULL);
    ah_wait_directory(b);
    truc_client_t *c = th_connect(env->th, TH_C, 16, NULL);

    const size_t len = 2500; // three chunks of 1,024
    uint8_t *plain = s_content(len, S_MARKER, 2);
    static const s_how_t hows[] = { S_FLIPPED, S_WRONG_HASH, S_GOOD };
    static const char *const what[] = { "a ciphertext byte changed before signing",
                                        "a plaintext hash that is not the plaintext's",
                                        "a sealed document built right" };
    s_id_t ids[3];
    for (int k = 0; k < 3; k++) {
        proto_enc_t enc;
        proto_sealed_key_t key;
        proto_buf_t frame;
        proto_buf_init(&frame);
        truc_doc_t *doc = s_crafted(env, hows[k], plain, len, &enc, &key, &frame);
        const proto_id_t *id = truc_doc_id(doc);
        proto_id_format(id, ids[k]);
        const void *att[1] = { frame.data };
        size_t lens[1] = { frame.len };
        th_check(truc_client_send(c, truc_doc_cmsg(doc), att, lens, 1) == PROTO_OK, "send");
        proto_msg_t *answer = NULL;
        proto_err_t rc = truc_client_recv_answer(c, id, TH_RECV_TIMEOUT_MS, &answer);
        //  The broker cannot tell: the signature and the frame's hash hold.
        th_check(rc == PROTO_OK && answer->kind == PROTO_KIND_ACCEPTED,
                 "%s: the broker should accept it, answered %s", what[k], proto_errname(rc));
        proto_msg_destroy(&answer);
        uint8_t event = 0;
        uint32_t code = 0;
        s_receipt_for(c, id, &event, &code);
        if (hows[k] == S_GOOD)
            th_check(event == PROTO_EVENT_DELIVERED && code == 0, "%s: event %u code %u", what[k],
                     event, code);
        else
            th_check(event == PROTO_EVENT_REFUSED && code == PROTO_ERR_HASH_MISMATCH,
                     "%s: B should refuse it with ERR_HASH_MISMATCH, event %u code %u", what[k],
                     event, code);
        truc_doc_destroy(&doc);
        proto_buf_free(&frame);
    }
    for (int k = 0; k < 2; k++) {
        ah_events_wait(b, "inbox.quarantined", "id", ids[k], "from", th_code(TH_C), "error",
                       "ERR_HASH_MISMATCH", NULL);
        ah_reply_t *r = ah_call(b, "{cmd:s id:s}", "fetch", ids[k]);
        ah_expect_error(r, PROTO_ERR_UNKNOWN_DOC, "id", "fetch a quarantined sealed document");
        ah_reply_destroy(&r);
    }
    const char *names[] = { "mat.bin" };
    const uint8_t *plains[] = { plain };
    s_fetch_exact(env, b, ids[2], names, plains, &len, 1);
    ah_agent_stop(b);
    th_drop(env->th, &c);
    ah_broker_stop(env);
    free(plain);
    ah_pass(env);
}

// ---------------------------------------------------------------------------
//  refusals

static void test_refusals(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env);
    ah_agent_t *a = ah_agent_run(env, TH_A, 0, NULL);
    ah_wait_directory(a);
    const char *to[] = { th_code(TH_B) };
    char path[TH_PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/att.txt", env->th->root);
    s_write(path, "x", 1);

    //  Sealing without a secrecy level.
    ah_reply_t *r =
        ah_call(a,
                "{cmd:s doc:{to:A type:s subject:s} "
                "attachments:[{name:s type:s path:s}] seal:b}",
                "submit", to, (size_t) 1, "Công văn", "x", "a.txt", "text/plain", path, 1);
    ah_expect_error(r, PROTO_ERR_VALUE, "doc.secrecy", "seal without secrecy");
    ah_reply_destroy(&r);
    //  Nothing to seal.
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s secrecy:s} seal:b}", "submit", to, (size_t) 1,
                "Công văn", "x", "mật", 1);
    ah_expect_error(r, PROTO_ERR_VALUE, "attachments", "seal without attachments");
    ah_reply_destroy(&r);
    //  Not a bool.
    r = ah_call(a, "{cmd:s doc:{to:A type:s subject:s secrecy:i} seal:s}", "submit", to, (size_t) 1,
                "Công văn", "x", 1, "yes");
    ah_expect_error(r, PROTO_ERR_TYPE, "seal", "seal as a string");
    ah_reply_destroy(&r);
    //  seal: false is an ordinary document.
    r = ah_call(a,
                "{cmd:s doc:{to:A type:s subject:s secrecy:i} "
                "attachments:[{name:s type:s path:s}] seal:b}",
                "submit", to, (size_t) 1, "Công văn", "x", 1, "a.txt", "text/plain", path, 0);
    ah_expect_ok(r, "seal: false");
    ah_reply_destroy(&r);
    ah_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, ah_setup, ah_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_sealed", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_AGENT", &ah_agent_path, NULL);
    if (rc)
        return rc;
    const struct CMUnitTest tests[] = {
        S_TEST(test_exchange),
        S_TEST(test_tampered),
        S_TEST(test_refusals),
    };
    return th_run_tests("test_sealed", "sealed documents", tests, sizeof tests / sizeof tests[0],
                        filter);
}
