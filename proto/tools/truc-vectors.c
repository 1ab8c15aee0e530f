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
#include "vectors_evidence.h"
#include "proto/tlog.h"

// ---------------------------------------------------------------------------
//  Fixed inputs shared by several files

#define A_PROV "000.00.00.H01"  // a provincial people's committee (level 1)
#define A_MIN  "000.00.00.G09"  // a ministry (level 1)
#define A_DEPT "000.00.01.H01"  // a department of the province (level 2)
#define A_DIV  "000.01.01.H01"  // a division of that department (level 3)
#define A_UNIT "001.01.01.H01"  // a unit of that division (level 4)
#define BROKER "truc-broker-1"  // the broker's label
#define T0     1735689600000ull // 2025-01-01T00:00:00Z in milliseconds
#define MINUTE 60000ull

// ---------------------------------------------------------------------------
//  Failing

static void s_die(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));

static void s_die(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fputs("truc-vectors: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    exit(EXIT_FAILURE);
}

static void s_check(proto_err_t rc, const char *what)
{
    if (rc != PROTO_OK)
        s_die("%s: %s (%s)", what, proto_errname(rc), proto_strerror(rc));
}

static void s_check_info(proto_err_t rc, const proto_errinfo_t *info, const char *what)
{
    if (rc != PROTO_OK)
        s_die("%s: %s at '%s': %s", what, proto_errname(rc), info->field, info->message);
}

static void s_append(proto_buf_t *buf, const void *data, size_t len)
{
    s_check(proto_buf_append(buf, data, len), "append");
}

static proto_id_t s_id(const char *text)
{
    proto_id_t id;
    if (proto_id_parse(text, &id) != PROTO_OK)
        s_die("bad id literal %s", text);
    return id;
}

// ---------------------------------------------------------------------------
//  Output: text files of "key: value" blocks, and corpus files

typedef struct {
    FILE *file;
    char path[PATH_MAX];
    unsigned blocks; // blocks written so far
} s_out_t;

static void s_out_open(s_out_t *out, const char *dir, const char *name, const char *about)
{
    int n = snprintf(out->path, sizeof out->path, "%s/%s", dir, name);
    if (n < 0 || (size_t) n >= sizeof out->path)
        s_die("%s/%s: path too long", dir, name);
    out->file = fopen(out->path, "w");
    if (!out->file)
        s_die("%s: %s", out->path, strerror(errno));
    out->blocks = 0;
    fprintf(out->file,
            "# truc known-answer test vectors: %s\n"
            "# Written by truc-vectors (proto/tools/truc-vectors.c); do not edit by hand.\n"
            "# Format: proto/vectors/README.md. Binary values are lowercase hex.\n",
            about);
}

static void s_out_close(s_out_t *out)
{
    if (fflush(out->file) != 0 || ferror(out->file))
        s_die("%s: write failed: %s", out->path, strerror(errno));
    if (fclose(out->file) != 0)
        s_die("%s: close failed: %s", out->path, strerror(errno));
    out->file = NULL;
    printf("%s: %u blocks\n", out->path, out->blocks);
}

//  Start a block; comment (may be NULL) is one line of explanation above it.
static void s_block(s_out_t *out, const char *comment)
{
    fputc('\n', out->file);
    if (comment)
        fprintf(out->file, "# %s\n", comment);
    out->blocks++;
}

static void s_field(s_out_t *out, const char *key, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void s_field(s_out_t *out, const char *key, const char *format, ...)
{
    char value[1024];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(value, sizeof value, format, args);
    va_end(args);
    if (n < 0 || (size_t) n >= sizeof value || strchr(value, '\n'))
        s_die("%s: value of '%s' too long or multi-line", out->path, key);
    fprintf(out->file, n ? "%s: %s\n" : "%s:%s\n", key, value);
}

static void s_field_hex(s_out_t *out, const char *key, const void *data, size_t len)
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
static void s_field_item_hex(s_out_t *out, const char *base, unsigned index, const char *suffix,
                             const void *data, size_t len)
{
    char key[64];
    snprintf(key, sizeof key, "%s[%u]%s", base, index, suffix);
    s_field_hex(out, key, data, len);
}

typedef struct {
    const char *dir;     // NULL: no corpus wanted
    unsigned count[256]; // files written per kind
} s_corpus_t;

//  Write one seed: the selector byte of kind, then the body.
static void s_seed(s_corpus_t *corpus, int kind, const proto_buf_t *body)
{
    if (!corpus->dir)
        return;
    int selector = fuzz_selector_of_kind(kind);
    if (selector < 0 || kind < 0 || kind > 255)
        s_die("kind %d has no fuzz selector", kind);
    char name[32], path[PATH_MAX];
    const char *kind_name = proto_kind_name(kind);
    size_t n = 0;
    for (; kind_name[n] && n + 1 < sizeof name; n++)
        name[n] = kind_name[n] >= 'A' && kind_name[n] <= 'Z' ? (char) (kind_name[n] - 'A' + 'a')
                                                             : kind_name[n];
    name[n] = '\0';
    int w = snprintf(path, sizeof path, "%s/%s-%u.bin", corpus->dir, name, ++corpus->count[kind]);
    if (w < 0 || (size_t) w >= sizeof path)
        s_die("%s: path too long", corpus->dir);
    FILE *file = fopen(path, "wb");
    if (!file)
        s_die("%s: %s", path, strerror(errno));
    uint8_t byte = (uint8_t) selector;
    if (fwrite(&byte, 1, 1, file) != 1 || fwrite(body->data, 1, body->len, file) != body->len ||
        fclose(file) != 0)
        s_die("%s: write failed", path);
}

// ---------------------------------------------------------------------------
//  Identities

enum { I_PROV, I_MIN, I_DEPT, I_DIV, I_UNIT, I_BROKER, I_COUNT };

typedef struct {
    proto_role_t role;
    const char *name;
    const char *title; // display name (the directory carries it)
    uint8_t seed[PROTO_IDENTITY_SEED_LEN];
    proto_identity_t *id;
    const proto_public_t *pub; // borrowed from id
} s_ident_t;

typedef struct {
    const char *vectors_dir;
    s_corpus_t corpus;
    char key_dir[PATH_MAX]; // temporary home of the key files
    s_ident_t ident[I_COUNT];
    //  Documents written so far, for receipt leaves that refer to them.
    struct {
        proto_id_t id;
        uint8_t hash[PROTO_HASH_LEN];
        const char *from;
        const char *to;
    } docs[16];
    unsigned ndocs;
    //  The first SUBMIT with attachments, for forward.txt to carry.
    struct {
        proto_buf_t body;
        const char *name;
        const char *signer;
        const char *to[2];
        uint32_t nto;
        uint32_t natt;
    } fwd;
} s_gen_t;

//  An identity with a fixed seed. The public API makes identities from a
//  random seed or from a key file, so the seed goes through an unencrypted
//  key file (format in keys/README.md) that lives only for this call.
static proto_identity_t *s_identity_from_seed(const char *dir, proto_role_t role, const char *name,
                                              const uint8_t seed[PROTO_IDENTITY_SEED_LEN])
{
    char path[PATH_MAX], hex[2 * PROTO_IDENTITY_SEED_LEN + 1], text[512], err[160];
    int n = snprintf(path, sizeof path, "%s/%s.key", dir, name);
    if (n < 0 || (size_t) n >= sizeof path)
        s_die("%s: path too long", dir);
    proto_hex_encode(seed, PROTO_IDENTITY_SEED_LEN, hex);
    n = snprintf(text, sizeof text,
                 "[secret]\nformat = 1\nrole = %s\nname = %s\nencryption = none\nseed = %s\n",
                 proto_role_name(role), name, hex);
    if (n < 0 || (size_t) n >= sizeof text)
        s_die("key file text too long");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        s_die("%s: %s", path, strerror(errno));
    ssize_t written = write(fd, text, (size_t) n);
    if (close(fd) != 0 || written != n)
        s_die("%s: write failed", path);
    proto_identity_t *id = NULL;
    proto_err_t rc = proto_identity_load(path, NULL, &id, err, sizeof err);
    unlink(path);
    if (rc != PROTO_OK)
        s_die("%s: cannot load key file: %s (%s)", name, proto_errname(rc), err);
    return id;
}

static void s_identities(s_gen_t *gen)
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
    s_out_t out;
    s_out_open(&out, gen->vectors_dir, "identities.txt", "identities");
    fprintf(out.file, "# seed = BLAKE2b-256(\"truc/vectors/seed/\" || name); the secret keys\n"
                      "# derived from these seeds are public and must never be used for real.\n");
    for (int i = 0; i < I_COUNT; i++) {
        s_ident_t *ident = &gen->ident[i];
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

        s_block(&out, ident->title);
        s_field(&out, "name", "%s", ident->name);
        s_field(&out, "role", "%s", proto_role_name(ident->role));
        s_field_hex(&out, "seed", ident->seed, sizeof ident->seed);
        s_field_hex(&out, "sign_pk", ident->pub->sign_pk, PROTO_KEY_LEN);
        s_field_hex(&out, "curve_pk", ident->pub->curve_pk, PROTO_KEY_LEN);
        s_field(&out, "fingerprint", "%s", fingerprint);
    }
    s_out_close(&out);
}

static const s_ident_t *s_ident(const s_gen_t *gen, const char *name)
{
    for (int i = 0; i < I_COUNT; i++)
        if (strcmp(gen->ident[i].name, name) == 0)
            return &gen->ident[i];
    s_die("no identity %s", name);
}

// ---------------------------------------------------------------------------
//  Bodies: encode, check the round trip, re-encode in the widest forms

//  Encode msg; the body must decode and encode back to the same bytes.
static void s_encode(const proto_msg_t *msg, proto_buf_t *body, const char *what)
{
    proto_errinfo_t info;
    s_check_info(proto_msg_encode(msg, body, &info), &info, what);
    proto_msg_t *back = NULL;
    proto_buf_t again;
    proto_buf_init(&again);
    s_check_info(proto_msg_decode(msg->kind, body->data, body->len, &back, &info), &info, what);
    s_check_info(proto_msg_encode(back, &again, &info), &info, what);
    if (again.len != body->len || memcmp(again.data, body->data, body->len) != 0)
        s_die("%s: body does not survive a decode and encode", what);
    proto_msg_destroy(&back);
    proto_buf_free(&again);
}

static void s_put_be(proto_buf_t *out, uint8_t tag, uint64_t value, unsigned bytes)
{
    uint8_t head[9];
    head[0] = tag;
    for (unsigned i = 0; i < bytes; i++)
        head[1 + i] = (uint8_t) (value >> (8 * (bytes - 1 - i)));
    s_append(out, head, 1 + bytes);
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
        s_append(out, o->via.str.ptr, o->via.str.size);
        return;
    case MSGPACK_OBJECT_BIN:
        s_put_be(out, 0xc6, o->via.bin.size, 4);
        s_append(out, o->via.bin.ptr, o->via.bin.size);
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
        s_die("no wide form for msgpack type %d", (int) o->type);
    }
}

static void s_wide_body(const proto_buf_t *body, proto_buf_t *out)
{
    msgpack_unpacked unpacked;
    size_t offset = 0;
    msgpack_unpacked_init(&unpacked);
    if (msgpack_unpack_next(&unpacked, (const char *) body->data, body->len, &offset) !=
            MSGPACK_UNPACK_SUCCESS ||
        offset != body->len)
        s_die("msgpack-c cannot read our own body");
    proto_buf_reset(out);
    s_wide(&unpacked.data, out);
    msgpack_unpacked_destroy(&unpacked);
}

// ---------------------------------------------------------------------------
//  documents.txt

#define MAX_ATT 4

typedef struct {
    const char *name;
    const char *comment;
    int kind;
    proto_doc_t doc;
    const uint8_t *data[MAX_ATT]; // attachment bytes, parallel to doc.att
    size_t len[MAX_ATT];
    uint64_t accepted, seq; // DELIVER only
    bool wide;              // also write body_wide
} s_docvec_t;

