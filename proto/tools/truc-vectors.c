/*  truc-vectors - write truc's known-answer test vectors and fuzz seeds.

        truc-vectors [-c CORPUS_DIR] VECTORS_DIR

    Builds every vector from fixed inputs written below (seeds, ids, times,
    texts, attachment bytes) with libtruc_proto itself, and writes the text
    files that proto/vectors/README.md describes into VECTORS_DIR. With -c it
    also writes the fuzz seed corpus into CORPUS_DIR: one file per valid body,
    named "<kind>-<n>.bin", holding the fuzzer's kind selector byte (see
    proto/fuzz/fuzz_kinds.h) followed by the body.

    Nothing here is random or depends on the clock or the host, so two runs
    write identical files; the vectors_up_to_date test relies on that. Every
    body is checked before it is written: valid ones must decode and encode
    back to the same bytes, malformed ones must be refused with exactly the
    error and field the table below expects, or the generator stops.

    This program is a build tool for tests. It is not installed, and secret
    keys derived from the published test seeds protect nothing.
*/
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_kinds.h"
#include "proto/agency.h"
#include "proto/err.h"
#include "proto/identity.h"
#include "proto/merkle.h"
#include "proto/msg.h"
#include "proto/seal.h"
#include "proto/sign.h"
#include "vectors.h"
#include "vectors_evidence.h"
#include "proto/tlog.h"

// ---------------------------------------------------------------------------
//  Failing

