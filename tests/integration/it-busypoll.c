/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Adaptive busy-poll (busy_poll_us): kicks are delivered exactly; a request
 * made READY without any event is found and completed only while a polling
 * window is open (an invalid one too, counted as such); a guest without
 * polling is served while another polls; the daemon's CPU time grows during
 * a window and stops growing once it has passed; SIGHUP turns polling off
 * and on for a running guest without disturbing it.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itlib.h"

#define BASE    UINT64_C(0xfe000000)
#define NOTIFY  XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY
#define WINDOW  "busy_poll_us = 1000000\n"      /* 1 s */
#define PROBE   1u                              /* the vCPU slot used for requests without an event */

static It it;

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/* utime + stime of a process, in milliseconds */
static uint64_t cpu_ms(pid_t pid) {
        char path[64], buf[1024], *p;
        unsigned long long utime, stime;
        long tck = sysconf(_SC_CLK_TCK);
        FILE *f;
        size_t n;

        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        CHECK(f, "open %s: %m", path);
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* the command name may hold anything: the fields start after its closing parenthesis */
        p = strrchr(buf, ')');
        n = p ? (size_t) sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) : 0;
        CHECK(n == 2, "parse %s", path);
        CHECK(tck > 0, "clock ticks");
        return (utime + stime) * 1000u / (uint64_t) tck;
}

/* the daemon is its parent process and its workers: the same processes all through this test */
static uint64_t daemon_sum(uint64_t (*fn)(pid_t)) {
        pid_t pids[16];
        size_t n = it_workers(&it, pids, 16);
        uint64_t sum = fn(it.daemon);

        for (size_t i = 0; i < n && i < 16; i++)
                sum += fn(pids[i]);
        return sum;
}

static uint64_t daemon_cpu_ms(void) {
        return daemon_sum(cpu_ms);
}

/*
 * Milliseconds a process spent running or waiting to run (its CPU demand), from
 * /proc/PID/schedstat: a polling loop is runnable all the time, whether or not a loaded machine
 * gives it a CPU; a sleeping one is neither.
 */
static uint64_t demand_ms(pid_t pid) {
        char path[64];
        unsigned long long run_ns, wait_ns;
        FILE *f;
        int n;

        snprintf(path, sizeof path, "/proc/%d/schedstat", (int) pid);
        f = fopen(path, "re");
        CHECK(f, "open %s: %m", path);
        n = fscanf(f, "%llu %llu", &run_ns, &wait_ns);
        fclose(f);
        CHECK(n == 2, "parse %s", path);
        return (run_ns + wait_ns) / 1000000u;
}

static uint64_t daemon_demand_ms(void) {
        return daemon_sum(demand_ms);
}

/* CPU milliseconds the daemon used during the next ms milliseconds */
static uint64_t cpu_during(unsigned ms) {
        uint64_t c0 = daemon_cpu_ms();

        usleep(ms * 1000u);
        return daemon_cpu_ms() - c0;
}

static void reload(const char *what) {
        it_daemon_signal(&it, SIGHUP);
        if (!it_wait_note(&it, "RELOADING=1", IT_TIMEOUT_MS))
                IT_FAIL("%s: no RELOADING=1 after SIGHUP", what);
        if (!it_wait_note(&it, "READY=1", IT_TIMEOUT_MS))
                IT_FAIL("%s: no READY=1 after the reload", what);
}

/* The guest's worker applied the reloaded window (the reload ends before the worker has it). */
static void window_applied(const char *guest, unsigned us) {
        char line[128];

        snprintf(line, sizeof line, "Guest %s: busy polling window now %u us", guest, us);
        CHECK(it_wait_log(&it, line, IT_TIMEOUT_MS), "the worker logs \"%s\"", line);
}

static void kick(uint32_t domid, unsigned vcpu) {
        int r = it_write(&it, domid, vcpu, XSG_MMIO, BASE + NOTIFY, 4, 0);

        if (r < 0)
                IT_FAIL("kick from vCPU %u of domain %u: %s", vcpu, domid, strerror(-r));
}

/*
 * Write an invalid request (size 3) READY into the probe slot without any
 * event: only a daemon looking at the slots finds it.
 */
