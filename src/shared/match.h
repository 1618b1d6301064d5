/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The registration table of one guest: which eventfd a guest write signals.
 *
 * A registration key is (space, addr, len, mask, value).  A guest write of
 * exactly len bytes at (space, addr) matches when (data & mask) == value:
 *   ANY    mask 0, value 0       every write of that length
 *   EXACT  mask = all ones over len bytes, value = the data
 *   MASK   any other mask within len bytes, value & ~mask == 0
 *
 * Rules enforced by match_add():
 *   - an identical key is refused (-EEXIST);
 *   - an ANY registration collides with every other registration of the same
 *     (space, addr, len), and the other way round (-EEXIST);
 *   - a registration whose byte range [addr, addr + len) overlaps a range of
 *     another (addr, len) is refused (-EEXIST): Xen routes an access to one
 *     server range, it cannot split it between two overlapping ones;
 *   - at most MATCH_MAX_MASKS distinct masks per address (-ENOSPC), so that
 *     match_lookup() does a small constant number of probes;
 *   - at most MATCH_MAX_RANGES distinct ranges per space (-ENOSPC), a bound
 *     on the table's memory.  Xen's own limit (256 ranges of each type per
 *     ioreq server) counts ranges after adjacent ones merge; the worker
 *     checks that one (src/worker/ranges.h).
 *
 * A "range" is a distinct (space, addr, len) with at least one registration:
 * that is what the daemon maps into its ioreq server.  match_add() and
 * match_remove() report when a range appears or disappears.
 *
 * match_lookup() is the hot path: O(1) in the number of registrations (a
 * hash probe on the address, then per distinct mask there one array index
 * for values below 256, such as virtio queue indexes, or one hash probe),
 * no allocation, no list walk.  Hashes are seeded from getrandom() so that a
 * client cannot choose keys that collide.  Memory: the direct arrays take at
 * most 2 KiB per (address, mask).
 *
 * The table is not thread-safe; one table per guest, used from one thread.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define MATCH_MAX_MASKS         4u              /* distinct masks per address */
#define MATCH_MAX_ENTRIES       (1u << 20)      /* registrations per table */
#define MATCH_MAX_RANGES        4096u           /* distinct ranges per space */

typedef struct MatchKey {
        uint64_t addr;
        uint64_t mask;          /* 0 for ANY */
        uint64_t value;         /* (data & mask) == value; value & ~mask == 0 */
        uint8_t space;          /* XIRQ_SPACE_MMIO or XIRQ_SPACE_PIO */
        uint8_t len;            /* 1, 2, 4 or 8 */
} MatchKey;

typedef struct MatchTable MatchTable;

/* All ones over len bytes (len 1, 2, 4 or 8); 0 for any other len. */
uint64_t match_len_mask(unsigned len);

/*
 * Check a key on its own: space, len, addr + len does not wrap (PIO: at most
 * 4 bytes, ending at or below 0x10000), mask within len bytes, value & ~mask
 * == 0.  Returns 0 or -EINVAL.
 */
int match_key_check(const MatchKey *key);

int match_table_new(MatchTable **ret);
MatchTable *match_table_free(MatchTable *t);

/*
 * Add a registration.  userdata must not be NULL.  On success *ret_new_range
 * (if not NULL) tells whether (space, addr, len) had no registration before.
 * Errors: -EINVAL (bad key), -EEXIST (collision or overlap, see above),
 * -ENOSPC (too many masks at this address, MATCH_MAX_RANGES or
 * MATCH_MAX_ENTRIES), -ENOMEM.
 * On error the table is unchanged.
 */
int match_add(MatchTable *t, const MatchKey *key, void *userdata, bool *ret_new_range);

/*
 * Remove the registration with exactly this key.  On success *ret_userdata
 * gets its userdata and *ret_range_unused (both optional) tells whether
 * (space, addr, len) has no registration left.  Returns 0, -EINVAL or -ENOENT.
 * Never fails for lack of memory (shrinking is best effort).
 */
int match_remove(MatchTable *t, const MatchKey *key, void **ret_userdata, bool *ret_range_unused);

/* The userdata of exactly this key, or NULL. */
void *match_find(const MatchTable *t, const MatchKey *key);

/*
 * The hot path: the userdata of the registration that a guest write of size
 * bytes of data at (space, addr) matches, or NULL.  size is the ioreq size;
 * data is the written value (only the low size bytes are significant).
 */
void *match_lookup(const MatchTable *t, uint8_t space, uint64_t addr, uint8_t size, uint64_t data);

/* Number of registrations. */
unsigned match_count(const MatchTable *t);

/* Number of distinct (space, addr, len) ranges of one space. */
unsigned match_ranges(const MatchTable *t, uint8_t space);

/*
 * Call cb for every registration (order unspecified).  cb must not modify the
 * table.  A non-zero return of cb stops the walk and is returned.
 */
int match_foreach(const MatchTable *t, int (*cb)(const MatchKey *key, void *userdata, void *ctx), void *ctx);
