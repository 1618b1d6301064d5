/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim - command line of the xensim guest driver (toolstack and guest vCPUs).
 * See sim/README.md for the commands; exit status: 0 ok, 1 error, 2 usage, 3 a vCPU hung,
 * 4 the domain crashed (or is shutting down), 5 no such domain.
 */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_blk.h>

#include "xensim-guest.h"
#include "xensim-virtio.h"

enum { EX_OK = 0, EX_ERR = 1, EX_USAGE = 2, EX_HUNG = 3, EX_CRASHED = 4, EX_NODOM = 5 };

static int timeout_ms = XSG_DEFAULT_TIMEOUT_MS;

static void usage(FILE *f) {
        fputs("Usage: xensim [--dir DIR] [--timeout-ms T] COMMAND ...\n"
              "  create [--paused] [--ram BYTES] NAME VCPUS | unpause DOMID\n"
              "  destroy DOMID | crash DOMID | poweroff DOMID\n"
              "  list | servers DOMID\n"
              "  write DOMID VCPU mmio|pio ADDR SIZE VALUE | read DOMID VCPU mmio|pio ADDR SIZE\n"
              "  invalidate DOMID VCPU\n"
              "  load [--json] [--vcpus V] [--count N|--seconds T] [--read] DOMID[,DOMID...]\n"
              "       mmio|pio ADDR SIZE [VALUE]\n"
              "  blk [--json] [--vcpus V] [--count N|--seconds T] [--write PCT] [--size BYTES]\n"
              "      [--verify] DOMID BASE\n"
              "  inject request DOMID VCPU SERVER TYPE DIR ADDR SIZE COUNT PTR DATA\n"
              "  inject slot DOMID SERVER SLOT STATE [TYPE DIR ADDR SIZE DATA] [--notify VCPU]\n"
              "  inject notify DOMID SERVER VCPU\n"
              "  inject die DOMID VCPU mmio|pio ADDR SIZE [VALUE]\n"
              "  peek DOMID SERVER SLOT | irqs DOMID\n"
              "  handles [PID] | ports HANDLE | mappings DOMID [SERVER] | maphistory PID\n"
              "  evtchn alloc-unbound DOMID REMOTE_DOMID | evtchn close DOMID PORT\n"
              "  evtchn status DOMID PORT | evtchn wait-event DOMID PORT\n",
              f);
}

