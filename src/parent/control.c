/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "ctlproto.h"
#include "guest.h"
#include "listener.h"
#include "log.h"
#include "manager.h"
#include "stats.h"
#include "xenioreqd/protocol.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

#define CONTROL_BURST           16u     /* requests handled per wake-up */
#define CONTROL_REFUSE_TIMEOUT  2.0     /* seconds a refused peer has to send its first request */
#define CONTROL_RATE_PERIOD     1.0     /* seconds between two samples of the kicks */

_Static_assert(CTL_HIST_BUCKETS == STATS_HIST_BUCKETS, "the wire carries the memfd's buckets");
_Static_assert(CTL_NAME_MAX == CONFIG_NAME_MAX && CTL_NAME_SIZE > CTL_NAME_MAX, "a guest name fits");

typedef struct ControlConn ControlConn;

struct Control {
        struct ev_loop *loop;
        Manager *m;
        Listener listener;
        ControlConn *conns;
        unsigned n_conns, max_conns;
        uint64_t started_ns;
        ev_timer rate;
};

struct ControlConn {
        Control *ctl;
        int fd;
        ev_io io;
        ev_timer refuse_timer;
        uid_t uid;
        pid_t pid;
        int refuse_error;               /* > 0: answer the first request with this, then close */
        uint16_t version;               /* chosen by HELLO, 0 before */
        ControlConn *next, *prev;
};

static RateLimit control_log = RATELIMIT_INIT(10 * 1000 * 1000, 10);

