/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim: guest accesses reach ioreq servers as on Xen 4.17 (FACTS 2e-2n, 6, 7d, 8, 12): the
 * request fields, server selection, page splits, INVALIDATE broadcast, every answer protocol
 * (and its violations), and what happens when servers or domains go away mid-request.
 */
#include "autoconfig.h"

#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <xen/memory.h>

#include "simtest.h"

#define BASE 0xfe000000ull

static void msleep(int ms) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

/* Wait for a request on s; returns its vCPU (unmasked), -1 on timeout. */
static int next_req(struct st_srv *s, int ms) {
        int p = st_wait_port(s->xce, ms, false);
        return p < 0 ? -1 : st_srv_vcpu(s, p);
}

static struct st_async acc(uint32_t dom, unsigned vcpu, int dir, uint64_t addr,
                              unsigned size, uint64_t data, int tmo) {
        struct st_async a = { .domid = dom, .vcpu = vcpu,
                              .io = { .space = XSG_MMIO, .dir = dir, .addr = addr, .size = size,
                                      .data = data, .timeout_ms = tmo } };
        return a;
}

static bool finished_within(struct st_async *a, int ms) {
        for (int i = 0; i <= ms / 10; i++) {
                if (__atomic_load_n(&a->r, __ATOMIC_ACQUIRE) != ST_RUNNING)
                        return true;
                msleep(10);
        }
        return false;
}

static bool readable_now(struct st_srv *s) {
        struct pollfd p = { .fd = xenevtchn_fd(s->xce), .events = POLLIN };
        return poll(&p, 1, 50) == 1;
}

