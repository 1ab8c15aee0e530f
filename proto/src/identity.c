/*  identity.c - identities, key files and passphrases.

    Owns the secret keys of an identity: they live in one sodium_malloc
    block (seed, Ed25519 secret key, Curve25519 secret key) that is made
    read-only once filled and wiped on destroy. Nothing else in truc ever
    holds them outside such memory, except inih's line buffer on the stack
    while a plain (unencrypted) key file is parsed.

    Does not log, does not know the wire protocol, does not decide whom to
    trust (that is directory.c and the broker). Reading and writing the key
    files goes through fileio.c, their syntax through ini.c.
*/
#include "proto/identity.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto/fileio.h"
#include "proto/ini.h"

#include "detail.h"
#include "fileio_internal.h"

//  Layout of the secret block of an identity.
#define S_SEED_OFF     0
#define S_SIGN_SK_OFF  32
#define S_CURVE_SK_OFF 96
#define S_SECRET_LEN   128

#define S_BOX_MAX      (PROTO_IDENTITY_SEED_LEN + PROTO_LABEL_MAX + crypto_secretbox_MACBYTES)
#define S_KEY_TEXT_MAX 4096 // a key file we write is far below this

//  Argon2id limits refused on load: a planted key file must not make the
//  loader work or allocate without bound.
#define S_OPSLIMIT_MAX (crypto_pwhash_argon2id_OPSLIMIT_SENSITIVE * 4)
#define S_MEMLIMIT_MAX ((unsigned long long) crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE)

struct proto_identity {
    proto_public_t pub; // role, name, public keys
    uint8_t *secret;    // S_SECRET_LEN bytes of sodium_malloc memory, read-only once filled
};

//  ---------------------------------------------------------------------
//  Small helpers

static proto_err_t s_sodium_ready(void)
{
    //  sodium_init is idempotent and cheap after the first call; the
    //  programs call it at startup too, this only guards library users.
    return sodium_init() < 0 ? PROTO_ERR_CRYPTO : PROTO_OK;
}

//  Parse a decimal number without sign, spaces or leading zeros.
static bool s_parse_uint(const char *text, unsigned long long max, unsigned long long *out)
{
    size_t n = strlen(text);
    if (n == 0 || n > 20 || (n > 1 && text[0] == '0'))
        return false;
    unsigned long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        unsigned digit = (unsigned) (text[i] - '0');
        if (v > (max - digit) / 10)
            return false;
        v = v * 10 + digit;
    }
    *out = v;
    return true;
}

//  ---------------------------------------------------------------------
//  Encodings

void proto_hex_encode(const uint8_t *bin, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bin[i] >> 4];
        out[2 * i + 1] = digits[bin[i] & 15];
    }
    out[2 * len] = '\0';
}

proto_err_t proto_hex_decode(const char *hex, uint8_t *out, size_t len)
{
    if (!hex || !out || strlen(hex) != 2 * len)
        return PROTO_ERR_VALUE;
    size_t bin_len = 0;
    const char *end = NULL;
    //  sodium_hex2bin runs in constant time for a given length, which matters
    //  because seeds pass through here.
    if (sodium_hex2bin(out, len, hex, 2 * len, NULL, &bin_len, &end) != 0 || bin_len != len ||
        end != hex + 2 * len)
        return PROTO_ERR_VALUE;
    return PROTO_OK;
}

proto_err_t proto_z85_encode(const uint8_t *data, size_t len, char *out, size_t outlen)
{
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   ".-:+=^!/*?&<>()[]{}@%$#";
    if (!data || !out || len % 4 != 0 || outlen < len / 4 * 5 + 1)
        return PROTO_ERR_INVALID_ARG;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = (uint32_t) data[i] << 24 | (uint32_t) data[i + 1] << 16 |
                     (uint32_t) data[i + 2] << 8 | data[i + 3];
        for (int k = 4; k >= 0; k--) {
            out[o + (size_t) k] = alphabet[v % 85];
            v /= 85;
        }
        o += 5;
    }
    out[o] = '\0';
    return PROTO_OK;
}

void proto_fingerprint(const uint8_t sign_pk[PROTO_IDENTITY_KEY_LEN],
                       char out[PROTO_FINGERPRINT_LEN + 1])
{
    uint8_t hash[32];
    crypto_generichash(hash, sizeof hash, sign_pk, PROTO_IDENTITY_KEY_LEN, NULL, 0);
    char hex[33];
    proto_hex_encode(hash, 16, hex);
    size_t o = 0;
    for (size_t group = 0; group < 8; group++) {
        if (group > 0)
            out[o++] = ':';
        memcpy(out + o, hex + 4 * group, 4);
        o += 4;
    }
    out[o] = '\0';
}

//  ---------------------------------------------------------------------
//  Identities

const char *proto_role_name(proto_role_t role)
{
    switch (role) {
    case PROTO_ROLE_AGENCY:
        return "agency";
    case PROTO_ROLE_BROKER:
        return "broker";
    }
    return "?";
}

