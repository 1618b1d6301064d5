/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "forward.h"
#include "match.h"
#include "xenioreqd/protocol.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

/* The low bits of a sequence number are the vCPU: one access per vCPU is ever pending. */
#define SEQ_VCPU_BITS   7u
_Static_assert((1u << SEQ_VCPU_BITS) == XEN_MAX_VCPUS, "a sequence number names its vCPU");

struct Claim {
        Forward *fwd;
        uint32_t id;
        uint32_t ring_id;               /* the backend's id of it, in each access */
        uint8_t space;
        uint64_t first, last;
        uint64_t deadline_ns;
        struct xirq_ring *ring;
        int to_fd, from_fd;
        LoopIo answers;
        uint32_t access_prod;           /* ours: the ring's copy is never read back */
        uint32_t answer_cons;
        unsigned pending;
        bool signal;                    /* accesses posted in this pass */
        bool broken;
        ClaimStats *stats;
        Claim *next;
};

static uint64_t forward_now_ns(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

/* Complete vCPU's forwarded access without an answer: a read gets all-ones. */
static void forward_complete_unanswered(Forward *f, unsigned vcpu) {
        ForwardPending *p = &f->pending[vcpu];
        Claim *c = p->claim;

        (void) xen_server_complete(f->xen, vcpu, p->read, ~UINT64_C(0));
        stats_add(&f->stats->io.expired, 1);
        stats_add(&c->stats->expired, 1);
        c->pending--;
        p->claim = NULL;
}

/* The claim can no longer be trusted to answer: what it has pending is completed, the parent told. */
static void forward_break(Forward *f, Claim *c, const char *why) {
        if (c->broken)
                return;
        c->broken = true;
        log_ratelimit(&f->log, LOG_WARNING, "Guest %s: claim %" PRIu32 " (0x%" PRIx64 "-0x%" PRIx64 "): %s;"
                      " its connection is closed", f->name, c->id, c->first, c->last, why);
        for (unsigned v = 0; v < f->nr_vcpus && c->pending > 0; v++)
                if (f->pending[v].claim == c)
                        forward_complete_unanswered(f, v);
        loop_io_stop(f->loop, &c->answers);
        f->broken(f, c->id);
}

static void forward_arm(Forward *f) {
        uint64_t next = UINT64_MAX;

        for (unsigned v = 0; v < f->nr_vcpus; v++)
                if (f->pending[v].claim && f->pending[v].deadline_ns < next)
                        next = f->pending[v].deadline_ns;
        if (f->timer.active && next == f->timer_at)
                return;
        loop_timer_stop(f->loop, &f->timer);
        if (next == UINT64_MAX)
                return;
        f->timer_at = next;
        loop_timer_start(f->loop, &f->timer, next);
}

static void forward_timer_cb(Loop *loop, LoopTimer *w) {
        Forward *f = container_of(w, Forward, timer);
        uint64_t now = forward_now_ns();

        for (unsigned v = 0; v < f->nr_vcpus; v++) {
                Claim *c = f->pending[v].claim;

                if (c && f->pending[v].deadline_ns <= now)
                        forward_break(f, c, "an access was not answered in time, completed without it");
        }
        forward_arm(f);
}

/* The backend's answers: each completes the access it names; anything else in the ring breaks the claim. */
static void forward_answers_cb(Loop *loop, LoopIo *w) {
        Claim *c = container_of(w, Claim, answers);
        Forward *f = c->fwd;
        uint64_t n;
        uint32_t prod;
        bool done = false;

        (void) !read(c->from_fd, &n, sizeof(n));
        prod = __atomic_load_n(&c->ring->answer_prod, __ATOMIC_ACQUIRE);
        if (prod - c->answer_cons > XIRQ_RING_SIZE) {
                forward_break(f, c, "its ring's answer index is out of range");
                return;
        }
        while (c->answer_cons != prod) {
                struct xirq_answer a;
                ForwardPending *p;
                unsigned vcpu;

                memcpy(&a, &c->ring->answer[c->answer_cons % XIRQ_RING_SIZE], sizeof(a));
                c->answer_cons++;
                vcpu = a.seq & (XEN_MAX_VCPUS - 1);
                p = vcpu < f->nr_vcpus ? &f->pending[vcpu] : NULL;
                if (!p || p->claim != c || p->seq != a.seq) {
                        /* late (completed at its deadline), or made up: nothing waits for it */
                        log_ratelimit(&f->log, LOG_DEBUG, "Guest %s: claim %" PRIu32 ": answer %" PRIu32
                                      " names no access pending, ignored", f->name, c->id, a.seq);
                        continue;
                }
                (void) xen_server_complete(f->xen, vcpu, p->read, p->read ? a.data & match_len_mask(p->size) : 0);
                stats_add(&c->stats->answered, 1);
                p->claim = NULL;
                c->pending--;
                done = true;
        }
        __atomic_store_n(&c->ring->answer_cons, c->answer_cons, __ATOMIC_RELEASE);
        if (done && f->timer.active)
                forward_arm(f);
}

int forward_init(Forward *f, Loop *loop, XenServer *xen, GuestStats *stats, const char *name,
                 ForwardBrokenFn broken) {
        unsigned nr = xen_server_nr_vcpus(xen);

        *f = (Forward) {
                .loop = loop,
                .xen = xen,
                .stats = stats,
                .name = name,
                .broken = broken,
                .nr_vcpus = nr,
                .log = RATELIMIT_INIT(10 * 1000 * 1000, 10),
        };
        if (nr == 0 || nr > XEN_MAX_VCPUS)
                return -EINVAL;
        f->pending = calloc(nr, sizeof(*f->pending));
        if (!f->pending)
                return -ENOMEM;
        /* an answer meant for an earlier worker's access must not complete one of ours */
        if (getrandom(&f->generation, sizeof(f->generation), GRND_NONBLOCK) != (ssize_t) sizeof(f->generation))
                f->generation = (uint32_t) forward_now_ns();
        loop_timer_init(&f->timer, forward_timer_cb);
        return 0;
}

static Claim *forward_find(Forward *f, uint32_t id, Claim ***ret_link) {
        for (Claim **l = &f->claims; *l; l = &(*l)->next)
                if ((*l)->id == id) {
                        if (ret_link)
                                *ret_link = l;
                        return *l;
                }
        return NULL;
}

static ClaimStats *forward_stats_slot(GuestStats *stats, uint32_t id) {
        ClaimStats *free_slot = NULL;

        for (unsigned i = 0; i < STATS_MAX_CLAIMS; i++) {
                if (stats->claims[i].id == id)
                        return &stats->claims[i];
                if (!free_slot && stats->claims[i].id == 0)
                        free_slot = &stats->claims[i];
        }
        if (free_slot)
                *free_slot = (ClaimStats) { .id = id };
        return free_slot;
}

/* The ring: a memfd one ring long at least, that cannot shrink under us (a SIGBUS in the worker). */
static int forward_map_ring(int fd, struct xirq_ring **ret) {
        struct stat st;
        int seals;
        void *p;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size < (off_t) sizeof(struct xirq_ring))
                return -EINVAL;
        seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || !(seals & F_SEAL_SHRINK))
                return -EINVAL;
        p = mmap(NULL, sizeof(struct xirq_ring), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        *ret = p;
        return 0;
}

