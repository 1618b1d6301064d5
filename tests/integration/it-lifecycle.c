/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guests and servers over time: a configured guest whose domain does not
 * exist yet (ESRCH), its domain appearing, the server created by the first
 * registration and destroyed with the last, ranges unmapped when their last
 * registration goes (by DEASSIGN or by a client disconnecting), the domain
 * going away (connections closed) and coming back with a new domid, and
 * the sd_notify messages along the way (READY, STATUS, WATCHDOG, STOPPING).
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itlib.h"

#define BASE    UINT64_C(0xfe000000)
#define NOTIFY  XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY

static It it;

/* QUERY on a fresh connection, until state and domid are as expected */
static void wait_state(uint32_t state, uint32_t domid, const char *what) {
        struct xirq_query_reply q = { 0 };

        for (int i = 0; i < IT_TIMEOUT_MS / 10; i++) {
                int c = it_connect(&it, "g1");

                CHECK_EQ(it_hello(c, NULL), 0, "HELLO");
                CHECK_EQ(it_query(c, &q), 0, "QUERY");
                close(c);
                if (q.state == state && q.domid == domid)
                        return;
                usleep(10000);
        }
        IT_FAIL("%s: expected state %u domid %u, still state %u domid %u after %d ms", what, state, domid, q.state,
                q.domid, IT_TIMEOUT_MS);
}

static void wait_servers(uint32_t domid, int n, const char *what) {
        struct xsg_server_info s[XSG_MAX_SERVERS];
        int got = -1;

        for (int i = 0; i < IT_TIMEOUT_MS / 10; i++) {
                got = it_servers(&it, domid, s, XSG_MAX_SERVERS);
                if (got == n)
                        return;
                usleep(10000);
        }
        IT_FAIL("%s: expected %d servers on domain %u, got %d", what, n, domid, got);
}

static bool domain_gone(void *arg) {
        struct xsg_server_info s[XSG_MAX_SERVERS];

        return xsg_servers(it.xsg, *(uint32_t *) arg, s, XSG_MAX_SERVERS) == -ESRCH;
}

