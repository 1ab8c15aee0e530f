/*  keys/cmd_sign.c - `truc-keys sign` and `truc-keys verify`: detached
    signatures of files.

    The signed message is the domain string "truc-file-sig-v1" with its NUL,
    followed by BLAKE2b-512 of the file. The file is streamed through the
    hash, so its size does not matter. The signature file is a small INI
    text (format in keys/README.md) read with the same strict parser as the
    key files.
*/
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/ini.h"

#define S_DOMAIN     "truc-file-sig-v1"
#define S_DOMAIN_LEN (sizeof S_DOMAIN)            // with the NUL
#define S_HASH_LEN   crypto_generichash_BYTES_MAX // 64: BLAKE2b-512
#define S_MSG_LEN    (S_DOMAIN_LEN + S_HASH_LEN)
#define S_ALGORITHM  "ed25519-blake2b512"

//  Build the signed message for the file at path. Returns an exit code.
static int s_message(const char *path, uint8_t msg[S_MSG_LEN])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            keys_error("%s does not exist: check the path", path);
        else
            keys_error("cannot open %s (%s): check the file", path, strerror(errno));
        return KEYS_EXIT_FAIL;
    }
    crypto_generichash_state state;
    crypto_generichash_init(&state, NULL, 0, S_HASH_LEN);
    static uint8_t buf[64 * 1024];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            keys_error("cannot read %s (%s): check the file", path, strerror(errno));
            close(fd);
            return KEYS_EXIT_FAIL;
        }
        if (n == 0)
            break;
        crypto_generichash_update(&state, buf, (size_t) n);
    }
    close(fd);
    memcpy(msg, S_DOMAIN, S_DOMAIN_LEN);
    crypto_generichash_final(&state, msg + S_DOMAIN_LEN, S_HASH_LEN);
    return KEYS_EXIT_OK;
}

static const char s_sign_usage[] =
    "sign --key SECRET FILE [--out SIGFILE] [--force] [--passphrase-file FILE]";
static const char s_sign_help[] =
    "Usage: truc-keys sign --key SECRET FILE [--out SIGFILE] [--force]\n"
    "                      [--passphrase-file FILE]\n"
    "\n"
    "Make a detached signature of FILE with the secret key SECRET and write it\n"
    "to SIGFILE (default FILE.sig): a small text file with the signer's name,\n"
    "fingerprint and Ed25519 signature. What is signed is \"truc-file-sig-v1\\0\"\n"
    "followed by BLAKE2b-512 of FILE. An existing SIGFILE is replaced only with\n"
    "--force. Check it with `truc-keys verify`.\n"
    "Exit status: 0 done, 1 usage error, 2 failure.\n";

int keys_cmd_sign(int argc, char **argv)
{
    keys_opt_t opts[] = { { "--key", true, NULL, false },
                          { "--out", true, NULL, false },
                          { "--force", false, NULL, false },
                          { "--passphrase-file", true, NULL, false } };
    const char *pos[1];
    int npos = 0, code = 0;
    if (!keys_args_parse("sign", s_sign_usage, s_sign_help, argc, argv, opts, 4, pos, 1, 1, &npos,
                         &code))
        return code;
    if (!opts[0].seen) {
        keys_error("--key SECRET is missing: say which secret key file signs");
        return KEYS_EXIT_USAGE;
    }
    const char *file = pos[0];
    char *default_out = NULL;
    const char *out = opts[1].value;
    if (!out) {
        size_t n = strlen(file) + 5;
        default_out = malloc(n);
        if (!default_out) {
            keys_error("out of memory: free some memory and try again");
            return KEYS_EXIT_FAIL;
        }
        snprintf(default_out, n, "%s.sig", file);
        out = default_out;
    }
    uint8_t msg[S_MSG_LEN];
    proto_identity_t *id = NULL;
    code = s_message(file, msg);
    if (code == KEYS_EXIT_OK)
        code = keys_load_secret(opts[0].value, opts[3].value, &id);
    if (code != KEYS_EXIT_OK) {
        free(default_out);
        return code;
    }
    const proto_public_t *pub = proto_identity_public(id);
    uint8_t sig[PROTO_IDENTITY_SIG_LEN];
    char sig_hex[2 * PROTO_IDENTITY_SIG_LEN + 1], fp[PROTO_FINGERPRINT_LEN + 1];
    proto_err_t rc = proto_identity_sign(id, msg, sizeof msg, sig);
    if (rc == PROTO_OK) {
        proto_hex_encode(sig, sizeof sig, sig_hex);
        proto_fingerprint(pub->sign_pk, fp);
        char text[1024];
        int w = snprintf(text, sizeof text,
                         "# truc detached signature - check it with `truc-keys verify`\n"
                         "[signature]\nformat = 1\nalgorithm = %s\nrole = %s\nsigner = %s\n"
                         "fingerprint = %s\nsignature = %s\n",
                         S_ALGORITHM, proto_role_name(pub->role), pub->name, fp, sig_hex);
        rc = w > 0 && (size_t) w < sizeof text
                 ? proto_file_write_atomic(out, text, (size_t) w, 0644, opts[2].seen, NULL, 0)
                 : PROTO_ERR_INTERNAL;
    }
    if (rc == PROTO_OK) {
        printf("wrote %s: signature of %s by %s (%s)\n", out, file, pub->name, fp);
    } else if (rc == PROTO_ERR_EXISTS) {
        keys_error("%s exists: use --force to replace it, or --out to write elsewhere", out);
        code = KEYS_EXIT_FAIL;
    } else {
        keys_error("cannot write %s (%s): check the directory and its permissions", out,
                   proto_strerror(rc));
        code = KEYS_EXIT_FAIL;
    }
    proto_identity_destroy(&id);
    free(default_out);
    return code;
}

