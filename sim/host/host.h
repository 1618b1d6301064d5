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
        bool restricted;                /* xendevicemodel/xenforeignmemory/xenevtchn restrict */
        uint32_t rdomid;
        int evt;                        /* evtchn handle index, -1 if none */
        struct host_map *maps;          /* foreignmemory mappings held */
        unsigned nr_maps;
        bool deferred;                  /* its answer comes from host_run_timers() */
};

int host_new(struct host **ret, bool verbose);
struct host *host_free(struct host *h);
/* The shm memfd (owned by the host). */
int host_shm_fd(struct host *h);
/* Give the host a xenstore connection (NULL: no xenstore). Not owned. */
void host_set_xenstore(struct host *h, struct xs_handle *xs);
/* Write dom0's entries. */
int host_xenstore_dom0(struct host *h);

void host_client_init(struct host_client *c, int fd);
/* Release everything the client holds: its evtchn handle and ports, its mappings. */
void host_client_release(struct host *h, struct host_client *c);

/*
 * Serve one request. rep is filled (err = 0 or a positive errno). When the answer carries a
 * file descriptor, *ret_fd is set to it (owned by the host; the caller sends it, never closes
 * it); otherwise it is -1. When c->deferred is set afterwards, the answer comes later (a
 * poweroff answers once the domain is destroyed): the caller sends nothing now and reads no
 * further request from that client until host_run_timers() hands the answer over.
 */
void host_dispatch(struct host *h, struct host_client *c, const struct xs_req *req,
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
