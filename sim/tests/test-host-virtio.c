/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim: the guest's virtio-mmio driver (xensim-virtio.h) against a small virtio-blk device
 * in this test: an ioreq server on the real API (a thread) that answers the virtio-mmio
 * registers, reads the rings and buffers through xenforeignmemory_map of the guest's frames
 * (a handle restricted to the domain), keeps a RAM disk, and raises a level interrupt with
 * xendevicemodel_set_irq_level while InterruptStatus is not 0.
 *
 * Asserted: the probe refuses another device id; the negotiated features and the status;
 * write/read round trips with the data checked on both sides; FLUSH, GET_ID, an unknown type
 * and a sector beyond the disk; a request never kicked times out and completes once kicked;
 * eight requests in flight under one kick, waited for in reverse order; four vCPUs each
 * keeping four requests in flight, every block read back; a descriptor naming memory beyond
 * the guest's RAM answered IOERR by the device (its map fails per frame); interrupts in the
 * log, and the driver's counts; the disk workload (xsv_blk_load) with its reads checked.
 */
#include "autoconfig.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "simtest.h"
#include "xensim-virtio.h"

#define BASE 0xfe010000ull
#define IRQ 33          /* an SPI, as virtio-mmio devices on Xen get */
#define SECTORS 512u
#define VCPUS 4u
#define PG 4096u
#define SERIAL "xensim-test-blk"
#define BLK_ID 2u              /* virtio-blk */

/* ---- the device ---- */

struct dev {
        struct st_srv s;
        xenforeignmemory_handle *fm;    /* restricted to the guest */
        pthread_t th;
        atomic_bool stop;
        uint32_t domid;
        /* registers */
        uint32_t status, dfsel, drfsel, qsel, num, ready, isr;
        uint64_t drv_features, desc, avail, used;
        uint16_t last_avail, used_idx;
        /* counts (the device thread writes, the test reads after it stopped or in quiet) */
        atomic_uint kicks, requests, flushes, ioerr, raises;
        unsigned char disk[SECTORS * 512];
};

/* Map [gpa, gpa + len) of the guest; NULL when a frame fails. */
static unsigned char *gmap(struct dev *d, uint64_t gpa, size_t len, bool write, size_t *pages) {
        xen_pfn_t arr[32];
        int err[32];
        unsigned char *p;
        uint64_t first = gpa / PG;

        if (len == 0 || gpa + len < gpa)
                return NULL;
        *pages = (size_t)((gpa + len - 1) / PG - first + 1);
        if (*pages > 32)
                return NULL;
        for (size_t i = 0; i < *pages; i++)
                arr[i] = first + i;
        p = xenforeignmemory_map(d->fm, d->domid, write ? PROT_READ | PROT_WRITE : PROT_READ,
                                 *pages, arr, err);
        if (!p)
                return NULL;
        for (size_t i = 0; i < *pages; i++)
                if (err[i]) {
                        xenforeignmemory_unmap(d->fm, p, *pages);
                        return NULL;
                }
        return p + gpa % PG;
}

static void gunmap(struct dev *d, unsigned char *p, size_t pages) {
        if (p)
                xenforeignmemory_unmap(d->fm, (void *)((uintptr_t)p & ~(uintptr_t)(PG - 1)),
                                       pages);
}

static void irq_raise(struct dev *d) {
        if (!d->isr) {
                xendevicemodel_set_irq_level(d->s.dm, (domid_t)d->domid, IRQ, 1);
                d->raises++;
        }
        d->isr |= VIRTIO_MMIO_INT_VRING;
}

static void dev_reset(struct dev *d) {
        if (d->isr)
                xendevicemodel_set_irq_level(d->s.dm, (domid_t)d->domid, IRQ, 0);
        d->status = d->dfsel = d->drfsel = d->qsel = d->num = d->ready = d->isr = 0;
        d->drv_features = d->desc = d->avail = d->used = 0;
        d->last_avail = d->used_idx = 0;
}

