/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scenario-c1-churn.c - one scenario of xirq-bench (xirq-bench.h): C1, one guest's kicks while
 * other domains come and go (issue 9: every domain event must not stall every guest).
 *
 * 1000 other domains (quick: 100) are present, each with a guest file of the daemon, so that
 * the daemon follows them.  Rounds alternate between quiet and churn (the order flips every
 * round); in a churn round a thread destroys one of the other domains and creates it again
 * (same name, a new domain id: @releaseDomain, then @introduceDomain and its xenstore entries)
 * as fast as it can, for as long as the round lasts, and the rounds go on until 1000 (quick:
 * 100) domains have been destroyed and created.  In every round the busy guest kicks back to
 * back through the daemon and a floor guest through the floor server, taking turns as in P1.
 * The target is the daemon's busy guest p99 in churn rounds over its p99 in quiet rounds
 * (median over pairs of rounds); the floor's same ratio is printed beside it: what the churn
 * costs a server that does not follow xenstore at all, on this machine.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xirq-bench.h"

static Env e;
static uint32_t *others;
static unsigned n_others;
static _Atomic bool churning, churn_stop;
static _Atomic uint64_t cycles;                 /* destroyed and created again */
static _Atomic int churn_error;

static void *churn_thread(void *arg) {
        unsigned i = 0;

        (void) arg;
        while (!atomic_load(&churn_stop)) {
                char name[32];
                uint32_t domid;
                int r;

                if (!atomic_load(&churning)) {
                        sleep_us(500);
                        continue;
                }
                snprintf(name, sizeof name, "c%04u", i);
                r = xsg_domain_destroy(e.g, others[i]);
                if (r >= 0)
                        r = xsg_domain_create(e.g, name, 1, &domid);
                if (r < 0) {
                        atomic_store(&churn_error, r);
                        break;
                }
                others[i] = domid;
                i = (i + 1) % n_others;
                atomic_fetch_add(&cycles, 1);
        }
        return NULL;
}

static void churn_check(void) {
        int r = atomic_load(&churn_error);

        if (r < 0)
                die("C1: destroying and creating a domain failed: %s", strerror(-r));
}

/* the side s with its own name and rounds, sharing from's server and backend */
static void side_share(Side *s, const Side *from) {
        s->domid = from->domid;
        s->server = from->server;
        s->family = from->family;
        s->be = from->be;
}

