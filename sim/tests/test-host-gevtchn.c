/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim: a guest's own event channels, as the event-channel irqfd action uses them. The guest
 * allocates a port unbound for dom0 (EVTCHNOP_alloc_unbound), dom0 binds it with
 * xenevtchn_bind_interdomain under Xen 4.17's rules (unbound and allocated for dom0, else
 * EINVAL; no such domain ESRCH; a handle restricted to another domain EACCES), notifies it
 * (pending once, counted each time) and unbinds it (unbound again, bindable anew); the binder's
 * exit and the domain's destruction release it; the guest's close leaves the dom0 port bound
 * to nothing. Also the argument checks of the interrupt injections logged by xsg_irq_get.
 */
#include "autoconfig.h"

#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xen/memory.h>

#include "simtest.h"
#include "xensim-shm.h"

static void status(uint32_t dom, uint32_t port, struct xsg_evtchn_status *st) {
        int r = xsg_evtchn_status(st_guest(), dom, port, st);
        CHECK(r == 0, "status of port %u: %s", port, strerror(-r));
        if (r < 0)
                memset(st, 0, sizeof(*st));
}

/* Take the event that bind_interdomain raises on the new dom0 port (FACTS 3i). */
static void drain_bind_event(xenevtchn_handle *xce, int l) {
        struct pollfd p = { .fd = xenevtchn_fd(xce), .events = POLLIN };
        CHECK(poll(&p, 1, 2000) == 1, "no event after bind");
        int got = xenevtchn_pending(xce);
        CHECK(got == l, "pending %d, want %d", got, l);
        CHECK_OK(xenevtchn_unmask(xce, (evtchn_port_t)l));
}

/* A port of dom allocated for dom0 and bound on xce, its bind event taken: the dom0 port. */
static int alloc_bind(uint32_t dom, xenevtchn_handle *xce, uint32_t *ret_port) {
        int l;

        CHECK(xsg_evtchn_alloc_unbound(st_guest(), dom, 0, ret_port) == 0, "alloc");
        l = xenevtchn_bind_interdomain(xce, dom, *ret_port);
        CHECK(l > 0, "bind: %s", strerror(errno));
        if (l > 0)
                drain_bind_event(xce, l);
        return l;
}

/* The evtchn handle of this process whose ports include dom0 port l; 0 if none. */
static uint64_t handle_of(int l, struct xsg_port_info *ret) {
        struct xsg_handle_info h[16];
        int n = xsg_handles(st_guest(), (uint32_t)getpid(), h, 16);

        for (int i = 0; i < n && i < 16; i++) {
                struct xsg_port_info p[8];
                int m = xsg_handle_ports(st_guest(), h[i].id, p, 8);
                for (int k = 0; k < m && k < 8; k++)
                        if ((int)p[k].port == l) {
                                *ret = p[k];
                                return h[i].id;
                        }
        }
        return 0;
}

static uint64_t ms_since(const struct timespec *t0) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (uint64_t)((t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000);
}

/*
 * A handle closed, or its process gone, is released when xensimd has seen the connection
 * close (a few ms later): wait (bounded) for the guest port to be unbound.
 */
static bool wait_unbound(uint32_t dom, uint32_t port) {
        struct xsg_evtchn_status st;
        struct timespec t0;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        do
                status(dom, port, &st);
        while (st.state != XSG_EVTCHN_UNBOUND && ms_since(&t0) < 3000 && usleep(5000) == 0);
        return st.state == XSG_EVTCHN_UNBOUND && st.bound_port == 0;
}

struct late {
        xenevtchn_handle *xce;
        int l, ms;
};

static void *late_notify(void *p) {
        struct late *a = p;
        struct timespec ts = { 0, a->ms * 1000000L };
        nanosleep(&ts, NULL);
        xenevtchn_notify(a->xce, (evtchn_port_t)a->l);
        return NULL;
}

