/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Protocol version 2 end to end, through the client library: irqfds (every
 * action and mode, as xensim's interrupt log records the injections: edge
 * raises and lowers, level waits for the resample eventfd, raise only
 * raises; N signals while the worker is stopped inject once; deassign stops
 * them; the guest's limit; fields out of range) and claims (reads answered
 * by the backend with its data masked to the access's size, writes seen by
 * it, an ioeventfd registration inside the claim keeps its kicks, accesses
 * elsewhere not forwarded, overlapping claims refused, the limit, the server
 * maps the claim and registrations as the one range Xen would merge them
 * into; an unanswered access completed at the deadline with all-ones and the
 * connection closed; a connection that goes with an access pending has it
 * completed at once; a worker killed with an access pending: the next one
 * forwards it again and the claim is still served).  Also: Xen's 256-range
 * limit counts merged ranges, a kick on a full eventfd counter is told in
 * the log, an ASSIGN racing the domain's destruction gets ESRCH, version 1
 * connections cannot use version 2 requests.
 */
#define _GNU_SOURCE 1
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itlib.h"
#include "xenioreqd-client.h"

#define BASE            UINT64_C(0xfe000000)
#define NOTIFY          (BASE + XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY)
#define OTHER           UINT64_C(0xfe001000)
#define ANSWER          UINT64_C(0x1122334455660000)
#define MAX_IRQFDS      4
#define DEADLINE_MS     300

static It it;
static uint32_t dom;

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/* ---- the interrupt log ---- */

static unsigned irq_seen;

static unsigned irq_count(void) {
        struct xsg_irq e;
        unsigned n = 0;

        while (xsg_irq_get(it.xsg, dom, n, &e) == 0)
                n++;
        return n;
}

/* The next entry of the log is (kind, a, b), within the timeout. */
static void irq_expect(enum xsg_irq_kind kind, uint64_t a, uint64_t b, const char *what) {
        struct xsg_irq e;
        uint64_t end = now_ms() + IT_TIMEOUT_MS;

        while (xsg_irq_get(it.xsg, dom, irq_seen, &e) != 0) {
                CHECK(now_ms() < end, "%s: no injection recorded", what);
                usleep(1000);
        }
        irq_seen++;
        CHECK(e.kind == kind && e.a == a && e.b == b, "%s: recorded kind %d a 0x%llx b %llu, expected %d 0x%llx %llu",
              what, (int) e.kind, (unsigned long long) e.a, (unsigned long long) e.b, (int) kind,
              (unsigned long long) a, (unsigned long long) b);
}

/* Nothing more is injected for a while. */
static void irq_none(const char *what) {
        usleep(200 * 1000);
        CHECK_EQ(irq_count(), irq_seen, what);
}

static void signal_efd(int efd, uint64_t n) {
        CHECK(write(efd, &n, sizeof n) == sizeof n, "writing an eventfd: %m");
}

/* ---- a backend serving a claim in its own thread ---- */

typedef struct Backend {
        xenioreqd_claim *cl;
        pthread_t thread;
        atomic_bool stop, mute;
        atomic_uint reads, writes, taken;
        atomic_uint_fast64_t last_addr, last_data;
        xenioreqd_access held[8];       /* accesses taken while mute */
        atomic_uint n_held;
        atomic_bool release;            /* answer what is held, then serve again */
} Backend;

static void *backend_main(void *arg) {
        Backend *b = arg;

        while (!atomic_load(&b->stop)) {
                struct pollfd p = { .fd = xenioreqd_claim_fd(b->cl), .events = POLLIN };
                xenioreqd_access a;
                int r;

                (void) poll(&p, 1, 20);
                if (atomic_load(&b->release)) {
                        for (unsigned i = 0; i < atomic_load(&b->n_held); i++)
                                (void) xenioreqd_claim_answer(b->cl, b->held[i].seq, ANSWER | b->held[i].offset);
                        atomic_store(&b->n_held, 0);
                        atomic_store(&b->mute, false);
                        atomic_store(&b->release, false);
                }
                while ((r = xenioreqd_claim_next(b->cl, &a)) == 1) {
                        atomic_fetch_add(&b->taken, 1);
                        if (atomic_load(&b->mute)) {
                                unsigned k = atomic_load(&b->n_held);

                                if (k < 8) {
                                        b->held[k] = a;
                                        atomic_store(&b->n_held, k + 1);
                                }
                                continue;
                        }
                        if (a.dir == XIRQ_ACCESS_WRITE) {
                                atomic_store(&b->last_addr, a.addr);
                                atomic_store(&b->last_data, a.data);
                                atomic_fetch_add(&b->writes, 1);
                                (void) xenioreqd_claim_answer(b->cl, a.seq, 0);
                        } else {
                                atomic_fetch_add(&b->reads, 1);
                                (void) xenioreqd_claim_answer(b->cl, a.seq, ANSWER | a.offset);
                        }
                }
                if (r < 0)
                        break;
        }
        return NULL;
}

