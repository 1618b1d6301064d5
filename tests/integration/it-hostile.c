/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Randomized adversarial run of the real daemon on xensim: hostile clients
 * and hostile guests at once, then checks that nothing was lost.
 *
 * h1 (4 vCPUs, 4..128 when re-created) is attacked from both sides: its
 * vCPU 2 sends malformed requests (every one must be answered), slots
 * 3..127 of its server's page are scribbled with any state and events are
 * sent for them (vCPU 3 may hang by its own doing), spurious events come on
 * every port, while vCPUs 0 and 1 make legitimate accesses that must each be
 * answered within their timeout; its domain is destroyed, powered off or
 * crashed and re-created (sometimes paused, then unpaused) while I/O is in
 * flight.  h2 (2 vCPUs) is attacked by clients only; a well-behaved backend
 * holds a registration there whose kicks are counted exactly while the
 * attack goes on.  SIGHUP reloads change the busy-poll windows of both
 * guests under load (some new configs are broken and must be rejected whole).
 *
 * Hostile clients connect to both sockets and send valid, mutated,
 * truncated, oversized and random packets with 0..6 fds of every kind
 * (eventfd, pipe, socket, /dev/null, memfd, epoll); some never read their
 * replies, some only connect, some vanish mid-stream.  Every reply a client
 * reads must be the well-formed answer to the oldest unanswered packet it
 * sent.
 *
 * Two phases, each followed by a quiet point where every client is gone:
 * the daemon's open fds are back to their count before any client came, no
 * ioreq server is left, its VmRSS after the second phase is within a bound
 * of the first, a fresh client is served end to end with exact kick counts,
 * and the daemon's log holds no sanitizer report.
 *
 * HOSTILE_SEED=N replays the random choices of a run (the seed is printed;
 * thread timing still varies), HOSTILE_SECONDS=S sets each phase's length
 * (default 2.5).
 */
#define _GNU_SOURCE 1
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "itlib.h"
#include "proto.h"

#define BASE1           UINT64_C(0xfe000000)    /* h1's clean queue registrations */
#define BASE2           UINT64_C(0xc0de0000)    /* h2's backend: many bits away from HWIN */
#define HWIN            UINT64_C(0xfe100000)    /* where hostile clients register */
#define NOTIFY          XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY
#define H1_VCPUS        4u                      /* at first; re-created with 4..128 */
#define H2_VCPUS        2u
#define H1_LIMITS       "max_connections = 64\nmax_connections_per_uid = 40\n"
#define CLIENT_THREADS  2
#define CONNS_MAX       24                      /* per client thread */
#define EXPECT_MAX      64                      /* replies a reading connection waits for */

static It it;
static double phase_seconds = 2.5;
static uint64_t master_seed;
static atomic_bool stop;
static atomic_uint h1_domid;                    /* 0 while h1 is being re-created */
static atomic_uint h1_vcpus = H1_VCPUS;

/* ---- helpers ---- */

typedef struct Rng {
        uint64_t s;
} Rng;

static uint64_t rnd(Rng *r) {
        uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));

        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static unsigned rndn(Rng *r, unsigned n) {
        return (unsigned) (rnd(r) % n);
}

static Rng rng_for(unsigned stream) {
        Rng r = { master_seed ^ (UINT64_C(0x5851f42d4c957f2d) * (stream + 1)) };

        (void) rnd(&r);
        return r;
}

static long long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long vm_rss_kb(pid_t pid) {
        char path[64], line[256];
        long kb = -1;
        FILE *f;

        snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
        f = fopen(path, "r");
        if (!f)
                IT_FAIL("cannot open %s: %m", path);
        while (fgets(line, sizeof line, f))
                if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
                        break;
        fclose(f);
        if (kb < 0)
                IT_FAIL("no VmRSS in %s", path);
        return kb;
}

/* the whole log (it_log_contains() reads its first MiB; a debug log under attack is longer) */
static bool log_has(const char *needle) {
        FILE *f = fopen(it.log, "r");
        size_t keep = strlen(needle), have = 0;
        char buf[65536 + 256];
        bool found = false;

        if (!f)
                IT_FAIL("cannot open %s: %m", it.log);
        if (keep >= 256)
                IT_FAIL("needle too long");
        for (;;) {
                size_t n = fread(buf + have, 1, sizeof(buf) - 1 - have, f);

                if (n == 0)
                        break;
                have += n;
                buf[have] = '\0';
                if (memmem(buf, have, needle, strlen(needle))) {
                        found = true;
                        break;
                }
                /* keep a tail in case the needle straddles two reads */
                if (have > keep) {
                        memmove(buf, buf + have - keep, keep);
                        have = keep;
                }
        }
        fclose(f);
        return found;
}

/* lines of the log that contain needle */
static unsigned log_count(const char *needle) {
        FILE *f = fopen(it.log, "r");
        char *line = NULL;
        size_t size = 0;
        unsigned n = 0;

        if (!f)
                IT_FAIL("cannot open %s: %m", it.log);
        while (getline(&line, &size, f) >= 0)
                if (strstr(line, needle))
                        n++;
        free(line);
        fclose(f);
        return n;
}

static void check_no_sanitizer_report(void) {
        static const char *const marks[] = {
                "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "Invalid read",
                "Invalid write", "uninitialised", "definitely lost",
        };

        for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
                CHECK(!log_has(marks[i]), "the daemon's log has a report (\"%s\")", marks[i]);
}

/* ---- hostile clients ---- */

typedef enum ConnKind {
        CONN_READER,            /* reads and checks every reply */
        CONN_DEAF,              /* sends, never reads */
        CONN_MUTE,              /* only connects */
} ConnKind;

typedef struct Conn {
        int fd;
        ConnKind kind;
        bool hello;
        uint16_t exp_type[EXPECT_MAX];
        uint32_t exp_seq[EXPECT_MAX];
        unsigned head, n;
} Conn;

typedef struct ClientStats {
        unsigned long sent, replies, closed_by_daemon, connects, refused_connect;
} ClientStats;

