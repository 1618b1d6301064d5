/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include "fdio.h"
#include "log.h"
#include "proc.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

#ifndef PKGLIBEXECDIR
#define PKGLIBEXECDIR "/usr/libexec/xen-ioreqd"
#endif
#define PROC_WORKER_NAME        "xen-ioreqd-worker"
#define PROC_INFLIGHT_MAX       32u     /* requests on the channel at once; the rest wait here */
#define PROC_BURST              64u     /* messages read per wake-up */

typedef struct ProcMsg {
        uint8_t buf[WIRE_MSG_MAX];
        uint8_t len;
        int fds[WIRE_MAX_FDS];          /* our duplicates */
        uint8_t nfds;
        void *context;
} ProcMsg;

struct Proc {
        struct ev_loop *loop;
        const ProcOps *ops;
        void *userdata;
        void (*free_context)(void *context);    /* detached: what dropped contexts get */
        pid_t pid;
        int fd;
        ev_io io;
        int log_fd;                     /* the read end of the worker's stderr */
        ev_io log_io;
        ev_child child;
        /* a ring: [head, head + n_inflight) sent, then [.., + n_outbox) waiting to be sent */
        ProcMsg *ring;
        size_t cap, head, n_inflight, n_outbox;
        uint32_t next_seq;              /* seq of the next message sent */
        uint32_t reply_seq;             /* seq the oldest request in flight has */
        bool killed;                    /* SIGKILL sent: nothing more is sent to it */
        bool idle;                      /* a spare started as SCHED_IDLE */
        bool spare_due;                 /* a spare is started once this one has answered all it was sent */
};

/*
 * Spares: workers started ahead of need, exec'd and waiting for their INIT
 * (they have no domain yet: they have opened their Xen handles, unrestricted
 * and unused, and run nothing a guest wrote).  proc_spawn() hands out the
 * oldest, so that starting a guest's worker does not wait for its exec and
 * dynamic loading (milliseconds on a busy host), and new ones are started
 * from the event loop, one per loop iteration, once the worker handed out
 * has answered all it was sent (they do not compete with that worker's
 * start).  Four, so that guests attached one after another find one ready:
 * at 1000 guests attached back to back on two CPUs, two spares started 5 ms
 * after each hand-out left a quarter of the attaches to start a worker of
 * their own (bench P3.attach p99 12-14 ms); four started at once, 7-9 ms.
 * A spare that dies is replaced at the next proc_spawn() only.
 */
#define PROC_SPARES             4u
/*
 * A spare runs as SCHED_IDLE once exec'd: its dynamic loading, handle opens
 * and filter compile (about a millisecond of CPU) take no CPU from a worker or
 * from this process while they have work, and the attach that just handed out
 * the spare before it is not delayed by them.  It is set back to the main
 * process's policy when it is handed out, which needs CAP_SYS_NICE or an
 * RLIMIT_NICE that allows the main process's nice value (the unit's
 * LimitNICE=+0); without them (proc_config_open() looks) spares run at the
 * normal priority.
 */
#define PROC_SPARE_DELAY        0.      /* seconds after the worker handed out has answered all it was sent */

static struct {
        Proc *procs[PROC_SPARES];       /* oldest first */
        bool normal_priority;           /* a spare could not be set back from SCHED_IDLE */
        ProcConfig config[PROC_SPARES]; /* what each was started with */
        size_t n;
        const ProcConfig *source;       /* the configuration to start the next one with */
        struct ev_loop *loop;
        ev_timer start;
} proc_spare;

static void proc_spare_later(Proc *p);

static ProcMsg *proc_at(Proc *p, size_t i) {
        return &p->ring[(p->head + i) % p->cap];
}

static void proc_break(Proc *p, const char *why) {
        log_error("Worker %d: %s, killing it", (int) p->pid, why);
        ev_io_stop(p->loop, &p->io);
        p->killed = true;
        (void) kill(p->pid, SIGKILL);
}

