/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xirq-bench: the benchmark suite of xen-ioreqd on xensim (run it through
 * bench/run).  Every scenario starts its own xensimd in a temporary
 * directory, the real xen-ioreqd binary (its parent process, which starts a
 * worker process per guest with registrations) and the floor server
 * (xensim-floor) on the drop-in Xen libraries, and bench-backend processes;
 * this process is the guest (libxensim-guest).  The two servers serve
 * different domains of the same host and take turns, round by round (A B,
 * then B A, ...), on the same workload.  The daemon's CPU time is that of
 * its parent and all its workers.
 *
 *   P1  latency: 1 guest, 1 vCPU, 1 registration, back-to-back kicks
 *   P2  throughput: G guests x V vCPUs = 1, 16, 256
 *   P3  scale: 1000 guests x 4 vCPUs x 8 registrations, one busy guest
 *   P4  match cost: 1 vs 4096 registrations, instructions per dispatch (callgrind), of
 *       the worker's hot path in bench-dispatch (valgrind cannot run the worker's seccomp filter)
 *   P5  CPU seconds per million kicks (from the P1 and P2 rounds)
 *   P6  forwarded accesses: a read of a claimed register's round trip beside a kick's, in
 *       one guest of one daemon, interleaved round by round
 *   BP  adaptive busy-poll (busy_poll_us), when the daemon really polls
 *   VB  the example virtio-blk device (xen-ioreqd-vblk): 4 KiB random requests per second
 *       with 1 and 4 vCPUs, the CPU of the daemon and of the device, beside floor kicks
 *   R1  kills under load (issue 10): 100 kills of a worker, 100 of the main process, the daemon
 *       under the stand-in service manager (tests/xirq-supervise); stalls, kicks lost, servers
 *   C1  one guest's p99 while 1000 other domains are destroyed and created again (issue 9)
 *
 * The table goes to stdout, the results as JSON to --json FILE.
 *
 * This file is the harness the scenarios share (xirq-bench.h: the host, the daemon and its
 * workers, the CPU time of a server, the floor server, the backends, a measured side, the
 * targets) and the driver (options, one child process per scenario, the report); each
 * scenario is a file of its own, scenario-*.c.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "xirq-bench.h"

#define SCENARIO_ALARM  900                     /* seconds: no scenario may hang */

/* ---- options and output ---- */

struct xirq_opt opt;

void sb_printf(Sb *b, const char *fmt, ...) {
        va_list ap;
        int n;

        for (;;) {
                size_t room = b->cap - b->len;

                va_start(ap, fmt);
                n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
                va_end(ap);
                if (n < 0)
                        abort();
                if ((size_t) n < room) {
                        b->len += (size_t) n;
                        return;
                }
                b->cap = (b->cap + (size_t) n + 1) * 2;
                b->s = realloc(b->s, b->cap);
                if (!b->s)
                        abort();
        }
}

Sb json_results;         /* ",\n"-separated objects */

typedef enum { ST_MET, ST_MISSED, ST_NOT_RUN } Status;

typedef struct Target {
        char id[24];
        char what[160];
        double value;           /* the measured ratio or quantity */
        double limit;
        bool at_least;          /* value >= limit (else value <= limit) */
        Status status;
        char note[200];
} Target;

static Target targets[32];
static size_t n_targets;

void target_add(const char *id, const char *what, double value, double limit, bool at_least,
                       const char *note) {
        Target *t;

        if (n_targets == sizeof(targets) / sizeof(targets[0]))
                return;
        t = &targets[n_targets++];
        snprintf(t->id, sizeof t->id, "%s", id);
        snprintf(t->what, sizeof t->what, "%s", what);
        t->value = value;
        t->limit = limit;
        t->at_least = at_least;
        t->status = (at_least ? value >= limit : value <= limit) ? ST_MET : ST_MISSED;
        snprintf(t->note, sizeof t->note, "%s", note ? note : "");
}

void target_not_run(const char *id, const char *what, double limit, bool at_least, const char *why) {
        target_add(id, what, 0, limit, at_least, why);
        targets[n_targets - 1].status = ST_MISSED;
}

void say(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fflush(stdout);
}

/* ---- failure ---- */

static char env_dirs[8][256];

static void cleanup_dirs(void) {
        for (size_t i = 0; i < 8; i++)
                if (env_dirs[i][0]) {
                        if (!opt.keep)
                                (void) tu_rm_rf(env_dirs[i]);
                        env_dirs[i][0] = '\0';
                }
}

void die(const char *fmt, ...) {
        va_list ap;

        fflush(stdout);
        fprintf(stderr, "xirq-bench: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        procs_kill_all();
        for (size_t i = 0; i < 8; i++)
                if (env_dirs[i][0])
                        fprintf(stderr, "xirq-bench: logs kept in %s\n", env_dirs[i]);
        opt.keep = true;
        exit(1);
}

static void on_alarm(int sig) {
        static const char msg[] = "xirq-bench: a scenario exceeded its time limit, stopping\n";

        (void) !write(STDERR_FILENO, msg, sizeof(msg) - 1);
        procs_kill_all();
        _exit(1);
}

static pid_t scenario_pid;

static void on_term(int sig) {
        if (scenario_pid > 0)
                kill(scenario_pid, SIGTERM);
        procs_kill_all();
        _exit(130);
}

static char failed[128];

static ssize_t read_full(int fd, void *buf, size_t len) {
        size_t got = 0;

        while (got < len) {
                ssize_t n = read(fd, (char *) buf + got, len - got);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                got += (size_t) n;
        }
        return (ssize_t) got;
}

static void write_full(int fd, const void *buf, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, buf, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        _exit(1);
                buf = (const char *) buf + n;
                len -= (size_t) n;
        }
}

