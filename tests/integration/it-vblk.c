/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xen-ioreqd-vblk, the example virtio-blk disk, served by the real daemon on
 * xensim to xensim's virtio driver (xensim-virtio.h) as the guest: the
 * device's registers through a claim, its kicks through an ioeventfd, its
 * interrupt through an irqfd (SPI 33, edge), the guest's memory mapped by
 * the device with xenforeignmemory.  The disk is a file in the test's
 * directory, checked on both sides: what the guest writes is in the file,
 * what the file holds is what the guest reads.  Then GET_ID, FLUSH, many
 * requests in flight from four vCPUs at once, and a hostile driver: buffers
 * past the guest's RAM, an unknown request type (answered with an error
 * status), a loop in a descriptor chain, a head or a next index past the
 * ring (the device fails and is reset), after each of which the backend
 * must be alive and serving.  At the end the counters must agree: the
 * daemon's kicks (QUERY), the device's kicks, requests and interrupts, the
 * guest driver's kicks and completions, and the raises in xensim's
 * interrupt log.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/virtio_blk.h>

#include "itlib.h"
#include "xensim-virtio.h"

#define BASE            UINT64_C(0xfe000000)
#define SPI             33u
#define VCPUS           4u
#define RAM_BYTES       (UINT64_C(16) << 20)
#define RAM_AREA        UINT64_C(0x100000)      /* the driver's rings and slots */
#define RAM_AREA_LEN    UINT64_C(0x100000)
#define QUEUE_SIZE      128u                    /* VCPUS x DEPTH chains of 3 in flight */
#define SECTORS         2048u                   /* a 1 MiB disk */
#define SERIAL          "it-vblk-serial-0042"
#define BLK             4096u                   /* the usual request */
/* the features a Linux virtio-blk driver takes of what the device offers */
#define FEATURES        ((UINT64_C(1) << VIRTIO_BLK_F_FLUSH) | (UINT64_C(1) << VIRTIO_BLK_F_BLK_SIZE) | \
                         (UINT64_C(1) << VIRTIO_BLK_F_SEG_MAX) | (UINT64_C(1) << VIRTIO_BLK_F_SIZE_MAX))
/* the many-requests part: per vCPU, rounds of DEPTH writes in flight, then DEPTH reads */
#define ROUNDS          6u
#define DEPTH           8u

static It it;
static uint32_t dom;
static int disk = -1;                   /* the test's own descriptor of the disk file */

/* ---- the backend and its output ---- */

static ItProgram be;

static void backend_start(ItProgram *b, const char *socket, const char *file) {
        char base[32];

        snprintf(base, sizeof base, "0x%llx", (unsigned long long) BASE);
        it_program_start(b, (const char *const[]) { "examples/xen-ioreqd-vblk", "--socket", socket, "--file", file,
                                                    "--irq", "line:33", "--base", base, "--serial", SERIAL,
                                                    "--wait", "5", "--verbose", NULL });
}

/* key=N of a line of counters */
static unsigned long long field(const char *line, const char *key) {
        char pat[64];
        const char *p;

        snprintf(pat, sizeof pat, " %s=", key);
        p = strstr(line, pat);
        CHECK(p, "no %s in \"%s\"", key, line);
        return strtoull(p + strlen(pat), NULL, 10);
}

static void backend_alive(const char *after) {
        int status;

        CHECK(waitpid(be.pid, &status, WNOHANG) == 0, "the backend still runs after %s (status 0x%x)", after,
              status);
}

/* ---- the disk's content ---- */

static uint8_t pattern(uint64_t offset, unsigned seed) {
        uint64_t x = (offset + 1) * UINT64_C(0x9e3779b97f4a7c15) + seed * UINT64_C(0xbf58476d1ce4e5b9);

        return (uint8_t) (x >> 56 ^ x >> 23);
}

static void fill(uint8_t *buf, size_t len, uint64_t offset, unsigned seed) {
        for (size_t i = 0; i < len; i++)
                buf[i] = pattern(offset + i, seed);
}

