/*  cli_agent - one request to truc-agent's local API, one reply.

    Builds the request (a msgpack map, see agent/API.md), sends it on a REQ
    socket, waits for the reply within a deadline, and turns every way this
    can fail into a sentence that says what to do and an exit code: no
    socket, no permission, no answer, an answer that is not the agent's, or
    the agent's own refusal ("truc: ERR_UNKNOWN_AGENCY (203): ...").
    It knows the API's envelope (ok, code, error, field, message), not what
    any particular reply means.
*/
#ifndef CLI_AGENT_H
#define CLI_AGENT_H

#include <msgpack.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli_args.h"

// ---------------------------------------------------------------------------
//  Requests

typedef struct cli_req cli_req_t;

//  A request map whose first entry is "cmd": cmd. Returns NULL if out of
//  memory.
cli_req_t *cli_req_new(const char *cmd);
//  Destroy the request and set *self_p to NULL. Safe on NULL.
void cli_req_destroy(cli_req_t **self_p);

//  Append to the request. Keys go into the innermost open map, which counts
//  them, so nobody counts map entries by hand; arrays are given their
//  length up front. Failures (out of memory, maps nested too deep) are
//  remembered and reported by cli_agent_call.
void cli_req_key(cli_req_t *self, const char *key);
void cli_req_str(cli_req_t *self, const char *value);
void cli_req_uint(cli_req_t *self, uint64_t value);
void cli_req_bool(cli_req_t *self, bool value);
void cli_req_array(cli_req_t *self, size_t count);
void cli_req_map_begin(cli_req_t *self);
void cli_req_map_end(cli_req_t *self);
//  key: value, left out entirely when value is NULL or empty.
void cli_req_kstr(cli_req_t *self, const char *key, const char *value);
void cli_req_kuint(cli_req_t *self, const char *key, uint64_t value);

// ---------------------------------------------------------------------------
//  Replies

typedef struct cli_reply cli_reply_t;

//  The reply map (borrowed; valid until the reply is destroyed).
const msgpack_object *cli_reply_root(const cli_reply_t *self);
//  Destroy the reply and set *self_p to NULL. Safe on NULL.
void cli_reply_destroy(cli_reply_t **self_p);

// ---------------------------------------------------------------------------
//  The agent

typedef struct cli_agent cli_agent_t;

//  A connection context for the agent named by opts (borrowed: opts must
//  outlive the handle). Returns NULL if out of memory or ZeroMQ fails.
cli_agent_t *cli_agent_new(const cli_opts_t *opts);
//  Destroy the handle and set *self_p to NULL. Safe on NULL.
void cli_agent_destroy(cli_agent_t **self_p);
//  The ZeroMQ context, for other sockets to the same agent (events).
void *cli_agent_zmq(const cli_agent_t *self);

//  How to make one call.
typedef struct {
    int timeout_ms;              // 0: --timeout, or 10 s
    const char *slow_note;       // said on stderr when 1 s passes without an answer
    const char *lost_note;       // added to the no-answer message (what may have happened)
    bool quiet;                  // print nothing on failure
    volatile sig_atomic_t *stop; // give up quietly when a signal sets this
} cli_call_t;

//  Send req (finishing it) and wait for the reply. Returns CLI_EXIT_OK with
//  *reply_p set to a new reply the caller owns (its "ok" is true), or
//  CLI_EXIT_UNREACHABLE, CLI_EXIT_REFUSED or CLI_EXIT_LOCAL with *reply_p
//  NULL after printing why (on stderr; with --json the refusal is also
//  printed as JSON on stdout). how may be NULL for the defaults.
int cli_agent_call(cli_agent_t *self, cli_req_t *req, const cli_call_t *how, cli_reply_t **reply_p);

//  The endpoint of a socket file of the agent: "ipc://DATA_DIR/file", or
//  for the installed data directory "ipc:///run/truc-agent/file" when that
//  file exists (CLI_INSTALLED_RUN_DIR).
void cli_endpoint_in(const cli_opts_t *opts, const char *file, char *buf, size_t cap);

//  Before connecting to an ipc:// endpoint: check that the socket file
//  exists and that we may use it. Returns CLI_EXIT_OK, or prints what is
//  wrong and returns CLI_EXIT_UNREACHABLE. option names what the user can
//  change ("--data-dir", "--endpoint", "--events"). Other transports pass.
int cli_endpoint_check(const char *endpoint, const char *option);

#endif
