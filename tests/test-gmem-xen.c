/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gmem-xen (examples/gmem-xen.c) against a fake libxenforeignmemory defined
 * here: the guest's RAM is a memfd and xenforeignmemory_map() maps the frames
 * asked for, contiguously, with the protection asked for; frames past the
 * RAM fail in err[] as Xen does.  The program's own definitions of the
 * library's functions are the ones gmem-xen.o links to.
 *
 * Checked: ranges across frames, refusal of a range with a bad frame, the
 * limits of gmem_map(), the cache (hits, least-recently-used eviction, its
 * bound, -EBUSY when every slot is in use, flush, free), the restriction to
 * the guest, and the block device served through it end to end.
 */
#define _GNU_SOURCE 1   /* memfd_create */
#include <errno.h>
#include <sys/mman.h>

#include <linux/virtio_blk.h>
#include <xenforeignmemory.h>

#include "unit-assert.h"
#include "vdrv.h"

#define PAGE 4096u
#define GUEST_PAGES 512u
#define DOMID 7u
#define SLOTS 32u               /* the cache size of gmem-xen.c */

/* the fake library's state */
struct xenforeignmemory_handle {
        int unused;
};
static struct xenforeignmemory_handle handle;
static int guest_fd = -1;
static unsigned opens, closes, maps, unmaps, live, live_max;
static int restricted = -1, last_prot, fail_open, fail_restrict, fail_map;

xenforeignmemory_handle *xenforeignmemory_open(struct xentoollog_logger *logger, unsigned open_flags) {
        if (fail_open) {
                errno = fail_open;
                return NULL;
        }
        opens++;
        return &handle;
}

int xenforeignmemory_close(xenforeignmemory_handle *fmem) {
        closes++;
        return 0;
}

int xenforeignmemory_restrict(xenforeignmemory_handle *fmem, domid_t domid) {
        if (fail_restrict) {
                errno = fail_restrict;
                return -1;
        }
        restricted = domid;
        return 0;
}

