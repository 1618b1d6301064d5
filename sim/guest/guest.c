/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * guest.c - libxensim-guest: the toolstack and the guest vCPUs of xensim (xensim-guest.h).
 *
 * A vCPU access follows Xen 4.17's ioreq_send()/wait_for_io(): fill the slot, write barrier,
 * state IOREQ_READY, notify the server's port, look at the slot once; then sleep until an event
 * reaches the vCPU and look again, each look a fresh run of wait_for_io() as on x86 (IORESP_READY
 * takes the answer, NONE means "no answer", all-ones, READY and INPROCESS keep waiting, any other
 * state crashes the domain).
 */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "guest-internal.h"
#include "xensim-client.h"
#include "xensim-guest.h"

#define SLOT_BITS_OFF 30                /* byte holding state:4 data_is_ptr:1 dir:1 df:1 */
#define SLOT_TYPE_OFF 31
#define NR_DCACHE 64

_Static_assert(sizeof(ioreq_t) == 32, "ioreq_t layout");

struct wake {
        uint32_t gen;
        int fd;
};

struct xsg {
        int fd;
        pthread_mutex_t lock;           /* the socket, the wake-fd cache updates */
        struct xsc_host *host;          /* the host's shm, shared with other handles */
        void *shm;
        struct xs_shm_hdr *hdr;
        struct wake wake[XS_MAX_HANDLES];
        int *retired;                   /* replaced wake fds, closed at xsg_close */
        size_t nr_retired;
        struct {
                _Atomic uint32_t domid;
                _Atomic uint32_t slot;
        } dcache[NR_DCACHE];
        struct guest_ram *ram;          /* guest-ram.c */
};

/* ---- time ---- */

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- connection ---- */

int xsg_open(xsg **ret, const char *dir) {
        xsg *g = calloc(1, sizeof(*g));
        int r;

        if (!g)
                return -ENOMEM;
        pthread_mutex_init(&g->lock, NULL);
        for (unsigned i = 0; i < XS_MAX_HANDLES; i++)
                g->wake[i].fd = -1;
        for (unsigned i = 0; i < NR_DCACHE; i++)
                g->dcache[i].domid = UINT32_MAX;
        r = xsc_connect(dir, &g->fd);
        if (r < 0) {
                g->fd = -1;
                goto fail;
        }
        r = guest_op(g, XS_OP_CLIENT_KIND, (const uint64_t[]){ XS_CLIENT_GUEST }, 1, NULL);
        if (r < 0)
                goto fail;
        r = xsc_host_get(g->fd, &g->host);
        if (r < 0)
                goto fail;
        g->shm = g->host->shm;
        g->hdr = g->shm;
        r = guest_ram_new(&g->ram);
        if (r < 0)
                goto fail;
        *ret = g;
        return 0;
fail:
        xsg_close(g);
        return r;
}

xsg *xsg_close(xsg *g) {
        if (!g)
                return NULL;
        for (unsigned i = 0; i < XS_MAX_HANDLES; i++)
                if (g->wake[i].fd >= 0)
                        close(g->wake[i].fd);
        for (size_t i = 0; i < g->nr_retired; i++)
                close(g->retired[i]);
        free(g->retired);
        guest_ram_free(g->ram);
        if (g->fd >= 0)
                close(g->fd);
        xsc_host_put(g->host);
        pthread_mutex_destroy(&g->lock);
        free(g);
        return NULL;
}

int guest_op(xsg *g, uint16_t o, const uint64_t *a, unsigned na, uint64_t *val) {
        int r;
        pthread_mutex_lock(&g->lock);
        r = xsc_op(g->fd, o, a, na, val);
        pthread_mutex_unlock(&g->lock);
        return r;
}

int guest_op_fd(xsg *g, uint16_t o, const uint64_t *a, unsigned na, uint64_t *val,
                int *ret_fd) {
        struct xs_req req = { .op = o };
        struct xs_rep rep;
        int fd = -1, r;

        for (unsigned i = 0; i < na && i < 6; i++)
                req.a[i] = a[i];
        pthread_mutex_lock(&g->lock);
        r = xsc_call(g->fd, &req, &rep, &fd, 1);
        pthread_mutex_unlock(&g->lock);
        if (r == 0 && rep.err)
                r = -rep.err;
        if (r == 0 && fd < 0)
                r = -EPROTO;
        if (r < 0) {
                if (fd >= 0)
                        close(fd);
                return r;
        }
        if (val)
                memcpy(val, rep.val, sizeof(rep.val));
        *ret_fd = fd;
        return 0;
}

struct guest_ram *guest_ram_of(xsg *g) {
        return g->ram;
}

/* The eventfd that wakes evtchn handle h, fetched once per handle generation. */
static int wake_fd(xsg *g, uint32_t h) {
        uint32_t gen = atomic_load_explicit(&g->hdr->handle_gen[h], memory_order_acquire);
        struct xs_req req = { .op = XS_OP_WAKEFD, .a = { h } };
        struct xs_rep rep;
        int fd = -1, r;

        if (g->wake[h].fd >= 0 && g->wake[h].gen == gen)
                return g->wake[h].fd;
        pthread_mutex_lock(&g->lock);
        if (g->wake[h].fd >= 0 && g->wake[h].gen == gen) {
                fd = g->wake[h].fd;
                goto out;
        }
        r = xsc_call(g->fd, &req, &rep, &fd, 1);
        if (r < 0 || rep.err || rep.nfds != 1) {
                if (fd >= 0)
                        close(fd);
                fd = -1;
                goto out;
        }
        if (g->wake[h].fd >= 0) {
                /* Another thread may still be writing to the old one: retire it. */
                int *n = realloc(g->retired, (g->nr_retired + 1) * sizeof(int));
                if (!n) {
                        close(fd);
                        fd = -1;
                        goto out;
                }
                g->retired = n;
                g->retired[g->nr_retired++] = g->wake[h].fd;
        }
        g->wake[h].gen = (uint32_t)rep.val[0];
        g->wake[h].fd = fd;
out:
        pthread_mutex_unlock(&g->lock);
        return fd;
}

