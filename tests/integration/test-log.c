/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's logging helpers: escaping of untrusted strings, rate limiting, %m and prefixes. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int failures;

#define EXPECT(cond, ...)                                                       \
        do {                                                                    \
                if (!(cond)) {                                                  \
                        fprintf(stdout, "FAIL %s:%d: ", __FILE__, __LINE__);    \
                        fprintf(stdout, __VA_ARGS__);                           \
                        fputc('\n', stdout);                                    \
                        failures++;                                             \
                }                                                               \
        } while (0)

/* run log calls with stderr captured into buf */
static void capture(char *buf, size_t size, void (*fn)(void)) {
        FILE *tmp = tmpfile();
        int saved = dup(STDERR_FILENO);
        size_t n;

        fflush(stderr);
        dup2(fileno(tmp), STDERR_FILENO);
        fn();
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        rewind(tmp);
        n = fread(buf, 1, size - 1, tmp);
        buf[n] = '\0';
        fclose(tmp);
}

static int ret_value;

static void log_prefixed(void) {
        log_setup(true, LOG_INFO);
        ret_value = log_error_errno(ENOENT, "open %s: %m", "x");
        log_debug("not shown at info");
        log_info("two\nlines");
}

static void log_plain(void) {
        log_setup(false, LOG_DEBUG);
        log_debug("shown at debug");
        ret_value = log_warning_errno(-EPERM, "w");
}

static void log_limited(void) {
        RateLimit lim = RATELIMIT_INIT(60 * 1000 * 1000, 2);

        log_setup(true, LOG_INFO);
        for (int i = 0; i < 5; i++)
                log_ratelimit(&lim, LOG_NOTICE, "limited %d", i);
        lim.begin -= lim.interval_usec; /* the interval has passed */
        ret_value = log_ratelimit_errno(&lim, LOG_WARNING, EIO, "after: %m");
        log_ratelimit(&lim, LOG_DEBUG, "filtered at info");
}

int main(void) {
        char buf[4096];
        RateLimit rl = RATELIMIT_INIT(60 * 1000 * 1000, 3);
        unsigned suppressed = 99;

        /* escaping */
        EXPECT(strcmp(log_escape(buf, sizeof buf, "abc", 3), "\"abc\"") == 0, "plain: %s", buf);
        EXPECT(strcmp(log_escape(buf, sizeof buf, "a\"b\\c", 5), "\"a\\\"b\\\\c\"") == 0, "quotes: %s", buf);
        EXPECT(strcmp(log_escape(buf, sizeof buf, "a\nb\x01\xff", 5), "\"a\\x0ab\\x01\\xff\"") == 0, "controls: %s",
               buf);
        EXPECT(strcmp(log_escape(buf, sizeof buf, "a\0b", 3), "\"a\\x00b\"") == 0, "NUL: %s", buf);
        log_escape(buf, 16, "0123456789abcdefghij", 20);
        EXPECT(strlen(buf) < 16 && strstr(buf, "...\"") != NULL, "truncated: %s", buf);
        EXPECT(strcmp(log_escape(buf, 4, "abc", 3), "") == 0, "too small a buffer gives an empty string");

        /* rate limiting: burst of 3, then suppressed and counted */
        for (int i = 0; i < 3; i++)
                EXPECT(ratelimit_below(&rl, &suppressed), "message %d of the burst", i);
        for (int i = 0; i < 5; i++)
                EXPECT(!ratelimit_below(&rl, NULL), "message %d beyond the burst", i);
        EXPECT(rl.suppressed == 5, "suppressed count %u", rl.suppressed);
        rl.begin -= rl.interval_usec;   /* the interval has passed */
        EXPECT(ratelimit_below(&rl, &suppressed) && suppressed == 5, "next interval reports 5 suppressed, got %u",
               suppressed);

        /* prefixes, levels, %m, one line per message, return value */
        capture(buf, sizeof buf, log_prefixed);
        EXPECT(strstr(buf, "<3>open x: No such file or directory\n") != NULL, "error line: %s", buf);
        EXPECT(ret_value == -ENOENT, "log_error_errno returns -ENOENT, got %d", ret_value);
        EXPECT(strstr(buf, "not shown") == NULL, "debug filtered at info: %s", buf);
        EXPECT(strstr(buf, "<6>two lines\n") != NULL, "newline flattened: %s", buf);
        capture(buf, sizeof buf, log_plain);
        EXPECT(strstr(buf, "xen-ioreqd: debug: shown at debug\n") != NULL, "plain debug line: %s", buf);
        EXPECT(strstr(buf, "xen-ioreqd: warning: w\n") != NULL, "plain warning line: %s", buf);
        EXPECT(ret_value == -EPERM, "a negative error is returned as is, got %d", ret_value);

        /* rate-limited lines: the suppressed count only when something was suppressed */
        capture(buf, sizeof buf, log_limited);
        EXPECT(strstr(buf, "<5>limited 0\n<5>limited 1\n") != NULL, "burst lines, no count: %s", buf);
        EXPECT(strstr(buf, "limited 2") == NULL, "third line held back: %s", buf);
        EXPECT(strstr(buf, "<4>after: Input/output error (3 similar messages suppressed)\n") != NULL,
               "count on the next line: %s", buf);
        EXPECT(ret_value == -EIO, "log_ratelimit_errno returns -EIO, got %d", ret_value);
        EXPECT(strstr(buf, "filtered") == NULL, "level filter before the rate limit: %s", buf);
        EXPECT(strstr(buf, "(0 similar") == NULL, "no zero count: %s", buf);

        if (failures)
                return 1;
        printf("PASS test-log\n");
        return 0;
}
