/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Registration and kicks end to end: two guests (one started before the
 * daemon, one after), several vCPUs, every match mode and both address
 * spaces, exact counts on the eventfds and in QUERY; coexistence with a
 * VMM's ioreq server created earlier (the daemon's gets the higher id and
 * only the registered ranges); a clean stop on SIGTERM.
 */
#define _GNU_SOURCE 1
#define __XEN_TOOLS__ 1
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xendevicemodel.h>

#include "itlib.h"

#define BASE1   UINT64_C(0xfe000000)
#define BASE2   UINT64_C(0xfe100000)
#define EXACT   UINT64_C(0xfe001000)
#define PIOADDR UINT64_C(0x7000)
#define NOTIFY  XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY

static void kick(It *it, uint32_t domid, unsigned vcpu, uint64_t addr, unsigned size, uint64_t value, int space) {
        int r = it_write(it, domid, vcpu, space, addr, size, value);

        if (r < 0)
                IT_FAIL("write 0x%llx (size %u, value 0x%llx) from vCPU %u of domain %u: %s", (unsigned long long) addr,
                        size, (unsigned long long) value, vcpu, domid, strerror(-r));
}

int main(int argc, char **argv) {
        It it;
        xendevicemodel_handle *vmm;
        ioservid_t vmm_id;
        struct xsg_server_info servers[XSG_MAX_SERVERS];
        struct xsg_range ranges[8];
        struct xirq_query_reply q;
        uint32_t g1, g2, domid;
        int c1, c2, efd[3], exact_fd, pio_fd, g2fd, n, daemon_server = -1;
        uint64_t v;
        char path[300];
        struct stat st;

        it_init(&it, "it-kicks", argc, argv);
        it_write_global(&it, NULL);
        it_write_guest(&it, "g1", NULL);
        it_write_guest(&it, "g2", NULL);

        /* g1 runs before the daemon starts, with its VMM's server covering the whole device page */
        g1 = it_domain_create(&it, "g1", 2);
        vmm = xendevicemodel_open(NULL, 0);
        CHECK(vmm, "opening the (simulated) devicemodel library");
        CHECK(xendevicemodel_create_ioreq_server(vmm, (domid_t) g1, HVM_IOREQSRV_BUFIOREQ_OFF, &vmm_id) == 0,
              "creating the VMM's server: %m");
        CHECK(xendevicemodel_map_io_range_to_ioreq_server(vmm, (domid_t) g1, vmm_id, 1, BASE1, BASE1 + 0xfff) == 0,
              "mapping the VMM's range: %m");
        CHECK(xendevicemodel_set_ioreq_server_state(vmm, (domid_t) g1, vmm_id, 1) == 0, "enabling the VMM's server");

        it_daemon_start(&it, NULL);

        /* no server before the first registration */
        CHECK_EQ(it_servers(&it, g1, servers, XSG_MAX_SERVERS), 1, "servers of g1 before any registration");

        c1 = it_connect(&it, "g1");
        CHECK_EQ(it_hello(c1, &domid), 0, "HELLO error");
        CHECK_EQ(domid, g1, "domid in the HELLO reply");
        for (int i = 0; i < 3; i++) {
                efd[i] = it_eventfd();
                CHECK_EQ(it_virtio(c1, BASE1, (uint16_t) i, false, efd[i]), 0, "VIRTIO_MMIO assign");
        }
        exact_fd = it_eventfd();
        CHECK_EQ(it_assign(c1, XIRQ_SPACE_MMIO, 2, XIRQ_MATCH_EXACT, EXACT, 0x1234, 0, exact_fd), 0, "EXACT assign");
        pio_fd = it_eventfd();
        CHECK_EQ(it_assign(c1, XIRQ_SPACE_PIO, 4, XIRQ_MATCH_ANY, PIOADDR, 0, 0, pio_fd), 0, "PIO ANY assign");

        /* the daemon's server: after the VMM's, so a higher id; only the registered ranges */
        n = it_servers(&it, g1, servers, XSG_MAX_SERVERS);
        CHECK_EQ(n, 2, "servers of g1 once registered");
        for (int i = 0; i < n; i++)
                if (servers[i].id != vmm_id)
                        daemon_server = (int) servers[i].id;
        CHECK(daemon_server > (int) vmm_id, "daemon server id %d, VMM id %u", daemon_server, vmm_id);
        for (int i = 0; i < n; i++)
                if ((int) servers[i].id == daemon_server)
                        CHECK(servers[i].enabled && servers[i].bound_port[0] && servers[i].bound_port[1],
                              "the daemon's server is enabled and both vCPUs are bound");
        n = it_ranges(&it, g1, (unsigned) daemon_server, XSG_MMIO, ranges, 8);
        CHECK_EQ(n, 2, "MMIO ranges of the daemon's server (QUEUE_NOTIFY and the EXACT one)");
        for (int i = 0; i < n; i++)
                CHECK((ranges[i].start == BASE1 + NOTIFY && ranges[i].end == BASE1 + NOTIFY + 3) ||
                              (ranges[i].start == EXACT && ranges[i].end == EXACT + 1),
                      "unexpected range 0x%llx-0x%llx", (unsigned long long) ranges[i].start,
                      (unsigned long long) ranges[i].end);
        n = it_ranges(&it, g1, (unsigned) daemon_server, XSG_PIO, ranges, 8);
        CHECK(n == 1 && ranges[0].start == PIOADDR && ranges[0].end == PIOADDR + 3, "the PIO range");

        /* kicks from both vCPUs */
        for (int i = 0; i < 3; i++)
                kick(&it, g1, 0, BASE1 + NOTIFY, 4, 0, XSG_MMIO);
        for (int i = 0; i < 2; i++)
                kick(&it, g1, 0, BASE1 + NOTIFY, 4, 1, XSG_MMIO);
        for (int i = 0; i < 4; i++)
                kick(&it, g1, 1, BASE1 + NOTIFY, 4, 2, XSG_MMIO);
        kick(&it, g1, 1, BASE1 + NOTIFY, 4, 0, XSG_MMIO);
        /* NOTIFICATION_DATA: the queue in the low 16 bits, more above */
        kick(&it, g1, 1, BASE1 + NOTIFY, 4, 0x00050001, XSG_MMIO);
        kick(&it, g1, 0, EXACT, 2, 0x1234, XSG_MMIO);
        kick(&it, g1, 1, PIOADDR, 4, 0xdeadbeef, XSG_PIO);
        kick(&it, g1, 0, PIOADDR, 4, 0, XSG_PIO);

        /* matched nothing: another queue, another value, a narrower access inside the range */
        kick(&it, g1, 0, BASE1 + NOTIFY, 4, 7, XSG_MMIO);
        kick(&it, g1, 1, EXACT, 2, 0x1235, XSG_MMIO);
        kick(&it, g1, 0, BASE1 + NOTIFY, 2, 0, XSG_MMIO);

        /* a read of a registered address: 0 from the daemon, not all-ones */
        v = 0x55;
        CHECK_EQ(it_read(&it, g1, 1, XSG_MMIO, BASE1 + NOTIFY, 4, &v), 0, "read of QUEUE_NOTIFY");
        CHECK_EQ(v, 0, "value read from a registered address");

        CHECK_EQ(it_efd_take(efd[0]), 4, "kicks of queue 0");
        CHECK_EQ(it_efd_take(efd[1]), 3, "kicks of queue 1");
        CHECK_EQ(it_efd_take(efd[2]), 4, "kicks of queue 2");
        CHECK_EQ(it_efd_take(exact_fd), 1, "kicks of the EXACT registration");
        CHECK_EQ(it_efd_take(pio_fd), 2, "kicks of the PIO registration");

        CHECK_EQ(it_query(c1, &q), 0, "QUERY error");
        CHECK_EQ(q.state, XIRQ_GUEST_SERVING, "state");
        CHECK_EQ(q.domid, g1, "domid");
        CHECK_EQ(q.server_id, daemon_server, "server id");
        CHECK_EQ(q.nr_vcpus, 2, "nr_vcpus");
        CHECK_EQ(q.registrations, 5, "registrations");
        CHECK_EQ(q.client_registrations, 5, "client registrations");
        CHECK_EQ(q.kicks, 14, "kicks");
        CHECK_EQ(q.unmatched, 3, "unmatched");
        CHECK_EQ(q.reads, 1, "reads");
        CHECK_EQ(q.invalid, 0, "invalid");

        /* g2 appears while the daemon runs, with 4 vCPUs */
        g2 = it_domain_create(&it, "g2", 4);
        c2 = it_connect(&it, "g2");
        CHECK_EQ(it_hello(c2, &domid), 0, "HELLO error on g2");
        if (domid != g2) {
                /* the domain may still be on its way through xenstore: ask again */
                for (int i = 0; i < 100 && domid != g2; i++) {
                        usleep(10000);
                        CHECK_EQ(it_query(c2, &q), 0, "QUERY on g2");
                        domid = q.domid;
                }
        }
        CHECK_EQ(domid, g2, "g2's domid as the daemon knows it");
        g2fd = it_eventfd();
        CHECK_EQ(it_virtio(c2, BASE2, 0, false, g2fd), 0, "VIRTIO_MMIO assign on g2");
        for (unsigned vcpu = 0; vcpu < 4; vcpu++)
                for (int i = 0; i < 5; i++)
                        kick(&it, g2, vcpu, BASE2 + NOTIFY, 4, 0, XSG_MMIO);
        CHECK_EQ(it_efd_take(g2fd), 20, "kicks of g2's queue from 4 vCPUs");

        /* all 4 vCPUs at once */
        {
                uint32_t doms[1] = { g2 };
                struct xsg_load_opts o = {
                        .domids = doms, .nr_domids = 1, .vcpus = 4, .count = 4000,
                        .space = XSG_MMIO, .dir = XSG_WRITE, .addr = BASE2 + NOTIFY, .size = 4, .data = 0,
                        .timeout_ms = IT_TIMEOUT_MS,
                };
                struct xsg_load_result res;
                int r = xsg_load(it.xsg, &o, &res);

                CHECK(r == 0, "xsg_load: %s", strerror(-r));
                CHECK_EQ(res.errors, 0, "accesses that failed or hung under load");
                CHECK_EQ(res.count, 4000, "accesses completed under load");
        }
        CHECK_EQ(it_efd_take(g2fd), 4000, "kicks delivered under load");
        CHECK_EQ(it_efd_take(efd[0]) + it_efd_take(efd[1]) + it_efd_take(efd[2]), 0, "g1's queues untouched by g2");

        /* a deassign unmaps a range nobody else uses */
        CHECK_EQ(it_deassign(c1, XIRQ_SPACE_PIO, 4, XIRQ_MATCH_ANY, PIOADDR, 0, 0), 0, "PIO deassign");
        CHECK_EQ(it_ranges(&it, g1, (unsigned) daemon_server, XSG_PIO, ranges, 8), 0, "PIO ranges after deassign");
        /* the PIO address now reaches no server: the write is dropped, nothing counted */
        kick(&it, g1, 0, PIOADDR, 4, 1, XSG_PIO);
        CHECK_EQ(it_efd_take(pio_fd), 0, "kicks after deassign");

        /* SIGTERM: STOPPING=1, servers destroyed, sockets removed, exit 0 */
        it_daemon_signal(&it, SIGTERM);
        CHECK(it_wait_note(&it, "STOPPING=1", IT_TIMEOUT_MS), "STOPPING=1 after SIGTERM");
        CHECK_EQ(it_daemon_wait(&it, IT_TIMEOUT_MS), 0, "exit status after SIGTERM");
        CHECK_EQ(it_servers(&it, g1, servers, XSG_MAX_SERVERS), 1, "servers of g1 after the stop (the VMM's)");
        CHECK_EQ(servers[0].id, vmm_id, "the VMM's server is the one left");
        CHECK_EQ(it_servers(&it, g2, servers, XSG_MAX_SERVERS), 0, "servers of g2 after the stop");
        it_socket_path(&it, "g1", path, sizeof path);
        CHECK(lstat(path, &st) < 0 && errno == ENOENT, "g1's socket removed on exit");
        CHECK(it_closed(c1, IT_TIMEOUT_MS), "g1's connection closed on exit");
        close(c1);
        close(c2);

        xendevicemodel_destroy_ioreq_server(vmm, (domid_t) g1, vmm_id);
        xendevicemodel_close(vmm);
        it_fini(&it);
        return 0;
}
