/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test of libxenioreqd-client against a fake daemon.  Most cases run in
 * one process over a socketpair: the fake server queues its reply before the
 * client call (the client numbers its requests 1, 2, 3, ...), then checks
 * the request the client sent.  Fault levels: daemon errors, garbage, wrong
 * seq, attached fds, oversize replies, silence (timeout), hang-up; for
 * claims, the daemon's side of the shared ring is hostile too (indexes,
 * entries, the ring's memfd itself).  One case forks a server on a real
 * socket path.
 */
#define _GNU_SOURCE 1   /* accept4, memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "xenioreqd-client.h"    /* before the internal headers: it must stand alone */
#include "proto.h"
#include "testutil.h"
#include "unit-assert.h"

static int srv = -1;    /* the fake daemon's end */

static void srv_send(const void *buf, size_t len, int fd) {
        REQUIRE(tu_send_fds(srv, buf, len, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0) == 0);
}

static void srv_send_fds(const void *buf, size_t len, const int *fds, unsigned nfds) {
        REQUIRE(tu_send_fds(srv, buf, len, fds, nfds) == 0);
}

/* Receive the client's request with all its fds (fds[0..3], -1 where none). */
static int srv_recv_fds(ProtoRequest *req, int *fds, unsigned *ret_nfds) {
        uint8_t buf[XIRQ_MSG_MAX];
        ssize_t n = tu_recv_fds(srv, buf, sizeof(buf), MSG_DONTWAIT, fds, 4, ret_nfds);

        if (n < 0) {
                *ret_nfds = 0;
                return (int) n;
        }
        return proto_decode_request(buf, (size_t) n, *ret_nfds, req);
}

static void close_all(int *fds, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                if (fds[i] >= 0) {
                        close(fds[i]);
                        fds[i] = -1;
                }
}

/* Two descriptors of one eventfd: a value written to one is read from the other. */
static bool same_eventfd(int a, int b) {
        uint64_t v = 0x5a5a, got = 0;
        struct pollfd p = { .fd = b, .events = POLLIN };

        if (write(a, &v, sizeof(v)) != sizeof(v))
                return false;
        if (poll(&p, 1, 0) != 1 || read(b, &got, sizeof(got)) != sizeof(got)) {
                /* not b's: take it back from a */
                (void) !read(a, &got, sizeof(got));
                return false;
        }
        return got == v;
}

static uint64_t eventfd_take(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        uint64_t v = 0;

        if (poll(&p, 1, 0) == 1 && read(fd, &v, sizeof(v)) != sizeof(v))
                v = 0;
        return v;
}

/* Receive the client's request: decoded, with its fd (or -1). */
static int srv_recv(ProtoRequest *req, int *ret_fd) {
        uint8_t buf[XIRQ_MSG_MAX];
        unsigned nfds = 0;
        ssize_t n = tu_recv_fd(srv, buf, sizeof(buf), MSG_DONTWAIT, ret_fd, &nfds);

        if (n < 0) {
                *ret_fd = -1;
                return (int) n;
        }
        return proto_decode_request(buf, (size_t) n, nfds, req);
}

static bool same_file(int a, int b) {
        struct stat sa, sb;
        return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

static bool nothing_pending(void) {
        uint8_t b[8];
        return recv(srv, b, sizeof(b), MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

/* A fresh pair and a client handshaken at the daemon's version (seq 1 used). */
static xenioreqd_client *connected_version(uint16_t version) {
        uint8_t buf[XIRQ_MSG_MAX];
        int sv[2];
        xenioreqd_client *c = NULL;
        ProtoRequest req;
        int fd;

        if (srv >= 0)
                close(srv);
        REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        srv = sv[1];
        srv_send(buf, proto_encode_hello_reply(buf, 1, 0, version, 7, 256), -1);
        REQUIRE(xenioreqd_connect_fd(sv[0], &c) == 0);
        REQUIRE(srv_recv(&req, &fd) == 0 && req.op == PROTO_OP_HELLO);
        REQUIRE(xenioreqd_version(c) == version);
        return c;
}

static xenioreqd_client *connected(void) {
        return connected_version(1);
}

static void test_handshake(void) {
        uint8_t buf[XIRQ_MSG_MAX];
        int sv[2], fd = -1, flags;
        xenioreqd_client *c = NULL;
        ProtoRequest req;

        REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        srv = sv[1];
        srv_send(buf, proto_encode_hello_reply(buf, 1, 0, 1, 7, 256), -1);
        CHECK_INT(xenioreqd_connect_fd(sv[0], &c), 0);
        REQUIRE(c);
        CHECK_INT(xenioreqd_domid(c), 7);
        CHECK_INT(xenioreqd_version(c), 1);
        CHECK_INT(xenioreqd_max_registrations(c), 256);
        CHECK(xenioreqd_connected(c));
        CHECK_INT(xenioreqd_fd(c), sv[0]);
        flags = fcntl(xenioreqd_fd(c), F_GETFD);
        CHECK(flags >= 0 && (flags & FD_CLOEXEC));
        CHECK_INT(srv_recv(&req, &fd), 0);
        CHECK_INT(req.op, PROTO_OP_HELLO);
        CHECK_INT(req.hdr.seq, 1);
        CHECK_INT(req.version_min, 1);
        CHECK_INT(req.version_max, XIRQ_PROTO_VERSION);
        CHECK_INT(fd, -1);
        xenioreqd_close(c);
        close(srv);

        /* the daemon refuses the connection */
        REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        srv = sv[1];
        srv_send(buf, proto_encode_error_reply(buf, XIRQ_MSG_HELLO, 1, -EACCES), -1);
        c = NULL;
        CHECK_INT(xenioreqd_connect_fd(sv[0], &c), -EACCES);
        CHECK(c == NULL);
        close(srv);

        /* a version we did not offer */
        REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        srv = sv[1];
        srv_send(buf, proto_encode_hello_reply(buf, 1, 0, XIRQ_PROTO_VERSION + 1, 7, 256), -1);
        CHECK_INT(xenioreqd_connect_fd(sv[0], &c), -EPROTO);
        close(srv);

        /* the daemon hangs up at once */
        REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        close(sv[1]);
        srv = -1;
        CHECK_INT(xenioreqd_connect_fd(sv[0], &c), -ECONNRESET);
        CHECK_INT(xenioreqd_connect_fd(-1, &c), -EBADF);
}

static void test_requests(void) {
        uint8_t buf[XIRQ_MSG_MAX];
        xenioreqd_client *c = connected();
        xenioreqd_guest_info info;
        ProtoQueryInfo qi = { .state = XIRQ_GUEST_SERVING, .domid = 7, .server_id = 3, .nr_vcpus = 2,
                              .registrations = 5, .client_registrations = 1, .kicks = 1000, .unmatched = 1,
                              .reads = 2, .invalid = 3, .other = 4 };
        ProtoRequest req;
        int efd = eventfd(0, EFD_CLOEXEC), fd;

        REQUIRE(efd >= 0);
        /* general ASSIGN: the eventfd travels along */
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_ASSIGN, 2, 0), -1);
        CHECK_INT(xenioreqd_assign(c, XIRQ_SPACE_MMIO, 0x1000, 4, XIRQ_MATCH_EXACT, 5, 0, efd), 0);
        CHECK_INT(srv_recv(&req, &fd), 0);
        CHECK_INT(req.op, PROTO_OP_ASSIGN);
        CHECK_INT(req.hdr.seq, 2);
        CHECK_U64(req.key.addr, 0x1000);
        CHECK_U64(req.key.value, 5);
        CHECK_U64(req.key.mask, 0xffffffff);
        CHECK(fd >= 0 && same_file(fd, efd));
        if (fd >= 0)
                close(fd);

        /* a daemon error is returned, the connection stays usable */
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_ASSIGN, 3, -EEXIST), -1);
        CHECK_INT(xenioreqd_assign(c, XIRQ_SPACE_PIO, 0x60, 1, XIRQ_MATCH_ANY, 0, 0, efd), -EEXIST);
        CHECK_INT(srv_recv(&req, &fd), 0);
        CHECK_INT(req.key.space, XIRQ_SPACE_PIO);
        if (fd >= 0)
                close(fd);
        CHECK(xenioreqd_connected(c));

        /* DEASSIGN carries no fd */
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_DEASSIGN, 4, -ENOENT), -1);
        CHECK_INT(xenioreqd_deassign(c, XIRQ_SPACE_MMIO, 0x1000, 4, XIRQ_MATCH_EXACT, 5, 0), -ENOENT);
        CHECK_INT(srv_recv(&req, &fd), 0);
        CHECK_INT(req.op, PROTO_OP_DEASSIGN);
        CHECK_INT(fd, -1);

        /* virtio-mmio */
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_VIRTIO_MMIO, 5, 0), -1);
        CHECK_INT(xenioreqd_virtio_mmio_assign(c, 0x2000000, 3, efd), 0);
        CHECK_INT(srv_recv(&req, &fd), 0);
        CHECK_INT(req.op, PROTO_OP_ASSIGN);
        CHECK_U64(req.base, 0x2000000);
        CHECK_INT(req.queue, 3);
        CHECK(fd >= 0);
        if (fd >= 0)
                close(fd);
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_VIRTIO_MMIO, 6, 0), -1);
        CHECK_INT(xenioreqd_virtio_mmio_deassign(c, 0x2000000, 3), 0);
        CHECK_INT(srv_recv(&req, &fd), 0);
        CHECK_INT(req.op, PROTO_OP_DEASSIGN);
        CHECK_INT(fd, -1);

        /* query */
        srv_send(buf, proto_encode_query_reply(buf, 7, 0, &qi), -1);
        CHECK_INT(xenioreqd_query(c, &info), 0);
        CHECK_INT(info.state, XIRQ_GUEST_SERVING);
        CHECK_INT(info.server_id, 3);
        CHECK_INT(info.nr_vcpus, 2);
        CHECK_INT(info.registrations, 5);
        CHECK_INT(info.client_registrations, 1);
        CHECK_U64(info.kicks, 1000);
        CHECK_U64(info.other, 4);
        CHECK_INT(srv_recv(&req, &fd), 0);
        CHECK_INT(req.op, PROTO_OP_QUERY);

        /* arguments checked before anything is sent */
        CHECK_INT(xenioreqd_assign(c, XIRQ_SPACE_MMIO, 0x1000, 4, XIRQ_MATCH_ANY, 0, 0, -1), -EBADF);
        CHECK_INT(xenioreqd_virtio_mmio_assign(c, 0x1000, 0, -1), -EBADF);
        CHECK_INT(xenioreqd_query(c, NULL), -EINVAL);
        CHECK(nothing_pending());
        close(efd);
        xenioreqd_close(c);
        xenioreqd_close(NULL);
}

