/*  test_vectors.c - libtruc_proto against the checked-in known-answer vectors.

    Reads the files in $TRUC_VECTORS (proto/vectors, format in its README.md)
    and checks every value in them: bodies decode and encode back to the same
    bytes, canonical bytes, hashes and signatures equal the file, signatures
    verify with keys derived from the seeds, Merkle roots and audit paths
    match and verify, and every malformed body is refused with exactly the
    error and field the file names.

    The checks do not trust the code that wrote the files: where a value
    can be recomputed without the library (key derivation, BLAKE2b hashes,
    Ed25519 signatures, RFC 9162 roots and paths, fingerprints) it is, with
    libsodium directly. Whether the files are still what truc-vectors writes
    today is the separate ctest entry vectors_up_to_date.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/agency.h"
#include "proto/err.h"
#include "proto/evidence.h"
#include "proto/identity.h"
#include "proto/merkle.h"
#include "proto/tlog.h"
#include "proto/msg.h"
#include "proto/sign.h"

// ---------------------------------------------------------------------------
//  Reading the vector files: blocks of "key: value" lines

#define S_FILE_MAX  (16u << 20) // bytes; our files are far smaller
#define S_LINE_MAX  (4u << 20)  // bytes in one line
#define S_KEY_MAX   64          // bytes in a key
#define S_BLOCK_MAX 64          // keys in one block

typedef struct {
    const char *key;   // points into the file text
    const char *value; // points into the file text, NUL-terminated
    unsigned line;
} s_pair_t;

typedef struct {
    s_pair_t pairs[S_BLOCK_MAX];
    size_t count;
    unsigned line; // of the first key
} s_block_t;

typedef struct {
    char path[PATH_MAX];
    char *text; // the whole file, cut into keys and values in place
    s_block_t *blocks;
    size_t count;
} s_file_t;

static bool s_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '[' ||
           c == ']' || c == '-';
}

static void s_file_free(s_file_t *file)
{
    free(file->text);
    free(file->blocks);
    memset(file, 0, sizeof *file);
}

//  Read the whole file, refusing anything over S_FILE_MAX.
static void s_file_read(s_file_t *file, size_t *len)
{
    FILE *in = fopen(file->path, "rb");
    if (!in)
        fail_msg("%s: %s", file->path, strerror(errno));
    file->text = malloc(S_FILE_MAX + 1);
    assert_non_null(file->text);
    *len = fread(file->text, 1, S_FILE_MAX + 1, in);
    bool error = ferror(in) != 0;
    fclose(in);
    if (error)
        fail_msg("%s: read error", file->path);
    if (*len > S_FILE_MAX)
        fail_msg("%s: larger than %u bytes", file->path, S_FILE_MAX);
    file->text[*len] = '\0';
}

//  Cut one non-comment line into a pair of the current block.
static void s_file_pair(s_file_t *file, char *line, unsigned number, bool *in_block)
{
    char *colon = strchr(line, ':');
    size_t key_len = colon ? (size_t) (colon - line) : 0;
    if (key_len == 0 || key_len > S_KEY_MAX)
        fail_msg("%s:%u: expected 'key: value'", file->path, number);
    for (size_t i = 0; i < key_len; i++)
        if (!s_key_char(line[i]))
            fail_msg("%s:%u: bad character in key", file->path, number);
    *colon = '\0';
    char *value = colon + 1;
    if (*value == ' ')
        value++;
    else if (*value != '\0')
        fail_msg("%s:%u: expected a space after ':'", file->path, number);
    if (!*in_block) {
        s_block_t *grown = realloc(file->blocks, (file->count + 1) * sizeof *grown);
        assert_non_null(grown);
        file->blocks = grown;
        memset(&file->blocks[file->count], 0, sizeof *grown);
        file->blocks[file->count].line = number;
        file->count++;
        *in_block = true;
    }
    s_block_t *block = &file->blocks[file->count - 1];
    for (size_t i = 0; i < block->count; i++)
        if (strcmp(block->pairs[i].key, line) == 0)
            fail_msg("%s:%u: key '%s' repeated in a block", file->path, number, line);
    if (block->count == S_BLOCK_MAX)
        fail_msg("%s:%u: more than %d keys in a block", file->path, number, S_BLOCK_MAX);
    block->pairs[block->count++] = (s_pair_t){ .key = line, .value = value, .line = number };
}

static void s_file_load(s_file_t *file, const char *name)
{
    const char *dir = getenv("TRUC_VECTORS");
    if (!dir || !*dir)
        fail_msg("TRUC_VECTORS is not set: it names the directory of the vector files");
    memset(file, 0, sizeof *file);
    int n = snprintf(file->path, sizeof file->path, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t) n < sizeof file->path);
    size_t len = 0;
    s_file_read(file, &len);
    if (strlen(file->text) != len)
        fail_msg("%s: NUL byte in a text file", file->path);
    if (len == 0 || file->text[len - 1] != '\n')
        fail_msg("%s: must end with a newline", file->path);

    bool in_block = false;
    unsigned number = 0;
    for (char *line = file->text; *line;) {
        char *end = strchr(line, '\n');
        number++;
        if ((size_t) (end - line) > S_LINE_MAX)
            fail_msg("%s:%u: line too long", file->path, number);
        *end = '\0';
        if (memchr(line, '\r', (size_t) (end - line)))
            fail_msg("%s:%u: carriage return", file->path, number);
        if (*line == '\0')
            in_block = false;
        else if (*line != '#')
            s_file_pair(file, line, number, &in_block);
        line = end + 1;
    }
}

static const char *s_get(const s_block_t *block, const char *key)
{
    for (size_t i = 0; i < block->count; i++)
        if (strcmp(block->pairs[i].key, key) == 0)
            return block->pairs[i].value;
    return NULL;
}

static const char *s_need(const s_file_t *file, const s_block_t *block, const char *key)
{
    const char *value = s_get(block, key);
    if (!value)
        fail_msg("%s:%u: block has no '%s'", file->path, block->line, key);
    return value;
}

static int s_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; // upper case is not the file format
}

//  Decode a hex value into new memory (at least one byte, so an empty value
//  still gives a usable pointer). The caller frees it.
static uint8_t *s_hex_value(const s_file_t *file, const s_block_t *block, const char *key,
                            const char *text, size_t *len)
{
    size_t digits = strlen(text);
    if (digits % 2)
        fail_msg("%s:%u: '%s' has an odd number of hex digits", file->path, block->line, key);
    uint8_t *out = malloc(digits / 2 + 1);
    assert_non_null(out);
    for (size_t i = 0; i < digits / 2; i++) {
        int hi = s_hexval(text[2 * i]), lo = s_hexval(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            fail_msg("%s:%u: '%s' is not lowercase hex", file->path, block->line, key);
        out[i] = (uint8_t) (hi << 4 | lo);
    }
    *len = digits / 2;
    return out;
}

static uint8_t *s_hex(const s_file_t *file, const s_block_t *block, const char *key, size_t *len)
{
    return s_hex_value(file, block, key, s_need(file, block, key), len);
}

//  A hex value of exactly len bytes into out.
static void s_hex_exact(const s_file_t *file, const s_block_t *block, const char *key, uint8_t *out,
                        size_t len)
{
    size_t got = 0;
    uint8_t *bytes = s_hex(file, block, key, &got);
    if (got != len)
        fail_msg("%s:%u: '%s' must be %zu bytes, not %zu", file->path, block->line, key, len, got);
    memcpy(out, bytes, len);
    free(bytes);
}

static uint64_t s_uint(const s_file_t *file, const s_block_t *block, const char *key)
{
    const char *text = s_need(file, block, key);
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (!*text || *end || errno || text[0] == '-' || text[0] == '+')
        fail_msg("%s:%u: '%s' is not a decimal number", file->path, block->line, key);
    return value;
}

//  A kind by name ("SUBMIT") or, for undefined kinds, by number.
static int s_kind(const s_file_t *file, const s_block_t *block)
{
    const char *name = s_need(file, block, "kind");
    for (int kind = 0; kind < 256; kind++)
        if (proto_kind_name(kind) && strcmp(proto_kind_name(kind), name) == 0)
            return kind;
    char *end;
    long kind = strtol(name, &end, 10);
    if (*name >= '0' && *name <= '9' && !*end && kind < 256)
        return (int) kind;
    fail_msg("%s:%u: unknown kind '%s'", file->path, block->line, name);
    return -1;
}

static void s_assert_bytes(const s_file_t *file, const s_block_t *block, const char *what,
                           const void *got, size_t got_len, const void *want, size_t want_len)
{
    if (got_len != want_len || (want_len && memcmp(got, want, want_len) != 0))
        fail_msg("%s:%u: %s differs from the file (%zu bytes, file has %zu)", file->path,
                 block->line, what, got_len, want_len);
}

//  Decode a body that must be valid.
static proto_msg_t *s_decode_ok(const s_file_t *file, const s_block_t *block, int kind,
                                const uint8_t *body, size_t len)
{
    proto_msg_t *msg = NULL;
    proto_errinfo_t info;
    proto_err_t rc = proto_msg_decode(kind, body, len, &msg, &info);
    if (rc != PROTO_OK)
        fail_msg("%s:%u: body refused: %s at '%s': %s", file->path, block->line, proto_errname(rc),
                 info.field, info.message);
    assert_non_null(msg);
    return msg;
}

//  Encode msg and compare with the body it came from.
static void s_reencode(const s_file_t *file, const s_block_t *block, const proto_msg_t *msg,
                       const uint8_t *body, size_t len)
{
    proto_buf_t buf;
    proto_errinfo_t info;
    proto_buf_init(&buf);
    proto_err_t rc = proto_msg_encode(msg, &buf, &info);
    if (rc != PROTO_OK)
        fail_msg("%s:%u: re-encoding failed: %s at '%s'", file->path, block->line,
                 proto_errname(rc), info.field);
    s_assert_bytes(file, block, "re-encoded body", buf.data, buf.len, body, len);
    proto_buf_free(&buf);
}

//  Compare a canonical form built by the library with the file.
static void s_assert_buf(const s_file_t *file, const s_block_t *block, const char *key,
                         const proto_buf_t *got)
{
    size_t len = 0;
    uint8_t *want = s_hex(file, block, key, &len);
    s_assert_bytes(file, block, key, got->data, got->len, want, len);
    free(want);
}

// ---------------------------------------------------------------------------
//  Identities, shared by every test

#define S_IDENT_MAX 16

typedef struct {
    char name[PROTO_LABEL_MAX + 1];
    proto_role_t role;
    uint8_t seed[PROTO_IDENTITY_SEED_LEN];
    uint8_t sign_pk[PROTO_KEY_LEN];
    uint8_t curve_pk[PROTO_KEY_LEN];
    char fingerprint[PROTO_FINGERPRINT_LEN + 1];
    proto_identity_t *id; // loaded through a key file holding the seed
} s_ident_t;

static s_ident_t s_idents[S_IDENT_MAX];
static size_t s_nidents;

//  Make an identity from a seed the way an operator would: write an
//  unencrypted key file (keys/README.md) and load it.
static proto_identity_t *s_identity_from_seed(const s_ident_t *ident)
{
    char dir[PATH_MAX], path[PATH_MAX + 16], hex[65], text[512], err[160] = "";
    const char *tmp = getenv("TMPDIR");
    int w = snprintf(dir, sizeof dir, "%s/truc-test-vectors-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_true(w > 0 && (size_t) w < sizeof dir);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/id.key", dir);
    proto_hex_encode(ident->seed, sizeof ident->seed, hex);
    int n = snprintf(text, sizeof text,
                     "[secret]\nformat = 1\nrole = %s\nname = %s\nencryption = none\nseed = %s\n",
                     proto_role_name(ident->role), ident->name, hex);
    assert_true(n > 0 && (size_t) n < sizeof text);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, (size_t) n), n);
    assert_int_equal(close(fd), 0);
    proto_identity_t *id = NULL;
    proto_err_t rc = proto_identity_load(path, NULL, &id, err, sizeof err);
    unlink(path);
    rmdir(dir);
    if (rc != PROTO_OK)
        fail_msg("identity %s: %s (%s)", ident->name, proto_errname(rc), err);
    return id;
}

static const s_ident_t *s_ident(const s_file_t *file, const s_block_t *block, const char *name)
{
    for (size_t i = 0; i < s_nidents; i++)
        if (strcmp(s_idents[i].name, name) == 0)
            return &s_idents[i];
    fail_msg("%s:%u: no identity '%s' in identities.txt", file->path, block->line, name);
    abort(); // fail_msg does not return; GCC cannot tell, and warns about a NULL signer
}

//  Ed25519 secret key of an identity, derived from its seed with libsodium.
static void s_secret_key(const s_ident_t *ident, uint8_t sk[crypto_sign_SECRETKEYBYTES])
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    assert_int_equal(crypto_sign_seed_keypair(pk, sk, ident->seed), 0);
}

//  The signature in the file must be what Ed25519 gives over the canonical
//  bytes with the signer's seed, must verify with its public key, and must
//  fail to verify once flipped.
static void s_check_signature(const s_file_t *file, const s_block_t *block, const s_ident_t *signer,
                              const uint8_t *canonical, size_t len,
                              const uint8_t sig[PROTO_SIG_LEN])
{
    uint8_t sk[crypto_sign_SECRETKEYBYTES], mine[PROTO_SIG_LEN], bad[PROTO_SIG_LEN];
    s_secret_key(signer, sk);
    assert_int_equal(crypto_sign_detached(mine, NULL, canonical, len, sk), 0);
    sodium_memzero(sk, sizeof sk);
    s_assert_bytes(file, block, "Ed25519 signature by the seed", mine, sizeof mine, sig,
                   PROTO_SIG_LEN);
    assert_int_equal(crypto_sign_verify_detached(sig, canonical, len, signer->sign_pk), 0);
    memcpy(bad, sig, sizeof bad);
    bad[PROTO_SIG_LEN - 1] ^= 0x01;
    assert_int_not_equal(crypto_sign_verify_detached(bad, canonical, len, signer->sign_pk), 0);
}

//  BLAKE2b-256 of the canonical bytes, computed here, must be the file's hash.
static void s_check_hash(const s_file_t *file, const s_block_t *block, const uint8_t *canonical,
                         size_t len, const uint8_t hash[PROTO_HASH_LEN])
{
    uint8_t mine[PROTO_HASH_LEN];
    crypto_generichash(mine, sizeof mine, canonical, len, NULL, 0);
    s_assert_bytes(file, block, "BLAKE2b-256 of the canonical bytes", mine, sizeof mine, hash,
                   PROTO_HASH_LEN);
}

static int s_setup(void **state)
{
    (void) state;
    if (sodium_init() < 0)
        return -1;
    s_file_t file;
    s_file_load(&file, "identities.txt");
    assert_true(file.count >= 3 && file.count <= S_IDENT_MAX);
    for (size_t i = 0; i < file.count; i++) {
        const s_block_t *b = &file.blocks[i];
        s_ident_t *ident = &s_idents[s_nidents++];
        const char *name = s_need(&file, b, "name"), *role = s_need(&file, b, "role");
        assert_true(strlen(name) <= PROTO_LABEL_MAX);
        strcpy(ident->name, name);
        if (strcmp(role, "agency") == 0)
            ident->role = PROTO_ROLE_AGENCY;
        else if (strcmp(role, "broker") == 0)
            ident->role = PROTO_ROLE_BROKER;
        else
            fail_msg("%s:%u: unknown role '%s'", file.path, b->line, role);
        s_hex_exact(&file, b, "seed", ident->seed, sizeof ident->seed);
        s_hex_exact(&file, b, "sign_pk", ident->sign_pk, sizeof ident->sign_pk);
        s_hex_exact(&file, b, "curve_pk", ident->curve_pk, sizeof ident->curve_pk);
        const char *fingerprint = s_need(&file, b, "fingerprint");
        assert_int_equal(strlen(fingerprint), PROTO_FINGERPRINT_LEN);
        strcpy(ident->fingerprint, fingerprint);
        ident->id = s_identity_from_seed(ident);
    }
    s_file_free(&file);
    return 0;
}

static int s_teardown(void **state)
{
    (void) state;
    for (size_t i = 0; i < s_nidents; i++)
        proto_identity_destroy(&s_idents[i].id);
    s_nidents = 0;
    return 0;
}

// ---------------------------------------------------------------------------

static void test_identities(void **state)
{
    (void) state;
    assert_true(s_nidents >= 3);
    for (size_t i = 0; i < s_nidents; i++) {
        const s_ident_t *ident = &s_idents[i];
        uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
        uint8_t curve_pk[PROTO_KEY_LEN], curve_sk[PROTO_KEY_LEN], digest[32];
        char fingerprint[PROTO_FINGERPRINT_LEN + 1];

        //  Keys derived here with libsodium alone.
        assert_int_equal(crypto_sign_seed_keypair(pk, sk, ident->seed), 0);
        assert_memory_equal(pk, ident->sign_pk, sizeof pk);
        assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(curve_pk, pk), 0);
        assert_memory_equal(curve_pk, ident->curve_pk, sizeof curve_pk);

        //  The fingerprint: first 16 bytes of BLAKE2b-256 of the key.
        crypto_generichash(digest, sizeof digest, pk, sizeof pk, NULL, 0);
        size_t n = 0;
        for (int k = 0; k < 16; k++) {
            if (k && k % 2 == 0)
                fingerprint[n++] = ':';
            n += (size_t) snprintf(fingerprint + n, sizeof fingerprint - n, "%02x", digest[k]);
        }
        assert_string_equal(fingerprint, ident->fingerprint);

        //  The library agrees: fingerprint, public identity, loaded identity.
        proto_public_t pub;
        proto_fingerprint(ident->sign_pk, fingerprint);
        assert_string_equal(fingerprint, ident->fingerprint);
        assert_int_equal(proto_public_init(&pub, ident->role, ident->name, ident->sign_pk),
                         PROTO_OK);
        assert_memory_equal(pub.curve_pk, ident->curve_pk, PROTO_KEY_LEN);
        const proto_public_t *loaded = proto_identity_public(ident->id);
        assert_string_equal(loaded->name, ident->name);
        assert_int_equal(loaded->role, ident->role);
        assert_memory_equal(loaded->sign_pk, ident->sign_pk, PROTO_KEY_LEN);
        assert_memory_equal(loaded->curve_pk, ident->curve_pk, PROTO_KEY_LEN);
        assert_int_equal(crypto_sign_ed25519_sk_to_curve25519(curve_sk, sk), 0);
        assert_memory_equal(proto_identity_curve_sk(ident->id), curve_sk, sizeof curve_sk);
        sodium_memzero(sk, sizeof sk);
        sodium_memzero(curve_sk, sizeof curve_sk);
    }
}

static void s_check_attachments(const s_file_t *file, const s_block_t *b, const proto_doc_t *doc)
{
    uint64_t count = s_uint(file, b, "attachments");
    assert_int_equal(count, doc->natt);
    for (uint32_t i = 0; i < doc->natt; i++) {
        char key[48];
        size_t len = 0;
        uint8_t hash[PROTO_HASH_LEN], mine[PROTO_HASH_LEN];
        snprintf(key, sizeof key, "attachment[%u].hash", i);
        s_hex_exact(file, b, key, hash, sizeof hash);
        snprintf(key, sizeof key, "attachment[%u].data", i);
        uint8_t *data = s_hex(file, b, key, &len);
        crypto_generichash(mine, sizeof mine, data, len, NULL, 0);
        s_assert_bytes(file, b, key, mine, sizeof mine, hash, sizeof hash);
        assert_memory_equal(doc->att[i].hash, hash, sizeof hash);
        assert_int_equal(doc->att[i].size, len);
        assert_int_equal(proto_attachment_check(&doc->att[i], data, len), PROTO_OK);
        //  One byte more, or one byte changed, is a different attachment.
        uint8_t *longer = malloc(len + 1);
        assert_non_null(longer);
        memcpy(longer, data, len);
        longer[len] = 0;
        assert_int_equal(proto_attachment_check(&doc->att[i], longer, len + 1),
                         PROTO_ERR_HASH_MISMATCH);
        if (len) {
            longer[len / 2] ^= 0x80;
            assert_int_equal(proto_attachment_check(&doc->att[i], longer, len),
                             PROTO_ERR_HASH_MISMATCH);
        }
        free(longer);
        free(data);
    }
}

//  A differently encoded body of the same document: decodes, and gives the
//  same canonical bytes and signature.
static void s_check_wide(const s_file_t *file, const s_block_t *b, int kind,
                         const proto_buf_t *canonical, const s_ident_t *signer)
{
    const char *text = s_get(b, "body_wide");
    if (!text)
        return;
    size_t len = 0;
    uint8_t *wide = s_hex_value(file, b, "body_wide", text, &len);
    proto_msg_t *msg = s_decode_ok(file, b, kind, wide, len);
    proto_buf_t buf;
    proto_buf_init(&buf);
    assert_int_equal(proto_doc_canonical(&msg->u.document.doc, &buf), PROTO_OK);
    s_assert_bytes(file, b, "canonical bytes of body_wide", buf.data, buf.len, canonical->data,
                   canonical->len);
    assert_int_equal(proto_doc_verify(&msg->u.document.doc, signer->sign_pk, msg->u.document.sig),
                     PROTO_OK);
    proto_buf_free(&buf);
    proto_msg_destroy(&msg);
    free(wide);
}

static void test_documents(void **state)
{
    (void) state;
    s_file_t file;
    s_file_load(&file, "documents.txt");
    assert_true(file.count >= 5);
    bool wide_seen = false;
    for (size_t i = 0; i < file.count; i++) {
        const s_block_t *b = &file.blocks[i];
        int kind = s_kind(&file, b);
        assert_true(proto_kind_has_document(kind));
        const s_ident_t *signer = s_ident(&file, b, s_need(&file, b, "signer"));
        size_t len = 0;
        uint8_t *body = s_hex(&file, b, "body", &len);
        uint8_t hash[PROTO_HASH_LEN], sig[PROTO_SIG_LEN], mine[PROTO_SIG_LEN];
        s_hex_exact(&file, b, "hash", hash, sizeof hash);
        s_hex_exact(&file, b, "signature", sig, sizeof sig);

        proto_msg_t *msg = s_decode_ok(&file, b, kind, body, len);
        const proto_document_t *d = &msg->u.document;
        s_reencode(&file, b, msg, body, len);
        assert_string_equal(d->doc.from, signer->name);
        assert_memory_equal(d->sig, sig, sizeof sig);
        if (kind == PROTO_KIND_DELIVER)
            assert_true(d->seq > 0);

        proto_buf_t canonical;
        proto_buf_init(&canonical);
        assert_int_equal(proto_doc_canonical(&d->doc, &canonical), PROTO_OK);
        s_assert_buf(&file, b, "canonical", &canonical);
        s_check_hash(&file, b, canonical.data, canonical.len, hash);
        uint8_t lib_hash[PROTO_HASH_LEN];
        assert_int_equal(proto_doc_hash(&d->doc, lib_hash), PROTO_OK);
        assert_memory_equal(lib_hash, hash, sizeof hash);

        s_check_signature(&file, b, signer, canonical.data, canonical.len, sig);
        assert_int_equal(proto_doc_verify(&d->doc, signer->sign_pk, sig), PROTO_OK);
        assert_int_equal(proto_doc_sign(&d->doc, signer->id, mine), PROTO_OK);
        assert_memory_equal(mine, sig, sizeof sig);
        mine[0] ^= 0x40;
        assert_int_equal(proto_doc_verify(&d->doc, signer->sign_pk, mine), PROTO_ERR_BAD_SIGNATURE);

        s_check_attachments(&file, b, &d->doc);
        wide_seen |= s_get(b, "body_wide") != NULL;
        s_check_wide(&file, b, kind, &canonical, signer);
        proto_buf_free(&canonical);
        proto_msg_destroy(&msg);
        free(body);
    }
    assert_true(wide_seen);
    s_file_free(&file);
}

static void test_notices(void **state)
{
    (void) state;
    s_file_t file;
    s_file_load(&file, "notices.txt");
    assert_true(file.count >= 2);
    for (size_t i = 0; i < file.count; i++) {
        const s_block_t *b = &file.blocks[i];
        assert_int_equal(s_kind(&file, b), PROTO_KIND_STATUS);
        const s_ident_t *signer = s_ident(&file, b, s_need(&file, b, "signer"));
        size_t len = 0;
        uint8_t *body = s_hex(&file, b, "body", &len);
        uint8_t hash[PROTO_HASH_LEN], sig[PROTO_SIG_LEN], mine[PROTO_SIG_LEN];
        s_hex_exact(&file, b, "hash", hash, sizeof hash);
        s_hex_exact(&file, b, "signature", sig, sizeof sig);

        proto_msg_t *msg = s_decode_ok(&file, b, PROTO_KIND_STATUS, body, len);
        const proto_notice_t *notice = &msg->u.status.notice;
        s_reencode(&file, b, msg, body, len);
        assert_string_equal(notice->from, signer->name);
        assert_memory_equal(msg->u.status.sig, sig, sizeof sig);

        proto_buf_t canonical;
        proto_buf_init(&canonical);
        assert_int_equal(proto_notice_canonical(notice, &canonical), PROTO_OK);
        s_assert_buf(&file, b, "canonical", &canonical);
        s_check_hash(&file, b, canonical.data, canonical.len, hash);
        uint8_t lib_hash[PROTO_HASH_LEN];
        assert_int_equal(proto_notice_hash(notice, lib_hash), PROTO_OK);
        assert_memory_equal(lib_hash, hash, sizeof hash);

        s_check_signature(&file, b, signer, canonical.data, canonical.len, sig);
        assert_int_equal(proto_notice_verify(notice, signer->sign_pk, sig), PROTO_OK);
        assert_int_equal(proto_notice_sign(notice, signer->id, mine), PROTO_OK);
        assert_memory_equal(mine, sig, sizeof sig);
        proto_buf_free(&canonical);
        proto_msg_destroy(&msg);
        free(body);
    }
    s_file_free(&file);
}

//  forward.txt's DELIVER: the forwarded document as its recipient gets it,
//  the sender's signature intact, with a route of brokers.
static void s_deliver_route(const s_file_t *file, const s_block_t *b)
{
    const s_ident_t *signer = s_ident(file, b, s_need(file, b, "signer"));
    size_t len = 0;
    uint8_t *body = s_hex(file, b, "body", &len);
    proto_msg_t *msg = s_decode_ok(file, b, PROTO_KIND_DELIVER, body, len);
    const proto_document_t *d = &msg->u.document;
    s_reencode(file, b, msg, body, len);
    assert_int_equal(proto_msg_frame_count(msg), s_uint(file, b, "frames"));
    assert_int_equal(proto_doc_verify(&d->doc, signer->sign_pk, d->sig), PROTO_OK);
    assert_true(d->nroute >= 2);
    assert_int_equal(d->route[d->nroute - 1].time, d->accepted);
    proto_msg_destroy(&msg);
    free(body);
}

//  forward.txt: each FORWARD carries a documents.txt body byte for byte,
//  and the signature inside still verifies with the sender's key.
static void test_forward(void **state)
{
    (void) state;
    s_file_t file, docs;
    s_file_load(&file, "forward.txt");
    s_file_load(&docs, "documents.txt");
    assert_true(file.count >= 3);
    for (size_t i = 0; i < file.count; i++) {
        const s_block_t *b = &file.blocks[i];
        if (s_kind(&file, b) == PROTO_KIND_DELIVER) {
            s_deliver_route(&file, b);
            continue;
        }
        assert_int_equal(s_kind(&file, b), PROTO_KIND_FORWARD);
        const s_ident_t *signer = s_ident(&file, b, s_need(&file, b, "signer"));
        const char *name = s_need(&file, b, "document");
        const s_block_t *doc_block = NULL;
        for (size_t k = 0; k < docs.count && !doc_block; k++)
            if (strcmp(s_need(&docs, &docs.blocks[k], "name"), name) == 0)
                doc_block = &docs.blocks[k];
        if (!doc_block)
            fail_msg("%s:%u: no document '%s' in documents.txt", file.path, b->line, name);
        size_t len = 0, doc_len = 0;
        uint8_t *body = s_hex(&file, b, "body", &len);
        uint8_t *doc_body = s_hex(&docs, doc_block, "body", &doc_len);

        proto_msg_t *msg = s_decode_ok(&file, b, PROTO_KIND_FORWARD, body, len);
        const proto_forward_t *f = &msg->u.forward;
        s_reencode(&file, b, msg, body, len);
        s_assert_bytes(&file, b, "carried body", f->body, f->body_len, doc_body, doc_len);
        assert_int_equal(proto_msg_frame_count(msg), s_uint(&file, b, "frames"));
        assert_string_equal(f->document.doc.from, signer->name);
        assert_int_equal(proto_doc_verify(&f->document.doc, signer->sign_pk, f->document.sig),
                         PROTO_OK);
        assert_true(f->ntrace >= 1 && f->nto >= 1);
        proto_msg_destroy(&msg);
        free(body);
        free(doc_body);
    }
    s_file_free(&docs);
    s_file_free(&file);
}

// ---------------------------------------------------------------------------
//  Merkle trees, recomputed here from RFC 9162 section 2.1 with BLAKE2b-256

#define S_TREE_MAX 64

static void s_node(const uint8_t left[32], const uint8_t right[32], uint8_t out[32])
{
    crypto_generichash_state st;
    const uint8_t prefix = 0x01;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, &prefix, 1);
    crypto_generichash_update(&st, left, 32);
    crypto_generichash_update(&st, right, 32);
    crypto_generichash_final(&st, out, 32);
}

//  The largest power of two smaller than n (n >= 2).
static size_t s_split(size_t n)
{
    size_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

//  MTH(D[n]) over leaf hashes.
static void s_mth(const uint8_t (*leaves)[32], size_t n, uint8_t out[32])
{
    if (n == 1) {
        memcpy(out, leaves[0], 32);
        return;
    }
    size_t k = s_split(n);
    uint8_t left[32], right[32];
    s_mth(leaves, k, left);
    s_mth(leaves + k, n - k, right);
    s_node(left, right, out);
}

//  PATH(m, D[n]), leaf to root; returns the number of nodes.
static size_t s_path(const uint8_t (*leaves)[32], size_t n, size_t m, uint8_t (*out)[32])
{
    if (n == 1)
        return 0;
    size_t k = s_split(n), count;
    if (m < k) {
        count = s_path(leaves, k, m, out);
        s_mth(leaves + k, n - k, out[count]);
    } else {
        count = s_path(leaves + k, n - k, m - k, out);
        s_mth(leaves, k, out[count]);
    }
    return count + 1;
}

static void s_check_tree(const s_file_t *file, const s_block_t *b, size_t n, uint8_t (*hashes)[32],
                         const uint8_t root[32])
{
    char key[48];
    uint8_t mine[32];
    s_mth((const uint8_t(*)[32]) hashes, n, mine);
    s_assert_bytes(file, b, "RFC 9162 root", mine, sizeof mine, root, 32);
    proto_tree_t *tree = proto_tree_new((const uint8_t(*)[PROTO_HASH_LEN]) hashes, n);
    assert_non_null(tree);
    assert_int_equal(proto_tree_size(tree), n);
    assert_memory_equal(proto_tree_root(tree), root, 32);
    for (size_t i = 0; i < n; i++) {
        uint8_t expect[PROTO_MAX_PATH][32], lib[PROTO_MAX_PATH][PROTO_HASH_LEN], bad[32];
        size_t len = 0;
        snprintf(key, sizeof key, "path[%zu]", i);
        uint8_t *path = s_hex(file, b, key, &len);
        size_t count = s_path((const uint8_t(*)[32]) hashes, n, i, expect);
        s_assert_bytes(file, b, key, expect, count * 32, path, len);
        uint32_t lib_count = proto_tree_path(tree, i, lib);
        s_assert_bytes(file, b, "proto_tree_path", lib, lib_count * (size_t) 32, path, len);
        const uint8_t(*nodes)[PROTO_HASH_LEN] = (const uint8_t(*)[PROTO_HASH_LEN]) path;
        assert_int_equal(proto_merkle_verify(hashes[i], i, n, nodes, (uint32_t) count, root),
                         PROTO_OK);
        //  The same proof for another leaf or another root must fail.
        if (n > 1)
            assert_int_equal(
                proto_merkle_verify(hashes[i], (i + 1) % n, n, nodes, (uint32_t) count, root),
                PROTO_ERR_BAD_PROOF);
        memcpy(bad, root, sizeof bad);
        bad[7] ^= 0x01;
        assert_int_equal(proto_merkle_verify(hashes[i], i, n, nodes, (uint32_t) count, bad),
                         PROTO_ERR_BAD_PROOF);
        free(path);
    }
    proto_tree_destroy(&tree);
    assert_null(tree);
}

static void s_check_receipts(const s_file_t *file, const s_block_t *b, int kind, size_t n,
                             const uint8_t root[32])
{
    const s_ident_t *signer = s_ident(file, b, s_need(file, b, "signer"));
    uint8_t sig[PROTO_SIG_LEN], mine[PROTO_SIG_LEN];
    size_t len = 0;
    s_hex_exact(file, b, "signature", sig, sizeof sig);
    uint8_t *body = s_hex(file, b, "body", &len);
    proto_msg_t *msg = s_decode_ok(file, b, kind, body, len);
    const proto_receipts_t *r = &msg->u.receipts;
    s_reencode(file, b, msg, body, len);

    assert_string_equal(r->head.signer, signer->name);
    assert_int_equal(r->head.time, s_uint(file, b, "time"));
    assert_int_equal(r->head.size, n);
    assert_memory_equal(r->head.root, root, 32);
    assert_memory_equal(r->sig, sig, sizeof sig);
    proto_buf_t head;
    proto_buf_init(&head);
    assert_int_equal(proto_head_canonical(&r->head, &head), PROTO_OK);
    s_assert_buf(file, b, "head", &head);
    s_check_signature(file, b, signer, head.data, head.len, sig);
    assert_int_equal(proto_head_verify(&r->head, signer->sign_pk, sig), PROTO_OK);
    assert_int_equal(proto_head_sign(&r->head, signer->id, mine), PROTO_OK);
    assert_memory_equal(mine, sig, sizeof sig);

    assert_int_equal(r->nitems, n);
    proto_buf_t leaf;
    proto_buf_init(&leaf);
    for (uint32_t i = 0; i < r->nitems; i++) {
        const proto_item_t *item = &r->items[i];
        char key[48];
        size_t path_len = 0;
        assert_int_equal(item->index, i);
        assert_int_equal(proto_leaf_canonical(&item->leaf, &leaf), PROTO_OK);
        snprintf(key, sizeof key, "leaf[%u]", i);
        s_assert_buf(file, b, key, &leaf);
        snprintf(key, sizeof key, "path[%u]", i);
        uint8_t *path = s_hex(file, b, key, &path_len);
        s_assert_bytes(file, b, "item path", item->path, item->npath * (size_t) 32, path, path_len);
        assert_int_equal(proto_receipt_verify(&r->head, sig, item, signer->sign_pk), PROTO_OK);
        free(path);
    }
    proto_buf_free(&leaf);
    proto_buf_free(&head);
    proto_msg_destroy(&msg);
    free(body);
}

static void test_merkle(void **state)
{
    (void) state;
    s_file_t file;
    s_file_load(&file, "merkle.txt");
    assert_true(file.count >= 7);
    bool sizes[9] = { false };
    for (size_t t = 0; t < file.count; t++) {
        const s_block_t *b = &file.blocks[t];
        int kind = s_kind(&file, b);
        uint64_t n = s_uint(&file, b, "size");
        assert_true(n >= 1 && n <= S_TREE_MAX);
        if (n < sizeof sizes)
            sizes[n] = true;
        uint8_t hashes[S_TREE_MAX][32], root[32];
        for (size_t i = 0; i < n; i++) {
            char key[48];
            uint8_t mine[32], lib[PROTO_HASH_LEN];
            const uint8_t prefix = 0x00;
            size_t len = 0;
            snprintf(key, sizeof key, "leaf_hash[%zu]", i);
            s_hex_exact(&file, b, key, hashes[i], 32);
            snprintf(key, sizeof key, "leaf[%zu]", i);
            uint8_t *leaf = s_hex(&file, b, key, &len);
            crypto_generichash_state st;
            crypto_generichash_init(&st, NULL, 0, 32);
            crypto_generichash_update(&st, &prefix, 1);
            crypto_generichash_update(&st, leaf, len);
            crypto_generichash_final(&st, mine, 32);
            s_assert_bytes(&file, b, "BLAKE2b-256(0x00 || leaf)", mine, 32, hashes[i], 32);
            proto_merkle_leaf(leaf, len, lib);
            assert_memory_equal(lib, hashes[i], 32);
            free(leaf);
        }
        char past[48];
        snprintf(past, sizeof past, "leaf[%zu]", (size_t) n);
        if (s_get(b, past))
            fail_msg("%s:%u: more leaves than size says", file.path, b->line);
        s_hex_exact(&file, b, "root", root, sizeof root);
        s_check_tree(&file, b, n, hashes, root);
        s_check_receipts(&file, b, kind, n, root);
    }
    //  The sizes the README promises.
    static const unsigned want[] = { 1, 2, 3, 4, 5, 7, 8 };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_true(sizes[want[i]]);
    s_file_free(&file);
}

//  tlog.txt: the leaves hash as 0x00 || head bytes; every tree head's root
//  is the library's over those leaves, its signature the broker seed's; every
//  consistency proof verifies exactly when the file says it is valid.
static void test_tlog(void **state)
{
    (void) state;
    s_file_t file;
    s_file_load(&file, "tlog.txt");
    assert_true(file.count >= 20);
    static uint8_t hashes[64][PROTO_HASH_LEN];
    uint64_t nleaves = 0;
    unsigned sths = 0, valid = 0, invalid = 0;
    for (size_t t = 0; t < file.count; t++) {
        const s_block_t *b = &file.blocks[t];
        const char *name = s_need(&file, b, "name");
        if (strcmp(name, "leaves") == 0) {
            nleaves = s_uint(&file, b, "size");
            assert_true(nleaves >= 1 && nleaves <= 64);
            for (size_t i = 0; i < nleaves; i++) {
                char key[48];
                size_t len = 0;
                uint8_t mine[PROTO_HASH_LEN];
                snprintf(key, sizeof key, "leaf[%zu]", i);
                uint8_t *leaf = s_hex(&file, b, key, &len);
                proto_merkle_leaf(leaf, len, mine);
                free(leaf);
                snprintf(key, sizeof key, "leaf_hash[%zu]", i);
                s_hex_exact(&file, b, key, hashes[i], PROTO_HASH_LEN);
                s_assert_bytes(&file, b, key, mine, sizeof mine, hashes[i], PROTO_HASH_LEN);
            }
            continue;
        }
        assert_true(nleaves > 0); // the leaves come first
        proto_tlog_mem_t mem = { .leaves = (const uint8_t(*)[PROTO_HASH_LEN]) hashes,
                                 .n = nleaves };
        if (s_get(b, "signature")) {
            proto_sth_t sth = { .signer = s_need(&file, b, "signer"),
                                .time = s_uint(&file, b, "time"),
                                .size = s_uint(&file, b, "size") };
            uint8_t root[PROTO_HASH_LEN];
            assert_int_equal(proto_tlog_root(sth.size, proto_tlog_mem_node, &mem, root), PROTO_OK);
            s_hex_exact(&file, b, "root", sth.root, PROTO_HASH_LEN);
            s_assert_bytes(&file, b, "root", root, sizeof root, sth.root, PROTO_HASH_LEN);
            s_hex_exact(&file, b, "signature", sth.sig, PROTO_SIG_LEN);
            proto_buf_t buf;
            proto_buf_init(&buf);
            assert_int_equal(proto_sth_canonical(&sth, &buf), PROTO_OK);
            s_assert_buf(&file, b, "canonical", &buf);
            s_check_signature(&file, b, s_ident(&file, b, sth.signer), buf.data, buf.len, sth.sig);
            proto_buf_free(&buf);
            size_t len = 0;
            uint8_t *body = s_hex(&file, b, "body", &len);
            proto_msg_t *msg = s_decode_ok(&file, b, s_kind(&file, b), body, len);
            const proto_log_proof_t *p = &msg->u.log_proof;
            assert_int_equal(p->sth.size, sth.size);
            assert_memory_equal(p->sth.sig, sth.sig, PROTO_SIG_LEN);
            uint8_t from_root[PROTO_HASH_LEN];
            assert_int_equal(proto_tlog_root(p->from, proto_tlog_mem_node, &mem, from_root),
                             PROTO_OK);
            assert_int_equal(proto_tlog_verify(p->from, from_root, sth.size, sth.root,
                                               (const uint8_t(*)[PROTO_HASH_LEN]) p->proof,
                                               p->nproof),
                             PROTO_OK);
            s_reencode(&file, b, msg, body, len);
            proto_msg_destroy(&msg);
            free(body);
            sths++;
            continue;
        }
        if (!s_get(b, "valid")) {
            size_t len = 0;
            uint8_t *body = s_hex(&file, b, "body", &len);
            proto_msg_t *msg = s_decode_ok(&file, b, s_kind(&file, b), body, len);
            s_reencode(&file, b, msg, body, len);
            proto_msg_destroy(&msg);
            free(body);
            continue;
        }
        uint64_t m = s_uint(&file, b, "from"), n = s_uint(&file, b, "to");
        uint8_t rm[PROTO_HASH_LEN], rn[PROTO_HASH_LEN], proof[PROTO_TLOG_MAX_PROOF][32];
        s_hex_exact(&file, b, "from_root", rm, sizeof rm);
        s_hex_exact(&file, b, "to_root", rn, sizeof rn);
        uint32_t count = 0;
        for (; count < PROTO_TLOG_MAX_PROOF; count++) {
            char key[32];
            snprintf(key, sizeof key, "proof[%u]", count);
            if (!s_get(b, key))
                break;
            s_hex_exact(&file, b, key, proof[count], PROTO_HASH_LEN);
        }
        bool want = strcmp(s_need(&file, b, "valid"), "yes") == 0;
        proto_err_t rc =
            proto_tlog_verify(m, rm, n, rn, (const uint8_t(*)[PROTO_HASH_LEN]) proof, count);
        if ((rc == PROTO_OK) != want)
            fail_msg("%s:%u: %s: the library says %s", file.path, b->line, name, proto_errname(rc));
        if (want) {
            //  A valid proof is the one the library builds.
            uint8_t mine[PROTO_TLOG_MAX_PROOF][PROTO_HASH_LEN];
            uint32_t nmine = 0;
            assert_int_equal(proto_tlog_prove(m, n, proto_tlog_mem_node, &mem, mine, &nmine),
                             PROTO_OK);
            s_assert_bytes(&file, b, "proof", mine, nmine * PROTO_HASH_LEN, proof,
                           count * PROTO_HASH_LEN);
            valid++;
        } else {
            invalid++;
        }
    }
    assert_true(sths >= 4 && valid >= 10 && invalid >= 5);
    s_file_free(&file);
}

static void test_directory(void **state)
{
    (void) state;
    s_file_t file;
    s_file_load(&file, "directory.txt");
    assert_true(file.count >= 1);
    for (size_t i = 0; i < file.count; i++) {
        const s_block_t *b = &file.blocks[i];
        assert_int_equal(s_kind(&file, b), PROTO_KIND_DIRECTORY);
        const s_ident_t *signer = s_ident(&file, b, s_need(&file, b, "signer"));
        assert_int_equal(signer->role, PROTO_ROLE_BROKER);
        uint8_t sig[PROTO_SIG_LEN], mine[PROTO_SIG_LEN];
        size_t len = 0;
        s_hex_exact(&file, b, "signature", sig, sizeof sig);
        uint8_t *body = s_hex(&file, b, "body", &len);
        proto_msg_t *msg = s_decode_ok(&file, b, PROTO_KIND_DIRECTORY, body, len);
        const proto_directory_msg_t *dir = &msg->u.directory;
        s_reencode(&file, b, msg, body, len);
        assert_string_equal(dir->broker, signer->name);
        assert_memory_equal(dir->sig, sig, sizeof sig);

        proto_buf_t canonical;
        proto_buf_init(&canonical);
        assert_int_equal(proto_directory_canonical(dir, &canonical), PROTO_OK);
        s_assert_buf(&file, b, "canonical", &canonical);
        s_check_signature(&file, b, signer, canonical.data, canonical.len, sig);
        assert_int_equal(proto_directory_verify(dir, signer->sign_pk, sig), PROTO_OK);
        assert_int_equal(proto_directory_sign(dir, signer->id, mine), PROTO_OK);
        assert_memory_equal(mine, sig, sizeof sig);
        //  The keys it publishes are those of identities.txt.
        for (uint32_t e = 0; e < dir->nentries; e++) {
            const s_ident_t *agency = s_ident(&file, b, dir->entries[e].code);
            assert_memory_equal(dir->entries[e].key, agency->sign_pk, PROTO_KEY_LEN);
        }
        proto_buf_free(&canonical);
        proto_msg_destroy(&msg);
        free(body);
    }
    s_file_free(&file);
}

static void test_session(void **state)
{
    (void) state;
    s_file_t file;
    s_file_load(&file, "session.txt");
    assert_true(file.count >= 6);
    for (size_t i = 0; i < file.count; i++) {
        const s_block_t *b = &file.blocks[i];
        int kind = s_kind(&file, b);
        size_t len = 0;
        uint8_t *body = s_hex(&file, b, "body", &len);
        proto_msg_t *msg = s_decode_ok(&file, b, kind, body, len);
        s_reencode(&file, b, msg, body, len);
        proto_msg_destroy(&msg);
        free(body);
    }
    s_file_free(&file);
}

//  sealed.txt, checked with libsodium alone, as another implementation
//  would: the hashes, each recipient's sealed key opened with the secret
//  key derived from its seed, the stream decrypted chunk by chunk.
static bool s_stream_opens(const uint8_t *key, const uint8_t *header, uint64_t chunk,
                           const uint8_t *frame, size_t len, uint8_t *out, size_t *out_len)
{
    crypto_secretstream_xchacha20poly1305_state st;
    if (crypto_secretstream_xchacha20poly1305_init_pull(&st, header, key) != 0)
        return false;
    size_t pos = 0;
    *out_len = 0;
    while (pos < len) {
        size_t n = len - pos < chunk + 17 ? len - pos : chunk + 17;
        unsigned long long m = 0;
        unsigned char tag = 0;
        if (crypto_secretstream_xchacha20poly1305_pull(&st, out + *out_len, &m, &tag, frame + pos,
                                                       n, NULL, 0) != 0)
            return false;
        *out_len += (size_t) m;
        pos += n;
        if ((tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) != (pos == len))
            return false;
    }
    return len > 0;
}

static void test_sealed(void **state)
{
    (void) state;
    s_file_t file;
    s_file_load(&file, "sealed.txt");
    assert_true(file.count >= 3);
    for (size_t i = 0; i < file.count; i++) {
        const s_block_t *b = &file.blocks[i];
        size_t plen = 0, flen = 0;
        uint8_t *plain = s_hex(&file, b, "plain", &plen), *frame = s_hex(&file, b, "frame", &flen);
        uint8_t want[PROTO_HASH_LEN], got[PROTO_HASH_LEN], key[32], header[24], opened[32];
        s_hex_exact(&file, b, "plain_hash", want, sizeof want);
        crypto_generichash(got, sizeof got, plain, plen, NULL, 0);
        s_assert_bytes(&file, b, "plain_hash", got, sizeof got, want, sizeof want);
        s_hex_exact(&file, b, "hash", want, sizeof want);
        crypto_generichash(got, sizeof got, frame, flen, NULL, 0);
        s_assert_bytes(&file, b, "hash", got, sizeof got, want, sizeof want);
        assert_int_equal(s_uint(&file, b, "size"), flen);
        s_hex_exact(&file, b, "file_key", key, sizeof key);
        s_hex_exact(&file, b, "header", header, sizeof header);
        for (unsigned k = 0; k < 2; k++) {
            char name[32];
            snprintf(name, sizeof name, "keys[%u].agency", k);
            const s_ident_t *ident = s_ident(&file, b, s_need(&file, b, name));
            uint8_t sealed[80], sk[crypto_sign_SECRETKEYBYTES], curve_sk[32];
            snprintf(name, sizeof name, "keys[%u].key", k);
            s_hex_exact(&file, b, name, sealed, sizeof sealed);
            s_secret_key(ident, sk);
            assert_int_equal(crypto_sign_ed25519_sk_to_curve25519(curve_sk, sk), 0);
            assert_int_equal(
                crypto_box_seal_open(opened, sealed, sizeof sealed, ident->curve_pk, curve_sk), 0);
            s_assert_bytes(&file, b, name, opened, sizeof opened, key, sizeof key);
        }
        uint8_t *out = malloc(flen + 1);
        assert_non_null(out);
        size_t olen = 0;
        bool ok = s_stream_opens(key, header, s_uint(&file, b, "chunk"), frame, flen, out, &olen);
        if (strcmp(s_need(&file, b, "expect"), "ok") == 0) {
            if (!ok || olen != plen || (plen && memcmp(out, plain, plen) != 0))
                fail_msg("%s:%u: the frame does not decrypt to plain", file.path, b->line);
        } else if (ok) {
            fail_msg("%s:%u: a damaged frame decrypts", file.path, b->line);
        }
        free(out);
        free(plain);
        free(frame);
    }
    s_file_free(&file);
}

// ---------------------------------------------------------------------------

typedef struct {
    const char *name;
    proto_err_t code;
    bool found;
} s_errname_t;

static void s_errname_match(proto_err_t err, void *arg)
{
    s_errname_t *want = arg;
    if (strcmp(proto_errname(err), want->name) == 0) {
        want->code = err;
        want->found = true;
    }
}

static void test_malformed(void **state)
{
    (void) state;
    s_file_t file;
    s_file_load(&file, "malformed.txt");
    assert_true(file.count >= 40);
    for (size_t i = 0; i < file.count; i++) {
        const s_block_t *b = &file.blocks[i];
        int kind = s_kind(&file, b);
        const char *field = s_need(&file, b, "field");
        s_errname_t want = { .name = s_need(&file, b, "error") };
        proto_err_foreach(s_errname_match, &want);
        if (!want.found || want.code == PROTO_OK)
            fail_msg("%s:%u: '%s' is not an error symbol", file.path, b->line, want.name);
        assert_non_null(s_get(b, "name"));
        assert_non_null(s_get(b, "desc"));

        size_t len = 0;
        uint8_t *body = s_hex(&file, b, "body", &len);
        proto_msg_t dummy, *msg = &dummy; // the decoder must reset it to NULL
        proto_errinfo_t info;
        proto_err_t rc = proto_msg_decode(kind, body, len, &msg, &info);
        if (rc != want.code || info.code != rc || strcmp(info.field, field) != 0)
            fail_msg("%s:%u: %s: expected %s at '%s', got %s at '%s' (%s)", file.path, b->line,
                     s_get(b, "name"), want.name, field, proto_errname(rc), info.field,
                     info.message);
        assert_null(msg);
        assert_true(info.message[0] != '\0');
        //  Without an info struct the result is the same.
        assert_int_equal(proto_msg_decode(kind, body, len, &msg, NULL), rc);
        assert_null(msg);
        free(body);
    }
    s_file_free(&file);
}

//  evidence.txt: each bundle reaches its verdict, with the broker key
//  pinned as a third party's checker would (PROTOCOL.md 17.2, 17.3).
static void test_evidence(void **state)
{
    (void) state;
    s_file_t file;
    s_file_load(&file, "evidence.txt");
    assert_true(file.count >= 1);
    static const char *const names[] = { "proven", "unproven", "invalid" };
    for (size_t i = 0; i < file.count; i++) {
        const s_block_t *b = &file.blocks[i];
        uint8_t key[PROTO_KEY_LEN];
        size_t len = 0;
        s_hex_exact(&file, b, "broker_key", key, sizeof key);
        uint8_t *bundle = s_hex(&file, b, "bundle", &len);
        const char *want = s_need(&file, b, "verdict");
        proto_evidence_report_t *r = proto_evidence_check(bundle, len, key);
        assert_non_null(r);
        proto_evidence_verdict_t got = proto_evidence_verdict(r);
        if (strcmp(names[got], want) != 0 || s_uint(&file, b, "exit") != (uint64_t) got)
            fail_msg("%s:%u: %s: the checker says %s, the vector %s", file.path, b->line,
                     s_need(&file, b, "name"), names[got], want);
        proto_evidence_report_destroy(&r);
        free(bundle);
    }
    s_file_free(&file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identities), cmocka_unit_test(test_documents),
        cmocka_unit_test(test_notices),    cmocka_unit_test(test_merkle),
        cmocka_unit_test(test_tlog),       cmocka_unit_test(test_directory),
        cmocka_unit_test(test_session),    cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_sealed),     cmocka_unit_test(test_forward),
        cmocka_unit_test(test_evidence),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
