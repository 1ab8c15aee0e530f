/*  tests/lib/agent_harness.h - run real truc-agent processes beside a
    real truc-broker, and talk to them over their local API.

    Built on the broker harness (tests/lib/harness.h), which it uses as
    is: one temporary directory per test with the broker's identity, the
    agencies' identities and the agency directory made by the real
    truc-keys, and the broker process. On top of it this harness:

      - starts truc-agent for any agency of the environment, with its own
        data directory under the test's root, and waits until its API
        socket exists and `health` answers; stops it with SIGTERM (exit
        status 0 expected) or kills it with SIGKILL, and starts it again on
        the same data directory;
      - sends API requests (agent/API.md) over a ZeroMQ REQ socket: the
        request map is built with msgpack-c from a small format string, the
        reply comes back decoded as a msgpack_unpacked, with helpers that
        read fields by path ("document.recipients[0].state");
      - polls: a request is repeated until its reply satisfies a check,
        within a generous deadline (never a timing assertion);
      - reads the agent's stored events (the `events` request).

    Everything a test starts is registered with its environment, so the
    cmocka teardown cleans up after a failed assertion too: API sockets
    closed, agents killed, the tail of every agent log printed for a failed
    test, then the broker harness's own teardown.

    It deliberately does not: edit or replace the broker harness, decide
    what an agent should answer (the tests do), or retry a request that got
    no answer (a missing answer fails the test).
*/
#ifndef AH_AGENT_HARNESS_H
#define AH_AGENT_HARNESS_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"
#include "proto/err.h"

#define AH_WAIT_MS     30000 // waiting for a condition that must come true
#define AH_CALL_MS     30000 // waiting for the answer to one API request
#define AH_POLL_MS     100   // pause between two polls
#define AH_MAX_AGENTS  8     // agents (data directories) in one test
#define AH_MAX_PROCS   32    // agent processes started in one test
#define AH_MAX_SETS    16    // extra --set assignments of one agent
#define AH_HEARTBEAT   "2s"  // the broker's heartbeat in these tests
#define AH_EVENTS_PAGE 1000  // events read per `events` request
#define AH_MAX_SOCKETS 8     // sockets a test opens with ah_socket

typedef struct ah_env ah_env_t;
typedef struct ah_agent ah_agent_t;
typedef struct ah_reply ah_reply_t;

//  One test's environment.
struct ah_env {
    th_env_t *th;                         // the broker harness environment (owned)
    void *ctx;                            // ZeroMQ context for API sockets
    char broker_public[TH_PATH_MAX + 16]; // keys/hub.public: what agents pin
    char broker_endpoint[TH_PATH_MAX];    // the broker's endpoint, kept across restarts
    ah_agent_t *agents[AH_MAX_AGENTS];    // every agent defined, NULL-padded
    pid_t procs[AH_MAX_PROCS];            // every agent process started, 0 once reaped
    int nprocs;                           //
    ah_reply_t *replies;                  // replies not destroyed yet
    void *sockets[AH_MAX_SOCKETS];        // sockets a test opened with ah_socket
    bool passed;                          // set by ah_pass
};

//  A decoded API reply. map is the reply (a msgpack map); the objects point
//  into memory the reply owns, valid until ah_reply_destroy.
struct ah_reply {
    msgpack_unpacked unpacked; // the decoded reply
    const msgpack_object *map; // &unpacked.data
    char *raw;                 // the reply frame
    size_t len;
    ah_reply_t *next; // registry of the environment
    ah_env_t *env;
};

//  Path of truc-agent, set by main from argv or TRUC_AGENT.
extern const char *ah_agent_path;

//  cmocka setup and teardown: *state becomes a new ah_env_t (keys and
//  directory made by th_setup, no broker and no agent yet) / everything is
//  cleaned up.
int ah_setup(void **state);
int ah_teardown(void **state);

//  The test reached its end: the teardown prints no logs.
void ah_pass(ah_env_t *env);

// ---------------------------------------------------------------------------
//  The broker

