/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>

#include "vblk.h"
#include "vlog.h"

#define BIT(n) (UINT64_C(1) << (n))

struct VirtioBlk {
        Vmmio *mmio;
        GuestMem *mem;
        int fd;
        bool read_only;
        uint64_t capacity;                      /* in sectors */
        char serial[VIRTIO_BLK_ID_BYTES];       /* NUL-padded, not terminated when 20 bytes long */
        VblkStats stats;
};

/* [off, off + len) of one of a chain's two streams (its readable or its writable segments) */
typedef struct Stream {
        const VirtqChain *chain;
        bool write;
        uint64_t off, len;
} Stream;

typedef int (*PieceFn)(VirtioBlk *b, uint8_t *p, size_t n, void *ctx);

/*
 * Map the stream piece by piece (at most GMEM_MAP_MAX bytes each) and call fn
 * on each: 0, -EFAULT when the stream is shorter or not the guest's memory, or
 * fn's error.  *ret_done counts the bytes fn took.
 */
static int stream_each(VirtioBlk *b, Stream s, PieceFn fn, void *ctx, uint64_t *ret_done) {
        *ret_done = 0;
        for (unsigned i = 0; i < s.chain->n && s.len > 0; i++) {
                const VirtqSeg *seg = &s.chain->seg[i];

                if (seg->write != s.write)
                        continue;
                if (s.off >= seg->len) {
                        s.off -= seg->len;
                        continue;
                }
                /* a segment that wraps around the address space fails in the piece that crosses the top */
                for (uint64_t pos = s.off; pos < seg->len && s.len > 0;) {
                        size_t n = (size_t) (seg->len - pos);
                        void *p;
                        int r;

                        if (n > s.len)
                                n = (size_t) s.len;
                        if (n > GMEM_MAP_MAX)
                                n = GMEM_MAP_MAX;
                        r = gmem_map(b->mem, seg->gpa + pos, n, s.write, &p);
                        if (r < 0)
                                return -EFAULT;
                        r = fn(b, p, n, ctx);
                        gmem_unmap(b->mem, p);
                        if (r < 0)
                                return r;
                        pos += n;
                        s.len -= n;
                        *ret_done += n;
                }
                s.off = 0;
        }
        return s.len > 0 ? -EFAULT : 0;
}

/* pread/pwrite of the whole piece at *(uint64_t *) ctx, which moves on */
static int piece_io(VirtioBlk *b, uint8_t *p, size_t n, void *ctx, bool write) {
        uint64_t *pos = ctx;

        while (n > 0) {
                ssize_t k = write ? pwrite(b->fd, p, n, (off_t) *pos) : pread(b->fd, p, n, (off_t) *pos);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EIO;    /* the file shrank */
                p += k;
                n -= (size_t) k;
                *pos += (uint64_t) k;
        }
        return 0;
}

static int piece_read_file(VirtioBlk *b, uint8_t *p, size_t n, void *ctx) {
        return piece_io(b, p, n, ctx, false);
}

static int piece_write_file(VirtioBlk *b, uint8_t *p, size_t n, void *ctx) {
        return piece_io(b, p, n, ctx, true);
}

/* copy between the piece and the buffer at *(uint8_t **) ctx, which moves on */
static int piece_to_buf(VirtioBlk *b, uint8_t *p, size_t n, void *ctx) {
        uint8_t **buf = ctx;

        memcpy(*buf, p, n);
        *buf += n;
        return 0;
}

static int piece_from_buf(VirtioBlk *b, uint8_t *p, size_t n, void *ctx) {
        const uint8_t **buf = ctx;

        memcpy(p, *buf, n);
        *buf += n;
        return 0;
}

static uint8_t ioerr(const char *why, uint64_t sector) {
        vlog_debug("virtio-blk: request at sector %" PRIu64 " failed: %s", sector, why);
        return VIRTIO_BLK_S_IOERR;
}

