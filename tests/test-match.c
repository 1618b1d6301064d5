/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit test of the registration table (src/shared/match.c). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "xenioreqd/protocol.h"
#include "match.h"
#include "match-ref.h"
#include "unit-assert.h"

#define MMIO XIRQ_SPACE_MMIO
#define PIO XIRQ_SPACE_PIO

static MatchKey key(uint8_t space, uint64_t addr, uint8_t len, uint64_t mask, uint64_t value) {
        MatchKey k = { .addr = addr, .mask = mask, .value = value, .space = space, .len = len };
        return k;
}

static int add(MatchTable *t, MatchKey k, uintptr_t ud, bool *new_range) {
        return match_add(t, &k, (void *) ud, new_range);
}

static void *lookup(MatchTable *t, uint8_t space, uint64_t addr, uint8_t size, uint64_t data) {
        return match_lookup(t, space, addr, size, data);
}

static void test_key_check(void) {
        MatchKey k;

        k = key(MMIO, 0x1000, 4, 0, 0);
        CHECK_INT(match_key_check(&k), 0);
        k = key(0, 0x1000, 4, 0, 0);
        CHECK_INT(match_key_check(&k), -EINVAL);
        k = key(3, 0x1000, 4, 0, 0);
        CHECK_INT(match_key_check(&k), -EINVAL);
        k = key(MMIO, 0x1000, 3, 0, 0);
        CHECK_INT(match_key_check(&k), -EINVAL);
        k = key(MMIO, 0x1000, 2, 0x1ffff, 0);
        CHECK_INT(match_key_check(&k), -EINVAL);
        k = key(MMIO, 0x1000, 4, 0xff, 0x100);
        CHECK_INT(match_key_check(&k), -EINVAL);
        k = key(MMIO, UINT64_MAX - 3, 4, 0, 0);
        CHECK_INT(match_key_check(&k), 0);
        k = key(MMIO, UINT64_MAX - 2, 4, 0, 0);
        CHECK_INT(match_key_check(&k), -EINVAL);
        k = key(PIO, 0xfffc, 4, 0, 0);
        CHECK_INT(match_key_check(&k), 0);
        k = key(PIO, 0xfffd, 4, 0, 0);
        CHECK_INT(match_key_check(&k), -EINVAL);
        CHECK_INT(match_key_check(NULL), -EINVAL);
        CHECK_U64(match_len_mask(1), 0xff);
        CHECK_U64(match_len_mask(2), 0xffff);
        CHECK_U64(match_len_mask(4), 0xffffffff);
        CHECK_U64(match_len_mask(8), UINT64_MAX);
        CHECK_U64(match_len_mask(3), 0);
}

static void test_basic(void) {
        MatchTable *t = NULL;
        bool nr = false, unused = false;
        void *ud = NULL;

        REQUIRE(match_table_new(&t) == 0);
        CHECK(lookup(t, MMIO, 0x1000, 4, 0) == NULL);

        CHECK_INT(add(t, key(MMIO, 0x1000, 4, 0, 0), 1, &nr), 0);
        CHECK(nr);
        CHECK(lookup(t, MMIO, 0x1000, 4, 0) == (void *) 1);
        CHECK(lookup(t, MMIO, 0x1000, 4, 0xdeadbeef) == (void *) 1);
        CHECK(lookup(t, MMIO, 0x1000, 2, 0) == NULL);           /* other size */
        CHECK(lookup(t, MMIO, 0x1000, 8, 0) == NULL);
        CHECK(lookup(t, MMIO, 0x1002, 2, 0) == NULL);           /* inside, other start */
        CHECK(lookup(t, PIO, 0x1000, 4, 0) == NULL);            /* other space */
        CHECK_INT(match_ranges(t, MMIO), 1);
        CHECK_INT(match_ranges(t, PIO), 0);
        CHECK_INT(match_count(t), 1);

        /* the same address in the other space is independent */
        CHECK_INT(add(t, key(PIO, 0x1000, 4, 0xffffffff, 7), 2, &nr), 0);
        CHECK(nr);
        CHECK(lookup(t, PIO, 0x1000, 4, 7) == (void *) 2);
        CHECK(lookup(t, PIO, 0x1000, 4, 8) == NULL);
        CHECK_INT(match_ranges(t, PIO), 1);

        /* NULL userdata, bad key */
        CHECK_INT(add(t, key(MMIO, 0x2000, 4, 0, 0), 0, &nr), -EINVAL);
        CHECK_INT(add(t, key(MMIO, 0x2000, 5, 0, 0), 3, &nr), -EINVAL);

        CHECK(match_find(t, &(MatchKey) { .addr = 0x1000, .space = MMIO, .len = 4 }) == (void *) 1);
        CHECK_INT(match_remove(t, &(MatchKey) { .addr = 0x1000, .space = MMIO, .len = 2 }, &ud, &unused), -ENOENT);
        CHECK_INT(match_remove(t, &(MatchKey) { .addr = 0x1000, .space = MMIO, .len = 4 }, &ud, &unused), 0);
        CHECK(ud == (void *) 1);
        CHECK(unused);
        CHECK(lookup(t, MMIO, 0x1000, 4, 0) == NULL);
        CHECK_INT(match_ranges(t, MMIO), 0);
        CHECK_INT(match_count(t), 1);
        match_table_free(t);
        CHECK(match_table_free(NULL) == NULL);
}