void vec_die(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("truc-vectors: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    exit(EXIT_FAILURE);
}

void vec_check(proto_err_t rc, const char *what)
{
    if (rc != PROTO_OK)
        vec_die("%s: %s (%s)", what, proto_errname(rc), proto_strerror(rc));
}

void vec_check_info(proto_err_t rc, const proto_errinfo_t *info, const char *what)
{
    if (rc != PROTO_OK)
        vec_die("%s: %s at '%s': %s", what, proto_errname(rc), info->field, info->message);
}

void vec_append(proto_buf_t *buf, const void *data, size_t len)
{
    vec_check(proto_buf_append(buf, data, len), "append");
}

proto_id_t vec_id(const char *text)
{
    proto_id_t id;
    if (proto_id_parse(text, &id) != PROTO_OK)
        vec_die("bad id literal %s", text);
    return id;
}

// ---------------------------------------------------------------------------
//  Output: text files of "key: value" blocks, and corpus files

void vec_out_open(vec_out_t *out, const char *dir, const char *name, const char *about)
{
    int n = snprintf(out->path, sizeof out->path, "%s/%s", dir, name);
    if (n < 0 || (size_t) n >= sizeof out->path)
        vec_die("%s/%s: path too long", dir, name);
    out->file = fopen(out->path, "w");
    if (!out->file)
        vec_die("%s: %s", out->path, strerror(errno));
    out->blocks = 0;
    fprintf(out->file,
            "# truc known-answer test vectors: %s\n"
            "# Written by truc-vectors (proto/tools/truc-vectors.c); do not edit by hand.\n"
            "# Format: proto/vectors/README.md. Binary values are lowercase hex.\n",
            about);
}

void vec_out_close(vec_out_t *out)
{
    if (fflush(out->file) != 0 || ferror(out->file))
        vec_die("%s: write failed: %s", out->path, strerror(errno));
    if (fclose(out->file) != 0)
        vec_die("%s: close failed: %s", out->path, strerror(errno));
    out->file = NULL;
    printf("%s: %u blocks\n", out->path, out->blocks);
}

//  Start a block; comment (may be NULL) is one line of explanation above it.
void vec_block(vec_out_t *out, const char *comment)
{
    fputc('\n', out->file);
    if (comment)
        fprintf(out->file, "# %s\n", comment);
    out->blocks++;
}

void vec_field(vec_out_t *out, const char *key, const char *format, ...)
{
    char value[1024];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(value, sizeof value, format, args);
    va_end(args);
    if (n < 0 || (size_t) n >= sizeof value || strchr(value, '\n'))
        vec_die("%s: value of '%s' too long or multi-line", out->path, key);
    fprintf(out->file, n ? "%s: %s\n" : "%s:%s\n", key, value);
}

void vec_field_hex(vec_out_t *out, const char *key, const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *p = data;
    fprintf(out->file, len ? "%s: " : "%s:", key);
    for (size_t i = 0; i < len; i++) {
        fputc(digits[p[i] >> 4], out->file);
        fputc(digits[p[i] & 15], out->file);
    }
    fputc('\n', out->file);
}

//  A hex field whose key is "<base>[<index>]<suffix>".
void vec_field_item_hex(vec_out_t *out, const char *base, unsigned index, const char *suffix,
                        const void *data, size_t len)
{
    char key[64];
    snprintf(key, sizeof key, "%s[%u]%s", base, index, suffix);
    vec_field_hex(out, key, data, len);
}

//  Write one seed: the selector byte of kind, then the body.
void vec_seed(vec_corpus_t *corpus, int kind, const proto_buf_t *body)
{
    if (!corpus->dir)
        return;
    int selector = fuzz_selector_of_kind(kind);
    if (selector < 0 || kind < 0 || kind > 255)
        vec_die("kind %d has no fuzz selector", kind);
    char name[32], path[PATH_MAX];
    const char *kind_name = proto_kind_name(kind);
    size_t n = 0;
    for (; kind_name[n] && n + 1 < sizeof name; n++)
        name[n] = kind_name[n] >= 'A' && kind_name[n] <= 'Z' ? (char) (kind_name[n] - 'A' + 'a')
                                                             : kind_name[n];
    name[n] = '\0';
    int w = snprintf(path, sizeof path, "%s/%s-%u.bin", corpus->dir, name, ++corpus->count[kind]);
    if (w < 0 || (size_t) w >= sizeof path)
        vec_die("%s: path too long", corpus->dir);
    FILE *file = fopen(path, "wb");
    if (!file)
        vec_die("%s: %s", path, strerror(errno));
    uint8_t byte = (uint8_t) selector;
    if (fwrite(&byte, 1, 1, file) != 1 || fwrite(body->data, 1, body->len, file) != body->len ||
        fclose(file) != 0)
        vec_die("%s: write failed", path);
}

// ---------------------------------------------------------------------------
//  Identities

//  An identity with a fixed seed. The public API makes identities from a
//  random seed or from a key file, so the seed goes through an unencrypted
//  key file (format in keys/README.md) that lives only for this call.
static proto_identity_t *s_identity_from_seed(const char *dir, proto_role_t role, const char *name,
                                              const uint8_t seed[PROTO_IDENTITY_SEED_LEN])
{
    char path[PATH_MAX], hex[2 * PROTO_IDENTITY_SEED_LEN + 1], text[512], err[160];
    int n = snprintf(path, sizeof path, "%s/%s.key", dir, name);
    if (n < 0 || (size_t) n >= sizeof path)
        vec_die("%s: path too long", dir);
    proto_hex_encode(seed, PROTO_IDENTITY_SEED_LEN, hex);
    n = snprintf(text, sizeof text,
                 "[secret]\nformat = 1\nrole = %s\nname = %s\nencryption = none\nseed = %s\n",
                 proto_role_name(role), name, hex);
    if (n < 0 || (size_t) n >= sizeof text)
        vec_die("key file text too long");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        vec_die("%s: %s", path, strerror(errno));
    ssize_t written = write(fd, text, (size_t) n);
    if (close(fd) != 0 || written != n)
        vec_die("%s: write failed", path);
    proto_identity_t *id = NULL;
    proto_err_t rc = proto_identity_load(path, NULL, &id, err, sizeof err);
    unlink(path);
    if (rc != PROTO_OK)
        vec_die("%s: cannot load key file: %s (%s)", name, proto_errname(rc), err);
    return id;
}

static void s_identities(vec_gen_t *gen)
{
    static const struct {
        proto_role_t role;
        const char *name;
        const char *title;
    } rows[I_COUNT] = {
        [I_PROV] = { PROTO_ROLE_AGENCY, A_PROV, "Ủy ban nhân dân tỉnh Thử Nghiệm" },
        [I_MIN] = { PROTO_ROLE_AGENCY, A_MIN, "Bộ Thử Nghiệm" },
        [I_DEPT] = { PROTO_ROLE_AGENCY, A_DEPT, "Sở Nội vụ tỉnh Thử Nghiệm" },
        [I_DIV] = { PROTO_ROLE_AGENCY, A_DIV, "Phòng Công chức, viên chức" },
        [I_UNIT] = { PROTO_ROLE_AGENCY, A_UNIT, "Tổ Văn thư" },
        [I_BROKER] = { PROTO_ROLE_BROKER, BROKER, "trục liên thông thử nghiệm" },
    };
    vec_out_t out;
    vec_out_open(&out, gen->vectors_dir, "identities.txt", "identities");
    fprintf(out.file, "# seed = BLAKE2b-256(\"truc/vectors/seed/\" || name); the secret keys\n"
                      "# derived from these seeds are public and must never be used for real.\n");
    for (int i = 0; i < I_COUNT; i++) {
        vec_ident_t *ident = &gen->ident[i];
        char label[128], fingerprint[PROTO_FINGERPRINT_LEN + 1];
        ident->role = rows[i].role;
        ident->name = rows[i].name;
        ident->title = rows[i].title;
        int n = snprintf(label, sizeof label, "truc/vectors/seed/%s", ident->name);
        crypto_generichash(ident->seed, sizeof ident->seed, (const uint8_t *) label, (size_t) n,
                           NULL, 0);
        ident->id = s_identity_from_seed(gen->key_dir, ident->role, ident->name, ident->seed);
        ident->pub = proto_identity_public(ident->id);
        proto_fingerprint(ident->pub->sign_pk, fingerprint);

        vec_block(&out, ident->title);
        vec_field(&out, "name", "%s", ident->name);
        vec_field(&out, "role", "%s", proto_role_name(ident->role));
        vec_field_hex(&out, "seed", ident->seed, sizeof ident->seed);
        vec_field_hex(&out, "sign_pk", ident->pub->sign_pk, PROTO_KEY_LEN);
        vec_field_hex(&out, "curve_pk", ident->pub->curve_pk, PROTO_KEY_LEN);
        vec_field(&out, "fingerprint", "%s", fingerprint);
    }
    vec_out_close(&out);
}

const vec_ident_t *vec_ident(const vec_gen_t *gen, const char *name)
{
    for (int i = 0; i < I_COUNT; i++)
        if (strcmp(gen->ident[i].name, name) == 0)
            return &gen->ident[i];
    vec_die("no identity %s", name);
}

// ---------------------------------------------------------------------------
//  Bodies: encode, check the round trip, re-encode in the widest forms

//  Encode msg; the body must decode and encode back to the same bytes.
void vec_encode(const proto_msg_t *msg, proto_buf_t *body, const char *what)
{
    proto_errinfo_t info;
    vec_check_info(proto_msg_encode(msg, body, &info), &info, what);
    proto_msg_t *back = NULL;
    proto_buf_t again;
    proto_buf_init(&again);
    vec_check_info(proto_msg_decode(msg->kind, body->data, body->len, &back, &info), &info, what);
    vec_check_info(proto_msg_encode(back, &again, &info), &info, what);
    if (again.len != body->len || memcmp(again.data, body->data, body->len) != 0)
        vec_die("%s: body does not survive a decode and encode", what);
    proto_msg_destroy(&back);
    proto_buf_free(&again);
}

static void s_put_be(proto_buf_t *out, uint8_t tag, uint64_t value, unsigned bytes)
{
    uint8_t head[9];
    head[0] = tag;
    for (unsigned i = 0; i < bytes; i++)
        head[1 + i] = (uint8_t) (value >> (8 * (bytes - 1 - i)));
    vec_append(out, head, 1 + bytes);
}

//  Write o again with every length, count and integer in its widest form
//  and every map in reverse order: a body no encoder would choose, but one
//  every decoder must accept, with the same canonical bytes.
static void s_wide(const msgpack_object *o, proto_buf_t *out)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        s_put_be(out, 0xc0, 0, 0);
        return;
    case MSGPACK_OBJECT_BOOLEAN:
        s_put_be(out, o->via.boolean ? 0xc3 : 0xc2, 0, 0);
        return;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        s_put_be(out, 0xcf, o->via.u64, 8);
        return;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        s_put_be(out, 0xd3, (uint64_t) o->via.i64, 8);
        return;
    case MSGPACK_OBJECT_STR:
        s_put_be(out, 0xdb, o->via.str.size, 4);
        vec_append(out, o->via.str.ptr, o->via.str.size);
        return;
    case MSGPACK_OBJECT_BIN:
        s_put_be(out, 0xc6, o->via.bin.size, 4);
        vec_append(out, o->via.bin.ptr, o->via.bin.size);
        return;
    case MSGPACK_OBJECT_ARRAY:
        s_put_be(out, 0xdd, o->via.array.size, 4);
        for (uint32_t i = 0; i < o->via.array.size; i++)
            s_wide(&o->via.array.ptr[i], out);
        return;
    case MSGPACK_OBJECT_MAP:
        s_put_be(out, 0xdf, o->via.map.size, 4);
        for (uint32_t i = o->via.map.size; i-- > 0;) {
            s_wide(&o->via.map.ptr[i].key, out);
            s_wide(&o->via.map.ptr[i].val, out);
        }
        return;
    default:
        vec_die("no wide form for msgpack type %d", (int) o->type);
    }
}

