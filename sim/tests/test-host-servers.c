/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim: ioreq server management follows Xen 4.17 (FACTS 1, 2a-2d, 3a-3g, 4, 10, 11).
 */
#include "autoconfig.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <stdint.h>
#include <xen/memory.h>
#include <sys/wait.h>
#include <xenstore.h>
#include <xentoolcore.h>

#include "simtest.h"

static void test_ids(xendevicemodel_handle *dm, uint32_t dom) {
        ioservid_t id[9];

        for (unsigned i = 0; i < 8; i++) {
                CHECK_OK(xendevicemodel_create_ioreq_server(dm, dom, 0, &id[i]));
                CHECK(id[i] == i, "server %u got id %u", i, id[i]);
        }
        CHECK_ERRNO(xendevicemodel_create_ioreq_server(dm, dom, 0, &id[8]), ENOSPC);
        CHECK_OK(xendevicemodel_destroy_ioreq_server(dm, dom, 3));
        CHECK_OK(xendevicemodel_destroy_ioreq_server(dm, dom, 5));
        CHECK_OK(xendevicemodel_create_ioreq_server(dm, dom, 0, &id[0]));
        CHECK(id[0] == 3, "lowest free id: got %u, want 3", id[0]);
        CHECK_OK(xendevicemodel_create_ioreq_server(dm, dom, 0, &id[0]));
        CHECK(id[0] == 5, "lowest free id: got %u, want 5", id[0]);
        CHECK_ERRNO(xendevicemodel_create_ioreq_server(dm, dom, 0, &id[0]), ENOSPC);
        for (unsigned i = 0; i < 8; i++)
                CHECK_OK(xendevicemodel_destroy_ioreq_server(dm, dom, (ioservid_t)i));
        CHECK_ERRNO(xendevicemodel_destroy_ioreq_server(dm, dom, 0), ENOENT);
        CHECK_ERRNO(xendevicemodel_destroy_ioreq_server(dm, dom, 100), ENOENT);
        CHECK_ERRNO(xendevicemodel_destroy_ioreq_server(dm, dom, 65535), ENOENT);
        CHECK_ERRNO(xendevicemodel_create_ioreq_server(dm, dom, 7, &id[0]), EINVAL);
        CHECK_OK(xendevicemodel_create_ioreq_server(dm, dom, 2, &id[0]));
        CHECK(id[0] == 0, "atomic bufioreq server id %u", id[0]);
        CHECK_OK(xendevicemodel_destroy_ioreq_server(dm, dom, 0));
        CHECK_ERRNO(xendevicemodel_create_ioreq_server(dm, 0, 0, &id[0]), EPERM);
        CHECK_ERRNO(xendevicemodel_create_ioreq_server(dm, 1234, 0, &id[0]), ESRCH);
        CHECK_ERRNO(xendevicemodel_create_ioreq_server(dm, 32752, 0, &id[0]), ESRCH);
        CHECK_ERRNO(xendevicemodel_set_ioreq_server_state(dm, dom, 2, 1), ENOENT);
        CHECK_ERRNO(xendevicemodel_map_io_range_to_ioreq_server(dm, dom, 2, 1, 0, 1), ENOENT);
        CHECK_ERRNO(xendevicemodel_get_ioreq_server_info(dm, dom, 2, NULL, NULL, NULL), ENOENT);
}