static void proc_msg_close(ProcMsg *m) {
        for (unsigned i = 0; i < m->nfds; i++)
                close(m->fds[i]);
        m->nfds = 0;
}

/* Put waiting requests on the channel while fewer than PROC_INFLIGHT_MAX are open. */
static void proc_flush(Proc *p) {
        /* a worker being killed reads nothing more: what waits goes back to its owner when it has ended */
        if (p->killed)
                return;
        while (p->n_outbox > 0 && p->n_inflight < PROC_INFLIGHT_MAX) {
                ProcMsg *m = proc_at(p, p->n_inflight);
                int r = fdio_send(p->fd, m->buf, m->len, m->nfds > 0 ? m->fds : NULL, m->nfds);

                if (r < 0) {
                        /* the channel holds 32 small messages easily: a worker that does not read is stuck */
                        log_error_errno(r, "Worker %d: cannot send %s: %m", (int) p->pid,
                                        wire_type_name((uint16_t) (m->buf[0] | m->buf[1] << 8)));
                        proc_break(p, "its channel is blocked");
                        return;
                }
                proc_msg_close(m);
                p->n_outbox--;
                p->n_inflight++;
        }
}

int proc_send(Proc *p, const void *buf, size_t len, int fd, void *context) {
        return proc_send_fds(p, buf, len, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, context);
}

int proc_send_fds(Proc *p, const void *buf, size_t len, const int *fds, unsigned nfds, void *context) {
        ProcMsg *m;
        struct wire_hdr h;

        if (len < sizeof(h) || len > WIRE_MSG_MAX || nfds > WIRE_MAX_FDS)
                return -EINVAL;
        if (p->n_inflight + p->n_outbox == p->cap) {
                size_t cap = p->cap * 2;
                ProcMsg *ring = calloc(cap, sizeof(*ring));

                if (!ring)
                        return -ENOMEM;
                for (size_t i = 0; i < p->n_inflight + p->n_outbox; i++)
                        ring[i] = *proc_at(p, i);
                free(p->ring);
                p->ring = ring;
                p->cap = cap;
                p->head = 0;
        }
        m = proc_at(p, p->n_inflight + p->n_outbox);
        *m = (ProcMsg) { .len = (uint8_t) len, .context = context };
        for (unsigned i = 0; i < nfds; i++) {
                int d = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);

                if (d < 0) {
                        int r = -errno;

                        proc_msg_close(m);
                        return r;
                }
                m->fds[m->nfds++] = d;
        }
        /* the sequence number is ours: one per message, in sending order */
        memcpy(m->buf, buf, len);
        memcpy(&h, m->buf, sizeof(h));
        h.seq = htole32(p->next_seq++);
        memcpy(m->buf, &h, sizeof(h));
        p->n_outbox++;
        proc_flush(p);
        return 0;
}

static void proc_handle(Proc *p, const uint8_t *buf, size_t len, unsigned nfds) {
        WireMsg m;
        void *context;
        int r;

        r = wire_decode(buf, len, nfds, &m);
        if (r < 0) {
                proc_break(p, "it sent a malformed message");
                return;
        }
        if (m.type == WIRE_FAILED) {
                p->ops->failed(p, p->userdata, -m.value);
                return;
        }
        if (m.type == WIRE_EXPIRED) {
                p->ops->expired(p, p->userdata, (uint32_t) m.value);
                return;
        }
        if (m.type != WIRE_REPLY || p->n_inflight == 0 || m.seq != p->reply_seq) {
                proc_break(p, "it sent an unexpected message");
                return;
        }
        context = proc_at(p, 0)->context;
        p->head = (p->head + 1) % p->cap;
        p->n_inflight--;
        p->reply_seq++;
        p->ops->reply(p, p->userdata, context, &m);
        if (p->spare_due && p->n_inflight + p->n_outbox == 0)
                proc_spare_later(p);
}