static bool s_role_parse(const char *text, proto_role_t *role)
{
    if (strcmp(text, "agency") == 0)
        *role = PROTO_ROLE_AGENCY;
    else if (strcmp(text, "broker") == 0)
        *role = PROTO_ROLE_BROKER;
    else
        return false;
    return true;
}

proto_err_t proto_role_name_check(proto_role_t role, const char *name)
{
    if (!name)
        return PROTO_ERR_INVALID_ARG;
    if (role == PROTO_ROLE_AGENCY)
        return proto_agency_code_check(name, strlen(name));
    if (role == PROTO_ROLE_BROKER)
        return proto_label_check(name, strlen(name));
    return PROTO_ERR_INVALID_ARG;
}

proto_err_t proto_public_init(proto_public_t *out, proto_role_t role, const char *name,
                              const uint8_t sign_pk[PROTO_IDENTITY_KEY_LEN])
{
    if (!out || !sign_pk)
        return PROTO_ERR_INVALID_ARG;
    proto_err_t rc = proto_role_name_check(role, name);
    if (rc != PROTO_OK)
        return rc;
    if (s_sodium_ready() != PROTO_OK)
        return PROTO_ERR_CRYPTO;
    proto_public_t pub;
    memset(&pub, 0, sizeof pub);
    pub.role = role;
    memcpy(pub.name, name, strlen(name) + 1);
    memcpy(pub.sign_pk, sign_pk, PROTO_IDENTITY_KEY_LEN);
    //  The conversion refuses points of small order and points off the
    //  main subgroup, which are no one's real key.
    if (crypto_sign_ed25519_pk_to_curve25519(pub.curve_pk, pub.sign_pk) != 0)
        return PROTO_ERR_VALUE;
    *out = pub;
    return PROTO_OK;
}

//  Make an identity whose secret block is allocated and writable; the
//  caller puts the seed in and calls s_identity_derive.
static proto_err_t s_identity_new(proto_role_t role, const char *name, proto_identity_t **out)
{
    proto_err_t rc = proto_role_name_check(role, name);
    if (rc != PROTO_OK)
        return rc;
    if (s_sodium_ready() != PROTO_OK)
        return PROTO_ERR_CRYPTO;
    proto_identity_t *self = calloc(1, sizeof *self);
    if (!self)
        return PROTO_ERR_NOMEM;
    self->secret = sodium_malloc(S_SECRET_LEN);
    if (!self->secret) {
        free(self);
        return PROTO_ERR_NOMEM;
    }
    sodium_memzero(self->secret, S_SECRET_LEN);
    self->pub.role = role;
    memcpy(self->pub.name, name, strlen(name) + 1);
    *out = self;
    return PROTO_OK;
}

static proto_err_t s_identity_derive(proto_identity_t *self)
{
    uint8_t *seed = self->secret + S_SEED_OFF;
    uint8_t *sign_sk = self->secret + S_SIGN_SK_OFF;
    if (crypto_sign_seed_keypair(self->pub.sign_pk, sign_sk, seed) != 0 ||
        crypto_sign_ed25519_pk_to_curve25519(self->pub.curve_pk, self->pub.sign_pk) != 0 ||
        crypto_sign_ed25519_sk_to_curve25519(self->secret + S_CURVE_SK_OFF, sign_sk) != 0)
        return PROTO_ERR_CRYPTO;
    sodium_mprotect_readonly(self->secret);
    return PROTO_OK;
}

proto_identity_t *proto_identity_generate(proto_role_t role, const char *name)
{
    proto_identity_t *self = NULL;
    if (s_identity_new(role, name, &self) != PROTO_OK)
        return NULL;
    randombytes_buf(self->secret + S_SEED_OFF, PROTO_IDENTITY_SEED_LEN);
    if (s_identity_derive(self) != PROTO_OK)
        proto_identity_destroy(&self);
    return self;
}

void proto_identity_destroy(proto_identity_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    proto_identity_t *self = *self_p;
    if (self->secret) {
        sodium_mprotect_readwrite(self->secret);
        sodium_memzero(self->secret, S_SECRET_LEN);
        sodium_free(self->secret);
    }
    sodium_memzero(self, sizeof *self);
    free(self);
    *self_p = NULL;
}

const proto_public_t *proto_identity_public(const proto_identity_t *self)
{
    return self ? &self->pub : NULL;
}

const uint8_t *proto_identity_curve_sk(const proto_identity_t *self)
{
    return self ? self->secret + S_CURVE_SK_OFF : NULL;
}

proto_err_t proto_identity_sign(const proto_identity_t *self, const void *msg, size_t len,
                                uint8_t sig[PROTO_IDENTITY_SIG_LEN])
{
    static const uint8_t empty[1] = { 0 };
    if (!self || !sig || (!msg && len > 0))
        return PROTO_ERR_INVALID_ARG;
    if (crypto_sign_detached(sig, NULL, msg ? msg : empty, len, self->secret + S_SIGN_SK_OFF) != 0)
        return PROTO_ERR_CRYPTO;
    return PROTO_OK;
}