static void s_document(s_gen_t *gen, s_out_t *out, s_docvec_t *v)
{
    const s_ident_t *signer = s_ident(gen, v->doc.from);
    proto_msg_t msg = { .kind = (proto_kind_t) v->kind };
    proto_buf_t body, canonical, wide;
    uint8_t hash[PROTO_HASH_LEN];
    proto_buf_init(&body);
    proto_buf_init(&canonical);
    proto_buf_init(&wide);

    if (v->doc.natt > MAX_ATT)
        s_die("%s: too many attachments", v->name);
    for (uint32_t i = 0; i < v->doc.natt; i++)
        proto_attachment_hash(&v->doc.att[i], v->data[i], v->len[i]);
    msg.u.document.doc = v->doc;
    msg.u.document.accepted = v->accepted;
    msg.u.document.seq = v->seq;
    s_check(proto_doc_sign(&v->doc, signer->id, msg.u.document.sig), v->name);
    s_encode(&msg, &body, v->name);
    s_check(proto_doc_canonical(&v->doc, &canonical), v->name);
    s_check(proto_doc_hash(&v->doc, hash), v->name);

    s_block(out, v->comment);
    s_field(out, "name", "%s", v->name);
    s_field(out, "kind", "%s", proto_kind_name(v->kind));
    s_field(out, "signer", "%s", signer->name);
    s_field_hex(out, "body", body.data, body.len);
    if (v->wide) {
        s_wide_body(&body, &wide);
        s_field_hex(out, "body_wide", wide.data, wide.len);
    }
    s_field_hex(out, "canonical", canonical.data, canonical.len);
    s_field_hex(out, "hash", hash, sizeof hash);
    s_field_hex(out, "signature", msg.u.document.sig, PROTO_SIG_LEN);
    s_field(out, "attachments", "%u", v->doc.natt);
    for (uint32_t i = 0; i < v->doc.natt; i++) {
        s_field_item_hex(out, "attachment", i, ".data", v->data[i], v->len[i]);
        s_field_item_hex(out, "attachment", i, ".hash", v->doc.att[i].hash, PROTO_HASH_LEN);
    }
    s_seed(&gen->corpus, v->kind, &body);
    if (v->kind == PROTO_KIND_SUBMIT && v->doc.natt && v->doc.nto >= 2 && !gen->fwd.name) {
        s_check(proto_buf_append(&gen->fwd.body, body.data, body.len), v->name);
        gen->fwd.name = v->name;
        gen->fwd.signer = signer->name;
        gen->fwd.to[0] = v->doc.to[0];
        gen->fwd.to[1] = v->doc.to[1];
        gen->fwd.nto = 2;
        gen->fwd.natt = v->doc.natt;
    }

    if (v->kind != PROTO_KIND_DELIVER && gen->ndocs < sizeof gen->docs / sizeof gen->docs[0]) {
        gen->docs[gen->ndocs].id = v->doc.id;
        memcpy(gen->docs[gen->ndocs].hash, hash, sizeof hash);
        gen->docs[gen->ndocs].from = v->doc.from;
        gen->docs[gen->ndocs].to = v->doc.to[0];
        gen->ndocs++;
    }
    proto_buf_free(&body);
    proto_buf_free(&canonical);
    proto_buf_free(&wide);
}

//  Attachment contents: small, fixed, and varied enough to catch an
//  implementation that hashes the wrong bytes.
static const char s_pdf[] = "%PDF-1.7\n% truc test vector: quyết định số 15\n%%EOF\n";
static const char s_note[] = "Ghi chú: tệp văn bản thuần, UTF-8, hai dòng.\nDòng thứ hai.\n";

static void s_documents(s_gen_t *gen)
{
    static uint8_t counting[256], sealed[96];
    for (unsigned i = 0; i < sizeof counting; i++)
        counting[i] = (uint8_t) i;
    for (unsigned i = 0; i < sizeof sealed; i++)
        sealed[i] = (uint8_t) (0xa5 ^ (i * 7));

    static const char *to_min[] = { A_MIN };
    static const char *to_two[] = { A_MIN, A_DEPT };
    static proto_id_t op_refs_full[2], op_refs_revoke[1], op_refs_update[1];

    static proto_attachment_t att_decision[3] = {
        { .name = "Quyết định 15-QĐ-UBND.pdf", .type = "application/pdf" },
        { .name = "Phụ lục I.bin", .type = "application/octet-stream" },
        { .name = "trống.txt", .type = "text/plain" },
    };
    static proto_signer_t chairman = { .name = "Nguyễn Văn An", .position = "Chủ tịch" };

    //  The full document: every optional field, a sealed attachment.
    static proto_sealed_key_t keys[2];
    static proto_enc_t enc = {
        .alg = "xchacha20poly1305-secretstream+sealbox", .chunk = 65536, .keys = keys, .nkeys = 2
    };
    static proto_attachment_t att_full[2] = {
        { .name = "Tờ trình 12-TTr-UBND.pdf", .type = "application/pdf" },
        { .name = "Hồ sơ mật.pdf.enc", .type = "application/octet-stream", .enc = &enc },
    };
    static const char *places[] = { "Như trên", "Bộ Thử Nghiệm (để báo cáo)", "Lưu: VT, VP" };
    static proto_ref_t refs[2] = {
        { .agency = A_MIN, .code = "123/BTN-VP", .date = "2024-12-20", .has_doc = true },
        { .agency = A_DEPT },
    };
    static proto_hop_t trace[2] = {
        { .agency = A_UNIT, .time = T0 - 60 * MINUTE },
        { .agency = A_DIV, .time = T0 - 30 * MINUTE },
    };
    //  Deliberately not in byte order: the canonical form sorts them.
    static proto_kv_t ext[3] = {
        { .key = "vn.gov.so-hoa", .value = "có" },
        { .key = "a", .value = "1" },
        { .key = "x_ref", .value = "Quyết định 15/2025" },
    };
    static proto_attachment_t att_update[1] = {
        { .name = "Phụ lục I (sửa đổi).bin", .type = "application/octet-stream" },
    };

    for (int i = 0; i < 2; i++) {
        keys[i].agency = i == 0 ? A_DEPT : A_MIN; // reverse order, sorted when signed
        for (int k = 0; k < PROTO_SEALED_KEY_LEN; k++)
            keys[i].sealed[k] = (uint8_t) (0x10 * (i + 1) + k);
    }
    for (int k = 0; k < 24; k++)
        enc.header[k] = (uint8_t) (0xf0 - k);
    for (int k = 0; k < PROTO_HASH_LEN; k++)
        enc.plain_hash[k] = (uint8_t) (0x40 + k);

    s_docvec_t vecs[] = {
        {
            .name = "minimal",
            .comment = "the smallest valid SUBMIT: required fields only",
            .kind = PROTO_KIND_SUBMIT,
            .doc = { .id = s_id("00000000-0000-4000-8000-0000000000d1"),
                     .from = A_PROV,
                     .to = to_min,
                     .nto = 1,
                     .created = T0,
                     .doc_type = "Công văn",
                     .subject = "Về việc thử nghiệm trục liên thông văn bản" },
        },
        {
            .name = "attachments",
            .comment = "SUBMIT to two agencies with three attachments, one of them empty",
            .kind = PROTO_KIND_SUBMIT,
            .doc = { .id = s_id("00000000-0000-4000-8000-0000000000d2"),
                     .from = A_PROV,
                     .to = to_two,
                     .nto = 2,
                     .created = T0 + MINUTE,
                     .doc_type = "Quyết định",
                     .subject = "Quyết định phê duyệt kế hoạch chuyển đổi số năm 2025",
                     .code_number = "15",
                     .code_notation = "QĐ-UBND",
                     .date = "2025-01-01",
                     .signer = chairman,
                     .urgency = PROTO_URGENCY_URGENT,
                     .att = att_decision,
                     .natt = 3 },
            .data = { (const uint8_t *) s_pdf, counting },
            .len = { sizeof s_pdf - 1, sizeof counting, 0 },
        },
        {
            .name = "full",
            .comment = "REPLACE with every optional field, three extension fields and a sealed "
                       "attachment",
            .kind = PROTO_KIND_REPLACE,
            .doc = { .id = s_id("00000000-0000-4000-8000-0000000000d3"),
                     .from = A_PROV,
                     .to = to_two,
                     .nto = 2,
                     .created = T0 + 2 * MINUTE,
                     .doc_type = "Tờ trình",
                     .subject = "Tờ trình về việc điều chỉnh số liệu tại Phụ lục I của Quyết "
                                "định số 15/QĐ-UBND",
                     .code_number = "12",
                     .code_notation = "TTr-UBND",
                     .place = "Thành phố Thử Nghiệm",
                     .date = "2025-01-02",
                     .due = "2025-01-31",
                     .content = "Ủy ban nhân dân tỉnh kính trình điều chỉnh số liệu tại Phụ lục "
                                "I; các nội dung khác giữ nguyên.",
                     .sphere = "Toàn tỉnh",
                     .typist = "NVA",
                     .signer = { .name = "Nguyễn Văn An",
                                 .position = "Phó Chủ tịch",
                                 .competence = "KT. CHỦ TỊCH" },
                     .urgency = PROTO_URGENCY_IMMEDIATE,
                     .secrecy = 1,
                     .steering = 2,
                     .pages = 3,
                     .copies = 5,
                     .appendixes = 1,
                     .places = places,
                     .nplaces = 3,
                     .response_for = refs,
                     .nresponse_for = 2,
                     .op = PROTO_OP_REPLACE,
                     .op_reason = "Thay thế do sai sót về số liệu tại Phụ lục I",
                     .op_refs = op_refs_full,
                     .nop_refs = 2,
                     .trace = trace,
                     .ntrace = 2,
                     .ext = ext,
                     .next = 3,
                     .att = att_full,
                     .natt = 2 },
            .data = { (const uint8_t *) s_pdf, sealed },
            .len = { sizeof s_pdf - 1, sizeof sealed },
            .wide = true,
        },
        {
            .name = "revoke",
            .comment = "REVOKE of the minimal document",
            .kind = PROTO_KIND_REVOKE,
            .doc = { .id = s_id("00000000-0000-4000-8000-0000000000d4"),
                     .from = A_PROV,
                     .to = to_min,
                     .nto = 1,
                     .created = T0 + 3 * MINUTE,
                     .doc_type = "Công văn",
                     .subject = "Thu hồi công văn thử nghiệm",
                     .op = PROTO_OP_REVOKE,
                     .op_reason = "Ban hành nhầm",
                     .op_refs = op_refs_revoke,
                     .nop_refs = 1 },
        },
        {
            .name = "update",
            .comment = "UPDATE of the attachments document with a corrected annex",
            .kind = PROTO_KIND_UPDATE,
            .doc = { .id = s_id("00000000-0000-4000-8000-0000000000d5"),
                     .from = A_PROV,
                     .to = to_two,
                     .nto = 2,
                     .created = T0 + 4 * MINUTE,
                     .doc_type = "Quyết định",
                     .subject = "Đính chính Phụ lục I",
                     .op = PROTO_OP_UPDATE,
                     .op_reason = "Cập nhật phụ lục",
                     .op_refs = op_refs_update,
                     .nop_refs = 1,
                     .att = att_update,
                     .natt = 1 },
            .data = { (const uint8_t *) s_note },
            .len = { sizeof s_note - 1 },
        },
        {
            .name = "text-forms",
            .comment = "SUBMIT whose texts are decomposed (NFD) Vietnamese and a 4-byte "
                       "character, kept byte for byte",
            .kind = PROTO_KIND_SUBMIT,
            .doc = { .id = s_id("00000000-0000-4000-8000-0000000000d6"),
                     .from = A_DEPT,
                     .to = to_min,
                     .nto = 1,
                     .created = T0 + 5 * MINUTE,
                     .doc_type = "Thông báo",
                     .subject = "Thu\xcc\x89 nghie\xcc\xa3\xcc\x82m chu\xcc\x9b\xcc\x83 "
                                "Vie\xcc\xa3\xcc\x82t to\xcc\x82\xcc\x89 ho\xcc\x9b\xcc\xa3p",
                     .content = "Biểu tượng ngoài mặt phẳng cơ bản: \xf0\x9f\x93\x84 (U+1F4C4)",
                     .secrecy = 0,
                     .steering = 255 },
        },
    };
    op_refs_full[0] = vecs[1].doc.id;
    op_refs_full[1] = vecs[0].doc.id;
    op_refs_revoke[0] = vecs[0].doc.id;
    op_refs_update[0] = vecs[1].doc.id;
    refs[0].doc = s_id("00000000-0000-4000-8000-0000000000c1");

    s_out_t out;
    s_out_open(&out, gen->vectors_dir, "documents.txt", "signed documents");
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++)
        s_document(gen, &out, &vecs[i]);

    //  The broker delivers the attachments document unchanged: same
    //  canonical bytes, same signature, plus its acceptance fields.
    s_docvec_t deliver = vecs[1];
    deliver.name = "deliver";
    deliver.comment = "DELIVER of the attachments document: same signature as its SUBMIT";
    deliver.kind = PROTO_KIND_DELIVER;
    deliver.accepted = T0 + MINUTE + 1500;
    deliver.seq = 1001;
    s_document(gen, &out, &deliver);
    s_out_close(&out);
}