void scenario_c1(void) {
        unsigned n = opt.quick ? 100 : 1000;
        uint64_t want = n;
        unsigned min_rounds = opt.quick ? 10 : 40;
        uint64_t kicks = opt.quick ? 1000 : 4000;
        Daemon d;
        Side dq = { .name = "xen-ioreqd-quiet" }, dc = { .name = "xen-ioreqd-churn" };
        Side fq = { .name = "floor-quiet" }, fc = { .name = "floor-churn" };
        pthread_t t;
        uint64_t t0, churn_ns = 0;
        unsigned r;
        double ratio, pooled, fratio, fpooled;
        char note[200];
        Sb *j = &json_results;

        say("C1 churn: one guest kicking, %u other domains present; rounds quiet and with domains destroyed and "
            "created again, until %" PRIu64 " were; %" PRIu64 " kicks per round\n",
            n, want, kicks);
        others = calloc(n, sizeof(*others));
        if (!others)
                die("out of memory");
        n_others = n;
        env_start(&e, "c1");
        daemon_init(&e, &d, "c1");
        daemon_guest(&d, "busy", NULL);
        dq.domid = domain_create(&e, "busy", 1);
        fq.domid = domain_create(&e, "c1floor", 1);
        daemon_guests_create(&e, &d, 'c', n, 1, others);
        daemon_start(&e, &d, NULL);
        side_start_daemon(&e, &dq, &d, "busy", "busy");
        side_start_floor(&e, &fq, "c1");
        {
                char name[32];
                xenioreqd_client *c;

                /* every domain known to the daemon before the rounds */
                t0 = now_ns();
                snprintf(name, sizeof name, "c%04u", n - 1);
                c = daemon_connect(&d, name, others[n - 1], 30000);
                xenioreqd_close(c);
                say("  xen-ioreqd found all %u guests; %.1f s\n", n + 1, (double) (now_ns() - t0) / 1e9);
        }
        side_share(&dc, &dq);
        side_share(&fc, &fq);
        if (pthread_create(&t, NULL, churn_thread, NULL) != 0)
                die("pthread_create failed");

        side_kicks(&e, &dq, 2000, false);
        side_kicks(&e, &fq, 2000, false);
        for (r = 0; r < 2 * MAX_ROUNDS && (r < min_rounds || atomic_load(&cycles) < want || r % 4); r++) {
                bool churn = (r % 4 == 1 || r % 4 == 2);        /* quiet, churn, churn, quiet, ... */
                Side *sd = churn ? &dc : &dq, *sf = churn ? &fc : &fq;

                if (churn) {
                        atomic_store(&churning, true);
                        sleep_us(2000);                         /* the churn under way */
                        t0 = now_ns();
                }
                if (r % 2) {
                        side_kicks(&e, sf, kicks, true);
                        side_kicks(&e, sd, kicks, true);
                } else {
                        side_kicks(&e, sd, kicks, true);
                        side_kicks(&e, sf, kicks, true);
                }
                if (churn) {
                        churn_ns += now_ns() - t0;
                        atomic_store(&churning, false);
                }
                churn_check();
        }
        atomic_store(&churn_stop, true);
        pthread_join(t, NULL);
        churn_check();

        print_side(&dq);
        print_side(&dc);
        print_side(&fq);
        print_side(&fc);
        ratio = paired_ratio(&dc, &dq, 1);
        pooled = hist_quantile_us(&dc.rt, 0.99) / hist_quantile_us(&dq.rt, 0.99);
        fratio = paired_ratio(&fc, &fq, 1);
        fpooled = hist_quantile_us(&fc.rt, 0.99) / hist_quantile_us(&fq.rt, 0.99);
        say("  %" PRIu64 " domains destroyed and created again in %u churn rounds (%.0f per second of churn round)\n",
            (uint64_t) atomic_load(&cycles), dc.nr_rounds, churn_ns ? (double) atomic_load(&cycles) / ((double) churn_ns / 1e9) : 0);
        say("  busy guest p99 churn / quiet: xen-ioreqd median of %u paired rounds %.3f (pooled %.3f), longest %.2f ms; "
            "floor %.3f (pooled %.3f), longest %.2f ms\n",
            dc.nr_rounds < dq.nr_rounds ? dc.nr_rounds : dq.nr_rounds, ratio, pooled, (double) dc.rt.max_ns / 1e6, fratio,
            fpooled, (double) fc.rt.max_ns / 1e6);
        snprintf(note, sizeof note, "pooled %.3f; the floor's churn / quiet %.3f; %" PRIu64 " domains churned", pooled,
                 fratio, (uint64_t) atomic_load(&cycles));
        target_add("C1.p99", "busy guest p99 with domains churning / quiet (paired)", ratio, 1.10, false, note);

        sb_printf(j, "%s{\"id\": \"C1\", \"other_domains\": %u, \"churned\": %" PRIu64 ", \"churn_seconds\": %.3f, "
                     "\"kicks_per_round\": %" PRIu64 ", ",
                  j->len ? ",\n" : "", n, (uint64_t) atomic_load(&cycles), (double) churn_ns / 1e9, kicks);
        json_side(j, &dq);
        sb_printf(j, ", ");
        json_side(j, &dc);
        sb_printf(j, ", ");
        json_side(j, &fq);
        sb_printf(j, ", ");
        json_side(j, &fc);
        sb_printf(j, ", \"paired_ratio_p99\": %.4f, \"ratio_p99\": %.4f, \"floor_paired_ratio_p99\": %.4f, "
                     "\"floor_ratio_p99\": %.4f}",
                  ratio, pooled, fratio, fpooled);

        backend_stop(&dq.be);
        backend_stop(&fq.be);
        proc_stop(fq.server, 3000);
        daemon_stop(&d, 20000);
        env_stop(&e);
        free(others);
}
