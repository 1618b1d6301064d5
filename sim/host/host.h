/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * host.h - the state of the simulated Xen host inside xensimd: domains, ioreq servers, event
 * channels, ioreq pages, evtchn handles, and the control operations on them.
 */
#ifndef XENSIM_HOST_H
#define XENSIM_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "xensim-shm.h"

struct host;
struct xs_handle;

/* What the host remembers about one client connection (one library handle, or a guest). */
struct host_client {
        int fd;                         /* its socket (to notice a peer that already died) */
        uint64_t id;                    /* from 1, never reused: the handle id of XS_OP_INTRO_* */
        uint32_t pid;                   /* the process that connected (SO_PEERCRED) */
        uint32_t last_pid;              /* the sender of its latest request, 0 = none yet */
        uint8_t kind;                   /* XS_CLIENT_* */
        bool gone;                      /* its peer hung up: holds nothing, not reported */
        bool restricted;                /* xendevicemodel/xenforeignmemory/xenevtchn restrict */
        uint32_t rdomid;
        int evt;                        /* evtchn handle index, -1 if none */
        struct host_map *maps;          /* foreignmemory mappings held */
        unsigned nr_maps;
        uint32_t map_calls;             /* map_resource calls that succeeded (saturating) */
        bool deferred;                  /* its answer comes from host_run_timers() */
        struct host_client *prev, *next;        /* the host's clients, in id order */
};

int host_new(struct host **ret, bool verbose);
struct host *host_free(struct host *h);
/* The shm memfd (owned by the host). */
int host_shm_fd(struct host *h);
/* Give the host a xenstore connection (NULL: no xenstore). Not owned. */
void host_set_xenstore(struct host *h, struct xs_handle *xs);
/* Write dom0's entries. */
int host_xenstore_dom0(struct host *h);

/* A new client on socket fd, connected by process pid (SO_PEERCRED): the host knows it. */
void host_client_init(struct host *h, struct host_client *c, int fd, uint32_t pid);
/* Release everything the client holds (its evtchn handle and ports, its mappings); forget it. */
void host_client_release(struct host *h, struct host_client *c);

/*
 * Serve one request that process pid sent (its SCM_CREDENTIALS). rep is filled (err = 0 or a
 * positive errno). When the answer carries a file descriptor, *ret_fd is set to it (owned by
 * the host; the caller sends it, never closes it); otherwise it is -1. When c->deferred is set
 * afterwards, the answer comes later (a poweroff answers once the domain is destroyed): the
 * caller sends nothing now and reads no further request from that client until
 * host_run_timers() hands the answer over.
 */
void host_dispatch(struct host *h, struct host_client *c, uint32_t pid, const struct xs_req *req,
                   struct xs_rep *rep, int *ret_fd);

/* When the next timed event is due (CLOCK_MONOTONIC, ns), 0 if none. */
uint64_t host_next_timer(struct host *h);
/*
 * Run the timed events that are due (a powered-off domain's destruction); answer(c, rep, ud)
 * is called for each deferred answer whose client is still there (c->deferred is cleared).
 */
void host_run_timers(struct host *h,
                     void (*answer)(struct host_client *c, const struct xs_rep *rep, void *ud),
                     void *ud);

#endif