static void probe_put(uint32_t domid, unsigned server) {
        struct xsg_raw raw = {
                .state = STATE_IOREQ_READY, .type = IOREQ_TYPE_COPY, .dir = IOREQ_WRITE,
                .addr = BASE + NOTIFY, .size = 3, .count = 1,
        };

        CHECK_EQ(xsg_inject_slot(it.xsg, domid, server, PROBE, &raw, -1), 0, "request without an event in the probe slot");
}

static void probe_clear(uint32_t domid, unsigned server) {
        struct xsg_raw raw = { .state = STATE_IOREQ_NONE };

        CHECK_EQ(xsg_inject_slot(it.xsg, domid, server, PROBE, &raw, -1), 0, "probe slot back to NONE");
}

/* the state of the probe slot once it is answered, or as it is after timeout_ms */
static unsigned probe_wait(uint32_t domid, unsigned server, int timeout_ms) {
        uint64_t deadline = now_ms() + (uint64_t) timeout_ms;
        ioreq_t slot;

        for (;;) {
                CHECK_EQ(xsg_slot_peek(it.xsg, domid, server, PROBE, &slot), 0, "peek the probe slot");
                if ((slot.state != STATE_IOREQ_READY && slot.state != STATE_IOREQ_INPROCESS) || now_ms() >= deadline)
                        return slot.state;
                usleep(1000);
        }
}

static unsigned server_of(int fd, struct xirq_query_reply *q) {
        CHECK_EQ(it_query(fd, q), 0, "QUERY");
        CHECK_EQ(q->state, XIRQ_GUEST_SERVING, "guest state");
        return q->server_id;
}

