/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xen-ioreqd-vblk: a virtio-blk disk of a Xen guest, backed by a file and
 * served through xen-ioreqd, with no ioreq server of its own.
 *
 * It connects to the guest's xen-ioreqd socket, then
 *   - registers an eventfd for QUEUE_NOTIFY of queue 0 (an ioeventfd): the
 *     queue kicks take the daemon's fast path;
 *   - assigns an irqfd: signalling its eventfd makes the daemon inject the
 *     device's interrupt (--irq, --irq-mode);
 *   - claims the device's 0x200-byte virtio-mmio window: every other access
 *     to it is forwarded here and answered by the register file (vmmio.c);
 * and maps the guest's memory itself, through libxenforeignmemory restricted
 * to the guest's domain (gmem-xen.c), for the rings and buffers that
 * requests name.  The requests are served by vblk.c, which treats every
 * descriptor as hostile.  One thread, one epoll loop.
 *
 * Output, for scripts (the last line on one line):
 *
 *   ready base=0xfe000000 domid=5 sectors=2048 read-only=no irq=isa:7 irq-mode=edge
 *   vblk requests=40 ioerr=0 unsupp=0 bytes-read=1179648 bytes-written=131072 kicks=31
 *        wakeups=31 interrupts=40 lowered=0 accesses=95 bad-accesses=0 failures=0 resets=1
 *
 * The vblk line comes at the end, and with --interval also every SEC seconds
 * (the counters so far).
 * kicks counts the guest's QUEUE_NOTIFY writes (the eventfd's counts, summed:
 * the daemon counts the same ones), interrupts the signals of the irqfd.
 * Exit status: 0 when stopped by SIGINT or SIGTERM; 1 when setting up failed
 * or the claim's ring broke; 2 when xen-ioreqd closed the connection (the
 * guest is gone, the daemon exited).
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "gmem.h"
#include "vblk.h"
#include "vlog.h"
#include "xenioreqd-client.h"
#include "xirq-device.h"

#define DOMID_NONE      UINT32_C(0xffffffff)

enum { TAG_SIGNAL, TAG_SOCKET, TAG_CLAIM, TAG_KICK, TAG_TIMER };

typedef struct Options {
        const char *socket;
        const char *file;
        const char *serial;     /* NULL: vblk.c's default */
        uint64_t base;
        bool read_only;
        double wait;            /* seconds to wait for the socket and the guest */
        double interval;        /* seconds between vblk lines while running (0: only at the end) */
        xenioreqd_irqfd_spec irq;
        const char *irq_name;   /* as given */
} Options;

typedef struct Backend {
        xenioreqd_client *client;
        GuestMem *mem;
        VirtioBlk *blk;
        XirqDevice dev;         /* the registers through the claim, the interrupt through the irqfd */
        int disk_fd;
        int kick_fd;            /* the ioeventfd of queue 0 */
        uint64_t kicks, wakeups;
} Backend;

static void usage(FILE *f) {
        fprintf(f,
                "Usage: xen-ioreqd-vblk --socket PATH --file PATH --irq KIND:N [options]\n"
                "  -s, --socket PATH      the guest's xen-ioreqd socket\n"
                "  -f, --file PATH        the disk: a regular file or a block device (whole 512-byte\n"
                "                         sectors of it)\n"
                "  -r, --read-only        open it read-only: a read-only disk (VIRTIO_BLK_F_RO)\n"
                "  -b, --base ADDR        the device's virtio-mmio window (default 0x2000000)\n"
                "  -I, --irq KIND:N       the device's interrupt: " CLI_IRQ_SYNTAX "\n"
                "      --irq-mode MODE    edge (default: raised and lowered once per interrupt),\n"
                "                         level (up until the driver acknowledges) or raise\n"
                "  -S, --serial TEXT      what GET_ID answers (at most 20 bytes used)\n"
                "  -w, --wait SEC         retry connecting for up to SEC seconds while the socket or\n"
                "                         the guest is missing\n"
                "  -i, --interval SEC     print the counters every SEC seconds too\n"
                "  -v, --verbose          log what the guest does wrong (rate-limited)\n"
                "  -h, --help\n");
}

