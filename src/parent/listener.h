/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A guest's listening socket: created at its configured path with its owner
 * and mode (or taken as passed by the service manager), accepting with
 * accept4(SOCK_CLOEXEC|SOCK_NONBLOCK) and the peer's SO_PEERCRED read at
 * once; on EMFILE/ENFILE accepting pauses for a second.  Closing unlinks
 * the socket only if it is still the one this listener bound.
 */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <ev.h>

typedef struct Listener Listener;

/* A connection and its peer; the callee owns fd. */
typedef void (*ListenerAcceptFn)(Listener *l, int fd, const struct ucred *cred, void *userdata);

struct Listener {
        struct ev_loop *loop;
        char *path;
        const char *name;               /* for messages */
        int fd;
        bool inherited;                 /* from the service manager: not ours to unlink */
        dev_t dev;
        ino_t ino;
        ev_io io;
        ev_timer pause;
        ListenerAcceptFn accepted;
        void *userdata;
};

/*
 * inherited_fd >= 0: a listening socket passed for this path (ours: one an
 * earlier xen-ioreqd bound, to be unlinked at the end like one bound here);
 * else a socket is bound at path (a stale socket there is replaced, anything
 * else is -EEXIST; its directory is made if missing), owned by uid/gid (-1:
 * unchanged) with mode, listening.  name labels log lines.
 */
int listener_open(Listener *l, struct ev_loop *loop, const char *name, const char *path, uid_t uid, gid_t gid,
                  mode_t mode, int inherited_fd, bool ours, ListenerAcceptFn accepted, void *userdata);
void listener_close(Listener *l);
/* keep: the node stays at its path (a handover: the next daemon listens on the same socket). */
void listener_close_keep(Listener *l, bool keep);