int main(int argc, char **argv) {
        struct xirq_query_reply q;
        uint32_t dp, dn;
        unsigned sp, sn;
        int cp, cn, ep, en;
        uint64_t cpu, t0, invalid;

        it_init(&it, "it-busypoll", argc, argv);
        it_write_global(&it, NULL);
        it_write_guest(&it, "poll", WINDOW);
        it_write_guest(&it, "plain", NULL);
        dp = it_domain_create(&it, "poll", 2);
        dn = it_domain_create(&it, "plain", 2);
        it_daemon_start(&it, NULL);

        cp = it_connect(&it, "poll");
        CHECK_EQ(it_hello(cp, NULL), 0, "HELLO poll");
        ep = it_eventfd();
        CHECK_EQ(it_virtio(cp, BASE, 0, false, ep), 0, "register on poll");
        cn = it_connect(&it, "plain");
        CHECK_EQ(it_hello(cn, NULL), 0, "HELLO plain");
        en = it_eventfd();
        CHECK_EQ(it_virtio(cn, BASE, 0, false, en), 0, "register on plain");
        sp = server_of(cp, &q);
        sn = server_of(cn, &q);

        /* no request yet, so nobody polls: the daemon sleeps */
        cpu = cpu_during(300);
        CHECK(cpu <= 40, "the daemon used %llu ms of CPU in 300 ms before any request", (unsigned long long) cpu);

        /* kicks from both vCPUs while polling: each delivered exactly once */
        for (int i = 0; i < 200; i++)
                kick(dp, (unsigned) i % 2);
        CHECK_EQ(it_efd_take(ep), 200, "kicks delivered on the polling guest");
        CHECK_EQ(it_query(cp, &q), 0, "QUERY poll");
        CHECK_EQ(q.kicks, 200, "kicks counted on the polling guest");
        CHECK_EQ(q.invalid, 0, "invalid requests on the polling guest");

        /* within the window: a request without an event is found, validated and completed */
        kick(dp, 0);
        probe_put(dp, sp);
        CHECK_EQ(probe_wait(dp, sp, 500), STATE_IORESP_READY, "request found by polling: probe slot state");
        CHECK_EQ(it_query(cp, &q), 0, "QUERY poll");
        CHECK_EQ(q.invalid, 1, "the invalid request found by polling is counted");
        CHECK_EQ(q.kicks, 201, "kicks after the probe");
        probe_clear(dp, sp);

        /* the same without polling: nobody looks at the slot */
        kick(dn, 0);
        probe_put(dn, sn);
        CHECK_EQ(probe_wait(dn, sn, 300), STATE_IOREQ_READY, "request without an event on the plain guest: probe slot state");
        probe_clear(dn, sn);
        CHECK_EQ(it_efd_take(en), 1, "the plain guest's kick");

        /* the plain guest is served while the other polls (kept polling by a kick now and then) */
        t0 = now_ms();
        for (int i = 0; i < 500; i++) {
                if (i % 100 == 0)
                        kick(dp, 0);
                kick(dn, 0);
        }
        CHECK_EQ(it_efd_take(en), 500, "kicks of the plain guest while the other polls");
        CHECK_EQ(it_efd_take(ep), 6, "kicks of the polling guest meanwhile");
        probe_put(dp, sp);
        CHECK_EQ(probe_wait(dp, sp, 500), STATE_IORESP_READY, "the polling guest still polled (probe slot state)");
        probe_clear(dp, sp);
        it_log("500 kicks of the plain guest in %llu ms while the other polled",
               (unsigned long long) (now_ms() - t0));

        /*
         * The daemon polls all through a window: it is running or waiting for a
         * CPU the whole time (it burns a whole CPU when it gets one) ...
         */
        kick(dp, 0);
        cpu = daemon_demand_ms();
        usleep(600 * 1000);
        cpu = daemon_demand_ms() - cpu;
        CHECK(cpu >= 300, "the daemon was running or runnable only %llu ms in 600 ms of a polling window",
              (unsigned long long) cpu);
        /* ... and none once it has passed without a request */
        usleep(1000 * 1000);
        cpu = cpu_during(500);
        CHECK(cpu <= 30, "the daemon used %llu ms of CPU in 500 ms after its window", (unsigned long long) cpu);
        probe_put(dp, sp);
        CHECK_EQ(probe_wait(dp, sp, 300), STATE_IOREQ_READY, "after the window: probe slot state");
        probe_clear(dp, sp);
        CHECK_EQ(it_query(cp, &q), 0, "QUERY poll");
        invalid = q.invalid;
        CHECK_EQ(invalid, 2, "invalid requests found by polling");

        /* SIGHUP: polling off for the running guest, in the middle of a window */
        kick(dp, 0);
        it_write_guest(&it, "poll", "busy_poll_us = 0\n");
        reload("polling off");
        window_applied("poll", 0);
        cpu = cpu_during(300);
        CHECK(cpu <= 40, "the daemon used %llu ms of CPU in 300 ms after polling was turned off", (unsigned long long) cpu);
        kick(dp, 0);
        probe_put(dp, sp);
        CHECK_EQ(probe_wait(dp, sp, 300), STATE_IOREQ_READY, "polling off: probe slot state");
        probe_clear(dp, sp);
        CHECK_EQ(it_efd_take(ep), 3, "kicks of the guest whose polling was turned off");
        CHECK_EQ(server_of(cp, &q), sp, "the same server after the reload");
        CHECK_EQ(q.registrations, 1, "registrations after the reload");
        CHECK_EQ(q.invalid, invalid, "invalid requests after the reload");

        /* ... and on for the other one */
        it_write_guest(&it, "plain", WINDOW);
        reload("polling on");
        window_applied("plain", 1000000);
        kick(dn, 0);
        probe_put(dn, sn);
        CHECK_EQ(probe_wait(dn, sn, 500), STATE_IORESP_READY, "polling turned on: probe slot state");
        probe_clear(dn, sn);
        CHECK_EQ(it_efd_take(en), 1, "kick of the guest whose polling was turned on");
        CHECK_EQ(server_of(cn, &q), sn, "the same server after the reload");
        CHECK_EQ(q.invalid, 1, "the invalid request found by polling on the other guest");

        it_daemon_signal(&it, SIGTERM);
        CHECK_EQ(it_daemon_wait(&it, IT_TIMEOUT_MS), 0, "exit status after SIGTERM");
        close(cp);
        close(cn);
        close(ep);
        close(en);
        it_fini(&it);
        return 0;
}