/* Read what the worker sent, up to max messages; false once the channel is done (end of file, error, killed). */
static bool proc_read(Proc *p, unsigned max) {
        for (unsigned i = 0; i < max; i++) {
                uint8_t buf[WIRE_MSG_MAX];
                int fds[2];
                unsigned nfds = 0, flags = 0;
                ssize_t n = fdio_recv(p->fd, buf, sizeof(buf), fds, 2, &nfds, &flags);

                if (n == -EAGAIN)
                        return true;
                /*
                 * The worker closed the channel before reading all we sent: the
                 * error comes first, once, then what it sent before it ended.
                 */
                if (n == -ECONNRESET)
                        continue;
                for (unsigned k = 0; k < nfds; k++)
                        close(fds[k]);
                if (n < 0 || (n == 0 && nfds == 0)) {
                        /* the worker is ending; its exit is reported by the child watcher */
                        ev_io_stop(p->loop, &p->io);
                        return false;
                }
                if (flags != 0) {
                        proc_break(p, "it sent a malformed message");
                        return false;
                }
                proc_handle(p, buf, (size_t) n, nfds);
                if (!ev_is_active(&p->io))
                        return false;
        }
        return true;
}

static void proc_io_cb(struct ev_loop *loop, ev_io *w, int revents) {
        Proc *p = container_of(w, Proc, io);

        if (proc_read(p, PROC_BURST))
                proc_flush(p);
}

/*
 * The worker's log: its stderr is a pipe to here (a worker may not write
 * files: RLIMIT_FSIZE is 0), copied to the parent's stderr as it comes.
 * Each line is one write of the worker's, so lines of several workers do not
 * mix; the worker's end is non-blocking, so a full pipe costs it lines, not
 * time.
 */
static bool proc_log_copy(Proc *p) {
        char buf[8192];
        ssize_t n;

        do
                n = read(p->log_fd, buf, sizeof(buf));
        while (n < 0 && errno == EINTR);
        if (n > 0) {
                (void) !write(STDERR_FILENO, buf, (size_t) n);
                return true;
        }
        if (n == 0 || errno != EAGAIN)
                ev_io_stop(p->loop, &p->log_io);
        return false;
}

static void proc_log_cb(struct ev_loop *loop, ev_io *w, int revents) {
        Proc *p = container_of(w, Proc, log_io);

        (void) proc_log_copy(p);
}

static void proc_child_cb(struct ev_loop *loop, ev_child *w, int revents) {
        Proc *p = container_of(w, Proc, child);

        /* its last words first */
        while (ev_is_active(&p->log_io) && proc_log_copy(p))
                ;
        ev_io_stop(loop, &p->log_io);

        ev_child_stop(loop, &p->child);
        /* what it said before it ended counts: its last answers are still in the channel */
        if (ev_is_active(&p->io) && !p->free_context)
                (void) proc_read(p, UINT_MAX);
        ev_io_stop(loop, &p->io);
        /* what it never answered goes back to the owner, oldest first */
        while (p->n_inflight + p->n_outbox > 0) {
                ProcMsg *m = proc_at(p, 0);
                void *context = m->context;

                proc_msg_close(m);
                p->head = (p->head + 1) % p->cap;
                if (p->n_inflight > 0)
                        p->n_inflight--;
                else
                        p->n_outbox--;
                if (p->free_context)
                        p->free_context(context);
                else
                        p->ops->dropped(p, p->userdata, context);
        }
        if (p->spare_due)
                proc_spare_later(p);
        if (!p->free_context)
                p->ops->ended(p, p->userdata, w->rstatus);
        close(p->log_fd);
        close(p->fd);
        free(p->ring);
        free(p);
}