static void test_privcmd_mapping(void) {
        uint8_t buf[XIRQ_MSG_MAX];
        xenioreqd_client *c = connected();
        ProtoRequest req;
        int efd = eventfd(0, EFD_CLOEXEC), fd;
        uint32_t seq = 2;

        REQUIRE(efd >= 0);
        /* addr_len 4: the virtio-mmio message, addr is the device base */
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_VIRTIO_MMIO, seq++, 0), -1);
        CHECK_INT(xenioreqd_ioeventfd(c, 0x2000200, 4, efd, 2, 0), 0);
        CHECK_INT(srv_recv(&req, &fd), 0);
        CHECK_INT(req.hdr.type, XIRQ_MSG_VIRTIO_MMIO);
        CHECK_INT(req.op, PROTO_OP_ASSIGN);
        CHECK_U64(req.key.addr, 0x2000250);
        CHECK_U64(req.key.mask, 0xffff);
        CHECK_U64(req.key.value, 2);
        CHECK(fd >= 0 && same_file(fd, efd));
        if (fd >= 0)
                close(fd);
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_VIRTIO_MMIO, seq++, 0), -1);
        CHECK_INT(xenioreqd_ioeventfd(c, 0x2000200, 4, efd, 2, XENIOREQD_IOEVENTFD_FLAG_DEASSIGN), 0);
        CHECK_INT(srv_recv(&req, &fd), 0);
        CHECK_INT(req.op, PROTO_OP_DEASSIGN);
        CHECK_U64(req.key.addr, 0x2000250);
        CHECK_INT(fd, -1);

        /* other lengths: ASSIGN of a mask over the queue index */
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_ASSIGN, seq++, 0), -1);
        CHECK_INT(xenioreqd_ioeventfd(c, 0x3000, 2, efd, 0x1234, 0), 0);
        CHECK_INT(srv_recv(&req, &fd), 0);
        CHECK_INT(req.hdr.type, XIRQ_MSG_ASSIGN);
        CHECK_U64(req.key.addr, 0x3050);
        CHECK_INT(req.key.len, 2);
        CHECK_INT(req.match, XIRQ_MATCH_MASK);
        CHECK_U64(req.key.mask, 0xffff);
        CHECK_U64(req.key.value, 0x1234);
        if (fd >= 0)
                close(fd);
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_DEASSIGN, seq++, 0), -1);
        CHECK_INT(xenioreqd_ioeventfd(c, 0x3000, 1, -1, 0x12, XENIOREQD_IOEVENTFD_FLAG_DEASSIGN), 0);
        CHECK_INT(srv_recv(&req, &fd), 0);
        CHECK_INT(req.hdr.type, XIRQ_MSG_DEASSIGN);
        CHECK_U64(req.key.mask, 0xff);
        CHECK_INT(req.key.len, 1);

        /* refused locally */
        CHECK_INT(xenioreqd_ioeventfd(c, 0x3000, 3, efd, 0, 0), -EINVAL);
        CHECK_INT(xenioreqd_ioeventfd(c, 0x3000, 4, efd, 0x10000, 0), -EINVAL);
        CHECK_INT(xenioreqd_ioeventfd(c, 0x3000, 1, efd, 0x100, 0), -EINVAL);
        CHECK_INT(xenioreqd_ioeventfd(c, 0x3000, 4, efd, 0, 2), -EINVAL);
        CHECK_INT(xenioreqd_ioeventfd(c, UINT64_MAX - 0x10, 4, efd, 0, 0), -EINVAL);
        CHECK_INT(xenioreqd_ioeventfd(c, 0x3000, 4, -1, 0, 0), -EBADF);
        CHECK(nothing_pending());
        CHECK(xenioreqd_connected(c));
        close(efd);
        xenioreqd_close(c);
}