static void forward_claim_free(Forward *f, Claim *c, bool complete);

int forward_claim_add(Forward *f, uint32_t id, uint32_t ring_id, uint8_t space, uint64_t first, uint64_t last,
                      uint32_t deadline_ms, int fds[3]) {
        Claim *c;
        int r;

        if (id == 0 || first > last || (space != XIRQ_SPACE_MMIO && space != XIRQ_SPACE_PIO) || deadline_ms == 0)
                return -EINVAL;
        if (forward_find(f, id, NULL))
                return -EEXIST;
        for (Claim *o = f->claims; o; o = o->next)
                if (o->space == space && o->first <= last && first <= o->last)
                        return -EEXIST;
        if (f->n >= STATS_MAX_CLAIMS)
                return -ENOSPC;
        r = fdio_take_eventfd(fds[1]);
        if (r == 0)
                r = fdio_take_eventfd(fds[2]);
        if (r < 0)
                return r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        r = forward_map_ring(fds[0], &c->ring);
        if (r < 0) {
                free(c);
                return r;
        }
        if (c->ring->magic != XIRQ_RING_MAGIC || c->ring->size != XIRQ_RING_SIZE) {
                (void) munmap(c->ring, sizeof(*c->ring));
                free(c);
                return -EINVAL;
        }
        c->stats = forward_stats_slot(f->stats, id);
        if (!c->stats) {
                (void) munmap(c->ring, sizeof(*c->ring));
                free(c);
                return -ENOSPC;
        }
        c->fwd = f;
        c->id = id;
        c->ring_id = ring_id;
        c->space = space;
        c->first = first;
        c->last = last;
        c->deadline_ns = (uint64_t) deadline_ms * 1000000u;
        /* where the ring stands (a worker before this one may have used it) */
        c->access_prod = __atomic_load_n(&c->ring->access_prod, __ATOMIC_ACQUIRE);
        c->answer_cons = __atomic_load_n(&c->ring->answer_cons, __ATOMIC_ACQUIRE);
        close(fds[0]);
        fds[0] = -1;
        c->to_fd = fds[1];
        fds[1] = -1;
        c->from_fd = fds[2];
        fds[2] = -1;
        loop_io_init(&c->answers, forward_answers_cb, c->from_fd);
        r = loop_io_start(f->loop, &c->answers);
        if (r < 0) {
                /* its counters' entry is free again, the descriptors taken are closed */
                c->stats->id = 0;
                forward_claim_free(f, c, false);
                return r;
        }
        c->next = f->claims;
        f->claims = c;
        f->n++;
        return 0;
}