/* ---- shm reads ---- */

static uint32_t seq_begin(struct xs_dom *d) {
        uint32_t s;
        while ((s = atomic_load_explicit(&d->seq, memory_order_acquire)) & 1)
                sched_yield();
        return s;
}

static bool seq_retry(struct xs_dom *d, uint32_t s) {
        atomic_thread_fence(memory_order_acquire);
        return atomic_load_explicit(&d->seq, memory_order_relaxed) != s;
}

static int dom_lookup(xsg *g, uint32_t domid, uint32_t *ret_slot) {
        unsigned ci = domid % NR_DCACHE;
        uint32_t slot;

        if (domid == UINT32_MAX)
                return -ESRCH;
        if (atomic_load(&g->dcache[ci].domid) == domid) {
                slot = atomic_load(&g->dcache[ci].slot);
                struct xs_dom *d = xs_shm_dom(g->shm, slot);
                if (__atomic_load_n(&d->domid, __ATOMIC_ACQUIRE) == domid &&
                    __atomic_load_n(&d->state, __ATOMIC_RELAXED) != XS_DOM_FREE) {
                        *ret_slot = slot;
                        return 0;
                }
        }
        for (slot = 0; slot < XS_MAX_DOMS; slot++) {
                struct xs_dom *d = xs_shm_dom(g->shm, slot);
                if (__atomic_load_n(&d->domid, __ATOMIC_ACQUIRE) == domid &&
                    __atomic_load_n(&d->state, __ATOMIC_RELAXED) != XS_DOM_FREE) {
                        atomic_store(&g->dcache[ci].slot, slot);
                        atomic_store(&g->dcache[ci].domid, domid);
                        *ret_slot = slot;
                        return 0;
                }
        }
        return -ESRCH;
}

void *guest_shm(xsg *g) {
        return g->shm;
}

int guest_dom_slot(xsg *g, uint32_t domid, uint32_t *ret_slot) {
        return dom_lookup(g, domid, ret_slot);
}

static int state_err(uint32_t state) {
        if (state == XS_DOM_CRASHED || state == XS_DOM_SHUTDOWN)
                return -EHOSTDOWN;
        if (state != XS_DOM_RUNNING)
                return -ESRCH;
        return 0;
}

/* ---- toolstack ---- */

int xsg_domain_create(xsg *g, const char *name, unsigned nr_vcpus, uint32_t *ret_domid) {
        return xsg_domain_create2(g, name, nr_vcpus, 0, ret_domid);
}

int xsg_domain_unpause(xsg *g, uint32_t domid) {
        uint64_t v[4];
        int r = guest_op(g, XS_OP_DOM_UNPAUSE, (const uint64_t[]){ domid }, 1, v);
        return r < 0 ? r : (int)v[0];
}

int xsg_domain_create2(xsg *g, const char *name, unsigned nr_vcpus, unsigned flags,
                       uint32_t *ret_domid) {
        return xsg_domain_create_ram(g, name, nr_vcpus, flags, 0, ret_domid);
}

int xsg_domain_create_ram(xsg *g, const char *name, unsigned nr_vcpus, unsigned flags,
                          uint64_t ram_bytes, uint32_t *ret_domid) {
        struct xs_req req = { .op = XS_OP_DOM_CREATE,
                              .a = { nr_vcpus, flags & XSG_CREATE_PAUSED ? 1 : 0, ram_bytes } };
        struct xs_rep rep;
        int r;

        if (!name || strlen(name) > XSG_NAME_MAX)
                return -EINVAL;
        strncpy(req.name, name, sizeof(req.name) - 1);
        pthread_mutex_lock(&g->lock);
        r = xsc_call(g->fd, &req, &rep, NULL, 0);
        pthread_mutex_unlock(&g->lock);
        if (r < 0)
                return r;
        if (rep.err)
                return -rep.err;
        if (ret_domid)
                *ret_domid = (uint32_t)rep.val[0];
        return 0;
}

int xsg_domain_destroy(xsg *g, uint32_t domid) {
        return guest_op(g, XS_OP_DOM_DESTROY, (const uint64_t[]){ domid }, 1, NULL);
}

int xsg_domain_poweroff(xsg *g, uint32_t domid) {
        return guest_op(g, XS_OP_DOM_POWEROFF, (const uint64_t[]){ domid }, 1, NULL);
}

int xsg_domain_crash(xsg *g, uint32_t domid) {
        return guest_op(g, XS_OP_DOM_CRASH, (const uint64_t[]){ domid }, 1, NULL);
}

static void fill_info(struct xs_dom *d, struct xsg_domain_info *i) {
        memset(i, 0, sizeof(*i));
        i->domid = d->domid;
        i->nr_vcpus = d->nr_vcpus;
        i->state = (enum xsg_domain_state)d->state;
        i->paused = d->paused != 0;
        memcpy(i->name, d->name, sizeof(i->name) - 1);
        for (unsigned s = 0; s < XS_MAX_SERVERS; s++)
                if (d->srv[s].state != XS_SRV_NONE)
                        i->nr_servers++;
}

