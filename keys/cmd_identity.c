/*  keys/cmd_identity.c - `truc-keys new`, `show`, `fingerprint` and `public`:
    making identities and looking at key files.

    Never prints or logs a secret key: show prints the public half only.
*/
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char s_new_usage[] =
    "new (--agency CODE | --broker LABEL) --out DIR [--encrypt] [--kdf STRENGTH] "
    "[--passphrase-file FILE] [--force]";

static const char s_new_help[] =
    "Usage: truc-keys new (--agency CODE | --broker LABEL) --out DIR [options]\n"
    "\n"
    "Make a new identity and write DIR/NAME.secret (mode 0600) and DIR/NAME.public.\n"
    "DIR is created (mode 0700) if it does not exist. Prints the fingerprint.\n"
    "\n"
    "  --agency CODE           an agency identity; CODE like 000.00.01.H01\n"
    "  --broker LABEL          a broker identity; LABEL of [A-Za-z0-9._-], up to 64\n"
    "  --out DIR               where to write the two files\n"
    "  --encrypt               encrypt the secret key with a passphrase (Argon2id)\n"
    "  --kdf STRENGTH          interactive (default), moderate or sensitive\n"
    "  --passphrase-file FILE  read the passphrase from the first line of FILE\n"
    "                          (mode 0600); else from $TRUC_PASSPHRASE\n"
    "  --force                 replace existing files (the old key is lost)\n"
    "\n"
    "Passphrases are never taken from the command line.\n"
    "Exit status: 0 done, 1 usage error, 2 failure.\n";