// ---------------------------------------------------------------------------
//  notices.txt

static void s_notices(s_gen_t *gen)
{
    static proto_notice_t notices[3] = {
        { .from = A_MIN, .to = A_PROV, .code = 1, .time = T0 + 10 * MINUTE },
        { .from = A_DEPT,
          .to = A_PROV,
          .code = 3,
          .time = T0 + 11 * MINUTE,
          .note = "Đã giao Phòng Tổng hợp xử lý",
          .staff = { .name = "Trần Thị Bình",
                     .department = "Phòng Tổng hợp",
                     .phone = "+84 24 0000 0000",
                     .email = "van.thu@example.gov.vn" } },
        { .from = A_MIN,
          .to = A_PROV,
          .code = 16,
          .time = T0 + 12 * MINUTE,
          .note = "Đã hoàn thành xử lý" },
    };
    static const char *const names[3] = { "received", "assigned", "completed" };
    static const char *const comments[3] = {
        "STATUS 01 with required fields only",
        "STATUS 03 with a mailbox id, a note and every staff field",
        "STATUS 16 with a note",
    };
    notices[0].id = s_id("00000000-0000-4000-8000-0000000000a1");
    notices[0].doc = s_id("00000000-0000-4000-8000-0000000000d1");
    notices[1].id = s_id("00000000-0000-4000-8000-0000000000a2");
    notices[1].doc = s_id("00000000-0000-4000-8000-0000000000d2");
    notices[2].id = s_id("00000000-0000-4000-8000-0000000000a3");
    notices[2].doc = s_id("00000000-0000-4000-8000-0000000000d3");

    s_out_t out;
    s_out_open(&out, gen->vectors_dir, "notices.txt", "signed STATUS notices");
    for (int i = 0; i < 3; i++) {
        const s_ident_t *signer = s_ident(gen, notices[i].from);
        proto_msg_t msg = { .kind = PROTO_KIND_STATUS };
        proto_buf_t body, canonical;
        uint8_t hash[PROTO_HASH_LEN];
        proto_buf_init(&body);
        proto_buf_init(&canonical);
        msg.u.status.mid = i == 1 ? 42 : 0;
        msg.u.status.notice = notices[i];
        s_check(proto_notice_sign(&notices[i], signer->id, msg.u.status.sig), names[i]);
        s_encode(&msg, &body, names[i]);
        s_check(proto_notice_canonical(&notices[i], &canonical), names[i]);
        s_check(proto_notice_hash(&notices[i], hash), names[i]);

        s_block(&out, comments[i]);
        s_field(&out, "name", "%s", names[i]);
        s_field(&out, "kind", "STATUS");
        s_field(&out, "signer", "%s", signer->name);
        s_field_hex(&out, "body", body.data, body.len);
        s_field_hex(&out, "canonical", canonical.data, canonical.len);
        s_field_hex(&out, "hash", hash, sizeof hash);
        s_field_hex(&out, "signature", msg.u.status.sig, PROTO_SIG_LEN);
        s_seed(&gen->corpus, PROTO_KIND_STATUS, &body);
        proto_buf_free(&body);
        proto_buf_free(&canonical);
    }
    s_out_close(&out);
}

// ---------------------------------------------------------------------------
//  merkle.txt

#define MAX_LEAVES 8

//  Leaf i of a tree whose receipts travel in a message of this kind.
static proto_leaf_t s_leaf(const s_gen_t *gen, int kind, unsigned n, unsigned i)
{
    unsigned d = (n + i) % gen->ndocs;
    proto_leaf_t leaf = {
        .id = gen->docs[d].id,
        .from = gen->docs[d].from,
        .time = T0 + 100 * MINUTE * n + 1000 * i,
    };
    memcpy(leaf.hash, gen->docs[d].hash, PROTO_HASH_LEN);
    switch (kind) {
    case PROTO_KIND_ACCEPTED:
        leaf.event = PROTO_EVENT_ACCEPTED;
        leaf.seq = 1000 + 10 * n + i;
        break;
    case PROTO_KIND_REJECTED:
        leaf.event = PROTO_EVENT_REJECTED;
        leaf.code = PROTO_ERR_BAD_SIGNATURE;
        leaf.reason = "chữ ký không hợp lệ";
        break;
    case PROTO_KIND_EXPIRED:
        leaf.event = i % 2 ? PROTO_EVENT_RETURNED : PROTO_EVENT_EXPIRED;
        leaf.to = gen->docs[d].to;
        break;
    default:
        leaf.event = i % 3 == 2 ? PROTO_EVENT_REFUSED : PROTO_EVENT_DELIVERED;
        leaf.to = A_MIN;
        if (leaf.event == PROTO_EVENT_REFUSED) {
            leaf.code = PROTO_ERR_HASH_MISMATCH;
            leaf.reason = "tệp đính kèm không khớp mã băm";
        }
        break;
    }
    return leaf;
}

static void s_merkle(s_gen_t *gen)
{
    static const struct {
        unsigned n;
        int kind;
        const char *signer;
    } trees[] = {
        { 1, PROTO_KIND_REJECTED, BROKER }, { 2, PROTO_KIND_EXPIRED, BROKER },
        { 3, PROTO_KIND_DELIVERED, A_MIN }, { 4, PROTO_KIND_ACCEPTED, BROKER },
        { 5, PROTO_KIND_ACCEPTED, BROKER }, { 7, PROTO_KIND_DELIVERED, A_MIN },
        { 8, PROTO_KIND_ACCEPTED, BROKER },
    };
    s_out_t out;
    s_out_open(&out, gen->vectors_dir, "merkle.txt", "Merkle trees and signed receipt heads");
    for (size_t t = 0; t < sizeof trees / sizeof trees[0]; t++) {
        unsigned n = trees[t].n;
        const s_ident_t *signer = s_ident(gen, trees[t].signer);
        proto_leaf_t leaves[MAX_LEAVES];
        proto_item_t items[MAX_LEAVES];
        static uint8_t paths[MAX_LEAVES * PROTO_MAX_PATH][PROTO_HASH_LEN];
        proto_msg_t msg = { .kind = (proto_kind_t) trees[t].kind };
        proto_receipts_t *r = &msg.u.receipts;
        proto_buf_t buf, body;
        char name[32], comment[96];
        proto_buf_init(&buf);
        proto_buf_init(&body);

        for (unsigned i = 0; i < n; i++)
            leaves[i] = s_leaf(gen, trees[t].kind, n, i);
        uint64_t time = T0 + 100 * MINUTE * n + 60000;
        snprintf(name, sizeof name, "tree-%u", n);
        s_check(proto_receipts_build(leaves, n, signer->id, time, &r->head, r->sig, items, paths),
                name);
        r->items = items;
        r->nitems = n;
        r->mid = trees[t].kind == PROTO_KIND_DELIVERED ? 0 : 500 + n;
        s_encode(&msg, &body, name);

        snprintf(comment, sizeof comment, "%u %s, receipts sent as %s, head signed by %s", n,
                 n == 1 ? "leaf" : "leaves", proto_kind_name(trees[t].kind), signer->name);
        s_block(&out, comment);
        s_field(&out, "name", "%s", name);
        s_field(&out, "kind", "%s", proto_kind_name(trees[t].kind));
        s_field(&out, "size", "%u", n);
        for (unsigned i = 0; i < n; i++) {
            uint8_t leaf_hash[PROTO_HASH_LEN];
            s_check(proto_leaf_canonical(&leaves[i], &buf), name);
            s_field_item_hex(&out, "leaf", i, "", buf.data, buf.len);
            s_check(proto_leaf_hash(&leaves[i], leaf_hash), name);
            s_field_item_hex(&out, "leaf_hash", i, "", leaf_hash, sizeof leaf_hash);
        }
        s_field_hex(&out, "root", r->head.root, PROTO_HASH_LEN);
        for (unsigned i = 0; i < n; i++)
            s_field_item_hex(&out, "path", i, "", items[i].path,
                             (size_t) items[i].npath * PROTO_HASH_LEN);
        s_field(&out, "signer", "%s", r->head.signer);
        s_field(&out, "time", "%llu", (unsigned long long) r->head.time);
        s_check(proto_head_canonical(&r->head, &buf), name);
        s_field_hex(&out, "head", buf.data, buf.len);
        s_field_hex(&out, "signature", r->sig, PROTO_SIG_LEN);
        s_field_hex(&out, "body", body.data, body.len);
        s_seed(&gen->corpus, trees[t].kind, &body);
        proto_buf_free(&buf);
        proto_buf_free(&body);
    }
    s_out_close(&out);
}

// ---------------------------------------------------------------------------
//  tlog.txt

#define TLOG_LEAVES 17

//  The log's leaves: the heads of batches 1..TLOG_LEAVES, each naming its
//  place in the log (head.log), as a broker's group commits would.
static void s_tlog_leaves(const s_gen_t *gen, uint8_t (*hashes)[PROTO_HASH_LEN], proto_buf_t *buf,
                          s_out_t *out)
{
    for (unsigned i = 0; i < TLOG_LEAVES; i++) {
        proto_head_t head = {
            .signer = BROKER, .time = T0 + 1000 * MINUTE + i * 250, .size = 1 + i % 5, .log = i + 1
        };
        crypto_generichash(head.root, PROTO_HASH_LEN, (const uint8_t *) &i, 1, NULL, 0);
        s_check(proto_head_canonical(&head, buf), "tlog head");
        s_check(proto_tlog_leaf_hash(&head, hashes[i]), "tlog leaf");
        if (out) {
            s_field_item_hex(out, "leaf", i, "", buf->data, buf->len);
            s_field_item_hex(out, "leaf_hash", i, "", hashes[i], PROTO_HASH_LEN);
        }
    }
    (void) gen;
}

static void s_tlog_proof_block(s_out_t *out, uint64_t m, uint64_t n, const uint8_t *root_m,
                               const uint8_t *root_n, uint8_t (*proof)[PROTO_HASH_LEN],
                               uint32_t count, bool valid, const char *name, const char *comment)
{
    if ((proto_tlog_verify(m, root_m, n, root_n, (const uint8_t(*)[PROTO_HASH_LEN]) proof, count) ==
         PROTO_OK) != valid)
        s_die("%s: the library disagrees that it is %s", name, valid ? "valid" : "invalid");
    s_block(out, comment);
    s_field(out, "name", "%s", name);
    s_field(out, "from", "%llu", (unsigned long long) m);
    s_field_hex(out, "from_root", root_m, PROTO_HASH_LEN);
    s_field(out, "to", "%llu", (unsigned long long) n);
    s_field_hex(out, "to_root", root_n, PROTO_HASH_LEN);
    for (uint32_t i = 0; i < count; i++)
        s_field_item_hex(out, "proof", i, "", proof[i], PROTO_HASH_LEN);
    s_field(out, "valid", "%s", valid ? "yes" : "no");
}