static uint64_t control_clock_ns(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

/* ---- connections ---- */

static void control_conn_free(ControlConn *cc) {
        Control *c = cc->ctl;

        ev_io_stop(c->loop, &cc->io);
        ev_timer_stop(c->loop, &cc->refuse_timer);
        close(cc->fd);
        if (cc->prev)
                cc->prev->next = cc->next;
        else
                c->conns = cc->next;
        if (cc->next)
                cc->next->prev = cc->prev;
        c->n_conns--;
        free(cc);
}

static int control_send(ControlConn *cc, const void *buf, size_t len) {
        ssize_t n = send(cc->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0)
                return -errno;
        return (size_t) n == len ? 0 : -EIO;
}

/* The reply to any request that failed (or to HELLO): error is 0 or a negative errno. */
static int control_send_reply(ControlConn *cc, uint16_t type, uint32_t seq, int error, uint32_t version) {
        struct ctl_reply r = {
                .hdr = { .type = htole16(type | CTL_MSG_REPLY), .seq = htole32(seq) },
                .error = (int32_t) htole32((uint32_t) -error),
                .version = htole32(version),
        };

        return control_send(cc, &r, sizeof(r));
}

/* ---- what is read ---- */

static Guest *control_guest_at(Control *c, uint32_t index) {
        Guest *g = c->m->guests;

        for (uint32_t i = 0; g && i < index; i++)
                g = g->next;
        return g;
}

static Guest *control_guest_named(Control *c, const char *name) {
        for (Guest *g = c->m->guests; g; g = g->next)
                if (strcmp(g->name, name) == 0)
                        return g;
        return NULL;
}

/* The counters a worker keeps, monotonic (guest_stats() gives those of the current server). */
static IoreqStats control_totals(const Guest *g) {
        return stats_read(&g->stats->io);
}

/* "comm" of a process, "" when it is gone (read now: the pid may have been reused since accept) */
static void control_read_comm(pid_t pid, char *buf, size_t size) {
        char path[64];
        ssize_t n;
        int fd;

        buf[0] = '\0';
        snprintf(path, sizeof path, "/proc/%d/comm", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        n = read(fd, buf, size - 1);
        close(fd);
        if (n <= 0) {
                buf[0] = '\0';
                return;
        }
        buf[n] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
}

/* user + system time of a process in ns, 0 if unknown */
static uint64_t control_cpu_ns(pid_t pid) {
        char path[64], buf[1024], *p;
        unsigned long long utime, stime;
        long tick = sysconf(_SC_CLK_TCK);
        ssize_t n;
        int fd;

        if (pid <= 0 || tick <= 0)
                return 0;
        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        /* after the comm in parentheses: state (3rd field) ... utime (14th), stime (15th) */
        p = strrchr(buf, ')');
        if (!p || sscanf(p + 1, " %*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &utime, &stime) != 2)
                return 0;
        return (utime + stime) * (UINT64_C(1000000000) / (uint64_t) tick);
}

static uint8_t control_match_mode(const MatchKey *k) {
        if (k->mask == 0)
                return XIRQ_MATCH_ANY;
        if (k->mask == match_len_mask(k->len))
                return XIRQ_MATCH_EXACT;
        return XIRQ_MATCH_MASK;
}

/* The worker's slot counting this registration, or NULL. */
static const RegStats *control_reg_slot(const Guest *g, const MatchKey *k) {
        const RegStats *slots = g->stats->ctl.regs;

        for (unsigned i = 0; i < STATS_REG_SLOTS; i++) {
                const RegStats *s = &slots[i];

                if (__atomic_load_n(&s->live, __ATOMIC_ACQUIRE) && s->addr == k->addr && s->mask == k->mask &&
                    s->value == k->value && s->space == k->space && s->len == k->len)
                        return s;
        }
        return NULL;
}

/* The clients listed: connected and not refused. */
static bool control_client_listed(const Client *cl) {
        return !cl->dead && !cl->refuse_error;
}

/* The reply to STATUS or GUEST: of its version 1 size on a version 1 connection. */
static int control_send_sized(ControlConn *cc, const void *r, size_t size, size_t size_v1) {
        return control_send(cc, r, cc->version >= 2 ? size : size_v1);
}

static int control_status(ControlConn *cc, uint32_t seq) {
        Control *c = cc->ctl;
        struct ctl_status_reply r = { 0 };
        uint32_t running = 0, serving = 0, workers = 0, clients = 0, regs = 0, irqfds = 0, claims = 0;
        uint64_t kicks = 0, unmatched = 0, reads = 0, invalid = 0, other = 0;
        uint64_t saturated = 0, forwarded = 0, expired = 0, injected = 0, inject_errors = 0;

        for (Guest *g = c->m->guests; g; g = g->next) {
                IoreqStats st = control_totals(g);

                running += g->domid != GUEST_NO_DOMID;
                serving += guest_state(g) == XIRQ_GUEST_SERVING;
                workers += guest_busy(g);
                clients += g->n_clients;
                regs += guest_registrations(g);
                irqfds += g->n_irqfds;
                claims += g->n_claims;
                kicks += st.kicks;
                unmatched += st.unmatched;
                reads += st.reads;
                invalid += st.invalid;
                other += st.other;
                saturated += st.saturated;
                forwarded += st.forwarded;
                expired += st.expired;
                injected += st.injected;
                inject_errors += st.inject_errors;
        }
        r.hdr = (struct ctl_hdr) { .type = htole16(CTL_MSG_STATUS | CTL_MSG_REPLY), .seq = htole32(seq) };
        snprintf(r.version, sizeof r.version, "%s", XENIOREQD_VERSION);
        r.started_ns = htole64(c->started_ns);
        r.guests = htole32(c->m->n_guests);
        r.running = htole32(running);
        r.serving = htole32(serving);
        r.workers = htole32(workers);
        r.clients = htole32(clients);
        r.registrations = htole32(regs);
        r.kicks = htole64(kicks);
        r.unmatched = htole64(unmatched);
        r.reads = htole64(reads);
        r.invalid = htole64(invalid);
        r.other = htole64(other);
        r.irqfds = htole32(irqfds);
        r.claims = htole32(claims);
        r.saturated = htole64(saturated);
        r.forwarded = htole64(forwarded);
        r.expired = htole64(expired);
        r.injected = htole64(injected);
        r.inject_errors = htole64(inject_errors);
        return control_send_sized(cc, &r, sizeof(r), CTL_STATUS_REPLY_V1_SIZE);
}

static int control_guest(ControlConn *cc, uint32_t seq, Guest *g) {
        struct ctl_guest_reply r = { 0 };
        IoreqStats st = control_totals(g);
        bool serving = guest_state(g) == XIRQ_GUEST_SERVING;
        pid_t pid = g->proc ? proc_pid(g->proc) : 0;

        r.hdr = (struct ctl_hdr) { .type = htole16(CTL_MSG_GUEST | CTL_MSG_REPLY), .seq = htole32(seq) };
        snprintf(r.name, sizeof r.name, "%s", g->name);
        r.domid = htole32(g->domid == GUEST_NO_DOMID ? CTL_NONE : g->domid);
        r.state = htole32(guest_state(g));
        r.server_id = htole32(serving ? g->server_id : CTL_NONE);
        r.nr_vcpus = htole32(serving ? g->nr_vcpus : 0);
        r.clients = htole32(g->n_clients);
        r.registrations = htole32(guest_registrations(g));
        r.last_error = (int32_t) htole32((uint32_t) (g->setup_error < 0 ? -g->setup_error : 0));
        r.worker_pid = htole32((uint32_t) (pid > 0 ? pid : 0));
        r.worker_cpu_ns = htole64(control_cpu_ns(pid));
        r.kicks = htole64(st.kicks);
        r.unmatched = htole64(st.unmatched);
        r.reads = htole64(st.reads);
        r.invalid = htole64(st.invalid);
        r.other = htole64(st.other);
        r.kicks_per_s_milli = htole64(__atomic_load_n(&g->stats->ctl.rate_milli, __ATOMIC_RELAXED));
        r.irqfds = htole32(g->n_irqfds);
        r.claims = htole32(g->n_claims);
        r.saturated = htole64(st.saturated);
        r.forwarded = htole64(st.forwarded);
        r.expired = htole64(st.expired);
        r.injected = htole64(st.injected);
        r.inject_errors = htole64(st.inject_errors);
        return control_send_sized(cc, &r, sizeof(r), CTL_GUEST_REPLY_V1_SIZE);
}

static int control_client(ControlConn *cc, uint32_t seq, Guest *g, uint32_t index) {
        struct ctl_client_reply r = { 0 };
        Client *cl = g->clients;

        for (uint32_t i = 0; cl; cl = cl->next)
                if (control_client_listed(cl) && i++ == index)
                        break;
        if (!cl)
                return control_send_reply(cc, CTL_MSG_CLIENT, seq, -ENOENT, 0);
        r.hdr = (struct ctl_hdr) { .type = htole16(CTL_MSG_CLIENT | CTL_MSG_REPLY), .seq = htole32(seq) };
        r.pid = htole32((uint32_t) cl->pid);
        r.uid = htole32((uint32_t) cl->uid);
        r.gid = htole32((uint32_t) cl->gid);
        r.registrations = htole32(cl->n_registrations);
        control_read_comm(cl->pid, r.comm, sizeof r.comm);
        return control_send(cc, &r, sizeof(r));
}

static int control_reg(ControlConn *cc, uint32_t seq, Guest *g, uint32_t index) {
        struct ctl_reg_reply r = { 0 };
        const Reg *reg = NULL;
        const RegStats *slot;
        uint32_t i = 0;

        for (Client *cl = g->clients; cl && !reg; cl = cl->next) {
                if (!control_client_listed(cl))
                        continue;
                for (const Reg *x = cl->registrations; x; x = x->next)
                        if (i++ == index) {
                                reg = x;
                                break;
                        }
        }
        if (!reg)
                return control_send_reply(cc, CTL_MSG_REG, seq, -ENOENT, 0);
        r.hdr = (struct ctl_hdr) { .type = htole16(CTL_MSG_REG | CTL_MSG_REPLY), .seq = htole32(seq) };
        r.owner_pid = htole32(reg->owner ? (uint32_t) reg->owner->pid : 0);
        r.space = reg->key.space;
        r.len = reg->key.len;
        r.match = control_match_mode(&reg->key);
        r.addr = htole64(reg->key.addr);
        r.value = htole64(reg->key.value);
        r.mask = htole64(reg->key.mask);
        slot = control_reg_slot(g, &reg->key);
        if (slot) {
                r.counted = 1;
                r.kicks = htole64(__atomic_load_n(&slot->kicks, __ATOMIC_RELAXED));
                r.last_kick_ns = htole64(__atomic_load_n(&slot->last_kick_ns, __ATOMIC_RELAXED));
        }
        return control_send(cc, &r, sizeof(r));
}

/*
 * The worker's counters of the irqfd or claim the parent gave id: the slot
 * whose id matches (the memfd's word, compared and never used as an index),
 * copied into ret; false if the worker has none for it.
 */
static bool control_irqfd_counters(const Guest *g, uint32_t id, IrqfdStats *ret) {
        for (unsigned i = 0; i < STATS_MAX_IRQFDS; i++) {
                const IrqfdStats *s = &g->stats->irqfds[i];

                if (__atomic_load_n(&s->id, __ATOMIC_RELAXED) != id)
                        continue;
                *ret = (IrqfdStats) {
                        .id = id,
                        .signals = __atomic_load_n(&s->signals, __ATOMIC_RELAXED),
                        .injections = __atomic_load_n(&s->injections, __ATOMIC_RELAXED),
                        .errors = __atomic_load_n(&s->errors, __ATOMIC_RELAXED),
                };
                return true;
        }
        return false;
}

static bool control_claim_counters(const Guest *g, uint32_t id, ClaimStats *ret) {
        for (unsigned i = 0; i < STATS_MAX_CLAIMS; i++) {
                const ClaimStats *s = &g->stats->claims[i];

                if (__atomic_load_n(&s->id, __ATOMIC_RELAXED) != id)
                        continue;
                *ret = (ClaimStats) {
                        .id = id,
                        .forwarded = __atomic_load_n(&s->forwarded, __ATOMIC_RELAXED),
                        .answered = __atomic_load_n(&s->answered, __ATOMIC_RELAXED),
                        .expired = __atomic_load_n(&s->expired, __ATOMIC_RELAXED),
                };
                return true;
        }
        return false;
}

/*
 * The listed connection holding the guest's object at index, counting
 * count(connection) objects per connection; *ret_k: its position in that
 * connection's list.
 */
static const Client *control_holder(const Guest *g, uint32_t index, unsigned (*count)(const Client *),
                                    uint32_t *ret_k) {
        for (const Client *cl = g->clients; cl; cl = cl->next) {
                unsigned n;

                if (!control_client_listed(cl))
                        continue;
                n = count(cl);
                if (index < n) {
                        *ret_k = index;
                        return cl;
                }
                index -= n;
        }
        return NULL;
}

static unsigned control_count_irqfds(const Client *cl) {
        return cl->n_irqfds;
}

static unsigned control_count_claims(const Client *cl) {
        return cl->n_claims;
}

static int control_irqfd(ControlConn *cc, uint32_t seq, Guest *g, uint32_t index) {
        struct ctl_irqfd_reply r = { 0 };
        const ParentIrqfd *f = NULL;
        const Client *cl = control_holder(g, index, control_count_irqfds, &index);
        IrqfdStats st;

        for (f = cl ? cl->irqfds : NULL; f && index > 0; index--)
                f = f->next;
        if (!f)
                return control_send_reply(cc, CTL_MSG_IRQFD, seq, -ENOENT, 0);
        r.hdr = (struct ctl_hdr) { .type = htole16(CTL_MSG_IRQFD | CTL_MSG_REPLY), .seq = htole32(seq) };
        r.owner_pid = htole32(f->owner ? (uint32_t) f->owner->pid : 0);
        r.owner_uid = htole32(f->owner ? (uint32_t) f->owner->uid : 0);
        r.id = htole32(f->spec.id);
        r.irq = htole32(f->spec.irq);
        r.msi_data = htole32(f->spec.msi_data);
        r.segment = htole16(f->spec.segment);
        r.action = f->spec.action;
        r.mode = f->spec.mode;
        r.bus = f->spec.bus;
        r.device = f->spec.device;
        r.pin = f->spec.pin;
        r.msi_addr = htole64(f->spec.msi_addr);
        if (control_irqfd_counters(g, f->id, &st)) {
                r.counted = 1;
                r.signals = htole64(st.signals);
                r.injections = htole64(st.injections);
                r.errors = htole64(st.errors);
        }
        return control_send(cc, &r, sizeof(r));
}

static int control_claim(ControlConn *cc, uint32_t seq, Guest *g, uint32_t index) {
        struct ctl_claim_reply r = { 0 };
        const ParentClaim *c = NULL;
        const Client *cl = control_holder(g, index, control_count_claims, &index);
        ClaimStats st;

        for (c = cl ? cl->claims : NULL; c && index > 0; index--)
                c = c->next;
        if (!c)
                return control_send_reply(cc, CTL_MSG_CLAIM, seq, -ENOENT, 0);
        r.hdr = (struct ctl_hdr) { .type = htole16(CTL_MSG_CLAIM | CTL_MSG_REPLY), .seq = htole32(seq) };
        r.owner_pid = htole32(c->owner ? (uint32_t) c->owner->pid : 0);
        r.owner_uid = htole32(c->owner ? (uint32_t) c->owner->uid : 0);
        r.id = htole32(c->claim.id);
        r.deadline_ms = htole32(c->claim.deadline_ms);
        r.space = c->claim.space;
        r.addr = htole64(c->claim.addr);
        r.len = htole64(c->claim.len);
        if (control_claim_counters(g, c->id, &st)) {
                r.counted = 1;
                r.forwarded = htole64(st.forwarded);
                r.answered = htole64(st.answered);
                r.expired = htole64(st.expired);
        }
        return control_send(cc, &r, sizeof(r));
}

static int control_hist(ControlConn *cc, uint32_t seq, Guest *g) {
        struct ctl_hist_reply r = { 0 };
        const LatencyHist *h = &g->stats->ctl.latency;
        uint64_t count = 0;

        r.hdr = (struct ctl_hdr) { .type = htole16(CTL_MSG_HIST | CTL_MSG_REPLY), .seq = htole32(seq) };
        r.n_buckets = htole32(CTL_HIST_BUCKETS);
        /* a snapshot while the worker counts on: count is the buckets' sum, so the two always agree */
        for (unsigned i = 0; i < CTL_HIST_BUCKETS; i++) {
                uint64_t b = __atomic_load_n(&h->buckets[i], __ATOMIC_RELAXED);

                count += b;
                r.buckets[i] = htole64(b);
        }
        r.count = htole64(count);
        r.sum_ns = htole64(__atomic_load_n(&h->sum_ns, __ATOMIC_RELAXED));
        return control_send(cc, &r, sizeof(r));
}

/* ---- requests ---- */

static int control_item(ControlConn *cc, const CtlRequest *req) {
        Guest *g;

        if (req->type == CTL_MSG_GUEST && req->name[0] == '\0')
                g = control_guest_at(cc->ctl, req->index);
        else
                g = control_guest_named(cc->ctl, req->name);
        if (!g)
                return control_send_reply(cc, req->type, req->seq, -ENOENT, 0);

        switch (req->type) {
        case CTL_MSG_GUEST:     return control_guest(cc, req->seq, g);
        case CTL_MSG_CLIENT:    return control_client(cc, req->seq, g, req->index);
        case CTL_MSG_REG:       return control_reg(cc, req->seq, g, req->index);
        case CTL_MSG_IRQFD:     return control_irqfd(cc, req->seq, g, req->index);
        case CTL_MSG_CLAIM:     return control_claim(cc, req->seq, g, req->index);
        default:                return control_hist(cc, req->seq, g);
        }
}

/* One packet of len bytes: 0 (answered), or -errno to close the connection. */
static int control_handle(ControlConn *cc, const uint8_t *buf, size_t len) {
        CtlRequest req;
        uint16_t type;
        uint32_t seq;
        int r;

        /* no header: no reply can be formed */
        r = ctlproto_decode_header(buf, len, &type, &seq);
        if (r < 0)
                return r;
        if (cc->refuse_error) {
                (void) control_send_reply(cc, type, seq, -cc->refuse_error, 0);
                return -cc->refuse_error;
        }

        r = ctlproto_decode_request(buf, len, cc->version, &req);
        if (r < 0) {
                log_ratelimit(&control_log, LOG_DEBUG, "Control connection of pid %d: bad request 0x%04x (%zu bytes): %s",
                              (int) cc->pid, type, len, strerror(-r));
                return control_send_reply(cc, type, seq, r, 0);
        }

        switch (req.type) {
        case CTL_MSG_HELLO:
                if (req.version_min > CTL_PROTO_VERSION || req.version_max < CTL_PROTO_VERSION_MIN)
                        return control_send_reply(cc, req.type, req.seq, -EPROTONOSUPPORT, 0);
                /* the newest both speak */
                cc->version = req.version_max < CTL_PROTO_VERSION ? req.version_max : CTL_PROTO_VERSION;
                return control_send_reply(cc, req.type, req.seq, 0, cc->version);
        case CTL_MSG_STATUS:
                return control_status(cc, req.seq);
        default:
                return control_item(cc, &req);
        }
}

static void control_io_cb(struct ev_loop *loop, ev_io *w, int revents) {
        ControlConn *cc = container_of(w, ControlConn, io);

        for (unsigned n = 0; n < CONTROL_BURST; n++) {
                uint8_t buf[CTL_MSG_MAX];
                struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
                struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
                ssize_t len;
                int r;

                /* no control buffer: descriptors sent here are closed by the kernel and flagged MSG_CTRUNC */
                len = recvmsg(cc->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
                if (len < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return;
                        r = -errno;
                } else if (len == 0)
                        r = -ECONNRESET;
                else if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
                        r = -EBADMSG;
                else
                        r = control_handle(cc, buf, (size_t) len);
                if (r < 0) {
                        if (r != -ECONNRESET)
                                log_ratelimit_errno(&control_log, LOG_DEBUG, r,
                                                    "Closing control connection of pid %d uid %u: %m", (int) cc->pid,
                                                    (unsigned) cc->uid);
                        control_conn_free(cc);
                        return;
                }
        }
}

static void control_refuse_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents) {
        control_conn_free(container_of(w, ControlConn, refuse_timer));
}

static void control_accepted(Listener *l, int fd, const struct ucred *cred, void *userdata) {
        Control *c = userdata;
        ControlConn *cc;

        cc = calloc(1, sizeof(*cc));
        if (!cc) {
                close(fd);
                return;
        }
        cc->ctl = c;
        cc->fd = fd;
        cc->uid = cred->uid;
        cc->pid = cred->pid;
        /* root only, whatever the socket's mode says; and a bounded number of connections */
        if (cred->uid != 0)
                cc->refuse_error = EPERM;
        else if (c->n_conns >= c->max_conns)
                cc->refuse_error = EUSERS;
        if (cc->refuse_error)
                log_ratelimit(&control_log, LOG_DEBUG, "Control connection of pid %d uid %u refused: %s",
                              (int) cred->pid, (unsigned) cred->uid, strerror(cc->refuse_error));
        ev_io_init(&cc->io, control_io_cb, fd, EV_READ);
        ev_io_start(c->loop, &cc->io);
        ev_timer_init(&cc->refuse_timer, control_refuse_timeout_cb, CONTROL_REFUSE_TIMEOUT, 0.);
        if (cc->refuse_error)
                ev_timer_start(c->loop, &cc->refuse_timer);
        cc->next = c->conns;
        if (c->conns)
                c->conns->prev = cc;
        c->conns = cc;
        c->n_conns++;
}

/* ---- kicks per second ---- */

static void control_rate_cb(struct ev_loop *loop, ev_timer *w, int revents) {
        Control *c = container_of(w, Control, rate);
        uint64_t now = control_clock_ns(CLOCK_MONOTONIC);

        for (Guest *g = c->m->guests; g; g = g->next) {
                CtlStats *s = &g->stats->ctl;
                uint64_t kicks = control_totals(g).kicks;

                if (s->rate_ns != 0 && now > s->rate_ns && kicks >= s->rate_kicks)
                        s->rate_milli = (uint64_t) ((double) (kicks - s->rate_kicks) * 1e12 / (double) (now - s->rate_ns));
                else
                        s->rate_milli = 0;
                s->rate_kicks = kicks;
                s->rate_ns = now;
        }
}

/* ---- life cycle ---- */

int control_new(Control **ret, struct ev_loop *loop, Manager *m, const char *path, unsigned max_connections,
                int inherited_fd) {
        Control *c;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->loop = loop;
        c->m = m;
        c->max_conns = max_connections;
        c->started_ns = control_clock_ns(CLOCK_REALTIME);
        r = listener_open(&c->listener, loop, "control", path, 0, 0, 0600, inherited_fd, true, control_accepted, c);
        if (r < 0) {
                free(c);
                return r;
        }
        ev_timer_init(&c->rate, control_rate_cb, CONTROL_RATE_PERIOD, CONTROL_RATE_PERIOD);
        ev_timer_start(loop, &c->rate);
        *ret = c;
        return 0;
}

void control_set_max_connections(Control *c, unsigned max_connections) {
        if (c)
                c->max_conns = max_connections;
}

Control *control_free(Control *c) {
        if (!c)
                return NULL;
        ev_timer_stop(c->loop, &c->rate);
        while (c->conns)
                control_conn_free(c->conns);
        listener_close(&c->listener);
        free(c);
        return NULL;
}