/*
 * A worker is started with clone(CLONE_VM | CLONE_VFORK | CLONE_FILES): until
 * its exec the child runs on a stack of its own in the main process's memory
 * and with its descriptor table, while the main process waits.  A fork()
 * copied both, and at 1000 guests (some 12000 descriptors: clients, their
 * eventfds, the workers' channels and logs) copying them and closing them
 * again in the child was most of the CPU a worker's start cost, taken from
 * the attaches running beside it.  Instead the child's first call,
 * close_range(CLOSE_RANGE_UNSHARE) from the slots' end, gives it a table of
 * its own with only what lies below: stdin, stdout, stderr, a few of the main
 * process's (closed before the exec) and the slots, low numbers above
 * WIRE_FD, which hold the four descriptors a worker starts from
 * (proc_config_open()).
 *
 * The child shares the main process's memory: it only reads it, makes only
 * async-signal-safe calls, and before it unblocks signals it sets every
 * handled one back to its default (the main process's handlers must not run
 * in it), as posix_spawn() does.  The main process waits for it some 0.1 ms
 * (the exec of a binary it holds open), or for as long as someone keeps the
 * child stopped on its way there: it shows as a child named xen-ioreqd, a
 * spare once exec'd as xirq-spare.
 */
#define PROC_CHILD_STACK        (256u * 1024u)  /* reserved; what it touches is a few pages */

typedef struct ProcChild {
        const ProcConfig *config;
        pid_t parent;
} ProcChild;

#if defined(__SANITIZE_ADDRESS__)
#define PROC_NO_ASAN __attribute__((no_sanitize_address))
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PROC_NO_ASAN __attribute__((no_sanitize_address))
#endif
#endif
#ifndef PROC_NO_ASAN
#define PROC_NO_ASAN
#endif

/*
 * In the child, until its exec: only async-signal-safe calls, nothing written
 * but its own stack and errno (the main process's, which it does not read
 * after a clone that succeeded).
 */
PROC_NO_ASAN static int proc_child(void *arg) {
        const ProcChild *pc = arg;
        const ProcConfig *c = pc->config;
        char *argv[4] = { (char *) PROC_WORKER_NAME, NULL, NULL, NULL };
        int exe = c->exe_fd, n = 1;
        sigset_t none;

        /* a descriptor table of its own: nothing of the parent's (other guests' clients and eventfds) */
        if (close_range((unsigned) c->slot_end, ~0U, CLOSE_RANGE_UNSHARE) < 0)
                _exit(126);
        for (int sig = 1; sig < NSIG; sig++) {
                struct sigaction sa;

                if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN) {
                        memset(&sa, 0, sizeof(sa));
                        sa.sa_handler = SIG_DFL;
                        (void) sigaction(sig, &sa, NULL);
                }
        }
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        /* the worker does not outlive the parent: a new parent takes the server over */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != pc->parent)
                _exit(126);
        /* nothing to read, its stdout goes nowhere, its stderr is the pipe of its log */
        if (dup2(c->devnull_fd, STDIN_FILENO) < 0 || dup2(c->devnull_fd, STDOUT_FILENO) < 0 ||
            dup2(c->slot_log, STDERR_FILENO) < 0 || dup2(c->slot_channel, WIRE_FD) < 0)
                _exit(126);
        /* the binary's descriptor is close-on-exec, and above WIRE_FD like every slot */
        if ((exe > WIRE_FD + 1 && close_range(WIRE_FD + 1, (unsigned) exe - 1, 0) < 0) ||
            close_range((unsigned) exe + 1, ~0U, 0) < 0)
                _exit(126);
        if (c->log_prefix)
                argv[n++] = (char *) "-d";
        if (c->verbose)
                argv[n++] = (char *) "-v";
        (void) execveat(exe, "", argv, c->env, AT_EMPTY_PATH);
        _exit(127);
}

/*
 * Start a worker whose channel is fd and stderr is log, returning its pid or
 * -errno.  The main process is blocked until the child has exec'd (or failed).
 */
