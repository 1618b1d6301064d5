/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * host.c - the simulated Xen 4.17 host state and its control operations.
 *
 * Everything here runs in xensimd's single thread. The authoritative state is private
 * (struct host); the shm is a published copy for the clients' fast paths, written under the
 * per-domain seqlock. Nothing read back from the shm is trusted.
 */
#include "config.h"

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

#include "host.h"



struct host_map {
        uint32_t id;
        uint32_t slot;                  /* domain slot */
        uint32_t nr;
        uint32_t page[2];
};

struct hsrv {
        int state;                      /* XS_SRV_* */
        uint32_t page, bufpage, bufport;
        uint32_t nr[3];                 /* PIO, MMIO, PCI config space */
        uint32_t vport[XS_MAX_VCPUS];
        struct xs_range *r[3];          /* XS_MAX_RANGES each, allocated on first map */
};

struct hgport {
        uint8_t kind;
        uint8_t srv;
        uint16_t vcpu;
        uint32_t lport;
};

struct irqent {
        uint32_t kind;
        uint64_t a, b, seq;
};

struct hdom {
        uint32_t domid, gen, nr_vcpus;
        int state;
        bool paused;
        char name[64];
        struct hsrv srv[XS_MAX_SERVERS];
        struct hgport gport[XS_MAX_GPORTS];
        unsigned maprefs;               /* foreignmemory mappings of its pages */
        struct irqent *irq;             /* XS_IRQ_LOG entries, allocated on first use */
        unsigned irq_start, irq_count;
};

struct hport {
        uint32_t handle;                /* owner handle + 1, 0 = free */
        uint32_t rslot;                 /* peer domain slot + 1, 0 = unbound */
        uint32_t rport;
};

struct hhandle {
        bool used;
        int efd;
        struct host_client *owner;
};

struct host {
        bool verbose;
        int shm_fd;
        void *shm;
        struct xs_shm_hdr *hdr;
        struct xs_handle *xs;
        struct hdom *dom[XS_MAX_DOMS];
        bool slot_used[XS_MAX_DOMS];
        uint32_t next_domid;
        uint32_t page_refs[XS_MAX_PAGES];
        uint32_t page_slot[XS_MAX_PAGES];
        uint32_t free_pages[XS_MAX_PAGES];
        unsigned nr_free_pages;
        struct hport port[XS_MAX_PORTS];
        struct hhandle handle[XS_MAX_HANDLES];
        uint32_t next_map_id;
        uint64_t irq_seq;
        uint32_t gen_counter;
};

