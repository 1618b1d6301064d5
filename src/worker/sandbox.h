/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker's confinement, applied once its Xen handles are open,
 * restricted to its domain and bound, and before it reads anything the
 * guest wrote:
 *   sandbox_drop:    setgroups → setresgid → setresuid to an unprivileged
 *                    user, then a check that root cannot be had back
 *                    (setuid(0) must fail), PR_SET_NO_NEW_PRIVS, not
 *                    dumpable, and limits: no new processes, no file
 *                    writes, no core files, max_fds descriptors
 *   sandbox_seccomp: a system call allow-list (libseccomp) with what the
 *                    hot path, the channel to the parent and the teardown
 *                    use; anything else kills the process
 * Each returns 0 or a negative errno; a worker that cannot confine itself
 * does not serve.
 */
#pragma once

#include <sys/types.h>

int sandbox_drop(uid_t uid, gid_t gid, unsigned max_fds);
int sandbox_seccomp(void);