static int connect_nb(const char *guest) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char path[300];
        int fd;

        it_socket_path(&it, guest, path, sizeof path);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                IT_FAIL("socket: %m");
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int e = errno;

                close(fd);
                /* a full backlog while the daemon is busy */
                if (e == EAGAIN || e == EINPROGRESS)
                        return -1;
                IT_FAIL("connect to %s: %s", path, strerror(e));
        }
        return fd;
}

/* One fd of a random kind; a pointer to the end to close after sending. */
static int make_fd(Rng *r, int *extra) {
        int p[2], fd = -1;
        uint64_t v;

        *extra = -1;
        switch (rndn(r, 10)) {
        case 0:
        case 1:
        case 2:
        case 3:
                fd = eventfd(0, EFD_CLOEXEC | (rndn(r, 2) ? EFD_NONBLOCK : 0));
                break;
        case 4:
                /* counter one below its maximum: the daemon's signal cannot be added */
                fd = eventfd(0, EFD_CLOEXEC | (rndn(r, 2) ? EFD_SEMAPHORE : 0));
                v = UINT64_C(0xfffffffffffffffe);
                if (fd >= 0 && write(fd, &v, sizeof v) != sizeof v)
                        IT_FAIL("eventfd write: %m");
                break;
        case 5:
                if (pipe2(p, O_CLOEXEC) == 0) {
                        fd = p[rndn(r, 2)];
                        *extra = p[0] == fd ? p[1] : p[0];
                }
                break;
        case 6:
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) == 0) {
                        fd = p[0];
                        *extra = p[1];
                }
                break;
        case 7:
                fd = open("/dev/null", O_RDWR | O_CLOEXEC);
                break;
        case 8:
                fd = memfd_create("hostile", MFD_CLOEXEC);
                break;
        default:
                fd = epoll_create1(EPOLL_CLOEXEC);
                break;
        }
        if (fd < 0)
                IT_FAIL("creating an fd: %m");
        return fd;
}

static uint64_t hostile_addr(Rng *r, uint8_t space) {
        if (space == XIRQ_SPACE_PIO)
                return rndn(r, 4) ? 0xc000 + rndn(r, 64) * 4 : 0xfff0 + rndn(r, 16);
        return HWIN + rndn(r, 16) * 0x200 + NOTIFY + rndn(r, 3) * 4;
}

/* A valid request of a random type (or junk), possibly mutated. Returns its length. */
static size_t build_msg(Rng *r, Conn *c, uint8_t *buf, size_t size, unsigned *want_fds) {
        size_t len;
        unsigned kind = !c->hello && rndn(r, 10) < 7 ? 0 : rndn(r, 6);
        uint32_t seq = (uint32_t) rnd(r);

        memset(buf, 0, size);
        *want_fds = 0;
        switch (kind) {
        case 0: {
                uint16_t vmin = rndn(r, 8) ? 1 : (uint16_t) rndn(r, 4);
                uint16_t vmax = rndn(r, 8) ? 1 : (uint16_t) rndn(r, 4);

                len = proto_encode_hello(buf, seq, vmin, vmax);
                break;
        }
        case 1:
        case 2: {
                uint8_t space = rndn(r, 5) ? XIRQ_SPACE_MMIO : XIRQ_SPACE_PIO;
                uint8_t l = (uint8_t) (1u << rndn(r, 4));
                uint8_t match = (uint8_t) rndn(r, 3);
                uint64_t lmask = l == 8 ? UINT64_MAX : (UINT64_C(1) << (l * 8)) - 1;
                uint64_t value = 0, mask = 0;

                if (match == XIRQ_MATCH_EXACT)
                        value = rnd(r) & lmask & 0xff;
                else if (match == XIRQ_MATCH_MASK) {
                        mask = 0xffff & lmask;
                        value = rndn(r, 4) & mask;
                }
                len = proto_encode_assign(buf, kind == 1 ? XIRQ_MSG_ASSIGN : XIRQ_MSG_DEASSIGN, seq, space, l, match,
                                          hostile_addr(r, space), value, mask);
                *want_fds = kind == 1;
                break;
        }
        case 3: {
                bool deassign = rndn(r, 3) == 0;

                len = proto_encode_virtio_mmio(buf, seq, HWIN + rndn(r, 16) * 0x200, (uint16_t) rndn(r, 4),
                                               deassign ? XIRQ_VIRTIO_DEASSIGN : 0);
                *want_fds = !deassign;
                break;
        }
        case 4:
                len = proto_encode_query(buf, seq);
                break;
        default:
                /* junk with a header of a random type */
                len = rndn(r, XIRQ_MSG_MAX + 1);
                for (size_t i = 0; i < len; i++)
                        buf[i] = (uint8_t) rnd(r);
                break;
        }

        /* mutations */
        if (rndn(r, 10) < 3) {
                switch (rndn(r, 7)) {
                case 0:
                case 1:
                        for (unsigned k = 1 + rndn(r, 3); k > 0 && len > 0; k--)
                                buf[rndn(r, (unsigned) len)] ^= (uint8_t) (1u << rndn(r, 8));
                        break;
                case 2:
                        len = rndn(r, (unsigned) len + 1);     /* truncated, maybe to nothing */
                        break;
                case 3: {
                        size_t more = len < size ? 1 + rndn(r, (unsigned) (size - len)) : 0;

                        for (size_t i = len; i < len + more; i++)
                                buf[i] = (uint8_t) rnd(r);
                        len += more;                            /* up to longer than any message */
                        break;
                }
                case 4:
                        if (len >= 4) {
                                uint16_t t = (uint16_t) rnd(r);

                                memcpy(buf, &t, 2);
                        }
                        break;
                case 5:
                        if (len >= 4)
                                buf[2] = (uint8_t) (1u + rndn(r, 255));        /* flags */
                        break;
                default:
                        *want_fds = rndn(r, 7);
                        break;
                }
        }
        if (rndn(r, 20) == 0)
                *want_fds = rndn(r, 7);
        return len;
}

static void conn_close(Conn *c) {
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
}