/*
 * Each scenario runs in a child process with its own xensimd: the guest library keeps the
 * host's shared memory mapped for the life of a process, so one process can drive only one
 * host.  The child sends its targets and its JSON back through a pipe.
 */
static void run_scenario(const char *name, void (*fn)(void)) {
        int pipefd[2], st;
        size_t n = 0, before = n_targets;
        char buf[4096];
        ssize_t got;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                die("pipe: %m");
        fflush(stdout);
        scenario_pid = fork();
        if (scenario_pid < 0)
                die("fork: %m");
        if (scenario_pid == 0) {
                close(pipefd[0]);
                signal(SIGINT, SIG_DFL);
                alarm(SCENARIO_ALARM);
                n_targets = 0;
                free(json_results.s);
                json_results = (Sb) { 0 };
                fn();
                say("\n");
                write_full(pipefd[1], &n_targets, sizeof(n_targets));
                write_full(pipefd[1], targets, n_targets * sizeof(targets[0]));
                if (json_results.len)
                        write_full(pipefd[1], json_results.s, json_results.len);
                exit(0);
        }
        close(pipefd[1]);
        if (read_full(pipefd[0], &n, sizeof(n)) == (ssize_t) sizeof(n) && n <= sizeof(targets) / sizeof(targets[0]) - before &&
            read_full(pipefd[0], targets + before, n * sizeof(targets[0])) == (ssize_t) (n * sizeof(targets[0]))) {
                n_targets = before + n;
                if (json_results.len)
                        sb_printf(&json_results, ",\n");
                while ((got = read_full(pipefd[0], buf, sizeof(buf) - 1)) > 0) {
                        buf[got] = '\0';
                        sb_printf(&json_results, "%s", buf);
                }
        }
        close(pipefd[0]);
        while (waitpid(scenario_pid, &st, 0) < 0 && errno == EINTR)
                ;
        scenario_pid = 0;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || n_targets == before) {
                n_targets = before;
                say("%s FAILED (%s %d)\n\n", name, WIFEXITED(st) ? "exit status" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
                snprintf(failed + strlen(failed), sizeof(failed) - strlen(failed), "%s%s", failed[0] ? " " : "", name);
        }
}

/* ---- the simulated host ---- */

void env_start(Env *e, const char *name) {
        char bin[PATH_MAX + 32], fdarg[16], xsp[400];
        const char *argv[8];
        int pipefd[2], r;
        size_t slot;

        memset(e, 0, sizeof(*e));
        snprintf(e->dir, sizeof e->dir, "/tmp/xirq-bench-%s-XXXXXX", name);
        if (!mkdtemp(e->dir))
                die("mkdtemp: %m");
        chmod(e->dir, 0755);
        for (slot = 0; slot < 8 && env_dirs[slot][0]; slot++)
                ;
        if (slot < 8)
                snprintf(env_dirs[slot], sizeof env_dirs[slot], "%s", e->dir);
        snprintf(e->simdir, sizeof e->simdir, "%s/sim", e->dir);
        snprintf(e->libs, sizeof e->libs, "LD_LIBRARY_PATH=%s/sim/.libs", opt.builddir);

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                die("pipe: %m");
        snprintf(bin, sizeof bin, "%s/sim/xensimd", opt.builddir);
        snprintf(fdarg, sizeof fdarg, "%d", pipefd[1]);
        argv[0] = bin;
        argv[1] = "--dir";
        argv[2] = e->simdir;
        argv[3] = "--ready-fd";
        argv[4] = fdarg;
        argv[5] = NULL;
        {
                char log[320];

                snprintf(log, sizeof log, "%s/xensimd.log", e->dir);
                e->xensimd = proc_spawn(argv, NULL, log, &pipefd[1], 1);
        }
        close(pipefd[1]);
        if (e->xensimd < 0)
                die("cannot start %s: %s", bin, strerror(-e->xensimd));
        r = tu_wait_ready(pipefd[0], WAIT_MS);
        close(pipefd[0]);
        if (r == -ETIMEDOUT)
                die("xensimd did not report READY within %d ms (see %s/xensimd.log)", WAIT_MS, e->dir);
        if (r < 0)
                die("xensimd exited before READY (%s; see %s/xensimd.log)", strerror(-r), e->dir);

        setenv("XENSIM_DIR", e->simdir, 1);
        snprintf(xsp, sizeof xsp, "%s/xenstored.sock", e->simdir);
        setenv("XENSTORED_PATH", xsp, 1);
        r = xsg_open(&e->g, e->simdir);
        if (r < 0)
                die("xsg_open(%s): %s", e->simdir, strerror(-r));
}

void env_stop(Env *e) {
        e->g = xsg_close(e->g);
        if (e->xensimd > 0)
                proc_stop(e->xensimd, 5000);
        e->xensimd = 0;
        for (size_t i = 0; i < 8; i++)
                if (strcmp(env_dirs[i], e->dir) == 0) {
                        if (!opt.keep)
                                (void) tu_rm_rf(e->dir);
                        env_dirs[i][0] = '\0';
                }
}