static void s_tlog(s_gen_t *gen)
{
    static uint8_t hashes[TLOG_LEAVES][PROTO_HASH_LEN];
    uint8_t roots[TLOG_LEAVES + 1][PROTO_HASH_LEN];
    proto_buf_t buf, body;
    proto_buf_init(&buf);
    proto_buf_init(&body);
    s_out_t out;
    s_out_open(&out, gen->vectors_dir, "tlog.txt",
               "the broker's transparency log: tree heads and consistency proofs");
    s_block(&out, "the log's leaves: batch heads naming their place in the log");
    s_field(&out, "name", "leaves");
    s_field(&out, "size", "%u", TLOG_LEAVES);
    s_tlog_leaves(gen, hashes, &buf, &out);
    proto_tlog_mem_t mem = { .leaves = (const uint8_t(*)[PROTO_HASH_LEN]) hashes,
                             .n = TLOG_LEAVES };
    for (unsigned n = 0; n <= TLOG_LEAVES; n++)
        s_check(proto_tlog_root(n, proto_tlog_mem_node, &mem, roots[n]), "tlog root");

    //  Signed tree heads of a few sizes, the empty log among them.
    const s_ident_t *broker = s_ident(gen, BROKER);
    static const unsigned sth_sizes[] = { 0, 1, 2, 7, 8, 17 };
    for (size_t i = 0; i < sizeof sth_sizes / sizeof sth_sizes[0]; i++) {
        unsigned n = sth_sizes[i];
        proto_sth_t sth = { .signer = BROKER, .time = T0 + 2000 * MINUTE + n, .size = n };
        memcpy(sth.root, roots[n], PROTO_HASH_LEN);
        s_check(proto_sth_sign(&sth, broker->id), "sth");
        char name[32], comment[96];
        snprintf(name, sizeof name, "sth-%u", n);
        snprintf(comment, sizeof comment, "signed tree head of the first %u leaves", n);
        s_block(&out, comment);
        s_field(&out, "name", "%s", name);
        s_field(&out, "kind", "LOG_PROOF");
        s_field(&out, "signer", "%s", BROKER);
        s_field(&out, "time", "%llu", (unsigned long long) sth.time);
        s_field(&out, "size", "%u", n);
        s_field_hex(&out, "root", sth.root, PROTO_HASH_LEN);
        s_check(proto_sth_canonical(&sth, &buf), name);
        s_field_hex(&out, "canonical", buf.data, buf.len);
        s_field_hex(&out, "signature", sth.sig, PROTO_SIG_LEN);
        //  A LOG_PROOF from size 1 (none from 0), with this head.
        uint8_t proof[PROTO_TLOG_MAX_PROOF][PROTO_HASH_LEN];
        uint32_t count = 0;
        uint64_t from = n > 1 ? 1 : 0;
        s_check(proto_tlog_prove(from, n, proto_tlog_mem_node, &mem, proof, &count), name);
        proto_msg_t msg = { .kind = PROTO_KIND_LOG_PROOF };
        msg.u.log_proof = (proto_log_proof_t){ .sth = sth, .from = from, .nproof = count };
        msg.u.log_proof.proof = proof;
        s_encode(&msg, &body, name);
        s_field(&out, "proof_from", "%llu", (unsigned long long) from);
        s_field_hex(&out, "body", body.data, body.len);
        s_seed(&gen->corpus, PROTO_KIND_LOG_PROOF, &body);
    }
    proto_msg_t prove = { .kind = PROTO_KIND_LOG_PROVE, .u.log_prove = { .from = 7 } };
    s_encode(&prove, &body, "log_prove");
    s_block(&out, "LOG_PROVE: an agent holding a head of size 7");
    s_field(&out, "name", "log-prove-7");
    s_field(&out, "kind", "LOG_PROVE");
    s_field_hex(&out, "body", body.data, body.len);
    s_seed(&gen->corpus, PROTO_KIND_LOG_PROVE, &body);

    //  Consistency proofs: RFC 9162's edge cases, each valid, then lies.
    static const unsigned pairs[][2] = { { 1, 1 },  { 1, 2 },  { 1, 8 },   { 2, 3 },  { 3, 4 },
                                         { 3, 7 },  { 4, 8 },  { 6, 8 },   { 7, 8 },  { 8, 9 },
                                         { 5, 17 }, { 9, 16 }, { 16, 17 }, { 0, 17 }, { 17, 17 } };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        unsigned m = pairs[i][0], n = pairs[i][1];
        uint8_t proof[PROTO_TLOG_MAX_PROOF][PROTO_HASH_LEN];
        uint32_t count = 0;
        char name[48], comment[96];
        s_check(proto_tlog_prove(m, n, proto_tlog_mem_node, &mem, proof, &count), "prove");
        snprintf(name, sizeof name, "consistency-%u-%u", m, n);
        snprintf(comment, sizeof comment, "log of %u leaves extends the log of %u", n, m);
        s_tlog_proof_block(&out, m, n, roots[m], roots[n], proof, count, true, name, comment);
    }
    //  Invalid: a changed hash, a hash dropped, the wrong old size, a root
    //  that is not the log's, a shrunken log, a proof where none is needed.
    {
        uint8_t proof[PROTO_TLOG_MAX_PROOF][PROTO_HASH_LEN], bad_root[PROTO_HASH_LEN];
        uint32_t count = 0;
        s_check(proto_tlog_prove(5, 17, proto_tlog_mem_node, &mem, proof, &count), "prove");
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
    s_out_close(&out);
}

// ---------------------------------------------------------------------------
//  directory.txt

static void s_directory(s_gen_t *gen)
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
        const s_ident_t *ident = s_ident(gen, entries[i].code);
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
    };
    const s_ident_t *broker = &gen->ident[I_BROKER];
    s_out_t out;
    s_out_open(&out, gen->vectors_dir, "directory.txt", "signed DIRECTORY snapshots");
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
        dir->nentries = dirs[d].nentries;
        s_check(proto_directory_sign(dir, broker->id, dir->sig), dirs[d].name);
        s_encode(&msg, &body, dirs[d].name);
        s_check(proto_directory_canonical(dir, &canonical), dirs[d].name);

        s_block(&out, dirs[d].comment);
        s_field(&out, "name", "%s", dirs[d].name);
        s_field(&out, "kind", "DIRECTORY");
        s_field(&out, "signer", "%s", broker->name);
        s_field_hex(&out, "body", body.data, body.len);
        s_field_hex(&out, "canonical", canonical.data, canonical.len);
        s_field_hex(&out, "signature", dir->sig, PROTO_SIG_LEN);
        s_seed(&gen->corpus, PROTO_KIND_DIRECTORY, &body);
        proto_buf_free(&body);
        proto_buf_free(&canonical);
    }
    s_out_close(&out);
}

// ---------------------------------------------------------------------------
//  forward.txt: a document handed from one broker to the next

static void s_forward(s_gen_t *gen)
{
    if (!gen->fwd.name)
        s_die("no SUBMIT with attachments and two recipients to forward");
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
    s_out_t out;
    s_out_open(&out, gen->vectors_dir, "forward.txt", "FORWARD between brokers");
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
        s_encode(&msg, &body, vecs[i].name);
        s_block(&out, vecs[i].comment);
        s_field(&out, "name", "%s", vecs[i].name);
        s_field(&out, "kind", "FORWARD");
        s_field(&out, "document", "%s", gen->fwd.name);
        s_field(&out, "signer", "%s", gen->fwd.signer);
        s_field(&out, "frames", "%u", 2 + gen->fwd.natt);
        s_field_hex(&out, "body", body.data, body.len);
        s_seed(&gen->corpus, PROTO_KIND_FORWARD, &body);
        proto_buf_free(&body);
    }
    s_out_close(&out);
    proto_buf_free(&gen->fwd.body);
}

// ---------------------------------------------------------------------------
//  session.txt: the unsigned kinds

static void s_session(s_gen_t *gen)
{
    static uint8_t versions_one[] = { 1 }, versions_two[] = { 1, 2 };
    static uint64_t mids[] = { 1, 2, 300, 70000, 5000000000ull };
    typedef struct {
        const char *name;
        const char *comment;
        proto_msg_t msg;
    } s_sessvec_t;
    s_sessvec_t vecs[] = {
        { "hello",
          "HELLO from an agent holding directory 7 and checking the broker's log",
          { .kind = PROTO_KIND_HELLO,
            .u.hello = { .versions = versions_one,
                         .nversions = 1,
                         .agency = A_PROV,
                         .software = "truc-agent/0.1.0",
                         .dir_serial = 7,
                         .window = 64,
                         .log = true } } },
        { "hello-minimal",
          "HELLO with required fields only, offering two versions",
          { .kind = PROTO_KIND_HELLO,
            .u.hello = { .versions = versions_two,
                         .nversions = 2,
                         .agency = A_MIN,
                         .window = 1 } } },
        { "ready",
          "READY at the protocol's limits, with the empty log's signed head",
          { .kind = PROTO_KIND_READY,
            .u.ready = { .version = 1,
                         .broker = BROKER,
                         .agency = A_PROV,
                         .time = T0,
                         .heartbeat = 5000,
                         .dir_serial = 7,
                         .max_frame = 16u << 20,
                         .max_document = 256u << 20,
                         .max_recipients = PROTO_MAX_RECIPIENTS,
                         .max_attachments = PROTO_MAX_ATTACHMENTS } } },
        { "heartbeat",
          "HEARTBEAT",
          { .kind = PROTO_KIND_HEARTBEAT, .u.heartbeat = { .time = T0 + 5000 } } },
        { "credit",
          "CREDIT at the largest window",
          { .kind = PROTO_KIND_CREDIT, .u.credit = { .window = PROTO_MAX_WINDOW } } },
        { "ack",
          "ACK of mailbox ids in every integer width",
          { .kind = PROTO_KIND_ACK, .u.ack = { .mids = mids, .nmids = 5 } } },
        { "error",
          "ERROR about a document, not fatal",
          { .kind = PROTO_KIND_ERROR,
            .u.error = { .code = PROTO_ERR_BAD_SIGNATURE,
                         .message = "chữ ký không hợp lệ",
                         .has_ref = true } } },
        { "error-fatal",
          "fatal ERROR without a reference",
          { .kind = PROTO_KIND_ERROR,
            .u.error = { .code = PROTO_ERR_NOT_AUTHENTICATED,
                         .message = "no HELLO before the first request",
                         .fatal = true } } },
        { "hello-link",
          "HELLO of a link between brokers: the dialing broker's label, no agency",
          { .kind = PROTO_KIND_HELLO,
            .u.hello = { .versions = versions_one,
                         .nversions = 1,
                         .software = "truc-broker/0.1.0",
                         .window = 1000,
                         .link = "province-h29" } } },
        { "ready-link",
          "READY of a link: the answering broker, the authenticated link, no agency",
          { .kind = PROTO_KIND_READY,
            .u.ready = { .version = 1,
                         .broker = BROKER,
                         .time = T0,
                         .heartbeat = 5000,
                         .dir_serial = 7,
                         .max_frame = 64u << 20,
                         .max_document = 256u << 20,
                         .max_recipients = 500,
                         .max_attachments = 100,
                         .link = "province-h29" } } },
    };
    vecs[6].msg.u.error.ref = s_id("00000000-0000-4000-8000-0000000000d1");
    //  An agent's READY carries the broker's current log head: here the
    //  empty log's, as a new broker's first READY would.
    proto_ready_t *ready = &vecs[1].msg.u.ready;
    ready->has_log = true;
    ready->log = (proto_sth_t){ .signer = BROKER, .time = T0, .size = 0 };
    crypto_generichash(ready->log.root, PROTO_HASH_LEN, NULL, 0, NULL, 0);
    s_check(proto_sth_sign(&ready->log, s_ident(gen, BROKER)->id), "ready log");

    s_out_t out;
    s_out_open(&out, gen->vectors_dir, "session.txt", "unsigned session messages");
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
        proto_buf_t body;
        proto_buf_init(&body);
        s_encode(&vecs[i].msg, &body, vecs[i].name);
        s_block(&out, vecs[i].comment);
        s_field(&out, "name", "%s", vecs[i].name);
        s_field(&out, "kind", "%s", proto_kind_name(vecs[i].msg.kind));
        s_field_hex(&out, "body", body.data, body.len);
        s_seed(&gen->corpus, vecs[i].msg.kind, &body);
        proto_buf_free(&body);
    }
    s_out_close(&out);
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

static void s_sealed(s_gen_t *gen)
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
    const s_ident_t *rcpt[2] = { &gen->ident[I_MIN], &gen->ident[I_DEPT] };
    s_out_t out;
    s_out_open(&out, gen->vectors_dir, "sealed.txt", "sealed attachments (section 11)");
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
        s_check(proto_seal_encrypt(plain, len, vecs[v].chunk, to, 2, &enc, keys, &frame), "seal");
        if (vecs[v].flip >= 0)
            frame.data[vecs[v].flip] ^= 0x01;
        frame.len -= vecs[v].cut;
        bool good = vecs[v].flip < 0 && !vecs[v].cut;
        uint8_t file_key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
        if (crypto_box_seal_open(file_key, keys[0].sealed, PROTO_SEALED_KEY_LEN,
                                 rcpt[0]->pub->curve_pk, proto_identity_curve_sk(rcpt[0]->id)))
            s_die("sealed.txt %s: the file key does not open", vecs[v].name);
        for (int r = 0; r < 2; r++) {
            proto_err_t rc = proto_seal_decrypt(&enc, frame.data, frame.len, rcpt[r]->name,
                                                rcpt[r]->pub->curve_pk,
                                                proto_identity_curve_sk(rcpt[r]->id), &back);
            if (good ? rc || back.len != len || (len && memcmp(back.data, plain, len))
                     : rc != PROTO_ERR_HASH_MISMATCH)
                s_die("sealed.txt %s: %s opens it with %s", vecs[v].name, rcpt[r]->name,
                      proto_errname(rc));
        }
        proto_attachment_t att = { 0 };
        proto_attachment_hash(&att, frame.data, frame.len);
        s_block(&out, vecs[v].comment);
        s_field(&out, "name", "%s", vecs[v].name);
        s_field(&out, "chunk", "%u", enc.chunk);
        s_field_hex(&out, "plain", plain, len);
        s_field_hex(&out, "plain_hash", enc.plain_hash, PROTO_HASH_LEN);
        s_field_hex(&out, "file_key", file_key, sizeof file_key);
        s_field_hex(&out, "header", enc.header, sizeof enc.header);
        for (unsigned r = 0; r < 2; r++) {
            char key[32];
            snprintf(key, sizeof key, "keys[%u].agency", r);
            s_field(&out, key, "%s", keys[r].agency);
            s_field_item_hex(&out, "keys", r, ".key", keys[r].sealed, PROTO_SEALED_KEY_LEN);
        }
        s_field(&out, "size", "%zu", frame.len);
        s_field_hex(&out, "hash", att.hash, PROTO_HASH_LEN);
        s_field_hex(&out, "frame", frame.data, frame.len);
        s_field(&out, "expect", "%s", good ? "ok" : proto_errname(PROTO_ERR_HASH_MISMATCH));
        sodium_memzero(file_key, sizeof file_key);
        proto_buf_free(&frame);
        proto_buf_free(&back);
    }
    s_out_close(&out);
}

