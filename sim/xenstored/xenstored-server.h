/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-xenstored: connections, the xenstore wire protocol and watches.
 *
 * A Server owns the live Store, the listening sockets and every client
 * connection.  Clients speak the protocol of <xen/io/xs_wire.h> over a Unix
 * stream socket; all of them count as dom0 (privileged), like the clients
 * of xenstored's socket.
 */
#ifndef XENSIM_XENSTORED_SERVER_H
#define XENSIM_XENSTORED_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>

typedef struct ServerLimits {
        size_t max_connections;         /* further clients are closed at accept */
        size_t max_watches;             /* per connection; beyond: E2BIG */
        size_t max_transactions;        /* open per connection; beyond: ENOSPC */
        size_t max_nodes;               /* in the store; beyond: ENOSPC */
        size_t max_pending_bytes;       /* unsent output per connection; beyond: disconnect */
} ServerLimits;

#define SERVER_LIMITS_DEFAULT { \
        .max_connections = 128, \
        .max_watches = 128, \
        .max_transactions = 10, \
        .max_nodes = 65536, \
        .max_pending_bytes = 1024 * 1024, \
}

typedef struct Server Server;

int server_new(Server **ret, struct ev_loop *loop, const ServerLimits *limits, bool verbose);
Server *server_free(Server *srv);

/* Takes ownership of a listening socket; read_only: modifying requests get EROFS. */
int server_add_listener(Server *srv, int fd, bool read_only);

#endif
