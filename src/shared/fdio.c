/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"

#define FDIO_SEND_MAX 4u

ssize_t fdio_recv(int sock, void *buf, size_t size, int *fds, unsigned max_fds, unsigned *ret_nfds,
                  unsigned *ret_flags) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * 8)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr msg = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        unsigned nfds = 0, flags = 0;
        ssize_t n;

        do
                n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EAGAIN ? -EAGAIN : -errno;

        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
                        flags |= FDIO_BADCTL;
                        continue;
                }
                for (size_t i = 0, k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i < k; i++) {
                        int fd;

                        memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                        if (nfds < max_fds)
                                fds[nfds++] = fd;
                        else {
                                close(fd);
                                flags |= FDIO_CTRUNC;
                        }
                }
        }
        if (msg.msg_flags & MSG_CTRUNC)
                flags |= FDIO_CTRUNC;
        if (msg.msg_flags & MSG_TRUNC)
                flags |= FDIO_TRUNC;
        *ret_nfds = nfds;
        *ret_flags = flags;
        return n;
}

int fdio_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * FDIO_SEND_MAX)];
        } control;
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (nfds > FDIO_SEND_MAX)
                return -EINVAL;
        if (nfds > 0) {
                struct cmsghdr *cm;

                memset(&control, 0, sizeof(control));
                msg.msg_control = &control;
                msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
                cm = CMSG_FIRSTHDR(&msg);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
                memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
        }
        do
                n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        /* EAGAIN here is the peer's fault (it does not read), not "try later": keep them apart */
        if (n < 0)
                return errno == EAGAIN ? -ENOBUFS : -errno;
        if ((size_t) n != len)
                return -EIO;
        return 0;
}

int fdio_check_eventfd(int fd) {
        char path[64], target[64];
        struct stat st;
        ssize_t n;

        if (fstat(fd, &st) < 0)
                return -errno;
        /* eventfds are anonymous inodes: neither files, nor sockets, nor devices */
        if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode) ||
            S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISLNK(st.st_mode))
                return -EINVAL;

        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        n = readlink(path, target, sizeof(target) - 1);
        if (n < 0)
                return -errno;
        target[n] = '\0';
        if (strcmp(target, "anon_inode:[eventfd]") != 0)
                return -EINVAL;
        return 0;
}

int fdio_take_eventfd(int fd) {
        int flags, r = fdio_check_eventfd(fd);

        if (r < 0)
                return r;
        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return -errno;
        if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;
        return 0;
}
