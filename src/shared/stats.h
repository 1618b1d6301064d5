/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A guest's counters, in a memfd the parent creates and maps and its worker
 * maps too: the worker writes them (one thread, plain stores, no lock, no
 * system call on the hot path), the parent reads them when asked (QUERY,
 * STATUS=).  They outlive a worker: a restarted worker counts on.
 *
 * The parent treats what it reads as the word of a process that parses
 * guest-written memory: numbers to show, never sizes or indexes.  The one
 * exception is created_server, the id of a server the worker has just made,
 * which lets the parent reattach it (never leak it) if the worker dies
 * before saying so; it is checked to be a valid id of the guest's domain.
 */
#pragma once

#include <stdint.h>

#define STATS_MAGIC     UINT32_C(0x53515258)    /* "XRQS" */
#define STATS_VERSION   2u
#define STATS_SIZE      65536u                  /* the memfd's size */
#define STATS_NONE      UINT32_C(0xffffffff)

typedef struct IoreqStats {
        uint64_t kicks;         /* eventfd signals */
        uint64_t unmatched;     /* valid writes matching no registration */
        uint64_t reads;         /* valid reads, answered with 0 */
        uint64_t invalid;       /* malformed requests, completed safely */
        uint64_t other;         /* INVALIDATE, TIMEOFFSET, PCI_CONFIG */
        uint64_t saturated;     /* kicks that found their eventfd's counter full (delivered later, coalesced) */
        uint64_t forwarded;     /* accesses forwarded to a claim's connection */
        uint64_t expired;       /* forwarded accesses completed without an answer (deadline, claim gone) */
        uint64_t injected;      /* interrupts injected by irqfds */
        uint64_t inject_errors; /* injections Xen refused */
} IoreqStats;

/*
 * The address ranges the guest's ioreq server has mapped in Xen, written by
 * the worker only (src/worker/ranges.h); the parent never reads them.  They
 * live here so that the next worker of the same server knows them.
 */
typedef struct RangeSpan {
        uint64_t first, last;
} RangeSpan;

#define RANGES_MAX      256u    /* ranges of one type Xen keeps per server */

typedef struct RangeTable {
        uint32_t n[2];                  /* [0] MMIO, [1] port I/O */
        uint32_t pending;               /* a call under way: RANGES_MAP or RANGES_UNMAP of pending_span */
        uint32_t pending_space;
        RangeSpan pending_span;
        RangeSpan span[2][RANGES_MAX];  /* sorted, disjoint, adjacent ones merged, as Xen has them */
} RangeTable;

#define STATS_MAX_IRQFDS        64u     /* irqfds of one guest */
#define STATS_MAX_CLAIMS        32u     /* claims of one guest */

typedef struct IrqfdStats {
        uint32_t id;
        uint32_t reserved;
        uint64_t signals;       /* eventfd writes seen (several may make one injection) */
        uint64_t injections;
        uint64_t errors;
} IrqfdStats;

typedef struct ClaimStats {
        uint32_t id;
        uint32_t reserved;
        uint64_t forwarded;
        uint64_t answered;
        uint64_t expired;
} ClaimStats;

/*
 * What xen-ioreqctl shows beyond the totals.
 *
 * Dispatch latency: from the worker's loop waking up on the event channel
 * (or its busy-poll spin finding a READY slot) to the answers of that batch
 * written, eventfds signalled first.  One sample per kick, so that count
 * equals the kicks counted while a histogram was kept.  Log-linear buckets
 * of nanoseconds: exact below 4 ns, then 4 buckets per power of two (at
 * most 25% wide); the last bucket takes everything above.  The start is the
 * loop's time of the wake-up (CLOCK_REALTIME, read once per wake-up), the
 * end one clock read per batch.
 *
 * Per registration: a slot per registration, up to STATS_REG_SLOTS per
 * guest (those beyond are counted only in the totals).  The worker writes a
 * slot's key when it takes a registration and marks it live; a worker that
 * is given the same key again (a restarted worker) finds the slot and counts
 * on.  The parent reads live slots and pairs them with its registrations by
 * key.
 */
#define STATS_HIST_SUB          4u              /* buckets per power of two */
#define STATS_HIST_BUCKETS      160u
#define STATS_REG_SLOTS         1024u

