/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the registration table: the input is a program of
 * add / remove / lookup operations on a small window of addresses, run on a
 * fresh table and on a brute-force reference; every result must agree.
 * Each operation takes 4 bytes: op, address and length, mask, value.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xenioreqd/protocol.h"
#include "match.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REF_MAX 512

typedef struct Ref {
        MatchKey k;
        uintptr_t ud;
        bool used;
} Ref;

static Ref ref[REF_MAX];

static bool same_key(const MatchKey *a, const MatchKey *b) {
        return a->space == b->space && a->addr == b->addr && a->len == b->len && a->mask == b->mask &&
               a->value == b->value;
}

static int ref_add(const MatchKey *k, uintptr_t ud, bool *new_range) {
        uint64_t masks[MATCH_MAX_MASKS + 1];
        unsigned nmasks = 0, ranges = 0;
        bool range = false, known;
        int free_slot = -1;

        if (match_key_check(k) < 0)
                return -EINVAL;
        for (int i = 0; i < REF_MAX; i++) {
                const Ref *r = &ref[i];
                if (!r->used) {
                        if (free_slot < 0)
                                free_slot = i;
                        continue;
                }
                if (r->k.space != k->space || (r->k.addr == k->addr && r->k.len == k->len))
                        continue;
                if (r->k.addr <= k->addr + k->len - 1 && k->addr <= r->k.addr + r->k.len - 1)
                        return -EEXIST;
        }
        for (int i = 0; i < REF_MAX; i++) {
                const Ref *r = &ref[i];
                if (!r->used || r->k.space != k->space || r->k.addr != k->addr)
                        continue;
                range = true;
                if (((r->k.value ^ k->value) & r->k.mask & k->mask) == 0)
                        return -EEXIST;
                known = false;
                for (unsigned j = 0; j < nmasks; j++)
                        known |= masks[j] == r->k.mask;
                if (!known && nmasks < MATCH_MAX_MASKS + 1)
                        masks[nmasks++] = r->k.mask;
        }
        known = false;
        for (unsigned j = 0; j < nmasks; j++)
                known |= masks[j] == k->mask;
        if (!known && nmasks >= MATCH_MAX_MASKS)
                return -ENOSPC;
        for (int i = 0; i < REF_MAX && !range; i++) {
                bool first = ref[i].used && ref[i].k.space == k->space;
                for (int j = 0; first && j < i; j++)
                        if (ref[j].used && ref[j].k.space == k->space && ref[j].k.addr == ref[i].k.addr)
                                first = false;
                ranges += first;
        }
        if (!range && ranges >= MATCH_MAX_RANGES)
                return -ENOSPC;
        if (free_slot < 0)
                return -ENOSPC;         /* the reference is full: skip */
        ref[free_slot] = (Ref) { .k = *k, .ud = ud, .used = true };
        *new_range = !range;
        return 0;
}

static int ref_remove(const MatchKey *k, uintptr_t *ud, bool *unused) {
        for (int i = 0; i < REF_MAX; i++)
                if (ref[i].used && same_key(&ref[i].k, k)) {
                        *ud = ref[i].ud;
                        ref[i].used = false;
                        *unused = true;
                        for (int j = 0; j < REF_MAX; j++)
                                if (ref[j].used && ref[j].k.space == k->space && ref[j].k.addr == k->addr)
                                        *unused = false;
                        return 0;
                }
        return -ENOENT;
}

static uintptr_t ref_lookup(uint8_t space, uint64_t addr, uint8_t size, uint64_t data) {
        uintptr_t found = 0;
        unsigned n = 0;

        for (int i = 0; i < REF_MAX; i++)
                if (ref[i].used && ref[i].k.space == space && ref[i].k.addr == addr && ref[i].k.len == size &&
                    (data & ref[i].k.mask) == ref[i].k.value) {
                        found = ref[i].ud;
                        n++;
                }
        if (n > 1)
                abort();        /* the add rules keep matches unambiguous */
        return found;
}

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
        uintptr_t next_ud = 1;

        if (match_table_new(&t) < 0)
                abort();
        memset(ref, 0, sizeof(ref));
        for (size_t off = 0; off + 4 <= size; off += 4) {
                const uint8_t *p = data + off;
                MatchKey k = decode_key(p);

                switch (p[0] % 3) {
                case 0: {
                        bool nr1 = false, nr2 = false;
                        int r1 = ref_add(&k, next_ud, &nr1), r2;
                        if (r1 == -ENOSPC && match_key_check(&k) == 0 && !match_find(t, &k)) {
                                /* the reference may be full; the table decides alone */
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
                        int r1 = match_key_check(&k) < 0 ? -EINVAL : ref_remove(&k, &ud1, &u1);
                        int r2 = match_remove(t, &k, &ud2, &u2);
                        if (r1 != r2 || (r1 == 0 && ((uintptr_t) ud2 != ud1 || u1 != u2)))
                                abort();
                        break;
                }
                default: {
                        uint64_t d = ((uint64_t) p[3] << 8 | p[2]) * UINT64_C(0x0001000100010001);
                        if (p[0] & 8)
                                d &= 0x3ff;
                        if (ref_lookup(k.space, k.addr, k.len, d) !=
                            (uintptr_t) match_lookup(t, k.space, k.addr, k.len, d))
                                abort();
                        break;
                }
                }
        }
        {
                unsigned n = 0;
                for (int i = 0; i < REF_MAX; i++)
                        n += ref[i].used;
                if (match_count(t) != n)
                        abort();
        }
        match_table_free(t);
        return 0;
}
