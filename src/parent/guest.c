/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "guest.h"
#include "log.h"
#include "manager.h"
#include "xenioreqd/protocol.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

#define GUEST_MAX_REFUSING      8u      /* refused connections waiting for their reply */
#define GUEST_ACCEPT_BURST      16u
#define GUEST_ACCEPT_PAUSE      1.0     /* seconds, after EMFILE/ENFILE */
#define GUEST_LISTEN_BACKLOG    64

static RateLimit accept_log = RATELIMIT_INIT(10 * 1000 * 1000, 5);

static void guest_server_teardown(Guest *g);

/* ---- the listening socket ---- */

static void guest_accept_one(Guest *g, int fd) {
        const GuestLimits *lim = &g->config->limits;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        Client *c;
        int refuse = 0, r;

        /* who is it: authorised once, here */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred)) {
                log_debug_errno(errno, "Guest %s: cannot read peer credentials, closing: %m", g->name);
                close(fd);
                return;
        }

        if (!guest_config_allows(g->config, cred.uid, cred.gid))
                refuse = EACCES;
        else if (g->n_clients >= lim->max_connections)
                refuse = EUSERS;
        else {
                unsigned same = 0;

                for (Client *i = g->clients; i; i = i->next)
                        if (!i->refuse_error && i->uid == cred.uid)
                                same++;
                if (same >= lim->max_connections_per_uid)
                        refuse = EUSERS;
        }

        if (refuse) {
                log_ratelimit(&accept_log, LOG_NOTICE, "Guest %s: refusing connection of pid %d uid %u gid %u: %s",
                              g->name, (int) cred.pid, (unsigned) cred.uid, (unsigned) cred.gid, strerror(refuse));
                if (g->n_refusing >= GUEST_MAX_REFUSING) {
                        close(fd);
                        return;
                }
        }

        r = client_new(&c, g, fd, cred.uid, cred.gid, cred.pid, refuse);
        if (r < 0) {
                log_warning_errno(r, "Guest %s: failed to set up connection: %m", g->name);
                return;
        }
        if (!refuse)
                log_debug("Guest %s: connection of pid %d uid %u gid %u", g->name, (int) cred.pid,
                          (unsigned) cred.uid, (unsigned) cred.gid);
}

static void guest_accept_cb(struct ev_loop *loop, ev_io *w, int revents) {
        Guest *g = container_of(w, Guest, listen_io);

        for (unsigned n = 0; n < GUEST_ACCEPT_BURST; n++) {
                int fd = accept4(g->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                if (fd >= 0) {
                        guest_accept_one(g, fd);
                        continue;
                }
                switch (errno) {
                case EAGAIN:
                        return;
                case EINTR:
                case ECONNABORTED:
                case EPROTO:
                        continue;
                case EMFILE:
                case ENFILE:
                case ENOBUFS:
                case ENOMEM:
                        log_ratelimit_errno(&accept_log, LOG_WARNING, errno,
                                            "Guest %s: cannot accept connections, pausing for %.0f s: %m", g->name,
                                            GUEST_ACCEPT_PAUSE);
                        ev_io_stop(loop, &g->listen_io);
                        ev_timer_set(&g->accept_pause, GUEST_ACCEPT_PAUSE, 0.);
                        ev_timer_start(loop, &g->accept_pause);
                        return;
                default:
                        log_warning_errno(errno, "Guest %s: accept failed: %m", g->name);
                        return;
                }
        }
}

static void guest_accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents) {
        Guest *g = container_of(w, Guest, accept_pause);

        ev_io_start(loop, &g->listen_io);
}

