/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"
#include "forward.h"
#include "ioreq.h"
#include "irqfd.h"
#include "log.h"
#include "match.h"
#include "ranges.h"
#include "sandbox.h"
#include "stats.h"
#include "wire.h"
#include "worker.h"
#include "xen.h"
#include "xenioreqd/protocol.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

#define WORKER_BURST            32u     /* messages handled per wake-up */
/* descriptors besides the registrations': the loop, the libraries, irqfds and claims (two each) */
#define WORKER_FD_HEADROOM      (64u + 2u * STATS_MAX_IRQFDS + 2u * STATS_MAX_CLAIMS)

typedef enum WorkerState {
        WORKER_INIT,                    /* waiting for INIT */
        WORKER_SETUP,                   /* server ready, not serving yet */
        WORKER_SERVING,
        WORKER_BROKEN,                  /* the event channel failed: waiting for STOP */
} WorkerState;

struct Worker {
        Loop *loop;
        int fd;
        LoopIo io;
        int sig_fd;                     /* SIGTERM and SIGINT, blocked */
        LoopIo sig;
        WorkerState state;
        int exit_status;
        bool ended;

        char name[WIRE_NAME_MAX + 1];
        uint32_t domid;
        uint32_t uid, gid;
        uint32_t busy_poll_us;
        uint32_t max_registrations;

        GuestStats *stats;              /* the parent's memfd, mapped */
        XenHandles *handles;            /* opened at start, unrestricted until INIT restricts them */
        SandboxFilter *filter;          /* compiled at start, installed at the drop */
        XenServer *xen;
        MatchTable *match;
        unsigned n_registrations;
        RangeSpan *want[2];             /* the registrations' distinct ranges, per space */
        unsigned n_want[2];
        IrqfdSet irqfds;
        Forward fwd;
        bool fwd_ready;
        Ioreq ioreq;
        bool dispatching;
        RateLimit log_limit;
};

static RangeOps worker_range_ops(Worker *w);
static void worker_claim_broken(Forward *f, uint32_t claim_id);

static void worker_end(Worker *w, int status) {
        if (w->ended)
                return;
        w->ended = true;
        w->exit_status = status;
        loop_io_stop(w->loop, &w->io);
        loop_break(w->loop);
}

static void worker_reply(Worker *w, uint32_t seq, int error, uint32_t other) {
        uint8_t out[WIRE_MSG_MAX];
        size_t n;
        int r;

        n = wire_encode_reply(out, seq, error, w->xen ? xen_server_id(w->xen) : WIRE_NONE,
                              w->xen && w->state != WORKER_INIT ? xen_server_nr_vcpus(w->xen) : 0, other);
        r = fdio_send(w->fd, out, n, NULL, 0);
        if (r < 0) {
                /* the parent does not listen: nothing more to do for it */
                log_error_errno(r, "Guest %s: cannot answer the parent, ending: %m", w->name);
                worker_end(w, EXIT_FAILURE);
        }
}

/* ---- INIT ---- */

static int worker_map_stats(Worker *w, int fd) {
        struct stat st;
        void *p;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size < (off_t) STATS_SIZE)
                return -EINVAL;
        p = mmap(NULL, STATS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        w->stats = p;
        if (w->stats->magic != STATS_MAGIC || w->stats->version != STATS_VERSION)
                return -EINVAL;
        return 0;
}

