/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * host-ioreq.c - ioreq servers with Xen 4.17's rules (layer 3, over host-evtchn.c,
 * host-dom.c and host-pub.c): ids, ranges kept as rangesets, state under the domain's pause,
 * the pool of ioreq pages and their foreignmemory mappings, the boot INVALIDATE of a domain
 * created paused, the interrupt log.
 */
#include "autoconfig.h"

#include <errno.h>
#include <linux/futex.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <xen/hvm/dm_op.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>

#include "host-internal.h"

/* ---- pages ---- */

static int page_alloc(struct host *h, uint32_t slot, uint32_t *ret) {
        uint32_t p;
        if (!h->nr_free_pages)
                return -ENOMEM;
        /* Oldest freed first: a page is not handed out again at once. */
        p = h->free_pages[h->free_head];
        h->free_head = (h->free_head + 1) % XS_MAX_PAGES;
        h->nr_free_pages--;
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
                h->free_pages[(h->free_head + h->nr_free_pages++) % XS_MAX_PAGES] = p;
}

/* ---- servers ---- */

/*
 * Xen's domain_pause(): no vCPU is left between choosing a server and sending its request,
 * or in the middle of a look at its slots. A vCPU whose driver died or stays stopped in
 * there for PAUSE_WAIT_MS is passed over, so that xensimd never hangs on a guest driver.
 */
#define PAUSE_WAIT_MS 2000

static void dom_pause(struct host *h, uint32_t slot) {
        struct xs_dom *sd = host_sdom(h, slot);
        struct timespec t0, t;

        atomic_store(&sd->pause, 1);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (unsigned vc = 0; vc < h->dom[slot]->nr_vcpus && vc < XS_MAX_VCPUS; vc++) {
                uint32_t pid;
                while ((pid = atomic_load(&sd->vcpu_crit[vc])) != 0) {
                        if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
                                atomic_compare_exchange_strong(&sd->vcpu_crit[vc], &pid, 0);
                                break;
                        }
                        clock_gettime(CLOCK_MONOTONIC, &t);
                        long ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
                        if (ms >= PAUSE_WAIT_MS) {
                                host_log(h, "dom%u: vCPU %u did not stop, pausing without it",
                                         h->dom[slot]->domid, vc);
                                break;
                        }
                        struct timespec ts = { 0, 10 * 1000000 };
                        syscall(SYS_futex, &sd->vcpu_crit[vc], FUTEX_WAIT, pid, &ts, NULL, 0);
                }
        }
}

