/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#define __XEN_TOOLS__ 1

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xentoolcore.h>
#include <xen/xen.h>
#include <xen/memory.h>
#include <xen/hvm/ioreq.h>
#include <xen/hvm/dm_op.h>

#include "xen.h"

_Static_assert(XEN_IOREQ_STATE_NONE == STATE_IOREQ_NONE, "state");
_Static_assert(XEN_IOREQ_STATE_READY == STATE_IOREQ_READY, "state");
_Static_assert(XEN_IOREQ_STATE_INPROCESS == STATE_IOREQ_INPROCESS, "state");
_Static_assert(XEN_IORESP_STATE_READY == STATE_IORESP_READY, "state");
_Static_assert(XEN_IOREQ_TYPE_PIO == IOREQ_TYPE_PIO, "type");
_Static_assert(XEN_IOREQ_TYPE_COPY == IOREQ_TYPE_COPY, "type");
_Static_assert(XEN_IOREQ_TYPE_PCI_CONFIG == IOREQ_TYPE_PCI_CONFIG, "type");
_Static_assert(XEN_IOREQ_TYPE_TIMEOFFSET == IOREQ_TYPE_TIMEOFFSET, "type");
_Static_assert(XEN_IOREQ_TYPE_INVALIDATE == IOREQ_TYPE_INVALIDATE, "type");
_Static_assert(XEN_IOREQ_READ == IOREQ_READ && XEN_IOREQ_WRITE == IOREQ_WRITE, "dir");
_Static_assert(sizeof(ioreq_t) == 32, "ioreq_t size");
_Static_assert(XEN_MAX_VCPUS * sizeof(ioreq_t) == 4096, "one ioreq page (Xen pages are 4 KiB)");

#define NO_PORT UINT32_MAX

typedef struct PortEntry {
        uint32_t port;          /* local port, NO_PORT when free */
        uint32_t vcpu;
} PortEntry;

struct XenServer {
        uint32_t domid;
        uint32_t id;                    /* XEN_NO_SERVER until created */
        uint32_t passed;                /* the highest other server, XEN_NO_SERVER if none */
        bool owned;                     /* created or reattached: ours to destroy */
        bool reattached;                /* made by an earlier worker */
        bool enabled;
        unsigned nr_vcpus;
        unsigned nr_bound;              /* vCPUs 0..nr_bound-1 have a local port */
        xendevicemodel_handle *dm;
        xenforeignmemory_handle *fmem;
        xenevtchn_handle *xce;
        int fd;
        xenforeignmemory_resource_handle *fres;
        shared_iopage_t *page;
        uint32_t remote[XEN_MAX_VCPUS];         /* vp_eport per vCPU */
        uint32_t local[XEN_MAX_VCPUS];          /* bound local port per vCPU */
        uint32_t port_mask;                     /* ports[] size - 1, a power of 2 minus 1 */
        PortEntry ports[];                      /* local port → vCPU, open addressing */
};

/* 1 if the domain has a server with this id, 0 if not, or -errno. */
static int server_exists(XenServer *s, uint32_t id) {
        /* with no gfn pointers Xen only looks the server up (FACTS 3f) */
        if (xendevicemodel_get_ioreq_server_info(s->dm, (domid_t) s->domid, (ioservid_t) id, NULL, NULL, NULL) == 0)
                return 1;
        if (errno == ENOENT)
                return 0;
        return errno > 0 ? -errno : -EIO;
}

/*
 * Xen sends an access to the enabled server with the highest id whose ranges
 * hold all of it, and gives a new server the lowest free id: a server
 * created after the VMM's is not above it when the VMM's id is not the
 * lowest.  Xen tells neither the ranges nor the state of another server, so
 * ours must be above every server of the domain: create more until one is,
 * then destroy the spare ones below (they have no ranges and were never
 * enabled).  -EBUSY, with the server that could not be passed in
 * *ret_blocker, when Xen's 8 ids do not allow it.
 */
