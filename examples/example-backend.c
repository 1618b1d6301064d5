/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xen-ioreqd-example-backend: the smallest useful virtio-mmio backend.
 *
 * Connects to a guest's xen-ioreqd socket, registers one eventfd per queue of
 * a virtio-mmio device (QUEUE_NOTIFY at base + 0x50), waits on them with
 * epoll and counts the kicks of every queue.  Output is meant for scripts:
 *
 *   ready queues=2 base=0x2000000 mode=virtio domid=5
 *   kicks q0=10 q1=3 total=13 rate=13/s            (every --interval)
 *   kicks q0=20 q1=7 total=27                      (last line, on exit)
 *
 * or JSON objects, one per line, with --json.  Exit status: 0 when stopped
 * by SIGINT/SIGTERM, --duration or --count; 1 when setting up failed; 2 when
 * xen-ioreqd closed the connection (guest stopped, daemon exited).
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "xenioreqd-client.h"

#define MAX_QUEUES      1024u
#define TAG_SIGNAL      UINT64_C(0xffffffff00000001)
#define TAG_SOCKET      UINT64_C(0xffffffff00000002)

enum { MODE_VIRTIO, MODE_MASK, MODE_EXACT, MODE_PRIVCMD };
static const char *const mode_names[] = { "virtio", "mask", "exact", "privcmd" };

typedef struct Queue {
        uint16_t index;
        int efd;
        uint64_t kicks;
        uint64_t wakeups;
} Queue;

typedef struct Options {
        const char *socket;
        uint64_t base;
        unsigned n_queues;
        uint16_t queues[MAX_QUEUES];
        int mode;
        double duration;        /* seconds, 0 = until stopped */
        uint64_t count;         /* total kicks, 0 = no limit */
        double interval;        /* seconds between live lines, 0 = none */
        bool json;
        double wait;            /* seconds to wait for the socket / guest */
} Options;

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void usage(FILE *f) {
        fprintf(f,
                "Usage: xen-ioreqd-example-backend --socket PATH [options]\n"
                "  -s, --socket PATH      the guest's xen-ioreqd socket\n"
                "  -b, --base ADDR        virtio-mmio device base (default 0x2000000)\n"
                "  -q, --queues N|LIST    number of queues (0..N-1) or a list like 0,2,5 (default 1);\n"
                "                         a single queue index I is the list \"I,\"\n"
                "  -m, --mode MODE        virtio (VIRTIO_MMIO message, default), mask (ASSIGN with\n"
                "                         mask 0xffff), exact (ASSIGN of the exact queue index),\n"
                "                         privcmd (xenioreqd_ioeventfd, privcmd-style)\n"
                "      --mask             same as --mode mask\n"
                "      --exact            same as --mode exact\n"
                "  -d, --duration SEC     stop after SEC seconds\n"
                "  -c, --count N          stop after N kicks in total\n"
                "  -i, --interval SEC     print counts every SEC seconds (default 1, 0 = only at the end)\n"
                "  -w, --wait SEC         retry connecting/registering for up to SEC seconds\n"
                "  -j, --json             print JSON objects, one per line\n"
                "  -h, --help\n");
}

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!*s || *s == '-')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_seconds(const char *s, double *ret) {
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno || *end || !(v >= 0) || v > 1e7)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_queues(const char *s, Options *o) {
        uint64_t n;

        if (!strchr(s, ',') && parse_u64(s, &n) == 0) {
                if (n < 1 || n > MAX_QUEUES)
                        return -EINVAL;
                o->n_queues = (unsigned) n;
                for (unsigned i = 0; i < n; i++)
                        o->queues[i] = (uint16_t) i;
                return 0;
        }
        o->n_queues = 0;
        for (const char *p = s; *p;) {
                char tok[32];
                size_t len = strcspn(p, ",");
                if (len == 0 || len >= sizeof(tok) || o->n_queues >= MAX_QUEUES)
                        return -EINVAL;
                memcpy(tok, p, len);
                tok[len] = '\0';
                if (parse_u64(tok, &n) < 0 || n > 0xffff)
                        return -EINVAL;
                for (unsigned i = 0; i < o->n_queues; i++)
                        if (o->queues[i] == n)
                                return -EINVAL;
                o->queues[o->n_queues++] = (uint16_t) n;
                p += len;
                if (*p == ',')
                        p++;
        }
        return o->n_queues ? 0 : -EINVAL;
}

