/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The virtio-mmio register file (examples/vmmio.c) with a dummy device:
 * identification, bad offsets and sizes, feature negotiation, status and
 * reset, queue setup and its refusals, kicks, the interrupt line in level and
 * edge use, and byte-granular configuration reads.
 */
#include <endian.h>
#include <stdlib.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "unit-assert.h"
#include "vmmio.h"

#define MEM_SIZE 0x10000u
#define F(n) (UINT64_C(1) << (n))
#define OFFERED (F(VIRTIO_F_VERSION_1) | F(0) | F(5))
#define S_UP_TO_FEATURES (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK)

typedef struct Dummy {
        Vmmio *m;
        GuestMem *gmem;
        uint8_t *mem;
        unsigned notifies, resets, last_queue;
        bool line;
        unsigned raises, lowers;
} Dummy;

static const uint8_t config[12] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc };

static void dummy_config(void *opaque, void *buf) {
        memcpy(buf, config, sizeof(config));
}

static void dummy_notify(void *opaque, unsigned queue) {
        Dummy *d = opaque;

        d->notifies++;
        d->last_queue = queue;
}

static void dummy_reset(void *opaque) {
        ((Dummy *) opaque)->resets++;
}

static void dummy_irq(void *opaque, bool raise) {
        Dummy *d = opaque;

        d->line = raise;
        if (raise)
                d->raises++;
        else
                d->lowers++;
}

static void dummy_init(Dummy *d) {
        const VmmioDevice dev = {
                .device_id = 42,
                .vendor_id = 0x1234,
                .features = OFFERED,
                .num_queues = 2,
                .queue_num_max = 16,
                .config_size = sizeof(config),
                .config_read = dummy_config,
                .queue_notify = dummy_notify,
                .reset = dummy_reset,
        };

        *d = (Dummy) {};
        d->mem = aligned_alloc(4096, MEM_SIZE);
        REQUIRE(d->mem);
        memset(d->mem, 0, MEM_SIZE);
        REQUIRE(gmem_buf_new(&d->gmem, d->mem, MEM_SIZE) == 0);
        REQUIRE(vmmio_new(&d->m, &dev, d, d->gmem, dummy_irq, d) == 0);
}

static void dummy_fini(Dummy *d) {
        vmmio_free(d->m);
        CHECK_INT(gmem_buf_mapped(d->gmem), 0);
        gmem_free(d->gmem);
        free(d->mem);
}

static uint32_t rd(Dummy *d, uint64_t off) {
        return (uint32_t) vmmio_read(d->m, off, 4);
}

static void wr(Dummy *d, uint64_t off, uint32_t v) {
        vmmio_write(d->m, off, 4, v);
}

static void negotiate(Dummy *d, uint64_t features) {
        wr(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t) features);
        wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t) (features >> 32));
        wr(d, VIRTIO_MMIO_STATUS, S_UP_TO_FEATURES);
}

/* queue q with num entries, rings at desc/avail/used; returns QueueReady read back */
static uint32_t setup_queue(Dummy *d, uint32_t q, uint32_t num, uint64_t desc, uint64_t avail, uint64_t used) {
        wr(d, VIRTIO_MMIO_QUEUE_SEL, q);
        wr(d, VIRTIO_MMIO_QUEUE_NUM, num);
        wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t) desc);
        wr(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t) (desc >> 32));
        wr(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t) avail);
        wr(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t) (avail >> 32));
        wr(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t) used);
        wr(d, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t) (used >> 32));
        wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
        return rd(d, VIRTIO_MMIO_QUEUE_READY);
}

/* a running device: features negotiated, queue 0 (16 entries) ready, DRIVER_OK */
static void start(Dummy *d) {
        negotiate(d, OFFERED);
        REQUIRE(setup_queue(d, 0, 16, 0x1000, 0x2000, 0x3000) == 1);
        wr(d, VIRTIO_MMIO_STATUS, S_UP_TO_FEATURES | VIRTIO_CONFIG_S_DRIVER_OK);
        REQUIRE(rd(d, VIRTIO_MMIO_STATUS) == (S_UP_TO_FEATURES | VIRTIO_CONFIG_S_DRIVER_OK));
}

