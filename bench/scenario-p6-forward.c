/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scenario-p6-forward.c - one scenario of xirq-bench (xirq-bench.h): P6, the round trip of a
 * guest read that xen-ioreqd forwards to the client that claimed its range, beside the round
 * trip of a kick of that client's ioeventfd registration, in the same guest of the same daemon
 * (issue 14: a forwarded read's round trip at most twice a kick's).
 *
 * The backend (bench-backend --claim) is laid out as a virtio-mmio device front end: it
 * registers QUEUE_NOTIFY (KICK_ADDR) and claims the device's 0x200-byte window at KICK_BASE,
 * so kicks take the ioeventfd inside the claim and a read of MagicValue is forwarded to it
 * (guest vCPU → worker → ring and eventfd → backend → answer and eventfd → worker → vCPU).
 * Rounds of n kicks and of n reads take turns, the order flipping every round; the ratio is
 * the median over rounds of the read's quantile over the kick's in the same round.
 */
#define _GNU_SOURCE 1
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "xirq-bench.h"

#define WINDOW          0x200u          /* a virtio-mmio device's registers and configuration */

/* the forwarded reads' side: round trips, rounds, daemon CPU */
typedef struct Reads {
        Side s;                 /* rt, round_q, nr_rounds, cpu, wall, kicks (= reads) */
        uint64_t issued;        /* every read, warm-up included */
} Reads;

/* n back-to-back reads of MagicValue from vCPU 0, each checked; rt/cpu recorded if measure */
static void reads_round(Env *e, Reads *rd, pid_t daemon, uint64_t n, bool measure) {
        static CpuSpan span;
        Side *s = &rd->s;
        uint64_t w0;

        if (measure) {
                cpu_span_start(&span, daemon, true);
                hist_reset(&s->cur);
        }
        w0 = now_ns();
        for (uint64_t i = 0; i < n; i++) {
                uint64_t t0 = now_ns(), t1, v = 0;
                int r = xsg_read(e->g, s->domid, 0, XSG_MMIO, KICK_BASE, 4, &v, 10000);

                t1 = now_ns();
                if (r < 0)
                        die("forwarded read %" PRIu64 " of domain %" PRIu32 " failed: %s", rd->issued + 1, s->domid,
                            strerror(-r));
                if (v != bench_claim_value(0))
                        die("forwarded read %" PRIu64 " returned 0x%" PRIx64 ", the backend answers 0x%" PRIx32,
                            rd->issued + 1, v, bench_claim_value(0));
                rd->issued++;
                if (measure)
                        hist_add(&s->cur, t1 - t0);
        }
        if (!measure)
                return;
        side_round_end(s);
        s->wall += (double) (now_ns() - w0) / 1e9;
        s->cpu += cpu_span_end(&span, daemon, true, NULL, "xen-ioreqd (forwarded reads)");
        s->kicks += n;
}

typedef struct ReadsJob {
        Env *e;
        Reads *rd;
        pid_t daemon;
        uint64_t n;
        bool measure;
} ReadsJob;

static void reads_job(void *arg) {
        const ReadsJob *job = arg;

        reads_round(job->e, job->rd, job->daemon, job->n, job->measure);
}

/* the reads from the thread that kicks: one vCPU makes both kinds of access */
static void reads_on(Side *a, Env *e, Reads *rd, pid_t daemon, uint64_t n, bool measure) {
        side_run(a, reads_job, &(ReadsJob) { .e = e, .rd = rd, .daemon = daemon, .n = n, .measure = measure });
}

/* Does the daemon take claims?  NULL if so, else why not (for "not run"). */
static const char *claims_supported(Daemon *d, uint32_t domid, char *why, size_t size) {
        xenioreqd_client *c = daemon_connect(d, "p6", domid, WAIT_MS);
        xenioreqd_claim *cl = NULL;
        int r = xenioreqd_claim_range(c, XIRQ_SPACE_MMIO, KICK_BASE, WINDOW, 0, &cl);

        if (r < 0)
                snprintf(why, size, "not run: xen-ioreqd refused the claim (protocol version %u): %s",
                         (unsigned) xenioreqd_version(c), strerror(-r));
        else if ((r = xenioreqd_unclaim(cl)) < 0)
                die("UNCLAIM of a claim just made failed: %s", strerror(-r));
        xenioreqd_close(c);
        return r < 0 ? why : NULL;
}

/* the daemon's kick counter of the guest (QUERY) */
static uint64_t daemon_kicks(Daemon *d, uint32_t domid) {
        xenioreqd_client *c = daemon_connect(d, "p6", domid, WAIT_MS);
        xenioreqd_guest_info info;
        int r = xenioreqd_query(c, &info);

        xenioreqd_close(c);
        if (r < 0)
                die("QUERY failed: %s", strerror(-r));
        return info.kicks;
}