static void forward_claim_free(Forward *f, Claim *c, bool complete) {
        if (c->pending > 0)
                log_debug("Guest %s: claim %" PRIu32 " goes with %u access%s pending, %s", f->name, c->id, c->pending,
                          c->pending == 1 ? "" : "es", complete ? "completed" : "left in their slots");
        for (unsigned v = 0; v < f->nr_vcpus && c->pending > 0; v++)
                if (f->pending[v].claim == c) {
                        if (complete)
                                forward_complete_unanswered(f, v);
                        else {
                                f->pending[v].claim = NULL;
                                c->pending--;
                        }
                }
        loop_io_stop(f->loop, &c->answers);
        close(c->to_fd);
        close(c->from_fd);
        (void) munmap(c->ring, sizeof(*c->ring));
        free(c);
}

int forward_claim_del(Forward *f, uint32_t id) {
        Claim **link = NULL, *c = forward_find(f, id, &link);

        if (!c)
                return -ENOENT;
        *link = c->next;
        f->n--;
        c->stats->id = 0;
        forward_claim_free(f, c, true);
        forward_arm(f);
        return 0;
}

unsigned forward_ranges(const Forward *f, uint8_t space, RangeSpan *ret, unsigned max) {
        unsigned k = 0;

        for (const Claim *c = f->claims; c && k < max; c = c->next)
                if (c->space == space)
                        ret[k++] = (RangeSpan) { c->first, c->last };
        return k;
}

ForwardResult forward_access(Forward *f, unsigned vcpu, uint8_t space, bool read, uint64_t addr, uint8_t size,
                             uint64_t data) {
        struct xirq_access *a;
        ForwardPending *p;
        Claim *c;

        for (c = f->claims; c; c = c->next)
                if (c->space == space && addr >= c->first && addr <= c->last)
                        break;
        if (!c)
                return FORWARD_NONE;
        p = &f->pending[vcpu];
        /* a vCPU has one access in flight; a guest rewriting its slot is answered, not forwarded twice */
        if (c->broken || p->claim)
                goto refused;
        if (c->access_prod - __atomic_load_n(&c->ring->access_cons, __ATOMIC_ACQUIRE) >= XIRQ_RING_SIZE) {
                /* full: its backend does not read its ring (or lies about it) */
                forward_break(f, c, "its ring is full");
                goto refused;
        }
        f->generation++;
        *p = (ForwardPending) {
                .claim = c,
                .seq = (f->generation << SEQ_VCPU_BITS) | vcpu,
                .read = read,
                .size = size,
                .deadline_ns = forward_now_ns() + c->deadline_ns,
        };
        a = &c->ring->access[c->access_prod % XIRQ_RING_SIZE];
        *a = (struct xirq_access) {
                .seq = p->seq,
                .claim = c->ring_id,
                .vcpu = (uint16_t) vcpu,
                .dir = read ? XIRQ_ACCESS_READ : XIRQ_ACCESS_WRITE,
                .size = size,
                .addr = addr,
                .data = read ? 0 : data & match_len_mask(size),
        };
        c->access_prod++;
        __atomic_store_n(&c->ring->access_prod, c->access_prod, __ATOMIC_RELEASE);
        c->pending++;
        c->signal = true;
        stats_add(&f->stats->io.forwarded, 1);
        stats_add(&c->stats->forwarded, 1);
        if (!f->timer.active || p->deadline_ns < f->timer_at) {
                f->timer_at = p->deadline_ns;
                loop_timer_start(f->loop, &f->timer, p->deadline_ns);
        }
        return FORWARD_POSTED;

refused:
        stats_add(&f->stats->io.expired, 1);
        stats_add(&c->stats->expired, 1);
        return FORWARD_REFUSED;
}

void forward_flush(Forward *f) {
        static const uint64_t one = 1;

        for (Claim *c = f->claims; c; c = c->next)
                if (c->signal) {
                        c->signal = false;
                        /* EAGAIN: a counter that full is already a wake-up */
                        (void) !write(c->to_fd, &one, sizeof(one));
                }
}

void forward_clear(Forward *f, bool complete) {
        while (f->claims) {
                Claim *c = f->claims;

                f->claims = c->next;
                forward_claim_free(f, c, complete);
        }
        f->n = 0;
        if (f->loop)
                loop_timer_stop(f->loop, &f->timer);
        free(f->pending);
        f->pending = NULL;
}
