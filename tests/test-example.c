/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Test of xen-ioreqd-example-backend against a fake daemon on a real socket:
 * the backend registers its queues (checked message by message), the fake
 * daemon kicks the eventfds it received, then either hangs up (the backend
 * must say so and exit 2) or the test sends SIGTERM (exit 0).  The last
 * output line must carry the exact counts.
 *
 * With --device the backend is a virtio-mmio device: the fake daemon
 * answers its CLAIM with a real ring (a sealed memfd) and eventfds, then
 * plays the guest's driver through the ring (probe, features, a queue),
 * kicks a queue through its ioeventfd and watches the irqfd's eventfds.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <signal.h>
#include <sys/mman.h>
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

/* Receive one request of the backend (5 s at most), decoded, its descriptors in fds[0..3]. */
static void recv_request(int c, ProtoRequest *req, int *fds, unsigned *ret_nfds) {
        uint8_t buf[XIRQ_MSG_MAX];
        struct pollfd cp = { .fd = c, .events = POLLIN };
        ssize_t len;

        REQUIRE(poll(&cp, 1, 5000) == 1);
        len = tu_recv_fds(c, buf, sizeof(buf), 0, fds, 4, ret_nfds);
        REQUIRE(len > 0);
        CHECK_INT(proto_decode_request(buf, (size_t) len, *ret_nfds, req), 0);
}

static void reply(int c, const ProtoRequest *req, int error) {
        uint8_t buf[XIRQ_MSG_MAX];
        size_t len = proto_encode_reply(buf, req->hdr.type, req->hdr.seq, error);

        REQUIRE(send(c, buf, len, MSG_NOSIGNAL) == (ssize_t) len);
}

/* Accept the backend and answer its HELLO with the version given. */
static int accept_hello(int l, uint16_t version) {
        uint8_t buf[XIRQ_MSG_MAX];
        struct pollfd pf = { .fd = l, .events = POLLIN };
        ProtoRequest req;
        unsigned nfds;
        int c, fds[4];
        size_t len;

        REQUIRE(poll(&pf, 1, 5000) == 1);
        c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        REQUIRE(c >= 0);
        recv_request(c, &req, fds, &nfds);
        CHECK_INT(req.op, PROTO_OP_HELLO);
        CHECK_INT(req.version_max, XIRQ_PROTO_VERSION);
        len = proto_encode_hello_reply(buf, req.hdr.seq, 0, version, 9, 256);
        REQUIRE(send(c, buf, len, MSG_NOSIGNAL) == (ssize_t) len);
        return c;
}

