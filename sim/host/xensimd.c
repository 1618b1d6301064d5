/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensimd - the simulated Xen 4.17 host.
 *
 * Setup order: arguments → the run directory → host state (shm) → xenstored child → xenstore
 * connection and dom0's entries → DIR/host.sock → ready → event loop → reverse teardown.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <xenstore.h>

#include "host.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* xenstored's node limit: XS_MAX_DOMS domains of up to 128 vCPUs, about 400 nodes each. */
#define XENSTORE_MAX_NODES "524288"
_Static_assert(XS_MAX_DOMS * 400 <= 524288, "XENSTORE_MAX_NODES");

struct daemon;

struct conn {
        ev_io io;
        int fd;
        struct daemon *d;
        struct host_client hc;
        struct conn *prev, *next;
};

struct daemon {
        struct ev_loop *loop;
        struct host *host;
        int lfd;
        ev_io accept_io;
        ev_timer accept_pause;
        ev_timer host_timer;
        ev_signal sigterm, sigint;
        ev_child child;
        struct conn *conns;
        pid_t xs_pid;
        struct xs_handle *xs;
        bool verbose;
        bool settling;                  /* inside settle() */
};

static void conn_free(struct conn *c) {
        struct daemon *d = c->d;
        ev_io_stop(d->loop, &c->io);
        host_client_release(d->host, &c->hc);
        close(c->fd);
        if (c->prev)
                c->prev->next = c->next;
        else
                d->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        free(c);
}

/* Send one answer (with fd unless -1); a client that cannot take it is dropped (-1). */
static int conn_send(struct conn *c, struct xs_rep *rep, int fd) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } octl;
        struct iovec oiov = { .iov_base = rep, .iov_len = sizeof(*rep) };
        struct msghdr omh = { .msg_iov = &oiov, .msg_iovlen = 1 };
        if (fd >= 0) {
                memset(&octl, 0, sizeof(octl));
                omh.msg_control = octl.buf;
                omh.msg_controllen = sizeof(octl.buf);
                struct cmsghdr *h = CMSG_FIRSTHDR(&omh);
                h->cmsg_level = SOL_SOCKET;
                h->cmsg_type = SCM_RIGHTS;
                h->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(h), &fd, sizeof(int));
                rep->nfds = 1;
        }
        if (sendmsg(c->fd, &omh, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(*rep)) {
                conn_free(c);
                return -1;
        }
        return 0;
}

/* The host's next timed event (a powered-off domain's destruction), or none. */
static void timer_arm(struct daemon *d) {
        uint64_t due = host_next_timer(d->host);
        struct timespec ts;
        double after = 0.;

        ev_timer_stop(d->loop, &d->host_timer);
        if (!due)
                return;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        if (due > t)
                after = (double)(due - t) / 1e9;
        ev_timer_set(&d->host_timer, after, 0.);
        ev_timer_start(d->loop, &d->host_timer);
}

/* A deferred answer is due: send it and read the client's requests again. */
static void deferred_answer(struct host_client *hc, const struct xs_rep *rep, void *ud) {
        struct conn *c = container_of(hc, struct conn, hc);
        struct xs_rep r = *rep;
        (void)ud;
        ev_io_start(c->d->loop, &c->io);
        (void)conn_send(c, &r, -1);
}

static void host_timer_cb(struct ev_loop *loop, ev_timer *w, int revents) {
        struct daemon *d = container_of(w, struct daemon, host_timer);
        host_run_timers(d->host, deferred_answer, d);
        timer_arm(d);
        (void)loop;
        (void)revents;
}

static void settle(struct daemon *d, struct conn *asking);

/*
 * Read and serve one packet of c. Returns 1 when one was served, 0 when none was queued, -1
 * when c was freed (it hung up, sent something malformed, or could not take its answer).
 */
