/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * scenario-vb-vblk.c - one scenario of xirq-bench (xirq-bench.h): VB, the example virtio-blk
 * device (examples/xen-ioreqd-vblk) served by xen-ioreqd, against the floor's kick-only
 * figures in the same run.
 *
 * A guest with 4 vCPUs and RAM, a 16 MiB disk file, xen-ioreqd-vblk serving it through the
 * daemon (an ioeventfd for QUEUE_NOTIFY, an irqfd on SPI 33, a claim of its registers), and
 * xensim's virtio driver in this process (xsv_blk_load): 4 KiB requests at random offsets,
 * one in flight per vCPU, all reads or all writes, with 1 and 4 vCPUs.  Each request is one
 * kick (the daemon's fast path), one interrupt injected by the irqfd, and the interrupt
 * handler's two register accesses (InterruptStatus, InterruptACK) forwarded through the
 * claim.  The CPU time of the daemon (its parent and its worker) and of the device process
 * is taken around every measured run.  Beside them, on another domain, the floor server and
 * bench-backend with kicks only (xsg_load), the same vCPUs.  The kinds take turns round by
 * round.  At the end the daemon's kicks (QUERY) and the device's kicks and requests must be
 * what the driver did.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_blk.h>

#include "testutil.h"
#include "xensim-virtio.h"
#include "xirq-bench.h"

#define VB_VCPUS        4u
#define VB_SPI          33u
#define VB_DISK         (UINT64_C(16) << 20)
#define VB_RAM_AREA     UINT64_C(0x100000)

enum { K_READ, K_WRITE, K_FLOOR, K_KINDS };
static const char *const kind_names[K_KINDS] = { "read", "write", "floor" };

typedef struct VbFigures {
        double count, secs;
        double cpu_daemon, cpu_device;          /* seconds over the measured runs */
        double cpu_parent;                      /* of cpu_daemon, the daemon's parent's */
        double rate[MAX_ROUNDS], p50[MAX_ROUNDS], p99[MAX_ROUNDS];
        unsigned n;
} VbFigures;

/* the device's counter key=N of a vblk line */
static uint64_t vb_field(const char *line, const char *key) {
        char pat[48];
        const char *p;

        snprintf(pat, sizeof pat, " %s=", key);
        p = strstr(line, pat);
        if (!p)
                die("VB: no %s in the device's counters: %s", key, line);
        return strtoull(p + strlen(pat), NULL, 10);
}

/* the last line of the device's log starting with prefix, within timeout_ms */
static void vb_log_line(const char *log, const char *prefix, char *buf, size_t size, int timeout_ms) {
        uint64_t deadline = now_ns() + (uint64_t) timeout_ms * 1000000u;

        for (;;) {
                FILE *f = fopen(log, "re");
                char line[1024];
                bool found = false;

                while (f && fgets(line, sizeof line, f))
                        if (strncmp(line, prefix, strlen(prefix)) == 0) {
                                snprintf(buf, size, "%s", line);
                                found = true;
                        }
                if (f)
                        fclose(f);
                if (found)
                        return;
                if (now_ns() > deadline)
                        die("VB: no \"%s\" line from xen-ioreqd-vblk within %d ms (see %s)", prefix, timeout_ms, log);
                sleep_us(5000);
        }
}

static pid_t vb_device_start(Env *e, const char *sock, const char *disk, const char *log) {
        char exe[PATH_MAX + 32], base[32];
        const char *env[] = { e->libs, NULL };
        const char *argv[] = { exe, "--socket", sock, "--file", disk, "--irq", "line:33", "--base", base, NULL };
        char line[512];
        pid_t pid;

        snprintf(exe, sizeof exe, "%s/examples/xen-ioreqd-vblk", opt.builddir);
        snprintf(base, sizeof base, "0x%" PRIx64, (uint64_t) KICK_BASE);
        pid = proc_spawn(argv, env, log, NULL, 0);
        if (pid < 0)
                die("VB: cannot start %s: %s", exe, strerror(-pid));
        vb_log_line(log, "ready ", line, sizeof line, WAIT_MS);
        return pid;
}

/*
 * The disk file: in /dev/shm when there is one, so that what is measured is the daemon and the
 * device, not the host's disk (a write the page cache holds back stalls the device, which
 * serves in one thread, and the daemon gives up on an access the device leaves unanswered for
 * its claim's deadline); else in the scenario's directory.
 */
static void vb_disk_path(const Env *e, char *buf, size_t size) {
        snprintf(buf, size, "/dev/shm/xirq-bench-vb-XXXXXX");
        if (access("/dev/shm", W_OK) != 0 || !mkdtemp(buf))
                snprintf(buf, size, "%s", e->dir);
        snprintf(buf + strlen(buf), size - strlen(buf), "/disk.img");
}

static void vb_disk(const char *path) {
        static uint8_t buf[1 << 20];
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

        if (fd < 0)
                die("VB: cannot create %s: %m", path);
        for (size_t i = 0; i < sizeof buf; i++)
                buf[i] = (uint8_t) (i * 131 + (i >> 12));
        for (uint64_t off = 0; off < VB_DISK; off += sizeof buf)
                if (pwrite(fd, buf, sizeof buf, (off_t) off) != (ssize_t) sizeof buf)
                        die("VB: cannot write %s: %m", path);
        close(fd);
}

static double vb_median(const double *v, unsigned n) {
        double tmp[MAX_ROUNDS];

        memcpy(tmp, v, n * sizeof(*v));
        return median(tmp, n);
}

/* one measured run of kind k with nv vCPUs, its figures added to f (unless warm-up) */
static void vb_run(Env *e, Daemon *d, pid_t dev, xsv *drv, Side *sf, uint64_t sectors, unsigned k,
                   unsigned nv, double seconds, unsigned round, VbFigures *f, bool measure) {
        static CpuSpan span_d, span_b;
        double count, secs, p50, p99;

        if (k == K_FLOOR) {
                struct xsg_load_opts o = {
                        .domids = &sf->domid, .nr_domids = 1, .vcpus = nv, .seconds = seconds, .space = XSG_MMIO,
                        .dir = XSG_WRITE, .addr = KICK_ADDR, .size = 4, .data = 0, .timeout_ms = 10000,
                };
                struct xsg_load_result res;
                int r;

                cpu_span_start(&span_d, sf->server, false);
                r = xsg_load(e->g, &o, &res);
                if (r < 0 || res.errors)
                        die("VB: floor load: %s, %" PRIu64 " errors", strerror(r < 0 ? -r : 0), res.errors);
                if (measure)
                        f->cpu_daemon += cpu_span_end(&span_d, sf->server, false, NULL, "VB floor");
                atomic_fetch_add(&sf->be.shm->kicks, res.count);
                backend_drain(&sf->be, atomic_load(&sf->be.shm->kicks), "VB floor");
                count = (double) res.count;
                secs = res.seconds;
                p50 = res.p50_us;
                p99 = res.p99_us;
        } else {
                struct xsv_blk_load_opts o = {
                        .vcpus = nv, .len = 4096, .write_pct = k == K_WRITE ? 100 : 0, .sectors = sectors,
                        .seconds = seconds, .seed = round * 2 + k + 1,
                };
                struct xsv_blk_load_result res;
                int r;

                cpu_span_start(&span_d, d->pid, true);
                cpu_span_start(&span_b, dev, false);
                r = xsv_blk_load(drv, &o, &res);
                if (r < 0 || res.errors)
                        die("VB: %s load on %u vCPUs: %s, %" PRIu64 " errors (see %s/vblk.log)", kind_names[k], nv,
                            strerror(r < 0 ? -r : 0), res.errors, e->dir);
                if (measure) {
                        f->cpu_daemon += cpu_span_end(&span_d, d->pid, true, NULL, "VB xen-ioreqd");
                        f->cpu_parent += span_d.parent_used;
                        f->cpu_device += cpu_span_end(&span_b, dev, false, NULL, "VB xen-ioreqd-vblk");
                }
                count = (double) (res.reads + res.writes);
                secs = res.seconds;
                p50 = res.p50_us;
                p99 = res.p99_us;
        }
        if (!measure)
                return;
        f->count += count;
        f->secs += secs;
        if (f->n < MAX_ROUNDS) {
                f->rate[f->n] = count / secs;
                f->p50[f->n] = p50;
                f->p99[f->n] = p99;
                f->n++;
        }
}

void scenario_vb(void) {
        static const unsigned sizes[] = { 1, VB_VCPUS };
        unsigned rounds = opt.quick ? 2 : 8;
        double seconds = opt.quick ? 0.25 : 1.0;
        char disk[400], sock[400], log[400], line[1024];
        struct xsv_config cfg = {
                .base = KICK_BASE, .device_id = VIRTIO_ID_BLOCK, .features = UINT64_C(1) << VIRTIO_BLK_F_FLUSH,
                .ram_gpa = VB_RAM_AREA, .ram_len = UINT64_C(1) << 20, .irq_kind = XSG_IRQ_LEVEL, .irq_a = VB_SPI,
                .timeout_ms = 10000,
        };
        uint64_t lo = 0, hi = 0, sectors, kicks0;
        struct xsv_stats st;
        xenioreqd_guest_info gi;
        xenioreqd_client *c;
        Side sf = { .name = "floor" };
        pid_t dev;
        Daemon d;
        xsv *drv = NULL;
        Env e;
        Sb *j = &json_results;
        int r;

        say("VB virtio-blk: xen-ioreqd-vblk served by xen-ioreqd, 4 KiB random requests, one in flight per vCPU, "
            "beside the floor's kicks; %u rounds x %.2f s per kind and size\n", rounds, seconds);
        env_start(&e, "vb");
        daemon_init(&e, &d, "xen-ioreqd");
        daemon_guest(&d, "vbd", NULL);
        r = xsg_domain_create_ram(e.g, "vbd", VB_VCPUS, 0, 0, &cfg.domid);
        if (r < 0)
                die("VB: cannot create domain vbd: %s", strerror(-r));
        sf.domid = domain_create(&e, "vbf", VB_VCPUS);
        daemon_start(&e, &d, NULL);
        c = daemon_connect(&d, "vbd", cfg.domid, WAIT_MS);

        vb_disk_path(&e, disk, sizeof disk);
        vb_disk(disk);
        daemon_socket(&d, "vbd", sock, sizeof sock);
        snprintf(log, sizeof log, "%s/vblk.log", e.dir);
        dev = vb_device_start(&e, sock, disk, log);
        /* the device holds it open: nothing is left behind in /dev/shm, whatever happens next */
        if (strncmp(disk, "/dev/shm/", 9) == 0) {
                unlink(disk);
                *strrchr(disk, '/') = '\0';
                rmdir(disk);
        }
        side_start_floor(&e, &sf, "vbf");

        r = xsv_open(&drv, e.g, &cfg);
        if (r == 0)
                r = xsv_reg_read(drv, 0, 0x100, 4, &lo);
        if (r == 0)
                r = xsv_reg_read(drv, 0, 0x104, 4, &hi);
        if (r < 0)
                die("VB: the guest's driver could not set up the disk: %s (see %s)", strerror(-r), log);
        sectors = lo | hi << 32;
        if (sectors != VB_DISK / 512)
                die("VB: the disk has %" PRIu64 " sectors, not %" PRIu64, sectors, VB_DISK / 512);
        if (xenioreqd_query(c, &gi) < 0)
                die("VB: QUERY failed");
        kicks0 = gi.kicks;

        for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
                unsigned nv = sizes[z];
                VbFigures f[K_KINDS] = { 0 };
                char id[32], what[160], note[200];
                double rate[K_KINDS], share[2], per_req_d[2], per_req_b[2], floor_per_kick, ratio;

                /* warm-up, then rounds; the kinds take turns, the order flips every round */
                for (unsigned k = 0; k < K_KINDS; k++)
                        vb_run(&e, &d, dev, drv, &sf, sectors, k, nv, 0.1, 0, &f[k], false);
                for (unsigned rd = 0; rd < rounds; rd++)
                        for (unsigned i = 0; i < K_KINDS; i++) {
                                unsigned k = rd % 2 ? K_KINDS - 1 - i : i;

                                vb_run(&e, &d, dev, drv, &sf, sectors, k, nv, seconds, rd + 1, &f[k], true);
                        }
                for (unsigned k = 0; k < K_KINDS; k++)
                        rate[k] = f[k].count / f[k].secs;
                for (unsigned k = 0; k < 2; k++) {
                        per_req_d[k] = f[k].cpu_daemon / f[k].count * 1e6;
                        per_req_b[k] = f[k].cpu_device / f[k].count * 1e6;
                        share[k] = f[k].cpu_daemon / (f[k].cpu_daemon + f[k].cpu_device);
                }
                floor_per_kick = f[K_FLOOR].cpu_daemon / f[K_FLOOR].count * 1e6;
                for (unsigned k = 0; k < 2; k++)
                        say("  %u vCPU%s 4 KiB random %-5s %8.0f req/s (median of rounds %8.0f) | rt p50 %7.2f p99 %7.2f us "
                            "| CPU us/req: xen-ioreqd %6.2f (parent %.2f), device %6.2f; xen-ioreqd's share %4.1f %%, "
                            "of wall %4.1f %%, device's of wall %4.1f %%\n",
                            nv, nv == 1 ? " " : "s", kind_names[k], rate[k], vb_median(f[k].rate, f[k].n),
                            vb_median(f[k].p50, f[k].n), vb_median(f[k].p99, f[k].n), per_req_d[k],
                            f[k].cpu_parent / f[k].count * 1e6, per_req_b[k], share[k] * 100, f[k].cpu_daemon / f[k].secs * 100, f[k].cpu_device / f[k].secs * 100);
                say("  %u vCPU%s floor, kicks only   %8.0f kicks/s (median of rounds %8.0f) | rt p50 %7.2f p99 %7.2f us "
                    "| CPU us/kick: floor %6.2f\n",
                    nv, nv == 1 ? " " : "s", rate[K_FLOOR], vb_median(f[K_FLOOR].rate, f[K_FLOOR].n),
                    vb_median(f[K_FLOOR].p50, f[K_FLOOR].n), vb_median(f[K_FLOOR].p99, f[K_FLOOR].n), floor_per_kick);

                /*
                 * A request makes the daemon serve three guest exits (the kick, and the handler's
                 * InterruptStatus read and InterruptACK write through the claim) and inject one
                 * interrupt; a floor kick is one exit.  Four floor kicks' CPU per request: no more
                 * per operation than the floor.
                 */
                ratio = per_req_d[K_READ] / floor_per_kick;
                snprintf(id, sizeof id, "VB.cpu%u", nv);
                snprintf(what, sizeof what, "xen-ioreqd CPU per 4 KiB read / floor CPU per kick, %u vCPU%s", nv,
                         nv == 1 ? "" : "s");
                snprintf(note, sizeof note, "%.2f vs %.2f us; reads %.0f/s, writes %.0f/s, floor %.0f kicks/s",
                         per_req_d[K_READ], floor_per_kick, rate[K_READ], rate[K_WRITE], rate[K_FLOOR]);
                target_add(id, what, ratio, 4.0, false, note);
                sb_printf(j,
                          "%s{\"id\": \"VB\", \"vcpus\": %u, \"rounds\": %u, \"seconds_per_round\": %.2f, \"request_bytes\": 4096",
                          j->len ? ",\n" : "", nv, rounds, seconds);
                for (unsigned k = 0; k < 2; k++)
                        sb_printf(j,
                                  ", \"%s\": {\"requests\": %.0f, \"seconds\": %.3f, \"requests_per_s\": %.1f, "
                                  "\"median_round_requests_per_s\": %.1f, \"p50_us\": %.3f, \"p99_us\": %.3f, "
                                  "\"cpu_seconds_xen_ioreqd\": %.4f, \"cpu_seconds_xen_ioreqd_parent\": %.4f, "
                                  "\"cpu_seconds_device\": %.4f, "
                                  "\"cpu_us_per_request_xen_ioreqd\": %.3f, \"cpu_us_per_request_device\": %.3f, "
                                  "\"xen_ioreqd_share\": %.4f}",
                                  kind_names[k], f[k].count, f[k].secs, rate[k], vb_median(f[k].rate, f[k].n),
                                  vb_median(f[k].p50, f[k].n), vb_median(f[k].p99, f[k].n), f[k].cpu_daemon,
                                  f[k].cpu_parent, f[k].cpu_device, per_req_d[k], per_req_b[k], share[k]);
                sb_printf(j,
                          ", \"floor\": {\"kicks\": %.0f, \"seconds\": %.3f, \"kicks_per_s\": %.1f, "
                          "\"median_round_kicks_per_s\": %.1f, \"p50_us\": %.3f, \"p99_us\": %.3f, \"cpu_seconds\": %.4f, "
                          "\"cpu_us_per_kick\": %.3f}, \"cpu_ratio\": %.4f}",
                          f[K_FLOOR].count, f[K_FLOOR].secs, rate[K_FLOOR], vb_median(f[K_FLOOR].rate, f[K_FLOOR].n),
                          vb_median(f[K_FLOOR].p50, f[K_FLOOR].n), vb_median(f[K_FLOOR].p99, f[K_FLOOR].n),
                          f[K_FLOOR].cpu_daemon, floor_per_kick, ratio);
        }

        /* what the driver did, against the daemon's and the device's counters */
        xsv_stats(drv, &st);
        if (xenioreqd_query(c, &gi) < 0)
                die("VB: QUERY failed");
        if (gi.kicks - kicks0 != st.kicks)
                die("VB: the daemon counted %" PRIu64 " kicks, the driver made %" PRIu64, gi.kicks - kicks0, st.kicks);
        drv = xsv_close(drv);
        if (proc_stop(dev, 5000) != 0)
                die("VB: xen-ioreqd-vblk did not exit cleanly (see %s)", log);
        vb_log_line(log, "vblk ", line, sizeof line, WAIT_MS);
        if (vb_field(line, "kicks") != st.kicks || vb_field(line, "requests") != st.completed)
                die("VB: the device counted %" PRIu64 " kicks and %" PRIu64 " requests, the driver %" PRIu64 " and %" PRIu64,
                    vb_field(line, "kicks"), vb_field(line, "requests"), st.kicks, st.completed);
        say("  counters: %" PRIu64 " requests and %" PRIu64 " kicks by the driver, the same in the daemon (kicks) and "
            "the device; %" PRIu64 " interrupts raised by the device\n",
            st.completed, st.kicks, vb_field(line, "interrupts"));
        backend_stop(&sf.be);
        proc_stop(sf.server, 3000);
        xenioreqd_close(c);
        daemon_stop(&d, 5000);
        env_stop(&e);
}
