/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xq-probe: the fidelity probe.  Observes how "the Xen host" behaves, through the
 * real Xen 4.17 tool-stack API only, and prints one "FACT name=value" line per
 * observation.  The same binary runs in dom0 of a real Xen (under QEMU) and on
 * xensim (through its drop-in libraries); compare.sh diffs the two lists.
 *
 * The guest side is xq-guest in "mailbox" mode: it reads commands from a
 * control page served by this probe's first ioreq server and performs the
 * accesses it is told to, so the probe can drive guest MMIO step by step.
 * Mailbox layout (8-byte registers at the control base):
 *   +0x00 read   command: op | size << 8 | seq << 32   (the probe holds the read
 *                until it has a command)
 *   +0x08 read   address        +0x10 read   value (write data, or sleep ms)
 *   +0x18 write  result (the value read, or 0), marks the command done
 * Ops: 0 exit, 1 read, 2 write, 3 sleep, 4 port in, 5 port out.
 *
 * Everything that depends on the environment is a command given on the
 * command line (create/unpause/invalidate/destroy the guest), run with
 * system(); once the domain is known, $XQ_DOMID holds its id.  The
 * invalidate command must not wait for the ioreq servers' answers (run it in
 * the background if it does): this process is those servers.  Values that differ between hosts by design (domids, port
 * numbers) are reported as relations, never raw.
 */
#define _GNU_SOURCE 1
#define __XEN_TOOLS__ 1
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xenstore.h>
#include <xentoolcore.h>
#include <xen/xen.h>
#include <xen/memory.h>
#include <xen/hvm/ioreq.h>
#include <xen/hvm/dm_op.h>
#include <xen/hvm/hvm_op.h>

#define MAX_SRV 9
#define MAX_VCPU 8
#define LOG_MAX 4096

enum { OP_EXIT = 0, OP_READ = 1, OP_WRITE = 2, OP_SLEEP = 3, OP_PIN = 4, OP_POUT = 5 };

struct srv {
        bool used;
        char name[8];
        ioservid_t id;
        xenforeignmemory_resource_handle *res;
        shared_iopage_t *page;
        evtchn_port_t local[MAX_VCPU];
        bool bound;
        bool no_unmask;         /* answer without unmasking the port */
        bool hold;              /* leave requests unanswered */
        uint64_t answer;        /* data returned for reads */
        unsigned long nreq;
};

struct req_log {
        int srv;
        unsigned vcpu;
        ioreq_t r;
};

static struct {
        xendevicemodel_handle *dm;
        xenforeignmemory_handle *fm;
        xenevtchn_handle *xce;
        int xfd;
        domid_t domid;
        unsigned nvcpus;
        uint64_t ctrl, dev;
        struct srv srv[MAX_SRV];
        struct req_log log[LOG_MAX];
        unsigned nlog;
        /* mailbox */
        bool ctrl_held;         /* the guest's command read waits for an answer */
        unsigned ctrl_vcpu;
        bool cmd_valid, cmd_sent, cmd_done;
        uint64_t cmd_word, cmd_addr, cmd_val, cmd_result;
        uint32_t seq;
        unsigned long spurious;
} P;

static int nfacts;

