/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
/*
 * xen-ioreqd: forwards virtio queue kicks (guest writes trapped by Xen as
 * ioreqs) to backends' eventfds.  main() is the set-up order, top to bottom;
 * teardown is its reverse.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <ev.h>

#include "config.h"
#include "log.h"
#include "manager.h"

static void usage(FILE *f) {
        fprintf(f,
                "Usage: xen-ioreqd [-c FILE] [-n] [-d] [-v] [-h] [-V]\n"
                "  -c FILE  global configuration file (default %s)\n"
                "  -n       check the configuration and exit\n"
                "  -d       log with <N> priority prefixes, as under systemd\n"
                "  -v       verbose: log debug messages\n"
                "  -h       this help\n"
                "  -V       print the version\n",
                CONFIG_DEFAULT_PATH);
}

static void raise_nofile_limit(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        log_debug_errno(errno, "Failed to raise the open files limit: %m");
        }
}

int main(int argc, char **argv) {
        const char *config_path = NULL;
        bool check_only = false, prefix = false, verbose = false;
        char err[512] = "", status[512];
        struct ev_loop *loop;
        Config *config = NULL;
        Manager *m = NULL;
        uid_t worker_uid;
        gid_t worker_gid;
        int opt, r, exit_status;

        /* 1. arguments */
        while ((opt = getopt(argc, argv, "c:ndvhV")) != -1)
                switch (opt) {
                case 'c': config_path = optarg; break;
                case 'n': check_only = true; break;
                case 'd': prefix = true; break;
                case 'v': verbose = true; break;
                case 'h': usage(stdout); return EXIT_SUCCESS;
                case 'V': printf("xen-ioreqd %s\n", XENIOREQD_VERSION); return EXIT_SUCCESS;
                default: usage(stderr); return 2;
                }
        if (optind != argc) {
                usage(stderr);
                return 2;
        }
        log_setup(prefix || getenv("JOURNAL_STREAM"), verbose ? LOG_DEBUG : LOG_INFO);

        /* 2. configuration */
        r = config_load(config_path, NULL, &config, err, sizeof err);
        if (r >= 0)
                r = config_worker_ids(config, &worker_uid, &worker_gid, err, sizeof err);
        if (r < 0) {
                log_error("Invalid configuration: %s", err[0] ? err : "unknown error");
                config_free(config);
                return EXIT_FAILURE;
        }
        if (check_only) {
                printf("Configuration OK: %zu guests\n", config->n_guests);
                config_free(config);
                return EXIT_SUCCESS;
        }
        log_set_max_level(verbose ? LOG_DEBUG : config->log_level);

        /* every write to a peer that went away is an error return, never a signal */
        signal(SIGPIPE, SIG_IGN);
        /* each serving guest holds its own Xen handles, clients and eventfds: use the hard limit */
        raise_nofile_limit();
        loop = ev_default_loop(EVFLAG_AUTO);
        if (!loop) {
                config_free(config);
                log_error("Failed to create the event loop");
                return EXIT_FAILURE;
        }

        /* 3. guests and their sockets, then xenstore for their domids */
        r = manager_new(&m, loop, config_path, config);
        if (r < 0) {
                config_free(config);
                log_error_errno(r, "Failed to start: %m");
                return EXIT_FAILURE;
        }
        m->verbose = verbose;
        r = manager_start(m, prefix || getenv("JOURNAL_STREAM"));
        if (r < 0)
                goto finish;

        /* 4. ready: config loaded, sockets listening */
        manager_status_string(m, status, sizeof status);
        notify_ready(&m->notify, status);
        log_info("Ready: %s", status);

        /* 5. serve until SIGTERM/SIGINT */
        ev_run(loop, 0);

finish:
        /* 6. in reverse (the workers have torn their servers down, or a handover keeps everything) */
        exit_status = r < 0 ? EXIT_FAILURE : m->exit_status;
        manager_free(m);
        ev_loop_destroy(loop);
        log_info("Stopped");
        return exit_status;
}
