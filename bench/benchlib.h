/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * benchlib: what the benchmark programs share.
 *
 *  - BenchShm, the memory shared between the guest side (xirq-bench) and a
 *    backend (bench-backend): the guest stamps each kick with CLOCK_MONOTONIC
 *    just before the write, the backend computes the delivery time when its
 *    eventfd read returns and keeps a histogram there.
 *  - Hist, a log-linear latency histogram (64 sub-buckets per power of two of
 *    nanoseconds: < 1.6 % error), mergeable and small enough to share.
 *  - process helpers: spawn and stop (over tests/testutil.h) keeping a list
 *    of children for failure paths; from /proc: CPU time and memory of a
 *    process, its children, and a process with its children (ProcFamily).
 */
#ifndef XENIOREQD_BENCHLIB_H
#define XENIOREQD_BENCHLIB_H

#include <stdatomic.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- histogram ---- */

#define HIST_SUB_BITS   6u
#define HIST_SUB        (1u << HIST_SUB_BITS)
#define HIST_BUCKETS    (40u * HIST_SUB)        /* up to 2^40 ns (18 min) */

typedef struct Hist {
        uint64_t count;
        uint64_t sum_ns;
        uint64_t max_ns;
        uint64_t b[HIST_BUCKETS];
} Hist;

void hist_reset(Hist *h);
void hist_add(Hist *h, uint64_t ns);
void hist_merge(Hist *into, const Hist *from);
/* the q-quantile (0..1) in microseconds; 0 when empty */
double hist_quantile_us(const Hist *h, double q);
double hist_mean_us(const Hist *h);

/* ---- guest ↔ backend shared memory ---- */

#define BENCH_STAMPS    4096u           /* kicks the guest may be ahead of the backend */

typedef struct BenchShm {
        /* guest side */
        _Atomic uint64_t kicks;                 /* kicks issued; kick k is stamped in stamps[(k-1) % BENCH_STAMPS] */
        _Atomic uint64_t stamps[BENCH_STAMPS];  /* CLOCK_MONOTONIC ns, just before the guest write */
        _Atomic uint32_t record;                /* backend records delivery times while set */
        _Atomic uint32_t stop;                  /* backend exits when set */
        /* backend side */
        _Atomic uint32_t ready;                 /* 1: registered and waiting; 2: failed */
        _Atomic uint32_t pad;
        _Atomic uint64_t delivered;             /* sum of the eventfd counters read */
        _Atomic uint64_t reads;                 /* eventfd reads that returned a count */
        _Atomic uint64_t coalesced;             /* reads that returned more than one kick */
        _Atomic uint64_t forwarded;             /* forwarded accesses answered (--claim) */
        _Atomic uint64_t forward_errors;        /* accesses outside what it claimed, failed answers */
        Hist delivery;                          /* guest write → backend read returned */
} BenchShm;

/* What bench-backend answers to a forwarded read at offset inside its claim. */
static inline uint32_t bench_claim_value(uint64_t offset) {
        return offset == 0 ? 0x74726976u : 0x5a000000u | (uint32_t) (offset & 0xffffff);
}

/* A memfd holding one BenchShm, mapped; the fd is close-on-exec (the spawner clears that). */
int bench_shm_new(BenchShm **ret, int *ret_fd);
int bench_shm_map(int fd, BenchShm **ret);

/* ---- time, /proc ---- */

uint64_t now_ns(void);
void sleep_us(uint64_t us);
/*
 * CPU time of a process (all its threads), in seconds: from the schedulers' per-thread
 * schedstat (nanoseconds) when the kernel has it, else utime + stime of /proc/PID/stat
 * (clock ticks).  < 0 on error.
 */
double proc_cpu_seconds(pid_t pid);
/*
 * From the per-thread schedstat, summed over the threads: CPU time and time spent runnable but
 * waiting for a CPU (run-queue delay), in seconds.  -ENOENT without schedstat.
 */
int proc_sched(pid_t pid, double *ret_cpu, double *ret_wait);
/* a "Key:   N kB" field of /proc/PID/status, in KiB; < 0 on error */
long proc_status_kib(pid_t pid, const char *key);
/* the same of /proc/PID/smaps_rollup (Rss, Pss, Private_Clean, ...) */
long proc_smaps_kib(pid_t pid, const char *key);
/* memory only this process maps: Private_Clean + Private_Dirty of smaps_rollup, KiB; < 0 on error */
long proc_private_kib(pid_t pid);
/* /proc/PID/comm without its newline: 0 or -errno */
int proc_comm(pid_t pid, char *buf, size_t size);

/*
 * The direct children of a process (/proc/PID/task/TID/children of every thread), at most max
 * of them into ret.  Returns how many there are (maybe more than max), or -errno (-ENOENT:
 * the process is gone, or the kernel has no children files).
 */
int proc_children(pid_t pid, pid_t *ret, size_t max);

/*
 * A process and its children, measured as one: xen-ioreqd is its parent process and one
 * worker per guest.  pids[0] is the process, the children follow in pid order, so that two
 * snapshots compare equal exactly when the set is the same (a restarted worker has a new pid).
 */
#define PROC_FAMILY_MAX 4096u
typedef struct ProcFamily {
        unsigned n;
        pid_t pids[PROC_FAMILY_MAX];
} ProcFamily;

int proc_family(pid_t pid, ProcFamily *ret);
/*
 * Every thread of pid and of all its descendants allowed the CPUs of set (sched_setaffinity).
 * Returns how many threads were set, or -errno for pid itself.
 */
int proc_tree_affinity(pid_t pid, const cpu_set_t *set);
bool proc_family_same(const ProcFamily *a, const ProcFamily *b);
/*
 * proc_sched() summed over the family, and the CPU time of pids[0] alone into *ret_first (if
 * not NULL); -errno if one of them cannot be read.
 */
int proc_family_sched(const ProcFamily *f, double *ret_cpu, double *ret_wait, double *ret_first);
/*
 * proc_cpu_seconds() summed over the family, by one method for all: schedstat for every one,
 * or utime + stime for every one if any lacks schedstat (pids[0]'s alone into *ret_first if not
 * NULL).  < 0 on error.
 */
double proc_family_cpu_seconds(const ProcFamily *f, double *ret_first);

/* ---- processes ---- */

/*
 * tu_spawn() (tests/testutil.h: argv[0] a path, stdout and stderr appended to log,
 * the environment plus env, only keep[0..nkeep) inherited besides 0-2), and the
 * child is remembered and killed by procs_kill_all().  Returns the pid or -errno.
 */
pid_t proc_spawn(const char *const *argv, const char *const *env, const char *log, const int *keep,
                 size_t nkeep);
/* SIGTERM, wait up to timeout_ms, then SIGKILL.  Returns the exit status, 128+signal, or -1. */
int proc_stop(pid_t pid, int timeout_ms);
/* Is it still running (reaps it if not)? */
bool proc_alive(pid_t pid);
/* Stop every child still running: SIGTERM, SIGKILL after 2 s (failure paths; signal-safe). */
void procs_kill_all(void);

/* ---- files ---- */

int write_text(const char *path, const char *text);

#endif