/* Read what is there; every reply must answer the oldest packet not yet answered. */
static void conn_drain(Conn *c, ClientStats *st, int timeout_ms) {
        for (;;) {
                uint8_t buf[256];
                struct xirq_reply rep;
                struct pollfd p = { .fd = c->fd, .events = POLLIN };
                uint16_t type, exp;
                ssize_t n;
                int32_t error;

                if (poll(&p, 1, timeout_ms) <= 0)
                        return;
                n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0) {
                        if (n < 0 && errno != ECONNRESET)
                                IT_FAIL("recv: %m");
                        st->closed_by_daemon++;
                        conn_close(c);
                        return;
                }
                st->replies++;
                if (c->n == 0)
                        IT_FAIL("a reply (%zd bytes, type 0x%04x) to no request", n, n >= 2 ? buf[0] | buf[1] << 8 : 0);
                exp = c->exp_type[c->head];
                if ((size_t) n != proto_reply_size(exp))
                        IT_FAIL("reply to type 0x%04x: %zd bytes, expected %zu", exp, n, proto_reply_size(exp));
                memcpy(&rep, buf, sizeof rep);
                type = le16toh(rep.hdr.type);
                error = (int32_t) le32toh((uint32_t) rep.error);
                if (type != (exp | XIRQ_MSG_REPLY) || le32toh(rep.hdr.seq) != c->exp_seq[c->head] ||
                    rep.hdr.flags != 0)
                        IT_FAIL("reply type 0x%04x seq %u flags %u, expected type 0x%04x seq %u", type,
                                le32toh(rep.hdr.seq), le16toh(rep.hdr.flags), exp | XIRQ_MSG_REPLY,
                                c->exp_seq[c->head]);
                if (error < 0 || error > 4095)
                        IT_FAIL("reply to type 0x%04x carries error %d", exp, error);
                if (exp == XIRQ_MSG_HELLO && error == 0)
                        c->hello = true;
                c->head = (c->head + 1) % EXPECT_MAX;
                c->n--;
                timeout_ms = 0;
        }
}

static void conn_send(Rng *r, Conn *c, ClientStats *st) {
        uint8_t buf[XIRQ_MSG_MAX + 72];
        int fds[8], extras[8];
        unsigned nfds;
        size_t len;
        ssize_t n;

        if (c->kind == CONN_READER && c->n == EXPECT_MAX)
                conn_drain(c, st, 100);
        if (c->fd < 0 || (c->kind == CONN_READER && c->n == EXPECT_MAX))
                return;
        len = build_msg(r, c, buf, sizeof buf, &nfds);
        for (unsigned i = 0; i < nfds; i++)
                fds[i] = make_fd(r, &extras[i]);
        {
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(int) * 8)];
                } control;
                struct iovec iov = { .iov_base = buf, .iov_len = len };
                struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

                if (nfds > 0) {
                        struct cmsghdr *cm;

                        memset(&control, 0, sizeof control);
                        msg.msg_control = &control;
                        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
                        cm = CMSG_FIRSTHDR(&msg);
                        cm->cmsg_level = SOL_SOCKET;
                        cm->cmsg_type = SCM_RIGHTS;
                        cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
                        memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
                }
                n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        for (unsigned i = 0; i < nfds; i++) {
                close(fds[i]);
                if (extras[i] >= 0)
                        close(extras[i]);
        }
        if (n < 0) {
                if (errno == EAGAIN || errno == ENOBUFS)
                        return;
                if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN) {
                        st->closed_by_daemon++;
                        conn_close(c);
                        return;
                }
                IT_FAIL("sendmsg: %m");
        }
        st->sent++;
        /* a packet with a header is answered (or the connection closed); one without is not */
        if (c->kind == CONN_READER && len >= sizeof(struct xirq_hdr)) {
                unsigned tail = (c->head + c->n) % EXPECT_MAX;
                uint16_t t;
                uint32_t s;

                memcpy(&t, buf, 2);
                memcpy(&s, buf + 4, 4);
                c->exp_type[tail] = le16toh(t);
                c->exp_seq[tail] = le32toh(s);
                c->n++;
        }
}

/* A reading connection registers many addresses at once with one eventfd (ranges, limits). */
static void conn_spray(Rng *r, Conn *c, ClientStats *st) {
        int efd = it_eventfd();
        unsigned count = 1 + rndn(r, 300);

        for (unsigned i = 0; i < count && c->fd >= 0; i++) {
                uint8_t buf[XIRQ_MSG_MAX];
                uint32_t seq = (uint32_t) rnd(r);
                size_t len;
                int fds[1] = { efd };
                unsigned tail;

                if (c->n == EXPECT_MAX)
                        conn_drain(c, st, 200);
                if (c->fd < 0 || c->n == EXPECT_MAX)
                        break;
                if (!c->hello) {
                        len = proto_encode_hello(buf, seq, 1, 1);
                        if (it_send(c->fd, buf, len, NULL, 0) < 0)
                                break;
                } else {
                        len = proto_encode_assign(buf, XIRQ_MSG_ASSIGN, seq, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY,
                                                  HWIN + 0x100000 + rnd(r) % 0x1000000 * 8, 0, 0);
                        if (it_send(c->fd, buf, len, fds, 1) < 0)
                                break;
                }
                st->sent++;
                tail = (c->head + c->n) % EXPECT_MAX;
                c->exp_type[tail] = c->hello ? XIRQ_MSG_ASSIGN : XIRQ_MSG_HELLO;
                c->exp_seq[tail] = seq;
                c->n++;
                if (!c->hello)
                        conn_drain(c, st, 500);
        }
        close(efd);
        if (c->fd >= 0)
                conn_drain(c, st, 0);
}

