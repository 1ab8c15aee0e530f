/*  tests/lib/harness.h - run a real truc-broker for integration tests.

    One environment per test: a fresh temporary directory holding the
    broker's identity and a set of agency identities made with the real
    truc-keys, an agency directory (some agencies suspended or revoked, one
    left out), a config file, the broker's data directory and the logs of
    every broker process the test started. The harness starts truc-broker
    with fork/exec, waits for it to publish DATA_DIR/endpoint, stops it with
    SIGTERM (exit status 0 expected) or SIGKILL, and connects clients
    (tests/lib/truc_client.h) for any agency.

    Everything a test starts is registered with its environment, so the
    cmocka teardown cleans up after a failed assertion too: clients are
    closed, broker processes killed, the directory removed (kept when
    TRUC_TEST_KEEP is set), and for a failed test the tail of every broker
    log is printed.

    Never a timing assertion: every wait has a generous deadline that only
    turns into a failure when something does not happen at all.
*/
#ifndef TH_HARNESS_H
#define TH_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/directory.h"
#include "proto/identity.h"
#include "truc_client.h"

//  The agencies every environment has.
typedef enum {
    TH_A = 0, // active; the usual sender
    TH_B,     // active; the usual recipient
    TH_C,     // active
    TH_D,     // active
    TH_E,     // active
    TH_S,     // suspended in the directory
    TH_R,     // revoked in the directory
    TH_U,     // has keys but is not in the directory
    TH_NAGENCIES
} th_agency_t;

#define TH_START_TIMEOUT_MS 20000 // waiting for the endpoint file or an exit
#define TH_STOP_TIMEOUT_MS  30000 // waiting for exit after SIGTERM
#define TH_HUB              "hub" // the broker's name in every environment
#define TH_RECV_TIMEOUT_MS  20000 // waiting for something that must arrive
#define TH_QUIET_MS         1500  // listening for something that must not arrive
#define TH_MAX_PROCS        16
#define TH_MAX_CLIENTS      64
#define TH_PATH_MAX         256
#define TH_ROOT_MAX         128 // the root is short, so paths under it fit TH_PATH_MAX

typedef struct {
    char root[TH_ROOT_MAX];       // the temporary directory
    char keys[TH_PATH_MAX];       // root/keys: NAME.secret, NAME.public
    char data[TH_PATH_MAX];       // root/data: the broker's data_dir
    char dirfile[TH_PATH_MAX];    // root/directory.ini
    char config[TH_PATH_MAX];     // root/broker.conf
    char broker_key[TH_PATH_MAX]; // keys/hub.secret
    char endpoint[TH_PATH_MAX];   // what the running broker published
    proto_identity_t *hub;        // the broker identity
    proto_identity_t *agency[TH_NAGENCIES];
    proto_directory_t *dir;    // the directory as the broker reads it
    pid_t pid;                 // the current broker, 0 if none
    pid_t procs[TH_MAX_PROCS]; // every broker started, 0 once reaped
    char logs[TH_MAX_PROCS][TH_PATH_MAX];
    int nprocs;
    truc_client_t *clients[TH_MAX_CLIENTS]; // registered clients, NULL when dropped
    int nfailures;                          // soft failures (th_soft)
    bool passed;                            // set by th_pass at the end of a test
} th_env_t;

struct CMUnitTest;

//  Run a test program's cmocka group, or only the test named filter (not
//  NULL). A filter that names no test fails (exit status 2, with a message
//  naming program) instead of passing without running anything.
int th_run_tests(const char *program, const char *group, const struct CMUnitTest *tests, size_t n,
                 const char *filter);

//  The start of every test program's main. After argc, argv and the
//  program's name come *filter and then pairs of (const char *name,
//  const char **path) ended by NULL: each path is set from its argument, in
//  order, or else from the environment variable name. Then libsodium is
//  initialised and SIGPIPE ignored (a peer that goes away must not kill the
//  test). Returns 0 with *filter set to the optional TEST_NAME argument
//  after the paths (NULL if none), or 2, the status main then returns, with
//  the usage line printed when a path is missing.
int th_main_start(int argc, char **argv, const char *program, const char **filter, ...);

//  Paths of the programs under test, set once by main from argv or the
//  environment (TRUC_BROKER, TRUC_KEYS).
extern const char *th_broker_path;
extern const char *th_keys_path;

//  The agency code of an agency of the environment.
const char *th_code(th_agency_t who);

//  cmocka setup and teardown: *state becomes a new environment (identities
//  and directory made, no broker yet) / everything is cleaned up.
int th_setup(void **state);
int th_teardown(void **state);

//  The test reached its end: it fails here if a soft check failed
//  (th_soft), else the teardown will not print the logs.
void th_pass(th_env_t *env);