static void test_ranges(xendevicemodel_handle *dm, uint32_t dom) {
        ioservid_t a, b;

        CHECK_OK(xendevicemodel_create_ioreq_server(dm, dom, 0, &a));
        CHECK_OK(xendevicemodel_map_io_range_to_ioreq_server(dm, dom, a, 1, 0xfe000000, 0xfe000fff));
        CHECK_ERRNO(xendevicemodel_map_io_range_to_ioreq_server(dm, dom, a, 1, 0xfe000000, 0xfe000fff), EEXIST);
        CHECK_ERRNO(xendevicemodel_map_io_range_to_ioreq_server(dm, dom, a, 1, 0xfe000800, 0xfe0017ff), EEXIST);
        CHECK_ERRNO(xendevicemodel_map_io_range_to_ioreq_server(dm, dom, a, 1, 0xfe000100, 0xfe0001ff), EEXIST);
        CHECK_ERRNO(xendevicemodel_map_io_range_to_ioreq_server(dm, dom, a, 1, 0xfdfff000, 0xfe001fff), EEXIST);
        CHECK_OK(xendevicemodel_map_io_range_to_ioreq_server(dm, dom, a, 1, 0xfe001000, 0xfe001fff));
        CHECK_ERRNO(xendevicemodel_map_io_range_to_ioreq_server(dm, dom, a, 1, 0xfe003000, 0xfe002000), EINVAL);
        /* Xen checks a reversed range before looking the server up. */
        CHECK_ERRNO(xendevicemodel_map_io_range_to_ioreq_server(dm, dom, 7, 1, 5, 1), EINVAL);
        CHECK_ERRNO(xendevicemodel_map_io_range_to_ioreq_server(dm, dom, 7, 1, 1, 5), ENOENT);
        /* PCI devices are ranges of their own type. */
        CHECK_OK(xendevicemodel_map_pcidev_to_ioreq_server(dm, dom, a, 0, 0, 3, 0));
        CHECK_ERRNO(xendevicemodel_map_pcidev_to_ioreq_server(dm, dom, a, 0, 0, 3, 0), EEXIST);
        CHECK_OK(xendevicemodel_unmap_pcidev_from_ioreq_server(dm, dom, a, 0, 0, 3, 0));
        CHECK_ERRNO(xendevicemodel_unmap_pcidev_from_ioreq_server(dm, dom, a, 0, 0, 3, 0), ENOENT);
        CHECK_OK(xendevicemodel_map_io_range_to_ioreq_server(dm, dom, a, 0, 0x100, 0x1ff));
        CHECK_ERRNO(xendevicemodel_map_io_range_to_ioreq_server(dm, dom, a, 0, 0x100, 0x1ff), EEXIST);
        CHECK_OK(xendevicemodel_unmap_io_range_from_ioreq_server(dm, dom, a, 1, 0xfe001000, 0xfe0017ff));
        CHECK_ERRNO(xendevicemodel_unmap_io_range_from_ioreq_server(dm, dom, a, 1, 0xfe001000, 0xfe001fff), ENOENT);
        /* The same range in a second server is allowed. */
        CHECK_OK(xendevicemodel_create_ioreq_server(dm, dom, 0, &b));
        CHECK_OK(xendevicemodel_map_io_range_to_ioreq_server(dm, dom, b, 1, 0xfe000000, 0xfe000fff));
        /* At most 256 (non-adjacent) ranges per type. */
        unsigned ok = 0;
        int last_errno = 0;
        for (unsigned i = 0; i < 300; i++) {
                uint64_t s = 0x100000000ull + (uint64_t)i * 0x2000;
                if (xendevicemodel_map_io_range_to_ioreq_server(dm, dom, b, 1, s, s + 0xfff) == 0)
                        ok++;
                else {
                        last_errno = errno;
                        break;
                }
        }
        CHECK(ok == 255, "ranges accepted beside the first: %u, want 255", ok);
        CHECK(last_errno == ENOMEM, "range 257 errno %d, want ENOMEM", last_errno);
        /* Adjacent ranges merge, so they do not count against the limit. */
        CHECK_OK(xendevicemodel_map_io_range_to_ioreq_server(dm, dom, b, 1, 0xfe001000, 0xfe001fff));
        CHECK_OK(xendevicemodel_destroy_ioreq_server(dm, dom, a));
        CHECK_OK(xendevicemodel_destroy_ioreq_server(dm, dom, b));
}

