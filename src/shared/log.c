/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static bool log_prefix;
static int log_max_level = LOG_INFO;
static const char *log_ident = "xen-ioreqd";

void log_setup(bool prefix, int max_level) {
        log_prefix = prefix;
        log_max_level = max_level;
}

void log_set_ident(const char *ident) {
        log_ident = ident;
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

static const char *const level_names[] = {
        [LOG_EMERG] = "emergency", [LOG_ALERT] = "alert", [LOG_CRIT] = "critical",
        [LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

__attribute__((format(printf, 4, 0)))
static int log_internalv(int level, int error, unsigned suppressed, const char *format, va_list ap) {
        char line[1024];
        int saved = errno;

        if (error < 0)
                error = -error;
        if (level < LOG_EMERG || level > LOG_DEBUG)
                level = LOG_ERR;

        /* %m prints the error passed in, not whatever errno happens to be */
        errno = error;
        vsnprintf(line, sizeof line, format, ap);
        if (suppressed > 0) {
                size_t n = strlen(line);

                snprintf(line + n, sizeof line - n, " (%u similar messages suppressed)", suppressed);
        }

        /* one message is one line: newlines in the text would forge entries */
        for (char *p = line; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';

        if (log_prefix)
                fprintf(stderr, "<%d>%s\n", level, line);
        else
                fprintf(stderr, "%s: %s: %s\n", log_ident, level_names[level], line);

        errno = saved;
        return -error;
}

int log_internal(int level, int error, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = log_internalv(level, error, 0, format, ap);
        va_end(ap);
        return r;
}

int log_ratelimit_internal(RateLimit *rl, int level, int error, const char *format, ...) {
        unsigned suppressed = 0;
        va_list ap;
        int r;

        if (!ratelimit_below(rl, &suppressed))
                return -abs(error);
        va_start(ap, format);
        r = log_internalv(level, error, suppressed, format, ap);
        va_end(ap);
        return r;
}

const char *log_escape(char *buf, size_t size, const char *s, size_t len) {
        size_t o = 0;

        if (size < 8) {
                if (size > 0)
                        buf[0] = '\0';
                return buf;
        }

        buf[o++] = '"';
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                char tmp[5];
                size_t n;

                if (c == '"' || c == '\\') {
                        tmp[0] = '\\';
                        tmp[1] = (char) c;
                        n = 2;
                } else if (c >= 0x20 && c < 0x7f) {
                        tmp[0] = (char) c;
                        n = 1;
                } else {
                        snprintf(tmp, sizeof tmp, "\\x%02x", c);
                        n = 4;
                }

                /* keep room for the closing quote, "..." and NUL */
                if (o + n + 5 > size) {
                        memcpy(buf + o, "...", 3);
                        o += 3;
                        break;
                }
                memcpy(buf + o, tmp, n);
                o += n;
        }
        buf[o++] = '"';
        buf[o] = '\0';
        return buf;
}

uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

bool ratelimit_below(RateLimit *rl, unsigned *ret_suppressed) {
        uint64_t now = now_usec();

        if (rl->begin == 0 || now - rl->begin >= rl->interval_usec) {
                if (ret_suppressed)
                        *ret_suppressed = rl->suppressed;
                rl->begin = now;
                rl->num = 1;
                rl->suppressed = 0;
                return true;
        }
        if (rl->num < rl->burst) {
                rl->num++;
                if (ret_suppressed)
                        *ret_suppressed = 0;
                return true;
        }
        rl->suppressed++;
        return false;
}
