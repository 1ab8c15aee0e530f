/*  keys/main.c - truc-keys, the operator's tool for identities, key files,
    detached file signatures and the agency directory.

    Thin on purpose: starts libsodium, picks the command, and returns its exit
    status. The commands live in cmd_identity.c, cmd_sign.c,
    cmd_directory.c and cmd_broker.c; what they share in cli.c. No networking, no logging.
*/
#include "cli.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const char s_help[] =
    "Usage: truc-keys COMMAND [ARGS]\n"
    "\n"
    "Identities, key files and the agency directory of truc.\n"
    "\n"
    "Commands:\n"
    "  new          make an identity: DIR/NAME.secret and DIR/NAME.public\n"
    "  show         print what a key file holds (never the secret)\n"
    "  fingerprint  print the fingerprint of a key file\n"
    "  public       write the public identity file of a secret key again\n"
    "  sign         make a detached signature of a file\n"
    "  verify       check a detached signature\n"
    "  directory    add, suspend, reinstate, revoke, list and show agencies\n"
    "               and the brokers they are routed to (add-broker, set-home)\n"
    "\n"
    "Run `truc-keys COMMAND --help` for the options of each command.\n"
    "\n"
    "Environment:\n"
    "  TRUC_PASSPHRASE          passphrase of encrypted secret keys, when no\n"
    "                           --passphrase-file is given\n"
    "  TRUC_KEYS_TEST_FAST_KDF  tests only: 1 makes `new --encrypt` use the\n"
    "                           weakest Argon2id limits\n"
    "\n"
    "Exit status:\n"
    "  0  success (verify: good signature)\n"
    "  1  usage error: unknown command or option, missing or malformed argument\n"
    "  2  failure: missing or invalid file, wrong passphrase, refused change,\n"
    "     BAD signature\n"
    "\n"
    "File formats: see keys/README.md.\n";

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
} s_command_t;

static const s_command_t s_commands[] = {
    { "new", keys_cmd_new },
    { "show", keys_cmd_show },
    { "fingerprint", keys_cmd_fingerprint },
    { "public", keys_cmd_public },
    { "sign", keys_cmd_sign },
    { "verify", keys_cmd_verify },
    { "directory", keys_cmd_directory },
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        keys_error("no command given: run `%s --help`", KEYS_PROGRAM);
        return KEYS_EXIT_USAGE;
    }
    const char *command = argv[1];
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 ||
        strcmp(command, "help") == 0) {
        fputs(s_help, stdout);
        return KEYS_EXIT_OK;
    }
    if (strcmp(command, "--version") == 0) {
        printf("%s %s\n", KEYS_PROGRAM, TRUC_VERSION);
        return KEYS_EXIT_OK;
    }
    if (sodium_init() < 0) {
        keys_error("libsodium failed to start: check the installation");
        return KEYS_EXIT_FAIL;
    }
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands[0]; i++)
        if (strcmp(command, s_commands[i].name) == 0)
            return s_commands[i].run(argc - 2, argv + 2);
    keys_error("unknown command '%s': run `%s --help`", command, KEYS_PROGRAM);
    return KEYS_EXIT_USAGE;
}