void vec_wide_body(const proto_buf_t *body, proto_buf_t *out)
{
    msgpack_unpacked unpacked;
    size_t offset = 0;
    msgpack_unpacked_init(&unpacked);
    if (msgpack_unpack_next(&unpacked, (const char *) body->data, body->len, &offset) !=
            MSGPACK_UNPACK_SUCCESS ||
        offset != body->len)
        vec_die("msgpack-c cannot read our own body");
    proto_buf_reset(out);
    s_wide(&unpacked.data, out);
    msgpack_unpacked_destroy(&unpacked);
}

// ---------------------------------------------------------------------------
//  tlog.txt

#define TLOG_LEAVES 17

//  The log's leaves: the heads of batches 1..TLOG_LEAVES, each naming its
//  place in the log (head.log), as a broker's group commits would.
static void s_tlog_leaves(const vec_gen_t *gen, uint8_t (*hashes)[PROTO_HASH_LEN], proto_buf_t *buf,
                          vec_out_t *out)
{
    for (unsigned i = 0; i < TLOG_LEAVES; i++) {
        proto_head_t head = {
            .signer = BROKER, .time = T0 + 1000 * MINUTE + i * 250, .size = 1 + i % 5, .log = i + 1
        };
        crypto_generichash(head.root, PROTO_HASH_LEN, (const uint8_t *) &i, 1, NULL, 0);
        vec_check(proto_head_canonical(&head, buf), "tlog head");
        vec_check(proto_tlog_leaf_hash(&head, hashes[i]), "tlog leaf");
        if (out) {
            vec_field_item_hex(out, "leaf", i, "", buf->data, buf->len);
            vec_field_item_hex(out, "leaf_hash", i, "", hashes[i], PROTO_HASH_LEN);
        }
    }
    (void) gen;
}