//  Start a broker with env->config and the given "--set" assignments (a
//  NULL-terminated list, may be NULL) and wait until it publishes its
//  endpoint (env->endpoint). A broker that exits or publishes nothing fails
//  the test.
void th_broker_start(th_env_t *env, const char *const *sets);

//  A TCP port on 127.0.0.1, free now and below the kernel's ephemeral range,
//  for a broker that will be restarted on the same endpoint: no outgoing
//  connection (nor an agent connecting to itself while the broker is down)
//  can take it in between. 0 when none is found.
int th_port_outside_ephemeral(void);

//  Start a broker with exactly these arguments after the program name (a
//  NULL-terminated list) without waiting for anything. Its log is
//  env->logs[index]; returns the index.
int th_spawn(th_env_t *env, const char *const *args);

//  For a child between fork and exec: close every descriptor above stderr
//  up to maxfd (th_fd_limit(), taken before the fork), so that a program
//  under test holds none of the test's sockets. A connection the test
//  resets (a proxy's, tests/proof/netproxy.h) would otherwise stay open in
//  the child, and its reset would never be sent.
long th_fd_limit(void);
void th_close_fds(long maxfd);

//  Wait up to timeout_ms for process index to exit. Returns true and its
//  wait status if it did.
bool th_wait_exit(th_env_t *env, int index, int timeout_ms, int *status);

//  True while process index runs.
bool th_running(th_env_t *env, int index);

//  SIGTERM the current broker and require exit status 0.
void th_broker_stop(th_env_t *env);

//  SIGKILL the current broker and reap it.
void th_broker_kill(th_env_t *env);

//  Index of the current broker in env->procs.
int th_current(const th_env_t *env);

//  Whether a line of the current broker's log holds text.
bool th_log_has(th_env_t *env, const char *text);

//  A client for an agency, connected to the current broker with CURVE but
//  without HELLO (plain: no CURVE at all). Registered for cleanup.
truc_client_t *th_client(th_env_t *env, th_agency_t who, uint32_t window);
truc_client_t *th_client_plain(th_env_t *env, th_agency_t who, uint32_t window);
//  th_client for a slow consumer (truc_client_new_slow).
truc_client_t *th_client_slow(th_env_t *env, th_agency_t who, uint32_t window);

//  A client that sent HELLO and received READY (checked: version 1, the
//  agency's code, the broker's label). *ready (if not NULL) gets READY.
truc_client_t *th_connect(th_env_t *env, th_agency_t who, uint32_t window, proto_msg_t **ready);

//  Close a registered client and set *c to NULL.
void th_drop(th_env_t *env, truc_client_t **c);

//  The public keys of the broker.
const uint8_t *th_hub_sign_pk(const th_env_t *env);
const uint8_t *th_hub_curve_pk(const th_env_t *env);

//  Run a program (argv[0] is its path) with stdout and stderr captured in
//  out (NUL-terminated, truncated to outlen). Returns its wait status, or -1
//  if it could not run.
int th_run(th_env_t *env, const char *const *argv, char *out, size_t outlen);

//  Read a whole file into out (NUL-terminated, truncated). False if missing.
bool th_read_file(const char *path, char *out, size_t outlen);

//  A field of /proc/PID/status in kB ("VmRSS", "RssAnon", "RssFile"), -1
//  if it cannot be read (the process is gone).
long th_proc_kb(pid_t pid, const char *field);

//  Sleep, for tests that need the clock to move on (never to wait for a result).
void th_sleep_ms(int ms);

//  Case-insensitive substring search.
bool th_contains(const char *haystack, const char *needle);

//  "exit status 2", "killed by signal 9", ...
const char *th_status_text(int status, char *buf, size_t len);

//  Record a failure without stopping the test (printed at once); th_soft_done
//  fails the test if any were recorded.
void th_soft_fail(th_env_t *env, const char *file, int line, const char *format, ...)
    __attribute__((format(printf, 4, 5)));
void th_soft_done(th_env_t *env);

#define th_soft(env, cond, ...)                                                                    \
    do {                                                                                           \
        if (!(cond))                                                                               \
            th_soft_fail((env), __FILE__, __LINE__, __VA_ARGS__);                                  \
    } while (0)

//  Print a message and fail the test at once.
void th_print(const char *format, ...) __attribute__((format(printf, 1, 2)));

//  The failure is also kept, and said again after the teardown's log
//  dumps: the last lines of a failed run's output name its cause.
void th_failed(const char *file, int line, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

#define th_check(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            th_failed(__FILE__, __LINE__, __VA_ARGS__);                                            \
            fail_msg("%s", #cond);                                                                 \
        }                                                                                          \
    } while (0)

#endif
