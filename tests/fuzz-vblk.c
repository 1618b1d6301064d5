/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the example virtio-blk device's queue processing and
 * register file (examples/).  The input is the guest: its memory (rings,
 * descriptors, headers, buffers) and what its driver does.
 *
 *   0      queue size: 1 << (byte % 9)
 *   1      bit 0: do not accept VIRTIO_BLK_F_FLUSH; bit 1: read-only disk
 *   2..3   length L of the memory image (little-endian)
 *   4..15  guest-physical addresses of the descriptor, driver and device
 *          areas (3 x 32-bit little-endian)
 *   16..   L bytes copied to guest memory at 0 (64 KiB, the rest zero)
 *   then   operations until the end of the input (none: one kick):
 *          0 kick | 1 QueueNotify write | 2 off16 len8 bytes: guest writes memory
 *          | 3 off16 size8 value32: register write | 4 off16 size8: register read
 *          | 5 reset and set up again | 6 idx16: new available index | 7 InterruptACK
 *
 * The driver sets the device up the way Linux does with those parameters.
 * Checked besides memory safety (run it under ASan+UBSan): no mapping leaks
 * (0 or the 3 rings), the interrupt line follows InterruptStatus, the disk
 * keeps its size.  Build for libFuzzer from the source tree, for example:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iexamples -Itests \
 *     tests/fuzz-vblk.c examples/{gmem-buf,virtq,vmmio,vblk,vlog}.c -o fuzz-vblk
 *   ./fuzz-vblk -max_total_time=300 CORPUS tests/corpus/vblk
 */
#define _GNU_SOURCE 1   /* memfd_create */
#include <endian.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "gmem.h"
#include "vblk.h"

#define MEM_SIZE 0x10000u
#define DISK_SIZE (64u * 512u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Input {
        const uint8_t *p;
        size_t left;
} Input;

static uint64_t take(Input *in, unsigned n) {
        uint64_t v = 0;

        for (unsigned i = 0; i < n && in->left > 0; i++, in->p++, in->left--)
                v |= (uint64_t) *in->p << (8 * i);
        return v;
}

static int disk_rw = -1, disk_ro = -1;
static bool line;

static void irq(void *opaque, bool raise) {
        line = raise;
}

static void disks_open(void) {
        char path[64];

        disk_rw = memfd_create("fuzz-disk", MFD_CLOEXEC);
        if (disk_rw < 0)
                abort();
        snprintf(path, sizeof(path), "/proc/self/fd/%d", disk_rw);
        disk_ro = open(path, O_RDONLY | O_CLOEXEC);
        if (disk_ro < 0)
                abort();
}

static void wr(Vmmio *m, uint64_t off, uint32_t v) {
        vmmio_write(m, off, 4, v);
}