static pid_t proc_clone(const ProcConfig *c, int channel, int log) {
        ProcChild pc = { .config = c, .parent = getpid() };
        int flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
        sigset_t all, old;
        pid_t pid = -1;
        void *stack;
        int r = 0;

        /* a worker's channel is blocking: it never has anything better to do than wait */
        if (fcntl(channel, F_SETFL, 0) < 0)
                return -errno;
        /* through the slots, /dev/null again afterwards */
        if (dup3(channel, c->slot_channel, O_CLOEXEC) < 0 || dup3(log, c->slot_log, O_CLOEXEC) < 0) {
                r = -errno;
                goto finish;
        }
        stack = mmap(NULL, PROC_CHILD_STACK, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED) {
                r = -errno;
                goto finish;
        }
#if HAVE_VALGRIND_VALGRIND_H
        /* valgrind runs a CLONE_VM | CLONE_VFORK child as a fork, and cannot with CLONE_FILES */
        if (!RUNNING_ON_VALGRIND)
#endif
                flags |= CLONE_FILES;
        sigfillset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, &old);
        pid = clone(proc_child, (char *) stack + PROC_CHILD_STACK, flags, &pc);
        if (pid < 0)
                r = -errno;
        (void) sigprocmask(SIG_SETMASK, &old, NULL);
        (void) munmap(stack, PROC_CHILD_STACK);
finish:
        (void) dup3(c->devnull_fd, c->slot_channel, O_CLOEXEC);
        (void) dup3(c->devnull_fd, c->slot_log, O_CLOEXEC);
        return r < 0 ? r : pid;
}

static int proc_start(Proc **ret, struct ev_loop *loop, const ProcConfig *config, const ProcOps *ops,
                      void *userdata, bool idle) {
        int sp[2], lp[2];
        pid_t pid;
        Proc *p;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->cap = 64;
        p->ring = calloc(p->cap, sizeof(*p->ring));
        if (!p->ring) {
                free(p);
                return -ENOMEM;
        }
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0) {
                int r = -errno;

                free(p->ring);
                free(p);
                return r;
        }
        if (pipe2(lp, O_CLOEXEC | O_NONBLOCK) < 0) {
                int r = -errno;

                close(sp[0]);
                close(sp[1]);
                free(p->ring);
                free(p);
                return r;
        }

        pid = proc_clone(config, sp[1], lp[1]);
        close(sp[1]);
        close(lp[1]);
        if (pid < 0) {
                close(sp[0]);
                close(lp[0]);
                free(p->ring);
                free(p);
                return pid;
        }
        p->log_fd = lp[0];
        ev_io_init(&p->log_io, proc_log_cb, p->log_fd, EV_READ);
        ev_io_start(loop, &p->log_io);

        p->loop = loop;
        p->ops = ops;
        p->userdata = userdata;
        p->pid = pid;
        p->fd = sp[0];
        /* after its exec (the main process waited for that, at its own priority) */
        if (idle) {
                struct sched_param sp0 = { .sched_priority = 0 };

                p->idle = sched_setscheduler(pid, SCHED_IDLE, &sp0) == 0;
        }
        ev_io_init(&p->io, proc_io_cb, p->fd, EV_READ);
        ev_io_start(loop, &p->io);
        ev_child_init(&p->child, proc_child_cb, pid, 0);
        ev_child_start(loop, &p->child);
        *ret = p;
        return 0;
}

/* ---- the spare ---- */

static void proc_spare_reply(Proc *p, void *userdata, void *context, const WireMsg *reply) {
}

/* a spare has been asked nothing: whatever it says is a broken worker */
static void proc_spare_failed(Proc *p, void *userdata, int error) {
        proc_kill(p);
}

/* A spare has no claim: one that says otherwise is not to be trusted. */
static void proc_spare_expired(Proc *p, void *userdata, uint32_t claim_id) {
        proc_kill(p);
}

static void proc_spare_dropped(Proc *p, void *userdata, void *context) {
}