uint32_t domain_create(Env *e, const char *name, unsigned vcpus) {
        uint32_t domid;
        int r = xsg_domain_create(e->g, name, vcpus, &domid);

        if (r < 0)
                die("cannot create domain %s: %s", name, strerror(-r));
        return domid;
}

/* one kick: a 4-byte write of value at addr from vCPU vcpu */
void kick(Env *e, uint32_t domid, unsigned vcpu, uint64_t addr, uint64_t value) {
        int r = xsg_write(e->g, domid, vcpu, XSG_MMIO, addr, 4, value, 10000);

        if (r < 0)
                die("kick of domain %" PRIu32 " vCPU %u at 0x%" PRIx64 " failed: %s", domid, vcpu, addr,
                    strerror(-r));
}

/* what the host knows of a domain's ioreq servers, for failure messages */
void domain_describe(Env *e, uint32_t domid) {
        struct xsg_server_info info[XSG_MAX_SERVERS];
        int n = xsg_servers(e->g, domid, info, XSG_MAX_SERVERS);

        if (n < 0) {
                fprintf(stderr, "xirq-bench: domain %" PRIu32 ": %s\n", domid, strerror(-n));
                return;
        }
        fprintf(stderr, "xirq-bench: domain %" PRIu32 ": %d ioreq servers\n", domid, n);
        for (int i = 0; i < n && i < XSG_MAX_SERVERS; i++)
                fprintf(stderr, "xirq-bench:   server %u %s, %u MMIO ranges, vCPU 0 port %" PRIu32 " bound to %" PRIu32 "\n",
                        info[i].id, info[i].enabled ? "enabled" : "disabled", info[i].nr_ranges[XSG_MMIO],
                        info[i].vp_eport[0], info[i].bound_port[0]);
}

/* ---- xen-ioreqd ---- */

void daemon_init(Env *e, Daemon *d, const char *name) {
        char text[1024];
        int r;

        memset(d, 0, sizeof(*d));
        snprintf(d->conf, sizeof d->conf, "%s/%s.conf", e->dir, name);
        snprintf(d->guests, sizeof d->guests, "%s/%s.guests", e->dir, name);
        snprintf(d->socks, sizeof d->socks, "%s/%s.run", e->dir, name);
        snprintf(d->log, sizeof d->log, "%s/%s.log", e->dir, name);
        if (mkdir(d->guests, 0755) < 0 || mkdir(d->socks, 0755) < 0)
                die("mkdir: %m");
        snprintf(text, sizeof text,
                 "[daemon]\nguests_dir = %s\nsocket_dir = %s\nlog_level = notice\nmax_guests = 4096\n"
                 "worker_user = 65534\n",
                 d->guests, d->socks);
        r = write_text(d->conf, text);
        if (r < 0)
                die("cannot write %s: %s", d->conf, strerror(-r));
}

void daemon_guest(Daemon *d, const char *guest, const char *extra) {
        char path[400], text[1024];
        int r;

        snprintf(path, sizeof path, "%s/%s.conf", d->guests, guest);
        snprintf(text, sizeof text, "[guest]\nname = %s\n%s", guest, extra ? extra : "");
        r = write_text(path, text);
        if (r < 0)
                die("cannot write %s: %s", path, strerror(-r));
}

void daemon_socket(const Daemon *d, const char *guest, char *buf, size_t size) {
        snprintf(buf, size, "%s/%s.sock", d->socks, guest);
}

void daemon_guests_create(Env *e, Daemon *d, char prefix, unsigned n, unsigned vcpus, uint32_t *ret) {
        uint64_t t0 = now_ns();

        for (unsigned i = 0; i < n; i++) {
                char name[32];

                snprintf(name, sizeof name, "%c%04u", prefix, i);
                daemon_guest(d, name, NULL);
                ret[i] = domain_create(e, name, vcpus);
        }
        say("  %u domains created in %.1f s\n", n, (double) (now_ns() - t0) / 1e9);
}

/* tool: NULL, or a wrapper command line (valgrind ...) ending before the daemon */
void daemon_start(Env *e, Daemon *d, const char *const *tool) {
        char bin[PATH_MAX + 32];
        const char *argv[24];
        const char *env[] = { e->libs, NULL };
        size_t n = 0;

        snprintf(bin, sizeof bin, "%s/src/xen-ioreqd", opt.builddir);
        for (size_t i = 0; tool && tool[i] && n < 16; i++)
                argv[n++] = tool[i];
        argv[n++] = bin;
        argv[n++] = "-c";
        argv[n++] = d->conf;
        argv[n++] = "-d";
        argv[n] = NULL;
        d->pid = proc_spawn(argv, env, d->log, NULL, 0);
        if (d->pid < 0)
                die("cannot start %s: %s", argv[0], strerror(-d->pid));
}

/* connect to a guest's socket until the daemon reports it running as domid */
xenioreqd_client *daemon_connect(Daemon *d, const char *guest, uint32_t domid, int timeout_ms) {
        uint64_t deadline = now_ns() + (uint64_t) timeout_ms * 1000000u;
        char path[400];
        int r = 0;

        daemon_socket(d, guest, path, sizeof path);
        for (;;) {
                xenioreqd_client *c = NULL;

                if (d->pid > 0 && !proc_alive(d->pid))
                        die("xen-ioreqd exited (see %s)", d->log);
                r = xenioreqd_connect(path, &c);
                if (r >= 0 && xenioreqd_domid(c) == domid)
                        return c;
                xenioreqd_close(c);
                if (now_ns() > deadline)
                        break;
                sleep_us(2000);
        }
        die("guest %s: xen-ioreqd did not serve it as domain %" PRIu32 " within %d ms (last: %s; see %s)", guest, domid,
            timeout_ms, r < 0 ? strerror(-r) : "other domid", d->log);
}

