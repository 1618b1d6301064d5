/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libxenioreqd-client: synchronous client of a xen-ioreqd guest socket.
 * Messages are encoded and decoded by the daemon's own codec (src/shared/proto.c,
 * compiled into this library), so both sides agree byte for byte.
 */
#define _GNU_SOURCE 1   /* F_GET_SEALS */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "xenioreqd-client.h"

#define CLIENT_EXPORT __attribute__((visibility("default")))
#define RECV_MAX_FDS 4u         /* a reply carries at most 3 (CLAIM's) */
#define SEND_MAX_FDS 2u         /* a request at most 2 (a LEVEL irqfd) */
#define CLAIM_REPLY_FDS 3u

_Static_assert(XENIOREQD_IOEVENTFD_FLAG_DEASSIGN == 1u, "same value as PRIVCMD_IOEVENTFD_FLAG_DEASSIGN");
_Static_assert(XENIOREQD_IRQFD_FLAG_DEASSIGN == 1u, "same value as PRIVCMD_IRQFD_FLAG_DEASSIGN");

/* An irqfd assigned by xenioreqd_irqfd(), found again by its eventfd. */
typedef struct TwinIrqfd {
        uint32_t id;
        uint64_t key;           /* see eventfd_key() */
} TwinIrqfd;

struct xenioreqd_client {
        int fd;
        bool broken;
        uint32_t seq;
        int timeout_ms;
        uint16_t version;
        uint32_t domid;
        uint32_t max_registrations;
        uint32_t next_id;       /* names of irqfds and claims */
        TwinIrqfd *twins;
        size_t n_twins, max_twins;
        xenioreqd_claim *claims;        /* detached when the connection closes */
};

/* An access taken and not answered yet. */
typedef struct Pending {
        uint32_t seq;
        uint8_t dir;
        uint8_t size;
} Pending;

struct xenioreqd_claim {
        xenioreqd_client *client;       /* NULL once the connection is closed */
        xenioreqd_claim *prev, *next;   /* the client's claims */
        uint32_t id;
        uint64_t addr, len;
        struct xirq_ring *ring;         /* shared with the daemon: see protocol.h for its rules */
        int access_fd;                  /* the daemon signals it */
        int answer_fd;                  /* we signal it */
        uint32_t access_cons;           /* our indexes: written to the ring, never read back */
        uint32_t answer_prod;
        bool broken;                    /* the daemon's side of the ring was found corrupt */
        unsigned n_pending;
        Pending pending[XIRQ_RING_SIZE];
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

static int send_packet(xenioreqd_client *c, const void *buf, size_t len, const int *fds, unsigned nfds,
                       int64_t deadline) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * SEND_MAX_FDS)];
        } control;
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (nfds > SEND_MAX_FDS)
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

static void close_fds(int *fds, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                if (fds[i] >= 0) {
                        close(fds[i]);
                        fds[i] = -1;
                }
}

/*
 * Receive one packet.  The descriptors attached are stored in fds (up to
 * RECV_MAX_FDS, in order) and counted in *ret_nfds; on failure none is left open.
 */
static int recv_packet(xenioreqd_client *c, void *buf, size_t size, size_t *ret_len, int *fds,
                       unsigned *ret_nfds, int64_t deadline) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * RECV_MAX_FDS)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr msg;
        ssize_t n;
        unsigned nfds = 0;
        bool foreign = false;

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
                                if (nfds < RECV_MAX_FDS)
                                        fds[nfds] = fd;
                                else
                                        close(fd);
                                nfds++;
                        }
                } else {
                        foreign = true;         /* anything else attached is as wrong */
                }
        if (nfds > RECV_MAX_FDS || foreign || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
                close_fds(fds, nfds < RECV_MAX_FDS ? nfds : RECV_MAX_FDS);
                return -EPROTO;
        }
        if (n == 0 && nfds == 0)
                return -ECONNRESET;
        *ret_len = (size_t) n;
        *ret_nfds = nfds;
        return 0;
}

