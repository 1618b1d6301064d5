/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A stand-in for libxenforeignmemory, linked into a test build of
 * xen-ioreqd-vblk (vblk-fakexen, see unit.am): its definitions are the ones
 * gmem-xen.o links to.  The guest's RAM is the file $XIRQ_FAKE_GUEST_RAM,
 * which the test maps too; the guest is domain $XIRQ_FAKE_GUEST_DOMID.  As
 * with Xen: a handle restricted to one domain maps no other (EPERM), and a
 * frame past the RAM fails alone, in err[].  Unlike Xen: a handle must be
 * restricted before it maps anything, which is what gmem-xen promises.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xenforeignmemory.h>

#define PAGE 4096u

struct xenforeignmemory_handle {
        int fd;
        uint64_t pages;
        long guest;             /* $XIRQ_FAKE_GUEST_DOMID */
        long restricted;        /* -1: not yet */
};

xenforeignmemory_handle *xenforeignmemory_open(struct xentoollog_logger *logger, unsigned open_flags) {
        const char *path = getenv("XIRQ_FAKE_GUEST_RAM"), *domid = getenv("XIRQ_FAKE_GUEST_DOMID");
        xenforeignmemory_handle *h;
        struct stat st;

        if (!path || !domid) {
                errno = ENOENT;         /* as without /dev/xen/privcmd */
                return NULL;
        }
        h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        h->fd = open(path, O_RDWR | O_CLOEXEC);
        if (h->fd < 0 || fstat(h->fd, &st) < 0) {
                free(h);
                return NULL;
        }
        h->pages = (uint64_t) st.st_size / PAGE;
        h->guest = strtol(domid, NULL, 10);
        h->restricted = -1;
        return h;
}

int xenforeignmemory_close(xenforeignmemory_handle *h) {
        if (h) {
                close(h->fd);
                free(h);
        }
        return 0;
}

int xenforeignmemory_restrict(xenforeignmemory_handle *h, domid_t domid) {
        if (h->restricted >= 0 && h->restricted != domid) {
                errno = EINVAL;
                return -1;
        }
        h->restricted = domid;
        return 0;
}

void *xenforeignmemory_map(xenforeignmemory_handle *h, uint32_t dom, int prot, size_t pages,
                           const xen_pfn_t arr[], int err[]) {
        uint8_t *base;

        if (h->restricted < 0 || dom != (uint32_t) h->restricted) {
                errno = EPERM;
                return NULL;
        }
        if (dom != (uint32_t) h->guest) {
                errno = ESRCH;
                return NULL;
        }
        base = mmap(NULL, pages * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED)
                return NULL;
        for (size_t i = 0; i < pages; i++) {
                err[i] = arr[i] < h->pages ? 0 : -EINVAL;
                if (err[i] == 0 && mmap(base + i * PAGE, PAGE, prot, MAP_SHARED | MAP_FIXED, h->fd,
                                        (off_t) (arr[i] * PAGE)) == MAP_FAILED)
                        err[i] = -errno;
        }
        return base;
}

int xenforeignmemory_unmap(xenforeignmemory_handle *h, void *addr, size_t pages) {
        return munmap(addr, pages * PAGE);
}