/* Spare i leaves the list (the caller has it, or kills it). */
static Proc *proc_spare_remove(size_t i) {
        Proc *p = proc_spare.procs[i];

        for (size_t k = i; k + 1 < proc_spare.n; k++) {
                proc_spare.procs[k] = proc_spare.procs[k + 1];
                proc_spare.config[k] = proc_spare.config[k + 1];
        }
        proc_spare.n--;
        return p;
}

static void proc_spare_ended(Proc *p, void *userdata, int status) {
        for (size_t i = 0; i < proc_spare.n; i++)
                if (proc_spare.procs[i] == p) {
                        (void) proc_spare_remove(i);
                        if (WIFSIGNALED(status))
                                log_warning("Spare worker %d killed by signal %d", (int) p->pid, WTERMSIG(status));
                        else
                                log_warning("Spare worker %d exited with status %d", (int) p->pid,
                                            WEXITSTATUS(status));
                        return;
                }
}

static const ProcOps proc_spare_ops = {
        .reply = proc_spare_reply,
        .failed = proc_spare_failed,
        .expired = proc_spare_expired,
        .dropped = proc_spare_dropped,
        .ended = proc_spare_ended,
};

static bool proc_config_same(const ProcConfig *a, const ProcConfig *b) {
        return a->exe_fd == b->exe_fd && a->devnull_fd == b->devnull_fd && a->env == b->env &&
               a->log_prefix == b->log_prefix && a->verbose == b->verbose;
}

/* Every spare goes (reported as ended to nobody). */
static void proc_spare_drop_all(void) {
        while (proc_spare.n > 0)
                proc_kill(proc_spare_remove(0));
}

/* One more spare, and from the next loop iteration the next one, until there are PROC_SPARES. */
static void proc_spare_start_cb(struct ev_loop *loop, ev_timer *w, int revents) {
        Proc *p;
        int r;

        if (proc_spare.n >= PROC_SPARES || !proc_spare.source)
                return;
        r = proc_start(&p, loop, proc_spare.source, &proc_spare_ops, NULL,
                       proc_spare.source->idle_spares && !proc_spare.normal_priority);
        if (r < 0) {
                log_warning_errno(r, "Cannot start a spare worker: %m");
                return;
        }
        proc_spare.procs[proc_spare.n] = p;
        proc_spare.config[proc_spare.n] = *proc_spare.source;
        proc_spare.n++;
        if (proc_spare.n < PROC_SPARES) {
                ev_timer_set(w, 0., 0.);
                ev_timer_start(loop, w);
        }
}

/*
 * Spares started once the loop runs again, when p (the last worker handed
 * out) has answered all it was sent, or ended.
 */
static void proc_spare_later(Proc *p) {
        p->spare_due = false;
        if (!proc_spare.loop || !proc_spare.source || ev_is_active(&proc_spare.start))
                return;
        ev_timer_set(&proc_spare.start, PROC_SPARE_DELAY, 0.);
        ev_timer_start(proc_spare.loop, &proc_spare.start);
}

/*
 * A spare handed out runs with the main process's policy again; if it
 * cannot (proc_config_open() found that it could), it is not used and the
 * next spares start at that policy.
 */
static bool proc_normal_priority(Proc *p, const ProcConfig *c) {
        if (!p->idle)
                return true;
        if (sched_setscheduler(p->pid, c->policy, &c->param) < 0) {
                if (!proc_spare.normal_priority)
                        log_warning_errno(errno, "Spare worker %d cannot be set back from SCHED_IDLE, spares start "
                                          "at the normal priority from now on: %m", (int) p->pid);
                proc_spare.normal_priority = true;
                return false;
        }
        p->idle = false;
        return true;
}

