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
/*
 * The same keeping every descriptor: up to max go to fds[] in the order they
 * came (the rest are closed), *ret_nfds counts them all.
 */
ssize_t tu_recv_fds(int sock, void *buf, size_t size, int flags, int *fds, unsigned max, unsigned *ret_nfds);

/*
 * Start argv[0] (a path) with stdin from /dev/null, stdout and stderr appended
 * to log (NULL: /dev/null), the environment of this process plus env
 * (NAME=VALUE strings, NULL-terminated, may be NULL), default SIGPIPE, and no
 * descriptor inherited besides 0-2 and keep[0..nkeep).  The pid, or -errno.
 */
pid_t tu_spawn(const char *const *argv, const char *const *env, const char *log, const int *keep, size_t nkeep);
/*
 * Wait up to timeout_ms for a child to report readiness by writing "READY\n"
 * to the pipe fd: 0, -ETIMEDOUT, -EPIPE (the pipe was closed first), -EBADMSG
 * (something else was written) or -errno.
 */
int tu_wait_ready(int fd, int timeout_ms);
/*
 * Wait up to timeout_ms (0: look once) for the child pid to end, and reap it:
 * 0 with its wait status in *ret_wstatus, -ETIMEDOUT while it still runs, or
 * -errno of waitpid().
 */
int tu_wait_child(pid_t pid, int timeout_ms, int *ret_wstatus);
/* SIGTERM, up to timeout_ms for the child to end, then SIGKILL; reaps it.  tu_exit_status(), or -errno. */
int tu_stop_child(pid_t pid, int timeout_ms);
/* the exit code of a wait status, or 128 + the signal that ended the process */
int tu_exit_status(int wstatus);

/* Descriptors open in process pid (0: this one, not counting the one used to list them), or -errno. */
int tu_count_fds(pid_t pid);

/* Remove path and, for a directory, everything below it (symbolic links are not followed). */
int tu_rm_rf(const char *path);

#endif