static void test_collisions(void) {
        MatchTable *t = NULL;
        bool nr = true, unused = true;
        const uint64_t F = 0xffffffff;

        REQUIRE(match_table_new(&t) == 0);
        /* ANY collides with everything at the same (space, addr, len), both ways */
        CHECK_INT(add(t, key(MMIO, 0x1000, 4, 0, 0), 1, &nr), 0);
        CHECK_INT(add(t, key(MMIO, 0x1000, 4, F, 5), 2, &nr), -EEXIST);
        CHECK_INT(add(t, key(MMIO, 0x1000, 4, 0xffff, 5), 2, &nr), -EEXIST);
        CHECK_INT(add(t, key(MMIO, 0x1000, 4, 0, 0), 2, &nr), -EEXIST);
        CHECK_INT(add(t, key(MMIO, 0x2000, 4, F, 5), 3, &nr), 0);
        CHECK_INT(add(t, key(MMIO, 0x2000, 4, 0, 0), 4, &nr), -EEXIST);

        /* identical EXACT; different values coexist at one range */
        CHECK_INT(add(t, key(MMIO, 0x2000, 4, F, 5), 4, &nr), -EEXIST);
        nr = true;
        CHECK_INT(add(t, key(MMIO, 0x2000, 4, F, 6), 4, &nr), 0);
        CHECK(!nr);
        CHECK(lookup(t, MMIO, 0x2000, 4, 5) == (void *) 3);
        CHECK(lookup(t, MMIO, 0x2000, 4, 6) == (void *) 4);
        CHECK(lookup(t, MMIO, 0x2000, 4, 7) == NULL);
        CHECK_INT(match_ranges(t, MMIO), 2);

        /* overlapping ranges of another (addr, len) */
        CHECK_INT(add(t, key(MMIO, 0x2002, 2, 0, 0), 9, &nr), -EEXIST);
        CHECK_INT(add(t, key(MMIO, 0x2000, 8, 0, 0), 9, &nr), -EEXIST);
        CHECK_INT(add(t, key(MMIO, 0x2000, 2, 0, 0), 9, &nr), -EEXIST);
        CHECK_INT(add(t, key(MMIO, 0x1ff9, 8, 0, 0), 9, &nr), -EEXIST);
        CHECK_INT(add(t, key(MMIO, 0x2003, 1, 0, 0), 9, &nr), -EEXIST);
        CHECK_INT(add(t, key(MMIO, 0x1ffd, 4, 0, 0), 9, &nr), -EEXIST);
        /* adjacent ranges do not overlap */
        CHECK_INT(add(t, key(MMIO, 0x2004, 4, 0, 0), 10, &nr), 0);
        CHECK(nr);
        CHECK_INT(add(t, key(MMIO, 0x1ff8, 8, 0, 0), 11, &nr), 0);
        CHECK_INT(match_ranges(t, MMIO), 4);
        /* the other space is not affected by overlap */
        CHECK_INT(add(t, key(PIO, 0x2002, 2, 0, 0), 12, &nr), 0);

        /* intersecting data sets at one address: data 0x105 would match both */
        CHECK_INT(add(t, key(MMIO, 0x3000, 4, 0xffff, 0x105), 20, &nr), 0);
        CHECK_INT(add(t, key(MMIO, 0x3000, 4, 0xff00, 0x100), 21, &nr), -EEXIST);
        CHECK_INT(add(t, key(MMIO, 0x3000, 4, F, 0x10105), 21, &nr), -EEXIST);
        CHECK_INT(add(t, key(MMIO, 0x3000, 4, 0xff0000, 0x10000), 21, &nr), -EEXIST);
        /* disjoint ones are fine */
        CHECK_INT(add(t, key(MMIO, 0x3000, 4, 0xff00, 0x200), 22, &nr), 0);
        CHECK_INT(add(t, key(MMIO, 0x3000, 4, F, 0x10106), 23, &nr), 0);
        CHECK(lookup(t, MMIO, 0x3000, 4, 0x10106) == (void *) 23);
        CHECK(lookup(t, MMIO, 0x3000, 4, 0xabcd0105) == (void *) 20);
        CHECK(lookup(t, MMIO, 0x3000, 4, 0xabcd02ff) == (void *) 22);
        CHECK(lookup(t, MMIO, 0x3000, 4, 0xabcd0106) == NULL);

        /* at most MATCH_MAX_MASKS distinct masks per address */
        CHECK_INT(add(t, key(MMIO, 0x4000, 1, 0x01, 0x01), 30, &nr), 0);
        CHECK_INT(add(t, key(MMIO, 0x4000, 1, 0x03, 0x02), 31, &nr), 0);
        CHECK_INT(add(t, key(MMIO, 0x4000, 1, 0x07, 0x04), 32, &nr), 0);
        CHECK_INT(add(t, key(MMIO, 0x4000, 1, 0x0f, 0x08), 33, &nr), 0);
        CHECK_INT(add(t, key(MMIO, 0x4000, 1, 0x1f, 0x10), 34, &nr), -ENOSPC);
        /* a fifth value under an existing mask is fine */
        CHECK_INT(add(t, key(MMIO, 0x4000, 1, 0x0f, 0x00), 35, &nr), 0);
        CHECK(lookup(t, MMIO, 0x4000, 1, 0xf1) == (void *) 30);
        CHECK(lookup(t, MMIO, 0x4000, 1, 0xf2) == (void *) 31);
        CHECK(lookup(t, MMIO, 0x4000, 1, 0xf4) == (void *) 32);
        CHECK(lookup(t, MMIO, 0x4000, 1, 0xf8) == (void *) 33);
        CHECK(lookup(t, MMIO, 0x4000, 1, 0xf0) == (void *) 35);
        /* only the low size bytes of data count */
        CHECK(lookup(t, MMIO, 0x4000, 1, 0xffffff01) == (void *) 30);
        /* removing the only registration of a mask frees its place */
        CHECK_INT(match_remove(t, &(MatchKey) { .addr = 0x4000, .space = MMIO, .len = 1, .mask = 1, .value = 1 },
                               NULL, &unused), 0);
        CHECK(!unused);
        CHECK_INT(add(t, key(MMIO, 0x4000, 1, 0x1f, 0x10), 34, &nr), -EEXIST);     /* 0x10 matches 0x0f/0 */
        CHECK_INT(add(t, key(MMIO, 0x4000, 1, 0x1f, 0x11), 34, &nr), 0);
        CHECK(lookup(t, MMIO, 0x4000, 1, 0x11) == (void *) 34);
        CHECK(lookup(t, MMIO, 0x4000, 1, 0x10) == (void *) 35);
        CHECK(lookup(t, MMIO, 0x4000, 1, 0x01) == NULL);
        match_table_free(t);
}