/* Allocation and the bind rules. */
static void test_bind_rules(uint32_t dom, xenevtchn_handle *xce) {
        struct xsg_evtchn_status st;
        uint32_t p, p5, pself, dom2;
        int l;

        CHECK(xsg_evtchn_alloc_unbound(st_guest(), dom, 0, &p) == 0, "alloc");
        CHECK(p == 3, "first port %u, want 3 (1 and 2 are xenstore's and the console's)", p);
        status(dom, p, &st);
        CHECK(st.state == XSG_EVTCHN_UNBOUND && st.remote_domid == 0 && st.bound_port == 0 &&
              !st.pending && st.count == 0, "fresh port: state %d remote %u bound %u %d/%u",
              st.state, st.remote_domid, st.bound_port, st.pending, st.count);
        CHECK(xsg_evtchn_alloc_unbound(st_guest(), dom, 5, &p5) == 0 && p5 == p + 1,
              "alloc for dom5");
        CHECK(xsg_evtchn_alloc_unbound(st_guest(), dom, XSG_DOMID_SELF, &pself) == 0, "self");
        status(dom, pself, &st);
        CHECK(st.remote_domid == dom, "DOMID_SELF resolved to %u, want %u", st.remote_domid, dom);
        CHECK(xsg_evtchn_alloc_unbound(st_guest(), dom, 0x10000, NULL) == -EINVAL, "remote");
        CHECK(xsg_evtchn_alloc_unbound(st_guest(), 4321, 0, NULL) == -ESRCH, "no domain");
        CHECK(xsg_evtchn_status(st_guest(), dom, p + 40, &st) == -EINVAL, "status of free port");
        CHECK(xsg_evtchn_status(st_guest(), dom, 1, &st) == -EINVAL, "status of port 1");
        CHECK(xsg_evtchn_status(st_guest(), dom, 5000, &st) == -EINVAL, "status of port 5000");

        /* Only a port allocated for dom0 and unbound: EINVAL otherwise, ESRCH no domain. */
        CHECK_ERRNO(xenevtchn_bind_interdomain(xce, dom, p5), EINVAL);
        CHECK_ERRNO(xenevtchn_bind_interdomain(xce, dom, pself), EINVAL);
        CHECK_ERRNO(xenevtchn_bind_interdomain(xce, dom, p + 40), EINVAL);
        CHECK_ERRNO(xenevtchn_bind_interdomain(xce, dom, 0), EINVAL);
        CHECK_ERRNO(xenevtchn_bind_interdomain(xce, dom, 5000), EINVAL);
        CHECK_ERRNO(xenevtchn_bind_interdomain(xce, 4321, p), ESRCH);
        l = xenevtchn_bind_interdomain(xce, dom, p);
        CHECK(l > 0, "bind: %s", strerror(errno));
        if (l <= 0)
                return;
        drain_bind_event(xce, l);
        status(dom, p, &st);
        CHECK(st.state == XSG_EVTCHN_INTERDOMAIN && st.bound_port == (uint32_t)l,
              "bound: state %d bound %u, want %d", st.state, st.bound_port, l);
        CHECK(!st.pending && st.count == 0, "bind notified the guest: %d/%u", st.pending,
              st.count);
        /* Already bound: EINVAL, on the same handle or another. */
        CHECK_ERRNO(xenevtchn_bind_interdomain(xce, dom, p), EINVAL);
        xenevtchn_handle *x2 = xenevtchn_open(NULL, 0);
        CHECK(x2 != NULL, "open");
        if (x2) {
                CHECK_ERRNO(xenevtchn_bind_interdomain(x2, dom, p), EINVAL);
                xenevtchn_close(x2);
        }
        /* A handle restricted to another domain: EACCES (FACTS 10f), to this one: bound. */
        dom2 = st_domain("gevt-other", 1);
        xenevtchn_handle *xr = xenevtchn_open(NULL, 0);
        CHECK(xr && xenevtchn_restrict(xr, (domid_t)dom2) == 0, "restrict");
        if (xr) {
                uint32_t q;
                CHECK(xsg_evtchn_alloc_unbound(st_guest(), dom, 0, &q) == 0, "alloc");
                CHECK_ERRNO(xenevtchn_bind_interdomain(xr, dom, q), EACCES);
                status(dom, q, &st);
                CHECK(st.state == XSG_EVTCHN_UNBOUND, "refused bind bound it");
                xenevtchn_close(xr);
                xr = xenevtchn_open(NULL, 0);
                CHECK(xr && xenevtchn_restrict(xr, (domid_t)dom) == 0, "restrict");
                int lr = xr ? xenevtchn_bind_interdomain(xr, dom, q) : -1;
                CHECK(lr > 0, "bind on a handle restricted to the domain: %s", strerror(errno));
                xenevtchn_close(xr);
                CHECK(wait_unbound(dom, q), "close of the binder left it bound");
                CHECK(xsg_evtchn_close(st_guest(), dom, q) == 0, "close");
        }
        xsg_domain_destroy(st_guest(), dom2);
        CHECK(xsg_evtchn_close(st_guest(), dom, p5) == 0, "close p5");
        CHECK(xsg_evtchn_close(st_guest(), dom, pself) == 0, "close pself");
        CHECK(xenevtchn_unbind(xce, (evtchn_port_t)l) == 0, "unbind");
        status(dom, p, &st);
        CHECK(st.state == XSG_EVTCHN_UNBOUND && st.bound_port == 0, "unbind: state %d",
              st.state);
        CHECK(xsg_evtchn_close(st_guest(), dom, p) == 0, "close");
}

