/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE 1   /* close_range */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
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

ssize_t tu_recv_fds(int sock, void *buf, size_t size, int flags, int *fds, unsigned max, unsigned *ret_nfds) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * TU_MAX_FDS)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                              .msg_controllen = sizeof(control.buf) };
        ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | flags);
        unsigned nfds = 0;

        if (n < 0)
                return -errno;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++, nfds++) {
                        int fd;

                        memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                        if (nfds < max)
                                fds[nfds] = fd;
                        else
                                close(fd);
                }
        }
        for (unsigned i = nfds; i < max; i++)
                fds[i] = -1;
        *ret_nfds = nfds;
        return n;
}

ssize_t tu_recv_fd(int sock, void *buf, size_t size, int flags, int *ret_fd, unsigned *ret_nfds) {
        return tu_recv_fds(sock, buf, size, flags, ret_fd, 1, ret_nfds);
}

static long long now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

pid_t tu_spawn(const char *const *argv, const char *const *env, const char *log, const int *keep, size_t nkeep) {
        pid_t pid;
        int out;

        out = open(log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (out < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int r = -errno;

                close(out);
                return r;
        }
        if (pid == 0) {
                int devnull = open("/dev/null", O_RDONLY);

                if (devnull >= 0)
                        dup2(devnull, STDIN_FILENO);
                dup2(out, STDOUT_FILENO);
                dup2(out, STDERR_FILENO);
                /* nothing but what was asked for survives the exec */
                close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
                for (size_t i = 0; i < nkeep; i++)
                        fcntl(keep[i], F_SETFD, 0);
                for (size_t i = 0; env && env[i]; i++)
                        putenv((char *) env[i]);
                signal(SIGPIPE, SIG_DFL);
                execv(argv[0], (char *const *) argv);
                fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        close(out);
        return pid;
}

int tu_wait_ready(int fd, int timeout_ms) {
        static const char ready[] = "READY\n";
        long long deadline = now_ms() + timeout_ms;
        char buf[sizeof(ready) - 1];
        size_t got = 0;

        while (got < sizeof(buf)) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                long long left = deadline - now_ms();
                ssize_t n;
                int r;

                if (left <= 0)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) left);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                n = read(fd, buf + got, sizeof(buf) - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EPIPE;
                got += (size_t) n;
        }
        return memcmp(buf, ready, sizeof(buf)) == 0 ? 0 : -EBADMSG;
}

int tu_wait_child(pid_t pid, int timeout_ms, int *ret_wstatus) {
        long long deadline = now_ms() + timeout_ms;

        for (;;) {
                int st;
                pid_t r = waitpid(pid, &st, WNOHANG);

                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == pid) {
                        *ret_wstatus = st;
                        return 0;
                }
                if (now_ms() >= deadline)
                        return -ETIMEDOUT;
                usleep(5000);
        }
}

int tu_exit_status(int wstatus) {
        return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

int tu_stop_child(pid_t pid, int timeout_ms) {
        int st, r;

        if (kill(pid, SIGTERM) < 0)
                return -errno;
        r = tu_wait_child(pid, timeout_ms, &st);
        if (r == -ETIMEDOUT) {
                (void) kill(pid, SIGKILL);
                while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
                        ;
                r = r < 0 ? -errno : 0;
        }
        return r < 0 ? r : tu_exit_status(st);
}

int tu_count_fds(pid_t pid) {
        char path[64];
        struct dirent *e;
        int n = 0, own;
        DIR *d;

        if (pid > 0)
                snprintf(path, sizeof path, "/proc/%d/fd", (int) pid);
        else
                snprintf(path, sizeof path, "/proc/self/fd");
        d = opendir(path);
        if (!d)
                return -errno;
        own = pid > 0 ? -1 : dirfd(d);
        while ((e = readdir(d)))
                if (e->d_name[0] != '.' && !(own >= 0 && atoi(e->d_name) == own))
                        n++;
        closedir(d);
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