static int conn_serve(struct conn *c) {
        struct daemon *d = c->d;
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 8)];
        } ctl;
        union {
                struct xs_req req;
                char raw[sizeof(struct xs_req) + 1];
        } in;
        struct iovec iov = { .iov_base = in.raw, .iov_len = sizeof(in.raw) };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl.buf) };
        struct xs_rep rep;
        struct ucred cred;
        bool bad = false, have_cred = false;
        ssize_t n;
        int fd;

        n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n < 0) {
                /* e.g. ECONNRESET from a killed peer; the control buffer is not valid. */
                conn_free(c);
                return -1;
        }
        /*
         * The sender's credentials (SO_PASSCRED) are expected, once. Nobody sends fds to the
         * host: close any that came, and drop the client.
         */
        for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
                if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_CREDENTIALS &&
                    h->cmsg_len == CMSG_LEN(sizeof(cred)) && !have_cred) {
                        memcpy(&cred, CMSG_DATA(h), sizeof(cred));
                        have_cred = true;
                        continue;
                }
                if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
                        size_t cnt = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        for (size_t i = 0; i < cnt; i++) {
                                memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(int));
                                close(fd);
                        }
                }
                bad = true;
        }
        if (n <= 0 || bad || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
            (size_t)n != sizeof(struct xs_req) || in.req.magic != XS_PROTO_MAGIC ||
            in.req.version != XS_PROTO_VERSION || (in.req.flags & ~XS_REQ_ONEWAY) ||
            ((in.req.flags & XS_REQ_ONEWAY) && !xs_op_oneway(in.req.op))) {
                if (n > 0 && d->verbose)
                        fprintf(stderr, "<7>xensimd: dropping a client after a malformed "
                                        "request (%zd bytes)\n", n);
                conn_free(c);
                return -1;
        }
        if (xs_op_settles(in.req.op))
                settle(d, c);
        host_dispatch(d->host, &c->hc, have_cred && cred.pid > 0 ? (uint32_t)cred.pid
                                                                 : c->hc.pid,
                      &in.req, &rep, &fd);
        if (in.req.flags & XS_REQ_ONEWAY) {
                /* Its sender took it as done: a refusal means it no longer knows its handle. */
                if (rep.err) {
                        if (d->verbose)
                                fprintf(stderr, "<7>xensimd: dropping a client whose one-way "
                                                "request %u was refused: %s\n",
                                        (unsigned)in.req.op, strerror(rep.err));
                        conn_free(c);
                        return -1;
                }
                return 1;
        }
        if (c->hc.deferred) {
                /* One request at a time: the next is read once this one is answered. */
                ev_io_stop(d->loop, &c->io);
                timer_arm(d);
                return 1;
        }
        return conn_send(c, &rep, fd) < 0 ? -1 : 1;
}

static void conn_cb(struct ev_loop *loop, ev_io *w, int revents) {
        (void)conn_serve(container_of(w, struct conn, io));
        (void)loop;
        (void)revents;
}

/* Whether settle() serves c's next packet: anything queued but a request that settles too. */
static bool conn_settle_next(struct conn *c) {
        struct xs_req req;
        ssize_t n = recv(c->fd, &req, sizeof(req), MSG_PEEK | MSG_DONTWAIT);

        if (n < 0)
                return errno != EAGAIN && errno != EINTR;       /* served: it is dropped */
        return (size_t)n < sizeof(req) || !xs_op_settles(req.op);
}

/*
 * Accept one connection. Returns false when none was waiting (or accepting is paused, or
 * failed: out of file descriptors pauses it for a while).
 */
static bool accept_one(struct daemon *d) {
        struct ucred cred;
        socklen_t len = sizeof(cred);
        struct conn *c;
        int fd, one = 1;

        if (ev_is_active(&d->accept_pause))
                return false;
        fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE) {
                        fprintf(stderr, "<4>xensimd: out of file descriptors, pausing accept\n");
                        ev_io_stop(d->loop, &d->accept_io);
                        ev_timer_set(&d->accept_pause, 0.2, 0.);
                        ev_timer_start(d->loop, &d->accept_pause);
                }
                return false;
        }
        /* Who connected, and each request's sender (SCM_CREDENTIALS) from here on. */
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred) ||
            setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
                close(fd);
                return true;            /* that one is gone; others may wait */
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                close(fd);
                return false;
        }
        c->fd = fd;
        c->d = d;
        host_client_init(d->host, &c->hc, fd, cred.pid > 0 ? (uint32_t)cred.pid : 0);
        c->next = d->conns;
        if (d->conns)
                d->conns->prev = c;
        d->conns = c;
        ev_io_init(&c->io, conn_cb, fd, EV_READ);
        ev_io_start(d->loop, &c->io);
        return true;
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents) {
        (void)accept_one(container_of(w, struct daemon, accept_io));
        (void)loop;
        (void)revents;
}

/*
 * Before an answer that reports what clients hold (xs_op_settles, xensim-shm.h): accept every
 * connection waiting, then serve every packet already queued on every connection but the
 * asker's, without waiting, so that each one-way request sent before the asker's request is
 * applied (a handle opened, or restricted, and never used since). A connection whose next
 * packet settles too is left there: its sender waits for that answer, settled in its turn.
 * A deferred connection is not read (as in the loop); host_dispatch then releases what the
 * connections whose peer hung up held.
 */
