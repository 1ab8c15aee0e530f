/*  proto/log.h - key=value logging shared by every truc program.

    Each line goes to stderr as one write(2), so lines from worker threads
    never interleave, and looks like:

        ts=2026-11-21T08:30:00.123Z level=info prog=truc-broker event=accepted doc=...

    The caller supplies everything after "prog=" as a printf format of
    key=value pairs. proto_log checks the level before it evaluates its
    arguments, so debug lines cost nothing when debug is off. Never log key
    material, full signatures or document bodies.

    Under systemd, when stderr is the journal ($JOURNAL_STREAM names
    stderr's device and inode), each line is prefixed with its syslog
    priority in angle brackets ("<3>" error, "<4>" warning, "<6>" info,
    "<7>" debug), which journald strips and keeps as the entry's priority.
*/
#ifndef PROTO_LOG_H
#define PROTO_LOG_H

#include <stdbool.h>

#include "proto/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    PROTO_LOG_DEBUG = 0,
    PROTO_LOG_INFO = 1,
    PROTO_LOG_WARNING = 2,
    PROTO_LOG_ERROR = 3,
    PROTO_LOG_NONE = 4, // threshold only: log nothing
} proto_log_level_t;

//  The current threshold; read by the proto_log macro. Set it with
//  proto_log_set_level.
extern proto_log_level_t proto_log_threshold;

void proto_log_set_level(proto_log_level_t level);

//  Name printed as prog=...; the string is borrowed and must outlive logging.
void proto_log_set_program(const char *name);

//  Parse "debug", "info", "warning" or "error". Returns PROTO_ERR_VALUE on
//  anything else.
proto_err_t proto_log_level_parse(const char *text, proto_log_level_t *level) PROTO_MUST_CHECK;

//  Look again whether stderr is the journal (JOURNAL_STREAM against
//  fstat(2) of stderr) and prefix lines accordingly from now on; returns
//  whether it is. The first line logged does this by itself: call it only
//  after changing stderr or the environment.
bool proto_log_journal_detect(void);

void proto_log_emit(proto_log_level_t level, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

#define proto_log(level, ...)                                                                      \
    do {                                                                                           \
        if ((level) >= proto_log_threshold)                                                        \
            proto_log_emit((level), __VA_ARGS__);                                                  \
    } while (0)

#define proto_log_debug(...)   proto_log(PROTO_LOG_DEBUG, __VA_ARGS__)
#define proto_log_info(...)    proto_log(PROTO_LOG_INFO, __VA_ARGS__)
#define proto_log_warning(...) proto_log(PROTO_LOG_WARNING, __VA_ARGS__)
#define proto_log_error(...)   proto_log(PROTO_LOG_ERROR, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