proto_err_t proto_sig_verify(const uint8_t pk[PROTO_IDENTITY_KEY_LEN], const void *msg, size_t len,
                             const uint8_t sig[PROTO_IDENTITY_SIG_LEN])
{
    static const uint8_t empty[1] = { 0 };
    if (!pk || !sig || (!msg && len > 0))
        return PROTO_ERR_INVALID_ARG;
    if (crypto_sign_verify_detached(sig, msg ? msg : empty, len, pk) != 0)
        return PROTO_ERR_BAD_SIGNATURE;
    return PROTO_OK;
}

//  ---------------------------------------------------------------------
//  Key files: shared checks

//  Every key in section must be one of allowed (NULL-terminated).
static proto_err_t s_keys_allowed(const proto_ini_section_t *section, const char *const *allowed,
                                  proto_err_t fail, char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < section->count; i++) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, section->pairs[i].key) == 0;
        if (!ok) {
            proto_detailf(errbuf, errlen, "line %u: unknown key '%s' in [%s]",
                          section->pairs[i].line, section->pairs[i].key, section->name);
            return fail;
        }
    }
    return PROTO_OK;
}

static const proto_ini_pair_t *s_need(const proto_ini_section_t *section, const char *key,
                                      char *errbuf, size_t errlen)
{
    const proto_ini_pair_t *pair = proto_ini_find(section, key);
    if (!pair)
        proto_detailf(errbuf, errlen, "line %u: [%s] has no '%s'", section->line, section->name,
                      key);
    return pair;
}

static proto_err_t s_need_hex(const proto_ini_section_t *section, const char *key, uint8_t *out,
                              size_t len, char *errbuf, size_t errlen)
{
    const proto_ini_pair_t *pair = s_need(section, key, errbuf, errlen);
    if (!pair)
        return PROTO_ERR_KEY_FILE;
    if (proto_hex_decode(pair->value, out, len) != PROTO_OK) {
        proto_detailf(errbuf, errlen, "line %u: %s must be %zu hex digits", pair->line, key,
                      2 * len);
        return PROTO_ERR_KEY_FILE;
    }
    return PROTO_OK;
}

//  format, role and name, common to both key files.
static proto_err_t s_need_header(const proto_ini_section_t *section, proto_role_t *role,
                                 char name[PROTO_LABEL_MAX + 1], char *errbuf, size_t errlen)
{
    const proto_ini_pair_t *format = s_need(section, "format", errbuf, errlen);
    if (!format)
        return PROTO_ERR_KEY_FILE;
    if (strcmp(format->value, "1") != 0) {
        proto_detailf(errbuf, errlen, "line %u: unknown format '%s' (this version reads format 1)",
                      format->line, format->value);
        return PROTO_ERR_KEY_FILE;
    }
    const proto_ini_pair_t *role_pair = s_need(section, "role", errbuf, errlen);
    if (!role_pair)
        return PROTO_ERR_KEY_FILE;
    if (!s_role_parse(role_pair->value, role)) {
        proto_detailf(errbuf, errlen, "line %u: unknown role '%s' (agency or broker)",
                      role_pair->line, role_pair->value);
        return PROTO_ERR_KEY_FILE;
    }
    const proto_ini_pair_t *name_pair = s_need(section, "name", errbuf, errlen);
    if (!name_pair)
        return PROTO_ERR_KEY_FILE;
    if (proto_role_name_check(*role, name_pair->value) != PROTO_OK) {
        proto_detailf(errbuf, errlen, "line %u: '%s' is not a valid %s", name_pair->line,
                      name_pair->value,
                      *role == PROTO_ROLE_AGENCY ? "agency code" : "broker label");
        return PROTO_ERR_KEY_FILE;
    }
    memcpy(name, name_pair->value, strlen(name_pair->value) + 1);
    return PROTO_OK;
}

static proto_err_t s_key_file_read(const char *path, bool secret, char **text, size_t *len,
                                   char *errbuf, size_t errlen)
{
    proto_err_t rc =
        proto_file_read_mode(path, PROTO_KEY_FILE_MAX, true, secret ? PROTO_FILE_REFUSE_SECRET : 0,
                             text, len, errbuf, errlen);
    return rc == PROTO_ERR_TOO_LARGE ? PROTO_ERR_KEY_FILE : rc;
}

proto_err_t proto_key_file_kind(const char *path, proto_key_file_kind_t *kind, char *errbuf,
                                size_t errlen)
{
    if (!path || !kind)
        return PROTO_ERR_INVALID_ARG;
    char *text = NULL;
    size_t len = 0;
    proto_err_t rc = s_key_file_read(path, false, &text, &len, errbuf, errlen);
    if (rc != PROTO_OK)
        return rc;
    rc = PROTO_ERR_KEY_FILE;
    proto_detailf(errbuf, errlen, "neither a [secret] key file nor a [public] identity file");
    const char *p = text;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (*p) {
        size_t n = strcspn(p, "\n");
        size_t lead = strspn(p, " \t");
        if (lead < n && p[lead] != '#' && p[lead] != ';' && p[lead] != '\r') {
            size_t end = n;
            while (end > 0 && strchr(" \t\r", p[end - 1]))
                end--;
            if (end == 8 && memcmp(p, "[secret]", 8) == 0) {
                *kind = PROTO_KEY_FILE_SECRET;
                rc = PROTO_OK;
            } else if (end == 8 && memcmp(p, "[public]", 8) == 0) {
                *kind = PROTO_KEY_FILE_PUBLIC;
                rc = PROTO_OK;
            }
            break; // only the first meaningful line counts
        }
        p += n + (p[n] == '\n');
    }
    proto_file_free(&text, len, true);
    return rc;
}

