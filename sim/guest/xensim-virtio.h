/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-virtio.h - a minimal virtio-mmio (version 2) driver with one split virtqueue, run by
 * the guest driver of xensim (part of libxensim-guest).
 *
 * Every register access is a vCPU access (xsg_io): it goes to the ioreq server that holds the
 * device's MMIO window, exactly as a Linux guest's would. The rings and the buffers live in the
 * guest's RAM (xsg_ram_ptr), in an area the caller gives; the device maps them through
 * xenforeignmemory_map. Completion is seen through xensim's interrupt log: a waiter polls it
 * for a new raise of the device's interrupt, then (as a guest's interrupt handler)
 * reads InterruptStatus and acknowledges it from its vCPU, and only then reads the used ring,
 * so that a buffer used after the acknowledgement raises a new interrupt.
 *
 * Several threads may submit and wait at once, each driving its own vCPU (one access per vCPU
 * at a time, see xensim-guest.h); the queue is kept under a lock, which a waiter also holds
 * across the interrupt handler's two accesses. No event index, no indirect descriptors, no
 * interrupt suppression. Errors are negative errno values as in xensim-guest.h, and:
 *   -ENODEV   the window does not hold a virtio-mmio version 2 device (magic, version), or
 *             its device id is not the one asked for
 *   -ENOTSUP  the device does not offer VIRTIO_F_VERSION_1, refused FEATURES_OK, or its
 *             QueueNumMax is below the queue size asked for
 *   -ENOSPC   the guest RAM area is too small for the rings and slots; no free descriptors
 *   -EIO      the device set DEVICE_NEEDS_RESET (xsv_status tells)
 */
#ifndef XENSIM_VIRTIO_H
#define XENSIM_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

#include "xensim-guest.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xsv xsv;

struct xsv_config {
        uint32_t domid;
        uint64_t base;             /* the device's MMIO window (0x100 registers + config) */
        uint32_t device_id;        /* the device id required (0: any device) */
        uint64_t features;         /* what the driver accepts of the offered features
                                      (VIRTIO_F_VERSION_1 is always negotiated) */
        unsigned queue;            /* the queue index to set up */
        unsigned queue_size;       /* a power of two <= 32768 (0: min(QueueNumMax, 64)) */
        uint64_t ram_gpa, ram_len; /* guest RAM for the rings, then one slot per descriptor
                                      (page-aligned start) */
        uint32_t slot_bytes;       /* the slot of each descriptor head, for helpers such as
                                      xsv_blk_*: header + data + status (0: 4096 + 64) */
        unsigned vcpu;             /* the vCPU of the setup accesses */
        enum xsg_irq_kind irq_kind;/* the interrupt the device raises: its kind and a (the
                                      irq, the ISA irq, the INTx word or the MSI address);
                                      kind 0: any entry of the domain's log */
        uint64_t irq_a;
        int timeout_ms;            /* every access and wait (<= 0: XSG_DEFAULT_TIMEOUT_MS) */
};

/*
 * Probe the device (magic, version 2, device id), reset it, ACKNOWLEDGE | DRIVER, negotiate
 * features (64 bits, through the selector registers), FEATURES_OK (read back), set up the
 * queue (QueueSel, QueueNumMax, QueueNum, desc/driver/device addresses, QueueReady = 1) and
 * DRIVER_OK. Interrupts already in the log are not waited for.
 */
int xsv_open(xsv **ret, xsg *g, const struct xsv_config *cfg);
/* Reset the device (status 0) unless it is gone, and free; accepts NULL; returns NULL. */
xsv *xsv_close(xsv *d);

/* What was negotiated, and the queue in guest RAM (for tests that scribble on it). */
uint64_t xsv_features(const xsv *d);
struct xsv_rings {
        unsigned num;
        uint64_t desc_gpa, avail_gpa, used_gpa, slots_gpa;
        uint32_t slot_bytes;
        volatile struct vring_desc *desc;   /* pointers into guest RAM */
        volatile struct vring_avail *avail;
        volatile struct vring_used *used;
};
void xsv_rings(const xsv *d, struct xsv_rings *ret);
/* The guest-physical address and pointer of descriptor head `head`'s slot. */
uint64_t xsv_slot_gpa(const xsv *d, uint16_t head);
void *xsv_slot_ptr(const xsv *d, uint16_t head);

/* Register accesses from vCPU vcpu (offsets inside the window; config space at 0x100). */
int xsv_reg_read(xsv *d, unsigned vcpu, uint64_t offset, unsigned size, uint64_t *ret);
int xsv_reg_write(xsv *d, unsigned vcpu, uint64_t offset, unsigned size, uint64_t value);
/* The device status register. */
int xsv_status(xsv *d, unsigned vcpu, uint32_t *ret);

