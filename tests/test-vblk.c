/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The example virtio-blk device (examples/vblk.c, virtq.c, vmmio.c) driven by
 * a guest driver (vdrv.c) in a plain memory buffer, over a memfd disk:
 * probe, round trips checked against the file, many requests in flight,
 * several laps of the 16-bit ring indexes, reset in the middle, a read-only
 * disk, and every kind of hostile request with the answer it must get: an
 * error status when the request can be answered, DEVICE_NEEDS_RESET when it
 * cannot.
 */
#define _GNU_SOURCE 1   /* memfd_create */
#include <endian.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/mman.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "unit-assert.h"
#include "vdrv.h"

#define F(n) (UINT64_C(1) << (n))
#define ALL_FEATURES (F(VIRTIO_F_VERSION_1) | F(VIRTIO_BLK_F_FLUSH) | F(VIRTIO_BLK_F_BLK_SIZE) | \
                      F(VIRTIO_BLK_F_SEG_MAX) | F(VIRTIO_BLK_F_SIZE_MAX) | F(VIRTIO_BLK_F_RO))
#define RUNNING (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK | \
                 VIRTIO_CONFIG_S_DRIVER_OK)
#define SECTORS 2048u                   /* a 1 MiB disk */
#define CANARY 0xa5

/* the byte the disk holds at offset off before anything is written */
static uint8_t disk_byte(uint64_t off) {
        return (uint8_t) (off * 7 + (off >> 9));
}

/* a memfd disk of that many bytes with disk_byte() in it */
static int disk_new(uint64_t bytes) {
        uint8_t buf[4096];
        int fd = memfd_create("vblk-disk", MFD_CLOEXEC);

        REQUIRE(fd >= 0);
        for (uint64_t off = 0; off < bytes; off += sizeof(buf)) {
                size_t n = bytes - off < sizeof(buf) ? (size_t) (bytes - off) : sizeof(buf);
                for (size_t i = 0; i < n; i++)
                        buf[i] = disk_byte(off + i);
                REQUIRE(pwrite(fd, buf, n, (off_t) off) == (ssize_t) n);
        }
        return fd;
}

static bool disk_is(int fd, uint64_t off, const uint8_t *want, size_t len) {
        uint8_t buf[VDRV_DATA_SLOT];

        REQUIRE(len <= sizeof(buf));
        return pread(fd, buf, len, (off_t) off) == (ssize_t) len && memcmp(buf, want, len) == 0;
}

static bool disk_untouched(int fd, uint64_t off, size_t len) {
        uint8_t buf[VDRV_DATA_SLOT];

        REQUIRE(len <= sizeof(buf));
        for (size_t i = 0; i < len; i++)
                buf[i] = disk_byte(off + i);
        return disk_is(fd, off, buf, len);
}

static void fill(uint8_t *p, size_t len, unsigned seed) {
        for (size_t i = 0; i < len; i++)
                p[i] = (uint8_t) (seed * 31 + i * 13 + (i >> 8));
}

static void canary_set(Vdrv *d) {
        memset(d->mem + VDRV_USED_END(d->num), CANARY, VDRV_HDR - VDRV_USED_END(d->num));
}

static bool canary_ok(Vdrv *d) {
        for (size_t i = VDRV_USED_END(d->num); i < VDRV_HDR; i++)
                if (d->mem[i] != CANARY)
                        return false;
        return true;
}

static void start(Vdrv *d, int fd, uint16_t num) {
        vdrv_init(d, fd);
        REQUIRE(vdrv_probe(d, ALL_FEATURES, num) == RUNNING);
        canary_set(d);
}

/* kick, then expect exactly one used element: returns its status, checks id and len */
static uint8_t serve_one(Vdrv *d, unsigned k, uint32_t want_len) {
        uint32_t id = UINT32_MAX, len = UINT32_MAX;

        vdrv_kick(d);
        CHECK(vdrv_used(d, &id, &len));
        CHECK_INT(id, 3 * k);
        CHECK_INT(len, want_len);
        CHECK(!vdrv_used(d, &id, &len));
        return vdrv_status(d, k);
}

