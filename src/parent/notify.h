/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_notify(3) messages to the service manager: READY=1, STATUS=,
 * RELOADING=1, STOPPING=1, and WATCHDOG=1 every half WatchdogSec when the
 * unit sets it.  Without NOTIFY_SOCKET all of this does nothing.
 */
#ifndef XENIOREQD_NOTIFY_H
#define XENIOREQD_NOTIFY_H

#include <stdbool.h>
#include <ev.h>

typedef struct Notify {
        struct ev_loop *loop;
        ev_timer watchdog;
        bool watchdog_on;
        char status[512];               /* last STATUS= sent, to skip repeats */
} Notify;

/* Start the watchdog timer if the service manager asks for one. */
int notify_setup(Notify *n, struct ev_loop *loop);
void notify_done(Notify *n);

void notify_ready(Notify *n, const char *status);
void notify_reloading(Notify *n);
void notify_stopping(Notify *n);
/* STATUS=; sent only when it differs from the previous one */
void notify_status(Notify *n, const char *status);

/* Is the service manager stopping us in order to start us again (systemctl restart)? */
bool notify_restart_queued(void);

#endif
