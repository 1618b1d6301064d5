/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bad ioreqs injected by the guest driver, each answered (the vCPU never
 * hangs), counted, and never taken for a kick: bad size, count != 1,
 * data_is_ptr, unknown type, PIO beyond 0xffff; INVALIDATE, TIMEOFFSET and
 * PCI_CONFIG completed as "other"; spurious events and slot scribbles
 * (a state the daemon must not touch, a slot beyond the guest's vCPUs)
 * ignored; a domain destroyed with I/O in flight.  Meanwhile a second
 * guest is served without delay.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itlib.h"

#define BASE    UINT64_C(0xfe000000)
#define NOTIFY  XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY

static It it;
static uint32_t g1;
static unsigned server;

static uint64_t inject(unsigned vcpu, uint8_t type, uint8_t dir, uint64_t addr, uint32_t size, uint32_t count,
                       uint8_t ptr, uint64_t data, const char *what) {
        struct xsg_raw raw = {
                .addr = addr, .data = data, .count = count, .size = size,
                .state = STATE_IOREQ_READY, .data_is_ptr = ptr, .dir = dir, .type = type,
        };
        uint64_t out = 0;
        int r = xsg_inject_request(it.xsg, g1, vcpu, server, &raw, IT_TIMEOUT_MS, &out);

        if (r < 0)
                IT_FAIL("%s: the injected request was not answered: %s", what, strerror(-r));
        return out;
}

static struct xsg_load_result load_result;

static void *load_thread(void *arg) {
        uint32_t doms[1] = { g1 };
        struct xsg_load_opts o = {
                .domids = doms, .nr_domids = 1, .vcpus = 2, .seconds = 2.0,
                .space = XSG_MMIO, .dir = XSG_WRITE, .addr = BASE + NOTIFY, .size = 4, .data = 0,
                .timeout_ms = IT_TIMEOUT_MS,
        };

        (void) arg;
        /* ends with errors once the domain is gone: only its bounded return matters */
        (void) xsg_load(it.xsg, &o, &load_result);
        return NULL;
}

int main(int argc, char **argv) {
        struct xirq_query_reply q;
        struct xsg_raw raw;
        ioreq_t slot;
        uint32_t g2;
        int c, c2, efd, efd2, r;
        uint64_t v;

        it_init(&it, "it-faults", argc, argv);
        it_write_global(&it, NULL);
        it_write_guest(&it, "g1", NULL);
        it_write_guest(&it, "g2", NULL);
        g1 = it_domain_create(&it, "g1", 2);
        g2 = it_domain_create(&it, "g2", 1);
        it_daemon_start(&it, NULL);

        c = it_connect(&it, "g1");
        CHECK_EQ(it_hello(c, NULL), 0, "HELLO");
        efd = it_eventfd();
        CHECK_EQ(it_virtio(c, BASE, 0, false, efd), 0, "register queue 0");
        CHECK_EQ(it_query(c, &q), 0, "QUERY");
        server = q.server_id;
        c2 = it_connect(&it, "g2");
        CHECK_EQ(it_hello(c2, NULL), 0, "HELLO on g2");
        efd2 = it_eventfd();
        CHECK_EQ(it_virtio(c2, BASE, 0, false, efd2), 0, "register queue 0 on g2");

        /* malformed: answered, counted invalid, never a kick (all aimed at the registered queue) */
        inject(0, IOREQ_TYPE_COPY, IOREQ_WRITE, BASE + NOTIFY, 3, 1, 0, 0, "size 3");
        inject(1, IOREQ_TYPE_COPY, IOREQ_WRITE, BASE + NOTIFY, 16, 1, 0, 0, "size 16");
        inject(0, IOREQ_TYPE_COPY, IOREQ_WRITE, BASE + NOTIFY, 4, 2, 0, 0, "count 2 (rep stos)");
        inject(1, IOREQ_TYPE_COPY, IOREQ_WRITE, BASE + NOTIFY, 4, 0, 0, 0, "count 0");
        inject(0, IOREQ_TYPE_COPY, IOREQ_WRITE, BASE + NOTIFY, 4, 1, 1, 0x1000, "data_is_ptr write");
        v = inject(1, IOREQ_TYPE_COPY, IOREQ_READ, BASE + NOTIFY, 4, 1, 1, 0x2000, "data_is_ptr read");
        CHECK_EQ(v, 0x2000, "data of a data_is_ptr read (a guest address, left alone)");
        v = inject(0, IOREQ_TYPE_COPY, IOREQ_READ, BASE + NOTIFY, 3, 1, 0, 0, "read of size 3");
        CHECK_EQ(v, UINT64_MAX, "data of an invalid read (all-ones, as from no device)");
        inject(1, 5, IOREQ_WRITE, BASE + NOTIFY, 4, 1, 0, 0, "type 5");
        inject(0, 0xff, IOREQ_WRITE, BASE + NOTIFY, 4, 1, 0, 0, "type 255");
        inject(1, IOREQ_TYPE_PIO, IOREQ_WRITE, 0xfffe, 4, 1, 0, 0, "PIO crossing 0xffff");
        CHECK_EQ(it_efd_take(efd), 0, "kicks from malformed requests");

        /* other types: completed, counted as other */
        inject(0, IOREQ_TYPE_TIMEOFFSET, IOREQ_WRITE, 0, 8, 1, 0, 12345, "TIMEOFFSET");
        v = inject(1, IOREQ_TYPE_PCI_CONFIG, IOREQ_READ, 0x80000000, 4, 1, 0, 0, "PCI_CONFIG read");
        CHECK_EQ(v, UINT64_MAX, "PCI_CONFIG read answered all-ones");
        r = xsg_invalidate(it.xsg, g1, 0, IT_TIMEOUT_MS);
        CHECK_EQ(r, 1, "INVALIDATE broadcast answered by the one server");

        /* a spurious event and scribbles: nothing taken, nothing written */
        CHECK_EQ(xsg_inject_notify(it.xsg, g1, server, 0), 0, "spurious notify");
        memset(&raw, 0, sizeof raw);
        raw.state = STATE_IOREQ_READY;
        raw.type = IOREQ_TYPE_COPY;
        raw.addr = BASE + NOTIFY;
        raw.size = 4;
        raw.count = 1;
        CHECK_EQ(xsg_inject_slot(it.xsg, g1, server, 100, &raw, 0), 0, "READY in slot 100 of a 2-vCPU guest");
        raw.state = 7;
        CHECK_EQ(xsg_inject_slot(it.xsg, g1, server, 1, &raw, 1), 0, "state 7 in vCPU 1's slot");
        usleep(100000);
        CHECK_EQ(xsg_slot_peek(it.xsg, g1, server, 100, &slot), 0, "peek slot 100");
        CHECK_EQ(slot.state, STATE_IOREQ_READY, "slot 100 left alone");
        CHECK_EQ(xsg_slot_peek(it.xsg, g1, server, 1, &slot), 0, "peek slot 1");
        CHECK_EQ(slot.state, 7, "a slot in an unknown state left alone (no state written backwards)");
        raw.state = STATE_IOREQ_NONE;
        CHECK_EQ(xsg_inject_slot(it.xsg, g1, server, 1, &raw, -1), 0, "slot 1 back to NONE");
        raw.state = STATE_IOREQ_NONE;
        CHECK_EQ(xsg_inject_slot(it.xsg, g1, server, 100, &raw, -1), 0, "slot 100 back to NONE");
        CHECK_EQ(it_efd_take(efd), 0, "kicks from spurious events");

        /* the other guest was served all along, and this one still is */
        CHECK_EQ(it_write(&it, g2, 0, XSG_MMIO, BASE + NOTIFY, 4, 0), 0, "kick on g2");
        CHECK_EQ(it_efd_take(efd2), 1, "g2's kick");
        CHECK_EQ(it_write(&it, g1, 0, XSG_MMIO, BASE + NOTIFY, 4, 0), 0, "kick from vCPU 0");
        CHECK_EQ(it_write(&it, g1, 1, XSG_MMIO, BASE + NOTIFY, 4, 0), 0, "kick from vCPU 1");
        CHECK_EQ(it_efd_take(efd), 2, "real kicks after the faults");

        CHECK_EQ(it_query(c, &q), 0, "QUERY");
        CHECK_EQ(q.invalid, 10, "invalid requests counted");
        CHECK_EQ(q.other, 3, "TIMEOFFSET, PCI_CONFIG and INVALIDATE counted as other");
        CHECK_EQ(q.kicks, 2, "kicks counted");
        CHECK_EQ(q.unmatched, 0, "unmatched");
        CHECK_EQ(q.reads, 0, "reads");
        CHECK(it_log_contains(&it, "invalid ioreq (bad size)"), "a debug message names the bad field");

        /* the domain dies while its vCPUs kick as fast as they can */
        {
                pthread_t t;

                CHECK(pthread_create(&t, NULL, load_thread, NULL) == 0, "pthread_create");
                usleep(200000);
                it_domain_destroy(&it, g1);
                pthread_join(t, NULL);
                CHECK(load_result.count > 0, "kicks before the domain died: %llu", (unsigned long long) load_result.count);
        }
        CHECK(it_closed(c, IT_TIMEOUT_MS), "g1's connection closed when its domain died");
        CHECK(it_daemon_alive(&it), "the daemon survived g1's death");
        CHECK_EQ(it_write(&it, g2, 0, XSG_MMIO, BASE + NOTIFY, 4, 0), 0, "kick on g2 after g1's death");
        CHECK_EQ(it_efd_take(efd2), 1, "g2's kick after g1's death");

        it_daemon_signal(&it, SIGTERM);
        CHECK_EQ(it_daemon_wait(&it, IT_TIMEOUT_MS), 0, "exit status");
        close(c);
        close(c2);
        it_fini(&it);
        return 0;
}
