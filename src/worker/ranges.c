/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ranges.h"

/*
 * Sort by first address.  Not qsort(): glibc's may ask the kernel how much
 * memory there is (sysinfo), a system call outside the worker's filter.
 */
static void spans_sort(RangeSpan *a, size_t n) {
        static const size_t gaps[] = { 701, 301, 132, 57, 23, 10, 4, 1 };

        for (size_t g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++)
                for (size_t i = gaps[g]; i < n; i++) {
                        RangeSpan t = a[i];
                        size_t j = i;

                        for (; j >= gaps[g] && a[j - gaps[g]].first > t.first; j -= gaps[g])
                                a[j] = a[j - gaps[g]];
                        a[j] = t;
                }
}

size_t ranges_union(const RangeSpan *want, size_t n, RangeSpan *ret) {
        size_t k = 0;

        if (n == 0)
                return 0;
        memcpy(ret, want, n * sizeof(*ret));
        spans_sort(ret, n);
        for (size_t i = 1; i < n; i++) {
                /* overlapping or adjacent: one range, as Xen's rangeset makes it */
                if (ret[i].first <= ret[k].last || ret[i].first == ret[k].last + 1) {
                        if (ret[i].last > ret[k].last)
                                ret[k].last = ret[i].last;
                } else
                        ret[++k] = ret[i];
        }
        return k + 1;
}

void ranges_reset(RangeTable *t) {
        memset(t, 0, sizeof(*t));
}

/* Record that [first, last] is now mapped (merged with its neighbours), or not mapped. */
static int table_add(RangeTable *t, int space, uint64_t first, uint64_t last) {
        RangeSpan all[RANGES_MAX + 1], merged[RANGES_MAX + 1];
        uint32_t n = t->n[space];
        size_t k;

        memcpy(all, t->span[space], n * sizeof(all[0]));
        all[n] = (RangeSpan) { first, last };
        k = ranges_union(all, n + 1, merged);
        if (k > RANGES_MAX)
                return -ENOSPC;
        memcpy(t->span[space], merged, k * sizeof(merged[0]));
        t->n[space] = (uint32_t) k;
        return 0;
}

static int table_sub(RangeTable *t, int space, uint64_t first, uint64_t last) {
        RangeSpan out[RANGES_MAX];
        uint32_t k = 0;

        for (uint32_t i = 0; i < t->n[space]; i++) {
                RangeSpan s = t->span[space][i];

                if (s.last < first || s.first > last) {
                        if (k == RANGES_MAX)
                                return -ENOSPC;
                        out[k++] = s;
                        continue;
                }
                /* what is left on either side */
                if (s.first < first) {
                        if (k == RANGES_MAX)
                                return -ENOSPC;
                        out[k++] = (RangeSpan) { s.first, first - 1 };
                }
                if (s.last > last) {
                        if (k == RANGES_MAX)
                                return -ENOSPC;
                        out[k++] = (RangeSpan) { last + 1, s.last };
                }
        }
        memcpy(t->span[space], out, k * sizeof(out[0]));
        t->n[space] = k;
        return 0;
}

/* One call of Xen, written down before and settled after. */
static int ranges_call(RangeTable *t, const RangeOps *ops, int space, uint32_t op, RangeSpan s) {
        int r;

        t->pending_space = (uint32_t) space;
        t->pending_span = s;
        __atomic_store_n(&t->pending, op, __ATOMIC_RELEASE);
        if (op == RANGES_MAP) {
                r = ops->map(ops->ctx, space, s.first, s.last);
                /* all or nothing: there already means mapped whole by a call we did not hear back from */
                if (r == 0 || r == -EEXIST)
                        r = table_add(t, space, s.first, s.last);
        } else {
                r = ops->unmap(ops->ctx, space, s.first, s.last);
                if (r == 0 || r == -ENOENT)
                        r = table_sub(t, space, s.first, s.last);
        }
        __atomic_store_n(&t->pending, RANGES_NONE, __ATOMIC_RELEASE);
        return r;
}

static bool table_valid(const RangeTable *t) {
        if (t->pending > RANGES_UNMAP || (t->pending != RANGES_NONE && t->pending_space > 1) ||
            (t->pending != RANGES_NONE && t->pending_span.first > t->pending_span.last))
                return false;
        for (int space = 0; space < 2; space++) {
                if (t->n[space] > RANGES_MAX)
                        return false;
                for (uint32_t i = 0; i < t->n[space]; i++) {
                        const RangeSpan *s = &t->span[space][i];

                        /* sorted, disjoint, not adjacent (merged), port I/O below 0x10000 */
                        if (s->first > s->last || (space == 1 && s->last > 0xffff) ||
                            (i > 0 && s->first <= t->span[space][i - 1].last + 1))
                                return false;
                }
        }
        return true;
}

int ranges_recover(RangeTable *t, const RangeOps *ops) {
        uint32_t op = __atomic_load_n(&t->pending, __ATOMIC_ACQUIRE);

        if (!table_valid(t)) {
                ranges_reset(t);
                return -EINVAL;
        }
        if (op == RANGES_NONE)
                return 0;
        /* the call its predecessor died in: made again, its outcome is then known */
        return ranges_call(t, ops, (int) t->pending_space, op, t->pending_span);
}

/* a \ b, both sorted and merged, into ret; returns the count. */
static size_t spans_minus(const RangeSpan *a, size_t na, const RangeSpan *b, size_t nb, RangeSpan *ret,
                          size_t max) {
        size_t k = 0, j = 0;

        for (size_t i = 0; i < na; i++) {
                uint64_t from = a[i].first;
                bool done = false;

                while (j < nb && b[j].last < from)
                        j++;
                for (size_t m = j; m < nb && b[m].first <= a[i].last; m++) {
                        if (b[m].first > from && k < max)
                                ret[k++] = (RangeSpan) { from, b[m].first - 1 };
                        if (b[m].last >= a[i].last) {
                                done = true;
                                break;
                        }
                        from = b[m].last + 1;
                }
                if (!done && k < max)
                        ret[k++] = (RangeSpan) { from, a[i].last };
        }
        return k;
}

int ranges_apply(RangeTable *t, const RangeOps *ops, int space, const RangeSpan *want, size_t n) {
        RangeSpan *d = NULL, *have = NULL, *diff = NULL;
        size_t nd, nh, nx, max = n + RANGES_MAX + 1;
        int r = 0;

        d = calloc(n + 1, sizeof(*d));
        have = calloc(RANGES_MAX, sizeof(*have));
        diff = calloc(max, sizeof(*diff));
        if (!d || !have || !diff) {
                r = -ENOMEM;
                goto finish;
        }
        nd = ranges_union(want, n, d);
        if (nd > RANGES_MAX) {
                r = -ENOSPC;
                goto finish;
        }
        nh = t->n[space];
        memcpy(have, t->span[space], nh * sizeof(*have));

        /* what is no longer wanted goes first: each piece lies inside a range Xen has */
        nx = spans_minus(have, nh, d, nd, diff, max);
        for (size_t i = 0; i < nx && r == 0; i++)
                r = ranges_call(t, ops, space, RANGES_UNMAP, diff[i]);
        /* then what is missing: each piece overlaps nothing Xen has */
        if (r == 0) {
                nh = t->n[space];
                memcpy(have, t->span[space], nh * sizeof(*have));
                nx = spans_minus(d, nd, have, nh, diff, max);
                for (size_t i = 0; i < nx && r == 0; i++)
                        r = ranges_call(t, ops, space, RANGES_MAP, diff[i]);
        }
finish:
        free(d);
        free(have);
        free(diff);
        return r;
}