int main(int argc, char **argv) {
        static const char *env[] = { "WATCHDOG_USEC=300000", NULL };
        struct xirq_query_reply q;
        struct xsg_server_info s[XSG_MAX_SERVERS];
        struct xsg_range ranges[8];
        uint32_t dom, dom2, domid;
        int c1, c2, e0, e1, e2;
        const char *note;

        it_init(&it, "it-lifecycle", argc, argv);
        it_write_global(&it, NULL);
        it_write_guest(&it, "g1", NULL);
        it_daemon_start(&it, env);

        /* READY came with a STATUS, and the watchdog is pinged at half its interval */
        CHECK(it_wait_note(&it, "WATCHDOG=1", 1000), "WATCHDOG=1 within 1 s with WatchdogSec=0.3s");
        CHECK(it_wait_note(&it, "WATCHDOG=1", 1000), "a second WATCHDOG=1");

        /* configured, not running */
        c1 = it_connect(&it, "g1");
        CHECK_EQ(it_hello(c1, &domid), 0, "HELLO");
        CHECK_EQ(domid, 0xffffffffu, "domid of an absent guest");
        e0 = it_eventfd();
        CHECK_EQ(it_virtio(c1, BASE, 0, false, e0), ESRCH, "registration while the guest does not run");

        /* the domain appears */
        dom = it_domain_create(&it, "g1", 2);
        wait_state(XIRQ_GUEST_RUNNING, dom, "after the domain was created");
        CHECK_EQ(it_servers(&it, dom, s, XSG_MAX_SERVERS), 0, "servers before a registration");

        /* first registration: the server */
        CHECK_EQ(it_virtio(c1, BASE, 0, false, e0), 0, "register queue 0");
        e1 = it_eventfd();
        CHECK_EQ(it_virtio(c1, BASE, 1, false, e1), 0, "register queue 1");
        CHECK_EQ(it_assign(c1, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE + 0x1000, 0, 0, e1), 0, "register a second range");
        CHECK_EQ(it_query(c1, &q), 0, "QUERY");
        CHECK_EQ(q.state, XIRQ_GUEST_SERVING, "state after the first registration");
        CHECK_EQ(q.nr_vcpus, 2, "vCPUs served");
        CHECK_EQ(it_servers(&it, dom, s, XSG_MAX_SERVERS), 1, "servers after registering");
        CHECK(s[0].enabled && s[0].bound_port[0] && s[0].bound_port[1], "enabled, both vCPUs bound");
        note = it_wait_note(&it, "STATUS=1 guests configured, 1 running, 1 serving, 3 registrations", IT_TIMEOUT_MS);
        CHECK(note, "a STATUS= with 1 serving and 3 registrations");

        /* STATUS= is coalesced: one per 0.2 s at most, however fast the registrations change */
        {
                struct timespec t0, t1;
                size_t sent, allowed;
                int e3 = it_eventfd();

                it_drain_notes(&it);
                clock_gettime(CLOCK_MONOTONIC, &t0);
                for (int i = 0; i < 20; i++) {
                        CHECK_EQ(it_virtio(c1, BASE, 3, false, e3), 0, "register queue 3");
                        CHECK_EQ(it_virtio(c1, BASE, 3, true, -1), 0, "DEASSIGN queue 3");
                }
                /* and the last one differs from the STATUS= sent before */
                CHECK_EQ(it_virtio(c1, BASE, 3, false, e3), 0, "register queue 3");
                clock_gettime(CLOCK_MONOTONIC, &t1);
                usleep(500000);
                sent = it_count_notes(&it, "STATUS=");
                allowed = 2 + (size_t) (((double) (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9) / 0.2);
                CHECK(sent >= 1 && sent <= allowed, "41 changes sent %zu STATUS= (1 to %zu expected)", sent, allowed);
                CHECK_EQ(it_virtio(c1, BASE, 3, true, -1), 0, "DEASSIGN queue 3");
                close(e3);
        }

        /* a second client on the same QUEUE_NOTIFY range */
        c2 = it_connect(&it, "g1");
        CHECK_EQ(it_hello(c2, NULL), 0, "HELLO");
        e2 = it_eventfd();
        CHECK_EQ(it_virtio(c2, BASE, 2, false, e2), 0, "register queue 2 from another connection");
        CHECK_EQ(it_write(&it, dom, 1, XSG_MMIO, BASE + NOTIFY, 4, 2), 0, "kick queue 2");
        CHECK_EQ(it_efd_take(e2), 1, "queue 2's kick");
        close(c2);
        /* its queue is gone, the range stays for the others */
        for (int i = 0; i < 100; i++) {
                CHECK_EQ(it_query(c1, &q), 0, "QUERY");
                if (q.registrations == 3)
                        break;
                usleep(10000);
        }
        CHECK_EQ(q.registrations, 3, "registrations after the other client left");
        CHECK_EQ(it_ranges(&it, dom, s[0].id, XSG_MMIO, ranges, 8), 2, "ranges after the other client left");
        CHECK_EQ(it_write(&it, dom, 1, XSG_MMIO, BASE + NOTIFY, 4, 2), 0, "kick queue 2 again");
        CHECK_EQ(it_efd_take(e2), 0, "no kick for a departed client's queue");

        /* DEASSIGN of the only registration of a range unmaps it */
        CHECK_EQ(it_deassign(c1, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE + 0x1000, 0, 0), 0, "DEASSIGN");
        CHECK_EQ(it_ranges(&it, dom, s[0].id, XSG_MMIO, ranges, 8), 1, "ranges after DEASSIGN");
        CHECK(ranges[0].start == BASE + NOTIFY && ranges[0].end == BASE + NOTIFY + 3, "the QUEUE_NOTIFY range is left");
        CHECK_EQ(it_virtio(c1, BASE, 1, true, -1), 0, "DEASSIGN queue 1");
        CHECK_EQ(it_servers(&it, dom, s, XSG_MAX_SERVERS), 1, "server kept while a registration is left");

        /* the last registration goes with its client: server destroyed */
        close(c1);
        wait_servers(dom, 0, "after the last client left");
        wait_state(XIRQ_GUEST_RUNNING, dom, "after the last registration went");

        /* again: a new server */
        c1 = it_connect(&it, "g1");
        CHECK_EQ(it_hello(c1, NULL), 0, "HELLO");
        CHECK_EQ(it_virtio(c1, BASE, 0, false, e0), 0, "register again");
        CHECK_EQ(it_write(&it, dom, 0, XSG_MMIO, BASE + NOTIFY, 4, 0), 0, "kick");
        CHECK_EQ(it_efd_take(e0), 1, "kick on the new server");
        CHECK_EQ(it_query(c1, &q), 0, "QUERY");
        CHECK_EQ(q.kicks, 1, "counters start again with a new server");

        /* the domain goes away: its connections are closed, the guest is ABSENT */
        it_domain_destroy(&it, dom);
        CHECK(it_closed(c1, IT_TIMEOUT_MS), "connection closed when the domain went away");
        close(c1);
        wait_state(XIRQ_GUEST_ABSENT, 0xffffffffu, "after the domain went away");

        /* and comes back (a reboot) with a new domid, paused as `xl create -p` leaves it */
        CHECK_EQ(xsg_domain_create2(it.xsg, "g1", 1, XSG_CREATE_PAUSED, &dom2), 0, "create the domain paused");
        CHECK(dom2 != dom, "a new domid after a reboot (%u, was %u)", dom2, dom);
        wait_state(XIRQ_GUEST_RUNNING, dom2, "after the reboot");
        c1 = it_connect(&it, "g1");
        CHECK_EQ(it_hello(c1, &domid), 0, "HELLO");
        CHECK_EQ(domid, dom2, "domid in HELLO after the reboot");
        CHECK_EQ(it_virtio(c1, BASE, 0, false, e0), 0, "register after the reboot");
        /* unpausing sends the boot INVALIDATE from vCPU 0 to every enabled server: answered */
        CHECK_EQ(xsg_domain_unpause(it.xsg, dom2), 1, "unpause: the boot INVALIDATE went to one server");
        CHECK_EQ(it_write(&it, dom2, 0, XSG_MMIO, BASE + NOTIFY, 4, 0), 0, "kick after the reboot");
        CHECK_EQ(it_efd_take(e0), 1, "kick after the reboot");
        CHECK_EQ(it_query(c1, &q), 0, "QUERY after the reboot");
        CHECK_EQ(q.other, 1, "the boot INVALIDATE counted as other");
        CHECK_EQ(q.kicks, 1, "kicks after the reboot");

        /* a crash (the domain stays, as with on_crash=preserve): served until it is destroyed */
        CHECK_EQ(xsg_domain_crash(it.xsg, dom2), 0, "crash the domain");
        usleep(100000);
        CHECK(it_daemon_alive(&it), "the daemon survives a guest crash");
        CHECK_EQ(it_query(c1, &q), 0, "QUERY after the crash");
        CHECK_EQ(q.domid, dom2, "the crashed domain is still the guest's");
        it_domain_destroy(&it, dom2);
        CHECK(it_closed(c1, IT_TIMEOUT_MS), "connection closed when the crashed domain was destroyed");
        close(c1);
        wait_state(XIRQ_GUEST_ABSENT, 0xffffffffu, "after the crashed domain was destroyed");
        /* its worker is killed: once it is gone, so is its mapping of the page, and the domain with it */
        {
                uint32_t d = dom2;

                CHECK(it_wait_for(domain_gone, &d, IT_TIMEOUT_MS), "the destroyed domain is gone (no zombie)");
        }
        c1 = it_connect(&it, "g1");

        /* SIGINT stops as SIGTERM does */
        it_daemon_signal(&it, SIGINT);
        CHECK(it_wait_note(&it, "STOPPING=1", IT_TIMEOUT_MS), "STOPPING=1 after SIGINT");
        CHECK_EQ(it_daemon_wait(&it, IT_TIMEOUT_MS), 0, "exit status after SIGINT");
        close(c1);
        it_fini(&it);
        return 0;
}
