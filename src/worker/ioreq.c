/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "ioreq.h"
#include "xenioreqd/protocol.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

/*
 * Longest spin of one busy-poll turn: between two turns the loop serves
 * every other watcher, so this bounds what one guest's polling adds to the
 * wait of another guest's event (or of a client).
 */
#define IOREQ_POLL_SLICE_NS     UINT64_C(5000)

static uint64_t ioreq_clock_ns(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

static uint64_t ioreq_now_ns(void) {
        return ioreq_clock_ns(CLOCK_MONOTONIC);
}

/* a hint to the CPU inside a spin (and to its sibling hyperthread) */
static inline void ioreq_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Outcome of validating one request. */
typedef enum IoreqClass {
        IOREQ_CLASS_WRITE,
        IOREQ_CLASS_READ,
        IOREQ_CLASS_OTHER,
        IOREQ_CLASS_INVALID,
} IoreqClass;

static const char *ioreq_check(const Ioreq *q, unsigned vcpu, const XenIoreq *r, IoreqClass *ret) {
        if (r->state != XEN_IOREQ_STATE_READY)
                return "state";
        if (r->vp_eport != xen_server_vp_eport(q->xen, vcpu))
                return "vp_eport";

        switch (r->type) {
        case XEN_IOREQ_TYPE_PIO:
        case XEN_IOREQ_TYPE_COPY:
                break;
        case XEN_IOREQ_TYPE_INVALIDATE:
        case XEN_IOREQ_TYPE_TIMEOFFSET:
        case XEN_IOREQ_TYPE_PCI_CONFIG:
                *ret = IOREQ_CLASS_OTHER;
                return NULL;
        default:
                return "type";
        }

        if (r->size != 1 && r->size != 2 && r->size != 4 && r->size != 8)
                return "size";
        /* rep string operations (count > 1, or data in guest memory) are never ioeventfd kicks */
        if (r->count != 1)
                return "count";
        if (r->data_is_ptr)
                return "data_is_ptr";
        /* df only orders the elements of a rep operation: meaningless for one access */
        if (r->type == XEN_IOREQ_TYPE_PIO) {
                if (r->addr > 0xffff || r->addr + r->size > 0x10000)
                        return "addr";
        } else if (r->addr + r->size < r->addr) {
                return "addr";
        }

        *ret = r->dir == XEN_IOREQ_READ ? IOREQ_CLASS_READ : IOREQ_CLASS_WRITE;
        return NULL;
}

static void ioreq_log_invalid(Ioreq *q, unsigned vcpu, const XenIoreq *r, const char *field) {
        log_ratelimit(&q->invalid_log, LOG_DEBUG,
                      "Domain %" PRIu32 " vCPU %u: invalid ioreq (bad %s): state=%u type=%u dir=%u addr=0x%" PRIx64
                      " size=%" PRIu32 " count=%" PRIu32 " data_is_ptr=%u df=%u vp_eport=%" PRIu32 ", completed",
                      xen_server_domid(q->xen), vcpu, field, r->state, r->type, r->dir, r->addr, r->size,
                      r->count, r->data_is_ptr, r->df, r->vp_eport);
}

/* Signal the eventfds and answer the requests taken since the last flush, in that order. */
static void ioreq_flush(Ioreq *q) {
        for (unsigned i = 0; i < q->n_signals; i++)
                /* EAGAIN: the counter is as full as it gets; the backend, once it reads, sees a kick */
                if (write(q->signals[i].fd, &q->signals[i].count, sizeof(q->signals[i].count)) < 0) {
                        stats_add(&q->stats->saturated, q->signals[i].count);
                        log_ratelimit(&q->saturated_log, LOG_WARNING, "Domain %" PRIu32 ": %" PRIu64 " kick%s found"
                                      " an eventfd whose counter is full (its backend does not read it): they"
                                      " coalesce with the kicks it has not read", xen_server_domid(q->xen),
                                      q->signals[i].count, q->signals[i].count == 1 ? "" : "s");
                }
        q->n_signals = 0;
        if (q->fwd)
                forward_flush(q->fwd);
        for (unsigned i = 0; i < q->n_answers; i++)
                (void) xen_server_complete(q->xen, q->answers[i].vcpu, q->answers[i].set_data, q->answers[i].data);
        q->n_answers = 0;
}

/* The batch's kicks are answered: one latency sample each, one clock read for all of them. */
static void ioreq_batch_done(Ioreq *q) {
        uint64_t now;

        if (q->batch_kicks == 0)
                return;
        now = ioreq_clock_ns(CLOCK_REALTIME);
        /* both ends read CLOCK_REALTIME: a clock step backwards counts as 0 */
        stats_hist_add(q->latency, now > q->wake_ns ? now - q->wake_ns : 0, q->batch_kicks);
        q->batch_kicks = 0;
}

/* The loop's time of this wake-up (CLOCK_REALTIME, read by the loop after its wait: no clock read here). */
static void ioreq_batch_begin(Ioreq *q) {
        q->wake_ns = loop_now_realtime(q->loop);
}

static void ioreq_answer(Ioreq *q, unsigned vcpu, bool set_data, uint64_t data) {
        q->answers[q->n_answers++] = (IoreqAnswer) { .vcpu = vcpu, .set_data = set_data, .data = data };
}

static void ioreq_signal(Ioreq *q, int fd) {
        /* kicks of one queue from several vCPUs come together: look back a little, not at all */
        for (unsigned i = q->n_signals, k = 0; i > 0 && k < 4; i--, k++)
                if (q->signals[i - 1].fd == fd) {
                        q->signals[i - 1].count++;
                        return;
                }
        q->signals[q->n_signals++] = (IoreqSignal) { .fd = fd, .count = 1 };
}

/* Validate a request taken from vCPU's slot and queue its answer (and its eventfd signal) for the next flush. */
static void ioreq_handle(Ioreq *q, unsigned vcpu, const XenIoreq *req) {
        XenIoreq r = *req;
        IoreqClass class = IOREQ_CLASS_INVALID;
        const char *bad;
        const Registration *reg;
        ForwardResult fr;
        uint8_t space;

        bad = ioreq_check(q, vcpu, &r, &class);
        if (bad)
                class = IOREQ_CLASS_INVALID;

        switch (class) {
        case IOREQ_CLASS_WRITE:
                space = r.type == XEN_IOREQ_TYPE_PIO ? XIRQ_SPACE_PIO : XIRQ_SPACE_MMIO;
                reg = match_lookup(q->match, space, r.addr, (uint8_t) r.size, r.data);
                if (reg) {
                        ioreq_signal(q, reg->fd);
                        stats_add(&q->stats->kicks, 1);
                        q->batch_kicks++;
                        if (reg->stats) {
                                stats_add(&reg->stats->kicks, 1);
                                __atomic_store_n(&reg->stats->last_kick_ns, q->wake_ns, __ATOMIC_RELAXED);
                        }
                } else if (q->fwd && q->fwd->n > 0) {
                        /* not a kick: its claim's backend answers it (the vCPU waits until then) */
                        fr = forward_access(q->fwd, vcpu, space, false, r.addr, (uint8_t) r.size, r.data);
                        if (fr == FORWARD_POSTED)
                                return;
                        if (fr == FORWARD_NONE)
                                stats_add(&q->stats->unmatched, 1);
                } else
                        stats_add(&q->stats->unmatched, 1);
                ioreq_answer(q, vcpu, false, 0);
                return;

        case IOREQ_CLASS_READ:
                space = r.type == XEN_IOREQ_TYPE_PIO ? XIRQ_SPACE_PIO : XIRQ_SPACE_MMIO;
                fr = q->fwd && q->fwd->n > 0 ?
                     forward_access(q->fwd, vcpu, space, true, r.addr, (uint8_t) r.size, 0) : FORWARD_NONE;
                if (fr == FORWARD_POSTED)
                        return;
                if (fr == FORWARD_REFUSED) {
                        /* a claim that cannot answer reads like no device: all-ones */
                        ioreq_answer(q, vcpu, true, ~UINT64_C(0));
                        return;
                }
                stats_add(&q->stats->reads, 1);
                ioreq_answer(q, vcpu, true, 0);
                return;

        case IOREQ_CLASS_OTHER:
                stats_add(&q->stats->other, 1);
                break;

        case IOREQ_CLASS_INVALID:
                stats_add(&q->stats->invalid, 1);
                ioreq_log_invalid(q, vcpu, &r, bad ? bad : "class");
                break;
        }

        /* no device answers: reads see all-ones, data in guest memory is left alone */
        ioreq_answer(q, vcpu, r.dir == XEN_IOREQ_READ && !r.data_is_ptr, ~UINT64_C(0));
}

/* Make room in the pass for one more answer. */
static void ioreq_room(Ioreq *q) {
        /*
         * A vCPU has one request in flight, so a pass takes at most one per
         * vCPU; a guest rewriting READY in a slot it has not had answered
         * yet could make it more: answer what is queued first.
         */
        if (q->n_answers == q->max_pass)
                ioreq_flush(q);
}

/*
 * Take vCPU's request if its slot is READY, validate it and queue its
 * answer (and its eventfd signal) for the next flush; false if there was
 * none.
 */
static bool ioreq_take(Ioreq *q, unsigned vcpu) {
        XenIoreq r;

        ioreq_room(q);
        /* not READY: a spurious event (there is one right after every bind), or taken by polling */
        if (!xen_server_take(q->xen, vcpu, &r))
                return false;
        ioreq_handle(q, vcpu, &r);
        return true;
}

void ioreq_recover(Ioreq *q, unsigned *ret_taken, unsigned *ret_renotified) {
        unsigned taken = 0, renotified = 0;

        ioreq_batch_begin(q);
        for (unsigned v = 0; v < xen_server_nr_vcpus(q->xen); v++) {
                XenIoreq r;
                bool answered;

                ioreq_room(q);
                if (xen_server_take_left(q->xen, v, &r, &answered)) {
                        ioreq_handle(q, v, &r);
                        taken++;
                } else if (answered)
                        renotified++;
        }
        ioreq_flush(q);
        ioreq_batch_done(q);
        *ret_taken = taken;
        *ret_renotified = renotified;
}

/* A request was taken: (re)open the busy-poll window, timed from the next turn. */
static void ioreq_activity(Ioreq *q) {
        if (q->busy_poll_us == 0)
                return;
        q->poll_restart = true;
        loop_idle_start(q->loop, &q->poll);
}

void ioreq_dispatch(Ioreq *q) {
        bool taken = false;
        int error = 0;

        /*
         * Bounded work per wake-up: a guest that floods its ports (or sends
         * events with nothing READY) must not keep the loop from other
         * guests.  What is left stays queued on the fd, which stays
         * readable, so the level-triggered watcher comes back to it after
         * the other ready watchers have run.
         */
        ioreq_batch_begin(q);
        for (unsigned n = 0; n < q->budget; n++) {
                int port, vcpu;

                port = xen_server_pending(q->xen);
                if (port < 0) {
                        if (port == -EAGAIN)
                                break;
                        if (port == -EINTR)
                                continue;
                        error = port;
                        break;
                }
                /* unmask first: an event for a request sent after this one must not be lost */
                (void) xen_server_unmask(q->xen, (uint32_t) port);

                vcpu = xen_server_port_vcpu(q->xen, (uint32_t) port);
                if (vcpu >= 0 && ioreq_take(q, (unsigned) vcpu))
                        taken = true;

                /*
                 * No other slot READY: no request is waiting for its event to
                 * be read, so go back to the loop instead of asking for the
                 * next port only to hear EAGAIN (a system call per wake-up).
                 * A port still queued (spurious, or for a request made READY
                 * since) keeps the fd readable and brings the loop back here.
                 */
                if (xen_server_next_ready(q->xen, 0) < 0)
                        break;
        }
        /* what was taken is answered, even when the event channel just failed */
        ioreq_flush(q);
        ioreq_batch_done(q);
        if (error < 0) {
                q->fail(q, error);
                return;
        }
        if (taken)
                ioreq_activity(q);
}

static void ioreq_io_cb(Loop *loop, LoopIo *w) {
        Ioreq *q = container_of(w, Ioreq, io);

        ioreq_dispatch(q);
}

/*
 * One busy-poll turn, run by the loop when no other watcher is pending (the
 * loop does not sleep while this watcher is active).  Spin on the slots for
 * at most IOREQ_POLL_SLICE_NS; requests found are taken and answered like
 * those announced by an event, and the turn ends at once so that their
 * events, other guests and clients are served before the next turn.
 */
static void ioreq_poll_cb(Loop *loop, LoopIdle *w) {
        Ioreq *q = container_of(w, Ioreq, poll);
        uint64_t now = ioreq_now_ns(), window = (uint64_t) q->busy_poll_us * 1000u, end;
        unsigned nr = xen_server_nr_vcpus(q->xen);

        if (q->poll_restart) {
                q->poll_restart = false;
                q->poll_until = now + window;
        }
        if (now >= q->poll_until) {
                /* the window passed without a request: sleep on the event channel again */
                loop_idle_stop(loop, w);
                return;
        }
        end = now + IOREQ_POLL_SLICE_NS < q->poll_until ? now + IOREQ_POLL_SLICE_NS : q->poll_until;

        for (;;) {
                int vcpu = xen_server_next_ready(q->xen, 0);

                if (vcpu >= 0) {
                        bool taken = false;

                        ioreq_batch_begin(q);
                        /* one pass over the slots: a guest rewriting READY cannot hold this turn */
                        for (unsigned n = 0; vcpu >= 0 && n < nr; n++) {
                                if (ioreq_take(q, (unsigned) vcpu))
                                        taken = true;
                                vcpu = xen_server_next_ready(q->xen, (unsigned) vcpu + 1);
                        }
                        ioreq_flush(q);
                        ioreq_batch_done(q);
                        if (taken)
                                q->poll_until = ioreq_now_ns() + window;
                        return;
                }
                ioreq_cpu_relax();
                if (ioreq_now_ns() >= end)
                        return;
        }
}

int ioreq_start(Ioreq *q, Loop *loop, XenServer *xen, const MatchTable *match, IoreqStats *stats,
                LatencyHist *latency, uint32_t busy_poll_us, IoreqFailFn fail) {
        int fd = xen_server_fd(xen);
        unsigned nr = xen_server_nr_vcpus(xen);
        IoreqAnswer *answers;
        IoreqSignal *signals;
        int r;

        if (fd < 0)
                return -EBADF;
        answers = calloc(nr, sizeof(*answers));
        signals = calloc(nr, sizeof(*signals));
        if (!answers || !signals) {
                free(answers);
                free(signals);
                return -ENOMEM;
        }

        *q = (Ioreq) {
                .loop = loop,
                .xen = xen,
                .match = match,
                .stats = stats,
                .latency = latency,
                .fail = fail,
                .budget = 2 * xen_server_nr_vcpus(xen) + 64,
                .busy_poll_us = busy_poll_us,
                .answers = answers,
                .signals = signals,
                .max_pass = nr,
                .invalid_log = RATELIMIT_INIT(10 * 1000 * 1000, 10),
                .saturated_log = RATELIMIT_INIT(10 * 1000 * 1000, 5),
        };
        loop_io_init(&q->io, ioreq_io_cb, fd);
        loop_idle_init(&q->poll, ioreq_poll_cb);
        /* events that arrived before this are queued on the fd: it is readable */
        r = loop_io_start(loop, &q->io);
        if (r < 0) {
                free(answers);
                free(signals);
                q->answers = NULL;
                q->signals = NULL;
                q->loop = NULL;
        }
        return r;
}

void ioreq_set_busy_poll(Ioreq *q, uint32_t busy_poll_us) {
        uint64_t until;

        q->busy_poll_us = busy_poll_us;
        if (!q->loop || !q->poll.active)
                return;
        if (busy_poll_us == 0) {
                loop_idle_stop(q->loop, &q->poll);
                return;
        }
        /* a shorter window applies to the one running */
        until = ioreq_now_ns() + (uint64_t) busy_poll_us * 1000u;
        if (until < q->poll_until)
                q->poll_until = until;
}

void ioreq_stop(Ioreq *q) {
        if (q->loop) {
                loop_idle_stop(q->loop, &q->poll);
                loop_io_stop(q->loop, &q->io);
        }
        free(q->answers);
        free(q->signals);
        q->answers = NULL;
        q->signals = NULL;
        q->n_answers = q->n_signals = 0;
        q->xen = NULL;
        q->match = NULL;
}
