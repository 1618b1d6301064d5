/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-xenstored: a xenstore daemon for the simulated Xen host.
 *
 * Speaks the xenstore wire protocol on a Unix stream socket, so that
 * Debian's libxenstore.so.4 reaches it through XENSTORED_PATH.
 * Setup order: arguments -> store and server -> sockets -> pid file ->
 * ready line on stdout -> loop -> reverse teardown.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <ev.h>

#include "xenstored-log.h"
#include "xenstored-server.h"

typedef struct Options {
        const char *socket_path;
        const char *ro_socket_path;
        const char *pid_file;
        bool verbose;
        ServerLimits limits;
} Options;

static void usage(FILE *f) {
        fputs("Usage: xensim-xenstored --socket PATH [--ro-socket PATH] [--pid-file FILE] [-v]\n"
              "         [--max-connections N] [--max-watches N] [--max-transactions N]\n"
              "         [--max-nodes N] [--max-pending-bytes N]\n"
              "Simulated xenstored for xensim. Runs in the foreground; prints \"READY\" on stdout\n"
              "once the socket accepts clients; exits on SIGTERM or SIGINT.\n", f);
}

static int parse_size(const char *s, size_t min, size_t max, size_t *ret) {
        unsigned long long v;
        char *end;

        if (!s[0] || s[0] == '-')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE || *end || v < min || v > max)
                return -ERANGE;
        *ret = (size_t) v;
        return 0;
}

static int parse_args(int argc, char **argv, Options *o) {
        enum {
                OPT_RO_SOCKET = 256, OPT_PID_FILE, OPT_MAX_CONN, OPT_MAX_WATCHES, OPT_MAX_TX,
                OPT_MAX_NODES, OPT_MAX_PENDING,
        };
        static const struct option longopts[] = {
                { "socket", required_argument, NULL, 's' },
                { "ro-socket", required_argument, NULL, OPT_RO_SOCKET },
                { "pid-file", required_argument, NULL, OPT_PID_FILE },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "max-connections", required_argument, NULL, OPT_MAX_CONN },
                { "max-watches", required_argument, NULL, OPT_MAX_WATCHES },
                { "max-transactions", required_argument, NULL, OPT_MAX_TX },
                { "max-nodes", required_argument, NULL, OPT_MAX_NODES },
                { "max-pending-bytes", required_argument, NULL, OPT_MAX_PENDING },
                {}
        };
        int c, r = 0;

        while ((c = getopt_long(argc, argv, "s:vh", longopts, NULL)) != -1) {
                switch (c) {
                case 's':
                        o->socket_path = optarg;
                        break;
                case OPT_RO_SOCKET:
                        o->ro_socket_path = optarg;
                        break;
                case OPT_PID_FILE:
                        o->pid_file = optarg;
                        break;
                case 'v':
                        o->verbose = true;
                        break;
                case 'h':
                        usage(stdout);
                        exit(EXIT_SUCCESS);
                case OPT_MAX_CONN:
                        r = parse_size(optarg, 1, 65536, &o->limits.max_connections);
                        break;
                case OPT_MAX_WATCHES:
                        r = parse_size(optarg, 1, 1u << 20, &o->limits.max_watches);
                        break;
                case OPT_MAX_TX:
                        r = parse_size(optarg, 1, 1024, &o->limits.max_transactions);
                        break;
                case OPT_MAX_NODES:
                        r = parse_size(optarg, 16, 1u << 24, &o->limits.max_nodes);
                        break;
                case OPT_MAX_PENDING:
                        r = parse_size(optarg, 64 * 1024, 1u << 30, &o->limits.max_pending_bytes);
                        break;
                default:
                        usage(stderr);
                        return -EINVAL;
                }
                if (r < 0) {
                        log_error("Invalid value for option: %s", optarg);
                        return r;
                }
        }
        if (optind < argc || !o->socket_path) {
                usage(stderr);
                return -EINVAL;
        }
        return 0;
}

/* A listening socket at path, only for its owner.  A stale socket left there is replaced. */
static int listen_unix(const char *path, int *ret_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st;
        mode_t old_umask;
        int fd, r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (lstat(path, &st) == 0) {
                int probe;

                if (!S_ISSOCK(st.st_mode)) {
                        close(fd);
                        return -EEXIST;
                }
                probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (probe >= 0 && connect(probe, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
                        close(probe);
                        close(fd);
                        return -EADDRINUSE;
                }
                if (probe >= 0)
                        close(probe);
                unlink(path);
        }
        old_umask = umask(0077);
        r = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        umask(old_umask);
        if (r < 0 || listen(fd, SOMAXCONN) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

static int write_pid_file(const char *path) {
        char buf[32];
        int fd, n;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        n = snprintf(buf, sizeof(buf), "%ld\n", (long) getpid());
        if (write(fd, buf, (size_t) n) != n) {
                close(fd);
                return -EIO;
        }
        return close(fd) < 0 ? -errno : 0;
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents) {
        log_info("Received signal %d, exiting", w->signum);
        ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv) {
        Options o = { .limits = SERVER_LIMITS_DEFAULT };
        struct ev_loop *loop;
        Server *srv = NULL;
        ev_signal sigterm, sigint;
        int fd = -1, ro_fd = -1, r, ret = EXIT_FAILURE;
        bool pid_written = false;

        if (parse_args(argc, argv, &o) < 0)
                return EXIT_FAILURE;
        log_verbose = o.verbose;
        signal(SIGPIPE, SIG_IGN);

        loop = ev_default_loop(EVFLAG_AUTO);
        if (!loop) {
                log_error("Failed to create the event loop");
                return EXIT_FAILURE;
        }
        r = server_new(&srv, loop, &o.limits, o.verbose);
        if (r < 0) {
                errno = -r;
                log_error("Failed to create the store: %m");
                goto out;
        }

        r = listen_unix(o.socket_path, &fd);
        if (r < 0) {
                errno = -r;
                log_error("Failed to listen on %s: %m", o.socket_path);
                goto out;
        }
        r = server_add_listener(srv, fd, false);
        if (r < 0) {
                close(fd);
                goto out_unlink;
        }
        if (o.ro_socket_path) {
                r = listen_unix(o.ro_socket_path, &ro_fd);
                if (r < 0) {
                        errno = -r;
                        log_error("Failed to listen on %s: %m", o.ro_socket_path);
                        goto out_unlink;
                }
                r = server_add_listener(srv, ro_fd, true);
                if (r < 0) {
                        close(ro_fd);
                        goto out_unlink;
                }
        }
        if (o.pid_file) {
                r = write_pid_file(o.pid_file);
                if (r < 0) {
                        errno = -r;
                        log_error("Failed to write %s: %m", o.pid_file);
                        goto out_unlink;
                }
                pid_written = true;
        }

        ev_signal_init(&sigterm, on_signal, SIGTERM);
        ev_signal_start(loop, &sigterm);
        ev_signal_init(&sigint, on_signal, SIGINT);
        ev_signal_start(loop, &sigint);

        printf("READY socket=%s pid=%ld\n", o.socket_path, (long) getpid());
        fflush(stdout);
        log_debug("Listening on %s", o.socket_path);

        ev_run(loop, 0);

        ev_signal_stop(loop, &sigint);
        ev_signal_stop(loop, &sigterm);
        ret = EXIT_SUCCESS;
        if (pid_written)
                unlink(o.pid_file);
out_unlink:
        if (o.ro_socket_path && ro_fd >= 0)
                unlink(o.ro_socket_path);
        unlink(o.socket_path);
out:
        server_free(srv);
        ev_loop_destroy(loop);
        return ret;
}