static void *client_thread(void *arg) {
        unsigned id = (unsigned) (uintptr_t) arg;
        Rng r = rng_for(100 + id);
        Conn conns[CONNS_MAX];
        ClientStats st = { 0 };

        for (unsigned i = 0; i < CONNS_MAX; i++)
                conns[i].fd = -1;

        while (!atomic_load(&stop)) {
                unsigned a = rndn(&r, 100), i = rndn(&r, CONNS_MAX);
                Conn *c = &conns[i];

                if (a < 12) {
                        if (c->fd >= 0)
                                continue;
                        memset(c, 0, sizeof *c);
                        c->fd = connect_nb(rndn(&r, 2) ? "h1" : "h2");
                        if (c->fd < 0) {
                                st.refused_connect++;
                                continue;
                        }
                        st.connects++;
                        a = rndn(&r, 10);
                        c->kind = a < 6 ? CONN_READER : a < 8 ? CONN_DEAF : CONN_MUTE;
                } else if (a < 70) {
                        if (c->fd < 0 || c->kind == CONN_MUTE)
                                continue;
                        for (unsigned k = 1 + rndn(&r, 8); k > 0 && c->fd >= 0; k--)
                                conn_send(&r, c, &st);
                        if (c->fd >= 0 && c->kind == CONN_READER)
                                conn_drain(c, &st, rndn(&r, 3) ? 0 : 20);
                } else if (a < 80) {
                        if (c->fd >= 0 && c->kind == CONN_READER)
                                conn_drain(c, &st, 10);
                } else if (a < 92) {
                        /* gone mid-stream, replies unread; sometimes half-closed first */
                        if (c->fd >= 0 && rndn(&r, 4) == 0)
                                shutdown(c->fd, SHUT_WR);
                        conn_close(c);
                } else if (a < 94) {
                        if (c->fd >= 0 && c->kind == CONN_READER)
                                conn_spray(&r, c, &st);
                } else
                        usleep(500);
        }
        for (unsigned i = 0; i < CONNS_MAX; i++)
                conn_close(&conns[i]);
        it_log("client thread %u: %lu packets, %lu replies checked, %lu connects (%lu backlog full), %lu closed by"
               " the daemon", id, st.sent, st.replies, st.connects, st.refused_connect, st.closed_by_daemon);
        return NULL;
}

/* ---- h2: a well-behaved backend, kicks counted exactly ---- */

static atomic_ulong h2_kicks_ok;
static uint32_t h2_domid;

static atomic_llong h2_max_ms;

static void *h2_kick_thread(void *arg) {
        (void) arg;
        while (!atomic_load(&stop)) {
                long long t0 = now_ms(), dt;
                int r = it_write(&it, h2_domid, 0, XSG_MMIO, BASE2 + NOTIFY, 4, 1);

                if (r < 0)
                        IT_FAIL("h2: a legitimate kick from vCPU 0 failed: %s", strerror(-r));
                atomic_fetch_add(&h2_kicks_ok, 1);
                dt = now_ms() - t0;
                if (dt > atomic_load(&h2_max_ms))
                        atomic_store(&h2_max_ms, dt);
        }
        return NULL;
}

/* h2 vCPU 1: reads and writes where hostile clients register */
static void *h2_other_thread(void *arg) {
        Rng r = rng_for(200);

        (void) arg;
        while (!atomic_load(&stop)) {
                uint64_t v;
                int rc;

                if (rndn(&r, 2))
                        rc = it_write(&it, h2_domid, 1, XSG_MMIO, hostile_addr(&r, XIRQ_SPACE_MMIO), 4,
                                      rndn(&r, 4));
                else {
                        rc = it_read(&it, h2_domid, 1, XSG_MMIO, hostile_addr(&r, XIRQ_SPACE_MMIO), 4, &v);
                        if (rc == 0 && v != 0 && v != 0xffffffffu)
                                IT_FAIL("h2: a read gave 0x%llx (neither 0 nor all-ones)", (unsigned long long) v);
                }
                if (rc < 0)
                        IT_FAIL("h2: a legitimate access from vCPU 1 failed: %s", strerror(-rc));
        }
        return NULL;
}

/* ---- h1: legitimate vCPUs 0 and 1 beside a hostile guest and a churning domain ---- */

static atomic_ulong h1_ok, h1_gone;
static uint32_t h1_served(void);

static void *h1_legit_thread(void *arg) {
        unsigned vcpu = (unsigned) (uintptr_t) arg;
        Rng r = rng_for(300 + vcpu);

        while (!atomic_load(&stop)) {
                uint32_t domid = h1_served();
                uint8_t space = rndn(&r, 5) ? XIRQ_SPACE_MMIO : XIRQ_SPACE_PIO;
                int xspace = space == XIRQ_SPACE_PIO ? XSG_PIO : XSG_MMIO;
                uint64_t addr = space == XIRQ_SPACE_PIO ? 0xc000 + rndn(&r, 64) * 4
                                : rndn(&r, 2) ? BASE1 + NOTIFY : hostile_addr(&r, space);
                unsigned size = rndn(&r, 3) ? 4 : 1u << rndn(&r, space == XIRQ_SPACE_PIO ? 3 : 4);
                bool read = rndn(&r, 3) == 0;
                struct xsg_io io;
                uint64_t v = 0, ones = size == 8 ? UINT64_MAX : (UINT64_C(1) << (size * 8)) - 1;
                int rc;

                if (domid == 0) {
                        usleep(1000);
                        continue;
                }
                io = (struct xsg_io) {
                        .space = xspace, .dir = read ? XSG_READ : XSG_WRITE, .addr = addr, .size = size,
                        .data = read ? 0 : rndn(&r, 4), .timeout_ms = IT_TIMEOUT_MS,
                };
                rc = xsg_io(it.xsg, domid, vcpu, &io);
                v = io.value;
                if (rc == -ESRCH || rc == -EHOSTDOWN || rc == -EAGAIN) {
                        /* destroyed, powered off or crashed by the churn, or still paused */
                        atomic_fetch_add(&h1_gone, 1);
                        usleep(1000);
                        continue;
                }
                if (rc == -ETIMEDOUT)
                        IT_FAIL("h1 domain %u vCPU %u hung on a legitimate %s of 0x%llx size %u (server %d, slot"
                                " state %d)", domid, vcpu, read ? "read" : "write", (unsigned long long) addr, size,
                                io.server, io.slot_state);
                if (rc < 0)
                        IT_FAIL("h1 domain %u vCPU %u: a legitimate access failed: %s", domid, vcpu, strerror(-rc));
                if (v != 0 && v != ones)
                        IT_FAIL("h1: a read of 0x%llx gave 0x%llx (neither 0 nor all-ones)", (unsigned long long) addr,
                                (unsigned long long) v);
                atomic_fetch_add(&h1_ok, 1);
        }
        return NULL;
}

