/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scenario-r1-restart.c - one scenario of xirq-bench (xirq-bench.h): R1, crashes under load
 * (issue 10's proof).
 *
 * The daemon runs under the stand-in service manager (tests/xirq-supervise: the fd store, a
 * restart 100 ms after the main process ends, as the unit's RestartSec=100ms), two guests kick
 * back to back (guest A from 2 vCPUs, guest B from 1), each through a registration of a
 * connection this process keeps, on an eventfd it reads at the end of each phase:
 *   - phase W: A's worker is killed (SIGKILL) again and again;
 *   - phase P: the daemon's main process is killed (SIGKILL) again and again (its workers go
 *     with it: the service manager kills what is left of the service).
 * Each kill is followed by a kill window (until the killed guests' vCPUs all completed an
 * access started after the kill, then 200 ms more) and a quiet window (200 ms; for P, as long
 * as the service manager needs between two starts of the service: it gives up on 10 starts in
 * a row that end within 2 s).  Reported per kind of kill:
 *   - the stall after each kill: for every vCPU of the killed guests, the longest it waited
 *     after the kill (an access in flight at the kill counts from the kill);
 *   - the kicks completed by the vCPUs against the kicks signalled on the eventfds (none may be
 *     lost; duplicates are counted: at-least-once delivery);
 *   - B's p99 kick round trip in the kill windows against the quiet windows (for W, B's worker
 *     is not touched: it must not notice);
 * and at the end the ioreq servers of each domain (exactly one, the one of the start), the
 * main process's descriptors and RSS before and after, and the service manager's stored
 * descriptors.
 */
#define _GNU_SOURCE 1
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xirq-bench.h"

#define R1_LONG_NS      (1000u * 1000u)         /* accesses longer than this are kept for the stalls */
#define R1_LONG_MAX     (1u << 18)              /* per vCPU (more fails the scenario) */
#define R1_KILL_WIN_MS  200                     /* after the killed guests resumed */
#define R1_QUIET_MS     200
#define R1_START_GAP_MS 2100                    /* between two starts of the service (its start limit) */
#define R1_SETTLE_MS    30000                   /* bound on a restart (the smoke test runs beside the test suite) */
#define R1_VCPUS        3                       /* A: 0, 1; B: 2 */

enum { KIND_W, KIND_P, NR_KINDS };
enum { WIN_QUIET, WIN_KILL };

typedef struct Access {
        uint64_t t0, t1;
} Access;

typedef struct Vcpu {
        uint32_t domid;
        unsigned vcpu;
        pthread_t t;
        _Atomic uint64_t done;          /* accesses completed */
        _Atomic uint64_t last_start;    /* start of the last completed access */
        _Atomic bool paused;
        _Atomic int error;              /* the first failed access (0: none) */
        Access *longs;                  /* accesses longer than R1_LONG_NS */
        _Atomic size_t n_longs;
        Hist *wins;                     /* B: per window (see win_slot) */
} Vcpu;

static Env e;
static Vcpu vc[R1_VCPUS];
static _Atomic bool pause_req, stop_req;
static _Atomic int win_slot = -1;               /* B's histogram for its current access, -1: none */

static void *vcpu_thread(void *arg) {
        Vcpu *v = arg;

        while (!atomic_load(&stop_req)) {
                uint64_t t0, t1;
                int slot, r;

                if (atomic_load(&pause_req)) {
                        atomic_store(&v->paused, true);
                        while (atomic_load(&pause_req) && !atomic_load(&stop_req))
                                sleep_us(200);
                        atomic_store(&v->paused, false);
                        continue;
                }
                slot = atomic_load(&win_slot);
                t0 = now_ns();
                r = xsg_write(e.g, v->domid, v->vcpu, XSG_MMIO, KICK_ADDR, 4, 0, 10000);
                t1 = now_ns();
                if (r < 0) {
                        atomic_store(&v->error, r);
                        break;
                }
                if (t1 - t0 > R1_LONG_NS) {
                        size_t n = atomic_load(&v->n_longs);

                        if (n == R1_LONG_MAX) {
                                atomic_store(&v->error, -ENOBUFS);
                                break;
                        }
                        v->longs[n] = (Access) { t0, t1 };
                        atomic_store(&v->n_longs, n + 1);
                }
                if (v->wins && slot >= 0)
                        hist_add(&v->wins[slot], t1 - t0);
                atomic_store(&v->last_start, t0);
                atomic_fetch_add(&v->done, 1);
        }
        atomic_store(&v->paused, true);
        return NULL;
}

