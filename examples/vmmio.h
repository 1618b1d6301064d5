/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmmio: the register file of a virtio-mmio device, version 2 (virtio 1.x,
 * section 4.2.2), independent of how accesses reach it.
 *
 * The transport calls vmmio_read()/vmmio_write() with the offset inside the
 * device's window for every access it gets (a forwarded MMIO access), and
 * vmmio_notify() for every queue kick that arrives another way (an
 * ioeventfd): a QueueNotify write through vmmio_write() takes the same path.
 * The interrupt goes out through one callback, the interrupt line:
 *
 *   irq(opaque, true)   the device set a bit in InterruptStatus.  A level line
 *                       is up from now on; an edge line injects one interrupt.
 *   irq(opaque, false)  InterruptStatus became 0 (InterruptACK, reset).  A
 *                       level line goes down; an edge line ignores it.
 *
 * so that the line is up exactly while InterruptStatus != 0
 * (vmmio_interrupt_level()).
 *
 * The device behind it (virtio-blk in vblk.c) describes itself with a
 * VmmioDevice: ids, features, queues, its configuration structure, and what to
 * do on a kick and on a reset.  It serves a kicked queue with vmmio_queue()
 * and the virtq functions, and tells the register file when it used buffers
 * (vmmio_queue_used()) or when the guest broke something beyond repair
 * (vmmio_fail(): DEVICE_NEEDS_RESET and a configuration-change interrupt).
 *
 * A bad access (unknown offset, size other than 4 outside the configuration
 * space, a write to a read-only register, a misaligned configuration access)
 * reads 0 or is ignored, is counted, and is logged with vlog_debug().
 * All calls come from one thread.
 */
#ifndef VIRTIO_EXAMPLE_VMMIO_H
#define VIRTIO_EXAMPLE_VMMIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmem.h"
#include "virtq.h"

#define VMMIO_MAGIC 0x74726976u         /* "virt" */
#define VMMIO_VERSION 2u
#define VMMIO_QUEUES_MAX 64u
#define VMMIO_QUEUE_NUM_MAX 4096u       /* so that each ring fits one gmem mapping */
#define VMMIO_CONFIG_MAX 256u           /* configuration bytes at 0x100 */

typedef struct Vmmio Vmmio;

typedef struct VmmioDevice {
        uint32_t device_id;
        uint32_t vendor_id;
        uint64_t features;              /* offered; must include VIRTIO_F_VERSION_1 */
        unsigned num_queues;            /* 1..VMMIO_QUEUES_MAX */
        uint32_t queue_num_max;         /* 1..VMMIO_QUEUE_NUM_MAX */
        size_t config_size;             /* 0..VMMIO_CONFIG_MAX */
        /* fill buf with the config_size bytes of the configuration structure, little-endian */
        void (*config_read)(void *opaque, void *buf);
        /* the driver kicked a running queue: serve it */
        void (*queue_notify)(void *opaque, unsigned queue);
        /* the driver reset the device; the register file and its queues are reset already */
        void (*reset)(void *opaque);
} VmmioDevice;

typedef void (*VmmioIrqFn)(void *opaque, bool raise);

typedef struct VmmioStats {
        uint64_t kicks;                 /* notifications, by register or vmmio_notify() */
        uint64_t kicks_ignored;         /* ... for no running queue */
        uint64_t interrupts;            /* raises of the line */
        uint64_t bad_accesses;
        uint64_t failures;              /* times DEVICE_NEEDS_RESET was set */
        uint64_t resets;
} VmmioStats;

/* -EINVAL for a VmmioDevice out of the ranges above, -ENOMEM */
int vmmio_new(Vmmio **ret, const VmmioDevice *dev, void *dev_opaque, GuestMem *mem, VmmioIrqFn irq,
              void *irq_opaque);
Vmmio *vmmio_free(Vmmio *m);

/* the transport's side: size is 1, 2, 4 or 8; offset is relative to the device's base */
uint64_t vmmio_read(Vmmio *m, uint64_t offset, unsigned size);
void vmmio_write(Vmmio *m, uint64_t offset, unsigned size, uint64_t value);
void vmmio_notify(Vmmio *m, unsigned queue);
bool vmmio_interrupt_level(const Vmmio *m);
const VmmioStats *vmmio_stats(const Vmmio *m);

/* the device's side */
/* the queue if the device is running (DRIVER_OK, not failed) and the queue is ready; else NULL */
Virtq *vmmio_queue(Vmmio *m, unsigned queue);
uint64_t vmmio_driver_features(const Vmmio *m);
/* after virtq_push(): a used-buffer interrupt unless the driver suppressed it */
void vmmio_queue_used(Vmmio *m, Virtq *q);
/* the guest broke the device: DEVICE_NEEDS_RESET, no queue runs until a reset */
void vmmio_fail(Vmmio *m);
/* the configuration structure changed: new ConfigGeneration, configuration-change interrupt */
void vmmio_config_changed(Vmmio *m);

#endif
