/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * guest-virtio.c - the guest's virtio-mmio driver (xensim-virtio.h): setup through register
 * accesses of a vCPU, one split virtqueue in guest RAM, completions through the interrupt log.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "xensim-virtio.h"

#define VIRTIO_MMIO_MAGIC 0x74726976u  /* "virt" */
#define DEFAULT_QUEUE 64u
#define DEFAULT_SLOT (4096u + 64u)
#define BLK_HDR 16u

struct chain {
        bool busy, done;
        uint16_t n;
        uint32_t len;                   /* written by the device */
        uint32_t blk_type, blk_len;     /* xsv_blk_*: the request in the slot */
};

struct xsv {
        xsg *g;
        struct xsv_config cfg;
        uint64_t features;
        char *ram;                      /* the guest's RAM in this process */
        struct xsv_rings q;
        pthread_mutex_t lock;           /* everything below, and the interrupt handler */
        uint16_t *next_free;            /* the free descriptors (private: the device could
                                           scribble on the table) */
        uint16_t free_head;
        unsigned nr_free;
        struct chain *chain;            /* per head */
        uint16_t avail_idx, last_used;
        uint64_t irq_seen;              /* the newest log entry looked at */
        struct xsv_stats st;
};

static uint64_t now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int timeout(const xsv *d, int t) {
        return t > 0 ? t : d->cfg.timeout_ms;
}

int xsv_reg_read(xsv *d, unsigned vcpu, uint64_t off, unsigned size, uint64_t *ret) {
        return xsg_read(d->g, d->cfg.domid, vcpu, XSG_MMIO, d->cfg.base + off, size, ret,
                        d->cfg.timeout_ms);
}

int xsv_reg_write(xsv *d, unsigned vcpu, uint64_t off, unsigned size, uint64_t value) {
        return xsg_write(d->g, d->cfg.domid, vcpu, XSG_MMIO, d->cfg.base + off, size, value,
                         d->cfg.timeout_ms);
}

/* A 32-bit register; *ret is 0 when the access failed. */
static int rd32(xsv *d, unsigned vcpu, uint64_t off, uint32_t *ret) {
        uint64_t v = 0;
        int r = xsv_reg_read(d, vcpu, off, 4, &v);
        *ret = r == 0 ? (uint32_t)v : 0;
        return r;
}

static int wr32(xsv *d, unsigned vcpu, uint64_t off, uint32_t v) {
        return xsv_reg_write(d, vcpu, off, 4, v);
}

int xsv_status(xsv *d, unsigned vcpu, uint32_t *ret) {
        return rd32(d, vcpu, VIRTIO_MMIO_STATUS, ret);
}

/* The seq of the newest entry of the interrupt log (0: empty), by exponential search. */
static int irq_newest(xsv *d, uint64_t *ret) {
        struct xsg_irq e;
        unsigned lo = 0, hi = 1;
        int r;

        r = xsg_irq_get(d->g, d->cfg.domid, 0, &e);
        if (r == -ENOENT) {
                *ret = 0;
                return 0;
        }
        if (r < 0)
                return r;
        /* Entry lo exists; find hi that does not. */
        while ((r = xsg_irq_get(d->g, d->cfg.domid, hi, &e)) == 0) {
                lo = hi;
                hi *= 2;
        }
        if (r != -ENOENT)
                return r;
        while (hi - lo > 1) {
                unsigned mid = lo + (hi - lo) / 2;
                r = xsg_irq_get(d->g, d->cfg.domid, mid, &e);
                if (r == 0)
                        lo = mid;
                else if (r == -ENOENT)
                        hi = mid;
                else
                        return r;
        }
        r = xsg_irq_get(d->g, d->cfg.domid, lo, &e);
        if (r == 0)
                *ret = e.seq;
        return r;
}

static int features_negotiate(xsv *d, unsigned vcpu) {
        uint32_t lo, hi, st;
        uint64_t offered;
        int r;

        if ((r = wr32(d, vcpu, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0)) < 0 ||
            (r = rd32(d, vcpu, VIRTIO_MMIO_DEVICE_FEATURES, &lo)) < 0 ||
            (r = wr32(d, vcpu, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1)) < 0 ||
            (r = rd32(d, vcpu, VIRTIO_MMIO_DEVICE_FEATURES, &hi)) < 0)
                return r;
        offered = lo | (uint64_t)hi << 32;
        if (!(offered & (1ull << VIRTIO_F_VERSION_1)))
                return -ENOTSUP;
        d->features = offered & (d->cfg.features | 1ull << VIRTIO_F_VERSION_1);
        if ((r = wr32(d, vcpu, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0)) < 0 ||
            (r = wr32(d, vcpu, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->features)) < 0 ||
            (r = wr32(d, vcpu, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1)) < 0 ||
            (r = wr32(d, vcpu, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32))) < 0)
                return r;
        if ((r = wr32(d, vcpu, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE |
                      VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK)) < 0 ||
            (r = rd32(d, vcpu, VIRTIO_MMIO_STATUS, &st)) < 0)
                return r;
        return st & VIRTIO_CONFIG_S_FEATURES_OK ? 0 : -ENOTSUP;
}

