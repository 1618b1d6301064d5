/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One connection on a guest's socket: requests in (one SOCK_SEQPACKET packet
 * each, at most one fd), one reply out per request, in order, never
 * blocking.  HELLO is answered here; QUERY, ASSIGN and DEASSIGN go to the
 * connection's owner (its guest) through ClientOps.  An ASSIGN or DEASSIGN
 * that the owner answers later (it needs the guest's worker) holds the
 * connection: nothing more is read from it until client_reply().
 *
 * A connection refused at accept (peer not allowed, too many connections)
 * gets its reason as the error of the reply to its first request and is
 * then closed.
 */
#ifndef XENIOREQD_CLIENT_H
#define XENIOREQD_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <ev.h>

#include "proto.h"

typedef struct Client Client;

typedef struct ClientOps {
        /* HELLO: the guest's domid (PROTO_DOMID_NONE) and this connection's registration limit */
        void (*hello)(Client *c, void *owner, uint32_t *ret_domid, uint32_t *ret_max_registrations);
        void (*query)(Client *c, void *owner, ProtoQueryInfo *ret);
        /*
         * ASSIGN, DEASSIGN, IRQFD, IRQFD_DEASSIGN, CLAIM, UNCLAIM (req->op),
         * with the nfds descriptors it came with (checked eventfds): set one
         * to -1 when taking it.  Returns the error to answer now (0 or
         * -errno), or 1 when the owner answers later with client_reply()
         * (or client_reply_fds() for a CLAIM).
         */
        int (*request)(Client *c, void *owner, const ProtoRequest *req, int *fds, unsigned nfds);
        /* The connection is closing: the owner drops everything it registered. */
        void (*gone)(Client *c, void *owner);
        /* It can be freed now (outside any callback that may still touch it). */
        void (*dead)(Client *c, void *owner);
} ClientOps;

struct Client {
        struct ev_loop *loop;
        const ClientOps *ops;
        void *owner;
        int fd;
        ev_io io;
        ev_timer refuse_timer;          /* a refused peer that says nothing is closed after a while */
        ev_prepare reaper;              /* frees it once disconnected */
        uid_t uid;
        gid_t gid;
        pid_t pid;
        int refuse_error;               /* > 0: refused with this errno */
        bool hello_done;
        uint16_t version;               /* negotiated by HELLO */
        bool dead;                      /* disconnected, waiting to be freed */
        bool waiting;                   /* a reply is owed: reading stops until it is sent */
        uint16_t wait_type;             /* the request it is owed for */
        uint32_t wait_seq;

        /* for the owner */
        unsigned n_registrations;
        struct Reg *registrations;
        unsigned n_irqfds, n_claims;
        struct ParentIrqfd *irqfds;
        struct ParentClaim *claims;
        void *pending;                  /* what carries the reply owed */
        uint32_t record;                /* its record in the owner's store */
        Client *next, *prev;
};

/* Takes fd (a connected, non-blocking, close-on-exec socket); closes it on failure. */
int client_new(Client **ret, struct ev_loop *loop, int fd, uid_t uid, gid_t gid, pid_t pid, int refuse_error,
               const ClientOps *ops, void *owner);

/* The reply owed (client_reply after a request answered 1): error 0 or -errno.  Reading resumes. */
void client_reply(Client *c, int error);
/* The same with descriptors that a successful reply carries (sent, not taken). */
void client_reply_fds(Client *c, int error, const int *fds, unsigned nfds);

/*
 * Close the connection: ops->gone (its registrations go), then ops->dead
 * from outside the current callback chain.  Idempotent.
 */
void client_disconnect(Client *c);

Client *client_free(Client *c);

#endif