/* IN or OUT of len bytes at sector, between the file and the data part of the chain */
static uint8_t transfer(VirtioBlk *b, const VirtqChain *c, bool in, uint64_t sector, uint64_t len,
                        uint64_t *ret_written) {
        /* IN: the writable stream before the status byte; OUT: the readable stream after the header */
        Stream data = { .chain = c, .write = in, .off = in ? 0 : sizeof(struct virtio_blk_outhdr), .len = len };
        uint64_t pos = sector * VBLK_SECTOR, done;
        int r;

        if (len % VBLK_SECTOR != 0)
                return ioerr("length not a multiple of 512", sector);
        if (len > VBLK_REQUEST_MAX)
                return ioerr("longer than the segment bounds offered", sector);
        if (sector > b->capacity || len / VBLK_SECTOR > b->capacity - sector)
                return ioerr("beyond the capacity", sector);
        if (!in && b->read_only)
                return ioerr("write to a read-only disk", sector);

        r = stream_each(b, data, in ? piece_read_file : piece_write_file, &pos, &done);
        if (in)
                *ret_written = done;
        if (r < 0)
                return ioerr(r == -EFAULT ? "buffer not in guest memory" : "I/O error on the file", sector);
        /* without VIRTIO_BLK_F_FLUSH the driver counts on writes being durable */
        if (!in && !(vmmio_driver_features(b->mmio) & BIT(VIRTIO_BLK_F_FLUSH)) && fdatasync(b->fd) < 0)
                return ioerr("fdatasync failed", sector);
        if (in)
                b->stats.bytes_read += len;
        else
                b->stats.bytes_written += len;
        return VIRTIO_BLK_S_OK;
}

/* the request of chain c, whose streams are rlen and wlen bytes (wlen >= 1: the status byte) */
static uint8_t handle(VirtioBlk *b, const VirtqChain *c, uint64_t rlen, uint64_t wlen, uint64_t *ret_written) {
        struct virtio_blk_outhdr hdr;
        uint8_t *dst = (uint8_t *) &hdr;
        const uint8_t *src = (const uint8_t *) b->serial;
        uint64_t sector, data_in = wlen - 1, n;

        if (c->misordered)
                return ioerr("a device-readable descriptor after a device-writable one", 0);
        if (stream_each(b, (Stream) { .chain = c, .len = sizeof(hdr) }, piece_to_buf, &dst, &n) < 0)
                return ioerr("no readable 16-byte header", 0);
        sector = le64toh(hdr.sector);
        switch (le32toh(hdr.type)) {
        case VIRTIO_BLK_T_IN:
                if (rlen != sizeof(hdr))
                        return ioerr("IN with device-readable data", sector);
                return transfer(b, c, true, sector, data_in, ret_written);
        case VIRTIO_BLK_T_OUT:
                if (data_in != 0)
                        return ioerr("OUT with device-writable data", sector);
                return transfer(b, c, false, sector, rlen - sizeof(hdr), ret_written);
        case VIRTIO_BLK_T_FLUSH:
                if (fdatasync(b->fd) < 0)
                        return ioerr("fdatasync failed", sector);
                return VIRTIO_BLK_S_OK;
        case VIRTIO_BLK_T_GET_ID:
                n = data_in < VIRTIO_BLK_ID_BYTES ? data_in : VIRTIO_BLK_ID_BYTES;
                if (stream_each(b, (Stream) { .chain = c, .write = true, .len = n }, piece_from_buf, &src,
                                ret_written) < 0)
                        return ioerr("GET_ID buffer not in guest memory", 0);
                return VIRTIO_BLK_S_OK;
        default:
                vlog_debug("virtio-blk: request type %" PRIu32 " unsupported", le32toh(hdr.type));
                return VIRTIO_BLK_S_UNSUPP;
        }
}

