/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * host.c - the simulated Xen 4.17 host: its lifetime, its clients, and the control operations
 * (host_dispatch), the top layer over host-intro.c → host-ioreq.c → host-evtchn.c →
 * host-dom.c → host-pub.c (each calls only the layers below it; host-xs.c, the toolstack's
 * xenstore side, is a leaf).
 * The toolstack's operations that span the layers live here: a domain's destruction (its
 * servers, its peers' ports, its xenstore entries, then its slot or a zombie), its crash,
 * unpause and poweroff.
 *
 * Everything here runs in xensimd's single thread. The authoritative state is private
 * (struct host); the shm is a published copy for the clients' fast paths, written under the
 * per-domain seqlock. Nothing read back from the shm is trusted.
 */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <xen/memory.h>

#include "host-internal.h"

/* ---- domains ---- */

/*
 * Destroy a domain: its servers go, dom0 ports bound to it become unbound, its xenstore
 * entries go and it is released; it stays a zombie (dying) while a dom0 process maps one of
 * its pages.
 */
static void dom_destroy(struct host *h, uint32_t slot) {
        struct hdom *d = h->dom[slot];
        for (unsigned id = 0; id < XS_MAX_SERVERS; id++)
                if (d->srv[id].state != XS_SRV_NONE)
                        host_ioreq_server_destroy(h, slot, id);
        for (uint32_t l = 1; l < XS_MAX_PORTS; l++)
                if (h->port[l].rslot == slot + 1)
                        host_evt_unbind_peer(h, l);
        if (h->xs)
                host_xs_domain_destroy(h->xs, d->domid);
        if (d->maprefs) {
                d->state = XS_DOM_DYING;
                host_dom_publish(h, slot);
                return;
        }
        host_dom_free(h, slot);
}

/* Xen's domain_crash(): its vCPUs stop, xenstored sees a shutdown; it stays until destroyed. */
static void dom_crash(struct host *h, uint32_t slot) {
        struct hdom *d = h->dom[slot];
        host_log(h, "domain %u crashed", d->domid);
        d->state = XS_DOM_CRASHED;
        host_dom_publish(h, slot);
        if (h->xs && host_xs_domain_shutdown(h->xs, d->domid) < 0)
                fprintf(stderr, "<4>xensimd: xenstored did not take the shutdown of domain %u\n",
                        d->domid);
}

/* Unpause a domain created paused: the boot INVALIDATE, then its vCPUs run. */
static int dom_unpause(struct host *h, uint32_t slot, uint64_t *val) {
        struct hdom *d = h->dom[slot];
        if (!d->paused)
                return -EINVAL;
        val[0] = host_ioreq_boot_invalidate(h, slot);
        d->paused = false;
        host_dom_publish(h, slot);
        return 0;
}

/* ---- poweroff ---- */

/* FACTS 9g: the nodes went about 0.33 s after the first @releaseDomain of a poweroff. */
#define POWEROFF_DESTROY_NS 330000000ull

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The guest powers off (on_poweroff=destroy): the domain shuts down at once (its vCPUs stop,
 * xenstored fires @releaseDomain with the nodes present and the domain introduced), and the
 * toolstack destroys it POWEROFF_DESTROY_NS later; the answer waits for that. A crashed domain
 * already shut down: it is destroyed at once.
 */
static int host_poweroff(struct host *h, struct host_client *c, uint32_t slot,
                         const struct xs_rep *rep) {
        struct hdom *d = h->dom[slot];
        uint64_t due = now_ns() + POWEROFF_DESTROY_NS;
        struct hpoweroff *n;

        if (d->state == XS_DOM_CRASHED) {
                dom_destroy(h, slot);
                return 0;
        }
        for (unsigned i = 0; i < h->nr_poweroff; i++)
                if (h->poweroff[i].slot == slot && h->poweroff[i].gen == d->gen)
                        due = h->poweroff[i].due_ns;
        n = realloc(h->poweroff, (h->nr_poweroff + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        h->poweroff = n;
        if (d->state == XS_DOM_RUNNING) {
                d->state = XS_DOM_SHUTDOWN;
                host_dom_publish(h, slot);
                if (h->xs && host_xs_domain_shutdown(h->xs, d->domid) < 0)
                        fprintf(stderr, "<4>xensimd: xenstored did not take the shutdown of "
                                        "domain %u\n", d->domid);
        }
        h->poweroff[h->nr_poweroff++] = (struct hpoweroff){ .slot = slot, .gen = d->gen,
                                                            .due_ns = due, .waiter = c,
                                                            .rep = *rep };
        c->deferred = true;
        return 0;
}

uint64_t host_next_timer(struct host *h) {
        uint64_t next = 0;
        for (unsigned i = 0; i < h->nr_poweroff; i++)
                if (!next || h->poweroff[i].due_ns < next)
                        next = h->poweroff[i].due_ns;
        return next;
}

void host_run_timers(struct host *h,
                     void (*answer)(struct host_client *c, const struct xs_rep *rep, void *ud),
                     void *ud) {
        uint64_t t = now_ns();

        /* One at a time: answering may release other clients (their entries stay valid). */
        for (unsigned i = 0; i < h->nr_poweroff;) {
                struct hpoweroff p = h->poweroff[i];
                struct hdom *d;

                if (p.due_ns > t) {
                        i++;
                        continue;
                }
                h->poweroff[i] = h->poweroff[--h->nr_poweroff];
                d = h->dom[p.slot];
                if (d && d->gen == p.gen && d->state == XS_DOM_SHUTDOWN) {
                        host_log(h, "destroying powered-off domain %u", d->domid);
                        dom_destroy(h, p.slot);
                }
                if (p.waiter) {
                        p.waiter->deferred = false;
                        answer(p.waiter, &p.rep, ud);
                }
                i = 0;
        }
}

/* ---- clients ---- */

/* What the client holds: its evtchn handle (and so its ports), its mappings. */
static void client_drop(struct host *h, struct host_client *c) {
        host_evt_close(h, c);
        while (c->nr_maps) {
                struct host_map m = c->maps[--c->nr_maps];
                host_ioreq_map_drop(h, &m);
        }
        free(c->maps);
        c->maps = NULL;
}

/*
 * On Linux a process's handles are released by the time it has exited; here xensimd notices a
 * closed connection when it gets round to it. Before an introspection answer, release what
 * every client whose peer hung up holds, so that the answer shows such a process holding
 * nothing. The client stays (gone) until xensimd frees it; its remaining requests are refused.
 */
static int clients_reap(struct host *h) {
        struct pollfd *p;
        unsigned n = 0, i = 0;

        for (struct host_client *c = h->clients; c; c = c->next)
                n += !c->gone && c->fd >= 0;
        if (!n)
                return 0;
        p = calloc(n, sizeof(*p));
        if (!p)
                return -ENOMEM;
        for (struct host_client *c = h->clients; c && i < n; c = c->next)
                if (!c->gone && c->fd >= 0)
                        p[i++] = (struct pollfd){ .fd = c->fd, .events = POLLRDHUP };
        if (poll(p, i, 0) > 0) {
                i = 0;
                for (struct host_client *c = h->clients; c && i < n; c = c->next) {
                        if (c->gone || c->fd < 0)
                                continue;
                        if (p[i++].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
                                client_drop(h, c);
                                c->gone = true;
                        }
                }
        }
        free(p);
        return 0;
}

/* Say what the connection is, once (an evtchn handle says so by opening). */
static int client_kind(struct host_client *c, uint64_t kind) {
        if (kind == XS_CLIENT_NONE || kind > XS_CLIENT_MAX)
                return -EINVAL;
        if (c->kind != XS_CLIENT_NONE)
                return c->kind == kind ? 0 : -EBUSY;
        c->kind = (uint8_t)kind;
        return 0;
}

/* Restrict the handle, by the rules of Linux's devices (the library applied them already). */
static int client_restrict(struct host_client *c, uint16_t op, uint64_t domid) {
        int r = xs_restrict_rule(op, c->restricted, c->rdomid, domid);

        if (r > 0) {
                c->restricted = true;
                c->rdomid = (uint32_t)domid;
        }
        return r < 0 ? r : 0;
}

/* ---- dispatch ---- */

/* The oldest entry of the domain's interrupt log with a seq above `after` (seqs ascend). */
static int irq_next(const struct hdom *d, uint64_t after, uint64_t *val) {
        unsigned lo = 0, hi = d->irq_count;
        const struct irqent *e;

        while (lo < hi) {
                unsigned mid = lo + (hi - lo) / 2;
                if (d->irq[(d->irq_start + mid) % XS_IRQ_LOG].seq > after)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        if (lo >= d->irq_count)
                return -ENOENT;
        e = &d->irq[(d->irq_start + lo) % XS_IRQ_LOG];
        val[0] = e->kind;
        val[1] = e->a;
        val[2] = e->b;
        val[3] = e->seq;
        return 0;
}

void host_dispatch(struct host *h, struct host_client *c, uint32_t pid, const struct xs_req *req,
                   struct xs_rep *rep, int *ret_fd) {
        const uint64_t *a = req->a;
        uint64_t *val = rep->val;
        int slot = -1, r;

        *ret_fd = -1;
        memset(rep, 0, sizeof(*rep));
        rep->magic = XS_PROTO_MAGIC;
        rep->op = req->op;
        rep->seq = req->seq;
        c->last_pid = pid;
        if (c->gone) {
                r = -EPIPE;             /* its peer hung up: nobody reads the answer */
                goto out;
        }

        switch (req->op) {
        case XS_OP_HELLO:
                val[0] = XS_SHM_SIZE;
                *ret_fd = h->shm_fd;
                r = 0;
                break;
        case XS_OP_CLIENT_KIND:
                r = client_kind(c, a[0]);
                break;
        case XS_OP_INTRO_HANDLE:
        case XS_OP_INTRO_PORT:
        case XS_OP_INTRO_MAP:
        case XS_OP_INTRO_MAPPER:
        case XS_OP_INTRO_RAM:
                r = c->restricted ? -EPERM : clients_reap(h);
                if (r == 0)
                        r = host_intro_dispatch(h, req, val);
                break;
        case XS_OP_DOM_CREATE:
                r = c->restricted ? -EPERM : host_dom_create(h, req, val);
                break;
        case XS_OP_DOM_DESTROY:
                r = host_dom_check(c, a[0], h, &slot);
                if (r == 0 && h->dom[slot]->state == XS_DOM_DYING)
                        r = -ESRCH;
                if (r == 0) {
                        host_log(h, "destroying domain %u", h->dom[slot]->domid);
                        dom_destroy(h, (uint32_t)slot);
                }
                break;
        case XS_OP_DOM_CRASH:
                r = host_dom_check(c, a[0], h, &slot);
                if (r == 0 && h->dom[slot]->state == XS_DOM_DYING)
                        r = -ESRCH;
                if (r == 0 && h->dom[slot]->state == XS_DOM_RUNNING)
                        dom_crash(h, (uint32_t)slot);
                break;
        case XS_OP_DOM_POWEROFF:
                r = host_dom_check(c, a[0], h, &slot);
                if (r == 0 && h->dom[slot]->state == XS_DOM_DYING)
                        r = -ESRCH;
                if (r == 0) {
                        host_log(h, "domain %u powers off", h->dom[slot]->domid);
                        r = host_poweroff(h, c, (uint32_t)slot, rep);
                }
                break;
        case XS_OP_DOM_UNPAUSE:
                r = host_dom_check(c, a[0], h, &slot);
                if (r == 0 && h->dom[slot]->state != XS_DOM_RUNNING)
                        r = h->dom[slot]->state == XS_DOM_DYING ? -ESRCH : -EINVAL;
                if (r == 0)
                        r = dom_unpause(h, (uint32_t)slot, val);
                break;
        case XS_OP_DOM_SLOT:
                r = host_dom_check(c, a[0], h, &slot);
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
                r = host_dom_check(c, a[0], h, &slot);
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
        case XS_OP_IRQ_NEXT:
                r = host_dom_check(c, a[0], h, &slot);
                if (r == 0)
                        r = irq_next(h->dom[slot], a[1], val);
                break;
        case XS_OP_RAM_FD:
                r = host_mem_fd(h, c, a[0], val, ret_fd);
                break;
        case XS_OP_RAM_POPULATE:
                r = host_mem_populate(h, c, a);
                break;
        case XS_OP_FM_MAP_RAM:
                r = host_mem_fm_map(h, c, pid, a, val, ret_fd);
                break;
        case XS_OP_DM_RESTRICT:
        case XS_OP_FM_RESTRICT:
        case XS_OP_EVT_RESTRICT:
                r = client_restrict(c, req->op, a[0]);
                break;
        case XS_OP_DM_CREATE:
                r = host_ioreq_create(h, c, a, val);
                break;
        case XS_OP_DM_INFO:
                r = host_ioreq_check_server(h, c, a[0], a[1], &slot);
                if (r == 0 && a[2])
                        r = -EPERM;     /* legacy gfn mappings are refused, as 4.17 does */
                if (r == 0)
                        val[0] = h->dom[slot]->srv[a[1]].bufport;
                break;
        case XS_OP_DM_DESTROY:
                r = host_ioreq_check_server(h, c, a[0], a[1], &slot);
                if (r == 0) {
                        host_ioreq_server_destroy(h, (uint32_t)slot, (unsigned)a[1]);
                        host_log(h, "dom%u: destroyed ioreq server %u", h->dom[slot]->domid,
                             (unsigned)a[1]);
                }
                break;
        case XS_OP_DM_MAP:
        case XS_OP_DM_UNMAP:
                r = host_ioreq_map(h, c, a, req->op == XS_OP_DM_MAP);
                break;
        case XS_OP_DM_STATE:
                r = host_ioreq_set_state(h, c, a);
                break;
        case XS_OP_DM_NR_VCPUS:
                r = host_ioreq_check_target(h, c, a[0], &slot);
                if (r == 0)
                        val[0] = h->dom[slot]->nr_vcpus;
                break;
        case XS_OP_DM_IRQ:
                r = host_ioreq_irq(h, c, a);
                break;
        case XS_OP_DM_CHECK:
                r = host_ioreq_check_target(h, c, a[0], &slot);
                break;
        case XS_OP_FM_MAP:
                r = host_ioreq_fm_map(h, c, pid, a, val);
                host_intro_map_result(h, c, pid, r);
                break;
        case XS_OP_FM_UNMAP:
                r = host_ioreq_fm_unmap(h, c, a[0]);
                break;
        case XS_OP_FM_SIZE:
                r = host_ioreq_check_target(h, c, a[0], &slot);
                if (r == 0 && a[1] != XENMEM_resource_ioreq_server)
                        r = -EOPNOTSUPP;
                if (r == 0)
                        val[0] = 2;     /* the buffered and the synchronous ioreq page */
                break;
        case XS_OP_EVT_OPEN:
                r = host_evt_open(h, c, val, ret_fd);
                if (r == 0 && c->kind == XS_CLIENT_NONE)
                        c->kind = XS_CLIENT_EVTCHN;
                break;
        case XS_OP_EVT_BIND:
                r = host_evt_bind(h, c, a, val);
                break;
        case XS_OP_EVT_UNBIND:
                r = host_evt_unbind(h, c, a[0]);
                break;
        case XS_OP_EVT_CHECK:
                r = c->restricted && a[0] != c->rdomid ? -EACCES : 0;
                break;
        case XS_OP_GEVT_ALLOC:
                r = host_evt_guest_alloc(h, c, a, val);
                break;
        case XS_OP_GEVT_CLOSE:
                r = host_evt_guest_close(h, c, a);
                break;
        default:
                r = -EOPNOTSUPP;
                break;
        }
out:
        rep->err = -r;
}

/* ---- lifetime ---- */

void host_client_init(struct host *h, struct host_client *c, int fd, uint32_t pid) {
        memset(c, 0, sizeof(*c));
        c->fd = fd;
        c->evt = -1;
        c->id = ++h->next_client_id;
        c->pid = pid;
        c->prev = h->clients_tail;
        if (h->clients_tail)
                h->clients_tail->next = c;
        else
                h->clients = c;
        h->clients_tail = c;
}

void host_client_release(struct host *h, struct host_client *c) {
        client_drop(h, c);
        for (unsigned i = 0; c->deferred && i < h->nr_poweroff; i++)
                if (h->poweroff[i].waiter == c)
                        h->poweroff[i].waiter = NULL;
        c->deferred = false;
        if (c->prev)
                c->prev->next = c->next;
        else if (h->clients == c)
                h->clients = c->next;
        if (c->next)
                c->next->prev = c->prev;
        else if (h->clients_tail == c)
                h->clients_tail = c->prev;
        c->prev = c->next = NULL;
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
                host_sdom(h, i)->domid = UINT32_MAX;
        /* Page 0 stands for "no page"; hand out the low pages first. */
        for (uint32_t p = 1; p < XS_MAX_PAGES; p++)
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
        host_dom_free_all(h);
        for (unsigned i = 0; i < XS_MAX_HANDLES; i++)
                if (h->handle[i].used)
                        close(h->handle[i].efd);
        if (h->shm != MAP_FAILED)
                munmap(h->shm, XS_SHM_SIZE);
        if (h->shm_fd >= 0)
                close(h->shm_fd);
        free(h->poweroff);
        free(h);
        return NULL;
}

