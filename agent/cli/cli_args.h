/*  cli_args - command-line parsing shared by every `truc` command.

    Owns the global options (--data-dir, --endpoint, --json, --timeout), the
    exit codes, the usage-error message, and the parsers for the values
    clerks type: agency codes, document ids, dates, times, urgency levels and
    status codes. It prints only usage errors and help; it never talks to the
    agent.
*/
#ifndef CLI_ARGS_H
#define CLI_ARGS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/msg.h"

//  Exit codes, documented in `truc --help` and agent/CLI.md.
#define CLI_EXIT_OK          0 // success
#define CLI_EXIT_USAGE       1 // the command line is wrong
#define CLI_EXIT_UNREACHABLE 2 // no usable answer from the agent
#define CLI_EXIT_REFUSED     3 // the agent answered with an error
#define CLI_EXIT_LOCAL       4 // a local problem: a file, a directory, memory

//  Where the agent's data directory is looked for without --data-dir:
//  $TRUC_DATA_DIR, else the development layout of a source tree if the
//  current directory has one, else the installed layout (deploy/OPERATIONS.md).
#define CLI_DATA_DIR_ENV       "TRUC_DATA_DIR"
#define CLI_DEV_DATA_DIR       "./var/agent/data"
#define CLI_INSTALLED_DATA_DIR "/var/lib/truc-agent/data"
//  The installed agent's sockets: its unit's RuntimeDirectory=, which the
//  DMS group can reach, unlike the 0700 data directory. Tried first when
//  the data directory is CLI_INSTALLED_DATA_DIR.
#define CLI_INSTALLED_RUN_DIR  "/run/truc-agent"
#define CLI_DEFAULT_TIMEOUT_MS 10000

//  Values of the global long options; command options use values below 256.
enum {
    CLI_OPT_DATA_DIR = 1000,
    CLI_OPT_ENDPOINT,
    CLI_OPT_JSON,
    CLI_OPT_TIMEOUT,
};

//  The global options, accepted before and after the command name. Put this
//  at the end of each command's option table, before the zero entry.
#define CLI_GLOBAL_OPTIONS                                                                         \
    { "data-dir", required_argument, NULL, CLI_OPT_DATA_DIR },                                     \
        { "endpoint", required_argument, NULL, CLI_OPT_ENDPOINT },                                 \
        { "json", no_argument, NULL, CLI_OPT_JSON },                                               \
        { "timeout", required_argument, NULL, CLI_OPT_TIMEOUT },                                   \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }

//  The help text's paragraph on the global options, shared by every command.
#define CLI_GLOBAL_HELP                                                                            \
    "Global options (before or after the command):\n"                                              \
    "  --data-dir DIR    the agent's data directory: requests go to DIR/api.sock,\n"               \
    "                    events come from DIR/events.sock (default $TRUC_DATA_DIR,\n"              \
    "                    else ./var/agent/data if it exists, else\n"                               \
    "                    /var/lib/truc-agent/data, whose agent keeps its sockets in\n"             \
    "                    /run/truc-agent when that has them)\n"                                    \
    "  --endpoint EP     the agent's API endpoint, if configured elsewhere (api.endpoint)\n"       \
    "  --json            print the agent's reply as JSON (bin values as base64)\n"                 \
    "  --timeout S       seconds to wait for the agent (default 10)\n"                             \
    "  -h, --help        this help\n"

#define CLI_EXIT_HELP                                                                              \
    "Exit codes: 0 success, 1 usage error, 2 the agent is unreachable, 3 the agent\n"              \
    "refused the request (its error code is printed), 4 a local problem (a file or\n"              \
    "directory truc cannot use).\n"

typedef struct {
    const char *data_dir; // --data-dir
    const char *endpoint; // --endpoint, or NULL: ipc://DATA_DIR/api.sock
    bool json;            // --json
    int timeout_ms;       // --timeout, or 0: the command's default
} cli_opts_t;

//  The data directory to use without --data-dir (see CLI_DATA_DIR_ENV).
//  Returns a string that lives as long as the process.
const char *cli_data_dir_default(void);

