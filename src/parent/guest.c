/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guest.h"
#include "log.h"
#include "xenioreqd/protocol.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

#define GUEST_MAX_REFUSING      8u      /* refused connections waiting for their reply */
/*
 * A worker that served this long died of something new (a kill, a request
 * it choked on once); one that dies sooner, or before it serves at all (a
 * request left in a slot that kills every worker that looks at it), is in
 * a loop that restarting will not end.
 */
#define GUEST_SETTLED_USEC      (50u * 1000u)
#define GUEST_MAX_QUICK_DEATHS  5u      /* in a row: the worker is given up */
#define GUEST_BACKOFF_FIRST     0.1     /* seconds before the second quick restart; doubled each time */

/* A request on the worker's channel, with what its answer settles. */
struct GuestOp {
        Guest *guest;
        uint16_t type;                  /* WIRE_* */
        Reg *reg;                       /* ASSIGN: its registration (NULL once that is gone) */
        ParentIrqfd *irqfd;             /* IRQFD: its irqfd (likewise) */
        ParentClaim *claim;             /* CLAIM: its claim (likewise); its answer carries the claim's descriptors */
        Client *client;                 /* owed the answer to this request, or NULL */
        int error;                      /* start waiters: the answer they get */
        GuestOp *next;                  /* the start waiters */
};

static int guest_spawn(Guest *g, bool teardown_only);
static void guest_send_irqfd(Guest *g, ParentIrqfd *f, Client *client);
static void guest_send_claim(Guest *g, ParentClaim *cl, Client *client);
static void guest_irqfd_free(Guest *g, ParentIrqfd *f);
static void guest_claim_free(Guest *g, ParentClaim *cl);
static void guest_respawn(Guest *g);
static void guest_reg_free(Guest *g, Reg *reg);
static void guest_proc_dropped(Proc *p, void *userdata, void *context);

/* ---- small helpers ---- */

/* What keeps the guest's server: registrations, irqfds and claims. */
static unsigned guest_users(const Guest *g) {
        return g->n_registrations + g->n_irqfds + g->n_claims;
}

/* The domain and its server, as a parent started after this one must find them. */
static void guest_save(Guest *g) {
        store_set_guest_server(g->store, g->record, g->domid == GUEST_NO_DOMID ? STORE_NONE : g->domid,
                               g->server_id == GUEST_NO_SERVER ? STORE_NONE : g->server_id);
}

static void guest_changed(Guest *g) {
        if (g->events->changed)
                g->events->changed(g, g->events->userdata);
}

/* The answer owed to c travels with op (or with no one: op NULL). */
static void guest_owe(GuestOp *op, Client *c) {
        if (op)
                op->client = c;
        if (c)
                c->pending = op;
}

/* Settle what op owes its client. */
static void guest_answer(GuestOp *op, int error) {
        Client *c = op->client;

        if (!c)
                return;
        op->client = NULL;
        c->pending = NULL;
        if (op->claim && error == 0)
                client_reply_fds(c, 0, op->claim->fds, 3);
        else
                client_reply(c, error);
}

static GuestOp *guest_op_new(Guest *g, uint16_t type) {
        GuestOp *op = calloc(1, sizeof(*op));

        if (op) {
                op->guest = g;
                op->type = type;
        }
        return op;
}

static void guest_op_free(GuestOp *op) {
        if (op->reg && op->reg->op == op)
                op->reg->op = NULL;
        if (op->irqfd && op->irqfd->op == op)
                op->irqfd->op = NULL;
        if (op->claim && op->claim->op == op)
                op->claim->op = NULL;
        if (op->client && op->client->pending == op)
                op->client->pending = NULL;
        free(op);
}

/* ---- the counters ---- */

/* The counters' memfd: the one passed back after a restart (fd >= 0, checked), else a new one. */
static int guest_stats_open(Guest *g, int fd) {
        struct stat st;
        void *p;
        int r;

        if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != STATS_SIZE)) {
                close(fd);
                fd = -1;
        }
        if (fd < 0) {
                fd = memfd_create("xen-ioreqd-stats", MFD_CLOEXEC | MFD_ALLOW_SEALING);
                if (fd < 0)
                        return -errno;
                if (ftruncate(fd, STATS_SIZE) < 0 ||
                    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
                        r = -errno;
                        close(fd);
                        return r;
                }
        }
        p = mmap(NULL, STATS_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
                r = -errno;
                close(fd);
                return r;
        }
        /*
         * Never in a copy of this process (a worker maps its own guest's from
         * the descriptor INIT brings; under valgrind workers start as one).
         */
        (void) madvise(p, STATS_SIZE, MADV_DONTFORK);
        g->stats_fd = fd;
        g->stats = p;
        if (g->stats->magic != STATS_MAGIC || g->stats->version != STATS_VERSION) {
                memset(g->stats, 0, sizeof(*g->stats));
                g->stats->magic = STATS_MAGIC;
                g->stats->version = STATS_VERSION;
        }
        g->stats->created_server = STATS_NONE;
        return 0;
}

IoreqStats guest_stats(const Guest *g) {
        IoreqStats now = stats_read(&g->stats->io);

        return (IoreqStats) {
                .kicks = now.kicks - g->stats->base.kicks,
                .unmatched = now.unmatched - g->stats->base.unmatched,
                .reads = now.reads - g->stats->base.reads,
                .invalid = now.invalid - g->stats->base.invalid,
                .other = now.other - g->stats->base.other,
                .forwarded = now.forwarded - g->stats->base.forwarded,
                .expired = now.expired - g->stats->base.expired,
                .injected = now.injected - g->stats->base.injected,
        };
}

/* ---- answers to clients ---- */

/* A successful ASSIGN answered: at once when the worker serves, else once a START has succeeded. */
static void guest_answer_assign(Guest *g, GuestOp *op) {
        GuestOp *w;

        if (!op->client)
                return;
        if (g->run == GUEST_RUN_SERVING) {
                guest_answer(op, 0);
                return;
        }
        w = guest_op_new(g, WIRE_START);
        if (!w) {
                guest_answer(op, -ENOMEM);
                return;
        }
        guest_owe(w, op->client);
        op->client = NULL;
        /* a claim's answer brings its descriptors: the waiter must know them */
        if (op->claim) {
                w->claim = op->claim;
                op->claim->op = w;
        }
        w->next = g->start_waiters;
        g->start_waiters = w;
}

static void guest_answer_waiters(Guest *g, int error) {
        while (g->start_waiters) {
                GuestOp *w = g->start_waiters;

                g->start_waiters = w->next;
                guest_answer(w, error);
                if (w->claim && w->claim->op == w)
                        w->claim->op = NULL;
                free(w);
        }
}

/* ---- the worker: its requests ---- */

static int guest_send(Guest *g, GuestOp *op, const void *buf, size_t len, int fd) {
        int r = op ? proc_send(g->proc, buf, len, fd, op) : -ENOMEM;

        if (r < 0) {
                /*
                 * Nothing half-sent: the worker cannot go on without this request.  It is
                 * replaced; an answer owed waits with its registration for the next one.
                 */
                log_error_errno(r, "Guest %s: cannot queue %s for its worker: %m", g->name,
                                op ? wire_type_name(op->type) : "a request");
                if (op)
                        guest_proc_dropped(g->proc, g, op);
                proc_kill(g->proc);
        }
        return r;
}