static void settle(struct daemon *d, struct conn *asking) {
        if (d->settling)
                return;
        d->settling = true;
        while (accept_one(d))
                ;
        for (struct conn *c = d->conns, *next; c; c = next) {
                next = c->next;
                if (c == asking)
                        continue;
                while (!c->hc.deferred && conn_settle_next(c) && conn_serve(c) == 1)
                        ;
        }
        d->settling = false;
}

static void accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents) {
        struct daemon *d = container_of(w, struct daemon, accept_pause);
        ev_io_start(loop, &d->accept_io);
        (void)revents;
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents) {
        ev_break(loop, EVBREAK_ALL);
        (void)w;
        (void)revents;
}

static void child_cb(struct ev_loop *loop, ev_child *w, int revents) {
        struct daemon *d = container_of(w, struct daemon, child);
        fprintf(stderr, "<3>xensimd: xenstored (pid %d) exited with status %d\n", w->rpid,
                w->rstatus);
        d->xs_pid = 0;
        ev_child_stop(loop, w);
        (void)revents;
}

static int unix_path(struct sockaddr_un *sa, const char *dir, const char *name) {
        int n;
        memset(sa, 0, sizeof(*sa));
        sa->sun_family = AF_UNIX;
        n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", dir, name);
        return n < 0 || (size_t)n >= sizeof(sa->sun_path) ? -ENAMETOOLONG : 0;
}

static int find_xenstored(char *buf, size_t len) {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n <= 0)
                return -errno;
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (!slash)
                return -ENOENT;
        *slash = 0;
        snprintf(buf, len, "%s/xensim-xenstored", self);
        if (access(buf, X_OK) == 0)
                return 0;
        /* A libtool build keeps the real binary in .libs/. */
        slash = strrchr(self, '/');
        if (slash && !strcmp(slash, "/.libs")) {
                *slash = 0;
                snprintf(buf, len, "%s/xensim-xenstored", self);
                if (access(buf, X_OK) == 0)
                        return 0;
        }
        return -ENOENT;
}

static int start_xenstored(struct daemon *d, const char *dir, const char *path) {
        struct sockaddr_un sa;
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        pid_t pid;
        int r;

        r = unix_path(&sa, dir, "xenstored.sock");
        if (r < 0)
                return r;
        unlink(sa.sun_path);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                /* Room for the nodes of every domain slot (dom0 has no quota on Xen). */
                execl(path, path, "--socket", sa.sun_path, "--max-nodes", XENSTORE_MAX_NODES,
                      (char *)NULL);
                fprintf(stderr, "<3>xensimd: cannot run %s: %m\n", path);
                _exit(127);
        }
        d->xs_pid = pid;
        ev_child_init(&d->child, child_cb, pid, 0);
        ev_child_start(d->loop, &d->child);
        /* Wait (bounded) until it accepts connections. */
        for (int i = 0; i < 500; i++) {
                int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return -errno;
                r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
                close(fd);
                if (r == 0)
                        return setenv("XENSTORED_PATH", sa.sun_path, 1) < 0 ? -errno : 0;
                if (waitpid(pid, NULL, WNOHANG) == pid) {
                        d->xs_pid = 0;
                        ev_child_stop(d->loop, &d->child);
                        return -ECHILD;
                }
                nanosleep(&ts, NULL);
        }
        return -ETIMEDOUT;
}

static void stop_xenstored(struct daemon *d) {
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        if (!d->xs_pid)
                return;
        ev_child_stop(d->loop, &d->child);
        kill(d->xs_pid, SIGTERM);
        for (int i = 0; i < 150; i++) {
                if (waitpid(d->xs_pid, NULL, WNOHANG) == d->xs_pid) {
                        d->xs_pid = 0;
                        return;
                }
                nanosleep(&ts, NULL);
        }
        kill(d->xs_pid, SIGKILL);
        waitpid(d->xs_pid, NULL, 0);
        d->xs_pid = 0;
}