/*
 * One request (with nsend descriptors), one reply.  0 with the daemon's
 * verdict in rep->error, or a transport error.  A successful CLAIM's reply
 * brings CLAIM_REPLY_FDS descriptors: they go to ret_fds, which must then be
 * given; every other reply brings none.
 */
static int transact(xenioreqd_client *c, const void *req, size_t len, const int *send_fds, unsigned nsend,
                    uint16_t type, uint32_t seq, ProtoReply *rep, int *ret_fds) {
        uint8_t buf[XIRQ_MSG_MAX];
        int fds[RECV_MAX_FDS];
        int64_t deadline = c->timeout_ms > 0 ? now_ms() + c->timeout_ms : -1;
        size_t n = 0;
        unsigned nfds = 0;
        int r;

        if (c->broken)
                return -ENOTCONN;
        r = send_packet(c, req, len, send_fds, nsend, deadline);
        if (r == 0)
                r = recv_packet(c, buf, sizeof(buf), &n, fds, &nfds, deadline);
        if (r == 0) {
                r = proto_decode_reply(buf, n, nfds, type, seq, rep);
                if (r < 0)
                        r = -EPROTO;    /* whatever is wrong with it, the stream is out of step */
                if (r < 0 || !ret_fds)
                        close_fds(fds, nfds);
                else
                        for (unsigned i = 0; i < CLAIM_REPLY_FDS; i++)
                                ret_fds[i] = i < nfds ? fds[i] : -1;
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
        /* the claims stay the caller's, for xenioreqd_claim_free() */
        while (c->claims) {
                xenioreqd_claim *cl = c->claims;
                c->claims = cl->next;
                cl->client = NULL;
                cl->prev = cl->next = NULL;
        }
        if (c->fd >= 0)
                close(c->fd);
        free(c->twins);
        free(c);
}

static int handshake(xenioreqd_client *c) {
        uint8_t buf[XIRQ_MSG_MAX];
        ProtoReply rep;
        uint32_t seq = next_seq(c);
        size_t n = proto_encode_hello(buf, seq, 1, XIRQ_PROTO_VERSION);
        int r = transact(c, buf, n, NULL, 0, XIRQ_MSG_HELLO, seq, &rep, NULL);

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
        r = transact(c, buf, n, &event_fd, type == XIRQ_MSG_ASSIGN ? 1 : 0, type, seq, &rep, NULL);
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
        r = transact(c, buf, n, &event_fd, (vflags & XIRQ_VIRTIO_DEASSIGN) ? 0 : 1, XIRQ_MSG_VIRTIO_MMIO, seq, &rep,
                     NULL);
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
        r = transact(c, buf, n, NULL, 0, XIRQ_MSG_QUERY, seq, &rep, NULL);
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

/* ---- version 2: irqfds ---- */

/* The calls of version 2 send nothing to a daemon that speaks version 1 only. */
static int need_version2(const xenioreqd_client *c) {
        if (!c)
                return -EINVAL;
        return c->version < 2 ? -EPROTONOSUPPORT : 0;
}

static uint32_t next_id(xenioreqd_client *c) {
        if (++c->next_id == 0)
                c->next_id = 1;
        return c->next_id;
}

static int irqfd_request(xenioreqd_client *c, const ProtoIrqfd *f, bool deassign, const int *fds, unsigned nfds) {
        uint8_t buf[XIRQ_MSG_MAX];
        ProtoReply rep;
        uint32_t seq = next_seq(c);
        size_t n = proto_encode_irqfd(buf, seq, f, deassign);
        int r = transact(c, buf, n, fds, nfds, XIRQ_MSG_IRQFD, seq, &rep, NULL);

        return r < 0 ? r : rep.error;
}

CLIENT_EXPORT int xenioreqd_irqfd_assign(xenioreqd_client *c, const xenioreqd_irqfd_spec *spec, int trigger_fd,
                                         int resample_fd, uint32_t *ret_id) {
        int fds[2] = { trigger_fd, resample_fd };
        bool level;
        ProtoIrqfd f;
        int r;

        r = need_version2(c);
        if (r < 0)
                return r;
        if (!spec)
                return -EINVAL;
        level = spec->mode == XIRQ_IRQFD_LEVEL;
        if (trigger_fd < 0 || (level && resample_fd < 0))
                return -EBADF;
        if (!level && resample_fd >= 0)
                return -EINVAL;
        f = (ProtoIrqfd) {
                .id = next_id(c),
                .action = spec->action,
                .mode = spec->mode,
                .irq = spec->irq,
                .segment = spec->segment,
                .bus = spec->bus,
                .device = spec->device,
                .pin = spec->pin,
                .msi_addr = spec->msi_addr,
                .msi_data = spec->msi_data,
        };
        r = irqfd_request(c, &f, false, fds, level ? 2 : 1);
        if (r == 0 && ret_id)
                *ret_id = f.id;
        return r;
}

static void twin_remove(xenioreqd_client *c, uint32_t id) {
        for (size_t i = 0; i < c->n_twins; i++)
                if (c->twins[i].id == id) {
                        c->twins[i] = c->twins[--c->n_twins];
                        return;
                }
}

CLIENT_EXPORT int xenioreqd_irqfd_deassign(xenioreqd_client *c, uint32_t id) {
        ProtoIrqfd f = { .id = id };
        int r;

        r = need_version2(c);
        if (r < 0)
                return r;
        r = irqfd_request(c, &f, true, NULL, 0);
        if (r == 0 || r == -ENOENT)
                twin_remove(c, id);
        return r;
}

/*
 * What tells an eventfd apart whatever descriptor names it, as privcmd does
 * (it compares the eventfd itself): the eventfd-id of /proc/self/fdinfo
 * (Linux >= 5.2), with bit 63 set; where that cannot be read, the descriptor
 * number.  -EBADF if fd is not open, -EINVAL if it is not an eventfd.
 */
static int eventfd_key(int fd, uint64_t *ret) {
        char path[64], buf[1024];
        const char *p;
        size_t len = 0;
        int f;

        if (fd < 0 || fcntl(fd, F_GETFD) < 0)
                return -EBADF;
        snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
        f = open(path, O_RDONLY | O_CLOEXEC);
        if (f < 0) {
                *ret = (uint64_t) fd;   /* no /proc */
                return 0;
        }
        while (len < sizeof(buf) - 1) {
                ssize_t n = read(f, buf + len, sizeof(buf) - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
        }
        close(f);
        buf[len] = '\0';
        p = strstr(buf, "\neventfd-id:");
        if (p) {
                unsigned long long id;
                if (sscanf(p + strlen("\neventfd-id:"), "%llu", &id) != 1)
                        return -EINVAL;
                *ret = (UINT64_C(1) << 63) | (uint64_t) id;
                return 0;
        }
        if (!strstr(buf, "\neventfd-count:"))
                return -EINVAL;
        *ret = (uint64_t) fd;           /* an eventfd of a kernel without eventfd-id */
        return 0;
}

/* The struct xen_dm_op of Xen's public/hvm/dm_op.h, as far as XEN_DMOP_set_irq_level goes. */
#define DMOP_SET_IRQ_LEVEL      19u
#define DMOP_SIZE_MAX           4096u
struct dmop_set_irq_level {
        uint32_t op;
        uint32_t pad;
        uint32_t irq;
        uint8_t level;
        uint8_t pad2[3];
};
_Static_assert(sizeof(struct dmop_set_irq_level) == 16, "xen_dm_op header + xen_dm_op_set_irq_level");

static int twin_assign(xenioreqd_client *c, const void *dm_op, uint32_t size, int fd, uint64_t key) {
        struct dmop_set_irq_level d;
        xenioreqd_irqfd_spec spec;
        uint32_t id;
        int r;

        if (!dm_op || size < sizeof(d) || size > DMOP_SIZE_MAX)
                return -EINVAL;
        memcpy(&d, dm_op, sizeof(d));
        if (d.op != DMOP_SET_IRQ_LEVEL)
                return -EOPNOTSUPP;
        if (d.pad != 0 || d.pad2[0] || d.pad2[1] || d.pad2[2] || d.level > 1)
                return -EINVAL;
        if (d.level == 0)
                return -EOPNOTSUPP;
        for (size_t i = 0; i < c->n_twins; i++)
                if (c->twins[i].key == key)
                        return -EBUSY;
        if (c->n_twins == c->max_twins) {
                size_t m = c->max_twins ? c->max_twins * 2 : 8;
                TwinIrqfd *t = reallocarray(c->twins, m, sizeof(*t));
                if (!t)
                        return -ENOMEM;
                c->twins = t;
                c->max_twins = m;
        }
        spec = (xenioreqd_irqfd_spec) { .action = XIRQ_IRQ_LINE, .mode = XIRQ_IRQFD_RAISE, .irq = d.irq };
        r = xenioreqd_irqfd_assign(c, &spec, fd, -1, &id);
        if (r < 0)
                return r;
        c->twins[c->n_twins++] = (TwinIrqfd) { .id = id, .key = key };
        return 0;
}

CLIENT_EXPORT int xenioreqd_irqfd(xenioreqd_client *c, const void *dm_op, uint32_t size, int fd, uint32_t flags) {
        uint64_t key;
        int r;

        r = need_version2(c);
        if (r < 0)
                return r;
        if (flags & ~XENIOREQD_IRQFD_FLAG_DEASSIGN)
                return -EINVAL;
        r = eventfd_key(fd, &key);
        if (r < 0)
                return r;
        if (!(flags & XENIOREQD_IRQFD_FLAG_DEASSIGN))
                return twin_assign(c, dm_op, size, fd, key);
        for (size_t i = 0; i < c->n_twins; i++)
                if (c->twins[i].key == key)
                        return xenioreqd_irqfd_deassign(c, c->twins[i].id);
        return -ENOENT;
}

/* ---- version 2: claims ---- */

static void claim_link(xenioreqd_client *c, xenioreqd_claim *cl) {
        cl->client = c;
        cl->prev = NULL;
        cl->next = c->claims;
        if (c->claims)
                c->claims->prev = cl;
        c->claims = cl;
}

static void claim_unlink(xenioreqd_claim *cl) {
        if (!cl->client)
                return;
        if (cl->prev)
                cl->prev->next = cl->next;
        else
                cl->client->claims = cl->next;
        if (cl->next)
                cl->next->prev = cl->prev;
        cl->client = NULL;
        cl->prev = cl->next = NULL;
}

/* Map the daemon's ring, after checking that it cannot shrink under us (SIGBUS) and is what it claims. */
static int map_ring(int fd, struct xirq_ring **ret) {
        struct xirq_ring *ring;
        struct stat st;
        int seals;

        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t) sizeof(*ring))
                return -EPROTO;
        seals = fcntl(fd, F_GET_SEALS);
        if (seals < 0 || !(seals & F_SEAL_SHRINK))
                return -EPROTO;
        ring = mmap(NULL, sizeof(*ring), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (ring == MAP_FAILED)
                return -EPROTO;
        if (__atomic_load_n(&ring->magic, __ATOMIC_ACQUIRE) != XIRQ_RING_MAGIC ||
            __atomic_load_n(&ring->size, __ATOMIC_RELAXED) != XIRQ_RING_SIZE) {
                munmap(ring, sizeof(*ring));
                return -EPROTO;
        }
        *ret = ring;
        return 0;
}

CLIENT_EXPORT int xenioreqd_claim_range(xenioreqd_client *c, uint8_t space, uint64_t addr, uint64_t len,
                                        uint32_t deadline_ms, xenioreqd_claim **ret) {
        uint8_t buf[XIRQ_MSG_MAX];
        int fds[CLAIM_REPLY_FDS] = { -1, -1, -1 };
        ProtoClaim pc = { .space = space, .addr = addr, .len = len, .deadline_ms = deadline_ms };
        xenioreqd_claim *cl;
        ProtoReply rep;
        uint32_t seq;
        size_t n;
        int r;

        r = need_version2(c);
        if (r < 0)
                return r;
        if (!ret)
                return -EINVAL;
        cl = calloc(1, sizeof(*cl));
        if (!cl)
                return -ENOMEM;
        pc.id = next_id(c);
        seq = next_seq(c);
        n = proto_encode_claim(buf, seq, &pc);
        r = transact(c, buf, n, NULL, 0, XIRQ_MSG_CLAIM, seq, &rep, fds);
        if (r == 0 && rep.error < 0)
                r = rep.error;
        if (r < 0) {
                free(cl);
                return r;
        }
        /* fds: the ring, the eventfd the daemon signals, the one we signal */
        r = map_ring(fds[0], &cl->ring);
        close(fds[0]);
        if (r < 0) {
                close_fds(fds + 1, 2);
                free(cl);
                c->broken = true;       /* a malformed reply */
                return r;
        }
        cl->id = pc.id;
        cl->addr = addr;
        cl->len = len;
        cl->access_fd = fds[1];
        cl->answer_fd = fds[2];
        cl->access_cons = __atomic_load_n(&cl->ring->access_cons, __ATOMIC_RELAXED);
        cl->answer_prod = __atomic_load_n(&cl->ring->answer_prod, __ATOMIC_RELAXED);
        claim_link(c, cl);
        *ret = cl;
        return 0;
}

CLIENT_EXPORT int xenioreqd_claim_fd(const xenioreqd_claim *cl) {
        return cl ? cl->access_fd : -EINVAL;
}

CLIENT_EXPORT uint32_t xenioreqd_claim_id(const xenioreqd_claim *cl) {
        return cl ? cl->id : 0;
}

CLIENT_EXPORT uint64_t xenioreqd_claim_addr(const xenioreqd_claim *cl) {
        return cl ? cl->addr : 0;
}

CLIENT_EXPORT uint64_t xenioreqd_claim_len(const xenioreqd_claim *cl) {
        return cl ? cl->len : 0;
}

static int claim_broken(xenioreqd_claim *cl) {
        cl->broken = true;
        return -EPROTO;
}

/* Reset the daemon's eventfd without blocking: only we read it, so POLLIN means a read returns at once. */
static void drain_eventfd(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        uint64_t v;

        if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN))
                (void) !read(fd, &v, sizeof(v));
}