static void guest_send_assign(Guest *g, Reg *reg, Client *client) {
        uint8_t buf[WIRE_MSG_MAX];
        GuestOp *op = guest_op_new(g, WIRE_ASSIGN);

        if (op) {
                op->reg = reg;
                reg->op = op;
                guest_owe(op, client);
        } else if (client)
                /* this answer is not lost: the registration keeps it for the next worker */
                reg->waiter = client;
        (void) guest_send(g, op, buf, wire_encode_key(buf, WIRE_ASSIGN, 0, &reg->key), reg->fd);
}

static void guest_send_value(Guest *g, uint16_t type, int32_t value) {
        uint8_t buf[WIRE_MSG_MAX];

        (void) guest_send(g, guest_op_new(g, type), buf, wire_encode_value(buf, type, 0, value), -1);
}

/*
 * The last registration went: the worker tears its server down.  client,
 * if any, is owed an answer once that is done; returns whether it took it.
 */
static bool guest_release_server(Guest *g, Client *client) {
        uint8_t buf[WIRE_MSG_MAX];
        GuestOp *op;

        if (guest_users(g) > 0 || g->server_id == GUEST_NO_SERVER)
                return false;
        switch (g->run) {
        case GUEST_RUN_STARTING:
        case GUEST_RUN_SERVING:
                op = guest_op_new(g, WIRE_STOP);
                g->run = GUEST_RUN_STOPPING;
                if (guest_send(g, op, buf, wire_encode_value(buf, WIRE_STOP, 0, WIRE_STOP_TEARDOWN), -1) < 0)
                        return false;
                guest_owe(op, client);
                return client != NULL;
        case GUEST_RUN_WAITING:
                /* no worker to do it: one that only answers what waits and destroys the server */
                ev_timer_stop(g->loop, &g->restart_timer);
                /* if none can be started, the next registration starts one (no timer would) */
                g->run = GUEST_RUN_NONE;
                (void) guest_spawn(g, true);
                return false;
        default:
                return false;
        }
}

/* ---- the worker: its answers ---- */

static void guest_init_done(Guest *g, const WireMsg *m) {
        char other[64] = "";

        g->init_answered = true;
        if (m->error < 0) {
                g->setup_error = m->error;
                if (m->error == -EBUSY)
                        log_ratelimit_errno(&g->server_log, LOG_WARNING, m->error,
                                            "Guest %s: domain %" PRIu32 " has an ioreq server with id %" PRIu32
                                            " and Xen's 8 ids leave none above it: that server would take the"
                                            " accesses to ranges both map, so the registration is refused: %m",
                                            g->name, g->proc_domid, m->other);
                else
                        log_ratelimit_errno(&g->server_log, LOG_WARNING, m->error,
                                            "Guest %s: failed to set up an ioreq server for domain %" PRIu32 ": %m",
                                            g->name, g->proc_domid);
                return;
        }
        if (g->server_id != m->server_id) {
                /* a new server: its counters start at 0 */
                g->stats->base = stats_read(&g->stats->io);
                g->server_id = m->server_id;
                guest_save(g);
        }
        g->nr_vcpus = m->nr_vcpus;
        if (m->other != WIRE_NONE)
                snprintf(other, sizeof other, ", above server %" PRIu32 " of another process", m->other);
        log_ratelimit(&g->server_log, LOG_INFO,
                      "Guest %s: ioreq server %" PRIu32 " of domain %" PRIu32 " serving %u vCPU%s%s", g->name,
                      m->server_id, g->proc_domid, m->nr_vcpus, m->nr_vcpus == 1 ? "" : "s", other);
}

static void guest_proc_reply(Proc *p, void *userdata, void *context, const WireMsg *m) {
        Guest *g = userdata;
        GuestOp *op = context;

        switch (op->type) {
        case WIRE_INIT:
                guest_init_done(g, m);
                break;

        case WIRE_ASSIGN:
                if (m->error == 0) {
                        guest_answer_assign(g, op);
                        break;
                }
                /* refused by the worker (an error of Xen mapping the range): it does not exist */
                if (op->client)
                        guest_answer(op, m->error);
                else if (op->reg)
                        log_ratelimit_errno(&g->server_log, LOG_WARNING, m->error,
                                            "Guest %s: a registration at 0x%" PRIx64 " could not be restored: %m",
                                            g->name, op->reg->key.addr);
                if (op->reg)
                        guest_reg_free(g, op->reg);
                break;

        case WIRE_IRQFD:
        case WIRE_CLAIM:
                if (m->error == 0) {
                        guest_answer_assign(g, op);
                        break;
                }
                /* refused by the worker (Xen's answer, the ring): it does not exist */
                if (op->client)
                        guest_answer(op, m->error);
                else
                        log_ratelimit_errno(&g->server_log, LOG_WARNING, m->error, "Guest %s: %s %" PRIu32
                                            " could not be restored: %m", g->name,
                                            op->type == WIRE_IRQFD ? "an irqfd" : "a claim",
                                            op->irqfd ? op->irqfd->id : op->claim ? op->claim->id : 0);
                if (op->irqfd)
                        guest_irqfd_free(g, op->irqfd);
                if (op->claim)
                        guest_claim_free(g, op->claim);
                break;

        case WIRE_DEASSIGN:
        case WIRE_IRQFD_DEL:
        case WIRE_UNCLAIM:
                guest_answer(op, 0);
                break;

        case WIRE_STOP:
                /* the server is gone: who removed the last registration hears now */
                if (m->error == 0) {
                        g->server_id = GUEST_NO_SERVER;
                        guest_save(g);
                }
                guest_answer(op, 0);
                break;

        case WIRE_START:
                /* a failed START ends the worker; who waits is answered by the next one, or when it is given up */
                if (m->error < 0 || g->run != GUEST_RUN_STARTING)
                        break;
                g->run = GUEST_RUN_SERVING;
                g->serving_usec = now_usec();
                g->failed = false;
                g->setup_error = 0;
                guest_answer_waiters(g, 0);
                /* registrations removed while it was starting: the server may go now */
                (void) guest_release_server(g, NULL);
                guest_changed(g);
                break;

        default:
                break;
        }
        guest_op_free(op);
}

static void guest_proc_failed(Proc *p, void *userdata, int error) {
        Guest *g = userdata;

        /* it stopped dispatching: a new worker takes the server over */
        log_ratelimit_errno(&g->worker_log, LOG_ERR, error, "Guest %s: worker %d failed, replacing it: %m", g->name,
                            (int) proc_pid(p));
        proc_kill(p);
}

static void guest_proc_dropped(Proc *p, void *userdata, void *context) {
        Guest *g = userdata;
        GuestOp *op = context;

        switch (op->type) {
        case WIRE_ASSIGN:
                /* the registration is kept for the next worker, and so is the answer owed */
                if (op->reg && op->client) {
                        op->reg->waiter = op->client;
                        op->client->pending = NULL;
                        op->client = NULL;
                }
                break;
        case WIRE_IRQFD:
                if (op->irqfd && op->client) {
                        op->irqfd->waiter = op->client;
                        op->client->pending = NULL;
                        op->client = NULL;
                }
                break;
        case WIRE_CLAIM:
                if (op->claim && op->client) {
                        op->claim->waiter = op->client;
                        op->client->pending = NULL;
                        op->client = NULL;
                }
                break;
        case WIRE_DEASSIGN:
        case WIRE_IRQFD_DEL:
        case WIRE_UNCLAIM:
        case WIRE_STOP:
                /* the registration is gone already; the dead worker signals nothing more */
                guest_answer(op, 0);
                break;
        default:
                break;
        }
        (void) g;
        guest_op_free(op);
}

