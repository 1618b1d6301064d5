/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmem-buf: a plain buffer as the guest's memory (tests, fuzzers).  It
 * counts the mappings in use so that a test can see a leak.
 */
#include <stdlib.h>

#include "gmem.h"

typedef struct BufMem {
        GuestMem mem;
        uint8_t *buf;
        size_t size;
        unsigned mapped;
} BufMem;

static int buf_map(GuestMem *m, uint64_t gpa, size_t len, bool write, void **ret_ptr) {
        BufMem *b = (BufMem *) m;

        if (gpa > b->size || len > b->size - gpa)
                return -EFAULT;
        b->mapped++;
        *ret_ptr = b->buf + gpa;
        return 0;
}

static void buf_unmap(GuestMem *m, void *ptr) {
        BufMem *b = (BufMem *) m;

        if (b->mapped == 0)
                abort();        /* an unmap without its map: a bug in the device */
        b->mapped--;
}

static void buf_flush(GuestMem *m) {
}

static void buf_free(GuestMem *m) {
        free(m);
}

static const GuestMemOps buf_ops = {
        .map = buf_map,
        .unmap = buf_unmap,
        .flush = buf_flush,
        .free = buf_free,
};

int gmem_buf_new(GuestMem **ret, void *buf, size_t size) {
        BufMem *b = calloc(1, sizeof(*b));

        if (!b)
                return -ENOMEM;
        b->mem.ops = &buf_ops;
        b->buf = buf;
        b->size = size;
        *ret = &b->mem;
        return 0;
}

unsigned gmem_buf_mapped(const GuestMem *m) {
        return ((const BufMem *) m)->mapped;
}
