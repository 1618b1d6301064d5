/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The latency histogram of the stats memfd (shared/stats.h): every latency
 * falls in the one bucket whose bounds hold it, buckets are at most 25%
 * wide above 4 ns, powers of two are bucket boundaries (the metrics' le
 * values rely on it), and stats_hist_add() counts what it is given.
 */
#include <stdint.h>
#include <string.h>

#include "stats.h"
#include "unit-assert.h"

static void check_value(uint64_t ns) {
        unsigned b = stats_hist_bucket(ns);

        CHECK(b < STATS_HIST_BUCKETS);
        CHECK(stats_hist_lower(b) <= ns);
        if (b < STATS_HIST_BUCKETS - 1)
                CHECK(ns < stats_hist_lower(b + 1));
}

int main(void) {
        LatencyHist h;
        uint64_t sum = 0;

        ut_start(30);

        /* bounds increase, widths at most 25% of the lower bound beyond the exact ones */
        for (unsigned b = 0; b < STATS_HIST_BUCKETS; b++) {
                uint64_t lo = stats_hist_lower(b), hi = stats_hist_lower(b + 1);

                CHECK(lo < hi);
                CHECK_INT(stats_hist_bucket(lo), b);
                CHECK_INT(stats_hist_bucket(hi - 1), b);
                if (lo >= STATS_HIST_SUB)
                        CHECK((hi - lo) * 4 <= lo);
        }
        /* every value of the first 64 Ki, then around every power of two up to the top */
        for (uint64_t ns = 0; ns < 65536; ns++)
                check_value(ns);
        for (unsigned shift = 2; shift < 64; shift++) {
                uint64_t p = UINT64_C(1) << shift;

                check_value(p - 1);
                check_value(p);
                check_value(p + 1);
                check_value(p + p / 3);
                if (stats_hist_bucket(p) < STATS_HIST_BUCKETS - 1)
                        CHECK_U64(stats_hist_lower(stats_hist_bucket(p)), p);
        }
        CHECK_INT(stats_hist_bucket(UINT64_MAX), STATS_HIST_BUCKETS - 1);
        /* the metrics' boundaries: 2^8 .. 2^34 ns */
        for (unsigned shift = 8; shift <= 34; shift++)
                CHECK(stats_hist_bucket(UINT64_C(1) << shift) < STATS_HIST_BUCKETS - 1);

        memset(&h, 0, sizeof(h));
        stats_hist_add(&h, 0, 2);
        stats_hist_add(&h, 1000, 3);
        stats_hist_add(&h, UINT64_C(1) << 50, 1);
        CHECK_U64(h.count, 6);
        CHECK_U64(h.sum_ns, 3000 + (UINT64_C(1) << 50));
        CHECK_U64(h.buckets[0], 2);
        CHECK_U64(h.buckets[stats_hist_bucket(1000)], 3);
        CHECK_U64(h.buckets[STATS_HIST_BUCKETS - 1], 1);
        for (unsigned b = 0; b < STATS_HIST_BUCKETS; b++)
                sum += h.buckets[b];
        CHECK_U64(sum, h.count);
        return ut_finish("test-stats");
}
