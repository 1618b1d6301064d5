#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the seed corpus of fuzz-vblk (tests/corpus/vblk): guests that set up a queue and
# make requests, good ones and hostile ones.  The input format is described in fuzz-vblk.c.
# Usage: tests/fuzz-vblk-seeds.py [DIR]   (default: tests/corpus/vblk next to this script)
import os
import struct
import sys

NEXT, WRITE, INDIRECT = 1, 2, 4
IN, OUT, FLUSH, GET_ID = 0, 1, 4, 8
# room for queues of up to 256 entries and 85 requests of 3 descriptors
DESC, AVAIL, USED = 0x0000, 0x1000, 0x1400
HDR, STATUS, DATA = 0x1c40, 0x21c0, 0x2400


class Guest:
    """The guest's memory and driver.  Changes to mem after the first operation reach the
    device as memory-write operations (sync)."""

    def __init__(self, num=16, flags=0, stride=0x400):
        self.num, self.flags, self.stride = num, flags, stride
        self.mem = bytearray(0x10000)
        self.avail = 0
        self.ops = b""
        self.image = None

    def desc(self, i, addr, length, flags=0, nxt=0):
        struct.pack_into("<QIHH", self.mem, DESC + 16 * i, addr, length, flags, nxt)

    def header(self, k, type_, sector):
        struct.pack_into("<IIQ", self.mem, HDR + 16 * k, type_, 0, sector)
        self.mem[STATUS + k] = 0xff

    def publish(self, head):
        struct.pack_into("<H", self.mem, AVAIL + 4 + 2 * (self.avail % self.num), head)
        self.avail += 1
        struct.pack_into("<H", self.mem, AVAIL + 2, self.avail & 0xffff)

    def request(self, k, type_, sector, length):
        """slot k: descriptors 3k..3k+2, data at DATA + 0x400 k"""
        i = 3 * k
        self.header(k, type_, sector)
        if length:
            self.desc(i, HDR + 16 * k, 16, NEXT, i + 1)
            self.desc(i + 1, DATA + self.stride * k, length, NEXT | (0 if type_ == OUT else WRITE), i + 2)
        else:
            self.desc(i, HDR + 16 * k, 16, NEXT, i + 2)
        self.desc(i + 2, STATUS + k, 1, WRITE)
        self.publish(i)

    def op(self, code, *fields):
        if self.image is None:
            self.image = bytes(self.mem)
        self.sync()
        self.ops += bytes([code])
        for size, value in fields:
            self.ops += value.to_bytes(size, "little") if isinstance(value, int) else value

    def sync(self):
        """memory-write operations for what changed since the image (or the last sync)"""
        if self.image is None:
            return
        seen = bytearray(self.image) if not hasattr(self, "seen") else self.seen
        off = 0
        while off < len(self.mem):
            if self.mem[off] == seen[off]:
                off += 1
                continue
            run = bytes(self.mem[off:off + 255])
            self.ops += bytes([2]) + off.to_bytes(2, "little") + bytes([len(run)]) + run
            off += len(run)
        self.seen = bytearray(self.mem)

    def bytes(self):
        self.sync()
        image = (self.image if self.image is not None else bytes(self.mem)).rstrip(b"\0")
        head = struct.pack("<BBHIII", self.num.bit_length() - 1, self.flags, len(image), DESC, AVAIL, USED)
        return head + image + self.ops


