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
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"
#include "ioreq.h"
#include "log.h"
#include "match.h"
#include "sandbox.h"
#include "stats.h"
#include "wire.h"
#include "worker.h"
#include "xen.h"
#include "xenioreqd/protocol.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

#define WORKER_BURST            32u     /* messages handled per wake-up */
#define WORKER_FD_HEADROOM      64u     /* descriptors besides the registrations' */

typedef enum WorkerState {
        WORKER_INIT,                    /* waiting for INIT */
        WORKER_SETUP,                   /* server ready, not serving yet */
        WORKER_SERVING,
        WORKER_BROKEN,                  /* the event channel failed: waiting for STOP */
} WorkerState;

struct Worker {
        struct ev_loop *loop;
        int fd;
        ev_io io;
        ev_signal sig_term, sig_int;
        WorkerState state;
        int exit_status;
        bool ended;

        char name[WIRE_NAME_MAX + 1];
        uint32_t domid;
        uint32_t uid, gid;
        uint32_t busy_poll_us;
        uint32_t max_registrations;

        GuestStats *stats;              /* the parent's memfd, mapped */
        XenServer *xen;
        MatchTable *match;
        unsigned n_registrations;
        Ioreq ioreq;
        bool dispatching;
        RateLimit log_limit;
};

static void worker_end(Worker *w, int status) {
        if (w->ended)
                return;
        w->ended = true;
        w->exit_status = status;
        ev_io_stop(w->loop, &w->io);
        ev_break(w->loop, EVBREAK_ALL);
}

static void worker_reply(Worker *w, uint32_t seq, int error, uint32_t other, uint32_t range) {
        uint8_t out[WIRE_MSG_MAX];
        size_t n;
        int r;

        n = wire_encode_reply(out, seq, error, w->xen ? xen_server_id(w->xen) : WIRE_NONE,
                              w->xen && w->state != WORKER_INIT ? xen_server_nr_vcpus(w->xen) : 0, other, range);
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
        r = xen_server_open(&w->xen, w->domid);
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

        /* the parent logs it (rate-limited: a client can make and drop servers at will) */
        w->state = WORKER_SETUP;
        worker_reply(w, m->seq, 0, other, 0);
        return;

fail:
        /* a server this worker made and never enabled has nothing waiting on it */
        if (created || (w->xen && !xen_server_reattached(w->xen))) {
                w->xen = xen_server_free(w->xen, true);
                if (w->stats)
                        __atomic_store_n(&w->stats->created_server, STATS_NONE, __ATOMIC_RELEASE);
        } else
                w->xen = xen_server_free(w->xen, false);
        worker_reply(w, m->seq, r, other, 0);
        worker_end(w, EXIT_FAILURE);
}

/* ---- registrations ---- */

static int worker_map(Worker *w, const MatchKey *k) {
        int r = xen_server_map_range(w->xen, k->space == XIRQ_SPACE_PIO, k->addr, k->addr + k->len - 1);

        /* a range is mapped whole or not at all: EEXIST is one an earlier worker mapped */
        return r == -EEXIST ? 0 : r;
}

