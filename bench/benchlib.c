/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchlib.h"
#include "testutil.h"

/* ---- histogram ---- */

void hist_reset(Hist *h) {
        memset(h, 0, sizeof(*h));
}

static unsigned hist_bucket(uint64_t v) {
        unsigned e, i;

        if (v < HIST_SUB)
                return (unsigned) v;
        e = 63u - (unsigned) __builtin_clzll(v);        /* >= HIST_SUB_BITS */
        i = (e - HIST_SUB_BITS + 1) * HIST_SUB + (unsigned) ((v >> (e - HIST_SUB_BITS)) - HIST_SUB);
        return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

/* the middle of a bucket's value range */
static double hist_bucket_mid(unsigned i) {
        unsigned e;
        uint64_t lo, width;

        if (i < HIST_SUB)
                return (double) i;
        e = i / HIST_SUB + HIST_SUB_BITS - 1;
        width = UINT64_C(1) << (e - HIST_SUB_BITS);
        lo = ((uint64_t) (i % HIST_SUB) + HIST_SUB) << (e - HIST_SUB_BITS);
        return (double) lo + (double) width / 2.0;
}

void hist_add(Hist *h, uint64_t ns) {
        h->b[hist_bucket(ns)]++;
        h->count++;
        h->sum_ns += ns;
        if (ns > h->max_ns)
                h->max_ns = ns;
}

void hist_merge(Hist *into, const Hist *from) {
        for (unsigned i = 0; i < HIST_BUCKETS; i++)
                into->b[i] += from->b[i];
        into->count += from->count;
        into->sum_ns += from->sum_ns;
        if (from->max_ns > into->max_ns)
                into->max_ns = from->max_ns;
}

double hist_quantile_us(const Hist *h, double q) {
        uint64_t want, acc = 0;

        if (!h->count)
                return 0;
        want = (uint64_t) ((double) h->count * q);
        if (want >= h->count)
                want = h->count - 1;
        for (unsigned i = 0; i < HIST_BUCKETS; i++) {
                acc += h->b[i];
                if (acc > want)
                        return hist_bucket_mid(i) / 1000.0;
        }
        return (double) h->max_ns / 1000.0;
}

double hist_mean_us(const Hist *h) {
        return h->count ? (double) h->sum_ns / (double) h->count / 1000.0 : 0;
}

/* ---- shared memory ---- */

int bench_shm_map(int fd, BenchShm **ret) {
        void *p = mmap(NULL, sizeof(BenchShm), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

        if (p == MAP_FAILED)
                return -errno;
        *ret = p;
        return 0;
}

int bench_shm_new(BenchShm **ret, int *ret_fd) {
        int fd = memfd_create("xirq-bench", MFD_CLOEXEC), r;

        if (fd < 0)
                return -errno;
        if (ftruncate(fd, sizeof(BenchShm)) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        r = bench_shm_map(fd, ret);
        if (r < 0) {
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

/* ---- time, /proc ---- */

uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

void sleep_us(uint64_t us) {
        struct timespec ts = { (time_t) (us / 1000000u), (long) (us % 1000000u) * 1000 };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* the sums of the first two fields of /proc/PID/task/TID/schedstat (ns) over all threads */
int proc_sched(pid_t pid, double *ret_cpu, double *ret_wait) {
        char path[64], sub[128], buf[128];
        unsigned long long sum = 0, wsum = 0, v, w;
        struct dirent *e;
        DIR *d;
        int n = 0;

        snprintf(path, sizeof path, "/proc/%d/task", (int) pid);
        d = opendir(path);
        if (!d)
                return -1;
        while ((e = readdir(d))) {
                ssize_t len;
                int fd;

                if (e->d_name[0] == '.')
                        continue;
                snprintf(sub, sizeof sub, "%s/%.32s/schedstat", path, e->d_name);
                fd = open(sub, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;       /* the thread just exited */
                len = read(fd, buf, sizeof(buf) - 1);
                close(fd);
                if (len <= 0)
                        continue;
                buf[len] = '\0';
                if (sscanf(buf, "%llu %llu", &v, &w) == 2) {
                        sum += v;
                        wsum += w;
                        n++;
                }
        }
        closedir(d);
        if (!n)
                return -ENOENT;
        *ret_cpu = (double) sum / 1e9;
        *ret_wait = (double) wsum / 1e9;
        return 0;
}

/* utime + stime of /proc/PID/stat, in seconds; < 0 on error */
static double proc_stat_cpu_seconds(pid_t pid) {
        char path[64], buf[2048], *p;
        unsigned long long ut, st;
        ssize_t n;
        int fd;

        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -1;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return -1;
        buf[n] = '\0';
        /* the command name may contain anything: fields start after the last ')' */
        p = strrchr(buf, ')');
        if (!p)
                return -1;
        /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
        if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
                return -1;
        return (double) (ut + st) / (double) sysconf(_SC_CLK_TCK);
}

double proc_cpu_seconds(pid_t pid) {
        double s, w;

        if (proc_sched(pid, &s, &w) == 0)
                return s;
        return proc_stat_cpu_seconds(pid);
}

int proc_children(pid_t pid, pid_t *ret, size_t max) {
        char path[64], sub[128];
        struct dirent *e;
        size_t n = 0, files = 0;
        DIR *d;

        snprintf(path, sizeof path, "/proc/%d/task", (int) pid);
        d = opendir(path);
        if (!d)
                return -errno;
        /* each thread lists the children it forked */
        while ((e = readdir(d))) {
                FILE *f;
                int child;

                if (e->d_name[0] == '.')
                        continue;
                snprintf(sub, sizeof sub, "%s/%.32s/children", path, e->d_name);
                f = fopen(sub, "re");
                if (!f)
                        continue;       /* the thread just exited */
                files++;
                while (fscanf(f, "%d", &child) == 1) {
                        if (n < max)
                                ret[n] = (pid_t) child;
                        n++;
                }
                fclose(f);
        }
        closedir(d);
        /* no file at all: the process is gone, or the kernel lacks CONFIG_PROC_CHILDREN */
        if (files == 0)
                return -ENOENT;
        return n > (size_t) INT_MAX ? -E2BIG : (int) n;
}

static int cmp_pid(const void *x, const void *y) {
        pid_t a = *(const pid_t *) x, b = *(const pid_t *) y;

        return a < b ? -1 : a > b;
}

int proc_tree_affinity(pid_t pid, const cpu_set_t *set) {
        pid_t kids[PROC_FAMILY_MAX];
        char path[64];
        struct dirent *e;
        int n = 0, k;
        DIR *d;

        snprintf(path, sizeof path, "/proc/%d/task", (int) pid);
        d = opendir(path);
        if (!d)
                return -errno;
        while ((e = readdir(d)))
                if (e->d_name[0] != '.' && sched_setaffinity((pid_t) atoi(e->d_name), sizeof(*set), set) == 0)
                        n++;
        closedir(d);
        k = proc_children(pid, kids, PROC_FAMILY_MAX);
        for (int i = 0; i < k && i < (int) PROC_FAMILY_MAX; i++) {
                int r = proc_tree_affinity(kids[i], set);

                if (r > 0)
                        n += r;
        }
        return n;
}

int proc_family(pid_t pid, ProcFamily *ret) {
        ProcFamily f = { .n = 1 };
        int r;

        f.pids[0] = pid;
        r = proc_children(pid, f.pids + 1, PROC_FAMILY_MAX - 1);
        if (r < 0)
                return r;
        if ((size_t) r > PROC_FAMILY_MAX - 1)
                return -E2BIG;
        f.n = 1 + (unsigned) r;
        /* the set, not the order the threads listed them in: a restarted worker has a new pid */
        qsort(f.pids + 1, f.n - 1, sizeof(f.pids[0]), cmp_pid);
        *ret = f;
        return 0;
}

bool proc_family_same(const ProcFamily *a, const ProcFamily *b) {
        return a->n == b->n && memcmp(a->pids, b->pids, a->n * sizeof(a->pids[0])) == 0;
}

int proc_family_sched(const ProcFamily *f, double *ret_cpu, double *ret_wait, double *ret_first) {
        double cpu = 0, wait = 0, first = 0;

        for (unsigned i = 0; i < f->n; i++) {
                double c, w;
                int r = proc_sched(f->pids[i], &c, &w);

                if (r < 0)
                        return r;
                if (i == 0)
                        first = c;
                cpu += c;
                wait += w;
        }
        *ret_cpu = cpu;
        *ret_wait = wait;
        if (ret_first)
                *ret_first = first;
        return 0;
}

double proc_family_cpu_seconds(const ProcFamily *f, double *ret_first) {
        double cpu = 0, w;

        if (proc_family_sched(f, &cpu, &w, ret_first) == 0)
                return cpu;
        /* one method for every process: ticks for all of them when one has no schedstat */
        cpu = 0;
        for (unsigned i = 0; i < f->n; i++) {
                double c = proc_stat_cpu_seconds(f->pids[i]);

                if (c < 0)
                        return -1;
                if (i == 0 && ret_first)
                        *ret_first = c;
                cpu += c;
        }
        return cpu;
}

/* a "Key:   N kB" field of /proc/PID/<file>, in KiB; < 0 on error */
static long proc_kib_field(pid_t pid, const char *file, const char *key) {
        char path[64], line[256];
        size_t klen = strlen(key);
        long v = -1;
        FILE *f;

        snprintf(path, sizeof path, "/proc/%d/%s", (int) pid, file);
        f = fopen(path, "re");
        if (!f)
                return -1;
        while (fgets(line, sizeof line, f))
                if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
                        v = strtol(line + klen + 1, NULL, 10);
                        break;
                }
        fclose(f);
        return v;
}

long proc_status_kib(pid_t pid, const char *key) {
        return proc_kib_field(pid, "status", key);
}

long proc_smaps_kib(pid_t pid, const char *key) {
        return proc_kib_field(pid, "smaps_rollup", key);
}

long proc_private_kib(pid_t pid) {
        long c = proc_smaps_kib(pid, "Private_Clean"), d = proc_smaps_kib(pid, "Private_Dirty");

        return c < 0 || d < 0 ? -1 : c + d;
}

int proc_comm(pid_t pid, char *buf, size_t size) {
        char path[64];
        ssize_t n;
        int fd, r;

        if (size == 0)
                return -EINVAL;
        snprintf(path, sizeof path, "/proc/%d/comm", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        r = n < 0 ? -errno : 0;
        close(fd);
        if (r < 0)
                return r;
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return 0;
}

/* ---- processes ---- */

#define PROCS_MAX 256
static pid_t procs[PROCS_MAX];

static void procs_forget(pid_t pid) {
        for (size_t i = 0; i < PROCS_MAX; i++)
                if (procs[i] == pid)
                        procs[i] = 0;
}

pid_t proc_spawn(const char *const *argv, const char *const *env, const char *log, const int *keep,
                 size_t nkeep) {
        size_t slot;
        pid_t pid;

        for (slot = 0; slot < PROCS_MAX && procs[slot]; slot++)
                ;
        if (slot == PROCS_MAX)
                return -EMFILE;
        pid = tu_spawn(argv, env, log, keep, nkeep);
        if (pid > 0)
                procs[slot] = pid;
        return pid;
}

bool proc_alive(pid_t pid) {
        int st;

        if (pid <= 0)
                return false;
        if (waitpid(pid, &st, WNOHANG) == pid) {
                procs_forget(pid);
                return false;
        }
        return true;
}

int proc_stop(pid_t pid, int timeout_ms) {
        int r;

        if (pid <= 0)
                return -1;
        r = tu_stop_child(pid, timeout_ms);
        procs_forget(pid);
        return r < 0 ? -1 : r;
}

void procs_kill_all(void) {
        uint64_t deadline = now_ns() + 2000000000u;
        bool left;

        /* SIGTERM first: xensimd stops its xenstored child only when it can run its teardown */
        for (size_t i = 0; i < PROCS_MAX; i++)
                if (procs[i] > 0)
                        kill(procs[i], SIGTERM);
        do {
                left = false;
                for (size_t i = 0; i < PROCS_MAX; i++)
                        if (procs[i] > 0) {
                                if (waitpid(procs[i], NULL, WNOHANG) != 0)
                                        procs[i] = 0;
                                else
                                        left = true;
                        }
                if (left)
                        sleep_us(10000);
        } while (left && now_ns() < deadline);
        for (size_t i = 0; i < PROCS_MAX; i++)
                if (procs[i] > 0) {
                        kill(procs[i], SIGKILL);
                        waitpid(procs[i], NULL, 0);
                        procs[i] = 0;
                }
}

/* ---- files ---- */

int write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        if (!f)
                return -errno;
        fputs(text, f);
        if (fclose(f) != 0)
                return -errno;
        return 0;
}
