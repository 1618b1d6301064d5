/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "fdio.h"
#include "log.h"
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

static void client_reaper_cb(struct ev_loop *loop, ev_prepare *w, int revents) {
        Client *c = container_of(w, Client, reaper);

        ev_prepare_stop(loop, &c->reaper);
        c->ops->dead(c, c->owner);
}

int client_new(Client **ret, struct ev_loop *loop, int fd, uid_t uid, gid_t gid, pid_t pid, int refuse_error,
               const ClientOps *ops, void *owner) {
        Client *c;

        c = calloc(1, sizeof(*c));
        if (!c) {
                close(fd);
                return -ENOMEM;
        }
        c->loop = loop;
        c->ops = ops;
        c->owner = owner;
        c->fd = fd;
        c->uid = uid;
        c->gid = gid;
        c->pid = pid;
        c->refuse_error = refuse_error;

        ev_io_init(&c->io, client_io_cb, fd, EV_READ);
        ev_io_start(loop, &c->io);
        ev_timer_init(&c->refuse_timer, client_refuse_timeout_cb, CLIENT_REFUSE_TIMEOUT, 0.);
        if (refuse_error)
                ev_timer_start(loop, &c->refuse_timer);
        ev_prepare_init(&c->reaper, client_reaper_cb);
        *ret = c;
        return 0;
}

void client_disconnect(Client *c) {
        if (c->dead)
                return;
        c->dead = true;
        ev_io_stop(c->loop, &c->io);
        ev_timer_stop(c->loop, &c->refuse_timer);
        c->ops->gone(c, c->owner);
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        /* freed before the loop blocks again, when no callback can still hold it */
        ev_prepare_start(c->loop, &c->reaper);
}

Client *client_free(Client *c) {
        if (!c)
                return NULL;
        ev_io_stop(c->loop, &c->io);
        ev_timer_stop(c->loop, &c->refuse_timer);
        ev_prepare_stop(c->loop, &c->reaper);
        if (c->fd >= 0)
                close(c->fd);
        free(c);
        return NULL;
}

/*
 * An ASSIGN's descriptor must be an eventfd, and non-blocking: the daemon
 * never blocks on a backend's eventfd (a write blocks when the counter would
 * overflow).  The description is shared with the backend, so this makes its
 * side non-blocking too.
 */
static int client_check_eventfd(int fd) {
        return fdio_take_eventfd(fd);
}

/* Queue a reply; a client whose socket buffer is full does not read its replies: dropped. */
static int client_send(Client *c, const void *buf, size_t len) {
        return fdio_send(c->fd, buf, len, NULL, 0);
}

void client_reply(Client *c, int error) {
        client_reply_fds(c, error, NULL, 0);
}

void client_reply_fds(Client *c, int error, const int *fds, unsigned nfds) {
        uint8_t out[XIRQ_MSG_MAX];
        int r;

        if (c->dead || !c->waiting)
                return;
        c->waiting = false;
        r = fdio_send(c->fd, out, proto_encode_reply(out, c->wait_type, c->wait_seq, error), error == 0 ? fds : NULL,
                      error == 0 ? nfds : 0);
        if (r < 0) {
                log_debug_errno(r, "Dropping connection of pid %d uid %u: %m", (int) c->pid, (unsigned) c->uid);
                client_disconnect(c);
                return;
        }
        /* what it sent meanwhile waits in the socket: the watcher finds it */
        ev_io_start(c->loop, &c->io);
}

