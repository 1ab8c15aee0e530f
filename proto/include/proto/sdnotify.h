/*  proto/sdnotify.h - telling systemd how a daemon is doing.

    Both daemons run as Type=notify services (deploy/systemd): they say
    READY=1 once they serve (store open, sockets bound, loop about to run),
    STOPPING=1 when a stop begins, a short STATUS= line for `systemctl
    status`, and WATCHDOG=1 from their loop at half the interval systemd
    asks for, so a loop that hangs is killed and restarted.

    Everything here is a no-op outside systemd (no NOTIFY_SOCKET in the
    environment), so the daemons call it unconditionally. Notification is
    best effort: a failure is logged once and never stops a daemon.
*/
#ifndef PROTO_SDNOTIFY_H
#define PROTO_SDNOTIFY_H

#include <stdint.h>

#include "proto/err.h"
#include "proto/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Send state (newline-separated VAR=value assignments, e.g.
//  "READY=1\nSTATUS=serving") as one datagram to $NOTIFY_SOCKET. Returns
//  PROTO_OK when sent or when there is no NOTIFY_SOCKET,
//  PROTO_ERR_CONFIG for a NOTIFY_SOCKET that is not a unix socket path
//  ("/..." or "@abstract"), PROTO_ERR_SYSTEM when the send fails (errno
//  logged at warning level, once per process).
proto_err_t proto_sd_notify(const char *state);

//  The same with a printf format. A state longer than 1 KiB is cut.
proto_err_t proto_sd_notifyf(const char *format, ...) __attribute__((format(printf, 1, 2)));

//  The watchdog interval systemd asks this process for, in milliseconds:
//  $WATCHDOG_USEC rounded down, when $WATCHDOG_PID is unset or names this
//  process; 0 when there is no watchdog (or the values are not numbers).
uint64_t proto_sd_watchdog_ms(void);

//  The daemon serves: start the watchdog on loop (a repeating timer that
//  sends WATCHDOG=1 every half interval, only if proto_sd_watchdog_ms() is
//  not 0), then send READY=1 with STATUS=status (borrowed; NULL for none).
//  Call it once, on the loop's thread, after every socket is bound and
//  before proto_loop_run. Returns the timer's id, 0 without a watchdog, or
//  -1 if the timer could not be added (out of memory; READY=1 is still
//  sent).
int proto_sd_ready(proto_loop_t *loop, const char *status);

//  A stop has begun: STOPPING=1 with STATUS=status (NULL for none).
void proto_sd_stopping(const char *status);

#ifdef __cplusplus
}
#endif
#endif