/* Each sabotage breaks the connection: the call fails, later calls get -ENOTCONN. */
static void test_sabotage(void) {
        uint8_t buf[XIRQ_MSG_MAX + 16];
        xenioreqd_client *c;
        xenioreqd_guest_info info;
        int before;
        int efd = eventfd(0, EFD_CLOEXEC);
        struct timespec t0, t1;
        long ms;

        REQUIRE(efd >= 0);
        /* garbage */
        c = connected();
        memset(buf, 0xa5, sizeof(buf));
        srv_send(buf, 16, -1);
        CHECK_INT(xenioreqd_query(c, &info), -EPROTO);
        CHECK(!xenioreqd_connected(c));
        CHECK_INT(xenioreqd_query(c, &info), -ENOTCONN);
        xenioreqd_close(c);

        /* the reply to another request */
        c = connected();
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_ASSIGN, 99, 0), -1);
        CHECK_INT(xenioreqd_assign(c, XIRQ_SPACE_MMIO, 0x1000, 4, XIRQ_MATCH_ANY, 0, 0, efd), -EPROTO);
        xenioreqd_close(c);
        c = connected();
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_DEASSIGN, 2, 0), -1);
        CHECK_INT(xenioreqd_assign(c, XIRQ_SPACE_MMIO, 0x1000, 4, XIRQ_MATCH_ANY, 0, 0, efd), -EPROTO);
        xenioreqd_close(c);

        /* a reply with an fd attached: refused, and the fd is not leaked */
        c = connected();
        before = tu_count_fds(0);
        REQUIRE(before >= 0);
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_ASSIGN, 2, 0), efd);
        CHECK_INT(xenioreqd_assign(c, XIRQ_SPACE_MMIO, 0x1000, 4, XIRQ_MATCH_ANY, 0, 0, efd), -EPROTO);
        CHECK_INT(tu_count_fds(0), before);
        xenioreqd_close(c);

        /* too long, too short, a negative error */
        c = connected();
        memset(buf, 0, sizeof(buf));
        proto_encode_reply(buf, XIRQ_MSG_ASSIGN, 2, 0);
        srv_send(buf, XIRQ_MSG_MAX + 8, -1);
        CHECK_INT(xenioreqd_assign(c, XIRQ_SPACE_MMIO, 0x1000, 4, XIRQ_MATCH_ANY, 0, 0, efd), -EPROTO);
        xenioreqd_close(c);
        c = connected();
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_ASSIGN, 2, 0) - 1, -1);
        CHECK_INT(xenioreqd_assign(c, XIRQ_SPACE_MMIO, 0x1000, 4, XIRQ_MATCH_ANY, 0, 0, efd), -EPROTO);
        xenioreqd_close(c);
        c = connected();
        proto_encode_reply(buf, XIRQ_MSG_ASSIGN, 2, 0);
        buf[8] = buf[9] = buf[10] = buf[11] = 0xff;
        srv_send(buf, 16, -1);
        CHECK_INT(xenioreqd_assign(c, XIRQ_SPACE_MMIO, 0x1000, 4, XIRQ_MATCH_ANY, 0, 0, efd), -EPROTO);
        xenioreqd_close(c);

        /* silence: bounded by the timeout */
        c = connected();
        xenioreqd_set_timeout(c, 200);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK_INT(xenioreqd_query(c, &info), -ETIMEDOUT);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        CHECK(ms >= 190 && ms < 5000);
        CHECK_INT(xenioreqd_query(c, &info), -ENOTCONN);
        xenioreqd_close(c);

        /* the daemon goes away: readable socket, then ECONNRESET */
        c = connected();
        close(srv);
        srv = -1;
        CHECK_INT(xenioreqd_assign(c, XIRQ_SPACE_MMIO, 0x1000, 4, XIRQ_MATCH_ANY, 0, 0, efd), -ECONNRESET);
        CHECK_INT(xenioreqd_query(c, &info), -ENOTCONN);
        xenioreqd_close(c);
        close(efd);
}

/* ---- version 2: irqfds ---- */