static void test_identification(void) {
        Dummy d;

        dummy_init(&d);
        CHECK_U64(rd(&d, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
        CHECK_U64(rd(&d, VIRTIO_MMIO_VERSION), 2);
        CHECK_U64(rd(&d, VIRTIO_MMIO_DEVICE_ID), 42);
        CHECK_U64(rd(&d, VIRTIO_MMIO_VENDOR_ID), 0x1234);
        CHECK_U64(rd(&d, VIRTIO_MMIO_CONFIG_GENERATION), 0);
        CHECK_INT(vmmio_stats(d.m)->bad_accesses, 0);

        /* bad sizes, misaligned, write-only, legacy and unknown registers: 0, counted */
        CHECK_U64(vmmio_read(d.m, VIRTIO_MMIO_MAGIC_VALUE, 1), 0);
        CHECK_U64(vmmio_read(d.m, VIRTIO_MMIO_MAGIC_VALUE, 2), 0);
        CHECK_U64(vmmio_read(d.m, VIRTIO_MMIO_MAGIC_VALUE, 8), 0);
        CHECK_U64(vmmio_read(d.m, VIRTIO_MMIO_MAGIC_VALUE, 0), 0);
        CHECK_U64(vmmio_read(d.m, VIRTIO_MMIO_MAGIC_VALUE + 2, 4), 0);
        CHECK_U64(rd(&d, VIRTIO_MMIO_QUEUE_SEL), 0);
        CHECK_U64(rd(&d, VIRTIO_MMIO_QUEUE_NOTIFY), 0);
        CHECK_U64(rd(&d, VIRTIO_MMIO_QUEUE_PFN), 0);
        CHECK_U64(rd(&d, VIRTIO_MMIO_GUEST_PAGE_SIZE), 0);
        CHECK_U64(rd(&d, 0x0c8), 0);
        CHECK_U64(vmmio_read(d.m, UINT64_MAX - 3, 4), 0);
        CHECK_U64(vmmio_read(d.m, 0x100000, 4), 0);
        CHECK_INT(vmmio_stats(d.m)->bad_accesses, 12);

        /* writes to read-only or unknown registers, bad sizes: ignored, counted */
        wr(&d, VIRTIO_MMIO_MAGIC_VALUE, 0);
        wr(&d, VIRTIO_MMIO_DEVICE_ID, 7);
        wr(&d, VIRTIO_MMIO_QUEUE_PFN, 7);
        vmmio_write(d.m, VIRTIO_MMIO_STATUS, 1, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        vmmio_write(d.m, VIRTIO_MMIO_STATUS + 1, 4, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        vmmio_write(d.m, UINT64_MAX, 8, UINT64_MAX);
        CHECK_U64(rd(&d, VIRTIO_MMIO_DEVICE_ID), 42);
        CHECK_U64(rd(&d, VIRTIO_MMIO_STATUS), 0);
        CHECK_INT(vmmio_stats(d.m)->bad_accesses, 18);

        /* no shared memory regions: length and base read as -1 */
        wr(&d, VIRTIO_MMIO_SHM_SEL, 0);
        CHECK_U64(rd(&d, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
        CHECK_U64(rd(&d, VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffff);
        CHECK_U64(rd(&d, VIRTIO_MMIO_SHM_BASE_LOW), 0xffffffff);
        CHECK_U64(rd(&d, VIRTIO_MMIO_SHM_BASE_HIGH), 0xffffffff);
        CHECK(!d.line && d.raises == 0 && d.notifies == 0);
        dummy_fini(&d);
}

static void test_features(void) {
        Dummy d;

        dummy_init(&d);
        wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        CHECK_U64(rd(&d, VIRTIO_MMIO_DEVICE_FEATURES), (uint32_t) OFFERED);
        wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
        CHECK_U64(rd(&d, VIRTIO_MMIO_DEVICE_FEATURES), OFFERED >> 32);
        wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
        CHECK_U64(rd(&d, VIRTIO_MMIO_DEVICE_FEATURES), 0);
        wr(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, UINT32_MAX);
        CHECK_U64(rd(&d, VIRTIO_MMIO_DEVICE_FEATURES), 0);

        /* without VIRTIO_F_VERSION_1: FEATURES_OK refused */
        negotiate(&d, F(0));
        CHECK_U64(rd(&d, VIRTIO_MMIO_STATUS), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        /* DRIVER_OK without FEATURES_OK is not taken either */
        wr(&d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK);
        CHECK_U64(rd(&d, VIRTIO_MMIO_STATUS), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);

        /* a feature that was not offered: refused */
        wr(&d, VIRTIO_MMIO_STATUS, 0);
        negotiate(&d, OFFERED | F(1));
        CHECK(!(rd(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK));
        wr(&d, VIRTIO_MMIO_STATUS, 0);
        negotiate(&d, F(VIRTIO_F_VERSION_1) | F(40));
        CHECK(!(rd(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK));

        /* a subset with VERSION_1: accepted, and frozen from then on */
        wr(&d, VIRTIO_MMIO_STATUS, 0);
        negotiate(&d, F(VIRTIO_F_VERSION_1) | F(5));
        CHECK_U64(rd(&d, VIRTIO_MMIO_STATUS), S_UP_TO_FEATURES);
        CHECK_U64(vmmio_driver_features(d.m), F(VIRTIO_F_VERSION_1) | F(5));
        wr(&d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        wr(&d, VIRTIO_MMIO_DRIVER_FEATURES, 1);
        CHECK_U64(vmmio_driver_features(d.m), F(VIRTIO_F_VERSION_1) | F(5));
        /* a reset forgets them */
        wr(&d, VIRTIO_MMIO_STATUS, 0);
        CHECK_U64(vmmio_driver_features(d.m), 0);
        CHECK_INT(d.resets, 4);
        dummy_fini(&d);
}

static void test_status(void) {
        Dummy d;

        dummy_init(&d);
        wr(&d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        wr(&d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_DRIVER);     /* clears ACKNOWLEDGE: kept */
        CHECK_U64(rd(&d, VIRTIO_MMIO_STATUS), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        /* the driver cannot set DEVICE_NEEDS_RESET */
        wr(&d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_NEEDS_RESET);
        CHECK_U64(rd(&d, VIRTIO_MMIO_STATUS), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        wr(&d, VIRTIO_MMIO_STATUS, 0);
        CHECK_U64(rd(&d, VIRTIO_MMIO_STATUS), 0);
        CHECK_INT(d.resets, 1);
        CHECK_INT(vmmio_stats(d.m)->resets, 1);

        /* a reset of a running device: queues stopped and forgotten, line lowered */
        start(&d);
        CHECK_INT(gmem_buf_mapped(d.gmem), 3);
        vmmio_config_changed(d.m);
        CHECK(d.line);
        wr(&d, VIRTIO_MMIO_STATUS, 0);
        CHECK(!d.line);
        CHECK_INT(d.lowers, 1);
        CHECK_U64(rd(&d, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
        CHECK_INT(gmem_buf_mapped(d.gmem), 0);
        CHECK_U64(rd(&d, VIRTIO_MMIO_QUEUE_READY), 0);
        CHECK_U64(rd(&d, VIRTIO_MMIO_STATUS), 0);
        CHECK_INT(d.resets, 2);
        dummy_fini(&d);
}

static void expect_refused(Dummy *d, uint32_t num, uint64_t desc, uint64_t avail, uint64_t used) {
        wr(d, VIRTIO_MMIO_STATUS, 0);
        negotiate(d, OFFERED);
        CHECK_U64(setup_queue(d, 0, num, desc, avail, used), 0);
        CHECK(rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
        CHECK_INT(gmem_buf_mapped(d->gmem), 0);
        /* not running yet: no interrupt for it */
        CHECK(!d->line);
        /* and DRIVER_OK does not make it run */
        wr(d, VIRTIO_MMIO_STATUS, S_UP_TO_FEATURES | VIRTIO_CONFIG_S_DRIVER_OK);
        CHECK(vmmio_queue(d->m, 0) == NULL);
}

static void test_queue_setup(void) {
        uint64_t failures;
        Dummy d;

        dummy_init(&d);
        wr(&d, VIRTIO_MMIO_QUEUE_SEL, 0);
        CHECK_U64(rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 16);
        wr(&d, VIRTIO_MMIO_QUEUE_SEL, 1);
        CHECK_U64(rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 16);
        wr(&d, VIRTIO_MMIO_QUEUE_SEL, 2);
        CHECK_U64(rd(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
        CHECK_U64(rd(&d, VIRTIO_MMIO_QUEUE_READY), 0);
        /* a queue that does not exist: its registers ignore writes */
        CHECK_U64(setup_queue(&d, 2, 16, 0x1000, 0x2000, 0x3000), 0);
        CHECK_U64(setup_queue(&d, UINT32_MAX, 16, 0x1000, 0x2000, 0x3000), 0);
        CHECK_INT(gmem_buf_mapped(d.gmem), 0);
        CHECK(!(rd(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));

        failures = vmmio_stats(d.m)->failures;
        expect_refused(&d, 0, 0x1000, 0x2000, 0x3000);          /* size 0 */
        expect_refused(&d, 12, 0x1000, 0x2000, 0x3000);         /* not a power of 2 */
        expect_refused(&d, 32, 0x1000, 0x2000, 0x3000);         /* above QueueNumMax */
        expect_refused(&d, 1u << 31, 0x1000, 0x2000, 0x3000);
        expect_refused(&d, 16, 0x1008, 0x2000, 0x3000);         /* misaligned rings */
        expect_refused(&d, 16, 0x1000, 0x2001, 0x3000);
        expect_refused(&d, 16, 0x1000, 0x2000, 0x3002);
        expect_refused(&d, 16, MEM_SIZE - 0x80, 0x2000, 0x3000);        /* past the guest's memory */
        expect_refused(&d, 16, 0x1000, MEM_SIZE - 8, 0x3000);
        expect_refused(&d, 16, 0x1000, 0x2000, MEM_SIZE - 4);
        expect_refused(&d, 16, UINT64_MAX - 15, 0x2000, 0x3000);        /* wraps */
        expect_refused(&d, 16, 0x1000, 0x2000, UINT64_C(1) << 40);
        CHECK_INT(vmmio_stats(d.m)->failures - failures, 12);

        /* a good queue: 3 rings mapped; its registers frozen while it runs */
        wr(&d, VIRTIO_MMIO_STATUS, 0);
        negotiate(&d, OFFERED);
        CHECK_U64(setup_queue(&d, 1, 8, UINT64_C(0x1000), 0x2000, 0x3000), 1);
        CHECK_INT(gmem_buf_mapped(d.gmem), 3);
        wr(&d, VIRTIO_MMIO_QUEUE_NUM, 4);
        wr(&d, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x8000);
        wr(&d, VIRTIO_MMIO_QUEUE_READY, 1);                     /* again: nothing more mapped */
        CHECK_INT(gmem_buf_mapped(d.gmem), 3);
        wr(&d, VIRTIO_MMIO_QUEUE_READY, 2);                     /* not 0 or 1: ignored */
        CHECK_U64(rd(&d, VIRTIO_MMIO_QUEUE_READY), 1);
        /* stopped, it can start again, with new registers */
        wr(&d, VIRTIO_MMIO_QUEUE_READY, 0);
        CHECK_U64(rd(&d, VIRTIO_MMIO_QUEUE_READY), 0);
        CHECK_INT(gmem_buf_mapped(d.gmem), 0);
        CHECK_U64(setup_queue(&d, 1, 16, 0x4000, 0x5000, 0x6000), 1);
        CHECK_INT(gmem_buf_mapped(d.gmem), 3);
        /* rings at the very end of memory fit */
        CHECK_U64(setup_queue(&d, 0, 16, MEM_SIZE - 0x100, MEM_SIZE - 0x200 - 36, MEM_SIZE - 0x300 - 132), 1);
        CHECK_INT(gmem_buf_mapped(d.gmem), 6);
        CHECK(!(rd(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
        dummy_fini(&d);
}

static void test_notify(void) {
        Dummy d;

        dummy_init(&d);
        /* before DRIVER_OK every kick is ignored */
        negotiate(&d, OFFERED);
        REQUIRE(setup_queue(&d, 0, 16, 0x1000, 0x2000, 0x3000) == 1);
        wr(&d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
        vmmio_notify(d.m, 0);
        CHECK_INT(d.notifies, 0);
        CHECK_INT(vmmio_stats(d.m)->kicks_ignored, 2);

        wr(&d, VIRTIO_MMIO_STATUS, S_UP_TO_FEATURES | VIRTIO_CONFIG_S_DRIVER_OK);
        wr(&d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);            /* a forwarded write */
        vmmio_notify(d.m, 0);                           /* an ioeventfd */
        CHECK_INT(d.notifies, 2);
        CHECK_INT(d.last_queue, 0);
        /* a queue that is not ready, or does not exist */
        wr(&d, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
        wr(&d, VIRTIO_MMIO_QUEUE_NOTIFY, 2);
        wr(&d, VIRTIO_MMIO_QUEUE_NOTIFY, UINT32_MAX);
        vmmio_notify(d.m, 64);
        CHECK_INT(d.notifies, 2);
        CHECK_INT(vmmio_stats(d.m)->kicks, 8);
        CHECK_INT(vmmio_stats(d.m)->kicks_ignored, 6);
        CHECK(vmmio_queue(d.m, 0) != NULL);
        CHECK(vmmio_queue(d.m, 1) == NULL);
        CHECK(vmmio_queue(d.m, 99) == NULL);

        /* a failed device takes no kicks */
        vmmio_fail(d.m);
        vmmio_notify(d.m, 0);
        CHECK_INT(d.notifies, 2);
        CHECK(vmmio_queue(d.m, 0) == NULL);
        dummy_fini(&d);
}

static void test_interrupts(void) {
        struct vring_avail *avail;
        Virtq *q;
        Dummy d;

        dummy_init(&d);
        start(&d);
        avail = (struct vring_avail *) (d.mem + 0x2000);
        q = vmmio_queue(d.m, 0);
        REQUIRE(q);

        /* level: up while InterruptStatus != 0 */
        virtq_push(q, 0, 0);
        vmmio_queue_used(d.m, q);
        CHECK(d.line);
        CHECK(vmmio_interrupt_level(d.m));
        CHECK_U64(rd(&d, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
        vmmio_config_changed(d.m);
        CHECK_U64(rd(&d, VIRTIO_MMIO_CONFIG_GENERATION), 1);
        CHECK_U64(rd(&d, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
        /* edge: one raise per event, even with the line still up */
        CHECK_INT(d.raises, 2);
        CHECK_INT(vmmio_stats(d.m)->interrupts, 2);
        wr(&d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
        CHECK(d.line);
        CHECK_INT(d.lowers, 0);
        wr(&d, VIRTIO_MMIO_INTERRUPT_ACK, 0);
        CHECK(d.line);
        wr(&d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
        CHECK(!d.line);
        CHECK(!vmmio_interrupt_level(d.m));
        CHECK_INT(d.lowers, 1);
        wr(&d, VIRTIO_MMIO_INTERRUPT_ACK, UINT32_MAX);  /* nothing to lower */
        CHECK_INT(d.lowers, 1);
        CHECK_U64(((struct vring_used *) (d.mem + 0x3000))->idx, htole16(1));

        /* the driver asks for no used-buffer interrupts */
        avail->flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);
        virtq_push(q, 1, 0);
        vmmio_queue_used(d.m, q);
        CHECK(!d.line);
        CHECK_INT(d.raises, 2);
        avail->flags = 0;

        /* a failure while running: DEVICE_NEEDS_RESET and a configuration interrupt, once */
        vmmio_fail(d.m);
        vmmio_fail(d.m);
        CHECK(rd(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
        CHECK_U64(rd(&d, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
        CHECK_INT(d.raises, 3);
        CHECK_INT(vmmio_stats(d.m)->failures, 1);
        CHECK(d.line);
        /* the driver's status writes keep it */
        wr(&d, VIRTIO_MMIO_STATUS, S_UP_TO_FEATURES | VIRTIO_CONFIG_S_DRIVER_OK);
        CHECK(rd(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
        /* a reset clears it and lowers the line */
        wr(&d, VIRTIO_MMIO_STATUS, 0);
        CHECK(!d.line);
        CHECK_U64(rd(&d, VIRTIO_MMIO_STATUS), 0);
        /* before DRIVER_OK a configuration change raises nothing */
        vmmio_config_changed(d.m);
        CHECK(!d.line);
        CHECK_U64(rd(&d, VIRTIO_MMIO_CONFIG_GENERATION), 2);
        dummy_fini(&d);
}

static void test_config(void) {
        uint64_t bad;
        Dummy d;

        dummy_init(&d);
        for (unsigned i = 0; i < sizeof(config); i++)
                CHECK_U64(vmmio_read(d.m, 0x100 + i, 1), config[i]);
        CHECK_U64(vmmio_read(d.m, 0x102, 2), 0x4433);
        CHECK_U64(vmmio_read(d.m, 0x104, 4), 0x88776655);
        CHECK_U64(vmmio_read(d.m, 0x100, 8), UINT64_C(0x8877665544332211));
        CHECK_U64(vmmio_read(d.m, 0x10a, 2), 0xccbb);
        CHECK_U64(vmmio_read(d.m, 0x108, 4), 0xccbbaa99);
        CHECK_INT(vmmio_stats(d.m)->bad_accesses, 0);

        bad = vmmio_stats(d.m)->bad_accesses;
        CHECK_U64(vmmio_read(d.m, 0x101, 2), 0);        /* misaligned */
        CHECK_U64(vmmio_read(d.m, 0x102, 4), 0);
        CHECK_U64(vmmio_read(d.m, 0x104, 8), 0);
        CHECK_U64(vmmio_read(d.m, 0x100, 3), 0);        /* no such size */
        CHECK_U64(vmmio_read(d.m, 0x100, 16), 0);
        CHECK_U64(vmmio_read(d.m, 0x108, 8), 0);        /* past the end */
        CHECK_U64(vmmio_read(d.m, 0x10c, 1), 0);
        CHECK_U64(vmmio_read(d.m, 0x1fc, 4), 0);
        CHECK_U64(vmmio_read(d.m, UINT64_MAX, 1), 0);
        CHECK_INT(vmmio_stats(d.m)->bad_accesses - bad, 9);

        /* nothing in it is writable */
        vmmio_write(d.m, 0x100, 1, 0);
        vmmio_write(d.m, 0x100, 8, 0);
        CHECK_U64(vmmio_read(d.m, 0x100, 8), UINT64_C(0x8877665544332211));
        CHECK_INT(vmmio_stats(d.m)->bad_accesses - bad, 11);
        dummy_fini(&d);
}

static void test_new_refuses(void) {
        VmmioDevice dev = {
                .features = F(VIRTIO_F_VERSION_1), .num_queues = 1, .queue_num_max = 16,
                .config_read = dummy_config, .queue_notify = dummy_notify, .reset = dummy_reset,
        };
        Vmmio *m = NULL;
        Dummy d = {};

        REQUIRE(vmmio_new(&m, &dev, &d, NULL, dummy_irq, &d) == 0);
        m = vmmio_free(m);
        CHECK(m == NULL);
        dev.features = F(0);
        CHECK_INT(vmmio_new(&m, &dev, &d, NULL, dummy_irq, &d), -EINVAL);
        dev.features = F(VIRTIO_F_VERSION_1);
        dev.queue_num_max = VMMIO_QUEUE_NUM_MAX * 2;
        CHECK_INT(vmmio_new(&m, &dev, &d, NULL, dummy_irq, &d), -EINVAL);
        dev.queue_num_max = 16;
        dev.num_queues = 0;
        CHECK_INT(vmmio_new(&m, &dev, &d, NULL, dummy_irq, &d), -EINVAL);
        dev.num_queues = VMMIO_QUEUES_MAX + 1;
        CHECK_INT(vmmio_new(&m, &dev, &d, NULL, dummy_irq, &d), -EINVAL);
        dev.num_queues = 1;
        dev.config_size = VMMIO_CONFIG_MAX + 1;
        CHECK_INT(vmmio_new(&m, &dev, &d, NULL, dummy_irq, &d), -EINVAL);
        dev.config_size = 0;
        CHECK_INT(vmmio_new(&m, &dev, &d, NULL, NULL, &d), -EINVAL);
        CHECK(m == NULL);
        CHECK(vmmio_free(NULL) == NULL);
}

int main(void) {
        ut_start(30);
        test_identification();
        test_features();
        test_status();
        test_queue_setup();
        test_notify();
        test_interrupts();
        test_config();
        test_new_refuses();
        return ut_finish("test-vmmio");
}
