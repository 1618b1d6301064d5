/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * test-host-teardown - an ioreq server torn down the way a device model does it (disable,
 * answer what is in flight, unbind, unmap, destroy) while the guest's vCPUs keep writing to
 * its range, round after round: no vCPU is ever left hung. Xen changes and destroys a
 * server with the domain paused, so a vCPU never sends to a server that was already disabled
 * and answered, and a vCPU woken by an answer completes its access even when the server is
 * gone by the time it runs.
 */
#include "autoconfig.h"

#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "simtest.h"

#define NR_VCPUS 3
#define ROUNDS 400
#define ADDR 0xfe000000ull
#define VCPU_TIMEOUT_MS 3000

static atomic_bool stop;
static atomic_ulong done_writes;

struct vcpu_arg {
        pthread_t th;
        uint32_t domid;
        unsigned vcpu;
        int r;                          /* 0, or the first error of an access */
        int slot_state;
};

static void *vcpu_main(void *p) {
        struct vcpu_arg *a = p;
        while (!atomic_load(&stop)) {
                struct xsg_io io = { .space = XSG_MMIO, .dir = XSG_WRITE,
                                     .addr = ADDR + 4 * a->vcpu, .size = 4, .data = a->vcpu,
                                     .timeout_ms = VCPU_TIMEOUT_MS };
                int r = xsg_io(st_guest(), a->domid, a->vcpu, &io);
                if (r < 0) {
                        a->r = r;
                        a->slot_state = io.slot_state;
                        atomic_store(&stop, true);
                        break;
                }
                atomic_fetch_add(&done_writes, 1);
        }
        return NULL;
}

static unsigned slot_state(struct st_srv *s, unsigned v) {
        return __atomic_load_n((volatile uint8_t *)&s->page->vcpu_ioreq[v] + 30,
                               __ATOMIC_ACQUIRE) & 0xf;
}

/* Serve for about ms: answer every request a notification shows. */
static unsigned serve(struct st_srv *s, int ms) {
        struct timespec t0, t;
        unsigned answered = 0;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                clock_gettime(CLOCK_MONOTONIC, &t);
                long left = ms - ((t.tv_sec - t0.tv_sec) * 1000 +
                                  (t.tv_nsec - t0.tv_nsec) / 1000000);
                if (left <= 0 || atomic_load(&stop))
                        return answered;
                int port = st_wait_port(s->xce, (int)left, false);
                int v = port < 0 ? -1 : st_srv_vcpu(s, port);
                if (v >= 0 && slot_state(s, (unsigned)v) == STATE_IOREQ_READY) {
                        st_srv_answer(s, (unsigned)v, 0);
                        answered++;
                }
        }
}

/* The device model's teardown: disable, answer what is in flight, unbind, unmap, destroy. */
static void teardown(struct st_srv *s) {
        CHECK_OK(xendevicemodel_set_ioreq_server_state(s->dm, (domid_t)s->domid, s->id, 0));
        for (unsigned v = 0; v < s->nr_vcpus; v++)
                if (slot_state(s, v) == STATE_IOREQ_READY)
                        st_srv_answer(s, v, 0);
        for (unsigned v = 0; v < s->nr_vcpus; v++)
                CHECK_OK(xenevtchn_unbind(s->xce, s->lport[v]));
        CHECK_OK(xenforeignmemory_unmap_resource(s->fm, s->res));
        s->res = NULL;
        CHECK_OK(xendevicemodel_destroy_ioreq_server(s->dm, (domid_t)s->domid, s->id));
        xenevtchn_close(s->xce);
        xenforeignmemory_close(s->fm);
        xendevicemodel_close(s->dm);
        memset(s, 0, sizeof(*s));
}

int main(int argc, char **argv) {
        struct vcpu_arg va[NR_VCPUS];
        unsigned rounds = 0, answered = 0;
        uint32_t dom;

        st_init(argc, argv, 120);
        dom = st_domain("teardown", NR_VCPUS);
        for (unsigned v = 0; v < NR_VCPUS; v++) {
                va[v] = (struct vcpu_arg){ .domid = dom, .vcpu = v, .slot_state = -1 };
                if (pthread_create(&va[v].th, NULL, vcpu_main, &va[v])) {
                        fprintf(stderr, "FAIL: pthread_create\n");
                        st_fail_now();
                }
        }
        srand(1);
        for (; rounds < ROUNDS && !atomic_load(&stop); rounds++) {
                struct st_srv s;
                st_srv_up(&s, dom, ADDR, ADDR + 0xfff);
                answered += serve(&s, 1 + rand() % 4);
                teardown(&s);
        }
        atomic_store(&stop, true);
        for (unsigned v = 0; v < NR_VCPUS; v++) {
                pthread_join(va[v].th, NULL);
                CHECK(va[v].r == 0, "vCPU %u hung (%u rounds run): %s, slot state %d", v, rounds,
                      strerror(-va[v].r), va[v].slot_state);
        }
        CHECK(rounds == ROUNDS, "only %u rounds of %u", rounds, ROUNDS);
        CHECK(answered > 0, "no request was answered while the server served");
        printf("%u rounds, %u answered while serving, %lu writes done\n", rounds, answered,
               atomic_load(&done_writes));
        return st_finish();
}
