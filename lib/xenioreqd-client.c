/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libxenioreqd-client: synchronous client of a xen-ioreqd guest socket.
 * Messages are encoded and decoded by the daemon's own codec (src/shared/proto.c,
 * compiled into this library), so both sides agree byte for byte.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "xenioreqd-client.h"

#define CLIENT_EXPORT __attribute__((visibility("default")))
#define RECV_MAX_FDS 4u

_Static_assert(XENIOREQD_IOEVENTFD_FLAG_DEASSIGN == 1u, "same value as PRIVCMD_IOEVENTFD_FLAG_DEASSIGN");

struct xenioreqd_client {
        int fd;
        bool broken;
        uint32_t seq;
        int timeout_ms;
        uint16_t version;
        uint32_t domid;
        uint32_t max_registrations;
};

static int64_t now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events until the deadline (-1: none).  0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                int timeout = -1, r;

                if (deadline >= 0) {
                        int64_t left = deadline - now_ms();
                        if (left <= 0)
                                return -ETIMEDOUT;
                        timeout = left > 60000 ? 60000 : (int) left;
                }
                r = poll(&p, 1, timeout);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r > 0)
                        return 0;       /* ready, or POLLHUP/POLLERR: the next call says which */
        }
}

static int send_packet(xenioreqd_client *c, const void *buf, size_t len, int fd, int64_t deadline) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control;
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (fd >= 0) {
                struct cmsghdr *cm;
                memset(&control, 0, sizeof(control));
                msg.msg_control = &control;
                msg.msg_controllen = sizeof(control.buf);
                cm = CMSG_FIRSTHDR(&msg);
                cm->cmsg_level = SOL_SOCKET;
                cm->cmsg_type = SCM_RIGHTS;
                cm->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        }
        for (;;) {
                ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
                int r;

                if (n >= 0)
                        return (size_t) n == len ? 0 : -EIO;
                if (errno == EINTR)
                        continue;
                if (errno == EPIPE)
                        return -ECONNRESET;
                if (errno != EAGAIN)
                        return -errno;
                r = wait_fd(c->fd, POLLOUT, deadline);
                if (r < 0)
                        return r;
        }
}

/* Receive one packet; any fd attached is closed and reported as nfds. */
static int recv_packet(xenioreqd_client *c, void *buf, size_t size, size_t *ret_len, unsigned *ret_nfds,
                       int64_t deadline) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * RECV_MAX_FDS)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr msg;
        ssize_t n;
        unsigned nfds = 0;

        for (;;) {
                int r;

                memset(&msg, 0, sizeof(msg));
                msg.msg_iov = &iov;
                msg.msg_iovlen = 1;
                msg.msg_control = &control;
                msg.msg_controllen = sizeof(control.buf);
                n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
                if (n >= 0)
                        break;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return errno == EPIPE ? -ECONNRESET : -errno;
                r = wait_fd(c->fd, POLLIN, deadline);
                if (r < 0)
                        return r;
        }
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        for (size_t i = 0; i < k; i++) {
                                int fd;
                                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                                close(fd);
                                nfds++;
                        }
                } else {
                        nfds++;         /* anything else attached is as wrong */
                }
        if (n == 0 && nfds == 0)
                return -ECONNRESET;
        if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
                return -EPROTO;
        *ret_len = (size_t) n;
        *ret_nfds = nfds;
        return 0;
}

/* One request, one reply.  0 with the daemon's verdict in rep->error, or a transport error. */
static int transact(xenioreqd_client *c, const void *req, size_t len, int fd, uint16_t type, uint32_t seq,
                    ProtoReply *rep) {
        uint8_t buf[XIRQ_MSG_MAX];
        int64_t deadline = c->timeout_ms > 0 ? now_ms() + c->timeout_ms : -1;
        size_t n = 0;
        unsigned nfds = 0;
        int r;

        if (c->broken)
                return -ENOTCONN;
        r = send_packet(c, req, len, fd, deadline);
        if (r == 0)
                r = recv_packet(c, buf, sizeof(buf), &n, &nfds, deadline);
        if (r == 0) {
                r = proto_decode_reply(buf, n, nfds, type, seq, rep);
                if (r < 0)
                        r = -EPROTO;    /* whatever is wrong with it, the stream is out of step */
        }
        if (r < 0)
                c->broken = true;
        return r;
}

