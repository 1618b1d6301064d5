/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-floor - the smallest honest ioreq server, written straight against the Xen 4.17
 * libraries the way QEMU's loop works: poll the event channel fd → xenevtchn_pending →
 * xenevtchn_unmask → copy the vCPU's slot → (eventfd write if the write matches) →
 * IORESP_READY → xenevtchn_notify. It links against the system's libxen*, so running it with
 * LD_LIBRARY_PATH pointing at xensim's libraries also checks their ABI.
 *
 * Reads are answered with the last value written anywhere in the range (0 at start), so a
 * write followed by a read shows the round trip carried the data both ways.
 */
#include "autoconfig.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>

static volatile sig_atomic_t quit;

static void on_signal(int sig) {
        quit = 1;
        (void)sig;
}

static void usage(FILE *f) {
        fputs("Usage: xensim-floor --domid D --range START-END [--pio] [--match ADDR[=VALUE]]\n"
              "                    [--eventfd FD] [--ready-fd FD] [--server-id-file PATH]\n"
              "Serves one range of guest D until SIGTERM; prints \"xensim-floor: ready\".\n",
              f);
}

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;
        if (!s || !*s || *s == '-')
                return -1;
        errno = 0;
        *ret = strtoull(s, &end, 0);
        return errno || *end ? -1 : 0;
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "domid", required_argument, NULL, 'd' },
                { "range", required_argument, NULL, 'r' },
                { "pio", no_argument, NULL, 'p' },
                { "match", required_argument, NULL, 'm' },
                { "eventfd", required_argument, NULL, 'e' },
                { "ready-fd", required_argument, NULL, 'R' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        uint64_t domid = 0, start = 0, end = 0, match_addr = 0, match_val = 0, v;
        bool have_domid = false, have_range = false, match = false, match_value = false;
        bool is_mmio = true;
        int efd = -1, ready_fd = -1, c, ret = 1;
        xendevicemodel_handle *dm = NULL;
        xenforeignmemory_handle *fm = NULL;
        xenforeignmemory_resource_handle *res = NULL;
        xenevtchn_handle *xce = NULL;
        shared_iopage_t *page = NULL;
        ioservid_t id = 0;
        bool created = false;
        unsigned nr_vcpus = 0;
        evtchn_port_t *lport = NULL;
        uint64_t last = 0, served = 0;

        while ((c = getopt_long(argc, argv, "d:r:pm:e:R:h", opts, NULL)) != -1) {
                char *dash, *eq;
                switch (c) {
                case 'd':
                        if (parse_u64(optarg, &domid) < 0 || domid == 0 || domid >= 0x7ff0)
                                goto bad;
                        have_domid = true;
                        break;
                case 'r':
                        dash = strchr(optarg, '-');
                        if (!dash)
                                goto bad;
                        *dash = 0;
                        if (parse_u64(optarg, &start) < 0 || parse_u64(dash + 1, &end) < 0)
                                goto bad;
                        have_range = true;
                        break;
                case 'p':
                        is_mmio = false;
                        break;
                case 'm':
                        eq = strchr(optarg, '=');
                        if (eq) {
                                *eq = 0;
                                if (parse_u64(eq + 1, &match_val) < 0)
                                        goto bad;
                                match_value = true;
                        }
                        if (parse_u64(optarg, &match_addr) < 0)
                                goto bad;
                        match = true;
                        break;
                case 'e':
                        if (parse_u64(optarg, &v) < 0 || v > 65535)
                                goto bad;
                        efd = (int)v;
                        break;
                case 'R':
                        if (parse_u64(optarg, &v) < 0 || v > 65535)
                                goto bad;
                        ready_fd = (int)v;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        goto bad;
                }
        }
        if (!have_domid || !have_range || optind != argc)
                goto bad;

        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);

        xce = xenevtchn_open(NULL, 0);
        dm = xendevicemodel_open(NULL, 0);
        fm = xenforeignmemory_open(NULL, 0);
        if (!xce || !dm || !fm) {
                perror("xensim-floor: open");
                goto out;
        }
        if (xendevicemodel_nr_vcpus(dm, (domid_t)domid, &nr_vcpus) < 0 || nr_vcpus == 0 ||
            nr_vcpus > 128) {
                perror("xensim-floor: nr_vcpus");
                goto out;
        }
        lport = calloc(nr_vcpus, sizeof(*lport));
        if (!lport)
                goto out;
        if (xendevicemodel_create_ioreq_server(dm, (domid_t)domid, HVM_IOREQSRV_BUFIOREQ_OFF,
                                               &id) < 0) {
                perror("xensim-floor: create_ioreq_server");
                goto out;
        }
        created = true;
        res = xenforeignmemory_map_resource(fm, (domid_t)domid, XENMEM_resource_ioreq_server,
                                            id, XENMEM_resource_ioreq_server_frame_ioreq(0), 1,
                                            (void **)&page, PROT_READ | PROT_WRITE, 0);
        if (!res) {
                perror("xensim-floor: map_resource");
                goto out;
        }
        if (xendevicemodel_map_io_range_to_ioreq_server(dm, (domid_t)domid, id, is_mmio, start,
                                                        end) < 0 ||
            xendevicemodel_set_ioreq_server_state(dm, (domid_t)domid, id, 1) < 0) {
                perror("xensim-floor: map range / enable");
                goto out;
        }
        for (unsigned i = 0; i < nr_vcpus; i++) {
                xenevtchn_port_or_error_t p =
                        xenevtchn_bind_interdomain(xce, (uint32_t)domid,
                                                   page->vcpu_ioreq[i].vp_eport);
                if (p < 0) {
                        perror("xensim-floor: bind_interdomain");
                        goto out;
                }
                lport[i] = (evtchn_port_t)p;
        }
        printf("xensim-floor: ready server=%u vcpus=%u\n", id, nr_vcpus);
        fflush(stdout);
        if (ready_fd >= 0) {
                ssize_t n = write(ready_fd, "READY\n", 6);
                (void)n;
                close(ready_fd);
        }

        struct pollfd pfd = { .fd = xenevtchn_fd(xce), .events = POLLIN };
        while (!quit) {
                if (poll(&pfd, 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("xensim-floor: poll");
                        goto out;
                }
                xenevtchn_port_or_error_t port = xenevtchn_pending(xce);
                if (port < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                continue;
                        perror("xensim-floor: pending");
                        goto out;
                }
                xenevtchn_unmask(xce, (evtchn_port_t)port);
                unsigned vcpu;
                for (vcpu = 0; vcpu < nr_vcpus && lport[vcpu] != (evtchn_port_t)port; vcpu++)
                        ;
                if (vcpu == nr_vcpus)
                        continue;
                ioreq_t *slot = &page->vcpu_ioreq[vcpu];
                if (slot->state != STATE_IOREQ_READY)
                        continue;
                __atomic_thread_fence(__ATOMIC_ACQUIRE);       /* rmb, as QEMU */
                ioreq_t req = *slot;
                if (req.type == IOREQ_TYPE_COPY || req.type == IOREQ_TYPE_PIO) {
                        if (req.dir == IOREQ_WRITE) {
                                last = req.data;
                                if (efd >= 0 && match && req.addr == match_addr &&
                                    (!match_value || req.data == match_val)) {
                                        uint64_t one = 1;
                                        ssize_t n = write(efd, &one, sizeof(one));
                                        (void)n;
                                }
                        } else {
                                slot->data = last;
                        }
                }
                served++;
                __atomic_thread_fence(__ATOMIC_RELEASE);       /* wmb, as QEMU */
                slot->state = STATE_IORESP_READY;
                xenevtchn_notify(xce, (evtchn_port_t)port);
        }
        ret = 0;
out:
        if (created && dm)
                xendevicemodel_destroy_ioreq_server(dm, (domid_t)domid, id);
        if (res)
                xenforeignmemory_unmap_resource(fm, res);
        free(lport);
        xenevtchn_close(xce);
        xenforeignmemory_close(fm);
        xendevicemodel_close(dm);
        if (ret == 0)
                fprintf(stderr, "xensim-floor: served %" PRIu64 " requests\n", served);
        return ret;
bad:
        usage(stderr);
        return 2;
}
