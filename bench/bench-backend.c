/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-backend: the backend of the benchmarks, the same program whatever
 * ioreq server signals it.  It waits on its eventfds with epoll and reads
 * them; with one kick in flight at a time (P1), it takes the time its read
 * returned minus the guest's stamp of that kick (BenchShm) as the delivery
 * time of the kick.
 *
 *   bench-backend --shm FD --eventfd FD [--eventfd FD ...]
 *       eventfds created by the caller and handed to the ioreq server too
 *       (xensim-floor --eventfd)
 *   bench-backend --shm FD --addr ADDR [--value V] [--claim BASE:LEN] --socket PATH [--socket PATH ...]
 *       one eventfd per socket, registered with xen-ioreqd through
 *       libxenioreqd-client: MMIO ADDR, 4 bytes, data == V (default 0);
 *       with --claim, each connection also claims MMIO [BASE, BASE + LEN)
 *       and answers every access forwarded to it at once: a read at BASE
 *       gets the virtio-mmio magic 0x74726976, a read at BASE + OFF
 *       (OFF > 0) gets 0x5a000000 | OFF (bench_claim_value())
 *
 * It reports ready (or failed) in BenchShm and exits when BenchShm.stop is set.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "benchlib.h"
#include "xenioreqd-client.h"

#define MAX_FDS 1024
#define TAG_CLAIM UINT64_C(0x100000000)        /* epoll data: TAG_CLAIM + claim index, else an fd */
/* it answers at once: a longer deadline than the default only keeps a load spike on the machine from ending the run */
#define CLAIM_DEADLINE_MS 10000

/* answer everything the daemon posted on the claim */
static void serve_claim(BenchShm *shm, xenioreqd_claim *cl) {
        xenioreqd_access a;
        int r;

        while ((r = xenioreqd_claim_next(cl, &a)) == 1) {
                r = xenioreqd_claim_answer(cl, a.seq, a.dir == XIRQ_ACCESS_READ ? bench_claim_value(a.offset) : 0);
                if (r < 0) {
                        fprintf(stderr, "bench-backend: answer: %s\n", strerror(-r));
                        atomic_fetch_add(&shm->forward_errors, 1);
                } else
                        atomic_fetch_add(&shm->forwarded, 1);
        }
        if (r < 0) {
                fprintf(stderr, "bench-backend: claim: %s\n", strerror(-r));
                atomic_fetch_add(&shm->forward_errors, 1);
        }
}