static void backend_start(Backend *b, xenioreqd_claim *cl) {
        memset(b, 0, sizeof(*b));
        b->cl = cl;
        CHECK(pthread_create(&b->thread, NULL, backend_main, b) == 0, "starting the backend thread");
}

static void backend_stop(Backend *b) {
        atomic_store(&b->stop, true);
        pthread_join(b->thread, NULL);
}

/* A guest read in its own thread (the vCPU blocks until the access is answered). */
typedef struct Reader {
        pthread_t thread;
        unsigned vcpu;
        uint64_t addr, value;
        int error;
        uint64_t ms;
} Reader;

static void *reader_main(void *arg) {
        Reader *r = arg;
        uint64_t t0 = now_ms();

        r->error = it_read(&it, dom, r->vcpu, XSG_MMIO, r->addr, 4, &r->value);
        r->ms = now_ms() - t0;
        return NULL;
}

static void reader_start(Reader *r, unsigned vcpu, uint64_t addr) {
        memset(r, 0, sizeof(*r));
        r->vcpu = vcpu;
        r->addr = addr;
        CHECK(pthread_create(&r->thread, NULL, reader_main, r) == 0, "starting a reader");
}

static void wait_taken(Backend *b, unsigned n) {
        uint64_t end = now_ms() + IT_TIMEOUT_MS;

        while (atomic_load(&b->taken) < n) {
                CHECK(now_ms() < end, "the backend never got the access");
                usleep(1000);
        }
}

static uint64_t read32(uint64_t addr) {
        uint64_t v = 0;

        CHECK_EQ(it_read(&it, dom, 0, XSG_MMIO, addr, 4, &v), 0, "a guest read");
        return v;
}

static xenioreqd_client *lib_connect(void) {
        char path[512];
        xenioreqd_client *c = NULL;

        it_socket_path(&it, "g1", path, sizeof path);
        CHECK_EQ(xenioreqd_connect(path, &c), 0, "connecting with the client library");
        return c;
}

/* ---- irqfds ---- */