static void s_tlog_proof_block(vec_out_t *out, uint64_t m, uint64_t n, const uint8_t *root_m,
                               const uint8_t *root_n, uint8_t (*proof)[PROTO_HASH_LEN],
                               uint32_t count, bool valid, const char *name, const char *comment)
{
    if ((proto_tlog_verify(m, root_m, n, root_n, (const uint8_t(*)[PROTO_HASH_LEN]) proof, count) ==
         PROTO_OK) != valid)
        vec_die("%s: the library disagrees that it is %s", name, valid ? "valid" : "invalid");
    vec_block(out, comment);
    vec_field(out, "name", "%s", name);
    vec_field(out, "from", "%llu", (unsigned long long) m);
    vec_field_hex(out, "from_root", root_m, PROTO_HASH_LEN);
    vec_field(out, "to", "%llu", (unsigned long long) n);
    vec_field_hex(out, "to_root", root_n, PROTO_HASH_LEN);
    for (uint32_t i = 0; i < count; i++)
        vec_field_item_hex(out, "proof", i, "", proof[i], PROTO_HASH_LEN);
    vec_field(out, "valid", "%s", valid ? "yes" : "no");
}

static void s_tlog(vec_gen_t *gen)
{
    static uint8_t hashes[TLOG_LEAVES][PROTO_HASH_LEN];
    uint8_t roots[TLOG_LEAVES + 1][PROTO_HASH_LEN];
    proto_buf_t buf, body;
    proto_buf_init(&buf);
    proto_buf_init(&body);
    vec_out_t out;
    vec_out_open(&out, gen->vectors_dir, "tlog.txt",
                 "the broker's transparency log: tree heads and consistency proofs");
    vec_block(&out, "the log's leaves: batch heads naming their place in the log");
    vec_field(&out, "name", "leaves");
    vec_field(&out, "size", "%u", TLOG_LEAVES);
    s_tlog_leaves(gen, hashes, &buf, &out);
    proto_tlog_mem_t mem = { .leaves = (const uint8_t(*)[PROTO_HASH_LEN]) hashes,
                             .n = TLOG_LEAVES };
    for (unsigned n = 0; n <= TLOG_LEAVES; n++)
        vec_check(proto_tlog_root(n, proto_tlog_mem_node, &mem, roots[n]), "tlog root");

    //  Signed tree heads of a few sizes, the empty log among them.
    const vec_ident_t *broker = vec_ident(gen, BROKER);
    static const unsigned sth_sizes[] = { 0, 1, 2, 7, 8, 17 };
    for (size_t i = 0; i < sizeof sth_sizes / sizeof sth_sizes[0]; i++) {
        unsigned n = sth_sizes[i];
        proto_sth_t sth = { .signer = BROKER, .time = T0 + 2000 * MINUTE + n, .size = n };
        memcpy(sth.root, roots[n], PROTO_HASH_LEN);
        vec_check(proto_sth_sign(&sth, broker->id), "sth");
        char name[32], comment[96];
        snprintf(name, sizeof name, "sth-%u", n);
        snprintf(comment, sizeof comment, "signed tree head of the first %u leaves", n);
        vec_block(&out, comment);
        vec_field(&out, "name", "%s", name);
        vec_field(&out, "kind", "LOG_PROOF");
        vec_field(&out, "signer", "%s", BROKER);
        vec_field(&out, "time", "%llu", (unsigned long long) sth.time);
        vec_field(&out, "size", "%u", n);
        vec_field_hex(&out, "root", sth.root, PROTO_HASH_LEN);
        vec_check(proto_sth_canonical(&sth, &buf), name);
        vec_field_hex(&out, "canonical", buf.data, buf.len);
        vec_field_hex(&out, "signature", sth.sig, PROTO_SIG_LEN);
        //  A LOG_PROOF from size 1 (none from 0), with this head.
        uint8_t proof[PROTO_TLOG_MAX_PROOF][PROTO_HASH_LEN];
        uint32_t count = 0;
        uint64_t from = n > 1 ? 1 : 0;
        vec_check(proto_tlog_prove(from, n, proto_tlog_mem_node, &mem, proof, &count), name);
        proto_msg_t msg = { .kind = PROTO_KIND_LOG_PROOF };
        msg.u.log_proof = (proto_log_proof_t){ .sth = sth, .from = from, .nproof = count };
        msg.u.log_proof.proof = proof;
        vec_encode(&msg, &body, name);
        vec_field(&out, "proof_from", "%llu", (unsigned long long) from);
        vec_field_hex(&out, "body", body.data, body.len);
        vec_seed(&gen->corpus, PROTO_KIND_LOG_PROOF, &body);
    }
    proto_msg_t prove = { .kind = PROTO_KIND_LOG_PROVE, .u.log_prove = { .from = 7 } };
    vec_encode(&prove, &body, "log_prove");
    vec_block(&out, "LOG_PROVE: an agent holding a head of size 7");
    vec_field(&out, "name", "log-prove-7");
    vec_field(&out, "kind", "LOG_PROVE");
    vec_field_hex(&out, "body", body.data, body.len);
    vec_seed(&gen->corpus, PROTO_KIND_LOG_PROVE, &body);

    //  Consistency proofs: RFC 9162's edge cases, each valid, then lies.
    static const unsigned pairs[][2] = { { 1, 1 },  { 1, 2 },  { 1, 8 },   { 2, 3 },  { 3, 4 },
                                         { 3, 7 },  { 4, 8 },  { 6, 8 },   { 7, 8 },  { 8, 9 },
                                         { 5, 17 }, { 9, 16 }, { 16, 17 }, { 0, 17 }, { 17, 17 } };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        unsigned m = pairs[i][0], n = pairs[i][1];
        uint8_t proof[PROTO_TLOG_MAX_PROOF][PROTO_HASH_LEN];
        uint32_t count = 0;
        char name[48], comment[96];
        vec_check(proto_tlog_prove(m, n, proto_tlog_mem_node, &mem, proof, &count), "prove");
        snprintf(name, sizeof name, "consistency-%u-%u", m, n);
        snprintf(comment, sizeof comment, "log of %u leaves extends the log of %u", n, m);
        s_tlog_proof_block(&out, m, n, roots[m], roots[n], proof, count, true, name, comment);
    }
    //  Invalid: a changed hash, a hash dropped, the wrong old size, a root
    //  that is not the log's, a shrunken log, a proof where none is needed.
    {
        uint8_t proof[PROTO_TLOG_MAX_PROOF][PROTO_HASH_LEN], bad_root[PROTO_HASH_LEN];
        uint32_t count = 0;
        vec_check(proto_tlog_prove(5, 17, proto_tlog_mem_node, &mem, proof, &count), "prove");
        proof[1][0] ^= 0x01;
        s_tlog_proof_block(&out, 5, 17, roots[5], roots[17], proof, count, false,
                           "bad-changed-hash", "invalid: one bit of the second hash changed");
        proof[1][0] ^= 0x01;
        s_tlog_proof_block(&out, 5, 17, roots[5], roots[17], proof, count - 1, false,
                           "bad-dropped-hash", "invalid: the last hash left out");
        s_tlog_proof_block(&out, 6, 17, roots[5], roots[17], proof, count, false, "bad-from-size",
                           "invalid: the proof of 5 to 17 claimed from 6");
        memcpy(bad_root, roots[17], PROTO_HASH_LEN);
        bad_root[31] ^= 0x80;
        s_tlog_proof_block(&out, 5, 17, roots[5], bad_root, proof, count, false, "bad-to-root",
                           "invalid: the new root is not the log's");
        s_tlog_proof_block(&out, 5, 17, roots[4], roots[17], proof, count, false, "bad-from-root",
                           "invalid: the old root is another size's");
        s_tlog_proof_block(&out, 17, 5, roots[17], roots[5], proof, count, false, "bad-shrunk",
                           "invalid: a log never shrinks");
        s_tlog_proof_block(&out, 8, 8, roots[8], roots[8], proof, 1, false, "bad-same-size",
                           "invalid: no proof is needed between equal sizes");
        s_tlog_proof_block(&out, 8, 8, roots[8], roots[7], proof, 0, false, "bad-fork",
                           "invalid: two roots for one size are a fork");
    }
    proto_buf_free(&buf);
    proto_buf_free(&body);
    vec_out_close(&out);
}