void daemon_stop(Daemon *d, int timeout_ms) {
        static ProcFamily fam;
        int st;

        if (proc_family(d->pid, &fam) < 0)
                fam.n = 0;
        st = proc_stop(d->pid, timeout_ms);
        d->pid = 0;
        if (st == 0)
                return;
        /* a parent killed before it stopped its workers leaves them running: they go too */
        for (unsigned i = 1; i < fam.n; i++) {
                char comm[32];

                if (proc_comm(fam.pids[i], comm, sizeof comm) == 0 && strncmp(comm, "xirq-d", 6) == 0 &&
                    kill(fam.pids[i], SIGKILL) == 0)
                        fprintf(stderr, "xirq-bench: killed worker %d (%s), left running\n", (int) fam.pids[i], comm);
        }
        die("xen-ioreqd did not stop cleanly (%s %d; see %s)", st > 128 ? "signal" : "status",
            st > 128 ? st - 128 : st, d->log);
}

pid_t daemon_worker(const Daemon *d, uint32_t domid) {
        pid_t kids[PROC_FAMILY_MAX];
        char want[32], comm[32];
        int n = proc_children(d->pid, kids, PROC_FAMILY_MAX);

        if (n < 0)
                die("cannot list the workers of xen-ioreqd %d: %s", (int) d->pid, strerror(-n));
        snprintf(want, sizeof want, "xirq-d%" PRIu32, domid);
        for (int i = 0; i < n && i < (int) PROC_FAMILY_MAX; i++)
                if (proc_comm(kids[i], comm, sizeof comm) == 0 && strcmp(comm, want) == 0)
                        return kids[i];
        return 0;
}

void daemon_family(const Daemon *d, ProcFamily *ret) {
        int r = proc_family(d->pid, ret);

        if (r < 0)
                die("cannot list the processes of xen-ioreqd %d: %s", (int) d->pid, strerror(-r));
}

/* ---- CPU time of a server over a stretch of work ---- */

static void cpu_family(pid_t pid, bool family, ProcFamily *ret) {
        int r;

        if (!family) {
                ret->n = 1;
                ret->pids[0] = pid;
                return;
        }
        r = proc_family(pid, ret);
        if (r < 0)
                die("cannot list the processes of %d: %s", (int) pid, strerror(-r));
}

void cpu_span_start(CpuSpan *c, pid_t pid, bool family) {
        cpu_family(pid, family, &c->procs);
        if (proc_family_sched(&c->procs, &c->cpu, &c->wait, &c->parent) == 0)
                return;
        /* clock ticks for every process of the span, start and end */
        c->wait = -1;
        c->cpu = proc_family_cpu_seconds(&c->procs, &c->parent);
        if (c->cpu < 0)
                die("cannot read the CPU time of process %d and its %u children", (int) pid, c->procs.n - 1);
}

double cpu_span_end(CpuSpan *c, pid_t pid, bool family, double *ret_wait, const char *who) {
        static ProcFamily now;          /* 16 KiB: not on the stack of every round */
        double cpu, wait = -1, parent = 0;
        int r = 0;

        cpu_family(pid, family, &now);
        if (!proc_family_same(&c->procs, &now))
                die("%s: its processes changed during a measurement (%u, then %u: a worker started, ended or was "
                    "restarted)", who, c->procs.n, now.n);
        /* by the method of the start */
        if (c->wait >= 0)
                r = proc_family_sched(&c->procs, &cpu, &wait, &parent);
        else
                cpu = proc_family_cpu_seconds(&c->procs, &parent);
        if (r < 0 || cpu < 0)
                die("%s: cannot read the CPU time of its %u processes at the end of a measurement", who, c->procs.n);
        if (ret_wait)
                *ret_wait = c->wait >= 0 ? wait - c->wait : 0;
        c->parent_used = parent - c->parent;
        return cpu - c->cpu;
}

/* ---- servers started with --ready-fd ---- */

pid_t ready_start(Env *e, const char *const *tool, const char *const *argv, const int *keep, size_t nkeep,
                  const char *log, int timeout_ms) {
        const char *args[48];
        const char *env[] = { e->libs, NULL };
        char readyarg[16];
        int pipefd[2], fds[8], r;
        size_t n = 0;
        pid_t pid;

        if (nkeep >= sizeof(fds) / sizeof(fds[0]))
                die("ready_start: too many descriptors");
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                die("pipe: %m");
        snprintf(readyarg, sizeof readyarg, "%d", pipefd[1]);
        for (size_t i = 0; tool && tool[i] && n < 16; i++)
                args[n++] = tool[i];
        for (size_t i = 0; argv[i] && n < sizeof(args) / sizeof(args[0]) - 3; i++)
                args[n++] = argv[i];
        args[n++] = "--ready-fd";
        args[n++] = readyarg;
        args[n] = NULL;
        for (size_t i = 0; i < nkeep; i++)
                fds[i] = keep[i];
        fds[nkeep] = pipefd[1];
        pid = proc_spawn(args, env, log, fds, nkeep + 1);
        close(pipefd[1]);
        if (pid < 0) {
                close(pipefd[0]);
                die("cannot start %s: %s", args[0], strerror(-pid));
        }
        r = tu_wait_ready(pipefd[0], timeout_ms);
        close(pipefd[0]);
        if (r < 0)
                die("%s did not get ready (%s; see %s)", argv[0], strerror(-r), log);
        return pid;
}