static void test_irqfds(xenioreqd_client *c) {
        xenioreqd_irqfd_spec line = { .action = XIRQ_IRQ_LINE, .mode = XIRQ_IRQFD_EDGE, .irq = 40 };
        xenioreqd_irqfd_spec isa = { .action = XIRQ_IRQ_ISA, .mode = XIRQ_IRQFD_LEVEL, .irq = 7 };
        xenioreqd_irqfd_spec intx = { .action = XIRQ_IRQ_INTX, .mode = XIRQ_IRQFD_RAISE, .bus = 0, .device = 3,
                                      .pin = 1 };
        xenioreqd_irqfd_spec msi = { .action = XIRQ_IRQ_MSI, .mode = XIRQ_IRQFD_EDGE, .msi_addr = 0xfee00000,
                                     .msi_data = 0x4041 };
        xenioreqd_irqfd_spec bad = { .action = XIRQ_IRQ_ISA, .mode = XIRQ_IRQFD_EDGE, .irq = 16 };
        xenioreqd_irqfd_spec port = { .action = XIRQ_IRQ_EVTCHN, .mode = XIRQ_IRQFD_EDGE, .irq = 4000 };
        int e_line = it_eventfd(), e_isa = it_eventfd(), e_res = it_eventfd(), e_intx = it_eventfd();
        int e_msi = it_eventfd(), e_more = it_eventfd();
        uint32_t id_line, id_isa, id_intx, id_msi, id_more;
        uint64_t intx_a = 3u << 8 | 1u;
        pid_t worker;

        irq_seen = irq_count();
        CHECK_EQ(xenioreqd_irqfd_assign(c, &line, e_line, -1, &id_line), 0, "irqfd LINE EDGE");
        signal_efd(e_line, 1);
        irq_expect(XSG_IRQ_LEVEL, 40, 1, "edge: raised");
        irq_expect(XSG_IRQ_LEVEL, 40, 0, "edge: then lowered");
        irq_none("edge: one signal, one pulse");

        CHECK_EQ(xenioreqd_irqfd_assign(c, &isa, e_isa, e_res, &id_isa), 0, "irqfd ISA LEVEL");
        signal_efd(e_isa, 1);
        irq_expect(XSG_IRQ_ISA, 7, 1, "level: raised");
        irq_none("level: the line stays up until the resample eventfd");
        signal_efd(e_res, 1);
        irq_expect(XSG_IRQ_ISA, 7, 0, "level: lowered by the resample eventfd");

        CHECK_EQ(xenioreqd_irqfd_assign(c, &intx, e_intx, -1, &id_intx), 0, "irqfd INTX RAISE");
        signal_efd(e_intx, 1);
        irq_expect(XSG_IRQ_PCI_INTX, intx_a, 1, "raise only: raised");
        signal_efd(e_intx, 1);
        irq_expect(XSG_IRQ_PCI_INTX, intx_a, 1, "raise only: raised again, never lowered");
        irq_none("raise only: nothing lowers the line");

        /* the event channel action: the guest's own unbound port, notified */
        {
                xenioreqd_irqfd_spec ev = { .action = XIRQ_IRQ_EVTCHN, .mode = XIRQ_IRQFD_EDGE };
                struct xsg_evtchn_status st;
                uint32_t gport = 0, count = 0, id_ev;
                int e_ev = it_eventfd();
                pid_t w;

                CHECK_EQ(xsg_evtchn_alloc_unbound(it.xsg, dom, 0, &gport), 0, "the guest allocates a port for dom0");
                ev.irq = gport;
                CHECK_EQ(xenioreqd_irqfd_assign(c, &ev, e_ev, -1, &id_ev), 0, "irqfd EVTCHN on the guest's port");
                CHECK_EQ(xsg_evtchn_status(it.xsg, dom, gport, &st), 0, "the port's state");
                CHECK_EQ(st.state, XSG_EVTCHN_INTERDOMAIN, "the worker bound the guest's port");
                signal_efd(e_ev, 1);
                CHECK_EQ(xsg_evtchn_wait(it.xsg, dom, gport, IT_TIMEOUT_MS, &count), 0, "the guest gets the event");
                CHECK_EQ(count, 1, "one notification");
                w = it_worker_of(&it, dom);
                CHECK(kill(w, SIGSTOP) == 0, "stopping the worker: %m");
                for (int i = 0; i < 3; i++)
                        signal_efd(e_ev, 1);
                CHECK(kill(w, SIGCONT) == 0, "continuing the worker: %m");
                CHECK_EQ(xsg_evtchn_wait(it.xsg, dom, gport, IT_TIMEOUT_MS, &count), 0, "the guest gets it again");
                usleep(100 * 1000);
                CHECK_EQ(xsg_evtchn_status(it.xsg, dom, gport, &st), 0, "the port's state");
                CHECK_EQ(st.count, 2, "3 signals while the worker was stopped notified once");
                CHECK_EQ(xenioreqd_irqfd_deassign(c, id_ev), 0, "deassigning the EVTCHN irqfd");
                CHECK_EQ(xsg_evtchn_status(it.xsg, dom, gport, &st), 0, "the port's state");
                CHECK_EQ(st.state, XSG_EVTCHN_UNBOUND, "the worker unbound it: the guest's port is free for the next");
                CHECK_EQ(xsg_evtchn_close(it.xsg, dom, gport), 0, "the guest closes its port");
                close(e_ev);
        }

        CHECK_EQ(xenioreqd_irqfd_assign(c, &msi, e_msi, -1, &id_msi), 0, "irqfd MSI");
        signal_efd(e_msi, 1);
        irq_expect(XSG_IRQ_MSI, 0xfee00000, 0x4041, "MSI injected");

        /* signals while the worker does not run: one injection */
        worker = it_worker_of(&it, dom);
        CHECK(worker > 0, "the guest's worker");
        CHECK(kill(worker, SIGSTOP) == 0, "stopping the worker: %m");
        for (int i = 0; i < 5; i++)
                signal_efd(e_line, 1);
        CHECK(kill(worker, SIGCONT) == 0, "continuing the worker: %m");
        irq_expect(XSG_IRQ_LEVEL, 40, 1, "5 signals coalesced: raised");
        irq_expect(XSG_IRQ_LEVEL, 40, 0, "5 signals coalesced: lowered");
        irq_none("5 signals before the worker ran inject once");

        /* the guest's limit (4): three are assigned */
        CHECK_EQ(xenioreqd_irqfd_deassign(c, id_line), 0, "deassigning the LINE irqfd");
        signal_efd(e_line, 1);
        irq_none("no injection after deassign");
        CHECK_EQ(xenioreqd_irqfd_deassign(c, id_line), -ENOENT, "deassigning it twice");
        CHECK_EQ(xenioreqd_irqfd_assign(c, &line, e_more, -1, &id_more), 0, "a fourth irqfd");
        CHECK_EQ(xenioreqd_irqfd_assign(c, &line, e_line, -1, NULL), -ENOSPC, "a fifth: beyond max_irqfds");

        /* fields the protocol refuses, and an event channel the guest never allocated */
        CHECK_EQ(xenioreqd_irqfd_deassign(c, id_more), 0, "making room");
        CHECK_EQ(xenioreqd_irqfd_assign(c, &bad, e_line, -1, NULL), -EINVAL, "ISA IRQ 16");
        CHECK(xenioreqd_irqfd_assign(c, &port, e_line, -1, NULL) < 0, "an event channel port the guest never"
              " allocated is refused");
        CHECK(xenioreqd_connected(c), "the connection survives refused irqfds");
        CHECK(it_worker_of(&it, dom) == worker, "the worker survives them too");

        CHECK_EQ(xenioreqd_irqfd_deassign(c, id_isa), 0, "deassign ISA");
        CHECK_EQ(xenioreqd_irqfd_deassign(c, id_intx), 0, "deassign INTX");
        CHECK_EQ(xenioreqd_irqfd_deassign(c, id_msi), 0, "deassign MSI");
        close(e_line);
        close(e_isa);
        close(e_res);
        close(e_intx);
        close(e_msi);
        close(e_more);
}