static void test_page(xendevicemodel_handle *dm, xenforeignmemory_handle *fm, uint32_t dom) {
        xenforeignmemory_resource_handle *res, *res2, *old;
        shared_iopage_t *page = NULL, *page2 = NULL, *oldpage = NULL;
        unsigned char *bytes;
        ioservid_t id, id2;
        evtchn_port_t bufport = 99;
        size_t size = 0;
        void *addr;

        CHECK_OK(xendevicemodel_create_ioreq_server(dm, dom, 0, &id));
        res = xenforeignmemory_map_resource(fm, dom, XENMEM_resource_ioreq_server, id,
                                            XENMEM_resource_ioreq_server_frame_ioreq(0), 1,
                                            (void **)&page, PROT_READ | PROT_WRITE, 0);
        CHECK(res && page, "map_resource before enabling: %s", strerror(errno));
        if (!res)
                return;
        bytes = (unsigned char *)page;
        unsigned nz = 0;
        for (unsigned i = 0; i < 4096; i++)
                nz += bytes[i] != 0;
        CHECK(nz == 0, "fresh page has %u nonzero bytes", nz);
        CHECK_OK(xendevicemodel_map_io_range_to_ioreq_server(dm, dom, id, 1, 0xfe000000, 0xfe000fff));
        CHECK(page->vcpu_ioreq[0].vp_eport == 0, "vp_eport %u before enable",
              page->vcpu_ioreq[0].vp_eport);
        CHECK_OK(xendevicemodel_set_ioreq_server_state(dm, dom, id, 1));
        CHECK(page->vcpu_ioreq[0].vp_eport == 3 && page->vcpu_ioreq[1].vp_eport == 4,
              "vp_eports %u,%u after enable, want 3,4", page->vcpu_ioreq[0].vp_eport,
              page->vcpu_ioreq[1].vp_eport);
        nz = 0;
        for (unsigned i = 64; i < 4096; i++)
                nz += bytes[i] != 0;
        CHECK(nz == 0, "bytes beyond the 2 vCPU slots: %u nonzero", nz);
        CHECK_OK(xendevicemodel_set_ioreq_server_state(dm, dom, id, 0));
        CHECK(page->vcpu_ioreq[0].vp_eport == 3, "vp_eport after disable %u",
              page->vcpu_ioreq[0].vp_eport);
        CHECK_OK(xendevicemodel_set_ioreq_server_state(dm, dom, id, 0));
        CHECK_OK(xendevicemodel_set_ioreq_server_state(dm, dom, id, 1));
        CHECK_OK(xendevicemodel_set_ioreq_server_state(dm, dom, id, 1));
        CHECK(page->vcpu_ioreq[0].vp_eport == 3, "vp_eport after re-enable %u",
              page->vcpu_ioreq[0].vp_eport);
        /* A second server gets the next ports. */
        CHECK_OK(xendevicemodel_create_ioreq_server(dm, dom, 0, &id2));
        res2 = xenforeignmemory_map_resource(fm, dom, XENMEM_resource_ioreq_server, id2,
                                             XENMEM_resource_ioreq_server_frame_ioreq(0), 1,
                                             (void **)&page2, PROT_READ | PROT_WRITE, 0);
        CHECK_OK(xendevicemodel_set_ioreq_server_state(dm, dom, id2, 1));
        CHECK(res2 && page2->vcpu_ioreq[0].vp_eport == 5, "second server vp_eport %u",
              res2 ? page2->vcpu_ioreq[0].vp_eport : 0);
        xenforeignmemory_unmap_resource(fm, res2);
        CHECK_OK(xendevicemodel_destroy_ioreq_server(dm, dom, id2));
        /* map_resource errors. */
        addr = NULL;
        CHECK(!xenforeignmemory_map_resource(fm, dom, XENMEM_resource_ioreq_server, id,
                                             XENMEM_resource_ioreq_server_frame_bufioreq, 1,
                                             &addr, PROT_READ, 0) && errno == ENOENT,
              "bufioreq frame without bufioreq: errno %d", errno);
        CHECK(!xenforeignmemory_map_resource(fm, dom, XENMEM_resource_ioreq_server, id,
                                             XENMEM_resource_ioreq_server_frame_ioreq(1), 1,
                                             &addr, PROT_READ, 0) && errno == EINVAL,
              "frame_ioreq(1): errno %d", errno);
        CHECK(!xenforeignmemory_map_resource(fm, dom, XENMEM_resource_ioreq_server, id,
                                             XENMEM_resource_ioreq_server_frame_ioreq(0), 2,
                                             &addr, PROT_READ, 0) && errno == EINVAL,
              "nr_frames 2: errno %d", errno);
        CHECK(!xenforeignmemory_map_resource(fm, dom, XENMEM_resource_ioreq_server, 6,
                                             XENMEM_resource_ioreq_server_frame_ioreq(0), 1,
                                             &addr, PROT_READ, 0) && errno == ENOENT,
              "nonexistent server: errno %d", errno);
        CHECK(!xenforeignmemory_map_resource(fm, 1234, XENMEM_resource_ioreq_server, 0,
                                             XENMEM_resource_ioreq_server_frame_ioreq(0), 1,
                                             &addr, PROT_READ, 0) && errno == ESRCH,
              "bogus domain: errno %d", errno);
        CHECK_OK(xenforeignmemory_resource_size(fm, dom, XENMEM_resource_ioreq_server, id, &size));
        CHECK(size == 2 * 4096, "resource size %zu", size);
        /* Mapping the same frame again shows the same memory. */
        shared_iopage_t *again = NULL;
        xenforeignmemory_resource_handle *r3 = xenforeignmemory_map_resource(
                fm, dom, XENMEM_resource_ioreq_server, id,
                XENMEM_resource_ioreq_server_frame_ioreq(0), 1, (void **)&again, PROT_READ, 0);
        CHECK(r3 && again->vcpu_ioreq[0].vp_eport == 3, "second mapping");
        xenforeignmemory_unmap_resource(fm, r3);
        /* get_ioreq_server_info */
        CHECK_OK(xendevicemodel_get_ioreq_server_info(dm, dom, id, NULL, NULL, &bufport));
        CHECK(bufport == 0, "bufport %u", bufport);
        xen_pfn_t gfn;
        CHECK_ERRNO(xendevicemodel_get_ioreq_server_info(dm, dom, id, &gfn, NULL, NULL), EPERM);
        /* Destroy and re-create: same id, vp_eport 0 until enabled, the old mapping stays. */
        page->vcpu_ioreq[0].data = 0x5555;
        CHECK_OK(xendevicemodel_destroy_ioreq_server(dm, dom, id));
        CHECK(page->vcpu_ioreq[0].vp_eport == 3 && page->vcpu_ioreq[0].data == 0x5555,
              "old mapping after destroy");
        CHECK_OK(xendevicemodel_create_ioreq_server(dm, dom, 0, &id));
        CHECK(id == 0, "re-created id %u", id);
        old = res;
        oldpage = page;
        page = NULL;
        res = xenforeignmemory_map_resource(fm, dom, XENMEM_resource_ioreq_server, id,
                                            XENMEM_resource_ioreq_server_frame_ioreq(0), 1,
                                            (void **)&page, PROT_READ | PROT_WRITE, 0);
        CHECK(res && page->vcpu_ioreq[0].vp_eport == 0 && page->vcpu_ioreq[0].data == 0,
              "new page is fresh");
        CHECK_OK(xendevicemodel_set_ioreq_server_state(dm, dom, id, 1));
        CHECK(page->vcpu_ioreq[0].vp_eport == 3, "re-created vp_eport %u",
              page->vcpu_ioreq[0].vp_eport);
        CHECK(oldpage->vcpu_ioreq[0].data == 0x5555, "old page reused while still mapped");
        xenforeignmemory_unmap_resource(fm, old);
        xenforeignmemory_unmap_resource(fm, res);
        CHECK_OK(xendevicemodel_destroy_ioreq_server(dm, dom, id));
        /* A bufioreq server: frame 0 maps, and it has a buffered port. */
        CHECK_OK(xendevicemodel_create_ioreq_server(dm, dom, 1, &id));
        addr = NULL;
        res = xenforeignmemory_map_resource(fm, dom, XENMEM_resource_ioreq_server, id, 0, 2,
                                            &addr, PROT_READ, 0);
        CHECK(res != NULL, "bufioreq + ioreq frames: %s", strerror(errno));
        xenforeignmemory_unmap_resource(fm, res);
        CHECK_OK(xendevicemodel_get_ioreq_server_info(dm, dom, id, NULL, NULL, &bufport));
        CHECK(bufport == 4, "bufioreq port %u, want 4 (after vCPU 0's 3)", bufport);
        CHECK_OK(xendevicemodel_destroy_ioreq_server(dm, dom, id));
}