pid_t floor_start(Env *e, uint32_t domid, int efd, const char *log) {
        char bin[PATH_MAX + 32], dom[16], efdarg[16], range[64], match[64];
        const char *argv[] = { bin, "--domid", dom, "--range", range, "--match", match, "--eventfd", efdarg, NULL };

        snprintf(bin, sizeof bin, "%s/sim/xensim-floor", opt.builddir);
        snprintf(dom, sizeof dom, "%" PRIu32, domid);
        snprintf(efdarg, sizeof efdarg, "%d", efd);
        snprintf(range, sizeof range, "0x%" PRIx64 "-0x%" PRIx64, KICK_ADDR, KICK_ADDR + 3);
        snprintf(match, sizeof match, "0x%" PRIx64 "=0", KICK_ADDR);
        return ready_start(e, NULL, argv, &efd, 1, log, WAIT_MS);
}

/* ---- backends ---- */

/* fds: eventfds to inherit (floor), or sockets: guest sockets to register with (xen-ioreqd) */
void backend_start(Env *e, Backend *b, const char *log, const int *fds, size_t nfds, char **sockets,
                          size_t nsockets) {
        char bin[PATH_MAX + 32], shmarg[16], addr[32];
        const char **argv;
        int *keep;
        size_t n = 0, nkeep = 0;
        uint64_t deadline;
        int r;

        r = bench_shm_new(&b->shm, &b->shm_fd);
        if (r < 0)
                die("shared memory: %s", strerror(-r));
        argv = calloc(10 + 2 * (nfds + nsockets), sizeof(*argv));
        keep = calloc(1 + nfds, sizeof(*keep));
        if (!argv || !keep)
                die("out of memory");
        snprintf(bin, sizeof bin, "%s/bench/bench-backend", opt.builddir);
        snprintf(shmarg, sizeof shmarg, "%d", b->shm_fd);
        snprintf(addr, sizeof addr, "0x%" PRIx64, KICK_ADDR);
        argv[n++] = bin;
        argv[n++] = "--shm";
        argv[n++] = shmarg;
        keep[nkeep++] = b->shm_fd;
        char (*fdargs)[16] = calloc(nfds + 1, sizeof(*fdargs));
        if (!fdargs)
                die("out of memory");
        for (size_t i = 0; i < nfds; i++) {
                snprintf(fdargs[i], sizeof fdargs[i], "%d", fds[i]);
                argv[n++] = "--eventfd";
                argv[n++] = fdargs[i];
                keep[nkeep++] = fds[i];
        }
        if (nsockets) {
                argv[n++] = "--addr";
                argv[n++] = addr;
        }
        if (nsockets && b->claim) {
                argv[n++] = "--claim";
                argv[n++] = b->claim;
        }
        for (size_t i = 0; i < nsockets; i++) {
                argv[n++] = "--socket";
                argv[n++] = sockets[i];
        }
        argv[n] = NULL;
        b->pid = proc_spawn(argv, NULL, log, keep, nkeep);
        free(fdargs);
        free(argv);
        free(keep);
        if (b->pid < 0)
                die("cannot start %s: %s", bin, strerror(-b->pid));
        deadline = now_ns() + (uint64_t) WAIT_MS * 1000000u;
        while (atomic_load(&b->shm->ready) == 0) {
                if (now_ns() > deadline || !proc_alive(b->pid))
                        die("bench-backend did not get ready (see %s)", log);
                sleep_us(1000);
        }
        if (atomic_load(&b->shm->ready) != 1)
                die("bench-backend failed to set up (see %s)", log);
        (void) e;
}

void backend_stop(Backend *b) {
        if (b->shm)
                atomic_store(&b->shm->stop, 1);
        if (b->pid > 0)
                proc_stop(b->pid, 3000);
        b->pid = 0;
}

/* wait until the backend read every kick issued so far */
void backend_drain(Backend *b, uint64_t expect, const char *who) {
        uint64_t deadline = now_ns() + 5000000000u;

        while (atomic_load(&b->shm->delivered) < expect) {
                if (now_ns() > deadline)
                        die("%s: the backend (%s) got %" PRIu64 " of %" PRIu64 " kicks", who,
                            proc_alive(b->pid) ? "running" : "exited", (uint64_t) atomic_load(&b->shm->delivered),
                            expect);
                sleep_us(200);
        }
        if (atomic_load(&b->shm->delivered) != expect)
                die("%s: the backend got %" PRIu64 " kicks, %" PRIu64 " were sent", who,
                    (uint64_t) atomic_load(&b->shm->delivered), expect);
}

/* ---- one measured side: a guest kicking a server with a backend ---- */

static int cmp_double(const void *x, const void *y) {
        double a = *(const double *) x, b = *(const double *) y;

        return a < b ? -1 : a > b;
}