static uint64_t align_up(uint64_t x, uint64_t a) {
        return (x + a - 1) / a * a;
}

/* Lay the rings and the slots out in the caller's area; -ENOSPC when it is too small. */
static int layout(xsv *d, uint64_t ram_size) {
        const struct xsv_config *c = &d->cfg;
        unsigned n = d->q.num;
        uint64_t at = align_up(c->ram_gpa, XSG_PAGE_SIZE), end;

        if (c->ram_gpa > ram_size || c->ram_len > ram_size - c->ram_gpa)
                return -EFAULT;
        end = c->ram_gpa + c->ram_len;
        d->q.desc_gpa = at;
        at = align_up(at + 16ull * n, XSG_PAGE_SIZE);
        d->q.avail_gpa = at;
        at = align_up(at + 6 + 2ull * n, XSG_PAGE_SIZE);
        d->q.used_gpa = at;
        at = align_up(at + 6 + 8ull * n, XSG_PAGE_SIZE);
        d->q.slots_gpa = at;
        d->q.slot_bytes = c->slot_bytes;
        if (at > end || (uint64_t)n * c->slot_bytes > end - at)
                return -ENOSPC;
        d->q.desc = (volatile struct vring_desc *)(d->ram + d->q.desc_gpa);
        d->q.avail = (volatile struct vring_avail *)(d->ram + d->q.avail_gpa);
        d->q.used = (volatile struct vring_used *)(d->ram + d->q.used_gpa);
        memset(d->ram + d->q.desc_gpa, 0, d->q.slots_gpa - d->q.desc_gpa);
        return 0;
}

static int queue_setup(xsv *d, unsigned vcpu, uint64_t ram_size) {
        uint32_t max, ready;
        int r;

        if ((r = wr32(d, vcpu, VIRTIO_MMIO_QUEUE_SEL, d->cfg.queue)) < 0 ||
            (r = rd32(d, vcpu, VIRTIO_MMIO_QUEUE_READY, &ready)) < 0 ||
            (r = rd32(d, vcpu, VIRTIO_MMIO_QUEUE_NUM_MAX, &max)) < 0)
                return r;
        if (ready || max == 0)
                return -ENOTSUP;
        d->q.num = d->cfg.queue_size ? d->cfg.queue_size : (max < DEFAULT_QUEUE ? max
                                                                                 : DEFAULT_QUEUE);
        if (d->q.num > max || d->q.num > 32768 || (d->q.num & (d->q.num - 1)))
                return -ENOTSUP;
        r = layout(d, ram_size);
        if (r < 0)
                return r;
        d->next_free = calloc(d->q.num, sizeof(*d->next_free));
        d->chain = calloc(d->q.num, sizeof(*d->chain));
        if (!d->next_free || !d->chain)
                return -ENOMEM;
        for (unsigned i = 0; i < d->q.num; i++)
                d->next_free[i] = (uint16_t)(i + 1);
        d->free_head = 0;
        d->nr_free = d->q.num;
        if ((r = wr32(d, vcpu, VIRTIO_MMIO_QUEUE_NUM, d->q.num)) < 0 ||
            (r = wr32(d, vcpu, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)d->q.desc_gpa)) < 0 ||
            (r = wr32(d, vcpu, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(d->q.desc_gpa >> 32))) < 0 ||
            (r = wr32(d, vcpu, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)d->q.avail_gpa)) < 0 ||
            (r = wr32(d, vcpu, VIRTIO_MMIO_QUEUE_AVAIL_HIGH,
                      (uint32_t)(d->q.avail_gpa >> 32))) < 0 ||
            (r = wr32(d, vcpu, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)d->q.used_gpa)) < 0 ||
            (r = wr32(d, vcpu, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(d->q.used_gpa >> 32))) < 0)
                return r;
        return wr32(d, vcpu, VIRTIO_MMIO_QUEUE_READY, 1);
}

