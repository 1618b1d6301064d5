/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <endian.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "virtq.h"

static int map_ring(Virtq *q, uint64_t gpa, size_t len, bool write, volatile void **ret) {
        void *p;
        int r = gmem_map(q->mem, gpa, len, write, &p);

        if (r == 0)
                *ret = p;
        return r;
}

int virtq_start(Virtq *q, GuestMem *mem, uint32_t num_max) {
        int r;

        if (q->num == 0 || q->num > num_max || q->num > VIRTQ_NUM_MAX || (q->num & (q->num - 1)) != 0)
                return -EINVAL;
        /* the alignments of virtio 1.x 2.7 */
        if (q->desc_gpa % 16 != 0 || q->avail_gpa % 2 != 0 || q->used_gpa % 4 != 0)
                return -EINVAL;
        virtq_stop(q);
        q->mem = mem;
        q->seg = calloc(q->num, sizeof(*q->seg));
        if (!q->seg)
                return -ENOMEM;
        /* without event index the rings end with their ring arrays: no used_event, no avail_event */
        r = map_ring(q, q->desc_gpa, sizeof(struct vring_desc) * q->num, false, (volatile void **) &q->desc);
        if (r == 0)
                r = map_ring(q, q->avail_gpa, sizeof(struct vring_avail) + sizeof(__virtio16) * q->num, false,
                             (volatile void **) &q->avail);
        if (r == 0)
                r = map_ring(q, q->used_gpa, sizeof(struct vring_used) + sizeof(struct vring_used_elem) * q->num,
                             true, (volatile void **) &q->used);
        if (r < 0) {
                virtq_stop(q);
                return r;
        }
        q->started = true;
        return 0;
}

void virtq_stop(Virtq *q) {
        if (q->mem) {
                gmem_unmap(q->mem, (void *) q->desc);
                gmem_unmap(q->mem, (void *) q->avail);
                gmem_unmap(q->mem, (void *) q->used);
        }
        free(q->seg);
        q->seg = NULL;
        q->desc = NULL;
        q->avail = NULL;
        q->used = NULL;
        q->mem = NULL;
        q->started = false;
        q->last_avail = q->used_idx = 0;
}

int virtq_pop(Virtq *q, VirtqChain *ret) {
        uint16_t avail_idx, pending, i;
        bool seen_write = false;
        unsigned n = 0;

        avail_idx = le16toh(q->avail->idx);
        pending = (uint16_t) (avail_idx - q->last_avail);
        if (pending == 0)
                return 0;
        if (pending > q->num)
                return -EPROTO;         /* more than the queue can hold */
        /* read the ring entry and the descriptors only after the index (the driver's wmb before it) */
        atomic_thread_fence(memory_order_acquire);

        i = le16toh(q->avail->ring[q->last_avail & (q->num - 1)]);
        if (i >= q->num)
                return -EPROTO;
        *ret = (VirtqChain) { .head = i, .seg = q->seg };
        for (;;) {
                volatile struct vring_desc *d = &q->desc[i];
                uint64_t addr;
                uint32_t len;
                uint16_t flags, next;

                if (n == q->num)
                        return -EPROTO;         /* longer than the queue: it loops */
                /* each field read once: the guest may rewrite the descriptor meanwhile */
                addr = le64toh(d->addr);
                len = le32toh(d->len);
                flags = le16toh(d->flags);
                next = le16toh(d->next);
                if (flags & VRING_DESC_F_INDIRECT)
                        return -EPROTO;         /* not negotiated */
                q->seg[n++] = (VirtqSeg) { .gpa = addr, .len = len, .write = flags & VRING_DESC_F_WRITE };
                if (flags & VRING_DESC_F_WRITE)
                        seen_write = true;
                else if (seen_write)
                        ret->misordered = true;
                if (!(flags & VRING_DESC_F_NEXT))
                        break;
                if (next >= q->num)
                        return -EPROTO;
                i = next;
        }
        ret->n = n;
        q->last_avail++;
        return 1;
}

void virtq_push(Virtq *q, uint16_t head, uint32_t len) {
        volatile struct vring_used_elem *e = &q->used->ring[q->used_idx & (q->num - 1)];

        e->id = htole32(head);
        e->len = htole32(len);
        q->used_idx++;
        /* the element before the index (the driver's rmb after reading it) */
        atomic_thread_fence(memory_order_release);
        q->used->idx = htole16(q->used_idx);
}

bool virtq_should_interrupt(Virtq *q) {
        /* the used index must be visible before the driver's flags are read: a full barrier */
        atomic_thread_fence(memory_order_seq_cst);
        return !(le16toh(q->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
}
