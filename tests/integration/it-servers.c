/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Server ids: Xen gives a new server the lowest free id and sends an access
 * to the enabled server with the highest id that covers it, so a server made
 * after another process's is not always above it.  The daemon's must be the
 * highest of the domain, or the registration is refused:
 *   1. the VMM's server is not at the lowest id (it made two and destroyed
 *      its first): the daemon takes id 2 above it, not the free id 0;
 *   2. a gap below a server that holds the kick address (as one left behind
 *      by an earlier daemon): the daemon climbs above it, kicks reach it;
 *   3. another process holds id 7: there is no id above it, ASSIGN is
 *      refused with EBUSY and a log line naming server 7; once that server
 *      is gone the same registration works.
 * In each case the spare servers the daemon made on the way are destroyed.
 */
#define _GNU_SOURCE 1
#define __XEN_TOOLS__ 1
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <xendevicemodel.h>

#include "itlib.h"

#define BASE    UINT64_C(0xfe000000)
#define NOTIFY  (BASE + XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY)

static xendevicemodel_handle *other;

static ioservid_t other_create(uint32_t domid) {
        ioservid_t id;

        CHECK(xendevicemodel_create_ioreq_server(other, (domid_t) domid, HVM_IOREQSRV_BUFIOREQ_OFF, &id) == 0,
              "another process's server on domain %u: %m", domid);
        return id;
}

static void other_destroy(uint32_t domid, ioservid_t id) {
        CHECK(xendevicemodel_destroy_ioreq_server(other, (domid_t) domid, id) == 0, "destroying server %u: %m", id);
}

static void other_serve(uint32_t domid, ioservid_t id, uint64_t first, uint64_t last) {
        CHECK(xendevicemodel_map_io_range_to_ioreq_server(other, (domid_t) domid, id, 1, first, last) == 0,
              "mapping 0x%llx-0x%llx to server %u: %m", (unsigned long long) first, (unsigned long long) last, id);
        CHECK(xendevicemodel_set_ioreq_server_state(other, (domid_t) domid, id, 1) == 0, "enabling server %u: %m", id);
}

/* the ids of domid's servers as a bit set */
static unsigned server_set(It *it, uint32_t domid) {
        struct xsg_server_info s[XSG_MAX_SERVERS];
        int n = it_servers(it, domid, s, XSG_MAX_SERVERS);
        unsigned set = 0;

        CHECK(n >= 0, "servers of domain %u: %s", domid, strerror(-n));
        for (int i = 0; i < n && i < (int) XSG_MAX_SERVERS; i++)
                set |= 1u << s[i].id;
        return set;
}

/* register queue 0 of the device at BASE on guest; returns the connection */
static int register_queue(It *it, const char *guest, uint32_t domid, int efd, int want_error) {
        uint32_t d = 0;
        int c = it_connect(it, guest);

        CHECK_EQ(it_hello(c, &d), 0, "HELLO error");
        CHECK_EQ(d, domid, "domid in the HELLO reply");
        CHECK_EQ(it_virtio(c, BASE, 0, false, efd), want_error, "VIRTIO_MMIO assign");
        return c;
}

/* the kick reaches the daemon: answered (a vCPU of another server would hang) and counted */
static void kick_counted(It *it, uint32_t domid, int c, int efd, unsigned server) {
        struct xirq_query_reply q;
        struct xsg_range r[4];
        int n;

        CHECK_EQ(it_query(c, &q), 0, "QUERY error");
        CHECK_EQ(q.state, XIRQ_GUEST_SERVING, "state");
        CHECK_EQ(q.server_id, server, "the daemon's server id in QUERY");
        n = it_ranges(it, domid, server, XSG_MMIO, r, 4);
        CHECK(n == 1 && r[0].start == NOTIFY && r[0].end == NOTIFY + 3, "the daemon's server maps QUEUE_NOTIFY only");
        for (int i = 0; i < 3; i++)
                CHECK_EQ(it_write(it, domid, (unsigned) i % 2, XSG_MMIO, NOTIFY, 4, 0), 0, "kick of queue 0");
        CHECK_EQ(it_efd_take(efd), 3, "kicks signalled");
        CHECK_EQ(it_query(c, &q), 0, "QUERY error");
        CHECK_EQ(q.kicks, 3, "kicks counted by the daemon");
}

int main(int argc, char **argv) {
        It it;
        uint32_t g1, g2, g3;
        ioservid_t a, b, left, ids[8];
        int c, efd;

        it_init(&it, "it-servers", argc, argv);
        it_write_global(&it, NULL);
        it_write_guest(&it, "g1", NULL);
        it_write_guest(&it, "g2", NULL);
        it_write_guest(&it, "g3", NULL);
        other = xendevicemodel_open(NULL, 0);
        CHECK(other, "opening the (simulated) devicemodel library");

        g1 = it_domain_create(&it, "g1", 2);
        g2 = it_domain_create(&it, "g2", 2);
        g3 = it_domain_create(&it, "g3", 2);
        it_daemon_start(&it, NULL);

        /* 1. the VMM holds id 1 with id 0 free, and covers the whole device window */
        a = other_create(g1);
        b = other_create(g1);
        CHECK(a == 0 && b == 1, "the VMM's servers got ids %u and %u", a, b);
        other_destroy(g1, a);
        other_serve(g1, b, BASE, BASE + 0xfff);
        efd = it_eventfd();
        c = register_queue(&it, "g1", g1, efd, 0);
        CHECK_EQ(server_set(&it, g1), (1u << 1) | (1u << 2), "servers of g1: the VMM's 1 and the daemon's 2");
        kick_counted(&it, g1, c, efd, 2);
        CHECK(it_log_contains(&it, "above server 1 of another process"), "the log names the server passed");
        close(c);
        close(efd);

        /* 2. a server left at id 2 with the kick address, ids 0 and 1 free */
        for (int i = 0; i < 3; i++)
                ids[i] = other_create(g2);
        left = ids[2];
        other_serve(g2, left, NOTIFY, NOTIFY + 3);
        other_destroy(g2, ids[0]);
        other_destroy(g2, ids[1]);
        efd = it_eventfd();
        c = register_queue(&it, "g2", g2, efd, 0);
        CHECK_EQ(server_set(&it, g2), (1u << 2) | (1u << 3), "servers of g2: the one left at 2 and the daemon's 3");
        kick_counted(&it, g2, c, efd, 3);
        close(c);
        close(efd);

        /* 3. another process holds id 7: no room above it */
        for (int i = 0; i < 8; i++)
                ids[i] = other_create(g3);
        for (int i = 0; i < 7; i++)
                other_destroy(g3, ids[i]);
        efd = it_eventfd();
        c = register_queue(&it, "g3", g3, efd, EBUSY);
        CHECK_EQ(server_set(&it, g3), 1u << 7, "servers of g3 after the refusal: only the other process's 7");
        CHECK(it_log_contains(&it, "has an ioreq server with id 7"), "the log names the server in the way");
        other_destroy(g3, ids[7]);
        CHECK_EQ(it_virtio(c, BASE, 0, false, efd), 0, "the same registration once server 7 is gone");
        CHECK_EQ(server_set(&it, g3), 1u << 0, "servers of g3: the daemon's 0");
        kick_counted(&it, g3, c, efd, 0);
        close(c);
        close(efd);

        other_destroy(g1, b);
        other_destroy(g2, left);
        xendevicemodel_close(other);
        it_fini(&it);
        return 0;
}
