/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include "match-ref.h"

typedef struct MatchRefEntry {
        MatchKey k;
        uintptr_t ud;
        bool used;
} MatchRefEntry;

struct MatchRef {
        unsigned max;
        MatchRefEntry e[];
};

int match_ref_new(MatchRef **ret, unsigned max) {
        MatchRef *r = calloc(1, sizeof(MatchRef) + (size_t) max * sizeof(MatchRefEntry));

        if (!r)
                return -ENOMEM;
        r->max = max;
        *ret = r;
        return 0;
}

MatchRef *match_ref_free(MatchRef *r) {
        free(r);
        return NULL;
}

static bool same_key(const MatchKey *a, const MatchKey *b) {
        return a->space == b->space && a->addr == b->addr && a->len == b->len && a->mask == b->mask &&
               a->value == b->value;
}

unsigned match_ref_ranges(const MatchRef *r, uint8_t space) {
        unsigned n = 0;

        for (unsigned i = 0; i < r->max; i++) {
                bool first = r->e[i].used && r->e[i].k.space == space;

                for (unsigned j = 0; first && j < i; j++)
                        if (r->e[j].used && r->e[j].k.space == space && r->e[j].k.addr == r->e[i].k.addr)
                                first = false;
                n += first;
        }
        return n;
}

int match_ref_add(MatchRef *r, const MatchKey *k, uintptr_t ud, bool *ret_new_range) {
        uint64_t masks[MATCH_MAX_MASKS + 1];
        unsigned nmasks = 0;
        bool range = false, known;
        int free_slot = -1;

        if (match_key_check(k) < 0)
                return -EINVAL;
        /* another range of the space overlapping this one */
        for (unsigned i = 0; i < r->max; i++) {
                const MatchRefEntry *e = &r->e[i];

                if (!e->used) {
                        if (free_slot < 0)
                                free_slot = (int) i;
                        continue;
                }
                if (e->k.space != k->space || (e->k.addr == k->addr && e->k.len == k->len))
                        continue;
                if (e->k.addr <= k->addr + k->len - 1 && k->addr <= e->k.addr + e->k.len - 1)
                        return -EEXIST;
        }
        /* the same range: no data value may match both; count its masks */
        for (unsigned i = 0; i < r->max; i++) {
                const MatchRefEntry *e = &r->e[i];

                if (!e->used || e->k.space != k->space || e->k.addr != k->addr)
                        continue;
                range = true;
                if (((e->k.value ^ k->value) & e->k.mask & k->mask) == 0)
                        return -EEXIST;
                known = false;
                for (unsigned j = 0; j < nmasks; j++)
                        known |= masks[j] == e->k.mask;
                if (!known && nmasks < MATCH_MAX_MASKS + 1)
                        masks[nmasks++] = e->k.mask;
        }
        known = false;
        for (unsigned j = 0; j < nmasks; j++)
                known |= masks[j] == k->mask;
        if (!known && nmasks >= MATCH_MAX_MASKS)
                return -ENOSPC;
        if (!range && match_ref_ranges(r, k->space) >= MATCH_MAX_RANGES)
                return -ENOSPC;
        if (free_slot < 0)
                return -ENOBUFS;
        r->e[free_slot] = (MatchRefEntry) { .k = *k, .ud = ud, .used = true };
        *ret_new_range = !range;
        return 0;
}

int match_ref_remove(MatchRef *r, const MatchKey *k, uintptr_t *ret_ud, bool *ret_unused) {
        if (match_key_check(k) < 0)
                return -EINVAL;
        for (unsigned i = 0; i < r->max; i++)
                if (r->e[i].used && same_key(&r->e[i].k, k)) {
                        bool unused = true;

                        r->e[i].used = false;
                        for (unsigned j = 0; j < r->max; j++)
                                if (r->e[j].used && r->e[j].k.space == k->space && r->e[j].k.addr == k->addr)
                                        unused = false;
                        *ret_ud = r->e[i].ud;
                        *ret_unused = unused;
                        return 0;
                }
        return -ENOENT;
}

uintptr_t match_ref_lookup(const MatchRef *r, uint8_t space, uint64_t addr, uint8_t size, uint64_t data,
                           unsigned *ret_matches) {
        uintptr_t found = 0;
        unsigned n = 0;

        for (unsigned i = 0; i < r->max; i++) {
                const MatchRefEntry *e = &r->e[i];

                if (e->used && e->k.space == space && e->k.addr == addr && e->k.len == size &&
                    (data & e->k.mask) == e->k.value) {
                        found = e->ud;
                        n++;
                }
        }
        *ret_matches = n;
        return found;
}

unsigned match_ref_count(const MatchRef *r) {
        unsigned n = 0;

        for (unsigned i = 0; i < r->max; i++)
                n += r->e[i].used;
        return n;
}
