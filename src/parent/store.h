/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What outlives the parent: the service manager's file descriptor store
 * (FDSTORE=1, FDNAME=, FDSTOREREMOVE=1: listening sockets, client
 * connections, eventfds, each guest's counters and mapped ranges) and,
 * beside them, a memfd with what the descriptors mean: guests (domid, ioreq
 * server), clients, registrations.  A new parent (after kill -9, or a
 * restart) gets them all back through LISTEN_FDS/LISTEN_FDNAMES and takes
 * every server over as a restarted worker does.
 *
 * The memfd is an array of fixed-size records updated in place: each
 * change is a few stores, no system call.  A record becomes valid by the
 * store of its kind, last, and stops being so by the store of 0, first; a
 * parent killed between any two instructions leaves every record whole or
 * free.  A descriptor goes into the store before its record is written and
 * leaves it after the record is freed, so a record never names a
 * descriptor that is not there; a stored descriptor no record names is
 * closed at the next start.  Descriptor names are "xirq.<kind>.<record>".
 *
 * Outside a service manager (no NOTIFY_SOCKET) the records are kept all the
 * same and nothing is stored.  What is read back is checked like any input:
 * a record that does not make sense is dropped.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "match.h"
#include "proto.h"

#define STORE_NONE              UINT32_MAX
#define STORE_NAME_MAX          64u

enum {
        STORE_FREE      = 0,
        STORE_GUEST     = 1,
        STORE_CLIENT    = 2,
        STORE_REG       = 3,
        STORE_IRQFD     = 4,
        STORE_CLAIM     = 5,
};

typedef struct StoreGuest {
        char name[STORE_NAME_MAX + 1];
        uint32_t domid;
        uint32_t server_id;
        bool stats;                     /* its counters' memfd is stored (xirq.s.N) */
        bool listener;                  /* its listening socket is stored and ours to unlink (xirq.l.N) */
} StoreGuest;

typedef struct StoreClient {
        uint32_t guest;                 /* record */
        uint32_t uid, gid, pid;
        bool hello_done;
        uint16_t version;               /* negotiated (hello_done) */
} StoreClient;

typedef struct StoreReg {
        uint32_t client;                /* record */
        uint32_t eventfd;               /* its eventfd's id (xirq.e.ID), shared by registrations of one eventfd */
        MatchKey key;
} StoreReg;

/* An irqfd: its eventfds are stored as xirq.t.N (trigger) and xirq.r.N (resample, LEVEL). */
typedef struct StoreIrqfd {
        uint32_t client;                /* record */
        uint32_t id;                    /* the guest's */
        ProtoIrqfd spec;                /* as the client gave it (spec.id the client's) */
} StoreIrqfd;

/* A claim: the ring as xirq.g.N, the eventfd the worker signals as xirq.w.N, the other as xirq.a.N. */
typedef struct StoreClaim {
        uint32_t client;
        uint32_t id;                    /* the guest's */
        ProtoClaim claim;               /* claim.id the client's, deadline_ms resolved */
} StoreClaim;

typedef struct Store Store;

/*
 * Open the store: take the memfd passed back (fds/names from the service
 * manager) or make a new one.  *ret_restored tells whether there is state to
 * restore.  Descriptors are looked up with store_take_fd().
 */
int store_open(Store **ret, const int *fds, char **names, size_t n, bool *ret_restored);
Store *store_free(Store *s);

/* Whether descriptors are stored (a service manager listens). */
bool store_enabled(const Store *s);

/* Records: 0..store_records()-1; kind STORE_FREE when unused.  The getters fail on another kind. */
uint32_t store_records(const Store *s);
uint32_t store_kind(const Store *s, uint32_t rec);
int store_get_guest(const Store *s, uint32_t rec, StoreGuest *ret);
int store_get_client(const Store *s, uint32_t rec, StoreClient *ret);
int store_get_reg(const Store *s, uint32_t rec, StoreReg *ret);
/* Checked as the protocol checks a client's request. */
int store_get_irqfd(const Store *s, uint32_t rec, StoreIrqfd *ret);
int store_get_claim(const Store *s, uint32_t rec, StoreClaim *ret);

/*
 * New records, their descriptors first: a descriptor goes to the service
 * manager, then the record that names it is committed.  STORE_NONE when the
 * store is full or cannot grow: the thing is then served all the same, only
 * not kept across a restart.  guest: stats_fd its counters' memfd,
 * listen_fd its socket if ours to unlink (else -1).
 */
uint32_t store_add_guest(Store *s, const StoreGuest *g, int stats_fd, int listen_fd);
uint32_t store_add_client(Store *s, const StoreClient *c, int fd);
/* fds: trigger (and resample in LEVEL mode); the claim's three */
uint32_t store_add_irqfd(Store *s, const StoreIrqfd *f, const int *fds, unsigned nfds);
uint32_t store_add_claim(Store *s, const StoreClaim *c, const int fds[3]);
uint32_t store_add_reg(Store *s, const StoreReg *r);
void store_set_guest_server(Store *s, uint32_t rec, uint32_t domid, uint32_t server_id);
void store_set_client_hello(Store *s, uint32_t rec, uint16_t version);
/* The record goes first, then what it named (a client's connection, a guest's memfd and socket). */
void store_remove(Store *s, uint32_t rec);

/*
 * Eventfds: one descriptor per eventfd however many registrations use it
 * (the service manager keeps one copy of a file description, whatever its
 * names).  store_eventfd_add takes fd and returns the descriptor to use (fd,
 * or the one kept for the same eventfd: fd is then closed) and its id;
 * store_eventfd_unref drops one user (the descriptor is closed and forgotten
 * with the last).  -errno on failure (fd closed).
 */
int store_eventfd_add(Store *s, int fd, uint32_t *ret_id);
void store_eventfd_unref(Store *s, uint32_t id);
/* At a restart: the descriptor passed back for id (one more user), or -1. */
int store_eventfd_restore(Store *s, uint32_t id);

/*
 * The descriptor of a record passed back at start, or -1; once.  Kinds: 's'
 * and 'l' of a guest, 'c' of a client, 't' and 'r' of an irqfd, 'g', 'w'
 * and 'a' of a claim.
 */
int store_take_fd(Store *s, char kind, uint32_t rec);

/* Close and forget, in the service manager too, every passed descriptor no one took. */
void store_release_untaken(Store *s);

/*
 * From now on nothing changes: a handover (the next parent restores what is
 * there) or a clean stop after store_clear (everything forgotten).
 */
void store_freeze(Store *s);
bool store_frozen(const Store *s);
void store_clear(Store *s);
