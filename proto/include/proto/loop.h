/*  proto/loop.h - the one reactor both daemons run on.

    A loop owns a list of readers (ZeroMQ sockets or file descriptors, each
    with a handler called when it is readable) and a list of timers on the
    monotonic clock (one-shot or repeating, each with a handler). It sleeps
    in zmq_poll exactly until the earliest timer is due or a reader wakes
    it, so nothing polls on a fixed tick. Handlers may add and remove
    readers and timers, and stop the loop, while it dispatches.

    The loop owns no socket and no descriptor: it only watches them. It is
    not thread-safe; one thread builds, runs and destroys it. It knows
    nothing of what the daemons do; the wall clock is here only so that
    both daemons read it through one function.
*/
#ifndef PROTO_LOOP_H
#define PROTO_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct proto_loop proto_loop_t;

//  Called when a reader is readable: socket is the ZeroMQ socket it was
//  added with (NULL for a descriptor), fd the descriptor (-1 for a socket).
//  Return 0 to go on, -1 to stop the loop.
typedef int(proto_loop_reader_fn)(proto_loop_t *loop, void *socket, int fd, void *arg);

//  Called when a timer is due, with the id proto_loop_timer_add returned.
//  Return 0 to go on, -1 to stop the loop.
typedef int(proto_loop_timer_fn)(proto_loop_t *loop, int timer_id, void *arg);

//  Called once after every turn (a wake-up and the handlers it ran), before
//  the loop sleeps again: work that batches what the handlers left behind
//  (a commit, a flush). Return 0 to go on, -1 to stop the loop.
typedef int(proto_loop_turn_fn)(proto_loop_t *loop, void *arg);

//  Milliseconds on CLOCK_BOOTTIME: never stepped by NTP or an operator, and
//  it goes on counting while the machine is suspended, so a peer silent
//  across a suspend looks silent. For every timer and timeout.
uint64_t proto_clock_mono_ms(void);

//  Milliseconds since the Unix epoch (CLOCK_REALTIME): for timestamps that
//  people and documents read, never for a timeout.
uint64_t proto_clock_wall_ms(void);

//  Create an empty loop. Returns NULL if out of memory.
proto_loop_t *proto_loop_new(void);

//  Destroy the loop and set *self_p to NULL. Safe on NULL. Sockets and
//  descriptors it watched stay open: they belong to the caller. Must not be
//  called from a handler of this loop.
void proto_loop_destroy(proto_loop_t **self_p);

//  Call handler with arg whenever the ZeroMQ socket (borrowed; it must stay
//  open until removed) has a message to read. A socket may be added once.
//  Returns PROTO_ERR_INVALID_ARG for a NULL socket or handler or a socket
//  already watched, PROTO_ERR_NOMEM if out of memory.
proto_err_t proto_loop_socket_add(proto_loop_t *self, void *socket, proto_loop_reader_fn *handler,
                                  void *arg);

//  The same for a file descriptor (a pipe, a signal pipe): handler is called
//  whenever fd is readable. Same errors, for fd < 0 too.
proto_err_t proto_loop_fd_add(proto_loop_t *self, int fd, proto_loop_reader_fn *handler, void *arg);

//  Stop watching socket (or fd). Harmless if it is not watched. Safe from a
//  handler, including the socket's own: once removed, the handler is not
//  called again, not even for an event already polled in this turn, so the
//  caller may close the socket at once.
void proto_loop_socket_remove(proto_loop_t *self, void *socket);
void proto_loop_fd_remove(proto_loop_t *self, int fd);

//  Pause (or resume) a watched socket: while paused it stays in its place
//  among the readers but is not polled, so what waits in it stays there
//  (intake held back while the daemon is saturated). Harmless if socket is
//  not watched. Takes effect from the next poll.
void proto_loop_socket_pause(proto_loop_t *self, void *socket, bool paused);

//  Call handler with arg after delay_ms on the monotonic clock; with repeat,
//  every delay_ms after that until cancelled (a repeating timer needs
//  delay_ms >= 1). Timers due in the same turn run in deadline order, ties
//  in the order they were added; a timer added by a handler runs in a later
//  turn at the earliest. Returns the timer's id (> 0), or -1 if out of
//  memory or for a NULL handler.
int proto_loop_timer_add(proto_loop_t *self, uint64_t delay_ms, bool repeat,
                         proto_loop_timer_fn *handler, void *arg);

//  Cancel a timer by id; a one-shot timer that has run is already gone.
//  Harmless for an unknown id or 0. Safe from any handler, including the
//  timer's own.
void proto_loop_timer_cancel(proto_loop_t *self, int timer_id);

//  Make the next poll return by when (proto_clock_mono_ms) at the latest,
//  whatever the timers say; the earliest of several calls counts. It holds
//  for one poll only: a turn handler that recomputes its deadline after
//  every turn (a session's next timeout, a batch falling due) calls it
//  every time, instead of cancelling and adding a timer.
void proto_loop_wake_at(proto_loop_t *self, uint64_t when);

//  Call handler with arg after every turn (NULL for none).
void proto_loop_turn_set(proto_loop_t *self, proto_loop_turn_fn *handler, void *arg);

//  Run until proto_loop_stop is called or a handler returns -1. Returns
//  PROTO_OK then (and clears the stop flag, so the loop may be run again),
//  or PROTO_ERR_SYSTEM if zmq_poll fails for a reason other than a signal
//  (logged with libzmq's errno). A stop requested before the call makes it
//  return at once.
proto_err_t proto_loop_run(proto_loop_t *self);

//  Ask the loop to return once the handler now running (if any) returns.
//  Only from the loop's thread; a signal handler writes to a pipe the loop
//  watches instead.
void proto_loop_stop(proto_loop_t *self);

#ifdef __cplusplus
}
#endif
#endif