static bool valid_size(uint8_t size) {
        return size == 1 || size == 2 || size == 4 || size == 8;
}

static uint64_t size_mask(uint8_t size) {
        return size == 8 ? UINT64_MAX : (UINT64_C(1) << (size * 8)) - 1;
}

/* Take the access at access_cons: copied once, checked, then the slot is given back. */
static int take_access(xenioreqd_claim *cl, xenioreqd_access *ret) {
        struct xirq_access e;

        memcpy(&e, &cl->ring->access[cl->access_cons % XIRQ_RING_SIZE], sizeof(e));
        /* the checks and the use below see this copy only, never the shared entry again */
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        if (e.claim != cl->id || (e.dir != XIRQ_ACCESS_READ && e.dir != XIRQ_ACCESS_WRITE) || !valid_size(e.size) ||
            e.addr < cl->addr || e.addr - cl->addr >= cl->len)
                return claim_broken(cl);
        if (cl->n_pending >= XIRQ_RING_SIZE)
                return claim_broken(cl);
        for (unsigned i = 0; i < cl->n_pending; i++)
                if (cl->pending[i].seq == e.seq)
                        return claim_broken(cl);
        cl->access_cons++;
        __atomic_store_n(&cl->ring->access_cons, cl->access_cons, __ATOMIC_RELEASE);
        cl->pending[cl->n_pending++] = (Pending) { .seq = e.seq, .dir = e.dir, .size = e.size };
        *ret = (xenioreqd_access) {
                .seq = e.seq,
                .vcpu = e.vcpu,
                .dir = e.dir,
                .size = e.size,
                .addr = e.addr,
                .offset = e.addr - cl->addr,
                .data = e.dir == XIRQ_ACCESS_WRITE ? e.data & size_mask(e.size) : 0,
        };
        return 1;
}

