/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The workers' confinement and the parent's distance from guest memory,
 * each checked where it could fail:
 *   - handles: every devicemodel, foreignmemory and evtchn handle of a
 *     worker is restricted to its own domain, and every port it bound is
 *     one of that domain (xensim's view of the process);
 *     and the worker's own set-up code (xen_server_open, run in a child of
 *     this test) leaves every handle of the process, also ones opened before
 *     it, unable to reach another guest that has a server: EPERM for
 *     devicemodel and foreignmemory, EACCES for evtchn (Linux's evtchn
 *     device), the refused map counted by the host;
 *   - descriptors: a worker holds nothing of the parent's but /dev/null, its
 *     guest's counters and its guest's eventfds (kcmp against each of the
 *     parent's descriptors and another guest's eventfd);
 *   - credentials: a worker's uids and gids are not 0, it has no
 *     supplementary group but its own, no capability, no_new_privs, a
 *     seccomp filter and no file size; sandbox_drop, run as root in a child,
 *     leaves setuid(0) and setgid(0) failing with EPERM;
 *   - the filter: a worker made to call getuid (gdb injects the call) is
 *     killed by SIGSYS; the parent starts a new worker, which answers the
 *     kick a vCPU made while the old one was stopped and serves the vCPU
 *     that kept kicking throughout (every kick signalled at least once),
 *     confined as the first one;
 *   - the parent: it never called map_resource (xensim's history of its
 *     pid: nothing made, nothing refused, no record forgotten) and every
 *     mapping of an ioreq page belongs to the worker of that domain.
 * Runs as root (workers drop from root to worker_user) and needs gdb; a
 * missing precondition fails the test.
 */
#define _GNU_SOURCE 1
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/kcmp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xen/xen.h>
#include <xen/memory.h>

#include "itlib.h"
#include "sandbox.h"
#include "testutil.h"
#include "xen.h"

#define BASE            UINT64_C(0xfe000000)
#define NOTIFY          (BASE + XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY)
#define WORKER_UID      65534u          /* itlib's worker_user */
#define LOAD_SECONDS    4.0
/* a system call no worker needs, in neither allow-list (sandbox.c) */
#define FORBIDDEN_SYSCALL SYS_getuid

static It it;

/* ---- what xensim and /proc say about a process ---- */

/* the first server of domid (the daemon's: the guest has no other) */
static unsigned server_of(uint32_t domid) {
        struct xsg_server_info s[XSG_MAX_SERVERS];

        CHECK_EQ(it_servers(&it, domid, s, XSG_MAX_SERVERS), 1, "servers of the domain");
        return s[0].id;
}

static const char *kind_name(enum xsg_handle_kind k) {
        switch (k) {
        case XSG_HANDLE_DEVICEMODEL: return "devicemodel";
        case XSG_HANDLE_FOREIGNMEMORY: return "foreignmemory";
        case XSG_HANDLE_EVTCHN: return "evtchn";
        case XSG_HANDLE_GUEST: return "guest driver";
        default: return "unknown";
        }
}

