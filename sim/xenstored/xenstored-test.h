/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * Test support for xensim-xenstored: start the server in a temporary
 * directory, point XENSTORED_PATH at it, stop it and check its exit status.
 * Every wait is bounded; a watchdog ends a test that hangs.
 */
#ifndef XENSIM_XENSTORED_TEST_H
#define XENSIM_XENSTORED_TEST_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define CHECK(cond) do { \
        if (!(cond)) { \
                fprintf(stderr, "%s:%d: check failed: %s (errno %d: %s)\n", __FILE__, __LINE__, #cond, \
                        errno, strerror(errno)); \
                exit(EXIT_FAILURE); \
        } \
} while (0)

#define CHECK_ERRNO(cond, err) do { \
        errno = 0; \
        if (!(cond) || errno != (err)) { \
                fprintf(stderr, "%s:%d: check failed: %s with errno %d (%s), expected %d (%s)\n", \
                        __FILE__, __LINE__, #cond, errno, strerror(errno), (err), strerror(err)); \
                exit(EXIT_FAILURE); \
        } \
} while (0)

typedef struct TestServer {
        pid_t pid;
        char dir[64];
        char socket[128];
        char ro_socket[128];
        char pid_file[128];
} TestServer;

/* Arms a watchdog: the test fails with a message after seconds. */
void test_watchdog(unsigned seconds);

/*
 * Starts xensim-xenstored with --socket, --pid-file, -v and the extra
 * arguments (NULL-terminated, may be NULL); with_ro adds --ro-socket.
 * Sets XENSTORED_PATH to the socket.  Fails the test if the server is not
 * accepting connections within 10 seconds.
 */
void test_server_start(TestServer *ts, bool with_ro, const char *const *extra_args);
/* SIGTERM, wait up to 10 seconds, check exit status 0 and that the socket is gone. */
void test_server_stop(TestServer *ts);
/* Is the server process still running? */
bool test_server_alive(TestServer *ts);

#endif