static int guest_listen(Guest *g, int inherited_fd) {
        const GuestConfig *c = g->config;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(c->socket);
        struct stat st;
        mode_t old_umask;
        int fd, r, flags;

        if (inherited_fd >= 0) {
                /* passed by the service manager: already bound and listening */
                flags = fcntl(inherited_fd, F_GETFL);
                if (flags < 0 || fcntl(inherited_fd, F_SETFL, flags | O_NONBLOCK) < 0)
                        return -errno;
                g->listen_fd = inherited_fd;
                g->listen_inherited = true;
                return 0;
        }

        if (len == 0 || len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, c->socket, len);

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;

        /* replace a stale socket of an earlier run, never anything else */
        if (lstat(c->socket, &st) == 0) {
                if (!S_ISSOCK(st.st_mode)) {
                        r = -EEXIST;
                        goto fail;
                }
                if (unlink(c->socket) < 0 && errno != ENOENT) {
                        r = -errno;
                        goto fail;
                }
        }

        /* nobody may connect before owner and mode are set */
        old_umask = umask(0777);
        r = bind(fd, (struct sockaddr *) &sa, (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + 1));
        if (r < 0 && errno == ENOENT) {
                /* the socket directory (RuntimeDirectory= outside systemd): create its last component */
                char dir[sizeof(sa.sun_path)];
                char *slash;

                memcpy(dir, c->socket, len + 1);
                slash = strrchr(dir, '/');
                if (slash && slash != dir) {
                        *slash = '\0';
                        umask(0022);
                        if (mkdir(dir, 0755) == 0 || errno == EEXIST) {
                                umask(0777);
                                r = bind(fd, (struct sockaddr *) &sa,
                                         (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + 1));
                        } else
                                errno = ENOENT;
                }
        }
        umask(old_umask);
        if (r < 0) {
                r = -errno;
                goto fail;
        }
        if (lstat(c->socket, &st) < 0) {
                r = -errno;
                goto fail;
        }
        g->listen_dev = st.st_dev;
        g->listen_ino = st.st_ino;

        if ((c->socket_uid != (uid_t) -1 || c->socket_gid != (gid_t) -1) &&
            lchown(c->socket, c->socket_uid, c->socket_gid) < 0) {
                r = -errno;
                goto fail_unlink;
        }
        if (chmod(c->socket, c->socket_mode) < 0) {
                r = -errno;
                goto fail_unlink;
        }
        if (listen(fd, GUEST_LISTEN_BACKLOG) < 0) {
                r = -errno;
                goto fail_unlink;
        }

        g->listen_fd = fd;
        return 0;

fail_unlink:
        (void) unlink(c->socket);
fail:
        close(fd);
        return r;
}

static void guest_unlisten(Guest *g) {
        struct ev_loop *loop = g->manager->loop;
        struct stat st;

        ev_io_stop(loop, &g->listen_io);
        ev_timer_stop(loop, &g->accept_pause);
        if (g->listen_fd < 0)
                return;

        /* unlink only the socket this guest bound, not one that replaced it */
        if (!g->listen_inherited && lstat(g->config->socket, &st) == 0 && S_ISSOCK(st.st_mode) &&
            st.st_dev == g->listen_dev && st.st_ino == g->listen_ino)
                (void) unlink(g->config->socket);
        close(g->listen_fd);
        g->listen_fd = -1;
}

/* ---- life cycle ---- */

int guest_new(Guest **ret, Manager *m, const GuestConfig *config, int inherited_fd) {
        Guest *g;
        int r;

        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        g->manager = m;
        g->config = config;
        snprintf(g->name, sizeof g->name, "%s", config->name);
        g->state = XIRQ_GUEST_ABSENT;
        g->domid = XEN_NO_DOMID;
        g->listen_fd = -1;
        g->server_log = (RateLimit) RATELIMIT_INIT(10 * 1000 * 1000, 10);
        g->domain_log = (RateLimit) RATELIMIT_INIT(10 * 1000 * 1000, 10);
        ev_io_init(&g->listen_io, guest_accept_cb, -1, EV_READ);
        ev_timer_init(&g->accept_pause, guest_accept_pause_cb, GUEST_ACCEPT_PAUSE, 0.);

        r = match_table_new(&g->match);
        if (r < 0)
                goto fail;

        r = guest_listen(g, inherited_fd);
        if (r < 0)
                goto fail;
        ev_io_set(&g->listen_io, g->listen_fd, EV_READ);
        ev_io_start(m->loop, &g->listen_io);

        *ret = g;
        return 0;

fail:
        guest_free(g);
        return r;
}

