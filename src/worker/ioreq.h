/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The hot path: one guest's ioreq dispatch.  One LoopIo on the guest's
 * event-channel fd; every wake-up drains the pending ports, takes each
 * vCPU's request once and validates it; then it signals the matching
 * eventfds (one write per eventfd and pass, adding up its kicks) and
 * completes every request taken.  Nothing here allocates after start, and
 * every request that reaches the server is answered.
 *
 * Adaptive busy-poll (busy_poll_us > 0): once a request has been taken, an
 * idle callback also looks at the guest's slots for IOREQ_READY, in short
 * bounded spins between which the loop serves every other watcher, until
 * busy_poll_us pass without a request.  A request found that way is taken
 * and answered exactly as one announced by its event (which is still
 * drained and unmasked when it arrives, and then finds nothing to take).
 */
#ifndef XENIOREQD_IOREQ_H
#define XENIOREQD_IOREQ_H

#include <stdbool.h>
#include <stdint.h>
#include "loop.h"

#include "forward.h"
#include "log.h"
#include "match.h"
#include "stats.h"
#include "xen.h"

/* The userdata of a match table entry: what a matching guest write signals. */
typedef struct Registration {
        MatchKey key;
        int fd;                                 /* eventfd, non-blocking */
        RegStats *stats;                        /* its slot in the stats memfd, NULL if none was free */
} Registration;

typedef struct Ioreq Ioreq;

/* A request taken in the current pass, answered once the pass's eventfds are signalled. */
typedef struct IoreqAnswer {
        uint64_t data;
        uint32_t vcpu;
        bool set_data;
} IoreqAnswer;

/* An eventfd to signal at the end of the pass, with the kicks it collected. */
typedef struct IoreqSignal {
        int fd;
        uint64_t count;
} IoreqSignal;

/* Called when the event channel fails beyond repair; the owner must stop the Ioreq. */
typedef void (*IoreqFailFn)(Ioreq *q, int error);

struct Ioreq {
        LoopIo io;
        LoopIdle poll;                   /* active while the busy-poll window is open */
        Loop *loop;
        XenServer *xen;
        const MatchTable *match;
        IoreqFailFn fail;
        unsigned budget;                /* ports handled per wake-up */
        uint32_t busy_poll_us;          /* 0: sleep on the event channel only */
        bool poll_restart;              /* a request was taken: the window starts again */
        uint64_t poll_until;            /* end of the window, CLOCK_MONOTONIC ns */
        IoreqAnswer *answers;           /* nr_vcpus entries */
        IoreqSignal *signals;           /* nr_vcpus entries */
        unsigned n_answers, n_signals, max_pass;
        IoreqStats *stats;              /* in the guest's stats memfd */
        Forward *fwd;                   /* claims (NULL: none): accesses no registration takes go there */
        LatencyHist *latency;           /* there too */
        uint64_t wake_ns;               /* when this batch began (CLOCK_REALTIME) */
        uint64_t batch_kicks;           /* kicks in this batch, for the histogram */
        RateLimit invalid_log;
        RateLimit saturated_log;
};

/*
 * Start dispatching an enabled, bound server, counting into stats.
 * busy_poll_us: the adaptive polling window (0: never poll).  -ENOMEM, -EBADF.
 */
int ioreq_start(Ioreq *q, Loop *loop, XenServer *xen, const MatchTable *match, IoreqStats *stats,
                LatencyHist *latency, uint32_t busy_poll_us, IoreqFailFn fail);

/*
 * A reattached server: handle what an earlier process left in the slots,
 * READY or taken and never answered, as if it had just arrived (a write
 * that matches is signalled, maybe a second time: at least once, never
 * lost), and notify again answers that may not have been notified.
 */
void ioreq_recover(Ioreq *q, unsigned *ret_taken, unsigned *ret_renotified);
void ioreq_stop(Ioreq *q);

/* A new polling window for a running dispatch; 0 stops polling at once. */
void ioreq_set_busy_poll(Ioreq *q, uint32_t busy_poll_us);

/* One wake-up's work: drain pending ports (bounded), answer every request taken. */
void ioreq_dispatch(Ioreq *q);

#endif
