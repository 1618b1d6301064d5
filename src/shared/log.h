/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Logging of the daemon: stderr, with "<N>" syslog priority prefixes when the
 * journal reads it (JOURNAL_STREAM set, or -d), plain "xen-ioreqd: " lines
 * otherwise.  Only the top layers log; library-like modules return -errno.
 */
#ifndef XENIOREQD_LOG_H
#define XENIOREQD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <syslog.h>

void log_setup(bool prefix, int max_level);
/* The program name of plain lines ("xen-ioreqd" unless set); ident must outlive the process's logging. */
void log_set_ident(const char *ident);
void log_set_max_level(int level);
int log_get_max_level(void);

/* Logs at level; %m expands to strerror(error).  Returns -abs(error). */
int log_internal(int level, int error, const char *format, ...)
        __attribute__((format(printf, 3, 4)));

#define log_full_errno(level, error, ...)                                       \
        ({                                                                      \
                int _level = (level), _e = (error);                             \
                log_get_max_level() >= _level                                   \
                        ? log_internal(_level, _e, __VA_ARGS__)                 \
                        : -abs(_e);                                             \
        })

#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...)    log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_notice_errno(e, ...)  log_full_errno(LOG_NOTICE, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, e, __VA_ARGS__)

#define log_debug(...)   ((void) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__))
#define log_info(...)    ((void) log_full_errno(LOG_INFO, 0, __VA_ARGS__))
#define log_notice(...)  ((void) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__))
#define log_warning(...) ((void) log_full_errno(LOG_WARNING, 0, __VA_ARGS__))
#define log_error(...)   ((void) log_full_errno(LOG_ERR, 0, __VA_ARGS__))

/*
 * Quotes and escapes an untrusted string for a log line: printable ASCII
 * as is (with \" and \\ escaped), everything else as \xNN; truncated with
 * "..." to fit.  Returns buf.
 */
#define LOG_ESCAPE_MAX 256
const char *log_escape(char *buf, size_t size, const char *s, size_t len);

/*
 * Rate limiting for messages a guest or client can trigger: at most burst
 * messages per interval; suppressed ones are counted and reported with the
 * next message let through.
 */
typedef struct RateLimit {
        uint64_t interval_usec;
        unsigned burst;
        uint64_t begin;
        unsigned num;
        unsigned suppressed;
} RateLimit;

#define RATELIMIT_INIT(interval, b) { .interval_usec = (interval), .burst = (b) }

/* true if a message may be logged now; *ret_suppressed gets the count skipped before */
bool ratelimit_below(RateLimit *rl, unsigned *ret_suppressed);

/*
 * Log through rl: nothing when the level is filtered out or rl says too many;
 * otherwise the message, ending in " (N similar messages suppressed)" when
 * messages were held back since the last one.  Returns -abs(error).
 */
int log_ratelimit_internal(RateLimit *rl, int level, int error, const char *format, ...)
        __attribute__((format(printf, 4, 5)));

#define log_ratelimit_errno(rl, level, error, ...)                              \
        ({                                                                      \
                int _level = (level), _e = (error);                             \
                log_get_max_level() >= _level                                   \
                        ? log_ratelimit_internal((rl), _level, _e, __VA_ARGS__) \
                        : -abs(_e);                                             \
        })
#define log_ratelimit(rl, level, ...) ((void) log_ratelimit_errno(rl, level, 0, __VA_ARGS__))

uint64_t now_usec(void);

#endif