//  ---------------------------------------------------------------------
//  Secret key files

typedef struct {
    bool seen; // the [secret] section was read
    proto_role_t role;
    char name[PROTO_LABEL_MAX + 1];
    bool encrypted;
    uint8_t *seed; // sodium memory, when not encrypted
    unsigned long long opslimit;
    unsigned long long memlimit;
    uint8_t salt[crypto_pwhash_SALTBYTES];
    uint8_t nonce[crypto_secretbox_NONCEBYTES];
    uint8_t box[S_BOX_MAX];
    size_t box_len;
    unsigned box_line;
} s_secret_t;

static proto_err_t s_secret_section(void *arg, const proto_ini_section_t *section, char *errbuf,
                                    size_t errlen)
{
    static const char *const allowed[] = { "format", "role",     "name",     "encryption",
                                           "seed",   "opslimit", "memlimit", "salt",
                                           "nonce",  "box",      NULL };
    s_secret_t *self = arg;
    if (strcmp(section->name, "secret") != 0) {
        proto_detailf(errbuf, errlen, "line %u: unknown section [%s]", section->line,
                      section->name);
        return PROTO_ERR_KEY_FILE;
    }
    if (self->seen) {
        proto_detailf(errbuf, errlen, "line %u: second [secret] section", section->line);
        return PROTO_ERR_KEY_FILE;
    }
    self->seen = true;
    proto_err_t rc = s_keys_allowed(section, allowed, PROTO_ERR_KEY_FILE, errbuf, errlen);
    if (rc == PROTO_OK)
        rc = s_need_header(section, &self->role, self->name, errbuf, errlen);
    if (rc != PROTO_OK)
        return rc;
    const proto_ini_pair_t *enc = s_need(section, "encryption", errbuf, errlen);
    if (!enc)
        return PROTO_ERR_KEY_FILE;
    //  Keys of the other encryption are as wrong as unknown ones.
    static const char *const plain_only[] = { "seed", NULL };
    static const char *const box_only[] = { "opslimit", "memlimit", "salt", "nonce", "box", NULL };
    const char *const *forbidden = NULL;
    if (strcmp(enc->value, "none") == 0) {
        forbidden = box_only;
        self->encrypted = false;
    } else if (strcmp(enc->value, "argon2id") == 0) {
        forbidden = plain_only;
        self->encrypted = true;
    } else {
        proto_detailf(errbuf, errlen, "line %u: unknown encryption '%s' (none or argon2id)",
                      enc->line, enc->value);
        return PROTO_ERR_KEY_FILE;
    }
    for (const char *const *f = forbidden; *f; f++) {
        const proto_ini_pair_t *pair = proto_ini_find(section, *f);
        if (pair) {
            proto_detailf(errbuf, errlen, "line %u: '%s' does not belong with encryption = %s",
                          pair->line, *f, enc->value);
            return PROTO_ERR_KEY_FILE;
        }
    }
    if (!self->encrypted)
        return s_need_hex(section, "seed", self->seed, PROTO_IDENTITY_SEED_LEN, errbuf, errlen);

    const proto_ini_pair_t *ops = s_need(section, "opslimit", errbuf, errlen);
    if (!ops)
        return PROTO_ERR_KEY_FILE;
    if (!s_parse_uint(ops->value, S_OPSLIMIT_MAX, &self->opslimit) ||
        self->opslimit < crypto_pwhash_argon2id_OPSLIMIT_MIN) {
        proto_detailf(errbuf, errlen, "line %u: opslimit must be a number from %u to %u", ops->line,
                      (unsigned) crypto_pwhash_argon2id_OPSLIMIT_MIN, (unsigned) S_OPSLIMIT_MAX);
        return PROTO_ERR_KEY_FILE;
    }
    const proto_ini_pair_t *mem = s_need(section, "memlimit", errbuf, errlen);
    if (!mem)
        return PROTO_ERR_KEY_FILE;
    if (!s_parse_uint(mem->value, S_MEMLIMIT_MAX, &self->memlimit) ||
        self->memlimit < crypto_pwhash_argon2id_MEMLIMIT_MIN) {
        proto_detailf(errbuf, errlen, "line %u: memlimit must be a number from %u to %llu",
                      mem->line, (unsigned) crypto_pwhash_argon2id_MEMLIMIT_MIN, S_MEMLIMIT_MAX);
        return PROTO_ERR_KEY_FILE;
    }
    rc = s_need_hex(section, "salt", self->salt, sizeof self->salt, errbuf, errlen);
    if (rc == PROTO_OK)
        rc = s_need_hex(section, "nonce", self->nonce, sizeof self->nonce, errbuf, errlen);
    if (rc != PROTO_OK)
        return rc;
    const proto_ini_pair_t *box = s_need(section, "box", errbuf, errlen);
    if (!box)
        return PROTO_ERR_KEY_FILE;
    //  The box holds the seed and the name, so its size is known exactly.
    size_t want = PROTO_IDENTITY_SEED_LEN + strlen(self->name) + crypto_secretbox_MACBYTES;
    if (proto_hex_decode(box->value, self->box, want) != PROTO_OK) {
        proto_detailf(errbuf, errlen, "line %u: box must be %zu hex digits for this name",
                      box->line, 2 * want);
        return PROTO_ERR_KEY_FILE;
    }
    self->box_len = want;
    self->box_line = box->line;
    return PROTO_OK;
}