/* 0: answered (or nothing to answer), 1: the owner answers later, -errno: drop the client */
static int client_handle(Client *c, const uint8_t *buf, size_t len, int *fds, unsigned nfds) {
        uint8_t out[XIRQ_MSG_MAX];
        ProtoHeader hdr;
        ProtoRequest req;
        ProtoQueryInfo info;
        uint32_t domid = PROTO_DOMID_NONE, max = 0;
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

        /* HELLO first, and only once: before anything else is looked at */
        if ((hdr.type == XIRQ_MSG_HELLO) == c->hello_done)
                r = -EPROTO;
        else
                r = proto_decode_request(buf, len, nfds, &req);
        /* what a later version added, on a connection that did not negotiate it */
        if (r >= 0 && c->hello_done && proto_type_version(hdr.type) > c->version)
                r = -EPROTO;

        if (r < 0) {
                log_ratelimit(&client_log, LOG_DEBUG, "Connection of pid %d uid %u: bad %s request (%zu bytes, %u fds): %s",
                              (int) c->pid, (unsigned) c->uid, proto_type_name(hdr.type), len, nfds, strerror(-r));
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
                c->version = (uint16_t) r;
                c->ops->hello(c, c->owner, &domid, &max);
                n = proto_encode_hello_reply(out, req.hdr.seq, 0, (uint16_t) r, domid, max);
                break;

        case PROTO_OP_ASSIGN:
        case PROTO_OP_DEASSIGN:
        case PROTO_OP_IRQFD:
        case PROTO_OP_IRQFD_DEASSIGN:
        case PROTO_OP_CLAIM:
        case PROTO_OP_UNCLAIM:
                /* the eventfds given: eventfds, non-blocking (the decoder checked their number) */
                r = 0;
                if (req.op == PROTO_OP_ASSIGN || req.op == PROTO_OP_IRQFD)
                        for (unsigned i = 0; r == 0 && i < nfds; i++)
                                r = client_check_eventfd(fds[i]);
                if (r == 0)
                        r = c->ops->request(c, c->owner, &req, fds, nfds);
                if (r > 0) {
                        /* answered later: nothing more is read until then, so replies stay in order */
                        c->waiting = true;
                        c->wait_type = req.hdr.type;
                        c->wait_seq = req.hdr.seq;
                        ev_io_stop(c->loop, &c->io);
                        return 1;
                }
                n = proto_encode_reply(out, req.hdr.type, req.hdr.seq, r);
                break;

        case PROTO_OP_QUERY:
                c->ops->query(c, c->owner, &info);
                n = proto_encode_query_reply(out, req.hdr.seq, 0, &info);
                break;

        default:
                n = proto_encode_error_reply(out, req.hdr.type, req.hdr.seq, -EPROTO);
                break;
        }

        return client_send(c, out, n);
}

/* One packet: 0 (or 1: a reply is owed), -EAGAIN when nothing is left, another -errno to drop the client. */
static int client_read_one(Client *c) {
        uint8_t buf[XIRQ_MSG_MAX];
        int fds[CLIENT_MAX_FDS];
        unsigned nfds = 0, flags = 0;
        ssize_t n;
        int r;

        n = fdio_recv(c->fd, buf, sizeof(buf), fds, CLIENT_MAX_FDS, &nfds, &flags);
        if (n < 0)
                return (int) n;

        if (n == 0 && nfds == 0) {
                r = -ECONNRESET;        /* end of file */
        } else if (flags & FDIO_CTRUNC) {
                /*
                 * Descriptors lost on the way: more than any request carries, or
                 * the daemon at its own descriptor limit.  The request cannot be
                 * done; it is refused, the connection stays.
                 */
                uint8_t out[XIRQ_MSG_MAX];
                ProtoHeader hdr;

                r = proto_decode_header(buf, (size_t) n, &hdr);
                if (r >= 0) {
                        log_ratelimit(&client_log, LOG_WARNING, "Connection of pid %d uid %u: the descriptors of a %s"
                                      " request were lost (too many, or the daemon is at its descriptor limit),"
                                      " refused with EMFILE", (int) c->pid, (unsigned) c->uid,
                                      proto_type_name(hdr.type));
                        r = client_send(c, out, proto_encode_error_reply(out, hdr.type, hdr.seq,
                                                                         c->refuse_error ? -c->refuse_error : -EMFILE));
                        if (r >= 0 && c->refuse_error)
                                r = -c->refuse_error;
                }
        } else if (flags & FDIO_BADCTL) {
                r = -EPROTO;
        } else if (flags & FDIO_TRUNC) {
                /* longer than any message: answer by its header */
                uint8_t out[XIRQ_MSG_MAX];
                ProtoHeader hdr;

                r = proto_decode_header(buf, sizeof(buf), &hdr);
                if (r >= 0 && !c->refuse_error)
                        /* an unknown type is that, whatever its length */
                        r = client_send(c, out, proto_encode_error_reply(out, hdr.type, hdr.seq,
                                                                         proto_request_size(hdr.type) == 0 ?
                                                                         -EPROTO : -EBADMSG));
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

        for (unsigned i = 0; i < CLIENT_BURST && !c->dead && !c->waiting; i++) {
                int r = client_read_one(c);

                if (r == -EAGAIN)
                        return;
                if (r < 0) {
                        if (r != -ECONNRESET)
                                log_debug_errno(r, "Dropping connection of pid %d uid %u: %m", (int) c->pid,
                                                (unsigned) c->uid);
                        client_disconnect(c);
                        return;
                }
        }
}