static int num(const char *s, uint64_t max, uint64_t *ret) {
        char *end;
        unsigned long long v;
        if (!s || !*s || *s == '-')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 0);
        if (errno || *end || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

#define NUM(s, max, dst)                                                          \
        do {                                                                      \
                uint64_t v_;                                                      \
                if (num((s), (max), &v_) < 0) {                                   \
                        fprintf(stderr, "xensim: bad number '%s'\n", (s) ? (s) : ""); \
                        return EX_USAGE;                                          \
                }                                                                 \
                dst = v_;                                                         \
        } while (0)

static int space_of(const char *s) {
        if (!strcmp(s, "mmio"))
                return XSG_MMIO;
        if (!strcmp(s, "pio"))
                return XSG_PIO;
        return -1;
}

/* Report an access failure; returns the exit status. */
static int fail(int r, uint32_t domid, unsigned vcpu, int slot_state, const char *what) {
        switch (r) {
        case -ETIMEDOUT:
                fprintf(stderr, "vCPU %u of domain %u hung: slot state %d\n", vcpu, domid,
                        slot_state);
                return EX_HUNG;
        case -EHOSTDOWN:
                fprintf(stderr, "xensim: domain %u crashed or shut down\n", domid);
                return EX_CRASHED;
        case -ESRCH:
                fprintf(stderr, "xensim: no domain %u\n", domid);
                return EX_NODOM;
        case -EAGAIN:
                fprintf(stderr, "xensim: domain %u is paused\n", domid);
                return EX_ERR;
        default:
                fprintf(stderr, "xensim: %s: %s\n", what, strerror(-r));
                return EX_ERR;
        }
}

static const char *state_name(int s) {
        switch (s) {
        case XSG_DOMAIN_RUNNING:
                return "running";
        case XSG_DOMAIN_CRASHED:
                return "crashed";
        case XSG_DOMAIN_DYING:
                return "dying";
        case XSG_DOMAIN_SHUTDOWN:
                return "shutdown";
        default:
                return "?";
        }
}

static int cmd_list(xsg *g) {
        struct xsg_domain_info *d = calloc(2048, sizeof(*d));
        int n;
        if (!d)
                return EX_ERR;
        n = xsg_domain_list(g, d, 2048);
        for (int i = 0; i < n && i < 2048; i++)
                printf("%u %u %s %s\n", d[i].domid, d[i].nr_vcpus,
                       d[i].paused && d[i].state == XSG_DOMAIN_RUNNING ? "paused"
                                                                      : state_name(d[i].state),
                       d[i].name);
        free(d);
        return n < 0 ? EX_ERR : EX_OK;
}

static int cmd_servers(xsg *g, uint32_t domid) {
        struct xsg_server_info s[XSG_MAX_SERVERS];
        struct xsg_domain_info di;
        struct xsg_range *rg;
        int n, r;

        r = xsg_domain_info(g, domid, &di);
        if (r < 0)
                return fail(r, domid, 0, 0, "servers");
        n = xsg_servers(g, domid, s, XSG_MAX_SERVERS);
        if (n < 0)
                return fail(n, domid, 0, 0, "servers");
        rg = calloc(XSG_MAX_RANGES, sizeof(*rg));
        if (!rg)
                return EX_ERR;
        for (int i = 0; i < n && i < XSG_MAX_SERVERS; i++) {
                printf("server %u %s vp_eport=", s[i].id, s[i].enabled ? "enabled" : "disabled");
                for (unsigned v = 0; v < di.nr_vcpus; v++)
                        printf("%s%u", v ? "," : "", s[i].vp_eport[v]);
                printf(" bound=");
                for (unsigned v = 0; v < di.nr_vcpus; v++)
                        printf("%s%u", v ? "," : "", s[i].bound_port[v]);
                printf("\n");
                for (int sp = XSG_PIO; sp <= XSG_MMIO; sp++) {
                        int m = xsg_server_ranges(g, domid, s[i].id, sp, rg, XSG_MAX_RANGES);
                        for (int k = 0; k < m && k < (int)XSG_MAX_RANGES; k++)
                                printf("  %s 0x%" PRIx64 "-0x%" PRIx64 "\n",
                                       sp == XSG_MMIO ? "mmio" : "pio", rg[k].start, rg[k].end);
                }
        }
        free(rg);
        return EX_OK;
}

/* ---- introspection ---- */

static const char *kind_name(enum xsg_handle_kind k) {
        switch (k) {
        case XSG_HANDLE_GUEST:
                return "guest";
        case XSG_HANDLE_DEVICEMODEL:
                return "devicemodel";
        case XSG_HANDLE_FOREIGNMEMORY:
                return "foreignmemory";
        case XSG_HANDLE_EVTCHN:
                return "evtchn";
        default:
                return "unknown";
        }
}

/*
 * Run a listing into a buffer that grows until it holds every entry (the count may change
 * between two calls); *ret_buf is to be freed. Returns the count or -errno.
 */
static int list_all(int (*list)(xsg *g, const uint64_t *a, void *buf, size_t n), xsg *g,
                    const uint64_t *a, size_t size, void **ret_buf) {
        size_t cap = 64;
        void *buf = NULL;
        int n;

        for (;;) {
                void *nb = realloc(buf, cap * size);
                if (!nb) {
                        free(buf);
                        return -ENOMEM;
                }
                buf = nb;
                n = list(g, a, buf, cap);
                if (n < 0 || (size_t)n <= cap)
                        break;
                cap = (size_t)n + 64;
        }
        if (n < 0) {
                free(buf);
                return n;
        }
        *ret_buf = buf;
        return n;
}

static int list_handles(xsg *g, const uint64_t *a, void *buf, size_t n) {
        return xsg_handles(g, (uint32_t)a[0], buf, n);
}

static int list_ports(xsg *g, const uint64_t *a, void *buf, size_t n) {
        return xsg_handle_ports(g, a[0], buf, n);
}

static int list_mappings(xsg *g, const uint64_t *a, void *buf, size_t n) {
        return xsg_server_mappings(g, (uint32_t)a[0], (unsigned)a[1], buf, n);
}

static int cmd_handles(xsg *g, uint32_t pid) {
        struct xsg_handle_info *h;
        int n = list_all(list_handles, g, (const uint64_t[]){ pid }, sizeof(*h), (void **)&h);

        if (n < 0)
                return fail(n, 0, 0, 0, "handles");
        for (int i = 0; i < n; i++) {
                printf("handle %" PRIu64 " pid=%u last=%u %s restricted=", h[i].id, h[i].pid,
                       h[i].last_pid, kind_name(h[i].kind));
                if (h[i].restricted)
                        printf("%u", h[i].restrict_domid);
                else
                        printf("no");
                printf(" ports=%u mappings=%u map_calls=%u\n", h[i].nr_ports, h[i].nr_mappings,
                       h[i].nr_map_calls);
        }
        free(h);
        return EX_OK;
}

static int cmd_ports(xsg *g, uint64_t handle) {
        struct xsg_port_info *p;
        int n = list_all(list_ports, g, (const uint64_t[]){ handle }, sizeof(*p), (void **)&p);

        if (n == -ENOENT) {
                fprintf(stderr, "xensim: no handle %" PRIu64 "\n", handle);
                return EX_ERR;
        }
        if (n < 0)
                return fail(n, 0, 0, 0, "ports");
        for (int i = 0; i < n; i++) {
                printf("port %u ", p[i].port);
                if (p[i].kind == XSG_PORT_GONE)
                        printf("gone\n");
                else if (p[i].kind == XSG_PORT_BUFIOREQ)
                        printf("dom=%u remote=%u server=%u bufioreq\n", p[i].domid,
                               p[i].remote_port, p[i].server);
                else if (p[i].kind == XSG_PORT_INTERDOMAIN)
                        printf("dom=%u remote=%u interdomain\n", p[i].domid, p[i].remote_port);
                else
                        printf("dom=%u remote=%u server=%u vcpu=%d\n", p[i].domid,
                               p[i].remote_port, p[i].server, p[i].vcpu);
        }
        free(p);
        return EX_OK;
}

static int cmd_mappings(xsg *g, uint32_t domid, unsigned server) {
        struct xsg_mapping_info *m;
        int n = list_all(list_mappings, g, (const uint64_t[]){ domid, server }, sizeof(*m),
                         (void **)&m);

        if (n < 0)
                return fail(n, domid, 0, 0, "mappings");
        for (int i = 0; i < n; i++)
                printf("map %u handle=%" PRIu64 " pid=%u server=%u frames=%s%s%s %s\n", m[i].id,
                       m[i].handle, m[i].pid, m[i].server, m[i].ioreq ? "ioreq" : "",
                       m[i].ioreq && m[i].bufioreq ? "," : "", m[i].bufioreq ? "bufioreq" : "",
                       m[i].current ? "current" : "stale");
        free(m);
        return EX_OK;
}

static int cmd_maphistory(xsg *g, uint32_t pid) {
        struct xsg_map_history m;
        int r = xsg_map_history(g, pid, &m);

        if (r < 0)
                return fail(r, 0, 0, 0, "maphistory");
        printf("maps=%" PRIu64 " refused=%" PRIu64 " alive=%u forgotten=%" PRIu64 "\n", m.maps,
               m.refused, m.alive, m.forgotten);
        return EX_OK;
}

/* The guest's own event channels: evtchn alloc-unbound|close|status|wait-event DOMID ARG. */
static int cmd_evtchn(xsg *g, int argc, char **argv) {
        struct xsg_evtchn_status st;
        const char *sub = argc > 1 ? argv[1] : "";
        uint64_t d, v;
        uint32_t port, count;
        int r;

        if (argc != 4 || num(argv[2], UINT32_MAX, &d) < 0 || num(argv[3], UINT32_MAX, &v) < 0)
                return usage(stderr), EX_USAGE;
        if (!strcmp(sub, "alloc-unbound")) {
                r = xsg_evtchn_alloc_unbound(g, (uint32_t)d, (uint32_t)v, &port);
                if (r == 0)
                        printf("%u\n", port);
        } else if (!strcmp(sub, "close")) {
                r = xsg_evtchn_close(g, (uint32_t)d, (uint32_t)v);
        } else if (!strcmp(sub, "status")) {
                r = xsg_evtchn_status(g, (uint32_t)d, (uint32_t)v, &st);
                if (r == 0)
                        printf("port %u %s remote=%u bound=%u pending=%d count=%u\n",
                               (uint32_t)v, st.state == XSG_EVTCHN_INTERDOMAIN ? "interdomain"
                                                                              : "unbound",
                               st.remote_domid, st.bound_port, st.pending, st.count);
        } else if (!strcmp(sub, "wait-event")) {
                r = xsg_evtchn_wait(g, (uint32_t)d, (uint32_t)v, timeout_ms, &count);
                if (r == 0)
                        printf("event count=%u\n", count);
                else if (r == -ETIMEDOUT || r == -EAGAIN) {
                        fprintf(stderr, "xensim: no event on port %u of domain %u\n",
                                (uint32_t)v, (uint32_t)d);
                        return EX_ERR;
                }
        } else {
                return usage(stderr), EX_USAGE;
        }
        return r < 0 ? fail(r, (uint32_t)d, 0, 0, sub) : EX_OK;
}

static int cmd_access(xsg *g, int argc, char **argv, bool write) {
        struct xsg_io io = { .dir = write ? XSG_WRITE : XSG_READ, .timeout_ms = timeout_ms };
        uint32_t domid;
        unsigned vcpu;
        int r;

        if (argc != (write ? 7 : 6))
                return usage(stderr), EX_USAGE;
        NUM(argv[1], UINT32_MAX, domid);
        NUM(argv[2], UINT32_MAX, vcpu);
        io.space = space_of(argv[3]);
        if (io.space < 0)
                return usage(stderr), EX_USAGE;
        NUM(argv[4], UINT64_MAX, io.addr);
        NUM(argv[5], 8, io.size);
        if (write)
                NUM(argv[6], UINT64_MAX, io.data);
        r = xsg_io(g, domid, vcpu, &io);
        if (r < 0)
                return fail(r, domid, vcpu, io.slot_state, write ? "write" : "read");
        if (!write)
                printf("0x%" PRIx64 "\n", io.value);
        return EX_OK;
}

/* The options load and blk share: 1 taken (i moved past its value), 0 not one of them, -1 bad. */
struct run_opts {
        bool json;
        unsigned vcpus;
        uint64_t count;
        double seconds;
};

static int run_opt(int argc, char **argv, int *i, struct run_opts *o) {
        const char *a = argv[*i];
        uint64_t v;
        char *end;

        if (!strcmp(a, "--json")) {
                o->json = true;
                return 1;
        }
        if (*i + 1 >= argc)
                return 0;
        if (!strcmp(a, "--vcpus")) {
                if (num(argv[++*i], XSG_MAX_VCPUS, &v) < 0)
                        return -1;
                o->vcpus = (unsigned)v;
        } else if (!strcmp(a, "--count")) {
                if (num(argv[++*i], UINT64_MAX / 2, &o->count) < 0)
                        return -1;
        } else if (!strcmp(a, "--seconds")) {
                o->seconds = strtod(argv[++*i], &end);
                if (*end || o->seconds <= 0 || o->seconds > 86400)
                        return -1;
        } else {
                return 0;
        }
        return 1;
}

static int cmd_load(xsg *g, int argc, char **argv) {
        struct xsg_load_opts o = { .vcpus = 1, .dir = XSG_WRITE, .timeout_ms = timeout_ms };
        struct xsg_load_result res;
        struct run_opts ro = { .vcpus = 1 };
        uint32_t domids[1024];
        bool json;
        int i = 1, r;

        for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
                r = run_opt(argc, argv, &i, &ro);
                if (r == 0 && !strcmp(argv[i], "--read"))
                        o.dir = XSG_READ;
                else if (r <= 0)
                        return usage(stderr), EX_USAGE;
        }
        json = ro.json;
        o.vcpus = ro.vcpus;
        o.count = ro.count;
        o.seconds = ro.seconds;
        if (argc - i < 4 || argc - i > 5)
                return usage(stderr), EX_USAGE;
        char *list = argv[i], *save = NULL;
        for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (o.nr_domids == sizeof(domids) / sizeof(domids[0]))
                        return usage(stderr), EX_USAGE;
                NUM(t, UINT32_MAX, domids[o.nr_domids]);
                o.nr_domids++;
        }
        o.domids = domids;
        o.space = space_of(argv[i + 1]);
        if (o.space < 0)
                return usage(stderr), EX_USAGE;
        NUM(argv[i + 2], UINT64_MAX, o.addr);
        NUM(argv[i + 3], 8, o.size);
        if (argc - i == 5)
                NUM(argv[i + 4], UINT64_MAX, o.data);
        if (!o.count && o.seconds <= 0)
                o.count = 10000;
        r = xsg_load(g, &o, &res);
        if (r < 0) {
                fprintf(stderr, "xensim: load: %s\n", strerror(-r));
                return EX_ERR;
        }
        double rate = res.seconds > 0 ? (double)res.count / res.seconds : 0;
        if (json)
                printf("{\"count\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"seconds\":%.6f,"
                       "\"rate\":%.1f,\"mean_us\":%.3f,\"p50_us\":%.3f,\"p99_us\":%.3f,"
                       "\"p999_us\":%.3f,\"max_us\":%.3f,\"domains\":%zu,\"vcpus\":%u}\n",
                       res.count, res.errors, res.seconds, rate, res.mean_us, res.p50_us,
                       res.p99_us, res.p999_us, res.max_us, o.nr_domids, o.vcpus);
        else
                printf("count %" PRIu64 " errors %" PRIu64 " seconds %.3f rate %.0f/s "
                       "mean %.2fus p50 %.2fus p99 %.2fus p99.9 %.2fus max %.2fus\n",
                       res.count, res.errors, res.seconds, rate, res.mean_us, res.p50_us,
                       res.p99_us, res.p999_us, res.max_us);
        return res.errors ? EX_ERR : EX_OK;
}

