/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * host-evtchn.c - dom0 event channels bound to guests' ports (ioreq ports, and the guests' own
 * event channels allocated unbound for dom0), the evtchn handles that own them (rings and
 * eventfds in the shm), and the guests' EVTCHNOP_alloc_unbound / EVTCHNOP_close: layer 2, over
 * host-dom.c and host-pub.c.
 */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xen/xen.h>

#include "host-internal.h"

/* ---- dom0 ports ---- */

void host_evt_unbind_peer(struct host *h, uint32_t lport) {
        struct hport *p = &h->port[lport];
        struct xs_port *s = xs_shm_port(h->shm, lport);
        p->rslot = 0;
        p->rport = 0;
        s->rslot = 0;
        s->rvcpu = UINT32_MAX;
        s->rguest = 0;
}

static void port_free(struct host *h, uint32_t lport) {
        struct hport *p = &h->port[lport];
        struct xs_port *s = xs_shm_port(h->shm, lport);
        if (p->rslot) {
                uint32_t slot = p->rslot - 1;
                struct hdom *d = h->dom[slot];
                if (d && p->rport < XS_MAX_GPORTS && d->gport[p->rport].lport == lport) {
                        d->gport[p->rport].lport = 0;
                        host_pub_begin(h, slot);
                        host_pub_gport(h, slot, p->rport);
                        host_pub_end(h, slot);
                }
        }
        atomic_store(&s->handle, 0);
        s->rslot = 0;
        s->rvcpu = UINT32_MAX;
        s->rguest = 0;
        atomic_store(&s->word, 0);
        memset(p, 0, sizeof(*p));
}

/* ---- evtchn ---- */

int host_evt_open(struct host *h, struct host_client *c, uint64_t *val, int *ret_fd) {
        struct xs_ring *ring;
        unsigned i;
        int efd;

        if (c->evt >= 0)
                return -EBUSY;
        for (i = 0; i < XS_MAX_HANDLES; i++)
                if (!h->handle[i].used)
                        break;
        if (i == XS_MAX_HANDLES)
                return -EMFILE;
        /* The count is the number of ports queued and not taken (xensim-shm.h, rings). */
        efd = eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE);
        if (efd < 0)
                return -errno;
        ring = xs_shm_ring(h->shm, i);
        /* Clear only what a previous owner left queued: untouched pages cost no memory. */
        uint32_t cons = atomic_load(&ring->cons), prod = atomic_load(&ring->prod);
        if (prod - cons > XS_RING_SIZE)
                cons = prod - XS_RING_SIZE;
        for (uint32_t k = cons; k != prod; k++)
                atomic_store(&ring->ent[k & (XS_RING_SIZE - 1)], 0);
        atomic_store(&ring->prod, 0);
        atomic_store(&ring->cons, 0);
        atomic_store(&ring->overflow, 0);
        ring->gen = atomic_fetch_add(&h->hdr->handle_gen[i], 1) + 1;
        h->handle[i] = (struct hhandle){ .used = true, .efd = efd, .owner = c };
        c->evt = (int)i;
        val[0] = i;
        val[1] = ring->gen;
        *ret_fd = efd;
        return 0;
}

void host_evt_deliver(struct host *h, uint32_t lport) {
        struct hport *p = &h->port[lport];
        struct xs_port *s = xs_shm_port(h->shm, lport);
        uint64_t one = 1;
        ssize_t n;

        if (!p->handle)
                return;
        if (!xs_port_raise(s))
                return;
        (void)xs_ring_push(xs_shm_ring(h->shm, p->handle - 1), lport);
        n = write(h->handle[p->handle - 1].efd, &one, sizeof(one));
        (void)n;
}

void host_evt_close(struct host *h, struct host_client *c) {
        uint32_t hid;

        if (c->evt < 0)
                return;
        hid = (uint32_t)c->evt + 1;
        for (uint32_t l = 1; l < XS_MAX_PORTS; l++)
                if (h->port[l].handle == hid)
                        port_free(h, l);
        close(h->handle[c->evt].efd);
        h->handle[c->evt] = (struct hhandle){ .used = false, .efd = -1, .owner = NULL };
        atomic_fetch_add(&h->hdr->handle_gen[c->evt], 1);
        c->evt = -1;
}

/*
 * On Linux a process's event channels are unbound by the time it has exited. Here the owner's
 * connection may be closed while xensimd has not processed the hang-up yet: close its evtchn
 * handle now (the rest of the client goes with the hang-up), so that a restarted server can
 * bind the port at once, as on Xen.
 */
static void reap_dead_owner(struct host *h, uint32_t lport) {
        uint32_t hid = h->port[lport].handle;
        struct host_client *owner;
        struct pollfd p;

        if (!hid || hid > XS_MAX_HANDLES || !(owner = h->handle[hid - 1].owner) || owner->fd < 0)
                return;
        p = (struct pollfd){ .fd = owner->fd, .events = POLLRDHUP };
        if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
                host_evt_close(h, owner);
}

