/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the registration table: the input is a program of
 * add / remove / lookup operations on a small window of addresses, run on a
 * fresh table and on the brute-force reference (match-ref.c); every result
 * must agree.
 * Each operation takes 4 bytes: op, address and length, mask, value.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "xenioreqd/protocol.h"
#include "match.h"
#include "match-ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REF_MAX 512

static MatchKey decode_key(const uint8_t *p) {
        static const uint64_t masks[] = { 0, 0xffff, 0xff00, 0x0f0f, 0xff, 0x3, 0x1, 0x7,
                                          0xf, 0x1f, 0xf0, UINT64_MAX, 0xffff0000, 0x300, 0x8000, 0xfffe };
        static const uint8_t lens[] = { 1, 2, 4, 8 };
        MatchKey k;

        k.space = (p[1] & 0x80) ? XIRQ_SPACE_PIO : XIRQ_SPACE_MMIO;
        k.addr = 0xfff0 + (p[1] & 0x1f);        /* PIO near its top end too */
        k.len = lens[(p[1] >> 5) & 3];
        k.mask = masks[p[2] & 15] & match_len_mask(k.len);
        k.value = ((uint64_t) p[3] | ((uint64_t) (p[2] >> 4) << 8)) & k.mask;
        if ((p[0] & 0xf0) == 0xf0)
                k.value |= 0x10000;             /* now and then an invalid key */
        return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        MatchTable *t = NULL;
        MatchRef *ref = NULL;
        uintptr_t next_ud = 1;

        if (match_table_new(&t) < 0 || match_ref_new(&ref, REF_MAX) < 0)
                abort();
        for (size_t off = 0; off + 4 <= size; off += 4) {
                const uint8_t *p = data + off;
                MatchKey k = decode_key(p);

                switch (p[0] % 3) {
                case 0: {
                        bool nr1 = false, nr2 = false;
                        int r1 = match_ref_add(ref, &k, next_ud, &nr1), r2;
                        if (r1 == -ENOBUFS) {
                                /* the reference is full; the table decides alone */
                                r2 = match_add(t, &k, (void *) next_ud, &nr2);
                                if (r2 == 0)
                                        (void) match_remove(t, &k, NULL, NULL);
                                break;
                        }
                        r2 = match_add(t, &k, (void *) next_ud, &nr2);
                        if (r1 != r2 || (r1 == 0 && nr1 != nr2))
                                abort();
                        next_ud++;
                        break;
                }
                case 1: {
                        uintptr_t ud1 = 0;
                        void *ud2 = NULL;
                        bool u1 = false, u2 = false;
                        int r1 = match_ref_remove(ref, &k, &ud1, &u1);
                        int r2 = match_remove(t, &k, &ud2, &u2);
                        if (r1 != r2 || (r1 == 0 && ((uintptr_t) ud2 != ud1 || u1 != u2)))
                                abort();
                        break;
                }
                default: {
                        uint64_t d = ((uint64_t) p[3] << 8 | p[2]) * UINT64_C(0x0001000100010001);
                        unsigned matches;
                        if (p[0] & 8)
                                d &= 0x3ff;
                        if (match_ref_lookup(ref, k.space, k.addr, k.len, d, &matches) !=
                                    (uintptr_t) match_lookup(t, k.space, k.addr, k.len, d) ||
                            matches > 1)        /* the add rules keep matches unambiguous */
                                abort();
                        break;
                }
                }
        }
        if (match_count(t) != match_ref_count(ref))
                abort();
        match_table_free(t);
        match_ref_free(ref);
        return 0;
}
