/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-dispatch: the hot path of xen-ioreqd-worker in a process that valgrind can run (P4).
 *
 * A worker installs a seccomp filter before it serves, which valgrind cannot run, and it does
 * not serve unconfined.  So P4 counts the worker's instructions here: the worker's own library
 * (libxenioreqd-worker), the set-up of worker.c in its order (handles opened and restricted to
 * the domain, server created, page mapped, registrations added and their ranges mapped, server
 * enabled and ports bound, then ioreq_start), the same event loop, and the same callback,
 * ioreq_io_cb, that P4 collects.  What is left out (the confinement, the channel to the parent,
 * the statistics memfd) never runs inside a dispatch.
 *
 *   bench-dispatch --domid D --eventfd FD --addr A [--stride S] [--devices N] [--queues Q]
 *                  [--ready-fd FD]
 *
 * N x Q registrations: MMIO A + d * S, 4 bytes, EXACT q (d < N, q < Q; default 1 x 1, stride
 * 0x1000), each with its own duplicate of the eventfd FD, as a worker holds one descriptor per
 * registration.  Writes READY to the ready fd once dispatching, serves until SIGTERM, then
 * prints its counters ("bench-dispatch: served kicks=K unmatched=U reads=R invalid=I
 * other=O") and exits 0.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ioreq.h"
#include "log.h"
#include "loop.h"
#include "match.h"
#include "proto.h"
#include "stats.h"
#include "xen.h"
#include "xenioreqd/protocol.h"

#define DISPATCH_MAX_DEVICES    RANGES_MAX              /* one range each: Xen maps 256 per server */
#define DISPATCH_MAX_QUEUES     256u

typedef struct Dispatch {
        Loop *loop;
        int sig_fd;                     /* SIGTERM and SIGINT */
        LoopIo sig;
        XenServer *xen;
        MatchTable *match;
        Ioreq ioreq;
        bool dispatching;
        int error;                      /* the event channel failed */
        IoreqStats stats;
        LatencyHist latency;
        RegStats regs[DISPATCH_MAX_DEVICES * 4];        /* per-registration counters, as a worker keeps them */
        unsigned n_regs;
} Dispatch;

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

static int parse_u64(const char *s, uint64_t max, uint64_t *ret) {
        unsigned long long v;
        char *end;

        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno || end == s || *end || s[0] == '-' || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int free_registration(const MatchKey *key, void *data, void *ctx) {
        Registration *reg = data;

        close(reg->fd);
        free(reg);
        return 0;
}

/* One registration as a worker adds it (worker_assign): the key, its own descriptor, the range mapped if new. */
static int dispatch_assign(Dispatch *d, uint64_t addr, uint64_t value, int efd) {
        Registration *reg;
        bool new_range = false;
        int r;

        reg = calloc(1, sizeof(*reg));
        if (!reg)
                return -ENOMEM;
        reg->fd = -1;
        r = proto_make_key(XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_EXACT, addr, value, 0, &reg->key);
        if (r < 0)
                goto fail;
        reg->fd = fcntl(efd, F_DUPFD_CLOEXEC, 3);
        if (reg->fd < 0) {
                r = -errno;
                goto fail;
        }
        r = match_add(d->match, &reg->key, reg, &new_range);
        if (r < 0)
                goto fail;
        if (d->n_regs < sizeof(d->regs) / sizeof(d->regs[0]))
                reg->stats = &d->regs[d->n_regs++];
        if (new_range) {
                r = xen_server_map_range(d->xen, false, addr, addr + 3);
                if (r < 0) {
                        (void) match_remove(d->match, &reg->key, NULL, NULL);
                        goto fail;
                }
        }
        return 0;

fail:
        if (reg->fd >= 0)
                close(reg->fd);
        free(reg);
        return r;
}

static void dispatch_fail(Ioreq *q, int error) {
        Dispatch *d = container_of(q, Dispatch, ioreq);

        log_error_errno(error, "The event channel failed: %m");
        d->error = error;
        loop_break(d->loop);
}

static void dispatch_signal(Loop *loop, LoopIo *io) {
        loop_break(loop);
}

static void dispatch_free(Dispatch *d) {
        if (d->dispatching)
                ioreq_stop(&d->ioreq);
        d->dispatching = false;
        /* destroyed: the server belongs to this run only (vCPUs still waiting are answered first) */
        d->xen = xen_server_free(d->xen, true);
        if (d->match) {
                (void) match_foreach(d->match, free_registration, NULL);
                d->match = match_table_free(d->match);
        }
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "domid", required_argument, NULL, 'd' },
                { "eventfd", required_argument, NULL, 'e' },
                { "addr", required_argument, NULL, 'a' },
                { "stride", required_argument, NULL, 's' },
                { "devices", required_argument, NULL, 'n' },
                { "queues", required_argument, NULL, 'q' },
                { "ready-fd", required_argument, NULL, 'R' },
                {},
        };
        uint64_t domid = UINT64_MAX, efd = UINT64_MAX, addr = UINT64_MAX, stride = 0x1000, devices = 1, queues = 1;
        uint64_t ready = UINT64_MAX, *dst, max;
        uint32_t blocker = XEN_NO_SERVER;
        Dispatch d = { .sig_fd = -1 };
        int c, r;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'd': dst = &domid; max = 0x7fef; break;
                case 'e': dst = &efd; max = INT32_MAX; break;
                case 'a': dst = &addr; max = UINT64_MAX - 1; break;
                case 's': dst = &stride; max = UINT32_MAX; break;
                case 'n': dst = &devices; max = DISPATCH_MAX_DEVICES; break;
                case 'q': dst = &queues; max = DISPATCH_MAX_QUEUES; break;
                case 'R': dst = &ready; max = INT32_MAX; break;
                default:
                        fprintf(stderr, "Usage: bench-dispatch --domid D --eventfd FD --addr A [--stride S] "
                                "[--devices N] [--queues Q] [--ready-fd FD]\n");
                        return 2;
                }
                if (parse_u64(optarg, max, dst) < 0) {
                        fprintf(stderr, "bench-dispatch: bad value %s (at most %" PRIu64 ")\n", optarg, max);
                        return 2;
                }
        }
        if (optind != argc || domid == UINT64_MAX || efd == UINT64_MAX || addr == UINT64_MAX || devices == 0 ||
            queues == 0 || addr + (devices - 1) * stride + 3 < addr) {
                fprintf(stderr, "bench-dispatch: --domid, --eventfd and --addr are needed, and the registrations must "
                        "fit the address space\n");
                return 2;
        }
        log_setup(false, LOG_INFO);
        log_set_ident("bench-dispatch");
        signal(SIGPIPE, SIG_IGN);

        /* the worker's loop (worker/main.c) */
        r = loop_new(&d.loop);
        if (r < 0) {
                log_error_errno(r, "Failed to create the event loop: %m");
                return EXIT_FAILURE;
        }
        r = match_table_new(&d.match);
        if (r < 0) {
                log_error_errno(r, "Failed to create the registration table: %m");
                goto out;
        }

        /* the worker's set-up order (worker_init, worker_assign, worker_start) without confinement */
        {
                XenHandles *h = NULL;

                r = xen_server_open(&d.xen, &h, (uint32_t) domid);
        }
        if (r < 0) {
                log_error_errno(r, "Failed to open Xen handles restricted to domain %" PRIu64 ": %m", domid);
                goto out;
        }
        r = xen_server_create(d.xen, &blocker);
        if (r < 0) {
                log_error_errno(r, "Failed to create an ioreq server for domain %" PRIu64 ": %m", domid);
                goto out;
        }
        r = xen_server_map_page(d.xen);
        if (r < 0) {
                log_error_errno(r, "Failed to map the ioreq page: %m");
                goto out;
        }
        for (uint64_t dev = 0; dev < devices; dev++)
                for (uint64_t q = 0; q < queues; q++) {
                        r = dispatch_assign(&d, addr + dev * stride, q, (int) efd);
                        if (r < 0) {
                                log_error_errno(r, "Failed to add registration 0x%" PRIx64 " = %" PRIu64 ": %m",
                                                addr + dev * stride, q);
                                goto out;
                        }
                }
        r = xen_server_enable(d.xen);
        if (r < 0) {
                log_error_errno(r, "Failed to enable and bind ioreq server %" PRIu32 ": %m", xen_server_id(d.xen));
                goto out;
        }
        r = ioreq_start(&d.ioreq, d.loop, d.xen, d.match, &d.stats, &d.latency, 0, dispatch_fail);
        if (r < 0) {
                log_error_errno(r, "Failed to start dispatching: %m");
                goto out;
        }
        d.dispatching = true;

        d.sig_fd = loop_stop_signals();
        if (d.sig_fd < 0) {
                r = d.sig_fd;
                log_error_errno(r, "Failed to take signals as a descriptor: %m");
                goto out;
        }
        loop_io_init(&d.sig, dispatch_signal, d.sig_fd);
        r = loop_io_start(d.loop, &d.sig);
        if (r < 0) {
                log_error_errno(r, "Failed to watch signals: %m");
                goto out;
        }

        printf("bench-dispatch: domain %" PRIu64 ", server %" PRIu32 ", %u registrations in %u ranges\n", domid,
               xen_server_id(d.xen), match_count(d.match), match_ranges(d.match, XIRQ_SPACE_MMIO));
        fflush(stdout);
        if (ready != UINT64_MAX) {
                if (write((int) ready, "READY\n", 6) != 6) {
                        r = -errno;
                        log_error_errno(r, "Failed to report ready: %m");
                        goto out;
                }
                close((int) ready);
        }
        r = loop_run(d.loop);
        if (r == 0)
                r = d.error;
        printf("bench-dispatch: served kicks=%" PRIu64 " unmatched=%" PRIu64 " reads=%" PRIu64 " invalid=%" PRIu64
               " other=%" PRIu64 "\n",
               d.stats.kicks, d.stats.unmatched, d.stats.reads, d.stats.invalid, d.stats.other);

out:
        dispatch_free(&d);
        if (d.sig_fd >= 0) {
                loop_io_stop(d.loop, &d.sig);
                close(d.sig_fd);
        }
        loop_free(d.loop);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