static void test_misc(xendevicemodel_handle *dm, uint32_t dom) {
        unsigned n = 0;
        struct xsg_irq q;

        CHECK_OK(xendevicemodel_nr_vcpus(dm, dom, &n));
        CHECK(n == 2, "nr_vcpus %u", n);
        CHECK_ERRNO(xendevicemodel_nr_vcpus(dm, 0, &n), EPERM);
        CHECK_ERRNO(xendevicemodel_nr_vcpus(dm, 1234, &n), ESRCH);
        CHECK_OK(xendevicemodel_set_irq_level(dm, dom, 33, 1));
        CHECK_OK(xendevicemodel_set_isa_irq_level(dm, dom, 5, 0));
        CHECK_ERRNO(xendevicemodel_set_isa_irq_level(dm, dom, 16, 0), EINVAL);
        CHECK_OK(xendevicemodel_set_pci_intx_level(dm, dom, 0, 0, 3, 1, 1));
        CHECK_OK(xendevicemodel_inject_msi(dm, dom, 0xfee00000, 0x4041));
        CHECK_ERRNO(xendevicemodel_inject_msi(dm, 1234, 0xfee00000, 1), ESRCH);
        CHECK(xsg_irq_get(st_guest(), dom, 0, &q) == 0 && q.kind == XSG_IRQ_LEVEL &&
              q.a == 33 && q.b == 1, "irq log 0");
        CHECK(xsg_irq_get(st_guest(), dom, 1, &q) == 0 && q.kind == XSG_IRQ_ISA && q.a == 5 &&
              q.b == 0, "irq log 1");
        CHECK(xsg_irq_get(st_guest(), dom, 2, &q) == 0 && q.kind == XSG_IRQ_PCI_INTX &&
              q.a == (3u << 8 | 1) && q.b == 1, "irq log 2");
        CHECK(xsg_irq_get(st_guest(), dom, 3, &q) == 0 && q.kind == XSG_IRQ_MSI &&
              q.a == 0xfee00000 && q.b == 0x4041, "irq log 3");
        CHECK(xsg_irq_get(st_guest(), dom, 4, &q) == -ENOENT, "irq log end");
        CHECK_ERRNO(xendevicemodel_set_mem_type(dm, dom, 0, 0, 1), ENOSYS);
        CHECK_ERRNO(xendevicemodel_track_dirty_vram(dm, dom, 0, 1, NULL), ENOSYS);
}

