/*  keys/cli.h - what the truc-keys commands share: exit codes, argument
    parsing, error messages, and loading files with messages an operator can
    act on.

    Private to the keys/ directory; nothing here is part of libtruc_proto.
*/
#ifndef KEYS_CLI_H
#define KEYS_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/directory.h"
#include "proto/identity.h"

#define KEYS_PROGRAM "truc-keys"

#define KEYS_EXIT_OK    0 // success (verify: the signature is good)
#define KEYS_EXIT_USAGE 1 // the command line is wrong
#define KEYS_EXIT_FAIL  2 // the command was understood but failed

//  Test-only switch: when set to 1, new keys use the weakest Argon2id limits.
#define KEYS_FAST_KDF_ENV "TRUC_KEYS_TEST_FAST_KDF"

//  One --option of a command.
typedef struct {
    const char *name;  // "--out"
    bool takes_value;  // --out FILE or --out=FILE
    const char *value; // set by keys_args_parse
    bool seen;         // set by keys_args_parse
} keys_opt_t;

//  Print "truc-keys: <message>" and a newline to stderr. By convention the
//  message reads "<what went wrong>: <what to do>".
void keys_error(const char *format, ...) __attribute__((format(printf, 1, 2)));

//  Parse argv[0..argc) of one command: options from opts (nopts of them)
//  anywhere, "--" ends options, min_pos to max_pos positional arguments
//  into pos (*npos of them). Returns true to go on; false to stop with
//  *exit_code: KEYS_EXIT_OK after --help or -h printed help to stdout,
//  KEYS_EXIT_USAGE after a usage error was reported.
bool keys_args_parse(const char *command, const char *usage, const char *help, int argc,
                     char **argv, keys_opt_t *opts, size_t nopts, const char **pos, int min_pos,
                     int max_pos, int *npos, int *exit_code);

//  Read the passphrase from --passphrase-file, else TRUC_PASSPHRASE if it is
//  set and not empty. *pass stays NULL if neither is given. Returns an exit
//  code; errors are reported.
int keys_passphrase(const char *file, char **pass);

//  Load a secret key file, asking keys_passphrase for a passphrase. Reports
//  every failure; returns an exit code.
int keys_load_secret(const char *path, const char *pass_file, proto_identity_t **out);

//  Load a public identity file. Reports failures; returns an exit code.
int keys_load_public(const char *path, proto_public_t *out);

//  Load a secret or a public file, whichever path is, into *pub. Returns an
//  exit code.
int keys_load_any_public(const char *path, const char *pass_file, proto_public_t *pub,
                         bool *is_secret);

//  Load an agency directory. If missing_ok and the file does not exist,
//  *out is a new empty directory and *created is true. Returns an exit code.
int keys_load_directory(const char *path, bool missing_ok, proto_directory_t **out, bool *created);

//  Hold an exclusive lock on path + ".lock" until the process exits, so
//  two operators cannot lose each other's change. Returns an exit code.
int keys_directory_lock(const char *path);

//  Write the directory back to path atomically. Returns an exit code.
int keys_directory_save(proto_directory_t *dir, const char *path);

//  Print "label: value" lines aligned at one column.
void keys_field(const char *label, const char *value);

//  Print a string as a JSON string literal, quotes included.
void keys_json_string(const char *text);

//  The commands. Each gets the arguments after its own name and returns
//  the process exit code.
int keys_cmd_new(int argc, char **argv);
int keys_cmd_show(int argc, char **argv);
int keys_cmd_fingerprint(int argc, char **argv);
int keys_cmd_public(int argc, char **argv);
int keys_cmd_sign(int argc, char **argv);
int keys_cmd_verify(int argc, char **argv);
int keys_cmd_directory(int argc, char **argv);

//  Key rotation (keys/cmd_rekey.c): `directory rekey` gets the arguments
//  after its own name and the directory's help text; the others print an
//  agency's key_since and retired keys for `show` and `list --json`, and
//  the broker's own retired keys for `list --json`.
int keys_directory_rekey(int argc, char **argv, const char *help);
int keys_directory_retire_broker_key(int argc, char **argv, const char *help);
void keys_retired_show(const proto_directory_entry_t *e);
void keys_retired_json(const proto_directory_entry_t *e);
void keys_broker_retired_json(const proto_directory_t *dir);

//  The broker entries of the directory (keys/cmd_broker.c): `directory
//  add-broker` and `directory set-home` get the arguments after their own
//  name; the others serve suspend, reinstate, revoke, list and show when
//  they name a broker label instead of an agency code.
int keys_directory_add_broker(int argc, char **argv);
int keys_directory_set_home(int argc, char **argv);
int keys_broker_set_state(proto_directory_t *dir, const char *path, const char *label,
                          proto_directory_state_t state);
void keys_brokers_list(const proto_directory_t *dir);
void keys_brokers_json(const proto_directory_t *dir);
int keys_broker_show(const proto_directory_t *dir, const char *path, const char *label);

#endif