static void dom_unpause(struct host *h, uint32_t slot) {
        struct xs_dom *sd = host_sdom(h, slot);
        atomic_store(&sd->pause, 0);
        syscall(SYS_futex, &sd->pause, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void host_ioreq_server_destroy(struct host *h, uint32_t slot, unsigned id) {
        struct hdom *d = h->dom[slot];
        struct hsrv *v = &d->srv[id];

        dom_pause(h, slot);
        host_pub_begin(h, slot);
        for (uint32_t p = 1; p < XS_MAX_GPORTS; p++) {
                struct hgport *g = &d->gport[p];
                if (!host_gport_of_server(g, id))
                        continue;
                /* Xen closes the guest side; the dom0 side stays allocated but unbound. */
                if (g->lport)
                        host_evt_unbind_peer(h, g->lport);
                memset(g, 0, sizeof(*g));
                host_pub_gport(h, slot, p);
        }
        page_unref(h, v->page);
        page_unref(h, v->bufpage);
        for (unsigned t = 0; t < 3; t++)
                free(v->r[t]);
        memset(v, 0, sizeof(*v));
        host_pub_server(h, slot, id);
        host_sdom(h, slot)->srv[id].gen = ++h->gen_counter;
        host_pub_end(h, slot);
        dom_unpause(h, slot);
}

/* Checks every devicemodel/foreignmemory operation makes on its target, in Xen's order. */
int host_ioreq_check_target(struct host *h, struct host_client *c, uint64_t domid, int *ret_slot) {
        int slot;
        if (domid > UINT16_MAX)
                return -EINVAL;
        if (c->restricted && domid != c->rdomid)
                return -EPERM;
        if (domid == 0)
                return -EPERM;          /* dom0 is the caller's own domain */
        slot = host_dom_find(h, (uint32_t)domid);
        if (slot < 0)
                return -ESRCH;
        *ret_slot = slot;
        return 0;
}

int host_ioreq_check_server(struct host *h, struct host_client *c, uint64_t domid, uint64_t id,
                        int *ret_slot) {
        int r = host_ioreq_check_target(h, c, domid, ret_slot);
        if (r < 0)
                return r;
        if (id >= XS_MAX_SERVERS || h->dom[*ret_slot]->srv[id].state == XS_SRV_NONE)
                return -ENOENT;
        return 0;
}

int host_ioreq_create(struct host *h, struct host_client *c, const uint64_t *a,
                            uint64_t *val) {
        struct hdom *d;
        struct hsrv *v;
        int slot, r;
        unsigned id;

        r = host_ioreq_check_target(h, c, a[0], &slot);
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
                r = host_dom_gport_alloc(d, XS_GPORT_IOREQ, (uint8_t)id, (uint16_t)vc, &p);
                if (r < 0)
                        goto fail;
                v->vport[vc] = p;
                if (vc == 0 && v->bufpage) {
                        r = host_dom_gport_alloc(d, XS_GPORT_BUFIOREQ, (uint8_t)id, UINT16_MAX,
                                        &v->bufport);
                        if (r < 0)
                                goto fail;
                }
        }
        v->state = XS_SRV_DISABLED;
        host_pub_begin(h, slot);
        for (uint32_t p = 1; p < XS_MAX_GPORTS; p++)
                if (host_gport_of_server(&d->gport[p], id))
                        host_pub_gport(h, slot, p);
        host_pub_server(h, slot, id);
        host_sdom(h, slot)->srv[id].gen = ++h->gen_counter;
        host_pub_end(h, slot);
        val[0] = id;
        host_log(h, "dom%u: created ioreq server %u", d->domid, id);
        return 0;
fail:
        for (uint32_t p = 1; p < XS_MAX_GPORTS; p++)
                if (host_gport_of_server(&d->gport[p], id))
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

int host_ioreq_map(struct host *h, struct host_client *c, const uint64_t *a, bool map) {
        struct hsrv *v;
        int slot, r;
        unsigned t;

        r = host_ioreq_check_target(h, c, a[0], &slot);
        if (r < 0)
                return r;
        /* Xen's order: reversed range, then the server, then the type. */
        if (a[3] > a[4])
                return -EINVAL;
        r = host_ioreq_check_server(h, c, a[0], a[1], &slot);
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
        host_pub_begin(h, (uint32_t)slot);
        host_pub_server(h, (uint32_t)slot, (unsigned)a[1]);
        host_pub_end(h, (uint32_t)slot);
        return 0;
}

int host_ioreq_set_state(struct host *h, struct host_client *c, const uint64_t *a) {
        struct hdom *d;
        struct hsrv *v;
        int slot, r;

        r = host_ioreq_check_server(h, c, a[0], a[1], &slot);
        if (r < 0)
                return r;
        d = h->dom[slot];
        v = &d->srv[a[1]];
        /* Xen changes a server's state with the domain paused. */
        dom_pause(h, (uint32_t)slot);
        if (a[2]) {
                /* Enabling writes each vCPU's vp_eport into its slot of the ioreq page. */
                ioreq_t *page = xs_shm_page(h->shm, v->page);
                for (unsigned vc = 0; vc < d->nr_vcpus; vc++)
                        page[vc].vp_eport = v->vport[vc];
                v->state = XS_SRV_ENABLED;
        } else {
                v->state = XS_SRV_DISABLED;
        }
        host_pub_begin(h, (uint32_t)slot);
        host_pub_server(h, (uint32_t)slot, (unsigned)a[1]);
        host_pub_end(h, (uint32_t)slot);
        dom_unpause(h, (uint32_t)slot);
        return 0;
}

#define HOST_IRQ_SPI_FIRST 32u           /* Arm: below are SGIs and PPIs */
#define HOST_IRQ_SPI_END 1020u           /* Arm: the GIC's last SPI is 1019 */

/*
 * Xen's hvm_inject_msi(): vector 0 stands for an emulated pirq ((addr >> 32) & ~0xff | dest),
 * ERANGE when that is not positive; otherwise vmsi_deliver() takes the fixed and the
 * lowest-priority delivery modes and refuses the others (EINVAL). The destination is not
 * matched against the vCPUs' APIC ids (lowest priority with no target is ESRCH on Xen).
 */
static int msi_check(uint64_t addr, uint64_t data) {
        uint32_t dest = ((uint32_t)addr >> 12) & 0xff;
        unsigned mode = (unsigned)(data >> 8) & 7;

        if ((data & 0xff) == 0)
                return (int32_t)(((addr >> 32) & 0xffffff00u) | dest) > 0 ? 0 : -ERANGE;
        return mode <= 1 ? 0 : -EINVAL;
}

int host_ioreq_irq(struct host *h, struct host_client *c, const uint64_t *a) {
        struct hdom *d;
        int slot, r = host_ioreq_check_target(h, c, a[0], &slot);
        if (r < 0)
                return r;
        d = h->dom[slot];
        /*
         * The argument checks Xen 4.17's dm_op handlers make. The levels arrive as the uint8_t
         * of the dm_op structures (the library truncates them, as libxendevicemodel does).
         */
        switch (a[1]) {
        case 1: /* set_irq_level (Arm's dm.c): SPIs only, below the GIC's 1020 */
                if (a[2] < HOST_IRQ_SPI_FIRST || a[2] >= HOST_IRQ_SPI_END || a[3] > 1)
                        return -EINVAL;
                break;
        case 2: /* set_isa_irq_level */
                if (a[2] > 15 || a[3] > 1)
                        return -EINVAL;
                break;
        case 3: /* set_pci_intx_level: segment 0, bus 0, device < 32, INTA..INTD */
                if ((a[2] >> 16) != 0 || ((a[2] >> 8) & 0xff) > 31 || (a[2] & 0xff) > 3 ||
                    a[3] > 1)
                        return -EINVAL;
                break;
        case 4: /* inject_msi: hvm_inject_msi() */
                r = msi_check(a[2], a[3]);
                if (r < 0)
                        return r;
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

int host_ioreq_fm_map(struct host *h, struct host_client *c, uint32_t pid, const uint64_t *a,
                      uint64_t *val) {
        struct host_map m = { .pid = pid }, *nm;
        struct hsrv *v;
        int slot, r;

        r = host_ioreq_check_target(h, c, a[0], &slot);
        if (r < 0)
                return r;
        if (a[1] != XENMEM_resource_ioreq_server)
                return -EOPNOTSUPP;
        if (a[2] >= XS_MAX_SERVERS || h->dom[slot]->srv[a[2]].state == XS_SRV_NONE)
                return -ENOENT;
        if (a[4] < 1 || a[4] > 2 || a[3] > XENMEM_resource_ioreq_server_frame_ioreq(0))
                return -EINVAL;         /* frames past the ioreq page (also: no wrap below) */
        v = &h->dom[slot]->srv[a[2]];
        m.srv = (uint8_t)a[2];
        for (uint64_t f = a[3]; f < a[3] + a[4]; f++) {
                if (f == XENMEM_resource_ioreq_server_frame_bufioreq) {
                        if (!v->bufpage)
                                return -ENOENT;
                        m.page[m.nr++] = v->bufpage;
                        m.frames |= HOST_MAP_BUFIOREQ;
                } else if (f == XENMEM_resource_ioreq_server_frame_ioreq(0)) {
                        m.page[m.nr++] = v->page;
                        m.frames |= HOST_MAP_IOREQ;
                } else {
                        return -EINVAL;
                }
        }
        if (c->nr_maps >= HOST_MAX_MAPS)
                return -ENOMEM;
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

void host_ioreq_map_drop(struct host *h, struct host_map *m) {
        struct hdom *d = h->dom[m->slot];
        for (unsigned i = 0; i < m->nr; i++)
                page_unref(h, m->page[i]);
        if (d && d->maprefs) {
                d->maprefs--;
                /* The last mapping of a destroyed domain's page lets the zombie go. */
                if (!d->maprefs && d->state == XS_DOM_DYING)
                        host_dom_free(h, m->slot);
        }
}

int host_ioreq_fm_unmap(struct host *h, struct host_client *c, uint64_t id) {
        for (unsigned i = 0; i < c->nr_maps; i++)
                if (c->maps[i].id == id) {
                        struct host_map m = c->maps[i];
                        c->maps[i] = c->maps[--c->nr_maps];
                        host_ioreq_map_drop(h, &m);
                        return 0;
                }
        return -ENOENT;
}

/* ---- boot ---- */

/*
 * Unpausing a domain created paused: as Xen does shortly after boot, vCPU 0 sends one
 * INVALIDATE to every enabled server (highest id first) and is blocked until all of them
 * answered. xensimd fills the slots and notifies; the wait itself is recorded as the vCPU's
 * pending requests (struct xs_vpend), which its first access resumes; the caller then
 * publishes the domain as running. Returns the number of servers.
 */
unsigned host_ioreq_boot_invalidate(struct host *h, uint32_t slot) {
        struct hdom *d = h->dom[slot];
        struct xs_dom *s = host_sdom(h, slot);
        struct xs_vpend *vp = &s->vpend[0];
        unsigned n = 0;

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
        return n;
}