static void test_irqfd(void) {
        uint8_t buf[XIRQ_MSG_MAX];
        xenioreqd_client *c = connected_version(2);
        int trig = eventfd(0, EFD_CLOEXEC), res = eventfd(0, EFD_CLOEXEC), fds[4];
        xenioreqd_irqfd_spec spec = { .action = XIRQ_IRQ_LINE, .mode = XIRQ_IRQFD_EDGE, .irq = 40 };
        uint32_t id = 0, id2 = 0, seq = 2;
        ProtoRequest req;
        unsigned nfds;

        REQUIRE(trig >= 0 && res >= 0);
        CHECK_INT(xenioreqd_version(c), 2);

        /* EDGE on a line: one eventfd travels along */
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_IRQFD, seq++, 0), -1);
        CHECK_INT(xenioreqd_irqfd_assign(c, &spec, trig, -1, &id), 0);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        CHECK_INT(req.op, PROTO_OP_IRQFD);
        CHECK_INT(req.hdr.type, XIRQ_MSG_IRQFD);
        CHECK_INT(req.irqfd.id, id);
        CHECK(id != 0);
        CHECK_INT(req.irqfd.action, XIRQ_IRQ_LINE);
        CHECK_INT(req.irqfd.mode, XIRQ_IRQFD_EDGE);
        CHECK_INT(req.irqfd.irq, 40);
        CHECK_INT(nfds, 1);
        CHECK(fds[0] >= 0 && same_eventfd(fds[0], trig));
        close_all(fds, 4);

        /* LEVEL on an ISA IRQ: the trigger, then the resample eventfd */
        spec = (xenioreqd_irqfd_spec) { .action = XIRQ_IRQ_ISA, .mode = XIRQ_IRQFD_LEVEL, .irq = 5 };
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_IRQFD, seq++, 0), -1);
        CHECK_INT(xenioreqd_irqfd_assign(c, &spec, trig, res, &id2), 0);
        CHECK(id2 != id);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        CHECK_INT(req.irqfd.id, id2);
        CHECK_INT(req.irqfd.action, XIRQ_IRQ_ISA);
        CHECK_INT(req.irqfd.mode, XIRQ_IRQFD_LEVEL);
        CHECK_INT(req.irqfd.irq, 5);
        CHECK_INT(nfds, 2);
        CHECK(fds[0] >= 0 && same_eventfd(fds[0], trig) && !same_eventfd(fds[0], res));
        CHECK(fds[1] >= 0 && same_eventfd(fds[1], res));
        close_all(fds, 4);

        /* the other actions carry their own fields; ret_id may be NULL */
        spec = (xenioreqd_irqfd_spec) { .action = XIRQ_IRQ_INTX, .mode = XIRQ_IRQFD_RAISE, .segment = 1, .bus = 2,
                                        .device = 31, .pin = 3 };
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_IRQFD, seq++, 0), -1);
        CHECK_INT(xenioreqd_irqfd_assign(c, &spec, trig, -1, NULL), 0);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        CHECK_INT(req.irqfd.action, XIRQ_IRQ_INTX);
        CHECK_INT(req.irqfd.mode, XIRQ_IRQFD_RAISE);
        CHECK_INT(req.irqfd.segment, 1);
        CHECK_INT(req.irqfd.bus, 2);
        CHECK_INT(req.irqfd.device, 31);
        CHECK_INT(req.irqfd.pin, 3);
        CHECK_INT(nfds, 1);
        close_all(fds, 4);
        spec = (xenioreqd_irqfd_spec) { .action = XIRQ_IRQ_MSI, .mode = XIRQ_IRQFD_EDGE, .msi_addr = 0xfee00000,
                                        .msi_data = 0x4041 };
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_IRQFD, seq++, 0), -1);
        CHECK_INT(xenioreqd_irqfd_assign(c, &spec, trig, -1, &id), 0);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        CHECK_U64(req.irqfd.msi_addr, 0xfee00000);
        CHECK_INT(req.irqfd.msi_data, 0x4041);
        close_all(fds, 4);
        spec = (xenioreqd_irqfd_spec) { .action = XIRQ_IRQ_EVTCHN, .mode = XIRQ_IRQFD_EDGE, .irq = 7 };
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_IRQFD, seq++, 0), -1);
        CHECK_INT(xenioreqd_irqfd_assign(c, &spec, trig, -1, &id), 0);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        CHECK_INT(req.irqfd.action, XIRQ_IRQ_EVTCHN);
        CHECK_INT(req.irqfd.irq, 7);
        close_all(fds, 4);

        /* the daemon's refusal is returned, the connection stays */
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_IRQFD, seq++, -EINVAL), -1);
        id2 = 12345;
        CHECK_INT(xenioreqd_irqfd_assign(c, &spec, trig, -1, &id2), -EINVAL);
        CHECK_INT(id2, 12345);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        close_all(fds, 4);
        CHECK(xenioreqd_connected(c));

        /* deassign: the id, no fd */
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_IRQFD, seq++, 0), -1);
        CHECK_INT(xenioreqd_irqfd_deassign(c, id), 0);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        CHECK_INT(req.op, PROTO_OP_IRQFD_DEASSIGN);
        CHECK_INT(req.irqfd.id, id);
        CHECK_INT(nfds, 0);
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_IRQFD, seq++, -ENOENT), -1);
        CHECK_INT(xenioreqd_irqfd_deassign(c, 999), -ENOENT);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        CHECK_INT(req.irqfd.id, 999);

        /* refused before anything is sent */
        spec = (xenioreqd_irqfd_spec) { .action = XIRQ_IRQ_LINE, .mode = XIRQ_IRQFD_LEVEL, .irq = 40 };
        CHECK_INT(xenioreqd_irqfd_assign(c, &spec, trig, -1, &id), -EBADF);
        CHECK_INT(xenioreqd_irqfd_assign(c, &spec, -1, res, &id), -EBADF);
        spec.mode = XIRQ_IRQFD_EDGE;
        CHECK_INT(xenioreqd_irqfd_assign(c, &spec, trig, res, &id), -EINVAL);
        CHECK_INT(xenioreqd_irqfd_assign(c, NULL, trig, -1, &id), -EINVAL);
        CHECK_INT(xenioreqd_irqfd_assign(NULL, &spec, trig, -1, &id), -EINVAL);
        CHECK(nothing_pending());

        /* a reply with an fd attached breaks the connection, and the fd is not kept */
        {
                int before = tu_count_fds(0);
                srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_IRQFD, seq++, 0), trig);
                CHECK_INT(xenioreqd_irqfd_assign(c, &spec, trig, -1, &id), -EPROTO);
                CHECK_INT(tu_count_fds(0), before);
                CHECK_INT(xenioreqd_irqfd_deassign(c, 1), -ENOTCONN);
                CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
                close_all(fds, 4);
        }
        xenioreqd_close(c);
        close(trig);
        close(res);
}

/* A daemon that speaks version 1 only: the calls of version 2 send nothing. */
static void test_version1(void) {
        xenioreqd_client *c = connected();
        xenioreqd_irqfd_spec spec = { .action = XIRQ_IRQ_LINE, .mode = XIRQ_IRQFD_RAISE, .irq = 40 };
        uint32_t dm_op[4] = { 19, 0, 40, 1 };
        xenioreqd_claim *cl = NULL;
        int efd = eventfd(0, EFD_CLOEXEC);
        uint32_t id;

        REQUIRE(efd >= 0);
        CHECK_INT(xenioreqd_version(c), 1);
        CHECK_INT(xenioreqd_irqfd_assign(c, &spec, efd, -1, &id), -EPROTONOSUPPORT);
        CHECK_INT(xenioreqd_irqfd_deassign(c, 1), -EPROTONOSUPPORT);
        CHECK_INT(xenioreqd_irqfd(c, dm_op, sizeof(dm_op), efd, 0), -EPROTONOSUPPORT);
        CHECK_INT(xenioreqd_claim_range(c, XIRQ_SPACE_MMIO, 0x3000000, 0x200, 0, &cl), -EPROTONOSUPPORT);
        CHECK(cl == NULL);
        CHECK(nothing_pending());
        CHECK(xenioreqd_connected(c));
        close(efd);
        xenioreqd_close(c);
}

/* A struct xen_dm_op as a privcmd user fills it: header, set_irq_level, the rest of the union 0. */
static void dm_op_fill(uint8_t *b, size_t size, uint32_t op, uint32_t irq, uint8_t level) {
        uint32_t pad = 0;

        memset(b, 0, size);
        memcpy(b, &op, 4);
        memcpy(b + 4, &pad, 4);
        memcpy(b + 8, &irq, 4);
        b[12] = level;
}