struct seg {
        uint64_t gpa;
        uint32_t len;
        bool write;
};

/* Serve one chain: header, data, status (the layout xsv_blk_* builds). Bytes written. */
static uint32_t serve(struct dev *d, const struct seg *sg, unsigned n) {
        struct virtio_blk_outhdr hdr;
        uint8_t status = VIRTIO_BLK_S_OK;
        uint32_t written = 0;
        unsigned char *p;
        size_t pages;

        if (n < 2 || sg[0].write || sg[0].len < sizeof(hdr) || !sg[n - 1].write)
                return 0;
        p = gmap(d, sg[0].gpa, sizeof(hdr), false, &pages);
        if (!p) {
                d->ioerr++;
                return 0;
        }
        memcpy(&hdr, p, sizeof(hdr));
        gunmap(d, p, pages);
        d->requests++;
        uint64_t off = hdr.sector * 512;
        for (unsigned i = 1; i + 1 < n && status == VIRTIO_BLK_S_OK; i++) {
                bool in = hdr.type == VIRTIO_BLK_T_IN || hdr.type == VIRTIO_BLK_T_GET_ID;
                if (hdr.type != VIRTIO_BLK_T_IN && hdr.type != VIRTIO_BLK_T_OUT &&
                    hdr.type != VIRTIO_BLK_T_GET_ID) {
                        status = VIRTIO_BLK_S_UNSUPP;
                        break;
                }
                if (sg[i].write != in || (hdr.type != VIRTIO_BLK_T_GET_ID &&
                                          (hdr.sector >= SECTORS ||
                                           sg[i].len > sizeof(d->disk) - off))) {
                        status = VIRTIO_BLK_S_IOERR;
                        break;
                }
                p = gmap(d, sg[i].gpa, sg[i].len, in, &pages);
                if (!p) {
                        status = VIRTIO_BLK_S_IOERR;
                        break;
                }
                if (hdr.type == VIRTIO_BLK_T_GET_ID) {
                        memset(p, 0, sg[i].len);
                        memcpy(p, SERIAL, sg[i].len < sizeof(SERIAL) ? sg[i].len
                                                                     : sizeof(SERIAL));
                        written += sg[i].len;
                } else if (in) {
                        memcpy(p, d->disk + off, sg[i].len);
                        written += sg[i].len;
                } else {
                        memcpy(d->disk + off, p, sg[i].len);
                }
                off += sg[i].len;
                gunmap(d, p, pages);
        }
        if (n == 2 && hdr.type == VIRTIO_BLK_T_FLUSH)
                d->flushes++;
        else if (n == 2 && hdr.type != VIRTIO_BLK_T_FLUSH)
                status = VIRTIO_BLK_S_UNSUPP;
        if (status == VIRTIO_BLK_S_IOERR)
                d->ioerr++;
        p = gmap(d, sg[n - 1].gpa + sg[n - 1].len - 1, 1, true, &pages);
        if (!p)
                return written;
        *p = status;
        gunmap(d, p, pages);
        return written + 1;
}

