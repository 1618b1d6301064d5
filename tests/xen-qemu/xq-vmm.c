/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xq-vmm: the "VMM" of the coexistence scenario.  An ioreq server written
 * straight against the Xen API that owns a whole virtio-mmio device window,
 * as a VMM's device model would: it answers the config-space reads (magic,
 * version, device and vendor id) and counts every write by register.  Xen
 * sends an access to the enabled server with the highest id that covers it
 * whole, and xen-ioreqd places its server above every other one, so the
 * QUEUE_NOTIFY writes xen-ioreqd registered go there and everything else
 * comes here.  With "gap" the VMM makes two servers and destroys the first:
 * it holds id 1 with id 0 free, the id a new server would get.
 *
 * Usage: xq-vmm DOMID BASE SIZE SECONDS [gap]
 * Prints "VMM-READY id=N" when serving, then on SIGTERM/SIGINT or after
 * SECONDS: "VMM-STATS reads=.. writes=.. notify_writes=.. invalidate=.. other=..".
 */
#define __XEN_TOOLS__ 1
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xen/xen.h>
#include <xen/memory.h>
#include <xen/hvm/ioreq.h>
#include <xen/hvm/dm_op.h>

#define MAXV 16

static volatile sig_atomic_t stop;

static void on_signal(int s)
{
        stop = 1;
}

static uint64_t config_read(uint64_t off)
{
        switch (off) {
        case 0x000: return 0x74726976;  /* "virt" */
        case 0x004: return 2;           /* virtio-mmio version */
        case 0x008: return 1;           /* device id: net */
        case 0x00c: return 0x554d4551;  /* vendor id */
        default: return 0;
        }
}

int main(int argc, char **argv)
{
        if (argc != 5 && !(argc == 6 && strcmp(argv[5], "gap") == 0)) {
                fprintf(stderr, "usage: xq-vmm DOMID BASE SIZE SECONDS [gap]\n");
                return 2;
        }
        domid_t domid = (domid_t)strtoul(argv[1], NULL, 0);
        uint64_t base = strtoull(argv[2], NULL, 0), size = strtoull(argv[3], NULL, 0);
        time_t end = time(NULL) + atoi(argv[4]);
        setvbuf(stdout, NULL, _IOLBF, 0);
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);

        xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
        xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
        xenevtchn_handle *xce = xenevtchn_open(NULL, 0);
        if (!dm || !fm || !xce) {
                printf("VMM-FAIL open: %s\n", strerror(errno));
                return 1;
        }
        unsigned nv = 0;
        ioservid_t id;
        void *addr = NULL;
        if (xendevicemodel_nr_vcpus(dm, domid, &nv) < 0 || nv < 1 || nv > MAXV) {
                printf("VMM-FAIL nr_vcpus: %s (%u)\n", strerror(errno), nv);
                return 1;
        }
        if (xendevicemodel_create_ioreq_server(dm, domid, HVM_IOREQSRV_BUFIOREQ_OFF, &id) < 0) {
                printf("VMM-FAIL create: %s\n", strerror(errno));
                return 1;
        }
        if (argc == 6) {
                ioservid_t first = id;

                if (xendevicemodel_create_ioreq_server(dm, domid, HVM_IOREQSRV_BUFIOREQ_OFF, &id) < 0 ||
                    xendevicemodel_destroy_ioreq_server(dm, domid, first) < 0) {
                        printf("VMM-FAIL gap: %s\n", strerror(errno));
                        return 1;
                }
        }
        xenforeignmemory_resource_handle *res =
                xenforeignmemory_map_resource(fm, domid, XENMEM_resource_ioreq_server, id,
                                              XENMEM_resource_ioreq_server_frame_ioreq(0), 1, &addr,
                                              PROT_READ | PROT_WRITE, 0);
        if (!res || xendevicemodel_map_io_range_to_ioreq_server(dm, domid, id, 1, base, base + size - 1) < 0 ||
            xendevicemodel_set_ioreq_server_state(dm, domid, id, 1) < 0) {
                printf("VMM-FAIL setup: %s\n", strerror(errno));
                return 1;
        }
        shared_iopage_t *page = addr;
        evtchn_port_t local[MAXV];
        for (unsigned v = 0; v < nv; v++) {
                int p = xenevtchn_bind_interdomain(xce, domid, page->vcpu_ioreq[v].vp_eport);
                if (p < 0) {
                        printf("VMM-FAIL bind: %s\n", strerror(errno));
                        return 1;
                }
                local[v] = (evtchn_port_t)p;
        }
        int fd = xenevtchn_fd(xce);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        printf("VMM-READY id=%u vcpus=%u range=0x%" PRIx64 "-0x%" PRIx64 "\n", id, nv, base, base + size - 1);

        unsigned long reads = 0, writes = 0, notify = 0, inval = 0, other = 0, config_ok = 0;
        while (!stop && time(NULL) < end) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, 200) <= 0)
                        continue;
                int port;
                while ((port = xenevtchn_pending(xce)) >= 0) {
                        xenevtchn_unmask(xce, (evtchn_port_t)port);
                        unsigned v;
                        for (v = 0; v < nv && local[v] != (evtchn_port_t)port; v++)
                                ;
                        if (v == nv)
                                continue;
                        ioreq_t *slot = &page->vcpu_ioreq[v];
                        if (slot->state != STATE_IOREQ_READY)
                                continue;
                        __atomic_thread_fence(__ATOMIC_ACQUIRE);
                        ioreq_t r = *slot;
                        slot->state = STATE_IOREQ_INPROCESS;
                        if (r.type == IOREQ_TYPE_INVALIDATE) {
                                inval++;
                        } else if (r.type != IOREQ_TYPE_COPY || r.data_is_ptr || r.count != 1) {
                                other++;
                        } else if (r.dir == IOREQ_READ) {
                                uint64_t off = r.addr - base;
                                slot->data = config_read(off);
                                config_ok += off < 0x10;
                                reads++;
                        } else {
                                writes++;
                                notify += r.addr - base == 0x50;
                        }
                        __atomic_thread_fence(__ATOMIC_RELEASE);
                        slot->state = STATE_IORESP_READY;
                        xenevtchn_notify(xce, (evtchn_port_t)port);
                }
        }
        printf("VMM-STATS reads=%lu config_reads=%lu writes=%lu notify_writes=%lu invalidate=%lu other=%lu\n",
               reads, config_ok, writes, notify, inval, other);
        xendevicemodel_set_ioreq_server_state(dm, domid, id, 0);
        xendevicemodel_destroy_ioreq_server(dm, domid, id);
        xenforeignmemory_unmap_resource(fm, res);
        return 0;
}
