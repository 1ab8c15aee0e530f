/*  test_loop.c - the reactor in proto/loop.h.

    Real inproc ZeroMQ sockets and real pipes: readers are called when
    something is there to read, timers run in deadline order on the
    monotonic clock, a handler may remove what the same turn has already
    polled, and the loop ends on a stop flag or a handler's -1. No
    assertion depends on how fast the machine is: timers are checked for
    order and for never firing early, not for firing on time.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "proto/loop.h"

#define S_MAX_CALLS 16

//  What the handlers saw, in the order they ran.
typedef struct {
    int calls[S_MAX_CALLS];
    size_t ncalls;
    int stop_after; // return -1 once ncalls reaches this (0: never)
    proto_loop_t *loop;
    int other_fd; // a reader the first handler removes
    void *other_socket;
    int cancel_id; // a timer the first handler cancels
    uint64_t fired_at[S_MAX_CALLS];
} s_log_t;

static int s_note(s_log_t *log, int what)
{
    assert_true(log->ncalls < S_MAX_CALLS);
    log->fired_at[log->ncalls] = proto_clock_mono_ms();
    log->calls[log->ncalls++] = what;
    return log->stop_after && (int) log->ncalls >= log->stop_after ? -1 : 0;
}

static int s_on_timer(proto_loop_t *loop, int id, void *arg)
{
    (void) loop;
    return s_note(arg, id);
}

static int s_on_fd(proto_loop_t *loop, void *socket, int fd, void *arg)
{
    (void) loop;
    assert_null(socket);
    char byte;
    assert_int_equal(read(fd, &byte, 1), 1);
    return s_note(arg, byte);
}

static int s_on_socket(proto_loop_t *loop, void *socket, int fd, void *arg)
{
    (void) loop;
    assert_int_equal(fd, -1);
    char buf[8];
    assert_int_equal(zmq_recv(socket, buf, sizeof buf, ZMQ_DONTWAIT), 1);
    return s_note(arg, buf[0]);
}

static void s_test_clocks(void **state)
{
    (void) state;
    uint64_t a = proto_clock_mono_ms();
    uint64_t b = proto_clock_mono_ms();
    assert_true(b >= a);
    uint64_t wall = proto_clock_wall_ms();
    uint64_t now = (uint64_t) time(NULL) * 1000u;
    assert_true(wall + 2000 > now && wall < now + 2000);
}

static void s_test_socket_and_fd(void **state)
{
    (void) state;
    void *ctx = zmq_ctx_new();
    void *rx = zmq_socket(ctx, ZMQ_PAIR), *tx = zmq_socket(ctx, ZMQ_PAIR);
    assert_int_equal(zmq_bind(rx, "inproc://test-loop-1"), 0);
    assert_int_equal(zmq_connect(tx, "inproc://test-loop-1"), 0);
    int pipe_fds[2];
    assert_int_equal(pipe(pipe_fds), 0);

    proto_loop_t *loop = proto_loop_new();
    assert_non_null(loop);
    s_log_t log = { .stop_after = 2 };
    assert_int_equal(proto_loop_socket_add(loop, rx, s_on_socket, &log), PROTO_OK);
    assert_int_equal(proto_loop_fd_add(loop, pipe_fds[0], s_on_fd, &log), PROTO_OK);
    //  The same socket or descriptor twice, or nothing at all, is refused.
    assert_int_equal(proto_loop_socket_add(loop, rx, s_on_socket, &log), PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_loop_fd_add(loop, pipe_fds[0], s_on_fd, &log), PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_loop_socket_add(loop, NULL, s_on_socket, &log), PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_loop_fd_add(loop, -1, s_on_fd, &log), PROTO_ERR_INVALID_ARG);
    assert_int_equal(proto_loop_fd_add(loop, 0, NULL, &log), PROTO_ERR_INVALID_ARG);

    assert_int_equal(zmq_send(tx, "s", 1, 0), 1);
    assert_int_equal(write(pipe_fds[1], "f", 1), 1);
    //  No timers: the loop sleeps until the readers wake it, then stops
    //  when the second handler returns -1.
    assert_int_equal(proto_loop_run(loop), PROTO_OK);
    assert_int_equal(log.ncalls, 2);
    bool saw_s = log.calls[0] == 's' || log.calls[1] == 's';
    bool saw_f = log.calls[0] == 'f' || log.calls[1] == 'f';
    assert_true(saw_s && saw_f);

    //  Removed readers are not watched any more.
    proto_loop_socket_remove(loop, rx);
    proto_loop_fd_remove(loop, pipe_fds[0]);
    assert_int_equal(zmq_send(tx, "s", 1, 0), 1);
    log.ncalls = 0;
    log.stop_after = 1;
    assert_true(proto_loop_timer_add(loop, 1, false, s_on_timer, &log) > 0);
    assert_int_equal(proto_loop_run(loop), PROTO_OK);
    assert_int_equal(log.ncalls, 1);
    assert_true(log.calls[0] > 0); // the timer, not the socket

    proto_loop_destroy(&loop);
    assert_null(loop);
    proto_loop_destroy(&loop);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    zmq_close(rx);
    zmq_close(tx);
    zmq_ctx_term(ctx);
}

static void s_test_timer_order(void **state)
{
    (void) state;
    proto_loop_t *loop = proto_loop_new();
    s_log_t log = { .stop_after = 4 };
    uint64_t start = proto_clock_mono_ms();
    int late = proto_loop_timer_add(loop, 60, false, s_on_timer, &log);
    int early = proto_loop_timer_add(loop, 20, false, s_on_timer, &log);
    int middle = proto_loop_timer_add(loop, 40, false, s_on_timer, &log);
    int first = proto_loop_timer_add(loop, 0, false, s_on_timer, &log);
    assert_true(late > 0 && early > 0 && middle > 0 && first > 0);
    assert_int_equal(proto_loop_timer_add(loop, 10, false, NULL, &log), -1);
    assert_int_equal(proto_loop_timer_add(loop, 0, true, s_on_timer, &log), -1);
    assert_int_equal(proto_loop_run(loop), PROTO_OK);
    assert_int_equal(log.ncalls, 4);
    assert_int_equal(log.calls[0], first);
    assert_int_equal(log.calls[1], early);
    assert_int_equal(log.calls[2], middle);
    assert_int_equal(log.calls[3], late);
    //  Never early: the poll timeout comes from the earliest deadline.
    assert_true(log.fired_at[1] >= start + 20);
    assert_true(log.fired_at[2] >= start + 40);
    assert_true(log.fired_at[3] >= start + 60);
    proto_loop_destroy(&loop);
}

//  A repeating timer that cancels itself on its third run.
static int s_on_repeat(proto_loop_t *loop, int id, void *arg)
{
    s_log_t *log = arg;
    s_note(log, id);
    if (log->ncalls == 3)
        proto_loop_timer_cancel(loop, id);
    return 0;
}

static int s_on_stop(proto_loop_t *loop, int id, void *arg)
{
    (void) id;
    (void) arg;
    proto_loop_stop(loop);
    return 0;
}

static void s_test_repeat_and_cancel(void **state)
{
    (void) state;
    proto_loop_t *loop = proto_loop_new();
    s_log_t log = { 0 };
    uint64_t start = proto_clock_mono_ms();
    int repeat = proto_loop_timer_add(loop, 5, true, s_on_repeat, &log);
    int cancelled = proto_loop_timer_add(loop, 10, false, s_on_timer, &log);
    assert_true(repeat > 0 && cancelled > repeat);
    proto_loop_timer_cancel(loop, cancelled);
    proto_loop_timer_cancel(loop, 0);     // harmless
    proto_loop_timer_cancel(loop, 12345); // harmless
    //  Long enough for many more repeats had the cancel not held.
    assert_true(proto_loop_timer_add(loop, 200, false, s_on_stop, NULL) > 0);
    assert_int_equal(proto_loop_run(loop), PROTO_OK);
    assert_int_equal(log.ncalls, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(log.calls[i], repeat);
    //  Each run is rescheduled from the turn that ran it, which may come a
    //  little before the handler notes its time: so never early against
    //  the start, 5 ms per run, rather than 5 ms after the last note.
    for (size_t i = 0; i < 3; i++)
        assert_true(log.fired_at[i] >= start + 5 * (i + 1));
    proto_loop_destroy(&loop);
}

//  Removes the other reader, which this turn has polled readable too, and
//  cancels a timer already due.
static int s_on_fd_remove_other(proto_loop_t *loop, void *socket, int fd, void *arg)
{
    s_log_t *log = arg;
    s_on_fd(loop, socket, fd, arg);
    if (log->other_socket)
        proto_loop_socket_remove(loop, log->other_socket);
    proto_loop_fd_remove(loop, log->other_fd);
    proto_loop_fd_remove(loop, fd); // and itself
    proto_loop_timer_cancel(loop, log->cancel_id);
    return 0;
}

static void s_test_remove_during_dispatch(void **state)
{
    (void) state;
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    proto_loop_t *loop = proto_loop_new();
    s_log_t log = { .other_fd = b[0] };
    assert_int_equal(proto_loop_fd_add(loop, a[0], s_on_fd_remove_other, &log), PROTO_OK);
    assert_int_equal(proto_loop_fd_add(loop, b[0], s_on_fd, &log), PROTO_OK);
    log.cancel_id = proto_loop_timer_add(loop, 0, false, s_on_timer, &log);
    assert_int_equal(write(a[1], "a", 1), 1);
    assert_int_equal(write(b[1], "b", 1), 1);
    //  Let the timer fall due before the turn, so it is cancelled while due.
    uint64_t start = proto_clock_mono_ms();
    while (proto_clock_mono_ms() < start + 2)
        ;
    assert_true(proto_loop_timer_add(loop, 50, false, s_on_stop, NULL) > 0);
    assert_int_equal(proto_loop_run(loop), PROTO_OK);
    //  Only the first reader ran: the second was removed after the poll
    //  that saw it readable, and the due timer was cancelled.
    assert_int_equal(log.ncalls, 1);
    assert_int_equal(log.calls[0], 'a');
    //  A removed descriptor may be added again, with another handler.
    assert_int_equal(proto_loop_fd_add(loop, b[0], s_on_fd, &log), PROTO_OK);
    log.stop_after = 2;
    assert_int_equal(proto_loop_run(loop), PROTO_OK);
    assert_int_equal(log.calls[1], 'b');
    proto_loop_destroy(&loop);
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
}

//  Re-arms itself with no delay: each run must come in a later turn.
static int s_on_rearm(proto_loop_t *loop, int id, void *arg)
{
    s_log_t *log = arg;
    (void) id;
    if (s_note(log, id) != 0)
        return -1;
    assert_true(proto_loop_timer_add(loop, 0, false, s_on_rearm, log) > 0);
    return 0;
}

static int s_count_turns(proto_loop_t *loop, void *arg)
{
    (void) loop;
    (*(int *) arg)++;
    return 0;
}

static void s_test_added_in_handler_waits_a_turn(void **state)
{
    (void) state;
    proto_loop_t *loop = proto_loop_new();
    s_log_t log = { .stop_after = 5 };
    int turns = 0;
    proto_loop_turn_set(loop, s_count_turns, &turns);
    assert_true(proto_loop_timer_add(loop, 0, false, s_on_rearm, &log) > 0);
    assert_int_equal(proto_loop_run(loop), PROTO_OK);
    assert_int_equal(log.ncalls, 5);
    //  One run per turn, and the turn handler ran after each (the last
    //  too: it batches what the stopping handler left behind).
    assert_int_equal(turns, 5);
    for (size_t i = 1; i < 5; i++)
        assert_true(log.calls[i] > log.calls[i - 1]);
    proto_loop_destroy(&loop);
}

//  Stops once the timer has run (a poll may wake before it is due).
static int s_turn_stops(proto_loop_t *loop, void *arg)
{
    (void) loop;
    return ((s_log_t *) arg)->ncalls > 0 ? -1 : 0;
}

static void s_test_stop(void **state)
{
    (void) state;
    proto_loop_t *loop = proto_loop_new();
    //  Stopped before it runs: returns at once although nothing would ever
    //  wake it, and the flag is cleared for the next run.
    proto_loop_stop(loop);
    assert_int_equal(proto_loop_run(loop), PROTO_OK);
    //  A turn handler may stop the loop too.
    s_log_t log = { 0 };
    proto_loop_turn_set(loop, s_turn_stops, &log);
    assert_true(proto_loop_timer_add(loop, 1, true, s_on_timer, &log) > 0);
    assert_int_equal(proto_loop_run(loop), PROTO_OK);
    assert_int_equal(log.ncalls, 1);
    //  And the stop flag from a handler ends the turn's other timers.
    proto_loop_turn_set(loop, NULL, NULL);
    proto_loop_t *other = proto_loop_new();
    assert_true(proto_loop_timer_add(other, 0, false, s_on_stop, NULL) > 0);
    assert_true(proto_loop_timer_add(other, 0, false, s_on_timer, &log) > 0);
    log.ncalls = 0;
    assert_int_equal(proto_loop_run(other), PROTO_OK);
    assert_int_equal(log.ncalls, 0);
    proto_loop_destroy(&other);
    proto_loop_destroy(&loop);
}

static void s_test_pause(void **state)
{
    (void) state;
    void *ctx = zmq_ctx_new();
    void *rx = zmq_socket(ctx, ZMQ_PAIR), *tx = zmq_socket(ctx, ZMQ_PAIR);
    assert_int_equal(zmq_bind(rx, "inproc://test-loop-pause"), 0);
    assert_int_equal(zmq_connect(tx, "inproc://test-loop-pause"), 0);
    proto_loop_t *loop = proto_loop_new();
    s_log_t log = { .stop_after = 1 };
    assert_int_equal(proto_loop_socket_add(loop, rx, s_on_socket, &log), PROTO_OK);
    proto_loop_socket_pause(loop, rx, true);
    proto_loop_socket_pause(loop, tx, true); // not watched: harmless
    assert_int_equal(zmq_send(tx, "p", 1, 0), 1);
    //  Paused: the message waits, the timer ends the run.
    int timer = proto_loop_timer_add(loop, 50, false, s_on_timer, &log);
    assert_int_equal(proto_loop_run(loop), PROTO_OK);
    assert_int_equal(log.ncalls, 1);
    assert_int_equal(log.calls[0], timer);
    //  Resumed: the message that waited is read.
    proto_loop_socket_pause(loop, rx, false);
    log.ncalls = 0;
    assert_int_equal(proto_loop_run(loop), PROTO_OK);
    assert_int_equal(log.ncalls, 1);
    assert_int_equal(log.calls[0], 'p');
    proto_loop_destroy(&loop);
    zmq_close(rx);
    zmq_close(tx);
    zmq_ctx_term(ctx);
}

//  Asks for a wake-up 20 ms after each turn; stops after the fourth.
static int s_turn_wakes(proto_loop_t *loop, void *arg)
{
    s_log_t *log = arg;
    if (s_note(log, 'w') != 0)
        return -1;
    proto_loop_wake_at(loop, proto_clock_mono_ms() + 20);
    proto_loop_wake_at(loop, UINT64_MAX - 1); // a later one does not count
    return 0;
}

static void s_test_wake_at(void **state)
{
    (void) state;
    proto_loop_t *loop = proto_loop_new();
    s_log_t log = { .stop_after = 4 };
    //  No readers, no timers: only wake_at brings the next turn.
    proto_loop_turn_set(loop, s_turn_wakes, &log);
    assert_true(proto_loop_timer_add(loop, 0, false, s_on_timer, &log) > 0);
    log.stop_after = 5;
    assert_int_equal(proto_loop_run(loop), PROTO_OK);
    assert_int_equal(log.ncalls, 5); // the timer, then four turns
    for (size_t i = 3; i < 5; i++)
        assert_true(log.fired_at[i] >= log.fired_at[i - 1] + 20);
    proto_loop_destroy(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(s_test_clocks),
        cmocka_unit_test(s_test_socket_and_fd),
        cmocka_unit_test(s_test_timer_order),
        cmocka_unit_test(s_test_repeat_and_cancel),
        cmocka_unit_test(s_test_remove_during_dispatch),
        cmocka_unit_test(s_test_added_in_handler_waits_a_turn),
        cmocka_unit_test(s_test_stop),
        cmocka_unit_test(s_test_pause),
        cmocka_unit_test(s_test_wake_at),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