static void queue_run(struct dev *d) {
        size_t dp, ap, up;
        volatile struct vring_desc *desc = (void *)gmap(d, d->desc, 16u * d->num, false, &dp);
        volatile struct vring_avail *avail = (void *)gmap(d, d->avail, 6 + 2u * d->num, false,
                                                          &ap);
        volatile struct vring_used *used = (void *)gmap(d, d->used, 6 + 8u * d->num, true, &up);
        struct seg sg[16];

        if (!desc || !avail || !used)
                goto out;
        while (d->last_avail != avail->idx) {
                uint16_t head = avail->ring[d->last_avail % d->num], i = head;
                unsigned n = 0;

                __atomic_thread_fence(__ATOMIC_ACQUIRE);
                d->last_avail++;
                if (head >= d->num)
                        continue;
                for (;;) {
                        struct vring_desc e = desc[i];
                        if (n == 16)
                                break;
                        sg[n++] = (struct seg){ e.addr, e.len, e.flags & VRING_DESC_F_WRITE };
                        if (!(e.flags & VRING_DESC_F_NEXT) || e.next >= d->num)
                                break;
                        i = e.next;
                }
                uint32_t len = serve(d, sg, n);
                used->ring[d->used_idx % d->num].id = head;
                used->ring[d->used_idx % d->num].len = len;
                __atomic_thread_fence(__ATOMIC_RELEASE);
                used->idx = ++d->used_idx;
                irq_raise(d);
        }
out:
        gunmap(d, (void *)desc, dp);
        gunmap(d, (void *)avail, ap);
        gunmap(d, (void *)used, up);
}

static uint64_t reg_read(struct dev *d, uint64_t off, unsigned size) {
        if (off >= 0x100) {
                uint64_t cap = SECTORS;
                return off + size <= 0x108 ? cap >> (8 * (off - 0x100)) : 0;
        }
        switch (off) {
        case VIRTIO_MMIO_MAGIC_VALUE: return 0x74726976;
        case VIRTIO_MMIO_VERSION: return 2;
        case VIRTIO_MMIO_DEVICE_ID: return BLK_ID;
        case VIRTIO_MMIO_VENDOR_ID: return 0x54534958;
        case VIRTIO_MMIO_DEVICE_FEATURES:
                return d->dfsel == 0 ? 1u << VIRTIO_BLK_F_FLUSH | 1u << VIRTIO_BLK_F_RO
                                     : d->dfsel == 1 ? 1u << (VIRTIO_F_VERSION_1 - 32) : 0;
        case VIRTIO_MMIO_QUEUE_NUM_MAX: return d->qsel == 0 ? 256 : 0;
        case VIRTIO_MMIO_QUEUE_READY: return d->ready;
        case VIRTIO_MMIO_INTERRUPT_STATUS: return d->isr;
        case VIRTIO_MMIO_STATUS: return d->status;
        case VIRTIO_MMIO_CONFIG_GENERATION: return 0;
        default: return 0;
        }
}

static void set_lo(uint64_t *r, uint64_t v) {
        *r = (*r & ~0xffffffffull) | (uint32_t)v;
}

static void set_hi(uint64_t *r, uint64_t v) {
        *r = (*r & 0xffffffffull) | v << 32;
}

static void reg_write(struct dev *d, uint64_t off, uint64_t v) {
        switch (off) {
        case VIRTIO_MMIO_DEVICE_FEATURES_SEL: d->dfsel = (uint32_t)v; break;
        case VIRTIO_MMIO_DRIVER_FEATURES_SEL: d->drfsel = (uint32_t)v; break;
        case VIRTIO_MMIO_DRIVER_FEATURES:
                if (d->drfsel == 0)
                        set_lo(&d->drv_features, v);
                else if (d->drfsel == 1)
                        set_hi(&d->drv_features, v);
                break;
        case VIRTIO_MMIO_QUEUE_SEL: d->qsel = (uint32_t)v; break;
        case VIRTIO_MMIO_QUEUE_NUM: d->num = (uint32_t)v; break;
        case VIRTIO_MMIO_QUEUE_READY: d->ready = v & 1; break;
        case VIRTIO_MMIO_QUEUE_DESC_LOW: set_lo(&d->desc, v); break;
        case VIRTIO_MMIO_QUEUE_DESC_HIGH: set_hi(&d->desc, v); break;
        case VIRTIO_MMIO_QUEUE_AVAIL_LOW: set_lo(&d->avail, v); break;
        case VIRTIO_MMIO_QUEUE_AVAIL_HIGH: set_hi(&d->avail, v); break;
        case VIRTIO_MMIO_QUEUE_USED_LOW: set_lo(&d->used, v); break;
        case VIRTIO_MMIO_QUEUE_USED_HIGH: set_hi(&d->used, v); break;
        case VIRTIO_MMIO_STATUS:
                if (v == 0)
                        dev_reset(d);
                else
                        d->status = (uint32_t)v;
                break;
        case VIRTIO_MMIO_INTERRUPT_ACK:
                if (d->isr && !(d->isr &= ~(uint32_t)v))
                        xendevicemodel_set_irq_level(d->s.dm, (domid_t)d->domid, IRQ, 0);
                break;
        case VIRTIO_MMIO_QUEUE_NOTIFY:
                d->kicks++;
                if (v == 0 && d->ready && (d->status & VIRTIO_CONFIG_S_DRIVER_OK) && d->num &&
                    d->num <= 256)
                        queue_run(d);
                break;
        default:
                break;
        }
}