static void worker_init(Worker *w, const WireMsg *m, int stats_fd) {
        uint32_t other = WIRE_NONE;
        bool created = false;
        int r;

        memcpy(w->name, m->name, sizeof(w->name));
        w->domid = m->domid;
        /* ps and top tell the workers apart by their domain */
        {
                char comm[16];

                snprintf(comm, sizeof comm, "xirq-d%" PRIu32, m->domid);
                (void) prctl(PR_SET_NAME, comm, 0, 0, 0);
        }
        w->uid = m->uid;
        w->gid = m->gid;
        w->busy_poll_us = m->busy_poll_us;
        w->max_registrations = m->max_registrations;

        r = worker_map_stats(w, stats_fd);
        if (r < 0) {
                log_error_errno(r, "Guest %s: unusable statistics memory from the parent: %m", w->name);
                goto fail;
        }
        /* the registrations come again: their slots (found by key) become live as they do */
        for (unsigned i = 0; i < STATS_REG_SLOTS; i++)
                __atomic_store_n(&w->stats->ctl.regs[i].live, 0, __ATOMIC_RELAXED);
        r = match_table_new(&w->match);
        if (r < 0)
                goto fail;

        /* the handles, and at once every one of them restricted to this domain */
        r = xen_server_open(&w->xen, &w->handles, w->domid);
        if (r < 0) {
                log_error_errno(r, "Guest %s: cannot open Xen handles restricted to domain %" PRIu32 ": %m", w->name,
                                w->domid);
                goto fail;
        }

        if (m->server_id != WIRE_NONE) {
                r = xen_server_reattach(w->xen, m->server_id);
                if (r == -ENOENT)
                        log_warning("Guest %s: ioreq server %" PRIu32 " of domain %" PRIu32
                                    " is gone, creating a new one", w->name, m->server_id, w->domid);
                else if (r < 0) {
                        log_error_errno(r, "Guest %s: cannot take over ioreq server %" PRIu32 " of domain %" PRIu32
                                        ": %m", w->name, m->server_id, w->domid);
                        goto fail;
                }
        }
        if (xen_server_id(w->xen) == XEN_NO_SERVER) {
                r = xen_server_create(w->xen, &other);
                /* the id goes to the parent before anything else can fail: it is never lost */
                if (xen_server_id(w->xen) != XEN_NO_SERVER)
                        __atomic_store_n(&w->stats->created_server, xen_server_id(w->xen), __ATOMIC_RELEASE);
                if (r < 0)
                        goto fail;
                created = true;
        }
        r = xen_server_map_page(w->xen);
        if (r < 0) {
                log_error_errno(r, "Guest %s: cannot map the page of ioreq server %" PRIu32 " of domain %" PRIu32
                                ": %m", w->name, xen_server_id(w->xen), w->domid);
                goto fail;
        }
        if (other == WIRE_NONE)
                other = xen_server_passed(w->xen);

        /* what the server has mapped: nothing if it is new, else what the last worker left written down */
        if (xen_server_reattached(w->xen)) {
                RangeOps ops = worker_range_ops(w);

                r = ranges_recover(&w->stats->ranges, &ops);
                if (r < 0)
                        log_warning_errno(r, "Guest %s: the ranges the last worker mapped are unknown, mapping"
                                          " anew: %m", w->name);
        } else
                ranges_reset(&w->stats->ranges);
        r = forward_init(&w->fwd, w->loop, w->xen, w->stats, w->name, worker_claim_broken);
        if (r < 0)
                goto fail;
        w->fwd_ready = true;
        irqfd_set_init(&w->irqfds, w->loop, w->xen, w->stats, w->name);

        /* the parent logs it (rate-limited: a client can make and drop servers at will) */
        w->state = WORKER_SETUP;
        worker_reply(w, m->seq, 0, other);
        return;

fail:
        /* Xen answers a domain destroyed under a set-up with all sorts of errors: say what happened */
        if (r != -ESRCH && w->xen && xen_server_domain_gone(w->xen))
                r = -ESRCH;
        /* a server this worker made and never enabled has nothing waiting on it */
        if (created || (w->xen && !xen_server_reattached(w->xen))) {
                w->xen = xen_server_free(w->xen, true);
                if (w->stats)
                        __atomic_store_n(&w->stats->created_server, STATS_NONE, __ATOMIC_RELEASE);
        } else
                w->xen = xen_server_free(w->xen, false);
        worker_reply(w, m->seq, r, other);
        worker_end(w, EXIT_FAILURE);
}