static int server_climb(XenServer *s, uint32_t *ret_blocker) {
        uint32_t spare[XEN_MAX_SERVERS], highest = XEN_NO_SERVER;
        unsigned n_spare = 0;
        int r = 0;

        /* the highest other server of the domain */
        for (uint32_t id = XEN_MAX_SERVERS; id-- > 0;) {
                if (id == s->id)
                        continue;
                r = server_exists(s, id);
                if (r < 0)
                        return r;
                if (r > 0) {
                        highest = id;
                        break;
                }
        }
        s->passed = highest;
        if (highest == XEN_NO_SERVER || highest < s->id)
                return 0;

        r = 0;
        while (s->id < highest) {
                ioservid_t id;

                if (xendevicemodel_create_ioreq_server(s->dm, (domid_t) s->domid, HVM_IOREQSRV_BUFIOREQ_OFF, &id) < 0) {
                        r = errno == ENOSPC ? -EBUSY : errno > 0 ? -errno : -EIO;
                        *ret_blocker = highest;
                        break;
                }
                spare[n_spare++] = s->id;
                s->id = id;
        }
        while (n_spare > 0)
                (void) xendevicemodel_destroy_ioreq_server(s->dm, (domid_t) s->domid, (ioservid_t) spare[--n_spare]);
        return r;
}

struct XenHandles {
        xendevicemodel_handle *dm;
        xenforeignmemory_handle *fmem;
        xenevtchn_handle *xce;
};

XenHandles *xen_handles_free(XenHandles *h) {
        if (!h)
                return NULL;
        if (h->xce)
                (void) xenevtchn_close(h->xce);
        if (h->fmem)
                (void) xenforeignmemory_close(h->fmem);
        if (h->dm)
                (void) xendevicemodel_close(h->dm);
        free(h);
        return NULL;
}

int xen_handles_open(XenHandles **ret) {
        XenHandles *h = calloc(1, sizeof(*h));
        int r;

        if (!h)
                return -ENOMEM;
        h->dm = xendevicemodel_open(NULL, 0);
        if (h->dm)
                h->fmem = xenforeignmemory_open(NULL, 0);
        if (h->fmem)
                h->xce = xenevtchn_open(NULL, 0);
        if (!h->xce) {
                r = errno > 0 ? -errno : -EIO;
                xen_handles_free(h);
                return r;
        }
        *ret = h;
        return 0;
}

int xen_server_open(XenServer **ret, XenHandles **handles, uint32_t domid) {
        XenHandles *h = *handles;
        XenServer *s;
        unsigned nr_ports;
        int r;

        *handles = NULL;
        if (domid == 0 || domid >= DOMID_FIRST_RESERVED) {
                xen_handles_free(h);
                return -EINVAL;
        }

        /* room for every vCPU at half load, so probes stay short */
        nr_ports = 2 * XEN_MAX_VCPUS;
        s = calloc(1, sizeof(*s) + nr_ports * sizeof(PortEntry));
        if (!s) {
                xen_handles_free(h);
                return -ENOMEM;
        }
        s->domid = domid;
        s->id = XEN_NO_SERVER;
        s->passed = XEN_NO_SERVER;
        s->fd = -1;
        s->port_mask = nr_ports - 1;
        for (unsigned i = 0; i < nr_ports; i++)
                s->ports[i].port = NO_PORT;

        /* 1. this guest's own handles */
        if (!h) {
                r = xen_handles_open(&h);
                if (r < 0) {
                        xen_server_free(s, false);
                        return r;
                }
        }
        s->dm = h->dm;
        s->fmem = h->fmem;
        s->xce = h->xce;
        free(h);

        /* 2. every handle of the process restricted to this guest: nothing later can touch another domain */
        if (xentoolcore_restrict_all((domid_t) domid) < 0) {
                r = errno > 0 ? -errno : -EIO;
                xen_server_free(s, false);
                return r;
        }

        *ret = s;
        return 0;
}

int xen_server_map_page(XenServer *s) {
        void *addr = NULL;
        int r;

        /* one frame of 128 slots */
        s->fres = xenforeignmemory_map_resource(s->fmem, (domid_t) s->domid, XENMEM_resource_ioreq_server, s->id,
                                                XENMEM_resource_ioreq_server_frame_ioreq(0), 1, &addr,
                                                PROT_READ | PROT_WRITE, 0);
        if (!s->fres)
                return errno > 0 ? -errno : -EIO;
        s->page = addr;

        r = xendevicemodel_nr_vcpus(s->dm, (domid_t) s->domid, &s->nr_vcpus);
        if (r < 0)
                return errno > 0 ? -errno : -EIO;
        if (s->nr_vcpus == 0 || s->nr_vcpus > XEN_MAX_VCPUS)
                return -E2BIG;
        return 0;
}

int xen_server_create(XenServer *s, uint32_t *ret_blocker) {
        ioservid_t id;

        if (s->id != XEN_NO_SERVER)
                return -EBUSY;
        /* synchronous requests only */
        if (xendevicemodel_create_ioreq_server(s->dm, (domid_t) s->domid, HVM_IOREQSRV_BUFIOREQ_OFF, &id) < 0)
                return errno > 0 ? -errno : -EIO;
        s->id = id;
        s->owned = true;
        return server_climb(s, ret_blocker);
}

