/* SPDX-License-Identifier: LGPL-2.1-only */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "xenstored-log.h"

bool log_verbose;

void log_msg(int prio, const char *fmt, ...) {
        int saved_errno = errno;
        va_list ap;

        if (prio >= LOG_DEBUG && !log_verbose)
                return;
        fprintf(stderr, "<%d>xensim-xenstored: ", prio);
        va_start(ap, fmt);
        errno = saved_errno;
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        errno = saved_errno;
}

const char *log_escape(char *buf, size_t size, const void *data, size_t len) {
        const unsigned char *p = data;
        size_t o = 0;

        if (size < 8)
                return "";
        for (size_t i = 0; i < len; i++) {
                unsigned char c = p[i];

                if (o + 8 >= size) {
                        buf[o++] = '.';
                        buf[o++] = '.';
                        buf[o++] = '.';
                        break;
                }
                if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
                        buf[o++] = (char) c;
                else
                        o += (size_t) snprintf(buf + o, size - o, "\\x%02x", c);
        }
        buf[o] = '\0';
        return buf;
}
