/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xirq-bench.h - the harness the benchmark scenarios share (xirq-bench.c): the options, the
 * output (the table, the JSON, the targets), the simulated host and its guests (Env), a
 * xen-ioreqd (Daemon) and its workers, the CPU time of a server (CpuSpan), the servers started
 * with a ready pipe (the floor, bench-dispatch), the backends, and one measured side (Side: a guest
 * kicking a server that a backend listens to). A scenario is a function scenario_pN() in its
 * own file, run by xirq-bench.c in a child process of its own; it dies (die()) on any failure.
 */
#ifndef XIRQ_BENCH_H
#define XIRQ_BENCH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "benchlib.h"
#include "xenioreqd-client.h"
#include "xensim-guest.h"

#define KICK_BASE       UINT64_C(0xfe000000)    /* a virtio-mmio device */
#define KICK_ADDR       (KICK_BASE + 0x50)      /* its QUEUE_NOTIFY register */
#define WAIT_MS         10000                   /* bound on every start-up wait */
#define MAX_ROUNDS      256

/* ---- options and output ---- */

struct xirq_opt {
        char builddir[PATH_MAX];
        bool quick;
        bool keep;
        const char *json;
        const char *only;
        const char *command;
        const char *commit;
};
extern struct xirq_opt opt;

/* a growing string */
typedef struct Sb {
        char *s;
        size_t len, cap;
} Sb;