/*
 * n notifications on dom0 port l before the guest looks: port p is pending (once), its count
 * `total`; the guest takes the event once, then finds none.
 */
static void notify_take(uint32_t dom, uint32_t p, xenevtchn_handle *xce, int l, unsigned n,
                        uint32_t total) {
        struct xsg_evtchn_status st;
        uint32_t cnt = 0;
        int r;

        for (unsigned i = 0; i < n; i++)
                CHECK_OK(xenevtchn_notify(xce, (evtchn_port_t)l));
        status(dom, p, &st);
        CHECK(st.pending && st.count == total, "after %u notifies: %d/%u, want count %u", n,
              st.pending, st.count, total);
        r = xsg_evtchn_wait(st_guest(), dom, p, 1000, &cnt);
        CHECK(r == 0 && cnt == total, "wait: %d count %u", r, cnt);
        CHECK(xsg_evtchn_wait(st_guest(), dom, p, 0, NULL) == -EAGAIN, "event taken twice");
}

/* Notifications: seen by the guest, coalesced while pending, counted each. */
static void test_notify(uint32_t dom, xenevtchn_handle *xce) {
        struct xsg_evtchn_status st;
        struct timespec t0;
        uint32_t p, cnt = 0;
        int l, r;

        l = alloc_bind(dom, xce, &p);
        if (l <= 0)
                return;
        CHECK(xsg_evtchn_wait(st_guest(), dom, p, 0, NULL) == -EAGAIN, "event before notify");
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK(xsg_evtchn_wait(st_guest(), dom, p, 100, NULL) == -ETIMEDOUT, "timeout");
        CHECK(ms_since(&t0) >= 90, "timed out after %" PRIu64 " ms", ms_since(&t0));

        notify_take(dom, p, xce, l, 1, 1);
        /* Five before the guest looks: pending once, counted five times. */
        notify_take(dom, p, xce, l, 5, 6);

        /* A guest blocked in the wait is woken by the notify. */
        struct late a = { xce, l, 150 };
        pthread_t th;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pthread_create(&th, NULL, late_notify, &a);
        r = xsg_evtchn_wait(st_guest(), dom, p, 3000, &cnt);
        CHECK(r == 0 && cnt == 7, "blocked wait: %d count %u", r, cnt);
        CHECK(ms_since(&t0) >= 140 && ms_since(&t0) < 2500, "woken after %" PRIu64 " ms",
              ms_since(&t0));
        pthread_join(th, NULL);

        /* Introspection: the dom0 port is an interdomain one, to this guest port. */
        struct xsg_port_info pi;
        CHECK(handle_of(l, &pi) != 0, "port %d not listed", l);
        CHECK(pi.kind == XSG_PORT_INTERDOMAIN && pi.domid == dom && pi.remote_port == p &&
              pi.vcpu == -1, "port info: kind %d dom %u remote %u vcpu %d", pi.kind, pi.domid,
              pi.remote_port, pi.vcpu);

        /* Unbound: the dom0 port is gone from the handle, the guest port bindable anew. */
        CHECK_OK(xenevtchn_unbind(xce, (evtchn_port_t)l));
        CHECK_ERRNO(xenevtchn_notify(xce, (evtchn_port_t)l), ENOTCONN);
        status(dom, p, &st);
        CHECK(st.state == XSG_EVTCHN_UNBOUND && st.count == 7 && !st.pending,
              "after unbind: state %d %d/%u", st.state, st.pending, st.count);
        l = xenevtchn_bind_interdomain(xce, dom, p);
        CHECK(l > 0, "bind again: %s", strerror(errno));
        if (l <= 0)
                return;
        drain_bind_event(xce, l);
        CHECK_OK(xenevtchn_notify(xce, (evtchn_port_t)l));
        CHECK(xsg_evtchn_wait(st_guest(), dom, p, 1000, &cnt) == 0 && cnt == 8, "rebound: %u",
              cnt);

        /* The guest closes it: the dom0 port stays, bound to nothing; notify is dropped. */
        CHECK(xsg_evtchn_close(st_guest(), dom, p) == 0, "close");
        CHECK(xsg_evtchn_close(st_guest(), dom, p) == -EINVAL, "close twice");
        CHECK(xsg_evtchn_status(st_guest(), dom, p, &st) == -EINVAL, "status after close");
        CHECK_OK(xenevtchn_notify(xce, (evtchn_port_t)l));
        CHECK(handle_of(l, &pi) != 0 && pi.kind == XSG_PORT_GONE, "closed: kind %d", pi.kind);
        /* The next allocation takes the port again, with fresh counters. */
        uint32_t p2;
        CHECK(xsg_evtchn_alloc_unbound(st_guest(), dom, 0, &p2) == 0 && p2 == p, "realloc");
        status(dom, p2, &st);
        CHECK(st.state == XSG_EVTCHN_UNBOUND && !st.pending && st.count == 0, "realloc %d/%u",
              st.pending, st.count);
        CHECK_OK(xenevtchn_notify(xce, (evtchn_port_t)l));
        status(dom, p2, &st);
        CHECK(st.count == 0, "the old dom0 port reached the new guest port");
        CHECK_OK(xenevtchn_unbind(xce, (evtchn_port_t)l));
        CHECK(xsg_evtchn_close(st_guest(), dom, p2) == 0, "close");
}

