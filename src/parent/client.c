/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "guest.h"
#include "log.h"
#include "manager.h"
#include "proto.h"
#include "xenioreqd/protocol.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

#define CLIENT_BURST    16u     /* requests handled per wake-up */
#define CLIENT_MAX_FDS  4u      /* more than this truncates the control data: dropped */
#define CLIENT_REFUSE_TIMEOUT 2.0       /* seconds a refused peer has to send its first request */

static RateLimit client_log = RATELIMIT_INIT(10 * 1000 * 1000, 10);

static void client_io_cb(struct ev_loop *loop, ev_io *w, int revents);

static void client_refuse_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents) {
        client_disconnect(container_of(w, Client, refuse_timer));
}

int client_new(Client **ret, Guest *g, int fd, uid_t uid, gid_t gid, pid_t pid, int refuse_error) {
        Client *c;

        c = calloc(1, sizeof(*c));
        if (!c) {
                close(fd);
                return -ENOMEM;
        }
        c->guest = g;
        c->manager = g->manager;
        c->fd = fd;
        c->uid = uid;
        c->gid = gid;
        c->pid = pid;
        c->refuse_error = refuse_error;

        c->next = g->clients;
        if (g->clients)
                g->clients->prev = c;
        g->clients = c;
        if (refuse_error)
                g->n_refusing++;
        else
                g->n_clients++;

        ev_io_init(&c->io, client_io_cb, fd, EV_READ);
        ev_io_start(c->manager->loop, &c->io);
        ev_timer_init(&c->refuse_timer, client_refuse_timeout_cb, CLIENT_REFUSE_TIMEOUT, 0.);
        if (refuse_error)
                ev_timer_start(c->manager->loop, &c->refuse_timer);
        *ret = c;
        return 0;
}

void client_disconnect(Client *c) {
        Guest *g = c->guest;

        if (c->dead)
                return;
        c->dead = true;
        ev_io_stop(c->manager->loop, &c->io);
        ev_timer_stop(c->manager->loop, &c->refuse_timer);

        if (g) {
                while (c->registrations)
                        guest_remove_registration(g, c->registrations);

                if (c->prev)
                        c->prev->next = c->next;
                else
                        g->clients = c->next;
                if (c->next)
                        c->next->prev = c->prev;
                c->next = c->prev = NULL;
                if (c->refuse_error)
                        g->n_refusing--;
                else
                        g->n_clients--;
                c->guest = NULL;
        }

        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        manager_queue_dead(c->manager, c);
}

Client *client_free(Client *c) {
        free(c);
        return NULL;
}

int client_check_eventfd(int fd) {
        char path[64], target[64];
        struct stat st;
        ssize_t n;

        if (fstat(fd, &st) < 0)
                return -errno;
        /* eventfds are anonymous inodes: neither files, nor sockets, nor devices */
        if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode) ||
            S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISLNK(st.st_mode))
                return -EINVAL;

        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        n = readlink(path, target, sizeof(target) - 1);
        if (n < 0)
                return -errno;
        target[n] = '\0';
        if (strcmp(target, "anon_inode:[eventfd]") != 0)
                return -EINVAL;
        return 0;
}

/* Queue a reply; a client whose socket buffer is full does not read its replies: dropped. */
static int client_send(Client *c, const void *buf, size_t len) {
        ssize_t n;

        do
                n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        /* EAGAIN here is the peer's fault, not "no more input": keep them apart */
        if (n < 0)
                return errno == EAGAIN ? -ENOBUFS : -errno;
        if ((size_t) n != len)
                return -EIO;
        return 0;
}

static void client_fill_query(Client *c, ProtoQueryInfo *info) {
        Guest *g = c->guest;
        IoreqStats st = guest_stats(g);

        *info = (ProtoQueryInfo) {
                .state = g->state,
                .domid = g->domid == XEN_NO_DOMID ? PROTO_DOMID_NONE : g->domid,
                .server_id = g->xen ? xen_server_id(g->xen) : PROTO_SERVER_NONE,
                .nr_vcpus = g->xen ? xen_server_nr_vcpus(g->xen) : 0,
                .registrations = guest_registrations(g),
                .client_registrations = c->n_registrations,
                .kicks = st.kicks,
                .unmatched = st.unmatched,
                .reads = st.reads,
                .invalid = st.invalid,
                .other = st.other,
        };
}