//  Start truc-broker with a short heartbeat (AH_HEARTBEAT), so agents notice
//  a lost broker within seconds. The first start binds a free port below the
//  ephemeral range (th_port_outside_ephemeral; tcp://127.0.0.1:* if there is
//  none); every later start binds the same endpoint again, so agents
//  configured with it find the restarted broker.
void ah_broker_start(ah_env_t *env);

//  SIGTERM the broker and require exit status 0.
void ah_broker_stop(ah_env_t *env);

// ---------------------------------------------------------------------------
//  Agents

//  Define the agent of an agency: data directory ROOT/agent-X (created),
//  connecting to broker_endpoint (NULL: env->broker_endpoint, which must be
//  set), window (0: the agent's default) and extra "--set SECTION.NAME=V"
//  assignments (NULL-terminated, may be NULL; copied). Unless those set
//  api.allowed_dirs or the agent gets a --config, it runs with
//  api.allowed_dirs=ROOT, where tests keep attachments and fetch folders.
//  Nothing is started.
//  The agent belongs to the environment.
ah_agent_t *ah_agent_new(ah_env_t *env, th_agency_t who, const char *broker_endpoint,
                         uint32_t window, const char *const *sets);

//  Start the agent's process and wait until its API answers `health`. An
//  agent that exits, or does not answer within AH_WAIT_MS, fails the test.
void ah_agent_start(ah_agent_t *self);

//  ah_agent_new + ah_agent_start with the environment's broker.
ah_agent_t *ah_agent_run(ah_env_t *env, th_agency_t who, uint32_t window, const char *const *sets);

//  SIGTERM the agent and require exit status 0.
void ah_agent_stop(ah_agent_t *self);

//  SIGKILL the agent and reap it.
void ah_agent_kill(ah_agent_t *self);

//  Change the window used by the next start (0: the agent's default).
void ah_agent_set_window(ah_agent_t *self, uint32_t window);

//  Start the agent with "--config path" (copied) before its other
//  arguments from the next start on.
void ah_agent_set_config(ah_agent_t *self, const char *path);

//  The agent's agency, code, data directory, API endpoint, current log.
th_agency_t ah_agent_who(const ah_agent_t *self);
const char *ah_agent_code(const ah_agent_t *self);
const char *ah_agent_data(const ah_agent_t *self);
const char *ah_agent_endpoint(const ah_agent_t *self);
const char *ah_agent_log(const ah_agent_t *self);
pid_t ah_agent_pid(const ah_agent_t *self);

//  Run truc-agent with exactly these arguments (NULL-terminated, after the
//  program name), stdout and stderr captured in out (NUL-terminated,
//  truncated). A run that does not end within AH_WAIT_MS is killed and
//  fails the test. Returns the wait status.
int ah_run(ah_env_t *env, const char *const *args, char *out, size_t outlen);

//  A ZeroMQ socket of the given type on the environment's context, with
//  ZMQ_LINGER 0, closed by the teardown unless closed before with
//  ah_socket_close (which sets *socket_p to NULL).
void *ah_socket(ah_env_t *env, int type);
void ah_socket_close(ah_env_t *env, void **socket_p);

// ---------------------------------------------------------------------------
//  API requests

//  Send one request built from format and wait for its reply (AH_CALL_MS;
//  none fails the test). The reply belongs to the environment until
//  ah_reply_destroy.
//
//  The format describes one msgpack value; blanks and commas are ignored:
//    {key:V key:V}  a map; keys are written literally (letters, digits, _ . -)
//    [V V]          an array
//    s              str from a const char * (NULL: nil)
//    S              str from const char *, size_t (any bytes)
//    i              int (packed as a msgpack integer)
//    U              uint64_t
//    b              bool from an int
//    n              nil
//    x              bin from const void *, size_t
//    A              array of str from const char *const *, size_t
//  Example: ah_call(a, "{cmd:s id:s dir:s}", "fetch", id, dir).
ah_reply_t *ah_call(ah_agent_t *self, const char *format, ...);

