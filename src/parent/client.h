/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One connection on a guest's socket: requests in (one SOCK_SEQPACKET packet
 * each, at most one fd), one reply out per request, never blocking.  A
 * connection refused at accept (peer not allowed, too many connections)
 * gets its reason as the error of the reply to its first request and is
 * then closed.
 */
#ifndef XENIOREQD_CLIENT_H
#define XENIOREQD_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <ev.h>

#include "ioreq.h"

typedef struct Guest Guest;
typedef struct Manager Manager;
typedef struct Client Client;

struct Client {
        Guest *guest;                   /* NULL once disconnected */
        Manager *manager;
        int fd;
        ev_io io;
        ev_timer refuse_timer;          /* a refused peer that says nothing is closed after a while */
        uid_t uid;
        gid_t gid;
        pid_t pid;
        int refuse_error;               /* > 0: refused with this errno */
        bool hello_done;
        bool dead;                      /* disconnected, waiting to be freed */
        unsigned n_registrations;
        Registration *registrations;
        Client *next, *prev;            /* the guest's list */
        Client *dead_next;              /* the manager's list of connections to free */
};

/* Takes fd (a connected, non-blocking, close-on-exec socket); closes it on failure. */
int client_new(Client **ret, Guest *g, int fd, uid_t uid, gid_t gid, pid_t pid, int refuse_error);

/*
 * Remove everything the connection registered, close it and queue it to be
 * freed from outside the current callback chain.  Idempotent.
 */
void client_disconnect(Client *c);

/* Only from the manager's reaper, after client_disconnect(). */
Client *client_free(Client *c);

/* Is fd an eventfd (anon_inode:[eventfd])?  0, -EINVAL if not, or -errno. */
int client_check_eventfd(int fd);

#endif
