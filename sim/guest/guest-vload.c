/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * guest-vload.c - xsv_blk_load(): a virtio-blk workload of random requests, one thread per
 * vCPU, through the guest's virtio driver (xensim-virtio.h); latencies in the histogram of
 * guest-load.c.
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_blk.h>

#include "guest-internal.h"
#include "xensim-virtio.h"

struct vworker {
        pthread_t th;
        xsv *d;
        const struct xsv_blk_load_opts *o;
        unsigned vcpu;
        uint64_t first_block, blocks;   /* its slice, in blocks of len */
        uint32_t *gen;                  /* per block: 0 not written by this run, else the last generation */
        uint64_t rng;
        _Atomic int64_t *left;
        _Atomic int *stop;
        uint64_t end_ns;
        uint64_t reads, writes, errors, mismatches, verified, sum_ns, max_ns;
        uint64_t *hist;
        unsigned char *buf;
};

static uint64_t next_rand(uint64_t *s) {
        /* xorshift64* */
        uint64_t x = *s;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *s = x;
        return x * 0x2545f4914f6cdd1dull;
}

/* The content of a block written in generation gen: 8-byte words of block, gen and index. */
static void pattern(unsigned char *buf, uint32_t len, uint64_t block, uint32_t gen) {
        for (uint32_t i = 0; i + 8 <= len; i += 8) {
                uint64_t w = block << 32 ^ (uint64_t)gen << 16 ^ i ^ 0x5bd1e995u;
                memcpy(buf + i, &w, 8);
        }
}

static void *vworker_main(void *arg) {
        struct vworker *w = arg;
        const struct xsv_blk_load_opts *o = w->o;
        unsigned char *want = w->buf + o->len;

        while (guest_load_go_on(w->stop, w->left, o->count != 0, w->end_ns)) {
                uint64_t t0, dt, block;
                bool write;
                uint8_t status = 0xff;
                int r;

                block = w->first_block + next_rand(&w->rng) % w->blocks;
                write = next_rand(&w->rng) % 100 < o->write_pct;
                if (write)
                        pattern(w->buf, o->len, block, ++w->gen[block - w->first_block]);
                t0 = guest_mono_ns();
                r = xsv_blk_request(w->d, w->vcpu, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
                                    block * (o->len / XSV_BLK_SECTOR), w->buf, o->len, &status);
                dt = guest_mono_ns() - t0;
                if (r < 0 || status != VIRTIO_BLK_S_OK) {
                        w->errors++;
                        atomic_store(w->stop, 1);
                        break;
                }
                if (write) {
                        w->writes++;
                } else {
                        uint32_t gen = w->gen[block - w->first_block];

                        w->reads++;
                        if (o->verify && gen) {
                                pattern(want, o->len, block, gen);
                                w->verified++;
                                w->mismatches += memcmp(want, w->buf, o->len) != 0;
                        }
                }
                w->sum_ns += dt;
                if (dt > w->max_ns)
                        w->max_ns = dt;
                w->hist[guest_hist_bucket(dt)]++;
        }
        return NULL;
}

int xsv_blk_load(xsv *d, const struct xsv_blk_load_opts *o, struct xsv_blk_load_result *ret) {
        struct xsv_blk_load_opts opts = *o;
        struct vworker *w;
        uint64_t *hist, t0, t1, sum = 0, count, per, spb, first;
        _Atomic int64_t left;
        _Atomic int stop = 0;
        unsigned started = 0;
        int r = 0;

        if (!opts.len)
                opts.len = 4096;
        if (!opts.vcpus || opts.vcpus > XSG_MAX_VCPUS || opts.len % XSV_BLK_SECTOR ||
            opts.write_pct > 100 || (!opts.count && opts.seconds <= 0) ||
            opts.first_sector > UINT64_MAX - opts.sectors)
                return -EINVAL;
        /* the whole blocks of the area, shared out: per blocks for each vCPU */
        spb = opts.len / XSV_BLK_SECTOR;
        first = (opts.first_sector + spb - 1) / spb;
        per = (opts.first_sector + opts.sectors) / spb;
        per = per > first ? (per - first) / opts.vcpus : 0;
        if (!per || per > UINT32_MAX)
                return -EINVAL;
        left = (int64_t)opts.count;
        w = calloc(opts.vcpus, sizeof(*w));
        hist = calloc((size_t)GUEST_HIST_BUCKETS * (opts.vcpus + 1), sizeof(uint64_t));
        if (!w || !hist) {
                free(w);
                free(hist);
                return -ENOMEM;
        }
        t0 = guest_mono_ns();
        for (unsigned i = 0; i < opts.vcpus; i++) {
                w[i] = (struct vworker){
                        .d = d, .o = &opts, .vcpu = i,
                        .first_block = first + i * per,
                        .blocks = per,
                        .rng = (opts.seed ^ 0x9e3779b97f4a7c15ull) * (i + 1) | 1,
                        .left = &left, .stop = &stop,
                        .end_ns = t0 + (uint64_t)(opts.seconds * 1e9),
                        .hist = hist + (size_t)(i + 1) * GUEST_HIST_BUCKETS,
                        .gen = calloc(per, sizeof(uint32_t)),
                        .buf = malloc(2 * (size_t)opts.len),
                };
                if (!w[i].gen || !w[i].buf) {
                        r = -ENOMEM;
                        free(w[i].gen);
                        free(w[i].buf);
                        break;
                }
                r = -pthread_create(&w[i].th, NULL, vworker_main, &w[i]);
                if (r < 0) {
                        free(w[i].gen);
                        free(w[i].buf);
                        break;
                }
                started++;
        }
        if (r < 0)
                atomic_store(&stop, 1);
        for (unsigned i = 0; i < started; i++)
                pthread_join(w[i].th, NULL);
        t1 = guest_mono_ns();
        memset(ret, 0, sizeof(*ret));
        for (unsigned i = 0; i < started; i++) {
                ret->reads += w[i].reads;
                ret->writes += w[i].writes;
                ret->errors += w[i].errors;
                ret->mismatches += w[i].mismatches;
                ret->verified += w[i].verified;
                sum += w[i].sum_ns;
                if ((double)w[i].max_ns / 1000.0 > ret->max_us)
                        ret->max_us = (double)w[i].max_ns / 1000.0;
                for (unsigned b = 0; b < GUEST_HIST_BUCKETS; b++)
                        hist[b] += w[i].hist[b];
                free(w[i].gen);
                free(w[i].buf);
        }
        ret->seconds = (double)(t1 - t0) / 1e9;
        count = ret->reads + ret->writes;
        if (count) {
                ret->mean_us = (double)sum / (double)count / 1000.0;
                ret->p50_us = guest_hist_quantile_us(hist, count, 0.50);
                ret->p99_us = guest_hist_quantile_us(hist, count, 0.99);
                ret->p999_us = guest_hist_quantile_us(hist, count, 0.999);
        }
        free(hist);
        free(w);
        return r;
}