static void disk_read(uint64_t sector, void *buf, size_t len) {
        CHECK(pread(disk, buf, len, (off_t) (sector * 512)) == (ssize_t) len, "reading the disk file: %m");
}

static void disk_write(uint64_t sector, const void *buf, size_t len) {
        CHECK(pwrite(disk, buf, len, (off_t) (sector * 512)) == (ssize_t) len, "writing the disk file: %m");
}

/* ---- the guest's driver, and what every instance of it did ---- */

static struct xsv_stats total;          /* of the instances closed */
static unsigned long long resets;       /* failures the hostile driver caused */

static xsv *drv_open(void) {
        struct xsv_config cfg = {
                .domid = dom,
                .base = BASE,
                .device_id = 2,
                .features = FEATURES,
                .queue = 0,
                .queue_size = QUEUE_SIZE,
                .ram_gpa = RAM_AREA,
                .ram_len = RAM_AREA_LEN,
                .vcpu = 0,
                .irq_kind = XSG_IRQ_LEVEL,
                .irq_a = SPI,
                .timeout_ms = IT_TIMEOUT_MS,
        };
        xsv *d = NULL;

        CHECK_EQ(xsv_open(&d, it.xsg, &cfg), 0, "the driver probes and sets up the disk");
        return d;
}

static xsv *drv_close(xsv *d) {
        struct xsv_stats s;

        xsv_stats(d, &s);
        total.submitted += s.submitted;
        total.completed += s.completed;
        total.kicks += s.kicks;
        total.interrupts += s.interrupts;
        total.spurious += s.spurious;
        total.bad_used += s.bad_used;
        return xsv_close(d);
}

static uint8_t request(xsv *d, unsigned vcpu, uint32_t type, uint64_t sector, void *buf, uint32_t len) {
        uint8_t status = 0xee;

        CHECK_EQ(xsv_blk_request(d, vcpu, type, sector, buf, len, &status), 0, "a request and its interrupt");
        return status;
}

/* one read through the guest, checked against the file */
static void read_checked(xsv *d, unsigned vcpu, uint64_t sector, uint32_t len) {
        uint8_t got[BLK], want[BLK];

        CHECK(len <= BLK, "len");
        memset(got, 0x5a, len);
        CHECK_EQ(request(d, vcpu, VIRTIO_BLK_T_IN, sector, got, len), VIRTIO_BLK_S_OK, "the status of a read");
        disk_read(sector, want, len);
        CHECK(memcmp(got, want, len) == 0, "the guest read what the file holds at sector %llu (%u bytes)",
              (unsigned long long) sector, len);
}

/* ---- what xensim saw injected ---- */

typedef struct IrqCount {
        uint64_t seq;                   /* the newest entry counted */
        uint64_t entries, raises, lowers;
} IrqCount;

/* count the log's entries since the last call: SPI 33 only, edges (a raise, then a lower) */
static void irq_count(IrqCount *c) {
        struct xsg_irq e;

        while (xsg_irq_next(it.xsg, dom, c->seq, &e) == 0) {
                c->seq = e.seq;
                c->entries++;
                CHECK(e.kind == XSG_IRQ_LEVEL && e.a == SPI, "only SPI 33 is injected (kind %d a %llu)", (int) e.kind,
                      (unsigned long long) e.a);
                if (e.b)
                        c->raises++;
                else
                        c->lowers++;
        }
        CHECK(c->entries < 4096, "the interrupt log kept every entry (%llu)", (unsigned long long) c->entries);
}

/* ---- set-up and the plain requests ---- */

static void test_config(xsv *d) {
        uint64_t lo = 0, hi = 0, v = 0;

        CHECK(xsv_features(d) & (UINT64_C(1) << VIRTIO_BLK_F_FLUSH), "VIRTIO_BLK_F_FLUSH negotiated");
        CHECK(!(xsv_features(d) & (UINT64_C(1) << VIRTIO_BLK_F_RO)), "a writable disk");
        CHECK_EQ(xsv_reg_read(d, 1, 0x100, 4, &lo), 0, "reading capacity (low)");
        CHECK_EQ(xsv_reg_read(d, 1, 0x104, 4, &hi), 0, "reading capacity (high)");
        CHECK_EQ(lo | hi << 32, SECTORS, "capacity in sectors");
        CHECK_EQ(xsv_reg_read(d, 2, 0x114, 4, &v), 0, "reading blk_size");
        CHECK_EQ(v, 512, "blk_size");
}