static void vcpus_check(void) {
        for (unsigned i = 0; i < R1_VCPUS; i++) {
                int r = atomic_load(&vc[i].error);

                if (r == -ENOBUFS)
                        die("R1: domain %" PRIu32 " vCPU %u: more than %u accesses over %u us", vc[i].domid, vc[i].vcpu,
                            R1_LONG_MAX, R1_LONG_NS / 1000);
                if (r < 0)
                        die("R1: domain %" PRIu32 " vCPU %u: an access failed (%s): the vCPU hung", vc[i].domid,
                            vc[i].vcpu, strerror(-r));
        }
}

static void vcpus_pause(void) {
        uint64_t deadline = now_ns() + (uint64_t) R1_SETTLE_MS * 1000000u;

        atomic_store(&pause_req, true);
        for (unsigned i = 0; i < R1_VCPUS; i++)
                while (!atomic_load(&vc[i].paused)) {
                        vcpus_check();
                        if (now_ns() > deadline)
                                die("R1: domain %" PRIu32 " vCPU %u did not stop kicking", vc[i].domid, vc[i].vcpu);
                        sleep_us(500);
                }
}

static void vcpus_resume(void) {
        atomic_store(&pause_req, false);
}

/* ---- the supervised daemon ---- */

typedef struct Service {
        Daemon d;                       /* d.pid: the supervisor (our child) */
        Daemon main;                    /* main.pid: the daemon's main process */
        char pidfile[400];
} Service;

static pid_t service_pid(const Service *s) {
        char buf[32] = "", comm[32];
        FILE *f = fopen(s->pidfile, "re");
        pid_t pid;

        if (!f)
                return 0;
        if (!fgets(buf, sizeof buf, f))
                buf[0] = '\0';
        fclose(f);
        pid = (pid_t) strtol(buf, NULL, 10);
        /* between fork and exec it is still the supervisor */
        if (pid <= 0 || proc_comm(pid, comm, sizeof comm) < 0 || strcmp(comm, "xen-ioreqd") != 0)
                return 0;
        return pid;
}

static void service_start(Service *s) {
        char sup[PATH_MAX + 32], bin[PATH_MAX + 32];
        const char *argv[] = { sup, "--pid-file", s->pidfile, "--restart-ms", "100", "--", bin, "-c", s->d.conf, "-d",
                               NULL };
        const char *env[] = { e.libs, NULL };

        snprintf(sup, sizeof sup, "%s/tests/xirq-supervise", opt.builddir);
        snprintf(bin, sizeof bin, "%s/src/xen-ioreqd", opt.builddir);
        snprintf(s->pidfile, sizeof s->pidfile, "%s/daemon.pid", e.dir);
        s->d.pid = proc_spawn(argv, env, s->d.log, NULL, 0);
        if (s->d.pid < 0)
                die("cannot start %s: %s", sup, strerror(-s->d.pid));
        s->main = s->d;
}

/* the daemon's main process other than old, within R1_SETTLE_MS */
/*
 * What a restart that did not come looks like, on stderr: the old main
 * process (a process stuck in the kernel does not die at once), what the pid
 * file names, and the end of the service's log (a CI run's logs go with its
 * machine).
 */