static void test_restrict(uint32_t dom, uint32_t other) {
        xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
        xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
        xenevtchn_handle *xce = xenevtchn_open(NULL, 0);
        unsigned n;
        ioservid_t id;
        void *addr = NULL;

        CHECK_OK(xendevicemodel_restrict(dm, dom));
        CHECK_OK(xendevicemodel_nr_vcpus(dm, dom, &n));
        CHECK_ERRNO(xendevicemodel_nr_vcpus(dm, 0, &n), EPERM);
        CHECK_ERRNO(xendevicemodel_nr_vcpus(dm, 1234, &n), EPERM);
        CHECK_ERRNO(xendevicemodel_nr_vcpus(dm, other, &n), EPERM);
        CHECK_ERRNO(xendevicemodel_set_ioreq_server_state(dm, 1234, 0, 1), EPERM);
        CHECK_ERRNO(xendevicemodel_create_ioreq_server(dm, 0, 0, &id), EPERM);
        CHECK_OK(xendevicemodel_restrict(dm, dom));
        CHECK_ERRNO(xendevicemodel_restrict(dm, other), EINVAL);
        CHECK_ERRNO(xendevicemodel_nr_vcpus(dm, other, &n), EPERM);

        CHECK_OK(xenforeignmemory_restrict(fm, dom));
        CHECK(!xenforeignmemory_map_resource(fm, 1234, XENMEM_resource_ioreq_server, 0, 1, 1,
                                             &addr, PROT_READ, 0) && errno == EPERM,
              "restricted fmem on 1234: errno %d", errno);
        CHECK(!xenforeignmemory_map_resource(fm, 0, XENMEM_resource_ioreq_server, 0, 1, 1,
                                             &addr, PROT_READ, 0) && errno == EPERM,
              "restricted fmem on dom0: errno %d", errno);

        /* Linux's evtchn device: a guest's domain only (the handle stays unrestricted). */
        CHECK_ERRNO(xenevtchn_restrict(xce, 0), EINVAL);
        CHECK_ERRNO(xenevtchn_restrict(xce, 0x7ff0), EINVAL);
        CHECK_ERRNO(xenevtchn_bind_unbound_port(xce, 0), ENOSYS);
        CHECK_OK(xenevtchn_restrict(xce, dom));
        CHECK_ERRNO(xenevtchn_bind_unbound_port(xce, 0), EACCES);
        CHECK_ERRNO(xenevtchn_bind_unbound_port(xce, dom), EACCES);
        CHECK_ERRNO(xenevtchn_bind_virq(xce, 0), EACCES);
        CHECK_ERRNO(xenevtchn_bind_interdomain(xce, other, 3), EACCES);
        CHECK_ERRNO(xenevtchn_bind_interdomain(xce, 0, 3), EACCES);
        CHECK_ERRNO(xenevtchn_restrict(xce, dom), EACCES);

        /* A full server setup on the target works through restricted handles. */
        shared_iopage_t *page = NULL;
        CHECK_OK(xendevicemodel_create_ioreq_server(dm, dom, 0, &id));
        xenforeignmemory_resource_handle *res = xenforeignmemory_map_resource(
                fm, dom, XENMEM_resource_ioreq_server, id, 1, 1, (void **)&page,
                PROT_READ | PROT_WRITE, 0);
        CHECK(res != NULL, "restricted map_resource");
        CHECK_OK(xendevicemodel_map_io_range_to_ioreq_server(dm, dom, id, 1, 0xfe000000, 0xfe000fff));
        CHECK_OK(xendevicemodel_set_ioreq_server_state(dm, dom, id, 1));
        int p = res ? xenevtchn_bind_interdomain(xce, dom, page->vcpu_ioreq[0].vp_eport) : -1;
        CHECK(p > 0, "restricted bind: %s", strerror(errno));
        CHECK_OK(xenevtchn_notify(xce, (evtchn_port_t)p));
        CHECK_OK(xenevtchn_unbind(xce, (evtchn_port_t)p));
        xenforeignmemory_unmap_resource(fm, res);
        CHECK_OK(xendevicemodel_destroy_ioreq_server(dm, dom, id));
        /* Toolstack operations are refused to a restricted handle's connection. */
        xenevtchn_close(xce);
        xenforeignmemory_close(fm);
        xendevicemodel_close(dm);
}

/*
 * A handle inherited across fork() is one handle, as the fd of /dev/xen/privcmd or evtchn is
 * one open file: the child's restriction holds for the parent too, whose own restrict then
 * fails as it would on Linux.
 */
static void test_restrict_shared(uint32_t dom, uint32_t other) {
        xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
        xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
        xenevtchn_handle *xce = xenevtchn_open(NULL, 0);
        int status = 0;
        unsigned n;
        pid_t pid;

        if (!dm || !fm || !xce)
                st_fail_now();
        pid = fork();
        if (pid == 0)
                _exit(xendevicemodel_restrict(dm, dom) || xenforeignmemory_restrict(fm, dom) ||
                      xenevtchn_restrict(xce, dom));
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "restricting child status 0x%x",
              status);
        CHECK_ERRNO(xendevicemodel_nr_vcpus(dm, other, &n), EPERM);
        CHECK_ERRNO(xendevicemodel_restrict(dm, other), EINVAL);
        CHECK_OK(xendevicemodel_restrict(dm, dom));
        CHECK_OK(xendevicemodel_nr_vcpus(dm, dom, &n));
        CHECK_ERRNO(xenforeignmemory_restrict(fm, other), EINVAL);
        CHECK_ERRNO(xenevtchn_restrict(xce, dom), EACCES);
        CHECK_ERRNO(xenevtchn_bind_interdomain(xce, other, 3), EACCES);
        xenevtchn_close(xce);
        xenforeignmemory_close(fm);
        xendevicemodel_close(dm);
}

/* xentoolcore_restrict_all restricts every open handle, the real libxenstore's included. */
static void test_restrict_all(uint32_t dom) {
        pid_t pid = fork();
        if (pid == 0) {
                xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
                xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
                xenevtchn_handle *xce = xenevtchn_open(NULL, 0);
                struct xs_handle *xs = xs_open(0);
                unsigned n, len;
                void *addr = NULL;
                int bad = 0;
                if (!dm || !fm || !xce || !xs)
                        _exit(10);
                if (xentoolcore_restrict_all(dom) != 0)
                        _exit(11);
                if (xendevicemodel_nr_vcpus(dm, dom, &n) != 0)
                        bad |= 1;
                if (xendevicemodel_nr_vcpus(dm, 1234, &n) != -1 || errno != EPERM)
                        bad |= 2;
                if (xenforeignmemory_map_resource(fm, 1234, 0, 0, 1, 1, &addr, PROT_READ, 0) ||
                    errno != EPERM)
                        bad |= 4;
                if (xenevtchn_bind_unbound_port(xce, 0) != -1 || errno != EACCES)
                        bad |= 8;
                if (xs_read(xs, XBT_NULL, "/local/domain/0/name", &len) != NULL)
                        bad |= 16;
                if (xentoolcore_restrict_all(dom + 1) != -1 || errno != EACCES)
                        bad |= 32;
                _exit(bad);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "restrict_all child status 0x%x",
              status);
}

