/* SPDX-License-Identifier: LGPL-2.1-only */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "xensim-client.h"

/* The hosts this process maps (usually one), each shared by all its handles. */
static pthread_mutex_t hosts_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xsc_host *hosts;
static atomic_uint call_seq;
static atomic_uint forks;
static pthread_once_t forks_once = PTHREAD_ONCE_INIT;

static void forked(void) {
        atomic_fetch_add(&forks, 1);
}

static void forks_count(void) {
        pthread_atfork(NULL, forked, forked);
}

unsigned xsc_forks(void) {
        return atomic_load(&forks);
}

int xsc_connect(const char *dir, int *ret_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, n;

        if (!dir)
                dir = getenv("XENSIM_DIR");
        if (!dir || !*dir)
                return -ENOENT;
        pthread_once(&forks_once, forks_count);
        n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/host.sock", dir);
        if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

/* Send one request packet, filling in magic, version and seq. */
static int send_req(int fd, struct xs_req *req) {
        ssize_t n;

        req->magic = XS_PROTO_MAGIC;
        req->version = XS_PROTO_VERSION;
        req->seq = atomic_fetch_add(&call_seq, 1);
        do
                n = send(fd, req, sizeof(*req), MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EPIPE || errno == ECONNRESET ? -ENOTCONN : -errno;
        return (size_t)n == sizeof(*req) ? 0 : -EIO;
}

int xsc_post(int fd, uint16_t op, const uint64_t *a, unsigned na) {
        struct xs_req req = { .op = op, .flags = XS_REQ_ONEWAY };

        for (unsigned i = 0; i < na && i < 6; i++)
                req.a[i] = a[i];
        return send_req(fd, &req);
}

int xsc_call(int fd, struct xs_req *req, struct xs_rep *rep, int *fds, unsigned nfds) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * 4)];
        } ctl;
        struct iovec iov = { .iov_base = rep, .iov_len = sizeof(*rep) };
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                .msg_controllen = sizeof(ctl.buf),
        };
        struct cmsghdr *c;
        unsigned got = 0;
        ssize_t n;
        int r;

        req->flags = 0;
        r = send_req(fd, req);
        if (r < 0)
                return r;
        do
                n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == ECONNRESET ? -ENOTCONN : -errno;
        if (n == 0)
                return -ENOTCONN;
        for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < cnt; i++) {
                        int f;
                        memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (got < nfds)
                                fds[got++] = f;
                        else
                                close(f);
                }
        }
        if ((size_t)n != sizeof(*rep) || rep->magic != XS_PROTO_MAGIC || rep->seq != req->seq ||
            (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
                for (unsigned i = 0; i < got; i++)
                        close(fds[i]);
                return -EPROTO;
        }
        rep->nfds = (uint16_t)got;
        return 0;
}

int xsc_op(int fd, uint16_t op, const uint64_t *a, unsigned na, uint64_t *ret_val) {
        struct xs_req req = { .op = op };
        struct xs_rep rep;
        int r;

        for (unsigned i = 0; i < na && i < 6; i++)
                req.a[i] = a[i];
        r = xsc_call(fd, &req, &rep, NULL, 0);
        if (r < 0)
                return r;
        if (rep.err)
                return -rep.err;
        if (ret_val)
                memcpy(ret_val, rep.val, sizeof(rep.val));
        return 0;
}

/*
 * The identity of the xensimd behind a connection, without a request: its pid (SO_PEERCRED)
 * and the inode of the socket it listens on. Returns 0, or -errno when either is unknown
 * (then the connection gets a mapping of its own).
 */
static int host_key(int fd, pid_t *ret_pid, dev_t *ret_dev, ino_t *ret_ino) {
        struct sockaddr_un sa;
        socklen_t len = sizeof(sa);
        struct ucred cred;
        socklen_t clen = sizeof(cred);
        struct stat st;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0)
                return -errno;
        memset(&sa, 0, sizeof(sa));
        if (getpeername(fd, (struct sockaddr *)&sa, &len) < 0)
                return -errno;
        if (len <= offsetof(struct sockaddr_un, sun_path) || sa.sun_path[0] == '\0' ||
            len >= sizeof(sa))
                return -ENOENT;
        if (stat(sa.sun_path, &st) < 0)
                return -errno;
        *ret_pid = cred.pid;
        *ret_dev = st.st_dev;
        *ret_ino = st.st_ino;
        return 0;
}

static int host_map(int fd, struct xsc_host *host) {
        struct xs_req req = { .op = XS_OP_HELLO };
        struct xs_rep rep;
        int mfd = -1, r;
        void *p;

        r = xsc_call(fd, &req, &rep, &mfd, 1);
        if (r < 0)
                return r;
        r = -rep.err;
        if (r < 0)
                goto out;
        r = -EPROTO;
        if (rep.nfds != 1 || rep.val[0] != XS_SHM_SIZE)
                goto out;
        p = mmap(NULL, XS_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
        if (p == MAP_FAILED) {
                r = -errno;
                goto out;
        }
        if (((struct xs_shm_hdr *)p)->magic != XS_SHM_MAGIC) {
                munmap(p, XS_SHM_SIZE);
                r = -EPROTO;
                goto out;
        }
        host->shm = p;
        host->shm_fd = mfd;
        mfd = -1;
        r = 0;
out:
        if (mfd >= 0)
                close(mfd);
        return r;
}

int xsc_host_get(int fd, struct xsc_host **ret) {
        struct xsc_host *host;
        pid_t pid = 0;
        dev_t dev = 0;
        ino_t ino = 0;
        bool keyed;
        int r;

        keyed = host_key(fd, &pid, &dev, &ino) == 0;
        pthread_mutex_lock(&hosts_lock);
        for (host = keyed ? hosts : NULL; host; host = host->next)
                if (host->pid == pid && host->dev == dev && host->ino == ino)
                        break;
        if (host) {
                host->refs++;
                *ret = host;
                r = 0;
                goto out;
        }
        host = calloc(1, sizeof(*host));
        if (!host) {
                r = -ENOMEM;
                goto out;
        }
        r = host_map(fd, host);
        if (r < 0) {
                free(host);
                goto out;
        }
        host->refs = 1;
        if (keyed) {
                host->pid = pid;
                host->dev = dev;
                host->ino = ino;
        } else
                host->pid = -1;         /* matches no connection */
        host->next = hosts;
        hosts = host;
        *ret = host;
out:
        pthread_mutex_unlock(&hosts_lock);
        return r;
}

void xsc_host_put(struct xsc_host *host) {
        struct xsc_host **pp;

        if (!host)
                return;
        pthread_mutex_lock(&hosts_lock);
        if (--host->refs == 0) {
                for (pp = &hosts; *pp; pp = &(*pp)->next)
                        if (*pp == host) {
                                *pp = host->next;
                                break;
                        }
                munmap(host->shm, XS_SHM_SIZE);
                close(host->shm_fd);
                free(host);
        }
        pthread_mutex_unlock(&hosts_lock);
}
