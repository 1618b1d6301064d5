/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

#define LISTENER_ACCEPT_BURST   16u
#define LISTENER_ACCEPT_PAUSE   1.0     /* seconds, after EMFILE/ENFILE */
#define LISTENER_BACKLOG        64

static RateLimit accept_log = RATELIMIT_INIT(10 * 1000 * 1000, 5);

static void listener_accept_one(Listener *l, int fd) {
        struct ucred cred;
        socklen_t len = sizeof(cred);

        /* who is it: authorised once, by the owner, from this */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred)) {
                log_debug_errno(errno, "Guest %s: cannot read peer credentials, closing: %m", l->name);
                close(fd);
                return;
        }
        l->accepted(l, fd, &cred, l->userdata);
}

static void listener_accept_cb(struct ev_loop *loop, ev_io *w, int revents) {
        Listener *l = container_of(w, Listener, io);

        for (unsigned n = 0; n < LISTENER_ACCEPT_BURST; n++) {
                int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                if (fd >= 0) {
                        listener_accept_one(l, fd);
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
                                            "Guest %s: cannot accept connections, pausing for %.0f s: %m", l->name,
                                            LISTENER_ACCEPT_PAUSE);
                        ev_io_stop(loop, &l->io);
                        ev_timer_set(&l->pause, LISTENER_ACCEPT_PAUSE, 0.);
                        ev_timer_start(loop, &l->pause);
                        return;
                default:
                        log_warning_errno(errno, "Guest %s: accept failed: %m", l->name);
                        return;
                }
        }
}

static void listener_pause_cb(struct ev_loop *loop, ev_timer *w, int revents) {
        Listener *l = container_of(w, Listener, pause);

        ev_io_start(loop, &l->io);
}

static int listener_bind(Listener *l, uid_t uid, gid_t gid, mode_t mode, int inherited_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(l->path);
        struct stat st;
        mode_t old_umask;
        int fd, r, flags;

        if (inherited_fd >= 0) {
                /* passed by the service manager: already bound and listening */
                flags = fcntl(inherited_fd, F_GETFL);
                if (flags < 0 || fcntl(inherited_fd, F_SETFL, flags | O_NONBLOCK) < 0)
                        return -errno;
                l->fd = inherited_fd;
                l->inherited = true;
                return 0;
        }

        if (len == 0 || len >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, l->path, len);

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;

        /* replace a stale socket of an earlier run, never anything else */
        if (lstat(l->path, &st) == 0) {
                if (!S_ISSOCK(st.st_mode)) {
                        r = -EEXIST;
                        goto fail;
                }
                if (unlink(l->path) < 0 && errno != ENOENT) {
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

                memcpy(dir, l->path, len + 1);
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
        if (lstat(l->path, &st) < 0) {
                r = -errno;
                goto fail;
        }
        l->dev = st.st_dev;
        l->ino = st.st_ino;

        if ((uid != (uid_t) -1 || gid != (gid_t) -1) && lchown(l->path, uid, gid) < 0) {
                r = -errno;
                goto fail_unlink;
        }
        if (chmod(l->path, mode) < 0) {
                r = -errno;
                goto fail_unlink;
        }
        if (listen(fd, LISTENER_BACKLOG) < 0) {
                r = -errno;
                goto fail_unlink;
        }

        l->fd = fd;
        return 0;

fail_unlink:
        (void) unlink(l->path);
fail:
        close(fd);
        return r;
}

int listener_open(Listener *l, struct ev_loop *loop, const char *name, const char *path, uid_t uid, gid_t gid,
                  mode_t mode, int inherited_fd, bool ours, ListenerAcceptFn accepted, void *userdata) {
        struct stat st;
        int r;

        *l = (Listener) { .loop = loop, .name = name, .fd = -1, .accepted = accepted, .userdata = userdata };
        ev_io_init(&l->io, listener_accept_cb, -1, EV_READ);
        ev_timer_init(&l->pause, listener_pause_cb, LISTENER_ACCEPT_PAUSE, 0.);
        l->path = strdup(path);
        if (!l->path)
                return -ENOMEM;
        r = listener_bind(l, uid, gid, mode, inherited_fd);
        if (r < 0) {
                free(l->path);
                l->path = NULL;
                return r;
        }
        /* bound by an earlier xen-ioreqd: the node at path now is the one to unlink at the end */
        if (inherited_fd >= 0 && ours && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
                l->inherited = false;
                l->dev = st.st_dev;
                l->ino = st.st_ino;
        }
        ev_io_set(&l->io, l->fd, EV_READ);
        ev_io_start(loop, &l->io);
        return 0;
}

void listener_close(Listener *l) {
        listener_close_keep(l, false);
}

void listener_close_keep(Listener *l, bool keep) {
        struct stat st;

        if (!l->loop)
                return;
        ev_io_stop(l->loop, &l->io);
        ev_timer_stop(l->loop, &l->pause);
        if (l->fd >= 0) {
                /* unlink only the socket this listener bound, not one that replaced it */
                if (!keep && !l->inherited && lstat(l->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
                    st.st_dev == l->dev && st.st_ino == l->ino)
                        (void) unlink(l->path);
                close(l->fd);
                l->fd = -1;
        }
        free(l->path);
        l->path = NULL;
}
