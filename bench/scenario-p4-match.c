/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scenario-p4-match.c - one scenario of xirq-bench (xirq-bench.h): P4 match cost: 1 vs 4096 registrations, instructions per dispatch (callgrind).
 *
 * The hot path runs in xen-ioreqd-worker, which valgrind cannot run: the worker installs a
 * seccomp filter before it serves (valgrind does not support one) and does not serve without
 * it.  So P4 runs the worker's code in bench-dispatch: the worker's library, its set-up order,
 * its event loop and its dispatch callback, with 1 or 4096 registrations, under callgrind.
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

/* the counters bench-dispatch printed when it stopped; dies unless it served exactly kicks */
static void dispatch_check(const char *log, uint64_t kicks) {
        unsigned long long k = 0, u = 0, rd = 0, inv = 0, oth = 0;
        char line[512];
        bool found = false;
        FILE *f = fopen(log, "re");

        if (!f)
                die("P4: cannot read %s: %m", log);
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "bench-dispatch: served kicks=%llu unmatched=%llu reads=%llu invalid=%llu other=%llu",
                           &k, &u, &rd, &inv, &oth) == 5)
                        found = true;
        fclose(f);
        if (!found)
                die("P4: bench-dispatch did not report what it served (see %s)", log);
        if (k != kicks || u || rd || inv || oth)
                die("P4: bench-dispatch served %llu kicks of %" PRIu64 " (unmatched %llu, reads %llu, invalid %llu, "
                    "other %llu; see %s)", k, kicks, u, rd, inv, oth, log);
}

/* bench-dispatch under callgrind on domain domid: devices x queues registrations, one range per device */
static pid_t dispatch_start(Env *e, const char *valgrind, uint32_t domid, unsigned devices, int efd,
                            const char *out, const char *log) {
        char bin[PATH_MAX + 32], dom[16], efdarg[16], addr[32], ndev[16], outarg[448];
        /* only what runs inside the loop's callback of the event channel: the whole dispatch */
        const char *tool[] = { valgrind, "--tool=callgrind", "--toggle-collect=ioreq_io_cb", outarg, NULL };
        const char *argv[] = { bin, "--domid", dom, "--eventfd", efdarg, "--addr", addr, "--stride", "0x1000",
                               "--devices", ndev, "--queues", devices > 1 ? "16" : "1", NULL };

        snprintf(bin, sizeof bin, "%s/bench/bench-dispatch", opt.builddir);
        snprintf(dom, sizeof dom, "%" PRIu32, domid);
        snprintf(efdarg, sizeof efdarg, "%d", efd);
        snprintf(addr, sizeof addr, "0x%" PRIx64, KICK_ADDR);
        snprintf(ndev, sizeof ndev, "%u", devices);
        snprintf(outarg, sizeof outarg, "--callgrind-out-file=%s", out);
        return ready_start(e, tool, argv, &efd, 1, log, 60000);
}

void scenario_p4(void) {
        uint64_t kicks = opt.quick ? 1000 : 4000;
        char valgrind[PATH_MAX], outa[400], outb[400], loga[400], logb[400];
        Env e;
        uint32_t doma, domb;
        pid_t pa_pid, pb_pid;
        uint64_t done_a = 0, done_b = 0;
        int efd;
        Sb *j = &json_results;

        say("P4 match cost: 1 vs 4096 registrations in one guest, instructions per dispatch under callgrind; %" PRIu64
            " kicks each\n  the worker's hot path in a harness (bench-dispatch: the worker's library and set-up, "
            "no confinement): valgrind cannot run the worker's seccomp filter\n", kicks);
        if (!find_in_path("valgrind", valgrind, sizeof valgrind)) {
                say("  valgrind not found: P4 not run\n");
                target_not_run("P4", "instructions per dispatch, 4096 / 1 registrations", 1.05, false,
                               "not run: valgrind not installed");
                return;
        }
        env_start(&e, "p4");
        doma = domain_create(&e, "one", 1);
        domb = domain_create(&e, "many", 1);
        snprintf(outa, sizeof outa, "%s/callgrind.one.out", e.dir);
        snprintf(outb, sizeof outb, "%s/callgrind.many.out", e.dir);
        snprintf(loga, sizeof loga, "%s/dispatch-one.log", e.dir);
        snprintf(logb, sizeof logb, "%s/dispatch-many.log", e.dir);
        efd = make_eventfd();
        /* 1 registration; 256 virtio-mmio devices (one range each: Xen's limit) x 16 queues */
        pa_pid = dispatch_start(&e, valgrind, doma, 1, efd, outa, loga);
        pb_pid = dispatch_start(&e, valgrind, domb, 256, efd, outb, logb);
        /*
         * Kicks alternate between the two guests, each followed by a pause, so that every kick
         * finds its server asleep: one wake-up per kick, the same path in both configurations
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
                uint64_t cnt = 0;

                if (read(efd, &cnt, sizeof cnt) != (ssize_t) sizeof cnt || cnt != 2 * kicks)
                        die("P4: the eventfd got %" PRIu64 " of %" PRIu64 " kicks", cnt, 2 * kicks);
        }
        close(efd);
        if (proc_stop(pa_pid, 60000) != 0 || proc_stop(pb_pid, 60000) != 0)
                die("bench-dispatch under callgrind did not stop cleanly (see %s, %s)", loga, logb);
        dispatch_check(loga, kicks);
        dispatch_check(logb, kicks);
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
        target_add("P4", "instructions per dispatch, 4096 / 1 registrations", ratio, 1.05, false,
                   "the worker's hot path in bench-dispatch");
        sb_printf(j,
                  "%s{\"id\": \"P4\", \"kicks\": %" PRIu64 ", \"collected\": \"ioreq_io_cb inclusive\", "
                  "\"program\": \"bench-dispatch (libxenioreqd-worker without confinement: valgrind cannot run the "
                  "worker's seccomp filter)\", "
                  "\"one\": {\"registrations\": 1, \"instructions\": %.0f, \"per_dispatch\": %.2f}, "
                  "\"many\": {\"registrations\": 4096, \"ranges\": 256, \"instructions\": %.0f, \"per_dispatch\": %.2f}, "
                  "\"match_lookup_per_dispatch\": [%.2f, %.2f], \"ratio\": %.4f}",
                  j->len ? ",\n" : "", kicks, ia, pa, ib, pb, ma > 0 ? ma : -1, mb > 0 ? mb : -1, ratio);
        env_stop(&e);
}
