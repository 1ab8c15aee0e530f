/*  daemon.c - the command line and start-up common to the truc daemons. */
#include "proto/daemon.h"

#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/log.h"
#include "proto/msg.h"

#define MAX_OVERRIDES 64
#define MAX_SHORTCUTS 16

enum { OPT_PRINT = 1000, OPT_SHORTCUT = 2000 };

int proto_daemon_configure(const proto_daemon_spec_t *spec, int argc, char **argv, void *config)
{
    struct option options[MAX_SHORTCUTS + 6];
    size_t n = 0;
    options[n++] = (struct option){ "config", required_argument, 0, 'c' };
    options[n++] = (struct option){ "set", required_argument, 0, 's' };
    options[n++] = (struct option){ "print-default-config", no_argument, 0, OPT_PRINT };
    options[n++] = (struct option){ "help", no_argument, 0, 'h' };
    options[n++] = (struct option){ "version", no_argument, 0, 'V' };
    for (size_t i = 0; i < spec->nshortcuts && i < MAX_SHORTCUTS; i++)
        options[n++] = (struct option){ spec->shortcuts[i].flag, required_argument, 0,
                                        OPT_SHORTCUT + (int) i };
    options[n] = (struct option){ 0, 0, 0, 0 };

    const char *path = NULL;
    char *overrides[MAX_OVERRIDES];
    size_t noverrides = 0;
    int status = -1, opt;
    while (status < 0 && (opt = getopt_long(argc, argv, "c:s:hV", options, NULL)) != -1) {
        if (noverrides == MAX_OVERRIDES) {
            fprintf(stderr, "%s: too many overrides\n", spec->program);
            status = 1;
        } else if (opt == 'c') {
            path = optarg;
        } else if (opt == 's' || opt >= OPT_SHORTCUT) {
            const char *option = opt == 's' ? NULL : spec->shortcuts[opt - OPT_SHORTCUT].option;
            size_t len = (option ? strlen(option) + 1 : 0) + strlen(optarg) + 1;
            char *text = malloc(len);
            if (!text) {
                status = 1;
                break;
            }
            snprintf(text, len, "%s%s%s", option ? option : "", option ? "=" : "", optarg);
            overrides[noverrides++] = text;
        } else if (opt == OPT_PRINT) {
            char title[80];
            snprintf(title, sizeof title, "%s configuration", spec->program);
            proto_config_print(spec->table, spec->ntable, stdout, title);
            status = 0;
        } else if (opt == 'h') {
            fputs(spec->usage, stdout);
            status = 0;
        } else if (opt == 'V') {
            printf("%s %s (protocol %d)\n", spec->program, spec->version, PROTO_VERSION);
            status = 0;
        } else {
            fputs(spec->usage, stderr);
            status = 1;
        }
    }
    if (status < 0 && optind != argc) {
        fprintf(stderr, "%s: unexpected argument %s\n%s", spec->program, argv[optind], spec->usage);
        status = 1;
    }
    if (status < 0) {
        proto_log_set_program(spec->program);
        char err[512] = "";
        proto_err_t rc =
            proto_config_fill(spec->table, spec->ntable, config, path,
                              (const char *const *) overrides, noverrides, err, sizeof err);
        if (rc) {
            fprintf(stderr, "%s: configuration%s%s: %s\n", spec->program, path ? " " : "",
                    path ? path : "", err[0] ? err : proto_strerror(rc));
            proto_config_free(spec->table, spec->ntable, config);
            status = 1;
        } else if (sodium_init() < 0) {
            fprintf(stderr, "%s: libsodium failed to start\n", spec->program);
            proto_config_free(spec->table, spec->ntable, config);
            status = 2;
        } else {
            proto_log_level_t level;
            memcpy(&level, (const char *) config + spec->log_level_offset, sizeof level);
            proto_log_set_level(level);
            proto_config_log(spec->table, spec->ntable, config);
        }
    }
    for (size_t i = 0; i < noverrides; i++)
        free(overrides[i]);
    return status;
}

void proto_daemon_signals(void (*handler)(int), int with_hup)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    if (with_hup)
        sigaction(SIGHUP, &action, NULL);
    signal(SIGPIPE, SIG_IGN);
}

//  Parse one decimal octet (0..255, no sign, no leading zeros beyond "0")
//  at *p and advance past it.
static bool s_octet(const char **p, unsigned *value)
{
    const char *s = *p;
    unsigned v = 0;
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9' && n < 3)
        v = v * 10 + (unsigned) (s[n++] - '0');
    if (n == 0 || v > 255 || (n > 1 && s[0] == '0') || (s[n] >= '0' && s[n] <= '9'))
        return false;
    *p = s + n;
    *value = v;
    return true;
}

//  ":PORT" to the end, where PORT is digits or ZeroMQ's "*".
static bool s_port(const char *p)
{
    if (*p++ != ':')
        return false;
    if (strcmp(p, "*") == 0)
        return true;
    if (!*p)
        return false;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

bool proto_endpoint_is_local(const char *endpoint)
{
    if (!endpoint)
        return false;
    if (strncmp(endpoint, "ipc://", 6) == 0)
        return endpoint[6] != '\0';
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return false;
    const char *p = endpoint + 6;
    if (strncmp(p, "[::1]", 5) == 0)
        return s_port(p + 5);
    unsigned octet[4];
    for (int i = 0; i < 4; i++) {
        if (i > 0 && *p++ != '.')
            return false;
        if (!s_octet(&p, &octet[i]))
            return false;
    }
    return octet[0] == 127 && s_port(p);
}
