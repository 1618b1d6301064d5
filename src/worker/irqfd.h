/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * irqfds: each write to a backend's eventfd injects an interrupt into the
 * guest, from the worker, through one typed Xen call.  The eventfd's counter
 * is drained on each wake-up, so N writes before the worker runs inject once
 * (as KVM's irqfd and privcmd's do).
 *
 *   LINE, ISA, INTX  EDGE: level 1 then 0 per wake-up (Xen acts on a 0 → 1
 *                    change, so the line must come down again);
 *                    LEVEL: level 1; level 0 when the resample eventfd is
 *                    written (the backend has nothing pending any more);
 *                    RAISE: level 1 only.
 *   MSI              inject_msi(addr, data).
 *   EVTCHN           at assign, a local port bound to the guest's unbound
 *                    port (allocated by the guest for dom0); a notify per
 *                    wake-up; unbound at deassign.
 *
 * Counted per irqfd in the guest's stats memfd (signals, injections,
 * errors); the first error of an irqfd is logged, then rate-limited.
 */
#ifndef XENIOREQD_IRQFD_H
#define XENIOREQD_IRQFD_H

#include <stdbool.h>
#include <stdint.h>
#include "loop.h"

#include "log.h"
#include "stats.h"
#include "xen.h"

typedef struct Irqfd Irqfd;

/* An irqfd as the parent describes it (checked by the wire decoder). */
typedef struct IrqfdSpec {
        uint32_t id;
        uint8_t action;                 /* XIRQ_IRQ_* */
        uint8_t mode;                   /* XIRQ_IRQFD_* */
        uint32_t irq;
        uint16_t segment;
        uint8_t bus, device, pin;
        uint64_t msi_addr;
        uint32_t msi_data;
} IrqfdSpec;

typedef struct IrqfdSet {
        Loop *loop;
        XenServer *xen;
        GuestStats *stats;
        const char *name;
        Irqfd *list;
        unsigned n;
        RateLimit log;
} IrqfdSet;

void irqfd_set_init(IrqfdSet *set, Loop *loop, XenServer *xen, GuestStats *stats, const char *name);
/*
 * Add an irqfd, taking its eventfds (*trigger, and *resample in LEVEL mode,
 * set to -1 when taken).  -EEXIST (id in use), -ENOSPC (STATS_MAX_IRQFDS),
 * -EBADF (not an eventfd), -EINVAL, or what Xen answers to binding an
 * event channel.
 */
int irqfd_add(IrqfdSet *set, const IrqfdSpec *spec, int *trigger, int *resample);
/* -ENOENT if there is no such id.  A LEVEL line still raised is lowered. */
int irqfd_del(IrqfdSet *set, uint32_t id);
/* Remove them all (the worker ends: event channels unbound, lines left as they are). */
void irqfd_clear(IrqfdSet *set);

#endif