static void test_round_trips(xsv *d) {
        static const uint64_t sectors[] = { 0, 1, 7, 8, 1000, SECTORS - 8 };
        uint8_t buf[BLK], back[BLK];

        /* file → guest: what the file was made with */
        for (size_t i = 0; i < sizeof(sectors) / sizeof(sectors[0]); i++) {
                read_checked(d, 0, sectors[i], BLK);
                read_checked(d, 1, sectors[i], 512);
        }
        read_checked(d, 3, SECTORS - 1, 512);

        /* guest → file */
        for (unsigned i = 0; i < 4; i++) {
                uint64_t sector = 64 + 24 * i;

                fill(buf, BLK, sector * 512, 100 + i);
                CHECK_EQ(request(d, i, VIRTIO_BLK_T_OUT, sector, buf, BLK), VIRTIO_BLK_S_OK, "a write's status");
                disk_read(sector, back, BLK);
                CHECK(memcmp(buf, back, BLK) == 0, "the file holds what the guest wrote at sector %llu",
                      (unsigned long long) sector);
                read_checked(d, (i + 1) % VCPUS, sector, BLK);
        }
        fill(buf, 512, 0, 7);
        CHECK_EQ(request(d, 2, VIRTIO_BLK_T_OUT, SECTORS - 1, buf, 512), VIRTIO_BLK_S_OK, "writing the last sector");
        disk_read(SECTORS - 1, back, 512);
        CHECK(memcmp(buf, back, 512) == 0, "the last sector in the file");

        /* the file changed under the device: the guest reads the new content */
        fill(buf, BLK, 0, 999);
        disk_write(300, buf, BLK);
        read_checked(d, 0, 300, BLK);

        CHECK_EQ(request(d, 1, VIRTIO_BLK_T_FLUSH, 0, NULL, 0), VIRTIO_BLK_S_OK, "FLUSH");

        /* GET_ID: the serial, zero-padded to 20 bytes */
        {
                char id[VIRTIO_BLK_ID_BYTES], want[VIRTIO_BLK_ID_BYTES] = SERIAL;

                memset(id, 'x', sizeof id);
                CHECK_EQ(request(d, 3, VIRTIO_BLK_T_GET_ID, 0, id, sizeof id), VIRTIO_BLK_S_OK, "GET_ID");
                CHECK(memcmp(id, want, sizeof id) == 0, "GET_ID answers the serial: \"%.20s\"", id);
        }
}

/* requests the device must refuse with a status: 3 IOERR, 1 UNSUPP */
static void test_refused(xsv *d) {
        uint8_t buf[BLK], before[BLK];
        struct stat st;

        CHECK_EQ(request(d, 0, VIRTIO_BLK_T_IN, SECTORS, buf, 512), VIRTIO_BLK_S_IOERR, "a read past the capacity");
        disk_read(SECTORS - 4, before, 2048);
        fill(buf, BLK, 0, 5);
        CHECK_EQ(request(d, 1, VIRTIO_BLK_T_OUT, SECTORS - 4, buf, BLK), VIRTIO_BLK_S_IOERR,
                 "a write across the end of the disk");
        CHECK(fstat(disk, &st) == 0 && st.st_size == SECTORS * 512, "the file did not grow");
        disk_read(SECTORS - 4, buf, 2048);
        CHECK(memcmp(buf, before, 2048) == 0, "the refused write left the file alone");
        CHECK_EQ(request(d, 2, VIRTIO_BLK_T_IN, 0, buf, 100), VIRTIO_BLK_S_IOERR, "a read of 100 bytes");
        CHECK_EQ(request(d, 3, 0x7f, 0, buf, 512), VIRTIO_BLK_S_UNSUPP, "an unknown request type");
}