static void test_fields(uint32_t dom) {
        struct st_srv s;
        st_srv_up(&s, dom, BASE, BASE + 0x1fff);

        /* A 2-byte write from vCPU 1. */
        struct st_async a = acc(dom, 1, XSG_WRITE, BASE + 0x10, 2, 0xbeef, 3000);
        st_async_start(&a);
        int v = next_req(&s, 2000);
        CHECK(v == 1, "request on vCPU %d, want 1", v);
        if (v == 1) {
                ioreq_t io = s.page->vcpu_ioreq[1];
                CHECK(io.state == STATE_IOREQ_READY && io.type == IOREQ_TYPE_COPY &&
                      io.dir == IOREQ_WRITE && io.addr == BASE + 0x10 && io.size == 2 &&
                      io.count == 1 && io.data_is_ptr == 0 && io.df == 0 && io.data == 0xbeef,
                      "write fields: state %u type %u dir %u addr %llx size %u count %u ptr %u "
                      "data %llx", io.state, io.type, io.dir, (unsigned long long)io.addr,
                      io.size, io.count, io.data_is_ptr, (unsigned long long)io.data);
                st_srv_answer(&s, 1, 0);
        }
        CHECK(st_async_join(&a) == 0, "write: %s", strerror(-a.r));
        CHECK(st_wait_slot(s.page, 1, STATE_IOREQ_NONE, 1000), "slot not back to NONE");
        CHECK(s.page->vcpu_ioreq[1].data == 0xbeef, "data changed after completion");

        /* Reads arrive with data 0 and keep `size` bytes of the answer. */
        static const unsigned sizes[] = { 1, 2, 4, 8 };
        for (unsigned i = 0; i < 4; i++) {
                a = acc(dom, 0, XSG_READ, BASE + 0x20, sizes[i], 0, 3000);
                st_async_start(&a);
                v = next_req(&s, 2000);
                CHECK(v == 0, "read request");
                if (v == 0) {
                        CHECK(s.page->vcpu_ioreq[0].data == 0 &&
                              s.page->vcpu_ioreq[0].dir == IOREQ_READ &&
                              s.page->vcpu_ioreq[0].size == sizes[i], "read fields");
                        st_srv_answer(&s, 0, 0xaaaaaaaaaaaaaaaaull);
                }
                CHECK(st_async_join(&a) == 0, "read");
                uint64_t want = sizes[i] == 8 ? ~0ull / 0xff * 0xaa
                                              : 0xaaaaaaaaaaaaaaaaull & ((1ull << (8 * sizes[i])) - 1);
                CHECK(a.io.value == want, "r%u gave %llx", sizes[i],
                      (unsigned long long)a.io.value);
        }

        /* An access crossing a page boundary is split, one request per page. */
        a = acc(dom, 0, XSG_WRITE, BASE + 0xffe, 4, 0x11223344, 3000);
        st_async_start(&a);
        v = next_req(&s, 2000);
        CHECK(v == 0 && s.page->vcpu_ioreq[0].addr == BASE + 0xffe &&
              s.page->vcpu_ioreq[0].size == 2 && s.page->vcpu_ioreq[0].data == 0x3344,
              "first half of the split");
        st_srv_answer(&s, 0, 0);
        v = next_req(&s, 2000);
        CHECK(v == 0 && s.page->vcpu_ioreq[0].addr == BASE + 0x1000 &&
              s.page->vcpu_ioreq[0].size == 2 && s.page->vcpu_ioreq[0].data == 0x1122,
              "second half of the split");
        st_srv_answer(&s, 0, 0);
        CHECK(st_async_join(&a) == 0 && a.io.nr_requests == 2, "split write");

        /*
         * Pieces of other sizes go as power-of-two chunks, largest first, as Xen's
         * hvmemul_phys_mmio_access() cuts them: never 3, 5, 6 or 7 bytes in one request
         * (an 8-byte write at a page's last 3 bytes is 2 + 1, then 4 + 1; at its last 6
         * bytes 4 + 2, then 2; at its last 7 bytes 4 + 2 + 1, then 1).
         */
        static const struct {
                unsigned off;                   /* of the 8-byte access, from BASE */
                unsigned n;
                struct { unsigned off, size; } req[4];
        } cuts[] = {
                { 0xffd, 4, { { 0xffd, 2 }, { 0xfff, 1 }, { 0x1000, 4 }, { 0x1004, 1 } } },
                { 0xffa, 3, { { 0xffa, 4 }, { 0xffe, 2 }, { 0x1000, 2 } } },
                { 0xff9, 4, { { 0xff9, 4 }, { 0xffd, 2 }, { 0xfff, 1 }, { 0x1000, 1 } } },
        };
        for (unsigned c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
                const uint64_t value = 0x1122334455667788ull;
                unsigned n = cuts[c].n;
                a = acc(dom, 0, XSG_WRITE, BASE + cuts[c].off, 8, value, 3000);
                st_async_start(&a);
                for (unsigned i = 0; i < n; i++) {
                        unsigned o = cuts[c].req[i].off, sz = cuts[c].req[i].size;
                        uint64_t want = (value >> (8 * (o - cuts[c].off))) &
                                        (sz == 8 ? ~0ull : (1ull << (8 * sz)) - 1);
                        v = next_req(&s, 2000);
                        ioreq_t io = s.page->vcpu_ioreq[0];
                        CHECK(v == 0 && io.addr == BASE + o && io.size == sz && io.data == want,
                              "w8 at +%#x, request %u: addr +%#llx size %u data %llx, want +%#x "
                              "size %u data %llx", cuts[c].off, i,
                              (unsigned long long)(io.addr - BASE), io.size,
                              (unsigned long long)io.data, o, sz, (unsigned long long)want);
                        st_srv_answer(&s, 0, 0);
                }
                CHECK(st_async_join(&a) == 0 && a.io.nr_requests == n,
                      "w8 at +%#x: r=%d, %u requests, want %u", cuts[c].off, a.r,
                      a.io.nr_requests, n);
        }
        /* A read is put together from its chunks' answers. */
        a = acc(dom, 0, XSG_READ, BASE + 0xffd, 8, 0, 3000);
        st_async_start(&a);
        static const uint64_t answers[] = { 0x7788, 0x66, 0x22334455, 0x11 };
        for (unsigned i = 0; i < 4; i++) {
                v = next_req(&s, 2000);
                CHECK(v == 0, "read chunk %u", i);
                st_srv_answer(&s, 0, answers[i] | 0xee00000000000000ull);
        }
        CHECK(st_async_join(&a) == 0 && a.io.value == 0x1122334455667788ull,
              "r8 at +0xffd gave %llx", (unsigned long long)a.io.value);

        /* Half covered: the server gets its half, the other comes from the no-server path. */
        a = acc(dom, 0, XSG_READ, BASE + 0x1ffe, 4, 0, 3000);
        st_async_start(&a);
        v = next_req(&s, 2000);
        CHECK(v == 0 && s.page->vcpu_ioreq[0].size == 2, "covered half");
        st_srv_answer(&s, 0, 0x1111);
        CHECK(st_async_join(&a) == 0 && a.io.value == 0xffff1111, "half-covered read %llx",
              (unsigned long long)a.io.value);

        /* No server: all-ones, writes dropped. */
        uint64_t val = 0;
        CHECK(xsg_read(st_guest(), dom, 0, XSG_MMIO, 0xfe020000, 4, &val, 1000) == 0 &&
              val == 0xffffffff, "no server r4 %llx", (unsigned long long)val);
        CHECK(xsg_read(st_guest(), dom, 0, XSG_MMIO, 0xfe020000, 1, &val, 1000) == 0 &&
              val == 0xff, "no server r1");
        CHECK(xsg_read(st_guest(), dom, 0, XSG_MMIO, 0xfe020000, 8, &val, 1000) == 0 &&
              val == ~0ull, "no server r8");
        CHECK(xsg_read(st_guest(), dom, 0, XSG_PIO, 0x7000, 2, &val, 1000) == 0 &&
              val == 0xffff, "no server inw");
        CHECK(xsg_write(st_guest(), dom, 0, XSG_MMIO, 0xfe020000, 4, 0x12345678, 1000) == 0,
              "no server write");
        CHECK(!readable_now(&s), "the server saw an access outside its range");
        st_srv_down(&s);
}

