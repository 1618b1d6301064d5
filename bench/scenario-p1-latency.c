/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scenario-p1-latency.c - one scenario of xirq-bench (xirq-bench.h): P1 latency (1 guest,
 * 1 vCPU, 1 registration, back-to-back kicks), P5 CPU seconds per million kicks, and the
 * adaptive busy-poll (busy_poll_us) when the daemon really polls.  The daemon's CPU time is its
 * parent's and its workers' (one per guest: three here), each measured as the floor is.
 *
 * P1 and P5 are measured with every process of both sides (the vCPU threads, xensimd, the
 * daemon and its workers, the floor, the backends) on one CPU: unpinned, where the scheduler
 * places each side's three busy processes on two CPUs decides a run, either way (paired p50
 * ratios of one build from 0.84 to 2.82), and the ratio measures the placement.  The same
 * rounds unpinned are run first and reported beside it.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "xirq-bench.h"

/* Every process of the benchmark (this one and all it started) on the CPUs of set. */
static void pin_all(const cpu_set_t *set) {
        if (proc_tree_affinity(getpid(), set) < 0)
                die("cannot set the CPU affinity of the benchmark's processes: %s", strerror(errno));
}

/* a side's figures of a new measurement (its backend, kicker and server stay) */
static void side_reset(Side *s) {
        s->nr_rounds = 0;
        hist_reset(&s->rt);
        s->cpu = s->cpu_parent = s->wall = 0;
        s->kicks = 0;
}

/* the server's CPU time (a daemon: its parent and workers) as a fraction of wall time, kicks gap_us apart */
static double paced_cpu_fraction(Env *e, Side *s, double seconds, unsigned gap_us) {
        static CpuSpan span;
        uint64_t t0, end;
        double cpu;

        cpu_span_start(&span, s->server, s->family);
        t0 = now_ns();
        end = t0 + (uint64_t) (seconds * 1e9);
        while (now_ns() < end) {
                side_kicks(e, s, 1, false);
                sleep_us(gap_us);
        }
        cpu = cpu_span_end(&span, s->server, s->family, NULL, s->name);
        return cpu / ((double) (now_ns() - t0) / 1e9);
}

void scenario_p1(void) {
        unsigned rounds = opt.quick ? 20 : 150;
        uint64_t n = opt.quick ? 1000 : 2000;
        Env e;
        Daemon d;
        Side a = { .name = "xen-ioreqd" }, f = { .name = "floor" };
        Side p = { .name = "xen-ioreqd-poll" }, q = { .name = "xen-ioreqd-detect" };
        Side fp = { .name = "floor" };
        Side *ab[] = { &a, &f };
        double frac_poll, frac_plain, u50, u99, ucpu;
        cpu_set_t all, one;
        int cpu;
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

        /* unpinned first, for the record */
        sides_rounds(&e, ab, 2, rounds, n);
        u50 = paired_ratio(&a, &f, 0);
        u99 = paired_ratio(&a, &f, 1);
        ucpu = cpu_per_mkick(&a) / cpu_per_mkick(&f);
        say("  unpinned: xen-ioreqd rt p50 %.2f us, floor %.2f us; median of %u paired rounds p50 %.3f  p99 %.3f | "
            "cpu %.3f (where the scheduler put each side's processes; not the target)\n",
            hist_quantile_us(&a.rt, 0.5), hist_quantile_us(&f.rt, 0.5), a.nr_rounds, u50, u99, ucpu);
        side_reset(&a);
        side_reset(&f);

        /* the target: both sides on one CPU */
        if (sched_getaffinity(0, sizeof all, &all) < 0)
                die("sched_getaffinity: %s", strerror(errno));
        CPU_ZERO(&one);
        for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &all); cpu++)
                ;
        CPU_SET(cpu, &one);
        pin_all(&one);
        sides_rounds(&e, ab, 2, rounds, n);
        pin_all(&all);
        say("  pinned to CPU %d:\n", cpu);
        print_side(&a);
        print_side(&f);
        {
                double r50 = hist_quantile_us(&a.rt, 0.5) / hist_quantile_us(&f.rt, 0.5);
                double r99 = hist_quantile_us(&a.rt, 0.99) / hist_quantile_us(&f.rt, 0.99);
                double cpu_ratio = cpu_per_mkick(&a) / cpu_per_mkick(&f);

                double m50 = paired_ratio(&a, &f, 0), m99 = paired_ratio(&a, &f, 1);
                char n50[64], n99[64];

                say("  ratio xen-ioreqd/floor: median of %u paired rounds: p50 %.3f  p99 %.3f | all samples pooled: "
                    "p50 %.3f  p99 %.3f | cpu %.3f\n",
                    a.nr_rounds, m50, m99, r50, r99, cpu_ratio);
                snprintf(n50, sizeof n50, "pooled %.3f; unpinned %.3f", r50, u50);
                snprintf(n99, sizeof n99, "pooled %.3f; unpinned %.3f", r99, u99);
                target_add("P1.p50", "round trip p50, xen-ioreqd / floor (paired, one CPU)", m50, 1.10, false, n50);
                target_add("P1.p99", "round trip p99, xen-ioreqd / floor (paired, one CPU)", m99, 1.10, false, n99);
                sb_printf(j, "%s{\"id\": \"P1\", \"rounds\": %u, \"kicks_per_round\": %" PRIu64 ", ",
                          j->len ? ",\n" : "", rounds, n);
                json_side(j, &a);
                sb_printf(j, ", ");
                json_side(j, &f);
                sb_printf(j,
                          ", \"pinned_cpu\": %d, \"paired_ratio_p50\": %.4f, \"paired_ratio_p99\": %.4f, "
                          "\"ratio_p50\": %.4f, \"ratio_p99\": %.4f, \"ratio_p999\": %.4f, \"unpinned_paired_ratio_p50\": "
                          "%.4f, \"unpinned_paired_ratio_p99\": %.4f, \"unpinned_cpu_ratio\": %.4f}",
                          cpu, m50, m99, r50, r99, hist_quantile_us(&a.rt, 0.999) / hist_quantile_us(&f.rt, 0.999),
                          u50, u99, ucpu);
                sb_printf(j,
                          ",\n{\"id\": \"P5\", \"workload\": \"P1\", \"xen-ioreqd_cpu_s_per_mkick\": %.4f, "
                          "\"floor_cpu_s_per_mkick\": %.4f, \"ratio\": %.4f}",
                          cpu_per_mkick(&a), cpu_per_mkick(&f), cpu_ratio);
                say("P5 CPU per million kicks (P1 workload): xen-ioreqd %.3f s (parent and %u workers), floor %.3f s, "
                    "ratio %.3f (one CPU; unpinned %.3f)\n", cpu_per_mkick(&a), a.procs - 1, cpu_per_mkick(&f), cpu_ratio, ucpu);
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
        daemon_stop(&d, 5000);
        env_stop(&e);
}