/* The oldest spare that still runs (one that has ended but is not reaped yet is left to its watcher). */
static Proc *proc_spare_take(struct ev_loop *loop, const ProcConfig *config) {
        while (proc_spare.n > 0) {
                siginfo_t si = { 0 };
                Proc *p;

                if (proc_spare.loop != loop || !proc_config_same(&proc_spare.config[0], config)) {
                        proc_spare_drop_all();
                        return NULL;
                }
                p = proc_spare_remove(0);
                if (waitid(P_PID, (id_t) p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0 &&
                    ev_is_active(&p->io) && proc_normal_priority(p, config))
                        return p;
                proc_kill(p);
        }
        return NULL;
}

int proc_spawn(Proc **ret, struct ev_loop *loop, const ProcConfig *config, const ProcOps *ops, void *userdata) {
        Proc *p = proc_spare_take(loop, config);
        int r;

        if (p) {
                p->ops = ops;
                p->userdata = userdata;
                *ret = p;
        } else {
                r = proc_start(ret, loop, config, ops, userdata, false);
                if (r < 0)
                        return r;
        }
        /* the next spare is started with the configuration of the last worker */
        if (proc_spare.loop && proc_spare.loop != loop) {
                ev_timer_stop(proc_spare.loop, &proc_spare.start);
                proc_spare_drop_all();
        }
        if (!proc_spare.loop)
                ev_timer_init(&proc_spare.start, proc_spare_start_cb, 0., 0.);
        proc_spare.loop = loop;
        proc_spare.source = config;
        (*ret)->spare_due = true;
        return 0;
}

void proc_detach(Proc *p, void (*free_context)(void *context)) {
        /* answers that still come are dropped unread: nobody asks any more */
        ev_io_stop(p->loop, &p->io);
        ev_io_stop(p->loop, &p->log_io);
        p->free_context = free_context;
}

void proc_kill(Proc *p) {
        p->killed = true;
        (void) kill(p->pid, SIGKILL);
}

pid_t proc_pid(const Proc *p) {
        return p->pid;
}

size_t proc_pending(const Proc *p) {
        return p->n_inflight + p->n_outbox;
}

static int proc_find_worker(char *buf, size_t size) {
        char self[PATH_MAX];
        ssize_t n;
        int fd;

        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
                char *slash;

                self[n] = '\0';
                slash = strrchr(self, '/');
                if (slash) {
                        *slash = '\0';
                        snprintf(buf, size, "%s/%s", self, PROC_WORKER_NAME);
                        fd = open(buf, O_PATH | O_CLOEXEC);
                        if (fd >= 0)
                                return fd;
                }
        }
        snprintf(buf, size, "%s/%s", PKGLIBEXECDIR, PROC_WORKER_NAME);
        fd = open(buf, O_PATH | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* fd moves to the lowest free number above WIRE_FD, if that is lower.  The number, or -errno with fd closed. */
static int proc_slot(int fd) {
        int slot;

        if (fd < 0)
                return -errno;
        slot = fcntl(fd, F_DUPFD_CLOEXEC, WIRE_FD + 1);
        if (slot < 0)
                slot = -errno;
        else if (fd > WIRE_FD && slot > fd) {
                close(slot);
                return fd;
        }
        close(fd);
        return slot;
}

/*
 * Can this process set a SCHED_IDLE child back to its own policy and nice
 * value?  The kernel allows it with CAP_SYS_NICE, or when the child's
 * RLIMIT_NICE (this process's) allows that nice value.
 */
static bool proc_can_restore(ProcConfig *c) {
        struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3] = { 0 };
        struct rlimit rl;
        int nice;

        c->policy = sched_getscheduler(0);
        if ((c->policy != SCHED_OTHER && c->policy != SCHED_BATCH) || sched_getparam(0, &c->param) < 0)
                return false;
        if (syscall(SYS_capget, &hdr, caps) == 0 && (caps[CAP_SYS_NICE / 32].effective & (1u << (CAP_SYS_NICE % 32))))
                return true;
        errno = 0;
        nice = getpriority(PRIO_PROCESS, 0);
        if (errno != 0 || getrlimit(RLIMIT_NICE, &rl) < 0)
                return false;
        return rl.rlim_cur == RLIM_INFINITY || (rlim_t) (20 - nice) <= rl.rlim_cur;
}

#define PROC_SLOTS(c) { &(c)->exe_fd, &(c)->devnull_fd, &(c)->slot_channel, &(c)->slot_log }

int proc_config_open(ProcConfig *c, char *buf, size_t size) {
        int *slots[] = PROC_SLOTS(c), r = proc_find_worker(buf, size);

        c->exe_fd = c->devnull_fd = c->slot_channel = c->slot_log = -1;
        c->slot_end = 0;
        if (r < 0)
                return r;
        c->exe_fd = proc_slot(r);
        c->devnull_fd = proc_slot(open("/dev/null", O_RDWR | O_CLOEXEC));
        c->slot_channel = c->devnull_fd < 0 ? c->devnull_fd : proc_slot(dup(c->devnull_fd));
        c->slot_log = c->devnull_fd < 0 ? c->devnull_fd : proc_slot(dup(c->devnull_fd));
        /* the first error, or the end of the slots */
        for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
                if (*slots[i] < 0) {
                        r = *slots[i];
                        proc_config_close(c);
                        return r;
                }
                if (*slots[i] >= c->slot_end)
                        c->slot_end = *slots[i] + 1;
        }
        c->idle_spares = proc_can_restore(c);
        if (!c->idle_spares)
                log_info("Spare workers run at the normal priority: setting one back from SCHED_IDLE needs "
                         "CAP_SYS_NICE or LimitNICE=+0, and a SCHED_OTHER or SCHED_BATCH policy");
        return 0;
}