static int s_make_dir(const char *dir)
{
    if (mkdir(dir, 0700) == 0)
        return KEYS_EXIT_OK;
    int err = errno;
    struct stat st;
    if (err == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return KEYS_EXIT_OK;
    if (err == EEXIST)
        keys_error("%s exists and is not a directory: choose another --out", dir);
    else
        keys_error("cannot create directory %s (%s): create it yourself or choose another --out",
                   dir, strerror(err));
    return KEYS_EXIT_FAIL;
}

static char *s_join(const char *dir, const char *name, const char *ext)
{
    size_t n = strlen(dir) + strlen(name) + strlen(ext) + 2;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/%s%s", dir, name, ext);
    return path;
}

static bool s_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

//  Report a failed save of path; returns the exit code.
static int s_save_failed(const char *path, proto_err_t rc)
{
    if (rc == PROTO_ERR_EXISTS)
        keys_error("%s exists: use --force to replace it (the old key is lost)", path);
    else
        keys_error("cannot write %s (%s): check the directory and its permissions", path,
                   proto_strerror(rc));
    return KEYS_EXIT_FAIL;
}

//  The key derivation strength --kdf asks for, checked against --encrypt
//  and --passphrase-file; KEYS_EXIT_OK or KEYS_EXIT_USAGE.
static int s_new_strength(const keys_opt_t *kdf, const keys_opt_t *encrypt,
                          const keys_opt_t *pass_file, proto_kdf_strength_t *strength)
{
    *strength = PROTO_KDF_INTERACTIVE;
    if (kdf->seen) {
        if (strcmp(kdf->value, "interactive") == 0)
            *strength = PROTO_KDF_INTERACTIVE;
        else if (strcmp(kdf->value, "moderate") == 0)
            *strength = PROTO_KDF_MODERATE;
        else if (strcmp(kdf->value, "sensitive") == 0)
            *strength = PROTO_KDF_SENSITIVE;
        else {
            keys_error("unknown --kdf '%s': use interactive, moderate or sensitive", kdf->value);
            return KEYS_EXIT_USAGE;
        }
    }
    if (!encrypt->seen && (kdf->seen || pass_file->seen)) {
        keys_error("%s only applies to an encrypted key: add --encrypt",
                   kdf->seen ? "--kdf" : "--passphrase-file");
        return KEYS_EXIT_USAGE;
    }
    const char *fast = getenv(KEYS_FAST_KDF_ENV);
    if (encrypt->seen && fast && strcmp(fast, "1") == 0) {
        *strength = PROTO_KDF_MIN;
        keys_error("warning: %s=1 gives the key almost no protection: unset it outside tests",
                   KEYS_FAST_KDF_ENV);
    }
    return KEYS_EXIT_OK;
}

int keys_cmd_new(int argc, char **argv)
{
    keys_opt_t opts[] = {
        { "--agency", true, NULL, false }, { "--broker", true, NULL, false },
        { "--out", true, NULL, false },    { "--encrypt", false, NULL, false },
        { "--kdf", true, NULL, false },    { "--passphrase-file", true, NULL, false },
        { "--force", false, NULL, false },
    };
    keys_opt_t *agency = &opts[0], *broker = &opts[1], *out = &opts[2], *encrypt = &opts[3],
               *kdf = &opts[4], *pass_file = &opts[5], *force = &opts[6];
    const char *pos[1];
    int npos = 0, code = 0;
    if (!keys_args_parse("new", s_new_usage, s_new_help, argc, argv, opts,
                         sizeof opts / sizeof opts[0], pos, 0, 0, &npos, &code))
        return code;
    if (agency->seen == broker->seen) {
        keys_error("give exactly one of --agency CODE or --broker LABEL: usage: %s %s",
                   KEYS_PROGRAM, s_new_usage);
        return KEYS_EXIT_USAGE;
    }
    if (!out->seen) {
        keys_error("--out DIR is missing: say where to write the key files");
        return KEYS_EXIT_USAGE;
    }
    proto_role_t role = agency->seen ? PROTO_ROLE_AGENCY : PROTO_ROLE_BROKER;
    const char *name = agency->seen ? agency->value : broker->value;
    if (proto_role_name_check(role, name) != PROTO_OK) {
        if (role == PROTO_ROLE_AGENCY)
            keys_error("'%s' is not a valid agency code: codes look like 000.00.01.H01", name);
        else
            keys_error("'%s' is not a valid broker label: use 1 to 64 of A-Z a-z 0-9 . _ -, "
                       "starting with a letter or digit",
                       name);
        return KEYS_EXIT_USAGE;
    }
    proto_kdf_strength_t strength;
    code = s_new_strength(kdf, encrypt, pass_file, &strength);
    if (code != KEYS_EXIT_OK)
        return code;

    char *pass = NULL;
    if (encrypt->seen) {
        code = keys_passphrase(pass_file->value, &pass);
        if (code != KEYS_EXIT_OK)
            return code;
        if (!pass) {
            keys_error("--encrypt needs a passphrase: set %s or use --passphrase-file FILE",
                       PROTO_PASSPHRASE_ENV);
            return KEYS_EXIT_USAGE;
        }
    }
    char *secret_path = s_join(out->value, name, ".secret");
    char *public_path = s_join(out->value, name, ".public");
    proto_identity_t *id = NULL;
    code = KEYS_EXIT_FAIL;
    if (!secret_path || !public_path) {
        keys_error("out of memory: free some memory and try again");
        goto done;
    }
    code = s_make_dir(out->value);
    if (code != KEYS_EXIT_OK)
        goto done;
    code = KEYS_EXIT_FAIL;
    //  Check both before writing either, so a refusal leaves nothing half done.
    if (!force->seen && (s_exists(secret_path) || s_exists(public_path))) {
        s_save_failed(s_exists(secret_path) ? secret_path : public_path, PROTO_ERR_EXISTS);
        goto done;
    }
    id = proto_identity_generate(role, name);
    if (!id) {
        keys_error("cannot make a new identity (crypto library or memory failure): try again");
        goto done;
    }
    proto_err_t rc = proto_identity_save(id, secret_path, pass, strength, force->seen);
    if (rc != PROTO_OK) {
        s_save_failed(secret_path, rc);
        goto done;
    }
    rc = proto_public_save(proto_identity_public(id), public_path, force->seen);
    if (rc != PROTO_OK) {
        s_save_failed(public_path, rc);
        goto done;
    }
    static const char *const strengths[] = { "interactive", "moderate", "sensitive", "minimal" };
    char fp[PROTO_FINGERPRINT_LEN + 1];
    proto_fingerprint(proto_identity_public(id)->sign_pk, fp);
    if (pass)
        printf("created %s (secret key, encrypted with argon2id, %s)\n", secret_path,
               strengths[strength]);
    else
        printf("created %s (secret key, not encrypted: keep it on this host only)\n", secret_path);
    printf("created %s (public identity: share it)\n", public_path);
    printf("fingerprint: %s\n", fp);
    code = KEYS_EXIT_OK;
done:
    proto_identity_destroy(&id);
    proto_passphrase_free(&pass);
    free(secret_path);
    free(public_path);
    return code;
}

static const char s_show_usage[] = "show FILE [--passphrase-file FILE]";
static const char s_show_help[] =
    "Usage: truc-keys show FILE [--passphrase-file FILE]\n"
    "\n"
    "Print what a secret key file or a public identity file holds: role, name,\n"
    "signing key, CURVE key (hex and Z85, as ZeroMQ prints it) and fingerprint.\n"
    "Secret keys are never printed. An encrypted secret key file needs its\n"
    "passphrase (--passphrase-file FILE or $TRUC_PASSPHRASE).\n"
    "Exit status: 0 done, 1 usage error, 2 failure.\n";

int keys_cmd_show(int argc, char **argv)
{
    keys_opt_t opts[] = { { "--passphrase-file", true, NULL, false } };
    const char *pos[1];
    int npos = 0, code = 0;
    if (!keys_args_parse("show", s_show_usage, s_show_help, argc, argv, opts, 1, pos, 1, 1, &npos,
                         &code))
        return code;
    proto_public_t pub;
    bool is_secret = false;
    code = keys_load_any_public(pos[0], opts[0].value, &pub, &is_secret);
    if (code != KEYS_EXIT_OK)
        return code;
    char sign_hex[65], curve_hex[65], z85[41], fp[PROTO_FINGERPRINT_LEN + 1];
    proto_hex_encode(pub.sign_pk, 32, sign_hex);
    proto_hex_encode(pub.curve_pk, 32, curve_hex);
    if (proto_z85_encode(pub.curve_pk, 32, z85, sizeof z85) != PROTO_OK)
        z85[0] = '\0';
    proto_fingerprint(pub.sign_pk, fp);
    keys_field("file:", pos[0]);
    keys_field("kind:", is_secret ? "secret key (not shown)" : "public identity");
    keys_field("role:", proto_role_name(pub.role));
    keys_field("name:", pub.name);
    keys_field("sign key:", sign_hex);
    keys_field("curve key:", curve_hex);
    keys_field("curve z85:", z85);
    keys_field("fingerprint:", fp);
    return KEYS_EXIT_OK;
}

static const char s_fingerprint_usage[] = "fingerprint FILE [--passphrase-file FILE]";
static const char s_fingerprint_help[] =
    "Usage: truc-keys fingerprint FILE [--passphrase-file FILE]\n"
    "\n"
    "Print the fingerprint of a secret key file or a public identity file: the\n"
    "first 16 bytes of BLAKE2b-256 of the Ed25519 public key, as 8 groups of 4\n"
    "hex digits. Compare it over the phone before trusting a public file.\n"
    "Exit status: 0 done, 1 usage error, 2 failure.\n";

int keys_cmd_fingerprint(int argc, char **argv)
{
    keys_opt_t opts[] = { { "--passphrase-file", true, NULL, false } };
    const char *pos[1];
    int npos = 0, code = 0;
    if (!keys_args_parse("fingerprint", s_fingerprint_usage, s_fingerprint_help, argc, argv, opts,
                         1, pos, 1, 1, &npos, &code))
        return code;
    proto_public_t pub;
    bool is_secret = false;
    code = keys_load_any_public(pos[0], opts[0].value, &pub, &is_secret);
    if (code != KEYS_EXIT_OK)
        return code;
    char fp[PROTO_FINGERPRINT_LEN + 1];
    proto_fingerprint(pub.sign_pk, fp);
    printf("%s\n", fp);
    return KEYS_EXIT_OK;
}

static const char s_public_usage[] = "public SECRET --out FILE [--force] [--passphrase-file FILE]";
static const char s_public_help[] =
    "Usage: truc-keys public SECRET --out FILE [--force] [--passphrase-file FILE]\n"
    "\n"
    "Write the public identity file of the secret key file SECRET again, for\n"
    "example when the .public file was lost. An existing FILE is replaced only\n"
    "with --force.\n"
    "Exit status: 0 done, 1 usage error, 2 failure.\n";

int keys_cmd_public(int argc, char **argv)
{
    keys_opt_t opts[] = { { "--out", true, NULL, false },
                          { "--force", false, NULL, false },
                          { "--passphrase-file", true, NULL, false } };
    const char *pos[1];
    int npos = 0, code = 0;
    if (!keys_args_parse("public", s_public_usage, s_public_help, argc, argv, opts, 3, pos, 1, 1,
                         &npos, &code))
        return code;
    if (!opts[0].seen) {
        keys_error("--out FILE is missing: say where to write the public identity");
        return KEYS_EXIT_USAGE;
    }
    proto_identity_t *id = NULL;
    code = keys_load_secret(pos[0], opts[2].value, &id);
    if (code != KEYS_EXIT_OK)
        return code;
    proto_err_t rc = proto_public_save(proto_identity_public(id), opts[0].value, opts[1].seen);
    if (rc == PROTO_OK) {
        char fp[PROTO_FINGERPRINT_LEN + 1];
        proto_fingerprint(proto_identity_public(id)->sign_pk, fp);
        printf("wrote %s (fingerprint %s)\n", opts[0].value, fp);
    } else if (rc == PROTO_ERR_EXISTS) {
        keys_error("%s exists: use --force to replace it", opts[0].value);
        code = KEYS_EXIT_FAIL;
    } else {
        keys_error("cannot write %s (%s): check the directory and its permissions", opts[0].value,
                   proto_strerror(rc));
        code = KEYS_EXIT_FAIL;
    }
    proto_identity_destroy(&id);
    return code;
}