typedef struct LatencyHist {
        uint64_t count;
        uint64_t sum_ns;
        uint64_t buckets[STATS_HIST_BUCKETS];
} LatencyHist;

typedef struct RegStats {
        uint64_t addr, mask, value;     /* the key, as in MatchKey */
        uint8_t space, len;
        uint8_t live;                   /* 1 while the worker holds this registration */
        uint8_t reserved[5];
        uint64_t kicks;
        uint64_t last_kick_ns;          /* CLOCK_REALTIME, 0: never */
} RegStats;

typedef struct CtlStats {
        LatencyHist latency;            /* the worker's */
        /* the parent's: kicks per second over the last sampling period */
        uint64_t rate_kicks;            /* io.kicks at the last sample */
        uint64_t rate_ns;               /* CLOCK_MONOTONIC of the last sample */
        uint64_t rate_milli;            /* kicks/s x 1000 */
        RegStats regs[STATS_REG_SLOTS];
} CtlStats;

typedef struct GuestStats {
        uint32_t magic;
        uint32_t version;
        uint32_t created_server;        /* set by a worker right after it created a server */
        uint32_t reserved;
        IoreqStats io;                  /* the worker's, monotonic */
        IoreqStats base;                /* the parent's: io when the current server was made */
        RangeTable ranges;              /* the worker's */
        IrqfdStats irqfds[STATS_MAX_IRQFDS];    /* the worker's, by the parent's id (0: a free entry) */
        ClaimStats claims[STATS_MAX_CLAIMS];
        CtlStats ctl;                   /* for xen-ioreqctl: latency, per registration, rate */
} GuestStats;
_Static_assert(sizeof(GuestStats) <= STATS_SIZE, "GuestStats fits its memfd");

/* One writer: a relaxed load and store, no locked instruction. */
static inline void stats_add(uint64_t *counter, uint64_t n) {
        __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* The bucket of a latency in ns. */
static inline unsigned stats_hist_bucket(uint64_t ns) {
        unsigned e, idx;

        if (ns < STATS_HIST_SUB)
                return (unsigned) ns;
        e = 63u - (unsigned) __builtin_clzll(ns);      /* >= 2 */
        idx = (e - 1u) * STATS_HIST_SUB + (unsigned) ((ns >> (e - 2u)) & (STATS_HIST_SUB - 1u));
        return idx < STATS_HIST_BUCKETS ? idx : STATS_HIST_BUCKETS - 1u;
}

/* The smallest latency in ns that falls in bucket idx (idx <= STATS_HIST_BUCKETS: the end of the last). */
static inline uint64_t stats_hist_lower(unsigned idx) {
        unsigned e;

        if (idx < STATS_HIST_SUB)
                return idx;
        e = idx / STATS_HIST_SUB + 1u;
        return (uint64_t) (STATS_HIST_SUB + idx % STATS_HIST_SUB) << (e - 2u);
}

/* count samples of ns each (the worker's one thread). */
static inline void stats_hist_add(LatencyHist *h, uint64_t ns, uint64_t count) {
        stats_add(&h->buckets[stats_hist_bucket(ns)], count);
        stats_add(&h->sum_ns, ns * count);
        stats_add(&h->count, count);
}

static inline IoreqStats stats_read(const IoreqStats *s) {
        return (IoreqStats) {
                .kicks = __atomic_load_n(&s->kicks, __ATOMIC_RELAXED),
                .unmatched = __atomic_load_n(&s->unmatched, __ATOMIC_RELAXED),
                .reads = __atomic_load_n(&s->reads, __ATOMIC_RELAXED),
                .invalid = __atomic_load_n(&s->invalid, __ATOMIC_RELAXED),
                .other = __atomic_load_n(&s->other, __ATOMIC_RELAXED),
                .saturated = __atomic_load_n(&s->saturated, __ATOMIC_RELAXED),
                .forwarded = __atomic_load_n(&s->forwarded, __ATOMIC_RELAXED),
                .expired = __atomic_load_n(&s->expired, __ATOMIC_RELAXED),
                .injected = __atomic_load_n(&s->injected, __ATOMIC_RELAXED),
                .inject_errors = __atomic_load_n(&s->inject_errors, __ATOMIC_RELAXED),
        };
}