/* Accept the backend, answer HELLO and n registrations; collect their eventfds. */
static int serve_registrations(int l, unsigned n, uint16_t want_type, int *efds, uint16_t *queues) {
        int c = accept_hello(l, 1);

        for (unsigned i = 0; i < n; i++) {
                ProtoRequest req;
                unsigned nfds;
                int fds[4];

                recv_request(c, &req, fds, &nfds);
                CHECK_INT(req.op, PROTO_OP_ASSIGN);
                CHECK_INT(req.hdr.type, want_type);
                CHECK_U64(req.key.addr, 0x3000050);
                CHECK_INT(req.key.value, queues[i]);
                CHECK_INT(nfds, 1);
                efds[i] = fds[0];
                reply(c, &req, 0);
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

/* ---- --device ---- */

/* The daemon's side of the device: the claim's ring and eventfds, the irqfd's, the queues'. */
typedef struct FakeDevice {
        int c;                          /* the connection */
        int ring_fd, access_efd, answer_efd;
        struct xirq_ring *ring;
        uint32_t claim_id, seq;
        int kick[2];                    /* queues 0 and 1 */
        int trigger, resample;          /* the irqfd's (resample -1 unless LEVEL) */
        ProtoRequest irqfd;
} FakeDevice;

#define DEV_BASE UINT64_C(0x3000000)

static void fake_device_ring(FakeDevice *f) {
        f->ring_fd = memfd_create("xirq-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        REQUIRE(f->ring_fd >= 0 && ftruncate(f->ring_fd, sizeof(*f->ring)) == 0);
        f->ring = mmap(NULL, sizeof(*f->ring), PROT_READ | PROT_WRITE, MAP_SHARED, f->ring_fd, 0);
        REQUIRE(f->ring != MAP_FAILED);
        f->ring->magic = XIRQ_RING_MAGIC;
        f->ring->size = XIRQ_RING_SIZE;
        REQUIRE(fcntl(f->ring_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0);
        f->access_efd = eventfd(0, EFD_CLOEXEC);
        f->answer_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        REQUIRE(f->access_efd >= 0 && f->answer_efd >= 0);
}

/* Serve the device's setup: HELLO (version 2), its two queues, CLAIM of its window, IRQFD of that interrupt. */
static void serve_device(int l, FakeDevice *f, uint8_t action, uint32_t irq, uint8_t mode) {
        uint8_t buf[XIRQ_MSG_MAX];
        ProtoRequest req;
        unsigned nfds;
        int fds[4];
        size_t len;

        fake_device_ring(f);
        f->c = accept_hello(l, 2);
        for (unsigned i = 0; i < 2; i++) {
                recv_request(f->c, &req, fds, &nfds);
                CHECK_INT(req.op, PROTO_OP_ASSIGN);
                CHECK_INT(req.hdr.type, XIRQ_MSG_VIRTIO_MMIO);
                CHECK_U64(req.base, DEV_BASE);
                CHECK_INT(req.queue, i);
                CHECK_INT(nfds, 1);
                f->kick[i] = fds[0];
                reply(f->c, &req, 0);
        }
        recv_request(f->c, &req, fds, &nfds);
        CHECK_INT(req.op, PROTO_OP_CLAIM);
        CHECK_INT(req.claim.space, XIRQ_SPACE_MMIO);
        CHECK_U64(req.claim.addr, DEV_BASE);
        CHECK_U64(req.claim.len, 0x200);
        f->claim_id = req.claim.id;
        len = proto_encode_reply(buf, XIRQ_MSG_CLAIM, req.hdr.seq, 0);
        REQUIRE(tu_send_fds(f->c, buf, len, (const int[]) { f->ring_fd, f->access_efd, f->answer_efd }, 3) == 0);
        recv_request(f->c, &f->irqfd, fds, &nfds);
        CHECK_INT(f->irqfd.op, PROTO_OP_IRQFD);
        CHECK_INT(f->irqfd.irqfd.action, action);
        CHECK_INT(f->irqfd.irqfd.irq, irq);
        CHECK_INT(f->irqfd.irqfd.mode, mode);
        CHECK_INT(nfds, mode == XIRQ_IRQFD_LEVEL ? 2 : 1);
        f->trigger = fds[0];
        f->resample = fds[1];
        reply(f->c, &f->irqfd, 0);
}

/* One guest access through the ring: posted, the backend's answer awaited (5 s); the answer's data. */
static uint64_t guest_access(FakeDevice *f, uint8_t direction, uint64_t offset, uint8_t size, uint64_t data) {
        struct xirq_ring *r = f->ring;
        uint32_t prod = r->access_prod, cons = r->answer_cons;
        struct xirq_answer a;
        uint64_t one = 1, v;

        r->access[prod % XIRQ_RING_SIZE] = (struct xirq_access) {
                .seq = ++f->seq, .claim = f->claim_id, .vcpu = 0, .dir = direction, .size = size,
                .addr = DEV_BASE + offset, .data = data,
        };
        __atomic_store_n(&r->access_prod, prod + 1, __ATOMIC_RELEASE);
        REQUIRE(write(f->access_efd, &one, sizeof(one)) == sizeof(one));
        for (int waited = 0; __atomic_load_n(&r->answer_prod, __ATOMIC_ACQUIRE) == cons; waited += 10) {
                struct pollfd p = { .fd = f->answer_efd, .events = POLLIN };
                REQUIRE(waited < 5000);
                if (poll(&p, 1, 10) == 1)
                        (void) !read(f->answer_efd, &v, sizeof(v));
        }
        memcpy(&a, &r->answer[cons % XIRQ_RING_SIZE], sizeof(a));
        CHECK_INT(a.seq, f->seq);
        __atomic_store_n(&r->answer_cons, cons + 1, __ATOMIC_RELEASE);
        CHECK_INT(r->access_cons, prod + 1);
        return a.data;
}

#define READ4(f, off) guest_access(f, XIRQ_ACCESS_READ, off, 4, 0)
#define WRITE4(f, off, v) (void) guest_access(f, XIRQ_ACCESS_WRITE, off, 4, v)

/* What an eventfd was signalled with since last asked, waiting up to timeout_ms for a signal. */
static uint64_t signalled(int efd, int timeout_ms) {
        struct pollfd p = { .fd = efd, .events = POLLIN };
        uint64_t v = 0;

        if (poll(&p, 1, timeout_ms) == 1 && read(efd, &v, sizeof(v)) != sizeof(v))
                v = 0;
        return v;
}

static void fake_device_free(FakeDevice *f) {
        int fds[] = { f->c, f->ring_fd, f->access_efd, f->answer_efd, f->kick[0], f->kick[1], f->trigger,
                      f->resample };

        munmap(f->ring, sizeof(*f->ring));
        for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
                if (fds[i] >= 0)
                        close(fds[i]);
}

/* The driver's probe: identify, negotiate VERSION_1, set up queue 0, DRIVER_OK. */
static void driver_probe(FakeDevice *f) {
        CHECK_U64(READ4(f, 0x000), 0x74726976);         /* MagicValue */
        CHECK_U64(READ4(f, 0x004), 2);                  /* Version */
        CHECK_U64(READ4(f, 0x008), 42);                 /* DeviceID */
        WRITE4(f, 0x070, 1);                            /* Status: ACKNOWLEDGE */
        WRITE4(f, 0x070, 3);                            /* ... DRIVER */
        WRITE4(f, 0x014, 1);                            /* DeviceFeaturesSel */
        CHECK_U64(READ4(f, 0x010), 1);                  /* VIRTIO_F_VERSION_1 (bit 32) */
        WRITE4(f, 0x024, 1);                            /* DriverFeaturesSel */
        WRITE4(f, 0x020, 1);                            /* DriverFeatures */
        WRITE4(f, 0x070, 0xb);                          /* ... FEATURES_OK */
        CHECK_U64(READ4(f, 0x070), 0xb);                /* kept: accepted */
        WRITE4(f, 0x030, 0);                            /* QueueSel */
        CHECK_U64(READ4(f, 0x034), 256);                /* QueueNumMax */
        WRITE4(f, 0x038, 8);                            /* QueueNum */
        WRITE4(f, 0x080, 0x10000);                      /* QueueDescLow */
        WRITE4(f, 0x090, 0x11000);                      /* QueueDriverLow */
        WRITE4(f, 0x0a0, 0x12000);                      /* QueueDeviceLow */
        WRITE4(f, 0x044, 1);                            /* QueueReady */
        CHECK_U64(READ4(f, 0x044), 1);
        WRITE4(f, 0x070, 0xf);                          /* ... DRIVER_OK */
        CHECK_U64(READ4(f, 0x070), 0xf);
}

static void test_device_level(void) {
        static const char *const args[] = { "--base", "0x3000000", "--queues", "2", "--device", "42", "--irq",
                                            "isa:5", "--irq-mode", "level", "--interval", "0", NULL };
        FakeDevice f = { .resample = -1 };
        int l = listen_socket();
        Backend b;

        start(&b, args);
        serve_device(l, &f, XIRQ_IRQ_ISA, 5, XIRQ_IRQFD_LEVEL);
        CHECK(f.resample >= 0);
        CHECK(wait_output(&b, "ready queues=2 base=0x3000000 mode=virtio domid=9 device=42 irq=isa:5 "
                          "irq-mode=level\n", 5000));
        CHECK(strstr(b.buf, "claimed base=0x3000000 size=0x200 id=") != NULL);
        CHECK(strstr(b.buf, "irqfd irq=isa:5 mode=level id=") != NULL);

        driver_probe(&f);
        CHECK(wait_output(&b, "access read offset=0x0 size=4 value=0x74726976\n", 5000));
        CHECK(wait_output(&b, "access write offset=0x70 size=4 value=0xf\n", 5000));
        CHECK_U64(signalled(f.trigger, 0), 0);          /* no interrupt so far */

        /* a kick: used-buffer bit, the line raised; the driver reads and acks: lowered */
        kick(f.kick[0], 1);
        CHECK(wait_output(&b, "kick q=0 n=1 served\ninterrupt raise\n", 5000));
        CHECK_U64(signalled(f.trigger, 5000), 1);
        CHECK_U64(READ4(&f, 0x060), 1);                 /* InterruptStatus: used buffer */
        CHECK_U64(signalled(f.resample, 0), 0);         /* still up */
        WRITE4(&f, 0x064, 1);                           /* InterruptACK */
        CHECK(wait_output(&b, "access write offset=0x64 size=4 value=0x1\ninterrupt lower\n", 5000));
        CHECK_U64(signalled(f.resample, 5000), 1);
        CHECK_U64(READ4(&f, 0x060), 0);

        /* queue 1 never started: its kick is ignored, no interrupt */
        {
                uint64_t two = 2;       /* in one write: one wakeup */
                REQUIRE(write(f.kick[1], &two, sizeof(two)) == sizeof(two));
        }
        CHECK(wait_output(&b, "kick q=1 n=2 ignored\n", 5000));
        CHECK_U64(signalled(f.trigger, 100), 0);
        /* a bad access is answered (0) and the device goes on */
        CHECK_U64(guest_access(&f, XIRQ_ACCESS_READ, 0x000, 2, 0), 0);
        CHECK_U64(READ4(&f, 0x000), 0x74726976);

        kill(b.pid, SIGTERM);
        CHECK_INT(finish(&b), 0);
        CHECK(strstr(b.buf, "kicks q0=1 q1=2 total=3\n") != NULL);
        CHECK(strstr(b.buf, "device accesses=26 kicks=2 raised=1 lowered=1\n") != NULL);
        if (ut_failures)
                fprintf(stderr, "output:\n%s\n", b.buf);
        fake_device_free(&f);
        close(l);
}

static void test_device_evtchn(void) {
        static const char *const args[] = { "--base", "0x3000000", "--queues", "0,1", "--device", "42", "--irq",
                                            "evtchn:7", "--interval", "0", NULL };
        FakeDevice f = { .resample = -1 };
        int l = listen_socket();
        Backend b;

        start(&b, args);
        serve_device(l, &f, XIRQ_IRQ_EVTCHN, 7, XIRQ_IRQFD_EDGE);
        CHECK_INT(f.resample, -1);
        CHECK(wait_output(&b, "irq=evtchn:7 irq-mode=edge\n", 5000));
        driver_probe(&f);
        /* two kicks, two edges; the acks lower nothing */
        for (int i = 0; i < 2; i++) {
                kick(f.kick[0], 1);
                CHECK_U64(signalled(f.trigger, 5000), 1);
                CHECK_U64(READ4(&f, 0x060), 1);
                WRITE4(&f, 0x064, 1);
        }
        /* the daemon goes away: exit 2 */
        close(f.c);
        f.c = -1;
        CHECK_INT(finish(&b), 2);
        CHECK(strstr(b.buf, "interrupt raise\n") != NULL);
        CHECK(strstr(b.buf, "interrupt lower") == NULL);
        CHECK(strstr(b.buf, "device accesses=") != NULL);
        CHECK(strstr(b.buf, " raised=2 lowered=0\n") != NULL);
        if (ut_failures)
                fprintf(stderr, "output:\n%s\n", b.buf);
        fake_device_free(&f);
        close(l);
}

/* Set-up failures: a daemon of version 1, a refused claim, bad options. */
static void test_device_errors(void) {
        static const char *const args[] = { "--base", "0x3000000", "--device", "42", "--irq", "line:40",
                                            "--interval", "0", NULL };
        ProtoRequest req;
        unsigned nfds;
        int l = listen_socket(), c, fds[4];
        Backend b;

        /* version 1: the claim cannot even be asked for */
        start(&b, args);
        c = accept_hello(l, 1);
        recv_request(c, &req, fds, &nfds);
        CHECK_INT(req.op, PROTO_OP_ASSIGN);
        close(fds[0]);
        reply(c, &req, 0);
        CHECK_INT(finish(&b), 1);
        close(c);

        /* the daemon refuses the claim */
        start(&b, args);
        c = accept_hello(l, 2);
        recv_request(c, &req, fds, &nfds);
        close(fds[0]);
        reply(c, &req, 0);
        recv_request(c, &req, fds, &nfds);
        CHECK_INT(req.op, PROTO_OP_CLAIM);
        reply(c, &req, -EEXIST);
        CHECK_INT(finish(&b), 1);
        close(c);
        close(l);

        /* options: --irq without --device, --device without --irq, an evtchn that is not an edge, --json */
        start(&b, (const char *const[]) { "--irq", "line:40", NULL });
        CHECK_INT(finish(&b), 1);
        start(&b, (const char *const[]) { "--device", "42", NULL });
        CHECK_INT(finish(&b), 1);
        start(&b, (const char *const[]) { "--device", "42", "--irq", "evtchn:7", "--irq-mode", "level", NULL });
        CHECK_INT(finish(&b), 1);
        start(&b, (const char *const[]) { "--device", "42", "--irq", "line:40", "--json", NULL });
        CHECK_INT(finish(&b), 1);
        start(&b, (const char *const[]) { "--device", "42", "--irq", "isa:16", NULL });
        CHECK_INT(finish(&b), 1);
        start(&b, (const char *const[]) { "--device", "42", "--irq", "line:40", "--queues", "65", NULL });
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
        test_device_level();
        test_device_evtchn();
        test_device_errors();
        unlink(sock_path);
        rmdir(dir);
        return ut_finish("test-example");
}