// ---------------------------------------------------------------------------
//  malformed.txt: bodies written in a small notation
//
//  Malformed bodies are easier to read and review as text than as C code
//  calling a packer. The notation, private to this file:
//
//      {k: v, ...}   map             [a, b, ...]   array
//      'text'        str (the bytes between the quotes, as written)
//      <00ff>        bin             `c1ff`        raw bytes, copied as they are
//      123  -5  1.5  integers (shortest form) and a float64
//      nil true false
//
//  A string, bin or raw value followed by *N is its content repeated N
//  times; an array followed by *N has its elements repeated N times. Commas
//  are optional. Several top-level values are written one after the other.

typedef struct {
    const char *p;    // next character
    const char *name; // the case, for error messages
} s_nt_t;

static void s_nt_fail(const s_nt_t *nt, const char *what) __attribute__((noreturn));

static void s_nt_fail(const s_nt_t *nt, const char *what)
{
    s_die("malformed case %s: %s at \"%.20s\"", nt->name, what, nt->p);
}

static void s_nt_space(s_nt_t *nt)
{
    while (*nt->p == ' ' || *nt->p == ',' || *nt->p == '\n')
        nt->p++;
}

//  An optional "*N" after a value; 1 when absent.
static unsigned long s_nt_times(s_nt_t *nt)
{
    if (*nt->p != '*')
        return 1;
    char *end;
    nt->p++;
    unsigned long times = strtoul(nt->p, &end, 10);
    if (end == nt->p || times == 0 || times > 100000)
        s_nt_fail(nt, "bad repeat count");
    nt->p = end;
    return times;
}

static int s_nt_pack_write(void *data, const char *bytes, size_t len)
{
    s_append(data, bytes, len);
    return 0;
}

static int s_nt_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

//  Hex digits up to the closing character into out.
static void s_nt_hex(s_nt_t *nt, char close, proto_buf_t *out)
{
    while (*nt->p != close) {
        if (*nt->p == ' ') {
            nt->p++;
            continue;
        }
        int hi = s_nt_hexval(nt->p[0]), lo = hi < 0 ? -1 : s_nt_hexval(nt->p[1]);
        if (lo < 0)
            s_nt_fail(nt, "bad hex");
        uint8_t byte = (uint8_t) (hi << 4 | lo);
        s_append(out, &byte, 1);
        nt->p += 2;
    }
    nt->p++;
}

static void s_nt_value(s_nt_t *nt, proto_buf_t *out);

//  Elements up to close into items; returns how many (pairs for a map).
static size_t s_nt_elements(s_nt_t *nt, char close, bool pairs, proto_buf_t *items)
{
    size_t count = 0;
    for (;;) {
        s_nt_space(nt);
        if (*nt->p == close) {
            nt->p++;
            return count;
        }
        if (!*nt->p)
            s_nt_fail(nt, "unterminated container");
        s_nt_value(nt, items);
        if (pairs) {
            s_nt_space(nt);
            if (*nt->p != ':')
                s_nt_fail(nt, "expected ':'");
            nt->p++;
            s_nt_space(nt);
            s_nt_value(nt, items);
        }
        count++;
    }
}

static void s_nt_value(s_nt_t *nt, proto_buf_t *out)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, s_nt_pack_write);
    proto_buf_t tmp;
    proto_buf_init(&tmp);
    char c = *nt->p;
    if (c == '{' || c == '[') {
        nt->p++;
        size_t count = s_nt_elements(nt, c == '{' ? '}' : ']', c == '{', &tmp);
        unsigned long times = c == '[' ? s_nt_times(nt) : 1;
        if (c == '{')
            msgpack_pack_map(&pk, count);
        else
            msgpack_pack_array(&pk, count * times);
        for (unsigned long i = 0; i < times; i++)
            s_append(out, tmp.data, tmp.len);
    } else if (c == '\'' || c == '<' || c == '`') {
        nt->p++;
        if (c == '\'') {
            const char *end = strchr(nt->p, '\'');
            if (!end)
                s_nt_fail(nt, "unterminated string");
            s_append(&tmp, nt->p, (size_t) (end - nt->p));
            nt->p = end + 1;
        } else {
            s_nt_hex(nt, c == '<' ? '>' : '`', &tmp);
        }
        unsigned long times = s_nt_times(nt);
        size_t len = tmp.len * times;
        if (c == '\'')
            msgpack_pack_str(&pk, len);
        else if (c == '<')
            msgpack_pack_bin(&pk, len);
        for (unsigned long i = 0; i < times; i++)
            s_append(out, tmp.data, tmp.len);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        char *end;
        size_t span = strspn(nt->p, "-0123456789.");
        if (memchr(nt->p, '.', span)) {
            msgpack_pack_double(&pk, strtod(nt->p, &end));
        } else if (c == '-') {
            msgpack_pack_int64(&pk, strtoll(nt->p, &end, 10));
        } else {
            msgpack_pack_uint64(&pk, strtoull(nt->p, &end, 10));
        }
        if (end != nt->p + span)
            s_nt_fail(nt, "bad number");
        nt->p = end;
    } else if (strncmp(nt->p, "nil", 3) == 0) {
        msgpack_pack_nil(&pk);
        nt->p += 3;
    } else if (strncmp(nt->p, "true", 4) == 0) {
        msgpack_pack_true(&pk);
        nt->p += 4;
    } else if (strncmp(nt->p, "false", 5) == 0) {
        msgpack_pack_false(&pk);
        nt->p += 5;
    } else {
        s_nt_fail(nt, "unexpected character");
    }
    proto_buf_free(&tmp);
}

static void s_nt_body(const char *name, const char *text, proto_buf_t *out)
{
    s_nt_t nt = { .p = text, .name = name };
    proto_buf_reset(out);
    for (;;) {
        s_nt_space(&nt);
        if (!*nt.p)
            return;
        s_nt_value(&nt, out);
    }
}

//  Building blocks. Each malformed case below breaks exactly one rule of
//  the schema (unless its description says otherwise), so any decoder that
//  follows PROTOCOL.md must refuse it with the same error, whatever order it
//  checks fields in.
#define ID1  "<000000000000400080000000000000d1>"
#define ID2  "<000000000000400080000000000000d2>"
#define H32  "<00>*32"
#define SIG  "<00>*64"
#define TIME "1735689600000"
#define DOC_MIN                                                                                    \
    "'id': " ID1 ", 'from': '000.00.00.H01', 'to': ['000.00.00.G09'], 'created': " TIME ", "       \
    "'type': 'Công văn', 'subject': 'Thử nghiệm'"
#define SUBMIT(doc_extra, extra) "{'doc': {" DOC_MIN doc_extra "}, 'sig': " SIG extra "}"
#define ATT(fields)              ", 'att': [{" fields "}]"
#define ATT_OK                   "'name': 'a.pdf', 'type': 'application/pdf', 'size': 3, 'hash': " H32
#define ENC(fields)              ATT(ATT_OK ", 'enc': {" fields "}")
#define ENC_OK                                                                                     \
    "'alg': 'xchacha20poly1305-secretstream+sealbox', 'header': <00>*24, 'chunk': 65536, "         \
    "'plain_hash': " H32
#define KEY(code) "{'agency': '" code "', 'key': <00>*80}"
#define HEAD(size)                                                                                 \
    "'head': {'signer': 'truc-broker-1', 'time': " TIME ", 'size': " size ", 'root': " H32 "}"
#define LEAF(event, extra)                                                                         \
    "{'event': " event ", 'id': " ID1 ", 'hash': " H32 ", 'from': '000.00.00.H01', "               \
    "'time': " TIME extra "}"
#define RECEIPTS(size, items) "{" HEAD(size) ", 'sig': " SIG ", 'items': [" items "]}"
#define ITEM(leaf, extra)     "{'leaf': " leaf ", 'index': 0" extra "}"
#define NOTICE(extra)                                                                              \
    "'id': " ID2 ", 'doc': " ID1 ", 'from': '000.00.00.G09', 'to': '000.00.00.H01', "              \
    "'time': " TIME extra
#define STATUS(notice_extra, extra) "{'notice': {" NOTICE(notice_extra) "}, 'sig': " SIG extra "}"
#define ENTRY(code, extra)                                                                         \
    "{'code': '" code "', 'name': 'Cơ quan', 'key': <11>*32, 'state': 0" extra "}"
#define DIRECTORY(entries)                                                                         \
    "{'serial': 7, 'time': " TIME ", 'broker': 'truc-broker-1', 'entries': [" entries              \
    "], 'sig': " SIG "}"
#define HELLO(extra) "{'versions': [1], 'agency': '000.00.00.H01', 'window': 8" extra "}"
#define READY(heartbeat, broker)                                                                   \
    "{'version': 1, 'broker': '" broker "', 'agency': '000.00.00.H01', 'time': " TIME              \
    ", 'heartbeat': " heartbeat ", 'dir_serial': 0, 'max_frame': 65536, 'max_document': "          \
    "1048576, 'max_recipients': 10, 'max_attachments': 10}"

typedef struct {
    const char *name;
    const char *kind; // kind name, or a number for an undefined kind
    const char *body; // in the notation above
    proto_err_t error;
    const char *field;
    const char *desc;
} s_bad_t;