// ---------------------------------------------------------------------------
//  directory.txt

static void s_directory(vec_gen_t *gen)
{
    static proto_dir_entry_t entries[5] = {
        { .code = A_MIN, .state = PROTO_AGENCY_ACTIVE },
        { .code = A_PROV, .state = PROTO_AGENCY_ACTIVE, .valid_from = 1704067200 },
        { .code = A_DEPT,
          .state = PROTO_AGENCY_ACTIVE,
          .valid_from = 1704067200,
          .valid_until = 1893456000 },
        { .code = A_DIV, .state = PROTO_AGENCY_SUSPENDED },
        { .code = A_UNIT, .state = PROTO_AGENCY_REVOKED, .valid_until = 1735689600 },
    };
    for (int i = 0; i < 5; i++) {
        const vec_ident_t *ident = vec_ident(gen, entries[i].code);
        entries[i].name = ident->title;
        memcpy(entries[i].key, ident->pub->sign_pk, PROTO_KEY_LEN);
    }
    //  The same agencies after two rotations of A_PROV's key: its retired
    //  keys (fixed seeds) with their windows, oldest first (10.1).
    static proto_dir_entry_t rotated[5];
    static proto_keywin_t windows[2] = {
        { .from = 0, .until = 1767225600 },          // 2026-01-01, the first key
        { .from = 1767225600, .until = 1767830400 }, // then a week of grace
    };
    for (int i = 0; i < 2; i++) {
        uint8_t seed[crypto_sign_SEEDBYTES], sk[crypto_sign_SECRETKEYBYTES];
        memset(seed, 0x51 + i, sizeof seed);
        crypto_sign_seed_keypair(windows[i].key, sk, seed);
    }
    memcpy(rotated, entries, sizeof rotated);
    rotated[1].retired = windows;
    rotated[1].nretired = 2;
    //  Between brokers (16.5): a national directory naming a province as
    //  the home of two agencies, with that province's broker entry.
    static proto_dir_entry_t homed[5];
    memcpy(homed, entries, sizeof homed);
    homed[1].home = "hcm";
    homed[2].home = "hcm";
    static const char *hcm_codes[] = { A_DEPT };
    static const char *hcm_patterns[] = { "H01", "*.*.01.*" };
    static proto_dir_broker_t brokers[1] = { { .label = "hcm",
                                               .name = "Ho Chi Minh City broker",
                                               .state = PROTO_AGENCY_ACTIVE,
                                               .codes = hcm_codes,
                                               .ncodes = 1,
                                               .patterns = hcm_patterns,
                                               .npatterns = 2 } };
    {
        uint8_t seed[crypto_sign_SEEDBYTES], sk[crypto_sign_SECRETKEYBYTES];
        memset(seed, 0x61, sizeof seed);
        crypto_sign_seed_keypair(brokers[0].key, sk, seed);
    }
    static const struct {
        const char *name;
        const char *comment;
        uint64_t serial;
        uint32_t nentries;
        proto_dir_entry_t *entries;
    } dirs[] = {
        { "snapshot", "five agencies, one of each state, some with validity bounds", 7, 5,
          entries },
        { "empty", "the first directory of a new broker: no agencies yet", 1, 0, NULL },
        { "rotated",
          "one agency's key rotated twice, and the broker's once: retired keys with windows", 9, 5,
          rotated },
        { "between-brokers",
          "the form between brokers (truc/directory/2): homes and a broker entry", 11, 5, homed },
    };
    const vec_ident_t *broker = &gen->ident[I_BROKER];
    vec_out_t out;
    vec_out_open(&out, gen->vectors_dir, "directory.txt", "signed DIRECTORY snapshots");
    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
        proto_msg_t msg = { .kind = PROTO_KIND_DIRECTORY };
        proto_directory_msg_t *dir = &msg.u.directory;
        proto_buf_t body, canonical;
        proto_buf_init(&body);
        proto_buf_init(&canonical);
        dir->serial = dirs[d].serial;
        dir->time = T0 + dirs[d].serial * MINUTE;
        dir->broker = broker->name;
        dir->entries = dirs[d].entries;
        //  `rotated` also lists a retired key of the signing broker.
        if (dirs[d].entries == rotated) {
            dir->broker_retired = &windows[0];
            dir->nbroker_retired = 1;
        }
        if (dirs[d].entries == homed) {
            dir->federated = true;
            dir->brokers = brokers;
            dir->nbrokers = 1;
        }
        dir->nentries = dirs[d].nentries;
        vec_check(proto_directory_sign(dir, broker->id, dir->sig), dirs[d].name);
        vec_encode(&msg, &body, dirs[d].name);
        vec_check(proto_directory_canonical(dir, &canonical), dirs[d].name);

        vec_block(&out, dirs[d].comment);
        vec_field(&out, "name", "%s", dirs[d].name);
        vec_field(&out, "kind", "DIRECTORY");
        vec_field(&out, "signer", "%s", broker->name);
        vec_field_hex(&out, "body", body.data, body.len);
        vec_field_hex(&out, "canonical", canonical.data, canonical.len);
        vec_field_hex(&out, "signature", dir->sig, PROTO_SIG_LEN);
        vec_seed(&gen->corpus, PROTO_KIND_DIRECTORY, &body);
        proto_buf_free(&body);
        proto_buf_free(&canonical);
    }
    vec_out_close(&out);
}