static void test_privcmd_irqfd(void) {
        uint8_t buf[XIRQ_MSG_MAX], d[64];
        xenioreqd_client *c = connected_version(2);
        int e1 = eventfd(0, EFD_CLOEXEC), e2 = eventfd(0, EFD_CLOEXEC), dup1, p[2], fds[4];
        uint32_t seq = 2, id1;
        ProtoRequest req;
        unsigned nfds;

        REQUIRE(e1 >= 0 && e2 >= 0 && pipe2(p, O_CLOEXEC) == 0);
        dup1 = fcntl(e1, F_DUPFD_CLOEXEC, 0);
        REQUIRE(dup1 >= 0);

        /* set_irq_level(33, 1) in a 40-byte xen_dm_op: a RAISE irqfd on line 33 */
        dm_op_fill(d, 40, 19, 33, 1);
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_IRQFD, seq++, 0), -1);
        CHECK_INT(xenioreqd_irqfd(c, d, 40, e1, 0), 0);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        CHECK_INT(req.op, PROTO_OP_IRQFD);
        CHECK_INT(req.irqfd.action, XIRQ_IRQ_LINE);
        CHECK_INT(req.irqfd.mode, XIRQ_IRQFD_RAISE);
        CHECK_INT(req.irqfd.irq, 33);
        CHECK_INT(nfds, 1);
        CHECK(fds[0] >= 0 && same_eventfd(fds[0], e1));
        id1 = req.irqfd.id;
        close_all(fds, 4);

        /* the same eventfd again, through another descriptor: EBUSY, as privcmd */
        CHECK_INT(xenioreqd_irqfd(c, d, 40, dup1, 0), -EBUSY);
        CHECK_INT(xenioreqd_irqfd(c, d, 40, e1, 0), -EBUSY);
        CHECK(nothing_pending());

        /* exactly the 16 bytes that matter: another eventfd, another irq */
        dm_op_fill(d, 16, 19, 34, 1);
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_IRQFD, seq++, 0), -1);
        CHECK_INT(xenioreqd_irqfd(c, d, 16, e2, 0), 0);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        CHECK_INT(req.irqfd.irq, 34);
        CHECK(req.irqfd.id != id1);
        close_all(fds, 4);

        /* deassign through the dup, whatever the dm_op says (privcmd does not look at it) */
        dm_op_fill(d, 40, 1, 0, 0);
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_IRQFD, seq++, 0), -1);
        CHECK_INT(xenioreqd_irqfd(c, d, 40, dup1, XENIOREQD_IRQFD_FLAG_DEASSIGN), 0);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        CHECK_INT(req.op, PROTO_OP_IRQFD_DEASSIGN);
        CHECK_INT(req.irqfd.id, id1);
        CHECK_INT(nfds, 0);
        CHECK_INT(xenioreqd_irqfd(c, NULL, 0, e1, XENIOREQD_IRQFD_FLAG_DEASSIGN), -ENOENT);
        CHECK(nothing_pending());
        /* gone: e1 may be assigned again */
        dm_op_fill(d, 40, 19, 33, 1);
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_IRQFD, seq++, 0), -1);
        CHECK_INT(xenioreqd_irqfd(c, d, 40, e1, 0), 0);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        close_all(fds, 4);
        /* the typed deassign of a twin's id forgets it too */
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_IRQFD, seq++, 0), -1);
        CHECK_INT(xenioreqd_irqfd_deassign(c, req.irqfd.id), 0);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        CHECK_INT(xenioreqd_irqfd(c, NULL, 0, e1, XENIOREQD_IRQFD_FLAG_DEASSIGN), -ENOENT);

        /* refused: other dm_ops, level 0, malformed buffers, bad flags and descriptors */
        dm_op_fill(d, 40, 1, 33, 1);            /* create_ioreq_server */
        CHECK_INT(xenioreqd_irqfd(c, d, 40, e1, 0), -EOPNOTSUPP);
        dm_op_fill(d, 40, 8, 5, 1);             /* set_isa_irq_level */
        CHECK_INT(xenioreqd_irqfd(c, d, 40, e1, 0), -EOPNOTSUPP);
        dm_op_fill(d, 40, 20, 33, 1);
        CHECK_INT(xenioreqd_irqfd(c, d, 40, e1, 0), -EOPNOTSUPP);
        dm_op_fill(d, 40, 19, 33, 0);           /* lower only */
        CHECK_INT(xenioreqd_irqfd(c, d, 40, e1, 0), -EOPNOTSUPP);
        dm_op_fill(d, 40, 19, 33, 2);
        CHECK_INT(xenioreqd_irqfd(c, d, 40, e1, 0), -EINVAL);
        dm_op_fill(d, 40, 19, 33, 1);
        d[4] = 1;                               /* xen_dm_op.pad */
        CHECK_INT(xenioreqd_irqfd(c, d, 40, e1, 0), -EINVAL);
        dm_op_fill(d, 40, 19, 33, 1);
        d[15] = 1;                              /* set_irq_level.pad */
        CHECK_INT(xenioreqd_irqfd(c, d, 40, e1, 0), -EINVAL);
        dm_op_fill(d, 40, 19, 33, 1);
        CHECK_INT(xenioreqd_irqfd(c, d, 15, e1, 0), -EINVAL);
        CHECK_INT(xenioreqd_irqfd(c, d, 4097, e1, 0), -EINVAL);
        CHECK_INT(xenioreqd_irqfd(c, NULL, 40, e1, 0), -EINVAL);
        CHECK_INT(xenioreqd_irqfd(c, d, 40, e1, 2), -EINVAL);
        CHECK_INT(xenioreqd_irqfd(c, d, 40, -1, 0), -EBADF);
        CHECK_INT(xenioreqd_irqfd(c, d, 40, 1000, 0), -EBADF);
        CHECK_INT(xenioreqd_irqfd(c, d, 40, p[0], 0), -EINVAL);         /* not an eventfd */
        CHECK(nothing_pending());

        /* the daemon refuses: nothing is remembered */
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_IRQFD, seq++, -ENOSPC), -1);
        CHECK_INT(xenioreqd_irqfd(c, d, 40, e1, 0), -ENOSPC);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        close_all(fds, 4);
        CHECK_INT(xenioreqd_irqfd(c, NULL, 0, e1, XENIOREQD_IRQFD_FLAG_DEASSIGN), -ENOENT);
        CHECK(nothing_pending());
        CHECK(xenioreqd_connected(c));

        xenioreqd_close(c);
        close(e1);
        close(e2);
        close(dup1);
        close(p[0]);
        close(p[1]);
}

/* ---- version 2: claims ---- */

#define CLAIM_BASE UINT64_C(0x3000000)
#define CLAIM_LEN UINT64_C(0x200)

/* The daemon's side of a claim: the ring's memfd (mapped here too) and the two eventfds. */
typedef struct FakeClaim {
        int fds[3];                     /* ring, access (daemon signals), answer (client signals) */
        struct xirq_ring *ring;
        uint32_t id;                    /* as the client asked */
} FakeClaim;

