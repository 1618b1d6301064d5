/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim: introspection, what a process holds on the host as a test sees it from outside. A
 * child opens devicemodel, foreignmemory and evtchn handles, restricts some (one restricted
 * and never used again), creates a server, maps its pages, binds its ports, has a map_resource
 * refused, and lets a grandchild map through the inherited foreignmemory handle; the test
 * checks xsg_handles, xsg_handle_ports, xsg_server_mappings and xsg_map_history against what
 * the child did, after the server's destruction (mappings stale, ports gone) and after the
 * child's exit (nothing held, the zombie domain freed, the history kept); then
 * xentoolcore_restrict_all, a burst of handles opened and restricted while the host is stopped
 * and queried as soon as it goes on, a process that exits while xensimd is not reading its connection, and the bound of
 * the map_resource history.
 */
#include "autoconfig.h"

#include <inttypes.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xen/memory.h>
#include <xentoolcore.h>

#include "simtest.h"
#include "xensim-shm.h"

#define NOBODY 0x7ffffff0u              /* a pid no process has */

/* What the child did, for the test to compare with the host's view. */
struct report {
        unsigned bad;                   /* bits of the child's own failed steps */
        unsigned id;                    /* its server */
        uint32_t lport[3], rport[3];    /* vCPU 0, vCPU 1, buffered: dom0 and guest ports */
        pid_t grandchild;
};

static void put(int fd, const void *p, size_t n) {
        if (write(fd, p, n) != (ssize_t)n)
                _exit(100);
}

static bool get(int fd, void *p, size_t n) {
        return read(fd, p, n) == (ssize_t)n;
}

