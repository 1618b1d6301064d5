/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The only module that talks to Xen (libxendevicemodel, libxenevtchn,
 * libxenforeignmemory, libxentoolcore and the Xen public headers).
 *
 * A XenServer is one guest's complete ioreq server: its own handles, its
 * server id, its mapped ioreq page and its bound event channels.  Nothing is
 * shared between guests, so one guest's service could run on its own.
 */
#ifndef XENIOREQD_XEN_H
#define XENIOREQD_XEN_H

#include <stdbool.h>
#include <stdint.h>

#define XEN_NO_DOMID            UINT32_MAX
#define XEN_NO_SERVER           UINT32_MAX
#define XEN_MAX_VCPUS           128u    /* 32-byte slots in the one ioreq page */
#define XEN_MAX_SERVERS         8u      /* ioreq servers per domain (MAX_NR_IOREQ_SERVERS) */

/* Values of the ioreq fields (xen/hvm/ioreq.h; checked in xen.c). */
enum {
        XEN_IOREQ_STATE_NONE            = 0,
        XEN_IOREQ_STATE_READY           = 1,
        XEN_IOREQ_STATE_INPROCESS       = 2,
        XEN_IORESP_STATE_READY          = 3,
};
enum {
        XEN_IOREQ_TYPE_PIO              = 0,
        XEN_IOREQ_TYPE_COPY             = 1,    /* MMIO */
        XEN_IOREQ_TYPE_PCI_CONFIG       = 2,
        XEN_IOREQ_TYPE_TIMEOFFSET       = 7,
        XEN_IOREQ_TYPE_INVALIDATE       = 8,
};
enum {
        XEN_IOREQ_WRITE = 0,
        XEN_IOREQ_READ  = 1,
};

/* One slot, copied out of guest-shared memory once, fields unpacked. */
typedef struct XenIoreq {
        uint64_t addr;
        uint64_t data;
        uint32_t count;
        uint32_t size;
        uint32_t vp_eport;
        uint8_t state;
        uint8_t data_is_ptr;
        uint8_t dir;
        uint8_t df;
        uint8_t type;
} XenIoreq;

typedef struct XenServer XenServer;
typedef struct XenHandles XenHandles;

/*
 * The process's devicemodel, foreignmemory and evtchn handles, opened before
 * any domain is known (a spare worker opens them ahead of need, so that a
 * guest's set-up does not wait for them).  They reach no guest until
 * xen_server_open() has restricted them.
 */
int xen_handles_open(XenHandles **ret);
XenHandles *xen_handles_free(XenHandles *h);

/*
 * Set-up order (each step only after the previous one succeeded):
 *   xen_server_open:     the handles (taken from xen_handles_open(), or
 *                        opened now) → xentoolcore_restrict_all(domid):
 *                        from here on no handle of the process can reach
 *                        another domain
 *   xen_server_create:   create a server (no buffered ring) and make its id
 *                        the highest of the domain (see below),
 *   or xen_server_reattach: take over a server an earlier process made
 *   xen_server_map_page: map its ioreq page (map_resource) → nr_vcpus
 *                        (refused above XEN_MAX_VCPUS)
 *   xen_server_map_range: the registered ranges
 *   xen_server_enable:   enable → read every vCPU's vp_eport (valid only once
 *                        enabled) → bind each
 * Only after that is guest-written memory (the slots) read.
 * xen_server_free tears down in reverse; see there.
 */
/* *handles (NULL: opened here) is taken, and set to NULL, whatever the result. */
int xen_server_open(XenServer **ret, XenHandles **handles, uint32_t domid);
/*
 * Xen sends an access to the enabled server with the highest id whose
 * ranges hold all of it, and a new server gets the lowest free id.  Xen
 * shows neither the ranges nor the state of other servers, so the new
 * server is made the domain's highest: when a server of another process
 * has a higher id, more servers are created until one is above it and the
 * spare ones are destroyed.  -EBUSY when Xen's XEN_MAX_SERVERS ids leave no
 * room above; *ret_blocker is then that server's id.
 */
int xen_server_create(XenServer *s, uint32_t *ret_blocker);
/*
 * Take over server id, which a process before this one made (a server
 * belongs to the domain, not to the process): -ENOENT if it is gone.
 */