/* A ring memfd of size bytes, sealed with seals, magic and size fields as given. */
static void fake_ring(FakeClaim *f, size_t size, unsigned seals, uint32_t magic, uint32_t ring_size) {
        f->fds[0] = memfd_create("xirq-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        REQUIRE(f->fds[0] >= 0 && ftruncate(f->fds[0], (off_t) size) == 0);
        f->ring = mmap(NULL, sizeof(*f->ring), PROT_READ | PROT_WRITE, MAP_SHARED, f->fds[0], 0);
        REQUIRE(f->ring != MAP_FAILED);
        if (size >= 8) {
                f->ring->magic = magic;
                f->ring->size = ring_size;
        }
        if (seals)
                REQUIRE(fcntl(f->fds[0], F_ADD_SEALS, seals) == 0);
        f->fds[1] = eventfd(0, EFD_CLOEXEC);
        f->fds[2] = eventfd(0, EFD_CLOEXEC);
        REQUIRE(f->fds[1] >= 0 && f->fds[2] >= 0);
}

static void fake_free(FakeClaim *f) {
        munmap(f->ring, sizeof(*f->ring));
        close_all(f->fds, 3);
}

#define GOOD_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* Claim CLAIM_BASE/CLAIM_LEN on c (request seq), the daemon answering with f's descriptors. */
static int claim(xenioreqd_client *c, uint32_t seq, FakeClaim *f, xenioreqd_claim **ret) {
        uint8_t buf[XIRQ_MSG_MAX];
        ProtoRequest req;
        unsigned nfds;
        int fds[4], r;

        srv_send_fds(buf, proto_encode_reply(buf, XIRQ_MSG_CLAIM, seq, 0), f->fds, 3);
        r = xenioreqd_claim_range(c, XIRQ_SPACE_MMIO, CLAIM_BASE, CLAIM_LEN, 0, ret);
        REQUIRE(srv_recv_fds(&req, fds, &nfds) == 0 && req.op == PROTO_OP_CLAIM && nfds == 0);
        f->id = req.claim.id;
        return r;
}

/* Post an access at the producer index (not yet published). */
static void post(FakeClaim *f, uint32_t seq, uint8_t dir, uint8_t size, uint64_t addr, uint64_t data) {
        struct xirq_access *a = &f->ring->access[f->ring->access_prod % XIRQ_RING_SIZE];

        *a = (struct xirq_access) { .seq = seq, .claim = f->id, .vcpu = (uint16_t) (seq % 4), .dir = dir,
                                    .size = size, .addr = addr, .data = data };
        __atomic_store_n(&f->ring->access_prod, f->ring->access_prod + 1, __ATOMIC_RELEASE);
}

static void kick(int efd) {
        uint64_t one = 1;
        REQUIRE(write(efd, &one, sizeof(one)) == sizeof(one));
}

static bool readable(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void test_claim(void) {
        uint8_t buf[XIRQ_MSG_MAX];
        xenioreqd_client *c = connected_version(2);
        xenioreqd_claim *cl = NULL;
        xenioreqd_access a;
        FakeClaim f;
        ProtoRequest req;
        unsigned nfds;
        int fds[4], before, flags;

        fake_ring(&f, sizeof(struct xirq_ring), GOOD_SEALS, XIRQ_RING_MAGIC, XIRQ_RING_SIZE);
        before = tu_count_fds(0);
        REQUIRE(before > 0);
        srv_send_fds(buf, proto_encode_reply(buf, XIRQ_MSG_CLAIM, 2, 0), f.fds, 3);
        CHECK_INT(xenioreqd_claim_range(c, XIRQ_SPACE_MMIO, CLAIM_BASE, CLAIM_LEN, 250, &cl), 0);
        REQUIRE(cl);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        CHECK_INT(req.op, PROTO_OP_CLAIM);
        CHECK_INT(req.hdr.seq, 2);
        CHECK_INT(req.claim.space, XIRQ_SPACE_MMIO);
        CHECK_U64(req.claim.addr, CLAIM_BASE);
        CHECK_U64(req.claim.len, CLAIM_LEN);
        CHECK_INT(req.claim.deadline_ms, 250);
        CHECK_INT(nfds, 0);
        f.id = req.claim.id;
        CHECK_INT(xenioreqd_claim_id(cl), f.id);
        CHECK_U64(xenioreqd_claim_addr(cl), CLAIM_BASE);
        CHECK_U64(xenioreqd_claim_len(cl), CLAIM_LEN);
        /* the client keeps the two eventfds (close-on-exec), not the ring's memfd */
        CHECK_INT(tu_count_fds(0), before + 2);
        flags = fcntl(xenioreqd_claim_fd(cl), F_GETFD);
        CHECK(flags >= 0 && (flags & FD_CLOEXEC));
        CHECK(same_eventfd(f.fds[1], xenioreqd_claim_fd(cl)));

        /* nothing yet */
        CHECK_INT(xenioreqd_claim_next(cl, &a), 0);

        /* a read and a write */
        post(&f, 10, XIRQ_ACCESS_READ, 4, CLAIM_BASE, 0xdeadbeef);
        post(&f, 11, XIRQ_ACCESS_WRITE, 2, CLAIM_BASE + 0x70, 0xffffffff0000abcd);
        kick(f.fds[1]);
        CHECK(readable(xenioreqd_claim_fd(cl)));
        CHECK_INT(xenioreqd_claim_next(cl, &a), 1);
        CHECK_INT(a.seq, 10);
        CHECK_INT(a.dir, XIRQ_ACCESS_READ);
        CHECK_INT(a.size, 4);
        CHECK_INT(a.vcpu, 2);
        CHECK_U64(a.addr, CLAIM_BASE);
        CHECK_U64(a.offset, 0);
        CHECK_U64(a.data, 0);                   /* a read has no data */
        CHECK_INT(__atomic_load_n(&f.ring->access_cons, __ATOMIC_ACQUIRE), 1);
        CHECK_INT(xenioreqd_claim_next(cl, &a), 1);
        CHECK_INT(a.seq, 11);
        CHECK_INT(a.dir, XIRQ_ACCESS_WRITE);
        CHECK_U64(a.offset, 0x70);
        CHECK_U64(a.data, 0xabcd);              /* its size's bytes only */
        CHECK_INT(f.ring->access_cons, 2);
        /* empty: the eventfd is reset on the way */
        CHECK(readable(xenioreqd_claim_fd(cl)));
        CHECK_INT(xenioreqd_claim_next(cl, &a), 0);
        CHECK(!readable(xenioreqd_claim_fd(cl)));

        /* answers, out of order: each posted, its index published, the daemon's eventfd signalled */
        CHECK_INT(xenioreqd_claim_answer(cl, 11, 0x1234), 0);
        CHECK_INT(f.ring->answer_prod, 1);
        CHECK_INT(f.ring->answer[0].seq, 11);
        CHECK_U64(f.ring->answer[0].data, 0);   /* a write's answer carries nothing */
        CHECK_U64(eventfd_take(f.fds[2]), 1);
        CHECK_INT(xenioreqd_claim_answer(cl, 10, 0x1122334474726976), 0);
        CHECK_INT(__atomic_load_n(&f.ring->answer_prod, __ATOMIC_ACQUIRE), 2);
        CHECK_INT(f.ring->answer[1].seq, 10);
        CHECK_U64(f.ring->answer[1].data, 0x74726976);
        CHECK_U64(eventfd_take(f.fds[2]), 1);
        /* each access is answered once */
        CHECK_INT(xenioreqd_claim_answer(cl, 10, 0), -ENOENT);
        CHECK_INT(xenioreqd_claim_answer(cl, 99, 0), -ENOENT);
        CHECK_INT(f.ring->answer_prod, 2);
        CHECK_U64(eventfd_take(f.fds[2]), 0);

        /* an 8-byte read at the last bytes, the daemon slow to take answers */
        post(&f, 12, XIRQ_ACCESS_READ, 8, CLAIM_BASE + CLAIM_LEN - 8, 0);
        post(&f, 13, XIRQ_ACCESS_READ, 1, CLAIM_BASE + CLAIM_LEN - 1, 0);
        CHECK_INT(xenioreqd_claim_next(cl, &a), 1);
        CHECK_INT(a.seq, 12);
        CHECK_U64(a.offset, CLAIM_LEN - 8);
        f.ring->answer_cons = 2 - XIRQ_RING_SIZE;       /* the answer ring full */
        CHECK_INT(xenioreqd_claim_answer(cl, 12, UINT64_MAX), -EAGAIN);
        CHECK_INT(f.ring->answer_prod, 2);
        f.ring->answer_cons = 2;
        CHECK_INT(xenioreqd_claim_answer(cl, 12, UINT64_MAX), 0);
        CHECK_U64(f.ring->answer[2].data, UINT64_MAX);
        CHECK_INT(xenioreqd_claim_next(cl, &a), 1);
        CHECK_INT(xenioreqd_claim_answer(cl, 13, 0x1ff), 0);
        CHECK_U64(f.ring->answer[3].data, 0xff);
        CHECK_INT(f.ring->answer_prod, 4);

        /* give it back */
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_UNCLAIM, 3, 0), -1);
        CHECK_INT(xenioreqd_unclaim(cl), 0);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        CHECK_INT(req.op, PROTO_OP_UNCLAIM);
        CHECK_INT(req.claim.id, f.id);
        CHECK_INT(nfds, 0);
        CHECK_INT(tu_count_fds(0), before);
        fake_free(&f);

        /* the daemon refuses a claim: no descriptors, the connection stays */
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_CLAIM, 4, -EEXIST), -1);
        cl = NULL;
        CHECK_INT(xenioreqd_claim_range(c, XIRQ_SPACE_PIO, 0x60, 4, 0, &cl), -EEXIST);
        CHECK(cl == NULL);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        CHECK_INT(req.claim.space, XIRQ_SPACE_PIO);
        CHECK(xenioreqd_connected(c));
        CHECK_INT(xenioreqd_claim_range(c, XIRQ_SPACE_MMIO, CLAIM_BASE, CLAIM_LEN, 0, NULL), -EINVAL);
        CHECK(nothing_pending());

        /* an unclaim the daemon refuses: the handle is freed all the same */
        fake_ring(&f, sizeof(struct xirq_ring), GOOD_SEALS, XIRQ_RING_MAGIC, XIRQ_RING_SIZE);
        REQUIRE(claim(c, 5, &f, &cl) == 0);
        fake_free(&f);
        srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_UNCLAIM, 6, -ENOENT), -1);
        CHECK_INT(xenioreqd_unclaim(cl), -ENOENT);
        CHECK_INT(srv_recv_fds(&req, fds, &nfds), 0);
        CHECK_INT(tu_count_fds(0), before - 3);         /* the fake's three are closed too */

        /* a claim outlives its connection, for xenioreqd_claim_free() or xenioreqd_unclaim() */
        fake_ring(&f, sizeof(struct xirq_ring), GOOD_SEALS, XIRQ_RING_MAGIC, XIRQ_RING_SIZE);
        REQUIRE(claim(c, 7, &f, &cl) == 0);
        xenioreqd_close(c);
        CHECK(xenioreqd_claim_fd(cl) >= 0);
        CHECK_INT(xenioreqd_unclaim(cl), -ENOTCONN);
        fake_free(&f);
        xenioreqd_claim_free(NULL);
}