typedef struct {
    uint8_t key[crypto_secretbox_KEYBYTES];
    uint8_t plain[PROTO_IDENTITY_SEED_LEN + PROTO_LABEL_MAX];
} s_scratch_t; // lives in sodium memory

proto_err_t proto_identity_load(const char *path, const char *passphrase, proto_identity_t **out,
                                char *errbuf, size_t errlen)
{
    static const proto_ini_fold_t folds[] = { { "box", "" }, { NULL, NULL } };
    if (!path || !out)
        return PROTO_ERR_INVALID_ARG;
    if (s_sodium_ready() != PROTO_OK)
        return PROTO_ERR_CRYPTO;
    char *text = NULL;
    size_t len = 0;
    proto_err_t rc = s_key_file_read(path, true, &text, &len, errbuf, errlen);
    if (rc != PROTO_OK)
        return rc;
    s_secret_t file;
    memset(&file, 0, sizeof file);
    s_scratch_t *scratch = sodium_malloc(sizeof *scratch);
    file.seed = sodium_malloc(PROTO_IDENTITY_SEED_LEN);
    proto_identity_t *self = NULL;
    if (!scratch || !file.seed) {
        rc = PROTO_ERR_NOMEM;
        goto done;
    }
    rc = proto_ini_parse(text, len, folds, s_secret_section, &file, PROTO_ERR_KEY_FILE, errbuf,
                         errlen);
    if (rc == PROTO_OK && !file.seen) {
        proto_detailf(errbuf, errlen, "no [secret] section");
        rc = PROTO_ERR_KEY_FILE;
    }
    if (rc != PROTO_OK)
        goto done;
    if (file.encrypted) {
        if (!passphrase || !*passphrase) {
            proto_detailf(errbuf, errlen, "the key is encrypted and no passphrase was given");
            rc = PROTO_ERR_PASSPHRASE;
            goto done;
        }
        if (crypto_pwhash(scratch->key, sizeof scratch->key, passphrase, strlen(passphrase),
                          file.salt, file.opslimit, (size_t) file.memlimit,
                          crypto_pwhash_ALG_ARGON2ID13) != 0) {
            proto_detailf(errbuf, errlen,
                          "not enough memory for the key derivation (memlimit %llu)",
                          file.memlimit);
            rc = PROTO_ERR_NOMEM;
            goto done;
        }
        if (crypto_secretbox_open_easy(scratch->plain, file.box, file.box_len, file.nonce,
                                       scratch->key) != 0) {
            proto_detailf(errbuf, errlen, "wrong passphrase (or the encrypted key was altered)");
            rc = PROTO_ERR_PASSPHRASE;
            goto done;
        }
        size_t name_len = strlen(file.name);
        if (memcmp(scratch->plain + PROTO_IDENTITY_SEED_LEN, file.name, name_len) != 0) {
            proto_detailf(errbuf, errlen, "line %u: the encrypted key belongs to another name",
                          file.box_line);
            rc = PROTO_ERR_KEY_FILE;
            goto done;
        }
        memcpy(file.seed, scratch->plain, PROTO_IDENTITY_SEED_LEN);
    }
    rc = s_identity_new(file.role, file.name, &self);
    if (rc != PROTO_OK)
        goto done;
    memcpy(self->secret + S_SEED_OFF, file.seed, PROTO_IDENTITY_SEED_LEN);
    rc = s_identity_derive(self);
done:
    if (rc != PROTO_OK)
        proto_identity_destroy(&self);
    *out = self;
    sodium_free(scratch);
    sodium_free(file.seed);
    sodium_memzero(&file, sizeof file);
    proto_file_free(&text, len, true);
    return rc;
}

static void s_kdf_limits(proto_kdf_strength_t strength, unsigned long long *ops, size_t *mem)
{
    switch (strength) {
    case PROTO_KDF_MODERATE:
        *ops = crypto_pwhash_argon2id_OPSLIMIT_MODERATE;
        *mem = crypto_pwhash_argon2id_MEMLIMIT_MODERATE;
        return;
    case PROTO_KDF_SENSITIVE:
        *ops = crypto_pwhash_argon2id_OPSLIMIT_SENSITIVE;
        *mem = crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE;
        return;
    case PROTO_KDF_MIN:
        *ops = crypto_pwhash_argon2id_OPSLIMIT_MIN;
        *mem = crypto_pwhash_argon2id_MEMLIMIT_MIN;
        return;
    case PROTO_KDF_INTERACTIVE:
        break;
    }
    *ops = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
    *mem = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;
}

