/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * libxenforeignmemory.so.1 for xensim: xenforeignmemory_map_resource maps ioreq server pages
 * out of xensimd's shm, page by page, so the mapping is the very memory the guest vCPUs use;
 * xenforeignmemory_map/map2 map guest frames out of the domain's RAM memfd, which xensimd
 * hands over with the answer to the first run of frames of each call (host-mem.c has the
 * rules). A frame that failed is left PROT_NONE inside the mapping (on Linux an access to it
 * is a SIGBUS; here a SIGSEGV).
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xenforeignmemory.h>

#include "lib-common.h"

/* A guest RAM mapping, known to xensimd as map_id until it is unmapped. */
struct fm_ram {
        char *addr;
        size_t pages, unmapped;
        uint64_t map_id;
        struct fm_ram *next;
};

struct xenforeignmemory_handle {
        Xentoolcore__Active_Handle tc_ah;
        struct lib_conn c;
        struct xsc_host *host;          /* the host's shm, shared by the process's handles */
        pthread_mutex_t ram_lock;       /* ram */
        struct fm_ram *ram;
};

struct xenforeignmemory_resource_handle {
        void *addr;
        unsigned long nr_frames;
        uint64_t map_id;
};

static int fm_restrict_cb(Xentoolcore__Active_Handle *ah, domid_t domid) {
        return xenforeignmemory_restrict((struct xenforeignmemory_handle *)ah, domid);
}

xenforeignmemory_handle *xenforeignmemory_open(struct xentoollog_logger *logger,
                                               unsigned open_flags) {
        struct xenforeignmemory_handle *h = calloc(1, sizeof(*h));
        int r;

        if (!h)
                return NULL;
        pthread_mutex_init(&h->ram_lock, NULL);
        h->tc_ah.restrict_callback = fm_restrict_cb;
        xentoolcore__register_active_handle(&h->tc_ah);
        r = lib_conn_open(&h->c, XS_CLIENT_FOREIGNMEMORY);
        if (r == 0)
                r = lib_host_get(&h->c, &h->host);
        if (r < 0) {
                xentoolcore__deregister_active_handle(&h->tc_ah);
                lib_conn_close(&h->c);
                pthread_mutex_destroy(&h->ram_lock);
                free(h);
                errno = -r;
                return NULL;
        }
        (void)logger;
        (void)open_flags;
        return h;
}

int xenforeignmemory_close(xenforeignmemory_handle *fmem) {
        if (!fmem)
                return 0;
        xentoolcore__deregister_active_handle(&fmem->tc_ah);
        lib_conn_close(&fmem->c);
        xensim__host_put(fmem->host);   /* resource mappings stay valid: they map the memfd */
        /* So do guest RAM mappings; closing the connection released them on the host. */
        while (fmem->ram) {
                struct fm_ram *m = fmem->ram;
                fmem->ram = m->next;
                free(m);
        }
        pthread_mutex_destroy(&fmem->ram_lock);
        free(fmem);
        return 0;
}

/* One XS_OP_FM_MAP_RAM request; *ret_fd gets the memfd when the answer carries it. */
static int fm_ram_call(xenforeignmemory_handle *fmem, const uint64_t *a, uint64_t *val,
                       int *ret_fd) {
        struct xs_req req = { .op = XS_OP_FM_MAP_RAM };
        struct xs_rep rep;
        int fd = -1, r;

        memcpy(req.a, a, 4 * sizeof(uint64_t));
        pthread_mutex_lock(&fmem->c.lock);
        r = fmem->c.fd < 0 ? -EBADF : xsc_call(fmem->c.fd, &req, &rep, &fd, 1);
        pthread_mutex_unlock(&fmem->c.lock);
        if (r == 0 && rep.err)
                r = -rep.err;
        if (r < 0) {
                if (fd >= 0)
                        close(fd);
                return r;
        }
        memcpy(val, rep.val, sizeof(rep.val));
        *ret_fd = fd;
        return 0;
}

/*
 * Map frames arr[0..pages) of domain dom at base, one run of consecutive frames per request,
 * filling err[]. Returns 0 (*ret_id: xensimd's mapping, 0 if none was made) or -errno when the
 * whole call fails (then *ret_id is the mapping to give back, if any).
 */
