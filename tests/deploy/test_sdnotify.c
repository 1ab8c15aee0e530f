/*  tests/deploy/test_sdnotify.c - truc-broker and truc-agent as systemd
    Type=notify services, and their log lines under journald.

    The test plays the service manager: it binds a unix datagram socket,
    starts the real daemons with NOTIFY_SOCKET naming it and WATCHDOG_USEC
    set, and reads what they send, as systemd would.

      notify_broker   READY=1 arrives once the agents' endpoint accepts
                      (a TCP connect made the moment READY is read
                      succeeds), with a STATUS= line; WATCHDOG=1 keeps
                      arriving from the loop; STOPPING=1 at SIGTERM.
      notify_agent    the same for truc-agent: its local API socket
                      accepts when READY=1 arrives; watchdog; STOPPING=1.
      journal_priority with JOURNAL_STREAM naming stderr's device and inode
                      (what systemd sets when stderr is the journal),
                      info lines start with <6> and the error line of a
                      refused start with <3>; with a JOURNAL_STREAM that
                      names another file the lines are unchanged.

    Nothing asserts on time: each wait has a generous deadline that only
    fails a test when a message never comes.

    Usage: test_sdnotify TRUC_BROKER TRUC_KEYS TRUC_AGENT [TEST_NAME]
*/
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_harness.h"

#define S_WATCHDOG_USEC "1000000" // pings every half second
#define S_PINGS         3         // WATCHDOG=1 seen after READY=1 before we are content

// ---------------------------------------------------------------------------
//  The service manager's side: a datagram socket read on a thread

typedef struct {
    int fd;                 // the bound datagram socket
    char path[TH_PATH_MAX]; // its file
    int port;               // at READY=1: connect to 127.0.0.1:port (if not 0)
    char unix_path[100];    // at READY=1: connect to this stream socket (if set)
    pthread_mutex_t lock;   //
    int ready, pings, stopping, pings_before_ready;
    int accepted_at_ready; // -1 before READY, then 1 if the connect succeeded
    char status[256];      // the last STATUS= text
    char other[256];       // the first line that is none of the above
    volatile bool stop;    // ends the thread
    pthread_t thread;
} s_manager_t;

//  Whether something accepts a connection right now.
static bool s_accepts(const s_manager_t *m)
{
    int fd;
    bool ok;
    if (m->port) {
        struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t) m->port) };
        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ok = fd >= 0 && connect(fd, (struct sockaddr *) &in, sizeof in) == 0;
    } else {
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        memcpy(un.sun_path, m->unix_path, sizeof m->unix_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ok = fd >= 0 && connect(fd, (struct sockaddr *) &un, sizeof un) == 0;
    }
    if (fd >= 0)
        close(fd);
    return ok;
}

static void s_manager_line(s_manager_t *m, const char *line)
{
    if (strcmp(line, "READY=1") == 0) {
        //  Before anything else: this is the moment systemd would start
        //  what depends on the daemon.
        int accepted = s_accepts(m) ? 1 : 0;
        pthread_mutex_lock(&m->lock);
        m->ready++;
        m->accepted_at_ready = accepted;
        pthread_mutex_unlock(&m->lock);
        return;
    }
    pthread_mutex_lock(&m->lock);
    if (strcmp(line, "WATCHDOG=1") == 0) {
        m->pings++;
        m->pings_before_ready += m->ready == 0;
    } else if (strcmp(line, "STOPPING=1") == 0) {
        m->stopping++;
    } else if (strncmp(line, "STATUS=", 7) == 0) {
        snprintf(m->status, sizeof m->status, "%s", line + 7);
    } else if (!m->other[0]) {
        snprintf(m->other, sizeof m->other, "%s", line);
    }
    pthread_mutex_unlock(&m->lock);
}