/* A destroyed domain lives on as a zombie while a page of it is mapped (FACTS 11). */
static void test_zombie(void) {
        xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
        xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
        uint32_t dom = st_domain("zombie", 1);
        struct xsg_domain_info di;
        shared_iopage_t *page = NULL;
        ioservid_t id;
        unsigned n;

        CHECK_OK(xendevicemodel_create_ioreq_server(dm, dom, 0, &id));
        xenforeignmemory_resource_handle *res = xenforeignmemory_map_resource(
                fm, dom, XENMEM_resource_ioreq_server, id, 1, 1, (void **)&page,
                PROT_READ | PROT_WRITE, 0);
        CHECK(res != NULL, "map");
        CHECK_OK(xendevicemodel_set_ioreq_server_state(dm, dom, id, 1));
        CHECK(xsg_domain_destroy(st_guest(), dom) == 0, "destroy");
        CHECK(xsg_domain_info(st_guest(), dom, &di) == 0 && di.state == XSG_DOMAIN_DYING,
              "zombie while mapped");
        CHECK(page->vcpu_ioreq[0].vp_eport == 3, "mapping readable after destroy");
        CHECK_ERRNO(xendevicemodel_destroy_ioreq_server(dm, dom, id), ENOENT);
        CHECK_ERRNO(xendevicemodel_set_ioreq_server_state(dm, dom, id, 1), ENOENT);
        CHECK_OK(xendevicemodel_nr_vcpus(dm, dom, &n));
        CHECK_ERRNO(xendevicemodel_create_ioreq_server(dm, dom, 0, &id), EINVAL);
        CHECK(xsg_domain_destroy(st_guest(), dom) == -ESRCH, "second destroy");
        CHECK_OK(xenforeignmemory_unmap_resource(fm, res));
        CHECK(xsg_domain_info(st_guest(), dom, &di) == -ESRCH, "gone after unmap");
        CHECK_ERRNO(xendevicemodel_nr_vcpus(dm, dom, &n), ESRCH);
        xenforeignmemory_close(fm);
        xendevicemodel_close(dm);
}

/* The token of the next watch event (bounded wait), 0 if none came. */
static char next_watch(struct xs_handle *xs) {
        struct pollfd p = { .fd = xs_fileno(xs), .events = POLLIN };
        unsigned n;
        char **ev;
        char tok;
        if (poll(&p, 1, 2000) != 1)
                return 0;
        ev = xs_read_watch(xs, &n);
        if (!ev)
                return 0;
        tok = ev[XS_WATCH_TOKEN][0];
        free(ev);
        return tok;
}

#define MAX_EVENTS 512

/* Watch event paths until none came for quiet_ms (bounded by 5 s); returns their number. */
static unsigned watch_paths(struct xs_handle *xs, int quiet_ms, char (*paths)[96]) {
        struct pollfd p = { .fd = xs_fileno(xs), .events = POLLIN };
        unsigned n = 0;

        for (int waited = 0; n < MAX_EVENTS && waited < 5000 && poll(&p, 1, quiet_ms) == 1;
             waited += 10) {
                unsigned k;
                char **ev = xs_read_watch(xs, &k);
                if (!ev)
                        break;
                snprintf(paths[n++], 96, "%s", ev[XS_WATCH_PATH]);
                free(ev);
        }
        return n;
}

static int path_index(char (*paths)[96], unsigned n, const char *path) {
        for (unsigned i = 0; i < n; i++)
                if (!strcmp(paths[i], path))
                        return (int)i;
        return -1;
}

static bool xs_has(struct xs_handle *xs, const char *path, const char *want) {
        unsigned len;
        char *v = xs_read(xs, XBT_NULL, path, &len);
        bool ok = v && (!want || !strcmp(v, want));
        free(v);
        return ok;
}

/*
 * libxl's nodes of a new domain, written in its transactions: every node fires its watch
 * exactly once (FACTS 9b), including the console device libxl adds (9a): the guest's
 * console/, libxl's record /libxl/D/device/console/0 and dom0's backend/console/D/0. On
 * destruction those go first, then the domain's own nodes (9f).
 */