int xen_server_reattach(XenServer *s, uint32_t id) {
        int r;

        if (s->id != XEN_NO_SERVER || id >= XEN_MAX_SERVERS)
                return -EINVAL;
        /* a server belongs to the domain, not to the process that made it: it is still there, or not */
        r = server_exists(s, id);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        s->id = id;
        s->owned = true;
        s->reattached = true;
        /* which servers are there besides it: above ours, one takes the accesses to what it maps */
        for (uint32_t other = XEN_MAX_SERVERS; other-- > 0;) {
                if (other == id)
                        continue;
                r = server_exists(s, other);
                if (r < 0)
                        return r;
                if (r > 0) {
                        s->passed = other;
                        break;
                }
        }
        return 0;
}

bool xen_server_reattached(const XenServer *s) {
        return s->reattached;
}

int xen_server_map_range(XenServer *s, bool pio, uint64_t first, uint64_t last) {
        if (first > last)
                return -EINVAL;
        if (xendevicemodel_map_io_range_to_ioreq_server(s->dm, (domid_t) s->domid, (ioservid_t) s->id,
                                                        pio ? 0 : 1, first, last) < 0)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

int xen_server_unmap_range(XenServer *s, bool pio, uint64_t first, uint64_t last) {
        if (xendevicemodel_unmap_io_range_from_ioreq_server(s->dm, (domid_t) s->domid, (ioservid_t) s->id,
                                                            pio ? 0 : 1, first, last) < 0)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

static void port_insert(XenServer *s, uint32_t port, unsigned vcpu) {
        for (uint32_t i = port & s->port_mask;; i = (i + 1) & s->port_mask)
                if (s->ports[i].port == NO_PORT) {
                        s->ports[i].port = port;
                        s->ports[i].vcpu = vcpu;
                        return;
                }
}

int xen_server_port_vcpu(const XenServer *s, uint32_t port) {
        /* the table is never more than half full, so a free entry ends every probe */
        for (uint32_t i = port & s->port_mask;; i = (i + 1) & s->port_mask) {
                if (s->ports[i].port == port)
                        return (int) s->ports[i].vcpu;
                if (s->ports[i].port == NO_PORT)
                        return -1;
        }
}

int xen_server_enable(XenServer *s) {
        int flags;

        if (xendevicemodel_set_ioreq_server_state(s->dm, (domid_t) s->domid, (ioservid_t) s->id, 1) < 0)
                return errno > 0 ? -errno : -EIO;
        s->enabled = true;

        /* vp_eport is written by Xen when the server is enabled; read each once */
        for (unsigned v = 0; v < s->nr_vcpus; v++)
                s->remote[v] = __atomic_load_n(&s->page->vcpu_ioreq[v].vp_eport, __ATOMIC_RELAXED);

        for (unsigned v = 0; v < s->nr_vcpus; v++) {
                xenevtchn_port_or_error_t p;

                s->local[v] = NO_PORT;
                s->nr_bound = v + 1;
                /* a vCPU slot without a port (a vCPU Xen never allocated) sends nothing */
                if (s->remote[v] == 0)
                        continue;
                p = xenevtchn_bind_interdomain(s->xce, s->domid, s->remote[v]);
                /*
                 * A server taken over: the process that had it may still be on its
                 * way out (killed with its parent, not gone yet) and hold the port,
                 * which Xen refuses to bind twice.  It is released when it exits.
                 */
                for (unsigned i = 0; p < 0 && errno == EINVAL && s->reattached && i < 100; i++) {
                        (void) nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
                        p = xenevtchn_bind_interdomain(s->xce, s->domid, s->remote[v]);
                }
                if (p < 0)
                        return errno > 0 ? -errno : -EIO;
                s->local[v] = (uint32_t) p;
                port_insert(s, (uint32_t) p, v);
        }

        s->fd = xenevtchn_fd(s->xce);
        if (s->fd < 0)
                return -EBADF;
        flags = fcntl(s->fd, F_GETFL);
        if (flags < 0 || fcntl(s->fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        return 0;
}

/*
 * Answer whatever a vCPU may be blocked on: a vCPU waiting on a server that
 * is destroyed stays blocked forever.  Reads get all-ones, as from no device.
 */
static void answer_in_flight(XenServer *s) {
        for (unsigned v = 0; v < s->nr_bound; v++) {
                ioreq_t *slot = &s->page->vcpu_ioreq[v];
                unsigned state = ((volatile ioreq_t *) slot)->state;

                if (s->local[v] == NO_PORT)
                        continue;
                if (state != STATE_IOREQ_READY && state != STATE_IOREQ_INPROCESS)
                        continue;
                __atomic_thread_fence(__ATOMIC_ACQUIRE);
                if (slot->dir == IOREQ_READ && !slot->data_is_ptr)
                        slot->data = ~UINT64_C(0);
                __atomic_thread_fence(__ATOMIC_RELEASE);
                ((volatile ioreq_t *) slot)->state = STATE_IORESP_READY;
                (void) xenevtchn_notify(s->xce, s->local[v]);
        }
}

/*
 * Wait (bounded) until the vCPUs took the answers of their slots: Xen reads
 * an answer when the vCPU runs again, and a server destroyed before that
 * takes the answer with it (the vCPU continues as if nothing had answered).
 */
static void wait_answers_taken(XenServer *s) {
        for (unsigned i = 0; i < 200; i++) {
                bool left = false;

                for (unsigned v = 0; v < s->nr_bound && !left; v++)
                        if (s->local[v] != NO_PORT &&
                            ((volatile ioreq_t *) &s->page->vcpu_ioreq[v])->state == STATE_IORESP_READY)
                                left = true;
                if (!left)
                        return;
                (void) nanosleep(&(struct timespec) { .tv_nsec = 1000 * 1000 }, NULL);
        }
}

/*
 * Teardown, the reverse of set-up: disable (no new requests reach us) →
 * answer every request still in flight → unbind the ports → unmap the
 * ioreq page (a mapping keeps a destroyed domain alive as a zombie) →
 * destroy the server (its ranges go with it) → close the handles.  Errors
 * are ignored: the domain may already be gone.  Without destroy the server
 * and whatever waits in its slots are left to the next process, as if this
 * one had died: ports unbound, page unmapped, handles closed.
 */
XenServer *xen_server_free(XenServer *s, bool destroy) {
        if (!s)
                return NULL;

        if (destroy && s->enabled)
                (void) xendevicemodel_set_ioreq_server_state(s->dm, (domid_t) s->domid, (ioservid_t) s->id, 0);
        if (destroy && s->page) {
                answer_in_flight(s);
                wait_answers_taken(s);
        }
        for (unsigned v = s->nr_bound; v > 0; v--)
                if (s->local[v - 1] != NO_PORT)
                        (void) xenevtchn_unbind(s->xce, s->local[v - 1]);
        if (s->fres)
                (void) xenforeignmemory_unmap_resource(s->fmem, s->fres);
        if (destroy && s->owned)
                (void) xendevicemodel_destroy_ioreq_server(s->dm, (domid_t) s->domid, (ioservid_t) s->id);
        if (s->xce)
                (void) xenevtchn_close(s->xce);
        if (s->fmem)
                (void) xenforeignmemory_close(s->fmem);
        if (s->dm)
                (void) xendevicemodel_close(s->dm);
        free(s);
        return NULL;
}

uint32_t xen_server_domid(const XenServer *s) {
        return s->domid;
}

uint32_t xen_server_id(const XenServer *s) {
        return s->id;
}

uint32_t xen_server_passed(const XenServer *s) {
        return s->passed;
}

unsigned xen_server_nr_vcpus(const XenServer *s) {
        return s->nr_vcpus;
}

int xen_server_fd(const XenServer *s) {
        return s->fd;
}

uint32_t xen_server_vp_eport(const XenServer *s, unsigned vcpu) {
        return s->remote[vcpu];
}

int xen_server_pending(XenServer *s) {
        xenevtchn_port_or_error_t p = xenevtchn_pending(s->xce);

        if (p < 0)
                return errno > 0 ? -errno : -EIO;
        return (int) p;
}

int xen_server_unmask(XenServer *s, uint32_t port) {
        if (xenevtchn_unmask(s->xce, port) < 0)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

int xen_server_next_ready(const XenServer *s, unsigned from) {
        for (unsigned v = from; v < s->nr_bound; v++)
                if (((const volatile ioreq_t *) &s->page->vcpu_ioreq[v])->state == STATE_IOREQ_READY &&
                    s->local[v] != NO_PORT)
                        return (int) v;
        return -1;
}

/* Copy a slot once out of guest-shared memory, fields unpacked. */
static inline void xen_server_copy(const ioreq_t *slot, XenIoreq *ret) {
        ioreq_t copy;

        memcpy(&copy, slot, sizeof(copy));
        *ret = (XenIoreq) {
                .addr = copy.addr,
                .data = copy.data,
                .count = copy.count,
                .size = copy.size,
                .vp_eport = copy.vp_eport,
                .state = copy.state,
                .data_is_ptr = copy.data_is_ptr,
                .dir = copy.dir,
                .df = copy.df,
                .type = copy.type,
        };
}

bool xen_server_take(XenServer *s, unsigned vcpu, XenIoreq *ret);

bool xen_server_take_left(XenServer *s, unsigned vcpu, XenIoreq *ret, bool *ret_answered) {
        ioreq_t *slot = &s->page->vcpu_ioreq[vcpu];
        unsigned state;

        *ret_answered = false;
        if (vcpu >= s->nr_bound || s->local[vcpu] == NO_PORT)
                return false;
        state = ((volatile ioreq_t *) slot)->state;
        if (state == STATE_IORESP_READY) {
                /* answered, maybe without its notification: the vCPU waits for one (FACTS 12a) */
                (void) xenevtchn_notify(s->xce, s->local[vcpu]);
                *ret_answered = true;
                return false;
        }
        if (state == STATE_IOREQ_READY)
                return xen_server_take(s, vcpu, ret);
        if (state != STATE_IOREQ_INPROCESS)
                return false;
        /* taken by an earlier process, never answered: its fields are still there */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        xen_server_copy(slot, ret);
        ret->state = XEN_IOREQ_STATE_READY;
        return true;
}

bool xen_server_take(XenServer *s, unsigned vcpu, XenIoreq *ret) {
        ioreq_t *slot = &s->page->vcpu_ioreq[vcpu];

        if (((volatile ioreq_t *) slot)->state != STATE_IOREQ_READY)
                return false;
        /* the fields were written before READY: read them only after it (QEMU's rmb) */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        xen_server_copy(slot, ret);
        ((volatile ioreq_t *) slot)->state = STATE_IOREQ_INPROCESS;
        return true;
}

int xen_server_complete(XenServer *s, unsigned vcpu, bool set_data, uint64_t data) {
        ioreq_t *slot = &s->page->vcpu_ioreq[vcpu];

        if (set_data)
                ((volatile ioreq_t *) slot)->data = data;
        /* the answer must be visible before the state says so (QEMU's wmb) */
        __atomic_thread_fence(__ATOMIC_RELEASE);
        ((volatile ioreq_t *) slot)->state = STATE_IORESP_READY;
        if (xenevtchn_notify(s->xce, s->local[vcpu]) < 0)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

/* ---- interrupts (irqfd) ---- */

static int xen_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

int xen_server_set_irq(XenServer *s, const XenIrq *irq, unsigned level) {
        int r;

        switch (irq->kind) {
        case XEN_IRQ_LINE:
                r = xendevicemodel_set_irq_level(s->dm, (domid_t) s->domid, irq->irq, level);
                break;
        case XEN_IRQ_ISA:
                r = xendevicemodel_set_isa_irq_level(s->dm, (domid_t) s->domid, (uint8_t) irq->irq, level);
                break;
        case XEN_IRQ_INTX:
                r = xendevicemodel_set_pci_intx_level(s->dm, (domid_t) s->domid, irq->segment, irq->bus,
                                                      irq->device, irq->pin, level);
                break;
        default:
                return -EINVAL;
        }
        return r < 0 ? xen_errno() : 0;
}

int xen_server_inject_msi(XenServer *s, uint64_t addr, uint32_t data) {
        return xendevicemodel_inject_msi(s->dm, (domid_t) s->domid, addr, data) < 0 ? xen_errno() : 0;
}

int xen_server_evtchn_bind(XenServer *s, uint32_t remote_port, uint32_t *ret_local) {
        xenevtchn_port_or_error_t p = xenevtchn_bind_interdomain(s->xce, s->domid, remote_port);

        if (p < 0)
                return xen_errno();
        *ret_local = (uint32_t) p;
        return 0;
}

void xen_server_evtchn_unbind(XenServer *s, uint32_t local_port) {
        (void) xenevtchn_unbind(s->xce, local_port);
}

int xen_server_evtchn_notify(XenServer *s, uint32_t local_port) {
        return xenevtchn_notify(s->xce, local_port) < 0 ? xen_errno() : 0;
}

bool xen_server_domain_gone(XenServer *s) {
        unsigned nr = 0;

        return xendevicemodel_nr_vcpus(s->dm, (domid_t) s->domid, &nr) < 0 && errno == ESRCH;
}