/* ---- against the brute-force reference (match-ref.c) ---- */

#define REF_MAX 4096

static uint64_t rng_state = 0x243f6a8885a308d3;

static uint64_t rnd(void) {
        /* xorshift64*, deterministic so that failures reproduce */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * UINT64_C(2685821657736338717);
}

static MatchKey random_key(void) {
        static const uint64_t masks[] = { 0, 0x1, 0x3, 0x7, 0xf, 0x1f, 0xffff, 0xff00, 0x0f0f, UINT64_MAX };
        static const uint8_t lens[] = { 1, 2, 4, 8 };
        MatchKey k;
        uint64_t lm;
        unsigned i = (unsigned) (rnd() % 16);

        k.space = (rnd() & 3) == 0 ? PIO : MMIO;
        if ((rnd() % 8) == 0) {
                /* anywhere in the window: overlaps happen */
                k.addr = 0x100 + (rnd() % 130);
                k.len = lens[rnd() % 4];
        } else {
                k.addr = 0x100 + i * 8;
                k.len = lens[i % 4];
        }
        lm = match_len_mask(k.len);
        k.mask = masks[rnd() % (sizeof(masks) / sizeof(masks[0]))] & lm;
        /* few distinct values so that collisions happen */
        k.value = rnd() & k.mask & 0x1f;
        if (rnd() & 1)  /* values of the hashed path (>= 256) too */
                k.value = rnd() & k.mask & 0x31f;
        if ((rnd() % 64) == 0)
                k.len = 3;      /* now and then an invalid key */
        return k;
}

