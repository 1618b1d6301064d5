/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-client.h - the client side of xensimd's control socket, shared by the drop-in
 * libraries and the guest driver (linked into each, never exported).
 */
#ifndef XENSIM_CLIENT_H
#define XENSIM_CLIENT_H

#include <stdint.h>

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
/* Map the host's shm through connection fd (once per process; later calls return it). */
int xsc_shm(int fd, void **ret);
/* The shm memfd, after a successful xsc_shm(); -1 before. */
int xsc_shm_fd(void);

#endif