/* The last set-up failed: the registrations that wait for it are refused with its error. */
static void guest_setup_failed(Guest *g) {
        g->failed = true;
        g->server_id = GUEST_NO_SERVER;
        guest_save(g);
        guest_answer_waiters(g, g->setup_error);
        for (Client *c = g->clients; c; c = c->next)
                for (Reg *reg = c->registrations, *next; reg; reg = next) {
                        next = reg->next;
                        if (reg->waiter) {
                                Client *w = reg->waiter;

                                reg->waiter = NULL;
                                guest_reg_free(g, reg);
                                client_reply(w, g->setup_error);
                        }
                }
        for (Client *c = g->clients; c; c = c->next) {
                for (ParentIrqfd *f = c->irqfds, *next; f; f = next) {
                        next = f->next;
                        if (f->waiter) {
                                Client *w = f->waiter;

                                f->waiter = NULL;
                                guest_irqfd_free(g, f);
                                client_reply(w, g->setup_error);
                        }
                }
                for (ParentClaim *cl = c->claims, *next; cl; cl = next) {
                        next = cl->next;
                        if (cl->waiter) {
                                Client *w = cl->waiter;

                                cl->waiter = NULL;
                                guest_claim_free(g, cl);
                                client_reply(w, g->setup_error);
                        }
                }
        }
        /* registrations already answered (a server made again after its last one went): their owners must know */
        for (Client *c = g->clients, *next; c; c = next) {
                next = c->next;
                if (c->n_registrations > 0 || c->n_irqfds > 0 || c->n_claims > 0)
                        client_disconnect(c);
        }
}

static void guest_proc_ended(Proc *p, void *userdata, int status) {
        Guest *g = userdata;
        GuestRun was = g->run;
        bool settled = was == GUEST_RUN_SERVING && now_usec() - g->serving_usec >= GUEST_SETTLED_USEC;
        uint32_t hint;

        g->proc = NULL;
        g->run = GUEST_RUN_NONE;

        /* a server it made before it could say so is taken over, not leaked */
        hint = __atomic_load_n(&g->stats->created_server, __ATOMIC_ACQUIRE);
        if (!g->init_answered && g->server_id == GUEST_NO_SERVER && hint < 8u && g->proc_domid == g->domid) {
                g->server_id = hint;
                guest_save(g);
        }

        if (g->domid != g->proc_domid || g->domid == GUEST_NO_DOMID) {
                /* its domain is gone, and the server with it */
                g->server_id = GUEST_NO_SERVER;
                guest_save(g);
                /* the next domain came before it ended: what was asked for that one waits for its own worker */
                if (g->domid != GUEST_NO_DOMID && guest_users(g) > 0) {
                        g->quick_deaths = 0;
                        guest_respawn(g);
                }
        } else if (was == GUEST_RUN_STOPPING && g->server_id != GUEST_NO_SERVER) {
                if (!settled && g->quick_deaths >= GUEST_MAX_QUICK_DEATHS) {
                        log_error("Guest %s: ioreq server %" PRIu32 " of domain %" PRIu32 " could not be torn down",
                                  g->name, g->server_id, g->domid);
                } else {
                        /* it died before the server was gone: another one tears it down */
                        g->quick_deaths = settled ? 1 : g->quick_deaths + 1;
                        (void) guest_spawn(g, true);
                }
                /* none does: what was asked for while it stopped gets its worker (a first one), which takes it over */
                if (!g->proc && guest_users(g) > 0) {
                        g->quick_deaths = 0;
                        guest_respawn(g);
                }
        } else if (was == GUEST_RUN_STOPPING) {
                /* registrations made while it stopped: a new server */
                if (guest_users(g) > 0)
                        guest_respawn(g);
        } else if (g->setup_error < 0 && g->server_id == GUEST_NO_SERVER) {
                guest_setup_failed(g);
        } else {
                /* it died: a new worker takes the same server over */
                if (WIFSIGNALED(status))
                        log_ratelimit(&g->worker_log, LOG_ERR, "Guest %s: worker %d killed by signal %d%s", g->name,
                                      (int) proc_pid(p), WTERMSIG(status),
                                      WTERMSIG(status) == SIGSYS ? " (a system call outside its filter)" : "");
                else
                        log_ratelimit(&g->worker_log, LOG_ERR, "Guest %s: worker %d exited with status %d", g->name,
                                      (int) proc_pid(p), WEXITSTATUS(status));
                g->quick_deaths = settled ? 1 : g->quick_deaths + 1;
                if (g->quick_deaths > GUEST_MAX_QUICK_DEATHS) {
                        log_error("Guest %s: worker died %u times in a row, giving up: its server is torn down and"
                                  " its clients disconnected", g->name, g->quick_deaths - 1);
                        g->failed = true;
                        g->setup_error = -ECHILD;
                        guest_answer_waiters(g, -EIO);
                        guest_disconnect_all(g);
                        /* nothing of the guest's parses anything any more; the server goes */
                        if (g->server_id != GUEST_NO_SERVER)
                                (void) guest_spawn(g, true);
                } else if (g->quick_deaths <= 1) {
                        guest_respawn(g);
                } else {
                        double delay = GUEST_BACKOFF_FIRST * (double) (1u << (g->quick_deaths - 2));

                        log_ratelimit(&g->worker_log, LOG_WARNING, "Guest %s: starting a new worker in %.1f s",
                                      g->name, delay);
                        g->run = GUEST_RUN_WAITING;
                        ev_timer_set(&g->restart_timer, delay, 0.);
                        ev_timer_start(g->loop, &g->restart_timer);
                }
        }
        if (!g->proc && g->run == GUEST_RUN_NONE && g->events->quiet)
                g->events->quiet(g, g->events->userdata);
        guest_changed(g);
}

static void guest_proc_expired(Proc *p, void *userdata, uint32_t claim_id) {
        Guest *g = userdata;

        /* the worker completed what the claim left unanswered; the connection that holds it goes */
        for (Client *c = g->clients; c; c = c->next)
                for (ParentClaim *cl = c->claims; cl; cl = cl->next)
                        if (cl->id == claim_id) {
                                log_ratelimit(&g->server_log, LOG_WARNING, "Guest %s: the connection of pid %d uid %u"
                                              " did not answer an access to its claim of 0x%" PRIx64 "+0x%" PRIx64
                                              " in %" PRIu32 " ms (or broke its ring): disconnected", g->name,
                                              (int) c->pid, (unsigned) c->uid, cl->claim.addr, cl->claim.len,
                                              cl->claim.deadline_ms);
                                client_disconnect(c);
                                return;
                        }
}

static const ProcOps guest_proc_ops = {
        .expired = guest_proc_expired,
        .reply = guest_proc_reply,
        .failed = guest_proc_failed,
        .dropped = guest_proc_dropped,
        .ended = guest_proc_ended,
};

