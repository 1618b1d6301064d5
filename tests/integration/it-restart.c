/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Crashes and restarts without a hung guest, under the stand-in service
 * manager (tests/xirq-supervise: the fd store, restarts) and load on two
 * guests:
 *   - g1's worker is killed (SIGKILL) again and again: a new one takes the
 *     same server over each time;
 *   - the parent is killed (SIGKILL) again and again, and restarted with a
 *     handover (SIGUSR2): the backends keep their connections and their
 *     registrations, the new parent's workers take the servers over;
 *   - throughout, every access of every vCPU completes (none hangs), every
 *     kick sent is signalled at least once (duplicates are counted), each
 *     guest has exactly one ioreq server (none leaked), and g2 is served
 *     while g1's workers die.
 * Then a stop (SIGTERM) still tears everything down.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "itlib.h"

#define BASE    UINT64_C(0xfe000000)
#define NOTIFY  (BASE + XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY)
#define WORKER_KILLS    8
#define PARENT_KILLS    4
#define LOAD_SECONDS    8.0

static It it;

typedef struct Load {
        uint32_t domid;
        unsigned vcpus;
        struct xsg_load_result res;
        int r;
        pthread_t t;
} Load;

static void *load_thread(void *arg) {
        Load *l = arg;
        struct xsg_load_opts o = {
                .domids = &l->domid, .nr_domids = 1, .vcpus = l->vcpus, .seconds = LOAD_SECONDS,
                .space = XSG_MMIO, .dir = XSG_WRITE, .addr = NOTIFY, .size = 4, .data = 0,
                .timeout_ms = 3 * IT_TIMEOUT_MS,
        };

        l->r = xsg_load(it.xsg, &o, &l->res);
        return NULL;
}

/* the number of ioreq servers of domid */
static int servers(uint32_t domid) {
        struct xsg_server_info s[XSG_MAX_SERVERS];

        return it_servers(&it, domid, s, XSG_MAX_SERVERS);
}

/* a daemon other than old, ready (its READY=1 relayed by the supervisor) */
static pid_t wait_new_daemon(pid_t old) {
        pid_t pid = 0;

        CHECK(it_wait_note(&it, "READY=1", IT_TIMEOUT_MS), "READY=1 from the daemon after pid %d", (int) old);
        for (int i = 0; i < 200 && ((pid = it_daemon_pid(&it)) == 0 || pid == old); i++)
                usleep(10000);
        CHECK(pid > 0 && pid != old, "a new daemon after %d", (int) old);
        return pid;
}

static void check_connection(int c, const char *who, uint32_t domid, unsigned regs) {
        struct xirq_query_reply q;

        CHECK_EQ(it_query(c, &q), 0, "QUERY on a connection kept across the restarts");
        CHECK_EQ(q.state, XIRQ_GUEST_SERVING, who);
        CHECK_EQ(q.domid, domid, who);
        CHECK_EQ(q.client_registrations, regs, who);
}