/* ---- many requests in flight, one thread per vCPU ---- */

typedef struct Worker {
        pthread_t thread;
        xsv *d;
        unsigned vcpu;
        unsigned requests;
} Worker;

static void *worker_run(void *arg) {
        Worker *w = arg;
        uint64_t first = 512 + (uint64_t) w->vcpu * (DEPTH * BLK / 512) * ROUNDS;
        static uint8_t bufs[VCPUS][DEPTH][BLK];
        uint8_t (*buf)[BLK] = bufs[w->vcpu], got[BLK];

        for (unsigned r = 0; r < ROUNDS; r++) {
                uint16_t tok[DEPTH];
                uint8_t st;

                for (unsigned k = 0; k < DEPTH; k++) {
                        uint64_t sector = first + (r * DEPTH + k) * (BLK / 512);

                        fill(buf[k], BLK, sector * 512, 1000 + w->vcpu);
                        /* kicked in pairs: the device finds one or two chains per kick */
                        CHECK_EQ(xsv_blk_submit(w->d, w->vcpu, VIRTIO_BLK_T_OUT, sector, buf[k], BLK,
                                                k % 2 ? 0 : XSV_NO_KICK, &tok[k]),
                                 0, "queueing a write");
                }
                for (unsigned k = 0; k < DEPTH; k++) {
                        CHECK_EQ(xsv_blk_wait(w->d, w->vcpu, tok[k], 0, NULL, &st), 0, "waiting for a write");
                        CHECK_EQ(st, VIRTIO_BLK_S_OK, "a write's status");
                }
                for (unsigned k = 0; k < DEPTH; k++) {
                        uint64_t sector = first + (r * DEPTH + k) * (BLK / 512);

                        CHECK_EQ(xsv_blk_submit(w->d, w->vcpu, VIRTIO_BLK_T_IN, sector, NULL, BLK, 0, &tok[k]), 0,
                                 "queueing a read");
                }
                for (unsigned k = 0; k < DEPTH; k++) {
                        memset(got, 0, BLK);
                        CHECK_EQ(xsv_blk_wait(w->d, w->vcpu, tok[k], 0, got, &st), 0, "waiting for a read");
                        CHECK_EQ(st, VIRTIO_BLK_S_OK, "a read's status");
                        CHECK(memcmp(got, buf[k], BLK) == 0, "vCPU %u read back what it wrote (round %u, #%u)",
                              w->vcpu, r, k);
                }
                w->requests += 2 * DEPTH;
        }
        return NULL;
}

static void test_parallel(xsv *d) {
        Worker w[VCPUS];
        uint8_t want[BLK], got[BLK];

        for (unsigned v = 0; v < VCPUS; v++) {
                w[v] = (Worker) { .d = d, .vcpu = v };
                CHECK(pthread_create(&w[v].thread, NULL, worker_run, &w[v]) == 0, "pthread_create");
        }
        for (unsigned v = 0; v < VCPUS; v++) {
                CHECK(pthread_join(w[v].thread, NULL) == 0, "pthread_join");
                CHECK_EQ(w[v].requests, 2 * DEPTH * ROUNDS, "requests of a vCPU");
        }
        /* every block each vCPU wrote, in the file */
        for (unsigned v = 0; v < VCPUS; v++)
                for (unsigned i = 0; i < DEPTH * ROUNDS; i++) {
                        uint64_t sector = 512 + (uint64_t) v * (DEPTH * BLK / 512) * ROUNDS + i * (BLK / 512);

                        fill(want, BLK, sector * 512, 1000 + v);
                        disk_read(sector, got, BLK);
                        CHECK(memcmp(want, got, BLK) == 0, "the file holds vCPU %u's block %u", v, i);
                }
}

/* ---- a hostile driver ---- */

/*
 * A chain of three built by hand, kicked unless XSV_NO_KICK: the header (type, sector 0) and the
 * status byte in the head's slot, the data buffer wherever the caller says.
 */