static int listen_host(struct daemon *d, const char *dir) {
        struct sockaddr_un sa;
        int r = unix_path(&sa, dir, "host.sock");
        if (r < 0)
                return r;
        unlink(sa.sun_path);
        d->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (d->lfd < 0)
                return -errno;
        if (bind(d->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            chmod(sa.sun_path, 0600) < 0 || listen(d->lfd, 256) < 0)
                return -errno;
        return 0;
}

static void usage(FILE *f) {
        fputs("Usage: xensimd --dir DIR [--xenstored PATH | --no-xenstore] [--ready-fd N] [-v]\n"
              "Simulated Xen 4.17 host; clients find it with XENSIM_DIR=DIR.\n",
              f);
}

static void raise_nofile(void) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "dir", required_argument, NULL, 'd' },
                { "xenstored", required_argument, NULL, 'x' },
                { "no-xenstore", no_argument, NULL, 'n' },
                { "ready-fd", required_argument, NULL, 'r' },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct daemon d = { .lfd = -1 };
        const char *dir = NULL, *xsd = NULL;
        char xsd_buf[PATH_MAX + 32];
        bool no_xs = false;
        int ready_fd = -1, c, r, ret = EXIT_FAILURE;
        char sockpath[PATH_MAX + 16];

        while ((c = getopt_long(argc, argv, "d:x:nr:vh", opts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        dir = optarg;
                        break;
                case 'x':
                        xsd = optarg;
                        break;
                case 'n':
                        no_xs = true;
                        break;
                case 'r': {
                        char *end;
                        long v;
                        errno = 0;
                        v = strtol(optarg, &end, 10);
                        if (errno || *end || v < 0 || v > INT_MAX) {
                                fprintf(stderr, "xensimd: bad --ready-fd '%s'\n", optarg);
                                return 2;
                        }
                        ready_fd = (int)v;
                        break;
                }
                case 'v':
                        d.verbose = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (!dir || optind != argc) {
                usage(stderr);
                return 2;
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                fprintf(stderr, "xensimd: cannot create %s: %m\n", dir);
                return 1;
        }
        signal(SIGPIPE, SIG_IGN);
        raise_nofile();
        d.loop = ev_default_loop(EVFLAG_AUTO);
        if (!d.loop) {
                fprintf(stderr, "xensimd: cannot create the event loop\n");
                return 1;
        }
        r = host_new(&d.host, d.verbose);
        if (r < 0) {
                fprintf(stderr, "xensimd: cannot set up the host: %s\n", strerror(-r));
                goto out;
        }
        if (!no_xs) {
                if (!xsd) {
                        r = find_xenstored(xsd_buf, sizeof(xsd_buf));
                        if (r < 0) {
                                fprintf(stderr, "xensimd: xensim-xenstored not found next to "
                                                "xensimd (use --xenstored or --no-xenstore)\n");
                                goto out;
                        }
                        xsd = xsd_buf;
                }
                r = start_xenstored(&d, dir, xsd);
                if (r < 0) {
                        fprintf(stderr, "xensimd: cannot start %s: %s\n", xsd, strerror(-r));
                        goto out;
                }
                d.xs = xs_open(0);
                if (!d.xs) {
                        fprintf(stderr, "xensimd: cannot connect to xenstored: %m\n");
                        goto out;
                }
                host_set_xenstore(d.host, d.xs);
                r = host_xenstore_dom0(d.host);
                if (r < 0) {
                        fprintf(stderr, "xensimd: cannot write dom0's entries: %s\n",
                                strerror(-r));
                        goto out;
                }
        }
        r = listen_host(&d, dir);
        if (r < 0) {
                fprintf(stderr, "xensimd: cannot listen on %s/host.sock: %s\n", dir,
                        strerror(-r));
                goto out;
        }
        ev_io_init(&d.accept_io, accept_cb, d.lfd, EV_READ);
        ev_io_start(d.loop, &d.accept_io);
        ev_timer_init(&d.accept_pause, accept_pause_cb, 0.2, 0.);
        ev_timer_init(&d.host_timer, host_timer_cb, 0., 0.);
        ev_signal_init(&d.sigterm, signal_cb, SIGTERM);
        ev_signal_start(d.loop, &d.sigterm);
        ev_signal_init(&d.sigint, signal_cb, SIGINT);
        ev_signal_start(d.loop, &d.sigint);

        printf("xensimd: ready\n");
        fflush(stdout);
        if (ready_fd >= 0) {
                ssize_t n = write(ready_fd, "READY\n", 6);
                (void)n;
                close(ready_fd);
        }
        ev_run(d.loop, 0);
        ret = EXIT_SUCCESS;

out:
        while (d.conns)
                conn_free(d.conns);
        if (d.lfd >= 0) {
                close(d.lfd);
                snprintf(sockpath, sizeof(sockpath), "%s/host.sock", dir);
                unlink(sockpath);
        }
        if (d.xs)
                xs_close(d.xs);
        if (d.loop)
                stop_xenstored(&d);
        host_free(d.host);
        if (d.loop)
                ev_loop_destroy(d.loop);
        return ret;
}
