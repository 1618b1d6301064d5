/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xen-ioreqctl: what xen-ioreqd is doing, through its control socket
 * (shared/ctlproto.h, xen-ioreqd-protocol(7)).  The daemon answers one
 * fixed-size packet per request; this program asks item by item and renders
 * text, JSON or the Prometheus text format (ctl-output.c).
 */
#define _GNU_SOURCE 1
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define CTL_TIMEOUT_MS  5000
#define CTL_MAX_ITEMS   (1u << 20)      /* a bound on any listing */

struct Ctl {
        int fd;
        uint32_t seq;
        const char *path;
};

static uint64_t ctl_clock_ns(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

/*
 * One request (len bytes in req, encoded with seq c->seq), its reply of
 * reply_len bytes: 0, the daemon's error as -errno, or
 * -EBADMSG/-EPROTO/-ETIMEDOUT/... when the reply is not what was asked.
 */
static int ctl_call(Ctl *c, const void *req, size_t len, uint16_t type, void *reply, size_t reply_len) {
        uint8_t buf[CTL_MSG_MAX];
        struct ctl_hdr rh;
        struct ctl_reply err;
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        ssize_t n;
        int r;

        if (send(c->fd, req, len, MSG_NOSIGNAL) != (ssize_t) len)
                return -errno;
        r = poll(&pfd, 1, CTL_TIMEOUT_MS);
        if (r < 0)
                return -errno;
        if (r == 0)
                return -ETIMEDOUT;
        n = recv(c->fd, buf, sizeof(buf), MSG_TRUNC);
        if (n < 0)
                return -errno;
        if (n == 0)
                return -ECONNRESET;
        if ((size_t) n > sizeof(buf) || (size_t) n < sizeof(rh))
                return -EBADMSG;
        memcpy(&rh, buf, sizeof(rh));
        if (le16toh(rh.type) != (type | CTL_MSG_REPLY) || le32toh(rh.seq) != c->seq || rh.flags != 0)
                return -EPROTO;
        if ((size_t) n == sizeof(err) && (size_t) n != reply_len) {
                memcpy(&err, buf, sizeof(err));
                r = (int32_t) le32toh((uint32_t) err.error);
                return r > 0 && r < 4096 ? -r : -EBADMSG;
        }
        if ((size_t) n != reply_len)
                return -EBADMSG;
        memcpy(reply, buf, reply_len);
        memcpy(&err, buf, sizeof(err));
        r = (int32_t) le32toh((uint32_t) err.error);
        return r == 0 ? 0 : r > 0 && r < 4096 ? -r : -EBADMSG;
}

int ctl_open(Ctl **ret, const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uint8_t hello[CTL_MSG_MAX];
        struct ctl_reply reply;
        size_t n;
        Ctl *c;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "xen-ioreqctl: socket path too long: %s\n", path);
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, path);
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->path = path;
        c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
                r = -errno;
                free(c);
                return r;
        }
        if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                if (r == -EACCES || r == -EPERM)
                        fprintf(stderr, "xen-ioreqctl: permission denied on %s: the control socket is root's only, "
                                "run xen-ioreqctl as root\n", path);
                else if (r == -ENOENT || r == -ECONNREFUSED)
                        fprintf(stderr, "xen-ioreqctl: xen-ioreqd is not running (no control socket at %s)\n", path);
                else
                        fprintf(stderr, "xen-ioreqctl: cannot connect to %s: %s\n", path, strerror(-r));
                goto fail;
        }
        n = ctlproto_encode_hello(hello, ++c->seq, CTL_PROTO_VERSION, CTL_PROTO_VERSION);
        r = ctl_call(c, hello, n, CTL_MSG_HELLO, &reply, sizeof(reply));
        if (r == -EPERM) {
                fprintf(stderr, "xen-ioreqctl: xen-ioreqd refuses uid %u on %s: only root may use it\n",
                        (unsigned) getuid(), path);
                goto fail;
        }
        if (r < 0) {
                fprintf(stderr, "xen-ioreqctl: xen-ioreqd on %s did not accept the control protocol version %u: %s\n",
                        path, CTL_PROTO_VERSION, strerror(-r));
                goto fail;
        }
        if (le32toh(reply.version) != CTL_PROTO_VERSION) {
                r = -EPROTO;
                fprintf(stderr, "xen-ioreqctl: xen-ioreqd on %s chose control protocol version %u, not %u\n", path,
                        (unsigned) le32toh(reply.version), CTL_PROTO_VERSION);
                goto fail;
        }
        *ret = c;
        return 0;
