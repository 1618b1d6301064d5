/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmem: the guest's memory as the device sees it.  A device maps a
 * guest-physical range, uses the pointer, and unmaps it; what stands behind
 * the interface is a plain buffer (gmem-buf.c: tests and fuzzers) or the
 * guest's frames mapped with libxenforeignmemory (gmem-xen.c).
 *
 * Every address and length comes from the guest: gmem_map() refuses empty,
 * wrapping and oversized ranges before an implementation sees them, and the
 * implementation refuses what lies outside the guest's memory.  A pointer is
 * valid until its gmem_unmap(); the memory behind it changes under the
 * device's feet (the guest's vCPUs run), so read each field once.
 */
#ifndef VIRTIO_EXAMPLE_GMEM_H
#define VIRTIO_EXAMPLE_GMEM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* the largest range one gmem_map() covers: a device maps bigger buffers piece by piece */
#define GMEM_MAP_MAX (64u * 1024u)

typedef struct GuestMem GuestMem;

typedef struct GuestMemOps {
        /* map [gpa, gpa + len) for reading (write false) or reading and writing: 0 or -errno */
        int (*map)(GuestMem *m, uint64_t gpa, size_t len, bool write, void **ret_ptr);
        /* give back a pointer returned by map */
        void (*unmap)(GuestMem *m, void *ptr);
        /* drop whatever is cached and not in use (on device reset) */
        void (*flush)(GuestMem *m);
        void (*free)(GuestMem *m);
} GuestMemOps;

struct GuestMem {
        const GuestMemOps *ops;
};

/*
 * 0 with *ret_ptr set, -EINVAL (len 0), -E2BIG (len > GMEM_MAP_MAX), -EFAULT
 * (the range wraps or is not the guest's memory), or another -errno of the
 * implementation (-EBUSY: too many mappings in use).
 */
static inline int gmem_map(GuestMem *m, uint64_t gpa, size_t len, bool write, void **ret_ptr) {
        if (len == 0)
                return -EINVAL;
        if (len > GMEM_MAP_MAX)
                return -E2BIG;
        if (gpa + len < gpa)
                return -EFAULT;
        return m->ops->map(m, gpa, len, write, ret_ptr);
}

static inline void gmem_unmap(GuestMem *m, void *ptr) {
        if (ptr)
                m->ops->unmap(m, ptr);
}

static inline void gmem_flush(GuestMem *m) {
        m->ops->flush(m);
}

static inline GuestMem *gmem_free(GuestMem *m) {
        if (m)
                m->ops->free(m);
        return NULL;
}

/*
 * A plain buffer as guest memory: guest-physical address a is buf[a] for
 * a < size.  The buffer stays the caller's.
 */
int gmem_buf_new(GuestMem **ret, void *buf, size_t size);
/* mappings handed out and not yet unmapped (tests check that none leak) */
unsigned gmem_buf_mapped(const GuestMem *m);

/*
 * Guest domid's memory through libxenforeignmemory, restricted to that
 * domain, with a small cache of mappings.  Only for the Xen transport.
 */
int gmem_xen_new(GuestMem **ret, uint32_t domid);

#endif
