/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test of xen-ioreqd-example-backend against a fake daemon on a real socket:
 * the backend registers its queues (checked message by message), the fake
 * daemon kicks the eventfds it received, then either hangs up (the backend
 * must say so and exit 2) or the test sends SIGTERM (exit 0).  The last
 * output line must carry the exact counts.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "proto.h"
#include "testutil.h"
#include "unit-assert.h"

#ifndef EXAMPLE_BACKEND
#error "EXAMPLE_BACKEND must name the example backend binary"
#endif

typedef struct Backend {
        pid_t pid;
        int out;                /* its stdout */
        char buf[8192];
        size_t len;
} Backend;

static char dir[] = "/tmp/test-example.XXXXXX";
static char sock_path[256];

static int listen_socket(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        REQUIRE(l >= 0);
        unlink(sock_path);
        memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
        REQUIRE(bind(l, (struct sockaddr *) &sa, sizeof(sa)) == 0);
        REQUIRE(listen(l, 4) == 0);
        return l;
}

static void start(Backend *b, const char *const *args) {
        const char *argv[32];
        int p[2], n = 0;

        REQUIRE(pipe2(p, O_CLOEXEC) == 0);
        argv[n++] = EXAMPLE_BACKEND;
        argv[n++] = "--socket";
        argv[n++] = sock_path;
        for (; *args && n < 30; args++)
                argv[n++] = *args;
        argv[n] = NULL;
        b->len = 0;
        b->pid = fork();
        REQUIRE(b->pid >= 0);
        if (b->pid == 0) {
                dup2(p[1], 1);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        close(p[1]);
        b->out = p[0];
}

/* Read the backend's output until it contains s (bounded). */
static bool wait_output(Backend *b, const char *s, int timeout_ms) {
        for (int waited = 0; waited < timeout_ms; waited += 50) {
                struct pollfd pf = { .fd = b->out, .events = POLLIN };
                b->buf[b->len] = '\0';
                if (strstr(b->buf, s))
                        return true;
                if (poll(&pf, 1, 50) > 0) {
                        ssize_t n = read(b->out, b->buf + b->len, sizeof(b->buf) - 1 - b->len);
                        if (n <= 0)
                                break;
                        b->len += (size_t) n;
                }
        }
        b->buf[b->len] = '\0';
        return strstr(b->buf, s) != NULL;
}

static int finish(Backend *b) {
        int status = 0, r = tu_wait_child(b->pid, 5000, &status);

        if (r < 0) {
                kill(b->pid, SIGKILL);
                waitpid(b->pid, NULL, 0);
                fprintf(stderr, "backend did not exit\n");
        }
        (void) wait_output(b, "\n\n", 100);     /* drain what is left */
        close(b->out);
        return r == 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Accept the backend, answer HELLO and n registrations; collect their eventfds. */
static int serve_registrations(int l, unsigned n, uint16_t want_type, int *efds, uint16_t *queues) {
        uint8_t buf[XIRQ_MSG_MAX];
        struct pollfd pf = { .fd = l, .events = POLLIN };
        int c;

        REQUIRE(poll(&pf, 1, 5000) == 1);
        c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        REQUIRE(c >= 0);
        for (unsigned i = 0; i <= n; i++) {
                struct pollfd cp = { .fd = c, .events = POLLIN };
                ProtoRequest req;
                unsigned nfds = 0;
                int fd = -1;
                ssize_t len;

                REQUIRE(poll(&cp, 1, 5000) == 1);
                len = tu_recv_fd(c, buf, sizeof(buf), 0, &fd, &nfds);
                REQUIRE(len > 0);
                CHECK_INT(proto_decode_request(buf, (size_t) len, nfds, &req), 0);
                if (i == 0) {
                        CHECK_INT(req.op, PROTO_OP_HELLO);
                        len = (ssize_t) proto_encode_hello_reply(buf, req.hdr.seq, 0, 1, 9, 256);
                } else {
                        CHECK_INT(req.op, PROTO_OP_ASSIGN);
                        CHECK_INT(req.hdr.type, want_type);
                        CHECK_U64(req.key.addr, 0x3000050);
                        CHECK_INT(req.key.value, queues[i - 1]);
                        efds[i - 1] = fd;
                        len = (ssize_t) proto_encode_reply(buf, req.hdr.type, req.hdr.seq, 0);
                }
                REQUIRE(send(c, buf, (size_t) len, MSG_NOSIGNAL) == len);
        }
        return c;
}

static void kick(int efd, unsigned times) {
        for (unsigned i = 0; i < times; i++) {
                uint64_t one = 1;
                REQUIRE(write(efd, &one, sizeof(one)) == sizeof(one));
        }
}

static void test_hangup(void) {
        static const char *const args[] = { "--base", "0x3000000", "--queues", "3", "--interval", "0", NULL };
        uint16_t queues[3] = { 0, 1, 2 };
        int efds[3], l = listen_socket(), c;
        Backend b;

        start(&b, args);
        c = serve_registrations(l, 3, XIRQ_MSG_VIRTIO_MMIO, efds, queues);
        CHECK(wait_output(&b, "ready queues=3 base=0x3000000 mode=virtio domid=9\n", 5000));
        kick(efds[0], 5);
        kick(efds[2], 7);
        usleep(200000);
        close(c);       /* the daemon goes away */
        CHECK_INT(finish(&b), 2);
        CHECK(strstr(b.buf, "kicks q0=5 q1=0 q2=7 total=12\n") != NULL);
        if (!strstr(b.buf, "total=12"))
                fprintf(stderr, "output:\n%s\n", b.buf);
        for (int i = 0; i < 3; i++)
                close(efds[i]);
        close(l);
}

static void test_sigterm_json(void) {
        static const char *const args[] = { "--base", "0x3000000", "--queues", "4,9", "--exact", "--json",
                                            "--interval", "0.2", NULL };
        uint16_t queues[2] = { 4, 9 };
        int efds[2], l = listen_socket(), c;
        Backend b;

        start(&b, args);
        c = serve_registrations(l, 2, XIRQ_MSG_ASSIGN, efds, queues);
        CHECK(wait_output(&b, "{\"ready\":true,\"queues\":2,\"base\":\"0x3000000\",\"mode\":\"exact\",\"domid\":9}\n",
                          5000));
        kick(efds[1], 3);
        CHECK(wait_output(&b, "\"kicks\":{\"4\":0,\"9\":3},\"total\":3,\"rate\":", 5000));
        kick(efds[0], 2);
        usleep(100000);
        kill(b.pid, SIGTERM);
        CHECK_INT(finish(&b), 0);
        CHECK(strstr(b.buf, "\"kicks\":{\"4\":2,\"9\":3},\"total\":5}\n") != NULL);
        CHECK(strstr(b.buf, "{\"final\":true,") != NULL);
        for (int i = 0; i < 2; i++)
                close(efds[i]);
        close(c);
        close(l);
}

static void test_count_and_errors(void) {
        static const char *const count_args[] = { "--base", "0x3000000", "--queues", "1", "--count", "4",
                                                  "--mode", "privcmd", "--interval", "0", NULL };
        static const char *const bad_args[] = { "--queues", "0", NULL };
        uint16_t queues[1] = { 0 };
        int efds[1], l = listen_socket(), c;
        Backend b;

        start(&b, count_args);
        c = serve_registrations(l, 1, XIRQ_MSG_VIRTIO_MMIO, efds, queues);
        CHECK(wait_output(&b, "ready queues=1", 5000));
        kick(efds[0], 4);
        CHECK_INT(finish(&b), 0);
        CHECK(strstr(b.buf, "kicks q0=4 total=4\n") != NULL);
        close(efds[0]);
        close(c);
        close(l);

        /* no daemon: exit 1 at once */
        unlink(sock_path);
        start(&b, (const char *const[]) { "--interval", "0", NULL });
        CHECK_INT(finish(&b), 1);
        /* bad option */
        start(&b, bad_args);
        CHECK_INT(finish(&b), 1);
}

int main(void) {
        ut_start(60);
        signal(SIGPIPE, SIG_IGN);
        REQUIRE(mkdtemp(dir));
        snprintf(sock_path, sizeof(sock_path), "%s/guest.sock", dir);
        test_hangup();
        test_sigterm_json();
        test_count_and_errors();
        unlink(sock_path);
        rmdir(dir);
        return ut_finish("test-example");
}