/* Highest enabled id whose ranges contain the whole access (2e, 2f, 2g-2i). */
static void test_selection(uint32_t dom) {
        struct st_srv a, b;
        st_srv_up(&a, dom, BASE, BASE + 0xfff);
        st_srv_up(&b, dom, BASE, BASE + 0xfff);
        CHECK(a.id == 0 && b.id == 1, "ids %u %u", a.id, b.id);

        struct st_async x = acc(dom, 0, XSG_WRITE, BASE, 4, 0xa1, 3000);
        st_async_start(&x);
        CHECK(next_req(&b, 2000) == 0, "the higher id did not get the write");
        CHECK(!readable_now(&a), "the lower id got it too");
        st_srv_answer(&b, 0, 0);
        CHECK(st_async_join(&x) == 0 && x.io.server == 1, "write via B");

        CHECK_OK(xendevicemodel_set_ioreq_server_state(b.dm, dom, b.id, 0));
        x = acc(dom, 0, XSG_WRITE, BASE, 4, 0xa2, 3000);
        st_async_start(&x);
        CHECK(next_req(&a, 2000) == 0, "after disabling B, A did not get the write");
        st_srv_answer(&a, 0, 0);
        CHECK(st_async_join(&x) == 0 && x.io.server == 0, "write via A");
        CHECK_OK(xendevicemodel_set_ioreq_server_state(b.dm, dom, b.id, 1));

        /* B covers only 4 bytes: an 8-byte access goes to A, a 4-byte one to B. */
        CHECK_OK(xendevicemodel_unmap_io_range_from_ioreq_server(b.dm, dom, b.id, 1, BASE, BASE + 0xfff));
        CHECK_OK(xendevicemodel_map_io_range_to_ioreq_server(b.dm, dom, b.id, 1, BASE, BASE + 3));
        x = acc(dom, 0, XSG_WRITE, BASE, 8, 0x1122334455667788ull, 3000);
        st_async_start(&x);
        CHECK(next_req(&a, 2000) == 0 && a.page->vcpu_ioreq[0].size == 8, "w8 to the lower");
        st_srv_answer(&a, 0, 0);
        CHECK(st_async_join(&x) == 0 && x.io.server == 0, "w8");
        x = acc(dom, 0, XSG_READ, BASE + 2, 4, 0, 3000);
        st_async_start(&x);
        CHECK(next_req(&a, 2000) == 0, "r4 at +2 (not covered by B) to A");
        st_srv_answer(&a, 0, 0xcccccccc);
        CHECK(st_async_join(&x) == 0 && x.io.value == 0xcccccccc, "r4 +2");
        x = acc(dom, 0, XSG_READ, BASE + 2, 2, 0, 3000);
        st_async_start(&x);
        CHECK(next_req(&b, 2000) == 0, "r2 at +2 to B");
        st_srv_answer(&b, 0, 0xcccc);
        CHECK(st_async_join(&x) == 0 && x.io.value == 0xcccc && x.io.server == 1, "r2 +2");
        st_srv_down(&b);

        /* Only B (partial) left as a server for BASE+0x2000.. nothing: not delivered. */
        uint64_t v;
        CHECK(xsg_read(st_guest(), dom, 0, XSG_MMIO, BASE + 0x2000, 4, &v, 1000) == 0 &&
              v == 0xffffffff, "uncovered read");
        st_srv_down(&a);
}

