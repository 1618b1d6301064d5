/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * libxenevtchn.so.1 for xensim.
 *
 * The fd a user polls is an eventfd that xensimd created for the handle (blocking, like
 * /dev/xen/evtchn, and EFD_SEMAPHORE). Notifiers (guest vCPUs, xensimd at bind time, this
 * handle's own unmask) queue the port on the handle's ring in the shm, then add 1 to the
 * eventfd; xenevtchn_pending reads one count and pops one port. So the fd is readable exactly
 * while a port is pending, and with nothing pending xenevtchn_pending blocks, or fails with
 * EAGAIN when the user set O_NONBLOCK on the fd. Like Linux: pending is one read(), unmask at
 * most one write() (none when nothing arrived while masked), notify one system call.
 *
 * xenevtchn_notify towards a guest vCPU is an atomic add on that vCPU's event counter plus one
 * FUTEX_WAKE; towards a guest's own event channel it sets the port pending and counts (a
 * FUTEX_WAKE only when it was not pending yet). Masking follows Xen and Linux: a delivered port stays masked until
 * xenevtchn_unmask; notifications while masked leave it pending and are delivered once, at
 * unmask.
 */
#include "autoconfig.h"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <time.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <xenevtchn.h>

#include "lib-common.h"

struct xenevtchn_handle {
        Xentoolcore__Active_Handle tc_ah;
        struct lib_conn c;
        struct xsc_host *host;          /* the host's shm, shared by the process's handles */
        void *shm;
        int efd;
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
        int r;

        if (!h)
                return NULL;
        h->efd = -1;
        pthread_mutex_init(&h->plock, NULL);
        h->tc_ah.restrict_callback = evt_restrict_cb;
        xentoolcore__register_active_handle(&h->tc_ah);
        r = lib_conn_open(&h->c, XS_CLIENT_NONE);     /* XS_OP_EVT_OPEN says what it is */
        if (r < 0)
                goto fail;
        r = lib_host_get(&h->c, &h->host);
        if (r < 0)
                goto fail;
        h->shm = h->host->shm;
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
        if ((flags & XENEVTCHN_NO_CLOEXEC) &&
            fcntl(h->efd, F_SETFD, fcntl(h->efd, F_GETFD) & ~FD_CLOEXEC) < 0) {
                r = -errno;
                goto fail;
        }
        (void)logger;
        return h;
fail:
        xentoolcore__deregister_active_handle(&h->tc_ah);
        if (h->efd >= 0)
                close(h->efd);
        lib_conn_close(&h->c);
        if (h->host)
                xensim__host_put(h->host);
        pthread_mutex_destroy(&h->plock);
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
        close(xce->efd);
        lib_conn_close(&xce->c);        /* xensimd unbinds every port of the handle */
        xensim__host_put(xce->host);
        pthread_mutex_destroy(&xce->plock);
        free(xce);
        return 0;
}

int xenevtchn_fd(xenevtchn_handle *xce) {
        return xce->efd;
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

/*
 * EVTCHNOP_send to a guest's own event channel (xensim-shm.h, struct xs_gevt): counted, and
 * pending set; a guest waiting is woken when it was not pending already.
 */
static int notify_guest(struct xs_dom *d, evtchn_port_t port, uint32_t rport) {
        struct xs_gevt *e;

        if (rport == 0 || rport >= XS_MAX_GPORTS ||
            __atomic_load_n(&d->gport[rport].lport, __ATOMIC_ACQUIRE) != port)
                return 0;
        e = &d->gevt[rport];
        atomic_fetch_add_explicit(&e->count, 1, memory_order_acq_rel);
        if (atomic_exchange_explicit(&e->pending, 1, memory_order_acq_rel))
                return 0;
        atomic_fetch_add_explicit(&d->gevt_seq, 1, memory_order_acq_rel);
        syscall(SYS_futex, &d->gevt_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
        return 0;
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
        if (__atomic_load_n(&d->gen, __ATOMIC_RELAXED) != p->rgen)
                return 0;
        if (__atomic_load_n(&p->rguest, __ATOMIC_RELAXED))
                return notify_guest(d, port, __atomic_load_n(&p->rport, __ATOMIC_RELAXED));
        rvcpu = __atomic_load_n(&p->rvcpu, __ATOMIC_RELAXED);
        if (rvcpu >= XS_MAX_VCPUS)
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

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ volatile("yield");
#endif
}

/*
 * The port whose count was just consumed: the oldest entry of the ring, filled at once unless
 * its producer is between claiming and filling it. A producer that never fills it (killed
 * there) is given up after about a second; then the next entry is the one.
 */
static int take(xenevtchn_handle *xce) {
        struct timespec pause = { 0, 50 * 1000 };
        uint32_t port;

        for (unsigned i = 0;; i++) {
                port = xs_ring_pop(xce->ring);
                if (port)
                        return (int)port;
                if (atomic_load_explicit(&xce->ring->overflow, memory_order_acquire)) {
                        errno = EFBIG;
                        return -1;
                }
                if (i < 1000)
                        cpu_relax();
                else if (i < 1100)
                        sched_yield();
                else if (i < 1100 + 20000)
                        nanosleep(&pause, NULL);
                else {
                        port = xs_ring_skip(xce->ring);
                        if (port)
                                return (int)port;
                        i = 0;
                }
        }
}

/*
 * One read() of the eventfd, as Linux's xenevtchn_pending is one read() of /dev/xen/evtchn:
 * it takes one count (EFD_SEMAPHORE), or blocks, or fails with EAGAIN as the user set
 * O_NONBLOCK on the fd; then the port comes from the ring without a system call.
 */
xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *xce) {
        uint64_t cnt;
        int r;

        pthread_mutex_lock(&xce->plock);
        if (atomic_load_explicit(&xce->ring->overflow, memory_order_acquire)) {
                errno = EFBIG;  /* as Linux's evtchn device after a ring overflow */
                r = -1;
        } else if (read(xce->efd, &cnt, sizeof(cnt)) != sizeof(cnt))
                r = -1;
        else
                r = take(xce);
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

/* Linux refuses these on a restricted handle, whatever the domain. */
static bool restricted(xenevtchn_handle *xce) {
        bool r;
        pthread_mutex_lock(&xce->c.lock);
        r = xce->c.restricted;
        pthread_mutex_unlock(&xce->c.lock);
        return r;
}

xenevtchn_port_or_error_t xenevtchn_bind_unbound_port(xenevtchn_handle *xce, uint32_t domid) {
        errno = restricted(xce) ? EACCES : ENOSYS;
        return -1;
}

xenevtchn_port_or_error_t xenevtchn_bind_virq(xenevtchn_handle *xce, unsigned int virq) {
        errno = restricted(xce) ? EACCES : ENOSYS;
        return -1;
}

int xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port) {
        return lib_op(&xce->c, XS_OP_EVT_UNBIND, LIB_ARGS(port), NULL);
}

int xenevtchn_restrict(xenevtchn_handle *xce, domid_t domid) {
        return lib_restrict(&xce->c, XS_OP_EVT_RESTRICT, domid);
}
