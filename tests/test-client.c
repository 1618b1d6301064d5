/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test of libxenioreqd-client against a fake daemon.  Most cases run in
 * one process over a socketpair: the fake server queues its reply before the
 * client call (the client numbers its requests 1, 2, 3, ...), then checks
 * the request the client sent.  Fault levels: daemon errors, garbage, wrong
 * seq, attached fds, oversize replies, silence (timeout), hang-up.  One case
 * forks a server on a real socket path.
 */
#define _GNU_SOURCE 1   /* accept4 */
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
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

/* A fresh pair and a handshaken client (seq 1 used). */
static xenioreqd_client *connected(void) {
        uint8_t buf[XIRQ_MSG_MAX];
        int sv[2];
        xenioreqd_client *c = NULL;
        ProtoRequest req;
        int fd;

        if (srv >= 0)
                close(srv);
        REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        srv = sv[1];
        srv_send(buf, proto_encode_hello_reply(buf, 1, 0, 1, 7, 256), -1);
        REQUIRE(xenioreqd_connect_fd(sv[0], &c) == 0);
        REQUIRE(srv_recv(&req, &fd) == 0 && req.op == PROTO_OP_HELLO);
        return c;
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
        test_path();
        if (srv >= 0)
                close(srv);
        return ut_finish("test-client");
}