/* INVALIDATE: one request per enabled server, highest id first; the vCPU waits for all. */
static void test_invalidate(uint32_t dom) {
        xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
        xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
        xenevtchn_handle *xce = xenevtchn_open(NULL, 0);
        shared_iopage_t *page[3];
        xenforeignmemory_resource_handle *res[3];
        int port[3];
        ioservid_t id[3];

        for (int i = 0; i < 3; i++) {
                page[i] = NULL;
                CHECK_OK(xendevicemodel_create_ioreq_server(dm, dom, 0, &id[i]));
                res[i] = xenforeignmemory_map_resource(fm, dom, XENMEM_resource_ioreq_server,
                                                       id[i], 1, 1, (void **)&page[i],
                                                       PROT_READ | PROT_WRITE, 0);
                CHECK_OK(xendevicemodel_set_ioreq_server_state(dm, dom, id[i], 1));
                port[i] = xenevtchn_bind_interdomain(xce, dom, page[i]->vcpu_ioreq[0].vp_eport);
                CHECK(port[i] > 0, "bind");
        }
        for (int i = 0; i < 3; i++)
                st_wait_port(xce, 1000, false);
        /* Server 1 enabled, bound, then disabled: it gets none. */
        CHECK_OK(xendevicemodel_set_ioreq_server_state(dm, dom, id[1], 0));

        struct st_async x = { .domid = dom, .vcpu = 0, .invalidate = true,
                              .io = { .timeout_ms = 3000 } };
        st_async_start(&x);
        int p1 = st_wait_port(xce, 2000, false);
        int p2 = st_wait_port(xce, 2000, false);
        CHECK(p1 == port[2] && p2 == port[0], "order %d,%d want %d,%d", p1, p2, port[2], port[0]);
        ioreq_t io = page[2]->vcpu_ioreq[0];
        CHECK(io.state == STATE_IOREQ_READY && io.type == IOREQ_TYPE_INVALIDATE &&
              io.dir == IOREQ_WRITE && io.addr == 0 && io.size == 4 && io.count == 0 &&
              io.data_is_ptr == 0 && io.data == ~0ull, "INVALIDATE fields type %u size %u count %u",
              io.type, io.size, io.count);
        CHECK(page[1]->vcpu_ioreq[0].state == STATE_IOREQ_NONE, "the disabled server got one");
        page[2]->vcpu_ioreq[0].state = STATE_IORESP_READY;
        xenevtchn_notify(xce, (evtchn_port_t)port[2]);
        CHECK(!finished_within(&x, 200), "the vCPU did not wait for every server");
        page[0]->vcpu_ioreq[0].state = STATE_IORESP_READY;
        xenevtchn_notify(xce, (evtchn_port_t)port[0]);
        CHECK(st_async_join(&x) == 2, "invalidate returned %d", x.r);
        for (int i = 0; i < 3; i++) {
                xenforeignmemory_unmap_resource(fm, res[i]);
                xendevicemodel_destroy_ioreq_server(dm, dom, id[i]);
        }
        xenevtchn_close(xce);
        xenforeignmemory_close(fm);
        xendevicemodel_close(dm);
}

