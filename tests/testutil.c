/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

int tu_send_fds(int sock, const void *buf, size_t len, const int *fds, unsigned nfds) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * TU_MAX_FDS)];
        } control;
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (nfds > TU_MAX_FDS)
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
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (n < 0)
                return -errno;
        return (size_t) n == len ? 0 : -EIO;
}

ssize_t tu_recv_fd(int sock, void *buf, size_t size, int flags, int *ret_fd, unsigned *ret_nfds) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * TU_MAX_FDS)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                              .msg_controllen = sizeof(control.buf) };
        ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
        unsigned nfds = 0;
        int first = -1;

        if (n < 0)
                return -errno;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++, nfds++) {
                        int fd;

                        memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                        if (first < 0)
                                first = fd;
                        else
                                close(fd);
                }
        }
        *ret_fd = first;
        *ret_nfds = nfds;
        return n;
}

int tu_rm_rf(const char *path) {
        struct stat st;
        struct dirent *e;
        DIR *d;
        int r = 0;

        if (lstat(path, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return unlink(path) < 0 ? -errno : 0;
        d = opendir(path);
        if (!d)
                return -errno;
        while ((e = readdir(d))) {
                char sub[PATH_MAX];
                int n;

                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                n = snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                if (n < 0 || (size_t) n >= sizeof sub) {
                        r = -ENAMETOOLONG;      /* never a truncated name: it could be another file */
                        continue;
                }
                (void) tu_rm_rf(sub);
        }
        closedir(d);
        if (rmdir(path) < 0)
                return r < 0 ? r : -errno;
        return 0;
}
