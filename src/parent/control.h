/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket: xen-ioreqctl(8) reads the daemon's state and counters
 * through it (the protocol of shared/ctlproto.h).  Root only: the socket is
 * mode 0600 and every peer's SO_PEERCRED uid is checked at accept (a peer
 * that is not root gets EPERM as the answer to its first request, then is
 * closed).  At most max_connections at once; requests and replies are one
 * fixed-size packet each, nothing is queued.
 *
 * It also samples every guest's kicks once a second for kicks/s.
 */
#ifndef XENIOREQD_CONTROL_H
#define XENIOREQD_CONTROL_H

#include <ev.h>

struct Manager;
typedef struct Control Control;

/*
 * Listen at path (a stale socket there is replaced; inherited_fd >= 0: a
 * socket passed by the service manager for it).  Reads m's guests when asked.
 */
int control_new(Control **ret, struct ev_loop *loop, struct Manager *m, const char *path, unsigned max_connections,
                int inherited_fd);
/* A reload: the new limit applies to new connections. */
void control_set_max_connections(Control *c, unsigned max_connections);
Control *control_free(Control *c);

#endif
