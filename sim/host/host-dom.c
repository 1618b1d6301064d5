/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * host-dom.c - domains of the simulated host: their slots, ioreq page pool, creation (paused or not), crash, unpause with the boot INVALIDATE, destruction and zombies.
 */
#include "autoconfig.h"

#include <errno.h>
#include <linux/futex.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>
#include <xendevicemodel.h>

#include "host-internal.h"

/* ---- pages ---- */

int host_dom_page_alloc(struct host *h, uint32_t slot, uint32_t *ret) {
        uint32_t p;
        if (!h->nr_free_pages)
                return -ENOMEM;
        /* Oldest freed first: a page a vCPU may still look at is not handed out at once. */
        p = h->free_pages[h->free_head];
        h->free_head = (h->free_head + 1) % XS_MAX_PAGES;
        h->nr_free_pages--;
        memset(xs_shm_page(h->shm, p), 0, XS_PAGE_SIZE);
        h->page_refs[p] = 1;
        h->page_slot[p] = slot;
        *ret = p;
        return 0;
}

void host_dom_page_unref(struct host *h, uint32_t p) {
        if (!p || p >= XS_MAX_PAGES || !h->page_refs[p])
                return;
        if (--h->page_refs[p] == 0)
                h->free_pages[(h->free_head + h->nr_free_pages++) % XS_MAX_PAGES] = p;
}

/* ---- domains ---- */

int host_dom_find(struct host *h, uint32_t domid) {
        for (unsigned i = 0; i < XS_MAX_DOMS; i++)
                if (h->dom[i] && h->dom[i]->domid == domid)
                        return (int)i;
        return -1;
}

void host_dom_free(struct host *h, uint32_t slot) {
        struct hdom *d = h->dom[slot];
        host_pub_begin(h, slot);
        host_sdom(h, slot)->state = XS_DOM_FREE;
        host_sdom(h, slot)->gen = ++h->gen_counter;
        host_sdom(h, slot)->domid = UINT32_MAX;
        host_pub_end(h, slot);
        host_wake_vcpus(h, slot);
        for (unsigned i = 0; i < XS_MAX_SERVERS; i++) {
                for (unsigned t = 0; t < 3; t++)
                        free(d->srv[i].r[t]);
        }
        free(d->irq);
        free(d);
        h->dom[slot] = NULL;
}

void host_dom_destroy(struct host *h, uint32_t slot) {
        struct hdom *d = h->dom[slot];
        for (unsigned id = 0; id < XS_MAX_SERVERS; id++)
                if (d->srv[id].state != XS_SRV_NONE)
                        host_ioreq_server_destroy(h, slot, id);
        /* Any dom0 port still pointing at this domain becomes unbound. */
        for (uint32_t l = 1; l < XS_MAX_PORTS; l++)
                if (h->port[l].rslot == slot + 1)
                        host_evt_unbind_peer(h, l);
        if (h->xs)
                host_xs_domain_destroy(h->xs, d->domid);
        if (d->maprefs) {
                d->state = XS_DOM_DYING;
                host_pub_begin(h, slot);
                host_pub_header(h, slot);
                host_pub_end(h, slot);
                host_wake_vcpus(h, slot);
                return;
        }
        host_dom_free(h, slot);
}

/* ---- toolstack ---- */

static bool name_ok(const char *n) {
        size_t len = strnlen(n, 64);
        if (len == 0 || len > 63)
                return false;
        for (size_t i = 0; i < len; i++)
                if (n[i] <= ' ' || n[i] > '~' || n[i] == '/')
                        return false;
        return true;
}

