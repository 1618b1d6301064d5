/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmem-xen: the guest's memory through libxenforeignmemory.
 *
 * A range is mapped by mapping every guest frame it spans, in one
 * xenforeignmemory_map() call, so that the device sees it contiguous.
 * Mappings are kept in a small cache keyed by their first frame: the rings
 * stay mapped while a queue runs, and a buffer the guest reuses (Linux
 * reuses its request headers) is found again without a hypercall.  When
 * every slot is in use a map fails with -EBUSY: the cache never grows.
 *
 * A cached mapping holds a reference to the page it maps: if the guest gave
 * that frame back to Xen (ballooning) and got another page there later, the
 * cache would still show the old one.  Guests do not balloon out pages they
 * use for I/O, and the device flushes the cache on every reset, so a driver
 * that reloads starts from fresh mappings.
 */
#include <stdlib.h>
#include <sys/mman.h>

#include <xenforeignmemory.h>

#include "gmem.h"

#define XEN_PAGE_SHIFT 12
#define XEN_PAGE_SIZE (1u << XEN_PAGE_SHIFT)
#define CACHE_SLOTS 32u
/* GMEM_MAP_MAX bytes span at most this many frames */
#define MAP_PAGES (GMEM_MAP_MAX / XEN_PAGE_SIZE + 1u)

typedef struct XenMapping {
        uint64_t frame;         /* first guest frame */
        unsigned pages;         /* 0: the slot is free */
        bool write;
        uint8_t *addr;
        unsigned users;         /* pointers handed out and not unmapped */
        uint64_t last_use;
} XenMapping;

typedef struct XenMem {
        GuestMem mem;
        xenforeignmemory_handle *fmem;
        uint32_t domid;
        uint64_t tick;
        XenMapping slot[CACHE_SLOTS];
} XenMem;

static void slot_release(XenMem *x, XenMapping *e) {
        (void) xenforeignmemory_unmap(x->fmem, e->addr, e->pages);
        *e = (XenMapping) {};
}

/* a free slot, else the idle one used longest ago, else NULL */
static XenMapping *slot_victim(XenMem *x) {
        XenMapping *victim = NULL;

        for (unsigned i = 0; i < CACHE_SLOTS; i++) {
                XenMapping *e = &x->slot[i];
                if (e->pages == 0)
                        return e;
                if (e->users == 0 && (!victim || e->last_use < victim->last_use))
                        victim = e;
        }
        return victim;
}

static int xen_map(GuestMem *m, uint64_t gpa, size_t len, bool write, void **ret_ptr) {
        XenMem *x = (XenMem *) m;
        uint64_t first = gpa >> XEN_PAGE_SHIFT;
        unsigned pages = (unsigned) (((gpa + len - 1) >> XEN_PAGE_SHIFT) - first + 1);
        xen_pfn_t frames[MAP_PAGES];
        int err[MAP_PAGES];
        XenMapping *e;
        void *addr;

        for (unsigned i = 0; i < CACHE_SLOTS; i++) {
                e = &x->slot[i];
                if (e->pages >= pages && e->frame == first && (e->write || !write))
                        goto found;
        }

        e = slot_victim(x);
        if (!e)
                return -EBUSY;
        if (e->pages)
                slot_release(x, e);
        for (unsigned i = 0; i < pages; i++)
                frames[i] = (xen_pfn_t) (first + i);
        addr = xenforeignmemory_map(x->fmem, x->domid, write ? PROT_READ | PROT_WRITE : PROT_READ, pages, frames,
                                    err);
        if (!addr)
                return errno > 0 ? -errno : -EFAULT;
        /* a frame that failed is left unmapped inside the range: refuse the whole range */
        for (unsigned i = 0; i < pages; i++)
                if (err[i]) {
                        (void) xenforeignmemory_unmap(x->fmem, addr, pages);
                        return -EFAULT;
                }
        *e = (XenMapping) { .frame = first, .pages = pages, .write = write, .addr = addr };
found:
        e->users++;
        e->last_use = ++x->tick;
        *ret_ptr = e->addr + (gpa & (XEN_PAGE_SIZE - 1));
        return 0;
}

static void xen_unmap(GuestMem *m, void *ptr) {
        XenMem *x = (XenMem *) m;
        uint8_t *p = ptr;

        for (unsigned i = 0; i < CACHE_SLOTS; i++) {
                XenMapping *e = &x->slot[i];
                if (e->users > 0 && p >= e->addr && p < e->addr + (size_t) e->pages * XEN_PAGE_SIZE) {
                        e->users--;     /* stays cached */
                        return;
                }
        }
        abort();        /* not a pointer this cache handed out: a bug in the device */
}

static void xen_flush(GuestMem *m) {
        XenMem *x = (XenMem *) m;

        for (unsigned i = 0; i < CACHE_SLOTS; i++)
                if (x->slot[i].pages && x->slot[i].users == 0)
                        slot_release(x, &x->slot[i]);
}

static void xen_free(GuestMem *m) {
        XenMem *x = (XenMem *) m;

        for (unsigned i = 0; i < CACHE_SLOTS; i++)
                if (x->slot[i].pages)
                        slot_release(x, &x->slot[i]);
        if (x->fmem)
                (void) xenforeignmemory_close(x->fmem);
        free(x);
}

static const GuestMemOps xen_ops = {
        .map = xen_map,
        .unmap = xen_unmap,
        .flush = xen_flush,
        .free = xen_free,
};

int gmem_xen_new(GuestMem **ret, uint32_t domid) {
        XenMem *x = calloc(1, sizeof(*x));
        int r;

        if (!x)
                return -ENOMEM;
        x->mem.ops = &xen_ops;
        x->domid = domid;
        x->fmem = xenforeignmemory_open(NULL, 0);
        if (!x->fmem) {
                r = errno > 0 ? -errno : -EIO;
                goto fail;
        }
        /* this handle maps the guest's memory and no other domain's */
        if (xenforeignmemory_restrict(x->fmem, (domid_t) domid) < 0) {
                r = errno > 0 ? -errno : -EIO;
                goto fail;
        }
        *ret = &x->mem;
        return 0;
fail:
        xen_free(&x->mem);
        return r;
}