/* What the daemon wrote to the ring is checked: each hostile case breaks the claim for good. */
static void test_claim_hostile(void) {
        xenioreqd_client *c = connected_version(2);
        uint32_t seq = 2;
        xenioreqd_claim *cl;
        xenioreqd_access a;
        FakeClaim f;

        for (int k = 0; k < 11; k++) {
                unsigned failures = ut_failures;

                fake_ring(&f, sizeof(struct xirq_ring), GOOD_SEALS, XIRQ_RING_MAGIC, XIRQ_RING_SIZE);
                REQUIRE(claim(c, seq++, &f, &cl) == 0);
                switch (k) {
                case 0:         /* the producer index more than a ring ahead (of a valid entry) */
                        post(&f, 1, XIRQ_ACCESS_READ, 4, CLAIM_BASE, 0);
                        f.ring->access_prod = XIRQ_RING_SIZE + 1;
                        break;
                case 1:         /* ... or behind the consumer */
                        post(&f, 1, XIRQ_ACCESS_READ, 4, CLAIM_BASE, 0);
                        f.ring->access_prod = UINT32_MAX;
                        break;
                case 2:         /* another claim's access */
                        post(&f, 1, XIRQ_ACCESS_READ, 4, CLAIM_BASE, 0);
                        f.ring->access[0].claim = f.id + 1;
                        break;
                case 3:         /* unknown direction */
                        post(&f, 1, 2, 4, CLAIM_BASE, 0);
                        break;
                case 4:         /* sizes */
                        post(&f, 1, XIRQ_ACCESS_READ, 3, CLAIM_BASE, 0);
                        break;
                case 5:
                        post(&f, 1, XIRQ_ACCESS_WRITE, 16, CLAIM_BASE, 0);
                        break;
                case 6:         /* below and past the range */
                        post(&f, 1, XIRQ_ACCESS_READ, 1, CLAIM_BASE - 1, 0);
                        break;
                case 7:
                        post(&f, 1, XIRQ_ACCESS_READ, 1, CLAIM_BASE + CLAIM_LEN, 0);
                        break;
                case 8:         /* a seq taken and not answered, posted again */
                        post(&f, 5, XIRQ_ACCESS_READ, 4, CLAIM_BASE, 0);
                        post(&f, 5, XIRQ_ACCESS_READ, 4, CLAIM_BASE + 4, 0);
                        CHECK_INT(xenioreqd_claim_next(cl, &a), 1);
                        break;
                case 9:         /* more accesses unanswered than the ring holds */
                        for (uint32_t i = 0; i < XIRQ_RING_SIZE; i++) {
                                post(&f, 100 + i, XIRQ_ACCESS_READ, 4, CLAIM_BASE, 0);
                                CHECK_INT(xenioreqd_claim_next(cl, &a), 1);
                        }
                        post(&f, 999, XIRQ_ACCESS_READ, 4, CLAIM_BASE, 0);
                        break;
                case 10:        /* the daemon's answer consumer index ahead of the producer */
                        post(&f, 1, XIRQ_ACCESS_READ, 4, CLAIM_BASE, 0);
                        CHECK_INT(xenioreqd_claim_next(cl, &a), 1);
                        f.ring->answer_cons = 5;
                        CHECK_INT(xenioreqd_claim_answer(cl, 1, 0), -EPROTO);
                        CHECK_INT(f.ring->answer_prod, 0);
                        break;
                }
                if (k != 10) {
                        uint32_t cons = f.ring->access_cons;
                        CHECK_INT(xenioreqd_claim_next(cl, &a), -EPROTO);
                        CHECK_INT(f.ring->access_cons, cons);   /* the bad entry is not consumed */
                }
                if (ut_failures != failures)
                        fprintf(stderr, "hostile ring case %d\n", k);
                /* broken for good, the connection is not */
                post(&f, 7777, XIRQ_ACCESS_READ, 4, CLAIM_BASE, 0);
                CHECK_INT(xenioreqd_claim_next(cl, &a), -EPROTO);
                CHECK_INT(xenioreqd_claim_answer(cl, 5, 0), -EPROTO);
                CHECK(xenioreqd_connected(c));
                xenioreqd_claim_free(cl);
                fake_free(&f);
        }

        /* free-running indexes wrap around */
        fake_ring(&f, sizeof(struct xirq_ring), GOOD_SEALS, XIRQ_RING_MAGIC, XIRQ_RING_SIZE);
        f.ring->access_prod = f.ring->access_cons = UINT32_MAX - 1;
        f.ring->answer_prod = f.ring->answer_cons = UINT32_MAX - 1;
        REQUIRE(claim(c, seq++, &f, &cl) == 0);
        for (uint32_t i = 0; i < 4; i++)
                post(&f, 50 + i, XIRQ_ACCESS_WRITE, 4, CLAIM_BASE + 4 * i, i);
        for (uint32_t i = 0; i < 4; i++) {
                CHECK_INT(xenioreqd_claim_next(cl, &a), 1);
                CHECK_INT(a.seq, 50 + i);
                CHECK_U64(a.data, i);
                CHECK_INT(xenioreqd_claim_answer(cl, a.seq, 0), 0);
        }
        CHECK_INT(xenioreqd_claim_next(cl, &a), 0);
        CHECK_INT(f.ring->access_cons, 2);
        CHECK_INT(f.ring->answer_prod, 2);
        CHECK_INT(f.ring->answer[(UINT32_MAX - 1) % XIRQ_RING_SIZE].seq, 50);
        CHECK_INT(f.ring->answer[1].seq, 53);
        xenioreqd_claim_free(cl);
        fake_free(&f);
        xenioreqd_close(c);
}

