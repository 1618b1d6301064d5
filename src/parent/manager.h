/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon as a whole: the loaded config, one Guest per configured guest,
 * the xenstore follower that gives guests their domids, signals (SIGHUP
 * reload, SIGTERM/SIGINT stop), sd_notify and the sockets passed by the
 * service manager.
 */
#ifndef XENIOREQD_MANAGER_H
#define XENIOREQD_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <ev.h>

#include "config.h"
#include "notify.h"
#include "xenxs.h"

typedef struct Guest Guest;
typedef struct Client Client;

typedef struct Manager {
        struct ev_loop *loop;
        Config *config;
        char *config_path;              /* NULL: the default path */
        bool verbose;                   /* -v: debug logging whatever the config says */
        Guest *guests;
        unsigned n_guests;
        Xenxs *xs;
        Notify notify;
        ev_signal sig_hup, sig_term, sig_int;
        ev_prepare reaper;              /* frees disconnected clients */
        ev_timer status_timer;          /* coalesces STATUS= updates */
        ev_timer status_refresh;        /* STATUS= counters, now and then */
        Client *dead;
        /* sockets from the service manager (sd_listen_fds), matched to guests by path */
        int *listen_fds;
        char **listen_paths;
        bool *listen_used;
        size_t n_listen;
} Manager;

/* Takes config. */
int manager_new(Manager **ret, struct ev_loop *loop, const char *config_path, Config *config);
/* Guests and their sockets, then xenstore: after this the daemon is ready. */
int manager_start(Manager *m);
Manager *manager_free(Manager *m);

/* Re-read the configuration (SIGHUP): all or nothing. */
int manager_reload(Manager *m);

/* Refresh STATUS= (guests, serving, registrations). */
void manager_update_status(Manager *m);
void manager_status_string(Manager *m, char *buf, size_t size);

/* A disconnected client, to be freed before the loop blocks again. */
void manager_queue_dead(Manager *m, Client *c);

#endif