/* ---- claims ---- */

static void test_claims(void) {
        xenioreqd_client *c = lib_connect(), *c2 = lib_connect(), *c3;
        xenioreqd_claim *cl = NULL, *cl2 = NULL, *cl3 = NULL;
        struct xsg_range ranges[8];
        Backend b, b3;
        Reader rd;
        uint64_t v, t0;
        int efd = it_eventfd(), n;
        pid_t worker, next;

        CHECK_EQ(xenioreqd_claim_range(c, XIRQ_SPACE_MMIO, BASE, 0x200, 5000, &cl), 0, "claiming the device window");
        backend_start(&b, cl);
        if (getenv("IT_DEBUG")) {
                struct xsg_server_info s[8];
                int ns = it_servers(&it, dom, s, 8);

                for (int i = 0; i < ns; i++) {
                        int nr = it_ranges(&it, dom, s[i].id, XSG_MMIO, ranges, 8);

                        it_log("server %u enabled %d ranges %d first 0x%llx-0x%llx", s[i].id, (int) s[i].enabled, nr,
                               nr > 0 ? (unsigned long long) ranges[0].start : 0ull,
                               nr > 0 ? (unsigned long long) ranges[0].end : 0ull);
                }
        }

        /* reads get the backend's data, masked to their size; writes reach it */
        CHECK_EQ(read32(BASE), (ANSWER | 0) & 0xffffffffu, "a read of offset 0");
        v = 0;
        CHECK_EQ(it_read(&it, dom, 1, XSG_MMIO, BASE + 0x11, 1, &v), 0, "a 1-byte read from vCPU 1");
        CHECK_EQ(v, 0x11, "the 1-byte read's value");
        CHECK_EQ(it_write(&it, dom, 0, XSG_MMIO, BASE + 0x70, 4, 0xf), 0, "a write to the status register");
        CHECK_EQ(atomic_load(&b.writes), 1, "the backend saw one write");
        CHECK_EQ(atomic_load(&b.last_addr), BASE + 0x70, "its address");
        CHECK_EQ(atomic_load(&b.last_data), 0xf, "its data");

        /* the queue's kick goes to its eventfd; another value of that register to the backend */
        CHECK_EQ(xenioreqd_virtio_mmio_assign(c, BASE, 0, efd), 0, "an ioeventfd inside the claim");
        CHECK_EQ(it_write(&it, dom, 0, XSG_MMIO, NOTIFY, 4, 0), 0, "kicking queue 0");
        CHECK_EQ(it_efd_take(efd), 1, "the kick signalled the eventfd");
        CHECK_EQ(atomic_load(&b.writes), 1, "and was not forwarded");
        CHECK_EQ(it_write(&it, dom, 0, XSG_MMIO, NOTIFY, 4, 5), 0, "a write of queue 5 (not registered)");
        CHECK_EQ(atomic_load(&b.writes), 2, "forwarded to the backend");
        CHECK_EQ(it_efd_take(efd), 0, "no kick for it");

        /* what the server maps: the claim, with the registration inside it, as one range */
        {
                struct xsg_server_info s[8];
                int ns = it_servers(&it, dom, s, 8);

                CHECK_EQ(ns, 1, "one server");
                n = it_ranges(&it, dom, s[0].id, XSG_MMIO, ranges, 8);
                CHECK_EQ(n, 1, "one MMIO range mapped");
                CHECK(ranges[0].start == BASE && ranges[0].end == BASE + 0x1ff, "the range is the claim's");
        }

        /* outside the claim: not forwarded; overlapping claims refused; the limit (2) */
        CHECK_EQ(read32(OTHER), 0xffffffffu, "a read outside any claim (not mapped: no device)");
        CHECK_EQ(atomic_load(&b.reads), 2, "not forwarded");
        CHECK_EQ(xenioreqd_claim_range(c2, XIRQ_SPACE_MMIO, BASE + 0x100, 0x200, 0, &cl2), -EEXIST,
                 "a claim overlapping another connection's");
        CHECK_EQ(xenioreqd_claim_range(c2, XIRQ_SPACE_MMIO, OTHER, 0x100, 0, &cl2), 0, "a claim beside it");
        CHECK_EQ(xenioreqd_claim_range(c2, XIRQ_SPACE_PIO, 0x100, 8, 0, &cl3), -ENOSPC, "a third: beyond max_claims");
        CHECK_EQ(xenioreqd_claim_range(c2, XIRQ_SPACE_MMIO, OTHER + 0x100, 0, 0, &cl3), -EINVAL, "a claim of 0 bytes");
        CHECK_EQ(xenioreqd_unclaim(cl2), 0, "unclaiming it");

        /* a worker killed while an access waits: the next one forwards it again */
        atomic_store(&b.mute, true);
        reader_start(&rd, 1, BASE + 0x8);
        wait_taken(&b, atomic_load(&b.reads) + atomic_load(&b.writes) + 1);
        worker = it_worker_of(&it, dom);
        it.worker_deaths_expected = true;
        CHECK(kill(worker, SIGKILL) == 0, "killing the worker: %m");
        next = it_wait_worker(&it, dom, worker, IT_TIMEOUT_MS);
        CHECK(next > 0, "a new worker");
        wait_taken(&b, atomic_load(&b.reads) + atomic_load(&b.writes) + 2);
        atomic_store(&b.release, true);
        pthread_join(rd.thread, NULL);
        CHECK_EQ(rd.error, 0, "the read across the worker's death completed");
        CHECK_EQ(rd.value, (ANSWER | 8) & 0xffffffffu, "with the backend's answer (forwarded again)");
        CHECK_EQ(read32(BASE + 0x4), (ANSWER | 4) & 0xffffffffu, "the claim is served by the new worker");

        backend_stop(&b);
        CHECK_EQ(xenioreqd_unclaim(cl), 0, "unclaiming the window");
        CHECK_EQ(read32(BASE + 0xc), 0xffffffffu, "a read there now: no device");
        xenioreqd_close(c);
        close(efd);

        /* an unanswered access: completed at the guest's deadline, the connection closed, the claim gone */
        c = lib_connect();
        CHECK_EQ(xenioreqd_claim_range(c, XIRQ_SPACE_MMIO, BASE, 0x200, 0, &cl), 0, "a claim, deadline by default");
        backend_start(&b, cl);
        atomic_store(&b.mute, true);
        t0 = now_ms();
        v = read32(BASE + 0xc);
        t0 = now_ms() - t0;
        it_log("unanswered read: 0x%llx after %llu ms (backend took %u)", (unsigned long long) v,
               (unsigned long long) t0, atomic_load(&b.taken));
        CHECK_EQ(v, 0xffffffffu, "an access not answered reads all-ones");
        CHECK(t0 >= DEADLINE_MS - 50 && t0 < DEADLINE_MS + 2000, "completed at its deadline (%llu ms)",
              (unsigned long long) t0);
        backend_stop(&b);
        CHECK(it_wait_log(&it, "did not answer an access", IT_TIMEOUT_MS), "the log tells");
        {
                xenioreqd_guest_info q;
                uint64_t end = now_ms() + IT_TIMEOUT_MS;
                int r;

                while ((r = xenioreqd_query(c, &q)) == 0 && now_ms() < end)
                        usleep(10 * 1000);
                CHECK(r < 0, "the connection that did not answer is closed");
        }
        CHECK_EQ(read32(BASE + 0xc), 0xffffffffu, "the claim went with it: no device there any more");
        xenioreqd_claim_free(cl);
        xenioreqd_close(c);

        /* a connection that goes with an access taken: the access is completed at once */
        c3 = lib_connect();
        CHECK_EQ(xenioreqd_claim_range(c3, XIRQ_SPACE_MMIO, BASE, 0x200, 10000, &cl3), 0, "a claim, deadline 10 s");
        backend_start(&b3, cl3);
        atomic_store(&b3.mute, true);
        reader_start(&rd, 0, BASE + 0x10);
        wait_taken(&b3, 1);
        backend_stop(&b3);
        xenioreqd_claim_free(cl3);
        xenioreqd_close(c3);
        pthread_join(rd.thread, NULL);
        CHECK_EQ(rd.error, 0, "the read completed");
        CHECK_EQ(rd.value, 0xffffffffu, "with all-ones");
        CHECK(rd.ms < 5000, "when the connection went, not at the deadline (%llu ms)", (unsigned long long) rd.ms);

        xenioreqd_close(c2);
}