//  A signature file, as read.
typedef struct {
    bool seen;
    proto_role_t role;
    char signer[PROTO_LABEL_MAX + 1];
    char fingerprint[PROTO_FINGERPRINT_LEN + 1];
    uint8_t sig[PROTO_IDENTITY_SIG_LEN];
} s_sigfile_t;

static proto_err_t s_sig_section(void *arg, const proto_ini_section_t *section, char *errbuf,
                                 size_t errlen)
{
    static const char *const keys[] = { "format", "algorithm",   "role",
                                        "signer", "fingerprint", "signature" };
    s_sigfile_t *self = arg;
    if (strcmp(section->name, "signature") != 0 || self->seen) {
        snprintf(errbuf, errlen, "line %u: unexpected section [%s]", section->line, section->name);
        return PROTO_ERR_KEY_FILE;
    }
    self->seen = true;
    for (size_t i = 0; i < section->count; i++) {
        bool known = false;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            known = known || strcmp(section->pairs[i].key, keys[k]) == 0;
        if (!known) {
            snprintf(errbuf, errlen, "line %u: unknown key '%s'", section->pairs[i].line,
                     section->pairs[i].key);
            return PROTO_ERR_KEY_FILE;
        }
    }
    const char *v[6];
    for (size_t k = 0; k < 6; k++) {
        const proto_ini_pair_t *pair = proto_ini_find(section, keys[k]);
        if (!pair) {
            snprintf(errbuf, errlen, "line %u: [signature] has no '%s'", section->line, keys[k]);
            return PROTO_ERR_KEY_FILE;
        }
        v[k] = pair->value;
    }
    if (strcmp(v[0], "1") != 0 || strcmp(v[1], S_ALGORITHM) != 0) {
        snprintf(errbuf, errlen, "unknown format or algorithm (this version reads format 1, %s)",
                 S_ALGORITHM);
        return PROTO_ERR_KEY_FILE;
    }
    if (strcmp(v[2], "agency") == 0)
        self->role = PROTO_ROLE_AGENCY;
    else if (strcmp(v[2], "broker") == 0)
        self->role = PROTO_ROLE_BROKER;
    else {
        snprintf(errbuf, errlen, "unknown role '%s'", v[2]);
        return PROTO_ERR_KEY_FILE;
    }
    if (proto_role_name_check(self->role, v[3]) != PROTO_OK) {
        snprintf(errbuf, errlen, "signer '%s' is not a valid %s name", v[3], v[2]);
        return PROTO_ERR_KEY_FILE;
    }
    snprintf(self->signer, sizeof self->signer, "%s", v[3]);
    if (strlen(v[4]) != PROTO_FINGERPRINT_LEN) {
        snprintf(errbuf, errlen, "fingerprint '%s' is malformed", v[4]);
        return PROTO_ERR_KEY_FILE;
    }
    snprintf(self->fingerprint, sizeof self->fingerprint, "%s", v[4]);
    if (proto_hex_decode(v[5], self->sig, sizeof self->sig) != PROTO_OK) {
        snprintf(errbuf, errlen, "signature must be %d hex digits", 2 * PROTO_IDENTITY_SIG_LEN);
        return PROTO_ERR_KEY_FILE;
    }
    return PROTO_OK;
}

static int s_read_sigfile(const char *path, s_sigfile_t *out)
{
    char *text = NULL, err[256] = "";
    size_t len = 0;
    memset(out, 0, sizeof *out);
    proto_err_t rc = proto_file_read(path, PROTO_KEY_FILE_MAX, false, &text, &len, err, sizeof err);
    if (rc == PROTO_ERR_NOT_FOUND) {
        keys_error("signature file %s does not exist: check the path, or give SIGFILE", path);
        return KEYS_EXIT_FAIL;
    }
    if (rc == PROTO_OK) {
        rc = proto_ini_parse(text, len, NULL, s_sig_section, out, PROTO_ERR_KEY_FILE, err,
                             sizeof err);
        if (rc == PROTO_OK && !out->seen) {
            snprintf(err, sizeof err, "no [signature] section");
            rc = PROTO_ERR_KEY_FILE;
        }
    }
    proto_file_free(&text, len, false);
    if (rc != PROTO_OK) {
        keys_error("%s is not a valid signature file (%s): sign the file again", path, err);
        return KEYS_EXIT_FAIL;
    }
    return KEYS_EXIT_OK;
}

