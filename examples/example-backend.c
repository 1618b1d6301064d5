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
 * or JSON objects, one per line, with --json.
 *
 * With --device ID it is the device itself, with no Xen library and no ioreq
 * server of its own: it claims the device's 0x200-byte window and answers
 * the virtio-mmio registers (examples/vmmio.c), gets the queue kicks by
 * ioeventfd as above, and raises its interrupt through an irqfd (--irq,
 * --irq-mode).  The device serves no buffers: a kick of a running queue sets
 * the used-buffer bit of InterruptStatus and raises the interrupt.  One line
 * per event:
 *
 *   claimed base=0x2000000 size=0x200 id=1
 *   irqfd irq=line:40 mode=level id=2
 *   ready queues=2 base=0x2000000 mode=virtio domid=5 device=42 irq=line:40 irq-mode=level
 *   access read offset=0x0 size=4 value=0x74726976
 *   access write offset=0x70 size=4 value=0xf
 *   kick q=0 n=1 served                            (or ignored: queue not running)
 *   interrupt raise                                (the irqfd's eventfd signalled)
 *   interrupt lower                                (LEVEL: the resample eventfd signalled)
 *   kicks q0=1 q1=0 total=1                        (last lines, on exit)
 *   device accesses=12 kicks=1 raised=1 lowered=1
 *
 * Exit status: 0 when stopped by SIGINT/SIGTERM, --duration or --count; 1
 * when setting up failed (or the daemon's ring broke); 2 when xen-ioreqd
 * closed the connection (guest stopped, daemon exited).
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
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>

#include "cli.h"
#include "vmmio.h"
#include "xirq-device.h"
#include "xenioreqd-client.h"

#define MAX_QUEUES      1024u
#define TAG_SIGNAL      UINT64_C(0xffffffff00000001)
#define TAG_SOCKET      UINT64_C(0xffffffff00000002)
#define TAG_CLAIM       UINT64_C(0xffffffff00000003)

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
        uint32_t device_id;     /* --device: 0 = count kicks only */
        xenioreqd_irqfd_spec irq;
        const char *irq_name;   /* as given */
} Options;

/* --device: the register file, reached through the claim, and the interrupt, sent through the irqfd */
typedef struct Device {
        XirqDevice x;
        uint32_t irqfd_id;
} Device;

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
                "  -D, --device ID        be a virtio-mmio device of this device id: claim the window at\n"
                "                         --base, answer its registers, interrupt through an irqfd\n"
                "  -I, --irq KIND:N       the device's interrupt: line:GSI_OR_SPI, isa:IRQ, intx:DEV:PIN or\n"
                "                         evtchn:PORT (the guest's unbound event channel port)\n"
                "      --irq-mode MODE    edge (default), level (the line stays up until the driver\n"
                "                         acknowledges the interrupt) or raise\n"
                "  -h, --help\n");
}