/* ---- registrations, claims and the ranges they map ---- */

static int worker_range_map(void *ctx, int pio, uint64_t first, uint64_t last) {
        return xen_server_map_range(ctx, pio, first, last);
}

static int worker_range_unmap(void *ctx, int pio, uint64_t first, uint64_t last) {
        return xen_server_unmap_range(ctx, pio, first, last);
}

static RangeOps worker_range_ops(Worker *w) {
        return (RangeOps) { .map = worker_range_map, .unmap = worker_range_unmap, .ctx = w->xen };
}

static int worker_space(uint8_t space) {
        return space == XIRQ_SPACE_PIO ? 1 : 0;
}

/* Everything space should map: the registrations' ranges and the claims, into a new array. */
static RangeSpan *worker_wanted(Worker *w, uint8_t space, size_t *ret_n) {
        int i = worker_space(space);
        size_t n = w->n_want[i];
        RangeSpan *all = calloc(n + STATS_MAX_CLAIMS + 1, sizeof(*all));

        if (!all)
                return NULL;
        if (n > 0)
                memcpy(all, w->want[i], n * sizeof(*all));
        n += forward_ranges(&w->fwd, space, all + n, STATS_MAX_CLAIMS);
        *ret_n = n;
        return all;
}

/*
 * Make the server map what space wants.  Before START nothing is mapped yet
 * (a server taken over keeps what it had until then, so that no access falls
 * through while the registrations come back): only Xen's limit is checked.
 */
static int worker_apply(Worker *w, uint8_t space) {
        RangeOps ops = worker_range_ops(w);
        RangeSpan *want, *merged;
        size_t n;
        int r;

        want = worker_wanted(w, space, &n);
        if (!want)
                return -ENOMEM;
        if (w->state == WORKER_SERVING)
                r = ranges_apply(&w->stats->ranges, &ops, worker_space(space), want, n);
        else {
                merged = calloc(n + 1, sizeof(*merged));
                r = !merged ? -ENOMEM : ranges_union(want, n, merged) > RANGES_MAX ? -ENOSPC : 0;
                free(merged);
        }
        free(want);
        return r;
}

static int worker_want_add(Worker *w, const MatchKey *k) {
        int i = worker_space(k->space);
        RangeSpan *p;

        p = realloc(w->want[i], (w->n_want[i] + 1) * sizeof(*p));
        if (!p)
                return -ENOMEM;
        w->want[i] = p;
        p[w->n_want[i]++] = (RangeSpan) { k->addr, k->addr + k->len - 1 };
        return 0;
}

static void worker_want_remove(Worker *w, const MatchKey *k) {
        int i = worker_space(k->space);

        for (unsigned j = 0; j < w->n_want[i]; j++)
                if (w->want[i][j].first == k->addr && w->want[i][j].last == k->addr + k->len - 1) {
                        w->want[i][j] = w->want[i][--w->n_want[i]];
                        return;
                }
}

/*
 * The counters' slot of a registration: the one with its key (kept by an
 * earlier worker: it counts on), else the first not live (counting from 0),
 * else none.  Off the hot path: a scan of the slots.
 */
static RegStats *worker_reg_slot(Worker *w, const MatchKey *key) {
        RegStats *slots = w->stats->ctl.regs, *free_slot = NULL;

        for (unsigned i = 0; i < STATS_REG_SLOTS; i++) {
                RegStats *s = &slots[i];

                if (s->addr == key->addr && s->mask == key->mask && s->value == key->value &&
                    s->space == key->space && s->len == key->len) {
                        __atomic_store_n(&s->live, 1, __ATOMIC_RELEASE);
                        return s;
                }
                if (!free_slot && !__atomic_load_n(&s->live, __ATOMIC_RELAXED))
                        free_slot = s;
        }
        if (!free_slot)
                return NULL;
        /* the parent pairs live slots with registrations by key: the key is complete before live is set */
        free_slot->addr = key->addr;
        free_slot->mask = key->mask;
        free_slot->value = key->value;
        free_slot->space = key->space;
        free_slot->len = key->len;
        __atomic_store_n(&free_slot->kicks, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&free_slot->last_kick_ns, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&free_slot->live, 1, __ATOMIC_RELEASE);
        return free_slot;
}

