/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <endian.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "vdrv.h"

static void line(void *opaque, bool raise) {
        Vdrv *d = opaque;

        d->line = raise;
        if (raise)
                d->raises++;
        else
                d->lowers++;
}

void vdrv_init_mem(Vdrv *d, int fd, uint8_t *mem, GuestMem *gmem) {
        *d = (Vdrv) { .mem = mem, .gmem = gmem };
        if (vblk_new(&d->blk, fd, NULL, d->gmem, line, d) < 0) {
                fprintf(stderr, "vblk_new failed\n");
                exit(1);
        }
        memset(d->mem, 0, VDRV_MEM_SIZE);
        d->mmio = vblk_mmio(d->blk);
}

void vdrv_init(Vdrv *d, int fd) {
        uint8_t *mem = aligned_alloc(4096, VDRV_MEM_SIZE);
        GuestMem *gmem = NULL;

        if (!mem || gmem_buf_new(&gmem, mem, VDRV_MEM_SIZE) < 0) {
                fprintf(stderr, "vdrv_init failed\n");
                exit(1);
        }
        vdrv_init_mem(d, fd, mem, gmem);
        d->own_mem = true;
}

void vdrv_fini(Vdrv *d) {
        vblk_free(d->blk);
        if (d->own_mem) {
                gmem_free(d->gmem);
                free(d->mem);
        }
        *d = (Vdrv) {};
}

uint32_t vdrv_read(Vdrv *d, uint64_t offset) {
        return (uint32_t) vmmio_read(d->mmio, offset, 4);
}

void vdrv_write(Vdrv *d, uint64_t offset, uint32_t value) {
        vmmio_write(d->mmio, offset, 4, value);
}

uint32_t vdrv_probe(Vdrv *d, uint64_t want, uint16_t num) {
        uint64_t offered;
        uint32_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

        vdrv_write(d, VIRTIO_MMIO_STATUS, 0);
        if (vdrv_read(d, VIRTIO_MMIO_MAGIC_VALUE) != VMMIO_MAGIC || vdrv_read(d, VIRTIO_MMIO_VERSION) != 2 ||
            vdrv_read(d, VIRTIO_MMIO_DEVICE_ID) != 2)
                return 0;
        vdrv_write(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        vdrv_write(d, VIRTIO_MMIO_STATUS, s);
        vdrv_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
        offered = (uint64_t) vdrv_read(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
        vdrv_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        offered |= vdrv_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
        want &= offered;
        vdrv_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        vdrv_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t) (want >> 32));
        vdrv_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        vdrv_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t) want);
        vdrv_write(d, VIRTIO_MMIO_STATUS, s |= VIRTIO_CONFIG_S_FEATURES_OK);
        if (!(vdrv_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK))
                return vdrv_read(d, VIRTIO_MMIO_STATUS);

        memset(d->mem, 0, VDRV_HDR);    /* fresh rings */
        d->num = num;
        d->avail_idx = d->used_seen = 0;
        vdrv_write(d, VIRTIO_MMIO_QUEUE_SEL, 0);
        if (vdrv_read(d, VIRTIO_MMIO_QUEUE_READY) != 0 || vdrv_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX) < num)
                return 0;
        vdrv_write(d, VIRTIO_MMIO_QUEUE_NUM, num);
        vdrv_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, VDRV_DESC);
        vdrv_write(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
        vdrv_write(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, VDRV_AVAIL);
        vdrv_write(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
        vdrv_write(d, VIRTIO_MMIO_QUEUE_USED_LOW, VDRV_USED);
        vdrv_write(d, VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
        vdrv_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
        vdrv_write(d, VIRTIO_MMIO_STATUS, s |= VIRTIO_CONFIG_S_DRIVER_OK);
        return vdrv_read(d, VIRTIO_MMIO_STATUS);
}

void vdrv_desc(Vdrv *d, uint16_t i, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next) {
        struct vring_desc *desc = (struct vring_desc *) (d->mem + VDRV_DESC) + i;

        desc->addr = htole64(gpa);
        desc->len = htole32(len);
        desc->flags = htole16(flags);
        desc->next = htole16(next);
}

void vdrv_publish(Vdrv *d, uint16_t head) {
        struct vring_avail *avail = (struct vring_avail *) (d->mem + VDRV_AVAIL);

        avail->ring[d->avail_idx % d->num] = htole16(head);
        atomic_thread_fence(memory_order_release);
        avail->idx = htole16(++d->avail_idx);
}

void vdrv_kick(Vdrv *d) {
        vdrv_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

bool vdrv_used(Vdrv *d, uint32_t *ret_id, uint32_t *ret_len) {
        struct vring_used *used = (struct vring_used *) (d->mem + VDRV_USED);
        struct vring_used_elem *e;

        if (le16toh(*(volatile __virtio16 *) &used->idx) == d->used_seen)
                return false;
        atomic_thread_fence(memory_order_acquire);
        e = &used->ring[d->used_seen++ % d->num];
        *ret_id = le32toh(e->id);
        *ret_len = le32toh(e->len);
        return true;
}

void vdrv_request(Vdrv *d, unsigned k, uint32_t type, uint64_t sector, uint32_t len) {
        struct virtio_blk_outhdr *hdr = (struct virtio_blk_outhdr *) (d->mem + VDRV_HDR) + k;
        uint16_t i = (uint16_t) (3 * k);

        hdr->type = htole32(type);
        hdr->ioprio = 0;
        hdr->sector = htole64(sector);
        d->mem[VDRV_STATUS + k] = 0xff;
        vdrv_desc(d, i, VDRV_HDR + 16 * k, 16, VRING_DESC_F_NEXT, len > 0 ? i + 1 : i + 2);
        if (len > 0)
                vdrv_desc(d, i + 1, VDRV_DATA + (uint64_t) k * VDRV_DATA_SLOT, len,
                          VRING_DESC_F_NEXT | (type == VIRTIO_BLK_T_OUT ? 0 : VRING_DESC_F_WRITE), i + 2);
        vdrv_desc(d, i + 2, VDRV_STATUS + k, 1, VRING_DESC_F_WRITE, 0);
        vdrv_publish(d, i);
}

uint8_t vdrv_status(Vdrv *d, unsigned k) {
        return d->mem[VDRV_STATUS + k];
}

uint8_t *vdrv_data(Vdrv *d, unsigned k) {
        return d->mem + VDRV_DATA + (size_t) k * VDRV_DATA_SLOT;
}
