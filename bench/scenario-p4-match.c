/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scenario-p4-match.c - one scenario of xirq-bench (xirq-bench.h): P4 match cost: 1 vs 4096 registrations, instructions per dispatch (callgrind).
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

void scenario_p4(void) {
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