static const char s_verify_usage[] = "verify (--public PUBFILE | --dir DIRFILE) FILE [SIGFILE]";
static const char s_verify_help[] =
    "Usage: truc-keys verify (--public PUBFILE | --dir DIRFILE) FILE [SIGFILE]\n"
    "\n"
    "Check the detached signature SIGFILE (default FILE.sig) of FILE.\n"
    "\n"
    "  --public PUBFILE  the signer's public identity file\n"
    "  --dir DIRFILE     an agency directory: the signer is looked up by its\n"
    "                    agency code and must be active and within its validity\n"
    "\n"
    "Prints \"good signature from NAME (FINGERPRINT)\" and exits 0, or reports a\n"
    "BAD signature and exits 2.\n"
    "Exit status: 0 good signature, 1 usage error, 2 bad signature or failure.\n";

int keys_cmd_verify(int argc, char **argv)
{
    keys_opt_t opts[] = { { "--public", true, NULL, false }, { "--dir", true, NULL, false } };
    const char *pos[2];
    int npos = 0, code = 0;
    if (!keys_args_parse("verify", s_verify_usage, s_verify_help, argc, argv, opts, 2, pos, 1, 2,
                         &npos, &code))
        return code;
    if (opts[0].seen == opts[1].seen) {
        keys_error("give exactly one of --public PUBFILE or --dir DIRFILE: usage: %s %s",
                   KEYS_PROGRAM, s_verify_usage);
        return KEYS_EXIT_USAGE;
    }
    const char *file = pos[0];
    char *default_sig = NULL;
    const char *sigpath = npos > 1 ? pos[1] : NULL;
    if (!sigpath) {
        size_t n = strlen(file) + 5;
        default_sig = malloc(n);
        if (!default_sig) {
            keys_error("out of memory: free some memory and try again");
            return KEYS_EXIT_FAIL;
        }
        snprintf(default_sig, n, "%s.sig", file);
        sigpath = default_sig;
    }
    s_sigfile_t sig;
    uint8_t msg[S_MSG_LEN];
    proto_public_t pub;
    proto_directory_t *dir = NULL;
    code = s_read_sigfile(sigpath, &sig);
    if (code == KEYS_EXIT_OK)
        code = s_message(file, msg);
    if (code != KEYS_EXIT_OK)
        goto done;
    if (opts[0].seen) {
        code = keys_load_public(opts[0].value, &pub);
        if (code != KEYS_EXIT_OK)
            goto done;
        if (pub.role != sig.role || strcmp(pub.name, sig.signer) != 0) {
            keys_error("BAD signature: %s names signer %s %s, but %s is %s %s: verify with the "
                       "signer's public file",
                       sigpath, proto_role_name(sig.role), sig.signer, opts[0].value,
                       proto_role_name(pub.role), pub.name);
            code = KEYS_EXIT_FAIL;
            goto done;
        }
    } else {
        code = keys_load_directory(opts[1].value, false, &dir, NULL);
        if (code != KEYS_EXIT_OK)
            goto done;
        code = KEYS_EXIT_FAIL;
        const proto_directory_entry_t *entry =
            sig.role == PROTO_ROLE_AGENCY ? proto_directory_find(dir, sig.signer) : NULL;
        if (!entry) {
            keys_error("BAD signature: signer %s is not an agency in %s: verify with --public "
                       "and the signer's public file",
                       sig.signer, opts[1].value);
            goto done;
        }
        proto_err_t usable = proto_directory_entry_usable(entry, (int64_t) time(NULL));
        if (usable != PROTO_OK) {
            const char *why = usable == PROTO_ERR_AGENCY_REVOKED     ? "revoked"
                              : usable == PROTO_ERR_AGENCY_SUSPENDED ? "suspended"
                              : usable == PROTO_ERR_EXPIRED          ? "past its valid_until"
                                                                     : "not valid yet";
            keys_error("BAD signature: signer %s is %s in %s: do not trust this file", sig.signer,
                       why, opts[1].value);
            goto done;
        }
        if (proto_public_init(&pub, PROTO_ROLE_AGENCY, entry->code, entry->sign_pk) != PROTO_OK) {
            keys_error("BAD signature: the key of %s in %s is unusable: check the directory",
                       sig.signer, opts[1].value);
            goto done;
        }
    }
    char fp[PROTO_FINGERPRINT_LEN + 1];
    proto_fingerprint(pub.sign_pk, fp);
    if (strcmp(fp, sig.fingerprint) != 0) {
        keys_error("BAD signature: %s was made with key %s, but %s's key is %s: the signer's "
                   "key changed or the signature is not theirs",
                   sigpath, sig.fingerprint, pub.name, fp);
        code = KEYS_EXIT_FAIL;
        goto done;
    }
    if (proto_sig_verify(pub.sign_pk, msg, sizeof msg, sig.sig) != PROTO_OK) {
        keys_error("BAD signature on %s: the file was altered after it was signed, or %s is not "
                   "its signature",
                   file, sigpath);
        code = KEYS_EXIT_FAIL;
        goto done;
    }
    printf("good signature from %s (%s)\n", pub.name, fp);
    code = KEYS_EXIT_OK;
done:
    proto_directory_destroy(&dir);
    free(default_sig);
    return code;
}
