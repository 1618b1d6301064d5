/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * guest-internal.h - what the modules of libxensim-guest share beyond xensim-guest.h.
 */
#ifndef XENSIM_GUEST_INTERNAL_H
#define XENSIM_GUEST_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "xensim-guest.h"

/* One request on the guest driver's connection (XS_OP_*, na <= 6 arguments); ret_val gets
 * the 4 answered values when not NULL. Returns 0 or the host's -errno. */
int guest_op(xsg *g, uint16_t op, const uint64_t *a, unsigned na, uint64_t *ret_val);
/* The same for a request whose answer carries a file descriptor (*ret_fd, owned by the
 * caller). */
int guest_op_fd(xsg *g, uint16_t op, const uint64_t *a, unsigned na, uint64_t *ret_val,
                int *ret_fd);

/* guest-ram.c: the handle's mappings of guest RAM, made when first used, kept until close. */
struct guest_ram;
int guest_ram_new(struct guest_ram **ret);
struct guest_ram *guest_ram_free(struct guest_ram *r);
struct guest_ram *guest_ram_of(xsg *g);

/* The host's shm as this handle maps it. */
void *guest_shm(xsg *g);
/* The slot of a live domain in the shm; -ESRCH when there is none. */
int guest_dom_slot(xsg *g, uint32_t domid, uint32_t *ret_slot);

/* guest-load.c: latency histograms, log-linear (128 sub-buckets per power of two, < 1% error) */
#define GUEST_HIST_BUCKETS (64u * 128u)
unsigned guest_hist_bucket(uint64_t ns);
/* quantile q of a histogram of total samples, in microseconds */
double guest_hist_quantile_us(const uint64_t *hist, uint64_t total, double q);
uint64_t guest_mono_ns(void);
/* A load's thread, before each access: go on? (count mode: takes one of *left; else until end_ns) */
bool guest_load_go_on(_Atomic int *stop, _Atomic int64_t *left, bool count_mode, uint64_t end_ns);

#endif