int host_evt_bind(struct host *h, struct host_client *c, const uint64_t *a, uint64_t *val) {
        struct hdom *d;
        struct hgport *g;
        uint32_t l;
        int slot;

        if (c->evt < 0)
                return -EBADF;
        if (c->restricted && a[0] != c->rdomid)
                return -EACCES;
        if (a[0] > UINT16_MAX)
                return -EINVAL;
        if (a[0] == 0)
                return -EINVAL;         /* dom0 loopback channels are not simulated */
        slot = host_dom_find(h, (uint32_t)a[0]);
        if (slot < 0)
                return -ESRCH;
        d = h->dom[slot];
        if (d->state == XS_DOM_DYING)
                return -EINVAL;
        if (a[1] == 0 || a[1] >= XS_MAX_GPORTS)
                return -EINVAL;
        g = &d->gport[a[1]];
        if (g->lport)
                reap_dead_owner(h, g->lport);
        /* Xen: the remote port must be unbound and allocated for the binder (dom0). */
        if ((g->kind != XS_GPORT_IOREQ && g->kind != XS_GPORT_BUFIOREQ &&
             (g->kind != XS_GPORT_EVTCHN || g->remote != 0)) || g->lport)
                return -EINVAL;
        for (l = 1; l < XS_MAX_PORTS; l++)
                if (!h->port[l].handle)
                        break;
        if (l == XS_MAX_PORTS)
                return -ENOSPC;
        struct xs_port *s = xs_shm_port(h->shm, l);
        h->port[l] = (struct hport){ .handle = (uint32_t)c->evt + 1, .rslot = (uint32_t)slot + 1,
                                     .rport = (uint32_t)a[1] };
        atomic_store(&s->word, 0);
        s->handle_gen = xs_shm_ring(h->shm, (uint32_t)c->evt)->gen;
        s->rslot = (uint32_t)slot + 1;
        s->rgen = d->gen;
        s->rport = (uint32_t)a[1];
        s->rvcpu = g->kind == XS_GPORT_IOREQ ? g->vcpu : UINT32_MAX;
        s->rguest = g->kind == XS_GPORT_EVTCHN;
        atomic_store(&s->handle, (uint32_t)c->evt + 1);
        g->lport = l;
        host_pub_begin(h, (uint32_t)slot);
        host_pub_gport(h, (uint32_t)slot, (uint32_t)a[1]);
        host_pub_end(h, (uint32_t)slot);
        /* Xen raises the new local port at once. */
        host_evt_deliver(h, l);
        val[0] = l;
        return 0;
}

int host_evt_unbind(struct host *h, struct host_client *c, uint64_t port) {
        if (c->evt < 0)
                return -EBADF;
        if (port == 0 || port >= XS_MAX_PORTS || h->port[port].handle != (uint32_t)c->evt + 1)
                return -ENOTCONN;
        port_free(h, (uint32_t)port);
        return 0;
}


/* ---- guest event channels ---- */

/*
 * EVTCHNOP_alloc_unbound in domain a0 for remote domain a1 (DOMID_SELF: itself), as Xen 4.17
 * does: a dying domain gets no new port (EINVAL), the lowest free port is taken (ENOSPC when
 * none is left), the remote domain is not checked (it need not exist yet). Its counters start
 * at zero.
 */
int host_evt_guest_alloc(struct host *h, struct host_client *c, const uint64_t *a,
                         uint64_t *val) {
        struct hdom *d;
        struct xs_gevt *e;
        uint32_t port;
        int slot, r;

        r = host_dom_check(c, a[0], h, &slot);
        if (r < 0)
                return r;
        d = h->dom[slot];
        if (d->state == XS_DOM_DYING || a[1] > UINT16_MAX)
                return -EINVAL;
        r = host_dom_gport_alloc(d, XS_GPORT_EVTCHN, 0, UINT16_MAX, &port);
        if (r < 0)
                return r;
        d->gport[port].remote = a[1] == DOMID_SELF ? d->domid : (uint32_t)a[1];
        e = &host_sdom(h, (uint32_t)slot)->gevt[port];
        host_pub_begin(h, (uint32_t)slot);
        atomic_store(&e->pending, 0);
        atomic_store(&e->count, 0);
        host_pub_gport(h, (uint32_t)slot, port);
        host_pub_end(h, (uint32_t)slot);
        host_log(h, "dom%u: port %u allocated unbound for dom%u", d->domid, port,
                 d->gport[port].remote);
        val[0] = port;
        return 0;
}

/*
 * EVTCHNOP_close of the guest's own event channel a1 in domain a0. As Xen's evtchn_close, a
 * dom0 port bound to it stays bound on its handle, to nothing (notifications to it are dropped,
 * introspection shows it gone). Other ports (ioreq ports: Xen is their consumer; the reserved
 * ones; free ones) are EINVAL, as in a domain that is dying (Xen closed all its ports).
 */
int host_evt_guest_close(struct host *h, struct host_client *c, const uint64_t *a) {
        struct xs_dom *sd;
        struct hdom *d;
        struct hgport *g;
        int slot, r;

        r = host_dom_check(c, a[0], h, &slot);
        if (r < 0)
                return r;
        d = h->dom[slot];
        if (d->state == XS_DOM_DYING || a[1] == 0 || a[1] >= XS_MAX_GPORTS)
                return -EINVAL;
        g = &d->gport[a[1]];
        if (g->kind != XS_GPORT_EVTCHN)
                return -EINVAL;
        if (g->lport)
                host_evt_unbind_peer(h, g->lport);
        memset(g, 0, sizeof(*g));
        sd = host_sdom(h, (uint32_t)slot);
        host_pub_begin(h, (uint32_t)slot);
        host_pub_gport(h, (uint32_t)slot, (uint32_t)a[1]);
        host_pub_end(h, (uint32_t)slot);
        /* A guest waiting for an event on it notices the close. */
        atomic_fetch_add(&sd->gevt_seq, 1);
        syscall(SYS_futex, &sd->gevt_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
        return 0;
}