static uint16_t submit_raw(xsv *d, uint32_t type, uint64_t data_gpa, uint32_t data_len, bool data_write,
                           unsigned flags) {
        struct virtio_blk_outhdr hdr = { .type = type, .sector = 0 };
        struct xsv_seg seg[3] = {
                { 0, sizeof hdr, false },
                { data_gpa, data_len, data_write },
                { 0, 1, true },
        };
        struct xsv_rings q;
        uint16_t tok, data, status;
        char *slot;

        /* the head is known once queued: the device sees nothing before the kick */
        CHECK_EQ(xsv_submit(d, 0, seg, 3, XSV_NO_KICK, &tok), 0, "queueing a hand-made chain");
        xsv_rings(d, &q);
        data = q.desc[tok].next;
        status = q.desc[data].next;
        slot = xsv_slot_ptr(d, tok);
        memcpy(slot, &hdr, sizeof hdr);
        slot[sizeof hdr] = (char) 0xff;
        q.desc[tok].addr = xsv_slot_gpa(d, tok);
        q.desc[status].addr = xsv_slot_gpa(d, tok) + sizeof hdr;
        if (!(flags & XSV_NO_KICK))
                CHECK_EQ(xsv_kick(d, 0), 0, "kicking");
        return tok;
}

static uint8_t raw_status(xsv *d, uint16_t tok) {
        return (uint8_t) ((char *) xsv_slot_ptr(d, tok))[sizeof(struct virtio_blk_outhdr)];
}

/* buffers the device cannot reach: an error status, the device goes on */
static void test_bad_buffers(xsv *d) {
        static const struct {
                uint64_t gpa;
                uint32_t len;
                bool write;
                const char *what;
        } bad[] = {
                { RAM_BYTES - 2048, BLK, true, "a read into a buffer running past the guest's RAM" },
                { RAM_BYTES + (UINT64_C(1) << 20), 512, true, "a read into a buffer beyond the guest's RAM" },
                { RAM_BYTES - 512, 1024, false, "a write from a buffer running past the guest's RAM" },
                { UINT64_C(0xfffffffffffff000), 8192, true, "a buffer wrapping around the address space" },
                { RAM_AREA, UINT32_C(0xfffffe00), true, "a 4 GiB buffer" },
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                uint16_t tok = submit_raw(d, bad[i].write ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT, bad[i].gpa,
                                          bad[i].len, bad[i].write, 0);

                CHECK_EQ(xsv_wait(d, 0, tok, 0, NULL), 0, bad[i].what);
                CHECK(raw_status(d, tok) == VIRTIO_BLK_S_IOERR, "%s: IOERR (status %u)", bad[i].what,
                      raw_status(d, tok));
                backend_alive(bad[i].what);
        }
        read_checked(d, 1, 0, BLK);
}

/*
 * A queue the driver broke: the device must not answer it, set DEVICE_NEEDS_RESET and tell
 * the driver (a configuration interrupt), and serve again once reset.  Returns a new driver.
 */
static xsv *expect_failure(xsv *d, uint16_t tok, const char *what) {
        uint32_t status = 0;

        CHECK_EQ(xsv_wait(d, 0, tok, 0, NULL), -EIO, what);
        CHECK_EQ(xsv_status(d, 1, &status), 0, "reading Status");
        CHECK(status & 0x40, "%s: DEVICE_NEEDS_RESET (status 0x%x)", what, status);
        backend_alive(what);
        resets++;
        drv_close(d);
        d = drv_open();
        read_checked(d, 2, 8, BLK);
        return d;
}