Guest *guest_free(Guest *g) {
        if (!g)
                return NULL;
        /* the server first, so that dropping registrations does not unmap them one by one */
        guest_server_teardown(g);
        guest_disconnect_all(g);
        guest_unlisten(g);
        g->match = match_table_free(g->match);
        free(g);
        return NULL;
}

void guest_update_config(Guest *g, const GuestConfig *config) {
        g->config = config;
        /* the running server keeps serving; only its polling window changes */
        if (g->xen)
                ioreq_set_busy_poll(&g->ioreq, config->limits.busy_poll_us);
}

void guest_disconnect_all(Guest *g) {
        while (g->clients)
                client_disconnect(g->clients);
}

/* ---- the ioreq server ---- */

static void guest_server_teardown(Guest *g) {
        if (!g->xen)
                return;
        g->last_stats = g->ioreq.stats;
        ioreq_stop(&g->ioreq);
        /* a client's first registration and its last one make and break the server: rate-limited */
        log_ratelimit(&g->server_log, LOG_INFO, "Guest %s: ioreq server %" PRIu32 " of domain %" PRIu32 " destroyed",
                      g->name, xen_server_id(g->xen), g->domid);
        g->xen = xen_server_free(g->xen);
        if (g->state == XIRQ_GUEST_SERVING)
                g->state = g->domid == XEN_NO_DOMID ? XIRQ_GUEST_ABSENT : XIRQ_GUEST_RUNNING;
}

static void guest_ioreq_fail(Ioreq *q, int error) {
        Guest *g = container_of(q, Guest, ioreq);

        log_error_errno(error, "Guest %s: event channel of domain %" PRIu32 " failed, dropping its server: %m",
                        g->name, g->domid);
        guest_server_teardown(g);
        g->state = XIRQ_GUEST_FAILED;
        g->setup_error = error;
        /* its registrations are not served any more: their owners must know */
        guest_disconnect_all(g);
        manager_update_status(g->manager);
}

static int guest_server_setup(Guest *g, const MatchKey *first) {
        XenServer *xen = NULL;
        uint32_t blocker = XEN_NO_SERVER;
        char above[64] = "";
        int r;

        r = xen_server_new(&xen, g->domid, &blocker);
        if (r == -EBUSY) {
                log_ratelimit_errno(&g->server_log, LOG_WARNING, r,
                                    "Guest %s: domain %" PRIu32 " has an ioreq server with id %" PRIu32 " and Xen's %u"
                                    " ids leave none above it: that server would take the accesses to ranges both"
                                    " map, so the registration is refused: %m",
                                    g->name, g->domid, blocker, XEN_MAX_SERVERS);
                goto fail_logged;
        }
        if (r < 0)
                goto fail;
        r = xen_server_map_range(xen, first->space == XIRQ_SPACE_PIO, first->addr, first->addr + first->len - 1);
        if (r < 0)
                goto fail;
        r = xen_server_enable(xen);
        if (r < 0)
                goto fail;
        r = ioreq_start(&g->ioreq, g->manager->loop, xen, g->match, g->config->limits.busy_poll_us,
                        guest_ioreq_fail);
        if (r < 0)
                goto fail;

        g->xen = xen;
        g->state = XIRQ_GUEST_SERVING;
        g->setup_error = 0;
        if (xen_server_passed(xen) != XEN_NO_SERVER)
                snprintf(above, sizeof above, ", above server %" PRIu32 " of another process",
                         xen_server_passed(xen));
        log_ratelimit(&g->server_log, LOG_INFO,
                      "Guest %s: ioreq server %" PRIu32 " of domain %" PRIu32 " serving %u vCPU%s%s", g->name,
                      xen_server_id(xen), g->domid, xen_server_nr_vcpus(xen), xen_server_nr_vcpus(xen) == 1 ? "" : "s",
                      above);
        return 0;

fail:
        /* each registration tries again (a crashed domain): rate-limited */
        log_ratelimit_errno(&g->server_log, LOG_WARNING, r,
                            "Guest %s: failed to set up an ioreq server for domain %" PRIu32 ": %m", g->name, g->domid);
fail_logged:
        xen_server_free(xen);
        g->state = XIRQ_GUEST_FAILED;
        g->setup_error = r;
        return r;
}

