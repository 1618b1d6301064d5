/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The address ranges a worker's ioreq server has mapped in Xen, kept
 * exactly.  Xen keeps a server's ranges as a rangeset: adjacent ranges
 * merge, a range that overlaps one already there is refused (EEXIST), only a
 * range inside one can be unmapped (ENOENT otherwise), each call all or
 * nothing, at most 256 ranges per type.  The worker wants the union of its
 * registrations' ranges and its claims; ranges_apply() computes what differs
 * from what is mapped and makes exactly those calls.
 *
 * What is mapped lives in the guest's stats memfd (RangeTable), so that the
 * next worker of the same server knows it as well, including a call that was
 * under way when its predecessor died: the call is written down before it is
 * made, and its outcome after.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

enum {
        RANGES_NONE     = 0,
        RANGES_MAP      = 1,
        RANGES_UNMAP    = 2,
};

/* The Xen calls, as the worker makes them (0, or -errno as Xen answers). */
typedef struct RangeOps {
        int (*map)(void *ctx, int pio, uint64_t first, uint64_t last);
        int (*unmap)(void *ctx, int pio, uint64_t first, uint64_t last);
        void *ctx;
} RangeOps;

/* A new server: nothing is mapped. */
void ranges_reset(RangeTable *t);

/*
 * A server taken over: the table the last worker left, checked (anything
 * out of order is forgotten: -EINVAL, the table is then empty and ranges
 * already mapped in Xen may make later maps fail with EEXIST), and the call
 * it left under way settled.
 */
int ranges_recover(RangeTable *t, const RangeOps *ops);

/*
 * Make what is mapped of space (0 MMIO, 1 PIO) the union of want[0..n):
 * unmap what is no longer wanted, then map what is missing.  -ENOSPC (and
 * no call made) when the union has more than RANGES_MAX ranges; otherwise
 * the first error of Xen, with the table telling what is mapped.
 */
int ranges_apply(RangeTable *t, const RangeOps *ops, int space, const RangeSpan *want, size_t n);

/* The union of want[0..n), sorted and merged, into ret (n entries at most); returns its count. */
size_t ranges_union(const RangeSpan *want, size_t n, RangeSpan *ret);