static void *dev_main(void *p) {
        struct dev *d = p;

        while (!atomic_load(&d->stop)) {
                int port = st_wait_port(d->s.xce, 50, false), v;
                if (port < 0 || (v = st_srv_vcpu(&d->s, port)) < 0)
                        continue;
                ioreq_t *io = &d->s.page->vcpu_ioreq[v];
                if (io->state != STATE_IOREQ_READY)
                        continue;
                __atomic_thread_fence(__ATOMIC_ACQUIRE);
                ioreq_t r = *io;
                uint64_t data = 0;
                if (r.type == IOREQ_TYPE_COPY && r.addr >= BASE && r.addr < BASE + 0x1000) {
                        if (r.dir == IOREQ_READ)
                                data = reg_read(d, r.addr - BASE, r.size);
                        else
                                reg_write(d, r.addr - BASE, r.data);
                }
                st_srv_answer(&d->s, (unsigned)v, data);
        }
        return NULL;
}

static void dev_start(struct dev *d, uint32_t domid) {
        memset(d, 0, sizeof(*d));
        d->domid = domid;
        st_srv_up(&d->s, domid, BASE, BASE + 0xfff);
        d->fm = xenforeignmemory_open(NULL, 0);
        if (!d->fm || xenforeignmemory_restrict(d->fm, (domid_t)domid) < 0 ||
            pthread_create(&d->th, NULL, dev_main, d)) {
                fprintf(stderr, "FAIL: device setup\n");
                st_fail_now();
        }
}

static void dev_stop(struct dev *d) {
        atomic_store(&d->stop, true);
        pthread_join(d->th, NULL);
        xenforeignmemory_close(d->fm);
        st_srv_down(&d->s);
}

/* ---- the tests ---- */

static struct dev dev;
static uint32_t dom;

static struct xsv_config config(void) {
        return (struct xsv_config){
                .domid = dom, .base = BASE, .device_id = BLK_ID,
                .features = 1ull << VIRTIO_BLK_F_FLUSH, .queue_size = 64,
                .ram_gpa = 1 << 20, .ram_len = 2 << 20, .irq_kind = XSG_IRQ_LEVEL,
                .irq_a = IRQ, .timeout_ms = 5000,
        };
}

static void pattern(unsigned char *p, size_t n, unsigned seed) {
        for (size_t i = 0; i < n; i++)
                p[i] = (unsigned char)(seed * 251u + i * 13u + 1);
}