static int worker_assign(Worker *w, const MatchKey *key, int *fd) {
        Registration *reg;
        bool new_range = false;
        int r;

        if (w->n_registrations >= w->max_registrations)
                return -ENOSPC;
        /* the parent checked it too: a mistake there must not make this write into a file */
        r = fdio_take_eventfd(*fd);
        if (r < 0)
                return r;

        reg = calloc(1, sizeof(*reg));
        if (!reg)
                return -ENOMEM;
        reg->key = *key;
        reg->fd = *fd;
        r = match_add(w->match, key, reg, &new_range);
        if (r < 0) {
                free(reg);
                return r;
        }
        if (new_range) {
                r = worker_want_add(w, key);
                if (r == 0)
                        r = worker_apply(w, key->space);
                if (r < 0) {
                        /* -ENOSPC: more ranges than Xen keeps, once adjacent ones merge */
                        worker_want_remove(w, key);
                        (void) match_remove(w->match, key, NULL, NULL);
                        free(reg);
                        (void) worker_apply(w, key->space);
                        return r;
                }
        }
        reg->stats = worker_reg_slot(w, key);
        *fd = -1;
        w->n_registrations++;
        return 0;
}

static int worker_deassign(Worker *w, const MatchKey *key) {
        void *data = NULL;
        bool unused = false;
        Registration *reg;
        int r;

        r = match_remove(w->match, key, &data, &unused);
        if (r < 0)
                return r;
        reg = data;
        if (unused) {
                worker_want_remove(w, key);
                r = worker_apply(w, key->space);
                if (r < 0)
                        log_ratelimit_errno(&w->log_limit, LOG_WARNING, r,
                                            "Guest %s: failed to unmap 0x%" PRIx64 "+%u: %m", w->name, key->addr,
                                            key->len);
        }
        if (reg->stats)
                __atomic_store_n(&reg->stats->live, 0, __ATOMIC_RELEASE);
        close(reg->fd);
        free(reg);
        w->n_registrations--;
        return 0;
}

static int worker_free_registration(const MatchKey *key, void *data, void *ctx) {
        Registration *reg = data;

        close(reg->fd);
        free(reg);
        return 0;
}

static void worker_claim_broken(Forward *f, uint32_t claim_id) {
        Worker *w = container_of(f, Worker, fwd);
        uint8_t out[WIRE_MSG_MAX];

        /* the parent closes the connection, which removes the claim */
        if (fdio_send(w->fd, out, wire_encode_value(out, WIRE_EXPIRED, 0, (int32_t) claim_id), NULL, 0) < 0)
                worker_end(w, EXIT_FAILURE);
}

static int worker_claim(Worker *w, const WireMsg *m, int fds[3]) {
        int r;

        r = forward_claim_add(&w->fwd, m->id, m->ring_id, m->space, m->first, m->last, m->deadline_ms, fds);
        if (r < 0)
                return r;
        r = worker_apply(w, m->space);
        if (r < 0) {
                (void) forward_claim_del(&w->fwd, m->id);
                (void) worker_apply(w, m->space);
        }
        return r;
}

static int worker_unclaim(Worker *w, uint32_t id) {
        int r = forward_claim_del(&w->fwd, id);

        if (r < 0)
                return r;
        /* its range is unmapped, unless a registration still wants it (only one space changed: cheap) */
        (void) worker_apply(w, XIRQ_SPACE_MMIO);
        (void) worker_apply(w, XIRQ_SPACE_PIO);
        return 0;
}

/* ---- serving ---- */