int xsg_domain_info(xsg *g, uint32_t domid, struct xsg_domain_info *ret) {
        uint32_t slot, s;
        struct xs_dom *d;
        int r = dom_lookup(g, domid, &slot);
        if (r < 0)
                return r;
        d = xs_shm_dom(g->shm, slot);
        do {
                s = seq_begin(d);
                if (d->domid != domid || d->state == XS_DOM_FREE)
                        return -ESRCH;
                fill_info(d, ret);
        } while (seq_retry(d, s));
        return 0;
}

static int cmp_info(const void *a, const void *b) {
        const struct xsg_domain_info *x = a, *y = b;
        return x->domid < y->domid ? -1 : x->domid > y->domid;
}

int xsg_domain_list(xsg *g, struct xsg_domain_info *buf, size_t n) {
        struct xsg_domain_info *all = calloc(XS_MAX_DOMS, sizeof(*all));
        size_t cnt = 0;

        if (!all)
                return -ENOMEM;
        for (uint32_t slot = 0; slot < XS_MAX_DOMS; slot++) {
                struct xs_dom *d = xs_shm_dom(g->shm, slot);
                uint32_t s;
                bool live;
                do {
                        s = seq_begin(d);
                        live = d->state != XS_DOM_FREE;
                        if (live)
                                fill_info(d, &all[cnt]);
                } while (seq_retry(d, s));
                if (live)
                        cnt++;
        }
        qsort(all, cnt, sizeof(*all), cmp_info);
        if (buf)
                memcpy(buf, all, (cnt < n ? cnt : n) * sizeof(*all));
        free(all);
        return (int)cnt;
}

int xsg_servers(xsg *g, uint32_t domid, struct xsg_server_info *buf, size_t n) {
        uint32_t slot, s;
        struct xs_dom *d;
        size_t cnt;
        int r = dom_lookup(g, domid, &slot);

        if (r < 0)
                return r;
        d = xs_shm_dom(g->shm, slot);
        do {
                s = seq_begin(d);
                cnt = 0;
                if (d->domid != domid || d->state == XS_DOM_FREE)
                        return -ESRCH;
                for (unsigned id = 0; id < XS_MAX_SERVERS; id++) {
                        struct xs_server *v = &d->srv[id];
                        if (v->state == XS_SRV_NONE)
                                continue;
                        if (cnt < n) {
                                struct xsg_server_info *i = &buf[cnt];
                                memset(i, 0, sizeof(*i));
                                i->id = id;
                                i->enabled = v->state == XS_SRV_ENABLED;
                                i->nr_ranges[0] = v->nr[0];
                                i->nr_ranges[1] = v->nr[1];
                                i->bufioreq_port = v->bufport;
                                for (unsigned c = 0; c < d->nr_vcpus && c < XS_MAX_VCPUS; c++) {
                                        i->vp_eport[c] = v->vport[c];
                                        if (v->vport[c] < XS_MAX_GPORTS)
                                                i->bound_port[c] = d->gport[v->vport[c]].lport;
                                }
                        }
                        cnt++;
                }
        } while (seq_retry(d, s));
        return (int)cnt;
}

int xsg_server_ranges(xsg *g, uint32_t domid, unsigned id, int space, struct xsg_range *buf,
                      size_t n) {
        uint32_t slot, s, nr;
        struct xs_dom *d;
        int r = dom_lookup(g, domid, &slot);

        if (r < 0)
                return r;
        if (id >= XS_MAX_SERVERS || (space != XSG_PIO && space != XSG_MMIO))
                return -EINVAL;
        d = xs_shm_dom(g->shm, slot);
        do {
                s = seq_begin(d);
                if (d->srv[id].state == XS_SRV_NONE)
                        return -ENOENT;
                nr = d->srv[id].nr[space];
                if (nr > XS_MAX_RANGES)
                        nr = XS_MAX_RANGES;
                for (uint32_t i = 0; i < nr && i < n; i++)
                        buf[i] = (struct xsg_range){ space, d->srv[id].r[space][i].start,
                                                     d->srv[id].r[space][i].end };
        } while (seq_retry(d, s));
        return (int)nr;
}

/* ---- vCPU ---- */

struct target {
        int srv;
        uint32_t srv_gen;
        uint32_t page;
        uint32_t vport;
        uint32_t lport;
};

struct vcpu_ctx {
        xsg *g;
        struct xs_dom *d;
        uint32_t slot, dgen, vcpu;
};

struct pend {
        volatile ioreq_t *io;
        uint32_t page;
        unsigned srv;
        uint32_t srv_gen;
        bool done;
        uint64_t data;                  /* the answer; until then the request's own data */
};

/* getpid() is a system call: keep the value, refreshed in a forked child. */
static _Atomic uint32_t self_pid;
static pthread_once_t pid_once = PTHREAD_ONCE_INIT;

static void pid_refresh(void) {
        atomic_store(&self_pid, (uint32_t)getpid());
}

static void pid_init(void) {
        pid_refresh();
        pthread_atfork(NULL, NULL, pid_refresh);
}

