/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xq-guest: the guest side of the real-Xen harness and of the fidelity probe.
 *
 * Built two ways from this one file:
 *   - static, for the PVH guest's initramfs: accesses go through /dev/mem
 *     (mmap of the physical page, one volatile load or store each, so each
 *     one traps into Xen and reaches an ioreq server);
 *   - with -DXQ_XENSIM, linked with libxensim-guest: the same accesses are
 *     issued by vCPU --vcpu of the xensim domain named by --name.
 *
 * Usage: xq-guest [--name NAME] [--vcpu N] OP...
 *   rS:ADDR[xN]            read S (1,2,4,8) bytes N times, print the last value
 *   wS:ADDR:VAL[xN]        write VAL N times
 *   iS:PORT[xN], oS:PORT:VAL[xN]   the same with port I/O (S = 1, 2, 4)
 *   kick:BASE:Q=N[,Q=N...][@S]  virtio-mmio notifies: for each queue Q, N writes
 *                          of (i << 16 | Q) to BASE+0x50 (i = 1..N, the upper
 *                          half being notification data under the 0xffff mask),
 *                          round robin over the queues; with @S, no new round
 *                          after S seconds (deadline=1 in the output then);
 *                          prints the counts made, the time taken and the
 *                          longest single kick (max_ms)
 *   mailbox:CTRL           run the probe's command mailbox (see xq-probe.c)
 * Prints "XQG ..." lines; exit status 0 only if every op completed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifdef XQ_XENSIM
#include "xensim-guest.h"
#endif

static const char *prog = "xq-guest";

#ifdef XQ_XENSIM
static xsg *G;
static uint32_t G_domid;
static unsigned G_vcpu;

static int acc_open(const char *name, unsigned vcpu)
{
        int r = xsg_open(&G, NULL);
        if (r < 0)
                return r;
        struct xsg_domain_info d[64];
        int n = xsg_domain_list(G, d, 64);
        if (n < 0)
                return n;
        for (int i = 0; i < n && i < 64; i++)
                if (!strcmp(d[i].name, name) && d[i].state == XSG_DOMAIN_RUNNING)
                        G_domid = d[i].domid;
        G_vcpu = vcpu;
        return G_domid ? 0 : -ESRCH;
}

static int acc_read(unsigned size, uint64_t addr, uint64_t *val)
{
        return xsg_read(G, G_domid, G_vcpu, XSG_MMIO, addr, size, val, 60000);
}

static int acc_write(unsigned size, uint64_t addr, uint64_t val)
{
        return xsg_write(G, G_domid, G_vcpu, XSG_MMIO, addr, size, val, 60000);
}

static int pio_in(unsigned size, uint64_t port, uint64_t *val)
{
        return xsg_read(G, G_domid, G_vcpu, XSG_PIO, port, size, val, 60000);
}

static int pio_out(unsigned size, uint64_t port, uint64_t val)
{
        return xsg_write(G, G_domid, G_vcpu, XSG_PIO, port, size, val, 60000);
}
#else
#include "xq-devmem.h"

static int acc_open(const char *name, unsigned vcpu)
{
        return devmem_open();
}

/* Port I/O: an in/out instruction traps into Xen, which sends a PIO ioreq. */
static int pio_ready;

static int pio_setup(uint64_t port)
{
        if (port > 0xffff)
                return -EINVAL;
        if (!pio_ready) {
                if (iopl(3) < 0)
                        return -errno;
                pio_ready = 1;
        }
        return 0;
}

static int pio_in(unsigned size, uint64_t port, uint64_t *val)
{
        int r = pio_setup(port);
        if (r < 0)
                return r;
        uint16_t p = (uint16_t)port;
        switch (size) {
        case 1: { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); *val = v; break; }
        case 2: { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); *val = v; break; }
        case 4: { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); *val = v; break; }
        default: return -EINVAL;
        }
        return 0;
}

static int pio_out(unsigned size, uint64_t port, uint64_t val)
{
        int r = pio_setup(port);
        if (r < 0)
                return r;
        uint16_t p = (uint16_t)port;
        switch (size) {
        case 1: __asm__ volatile("outb %0, %1" : : "a"((uint8_t)val), "Nd"(p)); break;
        case 2: __asm__ volatile("outw %0, %1" : : "a"((uint16_t)val), "Nd"(p)); break;
        case 4: __asm__ volatile("outl %0, %1" : : "a"((uint32_t)val), "Nd"(p)); break;
        default: return -EINVAL;
        }
        return 0;
}
#endif

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int mailbox(uint64_t ctrl)
{
        unsigned ncmd = 0;
        printf("XQG mailbox ctrl=0x%" PRIx64 "\n", ctrl);
        fflush(stdout);
        for (;;) {
                uint64_t cmd, addr, val, res = 0;
                int r;
                if ((r = acc_read(8, ctrl, &cmd)) < 0 || (r = acc_read(8, ctrl + 8, &addr)) < 0 ||
                    (r = acc_read(8, ctrl + 16, &val)) < 0) {
                        printf("XQG mailbox error %s after %u commands\n", strerror(-r), ncmd);
                        return 1;
                }
                unsigned op = cmd & 0xff, size = (cmd >> 8) & 0xff;
                switch (op) {
                case 0:
                        printf("XQG mailbox exit after %u commands\n", ncmd);
                        return 0;
                case 1: r = acc_read(size, addr, &res); break;
                case 2: r = acc_write(size, addr, val); break;
                case 3: r = 0; usleep((useconds_t)(val > 60000 ? 60000 : val) * 1000); break;
                case 4: r = pio_in(size, addr, &res); break;
                case 5: r = pio_out(size, addr, val); break;
                default: r = -EINVAL;
                }
                if (r < 0)
                        printf("XQG mailbox op=%u size=%u addr=0x%" PRIx64 " failed: %s\n", op, size, addr,
                               strerror(-r));
                if ((r = acc_write(8, ctrl + 24, res)) < 0) {
                        printf("XQG mailbox error %s on result\n", strerror(-r));
                        return 1;
                }
                ncmd++;
        }
}

