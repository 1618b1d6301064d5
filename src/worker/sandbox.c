/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#define __XEN_TOOLS__ 1
#include <errno.h>
#include <grp.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <seccomp.h>
#include <xen/xen.h>
#include <xen/sys/evtchn.h>
#include <xen/sys/privcmd.h>

#include "sandbox.h"

static int set_limit(int resource, rlim_t value) {
        struct rlimit rl = { .rlim_cur = value, .rlim_max = value };

        return setrlimit(resource, &rl) < 0 ? -errno : 0;
}

int sandbox_drop(uid_t uid, gid_t gid, unsigned max_fds) {
        uid_t ru, eu, su;
        gid_t rg, eg, sg;
        int r;

        if (uid == 0 || gid == 0)
                return -EINVAL;

        /* descriptors: what the worker holds now and its registrations, no more */
        r = set_limit(RLIMIT_NOFILE, max_fds);
        if (r < 0)
                return r;

        if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                return -errno;
        if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
                return -errno;
        if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
                return -EPERM;
        /* the point of it all: there is no way back to root */
        if (setuid(0) == 0 || setgid(0) == 0)
                return -EPERM;

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
#ifndef XIRQ_SANITIZERS
        /*
         * Nobody of the same uid attaches to it, and it makes no process.
         * (Sanitizer builds keep both: LeakSanitizer checks a process at its
         * exit from a tracer process of its own.)
         */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                return -errno;
        r = set_limit(RLIMIT_NPROC, 0);
        if (r < 0)
                return r;
#endif
        /* no file growing, no core file with guest data in it */
        r = set_limit(RLIMIT_FSIZE, 0);
        if (r >= 0)
                r = set_limit(RLIMIT_CORE, 0);
        return r;
}

/*
 * What the worker does once confined: the event loop (epoll), the channel
 * to the parent and eventfds (read, write, recvmsg, sendmsg, close, fcntl,
 * the eventfd check), memory (malloc), time, and the Xen libraries: on
 * Linux ioctls on /dev/xen/privcmd (DM_OP only) and /dev/xen/evtchn
 * (notify, bind an interdomain port, unbind) and reads and writes of the
 * latter; with the simulator's libraries, messages on their sockets and
 * futexes.
 */
static const int sandbox_allowed[] = {
        SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
        SCMP_SYS(recvmsg), SCMP_SYS(sendmsg), SCMP_SYS(recvfrom), SCMP_SYS(sendto),
        SCMP_SYS(close), SCMP_SYS(fcntl), SCMP_SYS(fstat), SCMP_SYS(newfstatat),
        SCMP_SYS(readlink), SCMP_SYS(readlinkat),
        SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(poll), SCMP_SYS(ppoll),
        /*
         * the loop makes its epoll set anew when a descriptor could not be
         * taken out of it (worker/loop.c)
         */
        SCMP_SYS(epoll_create1),
        SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
        SCMP_SYS(futex), SCMP_SYS(sched_yield),
        SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise), SCMP_SYS(brk),
        SCMP_SYS(getrandom), SCMP_SYS(getpid), SCMP_SYS(gettid),
        SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(restart_syscall),
        SCMP_SYS(exit), SCMP_SYS(exit_group),
#ifdef XIRQ_SANITIZERS
        /* the sanitizers' runtime: reports, their stacks and LeakSanitizer's stop-the-world at exit */
        SCMP_SYS(sigaltstack), SCMP_SYS(mprotect), SCMP_SYS(prlimit64), SCMP_SYS(getrlimit),
        SCMP_SYS(openat), SCMP_SYS(lseek), SCMP_SYS(pread64), SCMP_SYS(rt_sigaction), SCMP_SYS(prctl),
        SCMP_SYS(clone), SCMP_SYS(clone3), SCMP_SYS(ptrace), SCMP_SYS(wait4), SCMP_SYS(waitid),
        SCMP_SYS(sched_getaffinity), SCMP_SYS(tgkill), SCMP_SYS(getppid), SCMP_SYS(pipe2),
        SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(getdents64), SCMP_SYS(uname),
#endif
};

static const unsigned long sandbox_ioctls[] = {
        IOCTL_PRIVCMD_DM_OP,
        IOCTL_EVTCHN_NOTIFY,
        IOCTL_EVTCHN_BIND_INTERDOMAIN,
        IOCTL_EVTCHN_UNBIND,
};

int sandbox_seccomp(void) {
        scmp_filter_ctx ctx;
        int r = 0;

        ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
        if (!ctx)
                return -ENOMEM;
        for (size_t i = 0; r == 0 && i < sizeof(sandbox_allowed) / sizeof(sandbox_allowed[0]); i++)
                /* a name this architecture lacks (libseccomp gives it a negative number) is skipped */
                if (sandbox_allowed[i] >= 0)
                        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sandbox_allowed[i], 0);
        for (size_t i = 0; r == 0 && i < sizeof(sandbox_ioctls) / sizeof(sandbox_ioctls[0]); i++)
                /* the request number is an int: only its 32 bits count */
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                     SCMP_A1(SCMP_CMP_MASKED_EQ, UINT32_MAX, sandbox_ioctls[i]));
        if (r == 0)
                r = seccomp_load(ctx);
        seccomp_release(ctx);
        return r;
}
