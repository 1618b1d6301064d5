/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE 1
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "xirq-device.h"

void xirq_device_init(XirqDevice *d) {
        *d = (XirqDevice) { .irq_fd = -1, .resample_fd = -1 };
}

int xirq_device_irqfd(XirqDevice *d, xenioreqd_client *c, const xenioreqd_irqfd_spec *irq, uint32_t *ret_id) {
        d->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (d->irq_fd < 0)
                return -errno;
        if (irq->mode == XIRQ_IRQFD_LEVEL) {
                d->resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (d->resample_fd < 0)
                        return -errno;
        }
        return xenioreqd_irqfd_assign(c, irq, d->irq_fd, d->resample_fd, ret_id);
}

int xirq_device_claim(XirqDevice *d, xenioreqd_client *c, uint64_t base) {
        return xenioreqd_claim_range(c, XIRQ_SPACE_MMIO, base, XIRQ_DEVICE_WINDOW, 0, &d->claim);
}

static void signal_eventfd(XirqDevice *d, int fd) {
        uint64_t one = 1;

        if (write(fd, &one, sizeof(one)) != (ssize_t) sizeof(one) && d->irq_errors++ == 0)
                fprintf(stderr, "Failed to signal an eventfd of the irqfd: %m\n");
}

void xirq_device_irq(void *opaque, bool raise) {
        XirqDevice *d = opaque;

        if (raise) {
                signal_eventfd(d, d->irq_fd);
                d->raised++;
                if (d->trace)
                        printf("interrupt raise\n");
        } else if (d->resample_fd >= 0) {
                signal_eventfd(d, d->resample_fd);
                d->lowered++;
                if (d->trace)
                        printf("interrupt lower\n");
        }
}

int xirq_device_serve(XirqDevice *d) {
        xenioreqd_access a;
        int r;

        for (unsigned n = 0; n < XIRQ_RING_SIZE; n++) {
                uint64_t value = 0;

                r = xenioreqd_claim_next(d->claim, &a);
                if (r <= 0)
                        return r;
                d->accesses++;
                if (a.dir == XIRQ_ACCESS_READ) {
                        value = vmmio_read(d->regs, a.offset, a.size);
                        if (d->trace)
                                printf("access read offset=0x%" PRIx64 " size=%u value=0x%" PRIx64 "\n", a.offset,
                                       a.size, value);
                } else {
                        if (d->trace)
                                printf("access write offset=0x%" PRIx64 " size=%u value=0x%" PRIx64 "\n", a.offset,
                                       a.size, a.data);
                        vmmio_write(d->regs, a.offset, a.size, a.data);
                }
                r = xenioreqd_claim_answer(d->claim, a.seq, value);
                if (r < 0)
                        return r;
        }
        return 0;       /* more left: the claim's eventfd stays readable */
}

void xirq_device_fini(XirqDevice *d) {
        xenioreqd_claim_free(d->claim);         /* closing the connection takes the claim and the irqfd */
        d->claim = NULL;
        if (d->irq_fd >= 0)
                close(d->irq_fd);
        if (d->resample_fd >= 0)
                close(d->resample_fd);
        d->irq_fd = d->resample_fd = -1;
}
