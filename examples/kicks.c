/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The smallest backend of xen-ioreqd, in one file: it registers one eventfd
 * per queue of a virtio-mmio device and prints each queue's kicks as they
 * come, until the daemon hangs up (the guest went) or SIGINT.  Build it with
 *
 *   cc -o kicks kicks.c $(pkg-config --cflags --libs libxenioreqd-client)
 *
 * and run it as a user the guest's configuration allows:
 *
 *   ./kicks --socket /run/xen-ioreqd/GUEST.sock --base 0x2000000 --queues 2
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <xenioreqd-client.h>

#define MAX_QUEUES 16

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "socket", required_argument, NULL, 's' },
                { "base", required_argument, NULL, 'b' },
                { "queues", required_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                { 0 },
        };
        const char *socket = NULL;
        uint64_t base = 0x2000000;
        unsigned queues = 1;
        struct pollfd p[MAX_QUEUES + 1];
        xenioreqd_client *c = NULL;
        int opt, r;

        while ((opt = getopt_long(argc, argv, "s:b:q:h", opts, NULL)) != -1)
                switch (opt) {
                case 's':
                        socket = optarg;
                        break;
                case 'b':
                        base = strtoull(optarg, NULL, 0);
                        break;
                case 'q':
                        queues = (unsigned) strtoul(optarg, NULL, 0);
                        break;
                default:
                        fprintf(stderr, "Usage: %s --socket PATH [--base ADDR] [--queues 1..%d]\n", argv[0],
                                MAX_QUEUES);
                        return opt == 'h' ? 0 : 2;
                }
        if (!socket || queues == 0 || queues > MAX_QUEUES) {
                fprintf(stderr, "Usage: %s --socket PATH [--base ADDR] [--queues 1..%d]\n", argv[0], MAX_QUEUES);
                return 2;
        }

        r = xenioreqd_connect(socket, &c);
        if (r < 0) {
                fprintf(stderr, "Failed to connect to %s: %s\n", socket, strerror(-r));
                return 1;
        }
        for (unsigned q = 0; q < queues; q++) {
                p[q] = (struct pollfd) { .fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), .events = POLLIN };
                r = p[q].fd < 0 ? -errno : xenioreqd_virtio_mmio_assign(c, base, (uint16_t) q, p[q].fd);
                if (r < 0) {
                        fprintf(stderr, "Failed to register queue %u: %s\n", q, strerror(-r));
                        return 1;
                }
        }
        /* the connection's socket becomes readable when the daemon hangs up */
        p[queues] = (struct pollfd) { .fd = xenioreqd_fd(c), .events = POLLIN };
        printf("ready queues=%u base=0x%" PRIx64 " domid=%" PRIu32 "\n", queues, base, xenioreqd_domid(c));
        fflush(stdout);

        for (;;) {
                if (poll(p, queues + 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("poll");
                        return 1;
                }
                for (unsigned q = 0; q < queues; q++) {
                        uint64_t n;

                        if ((p[q].revents & POLLIN) && read(p[q].fd, &n, sizeof(n)) == (ssize_t) sizeof(n))
                                printf("kick q=%u n=%" PRIu64 "\n", q, n);
                }
                fflush(stdout);
                if (p[queues].revents) {
                        printf("the daemon hung up\n");
                        xenioreqd_close(c);
                        return 0;
                }
        }
}
