/*  cli_args - command-line parsing shared by every `truc` command.

    Value parsers check what the agent would check anyway (agency codes,
    dates, ids) so that a typo is reported before anything is sent, with the
    option that holds it, and exits 1 instead of 3.
*/
//  realpath() is XSI in glibc's headers, beyond POSIX 2008 base.
#define _XOPEN_SOURCE 700

#include "cli_args.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli_vocab.h"
#include "proto/agency.h"
#include "proto/msg.h"

void cli_parser_init(cli_parser_t *p, const char *cmd, const char *usage,
                     const struct option *longopts, cli_opts_t *opts, int argc, char **argv)
{
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    p->usage = usage;
    p->longopts = longopts;
    p->opts = opts;
    p->argc = argc;
    p->argv = argv;
    //  glibc starts afresh (including its permutation state) when optind is
    //  0; main() has already run getopt over the leading global options.
    optind = 0;
    opterr = 0;
}

int cli_parser_next(cli_parser_t *p)
{
    for (;;) {
        //  No '+': options may follow the positional arguments
        //  (`truc fetch ID --out DIR`). The leading ':' makes a missing
        //  value come back as ':' so we can word the message ourselves.
        int opt = getopt_long(p->argc, p->argv, ":h", p->longopts, NULL);
        switch (opt) {
        case -1:
            return -1;
        case 'h':
            fputs(p->usage, stdout);
            p->stop = true;
            p->status = CLI_EXIT_OK;
            return -1;
        case ':':
            p->stop = true;
            p->status = cli_usage_error(p->cmd, "%s needs a value", p->argv[optind - 1]);
            return -1;
        case '?':
            p->stop = true;
            if (optopt > 0 && optopt < 256 && optopt != 'h')
                p->status = cli_usage_error(p->cmd, "unknown option '-%c'", optopt);
            else
                p->status = cli_usage_error(p->cmd, "unknown option '%s'", p->argv[optind - 1]);
            return -1;
        default:
            if (opt >= CLI_OPT_DATA_DIR) {
                if (!cli_global_option(p->opts, p->cmd, opt, optarg)) {
                    p->stop = true;
                    p->status = CLI_EXIT_USAGE;
                    return -1;
                }
                continue;
            }
            return opt;
        }
    }
}

int cli_parser_npos(const cli_parser_t *p)
{
    return optind < p->argc ? p->argc - optind : 0;
}

const char *cli_parser_pos(const cli_parser_t *p, int index)
{
    return index >= 0 && optind + index < p->argc ? p->argv[optind + index] : NULL;
}

const char *cli_data_dir_default(void)
{
    //  An empty variable counts as unset, as for most of the environment.
    const char *env = getenv(CLI_DATA_DIR_ENV);
    if (env && env[0])
        return env;
    //  A clerk on an installed host types `truc inbox` anywhere, and a
    //  developer runs it at the top of a source tree, where the agent of
    //  scripts/demo.sh keeps ./var/agent/data.
    struct stat st;
    if (stat(CLI_DEV_DATA_DIR, &st) == 0 && S_ISDIR(st.st_mode))
        return CLI_DEV_DATA_DIR;
    return CLI_INSTALLED_DATA_DIR;
}

bool cli_global_option(cli_opts_t *opts, const char *cmd, int opt, const char *arg)
{
    switch (opt) {
    case CLI_OPT_DATA_DIR:
        if (!arg[0]) {
            cli_usage_error(cmd, "--data-dir is empty: give the agent's data directory");
            return false;
        }
        opts->data_dir = arg;
        return true;
    case CLI_OPT_ENDPOINT:
        if (!strstr(arg, "://")) {
            cli_usage_error(cmd,
                            "--endpoint '%s' is not a ZeroMQ endpoint (like ipc:///path or "
                            "tcp://127.0.0.1:7401)",
                            arg);
            return false;
        }
        opts->endpoint = arg;
        return true;
    case CLI_OPT_JSON:
        opts->json = true;
        return true;
    case CLI_OPT_TIMEOUT:
        if (!cli_parse_seconds(arg, &opts->timeout_ms)) {
            cli_usage_error(cmd, "--timeout '%s' is not a number of seconds (0.001 to 86400)", arg);
            return false;
        }
        return true;
    default:
        cli_usage_error(cmd, "unknown option");
        return false;
    }
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (cmd)
        fprintf(stderr, "truc: %s: ", cmd);
    else
        fputs("truc: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (cmd)
        fprintf(stderr, "\nRun 'truc %s --help' for its options.\n", cmd);
    else
        fputs("\nRun 'truc --help' for the commands.\n", stderr);
    return CLI_EXIT_USAGE;
}

// ---------------------------------------------------------------------------
//  String lists

bool cli_strv_push(cli_strv_t *list, const char *text, size_t n)
{
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 8;
        char **items = realloc(list->items, cap * sizeof *items);
        if (!items)
            return false;
        list->items = items;
        list->cap = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy)
        return false;
    memcpy(copy, text, n);
    copy[n] = '\0';
    list->items[list->count++] = copy;
    return true;
}

void cli_strv_free(cli_strv_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = list->cap = 0;
}

// ---------------------------------------------------------------------------
//  Values