/*
 * The guest's virtio-blk driver on the device at BASE: probe, set up its queue in the guest's
 * RAM at 1 MiB (1 MiB of it), random requests over the whole disk from V vCPUs, reset.
 */
static int cmd_blk(xsg *g, int argc, char **argv) {
        struct xsv_blk_load_opts o = { .vcpus = 1, .len = 4096, .seed = (uint64_t)time(NULL) };
        struct xsv_config cfg = { .device_id = 2, .features = 1ull << VIRTIO_BLK_F_FLUSH,
                                  .ram_gpa = 1u << 20, .ram_len = 1u << 20,
                                  .timeout_ms = timeout_ms };
        struct xsv_blk_load_result res;
        struct xsv_stats st;
        struct run_opts ro = { .vcpus = 1 };
        uint64_t lo = 0, hi = 0, n;
        bool json;
        xsv *d = NULL;
        int i = 1, r;

        for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
                r = run_opt(argc, argv, &i, &ro);
                if (r != 0) {
                        if (r < 0)
                                return usage(stderr), EX_USAGE;
                } else if (!strcmp(argv[i], "--verify")) {
                        o.verify = true;
                } else if (!strcmp(argv[i], "--write") && i + 1 < argc) {
                        NUM(argv[++i], 100, o.write_pct);
                } else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
                        NUM(argv[++i], 4096, n);
                        if (!n || n % XSV_BLK_SECTOR)
                                return usage(stderr), EX_USAGE;
                        o.len = (uint32_t)n;
                } else {
                        return usage(stderr), EX_USAGE;
                }
        }
        json = ro.json;
        o.vcpus = ro.vcpus;
        o.count = ro.count;
        o.seconds = ro.seconds;
        if (argc - i != 2 || !o.vcpus)
                return usage(stderr), EX_USAGE;
        NUM(argv[i], UINT32_MAX, cfg.domid);
        NUM(argv[i + 1], UINT64_MAX, cfg.base);
        if (!o.count && o.seconds <= 0)
                o.count = 1000;
        r = xsv_open(&d, g, &cfg);
        if (r == 0 && (r = xsv_reg_read(d, 0, 0x100, 4, &lo)) == 0)
                r = xsv_reg_read(d, 0, 0x104, 4, &hi);
        if (r < 0) {
                xsv_close(d);
                return fail(r, cfg.domid, 0, -1, "setting up the virtio-blk device");
        }
        o.sectors = lo | hi << 32;
        r = xsv_blk_load(d, &o, &res);
        xsv_stats(d, &st);
        xsv_close(d);
        if (r < 0) {
                fprintf(stderr, "xensim: blk: %s\n", strerror(-r));
                return EX_ERR;
        }
        double rate = res.seconds > 0 ? (double)(res.reads + res.writes) / res.seconds : 0;
        if (json)
                printf("{\"reads\":%" PRIu64 ",\"writes\":%" PRIu64 ",\"errors\":%" PRIu64
                       ",\"verified\":%" PRIu64 ",\"mismatches\":%" PRIu64 ",\"seconds\":%.6f,"
                       "\"rate\":%.1f,\"mean_us\":%.3f,\"p50_us\":%.3f,\"p99_us\":%.3f,"
                       "\"p999_us\":%.3f,\"max_us\":%.3f,\"vcpus\":%u,\"size\":%u,"
                       "\"sectors\":%" PRIu64 ",\"kicks\":%" PRIu64 ",\"interrupts\":%" PRIu64
                       ",\"completed\":%" PRIu64 "}\n",
                       res.reads, res.writes, res.errors, res.verified, res.mismatches, res.seconds,
                       rate, res.mean_us, res.p50_us, res.p99_us, res.p999_us, res.max_us, o.vcpus,
                       o.len, o.sectors, st.kicks, st.interrupts, st.completed);
        else
                printf("reads %" PRIu64 " writes %" PRIu64 " errors %" PRIu64 " verified %" PRIu64
                       " mismatches %" PRIu64 " seconds %.3f rate %.0f/s mean %.2fus p50 %.2fus "
                       "p99 %.2fus max %.2fus kicks %" PRIu64 " interrupts %" PRIu64 "\n",
                       res.reads, res.writes, res.errors, res.verified, res.mismatches, res.seconds,
                       rate, res.mean_us, res.p50_us, res.p99_us, res.max_us, st.kicks,
                       st.interrupts);
        return res.errors || res.mismatches ? EX_ERR : EX_OK;
}

