/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xq-query: asks xen-ioreqd for a guest's state over the guest's socket, speaking
 * the wire protocol (include/xenioreqd/protocol.h) directly: HELLO, then QUERY.
 * Prints one line "QUERY state=.. domid=.. server_id=.. nr_vcpus=.. registrations=..
 * kicks=.. unmatched=.. reads=.. invalid=.. other=.." and exits 0, or exits 1 with
 * a message.  Every wait is bounded (2 s).
 * usage: xq-query SOCKET
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xenioreqd/protocol.h"
#include "xq-wire.h"

static int xfer(int fd, const void *req, size_t len, void *rep, size_t replen)
{
        if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len)
                return -1;
        ssize_t n = recv(fd, rep, replen, 0);
        return n == (ssize_t)replen ? 0 : -1;
}

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: xq-query SOCKET\n");
                return 2;
        }
        int fd = xq_connect(argv[1], 2);
        if (fd == -ENAMETOOLONG)
                return 2;
        if (fd < 0) {
                printf("QUERY-FAIL connect %s: %s\n", argv[1], strerror(-fd));
                return 1;
        }
        struct xirq_hello_reply hr;
        int e = xq_hello(fd, &hr);
        if (e != 0) {
                printf("QUERY-FAIL hello: %s\n", strerror(e < 0 ? -e : e));
                return 1;
        }
        struct xirq_query q = { .hdr = { .type = XIRQ_MSG_QUERY, .seq = 2 } };
        struct xirq_query_reply r;
        if (xfer(fd, &q, sizeof(q), &r, sizeof(r)) < 0 || r.error) {
                printf("QUERY-FAIL query: %s\n", r.error ? strerror(r.error) : strerror(errno));
                return 1;
        }
        static const char *const st[] = { "absent", "running", "serving", "failed" };
        printf("QUERY state=%s domid=%d server_id=%d nr_vcpus=%u registrations=%u kicks=%" PRIu64
               " unmatched=%" PRIu64 " reads=%" PRIu64 " invalid=%" PRIu64 " other=%" PRIu64 "\n",
               r.state < 4 ? st[r.state] : "?", (int)r.domid, (int)r.server_id, r.nr_vcpus, r.registrations,
               r.kicks, r.unmatched, r.reads, r.invalid, r.other);
        close(fd);
        return 0;
}