/*
 * A backend that registers queue 0 of h1 at each re-creation, then assigns
 * and deassigns queues 0..3 at random: h1's ioreq server is created and torn
 * down while its legitimate vCPUs write.  Xen pauses the domain around
 * disable and destroy, so a request is either in its slot (and answered by
 * the daemon's teardown) or never sent, and a vCPU whose server is gone
 * completes when it runs again: no legitimate vCPU may hang.
 */

/* one request, its reply within the bound; 1 on EOF (the domain died), else the reply's error */
static int backend_call(int fd, const uint8_t *buf, size_t len, int efd, uint16_t type, uint32_t seq,
                        uint32_t *ret_domid) {
        uint8_t rep[XIRQ_MSG_MAX];
        ProtoReply pr;
        ssize_t n;

        if (it_send(fd, buf, len, efd >= 0 ? &efd : NULL, efd >= 0 ? 1 : 0) < 0)
                return 1;
        n = it_recv(fd, rep, sizeof rep, IT_TIMEOUT_MS);
        if (n == 0 || n == -ECONNRESET)
                return 1;
        if (n < 0)
                IT_FAIL("h1 backend: no reply to type 0x%04x within %d ms: %s", type, IT_TIMEOUT_MS,
                        strerror((int) -n));
        if (proto_decode_reply(rep, (size_t) n, 0, type, seq, &pr) < 0)
                IT_FAIL("h1 backend: a malformed reply to type 0x%04x (%zd bytes)", type, n);
        if (ret_domid)
                *ret_domid = pr.domid;
        return -pr.error;
}

static void *h1_backend_thread(void *arg) {
        Rng r = rng_for(400);
        int efd = it_eventfd(), fd = -1, rc;
        uint32_t domid = 0;

        (void) arg;
        while (!atomic_load(&stop)) {
                uint8_t buf[XIRQ_MSG_MAX];
                uint32_t seq = (uint32_t) rnd(&r);
                size_t len;

                if (fd < 0) {
                        fd = connect_nb("h1");
                        if (fd < 0) {
                                usleep(5000);
                                continue;
                        }
                        len = proto_encode_hello(buf, seq, 1, 1);
                        rc = backend_call(fd, buf, len, -1, XIRQ_MSG_HELLO, seq, &domid);
                        seq++;
                        if (rc == 0 && domid != PROTO_DOMID_NONE) {
                                len = proto_encode_virtio_mmio(buf, seq, BASE1, 0, 0);
                                rc = backend_call(fd, buf, len, efd, XIRQ_MSG_VIRTIO_MMIO, seq, NULL);
                        } else if (rc == 0)
                                rc = ESRCH;
                        if (rc != 0) {
                                /* not running yet, or just died: again */
                                close(fd);
                                fd = -1;
                                usleep(2000);
                                continue;
                        }
                        continue;
                }
                {
                        bool assign = rndn(&r, 2);

                        len = proto_encode_virtio_mmio(buf, seq, BASE1,
                                                       (uint16_t) rndn(&r, 4),
                                                       assign ? 0 : XIRQ_VIRTIO_DEASSIGN);
                        rc = backend_call(fd, buf, len, assign ? efd : -1, XIRQ_MSG_VIRTIO_MMIO, seq, NULL);
                        if (rc == 1) {
                                /* the daemon closes a guest's connections when its domain dies */
                                close(fd);
                                fd = -1;
                                continue;
                        }
                        /*
                         * ENOSPC: hostile clients hold every registration or range the guest may have;
                         * ESRCH: the domain was destroyed before the daemon heard of it
                         */
                        if (rc != 0 && rc != EEXIST && rc != ENOENT && rc != ENOSPC && rc != ESRCH)
                                IT_FAIL("h1 backend: %s of queue %u: %s", assign ? "assign" : "deassign",
                                        buf[16], strerror(rc));
                }
                usleep(2000 + rndn(&r, 20000));
        }
        if (fd >= 0)
                close(fd);
        close(efd);
        return NULL;
}

/* the domid of h1 while it runs, else 0 */
static uint32_t h1_served(void) {
        return atomic_load(&h1_domid);
}

/* ---- h1: the hostile guest ---- */

static int h1_server(uint32_t domid) {
        struct xsg_server_info info[XSG_MAX_SERVERS];
        int n = xsg_servers(it.xsg, domid, info, XSG_MAX_SERVERS);

        for (int i = 0; i < n && i < XSG_MAX_SERVERS; i++)
                if (info[i].enabled)
                        return (int) info[i].id;
        return -1;
}

static void random_raw(Rng *r, struct xsg_raw *raw, bool any_state) {
        static const uint8_t types[] = { IOREQ_TYPE_PIO, IOREQ_TYPE_COPY, IOREQ_TYPE_PCI_CONFIG, IOREQ_TYPE_TIMEOFFSET,
                                         IOREQ_TYPE_INVALIDATE, 5, 0xff };
        static const uint32_t sizes[] = { 1, 2, 4, 8, 0, 3, 16, 0xffffffffu };

        raw->type = rndn(r, 4) ? types[rndn(r, 2)] : types[rndn(r, sizeof types)];
        raw->size = rndn(r, 4) ? sizes[rndn(r, 4)] : sizes[rndn(r, sizeof(sizes) / sizeof(sizes[0]))];
        raw->count = rndn(r, 4) ? 1 : (uint32_t) rnd(r) % 3;
        raw->data_is_ptr = rndn(r, 6) == 0;
        raw->dir = (uint8_t) rndn(r, rndn(r, 8) ? 2 : 256);
        raw->df = rndn(r, 8) == 0;
        raw->addr = rndn(r, 2) ? BASE1 + NOTIFY : rndn(r, 2) ? hostile_addr(r, XIRQ_SPACE_MMIO) : rnd(r);
        if (raw->type == IOREQ_TYPE_PIO && rndn(r, 4))
                raw->addr = hostile_addr(r, XIRQ_SPACE_PIO);
        raw->data = rndn(r, 2) ? rndn(r, 4) : rnd(r);
        raw->state = any_state ? (uint8_t) (rndn(r, 2) ? STATE_IOREQ_READY : rndn(r, 256)) : STATE_IOREQ_READY;
}