//  The [secret] text: seed in clear, or the argon2id box. buf is sodium memory.
static proto_err_t s_secret_text(const proto_identity_t *self, const char *passphrase,
                                 proto_kdf_strength_t strength, char *buf, size_t cap, size_t *pos,
                                 s_scratch_t *scratch)
{
    int w = snprintf(buf, cap,
                     "# truc secret key - keep private (mode 0600); never share or copy it off "
                     "this host\n[secret]\nformat = 1\nrole = %s\n",
                     proto_role_name(self->pub.role));
    if (w < 0 || (size_t) w >= cap)
        return PROTO_ERR_INTERNAL;
    *pos = (size_t) w;
    proto_err_t rc = proto_ini_put(buf, cap, pos, "name", self->pub.name, "");
    if (rc != PROTO_OK)
        return rc;
    //  Hex of the seed or of the box: at most 2 * S_BOX_MAX digits.
    char hex[2 * S_BOX_MAX + 1];
    if (!passphrase || !*passphrase) {
        rc = proto_ini_put(buf, cap, pos, "encryption", "none", "");
        proto_hex_encode(self->secret + S_SEED_OFF, PROTO_IDENTITY_SEED_LEN, hex);
        if (rc == PROTO_OK)
            rc = proto_ini_put(buf, cap, pos, "seed", hex, "");
        sodium_memzero(hex, sizeof hex);
        return rc;
    }
    unsigned long long ops = 0;
    size_t mem = 0;
    s_kdf_limits(strength, &ops, &mem);
    uint8_t salt[crypto_pwhash_SALTBYTES], nonce[crypto_secretbox_NONCEBYTES];
    uint8_t box[S_BOX_MAX];
    randombytes_buf(salt, sizeof salt);
    randombytes_buf(nonce, sizeof nonce);
    if (crypto_pwhash(scratch->key, sizeof scratch->key, passphrase, strlen(passphrase), salt, ops,
                      mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return PROTO_ERR_NOMEM;
    size_t name_len = strlen(self->pub.name);
    memcpy(scratch->plain, self->secret + S_SEED_OFF, PROTO_IDENTITY_SEED_LEN);
    memcpy(scratch->plain + PROTO_IDENTITY_SEED_LEN, self->pub.name, name_len);
    size_t plain_len = PROTO_IDENTITY_SEED_LEN + name_len;
    if (crypto_secretbox_easy(box, scratch->plain, plain_len, nonce, scratch->key) != 0)
        return PROTO_ERR_CRYPTO;
    w = snprintf(buf + *pos, cap - *pos, "encryption = argon2id\nopslimit = %llu\nmemlimit = %zu\n",
                 ops, mem);
    if (w < 0 || (size_t) w >= cap - *pos)
        return PROTO_ERR_INTERNAL;
    *pos += (size_t) w;
    proto_hex_encode(salt, sizeof salt, hex);
    rc = proto_ini_put(buf, cap, pos, "salt", hex, "");
    proto_hex_encode(nonce, sizeof nonce, hex);
    if (rc == PROTO_OK)
        rc = proto_ini_put(buf, cap, pos, "nonce", hex, "");
    proto_hex_encode(box, plain_len + crypto_secretbox_MACBYTES, hex);
    if (rc == PROTO_OK)
        rc = proto_ini_put(buf, cap, pos, "box", hex, "");
    return rc;
}

proto_err_t proto_identity_save(const proto_identity_t *self, const char *path,
                                const char *passphrase, proto_kdf_strength_t strength,
                                bool overwrite)
{
    if (!self || !path || strength < PROTO_KDF_INTERACTIVE || strength > PROTO_KDF_MIN)
        return PROTO_ERR_INVALID_ARG;
    if (s_sodium_ready() != PROTO_OK)
        return PROTO_ERR_CRYPTO;
    char *buf = sodium_malloc(S_KEY_TEXT_MAX);
    s_scratch_t *scratch = sodium_malloc(sizeof *scratch);
    proto_err_t rc = PROTO_ERR_NOMEM;
    if (buf && scratch) {
        size_t len = 0;
        rc = s_secret_text(self, passphrase, strength, buf, S_KEY_TEXT_MAX, &len, scratch);
        if (rc == PROTO_OK)
            rc = proto_file_write_atomic(path, buf, len, 0600, overwrite, NULL, 0);
    }
    sodium_free(scratch);
    sodium_free(buf);
    return rc;
}

//  ---------------------------------------------------------------------
//  Public identity files

typedef struct {
    bool seen;
    proto_public_t pub;
} s_public_t;

static proto_err_t s_public_section(void *arg, const proto_ini_section_t *section, char *errbuf,
                                    size_t errlen)
{
    static const char *const allowed[] = { "format",    "role",        "name", "sign_key",
                                           "curve_key", "fingerprint", NULL };
    s_public_t *self = arg;
    if (strcmp(section->name, "public") != 0) {
        proto_detailf(errbuf, errlen, "line %u: unknown section [%s]", section->line,
                      section->name);
        return PROTO_ERR_KEY_FILE;
    }
    if (self->seen) {
        proto_detailf(errbuf, errlen, "line %u: second [public] section", section->line);
        return PROTO_ERR_KEY_FILE;
    }
    self->seen = true;
    proto_role_t role = PROTO_ROLE_AGENCY;
    char name[PROTO_LABEL_MAX + 1];
    uint8_t sign_pk[PROTO_IDENTITY_KEY_LEN], curve_pk[PROTO_IDENTITY_KEY_LEN];
    proto_err_t rc = s_keys_allowed(section, allowed, PROTO_ERR_KEY_FILE, errbuf, errlen);
    if (rc == PROTO_OK)
        rc = s_need_header(section, &role, name, errbuf, errlen);
    if (rc == PROTO_OK)
        rc = s_need_hex(section, "sign_key", sign_pk, sizeof sign_pk, errbuf, errlen);
    if (rc == PROTO_OK)
        rc = s_need_hex(section, "curve_key", curve_pk, sizeof curve_pk, errbuf, errlen);
    if (rc != PROTO_OK)
        return rc;
    const proto_ini_pair_t *fp = s_need(section, "fingerprint", errbuf, errlen);
    if (!fp)
        return PROTO_ERR_KEY_FILE;
    if (proto_public_init(&self->pub, role, name, sign_pk) != PROTO_OK) {
        proto_detailf(errbuf, errlen, "line %u: sign_key is not a usable Ed25519 public key",
                      proto_ini_find(section, "sign_key")->line);
        return PROTO_ERR_KEY_FILE;
    }
    if (memcmp(curve_pk, self->pub.curve_pk, sizeof curve_pk) != 0) {
        proto_detailf(errbuf, errlen, "line %u: curve_key is not the key derived from sign_key",
                      proto_ini_find(section, "curve_key")->line);
        return PROTO_ERR_KEY_FILE;
    }
    char expect[PROTO_FINGERPRINT_LEN + 1];
    proto_fingerprint(sign_pk, expect);
    if (strcmp(fp->value, expect) != 0) {
        proto_detailf(errbuf, errlen, "line %u: fingerprint does not match sign_key", fp->line);
        return PROTO_ERR_KEY_FILE;
    }
    return PROTO_OK;
}

proto_err_t proto_public_load(const char *path, proto_public_t *out, char *errbuf, size_t errlen)
{
    if (!path || !out)
        return PROTO_ERR_INVALID_ARG;
    char *text = NULL;
    size_t len = 0;
    proto_err_t rc = s_key_file_read(path, false, &text, &len, errbuf, errlen);
    if (rc != PROTO_OK)
        return rc;
    s_public_t file;
    memset(&file, 0, sizeof file);
    rc = proto_ini_parse(text, len, NULL, s_public_section, &file, PROTO_ERR_KEY_FILE, errbuf,
                         errlen);
    if (rc == PROTO_OK && !file.seen) {
        proto_detailf(errbuf, errlen, "no [public] section");
        rc = PROTO_ERR_KEY_FILE;
    }
    if (rc == PROTO_OK)
        *out = file.pub;
    proto_file_free(&text, len, true);
    return rc;
}

proto_err_t proto_public_save(const proto_public_t *pub, const char *path, bool overwrite)
{
    if (!pub || !path)
        return PROTO_ERR_INVALID_ARG;
    //  Refuse to write what proto_public_load would refuse to read.
    proto_public_t check;
    if (memchr(pub->name, '\0', sizeof pub->name) == NULL ||
        proto_public_init(&check, pub->role, pub->name, pub->sign_pk) != PROTO_OK ||
        memcmp(check.curve_pk, pub->curve_pk, sizeof check.curve_pk) != 0)
        return PROTO_ERR_INVALID_ARG;
    char sign_hex[2 * PROTO_IDENTITY_KEY_LEN + 1], curve_hex[2 * PROTO_IDENTITY_KEY_LEN + 1];
    char fp[PROTO_FINGERPRINT_LEN + 1];
    proto_hex_encode(pub->sign_pk, sizeof pub->sign_pk, sign_hex);
    proto_hex_encode(pub->curve_pk, sizeof pub->curve_pk, curve_hex);
    proto_fingerprint(pub->sign_pk, fp);
    char buf[1024];
    int w = snprintf(buf, sizeof buf,
                     "# truc public identity of %s %s - safe to share\n"
                     "[public]\nformat = 1\nrole = %s\nname = %s\n"
                     "sign_key = %s\ncurve_key = %s\nfingerprint = %s\n",
                     proto_role_name(pub->role), pub->name, proto_role_name(pub->role), pub->name,
                     sign_hex, curve_hex, fp);
    if (w < 0 || (size_t) w >= sizeof buf)
        return PROTO_ERR_INTERNAL;
    return proto_file_write_atomic(path, buf, (size_t) w, 0644, overwrite, NULL, 0);
}

//  ---------------------------------------------------------------------
//  Passphrases

static proto_err_t s_passphrase_copy(const char *text, size_t n, char **out)
{
    if (n == 0)
        return PROTO_ERR_PASSPHRASE;
    if (n > PROTO_PASSPHRASE_MAX)
        return PROTO_ERR_LIMIT;
    char *copy = sodium_malloc(n + 1);
    if (!copy)
        return PROTO_ERR_NOMEM;
    memcpy(copy, text, n);
    copy[n] = '\0';
    *out = copy;
    return PROTO_OK;
}

//  proto_passphrase_read, with a message in errbuf that names the source
//  at fault and what to do about it.
static proto_err_t s_passphrase_read(const char *file, const char *env_var, char **out,
                                     char *errbuf, size_t errlen)
{
    if (!out)
        return PROTO_ERR_INVALID_ARG;
    *out = NULL;
    if (file) {
        char *text = NULL;
        size_t len = 0;
        char detail[160] = "";
        //  Room for the longest passphrase, its line ending and a little more
        //  (a trailing newline at the end of a file is normal).
        proto_err_t rc = proto_file_read(file, PROTO_PASSPHRASE_MAX + 64, true, &text, &len, detail,
                                         sizeof detail);
        if (rc == PROTO_ERR_TOO_LARGE)
            rc = PROTO_ERR_LIMIT;
        if (rc == PROTO_OK) {
            size_t n = strcspn(text, "\n");
            if (n > 0 && text[n - 1] == '\r')
                n--;
            rc = s_passphrase_copy(text, n, out);
            proto_file_free(&text, len, true);
            if (rc == PROTO_ERR_PASSPHRASE)
                snprintf(detail, sizeof detail, "its first line is empty");
        }
        if (rc == PROTO_ERR_PERMISSIONS)
            proto_detailf(errbuf, errlen, "passphrase file %s: %s (run: chmod 600 %s)", file,
                          detail, file);
        else if (rc == PROTO_ERR_LIMIT)
            proto_detailf(errbuf, errlen, "passphrase file %s: longer than %d bytes", file,
                          PROTO_PASSPHRASE_MAX);
        else if (rc != PROTO_OK)
            proto_detailf(errbuf, errlen, "passphrase file %s: %s", file, detail);
        return rc;
    }
    const char *value = env_var ? getenv(env_var) : NULL;
    if (!value) {
        proto_detailf(errbuf, errlen, "no passphrase: give a passphrase file%s%s",
                      env_var ? " or set $" : "", env_var ? env_var : "");
        return PROTO_ERR_PASSPHRASE;
    }
    proto_err_t rc = s_passphrase_copy(value, strlen(value), out);
    if (rc == PROTO_ERR_PASSPHRASE)
        proto_detailf(errbuf, errlen, "$%s is empty", env_var);
    else if (rc == PROTO_ERR_LIMIT)
        proto_detailf(errbuf, errlen, "$%s is longer than %d bytes", env_var, PROTO_PASSPHRASE_MAX);
    return rc;
}

proto_err_t proto_passphrase_read(const char *file, const char *env_var, char **out)
{
    return s_passphrase_read(file, env_var, out, NULL, 0);
}

proto_err_t proto_identity_open(const char *path, const char *passphrase_file, const char *env_var,
                                proto_identity_t **out, char *errbuf, size_t errlen)
{
    if (!path || !out)
        return PROTO_ERR_INVALID_ARG;
    char detail[256] = "";
    char *passphrase = NULL;
    if (passphrase_file && !passphrase_file[0])
        passphrase_file = NULL;
    proto_err_t rc = proto_identity_load(path, NULL, out, detail, sizeof detail);
    if (rc == PROTO_ERR_PASSPHRASE) {
        //  Only an encrypted key reaches here, so the passphrase is the
        //  problem now, and the message must name its file, not the key's.
        rc = s_passphrase_read(passphrase_file, env_var, &passphrase, errbuf, errlen);
        if (rc == PROTO_ERR_PASSPHRASE && !passphrase_file && (!env_var || !getenv(env_var)))
            proto_detailf(errbuf, errlen,
                          "%s is encrypted and no passphrase was given: name a "
                          "passphrase file%s%s",
                          path, env_var ? " or set $" : "", env_var ? env_var : "");
        if (rc != PROTO_OK)
            return rc;
        rc = proto_identity_load(path, passphrase, out, detail, sizeof detail);
        proto_passphrase_free(&passphrase);
    }
    if (rc == PROTO_ERR_PERMISSIONS)
        proto_detailf(errbuf, errlen, "%s: %s (run: chmod 600 %s)", path, detail, path);
    else if (rc != PROTO_OK)
        proto_detailf(errbuf, errlen, "%s: %s", path, detail);
    return rc;
}

void proto_passphrase_free(char **p)
{
    if (!p || !*p)
        return;
    sodium_memzero(*p, strlen(*p));
    sodium_free(*p);
    *p = NULL;
}