static const s_bad_t s_bad[] = {
    //  Not msgpack at all, or not the one object the schema expects.
    { "empty", "HEARTBEAT", "", PROTO_ERR_MSGPACK, "", "an empty body" },
    { "truncated-map", "HEARTBEAT", "`81` 'time'", PROTO_ERR_MSGPACK, "",
      "a map of one entry whose value is missing" },
    { "truncated-uint64", "HEARTBEAT", "`81` 'time' `cf 00000194`", PROTO_ERR_MSGPACK, "",
      "a uint64 cut after four of its eight bytes" },
    { "truncated-str", "SUBMIT", "`82` 'doc' `a5 616263`", PROTO_ERR_MSGPACK, "",
      "a fixstr of 5 bytes with only 3 present" },
    { "huge-array32", "ACK", "{'mids': `ddffffffff`}", PROTO_ERR_MSGPACK, "",
      "an array32 declaring 4294967295 elements in a short body" },
    { "huge-map32", "HEARTBEAT", "`dfffffffff`", PROTO_ERR_MSGPACK, "",
      "a map32 declaring 4294967295 entries" },
    { "huge-array16", "ACK", "{'mids': `dc 0100 01 02`}", PROTO_ERR_MSGPACK, "",
      "an array16 declaring 256 elements with only 2 present" },
    { "huge-str32", "ERROR", "{'code': 200, 'message': `db ffffffff 616263`}", PROTO_ERR_MSGPACK,
      "", "a str32 declaring 4294967295 bytes" },
    { "huge-bin32", "SUBMIT", "{'sig': `c6ffffffff`}", PROTO_ERR_MSGPACK, "",
      "a bin32 declaring 4294967295 bytes" },
    { "huge-ext32", "HEARTBEAT", "{'time': `c9ffffffff01`}", PROTO_ERR_MSGPACK, "",
      "an ext32 declaring 4294967295 bytes" },
    { "huge-ext8", "HEARTBEAT", "{'time': `c7 ff 01 616263`}", PROTO_ERR_MSGPACK, "",
      "an ext8 declaring 255 bytes with only 4 present" },
    { "reserved-byte", "HEARTBEAT", "`c1`", PROTO_ERR_MSGPACK, "",
      "the reserved byte 0xc1 as the whole body" },
    { "reserved-byte-inside", "HEARTBEAT", "{'time': `c1`}", PROTO_ERR_MSGPACK, "",
      "the reserved byte 0xc1 as a value" },
    { "trailing-nil", "HEARTBEAT", "{'time': " TIME "} nil", PROTO_ERR_TRAILING, "",
      "a valid body followed by one nil byte" },
    { "trailing-map", "CREDIT", "{'window': 5} {'window': 6}", PROTO_ERR_TRAILING, "",
      "two bodies back to back" },
    { "deep-heartbeat", "HEARTBEAT", "{'time': [[[]]]}", PROTO_ERR_DEPTH, "",
      "arrays inside a body whose schema has no nesting" },
    { "deep-ext", "SUBMIT", SUBMIT(", 'ext': {'k': [[[[[[[1]]]]]]]}", ""), PROTO_ERR_DEPTH, "",
      "seven arrays nested in an extension value: ten levels where seven are allowed" },
    { "deep-arrays", "DIRECTORY",
      "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]"
      "]]]]]]]]]]]]]]]]]]",
      PROTO_ERR_DEPTH, "", "forty nested arrays" },
    { "random-bytes", "SUBMIT", "`c4b0e1a27d0f5c6e9d3348f1a7c2e5b09d1f4a6c88e2`", PROTO_ERR_MSGPACK,
      "", "arbitrary bytes: a bin8 declaring 176 bytes, 20 present" },
    { "random-bytes-2", "STATUS", "`3f8a1cd2e47b9065a1b3c5d7e9f00112`", PROTO_ERR_TRAILING, "",
      "arbitrary bytes: a positive fixint, then fifteen more" },
    { "undefined-kind", "7", "{'time': " TIME "}", PROTO_ERR_KIND, "",
      "a body for kind 7, which is not defined" },

    //  Well-formed msgpack, wrong shape.
    { "not-a-map", "HEARTBEAT", "[" TIME "]", PROTO_ERR_TYPE, "", "the body is an array" },
    { "string-body", "STATUS", "'notice'", PROTO_ERR_TYPE, "", "the body is a string" },
    { "integer-key", "HEARTBEAT", "{'time': " TIME ", 1: 2}", PROTO_ERR_TYPE, "",
      "a map key that is an integer" },
    { "missing-field", "HEARTBEAT", "{}", PROTO_ERR_MISSING, "time", "an empty map" },
    { "nil-required", "HEARTBEAT", "{'time': nil}", PROTO_ERR_MISSING, "time",
      "nil stands for absent, and time is required" },
    { "unknown-field", "HEARTBEAT", "{'time': " TIME ", 'extra': 1}", PROTO_ERR_UNKNOWN_FIELD,
      "extra", "a field the schema does not define" },
    { "duplicate-field", "HEARTBEAT", "{'time': 1, 'time': 2}", PROTO_ERR_DUP_FIELD, "time",
      "the same key twice" },
    { "string-for-int", "HEARTBEAT", "{'time': '1735689600000'}", PROTO_ERR_TYPE, "time",
      "a number written as text" },
    { "negative-int", "HEARTBEAT", "{'time': -1}", PROTO_ERR_TYPE, "time",
      "a negative integer where an unsigned one is required" },
    { "float-for-int", "HEARTBEAT", "{'time': 1.5}", PROTO_ERR_TYPE, "time",
      "a float where an unsigned integer is required" },
    { "ext-for-int", "HEARTBEAT", "{'time': `d40100`}", PROTO_ERR_TYPE, "time",
      "a fixext1 where an unsigned integer is required" },
    { "int-for-bool", "ERROR", "{'code': 200, 'message': 'x', 'fatal': 1}", PROTO_ERR_TYPE, "fatal",
      "an integer where a boolean is required" },
    { "str-for-bin", "ERROR", "{'code': 200, 'message': 'x', 'ref': '00000000000040008000'}",
      PROTO_ERR_TYPE, "ref", "an id written as text instead of 16 bytes" },

    //  Session messages: values out of range.
    { "credit-zero", "CREDIT", "{'window': 0}", PROTO_ERR_VALUE, "window",
      "a delivery credit of zero" },
    { "credit-over", "CREDIT", "{'window': 100001}", PROTO_ERR_LIMIT, "window",
      "a delivery credit over 100000" },
    { "hello-no-versions", "HELLO", "{'versions': [], 'agency': '000.00.00.H01', 'window': 8}",
      PROTO_ERR_MISSING, "versions", "an empty version list" },
    { "hello-many-versions", "HELLO", "{'versions': [1]*9, 'agency': '000.00.00.H01', 'window': 8}",
      PROTO_ERR_LIMIT, "versions", "nine versions where eight are allowed" },
    { "hello-version-zero", "HELLO", "{'versions': [0], 'agency': '000.00.00.H01', 'window': 8}",
      PROTO_ERR_VALUE, "versions[0]", "version 0 does not exist" },
    { "hello-agency-level", "HELLO", "{'versions': [1], 'agency': '000.01.00.H01', 'window': 8}",
      PROTO_ERR_AGENCY_CODE, "agency", "level 3 set while level 2 is zero" },
    { "hello-agency-lowercase", "HELLO",
      "{'versions': [1], 'agency': '000.00.00.h01', 'window': 8}", PROTO_ERR_AGENCY_CODE, "agency",
      "a lower-case letter in an agency code" },
    { "hello-agency-short", "HELLO", "{'versions': [1], 'agency': '00.00.00.H01', 'window': 8}",
      PROTO_ERR_AGENCY_CODE, "agency", "an agency code one digit short" },
    { "hello-link-and-agency", "HELLO",
      "{'versions': [1], 'agency': '000.00.00.H01', 'window': 8, 'link': 'province-h29'}",
      PROTO_ERR_VALUE, "agency", "a link's HELLO that also names an agency" },
    { "hello-link-label", "HELLO", "{'versions': [1], 'window': 8, 'link': '-province'}",
      PROTO_ERR_VALUE, "link", "a link named by something that is not a broker label" },
    { "hello-neither", "HELLO", "{'versions': [1], 'window': 8}", PROTO_ERR_MISSING, "agency",
      "a HELLO naming neither an agency nor a link" },
    { "hello-software-utf8", "HELLO", HELLO(", 'software': 'truc\xc3\x28'"), PROTO_ERR_UTF8,
      "software", "a two-byte UTF-8 sequence whose second byte is not a continuation" },
    { "ready-heartbeat-low", "READY", READY("50", "truc-broker-1"), PROTO_ERR_VALUE, "heartbeat",
      "a heartbeat interval under 100 ms" },
    { "ready-heartbeat-high", "READY", READY("3600001", "truc-broker-1"), PROTO_ERR_LIMIT,
      "heartbeat", "a heartbeat interval over one hour" },
    { "ready-broker-label", "READY", READY("5000", "-broker"), PROTO_ERR_VALUE, "broker",
      "a broker label starting with '-'" },
    { "ack-zero-mid", "ACK", "{'mids': [1, 0]}", PROTO_ERR_VALUE, "mids[1]",
      "mailbox id 0 is never used" },
    { "ack-too-many", "ACK", "{'mids': [1]*4097}", PROTO_ERR_LIMIT, "mids",
      "4097 mailbox ids where 4096 are allowed" },
    { "error-code-zero", "ERROR", "{'code': 0, 'message': 'x'}", PROTO_ERR_VALUE, "code",
      "error code 0, below the range 1..999" },
    { "error-code-over", "ERROR", "{'code': 1000, 'message': 'x'}", PROTO_ERR_LIMIT, "code",
      "error code 1000, above the range 1..999" },
    { "error-unknown-code", "ERROR", "{'code': 199, 'message': 'x'}", PROTO_ERR_VALUE, "code",
      "an error code in range that is not defined" },
    { "error-overlong-utf8", "ERROR", "{'code': 200, 'message': '\xc0\xaf'}", PROTO_ERR_UTF8,
      "message", "an overlong encoding of '/'" },
    { "error-surrogate", "ERROR", "{'code': 200, 'message': '\xed\xa0\x80'}", PROTO_ERR_UTF8,
      "message", "an encoded UTF-16 surrogate (U+D800)" },
    { "error-nul", "ERROR", "{'code': 200, 'message': `a3610062`}", PROTO_ERR_UTF8, "message",
      "a NUL byte inside text" },
    { "error-above-unicode", "ERROR", "{'code': 200, 'message': '\xf4\x90\x80\x80'}",
      PROTO_ERR_UTF8, "message", "a code point above U+10FFFF" },
    { "error-ref-short", "ERROR", "{'code': 200, 'message': 'x', 'ref': <00>*15}", PROTO_ERR_VALUE,
      "ref", "an id of 15 bytes" },

    //  Documents.
    { "submit-no-sig", "SUBMIT", "{'doc': {" DOC_MIN "}}", PROTO_ERR_MISSING, "sig",
      "a document without its signature" },
    { "submit-no-doc", "SUBMIT", "{'sig': " SIG "}", PROTO_ERR_MISSING, "doc",
      "a signature without a document" },
    { "submit-sig-short", "SUBMIT", "{'doc': {" DOC_MIN "}, 'sig': <00>*63}", PROTO_ERR_VALUE,
      "sig", "a signature of 63 bytes" },
    { "submit-accepted", "SUBMIT", SUBMIT("", ", 'accepted': " TIME), PROTO_ERR_UNKNOWN_FIELD,
      "accepted", "a broker field in a message from an agent" },
    { "doc-unknown-field", "SUBMIT", SUBMIT(", 'colour': 'red'", ""), PROTO_ERR_UNKNOWN_FIELD,
      "doc.colour", "a document field the schema does not define" },
    { "doc-duplicate-field", "SUBMIT", SUBMIT(", 'subject': 'again'", ""), PROTO_ERR_DUP_FIELD,
      "doc.subject", "subject twice" },
    { "doc-no-subject", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H01', 'to': ['000.00.00.G09'], 'created': " TIME
      ", 'type': 'Công văn'}, 'sig': " SIG "}",
      PROTO_ERR_MISSING, "doc.subject", "a document without a subject" },
    { "doc-empty-type", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H01', 'to': ['000.00.00.G09'], 'created': " TIME
      ", 'type': '', 'subject': 'x'}, 'sig': " SIG "}",
      PROTO_ERR_VALUE, "doc.type", "an empty required text" },
    { "doc-subject-long", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H01', 'to': ['000.00.00.G09'], 'created': " TIME
      ", 'type': 'Công văn', 'subject': 'ệ'*501}, 'sig': " SIG "}",
      PROTO_ERR_LIMIT, "doc.subject", "501 characters (1503 bytes) where 500 are allowed" },
    { "doc-id-short", "SUBMIT",
      "{'doc': {'id': <00>*15, 'from': '000.00.00.H01', 'to': ['000.00.00.G09'], 'created': " TIME
      ", 'type': 'Công văn', 'subject': 'x'}, 'sig': " SIG "}",
      PROTO_ERR_VALUE, "doc.id", "a document id of 15 bytes" },
    { "doc-from-zero", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H00', 'to': ['000.00.00.G09'], 'created': " TIME
      ", 'type': 'Công văn', 'subject': 'x'}, 'sig': " SIG "}",
      PROTO_ERR_AGENCY_CODE, "doc.from", "level-1 number 00 does not exist" },
    { "doc-to-sender", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H01', 'to': ['000.00.00.H01'], 'created': " TIME
      ", 'type': 'Công văn', 'subject': 'x'}, 'sig': " SIG "}",
      PROTO_ERR_VALUE, "doc.to", "the sender among the recipients" },
    { "doc-to-repeat", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H01', 'to': ['000.00.00.G09', "
      "'000.00.00.G09'], 'created': " TIME ", 'type': 'Công văn', 'subject': 'x'}, 'sig': " SIG "}",
      PROTO_ERR_VALUE, "doc.to[1]", "a recipient listed twice" },
    { "doc-to-empty", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H01', 'to': [], 'created': " TIME
      ", 'type': 'Công văn', 'subject': 'x'}, 'sig': " SIG "}",
      PROTO_ERR_MISSING, "doc.to", "no recipients" },
    { "doc-to-not-text", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H01', 'to': [9], 'created': " TIME
      ", 'type': 'Công văn', 'subject': 'x'}, 'sig': " SIG "}",
      PROTO_ERR_TYPE, "doc.to[0]", "a recipient that is a number" },
    { "doc-date-feb29", "SUBMIT", SUBMIT(", 'date': '2025-02-29'", ""), PROTO_ERR_VALUE, "doc.date",
      "29 February of a year that is not a leap year" },
    { "doc-date-month", "SUBMIT", SUBMIT(", 'due': '2025-13-01'", ""), PROTO_ERR_VALUE, "doc.due",
      "month 13" },
    { "doc-date-form", "SUBMIT", SUBMIT(", 'date': '2025-1-05'", ""), PROTO_ERR_VALUE, "doc.date",
      "a date without its leading zero" },
    { "doc-date-old", "SUBMIT", SUBMIT(", 'date': '1899-12-31'", ""), PROTO_ERR_VALUE, "doc.date",
      "a date before 1900" },
    { "doc-urgency", "SUBMIT", SUBMIT(", 'urgency': 4", ""), PROTO_ERR_LIMIT, "doc.urgency",
      "urgency 4 does not exist" },
    { "doc-pages-zero", "SUBMIT", SUBMIT(", 'pages': 0", ""), PROTO_ERR_VALUE, "doc.pages",
      "a page count of 0 (absent means not given)" },
    { "doc-places-many", "SUBMIT", SUBMIT(", 'places': ['Lưu: VT']*65", ""), PROTO_ERR_LIMIT,
      "doc.places", "65 places where 64 are allowed" },
    { "doc-signer-unknown", "SUBMIT", SUBMIT(", 'signer': {'name': 'A', 'title': 'B'}", ""),
      PROTO_ERR_UNKNOWN_FIELD, "doc.signer.title", "a signer field the schema does not define" },
    { "doc-ref-no-agency", "SUBMIT", SUBMIT(", 'response_for': [{'code': '1/BTN'}]", ""),
      PROTO_ERR_MISSING, "doc.response_for[0].agency", "a reference without its agency" },
    { "doc-trace-no-time", "SUBMIT", SUBMIT(", 'trace': [{'agency': '000.01.01.H01'}]", ""),
      PROTO_ERR_MISSING, "doc.trace[0].time", "a hop without its time" },
    { "doc-trace-many", "SUBMIT",
      SUBMIT(", 'trace': [{'agency': '000.01.01.H01', 'time': 1}]*33", ""), PROTO_ERR_LIMIT,
      "doc.trace", "33 hops where 32 are allowed" },
    { "doc-ext-key", "SUBMIT", SUBMIT(", 'ext': {'Upper': 'x'}", ""), PROTO_ERR_VALUE, "doc.ext",
      "an extension key with an upper-case letter" },
    { "doc-ext-value", "SUBMIT", SUBMIT(", 'ext': {'k': 1}", ""), PROTO_ERR_TYPE, "doc.ext.k",
      "an extension value that is a number" },
    { "doc-ext-duplicate", "SUBMIT", SUBMIT(", 'ext': {'k': 'a', 'k': 'b'}", ""),
      PROTO_ERR_DUP_FIELD, "doc.ext.k", "an extension key twice" },
    { "doc-ext-array", "SUBMIT", SUBMIT(", 'ext': ['k', 'v']", ""), PROTO_ERR_TYPE, "doc.ext",
      "extensions as an array instead of a map" },
    { "submit-op-replace", "SUBMIT",
      SUBMIT(", 'op': 3, 'op_reason': 'x', 'op_refs': [" ID2 "]", ""), PROTO_ERR_VALUE, "doc.op",
      "a complete replacement sent as SUBMIT" },
    { "revoke-op-new", "REVOKE", SUBMIT("", ""), PROTO_ERR_VALUE, "doc.op",
      "a new document sent as REVOKE" },
    { "replace-no-reason", "REPLACE", SUBMIT(", 'op': 3, 'op_refs': [" ID2 "]", ""),
      PROTO_ERR_MISSING, "doc.op_reason", "a replacement without its reason" },
    { "replace-no-refs", "REPLACE", SUBMIT(", 'op': 3, 'op_reason': 'x'", ""), PROTO_ERR_MISSING,
      "doc.op_refs", "a replacement that names no document" },
    { "submit-refs-empty", "SUBMIT", SUBMIT(", 'op_refs': []", ""), PROTO_ERR_VALUE, "doc.op_refs",
      "an optional array present but below its minimum (op_refs of 0 ids)" },
    { "submit-reason", "SUBMIT", SUBMIT(", 'op_reason': 'x'", ""), PROTO_ERR_VALUE, "doc.op_reason",
      "a reason on a new document" },
    { "revoke-self", "REVOKE", SUBMIT(", 'op': 1, 'op_reason': 'x', 'op_refs': [" ID1 "]", ""),
      PROTO_ERR_VALUE, "doc.op_refs[0]", "a document that revokes itself" },
    { "revoke-many-refs", "REVOKE",
      SUBMIT(", 'op': 1, 'op_reason': 'x', 'op_refs': [" ID2 "]*17", ""), PROTO_ERR_LIMIT,
      "doc.op_refs", "17 targets where 16 are allowed" },
    { "op-unknown", "DELIVER",
      SUBMIT(", 'op': 4, 'op_reason': 'x', 'op_refs': [" ID2 "]", ", 'accepted': 1, 'seq': 1"),
      PROTO_ERR_LIMIT, "doc.op", "operation 4 does not exist (DELIVER carries any operation)" },
    { "att-slash", "SUBMIT",
      SUBMIT(ATT("'name': 'a/b.pdf', 'type': 'application/pdf', 'size': 3, 'hash': " H32), ""),
      PROTO_ERR_VALUE, "doc.att[0].name", "a file name with '/'" },
    { "att-backslash", "SUBMIT",
      SUBMIT(ATT("'name': 'a\\b.pdf', 'type': 'application/pdf', 'size': 3, 'hash': " H32), ""),
      PROTO_ERR_VALUE, "doc.att[0].name", "a file name with '\\'" },
    { "att-dotdot", "SUBMIT",
      SUBMIT(ATT("'name': '..', 'type': 'application/pdf', 'size': 3, 'hash': " H32), ""),
      PROTO_ERR_VALUE, "doc.att[0].name", "the file name '..'" },
    { "att-control", "SUBMIT",
      SUBMIT(ATT("'name': 'a\x01.pdf', 'type': 'application/pdf', 'size': 3, 'hash': " H32), ""),
      PROTO_ERR_VALUE, "doc.att[0].name", "a control character in a file name" },
    { "att-empty-name", "SUBMIT",
      SUBMIT(ATT("'name': '', 'type': 'application/pdf', 'size': 3, 'hash': " H32), ""),
      PROTO_ERR_VALUE, "doc.att[0].name", "an empty file name" },
    { "att-name-bytes", "SUBMIT",
      SUBMIT(ATT("'name': '\xe1\xbb\x87'*86, 'type': 'application/pdf', 'size': 3, 'hash': " H32),
             ""),
      PROTO_ERR_LIMIT, "doc.att[0].name",
      "a file name of 86 characters but 258 bytes of UTF-8, over the 255 a file system holds" },
    { "att-name-twice", "SUBMIT",
      SUBMIT(", 'att': [{" ATT_OK "}, {'name': 'A.PDF', 'type': 'application/pdf', 'size': 3, "
             "'hash': " H32 "}]",
             ""),
      PROTO_ERR_DUP_NAME, "doc.att[1].name", "two attachments named a.pdf and A.PDF" },
    { "att-name-twice-nfc", "SUBMIT",
      SUBMIT(", 'att': [{'name': 'Q\xc4\x91-\xe1\xbb\x87.pdf', 'type': 'application/pdf', "
             "'size': 3, 'hash': " H32 "}, {'name': 'q\xc4\x91-e\xcc\xa3\xcc\x82.pdf', "
             "'type': 'application/pdf', 'size': 3, 'hash': " H32 "}]",
             ""),
      PROTO_ERR_DUP_NAME, "doc.att[1].name",
      "two attachment names that differ only in case and Unicode form (NFC against NFD)" },
    { "att-type", "SUBMIT",
      SUBMIT(ATT("'name': 'a.pdf', 'type': 'pdf', 'size': 3, 'hash': " H32), ""), PROTO_ERR_VALUE,
      "doc.att[0].type", "a media type without '/'" },
    { "att-size", "SUBMIT",
      SUBMIT(ATT("'name': 'a.pdf', 'type': 'application/pdf', 'size': 1073741825, 'hash': " H32),
             ""),
      PROTO_ERR_LIMIT, "doc.att[0].size", "an attachment one byte over 1 GiB" },
    { "att-hash-short", "SUBMIT",
      SUBMIT(ATT("'name': 'a.pdf', 'type': 'application/pdf', 'size': 3, 'hash': <00>*31"), ""),
      PROTO_ERR_VALUE, "doc.att[0].hash", "a hash of 31 bytes" },
    { "att-no-hash", "SUBMIT",
      SUBMIT(ATT("'name': 'a.pdf', 'type': 'application/pdf', 'size': 3"), ""), PROTO_ERR_MISSING,
      "doc.att[0].hash", "an attachment without its hash" },
    { "att-many", "SUBMIT", SUBMIT(", 'att': [{" ATT_OK "}]*101", ""), PROTO_ERR_LIMIT, "doc.att",
      "101 attachments where 100 are allowed" },
    { "enc-alg", "SUBMIT",
      SUBMIT(ENC("'alg': 'aes-256-gcm', 'header': <00>*24, 'chunk': 65536, 'keys': [" KEY(
                 "000.00.00.G09") "]"),
             ""),
      PROTO_ERR_VALUE, "doc.att[0].enc.alg", "an encryption algorithm truc does not define" },
    { "enc-chunk", "SUBMIT",
      SUBMIT(ENC("'alg': 'xchacha20poly1305-secretstream+sealbox', 'header': <00>*24, 'chunk': "
                 "512, 'keys': [" KEY("000.00.00.G09") "]"),
             ""),
      PROTO_ERR_VALUE, "doc.att[0].enc.chunk", "chunks of 512 bytes where 1024 is the least" },
    { "enc-stranger", "SUBMIT", SUBMIT(ENC(ENC_OK ", 'keys': [" KEY("000.00.00.G01") "]"), ""),
      PROTO_ERR_VALUE, "doc.att[0].enc.keys[0].agency",
      "a file key sealed to an agency that is not a recipient" },
    { "enc-missing-key", "SUBMIT",
      "{'doc': {'id': " ID1 ", 'from': '000.00.00.H01', 'to': ['000.00.00.G09', "
      "'000.00.01.H01'], 'created': " TIME ", 'type': 'Công văn', 'subject': 'x'" ENC(
          ENC_OK ", 'keys': [" KEY("000.00.00.G09") "]") "}, 'sig': " SIG "}",
      PROTO_ERR_VALUE, "doc.att[0].enc.keys", "two recipients but one sealed key" },
    { "enc-sealed-short", "SUBMIT",
      SUBMIT(ENC(ENC_OK ", 'keys': [{'agency': '000.00.00.G09', 'key': <00>*48}]"), ""),
      PROTO_ERR_VALUE, "doc.att[0].enc.keys[0].key", "a sealed key of 48 bytes" },
    { "enc-no-plain-hash", "SUBMIT",
      SUBMIT(ENC("'alg': 'xchacha20poly1305-secretstream+sealbox', 'header': <00>*24, 'chunk': "
                 "65536, 'keys': [" KEY("000.00.00.G09") "]"),
             ""),
      PROTO_ERR_MISSING, "doc.att[0].enc.plain_hash",
      "a sealed attachment without the hash of its plaintext" },
    { "enc-plain-hash-short", "SUBMIT",
      SUBMIT(ENC("'alg': 'xchacha20poly1305-secretstream+sealbox', 'header': <00>*24, 'chunk': "
                 "65536, 'plain_hash': <00>*31, 'keys': [" KEY("000.00.00.G09") "]"),
             ""),
      PROTO_ERR_VALUE, "doc.att[0].enc.plain_hash", "a plaintext hash of 31 bytes" },
    { "deliver-no-seq", "DELIVER", SUBMIT("", ", 'accepted': " TIME), PROTO_ERR_MISSING, "seq",
      "a delivery without the broker's sequence number" },
    { "deliver-seq-zero", "DELIVER", SUBMIT("", ", 'accepted': " TIME ", 'seq': 0"),
      PROTO_ERR_VALUE, "seq", "sequence number 0" },

    //  Receipts.
    { "receipt-event-kind", "ACCEPTED",
      RECEIPTS("1", ITEM(LEAF("3", ", 'to': '000.00.00.G09'"), "")), PROTO_ERR_VALUE,
      "items[0].leaf.event", "a delivery event in an ACCEPTED message" },
    { "receipt-event-over", "ACCEPTED", RECEIPTS("1", ITEM(LEAF("7", ""), "")), PROTO_ERR_LIMIT,
      "items[0].leaf.event",
      "event 7 does not exist (nor fits ACCEPTED: the range is checked first)" },
    { "receipt-event-zero", "ACCEPTED", RECEIPTS("1", ITEM(LEAF("0", ""), "")), PROTO_ERR_VALUE,
      "items[0].leaf.event", "event 0 does not exist" },
    { "receipt-index", "ACCEPTED",
      "{" HEAD("2") ", 'sig': " SIG ", 'items': [{'leaf': " LEAF("1", "") ", 'index': 2}]}",
      PROTO_ERR_LIMIT, "items[0].index", "leaf index 2 in a tree of 2 leaves" },
    { "receipt-more-items", "ACCEPTED",
      RECEIPTS("1", ITEM(LEAF("1", ""), "") ", " ITEM(LEAF("1", ""), "")), PROTO_ERR_VALUE, "items",
      "two items from a tree of one leaf (a rule between two fields)" },
    { "receipt-no-items", "ACCEPTED", RECEIPTS("1", ""), PROTO_ERR_MISSING, "items",
      "an empty item list" },
    { "receipt-size-zero", "ACCEPTED", RECEIPTS("0", ITEM(LEAF("1", ""), "")), PROTO_ERR_VALUE,
      "head.size", "a tree of no leaves" },
    { "receipt-no-head", "ACCEPTED", "{'sig': " SIG ", 'items': [" ITEM(LEAF("1", ""), "") "]}",
      PROTO_ERR_MISSING, "head", "receipts without their head" },
    { "receipt-signer", "ACCEPTED",
      "{'head': {'signer': 'trục', 'time': " TIME ", 'size': 1, 'root': " H32 "}, 'sig': " SIG
      ", 'items': [" ITEM(LEAF("1", ""), "") "]}",
      PROTO_ERR_VALUE, "head.signer", "a signer that is neither agency code nor label" },
    { "rejected-no-code", "REJECTED", RECEIPTS("1", ITEM(LEAF("2", ""), "")), PROTO_ERR_VALUE,
      "items[0].leaf.code", "a rejection that does not say why" },
    { "rejected-undefined-code", "REJECTED", RECEIPTS("1", ITEM(LEAF("2", ", 'code': 150"), "")),
      PROTO_ERR_VALUE, "items[0].leaf.code", "a rejection with an undefined error code" },
    { "rejected-code-zero", "REJECTED", RECEIPTS("1", ITEM(LEAF("2", ", 'code': 0"), "")),
      PROTO_ERR_VALUE, "items[0].leaf.code", "a rejection with code 0, the same as none" },
    { "rejected-code-over", "REJECTED", RECEIPTS("1", ITEM(LEAF("2", ", 'code': 1000"), "")),
      PROTO_ERR_LIMIT, "items[0].leaf.code",
      "code 1000: over the range, which is checked before the rule tying code to event" },
    { "accepted-with-code", "ACCEPTED", RECEIPTS("1", ITEM(LEAF("1", ", 'code': 200"), "")),
      PROTO_ERR_VALUE, "items[0].leaf.code", "an acceptance with an error code" },
    { "delivered-no-to", "DELIVERED", RECEIPTS("1", ITEM(LEAF("3", ""), "")), PROTO_ERR_MISSING,
      "items[0].leaf.to", "a delivery that does not name its recipient" },
    { "receipt-leaf-seq-zero", "ACCEPTED", RECEIPTS("1", ITEM(LEAF("1", ", 'seq': 0"), "")),
      PROTO_ERR_VALUE, "items[0].leaf.seq", "sequence number 0" },
    { "receipt-path-long", "ACCEPTED", RECEIPTS("1", ITEM(LEAF("1", ""), ", 'path': [" H32 "]*65")),
      PROTO_ERR_LIMIT, "items[0].path", "an audit path of 65 hashes" },
    { "receipt-path-node", "ACCEPTED", RECEIPTS("1", ITEM(LEAF("1", ""), ", 'path': [<00>*31]")),
      PROTO_ERR_VALUE, "items[0].path[0]", "a path node of 31 bytes" },
    { "receipt-deep", "ACCEPTED", RECEIPTS("1", ITEM(LEAF("1", ", 'reason': [['x']]"), "")),
      PROTO_ERR_DEPTH, "", "arrays nested inside a leaf: six levels where four are allowed" },

    //  STATUS.
    { "status-code-seven", "STATUS", STATUS(", 'code': 7", ""), PROTO_ERR_VALUE, "notice.code",
      "status code 07 is not defined" },
    { "status-code-zero", "STATUS", STATUS(", 'code': 0", ""), PROTO_ERR_VALUE, "notice.code",
      "status code 00 is not defined" },
    { "status-code-over", "STATUS", STATUS(", 'code': 17", ""), PROTO_ERR_LIMIT, "notice.code",
      "status code 17 is over the largest, 16" },
    { "status-to-self", "STATUS",
      "{'notice': {'id': " ID2 ", 'doc': " ID1 ", 'from': '000.00.00.G09', 'to': "
      "'000.00.00.G09', 'time': " TIME ", 'code': 1}, 'sig': " SIG "}",
      PROTO_ERR_VALUE, "notice.to", "a notice to its own sender" },
    { "status-no-notice", "STATUS", "{'sig': " SIG "}", PROTO_ERR_MISSING, "notice",
      "a signature without a notice" },
    { "status-staff-unknown", "STATUS", STATUS(", 'code': 1, 'staff': {'fax': '1'}", ""),
      PROTO_ERR_UNKNOWN_FIELD, "notice.staff.fax", "a staff field the schema does not define" },
    { "status-mid-zero", "STATUS", STATUS(", 'code': 1", ", 'mid': 0"), PROTO_ERR_VALUE, "mid",
      "mailbox id 0" },

//  FORWARD (section 16.7): the hop's own fields, and a carried body
//  that is checked as the sender's kind.
#define FORWARD(kind, body, extra)                                                                 \
    "{'kind': " kind ", 'body': " body ", 'to': ['000.00.00.G09'], "                               \
    "'trace': [{'broker': 'province-h29', 'time': 1735689600000}]" extra "}"
    { "forward-kind-deliver", "FORWARD", FORWARD("30", "<80>", ""), PROTO_ERR_VALUE, "kind",
      "a FORWARD carries what a sender sends, never a DELIVER" },
    { "forward-body-empty", "FORWARD", FORWARD("10", "<>", ""), PROTO_ERR_LIMIT, "body",
      "a carried body of no bytes" },
    { "forward-body-str", "FORWARD", FORWARD("10", "'body'", ""), PROTO_ERR_TYPE, "body",
      "the carried body as a string, not the sender's bytes" },
    { "forward-body-reserved", "FORWARD", FORWARD("10", "<c1>", ""), PROTO_ERR_MSGPACK, "body",
      "a carried body that is not msgpack" },
    { "forward-body-no-sig", "FORWARD", FORWARD("10", "<80>", ""), PROTO_ERR_MISSING, "body.sig",
      "a carried body that is not a SUBMIT: an empty map" },
    { "forward-unknown-field", "FORWARD", FORWARD("10", "<80>", ", 'hops': 1"),
      PROTO_ERR_UNKNOWN_FIELD, "hops", "a field FORWARD does not define" },
#undef FORWARD

    //  DIRECTORY.
    { "directory-unsorted", "DIRECTORY",
      DIRECTORY(ENTRY("000.00.00.H01", "") ", " ENTRY("000.00.00.G09", "")), PROTO_ERR_VALUE,
      "entries[1].code", "entries out of order" },
    { "directory-repeat", "DIRECTORY",
      DIRECTORY(ENTRY("000.00.00.G09", "") ", " ENTRY("000.00.00.G09", "")), PROTO_ERR_VALUE,
      "entries[1].code", "the same agency twice" },
    { "directory-state-twice", "DIRECTORY", DIRECTORY(ENTRY("000.00.00.G09", ", 'state': 3")),
      PROTO_ERR_DUP_FIELD, "entries[0].state", "state given twice" },
    { "directory-state-over", "DIRECTORY",
      DIRECTORY("{'code': '000.00.00.G09', 'name': 'Cơ quan', 'key': <11>*32, 'state': 3}"),
      PROTO_ERR_LIMIT, "entries[0].state", "state 3 does not exist" },
    { "directory-window", "DIRECTORY",
      DIRECTORY(ENTRY("000.00.00.G09", ", 'from': 1735689600, 'until': 1735689600")),
      PROTO_ERR_VALUE, "entries[0].until", "a validity window that ends where it starts" },
    { "directory-key-short", "DIRECTORY",
      DIRECTORY("{'code': '000.00.00.G09', 'name': 'Cơ quan', 'key': <11>*31, 'state': 0}"),
      PROTO_ERR_VALUE, "entries[0].key", "a public key of 31 bytes" },
    { "directory-serial-zero", "DIRECTORY",
      "{'serial': 0, 'time': " TIME ", 'broker': 'truc-broker-1', 'entries': [], 'sig': " SIG "}",
      PROTO_ERR_VALUE, "serial", "serial 0 is never used" },
    { "directory-code", "DIRECTORY", DIRECTORY(ENTRY("000.00.00.G9", "")), PROTO_ERR_AGENCY_CODE,
      "entries[0].code", "an agency code one digit short" },
};