static atomic_ulong hostile_ops, churns;

static void h1_churn(Rng *r) {
        uint32_t old = atomic_load(&h1_domid), domid;
        bool paused;
        int rc;

        atomic_store(&h1_domid, 0);
        switch (rndn(r, 3)) {
        case 0:
                rc = xsg_domain_destroy(it.xsg, old);
                break;
        case 1:
                rc = xsg_domain_poweroff(it.xsg, old);
                break;
        default:
                rc = xsg_domain_crash(it.xsg, old);
                if (rc == 0) {
                        usleep(rndn(r, 20000));
                        rc = xsg_domain_destroy(it.xsg, old);
                }
                break;
        }
        if (rc < 0)
                IT_FAIL("ending domain %u: %s", old, strerror(-rc));
        usleep(rndn(r, 30000));
        /* the name is free once the old domain is gone (a zombie keeps it until unmapped) */
        static const unsigned vcpus[] = { 4, 5, 8, 64, 128 };
        unsigned nr = vcpus[rndn(r, 5)];

        paused = rndn(r, 2);
        for (long long deadline = now_ms() + IT_TIMEOUT_MS;;) {
                rc = xsg_domain_create2(it.xsg, "h1", nr, paused ? XSG_CREATE_PAUSED : 0, &domid);
                if (rc == 0)
                        break;
                if (rc != -EEXIST || now_ms() > deadline)
                        IT_FAIL("re-creating h1: %s", strerror(-rc));
                usleep(2000);
        }
        if (paused) {
                /*
                 * As xl create -p then unpause, a moment later: vCPU 0 sends INVALIDATE to every
                 * enabled server (the backend's or a hostile client's, which may be torn down
                 * under it) and waits for the answers before its next access (the legitimate
                 * thread checks that one).
                 */
                usleep(rndn(r, 20000));
                rc = xsg_domain_unpause(it.xsg, domid);
                if (rc < 0)
                        IT_FAIL("unpausing domain %u: %s", domid, strerror(-rc));
        }
        atomic_store(&h1_vcpus, nr);
        atomic_store(&h1_domid, domid);
        atomic_fetch_add(&churns, 1);
}

static void *h1_hostile_thread(void *arg) {
        Rng r = rng_for(500);
        long long next_churn = now_ms() + 300 + rndn(&r, 900);

        (void) arg;
        while (!atomic_load(&stop)) {
                uint32_t domid = h1_served();
                struct xsg_raw raw;
                unsigned nr;
                int server;

                if (now_ms() >= next_churn) {
                        h1_churn(&r);
                        next_churn = now_ms() + 300 + rndn(&r, 900);
                        continue;
                }
                nr = atomic_load(&h1_vcpus);
                server = domid ? h1_server(domid) : -1;
                if (server < 0) {
                        usleep(1000);
                        continue;
                }
                switch (rndn(&r, 6)) {
                case 0:
                case 1: {
                        /* malformed but sent by the book: the daemon must answer every one */
                        int rc;

                        random_raw(&r, &raw, false);
                        rc = xsg_inject_request(it.xsg, domid, 2, (unsigned) server, &raw, IT_TIMEOUT_MS, NULL);
                        if (rc == -ETIMEDOUT)
                                IT_FAIL("h1 domain %u vCPU 2: a malformed request (type %u dir %u size %u count %u"
                                        " ptr %u addr 0x%llx) was not answered", domid, raw.type, raw.dir, raw.size,
                                        raw.count, raw.data_is_ptr, (unsigned long long) raw.addr);
                        break;
                }
                case 2:
                case 3:
                        /*
                         * Slots 3..127 (idle vCPUs' and those of vCPUs the guest does not have): any
                         * state, and an event on the port of any vCPU but the legitimate ones
                         */
                        random_raw(&r, &raw, true);
                        (void) xsg_inject_slot(it.xsg, domid, (unsigned) server, 3 + rndn(&r, 125), &raw,
                                               rndn(&r, 3) ? (int) (2 + rndn(&r, nr - 2)) : -1);
                        break;
                case 4:
                        /* spurious events, also for vCPUs beyond the guest (refused by the host) */
                        (void) xsg_inject_notify(it.xsg, domid, (unsigned) server, rndn(&r, nr + 2));
                        break;
                default: {
                        int rc = xsg_invalidate(it.xsg, domid, 2, IT_TIMEOUT_MS);

                        if (rc == -ETIMEDOUT)
                                IT_FAIL("h1 domain %u vCPU 2: INVALIDATE not answered", domid);
                        break;
                }
                }
                atomic_fetch_add(&hostile_ops, 1);
        }
        return NULL;
}

/* ---- reloads: h2's busy-poll window changes under load, some new configs are broken ---- */

static atomic_ulong reloads;

static void write_guest_atomic(const char *name, const char *text) {
        char path[512], tmp[520];
        FILE *f;

        snprintf(path, sizeof path, "%s/%s.conf", it.guests_dir, name);
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        f = fopen(tmp, "w");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                IT_FAIL("cannot write %s: %m", tmp);
        if (rename(tmp, path) < 0)
                IT_FAIL("rename %s: %m", tmp);
}

