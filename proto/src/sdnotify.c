/*  sdnotify.c - the sd_notify datagram protocol, spoken directly.

    systemd documents the protocol behind sd_notify(3) as a stable
    interface: one AF_UNIX datagram of newline-separated VAR=value lines
    to the socket named by $NOTIFY_SOCKET (a path, or '@' for the abstract
    namespace), with the watchdog's interval in $WATCHDOG_USEC and
    $WATCHDOG_PID. We speak it here instead of linking libsystemd because
    it is a few dozen lines, because every program links this library
    (truc, truc-keys, truc-doc) and none of them should pull libsystemd in
    for it, and because the daemons then build and behave the same on a
    host without systemd: no NOTIFY_SOCKET, nothing sent. The tests bind
    their own socket and read exactly what a service manager would.

    Owns no state but the "already warned" flag: each notification opens,
    sends on and closes its own socket, as libsystemd does, so a service
    manager that restarts (daemon-reexec) is found again at the next one.
    Does not do file-descriptor passing or the newer vsock addresses.
*/
#include "proto/sdnotify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "proto/log.h"

#define SD_STATE_MAX 1024

static atomic_bool s_warned;

//  Log a failed notification once: systemd will act on what it misses
//  (a start timeout, a watchdog kill), and a line per heartbeat would
//  drown the reason.
static void s_warn_once(const char *what, int err)
{
    if (!atomic_exchange(&s_warned, true))
        proto_log_warning("event=sd_notify_failed what=%s errno=%d reason=\"%s\"", what, err,
                          strerror(err));
}

proto_err_t proto_sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path || !state)
        return PROTO_OK;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len < 2 || len >= sizeof addr.sun_path) {
        s_warn_once("address", EINVAL);
        return PROTO_ERR_CONFIG;
    }
    memcpy(addr.sun_path, path, len);
    if (path[0] == '@')
        addr.sun_path[0] = '\0'; // the abstract namespace, not NUL-terminated
    socklen_t addr_len =
        (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/' ? 1 : 0));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        s_warn_once("socket", errno);
        return PROTO_ERR_SYSTEM;
    }
    ssize_t sent =
        sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *) &addr, addr_len);
    int err = errno;
    close(fd);
    if (sent < 0) {
        s_warn_once("sendto", err);
        return PROTO_ERR_SYSTEM;
    }
    return PROTO_OK;
}

proto_err_t proto_sd_notifyf(const char *format, ...)
{
    char state[SD_STATE_MAX];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(state, sizeof state, format, args);
    va_end(args);
    return n < 0 ? PROTO_ERR_INVALID_ARG : proto_sd_notify(state);
}

//  A whole decimal number from the environment; false if absent or not
//  one.
static bool s_env_u64(const char *name, uint64_t *out)
{
    const char *text = getenv(name);
    if (!text || *text < '0' || *text > '9')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || *end)
        return false;
    *out = value;
    return true;
}

uint64_t proto_sd_watchdog_ms(void)
{
    uint64_t usec = 0, pid = 0;
    if (!s_env_u64("WATCHDOG_USEC", &usec))
        return 0;
    //  WATCHDOG_PID names the process systemd watches; a child that
    //  inherited the environment must not ping for it.
    if (getenv("WATCHDOG_PID") && (!s_env_u64("WATCHDOG_PID", &pid) || pid != (uint64_t) getpid()))
        return 0;
    return usec / 1000;
}

static int s_on_watchdog(proto_loop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    (void) arg;
    (void) proto_sd_notify("WATCHDOG=1");
    return 0;
}

int proto_sd_ready(proto_loop_t *loop, const char *status)
{
    uint64_t interval = proto_sd_watchdog_ms();
    int timer = 0;
    if (interval > 0) {
        //  Half the interval, as sd_watchdog_enabled(3) advises: one late
        //  turn of the loop must not look like a hang. The timer runs on
        //  the loop, so a loop stuck in a handler stops the pings.
        uint64_t every = interval / 2 > 0 ? interval / 2 : 1;
        timer = loop ? proto_loop_timer_add(loop, every, true, s_on_watchdog, NULL) : -1;
        if (timer < 0)
            proto_log_error("event=watchdog_failed error=ERR_NOMEM");
        else
            proto_log_info("event=watchdog interval_ms=%llu ping_ms=%llu",
                           (unsigned long long) interval, (unsigned long long) every);
    }
    if (status)
        (void) proto_sd_notifyf("READY=1\nSTATUS=%s", status);
    else
        (void) proto_sd_notify("READY=1");
    return timer;
}

void proto_sd_stopping(const char *status)
{
    if (status)
        (void) proto_sd_notifyf("STOPPING=1\nSTATUS=%s", status);
    else
        (void) proto_sd_notify("STOPPING=1");
}