int xsv_open(xsv **ret, xsg *g, const struct xsv_config *cfg) {
        unsigned v;
        uint32_t magic, version, id;
        uint64_t ram_size;
        void *ram;
        xsv *d;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        pthread_mutex_init(&d->lock, NULL);
        d->g = g;
        d->cfg = *cfg;
        if (d->cfg.timeout_ms <= 0)
                d->cfg.timeout_ms = XSG_DEFAULT_TIMEOUT_MS;
        if (!d->cfg.slot_bytes)
                d->cfg.slot_bytes = DEFAULT_SLOT;
        v = d->cfg.vcpu;
        r = xsg_ram_ptr(g, cfg->domid, &ram, &ram_size);
        if (r < 0)
                goto fail;
        d->ram = ram;
        r = irq_newest(d, &d->irq_seen);
        if (r < 0)
                goto fail;
        if ((r = rd32(d, v, VIRTIO_MMIO_MAGIC_VALUE, &magic)) < 0 ||
            (r = rd32(d, v, VIRTIO_MMIO_VERSION, &version)) < 0 ||
            (r = rd32(d, v, VIRTIO_MMIO_DEVICE_ID, &id)) < 0)
                goto fail;
        if (magic != VIRTIO_MMIO_MAGIC || version != 2 || id == 0 ||
            (cfg->device_id && id != cfg->device_id)) {
                r = -ENODEV;
                goto fail;
        }
        if ((r = wr32(d, v, VIRTIO_MMIO_STATUS, 0)) < 0 ||
            (r = wr32(d, v, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE)) < 0 ||
            (r = wr32(d, v, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE |
                      VIRTIO_CONFIG_S_DRIVER)) < 0)
                goto fail;
        r = features_negotiate(d, v);
        if (r == 0)
                r = queue_setup(d, v, ram_size);
        if (r == 0)
                r = wr32(d, v, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE |
                         VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK |
                         VIRTIO_CONFIG_S_DRIVER_OK);
        if (r < 0) {
                /* Tell the device the driver gave up, as a guest does. */
                (void)wr32(d, v, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_FAILED);
                goto fail;
        }
        *ret = d;
        return 0;
fail:
        free(d->next_free);
        free(d->chain);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return r;
}

xsv *xsv_close(xsv *d) {
        if (!d)
                return NULL;
        (void)wr32(d, d->cfg.vcpu, VIRTIO_MMIO_STATUS, 0);
        free(d->next_free);
        free(d->chain);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return NULL;
}

uint64_t xsv_features(const xsv *d) {
        return d->features;
}

void xsv_rings(const xsv *d, struct xsv_rings *ret) {
        *ret = d->q;
}

uint64_t xsv_slot_gpa(const xsv *d, uint16_t head) {
        return d->q.slots_gpa + (uint64_t)(head % d->q.num) * d->q.slot_bytes;
}

void *xsv_slot_ptr(const xsv *d, uint16_t head) {
        return d->ram + xsv_slot_gpa(d, head);
}

void xsv_stats(xsv *d, struct xsv_stats *ret) {
        pthread_mutex_lock(&d->lock);
        *ret = d->st;
        pthread_mutex_unlock(&d->lock);
}

int xsv_kick(xsv *d, unsigned vcpu) {
        int r = wr32(d, vcpu, VIRTIO_MMIO_QUEUE_NOTIFY, d->cfg.queue);
        if (r == 0) {
                pthread_mutex_lock(&d->lock);
                d->st.kicks++;
                pthread_mutex_unlock(&d->lock);
        }
        return r;
}

/* Take n descriptors off the free list and fill them as a chain; returns the head. */
static uint16_t chain_put(xsv *d, const struct xsv_seg *segs, unsigned n) {
        uint16_t head = d->free_head, i = head;

        for (unsigned k = 0; k < n; k++) {
                uint16_t next = d->next_free[i];
                volatile struct vring_desc *e = &d->q.desc[i];
                e->addr = segs[k].gpa;
                e->len = segs[k].len;
                e->flags = (uint16_t)((segs[k].write ? VRING_DESC_F_WRITE : 0) |
                                      (k + 1 < n ? VRING_DESC_F_NEXT : 0));
                e->next = k + 1 < n ? next : 0;
                if (k + 1 < n)
                        i = next;
                else
                        d->free_head = next;
        }
        d->nr_free -= n;
        d->chain[head] = (struct chain){ .busy = true, .n = (uint16_t)n };
        return head;
}

