/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <unistd.h>

#include "ioreq.h"
#include "xenioreqd/protocol.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

/* Outcome of validating one request. */
typedef enum IoreqClass {
        IOREQ_CLASS_WRITE,
        IOREQ_CLASS_READ,
        IOREQ_CLASS_OTHER,
        IOREQ_CLASS_INVALID,
} IoreqClass;

static const char *ioreq_check(const Ioreq *q, unsigned vcpu, const XenIoreq *r, IoreqClass *ret) {
        if (r->state != XEN_IOREQ_STATE_READY)
                return "state";
        if (r->vp_eport != xen_server_vp_eport(q->xen, vcpu))
                return "vp_eport";

        switch (r->type) {
        case XEN_IOREQ_TYPE_PIO:
        case XEN_IOREQ_TYPE_COPY:
                break;
        case XEN_IOREQ_TYPE_INVALIDATE:
        case XEN_IOREQ_TYPE_TIMEOFFSET:
        case XEN_IOREQ_TYPE_PCI_CONFIG:
                *ret = IOREQ_CLASS_OTHER;
                return NULL;
        default:
                return "type";
        }

        if (r->size != 1 && r->size != 2 && r->size != 4 && r->size != 8)
                return "size";
        /* rep string operations (count > 1, or data in guest memory) are never ioeventfd kicks */
        if (r->count != 1)
                return "count";
        if (r->data_is_ptr)
                return "data_is_ptr";
        /* df only orders the elements of a rep operation: meaningless for one access */
        if (r->type == XEN_IOREQ_TYPE_PIO) {
                if (r->addr > 0xffff || r->addr + r->size > 0x10000)
                        return "addr";
        } else if (r->addr + r->size < r->addr) {
                return "addr";
        }

        *ret = r->dir == XEN_IOREQ_READ ? IOREQ_CLASS_READ : IOREQ_CLASS_WRITE;
        return NULL;
}

static void ioreq_log_invalid(Ioreq *q, unsigned vcpu, const XenIoreq *r, const char *field) {
        unsigned suppressed = 0;

        if (log_get_max_level() < LOG_DEBUG || !ratelimit_below(&q->invalid_log, &suppressed))
                return;
        log_debug("Domain %" PRIu32 " vCPU %u: invalid ioreq (bad %s): state=%u type=%u dir=%u addr=0x%" PRIx64
                  " size=%" PRIu32 " count=%" PRIu32 " data_is_ptr=%u df=%u vp_eport=%" PRIu32
                  ", completed (%u similar messages suppressed)",
                  xen_server_domid(q->xen), vcpu, field, r->state, r->type, r->dir, r->addr, r->size,
                  r->count, r->data_is_ptr, r->df, r->vp_eport, suppressed);
}

static void ioreq_handle(Ioreq *q, unsigned vcpu) {
        XenIoreq r;
        IoreqClass class = IOREQ_CLASS_INVALID;
        const char *bad;
        const Registration *reg;
        static const uint64_t one = 1;

        /* not READY: a spurious event (there is one right after every bind) */
        if (!xen_server_take(q->xen, vcpu, &r))
                return;

        bad = ioreq_check(q, vcpu, &r, &class);
        if (bad)
                class = IOREQ_CLASS_INVALID;

        switch (class) {
        case IOREQ_CLASS_WRITE:
                reg = match_lookup(q->match,
                                   r.type == XEN_IOREQ_TYPE_PIO ? XIRQ_SPACE_PIO : XIRQ_SPACE_MMIO,
                                   r.addr, (uint8_t) r.size, r.data);
                if (reg) {
                        /* EAGAIN: the counter is saturated, the kick coalesces with one not yet read */
                        (void) !write(reg->fd, &one, sizeof(one));
                        q->stats.kicks++;
                } else
                        q->stats.unmatched++;
                (void) xen_server_complete(q->xen, vcpu, false, 0);
                return;

        case IOREQ_CLASS_READ:
                q->stats.reads++;
                (void) xen_server_complete(q->xen, vcpu, true, 0);
                return;

        case IOREQ_CLASS_OTHER:
                q->stats.other++;
                break;

        case IOREQ_CLASS_INVALID:
                q->stats.invalid++;
                ioreq_log_invalid(q, vcpu, &r, bad ? bad : "class");
                break;
        }

        /* no device answers: reads see all-ones, data in guest memory is left alone */
        (void) xen_server_complete(q->xen, vcpu, r.dir == XEN_IOREQ_READ && !r.data_is_ptr, ~UINT64_C(0));
}

void ioreq_dispatch(Ioreq *q) {
        /*
         * Bounded work per wake-up: a guest that floods its ports (or sends
         * events with nothing READY) must not keep the loop from other
         * guests.  What is left stays queued on the fd, which stays
         * readable, so the level-triggered watcher comes back to it after
         * the other ready watchers have run.
         */
        for (unsigned n = 0; n < q->budget; n++) {
                int port, vcpu;

                port = xen_server_pending(q->xen);
                if (port < 0) {
                        if (port == -EAGAIN)
                                return;
                        if (port == -EINTR)
                                continue;
                        q->fail(q, port);
                        return;
                }
                /* unmask first: an event for a request sent after this one must not be lost */
                (void) xen_server_unmask(q->xen, (uint32_t) port);

                vcpu = xen_server_port_vcpu(q->xen, (uint32_t) port);
                if (vcpu < 0)
                        continue;
                ioreq_handle(q, (unsigned) vcpu);
        }
}

static void ioreq_io_cb(struct ev_loop *loop, ev_io *w, int revents) {
        Ioreq *q = container_of(w, Ioreq, io);

        ioreq_dispatch(q);
}

int ioreq_start(Ioreq *q, struct ev_loop *loop, XenServer *xen, const MatchTable *match,
                uint32_t busy_poll_us, IoreqFailFn fail) {
        int fd = xen_server_fd(xen);

        if (fd < 0)
                return -EBADF;

        *q = (Ioreq) {
                .loop = loop,
                .xen = xen,
                .match = match,
                .fail = fail,
                .budget = 2 * xen_server_nr_vcpus(xen) + 64,
                .busy_poll_us = busy_poll_us,
                .invalid_log = RATELIMIT_INIT(10 * 1000 * 1000, 10),
        };
        ev_io_init(&q->io, ioreq_io_cb, fd, EV_READ);
        /* events that arrived before this are queued on the fd: it is readable */
        ev_io_start(loop, &q->io);
        return 0;
}

void ioreq_stop(Ioreq *q) {
        if (q->loop)
                ev_io_stop(q->loop, &q->io);
        q->xen = NULL;
        q->match = NULL;
}
