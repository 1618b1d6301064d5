/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One configured guest: its config, its domid while it runs, its ioreq
 * server (created on the first registration, destroyed with the last), its
 * registration table, its listening socket and its client connections.
 *
 * States (XIRQ_GUEST_*): ABSENT (not running) → RUNNING (domid known, no
 * server) → SERVING (server enabled and bound) → RUNNING when the last
 * registration goes; FAILED when server set-up failed (the next
 * registration tries again); ABSENT again when the domain goes away, which
 * closes every connection of the guest.
 */
#ifndef XENIOREQD_GUEST_H
#define XENIOREQD_GUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <ev.h>

#include "config.h"
#include "ioreq.h"
#include "match.h"
#include "xen.h"

typedef struct Manager Manager;
typedef struct Client Client;
typedef struct Guest Guest;

struct Guest {
        Manager *manager;
        const GuestConfig *config;      /* owned by the manager's current Config */
        char name[CONFIG_NAME_MAX + 1];

        uint32_t state;                 /* XIRQ_GUEST_* */
        uint32_t domid;                 /* XEN_NO_DOMID when absent */
        int setup_error;                /* why the last server set-up failed */

        XenServer *xen;                 /* NULL unless SERVING */
        Ioreq ioreq;
        IoreqStats last_stats;          /* of the last server, reported until the next one */
        RateLimit server_log;           /* set-up and teardown follow a client's registrations */
        RateLimit domain_log;           /* the domain comes and goes with the guest's reboots */
        MatchTable *match;

        /* the listening socket */
        int listen_fd;
        bool listen_inherited;          /* from socket activation: not ours to unlink */
        dev_t listen_dev;
        ino_t listen_ino;
        ev_io listen_io;
        ev_timer accept_pause;          /* EMFILE/ENFILE: accept again later */

        Client *clients;                /* live connections */
        unsigned n_clients;             /* counted against max_connections */
        unsigned n_refusing;            /* refused, waiting to be told why */

        Guest *next, *prev;
};

/*
 * Create the guest and its listening socket: inherited_fd >= 0 is a socket
 * passed by the service manager for the configured path, else the socket is
 * created (a stale socket at that path is replaced).
 */
int guest_new(Guest **ret, Manager *m, const GuestConfig *config, int inherited_fd);
/* Close every connection, tear the server down, close (and unlink) the socket. */
Guest *guest_free(Guest *g);

/* The domain of this guest appeared (domid) or went away (XEN_NO_DOMID). */
void guest_set_domid(Guest *g, uint32_t domid);

/* Use a new config whose socket settings are unchanged (limits, allowed users). */
void guest_update_config(Guest *g, const GuestConfig *config);

/*
 * Registrations, from client.c.  key is valid (proto checked it), fd an
 * eventfd now owned by the registration on success.
 * Errors: -ESRCH (guest not running), -ENOSPC (guest limit), -EEXIST
 * (collision), or the error of the server set-up or range mapping.
 */
int guest_assign(Guest *g, Client *c, const MatchKey *key, int fd, Registration **ret);
/* -ENOENT if the key is not registered by c. */
int guest_deassign(Guest *g, Client *c, const MatchKey *key);
/* Remove one registration of c (disconnect path). */
void guest_remove_registration(Guest *g, Registration *reg);

unsigned guest_registrations(const Guest *g);
IoreqStats guest_stats(const Guest *g);

/* Drop every connection (guest gone, removed or reconfigured). */
void guest_disconnect_all(Guest *g);

#endif
