/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
/*
 * xen-ioreqd-worker: one guest's ioreq server, started by xen-ioreqd with
 * its channel as descriptor 3 (never run by hand).  It is told everything
 * over that channel: which domain, which server, which registrations; see
 * worker.h.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include "log.h"
#include "loop.h"
#include "wire.h"
#include "worker.h"

int main(int argc, char **argv) {
        bool prefix = false, verbose = false;
        Loop *loop;
        Worker *w = NULL;
        int opt, type = 0, r;
        socklen_t len = sizeof(type);
        /* signals as a descriptor, at once: none is lost or kills it before its loop runs */
        int sig_fd = loop_stop_signals();

        while ((opt = getopt(argc, argv, "dv")) != -1)
                switch (opt) {
                case 'd': prefix = true; break;
                case 'v': verbose = true; break;
                default:
                        fprintf(stderr, "Usage: xen-ioreqd-worker [-d] [-v]  (started by xen-ioreqd)\n");
                        return 2;
                }
        log_setup(prefix, verbose ? LOG_DEBUG : LOG_INFO);
        log_set_ident("xen-ioreqd-worker");
        /* what ps and top show until INIT names it after its domain (xirq-dN) */
        (void) prctl(PR_SET_NAME, "xirq-spare", 0, 0, 0);

        if (getsockopt(WIRE_FD, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET) {
                log_error("Descriptor %d is not the channel to xen-ioreqd: this program is started by xen-ioreqd",
                          WIRE_FD);
                return 2;
        }
        /* a write to a closed eventfd reader or channel is an error return, never a signal */
        signal(SIGPIPE, SIG_IGN);
        if (sig_fd < 0) {
                log_error_errno(sig_fd, "Failed to take signals as a descriptor: %m");
                return EXIT_FAILURE;
        }
        r = loop_new(&loop);
        if (r < 0) {
                log_error_errno(r, "Failed to create the event loop: %m");
                return EXIT_FAILURE;
        }
        r = worker_new(&w, loop, WIRE_FD, sig_fd);
        if (r < 0) {
                log_error_errno(r, "Failed to start: %m");
                return EXIT_FAILURE;
        }
        r = loop_run(loop);
        if (r < 0) {
                log_error_errno(r, "The event loop failed: %m");
                r = EXIT_FAILURE;
        } else
                r = worker_exit_status(w);
        worker_free(w);
        loop_free(loop);
        return r;
}
