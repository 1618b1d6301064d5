/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Claims: a backend owns a range of the guest's MMIO or port space, and
 * every access inside it that no ioeventfd registration takes is forwarded
 * to it through a shared ring (struct xirq_ring, a memfd the parent made),
 * with an eventfd each way.  The vCPU stays blocked (its slot INPROCESS)
 * until the backend's answer completes it; a read returns the answer's data.
 *
 * The backend is not trusted: its indexes are checked on every use, an
 * answer names its access by a sequence number that only this worker hands
 * out (one access per vCPU: the low bits are the vCPU), and an access not
 * answered within the claim's deadline is completed without it (a read gets
 * all-ones), counted, logged (rate-limited), and the claim is broken: the
 * parent is told (EXPIRED) and closes the connection.  A claim removed
 * (UNCLAIM, the connection gone) has its pending accesses completed the same
 * way.  A worker that ends without a teardown leaves its pending accesses
 * in their slots: the next worker takes them again and forwards them anew
 * (at least once).
 */
#ifndef XENIOREQD_FORWARD_H
#define XENIOREQD_FORWARD_H

#include <stdbool.h>
#include <stdint.h>
#include "loop.h"

#include "log.h"
#include "stats.h"
#include "xen.h"

typedef struct Claim Claim;
typedef struct Forward Forward;

/* Called once per claim that broke (an access expired, or its ring is unusable). */
typedef void (*ForwardBrokenFn)(Forward *f, uint32_t claim_id);

typedef struct ForwardPending {
        Claim *claim;                   /* NULL: nothing forwarded for this vCPU */
        uint32_t seq;
        uint8_t read;
        uint8_t size;
        uint64_t deadline_ns;           /* CLOCK_MONOTONIC */
} ForwardPending;

struct Forward {
        Loop *loop;
        XenServer *xen;
        GuestStats *stats;
        const char *name;
        ForwardBrokenFn broken;
        Claim *claims;
        unsigned n;
        ForwardPending *pending;        /* nr_vcpus entries */
        unsigned nr_vcpus;
        uint32_t generation;            /* of the sequence numbers handed out */
        LoopTimer timer;                /* the earliest deadline */
        uint64_t timer_at;              /* when it fires, CLOCK_MONOTONIC ns */
        RateLimit log;
};

typedef enum ForwardResult {
        FORWARD_NONE,                   /* no claim holds the address */
        FORWARD_POSTED,                 /* forwarded: the answer completes it */
        FORWARD_REFUSED,                /* its claim cannot take it: complete it now, as from no device */
} ForwardResult;

int forward_init(Forward *f, Loop *loop, XenServer *xen, GuestStats *stats, const char *name,
                 ForwardBrokenFn broken);
/*
 * Add claim id of [first, last] in space (XIRQ_SPACE_*), whose accesses carry
 * ring_id (the backend's name for it) in the ring, taking fds[0] (the
 * ring memfd: at least one ring long, sealed against shrinking, its magic
 * and size set), fds[1] (the eventfd to signal) and fds[2] (the eventfd the
 * backend signals); each taken is set to -1.  -EEXIST (id in use, or a
 * range that overlaps another claim), -ENOSPC, -EBADF, -EINVAL.
 */
int forward_claim_add(Forward *f, uint32_t id, uint32_t ring_id, uint8_t space, uint64_t first, uint64_t last,
                      uint32_t deadline_ms, int fds[3]);
/* Remove a claim, completing what it has pending.  -ENOENT. */
int forward_claim_del(Forward *f, uint32_t id);
/* The claimed ranges of space, for the server's mapping: fills up to max, returns the count. */
unsigned forward_ranges(const Forward *f, uint8_t space, RangeSpan *ret, unsigned max);

/* The hot path: an access of vCPU (validated, one element, not data_is_ptr) in space. */
ForwardResult forward_access(Forward *f, unsigned vcpu, uint8_t space, bool read, uint64_t addr, uint8_t size,
                             uint64_t data);
/* The end of a pass: signal the backends that got accesses. */
void forward_flush(Forward *f);

/* The worker ends: everything released; pending accesses stay in their slots (complete: answered first). */
void forward_clear(Forward *f, bool complete);

#endif
