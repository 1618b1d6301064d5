/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#define __XEN_TOOLS__ 1
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

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

struct SandboxFilter {
        struct sock_fprog prog;
};

/* The allow-list as libseccomp builds it. */
static int sandbox_rules(scmp_filter_ctx ctx) {
        int r = 0;

        for (size_t i = 0; r == 0 && i < sizeof(sandbox_allowed) / sizeof(sandbox_allowed[0]); i++)
                /* a name this architecture lacks (libseccomp gives it a negative number) is skipped */
                if (sandbox_allowed[i] >= 0)
                        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sandbox_allowed[i], 0);
        for (size_t i = 0; r == 0 && i < sizeof(sandbox_ioctls) / sizeof(sandbox_ioctls[0]); i++)
                /* the request number is an int: only its 32 bits count */
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                     SCMP_A1(SCMP_CMP_MASKED_EQ, UINT32_MAX, sandbox_ioctls[i]));
        return r;
}

int sandbox_filter_new(SandboxFilter **ret) {
        const size_t max = BPF_MAXINSNS * sizeof(struct sock_filter);
        SandboxFilter *f;
        scmp_filter_ctx ctx;
        size_t size = 0;
        int p[2] = { -1, -1 }, r;

        f = calloc(1, sizeof(*f));
        if (f)
                f->prog.filter = malloc(max);
        ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
        if (!f || !f->prog.filter || !ctx) {
                seccomp_release(ctx);
                sandbox_filter_free(f);
                return -ENOMEM;
        }
        /*
         * The program, as libseccomp would load it, read back through a pipe:
         * not a file, which the file size limit of a dropped worker forbids,
         * and not blocking (some 60 instructions; more than the pipe holds is
         * an error).
         */
        r = pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0 ? -errno : sandbox_rules(ctx);
        if (r == 0)
                r = seccomp_export_bpf(ctx, p[1]);
        seccomp_release(ctx);
        if (p[1] >= 0)
                close(p[1]);
        while (r == 0 && size < max) {
                ssize_t n = read(p[0], (char *) f->prog.filter + size, max - size);

                if (n < 0)
                        r = -errno;
                else if (n == 0)
                        break;
                else
                        size += (size_t) n;
        }
        if (p[0] >= 0)
                close(p[0]);
        if (r == 0 && (size == 0 || size >= max || size % sizeof(struct sock_filter) != 0))
                r = -EPROTO;
        if (r < 0) {
                sandbox_filter_free(f);
                return r;
        }
        f->prog.len = (unsigned short) (size / sizeof(struct sock_filter));
        *ret = f;
        return 0;
}

int sandbox_filter_load(const SandboxFilter *f) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &f->prog) < 0)
                return -errno;
        return 0;
}

SandboxFilter *sandbox_filter_free(SandboxFilter *f) {
        if (f) {
                free(f->prog.filter);
                free(f);
        }
        return NULL;
}

int sandbox_seccomp(void) {
        SandboxFilter *f;
        int r = sandbox_filter_new(&f);

        if (r < 0)
                return r;
        r = sandbox_filter_load(f);
        sandbox_filter_free(f);
        return r;
}
