/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * host-pub.c - the bottom layer of the host: logging, and publishing the authoritative state
 * (struct host) to the shm under each domain's seqlock, where the clients' fast paths read it,
 * and waking a domain's vCPUs to look at it again.
 */
#include "autoconfig.h"

#include <linux/futex.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "host-internal.h"

void host_log(struct host *h, const char *fmt, ...) {
        va_list ap;
        if (!h->verbose)
                return;
        va_start(ap, fmt);
        fputs("<7>xensimd: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
}

/* ---- shm publishing ---- */

void host_pub_begin(struct host *h, uint32_t slot) {
        atomic_fetch_add_explicit(&host_sdom(h, slot)->seq, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
}

void host_pub_end(struct host *h, uint32_t slot) {
        atomic_thread_fence(memory_order_release);
        atomic_fetch_add_explicit(&host_sdom(h, slot)->seq, 1, memory_order_relaxed);
}

static void futex_wake_all(_Atomic uint32_t *w) {
        syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Wake every vCPU of a domain so that blocked vCPUs notice a crash or a destruction. */
void host_pub_wake(struct host *h, uint32_t slot) {
        struct xs_dom *d = host_sdom(h, slot);
        for (unsigned v = 0; v < XS_MAX_VCPUS; v++) {
                atomic_fetch_add(&d->vcpu_evt[v], 1);
                futex_wake_all(&d->vcpu_evt[v]);
        }
}

void host_pub_header(struct host *h, uint32_t slot) {
        struct hdom *d = h->dom[slot];
        struct xs_dom *s = host_sdom(h, slot);
        s->state = (uint32_t)d->state;
        s->domid = d->domid;
        s->gen = d->gen;
        s->nr_vcpus = d->nr_vcpus;
        s->paused = d->paused;
        memcpy(s->name, d->name, sizeof(s->name));
}

void host_pub_gport(struct host *h, uint32_t slot, uint32_t port) {
        struct hgport *g = &h->dom[slot]->gport[port];
        struct xs_gport *s = &host_sdom(h, slot)->gport[port];
        s->kind = g->kind;
        s->vcpu = g->vcpu;
        s->server = g->srv;
        s->lport = g->lport;
        host_sdom(h, slot)->gevt[port].remote = g->remote;
}

void host_pub_server(struct host *h, uint32_t slot, unsigned id) {
        struct hsrv *v = &h->dom[slot]->srv[id];
        struct xs_server *s = &host_sdom(h, slot)->srv[id];
        s->state = (uint32_t)v->state;
        s->page = v->page;
        s->bufpage = v->bufpage;
        s->bufport = v->bufport;
        memcpy(s->vport, v->vport, sizeof(s->vport));
        for (unsigned t = 0; t < 2; t++) {
                s->nr[t] = v->nr[t];
                if (v->nr[t])
                        memcpy(s->r[t], v->r[t], v->nr[t] * sizeof(struct xs_range));
        }
}
