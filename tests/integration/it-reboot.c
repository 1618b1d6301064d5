/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A guest that reboots faster than its old worker is reaped: the domain is
 * destroyed and created again while the worker of the old domain, killed,
 * has not been waited for yet.  A registration for the new domain made in
 * that window is answered (by the worker started for the new domain once
 * the old one is gone) and served, whether the old worker was serving or
 * tearing its server down when the domain went.
 *
 * The window is held open: this test ptrace-attaches to the old worker, so
 * that its end is reported to this process first and the daemon cannot reap
 * it until the test has.  Where ptrace is not allowed the sequence still
 * runs, with the window as short as it happens to be.
 */
#define _GNU_SOURCE 1
#include <endian.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itlib.h"

#define BASE    UINT64_C(0xfe000000)
#define NOTIFY  (BASE + XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY)

static It it;

/* A connection that has seen the guest's domain domid (the daemon learns of it through xenstore). */
static int connect_running(uint32_t domid) {
        uint32_t d = UINT32_MAX;

        for (int i = 0; i < IT_TIMEOUT_MS / 5; i++) {
                int c = it_connect(&it, "g1");

                CHECK_EQ(it_hello(c, &d), 0, "HELLO");
                if (d == domid)
                        return c;
                close(c);
                usleep(5 * 1000);
        }
        IT_FAIL("HELLO never reported domain %u (last %u)", domid, d);
}

/* Attach to the worker: its end is ours to collect before the daemon sees it.  false if not allowed. */
static bool hold(pid_t worker) {
        if (ptrace(PTRACE_SEIZE, worker, NULL, NULL) < 0) {
                it_log("cannot hold worker %d (%m): the window is not held open", (int) worker);
                return false;
        }
        return true;
}

/* Collect the killed worker's end (letting through any stop before it), so that the daemon can reap it. */
static void release(pid_t worker) {
        int st;

        for (;;) {
                CHECK(waitpid(worker, &st, __WALL) == worker, "waiting for the held worker %d: %m", (int) worker);
                if (WIFEXITED(st) || WIFSIGNALED(st))
                        return;
                (void) ptrace(PTRACE_CONT, worker, NULL, (void *) (long) (WIFSTOPPED(st) ? WSTOPSIG(st) : 0));
        }
}

/*
 * One reboot: the guest serves queue 0 of domain *dom; stop (if set) stops its worker and removes the
 * registration first, so that the worker is tearing its server down when the domain goes.  Then the
 * domain is replaced by a new one, and queue 0 registered for it while the old worker is held.
 */
static void reboot(uint32_t *dom, bool stop, uint32_t seq) {
        struct xirq_virtio_mmio v = {
                .hdr = { .type = htole16(XIRQ_MSG_VIRTIO_MMIO), .seq = htole32(seq) },
                .base = htole64(BASE),
        };
        struct xirq_virtio_mmio d = v;
        int c1, c2, e1 = it_eventfd(), e2 = it_eventfd();
        pid_t worker;
        bool held;

        c1 = connect_running(*dom);
        CHECK_EQ(it_virtio(c1, BASE, 0, false, e1), 0, "queue 0 of the old domain");
        worker = it_worker_of(&it, *dom);
        CHECK(worker > 0, "the old domain's worker");
        if (stop) {
                /* its answer to the teardown never comes before the domain goes */
                CHECK(kill(worker, SIGSTOP) == 0, "stopping the worker: %m");
                d.hdr.seq = htole32(seq + 1);
                d.vflags = htole16(XIRQ_VIRTIO_DEASSIGN);
                CHECK_EQ(it_send(c1, &d, sizeof d, NULL, 0), 0, "removing the last registration");
                usleep(50 * 1000);
        }
        held = hold(worker);

        it_domain_destroy(&it, *dom);
        *dom = it_domain_create(&it, "g1", 1);
        CHECK(it_closed(c1, IT_TIMEOUT_MS), "the old domain's connection is closed");
        close(c1);
        c2 = connect_running(*dom);
        CHECK_EQ(it_send(c2, &v, sizeof v, &e2, 1), 0, "sending VIRTIO_MMIO for the new domain");
        if (held) {
                /* the request reaches the daemon while the old worker is not reaped */
                usleep(100 * 1000);
                release(worker);
        }
        CHECK_EQ(it_reply_error(c2, XIRQ_MSG_VIRTIO_MMIO, seq), 0, "queue 0 of the new domain (answered)");
        CHECK(it_wait_worker(&it, *dom, 0, IT_TIMEOUT_MS) > 0, "the new domain's worker");
        CHECK_EQ(it_write(&it, *dom, 0, XSG_MMIO, NOTIFY, 4, 0), 0, "a kick of queue 0 of the new domain");
        CHECK_EQ(it_efd_take(e2), 1, "reached its eventfd");
        close(c2);
        close(e1);
        close(e2);
}

int main(int argc, char **argv) {
        uint32_t dom;

        it_init(&it, "it-reboot", argc, argv);
        it_write_global(&it, NULL);
        it_write_guest(&it, "g1", NULL);
        dom = it_domain_create(&it, "g1", 1);
        it_daemon_start(&it, NULL);

        reboot(&dom, false, 1000);
        reboot(&dom, true, 1010);

        CHECK(it_daemon_alive(&it), "the daemon is alive");
        it_fini(&it);
        return 0;
}