/* Answer protocols (12a-12e, 8a-8e). */
static void test_answers(void) {
        uint32_t dom = st_domain("answers", 1);
        struct st_srv s;
        st_srv_up(&s, dom, BASE, BASE + 0xfff);
        ioreq_t *slot = &s.page->vcpu_ioreq[0];

        /* IORESP_READY without notify: the vCPU stays blocked (reported hung). */
        struct st_async x = acc(dom, 0, XSG_READ, BASE, 4, 0, 1500);   /* long enough for a loaded host */
        st_async_start(&x);
        CHECK(next_req(&s, 2000) == 0, "request");
        msleep(100);    /* let the vCPU block first, as it does at once on Xen */
        slot->data = 0x1111;
        slot->state = STATE_IORESP_READY;
        CHECK(st_async_join(&x) == -ETIMEDOUT && x.io.slot_state == STATE_IORESP_READY,
              "IORESP_READY without notify: r=%d state=%d", x.r, x.io.slot_state);
        /* Still blocked: the next access sends nothing and hangs too... */
        x = acc(dom, 0, XSG_READ, BASE, 4, 0, 300);
        st_async_start(&x);
        CHECK(next_req(&s, 500) < 0, "a blocked vCPU sent a new request");
        CHECK(st_async_join(&x) == -ETIMEDOUT, "blocked vCPU: r=%d", x.r);
        /* ...until the notify comes: then it resumes and its next access proceeds. */
        xenevtchn_notify(s.xce, s.lport[0]);
        x = acc(dom, 0, XSG_READ, BASE, 4, 0, 3000);
        st_async_start(&x);
        CHECK(next_req(&s, 2000) == 0, "no request after the late notify");
        st_srv_answer(&s, 0, 0x6);
        CHECK(st_async_join(&x) == 0 && x.io.value == 6, "access after resuming: r=%d", x.r);

        /* Notify with the slot still READY: stays blocked. INPROCESS + notify: stays
         * blocked. IORESP_READY + notify: done. */
        x = acc(dom, 0, XSG_READ, BASE, 4, 0, 3000);
        st_async_start(&x);
        CHECK(next_req(&s, 2000) == 0, "request");
        xenevtchn_notify(s.xce, s.lport[0]);
        CHECK(!finished_within(&x, 200), "notify on READY completed the access");
        slot->state = STATE_IOREQ_INPROCESS;
        xenevtchn_notify(s.xce, s.lport[0]);
        CHECK(!finished_within(&x, 200), "INPROCESS completed the access");
        st_srv_answer(&s, 0, 0x77777777);
        CHECK(st_async_join(&x) == 0 && x.io.value == 0x77777777, "late answer");

        /* NONE + notify on a read: the read gets all-ones. */
        x = acc(dom, 0, XSG_READ, BASE, 4, 0, 3000);
        st_async_start(&x);
        CHECK(next_req(&s, 2000) == 0, "request");
        slot->data = 0x3333;
        slot->state = STATE_IOREQ_NONE;
        xenevtchn_notify(s.xce, s.lport[0]);
        CHECK(st_async_join(&x) == 0 && x.io.value == 0xffffffff, "NONE answer gave %llx",
              (unsigned long long)x.io.value);

        /* Disabled with a request pending: stays pending, an answer still completes it. */
        x = acc(dom, 0, XSG_READ, BASE, 4, 0, 3000);
        st_async_start(&x);
        CHECK(next_req(&s, 2000) == 0, "request");
        CHECK_OK(xendevicemodel_set_ioreq_server_state(s.dm, dom, s.id, 0));
        CHECK(!finished_within(&x, 150), "disable completed the access");
        CHECK(slot->state == STATE_IOREQ_READY, "slot state after disable %u", slot->state);
        st_srv_answer(&s, 0, 0x99999999);
        CHECK(st_async_join(&x) == 0 && x.io.value == 0x99999999, "answer while disabled");
        uint64_t v = 0;
        CHECK(xsg_read(st_guest(), dom, 0, XSG_MMIO, BASE, 4, &v, 1000) == 0 &&
              v == 0xffffffff, "disabled server still selected");
        CHECK_OK(xendevicemodel_set_ioreq_server_state(s.dm, dom, s.id, 1));

        /* Destroyed with a request in flight: the vCPU never resumes. */
        x = acc(dom, 0, XSG_READ, BASE, 4, 0, 600);
        st_async_start(&x);
        CHECK(next_req(&s, 2000) == 0, "request");
        CHECK_OK(xendevicemodel_destroy_ioreq_server(s.dm, dom, s.id));
        slot->state = STATE_IORESP_READY;       /* the old mapping: no effect */
        xenevtchn_notify(s.xce, s.lport[0]);
        CHECK(st_async_join(&x) == -ETIMEDOUT, "destroyed server: r=%d", x.r);
        st_srv_down(&s);
        /* That vCPU stays blocked for good, even with a new server on the range. */
        st_srv_up(&s, dom, BASE, BASE + 0xfff);
        x = acc(dom, 0, XSG_READ, BASE, 4, 0, 300);
        st_async_start(&x);
        CHECK(next_req(&s, 500) < 0, "the orphaned vCPU sent a new request");
        CHECK(st_async_join(&x) == -ETIMEDOUT, "orphaned vCPU: r=%d", x.r);
        st_srv_down(&s);
        xsg_domain_destroy(st_guest(), dom);
}

/* A 4-byte read at BASE from vCPU 0, started and seen by s as a request. */
static void read_sent(struct st_async *x, uint32_t dom, struct st_srv *s) {
        *x = acc(dom, 0, XSG_READ, BASE, 4, 0, 3000);
        st_async_start(x);
        CHECK(next_req(s, 2000) == 0, "request");
}

