/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-attach: the cost of attaching an ioreq server the way a device model does it on the
 * real API: open the devicemodel, foreignmemory and evtchn handles, restrict them to the
 * domain, create the server, map its ioreq page, nr_vcpus, map one MMIO range, enable, bind
 * every vCPU's port. Repeated N times (each attach torn down again), with other handles kept
 * open as a daemon serving other guests would; prints the time per attach (p50, p99, max).
 *
 *   xensim-attach [-n N] DOMID        (XENSIM_DIR and LD_LIBRARY_PATH as for any xensim user)
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

struct srv {
        xendevicemodel_handle *dm;
        xenforeignmemory_handle *fm;
        xenevtchn_handle *xce;
        xenforeignmemory_resource_handle *res;
        ioservid_t id;
        bool created;
};

static void detach(struct srv *s, domid_t dom) {
        if (s->res)
                xenforeignmemory_unmap_resource(s->fm, s->res);
        if (s->created)
                xendevicemodel_destroy_ioreq_server(s->dm, dom, s->id);
        if (s->xce)
                xenevtchn_close(s->xce);
        if (s->fm)
                xenforeignmemory_close(s->fm);
        if (s->dm)
                xendevicemodel_close(s->dm);
        memset(s, 0, sizeof(*s));
}

static int attach(struct srv *s, domid_t dom) {
        shared_iopage_t *page = NULL;
        unsigned vcpus;

        memset(s, 0, sizeof(*s));
        s->dm = xendevicemodel_open(NULL, 0);
        s->fm = xenforeignmemory_open(NULL, 0);
        s->xce = xenevtchn_open(NULL, 0);
        if (!s->dm || !s->fm || !s->xce || xendevicemodel_restrict(s->dm, dom) < 0 ||
            xenforeignmemory_restrict(s->fm, dom) < 0 || xenevtchn_restrict(s->xce, dom) < 0 ||
            xendevicemodel_create_ioreq_server(s->dm, dom, HVM_IOREQSRV_BUFIOREQ_OFF, &s->id) < 0)
                return -1;
        s->created = true;
        s->res = xenforeignmemory_map_resource(s->fm, dom, XENMEM_resource_ioreq_server, s->id,
                                               XENMEM_resource_ioreq_server_frame_ioreq(0), 1,
                                               (void **)&page, PROT_READ | PROT_WRITE, 0);
        if (!s->res || xendevicemodel_nr_vcpus(s->dm, dom, &vcpus) < 0 ||
            xendevicemodel_map_io_range_to_ioreq_server(s->dm, dom, s->id, 1, 0xfe000000,
                                                        0xfe000fff) < 0 ||
            xendevicemodel_set_ioreq_server_state(s->dm, dom, s->id, 1) < 0)
                return -1;
        for (unsigned v = 0; v < vcpus && v < 128; v++)
                if (xenevtchn_bind_interdomain(s->xce, dom, page->vcpu_ioreq[v].vp_eport) < 0)
                        return -1;
        return 0;
}

int main(int argc, char **argv) {
        struct srv keep, s;
        unsigned long n = 1000;
        uint64_t *t;
        domid_t dom;
        int c;

        while ((c = getopt(argc, argv, "n:")) != -1) {
                if (c != 'n' || (n = strtoul(optarg, NULL, 10)) == 0 || n > 1000000) {
                        fprintf(stderr, "usage: xensim-attach [-n N] DOMID\n");
                        return 2;
                }
        }
        if (optind + 1 != argc) {
                fprintf(stderr, "usage: xensim-attach [-n N] DOMID\n");
                return 2;
        }
        dom = (domid_t)strtoul(argv[optind], NULL, 0);
        t = calloc(n, sizeof(*t));
        if (!t)
                return 1;
        /* Another server of the same process stays attached throughout. */
        if (attach(&keep, dom) < 0) {
                fprintf(stderr, "xensim-attach: attach to domain %u: %s\n", dom, strerror(errno));
                return 1;
        }
        for (unsigned long i = 0; i < n; i++) {
                uint64_t t0 = now_ns();
                if (attach(&s, dom) < 0) {
                        fprintf(stderr, "xensim-attach: attach %lu: %s\n", i, strerror(errno));
                        return 1;
                }
                t[i] = now_ns() - t0;
                detach(&s, dom);
        }
        detach(&keep, dom);
        qsort(t, n, sizeof(*t), cmp_u64);
        printf("attach x%lu: p50 %.1f us  p99 %.1f us  max %.1f us\n", n, t[n / 2] / 1e3,
               t[n * 99 / 100] / 1e3, t[n - 1] / 1e3);
        free(t);
        return 0;
}