static void probe(Vmmio *m, uint64_t want, uint32_t num, const uint32_t gpa[3]) {
        uint32_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

        wr(m, VIRTIO_MMIO_STATUS, 0);
        wr(m, VIRTIO_MMIO_STATUS, s);
        wr(m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        want &= vmmio_read(m, VIRTIO_MMIO_DEVICE_FEATURES, 4) | UINT64_C(0xffffffff00000000);
        wr(m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
        want &= vmmio_read(m, VIRTIO_MMIO_DEVICE_FEATURES, 4) << 32 | UINT32_MAX;
        wr(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        wr(m, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t) want);
        wr(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        wr(m, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t) (want >> 32));
        wr(m, VIRTIO_MMIO_STATUS, s |= VIRTIO_CONFIG_S_FEATURES_OK);
        wr(m, VIRTIO_MMIO_QUEUE_SEL, 0);
        wr(m, VIRTIO_MMIO_QUEUE_NUM, num);
        wr(m, VIRTIO_MMIO_QUEUE_DESC_LOW, gpa[0]);
        wr(m, VIRTIO_MMIO_QUEUE_AVAIL_LOW, gpa[1]);
        wr(m, VIRTIO_MMIO_QUEUE_USED_LOW, gpa[2]);
        wr(m, VIRTIO_MMIO_QUEUE_READY, 1);
        wr(m, VIRTIO_MMIO_STATUS, s | VIRTIO_CONFIG_S_DRIVER_OK);
}

static void check(Vmmio *m, GuestMem *gm) {
        unsigned mapped = gmem_buf_mapped(gm);

        if (mapped != 0 && mapped != 3)
                abort();
        if (line != vmmio_interrupt_level(m) || line != (vmmio_read(m, VIRTIO_MMIO_INTERRUPT_STATUS, 4) != 0))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Input in = { data, size };
        uint8_t *mem = calloc(1, MEM_SIZE);     /* exactly the guest's memory: ASan sees any overrun */
        uint64_t want = UINT64_MAX;
        uint32_t num, gpa[3];
        size_t image;
        GuestMem *gm = NULL;
        VirtioBlk *b = NULL;
        uint8_t flags;
        struct stat st;
        Vmmio *m;

        if (!mem)
                abort();
        if (disk_rw < 0)
                disks_open();
        /* a fresh zeroed disk each run: what the guest reads back must not depend on earlier runs */
        if (ftruncate(disk_rw, 0) < 0 || ftruncate(disk_rw, DISK_SIZE) < 0)
                abort();

        num = 1u << (take(&in, 1) % 9);
        flags = (uint8_t) take(&in, 1);
        image = (size_t) take(&in, 2);
        for (int i = 0; i < 3; i++)
                gpa[i] = (uint32_t) take(&in, 4);
        if (image > in.left)
                image = in.left;
        if (image > MEM_SIZE)
                image = MEM_SIZE;
        memcpy(mem, in.p, image);
        in.p += image;
        in.left -= image;
        if (flags & 1)
                want &= ~(UINT64_C(1) << VIRTIO_BLK_F_FLUSH);

        line = false;
        if (gmem_buf_new(&gm, mem, MEM_SIZE) < 0 ||
            vblk_new(&b, flags & 2 ? disk_ro : disk_rw, NULL, gm, irq, NULL) < 0)
                abort();
        m = vblk_mmio(b);
        probe(m, want, num, gpa);
        check(m, gm);
        if (in.left == 0)
                vmmio_notify(m, 0);
        while (in.left > 0) {
                uint64_t off, len, sz;
                switch (take(&in, 1) % 8) {
                case 0:
                        vmmio_notify(m, 0);
                        break;
                case 1:
                        wr(m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
                        break;
                case 2:
                        off = take(&in, 2);
                        len = take(&in, 1);
                        len = len < in.left ? len : in.left;
                        len = off + len <= MEM_SIZE ? len : MEM_SIZE - off;
                        memcpy(mem + off, in.p, len);
                        in.p += len;
                        in.left -= len;
                        break;
                case 3:
                        off = take(&in, 2) % 0x200;
                        sz = 1u << (take(&in, 1) % 4);
                        vmmio_write(m, off, (unsigned) sz, take(&in, 4));
                        break;
                case 4:
                        off = take(&in, 2) % 0x200;
                        sz = 1u << (take(&in, 1) % 4);
                        (void) vmmio_read(m, off, (unsigned) sz);
                        break;
                case 5:
                        probe(m, want, num, gpa);
                        break;
                case 6:
                        off = take(&in, 2);
                        if (gpa[1] <= MEM_SIZE - 4)
                                memcpy(mem + gpa[1] + 2, &(uint16_t) { htole16((uint16_t) off) }, 2);
                        vmmio_notify(m, 0);
                        break;
                default:
                        wr(m, VIRTIO_MMIO_INTERRUPT_ACK, (uint32_t) vmmio_read(m, VIRTIO_MMIO_INTERRUPT_STATUS, 4));
                        break;
                }
                check(m, gm);
        }

        if (fstat(disk_rw, &st) < 0 || st.st_size != DISK_SIZE)
                abort();
        vblk_free(b);
        if (gmem_buf_mapped(gm) != 0)
                abort();
        gmem_free(gm);
        free(mem);
        return 0;
}