CLIENT_EXPORT int xenioreqd_claim_next(xenioreqd_claim *cl, xenioreqd_access *ret) {
        if (!cl || !ret)
                return -EINVAL;
        if (cl->broken)
                return -EPROTO;
        /* look, reset the eventfd, look again: an access posted after the reset signals it anew */
        for (int pass = 0; pass < 2; pass++) {
                uint32_t prod = __atomic_load_n(&cl->ring->access_prod, __ATOMIC_ACQUIRE);
                uint32_t avail = prod - cl->access_cons;

                if (avail > XIRQ_RING_SIZE)
                        return claim_broken(cl);
                if (avail > 0)
                        return take_access(cl, ret);
                if (pass == 0)
                        drain_eventfd(cl->access_fd);
        }
        return 0;
}

/* Signal the daemon.  A counter that cannot take one more is readable already: nothing to add. */
static int signal_eventfd(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        uint64_t one = 1;

        for (;;) {
                int r = poll(&p, 1, 0);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0 || !(p.revents & POLLOUT))
                        return 0;
                if (write(fd, &one, sizeof(one)) == (ssize_t) sizeof(one))
                        return 0;
                if (errno == EAGAIN)
                        return 0;
                if (errno != EINTR)
                        return -errno;
        }
}

CLIENT_EXPORT int xenioreqd_claim_answer(xenioreqd_claim *cl, uint32_t seq, uint64_t data) {
        struct xirq_answer a = { .seq = seq };
        uint32_t cons, used;
        unsigned i;

        if (!cl)
                return -EINVAL;
        if (cl->broken)
                return -EPROTO;
        for (i = 0; i < cl->n_pending && cl->pending[i].seq != seq; i++)
                ;
        if (i == cl->n_pending)
                return -ENOENT;
        cons = __atomic_load_n(&cl->ring->answer_cons, __ATOMIC_ACQUIRE);
        used = cl->answer_prod - cons;
        if (used > XIRQ_RING_SIZE)
                return claim_broken(cl);
        if (used == XIRQ_RING_SIZE)
                return -EAGAIN;
        if (cl->pending[i].dir == XIRQ_ACCESS_READ)
                a.data = data & size_mask(cl->pending[i].size);
        memcpy(&cl->ring->answer[cl->answer_prod % XIRQ_RING_SIZE], &a, sizeof(a));
        cl->answer_prod++;
        __atomic_store_n(&cl->ring->answer_prod, cl->answer_prod, __ATOMIC_RELEASE);
        cl->pending[i] = cl->pending[--cl->n_pending];
        return signal_eventfd(cl->answer_fd);
}

CLIENT_EXPORT void xenioreqd_claim_free(xenioreqd_claim *cl) {
        if (!cl)
                return;
        claim_unlink(cl);
        if (cl->ring)
                munmap(cl->ring, sizeof(*cl->ring));
        if (cl->access_fd >= 0)
                close(cl->access_fd);
        if (cl->answer_fd >= 0)
                close(cl->answer_fd);
        free(cl);
}

CLIENT_EXPORT int xenioreqd_unclaim(xenioreqd_claim *cl) {
        xenioreqd_client *c;
        uint8_t buf[XIRQ_MSG_MAX];
        ProtoReply rep;
        uint32_t seq;
        size_t n;
        int r;

        if (!cl)
                return -EINVAL;
        c = cl->client;
        if (!c) {
                xenioreqd_claim_free(cl);
                return -ENOTCONN;
        }
        seq = next_seq(c);
        n = proto_encode_unclaim(buf, seq, cl->id);
        r = transact(c, buf, n, NULL, 0, XIRQ_MSG_UNCLAIM, seq, &rep, NULL);
        xenioreqd_claim_free(cl);
        return r < 0 ? r : rep.error;
}
