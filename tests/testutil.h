/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * testutil: small helpers shared by the unit tests, the integration tests
 * (tests/integration) and the benchmark programs (bench/).  Functions return
 * 0 (or a count) on success and -errno on failure; none of them exits.
 */
#ifndef XENIOREQD_TESTUTIL_H
#define XENIOREQD_TESTUTIL_H

#include <sys/types.h>

/* the most descriptors tu_send_fds() attaches to one packet */
#define TU_MAX_FDS 8u

/*
 * Send one packet (MSG_NOSIGNAL) with nfds descriptors attached as SCM_RIGHTS.
 * 0, -EINVAL (more than TU_MAX_FDS), -EIO (sent in part) or -errno.
 */
int tu_send_fds(int sock, const void *buf, size_t len, const int *fds, unsigned nfds);
/*
 * Receive one packet (recvmsg with MSG_CMSG_CLOEXEC | flags).  The first
 * descriptor attached is returned in *ret_fd (-1: none), any further one is
 * closed; *ret_nfds counts them all.  The packet's length, or -errno.
 */
ssize_t tu_recv_fd(int sock, void *buf, size_t size, int flags, int *ret_fd, unsigned *ret_nfds);

/* Remove path and, for a directory, everything below it (symbolic links are not followed). */
int tu_rm_rf(const char *path);

#endif