static int parse_int(const char *s, long max, long *ret) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 0);
        if (errno || end == s || *end || v < 0 || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "shm", required_argument, NULL, 's' },
                { "eventfd", required_argument, NULL, 'e' },
                { "socket", required_argument, NULL, 'S' },
                { "addr", required_argument, NULL, 'a' },
                { "value", required_argument, NULL, 'v' },
                { "claim", required_argument, NULL, 'c' },
                {},
        };
        const char *sockets[MAX_FDS];
        xenioreqd_client *clients[MAX_FDS];
        xenioreqd_claim *claims[MAX_FDS];
        int fds[MAX_FDS], nfds = 0, nsockets = 0, nclaims = 0, shm_fd = -1, ep, c, r;
        unsigned long long addr = 0, value = 0, claim_base = 0, claim_len = 0;
        bool have_addr = false;
        char *end;
        BenchShm *shm;
        long v;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 's':
                        if (parse_int(optarg, 65535, &v) < 0)
                                goto usage;
                        shm_fd = (int) v;
                        break;
                case 'e':
                        if (parse_int(optarg, 65535, &v) < 0 || nfds >= MAX_FDS)
                                goto usage;
                        fds[nfds++] = (int) v;
                        break;
                case 'S':
                        if (nsockets >= MAX_FDS)
                                goto usage;
                        sockets[nsockets++] = optarg;
                        break;
                case 'a':
                        addr = strtoull(optarg, NULL, 0);
                        have_addr = true;
                        break;
                case 'v':
                        value = strtoull(optarg, NULL, 0);
                        break;
                case 'c':
                        claim_base = strtoull(optarg, &end, 0);
                        if (*end != ':')
                                goto usage;
                        claim_len = strtoull(end + 1, &end, 0);
                        if (*end || claim_len == 0)
                                goto usage;
                        break;
                default:
                        goto usage;
                }
        }
        if (shm_fd < 0 || optind != argc || (nfds > 0) == (nsockets > 0) || (nsockets > 0 && !have_addr) ||
            (claim_len && !nsockets))
                goto usage;
        r = bench_shm_map(shm_fd, &shm);
        if (r < 0) {
                fprintf(stderr, "bench-backend: mmap: %s\n", strerror(-r));
                return 1;
        }

        for (int i = 0; i < nsockets; i++) {
                int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

                if (efd < 0) {
                        fprintf(stderr, "bench-backend: eventfd: %m\n");
                        goto fail;
                }
                r = xenioreqd_connect(sockets[i], &clients[i]);
                if (r < 0) {
                        fprintf(stderr, "bench-backend: connect %s: %s\n", sockets[i], strerror(-r));
                        goto fail;
                }
                r = xenioreqd_assign(clients[i], XIRQ_SPACE_MMIO, addr, 4, XIRQ_MATCH_EXACT, value, 0, efd);
                if (r < 0) {
                        fprintf(stderr, "bench-backend: register at %s: %s\n", sockets[i], strerror(-r));
                        goto fail;
                }
                fds[nfds++] = efd;
                if (!claim_len)
                        continue;
                r = xenioreqd_claim_range(clients[i], XIRQ_SPACE_MMIO, claim_base, claim_len, CLAIM_DEADLINE_MS,
                                          &claims[nclaims]);
                if (r < 0) {
                        fprintf(stderr, "bench-backend: claim at %s: %s\n", sockets[i], strerror(-r));
                        goto fail;
                }
                nclaims++;
        }

        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0)
                goto fail;
        for (int i = 0; i < nfds; i++) {
                struct epoll_event e = { .events = EPOLLIN, .data.u64 = (uint64_t) fds[i] };

                if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e) < 0) {
                        fprintf(stderr, "bench-backend: epoll_ctl fd %d: %m\n", fds[i]);
                        goto fail;
                }
        }
        for (int i = 0; i < nclaims; i++) {
                struct epoll_event e = { .events = EPOLLIN, .data.u64 = TAG_CLAIM + (uint64_t) i };

                if (epoll_ctl(ep, EPOLL_CTL_ADD, xenioreqd_claim_fd(claims[i]), &e) < 0) {
                        fprintf(stderr, "bench-backend: epoll_ctl claim %d: %m\n", i);
                        goto fail;
                }
        }
        atomic_store(&shm->ready, 1);

        while (!atomic_load(&shm->stop)) {
                struct epoll_event ev[64];
                int n = epoll_wait(ep, ev, 64, 100);

                for (int i = 0; i < n; i++) {
                        uint64_t cnt, t, d;

                        if (ev[i].data.u64 >= TAG_CLAIM) {
                                serve_claim(shm, claims[ev[i].data.u64 - TAG_CLAIM]);
                                continue;
                        }
                        if (read((int) ev[i].data.u64, &cnt, sizeof(cnt)) != (ssize_t) sizeof(cnt))
                                continue;
                        t = now_ns();
                        d = atomic_fetch_add(&shm->delivered, cnt) + cnt;
                        atomic_fetch_add(&shm->reads, 1);
                        if (cnt > 1)
                                atomic_fetch_add(&shm->coalesced, 1);
                        /* the newest kick this read covers is kick number d */
                        if (atomic_load(&shm->record) && d >= 1 && atomic_load(&shm->kicks) >= d) {
                                uint64_t stamp = atomic_load(&shm->stamps[(d - 1) % BENCH_STAMPS]);

                                if (t >= stamp)
                                        hist_add(&shm->delivery, t - stamp);
                        }
                }
        }
        for (int i = 0; i < nclaims; i++)
                xenioreqd_claim_free(claims[i]);
        for (int i = 0; i < nsockets; i++)
                xenioreqd_close(clients[i]);
        return 0;

fail:
        atomic_store(&shm->ready, 2);
        return 1;

usage:
        fprintf(stderr, "Usage: bench-backend --shm FD (--eventfd FD ... | --addr ADDR [--value V] [--claim BASE:LEN] "
                "--socket PATH ...)\n");
        return 2;
}