/* ---- ranges as Xen counts them ---- */

static void test_range_limit(void) {
        xenioreqd_client *c = lib_connect();
        struct xsg_server_info s[8];
        struct xsg_range r[8];
        int efd = it_eventfd(), ok = 0, err = 0, n;

        /* 300 adjacent registrations: one range for Xen */
        for (unsigned i = 0; i < 300; i++)
                CHECK_EQ(xenioreqd_assign(c, XIRQ_SPACE_MMIO, 0xf0000000u + 4u * i, 4, XIRQ_MATCH_ANY, 0, 0, efd), 0,
                         "an adjacent registration");
        CHECK_EQ(it_servers(&it, dom, s, 8), 1, "one server");
        n = it_ranges(&it, dom, s[0].id, XSG_MMIO, r, 8);
        CHECK_EQ(n, 1, "300 adjacent registrations are one range");
        CHECK(r[0].start == 0xf0000000u && r[0].end == 0xf0000000u + 1200 - 1, "the merged range");
        /* apart from each other: 255 more fit, the 256th range is refused */
        for (unsigned i = 0; i < 300 && !err; i++) {
                int e = xenioreqd_assign(c, XIRQ_SPACE_MMIO, 0xf1000000u + 16u * i, 4, XIRQ_MATCH_ANY, 0, 0, efd);

                if (e == 0)
                        ok++;
                else
                        err = e;
        }
        CHECK_EQ(ok, 255, "ranges accepted beside the merged one");
        CHECK_EQ(err, -ENOSPC, "the 257th range");
        CHECK_EQ(it_write(&it, dom, 0, XSG_MMIO, 0xf1000000u + 16u * 254, 4, 1), 0, "a kick of the last one");
        CHECK_EQ(it_efd_take(efd), 1, "reached its eventfd");
        xenioreqd_close(c);
        close(efd);
}