static void *s_manager_thread(void *arg)
{
    s_manager_t *m = arg;
    char buf[4096];
    while (!m->stop) {
        struct pollfd p = { m->fd, POLLIN, 0 };
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(m->fd, buf, sizeof buf - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            s_manager_line(m, line);
    }
    return NULL;
}

//  Bind ROOT/notify.sock, start reading it, and put it in the environment
//  the daemons inherit, with the watchdog interval.
static void s_manager_start(s_manager_t *m, const char *root)
{
    memset(m, 0, sizeof *m);
    m->accepted_at_ready = -1;
    pthread_mutex_init(&m->lock, NULL);
    snprintf(m->path, sizeof m->path, "%s/notify.sock", root);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    th_check(strlen(m->path) < sizeof un.sun_path, "%s is too long for a socket", m->path);
    memcpy(un.sun_path, m->path, strlen(m->path) + 1);
    m->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    th_check(m->fd >= 0 && bind(m->fd, (struct sockaddr *) &un, sizeof un) == 0, "bind %s: %s",
             m->path, strerror(errno));
    th_check(pthread_create(&m->thread, NULL, s_manager_thread, m) == 0, "pthread_create");
    setenv("NOTIFY_SOCKET", m->path, 1);
    setenv("WATCHDOG_USEC", S_WATCHDOG_USEC, 1);
}

static void s_manager_stop(s_manager_t *m)
{
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    m->stop = true;
    pthread_join(m->thread, NULL);
    close(m->fd);
    pthread_mutex_destroy(&m->lock);
}

//  A snapshot of what the manager has read.
static s_manager_t s_seen(s_manager_t *m)
{
    pthread_mutex_lock(&m->lock);
    s_manager_t copy = *m;
    pthread_mutex_unlock(&m->lock);
    return copy;
}

//  Wait until READY=1 and then S_PINGS watchdog pings have come.
static void s_expect_ready_and_pings(s_manager_t *m, const char *who)
{
    s_manager_t seen;
    for (int waited = 0;; waited += AH_POLL_MS) {
        seen = s_seen(m);
        if (seen.ready && seen.pings - seen.pings_before_ready >= S_PINGS)
            break;
        th_check(waited < AH_WAIT_MS,
                 "%s: after %d ms READY=1 seen %d times and %d WATCHDOG=1 after it (%s)", who,
                 AH_WAIT_MS, seen.ready, seen.pings - seen.pings_before_ready, seen.other);
        th_sleep_ms(AH_POLL_MS);
    }
    th_check(seen.ready == 1, "%s: READY=1 came %d times", who, seen.ready);
    th_check(seen.accepted_at_ready == 1, "%s: READY=1 came before its socket accepted", who);
    th_check(seen.status[0], "%s: READY=1 came without a STATUS= line", who);
    th_check(seen.pings_before_ready == 0, "%s: %d WATCHDOG=1 before READY=1", who,
             seen.pings_before_ready);
    th_check(!seen.other[0], "%s: an unexpected notification '%s'", who, seen.other);
    th_check(seen.stopping == 0, "%s: STOPPING=1 before any stop", who);
    print_message("%s: READY=1 (status '%s'), %d watchdog pings so far\n", who, seen.status,
                  seen.pings);
}

//  After the daemon has exited: STOPPING=1 came (the datagram was sent
//  before the exit; the thread may not have read it yet).
static void s_expect_stopping(s_manager_t *m, const char *who)
{
    for (int waited = 0; s_seen(m).stopping == 0; waited += AH_POLL_MS) {
        th_check(waited < AH_WAIT_MS, "%s: no STOPPING=1 after SIGTERM", who);
        th_sleep_ms(AH_POLL_MS);
    }
    s_manager_t seen = s_seen(m);
    th_check(seen.stopping == 1, "%s: STOPPING=1 came %d times", who, seen.stopping);
    print_message("%s: STOPPING=1 (status '%s')\n", who, seen.status);
}

// ---------------------------------------------------------------------------

static void test_notify_broker(void **state)
{
    ah_env_t *env = *state;
    s_manager_t m;
    s_manager_start(&m, env->th->root);
    int port = th_port_outside_ephemeral();
    th_check(port > 0, "no free port on 127.0.0.1");
    snprintf(env->broker_endpoint, sizeof env->broker_endpoint, "tcp://127.0.0.1:%d", port);
    m.port = port;
    ah_broker_start(env);
    s_expect_ready_and_pings(&m, "truc-broker");
    th_check(strstr(s_seen(&m).status, env->broker_endpoint) != NULL,
             "the broker's STATUS '%s' does not name its endpoint", s_seen(&m).status);
    ah_broker_stop(env);
    s_expect_stopping(&m, "truc-broker");
    s_manager_stop(&m);
    ah_pass(env);
}

static void test_notify_agent(void **state)
{
    ah_env_t *env = *state;
    ah_broker_start(env); // not under the test's manager
    s_manager_t m;
    s_manager_start(&m, env->th->root);
    ah_agent_t *a = ah_agent_new(env, TH_A, NULL, 0, NULL);
    snprintf(m.unix_path, sizeof m.unix_path, "%s/api.sock", ah_agent_data(a));
    ah_agent_start(a);
    s_expect_ready_and_pings(&m, "truc-agent");
    th_check(strstr(s_seen(&m).status, th_code(TH_A)) != NULL,
             "the agent's STATUS '%s' does not name its agency", s_seen(&m).status);
    ah_agent_stop(a);
    s_expect_stopping(&m, "truc-agent");
    s_manager_stop(&m);
    ah_broker_stop(env);
    ah_pass(env);
}

//  Make path (the log a process will get as stderr; O_TRUNC keeps its
//  inode) and set JOURNAL_STREAM to its device and inode, or to another
//  file's when match is false.
static void s_journal_for(const char *path, bool match)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    th_check(fd >= 0, "create %s: %s", path, strerror(errno));
    close(fd);
    struct stat st;
    th_check(stat(match ? path : "/", &st) == 0, "stat: %s", strerror(errno));
    char value[64];
    snprintf(value, sizeof value, "%llu:%llu", (unsigned long long) st.st_dev,
             (unsigned long long) st.st_ino);
    setenv("JOURNAL_STREAM", value, 1);
}