/* Give a used chain's descriptors back, in the order they were taken. */
static void chain_free(xsv *d, uint16_t head) {
        uint16_t i = head;
        unsigned n = d->chain[head].n;

        /* The descriptors of a chain were consecutive on the private list: walk it again. */
        for (unsigned k = 1; k < n; k++)
                i = d->next_free[i];
        d->next_free[i] = d->free_head;
        d->free_head = head;
        d->nr_free += n;
        d->chain[head] = (struct chain){ 0 };
}

static int submit_locked(xsv *d, const struct xsv_seg *segs, unsigned n, uint16_t *ret) {
        uint16_t head;

        if (n == 0 || n > d->q.num)
                return -EINVAL;
        if (n > d->nr_free)
                return -ENOSPC;
        head = chain_put(d, segs, n);
        d->q.avail->ring[d->avail_idx % d->q.num] = head;
        /* The entry before the index: the device reads them in that order. */
        atomic_thread_fence(memory_order_release);
        d->q.avail->idx = ++d->avail_idx;
        d->st.submitted++;
        *ret = head;
        return 0;
}

int xsv_submit(xsv *d, unsigned vcpu, const struct xsv_seg *segs, unsigned n, unsigned flags,
               uint16_t *ret_token) {
        uint16_t head;
        int r;

        pthread_mutex_lock(&d->lock);
        r = submit_locked(d, segs, n, &head);
        pthread_mutex_unlock(&d->lock);
        if (r < 0)
                return r;
        *ret_token = head;
        return flags & XSV_NO_KICK ? 0 : xsv_kick(d, vcpu);
}

/* Take what the device used since last time (after the interrupt was acknowledged). */
static void reap_locked(xsv *d) {
        uint16_t idx;

        idx = d->q.used->idx;
        atomic_thread_fence(memory_order_acquire);
        while (d->last_used != idx) {
                volatile struct vring_used_elem *e = &d->q.used->ring[d->last_used % d->q.num];
                uint32_t id = e->id, len = e->len;

                d->last_used++;
                if (id >= d->q.num || !d->chain[id].busy || d->chain[id].done) {
                        d->st.bad_used++;
                        continue;
                }
                d->chain[id].done = true;
                d->chain[id].len = len;
                d->st.completed++;
        }
}

static bool irq_matches(const xsv *d, const struct xsg_irq *e) {
        if (d->cfg.irq_kind && (e->kind != d->cfg.irq_kind || e->a != d->cfg.irq_a))
                return false;
        return e->kind == XSG_IRQ_MSI || e->b != 0;
}

/*
 * The interrupt handler, if the log has a new raise of the device's interrupt: read
 * InterruptStatus, acknowledge it, then take the used ring. 1 handled, 0 nothing new.
 */
static int irq_handle_locked(xsv *d, unsigned vcpu) {
        struct xsg_irq e;
        uint32_t status;
        int r;

        for (;;) {
                r = xsg_irq_next(d->g, d->cfg.domid, d->irq_seen, &e);
                if (r == -ENOENT)
                        return 0;
                if (r < 0)
                        return r;
                d->irq_seen = e.seq;
                if (irq_matches(d, &e))
                        break;
        }
        d->st.interrupts++;
        r = rd32(d, vcpu, VIRTIO_MMIO_INTERRUPT_STATUS, &status);
        if (r < 0)
                return r;
        if (!status) {
                d->st.spurious++;
                return 1;
        }
        r = wr32(d, vcpu, VIRTIO_MMIO_INTERRUPT_ACK, status);
        if (r < 0)
                return r;
        if (status & VIRTIO_MMIO_INT_CONFIG) {
                uint32_t st;
                r = rd32(d, vcpu, VIRTIO_MMIO_STATUS, &st);
                if (r < 0)
                        return r;
                if (st & VIRTIO_CONFIG_S_NEEDS_RESET)
                        return -EIO;
        }
        reap_locked(d);
        return 1;
}

/*
 * Wait for chain token; done(d, token, ud), when not NULL, runs under the lock once it is used
 * and before its descriptors (and so its slot) can be taken by anyone else.
 */
