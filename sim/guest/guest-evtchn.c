/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * guest-evtchn.c - the guest's own event channels (xensim-guest.h): allocation and close go
 * through the host (EVTCHNOP_alloc_unbound / EVTCHNOP_close), the events are read from the
 * shm, where dom0's xenevtchn_notify sets them (xensim-shm.h, struct xs_gevt), and waited for
 * on the domain's gevt_seq futex.
 */
#include "autoconfig.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "guest-internal.h"
#include "xensim-shm.h"

/* A wait looks at the port again at least this often (a destroyed domain wakes nobody). */
#define EVTCHN_RECHECK_NS 50000000ull

int xsg_evtchn_alloc_unbound(xsg *g, uint32_t domid, uint32_t remote_domid,
                             uint32_t *ret_port) {
        uint64_t v[4];
        int r = guest_op(g, XS_OP_GEVT_ALLOC, (const uint64_t[]){ domid, remote_domid }, 2, v);
        if (r < 0)
                return r;
        if (v[0] == 0 || v[0] >= XS_MAX_GPORTS)
                return -EPROTO;
        if (ret_port)
                *ret_port = (uint32_t)v[0];
        return 0;
}

int xsg_evtchn_close(xsg *g, uint32_t domid, uint32_t port) {
        return guest_op(g, XS_OP_GEVT_CLOSE, (const uint64_t[]){ domid, port }, 2, NULL);
}

/* The port's gevt in the shm after checking, in one consistent read, that it is one. */
static int gevt_get(xsg *g, uint32_t domid, uint32_t port, struct xs_dom **ret_d,
                    struct xsg_evtchn_status *ret) {
        struct xs_dom *d;
        uint32_t slot, s;
        int r = guest_dom_slot(g, domid, &slot);

        if (r < 0)
                return r;
        if (port == 0 || port >= XS_MAX_GPORTS)
                return -EINVAL;
        d = xs_shm_dom(guest_shm(g), slot);
        do {
                while ((s = atomic_load_explicit(&d->seq, memory_order_acquire)) & 1)
                        sched_yield();
                r = 0;
                if (d->domid != domid || d->state == XS_DOM_FREE)
                        r = -ESRCH;
                else if (d->state == XS_DOM_DYING || d->gport[port].kind != XS_GPORT_EVTCHN)
                        r = -EINVAL;    /* a dying domain's ports were all closed */
                else if (ret) {
                        uint32_t l = d->gport[port].lport;
                        ret->state = l ? XSG_EVTCHN_INTERDOMAIN : XSG_EVTCHN_UNBOUND;
                        ret->bound_port = l;
                        ret->remote_domid = d->gevt[port].remote;
                }
                atomic_thread_fence(memory_order_acquire);
        } while (atomic_load_explicit(&d->seq, memory_order_relaxed) != s);
        *ret_d = d;
        return r;
}

int xsg_evtchn_status(xsg *g, uint32_t domid, uint32_t port, struct xsg_evtchn_status *ret) {
        struct xsg_evtchn_status st;
        struct xs_dom *d;
        int r = gevt_get(g, domid, port, &d, &st);

        if (r < 0)
                return r;
        st.pending = atomic_load(&d->gevt[port].pending) != 0;
        st.count = atomic_load(&d->gevt[port].count);
        *ret = st;
        return 0;
}

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int xsg_evtchn_wait(xsg *g, uint32_t domid, uint32_t port, int timeout_ms,
                    uint32_t *ret_count) {
        int tmo = timeout_ms < 0 ? XSG_DEFAULT_TIMEOUT_MS : timeout_ms;
        uint64_t deadline = now_ns() + (uint64_t)tmo * 1000000u;
        struct xs_dom *d;
        int r = gevt_get(g, domid, port, &d, NULL);

        if (r < 0)
                return r;
        for (;;) {
                /* The sequence before the look: a notify after the look changes it. */
                uint32_t seq = atomic_load_explicit(&d->gevt_seq, memory_order_acquire);
                r = gevt_get(g, domid, port, &d, NULL);
                if (r < 0)
                        return r;
                if (atomic_exchange(&d->gevt[port].pending, 0)) {
                        if (ret_count)
                                *ret_count = atomic_load(&d->gevt[port].count);
                        return 0;
                }
                uint64_t t = now_ns();
                if (t >= deadline)
                        return tmo == 0 ? -EAGAIN : -ETIMEDOUT;
                uint64_t left = deadline - t;
                if (left > EVTCHN_RECHECK_NS)
                        left = EVTCHN_RECHECK_NS;
                struct timespec ts = { (time_t)(left / 1000000000u), (long)(left % 1000000000u) };
                syscall(SYS_futex, &d->gevt_seq, FUTEX_WAIT, seq, &ts, NULL, 0);
        }
}