double median(double *v, size_t n) {
        if (!n)
                return 0;
        qsort(v, n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Rounds are short and alternate, so a burst of outside load spoils a few pairs and moves
 * the median little, where it can move a quantile of all samples pooled.
 */
double paired_ratio(const Side *a, const Side *b, int q) {
        double v[MAX_ROUNDS];
        size_t n = 0;

        for (unsigned r = 0; r < a->nr_rounds && r < b->nr_rounds; r++)
                if (b->round_q[r][q] > 0)
                        v[n++] = a->round_q[r][q] / b->round_q[r][q];
        return median(v, n);
}

void side_round_end(Side *s) {
        hist_merge(&s->rt, &s->cur);
        if (s->nr_rounds < MAX_ROUNDS) {
                s->round_q[s->nr_rounds][0] = hist_quantile_us(&s->cur, 0.5);
                s->round_q[s->nr_rounds][1] = hist_quantile_us(&s->cur, 0.99);
                s->nr_rounds++;
        }
}

/* A side's guest vCPU 0: a thread that runs what it is given, the caller waiting. */
struct Kicker {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        void (*fn)(void *arg);
        void *arg;
        bool asked, done;
};

static void *kicker_main(void *arg) {
        Kicker *kk = arg;

        pthread_mutex_lock(&kk->lock);
        for (;;) {
                while (!kk->asked)
                        pthread_cond_wait(&kk->cond, &kk->lock);
                kk->asked = false;
                pthread_mutex_unlock(&kk->lock);
                kk->fn(kk->arg);
                pthread_mutex_lock(&kk->lock);
                kk->done = true;
                pthread_cond_broadcast(&kk->cond);
        }
        return NULL;
}

void side_run(Side *s, void (*fn)(void *arg), void *arg) {
        Kicker *kk = s->kicker;
        int r;

        if (!kk) {
                kk = calloc(1, sizeof(*kk));
                if (!kk)
                        die("out of memory");
                pthread_mutex_init(&kk->lock, NULL);
                pthread_cond_init(&kk->cond, NULL);
                r = pthread_create(&kk->thread, NULL, kicker_main, kk);
                if (r)
                        die("%s: cannot start its vCPU thread: %s", s->name, strerror(r));
                s->kicker = kk;
        }
        pthread_mutex_lock(&kk->lock);
        kk->fn = fn;
        kk->arg = arg;
        kk->done = false;
        kk->asked = true;
        pthread_cond_broadcast(&kk->cond);
        while (!kk->done)
                pthread_cond_wait(&kk->cond, &kk->lock);
        pthread_mutex_unlock(&kk->lock);
}

typedef struct KicksJob {
        Env *e;
        Side *s;
        uint64_t n;
        bool measure;
} KicksJob;

static void kicks_run(void *arg) {
        const KicksJob *job = arg;
        Side *s = job->s;
        BenchShm *shm = s->be.shm;
        uint64_t k;

        for (uint64_t i = 0; i < job->n; i++) {
                uint64_t t0 = now_ns(), t1;
                int r;

                k = atomic_load_explicit(&shm->kicks, memory_order_relaxed) + 1;
                atomic_store_explicit(&shm->stamps[(k - 1) % BENCH_STAMPS], t0, memory_order_relaxed);
                atomic_store_explicit(&shm->kicks, k, memory_order_release);
                r = xsg_write(job->e->g, s->domid, 0, XSG_MMIO, KICK_ADDR, 4, 0, 10000);
                t1 = now_ns();
                if (r < 0)
                        die("%s: kick %" PRIu64 " of domain %" PRIu32 " failed: %s", s->name, k, s->domid,
                            strerror(-r));
                if (job->measure)
                        hist_add(&s->cur, t1 - t0);
        }
}

void side_kicks(Env *e, Side *s, uint64_t n, bool measure) {
        static CpuSpan span;            /* a daemon's family: 16 KiB */
        BenchShm *shm = s->be.shm;
        uint64_t w0;

        backend_drain(&s->be, atomic_load(&shm->kicks), s->name);
        if (measure) {
                atomic_store(&shm->record, 1);
                cpu_span_start(&span, s->server, s->family);
                hist_reset(&s->cur);
        }
        w0 = now_ns();
        side_run(s, kicks_run, &(KicksJob) { .e = e, .s = s, .n = n, .measure = measure });
        if (measure) {
                side_round_end(s);
                s->wall += (double) (now_ns() - w0) / 1e9;
                s->cpu += cpu_span_end(&span, s->server, s->family, NULL, s->name);
                s->cpu_parent += span.parent_used;
                s->procs = span.procs.n;
                s->kicks += n;
        }
        backend_drain(&s->be, atomic_load(&shm->kicks), s->name);
        atomic_store(&shm->record, 0);
}

/* rounds of n kicks, the sides taking turns (the order flips every round) */
void sides_rounds(Env *e, Side *const *sides, size_t nsides, unsigned rounds, uint64_t n) {
        for (size_t i = 0; i < nsides; i++)
                side_kicks(e, sides[i], 2000, false);       /* warm-up */
        for (unsigned r = 0; r < rounds; r++)
                for (size_t i = 0; i < nsides; i++)
                        side_kicks(e, sides[r % 2 ? nsides - 1 - i : i], n, true);
}

void json_hist(Sb *j, const char *key, const Hist *h) {
        sb_printf(j,
                  "\"%s\": {\"count\": %" PRIu64 ", \"mean_us\": %.3f, \"p50_us\": %.3f, \"p99_us\": %.3f, "
                  "\"p999_us\": %.3f, \"max_us\": %.3f}",
                  key, h->count, hist_mean_us(h), hist_quantile_us(h, 0.5), hist_quantile_us(h, 0.99),
                  hist_quantile_us(h, 0.999), (double) h->max_ns / 1000.0);
}

double cpu_per_mkick(const Side *s) {
        return s->kicks ? s->cpu / ((double) s->kicks / 1e6) : 0;
}

void json_side(Sb *j, const Side *s) {
        sb_printf(j, "\"%s\": {", s->name);
        json_hist(j, "round_trip", &s->rt);
        sb_printf(j, ", ");
        json_hist(j, "delivery", &s->be.shm->delivery);
        sb_printf(j,
                  ", \"kicks\": %" PRIu64 ", \"seconds\": %.3f, \"cpu_seconds\": %.3f, \"cpu_s_per_mkick\": %.3f, "
                  "\"cpu_processes\": %u, \"cpu_s_per_mkick_parent\": %.3f, \"coalesced_reads\": %" PRIu64 "}",
                  s->kicks, s->wall, s->cpu, cpu_per_mkick(s), s->procs,
                  s->kicks ? s->cpu_parent / ((double) s->kicks / 1e6) : 0,
                  (uint64_t) atomic_load(&s->be.shm->coalesced));
}

void print_side(const Side *s) {
        const Hist *d = &s->be.shm->delivery;

        say("  %-18s rt p50 %7.2f  p99 %7.2f  p99.9 %7.2f us | delivery p50 %7.2f  p99 %7.2f  p99.9 %7.2f us | "
            "cpu %.2f s/Mkick",
            s->name, hist_quantile_us(&s->rt, 0.5), hist_quantile_us(&s->rt, 0.99), hist_quantile_us(&s->rt, 0.999),
            hist_quantile_us(d, 0.5), hist_quantile_us(d, 0.99), hist_quantile_us(d, 0.999), cpu_per_mkick(s));
        if (s->family)
                say(" (%u processes, of which the parent %.3f)\n", s->procs,
                    s->kicks ? s->cpu_parent / ((double) s->kicks / 1e6) : 0);
        else
                say(" (1 process)\n");
}

int make_eventfd(void) {
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

        if (fd < 0)
                die("eventfd: %m");
        return fd;
}

void side_start_floor(Env *e, Side *s, const char *tag) {
        char log[400];
        int efd = make_eventfd();

        snprintf(log, sizeof log, "%s/floor-%s.log", e->dir, tag);
        s->server = floor_start(e, s->domid, efd, log);
        snprintf(log, sizeof log, "%s/backend-%s.log", e->dir, tag);
        backend_start(e, &s->be, log, &efd, 1, NULL, 0);
        close(efd);
}

void side_start_daemon(Env *e, Side *s, Daemon *d, const char *guest, const char *tag) {
        char log[400], sock[400];
        char *socks[1] = { sock };
        xenioreqd_client *c;

        /* the guest must be known to the daemon before the backend registers */
        c = daemon_connect(d, guest, s->domid, WAIT_MS);
        xenioreqd_close(c);
        daemon_socket(d, guest, sock, sizeof sock);
        snprintf(log, sizeof log, "%s/backend-%s.log", e->dir, tag);
        s->server = d->pid;
        s->family = true;
        backend_start(e, &s->be, log, NULL, 0, socks, 1);
}

/* ---- the report ---- */

static void machine(char *cpu, size_t cpusize, char *kernel, size_t ksize) {
        char line[512];
        struct utsname u;
        FILE *f = fopen("/proc/cpuinfo", "re");

        snprintf(cpu, cpusize, "unknown");
        while (f && fgets(line, sizeof line, f))
                if (strncmp(line, "model name", 10) == 0) {
                        char *p = strchr(line, ':');

                        if (p) {
                                p += 1 + strspn(p + 1, " \t");
                                p[strcspn(p, "\n")] = '\0';
                                snprintf(cpu, cpusize, "%s", p);
                        }
                        break;
                }
        if (f)
                fclose(f);
        snprintf(kernel, ksize, "unknown");
        if (uname(&u) == 0)
                snprintf(kernel, ksize, "%s %s %s", u.sysname, u.release, u.machine);
}

static void json_string(FILE *f, const char *s) {
        fputc('"', f);
        for (; *s; s++) {
                unsigned char ch = (unsigned char) *s;

                if (ch == '"' || ch == '\\')
                        fprintf(f, "\\%c", ch);
                else if (ch < 0x20)
                        fprintf(f, "\\u%04x", ch);
                else
                        fputc(ch, f);
        }
        fputc('"', f);
}

static bool wanted(const char *id) {
        const char *p;
        size_t l = strlen(id);

        if (!opt.only)
                return true;
        for (p = opt.only; (p = strstr(p, id)); p += l)
                if ((p == opt.only || p[-1] == ',') && (p[l] == '\0' || p[l] == ','))
                        return true;
        return false;
}

static void usage(FILE *f) {
        fputs("Usage: xirq-bench --builddir DIR [--quick] [--json FILE] [--only P1,P2,P3,P4,VB,P6,R1,C1]\n"
              "                  [--keep]\n"
              "                  [--command TEXT] [--commit TEXT]\n"
              "Runs the xen-ioreqd benchmark suite on xensim (normally through bench/run).\n",
              f);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "builddir", required_argument, NULL, 'b' },
                { "quick", no_argument, NULL, 'q' },
                { "json", required_argument, NULL, 'j' },
                { "only", required_argument, NULL, 'o' },
                { "keep", no_argument, NULL, 'k' },
                { "command", required_argument, NULL, 'C' },
                { "commit", required_argument, NULL, 'G' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        char cpu[256], kernel[256], started[64];
        struct rlimit rl;
        time_t t0 = time(NULL);
        unsigned missed = 0;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
                switch (c) {
                case 'b':
                        if (!realpath(optarg, opt.builddir)) {
                                fprintf(stderr, "xirq-bench: %s: %m\n", optarg);
                                return 2;
                        }
                        break;
                case 'q': opt.quick = true; break;
                case 'j': opt.json = optarg; break;
                case 'o': opt.only = optarg; break;
                case 'k': opt.keep = true; break;
                case 'C': opt.command = optarg; break;
                case 'G': opt.commit = optarg; break;
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        if (optind != argc || !opt.builddir[0]) {
                usage(stderr);
                return 2;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        signal(SIGPIPE, SIG_IGN);
        signal(SIGALRM, on_alarm);
        signal(SIGINT, on_term);
        signal(SIGTERM, on_term);
        atexit(cleanup_dirs);
        /* P3 holds ~10 fds per guest in the daemon: children inherit the raised limit */
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
        unsetenv("NOTIFY_SOCKET");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_PID");
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
        unsetenv("JOURNAL_STREAM");

        machine(cpu, sizeof cpu, kernel, sizeof kernel);
        strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t0));
        say("xen-ioreqd benchmark suite (%s)\ncommand: %s\ncommit:  %s\nmachine: %ld CPUs, %s, %s\nstarted: %s\n\n",
            opt.quick ? "quick" : "full", opt.command ? opt.command : "xirq-bench", opt.commit ? opt.commit : "unknown",
            sysconf(_SC_NPROCESSORS_ONLN), cpu, kernel, started);

        if (wanted("P1") || wanted("P5"))
                run_scenario("P1/P5", scenario_p1);
        if (wanted("P2"))
                run_scenario("P2", scenario_p2);
        if (wanted("P3"))
                run_scenario("P3", scenario_p3);
        if (wanted("P4"))
                run_scenario("P4", scenario_p4);
        if (wanted("VB"))
                run_scenario("VB", scenario_vb);
        if (wanted("P6"))
                run_scenario("P6", scenario_p6);
        if (wanted("R1"))
                run_scenario("R1", scenario_r1);
        if (wanted("C1"))
                run_scenario("C1", scenario_c1);

        say("%-10s %-58s %10s %9s  %s\n", "target", "measure", "value", "limit", "status");
        for (size_t i = 0; i < n_targets; i++) {
                const Target *t = &targets[i];

                if (t->status != ST_MET)
                        missed++;
                say("%-10s %-58s %10.3f %2s%7.2f  %s%s%s\n", t->id, t->what, t->value, t->at_least ? ">=" : "<=",
                    t->limit, t->status == ST_MET ? "MET" : "MISSED", t->note[0] ? " - " : "", t->note);
        }
        say("\n%zu targets, %u missed; %ld s\n", n_targets, missed, (long) (time(NULL) - t0));
        if (failed[0])
                say("scenarios that FAILED (no results): %s\n", failed);

        if (opt.json) {
                FILE *f = fopen(opt.json, "we");

                if (!f)
                        die("cannot write %s: %m", opt.json);
                fprintf(f, "{\n\"suite\": \"xen-ioreqd bench\",\n\"mode\": \"%s\",\n\"command\": ",
                        opt.quick ? "quick" : "full");
                json_string(f, opt.command ? opt.command : "xirq-bench");
                fprintf(f, ",\n\"commit\": ");
                json_string(f, opt.commit ? opt.commit : "unknown");
                fprintf(f, ",\n\"started\": \"%s\",\n\"seconds\": %ld,\n\"machine\": {\"nproc\": %ld, \"cpu\": ", started,
                        (long) (time(NULL) - t0), sysconf(_SC_NPROCESSORS_ONLN));
                json_string(f, cpu);
                fprintf(f, ", \"kernel\": ");
                json_string(f, kernel);
                fprintf(f, "},\n\"failed\": \"%s\",\n\"results\": [\n%s\n],\n\"targets\": [\n", failed,
                        json_results.s ? json_results.s : "");
                for (size_t i = 0; i < n_targets; i++) {
                        const Target *t = &targets[i];

                        fprintf(f, "{\"id\": \"%s\", \"measure\": ", t->id);
                        json_string(f, t->what);
                        fprintf(f, ", \"value\": %.4f, \"limit\": %.2f, \"compare\": \"%s\", \"status\": \"%s\", \"note\": ",
                                t->value, t->limit, t->at_least ? ">=" : "<=", t->status == ST_MET ? "MET" : "MISSED");
                        json_string(f, t->note);
                        fprintf(f, "}%s\n", i + 1 < n_targets ? "," : "");
                }
                fprintf(f, "]\n}\n");
                if (fclose(f) != 0)
                        die("cannot write %s: %m", opt.json);
                say("results written to %s\n", opt.json);
        }
        free(json_results.s);
        return failed[0] ? 1 : 0;
}
