/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-client.h - the client side of xensimd's control socket, shared by the drop-in
 * libraries and the guest driver (linked into each, never exported).
 */
#ifndef XENSIM_CLIENT_H
#define XENSIM_CLIENT_H

#include <stdint.h>
#include <sys/types.h>

#include "xensim-shm.h"

/* Connect to $XENSIM_DIR/host.sock (dir overrides the environment when not NULL). */
int xsc_connect(const char *dir, int *ret_fd);
/*
 * One request/answer exchange. req->magic, version and seq are filled in. On success returns
 * 0 and copies the answer (rep->err may be nonzero: the host's refusal); received fds (at most
 * nfds) go to fds[] (the rest, if any, are closed), rep->nfds tells how many. A transport
 * failure returns -ENOTCONN (or another -errno).
 */
int xsc_call(int fd, struct xs_req *req, struct xs_rep *rep, int *fds, unsigned nfds);
/* Convenience: call and turn rep.err into -err; fills ret_val (4 values) when not NULL. */
int xsc_op(int fd, uint16_t op, const uint64_t *a, unsigned na, uint64_t *ret_val);
/*
 * A request without an answer (XS_REQ_ONEWAY: only the ops of xs_op_oneway()). Returns 0 once
 * it is queued on the connection, or -ENOTCONN (another -errno) when the host is gone. xensimd
 * serves it before anything sent later on the connection, and before it answers what clients
 * hold (xs_op_settles); a refusal drops the connection.
 */
int xsc_post(int fd, uint16_t op, const uint64_t *a, unsigned na);
/*
 * How many fork()s this process took part in, as parent or child, since its first
 * xsc_connect(): a connection made when it was k is shared with another process once it no
 * longer is (the parent and the child then both hold it).
 */
unsigned xsc_forks(void);
/*
 * A host's shm as mapped in this process. Every handle connected to the same xensimd shares
 * one mapping: xsc_host_get() finds the host of connection fd (the peer's pid and the
 * socket's inode, no request) and takes a reference, or asks the host for its memfd (HELLO)
 * and maps it; xsc_host_put() drops the reference and unmaps at the last one. So a process
 * that closed everything on one host and connects to another (another XENSIM_DIR, or a
 * restarted xensimd) maps the new host's memory.
 */
struct xsc_host {
        void *shm;                      /* XS_SHM_SIZE bytes, MAP_SHARED */
        int shm_fd;                     /* the memfd: ioreq pages are mapped from it */
        /* private to xensim-client.c */
        unsigned refs;
        pid_t pid;
        dev_t dev;
        ino_t ino;
        struct xsc_host *next;
};
int xsc_host_get(int fd, struct xsc_host **ret);
void xsc_host_put(struct xsc_host *host);

#endif
