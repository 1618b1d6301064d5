/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim: guest RAM and xenforeignmemory_map/map2/unmap of its frames. RAM sizes at creation;
 * data shared both ways (guest writes seen through the mapping and the reverse, a frame mapped
 * twice); per-frame errors (beyond the RAM, far beyond, given back, a dying domain: EINVAL; no
 * such domain: ESRCH) and the whole-call ones (restriction EPERM, no frames EINVAL, err NULL);
 * runs longer than one request and scattered frames; map2 at a fixed address; partial unmaps;
 * the zombie a mapping keeps (freed by the unmap, or by its process's exit); what the
 * introspection shows (xsg_handles, xsg_ram_mappings, and nothing in the map_resource views);
 * a frame given back and populated again; a closed handle; the raw requests' bounds;
 * xsg_irq_next/xsg_irq_wait over the interrupt log.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "simtest.h"
#include "xensim-shm.h"

#define PG 4096u

static void fill(unsigned char *p, size_t n, unsigned seed) {
        for (size_t i = 0; i < n; i++)
                p[i] = (unsigned char)(seed * 131u + i * 7u + (i >> 12));
}

static uint32_t dom_ram(const char *name, uint64_t bytes) {
        uint32_t domid = 0;
        int r = xsg_domain_create_ram(st_guest(), name, 2, 0, bytes, &domid);
        CHECK(r == 0, "create %s: %s", name, strerror(-r));
        return domid;
}

static int ram_mappings(uint32_t dom, struct xsg_ram_mapping_info *buf, size_t n) {
        return xsg_ram_mappings(st_guest(), dom, buf, n);
}

static unsigned fm_mappings(pid_t pid) {
        struct xsg_handle_info h[8];
        unsigned n = 0;
        int r = xsg_handles(st_guest(), (uint32_t)pid, h, 8);
        for (int i = 0; i < r && i < 8; i++)
                if (h[i].kind == XSG_HANDLE_FOREIGNMEMORY)
                        n += h[i].nr_mappings;
        return n;
}

static void test_sizes(void) {
        xsg *g = st_guest();
        uint32_t d1, d2, bad;
        uint64_t size;
        void *base;

        d1 = st_domain("ram-default", 1);
        CHECK(xsg_ram_ptr(g, d1, &base, &size) == 0 && size == XSG_RAM_DEFAULT,
              "default size %llu", (unsigned long long)size);
        d2 = dom_ram("ram-64k", 64 * 1024);
        CHECK(xsg_ram_ptr(g, d2, &base, &size) == 0 && size == 64 * 1024, "64 KiB: %llu",
              (unsigned long long)size);
        CHECK(xsg_domain_create_ram(g, "ram-odd", 1, 0, 4097, &bad) == -EINVAL, "odd size");
        CHECK(xsg_domain_create_ram(g, "ram-huge", 1, 0, XSG_RAM_MAX + PG, &bad) == -EINVAL,
              "huge size");
        CHECK(xsg_domain_create_ram(g, "ram-max", 1, 0, XSG_RAM_MAX, &bad) == 0, "max size");
        CHECK(xsg_ram_read(g, d2, 64 * 1024 - 4, &size, 8) == -EFAULT, "read past the end");
        CHECK(xsg_ram_write(g, d2, UINT64_MAX - 2, &size, 8) == -EFAULT, "wrapping write");
        CHECK(xsg_ram_ptr(g, 30000, &base, &size) == -ESRCH, "no such domain");
        xsg_domain_destroy(g, d1);
        xsg_domain_destroy(g, d2);
        xsg_domain_destroy(g, bad);
}

static void test_sharing(xenforeignmemory_handle *fm) {
        xsg *g = st_guest();
        uint32_t dom = dom_ram("ram-share", 1 << 20);
        unsigned char pat[PG], back[PG];
        xen_pfn_t arr[3] = { 3, 5, 3 };
        int err[3] = { 7, 7, 7 };
        unsigned char *p;

        fill(pat, PG, 1);
        CHECK(xsg_ram_write(g, dom, 3 * PG, pat, PG) == 0, "guest write");
        p = xenforeignmemory_map(fm, dom, PROT_READ | PROT_WRITE, 3, arr, err);
        CHECK(p != NULL, "map: %s", strerror(errno));
        if (!p)
                return;
        CHECK(err[0] == 0 && err[1] == 0 && err[2] == 0, "err %d %d %d", err[0], err[1], err[2]);
        CHECK(memcmp(p, pat, PG) == 0, "dom0 sees the guest's write");
        CHECK(memcmp(p + 2 * PG, pat, PG) == 0, "the frame mapped twice shows the same data");
        fill(pat, PG, 2);
        memcpy(p + PG, pat, PG);
        CHECK(xsg_ram_read(g, dom, 5 * PG, back, PG) == 0 && memcmp(back, pat, PG) == 0,
              "the guest sees dom0's write");
        /* Two addresses of one frame: the compiler must not assume they are two objects. */
        volatile unsigned char *vp = p;
        vp[2 * PG + 10] = 0x5a;
        CHECK(vp[10] == 0x5a, "one frame, two places: one memory");
        CHECK(xsg_ram_read(g, dom, 3 * PG + 10, back, 1) == 0 && back[0] == 0x5a,
              "guest sees the write to its frame 3");
        CHECK(fm_mappings(getpid()) == 1, "one mapping on the handle: %u", fm_mappings(getpid()));
        struct xsg_ram_mapping_info mi[4];
        int n = ram_mappings(dom, mi, 4);
        CHECK(n == 1 && mi[0].pid == (uint32_t)getpid() && mi[0].frames == 3 &&
              mi[0].frames_mapped == 3, "ram mappings n=%d", n);
        struct xsg_mapping_info sm[2];
        CHECK(xsg_server_mappings(g, dom, XSG_ANY_SERVER, sm, 2) == 0,
              "guest RAM is not a map_resource mapping");
        struct xsg_map_history hist;
        CHECK(xsg_map_history(g, (uint32_t)getpid(), &hist) == 0 && hist.alive == 0,
              "nor in the map_resource history");
        CHECK(xenforeignmemory_unmap(fm, p, 3) == 0, "unmap: %s", strerror(errno));
        CHECK(ram_mappings(dom, mi, 4) == 0, "no mapping after unmap");
        CHECK(fm_mappings(getpid()) == 0, "handle holds nothing after unmap");
        xsg_domain_destroy(g, dom);
}

static void test_errors(xenforeignmemory_handle *fm) {
        xsg *g = st_guest();
        uint32_t dom = dom_ram("ram-errors", 16 * PG);
        xen_pfn_t arr[6] = { 0, 16, 1, (xen_pfn_t)1 << 40, 9, 15 };
        int err[6];
        unsigned char one = 0x42, *p;

        CHECK(xsg_ram_write(g, dom, PG, &one, 1) == 0, "guest write");
        CHECK(xsg_ram_populate(g, dom, 9, 1, false) == 0, "give frame 9 back");
        CHECK(xsg_ram_populate(g, dom, 15, 2, false) == -EINVAL, "range beyond the RAM");
        CHECK(xsg_ram_populate(g, dom, 3, 0, false) == -EINVAL, "empty range");
        memset(err, 0x55, sizeof(err));
        p = xenforeignmemory_map(fm, dom, PROT_READ, 6, arr, err);
        CHECK(p != NULL, "map with bad frames still maps: %s", strerror(errno));
        CHECK(err[0] == 0 && err[1] == -EINVAL && err[2] == 0 && err[3] == -EINVAL &&
              err[4] == -EINVAL && err[5] == 0, "err %d %d %d %d %d %d", err[0], err[1], err[2],
              err[3], err[4], err[5]);
        if (p) {
                CHECK(p[2 * PG] == 0x42, "good frames after bad ones map");
                struct xsg_ram_mapping_info mi;
                CHECK(ram_mappings(dom, &mi, 1) == 1 && mi.frames == 6 && mi.frames_mapped == 3,
                      "counted: %u of %u", mi.frames_mapped, mi.frames);
                CHECK(xenforeignmemory_unmap(fm, p, 6) == 0, "unmap");
        }
        /* Without err, one bad frame fails the call with its error. */
        errno = 0;
        CHECK(xenforeignmemory_map(fm, dom, PROT_READ, 6, arr, NULL) == NULL && errno == EINVAL,
              "err NULL: errno %d", errno);
        CHECK(ram_mappings(dom, NULL, 0) == 0, "a failed call leaves no mapping");
        p = xenforeignmemory_map(fm, dom, PROT_READ, 1, arr, NULL);
        CHECK(p != NULL, "err NULL, all good");
        if (p)
                xenforeignmemory_unmap(fm, p, 1);
        errno = 0;
        CHECK(xenforeignmemory_map(fm, dom, PROT_READ, 0, arr, err) == NULL && errno == EINVAL,
              "no frames");
        /* No such domain: every frame fails with the hypercall's ESRCH. */
        memset(err, 0, sizeof(err));
        p = xenforeignmemory_map(fm, 30000, PROT_READ, 2, arr, err);
        CHECK(p != NULL && err[0] == -ESRCH && err[1] == -ESRCH, "no such domain: %d %d",
              err[0], err[1]);
        if (p)
                xenforeignmemory_unmap(fm, p, 2);
        errno = 0;
        CHECK(xenforeignmemory_map(fm, 30000, PROT_READ, 2, arr, NULL) == NULL &&
              errno == ESRCH, "no such domain, err NULL: %d", errno);
        /* Given back then populated again: a fresh zero page. */
        CHECK(xsg_ram_write(g, dom, 9 * PG, &one, 1) == 0, "write frame 9");
        CHECK(xsg_ram_populate(g, dom, 9, 1, true) == 0, "populate frame 9");
        p = xenforeignmemory_map(fm, dom, PROT_READ, 1, &arr[4], err);
        CHECK(p && err[0] == 0 && p[0] == 0, "repopulated frame is zero and maps");
        if (p)
                xenforeignmemory_unmap(fm, p, 1);
        xsg_domain_destroy(g, dom);
}

static void test_restrict(uint32_t other) {
        xsg *g = st_guest();
        uint32_t dom = dom_ram("ram-restrict", 8 * PG);
        xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
        xen_pfn_t f = 1;
        int err = 0;
        void *p;

        CHECK(fm && xenforeignmemory_restrict(fm, (domid_t)dom) == 0, "restrict");
        if (!fm)
                return;
        errno = 0;
        CHECK(xenforeignmemory_map(fm, other, PROT_READ, 1, &f, &err) == NULL && errno == EPERM,
              "another domain: errno %d", errno);
        errno = 0;
        CHECK(xenforeignmemory_map(fm, 0, PROT_READ, 1, &f, &err) == NULL && errno == EPERM,
              "dom0: errno %d", errno);
        p = xenforeignmemory_map(fm, dom, PROT_READ | PROT_WRITE, 1, &f, &err);
        CHECK(p && err == 0, "its own domain maps");
        struct xsg_ram_mapping_info mi;
        CHECK(ram_mappings(other, &mi, 1) == 0, "nothing of the other domain mapped");
        if (p)
                xenforeignmemory_unmap(fm, p, 1);
        xenforeignmemory_close(fm);
        xsg_domain_destroy(g, dom);
}

/* More frames than one request takes, scattered frames, map2 at a fixed address. */
static void test_runs(xenforeignmemory_handle *fm) {
        xsg *g = st_guest();
        const size_t n = 500;
        uint32_t dom = dom_ram("ram-runs", 1024 * PG);
        xen_pfn_t *arr = calloc(n, sizeof(*arr));
        int *err = calloc(n, sizeof(*err));
        unsigned char *base, *p, *fixed;
        uint64_t size;
        bool ok = true;

        if (!arr || !err || xsg_ram_ptr(g, dom, (void **)&base, &size) < 0) {
                CHECK(0, "setup");
                goto out;
        }
        fill(base, size, 9);
        for (size_t i = 0; i < n; i++)
                arr[i] = i < 300 ? 100 + i : (i * 37) % 1024;
        p = xenforeignmemory_map(fm, dom, PROT_READ, n, arr, err);
        CHECK(p != NULL, "map 500 frames");
        for (size_t i = 0; p && i < n; i++)
                if (err[i] || memcmp(p + i * PG, base + arr[i] * PG, PG))
                        ok = false;
        CHECK(ok, "every frame of the runs holds the guest's data");
        if (p)
                CHECK(xenforeignmemory_unmap(fm, p, n) == 0, "unmap 500");
        /* map2 at a fixed address (reserved first), then a partial unmap. */
        fixed = mmap(NULL, 4 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        p = xenforeignmemory_map2(fm, dom, fixed, PROT_READ, MAP_FIXED, 4, arr, err);
        CHECK(p == fixed, "map2 MAP_FIXED at %p gave %p", (void *)fixed, (void *)p);
        if (p == fixed) {
                CHECK(memcmp(p, base + arr[0] * PG, 4 * PG) == 0, "fixed mapping's data");
                CHECK(xenforeignmemory_unmap(fm, p, 2) == 0, "unmap half");
                CHECK(ram_mappings(dom, NULL, 0) == 1, "half unmapped: still mapped");
                CHECK(xenforeignmemory_unmap(fm, p + 2 * PG, 2) == 0, "unmap the rest");
                CHECK(ram_mappings(dom, NULL, 0) == 0, "wholly unmapped: gone");
        }
out:
        free(arr);
        free(err);
        xsg_domain_destroy(g, dom);
}

/* A mapping keeps a destroyed domain a zombie until unmapped, or until its process exits. */
static void test_zombie(xenforeignmemory_handle *fm) {
        xsg *g = st_guest();
        uint32_t dom = dom_ram("ram-zombie", 8 * PG);
        struct xsg_domain_info info;
        unsigned char v = 0x77, *p;
        xen_pfn_t f = 2;
        int err = 1, up[2], down[2], status;
        pid_t pid;

        CHECK(xsg_ram_write(g, dom, 2 * PG, &v, 1) == 0, "guest write");
        p = xenforeignmemory_map(fm, dom, PROT_READ, 1, &f, &err);
        CHECK(p && err == 0, "map");
        CHECK(xsg_domain_destroy(g, dom) == 0, "destroy");
        CHECK(xsg_domain_info(g, dom, &info) == 0 && info.state == XSG_DOMAIN_DYING,
              "a zombie while mapped");
        if (p)
                CHECK(p[0] == 0x77, "its memory stays readable");
        err = 0;
        void *q = xenforeignmemory_map(fm, dom, PROT_READ, 1, &f, &err);
        CHECK(q && err == -EINVAL, "a dying domain's frames fail: %d", err);
        if (q)
                xenforeignmemory_unmap(fm, q, 1);
        if (p)
                xenforeignmemory_unmap(fm, p, 1);
        CHECK(xsg_domain_info(g, dom, &info) == -ESRCH, "freed at the unmap");

        /* A child maps and exits without unmapping. */
        dom = dom_ram("ram-zombie2", 8 * PG);
        if (pipe(up) < 0 || pipe(down) < 0)
                st_fail_now();
        pid = fork();
        if (pid == 0) {
                xenforeignmemory_handle *cfm = xenforeignmemory_open(NULL, 0);
                int e = 1;
                char c = cfm && xenforeignmemory_map(cfm, dom, PROT_READ, 1, &f, &e) && !e;
                if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
                        _exit(2);
                _exit(0);
        }
        char c = 0;
        CHECK(read(up[0], &c, 1) == 1 && c == 1, "child mapped");
        struct xsg_ram_mapping_info mi;
        CHECK(ram_mappings(dom, &mi, 1) == 1 && mi.pid == (uint32_t)pid, "the child's mapping");
        CHECK(xsg_domain_destroy(g, dom) == 0, "destroy");
        CHECK(xsg_domain_info(g, dom, &info) == 0 && info.state == XSG_DOMAIN_DYING, "zombie");
        CHECK(write(down[1], &c, 1) == 1, "release the child");
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status),
              "child exit");
        /* An introspection answer comes after the host released what the child held. */
        CHECK(ram_mappings(dom, NULL, 0) == -ESRCH, "freed at the child's exit");
        CHECK(xsg_domain_info(g, dom, &info) == -ESRCH, "gone");
        for (int i = 0; i < 2; i++) {
                close(up[i]);
                close(down[i]);
        }
}