static void test_toolstack_nodes(void) {
        static char paths[MAX_EVENTS][96];
        struct xs_handle *xs = xs_open(0), *w = xs_open(0);
        unsigned n;
        char p[128], q[160];

        CHECK(xs && w, "xs_open");
        if (!xs || !w)
                return;
        CHECK(xs_watch(w, "/local/domain", "L") && xs_watch(w, "/libxl", "X") &&
              xs_watch(w, "/vm", "V"), "watch");
        CHECK(watch_paths(w, 300, paths) == 3, "registration events");
        uint32_t d = st_domain("nodes", 2);
        n = watch_paths(w, 300, paths);
        CHECK(n > 40, "only %u watch events for a new domain", n);
        for (unsigned i = 0; i < n; i++)
                CHECK(path_index(paths, n, paths[i]) == (int)i, "%s fired more than once",
                      paths[i]);
        char base[3][64];
        snprintf(base[0], sizeof(base[0]), "/local/domain/%u", d);
        snprintf(base[1], sizeof(base[1]), "/local/domain/0/backend/console/%u/0", d);
        snprintf(base[2], sizeof(base[2]), "/libxl/%u/device/console/0", d);
        static const struct {
                unsigned base;
                const char *suffix;
        } want[] = {
                { 0, "" }, { 0, "/name" }, { 0, "/cpu/1/availability" }, { 0, "/console" },
                { 0, "/console/tty" }, { 0, "/console/backend-id" }, { 1, "" },
                { 1, "/frontend" }, { 1, "/frontend-id" }, { 1, "/online" }, { 1, "/state" },
                { 1, "/protocol" }, { 2, "/frontend" }, { 2, "/backend" }, { 2, "/frontend-id" },
                { 2, "/state" },
        };
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                snprintf(p, sizeof(p), "%s%s", base[want[i].base], want[i].suffix);
                CHECK(path_index(paths, n, p) >= 0, "no watch event for %s", p);
                CHECK(xs_has(xs, p, NULL), "%s missing", p);
        }
        /* The guest's name comes before the introduction, the console after it (9b). */
        snprintf(p, sizeof(p), "/local/domain/%u/name", d);
        snprintf(q, sizeof(q), "/local/domain/%u/console/tty", d);
        CHECK(path_index(paths, n, p) < path_index(paths, n, q), "console before name");
        snprintf(p, sizeof(p), "/local/domain/0/backend/console/%u/0", d);
        snprintf(q, sizeof(q), "/local/domain/%u/console/backend", d);
        CHECK(xs_has(xs, q, p), "console/backend");
        snprintf(q, sizeof(q), "/libxl/%u/device/console/0/backend", d);
        CHECK(xs_has(xs, q, p), "libxl's console record");
        snprintf(q, sizeof(q), "%s/frontend", p);
        snprintf(p, sizeof(p), "/local/domain/%u/console", d);
        CHECK(xs_has(xs, q, p), "backend's frontend");
        snprintf(q, sizeof(q), "/local/domain/0/backend/console/%u/0/state", d);
        CHECK(xs_has(xs, q, "1"), "backend state");
        snprintf(q, sizeof(q), "/local/domain/0/backend/console/%u/0/protocol", d);
        CHECK(xs_has(xs, q, "vt100"), "backend protocol");
        {
                struct xs_permissions *perms;
                unsigned np = 0;
                snprintf(q, sizeof(q), "/local/domain/%u/console/backend-id", d);
                perms = xs_get_permissions(xs, XBT_NULL, q, &np);
                CHECK(perms && np == 2 && perms[0].id == d && perms[0].perms == XS_PERM_NONE &&
                      perms[1].id == 0 && perms[1].perms == XS_PERM_READ,
                      "console/backend-id perms");
                free(perms);
                snprintf(q, sizeof(q), "/local/domain/0/backend/console/%u/0", d);
                perms = xs_get_permissions(xs, XBT_NULL, q, &np);
                CHECK(perms && np == 2 && perms[0].id == 0 && perms[0].perms == XS_PERM_NONE &&
                      perms[1].id == d && perms[1].perms == XS_PERM_READ, "backend perms");
                free(perms);
        }

        CHECK(xsg_domain_destroy(st_guest(), d) == 0, "destroy");
        n = watch_paths(w, 300, paths);
        snprintf(p, sizeof(p), "/local/domain/%u/console", d);
        snprintf(q, sizeof(q), "/local/domain/%u", d);
        CHECK(path_index(paths, n, p) >= 0 && path_index(paths, n, p) < path_index(paths, n, q),
              "the console is not removed before the domain");
        snprintf(p, sizeof(p), "/local/domain/0/backend/console/%u/0", d);
        CHECK(path_index(paths, n, p) >= 0, "no removal event for %s", p);
        snprintf(p, sizeof(p), "/local/domain/0/backend/console/%u", d);
        CHECK(path_index(paths, n, p) >= 0 && !xs_has(xs, p, NULL), "%s left", p);
        snprintf(p, sizeof(p), "/libxl/%u", d);
        CHECK(path_index(paths, n, p) >= 0 && !xs_has(xs, p, NULL), "%s left", p);
        xs_close(w);
        xs_close(xs);
}

struct poweroff {
        uint32_t domid;
        int r;
        long ms;
};

static void *poweroff_main(void *arg) {
        struct poweroff *po = arg;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        po->r = xsg_domain_poweroff(st_guest(), po->domid);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        po->ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        return NULL;
}