static void *reload_thread(void *arg) {
        Rng r = rng_for(600);
        static const char *const polls[] = { "0", "20", "50", "300" };

        (void) arg;
        while (!atomic_load(&stop)) {
                char text[256];

                usleep(100000 + rndn(&r, 300000));
                if (atomic_load(&stop))
                        break;
                /* h1 too: its slots are polled while the hostile guest scribbles on them */
                if (rndn(&r, 2)) {
                        snprintf(text, sizeof text, "[guest]\nname = h2\nbusy_poll_us = %s\n%s",
                                 polls[rndn(&r, 4)], rndn(&r, 5) == 0 ? "no_such_key = 1\n" : "");
                        write_guest_atomic("h2", text);
                } else {
                        snprintf(text, sizeof text, "[guest]\nname = h1\n%sbusy_poll_us = %s\n", H1_LIMITS,
                                 polls[rndn(&r, 4)]);
                        write_guest_atomic("h1", text);
                }
                it_daemon_signal(&it, SIGHUP);
                atomic_fetch_add(&reloads, 1);
        }
        /* both as at the start */
        write_guest_atomic("h1", "[guest]\nname = h1\n" H1_LIMITS);
        write_guest_atomic("h2", "[guest]\nname = h2\nbusy_poll_us = 50\n");
        it_daemon_signal(&it, SIGHUP);
        return NULL;
}

/* ---- phases and checks ---- */

static void run_phase(unsigned phase) {
        pthread_t t[CLIENT_THREADS + 7];
        unsigned nt = 0;
        unsigned long kicks0 = atomic_load(&h2_kicks_ok);

        atomic_store(&h2_max_ms, 0);

        atomic_store(&stop, false);
        for (unsigned i = 0; i < CLIENT_THREADS; i++)
                CHECK(pthread_create(&t[nt++], NULL, client_thread, (void *) (uintptr_t) (phase * 10 + i)) == 0,
                      "pthread_create");
        CHECK(pthread_create(&t[nt++], NULL, h2_kick_thread, NULL) == 0, "pthread_create");
        CHECK(pthread_create(&t[nt++], NULL, h2_other_thread, NULL) == 0, "pthread_create");
        CHECK(pthread_create(&t[nt++], NULL, h1_legit_thread, (void *) (uintptr_t) 0) == 0, "pthread_create");
        CHECK(pthread_create(&t[nt++], NULL, h1_legit_thread, (void *) (uintptr_t) 1) == 0, "pthread_create");
        CHECK(pthread_create(&t[nt++], NULL, h1_backend_thread, NULL) == 0, "pthread_create");
        CHECK(pthread_create(&t[nt++], NULL, h1_hostile_thread, NULL) == 0, "pthread_create");
        CHECK(pthread_create(&t[nt++], NULL, reload_thread, NULL) == 0, "pthread_create");

        usleep((useconds_t) (phase_seconds * 1e6));
        atomic_store(&stop, true);
        for (unsigned i = 0; i < nt; i++)
                pthread_join(t[i], NULL);
        CHECK(it_daemon_alive(&it), "the daemon died in phase %u", phase);
        it_log("phase %u: h2 %lu kicks (the slowest %lld ms), h1 %lu legitimate accesses (%lu to a dead domain), %lu hostile guest"
               " operations, %lu re-creations, %lu reloads", phase, atomic_load(&h2_kicks_ok) - kicks0,
               atomic_load(&h2_max_ms),
               atomic_load(&h1_ok), atomic_load(&h1_gone), atomic_load(&hostile_ops), atomic_load(&churns),
               atomic_load(&reloads));
}

static unsigned fd_baseline;
/* what the daemon holds for its spare workers (started with the first worker) does not count */
static unsigned fds_held(void) {
        return it_own_fds(&it);
}

static bool fds_at_baseline(void *arg) {
        (void) arg;
        return fds_held() == fd_baseline;
}

/* every client gone: the daemon holds what it held before any came */
static void check_quiet(const char *when) {
        uint32_t h1 = atomic_load(&h1_domid);
        struct xsg_server_info info[XSG_MAX_SERVERS];

        if (!it_wait_for(fds_at_baseline, NULL, 3 * IT_TIMEOUT_MS))
                IT_FAIL("%s: the daemon has %u fds open besides its spare workers', %u before any client", when,
                        fds_held(), fd_baseline);
        CHECK_EQ(xsg_servers(it.xsg, h1, info, XSG_MAX_SERVERS), 0, "ioreq servers left on h1");
        CHECK_EQ(xsg_servers(it.xsg, h2_domid, info, XSG_MAX_SERVERS), 0, "ioreq servers left on h2");
}

/* a fresh client on guest `name` is served end to end by vCPUs 0..vcpus-1, kicks counted exactly */
static void check_fresh_client(const char *name, uint32_t domid, unsigned vcpus) {
        struct xirq_query_reply q;
        int c = it_connect(&it, name), efd = it_eventfd(), efd2 = it_eventfd();
        uint32_t hello_domid;
        const unsigned per_vcpu = 25;

        CHECK_EQ(it_hello(c, &hello_domid), 0, "HELLO of a fresh client");
        CHECK_EQ(hello_domid, domid, "domid in HELLO");
        CHECK_EQ(it_virtio(c, BASE1, 3, false, efd), 0, "register queue 3");
        CHECK_EQ(it_assign(c, XIRQ_SPACE_PIO, 2, XIRQ_MATCH_EXACT, 0xc010, 7, 0, efd2), 0, "register PIO 0xc010 = 7");
        for (unsigned v = 0; v < vcpus; v++)
                for (unsigned i = 0; i < per_vcpu; i++) {
                        CHECK_EQ(it_write(&it, domid, v, XSG_MMIO, BASE1 + NOTIFY, 4, 3), 0, "kick queue 3");
                        CHECK_EQ(it_write(&it, domid, v, XSG_MMIO, BASE1 + NOTIFY, 4, 2), 0, "write of queue 2");
                        CHECK_EQ(it_write(&it, domid, v, XSG_PIO, 0xc010, 2, 7), 0, "PIO kick");
                }
        CHECK_EQ(it_efd_take(efd), vcpus * per_vcpu, "kicks of queue 3");
        CHECK_EQ(it_efd_take(efd2), vcpus * per_vcpu, "PIO kicks");
        CHECK_EQ(it_query(c, &q), 0, "QUERY");
        CHECK_EQ(q.state, XIRQ_GUEST_SERVING, "state");
        CHECK_EQ(q.domid, domid, "domid");
        CHECK_EQ(q.registrations, 2, "registrations (no hostile one left)");
        CHECK_EQ(q.kicks, 2 * vcpus * per_vcpu, "kicks counted");
        CHECK_EQ(q.unmatched, vcpus * per_vcpu, "unmatched writes counted");
        CHECK_EQ(q.invalid, 0, "invalid (a new server)");
        close(c);
        close(efd);
        close(efd2);
}

