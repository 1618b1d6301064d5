/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Socket activation: a SOCK_SEQPACKET socket passed by the service manager
 * (LISTEN_FDS) for a guest's configured path is used as is (not re-created)
 * and left in place on exit; guests without a passed socket create theirs
 * (and their directory); a guest whose path holds something else is left
 * out, the others are served.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "itlib.h"

#define BASE    UINT64_C(0xfe000000)
#define NOTIFY  XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY

int main(int argc, char **argv) {
        It it;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat before, after;
        char path[300], path2[300];
        uint32_t dom;
        int lfd, c, efd;

        it_init(&it, "it-activation", argc, argv);
        it_write_global(&it, NULL);
        it_write_guest(&it, "g1", NULL);
        it_write_guest(&it, "g2", NULL);
        dom = it_domain_create(&it, "g1", 1);
        {
                char text[400];
                FILE *f;

                snprintf(text, sizeof text, "socket = %s/newdir/g3.sock\n", it.dir);
                it_write_guest(&it, "g3", text);
                snprintf(text, sizeof text, "socket = %s/not-a-socket\n", it.dir);
                it_write_guest(&it, "g4", text);
                snprintf(text, sizeof text, "%s/not-a-socket", it.dir);
                f = fopen(text, "w");
                CHECK(f && fclose(f) == 0, "creating %s", text);
        }

        /* what systemd would do for ListenSequentialPacket=…/g1.sock with SocketMode=0600 */
        it_socket_path(&it, "g1", path, sizeof path);
        CHECK(strlen(path) < sizeof sa.sun_path, "socket path fits");
        memcpy(sa.sun_path, path, strlen(path) + 1);
        lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        CHECK(lfd >= 0, "socket: %m");
        CHECK(bind(lfd, (struct sockaddr *) &sa, sizeof sa) == 0, "bind %s: %m", path);
        CHECK(chmod(path, 0600) == 0, "chmod");
        CHECK(listen(lfd, 16) == 0, "listen");
        CHECK(stat(path, &before) == 0, "stat");

        it.pass_fd = lfd;
        it_daemon_start(&it, NULL);
        close(lfd);
        it.pass_fd = -1;

        CHECK(stat(path, &after) == 0, "stat after start");
        CHECK(before.st_ino == after.st_ino && (after.st_mode & 0777) == 0600,
              "the passed socket is used as is (inode %lu → %lu, mode %o)", (unsigned long) before.st_ino,
              (unsigned long) after.st_ino, after.st_mode & 0777);
        it_socket_path(&it, "g2", path2, sizeof path2);
        CHECK(stat(path2, &after) == 0 && (after.st_mode & 0777) == 0660, "g2's socket created by the daemon");

        snprintf(path2, sizeof path2, "%s/newdir/g3.sock", it.dir);
        CHECK(stat(path2, &after) == 0 && S_ISSOCK(after.st_mode), "g3's socket created with its directory");
        snprintf(path2, sizeof path2, "%s/not-a-socket", it.dir);
        CHECK(stat(path2, &after) == 0 && S_ISREG(after.st_mode), "a regular file in a guest's socket path is kept");
        CHECK(it_log_contains(&it, "Guest g4: failed to listen"), "g4 left out with an error");
        it_socket_path(&it, "g2", path2, sizeof path2);

        c = it_connect(&it, "g1");
        CHECK_EQ(it_hello(c, NULL), 0, "HELLO on the passed socket");
        efd = it_eventfd();
        CHECK_EQ(it_virtio(c, BASE, 0, false, efd), 0, "register through the passed socket");
        CHECK_EQ(it_write(&it, dom, 0, XSG_MMIO, BASE + NOTIFY, 4, 0), 0, "kick");
        CHECK_EQ(it_efd_take(efd), 1, "kick delivered");

        it_daemon_signal(&it, SIGTERM);
        CHECK_EQ(it_daemon_wait(&it, IT_TIMEOUT_MS), 0, "exit status");
        CHECK(stat(path, &after) == 0 && after.st_ino == before.st_ino, "the passed socket is not removed on exit");
        CHECK(lstat(path2, &after) < 0 && errno == ENOENT, "the daemon's own socket is removed on exit");
        close(c);
        it_fini(&it);
        return 0;
}
