/*  log.c - formats one key=value line and writes it with a single write(2).

    Lines longer than the buffer are cut and end in "..." rather than being
    split, because a split line would break every grep that reads them.

    When stderr is the journal (systemd sets JOURNAL_STREAM to the device
    and inode of the stream it connected, see systemd.exec(5)), each line
    starts with its syslog priority, "<3>" for an error, the sd-daemon(3)
    convention journald reads, so that `journalctl -p err` finds errors.
    Anywhere else (a terminal, a file, a pipe) the lines are unchanged.
*/
#include "proto/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

proto_log_level_t proto_log_threshold = PROTO_LOG_INFO;
static const char *s_program = "truc";

static const char *s_level_names[] = { "debug", "info", "warning", "error" };

//  LOG_DEBUG, LOG_INFO, LOG_WARNING and LOG_ERR of syslog(3), by level.
static const char s_priorities[] = { '7', '6', '4', '3' };

//  -1 until the first line asks, then whether stderr is the journal.
static atomic_int s_journal = -1;

bool proto_log_journal_detect(void)
{
    const char *stream = getenv("JOURNAL_STREAM");
    unsigned long long dev = 0, ino = 0;
    struct stat st;
    char tail = 0;
    bool journal = stream && sscanf(stream, "%llu:%llu%c", &dev, &ino, &tail) == 2 &&
                   fstat(STDERR_FILENO, &st) == 0 && (unsigned long long) st.st_dev == dev &&
                   (unsigned long long) st.st_ino == ino;
    atomic_store(&s_journal, journal ? 1 : 0);
    return journal;
}

void proto_log_set_level(proto_log_level_t level)
{
    proto_log_threshold = level;
}

void proto_log_set_program(const char *name)
{
    s_program = name ? name : "truc";
}

proto_err_t proto_log_level_parse(const char *text, proto_log_level_t *level)
{
    for (int i = 0; i < 4; i++) {
        if (text && strcasecmp(text, s_level_names[i]) == 0) {
            *level = (proto_log_level_t) i;
            return PROTO_OK;
        }
    }
    return PROTO_ERR_VALUE;
}

void proto_log_emit(proto_log_level_t level, const char *format, ...)
{
    char line[2048];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    if (level < PROTO_LOG_DEBUG || level > PROTO_LOG_ERROR)
        level = PROTO_LOG_ERROR;

    //  Threads racing to the first line both find the same answer.
    int journal = atomic_load(&s_journal);
    if (journal < 0)
        journal = proto_log_journal_detect();
    int used = 0;
    if (journal) {
        line[used++] = '<';
        line[used++] = s_priorities[level];
        line[used++] = '>';
    }
    int head = snprintf(line + used, sizeof line - (size_t) used,
                        "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s prog=%s ",
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                        tm.tm_sec, now.tv_nsec / 1000000L, s_level_names[level], s_program);
    if (head < 0)
        return;
    used += head;
    va_list args;
    va_start(args, format);
    int more = vsnprintf(line + used, sizeof line - (size_t) used - 1, format, args);
    va_end(args);
    size_t len;
    if (more < 0) {
        len = (size_t) used;
    } else if ((size_t) used + (size_t) more >= sizeof line - 1) {
        len = sizeof line - 1;
        memcpy(line + len - 4, "...", 3);
    } else {
        len = (size_t) used + (size_t) more;
    }
    line[len++] = '\n';
    //  Nothing useful can be done if stderr is gone.
    ssize_t written = write(STDERR_FILENO, line, len);
    (void) written;
}