/* Closing the handle releases its mappings on the host; the memory stays mapped here. */
static void test_close(void) {
        xsg *g = st_guest();
        uint32_t dom = dom_ram("ram-close", 8 * PG);
        xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
        unsigned char v = 0x33, *p;
        xen_pfn_t f = 4;
        int err = 1;

        CHECK(xsg_ram_write(g, dom, 4 * PG, &v, 1) == 0, "write");
        p = fm ? xenforeignmemory_map(fm, dom, PROT_READ, 1, &f, &err) : NULL;
        CHECK(p && !err, "map");
        xenforeignmemory_close(fm);
        CHECK(ram_mappings(dom, NULL, 0) == 0, "released by the close");
        if (p) {
                CHECK(p[0] == 0x33, "still readable");
                munmap(p, PG);
        }
        xsg_domain_destroy(g, dom);
}

/* The new requests with bad arguments, from connections that may not make them. */
static void test_raw(void) {
        uint32_t dom = dom_ram("ram-raw", 8 * PG), other = dom_ram("ram-raw2", 8 * PG);
        int fd = st_raw_connect(), rfd = st_raw_connect();
        struct xs_rep rep;

#define MAP_RAM(f, d, first, n, id) \
        st_raw_request((f), XS_OP_FM_MAP_RAM, (const uint64_t[]){ (d), (first), (n), (id) }, 4, &rep)
        CHECK(st_raw_call(fd, XS_OP_RAM_FD, dom, 0, 0, &rep) == EPERM, "RAM fd: guest only");
        CHECK(st_raw_request(fd, XS_OP_RAM_POPULATE, (const uint64_t[]){ dom, 0, 1, 0 }, 4,
                             &rep) == EPERM, "populate: guest only");
        CHECK(MAP_RAM(fd, dom, 0, 0, 0) == EINVAL, "no frames");
        CHECK(MAP_RAM(fd, dom, 0, XS_RAM_RUN + 1, 0) == EINVAL, "a run too long");
        CHECK(MAP_RAM(fd, dom, 0, 1, 12345) == EINVAL, "an unknown mapping id");
        CHECK(MAP_RAM(fd, 1ull << 40, 0, 1, 0) == EINVAL, "domain 2^40");
        CHECK(MAP_RAM(fd, 30000, 0, 1, 0) == ESRCH, "no such domain");
        CHECK(MAP_RAM(fd, 0, 0, 1, 0) == EPERM, "dom0");
        CHECK(MAP_RAM(fd, dom, ~0ull, 2, 0) == 0 && rep.val[0] == 0 && rep.val[3] != 0,
              "wrapping frames fail, the mapping is made");
        uint64_t id = rep.val[3];
        CHECK(MAP_RAM(fd, dom, 6, XS_RAM_RUN, id) == 0 && rep.val[0] == 3 &&
              rep.val[1] == 0 && rep.val[2] == 0, "frames 6, 7 of 8 map: %#llx",
              (unsigned long long)rep.val[0]);
        CHECK(MAP_RAM(fd, other, 0, 1, id) == EINVAL, "a mapping of another domain");
        CHECK(MAP_RAM(rfd, dom, 0, 1, id) == EINVAL, "another connection's mapping");
        struct xsg_ram_mapping_info mi;
        CHECK(ram_mappings(dom, &mi, 1) == 1 && mi.frames == 2 + XS_RAM_RUN &&
              mi.frames_mapped == 2, "raw mapping listed: %u of %u", mi.frames_mapped,
              mi.frames);
        CHECK(st_raw_call(fd, XS_OP_FM_UNMAP, id, 0, 0, &rep) == 0, "unmap");
        CHECK(st_raw_call(fd, XS_OP_FM_UNMAP, id, 0, 0, &rep) == ENOENT, "unmap twice");
        CHECK(st_raw_call(rfd, XS_OP_FM_RESTRICT, other, 0, 0, &rep) == 0, "restrict");
        CHECK(MAP_RAM(rfd, dom, 0, 1, 0) == EPERM, "restricted to another domain");
        CHECK(st_raw_call(rfd, XS_OP_INTRO_RAM, dom, 0, 0, &rep) == EPERM,
              "introspection from a restricted connection");
        CHECK(st_raw_call(fd, XS_OP_INTRO_RAM, 1ull << 40, 0, 0, &rep) == ESRCH, "domain 2^40");
        CHECK(st_raw_call(fd, XS_OP_INTRO_RAM, dom, ~0ull, 0, &rep) == 0 && rep.val[0] == 0,
              "mappings from id ~0");
        CHECK(st_raw_call(fd, XS_OP_IRQ_NEXT, 30000, 0, 0, &rep) == ESRCH, "irq of no domain");
        CHECK(st_raw_call(fd, XS_OP_IRQ_NEXT, dom, 0, 0, &rep) == ENOENT, "an empty log");
#undef MAP_RAM
        close(fd);
        close(rfd);
        xsg_domain_destroy(st_guest(), dom);
        xsg_domain_destroy(st_guest(), other);
}