static void test_basic(xsv *d) {
        unsigned char out[4096], in[4096], id[20];
        uint32_t st = 0;
        uint8_t s = 0xff;
        uint16_t tok;

        CHECK(xsv_features(d) == (1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_BLK_F_FLUSH),
              "features %#llx (RO refused, FLUSH and VERSION_1 taken)",
              (unsigned long long)xsv_features(d));
        CHECK(dev.drv_features == xsv_features(d), "the device got the same features");
        CHECK(xsv_status(d, 0, &st) == 0 && st == (VIRTIO_CONFIG_S_ACKNOWLEDGE |
              VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK),
              "status %#x", st);
        uint64_t cap = 0;
        CHECK(xsv_reg_read(d, 1, 0x100, 4, &cap) == 0 && cap == SECTORS, "capacity %llu",
              (unsigned long long)cap);

        pattern(out, sizeof(out), 1);
        CHECK(xsv_blk_request(d, 0, VIRTIO_BLK_T_OUT, 8, out, sizeof(out), &s) == 0 &&
              s == VIRTIO_BLK_S_OK, "write: status %u", s);
        CHECK(memcmp(dev.disk + 8 * 512, out, sizeof(out)) == 0, "the disk holds the data");
        pattern(dev.disk + 40 * 512, 1024, 2);
        memset(in, 0, sizeof(in));
        s = 0xff;
        CHECK(xsv_blk_request(d, 1, VIRTIO_BLK_T_IN, 40, in, 1024, &s) == 0 &&
              s == VIRTIO_BLK_S_OK, "read: status %u", s);
        CHECK(memcmp(in, dev.disk + 40 * 512, 1024) == 0, "the guest got the disk's data");
        CHECK(xsv_blk_request(d, 0, VIRTIO_BLK_T_IN, 8, in, sizeof(in), &s) == 0 &&
              s == VIRTIO_BLK_S_OK && memcmp(in, out, sizeof(out)) == 0, "round trip");
        unsigned flushes = dev.flushes;
        CHECK(xsv_blk_request(d, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &s) == 0 &&
              s == VIRTIO_BLK_S_OK && dev.flushes == flushes + 1, "flush: status %u", s);
        memset(id, 0xee, sizeof(id));
        CHECK(xsv_blk_request(d, 0, VIRTIO_BLK_T_GET_ID, 0, id, sizeof(id), &s) == 0 &&
              s == VIRTIO_BLK_S_OK && !memcmp(id, SERIAL, sizeof(SERIAL)), "get id: %.20s",
              (char *)id);
        CHECK(xsv_blk_request(d, 0, 99, 0, in, 512, &s) == 0 && s == VIRTIO_BLK_S_UNSUPP,
              "unknown type: status %u", s);
        CHECK(xsv_blk_request(d, 0, VIRTIO_BLK_T_IN, SECTORS, in, 512, &s) == 0 &&
              s == VIRTIO_BLK_S_IOERR, "beyond the disk: status %u", s);
        CHECK(xsv_blk_submit(d, 0, VIRTIO_BLK_T_OUT, 0, out, 1 << 20, 0, &tok) == -EMSGSIZE,
              "longer than a slot");

        /* Not kicked: no answer; kicked: done. */
        CHECK(xsv_blk_submit(d, 2, VIRTIO_BLK_T_OUT, 100, out, 512, XSV_NO_KICK, &tok) == 0,
              "queue without kick");
        CHECK(xsv_blk_wait(d, 2, tok, 150, NULL, &s) == -ETIMEDOUT, "not kicked: times out");
        CHECK(xsv_kick(d, 3) == 0, "kick from vCPU 3");
        CHECK(xsv_blk_wait(d, 2, tok, 0, NULL, &s) == 0 && s == VIRTIO_BLK_S_OK,
              "kicked: done");
        CHECK(xsv_wait(d, 2, tok, 0, NULL) == -EINVAL, "a chain is waited for once");

        /* Eight in flight under one kick, waited for in reverse order. */
        uint16_t t8[8];
        for (unsigned i = 0; i < 8; i++) {
                pattern(out, 512, 10 + i);
                CHECK(xsv_blk_submit(d, 0, VIRTIO_BLK_T_OUT, 200 + i, out, 512,
                                     i < 7 ? XSV_NO_KICK : 0, &t8[i]) == 0, "submit %u", i);
        }
        for (int i = 7; i >= 0; i--) {
                s = 0xff;
                CHECK(xsv_blk_wait(d, 1, t8[i], 0, NULL, &s) == 0 && s == VIRTIO_BLK_S_OK,
                      "in flight %d: %u", i, s);
                pattern(out, 512, 10 + (unsigned)i);
                CHECK(!memcmp(dev.disk + (200 + i) * 512, out, 512), "block %d", i);
        }

        /* A data buffer beyond the guest's RAM: the device's map fails, IOERR. */
        struct xsv_rings q;
        xsv_rings(d, &q);
        uint16_t head = 0;
        unsigned ioerr = dev.ioerr;
        struct virtio_blk_outhdr hdr = { .type = VIRTIO_BLK_T_IN, .sector = 1 };
        uint64_t slot = xsv_slot_gpa(d, t8[0]);     /* a free slot as scratch */
        CHECK(xsg_ram_write(st_guest(), dom, slot, &hdr, sizeof(hdr)) == 0, "header");
        struct xsv_seg bad[3] = { { slot, 16, false }, { 64ull << 20, 512, true },
                                  { slot + 64, 1, true } };
        CHECK(xsv_submit(d, 0, bad, 3, 0, &head) == 0, "submit hostile chain");
        uint32_t len = 0;
        CHECK(xsv_wait(d, 0, head, 0, &len) == 0 && len == 1, "answered, len %u", len);
        unsigned char st1 = 0;
        CHECK(xsg_ram_read(st_guest(), dom, slot + 64, &st1, 1) == 0 &&
              st1 == VIRTIO_BLK_S_IOERR && dev.ioerr == ioerr + 1, "IOERR: %u", st1);
}

