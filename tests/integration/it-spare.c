/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Spare workers: once a guest's worker has started, the daemon keeps
 * IT_SPARES workers started ahead of need (children without a domain), hands
 * the oldest to the next guest that gets a worker (its pid becomes that
 * guest's worker), starts another in its place, replaces a spare that was
 * killed at the next start of a worker, and every guest is served throughout.
 * Spares run as SCHED_IDLE and the one handed out as SCHED_OTHER, with
 * CAP_SYS_NICE and, as the unit runs the daemon, without it and with
 * RLIMIT_NICE 20; a daemon that could not set one back (neither) says so at
 * its start and runs its spares at the normal priority, every guest served.
 * Runs as root with CAP_SYS_NICE; a missing precondition fails the test.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <linux/capability.h>

#include "itlib.h"

#define BASE    UINT64_C(0xfe000000)
#define NOTIFY  (BASE + XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY)
#define SPARES  IT_SPARES

static It it;

static size_t spares(pid_t *buf, size_t n) {
        return it_spares(&it, buf, n);
}

static bool spares_full(void *arg) {
        pid_t buf[8];

        (void) arg;
        return spares(buf, 8) == SPARES;
}

/* every spare runs with this scheduling policy (and there are IT_SPARES of them) */
static bool spares_policy(void *arg) {
        int policy = *(const int *) arg;
        pid_t buf[8];
        size_t n = spares(buf, 8);

        for (size_t i = 0; i < n; i++)
                if (sched_getscheduler(buf[i]) != policy)
                        return false;
        return n == SPARES;
}

/* this process has CAP_SYS_NICE in its effective set */
static bool have_sys_nice(void) {
        char line[256];
        bool yes = false;
        FILE *f = fopen("/proc/self/status", "re");

        while (f && fgets(line, sizeof line, f))
                if (strncmp(line, "CapEff:", 7) == 0)
                        yes = (strtoull(line + 7, NULL, 16) >> CAP_SYS_NICE) & 1;
        if (f)
                fclose(f);
        return yes;
}

static bool contains(const pid_t *set, size_t n, pid_t pid) {
        for (size_t i = 0; i < n; i++)
                if (set[i] == pid)
                        return true;
        return false;
}

/* a guest attached: HELLO, queue 0 on a new eventfd, one kick counted */
static int attach(const char *guest, uint32_t domid, int *ret_efd) {
        int c = it_connect(&it, guest), efd = it_eventfd();

        CHECK(it_hello(c, NULL) == 0, "HELLO %s", guest);
        CHECK(it_virtio(c, BASE, 0, false, efd) == 0, "%s queue 0", guest);
        CHECK(it_write(&it, domid, 0, XSG_MMIO, NOTIFY, 4, 0) == 0, "a kick of %s", guest);
        CHECK(it_efd_take(efd) == 1, "%s's first kick", guest);
        *ret_efd = efd;
        return c;
}

/*
 * A daemon of its own, the spares running as policy once g1 is attached (with
 * SCHED_OTHER: it said why at its start, else not a word of it); g2 gets the
 * oldest, which runs as SCHED_OTHER and serves g2's kick; then SIGTERM.
 */
static void daemon_round(uint32_t d1, uint32_t d2, int policy, const char *what) {
        pid_t before[8], w2;
        int c1, c2, e1, e2;
        size_t n;

        it_daemon_start(&it, NULL);
        if (policy == SCHED_OTHER)
                CHECK(it_wait_log(&it, "Spare workers run at the normal priority", IT_TIMEOUT_MS),
                      "the daemon says why its spares run at the normal priority (%s)", what);
        c1 = attach("g1", d1, &e1);
        CHECK(it_wait_for(spares_policy, &policy, IT_TIMEOUT_MS), "spares as policy %d (%s)", policy, what);
        n = spares(before, 8);
        c2 = attach("g2", d2, &e2);
        w2 = it_worker_of(&it, d2);
        CHECK(w2 > 0 && n > 0 && w2 == before[0], "g2's worker %d is the oldest spare (%d) (%s)", (int) w2,
              (int) before[0], what);
        CHECK_EQ(sched_getscheduler(w2), SCHED_OTHER, "g2's worker policy");
        CHECK_EQ(it_write(&it, d2, 0, XSG_MMIO, NOTIFY, 4, 0), 0, "a kick of g2");
        CHECK_EQ(it_efd_take(e2), 1, "g2's kick");
        if (policy != SCHED_OTHER)
                CHECK(!it_log_contains(&it, "normal priority"), "no word of the normal priority (%s)", what);
        it_daemon_signal(&it, SIGTERM);
        CHECK_EQ(it_daemon_wait(&it, IT_TIMEOUT_MS), 0, "exit status after SIGTERM");
        close(c1);
        close(c2);
        close(e1);
        close(e2);
}

int main(int argc, char **argv) {
        uint32_t d1, d2, d3;
        int c1, c2, c3, e1, e2, e3;
        pid_t before[8], after[8], w2, w3;
        size_t n;

        it_init(&it, "it-spare", argc, argv);
        CHECK(have_sys_nice(), "this test needs CAP_SYS_NICE: its first daemon sets spares back to SCHED_OTHER");
        it_write_global(&it, NULL);
        it_write_guest(&it, "g1", NULL);
        it_write_guest(&it, "g2", NULL);
        it_write_guest(&it, "g3", NULL);
        d1 = it_domain_create(&it, "g1", 1);
        d2 = it_domain_create(&it, "g2", 1);
        d3 = it_domain_create(&it, "g3", 1);
        it_daemon_start(&it, NULL);

        /* the first worker is started as before; the spares follow it */
        c1 = attach("g1", d1, &e1);
        CHECK(it_wait_for(spares_full, NULL, IT_TIMEOUT_MS), "%u spare workers after the first guest's", SPARES);
        n = spares(before, 8);
        CHECK_EQ(n, SPARES, "spare workers");
        CHECK(it_wait_for(spares_policy, &(int) { SCHED_IDLE }, IT_TIMEOUT_MS), "every spare runs as SCHED_IDLE");
        CHECK_EQ(sched_getscheduler(it_worker_of(&it, d1)), SCHED_OTHER, "g1's worker (started directly) policy");

        /* the next guest gets the oldest spare (listed first: started first), another one takes its place */
        c2 = attach("g2", d2, &e2);
        w2 = it_worker_of(&it, d2);
        CHECK(w2 > 0 && w2 == before[0], "g2's worker %d is the oldest spare (%d)", (int) w2, (int) before[0]);
        CHECK_EQ(sched_getscheduler(w2), SCHED_OTHER, "g2's worker (a spare handed out) policy");
        CHECK(it_wait_for(spares_full, NULL, IT_TIMEOUT_MS), "%u spare workers again", SPARES);
        n = spares(after, 8);
        CHECK_EQ(n, SPARES, "spare workers after g2");
        CHECK(contains(after, n, before[1]) && !contains(after, n, w2), "the other spare kept, a new one started");

        /* a spare killed: logged, replaced when the next worker starts, and nothing else changes */
        CHECK(kill(after[0], SIGKILL) == 0, "kill spare %d", (int) after[0]);
        for (int i = 0; i < 200 && spares(before, 8) != SPARES - 1; i++)
                usleep(10000);
        CHECK_EQ(spares(before, 8), SPARES - 1, "spare workers after one was killed");
        CHECK_EQ(it_write(&it, d1, 0, XSG_MMIO, NOTIFY, 4, 0), 0, "a kick of g1 after a spare was killed");
        CHECK_EQ(it_efd_take(e1), 1, "g1's kick");
        c3 = attach("g3", d3, &e3);
        w3 = it_worker_of(&it, d3);
        CHECK(w3 > 0 && w3 == before[0], "g3's worker %d is the remaining spare (%d)", (int) w3, (int) before[0]);
        CHECK(it_wait_for(spares_full, NULL, IT_TIMEOUT_MS), "%u spare workers after g3", SPARES);
        CHECK(it_log_contains(&it, "Spare worker"), "the killed spare is logged");

        /* every guest served by its own worker */
        CHECK_EQ(it_write(&it, d2, 0, XSG_MMIO, NOTIFY, 4, 0), 0, "a kick of g2");
        CHECK_EQ(it_efd_take(e2), 1, "g2's kick");
        CHECK_EQ(it_write(&it, d3, 0, XSG_MMIO, NOTIFY, 4, 0), 0, "a kick of g3");
        CHECK_EQ(it_efd_take(e3), 1, "g3's kick");
        CHECK(it_worker_of(&it, d1) > 0 && it_worker_of(&it, d1) != w2 && w2 != w3, "three workers");

        it_daemon_signal(&it, SIGTERM);
        CHECK_EQ(it_daemon_wait(&it, IT_TIMEOUT_MS), 0, "exit status after SIGTERM");
        close(c1);
        close(c2);
        close(c3);
        close(e1);
        close(e2);
        close(e3);

        /* as the unit runs it: no CAP_SYS_NICE after its exec, RLIMIT_NICE 20 (LimitNICE=+0) */
        CHECK(prctl(PR_CAPBSET_DROP, CAP_SYS_NICE, 0, 0, 0) == 0, "dropping CAP_SYS_NICE from the bounding set: %s",
              strerror(errno));
        if (setrlimit(RLIMIT_NICE, &(struct rlimit) { 20, 20 }) == 0)
                daemon_round(d1, d2, SCHED_IDLE, "LimitNICE=+0");
        else {
                /* raising the hard limit needs CAP_SYS_RESOURCE, which some containers withhold */
                CHECK(errno == EPERM, "RLIMIT_NICE 20: %s", strerror(errno));
                it_log("NOT CHECKED: the daemon as the unit runs it (RLIMIT_NICE 20 without CAP_SYS_NICE): this "
                       "test cannot raise RLIMIT_NICE (no CAP_SYS_RESOURCE)");
        }

        /* and neither: the daemon says so at its start, spares run at the normal priority, guests are served */
        CHECK(setrlimit(RLIMIT_NICE, &(struct rlimit) { 0, 0 }) == 0, "RLIMIT_NICE 0: %s", strerror(errno));
        daemon_round(d1, d2, SCHED_OTHER, "no LimitNICE");
        it_fini(&it);
        return 0;
}