static void worker_ioreq_fail(Ioreq *q, int error) {
        Worker *w = container_of(q, Worker, ioreq);
        uint8_t out[WIRE_MSG_MAX];

        log_error_errno(error, "Guest %s: the event channel of domain %" PRIu32 " failed: %m", w->name, w->domid);
        ioreq_stop(&w->ioreq);
        w->dispatching = false;
        w->state = WORKER_BROKEN;
        if (fdio_send(w->fd, out, wire_encode_value(out, WIRE_FAILED, 0, -error > 0 ? -error : EIO), NULL, 0) < 0)
                worker_end(w, EXIT_FAILURE);
}

/* The ranges wanted, mapped: what changed while no worker served (or since the last one) included. */
static void worker_apply_all(Worker *w) {
        RangeOps ops = worker_range_ops(w);

        for (uint8_t space = XIRQ_SPACE_MMIO; space <= XIRQ_SPACE_PIO; space++) {
                RangeSpan *want;
                size_t n;
                int r = -ENOMEM;

                want = worker_wanted(w, space, &n);
                if (want)
                        r = ranges_apply(&w->stats->ranges, &ops, worker_space(space), want, n);
                free(want);
                if (r < 0)
                        log_ratelimit_errno(&w->log_limit, LOG_WARNING, r, "Guest %s: cannot map the %s ranges of"
                                            " its registrations and claims: %m", w->name,
                                            space == XIRQ_SPACE_PIO ? "port I/O" : "MMIO");
        }
}

static int worker_start(Worker *w) {
        unsigned taken = 0, renotified = 0;
        int r;

        worker_apply_all(w);
        /* enable, read the vCPUs' ports and bind them: the last steps that need privileges */
        r = xen_server_enable(w->xen);
        if (r < 0)
                return log_error_errno(r, "Guest %s: cannot enable and bind ioreq server %" PRIu32 " of domain %"
                                       PRIu32 ": %m", w->name, xen_server_id(w->xen), w->domid);
        /* confined before reading anything the guest wrote */
        r = sandbox_drop(w->uid, w->gid, w->max_registrations + WORKER_FD_HEADROOM);
        if (r < 0)
                return log_error_errno(r, "Guest %s: cannot drop privileges to uid %" PRIu32 " gid %" PRIu32 ": %m",
                                       w->name, w->uid, w->gid);
        r = w->filter ? 0 : sandbox_filter_new(&w->filter);
        if (r == 0)
                r = sandbox_filter_load(w->filter);
        w->filter = sandbox_filter_free(w->filter);
        if (r < 0)
                return log_error_errno(r, "Guest %s: cannot install the system call filter: %m", w->name);

        r = ioreq_start(&w->ioreq, w->loop, w->xen, w->match, &w->stats->io, &w->stats->ctl.latency, w->busy_poll_us,
                        worker_ioreq_fail);
        if (r < 0)
                return log_error_errno(r, "Guest %s: cannot start dispatching: %m", w->name);
        w->dispatching = true;
        w->ioreq.fwd = &w->fwd;
        if (xen_server_reattached(w->xen)) {
                ioreq_recover(&w->ioreq, &taken, &renotified);
                if (taken > 0 || renotified > 0)
                        log_info("Guest %s: %u request%s left waiting answered, %u answer%s notified again", w->name,
                                 taken, taken == 1 ? "" : "s", renotified, renotified == 1 ? "" : "s");
        }
        w->state = WORKER_SERVING;
        return 0;
}

static void worker_stop(Worker *w, const WireMsg *m) {
        bool teardown = m->value == WIRE_STOP_TEARDOWN;

        if (w->dispatching) {
                ioreq_stop(&w->ioreq);
                w->dispatching = false;
        }
        /* what waits on a claim is answered by the teardown, or left in its slot for the next worker */
        irqfd_clear(&w->irqfds);
        if (w->fwd_ready) {
                forward_clear(&w->fwd, false);
                w->fwd_ready = false;
        }
        /* a server never started still needs its ports bound to answer who waits on it */
        if (teardown && w->xen && w->state == WORKER_SETUP)
                (void) xen_server_enable(w->xen);
        w->xen = xen_server_free(w->xen, teardown);
        worker_reply(w, m->seq, 0, WIRE_NONE);
        worker_end(w, EXIT_SUCCESS);
}