/* ---- the rest of what the protocol page says ---- */

/* A connection that has seen guest's domain domid (the daemon learns of it through xenstore). */
static int connect_running(const char *guest, uint32_t domid) {
        uint64_t end = now_ms() + IT_TIMEOUT_MS;
        uint32_t d = UINT32_MAX;
        int c;

        for (;;) {
                c = it_connect(&it, guest);
                CHECK_EQ(it_hello(c, &d), 0, "HELLO");
                if (d == domid || now_ms() >= end)
                        break;
                close(c);
                usleep(5 * 1000);
        }
        CHECK_EQ(d, domid, "the guest's domid in HELLO");
        return c;
}

static void test_misc(void) {
        xenioreqd_client *c = lib_connect();
        uint64_t full = UINT64_C(0xfffffffffffffffe);
        struct xirq_irqfd m;
        int efd = it_eventfd(), raw, g2conn;
        uint32_t g2;

        /* a kick on a full eventfd counter: told */
        CHECK_EQ(xenioreqd_assign(c, XIRQ_SPACE_MMIO, 0xf2000000u, 4, XIRQ_MATCH_ANY, 0, 0, efd), 0, "a registration");
        signal_efd(efd, full);
        CHECK_EQ(it_write(&it, dom, 0, XSG_MMIO, 0xf2000000u, 4, 1), 0, "a kick on a full counter completes");
        CHECK(it_wait_log(&it, "counter is full", IT_TIMEOUT_MS), "the log tells of the kick on a full counter");
        xenioreqd_close(c);
        close(efd);

        /* a version 1 connection: version 2 requests are protocol errors */
        raw = it_connect(&it, "g1");
        CHECK_EQ(it_hello(raw, NULL), 0, "HELLO for version 1 only");
        memset(&m, 0, sizeof m);
        m.hdr.type = htole16(XIRQ_MSG_IRQFD);
        m.hdr.seq = htole32(77);
        m.id = htole32(1);
        m.action = XIRQ_IRQ_ISA;
        m.mode = XIRQ_IRQFD_EDGE;
        m.irq = htole32(5);
        efd = it_eventfd();
        CHECK_EQ(it_send(raw, &m, sizeof m, &efd, 1), 0, "sending IRQFD");
        CHECK_EQ(it_reply_error(raw, XIRQ_MSG_IRQFD, 77), EPROTO, "IRQFD on a version 1 connection");
        close(raw);
        close(efd);

        /*
         * ASSIGN while the domain is being destroyed: ESRCH (the worker setting
         * up, or the parent, noticed), or the connection closed (the parent
         * saw the domain go first); never another error
         */
        for (int round = 0; round < 5; round++) {
                struct xirq_virtio_mmio v = {
                        .hdr = { .type = htole16(XIRQ_MSG_VIRTIO_MMIO), .seq = htole32(900 + round) },
                        .base = htole64(BASE),
                };
                struct xirq_reply rep;
                ssize_t n;

                g2 = it_domain_create(&it, "g2", 1);
                g2conn = connect_running("g2", g2);
                efd = it_eventfd();
                CHECK_EQ(it_send(g2conn, &v, sizeof v, &efd, 1), 0, "sending VIRTIO_MMIO");
                it_domain_destroy(&it, g2);
                n = it_recv(g2conn, &rep, sizeof rep, IT_TIMEOUT_MS);
                CHECK(n == 0 || n == -ECONNRESET || (n == (ssize_t) sizeof rep &&
                      (le32toh((uint32_t) rep.error) == 0 || le32toh((uint32_t) rep.error) == ESRCH)),
                      "ASSIGN racing the domain's destruction: %zd bytes, error %u (ESRCH, success or the"
                      " connection closed expected)", n, n > 0 ? le32toh((uint32_t) rep.error) : 0);
                if (n > 0)
                        it_log("round %d: error %u", round, le32toh((uint32_t) rep.error));
                close(g2conn);
                close(efd);
        }

        /* a crashed domain kept by on_crash=preserve still counts as running, as the page says */
        {
                struct xirq_query_reply q;

                g2 = it_domain_create(&it, "g2", 1);
                g2conn = connect_running("g2", g2);
                efd = it_eventfd();
                CHECK_EQ(it_virtio(g2conn, BASE, 0, false, efd), 0, "a registration on g2");
                CHECK_EQ(xsg_domain_crash(it.xsg, g2), 0, "crashing g2 (kept, as on_crash=preserve)");
                usleep(100 * 1000);
                CHECK_EQ(it_query(g2conn, &q), 0, "QUERY of the crashed guest");
                CHECK_EQ(q.state, XIRQ_GUEST_SERVING, "a crashed, preserved guest is still served");
                CHECK_EQ(it_virtio(g2conn, BASE, 1, false, efd), 0, "and still takes registrations");
                it_domain_destroy(&it, g2);
                CHECK(it_closed(g2conn, IT_TIMEOUT_MS), "its connection closed once it is destroyed");
                close(g2conn);
                close(efd);
        }
}

