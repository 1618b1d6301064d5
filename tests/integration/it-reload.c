/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SIGHUP: guests added, removed and changed without disturbing the others
 * (their connections, registrations and kicks go on), RELOADING=1 … READY=1;
 * a bad new configuration is rejected whole, with file:line in the log, and
 * the old one keeps running.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itlib.h"

#define BASE    UINT64_C(0xfe000000)
#define NOTIFY  XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY

static It it;

static void reload(const char *what) {
        it_daemon_signal(&it, SIGHUP);
        if (!it_wait_note(&it, "RELOADING=1", IT_TIMEOUT_MS))
                IT_FAIL("%s: no RELOADING=1 after SIGHUP", what);
        if (!it_wait_note(&it, "READY=1", IT_TIMEOUT_MS))
                IT_FAIL("%s: no READY=1 after the reload", what);
}

static bool socket_exists(const char *guest) {
        char path[300];
        struct stat st;

        it_socket_path(&it, guest, path, sizeof path);
        return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

int main(int argc, char **argv) {
        struct xirq_query_reply q;
        uint32_t d1, d2, d3;
        int c1, c2, c3, e1, e2, e3, e4;

        it_init(&it, "it-reload", argc, argv);
        it_write_global(&it, NULL);
        it_write_guest(&it, "g1", NULL);
        it_write_guest(&it, "g2", NULL);
        d1 = it_domain_create(&it, "g1", 1);
        d2 = it_domain_create(&it, "g2", 1);
        d3 = it_domain_create(&it, "g3", 1);
        it_daemon_start(&it, NULL);
        CHECK(!socket_exists("g3"), "no socket for an unconfigured guest");

        c1 = it_connect(&it, "g1");
        CHECK_EQ(it_hello(c1, NULL), 0, "HELLO g1");
        e1 = it_eventfd();
        CHECK_EQ(it_virtio(c1, BASE, 0, false, e1), 0, "register on g1");
        c2 = it_connect(&it, "g2");
        CHECK_EQ(it_hello(c2, NULL), 0, "HELLO g2");
        e2 = it_eventfd();
        CHECK_EQ(it_virtio(c2, BASE, 0, false, e2), 0, "register on g2");

        /* remove g2, add g3, give g1 a registration limit of 1 */
        it_remove_guest(&it, "g2");
        it_write_guest(&it, "g3", NULL);
        it_write_guest(&it, "g1", "max_client_registrations = 1\n");
        reload("remove g2, add g3, change g1");

        CHECK(it_closed(c2, IT_TIMEOUT_MS), "g2's connection closed when g2 was removed");
        CHECK(!socket_exists("g2"), "g2's socket removed");
        CHECK(socket_exists("g3"), "g3's socket created");
        {
                struct xsg_server_info s[XSG_MAX_SERVERS];

                CHECK_EQ(it_servers(&it, d2, s, XSG_MAX_SERVERS), 0, "g2's server destroyed");
        }

        /* g1 undisturbed: same connection, same registration, new limit for new registrations */
        CHECK_EQ(it_write(&it, d1, 0, XSG_MMIO, BASE + NOTIFY, 4, 0), 0, "kick on g1 after the reload");
        CHECK_EQ(it_efd_take(e1), 1, "g1's kick after the reload");
        e4 = it_eventfd();
        CHECK_EQ(it_virtio(c1, BASE, 1, false, e4), ENOSPC, "second registration under the new limit of 1");
        CHECK_EQ(it_query(c1, &q), 0, "QUERY g1");
        CHECK_EQ(q.kicks, 1, "g1's counters kept across the reload");

        /* g3 serves */
        c3 = it_connect(&it, "g3");
        CHECK_EQ(it_hello(c3, NULL), 0, "HELLO g3");
        e3 = it_eventfd();
        CHECK_EQ(it_virtio(c3, BASE, 0, false, e3), 0, "register on g3");
        CHECK_EQ(it_write(&it, d3, 0, XSG_MMIO, BASE + NOTIFY, 4, 0), 0, "kick on g3");
        CHECK_EQ(it_efd_take(e3), 1, "g3's kick");

        /* a bad guest file: everything rejected, g2 not re-added, nothing else touched */
        it_write_guest(&it, "g2", NULL);
        it_write_guest(&it, "g4", "max_connections = 99999\n");
        reload("bad guest file");
        CHECK(it_log_contains(&it, "g4.conf:3"), "the log names the bad file and line");
        CHECK(!socket_exists("g2") && !socket_exists("g4"), "no guest added from a rejected config");
        CHECK_EQ(it_write(&it, d1, 0, XSG_MMIO, BASE + NOTIFY, 4, 0), 0, "kick on g1 after the rejected reload");
        CHECK_EQ(it_efd_take(e1), 1, "g1's kick after the rejected reload");
        CHECK_EQ(it_write(&it, d3, 0, XSG_MMIO, BASE + NOTIFY, 4, 0), 0, "kick on g3 after the rejected reload");
        CHECK_EQ(it_efd_take(e3), 1, "g3's kick after the rejected reload");

        /* a bad global file: same */
        it_remove_guest(&it, "g4");
        it_write_global(&it, "[daemon]\nmax_guests = 0\n");
        reload("bad global file");
        CHECK(it_log_contains(&it, "xen-ioreqd.conf:7"), "the log names the bad global line");
        CHECK(!socket_exists("g2"), "g2 still not added");
        CHECK(socket_exists("g1") && socket_exists("g3"), "g1 and g3 still listen");

        /* fixed: g2 comes back, and its domain is found at once */
        it_write_global(&it, NULL);
        reload("fixed config");
        CHECK(socket_exists("g2"), "g2 added once the config is valid");
        c2 = it_connect(&it, "g2");
        {
                uint32_t domid;

                CHECK_EQ(it_hello(c2, &domid), 0, "HELLO g2");
                CHECK_EQ(domid, d2, "g2's domid right after being added");
        }
        CHECK_EQ(it_virtio(c2, BASE, 0, false, e2), 0, "register on g2 again");
        CHECK_EQ(it_write(&it, d2, 0, XSG_MMIO, BASE + NOTIFY, 4, 0), 0, "kick on g2");
        CHECK_EQ(it_efd_take(e2), 1, "g2's kick");
        CHECK(!it_closed(c1, 100), "g1's connection survived every reload");

        it_daemon_signal(&it, SIGTERM);
        CHECK_EQ(it_daemon_wait(&it, IT_TIMEOUT_MS), 0, "exit status");
        close(c1);
        close(c2);
        close(c3);
        it_fini(&it);
        return 0;
}