static int fm_ram_map(xenforeignmemory_handle *fmem, uint32_t dom, char *base, int prot,
                      size_t pages, const xen_pfn_t arr[], int err[], uint64_t *ret_id) {
        int memfd = -1, r = 0;
        size_t i = 0;

        *ret_id = 0;
        while (i < pages) {
                uint64_t val[4] = { 0 };
                size_t n = 1;
                int fd = -1;

                while (i + n < pages && n < XS_RAM_RUN && arr[i + n] == arr[i] + n)
                        n++;
                r = fm_ram_call(fmem, (const uint64_t[]){ dom, arr[i], n, *ret_id }, val, &fd);
                if (r == -ESRCH) {
                        /* No such domain: the hypercall fails for every frame. */
                        for (size_t k = i; k < pages; k++)
                                err[k] = -ESRCH;
                        r = 0;
                        break;
                }
                if (r < 0)
                        break;
                if (fd >= 0) {
                        if (memfd >= 0)
                                close(memfd);
                        memfd = fd;
                }
                *ret_id = val[3];
                for (size_t k = 0; k < n;) {
                        size_t run = 0;
                        void *p;

                        if (!(val[k / 64] >> (k % 64) & 1)) {
                                err[i + k++] = -EINVAL;
                                continue;
                        }
                        while (k + run < n && (val[(k + run) / 64] >> ((k + run) % 64) & 1))
                                run++;
                        p = memfd < 0 ? MAP_FAILED :
                                mmap(base + (i + k) * XS_PAGE_SIZE, run * XS_PAGE_SIZE, prot,
                                     MAP_SHARED | MAP_FIXED, memfd,
                                     (off_t)(arr[i + k] * XS_PAGE_SIZE));
                        if (p == MAP_FAILED) {
                                r = memfd < 0 ? -EIO : -errno;
                                goto out;
                        }
                        for (size_t j = 0; j < run; j++)
                                err[i + k + j] = 0;
                        k += run;
                }
                i += n;
        }
out:
        if (memfd >= 0)
                close(memfd);
        return r;
}

void *xenforeignmemory_map2(xenforeignmemory_handle *fmem, uint32_t dom, void *addr, int prot,
                            int flags, size_t pages, const xen_pfn_t arr[], int err[]) {
        int *own_err = NULL, r;
        struct fm_ram *m = NULL;
        uint64_t id = 0;
        char *base;

        if (pages == 0 || !arr) {
                errno = EINVAL;
                return NULL;
        }
        if (pages > SIZE_MAX / XS_PAGE_SIZE / 2) {
                errno = ENOMEM;
                return NULL;
        }
        /* As the real library: without err, any frame that failed fails the call. */
        if (!err) {
                err = own_err = calloc(pages, sizeof(*err));
                if (!err)
                        return NULL;
        }
        base = mmap(addr, pages * XS_PAGE_SIZE, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | (flags & MAP_FIXED), -1, 0);
        if (base == MAP_FAILED) {
                r = -errno;
                goto fail;
        }
        r = fm_ram_map(fmem, dom, base, prot, pages, arr, err, &id);
        if (r == 0 && id) {
                m = calloc(1, sizeof(*m));
                if (!m)
                        r = -ENOMEM;
        }
        for (size_t i = 0; r == 0 && own_err && i < pages; i++)
                if (err[i])
                        r = err[i];
        if (r < 0)
                goto fail;
        if (m) {
                *m = (struct fm_ram){ .addr = base, .pages = pages, .map_id = id };
                pthread_mutex_lock(&fmem->ram_lock);
                m->next = fmem->ram;
                fmem->ram = m;
                pthread_mutex_unlock(&fmem->ram_lock);
        }
        free(own_err);
        return base;
fail:
        free(m);
        if (base != MAP_FAILED)
                munmap(base, pages * XS_PAGE_SIZE);
        if (id)
                lib_op(&fmem->c, XS_OP_FM_UNMAP, LIB_ARGS(id), NULL);
        free(own_err);
        errno = -r;
        return NULL;
}

void *xenforeignmemory_map(xenforeignmemory_handle *fmem, uint32_t dom, int prot, size_t pages,
                           const xen_pfn_t arr[], int err[]) {
        return xenforeignmemory_map2(fmem, dom, NULL, prot, 0, pages, arr, err);
}