//  State of one command's option parsing.
typedef struct {
    const char *cmd;               // command name, for messages
    const char *usage;             // the command's --help text
    const struct option *longopts; // the command's table, ending in CLI_GLOBAL_OPTIONS
    cli_opts_t *opts;              // global options, updated as they are met
    int argc;                      // argv[0] is the command name
    char **argv;                   //
    bool stop;                     // parsing ended early: return `status`
    int status;                    // 0 after --help, CLI_EXIT_USAGE after an error
} cli_parser_t;

//  Prepare to parse a command's arguments; argv[0] is the command name.
void cli_parser_init(cli_parser_t *p, const char *cmd, const char *usage,
                     const struct option *longopts, cli_opts_t *opts, int argc, char **argv);

//  The next command-specific option (its `val`), with its argument in
//  optarg, or -1 when there are no more. Global options and --help are
//  handled here. When -1 comes with p->stop set, the command must return
//  p->status at once (help was printed, or a usage error).
int cli_parser_next(cli_parser_t *p);

//  Positional arguments after parsing: argv[optind..argc).
int cli_parser_npos(const cli_parser_t *p);
const char *cli_parser_pos(const cli_parser_t *p, int index);

//  Handle one global option for the leading part of the command line (before
//  the command name). Returns true if opt was a global option and its value
//  is valid; prints a usage error and returns false otherwise.
bool cli_global_option(cli_opts_t *opts, const char *cmd, int opt, const char *arg);

//  Print "truc: CMD: <message>" and a pointer to the command's help on
//  stderr. Returns CLI_EXIT_USAGE. cmd may be NULL for the bare `truc`.
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

//  A growable list of strings the list owns.
typedef struct {
    char **items;
    size_t count;
    size_t cap;
} cli_strv_t;

//  Append a copy of text (n bytes). Returns false if out of memory.
bool cli_strv_push(cli_strv_t *list, const char *text, size_t n);
//  Free every string and the list itself; the list is empty afterwards.
void cli_strv_free(cli_strv_t *list);

//  Value parsers. Each returns false on bad input, prints nothing, and
//  leaves the output untouched then.

//  Split "CODE[,CODE...]" and append each agency code to list (duplicates
//  are dropped). On failure *bad points into text at the offending code.
bool cli_parse_agencies(const char *text, cli_strv_t *list, const char **bad);
//  A document or notice id: UUID text or 32 hex digits; out gets the
//  canonical lowercase UUID text.
bool cli_parse_id(const char *text, char out[PROTO_ID_TEXT_LEN]);
//  A date YYYY-MM-DD naming a real day, year 1900 or later.
bool cli_parse_date(const char *text);
//  An unsigned decimal integer between min and max.
bool cli_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out);
//  Seconds (may have a fraction) between 0.001 and 86400, as milliseconds.
bool cli_parse_seconds(const char *text, int *ms);
//  normal | urgent | very-urgent | immediate, thường | khẩn | thượng khẩn |
//  hỏa tốc (accents optional), or 0..3.
bool cli_parse_urgency(const char *text, int *out);
//  A status notice code: 01..06, 15, 16 as digits, any integer 0..255, or
//  a name (arrived, rejected, accepted, assigned, processing, completed,
//  recall-accepted, recall-refused).
bool cli_parse_status(const char *text, int *out);
//  A point in time, as milliseconds since the epoch: YYYY-MM-DD (local
//  midnight), YYYY-MM-DD HH:MM[:SS] or with a 'T' (local time), an age such
//  as 30m, 12h, 7d (that long before now), or an integer of milliseconds.
bool cli_parse_time(const char *text, uint64_t now_ms, uint64_t *out);

//  The absolute path of an existing file, symbolic links resolved, in
//  memory the caller frees; NULL with errno set on failure. The agent runs
//  in its own working directory: every path we hand it must be absolute.
char *cli_realpath(const char *path);

//  Milliseconds since the epoch, now.
uint64_t cli_now_ms(void);

#endif