#define MAXQ 16

static int kick(const char *spec)
{
        uint64_t base;
        unsigned q[MAXQ], want[MAXQ], done[MAXQ], nq = 0;
        double limit = 0;
        char *end;
        base = strtoull(spec, &end, 0);
        if (*end != ':')
                return -EINVAL;
        for (const char *s = end + 1; *s && nq < MAXQ; nq++) {
                q[nq] = (unsigned)strtoul(s, &end, 0);
                if (*end != '=')
                        return -EINVAL;
                want[nq] = (unsigned)strtoul(end + 1, &end, 0);
                done[nq] = 0;
                if (q[nq] > 0xffff || (*end && *end != ',' && *end != '@'))
                        return -EINVAL;
                if (*end == '@') {
                        limit = strtod(end + 1, &end);
                        if (*end || !(limit > 0))
                                return -EINVAL;
                        nq++;
                        break;
                }
                s = *end ? end + 1 : end;
        }
        double t0 = now(), longest = 0;
        unsigned total = 0;
        bool late = false;
        for (bool more = true; more && !late; late = more && limit > 0 && now() - t0 >= limit) {
                more = false;
                for (unsigned k = 0; k < nq; k++) {
                        if (done[k] >= want[k])
                                continue;
                        uint64_t v = (uint64_t)((done[k] + 1) & 0x7fff) << 16 | q[k];
                        double t = now();
                        int r = acc_write(4, base + 0x50, v);
                        if (now() - t > longest)
                                longest = now() - t;
                        if (r < 0) {
                                printf("XQG kick error %s\n", strerror(-r));
                                return r;
                        }
                        done[k]++;
                        total++;
                        more = true;
                }
        }
        double dt = now() - t0;
        printf("XQG-KICKS base=0x%" PRIx64, base);
        for (unsigned k = 0; k < nq; k++)
                printf(" q%u=%u", q[k], done[k]);
        printf(" total=%u seconds=%.3f avg_us=%.1f max_ms=%.1f%s\n", total, dt, total ? dt * 1e6 / total : 0.0,
               longest * 1e3, late ? " deadline=1" : "");
        return 0;
}

static int one_op(const char *op)
{
        char kind = op[0];
        if (!strncmp(op, "kick:", 5))
                return kick(op + 5);
        if (!strncmp(op, "mailbox:", 8))
                return mailbox(strtoull(op + 8, NULL, 0)) ? -EIO : 0;
        if (kind != 'r' && kind != 'w' && kind != 'i' && kind != 'o')
                return -EINVAL;
        bool pio = kind == 'i' || kind == 'o';
        bool rd = kind == 'r' || kind == 'i';
        char *end;
        unsigned size = (unsigned)strtoul(op + 1, &end, 10);
        if (*end != ':' || (size != 1 && size != 2 && size != 4 && (size != 8 || pio)))
                return -EINVAL;
        uint64_t addr = strtoull(end + 1, &end, 0), val = 0;
        if (!rd) {
                if (*end != ':')
                        return -EINVAL;
                val = strtoull(end + 1, &end, 0);
        }
        unsigned long n = 1;
        if (*end == 'x')
                n = strtoul(end + 1, &end, 10);
        if (*end || n == 0)
                return -EINVAL;
        for (unsigned long i = 0; i < n; i++) {
                int r = pio ? (rd ? pio_in(size, addr, &val) : pio_out(size, addr, val))
                            : (rd ? acc_read(size, addr, &val) : acc_write(size, addr, val));
                if (r < 0)
                        return r;
        }
        if (rd)
                printf("XQG read %c%u:0x%" PRIx64 " val=0x%" PRIx64 "\n", kind, size, addr, val);
        else
                printf("XQG wrote %c%u:0x%" PRIx64 ":0x%" PRIx64 "x%lu\n", kind, size, addr, val, n);
        return 0;
}

int main(int argc, char **argv)
{
        const char *name = "guest";
        unsigned vcpu = 0;
        int i = 1;
        setvbuf(stdout, NULL, _IOLBF, 0);
        for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
                if (!strcmp(argv[i], "--name"))
                        name = argv[i + 1];
                else if (!strcmp(argv[i], "--vcpu"))
                        vcpu = (unsigned)strtoul(argv[i + 1], NULL, 0);
                else
                        break;
        }
        if (i >= argc) {
                fprintf(stderr, "usage: %s [--name NAME] [--vcpu N] OP...\n", prog);
                return 2;
        }
        int r = acc_open(name, vcpu);
        if (r < 0) {
                printf("XQG open failed: %s\n", strerror(-r));
                return 1;
        }
        for (; i < argc; i++) {
                r = one_op(argv[i]);
                if (r < 0) {
                        printf("XQG op %s failed: %s\n", argv[i], strerror(-r));
                        return 1;
                }
        }
        return 0;
}
