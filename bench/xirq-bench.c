/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xirq-bench: the benchmark suite of xen-ioreqd on xensim (run it through
 * bench/run).  Every scenario starts its own xensimd in a temporary
 * directory, the real xen-ioreqd binary and the floor server (xensim-floor)
 * on the drop-in Xen libraries, and bench-backend processes; this process
 * is the guest (libxensim-guest).  The two servers serve different domains
 * of the same host and take turns, round by round (A B, then B A, ...), on
 * the same workload.
 *
 *   P1  latency: 1 guest, 1 vCPU, 1 registration, back-to-back kicks
 *   P2  throughput: G guests x V vCPUs = 1, 16, 256
 *   P3  scale: 1000 guests x 4 vCPUs x 8 registrations, one busy guest
 *   P4  match cost: 1 vs 4096 registrations, instructions per dispatch (callgrind)
 *   P5  CPU seconds per million kicks (from the P1 and P2 rounds)
 *   BP  adaptive busy-poll (busy_poll_us), when the daemon really polls
 *
 * The table goes to stdout, the results as JSON to --json FILE.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
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

#include "benchlib.h"
#include "testutil.h"
#include "xenioreqd-client.h"
#include "xensim-guest.h"

#define KICK_BASE       UINT64_C(0xfe000000)    /* a virtio-mmio device */
#define KICK_ADDR       (KICK_BASE + 0x50)      /* its QUEUE_NOTIFY register */
#define WAIT_MS         10000                   /* bound on every start-up wait */
#define SCENARIO_ALARM  900                     /* seconds: no scenario may hang */
#define MAX_ROUNDS      256

/* ---- options and output ---- */

static struct {
        char builddir[PATH_MAX];
        bool quick;
        bool keep;
        const char *json;
        const char *only;
        const char *command;
        const char *commit;
} opt;

/* a growing string */
typedef struct Sb {
        char *s;
        size_t len, cap;
} Sb;

