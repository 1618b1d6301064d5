/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * libxenforeignmemory.so.1 for xensim: xenforeignmemory_map_resource maps ioreq server pages
 * out of xensimd's shm, page by page, so the mapping is the very memory the guest vCPUs use.
 * Mapping guest RAM (xenforeignmemory_map/map2) is not simulated: ENOSYS.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xenforeignmemory.h>

#include "lib-common.h"

struct xenforeignmemory_handle {
        Xentoolcore__Active_Handle tc_ah;
        struct lib_conn c;
        struct xsc_host *host;          /* the host's shm, shared by the process's handles */
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
        h->tc_ah.restrict_callback = fm_restrict_cb;
        xentoolcore__register_active_handle(&h->tc_ah);
        r = lib_conn_open(&h->c, XS_CLIENT_FOREIGNMEMORY);
        if (r == 0)
                r = lib_host_get(&h->c, &h->host);
        if (r < 0) {
                xentoolcore__deregister_active_handle(&h->tc_ah);
                lib_conn_close(&h->c);
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
        free(fmem);
        return 0;
}

void *xenforeignmemory_map(xenforeignmemory_handle *fmem, uint32_t dom, int prot, size_t pages,
                           const xen_pfn_t arr[], int err[]) {
        errno = ENOSYS;
        return NULL;
}

void *xenforeignmemory_map2(xenforeignmemory_handle *fmem, uint32_t dom, void *addr, int prot,
                            int flags, size_t pages, const xen_pfn_t arr[], int err[]) {
        errno = ENOSYS;
        return NULL;
}

int xenforeignmemory_unmap(xenforeignmemory_handle *fmem, void *addr, size_t pages) {
        errno = ENOSYS;
        return -1;
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