int main(int argc, char **argv) {
        Load l1, l2;
        uint32_t d1, d2;
        int c1, c2, e0, e1, e2;
        pid_t daemon, worker;
        uint64_t sent1, sent2, got1, got2;

        it_init(&it, "it-restart", argc, argv);
        it.supervised = true;
        it.worker_deaths_expected = true;
        it_write_global(&it, NULL);
        it_write_guest(&it, "g1", NULL);
        it_write_guest(&it, "g2", NULL);
        d1 = it_domain_create(&it, "g1", 2);
        d2 = it_domain_create(&it, "g2", 1);
        it_daemon_start(&it, NULL);
        daemon = it_daemon_pid(&it);

        c1 = it_connect(&it, "g1");
        c2 = it_connect(&it, "g2");
        CHECK_EQ(it_hello(c1, NULL), 0, "HELLO g1");
        CHECK_EQ(it_hello(c2, NULL), 0, "HELLO g2");
        e0 = it_eventfd();
        e1 = it_eventfd();
        e2 = it_eventfd();
        CHECK_EQ(it_virtio(c1, BASE, 0, false, e0), 0, "g1 queue 0");
        CHECK_EQ(it_virtio(c1, BASE, 1, false, e1), 0, "g1 queue 1");
        CHECK_EQ(it_virtio(c2, BASE, 0, false, e2), 0, "g2 queue 0");
        CHECK_EQ(servers(d1), 1, "g1's servers");
        worker = it_wait_worker(&it, d1, 0, IT_TIMEOUT_MS);

        l1 = (Load) { .domid = d1, .vcpus = 2 };
        l2 = (Load) { .domid = d2, .vcpus = 1 };
        CHECK(pthread_create(&l1.t, NULL, load_thread, &l1) == 0, "load thread");
        CHECK(pthread_create(&l2.t, NULL, load_thread, &l2) == 0, "load thread");

        /* g1's worker killed: each time a new one, the same server */
        for (int i = 0; i < WORKER_KILLS; i++) {
                usleep(150 * 1000);
                CHECK(kill(worker, SIGKILL) == 0, "kill worker %d", (int) worker);
                worker = it_wait_worker(&it, d1, worker, IT_TIMEOUT_MS);
                CHECK_EQ(servers(d1), 1, "g1's servers after a worker was killed");
        }
        it_log("%d workers of g1 killed and replaced", WORKER_KILLS);

        /* the parent killed: restarted with the fd store, connections kept */
        for (int i = 0; i < PARENT_KILLS; i++) {
                usleep(150 * 1000);
                CHECK(kill(daemon, SIGKILL) == 0, "kill the daemon %d", (int) daemon);
                daemon = wait_new_daemon(daemon);
                it_wait_worker(&it, d1, 0, IT_TIMEOUT_MS);
                CHECK_EQ(servers(d1), 1, "g1's servers after the daemon was killed");
                CHECK_EQ(servers(d2), 1, "g2's servers after the daemon was killed");
        }
        it_log("the daemon killed %d times and restarted", PARENT_KILLS);

        /* a restart with a handover (what systemctl restart does under systemd) */
        usleep(150 * 1000);
        CHECK(kill(it.daemon, SIGUSR1) == 0, "ask the supervisor for a restart");
        daemon = wait_new_daemon(daemon);
        worker = it_wait_worker(&it, d1, 0, IT_TIMEOUT_MS);
        /* the sockets handed over stay where backends look for them: a new backend can connect */
        {
                int fresh = it_connect(&it, "g2");

                CHECK_EQ(it_hello(fresh, NULL), 0, "a new connection to g2 after the handover");
                close(fresh);
        }

        pthread_join(l1.t, NULL);
        pthread_join(l2.t, NULL);
        CHECK(l1.r == 0 && l2.r == 0, "the loads ran: %d %d", l1.r, l2.r);
        CHECK_EQ(l1.res.errors, 0, "g1's accesses that failed or hung");
        CHECK_EQ(l2.res.errors, 0, "g2's accesses that failed or hung");
        sent1 = l1.res.count;
        sent2 = l2.res.count;
        got1 = it_efd_take(e0);
        got2 = it_efd_take(e2);
        it_log("g1: %llu kicks sent, %llu signalled (%lld again), the longest %.1f ms; g2: %llu sent, %llu signalled,"
               " the longest %.1f ms", (unsigned long long) sent1, (unsigned long long) got1,
               (long long) (got1 - sent1), l1.res.max_us / 1000.0, (unsigned long long) sent2,
               (unsigned long long) got2, l2.res.max_us / 1000.0);
        CHECK(sent1 > 0 && sent2 > 0, "kicks were sent");
        CHECK(got1 >= sent1, "g1: every kick signalled (%llu of %llu)", (unsigned long long) got1,
              (unsigned long long) sent1);
        CHECK(got2 >= sent2, "g2: every kick signalled (%llu of %llu)", (unsigned long long) got2,
              (unsigned long long) sent2);
        CHECK_EQ(it_efd_take(e1), 0, "g1 queue 1 (never kicked)");

        /* the backends' connections and registrations came through */
        check_connection(c1, "g1 after the restarts", d1, 2);
        check_connection(c2, "g2 after the restarts", d2, 1);
        CHECK_EQ(servers(d1), 1, "g1's servers at the end");
        CHECK_EQ(servers(d2), 1, "g2's servers at the end");
        CHECK_EQ(it_write(&it, d1, 1, XSG_MMIO, NOTIFY, 4, 1), 0, "a kick of queue 1 after everything");
        CHECK_EQ(it_efd_take(e1), 1, "queue 1's kick");

        /* a stop: servers destroyed, connections closed */
        it_daemon_signal(&it, SIGTERM);
        CHECK_EQ(it_daemon_wait(&it, IT_TIMEOUT_MS), 0, "the supervisor's exit status after SIGTERM");
        CHECK_EQ(servers(d1), 0, "g1's servers after the stop");
        CHECK_EQ(servers(d2), 0, "g2's servers after the stop");
        CHECK(it_closed(c1, IT_TIMEOUT_MS), "g1's connection closed by the stop");
        close(c1);
        close(c2);
        it_fini(&it);
        return 0;
}