/* The grandchild maps the server's ioreq page through its parent's handle and exits. */
static pid_t map_from_grandchild(xenforeignmemory_handle *fm, uint32_t dom, unsigned id) {
        pid_t pid = fork();
        if (pid == 0) {
                void *addr = NULL;
                xenforeignmemory_resource_handle *res = xenforeignmemory_map_resource(
                        fm, dom, XENMEM_resource_ioreq_server, id,
                        XENMEM_resource_ioreq_server_frame_ioreq(0), 1, &addr,
                        PROT_READ | PROT_WRITE, 0);
                _exit(res ? 0 : 1);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
                return -1;
        return pid;
}

/*
 * The child: sets up, reports, then on 'd' destroys its server (keeping its mappings and
 * bindings) and reports again, on 'x' exits without closing anything.
 */
static void child(int in, int out, uint32_t dom, uint32_t other) {
        struct report rep = { 0 };
        xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
        xendevicemodel_handle *idle = xendevicemodel_open(NULL, 0);
        xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
        xenevtchn_handle *xce = xenevtchn_open(NULL, 0);
        xenforeignmemory_resource_handle *res;
        shared_iopage_t *page = NULL;
        ioservid_t id;
        evtchn_port_t bufport;
        char cmd;

        if (!dm || !idle || !fm || !xce)
                _exit(10);
        if (xendevicemodel_restrict(dm, dom) < 0 || xendevicemodel_restrict(idle, dom) < 0 ||
            xenevtchn_restrict(xce, dom) < 0)
                rep.bad |= 1;
        if (xendevicemodel_create_ioreq_server(dm, dom, HVM_IOREQSRV_BUFIOREQ_ATOMIC, &id) < 0)
                _exit(11);
        rep.id = id;
        /* Frames 0 and 1: the buffered page, then the ioreq page. */
        void *addr = NULL;
        res = xenforeignmemory_map_resource(fm, dom, XENMEM_resource_ioreq_server, id,
                                            XENMEM_resource_ioreq_server_frame_bufioreq, 2,
                                            &addr, PROT_READ | PROT_WRITE, 0);
        if (!res)
                _exit(12);
        page = (shared_iopage_t *)((char *)addr + XS_PAGE_SIZE);
        /* Refused: no server 7. Refused by the restriction, not a map_resource: another domain. */
        void *none = NULL;
        if (xenforeignmemory_map_resource(fm, dom, XENMEM_resource_ioreq_server, 7,
                                          XENMEM_resource_ioreq_server_frame_ioreq(0), 1, &none,
                                          PROT_READ, 0) || errno != ENOENT)
                rep.bad |= 2;
        ioservid_t o;
        if (xendevicemodel_create_ioreq_server(dm, other, 0, &o) != -1 || errno != EPERM)
                rep.bad |= 4;
        if (xendevicemodel_set_ioreq_server_state(dm, dom, id, 1) < 0 ||
            xendevicemodel_get_ioreq_server_info(dm, dom, id, NULL, NULL, &bufport) < 0)
                _exit(13);
        rep.rport[0] = page->vcpu_ioreq[0].vp_eport;
        rep.rport[1] = page->vcpu_ioreq[1].vp_eport;
        rep.rport[2] = bufport;
        for (unsigned i = 0; i < 3; i++) {
                int l = xenevtchn_bind_interdomain(xce, dom, rep.rport[i]);
                if (l < 0)
                        _exit(14);
                rep.lport[i] = (uint32_t)l;
        }
        rep.grandchild = map_from_grandchild(fm, dom, id);
        put(out, &rep, sizeof(rep));
        while (get(in, &cmd, 1)) {
                if (cmd == 'd') {
                        rep.bad |= xendevicemodel_destroy_ioreq_server(dm, dom, id) < 0 ? 8 : 0;
                        put(out, &rep, sizeof(rep));
                } else {
                        _exit(0);       /* everything still open */
                }
        }
        _exit(0);
}

static int handles_of(uint32_t pid, struct xsg_handle_info *h, size_t n) {
        int r = xsg_handles(st_guest(), pid, h, n);
        CHECK(r >= 0, "xsg_handles(%u): %s", pid, r < 0 ? strerror(-r) : "");
        return r;
}

/* The test's own process holds only guest drivers and has never mapped anything. */
static void check_self(const char *when) {
        struct xsg_handle_info h[8];
        struct xsg_map_history m;
        int n = handles_of((uint32_t)getpid(), h, 8);

        CHECK(n >= 1 && n <= 8, "%s: own handles %d", when, n);
        for (int i = 0; i < n && i < 8; i++)
                CHECK(h[i].kind == XSG_HANDLE_GUEST && !h[i].restricted && !h[i].nr_ports &&
                      !h[i].nr_mappings, "%s: own handle %d kind %d", when, i, h[i].kind);
        CHECK(xsg_map_history(st_guest(), (uint32_t)getpid(), &m) == 0 && m.maps == 0 &&
              m.refused == 0 && m.alive == 0, "%s: own map history", when);
}

static void check_ports(uint64_t evt, uint32_t dom, const struct report *rep, bool gone) {
        struct xsg_port_info p[4];
        int n = xsg_handle_ports(st_guest(), evt, p, 4);

        CHECK(n == 3, "ports of the evtchn handle: %d", n);
        for (int i = 0; i < n && i < 3; i++) {
                CHECK(p[i].port == rep->lport[i], "port %d: %u, bound %u", i, p[i].port,
                      rep->lport[i]);
                if (gone) {
                        CHECK(p[i].kind == XSG_PORT_GONE && p[i].vcpu == -1,
                              "port %u after the server's destruction: kind %d", p[i].port,
                              p[i].kind);
                        continue;
                }
                CHECK(p[i].kind == (i < 2 ? XSG_PORT_IOREQ : XSG_PORT_BUFIOREQ) &&
                      p[i].domid == dom && p[i].remote_port == rep->rport[i] &&
                      p[i].server == rep->id && p[i].vcpu == (i < 2 ? i : -1),
                      "port %u: kind %d dom %u remote %u server %u vcpu %d", p[i].port,
                      p[i].kind, p[i].domid, p[i].remote_port, p[i].server, p[i].vcpu);
        }
}

static void check_mappings(uint32_t dom, pid_t pid, const struct report *rep, uint64_t fm,
                           bool current) {
        struct xsg_mapping_info m[4];
        int n = xsg_server_mappings(st_guest(), dom, rep->id, m, 4);

        CHECK(n == 2, "mappings of server %u: %d", rep->id, n);
        if (n != 2)
                return;
        CHECK(m[0].id < m[1].id, "mapping ids %u %u", m[0].id, m[1].id);
        CHECK(m[0].pid == (uint32_t)pid && m[0].handle == fm && m[0].server == rep->id &&
              m[0].ioreq && m[0].bufioreq && m[0].current == current,
              "the child's mapping: pid %u handle %" PRIu64 " frames %d%d current %d", m[0].pid,
              m[0].handle, m[0].ioreq, m[0].bufioreq, m[0].current);
        CHECK(m[1].pid == (uint32_t)rep->grandchild && m[1].handle == fm && m[1].ioreq &&
              !m[1].bufioreq && m[1].current == current,
              "the grandchild's mapping: pid %u (grandchild %d) handle %" PRIu64 " frames %d%d",
              m[1].pid, rep->grandchild, m[1].handle, m[1].ioreq, m[1].bufioreq);
        CHECK(xsg_server_mappings(st_guest(), dom, XSG_ANY_SERVER, NULL, 0) == 2,
              "mappings of every server");
        CHECK(xsg_server_mappings(st_guest(), dom, (rep->id + 1) % XSG_MAX_SERVERS, NULL, 0) == 0,
              "mappings of another server");
}

static void check_history(uint32_t pid, uint64_t maps, uint64_t refused, unsigned alive,
                          const char *who) {
        struct xsg_map_history m;
        int r = xsg_map_history(st_guest(), pid, &m);
        CHECK(r == 0 && m.maps == maps && m.refused == refused && m.alive == alive &&
              m.forgotten == 0,
              "%s's history: maps %" PRIu64 " refused %" PRIu64 " alive %u forgotten %" PRIu64
              ", want %" PRIu64 " %" PRIu64 " %u 0", who, m.maps, m.refused, m.alive,
              m.forgotten, maps, refused, alive);
}

static void test_child(uint32_t dom, uint32_t other) {
        struct xsg_handle_info h[8];
        struct xsg_domain_info di;
        struct report rep;
        int to[2], from[2], status = 0;
        pid_t pid;

        if (pipe(to) < 0 || pipe(from) < 0)
                st_fail_now();
        pid = fork();
        if (pid == 0) {
                close(to[1]);
                close(from[0]);
                child(to[0], from[1], dom, other);
        }
        close(to[0]);
        close(from[1]);
        if (!get(from[0], &rep, sizeof(rep))) {
                waitpid(pid, &status, 0);
                fprintf(stderr, "FAIL: the child's setup: status 0x%x\n", status);
                st_fail_now();
        }
        CHECK(rep.bad == 0, "the child's own checks: 0x%x", rep.bad);
        CHECK(rep.grandchild > 0, "the grandchild's map_resource");

        /* Its handles in opening order, as the child left them. */
        int n = handles_of((uint32_t)pid, h, 8);
        CHECK(n == 4, "the child's handles: %d", n);
        if (n != 4)
                goto out;
        for (int i = 0; i < 4; i++)
                CHECK(h[i].pid == (uint32_t)pid && (i > 0 ? h[i].id > h[i - 1].id : true),
                      "handle %d: pid %u id %" PRIu64, i, h[i].pid, h[i].id);
        CHECK(h[0].kind == XSG_HANDLE_DEVICEMODEL && h[0].restricted &&
              h[0].restrict_domid == dom && h[0].last_pid == (uint32_t)pid && !h[0].nr_ports &&
              !h[0].nr_mappings, "devicemodel: kind %d restricted %d to %u", h[0].kind,
              h[0].restricted, h[0].restrict_domid);
        /* Restricted, then never used: the host knows at once. */
        CHECK(h[1].kind == XSG_HANDLE_DEVICEMODEL && h[1].restricted &&
              h[1].restrict_domid == dom, "idle devicemodel: kind %d restricted %d to %u",
              h[1].kind, h[1].restricted, h[1].restrict_domid);
        /* Used last by the grandchild, which mapped through it and exited. */
        CHECK(h[2].kind == XSG_HANDLE_FOREIGNMEMORY && !h[2].restricted &&
              h[2].nr_mappings == 2 && h[2].nr_map_calls == 2 &&
              h[2].last_pid == (uint32_t)rep.grandchild,
              "foreignmemory: kind %d restricted %d mappings %u calls %u last %u", h[2].kind,
              h[2].restricted, h[2].nr_mappings, h[2].nr_map_calls, h[2].last_pid);
        CHECK(h[3].kind == XSG_HANDLE_EVTCHN && h[3].restricted && h[3].restrict_domid == dom &&
              h[3].nr_ports == 3 && !h[3].nr_mappings,
              "evtchn: kind %d restricted %d to %u ports %u", h[3].kind, h[3].restricted,
              h[3].restrict_domid, h[3].nr_ports);
        CHECK(xsg_handle_ports(st_guest(), h[0].id, NULL, 0) == 0, "ports of a devicemodel");
        check_ports(h[3].id, dom, &rep, false);
        check_mappings(dom, pid, &rep, h[2].id, true);
        CHECK(xsg_server_mappings(st_guest(), other, XSG_ANY_SERVER, NULL, 0) == 0,
              "mappings of the other domain");
        /* The grandchild's handle, found by its last user. */
        struct xsg_handle_info gh[2];
        CHECK(handles_of((uint32_t)rep.grandchild, gh, 2) == 1 && gh[0].id == h[2].id,
              "the grandchild's handles");
        check_history((uint32_t)pid, 1, 1, 1, "the child");
        check_history((uint32_t)rep.grandchild, 1, 0, 1, "the grandchild");
        check_self("with the child");

        /* The server destroyed: the mappings keep the old pages, the ports lead nowhere. */
        CHECK(write(to[1], "d", 1) == 1 && get(from[0], &rep, sizeof(rep)) && rep.bad == 0,
              "the child's destruction of its server");
        check_ports(h[3].id, dom, &rep, true);
        check_mappings(dom, pid, &rep, h[2].id, false);
        CHECK(handles_of((uint32_t)pid, h, 8) == 4 && h[3].nr_ports == 3,
              "ports still bound after the destruction");

        /* The domain destroyed while mapped: a zombie until the child is gone. */
        CHECK(xsg_domain_destroy(st_guest(), dom) == 0, "destroy the mapped domain");
        CHECK(xsg_domain_info(st_guest(), dom, &di) == 0 && di.state == XSG_DOMAIN_DYING,
              "the mapped domain is a zombie");
        CHECK(xsg_server_mappings(st_guest(), dom, XSG_ANY_SERVER, NULL, 0) == 2,
              "the zombie's mappings");
out:
        /* Exit without closing anything: at the next answer the host shows nothing held. */
        CHECK(write(to[1], "x", 1) == 1, "tell the child to exit");
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
        CHECK(handles_of((uint32_t)pid, h, 8) == 0, "the exited child's handles");
        CHECK(handles_of((uint32_t)rep.grandchild, h, 8) == 0, "the grandchild's handles");
        CHECK(xsg_domain_info(st_guest(), dom, &di) == -ESRCH, "the zombie freed");
        CHECK(xsg_server_mappings(st_guest(), dom, XSG_ANY_SERVER, NULL, 0) == -ESRCH,
              "mappings of the freed domain");
        n = xsg_handles(st_guest(), 0, NULL, 0);
        CHECK(n >= 1 && n <= 8, "handles left on the host: %d", n);
        check_history((uint32_t)pid, 1, 1, 0, "the exited child");
        check_history((uint32_t)rep.grandchild, 1, 0, 0, "the exited grandchild");
        check_self("after the child");
        close(to[1]);
        close(from[0]);
}

/* xentoolcore_restrict_all shows in every handle; introspection is refused to them. */
static void test_restrict_all(uint32_t dom) {
        struct xsg_handle_info h[8];
        int to[2], from[2], status = 0;
        char c;
        pid_t pid;

        if (pipe(to) < 0 || pipe(from) < 0)
                st_fail_now();
        pid = fork();
        if (pid == 0) {
                xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
                xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
                xenevtchn_handle *xce = xenevtchn_open(NULL, 0);
                if (!dm || !fm || !xce || xentoolcore_restrict_all(dom) != 0)
                        _exit(1);
                put(from[1], "r", 1);
                get(to[0], &c, 1);
                _exit(0);
        }
        close(to[0]);
        close(from[1]);
        CHECK(get(from[0], &c, 1), "restrict_all in the child");
        int n = handles_of((uint32_t)pid, h, 8);
        CHECK(n == 3, "handles after restrict_all: %d", n);
        for (int i = 0; i < n && i < 8; i++)
                CHECK(h[i].restricted && h[i].restrict_domid == dom &&
                      h[i].kind == (enum xsg_handle_kind)(XSG_HANDLE_DEVICEMODEL + i),
                      "handle %d: kind %d restricted %d to %u", i, h[i].kind, h[i].restricted,
                      h[i].restrict_domid);
        check_history((uint32_t)pid, 0, 0, 0, "a process that mapped nothing");
        CHECK(write(to[1], "x", 1) == 1, "release the child");
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
        CHECK(handles_of((uint32_t)pid, h, 8) == 0, "handles after its exit");
        close(to[1]);
        close(from[0]);
}

/*
 * Opening a devicemodel or foreignmemory handle and restricting one send xensimd a message
 * without waiting for it, as Linux's open and ioctl ask Xen nothing. While the host is
 * stopped, a child opens many handles, restricts them (each on its own, and by
 * xentoolcore_restrict_all), opens more that it never uses, and tells the test through a pipe;
 * the test lets the host go on and asks at once: the answer already shows each handle with its
 * kind and restriction, although none was accepted or read yet (xensimd accepts and serves
 * what is queued on every connection before it answers).
 */
static void test_unused(uint32_t dom) {
        enum { K = 24, N = 1 + 3 * K };
        struct xsg_handle_info *h = calloc(N + 1, sizeof(*h));
        int to[2], from[2], status = 0;
        char c;
        pid_t pid;

        if (!h || pipe(to) < 0 || pipe(from) < 0)
                st_fail_now();
        pid = fork();
        if (pid == 0) {
                /* Opening an evtchn handle waits for its eventfd: before the host stops. */
                xenevtchn_handle *xce = xenevtchn_open(NULL, 0);
                bool ok = xce != NULL;
                put(from[1], "e", 1);
                get(to[0], &c, 1);
                for (int i = 0; i < K && ok; i++) {
                        xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
                        xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
                        ok = dm && fm && (i % 2 || (xendevicemodel_restrict(dm, dom) == 0 &&
                                                    xenforeignmemory_restrict(fm, dom) == 0));
                }
                ok = ok && xentoolcore_restrict_all(dom) == 0;
                for (int i = 0; i < K && ok; i++)
                        ok = xendevicemodel_open(NULL, 0) != NULL;
                put(from[1], ok ? "r" : "!", 1);
                get(to[0], &c, 1);
                _exit(0);
        }
        close(to[0]);
        close(from[1]);
        CHECK(get(from[0], &c, 1) && c == 'e', "the child's evtchn handle");
        st_host_stop(true);
        CHECK(write(to[1], "b", 1) == 1, "start the burst");
        CHECK(get(from[0], &c, 1) && c == 'r', "the child's burst");
        st_host_stop(false);
        int n = handles_of((uint32_t)pid, h, N + 1);
        CHECK(n == N, "handles after the burst: %d, want %d", n, N);
        for (int i = 0; i < n && i < N; i++) {
                enum xsg_handle_kind kind = i == 0      ? XSG_HANDLE_EVTCHN
                                            : i > 2 * K ? XSG_HANDLE_DEVICEMODEL
                                            : i % 2     ? XSG_HANDLE_DEVICEMODEL
                                                        : XSG_HANDLE_FOREIGNMEMORY;
                bool restricted = i <= 2 * K;
                CHECK(h[i].kind == kind && h[i].restricted == restricted &&
                      (!restricted || h[i].restrict_domid == dom) && h[i].pid == (uint32_t)pid,
                      "handle %d: kind %d restricted %d to %u, want kind %d restricted %d", i,
                      h[i].kind, h[i].restricted, h[i].restrict_domid, kind, restricted);
        }
        CHECK(write(to[1], "x", 1) == 1, "release the child");
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
        CHECK(handles_of((uint32_t)pid, h, N + 1) == 0, "handles after its exit");
        close(to[1]);
        close(from[0]);
        free(h);
}

/*
 * A process exits while xensimd does not read its connection (a poweroff it asked for waits
 * for the domain's destruction): the next introspection answer already shows nothing held.
 */
static void test_exit_while_deferred(void) {
        uint32_t dom = st_domain("reap", 1), victim = st_domain("victim", 1);
        struct xsg_handle_info h[4];
        struct xsg_domain_info di;
        int status = 0;
        pid_t pid = fork();

        if (pid == 0) {
                struct xs_req req = { .magic = XS_PROTO_MAGIC, .version = XS_PROTO_VERSION,
                                      .op = XS_OP_DOM_POWEROFF, .a = { victim } };
                struct xs_rep rep;
                int fd = st_raw_connect();
                if (st_raw_call(fd, XS_OP_DM_CREATE, dom, 0, 0, &rep) != 0)
                        _exit(1);
                uint64_t a[5] = { dom, XENMEM_resource_ioreq_server, rep.val[0],
                                  XENMEM_resource_ioreq_server_frame_ioreq(0), 1 };
                if (st_raw_request(fd, XS_OP_FM_MAP, a, 5, &rep) != 0)
                        _exit(2);
                /* Not waiting for the answer: it comes once the domain is destroyed. */
                if (send(fd, &req, sizeof(req), MSG_NOSIGNAL) != sizeof(req))
                        _exit(3);
                _exit(0);
        }
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
        CHECK(xsg_server_mappings(st_guest(), dom, XSG_ANY_SERVER, NULL, 0) == 0,
              "mappings of a process that exited while waiting");
        CHECK(handles_of((uint32_t)pid, h, 4) == 0, "its handles");
        check_history((uint32_t)pid, 1, 0, 0, "a process that exited while waiting");
        /* The poweroff it asked for still happens; its answer goes nowhere. */
        CHECK(xsg_domain_poweroff(st_guest(), victim) == 0, "poweroff");
        CHECK(xsg_domain_info(st_guest(), victim, &di) == -ESRCH, "the powered-off domain");
        CHECK(xsg_domain_destroy(st_guest(), dom) == 0, "destroy");
}

/*
 * The history keeps XSG_MAP_HISTORY processes: each of that many more children has one
 * map_resource refused; the oldest records are dropped and counted.
 */
static void test_history_bound(uint32_t dom) {
        enum { N = XSG_MAP_HISTORY + 8 };
        struct xsg_map_history m;
        pid_t *pids = calloc(N, sizeof(*pids));
        uint64_t before;
        int status;

        CHECK(xsg_map_history(st_guest(), NOBODY, &m) == 0 && m.maps == 0 && m.refused == 0,
              "history of a pid nobody has");
        before = m.forgotten;
        for (int i = 0; i < N && pids; i++) {
                pids[i] = fork();
                if (pids[i] == 0) {
                        xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
                        void *addr = NULL;
                        if (!fm || xenforeignmemory_map_resource(
                                           fm, dom, XENMEM_resource_ioreq_server, 5,
                                           XENMEM_resource_ioreq_server_frame_ioreq(0), 1,
                                           &addr, PROT_READ, 0) ||
                            errno != ENOENT)
                                _exit(1);
                        _exit(0);
                }
                status = 0;
                waitpid(pids[i], &status, 0);
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        CHECK(0, "history child %d status 0x%x", i, status);
                        break;
                }
        }
        if (!pids || status)
                return;
        CHECK(xsg_map_history(st_guest(), (uint32_t)pids[N - 1], &m) == 0 && m.refused == 1 &&
              m.maps == 0, "the newest record");
        /*
         * Before these, the host had 3 records (the child and the grandchild of test_child,
         * the child of test_exit_while_deferred): they and the 8 oldest children are dropped.
         */
        CHECK(m.forgotten == before + 11, "forgotten %" PRIu64 ", want %" PRIu64, m.forgotten,
              before + 11);
        CHECK(xsg_map_history(st_guest(), (uint32_t)pids[7], &m) == 0 && m.refused == 0,
              "the record of the 8th child dropped");
        CHECK(xsg_map_history(st_guest(), (uint32_t)pids[8], &m) == 0 && m.refused == 1,
              "the record of the 9th child kept");
        free(pids);
}

int main(int argc, char **argv) {
        st_init(argc, argv, 120);
        uint32_t dom = st_domain("intro", 2), other = st_domain("other", 1);
        int r;

        check_self("at start");
        CHECK((r = xsg_handle_ports(st_guest(), 1u << 30, NULL, 0)) == -ENOENT,
              "ports of no handle: %d", r);
        CHECK((r = xsg_server_mappings(st_guest(), dom, XSG_MAX_SERVERS, NULL, 0)) == -EINVAL,
              "mappings of server 8: %d", r);
        CHECK((r = xsg_server_mappings(st_guest(), 7777, XSG_ANY_SERVER, NULL, 0)) == -ESRCH,
              "mappings of no domain: %d", r);
        CHECK((r = xsg_map_history(st_guest(), 0, &(struct xsg_map_history){ 0 })) == -EINVAL,
              "history of pid 0: %d", r);
        CHECK(xsg_handles(st_guest(), NOBODY, NULL, 0) == 0, "handles of a pid nobody has");

        test_child(dom, other);
        test_restrict_all(other);
        test_unused(other);
        test_exit_while_deferred();
        test_history_bound(other);
        return st_finish();
}