/* The server writes state into vCPU 0's slot and notifies it. */
static void state_notify(struct st_srv *s, unsigned state) {
        s->page->vcpu_ioreq[0].state = state & 0xf;
        xenevtchn_notify(s->xce, s->lport[0]);
}

/* An invalid state value + notify crashes the domain (12e). */
static void test_crash(void) {
        uint32_t dom = st_domain("crash-7", 1);
        struct xsg_domain_info di;
        struct st_srv s;
        struct st_async x;
        st_srv_up(&s, dom, BASE, BASE + 0xfff);

        read_sent(&x, dom, &s);
        state_notify(&s, 7);
        CHECK(st_async_join(&x) == -EHOSTDOWN, "state 7: r=%d", x.r);
        CHECK(xsg_domain_info(st_guest(), dom, &di) == 0 && di.state == XSG_DOMAIN_CRASHED,
              "domain not crashed");
        uint64_t v;
        CHECK(xsg_read(st_guest(), dom, 0, XSG_MMIO, BASE, 4, &v, 500) == -EHOSTDOWN,
              "a crashed domain's vCPU still runs");
        st_srv_down(&s);
        xsg_domain_destroy(st_guest(), dom);
}

/*
 * A state that goes back across a wake-up (INPROCESS + notify, then READY + notify) is waited
 * on: on x86 each resumption of the vCPU runs wait_for_io() afresh from prev_state NONE, so
 * it waits for IORESP_READY again and then completes normally.
 */
static void test_state_back(void) {
        uint32_t dom = st_domain("state-back", 1);
        struct xsg_domain_info di;
        struct st_srv s;
        struct st_async x;
        st_srv_up(&s, dom, BASE, BASE + 0xfff);

        read_sent(&x, dom, &s);
        state_notify(&s, STATE_IOREQ_INPROCESS);
        CHECK(!finished_within(&x, 150), "INPROCESS completed");
        state_notify(&s, STATE_IOREQ_READY);
        CHECK(!finished_within(&x, 150), "READY after INPROCESS ended the access: r=%d", x.r);
        CHECK(xsg_domain_info(st_guest(), dom, &di) == 0 && di.state == XSG_DOMAIN_RUNNING,
              "READY after INPROCESS crashed the domain");
        st_srv_answer(&s, 0, 0x5a5a5a5a);
        CHECK(st_async_join(&x) == 0 && x.io.value == 0x5a5a5a5a, "answer after the state went "
              "back: r=%d value %llx", x.r, (unsigned long long)x.io.value);
        st_srv_down(&s);
        xsg_domain_destroy(st_guest(), dom);
}

/*
 * A vCPU blocked on a destroyed server is woken by an event from another server (Xen wakes a
 * vCPU blocked in wait_on_xen_event_channel() on any of its ioreq channels): it finds no
 * pending server and completes the access with the request's own data, 0 for a read.
 */
static void test_destroyed_woken(void) {
        uint32_t dom = st_domain("destroyed-woken", 1);
        struct st_srv a, b;
        st_srv_up(&a, dom, BASE + 0x1000, BASE + 0x1fff);
        st_srv_up(&b, dom, BASE, BASE + 0xfff);

        struct st_async x;
        read_sent(&x, dom, &b);
        CHECK_OK(xendevicemodel_destroy_ioreq_server(b.dm, dom, b.id));
        CHECK(!finished_within(&x, 150), "destroying the server released the vCPU");
        xenevtchn_notify(a.xce, a.lport[0]);
        CHECK(st_async_join(&x) == 0 && x.io.value == 0, "woken after its server's destruction: "
              "r=%d value %llx", x.r, (unsigned long long)x.io.value);
        CHECK(b.page->vcpu_ioreq[0].state == STATE_IOREQ_READY, "the old page was written");
        /* The vCPU runs on: its next access goes to the server left. */
        x = acc(dom, 0, XSG_WRITE, BASE + 0x1000, 4, 9, 3000);
        st_async_start(&x);
        CHECK(next_req(&a, 2000) == 0, "next request");
        st_srv_answer(&a, 0, 0);
        CHECK(st_async_join(&x) == 0, "next access: r=%d", x.r);
        st_srv_down(&b);
        st_srv_down(&a);
        xsg_domain_destroy(st_guest(), dom);
}