static uint32_t next_seq(xenioreqd_client *c) {
        if (++c->seq == 0)
                c->seq = 1;
        return c->seq;
}

CLIENT_EXPORT void xenioreqd_close(xenioreqd_client *c) {
        if (!c)
                return;
        if (c->fd >= 0)
                close(c->fd);
        free(c);
}

static int handshake(xenioreqd_client *c) {
        uint8_t buf[XIRQ_MSG_MAX];
        ProtoReply rep;
        uint32_t seq = next_seq(c);
        size_t n = proto_encode_hello(buf, seq, 1, XIRQ_PROTO_VERSION);
        int r = transact(c, buf, n, -1, XIRQ_MSG_HELLO, seq, &rep);

        if (r < 0)
                return r;
        if (rep.error < 0)
                return rep.error;
        if (rep.version < 1 || rep.version > XIRQ_PROTO_VERSION)
                return -EPROTO;
        c->version = rep.version;
        c->domid = rep.domid;
        c->max_registrations = rep.max_registrations;
        return 0;
}

static xenioreqd_client *client_alloc(int fd) {
        xenioreqd_client *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->fd = fd;
        c->timeout_ms = XENIOREQD_DEFAULT_TIMEOUT_MS;
        return c;
}

CLIENT_EXPORT int xenioreqd_connect_fd(int fd, xenioreqd_client **ret) {
        xenioreqd_client *c;
        int r;

        if (fd < 0)
                return -EBADF;
        if (!ret) {
                close(fd);
                return -EINVAL;
        }
        c = client_alloc(fd);
        if (!c) {
                close(fd);
                return -ENOMEM;
        }
        r = handshake(c);
        if (r < 0) {
                xenioreqd_close(c);
                return r;
        }
        *ret = c;
        return 0;
}

