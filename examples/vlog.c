/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "vlog.h"

static bool debug;
static time_t window;           /* start of the current interval */
static unsigned lines, suppressed;

void vlog_set_debug(bool on) {
        debug = on;
}

void vlog_debug(const char *format, ...) {
        struct timespec ts;
        va_list ap;

        if (!debug)
                return;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (ts.tv_sec - window >= VLOG_INTERVAL_SEC) {
                window = ts.tv_sec;
                lines = 0;
        }
        if (lines >= VLOG_BURST) {
                suppressed++;
                return;
        }
        lines++;
        if (suppressed) {
                fprintf(stderr, "<7>virtio: %u lines suppressed\n", suppressed);
                suppressed = 0;
        }
        fputs("<7>virtio: ", stderr);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
}
