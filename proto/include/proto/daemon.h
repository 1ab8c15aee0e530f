/*  proto/daemon.h - what every truc daemon does before its loop starts.

    Parses the command line shared by truc-broker and truc-agent (--config,
    --set, shortcut flags, --print-default-config, --help, --version),
    fills the config struct through proto/config.h (defaults, file,
    overrides), starts libsodium and logging, and installs the signal
    handlers. Each daemon's main.c keeps only what is its own.
*/
#ifndef PROTO_DAEMON_H
#define PROTO_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/config.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *flag;   // long option, e.g. "data-dir"
    const char *option; // the config option it sets, e.g. "broker.data_dir"
} proto_shortcut_t;

typedef struct {
    const char *program; // "truc-broker": logs say prog=truc-broker
    const char *version; // "0.1.0"
    const char *usage;   // the --help text
    const proto_opt_t *table;
    size_t ntable;
    const proto_shortcut_t *shortcuts;
    size_t nshortcuts;
    size_t log_level_offset; // offsetof(config struct, its proto_log_level_t)
} proto_daemon_spec_t;

//  Parse argv and load the configuration into config. Returns -1 when the
//  daemon should go on, or the status main should exit with: 0 after
//  --help, --version or --print-default-config, 1 for a usage or
//  configuration error (already explained on stderr), 2 if libsodium
//  cannot start. On -1 the caller frees config with proto_config_free.
int proto_daemon_configure(const proto_daemon_spec_t *spec, int argc, char **argv, void *config);

//  Call handler (which must be async-signal-safe) on SIGTERM, SIGINT and,
//  with with_hup, SIGHUP; ignore SIGPIPE.
void proto_daemon_signals(void (*handler)(int), int with_hup);

//  True if a daemon may bind endpoint for a local-only service (the agent's
//  API and events, the broker's admin socket): an ipc:// path, or tcp://
//  on a literal loopback address (127.x.y.z or [::1]) with a port. Anything
//  else - a wildcard, an interface name, a host name, another address - may
//  reach the network and is refused by the caller.
bool proto_endpoint_is_local(const char *endpoint);

#ifdef __cplusplus
}
#endif
#endif