// ---------------------------------------------------------------------------
//  forward.txt: a document handed from one broker to the next

static void s_forward(vec_gen_t *gen)
{
    if (!gen->fwd.name)
        vec_die("no SUBMIT with attachments and two recipients to forward");
    proto_fwd_hop_t hops[2] = { { .broker = BROKER, .time = T0 + 2 * MINUTE },
                                { .broker = "national", .time = T0 + 2 * MINUTE + 40 } };
    struct {
        const char *name;
        const char *comment;
        uint32_t nto, ntrace;
    } vecs[] = {
        { "forward", "FORWARD from the origin broker, for one of the document's recipients", 1, 1 },
        { "forward-second-hop", "FORWARD from a second broker, for both recipients", 2, 2 },
    };
    vec_out_t out;
    vec_out_open(&out, gen->vectors_dir, "forward.txt", "FORWARD between brokers");
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
        proto_msg_t msg = { .kind = PROTO_KIND_FORWARD };
        proto_forward_t *f = &msg.u.forward;
        f->kind = PROTO_KIND_SUBMIT;
        f->body = gen->fwd.body.data;
        f->body_len = gen->fwd.body.len;
        f->to = gen->fwd.to;
        f->nto = vecs[i].nto;
        f->trace = hops;
        f->ntrace = vecs[i].ntrace;
        proto_buf_t body;
        proto_buf_init(&body);
        vec_encode(&msg, &body, vecs[i].name);
        vec_block(&out, vecs[i].comment);
        vec_field(&out, "name", "%s", vecs[i].name);
        vec_field(&out, "kind", "FORWARD");
        vec_field(&out, "document", "%s", gen->fwd.name);
        vec_field(&out, "signer", "%s", gen->fwd.signer);
        vec_field(&out, "frames", "%u", 2 + gen->fwd.natt);
        vec_field_hex(&out, "body", body.data, body.len);
        vec_seed(&gen->corpus, PROTO_KIND_FORWARD, &body);
        proto_buf_free(&body);
    }
    //  What the second broker's recipient gets: the sender's body, then
    //  the broker's fields, the route among them.
    proto_msg_t *sent = NULL;
    proto_errinfo_t info;
    vec_check_info(
        proto_msg_decode(PROTO_KIND_SUBMIT, gen->fwd.body.data, gen->fwd.body.len, &sent, &info),
        &info, "the forwarded SUBMIT");
    proto_msg_t deliver = { .kind = PROTO_KIND_DELIVER, .u.document = sent->u.document };
    deliver.u.document.accepted = hops[1].time;
    deliver.u.document.seq = 7;
    deliver.u.document.route = hops;
    deliver.u.document.nroute = 2;
    proto_buf_t body;
    proto_buf_init(&body);
    vec_encode(&deliver, &body, "deliver-route");
    vec_block(&out, "DELIVER of the forwarded document at the second broker: its route names both");
    vec_field(&out, "name", "deliver-route");
    vec_field(&out, "kind", "DELIVER");
    vec_field(&out, "document", "%s", gen->fwd.name);
    vec_field(&out, "signer", "%s", gen->fwd.signer);
    vec_field(&out, "frames", "%u", 2 + gen->fwd.natt);
    vec_field_hex(&out, "body", body.data, body.len);
    vec_seed(&gen->corpus, PROTO_KIND_DELIVER, &body);
    proto_buf_free(&body);
    proto_msg_destroy(&sent);
    vec_out_close(&out);
    proto_buf_free(&gen->fwd.body);
}

