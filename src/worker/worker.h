/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One guest's worker: its ioreq server, registration table and hot path,
 * driven by the parent over the channel (wire.h).  Everything it receives
 * is checked; everything it is asked is answered with one REPLY.
 *
 * States: INIT expected → SETUP (server created or reattached, page mapped:
 * STALE and ASSIGN accepted) → SERVING (after START: bound, confined,
 * dispatching) → the worker ends (STOP, the channel closing, SIGTERM).  It
 * ends without destroying its server unless told to tear it down: the server
 * belongs to the domain, and the next worker takes it over.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include "loop.h"

typedef struct Worker Worker;

/* fd: the channel (a connected SOCK_SEQPACKET socket); sig_fd: loop_stop_signals()'s, taken in any case. */
int worker_new(Worker **ret, Loop *loop, int fd, int sig_fd);
Worker *worker_free(Worker *w);

/* The process's exit status once the loop has stopped. */
int worker_exit_status(const Worker *w);