static int s_kind_by_name(const char *name)
{
    for (int kind = 0; kind < 256; kind++)
        if (proto_kind_name(kind) && strcmp(proto_kind_name(kind), name) == 0)
            return kind;
    char *end;
    long kind = strtol(name, &end, 10);
    if (*name && !*end && kind >= 0 && kind < 256 && !proto_kind_name((int) kind))
        return (int) kind;
    s_die("no kind %s", name);
}

static void s_malformed(s_gen_t *gen)
{
    s_out_t out;
    proto_buf_t body;
    proto_buf_init(&body);
    s_out_open(&out, gen->vectors_dir, "malformed.txt", "bodies every decoder must refuse");
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        const s_bad_t *bad = &s_bad[i];
        int kind = s_kind_by_name(bad->kind);
        proto_msg_t *msg = NULL;
        proto_errinfo_t info;
        s_nt_body(bad->name, bad->body, &body);
        proto_err_t rc = proto_msg_decode(kind, body.data, body.len, &msg, &info);
        proto_msg_destroy(&msg);
        if (rc != bad->error || info.code != rc || strcmp(info.field, bad->field) != 0)
            s_die("malformed case %s: expected %s at '%s', the library says %s at '%s' (%s)",
                  bad->name, proto_errname(bad->error), bad->field, proto_errname(rc), info.field,
                  info.message);
        for (size_t j = 0; j < i; j++)
            if (strcmp(s_bad[j].name, bad->name) == 0)
                s_die("malformed case %s twice", bad->name);
        s_block(&out, NULL);
        s_field(&out, "name", "%s", bad->name);
        s_field(&out, "kind", "%s", bad->kind);
        s_field_hex(&out, "body", body.data, body.len);
        s_field(&out, "error", "%s", proto_errname(bad->error));
        s_field(&out, "field", "%s", bad->field);
        s_field(&out, "desc", "%s", bad->desc);
    }
    proto_buf_free(&body);
    s_out_close(&out);
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
    static s_gen_t gen;
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
        s_die("libsodium cannot start");

    const char *tmp = getenv("TMPDIR");
    int n = snprintf(gen.key_dir, sizeof gen.key_dir, "%s/truc-vectors-XXXXXX",
                     tmp && *tmp ? tmp : "/tmp");
    if (n < 0 || (size_t) n >= sizeof gen.key_dir || !mkdtemp(gen.key_dir))
        s_die("cannot make a temporary directory: %s", strerror(errno));
    s_identities(&gen);
    //  evidence.txt's retired key: the province's key before a rotation.
    uint8_t old_seed[PROTO_IDENTITY_SEED_LEN];
    static const char old_label[] = "truc/vectors/seed/" A_PROV "/retired";
    crypto_generichash(old_seed, sizeof old_seed, (const uint8_t *) old_label, sizeof old_label - 1,
                       NULL, 0);
    proto_identity_t *old_prov =
        s_identity_from_seed(gen.key_dir, PROTO_ROLE_AGENCY, A_PROV, old_seed);
    rmdir(gen.key_dir);

    s_documents(&gen);
    s_notices(&gen);
    s_merkle(&gen);
    s_tlog(&gen);
    s_directory(&gen);
    s_session(&gen);
    s_sealed(&gen);
    s_forward(&gen);
    s_malformed(&gen);
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
