/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vdrv: the guest's side of the example virtio-blk device, for the tests.
 * Guest memory is a plain buffer (gmem-buf); the driver writes registers with
 * vmmio_write(), builds descriptors and rings in the buffer the way a virtio
 * driver does, and records the interrupt line.
 *
 * Memory layout (guest-physical): the three rings at VDRV_DESC, VDRV_AVAIL,
 * VDRV_USED; request slot k has its header at VDRV_HDR + 16k, its status byte
 * at VDRV_STATUS + k and its data at VDRV_DATA + k * VDRV_DATA_SLOT.  Slot k
 * uses descriptors 3k, 3k + 1, 3k + 2.
 */
#ifndef XENIOREQD_TEST_VDRV_H
#define XENIOREQD_TEST_VDRV_H

#include <stdbool.h>
#include <stdint.h>

#include "gmem.h"
#include "vblk.h"

#define VDRV_DESC 0x0000u
#define VDRV_AVAIL 0x1000u
#define VDRV_USED 0x2000u
#define VDRV_USED_END(num) (VDRV_USED + 4u + 8u * (num))
#define VDRV_HDR 0x4000u
#define VDRV_STATUS 0x5000u
#define VDRV_DATA 0x10000u
#define VDRV_DATA_SLOT 0x4000u
#define VDRV_SLOTS 85u                  /* 3 descriptors each in a 256-entry queue */
#define VDRV_MEM_SIZE (VDRV_DATA + VDRV_SLOTS * VDRV_DATA_SLOT)

typedef struct Vdrv {
        uint8_t *mem;
        GuestMem *gmem;
        bool own_mem;
        VirtioBlk *blk;
        Vmmio *mmio;
        /* the interrupt line */
        bool line;
        unsigned raises, lowers;
        /* the queue as the driver set it up */
        uint16_t num;
        uint16_t avail_idx;     /* the next index the driver publishes */
        uint16_t used_seen;     /* used entries the driver has taken */
} Vdrv;

/* A device on fd over fresh zeroed guest memory; exits the test on failure. */
void vdrv_init(Vdrv *d, int fd);
/* ... over guest memory of VDRV_MEM_SIZE bytes that the driver sees at mem and the device through gmem */
void vdrv_init_mem(Vdrv *d, int fd, uint8_t *mem, GuestMem *gmem);
void vdrv_fini(Vdrv *d);

uint32_t vdrv_read(Vdrv *d, uint64_t offset);
void vdrv_write(Vdrv *d, uint64_t offset, uint32_t value);

/*
 * Reset, negotiate features (the device's offer & want), set up queue 0 with
 * num entries and the rings above, DRIVER_OK.  The Status read back at the end.
 */
uint32_t vdrv_probe(Vdrv *d, uint64_t want, uint16_t num);

void vdrv_desc(Vdrv *d, uint16_t i, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next);
/* head into the available ring and the index after it, with the write barrier between */
void vdrv_publish(Vdrv *d, uint16_t head);
void vdrv_kick(Vdrv *d);
/* the next used element: true with *ret_id, *ret_len set, false when there is none */
bool vdrv_used(Vdrv *d, uint32_t *ret_id, uint32_t *ret_len);

/*
 * A request in slot k: header (readable), data of len bytes (readable for
 * OUT, writable otherwise; no descriptor when len is 0), status (writable,
 * preset to 0xff).  Builds the chain and publishes its head 3k.
 */
void vdrv_request(Vdrv *d, unsigned k, uint32_t type, uint64_t sector, uint32_t len);
uint8_t vdrv_status(Vdrv *d, unsigned k);
uint8_t *vdrv_data(Vdrv *d, unsigned k);

#endif