/* ioreq ports and guest ports share the port space; neither takes the other's. */
static void test_ioreq_coexist(uint32_t dom) {
        struct xsg_evtchn_status st;
        struct st_srv s;
        uint32_t p;

        CHECK(xsg_evtchn_alloc_unbound(st_guest(), dom, 0, &p) == 0 && p == 3, "alloc");
        st_srv_up(&s, dom, 0xfe000000, 0xfe000fff);
        evtchn_port_t vp = s.page->vcpu_ioreq[0].vp_eport;
        CHECK(vp == p + 1, "vp_eport %u, want %u", vp, p + 1);
        CHECK(xsg_evtchn_close(st_guest(), dom, vp) == -EINVAL, "closed an ioreq port");
        CHECK(xsg_evtchn_close(st_guest(), dom, 1) == -EINVAL, "closed port 1");
        CHECK(xsg_evtchn_status(st_guest(), dom, vp, &st) == -EINVAL, "status of vp_eport");
        /* An access still reaches the server through its own port and is answered. */
        struct st_async a = { .domid = dom, .vcpu = 0,
                              .io = { .space = XSG_MMIO, .dir = XSG_READ, .addr = 0xfe000010,
                                      .size = 4, .timeout_ms = 3000 } };
        st_async_start(&a);
        int got = st_wait_port(s.xce, 3000, false);
        CHECK(got == (int)s.lport[0], "ioreq event on %d, want %u", got, s.lport[0]);
        st_srv_answer(&s, 0, 0x1234);
        CHECK(st_async_join(&a) == 0 && a.io.value == 0x1234, "access: %d value %#" PRIx64,
              a.r, a.io.value);
        status(dom, p, &st);
        CHECK(!st.pending && st.count == 0, "the ioreq traffic reached the guest port");
        st_srv_down(&s);
        status(dom, p, &st);
        CHECK(st.state == XSG_EVTCHN_UNBOUND && st.remote_domid == 0,
              "server destruction touched the guest port");
        CHECK(xsg_evtchn_close(st_guest(), dom, p) == 0, "close");
}