int xen_server_reattach(XenServer *s, uint32_t id);
int xen_server_map_page(XenServer *s);
bool xen_server_reattached(const XenServer *s);
/* destroy: the server goes (answering what waits first); else it stays for the next process. */
XenServer *xen_server_free(XenServer *s, bool destroy);

int xen_server_map_range(XenServer *s, bool pio, uint64_t first, uint64_t last);
int xen_server_unmap_range(XenServer *s, bool pio, uint64_t first, uint64_t last);
int xen_server_enable(XenServer *s);

uint32_t xen_server_domid(const XenServer *s);
/* Has the domain gone (destroyed, or dying)?  A set-up step that failed may have failed for that. */
bool xen_server_domain_gone(XenServer *s);
uint32_t xen_server_id(const XenServer *s);
/* The highest id of another server of the domain (the one passed, if any), or XEN_NO_SERVER. */
uint32_t xen_server_passed(const XenServer *s);
unsigned xen_server_nr_vcpus(const XenServer *s);
int xen_server_fd(const XenServer *s);

/* The hot path. */

/* Next pending local port, -EAGAIN when none is left, or -errno. */
int xen_server_pending(XenServer *s);
int xen_server_unmask(XenServer *s, uint32_t port);
/* The vCPU bound to a local port, or -1.  O(1). */
int xen_server_port_vcpu(const XenServer *s, uint32_t port);
/* The remote port (vp_eport) read for a vCPU when it was bound. */
uint32_t xen_server_vp_eport(const XenServer *s, unsigned vcpu);
/*
 * The first vCPU, from `from` on, that has a bound port and whose slot reads
 * IOREQ_READY, or -1.  Only looks (no barrier, nothing taken): the request is
 * then taken with xen_server_take like one announced by an event.
 */
int xen_server_next_ready(const XenServer *s, unsigned from);
/*
 * If vCPU's slot is IOREQ_READY: copy it once into *ret (after an acquire
 * barrier), mark it INPROCESS and return true.  Otherwise false, untouched.
 */
bool xen_server_take(XenServer *s, unsigned vcpu, XenIoreq *ret);
/*
 * What an earlier process of this server left in vCPU's slot: a request
 * READY, or taken (INPROCESS) and never answered, is copied into *ret as
 * if READY (and marked INPROCESS) and true returned; an answer
 * (IORESP_READY) whose notification may have been lost is notified again
 * and *ret_answered set.
 */
bool xen_server_take_left(XenServer *s, unsigned vcpu, XenIoreq *ret, bool *ret_answered);
/*
 * Answer a taken slot: store data when set_data (reads), release barrier,
 * IORESP_READY, notify the vCPU's port.
 */
int xen_server_complete(XenServer *s, unsigned vcpu, bool set_data, uint64_t data);

/* Interrupts, for irqfds: a line's level (0 or 1), an MSI, an event channel to the guest. */
typedef enum XenIrqKind {
        XEN_IRQ_LINE = 1,               /* set_irq_level(irq) */
        XEN_IRQ_ISA = 2,                /* set_isa_irq_level(irq) */
        XEN_IRQ_INTX = 3,               /* set_pci_intx_level(segment, bus, device, pin) */
} XenIrqKind;

typedef struct XenIrq {
        XenIrqKind kind;
        uint32_t irq;
        uint16_t segment;
        uint8_t bus, device, pin;
} XenIrq;

int xen_server_set_irq(XenServer *s, const XenIrq *irq, unsigned level);
int xen_server_inject_msi(XenServer *s, uint64_t addr, uint32_t data);
/*
 * Bind a local port to the guest's port remote_port (unbound, allocated for
 * this domain).  Its events, if the guest sends any, are pending on the
 * server's fd like the vCPUs' and ignored (no vCPU has that port).
 */
int xen_server_evtchn_bind(XenServer *s, uint32_t remote_port, uint32_t *ret_local);
void xen_server_evtchn_unbind(XenServer *s, uint32_t local_port);
int xen_server_evtchn_notify(XenServer *s, uint32_t local_port);

#endif
