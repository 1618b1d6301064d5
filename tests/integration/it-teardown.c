/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A worker tearing its server down (the last registration removed) that
 * keeps dying: a registration made meanwhile waits for the next worker; once
 * the teardown is given up ("could not be torn down"), that registration
 * still gets its worker, its answer and its kicks.
 *
 * The teardown never gets done: the first worker is stopped before it is
 * told to tear down, and every spare worker is stopped before it can be
 * handed out as the next one (the daemon hands out the oldest spare), so
 * that each worker is killed before it has read its INIT.
 */
#define _GNU_SOURCE 1
#include <endian.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "itlib.h"

#define BASE            UINT64_C(0xfe000000)
#define NOTIFY          (BASE + XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY)
#define MAX_KILLS       16      /* more than the guest's quick deaths in a row before it gives up */

static It it;

static int connect_hello(void) {
        int c = it_connect(&it, "g1");

        CHECK_EQ(it_hello(c, NULL), 0, "HELLO");
        return c;
}

/* The guest's registrations, as QUERY on c reports them (the answer also means all before it is done). */
static uint32_t registrations(int c) {
        struct xirq_query_reply q;

        CHECK_EQ(it_query(c, &q), 0, "QUERY");
        return le32toh(q.registrations);
}

static void wait_registrations(int c, uint32_t n) {
        for (int waited = 0; registrations(c) != n; waited += 5) {
                CHECK(waited < IT_TIMEOUT_MS, "the guest has %u registrations", n);
                usleep(5 * 1000);
        }
}

static bool has_spare(void *arg) {
        pid_t not = *(pid_t *) arg, buf[16];
        size_t n = it_spares(&it, buf, 16);

        for (size_t i = 0; i < n && i < 16; i++)
                if (buf[i] != not)
                        return true;
        return false;
}

/* Every spare stopped: the next worker handed out reads nothing until the test lets it. */
static void stop_spares(pid_t worker) {
        pid_t buf[16];
        size_t n;

        CHECK(it_wait_for(has_spare, &worker, IT_TIMEOUT_MS), "a spare worker besides %d", (int) worker);
        n = it_spares(&it, buf, 16);
        for (size_t i = 0; i < n && i < 16; i++)
                (void) kill(buf[i], SIGSTOP);
}

/* The oldest spare besides worker: the one the daemon hands out next (they are listed oldest first). */
static pid_t next_spare(pid_t worker) {
        pid_t buf[16];
        size_t n = it_spares(&it, buf, 16);

        for (size_t i = 0; i < n && i < 16; i++)
                if (buf[i] != worker)
                        return buf[i];
        IT_FAIL("no spare worker besides %d", (int) worker);
}

static void kill_reaped(pid_t pid) {
        CHECK(kill(pid, SIGKILL) == 0, "killing worker %d: %m", (int) pid);
        for (int waited = 0; kill(pid, 0) == 0 || errno != ESRCH; waited += 1) {
                CHECK(waited < IT_TIMEOUT_MS, "worker %d reaped", (int) pid);
                usleep(1000);
        }
}

int main(int argc, char **argv) {
        struct xirq_virtio_mmio v = {
                .hdr = { .type = htole16(XIRQ_MSG_VIRTIO_MMIO), .seq = htole32(1000) },
                .base = htole64(BASE),
        };
        struct xirq_virtio_mmio d = v;
        int c1, c2, c3, e1 = it_eventfd(), e2 = it_eventfd();
        pid_t worker, all[64];
        uint32_t dom;
        unsigned kills = 0;
        size_t n;

        it_init(&it, "it-teardown", argc, argv);
        it_write_global(&it, NULL);
        it_write_guest(&it, "g1", NULL);
        dom = it_domain_create(&it, "g1", 1);
        it_daemon_start(&it, NULL);

        c1 = connect_hello();
        c2 = connect_hello();
        c3 = connect_hello();
        CHECK_EQ(it_virtio(c1, BASE, 0, false, e1), 0, "queue 0");
        worker = it_worker_of(&it, dom);
        CHECK(worker > 0, "the guest's worker");

        /* the last registration removed: the worker, stopped, is told to tear its server down */
        CHECK(kill(worker, SIGSTOP) == 0, "stopping the worker: %m");
        d.hdr.seq = htole32(1001);
        d.vflags = htole16(XIRQ_VIRTIO_DEASSIGN);
        CHECK_EQ(it_send(c1, &d, sizeof d, NULL, 0), 0, "removing the last registration");
        wait_registrations(c3, 0);
        /* a registration while it stops: it waits for the next worker */
        CHECK_EQ(it_send(c2, &v, sizeof v, &e2, 1), 0, "queue 0 again, from another connection");
        wait_registrations(c3, 1);

        /* every worker that is to tear the server down is killed before it reads a thing, until it is given up */
        while (!it_log_contains(&it, "could not be torn down")) {
                pid_t next;

                CHECK(kills < MAX_KILLS, "the teardown given up after %u worker deaths", kills);
                stop_spares(worker);
                next = next_spare(worker);
                kill_reaped(worker);
                kills++;
                worker = next;
                /* the daemon is done with the death once it answers */
                CHECK_EQ(registrations(c3), 1, "the waiting registration kept");
        }
        it_log("teardown given up after %u worker deaths", kills);
        CHECK_EQ(it_reply_error(c1, XIRQ_MSG_VIRTIO_MMIO, 1001), 0, "the removal answered");

        /* whatever the daemon handed out since goes on */
        n = it_workers(&it, all, 64);
        for (size_t i = 0; i < n && i < 64; i++)
                (void) kill(all[i], SIGCONT);
        CHECK_EQ(it_reply_error(c2, XIRQ_MSG_VIRTIO_MMIO, 1000), 0, "the registration made while it stopped");
        CHECK(it_wait_worker(&it, dom, 0, IT_TIMEOUT_MS) > 0, "a worker serving the guest");
        CHECK_EQ(it_write(&it, dom, 0, XSG_MMIO, NOTIFY, 4, 0), 0, "a kick of queue 0");
        CHECK_EQ(it_efd_take(e2), 1, "reached the waiting registration's eventfd");
        CHECK_EQ(it_efd_take(e1), 0, "not the removed one's");

        CHECK(it_daemon_alive(&it), "the daemon is alive");
        close(c1);
        close(c2);
        close(c3);
        close(e1);
        close(e2);
        it_fini(&it);
        return 0;
}