//  The first line of the log at path that contains needle, or "".
static void s_log_line(const char *path, const char *needle, char *out, size_t len)
{
    static char text[1 << 20];
    out[0] = '\0';
    th_check(th_read_file(path, text, sizeof text), "cannot read %s", path);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strstr(line, needle)) {
            snprintf(out, len, "%s", line);
            return;
        }
    }
}

static void test_journal_priority(void **state)
{
    ah_env_t *env = *state;
    th_env_t *th = env->th;
    char log[TH_PATH_MAX + 32], line[2048];

    //  The broker's own log (broker-0.log) is the journal: info is <6>.
    snprintf(log, sizeof log, "%s/broker-0.log", th->root);
    s_journal_for(log, true);
    ah_broker_start(env);
    s_log_line(log, "level=info", line, sizeof line);
    th_check(strncmp(line, "<6>ts=", 6) == 0, "an info line in the journal reads '%s'", line);

    //  A second broker on the same data directory refuses to start: its
    //  error line is <3>, so `journalctl -p err` shows it.
    snprintf(log, sizeof log, "%s/broker-1.log", th->root);
    s_journal_for(log, true);
    const char *args[] = { "--config", th->config, NULL };
    int index = th_spawn(th, args), status = 0;
    th_check(th_wait_exit(th, index, TH_STOP_TIMEOUT_MS, &status), "the second broker runs on");
    s_log_line(log, "event=refused", line, sizeof line);
    th_check(strncmp(line, "<3>ts=", 6) == 0 && strstr(line, "level=error"),
             "the refusal in the journal reads '%s'", line);

    //  JOURNAL_STREAM names another file: stderr is not the journal, the
    //  lines stay as they are.
    snprintf(log, sizeof log, "%s/broker-2.log", th->root);
    s_journal_for(log, false);
    index = th_spawn(th, args);
    th_check(th_wait_exit(th, index, TH_STOP_TIMEOUT_MS, &status), "the third broker runs on");
    s_log_line(log, "event=refused", line, sizeof line);
    th_check(strncmp(line, "ts=", 3) == 0, "a refusal outside the journal reads '%s'", line);
    unsetenv("JOURNAL_STREAM");
    ah_broker_stop(env);
    ah_pass(env);
}

#define S_TEST(f) cmocka_unit_test_setup_teardown(f, ah_setup, ah_teardown)

int main(int argc, char **argv)
{
    const char *filter;
    int rc = th_main_start(argc, argv, "test_sdnotify", &filter, "TRUC_BROKER", &th_broker_path,
                           "TRUC_KEYS", &th_keys_path, "TRUC_AGENT", &ah_agent_path, NULL);
    if (rc)
        return rc;
    //  Whatever systemd gave the test runner is not for the daemons here.
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    unsetenv("JOURNAL_STREAM");
    const struct CMUnitTest tests[] = {
        S_TEST(test_notify_broker),
        S_TEST(test_notify_agent),
        S_TEST(test_journal_priority),
    };
    return th_run_tests("test_sdnotify", "systemd notification and journald priorities", tests,
                        sizeof tests / sizeof tests[0], filter);
}