CLIENT_EXPORT int xenioreqd_connect(const char *socket_path, xenioreqd_client **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd, r;

        if (!socket_path || !ret)
                return -EINVAL;
        if (strlen(socket_path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        do
                r = connect(fd, (const struct sockaddr *) &sa, sizeof(sa));
        while (r < 0 && errno == EINTR);
        if (r < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        return xenioreqd_connect_fd(fd, ret);
}

CLIENT_EXPORT void xenioreqd_set_timeout(xenioreqd_client *c, int timeout_ms) {
        if (c)
                c->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
}

CLIENT_EXPORT int xenioreqd_fd(const xenioreqd_client *c) {
        return c ? c->fd : -EINVAL;
}

CLIENT_EXPORT bool xenioreqd_connected(const xenioreqd_client *c) {
        return c && !c->broken;
}

CLIENT_EXPORT uint32_t xenioreqd_domid(const xenioreqd_client *c) {
        return c ? c->domid : PROTO_DOMID_NONE;
}

CLIENT_EXPORT uint16_t xenioreqd_version(const xenioreqd_client *c) {
        return c ? c->version : 0;
}

CLIENT_EXPORT uint32_t xenioreqd_max_registrations(const xenioreqd_client *c) {
        return c ? c->max_registrations : 0;
}

static int do_assign(xenioreqd_client *c, uint16_t type, uint8_t space, uint64_t addr, uint8_t len, uint8_t match,
                     uint64_t value, uint64_t mask, int event_fd) {
        uint8_t buf[XIRQ_MSG_MAX];
        ProtoReply rep;
        uint32_t seq;
        size_t n;
        int r;

        if (!c)
                return -EINVAL;
        if (type == XIRQ_MSG_ASSIGN && event_fd < 0)
                return -EBADF;
        seq = next_seq(c);
        n = proto_encode_assign(buf, type, seq, space, len, match, addr, value, mask);
        r = transact(c, buf, n, type == XIRQ_MSG_ASSIGN ? event_fd : -1, type, seq, &rep);
        return r < 0 ? r : rep.error;
}

CLIENT_EXPORT int xenioreqd_assign(xenioreqd_client *c, uint8_t space, uint64_t addr, uint8_t len, uint8_t match,
                                   uint64_t value, uint64_t mask, int event_fd) {
        return do_assign(c, XIRQ_MSG_ASSIGN, space, addr, len, match, value, mask, event_fd);
}

CLIENT_EXPORT int xenioreqd_deassign(xenioreqd_client *c, uint8_t space, uint64_t addr, uint8_t len, uint8_t match,
                                     uint64_t value, uint64_t mask) {
        return do_assign(c, XIRQ_MSG_DEASSIGN, space, addr, len, match, value, mask, -1);
}

static int do_virtio(xenioreqd_client *c, uint64_t base, uint16_t queue, uint16_t vflags, int event_fd) {
        uint8_t buf[XIRQ_MSG_MAX];
        ProtoReply rep;
        uint32_t seq;
        size_t n;
        int r;

        if (!c)
                return -EINVAL;
        if (!(vflags & XIRQ_VIRTIO_DEASSIGN) && event_fd < 0)
                return -EBADF;
        seq = next_seq(c);
        n = proto_encode_virtio_mmio(buf, seq, base, queue, vflags);
        r = transact(c, buf, n, (vflags & XIRQ_VIRTIO_DEASSIGN) ? -1 : event_fd, XIRQ_MSG_VIRTIO_MMIO, seq, &rep);
        return r < 0 ? r : rep.error;
}

CLIENT_EXPORT int xenioreqd_virtio_mmio_assign(xenioreqd_client *c, uint64_t base, uint16_t queue, int event_fd) {
        return do_virtio(c, base, queue, 0, event_fd);
}

CLIENT_EXPORT int xenioreqd_virtio_mmio_deassign(xenioreqd_client *c, uint64_t base, uint16_t queue) {
        return do_virtio(c, base, queue, XIRQ_VIRTIO_DEASSIGN, -1);
}

CLIENT_EXPORT int xenioreqd_ioeventfd(xenioreqd_client *c, uint64_t addr, uint32_t addr_len, int event_fd,
                                      uint32_t vq, uint32_t flags) {
        bool deassign = flags & XENIOREQD_IOEVENTFD_FLAG_DEASSIGN;
        uint64_t mask;

        if (!c || (flags & ~XENIOREQD_IOEVENTFD_FLAG_DEASSIGN))
                return -EINVAL;
        if (addr_len != 1 && addr_len != 2 && addr_len != 4 && addr_len != 8)
                return -EINVAL;
        if (addr > UINT64_MAX - XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY)
                return -EINVAL;
        /* privcmd compares (data & 0xffff) with vq: a 1-byte write only has 8 bits */
        mask = addr_len == 1 ? 0xff : 0xffff;
        if (vq > mask)
                return -EINVAL;
        if (addr_len == 4)
                return do_virtio(c, addr, (uint16_t) vq, deassign ? XIRQ_VIRTIO_DEASSIGN : 0, event_fd);
        return do_assign(c, deassign ? XIRQ_MSG_DEASSIGN : XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO,
                         addr + XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY, (uint8_t) addr_len, XIRQ_MATCH_MASK, vq, mask,
                         event_fd);
}

CLIENT_EXPORT int xenioreqd_query(xenioreqd_client *c, xenioreqd_guest_info *ret) {
        uint8_t buf[XIRQ_MSG_MAX];
        ProtoReply rep;
        uint32_t seq;
        size_t n;
        int r;

        if (!c || !ret)
                return -EINVAL;
        seq = next_seq(c);
        n = proto_encode_query(buf, seq);
        r = transact(c, buf, n, -1, XIRQ_MSG_QUERY, seq, &rep);
        if (r < 0)
                return r;
        if (rep.error < 0)
                return rep.error;
        *ret = (xenioreqd_guest_info) {
                .state = rep.query.state,
                .domid = rep.query.domid,
                .server_id = rep.query.server_id,
                .nr_vcpus = rep.query.nr_vcpus,
                .registrations = rep.query.registrations,
                .client_registrations = rep.query.client_registrations,
                .kicks = rep.query.kicks,
                .unmatched = rep.query.unmatched,
                .reads = rep.query.reads,
                .invalid = rep.query.invalid,
                .other = rep.query.other,
        };
        return 0;
}