static void test_death(void) {
        uint32_t dom = st_domain("dies", 2);
        struct st_srv s;
        st_srv_up(&s, dom, BASE, BASE + 0xfff);
        struct st_async x = acc(dom, 1, XSG_READ, BASE, 4, 0, 3000);
        st_async_start(&x);
        CHECK(next_req(&s, 2000) == 1, "request");
        CHECK(xsg_domain_destroy(st_guest(), dom) == 0, "destroy");
        CHECK(st_async_join(&x) == -ESRCH, "access on a destroyed domain: r=%d", x.r);
        CHECK(!readable_now(&s), "event after the domain died");
        CHECK_OK(xenevtchn_notify(s.xce, s.lport[1]));
        CHECK(s.page->vcpu_ioreq[1].vp_eport != 0, "mapping unreadable after death");
        st_srv_down(&s);
        struct xsg_domain_info di;
        CHECK(xsg_domain_info(st_guest(), dom, &di) == -ESRCH, "zombie after unmap");
}

struct inj {
        uint32_t dom;
        unsigned id;
        struct xsg_raw raw;
        uint64_t got;
        int r;
};

static void *inj_main(void *p) {
        struct inj *a = p;
        a->r = xsg_inject_request(st_guest(), a->dom, 0, a->id, &a->raw, 3000, &a->got);
        return NULL;
}

/* Fault injection reaches the server as written. */
static void test_inject(uint32_t dom) {
        struct st_srv s;
        st_srv_up(&s, dom, BASE, BASE + 0xfff);
        struct xsg_raw raw = { .addr = BASE, .data = 0x1000, .count = 2, .size = 3,
                               .data_is_ptr = 1, .dir = IOREQ_READ, .type = IOREQ_TYPE_COPY };
        CHECK(xsg_inject_slot(st_guest(), dom, s.id, 5, &raw, -1) == 0, "slot beyond nr_vcpus");
        CHECK(s.page->vcpu_ioreq[5].size == 3 && s.page->vcpu_ioreq[5].count == 2,
              "scribbled slot 5");
        CHECK(xsg_inject_slot(st_guest(), dom, s.id, 128, &raw, -1) == -ENXIO, "slot 128");
        CHECK(xsg_inject_notify(st_guest(), dom, s.id, 2) == -ENXIO, "notify vCPU 2 of 2");
        CHECK(xsg_inject_notify(st_guest(), dom, s.id, 1) == 0, "spurious notify");
        CHECK(next_req(&s, 1000) == 1, "spurious event");
        /* A crafted request (size 3, count 2, data_is_ptr), waited for like a vCPU. */
        struct inj arg = { .dom = dom, .id = s.id, .raw = raw, .r = ST_RUNNING };
        pthread_t th;
        pthread_create(&th, NULL, inj_main, &arg);
        CHECK(next_req(&s, 2000) == 0, "crafted request");
        ioreq_t io = s.page->vcpu_ioreq[0];
        CHECK(io.size == 3 && io.count == 2 && io.data_is_ptr == 1 && io.dir == IOREQ_READ &&
              io.state == STATE_IOREQ_READY, "crafted fields size %u count %u", io.size,
              io.count);
        s.page->vcpu_ioreq[0].data = 0xfeedfacecafebeefull;
        s.page->vcpu_ioreq[0].state = STATE_IORESP_READY;
        xenevtchn_notify(s.xce, s.lport[0]);
        pthread_join(th, NULL);
        CHECK(arg.r == 0 && arg.got == 0xfeedfacecafebeefull, "crafted answer r=%d", arg.r);
        st_srv_down(&s);
}

