/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * virtq: the device side of a split virtqueue (virtio 1.x, section 2.7),
 * without indirect descriptors and without event index.
 *
 * Everything in the rings is written by the guest and is hostile: the
 * available index may jump, a ring entry may name a descriptor past the
 * table, a chain may loop, descriptors may change while they are read.
 * virtq_pop() reads each descriptor once into a local copy and bounds the
 * walk by the queue size; what it returns is a list of guest-physical
 * segments that the device still maps through gmem, where address and length
 * are checked.  The used ring is written only at used_idx modulo the queue
 * size, from the device's own copy of the index (never read back).
 */
#ifndef VIRTIO_EXAMPLE_VIRTQ_H
#define VIRTIO_EXAMPLE_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

#include "gmem.h"

/* the largest queue a split virtqueue may have */
#define VIRTQ_NUM_MAX 32768u

typedef struct VirtqSeg {
        uint64_t gpa;
        uint32_t len;
        bool write;             /* device-writable (VRING_DESC_F_WRITE) */
} VirtqSeg;

typedef struct VirtqChain {
        uint16_t head;          /* the id to give back in the used ring */
        unsigned n;             /* segments, 1..queue size */
        const VirtqSeg *seg;    /* owned by the queue, valid until the next virtq_pop() */
        bool misordered;        /* a device-readable segment after a device-writable one */
} VirtqChain;

typedef struct Virtq {
        /* the queue registers, as the driver wrote them */
        uint32_t num;
        uint64_t desc_gpa, avail_gpa, used_gpa;

        /* while started */
        bool started;
        GuestMem *mem;
        volatile struct vring_desc *desc;
        volatile struct vring_avail *avail;
        volatile struct vring_used *used;
        uint16_t last_avail;    /* the next available ring entry to take */
        uint16_t used_idx;      /* the device's copy of used->idx */
        VirtqSeg *seg;          /* num entries, for the chain being served */
} Virtq;

/*
 * Check the registers (num a power of 2 in 1..num_max, aligned rings) and map
 * the three rings: 0, -EINVAL, -ENOMEM, or the -errno of gmem_map().  With
 * num_max up to 4096 every ring fits in one gmem mapping.
 */
int virtq_start(Virtq *q, GuestMem *mem, uint32_t num_max);
/* unmap the rings and forget the indexes; the registers stay (a stopped queue may start again) */
void virtq_stop(Virtq *q);

/*
 * Take the next available chain: 1 with *ret filled, 0 when there is none,
 * -EPROTO when the guest broke the queue (available index ahead by more than
 * the queue size, a head or next index past the table, a chain longer than the
 * queue, an indirect descriptor).  After -EPROTO the device needs a reset.
 */
int virtq_pop(Virtq *q, VirtqChain *ret);
/* give a chain back: len bytes were written into its device-writable segments */
void virtq_push(Virtq *q, uint16_t head, uint32_t len);
/* after pushing: false when the driver asked for no interrupt (VRING_AVAIL_F_NO_INTERRUPT) */
bool virtq_should_interrupt(Virtq *q);

#endif
