/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A brute-force model of the registration table (src/shared/match.c) for the unit
 * test and the fuzz target: a flat array searched linearly, applying the
 * rules of match.h one at a time, so that the same operations can be run on
 * both and every result compared.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "match.h"

typedef struct MatchRef MatchRef;

/* A model with room for max entries.  0 or -ENOMEM. */
int match_ref_new(MatchRef **ret, unsigned max);
MatchRef *match_ref_free(MatchRef *r);

/*
 * What match_add() must return: 0 (and *ret_new_range), -EINVAL, -EEXIST or
 * -ENOSPC; -ENOBUFS when the model itself is full (no verdict).
 */
int match_ref_add(MatchRef *r, const MatchKey *k, uintptr_t ud, bool *ret_new_range);
/* What match_remove() must return: 0 (and the entry's ud, *ret_unused), -EINVAL or -ENOENT. */
int match_ref_remove(MatchRef *r, const MatchKey *k, uintptr_t *ret_ud, bool *ret_unused);
/*
 * The ud match_lookup() must return (0: no match); *ret_matches is the number of
 * entries that match, which the add rules keep at one at most.
 */
uintptr_t match_ref_lookup(const MatchRef *r, uint8_t space, uint64_t addr, uint8_t size, uint64_t data,
                           unsigned *ret_matches);
unsigned match_ref_count(const MatchRef *r);
/* distinct addresses registered in space */
unsigned match_ref_ranges(const MatchRef *r, uint8_t space);