static void test_probe(void) {
        int fd = disk_new(SECTORS * 512 + 100);         /* a partial last sector is not used */
        uint64_t cap;
        Vdrv d;

        vdrv_init(&d, fd);
        CHECK_INT(vdrv_probe(&d, ALL_FEATURES, 256), RUNNING);
        CHECK_U64(vmmio_driver_features(d.mmio), ALL_FEATURES & ~F(VIRTIO_BLK_F_RO));
        CHECK_INT(gmem_buf_mapped(d.gmem), 3);
        CHECK_U64(vdrv_read(&d, VIRTIO_MMIO_VENDOR_ID), VBLK_VENDOR_ID);
        CHECK_U64(vblk_capacity(d.blk), SECTORS);
        cap = vmmio_read(d.mmio, 0x100 + offsetof(struct virtio_blk_config, capacity), 8);
        CHECK_U64(cap, SECTORS);
        cap = vdrv_read(&d, 0x100) | (uint64_t) vdrv_read(&d, 0x104) << 32;
        CHECK_U64(cap, SECTORS);
        CHECK_U64(vdrv_read(&d, 0x100 + offsetof(struct virtio_blk_config, blk_size)), 512);
        CHECK_U64(vdrv_read(&d, 0x100 + offsetof(struct virtio_blk_config, seg_max)), VBLK_SEG_MAX);
        CHECK_U64(vdrv_read(&d, 0x100 + offsetof(struct virtio_blk_config, size_max)), VBLK_SIZE_MAX);
        CHECK_U64(vmmio_read(d.mmio, 0x100 + offsetof(struct virtio_blk_config, physical_block_exp), 1), 0);
        CHECK_U64(vmmio_read(d.mmio, 0x100 + sizeof(struct virtio_blk_config), 1), 0);
        /* a smaller queue than the maximum works as well */
        CHECK_INT(vdrv_probe(&d, ALL_FEATURES, 1), RUNNING);
        /* and a driver that forgets VERSION_1 is refused */
        CHECK(!(vdrv_probe(&d, ALL_FEATURES & ~F(VIRTIO_F_VERSION_1), 256) & VIRTIO_CONFIG_S_FEATURES_OK));
        vdrv_fini(&d);
        close(fd);

        /* not a disk */
        {
                GuestMem *gm = NULL;
                VirtioBlk *b = NULL;
                int pfd[2];
                REQUIRE(pipe(pfd) == 0);
                REQUIRE(gmem_buf_new(&gm, NULL, 0) == 0);
                CHECK_INT(vblk_new(&b, pfd[0], NULL, gm, NULL, NULL), -EINVAL);
                CHECK_INT(vblk_new(&b, -1, NULL, gm, NULL, NULL), -EBADF);
                CHECK(b == NULL);
                CHECK(vblk_free(NULL) == NULL);
                gmem_free(gm);
                close(pfd[0]);
                close(pfd[1]);
        }
}

