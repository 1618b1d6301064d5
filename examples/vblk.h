/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vblk: a virtio block device (virtio 1.x, section 5.2) backed by a file,
 * behind a virtio-mmio register file (vmmio.h).
 *
 * One request queue; VIRTIO_BLK_T_IN, OUT, FLUSH and GET_ID; the capacity is
 * the file's size in 512-byte sectors (a partial last sector is not used).
 * A file opened read-only makes a read-only disk (VIRTIO_BLK_F_RO).  Requests
 * are served synchronously, in order, when the queue is kicked.
 *
 * How a request is laid out in descriptors is the driver's choice (virtio
 * 1.x 2.6.4): the device reads the device-readable segments of a chain as one
 * stream (the 16-byte header, then for OUT the data) and the device-writable
 * ones as another (for IN and GET_ID the data, then the status byte, which is
 * the stream's last byte).  A request whose header, direction, alignment or
 * range is wrong, or whose buffers are not the guest's memory, is answered
 * with VIRTIO_BLK_S_IOERR (an unknown type: VIRTIO_BLK_S_UNSUPP).  A chain
 * that cannot be answered at all (no writable status byte, a broken ring)
 * fails the device: DEVICE_NEEDS_RESET until the driver resets it.
 */
#ifndef VIRTIO_EXAMPLE_VBLK_H
#define VIRTIO_EXAMPLE_VBLK_H

#include <stdint.h>

#include "gmem.h"
#include "vmmio.h"

#define VBLK_SECTOR 512u
#define VBLK_QUEUE_NUM_MAX 256u
/* the segment bounds offered to the driver (VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_F_SIZE_MAX) */
#define VBLK_SEG_MAX (VBLK_QUEUE_NUM_MAX - 2u)
#define VBLK_SIZE_MAX GMEM_MAP_MAX
/* ... and the longest request they allow: longer ones are answered VIRTIO_BLK_S_IOERR */
#define VBLK_REQUEST_MAX ((uint64_t) VBLK_SEG_MAX * VBLK_SIZE_MAX)
#define VBLK_VENDOR_ID 0x51524958u      /* "XIRQ" */
#define VBLK_SERIAL_DEFAULT "xen-ioreqd-vblk"

typedef struct VirtioBlk VirtioBlk;

typedef struct VblkStats {
        uint64_t requests;              /* answered, whatever the status */
        uint64_t ioerr;                 /* answered VIRTIO_BLK_S_IOERR */
        uint64_t unsupp;                /* answered VIRTIO_BLK_S_UNSUPP */
        uint64_t bytes_read, bytes_written;
} VblkStats;

/*
 * A device on fd (kept open by the caller, read-only if opened O_RDONLY),
 * serving guest memory mem, its interrupt line irq (see vmmio.h).  serial is
 * what GET_ID answers (at most 20 bytes are used; NULL: VBLK_SERIAL_DEFAULT).
 * 0, -EINVAL (fd is not a regular file or a block device), -ENOMEM or -errno.
 */
int vblk_new(VirtioBlk **ret, int fd, const char *serial, GuestMem *mem, VmmioIrqFn irq, void *irq_opaque);
VirtioBlk *vblk_free(VirtioBlk *b);

/* the register file, for the transport: vmmio_read(), vmmio_write(), vmmio_notify() */
Vmmio *vblk_mmio(VirtioBlk *b);
uint64_t vblk_capacity(const VirtioBlk *b);
const VblkStats *vblk_stats(const VirtioBlk *b);

#endif