static void guest_restart_cb(struct ev_loop *loop, ev_timer *w, int revents) {
        Guest *g = container_of(w, Guest, restart_timer);

        g->run = GUEST_RUN_NONE;
        guest_respawn(g);
}

/*
 * A worker for the guest's domain: it creates the server, or takes over the
 * one there is; unmaps what earlier workers may have left mapped; is given
 * every registration; starts.  teardown_only: it answers what waits in the
 * server and destroys it, nothing more.
 */
static int guest_spawn(Guest *g, bool teardown_only) {
        uint8_t buf[WIRE_MSG_MAX];
        uid_t uid = g->procs->uid;
        gid_t gid = g->procs->gid;
        int r;

        if (g->domid == GUEST_NO_DOMID)
                return -ESRCH;
        if (g->proc)
                return 0;
        r = proc_spawn(&g->proc, g->loop, g->procs, &guest_proc_ops, g);
        if (r < 0) {
                g->setup_error = r;
                return log_ratelimit_errno(&g->server_log, LOG_ERR, r, "Guest %s: cannot start a worker: %m",
                                           g->name);
        }
        g->proc_domid = g->domid;
        g->setup_error = 0;
        g->init_answered = false;
        g->run = teardown_only ? GUEST_RUN_STOPPING : GUEST_RUN_STARTING;
        __atomic_store_n(&g->stats->created_server, STATS_NONE, __ATOMIC_RELAXED);

        if (g->procs->uid_base > 0) {
                uid = (uid_t) (g->procs->uid_base + g->domid);
                gid = (gid_t) (g->procs->uid_base + g->domid);
        }
        if (guest_send(g, guest_op_new(g, WIRE_INIT), buf,
                       wire_encode_init(buf, 0, g->domid, g->server_id == GUEST_NO_SERVER ? WIRE_NONE : g->server_id,
                                        uid, gid, g->limits.busy_poll_us, g->limits.max_registrations, g->name),
                       g->stats_fd) < 0)
                return 0;
        if (teardown_only) {
                guest_send_value(g, WIRE_STOP, WIRE_STOP_TEARDOWN);
                return 0;
        }
        for (Client *c = g->clients; c; c = c->next)
                for (Reg *reg = c->registrations; reg; reg = reg->next) {
                        Client *waiter = reg->waiter;

                        reg->waiter = NULL;
                        /* reg may go away inside if the worker is lost; the loop then ends at the next check */
                        guest_send_assign(g, reg, waiter);
                }
        for (Client *c = g->clients; c && g->proc; c = c->next) {
                for (ParentIrqfd *f = c->irqfds; f && g->proc; f = f->next) {
                        Client *waiter = f->waiter;

                        f->waiter = NULL;
                        guest_send_irqfd(g, f, waiter);
                }
                for (ParentClaim *cl = c->claims; cl && g->proc; cl = cl->next) {
                        Client *waiter = cl->waiter;

                        cl->waiter = NULL;
                        guest_send_claim(g, cl, waiter);
                }
        }
        guest_send_value(g, WIRE_START, 0);
        guest_changed(g);
        return 0;
}

/* A worker again (after one died, or for registrations made while one stopped); failing that, who waits is told. */
static void guest_respawn(Guest *g) {
        if (guest_spawn(g, false) < 0)
                guest_setup_failed(g);
}

/* ---- registrations ---- */

static void reg_link(Client *c, Reg *reg) {
        reg->prev = NULL;
        reg->next = c->registrations;
        if (c->registrations)
                c->registrations->prev = reg;
        c->registrations = reg;
        c->n_registrations++;
}

static void reg_unlink(Reg *reg) {
        Client *c = reg->owner;

        if (reg->prev)
                reg->prev->next = reg->next;
        else
                c->registrations = reg->next;
        if (reg->next)
                reg->next->prev = reg->prev;
        c->n_registrations--;
}

/* Remove a registration from the table and its owner (the worker is told by the caller). */
static void guest_reg_free(Guest *g, Reg *reg) {
        if (reg->op)
                reg->op->reg = NULL;
        (void) match_remove(g->match, &reg->key, NULL, NULL);
        reg_unlink(reg);
        g->n_registrations--;
        store_remove(g->store, reg->record);
        store_eventfd_unref(g->store, reg->eventfd);
        free(reg);
}

/* Deassign: the worker is told; client (may be NULL) gets the answer once it has done it. */
static int guest_reg_remove(Guest *g, Reg *reg, Client *client) {
        uint8_t buf[WIRE_MSG_MAX];
        MatchKey key = reg->key;
        bool waiting = false;

        if (reg->waiter) {
                reg->waiter->pending = NULL;
                client_reply(reg->waiter, -ECANCELED);
        }
        (void) match_remove(g->match, &key, NULL, NULL);
        if (reg->op)
                reg->op->reg = NULL;
        reg_unlink(reg);
        g->n_registrations--;
        store_remove(g->store, reg->record);
        store_eventfd_unref(g->store, reg->eventfd);
        free(reg);

        if (g->proc && (g->run == GUEST_RUN_STARTING || g->run == GUEST_RUN_SERVING)) {
                GuestOp *op = guest_op_new(g, WIRE_DEASSIGN);

                if (guest_send(g, op, buf, wire_encode_key(buf, WIRE_DEASSIGN, 0, &key), -1) == 0 && client) {
                        /* the last one is answered once the server is gone, the others once unmapped */
                        if (guest_users(g) > 0 || g->server_id == GUEST_NO_SERVER) {
                                guest_owe(op, client);
                                waiting = true;
                        }
                }
        }
        if (guest_release_server(g, waiting ? NULL : client))
                waiting = true;
        guest_changed(g);
        return waiting ? 1 : 0;
}

static int guest_assign(Guest *g, Client *c, const MatchKey *key, int *fd) {
        Reg *reg;
        int r;

        if (g->domid == GUEST_NO_DOMID)
                return -ESRCH;
        if (c->n_registrations >= g->limits.max_client_registrations ||
            g->n_registrations >= g->limits.max_registrations)
                return -ENOSPC;

        reg = calloc(1, sizeof(*reg));
        if (!reg)
                return -ENOMEM;
        reg->key = *key;
        reg->owner = c;
        r = match_add(g->match, key, reg, NULL);
        if (r < 0) {
                free(reg);
                return r;
        }
        /* the eventfd into the store, then the record that names it */
        r = store_eventfd_add(g->store, *fd, &reg->eventfd);
        *fd = -1;
        if (r < 0) {
                (void) match_remove(g->match, key, NULL, NULL);
                free(reg);
                return r;
        }
        reg->fd = r;
        reg->record = store_add_reg(g->store, &(StoreReg) { .client = c->record, .eventfd = reg->eventfd,
                                                            .key = *key });
        reg_link(c, reg);
        g->n_registrations++;

        switch (g->run) {
        case GUEST_RUN_NONE:
                /* the first one: a worker, a server */
                g->quick_deaths = 0;
                reg->waiter = c;
                r = guest_spawn(g, false);
                if (r < 0) {
                        reg->waiter = NULL;
                        guest_reg_free(g, reg);
                        return r;
                }
                break;
        case GUEST_RUN_STARTING:
        case GUEST_RUN_SERVING:
                guest_send_assign(g, reg, c);
                break;
        case GUEST_RUN_WAITING:
        case GUEST_RUN_STOPPING:
                /* the next worker gets it */
                reg->waiter = c;
                break;
        }
        guest_changed(g);
        return 1;
}