static int wait_chain(xsv *d, unsigned vcpu, uint16_t token, int timeout_ms, uint32_t *ret_len,
                      void (*done)(xsv *d, uint16_t token, void *ud), void *ud) {
        uint64_t deadline = now_us() + (uint64_t)timeout(d, timeout_ms) * 1000u;
        unsigned nap = 20;

        for (;;) {
                int r;

                pthread_mutex_lock(&d->lock);
                if (token >= d->q.num || !d->chain[token].busy) {
                        pthread_mutex_unlock(&d->lock);
                        return -EINVAL;
                }
                if (d->chain[token].done) {
                        if (ret_len)
                                *ret_len = d->chain[token].len;
                        if (done)
                                done(d, token, ud);
                        chain_free(d, token);
                        pthread_mutex_unlock(&d->lock);
                        return 0;
                }
                r = irq_handle_locked(d, vcpu);
                pthread_mutex_unlock(&d->lock);
                if (r < 0)
                        return r;
                if (r > 0) {
                        nap = 20;
                        continue;
                }
                if (now_us() >= deadline)
                        return -ETIMEDOUT;
                usleep(nap);
                if (nap < 1000)
                        nap *= 2;
        }
}

int xsv_wait(xsv *d, unsigned vcpu, uint16_t token, int timeout_ms, uint32_t *ret_len) {
        return wait_chain(d, vcpu, token, timeout_ms, ret_len, NULL, NULL);
}

/* ---- virtio-blk ---- */

int xsv_blk_submit(xsv *d, unsigned vcpu, uint32_t type, uint64_t sector, const void *buf,
                   uint32_t len, unsigned flags, uint16_t *ret_token) {
        struct xsv_seg seg[3];
        struct virtio_blk_outhdr hdr = { .type = type, .sector = sector };
        bool out = type == VIRTIO_BLK_T_OUT;
        unsigned n = 0;
        uint16_t head;
        char *slot;
        int r;

        if (type == VIRTIO_BLK_T_FLUSH)
                len = 0;
        if (len > d->q.slot_bytes - BLK_HDR - 1)
                return -EMSGSIZE;
        pthread_mutex_lock(&d->lock);
        if ((len ? 3u : 2u) > d->nr_free) {
                pthread_mutex_unlock(&d->lock);
                return -ENOSPC;
        }
        /* The head is known before the chain is queued: the slot is filled first. */
        head = d->free_head;
        slot = xsv_slot_ptr(d, head);
        memcpy(slot, &hdr, BLK_HDR);
        if (out && len)
                memcpy(slot + BLK_HDR, buf, len);
        slot[BLK_HDR + len] = (char)0xff;       /* a status no device writes */
        seg[n++] = (struct xsv_seg){ xsv_slot_gpa(d, head), BLK_HDR, false };
        if (len)
                seg[n++] = (struct xsv_seg){ xsv_slot_gpa(d, head) + BLK_HDR, len, !out };
        seg[n++] = (struct xsv_seg){ xsv_slot_gpa(d, head) + BLK_HDR + len, 1, true };
        r = submit_locked(d, seg, n, &head);
        if (r == 0) {
                d->chain[head].blk_type = type;
                d->chain[head].blk_len = len;
        }
        pthread_mutex_unlock(&d->lock);
        if (r < 0)
                return r;
        *ret_token = head;
        return flags & XSV_NO_KICK ? 0 : xsv_kick(d, vcpu);
}

struct blk_done {
        void *buf;
        uint8_t status;
};

/* Under the lock, before the head can be reused: the data read and the status byte. */
static void blk_done(xsv *d, uint16_t token, void *ud) {
        struct blk_done *b = ud;
        const struct chain *c = &d->chain[token];
        const char *slot = xsv_slot_ptr(d, token);

        if (b->buf && (c->blk_type == VIRTIO_BLK_T_IN || c->blk_type == VIRTIO_BLK_T_GET_ID))
                memcpy(b->buf, slot + BLK_HDR, c->blk_len);
        b->status = (uint8_t)slot[BLK_HDR + c->blk_len];
}

int xsv_blk_wait(xsv *d, unsigned vcpu, uint16_t token, int timeout_ms, void *buf,
                 uint8_t *ret_status) {
        struct blk_done b = { .buf = buf };
        int r = wait_chain(d, vcpu, token, timeout_ms, NULL, blk_done, &b);
        if (r == 0 && ret_status)
                *ret_status = b.status;
        return r;
}

int xsv_blk_request(xsv *d, unsigned vcpu, uint32_t type, uint64_t sector, void *buf,
                    uint32_t len, uint8_t *ret_status) {
        uint16_t token;
        int r = xsv_blk_submit(d, vcpu, type, sector, buf, len, 0, &token);
        if (r == 0)
                r = xsv_blk_wait(d, vcpu, token, 0, buf, ret_status);
        return r;
}
