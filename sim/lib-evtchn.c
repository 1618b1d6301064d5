/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * libxenevtchn.so.1 for xensim.
 *
 * The fd a user polls is an epoll fd watching a private non-blocking eventfd. Notifiers (guest
 * vCPUs, xensimd at bind time, this handle's own unmask) queue the port on the handle's ring in
 * the shm and write the eventfd; xenevtchn_pending pops the ring and clears the eventfd as soon
 * as the ring is empty, re-checking afterwards so no wake-up is lost. So the fd is readable
 * exactly while a port is pending, like /dev/xen/evtchn, and O_NONBLOCK set by the user on it
 * makes xenevtchn_pending fail with EAGAIN once nothing is pending.
 *
 * xenevtchn_notify towards a guest vCPU is an atomic add on that vCPU's event counter plus one
 * FUTEX_WAKE. Masking follows Xen and Linux: a delivered port stays masked until
 * xenevtchn_unmask; notifications while masked leave it pending and are delivered once, at
 * unmask.
 */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <xenevtchn.h>

#include "lib-common.h"

struct xenevtchn_handle {
        Xentoolcore__Active_Handle tc_ah;
        struct lib_conn c;
        void *shm;
        int efd, epfd;
        uint32_t idx, gen;
        struct xs_ring *ring;
        pthread_mutex_t plock;
};

static int evt_restrict_cb(Xentoolcore__Active_Handle *ah, domid_t domid) {
        return xenevtchn_restrict((struct xenevtchn_handle *)ah, domid);
}

xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger, unsigned int flags) {
        struct xenevtchn_handle *h = calloc(1, sizeof(*h));
        struct xs_req req = { .op = XS_OP_EVT_OPEN };
        struct xs_rep rep;
        struct epoll_event ev = { .events = EPOLLIN };
        int r;

        if (!h)
                return NULL;
        h->efd = h->epfd = -1;
        pthread_mutex_init(&h->plock, NULL);
        h->tc_ah.restrict_callback = evt_restrict_cb;
        xentoolcore__register_active_handle(&h->tc_ah);
        r = lib_conn_open(&h->c);
        if (r < 0)
                goto fail;
        r = xsc_shm(h->c.fd, &h->shm);
        if (r < 0)
                goto fail;
        r = xsc_call(h->c.fd, &req, &rep, &h->efd, 1);
        if (r < 0)
                goto fail;
        r = -rep.err;
        if (r < 0)
                goto fail;
        r = -EPROTO;
        if (rep.nfds != 1 || rep.val[0] >= XS_MAX_HANDLES)
                goto fail;
        h->idx = (uint32_t)rep.val[0];
        h->gen = (uint32_t)rep.val[1];
        h->ring = xs_shm_ring(h->shm, h->idx);
        h->epfd = epoll_create1(flags & XENEVTCHN_NO_CLOEXEC ? 0 : EPOLL_CLOEXEC);
        if (h->epfd < 0 || epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->efd, &ev) < 0) {
                r = -errno;
                goto fail;
        }
        (void)logger;
        return h;
fail:
        xentoolcore__deregister_active_handle(&h->tc_ah);
        if (h->epfd >= 0)
                close(h->epfd);
        if (h->efd >= 0)
                close(h->efd);
        if (h->c.fd >= 0)
                close(h->c.fd);
        free(h);
        errno = -r;
        return NULL;
}

xenevtchn_handle *xenevtchn_fdopen(struct xentoollog_logger *logger, int fd,
                                   unsigned open_flags) {
        errno = ENOSYS;
        return NULL;
}

int xenevtchn_close(xenevtchn_handle *xce) {
        if (!xce)
                return 0;
        xentoolcore__deregister_active_handle(&xce->tc_ah);
        close(xce->epfd);
        close(xce->efd);
        if (xce->c.fd >= 0)
                close(xce->c.fd);       /* xensimd unbinds every port of the handle */
        pthread_mutex_destroy(&xce->plock);
        pthread_mutex_destroy(&xce->c.lock);
        free(xce);
        return 0;
}

int xenevtchn_fd(xenevtchn_handle *xce) {
        return xce->epfd;
}

static struct xs_port *own_port(xenevtchn_handle *xce, evtchn_port_t port) {
        struct xs_port *p;
        if (port == 0 || port >= XS_MAX_PORTS)
                return NULL;
        p = xs_shm_port(xce->shm, port);
        if (atomic_load_explicit(&p->handle, memory_order_acquire) != xce->idx + 1 ||
            __atomic_load_n(&p->handle_gen, __ATOMIC_RELAXED) != xce->gen)
                return NULL;
        return p;
}

int xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port) {
        struct xs_port *p = own_port(xce, port);
        struct xs_dom *d;
        uint32_t rslot, rvcpu;

        if (!p) {
                errno = ENOTCONN;
                return -1;
        }
        rslot = __atomic_load_n(&p->rslot, __ATOMIC_ACQUIRE);
        if (!rslot || rslot > XS_MAX_DOMS)
                return 0;               /* the peer closed its end: Xen drops the event */
        d = xs_shm_dom(xce->shm, rslot - 1);
        rvcpu = __atomic_load_n(&p->rvcpu, __ATOMIC_RELAXED);
        if (__atomic_load_n(&d->gen, __ATOMIC_RELAXED) != p->rgen || rvcpu >= XS_MAX_VCPUS)
                return 0;
        atomic_fetch_add_explicit(&d->vcpu_evt[rvcpu], 1, memory_order_acq_rel);
        syscall(SYS_futex, &d->vcpu_evt[rvcpu], FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
        return 0;
}

static void wake_self(xenevtchn_handle *xce) {
        uint64_t one = 1;
        ssize_t n = write(xce->efd, &one, sizeof(one));
        (void)n;
}

/* The ring just ran empty: clear the eventfd, and re-arm it if a port slipped in meanwhile. */
static void settle(xenevtchn_handle *xce) {
        uint64_t cnt;
        ssize_t n = read(xce->efd, &cnt, sizeof(cnt));
        (void)n;
        if (!xs_ring_empty(xce->ring))
                wake_self(xce);
}

xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *xce) {
        struct epoll_event ev;
        uint32_t port;
        int r;

        pthread_mutex_lock(&xce->plock);
        for (;;) {
                if (atomic_load_explicit(&xce->ring->overflow, memory_order_acquire)) {
                        errno = EFBIG;  /* as Linux's evtchn device after a ring overflow */
                        r = -1;
                        break;
                }
                port = xs_ring_pop(xce->ring);
                if (port) {
                        if (xs_ring_empty(xce->ring))
                                settle(xce);
                        r = (int)port;
                        break;
                }
                settle(xce);
                if (!xs_ring_empty(xce->ring))
                        continue;
                int fl = fcntl(xce->epfd, F_GETFL);
                if (fl >= 0 && (fl & O_NONBLOCK)) {
                        errno = EAGAIN;
                        r = -1;
                        break;
                }
                if (epoll_wait(xce->epfd, &ev, 1, -1) < 0) {
                        r = -1;
                        break;
                }
        }
        pthread_mutex_unlock(&xce->plock);
        return r;
}

int xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port) {
        struct xs_port *p = own_port(xce, port);
        if (!p)
                return 0;               /* Linux ignores ports that are not ours */
        if (xs_port_unmask(p)) {
                xs_ring_push(xce->ring, port);
                wake_self(xce);
        }
        return 0;
}

xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *xce, uint32_t domid,
                                                     evtchn_port_t remote_port) {
        uint64_t v[4];
        if (lib_op(&xce->c, XS_OP_EVT_BIND, LIB_ARGS(domid, remote_port), v))
                return -1;
        return (xenevtchn_port_or_error_t)v[0];
}

xenevtchn_port_or_error_t xenevtchn_bind_unbound_port(xenevtchn_handle *xce, uint32_t domid) {
        /* Linux refuses it on a restricted handle whatever the domain. */
        if (lib_op(&xce->c, XS_OP_EVT_CHECK, LIB_ARGS(UINT64_MAX), NULL))
                return -1;
        errno = ENOSYS;
        return -1;
}

xenevtchn_port_or_error_t xenevtchn_bind_virq(xenevtchn_handle *xce, unsigned int virq) {
        if (lib_op(&xce->c, XS_OP_EVT_CHECK, LIB_ARGS(UINT64_MAX), NULL))
                return -1;
        errno = ENOSYS;
        return -1;
}

int xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port) {
        return lib_op(&xce->c, XS_OP_EVT_UNBIND, LIB_ARGS(port), NULL);
}

int xenevtchn_restrict(xenevtchn_handle *xce, domid_t domid) {
        return lib_op(&xce->c, XS_OP_EVT_RESTRICT, LIB_ARGS(domid), NULL);
}