struct die_arg {
        xsg *g;
        uint32_t domid;
        unsigned vcpu;
        struct xsg_io io;
        int r;
};

static void *die_thread(void *p) {
        struct die_arg *a = p;
        a->r = xsg_io(a->g, a->domid, a->vcpu, &a->io);
        return NULL;
}

static int cmd_inject(xsg *g, int argc, char **argv) {
        struct xsg_raw raw = { 0 };
        uint32_t domid;
        uint64_t data;
        unsigned vcpu, server, slot;
        int r;

        if (argc < 2)
                return usage(stderr), EX_USAGE;
        const char *what = argv[1];
        if (!strcmp(what, "request")) {
                if (argc != 12)
                        return usage(stderr), EX_USAGE;
                NUM(argv[2], UINT32_MAX, domid);
                NUM(argv[3], UINT32_MAX, vcpu);
                NUM(argv[4], UINT32_MAX, server);
                NUM(argv[5], 255, raw.type);
                NUM(argv[6], 1, raw.dir);
                NUM(argv[7], UINT64_MAX, raw.addr);
                NUM(argv[8], UINT32_MAX, raw.size);
                NUM(argv[9], UINT32_MAX, raw.count);
                NUM(argv[10], 1, raw.data_is_ptr);
                NUM(argv[11], UINT64_MAX, raw.data);
                r = xsg_inject_request(g, domid, vcpu, server, &raw, timeout_ms, &data);
                if (r < 0)
                        return fail(r, domid, vcpu, -1, "inject request");
                printf("0x%" PRIx64 "\n", data);
                return EX_OK;
        }
        if (!strcmp(what, "slot")) {
                int notify_vcpu = -1, n = argc;
                if (argc >= 2 && !strcmp(argv[argc - 2], "--notify")) {
                        uint64_t v;
                        if (num(argv[argc - 1], 127, &v) < 0)
                                return usage(stderr), EX_USAGE;
                        notify_vcpu = (int)v;
                        n -= 2;
                }
                if (n != 6 && n != 11)
                        return usage(stderr), EX_USAGE;
                NUM(argv[2], UINT32_MAX, domid);
                NUM(argv[3], UINT32_MAX, server);
                NUM(argv[4], UINT32_MAX, slot);
                NUM(argv[5], 15, raw.state);
                raw.count = 1;
                raw.size = 4;
                raw.type = IOREQ_TYPE_COPY;
                if (n == 11) {
                        NUM(argv[6], 255, raw.type);
                        NUM(argv[7], 1, raw.dir);
                        NUM(argv[8], UINT64_MAX, raw.addr);
                        NUM(argv[9], UINT32_MAX, raw.size);
                        NUM(argv[10], UINT64_MAX, raw.data);
                }
                r = xsg_inject_slot(g, domid, server, slot, &raw, notify_vcpu);
                return r < 0 ? fail(r, domid, 0, -1, "inject slot") : EX_OK;
        }
        if (!strcmp(what, "notify")) {
                if (argc != 5)
                        return usage(stderr), EX_USAGE;
                NUM(argv[2], UINT32_MAX, domid);
                NUM(argv[3], UINT32_MAX, server);
                NUM(argv[4], UINT32_MAX, vcpu);
                r = xsg_inject_notify(g, domid, server, vcpu);
                return r < 0 ? fail(r, domid, vcpu, -1, "inject notify") : EX_OK;
        }
        if (!strcmp(what, "die")) {
                struct die_arg a = { .g = g };
                pthread_t th;
                if (argc != 7 && argc != 8)
                        return usage(stderr), EX_USAGE;
                NUM(argv[2], UINT32_MAX, a.domid);
                NUM(argv[3], UINT32_MAX, a.vcpu);
                a.io.space = space_of(argv[4]);
                if (a.io.space < 0)
                        return usage(stderr), EX_USAGE;
                NUM(argv[5], UINT64_MAX, a.io.addr);
                NUM(argv[6], 8, a.io.size);
                a.io.dir = argc == 8 ? XSG_WRITE : XSG_READ;
                if (argc == 8)
                        NUM(argv[7], UINT64_MAX, a.io.data);
                a.io.timeout_ms = timeout_ms;
                if (pthread_create(&th, NULL, die_thread, &a))
                        return EX_ERR;
                /* Wait (bounded) until the request sits in some server's slot. */
                for (int i = 0; i < 400; i++) {
                        bool sent = false;
                        for (unsigned s = 0; s < XSG_MAX_SERVERS && !sent; s++) {
                                ioreq_t io;
                                if (xsg_slot_peek(g, a.domid, s, a.vcpu, &io) == 0 &&
                                    (io.state == STATE_IOREQ_READY ||
                                     io.state == STATE_IOREQ_INPROCESS))
                                        sent = true;
                        }
                        if (sent)
                                break;
                        struct timespec ts = { 0, 5 * 1000 * 1000 };
                        nanosleep(&ts, NULL);
                }
                r = xsg_domain_destroy(g, a.domid);
                pthread_join(th, NULL);
                if (r < 0)
                        return fail(r, a.domid, a.vcpu, -1, "destroy");
                printf("access: %s\n", a.r == 0 ? "completed" : strerror(-a.r));
                return a.r == -ESRCH ? EX_OK : EX_ERR;
        }
        return usage(stderr), EX_USAGE;
}

