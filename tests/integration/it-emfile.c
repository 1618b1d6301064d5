/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Out of file descriptors: the daemon pauses accepting (EMFILE), keeps
 * serving the connections it has, and accepts the waiting ones once fds
 * are free again.
 */
#define _GNU_SOURCE 1
#include <endian.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "itlib.h"

#define NCONN 40

static void send_hello(int fd, uint32_t seq) {
        struct xirq_hello h = {
                .hdr = { .type = htole16(XIRQ_MSG_HELLO), .seq = htole32(seq) },
                .magic = htole32(XIRQ_PROTO_MAGIC),
                .version_min = htole16(1),
                .version_max = htole16(1),
        };

        if (it_send(fd, &h, sizeof h, NULL, 0) < 0)
                IT_FAIL("sending HELLO: %m");
}

/* the HELLO reply if it is there within timeout_ms: 1 answered, 0 not yet */
static int hello_answered(int fd, int timeout_ms) {
        struct xirq_hello_reply rep;
        ssize_t n = it_recv(fd, &rep, sizeof rep, timeout_ms);

        if (n == -ETIMEDOUT)
                return 0;
        if (n != (ssize_t) sizeof rep || le32toh((uint32_t) rep.error) != 0)
                IT_FAIL("bad HELLO reply (%zd bytes)", n);
        return 1;
}

int main(int argc, char **argv) {
        static const char *env[] = { "IT_NOFILE=32", NULL };
        bool answered[NCONN] = { false };
        struct xirq_query_reply q;
        int c[NCONN], n_answered = 0, first = -1;
        It it;

        it_init(&it, "it-emfile", argc, argv);
        it_write_global(&it, "[limits]\nmax_connections = 100\nmax_connections_per_uid = 100\n");
        it_write_guest(&it, "g1", NULL);
        it_daemon_start(&it, env);

        for (int i = 0; i < NCONN; i++) {
                c[i] = it_connect(&it, "g1");
                send_hello(c[i], (uint32_t) i + 1);
        }
        for (int i = 0; i < NCONN; i++)
                if (hello_answered(c[i], i == 0 ? IT_TIMEOUT_MS : 50)) {
                        answered[i] = true;
                        n_answered++;
                        if (first < 0)
                                first = i;
                }
        CHECK(first >= 0, "some connections are served");
        CHECK(n_answered < NCONN, "with 32 fds not all %d connections can be accepted (%d were)", NCONN, n_answered);
        CHECK(it_log_contains(&it, "pausing"), "the daemon logs that it pauses accepting");

        /* the accepted ones are still served */
        CHECK_EQ(it_query(c[first], &q), 0, "QUERY on an accepted connection while out of fds");
        CHECK(it_daemon_alive(&it), "the daemon survives EMFILE");

        /* free fds: every waiting connection gets its answer */
        for (int i = 0; i < NCONN; i++)
                if (answered[i] && i != first) {
                        close(c[i]);
                        c[i] = -1;
                }
        for (int i = 0; i < NCONN; i++)
                if (!answered[i] && c[i] >= 0) {
                        CHECK(hello_answered(c[i], IT_TIMEOUT_MS), "connection %d answered once fds are free", i);
                        close(c[i]);
                        c[i] = -1;
                }
        CHECK_EQ(it_query(c[first], &q), 0, "QUERY at the end");

        it_daemon_signal(&it, SIGTERM);
        CHECK_EQ(it_daemon_wait(&it, IT_TIMEOUT_MS), 0, "exit status");
        close(c[first]);
        it_fini(&it);
        return 0;
}