static int client_assign(Client *c, const ProtoRequest *req, int *fd) {
        Guest *g = c->guest;
        Registration *reg;
        int flags, r;

        if (g->domid == XEN_NO_DOMID)
                return -ESRCH;
        if (c->n_registrations >= g->config->limits.max_client_registrations)
                return -ENOSPC;

        r = client_check_eventfd(*fd);
        if (r < 0)
                return r;
        /*
         * The daemon must never block on a backend's eventfd (a write blocks
         * when the counter would overflow): the description is shared with
         * the backend, so this makes its side non-blocking too.
         */
        flags = fcntl(*fd, F_GETFL);
        if (flags < 0)
                return -errno;
        if (!(flags & O_NONBLOCK) && fcntl(*fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return -errno;

        r = guest_assign(g, c, &req->key, *fd, &reg);
        if (r < 0)
                return r;
        *fd = -1;       /* owned by the registration now */

        reg->next = c->registrations;
        if (c->registrations)
                c->registrations->prev = reg;
        c->registrations = reg;
        c->n_registrations++;
        return 0;
}

static int client_handle(Client *c, const uint8_t *buf, size_t len, int *fds, unsigned nfds) {
        Guest *g = c->guest;
        uint8_t out[XIRQ_MSG_MAX];
        ProtoHeader hdr;
        ProtoRequest req;
        ProtoQueryInfo info;
        size_t n;
        int r;

        /* without a header no reply can be formed */
        r = proto_decode_header(buf, len, &hdr);
        if (r < 0)
                return r;

        if (c->refuse_error) {
                n = proto_encode_error_reply(out, hdr.type, hdr.seq, -c->refuse_error);
                (void) client_send(c, out, n);
                return -c->refuse_error;
        }

        r = proto_decode_request(buf, len, nfds, &req);
        if (r >= 0 && (req.op == PROTO_OP_HELLO) == c->hello_done)
                r = -EPROTO;    /* HELLO first, and only once */

        if (r < 0) {
                log_ratelimit(&client_log, LOG_DEBUG, "Guest %s: pid %d uid %u: bad %s request (%zu bytes, %u fds): %s",
                              g->name, (int) c->pid, (unsigned) c->uid, proto_type_name(hdr.type), len, nfds,
                              strerror(-r));
                n = proto_encode_error_reply(out, hdr.type, hdr.seq, r);
                return client_send(c, out, n);
        }

        switch (req.op) {
        case PROTO_OP_HELLO:
                r = proto_negotiate_version(req.version_min, req.version_max);
                if (r < 0) {
                        n = proto_encode_hello_reply(out, req.hdr.seq, r, 0, PROTO_DOMID_NONE, 0);
                        break;
                }
                c->hello_done = true;
                n = proto_encode_hello_reply(out, req.hdr.seq, 0, (uint16_t) r,
                                             g->domid == XEN_NO_DOMID ? PROTO_DOMID_NONE : g->domid,
                                             g->config->limits.max_client_registrations);
                break;

        case PROTO_OP_ASSIGN:
                r = nfds == 1 ? client_assign(c, &req, &fds[0]) : -EBADF;
                n = proto_encode_reply(out, req.hdr.type, req.hdr.seq, r);
                break;

        case PROTO_OP_DEASSIGN:
                r = guest_deassign(g, c, &req.key);
                n = proto_encode_reply(out, req.hdr.type, req.hdr.seq, r);
                break;

        case PROTO_OP_QUERY:
                client_fill_query(c, &info);
                n = proto_encode_query_reply(out, req.hdr.seq, 0, &info);
                break;

        default:
                n = proto_encode_error_reply(out, req.hdr.type, req.hdr.seq, -EPROTO);
                break;
        }

        return client_send(c, out, n);
}

/* One packet: 0, -EAGAIN when nothing is left, another -errno to drop the client. */
static int client_read_one(Client *c) {
        uint8_t buf[XIRQ_MSG_MAX];
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * CLIENT_MAX_FDS)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct msghdr msg = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        int fds[CLIENT_MAX_FDS];
        unsigned nfds = 0;
        bool bad_control = false;
        ssize_t n;
        int r;

        do
                n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EAGAIN ? -EAGAIN : -errno;

        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                        for (size_t i = 0; i < k; i++) {
                                int fd;

                                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                                if (nfds < CLIENT_MAX_FDS)
                                        fds[nfds++] = fd;
                                else
                                        close(fd);
                        }
                } else
                        bad_control = true;
        }

        if (n == 0 && nfds == 0) {
                r = -ECONNRESET;        /* end of file */
        } else if (msg.msg_flags & MSG_CTRUNC) {
                r = -EBADMSG;           /* fds were lost on the way: nothing sane to answer */
        } else if (bad_control) {
                r = -EPROTO;
        } else if (msg.msg_flags & MSG_TRUNC) {
                /* longer than any message: answer by its header */
                uint8_t out[XIRQ_MSG_MAX];
                ProtoHeader hdr;

                r = proto_decode_header(buf, sizeof(buf), &hdr);
                if (r >= 0 && !c->refuse_error)
                        r = client_send(c, out, proto_encode_error_reply(out, hdr.type, hdr.seq, -EBADMSG));
                else if (r >= 0)
                        r = client_handle(c, buf, sizeof(buf), fds, 0);
        } else {
                r = client_handle(c, buf, (size_t) n, fds, nfds);
        }

        for (unsigned i = 0; i < nfds; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        return r;
}

static void client_io_cb(struct ev_loop *loop, ev_io *w, int revents) {
        Client *c = container_of(w, Client, io);

        for (unsigned i = 0; i < CLIENT_BURST && !c->dead; i++) {
                int r = client_read_one(c);

                if (r == -EAGAIN)
                        return;
                if (r < 0) {
                        Guest *g = c->guest;

                        if (r != -ECONNRESET && g)
                                log_debug_errno(r, "Guest %s: dropping connection of pid %d uid %u: %m", g->name,
                                                (int) c->pid, (unsigned) c->uid);
                        client_disconnect(c);
                        return;
                }
        }
}