struct late_irq {
        xendevicemodel_handle *dm;
        uint32_t dom;
};

static void *late_irq_main(void *p) {
        struct late_irq *l = p;
        usleep(100 * 1000);
        xendevicemodel_set_isa_irq_level(l->dm, (domid_t)l->dom, 7, 1);
        return NULL;
}

/* xsg_irq_next walks the log by seq; xsg_irq_wait waits for the next entry. */
static void test_irq(void) {
        xsg *g = st_guest();
        uint32_t dom = dom_ram("ram-irq", 8 * PG);
        xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
        struct xsg_irq a, b, c;
        pthread_t th;

        CHECK(dm && xendevicemodel_set_irq_level(dm, (domid_t)dom, 33, 1) == 0 &&
              xendevicemodel_set_irq_level(dm, (domid_t)dom, 33, 0) == 0, "raise and lower");
        CHECK(xsg_irq_next(g, dom, 0, &a) == 0 && a.kind == XSG_IRQ_LEVEL && a.a == 33 &&
              a.b == 1, "the oldest: the raise");
        CHECK(xsg_irq_next(g, dom, a.seq, &b) == 0 && b.b == 0 && b.seq > a.seq, "then the lower");
        CHECK(xsg_irq_next(g, dom, b.seq, &c) == -ENOENT, "nothing after");
        CHECK(xsg_irq_wait(g, dom, b.seq, 50, &c) == -ETIMEDOUT, "a wait times out");
        struct late_irq l = { dm, dom };
        if (pthread_create(&th, NULL, late_irq_main, &l))
                st_fail_now();
        CHECK(xsg_irq_wait(g, dom, b.seq, 3000, &c) == 0 && c.kind == XSG_IRQ_ISA && c.a == 7,
              "a wait sees a later interrupt");
        pthread_join(th, NULL);
        xendevicemodel_close(dm);
        xsg_domain_destroy(g, dom);
}

int main(int argc, char **argv) {
        xenforeignmemory_handle *fm;
        uint32_t other;

        st_init(argc, argv, 60);
        other = dom_ram("ram-other", 8 * PG);
        fm = xenforeignmemory_open(NULL, 0);
        if (!fm) {
                fprintf(stderr, "FAIL: xenforeignmemory_open: %s\n", strerror(errno));
                st_fail_now();
        }
        test_sizes();
        test_sharing(fm);
        test_errors(fm);
        test_restrict(other);
        test_runs(fm);
        test_zombie(fm);
        test_close();
        test_raw();
        test_irq();
        xenforeignmemory_close(fm);
        return st_finish();
}