struct worker {
        xsv *d;
        unsigned vcpu, rounds, errors;
};

static void *worker_main(void *p) {
        struct worker *w = p;
        unsigned char buf[4][1024], in[1024];

        for (unsigned r = 0; r < w->rounds; r++) {
                uint16_t tok[4];
                uint8_t s;
                for (unsigned k = 0; k < 4; k++) {
                        pattern(buf[k], sizeof(buf[k]), w->vcpu * 1000 + r * 4 + k);
                        if (xsv_blk_submit(w->d, w->vcpu, VIRTIO_BLK_T_OUT,
                                           w->vcpu * 64 + k * 2, buf[k], sizeof(buf[k]),
                                           k < 3 ? XSV_NO_KICK : 0, &tok[k]) < 0)
                                w->errors++;
                }
                for (unsigned k = 0; k < 4; k++)
                        if (xsv_blk_wait(w->d, w->vcpu, tok[(k + r) % 4], 0, NULL, &s) < 0 ||
                            s != VIRTIO_BLK_S_OK)
                                w->errors++;
                for (unsigned k = 0; k < 4; k++)
                        if (xsv_blk_request(w->d, w->vcpu, VIRTIO_BLK_T_IN, w->vcpu * 64 + k * 2,
                                            in, sizeof(in), &s) < 0 ||
                            s != VIRTIO_BLK_S_OK || memcmp(in, buf[k], sizeof(in)))
                                w->errors++;
        }
        return NULL;
}

static void test_vcpus(xsv *d) {
        struct worker w[VCPUS];
        pthread_t th[VCPUS];
        struct xsv_stats st0, st;

        xsv_stats(d, &st0);
        for (unsigned i = 0; i < VCPUS; i++) {
                w[i] = (struct worker){ .d = d, .vcpu = i, .rounds = 40 };
                if (pthread_create(&th[i], NULL, worker_main, &w[i]))
                        st_fail_now();
        }
        for (unsigned i = 0; i < VCPUS; i++) {
                pthread_join(th[i], NULL);
                CHECK(w[i].errors == 0, "vCPU %u: %u errors", i, w[i].errors);
        }
        xsv_stats(d, &st);
        CHECK(st.submitted - st0.submitted == VCPUS * 40 * 8 &&
              st.completed - st0.completed == VCPUS * 40 * 8, "submitted %llu completed %llu",
              (unsigned long long)(st.submitted - st0.submitted),
              (unsigned long long)(st.completed - st0.completed));
        CHECK(st.interrupts > st0.interrupts && st.bad_used == 0,
              "interrupts %llu, bad used %llu", (unsigned long long)st.interrupts,
              (unsigned long long)st.bad_used);
        CHECK(st.kicks - st0.kicks == VCPUS * 40 * 5, "kicks %llu",
              (unsigned long long)(st.kicks - st0.kicks));
}

