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
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "xenioreqd/protocol.h"

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
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(argv[1]) >= sizeof(sa.sun_path))
                return 2;
        strcpy(sa.sun_path, argv[1]);
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        struct timeval tv = { .tv_sec = 2 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                printf("QUERY-FAIL connect %s: %s\n", argv[1], strerror(errno));
                return 1;
        }
        struct xirq_hello h = { .hdr = { .type = XIRQ_MSG_HELLO, .seq = 1 }, .magic = XIRQ_PROTO_MAGIC,
                                .version_min = XIRQ_PROTO_VERSION, .version_max = XIRQ_PROTO_VERSION };
        struct xirq_hello_reply hr;
        if (xfer(fd, &h, sizeof(h), &hr, sizeof(hr)) < 0 || hr.error) {
                printf("QUERY-FAIL hello: %s\n", hr.error ? strerror(hr.error) : strerror(errno));
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
