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
#include "control.h"
#include "guest.h"
#include "notify.h"
#include "proc.h"
#include "store.h"
#include "xenxs.h"

/* The exit status of a handover (SIGUSR2): the service manager starts the next one. */
#define MANAGER_EXIT_HANDOVER 75

typedef struct Manager {
        struct ev_loop *loop;
        Config *config;
        char *config_path;              /* NULL: the default path */
        bool verbose;                   /* -v: debug logging whatever the config says */
        Guest *guests;
        unsigned n_guests;
        Xenxs *xs;
        Store *store;                   /* what outlives this process */
        Control *control;               /* xen-ioreqctl's socket */
        int exit_status;
        Notify notify;
        ProcConfig procs;               /* how workers are started */
        char worker_path[4096];
        GuestEvents guest_events;
        ev_signal sig_hup, sig_term, sig_int, sig_usr2;
        ev_timer status_timer;          /* coalesces STATUS= updates */
        ev_timer status_refresh;        /* STATUS= counters, now and then */
        Guest *retiring;                /* removed from the configuration, tearing their servers down */
        ev_prepare retired;             /* frees the retiring guests that are done */
        bool reload_ready_owed;         /* READY=1 after a reload waits for the retiring guests */
        bool stopping;                  /* workers tear their servers down; the loop ends when they are done */
        ev_timer stop_timeout;          /* ... or when this fires: the rest are killed */
        /* sockets from the service manager (sd_listen_fds), matched to guests by path */
        int *listen_fds;
        char **listen_paths;
        bool *listen_used;
        size_t n_listen;
} Manager;

/* Takes config. */
int manager_new(Manager **ret, struct ev_loop *loop, const char *config_path, Config *config);
/* The worker binary, guests and their sockets, then xenstore: after this the daemon is ready. */
int manager_start(Manager *m, bool log_prefix);
Manager *manager_free(Manager *m);

/* Re-read the configuration (SIGHUP): all or nothing. */
int manager_reload(Manager *m);

/* Refresh STATUS= (guests, serving, registrations). */
void manager_update_status(Manager *m);
void manager_status_string(Manager *m, char *buf, size_t size);


#endif