int host_dom_create(struct host *h, const struct xs_req *req, uint64_t *val) {
        char name[64];
        struct hdom *d;
        unsigned slot;
        int r;

        memcpy(name, req->name, sizeof(name));
        name[63] = 0;
        if (!name_ok(req->name) || req->a[0] < 1 || req->a[0] > XS_MAX_VCPUS || req->a[1] > 1)
                return -EINVAL;
        for (unsigned i = 0; i < XS_MAX_DOMS; i++)
                if (h->dom[i] && h->dom[i]->state != XS_DOM_DYING &&
                    !strcmp(h->dom[i]->name, name))
                        return -EEXIST;
        for (slot = 0; slot < XS_MAX_DOMS; slot++)
                if (!h->dom[slot])
                        break;
        if (slot == XS_MAX_DOMS)
                return -ENOSPC;
        if (h->next_domid >= DOMID_FIRST_RESERVED)
                return -ENOSPC;
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->domid = h->next_domid++;
        d->gen = ++h->gen_counter;
        d->nr_vcpus = (uint32_t)req->a[0];
        d->state = XS_DOM_RUNNING;
        d->paused = req->a[1] & 1;
        memcpy(d->name, name, sizeof(name));
        /* Ports 1 and 2: the xenstore and console channels libxl sets up. */
        d->gport[1].kind = XS_GPORT_RESERVED;
        d->gport[2].kind = XS_GPORT_RESERVED;
        h->dom[slot] = d;
        struct xs_dom *s = host_sdom(h, slot);
        host_pub_begin(h, slot);
        /* Only a reused slot has stale contents (untouched shm pages cost no memory). */
        if (h->slot_used[slot]) {
                memset(s->gport, 0, sizeof(s->gport));
                for (unsigned i = 0; i < XS_MAX_SERVERS; i++) {
                        uint32_t gen = s->srv[i].gen;
                        memset(&s->srv[i], 0, offsetof(struct xs_server, r));
                        s->srv[i].gen = gen;
                }
                for (unsigned v = 0; v < XS_MAX_VCPUS; v++)
                        atomic_store(&s->vcpu_busy[v], 0);
                memset(s->vpend, 0, sizeof(s->vpend));
        }
        h->slot_used[slot] = true;
        host_pub_header(h, slot);
        host_pub_gport(h, slot, 1);
        host_pub_gport(h, slot, 2);
        host_pub_end(h, slot);
        if (h->xs) {
                r = host_xs_domain_create(h->xs, d->domid, d->name, d->nr_vcpus);
                if (r < 0)
                        fprintf(stderr, "<4>xensimd: xenstore entries of domain %u: %s\n",
                                d->domid, strerror(-r));
        }
        host_log(h, "created domain %u (%s, %u vCPUs)", d->domid, d->name, d->nr_vcpus);
        val[0] = d->domid;
        return 0;
}

int host_dom_check(struct host_client *c, uint64_t domid, struct host *h, int *ret_slot) {
        if (c->restricted)
                return -EPERM;
        if (domid > UINT16_MAX)
                return -ESRCH;
        *ret_slot = host_dom_find(h, (uint32_t)domid);
        return *ret_slot < 0 ? -ESRCH : 0;
}

/*
 * Unpausing a domain created paused: as Xen does shortly after boot, vCPU 0 sends one
 * INVALIDATE to every enabled server (highest id first) and is blocked until all of them
 * answered. xensimd fills the slots and notifies; the wait itself is recorded as the vCPU's
 * pending requests (struct xs_vpend), which its first access resumes, before the domain is
 * published as running.
 */
int host_dom_unpause(struct host *h, uint32_t slot, uint64_t *val) {
        struct hdom *d = h->dom[slot];
        struct xs_dom *s = host_sdom(h, slot);
        struct xs_vpend *vp = &s->vpend[0];
        unsigned n = 0;

        if (!d->paused)
                return -EINVAL;
        vp->ev = atomic_load(&s->vcpu_evt[0]);
        for (int id = XS_MAX_SERVERS - 1; id >= 0; id--) {
                struct hsrv *v = &d->srv[id];
                if (v->state != XS_SRV_ENABLED)
                        continue;
                ioreq_t *io = xs_shm_page(h->shm, v->page);
                io->state = STATE_IOREQ_NONE;
                atomic_thread_fence(memory_order_release);
                io->addr = 0;
                io->data = ~0ull;
                io->count = 0;
                io->size = 4;
                io->data_is_ptr = 0;
                io->dir = IOREQ_WRITE;
                io->df = 0;
                io->type = IOREQ_TYPE_INVALIDATE;
                atomic_thread_fence(memory_order_release);
                io->state = STATE_IOREQ_READY;
                vp->w[n].page = v->page;
                vp->w[n].srv = (uint32_t)id;
                vp->w[n].srv_gen = s->srv[id].gen;
                n++;
        }
        vp->n = n;
        for (unsigned i = 0; i < n; i++) {
                uint32_t port = d->srv[vp->w[i].srv].vport[0];
                if (port < XS_MAX_GPORTS && d->gport[port].lport)
                        host_evt_deliver(h, d->gport[port].lport);
        }
        d->paused = false;
        host_pub_begin(h, slot);
        host_pub_header(h, slot);
        host_pub_end(h, slot);
        host_wake_vcpus(h, slot);
        val[0] = n;
        return 0;
}