bool cli_parse_agencies(const char *text, cli_strv_t *list, const char **bad)
{
    const char *p = text;
    for (;;) {
        while (*p == ' ')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && end[-1] == ' ')
            end--;
        size_t n = (size_t) (end - start);
        if (proto_agency_code_check(start, n) != PROTO_OK) {
            *bad = start;
            return false;
        }
        bool seen = false;
        for (size_t i = 0; i < list->count; i++)
            seen = seen || (strlen(list->items[i]) == n && memcmp(list->items[i], start, n) == 0);
        if (!seen && !cli_strv_push(list, start, n)) {
            *bad = start;
            return false;
        }
        if (!*p)
            return true;
        p++; // the comma
    }
}

bool cli_parse_id(const char *text, char out[PROTO_ID_TEXT_LEN])
{
    proto_id_t id;
    if (proto_id_parse(text, &id) != PROTO_OK)
        return false;
    proto_id_format(&id, out);
    return true;
}

static bool s_digits(const char *text, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char) text[i]))
            return false;
    return true;
}

static int s_days_in_month(int year, int month)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

//  Parse YYYY-MM-DD at the start of text (exactly 10 bytes).
static bool s_date_prefix(const char *text, int *year, int *month, int *day)
{
    if (strlen(text) < 10 || !s_digits(text, 4) || text[4] != '-' || !s_digits(text + 5, 2) ||
        text[7] != '-' || !s_digits(text + 8, 2))
        return false;
    int y = atoi(text), m = (text[5] - '0') * 10 + (text[6] - '0'),
        d = (text[8] - '0') * 10 + (text[9] - '0');
    if (y < 1900 || m < 1 || m > 12 || d < 1 || d > s_days_in_month(y, m))
        return false;
    *year = y;
    *month = m;
    *day = d;
    return true;
}

bool cli_parse_date(const char *text)
{
    int y, m, d;
    return strlen(text) == 10 && s_date_prefix(text, &y, &m, &d);
}

bool cli_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    size_t n = strlen(text);
    if (n == 0 || n > 20 || !s_digits(text, n))
        return false;
    errno = 0;
    unsigned long long v = strtoull(text, NULL, 10);
    if (errno || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool cli_parse_seconds(const char *text, int *ms)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || !(v >= 0.001 && v <= 86400.0))
        return false;
    *ms = (int) lround(v * 1000.0);
    return true;
}

bool cli_parse_urgency(const char *text, int *out)
{
    //  The Vietnamese names too, accents optional (cli_vocab).
    return cli_vocab_urgency(text, out);
}

static const struct {
    const char *name;
    int code;
} s_status_names[] = {
    { "arrived", 1 },    { "rejected", 2 },  { "accepted", 3 },         { "assigned", 4 },
    { "processing", 5 }, { "completed", 6 }, { "recall-accepted", 15 }, { "recall-refused", 16 },
};

bool cli_parse_status(const char *text, int *out)
{
    for (size_t i = 0; i < sizeof s_status_names / sizeof s_status_names[0]; i++) {
        if (strcmp(text, s_status_names[i].name) == 0) {
            *out = s_status_names[i].code;
            return true;
        }
    }
    uint64_t v;
    if (!cli_parse_uint(text, 0, 255, &v))
        return false;
    *out = (int) v;
    return true;
}

bool cli_parse_time(const char *text, uint64_t now_ms, uint64_t *out)
{
    size_t n = strlen(text);
    if (n == 0)
        return false;
    if (s_digits(text, n))
        return cli_parse_uint(text, 0, UINT64_MAX, out);

    //  An age: digits and one unit.
    if (n >= 2 && s_digits(text, n - 1) && n <= 10) {
        uint64_t count = strtoull(text, NULL, 10), unit;
        switch (text[n - 1]) {
        case 's':
            unit = 1000;
            break;
        case 'm':
            unit = 60 * 1000;
            break;
        case 'h':
            unit = 3600 * 1000;
            break;
        case 'd':
            unit = 86400 * 1000;
            break;
        case 'w':
            unit = 7 * 86400 * 1000ull;
            break;
        default:
            return false;
        }
        uint64_t age = count * unit;
        *out = age < now_ms ? now_ms - age : 0;
        return true;
    }

    //  A local date, with an optional time of day.
    int year, month, day, hour = 0, minute = 0, second = 0;
    if (!s_date_prefix(text, &year, &month, &day))
        return false;
    const char *rest = text + 10;
    if (*rest) {
        if ((*rest != ' ' && *rest != 'T') || !s_digits(rest + 1, 2) || rest[3] != ':' ||
            !s_digits(rest + 4, 2))
            return false;
        hour = atoi(rest + 1);
        minute = atoi(rest + 4);
        rest += 6;
        if (*rest) {
            if (*rest != ':' || !s_digits(rest + 1, 2) || rest[3])
                return false;
            second = atoi(rest + 1);
        }
        if (hour > 23 || minute > 59 || second > 59)
            return false;
    }
    struct tm tm = { 0 };
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t) -1 || t < 0)
        return false;
    *out = (uint64_t) t * 1000u;
    return true;
}

uint64_t cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

char *cli_realpath(const char *path)
{
    return realpath(path, NULL);
}
