/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One configured guest, as the parent keeps it: its config, its domid while
 * it runs, its listening socket and client connections, the registrations
 * of those clients (the authoritative list: a worker that starts is given
 * all of them), and the worker that serves them.
 *
 * The worker: started by the first registration, told to tear its server
 * down when the last one goes, killed when the domain goes.  When it dies on
 * its own, a new one takes the same server over (no server is made twice or
 * leaked) and is given every registration again; requests that waited in
 * its slots are answered.  One that keeps dying is given up: a last worker
 * only answers what waits and destroys the server, the clients are closed
 * and the guest reported failed until its next registration.
 *
 * States reported (XIRQ_GUEST_*): ABSENT (not running), RUNNING (no server),
 * SERVING (a server: its worker serving, starting or being restarted),
 * FAILED (the last server set-up failed, or its worker was given up).
 */
#ifndef XENIOREQD_GUEST_H
#define XENIOREQD_GUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <ev.h>

#include "client.h"
#include "config.h"
#include "listener.h"
#include "log.h"
#include "match.h"
#include "proc.h"
#include "proto.h"
#include "stats.h"
#include "store.h"

#define GUEST_NO_DOMID  UINT32_MAX
#define GUEST_NO_SERVER UINT32_MAX

typedef struct Guest Guest;
typedef struct GuestOp GuestOp;

typedef struct GuestEvents {
        void (*changed)(Guest *g, void *userdata);      /* what STATUS= shows may have changed */
        void (*quiet)(Guest *g, void *userdata);        /* it has no worker any more (for a stop) */
        void *userdata;
} GuestEvents;

typedef enum GuestRun {
        GUEST_RUN_NONE,                 /* no worker */
        GUEST_RUN_STARTING,             /* a worker setting up (INIT ... START on its channel) */
        GUEST_RUN_SERVING,
        GUEST_RUN_STOPPING,             /* told to tear its server down */
        GUEST_RUN_WAITING,              /* died; another one starts when the backoff timer fires */
} GuestRun;

/* A registration, as the parent keeps it. */
typedef struct Reg {
        MatchKey key;
        int fd;                         /* the eventfd (the store's: it may be shared) */
        uint32_t eventfd;               /* its id in the store */
        uint32_t record;
        Client *owner;
        struct Reg *next, *prev;        /* the owner's list */
        GuestOp *op;                    /* its ASSIGN on the worker's channel, if one is there */
        Client *waiter;                 /* a client owed the answer to this registration's ASSIGN */
} Reg;

/* An irqfd, as the parent keeps it: what the next worker is given. */
typedef struct ParentIrqfd {
        uint32_t id;                    /* the guest's (the worker's), never 0 */
        ProtoIrqfd spec;                /* as the client sent it (spec.id is the client's) */
        int fds[2];                     /* trigger, resample (LEVEL); -1 if none */
        unsigned nfds;
        uint32_t record;                /* in the store */
        Client *owner;
        struct ParentIrqfd *next;       /* the owner's list */
        GuestOp *op;
        Client *waiter;
} ParentIrqfd;

/* A claim: its range, and the ring and eventfds that the worker and the client share. */
typedef struct ParentClaim {
        uint32_t id;                    /* the guest's, never 0 */
        ProtoClaim claim;               /* claim.id is the client's; deadline_ms resolved */
        int fds[3];                     /* the ring memfd, the eventfd the worker signals, the one it reads */
        uint32_t record;
        Client *owner;
        struct ParentClaim *next;
        GuestOp *op;
        Client *waiter;
} ParentClaim;

struct Guest {
        struct ev_loop *loop;
        const GuestEvents *events;
        const ProcConfig *procs;
        Store *store;
        uint32_t record;                /* its record in the store */
        const GuestConfig *config;      /* owned by the manager's current Config; NULL once retired */
        GuestLimits limits;             /* config's, kept when it goes */
        char name[CONFIG_NAME_MAX + 1];