void sb_printf(Sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The scenario's results, ",\n"-separated JSON objects. */
extern Sb json_results;

/* A measured target: met when value >= limit (at_least) or value <= limit. */
void target_add(const char *id, const char *what, double value, double limit, bool at_least,
                const char *note);
void target_not_run(const char *id, const char *what, double limit, bool at_least, const char *why);
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- the simulated host ---- */

typedef struct Env {
        char dir[256];
        char simdir[300];
        char libs[PATH_MAX + 32];       /* LD_LIBRARY_PATH=... for Xen users */
        pid_t xensimd;
        xsg *g;
} Env;

void env_start(Env *e, const char *name);
void env_stop(Env *e);
uint32_t domain_create(Env *e, const char *name, unsigned vcpus);
/* one kick: a 4-byte write of value at addr from vCPU vcpu */
void kick(Env *e, uint32_t domid, unsigned vcpu, uint64_t addr, uint64_t value);
/* what the host knows of a domain's ioreq servers, for failure messages */
void domain_describe(Env *e, uint32_t domid);

/* ---- xen-ioreqd ---- */

typedef struct Daemon {
        char conf[320], guests[320], socks[320], log[320];
        pid_t pid;
} Daemon;

void daemon_init(Env *e, Daemon *d, const char *name);
void daemon_guest(Daemon *d, const char *guest, const char *extra);
void daemon_socket(const Daemon *d, const char *guest, char *buf, size_t size);
/* n guests <prefix>0000.. of the daemon and their domains (vcpus each), domids into ret (n of them) */
void daemon_guests_create(Env *e, Daemon *d, char prefix, unsigned n, unsigned vcpus, uint32_t *ret);
/* tool: NULL, or a wrapper command line (valgrind ...) ending before the daemon */
void daemon_start(Env *e, Daemon *d, const char *const *tool);
/* connect to a guest's socket until the daemon reports it running as domid */
xenioreqd_client *daemon_connect(Daemon *d, const char *guest, uint32_t domid, int timeout_ms);
/* SIGTERM; dies unless it exits with status 0 within timeout_ms */
void daemon_stop(Daemon *d, int timeout_ms);

/* Its workers: the daemon's children, one per guest with registrations, named xirq-d<domid>. */
/* the worker of domid, or 0 when it has none */
pid_t daemon_worker(const Daemon *d, uint32_t domid);
/* the daemon's processes: its parent and its workers (dies if /proc cannot tell) */
void daemon_family(const Daemon *d, ProcFamily *ret);

/* ---- CPU time of a server over a stretch of work ---- */

/*
 * One process (a floor server), or a daemon's family: its parent and every worker, each
 * measured as the floor is (proc_family_*() in benchlib.h).  The family is taken at the start
 * and must be the same at the end (no worker started, ended or restarted in between).
 */
typedef struct CpuSpan {
        ProcFamily procs;
        double cpu;             /* seconds at the start */
        double wait;            /* run-queue wait at the start; < 0 without schedstat */
        double parent;          /* of cpu, the first process's (a daemon's parent) */
        double parent_used;     /* set by cpu_span_end: the first process's CPU seconds over the span */
} CpuSpan;

void cpu_span_start(CpuSpan *c, pid_t pid, bool family);
/* CPU seconds since the start, and the run-queue wait into *ret_wait (if not NULL; 0 when unknown) */
double cpu_span_end(CpuSpan *c, pid_t pid, bool family, double *ret_wait, const char *who);

/* ---- servers started with --ready-fd: the floor, the dispatch harness ---- */

/*
 * Spawn tool (NULL, or a wrapper such as valgrind, NULL-terminated) + argv with fds keep
 * inherited, "--ready-fd N" appended; wait up to timeout_ms for it to write READY.
 */
pid_t ready_start(Env *e, const char *const *tool, const char *const *argv, const int *keep, size_t nkeep,
                  const char *log, int timeout_ms);

pid_t floor_start(Env *e, uint32_t domid, int efd, const char *log);

/* ---- backends ---- */

typedef struct Backend {
        BenchShm *shm;
        int shm_fd;
        pid_t pid;
        const char *claim;      /* set before backend_start: "BASE:LEN" claimed on each socket (P6) */
} Backend;

/* fds: eventfds to inherit (floor), or sockets: guest sockets to register with (xen-ioreqd) */
void backend_start(Env *e, Backend *b, const char *log, const int *fds, size_t nfds, char **sockets,
                   size_t nsockets);
void backend_stop(Backend *b);
/* wait until the backend read every kick issued so far */
void backend_drain(Backend *b, uint64_t expect, const char *who);

/* ---- one measured side: a guest kicking a server with a backend ---- */

typedef struct Kicker Kicker;

typedef struct Side {
        const char *name;       /* "xen-ioreqd", "floor" */
        uint32_t domid;
        Kicker *kicker;         /* the thread that is its guest's vCPU 0 (made at the first kicks; copies share it) */
        pid_t server;           /* whose CPU time is counted */
        bool family;            /* server is a daemon: its workers' CPU time is counted too */
        unsigned procs;         /* processes counted */
        Backend be;
        Hist rt;                /* round trip at the guest */
        double cpu;             /* server CPU seconds over the measured kicks */
        double cpu_parent;      /* of cpu, the daemon's parent's */
        double wall;            /* seconds of measured kicks */
        uint64_t kicks;         /* measured kicks */
        Hist cur;               /* this round's round trips */
        double round_q[MAX_ROUNDS][2];  /* per round: p50, p99 (us) */
        unsigned nr_rounds;
} Side;

double median(double *v, size_t n);
/* The median over rounds of a's quantile / b's quantile in the same round (q: 0 p50, 1 p99). */
double paired_ratio(const Side *a, const Side *b, int q);
/* a measured round is over: its round trips (cur) join rt, its p50 and p99 go to round_q */
void side_round_end(Side *s);
/*
 * n back-to-back kicks from vCPU 0, each stamped for the backend; rt/cpu recorded if measure.
 * Each side's vCPU 0 is a thread of its own, as two guests' vCPUs are on Xen: one thread
 * kicking both sides' guests in turn would be placed by the scheduler beside one of the two
 * servers only, and that server would be measured with cheaper wake-ups than the other.
 */
void side_kicks(Env *e, Side *s, uint64_t n, bool measure);
/* fn(arg) run by s's vCPU 0 thread (what else that vCPU does: P6's reads beside its kicks) */
void side_run(Side *s, void (*fn)(void *arg), void *arg);
/* rounds of n kicks, the sides taking turns (the order flips every round) */
void sides_rounds(Env *e, Side *const *sides, size_t nsides, unsigned rounds, uint64_t n);
void json_hist(Sb *j, const char *key, const Hist *h);
double cpu_per_mkick(const Side *s);
void json_side(Sb *j, const Side *s);
void print_side(const Side *s);
int make_eventfd(void);
void side_start_floor(Env *e, Side *s, const char *tag);
void side_start_daemon(Env *e, Side *s, Daemon *d, const char *guest, const char *tag);

/* ---- the scenarios (scenario-*.c) ---- */

void scenario_p1(void);         /* P1 latency, P5 CPU, busy-poll */
void scenario_p2(void);         /* P2 throughput */
void scenario_p3(void);         /* P3 scale */
void scenario_p4(void);         /* P4 match cost */
void scenario_vb(void);         /* VB the example virtio-blk device (scenario-vb-vblk.c) */
void scenario_p6(void);         /* P6 forwarded read round trip beside the kick's */
void scenario_r1(void);         /* R1 kills of workers and of the main process under load */
void scenario_c1(void);         /* C1 one guest's p99 while other domains come and go */

#endif
