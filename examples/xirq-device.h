/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xirq-device: a virtio-mmio register file (vmmio.h) reached through
 * xen-ioreqd, for the example programs.  Its window is claimed: every guest
 * access to it is forwarded here and answered by the register file.  Its
 * interrupt line drives an irqfd: the daemon injects the interrupt when the
 * device signals the irqfd's eventfd (EDGE and RAISE: on every raise; LEVEL:
 * the resample eventfd on every lower).  The queue kicks come another way
 * (ioeventfds, registered by the program).
 *
 * Set up in this order: xirq_device_init(); vmmio_new() (or vblk_new()) with
 * xirq_device_irq() and the XirqDevice as the interrupt line, and the
 * register file put in regs; xirq_device_irqfd(); xirq_device_claim(), after
 * which the guest sees the device.  Then poll xenioreqd_claim_fd(claim) and
 * call xirq_device_serve().  Calls return 0 or -errno and print nothing
 * (but the trace).
 */
#ifndef VIRTIO_EXAMPLE_XIRQ_DEVICE_H
#define VIRTIO_EXAMPLE_XIRQ_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "vmmio.h"
#include "xenioreqd-client.h"

#define XIRQ_DEVICE_WINDOW 0x200u       /* a virtio-mmio device's registers and configuration */

typedef struct XirqDevice {
        Vmmio *regs;                    /* the caller's */
        xenioreqd_claim *claim;
        int irq_fd;                     /* signalled to raise */
        int resample_fd;                /* LEVEL: signalled to lower, else -1 */
        bool trace;                     /* print a line per access and per interrupt on stdout */
        uint64_t accesses, raised, lowered;
        uint64_t irq_errors;            /* failed eventfd writes: the first is printed on stderr */
} XirqDevice;

void xirq_device_init(XirqDevice *d);
/* assign an irqfd for irq (its mode included); its id to *ret_id if not NULL */
int xirq_device_irqfd(XirqDevice *d, xenioreqd_client *c, const xenioreqd_irqfd_spec *irq, uint32_t *ret_id);
/* claim XIRQ_DEVICE_WINDOW bytes of MMIO at base */
int xirq_device_claim(XirqDevice *d, xenioreqd_client *c, uint64_t base);
/* the register file's interrupt line (a VmmioIrqFn); opaque is the XirqDevice */
void xirq_device_irq(void *opaque, bool raise);
/* answer what the daemon forwarded, a ring's worth at most: 0, or -errno when the claim broke */
int xirq_device_serve(XirqDevice *d);
/* free the claim handle, close the eventfds; the register file stays the caller's */
void xirq_device_fini(XirqDevice *d);

#endif