/* every Xen handle of pid restricted to domid; one of each kind at least; returns how many */
static int check_handles_restricted(pid_t pid, uint32_t domid, const char *who) {
        struct xsg_handle_info h[32];
        unsigned seen[5] = { 0 };
        int n = xsg_handles(it.xsg, (uint32_t) pid, h, 32);

        CHECK(n >= 0, "listing the handles of %s %d: %s", who, (int) pid, strerror(-n));
        CHECK(n <= 32, "%s %d has %d handles", who, (int) pid, n);
        for (int i = 0; i < n; i++) {
                CHECK(h[i].kind == XSG_HANDLE_DEVICEMODEL || h[i].kind == XSG_HANDLE_FOREIGNMEMORY ||
                      h[i].kind == XSG_HANDLE_EVTCHN, "%s %d holds a %s handle (id %" PRIu64 ")", who, (int) pid,
                      kind_name(h[i].kind), h[i].id);
                CHECK(h[i].restricted && h[i].restrict_domid == domid,
                      "%s %d: %s handle %" PRIu64 " restricted=%d to domain %u, expected restricted to %u", who,
                      (int) pid, kind_name(h[i].kind), h[i].id, h[i].restricted, h[i].restrict_domid, domid);
                seen[h[i].kind]++;
                if (h[i].kind == XSG_HANDLE_EVTCHN) {
                        struct xsg_port_info ports[XSG_MAX_VCPUS];
                        int np = xsg_handle_ports(it.xsg, h[i].id, ports, XSG_MAX_VCPUS);

                        CHECK(np >= 0 && np <= (int) XSG_MAX_VCPUS, "ports of evtchn handle %" PRIu64 ": %d", h[i].id,
                              np);
                        for (int k = 0; k < np; k++)
                                CHECK(ports[k].kind == XSG_PORT_GONE || ports[k].domid == domid,
                                      "%s %d: port %u bound to domain %u", who, (int) pid, ports[k].port,
                                      ports[k].domid);
                }
        }
        CHECK(seen[XSG_HANDLE_DEVICEMODEL] > 0 && seen[XSG_HANDLE_FOREIGNMEMORY] > 0 && seen[XSG_HANDLE_EVTCHN] > 0,
              "%s %d holds devicemodel %u, foreignmemory %u, evtchn %u handles: one of each expected", who,
              (int) pid, seen[XSG_HANDLE_DEVICEMODEL], seen[XSG_HANDLE_FOREIGNMEMORY], seen[XSG_HANDLE_EVTCHN]);
        return n;
}

/* the value after "key:" in /proc/pid/file (whitespace squeezed), or fails the test */
static void proc_field(pid_t pid, const char *file, const char *key, char *buf, size_t size) {
        char path[64], line[512];
        size_t klen = strlen(key);
        FILE *f;

        snprintf(path, sizeof path, "/proc/%d/%s", (int) pid, file);
        f = fopen(path, "re");
        CHECK(f, "open %s: %s", path, strerror(errno));
        while (fgets(line, sizeof line, f)) {
                const char *v;
                size_t k = 0;

                if (strncmp(line, key, klen) != 0 || (line[klen] != ':' && line[klen] != ' '))
                        continue;
                /* the value, each run of blanks made one space */
                for (v = line + klen + (line[klen] == ':'); *v && *v != '\n' && k + 1 < size; v++) {
                        bool blank = *v == ' ' || *v == '\t';

                        if (!blank)
                                buf[k++] = *v;
                        else if (k > 0 && buf[k - 1] != ' ')
                                buf[k++] = ' ';
                }
                while (k > 0 && buf[k - 1] == ' ')
                        k--;
                buf[k] = '\0';
                fclose(f);
                return;
        }
        fclose(f);
        IT_FAIL("%s has no %s line", path, key);
}

static void check_ids(pid_t pid, const char *key) {
        char v[256];
        unsigned long id[4];
        int n;

        proc_field(pid, "status", key, v, sizeof v);
        n = sscanf(v, "%lu %lu %lu %lu", &id[0], &id[1], &id[2], &id[3]);
        CHECK(n == 4, "worker %d: %s: '%s'", (int) pid, key, v);
        for (int i = 0; i < 4; i++)
                CHECK(id[i] != 0, "worker %d: %s %s (real, effective, saved, filesystem): one is root", (int) pid,
                      key, v);
}

/* the credentials and limits of a worker (/proc/PID/status and limits) */
static void check_confined(pid_t pid) {
        char v[256], gid[32];
        static const char *const caps[] = { "CapInh", "CapPrm", "CapEff", "CapAmb" };

        check_ids(pid, "Uid");
        check_ids(pid, "Gid");
        proc_field(pid, "status", "Uid", v, sizeof v);
        CHECK(strtoul(v, NULL, 10) == WORKER_UID, "worker %d: Uid %s, expected %u (worker_user)", (int) pid, v,
              WORKER_UID);
        /* no supplementary group, or only its own */
        proc_field(pid, "status", "Gid", gid, sizeof gid);
        *strchrnul(gid, ' ') = '\0';
        proc_field(pid, "status", "Groups", v, sizeof v);
        for (char *save = NULL, *g = strtok_r(v, " ", &save); g; g = strtok_r(NULL, " ", &save))
                CHECK(strcmp(g, gid) == 0, "worker %d: supplementary group %s (its gid is %s)", (int) pid, g, gid);
        for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
                proc_field(pid, "status", caps[i], v, sizeof v);
                CHECK(strtoull(v, NULL, 16) == 0, "worker %d: %s %s, expected none", (int) pid, caps[i], v);
        }
        proc_field(pid, "status", "NoNewPrivs", v, sizeof v);
        CHECK(strcmp(v, "1") == 0, "worker %d: NoNewPrivs %s, expected 1", (int) pid, v);
        proc_field(pid, "status", "Seccomp", v, sizeof v);
        CHECK(strcmp(v, "2") == 0, "worker %d: Seccomp %s, expected 2 (a filter)", (int) pid, v);
        proc_field(pid, "limits", "Max file size", v, sizeof v);
        CHECK(strncmp(v, "0 0 ", 4) == 0, "worker %d: Max file size %s, expected 0 0", (int) pid, v);
}