/* The binder's exit unbinds; the worker's sequence: restrict, bind, notify. */
static void test_exit(uint32_t dom) {
        uint32_t p, cnt;
        int wst;

        CHECK(xsg_evtchn_alloc_unbound(st_guest(), dom, 0, &p) == 0, "alloc");
        pid_t pid = fork();
        if (pid == 0) {
                /* Its own handle only: the inherited ones are the parent's connections. */
                xenevtchn_handle *x = xenevtchn_open(NULL, 0);
                int ok = x && xenevtchn_restrict(x, (domid_t)dom) == 0;
                int l = ok ? xenevtchn_bind_interdomain(x, dom, p) : -1;
                ok = ok && l > 0 && xenevtchn_bind_interdomain(x, 0, 1) == -1 && errno == EACCES;
                ok = ok && xenevtchn_notify(x, (evtchn_port_t)l) == 0;
                _exit(ok ? 0 : 1);      /* no close: the exit releases the port */
        }
        CHECK(pid > 0 && waitpid(pid, &wst, 0) == pid && WIFEXITED(wst) &&
              WEXITSTATUS(wst) == 0, "child failed");
        CHECK(xsg_evtchn_wait(st_guest(), dom, p, 1000, &cnt) == 0 && cnt == 1,
              "the child's notify");
        CHECK(wait_unbound(dom, p), "still bound after the binder's exit");
        CHECK(xsg_evtchn_close(st_guest(), dom, p) == 0, "close");
}

/* Destruction: the dom0 port stays, bound to nothing; the guest calls fail with ESRCH. */
static void test_destroy(xenevtchn_handle *xce) {
        struct xsg_evtchn_status st;
        struct xsg_port_info pi;
        uint32_t dom = st_domain("gevt-destroy", 1), p;
        int l;

        l = alloc_bind(dom, xce, &p);
        if (l <= 0)
                return;
        CHECK(xsg_domain_destroy(st_guest(), dom) == 0, "destroy");
        CHECK(xsg_evtchn_status(st_guest(), dom, p, &st) == -ESRCH, "status of a dead domain");
        CHECK(xsg_evtchn_wait(st_guest(), dom, p, 0, NULL) == -ESRCH, "wait on a dead domain");
        CHECK(xsg_evtchn_alloc_unbound(st_guest(), dom, 0, NULL) == -ESRCH, "alloc");
        CHECK(xsg_evtchn_close(st_guest(), dom, p) == -ESRCH, "close");
        CHECK_OK(xenevtchn_notify(xce, (evtchn_port_t)l));
        CHECK(handle_of(l, &pi) != 0 && pi.kind == XSG_PORT_GONE, "kind %d", pi.kind);
        CHECK_ERRNO(xenevtchn_bind_interdomain(xce, dom, p), ESRCH);
        CHECK_OK(xenevtchn_unbind(xce, (evtchn_port_t)l));
}

