/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xq-vdev: a virtio-mmio driver's first steps, from the PVH guest's user space
 * (scenario 6), against a device that lives in dom0 as a client of xen-ioreqd:
 * its registers reach it through a claim (forwarded accesses), its queue kicks
 * through an ioeventfd, and its interrupt comes back through an irqfd whose
 * action notifies an event channel of this guest.
 *
 * A PVH guest has no emulated interrupt controller, so the interrupt is an
 * event channel that this program allocates itself with Linux's
 * /dev/xen/evtchn (IOCTL_EVTCHN_BIND_UNBOUND_PORT for dom0) and publishes on
 * the console ("XQV evtchn port=N"), where dom0's script reads it and hands
 * it to the device (--irq evtchn:N).
 *
 * Usage: xq-vdev BASE DEVICE_ID KICKS [WAIT_S]
 *   1. allocate and publish the port;
 *   2. read MagicValue until the device answers it (all-ones while nobody
 *      claims the window), for up to WAIT_S seconds (default 120);
 *   3. probe: MagicValue, Version 2, DeviceID, VendorID; reset, ACKNOWLEDGE,
 *      DRIVER; DeviceFeatures (VIRTIO_F_VERSION_1 must be offered);
 *      DriverFeatures; FEATURES_OK (read back); queue 0: QueueNumMax,
 *      QueueNum, the ring addresses, QueueReady (read back); DRIVER_OK;
 *   4. KICKS times: write QueueNotify, wait (10 s at most) for the event on
 *      the port, read InterruptStatus (the used-buffer bit must be set),
 *      write InterruptACK, unmask the port;
 *   5. wait a second more for events nobody asked for.
 * Every access in the window but the QueueNotify writes is forwarded to the
 * device: they are counted, so that dom0 can compare with the device's count.
 * Prints "XQV ..." lines and last
 *   XQV-DONE accesses=A kicks=K interrupts=I spurious=S rc=R
 * Exit status 0 only if every step behaved as the device should.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <xen/xen.h>             /* domid_t, for evtchn.h */
#include <xen/sys/evtchn.h>

#include "xq-devmem.h"

#define MAGIC           0x74726976u     /* "virt" */
#define WAIT_EVENT_MS   10000
#define RING_GPA        0x1000000u      /* ring addresses the driver hands over (the device maps none) */

static uint64_t base;
static unsigned long accesses;          /* forwarded to the device */
static int evfd = -1;
static unsigned port;

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
        va_list ap;
        printf("XQV error: ");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        return -EIO;
}

static int reg_read(unsigned off, uint64_t *val)
{
        int r = acc_read(4, base + off, val);
        if (r < 0)
                return fail("read at offset 0x%x: %s", off, strerror(-r));
        accesses++;
        return 0;
}

static int reg_write(unsigned off, uint64_t val)
{
        int r = acc_write(4, base + off, val);
        if (r < 0)
                return fail("write at offset 0x%x: %s", off, strerror(-r));
        if (off != VIRTIO_MMIO_QUEUE_NOTIFY)
                accesses++;
        return 0;
}

/* read a register that must hold want */
static int expect(unsigned off, const char *name, uint64_t want)
{
        uint64_t v;
        int r = reg_read(off, &v);
        if (r < 0)
                return r;
        if (v != want) {
                printf("XQV error: %s=0x%" PRIx64 ", want 0x%" PRIx64 "\n", name, v, want);
                return -EIO;
        }
        return 0;
}

/* /dev/xen/evtchn appears when xen-evtchn is loaded: give devtmpfs a moment */
static int evtchn_open(void)
{
        for (int i = 0; i < 50; i++) {
                evfd = open("/dev/xen/evtchn", O_RDWR | O_CLOEXEC);
                if (evfd >= 0 || errno != ENOENT)
                        break;
                usleep(100000);
        }
        if (evfd < 0)
                return -errno;
        struct ioctl_evtchn_bind_unbound_port bind = { .remote_domain = 0 };
        int r = ioctl(evfd, IOCTL_EVTCHN_BIND_UNBOUND_PORT, &bind);
        if (r < 0)
                return -errno;
        port = (unsigned)r;
        return 0;
}

/* wait up to ms for events; the number of them on our port, -ETIMEDOUT, or -errno; others go to *foreign */
static int evtchn_wait(int ms, unsigned *foreign)
{
        struct pollfd p = { .fd = evfd, .events = POLLIN };
        unsigned ports[16];
        int r = poll(&p, 1, ms);
        if (r < 0)
                return -errno;
        if (r == 0)
                return -ETIMEDOUT;
        ssize_t n = read(evfd, ports, sizeof(ports));
        if (n < 0)
                return -errno;
        int mine = 0;
        for (ssize_t i = 0; i < n / (ssize_t)sizeof(ports[0]); i++) {
                if (ports[i] == port)
                        mine++;
                else
                        (*foreign)++;
        }
        return mine;
}