int main(int argc, char **argv) {
        const char *dir = NULL;
        uint32_t domid;
        xsg *g = NULL;
        int i = 1, r, ret;

        for (; i < argc && argv[i][0] == '-'; i++) {
                if (!strcmp(argv[i], "--dir") && i + 1 < argc)
                        dir = argv[++i];
                else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc) {
                        uint64_t v;
                        if (num(argv[++i], 3600000, &v) < 0 || v == 0)
                                return usage(stderr), EX_USAGE;
                        timeout_ms = (int)v;
                } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
                        usage(stdout);
                        return EX_OK;
                } else
                        return usage(stderr), EX_USAGE;
        }
        /* --timeout-ms may also follow the command's arguments. */
        for (int k = i; k + 1 < argc; k++)
                if (!strcmp(argv[k], "--timeout-ms")) {
                        uint64_t v;
                        if (num(argv[k + 1], 3600000, &v) < 0 || v == 0)
                                return usage(stderr), EX_USAGE;
                        timeout_ms = (int)v;
                        memmove(&argv[k], &argv[k + 2], (size_t)(argc - k - 2) * sizeof(char *));
                        argc -= 2;
                        break;
                }
        if (i >= argc)
                return usage(stderr), EX_USAGE;
        argc -= i;
        argv += i;
        r = xsg_open(&g, dir);
        if (r < 0) {
                fprintf(stderr, "xensim: cannot reach the host%s: %s\n",
                        dir || getenv("XENSIM_DIR") ? "" : " (XENSIM_DIR is not set)",
                        strerror(-r));
                return EX_ERR;
        }
        const char *cmd = argv[0];
        bool paused = false;
        uint64_t ram = 0;
        while (!strcmp(cmd, "create") && argc >= 4 &&
               (!strcmp(argv[1], "--paused") || !strcmp(argv[1], "--ram"))) {
                if (argv[1][2] == 'p') {
                        paused = true;
                } else if (argc < 5 || num(argv[2], XSG_RAM_MAX, &ram) < 0) {
                        ret = EX_USAGE;
                        goto out;
                } else {
                        argv++;
                        argc--;
                }
                argv++;
                argc--;
        }
        if (!strcmp(cmd, "create") && argc == 3) {
                uint64_t vcpus;
                if (num(argv[2], XSG_MAX_VCPUS, &vcpus) < 0) {
                        ret = EX_USAGE;
                        goto out;
                }
                r = xsg_domain_create_ram(g, argv[1], (unsigned)vcpus,
                                          paused ? XSG_CREATE_PAUSED : 0, ram, &domid);
                if (r < 0) {
                        fprintf(stderr, "xensim: create: %s\n", strerror(-r));
                        ret = EX_ERR;
                } else {
                        printf("%u\n", domid);
                        ret = EX_OK;
                }
        } else if ((!strcmp(cmd, "destroy") || !strcmp(cmd, "crash") ||
                    !strcmp(cmd, "poweroff")) && argc == 2) {
                uint64_t v;
                if (num(argv[1], UINT32_MAX, &v) < 0) {
                        ret = EX_USAGE;
                        goto out;
                }
                r = cmd[0] == 'd'   ? xsg_domain_destroy(g, (uint32_t)v)
                    : cmd[0] == 'c' ? xsg_domain_crash(g, (uint32_t)v)
                                    : xsg_domain_poweroff(g, (uint32_t)v);
                ret = r < 0 ? fail(r, (uint32_t)v, 0, 0, cmd) : EX_OK;
        } else if (!strcmp(cmd, "unpause") && argc == 2) {
                uint64_t v;
                if (num(argv[1], UINT32_MAX, &v) < 0) {
                        ret = EX_USAGE;
                        goto out;
                }
                r = xsg_domain_unpause(g, (uint32_t)v);
                if (r < 0)
                        ret = fail(r, (uint32_t)v, 0, 0, "unpause");
                else {
                        printf("%d\n", r);
                        ret = EX_OK;
                }
        } else if (!strcmp(cmd, "list") && argc == 1) {
                ret = cmd_list(g);
        } else if (!strcmp(cmd, "servers") && argc == 2) {
                uint64_t v;
                ret = num(argv[1], UINT32_MAX, &v) < 0 ? EX_USAGE : cmd_servers(g, (uint32_t)v);
        } else if (!strcmp(cmd, "write")) {
                ret = cmd_access(g, argc, argv, true);
        } else if (!strcmp(cmd, "read")) {
                ret = cmd_access(g, argc, argv, false);
        } else if (!strcmp(cmd, "invalidate") && argc == 3) {
                uint64_t d, v;
                if (num(argv[1], UINT32_MAX, &d) < 0 || num(argv[2], UINT32_MAX, &v) < 0) {
                        ret = EX_USAGE;
                        goto out;
                }
                r = xsg_invalidate(g, (uint32_t)d, (unsigned)v, timeout_ms);
                if (r < 0)
                        ret = fail(r, (uint32_t)d, (unsigned)v, -1, "invalidate");
                else {
                        printf("%d\n", r);
                        ret = EX_OK;
                }
        } else if (!strcmp(cmd, "load")) {
                ret = cmd_load(g, argc, argv);
        } else if (!strcmp(cmd, "blk")) {
                ret = cmd_blk(g, argc, argv);
        } else if (!strcmp(cmd, "inject")) {
                ret = cmd_inject(g, argc, argv);
        } else if (!strcmp(cmd, "peek") && argc == 4) {
                uint64_t d, s, k;
                ioreq_t io;
                if (num(argv[1], UINT32_MAX, &d) < 0 || num(argv[2], UINT32_MAX, &s) < 0 ||
                    num(argv[3], UINT32_MAX, &k) < 0) {
                        ret = EX_USAGE;
                        goto out;
                }
                r = xsg_slot_peek(g, (uint32_t)d, (unsigned)s, (unsigned)k, &io);
                if (r < 0)
                        ret = fail(r, (uint32_t)d, 0, 0, "peek");
                else {
                        printf("state=%u type=%u dir=%u addr=0x%" PRIx64 " size=%u count=%u "
                               "ptr=%u df=%u data=0x%" PRIx64 " vp_eport=%u\n",
                               io.state, io.type, io.dir, (uint64_t)io.addr, io.size, io.count,
                               io.data_is_ptr, io.df, (uint64_t)io.data, io.vp_eport);
                        ret = EX_OK;
                }
        } else if (!strcmp(cmd, "irqs") && argc == 2) {
                uint64_t d;
                struct xsg_irq q;
                if (num(argv[1], UINT32_MAX, &d) < 0) {
                        ret = EX_USAGE;
                        goto out;
                }
                ret = EX_OK;
                for (unsigned k = 0;; k++) {
                        r = xsg_irq_get(g, (uint32_t)d, k, &q);
                        if (r == -ENOENT)
                                break;
                        if (r < 0) {
                                ret = fail(r, (uint32_t)d, 0, 0, "irqs");
                                break;
                        }
                        switch (q.kind) {
                        case XSG_IRQ_LEVEL:
                                printf("level %" PRIu64 " %" PRIu64 "\n", q.a, q.b);
                                break;
                        case XSG_IRQ_ISA:
                                printf("isa %" PRIu64 " %" PRIu64 "\n", q.a, q.b);
                                break;
                        case XSG_IRQ_PCI_INTX:
                                printf("intx %" PRIx64 ":%02" PRIx64 ":%02" PRIx64 ".%" PRIu64
                                       " %" PRIu64 "\n",
                                       q.a >> 24, (q.a >> 16) & 0xff, (q.a >> 8) & 0xff,
                                       q.a & 0xff, q.b);
                                break;
                        case XSG_IRQ_MSI:
                                printf("msi 0x%" PRIx64 " 0x%" PRIx64 "\n", q.a, q.b);
                                break;
                        }
                }
        } else if (!strcmp(cmd, "handles") && argc <= 2) {
                uint64_t v = 0;
                if (argc == 2 && (num(argv[1], UINT32_MAX, &v) < 0 || v == 0)) {
                        ret = EX_USAGE;
                        goto out;
                }
                ret = cmd_handles(g, (uint32_t)v);
        } else if (!strcmp(cmd, "ports") && argc == 2) {
                uint64_t v;
                ret = num(argv[1], UINT64_MAX, &v) < 0 ? EX_USAGE : cmd_ports(g, v);
        } else if (!strcmp(cmd, "mappings") && (argc == 2 || argc == 3)) {
                uint64_t d, s = XSG_ANY_SERVER;
                if (num(argv[1], UINT32_MAX, &d) < 0 ||
                    (argc == 3 && num(argv[2], XSG_MAX_SERVERS - 1, &s) < 0)) {
                        ret = EX_USAGE;
                        goto out;
                }
                ret = cmd_mappings(g, (uint32_t)d, (unsigned)s);
        } else if (!strcmp(cmd, "evtchn")) {
                ret = cmd_evtchn(g, argc, argv);
        } else if (!strcmp(cmd, "maphistory") && argc == 2) {
                uint64_t v;
                if (num(argv[1], UINT32_MAX, &v) < 0 || v == 0) {
                        ret = EX_USAGE;
                        goto out;
                }
                ret = cmd_maphistory(g, (uint32_t)v);
        } else {
                usage(stderr);
                ret = EX_USAGE;
        }
out:
        xsg_close(g);
        return ret;
}