static int worker_unmap(Worker *w, uint8_t space, uint64_t first, uint64_t last) {
        int r = xen_server_unmap_range(w->xen, space == XIRQ_SPACE_PIO, first, last);

        return r == -ENOENT ? 0 : r;
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

static int worker_assign(Worker *w, const MatchKey *key, int *fd, bool *ret_new_range) {
        Registration *reg;
        bool new_range = false;
        int flags, r;

        if (w->n_registrations >= w->max_registrations)
                return -ENOSPC;
        /* the parent checked it too: a mistake there must not make this write into a file */
        r = fdio_check_eventfd(*fd);
        if (r < 0)
                return r;
        flags = fcntl(*fd, F_GETFL);
        if (flags < 0)
                return -errno;
        if (!(flags & O_NONBLOCK) && fcntl(*fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;

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
                r = worker_map(w, key);
                if (r < 0) {
                        (void) match_remove(w->match, key, NULL, NULL);
                        free(reg);
                        return r;
                }
        }
        reg->stats = worker_reg_slot(w, key);
        *fd = -1;
        w->n_registrations++;
        *ret_new_range = new_range;
        return 0;
}

static int worker_deassign(Worker *w, const MatchKey *key, bool *ret_unmapped) {
        void *data = NULL;
        bool unused = false;
        Registration *reg;
        int r;

        r = match_remove(w->match, key, &data, &unused);
        if (r < 0)
                return r;
        reg = data;
        *ret_unmapped = false;
        if (unused) {
                r = worker_unmap(w, key->space, key->addr, key->addr + key->len - 1);
                if (r < 0)
                        log_ratelimit_errno(&w->log_limit, LOG_WARNING, r,
                                            "Guest %s: failed to unmap 0x%" PRIx64 "+%u: %m", w->name, key->addr,
                                            key->len);
                else
                        *ret_unmapped = true;
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

static int worker_start(Worker *w) {
        unsigned taken = 0, renotified = 0;
        int r;

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
        r = sandbox_seccomp();
        if (r < 0)
                return log_error_errno(r, "Guest %s: cannot install the system call filter: %m", w->name);

        r = ioreq_start(&w->ioreq, w->loop, w->xen, w->match, &w->stats->io, &w->stats->ctl.latency, w->busy_poll_us,
                        worker_ioreq_fail);
        if (r < 0)
                return log_error_errno(r, "Guest %s: cannot start dispatching: %m", w->name);
        w->dispatching = true;
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
        /* a server never started still needs its ports bound to answer who waits on it */
        if (teardown && w->xen && w->state == WORKER_SETUP)
                (void) xen_server_enable(w->xen);
        w->xen = xen_server_free(w->xen, teardown);
        worker_reply(w, m->seq, 0, WIRE_NONE, 0);
        worker_end(w, EXIT_SUCCESS);
}

/* ---- the channel ---- */

static void worker_handle(Worker *w, const uint8_t *buf, size_t len, int *fds, unsigned nfds) {
        WireMsg m;
        bool range = false;
        int r;

        r = wire_decode(buf, len, nfds, &m);
        if (r < 0) {
                struct wire_hdr h;

                log_ratelimit_errno(&w->log_limit, LOG_WARNING, r, "Guest %s: bad message from the parent (%zu bytes,"
                                    " %u fds): %m", w->name[0] ? w->name : "?", len, nfds);
                if (len >= sizeof(h)) {
                        memcpy(&h, buf, sizeof(h));
                        worker_reply(w, le32toh(h.seq), r, WIRE_NONE, 0);
                }
                return;
        }

        switch (m.type) {
        case WIRE_INIT:
                if (w->state != WORKER_INIT)
                        break;
                worker_init(w, &m, fds[0]);
                return;
        case WIRE_STALE:
                if (w->state != WORKER_SETUP)
                        break;
                r = worker_unmap(w, m.space, m.first, m.last);
                worker_reply(w, m.seq, r, WIRE_NONE, r == 0);
                return;
        case WIRE_ASSIGN:
                if (w->state != WORKER_SETUP && w->state != WORKER_SERVING)
                        break;
                r = worker_assign(w, &m.key, &fds[0], &range);
                worker_reply(w, m.seq, r, WIRE_NONE, range);
                return;
        case WIRE_DEASSIGN:
                if (w->state != WORKER_SETUP && w->state != WORKER_SERVING)
                        break;
                r = worker_deassign(w, &m.key, &range);
                worker_reply(w, m.seq, r, WIRE_NONE, range);
                return;
        case WIRE_START:
                if (w->state != WORKER_SETUP)
                        break;
                r = worker_start(w);
                worker_reply(w, m.seq, r, WIRE_NONE, 0);
                if (r < 0)
                        worker_end(w, EXIT_FAILURE);
                return;
        case WIRE_SET:
                w->busy_poll_us = (uint32_t) m.value;
                if (w->dispatching)
                        ioreq_set_busy_poll(&w->ioreq, w->busy_poll_us);
                worker_reply(w, m.seq, 0, WIRE_NONE, 0);
                return;
        case WIRE_STOP:
                worker_stop(w, &m);
                return;
        default:
                break;
        }
        /* a message of the other direction, or one its state does not take */
        worker_reply(w, m.seq, -EPROTO, WIRE_NONE, 0);
}

static void worker_io_cb(struct ev_loop *loop, ev_io *w_io, int revents) {
        Worker *w = container_of(w_io, Worker, io);

        for (unsigned i = 0; i < WORKER_BURST && !w->ended; i++) {
                uint8_t buf[WIRE_MSG_MAX];
                int fds[2];
                unsigned nfds = 0, flags = 0;
                ssize_t n;

                n = fdio_recv(w->fd, buf, sizeof(buf), fds, 2, &nfds, &flags);
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
                        worker_reply(w, 0, flags & FDIO_TRUNC ? -EBADMSG : -EPROTO, WIRE_NONE, 0);
                else
                        worker_handle(w, buf, (size_t) n, fds, nfds);
                for (unsigned k = 0; k < nfds; k++)
                        if (fds[k] >= 0)
                                close(fds[k]);
        }
}

static void worker_signal_cb(struct ev_loop *loop, ev_signal *s, int revents) {
        Worker *w = s->signum == SIGINT ? container_of(s, Worker, sig_int) : container_of(s, Worker, sig_term);

        /* not a teardown: only the parent decides that the server goes */
        log_debug("Guest %s: signal %d, ending", w->name, s->signum);
        worker_end(w, EXIT_SUCCESS);
}

int worker_new(Worker **ret, struct ev_loop *loop, int fd) {
        Worker *w;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->loop = loop;
        w->fd = fd;
        w->state = WORKER_INIT;
        w->log_limit = (RateLimit) RATELIMIT_INIT(10 * 1000 * 1000, 10);
        ev_io_init(&w->io, worker_io_cb, fd, EV_READ);
        ev_io_start(loop, &w->io);
        ev_signal_init(&w->sig_term, worker_signal_cb, SIGTERM);
        ev_signal_init(&w->sig_int, worker_signal_cb, SIGINT);
        ev_signal_start(loop, &w->sig_term);
        ev_signal_start(loop, &w->sig_int);
        *ret = w;
        return 0;
}

Worker *worker_free(Worker *w) {
        if (!w)
                return NULL;
        ev_io_stop(w->loop, &w->io);
        ev_signal_stop(w->loop, &w->sig_term);
        ev_signal_stop(w->loop, &w->sig_int);
        if (w->dispatching)
                ioreq_stop(&w->ioreq);
        /* whatever ended the worker, its server stays: the parent tears it down only by STOP */
        w->xen = xen_server_free(w->xen, false);
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