static int evtchn_unmask(void)
{
        return write(evfd, &port, sizeof(port)) == (ssize_t)sizeof(port) ? 0 : -errno;
}

static int wait_device(double wait_s)
{
        double t0 = now();
        unsigned long polls = 0;
        uint64_t v = 0;
        for (;;) {
                int r = acc_read(4, base + VIRTIO_MMIO_MAGIC_VALUE, &v);
                if (r < 0)
                        return fail("read of MagicValue: %s", strerror(-r));
                polls++;
                if (v == MAGIC)
                        break;
                /* nobody claims the window yet: Xen answers all-ones without a server */
                if (v != 0xffffffffu)
                        return fail("MagicValue read 0x%" PRIx64 " before the device answered", v);
                if (now() - t0 > wait_s)
                        return fail("no device after %.0f s", wait_s);
                usleep(100000);
        }
        accesses++;             /* the read that found the magic was forwarded */
        printf("XQV device answered after %.1f s, %lu reads\n", now() - t0, polls);
        return 0;
}

static int probe(uint64_t device_id)
{
        uint64_t vendor, fhi, flo, num_max, status;
        int r;

        if ((r = expect(VIRTIO_MMIO_MAGIC_VALUE, "MagicValue", MAGIC)) < 0 ||
            (r = expect(VIRTIO_MMIO_VERSION, "Version", 2)) < 0 ||
            (r = expect(VIRTIO_MMIO_DEVICE_ID, "DeviceID", device_id)) < 0 ||
            (r = reg_read(VIRTIO_MMIO_VENDOR_ID, &vendor)) < 0)
                return r;
        if ((r = reg_write(VIRTIO_MMIO_STATUS, 0)) < 0 || (r = expect(VIRTIO_MMIO_STATUS, "Status after reset", 0)) < 0 ||
            (r = reg_write(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE)) < 0 ||
            (r = reg_write(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER)) < 0)
                return r;
        if ((r = reg_write(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1)) < 0 ||
            (r = reg_read(VIRTIO_MMIO_DEVICE_FEATURES, &fhi)) < 0 ||
            (r = reg_write(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0)) < 0 ||
            (r = reg_read(VIRTIO_MMIO_DEVICE_FEATURES, &flo)) < 0)
                return r;
        if (!(fhi & (1u << (VIRTIO_F_VERSION_1 - 32))))
                return fail("VIRTIO_F_VERSION_1 not offered (high features 0x%" PRIx64 ")", fhi);
        status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;
        if ((r = reg_write(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1)) < 0 ||
            (r = reg_write(VIRTIO_MMIO_DRIVER_FEATURES, 1u << (VIRTIO_F_VERSION_1 - 32))) < 0 ||
            (r = reg_write(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0)) < 0 ||
            (r = reg_write(VIRTIO_MMIO_DRIVER_FEATURES, 0)) < 0 ||
            (r = reg_write(VIRTIO_MMIO_STATUS, status)) < 0 ||
            (r = expect(VIRTIO_MMIO_STATUS, "Status with FEATURES_OK", status)) < 0)
                return r;
        if ((r = reg_write(VIRTIO_MMIO_QUEUE_SEL, 0)) < 0 || (r = expect(VIRTIO_MMIO_QUEUE_READY, "QueueReady", 0)) < 0 ||
            (r = reg_read(VIRTIO_MMIO_QUEUE_NUM_MAX, &num_max)) < 0)
                return r;
        if (num_max < 8)
                return fail("QueueNumMax=%" PRIu64 ", want 8 or more", num_max);
        if ((r = reg_write(VIRTIO_MMIO_QUEUE_NUM, 8)) < 0 ||
            (r = reg_write(VIRTIO_MMIO_QUEUE_DESC_LOW, RING_GPA)) < 0 ||
            (r = reg_write(VIRTIO_MMIO_QUEUE_DESC_HIGH, 0)) < 0 ||
            (r = reg_write(VIRTIO_MMIO_QUEUE_AVAIL_LOW, RING_GPA + 0x1000)) < 0 ||
            (r = reg_write(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0)) < 0 ||
            (r = reg_write(VIRTIO_MMIO_QUEUE_USED_LOW, RING_GPA + 0x2000)) < 0 ||
            (r = reg_write(VIRTIO_MMIO_QUEUE_USED_HIGH, 0)) < 0 ||
            (r = reg_write(VIRTIO_MMIO_QUEUE_READY, 1)) < 0 ||
            (r = expect(VIRTIO_MMIO_QUEUE_READY, "QueueReady after setup", 1)) < 0)
                return r;
        status |= VIRTIO_CONFIG_S_DRIVER_OK;
        if ((r = reg_write(VIRTIO_MMIO_STATUS, status)) < 0 ||
            (r = expect(VIRTIO_MMIO_STATUS, "Status with DRIVER_OK", status)) < 0 ||
            (r = expect(VIRTIO_MMIO_INTERRUPT_STATUS, "InterruptStatus before a kick", 0)) < 0)
                return r;
        printf("XQV probe magic=0x%x version=2 device=%" PRIu64 " vendor=0x%" PRIx64 " features=0x%08" PRIx64 "%08" PRIx64
               " queue_num_max=%" PRIu64 " status=0x%" PRIx64 "\n", MAGIC, device_id, vendor, fhi, flo, num_max, status);
        return 0;
}