// ---------------------------------------------------------------------------
//  sealed.txt: sealed attachments (PROTOCOL.md section 11)

//  Sealing draws a file key, a stream header and an ephemeral key pair from
//  libsodium's randombytes. The generator swaps in a deterministic stream
//  (randombytes_buf_deterministic over a fixed seed and a call counter)
//  before sodium_init, so sealed.txt is the same on every run; nothing else
//  written here draws random bytes.
static uint64_t s_random_calls;

static void s_random_buf(void *const buf, const size_t size)
{
    uint8_t seed[randombytes_SEEDBYTES];
    crypto_generichash(seed, sizeof seed, (const uint8_t *) "truc/vectors/random", 19, NULL, 0);
    for (int i = 0; i < 8; i++)
        seed[i] ^= (uint8_t) (s_random_calls >> (8 * i));
    s_random_calls++;
    randombytes_buf_deterministic(buf, size, seed);
}

static uint32_t s_random_u32(void)
{
    uint32_t v;
    s_random_buf(&v, sizeof v);
    return v;
}

static const char *s_random_name(void)
{
    return "truc-vectors-deterministic";
}

static randombytes_implementation s_random = {
    .implementation_name = s_random_name,
    .random = s_random_u32,
    .buf = s_random_buf,
};

static void s_sealed(vec_gen_t *gen)
{
    static const struct {
        const char *name;
        const char *comment;
        size_t len; // bytes of the plaintext (s_plain_byte), 0 with text
        const char *text;
        uint32_t chunk;
        long flip;  // ciphertext byte flipped, -1 none
        size_t cut; // ciphertext bytes dropped from the end
    } vecs[] = {
        { "one-chunk", "a short text in one FINAL chunk, sealed to two recipients", 0,
          "Mật: nội dung chỉ người nhận đọc được.\n", 1024, -1, 0 },
        { "three-chunks", "2,500 bytes in chunks of 1,024: two MESSAGE chunks, then a FINAL one",
          2500, NULL, 1024, -1, 0 },
        { "empty", "an empty attachment: one FINAL chunk of no bytes (17 bytes of ciphertext)", 0,
          "", 1024, -1, 0 },
        { "flipped", "three-chunks with byte 1100 (second chunk) flipped: every recipient refuses",
          2500, NULL, 1024, 1100, 0 },
        { "truncated", "three-chunks without its FINAL chunk: every recipient refuses", 2500, NULL,
          1024, -1, 952 + 17 },
    };
    const vec_ident_t *rcpt[2] = { &gen->ident[I_MIN], &gen->ident[I_DEPT] };
    vec_out_t out;
    vec_out_open(&out, gen->vectors_dir, "sealed.txt", "sealed attachments (section 11)");
    for (size_t v = 0; v < sizeof vecs / sizeof vecs[0]; v++) {
        static uint8_t plain[4096];
        size_t len = vecs[v].text ? strlen(vecs[v].text) : vecs[v].len;
        for (size_t i = 0; i < len; i++)
            plain[i] = vecs[v].text ? (uint8_t) vecs[v].text[i] : (uint8_t) (i * 7 + (i >> 8));
        proto_seal_to_t to[2];
        for (int r = 0; r < 2; r++)
            to[r] = (proto_seal_to_t){ rcpt[r]->name, rcpt[r]->pub->curve_pk };
        proto_enc_t enc;
        proto_sealed_key_t keys[2];
        proto_buf_t frame, back;
        proto_buf_init(&frame);
        proto_buf_init(&back);
        vec_check(proto_seal_encrypt(plain, len, vecs[v].chunk, to, 2, &enc, keys, &frame), "seal");
        if (vecs[v].flip >= 0)
            frame.data[vecs[v].flip] ^= 0x01;
        frame.len -= vecs[v].cut;
        bool good = vecs[v].flip < 0 && !vecs[v].cut;
        uint8_t file_key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
        if (crypto_box_seal_open(file_key, keys[0].sealed, PROTO_SEALED_KEY_LEN,
                                 rcpt[0]->pub->curve_pk, proto_identity_curve_sk(rcpt[0]->id)))
            vec_die("sealed.txt %s: the file key does not open", vecs[v].name);
        for (int r = 0; r < 2; r++) {
            proto_err_t rc = proto_seal_decrypt(&enc, frame.data, frame.len, rcpt[r]->name,
                                                rcpt[r]->pub->curve_pk,
                                                proto_identity_curve_sk(rcpt[r]->id), &back);
            if (good ? rc || back.len != len || (len && memcmp(back.data, plain, len))
                     : rc != PROTO_ERR_HASH_MISMATCH)
                vec_die("sealed.txt %s: %s opens it with %s", vecs[v].name, rcpt[r]->name,
                        proto_errname(rc));
        }
        proto_attachment_t att = { 0 };
        proto_attachment_hash(&att, frame.data, frame.len);
        vec_block(&out, vecs[v].comment);
        vec_field(&out, "name", "%s", vecs[v].name);
        vec_field(&out, "chunk", "%u", enc.chunk);
        vec_field_hex(&out, "plain", plain, len);
        vec_field_hex(&out, "plain_hash", enc.plain_hash, PROTO_HASH_LEN);
        vec_field_hex(&out, "file_key", file_key, sizeof file_key);
        vec_field_hex(&out, "header", enc.header, sizeof enc.header);
        for (unsigned r = 0; r < 2; r++) {
            char key[32];
            snprintf(key, sizeof key, "keys[%u].agency", r);
            vec_field(&out, key, "%s", keys[r].agency);
            vec_field_item_hex(&out, "keys", r, ".key", keys[r].sealed, PROTO_SEALED_KEY_LEN);
        }
        vec_field(&out, "size", "%zu", frame.len);
        vec_field_hex(&out, "hash", att.hash, PROTO_HASH_LEN);
        vec_field_hex(&out, "frame", frame.data, frame.len);
        vec_field(&out, "expect", "%s", good ? "ok" : proto_errname(PROTO_ERR_HASH_MISMATCH));
        sodium_memzero(file_key, sizeof file_key);
        proto_buf_free(&frame);
        proto_buf_free(&back);
    }
    vec_out_close(&out);
}