/* ---- the daemon restarted: irqfds and claims kept with their connection ---- */

static pid_t wait_new_daemon(pid_t old) {
        pid_t pid = 0;

        CHECK(it_wait_note(&it, "READY=1", IT_TIMEOUT_MS), "READY=1 from the daemon after pid %d", (int) old);
        for (int i = 0; i < 200 && ((pid = it_daemon_pid(&it)) == 0 || pid == old); i++)
                usleep(10000);
        CHECK(pid > 0 && pid != old, "a new daemon after %d", (int) old);
        return pid;
}

static void test_parent_restart(void) {
        xenioreqd_client *c = lib_connect();
        xenioreqd_irqfd_spec msi = { .action = XIRQ_IRQ_MSI, .mode = XIRQ_IRQFD_EDGE, .msi_addr = 0xfee01000,
                                     .msi_data = 0x55 };
        xenioreqd_claim *cl = NULL;
        int e_msi = it_eventfd();
        Backend b;
        Reader rd;
        pid_t daemon;

        CHECK_EQ(xenioreqd_claim_range(c, XIRQ_SPACE_MMIO, BASE, 0x200, 10000, &cl), 0, "a claim");
        CHECK_EQ(xenioreqd_irqfd_assign(c, &msi, e_msi, -1, NULL), 0, "an irqfd");
        backend_start(&b, cl);
        CHECK_EQ(read32(BASE + 0x20), (ANSWER | 0x20) & 0xffffffffu, "a forwarded read before the restart");

        /* an access waiting for the backend while the daemon dies and comes back */
        atomic_store(&b.mute, true);
        reader_start(&rd, 1, BASE + 0x24);
        wait_taken(&b, 2);
        daemon = it_daemon_pid(&it);
        it_drain_notes(&it);
        CHECK(kill(daemon, SIGKILL) == 0, "killing the daemon: %m");
        daemon = wait_new_daemon(daemon);
        CHECK(it_wait_worker(&it, dom, 0, IT_TIMEOUT_MS) > 0, "a worker after the restart");
        wait_taken(&b, 3);
        atomic_store(&b.release, true);
        pthread_join(rd.thread, NULL);
        CHECK_EQ(rd.error, 0, "the read across the daemon's death completed");
        CHECK_EQ(rd.value, (ANSWER | 0x24) & 0xffffffffu, "with the backend's answer (forwarded again)");

        CHECK(xenioreqd_connected(c), "the connection outlived the daemon");
        CHECK_EQ(read32(BASE + 0x28), (ANSWER | 0x28) & 0xffffffffu, "the claim is still served");
        irq_seen = irq_count();
        signal_efd(e_msi, 1);
        irq_expect(XSG_IRQ_MSI, 0xfee01000, 0x55, "the irqfd still injects");
        CHECK(it_log_contains(&it, "irqfds and claims"), "the restart restored them");
        backend_stop(&b);
        CHECK_EQ(xenioreqd_unclaim(cl), 0, "unclaiming after the restart");
        xenioreqd_close(c);
        close(e_msi);
}

int main(int argc, char **argv) {
        xenioreqd_client *c;

        it_init(&it, "it-forward", argc, argv);
        it_write_global(&it, NULL);
        it_write_guest(&it, "g1", "max_irqfds = 4\nmax_claims = 2\nclaim_deadline_ms = 300\n"
                                   "max_client_registrations = 1024\nmax_registrations = 2048\n");
        it_write_guest(&it, "g2", NULL);
        dom = it_domain_create(&it, "g1", 2);
        /* under the fd-store stand-in: the last part kills the daemon */
        it.supervised = true;
        it_daemon_start(&it, NULL);

        c = lib_connect();
        /* the first irqfd starts the worker: no registration needed */
        test_irqfds(c);
        test_claims();
        xenioreqd_close(c);
        test_range_limit();
        test_misc();
        test_parent_restart();
        /* the one worker death is the one this test caused */
        CHECK(!it_log_contains(&it, "(a system call outside its filter)"), "no worker broke its filter");
        CHECK(!it_log_contains(&it, " exited with status "), "no worker failed");
        it_fini(&it);
        return 0;
}