/*
 * A client that registers and drops its only registration over and over makes
 * the daemon create and destroy h1's ioreq server each time: served, but the
 * log must not follow it line for line (a client could flood the journal).
 */
static void check_server_churn_log(void) {
        const unsigned rounds = 200;
        unsigned before = log_count("ioreq server"), after;
        int c = it_connect(&it, "h1"), efd = it_eventfd();
        struct xsg_server_info info[XSG_MAX_SERVERS];

        CHECK_EQ(it_hello(c, NULL), 0, "HELLO of the toggling client");
        for (unsigned i = 0; i < rounds; i++) {
                CHECK_EQ(it_virtio(c, BASE1, 0, false, efd), 0, "assign (server created)");
                CHECK_EQ(it_virtio(c, BASE1, 0, true, -1), 0, "deassign (server destroyed)");
        }
        CHECK_EQ(xsg_servers(it.xsg, atomic_load(&h1_domid), info, XSG_MAX_SERVERS), 0, "servers after the toggles");
        close(c);
        close(efd);
        after = log_count("ioreq server");
        it_log("%u server set-ups and teardowns logged in %u lines", 2 * rounds, after - before);
        CHECK(after - before < rounds / 4, "%u log lines for %u server set-ups and teardowns a client caused",
              after - before, 2 * rounds);
}

int main(int argc, char **argv) {
        const char *env;
        int good2, good2_efd;
        long rss1, rss2;
        unsigned long kicks;

        it_init(&it, "it-hostile", argc, argv);
        env = getenv("HOSTILE_SEED");
        master_seed = env ? strtoull(env, NULL, 0) : (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 32);
        env = getenv("HOSTILE_SECONDS");
        if (env && atof(env) > 0)
                phase_seconds = atof(env);
        it_log("seed %llu (HOSTILE_SEED=%llu replays it), %.1f s per phase", (unsigned long long) master_seed,
               (unsigned long long) master_seed, phase_seconds);
        /* the library's watchdog, extended to the phases */
        alarm((unsigned) ((90 + 2 * phase_seconds) * it_timeout_scale));
        /* ASan's quarantine would hide a leak behind its own growth: kept small (the last option wins) */
        {
                const char *old = getenv("ASAN_OPTIONS");
                char opts[1024];

                snprintf(opts, sizeof opts, "%s%squarantine_size_mb=4", old ? old : "detect_leaks=1", ":");
                setenv("ASAN_OPTIONS", opts, 1);
        }

        it_write_global(&it, NULL);
        it_write_guest(&it, "h1", H1_LIMITS);
        it_write_guest(&it, "h2", "busy_poll_us = 50\n");
        atomic_store(&h1_domid, it_domain_create(&it, "h1", H1_VCPUS));
        h2_domid = it_domain_create(&it, "h2", H2_VCPUS);
        it_daemon_start(&it, NULL);
        usleep(100000);
        fd_baseline = it_count_fds(it.daemon);
        it_log("the daemon has %u fds open", fd_baseline);

        /* the well-behaved backend on h2, through both phases */
        good2 = it_connect(&it, "h2");
        CHECK_EQ(it_hello(good2, NULL), 0, "HELLO of h2's backend");
        good2_efd = it_eventfd();
        CHECK_EQ(it_virtio(good2, BASE2, 1, false, good2_efd), 0, "h2's backend registers queue 1");

        run_phase(1);
        kicks = it_efd_take(good2_efd);
        CHECK_EQ(kicks, atomic_load(&h2_kicks_ok), "h2: kicks delivered to the backend during phase 1");
        check_no_sanitizer_report();
        close(good2);
        check_quiet("after phase 1");
        check_fresh_client("h1", atomic_load(&h1_domid), 3);
        check_fresh_client("h2", h2_domid, H2_VCPUS);
        check_quiet("after the fresh clients of phase 1");
        rss1 = vm_rss_kb(it.daemon);

        good2 = it_connect(&it, "h2");
        CHECK_EQ(it_hello(good2, NULL), 0, "HELLO of h2's backend");
        CHECK_EQ(it_virtio(good2, BASE2, 1, false, good2_efd), 0, "h2's backend registers queue 1 again");
        atomic_store(&h2_kicks_ok, 0);
        run_phase(2);
        kicks = it_efd_take(good2_efd);
        CHECK_EQ(kicks, atomic_load(&h2_kicks_ok), "h2: kicks delivered to the backend during phase 2");
        close(good2);
        check_quiet("after phase 2");
        check_fresh_client("h1", atomic_load(&h1_domid), 3);
        check_fresh_client("h2", h2_domid, H2_VCPUS);
        check_quiet("after the fresh clients of phase 2");
        rss2 = vm_rss_kb(it.daemon);
        check_server_churn_log();
        it_log("VmRSS %ld kB after phase 1, %ld kB after phase 2", rss1, rss2);
        /* allocator slack and ASan/valgrind bookkeeping, not growth with the work done */
        CHECK(rss2 <= rss1 + rss1 / 4 + 4096, "VmRSS grew from %ld kB to %ld kB", rss1, rss2);

        it_daemon_signal(&it, SIGTERM);
        CHECK_EQ(it_daemon_wait(&it, IT_TIMEOUT_MS), 0, "exit status");
        check_no_sanitizer_report();
        close(good2_efd);
        it_fini(&it);
        return 0;
}