/* xsv_blk_load: random requests from every vCPU, each read of a block it wrote checked */
static void test_load(xsv *d) {
        struct xsv_blk_load_opts o = { .vcpus = VCPUS, .len = 1024, .write_pct = 50,
                                       .sectors = SECTORS, .count = 400, .seed = 7,
                                       .verify = true };
        struct xsv_blk_load_result res;
        struct xsv_stats st0, st;
        int r;

        xsv_stats(d, &st0);
        r = xsv_blk_load(d, &o, &res);
        xsv_stats(d, &st);
        CHECK(r == 0 && res.errors == 0 && res.mismatches == 0 && res.reads + res.writes == 400,
              "load: %s, %llu reads %llu writes %llu errors %llu wrong", strerror(-r),
              (unsigned long long)res.reads, (unsigned long long)res.writes,
              (unsigned long long)res.errors, (unsigned long long)res.mismatches);
        CHECK(res.reads > 100 && res.writes > 100 && res.verified > 0 && res.p50_us > 0 &&
              res.p99_us >= res.p50_us, "a mix, checked, timed: %llu verified, p50 %.1f p99 %.1f",
              (unsigned long long)res.verified, res.p50_us, res.p99_us);
        CHECK(st.completed - st0.completed == 400 && st.kicks - st0.kicks == 400,
              "one kick per request: %llu completed, %llu kicks",
              (unsigned long long)(st.completed - st0.completed),
              (unsigned long long)(st.kicks - st0.kicks));
        o.len = 1000;
        CHECK(xsv_blk_load(d, &o, &res) == -EINVAL, "a length not in sectors: EINVAL");
        o.len = 4096;
        o.sectors = 8 * (VCPUS - 1);
        CHECK(xsv_blk_load(d, &o, &res) == -EINVAL, "less than a block per vCPU: EINVAL");
}

int main(int argc, char **argv) {
        struct xsv_config cfg;
        struct xsg_irq e;
        xsv *d = NULL;
        int r;

        st_init(argc, argv, 120);
        r = xsg_domain_create_ram(st_guest(), "virtio", VCPUS, 0, 8 << 20, &dom);
        if (r < 0) {
                fprintf(stderr, "FAIL: create: %s\n", strerror(-r));
                st_fail_now();
        }
        dev_start(&dev, dom);

        cfg = config();
        cfg.device_id = 3;
        CHECK(xsv_open(&d, st_guest(), &cfg) == -ENODEV, "another device id: ENODEV");
        cfg = config();
        cfg.ram_len = PG;
        CHECK(xsv_open(&d, st_guest(), &cfg) == -ENOSPC, "too little RAM: ENOSPC");
        cfg = config();
        r = xsv_open(&d, st_guest(), &cfg);
        CHECK(r == 0, "open: %s", strerror(-r));
        if (r == 0) {
                test_basic(d);
                test_vcpus(d);
                test_load(d);
                CHECK(xsg_irq_next(st_guest(), dom, 0, &e) == 0 && e.kind == XSG_IRQ_LEVEL &&
                      e.a == IRQ, "the interrupt log has the device's line");
                CHECK(dev.raises > 0, "the device raised its line %u times", dev.raises);
                d = xsv_close(d);
                CHECK(dev.status == 0, "closed: the device is reset");
        }
        dev_stop(&dev);
        xsg_domain_destroy(st_guest(), dom);
        return st_finish();
}