static void sb_printf(Sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(Sb *b, const char *fmt, ...) {
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

static Sb json_results;         /* ",\n"-separated objects */

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

static void target_add(const char *id, const char *what, double value, double limit, bool at_least,
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

static void target_not_run(const char *id, const char *what, double limit, bool at_least, const char *why) {
        target_add(id, what, 0, limit, at_least, why);
        targets[n_targets - 1].status = ST_MISSED;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
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

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
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

typedef struct Env {
        char dir[256];
        char simdir[300];
        char libs[PATH_MAX + 32];       /* LD_LIBRARY_PATH=... for Xen users */
        pid_t xensimd;
        xsg *g;
} Env;

static void env_start(Env *e, const char *name) {
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

static void env_stop(Env *e) {
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

static uint32_t domain_create(Env *e, const char *name, unsigned vcpus) {
        uint32_t domid;
        int r = xsg_domain_create(e->g, name, vcpus, &domid);

        if (r < 0)
                die("cannot create domain %s: %s", name, strerror(-r));
        return domid;
}

/* one kick: a 4-byte write of value at addr from vCPU vcpu */
static void kick(Env *e, uint32_t domid, unsigned vcpu, uint64_t addr, uint64_t value) {
        int r = xsg_write(e->g, domid, vcpu, XSG_MMIO, addr, 4, value, 10000);

        if (r < 0)
                die("kick of domain %" PRIu32 " vCPU %u at 0x%" PRIx64 " failed: %s", domid, vcpu, addr,
                    strerror(-r));
}

/* what the host knows of a domain's ioreq servers, for failure messages */
static void domain_describe(Env *e, uint32_t domid) {
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

typedef struct Daemon {
        char conf[320], guests[320], socks[320], log[320];
        pid_t pid;
} Daemon;

static void daemon_init(Env *e, Daemon *d, const char *name) {
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
                 "[daemon]\nguests_dir = %s\nsocket_dir = %s\nlog_level = notice\nmax_guests = 4096\n",
                 d->guests, d->socks);
        r = write_text(d->conf, text);
        if (r < 0)
                die("cannot write %s: %s", d->conf, strerror(-r));
}

static void daemon_guest(Daemon *d, const char *guest, const char *extra) {
        char path[400], text[1024];
        int r;

        snprintf(path, sizeof path, "%s/%s.conf", d->guests, guest);
        snprintf(text, sizeof text, "[guest]\nname = %s\n%s", guest, extra ? extra : "");
        r = write_text(path, text);
        if (r < 0)
                die("cannot write %s: %s", path, strerror(-r));
}

static void daemon_socket(const Daemon *d, const char *guest, char *buf, size_t size) {
        snprintf(buf, size, "%s/%s.sock", d->socks, guest);
}

/* tool: NULL, or a wrapper command line (valgrind ...) ending before the daemon */
static void daemon_start(Env *e, Daemon *d, const char *const *tool) {
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
static xenioreqd_client *daemon_connect(Daemon *d, const char *guest, uint32_t domid, int timeout_ms) {
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

/* ---- floor server ---- */

static pid_t floor_start(Env *e, uint32_t domid, int efd, const char *log) {
        char bin[PATH_MAX + 32], dom[16], efdarg[16], readyarg[16];
        char range[64], match[64];
        const char *env[] = { e->libs, NULL };
        int pipefd[2], keep[2], r;
        pid_t pid;

        snprintf(bin, sizeof bin, "%s/sim/xensim-floor", opt.builddir);
        snprintf(dom, sizeof dom, "%" PRIu32, domid);
        snprintf(efdarg, sizeof efdarg, "%d", efd);
        snprintf(range, sizeof range, "0x%" PRIx64 "-0x%" PRIx64, KICK_ADDR, KICK_ADDR + 3);
        snprintf(match, sizeof match, "0x%" PRIx64 "=0", KICK_ADDR);
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                die("pipe: %m");
        snprintf(readyarg, sizeof readyarg, "%d", pipefd[1]);
        {
                const char *argv[] = { bin, "--domid", dom, "--range", range, "--match", match,
                                       "--eventfd", efdarg, "--ready-fd", readyarg, NULL };

                keep[0] = efd;
                keep[1] = pipefd[1];
                pid = proc_spawn(argv, env, log, keep, 2);
        }
        close(pipefd[1]);
        if (pid < 0)
                die("cannot start %s: %s", bin, strerror(-pid));
        r = tu_wait_ready(pipefd[0], WAIT_MS);
        close(pipefd[0]);
        if (r < 0)
                die("xensim-floor for domain %" PRIu32 " did not get ready (%s; see %s)", domid, strerror(-r), log);
        return pid;
}

/* ---- backends ---- */

typedef struct Backend {
        BenchShm *shm;
        int shm_fd;
        pid_t pid;
} Backend;

/* fds: eventfds to inherit (floor), or sockets: guest sockets to register with (xen-ioreqd) */
static void backend_start(Env *e, Backend *b, const char *log, const int *fds, size_t nfds, char **sockets,
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
        argv = calloc(8 + 2 * (nfds + nsockets), sizeof(*argv));
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

static void backend_stop(Backend *b) {
        if (b->shm)
                atomic_store(&b->shm->stop, 1);
        if (b->pid > 0)
                proc_stop(b->pid, 3000);
        b->pid = 0;
}

/* wait until the backend read every kick issued so far */
static void backend_drain(Backend *b, uint64_t expect, const char *who) {
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

/* ---- one measured target: a guest kicking a server with a backend ---- */

typedef struct Side {
        const char *name;       /* "xen-ioreqd", "floor" */
        uint32_t domid;
        pid_t server;           /* whose CPU time is counted */
        Backend be;
        Hist rt;                /* round trip at the guest */
        double cpu;             /* server CPU seconds over the measured kicks */
        double wall;            /* seconds of measured kicks */
        uint64_t kicks;         /* measured kicks */
        Hist cur;               /* this round's round trips */
        double round_q[MAX_ROUNDS][2];  /* per round: p50, p99 (us) */
        unsigned nr_rounds;
} Side;

/*
 * The median over rounds of a's quantile / b's quantile in the same round (q: 0 p50, 1 p99).
 * Rounds are short and alternate, so a burst of outside load spoils a few pairs and moves
 * the median little, where it can move a quantile of all samples pooled.
 */
static int cmp_double(const void *x, const void *y) {
        double a = *(const double *) x, b = *(const double *) y;

        return a < b ? -1 : a > b;
}

static double median(double *v, size_t n) {
        if (!n)
                return 0;
        qsort(v, n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double paired_ratio(const Side *a, const Side *b, int q) {
        double v[MAX_ROUNDS];
        size_t n = 0;

        for (unsigned r = 0; r < a->nr_rounds && r < b->nr_rounds; r++)
                if (b->round_q[r][q] > 0)
                        v[n++] = a->round_q[r][q] / b->round_q[r][q];
        return median(v, n);
}

/* n back-to-back kicks from vCPU 0, each stamped for the backend; rt/cpu recorded if measure */
static void side_kicks(Env *e, Side *s, uint64_t n, bool measure) {
        BenchShm *shm = s->be.shm;
        double cpu0 = 0, cpu1;
        uint64_t w0, k;

        backend_drain(&s->be, atomic_load(&shm->kicks), s->name);
        if (measure) {
                atomic_store(&shm->record, 1);
                cpu0 = proc_cpu_seconds(s->server);
                hist_reset(&s->cur);
        }
        w0 = now_ns();
        for (uint64_t i = 0; i < n; i++) {
                uint64_t t0 = now_ns(), t1;
                int r;

                k = atomic_load_explicit(&shm->kicks, memory_order_relaxed) + 1;
                atomic_store_explicit(&shm->stamps[(k - 1) % BENCH_STAMPS], t0, memory_order_relaxed);
                atomic_store_explicit(&shm->kicks, k, memory_order_release);
                r = xsg_write(e->g, s->domid, 0, XSG_MMIO, KICK_ADDR, 4, 0, 10000);
                t1 = now_ns();
                if (r < 0)
                        die("%s: kick %" PRIu64 " of domain %" PRIu32 " failed: %s", s->name, k, s->domid,
                            strerror(-r));
                if (measure)
                        hist_add(&s->cur, t1 - t0);
        }
        if (measure) {
                hist_merge(&s->rt, &s->cur);
                if (s->nr_rounds < MAX_ROUNDS) {
                        s->round_q[s->nr_rounds][0] = hist_quantile_us(&s->cur, 0.5);
                        s->round_q[s->nr_rounds][1] = hist_quantile_us(&s->cur, 0.99);
                        s->nr_rounds++;
                }
                s->wall += (double) (now_ns() - w0) / 1e9;
                cpu1 = proc_cpu_seconds(s->server);
                s->cpu += cpu1 - cpu0;
                s->kicks += n;
        }
        backend_drain(&s->be, atomic_load(&shm->kicks), s->name);
        atomic_store(&shm->record, 0);
}

/* rounds of n kicks, the sides taking turns (the order flips every round) */
static void sides_rounds(Env *e, Side *const *sides, size_t nsides, unsigned rounds, uint64_t n) {
        for (size_t i = 0; i < nsides; i++)
                side_kicks(e, sides[i], 2000, false);       /* warm-up */
        for (unsigned r = 0; r < rounds; r++)
                for (size_t i = 0; i < nsides; i++)
                        side_kicks(e, sides[r % 2 ? nsides - 1 - i : i], n, true);
}

static void json_hist(Sb *j, const char *key, const Hist *h) {
        sb_printf(j,
                  "\"%s\": {\"count\": %" PRIu64 ", \"mean_us\": %.3f, \"p50_us\": %.3f, \"p99_us\": %.3f, "
                  "\"p999_us\": %.3f, \"max_us\": %.3f}",
                  key, h->count, hist_mean_us(h), hist_quantile_us(h, 0.5), hist_quantile_us(h, 0.99),
                  hist_quantile_us(h, 0.999), (double) h->max_ns / 1000.0);
}

static double cpu_per_mkick(const Side *s) {
        return s->kicks ? s->cpu / ((double) s->kicks / 1e6) : 0;
}

static void json_side(Sb *j, const Side *s) {
        sb_printf(j, "\"%s\": {", s->name);
        json_hist(j, "round_trip", &s->rt);
        sb_printf(j, ", ");
        json_hist(j, "delivery", &s->be.shm->delivery);
        sb_printf(j,
                  ", \"kicks\": %" PRIu64 ", \"seconds\": %.3f, \"cpu_seconds\": %.3f, \"cpu_s_per_mkick\": %.3f, "
                  "\"coalesced_reads\": %" PRIu64 "}",
                  s->kicks, s->wall, s->cpu, cpu_per_mkick(s), (uint64_t) atomic_load(&s->be.shm->coalesced));
}

static void print_side(const Side *s) {
        const Hist *d = &s->be.shm->delivery;

        say("  %-18s rt p50 %7.2f  p99 %7.2f  p99.9 %7.2f us | delivery p50 %7.2f  p99 %7.2f  p99.9 %7.2f us | "
            "cpu %.2f s/Mkick\n",
            s->name, hist_quantile_us(&s->rt, 0.5), hist_quantile_us(&s->rt, 0.99), hist_quantile_us(&s->rt, 0.999),
            hist_quantile_us(d, 0.5), hist_quantile_us(d, 0.99), hist_quantile_us(d, 0.999), cpu_per_mkick(s));
}

static int make_eventfd(void) {
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

        if (fd < 0)
                die("eventfd: %m");
        return fd;
}

static void side_start_floor(Env *e, Side *s, const char *tag) {
        char log[400];
        int efd = make_eventfd();

        snprintf(log, sizeof log, "%s/floor-%s.log", e->dir, tag);
        s->server = floor_start(e, s->domid, efd, log);
        snprintf(log, sizeof log, "%s/backend-%s.log", e->dir, tag);
        backend_start(e, &s->be, log, &efd, 1, NULL, 0);
        close(efd);
}

static void side_start_daemon(Env *e, Side *s, Daemon *d, const char *guest, const char *tag) {
        char log[400], sock[400];
        char *socks[1] = { sock };
        xenioreqd_client *c;

        /* the guest must be known to the daemon before the backend registers */
        c = daemon_connect(d, guest, s->domid, WAIT_MS);
        xenioreqd_close(c);
        daemon_socket(d, guest, sock, sizeof sock);
        snprintf(log, sizeof log, "%s/backend-%s.log", e->dir, tag);
        s->server = d->pid;
        backend_start(e, &s->be, log, NULL, 0, socks, 1);
}

/* ---- P1 latency, P5 CPU, busy-poll ---- */

static double paced_cpu_fraction(Env *e, Side *s, double seconds, unsigned gap_us) {
        uint64_t t0 = now_ns(), end = t0 + (uint64_t) (seconds * 1e9);
        double c0 = proc_cpu_seconds(s->server);

        while (now_ns() < end) {
                side_kicks(e, s, 1, false);
                sleep_us(gap_us);
        }
        return (proc_cpu_seconds(s->server) - c0) / ((double) (now_ns() - t0) / 1e9);
}

static void scenario_p1(void) {
        unsigned rounds = opt.quick ? 20 : 150;
        uint64_t n = opt.quick ? 1000 : 2000;
        Env e;
        Daemon d;
        Side a = { .name = "xen-ioreqd" }, f = { .name = "floor" };
        Side p = { .name = "xen-ioreqd-poll" }, q = { .name = "xen-ioreqd-detect" };
        Side fp = { .name = "floor" };
        Side *ab[] = { &a, &f };
        double frac_poll, frac_plain;
        bool polls;
        char note[200];
        Sb *j = &json_results;

        say("P1 latency / P5 CPU: 1 guest, 1 vCPU, 1 registration, back-to-back kicks; %u rounds x %" PRIu64
            " kicks per server\n", rounds, n);
        env_start(&e, "p1");
        daemon_init(&e, &d, "xen-ioreqd");
        daemon_guest(&d, "p1", NULL);
        daemon_guest(&d, "p1poll", "busy_poll_us = 100\n");
        daemon_guest(&d, "p1detect", "busy_poll_us = 1000\n");
        a.domid = domain_create(&e, "p1", 1);
        f.domid = domain_create(&e, "p1floor", 1);
        p.domid = domain_create(&e, "p1poll", 1);
        q.domid = domain_create(&e, "p1detect", 1);
        daemon_start(&e, &d, NULL);
        side_start_daemon(&e, &a, &d, "p1", "p1");
        side_start_floor(&e, &f, "p1");
        side_start_daemon(&e, &p, &d, "p1poll", "p1poll");
        side_start_daemon(&e, &q, &d, "p1detect", "p1detect");

        sides_rounds(&e, ab, 2, rounds, n);
        print_side(&a);
        print_side(&f);
        {
                double r50 = hist_quantile_us(&a.rt, 0.5) / hist_quantile_us(&f.rt, 0.5);
                double r99 = hist_quantile_us(&a.rt, 0.99) / hist_quantile_us(&f.rt, 0.99);
                double cpu = cpu_per_mkick(&a) / cpu_per_mkick(&f);

                double m50 = paired_ratio(&a, &f, 0), m99 = paired_ratio(&a, &f, 1);
                char n50[64], n99[64];

                say("  ratio xen-ioreqd/floor: median of %u paired rounds: p50 %.3f  p99 %.3f | all samples pooled: "
                    "p50 %.3f  p99 %.3f | cpu %.3f\n",
                    a.nr_rounds, m50, m99, r50, r99, cpu);
                snprintf(n50, sizeof n50, "pooled samples: %.3f", r50);
                snprintf(n99, sizeof n99, "pooled samples: %.3f", r99);
                target_add("P1.p50", "round trip p50, xen-ioreqd / floor (paired rounds)", m50, 1.10, false, n50);
                target_add("P1.p99", "round trip p99, xen-ioreqd / floor (paired rounds)", m99, 1.10, false, n99);
                sb_printf(j, "%s{\"id\": \"P1\", \"rounds\": %u, \"kicks_per_round\": %" PRIu64 ", ",
                          j->len ? ",\n" : "", rounds, n);
                json_side(j, &a);
                sb_printf(j, ", ");
                json_side(j, &f);
                sb_printf(j,
                          ", \"paired_ratio_p50\": %.4f, \"paired_ratio_p99\": %.4f, \"ratio_p50\": %.4f, "
                          "\"ratio_p99\": %.4f, \"ratio_p999\": %.4f}",
                          m50, m99, r50, r99, hist_quantile_us(&a.rt, 0.999) / hist_quantile_us(&f.rt, 0.999));
                sb_printf(j,
                          ",\n{\"id\": \"P5\", \"workload\": \"P1\", \"xen-ioreqd_cpu_s_per_mkick\": %.4f, "
                          "\"floor_cpu_s_per_mkick\": %.4f, \"ratio\": %.4f}",
                          cpu_per_mkick(&a), cpu_per_mkick(&f), cpu);
                say("P5 CPU per million kicks (P1 workload): xen-ioreqd %.3f s, floor %.3f s, ratio %.3f\n",
                    cpu_per_mkick(&a), cpu_per_mkick(&f), cpu);
        }

        /*
         * Busy-poll: does the daemon poll?  Kicks 2 ms apart on a guest with
         * busy_poll_us = 1000: a polling daemon burns about half a CPU, one
         * that sleeps on the event channel next to nothing (the same kicks on
         * the guest without polling give the comparison).
         */
        frac_poll = paced_cpu_fraction(&e, &q, opt.quick ? 0.5 : 1.0, 2000);
        frac_plain = paced_cpu_fraction(&e, &a, opt.quick ? 0.5 : 1.0, 2000);
        polls = frac_poll >= 0.20 && frac_poll >= 4 * frac_plain;
        say("BP busy-poll detection: kicks 2 ms apart, daemon CPU %.1f%% of wall with busy_poll_us=1000, %.1f%% "
            "without: %s\n",
            100 * frac_poll, 100 * frac_plain, polls ? "the daemon polls" : "the daemon does not poll");
        sb_printf(j,
                  ",\n{\"id\": \"BP\", \"detect_cpu_fraction_poll\": %.4f, \"detect_cpu_fraction_plain\": %.4f, "
                  "\"polls\": %s",
                  frac_poll, frac_plain, polls ? "true" : "false");
        if (polls) {
                Side *pf[] = { &p, &fp };

                fp = f;
                fp.nr_rounds = 0;
                hist_reset(&fp.rt);
                fp.cpu = fp.wall = 0;
                fp.kicks = 0;
                sides_rounds(&e, pf, 2, rounds, n);
                print_side(&p);
                print_side(&fp);
                double r50 = paired_ratio(&p, &fp, 0);
                say("  busy-poll (busy_poll_us=100) / floor: p50 %.3f; daemon CPU %.3f s/Mkick, %.0f%% of wall\n",
                    r50, cpu_per_mkick(&p), 100 * p.cpu / p.wall);
                snprintf(note, sizeof note, "daemon CPU %.3f s per million kicks, %.0f%% of wall", cpu_per_mkick(&p),
                         100 * p.cpu / p.wall);
                target_add("BP.p50", "busy-poll round trip p50, xen-ioreqd / floor", r50, 0.70, false, note);
                sb_printf(j, ", \"busy_poll_us\": 100, ");
                json_side(j, &p);
                sb_printf(j, ", \"floor_again\": {");
                json_hist(j, "round_trip", &fp.rt);
                sb_printf(j, "}, \"ratio_p50\": %.4f, \"cpu_fraction\": %.4f", r50, p.cpu / p.wall);
        } else {
                snprintf(note, sizeof note,
                         "not run: the daemon does not poll (CPU %.1f%% of wall with busy_poll_us=1000)", 100 * frac_poll);
                target_not_run("BP.p50", "busy-poll round trip p50, xen-ioreqd / floor", 0.70, false, note);
        }
        sb_printf(j, "}");

        backend_stop(&a.be);
        backend_stop(&f.be);
        backend_stop(&p.be);
        backend_stop(&q.be);
        proc_stop(f.server, 3000);
        if (proc_stop(d.pid, 5000) != 0)
                die("xen-ioreqd did not stop cleanly (see %s)", d.log);
        env_stop(&e);
}

/* ---- P2 throughput ---- */

static void scenario_p2(void) {
        static const unsigned sizes[][2] = { { 1, 1 }, { 4, 4 }, { 16, 16 } };  /* guests, vCPUs */
        enum { G = 16, V = 16 };
        unsigned rounds = opt.quick ? 10 : 50;
        double seconds = opt.quick ? 0.1 : 0.2;
        uint32_t dd[G], fd[G];
        pid_t floors[G];
        int efds[G];
        char *socks[G];
        Backend bd, bf;
        Daemon d;
        Env e;
        Sb *j = &json_results;

        say("P2 throughput: G guests x V vCPUs kicking back to back; %u rounds x %.1f s per server and size\n",
            rounds, seconds);
        env_start(&e, "p2");
        daemon_init(&e, &d, "xen-ioreqd");
        for (unsigned i = 0; i < G; i++) {
                char name[32];

                snprintf(name, sizeof name, "p2d%02u", i);
                daemon_guest(&d, name, NULL);
                dd[i] = domain_create(&e, name, V);
                snprintf(name, sizeof name, "p2f%02u", i);
                fd[i] = domain_create(&e, name, V);
        }
        daemon_start(&e, &d, NULL);
        for (unsigned i = 0; i < G; i++) {
                char name[32], log[400];

                snprintf(name, sizeof name, "p2d%02u", i);
                xenioreqd_close(daemon_connect(&d, name, dd[i], WAIT_MS));
                socks[i] = malloc(400);
                if (!socks[i])
                        die("out of memory");
                daemon_socket(&d, name, socks[i], 400);
                efds[i] = make_eventfd();
                snprintf(log, sizeof log, "%s/floor-%02u.log", e.dir, i);
                floors[i] = floor_start(&e, fd[i], efds[i], log);
        }
        {
                char log[400];

                snprintf(log, sizeof log, "%s/backend-d.log", e.dir);
                backend_start(&e, &bd, log, NULL, 0, socks, G);
                snprintf(log, sizeof log, "%s/backend-f.log", e.dir);
                backend_start(&e, &bf, log, efds, G, NULL, 0);
        }
        for (unsigned i = 0; i < G; i++) {
                close(efds[i]);
                free(socks[i]);
        }

        /* every domain is served and its backend signalled, before anything is measured */
        for (unsigned side = 0; side < 2; side++) {
                Backend *vb = side ? &bf : &bd;

                for (unsigned i = 0; i < G; i++) {
                        uint32_t dom = side ? fd[i] : dd[i];
                        struct xsg_io io = { .space = XSG_MMIO, .dir = XSG_WRITE, .addr = KICK_ADDR, .size = 4,
                                             .timeout_ms = 10000 };
                        int r = xsg_io(e.g, dom, 0, &io);

                        if (r < 0 || io.server < 0) {
                                domain_describe(&e, dom);
                                die("P2: check kick of domain %" PRIu32 " (%s): %s", dom, side ? "floor" : "xen-ioreqd",
                                    r < 0 ? strerror(-r) : "no ioreq server took it");
                        }
                        atomic_fetch_add(&vb->shm->kicks, 1);
                }
                backend_drain(vb, atomic_load(&vb->shm->kicks), side ? "P2 floor" : "P2 xen-ioreqd");
        }

        for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
                unsigned ng = sizes[z][0], nv = sizes[z][1];
                double count[2] = { 0, 0 }, secs[2] = { 0, 0 }, cpu[2] = { 0, 0 }, wait[2] = { 0, 0 };
                double rate[2][MAX_ROUNDS], pair[MAX_ROUNDS];
                Backend *be[2] = { &bd, &bf };
                char id[32], what[160];

                for (unsigned r = 0; r < rounds + 1; r++)
                        for (unsigned k = 0; k < 2; k++) {
                                unsigned side = r % 2 ? 1 - k : k;
                                struct xsg_load_opts o = {
                                        .domids = side == 0 ? dd : fd, .nr_domids = ng, .vcpus = nv,
                                        .seconds = r == 0 ? 0.1 : seconds, .space = XSG_MMIO, .dir = XSG_WRITE,
                                        .addr = KICK_ADDR, .size = 4, .data = 0, .timeout_ms = 10000,
                                };
                                struct xsg_load_result res;
                                double c0 = 0, c1 = 0, w0 = 0, w1 = 0, c, w;
                                int rr;

                                for (unsigned i = 0; i < (side == 0 ? 1 : ng); i++)
                                        if (proc_sched(side == 0 ? d.pid : floors[i], &c, &w) == 0) {
                                                c0 += c;
                                                w0 += w;
                                        }
                                rr = xsg_load(e.g, &o, &res);
                                if (side == 0 && !proc_alive(bd.pid))
                                        die("P2: the backend of xen-ioreqd exited (see %s/backend-d.log)", e.dir);
                                if (rr < 0 || res.errors)
                                        die("P2 %ux%u load on %s: %s, %" PRIu64 " errors", ng, nv,
                                            side ? "floor" : "xen-ioreqd", strerror(rr < 0 ? -rr : 0), res.errors);
                                for (unsigned i = 0; i < (side == 0 ? 1 : ng); i++)
                                        if (proc_sched(side == 0 ? d.pid : floors[i], &c, &w) == 0) {
                                                c1 += c;
                                                w1 += w;
                                        }
                                atomic_fetch_add(&be[side]->shm->kicks, res.count);
                                backend_drain(be[side], atomic_load(&be[side]->shm->kicks),
                                              side ? "P2 floor" : "P2 xen-ioreqd");
                                if (r == 0)
                                        continue;       /* warm-up */
                                if (r - 1 < MAX_ROUNDS)
                                        rate[side][r - 1] = (double) res.count / res.seconds;
                                count[side] += (double) res.count;
                                secs[side] += res.seconds;
                                cpu[side] += c1 - c0;
                                wait[side] += w1 - w0;
                        }
                double kd = count[0] / secs[0], kf = count[1] / secs[1], pooled = kd / kf, ratio;
                size_t np = 0;

                for (unsigned r = 0; r < rounds && r < MAX_ROUNDS; r++)
                        pair[np++] = rate[0][r] / rate[1][r];
                ratio = median(pair, np);
                say("  %2ux%-2u (%3u vCPUs): xen-ioreqd %9.0f kicks/s  floor %9.0f kicks/s  ratio: paired %.3f, pooled "
                    "%.3f | cpu s/Mkick %.3f vs %.3f | run-queue wait us/kick %.2f vs %.2f\n",
                    ng, nv, ng * nv, kd, kf, ratio, pooled, cpu[0] / (count[0] / 1e6), cpu[1] / (count[1] / 1e6),
                    wait[0] / count[0] * 1e6, wait[1] / count[1] * 1e6);
                snprintf(id, sizeof id, "P2.%u", ng * nv);
                snprintf(what, sizeof what, "kicks/s, %u guests x %u vCPUs, xen-ioreqd / floor (paired)", ng, nv);
                {
                        char note[64];

                        snprintf(note, sizeof note, "pooled: %.3f", pooled);
                        target_add(id, what, ratio, 0.90, true, note);
                }
                sb_printf(j,
                          "%s{\"id\": \"P2\", \"guests\": %u, \"vcpus\": %u, \"rounds\": %u, \"seconds_per_round\": %.2f, "
                          "\"xen-ioreqd\": {\"kicks\": %.0f, \"seconds\": %.3f, \"kicks_per_s\": %.1f, \"cpu_seconds\": %.3f, "
                          "\"cpu_s_per_mkick\": %.4f, \"runqueue_wait_us_per_kick\": %.3f}, "
                          "\"floor\": {\"servers\": %u, \"kicks\": %.0f, \"seconds\": %.3f, \"kicks_per_s\": %.1f, "
                          "\"cpu_seconds\": %.3f, \"cpu_s_per_mkick\": %.4f, \"runqueue_wait_us_per_kick\": %.3f}, \"paired_ratio\": %.4f, "
                          "\"ratio\": %.4f}",
                          j->len ? ",\n" : "", ng, nv, rounds, seconds, count[0], secs[0], kd, cpu[0],
                          cpu[0] / (count[0] / 1e6), wait[0] / count[0] * 1e6, ng, count[1], secs[1], kf, cpu[1],
                          cpu[1] / (count[1] / 1e6), wait[1] / count[1] * 1e6, ratio, pooled);
        }

        backend_stop(&bd);
        backend_stop(&bf);
        for (unsigned i = 0; i < G; i++)
                proc_stop(floors[i], 3000);
        if (proc_stop(d.pid, 5000) != 0)
                die("xen-ioreqd did not stop cleanly (see %s)", d.log);
        env_stop(&e);
}

/* ---- P3 scale ---- */

static int cmp_u64(const void *x, const void *y) {
        uint64_t a = *(const uint64_t *) x, b = *(const uint64_t *) y;

        return a < b ? -1 : a > b;
}

static double pct_ms(const uint64_t *v, size_t n, double q) {
        size_t i = (size_t) ((double) n * q);

        if (i >= n)
                i = n - 1;
        return (double) v[i] / 1e6;
}

/* register queues first..last (EXACT data == queue) at KICK_ADDR on an open connection */
static void register_queues(xenioreqd_client *c, const char *guest, unsigned first, unsigned last) {
        int efd = make_eventfd();

        for (unsigned q = first; q <= last; q++) {
                int r = xenioreqd_assign(c, XIRQ_SPACE_MMIO, KICK_ADDR, 4, XIRQ_MATCH_EXACT, q, 0, efd);

                if (r < 0)
                        die("guest %s: registering queue %u failed: %s", guest, q, strerror(-r));
        }
        close(efd);
}

static void scenario_p3(void) {
        unsigned n = opt.quick ? 100 : 1000;
        unsigned rounds = opt.quick ? 8 : 50;
        uint64_t kicks = opt.quick ? 1000 : 2000;
        Env e;
        Daemon da, db;
        Side a = { .name = "xen-ioreqd-alone" }, b = { .name = "xen-ioreqd-among" }, f = { .name = "floor" };
        Side *sides[] = { &a, &b, &f };
        xenioreqd_client **conns, *ca;
        uint32_t *domids;
        uint64_t *t_reply, *t_served, t_start;
        long rss_a, rss_b_idle, rss_b, anon_a, anon_b_idle, anon_b, shm_a, shm_b_idle, shm_b;
        Sb *j = &json_results;

        say("P3 scale: %u guests x 4 vCPUs x 8 registrations, one busy guest; %u rounds x %" PRIu64 " kicks\n", n,
            rounds, kicks);
        conns = calloc(n, sizeof(*conns));
        domids = calloc(n, sizeof(*domids));
        t_reply = calloc(n, sizeof(*t_reply));
        t_served = calloc(n, sizeof(*t_served));
        if (!conns || !domids || !t_reply || !t_served)
                die("out of memory");
        env_start(&e, "p3");
        daemon_init(&e, &da, "alone");
        daemon_init(&e, &db, "among");
        daemon_guest(&da, "alone", NULL);
        a.domid = domain_create(&e, "alone", 4);
        f.domid = domain_create(&e, "p3floor", 4);
        t_start = now_ns();
        for (unsigned i = 0; i < n; i++) {
                char name[32];

                snprintf(name, sizeof name, "g%04u", i);
                daemon_guest(&db, name, NULL);
                domids[i] = domain_create(&e, name, 4);
        }
        b.domid = domids[0];
        say("  %u domains created in %.1f s\n", n, (double) (now_ns() - t_start) / 1e9);
        daemon_start(&e, &da, NULL);
        daemon_start(&e, &db, NULL);

        /* the lone guest: the busy queue through a bench-backend, 7 more on a connection of ours */
        side_start_daemon(&e, &a, &da, "alone", "alone");
        ca = daemon_connect(&da, "alone", a.domid, WAIT_MS);
        register_queues(ca, "alone", 1, 7);
        side_start_floor(&e, &f, "p3");

        /* all guests known (the last one created is the last one found), before any registration */
        t_start = now_ns();
        for (unsigned i = 0; i < n; i++) {
                char name[32];

                snprintf(name, sizeof name, "g%04u", i);
                conns[i] = daemon_connect(&db, name, domids[i], 30000);
        }
        say("  xen-ioreqd found all %u guests; %.1f s\n", n, (double) (now_ns() - t_start) / 1e9);
        sleep_us(200000);
        rss_b_idle = proc_status_kib(db.pid, "VmRSS");
        anon_b_idle = proc_status_kib(db.pid, "RssAnon");
        shm_b_idle = proc_status_kib(db.pid, "RssShmem");

        /* attach every guest but the busy one: register → reply → first kick served */
        for (unsigned i = 1; i < n; i++) {
                char name[32];
                int efd = make_eventfd(), r;
                uint64_t t0, t1, t2, cnt = 0;

                snprintf(name, sizeof name, "g%04u", i);
                t0 = now_ns();
                r = xenioreqd_assign(conns[i], XIRQ_SPACE_MMIO, KICK_ADDR, 4, XIRQ_MATCH_EXACT, 0, 0, efd);
                t1 = now_ns();
                if (r < 0)
                        die("guest %s: first registration failed: %s", name, strerror(-r));
                {
                        struct xsg_io io = { .space = XSG_MMIO, .dir = XSG_WRITE, .addr = KICK_ADDR, .size = 4,
                                             .data = 0, .timeout_ms = 10000 };

                        r = xsg_io(e.g, domids[i], 0, &io);
                        t2 = now_ns();
                        if (r < 0)
                                die("guest %s: first kick failed: %s", name, strerror(-r));
                        if (read(efd, &cnt, sizeof cnt) != (ssize_t) sizeof cnt || cnt != 1) {
                                xenioreqd_guest_info gi = { 0 };

                                r = xenioreqd_query(conns[i], &gi);
                                die("guest %s: the first kick did not reach the eventfd (kick went to server %d, %u "
                                    "requests; daemon: query %d state %u server %u kicks %" PRIu64 " unmatched %" PRIu64
                                    ")",
                                    name, io.server, io.nr_requests, r, gi.state, gi.server_id, gi.kicks, gi.unmatched);
                        }
                }
                close(efd);
                t_reply[i - 1] = t1 - t0;
                t_served[i - 1] = t2 - t0;
                register_queues(conns[i], name, 1, 7);
        }
        /* the busy guest among them */
        xenioreqd_close(conns[0]);
        conns[0] = NULL;
        side_start_daemon(&e, &b, &db, "g0000", "among");
        conns[0] = daemon_connect(&db, "g0000", b.domid, WAIT_MS);
        register_queues(conns[0], "g0000", 1, 7);
        sleep_us(200000);
        rss_a = proc_status_kib(da.pid, "VmRSS");
        anon_a = proc_status_kib(da.pid, "RssAnon");
        shm_a = proc_status_kib(da.pid, "RssShmem");
        rss_b = proc_status_kib(db.pid, "VmRSS");
        anon_b = proc_status_kib(db.pid, "RssAnon");
        shm_b = proc_status_kib(db.pid, "RssShmem");
        {
                xenioreqd_guest_info gi;
                int r = xenioreqd_query(conns[n - 1], &gi);

                if (r < 0 || gi.state != XIRQ_GUEST_SERVING || gi.registrations != 8 || gi.nr_vcpus != 4)
                        die("guest g%04u: not serving 8 registrations on 4 vCPUs", n - 1);
        }

        sides_rounds(&e, sides, 3, rounds, kicks);
        print_side(&a);
        print_side(&b);
        print_side(&f);

        qsort(t_reply, n - 1, sizeof(uint64_t), cmp_u64);
        qsort(t_served, n - 1, sizeof(uint64_t), cmp_u64);
        double p99_ratio = paired_ratio(&b, &a, 1);
        double p99_pooled = hist_quantile_us(&b.rt, 0.99) / hist_quantile_us(&a.rt, 0.99);
        /*
         * Shared memory in the daemon is xensim's memfd only: the ioreq pages and the
         * simulator's domain, port and ring tables, which on Xen live in the hypervisor and
         * the kernel.  What the daemon itself costs per guest is the rest of its RSS.
         */
        double per_guest = (double) ((rss_b - shm_b) - (rss_a - shm_a)) / (double) (n - 1);
        double per_guest_raw = (double) (rss_b - rss_a) / (double) (n - 1) - 4.0;
        say("  busy guest p99 among %u / alone: median of %u paired rounds %.3f, all samples pooled %.3f\n", n,
            a.nr_rounds, p99_ratio, p99_pooled);
        say("  attach (registration sent → reply | → first kick served), %u guests: p50 %.3f | %.3f ms, p99 %.3f | "
            "%.3f ms, max %.3f | %.3f ms\n",
            n - 1, pct_ms(t_reply, n - 1, 0.5), pct_ms(t_served, n - 1, 0.5), pct_ms(t_reply, n - 1, 0.99),
            pct_ms(t_served, n - 1, 0.99), pct_ms(t_reply, n - 1, 1.0), pct_ms(t_served, n - 1, 1.0));
        say("  daemon RSS: alone %ld KiB (anon %ld, shmem %ld); %u guests idle %ld KiB (anon %ld, shmem %ld), "
            "attached %ld KiB (anon %ld, shmem %ld)\n",
            rss_a, anon_a, shm_a, n, rss_b_idle, anon_b_idle, shm_b_idle, rss_b, anon_b, shm_b);
        say("  RSS per guest: %.1f KiB without shared memory (anon %.1f KiB); shared memory (xensim tables and the "
            "ioreq page) %.1f KiB; all RSS minus the ioreq page %.1f KiB\n",
            per_guest, (double) (anon_b - anon_a) / (double) (n - 1), (double) (shm_b - shm_a) / (double) (n - 1),
            per_guest_raw);
        {
                char note[64];

                snprintf(note, sizeof note, "pooled samples: %.3f", p99_pooled);
                target_add("P3.p99", "busy guest p99 among all / alone (paired rounds)", p99_ratio, 1.10, false, note);
        }
        target_add("P3.attach", "attach p99, ms (registration sent → first kick served)", pct_ms(t_served, n - 1, 0.99),
                   2.0, false, NULL);
        {
                char note[200];

                snprintf(note, sizeof note, "with xensim's shared tables: %.1f KiB", per_guest_raw);
                target_add("P3.rss", "daemon RSS per guest (no shared memory), KiB", per_guest, 64.0, false, note);
        }
        sb_printf(j, "%s{\"id\": \"P3\", \"guests\": %u, \"vcpus\": 4, \"registrations_per_guest\": 8, \"rounds\": %u, "
                     "\"kicks_per_round\": %" PRIu64 ", ",
                  j->len ? ",\n" : "", n, rounds, kicks);
        json_side(j, &a);
        sb_printf(j, ", ");
        json_side(j, &b);
        sb_printf(j, ", ");
        json_side(j, &f);
        sb_printf(j,
                  ", \"paired_ratio_p99\": %.4f, \"ratio_p99\": %.4f, \"attach_reply_ms\": {\"p50\": %.4f, \"p99\": %.4f, \"max\": %.4f}, "
                  "\"attach_served_ms\": {\"p50\": %.4f, \"p99\": %.4f, \"max\": %.4f}, "
                  "\"rss_kib\": {\"alone\": %ld, \"alone_anon\": %ld, \"alone_shmem\": %ld, \"idle\": %ld, \"idle_anon\": "
                  "%ld, \"idle_shmem\": %ld, \"attached\": %ld, \"attached_anon\": %ld, \"attached_shmem\": %ld}, "
                  "\"rss_per_guest_kib\": %.2f, \"rss_per_guest_with_shmem_minus_page_kib\": %.2f}",
                  p99_ratio, p99_pooled, pct_ms(t_reply, n - 1, 0.5), pct_ms(t_reply, n - 1, 0.99), pct_ms(t_reply, n - 1, 1.0),
                  pct_ms(t_served, n - 1, 0.5), pct_ms(t_served, n - 1, 0.99), pct_ms(t_served, n - 1, 1.0), rss_a,
                  anon_a, shm_a, rss_b_idle, anon_b_idle, shm_b_idle, rss_b, anon_b, shm_b, per_guest, per_guest_raw);

        backend_stop(&a.be);
        backend_stop(&b.be);
        backend_stop(&f.be);
        xenioreqd_close(ca);
        for (unsigned i = 0; i < n; i++)
                xenioreqd_close(conns[i]);
        proc_stop(f.server, 3000);
        if (proc_stop(da.pid, 5000) != 0 || proc_stop(db.pid, 20000) != 0)
                die("xen-ioreqd did not stop cleanly (see %s, %s)", da.log, db.log);
        env_stop(&e);
        free(conns);
        free(domids);
        free(t_reply);
        free(t_served);
}

/* ---- P4 match cost ---- */

static bool find_in_path(const char *prog, char *buf, size_t size) {
        const char *path = getenv("PATH");
        char *copy, *save = NULL;
        bool found = false;

        if (!path)
                return false;
        copy = strdup(path);
        if (!copy)
                return false;
        for (char *dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
                snprintf(buf, size, "%s/%s", dir, prog);
                found = access(buf, X_OK) == 0;
        }
        free(copy);
        return found;
}

/* the "summary:" (or "totals:") Ir of a callgrind output file */
static double callgrind_total(const char *path) {
        char line[512];
        double v = -1;
        FILE *f = fopen(path, "re");

        if (!f)
                return -1;
        while (fgets(line, sizeof line, f))
                if (strncmp(line, "summary:", 8) == 0 || (v < 0 && strncmp(line, "totals:", 7) == 0))
                        v = strtod(strchr(line, ':') + 1, NULL);
        fclose(f);
        return v;
}

/* inclusive Ir of a function (its name as callgrind_annotate prints it) in a callgrind file; < 0 if unknown */
static double callgrind_inclusive(const char *path, const char *function) {
        char annotate[PATH_MAX], line[1024];
        const char *argv[4];
        double v = -1;
        int pipefd[2];
        pid_t pid;
        FILE *f;

        if (!find_in_path("callgrind_annotate", annotate, sizeof annotate) || pipe2(pipefd, O_CLOEXEC) < 0)
                return -1;
        argv[0] = annotate;
        argv[1] = "--inclusive=yes";
        argv[2] = path;
        argv[3] = NULL;
        pid = fork();
        if (pid < 0) {
                close(pipefd[0]);
                close(pipefd[1]);
                return -1;
        }
        if (pid == 0) {
                int devnull = open("/dev/null", O_WRONLY);

                dup2(pipefd[1], STDOUT_FILENO);
                if (devnull >= 0)
                        dup2(devnull, STDERR_FILENO);   /* its perl warnings about empty line tables */
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        close(pipefd[1]);
        f = fdopen(pipefd[0], "r");
        while (f && fgets(line, sizeof line, f)) {
                /* "93,527 (15.69%)  src/match.c:match_lookup [/path/xen-ioreqd]" */
                char *colon = strstr(line, function);

                if (v < 0 && colon && colon > line && colon[-1] == ':' && colon[strlen(function)] == ' ' &&
                    strchr(line, '[')) {
                        char num[64];
                        size_t k = 0;

                        for (const char *q = line + strspn(line, " "); *q && *q != ' ' && k < sizeof(num) - 1; q++)
                                if (*q != ',')
                                        num[k++] = *q;
                        num[k] = '\0';
                        v = strtod(num, NULL);
                }
        }
        if (f)
                fclose(f);
        else
                close(pipefd[0]);
        waitpid(pid, NULL, 0);
        return v;
}

static void scenario_p4(void) {
        uint64_t kicks = opt.quick ? 1000 : 4000;
        char valgrind[PATH_MAX], outa[400], outb[400], toolarg[448];
        Env e;
        Daemon da, db;
        uint32_t doma, domb;
        xenioreqd_client *ca, *cb;
        uint64_t done_a = 0, done_b = 0;
        int efd;
        Sb *j = &json_results;

        say("P4 match cost: 1 vs 4096 registrations in one guest, instructions per dispatch under callgrind; %" PRIu64
            " kicks each\n", kicks);
        if (!find_in_path("valgrind", valgrind, sizeof valgrind)) {
                say("  valgrind not found: P4 not run\n");
                target_not_run("P4", "instructions per dispatch, 4096 / 1 registrations", 1.05, false,
                               "not run: valgrind not installed");
                return;
        }
        env_start(&e, "p4");
        daemon_init(&e, &da, "one");
        daemon_init(&e, &db, "many");
        daemon_guest(&da, "one", NULL);
        daemon_guest(&db, "many", "max_registrations = 4096\nmax_client_registrations = 4096\n");
        doma = domain_create(&e, "one", 1);
        domb = domain_create(&e, "many", 1);
        snprintf(outa, sizeof outa, "%s/callgrind.one.out", e.dir);
        snprintf(outb, sizeof outb, "%s/callgrind.many.out", e.dir);
        {
                /* only what runs inside the libev callback of the event channel: the whole dispatch */
                const char *tool[] = { valgrind, "--tool=callgrind", "--toggle-collect=ioreq_io_cb",
                                       toolarg, NULL };

                snprintf(toolarg, sizeof toolarg, "--callgrind-out-file=%s", outa);
                daemon_start(&e, &da, tool);
                snprintf(toolarg, sizeof toolarg, "--callgrind-out-file=%s", outb);
                daemon_start(&e, &db, tool);
        }
        ca = daemon_connect(&da, "one", doma, 60000);
        cb = daemon_connect(&db, "many", domb, 60000);
        efd = make_eventfd();
        if (xenioreqd_assign(ca, XIRQ_SPACE_MMIO, KICK_ADDR, 4, XIRQ_MATCH_EXACT, 0, 0, efd) < 0)
                die("P4: registration failed");
        /* 256 virtio-mmio devices (one range each: Xen's limit) x 16 queues */
        for (unsigned dev = 0; dev < 256; dev++)
                for (unsigned q = 0; q < 16; q++) {
                        int r = xenioreqd_assign(cb, XIRQ_SPACE_MMIO, KICK_BASE + dev * 0x1000u + 0x50, 4,
                                                 XIRQ_MATCH_EXACT, q, 0, efd);

                        if (r < 0)
                                die("P4: registration %u of 4096 failed: %s", dev * 16 + q + 1, strerror(-r));
                }
        {
                xenioreqd_guest_info gi;

                if (xenioreqd_query(cb, &gi) < 0 || gi.registrations != 4096)
                        die("P4: the guest does not have 4096 registrations");
        }
        /*
         * Kicks alternate between the two guests, each followed by a pause, so that every kick
         * finds its daemon asleep: one wake-up per kick, the same path in both configurations
         * (back-to-back kicks would let the number of kicks per wake-up, and with it the
         * instruction count, depend on timing).  The 4096 side cycles through every registration.
         */
        while (done_a < kicks || done_b < kicks) {
                kick(&e, doma, 0, KICK_ADDR, 0);
                kick(&e, domb, 0, KICK_BASE + (done_b % 256) * 0x1000u + 0x50, (done_b / 256) % 16);
                done_a++;
                done_b++;
                sleep_us(300);
        }
        {
                xenioreqd_guest_info ga, gb;
                uint64_t cnt = 0;

                if (xenioreqd_query(ca, &ga) < 0 || xenioreqd_query(cb, &gb) < 0 || ga.kicks != kicks ||
                    gb.kicks != kicks)
                        die("P4: the daemons did not count %" PRIu64 " kicks each", kicks);
                if (read(efd, &cnt, sizeof cnt) != (ssize_t) sizeof cnt || cnt != 2 * kicks)
                        die("P4: the eventfd got %" PRIu64 " of %" PRIu64 " kicks", cnt, 2 * kicks);
        }
        xenioreqd_close(ca);
        xenioreqd_close(cb);
        close(efd);
        if (proc_stop(da.pid, 60000) != 0 || proc_stop(db.pid, 60000) != 0)
                die("xen-ioreqd under callgrind did not stop cleanly (see %s, %s)", da.log, db.log);
        double ia = callgrind_total(outa), ib = callgrind_total(outb);
        if (ia <= 0 || ib <= 0)
                die("P4: no callgrind totals in %s / %s", outa, outb);
        double pa = ia / (double) kicks, pb = ib / (double) kicks, ratio = pb / pa;
        double ma = callgrind_inclusive(outa, "match_lookup") / (double) kicks;
        double mb = callgrind_inclusive(outb, "match_lookup") / (double) kicks;
        say("  instructions per dispatch: 1 registration %.1f, 4096 registrations %.1f, ratio %.3f\n", pa, pb,
            ratio);
        if (ma > 0 && mb > 0)
                say("  of which match_lookup: %.1f and %.1f, ratio %.3f\n", ma, mb, mb / ma);
        target_add("P4", "instructions per dispatch, 4096 / 1 registrations", ratio, 1.05, false, NULL);
        sb_printf(j,
                  "%s{\"id\": \"P4\", \"kicks\": %" PRIu64 ", \"collected\": \"ioreq_io_cb inclusive\", "
                  "\"one\": {\"registrations\": 1, \"instructions\": %.0f, \"per_dispatch\": %.2f}, "
                  "\"many\": {\"registrations\": 4096, \"ranges\": 256, \"instructions\": %.0f, \"per_dispatch\": %.2f}, "
                  "\"match_lookup_per_dispatch\": [%.2f, %.2f], \"ratio\": %.4f}",
                  j->len ? ",\n" : "", kicks, ia, pa, ib, pb, ma > 0 ? ma : -1, mb > 0 ? mb : -1, ratio);
        env_stop(&e);
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
        fputs("Usage: xirq-bench --builddir DIR [--quick] [--json FILE] [--only P1,P2,P3,P4] [--keep]\n"
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

        say("%-10s %-58s %10s %8s  %s\n", "target", "measure", "value", "limit", "status");
        for (size_t i = 0; i < n_targets; i++) {
                const Target *t = &targets[i];

                if (t->status != ST_MET)
                        missed++;
                say("%-10s %-58s %10.3f %2s%6.2f  %s%s%s\n", t->id, t->what, t->value, t->at_least ? ">=" : "<=",
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
