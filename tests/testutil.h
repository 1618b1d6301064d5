/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * testutil: small helpers shared by the unit tests, the integration tests
 * (tests/integration) and the benchmark programs (bench/).  Functions return
 * 0 (or a count) on success and -errno on failure; none of them exits.
 */
#ifndef XENIOREQD_TESTUTIL_H
#define XENIOREQD_TESTUTIL_H

/* Remove path and, for a directory, everything below it (symbolic links are not followed). */
int tu_rm_rf(const char *path);

#endif
