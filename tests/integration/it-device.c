/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The example backend as a virtio-mmio device front end, driven by xensim's
 * virtio driver the way a guest kernel probes a device: magic, version,
 * device id, features, queue set-up, DRIVER_OK, a kick, the interrupt, its
 * acknowledgement.  The backend has no Xen library and no ioreq server: its
 * registers come through a claim, its kicks through an ioeventfd, its
 * interrupt goes out through a LEVEL irqfd (raised by the kick, lowered when
 * the driver acknowledges).  Its counters at exit must agree with what the
 * guest did and what xensim recorded.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itlib.h"
#include "xensim-virtio.h"

#define BASE            UINT64_C(0xfe000000)
#define SPI             33u
#define RAM_AREA        UINT64_C(0x100000)

static It it;

int main(int argc, char **argv) {
        struct xsv_config cfg = { 0 };
        struct xsg_irq e;
        ItProgram b;
        char base[32];
        char socket[512];
        uint64_t v = 0, seq = 0;
        unsigned long accesses = 0, kicks = 0, raised = 0, lowered = 0;
        const char *line;
        uint32_t dom;
        xsv *d = NULL;
        int status, r;

        it_init(&it, "it-device", argc, argv);
        it_write_global(&it, NULL);
        it_write_guest(&it, "g1", NULL);
        CHECK_EQ(xsg_domain_create_ram(it.xsg, "g1", 2, 0, 16u << 20, &dom), 0, "a domain with RAM");
        it_daemon_start(&it, NULL);
        it_socket_path(&it, "g1", socket, sizeof socket);

        snprintf(base, sizeof base, "0x%llx", (unsigned long long) BASE);
        it_program_start(&b, (const char *const[]) { "examples/xen-ioreqd-example-backend", "--socket", socket,
                                                     "--device", "2", "--irq", "line:33", "--irq-mode", "level",
                                                     "--base", base, "--wait", "5", "--interval", "0", NULL });
        line = it_program_line(&b, "ready ");
        CHECK(strstr(line, "device=2") && strstr(line, "irq-mode=level"), "the backend is ready: %s", line);

        /* what a guest kernel's probe does, through the device's window */
        cfg = (struct xsv_config) {
                .domid = dom,
                .base = BASE,
                .device_id = 2,
                .queue = 0,
                .ram_gpa = RAM_AREA,
                .ram_len = 0x80000,
                .vcpu = 0,
                .irq_kind = XSG_IRQ_LEVEL,
                .irq_a = SPI,
                .timeout_ms = IT_TIMEOUT_MS,
        };
        r = xsv_open(&d, it.xsg, &cfg);
        CHECK_EQ(r, 0, "probing the device: magic, version 2, device id 2, features, queue 0, DRIVER_OK");
        CHECK(xsv_features(d) & (UINT64_C(1) << 32), "VIRTIO_F_VERSION_1 negotiated");
        CHECK_EQ(xsv_reg_read(d, 1, 0x000, 4, &v), 0, "reading MagicValue from vCPU 1");
        CHECK_EQ(v, 0x74726976, "MagicValue");
        CHECK_EQ(xsv_reg_read(d, 1, 0x004, 4, &v), 0, "reading Version");
        CHECK_EQ(v, 2, "Version");
        CHECK_EQ(xsv_reg_read(d, 0, 0x070, 4, &v), 0, "reading Status");
        CHECK(v & 4, "DRIVER_OK is set (status 0x%llx)", (unsigned long long) v);

        /* the log so far: nothing raised yet */
        while (xsg_irq_next(it.xsg, dom, seq, &e) == 0)
                seq = e.seq;

        /* a kick: by ioeventfd to the backend, which raises its interrupt through the irqfd */
        CHECK_EQ(xsv_kick(d, 0), 0, "kicking queue 0");
        line = it_program_line(&b, "kick ");
        CHECK(strstr(line, "q=0"), "the backend got the kick of queue 0: %s", line);
        CHECK_EQ(xsg_irq_wait(it.xsg, dom, seq, IT_TIMEOUT_MS, &e), 0, "an interrupt after the kick");
        CHECK(e.kind == XSG_IRQ_LEVEL && e.a == SPI && e.b == 1, "SPI 33 raised (kind %d a %llu b %llu)",
              (int) e.kind, (unsigned long long) e.a, (unsigned long long) e.b);
        seq = e.seq;
        CHECK(xsg_irq_wait(it.xsg, dom, seq, 200, &e) == -ETIMEDOUT, "level: the line stays up");

        /* the interrupt handler: InterruptStatus, then InterruptACK, which lowers the line */
        CHECK_EQ(xsv_reg_read(d, 0, 0x060, 4, &v), 0, "reading InterruptStatus");
        CHECK_EQ(v & 1, 1, "InterruptStatus says the used ring was updated");
        CHECK_EQ(xsv_reg_write(d, 0, 0x064, 4, v), 0, "writing InterruptACK");
        CHECK_EQ(xsg_irq_wait(it.xsg, dom, seq, IT_TIMEOUT_MS, &e), 0, "the line lowered after the ACK");
        CHECK(e.kind == XSG_IRQ_LEVEL && e.a == SPI && e.b == 0, "SPI 33 lowered");
        CHECK_EQ(xsv_reg_read(d, 0, 0x060, 4, &v), 0, "reading InterruptStatus again");
        CHECK_EQ(v, 0, "nothing pending after the ACK");

        /* the backend's counters: every register access forwarded, one kick, one raise, one lower */
        d = xsv_close(d);
        CHECK(kill(b.pid, SIGTERM) == 0, "stopping the backend: %m");
        line = it_program_line(&b, "device ");
        r = sscanf(line, "device accesses=%lu kicks=%lu raised=%lu lowered=%lu", &accesses, &kicks, &raised,
                   &lowered);
        CHECK(r == 4, "the backend's counters: %s", line);
        CHECK_EQ(kicks, 1, "kicks the backend served");
        CHECK_EQ(raised, 1, "interrupts it raised");
        CHECK_EQ(lowered, 1, "interrupts it lowered");
        CHECK(accesses >= 20, "register accesses forwarded to it (%lu)", accesses);
        CHECK(waitpid(b.pid, &status, 0) == b.pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the backend exits 0 (status 0x%x)", status);
        fclose(b.out);
        it_fini(&it);
        return 0;
}