void *xenforeignmemory_map(xenforeignmemory_handle *fmem, uint32_t dom, int prot, size_t pages,
                           const xen_pfn_t arr[], int err[]) {
        uint8_t *base;

        if (fail_map || dom != (uint32_t) restricted) {
                errno = fail_map ? fail_map : EPERM;
                return NULL;
        }
        base = mmap(NULL, pages * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        REQUIRE(base != MAP_FAILED);
        for (size_t i = 0; i < pages; i++) {
                err[i] = arr[i] < GUEST_PAGES ? 0 : -EINVAL;
                if (err[i] == 0)
                        REQUIRE(mmap(base + i * PAGE, PAGE, prot, MAP_SHARED | MAP_FIXED, guest_fd,
                                     (off_t) (arr[i] * PAGE)) != MAP_FAILED);
        }
        last_prot = prot;
        maps++;
        live++;
        if (live > live_max)
                live_max = live;
        return base;
}

int xenforeignmemory_unmap(xenforeignmemory_handle *fmem, void *addr, size_t pages) {
        REQUIRE(munmap(addr, pages * PAGE) == 0);
        unmaps++;
        live--;
        return 0;
}

static uint8_t *guest;          /* the guest's view of its RAM */

static void guest_setup(void) {
        guest_fd = memfd_create("guest-ram", MFD_CLOEXEC);
        REQUIRE(guest_fd >= 0 && ftruncate(guest_fd, GUEST_PAGES * PAGE) == 0);
        guest = mmap(NULL, GUEST_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, guest_fd, 0);
        REQUIRE(guest != MAP_FAILED);
}

static void test_map(void) {
        GuestMem *m = NULL;
        uint8_t *p, *q;
        void *v;

        CHECK_INT(gmem_xen_new(&m, DOMID), 0);
        REQUIRE(m);
        CHECK_INT(restricted, DOMID);

        /* a read mapping sees what the guest wrote, and is mapped read-only */
        memcpy(guest + 0x1010, "hello", 6);
        CHECK_INT(gmem_map(m, 0x1010, 16, false, &v), 0);
        p = v;
        CHECK_STR((char *) p, "hello");
        CHECK_INT(last_prot, PROT_READ);
        CHECK_INT(maps, 1);
        gmem_unmap(m, p);
        /* cached: the same frame again needs no new mapping */
        CHECK_INT(gmem_map(m, 0x1ff0, 16, false, &v), 0);
        CHECK(v == p + 0xfe0);
        CHECK_INT(maps, 1);
        gmem_unmap(m, v);
        CHECK_INT(unmaps, 0);

        /* a write mapping of the same frame is another mapping, read-write, seen by the guest */
        CHECK_INT(gmem_map(m, 0x1020, 4, true, &v), 0);
        CHECK_INT(last_prot, PROT_READ | PROT_WRITE);
        CHECK_INT(maps, 2);
        memcpy(v, "abc", 4);
        CHECK_STR((char *) guest + 0x1020, "abc");
        gmem_unmap(m, v);

        /* across frames: contiguous for the device */
        CHECK_INT(gmem_map(m, 0x2ff0, 0x2020, true, &v), 0);
        q = v;
        for (unsigned i = 0; i < 0x2020; i++)
                q[i] = (uint8_t) (i * 3 + 1);
        for (unsigned i = 0; i < 0x2020; i++)
                if (guest[0x2ff0 + i] != (uint8_t) (i * 3 + 1)) {
                        CHECK(!"byte differs");
                        break;
                }
        gmem_unmap(m, q);
        /* a smaller range from the same first frame is a hit; one that is longer is not */
        CHECK_INT(gmem_map(m, 0x2000, 0x3000, false, &v), 0);
        CHECK_INT(maps, 3);
        gmem_unmap(m, v);
        CHECK_INT(gmem_map(m, 0x2000, 0x5000, false, &v), 0);
        CHECK_INT(maps, 4);
        gmem_unmap(m, v);

        /* the largest range: GMEM_MAP_MAX bytes, not page-aligned, spans 17 frames */
        CHECK_INT(gmem_map(m, 0x10800, GMEM_MAP_MAX, false, &v), 0);
        gmem_unmap(m, v);

        /* refused */
        CHECK_INT(gmem_map(m, 0x1000, 0, false, &v), -EINVAL);
        CHECK_INT(gmem_map(m, 0x1000, GMEM_MAP_MAX + 1, false, &v), -E2BIG);
        CHECK_INT(gmem_map(m, UINT64_MAX - 15, 32, false, &v), -EFAULT);
        maps = unmaps = 0;
        CHECK_INT(gmem_map(m, (GUEST_PAGES - 1) * PAGE, 2 * PAGE, false, &v), -EFAULT);
        CHECK_INT(maps, 1);
        CHECK_INT(unmaps, 1);           /* the half-good mapping was given back at once */
        fail_map = ENOMEM;
        CHECK_INT(gmem_map(m, 0x40000, 1, false, &v), -ENOMEM);
        fail_map = 0;

        m = gmem_free(m);
        CHECK_INT(live, 0);
        CHECK_INT(closes, 1);
}

static void test_cache(void) {
        GuestMem *m = NULL;
        void *held[SLOTS], *v;
        unsigned before;

        live_max = live = 0;
        REQUIRE(gmem_xen_new(&m, DOMID) == 0);

        /* every slot in use: -EBUSY, never a 33rd mapping */
        for (unsigned i = 0; i < SLOTS; i++)
                CHECK_INT(gmem_map(m, (uint64_t) (100 + i) * PAGE, 8, false, &held[i]), 0);
        CHECK_INT(gmem_map(m, 200 * PAGE, 8, false, &v), -EBUSY);
        CHECK_INT(live, SLOTS);
        /* the same frame while in use: shared, no new slot needed */
        CHECK_INT(gmem_map(m, 100 * PAGE + 8, 8, false, &v), 0);
        CHECK(v == (uint8_t *) held[0] + 8);
        gmem_unmap(m, v);

        /* idle slots are evicted, least recently used first */
        for (unsigned i = 0; i < SLOTS; i++)
                gmem_unmap(m, held[i]);
        CHECK_INT(gmem_map(m, 100 * PAGE, 8, false, &v), 0);      /* 100 is now the most recent */
        gmem_unmap(m, v);
        before = maps;
        CHECK_INT(gmem_map(m, 200 * PAGE, 8, false, &v), 0);      /* evicts 101 */
        gmem_unmap(m, v);
        CHECK_INT(maps, before + 1);
        CHECK_INT(gmem_map(m, 100 * PAGE, 8, false, &v), 0);
        gmem_unmap(m, v);
        CHECK_INT(maps, before + 1);
        CHECK_INT(gmem_map(m, 101 * PAGE, 8, false, &v), 0);
        gmem_unmap(m, v);
        CHECK_INT(maps, before + 2);
        /* many frames through the cache: it never holds more than its slots */
        for (unsigned i = 0; i < 300; i++) {
                CHECK_INT(gmem_map(m, (uint64_t) i * PAGE + 100, 200, i % 2, &v), 0);
                gmem_unmap(m, v);
        }
        CHECK_INT(live_max, SLOTS);

        /* flush drops the idle mappings and keeps those in use */
        CHECK_INT(gmem_map(m, 0x7000, 4, true, &v), 0);
        gmem_flush(m);
        CHECK_INT(live, 1);
        memcpy(v, "xyz", 4);
        CHECK_STR((char *) guest + 0x7000, "xyz");
        gmem_unmap(m, v);
        gmem_flush(m);
        CHECK_INT(live, 0);
        m = gmem_free(m);
}

static void test_open_errors(void) {
        GuestMem *m = NULL;

        closes = 0;
        fail_open = EACCES;
        CHECK_INT(gmem_xen_new(&m, DOMID), -EACCES);
        fail_open = 0;
        fail_restrict = ESRCH;
        CHECK_INT(gmem_xen_new(&m, DOMID), -ESRCH);
        fail_restrict = 0;
        CHECK_INT(closes, 1);           /* the handle opened before the failed restriction */
        CHECK(m == NULL);
}

/* the block device through the mapping cache: round trips, a full queue, resets */
static void test_device(void) {
        int disk = memfd_create("disk", MFD_CLOEXEC);
        GuestMem *m = NULL;
        uint32_t id, len;
        unsigned bad = 0;
        Vdrv d;

        REQUIRE(disk >= 0 && ftruncate(disk, 2 << 20) == 0);
        REQUIRE(VDRV_MEM_SIZE <= GUEST_PAGES * PAGE);
        live_max = live = 0;
        REQUIRE(gmem_xen_new(&m, DOMID) == 0);
        vdrv_init_mem(&d, disk, guest, m);
        for (unsigned round = 0; round < 3; round++) {
                REQUIRE(vdrv_probe(&d, UINT64_MAX, 256) ==
                        (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
                         VIRTIO_CONFIG_S_DRIVER_OK));
                for (unsigned k = 0; k < VDRV_SLOTS; k++) {
                        memset(vdrv_data(&d, k), (int) (k + round), VDRV_DATA_SLOT);
                        vdrv_request(&d, k, VIRTIO_BLK_T_OUT, 32 * k, VDRV_DATA_SLOT);
                }
                vdrv_kick(&d);
                for (unsigned k = 0; k < VDRV_SLOTS; k++) {
                        memset(vdrv_data(&d, k), 0xff, VDRV_DATA_SLOT);
                        vdrv_request(&d, k, VIRTIO_BLK_T_IN, 32 * ((k + 1) % VDRV_SLOTS), VDRV_DATA_SLOT);
                }
                vdrv_kick(&d);
                while (vdrv_used(&d, &id, &len))
                        bad += id % 3 != 0 || vdrv_status(&d, id / 3) != VIRTIO_BLK_S_OK;
                for (unsigned k = 0; k < VDRV_SLOTS; k++)
                        bad += vdrv_data(&d, k)[0] != (uint8_t) ((k + 1) % VDRV_SLOTS + round) ||
                               vdrv_data(&d, k)[VDRV_DATA_SLOT - 1] != (uint8_t) ((k + 1) % VDRV_SLOTS + round);
                CHECK_INT(d.used_seen, 2 * VDRV_SLOTS);
        }
        CHECK_INT(bad, 0);
        CHECK(live_max <= SLOTS);
        /* the rings stay mapped while the queue runs; a reset gives back everything idle */
        CHECK(live >= 3);
        vdrv_write(&d, 0x70, 0);
        CHECK_INT(live, 0);
        vdrv_fini(&d);
        gmem_free(m);
        close(disk);
}

int main(void) {
        ut_start(60);
        guest_setup();
        test_map();
        test_cache();
        test_open_errors();
        test_device();
        return ut_finish("test-gmem-xen");
}