/* a in process pa and b in process pb are one open file (kcmp must answer: the test fails if it cannot) */
static bool same_file(pid_t pa, int a, pid_t pb, int b) {
        long r = syscall(SYS_kcmp, pa, pb, KCMP_FILE, a, b);

        CHECK(r >= 0, "kcmp of fd %d of %d and fd %d of %d: %s", a, (int) pa, b, (int) pb, strerror(errno));
        return r == 0;
}

/* the descriptors of a process, up to n; their number */
static size_t proc_fds(pid_t pid, int *fds, size_t n) {
        char path[64];
        size_t k = 0;
        DIR *d;

        snprintf(path, sizeof path, "/proc/%d/fd", (int) pid);
        d = opendir(path);
        CHECK(d, "open %s: %s", path, strerror(errno));
        for (struct dirent *e; (e = readdir(d));)
                if (e->d_name[0] != '.' && k < n)
                        fds[k++] = atoi(e->d_name);
        closedir(d);
        CHECK(k < n, "%s: more than %zu descriptors", path, n);
        return k;
}

/*
 * Nothing of the parent's reaches a worker but /dev/null, its guest's
 * counters page and the eventfds its guest's backends registered (own, the
 * test's copies): not another guest's eventfd (other), and no other open
 * file the parent holds (kcmp, descriptor by descriptor).
 */
static void check_worker_fds(pid_t parent, pid_t worker, const int *own, size_t n_own, int other) {
        int wfds[256], pfds[1024];
        size_t nw = proc_fds(worker, wfds, 256), np = proc_fds(parent, pfds, 1024), stats = 0;
        bool found[8] = { false };
        pid_t self = getpid();

        CHECK(nw >= 4 && n_own <= 8, "worker %d has %zu descriptors", (int) worker, nw);
        for (size_t i = 0; i < nw; i++) {
                char link[64], target[256] = "";
                bool allowed = false;
                ssize_t n;

                snprintf(link, sizeof link, "/proc/%d/fd/%d", (int) worker, wfds[i]);
                n = readlink(link, target, sizeof target - 1);
                target[n > 0 ? n : 0] = '\0';
                CHECK(!same_file(worker, wfds[i], self, other), "worker %d holds another guest's eventfd as fd %d",
                      (int) worker, wfds[i]);
                for (size_t k = 0; k < n_own; k++)
                        if (same_file(worker, wfds[i], self, own[k]))
                                allowed = found[k] = true;
                if (strncmp(target, "/memfd:xen-ioreqd-stats", 23) == 0) {
                        /* its guest's counters, and no other guest's */
                        stats++;
                        continue;
                }
                if (allowed || strcmp(target, "/dev/null") == 0)
                        continue;
                for (size_t k = 0; k < np; k++)
                        CHECK(!same_file(worker, wfds[i], parent, pfds[k]), "worker %d's fd %d (%s) is the parent's fd %d",
                              (int) worker, wfds[i], target, pfds[k]);
        }
        CHECK(stats <= 1, "worker %d maps %zu counters pages", (int) worker, stats);
        /* kcmp sees what it should: each of its guest's eventfds is in the worker */
        for (size_t k = 0; k < n_own; k++)
                CHECK(found[k], "worker %d does not hold its guest's eventfd %zu", (int) worker, k);
}