/* The toolstack side: xenstore entries, growing domids, @introduceDomain/@releaseDomain. */
static void test_xenstore(void) {
        struct xs_handle *xs = xs_open(0);
        unsigned len;
        char *v;
        CHECK(xs != NULL, "xs_open");
        if (!xs)
                return;
        v = xs_read(xs, XBT_NULL, "/local/domain/0/name", &len);
        CHECK(v && !strcmp(v, "Domain-0"), "dom0 name %s", v ? v : "(null)");
        free(v);
        CHECK(xs_watch(xs, "@introduceDomain", "I") && xs_watch(xs, "@releaseDomain", "R"),
              "watch");
        /* Registering fires each watch once. */
        char t1 = next_watch(xs), t2 = next_watch(xs);
        CHECK(t1 + t2 == 'I' + 'R', "initial watch events %c %c", t1 ? t1 : '-', t2 ? t2 : '-');
        uint32_t d = st_domain("xsguest", 3);
        CHECK(next_watch(xs) == 'I', "no @introduceDomain after create");
        {
                char p0[64];
                snprintf(p0, sizeof(p0), "/local/domain/%u/name", d);
                v = xs_read(xs, XBT_NULL, p0, &len);
                CHECK(v != NULL, "name missing when @introduceDomain fired");
                free(v);
        }
        char p[64];
        snprintf(p, sizeof(p), "/local/domain/%u/name", d);
        v = xs_read(xs, XBT_NULL, p, &len);
        CHECK(v && !strcmp(v, "xsguest"), "guest name %s", v ? v : "(null)");
        free(v);
        snprintf(p, sizeof(p), "/local/domain/%u/cpu/2/availability", d);
        v = xs_read(xs, XBT_NULL, p, &len);
        CHECK(v && !strcmp(v, "online"), "cpu/2 %s", v ? v : "(null)");
        free(v);
        CHECK(xs_is_domain_introduced(xs, d), "introduced");
        CHECK(xsg_domain_crash(st_guest(), d) == 0, "crash");
        CHECK(next_watch(xs) == 'R', "no @releaseDomain after the crash");
        CHECK(xs_is_domain_introduced(xs, d), "a crashed domain stays introduced");
        CHECK(xsg_domain_destroy(st_guest(), d) == 0, "destroy");
        CHECK(next_watch(xs) == 'R', "no @releaseDomain after destroy");
        snprintf(p, sizeof(p), "/local/domain/%u", d);
        v = xs_read(xs, XBT_NULL, p, &len);
        CHECK(v == NULL, "entries removed");
        free(v);
        uint32_t d2 = st_domain("xsguest", 1);
        CHECK(d2 > d, "re-created guest gets a new domid (%u after %u)", d2, d);
        CHECK(next_watch(xs) == 'I', "@introduceDomain");
        /*
         * Power-off (FACTS 9g): a first @releaseDomain while the domain is shut down but still
         * there, its nodes present and it introduced; about 0.33 s later the nodes go and a
         * second @releaseDomain comes. The call returns once the domain is destroyed.
         */
        uint32_t d3 = st_domain("poweroff", 1);
        CHECK(next_watch(xs) == 'I', "@introduceDomain");
        struct poweroff po = { .domid = d3, .r = 1 };
        pthread_t th;
        CHECK(pthread_create(&th, NULL, poweroff_main, &po) == 0, "pthread_create");
        CHECK(next_watch(xs) == 'R', "no @releaseDomain at the shutdown");
        snprintf(p, sizeof(p), "/local/domain/%u/name", d3);
        v = xs_read(xs, XBT_NULL, p, &len);
        CHECK(v && !strcmp(v, "poweroff"), "nodes gone at the first @releaseDomain of a poweroff");
        free(v);
        CHECK(xs_is_domain_introduced(xs, d3), "no longer introduced at the first @releaseDomain");
        struct xsg_domain_info pi;
        CHECK(xsg_domain_info(st_guest(), d3, &pi) == 0 && pi.state == XSG_DOMAIN_SHUTDOWN,
              "the domain is not there, shut down, at the first @releaseDomain");
        uint64_t vv;
        CHECK(xsg_read(st_guest(), d3, 0, XSG_MMIO, 0xfe000000, 4, &vv, 500) == -EHOSTDOWN,
              "a shut-down domain's vCPU runs");
        CHECK(next_watch(xs) == 'R', "no second @releaseDomain on poweroff");
        pthread_join(th, NULL);
        CHECK(po.r == 0 && po.ms >= 300, "poweroff: r=%d after %ld ms", po.r, po.ms);
        v = xs_read(xs, XBT_NULL, p, &len);
        CHECK(v == NULL, "nodes left after the poweroff");
        free(v);
        CHECK(xsg_domain_info(st_guest(), d3, &pi) == -ESRCH, "powered-off domain still there");
        CHECK(xsg_domain_create(st_guest(), "xsguest", 1, NULL) == -EEXIST, "duplicate name");
        CHECK(xsg_domain_create(st_guest(), "bad/name", 1, NULL) == -EINVAL, "bad name");
        CHECK(xsg_domain_create(st_guest(), "many", 129, NULL) == -EINVAL, "129 vCPUs");
        xsg_domain_destroy(st_guest(), d2);
        xs_close(xs);
}

int main(int argc, char **argv) {
        st_init(argc, argv, 60);
        uint32_t dom = st_domain("servers", 2);
        uint32_t other = st_domain("other", 1);
        xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
        xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
        CHECK(dm && fm, "open");
        if (!dm || !fm)
                return st_finish() | 1;
        test_ids(dm, dom);
        test_ranges(dm, dom);
        test_page(dm, fm, dom);
        test_misc(dm, dom);
        test_restrict(dom, other);
        test_restrict_shared(dom, other);
        test_restrict_all(dom);
        test_zombie();
        test_xenstore();
        test_toolstack_nodes();
        xenforeignmemory_close(fm);
        xendevicemodel_close(dm);
        return st_finish();
}