static int parse_queues(const char *s, Options *o) {
        uint64_t n;

        if (!strchr(s, ',') && cli_u64(s, &n) == 0) {
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
                if (cli_u64(tok, &n) < 0 || n > 0xffff)
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
                { "device", required_argument, NULL, 'D' },   { "irq", required_argument, NULL, 'I' },
                { "irq-mode", required_argument, NULL, 'Q' },
                {},
        };
        uint64_t v;
        int c;

        *o = (Options) { .base = 0x2000000, .n_queues = 1, .mode = MODE_VIRTIO, .interval = 1,
                         .irq.mode = XIRQ_IRQFD_EDGE };
        while ((c = getopt_long(argc, argv, "s:b:q:m:d:c:i:w:jD:I:h", longopts, NULL)) >= 0) {
                switch (c) {
                case 's':
                        o->socket = optarg;
                        break;
                case 'b':
                        if (cli_u64(optarg, &o->base) < 0) {
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
                        if (cli_seconds(optarg, c == 'd' ? &o->duration : c == 'i' ? &o->interval : &o->wait) < 0) {
                                fprintf(stderr, "Invalid number of seconds: %s\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'c':
                        if (cli_u64(optarg, &o->count) < 0) {
                                fprintf(stderr, "Invalid --count: %s\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'j':
                        o->json = true;
                        break;
                case 'D':
                        if (cli_u64(optarg, &v) < 0 || v < 1 || v > UINT32_MAX) {
                                fprintf(stderr, "Invalid --device: %s (a virtio device id, 1 or more)\n", optarg);
                                return -EINVAL;
                        }
                        o->device_id = (uint32_t) v;
                        break;
                case 'I':
                        if (cli_irq(optarg, &o->irq) < 0)
                                return -EINVAL;
                        o->irq_name = optarg;
                        break;
                case 'Q':
                        if (cli_irq_mode(optarg, &o->irq.mode) < 0)
                                return -EINVAL;
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
        if (o->device_id) {
                unsigned max = 0;
                for (unsigned i = 0; i < o->n_queues; i++)
                        max = o->queues[i] > max ? o->queues[i] : max;
                if (max >= VMMIO_QUEUES_MAX || !o->irq_name || o->json || o->base % 4 != 0) {
                        fprintf(stderr, "--device needs --irq, queues below %u, a base aligned to 4, no --json\n",
                                VMMIO_QUEUES_MAX);
                        return -EINVAL;
                }
                if (cli_irq_check(&o->irq) < 0)
                        return -EINVAL;
        } else if (o->irq_name) {
                fprintf(stderr, "--irq needs --device\n");
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

/* ---- --device: a virtio-mmio device that serves no buffers ---- */

/*
 * The device never reads or writes the guest's memory (it has no access to
 * it: no Xen library): its queues all map to one zeroed scratch area of its
 * own, so that the register file can start them.  A device that serves
 * buffers maps the guest's memory instead (gmem.h).
 */
static uint8_t scratch_area[GMEM_MAP_MAX];

static int scratch_map(GuestMem *m, uint64_t gpa, size_t len, bool write, void **ret_ptr) {
        *ret_ptr = scratch_area;
        return 0;
}

static void scratch_unmap(GuestMem *m, void *ptr) {
}

static void scratch_flush(GuestMem *m) {
}

static const GuestMemOps scratch_ops = {
        .map = scratch_map,
        .unmap = scratch_unmap,
        .flush = scratch_flush,
        .free = scratch_flush,
};
static GuestMem scratch_mem = { .ops = &scratch_ops };

static void device_config_read(void *opaque, void *buf) {
}

static void device_reset(void *opaque) {
}

/* a kick of a running queue: as if the device had used a buffer */
static void device_queue_notify(void *opaque, unsigned queue) {
        Device *d = opaque;

        vmmio_queue_used(d->x.regs, vmmio_queue(d->x.regs, queue));
}

/* The register file, the irqfd, the claim of its window (last: the guest sees the device from then on). */
static int device_setup(const Options *o, xenioreqd_client *c, Device *d) {
        VmmioDevice dev = {
                .device_id = o->device_id,
                .vendor_id = 0x71726978,        /* "xirq" */
                .features = UINT64_C(1) << VIRTIO_F_VERSION_1,
                .queue_num_max = 256,
                .config_read = device_config_read,
                .queue_notify = device_queue_notify,
                .reset = device_reset,
        };
        int r;

        for (unsigned i = 0; i < o->n_queues; i++)
                if (o->queues[i] >= dev.num_queues)
                        dev.num_queues = o->queues[i] + 1u;
        d->x.trace = true;
        r = vmmio_new(&d->x.regs, &dev, d, &scratch_mem, xirq_device_irq, &d->x);
        if (r < 0) {
                fprintf(stderr, "Failed to set up the register file: %s\n", strerror(-r));
                return r;
        }
        r = xirq_device_irqfd(&d->x, c, &o->irq, &d->irqfd_id);
        if (r < 0) {
                fprintf(stderr, "Failed to assign an irqfd for %s (%s): %s\n", o->irq_name,
                        cli_irq_mode_name(o->irq.mode), strerror(-r));
                return r;
        }
        printf("irqfd irq=%s mode=%s id=%" PRIu32 "\n", o->irq_name, cli_irq_mode_name(o->irq.mode), d->irqfd_id);
        r = xirq_device_claim(&d->x, c, o->base);
        if (r < 0) {
                fprintf(stderr, "Failed to claim 0x%x bytes at 0x%" PRIx64 ": %s\n", XIRQ_DEVICE_WINDOW, o->base,
                        strerror(-r));
                return r;
        }
        printf("claimed base=0x%" PRIx64 " size=0x%x id=%" PRIu32 "\n", o->base, XIRQ_DEVICE_WINDOW,
               xenioreqd_claim_id(d->x.claim));
        return 0;
}

static void device_kick(Device *d, const Queue *q, uint64_t n) {
        bool running = vmmio_queue(d->x.regs, q->index) != NULL;

        printf("kick q=%u n=%" PRIu64 " %s\n", q->index, n, running ? "served" : "ignored");
        vmmio_notify(d->x.regs, q->index);      /* once: the device looks at the queue, however often kicked */
}

static void device_teardown(Device *d) {
        xirq_device_fini(&d->x);
        vmmio_free(d->x.regs);
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
        Device dev = {};
        xenioreqd_client *c = NULL;
        int ep = -1, sfd = -1, status = 1, r;
        uint64_t total = 0, last_total = 0;
        double start, next_print, last_print;
        bool running = true;

        setvbuf(stdout, NULL, _IOLBF, 0);
        xirq_device_init(&dev.x);
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
        sfd = cli_signalfd();
        if (sfd < 0) {
                fprintf(stderr, "Failed to set up signals: %s\n", strerror(-sfd));
                goto out;
        }

        if (setup(&o, queues, &c) < 0)
                goto out;
        if (o.device_id && device_setup(&o, c, &dev) < 0)
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
                ev = (struct epoll_event) { .events = EPOLLIN, .data.u64 = TAG_CLAIM };
                if (dev.x.claim && epoll_ctl(ep, EPOLL_CTL_ADD, xenioreqd_claim_fd(dev.x.claim), &ev) < 0)
                        goto epoll_fail;
        }

        if (o.json)
                printf("{\"ready\":true,\"queues\":%u,\"base\":\"0x%" PRIx64 "\",\"mode\":\"%s\",\"domid\":%" PRIu32 "}\n",
                       o.n_queues, o.base, mode_names[o.mode], xenioreqd_domid(c));
        else if (!o.device_id)
                printf("ready queues=%u base=0x%" PRIx64 " mode=%s domid=%" PRIu32 "\n", o.n_queues, o.base,
                       mode_names[o.mode], xenioreqd_domid(c));
        else
                printf("ready queues=%u base=0x%" PRIx64 " mode=%s domid=%" PRIu32 " device=%" PRIu32
                       " irq=%s irq-mode=%s\n", o.n_queues, o.base, mode_names[o.mode], xenioreqd_domid(c),
                       o.device_id, o.irq_name, cli_irq_mode_name(o.irq.mode));
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
                        } else if (tag == TAG_CLAIM) {
                                r = xirq_device_serve(&dev.x);
                                if (r < 0) {
                                        fprintf(stderr, "Failed to serve the device's accesses: %s\n", strerror(-r));
                                        status = 1;
                                        running = false;
                                }
                        } else if (tag < o.n_queues) {
                                uint64_t v;
                                Queue *q = &queues[tag];
                                if (read(q->efd, &v, sizeof(v)) == (ssize_t) sizeof(v)) {
                                        q->kicks += v;
                                        q->wakeups++;
                                        total += v;
                                        if (dev.x.regs)
                                                device_kick(&dev, q, v);
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
        if (dev.x.regs)
                printf("device accesses=%" PRIu64 " kicks=%" PRIu64 " raised=%" PRIu64 " lowered=%" PRIu64 "\n",
                       dev.x.accesses, vmmio_stats(dev.x.regs)->kicks, dev.x.raised, dev.x.lowered);
        goto out;

epoll_fail:
        fprintf(stderr, "epoll_ctl: %m\n");
        status = 1;
out:
        r = status;
        device_teardown(&dev);
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
