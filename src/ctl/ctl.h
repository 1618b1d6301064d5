/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xen-ioreqctl: the control protocol's client (ctl.c) and what it prints
 * (ctl-output.c).  Counters are the daemon's, monotonic; times are
 * CLOCK_REALTIME ns.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctlproto.h"

#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif
#define CTL_DEFAULT_SOCKET RUNSTATEDIR "/xen-ioreqd/control"

typedef struct Ctl Ctl;

typedef struct CtlStatus {
        char version[32];
        uint64_t started_ns, now_ns;
        uint32_t guests, running, serving, workers, clients, registrations, irqfds, claims;
        uint64_t kicks, unmatched, reads, invalid, other;
        uint64_t saturated, forwarded, expired, injected, inject_errors;
} CtlStatus;

typedef struct CtlGuest {
        char name[CTL_NAME_SIZE];
        uint32_t domid, state, server_id, nr_vcpus;     /* CTL_NONE: none */
        uint32_t clients, registrations;
        int last_error;                 /* positive errno, 0 */
        uint32_t worker_pid;
        uint64_t worker_cpu_ns;
        uint64_t kicks, unmatched, reads, invalid, other;
        double kicks_per_s;
        uint32_t irqfds, claims;
        uint64_t saturated, forwarded, expired, injected, inject_errors;
} CtlGuest;

typedef struct CtlClient {
        uint32_t pid, uid, gid, registrations;
        char comm[16];
} CtlClient;

typedef struct CtlReg {
        uint32_t owner_pid;
        uint8_t space, len, match;
        bool counted;
        uint64_t addr, value, mask, kicks, last_kick_ns;
} CtlReg;

typedef struct CtlIrqfd {
        uint32_t owner_pid, owner_uid, id;
        uint8_t action, mode;           /* XIRQ_IRQ_*, XIRQ_IRQFD_* */
        uint32_t irq;
        uint16_t segment;
        uint8_t bus, device, pin;
        uint64_t msi_addr;
        uint32_t msi_data;
        bool counted;
        uint64_t signals, injections, errors;
} CtlIrqfd;

typedef struct CtlClaim {
        uint32_t owner_pid, owner_uid, id;
        uint8_t space;
        uint64_t addr, len;
        uint32_t deadline_ms;
        bool counted;
        uint64_t forwarded, answered, expired;
} CtlClaim;

typedef struct CtlHist {
        uint64_t count, sum_ns;
        uint64_t buckets[CTL_HIST_BUCKETS];
} CtlHist;

/* Connect and say HELLO; explains a failure on stderr. */
int ctl_open(Ctl **ret, const char *path);
Ctl *ctl_close(Ctl *c);

/* Each returns 0 or -errno (-ENOENT: no such guest); lists are malloc'd. */
int ctl_status(Ctl *c, CtlStatus *ret);
int ctl_guests(Ctl *c, CtlGuest **ret, size_t *ret_n);
int ctl_guest(Ctl *c, const char *name, CtlGuest *ret);
int ctl_clients(Ctl *c, const char *name, CtlClient **ret, size_t *ret_n);
int ctl_regs(Ctl *c, const char *name, CtlReg **ret, size_t *ret_n);
int ctl_irqfds(Ctl *c, const char *name, CtlIrqfd **ret, size_t *ret_n);
int ctl_claims(Ctl *c, const char *name, CtlClaim **ret, size_t *ret_n);
int ctl_hist(Ctl *c, const char *name, CtlHist *ret);

/* The latency at or below which a fraction q of the samples lies (a bucket's upper end), ns; 0 if none. */
uint64_t ctl_hist_quantile(const CtlHist *h, double q);

int ctl_print_status(Ctl *c, FILE *f, bool json);
int ctl_print_guests(Ctl *c, FILE *f, bool json);
int ctl_print_show(Ctl *c, FILE *f, const char *name, bool json);
int ctl_print_metrics(Ctl *c, FILE *f);
/* iterations 0: until interrupted */
int ctl_top(Ctl *c, FILE *f, bool json, unsigned delay_s, unsigned iterations);