static int guest_deassign(Guest *g, Client *c, const MatchKey *key) {
        Reg *reg = match_find(g->match, key);

        /* another connection's registration is none of this one's business */
        if (!reg || reg->owner != c)
                return -ENOENT;
        return guest_reg_remove(g, reg, c);
}

unsigned guest_registrations(const Guest *g) {
        return g->n_registrations;
}

/* ---- irqfds and claims ---- */

static uint32_t guest_object_id(Guest *g) {
        if (++g->last_object_id == 0)
                g->last_object_id = 1;
        return g->last_object_id;
}

static void guest_send_irqfd(Guest *g, ParentIrqfd *f, Client *client) {
        uint8_t buf[WIRE_MSG_MAX];
        GuestOp *op = guest_op_new(g, WIRE_IRQFD);
        const ProtoIrqfd *sp = &f->spec;
        size_t n;

        if (op) {
                op->irqfd = f;
                f->op = op;
                guest_owe(op, client);
        } else if (client)
                f->waiter = client;
        n = wire_encode_irqfd(buf, 0, f->id, sp->action, sp->mode, sp->irq, sp->segment, sp->bus, sp->device,
                              sp->pin, sp->msi_addr, sp->msi_data);
        if (!op) {
                /* the worker cannot go on without it: the next one is given it */
                proc_kill(g->proc);
                return;
        }
        if (proc_send_fds(g->proc, buf, n, f->fds, f->nfds, op) < 0) {
                log_error("Guest %s: cannot queue IRQFD for its worker", g->name);
                if (op->client) {
                        f->waiter = op->client;
                        op->client = NULL;
                }
                guest_op_free(op);
                proc_kill(g->proc);
        }
}

static void guest_send_claim(Guest *g, ParentClaim *cl, Client *client) {
        uint8_t buf[WIRE_MSG_MAX];
        GuestOp *op = guest_op_new(g, WIRE_CLAIM);
        size_t n;

        if (!op) {
                if (client)
                        cl->waiter = client;
                /* the worker cannot go on without it: the next one is given it */
                proc_kill(g->proc);
                return;
        }
        op->claim = cl;
        cl->op = op;
        guest_owe(op, client);
        n = wire_encode_claim(buf, 0, cl->id, cl->claim.space, cl->claim.addr, cl->claim.addr + cl->claim.len - 1,
                              cl->claim.deadline_ms, cl->claim.id);
        if (proc_send_fds(g->proc, buf, n, cl->fds, 3, op) < 0) {
                log_error("Guest %s: cannot queue CLAIM for its worker", g->name);
                if (op->client) {
                        cl->waiter = op->client;
                        op->client = NULL;
                }
                guest_op_free(op);
                proc_kill(g->proc);
        }
}

/* The worker is told that an irqfd or a claim went; client (may be NULL) is answered once it has done it. */
static bool guest_send_removal(Guest *g, uint16_t type, uint32_t id, Client *client) {
        uint8_t buf[WIRE_MSG_MAX];
        GuestOp *op;

        if (!g->proc || (g->run != GUEST_RUN_STARTING && g->run != GUEST_RUN_SERVING))
                return false;
        op = guest_op_new(g, type);
        if (guest_send(g, op, buf, wire_encode_value(buf, type, 0, (int32_t) id), -1) < 0 || !client)
                return false;
        guest_owe(op, client);
        return true;
}

static void guest_irqfd_unlink(ParentIrqfd *f) {
        Client *c = f->owner;

        for (ParentIrqfd **l = &c->irqfds; *l; l = &(*l)->next)
                if (*l == f) {
                        *l = f->next;
                        break;
                }
        c->n_irqfds--;
}

static void guest_irqfd_free(Guest *g, ParentIrqfd *f) {
        if (f->op)
                f->op->irqfd = NULL;
        store_remove(g->store, f->record);
        guest_irqfd_unlink(f);
        g->n_irqfds--;
        for (unsigned i = 0; i < f->nfds; i++)
                close(f->fds[i]);
        free(f);
}

static void guest_claim_unlink(ParentClaim *cl) {
        Client *c = cl->owner;

        for (ParentClaim **l = &c->claims; *l; l = &(*l)->next)
                if (*l == cl) {
                        *l = cl->next;
                        break;
                }
        c->n_claims--;
}

static void guest_claim_free(Guest *g, ParentClaim *cl) {
        if (cl->op)
                cl->op->claim = NULL;
        store_remove(g->store, cl->record);
        guest_claim_unlink(cl);
        g->n_claims--;
        for (unsigned i = 0; i < 3; i++)
                close(cl->fds[i]);
        free(cl);
}

/* A new object's worker: the first one starts it; otherwise as an ASSIGN goes. */
static int guest_object_dispatch(Guest *g, Client *c, ParentIrqfd *f, ParentClaim *cl) {
        int r;

        switch (g->run) {
        case GUEST_RUN_NONE:
                g->quick_deaths = 0;
                if (f)
                        f->waiter = c;
                else
                        cl->waiter = c;
                r = guest_spawn(g, false);
                if (r < 0)
                        return r;
                break;
        case GUEST_RUN_STARTING:
        case GUEST_RUN_SERVING:
                if (f)
                        guest_send_irqfd(g, f, c);
                else
                        guest_send_claim(g, cl, c);
                break;
        case GUEST_RUN_WAITING:
        case GUEST_RUN_STOPPING:
                if (f)
                        f->waiter = c;
                else
                        cl->waiter = c;
                break;
        }
        guest_changed(g);
        return 1;
}

static int guest_irqfd(Guest *g, Client *c, const ProtoIrqfd *spec, int *fds, unsigned nfds) {
        ParentIrqfd *f;
        int r;

        if (g->domid == GUEST_NO_DOMID)
                return -ESRCH;
        for (f = c->irqfds; f; f = f->next)
                if (f->spec.id == spec->id)
                        return -EEXIST;
        if (g->n_irqfds >= g->limits.max_irqfds)
                return -ENOSPC;
        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->id = guest_object_id(g);
        f->spec = *spec;
        f->owner = c;
        f->nfds = nfds;
        for (unsigned i = 0; i < nfds && i < 2; i++) {
                f->fds[i] = fds[i];
                fds[i] = -1;
        }
        f->record = store_add_irqfd(g->store, &(StoreIrqfd) { .client = c->record, .id = f->id, .spec = *spec },
                                    f->fds, f->nfds);
        f->next = c->irqfds;
        c->irqfds = f;
        c->n_irqfds++;
        g->n_irqfds++;
        r = guest_object_dispatch(g, c, f, NULL);
        if (r < 0) {
                f->waiter = NULL;
                guest_irqfd_free(g, f);
        }
        return r;
}