static void service_report(const Service *s, pid_t old) {
        char path[64], line[512], comm[32] = "", tail[4096];
        size_t n;
        FILE *f;

        if (old > 0) {
                snprintf(path, sizeof path, "/proc/%d/stat", (int) old);
                f = fopen(path, "re");
                if (f && fgets(line, sizeof line, f))
                        fprintf(stderr, "R1: the old main process: %s", line);
                else
                        fprintf(stderr, "R1: the old main process %d is gone\n", (int) old);
                if (f)
                        fclose(f);
        }
        f = fopen(s->pidfile, "re");
        if (f && fgets(line, sizeof line, f)) {
                pid_t pid = (pid_t) strtol(line, NULL, 10);

                if (pid > 0)
                        (void) proc_comm(pid, comm, sizeof comm);
                fprintf(stderr, "R1: the pid file names %d (%s)\n", (int) pid, comm[0] ? comm : "no such process");
        } else
                fprintf(stderr, "R1: the pid file cannot be read: %s\n", strerror(errno));
        if (f)
                fclose(f);
        f = fopen(s->d.log, "re");
        if (!f)
                return;
        if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > (long) sizeof tail - 1)
                (void) fseek(f, -((long) sizeof tail - 1), SEEK_END);
        else
                rewind(f);
        n = fread(tail, 1, sizeof tail - 1, f);
        tail[n] = '\0';
        fclose(f);
        fprintf(stderr, "R1: the end of %s:\n%s", s->d.log, tail);
}

static pid_t service_wait(Service *s, pid_t old) {
        uint64_t deadline = now_ns() + (uint64_t) R1_SETTLE_MS * 1000000u;
        pid_t pid;

        while ((pid = service_pid(s)) == 0 || pid == old) {
                if (!proc_alive(s->d.pid))
                        die("R1: the service manager exited (see %s)", s->d.log);
                if (now_ns() > deadline) {
                        service_report(s, old);
                        die("R1: no new xen-ioreqd after %d (see %s)", (int) old, s->d.log);
                }
                sleep_us(1000);
        }
        s->main.pid = pid;
        return pid;
}

/* the worker of domid other than old */
static pid_t worker_wait(Service *s, uint32_t domid, pid_t old, uint64_t deadline) {
        pid_t pid;

        while ((pid = daemon_worker(&s->main, domid)) == 0 || pid == old) {
                vcpus_check();
                if (now_ns() > deadline)
                        die("R1: no new worker for domain %" PRIu32 " (see %s)", domid, s->d.log);
                sleep_us(1000);
        }
        return pid;
}

/* until every vCPU of [first, last] completed an access started after t */
static void resumed_wait(unsigned first, unsigned last, uint64_t t, uint64_t deadline) {
        for (unsigned i = first; i <= last; i++)
                while (atomic_load(&vc[i].last_start) <= t) {
                        vcpus_check();
                        if (now_ns() > deadline)
                                die("R1: domain %" PRIu32 " vCPU %u did not resume after a kill", vc[i].domid,
                                    vc[i].vcpu);
                        sleep_us(200);
                }
}

#define R1_SPARE_FDS    2       /* the main process's descriptors per spare worker: its channel, its log pipe */

