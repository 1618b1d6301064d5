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
 *
 * xen-ioreqd-vblk is tested the same way, built over a fake
 * libxenforeignmemory (fake-foreignmemory.c) whose guest RAM is a file the
 * test maps too: the test is the guest's virtio-blk driver, with rings and
 * buffers in that RAM, and checks data both ways against the disk file, the
 * interrupts (edge, level with its resample) and the counters at exit.
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

#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>

#include "proto.h"
#include "testutil.h"
#include "unit-assert.h"

#ifndef EXAMPLE_BACKEND
#error "EXAMPLE_BACKEND must name the example backend binary"
#endif
#if !defined(VBLK_BACKEND) || !defined(VBLK_REAL)
#error "VBLK_BACKEND must name xen-ioreqd-vblk over the fake libxenforeignmemory, VBLK_REAL the real one"
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

static void start_program(Backend *b, const char *program, const char *const *args) {
        const char *argv[32];
        int p[2], n = 0;

        REQUIRE(pipe2(p, O_CLOEXEC) == 0);
        argv[n++] = program;
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

static void start(Backend *b, const char *const *args) {
        start_program(b, EXAMPLE_BACKEND, args);
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

/* Accept the backend and answer its HELLO with the version and guest domid given. */
static int accept_hello_domid(int l, uint16_t version, uint32_t domid) {
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
        len = proto_encode_hello_reply(buf, req.hdr.seq, 0, version, domid, 256);
        REQUIRE(send(c, buf, len, MSG_NOSIGNAL) == (ssize_t) len);
        return c;
}

static int accept_hello(int l, uint16_t version) {
        return accept_hello_domid(l, version, 9);
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

/* Serve the registrations of queues 0..n-1 (VIRTIO_MMIO at DEV_BASE), keeping their eventfds. */
static void serve_queues(FakeDevice *f, unsigned n) {
        ProtoRequest req;
        unsigned nfds;
        int fds[4];

        for (unsigned i = 0; i < n; i++) {
                recv_request(f->c, &req, fds, &nfds);
                CHECK_INT(req.op, PROTO_OP_ASSIGN);
                CHECK_INT(req.hdr.type, XIRQ_MSG_VIRTIO_MMIO);
                CHECK_U64(req.base, DEV_BASE);
                CHECK_INT(req.queue, i);
                CHECK_INT(nfds, 1);
                f->kick[i] = fds[0];
                reply(f->c, &req, 0);
        }
}

/* Serve the CLAIM of the device's window with the ring and its eventfds. */
static void serve_claim(FakeDevice *f) {
        uint8_t buf[XIRQ_MSG_MAX];
        ProtoRequest req;
        unsigned nfds;
        int fds[4];
        size_t len;

        fake_device_ring(f);
        recv_request(f->c, &req, fds, &nfds);
        CHECK_INT(req.op, PROTO_OP_CLAIM);
        CHECK_INT(req.claim.space, XIRQ_SPACE_MMIO);
        CHECK_U64(req.claim.addr, DEV_BASE);
        CHECK_U64(req.claim.len, 0x200);
        f->claim_id = req.claim.id;
        len = proto_encode_reply(buf, XIRQ_MSG_CLAIM, req.hdr.seq, 0);
        REQUIRE(tu_send_fds(f->c, buf, len, (const int[]) { f->ring_fd, f->access_efd, f->answer_efd }, 3) == 0);
}

/* Serve the IRQFD of that interrupt, keeping its eventfds. */
static void serve_irqfd(FakeDevice *f, uint8_t action, uint32_t irq, uint8_t mode) {
        unsigned nfds;
        int fds[4];

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

/* Serve the device's setup: HELLO (version 2), its two queues, IRQFD of its interrupt, CLAIM of its window. */
static void serve_device(int l, FakeDevice *f, uint8_t action, uint32_t irq, uint8_t mode) {
        f->c = accept_hello(l, 2);
        serve_queues(f, 2);
        serve_irqfd(f, action, irq, mode);
        serve_claim(f);
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

/*
 * The driver's probe: identify, negotiate VERSION_1, set up queue 0 of num
 * entries with its rings at rings, rings + 0x1000 and rings + 0x2000, DRIVER_OK.
 */
static void driver_probe_rings(FakeDevice *f, uint32_t device_id, uint32_t num, uint64_t rings) {
        CHECK_U64(READ4(f, 0x000), 0x74726976);         /* MagicValue */
        CHECK_U64(READ4(f, 0x004), 2);                  /* Version */
        CHECK_U64(READ4(f, 0x008), device_id);          /* DeviceID */
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
        WRITE4(f, 0x038, num);                          /* QueueNum */
        WRITE4(f, 0x080, rings);                        /* QueueDescLow */
        WRITE4(f, 0x090, rings + 0x1000);               /* QueueDriverLow */
        WRITE4(f, 0x0a0, rings + 0x2000);               /* QueueDeviceLow */
        WRITE4(f, 0x044, 1);                            /* QueueReady */
        CHECK_U64(READ4(f, 0x044), 1);
        WRITE4(f, 0x070, 0xf);                          /* ... DRIVER_OK */
        CHECK_U64(READ4(f, 0x070), 0xf);
}

static void driver_probe(FakeDevice *f) {
        driver_probe_rings(f, 42, 8, 0x10000);
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

/* A backend of one queue and a device: the daemon accepts its queue and its irqfd, refuses its claim: exit 1. */
static void refuse_claim(int l, const char *program, const char *const *args) {
        ProtoRequest req;
        unsigned nfds;
        int c, fds[4];
        Backend b;

        start_program(&b, program, args);
        c = accept_hello(l, 2);
        for (int i = 0; i < 2; i++) {
                recv_request(c, &req, fds, &nfds);
                CHECK_INT(req.op, i == 0 ? PROTO_OP_ASSIGN : PROTO_OP_IRQFD);
                for (unsigned k = 0; k < nfds; k++)
                        close(fds[k]);
                reply(c, &req, 0);
        }
        recv_request(c, &req, fds, &nfds);
        CHECK_INT(req.op, PROTO_OP_CLAIM);
        reply(c, &req, -EEXIST);
        CHECK_INT(finish(&b), 1);
        CHECK(strstr(b.buf, "ready") == NULL);
        close(c);
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

        refuse_claim(l, EXAMPLE_BACKEND, args);
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


/* ---- xen-ioreqd-vblk, over a fake libxenforeignmemory: the guest's RAM is a file ---- */

#define RAM_SIZE (64u * 4096u)
#define RINGS 0x0000u                   /* descriptors; available ring at +0x1000, used ring at +0x2000 */
#define HDRS 0x3000u                    /* request k: header at HDRS + 16k */
#define STATUSES 0x3800u                /* ... status byte at STATUSES + k */
#define DATA 0x8800u                    /* ... data at DATA + 0x2000k, across a page boundary */
#define QNUM 16u
#define DISK_SECTORS 64u

/* The guest's side: its RAM and the queue as its driver set it up. */
typedef struct Guest {
        FakeDevice f;
        uint8_t *ram;
        uint16_t avail_idx, used_seen;
        char disk[sizeof(dir) + 16], ram_path[sizeof(dir) + 16];
} Guest;

static uint8_t disk_byte(uint64_t i) {
        return (uint8_t) (i * 31u + i / 512u);
}

static void guest_setup(Guest *g, bool fill_disk) {
        int fd;

        *g = (Guest) { .f = { .c = -1, .ring_fd = -1, .access_efd = -1, .answer_efd = -1, .kick = { -1, -1 },
                              .trigger = -1, .resample = -1 } };
        snprintf(g->disk, sizeof(g->disk), "%s/disk", dir);
        snprintf(g->ram_path, sizeof(g->ram_path), "%s/ram", dir);
        if (fill_disk) {
                uint8_t buf[DISK_SECTORS * 512];
                for (size_t i = 0; i < sizeof(buf); i++)
                        buf[i] = disk_byte(i);
                fd = open(g->disk, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                REQUIRE(fd >= 0 && write(fd, buf, sizeof(buf)) == (ssize_t) sizeof(buf));
                close(fd);
        }
        fd = open(g->ram_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        REQUIRE(fd >= 0 && ftruncate(fd, RAM_SIZE) == 0);
        g->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        REQUIRE(g->ram != MAP_FAILED);
        close(fd);
}

static void guest_free(Guest *g) {
        fake_device_free(&g->f);
        munmap(g->ram, RAM_SIZE);
        unlink(g->ram_path);
        unlink(g->disk);
}

/* Serve the setup of xen-ioreqd-vblk: HELLO, queue 0, IRQFD, then CLAIM. */
static void serve_vblk(int l, Guest *g, uint8_t action, uint32_t irq, uint8_t mode) {
        g->f.c = accept_hello(l, 2);
        serve_queues(&g->f, 1);
        serve_irqfd(&g->f, action, irq, mode);
        serve_claim(&g->f);
}

static void guest_desc(Guest *g, uint16_t i, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next) {
        struct vring_desc *d = (struct vring_desc *) (g->ram + RINGS) + i;

        *d = (struct vring_desc) { .addr = gpa, .len = len, .flags = flags, .next = next };
}

static void guest_publish(Guest *g, uint16_t head) {
        struct vring_avail *a = (struct vring_avail *) (g->ram + RINGS + 0x1000);

        a->ring[g->avail_idx % QNUM] = head;
        __atomic_store_n(&a->idx, ++g->avail_idx, __ATOMIC_RELEASE);
}

/* Request k: header, data of len bytes (none if 0), status preset to 0xff; descriptors 3k..3k+2. */
static void guest_request(Guest *g, unsigned k, uint32_t type, uint64_t sector, uint32_t len) {
        struct virtio_blk_outhdr *h = (struct virtio_blk_outhdr *) (g->ram + HDRS) + k;
        uint16_t d = (uint16_t) (3 * k);

        *h = (struct virtio_blk_outhdr) { .type = type, .sector = sector };
        g->ram[STATUSES + k] = 0xff;
        guest_desc(g, d, HDRS + 16 * k, 16, VRING_DESC_F_NEXT, len ? d + 1 : d + 2);
        if (len)
                guest_desc(g, d + 1, DATA + 0x2000 * k, len,
                           VRING_DESC_F_NEXT | (type == VIRTIO_BLK_T_OUT ? 0 : VRING_DESC_F_WRITE), d + 2);
        guest_desc(g, d + 2, STATUSES + k, 1, VRING_DESC_F_WRITE, 0);
        guest_publish(g, d);
}

/* The next used element's id and len, or -1 when there is none. */
static int64_t guest_used(Guest *g, uint32_t *ret_len) {
        struct vring_used *u = (struct vring_used *) (g->ram + RINGS + 0x2000);
        struct vring_used_elem e;

        if (__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) == g->used_seen)
                return -1;
        e = u->ring[g->used_seen++ % QNUM];
        *ret_len = e.len;
        return e.id;
}

/* Kick queue 0 and take the interrupt: one edge, InterruptStatus want, acknowledged. */
static void guest_kick_and_wait(Guest *g, uint32_t want) {
        kick(g->f.kick[0], 1);
        CHECK_U64(signalled(g->f.trigger, 5000), 1);
        CHECK_U64(READ4(&g->f, 0x060), want);
        WRITE4(&g->f, 0x064, want);
}

/* Request k was answered with status and used length len. */
static void check_answer(Guest *g, unsigned k, uint8_t status, uint32_t len) {
        uint32_t used_len = 0;

        CHECK_INT(guest_used(g, &used_len), 3 * k);
        CHECK_INT(used_len, len);
        CHECK_INT(g->ram[STATUSES + k], status);
}

static void test_vblk(void) {
        static const char *const args_tail[] = { "--base", "0x3000000", "--irq", "isa:7", "--serial", "test-serial",
                                                 NULL };
        const char *args[12] = { "--file" };
        int l = listen_socket(), fd;
        uint8_t sector[512];
        Guest g;
        Backend b;

        guest_setup(&g, true);
        args[1] = g.disk;
        memcpy(&args[2], args_tail, sizeof(args_tail));
        start_program(&b, VBLK_BACKEND, args);
        serve_vblk(l, &g, XIRQ_IRQ_ISA, 7, XIRQ_IRQFD_EDGE);
        CHECK(wait_output(&b, "ready base=0x3000000 domid=9 sectors=64 read-only=no irq=isa:7 irq-mode=edge\n", 5000));

        driver_probe_rings(&g.f, 2, QNUM, RINGS);
        CHECK_U64(READ4(&g.f, 0x100), DISK_SECTORS);    /* capacity */
        CHECK_U64(READ4(&g.f, 0x104), 0);
        CHECK_U64(READ4(&g.f, 0x114), 512);             /* blk_size */

        /* IN: 8 sectors from sector 2 into a buffer across a page boundary */
        guest_request(&g, 0, VIRTIO_BLK_T_IN, 2, 4096);
        guest_kick_and_wait(&g, 1);
        check_answer(&g, 0, VIRTIO_BLK_S_OK, 4097);
        for (unsigned i = 0; i < 4096; i++)
                if (g.ram[DATA + i] != disk_byte(1024 + i)) {
                        CHECK_INT(g.ram[DATA + i], disk_byte(1024 + i));
                        break;
                }
        /* OUT: 8 sectors to sector 40, read back from the file */
        memset(g.ram + DATA + 0x2000, 0xa5, 4096);
        guest_request(&g, 1, VIRTIO_BLK_T_OUT, 40, 4096);
        guest_kick_and_wait(&g, 1);
        check_answer(&g, 1, VIRTIO_BLK_S_OK, 1);
        fd = open(g.disk, O_RDONLY | O_CLOEXEC);
        REQUIRE(fd >= 0 && pread(fd, sector, sizeof(sector), 47 * 512) == (ssize_t) sizeof(sector));
        close(fd);
        CHECK(sector[0] == 0xa5 && sector[511] == 0xa5);
        /* GET_ID: the serial */
        guest_request(&g, 2, VIRTIO_BLK_T_GET_ID, 0, 20);
        guest_kick_and_wait(&g, 1);
        check_answer(&g, 2, VIRTIO_BLK_S_OK, 21);
        CHECK(memcmp(g.ram + DATA + 0x4000, "test-serial\0", 12) == 0);
        /* past the capacity: an I/O error, the device goes on */
        guest_request(&g, 0, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, 1024);
        guest_kick_and_wait(&g, 1);
        check_answer(&g, 0, VIRTIO_BLK_S_IOERR, 0);     /* nothing before the status byte was written */
        /* two requests, one kick, one interrupt */
        guest_request(&g, 0, VIRTIO_BLK_T_IN, 0, 512);
        guest_request(&g, 1, VIRTIO_BLK_T_IN, 63, 512);
        guest_kick_and_wait(&g, 1);
        check_answer(&g, 0, VIRTIO_BLK_S_OK, 513);
        check_answer(&g, 1, VIRTIO_BLK_S_OK, 513);
        CHECK_INT(g.ram[DATA + 0x2000 + 511], disk_byte(63 * 512 + 511));
        /* a chain whose next index leaves the table: DEVICE_NEEDS_RESET, a configuration interrupt */
        guest_desc(&g, 0, HDRS, 16, VRING_DESC_F_NEXT, 200);
        guest_publish(&g, 0);
        guest_kick_and_wait(&g, 2);
        CHECK_U64(READ4(&g.f, 0x070) & 0x40, 0x40);
        WRITE4(&g.f, 0x070, 0);                         /* reset */
        CHECK_U64(READ4(&g.f, 0x070), 0);

        kill(b.pid, SIGTERM);
        CHECK_INT(finish(&b), 0);
        CHECK(strstr(b.buf, "vblk requests=6 ioerr=1 unsupp=0 bytes-read=5120 bytes-written=4096 kicks=6 "
                     "wakeups=6 interrupts=6 lowered=0 accesses=") != NULL);
        CHECK(strstr(b.buf, " bad-accesses=0 failures=1 resets=1\n") != NULL);
        if (ut_failures)
                fprintf(stderr, "output:\n%s\n", b.buf);
        guest_free(&g);
        close(l);
}

/* A read-only disk, a level interrupt on a PCI INTx, the daemon hanging up. */
static void test_vblk_level_read_only(void) {
        const char *args[] = { "--file", NULL, "--read-only", "--base", "0x3000000", "--irq", "intx:3:1",
                               "--irq-mode", "level", NULL };
        int l = listen_socket();
        Guest g;
        Backend b;

        guest_setup(&g, true);
        args[1] = g.disk;
        start_program(&b, VBLK_BACKEND, args);
        g.f.c = accept_hello(l, 2);
        serve_queues(&g.f, 1);
        serve_irqfd(&g.f, XIRQ_IRQ_INTX, 0, XIRQ_IRQFD_LEVEL);
        CHECK_INT(g.f.irqfd.irqfd.device, 3);
        CHECK_INT(g.f.irqfd.irqfd.pin, 1);
        serve_claim(&g.f);
        CHECK(wait_output(&b, "read-only=yes irq=intx:3:1 irq-mode=level\n", 5000));
        driver_probe_rings(&g.f, 2, QNUM, RINGS);
        WRITE4(&g.f, 0x014, 0);                         /* DeviceFeaturesSel */
        CHECK_U64(READ4(&g.f, 0x010) & (1u << VIRTIO_BLK_F_RO), 1u << VIRTIO_BLK_F_RO);

        /* a write to a read-only disk: an I/O error; the line stays up until acknowledged */
        guest_request(&g, 0, VIRTIO_BLK_T_OUT, 0, 512);
        kick(g.f.kick[0], 1);
        CHECK_U64(signalled(g.f.trigger, 5000), 1);
        CHECK_U64(READ4(&g.f, 0x060), 1);
        CHECK_U64(signalled(g.f.resample, 0), 0);
        WRITE4(&g.f, 0x064, 1);
        CHECK_U64(signalled(g.f.resample, 5000), 1);
        check_answer(&g, 0, VIRTIO_BLK_S_IOERR, 1);
        /* a read works */
        guest_request(&g, 1, VIRTIO_BLK_T_IN, 1, 512);
        kick(g.f.kick[0], 1);
        CHECK_U64(signalled(g.f.trigger, 5000), 1);
        WRITE4(&g.f, 0x064, 1);
        CHECK_U64(signalled(g.f.resample, 5000), 1);
        check_answer(&g, 1, VIRTIO_BLK_S_OK, 513);
        CHECK_INT(g.ram[DATA + 0x2000], disk_byte(512));

        close(g.f.c);           /* the daemon goes away */
        g.f.c = -1;
        CHECK_INT(finish(&b), 2);
        CHECK(strstr(b.buf, "vblk requests=2 ioerr=1 unsupp=0 bytes-read=512 bytes-written=0 kicks=2 wakeups=2 "
                     "interrupts=2 lowered=2 ") != NULL);
        if (ut_failures)
                fprintf(stderr, "output:\n%s\n", b.buf);
        guest_free(&g);
        close(l);
}

/* Set-up failures and bad options. */
static void test_vblk_errors(void) {
        const char *args[] = { "--file", NULL, "--base", "0x3000000", "--irq", "isa:7", NULL };
        ProtoRequest req;
        unsigned nfds;
        int l = listen_socket(), c, fds[4];
        Guest g;
        Backend b;

        guest_setup(&g, true);
        args[1] = g.disk;
        /* a daemon of version 1: no irqfd */
        start_program(&b, VBLK_BACKEND, args);
        c = accept_hello(l, 1);
        recv_request(c, &req, fds, &nfds);
        CHECK_INT(req.op, PROTO_OP_ASSIGN);
        close(fds[0]);
        reply(c, &req, 0);
        CHECK_INT(finish(&b), 1);
        CHECK(strstr(b.buf, "ready") == NULL);
        close(c);
        refuse_claim(l, VBLK_BACKEND, args);
        /* the guest is not running */
        start_program(&b, VBLK_BACKEND, args);
        c = accept_hello_domid(l, 2, 0xffffffff);
        CHECK_INT(finish(&b), 1);
        close(c);
        close(l);
        /* no daemon: the real program, with the real libxenforeignmemory, fails before it needs Xen */
        unlink(sock_path);
        start_program(&b, VBLK_REAL, args);
        CHECK_INT(finish(&b), 1);

        /* options (the real program) */
        start_program(&b, VBLK_REAL, (const char *const[]) { "--irq", "isa:7", NULL });
        CHECK_INT(finish(&b), 1);                               /* no --file */
        start_program(&b, VBLK_REAL, (const char *const[]) { "--file", g.disk, NULL });
        CHECK_INT(finish(&b), 1);                               /* no --irq */
        start_program(&b, VBLK_REAL, (const char *const[]) { "--file", "/nonexistent", "--irq", "isa:7", NULL });
        CHECK_INT(finish(&b), 1);
        for (unsigned i = 0; i < 8; i++) {
                static const char *const bad_irq[] = { "isa:16", "isa:", "intx:32:0", "intx:3", "intx:3:4",
                                                       "pci:3", "line:1020", "line:5x" };
                start_program(&b, VBLK_REAL, (const char *const[]) { "--file", g.disk, "--irq", bad_irq[i], NULL });
                CHECK_INT(finish(&b), 1);
        }
        start_program(&b, VBLK_REAL, (const char *const[]) { "--file", g.disk, "--irq", "evtchn:5", "--irq-mode",
                                                              "level", NULL });
        CHECK_INT(finish(&b), 1);
        start_program(&b, VBLK_REAL, (const char *const[]) { "--file", g.disk, "--irq", "isa:7", "--irq-mode",
                                                              "pulse", NULL });
        CHECK_INT(finish(&b), 1);
        start_program(&b, VBLK_REAL, (const char *const[]) { "--file", g.disk, "--irq", "isa:7", "--base",
                                                              "0x3000002", NULL });
        CHECK_INT(finish(&b), 1);
        start_program(&b, VBLK_REAL, (const char *const[]) { "--file", g.disk, "--irq", "isa:7", "extra", NULL });
        CHECK_INT(finish(&b), 1);
        start_program(&b, VBLK_REAL, (const char *const[]) { "--help", NULL });
        CHECK_INT(finish(&b), 0);
        CHECK(strstr(b.buf, "Usage: xen-ioreqd-vblk ") != NULL);
        guest_free(&g);
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
        setenv("XIRQ_FAKE_GUEST_DOMID", "9", 1);
        {
                char ram[sizeof(dir) + 16];
                snprintf(ram, sizeof(ram), "%s/ram", dir);
                setenv("XIRQ_FAKE_GUEST_RAM", ram, 1);
        }
        test_vblk();
        test_vblk_level_read_only();
        test_vblk_errors();
        unlink(sock_path);
        rmdir(dir);
        return ut_finish("test-example");
}
