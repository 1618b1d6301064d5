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
#define STATS_VERSION   1u
#define STATS_SIZE      4096u                   /* the memfd's size */
#define STATS_NONE      UINT32_C(0xffffffff)

typedef struct IoreqStats {
        uint64_t kicks;         /* eventfd signals */
        uint64_t unmatched;     /* valid writes matching no registration */
        uint64_t reads;         /* valid reads, answered with 0 */
        uint64_t invalid;       /* malformed requests, completed safely */
        uint64_t other;         /* INVALIDATE, TIMEOFFSET, PCI_CONFIG */
} IoreqStats;

typedef struct GuestStats {
        uint32_t magic;
        uint32_t version;
        uint32_t created_server;        /* set by a worker right after it created a server */
        uint32_t reserved;
        IoreqStats io;                  /* the worker's, monotonic */
        IoreqStats base;                /* the parent's: io when the current server was made */
} GuestStats;
_Static_assert(sizeof(GuestStats) <= STATS_SIZE, "GuestStats fits its memfd");

/* One writer: a relaxed load and store, no locked instruction. */
static inline void stats_add(uint64_t *counter, uint64_t n) {
        __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline IoreqStats stats_read(const IoreqStats *s) {
        return (IoreqStats) {
                .kicks = __atomic_load_n(&s->kicks, __ATOMIC_RELAXED),
                .unmatched = __atomic_load_n(&s->unmatched, __ATOMIC_RELAXED),
                .reads = __atomic_load_n(&s->reads, __ATOMIC_RELAXED),
                .invalid = __atomic_load_n(&s->invalid, __ATOMIC_RELAXED),
                .other = __atomic_load_n(&s->other, __ATOMIC_RELAXED),
        };
}