static long fd_count(pid_t pid) {
        char path[64];
        struct dirent *de;
        long n = 0;
        DIR *d;

        snprintf(path, sizeof path, "/proc/%d/fd", (int) pid);
        d = opendir(path);
        if (!d)
                die("R1: cannot list %s: %m", path);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

/*
 * The main process's descriptors besides those of its spare workers (children that are no
 * guest's worker yet, started ahead of need: their number varies), and how many spares it has.
 */
static long fd_count_own(pid_t pid, long *ret_spares) {
        static ProcFamily fam;
        long spares = 0, n;
        int r = proc_family(pid, &fam);

        if (r < 0)
                die("R1: cannot list the processes of %d: %s", (int) pid, strerror(-r));
        n = fd_count(pid);
        for (unsigned i = 1; i < fam.n; i++) {
                char comm[32];

                if (proc_comm(fam.pids[i], comm, sizeof comm) == 0 && strncmp(comm, "xirq-d", 6) != 0)
                        spares++;
        }
        *ret_spares = spares;
        return n - R1_SPARE_FDS * spares;
}

/* ---- the figures ---- */

/* the longest vCPU of [first, last] waited after the kill at k, accesses started before until */
static double stall_ms(unsigned first, unsigned last, uint64_t k, uint64_t until) {
        uint64_t worst = 0;

        for (unsigned i = first; i <= last; i++) {
                size_t n = atomic_load(&vc[i].n_longs);

                for (size_t j = 0; j < n; j++) {
                        const Access *a = &vc[i].longs[j];
                        uint64_t from = a->t0 > k ? a->t0 : k;

                        if (a->t1 > k && a->t0 < until && a->t1 - from > worst)
                                worst = a->t1 - from;
                }
        }
        return (double) worst / 1e6;
}

static int cmp_double(const void *x, const void *y) {
        double a = *(const double *) x, b = *(const double *) y;

        return a < b ? -1 : a > b;
}

typedef struct Kind {
        const char *name;
        unsigned kills;
        uint64_t *at;                   /* kill times */
        double *stall;                  /* per kill, ms */
        double stall_max, stall_p99, stall_median;
        uint64_t sent[2], got[2];       /* guest A, guest B */
        Hist quiet, kill;               /* B's accesses, pooled */
        double p99_paired;              /* median over kills of B's p99 kill window / quiet window */
        double b_max_ms;                /* B's longest access in the kill windows */
        double seconds;
} Kind;

static uint64_t efd_take(int fd) {
        uint64_t v = 0;

        if (read(fd, &v, sizeof v) != (ssize_t) sizeof v) {
                if (errno != EAGAIN)
                        die("R1: eventfd read: %m");
                return 0;
        }
        return v;
}

static void kind_count(Kind *k, const int efd[2]) {
        vcpus_pause();
        vcpus_check();
        k->sent[0] = atomic_exchange(&vc[0].done, 0) + atomic_exchange(&vc[1].done, 0);
        k->sent[1] = atomic_exchange(&vc[2].done, 0);
        k->got[0] = efd_take(efd[0]);
        k->got[1] = efd_take(efd[1]);
        vcpus_resume();
}

static void kind_figures(Kind *k, unsigned first, unsigned last, uint64_t end, Hist *wins) {
        double *sorted = calloc(k->kills, sizeof(*sorted)), *ratio = calloc(k->kills, sizeof(*ratio));
        size_t nr = 0;

        if (!sorted || !ratio)
                die("out of memory");
        for (unsigned i = 0; i < k->kills; i++) {
                k->stall[i] = stall_ms(first, last, k->at[i], i + 1 < k->kills ? k->at[i + 1] : end);
                sorted[i] = k->stall[i];
        }
        qsort(sorted, k->kills, sizeof(*sorted), cmp_double);
        k->stall_max = sorted[k->kills - 1];
        /* the nearest rank: of 100 kills, the 99th */
        k->stall_p99 = sorted[(k->kills * 99 + 99) / 100 - 1];
        k->stall_median = median(sorted, k->kills);
        hist_reset(&k->quiet);
        hist_reset(&k->kill);
        for (unsigned i = 0; i < k->kills; i++) {
                Hist *q = &wins[2 * i + WIN_QUIET], *w = &wins[2 * i + WIN_KILL];

                hist_merge(&k->quiet, q);
                hist_merge(&k->kill, w);
                if (q->count && w->count)
                        ratio[nr++] = hist_quantile_us(w, 0.99) / hist_quantile_us(q, 0.99);
        }
        k->p99_paired = median(ratio, nr);
        k->b_max_ms = (double) k->kill.max_ns / 1e6;
        free(sorted);
        free(ratio);
}


static void kind_print(const Kind *k) {
        say("  %s: %u kills in %.1f s; stall after a kill (the longest vCPU of the killed guests; 0: under 1 ms): max "
            "%.1f ms, p99 %.1f ms, median %.1f ms\n",
            k->name, k->kills, k->seconds, k->stall_max, k->stall_p99, k->stall_median);
        for (unsigned g = 0; g < 2; g++)
                say("    guest %c: %" PRIu64 " kicks completed, %" PRIu64 " signalled: %" PRIu64 " lost, %" PRIu64
                    " signalled twice\n",
                    'A' + g, k->sent[g], k->got[g], k->sent[g] > k->got[g] ? k->sent[g] - k->got[g] : 0,
                    k->got[g] > k->sent[g] ? k->got[g] - k->sent[g] : 0);
        say("    guest B round trip: quiet windows p50 %.2f p99 %.2f us, kill windows p50 %.2f p99 %.2f us (longest "
            "%.2f ms); p99 kill / quiet: median of %u paired windows %.3f, pooled %.3f\n",
            hist_quantile_us(&k->quiet, 0.5), hist_quantile_us(&k->quiet, 0.99), hist_quantile_us(&k->kill, 0.5),
            hist_quantile_us(&k->kill, 0.99), k->b_max_ms, k->kills, k->p99_paired,
            hist_quantile_us(&k->kill, 0.99) / hist_quantile_us(&k->quiet, 0.99));
}

static uint64_t kind_lost(const Kind *k) {
        uint64_t n = 0;

        for (unsigned g = 0; g < 2; g++)
                n += k->sent[g] > k->got[g] ? k->sent[g] - k->got[g] : 0;
        return n;
}

static uint64_t kind_dups(const Kind *k) {
        uint64_t n = 0;

        for (unsigned g = 0; g < 2; g++)
                n += k->got[g] > k->sent[g] ? k->got[g] - k->sent[g] : 0;
        return n;
}

static void kind_json(Sb *j, const char *key, const Kind *k) {
        sb_printf(j, "\"%s\": {\"kills\": %u, \"seconds\": %.3f, \"stall_ms\": {\"max\": %.3f, \"p99\": %.3f, "
                     "\"median\": %.3f, \"each\": [",
                  key, k->kills, k->seconds, k->stall_max, k->stall_p99, k->stall_median);
        for (unsigned i = 0; i < k->kills; i++)
                sb_printf(j, "%s%.3f", i ? ", " : "", k->stall[i]);
        sb_printf(j, "]}, \"a_sent\": %" PRIu64 ", \"a_signalled\": %" PRIu64 ", \"b_sent\": %" PRIu64
                     ", \"b_signalled\": %" PRIu64 ", \"lost\": %" PRIu64 ", \"duplicates\": %" PRIu64
                     ", \"b_p99_paired_ratio\": %.4f, ",
                  k->sent[0], k->got[0], k->sent[1], k->got[1], kind_lost(k), kind_dups(k), k->p99_paired);
        json_hist(j, "b_quiet", &k->quiet);
        sb_printf(j, ", ");
        json_hist(j, "b_kill", &k->kill);
        sb_printf(j, "}");
}

/* the ids of domid's ioreq servers into ids (up to XSG_MAX_SERVERS), their number returned */
static int servers_of(uint32_t domid, unsigned *ids) {
        struct xsg_server_info info[XSG_MAX_SERVERS];
        int n = xsg_servers(e.g, domid, info, XSG_MAX_SERVERS);

        if (n < 0)
                die("R1: the servers of domain %" PRIu32 ": %s", domid, strerror(-n));
        for (int i = 0; i < n && i < XSG_MAX_SERVERS; i++)
                ids[i] = info[i].id;
        return n;
}

static void sleep_ms_checked(unsigned ms) {
        uint64_t end = now_ns() + (uint64_t) ms * 1000000u;

        while (now_ns() < end) {
                vcpus_check();
                sleep_us(5000);
        }
}

static void check_connection(xenioreqd_client *c, const char *guest, uint32_t domid) {
        xenioreqd_guest_info gi;
        int r = xenioreqd_query(c, &gi);

        if (r < 0 || gi.state != XIRQ_GUEST_SERVING || gi.domid != domid || gi.client_registrations != 1)
                die("R1: guest %s: the connection kept across the kills does not see the guest served with its "
                    "registration (query %d, state %u, domain %" PRIu32 ", %u registrations)",
                    guest, r, r < 0 ? 0 : gi.state, r < 0 ? 0 : gi.domid, r < 0 ? 0 : gi.client_registrations);
}

void scenario_r1(void) {
        unsigned kills = opt.quick ? 10 : 100;
        static Service s;
        static Kind kinds[NR_KINDS] = { { .name = "W worker of guest A killed" },
                                        { .name = "P main process killed" } };
        Kind *kw = &kinds[KIND_W], *kp = &kinds[KIND_P];
        uint32_t da, db;
        unsigned ids0[2][XSG_MAX_SERVERS], ids1[2][XSG_MAX_SERVERS];
        int nsrv0[2], nsrv1[2], efd[2];
        xenioreqd_client *ca, *cb;
        pid_t main0, wa, wb;
        long fds0, fds1, fds2, rss0, rss1, rss2, sup0, sup2, sp0, sp1, sp2;
        Hist *wins;
        uint64_t t, end_w, end_p, t_start;
        Sb *j = &json_results;
        int r;

        say("R1 restarts: under xirq-supervise, guest A (2 vCPUs) and guest B (1 vCPU) kicking back to back; %u "
            "kills of A's worker, then %u of the main process\n",
            kills, kills);
        env_start(&e, "r1");
        daemon_init(&e, &s.d, "r1");
        daemon_guest(&s.d, "ga", NULL);
        daemon_guest(&s.d, "gb", NULL);
        da = domain_create(&e, "ga", 2);
        db = domain_create(&e, "gb", 1);
        service_start(&s);
        main0 = service_wait(&s, 0);
        ca = daemon_connect(&s.d, "ga", da, WAIT_MS);
        cb = daemon_connect(&s.d, "gb", db, WAIT_MS);
        efd[0] = make_eventfd();
        efd[1] = make_eventfd();
        r = xenioreqd_assign(ca, XIRQ_SPACE_MMIO, KICK_ADDR, 4, XIRQ_MATCH_EXACT, 0, 0, efd[0]);
        if (r >= 0)
                r = xenioreqd_assign(cb, XIRQ_SPACE_MMIO, KICK_ADDR, 4, XIRQ_MATCH_EXACT, 0, 0, efd[1]);
        if (r < 0)
                die("R1: registration failed: %s", strerror(-r));
        t = now_ns() + (uint64_t) WAIT_MS * 1000000u;
        wa = worker_wait(&s, da, 0, t);
        wb = worker_wait(&s, db, 0, t);
        kick(&e, da, 0, KICK_ADDR, 0);
        kick(&e, db, 0, KICK_ADDR, 0);
        if (efd_take(efd[0]) != 1 || efd_take(efd[1]) != 1)
                die("R1: the first kicks did not reach the eventfds");
        nsrv0[0] = servers_of(da, ids0[0]);
        nsrv0[1] = servers_of(db, ids0[1]);
        if (nsrv0[0] != 1 || nsrv0[1] != 1)
                die("R1: %d and %d ioreq servers at the start, expected 1 each", nsrv0[0], nsrv0[1]);
        sleep_ms_checked(100);          /* the spare workers started after the first ones */
        fds0 = fd_count_own(main0, &sp0);
        rss0 = proc_status_kib(main0, "VmRSS");
        sup0 = fd_count(s.d.pid);

        wins = calloc((size_t) NR_KINDS * kills * 2, sizeof(*wins));
        if (!wins)
                die("out of memory");
        for (unsigned i = 0; i < R1_VCPUS; i++) {
                vc[i].domid = i < 2 ? da : db;
                vc[i].vcpu = i < 2 ? i : 0;
                vc[i].longs = calloc(R1_LONG_MAX, sizeof(Access));
                if (!vc[i].longs)
                        die("out of memory");
                vc[i].wins = i == 2 ? wins : NULL;
                if (pthread_create(&vc[i].t, NULL, vcpu_thread, &vc[i]) != 0)
                        die("pthread_create failed");
        }
        /* warm-up, then the counts start from 0 */
        sleep_ms_checked(500);
        vcpus_pause();
        for (unsigned i = 0; i < R1_VCPUS; i++)
                atomic_store(&vc[i].done, 0);
        (void) efd_take(efd[0]);
        (void) efd_take(efd[1]);
        vcpus_resume();

        /* W: A's worker killed; each time a new one must take its server over */
        kw->kills = kp->kills = kills;
        for (unsigned k = 0; k < NR_KINDS; k++) {
                kinds[k].at = calloc(kills, sizeof(uint64_t));
                kinds[k].stall = calloc(kills, sizeof(double));
                if (!kinds[k].at || !kinds[k].stall)
                        die("out of memory");
        }
        t_start = now_ns();
        for (unsigned i = 0; i < kills; i++) {
                uint64_t k, deadline;

                atomic_store(&win_slot, (int) (2 * i + WIN_QUIET));
                sleep_ms_checked(R1_QUIET_MS);
                atomic_store(&win_slot, (int) (2 * i + WIN_KILL));
                k = now_ns();
                kw->at[i] = k;
                if (kill(wa, SIGKILL) < 0)
                        die("R1: kill worker %d: %m", (int) wa);
                deadline = k + (uint64_t) R1_SETTLE_MS * 1000000u;
                wa = worker_wait(&s, da, wa, deadline);
                resumed_wait(0, 1, k, deadline);
                sleep_ms_checked(R1_KILL_WIN_MS);
        }
        atomic_store(&win_slot, -1);
        end_w = now_ns();
        kw->seconds = (double) (end_w - t_start) / 1e9;
        kind_count(kw, efd);
        if (service_pid(&s) != main0)
                die("R1: the main process changed while only workers were killed (see %s)", s.d.log);
        if (daemon_worker(&s.main, db) != wb)
                die("R1: guest B's worker changed while only guest A's was killed (see %s)", s.d.log);
        fds1 = fd_count_own(main0, &sp1);
        rss1 = proc_status_kib(main0, "VmRSS");

        /* P: the main process killed (its workers go with it); the service manager starts it again */
        t_start = now_ns();
        {
                pid_t mainp = main0;
                uint64_t started = 0;

                for (unsigned i = 0; i < kills; i++) {
                        uint64_t k, deadline, gap;

                        atomic_store(&win_slot, (int) (2 * (kills + i) + WIN_QUIET));
                        gap = started ? (now_ns() - started) / 1000000u : R1_START_GAP_MS;
                        sleep_ms_checked(gap >= R1_START_GAP_MS - R1_QUIET_MS ? R1_QUIET_MS
                                                                              : (unsigned) (R1_START_GAP_MS - gap));
                        atomic_store(&win_slot, (int) (2 * (kills + i) + WIN_KILL));
                        k = now_ns();
                        kp->at[i] = k;
                        if (kill(mainp, SIGKILL) < 0)
                                die("R1: kill xen-ioreqd %d: %m", (int) mainp);
                        deadline = k + (uint64_t) R1_SETTLE_MS * 1000000u;
                        mainp = service_wait(&s, mainp);
                        started = now_ns();
                        (void) worker_wait(&s, da, 0, deadline);
                        (void) worker_wait(&s, db, 0, deadline);
                        resumed_wait(0, 2, k, deadline);
                        sleep_ms_checked(R1_KILL_WIN_MS);
                }
        }
        atomic_store(&win_slot, -1);
        end_p = now_ns();
        kp->seconds = (double) (end_p - t_start) / 1e9;
        kind_count(kp, efd);
        sleep_ms_checked(300);
        fds2 = fd_count_own(s.main.pid, &sp2);
        rss2 = proc_status_kib(s.main.pid, "VmRSS");
        sup2 = fd_count(s.d.pid);

        atomic_store(&stop_req, true);
        for (unsigned i = 0; i < R1_VCPUS; i++)
                pthread_join(vc[i].t, NULL);
        vcpus_check();
        nsrv1[0] = servers_of(da, ids1[0]);
        nsrv1[1] = servers_of(db, ids1[1]);
        check_connection(ca, "ga", da);
        check_connection(cb, "gb", db);

        kind_figures(kw, 0, 1, end_w, wins);
        kind_figures(kp, 0, 2, end_p, wins + 2 * kills);
        kind_print(kw);
        kind_print(kp);
        say("  ioreq servers afterwards: domain A %d (id %u, at the start %u), domain B %d (id %u, at the start %u)\n",
            nsrv1[0], nsrv1[0] > 0 ? ids1[0][0] : 0, ids0[0][0], nsrv1[1], nsrv1[1] > 0 ? ids1[1][0] : 0, ids0[1][0]);
        say("  main process: %ld descriptors (besides %d per spare worker: %ld spares) and %ld KiB RSS at the start, "
            "%ld (%ld spares) and %ld KiB after W (same process), %ld (%ld spares) and %ld KiB after P (the last one "
            "started); the service manager's descriptors %ld, then %ld\n",
            fds0, R1_SPARE_FDS, sp0, rss0, fds1, sp1, rss1, fds2, sp2, rss2, sup0, sup2);
        {
                char note[200];
                bool same = nsrv1[0] == 1 && nsrv1[1] == 1 && ids1[0][0] == ids0[0][0] && ids1[1][0] == ids0[1][0];
                double srv = nsrv1[0] > nsrv1[1] ? nsrv1[0] : nsrv1[1];

                snprintf(note, sizeof note, "p99 %.1f ms, median %.1f ms", kw->stall_p99, kw->stall_median);
                target_add("R1.wstall", "worker killed: longest vCPU stall after a kill, ms", kw->stall_max, 500,
                           false, note);
                snprintf(note, sizeof note, "p99 %.1f ms, median %.1f ms", kp->stall_p99, kp->stall_median);
                target_add("R1.pstall", "main process killed: longest vCPU stall after a kill, ms", kp->stall_max,
                           500, false, note);
                snprintf(note, sizeof note, "%" PRIu64 " of %" PRIu64 " kicks signalled twice", kind_dups(kw),
                         kw->sent[0] + kw->sent[1]);
                target_add("R1.wlost", "worker killed: kicks completed but never signalled", (double) kind_lost(kw), 0,
                           false, note);
                snprintf(note, sizeof note, "%" PRIu64 " of %" PRIu64 " kicks signalled twice", kind_dups(kp),
                         kp->sent[0] + kp->sent[1]);
                target_add("R1.plost", "main process killed: kicks completed but never signalled",
                           (double) kind_lost(kp), 0, false, note);
                snprintf(note, sizeof note, "%s", same ? "the server of the start in both"
                                                       : "NOT the server of the start (see the line above)");
                target_add("R1.servers", "ioreq servers per domain after all kills (max of A, B)", same ? srv : 99, 1,
                           false, note);
                snprintf(note, sizeof note, "%ld, %ld, %ld descriptors at the start, after W, after P", fds0, fds1,
                         fds2);
                target_add("R1.fds", "main process descriptors (no spares'), after - at the start",
                           (double) ((fds1 > fds2 ? fds1 : fds2) - fds0), 0, false, note);
                snprintf(note, sizeof note, "%ld, %ld, %ld KiB at the start, after W, after P", rss0, rss1, rss2);
                target_add("R1.rss", "main process RSS, after / at the start (the larger)",
                           (double) (rss1 > rss2 ? rss1 : rss2) / (double) rss0, 1.25, false, note);
                snprintf(note, sizeof note, "pooled %.3f; B's longest access %.2f ms",
                         hist_quantile_us(&kw->kill, 0.99) / hist_quantile_us(&kw->quiet, 0.99), kw->b_max_ms);
                target_add("R1.p99", "guest B p99 while A's worker is killed / quiet (paired)", kw->p99_paired, 1.10,
                           false, note);
        }
        sb_printf(j, "%s{\"id\": \"R1\", \"kills\": %u, ", j->len ? ",\n" : "", kills);
        kind_json(j, "worker", kw);
        sb_printf(j, ", ");
        kind_json(j, "main", kp);
        sb_printf(j,
                  ", \"servers_after\": [%d, %d], \"server_ids\": {\"start\": [%u, %u], \"after\": [%u, %u]}, "
                  "\"main_fds\": [%ld, %ld, %ld], \"main_rss_kib\": [%ld, %ld, %ld], \"supervisor_fds\": [%ld, %ld]}",
                  nsrv1[0], nsrv1[1], ids0[0][0], ids0[1][0], nsrv1[0] > 0 ? ids1[0][0] : 0,
                  nsrv1[1] > 0 ? ids1[1][0] : 0, fds0, fds1, fds2, rss0, rss1, rss2, sup0, sup2);

        xenioreqd_close(ca);
        xenioreqd_close(cb);
        close(efd[0]);
        close(efd[1]);
        r = proc_stop(s.d.pid, 20000);
        if (r != 0)
                die("R1: the service did not stop cleanly (%d; see %s)", r, s.d.log);
        env_stop(&e);
        for (unsigned i = 0; i < R1_VCPUS; i++)
                free(vc[i].longs);
        for (unsigned k = 0; k < NR_KINDS; k++) {
                free(kinds[k].at);
                free(kinds[k].stall);
        }
        free(wins);
}
