/*  fuzz_api.c - libFuzzer target for the agent's local API requests.

    Input: one request frame, exactly as a DMS sends it on the API socket
    (agent/API.md). The target hands it to agent_api_handle on a real agent
    and checks what the API promises, aborting on any broken promise so
    libFuzzer reports it:

      - every request is answered exactly once, or (`events` with `wait`)
        waits as one long-poll that is answered when it is due;
      - every reply is one well-formed msgpack map without repeated keys,
        with a bool `ok`; a failure names a defined non-zero `code`, its
        `error` name, a `field` and a non-empty `message`;
      - the API ends every read transaction it begins.

    The agent is made once, with agent_new as truc-agent does, in a sandbox
    directory (mkdtemp under TMPDIR or /tmp, removed at a normal exit; a
    crash leaves it for a look): a fresh agency key and broker identity, a
    real LMDB store, the API and events sockets. It never talks to a
    broker: agent_run is never called. Before the first input the store is
    seeded so that requests reach past "unknown document": a directory
    snapshot signed by the broker (one active peer, one suspended and one
    revoked agency), a document this agency sent (S_SENT) with an ACCEPTED
    receipt and a notice it sent (S_NOTICE), a document it received with
    one attachment and a recall request (S_INBOX), a quarantined one
    (S_QUAR) and an event. The corpus (agent/fuzz/corpus) names these ids,
    and agent/fuzz/api.dict holds them and the API's words for libFuzzer.
    Whatever transaction a request leaves open is aborted afterwards, so
    every input meets exactly that store: a crash replays, and the store
    never grows however long the run.

    Files: the agent reads a `path` and writes a fetch `dir` only below
    api.allowed_dirs (agent/files.h). Here that is S_EXCHANGE,
    "/proc/self/cwd/exchange": each input runs with the sandbox as the
    working directory (fchdir there and back, so that libFuzzer's own
    relative paths keep working between inputs), so the corpus names the
    sandbox's "exchange" by a fixed absolute path, whatever mkdtemp chose.
    It holds a seed of each kind agent/files.c tells apart (s_seeds): a
    regular file, one in a subdirectory, one over api.max_document, a
    symlink to a file beside it, a symlink to the sandbox ("up"), a FIFO,
    and folders where fetch would meet a planted symlink as the document's
    folder or as its file. After every input the fence is checked, aborting
    if it broke: every seed is as it was, and nothing was added to or
    removed from the sandbox's top, its keys or the data directory; then
    "exchange" is laid anew.
    In case the fence breaks all the same, inputs that could reach outside
    the sandbox are skipped before the agent sees them: any string
    containing "..", and any string starting with "/" but not with S_BOX,
    "/proc/self/cwd". The sandbox's only links are the seeds, which point
    inside it, and it has no other special files, so relative paths stay
    inside it too. A crash inside the agent happens in the sandbox: give
    libFuzzer an absolute -artifact_prefix (as scripts/fuzz.sh and the
    smoke run do).

    Run it with scripts/fuzz.sh 600 fuzz_api; fuzz_replay runs the corpus
    in every build. FUZZ_API_VERBOSE=1 prints every reply and the agent's
    log, to see how far a corpus input gets.
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_internal.h"
#include "config.h"
#include "proto/identity.h"
#include "proto/log.h"
#include "proto/merkle.h"
#include "proto/sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_SELF     "000.00.01.H01" // the agent's agency
#define S_PEER     "000.00.00.G09" // receives S_SENT, sent S_INBOX
#define S_SUSP     "000.00.02.H01" // suspended in the directory
#define S_GONE     "000.00.03.H01" // revoked in the directory
#define S_SENT     "a0000000-0000-4000-8000-000000000001"
#define S_NOTICE   "a0000000-0000-4000-8000-000000000002"
#define S_INBOX    "b0000000-0000-4000-8000-000000000001"
#define S_QUAR     "c0000000-0000-4000-8000-000000000001"
#define S_RECALL   "d0000000-0000-4000-8000-000000000001" // the recall request about S_INBOX
#define S_BOX      "/proc/self/cwd"                       // the sandbox, while an input runs
#define S_EXCHANGE S_BOX "/exchange"                      // api.allowed_dirs
#define S_BIG      70000 // bytes of exchange/big.bin: over api.max_document
#define S_ROUTE    "fuzz"
#define S_DEPTH    64 // deeper than the API allows (8): what is refused here is refused there

static struct {
    char root[PATH_MAX]; // the sandbox
    int box, home;       // directory descriptors: the sandbox, where we were started
    agent_config_t config;
    agent_t *agent;
    msgpack_sbuffer replies;   // what the current request was answered
    bool verbose;              // FUZZ_API_VERBOSE set: print every reply
    char keys[256], data[256]; // what "keys" and "data" held after the setup
} s_h;

//  The exchange directory as laid before every input, relative to the
//  sandbox, parents first. text is a file's bytes (NULL: S_BIG bytes,
//  sparse) or a link's target.
static const struct {
    const char *path;
    mode_t type;
    const char *text;
} s_seeds[] = {
    { "exchange", S_IFDIR, NULL },
    { "exchange/att.txt", S_IFREG, "Phụ lục kèm theo công văn\n" },
    { "exchange/link.txt", S_IFLNK, "att.txt" },
    { "exchange/up", S_IFLNK, ".." },
    { "exchange/fifo", S_IFIFO, NULL },
    { "exchange/big.bin", S_IFREG, NULL },
    { "exchange/sub", S_IFDIR, NULL },
    { "exchange/sub/inner.txt", S_IFREG, "Danh sách nơi nhận\n" },
    //  Where fetch of S_INBOX meets a symlink as its file, and as its folder.
    { "exchange/planted", S_IFDIR, NULL },
    { "exchange/planted/" S_INBOX, S_IFDIR, NULL },
    { "exchange/planted/" S_INBOX "/cong-van-den.pdf", S_IFLNK, "../../att.txt" },
    { "exchange/planted-dir", S_IFDIR, NULL },
    { "exchange/planted-dir/" S_INBOX, S_IFLNK, "../sub" },
};

static void s_require(bool ok, const char *what)
{
    if (!ok) {
        //  Back home, so that libFuzzer writes the crashing input there.
        if (fchdir(s_h.home) != 0)
            perror("fuzz_api: fchdir");
        fprintf(stderr, "fuzz_api: invariant broken: %s\n", what);
        abort();
    }
}

static void s_setup_check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_api: setup failed: %s\n", what);
        abort();
    }
}

// ---------------------------------------------------------------------------
//  The sandbox

static void s_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *dir = opendir(path);
        struct dirent *e;
        while (dir && (e = readdir(dir)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char child[PATH_MAX];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            s_remove_tree(child);
        }
        if (dir)
            closedir(dir);
        rmdir(path);
    } else {
        unlink(path);
    }
}

//  Lay the exchange directory's seeds (the working directory is the
//  sandbox). False if any could not be made.
static bool s_exchange_lay(void)
{
    for (size_t i = 0; i < sizeof s_seeds / sizeof s_seeds[0]; i++) {
        const char *path = s_seeds[i].path, *text = s_seeds[i].text;
        bool ok;
        if (s_seeds[i].type == S_IFDIR) {
            ok = mkdir(path, 0750) == 0;
        } else if (s_seeds[i].type == S_IFLNK) {
            ok = symlink(text, path) == 0;
        } else if (s_seeds[i].type == S_IFIFO) {
            ok = mkfifo(path, 0640) == 0;
        } else {
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
            ok = fd >= 0 && (text ? write(fd, text, strlen(text)) == (ssize_t) strlen(text)
                                  : ftruncate(fd, S_BIG) == 0);
            ok = fd >= 0 && close(fd) == 0 && ok;
        }
        if (!ok)
            return false;
    }
    return true;
}

//  The names in a directory, sorted, in buf ("a/b/c/"); "?" if unreadable.
static void s_listing(const char *path, char *buf, size_t cap)
{
    struct dirent **names = NULL;
    int n = scandir(path, &names, NULL, alphasort);
    size_t used = 0;
    buf[0] = '\0';
    if (n < 0)
        snprintf(buf, cap, "?");
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (strcmp(name, ".") && strcmp(name, "..") && used < cap)
            used += (size_t) snprintf(buf + used, cap - used, "%s/", name);
        free(names[i]);
    }
    free(names);
}

//  After a request: the fence of agent/files.c held (see the top), then
//  the exchange directory is laid anew for the next input.
static void s_exchange_check(void)
{
    for (size_t i = 0; i < sizeof s_seeds / sizeof s_seeds[0]; i++) {
        const char *path = s_seeds[i].path, *text = s_seeds[i].text;
        struct stat st;
        s_require(lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == s_seeds[i].type,
                  "a seed of the exchange directory is still there, of its kind");
        if (s_seeds[i].type == S_IFREG)
            s_require((size_t) st.st_size == (text ? strlen(text) : S_BIG),
                      "a seed file of the exchange directory is never written");
        if (s_seeds[i].type == S_IFLNK) {
            char target[64];
            ssize_t n = readlink(path, target, sizeof target);
            s_require(n == (ssize_t) strlen(text) && memcmp(target, text, (size_t) n) == 0,
                      "a seed symlink of the exchange directory is never replaced");
        }
    }
    char now[256];
    s_listing(".", now, sizeof now);
    s_require(strcmp(now, "data/exchange/keys/") == 0,
              "nothing is written in the sandbox outside the exchange directory");
    s_listing("keys", now, sizeof now);
    s_require(strcmp(now, s_h.keys) == 0, "nothing is written among the agent's keys");
    s_listing("data", now, sizeof now);
    s_require(strcmp(now, s_h.data) == 0, "nothing is written in the agent's data directory");
    s_remove_tree("exchange");
    s_require(s_exchange_lay(), "lay the exchange directory anew");
}

static bool s_string_allowed(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '.' && p[i + 1] == '.')
            return false;
    size_t box = strlen(S_BOX);
    return n == 0 || p[0] != '/' ||
           (n >= box && memcmp(p, S_BOX, box) == 0 && (n == box || p[box] == '/'));
}

static bool s_object_allowed(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
        return s_string_allowed(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (!s_object_allowed(&o->via.array.ptr[i]))
                return false;
        return true;
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < o->via.map.size; i++)
            if (!s_object_allowed(&o->via.map.ptr[i].key) ||
                !s_object_allowed(&o->via.map.ptr[i].val))
                return false;
        return true;
    default:
        return true;
    }
}

//  False if a string of the request could name a file outside the sandbox.
//  Input that is not one msgpack value is refused by the agent before any
//  file is touched, so it is always allowed.
static bool s_input_allowed(const uint8_t *data, size_t size)
{
    if (proto_msgpack_check(data, size, S_DEPTH, NULL) != PROTO_OK)
        return true;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    bool allowed =
        msgpack_unpack_next(&u, (const char *) data, size, &off) != MSGPACK_UNPACK_SUCCESS ||
        s_object_allowed(&u.data);
    msgpack_unpacked_destroy(&u);
    return allowed;
}

// ---------------------------------------------------------------------------
//  The agent and its seeded store

static proto_id_t s_id(const char *text)
{
    proto_id_t id;
    s_setup_check(proto_id_parse(text, &id) == PROTO_OK, text);
    return id;
}

static void s_pack_kv_str(msgpack_packer *pk, const char *key, const char *value)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
    msgpack_pack_str_with_body(pk, value, strlen(value));
}

static void s_pack_kv_uint(msgpack_packer *pk, const char *key, uint64_t value)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
    msgpack_pack_uint64(pk, value);
}

//  A directory snapshot signed by the broker, as the agent keeps it.
static void s_seed_directory(agent_t *agent, const proto_identity_t *hub,
                             const proto_identity_t *const *agencies)
{
    static const char *const codes[] = { S_PEER, S_SELF, S_SUSP, S_GONE }; // sorted
    static const char *const names[] = { "Bộ Tài chính", "Sở Nội vụ Hà Nội", "Sở Y tế",
                                         "Sở Giao thông" };
    static const uint8_t states[] = { PROTO_AGENCY_ACTIVE, PROTO_AGENCY_ACTIVE,
                                      PROTO_AGENCY_SUSPENDED, PROTO_AGENCY_REVOKED };
    proto_dir_entry_t entries[4];
    memset(entries, 0, sizeof entries);
    for (int i = 0; i < 4; i++) {
        entries[i].code = codes[i];
        entries[i].name = names[i];
        memcpy(entries[i].key, proto_identity_public(agencies[i])->sign_pk, PROTO_KEY_LEN);
        entries[i].state = states[i];
    }
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DIRECTORY;
    msg.u.directory = (proto_directory_msg_t){
        .serial = 7, .time = agent_now(), .broker = "hub", .entries = entries, .nentries = 4
    };
    s_setup_check(proto_directory_sign(&msg.u.directory, hub, msg.u.directory.sig) == PROTO_OK,
                  "sign the directory");
    proto_buf_t body;
    proto_buf_init(&body);
    s_setup_check(proto_msg_encode(&msg, &body, NULL) == PROTO_OK, "encode the directory");
    proto_msg_t *decoded = NULL;
    s_setup_check(proto_msg_decode(PROTO_KIND_DIRECTORY, body.data, body.len, &decoded, NULL) ==
                      PROTO_OK,
                  "decode the directory");
    s_setup_check(agent_store_directory_put(agent->kv, body.data, body.len) == PROTO_OK,
                  "store the directory");
    proto_msg_destroy(&agent->directory);
    agent->directory = decoded;
    proto_buf_free(&body);
}

//  A document this agency sent (through agent_outbox_add, as the API does),
//  the broker's ACCEPTED receipt for it, and a notice this agency sent.
static void s_seed_sent(agent_t *agent, const proto_identity_t *self, const proto_identity_t *hub)
{
    static const char att_bytes[] = "Nội dung công văn đã gửi";
    const char *to[] = { S_PEER };
    proto_attachment_t att = { .name = "cong-van-di.pdf", .type = "application/pdf" };
    proto_attachment_hash(&att, att_bytes, sizeof att_bytes - 1);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_SUBMIT;
    proto_doc_t *doc = &msg.u.document.doc;
    doc->id = s_id(S_SENT);
    doc->from = S_SELF;
    doc->to = to;
    doc->nto = 1;
    doc->created = agent_now();
    doc->doc_type = "Công văn";
    doc->subject = "Về việc thử nghiệm trục liên thông";
    doc->code_number = "12";
    doc->code_notation = "SNV-VP";
    doc->urgency = 1;
    doc->att = &att;
    doc->natt = 1;
    s_setup_check(proto_doc_sign(doc, self, msg.u.document.sig) == PROTO_OK, "sign S_SENT");
    const void *frames[] = { att_bytes };
    const size_t lens[] = { sizeof att_bytes - 1 };
    s_setup_check(agent_outbox_add(agent, &msg, frames, lens, 1) == PROTO_OK, "queue S_SENT");

    proto_leaf_t leaf = {
        .event = PROTO_EVENT_ACCEPTED, .id = doc->id, .from = S_SELF, .time = agent_now(), .seq = 42
    };
    s_setup_check(proto_doc_hash(doc, leaf.hash) == PROTO_OK, "hash S_SENT");
    proto_msg_t receipt;
    memset(&receipt, 0, sizeof receipt);
    receipt.kind = PROTO_KIND_ACCEPTED;
    proto_item_t item;
    static uint8_t path[PROTO_MAX_PATH][PROTO_HASH_LEN];
    s_setup_check(proto_receipts_build(&leaf, 1, hub, agent_now(), &receipt.u.receipts.head,
                                       receipt.u.receipts.sig, &item, path) == PROTO_OK,
                  "build the receipt");
    receipt.u.receipts.items = &item;
    receipt.u.receipts.nitems = 1;
    proto_buf_t encoded;
    proto_buf_init(&encoded);
    s_setup_check(proto_msg_encode(&receipt, &encoded, NULL) == PROTO_OK, "encode the receipt");
    s_setup_check(agent_store_receipt_append(agent->kv, &doc->id, PROTO_KIND_ACCEPTED, encoded.data,
                                             encoded.len) == PROTO_OK,
                  "store the receipt");
    proto_buf_free(&encoded);

    proto_msg_t notice;
    memset(&notice, 0, sizeof notice);
    notice.kind = PROTO_KIND_STATUS;
    proto_notice_t *n = &notice.u.status.notice;
    n->id = s_id(S_NOTICE);
    n->doc = s_id(S_INBOX);
    n->from = S_SELF;
    n->to = S_PEER;
    n->code = 3;
    n->time = agent_now();
    n->note = "Đã vào sổ";
    s_setup_check(proto_notice_sign(n, self, notice.u.status.sig) == PROTO_OK, "sign S_NOTICE");
    s_setup_check(agent_outbox_add(agent, &notice, NULL, NULL, 0) == PROTO_OK, "queue S_NOTICE");
}

//  A document received from the peer, stored as the agent stores a verified
//  delivery (inbox.c, agent_inbox_on_deliver: the frames, the inbox record and its
//  sequence entry), with the peer's recall request (13) about it; and a
//  quarantined delivery.
static void s_seed_received(agent_t *agent, const proto_identity_t *peer)
{
    static const char att_bytes[] = "%PDF-1.4 công văn đến";
    const char *to[] = { S_SELF };
    proto_attachment_t att = { .name = "cong-van-den.pdf", .type = "application/pdf" };
    proto_attachment_hash(&att, att_bytes, sizeof att_bytes - 1);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = PROTO_KIND_DELIVER;
    proto_doc_t *doc = &msg.u.document.doc;
    doc->id = s_id(S_INBOX);
    doc->from = S_PEER;
    doc->to = to;
    doc->nto = 1;
    doc->created = agent_now();
    doc->doc_type = "Quyết định";
    doc->subject = "Về việc phân công nhiệm vụ";
    doc->code_number = "345";
    doc->code_notation = "QĐ-BTC";
    doc->date = "2025-11-20";
    doc->urgency = 2;
    doc->signer.name = "Nguyễn Văn A";
    doc->att = &att;
    doc->natt = 1;
    msg.u.document.accepted = agent_now();
    msg.u.document.seq = 7;
    s_setup_check(proto_doc_sign(doc, peer, msg.u.document.sig) == PROTO_OK, "sign S_INBOX");
    proto_buf_t body;
    proto_buf_init(&body);
    s_setup_check(proto_msg_encode(&msg, &body, NULL) == PROTO_OK, "encode S_INBOX");
    const void *frames[] = { body.data, att_bytes };
    const size_t lens[] = { body.len, sizeof att_bytes - 1 };
    s_setup_check(agent_store_frames_put(agent->kv, 'i', &doc->id, frames, lens, 2) == PROTO_OK,
                  "store the frames of S_INBOX");
    proto_buf_free(&body);

    //  Inbox record: its header (store.h), then the summary.
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    uint64_t now = agent_now();
    agent_inbox_summary_pack(&pk, doc);
    agent_inbox_t inbox = { .received = now, .summary = buf.data, .summary_len = buf.size };
    s_setup_check(agent_store_inbox_add(agent->kv, &doc->id, &inbox) == PROTO_OK,
                  "store the inbox record of S_INBOX");

    //  The peer asks for it back.
    msgpack_sbuffer_clear(&buf);
    msgpack_pack_map(&pk, 5);
    s_pack_kv_str(&pk, "from", S_PEER);
    s_pack_kv_str(&pk, "to", S_SELF);
    s_pack_kv_uint(&pk, "code", 13);
    s_pack_kv_uint(&pk, "time", now);
    s_pack_kv_str(&pk, "note", "Đề nghị thu hồi để sửa số");
    proto_id_t recall = s_id(S_RECALL);
    s_setup_check(agent_store_note_put(agent->kv, &doc->id, &recall, buf.data, buf.size) ==
                      PROTO_OK,
                  "store the recall request");

    //  A delivery that failed its checks.
    msgpack_sbuffer_clear(&buf);
    agent_quar_pack(&pk, S_PEER, now, PROTO_ERR_BAD_SIGNATURE,
                    "the sender's signature does not verify");
    proto_id_t quar = s_id(S_QUAR);
    s_setup_check(agent_store_quar_put(agent->kv, &quar, buf.data, buf.size) == PROTO_OK,
                  "store the quarantined document");
    msgpack_sbuffer_destroy(&buf);
    agent_event(agent, "inbox.new", &doc->id, "ssuu", "from", doc->from, "subject", doc->subject,
                "urgency", (uint64_t) doc->urgency, "op", (uint64_t) doc->op);
}

//  Forget the replies and events prepared for after the commit: the
//  harness aborts instead (or has committed the seed, which needs none).
static void s_after_clear(agent_t *agent)
{
    for (size_t i = 0; i < agent->nafter; i++) {
        free(agent->after[i].route.data);
        free(agent->after[i].body.data);
    }
    agent->nafter = 0;
    agent->nacks = 0;
}

static void s_cleanup(void)
{
    agent_destroy(&s_h.agent);
    agent_config_free(&s_h.config);
    msgpack_sbuffer_destroy(&s_h.replies);
    if (s_h.root[0])
        s_remove_tree(s_h.root);
    close(s_h.box);
    close(s_h.home);
}

static void s_setup(void)
{
    s_h.verbose = getenv("FUZZ_API_VERBOSE") != NULL;
    proto_log_set_level(s_h.verbose ? PROTO_LOG_DEBUG : PROTO_LOG_NONE);
    const char *tmp = getenv("TMPDIR");
    snprintf(s_h.root, sizeof s_h.root, "%s/truc-fuzz-api-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    s_setup_check(mkdtemp(s_h.root) != NULL, "mkdtemp");
    s_h.home = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    s_h.box = open(s_h.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    s_setup_check(s_h.home >= 0 && s_h.box >= 0 && fchdir(s_h.box) == 0, "into the sandbox");
    s_setup_check(mkdir("keys", 0700) == 0 && mkdir("data", 0700) == 0, "mkdir");
    s_setup_check(s_exchange_lay(), "lay the exchange directory");

    const char *const codes[] = { S_PEER, S_SELF, S_SUSP, S_GONE };
    proto_identity_t *agencies[4];
    for (int i = 0; i < 4; i++) {
        agencies[i] = proto_identity_generate(PROTO_ROLE_AGENCY, codes[i]);
        s_setup_check(agencies[i] != NULL, "an agency identity");
    }
    proto_identity_t *hub = proto_identity_generate(PROTO_ROLE_BROKER, "hub");
    s_setup_check(hub != NULL, "the broker identity");
    char key[2 * PATH_MAX], pub[2 * PATH_MAX], data[2 * PATH_MAX];
    snprintf(key, sizeof key, "agent.identity=%s/keys/agency.secret", s_h.root);
    snprintf(pub, sizeof pub, "broker.public_key=%s/keys/hub.public", s_h.root);
    snprintf(data, sizeof data, "agent.data_dir=%s/data", s_h.root);
    s_setup_check(proto_identity_save(agencies[1], key + strlen("agent.identity="), NULL,
                                      PROTO_KDF_MIN, true) == PROTO_OK &&
                      proto_public_save(proto_identity_public(hub),
                                        pub + strlen("broker.public_key="), true) == PROTO_OK,
                  "save the keys");
    //  Nothing listens on the discard port, and agent_run never runs anyway.
    const char *sets[] = { key,
                           pub,
                           data,
                           "broker.endpoint=tcp://127.0.0.1:9",
                           "api.allowed_dirs=" S_EXCHANGE,
                           "api.max_document=65536",
                           "store.map_size=64M" };
    char err[512] = "";
    s_setup_check(proto_config_fill(agent_config_table, agent_config_table_size, &s_h.config, NULL,
                                    sets, sizeof sets / sizeof sets[0], err,
                                    sizeof err) == PROTO_OK,
                  err);
    s_h.agent = agent_new(&s_h.config, err, sizeof err);
    s_setup_check(s_h.agent != NULL, err);
    msgpack_sbuffer_init(&s_h.replies);
    atexit(s_cleanup);

    agent_t *agent = s_h.agent;
    s_setup_check(proto_store_begin(agent->kv) == PROTO_OK, "begin");
    s_seed_directory(agent, hub, (const proto_identity_t *const *) agencies);
    s_seed_sent(agent, agencies[1], hub);
    s_seed_received(agent, agencies[0]);
    s_setup_check(proto_store_commit(agent->kv) == PROTO_OK, "commit the seed");
    s_after_clear(agent);
    for (int i = 0; i < 4; i++)
        proto_identity_destroy(&agencies[i]);
    proto_identity_destroy(&hub);
    s_listing("keys", s_h.keys, sizeof s_h.keys);
    s_listing("data", s_h.data, sizeof s_h.data);
    s_setup_check(fchdir(s_h.home) == 0, "back from the sandbox");
}

// ---------------------------------------------------------------------------
//  Checking the replies

static const msgpack_object *s_get(const msgpack_object *map, const char *key)
{
    size_t n = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
            memcmp(k->via.str.ptr, key, n) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static bool s_same_key(const msgpack_object *a, const msgpack_object *b)
{
    return a->type == MSGPACK_OBJECT_STR && b->type == MSGPACK_OBJECT_STR &&
           a->via.str.size == b->via.str.size &&
           memcmp(a->via.str.ptr, b->via.str.ptr, a->via.str.size) == 0;
}

//  Every map in a reply has str keys, each once.
static void s_check_maps(const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < o->via.array.size; i++)
            s_check_maps(&o->via.array.ptr[i]);
    } else if (o->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            s_require(k->type == MSGPACK_OBJECT_STR, "reply map keys are strings");
            for (uint32_t j = 0; j < i; j++)
                s_require(!s_same_key(k, &o->via.map.ptr[j].key), "no key twice in a reply map");
            s_check_maps(&o->via.map.ptr[i].val);
        }
    }
}

//  Check every reply the request got; returns how many there were.
static size_t s_check_replies(void)
{
    size_t off = 0, count = 0;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    while (off < s_h.replies.size) {
        msgpack_unpack_return ret =
            msgpack_unpack_next(&u, s_h.replies.data, s_h.replies.size, &off);
        s_require(ret == MSGPACK_UNPACK_SUCCESS, "a reply is complete msgpack");
        count++;
        if (s_h.verbose) {
            msgpack_object_print(stderr, u.data);
            fputc('\n', stderr);
        }
        const msgpack_object *map = &u.data;
        s_require(map->type == MSGPACK_OBJECT_MAP, "a reply is a map");
        s_check_maps(map);
        const msgpack_object *ok = s_get(map, "ok");
        s_require(ok && ok->type == MSGPACK_OBJECT_BOOLEAN, "a reply has a bool ok");
        if (ok->via.boolean)
            continue;
        const msgpack_object *code = s_get(map, "code"), *error = s_get(map, "error");
        const msgpack_object *field = s_get(map, "field"), *message = s_get(map, "message");
        s_require(code && code->type == MSGPACK_OBJECT_POSITIVE_INTEGER && code->via.u64 > 0 &&
                      proto_err_is_known(code->via.u64),
                  "a failure has a defined code");
        const char *name = proto_errname((proto_err_t) code->via.u64);
        s_require(error && error->type == MSGPACK_OBJECT_STR &&
                      error->via.str.size == strlen(name) &&
                      memcmp(error->via.str.ptr, name, error->via.str.size) == 0,
                  "a failure's error is the name of its code");
        s_require(field && field->type == MSGPACK_OBJECT_STR, "a failure has a field");
        s_require(message && message->type == MSGPACK_OBJECT_STR && message->via.str.size > 0,
                  "a failure has a message");
    }
    msgpack_unpacked_destroy(&u);
    return count;
}

//  True if a read transaction is open: a lookup works outside a write.
static bool s_reading(agent_t *agent)
{
    const void *v;
    size_t len;
    //  No directory stored is PROTO_ERR_NOT_FOUND; no transaction at all is
    //  PROTO_ERR_INTERNAL.
    return !proto_store_writing(agent->kv) &&
           agent_store_directory_get(agent->kv, &v, &len) != PROTO_ERR_INTERNAL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_h.agent)
        s_setup();
    if (!s_input_allowed(data, size))
        return 0;
    agent_t *agent = s_h.agent;
    s_require(fchdir(s_h.box) == 0, "into the sandbox");
    msgpack_sbuffer_clear(&s_h.replies);
    size_t waiting = agent->nwaiters;
    agent_api_handle(agent, S_ROUTE, strlen(S_ROUTE), data, size, &s_h.replies);
    size_t replies = s_check_replies();
    s_require(replies + (agent->nwaiters - waiting) == 1,
              "one reply per request, or one long-poll waiting");
    s_require(!s_reading(agent), "no read transaction left open");
    proto_store_abort(agent->kv);
    s_after_clear(agent);
    //  Long-polls due now are answered on the socket (to no one) and forgotten.
    agent_api_timers(agent, UINT64_MAX);
    s_require(agent->nwaiters == 0, "a due long-poll is answered");
    s_require(!s_reading(agent), "no read transaction left open by a long-poll");
    s_exchange_check();
    s_require(fchdir(s_h.home) == 0, "back from the sandbox");
    return 0;
}