/* One buffer of a request: guest-physical, device-writable or not. */
struct xsv_seg {
        uint64_t gpa;
        uint32_t len;
        bool write;
};

#define XSV_NO_KICK 1u             /* xsv_submit: only queue it (kick later: xsv_kick) */

/*
 * Queue one chain of n (1..queue size) descriptors, put its head in the available ring and,
 * unless XSV_NO_KICK, kick (QueueNotify write of the queue index from vcpu). *ret_token is
 * the head: wait for it with xsv_wait, exactly once. Nothing checks the segments: they may
 * name any address (hostile-driver tests). -ENOSPC: not enough free descriptors.
 */
int xsv_submit(xsv *d, unsigned vcpu, const struct xsv_seg *segs, unsigned n, unsigned flags,
               uint16_t *ret_token);
int xsv_kick(xsv *d, unsigned vcpu);
/*
 * Wait (timeout_ms <= 0: the config's) until the device used chain `token`, handling the
 * device's interrupts from vcpu meanwhile: 0 with *ret_len (may be NULL) the length the
 * device wrote; the descriptors are free again. -ETIMEDOUT: not used in time (the chain stays
 * queued: wait again); -EIO: the device needs a reset; -EINVAL: no such chain in flight.
 */
int xsv_wait(xsv *d, unsigned vcpu, uint16_t token, int timeout_ms, uint32_t *ret_len);

struct xsv_stats {
        uint64_t submitted, completed, kicks;
        uint64_t interrupts;       /* raises of the device's interrupt handled */
        uint64_t spurious;         /* ... that found InterruptStatus 0 */
        uint64_t bad_used;         /* used entries naming no chain in flight (a broken device) */
};
void xsv_stats(xsv *d, struct xsv_stats *ret);

/* ---- virtio-blk on top (device id 2): requests built in the head's slot ---- */

#define XSV_BLK_SECTOR 512u

/*
 * A virtio-blk request: header (type, sector; device-readable), then for OUT `len` bytes of
 * data (copied from buf into the slot; readable), for IN and GET_ID `len` bytes to be filled
 * (writable), then the status byte (writable). type: VIRTIO_BLK_T_IN, _OUT, _FLUSH, _GET_ID
 * or any other value (the device answers UNSUPP). -EMSGSIZE: len beyond the slot.
 */
int xsv_blk_submit(xsv *d, unsigned vcpu, uint32_t type, uint64_t sector, const void *buf,
                   uint32_t len, unsigned flags, uint16_t *ret_token);
/*
 * Wait for it as xsv_wait; then for IN and GET_ID copy its len bytes into buf (may be NULL),
 * and give the status byte the device wrote (VIRTIO_BLK_S_OK, _IOERR, _UNSUPP).
 */
int xsv_blk_wait(xsv *d, unsigned vcpu, uint16_t token, int timeout_ms, void *buf,
                 uint8_t *ret_status);
/* Both in one. */
int xsv_blk_request(xsv *d, unsigned vcpu, uint32_t type, uint64_t sector, void *buf,
                    uint32_t len, uint8_t *ret_status);

/*
 * A disk workload on top (guest-vload.c): one thread per vCPU 0..vcpus-1, each issuing
 * requests of `len` bytes back to back (one in flight per vCPU), at random len-aligned
 * offsets of its own slice of [first_sector, first_sector + sectors), a read or, with
 * probability write_pct %, a write. Writes carry a pattern of the block and a generation;
 * with verify, a read of a block this run wrote must return its last pattern.
 */
struct xsv_blk_load_opts {
        unsigned vcpus;            /* 1..XSG_MAX_VCPUS */
        uint32_t len;              /* a multiple of 512, within the slot (0: 4096) */
        unsigned write_pct;        /* 0..100 */
        uint64_t first_sector, sectors;  /* at least len bytes per vCPU */
        uint64_t count;            /* requests in all (0: run for `seconds`) */
        double seconds;
        uint64_t seed;
        bool verify;
};

struct xsv_blk_load_result {
        uint64_t reads, writes;    /* answered VIRTIO_BLK_S_OK */
        uint64_t errors;           /* failed, or answered another status */
        uint64_t mismatches;       /* verify: reads that did not return what the run wrote */
        uint64_t verified;         /* verify: reads of blocks the run wrote, checked */
        double seconds;            /* wall time */
        double p50_us, p99_us, p999_us, max_us, mean_us;  /* submit to completion seen */
};

/* Run it; the threads stop at the first request that fails (-EIO, -ETIMEDOUT, ...). */
int xsv_blk_load(xsv *d, const struct xsv_blk_load_opts *o, struct xsv_blk_load_result *ret);

#ifdef __cplusplus
}
#endif

#endif