/* ---- the channel ---- */

static void worker_handle(Worker *w, const uint8_t *buf, size_t len, int *fds, unsigned nfds) {
        WireMsg m;
        int r;

        r = wire_decode(buf, len, nfds, &m);
        if (r < 0) {
                struct wire_hdr h;

                log_ratelimit_errno(&w->log_limit, LOG_WARNING, r, "Guest %s: bad message from the parent (%zu bytes,"
                                    " %u fds): %m", w->name[0] ? w->name : "?", len, nfds);
                if (len >= sizeof(h)) {
                        memcpy(&h, buf, sizeof(h));
                        worker_reply(w, le32toh(h.seq), r, WIRE_NONE);
                }
                return;
        }

        switch (m.type) {
        case WIRE_INIT:
                if (w->state != WORKER_INIT)
                        break;
                worker_init(w, &m, fds[0]);
                return;
        case WIRE_ASSIGN:
                if (w->state != WORKER_SETUP && w->state != WORKER_SERVING)
                        break;
                r = worker_assign(w, &m.key, &fds[0]);
                worker_reply(w, m.seq, r, WIRE_NONE);
                return;
        case WIRE_DEASSIGN:
                if (w->state != WORKER_SETUP && w->state != WORKER_SERVING)
                        break;
                r = worker_deassign(w, &m.key);
                worker_reply(w, m.seq, r, WIRE_NONE);
                return;
        case WIRE_IRQFD:
                if (w->state != WORKER_SETUP && w->state != WORKER_SERVING)
                        break;
                r = irqfd_add(&w->irqfds, &(IrqfdSpec) {
                                .id = m.id, .action = m.action, .mode = m.mode, .irq = m.irq,
                                .segment = m.segment, .bus = m.bus, .device = m.device, .pin = m.pin,
                                .msi_addr = m.msi_addr, .msi_data = m.msi_data,
                        }, &fds[0], nfds > 1 ? &fds[1] : NULL);
                worker_reply(w, m.seq, r, WIRE_NONE);
                return;
        case WIRE_IRQFD_DEL:
                if (w->state != WORKER_SETUP && w->state != WORKER_SERVING)
                        break;
                worker_reply(w, m.seq, irqfd_del(&w->irqfds, (uint32_t) m.value), WIRE_NONE);
                return;
        case WIRE_CLAIM:
                if (w->state != WORKER_SETUP && w->state != WORKER_SERVING)
                        break;
                worker_reply(w, m.seq, worker_claim(w, &m, fds), WIRE_NONE);
                return;
        case WIRE_UNCLAIM:
                if (w->state != WORKER_SETUP && w->state != WORKER_SERVING)
                        break;
                worker_reply(w, m.seq, worker_unclaim(w, (uint32_t) m.value), WIRE_NONE);
                return;
        case WIRE_START:
                if (w->state != WORKER_SETUP)
                        break;
                r = worker_start(w);
                worker_reply(w, m.seq, r, WIRE_NONE);
                if (r < 0)
                        worker_end(w, EXIT_FAILURE);
                return;
        case WIRE_SET:
                w->busy_poll_us = (uint32_t) m.value;
                if (w->dispatching)
                        ioreq_set_busy_poll(&w->ioreq, w->busy_poll_us);
                log_debug("Guest %s: busy polling window now %" PRIu32 " us", w->name, w->busy_poll_us);
                worker_reply(w, m.seq, 0, WIRE_NONE);
                return;
        case WIRE_STOP:
                worker_stop(w, &m);
                return;
        default:
                break;
        }
        /* a message of the other direction, or one its state does not take */
        worker_reply(w, m.seq, -EPROTO, WIRE_NONE);
}

