/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim: 1100 domains of 4 vCPUs, one ioreq server each, all 4400 ports bound on ONE evtchn
 * handle and served by one thread; every vCPU of every domain gets its answer.
 */
#include "autoconfig.h"

#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xen/memory.h>

#include "simtest.h"

#define NDOM 1100u
#define NVCPU 4u
#define BASE 0xfe000000ull

struct dom {
        uint32_t domid;
        ioservid_t id;
        shared_iopage_t *page;
        xenforeignmemory_resource_handle *res;
};

static struct dom doms[NDOM];
static int owner_dom[16384], owner_vcpu[16384];
static xenevtchn_handle *xce;
static volatile int stop;

static void *serve(void *arg) {
        struct pollfd p = { .fd = xenevtchn_fd(xce), .events = POLLIN };
        (void)arg;
        while (!stop) {
                if (poll(&p, 1, 100) != 1)
                        continue;
                int port = xenevtchn_pending(xce);
                if (port <= 0 || port >= 16384)
                        continue;
                xenevtchn_unmask(xce, (evtchn_port_t)port);
                int d = owner_dom[port], v = owner_vcpu[port];
                if (d < 0)
                        continue;
                ioreq_t *io = &doms[d].page->vcpu_ioreq[v];
                if (io->state != STATE_IOREQ_READY)
                        continue;
                if (io->dir == IOREQ_READ)
                        io->data = ((uint64_t)doms[d].domid << 8) | (unsigned)v;
                __atomic_thread_fence(__ATOMIC_RELEASE);
                io->state = STATE_IORESP_READY;
                xenevtchn_notify(xce, (evtchn_port_t)port);
        }
        return NULL;
}

int main(int argc, char **argv) {
        st_init(argc, argv, 240);
        xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
        xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
        xce = xenevtchn_open(NULL, 0);
        unsigned bound = 0, ok = 0;

        CHECK(dm && fm && xce, "open");
        if (!dm || !fm || !xce)
                return st_finish() | 1;
        for (unsigned i = 0; i < 16384; i++)
                owner_dom[i] = -1;
        for (unsigned i = 0; i < NDOM; i++) {
                char name[32];
                snprintf(name, sizeof(name), "scale%u", i);
                doms[i].domid = st_domain(name, NVCPU);
                if (xendevicemodel_create_ioreq_server(dm, doms[i].domid, 0, &doms[i].id) < 0 ||
                    !(doms[i].res = xenforeignmemory_map_resource(
                              fm, doms[i].domid, XENMEM_resource_ioreq_server, doms[i].id, 1, 1,
                              (void **)&doms[i].page, PROT_READ | PROT_WRITE, 0)) ||
                    xendevicemodel_map_io_range_to_ioreq_server(dm, doms[i].domid, doms[i].id, 1,
                                                                BASE, BASE + 0xfff) < 0 ||
                    xendevicemodel_set_ioreq_server_state(dm, doms[i].domid, doms[i].id, 1) < 0) {
                        CHECK(0, "server setup on domain %u: %s", doms[i].domid, strerror(errno));
                        return st_finish() | 1;
                }
                for (unsigned v = 0; v < NVCPU; v++) {
                        int p = xenevtchn_bind_interdomain(xce, doms[i].domid,
                                                           doms[i].page->vcpu_ioreq[v].vp_eport);
                        if (p <= 0 || p >= 16384) {
                                CHECK(0, "bind %u/%u: %s", i, v, strerror(errno));
                                return st_finish() | 1;
                        }
                        owner_dom[p] = (int)i;
                        owner_vcpu[p] = (int)v;
                        bound++;
                }
        }
        CHECK(bound == NDOM * NVCPU, "bound %u ports", bound);
        pthread_t th;
        pthread_create(&th, NULL, serve, NULL);
        for (unsigned i = 0; i < NDOM; i++)
                for (unsigned v = 0; v < NVCPU; v += 3) {
                        uint64_t val = 0;
                        int r = xsg_read(st_guest(), doms[i].domid, v, XSG_MMIO, BASE, 4, &val, 5000);
                        if (r == 0 && val == (((uint64_t)doms[i].domid << 8 | v) & 0xffffffff))
                                ok++;
                        else
                                CHECK(0, "domain %u vCPU %u: r=%d val=%llx", doms[i].domid, v, r,
                                      (unsigned long long)val);
                }
        CHECK(ok == NDOM * 2, "%u of %u accesses answered", ok, NDOM * 2);
        stop = 1;
        pthread_join(th, NULL);
        for (unsigned i = 0; i < NDOM; i++) {
                xenforeignmemory_unmap_resource(fm, doms[i].res);
                CHECK(xsg_domain_destroy(st_guest(), doms[i].domid) == 0, "destroy");
        }
        CHECK(xsg_domain_list(st_guest(), NULL, 0) == 0, "domains left");
        xenevtchn_close(xce);
        xenforeignmemory_close(fm);
        xendevicemodel_close(dm);
        return st_finish();
}