static int vcpu_enter(xsg *g, uint32_t domid, unsigned vcpu, struct vcpu_ctx *c) {
        uint32_t s, nr, st, paused, pid, owner = 0;
        int r = dom_lookup(g, domid, &c->slot);

        if (r < 0)
                return r;
        c->g = g;
        c->d = xs_shm_dom(g->shm, c->slot);
        c->vcpu = vcpu;
        do {
                s = seq_begin(c->d);
                c->dgen = c->d->gen;
                nr = c->d->nr_vcpus;
                st = c->d->state;
                paused = c->d->paused;
        } while (seq_retry(c->d, s));
        r = state_err(st);
        if (r < 0)
                return r;
        if (paused)
                return -EAGAIN;
        if (vcpu >= nr || vcpu >= XS_MAX_VCPUS)
                return -ENXIO;
        pthread_once(&pid_once, pid_init);
        pid = atomic_load(&self_pid);
        if (!atomic_compare_exchange_strong(&c->d->vcpu_busy[vcpu], &owner, pid)) {
                /* Taken: by a live thread, or by a process that died while driving it. */
                if (owner == pid || owner == 0 || kill((pid_t)owner, 0) == 0 || errno != ESRCH ||
                    !atomic_compare_exchange_strong(&c->d->vcpu_busy[vcpu], &owner, pid))
                        return -EBUSY;
        }
        return 0;
}

static int wait_all(struct vcpu_ctx *c, struct pend *pd, unsigned n, int timeout_ms,
                    int *ret_state, uint32_t seen);
static volatile ioreq_t *slot_of(xsg *g, uint32_t page, unsigned idx);

/*
 * A vCPU left hung by an earlier access is still blocked: before anything else it waits (up
 * to this access's timeout) for those answers. Returns 0 once it is free.
 */
static int vcpu_resume(struct vcpu_ctx *c, int timeout_ms, int *ret_state) {
        struct xs_vpend *vp = &c->d->vpend[c->vcpu];
        struct pend pd[XS_MAX_SERVERS];
        unsigned n = vp->n;
        int r;

        if (!n)
                return 0;
        if (n > XS_MAX_SERVERS)
                n = XS_MAX_SERVERS;
        for (unsigned i = 0; i < n; i++) {
                uint32_t page = vp->w[i].page, srv = vp->w[i].srv;
                if (page == 0 || page >= XS_MAX_PAGES || srv >= XS_MAX_SERVERS) {
                        vp->n = 0;
                        return 0;
                }
                pd[i] = (struct pend){ .io = slot_of(c->g, page, c->vcpu), .page = page,
                                       .srv = srv, .srv_gen = vp->w[i].srv_gen };
        }
        r = wait_all(c, pd, n, timeout_ms, ret_state, vp->ev);
        if (r == 0)
                vp->n = 0;
        return r;
}

static void vcpu_leave(struct vcpu_ctx *c) {
        atomic_store(&c->d->vcpu_busy[c->vcpu], 0);
}

/*
 * What Xen runs with the vCPU in the hypervisor, where domain_pause() cannot stop it halfway:
 * choosing the server and sending the request, and one look at the slots. xensimd changes a
 * server's state or destroys it only while no vCPU is in there (xensim-shm.h, pause).
 */
