/*  test_identity.c - identities, key files, passphrases, encodings, and the
    strict INI and atomic-file helpers, from new to destroy.

    Every test that touches files works in one mkdtemp directory made by the
    group setup and removed by the group teardown. Encrypted keys use
    PROTO_KDF_MIN so the suite stays fast under sanitizers.
*/
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/identity.h"
#include "proto/ini.h"

#define AGENCY "000.00.01.H01"

static char s_tmp[256];

//  ---------------------------------------------------------------------
//  Helpers

static int s_setup(void **state)
{
    (void) state;
    if (sodium_init() < 0)
        return -1;
    const char *base = getenv("TMPDIR");
    snprintf(s_tmp, sizeof s_tmp, "%s/truc-test-identity-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(s_tmp) ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void) state;
    DIR *dir = opendir(s_tmp);
    if (!dir)
        return -1;
    struct dirent *e;
    char path[512];
    while ((e = readdir(dir)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", s_tmp, e->d_name);
        if (unlink(path) != 0)
            rmdir(path);
    }
    closedir(dir);
    return rmdir(s_tmp);
}

//  A path in the temporary directory. Four rotating buffers, so a test can
//  hold a few at once.
static const char *s_path(const char *name)
{
    static char paths[4][512];
    static int next = 0;
    char *p = paths[next++ % 4];
    snprintf(p, 512, "%s/%s", s_tmp, name);
    return p;
}

static void s_write(const char *name, const void *data, size_t len, mode_t mode)
{
    const char *path = s_path(name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t) len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void s_write_text(const char *name, const char *text, mode_t mode)
{
    s_write(name, text, strlen(text), mode);
}

//  Read a whole small file into a static buffer.
static const char *s_read(const char *name)
{
    static char buf[70000];
    FILE *f = fopen(s_path(name), "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

#define assert_contains(text, needle)                                                              \
    do {                                                                                           \
        if (!strstr((text), (needle))) {                                                           \
            print_error("'%s' does not contain '%s'\n", (text), (needle));                         \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

//  Replace the first occurrence of from by to in a copy of text.
static char *s_replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    assert_non_null(at);
    size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s%s", (int) (at - text), text, to, at + strlen(from));
    return out;
}

//  Load name as a secret key file, expect rc, and a detail containing needle.
static void s_expect_secret(const char *name, const char *pass, proto_err_t rc, const char *needle)
{
    proto_identity_t *id = NULL;
    char err[256] = "";
    assert_int_equal(proto_identity_load(s_path(name), pass, &id, err, sizeof err), rc);
    if (rc == PROTO_OK) {
        assert_non_null(id);
        proto_identity_destroy(&id);
    } else {
        assert_null(id);
    }
    if (needle)
        assert_contains(err, needle);
}

//  ---------------------------------------------------------------------
//  Identities

static void test_generate(void **state)
{
    (void) state;
    proto_identity_t *id = proto_identity_generate(PROTO_ROLE_AGENCY, AGENCY);
    assert_non_null(id);
    const proto_public_t *pub = proto_identity_public(id);
    assert_int_equal(pub->role, PROTO_ROLE_AGENCY);
    assert_string_equal(pub->name, AGENCY);

    //  The transport pair is the one derived from the signing key.
    uint8_t curve[32], derived_pk[32];
    assert_int_equal(crypto_sign_ed25519_pk_to_curve25519(curve, pub->sign_pk), 0);
    assert_memory_equal(curve, pub->curve_pk, 32);
    assert_int_equal(crypto_scalarmult_base(derived_pk, proto_identity_curve_sk(id)), 0);
    assert_memory_equal(derived_pk, pub->curve_pk, 32);

    //  Two identities never share a seed.
    proto_identity_t *other = proto_identity_generate(PROTO_ROLE_BROKER, "broker-1");
    assert_non_null(other);
    assert_int_equal(proto_identity_public(other)->role, PROTO_ROLE_BROKER);
    assert_memory_not_equal(proto_identity_public(other)->sign_pk, pub->sign_pk, 32);
    proto_identity_destroy(&other);
    assert_null(other);

    proto_identity_destroy(&id);
    assert_null(id);
    proto_identity_destroy(&id); // harmless on NULL
    proto_identity_destroy(NULL);
}

static void test_generate_bad_names(void **state)
{
    (void) state;
    assert_null(proto_identity_generate(PROTO_ROLE_AGENCY, "000.01.00.H01"));
    assert_null(proto_identity_generate(PROTO_ROLE_AGENCY, "broker-1"));
    assert_null(proto_identity_generate(PROTO_ROLE_AGENCY, NULL));
    assert_null(proto_identity_generate(PROTO_ROLE_BROKER, "-broker"));
    assert_null(proto_identity_generate(PROTO_ROLE_BROKER, ""));
    assert_null(proto_identity_generate((proto_role_t) 7, AGENCY));
    assert_int_equal(proto_role_name_check(PROTO_ROLE_AGENCY, "x"), PROTO_ERR_AGENCY_CODE);
    assert_int_equal(proto_role_name_check(PROTO_ROLE_BROKER, "a b"), PROTO_ERR_VALUE);
    assert_int_equal(proto_role_name_check(PROTO_ROLE_BROKER, AGENCY), PROTO_OK);
    assert_string_equal(proto_role_name(PROTO_ROLE_AGENCY), "agency");
    assert_string_equal(proto_role_name(PROTO_ROLE_BROKER), "broker");
    assert_string_equal(proto_role_name((proto_role_t) 0), "?");
}

static void test_sign_verify(void **state)
{
    (void) state;
    proto_identity_t *id = proto_identity_generate(PROTO_ROLE_AGENCY, AGENCY);
    assert_non_null(id);
    const uint8_t *pk = proto_identity_public(id)->sign_pk;
    const char msg[] = "công văn số 12/UBND";
    uint8_t sig[PROTO_IDENTITY_SIG_LEN];
    assert_int_equal(proto_identity_sign(id, msg, sizeof msg, sig), PROTO_OK);
    assert_int_equal(proto_sig_verify(pk, msg, sizeof msg, sig), PROTO_OK);

    //  Tampering with the message, the signature or the key is detected.
    char bad[sizeof msg];
    memcpy(bad, msg, sizeof msg);
    bad[0] ^= 1;
    assert_int_equal(proto_sig_verify(pk, bad, sizeof bad, sig), PROTO_ERR_BAD_SIGNATURE);
    assert_int_equal(proto_sig_verify(pk, msg, sizeof msg - 1, sig), PROTO_ERR_BAD_SIGNATURE);
    sig[10] ^= 0x40;
    assert_int_equal(proto_sig_verify(pk, msg, sizeof msg, sig), PROTO_ERR_BAD_SIGNATURE);
    sig[10] ^= 0x40;
    proto_identity_t *other = proto_identity_generate(PROTO_ROLE_AGENCY, AGENCY);
    assert_int_equal(proto_sig_verify(proto_identity_public(other)->sign_pk, msg, sizeof msg, sig),
                     PROTO_ERR_BAD_SIGNATURE);
    proto_identity_destroy(&other);

    //  Empty messages are fine; NULL with a length is not.
    assert_int_equal(proto_identity_sign(id, NULL, 0, sig), PROTO_OK);
    assert_int_equal(proto_sig_verify(pk, NULL, 0, sig), PROTO_OK);
    assert_int_equal(proto_identity_sign(id, NULL, 3, sig), PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_identity_sign(NULL, msg, 3, sig), PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_sig_verify(NULL, msg, 3, sig), PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_sig_verify(pk, msg, 3, NULL), PROTO_ERR_INVALID_ARG);
    assert_null(proto_identity_public(NULL));
    assert_null(proto_identity_curve_sk(NULL));
    proto_identity_destroy(&id);
}

static void test_fingerprint(void **state)
{
    (void) state;
    uint8_t pk[32];
    for (int i = 0; i < 32; i++)
        pk[i] = (uint8_t) i;
    char fp[PROTO_FINGERPRINT_LEN + 1];
    proto_fingerprint(pk, fp);
    //  First 16 bytes of BLAKE2b-256 of the key, computed independently.
    assert_string_equal(fp, "cb2f:5160:fc1f:7e05:a55e:f49d:340b:48da");
    assert_int_equal(strlen(fp), PROTO_FINGERPRINT_LEN);

    proto_identity_t *id = proto_identity_generate(PROTO_ROLE_AGENCY, AGENCY);
    proto_fingerprint(proto_identity_public(id)->sign_pk, fp);
    assert_int_equal(strlen(fp), 39);
    for (int i = 0; i < 39; i++) {
        if (i % 5 == 4)
            assert_int_equal(fp[i], ':');
        else
            assert_non_null(strchr("0123456789abcdef", fp[i]));
    }
    proto_identity_destroy(&id);
}

static void test_public_init(void **state)
{
    (void) state;
    proto_identity_t *id = proto_identity_generate(PROTO_ROLE_AGENCY, AGENCY);
    const proto_public_t *pub = proto_identity_public(id);
    proto_public_t copy;
    assert_int_equal(proto_public_init(&copy, PROTO_ROLE_AGENCY, AGENCY, pub->sign_pk), PROTO_OK);
    assert_memory_equal(copy.curve_pk, pub->curve_pk, 32);
    assert_int_equal(proto_public_init(&copy, PROTO_ROLE_AGENCY, "bad", pub->sign_pk),
                     PROTO_ERR_AGENCY_CODE);
    //  An all-zero key is a point of small order: no one's key.
    uint8_t zero[32] = { 0 };
    assert_int_equal(proto_public_init(&copy, PROTO_ROLE_AGENCY, AGENCY, zero), PROTO_ERR_VALUE);
    assert_int_equal(proto_public_init(NULL, PROTO_ROLE_AGENCY, AGENCY, zero),
                     PROTO_ERR_INVALID_ARG);
    proto_identity_destroy(&id);
}

//  ---------------------------------------------------------------------
//  Encodings

static void test_hex(void **state)
{
    (void) state;
    const uint8_t bin[] = { 0x00, 0x1f, 0xa0, 0xff };
    char hex[9];
    proto_hex_encode(bin, sizeof bin, hex);
    assert_string_equal(hex, "001fa0ff");
    uint8_t back[4];
    assert_int_equal(proto_hex_decode("001fa0ff", back, 4), PROTO_OK);
    assert_memory_equal(back, bin, 4);
    assert_int_equal(proto_hex_decode("001FA0FF", back, 4), PROTO_OK);
    assert_memory_equal(back, bin, 4);
    assert_int_equal(proto_hex_decode("001fa0f", back, 4), PROTO_ERR_VALUE);
    assert_int_equal(proto_hex_decode("001fa0ff00", back, 4), PROTO_ERR_VALUE);
    assert_int_equal(proto_hex_decode("001fa0fg", back, 4), PROTO_ERR_VALUE);
    assert_int_equal(proto_hex_decode("001f a0f", back, 4), PROTO_ERR_VALUE);
    assert_int_equal(proto_hex_decode(NULL, back, 4), PROTO_ERR_VALUE);
    proto_hex_encode(bin, 0, hex);
    assert_string_equal(hex, "");
}

static void test_z85(void **state)
{
    (void) state;
    //  The test vector of the Z85 specification (ZeroMQ RFC 32).
    const uint8_t hello[] = { 0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B };
    char out[41];
    assert_int_equal(proto_z85_encode(hello, sizeof hello, out, sizeof out), PROTO_OK);
    assert_string_equal(out, "HelloWorld");
    uint8_t key[32];
    memset(key, 0xff, sizeof key);
    assert_int_equal(proto_z85_encode(key, 32, out, sizeof out), PROTO_OK);
    assert_int_equal(strlen(out), 40);
    assert_string_equal(out, "%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0%nSc0");
    assert_int_equal(proto_z85_encode(key, 31, out, sizeof out), PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_z85_encode(key, 32, out, 40), PROTO_ERR_INVALID_ARG);
}

//  ---------------------------------------------------------------------
//  Secret key files

static void test_secret_plain_roundtrip(void **state)
{
    (void) state;
    proto_identity_t *id = proto_identity_generate(PROTO_ROLE_AGENCY, AGENCY);
    const char *path = s_path("plain.secret");
    assert_int_equal(proto_identity_save(id, path, NULL, PROTO_KDF_INTERACTIVE, false), PROTO_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    const char *text = s_read("plain.secret");
    assert_contains(text, "# truc secret key - keep private (mode 0600)");
    assert_contains(text, "[secret]\nformat = 1\nrole = agency\nname = 000.00.01.H01\n"
                          "encryption = none\nseed = ");

    proto_identity_t *back = NULL;
    char err[256] = "";
    assert_int_equal(proto_identity_load(path, NULL, &back, err, sizeof err), PROTO_OK);
    const proto_public_t *a = proto_identity_public(id), *b = proto_identity_public(back);
    assert_int_equal(b->role, PROTO_ROLE_AGENCY);
    assert_string_equal(b->name, AGENCY);
    assert_memory_equal(a->sign_pk, b->sign_pk, 32);
    assert_memory_equal(a->curve_pk, b->curve_pk, 32);
    assert_memory_equal(proto_identity_curve_sk(id), proto_identity_curve_sk(back), 32);
    //  A passphrase is ignored for a plain file.
    proto_identity_destroy(&back);
    assert_int_equal(proto_identity_load(path, "ignored", &back, err, sizeof err), PROTO_OK);
    proto_identity_destroy(&back);

    //  No silent overwrite; overwrite on request.
    assert_int_equal(proto_identity_save(id, path, NULL, PROTO_KDF_INTERACTIVE, false),
                     PROTO_ERR_EXISTS);
    assert_int_equal(proto_identity_save(id, path, NULL, PROTO_KDF_INTERACTIVE, true), PROTO_OK);
    assert_int_equal(proto_identity_save(NULL, path, NULL, PROTO_KDF_INTERACTIVE, true),
                     PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_identity_save(id, path, NULL, (proto_kdf_strength_t) 9, true),
                     PROTO_ERR_INVALID_ARG);
    //  A missing parent directory.
    assert_int_equal(
        proto_identity_save(id, s_path("nodir/x.secret"), NULL, PROTO_KDF_INTERACTIVE, false),
        PROTO_ERR_NOT_FOUND);
    proto_identity_destroy(&id);
}

static void test_secret_encrypted_roundtrip(void **state)
{
    (void) state;
    proto_identity_t *id = proto_identity_generate(PROTO_ROLE_AGENCY, AGENCY);
    const char *path = s_path("enc.secret");
    assert_int_equal(proto_identity_save(id, path, "đúng mật khẩu", PROTO_KDF_MIN, false),
                     PROTO_OK);
    const char *text = s_read("enc.secret");
    assert_contains(text, "encryption = argon2id\nopslimit = 1\nmemlimit = 8192\nsalt = ");
    assert_null(strstr(text, "seed"));

    proto_identity_t *back = NULL;
    char err[256] = "";
    assert_int_equal(proto_identity_load(path, "đúng mật khẩu", &back, err, sizeof err), PROTO_OK);
    assert_memory_equal(proto_identity_public(id)->sign_pk, proto_identity_public(back)->sign_pk,
                        32);
    proto_identity_destroy(&back);

    s_expect_secret("enc.secret", "wrong", PROTO_ERR_PASSPHRASE, "wrong passphrase");
    s_expect_secret("enc.secret", NULL, PROTO_ERR_PASSPHRASE, "no passphrase");
    s_expect_secret("enc.secret", "", PROTO_ERR_PASSPHRASE, "no passphrase");

    //  A flipped bit in the box reads as a wrong passphrase: the MAC fails.
    char *bad = strdup(text);
    char *box = strstr(bad, "box = ") + 6;
    box[3] = box[3] == '0' ? '1' : '0';
    s_write_text("box.secret", bad, 0600);
    s_expect_secret("box.secret", "đúng mật khẩu", PROTO_ERR_PASSPHRASE, "wrong passphrase");
    free(bad);

    //  Another name of the same length opens the box but does not match it.
    bad = s_replace(text, "name = 000.00.01.H01", "name = 000.00.01.H02");
    s_write_text("name.secret", bad, 0600);
    s_expect_secret("name.secret", "đúng mật khẩu", PROTO_ERR_KEY_FILE, "another name");
    free(bad);

    proto_identity_destroy(&id);

    //  A broker with the longest label: its box is folded over two lines.
    char label[PROTO_LABEL_MAX + 1];
    memset(label, 'b', PROTO_LABEL_MAX);
    label[PROTO_LABEL_MAX] = '\0';
    id = proto_identity_generate(PROTO_ROLE_BROKER, label);
    assert_non_null(id);
    path = s_path("broker.secret");
    assert_int_equal(proto_identity_save(id, path, "pw", PROTO_KDF_MIN, false), PROTO_OK);
    text = s_read("broker.secret");
    assert_contains(text, "\n    ");
    assert_int_equal(proto_identity_load(path, "pw", &back, err, sizeof err), PROTO_OK);
    assert_string_equal(proto_identity_public(back)->name, label);
    assert_int_equal(proto_identity_public(back)->role, PROTO_ROLE_BROKER);
    assert_memory_equal(proto_identity_curve_sk(id), proto_identity_curve_sk(back), 32);
    proto_identity_destroy(&back);
    proto_identity_destroy(&id);
}

static void test_secret_permissions(void **state)
{
    (void) state;
    proto_identity_t *id = proto_identity_generate(PROTO_ROLE_AGENCY, AGENCY);
    const char *path = s_path("perm.secret");
    assert_int_equal(proto_identity_save(id, path, NULL, PROTO_KDF_MIN, false), PROTO_OK);
    proto_identity_destroy(&id);
    static const mode_t modes[] = { 0640, 0644, 0604, 0660, 0601, 0610 };
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        assert_int_equal(chmod(path, modes[i]), 0);
        s_expect_secret("perm.secret", NULL, PROTO_ERR_PERMISSIONS, "group or others");
    }
    assert_int_equal(chmod(path, 0400), 0);
    s_expect_secret("perm.secret", NULL, PROTO_OK, NULL);
    assert_int_equal(chmod(path, 0600), 0);
}

//  A valid plain key file to mutate.
static char *s_plain_text(void)
{
    proto_identity_t *id = proto_identity_generate(PROTO_ROLE_AGENCY, AGENCY);
    assert_int_equal(proto_identity_save(id, s_path("base.secret"), NULL, PROTO_KDF_MIN, true),
                     PROTO_OK);
    proto_identity_destroy(&id);
    return strdup(s_read("base.secret"));
}

static void test_secret_corrupt(void **state)
{
    (void) state;
    char *good = s_plain_text();
    const char *seed = strstr(good, "seed = ") + 7;
    char seed_hex[65];
    memcpy(seed_hex, seed, 64);
    seed_hex[64] = '\0';
    struct {
        const char *from, *to, *needle;
    } cases[] = {
        { "format = 1", "format = 2", "unknown format '2'" },
        { "role = agency", "role = admin", "unknown role 'admin'" },
        { "name = 000.00.01.H01", "name = 000.01.00.H01", "not a valid agency code" },
        { "encryption = none", "encryption = rot13", "unknown encryption 'rot13'" },
        { "seed = ", "seed = 0", "seed must be 64 hex digits" },
        { "seed = ", "seed = zz", "seed must be 64 hex digits" },
        { "seed = ", "colour = blue\nseed = ", "unknown key 'colour'" },
        { "seed = ", "salt = 00\nseed = ", "'salt' does not belong with encryption = none" },
        { "format = 1\n", "", "[secret] has no 'format'" },
        { "role = agency\n", "", "[secret] has no 'role'" },
        { "encryption = none\n", "", "[secret] has no 'encryption'" },
        { "role = agency\n", "role = agency\nrole = agency\n", "duplicate key 'role'" },
        { "[secret]", "[secrets]", "unknown section [secrets]" },
        { "[secret]", "[secret] x", "must be [name] alone" },
        { "format = 1", "format 1", "expected 'key = value'" },
        { "format = 1", "  format = 1", "unexpected indented line" },
        { "role = agency", "role = agency\n  more", "unexpected indented line" },
        { "[secret]\n", "orphan = 1\n[secret]\n", "outside any [section]" },
        { "[secret]\n", "[secret]\n[secret]\n", "section [secret] is empty" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *bad = s_replace(good, cases[i].from, cases[i].to);
        s_write_text("bad.secret", bad, 0600);
        s_expect_secret("bad.secret", NULL, PROTO_ERR_KEY_FILE, cases[i].needle);
        free(bad);
    }
    //  The seed missing without anything else changed.
    char *bad = s_replace(good, "seed = ", "#seed = ");
    s_write_text("bad.secret", bad, 0600);
    s_expect_secret("bad.secret", NULL, PROTO_ERR_KEY_FILE, "[secret] has no 'seed'");
    free(bad);

    //  Another section after [secret].
    char *more = malloc(strlen(good) + 32);
    sprintf(more, "%s[other]\nx = 1\n", good);
    s_write_text("bad.secret", more, 0600);
    s_expect_secret("bad.secret", NULL, PROTO_ERR_KEY_FILE, "unknown section [other]");
    free(more);

    //  Two [secret] sections.
    size_t n = strlen(good) * 2 + 1;
    bad = malloc(n);
    snprintf(bad, n, "%s%s", good, strstr(good, "[secret]"));
    s_write_text("bad.secret", bad, 0600);
    s_expect_secret("bad.secret", NULL, PROTO_ERR_KEY_FILE, "second [secret] section");
    free(bad);

    //  Truncated at every length: never accepted, never a crash.
    size_t len = strlen(good);
    for (size_t cut = 0; cut < len - 1; cut++) {
        s_write("trunc.secret", good, cut, 0600);
        proto_identity_t *id = NULL;
        //  Only dropping the final line ending leaves a valid file.
        assert_int_equal(proto_identity_load(s_path("trunc.secret"), NULL, &id, NULL, 0),
                         PROTO_ERR_KEY_FILE);
        assert_null(id);
    }
    s_write("trunc.secret", good, 0, 0600);
    s_expect_secret("trunc.secret", NULL, PROTO_ERR_KEY_FILE, "no [secret] section");

    //  A NUL byte, an over-long line, an oversized file.
    bad = strdup(good);
    bad[strstr(bad, "role") - bad + 2] = '\0';
    s_write("bad.secret", bad, len, 0600);
    s_expect_secret("bad.secret", NULL, PROTO_ERR_KEY_FILE, "NUL byte");
    free(bad);
    char line[400];
    memset(line, 'a', sizeof line - 1);
    line[sizeof line - 1] = '\0';
    bad = s_replace(good, "seed = ", "");
    char *longer = s_replace(bad, "[secret]\n", "[secret]\n# ");
    free(bad);
    bad = s_replace(longer, "# ", line);
    s_write_text("bad.secret", bad, 0600);
    s_expect_secret("bad.secret", NULL, PROTO_ERR_KEY_FILE, "longer than");
    free(bad);
    free(longer);
    size_t big = PROTO_KEY_FILE_MAX + 1;
    bad = malloc(big);
    memset(bad, '#', big);
    s_write("big.secret", bad, big, 0600);
    s_expect_secret("big.secret", NULL, PROTO_ERR_KEY_FILE, "larger than 65536 bytes");
    free(bad);

    //  Missing file, a directory.
    s_expect_secret("none.secret", NULL, PROTO_ERR_NOT_FOUND, "cannot open");
    assert_int_equal(mkdir(s_path("adir"), 0700), 0);
    s_expect_secret("adir", NULL, PROTO_ERR_IO, "not a regular file");
    free(good);
}

static void test_secret_corrupt_encrypted(void **state)
{
    (void) state;
    proto_identity_t *id = proto_identity_generate(PROTO_ROLE_AGENCY, AGENCY);
    assert_int_equal(proto_identity_save(id, s_path("e.secret"), "pw", PROTO_KDF_MIN, true),
                     PROTO_OK);
    proto_identity_destroy(&id);
    char *good = strdup(s_read("e.secret"));
    struct {
        const char *from, *to, *needle;
    } cases[] = {
        { "opslimit = 1", "opslimit = 0", "opslimit must be a number" },
        { "opslimit = 1", "opslimit = 99", "opslimit must be a number" },
        { "opslimit = 1", "opslimit = 01", "opslimit must be a number" },
        { "opslimit = 1", "opslimit = -1", "opslimit must be a number" },
        { "memlimit = 8192", "memlimit = 8191", "memlimit must be a number" },
        { "memlimit = 8192", "memlimit = 99999999999999", "memlimit must be a number" },
        { "salt = ", "salt = 00", "salt must be 32 hex digits" },
        { "nonce = ", "nonce = 00", "nonce must be 48 hex digits" },
        { "box = ", "box = 00", "box must be" },
        { "box = ", "seed = 00\nbox = ", "'seed' does not belong with encryption = argon2id" },
        { "nonce = ", "#nonce = ", "[secret] has no 'nonce'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *bad = s_replace(good, cases[i].from, cases[i].to);
        s_write_text("bad.secret", bad, 0600);
        //  Format errors come first, even without a passphrase.
        s_expect_secret("bad.secret", NULL, PROTO_ERR_KEY_FILE, cases[i].needle);
        free(bad);
    }
    //  Changed KDF parameters derive another key: the box does not open.
    char *bad = s_replace(good, "opslimit = 1", "opslimit = 2");
    s_write_text("bad.secret", bad, 0600);
    s_expect_secret("bad.secret", "pw", PROTO_ERR_PASSPHRASE, "wrong passphrase");
    free(bad);
    free(good);
}

static void test_key_file_kind(void **state)
{
    (void) state;
    proto_identity_t *id = proto_identity_generate(PROTO_ROLE_AGENCY, AGENCY);
    assert_int_equal(proto_identity_save(id, s_path("k.secret"), NULL, PROTO_KDF_MIN, true),
                     PROTO_OK);
    assert_int_equal(proto_public_save(proto_identity_public(id), s_path("k.public"), true),
                     PROTO_OK);
    proto_identity_destroy(&id);
    proto_key_file_kind_t kind = 0;
    char err[128] = "";
    assert_int_equal(proto_key_file_kind(s_path("k.secret"), &kind, err, sizeof err), PROTO_OK);
    assert_int_equal(kind, PROTO_KEY_FILE_SECRET);
    assert_int_equal(proto_key_file_kind(s_path("k.public"), &kind, err, sizeof err), PROTO_OK);
    assert_int_equal(kind, PROTO_KEY_FILE_PUBLIC);
    s_write_text("k.other", "# x\n\n[directory]\nformat = 1\n", 0644);
    assert_int_equal(proto_key_file_kind(s_path("k.other"), &kind, err, sizeof err),
                     PROTO_ERR_KEY_FILE);
    assert_contains(err, "neither");
    assert_int_equal(proto_key_file_kind(s_path("k.none"), &kind, err, sizeof err),
                     PROTO_ERR_NOT_FOUND);
}

//  ---------------------------------------------------------------------
//  Public identity files

static void test_public_roundtrip(void **state)
{
    (void) state;
    proto_identity_t *id = proto_identity_generate(PROTO_ROLE_AGENCY, AGENCY);
    const proto_public_t *pub = proto_identity_public(id);
    const char *path = s_path("a.public");
    assert_int_equal(proto_public_save(pub, path, false), PROTO_OK);
    assert_int_equal(proto_public_save(pub, path, false), PROTO_ERR_EXISTS);
    const char *text = s_read("a.public");
    assert_contains(text, "# truc public identity of agency 000.00.01.H01 - safe to share\n");
    char fp[PROTO_FINGERPRINT_LEN + 1];
    proto_fingerprint(pub->sign_pk, fp);
    assert_contains(text, fp);
    proto_public_t back;
    char err[256] = "";
    assert_int_equal(proto_public_load(path, &back, err, sizeof err), PROTO_OK);
    assert_int_equal(back.role, PROTO_ROLE_AGENCY);
    assert_string_equal(back.name, AGENCY);
    assert_memory_equal(back.sign_pk, pub->sign_pk, 32);
    assert_memory_equal(back.curve_pk, pub->curve_pk, 32);

    //  Inconsistent public identities are refused on save.
    proto_public_t bad = *pub;
    bad.curve_pk[0] ^= 1;
    assert_int_equal(proto_public_save(&bad, s_path("b.public"), true), PROTO_ERR_INVALID_ARG);
    bad = *pub;
    memset(bad.name, 'x', sizeof bad.name);
    assert_int_equal(proto_public_save(&bad, s_path("b.public"), true), PROTO_ERR_INVALID_ARG);
    proto_identity_destroy(&id);
}

static void test_public_corrupt(void **state)
{
    (void) state;
    proto_identity_t *id = proto_identity_generate(PROTO_ROLE_AGENCY, AGENCY);
    proto_identity_t *other = proto_identity_generate(PROTO_ROLE_AGENCY, AGENCY);
    assert_int_equal(proto_public_save(proto_identity_public(id), s_path("g.public"), true),
                     PROTO_OK);
    char *good = strdup(s_read("g.public"));
    char other_curve[65], other_fp[PROTO_FINGERPRINT_LEN + 1], line_curve[80], line_fp[80];
    proto_hex_encode(proto_identity_public(other)->curve_pk, 32, other_curve);
    proto_fingerprint(proto_identity_public(other)->sign_pk, other_fp);
    snprintf(line_curve, sizeof line_curve, "curve_key = %s", other_curve);
    snprintf(line_fp, sizeof line_fp, "fingerprint = %s", other_fp);
    char *curve_at = strstr(good, "curve_key = ");
    char *fp_at = strstr(good, "fingerprint = ");
    char curve_line[80], fp_line[80];
    snprintf(curve_line, sizeof curve_line, "%.*s", (int) strcspn(curve_at, "\n"), curve_at);
    snprintf(fp_line, sizeof fp_line, "%.*s", (int) strcspn(fp_at, "\n"), fp_at);
    struct {
        const char *from, *to, *needle;
    } cases[] = {
        { curve_line, line_curve, "curve_key is not the key derived from sign_key" },
        { fp_line, line_fp, "fingerprint does not match sign_key" },
        { "sign_key = ", "sign_key = 00", "sign_key must be 64 hex digits" },
        { "sign_key = ", "#sign_key = ", "[public] has no 'sign_key'" },
        { "fingerprint = ", "#fingerprint = ", "[public] has no 'fingerprint'" },
        { "role = agency", "role = broker\nrole = agency", "duplicate key 'role'" },
        { "[public]", "[secret]", "unknown section [secret]" },
        { "format = 1", "format = 1\nextra = 1", "unknown key 'extra'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *bad = s_replace(good, cases[i].from, cases[i].to);
        s_write_text("bad.public", bad, 0644);
        proto_public_t pub;
        char err[256] = "";
        assert_int_equal(proto_public_load(s_path("bad.public"), &pub, err, sizeof err),
                         PROTO_ERR_KEY_FILE);
        assert_contains(err, cases[i].needle);
        free(bad);
    }
    proto_public_t pub;
    char err[128];
    assert_int_equal(proto_public_load(s_path("none.public"), &pub, err, sizeof err),
                     PROTO_ERR_NOT_FOUND);
    s_write_text("empty.public", "# nothing\n", 0644);
    assert_int_equal(proto_public_load(s_path("empty.public"), &pub, err, sizeof err),
                     PROTO_ERR_KEY_FILE);
    assert_contains(err, "no [public] section");
    free(good);
    proto_identity_destroy(&other);
    proto_identity_destroy(&id);
}

static void test_public_small_order_key(void **state)
{
    (void) state;
    const char *text =
        "[public]\nformat = 1\nrole = agency\nname = 000.00.01.H01\n"
        "sign_key = 0000000000000000000000000000000000000000000000000000000000000000\n"
        "curve_key = 0000000000000000000000000000000000000000000000000000000000000000\n"
        "fingerprint = 0000:0000:0000:0000:0000:0000:0000:0000\n";
    s_write_text("zero.public", text, 0644);
    proto_public_t pub;
    char err[256] = "";
    assert_int_equal(proto_public_load(s_path("zero.public"), &pub, err, sizeof err),
                     PROTO_ERR_KEY_FILE);
    assert_contains(err, "not a usable Ed25519 public key");
}

//  ---------------------------------------------------------------------
//  Passphrases

static void test_passphrase(void **state)
{
    (void) state;
    char *p = NULL;
    s_write_text("pass", "correct horse\nsecond line\n", 0600);
    assert_int_equal(proto_passphrase_read(s_path("pass"), "TRUC_TEST_UNSET_VAR", &p), PROTO_OK);
    assert_string_equal(p, "correct horse");
    proto_passphrase_free(&p);
    assert_null(p);
    proto_passphrase_free(&p);

    s_write_text("pass", "windows\r\n", 0400);
    assert_int_equal(proto_passphrase_read(s_path("pass"), NULL, &p), PROTO_OK);
    assert_string_equal(p, "windows");
    proto_passphrase_free(&p);

    s_write_text("pass", "no newline", 0600);
    assert_int_equal(proto_passphrase_read(s_path("pass"), NULL, &p), PROTO_OK);
    assert_string_equal(p, "no newline");
    proto_passphrase_free(&p);

    s_write_text("pass", "readable\n", 0640);
    assert_int_equal(proto_passphrase_read(s_path("pass"), NULL, &p), PROTO_ERR_PERMISSIONS);
    assert_null(p);
    s_write_text("pass", "\nsecond\n", 0600);
    assert_int_equal(proto_passphrase_read(s_path("pass"), NULL, &p), PROTO_ERR_PASSPHRASE);
    s_write_text("pass", "", 0600);
    assert_int_equal(proto_passphrase_read(s_path("pass"), NULL, &p), PROTO_ERR_PASSPHRASE);
    char longer[PROTO_PASSPHRASE_MAX + 2];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    s_write_text("pass", longer, 0600);
    assert_int_equal(proto_passphrase_read(s_path("pass"), NULL, &p), PROTO_ERR_LIMIT);
    assert_int_equal(proto_passphrase_read(s_path("nopass"), NULL, &p), PROTO_ERR_NOT_FOUND);

    //  The environment, used only without a file.
    assert_int_equal(setenv("TRUC_TEST_PASS", "from env", 1), 0);
    assert_int_equal(proto_passphrase_read(NULL, "TRUC_TEST_PASS", &p), PROTO_OK);
    assert_string_equal(p, "from env");
    proto_passphrase_free(&p);
    assert_int_equal(setenv("TRUC_TEST_PASS", "", 1), 0);
    assert_int_equal(proto_passphrase_read(NULL, "TRUC_TEST_PASS", &p), PROTO_ERR_PASSPHRASE);
    unsetenv("TRUC_TEST_PASS");
    assert_int_equal(proto_passphrase_read(NULL, "TRUC_TEST_PASS", &p), PROTO_ERR_PASSPHRASE);
    assert_int_equal(proto_passphrase_read(NULL, NULL, &p), PROTO_ERR_PASSPHRASE);
    assert_int_equal(proto_passphrase_read(NULL, NULL, NULL), PROTO_ERR_INVALID_ARG);
}

//  The daemons' way to load their key: the message names the file at
//  fault. A passphrase file with mode 0644 used to come back as the key
//  file being readable, and operators chmod'ed the wrong file.
static void test_identity_open(void **state)
{
    (void) state;
    proto_identity_t *id = proto_identity_generate(PROTO_ROLE_AGENCY, AGENCY);
    assert_non_null(id);
    assert_int_equal(proto_identity_save(id, s_path("open.secret"), "pw", PROTO_KDF_MIN, true),
                     PROTO_OK);
    assert_int_equal(
        proto_identity_save(id, s_path("open-plain.secret"), NULL, PROTO_KDF_MIN, true), PROTO_OK);
    proto_identity_destroy(&id);
    char key[512], pass[512], err[1024];
    snprintf(key, sizeof key, "%s", s_path("open.secret"));
    snprintf(pass, sizeof pass, "%s", s_path("open.pass"));
    unsetenv("TRUC_TEST_PASS");

    s_write_text("open.pass", "pw\n", 0600);
    assert_int_equal(proto_identity_open(key, pass, "TRUC_TEST_PASS", &id, err, sizeof err),
                     PROTO_OK);
    assert_non_null(id);
    proto_identity_destroy(&id);

    //  The passphrase file is too open: its name and its chmod, not the key's.
    s_write_text("open.pass", "pw\n", 0644);
    err[0] = '\0';
    assert_int_equal(proto_identity_open(key, pass, "TRUC_TEST_PASS", &id, err, sizeof err),
                     PROTO_ERR_PERMISSIONS);
    assert_null(id);
    assert_contains(err, "passphrase file");
    assert_contains(err, "mode 0644");
    char want[1100];
    snprintf(want, sizeof want, "chmod 600 %s", pass);
    assert_contains(err, want);
    snprintf(want, sizeof want, "chmod 600 %s", key);
    assert_null(strstr(err, want));

    //  The key is too open: its name and its chmod.
    assert_int_equal(chmod(key, 0640), 0);
    s_write_text("open.pass", "pw\n", 0600);
    err[0] = '\0';
    assert_int_equal(proto_identity_open(key, pass, NULL, &id, err, sizeof err),
                     PROTO_ERR_PERMISSIONS);
    assert_contains(err, want);
    assert_null(strstr(err, "passphrase file"));
    assert_int_equal(chmod(key, 0600), 0);

    //  Wrong, missing, empty passphrases; the environment without a file.
    s_write_text("open.pass", "wrong\n", 0600);
    assert_int_equal(proto_identity_open(key, pass, NULL, &id, err, sizeof err),
                     PROTO_ERR_PASSPHRASE);
    assert_contains(err, key);
    assert_contains(err, "wrong passphrase");
    assert_int_equal(proto_identity_open(key, s_path("open.none"), NULL, &id, err, sizeof err),
                     PROTO_ERR_NOT_FOUND);
    assert_contains(err, "passphrase file");
    s_write_text("open.pass", "\n", 0600);
    assert_int_equal(proto_identity_open(key, pass, NULL, &id, err, sizeof err),
                     PROTO_ERR_PASSPHRASE);
    assert_contains(err, "first line is empty");
    assert_int_equal(proto_identity_open(key, "", "TRUC_TEST_PASS", &id, err, sizeof err),
                     PROTO_ERR_PASSPHRASE);
    assert_contains(err, "is encrypted and no passphrase was given");
    assert_contains(err, key);
    assert_contains(err, "TRUC_TEST_PASS");
    assert_int_equal(setenv("TRUC_TEST_PASS", "pw", 1), 0);
    assert_int_equal(proto_identity_open(key, NULL, "TRUC_TEST_PASS", &id, err, sizeof err),
                     PROTO_OK);
    proto_identity_destroy(&id);
    unsetenv("TRUC_TEST_PASS");

    //  A plain key needs no passphrase, and a loose passphrase file is not
    //  even looked at.
    s_write_text("open.pass", "pw\n", 0644);
    assert_int_equal(
        proto_identity_open(s_path("open-plain.secret"), pass, NULL, &id, err, sizeof err),
        PROTO_OK);
    proto_identity_destroy(&id);
    assert_int_equal(proto_identity_open(NULL, pass, NULL, &id, err, sizeof err),
                     PROTO_ERR_INVALID_ARG);
}

//  A trust file may be read by all but changed only by its owner.
static void test_file_read_trusted(void **state)
{
    (void) state;
    static const mode_t refused[] = { 0666, 0646, 0664, 0620, 0602, 0777 };
    static const mode_t accepted[] = { 0644, 0640, 0600, 0444, 0400 };
    char *data = NULL;
    size_t len = 0;
    char err[256];
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        s_write_text("trusted", "x\n", refused[i]);
        err[0] = '\0';
        assert_int_equal(
            proto_file_read_trusted(s_path("trusted"), 100, &data, &len, err, sizeof err),
            PROTO_ERR_PERMISSIONS);
        assert_null(data);
        assert_contains(err, "lets group or others change it");
    }
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        s_write_text("trusted", "x\n", accepted[i]);
        assert_int_equal(
            proto_file_read_trusted(s_path("trusted"), 100, &data, &len, err, sizeof err),
            PROTO_OK);
        assert_string_equal(data, "x\n");
        proto_file_free(&data, len, false);
    }
}

//  ---------------------------------------------------------------------
//  Strict INI and files

typedef struct {
    int sections;
    char seen[2048];
} s_collect_t;

static proto_err_t s_collect(void *arg, const proto_ini_section_t *section, char *errbuf,
                             size_t errlen)
{
    (void) errbuf;
    (void) errlen;
    s_collect_t *c = arg;
    c->sections++;
    size_t n = strlen(c->seen);
    n +=
        (size_t) snprintf(c->seen + n, sizeof c->seen - n, "[%s@%u]", section->name, section->line);
    for (size_t i = 0; i < section->count; i++)
        n += (size_t) snprintf(c->seen + n, sizeof c->seen - n, "%s=%s@%u;", section->pairs[i].key,
                               section->pairs[i].value, section->pairs[i].line);
    return strcmp(section->name, "stop") == 0 ? PROTO_ERR_VALUE : PROTO_OK;
}

static proto_err_t s_parse(const char *text, s_collect_t *c, char *err, size_t errlen)
{
    static const proto_ini_fold_t folds[] = { { "text", " " }, { "hex", "" }, { NULL, NULL } };
    memset(c, 0, sizeof *c);
    err[0] = '\0';
    return proto_ini_parse(text, strlen(text), folds, s_collect, c, PROTO_ERR_CONFIG, err, errlen);
}

static void test_ini_parse(void **state)
{
    (void) state;
    s_collect_t c;
    char err[256];
    assert_int_equal(s_parse("\xEF\xBB\xBF# c\n; c\n[a]\nx = 1 ; note\ny: 2\n\n[b]\n"
                             "text = one two\n  three\n\t four\nhex = ab\n    cd\n",
                             &c, err, sizeof err),
                     PROTO_OK);
    assert_int_equal(c.sections, 2);
    assert_string_equal(c.seen, "[a@3]x=1@4;y=2@5;[b@7]text=one two three four@8;hex=abcd@11;");

    struct {
        const char *text, *needle;
    } bad[] = {
        { "x = 1\n", "line 1: key 'x' outside any [section]" },
        { "[a]\n[b]\nx = 1\n", "line 1: section [a] is empty" },
        { "[a]\nx = 1\n[b]\n", "line 3: section [b] is empty" },
        { "[a]\nx = 1\nx = 2\n", "line 3: duplicate key 'x' in [a] (first on line 2)" },
        { "[a]\n  x = 1\n", "line 2: unexpected indented line" },
        { "[a]\nx = 1\n  more\n", "line 3: unexpected indented line" },
        { "[a]\nx = 1\n  [b]\n", "line 3: indented section header" },
        { "[a] b\nx = 1\n", "line 1: a section header must be [name] alone" },
        { "[a\nx = 1\n", "line 1: a section header must be [name] alone" },
        { "[]\nx = 1\n", "line 1: section name empty" },
        { "[a]\nnothing here\n", "line 2: expected 'key = value'" },
        { "[a]\n= 1\n", "line 2: empty key" },
        { "[stop]\nx = 1\n", "" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        proto_err_t rc = s_parse(bad[i].text, &c, err, sizeof err);
        assert_int_equal(rc, strcmp(bad[i].text, "[stop]\nx = 1\n") == 0 ? PROTO_ERR_VALUE
                                                                         : PROTO_ERR_CONFIG);
        assert_contains(err, bad[i].needle);
    }
    //  Windows line endings are fine.
    assert_int_equal(s_parse("[a]\r\nx = 1\r\n\r\n[b]\r\ny = 2\r\n", &c, err, sizeof err),
                     PROTO_OK);
    assert_string_equal(c.seen, "[a@1]x=1@2;[b@4]y=2@5;");

    //  Too many keys in one section.
    char many[1024] = "[a]\n";
    for (int i = 0; i <= PROTO_INI_MAX_KEYS; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "k%d = %d\n", i, i);
    assert_int_equal(s_parse(many, &c, err, sizeof err), PROTO_ERR_CONFIG);
    assert_contains(err, "more than 16 keys");
    //  A NUL byte and an over-long line.
    const char nul[] = "[a]\nx = 1\0\n";
    assert_int_equal(proto_ini_parse(nul, sizeof nul - 1, NULL, s_collect, &c, PROTO_ERR_CONFIG,
                                     err, sizeof err),
                     PROTO_ERR_CONFIG);
    assert_contains(err, "line 2: contains a NUL byte");
    char line[300];
    memset(line, 'v', sizeof line);
    memcpy(line, "[a]\nx = ", 8);
    line[sizeof line - 1] = '\0';
    assert_int_equal(s_parse(line, &c, err, sizeof err), PROTO_ERR_CONFIG);
    assert_contains(err, "line 2: longer than");
    //  Empty input is no section at all, which is for the caller to judge.
    assert_int_equal(s_parse("", &c, err, sizeof err), PROTO_OK);
    assert_int_equal(c.sections, 0);
    assert_int_equal(
        proto_ini_parse(NULL, 1, NULL, s_collect, &c, PROTO_ERR_CONFIG, err, sizeof err),
        PROTO_ERR_INVALID_ARG);
}

static void test_ini_put(void **state)
{
    (void) state;
    char buf[2048];
    size_t pos = 0;
    buf[0] = '\0';
    assert_int_equal(proto_ini_put(buf, sizeof buf, &pos, "k", "short", ""), PROTO_OK);
    assert_string_equal(buf, "k = short\n");

    //  A long text folds between words, and reads back the same.
    char text[700] = "";
    while (strlen(text) < 600)
        strcat(text, "Ủy ban nhân dân tỉnh ");
    strcat(text, "#tag [x] end");
    pos = 0;
    assert_int_equal(proto_ini_put(buf, sizeof buf, &pos, "text", text, " "), PROTO_OK);
    assert_int_equal(pos, strlen(buf));
    for (const char *line = buf; *line; line += strcspn(line, "\n") + 1) {
        assert_true(strcspn(line, "\n") <= 190);
        if (strncmp(line, "    ", 4) == 0)
            assert_true(line[4] != '#' && line[4] != '[' && line[4] != ' ');
    }
    char doc[2100];
    snprintf(doc, sizeof doc, "[s]\n%s", buf);
    s_collect_t c;
    char err[128];
    assert_int_equal(s_parse(doc, &c, err, sizeof err), PROTO_OK);
    char want[2100];
    snprintf(want, sizeof want, "[s@1]text=%s@2;", text);
    assert_string_equal(c.seen, want);

    //  Hex folds anywhere.
    char hex[301];
    memset(hex, 'a', 300);
    hex[300] = '\0';
    pos = 0;
    assert_int_equal(proto_ini_put(buf, sizeof buf, &pos, "hex", hex, ""), PROTO_OK);
    snprintf(doc, sizeof doc, "[s]\n%s", buf);
    assert_int_equal(s_parse(doc, &c, err, sizeof err), PROTO_OK);
    snprintf(want, sizeof want, "[s@1]hex=%s@2;", hex);
    assert_string_equal(c.seen, want);

    //  A word too long to fold, a full buffer, line breaks.
    char word[400];
    memset(word, 'w', sizeof word - 1);
    word[sizeof word - 1] = '\0';
    pos = 0;
    buf[0] = '\0';
    assert_int_equal(proto_ini_put(buf, sizeof buf, &pos, "text", word, " "), PROTO_ERR_LIMIT);
    assert_int_equal(pos, 0);
    assert_int_equal(proto_ini_put(buf, 8, &pos, "k", "value", ""), PROTO_ERR_LIMIT);
    assert_int_equal(proto_ini_put(buf, sizeof buf, &pos, "k", "a\nb", ""), PROTO_ERR_VALUE);
    assert_int_equal(proto_ini_put(buf, sizeof buf, &pos, NULL, "a", ""), PROTO_ERR_INVALID_ARG);
}

static void test_file_helpers(void **state)
{
    (void) state;
    char err[256] = "";
    char path[512];
    snprintf(path, sizeof path, "%s", s_path("atomic"));
    assert_int_equal(proto_file_write_atomic(path, "one\n", 4, 0644, false, err, sizeof err),
                     PROTO_OK);
    assert_int_equal(proto_file_write_atomic(path, "two\n", 4, 0644, false, err, sizeof err),
                     PROTO_ERR_EXISTS);
    assert_string_equal(s_read("atomic"), "one\n");
    assert_int_equal(proto_file_write_atomic(path, "two\n", 4, 0644, true, err, sizeof err),
                     PROTO_OK);
    assert_string_equal(s_read("atomic"), "two\n");
    assert_int_equal(
        proto_file_write_atomic(s_path("no/such"), "x", 1, 0644, true, err, sizeof err),
        PROTO_ERR_NOT_FOUND);
    assert_int_equal(proto_file_write_atomic(s_path(""), "x", 1, 0644, true, err, sizeof err),
                     PROTO_ERR_INVALID_ARG);

    char *data = NULL;
    size_t len = 0;
    assert_int_equal(proto_file_read(path, 100, false, &data, &len, err, sizeof err), PROTO_OK);
    assert_int_equal(len, 4);
    assert_string_equal(data, "two\n");
    proto_file_free(&data, len, false);
    assert_null(data);
    assert_int_equal(proto_file_read(path, 3, false, &data, &len, err, sizeof err),
                     PROTO_ERR_TOO_LARGE);
    assert_int_equal(proto_file_read(path, 100, true, &data, &len, err, sizeof err),
                     PROTO_ERR_PERMISSIONS);
    assert_int_equal(proto_file_read(s_tmp, 100, false, &data, &len, err, sizeof err),
                     PROTO_ERR_IO);
    assert_contains(err, "not a regular file");
    assert_null(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_generate_bad_names),
        cmocka_unit_test(test_sign_verify),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_public_init),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_z85),
        cmocka_unit_test(test_secret_plain_roundtrip),
        cmocka_unit_test(test_secret_encrypted_roundtrip),
        cmocka_unit_test(test_secret_permissions),
        cmocka_unit_test(test_secret_corrupt),
        cmocka_unit_test(test_secret_corrupt_encrypted),
        cmocka_unit_test(test_key_file_kind),
        cmocka_unit_test(test_public_roundtrip),
        cmocka_unit_test(test_public_corrupt),
        cmocka_unit_test(test_public_small_order_key),
        cmocka_unit_test(test_passphrase),
        cmocka_unit_test(test_identity_open),
        cmocka_unit_test(test_file_read_trusted),
        cmocka_unit_test(test_ini_parse),
        cmocka_unit_test(test_ini_put),
        cmocka_unit_test(test_file_helpers),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
