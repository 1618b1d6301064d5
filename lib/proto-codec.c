/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's wire codec and key checks, built into the client library so
 * that both ends share one implementation.  Their symbols stay internal:
 * only xenioreqd_* is exported.
 */
#include "../src/shared/proto.c"