void scenario_p6(void) {
        unsigned rounds = opt.quick ? 20 : 150;
        uint64_t n = opt.quick ? 1000 : 2000, forwarded = 0, kicks, dkicks;
        char claim[64], why[200], n50[96], n99[96];
        Env e;
        Daemon d;
        Side a = { .name = "kick (ioeventfd)" };
        Reads rd = { .s = { .name = "forwarded read" } };
        Sb *j = &json_results;

        say("P6 forwarded read: 1 guest, 1 vCPU; one client registers QUEUE_NOTIFY and claims the 0x%x-byte window "
            "around it; %u rounds x %" PRIu64 " kicks and %" PRIu64 " reads of MagicValue\n",
            WINDOW, rounds, n, n);
        env_start(&e, "p6");
        daemon_init(&e, &d, "xen-ioreqd");
        daemon_guest(&d, "p6", NULL);
        a.domid = rd.s.domid = domain_create(&e, "p6", 1);
        daemon_start(&e, &d, NULL);
        if (claims_supported(&d, a.domid, why, sizeof why)) {
                say("  %s\n", why);
                target_not_run("P6.p50", "forwarded read round trip p50 / kick's (paired rounds)", 2.0, false, why);
                target_not_run("P6.p99", "forwarded read round trip p99 / kick's (paired rounds)", 2.0, false, why);
                sb_printf(j, "%s{\"id\": \"P6\", \"not_run\": \"%s\"}", j->len ? ",\n" : "", why);
                daemon_stop(&d, 5000);
                env_stop(&e);
                return;
        }
        snprintf(claim, sizeof claim, "0x%" PRIx64 ":0x%x", KICK_BASE, WINDOW);
        a.be.claim = claim;
        side_start_daemon(&e, &a, &d, "p6", "p6");

        /* warm-up, then the rounds, the order flipping every round */
        side_kicks(&e, &a, 2000, false);
        reads_on(&a, &e, &rd, d.pid, 2000, false);
        for (unsigned r = 0; r < rounds; r++) {
                if (r % 2 == 0) {
                        side_kicks(&e, &a, n, true);
                        reads_on(&a, &e, &rd, d.pid, n, true);
                } else {
                        reads_on(&a, &e, &rd, d.pid, n, true);
                        side_kicks(&e, &a, n, true);
                }
        }

        /* every read answered by the backend, every kick counted by the daemon */
        for (uint64_t deadline = now_ns() + 2000000000u; now_ns() < deadline; sleep_us(1000))
                if ((forwarded = atomic_load(&a.be.shm->forwarded)) >= rd.issued)
                        break;
        if (forwarded != rd.issued || atomic_load(&a.be.shm->forward_errors) != 0)
                die("the backend answered %" PRIu64 " forwarded reads of %" PRIu64 " (%" PRIu64 " errors; see %s)",
                    forwarded, rd.issued, (uint64_t) atomic_load(&a.be.shm->forward_errors), e.dir);
        kicks = atomic_load(&a.be.shm->kicks);
        dkicks = daemon_kicks(&d, a.domid);
        if (dkicks != kicks)
                die("xen-ioreqd counted %" PRIu64 " kicks, the guest made %" PRIu64, dkicks, kicks);

        print_side(&a);
        say("  %-18s rt p50 %7.2f  p99 %7.2f  p99.9 %7.2f us | answered by the backend: %" PRIu64
            " of %" PRIu64 " | cpu %.2f s/Mread (%u processes)\n",
            rd.s.name, hist_quantile_us(&rd.s.rt, 0.5), hist_quantile_us(&rd.s.rt, 0.99),
            hist_quantile_us(&rd.s.rt, 0.999), forwarded, rd.issued, cpu_per_mkick(&rd.s), a.procs);
        {
                double m50 = paired_ratio(&rd.s, &a, 0), m99 = paired_ratio(&rd.s, &a, 1);
                double r50 = hist_quantile_us(&rd.s.rt, 0.5) / hist_quantile_us(&a.rt, 0.5);
                double r99 = hist_quantile_us(&rd.s.rt, 0.99) / hist_quantile_us(&a.rt, 0.99);

                say("  ratio forwarded read / kick: median of %u paired rounds: p50 %.3f  p99 %.3f | all samples "
                    "pooled: p50 %.3f  p99 %.3f | daemon cpu %.3f\n",
                    rd.s.nr_rounds, m50, m99, r50, r99, cpu_per_mkick(&rd.s) / cpu_per_mkick(&a));
                snprintf(n50, sizeof n50, "pooled samples: %.3f; read p50 %.2f us, kick p50 %.2f us", r50,
                         hist_quantile_us(&rd.s.rt, 0.5), hist_quantile_us(&a.rt, 0.5));
                snprintf(n99, sizeof n99, "pooled samples: %.3f", r99);
                target_add("P6.p50", "forwarded read round trip p50 / kick's (paired rounds)", m50, 2.0, false, n50);
                target_add("P6.p99", "forwarded read round trip p99 / kick's (paired rounds)", m99, 2.0, false, n99);
                sb_printf(j, "%s{\"id\": \"P6\", \"rounds\": %u, \"ops_per_round\": %" PRIu64 ", \"kick\": {",
                          j->len ? ",\n" : "", rounds, n);
                json_hist(j, "round_trip", &a.rt);
                sb_printf(j, ", \"daemon_cpu_s_per_mop\": %.3f}, \"forwarded_read\": {", cpu_per_mkick(&a));
                json_hist(j, "round_trip", &rd.s.rt);
                sb_printf(j,
                          ", \"daemon_cpu_s_per_mop\": %.3f, \"answered\": %" PRIu64 "}, \"daemon_kicks\": %" PRIu64
                          ", \"paired_ratio_p50\": %.4f, \"paired_ratio_p99\": %.4f, \"ratio_p50\": %.4f, "
                          "\"ratio_p99\": %.4f}",
                          cpu_per_mkick(&rd.s), forwarded, dkicks, m50, m99, r50, r99);
        }

        backend_stop(&a.be);
        daemon_stop(&d, 5000);
        env_stop(&e);
}
