/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xq-notify: a NOTIFY_SOCKET listener for dom0.  Binds a Unix datagram socket
 * at PATH and prints every sd_notify message it receives as
 * "NOTIFY: <line>" (one line per assignment), until SECONDS have passed.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        if (argc != 3) {
                fprintf(stderr, "usage: xq-notify PATH SECONDS\n");
                return 2;
        }
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "xq-notify: path too long\n");
                return 2;
        }
        strcpy(sa.sun_path, argv[1]);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        unlink(argv[1]);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                perror("xq-notify: socket");
                return 1;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        time_t end = time(NULL) + atoi(argv[2]);
        while (time(NULL) < end) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, 500) <= 0)
                        continue;
                char buf[4096];
                ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
                if (n <= 0)
                        continue;
                buf[n] = 0;
                for (char *s = buf, *nl; *s; s = nl ? nl + 1 : s + strlen(s)) {
                        nl = strchr(s, '\n');
                        if (nl)
                                *nl = 0;
                        if (*s)
                                printf("NOTIFY: %s\n", s);
                        if (!nl)
                                break;
                }
        }
        return 0;
}