int main(int argc, char **argv)
{
        unsigned long kicks, interrupts = 0, done = 0;
        unsigned foreign = 0;
        int spurious = 0, r;
        double wait_s = 120, t0, worst = 0;
        uint64_t device_id, isr;

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc < 4 || argc > 5) {
                fprintf(stderr, "usage: xq-vdev BASE DEVICE_ID KICKS [WAIT_S]\n");
                return 2;
        }
        base = strtoull(argv[1], NULL, 0);
        device_id = strtoull(argv[2], NULL, 0);
        kicks = strtoul(argv[3], NULL, 0);
        if (argc == 5)
                wait_s = strtod(argv[4], NULL);
        if (base % 0x200 != 0 || kicks == 0 || kicks > 100000) {
                fprintf(stderr, "xq-vdev: bad BASE or KICKS\n");
                return 2;
        }
        if ((r = devmem_open()) < 0) {
                printf("XQV error: /dev/mem: %s\n", strerror(-r));
                goto out;
        }
        if ((r = evtchn_open()) < 0) {
                printf("XQV error: /dev/xen/evtchn, an unbound port for dom0: %s\n", strerror(-r));
                goto out;
        }
        printf("XQV evtchn port=%u\n", port);
        if ((r = wait_device(wait_s)) < 0 || (r = probe(device_id)) < 0)
                goto out;

        t0 = now();
        for (done = 0; done < kicks; done++) {
                double t1 = now();
                if ((r = reg_write(VIRTIO_MMIO_QUEUE_NOTIFY, 0)) < 0)
                        goto out;
                r = evtchn_wait(WAIT_EVENT_MS, &foreign);
                if (r < 0) {
                        printf("XQV error: kick %lu: no event on port %u: %s\n", done + 1, port, strerror(-r));
                        goto out;
                }
                interrupts += (unsigned long)r;
                if (now() - t1 > worst)
                        worst = now() - t1;
                if ((r = reg_read(VIRTIO_MMIO_INTERRUPT_STATUS, &isr)) < 0)
                        goto out;
                if (!(isr & VIRTIO_MMIO_INT_VRING)) {
                        r = fail("kick %lu: InterruptStatus 0x%" PRIx64 " without the used-buffer bit", done + 1, isr);
                        goto out;
                }
                if ((r = reg_write(VIRTIO_MMIO_INTERRUPT_ACK, isr)) < 0 || (r = evtchn_unmask()) < 0)
                        goto out;
        }
        printf("XQV-KICKS kicks=%lu interrupts=%lu seconds=%.3f avg_ms=%.2f worst_ms=%.2f\n", done, interrupts,
               now() - t0, (now() - t0) * 1e3 / (double)done, worst * 1e3);
        /* nothing more may come */
        r = evtchn_wait(1000, &foreign);
        if (r >= 0)
                spurious = r;
        else if (r != -ETIMEDOUT)
                goto out;
        if ((r = expect(VIRTIO_MMIO_INTERRUPT_STATUS, "InterruptStatus after the acks", 0)) < 0)
                goto out;
        r = interrupts == kicks && spurious == 0 && foreign == 0 ? 0 : -EIO;
out:
        printf("XQV-DONE accesses=%lu kicks=%lu interrupts=%lu spurious=%d foreign=%u rc=%d\n", accesses, done,
               interrupts, spurious, foreign, r < 0 ? 1 : 0);
        return r < 0 ? 1 : 0;
}