static int parse_args(int argc, char **argv, Options *o) {
        static const struct option longopts[] = {
                { "socket", required_argument, NULL, 's' },   { "base", required_argument, NULL, 'b' },
                { "queues", required_argument, NULL, 'q' },   { "mode", required_argument, NULL, 'm' },
                { "mask", no_argument, NULL, 'M' },           { "exact", no_argument, NULL, 'E' },
                { "duration", required_argument, NULL, 'd' }, { "count", required_argument, NULL, 'c' },
                { "interval", required_argument, NULL, 'i' }, { "wait", required_argument, NULL, 'w' },
                { "json", no_argument, NULL, 'j' },           { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

        *o = (Options) { .base = 0x2000000, .n_queues = 1, .mode = MODE_VIRTIO, .interval = 1 };
        while ((c = getopt_long(argc, argv, "s:b:q:m:d:c:i:w:jh", longopts, NULL)) >= 0) {
                switch (c) {
                case 's':
                        o->socket = optarg;
                        break;
                case 'b':
                        if (parse_u64(optarg, &o->base) < 0) {
                                fprintf(stderr, "Invalid --base: %s\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'q':
                        if (parse_queues(optarg, o) < 0) {
                                fprintf(stderr, "Invalid --queues: %s (1..%u, or a list of distinct indexes "
                                        "0..65535)\n", optarg, MAX_QUEUES);
                                return -EINVAL;
                        }
                        break;
                case 'm':
                        o->mode = -1;
                        for (int i = 0; i < 4; i++)
                                if (strcmp(optarg, mode_names[i]) == 0)
                                        o->mode = i;
                        if (o->mode < 0) {
                                fprintf(stderr, "Invalid --mode: %s (virtio, mask, exact, privcmd)\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'M':
                        o->mode = MODE_MASK;
                        break;
                case 'E':
                        o->mode = MODE_EXACT;
                        break;
                case 'd':
                case 'i':
                case 'w':
                        if (parse_seconds(optarg, c == 'd' ? &o->duration : c == 'i' ? &o->interval : &o->wait) < 0) {
                                fprintf(stderr, "Invalid number of seconds: %s\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'c':
                        if (parse_u64(optarg, &o->count) < 0) {
                                fprintf(stderr, "Invalid --count: %s\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'j':
                        o->json = true;
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                default:
                        usage(stderr);
                        return -EINVAL;
                }
        }
        if (optind < argc || !o->socket) {
                usage(stderr);
                return -EINVAL;
        }
        return 0;
}

static int register_queue(xenioreqd_client *c, const Options *o, const Queue *q) {
        switch (o->mode) {
        case MODE_VIRTIO:
                return xenioreqd_virtio_mmio_assign(c, o->base, q->index, q->efd);
        case MODE_MASK:
                return xenioreqd_assign(c, XIRQ_SPACE_MMIO, o->base + XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY, 4,
                                        XIRQ_MATCH_MASK, q->index, 0xffff, q->efd);
        case MODE_EXACT:
                return xenioreqd_assign(c, XIRQ_SPACE_MMIO, o->base + XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY, 4,
                                        XIRQ_MATCH_EXACT, q->index, 0, q->efd);
        default:
                return xenioreqd_ioeventfd(c, o->base, 4, q->efd, q->index, 0);
        }
}

/* Connect and register every queue; with --wait, retry while the socket or guest is missing. */
static int setup(const Options *o, Queue *queues, xenioreqd_client **ret) {
        double deadline = now() + o->wait;
        xenioreqd_client *c = NULL;
        unsigned i = 0;
        int r;

        for (;;) {
                r = c ? 0 : xenioreqd_connect(o->socket, &c);
                for (i = 0; r == 0 && i < o->n_queues; i++)
                        r = register_queue(c, o, &queues[i]);
                if (r == 0)
                        break;
                if (c) {
                        xenioreqd_close(c);     /* also drops what was registered */
                        c = NULL;
                }
                if ((r != -ENOENT && r != -ECONNREFUSED && r != -ESRCH) || now() >= deadline)
                        break;
                usleep(100000);
        }
        if (r < 0) {
                if (i > 0)
                        fprintf(stderr, "Failed to register queue %u at base 0x%" PRIx64 " on %s: %s%s\n",
                                queues[i - 1].index, o->base, o->socket, strerror(-r),
                                r == -ESRCH ? " (the guest is not running; --wait waits for it)" : "");
                else
                        fprintf(stderr, "Failed to connect to %s: %s\n", o->socket, strerror(-r));
                return r;
        }
        *ret = c;
        return 0;
}

static void print_counts(const Options *o, const Queue *queues, double elapsed, double rate, bool final) {
        uint64_t total = 0;

        for (unsigned i = 0; i < o->n_queues; i++)
                total += queues[i].kicks;
        if (o->json) {
                printf("{\"%s\":%s,\"elapsed\":%.3f,\"kicks\":{", final ? "final" : "live", "true", elapsed);
                for (unsigned i = 0; i < o->n_queues; i++)
                        printf("%s\"%u\":%" PRIu64, i ? "," : "", queues[i].index, queues[i].kicks);
                printf("},\"total\":%" PRIu64, total);
                if (!final)
                        printf(",\"rate\":%.0f", rate);
                printf("}\n");
        } else {
                printf("kicks");
                for (unsigned i = 0; i < o->n_queues; i++)
                        printf(" q%u=%" PRIu64, queues[i].index, queues[i].kicks);
                printf(" total=%" PRIu64, total);
                if (!final)
                        printf(" rate=%.0f/s", rate);
                printf("\n");
        }
        fflush(stdout);
}

int main(int argc, char **argv) {
        Options o;
        Queue *queues;
        xenioreqd_client *c = NULL;
        sigset_t mask;
        int ep = -1, sfd = -1, status = 1, r;
        uint64_t total = 0, last_total = 0;
        double start, next_print, last_print;
        bool running = true;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (parse_args(argc, argv, &o) < 0)
                return 1;
        queues = calloc(o.n_queues, sizeof(*queues));
        if (!queues)
                return 1;
        for (unsigned i = 0; i < o.n_queues; i++)
                queues[i].efd = -1;
        for (unsigned i = 0; i < o.n_queues; i++) {
                queues[i].index = o.queues[i];
                queues[i].efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (queues[i].efd < 0) {
                        fprintf(stderr, "Failed to create an eventfd: %m\n");
                        goto out;
                }
        }

        /* signals through a signalfd, handled in the same epoll loop */
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 || (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
                fprintf(stderr, "Failed to set up signals: %m\n");
                goto out;
        }

        if (setup(&o, queues, &c) < 0)
                goto out;

        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0) {
                fprintf(stderr, "epoll_create1: %m\n");
                goto out;
        }
        for (unsigned i = 0; i < o.n_queues; i++) {
                struct epoll_event ev = { .events = EPOLLIN, .data.u64 = i };
                if (epoll_ctl(ep, EPOLL_CTL_ADD, queues[i].efd, &ev) < 0)
                        goto epoll_fail;
        }
        {
                struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TAG_SIGNAL };
                if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) < 0)
                        goto epoll_fail;
                /* nothing is ever read from the socket between requests: readable means hang-up */
                ev = (struct epoll_event) { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = TAG_SOCKET };
                if (epoll_ctl(ep, EPOLL_CTL_ADD, xenioreqd_fd(c), &ev) < 0)
                        goto epoll_fail;
        }

        if (o.json)
                printf("{\"ready\":true,\"queues\":%u,\"base\":\"0x%" PRIx64 "\",\"mode\":\"%s\",\"domid\":%" PRIu32 "}\n",
                       o.n_queues, o.base, mode_names[o.mode], xenioreqd_domid(c));
        else
                printf("ready queues=%u base=0x%" PRIx64 " mode=%s domid=%" PRIu32 "\n", o.n_queues, o.base,
                       mode_names[o.mode], xenioreqd_domid(c));
        fflush(stdout);

        start = last_print = now();
        next_print = o.interval > 0 ? start + o.interval : 0;
        status = 0;
        while (running) {
                struct epoll_event evs[64];
                double t = now(), until = 1e18;
                int timeout, n;

                if (o.duration > 0)
                        until = start + o.duration;
                if (next_print > 0 && next_print < until)
                        until = next_print;
                timeout = until >= 1e17 ? -1 : (until <= t ? 0 : (int) ((until - t) * 1000) + 1);
                n = epoll_wait(ep, evs, 64, timeout);
                if (n < 0 && errno != EINTR) {
                        fprintf(stderr, "epoll_wait: %m\n");
                        status = 1;
                        break;
                }
                for (int k = 0; k < n; k++) {
                        uint64_t tag = evs[k].data.u64;
                        if (tag == TAG_SIGNAL) {
                                running = false;
                        } else if (tag == TAG_SOCKET) {
                                fprintf(stderr, "xen-ioreqd closed the connection (guest stopped or daemon "
                                        "exited)\n");
                                status = 2;
                                running = false;
                        } else if (tag < o.n_queues) {
                                uint64_t v;
                                Queue *q = &queues[tag];
                                if (read(q->efd, &v, sizeof(v)) == (ssize_t) sizeof(v)) {
                                        q->kicks += v;
                                        q->wakeups++;
                                        total += v;
                                }
                        }
                }
                t = now();
                if (o.count > 0 && total >= o.count)
                        running = false;
                if (o.duration > 0 && t >= start + o.duration)
                        running = false;
                if (running && next_print > 0 && t >= next_print) {
                        print_counts(&o, queues, t - start, (double) (total - last_total) / (t - last_print), false);
                        last_total = total;
                        last_print = t;
                        next_print = t + o.interval;
                }
        }
        /* kicks already signalled count too */
        for (unsigned i = 0; i < o.n_queues; i++) {
                uint64_t v;
                if (read(queues[i].efd, &v, sizeof(v)) == (ssize_t) sizeof(v))
                        queues[i].kicks += v;
        }
        print_counts(&o, queues, now() - start, 0, true);
        goto out;

epoll_fail:
        fprintf(stderr, "epoll_ctl: %m\n");
        status = 1;
out:
        r = status;
        xenioreqd_close(c);
        if (ep >= 0)
                close(ep);
        if (sfd >= 0)
                close(sfd);
        for (unsigned i = 0; i < o.n_queues && queues; i++)
                if (queues[i].efd >= 0)
                        close(queues[i].efd);
        free(queues);
        return r;
}