static void test_random(void) {
        MatchTable *t = NULL;
        MatchRef *ref = NULL;
        unsigned adds_ok = 0, removes_ok = 0, hits = 0, eexist = 0, enospc = 0, einval = 0;

        REQUIRE(match_table_new(&t) == 0);
        REQUIRE(match_ref_new(&ref, REF_MAX) == 0);
        for (unsigned step = 0; step < 40000; step++) {
                MatchKey k = random_key();
                unsigned op = rnd() % 10;

                if (op < 4) {
                        bool nr1 = false, nr2 = false;
                        uintptr_t ud = step + 1;
                        int r1 = match_ref_add(ref, &k, ud, &nr1);
                        int r2;
                        REQUIRE(r1 != -ENOBUFS);        /* the reference has room for the whole window */
                        r2 = match_add(t, &k, (void *) ud, &nr2);
                        CHECK_INT(r2, r1);
                        eexist += r1 == -EEXIST;
                        enospc += r1 == -ENOSPC;
                        einval += r1 == -EINVAL;
                        if (r1 == 0 && r2 == 0) {
                                CHECK_INT(nr2, nr1);
                                adds_ok++;
                        }
                } else if (op < 7) {
                        bool u1 = false, u2 = false;
                        uintptr_t ud1 = 0;
                        void *ud2 = NULL;
                        int r1 = match_ref_remove(ref, &k, &ud1, &u1);
                        int r2 = match_remove(t, &k, &ud2, &u2);
                        CHECK_INT(r2, r1);
                        if (r1 == 0 && r2 == 0) {
                                CHECK_U64((uintptr_t) ud2, ud1);
                                CHECK_INT(u2, u1);
                                removes_ok++;
                        }
                } else {
                        uint8_t sizes[] = { 1, 2, 4, 8 };
                        uint8_t size = sizes[rnd() % 4];
                        uint64_t data = rnd();
                        uintptr_t want;
                        unsigned matches;
                        if (rnd() & 1)  /* data likely to match */
                                data &= (rnd() & 1) ? 0x1f : 0x31f;
                        want = match_ref_lookup(ref, k.space, k.addr, size, data, &matches);
                        CHECK(matches <= 1);    /* the add rules keep matches unambiguous */
                        CHECK_U64((uintptr_t) lookup(t, k.space, k.addr, size, data), want);
                        hits += want != 0;
                }
                if (step % 1000 == 0) {
                        CHECK_INT(match_count(t), match_ref_count(ref));
                        CHECK_INT(match_ranges(t, MMIO), match_ref_ranges(ref, MMIO));
                        CHECK_INT(match_ranges(t, PIO), match_ref_ranges(ref, PIO));
                }
        }
        /* the random walk must have exercised every path */
        CHECK(adds_ok > 100);
        CHECK(removes_ok > 100);
        CHECK(hits > 100);
        CHECK(eexist > 100);
        CHECK(enospc > 10);
        CHECK(einval > 10);
        printf("random walk: %u adds, %u removes, %u hits, %u EEXIST, %u ENOSPC, %u EINVAL\n", adds_ok,
               removes_ok, hits, eexist, enospc, einval);
        match_table_free(t);
        match_ref_free(ref);
}

static int count_cb(const MatchKey *k, void *ud, void *ctx) {
        (void) k;
        (void) ud;
        (*(unsigned *) ctx)++;
        return 0;
}