static void vlog(struct host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vlog(struct host *h, const char *fmt, ...) {
        va_list ap;
        if (!h->verbose)
                return;
        va_start(ap, fmt);
        fputs("<7>xensimd: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

/* ---- shm publishing ---- */

static struct xs_dom *sdom(struct host *h, uint32_t slot) {
        return xs_shm_dom(h->shm, slot);
}

static void pub_begin(struct host *h, uint32_t slot) {
        atomic_fetch_add_explicit(&sdom(h, slot)->seq, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
}

static void pub_end(struct host *h, uint32_t slot) {
        atomic_thread_fence(memory_order_release);
        atomic_fetch_add_explicit(&sdom(h, slot)->seq, 1, memory_order_relaxed);
}

static void futex_wake_all(_Atomic uint32_t *w) {
        syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Wake every vCPU of a domain so that blocked vCPUs notice a crash or a destruction. */
static void wake_vcpus(struct host *h, uint32_t slot) {
        struct xs_dom *d = sdom(h, slot);
        for (unsigned v = 0; v < XS_MAX_VCPUS; v++) {
                atomic_fetch_add(&d->vcpu_evt[v], 1);
                futex_wake_all(&d->vcpu_evt[v]);
        }
}

/* ---- pages ---- */

static int page_alloc(struct host *h, uint32_t slot, uint32_t *ret) {
        uint32_t p;
        if (!h->nr_free_pages)
                return -ENOMEM;
        p = h->free_pages[--h->nr_free_pages];
        memset(xs_shm_page(h->shm, p), 0, XS_PAGE_SIZE);
        h->page_refs[p] = 1;
        h->page_slot[p] = slot;
        *ret = p;
        return 0;
}

static void page_unref(struct host *h, uint32_t p) {
        if (!p || p >= XS_MAX_PAGES || !h->page_refs[p])
                return;
        if (--h->page_refs[p] == 0)
                h->free_pages[h->nr_free_pages++] = p;
}

/* ---- domains ---- */

static int dom_find(struct host *h, uint32_t domid) {
        for (unsigned i = 0; i < XS_MAX_DOMS; i++)
                if (h->dom[i] && h->dom[i]->domid == domid)
                        return (int)i;
        return -1;
}

static void dom_publish_header(struct host *h, uint32_t slot) {
        struct hdom *d = h->dom[slot];
        struct xs_dom *s = sdom(h, slot);
        s->state = (uint32_t)d->state;
        s->domid = d->domid;
        s->gen = d->gen;
        s->nr_vcpus = d->nr_vcpus;
        s->paused = d->paused;
        memcpy(s->name, d->name, sizeof(s->name));
}

static void dom_publish_gport(struct host *h, uint32_t slot, uint32_t port) {
        struct hgport *g = &h->dom[slot]->gport[port];
        struct xs_gport *s = &sdom(h, slot)->gport[port];
        s->kind = g->kind;
        s->vcpu = g->vcpu;
        s->server = g->srv;
        s->lport = g->lport;
}

static void dom_publish_server(struct host *h, uint32_t slot, unsigned id) {
        struct hsrv *v = &h->dom[slot]->srv[id];
        struct xs_server *s = &sdom(h, slot)->srv[id];
        s->state = (uint32_t)v->state;
        s->page = v->page;
        s->bufpage = v->bufpage;
        s->bufport = v->bufport;
        memcpy(s->vport, v->vport, sizeof(s->vport));
        for (unsigned t = 0; t < 2; t++) {
                s->nr[t] = v->nr[t];
                if (v->nr[t])
                        memcpy(s->r[t], v->r[t], v->nr[t] * sizeof(struct xs_range));
        }
}

static void dom_free(struct host *h, uint32_t slot) {
        struct hdom *d = h->dom[slot];
        pub_begin(h, slot);
        sdom(h, slot)->state = XS_DOM_FREE;
        sdom(h, slot)->gen = ++h->gen_counter;
        sdom(h, slot)->domid = UINT32_MAX;
        pub_end(h, slot);
        wake_vcpus(h, slot);
        for (unsigned i = 0; i < XS_MAX_SERVERS; i++) {
                for (unsigned t = 0; t < 3; t++)
                        free(d->srv[i].r[t]);
        }
        free(d->irq);
        free(d);
        h->dom[slot] = NULL;
}

/* ---- dom0 ports ---- */

static void port_unbind_peer(struct host *h, uint32_t lport) {
        struct hport *p = &h->port[lport];
        struct xs_port *s = xs_shm_port(h->shm, lport);
        p->rslot = 0;
        p->rport = 0;
        s->rslot = 0;
        s->rvcpu = UINT32_MAX;
}

static void port_free(struct host *h, uint32_t lport) {
        struct hport *p = &h->port[lport];
        struct xs_port *s = xs_shm_port(h->shm, lport);
        if (p->rslot) {
                uint32_t slot = p->rslot - 1;
                struct hdom *d = h->dom[slot];
                if (d && p->rport < XS_MAX_GPORTS && d->gport[p->rport].lport == lport) {
                        d->gport[p->rport].lport = 0;
                        pub_begin(h, slot);
                        dom_publish_gport(h, slot, p->rport);
                        pub_end(h, slot);
                }
        }
        atomic_store(&s->handle, 0);
        s->rslot = 0;
        s->rvcpu = UINT32_MAX;
        atomic_store(&s->word, 0);
        memset(p, 0, sizeof(*p));
}

/* ---- servers ---- */

static int gport_alloc(struct hdom *d, uint8_t kind, uint8_t srv, uint16_t vcpu, uint32_t *ret) {
        for (uint32_t p = 1; p < XS_MAX_GPORTS; p++)
                if (d->gport[p].kind == XS_GPORT_FREE) {
                        d->gport[p] = (struct hgport){ .kind = kind, .srv = srv, .vcpu = vcpu };
                        *ret = p;
                        return 0;
                }
        return -ENOSPC;
}

static void server_destroy(struct host *h, uint32_t slot, unsigned id) {
        struct hdom *d = h->dom[slot];
        struct hsrv *v = &d->srv[id];

        pub_begin(h, slot);
        for (uint32_t p = 1; p < XS_MAX_GPORTS; p++) {
                struct hgport *g = &d->gport[p];
                if ((g->kind != XS_GPORT_IOREQ && g->kind != XS_GPORT_BUFIOREQ) || g->srv != id)
                        continue;
                /* Xen closes the guest side; the dom0 side stays allocated but unbound. */
                if (g->lport)
                        port_unbind_peer(h, g->lport);
                memset(g, 0, sizeof(*g));
                dom_publish_gport(h, slot, p);
        }
        page_unref(h, v->page);
        page_unref(h, v->bufpage);
        for (unsigned t = 0; t < 3; t++)
                free(v->r[t]);
        memset(v, 0, sizeof(*v));
        dom_publish_server(h, slot, id);
        sdom(h, slot)->srv[id].gen = ++h->gen_counter;
        pub_end(h, slot);
}

static void dom_destroy(struct host *h, uint32_t slot) {
        struct hdom *d = h->dom[slot];
        for (unsigned id = 0; id < XS_MAX_SERVERS; id++)
                if (d->srv[id].state != XS_SRV_NONE)
                        server_destroy(h, slot, id);
        /* Any dom0 port still pointing at this domain becomes unbound. */
        for (uint32_t l = 1; l < XS_MAX_PORTS; l++)
                if (h->port[l].rslot == slot + 1)
                        port_unbind_peer(h, l);
        if (h->xs)
                host_xs_domain_destroy(h->xs, d->domid);
        if (d->maprefs) {
                d->state = XS_DOM_DYING;
                pub_begin(h, slot);
                dom_publish_header(h, slot);
                pub_end(h, slot);
                wake_vcpus(h, slot);
                return;
        }
        dom_free(h, slot);
}

/* Checks every devicemodel/foreignmemory operation makes on its target, in Xen's order. */
static int check_target(struct host *h, struct host_client *c, uint64_t domid, int *ret_slot) {
        int slot;
        if (domid > UINT16_MAX)
                return -EINVAL;
        if (c->restricted && domid != c->rdomid)
                return -EPERM;
        if (domid == 0)
                return -EPERM;          /* dom0 is the caller's own domain */
        slot = dom_find(h, (uint32_t)domid);
        if (slot < 0)
                return -ESRCH;
        *ret_slot = slot;
        return 0;
}

static int check_server(struct host *h, struct host_client *c, uint64_t domid, uint64_t id,
                        int *ret_slot) {
        int r = check_target(h, c, domid, ret_slot);
        if (r < 0)
                return r;
        if (id >= XS_MAX_SERVERS || h->dom[*ret_slot]->srv[id].state == XS_SRV_NONE)
                return -ENOENT;
        return 0;
}

static int op_server_create(struct host *h, struct host_client *c, const uint64_t *a,
                            uint64_t *val) {
        struct hdom *d;
        struct hsrv *v;
        int slot, r;
        unsigned id;

        r = check_target(h, c, a[0], &slot);
        if (r < 0)
                return r;
        d = h->dom[slot];
        if (d->state == XS_DOM_DYING)
                return -EINVAL;         /* Xen 4.17 refuses a dying domain with EINVAL */
        if (a[1] > HVM_IOREQSRV_BUFIOREQ_ATOMIC)
                return -EINVAL;
        for (id = 0; id < XS_MAX_SERVERS; id++)
                if (d->srv[id].state == XS_SRV_NONE)
                        break;
        if (id == XS_MAX_SERVERS)
                return -ENOSPC;
        v = &d->srv[id];
        r = page_alloc(h, (uint32_t)slot, &v->page);
        if (r < 0)
                goto fail;
        if (a[1] != HVM_IOREQSRV_BUFIOREQ_OFF) {
                r = page_alloc(h, (uint32_t)slot, &v->bufpage);
                if (r < 0)
                        goto fail;
        }
        /* As Xen: vCPU 0's port, then the buffered ioreq port, then the other vCPUs'. */
        for (unsigned vc = 0; vc < d->nr_vcpus; vc++) {
                uint32_t p;
                r = gport_alloc(d, XS_GPORT_IOREQ, (uint8_t)id, (uint16_t)vc, &p);
                if (r < 0)
                        goto fail;
                v->vport[vc] = p;
                if (vc == 0 && v->bufpage) {
                        r = gport_alloc(d, XS_GPORT_BUFIOREQ, (uint8_t)id, UINT16_MAX,
                                        &v->bufport);
                        if (r < 0)
                                goto fail;
                }
        }
        v->state = XS_SRV_DISABLED;
        pub_begin(h, slot);
        for (uint32_t p = 1; p < XS_MAX_GPORTS; p++)
                if (d->gport[p].kind >= XS_GPORT_IOREQ && d->gport[p].srv == id)
                        dom_publish_gport(h, slot, p);
        dom_publish_server(h, slot, id);
        sdom(h, slot)->srv[id].gen = ++h->gen_counter;
        pub_end(h, slot);
        val[0] = id;
        vlog(h, "dom%u: created ioreq server %u", d->domid, id);
        return 0;
fail:
        for (uint32_t p = 1; p < XS_MAX_GPORTS; p++)
                if (d->gport[p].kind >= XS_GPORT_IOREQ && d->gport[p].srv == id)
                        memset(&d->gport[p], 0, sizeof(d->gport[p]));
        page_unref(h, v->page);
        page_unref(h, v->bufpage);
        memset(v, 0, sizeof(*v));
        return r;
}

static bool range_overlaps(const struct hsrv *v, unsigned t, uint64_t s, uint64_t e) {
        for (unsigned i = 0; i < v->nr[t]; i++)
                if (s <= v->r[t][i].end && e >= v->r[t][i].start)
                        return true;
        return false;
}

static int range_insert(struct hsrv *v, unsigned t, uint64_t s, uint64_t e) {
        struct xs_range *r = v->r[t];
        unsigned n = v->nr[t], i, j;

        /* A rangeset merges adjacent ranges; it holds at most XS_MAX_RANGES of them. */
        for (i = 0; i < n && r[i].start < s; i++)
                ;
        bool join_prev = i > 0 && r[i - 1].end != UINT64_MAX && r[i - 1].end + 1 == s;
        bool join_next = i < n && e != UINT64_MAX && e + 1 == r[i].start;
        if (join_prev && join_next) {
                r[i - 1].end = r[i].end;
                memmove(&r[i], &r[i + 1], (n - i - 1) * sizeof(*r));
                v->nr[t]--;
        } else if (join_prev) {
                r[i - 1].end = e;
        } else if (join_next) {
                r[i].start = s;
        } else {
                if (n >= XS_MAX_RANGES)
                        return -ENOMEM;
                for (j = n; j > i; j--)
                        r[j] = r[j - 1];
                r[i] = (struct xs_range){ s, e };
                v->nr[t]++;
        }
        return 0;
}

static int range_remove(struct hsrv *v, unsigned t, uint64_t s, uint64_t e) {
        struct xs_range *r = v->r[t];
        unsigned n = v->nr[t], i;

        for (i = 0; i < n; i++)
                if (r[i].start <= s && e <= r[i].end)
                        break;
        if (i == n)
                return -ENOENT;
        bool left = r[i].start < s, right = e < r[i].end;
        if (left && right) {
                if (n >= XS_MAX_RANGES)
                        return -ENOMEM;
                memmove(&r[i + 2], &r[i + 1], (n - i - 1) * sizeof(*r));
                r[i + 1] = (struct xs_range){ e + 1, r[i].end };
                r[i].end = s - 1;
                v->nr[t]++;
        } else if (left) {
                r[i].end = s - 1;
        } else if (right) {
                r[i].start = e + 1;
        } else {
                memmove(&r[i], &r[i + 1], (n - i - 1) * sizeof(*r));
                v->nr[t]--;
        }
        return 0;
}

static int op_map(struct host *h, struct host_client *c, const uint64_t *a, bool map) {
        struct hsrv *v;
        int slot, r;
        unsigned t;

        r = check_target(h, c, a[0], &slot);
        if (r < 0)
                return r;
        /* Xen's order: reversed range, then the server, then the type. */
        if (a[3] > a[4])
                return -EINVAL;
        r = check_server(h, c, a[0], a[1], &slot);
        if (r < 0)
                return r;
        v = &h->dom[slot]->srv[a[1]];
        if (a[2] == XEN_DMOP_IO_RANGE_PORT)
                t = 0;
        else if (a[2] == XEN_DMOP_IO_RANGE_MEMORY)
                t = 1;
        else if (a[2] == XEN_DMOP_IO_RANGE_PCI)
                t = 2;                  /* kept, but the guests issue no config cycles */
        else
                return -EINVAL;
        if (!v->r[t]) {
                v->r[t] = calloc(XS_MAX_RANGES, sizeof(struct xs_range));
                if (!v->r[t])
                        return -ENOMEM;
        }
        if (map) {
                if (range_overlaps(v, t, a[3], a[4]))
                        return -EEXIST;
                r = range_insert(v, t, a[3], a[4]);
        } else {
                r = range_remove(v, t, a[3], a[4]);
        }
        if (r < 0)
                return r;
        pub_begin(h, (uint32_t)slot);
        dom_publish_server(h, (uint32_t)slot, (unsigned)a[1]);
        pub_end(h, (uint32_t)slot);
        return 0;
}

static int op_set_state(struct host *h, struct host_client *c, const uint64_t *a) {
        struct hdom *d;
        struct hsrv *v;
        int slot, r;

        r = check_server(h, c, a[0], a[1], &slot);
        if (r < 0)
                return r;
        d = h->dom[slot];
        v = &d->srv[a[1]];
        if (a[2]) {
                /* Enabling writes each vCPU's vp_eport into its slot of the ioreq page. */
                ioreq_t *page = xs_shm_page(h->shm, v->page);
                for (unsigned vc = 0; vc < d->nr_vcpus; vc++)
                        page[vc].vp_eport = v->vport[vc];
                v->state = XS_SRV_ENABLED;
        } else {
                v->state = XS_SRV_DISABLED;
        }
        pub_begin(h, (uint32_t)slot);
        dom_publish_server(h, (uint32_t)slot, (unsigned)a[1]);
        pub_end(h, (uint32_t)slot);
        return 0;
}

static int op_irq(struct host *h, struct host_client *c, const uint64_t *a) {
        struct hdom *d;
        int slot, r = check_target(h, c, a[0], &slot);
        if (r < 0)
                return r;
        d = h->dom[slot];
        /* The argument checks Xen's dm_op handlers make. */
        switch (a[1]) {
        case 1: /* set_irq_level */
                if (a[3] > 1)
                        return -EINVAL;
                break;
        case 2: /* set_isa_irq_level */
                if (a[2] > 15 || a[3] > 1)
                        return -EINVAL;
                break;
        case 3: /* set_pci_intx_level: only segment 0; device < 32, INTA..INTD */
                if ((a[2] >> 24) != 0 || ((a[2] >> 8) & 0xff) > 31 || (a[2] & 0xff) > 3 ||
                    a[3] > 1)
                        return -EINVAL;
                break;
        case 4: /* inject_msi */
                break;
        default:
                return -EINVAL;
        }
        if (!d->irq) {
                d->irq = calloc(XS_IRQ_LOG, sizeof(*d->irq));
                if (!d->irq)
                        return -ENOMEM;
        }
        unsigned i = (d->irq_start + d->irq_count) % XS_IRQ_LOG;
        if (d->irq_count == XS_IRQ_LOG)
                d->irq_start = (d->irq_start + 1) % XS_IRQ_LOG;
        else
                d->irq_count++;
        d->irq[i] = (struct irqent){ (uint32_t)a[1], a[2], a[3], ++h->irq_seq };
        return 0;
}

/* ---- foreignmemory ---- */

static int op_fm_map(struct host *h, struct host_client *c, const uint64_t *a, uint64_t *val) {
        struct host_map m = { 0 }, *nm;
        struct hsrv *v;
        int slot, r;

        r = check_target(h, c, a[0], &slot);
        if (r < 0)
                return r;
        if (a[1] != XENMEM_resource_ioreq_server)
                return -EOPNOTSUPP;
        if (a[2] >= XS_MAX_SERVERS || h->dom[slot]->srv[a[2]].state == XS_SRV_NONE)
                return -ENOENT;
        if (a[4] < 1 || a[4] > 2)
                return -EINVAL;
        v = &h->dom[slot]->srv[a[2]];
        for (uint64_t f = a[3]; f < a[3] + a[4]; f++) {
                if (f == XENMEM_resource_ioreq_server_frame_bufioreq) {
                        if (!v->bufpage)
                                return -ENOENT;
                        m.page[m.nr++] = v->bufpage;
                } else if (f == XENMEM_resource_ioreq_server_frame_ioreq(0)) {
                        m.page[m.nr++] = v->page;
                } else {
                        return -EINVAL;
                }
        }
        nm = realloc(c->maps, (c->nr_maps + 1) * sizeof(*c->maps));
        if (!nm)
                return -ENOMEM;
        c->maps = nm;
        m.id = ++h->next_map_id;
        m.slot = (uint32_t)slot;
        for (unsigned i = 0; i < m.nr; i++)
                h->page_refs[m.page[i]]++;
        h->dom[slot]->maprefs++;
        c->maps[c->nr_maps++] = m;
        val[0] = m.page[0];
        val[1] = m.nr > 1 ? m.page[1] : 0;
        val[2] = m.id;
        return 0;
}

static void map_drop(struct host *h, struct host_map *m) {
        struct hdom *d = h->dom[m->slot];
        for (unsigned i = 0; i < m->nr; i++)
                page_unref(h, m->page[i]);
        if (d && d->maprefs) {
                d->maprefs--;
                /* The last mapping of a destroyed domain's page lets the zombie go. */
                if (!d->maprefs && d->state == XS_DOM_DYING)
                        dom_free(h, m->slot);
        }
}

static int op_fm_unmap(struct host *h, struct host_client *c, uint64_t id) {
        for (unsigned i = 0; i < c->nr_maps; i++)
                if (c->maps[i].id == id) {
                        struct host_map m = c->maps[i];
                        c->maps[i] = c->maps[--c->nr_maps];
                        map_drop(h, &m);
                        return 0;
                }
        return -ENOENT;
}

/* ---- evtchn ---- */

static int op_evt_open(struct host *h, struct host_client *c, uint64_t *val, int *ret_fd) {
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
        efd = eventfd(0, EFD_CLOEXEC);
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

static void deliver(struct host *h, uint32_t lport) {
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

/*
 * On Linux a process's event channels are unbound by the time it has exited. Here the owner's
 * connection may be closed while xensimd has not processed the hang-up yet: do it now, so
 * that a restarted server can bind the port at once, as on Xen.
 */
static void reap_dead_owner(struct host *h, uint32_t lport) {
        uint32_t hid = h->port[lport].handle;
        struct host_client *owner;
        struct pollfd p;

        if (!hid || hid > XS_MAX_HANDLES || !(owner = h->handle[hid - 1].owner) || owner->fd < 0)
                return;
        p = (struct pollfd){ .fd = owner->fd, .events = POLLRDHUP };
        if (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
                host_client_release(h, owner);
}

static int op_evt_bind(struct host *h, struct host_client *c, const uint64_t *a, uint64_t *val) {
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
        slot = dom_find(h, (uint32_t)a[0]);
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
        if ((g->kind != XS_GPORT_IOREQ && g->kind != XS_GPORT_BUFIOREQ) || g->lport)
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
        atomic_store(&s->handle, (uint32_t)c->evt + 1);
        g->lport = l;
        pub_begin(h, (uint32_t)slot);
        dom_publish_gport(h, (uint32_t)slot, (uint32_t)a[1]);
        pub_end(h, (uint32_t)slot);
        /* Xen raises the new local port at once. */
        deliver(h, l);
        val[0] = l;
        return 0;
}

static int op_evt_unbind(struct host *h, struct host_client *c, uint64_t port) {
        if (c->evt < 0)
                return -EBADF;
        if (port == 0 || port >= XS_MAX_PORTS || h->port[port].handle != (uint32_t)c->evt + 1)
                return -ENOTCONN;
        port_free(h, (uint32_t)port);
        return 0;
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

static int op_dom_create(struct host *h, const struct xs_req *req, uint64_t *val) {
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
        struct xs_dom *s = sdom(h, slot);
        pub_begin(h, slot);
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
        dom_publish_header(h, slot);
        dom_publish_gport(h, slot, 1);
        dom_publish_gport(h, slot, 2);
        pub_end(h, slot);
        if (h->xs) {
                r = host_xs_domain_create(h->xs, d->domid, d->name, d->nr_vcpus);
                if (r < 0)
                        fprintf(stderr, "<4>xensimd: xenstore entries of domain %u: %s\n",
                                d->domid, strerror(-r));
        }
        vlog(h, "created domain %u (%s, %u vCPUs)", d->domid, d->name, d->nr_vcpus);
        val[0] = d->domid;
        return 0;
}

static int toolstack_check(struct host_client *c, uint64_t domid, struct host *h, int *ret_slot) {
        if (c->restricted)
                return -EPERM;
        if (domid > UINT16_MAX)
                return -ESRCH;
        *ret_slot = dom_find(h, (uint32_t)domid);
        return *ret_slot < 0 ? -ESRCH : 0;
}

/*
 * Unpausing a domain created paused: as Xen does shortly after boot, vCPU 0 sends one
 * INVALIDATE to every enabled server (highest id first) and is blocked until all of them
 * answered. xensimd fills the slots and notifies; the wait itself is recorded as the vCPU's
 * pending requests (struct xs_vpend), which its first access resumes, before the domain is
 * published as running.
 */
static int op_dom_unpause(struct host *h, uint32_t slot, uint64_t *val) {
        struct hdom *d = h->dom[slot];
        struct xs_dom *s = sdom(h, slot);
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
                vp->w[n].prev = STATE_IOREQ_READY;
                n++;
        }
        vp->n = n;
        for (unsigned i = 0; i < n; i++) {
                uint32_t port = d->srv[vp->w[i].srv].vport[0];
                if (port < XS_MAX_GPORTS && d->gport[port].lport)
                        deliver(h, d->gport[port].lport);
        }
        d->paused = false;
        pub_begin(h, slot);
        dom_publish_header(h, slot);
        pub_end(h, slot);
        wake_vcpus(h, slot);
        val[0] = n;
        return 0;
}

/* ---- dispatch ---- */

void host_dispatch(struct host *h, struct host_client *c, const struct xs_req *req,
                   struct xs_rep *rep, int *ret_fd) {
        const uint64_t *a = req->a;
        uint64_t *val = rep->val;
        int slot = -1, r;

        *ret_fd = -1;
        memset(rep, 0, sizeof(*rep));
        rep->magic = XS_PROTO_MAGIC;
        rep->op = req->op;
        rep->seq = req->seq;

        switch (req->op) {
        case XS_OP_HELLO:
                val[0] = XS_SHM_SIZE;
                *ret_fd = h->shm_fd;
                r = 0;
                break;
        case XS_OP_DOM_CREATE:
                r = c->restricted ? -EPERM : op_dom_create(h, req, val);
                break;
        case XS_OP_DOM_DESTROY:
                r = toolstack_check(c, a[0], h, &slot);
                if (r == 0 && h->dom[slot]->state == XS_DOM_DYING)
                        r = -ESRCH;
                if (r == 0) {
                        vlog(h, "destroying domain %u", h->dom[slot]->domid);
                        dom_destroy(h, (uint32_t)slot);
                }
                break;
        case XS_OP_DOM_CRASH:
                r = toolstack_check(c, a[0], h, &slot);
                if (r == 0 && h->dom[slot]->state == XS_DOM_DYING)
                        r = -ESRCH;
                if (r == 0 && h->dom[slot]->state == XS_DOM_RUNNING) {
                        vlog(h, "domain %u crashed", h->dom[slot]->domid);
                        h->dom[slot]->state = XS_DOM_CRASHED;
                        pub_begin(h, (uint32_t)slot);
                        dom_publish_header(h, (uint32_t)slot);
                        pub_end(h, (uint32_t)slot);
                        wake_vcpus(h, (uint32_t)slot);
                        if (h->xs && host_xs_domain_shutdown(h->xs, h->dom[slot]->domid) < 0)
                                fprintf(stderr, "<4>xensimd: xenstored did not take the "
                                                "shutdown of domain %u\n", h->dom[slot]->domid);
                }
                break;
        case XS_OP_DOM_UNPAUSE:
                r = toolstack_check(c, a[0], h, &slot);
                if (r == 0 && h->dom[slot]->state != XS_DOM_RUNNING)
                        r = h->dom[slot]->state == XS_DOM_DYING ? -ESRCH : -EINVAL;
                if (r == 0)
                        r = op_dom_unpause(h, (uint32_t)slot, val);
                break;
        case XS_OP_DOM_SLOT:
                r = toolstack_check(c, a[0], h, &slot);
                if (r == 0) {
                        val[0] = (uint64_t)slot;
                        val[1] = h->dom[slot]->gen;
                }
                break;
        case XS_OP_WAKEFD:
                if (a[0] >= XS_MAX_HANDLES || !h->handle[a[0]].used) {
                        r = -ENOENT;
                        break;
                }
                val[0] = xs_shm_ring(h->shm, (uint32_t)a[0])->gen;
                *ret_fd = h->handle[a[0]].efd;
                r = 0;
                break;
        case XS_OP_IRQ_GET: {
                struct hdom *d;
                r = toolstack_check(c, a[0], h, &slot);
                if (r < 0)
                        break;
                d = h->dom[slot];
                if (a[1] >= d->irq_count) {
                        r = -ENOENT;
                        break;
                }
                struct irqent *e = &d->irq[(d->irq_start + a[1]) % XS_IRQ_LOG];
                val[0] = e->kind;
                val[1] = e->a;
                val[2] = e->b;
                val[3] = e->seq;
                break;
        }
        case XS_OP_DM_RESTRICT:
        case XS_OP_FM_RESTRICT:
                /* privcmd: restricting again to the same domain is fine, to another EINVAL. */
                if (a[0] > UINT16_MAX)
                        r = -EINVAL;
                else if (c->restricted && c->rdomid != a[0])
                        r = -EINVAL;
                else {
                        c->restricted = true;
                        c->rdomid = (uint32_t)a[0];
                        r = 0;
                }
                break;
        case XS_OP_DM_CREATE:
                r = op_server_create(h, c, a, val);
                break;
        case XS_OP_DM_INFO:
                r = check_server(h, c, a[0], a[1], &slot);
                if (r == 0 && a[2])
                        r = -EPERM;     /* legacy gfn mappings are refused, as 4.17 does */
                if (r == 0)
                        val[0] = h->dom[slot]->srv[a[1]].bufport;
                break;
        case XS_OP_DM_DESTROY:
                r = check_server(h, c, a[0], a[1], &slot);
                if (r == 0) {
                        server_destroy(h, (uint32_t)slot, (unsigned)a[1]);
                        vlog(h, "dom%u: destroyed ioreq server %u", h->dom[slot]->domid,
                             (unsigned)a[1]);
                }
                break;
        case XS_OP_DM_MAP:
        case XS_OP_DM_UNMAP:
                r = op_map(h, c, a, req->op == XS_OP_DM_MAP);
                break;
        case XS_OP_DM_STATE:
                r = op_set_state(h, c, a);
                break;
        case XS_OP_DM_NR_VCPUS:
                r = check_target(h, c, a[0], &slot);
                if (r == 0)
                        val[0] = h->dom[slot]->nr_vcpus;
                break;
        case XS_OP_DM_IRQ:
                r = op_irq(h, c, a);
                break;
        case XS_OP_DM_CHECK:
                r = check_target(h, c, a[0], &slot);
                break;
        case XS_OP_FM_MAP:
                r = op_fm_map(h, c, a, val);
                break;
        case XS_OP_FM_UNMAP:
                r = op_fm_unmap(h, c, a[0]);
                break;
        case XS_OP_FM_SIZE:
                r = check_target(h, c, a[0], &slot);
                if (r == 0 && a[1] != XENMEM_resource_ioreq_server)
                        r = -EOPNOTSUPP;
                if (r == 0)
                        val[0] = 2;     /* the buffered and the synchronous ioreq page */
                break;
        case XS_OP_EVT_OPEN:
                r = op_evt_open(h, c, val, ret_fd);
                break;
        case XS_OP_EVT_RESTRICT:
                /* Linux's evtchn device refuses any second restriction. */
                if (c->restricted)
                        r = -EACCES;
                else if (a[0] > UINT16_MAX)
                        r = -EINVAL;
                else {
                        c->restricted = true;
                        c->rdomid = (uint32_t)a[0];
                        r = 0;
                }
                break;
        case XS_OP_EVT_BIND:
                r = op_evt_bind(h, c, a, val);
                break;
        case XS_OP_EVT_UNBIND:
                r = op_evt_unbind(h, c, a[0]);
                break;
        case XS_OP_EVT_CHECK:
                r = c->restricted && a[0] != c->rdomid ? -EACCES : 0;
                break;
        default:
                r = -EOPNOTSUPP;
                break;
        }
        rep->err = -r;
}

/* ---- lifetime ---- */

void host_client_init(struct host_client *c, int fd) {
        memset(c, 0, sizeof(*c));
        c->fd = fd;
        c->evt = -1;
}

void host_client_release(struct host *h, struct host_client *c) {
        if (c->evt >= 0) {
                uint32_t hid = (uint32_t)c->evt + 1;
                for (uint32_t l = 1; l < XS_MAX_PORTS; l++)
                        if (h->port[l].handle == hid)
                                port_free(h, l);
                close(h->handle[c->evt].efd);
                h->handle[c->evt] = (struct hhandle){ .used = false, .efd = -1, .owner = NULL };
                atomic_fetch_add(&h->hdr->handle_gen[c->evt], 1);
                c->evt = -1;
        }
        while (c->nr_maps) {
                struct host_map m = c->maps[--c->nr_maps];
                map_drop(h, &m);
        }
        free(c->maps);
        c->maps = NULL;
}

void host_set_xenstore(struct host *h, struct xs_handle *xs) {
        h->xs = xs;
}

int host_xenstore_dom0(struct host *h) {
        return h->xs ? host_xs_dom0(h->xs) : 0;
}

int host_shm_fd(struct host *h) {
        return h->shm_fd;
}

int host_new(struct host **ret, bool verbose) {
        struct host *h;
        int r;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->verbose = verbose;
        h->shm = MAP_FAILED;
        h->next_domid = 1;
        h->shm_fd = -1;
        for (unsigned i = 0; i < XS_MAX_HANDLES; i++)
                h->handle[i].efd = -1;
        h->shm_fd = memfd_create("xensim-shm", MFD_CLOEXEC);
        if (h->shm_fd < 0) {
                r = -errno;
                goto fail;
        }
        if (ftruncate(h->shm_fd, (off_t)XS_SHM_SIZE) < 0) {
                r = -errno;
                goto fail;
        }
        h->shm = mmap(NULL, XS_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, h->shm_fd, 0);
        if (h->shm == MAP_FAILED) {
                r = -errno;
                goto fail;
        }
        h->hdr = h->shm;
        h->hdr->magic = XS_SHM_MAGIC;
        h->hdr->version = XS_PROTO_VERSION;
        h->hdr->size = XS_SHM_SIZE;
        h->hdr->dom_off = XS_OFF_DOMS;
        h->hdr->port_off = XS_OFF_PORTS;
        h->hdr->ring_off = XS_OFF_RINGS;
        h->hdr->page_off = XS_OFF_PAGES;
        h->hdr->max_doms = XS_MAX_DOMS;
        h->hdr->max_ports = XS_MAX_PORTS;
        h->hdr->max_handles = XS_MAX_HANDLES;
        h->hdr->max_pages = XS_MAX_PAGES;
        for (uint32_t i = 0; i < XS_MAX_DOMS; i++)
                sdom(h, i)->domid = UINT32_MAX;
        /* Page 0 stands for "no page"; hand out the low pages first. */
        for (uint32_t p = XS_MAX_PAGES - 1; p >= 1; p--)
                h->free_pages[h->nr_free_pages++] = p;
        *ret = h;
        return 0;
fail:
        host_free(h);
        return r;
}

struct host *host_free(struct host *h) {
        if (!h)
                return NULL;
        for (unsigned i = 0; i < XS_MAX_DOMS; i++)
                if (h->dom[i]) {
                        free(h->dom[i]->irq);
                        for (unsigned s = 0; s < XS_MAX_SERVERS; s++)
                                for (unsigned t = 0; t < 3; t++)
                                        free(h->dom[i]->srv[s].r[t]);
                        free(h->dom[i]);
                }
        for (unsigned i = 0; i < XS_MAX_HANDLES; i++)
                if (h->handle[i].used)
                        close(h->handle[i].efd);
        if (h->shm != MAP_FAILED)
                munmap(h->shm, XS_SHM_SIZE);
        if (h->shm_fd >= 0)
                close(h->shm_fd);
        free(h);
        return NULL;
}
