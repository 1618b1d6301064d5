/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Minimal assertions for the unit tests: every failed check is printed with
 * its location and values, and the test exits non-zero at the end.  A
 * watchdog alarm bounds the run time of every test program.
 */
#pragma once

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned ut_checks, ut_failures;

#define CHECK(cond)                                                                             \
        do {                                                                                    \
                ut_checks++;                                                                    \
                if (!(cond)) {                                                                  \
                        ut_failures++;                                                          \
                        fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
                }                                                                               \
        } while (0)

#define CHECK_INT(a, b)                                                                              \
        do {                                                                                         \
                long long ut_a = (long long) (a), ut_b = (long long) (b);                            \
                ut_checks++;                                                                         \
                if (ut_a != ut_b) {                                                                  \
                        ut_failures++;                                                               \
                        fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__, \
                                __LINE__, #a, #b, ut_a, ut_b);                                       \
                }                                                                                    \
        } while (0)

#define CHECK_U64(a, b)                                                                                \
        do {                                                                                           \
                uint64_t ut_a = (uint64_t) (a), ut_b = (uint64_t) (b);                                 \
                ut_checks++;                                                                           \
                if (ut_a != ut_b) {                                                                    \
                        ut_failures++;                                                                 \
                        fprintf(stderr, "%s:%d: CHECK failed: %s == %s (0x%" PRIx64 " != 0x%" PRIx64 ")\n", \
                                __FILE__, __LINE__, #a, #b, ut_a, ut_b);                               \
                }                                                                                      \
        } while (0)

#define CHECK_STR(a, b)                                                                              \
        do {                                                                                         \
                const char *ut_a = (a), *ut_b = (b);                                                 \
                ut_checks++;                                                                         \
                if (!ut_a || !ut_b || strcmp(ut_a, ut_b) != 0) {                                     \
                        ut_failures++;                                                               \
                        fprintf(stderr, "%s:%d: CHECK failed: %s == %s\n   got:      \"%s\"\n   expected: \"%s\"\n", \
                                __FILE__, __LINE__, #a, #b, ut_a ? ut_a : "(null)", ut_b ? ut_b : "(null)"); \
                }                                                                                    \
        } while (0)

/* Fatal: the test cannot go on. */
#define REQUIRE(cond)                                                                              \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
                        exit(1);                                                                   \
                }                                                                                  \
        } while (0)

static inline void ut_start(unsigned timeout_s) {
        /* SIGALRM's default action kills the test: a hang becomes a failure */
        alarm(timeout_s);
}

static inline int ut_finish(const char *name) {
        printf("%s: %u checks, %u failed\n", name, ut_checks, ut_failures);
        return ut_failures == 0 && ut_checks > 0 ? 0 : 1;
}