static xsv *test_broken_queues(xsv *d) {
        struct xsv_rings q;
        uint16_t tok, last;
        uint8_t buf[512];

        /* a loop: the chain's last descriptor leads back to its head */
        tok = submit_raw(d, VIRTIO_BLK_T_IN, RAM_AREA + RAM_AREA_LEN, 512, true, XSV_NO_KICK);
        xsv_rings(d, &q);
        last = q.desc[q.desc[tok].next].next;
        q.desc[last].flags |= VRING_DESC_F_NEXT;
        q.desc[last].next = tok;
        CHECK_EQ(xsv_kick(d, 0), 0, "kicking");
        d = expect_failure(d, tok, "a loop in a descriptor chain");

        /* a head index past the ring */
        CHECK_EQ(xsv_blk_submit(d, 0, VIRTIO_BLK_T_IN, 0, NULL, 512, XSV_NO_KICK, &tok), 0, "queueing");
        xsv_rings(d, &q);
        q.avail->ring[(uint16_t) (q.avail->idx - 1) % q.num] = (uint16_t) (q.num + 3);
        CHECK_EQ(xsv_kick(d, 0), 0, "kicking");
        d = expect_failure(d, tok, "an available ring entry past the ring");

        /* a next index past the ring */
        CHECK_EQ(xsv_blk_submit(d, 0, VIRTIO_BLK_T_IN, 0, NULL, 512, XSV_NO_KICK, &tok), 0, "queueing");
        xsv_rings(d, &q);
        q.desc[q.desc[tok].next].next = 0xfff0;
        q.desc[q.desc[tok].next].flags |= VRING_DESC_F_NEXT;
        CHECK_EQ(xsv_kick(d, 0), 0, "kicking");
        d = expect_failure(d, tok, "a descriptor's next past the ring");

        /* the available index far ahead of what the queue holds */
        CHECK_EQ(xsv_blk_submit(d, 0, VIRTIO_BLK_T_IN, 0, NULL, 512, XSV_NO_KICK, &tok), 0, "queueing");
        xsv_rings(d, &q);
        q.avail->idx = (uint16_t) (q.avail->idx + 1000);
        CHECK_EQ(xsv_kick(d, 0), 0, "kicking");
        d = expect_failure(d, tok, "an available index 1000 ahead");

        /* no device-writable byte for the status */
        {
                struct xsv_seg seg = { xsv_slot_gpa(d, 0), 16, false };
                struct virtio_blk_outhdr hdr = { .type = VIRTIO_BLK_T_IN };

                CHECK_EQ(xsv_submit(d, 0, &seg, 1, XSV_NO_KICK, &tok), 0, "queueing a header alone");
                memcpy(xsv_slot_ptr(d, tok), &hdr, sizeof hdr);
                xsv_rings(d, &q);
                q.desc[tok].addr = xsv_slot_gpa(d, tok);
                CHECK_EQ(xsv_kick(d, 0), 0, "kicking");
                d = expect_failure(d, tok, "a chain with no status byte");
        }
        CHECK_EQ(request(d, 3, VIRTIO_BLK_T_IN, 1, buf, sizeof buf), VIRTIO_BLK_S_OK, "serving after the resets");
        return d;
}