/* ---- registrations ---- */

int guest_assign(Guest *g, Client *c, const MatchKey *key, int fd, Registration **ret) {
        Registration *reg;
        bool new_range = false;
        int r;

        if (g->domid == XEN_NO_DOMID)
                return -ESRCH;
        if (match_count(g->match) >= g->config->limits.max_registrations)
                return -ENOSPC;

        reg = calloc(1, sizeof(*reg));
        if (!reg)
                return -ENOMEM;
        reg->key = *key;
        reg->fd = fd;
        reg->owner = c;

        r = match_add(g->match, key, reg, &new_range);
        if (r < 0) {
                free(reg);
                return r;
        }

        if (!g->xen)
                r = guest_server_setup(g, key);
        else if (new_range)
                r = xen_server_map_range(g->xen, key->space == XIRQ_SPACE_PIO, key->addr, key->addr + key->len - 1);
        if (r < 0) {
                (void) match_remove(g->match, key, NULL, NULL);
                free(reg);
                return r;
        }

        manager_update_status(g->manager);
        *ret = reg;
        return 0;
}

void guest_remove_registration(Guest *g, Registration *reg) {
        Client *c = reg->owner;
        bool unused = false;

        if (match_remove(g->match, &reg->key, NULL, &unused) >= 0 && unused && g->xen) {
                int r = xen_server_unmap_range(g->xen, reg->key.space == XIRQ_SPACE_PIO, reg->key.addr,
                                               reg->key.addr + reg->key.len - 1);
                if (r < 0)
                        log_debug_errno(r, "Guest %s: failed to unmap 0x%" PRIx64 "+%u: %m", g->name,
                                        reg->key.addr, reg->key.len);
        }

        if (c) {
                if (reg->prev)
                        reg->prev->next = reg->next;
                else
                        c->registrations = reg->next;
                if (reg->next)
                        reg->next->prev = reg->prev;
                c->n_registrations--;
        }
        close(reg->fd);
        free(reg);

        if (match_count(g->match) == 0)
                guest_server_teardown(g);
        manager_update_status(g->manager);
}

int guest_deassign(Guest *g, Client *c, const MatchKey *key) {
        Registration *reg = match_find(g->match, key);

        /* another connection's registration is none of this one's business */
        if (!reg || reg->owner != c)
                return -ENOENT;
        guest_remove_registration(g, reg);
        return 0;
}

unsigned guest_registrations(const Guest *g) {
        return match_count(g->match);
}

IoreqStats guest_stats(const Guest *g) {
        return g->xen ? g->ioreq.stats : g->last_stats;
}

/* ---- the domain ---- */

void guest_set_domid(Guest *g, uint32_t domid) {
        if (domid == g->domid)
                return;

        if (g->domid != XEN_NO_DOMID) {
                log_ratelimit(&g->domain_log, LOG_INFO, "Guest %s: domain %" PRIu32 " is gone", g->name, g->domid);
                /* the server first: its domain is gone, its ranges need no unmapping */
                guest_server_teardown(g);
                guest_disconnect_all(g);
                g->domid = XEN_NO_DOMID;
                g->state = XIRQ_GUEST_ABSENT;
                g->setup_error = 0;
        }
        if (domid != XEN_NO_DOMID) {
                g->domid = domid;
                g->state = XIRQ_GUEST_RUNNING;
                /* a guest that reboots in a loop makes these two lines: rate-limited */
                log_ratelimit(&g->domain_log, LOG_INFO, "Guest %s: running as domain %" PRIu32, g->name, domid);
        }
        manager_update_status(g->manager);
}