fail:
        close(c->fd);
        free(c);
        return r;
}

Ctl *ctl_close(Ctl *c) {
        if (c) {
                close(c->fd);
                free(c);
        }
        return NULL;
}

int ctl_status(Ctl *c, CtlStatus *ret) {
        uint8_t req[CTL_MSG_MAX];
        struct ctl_status_reply r;
        size_t n = ctlproto_encode_status(req, ++c->seq);
        int e;

        e = ctl_call(c, req, n, CTL_MSG_STATUS, &r, sizeof(r));
        if (e < 0)
                return e;
        memset(ret, 0, sizeof(*ret));
        memcpy(ret->version, r.version, sizeof(r.version));
        ret->version[sizeof(ret->version) - 1] = '\0';
        ret->started_ns = le64toh(r.started_ns);
        ret->now_ns = ctl_clock_ns(CLOCK_REALTIME);
        ret->guests = le32toh(r.guests);
        ret->running = le32toh(r.running);
        ret->serving = le32toh(r.serving);
        ret->workers = le32toh(r.workers);
        ret->clients = le32toh(r.clients);
        ret->registrations = le32toh(r.registrations);
        ret->kicks = le64toh(r.kicks);
        ret->unmatched = le64toh(r.unmatched);
        ret->reads = le64toh(r.reads);
        ret->invalid = le64toh(r.invalid);
        ret->other = le64toh(r.other);
        ret->irqfds = le32toh(r.irqfds);
        ret->claims = le32toh(r.claims);
        ret->saturated = le64toh(r.saturated);
        ret->forwarded = le64toh(r.forwarded);
        ret->expired = le64toh(r.expired);
        ret->injected = le64toh(r.injected);
        ret->inject_errors = le64toh(r.inject_errors);
        return 0;
}

static int ctl_item(Ctl *c, uint16_t type, const char *name, uint32_t index, void *reply, size_t len) {
        uint8_t req[CTL_MSG_MAX];
        size_t n;

        /* no guest has a longer name */
        if (name && strlen(name) >= CTL_NAME_SIZE)
                return -ENOENT;
        n = ctlproto_encode_item(req, type, ++c->seq, index, name);
        return ctl_call(c, req, n, type, reply, len);
}

static void ctl_guest_from(CtlGuest *g, const struct ctl_guest_reply *r) {
        memset(g, 0, sizeof(*g));
        memcpy(g->name, r->name, sizeof(r->name));
        g->name[sizeof(g->name) - 1] = '\0';
        g->domid = le32toh(r->domid);
        g->state = le32toh(r->state);
        g->server_id = le32toh(r->server_id);
        g->nr_vcpus = le32toh(r->nr_vcpus);
        g->clients = le32toh(r->clients);
        g->registrations = le32toh(r->registrations);
        g->last_error = (int32_t) le32toh((uint32_t) r->last_error);
        g->worker_pid = le32toh(r->worker_pid);
        g->worker_cpu_ns = le64toh(r->worker_cpu_ns);
        g->kicks = le64toh(r->kicks);
        g->unmatched = le64toh(r->unmatched);
        g->reads = le64toh(r->reads);
        g->invalid = le64toh(r->invalid);
        g->other = le64toh(r->other);
        g->kicks_per_s = (double) le64toh(r->kicks_per_s_milli) / 1000.0;
        g->irqfds = le32toh(r->irqfds);
        g->claims = le32toh(r->claims);
        g->saturated = le64toh(r->saturated);
        g->forwarded = le64toh(r->forwarded);
        g->expired = le64toh(r->expired);
        g->injected = le64toh(r->injected);
        g->inject_errors = le64toh(r->inject_errors);
}