static void test_round_trip(void) {
        int fd = disk_new(SECTORS * 512);
        const VblkStats *st;
        uint8_t *p;
        Vdrv d;

        start(&d, fd, 256);
        st = vblk_stats(d.blk);
        fill(vdrv_data(&d, 0), 4096, 1);
        vdrv_request(&d, 0, VIRTIO_BLK_T_OUT, 3, 4096);
        CHECK_INT(serve_one(&d, 0, 1), VIRTIO_BLK_S_OK);
        CHECK(disk_is(fd, 3 * 512, vdrv_data(&d, 0), 4096));
        CHECK(disk_untouched(fd, 0, 3 * 512));
        CHECK(disk_untouched(fd, 3 * 512 + 4096, 512));
        CHECK(d.line);
        vdrv_write(&d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
        CHECK(!d.line);

        vdrv_request(&d, 1, VIRTIO_BLK_T_IN, 3, 4096);
        CHECK_INT(serve_one(&d, 1, 4097), VIRTIO_BLK_S_OK);
        CHECK(memcmp(vdrv_data(&d, 1), vdrv_data(&d, 0), 4096) == 0);
        vdrv_request(&d, 2, VIRTIO_BLK_T_IN, SECTORS - 1, 512);         /* the last sector */
        CHECK_INT(serve_one(&d, 2, 513), VIRTIO_BLK_S_OK);
        CHECK(disk_is(fd, (SECTORS - 1) * 512, vdrv_data(&d, 2), 512));

        vdrv_request(&d, 3, VIRTIO_BLK_T_FLUSH, 0, 0);
        CHECK_INT(serve_one(&d, 3, 1), VIRTIO_BLK_S_OK);

        vdrv_request(&d, 4, VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES);
        CHECK_INT(serve_one(&d, 4, 21), VIRTIO_BLK_S_OK);
        CHECK(memcmp(vdrv_data(&d, 4), "xen-ioreqd-vblk\0\0\0\0\0", 20) == 0);
        memset(vdrv_data(&d, 5), 0xee, 64);
        vdrv_request(&d, 5, VIRTIO_BLK_T_GET_ID, 0, 6);                 /* a short buffer: what fits */
        CHECK_INT(serve_one(&d, 5, 7), VIRTIO_BLK_S_OK);
        CHECK(memcmp(vdrv_data(&d, 5), "xen-io\xee", 7) == 0);
        vdrv_request(&d, 5, VIRTIO_BLK_T_GET_ID, 0, 64);                /* a long one: 20 bytes */
        CHECK_INT(serve_one(&d, 5, 20), VIRTIO_BLK_S_OK);
        CHECK(vdrv_data(&d, 5)[20] == 0xee);

        /* an IN and an OUT of 0 bytes are fine */
        vdrv_request(&d, 6, VIRTIO_BLK_T_IN, 0, 0);
        CHECK_INT(serve_one(&d, 6, 1), VIRTIO_BLK_S_OK);
        vdrv_request(&d, 6, VIRTIO_BLK_T_OUT, SECTORS, 0);
        CHECK_INT(serve_one(&d, 6, 1), VIRTIO_BLK_S_OK);

        /*
         * Any layout: header and data of an OUT in one descriptor, IN data and
         * the status byte in one, data split over descriptors at odd places.
         */
        p = d.mem + VDRV_DATA;
        {
                struct virtio_blk_outhdr h = { .type = htole32(VIRTIO_BLK_T_OUT), .sector = htole64(100) };
                memcpy(p, &h, sizeof(h));
                fill(p + 16, 1024, 7);
                vdrv_desc(&d, 0, VDRV_DATA, 16 + 1000, VRING_DESC_F_NEXT, 1);
                vdrv_desc(&d, 1, VDRV_DATA + 1016, 24, VRING_DESC_F_NEXT, 7);
                vdrv_desc(&d, 7, VDRV_STATUS, 1, VRING_DESC_F_WRITE, 0);
                d.mem[VDRV_STATUS] = 0xff;
                vdrv_publish(&d, 0);
                CHECK_INT(serve_one(&d, 0, 1), VIRTIO_BLK_S_OK);
                CHECK(disk_is(fd, 100 * 512, p + 16, 1024));
        }
        {
                struct virtio_blk_outhdr h = { .type = htole32(VIRTIO_BLK_T_IN), .sector = htole64(100) };
                uint8_t *q = vdrv_data(&d, 2);
                memcpy(d.mem + VDRV_HDR, &h, 10);
                memcpy(d.mem + VDRV_HDR + 64, (uint8_t *) &h + 10, 6);
                memset(q, 0, 1025);
                q[1024] = 0xff;
                vdrv_desc(&d, 5, VDRV_HDR, 10, VRING_DESC_F_NEXT, 6);
                vdrv_desc(&d, 6, VDRV_HDR + 64, 6, VRING_DESC_F_NEXT, 8);
                vdrv_desc(&d, 8, VDRV_DATA + 2 * VDRV_DATA_SLOT, 3, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 9);
                vdrv_desc(&d, 9, 0, 0, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 10);    /* empty: skipped */
                vdrv_desc(&d, 10, VDRV_DATA + 2 * VDRV_DATA_SLOT + 3, 1022, VRING_DESC_F_WRITE, 0);
                vdrv_publish(&d, 5);
                vdrv_kick(&d);
                {
                        uint32_t id, len;
                        CHECK(vdrv_used(&d, &id, &len));
                        CHECK_INT(id, 5);
                        CHECK_INT(len, 1025);
                }
                CHECK_INT(q[1024], VIRTIO_BLK_S_OK);
                CHECK(memcmp(q, p + 16, 1024) == 0);
        }
        /* one descriptor longer than a gmem mapping: served in pieces */
        {
                const uint32_t big = 200 * 1024;
                uint8_t *out = d.mem + VDRV_DATA, *in = d.mem + VDRV_DATA + 256 * 1024;
                fill(out, big, 5);
                memset(in, 0, big);
                vdrv_desc(&d, 0, VDRV_HDR, 16, VRING_DESC_F_NEXT, 1);
                vdrv_desc(&d, 1, VDRV_DATA, big, VRING_DESC_F_NEXT, 2);
                vdrv_desc(&d, 2, VDRV_STATUS, 1, VRING_DESC_F_WRITE, 0);
                memcpy(d.mem + VDRV_HDR, &(struct virtio_blk_outhdr) { .type = htole32(VIRTIO_BLK_T_OUT),
                                                                       .sector = htole64(1000) }, 16);
                vdrv_publish(&d, 0);
                CHECK_INT(serve_one(&d, 0, 1), VIRTIO_BLK_S_OK);
                vdrv_desc(&d, 1, VDRV_DATA + 256 * 1024, big, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
                ((struct virtio_blk_outhdr *) (d.mem + VDRV_HDR))->type = htole32(VIRTIO_BLK_T_IN);
                vdrv_publish(&d, 0);
                CHECK_INT(serve_one(&d, 0, big + 1), VIRTIO_BLK_S_OK);
                CHECK(memcmp(in, out, big) == 0);
                CHECK(disk_is(fd, 1000 * 512, out, VDRV_DATA_SLOT));
        }
        CHECK_INT(st->requests, 13);
        CHECK_INT(st->ioerr + st->unsupp, 0);
        CHECK_U64(st->bytes_written, 4096 + 1024 + 200 * 1024);
        CHECK_U64(st->bytes_read, 4096 + 512 + 1024 + 200 * 1024);
        CHECK(canary_ok(&d));
        CHECK_INT(vmmio_stats(d.mmio)->kicks, 13);
        vdrv_fini(&d);
        close(fd);
}

static void test_in_flight(void) {
        int fd = disk_new(SECTORS * 512);
        uint32_t id, len;
        bool seen[VDRV_SLOTS] = {};
        Vdrv d;

        start(&d, fd, 256);
        for (unsigned k = 0; k < VDRV_SLOTS; k++) {
                fill(vdrv_data(&d, k), 2048, k + 100);
                vdrv_request(&d, k, VIRTIO_BLK_T_OUT, 20 * k, 2048);
        }
        vdrv_kick(&d);
        for (unsigned n = 0; n < VDRV_SLOTS; n++) {
                REQUIRE(vdrv_used(&d, &id, &len));
                CHECK(id % 3 == 0 && id / 3 < VDRV_SLOTS && !seen[id / 3]);
                seen[id / 3 % VDRV_SLOTS] = true;
                CHECK_INT(vdrv_status(&d, id / 3 % VDRV_SLOTS), VIRTIO_BLK_S_OK);
        }
        CHECK(!vdrv_used(&d, &id, &len));
        CHECK_INT(d.raises, 1);         /* one interrupt for the whole batch */
        for (unsigned k = 0; k < VDRV_SLOTS; k++)
                CHECK(disk_is(fd, 20 * k * 512, vdrv_data(&d, k), 2048));

        /* read them all back, into other slots' data */
        for (unsigned k = 0; k < VDRV_SLOTS; k++) {
                memset(vdrv_data(&d, k), 0, 2048);
                vdrv_request(&d, k, VIRTIO_BLK_T_IN, 20 * ((k + 1) % VDRV_SLOTS), 2048);
        }
        vdrv_kick(&d);
        for (unsigned n = 0; n < VDRV_SLOTS; n++) {
                REQUIRE(vdrv_used(&d, &id, &len));
                CHECK_INT(len, 2049);
        }
        for (unsigned k = 0; k < VDRV_SLOTS; k++)
                CHECK(disk_is(fd, 20 * ((k + 1) % VDRV_SLOTS) * 512, vdrv_data(&d, k), 2048));
        CHECK_INT(vblk_stats(d.blk)->requests, 2 * VDRV_SLOTS);
        CHECK(canary_ok(&d));
        vdrv_fini(&d);
        close(fd);
}

/* more requests than the queue holds, for several laps of the 16-bit indexes */
static void test_wrap(void) {
        const unsigned rounds = 100000;         /* 200000 requests: 3 laps of 65536 */
        int fd = disk_new(SECTORS * 512);
        struct vring_used *used;
        unsigned bad = 0;
        Vdrv d;

        start(&d, fd, 8);                       /* 8 entries: 2 requests of 3 descriptors */
        used = (struct vring_used *) (d.mem + VDRV_USED);
        for (unsigned i = 0; i < rounds; i++) {
                uint32_t sector = (i * 13) % SECTORS, id0 = 0, id1 = 0, len;
                uint8_t *out = vdrv_data(&d, 0), *in = vdrv_data(&d, 1);

                out[0] = (uint8_t) i;
                out[511] = (uint8_t) (i >> 8);
                in[0] = in[511] = 0;
                vdrv_request(&d, 0, VIRTIO_BLK_T_OUT, sector, 512);
                vdrv_request(&d, 1, VIRTIO_BLK_T_IN, sector, 512);
                vdrv_kick(&d);
                if (!vdrv_used(&d, &id0, &len) || !vdrv_used(&d, &id1, &len) || vdrv_used(&d, &id1, &len) ||
                    id0 != 0 || id1 != 3 || vdrv_status(&d, 0) != 0 || vdrv_status(&d, 1) != 0 || in[0] != out[0] ||
                    in[511] != out[511])
                        bad++;
                vdrv_write(&d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
        }
        CHECK_INT(bad, 0);
        CHECK_INT(le16toh(used->idx), (uint16_t) (2 * rounds));
        CHECK_INT(d.avail_idx, (uint16_t) (2 * rounds));
        CHECK_INT(vblk_stats(d.blk)->requests, 2 * rounds);
        CHECK(canary_ok(&d));
        CHECK(!(vdrv_read(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
        vdrv_fini(&d);
        close(fd);
}

static void test_reset(void) {
        int fd = disk_new(SECTORS * 512);
        uint32_t id, len;
        Vdrv d;

        start(&d, fd, 16);
        fill(vdrv_data(&d, 0), 512, 1);
        vdrv_request(&d, 0, VIRTIO_BLK_T_OUT, 1, 512);
        CHECK_INT(serve_one(&d, 0, 1), VIRTIO_BLK_S_OK);
        CHECK(d.line);
        /* two requests made available, not kicked, then the reset */
        fill(vdrv_data(&d, 1), 512, 2);
        fill(vdrv_data(&d, 2), 512, 3);
        vdrv_request(&d, 1, VIRTIO_BLK_T_OUT, 2, 512);
        vdrv_request(&d, 2, VIRTIO_BLK_T_OUT, 3, 512);
        vdrv_write(&d, VIRTIO_MMIO_STATUS, 0);
        CHECK(!d.line);
        CHECK_INT(gmem_buf_mapped(d.gmem), 0);
        CHECK_U64(vdrv_read(&d, VIRTIO_MMIO_QUEUE_READY), 0);
        /* a kick after the reset does nothing */
        vdrv_kick(&d);
        CHECK_INT(vdrv_status(&d, 1), 0xff);
        CHECK(disk_untouched(fd, 2 * 512, 1024));

        /* the driver starts again from fresh rings */
        CHECK_INT(vdrv_probe(&d, ALL_FEATURES, 16), RUNNING);
        vdrv_request(&d, 3, VIRTIO_BLK_T_IN, 1, 512);
        CHECK_INT(serve_one(&d, 3, 513), VIRTIO_BLK_S_OK);
        CHECK(memcmp(vdrv_data(&d, 3), vdrv_data(&d, 0), 512) == 0);
        CHECK(disk_untouched(fd, 2 * 512, 1024));

        /* the queue stopped and started again with requests pending: they are dropped, indexes restart */
        vdrv_request(&d, 1, VIRTIO_BLK_T_OUT, 2, 512);
        vdrv_write(&d, VIRTIO_MMIO_QUEUE_READY, 0);
        vdrv_kick(&d);
        CHECK(!vdrv_used(&d, &id, &len));
        memset(d.mem, 0, VDRV_HDR);
        d.avail_idx = d.used_seen = 0;
        vdrv_write(&d, VIRTIO_MMIO_QUEUE_READY, 1);
        vdrv_request(&d, 2, VIRTIO_BLK_T_OUT, 3, 512);
        CHECK_INT(serve_one(&d, 2, 1), VIRTIO_BLK_S_OK);
        CHECK(disk_untouched(fd, 2 * 512, 512));
        CHECK(disk_is(fd, 3 * 512, vdrv_data(&d, 2), 512));
        CHECK_INT(vmmio_stats(d.mmio)->resets, 3);
        vdrv_fini(&d);
        close(fd);
}

static void test_read_only(void) {
        int rw = disk_new(SECTORS * 512), fd;
        char path[64];
        Vdrv d;

        snprintf(path, sizeof(path), "/proc/self/fd/%d", rw);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        REQUIRE(fd >= 0);
        start(&d, fd, 16);
        CHECK(vmmio_driver_features(d.mmio) & F(VIRTIO_BLK_F_RO));
        fill(vdrv_data(&d, 0), 1024, 9);
        vdrv_request(&d, 0, VIRTIO_BLK_T_OUT, 0, 1024);
        CHECK_INT(serve_one(&d, 0, 1), VIRTIO_BLK_S_IOERR);
        CHECK(disk_untouched(rw, 0, 1024));
        vdrv_request(&d, 1, VIRTIO_BLK_T_IN, 0, 1024);
        CHECK_INT(serve_one(&d, 1, 1025), VIRTIO_BLK_S_OK);
        CHECK(disk_untouched(rw, 0, 1024));
        CHECK(disk_is(rw, 0, vdrv_data(&d, 1), 1024));
        vdrv_request(&d, 2, VIRTIO_BLK_T_FLUSH, 0, 0);
        CHECK_INT(serve_one(&d, 2, 1), VIRTIO_BLK_S_OK);
        CHECK_INT(vblk_stats(d.blk)->ioerr, 1);
        vdrv_fini(&d);
        close(fd);
        close(rw);
}

/*
 * A request answered with an error: the status, no change to the disk, the
 * device still running and serving the next request.
 */
static void expect_answer(Vdrv *d, int fd, uint16_t head, uint8_t want, const char *what) {
        unsigned failures = ut_failures;
        uint32_t id = UINT32_MAX, len;

        vdrv_kick(d);
        CHECK(vdrv_used(d, &id, &len));
        CHECK_INT(id, head);
        CHECK_INT(d->mem[VDRV_STATUS], want);
        CHECK(!vdrv_used(d, &id, &len));
        CHECK_INT(vdrv_read(d, VIRTIO_MMIO_STATUS), RUNNING);
        CHECK(disk_untouched(fd, 0, 4096));
        CHECK_INT(gmem_buf_mapped(d->gmem), 3);
        vdrv_request(d, 5, VIRTIO_BLK_T_IN, 5, 512);
        CHECK_INT(serve_one(d, 5, 513), VIRTIO_BLK_S_OK);
        CHECK(canary_ok(d));
        if (ut_failures != failures)
                fprintf(stderr, "  in case: %s\n", what);
}

/* descriptors 0.. as given, head 0 published; the status byte is at VDRV_STATUS */
static void chain(Vdrv *d, uint32_t type, uint64_t sector, const struct vring_desc *descs, unsigned n) {
        struct virtio_blk_outhdr *h = (struct virtio_blk_outhdr *) (d->mem + VDRV_HDR);

        h->type = htole32(type);
        h->sector = htole64(sector);
        d->mem[VDRV_STATUS] = 0xff;
        for (unsigned i = 0; i < n; i++)
                vdrv_desc(d, (uint16_t) i, le64toh(descs[i].addr), le32toh(descs[i].len), le16toh(descs[i].flags),
                          le16toh(descs[i].next));
        vdrv_publish(d, 0);
}

#define N VRING_DESC_F_NEXT
#define W VRING_DESC_F_WRITE
#define HDR(n) { .addr = VDRV_HDR, .len = 16, .flags = N, .next = (n) }
#define STATUS { .addr = VDRV_STATUS, .len = 1, .flags = W }
#define DATA(a, l, f, n) { .addr = (a), .len = (l), .flags = (f), .next = (n) }

static void test_answerable(void) {
        int fd = disk_new(8 * 512);             /* 8 sectors: 4096 bytes, kept untouched */
        const uint64_t end = VDRV_MEM_SIZE;
        Vdrv d;

        start(&d, fd, 32);
        {
                const struct vring_desc c[] = { HDR(1), DATA(VDRV_DATA, 512, N | W, 2), STATUS };
                chain(&d, VIRTIO_BLK_T_IN, 8, c, 3);
                expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "IN at the capacity");
                chain(&d, VIRTIO_BLK_T_IN, 7, (const struct vring_desc[]) { HDR(1), DATA(VDRV_DATA, 1024, N | W, 2),
                                                                            STATUS }, 3);
                expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "IN across the capacity");
                chain(&d, VIRTIO_BLK_T_IN, UINT64_MAX, c, 3);
                expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "IN at sector 2^64-1");
                chain(&d, VIRTIO_BLK_T_IN, UINT64_MAX / 512 + 1, c, 3);
                expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "IN whose byte offset overflows");
                chain(&d, VIRTIO_BLK_T_OUT, 8, (const struct vring_desc[]) { HDR(1), DATA(VDRV_DATA, 512, N, 2),
                                                                             STATUS }, 3);
                expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "OUT at the capacity");
                chain(&d, 99, 0, c, 3);
                expect_answer(&d, fd, 0, VIRTIO_BLK_S_UNSUPP, "unknown type");
                chain(&d, VIRTIO_BLK_T_DISCARD, 0, c, 3);
                expect_answer(&d, fd, 0, VIRTIO_BLK_S_UNSUPP, "DISCARD, not offered");
        }
        chain(&d, VIRTIO_BLK_T_IN, 0, (const struct vring_desc[]) { HDR(1), DATA(VDRV_DATA, 500, N | W, 2), STATUS },
              3);
        expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "length not a multiple of 512");
        chain(&d, VIRTIO_BLK_T_OUT, 0, (const struct vring_desc[]) { HDR(1), DATA(VDRV_DATA, 513, N, 2), STATUS }, 3);
        expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "OUT length not a multiple of 512");
        chain(&d, VIRTIO_BLK_T_IN, 0, (const struct vring_desc[]) { DATA(VDRV_HDR, 8, N, 1), STATUS }, 2);
        expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "8-byte header");
        chain(&d, VIRTIO_BLK_T_IN, 0, (const struct vring_desc[]) { STATUS }, 1);
        expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "no header at all");
        chain(&d, VIRTIO_BLK_T_IN, 0,
              (const struct vring_desc[]) { DATA(VDRV_HDR, 16, N | W, 1), DATA(VDRV_DATA, 512, N | W, 2), STATUS },
              3);
        expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "header in a device-writable descriptor");
        chain(&d, VIRTIO_BLK_T_IN, 0, (const struct vring_desc[]) { HDR(1), DATA(VDRV_DATA, 512, N, 2), STATUS }, 3);
        expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "IN data in a device-readable descriptor");
        chain(&d, VIRTIO_BLK_T_OUT, 0, (const struct vring_desc[]) { HDR(1), DATA(VDRV_DATA, 512, N | W, 2), STATUS },
              3);
        expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "OUT data in a device-writable descriptor");
        chain(&d, VIRTIO_BLK_T_OUT, 0,
              (const struct vring_desc[]) { HDR(1), DATA(VDRV_STATUS, 1, N | W, 2), DATA(VDRV_DATA, 512, 0, 0) }, 3);
        expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "device-readable descriptor after a device-writable one");
        chain(&d, VIRTIO_BLK_T_IN, 0,
              (const struct vring_desc[]) { HDR(1), DATA(end - 512, 4096, N | W, 2), STATUS }, 3);
        expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "IN buffer past the end of guest memory");
        chain(&d, VIRTIO_BLK_T_OUT, 0, (const struct vring_desc[]) { HDR(1), DATA(end - 512, 4096, N, 2), STATUS },
              3);
        expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "OUT buffer past the end of guest memory");
        chain(&d, VIRTIO_BLK_T_OUT, 0,
              (const struct vring_desc[]) { HDR(1), DATA(UINT64_C(1) << 40, 512, N, 2), STATUS }, 3);
        expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "OUT buffer far outside guest memory");
        chain(&d, VIRTIO_BLK_T_IN, 0,
              (const struct vring_desc[]) { HDR(1), DATA(UINT64_MAX - 511, 1024, N | W, 2), STATUS }, 3);
        expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "IN buffer whose address + length wraps");
        chain(&d, VIRTIO_BLK_T_OUT, 0,
              (const struct vring_desc[]) { DATA(UINT64_MAX - 7, 16, N, 1), DATA(VDRV_DATA, 512, N, 2), STATUS }, 3);
        expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "header whose address + length wraps");
        chain(&d, VIRTIO_BLK_T_GET_ID, 0,
              (const struct vring_desc[]) { HDR(1), DATA(end - 4, 20, N | W, 2), STATUS }, 3);
        expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "GET_ID buffer past the end of guest memory");
        chain(&d, VIRTIO_BLK_T_IN, 0,
              (const struct vring_desc[]) { HDR(1), DATA(VDRV_DATA, UINT32_MAX & ~511u, N | W, 2), STATUS }, 3);
        expect_answer(&d, fd, 0, VIRTIO_BLK_S_IOERR, "IN of 4 GiB");
        CHECK_INT(vmmio_stats(d.mmio)->failures, 0);
        vdrv_fini(&d);
        close(fd);

        /* a request longer than the segment bounds offered, on a disk big enough for it */
        fd = memfd_create("vblk-big", MFD_CLOEXEC);
        REQUIRE(fd >= 0 && ftruncate(fd, (off_t) 1 << 30) == 0);
        start(&d, fd, 32);
        chain(&d, VIRTIO_BLK_T_IN, 0,
              (const struct vring_desc[]) { HDR(1), DATA(VDRV_DATA, (uint32_t) VBLK_REQUEST_MAX + 512, N | W, 2),
                                            STATUS }, 3);
        vdrv_kick(&d);
        CHECK_INT(d.mem[VDRV_STATUS], VIRTIO_BLK_S_IOERR);
        CHECK_INT(vblk_stats(d.blk)->bytes_read, 0);
        vdrv_fini(&d);
        close(fd);
}