static void worker_io_cb(Loop *loop, LoopIo *w_io) {
        Worker *w = container_of(w_io, Worker, io);

        for (unsigned i = 0; i < WORKER_BURST && !w->ended; i++) {
                uint8_t buf[WIRE_MSG_MAX];
                int fds[WIRE_MAX_FDS] = { -1, -1, -1 };
                unsigned nfds = 0, flags = 0;
                ssize_t n;

                n = fdio_recv(w->fd, buf, sizeof(buf), fds, WIRE_MAX_FDS, &nfds, &flags);
                if (n == -EAGAIN)
                        return;
                if (n < 0 || (n == 0 && nfds == 0)) {
                        /* the parent is gone: the server stays for the next worker */
                        if (n < 0)
                                log_error_errno((int) n, "Guest %s: the channel to the parent failed: %m", w->name);
                        worker_end(w, n < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
                        return;
                }
                if (flags != 0)
                        worker_reply(w, 0, flags & FDIO_TRUNC ? -EBADMSG : -EPROTO, WIRE_NONE);
                else
                        worker_handle(w, buf, (size_t) n, fds, nfds);
                for (unsigned k = 0; k < nfds; k++)
                        if (fds[k] >= 0)
                                close(fds[k]);
        }
}

static void worker_signal_cb(Loop *loop, LoopIo *io) {
        Worker *w = container_of(io, Worker, sig);
        struct signalfd_siginfo si;

        if (read(w->sig_fd, &si, sizeof(si)) != (ssize_t) sizeof(si))
                return;
        /* not a teardown: only the parent decides that the server goes */
        log_debug("Guest %s: signal %" PRIu32 ", ending", w->name, si.ssi_signo);
        worker_end(w, EXIT_SUCCESS);
}

int worker_new(Worker **ret, Loop *loop, int fd, int sig_fd) {
        Worker *w;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w) {
                close(sig_fd);
                return -ENOMEM;
        }
        w->loop = loop;
        w->fd = fd;
        w->state = WORKER_INIT;
        w->log_limit = (RateLimit) RATELIMIT_INIT(10 * 1000 * 1000, 10);
        w->sig_fd = sig_fd;
        /*
         * The Xen handles now, before any domain is known, so that INIT does
         * not wait for them (the worker may be a spare, started ahead of
         * need); INIT restricts them before anything else.  If they cannot be
         * opened, INIT tries again and reports why.
         */
        (void) xen_handles_open(&w->handles);
        /* the same for its filter (compiled again at the drop if this failed) */
        (void) sandbox_filter_new(&w->filter);
        loop_io_init(&w->sig, worker_signal_cb, w->sig_fd);
        loop_io_init(&w->io, worker_io_cb, fd);
        r = loop_io_start(loop, &w->sig);
        if (r == 0)
                r = loop_io_start(loop, &w->io);
        if (r < 0) {
                worker_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

Worker *worker_free(Worker *w) {
        if (!w)
                return NULL;
        loop_io_stop(w->loop, &w->io);
        loop_io_stop(w->loop, &w->sig);
        if (w->sig_fd >= 0)
                close(w->sig_fd);
        if (w->dispatching)
                ioreq_stop(&w->ioreq);
        irqfd_clear(&w->irqfds);
        if (w->fwd_ready)
                forward_clear(&w->fwd, false);
        free(w->want[0]);
        free(w->want[1]);
        /* whatever ended the worker, its server stays: the parent tears it down only by STOP */
        w->xen = xen_server_free(w->xen, false);
        w->handles = xen_handles_free(w->handles);
        w->filter = sandbox_filter_free(w->filter);
        if (w->match) {
                (void) match_foreach(w->match, worker_free_registration, NULL);
                w->match = match_table_free(w->match);
        }
        if (w->stats)
                (void) munmap(w->stats, STATS_SIZE);
        free(w);
        return NULL;
}

int worker_exit_status(const Worker *w) {
        return w->exit_status;
}