static void fact(const char *name, const char *fmt, ...)
{
        va_list ap;
        printf("FACT %s=", name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        fflush(stdout);
        nfacts++;
}

static void note(const char *fmt, ...)
{
        va_list ap;
        fprintf(stderr, "probe: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\n");
}

static const char *ename(int rc, int e)
{
        if (rc >= 0)
                return "ok";
        const char *n = strerrorname_np(e);
        return n ? n : "E?";
}

static double now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int run(const char *what, const char *cmd)
{
        if (!cmd || !*cmd)
                return 0;
        note("%s: %s", what, cmd);
        int rc = system(cmd);
        if (rc != 0)
                note("%s: exit status %d", what, rc);
        return rc;
}

/* ---- ioreq servers ---------------------------------------------------- */

static int srv_create(int i, const char *name)
{
        struct srv *s = &P.srv[i];
        memset(s, 0, sizeof(*s));
        snprintf(s->name, sizeof(s->name), "%s", name);
        if (xendevicemodel_create_ioreq_server(P.dm, P.domid, HVM_IOREQSRV_BUFIOREQ_OFF, &s->id) < 0)
                return -errno;
        s->used = true;
        void *addr = NULL;
        s->res = xenforeignmemory_map_resource(P.fm, P.domid, XENMEM_resource_ioreq_server, s->id,
                                               XENMEM_resource_ioreq_server_frame_ioreq(0), 1,
                                               &addr, PROT_READ | PROT_WRITE, 0);
        if (!s->res)
                return -errno;
        s->page = addr;
        return 0;
}

static int srv_bind(int i)
{
        struct srv *s = &P.srv[i];
        for (unsigned v = 0; v < P.nvcpus; v++) {
                xenevtchn_port_or_error_t p =
                        xenevtchn_bind_interdomain(P.xce, P.domid, s->page->vcpu_ioreq[v].vp_eport);
                if (p < 0)
                        return -errno;
                s->local[v] = p;
        }
        s->bound = true;
        return 0;
}

static void srv_destroy(int i)
{
        struct srv *s = &P.srv[i];
        if (!s->used)
                return;
        if (s->bound)
                for (unsigned v = 0; v < P.nvcpus; v++)
                        xenevtchn_unbind(P.xce, s->local[v]);
        xendevicemodel_destroy_ioreq_server(P.dm, P.domid, s->id);
        if (s->res)
                xenforeignmemory_unmap_resource(P.fm, s->res);
        memset(s, 0, sizeof(*s));
}

static int srv_map(int i, uint64_t start, uint64_t end)
{
        return xendevicemodel_map_io_range_to_ioreq_server(P.dm, P.domid, P.srv[i].id, 1, start, end) < 0
                ? -errno : 0;
}

static int srv_state(int i, int enabled)
{
        return xendevicemodel_set_ioreq_server_state(P.dm, P.domid, P.srv[i].id, enabled) < 0 ? -errno : 0;
}

static bool port_owner(evtchn_port_t port, int *ret_srv, unsigned *ret_vcpu)
{
        for (int i = 0; i < MAX_SRV; i++)
                if (P.srv[i].used && P.srv[i].bound)
                        for (unsigned v = 0; v < P.nvcpus; v++)
                                if (P.srv[i].local[v] == port) {
                                        *ret_srv = i;
                                        *ret_vcpu = v;
                                        return true;
                                }
        return false;
}

static void complete(struct srv *s, unsigned v, evtchn_port_t port)
{
        __atomic_thread_fence(__ATOMIC_RELEASE);
        s->page->vcpu_ioreq[v].state = STATE_IORESP_READY;
        xenevtchn_notify(P.xce, port);
}

static void ctrl_answer(void)
{
        struct srv *s = &P.srv[0];
        ioreq_t *r = &s->page->vcpu_ioreq[P.ctrl_vcpu];
        r->data = P.cmd_word;
        P.ctrl_held = false;
        P.cmd_sent = true;
        complete(s, P.ctrl_vcpu, s->local[P.ctrl_vcpu]);
}

/* A request on the control server: the mailbox. */
static void ctrl_request(unsigned v, ioreq_t *slot, const ioreq_t *r)
{
        uint64_t off = r->addr - P.ctrl;
        if (r->dir == IOREQ_READ) {
                if (off == 0x00) {
                        P.ctrl_vcpu = v;
                        if (P.cmd_valid && !P.cmd_sent) {
                                P.ctrl_held = true;
                                ctrl_answer();
                        } else {
                                P.ctrl_held = true;     /* answered by the next command */
                        }
                        return;
                }
                slot->data = off == 0x08 ? P.cmd_addr : off == 0x10 ? P.cmd_val : 0;
        } else if (off == 0x18) {
                P.cmd_result = r->data;
                P.cmd_done = true;
                P.cmd_valid = false;
        }
        complete(&P.srv[0], v, P.srv[0].local[v]);
}

static void handle_port(evtchn_port_t port)
{
        int i;
        unsigned v;
        if (!port_owner(port, &i, &v)) {
                P.spurious++;
                return;
        }
        struct srv *s = &P.srv[i];
        if (!s->no_unmask)
                xenevtchn_unmask(P.xce, port);
        ioreq_t *slot = &s->page->vcpu_ioreq[v];
        if (slot->state != STATE_IOREQ_READY) {
                P.spurious++;
                return;
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        ioreq_t r = *slot;
        s->nreq++;
        if (i == 0 && r.type == IOREQ_TYPE_COPY) {
                ctrl_request(v, slot, &r);
                return;
        }
        if (P.nlog < LOG_MAX)
                P.log[P.nlog++] = (struct req_log){ .srv = i, .vcpu = v, .r = r };
        if (s->hold)
                return;
        slot->state = STATE_IOREQ_INPROCESS;
        if (r.dir == IOREQ_READ && !r.data_is_ptr && r.type != IOREQ_TYPE_INVALIDATE)
                slot->data = s->answer;
        complete(s, v, port);
}

/* Wait up to ms for the event fd; handle everything pending.  Returns the
 * number of ports handled, 0 on timeout. */
static int pump_once(int ms)
{
        struct pollfd pfd = { .fd = P.xfd, .events = POLLIN };
        int r = poll(&pfd, 1, ms);
        if (r <= 0)
                return 0;
        int n = 0;
        for (;;) {
                xenevtchn_port_or_error_t port = xenevtchn_pending(P.xce);
                if (port < 0)
                        break;
                handle_port(port);
                n++;
        }
        return n;
}

static void pump_for(int ms)
{
        double end = now() + ms / 1000.0;
        for (double t; (t = now()) < end;)
                pump_once((int)((end - t) * 1000) + 1);
}

/* Issue a mailbox command and serve requests until the guest reports it done. */
static int guest_do(int op, unsigned size, uint64_t addr, uint64_t val, uint64_t *ret, int ms)
{
        P.seq++;
        P.cmd_word = (uint64_t)op | (uint64_t)size << 8 | (uint64_t)P.seq << 32;
        P.cmd_addr = addr;
        P.cmd_val = val;
        P.cmd_valid = true;
        P.cmd_sent = false;
        P.cmd_done = false;
        if (P.ctrl_held)
                ctrl_answer();
        double end = now() + ms / 1000.0;
        while (!P.cmd_done && now() < end)
                pump_once(50);
        if (!P.cmd_done)
                return -ETIMEDOUT;
        if (ret)
                *ret = P.cmd_result;
        return 0;
}

static int guest_wait(int ms)
{
        double end = now() + ms / 1000.0;
        while (!P.cmd_done && now() < end)
                pump_once(50);
        return P.cmd_done ? 0 : -ETIMEDOUT;
}

/* Wait until the guest's interpreter has asked for its first command. */
static int guest_ready(int ms)
{
        double end = now() + ms / 1000.0;
        while (!P.ctrl_held && now() < end)
                pump_once(100);
        return P.ctrl_held ? 0 : -ETIMEDOUT;
}

static unsigned log_count(int srv, unsigned type, unsigned from)
{
        unsigned n = 0;
        for (unsigned k = from; k < P.nlog; k++)
                if (P.log[k].srv == srv && P.log[k].r.type == type)
                        n++;
        return n;
}

/* Which server saw the last MMIO or PIO request logged after index from ("none" if none). */
static const char *who_got(unsigned from, const char *const *names)
{
        for (unsigned k = P.nlog; k-- > from;)
                if (P.log[k].r.type == IOREQ_TYPE_COPY || P.log[k].r.type == IOREQ_TYPE_PIO)
                        return names[P.log[k].srv];
        return "none";
}

static unsigned page_nonzero_bytes(const struct srv *s)
{
        const uint8_t *b = (const uint8_t *)s->page;
        unsigned n = 0;
        for (unsigned k = 0; k < 4096; k++)
                n += b[k] != 0;
        return n;
}

/* ---- xenstore --------------------------------------------------------- */

struct xs_ev {
        char path[256];
        char token[16];
        double t;
        int exists;             /* whether the node existed when the event was read */
        int name_exists;        /* /local/domain/<domid>/name at that moment */
};

static struct {
        struct xs_handle *h;
        struct xs_ev ev[2048];
        unsigned n;
} X;

static void xs_drain(int ms, const char *stop_token, unsigned stop_count)
{
        double end = now() + ms / 1000.0;
        unsigned seen = 0;
        while (now() < end) {
                struct pollfd pfd = { .fd = xs_fileno(X.h), .events = POLLIN };
                if (poll(&pfd, 1, 50) <= 0)
                        continue;
                unsigned num;
                char **w = xs_read_watch(X.h, &num);
                if (!w)
                        continue;
                if (X.n < sizeof(X.ev) / sizeof(X.ev[0])) {
                        struct xs_ev *e = &X.ev[X.n++];
                        snprintf(e->path, sizeof(e->path), "%s", w[XS_WATCH_PATH]);
                        snprintf(e->token, sizeof(e->token), "%s", w[XS_WATCH_TOKEN]);
                        e->t = now();
                        unsigned len;
                        e->exists = -1;
                        if (e->path[0] == '/') {
                                void *v = xs_read(X.h, XBT_NULL, e->path, &len);
                                e->exists = v != NULL;
                                free(v);
                        }
                        char p[64];
                        snprintf(p, sizeof(p), "/local/domain/%u/name", P.domid);
                        void *v = P.domid ? xs_read(X.h, XBT_NULL, p, &len) : NULL;
                        e->name_exists = v != NULL;
                        free(v);
                        if (stop_token && !strcmp(e->token, stop_token) && ++seen >= stop_count) {
                                free(w);
                                return;
                        }
                }
                free(w);
        }
}

static char *xs_get(const char *fmt, ...)
{
        char p[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p, sizeof(p), fmt, ap);
        va_end(ap);
        unsigned len;
        return xs_read(X.h, XBT_NULL, p, &len);
}

static int cmpstr(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void fact_dir(const char *name, const char *path)
{
        unsigned num = 0;
        char **d = xs_directory(X.h, XBT_NULL, path, &num);
        if (!d) {
                fact(name, "absent");
                return;
        }
        qsort(d, num, sizeof(*d), cmpstr);
        char buf[1024] = "";
        for (unsigned k = 0; k < num; k++) {
                if (k)
                        strncat(buf, ",", sizeof(buf) - strlen(buf) - 1);
                strncat(buf, d[k], sizeof(buf) - strlen(buf) - 1);
        }
        free(d);
        fact(name, "%s", buf);
}

static domid_t xs_find_domid(const char *name)
{
        unsigned num = 0;
        char **d = xs_directory(X.h, XBT_NULL, "/local/domain", &num);
        domid_t found = 0;
        for (unsigned k = 0; d && k < num; k++) {
                char *n = xs_get("/local/domain/%s/name", d[k]);
                if (n && !strcmp(n, name))
                        found = (domid_t)strtoul(d[k], NULL, 10);
                free(n);
        }
        free(d);
        return found;
}

/* ---- main ------------------------------------------------------------- */

static void usage(void)
{
        fprintf(stderr,
                "usage: xq-probe --name NAME --create CMD --unpause CMD --invalidate CMD --destroy CMD\n"
                "                [--ctrl ADDR] [--dev ADDR] [--timeout S]\n");
        exit(2);
}

int main(int argc, char **argv)
{
        const char *name = NULL, *c_create = NULL, *c_unpause = NULL, *c_inval = NULL, *c_destroy = NULL;
        int tmo = 120;
        P.ctrl = 0xfe100000;
        P.dev = 0xfe000000;
        static const struct option opts[] = {
                { "name", 1, NULL, 'n' }, { "create", 1, NULL, 'c' }, { "unpause", 1, NULL, 'u' },
                { "invalidate", 1, NULL, 'i' }, { "destroy", 1, NULL, 'd' }, { "ctrl", 1, NULL, 'C' },
                { "dev", 1, NULL, 'D' }, { "timeout", 1, NULL, 't' }, { NULL, 0, NULL, 0 },
        };
        for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
                switch (o) {
                case 'n': name = optarg; break;
                case 'c': c_create = optarg; break;
                case 'u': c_unpause = optarg; break;
                case 'i': c_inval = optarg; break;
                case 'd': c_destroy = optarg; break;
                case 'C': P.ctrl = strtoull(optarg, NULL, 0); break;
                case 'D': P.dev = strtoull(optarg, NULL, 0); break;
                case 't': tmo = atoi(optarg); break;
                default: usage();
                }
        }
        if (!name || !c_create || !c_unpause || !c_destroy)
                usage();
        setvbuf(stdout, NULL, _IOLBF, 0);
        alarm(tmo);             /* a hard bound on the whole probe */
        double t0 = now();
        int rc, e;

        /* -- xenstore: watches, then the domain appears ------------------ */
        X.h = xs_open(0);
        if (!X.h) {
                note("xs_open: %m");
                return 1;
        }
        xs_watch(X.h, "@introduceDomain", "I");
        xs_watch(X.h, "@releaseDomain", "R");
        xs_watch(X.h, "/local/domain", "L");
        xs_drain(1000, NULL, 0);
        {
                int fi = 0, fr = 0, fl = 0;
                for (unsigned k = 0; k < X.n; k++) {
                        fi += !strcmp(X.ev[k].token, "I") && !strcmp(X.ev[k].path, "@introduceDomain");
                        fr += !strcmp(X.ev[k].token, "R") && !strcmp(X.ev[k].path, "@releaseDomain");
                        fl += !strcmp(X.ev[k].token, "L") && !strcmp(X.ev[k].path, "/local/domain");
                }
                fact("xs.watch_fires_on_register", "introduce=%d,release=%d,path=%d", fi, fr, fl);
        }
        char *p999 = xs_get_domain_path(X.h, 999);
        fact("xs.get_domain_path_999", "%s", p999 ? p999 : "NULL");
        free(p999);
        unsigned mark = X.n;
        if (run("create", c_create) != 0) {
                note("create command failed");
                return 1;
        }
        P.domid = xs_find_domid(name);
        for (int k = 0; !P.domid && k < 50; k++) {
                xs_drain(100, NULL, 0);
                P.domid = xs_find_domid(name);
        }
        if (!P.domid) {
                note("no domain named %s in xenstore", name);
                return 1;
        }
        {
                char d[16];
                snprintf(d, sizeof(d), "%u", P.domid);
                setenv("XQ_DOMID", d, 1);       /* for the commands that follow */
        }
        xs_drain(1500, NULL, 0);
        {
                char dpath[64];
                int n_intro = 0, name_at_intro = -1, domid_before = 0, avail_before = 0;
                snprintf(dpath, sizeof(dpath), "/local/domain/%u", P.domid);
                size_t dl = strlen(dpath);
                for (unsigned k = mark; k < X.n; k++) {
                        const char *pth = X.ev[k].path;
                        if (!strcmp(X.ev[k].token, "I")) {
                                if (n_intro++ == 0)
                                        name_at_intro = X.ev[k].name_exists;
                                continue;
                        }
                        if (n_intro == 0 && !strncmp(pth, dpath, dl)) {
                                domid_before |= !strcmp(pth + dl, "/domid");
                                avail_before |= !strcmp(pth + dl, "/cpu/0/availability");
                        }
                }
                fact("xs.create.introduce_events", "%d", n_intro);
                fact("xs.create.name_exists_at_introduce", "%d", name_at_intro);
                fact("xs.create.domid_written_before_introduce", "%d", domid_before);
                fact("xs.create.cpu0_availability_before_introduce", "%d", avail_before);
        }
        {
                char dp0[64];
                snprintf(dp0, sizeof(dp0), "/local/domain/%u", P.domid);
                fact_dir("xs.domain.keys", dp0);
                char *v;
                v = xs_get("/local/domain/%u/name", P.domid);
                fact("xs.domain.name_matches", "%d", v && !strcmp(v, name));
                free(v);
                v = xs_get("/local/domain/%u/domid", P.domid);
                fact("xs.domain.domid_matches", "%d", v && strtoul(v, NULL, 10) == P.domid);
                free(v);
                v = xs_get("/local/domain/%u/cpu/0/availability", P.domid);
                fact("xs.domain.cpu0_availability", "%s", v ? v : "absent");
                free(v);
                v = xs_get("/local/domain/%u/memory/target", P.domid);
                fact("xs.domain.memory_target_present", "%d", v && *v);
                free(v);
                v = xs_get("/local/domain/%u/vm", P.domid);
                fact("xs.domain.vm_present", "%d", v && *v);
                free(v);
                char *dp = xs_get_domain_path(X.h, P.domid);
                char want[64];
                snprintf(want, sizeof(want), "/local/domain/%u", P.domid);
                fact("xs.get_domain_path_matches", "%d", dp && !strcmp(dp, want));
                free(dp);
        }

        /* -- handles ----------------------------------------------------- */
        P.dm = xendevicemodel_open(NULL, 0);
        P.fm = xenforeignmemory_open(NULL, 0);
        P.xce = xenevtchn_open(NULL, 0);
        if (!P.dm || !P.fm || !P.xce) {
                note("open handles: %m");
                return 1;
        }
        P.xfd = xenevtchn_fd(P.xce);
        fcntl(P.xfd, F_SETFL, fcntl(P.xfd, F_GETFL) | O_NONBLOCK);
        unsigned int nv = 0;
        rc = xendevicemodel_nr_vcpus(P.dm, P.domid, &nv);
        fact("dm.nr_vcpus", "%s:%u", ename(rc, errno), nv);
        P.nvcpus = nv >= 1 && nv <= MAX_VCPU ? nv : 1;
        rc = xendevicemodel_nr_vcpus(P.dm, 1234, &nv);
        fact("dm.nr_vcpus_bogus_domid", "%s", ename(rc, errno));

        /* -- server ids --------------------------------------------------- */
        rc = srv_create(0, "ctrl");
        fact("server.first_create", "%s:id=%d", ename(rc, -rc), rc ? -1 : P.srv[0].id);
        if (rc) {
                note("cannot create the control server: %s", strerror(-rc));
                return 1;
        }
        fact("page.nonzero_bytes_after_create", "%u", page_nonzero_bytes(&P.srv[0]));
        {
                char ids[64] = "";
                for (int i = 1; i < MAX_SRV - 1; i++) {
                        rc = srv_create(i, "t");
                        char b[16];
                        snprintf(b, sizeof(b), "%s%d", i > 1 ? "," : "", rc ? -1 : P.srv[i].id);
                        strncat(ids, b, sizeof(ids) - strlen(ids) - 1);
                }
                fact("server.ids_creating_7_more", "%s", ids);
                ioservid_t id9;
                rc = xendevicemodel_create_ioreq_server(P.dm, P.domid, HVM_IOREQSRV_BUFIOREQ_OFF, &id9);
                e = errno;
                fact("server.create_9th", "%s", ename(rc, e));
                if (rc == 0)
                        xendevicemodel_destroy_ioreq_server(P.dm, P.domid, id9);
                /* free the servers holding ids 3 and 5, create two more */
                int i3 = -1, i5 = -1;
                for (int i = 1; i < MAX_SRV - 1; i++) {
                        if (P.srv[i].used && P.srv[i].id == 3)
                                i3 = i;
                        if (P.srv[i].used && P.srv[i].id == 5)
                                i5 = i;
                }
                if (i3 > 0 && i5 > 0) {
                        srv_destroy(i5);
                        srv_destroy(i3);
                        ioservid_t a = 0xffff, b = 0xffff;
                        int ra = xendevicemodel_create_ioreq_server(P.dm, P.domid, 0, &a);
                        int rb = xendevicemodel_create_ioreq_server(P.dm, P.domid, 0, &b);
                        fact("server.reuse_after_freeing_3_and_5", "%d,%d", ra ? -1 : a, rb ? -1 : b);
                        if (!ra)
                                xendevicemodel_destroy_ioreq_server(P.dm, P.domid, a);
                        if (!rb)
                                xendevicemodel_destroy_ioreq_server(P.dm, P.domid, b);
                } else {
                        fact("server.reuse_after_freeing_3_and_5", "not-run");
                }
                for (int i = 1; i < MAX_SRV; i++)
                        srv_destroy(i);
        }
        rc = xendevicemodel_destroy_ioreq_server(P.dm, P.domid, 100);
        fact("server.destroy_unknown", "%s", ename(rc, errno));
        rc = xendevicemodel_set_ioreq_server_state(P.dm, P.domid, 100, 1);
        fact("server.set_state_unknown", "%s", ename(rc, errno));
        rc = xendevicemodel_map_io_range_to_ioreq_server(P.dm, P.domid, 100, 1, P.dev, P.dev + 0xfff);
        fact("server.map_range_unknown", "%s", ename(rc, errno));
        rc = xendevicemodel_get_ioreq_server_info(P.dm, P.domid, 100, NULL, NULL, NULL);
        fact("server.get_info_unknown", "%s", ename(rc, errno));
        {
                void *addr = NULL;
                xenforeignmemory_resource_handle *r =
                        xenforeignmemory_map_resource(P.fm, P.domid, XENMEM_resource_ioreq_server, 100,
                                                      XENMEM_resource_ioreq_server_frame_ioreq(0), 1,
                                                      &addr, PROT_READ | PROT_WRITE, 0);
                fact("server.map_resource_unknown", "%s", ename(r ? 0 : -1, errno));
                if (r)
                        xenforeignmemory_unmap_resource(P.fm, r);
        }
        ioservid_t tmp;
        rc = xendevicemodel_create_ioreq_server(P.dm, P.domid, 7, &tmp);
        fact("server.create_bufioreq_7", "%s", ename(rc, errno));
        if (!rc)
                xendevicemodel_destroy_ioreq_server(P.dm, P.domid, tmp);
        rc = xendevicemodel_create_ioreq_server(P.dm, 1234, 0, &tmp);
        fact("server.create_bogus_domid", "%s", ename(rc, errno));
        rc = xendevicemodel_get_ioreq_server_info(P.dm, P.domid, P.srv[0].id, NULL, NULL, NULL);
        fact("server.get_info_null_gfns", "%s", ename(rc, errno));
        {
                xen_pfn_t g1 = 0, g2 = 0;
                rc = xendevicemodel_get_ioreq_server_info(P.dm, P.domid, P.srv[0].id, &g1, &g2, NULL);
                fact("server.get_info_with_gfns", "%s", ename(rc, errno));
        }

        /* -- ranges (on a scratch server, id 1) ------------------------- */
        srv_create(1, "r");
        rc = srv_map(1, P.dev, P.dev + 0xfff);
        fact("range.map", "%s", ename(rc, -rc));
        rc = srv_map(1, P.dev, P.dev + 0xfff);
        fact("range.map_same_twice", "%s", ename(rc, -rc));
        rc = srv_map(1, P.dev + 0x800, P.dev + 0x17ff);
        fact("range.map_partial_overlap", "%s", ename(rc, -rc));
        rc = srv_map(1, P.dev + 0x100, P.dev + 0x1ff);
        fact("range.map_contained", "%s", ename(rc, -rc));
        rc = srv_map(1, P.dev - 0x1000, P.dev + 0x1fff);
        fact("range.map_superset", "%s", ename(rc, -rc));
        rc = srv_map(1, P.dev + 0x1000, P.dev + 0x1fff);
        fact("range.map_adjacent", "%s", ename(rc, -rc));
        rc = srv_map(1, P.dev + 0x3fff, P.dev + 0x3000);
        fact("range.map_reversed", "%s", ename(rc, -rc));
        rc = xendevicemodel_map_io_range_to_ioreq_server(P.dm, P.domid, P.srv[1].id, 0, 0x100, 0x1ff);
        fact("range.map_pio_besides_mmio", "%s", ename(rc, errno));
        rc = xendevicemodel_map_io_range_to_ioreq_server(P.dm, P.domid, P.srv[1].id, 0, 0x100, 0x1ff);
        fact("range.map_pio_twice", "%s", ename(rc, errno));
        rc = xendevicemodel_unmap_io_range_from_ioreq_server(P.dm, P.domid, P.srv[1].id, 1,
                                                             P.dev + 0x1000, P.dev + 0x17ff);
        fact("range.unmap_subrange", "%s", ename(rc, errno));
        rc = xendevicemodel_unmap_io_range_from_ioreq_server(P.dm, P.domid, P.srv[1].id, 1,
                                                             P.dev + 0x1000, P.dev + 0x1fff);
        fact("range.unmap_original_after_subrange", "%s", ename(rc, errno));
        rc = xendevicemodel_unmap_io_range_from_ioreq_server(P.dm, P.domid, P.srv[1].id, 1,
                                                             P.dev + 0x5000, P.dev + 0x5fff);
        fact("range.unmap_never_mapped", "%s", ename(rc, errno));
        srv_create(2, "r2");
        rc = srv_map(2, P.dev, P.dev + 0xfff);
        fact("range.same_range_other_server", "%s", ename(rc, -rc));
        srv_destroy(2);
        srv_destroy(1);

        /* -- restricted handles ---------------------------------------------- */
        {
                xendevicemodel_handle *d2 = xendevicemodel_open(NULL, 0);
                rc = xendevicemodel_restrict(d2, P.domid);
                fact("restrict.dm", "%s", ename(rc, errno));
                rc = xendevicemodel_nr_vcpus(d2, P.domid, &nv);
                fact("restrict.dm_target", "%s", ename(rc, errno));
                rc = xendevicemodel_nr_vcpus(d2, 0, &nv);
                fact("restrict.dm_dom0", "%s", ename(rc, errno));
                rc = xendevicemodel_nr_vcpus(d2, 1234, &nv);
                fact("restrict.dm_bogus", "%s", ename(rc, errno));
                rc = xendevicemodel_restrict(d2, P.domid);
                fact("restrict.dm_same_again", "%s", ename(rc, errno));
                rc = xendevicemodel_restrict(d2, 1234);
                fact("restrict.dm_other_again", "%s", ename(rc, errno));
                xendevicemodel_close(d2);
                xenforeignmemory_handle *f2 = xenforeignmemory_open(NULL, 0);
                rc = xenforeignmemory_restrict(f2, P.domid);
                fact("restrict.fmem", "%s", ename(rc, errno));
                void *addr = NULL;
                xenforeignmemory_resource_handle *r =
                        xenforeignmemory_map_resource(f2, 1234, XENMEM_resource_ioreq_server, 0,
                                                      XENMEM_resource_ioreq_server_frame_ioreq(0), 1,
                                                      &addr, PROT_READ | PROT_WRITE, 0);
                fact("restrict.fmem_bogus", "%s", ename(r ? 0 : -1, errno));
                if (r)
                        xenforeignmemory_unmap_resource(f2, r);
                xenforeignmemory_close(f2);
                xenevtchn_handle *x2 = xenevtchn_open(NULL, 0);
                rc = xenevtchn_restrict(x2, P.domid);
                fact("restrict.evtchn", "%s", ename(rc, errno));
                rc = xenevtchn_bind_interdomain(x2, 1234, 1);
                fact("restrict.evtchn_bind_bogus", "%s", ename(rc, errno));
                xenevtchn_close(x2);
                /* a complete server set-up through handles restricted to the guest */
                d2 = xendevicemodel_open(NULL, 0);
                f2 = xenforeignmemory_open(NULL, 0);
                x2 = xenevtchn_open(NULL, 0);
                int r1 = xendevicemodel_restrict(d2, P.domid), r2 = xenforeignmemory_restrict(f2, P.domid);
                int r3 = xenevtchn_restrict(x2, P.domid);
                ioservid_t id;
                char steps[160];
                int step = 0;
                if (r1 || r2 || r3) {
                        snprintf(steps, sizeof(steps), "restrict-failed");
                } else if ((step = 1, xendevicemodel_create_ioreq_server(d2, P.domid, 0, &id)) == 0) {
                        addr = NULL;
                        r = xenforeignmemory_map_resource(f2, P.domid, XENMEM_resource_ioreq_server, id,
                                                          XENMEM_resource_ioreq_server_frame_ioreq(0), 1,
                                                          &addr, PROT_READ | PROT_WRITE, 0);
                        int p = -1;
                        if ((step = 2, r != NULL) &&
                            (step = 3, xendevicemodel_map_io_range_to_ioreq_server(d2, P.domid, id, 1, P.dev + 0x9000,
                                                                                    P.dev + 0x9fff) == 0) &&
                            (step = 4, xendevicemodel_set_ioreq_server_state(d2, P.domid, id, 1) == 0) &&
                            (step = 5, (p = xenevtchn_bind_interdomain(x2, P.domid,
                                        ((shared_iopage_t *)addr)->vcpu_ioreq[0].vp_eport)) >= 0) &&
                            (step = 6, xenevtchn_notify(x2, p) == 0) && (step = 7, xenevtchn_unbind(x2, p) == 0) &&
                            (step = 8, xendevicemodel_set_ioreq_server_state(d2, P.domid, id, 0) == 0) &&
                            (step = 9, xendevicemodel_destroy_ioreq_server(d2, P.domid, id) == 0))
                                step = 0;
                        e = errno;
                        if (step)
                                xendevicemodel_destroy_ioreq_server(P.dm, P.domid, id);
                        if (r)
                                xenforeignmemory_unmap_resource(f2, r);
                        snprintf(steps, sizeof(steps), step ? "failed-at-step-%d:%s" : "ok", step, ename(-1, e));
                } else {
                        snprintf(steps, sizeof(steps), "failed-at-step-1:%s", ename(-1, errno));
                }
                fact("restrict.full_setup_on_target", "%s", steps);
                xendevicemodel_close(d2);
                xenforeignmemory_close(f2);
                xenevtchn_close(x2);

                /* restrict_all changes the whole process: in a child */
                fflush(stdout);
                pid_t pid = fork();
                if (pid == 0) {
                        alarm(10);
                        xendevicemodel_handle *d3 = xendevicemodel_open(NULL, 0);
                        struct xs_handle *h3 = xs_open(0);
                        rc = xentoolcore_restrict_all(P.domid);
                        fact("restrict_all", "%s", ename(rc, errno));
                        rc = xendevicemodel_nr_vcpus(d3, 1234, &nv);
                        fact("restrict_all.dm_opened_before_bogus", "%s", ename(rc, errno));
                        unsigned len;
                        errno = 0;
                        void *v = h3 ? xs_read(h3, XBT_NULL, "/local/domain/0/name", &len) : NULL;
                        fact("restrict_all.xs_opened_before", "%s", v ? "readable" : ename(-1, errno));
                        free(v);
                        rc = xentoolcore_restrict_all(1234);
                        fact("restrict_all.again_other", "%s", ename(rc, errno));
                        fflush(stdout);
                        _exit(0);
                }
                int st = 0;
                if (pid > 0)
                        waitpid(pid, &st, 0);
                if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
                        note("restrict_all child failed (status %d)", st);
        }

        /* -- vp_eport timing and the control server ---------------------- */
        rc = srv_map(0, P.ctrl, P.ctrl + 0xfff);
        fact("page.nonzero_bytes_after_map_range", "%u", page_nonzero_bytes(&P.srv[0]));
        uint32_t ep_before = P.srv[0].page->vcpu_ioreq[0].vp_eport;
        fact("vp_eport.before_enable", "%u", ep_before);
        rc = srv_state(0, 1);
        fact("server.enable", "%s", ename(rc, -rc));
        uint32_t ep = P.srv[0].page->vcpu_ioreq[0].vp_eport;
        fact("vp_eport.after_enable_nonzero", "%d", ep != 0);
        {
                unsigned slots = 0, other = 0;
                for (unsigned v = 0; v < 128; v++) {
                        ioreq_t *r = &P.srv[0].page->vcpu_ioreq[v];
                        slots += r->vp_eport != 0;
                        other += r->addr || r->data || r->count || r->size || r->state || r->type;
                }
                fact("vp_eport.slots_set_after_enable", "%s", slots == P.nvcpus ? "nr_vcpus" : "other");
                fact("page.other_fields_after_enable", "%u", other);
        }
        rc = srv_state(0, 0);
        fact("vp_eport.after_disable_unchanged", "%d", P.srv[0].page->vcpu_ioreq[0].vp_eport == ep);
        rc = srv_state(0, 0);
        fact("server.disable_twice", "%s", ename(rc, -rc));
        srv_state(0, 1);
        rc = srv_state(0, 1);
        fact("server.enable_twice", "%s", ename(rc, -rc));
        fact("vp_eport.after_reenable_unchanged", "%d", P.srv[0].page->vcpu_ioreq[0].vp_eport == ep);

        /* bind: an event at once, with the slot idle */
        {
                double tb = now();
                rc = srv_bind(0);
                fact("evtchn.bind_vp_eport", "%s", ename(rc, -rc));
                if (rc) {
                        note("bind failed; cannot continue");
                        return 1;
                }
                struct pollfd pfd = { .fd = P.xfd, .events = POLLIN };
                int rd = poll(&pfd, 1, 1000);
                xenevtchn_port_or_error_t pp = rd > 0 ? xenevtchn_pending(P.xce) : -1;
                fact("evtchn.event_right_after_bind", "%d", rd > 0 && pp == (int)P.srv[0].local[0]);
                fact("evtchn.slot_state_at_bind_event", "%u", P.srv[0].page->vcpu_ioreq[0].state);
                if (pp >= 0)
                        xenevtchn_unmask(P.xce, pp);
                errno = 0;
                pp = xenevtchn_pending(P.xce);
                e = errno;
                fact("evtchn.pending_when_empty_nonblocking", "%s", pp < 0 ? ename(-1, e) : "port");
                note("bind+event took %.3fs", now() - tb);
                xenevtchn_handle *x2 = xenevtchn_open(NULL, 0);
                rc = xenevtchn_bind_interdomain(x2, P.domid, ep);
                fact("evtchn.bind_bound_port_again", "%s", ename(rc, errno));
                xenevtchn_close(x2);
                rc = xenevtchn_bind_interdomain(P.xce, P.domid, 4000);
                fact("evtchn.bind_nonexistent_remote", "%s", ename(rc, errno));
                rc = xenevtchn_notify(P.xce, 999);
                fact("evtchn.notify_unbound_local", "%s", ename(rc, errno));
                rc = xenevtchn_unmask(P.xce, P.srv[0].local[0]);
                fact("evtchn.unmask_not_pending", "%s", ename(rc, errno));
        }

        /* -- servers for selection and INVALIDATE, created before the boot -- */
        static const char *const nm[MAX_SRV] = { "ctrl", "s1", "s2", "s3" };
        srv_create(1, "s1");
        srv_create(2, "s2");
        srv_create(3, "s3");
        fact("server.ids_s1_s2_s3_relative", "%s",
             P.srv[1].id < P.srv[2].id && P.srv[2].id < P.srv[3].id ? "increasing" : "other");
        srv_map(1, P.dev, P.dev + 0x1fff);
        srv_map(2, P.dev, P.dev + 0xfff);
        srv_map(3, P.dev + 0x100, P.dev + 0x103);
        srv_state(1, 1);
        srv_state(2, 1);
        srv_state(3, 1);
        srv_bind(1);
        srv_bind(2);
        srv_bind(3);
        fact("vp_eport.distinct_between_servers", "%d",
             P.srv[1].page->vcpu_ioreq[0].vp_eport != P.srv[2].page->vcpu_ioreq[0].vp_eport &&
             P.srv[2].page->vcpu_ioreq[0].vp_eport != P.srv[3].page->vcpu_ioreq[0].vp_eport &&
             P.srv[0].page->vcpu_ioreq[0].vp_eport != P.srv[1].page->vcpu_ioreq[0].vp_eport);
        srv_state(3, 0);        /* s3: enabled, bound, then disabled */
        P.srv[1].answer = 0xaaaaaaaaaaaaaaaaull;
        P.srv[2].answer = 0xbbbbbbbbbbbbbbbbull;
        P.srv[3].answer = 0xccccccccccccccccull;
        pump_for(300);          /* the bind events */
        P.nlog = 0;

        /* -- boot ---------------------------------------------------------- */
        run("unpause", c_unpause);
        if (guest_ready(tmo * 1000 / 2) < 0) {
                note("the guest never read its first command");
                fact("guest.ready", "0");
                return 1;
        }
        fact("guest.ready", "1");
        {
                unsigned n0 = log_count(0, IOREQ_TYPE_INVALIDATE, 0);
                unsigned n1 = log_count(1, IOREQ_TYPE_INVALIDATE, 0);
                unsigned n2 = log_count(2, IOREQ_TYPE_INVALIDATE, 0);
                unsigned n3 = log_count(3, IOREQ_TYPE_INVALIDATE, 0);
                fact("invalidate.boot.per_enabled_server", "%u,%u,%u", n0, n1, n2);
                fact("invalidate.boot.disabled_server", "%u", n3);
                note("ctrl nreq during boot: %lu", P.srv[0].nreq);
        }
        unsigned from;
        uint64_t val = 0;

        /* -- request fields, selection ------------------------------------ */
        P.srv[3].answer = 0xccccccccccccccccull;
        srv_state(3, 1);
        from = P.nlog;
        rc = guest_do(OP_WRITE, 4, P.dev + 0x10, 0xa1, NULL, 10000);
        fact("select.two_full_one_partial_elsewhere", "%s", rc ? "timeout" : who_got(from, nm));
        if (!rc && P.nlog > from) {
                ioreq_t *r = &P.log[P.nlog - 1].r;
                fact("req.write.fields", "type=%u,dir=%u,size=%u,count=%u,ptr=%u,df=%u,addr_is_gpa=%d,data=0x%" PRIx64,
                     r->type, r->dir, r->size, r->count, r->data_is_ptr, r->df, r->addr == P.dev + 0x10,
                     (uint64_t)r->data);
                fact("req.slot_is_vcpu", "%u", P.log[P.nlog - 1].vcpu);
        }
        from = P.nlog;
        rc = guest_do(OP_READ, 2, P.dev + 0x20, 0, &val, 10000);
        fact("req.read.answer_width_2", "%s", rc ? "timeout" : val == 0xbbbb ? "0xbbbb" : "other");
        if (!rc && P.nlog > from)
                fact("req.read.data_in_request", "0x%" PRIx64, (uint64_t)P.log[P.nlog - 1].r.data);
        fact("slot.state_after_guest_consumed", "%u", P.srv[2].page->vcpu_ioreq[0].state);
        from = P.nlog;
        rc = guest_do(OP_WRITE, 2, P.dev + 0x22, 0xbeef, NULL, 10000);
        fact("req.write.zero_extended", "%s",
             rc || P.nlog == from ? "timeout" : P.log[P.nlog - 1].r.data == 0xbeef ? "1" : "0");
        from = P.nlog;
        rc = guest_do(OP_WRITE, 4, P.dev + 0x100, 1, NULL, 10000);
        fact("select.partial_owner_full_cover", "%s", rc ? "timeout" : who_got(from, nm));
        from = P.nlog;
        rc = guest_do(OP_WRITE, 8, P.dev + 0x100, 2, NULL, 10000);
        fact("select.partial_owner_too_small_8", "%s", rc ? "timeout" : who_got(from, nm));
        from = P.nlog;
        rc = guest_do(OP_READ, 4, P.dev + 0x102, 0, &val, 10000);
        fact("select.partial_owner_straddle_4", "%s", rc ? "timeout" : who_got(from, nm));
        srv_state(2, 0);
        from = P.nlog;
        rc = guest_do(OP_WRITE, 4, P.dev + 0x10, 3, NULL, 10000);
        fact("select.after_disabling_highest_full", "%s", rc ? "timeout" : who_got(from, nm));
        srv_state(2, 1);
        srv_destroy(3);
        from = P.nlog;
        rc = guest_do(OP_WRITE, 4, P.dev + 0x100, 4, NULL, 10000);
        fact("select.after_destroying_partial", "%s", rc ? "timeout" : who_got(from, nm));
        /* page crossing: s1 covers both pages, s2 only the first */
        srv_state(2, 0);
        from = P.nlog;
        rc = guest_do(OP_WRITE, 4, P.dev + 0xffe, 0x11223344, NULL, 10000);
        if (rc) {
                fact("req.page_cross_write", "timeout");
        } else {
                char b[128] = "";
                for (unsigned k = from; k < P.nlog; k++) {
                        char one[48];
                        snprintf(one, sizeof(one), "%s%s:+0x%" PRIx64 ":%u:0x%" PRIx64, k > from ? "," : "",
                                 nm[P.log[k].srv], (uint64_t)(P.log[k].r.addr - P.dev), P.log[k].r.size,
                                 (uint64_t)P.log[k].r.data);
                        strncat(b, one, sizeof(b) - strlen(b) - 1);
                }
                fact("req.page_cross_write", "%s", b);
        }
        srv_state(2, 1);

        /* -- no server ----------------------------------------------------- */
        from = P.nlog;
        rc = guest_do(OP_READ, 4, P.dev + 0x20000, 0, &val, 10000);
        fact("noserver.read4", rc ? "timeout" : "0x%" PRIx64, val);
        rc = guest_do(OP_READ, 2, P.dev + 0x20000, 0, &val, 10000);
        fact("noserver.read2", rc ? "timeout" : "0x%" PRIx64, val);
        rc = guest_do(OP_READ, 8, P.dev + 0x20000, 0, &val, 10000);
        fact("noserver.read8", rc ? "timeout" : "0x%" PRIx64, val);
        rc = guest_do(OP_WRITE, 4, P.dev + 0x20000, 0x12345678, NULL, 10000);
        fact("noserver.write_completes", "%d", rc == 0);
        fact("noserver.requests_seen", "%u", P.nlog - from);

        /* -- port I/O -------------------------------------------------------- */
        rc = xendevicemodel_map_io_range_to_ioreq_server(P.dm, P.domid, P.srv[1].id, 0, 0x7000, 0x70ff);
        fact("pio.map_range", "%s", ename(rc, errno));
        from = P.nlog;
        rc = guest_do(OP_POUT, 4, 0x7000, 0x12345678, NULL, 10000);
        if (rc || P.nlog == from) {
                fact("pio.out4.fields", "%s", rc ? "timeout" : "none");
        } else {
                struct req_log *l = &P.log[P.nlog - 1];
                fact("pio.out4.fields", "srv=%s,type=%u,dir=%u,size=%u,count=%u,ptr=%u,addr=0x%" PRIx64 ",data=0x%" PRIx64,
                     nm[l->srv], l->r.type, l->r.dir, l->r.size, l->r.count, l->r.data_is_ptr, (uint64_t)l->r.addr,
                     (uint64_t)l->r.data);
        }
        from = P.nlog;
        rc = guest_do(OP_PIN, 2, 0x7002, 0, &val, 10000);
        fact("pio.in2", rc ? "timeout" : "0x%" PRIx64 ",srv=%s", val, who_got(from, nm));
        from = P.nlog;
        rc = guest_do(OP_PIN, 1, 0x70ff, 0, &val, 10000);
        fact("pio.in1_last_port", rc ? "timeout" : "0x%" PRIx64 ",srv=%s", val, who_got(from, nm));
        from = P.nlog;
        rc = guest_do(OP_PIN, 4, 0x70fe, 0, &val, 10000);
        fact("pio.in4_straddling_range_end", rc ? "timeout" : "0x%" PRIx64 ",requests=%u", val, P.nlog - from);
        from = P.nlog;
        rc = guest_do(OP_PIN, 4, 0x7100, 0, &val, 10000);
        fact("pio.noserver.in4", rc ? "timeout" : "0x%" PRIx64 ",requests=%u", val, P.nlog - from);
        from = P.nlog;
        rc = guest_do(OP_POUT, 2, 0x7100, 0x1234, NULL, 10000);
        fact("pio.noserver.out2_completes", "%d,requests=%u", rc == 0, P.nlog - from);

        /* -- masking ------------------------------------------------------- */
        P.srv[2].no_unmask = true;
        rc = guest_do(OP_WRITE, 4, P.dev + 0x30, 5, NULL, 10000);
        fact("mask.first_request_answered", "%d", rc == 0);
        from = P.nlog;
        rc = guest_do(OP_WRITE, 4, P.dev + 0x34, 6, NULL, 2000);
        fact("mask.new_request_on_masked_port_delivered", "%d", rc == 0);
        fact("mask.slot_state_while_masked", "%u", P.srv[2].page->vcpu_ioreq[0].state);
        P.srv[2].no_unmask = false;
        if (rc) {
                xenevtchn_unmask(P.xce, P.srv[2].local[0]);
                rc = guest_wait(2000);
                fact("mask.unmask_delivers_pending", "%d", rc == 0);
                if (rc)
                        return 1;
        }
        /* hold: an unanswered request keeps the vCPU blocked; answering later releases it */
        P.srv[2].hold = true;
        rc = guest_do(OP_READ, 4, P.dev + 0x38, 0, &val, 1500);
        fact("hold.guest_blocked_while_unanswered", "%d", rc != 0);
        P.srv[2].hold = false;
        if (rc) {
                ioreq_t *slot = &P.srv[2].page->vcpu_ioreq[0];
                fact("hold.slot_state", "%u", slot->state);
                slot->data = 0x77777777;
                complete(&P.srv[2], 0, P.srv[2].local[0]);
                rc = guest_wait(3000);
                fact("hold.late_answer_releases", "%s", rc ? "timeout" : P.cmd_result == 0x77777777
                     ? "0x77777777" : "other");
                if (rc)
                        return 1;
        }

        /* -- how answers are taken: NONE, no notify, while disabled ---------- */
        {
                ioreq_t *slot = &P.srv[2].page->vcpu_ioreq[0];
                P.srv[2].hold = true;
                rc = guest_do(OP_READ, 4, P.dev + 0x40, 0, NULL, 1000);
                if (rc == 0) {
                        fact("answer.state_none_read", "not-held");
                } else {
                        slot->data = 0x3333;
                        __atomic_thread_fence(__ATOMIC_RELEASE);
                        slot->state = STATE_IOREQ_NONE;
                        xenevtchn_notify(P.xce, P.srv[2].local[0]);
                        rc = guest_wait(3000);
                        fact("answer.state_none_read", rc ? "blocked" : "0x%" PRIx64, P.cmd_result);
                        if (rc)
                                return 1;
                }
                rc = guest_do(OP_READ, 4, P.dev + 0x44, 0, NULL, 1000);
                if (rc == 0) {
                        fact("answer.resp_ready_without_notify", "not-held");
                } else {
                        slot->data = 0x4444;
                        __atomic_thread_fence(__ATOMIC_RELEASE);
                        slot->state = STATE_IORESP_READY;
                        rc = guest_wait(1500);
                        fact("answer.resp_ready_without_notify", "%s", rc ? "blocked" : "completed");
                        xenevtchn_notify(P.xce, P.srv[2].local[0]);
                        rc = guest_wait(3000);
                        fact("answer.notify_after_resp_ready", rc ? "blocked" : "0x%" PRIx64, P.cmd_result);
                        if (rc)
                                return 1;
                }
                rc = guest_do(OP_READ, 4, P.dev + 0x48, 0, NULL, 1000);
                if (rc == 0) {
                        fact("answer.while_disabled", "not-held");
                } else {
                        srv_state(2, 0);
                        slot->data = 0x5555;
                        complete(&P.srv[2], 0, P.srv[2].local[0]);
                        rc = guest_wait(3000);
                        fact("answer.while_disabled", rc ? "blocked" : "0x%" PRIx64, P.cmd_result);
                        srv_state(2, 1);
                        if (rc)
                                return 1;
                }
                P.srv[2].hold = false;
        }

        /* -- INVALIDATE on demand: the guest sleeps so its vCPU is free ----- */
        if (c_inval && *c_inval) {
                srv_create(3, "s3");
                srv_map(3, P.dev + 0x8000, P.dev + 0x8fff);
                srv_state(3, 1);
                srv_bind(3);
                srv_state(3, 0);
                pump_for(200);
                from = P.nlog;
                P.seq++;
                P.cmd_word = OP_SLEEP | (uint64_t)P.seq << 32;
                P.cmd_val = 4000;
                P.cmd_valid = true;
                P.cmd_sent = false;
                P.cmd_done = false;
                if (P.ctrl_held)
                        ctrl_answer();
                pump_for(300);
                run("invalidate", c_inval);
                rc = guest_wait(20000);
                pump_for(500);
                unsigned n[4];
                for (int i = 0; i < 4; i++)
                        n[i] = log_count(i, IOREQ_TYPE_INVALIDATE, from);
                fact("invalidate.demand.every_enabled_server", "%d", n[0] && n[1] && n[2] &&
                     n[0] == n[1] && n[1] == n[2]);
                fact("invalidate.demand.disabled_server", "%u", n[3]);
                int order_ok = -1;
                for (unsigned k = from; k + 2 < P.nlog; k++) {
                        if (P.log[k].r.type != IOREQ_TYPE_INVALIDATE)
                                continue;
                        if (P.log[k].srv == 2 && P.log[k + 1].srv == 1 && P.log[k + 2].srv == 0)
                                order_ok = order_ok != 0;
                        else
                                order_ok = 0;
                        k += 2;
                }
                fact("invalidate.demand.order", "%s", order_ok == 1 ? "highest-first" : order_ok == 0 ? "other" : "none");
                for (unsigned k = from; k < P.nlog; k++)
                        if (P.log[k].r.type == IOREQ_TYPE_INVALIDATE) {
                                ioreq_t *r = &P.log[k].r;
                                fact("invalidate.fields", "dir=%u,addr=0x%" PRIx64 ",size=%u,count=%u,ptr=%u,data=0x%" PRIx64,
                                     r->dir, (uint64_t)r->addr, r->size, r->count, r->data_is_ptr, (uint64_t)r->data);
                                break;
                        }
                note("invalidates per server: %u %u %u %u", n[0], n[1], n[2], n[3]);
        }

        /* -- a server destroyed while the guest waits for it (the guest stays
         *    blocked on real Xen, so this comes last) ------------------------ */
        P.srv[2].hold = true;
        rc = guest_do(OP_READ, 4, P.dev + 0x4c, 0, NULL, 1000);
        if (rc == 0) {
                fact("inflight.destroy_server_releases_guest", "not-held");
        } else {
                srv_destroy(2);
                rc = guest_wait(2000);
                fact("inflight.destroy_server_releases_guest", "%d", rc == 0);
        }

        /* -- the domain goes away ------------------------------------------- */
        P.nlog = 0;
        mark = X.n;
        char dpath[64];
        snprintf(dpath, sizeof(dpath), "/local/domain/%u", P.domid);
        run("destroy", c_destroy);
        xs_drain(4000, NULL, 0);
        {
                int nrel = 0, removed_before_release = 0, removed = 0;
                for (unsigned k = mark; k < X.n; k++) {
                        if (!strcmp(X.ev[k].token, "R"))
                                nrel++;
                        if (!strcmp(X.ev[k].path, dpath) && X.ev[k].exists == 0) {
                                removed = 1;
                                removed_before_release |= nrel == 0;
                        }
                }
                fact("xs.destroy.release_events", "%d", nrel);
                fact("xs.destroy.domain_node_removed_before_release", "%d", removed_before_release);
                fact("xs.destroy.domain_node_removed", "%d", removed);
                char *v = xs_get("%s/name", dpath);
                fact("xs.destroy.name_absent_after", "%d", v == NULL);
                free(v);
        }
        pump_for(1000);
        fact("dead.server_requests_after_destroy", "%u", P.nlog);
        fact("dead.page_still_readable", "%d", P.srv[1].page->vcpu_ioreq[0].vp_eport != 0);
        rc = xendevicemodel_destroy_ioreq_server(P.dm, P.domid, P.srv[1].id);
        fact("dead.destroy_server", "%s", ename(rc, errno));
        rc = xendevicemodel_set_ioreq_server_state(P.dm, P.domid, P.srv[1].id, 0);
        fact("dead.set_state", "%s", ename(rc, errno));
        rc = xenevtchn_notify(P.xce, P.srv[1].local[0]);
        fact("dead.notify_old_port", "%s", ename(rc, errno));
        rc = xenevtchn_unbind(P.xce, P.srv[1].local[0]);
        fact("dead.unbind_old_port", "%s", ename(rc, errno));
        {
                void *addr = NULL;
                xenforeignmemory_resource_handle *r =
                        xenforeignmemory_map_resource(P.fm, P.domid, XENMEM_resource_ioreq_server, P.srv[1].id,
                                                      XENMEM_resource_ioreq_server_frame_ioreq(0), 1,
                                                      &addr, PROT_READ | PROT_WRITE, 0);
                fact("dead.map_resource", "%s", ename(r ? 0 : -1, errno));
                if (r)
                        xenforeignmemory_unmap_resource(P.fm, r);
                ioservid_t id;
                rc = xendevicemodel_create_ioreq_server(P.dm, P.domid, 0, &id);
                fact("dead.create_server", "%s", ename(rc, errno));
                unsigned int n = 0;
                rc = xendevicemodel_nr_vcpus(P.dm, P.domid, &n);
                fact("dead.nr_vcpus", "%s", ename(rc, errno));
        }
        /* the dying domain is kept while its ioreq pages are mapped; it goes once they are not */
        for (int i = 0; i < MAX_SRV; i++)
                if (P.srv[i].res) {
                        xenforeignmemory_unmap_resource(P.fm, P.srv[i].res);
                        P.srv[i].res = NULL;
                }
        {
                unsigned int n = 0;
                double end = now() + 10;
                while ((rc = xendevicemodel_nr_vcpus(P.dm, P.domid, &n)) == 0 && now() < end)
                        usleep(100 * 1000);
                fact("dead.nr_vcpus_after_unmap", "%s", ename(rc, errno));
        }
        fact("probe.complete", "1");
        note("%d facts in %.1fs, %lu spurious events", nfacts, now() - t0, P.spurious);
        return 0;
}
