/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim: the evtchn handle's ring of delivered ports (xensim-shm.h) on its own: order,
 * overflow, and the entries a producer claimed but never filled (given up by the consumer;
 * the producer then claims another, and a mark of an earlier lap is filled over).
 */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>

#include "xensim-shm.h"

static int failures;

#define CHECK(cond, ...)                                                                 \
        do {                                                                             \
                if (!(cond)) {                                                           \
                        fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
                        fprintf(stderr, __VA_ARGS__);                                     \
                        fputc('\n', stderr);                                              \
                        failures++;                                                      \
                }                                                                        \
        } while (0)

static uint32_t claim(struct xs_ring *r) {
        return atomic_fetch_add(&r->prod, 1);
}

int main(void) {
        struct xs_ring *r = calloc(1, sizeof(*r));
        uint32_t p, idx, n;

        if (!r)
                return 1;

        /* First in, first out; empty gives 0. */
        CHECK(xs_ring_pop(r) == 0, "empty ring");
        CHECK(xs_ring_push(r, 5) == 0 && xs_ring_push(r, 7) == 0, "push");
        p = xs_ring_pop(r);
        CHECK(p == 5, "pop gave %u, want 5", p);
        p = xs_ring_pop(r);
        CHECK(p == 7, "pop gave %u, want 7", p);
        CHECK(xs_ring_pop(r) == 0, "empty again");

        /* A claimed, unfilled entry holds the ring up until filled... */
        idx = claim(r);
        CHECK(xs_ring_push(r, 9) == 0, "push behind a claim");
        CHECK(xs_ring_pop(r) == 0, "popped past an unfilled claim");
        CHECK(xs_ring_fill(r, idx, 3) == 0, "late fill");
        p = xs_ring_pop(r);
        CHECK(p == 3, "pop gave %u, want 3", p);
        p = xs_ring_pop(r);
        CHECK(p == 9, "pop gave %u, want 9", p);

        /* ...or until given up: then the next entry comes, and the late producer re-claims. */
        idx = claim(r);
        CHECK(xs_ring_push(r, 11) == 0, "push behind a claim");
        CHECK(xs_ring_skip(r) == 0, "skip of an unfilled entry gave a port");
        p = xs_ring_pop(r);
        CHECK(p == 11, "after the skip pop gave %u, want 11", p);
        CHECK(xs_ring_fill(r, idx, 4) == 1, "a fill of a given-up claim must claim again");
        CHECK(xs_ring_push(r, 4) == 0, "push again");
        p = xs_ring_pop(r);
        CHECK(p == 4, "pop gave %u, want 4", p);
        CHECK(atomic_load(&r->overflow) == 0, "overflow flagged");

        /* Skipping a filled entry takes it. */
        CHECK(xs_ring_push(r, 13) == 0, "push");
        p = xs_ring_skip(r);
        CHECK(p == 13, "skip of a filled entry gave %u, want 13", p);

        /* A mark left by an earlier lap (its producer died) is filled over in the next one. */
        idx = claim(r);
        CHECK(xs_ring_skip(r) == 0, "skip");
        atomic_store(&r->prod, idx + XS_RING_SIZE);
        atomic_store(&r->cons, idx + XS_RING_SIZE);
        CHECK(xs_ring_push(r, 15) == 0, "push over an old mark");
        p = xs_ring_pop(r);
        CHECK(p == 15, "pop gave %u, want 15", p);

        /* Overflow: a full ring refuses one more and says so. */
        for (n = 0; n < XS_RING_SIZE; n++)
                if (xs_ring_push(r, 1 + n % 1000) != 0)
                        break;
        CHECK(n == XS_RING_SIZE, "the ring took %u ports, want %u", n, XS_RING_SIZE);
        CHECK(xs_ring_push(r, 17) == -27 && atomic_load(&r->overflow) == 1,
              "no overflow when full");

        free(r);
        if (failures)
                fprintf(stderr, "%d check(s) failed\n", failures);
        return failures ? 1 : 0;
}
