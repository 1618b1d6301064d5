/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xq-client: a minimal xen-ioreqd client written straight against the wire protocol
 * (include/xenioreqd/protocol.h), independent of the client library: HELLO, one
 * VIRTIO_MMIO registration (with an eventfd) per queue, then it counts kicks.
 *
 * usage: xq-client SOCKET BASE Q[,Q...] SECONDS
 *        xq-client SOCKET pio PORT[,PORT...] SECONDS
 * The second form registers, with ASSIGN, every 4-byte port write (any value) to
 * each PORT.  Prints "CLIENT-READY ..." once everything is registered, and on
 * SIGTERM/SIGINT, after SECONDS, or when the daemon closes the connection:
 * "CLIENT-COUNTS q<Q>=<kicks> ... end=term|timeout|hangup" (port<PORT>= for ports).
 * Exit 1 if a registration failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "xenioreqd/protocol.h"
#include "xq-wire.h"

#define MAXQ 16

static volatile sig_atomic_t stop;

static void on_signal(int s)
{
        stop = 1;
}

static int send_fd(int sock, const void *msg, size_t len, int fd)
{
        struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (fd >= 0) {
                mh.msg_control = u.buf;
                mh.msg_controllen = sizeof(u.buf);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

int main(int argc, char **argv)
{
        if (argc != 5) {
                fprintf(stderr, "usage: xq-client SOCKET BASE Q[,Q...] SECONDS\n");
                return 2;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
        bool pio = !strcmp(argv[2], "pio");
        uint64_t base = pio ? 0 : strtoull(argv[2], NULL, 0);
        unsigned q[MAXQ], nq = 0;
        for (char *s = argv[3], *e; *s && nq < MAXQ; s = *e ? e + 1 : e) {
                q[nq++] = (unsigned)strtoul(s, &e, 0);
                if (e == s)
                        return 2;
        }
        time_t end = time(NULL) + atoi(argv[4]);

        int sock = xq_connect(argv[1], 5);
        if (sock == -ENAMETOOLONG)
                return 2;
        if (sock < 0) {
                printf("CLIENT-FAIL connect %s: %s\n", argv[1], strerror(-sock));
                return 1;
        }
        struct xirq_hello_reply hr;
        if (xq_hello(sock, &hr) != 0) {
                printf("CLIENT-FAIL hello\n");
                return 1;
        }
        int efd[MAXQ];
        for (unsigned k = 0; k < nq; k++) {
                efd[k] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                struct xirq_virtio_mmio m = { .hdr = { .type = XIRQ_MSG_VIRTIO_MMIO, .seq = 2 + k },
                                              .base = base, .queue = (uint16_t)q[k] };
                struct xirq_assign a = { .hdr = { .type = XIRQ_MSG_ASSIGN, .seq = 2 + k },
                                         .space = XIRQ_SPACE_PIO, .len = 4, .match = XIRQ_MATCH_ANY,
                                         .addr = q[k] };
                struct xirq_reply r;
                int sr = pio ? send_fd(sock, &a, sizeof(a), efd[k]) : send_fd(sock, &m, sizeof(m), efd[k]);
                if (efd[k] < 0 || sr < 0 || recv(sock, &r, sizeof(r), 0) != sizeof(r)) {
                        printf("CLIENT-FAIL register queue %u: %s\n", q[k], strerror(errno));
                        return 1;
                }
                if (r.error) {
                        printf("CLIENT-FAIL register queue %u: %s\n", q[k], strerror(r.error));
                        return 1;
                }
        }
        printf("CLIENT-READY %s=%s queues=%s domid=%d\n", pio ? "space" : "base", argv[2], argv[3], (int)hr.domid);

        uint64_t count[MAXQ] = { 0 };
        const char *why = "timeout";
        while (!stop && time(NULL) < end) {
                struct pollfd p[MAXQ + 1];
                for (unsigned k = 0; k < nq; k++)
                        p[k] = (struct pollfd){ .fd = efd[k], .events = POLLIN };
                p[nq] = (struct pollfd){ .fd = sock, .events = POLLIN };
                if (poll(p, nq + 1, 200) <= 0)
                        continue;
                for (unsigned k = 0; k < nq; k++) {
                        uint64_t v;
                        if ((p[k].revents & POLLIN) && read(efd[k], &v, sizeof(v)) == sizeof(v))
                                count[k] += v;
                }
                if (p[nq].revents & (POLLHUP | POLLERR | POLLIN)) {
                        char buf[XIRQ_MSG_MAX];
                        if (recv(sock, buf, sizeof(buf), MSG_DONTWAIT) <= 0) {
                                why = "hangup";
                                break;
                        }
                }
        }
        if (stop)
                why = "term";
        for (unsigned k = 0; k < nq; k++) {     /* the last kicks */
                uint64_t v;
                if (read(efd[k], &v, sizeof(v)) == sizeof(v))
                        count[k] += v;
        }
        printf("CLIENT-COUNTS");
        for (unsigned k = 0; k < nq; k++)
                printf(pio ? " port0x%x=%" PRIu64 : " q%u=%" PRIu64, q[k], count[k]);
        printf(" end=%s\n", why);
        return 0;
}
