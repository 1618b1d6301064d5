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
 *
 * The allow-list is the same for every guest: a worker compiles it when it
 * starts (sandbox_filter_new(), some 0.2 ms of libseccomp's work that a
 * spare does before it has a guest) and installs the program at its drop
 * (sandbox_filter_load()).
 */
#pragma once

#include <sys/types.h>

typedef struct SandboxFilter SandboxFilter;

int sandbox_drop(uid_t uid, gid_t gid, unsigned max_fds);
int sandbox_filter_new(SandboxFilter **ret);
/* sets no_new_privs (sandbox_drop has) and installs the program */
int sandbox_filter_load(const SandboxFilter *f);
SandboxFilter *sandbox_filter_free(SandboxFilter *f);
/* all three in one */
int sandbox_seccomp(void);