static int parse_args(int argc, char **argv, Options *o) {
        static const struct option longopts[] = {
                { "socket", required_argument, NULL, 's' }, { "file", required_argument, NULL, 'f' },
                { "read-only", no_argument, NULL, 'r' },    { "base", required_argument, NULL, 'b' },
                { "irq", required_argument, NULL, 'I' },    { "irq-mode", required_argument, NULL, 'M' },
                { "serial", required_argument, NULL, 'S' }, { "wait", required_argument, NULL, 'w' },
                { "verbose", no_argument, NULL, 'v' },      { "help", no_argument, NULL, 'h' },
                { "interval", required_argument, NULL, 'i' },
                {},
        };
        int c;

        *o = (Options) { .base = 0x2000000, .irq.mode = XIRQ_IRQFD_EDGE };
        while ((c = getopt_long(argc, argv, "s:f:rb:I:S:w:i:vh", longopts, NULL)) >= 0) {
                switch (c) {
                case 's':
                        o->socket = optarg;
                        break;
                case 'f':
                        o->file = optarg;
                        break;
                case 'r':
                        o->read_only = true;
                        break;
                case 'b':
                        if (cli_u64(optarg, &o->base) < 0 || o->base % 4 != 0 ||
                            o->base > UINT64_MAX - XIRQ_DEVICE_WINDOW) {
                                fprintf(stderr, "Invalid --base: %s (an address aligned to 4)\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'I':
                        if (cli_irq(optarg, &o->irq) < 0)
                                return -EINVAL;
                        o->irq_name = optarg;
                        break;
                case 'M':
                        if (cli_irq_mode(optarg, &o->irq.mode) < 0)
                                return -EINVAL;
                        break;
                case 'S':
                        o->serial = optarg;
                        break;
                case 'w':
                        if (cli_seconds(optarg, &o->wait) < 0) {
                                fprintf(stderr, "Invalid --wait: %s\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'i':
                        if (cli_seconds(optarg, &o->interval) < 0) {
                                fprintf(stderr, "Invalid --interval: %s\n", optarg);
                                return -EINVAL;
                        }
                        break;
                case 'v':
                        vlog_set_debug(true);
                        break;
                case 'h':
                        usage(stdout);
                        exit(0);
                default:
                        usage(stderr);
                        return -EINVAL;
                }
        }
        if (optind < argc || !o->socket || !o->file || !o->irq_name) {
                usage(stderr);
                return -EINVAL;
        }
        if (cli_irq_check(&o->irq) < 0)
                return -EINVAL;
        return 0;
}

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Connect to a running guest; with --wait, retry while the socket or the guest is missing. */
static int connect_guest(const Options *o, xenioreqd_client **ret) {
        double deadline = now() + o->wait;

        for (;;) {
                xenioreqd_client *c = NULL;
                int r = xenioreqd_connect(o->socket, &c);

                if (r == 0 && xenioreqd_domid(c) != DOMID_NONE) {
                        *ret = c;
                        return 0;
                }
                if (r == 0) {
                        xenioreqd_close(c);
                        r = -ESRCH;
                }
                if ((r != -ENOENT && r != -ECONNREFUSED && r != -ESRCH) || now() >= deadline)
                        return r;
                usleep(100000);
        }
}

/* The disk, the guest's memory, the device; then the kicks, the interrupt and the window. */
static int backend_setup(const Options *o, Backend *b) {
        uint32_t domid;
        int r;

        b->disk_fd = open(o->file, (o->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (b->disk_fd < 0) {
                r = -errno;
                fprintf(stderr, "Failed to open %s: %s\n", o->file, strerror(-r));
                return r;
        }
        r = connect_guest(o, &b->client);
        if (r < 0) {
                fprintf(stderr, "Failed to connect to the guest at %s: %s%s\n", o->socket, strerror(-r),
                        r == -ESRCH ? " (the guest is not running; --wait waits for it)" : "");
                return r;
        }
        domid = xenioreqd_domid(b->client);
        r = gmem_xen_new(&b->mem, domid);
        if (r < 0) {
                fprintf(stderr, "Failed to open the memory of domain %" PRIu32 ": %s\n", domid, strerror(-r));
                return r;
        }
        r = vblk_new(&b->blk, b->disk_fd, o->serial, b->mem, xirq_device_irq, &b->dev);
        if (r < 0) {
                fprintf(stderr, "Failed to make a disk of %s: %s\n", o->file,
                        r == -EINVAL ? "not a regular file or a block device" : strerror(-r));
                return r;
        }
        b->dev.regs = vblk_mmio(b->blk);

        b->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (b->kick_fd < 0) {
                r = -errno;
                fprintf(stderr, "Failed to create an eventfd: %s\n", strerror(-r));
                return r;
        }
        r = xenioreqd_virtio_mmio_assign(b->client, o->base, 0, b->kick_fd);
        if (r < 0) {
                fprintf(stderr, "Failed to register QUEUE_NOTIFY at 0x%" PRIx64 ": %s\n",
                        o->base + XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY, strerror(-r));
                return r;
        }
        r = xirq_device_irqfd(&b->dev, b->client, &o->irq, NULL);
        if (r < 0) {
                fprintf(stderr, "Failed to assign an irqfd for %s (%s): %s\n", o->irq_name,
                        cli_irq_mode_name(o->irq.mode), strerror(-r));
                return r;
        }
        /* last: the guest sees the device from here on */
        r = xirq_device_claim(&b->dev, b->client, o->base);
        if (r < 0) {
                fprintf(stderr, "Failed to claim 0x%x bytes at 0x%" PRIx64 ": %s\n", XIRQ_DEVICE_WINDOW, o->base,
                        strerror(-r));
                return r;
        }
        return 0;
}

/* The guest kicked queue 0, once or more: the device serves what is available, once. */
static void backend_kick(Backend *b) {
        uint64_t n;

        if (read(b->kick_fd, &n, sizeof(n)) != (ssize_t) sizeof(n))
                return;
        b->kicks += n;
        b->wakeups++;
        vmmio_notify(vblk_mmio(b->blk), 0);
}

static void backend_print(const Backend *b) {
        const VblkStats *s = vblk_stats(b->blk);
        const VmmioStats *m = vmmio_stats(vblk_mmio(b->blk));

        printf("vblk requests=%" PRIu64 " ioerr=%" PRIu64 " unsupp=%" PRIu64 " bytes-read=%" PRIu64
               " bytes-written=%" PRIu64 " kicks=%" PRIu64 " wakeups=%" PRIu64 " interrupts=%" PRIu64
               " lowered=%" PRIu64 " accesses=%" PRIu64 " bad-accesses=%" PRIu64 " failures=%" PRIu64
               " resets=%" PRIu64 "\n",
               s->requests, s->ioerr, s->unsupp, s->bytes_read, s->bytes_written, b->kicks, b->wakeups, b->dev.raised,
               b->dev.lowered, b->dev.accesses, m->bad_accesses, m->failures, m->resets);
}

static void backend_teardown(Backend *b) {
        xirq_device_fini(&b->dev);              /* closing the connection takes the claim and the rest */
        xenioreqd_close(b->client);
        vblk_free(b->blk);
        gmem_free(b->mem);
        if (b->disk_fd >= 0)
                close(b->disk_fd);
        if (b->kick_fd >= 0)
                close(b->kick_fd);
}

static int watch(int ep, int fd, uint32_t events, uint64_t tag) {
        struct epoll_event ev = { .events = events, .data.u64 = tag };

        return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int main(int argc, char **argv) {
        Options o;
        Backend b = { .disk_fd = -1, .kick_fd = -1 };
        int ep = -1, sfd = -1, tfd = -1, status = 1;
        bool running = true;

        setvbuf(stdout, NULL, _IOLBF, 0);
        xirq_device_init(&b.dev);
        if (parse_args(argc, argv, &o) < 0)
                return 1;
        sfd = cli_signalfd();
        if (sfd < 0) {
                fprintf(stderr, "Failed to set up signals: %s\n", strerror(-sfd));
                goto out;
        }
        if (backend_setup(&o, &b) < 0)
                goto out;
        ep = epoll_create1(EPOLL_CLOEXEC);
        /* nothing is read from the socket between requests: readable means hang-up */
        if (ep < 0 || watch(ep, sfd, EPOLLIN, TAG_SIGNAL) < 0 ||
            watch(ep, xenioreqd_fd(b.client), EPOLLIN | EPOLLRDHUP, TAG_SOCKET) < 0 ||
            watch(ep, xenioreqd_claim_fd(b.dev.claim), EPOLLIN, TAG_CLAIM) < 0 ||
            watch(ep, b.kick_fd, EPOLLIN, TAG_KICK) < 0) {
                fprintf(stderr, "Failed to set up epoll: %m\n");
                goto out;
        }
        if (o.interval > 0) {
                struct itimerspec its;

                its.it_value.tv_sec = (time_t) o.interval;
                its.it_value.tv_nsec = (long) ((o.interval - (double) its.it_value.tv_sec) * 1e9);
                if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
                        its.it_value.tv_nsec = 1;
                its.it_interval = its.it_value;
                tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
                if (tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0 || watch(ep, tfd, EPOLLIN, TAG_TIMER) < 0) {
                        fprintf(stderr, "Failed to set up the interval timer: %m\n");
                        goto out;
                }
        }
        printf("ready base=0x%" PRIx64 " domid=%" PRIu32 " sectors=%" PRIu64 " read-only=%s irq=%s irq-mode=%s\n",
               o.base, xenioreqd_domid(b.client), vblk_capacity(b.blk), o.read_only ? "yes" : "no", o.irq_name,
               cli_irq_mode_name(o.irq.mode));

        status = 0;
        while (running) {
                struct epoll_event evs[8];
                int n = epoll_wait(ep, evs, 8, -1);

                if (n < 0 && errno != EINTR) {
                        fprintf(stderr, "epoll_wait: %m\n");
                        status = 1;
                        break;
                }
                for (int k = 0; k < n && running; k++) {
                        switch (evs[k].data.u64) {
                        case TAG_SIGNAL:
                                running = false;
                                break;
                        case TAG_SOCKET:
                                fprintf(stderr, "xen-ioreqd closed the connection (guest gone or daemon exited)\n");
                                status = 2;
                                running = false;
                                break;
                        case TAG_CLAIM: {
                                int r = xirq_device_serve(&b.dev);
                                if (r < 0) {
                                        fprintf(stderr, "Failed to serve the device's registers: %s\n",
                                                strerror(-r));
                                        status = 1;
                                        running = false;
                                }
                                break;
                        }
                        case TAG_KICK:
                                backend_kick(&b);
                                break;
                        case TAG_TIMER: {
                                uint64_t ticks;

                                if (read(tfd, &ticks, sizeof(ticks)) == (ssize_t) sizeof(ticks))
                                        backend_print(&b);
                                break;
                        }
                        }
                }
        }
        /* kicks signalled and not served count too, as the daemon counted them */
        {
                uint64_t n;
                if (read(b.kick_fd, &n, sizeof(n)) == (ssize_t) sizeof(n))
                        b.kicks += n;
        }
        backend_print(&b);
out:
        backend_teardown(&b);
        if (ep >= 0)
                close(ep);
        if (sfd >= 0)
                close(sfd);
        if (tfd >= 0)
                close(tfd);
        return status;
}