/* A CLAIM reply whose ring or descriptors are wrong is a malformed reply: -EPROTO, connection unusable. */
static void test_claim_bad_reply(void) {
        static const struct {
                size_t size;
                unsigned seals;
                uint32_t magic, ring_size;
                unsigned nfds;
        } cases[] = {
                { sizeof(struct xirq_ring), F_SEAL_GROW | F_SEAL_SEAL, XIRQ_RING_MAGIC, XIRQ_RING_SIZE, 3 },
                { sizeof(struct xirq_ring), 0, XIRQ_RING_MAGIC, XIRQ_RING_SIZE, 3 },
                { sizeof(struct xirq_ring) - 1, GOOD_SEALS, XIRQ_RING_MAGIC, XIRQ_RING_SIZE, 3 },
                { 0, GOOD_SEALS, 0, 0, 3 },
                { sizeof(struct xirq_ring), GOOD_SEALS, XIRQ_RING_MAGIC + 1, XIRQ_RING_SIZE, 3 },
                { sizeof(struct xirq_ring), GOOD_SEALS, XIRQ_RING_MAGIC, XIRQ_RING_SIZE * 2, 3 },
                { sizeof(struct xirq_ring), GOOD_SEALS, XIRQ_RING_MAGIC, XIRQ_RING_SIZE, 2 },
                { sizeof(struct xirq_ring), GOOD_SEALS, XIRQ_RING_MAGIC, XIRQ_RING_SIZE, 0 },
        };
        uint8_t buf[XIRQ_MSG_MAX];

        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
                xenioreqd_client *c = connected_version(2);
                xenioreqd_claim *cl = NULL;
                unsigned failures = ut_failures;
                FakeClaim f;
                int before;

                fake_ring(&f, cases[k].size, cases[k].seals, cases[k].magic, cases[k].ring_size);
                before = tu_count_fds(0);
                srv_send_fds(buf, proto_encode_reply(buf, XIRQ_MSG_CLAIM, 2, 0), f.fds, cases[k].nfds);
                CHECK_INT(xenioreqd_claim_range(c, XIRQ_SPACE_MMIO, CLAIM_BASE, CLAIM_LEN, 0, &cl), -EPROTO);
                CHECK(cl == NULL);
                CHECK_INT(tu_count_fds(0), before);
                CHECK(!xenioreqd_connected(c));
                CHECK_INT(xenioreqd_claim_range(c, XIRQ_SPACE_MMIO, CLAIM_BASE, CLAIM_LEN, 0, &cl), -ENOTCONN);
                if (ut_failures != failures)
                        fprintf(stderr, "bad CLAIM reply case %zu\n", k);
                fake_free(&f);
                xenioreqd_close(c);
        }

        /* not a memfd at all, and an error reply that brings descriptors */
        {
                xenioreqd_client *c = connected_version(2);
                xenioreqd_claim *cl = NULL;
                int p[2], fds[3], before;

                REQUIRE(pipe2(p, O_CLOEXEC) == 0);
                fds[0] = p[0];
                fds[1] = fds[2] = p[1];
                before = tu_count_fds(0);
                srv_send_fds(buf, proto_encode_reply(buf, XIRQ_MSG_CLAIM, 2, 0), fds, 3);
                CHECK_INT(xenioreqd_claim_range(c, XIRQ_SPACE_MMIO, CLAIM_BASE, CLAIM_LEN, 0, &cl), -EPROTO);
                CHECK_INT(tu_count_fds(0), before);
                xenioreqd_close(c);
                c = connected_version(2);
                srv_send_fds(buf, proto_encode_reply(buf, XIRQ_MSG_CLAIM, 2, -EEXIST), fds, 3);
                CHECK_INT(xenioreqd_claim_range(c, XIRQ_SPACE_MMIO, CLAIM_BASE, CLAIM_LEN, 0, &cl), -EPROTO);
                CHECK_INT(tu_count_fds(0), before);
                xenioreqd_close(c);
                close(p[0]);
                close(p[1]);
        }
}

/* connect() by path, against a forked fake daemon. */
static void test_path(void) {
        char dir[] = "/tmp/test-client.XXXXXX", path[256];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        xenioreqd_client *c = NULL;
        int l, status = -1;
        pid_t pid;
        char longpath[200];

        REQUIRE(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/guest.sock", dir);
        CHECK_INT(xenioreqd_connect(path, &c), -ENOENT);
        memset(longpath, 'x', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = '\0';
        CHECK_INT(xenioreqd_connect(longpath, &c), -ENAMETOOLONG);

        l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        REQUIRE(l >= 0);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        REQUIRE(bind(l, (struct sockaddr *) &sa, sizeof(sa)) == 0);
        REQUIRE(listen(l, 4) == 0);
        pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
                /* fake daemon: HELLO, one ASSIGN, then hang up */
                uint8_t buf[XIRQ_MSG_MAX];
                ProtoRequest req;
                int fd, ok = 1;

                alarm(10);
                srv = accept4(l, NULL, NULL, SOCK_CLOEXEC);
                if (srv < 0)
                        _exit(2);
                ok &= recv(srv, buf, sizeof(buf), 0) == 16;
                srv_send(buf, proto_encode_hello_reply(buf, 1, 0, 1, 3, 64), -1);
                for (int i = 0; i < 100 && srv_recv(&req, &fd) == -EAGAIN; i++)
                        usleep(10000);
                ok &= req.op == PROTO_OP_ASSIGN && fd >= 0;
                srv_send(buf, proto_encode_reply(buf, XIRQ_MSG_VIRTIO_MMIO, 2, -ENOSPC), -1);
                _exit(ok ? 0 : 3);
        }
        close(l);
        CHECK_INT(xenioreqd_connect(path, &c), 0);
        if (c) {
                int efd = eventfd(0, EFD_CLOEXEC);
                CHECK_INT(xenioreqd_domid(c), 3);
                CHECK_INT(xenioreqd_virtio_mmio_assign(c, 0x1000, 0, efd), -ENOSPC);
                close(efd);
                xenioreqd_close(c);
        }
        CHECK_INT(waitpid(pid, &status, 0), pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        unlink(path);
        rmdir(dir);
}

int main(void) {
        ut_start(60);
        test_handshake();
        test_requests();
        test_privcmd_mapping();
        test_sabotage();
        test_irqfd();
        test_version1();
        test_privcmd_irqfd();
        test_claim();
        test_claim_hostile();
        test_claim_bad_reply();
        test_path();
        if (srv >= 0)
                close(srv);
        return ut_finish("test-client");
}