int ctl_guest(Ctl *c, const char *name, CtlGuest *ret) {
        struct ctl_guest_reply r;
        int e = ctl_item(c, CTL_MSG_GUEST, name, 0, &r, sizeof(r));

        if (e < 0)
                return e;
        ctl_guest_from(ret, &r);
        return 0;
}

/*
 * A listing: item requests of type at index 0, 1, ... until ENOENT, each
 * reply (reply_len bytes) converted into an element of elem_size bytes.
 */
static int ctl_list(Ctl *c, uint16_t type, const char *name, size_t reply_len, size_t elem_size,
                    void (*convert)(void *elem, const void *reply), void **ret, size_t *ret_n) {
        uint8_t reply[CTL_MSG_MAX];
        char *v = NULL;
        size_t n = 0;
        int e;

        for (uint32_t i = 0; i < CTL_MAX_ITEMS; i++) {
                char *nv;

                e = ctl_item(c, type, name, i, reply, reply_len);
                if (e == -ENOENT)
                        break;
                if (e < 0) {
                        free(v);
                        return e;
                }
                nv = realloc(v, (n + 1) * elem_size);
                if (!nv) {
                        free(v);
                        return -ENOMEM;
                }
                v = nv;
                convert(v + n * elem_size, reply);
                n++;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static void ctl_guest_convert(void *elem, const void *reply) {
        struct ctl_guest_reply r;

        memcpy(&r, reply, sizeof(r));
        ctl_guest_from(elem, &r);
}

int ctl_guests(Ctl *c, CtlGuest **ret, size_t *ret_n) {
        return ctl_list(c, CTL_MSG_GUEST, NULL, sizeof(struct ctl_guest_reply), sizeof(CtlGuest), ctl_guest_convert,
                        (void **) ret, ret_n);
}

static void ctl_client_convert(void *elem, const void *reply) {
        struct ctl_client_reply r;
        CtlClient *cl = elem;

        memcpy(&r, reply, sizeof(r));
        *cl = (CtlClient) {
                .pid = le32toh(r.pid),
                .uid = le32toh(r.uid),
                .gid = le32toh(r.gid),
                .registrations = le32toh(r.registrations),
        };
        memcpy(cl->comm, r.comm, sizeof(r.comm));
        cl->comm[sizeof(cl->comm) - 1] = '\0';
}

int ctl_clients(Ctl *c, const char *name, CtlClient **ret, size_t *ret_n) {
        return ctl_list(c, CTL_MSG_CLIENT, name, sizeof(struct ctl_client_reply), sizeof(CtlClient),
                        ctl_client_convert, (void **) ret, ret_n);
}

static void ctl_reg_convert(void *elem, const void *reply) {
        struct ctl_reg_reply r;

        memcpy(&r, reply, sizeof(r));
        *(CtlReg *) elem = (CtlReg) {
                .owner_pid = le32toh(r.owner_pid),
                .space = r.space,
                .len = r.len,
                .match = r.match,
                .counted = r.counted != 0,
                .addr = le64toh(r.addr),
                .value = le64toh(r.value),
                .mask = le64toh(r.mask),
                .kicks = le64toh(r.kicks),
                .last_kick_ns = le64toh(r.last_kick_ns),
        };
}

int ctl_regs(Ctl *c, const char *name, CtlReg **ret, size_t *ret_n) {
        return ctl_list(c, CTL_MSG_REG, name, sizeof(struct ctl_reg_reply), sizeof(CtlReg), ctl_reg_convert,
                        (void **) ret, ret_n);
}

static void ctl_irqfd_convert(void *elem, const void *reply) {
        struct ctl_irqfd_reply r;

        memcpy(&r, reply, sizeof(r));
        *(CtlIrqfd *) elem = (CtlIrqfd) {
                .owner_pid = le32toh(r.owner_pid),
                .owner_uid = le32toh(r.owner_uid),
                .id = le32toh(r.id),
                .action = r.action,
                .mode = r.mode,
                .irq = le32toh(r.irq),
                .segment = le16toh(r.segment),
                .bus = r.bus,
                .device = r.device,
                .pin = r.pin,
                .msi_addr = le64toh(r.msi_addr),
                .msi_data = le32toh(r.msi_data),
                .counted = r.counted != 0,
                .signals = le64toh(r.signals),
                .injections = le64toh(r.injections),
                .errors = le64toh(r.errors),
        };
}

int ctl_irqfds(Ctl *c, const char *name, CtlIrqfd **ret, size_t *ret_n) {
        return ctl_list(c, CTL_MSG_IRQFD, name, sizeof(struct ctl_irqfd_reply), sizeof(CtlIrqfd), ctl_irqfd_convert,
                        (void **) ret, ret_n);
}

static void ctl_claim_convert(void *elem, const void *reply) {
        struct ctl_claim_reply r;

        memcpy(&r, reply, sizeof(r));
        *(CtlClaim *) elem = (CtlClaim) {
                .owner_pid = le32toh(r.owner_pid),
                .owner_uid = le32toh(r.owner_uid),
                .id = le32toh(r.id),
                .space = r.space,
                .addr = le64toh(r.addr),
                .len = le64toh(r.len),
                .deadline_ms = le32toh(r.deadline_ms),
                .counted = r.counted != 0,
                .forwarded = le64toh(r.forwarded),
                .answered = le64toh(r.answered),
                .expired = le64toh(r.expired),
        };
}

int ctl_claims(Ctl *c, const char *name, CtlClaim **ret, size_t *ret_n) {
        return ctl_list(c, CTL_MSG_CLAIM, name, sizeof(struct ctl_claim_reply), sizeof(CtlClaim), ctl_claim_convert,
                        (void **) ret, ret_n);
}

int ctl_hist(Ctl *c, const char *name, CtlHist *ret) {
        struct ctl_hist_reply r;
        int e = ctl_item(c, CTL_MSG_HIST, name, 0, &r, sizeof(r));

        if (e < 0)
                return e;
        if (le32toh(r.n_buckets) != CTL_HIST_BUCKETS)
                return -EBADMSG;
        ret->count = le64toh(r.count);
        ret->sum_ns = le64toh(r.sum_ns);
        for (unsigned i = 0; i < CTL_HIST_BUCKETS; i++)
                ret->buckets[i] = le64toh(r.buckets[i]);
        return 0;
}

/* ---- the command line ---- */

static void usage(FILE *f) {
        fprintf(f,
                "Usage: xen-ioreqctl [-s SOCKET] [-j] COMMAND\n"
                "  status                 the daemon: version, uptime, guests, totals\n"
                "  guests                 one line per configured guest\n"
                "  show GUEST             a guest's clients, registrations, irqfds, claims, latency\n"
                "  top [-d SEC] [-n N]    refreshing view of every guest (N iterations, then exit)\n"
                "  metrics [-o FILE]      Prometheus text format (FILE: written atomically)\n"
                "Options:\n"
                "  -s, --socket SOCKET    the control socket (default %s)\n"
                "  -j, --json             JSON output (status, guests, show, top)\n"
                "  -h, --help             this help\n"
                "  -V, --version          print the version\n",
                CTL_DEFAULT_SOCKET);
}

static int ctl_error(const char *what, int r) {
        if (r == -ENOENT)
                fprintf(stderr, "xen-ioreqctl: %s: no such guest\n", what);
        else
                fprintf(stderr, "xen-ioreqctl: %s: %s\n", what, strerror(-r));
        return EXIT_FAILURE;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *ret) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v > max)
                return false;
        *ret = v;
        return true;
}