/*
 * munmap, as the real library does; xensimd forgets the mapping (and may free a zombie
 * domain) once all of its pages were unmapped.
 */
int xenforeignmemory_unmap(xenforeignmemory_handle *fmem, void *addr, size_t pages) {
        struct fm_ram **pm, *m = NULL;
        char *p = addr;
        uint64_t id = 0;

        if (pages > SIZE_MAX / XS_PAGE_SIZE / 2) {
                errno = EINVAL;
                return -1;
        }
        if (munmap(addr, pages * XS_PAGE_SIZE) < 0)
                return -1;
        pthread_mutex_lock(&fmem->ram_lock);
        for (pm = &fmem->ram; *pm; pm = &(*pm)->next)
                if (p >= (*pm)->addr && p < (*pm)->addr + (*pm)->pages * XS_PAGE_SIZE)
                        break;
        if (*pm) {
                m = *pm;
                m->unmapped += pages;
                if (m->unmapped >= m->pages || (p == m->addr && pages >= m->pages)) {
                        *pm = m->next;
                        id = m->map_id;
                        free(m);
                }
        }
        pthread_mutex_unlock(&fmem->ram_lock);
        if (id && lib_op(&fmem->c, XS_OP_FM_UNMAP, LIB_ARGS(id), NULL) < 0 && errno != ENOENT)
                return -1;
        return 0;
}

int xenforeignmemory_restrict(xenforeignmemory_handle *fmem, domid_t domid) {
        return lib_restrict(&fmem->c, XS_OP_FM_RESTRICT, domid);
}

xenforeignmemory_resource_handle *xenforeignmemory_map_resource(
        xenforeignmemory_handle *fmem, domid_t domid, unsigned int type, unsigned int id,
        unsigned long frame, unsigned long nr_frames, void **paddr, int prot, int flags) {
        struct xenforeignmemory_resource_handle *res;
        uint64_t v[4];
        void *base;
        int e;

        res = calloc(1, sizeof(*res));
        if (!res)
                return NULL;
        if (lib_op(&fmem->c, XS_OP_FM_MAP, LIB_ARGS(domid, type, id, frame, nr_frames), v)) {
                e = errno;
                free(res);
                errno = e;
                return NULL;
        }
        res->map_id = v[2];
        res->nr_frames = nr_frames;
        if (!paddr) {
                /* As the real library: without paddr only the acquisition is done. */
                return res;
        }
        base = mmap(*paddr, nr_frames * XS_PAGE_SIZE, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | (flags & MAP_FIXED), -1, 0);
        if (base == MAP_FAILED)
                goto fail;
        for (unsigned long i = 0; i < nr_frames; i++) {
                void *p = mmap((char *)base + i * XS_PAGE_SIZE, XS_PAGE_SIZE, prot,
                               MAP_SHARED | MAP_FIXED, fmem->host->shm_fd,
                               (off_t)(XS_OFF_PAGES + v[i] * XS_PAGE_SIZE));
                if (p == MAP_FAILED) {
                        e = errno;
                        munmap(base, nr_frames * XS_PAGE_SIZE);
                        errno = e;
                        goto fail;
                }
        }
        res->addr = base;
        *paddr = base;
        return res;
fail:
        e = errno;
        lib_op(&fmem->c, XS_OP_FM_UNMAP, LIB_ARGS(res->map_id), NULL);
        free(res);
        errno = e;
        return NULL;
}

int xenforeignmemory_unmap_resource(xenforeignmemory_handle *fmem,
                                    xenforeignmemory_resource_handle *fres) {
        int r = 0;
        if (!fres)
                return 0;
        if (fres->addr && munmap(fres->addr, fres->nr_frames * XS_PAGE_SIZE) < 0)
                r = -1;
        if (lib_op(&fmem->c, XS_OP_FM_UNMAP, LIB_ARGS(fres->map_id), NULL))
                r = -1;
        free(fres);
        return r;
}

int xenforeignmemory_resource_size(xenforeignmemory_handle *fmem, domid_t domid,
                                   unsigned int type, unsigned int id, size_t *size) {
        uint64_t v[4];
        if (lib_op(&fmem->c, XS_OP_FM_SIZE, LIB_ARGS(domid, type, id), v))
                return -1;
        *size = (size_t)v[0] * XS_PAGE_SIZE;
        return 0;
}
