/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * host-dom.c - the host's domain table (layer 1, over host-pub.c): finding a domain, its
 * creation (paused or not, with the toolstack's xenstore entries), publishing a change of its
 * state, and freeing its slot.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <xen/xen.h>

#include "host-internal.h"

int host_dom_find(struct host *h, uint32_t domid) {
        for (unsigned i = 0; i < XS_MAX_DOMS; i++)
                if (h->dom[i] && h->dom[i]->domid == domid)
                        return (int)i;
        return -1;
}

int host_dom_check(struct host_client *c, uint64_t domid, struct host *h, int *ret_slot) {
        if (c->restricted)
                return -EPERM;
        if (domid > UINT16_MAX)
                return -ESRCH;
        *ret_slot = host_dom_find(h, (uint32_t)domid);
        return *ret_slot < 0 ? -ESRCH : 0;
}

int host_dom_gport_alloc(struct hdom *d, uint8_t kind, uint8_t srv, uint16_t vcpu,
                         uint32_t *ret) {
        for (uint32_t p = 1; p < XS_MAX_GPORTS; p++)
                if (d->gport[p].kind == XS_GPORT_FREE) {
                        d->gport[p] = (struct hgport){ .kind = kind, .srv = srv, .vcpu = vcpu };
                        *ret = p;
                        return 0;
                }
        return -ENOSPC;
}

/* Publish the domain's state and paused flag, and wake its vCPUs to notice them. */
void host_dom_publish(struct host *h, uint32_t slot) {
        host_pub_begin(h, slot);
        host_pub_header(h, slot);
        host_pub_end(h, slot);
        host_pub_wake(h, slot);
}

static void dom_release(struct hdom *d) {
        for (unsigned i = 0; i < XS_MAX_SERVERS; i++)
                for (unsigned t = 0; t < 3; t++)
                        free(d->srv[i].r[t]);
        free(d->irq);
        if (d->ram_fd >= 0)
                close(d->ram_fd);       /* dom0 mappings keep their pages */
        free(d->ram_gone);
        free(d);
}

/* The slot is free again: clients see the domain gone. */
void host_dom_free(struct host *h, uint32_t slot) {
        host_pub_begin(h, slot);
        host_sdom(h, slot)->state = XS_DOM_FREE;
        host_sdom(h, slot)->gen = ++h->gen_counter;
        host_sdom(h, slot)->domid = UINT32_MAX;
        host_pub_end(h, slot);
        host_pub_wake(h, slot);
        dom_release(h->dom[slot]);
        h->dom[slot] = NULL;
}

/* Every domain's memory, at the host's end (nothing is published). */
void host_dom_free_all(struct host *h) {
        for (unsigned i = 0; i < XS_MAX_DOMS; i++)
                if (h->dom[i]) {
                        dom_release(h->dom[i]);
                        h->dom[i] = NULL;
                }
}

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
        uint64_t ram = req->a[2] ? req->a[2] : XS_RAM_DEFAULT;

        if (!name_ok(req->name) || req->a[0] < 1 || req->a[0] > XS_MAX_VCPUS || req->a[1] > 1)
                return -EINVAL;
        if (ram % XS_PAGE_SIZE || ram > XS_RAM_MAX)
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
        d->ram_frames = ram / XS_PAGE_SIZE;
        d->ram_fd = -1;                 /* created when first used */
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
        host_log(h, "created domain %u (%s, %u vCPUs, %llu KiB RAM)", d->domid, d->name,
                 d->nr_vcpus, (unsigned long long)(ram >> 10));
        val[0] = d->domid;
        return 0;
}