int main(int argc, char **argv) {
        char socket[512], file[512];
        struct xirq_query_reply q;
        struct xsv_stats before, after;
        IrqCount irqs = { 0 };
        uint64_t par_raises, par_kicks;
        unsigned long long dev_irqs;
        const char *line;
        uint8_t *img;
        xsv *d;
        int fd, status;

        it_init(&it, "it-vblk", argc, argv);
        it_write_global(&it, NULL);
        it_write_guest(&it, "g1", NULL);
        CHECK_EQ(xsg_domain_create_ram(it.xsg, "g1", VCPUS, 0, RAM_BYTES, &dom), 0, "a domain with 16 MiB of RAM");
        it_daemon_start(&it, NULL);
        it_socket_path(&it, "g1", socket, sizeof socket);

        /* the disk: every byte known */
        snprintf(file, sizeof file, "%s/disk.img", it.dir);
        disk = open(file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        CHECK(disk >= 0, "creating %s: %m", file);
        img = malloc(SECTORS * 512);
        CHECK(img, "malloc");
        fill(img, SECTORS * 512, 0, 1);
        disk_write(0, img, SECTORS * 512);
        free(img);

        backend_start(&be, socket, file);
        line = it_program_line(&be, "ready ");
        CHECK(strstr(line, "sectors=2048") && strstr(line, "read-only=no"), "the backend is ready: %s", line);

        d = drv_open();
        test_config(d);
        test_round_trips(d);
        test_refused(d);

        /*
         * Many requests at once: the device's signals of its irqfd may coalesce into one
         * injection here (as in KVM), and nowhere else: one request at a time, each
         * interrupt is injected before the next kick.
         */
        irq_count(&irqs);
        par_raises = irqs.raises;
        xsv_stats(d, &before);
        test_parallel(d);
        xsv_stats(d, &after);
        irq_count(&irqs);
        par_raises = irqs.raises - par_raises;
        par_kicks = after.kicks - before.kicks;
        CHECK_EQ(after.completed - before.completed, VCPUS * ROUNDS * DEPTH * 2, "requests completed in parallel");
        CHECK(par_kicks >= VCPUS * ROUNDS * DEPTH * 3 / 2 && par_raises >= 1, "kicks %llu, raises %llu in parallel",
              (unsigned long long) par_kicks, (unsigned long long) par_raises);

        test_bad_buffers(d);
        d = test_broken_queues(d);
        d = drv_close(d);

        /* the daemon's kicks, before the backend goes (and its registration with it) */
        fd = it_connect(&it, "g1");
        CHECK_EQ(it_hello(fd, NULL), 0, "HELLO");
        CHECK_EQ(it_query(fd, &q), 0, "QUERY");
        close(fd);

        CHECK(kill(be.pid, SIGTERM) == 0, "stopping the backend: %m");
        line = it_program_line(&be, "vblk ");
        CHECK(waitpid(be.pid, &status, 0) == be.pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the backend exits 0 (status 0x%x)", status);
        fclose(be.out);
        irq_count(&irqs);
        it_log("guest: %llu requests completed, %llu kicks, %llu interrupts handled (%llu spurious); "
               "xensim: %llu raises (%llu in parallel); device: %s",
               (unsigned long long) total.completed, (unsigned long long) total.kicks,
               (unsigned long long) total.interrupts, (unsigned long long) total.spurious,
               (unsigned long long) irqs.raises, (unsigned long long) par_raises, line);

        CHECK_EQ(total.bad_used, 0, "used entries naming no chain in flight");
        CHECK_EQ(field(line, "kicks"), total.kicks, "the kicks the device got, against the guest's");
        CHECK_EQ(q.kicks, total.kicks, "the kicks the daemon counted, against the guest's");
        CHECK(field(line, "wakeups") <= total.kicks, "the device's wake-ups, at most one per kick");
        CHECK_EQ(field(line, "requests"), total.completed, "the requests the device answered, against the guest's");
        CHECK_EQ(field(line, "ioerr"), 3 + 5, "requests answered IOERR");
        CHECK_EQ(field(line, "unsupp"), 1, "requests answered UNSUPP");
        CHECK_EQ(field(line, "failures"), resets, "the device's failures, against the broken queues");
        CHECK_EQ(field(line, "bad-accesses"), 0, "register accesses the device refused");
        CHECK_EQ(irqs.lowers, irqs.raises, "every edge lowered");
        /* one at a time: one injection per interrupt; in parallel, at least one and at most one per kick */
        dev_irqs = field(line, "interrupts");
        CHECK(dev_irqs >= irqs.raises && dev_irqs - (irqs.raises - par_raises) <= par_kicks,
              "the device's %llu interrupts against the %llu raises xensim logged (%llu of them in parallel, "
              "from %llu kicks)", dev_irqs, (unsigned long long) irqs.raises, (unsigned long long) par_raises,
              (unsigned long long) par_kicks);
        CHECK(total.interrupts >= 1 && total.interrupts <= irqs.raises,
              "the guest handled %llu of the %llu interrupts", (unsigned long long) total.interrupts,
              (unsigned long long) irqs.raises);
        close(disk);
        it_fini(&it);
        return 0;
}