        uint32_t domid;                 /* GUEST_NO_DOMID when absent */
        bool failed;                    /* the last set-up failed or the worker was given up */
        int setup_error;

        /* the worker and its server */
        GuestRun run;
        Proc *proc;
        uint32_t proc_domid;            /* the domain the worker serves */
        uint32_t server_id;             /* GUEST_NO_SERVER: none */
        unsigned nr_vcpus;
        bool init_answered;             /* the worker answered INIT */
        unsigned quick_deaths;          /* deaths in a row, each soon after its start */
        uint64_t serving_usec;          /* when the worker started serving */
        ev_timer restart_timer;
        GuestOp *start_waiters;         /* ASSIGN answers sent once START has succeeded */

        /* the counters, shared with the worker */
        int stats_fd;
        GuestStats *stats;

        MatchTable *match;              /* the registrations by key */
        unsigned n_registrations;
        unsigned n_irqfds, n_claims;
        uint32_t last_object_id;        /* of irqfds and claims */

        Listener listener;              /* the guest's socket */

        Client *clients;                /* live connections */
        unsigned n_clients;             /* counted against max_connections */
        unsigned n_refusing;            /* refused, waiting to be told why */

        RateLimit server_log;           /* set-up and teardown follow a client's registrations */
        RateLimit domain_log;           /* the domain comes and goes with the guest's reboots */
        RateLimit worker_log;           /* worker deaths */

        Guest *next, *prev;
};

/*
 * Create the guest and its listening socket: inherited_fd >= 0 is a socket
 * passed by the service manager for the configured path, else the socket is
 * created (a stale socket at that path is replaced).
 */
int guest_new(Guest **ret, struct ev_loop *loop, const GuestConfig *config, int inherited_fd,
              const ProcConfig *procs, const GuestEvents *events, Store *store);
/*
 * After a restart: the guest as its store record had it (domid, server,
 * counters, its own socket if passed back), then its clients and their
 * registrations, then guest_resume() once its domain is known:
 * a worker takes the server over.
 */
int guest_new_restored(Guest **ret, struct ev_loop *loop, const GuestConfig *config, int inherited_fd,
                       const ProcConfig *procs, const GuestEvents *events, Store *store, uint32_t record);
int guest_restore_client(Guest *g, uint32_t record, const StoreClient *sc, Client **ret);
int guest_restore_reg(Guest *g, Client *c, uint32_t record, const StoreReg *sr);
int guest_restore_irqfd(Guest *g, Client *c, uint32_t record, const StoreIrqfd *si);
int guest_restore_claim(Guest *g, Client *c, uint32_t record, const StoreClaim *sc);
void guest_resume(Guest *g);
/* Close every connection, kill the worker (its server stays), close (and unlink) the socket. */
Guest *guest_free(Guest *g);

/* The domain of this guest appeared (domid) or went away (GUEST_NO_DOMID). */
void guest_set_domid(Guest *g, uint32_t domid);

/* Use a new config whose socket settings are unchanged (limits, allowed users, polling). */
void guest_update_config(Guest *g, const GuestConfig *config);

/* For a stop: a worker tears its server down (answering what waits first); ->quiet when none is left. */
void guest_shutdown(Guest *g);
/* Removed from the configuration: socket closed and clients disconnected now, then a shutdown. */
void guest_retire(Guest *g);
/* Does it still have a worker? */
bool guest_busy(const Guest *g);
/* For a stop that took too long: kill the worker. */
void guest_kill(Guest *g);

/* XIRQ_GUEST_* */
uint32_t guest_state(const Guest *g);
unsigned guest_registrations(const Guest *g);
/* The counters since the current server was made (of the last one when there is none). */
IoreqStats guest_stats(const Guest *g);

/* Drop every connection (guest gone, removed or reconfigured). */
void guest_disconnect_all(Guest *g);

#endif