static int crit_enter(struct vcpu_ctx *c, uint64_t deadline) {
        _Atomic uint32_t *cw = &c->d->vcpu_crit[c->vcpu];
        uint32_t pz;

        for (;;) {
                atomic_store(cw, atomic_load(&self_pid));
                pz = atomic_load(&c->d->pause);
                if (!pz)
                        return 0;
                atomic_store(cw, 0);
                syscall(SYS_futex, cw, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
                if (now_ns() >= deadline)
                        return -ETIMEDOUT;
                struct timespec ts = { 0, 10 * 1000000 };
                syscall(SYS_futex, &c->d->pause, FUTEX_WAIT, pz, &ts, NULL, 0);
        }
}

static void crit_leave(struct vcpu_ctx *c) {
        atomic_store(&c->d->vcpu_crit[c->vcpu], 0);
        if (atomic_load(&c->d->pause))
                syscall(SYS_futex, &c->d->vcpu_crit[c->vcpu], FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static int ctx_check(struct vcpu_ctx *c) {
        if (__atomic_load_n(&c->d->gen, __ATOMIC_ACQUIRE) != c->dgen)
                return -ESRCH;
        return state_err(__atomic_load_n(&c->d->state, __ATOMIC_ACQUIRE));
}

/* The enabled server with the highest id whose ranges contain [start, end] of space. */
static int select_server(struct vcpu_ctx *c, int space, uint64_t start, uint64_t end,
                         struct target *t) {
        struct xs_dom *d = c->d;
        uint32_t s;
        int r;

        do {
                s = seq_begin(d);
                r = ctx_check(c);
                if (r < 0)
                        return r;
                t->srv = -1;
                for (int id = XS_MAX_SERVERS - 1; id >= 0 && t->srv < 0; id--) {
                        struct xs_server *v = &d->srv[id];
                        uint32_t nr = v->nr[space];
                        if (v->state != XS_SRV_ENABLED)
                                continue;
                        if (nr > XS_MAX_RANGES)
                                nr = XS_MAX_RANGES;
                        for (uint32_t i = 0; i < nr; i++)
                                if (v->r[space][i].start <= start && end <= v->r[space][i].end) {
                                        t->srv = id;
                                        break;
                                }
                }
                if (t->srv >= 0) {
                        struct xs_server *v = &d->srv[t->srv];
                        t->srv_gen = v->gen;
                        t->page = v->page;
                        t->vport = v->vport[c->vcpu];
                        t->lport = t->vport < XS_MAX_GPORTS ? d->gport[t->vport].lport : 0;
                }
        } while (seq_retry(d, s));
        if (t->srv >= 0 && (t->page == 0 || t->page >= XS_MAX_PAGES))
                t->srv = -1;
        return 0;
}

/* Snapshot server id (any state but NONE) for injection. */
static int get_server(struct vcpu_ctx *c, unsigned id, unsigned vcpu, struct target *t) {
        struct xs_dom *d = c->d;
        uint32_t s;
        int r;

        if (id >= XS_MAX_SERVERS)
                return -ENOENT;
        do {
                s = seq_begin(d);
                r = ctx_check(c);
                if (r < 0)
                        return r;
                struct xs_server *v = &d->srv[id];
                if (v->state == XS_SRV_NONE)
                        r = -ENOENT;
                t->srv = (int)id;
                t->srv_gen = v->gen;
                t->page = v->page;
                t->vport = vcpu < XS_MAX_VCPUS ? v->vport[vcpu] : 0;
                t->lport = t->vport && t->vport < XS_MAX_GPORTS ? d->gport[t->vport].lport : 0;
        } while (seq_retry(d, s));
        if (r == 0 && (t->page == 0 || t->page >= XS_MAX_PAGES))
                r = -ENOENT;
        return r;
}

static volatile ioreq_t *slot_of(xsg *g, uint32_t page, unsigned idx) {
        return (volatile ioreq_t *)xs_shm_page(g->shm, page) + idx;
}

static unsigned slot_state(volatile ioreq_t *io) {
        return __atomic_load_n((volatile uint8_t *)io + SLOT_BITS_OFF, __ATOMIC_ACQUIRE) & 0xf;
}

/* Write a request into a slot, the state byte last (Xen: fields, smp_wmb, state). */
static void slot_write(volatile ioreq_t *io, const struct xsg_raw *raw, unsigned state) {
        volatile uint8_t *b = (volatile uint8_t *)io;
        uint8_t bits = (uint8_t)((raw->data_is_ptr & 1) << 4 | (raw->dir & 1) << 5 |
                                 (raw->df & 1) << 6);
        io->addr = raw->addr;
        io->data = raw->data;
        io->count = raw->count;
        io->size = raw->size;
        b[SLOT_TYPE_OFF] = raw->type;
        __atomic_store_n(b + SLOT_BITS_OFF, bits, __ATOMIC_RELEASE);
        __atomic_store_n(b + SLOT_BITS_OFF, (uint8_t)(bits | (state & 0xf)), __ATOMIC_RELEASE);
}

static void slot_set_none(volatile ioreq_t *io) {
        volatile uint8_t *b = (volatile uint8_t *)io + SLOT_BITS_OFF;
        __atomic_store_n(b, (uint8_t)(*b & 0xf0), __ATOMIC_RELEASE);
}

/* Raise the dom0 port bound to the guest port vport of this domain (one eventfd write). */
static void notify(struct vcpu_ctx *c, uint32_t vport, uint32_t lport) {
        struct xs_port *p;
        uint32_t h;
        uint64_t one = 1;

        if (!lport || lport >= XS_MAX_PORTS)
                return;                 /* nobody bound it: the event is lost, as on Xen */
        p = xs_shm_port(c->g->shm, lport);
        h = atomic_load_explicit(&p->handle, memory_order_acquire);
        if (!h || h > XS_MAX_HANDLES || __atomic_load_n(&p->rslot, __ATOMIC_RELAXED) != c->slot + 1 ||
            __atomic_load_n(&p->rport, __ATOMIC_RELAXED) != vport)
                return;
        if (!xs_port_raise(p))
                return;
        xs_ring_push(xs_shm_ring(c->g->shm, h - 1), lport);
        int fd = wake_fd(c->g, h - 1);
        if (fd >= 0) {
                ssize_t n = write(fd, &one, sizeof(one));
                (void)n;
        }
}

/*
 * The first notify on an evtchn handle fetches its eventfd from xensimd, which must not
 * happen while xensimd may be waiting for this vCPU (crit_enter). Returns the handle whose
 * eventfd the notify to t would fetch, -1 if none: the caller leaves, fetches it with
 * wake_fd() and chooses its server again.
 */
static int notify_unprepared(struct vcpu_ctx *c, const struct target *t) {
        struct xs_port *p;
        uint32_t h, gen;

        if (t->srv < 0 || !t->lport || t->lport >= XS_MAX_PORTS)
                return -1;
        p = xs_shm_port(c->g->shm, t->lport);
        h = atomic_load_explicit(&p->handle, memory_order_acquire);
        if (!h || h > XS_MAX_HANDLES)
                return -1;
        gen = atomic_load_explicit(&c->g->hdr->handle_gen[h - 1], memory_order_acquire);
        if (c->g->wake[h - 1].fd >= 0 && c->g->wake[h - 1].gen == gen)
                return -1;
        return (int)(h - 1);
}

static int crash(struct vcpu_ctx *c) {
        xsg_domain_crash(c->g, __atomic_load_n(&c->d->domid, __ATOMIC_RELAXED));
        return -EHOSTDOWN;
}

static uint32_t vcpu_events(struct vcpu_ctx *c) {
        return atomic_load_explicit(&c->d->vcpu_evt[c->vcpu], memory_order_acquire);
}

/*
 * One look at the pending requests, inside crit_enter: one run of Xen's wait_for_io(), which
 * on x86 starts afresh (prev_state NONE) each time the vCPU resumes, so only the state seen
 * now counts and a state that went back (INPROCESS, then READY again) is simply waited on.
 * A request whose server was destroyed completes as Xen's vCPU does when it runs and finds no
 * pending server: with the request's own data, the old page untouched. Such a look only
 * happens after an event that reached the vCPU; after the destruction none comes through the
 * destroyed server's ports, so a vCPU that was blocked on it stays blocked until another event
 * (FACTS 8a-8c). Returns 1 when every request is done, 0 while some still wait, -EHOSTDOWN for
 * an invalid state (the caller crashes the domain once out of crit_enter).
 */
static int look(struct vcpu_ctx *c, struct pend *pd, unsigned n) {
        bool all = true;

        for (unsigned i = 0; i < n; i++) {
                struct pend *p = &pd[i];
                if (p->done)
                        continue;
                if (__atomic_load_n(&c->d->srv[p->srv].gen, __ATOMIC_ACQUIRE) != p->srv_gen) {
                        p->done = true;
                        continue;
                }
                unsigned st = slot_state(p->io);
                if (st == STATE_IORESP_READY) {
                        atomic_thread_fence(memory_order_acquire);
                        p->data = p->io->data;
                        slot_set_none(p->io);
                        p->done = true;
                } else if (st == STATE_IOREQ_NONE) {
                        p->data = ~0ull;
                        p->done = true;
                } else if (st == STATE_IOREQ_READY || st == STATE_IOREQ_INPROCESS) {
                        all = false;
                } else {
                        return -EHOSTDOWN;
                }
        }
        return all;
}

/*
 * Block the vCPU until every pending request is done, looking at them each time an event
 * that came after `seen` (the vCPU's event count at its last look) wakes it, as Xen's
 * wait_on_xen_event_channel() does: a state written without a notify is not noticed.
 */
static int wait_all(struct vcpu_ctx *c, struct pend *pd, unsigned n, int timeout_ms,
                    int *ret_state, uint32_t seen) {
        uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
        _Atomic uint32_t *evw = &c->d->vcpu_evt[c->vcpu];
        bool all = true;

        for (unsigned i = 0; i < n; i++)
                all = all && pd[i].done;
        if (all)
                return 0;
        for (;;) {
                uint32_t ev = atomic_load_explicit(evw, memory_order_acquire);
                int r = ctx_check(c);
                if (r < 0)
                        return r;
                /* A look runs as a whole before or after a server's change (crit_enter). */
                if (ev != seen && crit_enter(c, deadline) == 0) {
                        seen = ev;
                        r = look(c, pd, n);
                        crit_leave(c);
                        if (r < 0)
                                return crash(c);
                        if (r > 0)
                                return 0;
                        continue;
                }
                uint64_t t = now_ns();
                if (t >= deadline) {
                        /* The vCPU stays blocked on what is still unanswered. */
                        struct xs_vpend *vp = &c->d->vpend[c->vcpu];
                        unsigned k = 0;
                        for (unsigned i = 0; i < n; i++)
                                if (!pd[i].done) {
                                        if (!k)
                                                *ret_state = (int)slot_state(pd[i].io);
                                        vp->w[k].page = pd[i].page;
                                        vp->w[k].srv = pd[i].srv;
                                        vp->w[k].srv_gen = pd[i].srv_gen;
                                        k++;
                                }
                        vp->ev = seen;
                        vp->n = k;
                        return -ETIMEDOUT;
                }
                uint64_t left = deadline - t;
                struct timespec ts = { (time_t)(left / 1000000000u), (long)(left % 1000000000u) };
                syscall(SYS_futex, evw, FUTEX_WAIT, ev, &ts, NULL, 0);
        }
}

/* Write the request into the vCPU's slot of t's page and notify the server (in crit_enter). */
static void send_one(struct vcpu_ctx *c, const struct target *t, const struct xsg_raw *raw,
                     struct pend *p) {
        volatile ioreq_t *io = slot_of(c->g, t->page, c->vcpu);
        slot_write(io, raw, STATE_IOREQ_READY);
        *p = (struct pend){ .io = io, .page = t->page, .srv = (unsigned)t->srv,
                            .srv_gen = t->srv_gen, .data = raw->data };
        notify(c, t->vport, t->lport);
}

/*
 * The end of a send step: the look Xen's vCPU takes at its slots before it blocks, then
 * crit_leave. The caller read the vCPU's event count before sending, so any event after that
 * (an answer's notify) makes wait_all() look again. 0, or -EHOSTDOWN (the domain crashed).
 */
static int send_done(struct vcpu_ctx *c, struct pend *pd, unsigned n) {
        int r = look(c, pd, n);
        crit_leave(c);
        return r < 0 ? crash(c) : 0;
}

/* Send raw to each of the n targets (in crit_enter), take the look, then wait for them all. */
static int send_wait(struct vcpu_ctx *c, const struct target *t, unsigned n,
                     const struct xsg_raw *raw, struct pend *p, int timeout_ms, int *ret_state) {
        uint32_t seen = vcpu_events(c);
        int r;

        for (unsigned i = 0; i < n; i++)
                send_one(c, &t[i], raw, &p[i]);
        r = send_done(c, p, n);
        return r < 0 ? r : wait_all(c, p, n, timeout_ms, ret_state, seen);
}

#define NOTIFY_PREPARE_TRIES 4

/*
 * Choose the server for [start, end] of space and send raw to it, in one step that a
 * server's change or destruction comes entirely before or after. t->srv < 0: no server,
 * nothing sent.
 */
static int select_send(struct vcpu_ctx *c, int space, uint64_t start, uint64_t end,
                       const struct xsg_raw *raw, int timeout_ms, struct target *t,
                       struct pend *p, uint32_t *ret_seen) {
        uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
        int r, h;

        for (unsigned tries = 0;; tries++) {
                r = crit_enter(c, deadline);
                if (r < 0)
                        return r;
                r = select_server(c, space, start, end, t);
                if (r < 0) {
                        crit_leave(c);
                        return r;
                }
                h = tries < NOTIFY_PREPARE_TRIES ? notify_unprepared(c, t) : -1;
                if (h >= 0) {
                        crit_leave(c);
                        wake_fd(c->g, (uint32_t)h);
                        continue;
                }
                if (t->srv < 0) {
                        crit_leave(c);
                        return 0;
                }
                *ret_seen = vcpu_events(c);
                send_one(c, t, raw, p);
                return send_done(c, p, 1);
        }
}

static uint64_t ones(unsigned size) {
        return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

int xsg_io(xsg *g, uint32_t domid, unsigned vcpu, struct xsg_io *io) {
        struct vcpu_ctx c;
        unsigned off = 0;
        int r, tmo;

        if ((io->space != XSG_MMIO && io->space != XSG_PIO) ||
            (io->dir != XSG_READ && io->dir != XSG_WRITE) ||
            (io->size != 1 && io->size != 2 && io->size != 4 && io->size != 8))
                return -EINVAL;
        tmo = io->timeout_ms > 0 ? io->timeout_ms : XSG_DEFAULT_TIMEOUT_MS;
        io->value = 0;
        io->server = -1;
        io->nr_requests = 0;
        io->slot_state = -1;
        r = vcpu_enter(g, domid, vcpu, &c);
        if (r < 0)
                return r;
        r = vcpu_resume(&c, tmo, &io->slot_state);
        if (r < 0)
                goto out;
        /*
         * As Xen's hvmemul_phys_mmio_access(): an MMIO access that crosses a 4 KiB page is cut
         * at the boundary, and each page's piece into power-of-two chunks, the largest first
         * (3 bytes: 2 + 1; 5: 4 + 1), each chunk one request with its own choice of server.
         */
        while (off < io->size) {
                uint64_t addr = io->addr + off;
                unsigned len = io->size - off;
                if (io->space == XSG_MMIO && (addr & 0xfff) + len > 0x1000)
                        len = (unsigned)(0x1000 - (addr & 0xfff));
                while (len & (len - 1))
                        len &= len - 1;
                struct target t;
                struct pend p;
                uint32_t seen = 0;
                uint64_t piece;
                struct xsg_raw raw = {
                        .addr = addr, .count = 1, .size = len, .dir = (uint8_t)io->dir,
                        .type = (uint8_t)io->space,
                        .data = io->dir == XSG_WRITE ? (io->data >> (8 * off)) & ones(len) : 0,
                };
                r = select_send(&c, io->space, addr, addr + len - 1, &raw, tmo, &t, &p, &seen);
                if (r < 0)
                        goto out;
                if (t.srv < 0) {
                        piece = ones(len);      /* no server: reads all-ones, writes dropped */
                } else {
                        io->server = t.srv;
                        io->nr_requests++;
                        r = wait_all(&c, &p, 1, tmo, &io->slot_state, seen);
                        if (r < 0)
                                goto out;
                        piece = p.data & ones(len);
                }
                if (io->dir == XSG_READ)
                        io->value |= piece << (8 * off);
                off += len;
        }
        r = 0;
out:
        vcpu_leave(&c);
        return r;
}

int xsg_write(xsg *g, uint32_t domid, unsigned vcpu, int space, uint64_t addr, unsigned size,
              uint64_t value, int timeout_ms) {
        struct xsg_io io = { .space = space, .dir = XSG_WRITE, .addr = addr, .size = size,
                             .data = value, .timeout_ms = timeout_ms };
        return xsg_io(g, domid, vcpu, &io);
}

int xsg_read(xsg *g, uint32_t domid, unsigned vcpu, int space, uint64_t addr, unsigned size,
             uint64_t *ret_value, int timeout_ms) {
        struct xsg_io io = { .space = space, .dir = XSG_READ, .addr = addr, .size = size,
                             .timeout_ms = timeout_ms };
        int r = xsg_io(g, domid, vcpu, &io);
        if (r == 0 && ret_value)
                *ret_value = io.value;
        return r;
}

int xsg_invalidate(xsg *g, uint32_t domid, unsigned vcpu, int timeout_ms) {
        struct target t[XS_MAX_SERVERS];
        struct pend p[XS_MAX_SERVERS];
        struct vcpu_ctx c;
        unsigned n = 0;
        int r, st, tmo = timeout_ms > 0 ? timeout_ms : XSG_DEFAULT_TIMEOUT_MS;

        r = vcpu_enter(g, domid, vcpu, &c);
        if (r < 0)
                return r;
        r = vcpu_resume(&c, tmo, &st);
        if (r < 0)
                goto out;
        /* Every enabled server, the highest id first, in one step (select_send). */
        uint64_t deadline = now_ns() + (uint64_t)tmo * 1000000u;
        for (unsigned tries = 0;; tries++) {
                int h = -1;
                n = 0;
                r = crit_enter(&c, deadline);
                if (r < 0)
                        goto out;
                for (int id = XS_MAX_SERVERS - 1; id >= 0; id--) {
                        if (__atomic_load_n(&c.d->srv[id].state, __ATOMIC_ACQUIRE) !=
                            XS_SRV_ENABLED)
                                continue;
                        r = get_server(&c, (unsigned)id, vcpu, &t[n]);
                        if (r == -ENOENT)
                                continue;
                        if (r < 0) {
                                crit_leave(&c);
                                goto out;
                        }
                        if (h < 0 && tries < NOTIFY_PREPARE_TRIES)
                                h = notify_unprepared(&c, &t[n]);
                        n++;
                }
                if (h < 0)
                        break;
                crit_leave(&c);
                wake_fd(c.g, (uint32_t)h);
        }
        struct xsg_raw raw = { .type = IOREQ_TYPE_INVALIDATE, .dir = IOREQ_WRITE, .addr = 0,
                               .size = 4, .count = 0, .data = ~0ull };
        r = send_wait(&c, t, n, &raw, p, tmo, &st);
        if (r == 0)
                r = (int)n;
out:
        vcpu_leave(&c);
        return r;
}

/* ---- fault injection ---- */

int xsg_inject_request(xsg *g, uint32_t domid, unsigned vcpu, unsigned server,
                       const struct xsg_raw *raw, int timeout_ms, uint64_t *ret_data) {
        struct vcpu_ctx c;
        struct target t;
        struct pend p;
        int r, st, tmo = timeout_ms > 0 ? timeout_ms : XSG_DEFAULT_TIMEOUT_MS;

        r = vcpu_enter(g, domid, vcpu, &c);
        if (r < 0)
                return r;
        r = vcpu_resume(&c, tmo, &st);
        if (r < 0)
                goto out;
        uint64_t deadline = now_ns() + (uint64_t)tmo * 1000000u;
        for (unsigned tries = 0;; tries++) {
                r = crit_enter(&c, deadline);
                if (r < 0)
                        goto out;
                r = get_server(&c, server, vcpu, &t);
                if (r < 0) {
                        crit_leave(&c);
                        goto out;
                }
                int h = tries < NOTIFY_PREPARE_TRIES ? notify_unprepared(&c, &t) : -1;
                if (h < 0)
                        break;
                crit_leave(&c);
                wake_fd(c.g, (uint32_t)h);
        }
        r = send_wait(&c, &t, 1, raw, &p, tmo, &st);
        if (r == 0 && ret_data)
                *ret_data = p.data;
out:
        vcpu_leave(&c);
        return r;
}

static int inject_ctx(xsg *g, uint32_t domid, struct vcpu_ctx *c) {
        uint32_t s, st;
        int r = dom_lookup(g, domid, &c->slot);
        if (r < 0)
                return r;
        c->g = g;
        c->d = xs_shm_dom(g->shm, c->slot);
        c->vcpu = 0;
        do {
                s = seq_begin(c->d);
                c->dgen = c->d->gen;
                st = c->d->state;
        } while (seq_retry(c->d, s));
        return state_err(st);
}

int xsg_inject_slot(xsg *g, uint32_t domid, unsigned server, unsigned slot,
                    const struct xsg_raw *raw, int notify_vcpu) {
        struct vcpu_ctx c;
        struct target t;
        int r = inject_ctx(g, domid, &c);

        if (r < 0)
                return r;
        if (slot >= XS_PAGE_SIZE / sizeof(ioreq_t))
                return -ENXIO;
        if (notify_vcpu >= 0 && (unsigned)notify_vcpu >= c.d->nr_vcpus)
                return -ENXIO;
        r = get_server(&c, server, notify_vcpu >= 0 ? (unsigned)notify_vcpu : 0, &t);
        if (r < 0)
                return r;
        slot_write(slot_of(g, t.page, slot), raw, raw->state);
        if (notify_vcpu >= 0)
                notify(&c, t.vport, t.lport);
        return 0;
}

int xsg_inject_notify(xsg *g, uint32_t domid, unsigned server, unsigned vcpu) {
        struct vcpu_ctx c;
        struct target t;
        int r = inject_ctx(g, domid, &c);

        if (r < 0)
                return r;
        if (vcpu >= c.d->nr_vcpus)
                return -ENXIO;
        r = get_server(&c, server, vcpu, &t);
        if (r < 0)
                return r;
        notify(&c, t.vport, t.lport);
        return 0;
}

int xsg_slot_peek(xsg *g, uint32_t domid, unsigned server, unsigned slot, ioreq_t *ret) {
        uint32_t dslot, s, page = 0;
        struct xs_dom *d;
        int r = dom_lookup(g, domid, &dslot);

        if (r < 0)
                return r;
        if (slot >= XS_PAGE_SIZE / sizeof(ioreq_t) || server >= XS_MAX_SERVERS)
                return -ENXIO;
        d = xs_shm_dom(g->shm, dslot);
        do {
                s = seq_begin(d);
                r = 0;
                if (d->domid != domid || d->state == XS_DOM_FREE)
                        r = -ESRCH;
                else if (d->srv[server].state == XS_SRV_NONE)
                        r = -ENOENT;
                else
                        page = d->srv[server].page;
        } while (seq_retry(d, s));
        if (r < 0)
                return r;
        if (page == 0 || page >= XS_MAX_PAGES)
                return -ENOENT;
        memcpy(ret, (const void *)slot_of(g, page, slot), sizeof(*ret));
        return 0;
}

/* One interrupt log request (XS_OP_IRQ_GET, XS_OP_IRQ_NEXT) into *ret. */
static int irq_op(xsg *g, uint16_t op, uint32_t domid, uint64_t arg, struct xsg_irq *ret) {
        uint64_t v[4];
        int r = guest_op(g, op, (const uint64_t[]){ domid, arg }, 2, v);
        if (r < 0)
                return r;
        ret->kind = (enum xsg_irq_kind)v[0];
        ret->a = v[1];
        ret->b = v[2];
        ret->seq = v[3];
        return 0;
}

int xsg_irq_get(xsg *g, uint32_t domid, unsigned index, struct xsg_irq *ret) {
        return irq_op(g, XS_OP_IRQ_GET, domid, index, ret);
}

int xsg_irq_next(xsg *g, uint32_t domid, uint64_t after_seq, struct xsg_irq *ret) {
        return irq_op(g, XS_OP_IRQ_NEXT, domid, after_seq, ret);
}