//  Send len bytes as the request frame, as they are.
ah_reply_t *ah_call_raw(ah_agent_t *self, const void *data, size_t len);

//  Encode format and its arguments into buf (an initialised sbuffer).
void ah_pack(msgpack_sbuffer *buf, const char *format, ...);

//  Free a reply and set *reply_p to NULL. Safe on NULL.
void ah_reply_destroy(ah_reply_t **reply_p);

//  A check on a reply, for ah_poll.
typedef bool(ah_check_fn)(const ah_reply_t *reply, void *arg);

//  Send the same request again and again (AH_POLL_MS apart) until check
//  accepts the reply; return that reply. If AH_WAIT_MS pass first, the test
//  fails with `what` and the last reply.
ah_reply_t *ah_poll(ah_agent_t *self, ah_check_fn *check, void *arg, const char *what,
                    const char *format, ...);

//  Require an ok reply / a failure with this code and, unless field is
//  NULL, this field. `what` names the request in the failure message.
void ah_expect_ok(const ah_reply_t *reply, const char *what);
void ah_expect_error(const ah_reply_t *reply, proto_err_t code, const char *field,
                     const char *what);

//  True if the reply says ok.
bool ah_is_ok(const ah_reply_t *reply);

// ---------------------------------------------------------------------------
//  Reading replies. A path is a dotted list of map keys with array indexes:
//  "document.to[1]", "documents[0].id", "[2]". Every reader is safe on a
//  NULL object and on a missing path.

//  The object at path under o (path "" is o itself), or NULL.
const msgpack_object *ah_get(const msgpack_object *o, const char *path);

//  The text at path, NUL-terminated, in one of a few rotating static
//  buffers (valid for the next few calls); NULL if not a str.
const char *ah_str(const msgpack_object *o, const char *path);

//  True if the str at path equals text.
bool ah_str_is(const msgpack_object *o, const char *path, const char *text);

//  The unsigned integer at path, or -1 if absent or not an unsigned integer.
int64_t ah_int(const msgpack_object *o, const char *path);

//  The bool at path: 1, 0, or -1 if absent or not a bool.
int ah_bool(const msgpack_object *o, const char *path);

//  Elements of the array (or entries of the map) at path, -1 if neither.
int64_t ah_count(const msgpack_object *o, const char *path);

//  True if the value at path is nil.
bool ah_is_nil(const msgpack_object *o, const char *path);

//  A short JSON-like rendering of o for failure messages (bin as
//  <bin N>, long strings cut), in a static buffer.
const char *ah_show(const msgpack_object *o);

// ---------------------------------------------------------------------------
//  Common waits and stored events

//  Poll `health` until `connected` is the given value / until the agent
//  holds a directory snapshot (directory_serial > 0).
void ah_wait_connected(ah_agent_t *self, bool connected);
void ah_wait_directory(ah_agent_t *self);

//  Number of stored events with this topic whose fields match every
//  key/value pair of the NULL-terminated list that follows (values as
//  text: a str field must equal it, an integer field must equal its
//  decimal value, a bool "true" or "false"). Reads every event with
//  `events` requests.
size_t ah_events_count(ah_agent_t *self, const char *topic, ...);

//  A visitor of stored events or inbox entries (each a map, valid during the
//  call).
typedef void(ah_each_fn)(const msgpack_object *entry, void *arg);

//  Call fn on every stored event with seq > *after, oldest first, reading
//  page by page as a DMS does; *after ends at the last seq read. Checks
//  that seqs rise. Returns how many events were read.
size_t ah_events_each(ah_agent_t *self, uint64_t *after, ah_each_fn *fn, void *arg);

//  Call fn on every document of the agent's inbox listing, all pages, in
//  the order received. Returns how many were listed.
size_t ah_inbox_each(ah_agent_t *self, ah_each_fn *fn, void *arg);

//  Poll until ah_events_count with the same arguments is at least 1.
void ah_events_wait(ah_agent_t *self, const char *topic, ...);

#endif