// ---------------------------------------------------------------------------

static void s_usage(void)
{
    fputs("usage: truc-vectors [-c CORPUS_DIR] VECTORS_DIR\n"
          "\n"
          "Write truc's known-answer test vectors into VECTORS_DIR and, with -c,\n"
          "the fuzz seed corpus into CORPUS_DIR. Both directories must exist.\n",
          stderr);
    exit(EXIT_FAILURE);
}

int main(int argc, char **argv)
{
    static vec_gen_t gen;
    int opt;
    while ((opt = getopt(argc, argv, "c:h")) != -1) {
        if (opt == 'c')
            gen.corpus.dir = optarg;
        else
            s_usage();
    }
    if (optind != argc - 1)
        s_usage();
    gen.vectors_dir = argv[optind];
    if (randombytes_set_implementation(&s_random) != 0 || sodium_init() < 0)
        vec_die("libsodium cannot start");

    const char *tmp = getenv("TMPDIR");
    int n = snprintf(gen.key_dir, sizeof gen.key_dir, "%s/truc-vectors-XXXXXX",
                     tmp && *tmp ? tmp : "/tmp");
    if (n < 0 || (size_t) n >= sizeof gen.key_dir || !mkdtemp(gen.key_dir))
        vec_die("cannot make a temporary directory: %s", strerror(errno));
    s_identities(&gen);
    //  evidence.txt's retired key: the province's key before a rotation.
    uint8_t old_seed[PROTO_IDENTITY_SEED_LEN];
    static const char old_label[] = "truc/vectors/seed/" A_PROV "/retired";
    crypto_generichash(old_seed, sizeof old_seed, (const uint8_t *) old_label, sizeof old_label - 1,
                       NULL, 0);
    proto_identity_t *old_prov =
        s_identity_from_seed(gen.key_dir, PROTO_ROLE_AGENCY, A_PROV, old_seed);
    rmdir(gen.key_dir);

    vec_documents(&gen);
    vec_notices(&gen);
    vec_merkle(&gen);
    s_tlog(&gen);
    s_directory(&gen);
    vec_session(&gen);
    s_sealed(&gen);
    s_forward(&gen);
    vectors_malformed_write(gen.vectors_dir);
    vectors_evidence_write(gen.vectors_dir,
                           &(vectors_evidence_ids_t){ .broker = gen.ident[I_BROKER].id,
                                                      .from = gen.ident[I_PROV].id,
                                                      .old_from = old_prov,
                                                      .to = gen.ident[I_DEPT].id });
    proto_identity_destroy(&old_prov);
    for (int i = 0; i < I_COUNT; i++)
        proto_identity_destroy(&gen.ident[i].id);
    return EXIT_SUCCESS;
}