static void test_grow_shrink(void) {
        MatchTable *t = NULL;
        bool nr, unused;
        unsigned n = 0, bad = 0, ranges_created = 0, ranges_freed = 0;
        const unsigned N = 20000;

        REQUIRE(match_table_new(&t) == 0);
        /* 20000 queues spread over 200 virtio notify registers; values 0..693 cover both the
         * dense (< 256) and the hashed lookup */
        for (unsigned i = 0; i < N; i++) {
                MatchKey k = key(MMIO, 0x10000000 + (uint64_t) (i % 200) * 0x200 + 0x50, 4, 0xffff, (i / 200) * 7);
                if (match_add(t, &k, (void *) (uintptr_t) (i + 1), &nr) != 0)
                        bad++;
                ranges_created += nr;
        }
        CHECK_INT(bad, 0);
        CHECK_INT(ranges_created, 200);
        CHECK_INT(match_count(t), N);
        CHECK_INT(match_ranges(t, MMIO), 200);
        CHECK_INT(match_foreach(t, count_cb, &n), 0);
        CHECK_INT(n, N);
        bad = 0;
        for (unsigned i = 0; i < N; i++)
                if (lookup(t, MMIO, 0x10000000 + (uint64_t) (i % 200) * 0x200 + 0x50, 4,
                           0xabcd0000u | ((i / 200) * 7)) != (void *) (uintptr_t) (i + 1))
                        bad++;
        CHECK_INT(bad, 0);
        /* remove in another order */
        bad = 0;
        for (unsigned j = 0; j < N; j++) {
                unsigned i = (j * 7919u) % N;
                void *ud = NULL;
                MatchKey k = key(MMIO, 0x10000000 + (uint64_t) (i % 200) * 0x200 + 0x50, 4, 0xffff, (i / 200) * 7);
                if (match_remove(t, &k, &ud, &unused) != 0 || ud != (void *) (uintptr_t) (i + 1))
                        bad++;
                ranges_freed += unused;
                if (j == N / 2 && lookup(t, MMIO, 0x10000000 + 0x50, 4, 0) != NULL &&
                    match_find(t, &(MatchKey) { .addr = 0x10000050, .space = MMIO, .len = 4, .mask = 0xffff }) == NULL)
                        bad++;
        }
        CHECK_INT(bad, 0);
        CHECK_INT(ranges_freed, 200);
        CHECK_INT(match_count(t), 0);
        CHECK_INT(match_ranges(t, MMIO), 0);
        CHECK(lookup(t, MMIO, 0x10000050, 4, 0) == NULL);
        /* usable again after shrinking */
        CHECK_INT(add(t, key(MMIO, 0x10000050, 4, 0xffff, 1), 5, &nr), 0);
        CHECK(nr);
        CHECK(lookup(t, MMIO, 0x10000050, 4, 1) == (void *) 5);
        match_table_free(t);
}

static void test_range_limit(void) {
        MatchTable *t = NULL;
        bool nr = false;
        unsigned bad = 0;

        REQUIRE(match_table_new(&t) == 0);
        for (unsigned i = 0; i < MATCH_MAX_RANGES; i++)
                if (add(t, key(MMIO, 0x10000 + i * 4, 4, 0, 0), i + 1, &nr) != 0 || !nr)
                        bad++;
        CHECK_INT(bad, 0);
        CHECK_INT(match_ranges(t, MMIO), MATCH_MAX_RANGES);
        /* one range more than the table holds */
        CHECK_INT(add(t, key(MMIO, 0x20000, 4, 0, 0), 999, &nr), -ENOSPC);
        /* more registrations on existing ranges, and the other space, still fine */
        CHECK_INT(add(t, key(MMIO, 0x10004, 4, 0, 0), 999, &nr), -EEXIST);
        CHECK_INT(add(t, key(PIO, 0x100, 2, 0, 0), 1000, &nr), 0);
        CHECK_INT(match_remove(t, &(MatchKey) { .addr = 0x10000, .space = MMIO, .len = 4 }, NULL, NULL), 0);
        CHECK_INT(add(t, key(MMIO, 0x20000, 4, 0xff, 1), 999, &nr), 0);
        CHECK(nr);
        CHECK_INT(match_ranges(t, MMIO), MATCH_MAX_RANGES);
        match_table_free(t);
}

int main(void) {
        ut_start(120);
        test_key_check();
        test_basic();
        test_collisions();
        test_random();
        test_grow_shrink();
        test_range_limit();
        return ut_finish("test-match");
}