/*
 * A chain that cannot be answered: DEVICE_NEEDS_RESET and a configuration
 * interrupt, no used element, kicks ignored; a reset brings the device back.
 */
static void expect_broken(Vdrv *d, int fd, const char *what) {
        unsigned failures = ut_failures;
        uint64_t ignored;
        uint32_t id, len;

        vdrv_kick(d);
        CHECK(vdrv_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
        CHECK(vdrv_read(d, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
        CHECK(d->line);
        CHECK(!vdrv_used(d, &id, &len));
        CHECK_INT(gmem_buf_mapped(d->gmem), 3);
        CHECK(disk_untouched(fd, 0, 4096));
        ignored = vmmio_stats(d->mmio)->kicks_ignored;
        vdrv_kick(d);
        CHECK_INT(vmmio_stats(d->mmio)->kicks_ignored, ignored + 1);
        CHECK(canary_ok(d));

        CHECK_INT(vdrv_probe(d, ALL_FEATURES, d->num), RUNNING);
        CHECK(!d->line);
        canary_set(d);
        vdrv_request(d, 1, VIRTIO_BLK_T_IN, 0, 512);
        CHECK_INT(serve_one(d, 1, 513), VIRTIO_BLK_S_OK);
        if (ut_failures != failures)
                fprintf(stderr, "  in case: %s\n", what);
}

static void test_broken(void) {
        int fd = disk_new(8 * 512);
        struct vring_avail *avail;
        Vdrv d;

        start(&d, fd, 8);
        avail = (struct vring_avail *) (d.mem + VDRV_AVAIL);

        chain(&d, VIRTIO_BLK_T_IN, 0, (const struct vring_desc[]) { HDR(1), DATA(VDRV_DATA, 512, N | W, 8), STATUS },
              3);
        expect_broken(&d, fd, "next index past the table");
        chain(&d, VIRTIO_BLK_T_IN, 0, (const struct vring_desc[]) { HDR(1), DATA(VDRV_DATA, 512, N | W, 0) }, 2);
        expect_broken(&d, fd, "a loop in the chain");
        chain(&d, VIRTIO_BLK_T_IN, 0, (const struct vring_desc[]) { HDR(0) }, 1);
        expect_broken(&d, fd, "a descriptor chained to itself");
        {
                /* 8 descriptors all chained, the last one back to the first */
                struct vring_desc c[8] = { HDR(1) };
                for (uint16_t i = 1; i < 8; i++)
                        c[i] = (struct vring_desc) DATA(VDRV_DATA + 512 * i, 512, N | W, (i + 1) % 8);
                chain(&d, VIRTIO_BLK_T_IN, 0, c, 8);
                expect_broken(&d, fd, "a chain longer than the queue");
                /* the same ending with the status: as long as the queue, served */
                uint64_t before = vblk_stats(d.blk)->bytes_read;
                c[7] = (struct vring_desc) STATUS;
                chain(&d, VIRTIO_BLK_T_IN, 0, c, 8);
                CHECK_INT(serve_one(&d, 0, 6 * 512 + 1), VIRTIO_BLK_S_OK);
                CHECK_INT(vblk_stats(d.blk)->bytes_read - before, 6 * 512);
        }
        chain(&d, VIRTIO_BLK_T_IN, 0,
              (const struct vring_desc[]) { HDR(1), DATA(VDRV_DATA, 512, N | W | VRING_DESC_F_INDIRECT, 2), STATUS },
              3);
        expect_broken(&d, fd, "an indirect descriptor, not negotiated");
        chain(&d, VIRTIO_BLK_T_IN, 0,
              (const struct vring_desc[]) { HDR(1), DATA(VDRV_DATA, 512, N, 2), DATA(VDRV_STATUS, 1, 0, 0) }, 3);
        expect_broken(&d, fd, "no device-writable descriptor for the status");
        chain(&d, VIRTIO_BLK_T_IN, 0, (const struct vring_desc[]) { HDR(1), DATA(VDRV_DATA, 0, N | W, 2),
                                                                    DATA(VDRV_STATUS, 0, W, 0) }, 3);
        expect_broken(&d, fd, "only empty device-writable descriptors");
        chain(&d, VIRTIO_BLK_T_IN, 0,
              (const struct vring_desc[]) { HDR(1), DATA(VDRV_DATA, 512, N | W, 2), DATA(VDRV_MEM_SIZE, 1, W, 0) }, 3);
        expect_broken(&d, fd, "status byte past the end of guest memory");
        chain(&d, VIRTIO_BLK_T_IN, 0,
              (const struct vring_desc[]) { HDR(1), DATA(VDRV_DATA, 512, N | W, 2), DATA(UINT64_MAX, 2, W, 0) }, 3);
        expect_broken(&d, fd, "status descriptor whose address + length wraps");

        /*
         * The available ring (the entry just published is at avail_idx - 1).  A
         * descriptor that would make a good request lies where a head past the
         * table would point: the device must not get there.
         */
        vdrv_request(&d, 0, VIRTIO_BLK_T_IN, 0, 512);
        vdrv_desc(&d, 8, VDRV_STATUS, 1, W, 0);
        avail->ring[(d.avail_idx - 1) % d.num] = htole16(8);
        expect_broken(&d, fd, "head index past the table");
        vdrv_request(&d, 0, VIRTIO_BLK_T_IN, 0, 512);
        vdrv_desc(&d, UINT16_MAX, VDRV_STATUS, 1, W, 0);
        avail->ring[(d.avail_idx - 1) % d.num] = htole16(UINT16_MAX);
        expect_broken(&d, fd, "head index 65535");
        vdrv_request(&d, 0, VIRTIO_BLK_T_IN, 0, 512);
        avail->idx = htole16((uint16_t) (d.avail_idx + d.num));
        expect_broken(&d, fd, "available index ahead by more than the queue size");
        vdrv_request(&d, 0, VIRTIO_BLK_T_IN, 0, 512);
        avail->idx = htole16((uint16_t) (d.avail_idx - 2));
        expect_broken(&d, fd, "available index moved back");
        CHECK_INT(vmmio_stats(d.mmio)->failures, 13);

        /* the driver scribbles on the used ring: the device writes from its own index */
        vdrv_request(&d, 0, VIRTIO_BLK_T_IN, 0, 512);
        CHECK_INT(serve_one(&d, 0, 513), VIRTIO_BLK_S_OK);
        ((struct vring_used *) (d.mem + VDRV_USED))->idx = htole16(5000);
        memset(((struct vring_used *) (d.mem + VDRV_USED))->ring, 0xee, 8 * 8);
        d.used_seen = 5000;
        vdrv_request(&d, 1, VIRTIO_BLK_T_IN, 0, 512);
        vdrv_kick(&d);
        CHECK_INT(le16toh(((struct vring_used *) (d.mem + VDRV_USED))->idx), 3);
        CHECK_INT(le32toh(((struct vring_used *) (d.mem + VDRV_USED))->ring[2].id), 3);
        CHECK_INT(le32toh(((struct vring_used *) (d.mem + VDRV_USED))->ring[1].id), 0xeeeeeeee);
        CHECK_INT(vdrv_status(&d, 1), VIRTIO_BLK_S_OK);
        CHECK(canary_ok(&d));

        /* kicks before DRIVER_OK are not served */
        vdrv_write(&d, VIRTIO_MMIO_STATUS, 0);
        vdrv_write(&d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        vdrv_request(&d, 2, VIRTIO_BLK_T_IN, 0, 512);
        vdrv_kick(&d);
        CHECK_INT(vdrv_status(&d, 2), 0xff);
        vdrv_fini(&d);
        close(fd);
}

int main(void) {
        ut_start(120);
        test_probe();
        test_round_trip();
        test_in_flight();
        test_wrap();
        test_reset();
        test_read_only();
        test_answerable();
        test_broken();
        return ut_finish("test-vblk");
}
