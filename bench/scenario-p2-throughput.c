/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scenario-p2-throughput.c - one scenario of xirq-bench (xirq-bench.h): P2 throughput: G guests x V vCPUs = 1, 16, 256.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "xirq-bench.h"

void scenario_p2(void) {
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