/* Write the metrics to path through a temporary file in its directory, renamed over it. */
static int metrics_to_file(Ctl *c, const char *path) {
        char tmp[4096];
        FILE *f;
        int fd, r;

        if ((size_t) snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= sizeof tmp)
                return -ENAMETOOLONG;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "w");
        if (!f) {
                r = -errno;
                close(fd);
                unlink(tmp);
                return r;
        }
        r = ctl_print_metrics(c, f);
        if (r >= 0 && fchmod(fd, 0644) < 0)
                r = -errno;
        if (fflush(f) != 0 && r >= 0)
                r = -errno;
        if (fclose(f) != 0 && r >= 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "socket", required_argument, NULL, 's' },
                { "json", no_argument, NULL, 'j' },
                { "delay", required_argument, NULL, 'd' },
                { "iterations", required_argument, NULL, 'n' },
                { "output", required_argument, NULL, 'o' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        const char *path = getenv("XEN_IOREQCTL_SOCKET"), *output = NULL, *cmd;
        unsigned long delay = 1, iterations = 0;
        bool json = false;
        Ctl *c = NULL;
        int opt, r;

        if (!path || !path[0])
                path = CTL_DEFAULT_SOCKET;
        while ((opt = getopt_long(argc, argv, "s:jd:n:o:hV", opts, NULL)) != -1)
                switch (opt) {
                case 's': path = optarg; break;
                case 'j': json = true; break;
                case 'd':
                        if (!parse_uint(optarg, 3600, &delay) || delay == 0) {
                                fprintf(stderr, "xen-ioreqctl: -d: a number of seconds, 1..3600\n");
                                return 2;
                        }
                        break;
                case 'n':
                        if (!parse_uint(optarg, 1000000, &iterations) || iterations == 0) {
                                fprintf(stderr, "xen-ioreqctl: -n: a number of iterations, 1..1000000\n");
                                return 2;
                        }
                        break;
                case 'o': output = optarg; break;
                case 'h': usage(stdout); return EXIT_SUCCESS;
                case 'V': printf("xen-ioreqctl %s\n", CTL_VERSION); return EXIT_SUCCESS;
                default: usage(stderr); return 2;
                }
        /* GNU getopt permutes: options may follow the command too ("top -n 3", "show vm1 --json") */
        if (optind >= argc) {
                usage(stderr);
                return 2;
        }
        cmd = argv[optind++];
        {
                const char *arg = optind < argc ? argv[optind++] : NULL;

                if (optind < argc) {
                        fprintf(stderr, "xen-ioreqctl: %s: unexpected argument \"%s\"\n", cmd, argv[optind]);
                        return 2;
                }
                if ((strcmp(cmd, "show") == 0) != (arg != NULL)) {
                        fprintf(stderr, arg ? "xen-ioreqctl: %s takes no argument\n"
                                            : "xen-ioreqctl: %s needs a guest name\n", cmd);
                        return 2;
                }
                if (strcmp(cmd, "status") != 0 && strcmp(cmd, "guests") != 0 && strcmp(cmd, "show") != 0 &&
                    strcmp(cmd, "top") != 0 && strcmp(cmd, "metrics") != 0) {
                        fprintf(stderr, "xen-ioreqctl: unknown command \"%s\" (see --help)\n", cmd);
                        return 2;
                }
                if (output && strcmp(cmd, "metrics") != 0) {
                        fprintf(stderr, "xen-ioreqctl: -o is an option of metrics only\n");
                        return 2;
                }
                if (json && strcmp(cmd, "metrics") == 0) {
                        fprintf(stderr, "xen-ioreqctl: metrics has one format, the Prometheus text format\n");
                        return 2;
                }

                r = ctl_open(&c, path);
                if (r < 0)
                        return EXIT_FAILURE;

                if (strcmp(cmd, "status") == 0)
                        r = ctl_print_status(c, stdout, json);
                else if (strcmp(cmd, "guests") == 0)
                        r = ctl_print_guests(c, stdout, json);
                else if (strcmp(cmd, "show") == 0)
                        r = ctl_print_show(c, stdout, arg, json);
                else if (strcmp(cmd, "top") == 0)
                        r = ctl_top(c, stdout, json, (unsigned) delay, (unsigned) iterations);
                else if (output)
                        r = metrics_to_file(c, output);
                else
                        r = ctl_print_metrics(c, stdout);
                ctl_close(c);
                if (r < 0)
                        return ctl_error(arg ? arg : cmd, r);
                if (fflush(stdout) != 0 || ferror(stdout)) {
                        fprintf(stderr, "xen-ioreqctl: cannot write the output: %s\n", strerror(errno));
                        return EXIT_FAILURE;
                }
        }
        return EXIT_SUCCESS;
}