void proc_config_close(ProcConfig *c) {
        int *slots[] = PROC_SLOTS(c);

        for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
                if (*slots[i] >= 0)
                        close(*slots[i]);
                *slots[i] = -1;
        }
        c->slot_end = 0;
}

static bool proc_env_keep(const char *e) {
        static const char *const drop[] = {
                "NOTIFY_SOCKET=", "LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES=", "WATCHDOG_PID=", "WATCHDOG_USEC=",
                "FDSTORE=",
        };

        for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
                if (strncmp(e, drop[i], strlen(drop[i])) == 0)
                        return false;
        return true;
}

/*
 * In sanitizer builds a worker runs without LeakSanitizer: its check at exit
 * runs a tracer process, which the worker's confinement does not allow.
 * The same options otherwise, so that other reports abort it as configured.
 */
static char *proc_env_entry(const char *e) {
#ifdef XIRQ_SANITIZERS
        if (strncmp(e, "ASAN_OPTIONS=", 13) == 0) {
                char *s = NULL;

                return asprintf(&s, "%s:detect_leaks=0", e) < 0 ? NULL : s;
        }
#endif
        return strdup(e);
}

char **proc_env_new(void) {
        extern char **environ;
        size_t n = 0, k = 0;
        bool asan = false;
        char **env;

        while (environ[n])
                n++;
        env = calloc(n + 2, sizeof(*env));
        if (!env)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (proc_env_keep(environ[i])) {
                        if (strncmp(environ[i], "ASAN_OPTIONS=", 13) == 0)
                                asan = true;
                        env[k] = proc_env_entry(environ[i]);
                        if (!env[k])
                                goto fail;
                        k++;
                }
#ifdef XIRQ_SANITIZERS
        /* LeakSanitizer cannot run in the confined worker: without this a
         * sanitizer-built worker would hang at exit. */
        if (!asan && !(env[k] = strdup("ASAN_OPTIONS=detect_leaks=0")))
                goto fail;
#else
        (void)asan;
#endif
        return env;
fail:
        proc_env_free(env);
        return NULL;
}

void proc_env_free(char **env) {
        if (!env)
                return;
        for (size_t i = 0; env[i]; i++)
                free(env[i]);
        free(env);
}