/* the parent never asked for an ioreq page; every mapping of domid's pages is its worker's */
static void check_parent_maps_nothing(pid_t parent, uint32_t domid, pid_t worker) {
        struct xsg_map_history mh;
        struct xsg_mapping_info m[16];
        struct xsg_handle_info h[32];
        int n, r;

        r = xsg_map_history(it.xsg, (uint32_t) parent, &mh);
        CHECK(r == 0, "map history of the parent %d: %s", (int) parent, strerror(-r));
        CHECK(mh.maps == 0 && mh.refused == 0 && mh.alive == 0 && mh.forgotten == 0,
              "the parent %d called map_resource: %" PRIu64 " mapped, %" PRIu64 " refused, %u alive, %" PRIu64
              " forgotten records (all 0 expected)", (int) parent, mh.maps, mh.refused, mh.alive, mh.forgotten);
        n = xsg_handles(it.xsg, (uint32_t) parent, h, 32);
        CHECK(n >= 0 && n <= 32, "handles of the parent: %d", n);
        for (int i = 0; i < n; i++)
                CHECK(h[i].kind != XSG_HANDLE_FOREIGNMEMORY, "the parent %d holds a foreignmemory handle", (int) parent);

        n = xsg_server_mappings(it.xsg, domid, XSG_ANY_SERVER, m, 16);
        CHECK(n >= 1 && n <= 16, "mappings of domain %u's ioreq pages: %d", domid, n);
        for (int i = 0; i < n; i++)
                CHECK(m[i].pid == (uint32_t) worker, "mapping %u of server %u of domain %u made by pid %u, not by its "
                      "worker %d", m[i].id, m[i].server, domid, m[i].pid, (int) worker);
}

/* ---- the worker's set-up code in a child: restricted handles cannot reach another guest ---- */

typedef struct ReachResult {
        int open;               /* xen_server_open: 0 or -errno */
        int info_own;           /* get_ioreq_server_info on its own domain: 0 or errno */
        int map_own;            /* map_resource of its own server's page */
        int info_other;         /* the same on the other domain: errno expected */
        int map_other;
        int create_other;       /* create_ioreq_server on the other domain */
        int bind_other;         /* bind_interdomain to a vCPU port of the other domain's server */
} ReachResult;

static int err_or_0(bool ok) {
        return ok ? 0 : errno > 0 ? errno : EIO;
}

static void reach_child(int out, int in, uint32_t own, unsigned own_server, uint32_t other, unsigned other_server,
                        uint32_t other_port) {
        ReachResult res = { 0 };
        xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
        xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
        xenevtchn_handle *xce = xenevtchn_open(NULL, 0);
        xenforeignmemory_resource_handle *fres;
        XenServer *s = NULL;
        ioservid_t id;
        void *addr = NULL;
        char c;

        XenHandles *h = NULL;

        if (!dm || !fm || !xce)
                _exit(3);
        /* as a worker does at start, before it knows its domain */
        if (xen_handles_open(&h) < 0)
                _exit(3);
        /* opened before it, restricted by it: xentoolcore_restrict_all covers every handle of the process */
        res.open = xen_server_open(&s, &h, own);
        res.info_own = err_or_0(xendevicemodel_get_ioreq_server_info(dm, (domid_t) own, (ioservid_t) own_server,
                                                                     NULL, NULL, NULL) == 0);
        fres = xenforeignmemory_map_resource(fm, (domid_t) own, XENMEM_resource_ioreq_server, own_server,
                                             XENMEM_resource_ioreq_server_frame_ioreq(0), 1, &addr, PROT_READ, 0);
        res.map_own = err_or_0(fres != NULL);
        if (fres)
                (void) xenforeignmemory_unmap_resource(fm, fres);
        res.info_other = err_or_0(xendevicemodel_get_ioreq_server_info(dm, (domid_t) other,
                                                                       (ioservid_t) other_server, NULL, NULL,
                                                                       NULL) == 0);
        addr = NULL;
        fres = xenforeignmemory_map_resource(fm, (domid_t) other, XENMEM_resource_ioreq_server, other_server,
                                             XENMEM_resource_ioreq_server_frame_ioreq(0), 1, &addr,
                                             PROT_READ | PROT_WRITE, 0);
        res.map_other = err_or_0(fres != NULL);
        res.create_other = err_or_0(xendevicemodel_create_ioreq_server(dm, (domid_t) other, 0, &id) == 0);
        res.bind_other = err_or_0(xenevtchn_bind_interdomain(xce, other, other_port) >= 0);
        if (write(out, &res, sizeof(res)) != sizeof(res))
                _exit(4);
        /* the test looks at this process's handles now */
        if (read(in, &c, 1) < 0)
                _exit(5);
        _exit(0);
}

