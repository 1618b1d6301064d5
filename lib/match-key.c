/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* match_key_check() and match_len_mask(), used by the codec (internal symbols). */
#include "../src/shared/match.c"