def seeds():
    g = Guest()
    for i in range(0x400):
        g.mem[DATA + i] = i * 7 & 0xff
    g.request(0, OUT, 2, 0x400)
    g.request(1, IN, 2, 0x400)
    g.request(2, FLUSH, 0, 0)
    g.request(3, GET_ID, 0, 20)
    g.request(4, IN, 64, 0x200)             # beyond the capacity
    g.op(0)
    g.op(7)
    yield "requests", g

    g = Guest()
    g.header(0, 99, 0)                      # unknown type
    g.desc(0, HDR, 16, NEXT, 1)
    g.desc(1, STATUS, 1, WRITE)
    g.publish(0)
    g.header(1, IN, 0)
    g.desc(2, HDR + 16, 16, NEXT, 3)
    g.desc(3, DATA, 0x200, NEXT, 4)         # IN data device-readable
    g.desc(4, STATUS + 1, 1, WRITE)
    g.publish(2)
    g.header(2, IN, 0)
    g.desc(5, HDR + 32, 8, NEXT, 6)         # short header
    g.desc(6, STATUS + 2, 1, WRITE)
    g.publish(5)
    g.header(3, OUT, 0)
    g.desc(7, HDR + 48, 16, NEXT, 8)
    g.desc(8, DATA, 0x100, NEXT | WRITE, 9)
    g.desc(9, DATA + 0x100, 0x200, NEXT, 10)  # readable after writable
    g.desc(10, STATUS + 3, 1, WRITE)
    g.publish(7)
    g.header(4, IN, 0)
    g.desc(11, HDR + 64, 16, NEXT, 12)
    g.desc(12, 0xfffffffffffffe00, 0x400, NEXT | WRITE, 13)  # wraps
    g.desc(13, STATUS + 4, 1, WRITE)
    g.publish(11)
    g.op(0)
    yield "errors", g

    g = Guest()
    g.request(0, IN, 0, 500)                # not a multiple of 512
    g.request(1, OUT, 0, 0x200)
    g.desc(4, DATA + 0x400, 0x200, NEXT | WRITE, 5)     # OUT data device-writable
    g.request(2, GET_ID, 0, 20)
    g.desc(7, 0xfff0, 20, NEXT | WRITE, 8)  # past the end of guest memory
    g.request(3, IN, 0, 0x200)
    g.desc(10, DATA, 0x7ffffe00, NEXT | WRITE, 11)      # longer than the bounds offered
    g.request(4, IN, 0, 0x200)
    g.desc(14, 0xffffffffffffffff, 2, WRITE)            # the status byte wraps: device fails
    g.op(0)
    yield "errors2", g

    g = Guest()
    struct.pack_into("<IIQ", g.mem, DATA, OUT, 0, 5)   # header and data in one descriptor
    g.desc(0, DATA, 16 + 0x300, NEXT, 1)
    g.desc(1, DATA + 0x310, 0x100, NEXT, 2)
    g.desc(2, STATUS, 1, WRITE)
    g.mem[STATUS] = 0xff
    g.publish(0)
    g.header(1, IN, 5)
    g.desc(3, HDR + 16, 16, NEXT, 4)
    g.desc(4, DATA + 0x800, 0x401, WRITE)   # data and status in one descriptor
    g.publish(3)
    g.op(1)
    yield "layout", g

    g = Guest()
    g.header(0, IN, 0)
    g.desc(0, HDR, 16, NEXT, 1)
    g.desc(1, DATA, 0x200, NEXT | WRITE, 0)  # loops back
    g.publish(0)
    g.op(0)
    g.op(5)                                 # reset; the chain fixed; the same head again
    g.desc(1, DATA, 0x200, NEXT | WRITE, 2)
    g.desc(2, STATUS, 1, WRITE)
    g.op(0)
    yield "loop", g

    g = Guest(num=8)
    g.request(0, IN, 0, 0x200)
    g.desc(1, DATA, 0x200, NEXT | WRITE, 8)  # next past the table
    g.op(0)
    yield "next", g

    g = Guest(num=8)
    g.request(0, IN, 0, 0x200)
    g.desc(1, DATA, 0x200, NEXT | WRITE | INDIRECT, 2)
    g.op(0)
    yield "indirect", g

    g = Guest()
    g.request(0, OUT, 1, 0x200)
    g.op(0)
    g.op(6, (2, 40))                        # the available index jumps
    yield "jump", g

    g = Guest()
    g.request(0, OUT, 1, 0x200)
    g.request(1, IN, 1, 0x200)
    g.op(0)
    g.op(5)                                 # reset, then the same requests again
    g.op(6, (2, 2))
    g.op(7)
    g.op(0)
    yield "reset", g

    g = Guest(flags=3)                      # read-only disk, FLUSH not accepted
    g.request(0, OUT, 0, 0x200)
    g.request(1, IN, 0, 0x200)
    g.request(2, FLUSH, 0, 0)
    g.op(0)
    yield "readonly", g

    g = Guest(num=256, stride=0x200)
    for k in range(85):
        g.request(k, OUT if k % 2 else IN, k % 60, 0x200)
    g.op(0)
    g.op(7)
    yield "full", g

    g = Guest()
    for off, size in ((0x000, 4), (0x004, 4), (0x008, 4), (0x010, 4), (0x034, 4), (0x044, 4), (0x060, 4),
                      (0x070, 4), (0x0fc, 4), (0x100, 8), (0x100, 4), (0x104, 4), (0x114, 4), (0x101, 1),
                      (0x102, 2), (0x13c, 4), (0x050, 2), (0x1fc, 4)):
        g.op(4, (2, off), (1, size.bit_length() - 1))
    for off, value in ((0x014, 1), (0x030, 1), (0x030, 0), (0x038, 4), (0x044, 0), (0x044, 1), (0x064, 3),
                       (0x070, 0x7f), (0x070, 0), (0x100, 1), (0x0ac, 0)):
        g.op(3, (2, off), (1, 2), (4, value))
    g.op(1)
    yield "registers", g


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "vblk")
    os.makedirs(out, exist_ok=True)
    for name, g in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(g.bytes())


if __name__ == "__main__":
    main()