/* A destroyed domain kept as a zombie by a mapping: no new port (EINVAL, Xen's is_dying). */
static void test_dying(void) {
        uint32_t dom = st_domain("gevt-dying", 1), p;
        xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
        xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
        void *page = NULL;
        ioservid_t id;

        CHECK(dm && fm, "open");
        if (!dm || !fm)
                return;
        CHECK(xsg_evtchn_alloc_unbound(st_guest(), dom, 0, &p) == 0, "alloc");
        CHECK_OK(xendevicemodel_create_ioreq_server(dm, dom, 0, &id));
        xenforeignmemory_resource_handle *res = xenforeignmemory_map_resource(
                fm, dom, XENMEM_resource_ioreq_server, id, 1, 1, &page,
                PROT_READ | PROT_WRITE, 0);
        CHECK(res != NULL, "map");
        CHECK(xsg_domain_destroy(st_guest(), dom) == 0, "destroy");
        struct xsg_domain_info di;
        CHECK(xsg_domain_info(st_guest(), dom, &di) == 0 && di.state == XSG_DOMAIN_DYING,
              "not a zombie");
        CHECK(xsg_evtchn_alloc_unbound(st_guest(), dom, 0, NULL) == -EINVAL, "alloc in dying");
        CHECK(xsg_evtchn_close(st_guest(), dom, p) == -EINVAL, "close in dying");
        struct xsg_evtchn_status st;
        CHECK(xsg_evtchn_status(st_guest(), dom, p, &st) == -EINVAL, "status in dying");
        CHECK(xsg_evtchn_wait(st_guest(), dom, p, 0, NULL) == -EINVAL, "wait in dying");
        if (res)
                xenforeignmemory_unmap_resource(fm, res);
        xenforeignmemory_close(fm);
        xendevicemodel_close(dm);
}

/* xsg_irq_get logs exactly the injections that pass Xen 4.17's argument checks. */
static void test_irq_checks(void) {
        uint32_t dom = st_domain("gevt-irq", 2);
        xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
        struct xsg_irq q;
        unsigned n = 0;

        CHECK(dm != NULL, "open");
        if (!dm)
                return;
        /* set_irq_level: Arm SPIs 32..1019, level 0/1 (the uint8_t: 256 is 0). */
        CHECK_ERRNO(xendevicemodel_set_irq_level(dm, dom, 31, 1), EINVAL);
        CHECK_ERRNO(xendevicemodel_set_irq_level(dm, dom, 1020, 1), EINVAL);
        CHECK_ERRNO(xendevicemodel_set_irq_level(dm, dom, 33, 2), EINVAL);
        CHECK_OK(xendevicemodel_set_irq_level(dm, dom, 32, 1));
        CHECK_OK(xendevicemodel_set_irq_level(dm, dom, 1019, 0));
        CHECK_OK(xendevicemodel_set_irq_level(dm, dom, 43, 256));
        /* set_isa_irq_level: 0..15. */
        CHECK_ERRNO(xendevicemodel_set_isa_irq_level(dm, dom, 16, 1), EINVAL);
        CHECK_ERRNO(xendevicemodel_set_isa_irq_level(dm, dom, 7, 2), EINVAL);
        CHECK_OK(xendevicemodel_set_isa_irq_level(dm, dom, 15, 1));
        /* set_pci_intx_level: segment 0, bus 0, device < 32, intx < 4. */
        CHECK_ERRNO(xendevicemodel_set_pci_intx_level(dm, dom, 1, 0, 3, 0, 1), EINVAL);
        CHECK_ERRNO(xendevicemodel_set_pci_intx_level(dm, dom, 0, 1, 3, 0, 1), EINVAL);
        CHECK_ERRNO(xendevicemodel_set_pci_intx_level(dm, dom, 0, 0, 32, 0, 1), EINVAL);
        CHECK_ERRNO(xendevicemodel_set_pci_intx_level(dm, dom, 0, 0, 3, 4, 1), EINVAL);
        CHECK_ERRNO(xendevicemodel_set_pci_intx_level(dm, dom, 0, 0, 3, 0, 2), EINVAL);
        CHECK_OK(xendevicemodel_set_pci_intx_level(dm, dom, 0, 0, 31, 3, 1));
        /* inject_msi: vector 0 needs a positive emulated pirq; fixed/lowest-priority only. */
        CHECK_ERRNO(xendevicemodel_inject_msi(dm, dom, 0xfee00000, 0), ERANGE);
        CHECK_ERRNO(xendevicemodel_inject_msi(dm, dom, 0xfee00000, 0x241), EINVAL);
        CHECK_ERRNO(xendevicemodel_inject_msi(dm, dom, 0xfee00000, 0x441), EINVAL);
        CHECK_OK(xendevicemodel_inject_msi(dm, dom, 0xfee00000, 0x141));
        CHECK_OK(xendevicemodel_inject_msi(dm, dom, 0xfee05000, 0));
        CHECK_ERRNO(xendevicemodel_inject_msi(dm, 4321, 0xfee00000, 0x41), ESRCH);

        static const struct {
                enum xsg_irq_kind kind;
                uint64_t a, b;
        } want[] = {
                { XSG_IRQ_LEVEL, 32, 1 },       { XSG_IRQ_LEVEL, 1019, 0 },
                { XSG_IRQ_LEVEL, 43, 0 },       { XSG_IRQ_ISA, 15, 1 },
                { XSG_IRQ_PCI_INTX, 31 << 8 | 3, 1 },
                { XSG_IRQ_MSI, 0xfee00000, 0x141 }, { XSG_IRQ_MSI, 0xfee05000, 0 },
        };
        uint64_t seq = 0;
        for (n = 0; xsg_irq_get(st_guest(), dom, n, &q) == 0; n++) {
                if (n >= sizeof(want) / sizeof(want[0]))
                        continue;
                CHECK(q.kind == want[n].kind && q.a == want[n].a && q.b == want[n].b &&
                      q.seq > seq, "entry %u: kind %d a %#" PRIx64 " b %#" PRIx64, n, q.kind,
                      q.a, q.b);
                seq = q.seq;
        }
        CHECK(n == sizeof(want) / sizeof(want[0]), "%u entries logged, want %zu", n,
              sizeof(want) / sizeof(want[0]));
        xendevicemodel_close(dm);
        xsg_domain_destroy(st_guest(), dom);
}