/* answer one chain: 0, or -EPROTO when it has no status byte to answer in (the device fails) */
static int serve(VirtioBlk *b, Virtq *q, const VirtqChain *c) {
        uint64_t rlen = 0, wlen = 0, written = 0;
        const VirtqSeg *last = NULL;
        volatile uint8_t *status;
        void *p;
        uint8_t s;

        for (unsigned i = 0; i < c->n; i++) {
                if (!c->seg[i].write) {
                        rlen += c->seg[i].len;
                } else if (c->seg[i].len > 0) {
                        wlen += c->seg[i].len;
                        last = &c->seg[i];
                }
        }
        if (!last || last->gpa + last->len - 1 < last->gpa ||
            gmem_map(b->mem, last->gpa + last->len - 1, 1, true, &p) < 0)
                return -EPROTO;
        status = p;

        s = handle(b, c, rlen, wlen, &written);
        *status = s;
        gmem_unmap(b->mem, p);
        /* used len: the bytes written from the start of the writable stream (the status byte is its end) */
        virtq_push(q, c->head, (uint32_t) (written == wlen - 1 ? wlen : written));
        b->stats.requests++;
        b->stats.ioerr += s == VIRTIO_BLK_S_IOERR;
        b->stats.unsupp += s == VIRTIO_BLK_S_UNSUPP;
        return 0;
}

static void blk_notify(void *opaque, unsigned queue) {
        VirtioBlk *b = opaque;
        Virtq *q = vmmio_queue(b->mmio, queue);
        unsigned served = 0;
        VirtqChain c;
        int r;

        /* every chain the driver made available, until none is left */
        while ((r = virtq_pop(q, &c)) > 0) {
                r = serve(b, q, &c);
                if (r < 0)
                        break;
                served++;
        }
        if (r < 0) {
                vlog_debug("virtio-blk: queue %u broken by the driver: the device needs a reset", queue);
                vmmio_fail(b->mmio);
        }
        if (served)
                vmmio_queue_used(b->mmio, q);
}

static void blk_config(void *opaque, void *buf) {
        VirtioBlk *b = opaque;
        struct virtio_blk_config cfg = {
                .capacity = htole64(b->capacity),
                .size_max = htole32(VBLK_SIZE_MAX),
                .seg_max = htole32(VBLK_SEG_MAX),
                .blk_size = htole32(VBLK_SECTOR),
        };

        memcpy(buf, &cfg, sizeof(cfg));
}

static void blk_reset(void *opaque) {
        /* requests are served synchronously: none is in flight, nothing to cancel */
}

int vblk_new(VirtioBlk **ret, int fd, const char *serial, GuestMem *mem, VmmioIrqFn irq, void *irq_opaque) {
        VmmioDevice dev = {
                .device_id = VIRTIO_ID_BLOCK,
                .vendor_id = VBLK_VENDOR_ID,
                .features = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_BLK_SIZE) |
                            BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_SIZE_MAX),
                .num_queues = 1,
                .queue_num_max = VBLK_QUEUE_NUM_MAX,
                .config_size = sizeof(struct virtio_blk_config),
                .config_read = blk_config,
                .queue_notify = blk_notify,
                .reset = blk_reset,
        };
        VirtioBlk *b;
        struct stat st;
        off_t end;
        int flags, r;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return -EINVAL;
        flags = fcntl(fd, F_GETFL);
        end = lseek(fd, 0, SEEK_END);
        if (flags < 0 || end < 0)
                return -errno;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->fd = fd;
        b->mem = mem;
        b->capacity = (uint64_t) end / VBLK_SECTOR;
        b->read_only = (flags & O_ACCMODE) == O_RDONLY;
        if (b->read_only)
                dev.features |= BIT(VIRTIO_BLK_F_RO);
        if (!serial)
                serial = VBLK_SERIAL_DEFAULT;
        memcpy(b->serial, serial, strnlen(serial, sizeof(b->serial)));
        r = vmmio_new(&b->mmio, &dev, b, mem, irq, irq_opaque);
        if (r < 0) {
                free(b);
                return r;
        }
        *ret = b;
        return 0;
}

VirtioBlk *vblk_free(VirtioBlk *b) {
        if (!b)
                return NULL;
        vmmio_free(b->mmio);
        free(b);
        return NULL;
}

Vmmio *vblk_mmio(VirtioBlk *b) {
        return b->mmio;
}

uint64_t vblk_capacity(const VirtioBlk *b) {
        return b->capacity;
}

const VblkStats *vblk_stats(const VirtioBlk *b) {
        return &b->stats;
}
