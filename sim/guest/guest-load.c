/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * guest-load.c - xsg_load(): one thread per (domain, vCPU) issuing accesses back to back,
 * latencies kept in a log-linear histogram (128 sub-buckets per power of two, < 1% error).
 */
#include "autoconfig.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guest-internal.h"

#define SUB 128u
#define NR_BUCKETS GUEST_HIST_BUCKETS

struct worker {
        pthread_t th;
        xsg *g;
        const struct xsg_load_opts *o;
        uint32_t domid;
        unsigned vcpu;
        _Atomic int64_t *left;          /* count mode */
        _Atomic int *stop;
        uint64_t end_ns;                /* time mode */
        uint64_t count, errors, sum_ns, max_ns;
        uint64_t *hist;
};

uint64_t guest_mono_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

unsigned guest_hist_bucket(uint64_t v) {
        if (v < SUB)
                return (unsigned)v;
        unsigned e = 63u - (unsigned)__builtin_clzll(v);
        uint64_t mant = v >> (e - 7);
        unsigned i = (e - 6) * SUB + (unsigned)(mant - SUB);
        return i < NR_BUCKETS ? i : NR_BUCKETS - 1;
}

static uint64_t bucket_value(unsigned i) {
        if (i < SUB)
                return i;
        unsigned e = i / SUB + 6;
        return (uint64_t)(i % SUB + SUB) << (e - 7);
}

bool guest_load_go_on(_Atomic int *stop, _Atomic int64_t *left, bool count_mode, uint64_t end_ns) {
        if (atomic_load(stop))
                return false;
        if (count_mode)
                return atomic_fetch_sub(left, 1) > 0;
        return guest_mono_ns() < end_ns;
}

static void *worker_main(void *arg) {
        struct worker *w = arg;
        const struct xsg_load_opts *o = w->o;

        while (guest_load_go_on(w->stop, w->left, o->count != 0, w->end_ns)) {
                struct xsg_io io = { .space = o->space, .dir = o->dir, .addr = o->addr,
                                     .size = o->size, .data = o->data,
                                     .timeout_ms = o->timeout_ms };
                uint64_t t0 = guest_mono_ns();
                int r = xsg_io(w->g, w->domid, w->vcpu, &io);
                uint64_t dt = guest_mono_ns() - t0;
                if (r < 0) {
                        w->errors++;
                        if (r == -ETIMEDOUT || r == -ESRCH || r == -EHOSTDOWN || r == -ENOTCONN) {
                                atomic_store(w->stop, 1);
                                break;
                        }
                        continue;
                }
                w->count++;
                w->sum_ns += dt;
                if (dt > w->max_ns)
                        w->max_ns = dt;
                w->hist[guest_hist_bucket(dt)]++;
        }
        return NULL;
}

double guest_hist_quantile_us(const uint64_t *hist, uint64_t total, double q) {
        uint64_t want = (uint64_t)((double)total * q), acc = 0;
        if (want >= total)
                want = total - 1;
        for (unsigned i = 0; i < NR_BUCKETS; i++) {
                acc += hist[i];
                if (acc > want)
                        return (double)bucket_value(i) / 1000.0;
        }
        return 0;
}

int xsg_load(xsg *g, const struct xsg_load_opts *o, struct xsg_load_result *ret) {
        size_t nw = o->nr_domids * o->vcpus, started = 0;
        struct worker *w;
        uint64_t *hist;
        _Atomic int64_t left = (int64_t)o->count;
        _Atomic int stop = 0;
        uint64_t t0, t1;
        int r = 0;

        if (!o->nr_domids || !o->vcpus || o->vcpus > XSG_MAX_VCPUS ||
            (!o->count && o->seconds <= 0) || nw > 4096)
                return -EINVAL;
        w = calloc(nw, sizeof(*w));
        hist = calloc((size_t)NR_BUCKETS * (nw + 1), sizeof(uint64_t));
        if (!w || !hist) {
                free(w);
                free(hist);
                return -ENOMEM;
        }
        t0 = guest_mono_ns();
        for (size_t i = 0; i < nw; i++) {
                w[i] = (struct worker){ .g = g, .o = o, .domid = o->domids[i / o->vcpus],
                                        .vcpu = (unsigned)(i % o->vcpus), .left = &left,
                                        .stop = &stop,
                                        .end_ns = t0 + (uint64_t)(o->seconds * 1e9),
                                        .hist = hist + (i + 1) * NR_BUCKETS };
                r = -pthread_create(&w[i].th, NULL, worker_main, &w[i]);
                if (r < 0) {
                        atomic_store(&stop, 1);
                        break;
                }
                started++;
        }
        for (size_t i = 0; i < started; i++)
                pthread_join(w[i].th, NULL);
        t1 = guest_mono_ns();
        memset(ret, 0, sizeof(*ret));
        uint64_t sum = 0;
        for (size_t i = 0; i < started; i++) {
                ret->count += w[i].count;
                ret->errors += w[i].errors;
                sum += w[i].sum_ns;
                if ((double)w[i].max_ns / 1000.0 > ret->max_us)
                        ret->max_us = (double)w[i].max_ns / 1000.0;
                for (unsigned b = 0; b < NR_BUCKETS; b++)
                        hist[b] += w[i].hist[b];
        }
        ret->seconds = (double)(t1 - t0) / 1e9;
        if (ret->count) {
                ret->mean_us = (double)sum / (double)ret->count / 1000.0;
                ret->p50_us = guest_hist_quantile_us(hist, ret->count, 0.50);
                ret->p99_us = guest_hist_quantile_us(hist, ret->count, 0.99);
                ret->p999_us = guest_hist_quantile_us(hist, ret->count, 0.999);
        }
        free(hist);
        free(w);
        return r;
}