/* Raw requests: out-of-range values and a restricted connection. */
static void test_raw(uint32_t dom) {
        struct xs_rep rep;
        int fd = st_raw_connect();

        CHECK(st_raw_call(fd, XS_OP_GEVT_ALLOC, 1ull << 40, 0, 0, &rep) == ESRCH, "domain 2^40");
        CHECK(st_raw_call(fd, XS_OP_GEVT_ALLOC, dom, 1ull << 40, 0, &rep) == EINVAL,
              "remote 2^40");
        CHECK(st_raw_call(fd, XS_OP_GEVT_ALLOC, dom, ~0ull, 0, &rep) == EINVAL, "remote ~0");
        CHECK(st_raw_call(fd, XS_OP_GEVT_CLOSE, dom, 1ull << 40, 0, &rep) == EINVAL,
              "port 2^40");
        CHECK(st_raw_call(fd, XS_OP_GEVT_CLOSE, dom, ~0ull, 0, &rep) == EINVAL, "port ~0");
        CHECK(st_raw_call(fd, XS_OP_GEVT_CLOSE, dom, 0, 0, &rep) == EINVAL, "port 0");
        CHECK(st_raw_call(fd, XS_OP_GEVT_CLOSE, 1ull << 40, 3, 0, &rep) == ESRCH,
              "close in domain 2^40");
        /* A restricted connection is no guest's kernel. */
        CHECK(st_raw_call(fd, XS_OP_DM_RESTRICT, dom, 0, 0, &rep) == 0, "restrict");
        CHECK(st_raw_call(fd, XS_OP_GEVT_ALLOC, dom, 0, 0, &rep) == EPERM, "restricted alloc");
        CHECK(st_raw_call(fd, XS_OP_GEVT_CLOSE, dom, 3, 0, &rep) == EPERM, "restricted close");
        close(fd);
}

int main(int argc, char **argv) {
        st_init(argc, argv, 90);
        xenevtchn_handle *xce = xenevtchn_open(NULL, 0);

        CHECK(xce != NULL, "open");
        if (!xce)
                return st_finish() | 1;
        uint32_t dom = st_domain("gevt", 2);
        test_bind_rules(dom, xce);
        test_notify(dom, xce);
        test_exit(dom);
        test_destroy(xce);
        test_dying();
        test_irq_checks();
        test_raw(dom);
        uint32_t dom3 = st_domain("gevt-ioreq", 1);
        test_ioreq_coexist(dom3);
        xenevtchn_close(xce);
        return st_finish();
}