/* A domain created paused: at unpause vCPU 0 sends the boot INVALIDATE and waits for it. */
static void test_boot(void) {
        xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
        xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
        xenevtchn_handle *xce = xenevtchn_open(NULL, 0);
        shared_iopage_t *page[3];
        xenforeignmemory_resource_handle *res[3];
        int port[3][2];
        ioservid_t id[3];
        uint32_t dom;
        uint64_t v;

        CHECK(xsg_domain_create2(st_guest(), "boot", 2, XSG_CREATE_PAUSED, &dom) == 0, "create");
        struct xsg_domain_info di;
        CHECK(xsg_domain_info(st_guest(), dom, &di) == 0 && di.paused, "not paused");
        CHECK(xsg_read(st_guest(), dom, 0, XSG_MMIO, BASE, 4, &v, 500) == -EAGAIN,
              "a paused vCPU ran");
        for (int i = 0; i < 3; i++) {
                page[i] = NULL;
                CHECK_OK(xendevicemodel_create_ioreq_server(dm, dom, 0, &id[i]));
                res[i] = xenforeignmemory_map_resource(fm, dom, XENMEM_resource_ioreq_server,
                                                       id[i], 1, 1, (void **)&page[i],
                                                       PROT_READ | PROT_WRITE, 0);
                CHECK_OK(xendevicemodel_map_io_range_to_ioreq_server(dm, dom, id[i], 1, BASE,
                                                                     BASE + 0xfff));
                CHECK_OK(xendevicemodel_set_ioreq_server_state(dm, dom, id[i], 1));
                for (int c = 0; c < 2; c++)
                        port[i][c] = xenevtchn_bind_interdomain(
                                xce, dom, page[i]->vcpu_ioreq[c].vp_eport);
        }
        for (int i = 0; i < 6; i++)
                st_wait_port(xce, 1000, false);
        CHECK_OK(xendevicemodel_set_ioreq_server_state(dm, dom, id[1], 0));

        CHECK(xsg_domain_unpause(st_guest(), dom) == 2, "boot INVALIDATE not sent to 2 servers");
        CHECK(xsg_domain_unpause(st_guest(), dom) == -EINVAL, "second unpause");
        int p1 = st_wait_port(xce, 1000, false), p2 = st_wait_port(xce, 1000, false);
        CHECK(p1 == port[2][0] && p2 == port[0][0], "boot INVALIDATE order %d,%d", p1, p2);
        ioreq_t io = page[2]->vcpu_ioreq[0];
        CHECK(io.state == STATE_IOREQ_READY && io.type == IOREQ_TYPE_INVALIDATE && io.size == 4 &&
              io.count == 0 && io.data == ~0ull && io.dir == IOREQ_WRITE, "boot INVALIDATE fields");
        CHECK(page[1]->vcpu_ioreq[0].state == STATE_IOREQ_NONE, "disabled server got one");

        /* vCPU 1 runs; vCPU 0 is blocked until both servers answered. */
        struct st_async x1 = acc(dom, 1, XSG_WRITE, BASE, 4, 1, 3000);
        st_async_start(&x1);
        CHECK(st_wait_port(xce, 2000, false) == port[2][1], "vCPU 1 request");
        page[2]->vcpu_ioreq[1].state = STATE_IORESP_READY;
        xenevtchn_notify(xce, (evtchn_port_t)port[2][1]);
        CHECK(st_async_join(&x1) == 0, "vCPU 1 access");
        struct st_async x0 = acc(dom, 0, XSG_WRITE, BASE, 4, 2, 3000);
        st_async_start(&x0);
        page[2]->vcpu_ioreq[0].state = STATE_IORESP_READY;
        xenevtchn_notify(xce, (evtchn_port_t)port[2][0]);
        CHECK(!finished_within(&x0, 200), "vCPU 0 ran before every server answered");
        CHECK(page[2]->vcpu_ioreq[0].state == STATE_IOREQ_NONE, "answer not consumed");
        page[0]->vcpu_ioreq[0].state = STATE_IORESP_READY;
        xenevtchn_notify(xce, (evtchn_port_t)port[0][0]);
        CHECK(st_wait_port(xce, 2000, false) == port[2][0] &&
              page[2]->vcpu_ioreq[0].type == IOREQ_TYPE_COPY, "vCPU 0 request after boot");
        page[2]->vcpu_ioreq[0].state = STATE_IORESP_READY;
        xenevtchn_notify(xce, (evtchn_port_t)port[2][0]);
        CHECK(st_async_join(&x0) == 0, "vCPU 0 access: %d", x0.r);
        for (int i = 0; i < 3; i++) {
                xenforeignmemory_unmap_resource(fm, res[i]);
                xendevicemodel_destroy_ioreq_server(dm, dom, id[i]);
        }
        xsg_domain_destroy(st_guest(), dom);
        xenevtchn_close(xce);
        xenforeignmemory_close(fm);
        xendevicemodel_close(dm);
}

int main(int argc, char **argv) {
        st_init(argc, argv, 90);
        uint32_t dom = st_domain("ioreq", 2);
        test_fields(dom);
        test_selection(dom);
        test_invalidate(dom);
        test_answers();
        test_crash();
        test_state_back();
        test_destroyed_woken();
        test_death();
        test_inject(dom);
        test_boot();
        return st_finish();
}