static void check_no_reach(uint32_t own, uint32_t other) {
        struct xsg_server_info srv[XSG_MAX_SERVERS];
        struct xsg_map_history mh;
        ReachResult res;
        int to_child[2], from_child[2], st, r;
        unsigned own_server = server_of(own);
        pid_t child;

        CHECK_EQ(it_servers(&it, other, srv, XSG_MAX_SERVERS), 1, "servers of the other domain");
        CHECK(srv[0].vp_eport[0] != 0, "the other domain's server has a port for vCPU 0");
        CHECK(pipe2(to_child, O_CLOEXEC) == 0 && pipe2(from_child, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
        child = fork();
        CHECK(child >= 0, "fork: %s", strerror(errno));
        if (child == 0) {
                /* the test's ends: the child sees the end of the pipe if the test fails and exits */
                close(from_child[0]);
                close(to_child[1]);
                reach_child(from_child[1], to_child[0], own, own_server, other, srv[0].id, srv[0].vp_eport[0]);
        }
        close(from_child[1]);
        close(to_child[0]);
        r = (int) read(from_child[0], &res, sizeof(res));
        if (r != (int) sizeof(res)) {
                (void) tu_wait_child(child, IT_TIMEOUT_MS, &st);
                IT_FAIL("the child using xen_server_open ended early (%d bytes, status %d)", r, tu_exit_status(st));
        }
        it_log("restricted to domain %u by xen_server_open: own domain info %d map %d; domain %u info %d map %d "
               "create %d bind %d", own, res.info_own, res.map_own, other, res.info_other, res.map_other,
               res.create_other, res.bind_other);
        CHECK_EQ(res.open, 0, "xen_server_open in the child");
        /* usable on its own domain, so what follows is the restriction and nothing else */
        CHECK_EQ(res.info_own, 0, "get_ioreq_server_info on the own domain");
        CHECK_EQ(res.map_own, 0, "map_resource of the own server's page");
        CHECK_EQ(res.info_other, EPERM, "get_ioreq_server_info on the other domain");
        CHECK_EQ(res.map_other, EPERM, "map_resource of the other domain's ioreq page");
        CHECK_EQ(res.create_other, EPERM, "create_ioreq_server on the other domain");
        CHECK_EQ(res.bind_other, EACCES, "bind_interdomain to the other domain's vCPU port");
        /* the handles opened before xen_server_open and its own: all restricted to the own domain */
        CHECK(check_handles_restricted(child, own, "the child") >= 6, "the child's 3 + 3 handles");
        CHECK((int) write(to_child[1], "x", 1) == 1, "releasing the child");
        CHECK_EQ(tu_wait_child(child, IT_TIMEOUT_MS, &st), 0, "the child's end");
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child's exit status %d", tu_exit_status(st));
        close(from_child[0]);
        close(to_child[1]);
        r = xsg_map_history(it.xsg, (uint32_t) child, &mh);
        CHECK(r == 0, "map history of the child: %s", strerror(-r));
        CHECK(mh.maps == 1 && mh.refused == 1, "the host's count for the child: %" PRIu64 " mapped, %" PRIu64
              " refused (1 and 1 expected: the own page, the other domain's)", mh.maps, mh.refused);
}

/* ---- sandbox_drop as root, in a child ---- */

/* supplementary groups the test gives itself (and so the daemon and its workers): none may stay */
static const gid_t extra_groups[] = { 0, 4 };

static void check_sandbox_drop(void) {
        int p[2], st, r;
        int res[6];
        pid_t child;

        CHECK(geteuid() == 0, "this test runs as root: the workers start as root and drop (euid %d)", (int) geteuid());
        CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
        child = fork();
        CHECK(child >= 0, "fork: %s", strerror(errno));
        if (child == 0) {
                close(p[0]);
                /* the test's groups, whatever they are, and two more: all must go */
                if (setgroups(sizeof(extra_groups) / sizeof(extra_groups[0]), extra_groups) < 0)
                        _exit(3);
                res[0] = sandbox_drop(WORKER_UID, WORKER_UID, 64);
                res[1] = setuid(0) == 0 ? 0 : errno;
                res[2] = setgid(0) == 0 ? 0 : errno;
                res[3] = setresuid(0, 0, 0) == 0 ? 0 : errno;
                res[4] = getgroups(0, NULL);
                res[5] = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
                if (write(p[1], res, sizeof(res)) != sizeof(res))
                        _exit(4);
                /* and then the filter: the first forbidden call is the last */
                if (sandbox_seccomp() != 0)
                        _exit(5);
                (void) syscall(FORBIDDEN_SYSCALL);
                _exit(6);
        }
        close(p[1]);
        r = (int) read(p[0], res, sizeof(res));
        close(p[0]);
        CHECK_EQ(tu_wait_child(child, IT_TIMEOUT_MS, &st), 0, "the sandbox child's end");
        CHECK_EQ(r, sizeof(res), "the sandbox child's report");
        it_log("sandbox_drop as root: %d; then setuid(0) errno %d, setgid(0) errno %d, setresuid(0,0,0) errno %d, "
               "%d groups, no_new_privs %d; a forbidden call after sandbox_seccomp: status %d", res[0], res[1],
               res[2], res[3], res[4], res[5], tu_exit_status(st));
        CHECK_EQ(res[0], 0, "sandbox_drop");
        CHECK_EQ(res[1], EPERM, "setuid(0) after sandbox_drop");
        CHECK_EQ(res[2], EPERM, "setgid(0) after sandbox_drop");
        CHECK_EQ(res[3], EPERM, "setresuid(0, 0, 0) after sandbox_drop");
        CHECK_EQ(res[4], 0, "supplementary groups after sandbox_drop");
        CHECK_EQ(res[5], 1, "no_new_privs after sandbox_drop");
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS, "a forbidden call after sandbox_seccomp: status %d, "
              "expected killed by SIGSYS", tu_exit_status(st));
}

/* ---- a worker made to break its filter ---- */

typedef struct Kick {
        uint32_t domid;
        unsigned vcpu;
        uint64_t value;
        int r;
        pthread_t t;
} Kick;

static void *kick_thread(void *arg) {
        Kick *k = arg;

        k->r = xsg_write(it.xsg, k->domid, k->vcpu, XSG_MMIO, NOTIFY, 4, k->value, 3 * IT_TIMEOUT_MS);
        return NULL;
}

typedef struct Load {
        uint32_t domid;
        struct xsg_load_result res;
        int r;
        pthread_t t;
} Load;

static void *load_thread(void *arg) {
        Load *l = arg;
        struct xsg_load_opts o = {
                .domids = &l->domid, .nr_domids = 1, .vcpus = 1, .seconds = LOAD_SECONDS,
                .space = XSG_MMIO, .dir = XSG_WRITE, .addr = NOTIFY, .size = 4, .data = 0,
                .timeout_ms = 3 * IT_TIMEOUT_MS,
        };

        l->r = xsg_load(it.xsg, &o, &l->res);
        return NULL;
}

static const char *find_gdb(char *buf, size_t size) {
        const char *path = getenv("PATH");
        char *copy = strdup(path && *path ? path : "/usr/bin:/bin");

        CHECK(copy, "out of memory");
        for (char *save = NULL, *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                snprintf(buf, size, "%s/gdb", d);
                if (access(buf, X_OK) == 0) {
                        free(copy);
                        return buf;
                }
        }
        free(copy);
        IT_FAIL("gdb not found in PATH: this test injects a system call into a worker with it "
                "(Debian package gdb, in scripts/deps.sh's XIRQ_TEST_PACKAGES)");
}

static char proc_state(pid_t pid) {
        char v[64];

        proc_field(pid, "status", "State", v, sizeof v);
        return v[0];
}

/* gdb attaches to the (stopped) worker and makes it call the forbidden system call */
static void inject_forbidden_call(pid_t worker) {
        char gdb[512], pid[16], call[64], log[320];
        const char *argv[] = {
                gdb, "-nx", "-batch", "-p", pid,
                /* the worker's pending SIGSTOP must not interrupt the call */
                "-ex", "handle SIGSTOP nostop noprint nopass",
                "-ex", call, NULL,
        };
        pid_t g;
        int st, r;

        find_gdb(gdb, sizeof gdb);
        snprintf(pid, sizeof pid, "%d", (int) worker);
        snprintf(call, sizeof call, "call (long) syscall(%d)", (int) FORBIDDEN_SYSCALL);
        snprintf(log, sizeof log, "%s/gdb.log", it.dir);
        g = tu_spawn(argv, NULL, log, NULL, 0);
        CHECK(g > 0, "starting %s: %s", gdb, strerror(-g));
        r = tu_wait_child(g, 12 * IT_TIMEOUT_MS, &st);
        if (r == -ETIMEDOUT) {
                (void) tu_stop_child(g, 1000);
                IT_FAIL("gdb did not finish within %d ms (see %s)", 12 * IT_TIMEOUT_MS, log);
        }
        CHECK_EQ(r, 0, "waiting for gdb");
        it_log("gdb ended with status %d (its output: %s)", tu_exit_status(st), log);
}

static void check_filter_kills(uint32_t d1, int efd0, int efd1) {
        unsigned server = server_of(d1);
        pid_t old = it_worker_of(&it, d1), fresh;
        Kick k = { .domid = d1, .vcpu = 1, .value = 1 };
        Load l = { .domid = d1 };
        ioreq_t slot;
        int r, i;
        uint64_t got0, got1;
        char want[160];

        CHECK(old > 0, "a worker for domain %u", d1);
        /* vCPU 0 kicks queue 0 throughout */
        CHECK(pthread_create(&l.t, NULL, load_thread, &l) == 0, "load thread");
        usleep(300 * 1000);

        /* the worker stopped, vCPU 1 kicks queue 1: its request waits in its slot */
        CHECK(kill(old, SIGSTOP) == 0, "SIGSTOP to worker %d: %s", (int) old, strerror(errno));
        for (i = 0; i < 200 && proc_state(old) != 'T' && proc_state(old) != 't'; i++)
                usleep(5000);
        CHECK(proc_state(old) == 'T' || proc_state(old) == 't', "worker %d stopped (state %c)", (int) old,
              proc_state(old));
        CHECK(pthread_create(&k.t, NULL, kick_thread, &k) == 0, "kick thread");
        for (i = 0; i < 400; i++) {
                r = xsg_slot_peek(it.xsg, d1, server, 1, &slot);
                CHECK(r == 0, "reading slot 1: %s", strerror(-r));
                if (slot.state == STATE_IOREQ_READY)
                        break;
                usleep(5000);
        }
        CHECK_EQ(slot.state, STATE_IOREQ_READY, "vCPU 1's slot while the worker is stopped");

        inject_forbidden_call(old);
        fresh = it_wait_worker(&it, d1, old, IT_TIMEOUT_MS);
        snprintf(want, sizeof want, "worker %d killed by signal %d (a system call outside its filter)", (int) old,
                 SIGSYS);
        CHECK(it_wait_log(&it, want, IT_TIMEOUT_MS), "the parent's log: worker %d killed by SIGSYS", (int) old);
        it_log("worker %d killed by its filter, worker %d serves domain %u", (int) old, (int) fresh, d1);
        CHECK(kill(old, 0) < 0 && errno == ESRCH, "worker %d is gone", (int) old);

        pthread_join(k.t, NULL);
        pthread_join(l.t, NULL);
        CHECK_EQ(k.r, 0, "vCPU 1's kick made while the worker was stopped (answered by the new worker)");
        CHECK(l.r == 0, "the load ran: %d", l.r);
        CHECK_EQ(l.res.errors, 0, "vCPU 0's kicks that failed or hung");
        got0 = it_efd_take(efd0);
        got1 = it_efd_take(efd1);
        it_log("vCPU 0: %" PRIu64 " kicks sent, %" PRIu64 " signalled (the longest %.1f ms); vCPU 1: 1 sent, %"
               PRIu64 " signalled", l.res.count, got0, l.res.max_us / 1000.0, got1);
        CHECK(l.res.count > 0, "vCPU 0 kicked");
        CHECK(got0 >= l.res.count, "every kick of vCPU 0 signalled (%" PRIu64 " of %" PRIu64 ")", got0,
              l.res.count);
        CHECK(got1 >= 1, "vCPU 1's kick signalled");
        CHECK_EQ(server_of(d1), server, "the same server after the worker's death");

        /* the new worker is confined as the first one was */
        check_confined(fresh);
        check_handles_restricted(fresh, d1, "worker");
}

int main(int argc, char **argv) {
        uint32_t d1, d2;
        int c1, c2, e0, e1, e2;
        pid_t parent, w1, w2;

        it_init(&it, "it-privilege", argc, argv);
        it.worker_deaths_expected = true;
        /* the test's own preconditions first: a failure here is not the daemon's */
        check_sandbox_drop();

        it_write_global(&it, NULL);
        it_write_guest(&it, "g1", NULL);
        it_write_guest(&it, "g2", NULL);
        d1 = it_domain_create(&it, "g1", 2);
        d2 = it_domain_create(&it, "g2", 1);
        /* a daemon started with supplementary groups: its workers must not keep them */
        CHECK(setgroups(sizeof(extra_groups) / sizeof(extra_groups[0]), extra_groups) == 0, "setgroups: %s",
              strerror(errno));
        it_daemon_start(&it, NULL);
        parent = it_daemon_pid(&it);

        c1 = it_connect(&it, "g1");
        c2 = it_connect(&it, "g2");
        CHECK_EQ(it_hello(c1, NULL), 0, "HELLO g1");
        CHECK_EQ(it_hello(c2, NULL), 0, "HELLO g2");
        e0 = it_eventfd();
        e1 = it_eventfd();
        e2 = it_eventfd();
        CHECK_EQ(it_virtio(c1, BASE, 0, false, e0), 0, "g1 queue 0");
        CHECK_EQ(it_virtio(c1, BASE, 1, false, e1), 0, "g1 queue 1");
        CHECK_EQ(it_virtio(c2, BASE, 0, false, e2), 0, "g2 queue 0");
        w1 = it_wait_worker(&it, d1, 0, IT_TIMEOUT_MS);
        w2 = it_wait_worker(&it, d2, 0, IT_TIMEOUT_MS);
        /* both guests served */
        CHECK_EQ(it_write(&it, d1, 0, XSG_MMIO, NOTIFY, 4, 0), 0, "a kick of g1");
        CHECK_EQ(it_write(&it, d2, 0, XSG_MMIO, NOTIFY, 4, 0), 0, "a kick of g2");
        CHECK_EQ(it_efd_take(e0), 1, "g1's kick");
        CHECK_EQ(it_efd_take(e2), 1, "g2's kick");

        /* handles */
        check_handles_restricted(w1, d1, "worker");
        check_handles_restricted(w2, d2, "worker");
        check_no_reach(d1, d2);

        /* credentials */
        check_confined(w1);
        check_confined(w2);

        /* descriptors */
        {
                int own1[] = { e0, e1 };

                check_worker_fds(parent, w1, own1, 2, e2);
                check_worker_fds(parent, w2, &e2, 1, e0);
        }

        /* the parent and the ioreq pages */
        check_parent_maps_nothing(parent, d1, w1);
        check_parent_maps_nothing(parent, d2, w2);

        /* the filter: a worker killed by it, replaced, the guest served */
        check_filter_kills(d1, e0, e1);
        check_parent_maps_nothing(parent, d1, it_worker_of(&it, d1));
        check_parent_maps_nothing(parent, d2, w2);
        CHECK_EQ(it_worker_of(&it, d2), w2, "g2's worker (untouched throughout)");
        CHECK_EQ(it_write(&it, d2, 0, XSG_MMIO, NOTIFY, 4, 0), 0, "a kick of g2 at the end");
        CHECK_EQ(it_efd_take(e2), 1, "g2's kick at the end");

        it_daemon_signal(&it, SIGTERM);
        CHECK_EQ(it_daemon_wait(&it, IT_TIMEOUT_MS), 0, "the daemon's exit status after SIGTERM");
        close(c1);
        close(c2);
        it_fini(&it);
        return 0;
}