static int guest_irqfd_deassign(Guest *g, Client *c, uint32_t client_id) {
        ParentIrqfd *f;
        uint32_t id;
        bool waiting;

        for (f = c->irqfds; f; f = f->next)
                if (f->spec.id == client_id)
                        break;
        if (!f)
                return -ENOENT;
        if (f->waiter) {
                f->waiter->pending = NULL;
                client_reply(f->waiter, -ECANCELED);
                f->waiter = NULL;
        }
        id = f->id;
        guest_irqfd_free(g, f);
        waiting = guest_send_removal(g, WIRE_IRQFD_DEL, id, c);
        if (guest_release_server(g, waiting ? NULL : c))
                waiting = true;
        guest_changed(g);
        return waiting ? 1 : 0;
}

/* The ring a claim's worker and client share: sealed so that neither can shrink it under the other. */
static int guest_claim_ring(int *ret) {
        struct xirq_ring *ring;
        int fd, r;

        fd = memfd_create("xen-ioreqd-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return -errno;
        if (ftruncate(fd, sizeof(*ring)) < 0)
                goto fail;
        ring = mmap(NULL, sizeof(*ring), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (ring == MAP_FAILED)
                goto fail;
        ring->magic = XIRQ_RING_MAGIC;
        ring->size = XIRQ_RING_SIZE;
        (void) munmap(ring, sizeof(*ring));
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
                goto fail;
        *ret = fd;
        return 0;
fail:
        r = -errno;
        close(fd);
        return r;
}

static int guest_claim(Guest *g, Client *c, const ProtoClaim *req) {
        ParentClaim *cl;
        int r;

        if (g->domid == GUEST_NO_DOMID)
                return -ESRCH;
        for (Client *o = g->clients; o; o = o->next)
                for (cl = o->claims; cl; cl = cl->next) {
                        if (o == c && cl->claim.id == req->id)
                                return -EEXIST;
                        /* claims never overlap: an access has one owner */
                        if (cl->claim.space == req->space && cl->claim.addr <= req->addr + req->len - 1 &&
                            req->addr <= cl->claim.addr + cl->claim.len - 1)
                                return -EEXIST;
                }
        if (g->n_claims >= g->limits.max_claims)
                return -ENOSPC;
        cl = calloc(1, sizeof(*cl));
        if (!cl)
                return -ENOMEM;
        cl->fds[0] = cl->fds[1] = cl->fds[2] = -1;
        r = guest_claim_ring(&cl->fds[0]);
        if (r == 0) {
                cl->fds[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                cl->fds[2] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (cl->fds[1] < 0 || cl->fds[2] < 0)
                        r = -errno;
        }
        if (r < 0) {
                for (unsigned i = 0; i < 3; i++)
                        if (cl->fds[i] >= 0)
                                close(cl->fds[i]);
                free(cl);
                return r;
        }
        cl->id = guest_object_id(g);
        cl->claim = *req;
        if (cl->claim.deadline_ms == 0)
                cl->claim.deadline_ms = g->limits.claim_deadline_ms;
        cl->owner = c;
        cl->record = store_add_claim(g->store, &(StoreClaim) { .client = c->record, .id = cl->id,
                                                               .claim = cl->claim }, cl->fds);
        cl->next = c->claims;
        c->claims = cl;
        c->n_claims++;
        g->n_claims++;
        r = guest_object_dispatch(g, c, NULL, cl);
        if (r < 0) {
                cl->waiter = NULL;
                guest_claim_free(g, cl);
        }
        return r;
}

static int guest_unclaim(Guest *g, Client *c, uint32_t client_id) {
        ParentClaim *cl;
        uint32_t id;
        bool waiting;

        for (cl = c->claims; cl; cl = cl->next)
                if (cl->claim.id == client_id)
                        break;
        if (!cl)
                return -ENOENT;
        if (cl->waiter) {
                cl->waiter->pending = NULL;
                client_reply(cl->waiter, -ECANCELED);
                cl->waiter = NULL;
        }
        id = cl->id;
        guest_claim_free(g, cl);
        waiting = guest_send_removal(g, WIRE_UNCLAIM, id, c);
        if (guest_release_server(g, waiting ? NULL : c))
                waiting = true;
        guest_changed(g);
        return waiting ? 1 : 0;
}

/* ---- clients ---- */

static void guest_client_hello(Client *c, void *owner, uint32_t *ret_domid, uint32_t *ret_max) {
        Guest *g = owner;

        store_set_client_hello(g->store, c->record, c->version);
        *ret_domid = g->domid == GUEST_NO_DOMID ? PROTO_DOMID_NONE : g->domid;
        *ret_max = g->limits.max_client_registrations;
}

uint32_t guest_state(const Guest *g) {
        if (g->domid == GUEST_NO_DOMID)
                return XIRQ_GUEST_ABSENT;
        if (g->server_id != GUEST_NO_SERVER && g->run != GUEST_RUN_NONE)
                return XIRQ_GUEST_SERVING;
        if (g->failed)
                return XIRQ_GUEST_FAILED;
        return XIRQ_GUEST_RUNNING;
}

static void guest_client_query(Client *c, void *owner, ProtoQueryInfo *ret) {
        Guest *g = owner;
        IoreqStats st = guest_stats(g);
        bool serving = guest_state(g) == XIRQ_GUEST_SERVING;

        *ret = (ProtoQueryInfo) {
                .state = guest_state(g),
                .domid = g->domid == GUEST_NO_DOMID ? PROTO_DOMID_NONE : g->domid,
                .server_id = serving ? g->server_id : PROTO_SERVER_NONE,
                .nr_vcpus = serving ? g->nr_vcpus : 0,
                .registrations = g->n_registrations,
                .client_registrations = c->n_registrations,
                .kicks = st.kicks,
                .unmatched = st.unmatched,
                .reads = st.reads,
                .invalid = st.invalid,
                .other = st.other,
        };
}

static int guest_client_request(Client *c, void *owner, const ProtoRequest *req, int *fds, unsigned nfds) {
        Guest *g = owner;

        switch (req->op) {
        case PROTO_OP_ASSIGN:
                return nfds == 1 ? guest_assign(g, c, &req->key, &fds[0]) : -EBADF;
        case PROTO_OP_DEASSIGN:
                return guest_deassign(g, c, &req->key);
        case PROTO_OP_IRQFD:
                return nfds >= 1 ? guest_irqfd(g, c, &req->irqfd, fds, nfds) : -EBADF;
        case PROTO_OP_IRQFD_DEASSIGN:
                return guest_irqfd_deassign(g, c, req->irqfd.id);
        case PROTO_OP_CLAIM:
                return guest_claim(g, c, &req->claim);
        case PROTO_OP_UNCLAIM:
                return guest_unclaim(g, c, req->claim.id);
        default:
                return -EPROTO;
        }
}

static void guest_client_gone(Client *c, void *owner) {
        Guest *g = owner;

        /* the answer owed to it, if any, is not sent */
        if (c->pending) {
                ((GuestOp *) c->pending)->client = NULL;
                c->pending = NULL;
        }
        for (Reg *reg = c->registrations; reg; reg = reg->next)
                reg->waiter = NULL;
        while (c->registrations)
                (void) guest_reg_remove(g, c->registrations, NULL);
        /* its irqfds and claims go (a claim's pending accesses are completed by the worker) */
        while (c->irqfds) {
                uint32_t id = c->irqfds->id;

                c->irqfds->waiter = NULL;
                guest_irqfd_free(g, c->irqfds);
                (void) guest_send_removal(g, WIRE_IRQFD_DEL, id, NULL);
        }
        while (c->claims) {
                uint32_t id = c->claims->id;

                c->claims->waiter = NULL;
                guest_claim_free(g, c->claims);
                (void) guest_send_removal(g, WIRE_UNCLAIM, id, NULL);
        }
        (void) guest_release_server(g, NULL);
        store_remove(g->store, c->record);
        c->record = STORE_NONE;

        if (c->prev)
                c->prev->next = c->next;
        else
                g->clients = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->next = c->prev = NULL;
        if (c->refuse_error)
                g->n_refusing--;
        else
                g->n_clients--;
        guest_changed(g);
}

static void guest_client_dead(Client *c, void *owner) {
        client_free(c);
}

static const ClientOps guest_client_ops = {
        .hello = guest_client_hello,
        .query = guest_client_query,
        .request = guest_client_request,
        .gone = guest_client_gone,
        .dead = guest_client_dead,
};

static void guest_add_client(Guest *g, Client *c) {
        c->record = STORE_NONE;
        c->next = g->clients;
        if (g->clients)
                g->clients->prev = c;
        g->clients = c;
        if (c->refuse_error)
                g->n_refusing++;
        else
                g->n_clients++;
}

static void guest_accepted(Listener *l, int fd, const struct ucred *cred, void *userdata) {
        Guest *g = userdata;
        const GuestLimits *lim = &g->limits;
        static RateLimit refuse_log = RATELIMIT_INIT(10 * 1000 * 1000, 5);
        Client *c;
        int refuse = 0, r;

        if (!guest_config_allows(g->config, cred->uid, cred->gid))
                refuse = EACCES;
        else if (g->n_clients >= lim->max_connections)
                refuse = EUSERS;
        else {
                unsigned same = 0;

                for (Client *i = g->clients; i; i = i->next)
                        if (!i->refuse_error && i->uid == cred->uid)
                                same++;
                if (same >= lim->max_connections_per_uid)
                        refuse = EUSERS;
        }

        if (refuse) {
                log_ratelimit(&refuse_log, LOG_NOTICE, "Guest %s: refusing connection of pid %d uid %u gid %u: %s",
                              g->name, (int) cred->pid, (unsigned) cred->uid, (unsigned) cred->gid, strerror(refuse));
                if (g->n_refusing >= GUEST_MAX_REFUSING) {
                        close(fd);
                        return;
                }
        }

        r = client_new(&c, g->loop, fd, cred->uid, cred->gid, cred->pid, refuse, &guest_client_ops, g);
        if (r < 0) {
                log_warning_errno(r, "Guest %s: failed to set up connection: %m", g->name);
                return;
        }
        guest_add_client(g, c);
        if (!refuse) {
                /* kept across a restart of the daemon: the backend keeps its connection */
                c->record = store_add_client(g->store, &(StoreClient) { .guest = g->record, .uid = cred->uid,
                                                                        .gid = cred->gid, .pid = (uint32_t) cred->pid },
                                             fd);
                log_debug("Guest %s: connection of pid %d uid %u gid %u", g->name, (int) cred->pid,
                          (unsigned) cred->uid, (unsigned) cred->gid);
        }
        guest_changed(g);
}

int guest_restore_client(Guest *g, uint32_t record, const StoreClient *sc, Client **ret) {
        Client *c;
        int fd, r;

        fd = store_take_fd(g->store, 'c', record);
        if (fd < 0)
                return -ENOENT;
        r = client_new(&c, g->loop, fd, (uid_t) sc->uid, (gid_t) sc->gid, (pid_t) sc->pid, 0, &guest_client_ops, g);
        if (r < 0)
                return r;
        c->hello_done = sc->hello_done;
        c->version = sc->hello_done ? (sc->version ? sc->version : 1) : 0;
        guest_add_client(g, c);
        c->record = record;
        *ret = c;
        return 0;
}

int guest_restore_reg(Guest *g, Client *c, uint32_t record, const StoreReg *sr) {
        Reg *reg;
        int fd, r;

        fd = store_eventfd_restore(g->store, sr->eventfd);
        if (fd < 0)
                return -ENOENT;
        reg = calloc(1, sizeof(*reg));
        if (!reg) {
                store_eventfd_unref(g->store, sr->eventfd);
                return -ENOMEM;
        }
        reg->key = sr->key;
        reg->owner = c;
        reg->fd = fd;
        reg->eventfd = sr->eventfd;
        reg->record = record;
        r = match_add(g->match, &sr->key, reg, NULL);
        if (r < 0) {
                store_eventfd_unref(g->store, sr->eventfd);
                free(reg);
                return r;
        }
        reg_link(c, reg);
        g->n_registrations++;
        return 0;
}

int guest_restore_irqfd(Guest *g, Client *c, uint32_t record, const StoreIrqfd *si) {
        bool level = si->spec.mode == XIRQ_IRQFD_LEVEL;
        ParentIrqfd *f = calloc(1, sizeof(*f));

        if (!f)
                return -ENOMEM;
        f->fds[0] = store_take_fd(g->store, 't', record);
        f->fds[1] = level ? store_take_fd(g->store, 'r', record) : -1;
        if (f->fds[0] < 0 || (level && f->fds[1] < 0) || g->n_irqfds >= STATS_MAX_IRQFDS) {
                for (unsigned i = 0; i < 2; i++)
                        if (f->fds[i] >= 0)
                                close(f->fds[i]);
                free(f);
                return -ENOENT;
        }
        f->nfds = level ? 2 : 1;
        f->id = si->id;
        f->spec = si->spec;
        f->record = record;
        f->owner = c;
        f->next = c->irqfds;
        c->irqfds = f;
        c->n_irqfds++;
        g->n_irqfds++;
        if (si->id > g->last_object_id)
                g->last_object_id = si->id;
        return 0;
}

int guest_restore_claim(Guest *g, Client *c, uint32_t record, const StoreClaim *sc) {
        ParentClaim *cl = calloc(1, sizeof(*cl));
        bool ok;

        if (!cl)
                return -ENOMEM;
        cl->fds[0] = store_take_fd(g->store, 'g', record);
        cl->fds[1] = store_take_fd(g->store, 'w', record);
        cl->fds[2] = store_take_fd(g->store, 'a', record);
        ok = cl->fds[0] >= 0 && cl->fds[1] >= 0 && cl->fds[2] >= 0 && g->n_claims < STATS_MAX_CLAIMS;
        if (!ok) {
                for (unsigned i = 0; i < 3; i++)
                        if (cl->fds[i] >= 0)
                                close(cl->fds[i]);
                free(cl);
                return -ENOENT;
        }
        cl->id = sc->id;
        cl->claim = sc->claim;
        cl->record = record;
        cl->owner = c;
        cl->next = c->claims;
        c->claims = cl;
        c->n_claims++;
        g->n_claims++;
        if (sc->id > g->last_object_id)
                g->last_object_id = sc->id;
        return 0;
}

void guest_resume(Guest *g) {
        if (g->domid == GUEST_NO_DOMID)
                return;
        /* a worker takes the server over; with no registration left it only tears it down */
        if (guest_users(g) > 0)
                guest_respawn(g);
        else if (g->server_id != GUEST_NO_SERVER)
                (void) guest_spawn(g, true);
}

void guest_disconnect_all(Guest *g) {
        while (g->clients)
                client_disconnect(g->clients);
}

/* ---- life cycle ---- */

static int guest_alloc(Guest **ret, struct ev_loop *loop, const GuestConfig *config, const ProcConfig *procs,
                       const GuestEvents *events, Store *store) {
        Guest *g;
        int r;

        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        g->loop = loop;
        g->events = events;
        g->procs = procs;
        g->store = store;
        g->record = STORE_NONE;
        g->config = config;
        g->limits = config->limits;
        snprintf(g->name, sizeof g->name, "%s", config->name);
        g->domid = GUEST_NO_DOMID;
        g->server_id = GUEST_NO_SERVER;
        g->stats_fd = -1;
        g->server_log = (RateLimit) RATELIMIT_INIT(10 * 1000 * 1000, 10);
        g->domain_log = (RateLimit) RATELIMIT_INIT(10 * 1000 * 1000, 10);
        g->worker_log = (RateLimit) RATELIMIT_INIT(10 * 1000 * 1000, 10);
        ev_timer_init(&g->restart_timer, guest_restart_cb, 0., 0.);
        r = match_table_new(&g->match);
        if (r < 0) {
                free(g);
                return r;
        }
        *ret = g;
        return 0;
}

int guest_new(Guest **ret, struct ev_loop *loop, const GuestConfig *config, int inherited_fd,
              const ProcConfig *procs, const GuestEvents *events, Store *store) {
        Guest *g;
        int r;

        r = guest_alloc(&g, loop, config, procs, events, store);
        if (r < 0)
                return r;
        r = guest_stats_open(g, -1);
        if (r < 0)
                goto fail;
        r = listener_open(&g->listener, loop, g->name, config->socket, config->socket_uid, config->socket_gid,
                          config->socket_mode, inherited_fd, false, guest_accepted, g);
        if (r < 0)
                goto fail;
        /* its counters and its socket (if not the service manager's) are kept across a restart */
        {
                StoreGuest sg = { .domid = STORE_NONE, .server_id = STORE_NONE };

                snprintf(sg.name, sizeof sg.name, "%s", g->name);
                g->record = store_add_guest(store, &sg, g->stats_fd, g->listener.inherited ? -1 : g->listener.fd);
        }
        *ret = g;
        return 0;

fail:
        guest_free(g);
        return r;
}

int guest_new_restored(Guest **ret, struct ev_loop *loop, const GuestConfig *config, int inherited_fd,
                       const ProcConfig *procs, const GuestEvents *events, Store *store, uint32_t record) {
        StoreGuest sg;
        Guest *g;
        int r;

        r = store_get_guest(store, record, &sg);
        if (r < 0)
                return r;
        r = guest_alloc(&g, loop, config, procs, events, store);
        if (r < 0)
                return r;
        g->record = record;
        /* the counters carry on from where they were */
        r = guest_stats_open(g, sg.stats ? store_take_fd(store, 's', record) : -1);
        if (r < 0)
                goto fail;
        r = listener_open(&g->listener, loop, g->name, config->socket, config->socket_uid, config->socket_gid,
                          config->socket_mode, inherited_fd, sg.listener, guest_accepted, g);
        if (r < 0)
                goto fail;
        g->domid = sg.domid == STORE_NONE ? GUEST_NO_DOMID : sg.domid;
        g->server_id = sg.server_id == STORE_NONE ? GUEST_NO_SERVER : sg.server_id;
        *ret = g;
        return 0;

fail:
        g->record = STORE_NONE;
        guest_free(g);
        return r;
}

Guest *guest_free(Guest *g) {
        if (!g)
                return NULL;
        ev_timer_stop(g->loop, &g->restart_timer);
        /*
         * The worker first: it dies with its server left in place (a handover,
         * or a daemon that exits and whose successor takes it over).  Were the
         * clients closed first, the last registration's removal would send it a
         * teardown that it might carry out before it is killed.
         */
        if (g->proc) {
                proc_kill(g->proc);
                proc_detach(g->proc, free);
                g->proc = NULL;
        }
        g->run = GUEST_RUN_NONE;
        guest_disconnect_all(g);
        guest_answer_waiters(g, -ECANCELED);
        /* handed over: the next daemon listens on this very socket, its path must stay */
        listener_close_keep(&g->listener, store_frozen(g->store));
        store_remove(g->store, g->record);
        g->match = match_table_free(g->match);
        if (g->stats)
                (void) munmap(g->stats, STATS_SIZE);
        if (g->stats_fd >= 0)
                close(g->stats_fd);
        free(g);
        return NULL;
}

void guest_update_config(Guest *g, const GuestConfig *config) {
        uint32_t old = g->limits.busy_poll_us;

        g->config = config;
        g->limits = config->limits;
        /* the running server keeps serving; only its polling window changes */
        if (g->proc && config->limits.busy_poll_us != old &&
            (g->run == GUEST_RUN_STARTING || g->run == GUEST_RUN_SERVING))
                guest_send_value(g, WIRE_SET, (int32_t) config->limits.busy_poll_us);
}

void guest_retire(Guest *g) {
        /* its socket now: the same path may be another guest's from this reload on */
        listener_close(&g->listener);
        guest_disconnect_all(g);
        g->config = NULL;
        guest_shutdown(g);
}

void guest_shutdown(Guest *g) {
        ev_timer_stop(g->loop, &g->restart_timer);
        guest_disconnect_all(g);
        if (g->proc && g->run != GUEST_RUN_STOPPING) {
                guest_send_value(g, WIRE_STOP, WIRE_STOP_TEARDOWN);
                g->run = GUEST_RUN_STOPPING;
        } else if (!g->proc && g->server_id != GUEST_NO_SERVER)
                (void) guest_spawn(g, true);
        if (!g->proc) {
                g->run = GUEST_RUN_NONE;
                if (g->events->quiet)
                        g->events->quiet(g, g->events->userdata);
        }
}

bool guest_busy(const Guest *g) {
        return g->proc != NULL;
}

void guest_kill(Guest *g) {
        if (g->proc)
                proc_kill(g->proc);
}

/* ---- the domain ---- */

void guest_set_domid(Guest *g, uint32_t domid) {
        if (domid == g->domid)
                return;

        if (g->domid != GUEST_NO_DOMID) {
                log_ratelimit(&g->domain_log, LOG_INFO, "Guest %s: domain %" PRIu32 " is gone", g->name, g->domid);
                /* its server went with it: the worker only holds the dead domain's memory now */
                ev_timer_stop(g->loop, &g->restart_timer);
                if (g->proc)
                        proc_kill(g->proc);
                g->domid = GUEST_NO_DOMID;
                g->server_id = GUEST_NO_SERVER;
                g->failed = false;
                g->setup_error = 0;
                if (g->run == GUEST_RUN_WAITING)
                        g->run = GUEST_RUN_NONE;
                guest_answer_waiters(g, -ESRCH);
                guest_disconnect_all(g);
                guest_save(g);
        }
        if (domid != GUEST_NO_DOMID) {
                g->domid = domid;
                guest_save(g);
                /* a guest that reboots in a loop makes these two lines: rate-limited */
                log_ratelimit(&g->domain_log, LOG_INFO, "Guest %s: running as domain %" PRIu32, g->name, domid);
        }
        guest_changed(g);
}
