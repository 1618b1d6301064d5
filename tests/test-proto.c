/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit test of the wire protocol codec (src/shared/proto.c). */
#include <errno.h>
#include <stdint.h>

#include "proto.h"
#include "unit-assert.h"

static uint8_t buf[XIRQ_MSG_MAX];

/* Field offsets, from the packed structs. */
#define OFF(type, field) offsetof(struct type, field)

static void put8(size_t off, uint8_t v) {
        buf[off] = v;
}

static void put16(size_t off, uint16_t v) {
        buf[off] = (uint8_t) v;
        buf[off + 1] = (uint8_t) (v >> 8);
}

static void put32(size_t off, uint32_t v) {
        for (int i = 0; i < 4; i++)
                buf[off + i] = (uint8_t) (v >> (8 * i));
}

static int decode(size_t len, unsigned nfds) {
        ProtoRequest req;
        return proto_decode_request(buf, len, nfds, &req);
}

static size_t assign(uint16_t type, uint8_t space, uint8_t len, uint8_t match, uint64_t addr, uint64_t value,
                     uint64_t mask) {
        memset(buf, 0, sizeof(buf));
        return proto_encode_assign(buf, type, 7, space, len, match, addr, value, mask);
}

static void test_sizes(void) {
        CHECK_INT(proto_request_size(XIRQ_MSG_HELLO), 16);
        CHECK_INT(proto_request_size(XIRQ_MSG_ASSIGN), 40);
        CHECK_INT(proto_request_size(XIRQ_MSG_DEASSIGN), 40);
        CHECK_INT(proto_request_size(XIRQ_MSG_VIRTIO_MMIO), 24);
        CHECK_INT(proto_request_size(XIRQ_MSG_QUERY), 8);
        CHECK_INT(proto_request_size(0x0013), 0);
        CHECK_INT(proto_request_size(XIRQ_MSG_HELLO | XIRQ_MSG_REPLY), 0);
        CHECK_INT(proto_reply_size(XIRQ_MSG_HELLO), 24);
        CHECK_INT(proto_reply_size(XIRQ_MSG_QUERY), 80);
        CHECK_INT(proto_reply_size(XIRQ_MSG_ASSIGN), 16);
        CHECK_STR(proto_type_name(XIRQ_MSG_VIRTIO_MMIO), "VIRTIO_MMIO");
        CHECK_STR(proto_type_name(XIRQ_MSG_QUERY | XIRQ_MSG_REPLY), "QUERY");
        CHECK_STR(proto_type_name(0x4242), "unknown");
}

static void test_wire_layout(void) {
        /* little-endian on the wire whatever the host */
        static const uint8_t hello[16] = { 0x01, 0x00, 0x00, 0x00, 0x78, 0x56, 0x34, 0x12,
                                           'X',  'I',  'R',  'Q',  0x01, 0x00, 0x03, 0x00 };
        static const uint8_t asg[40] = { 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04,
                                         0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x07, 0x06, 0x05,
                                         0x04, 0x03, 0x02, 0x01, 0x34, 0x12, 0x00, 0x00, 0x00, 0x00,
                                         0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
        memset(buf, 0xaa, sizeof(buf));
        CHECK_INT(proto_encode_hello(buf, 0x12345678, 1, 3), 16);
        CHECK(memcmp(buf, hello, sizeof(hello)) == 0);
        CHECK_INT(proto_encode_assign(buf, XIRQ_MSG_ASSIGN, 1, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_MASK,
                                      0x0102030405060708, 0x1234, 0xffff), 40);
        CHECK(memcmp(buf, asg, sizeof(asg)) == 0);
}

static void test_hello(void) {
        ProtoRequest req;
        size_t n;

        memset(&req, 0, sizeof(req));
        n = proto_encode_hello(buf, 42, 1, 5);
        CHECK_INT(proto_decode_request(buf, n, 0, &req), 0);
        CHECK_INT(req.op, PROTO_OP_HELLO);
        CHECK_INT(req.hdr.type, XIRQ_MSG_HELLO);
        CHECK_INT(req.hdr.seq, 42);
        CHECK_INT(req.version_min, 1);
        CHECK_INT(req.version_max, 5);
        /* the highest both speak: 2 for a new client, 1 for an old one */
        CHECK_INT(proto_negotiate_version(1, 5), 2);
        CHECK_INT(proto_negotiate_version(1, 1), 1);
        CHECK_INT(proto_negotiate_version(2, 5), 2);
        CHECK_INT(proto_negotiate_version(3, 5), -EPROTONOSUPPORT);
        CHECK_INT(proto_negotiate_version(0, 0), -EPROTONOSUPPORT);
        CHECK_INT(proto_negotiate_version(3, 1), -EPROTONOSUPPORT);

        CHECK_INT(decode(n, 1), -EBADF);
        CHECK_INT(decode(n - 1, 0), -EBADMSG);
        CHECK_INT(decode(n + 1, 0), -EBADMSG);
        put32(OFF(xirq_hello, magic), 0x51524959);
        CHECK_INT(decode(n, 0), -EPROTO);
        n = proto_encode_hello(buf, 42, 0, 1);
        CHECK_INT(decode(n, 0), -EINVAL);
        n = proto_encode_hello(buf, 42, 2, 1);
        CHECK_INT(decode(n, 0), -EINVAL);
        n = proto_encode_hello(buf, 42, 1, 1);
        put16(OFF(xirq_hdr, flags), 1);
        CHECK_INT(decode(n, 0), -EPROTO);
        /* precedence: a bad field wins over a wrong fd count */
        n = proto_encode_hello(buf, 42, 2, 1);
        CHECK_INT(decode(n, 1), -EINVAL);
}

static void test_header(void) {
        ProtoHeader h;
        ProtoRequest req;

        memset(buf, 0, sizeof(buf));
        CHECK_INT(proto_decode_header(buf, 7, &h), -EBADMSG);
        CHECK_INT(proto_decode_request(buf, 0, 0, &req), -EBADMSG);
        CHECK_INT(proto_decode_request(NULL, 0, 0, &req), -EBADMSG);
        put16(0, 0x0002);
        put32(4, 99);
        CHECK_INT(proto_decode_header(buf, 8, &h), 0);
        CHECK_INT(h.type, 2);
        CHECK_INT(h.seq, 99);
        CHECK_INT(decode(8, 0), -EPROTO);                       /* unknown type */
        CHECK_INT(decode(XIRQ_MSG_MAX, 0), -EPROTO);
        put16(0, XIRQ_MSG_QUERY | XIRQ_MSG_REPLY);
        CHECK_INT(decode(80, 0), -EPROTO);                      /* a reply sent as a request */
        put16(0, XIRQ_MSG_QUERY);
        CHECK_INT(decode(8, 0), 0);
        CHECK_INT(decode(9, 0), -EBADMSG);
        CHECK_INT(decode(8, 1), -EBADF);
        put16(2, 0x8000);
        CHECK_INT(decode(8, 0), -EPROTO);                       /* flags */
        /* the reply bit is refused even with a valid length */
        put16(0, XIRQ_MSG_ASSIGN | XIRQ_MSG_REPLY);
        put16(2, 0);
        CHECK_INT(decode(40, 1), -EPROTO);
}

static void test_assign(void) {
        ProtoRequest req;
        size_t n;
        const uint8_t M = XIRQ_SPACE_MMIO, P = XIRQ_SPACE_PIO;

        /* normalisation of each match mode */
        n = assign(XIRQ_MSG_ASSIGN, M, 4, XIRQ_MATCH_ANY, 0xfe000050, 0, 0);
        CHECK_INT(proto_decode_request(buf, n, 1, &req), 0);
        CHECK_INT(req.op, PROTO_OP_ASSIGN);
        CHECK_INT(req.hdr.seq, 7);
        CHECK_U64(req.key.addr, 0xfe000050);
        CHECK_INT(req.key.len, 4);
        CHECK_INT(req.key.space, M);
        CHECK_U64(req.key.mask, 0);
        CHECK_U64(req.key.value, 0);
        CHECK_INT(req.match, XIRQ_MATCH_ANY);
        n = assign(XIRQ_MSG_ASSIGN, M, 2, XIRQ_MATCH_EXACT, 0x1000, 0xbeef, 0);
        CHECK_INT(proto_decode_request(buf, n, 1, &req), 0);
        CHECK_U64(req.key.mask, 0xffff);
        CHECK_U64(req.key.value, 0xbeef);
        /* x86 port I/O is at most 4 bytes */
        n = assign(XIRQ_MSG_ASSIGN, P, 8, XIRQ_MATCH_ANY, 0x7000, 0, 0);
        CHECK_INT(proto_decode_request(buf, n, 1, &req), -EINVAL);
        n = assign(XIRQ_MSG_DEASSIGN, P, 1, XIRQ_MATCH_MASK, 0x3f8, 0x10, 0xf0);
        CHECK_INT(proto_decode_request(buf, n, 0, &req), 0);
        CHECK_INT(req.op, PROTO_OP_DEASSIGN);
        CHECK_U64(req.key.mask, 0xf0);
        CHECK_U64(req.key.value, 0x10);
        CHECK_INT(req.key.space, P);
        n = assign(XIRQ_MSG_ASSIGN, M, 8, XIRQ_MATCH_EXACT, 0x1000, UINT64_MAX, 0);
        CHECK_INT(proto_decode_request(buf, n, 1, &req), 0);
        CHECK_U64(req.key.mask, UINT64_MAX);

        /* fd count */
        n = assign(XIRQ_MSG_ASSIGN, M, 4, XIRQ_MATCH_ANY, 0x1000, 0, 0);
        CHECK_INT(decode(n, 0), -EBADF);
        CHECK_INT(decode(n, 2), -EBADF);
        n = assign(XIRQ_MSG_DEASSIGN, M, 4, XIRQ_MATCH_ANY, 0x1000, 0, 0);
        CHECK_INT(decode(n, 1), -EBADF);
        CHECK_INT(decode(n, 0), 0);

        /* length */
        n = assign(XIRQ_MSG_ASSIGN, M, 4, XIRQ_MATCH_ANY, 0x1000, 0, 0);
        CHECK_INT(decode(n - 1, 1), -EBADMSG);
        CHECK_INT(decode(n + 1, 1), -EBADMSG);
        CHECK_INT(decode(24, 1), -EBADMSG);

        /* every bad field */
        n = assign(XIRQ_MSG_ASSIGN, M, 4, XIRQ_MATCH_ANY, 0x1000, 0, 0);
        put8(OFF(xirq_assign, reserved0), 1);
        CHECK_INT(decode(n, 1), -EINVAL);
        n = assign(XIRQ_MSG_ASSIGN, M, 4, XIRQ_MATCH_ANY, 0x1000, 0, 0);
        put32(OFF(xirq_assign, reserved1), 0x100);
        CHECK_INT(decode(n, 1), -EINVAL);
        n = assign(XIRQ_MSG_ASSIGN, 0, 4, XIRQ_MATCH_ANY, 0x1000, 0, 0);
        CHECK_INT(decode(n, 1), -EINVAL);
        n = assign(XIRQ_MSG_ASSIGN, 3, 4, XIRQ_MATCH_ANY, 0x1000, 0, 0);
        CHECK_INT(decode(n, 1), -EINVAL);
        for (unsigned len = 0; len < 256; len++) {
                n = assign(XIRQ_MSG_ASSIGN, M, (uint8_t) len, XIRQ_MATCH_ANY, 0x1000, 0, 0);
                CHECK_INT(decode(n, 1), (len == 1 || len == 2 || len == 4 || len == 8) ? 0 : -EINVAL);
        }
        n = assign(XIRQ_MSG_ASSIGN, M, 4, 3, 0x1000, 0, 0);
        CHECK_INT(decode(n, 1), -EINVAL);
        n = assign(XIRQ_MSG_ASSIGN, M, 4, 0xff, 0x1000, 0, 0);
        CHECK_INT(decode(n, 1), -EINVAL);
        n = assign(XIRQ_MSG_ASSIGN, M, 4, XIRQ_MATCH_ANY, 0x1000, 1, 0);        /* ANY with value */
        CHECK_INT(decode(n, 1), -EINVAL);
        n = assign(XIRQ_MSG_ASSIGN, M, 4, XIRQ_MATCH_ANY, 0x1000, 0, 1);        /* ANY with mask */
        CHECK_INT(decode(n, 1), -EINVAL);
        n = assign(XIRQ_MSG_ASSIGN, M, 4, XIRQ_MATCH_EXACT, 0x1000, 1, 0xffffffff); /* EXACT with mask */
        CHECK_INT(decode(n, 1), -EINVAL);
        n = assign(XIRQ_MSG_ASSIGN, M, 4, XIRQ_MATCH_EXACT, 0x1000, 0x100000000, 0); /* value beyond len */
        CHECK_INT(decode(n, 1), -EINVAL);
        n = assign(XIRQ_MSG_ASSIGN, M, 1, XIRQ_MATCH_EXACT, 0x1000, 0x100, 0);
        CHECK_INT(decode(n, 1), -EINVAL);
        n = assign(XIRQ_MSG_ASSIGN, M, 4, XIRQ_MATCH_MASK, 0x1000, 0, 0);       /* MASK without mask */
        CHECK_INT(decode(n, 1), -EINVAL);
        n = assign(XIRQ_MSG_ASSIGN, M, 2, XIRQ_MATCH_MASK, 0x1000, 0, 0x10000); /* mask beyond len */
        CHECK_INT(decode(n, 1), -EINVAL);
        n = assign(XIRQ_MSG_ASSIGN, M, 4, XIRQ_MATCH_MASK, 0x1000, 0x10000, 0xffff); /* value & ~mask */
        CHECK_INT(decode(n, 1), -EINVAL);
        n = assign(XIRQ_MSG_ASSIGN, M, 4, XIRQ_MATCH_ANY, UINT64_MAX - 2, 0, 0);  /* wraps */
        CHECK_INT(decode(n, 1), -EINVAL);
        n = assign(XIRQ_MSG_ASSIGN, M, 4, XIRQ_MATCH_ANY, UINT64_MAX - 3, 0, 0);  /* ends at the top */
        CHECK_INT(decode(n, 1), 0);
        n = assign(XIRQ_MSG_ASSIGN, P, 4, XIRQ_MATCH_ANY, 0xfffd, 0, 0);          /* PIO beyond 0xffff */
        CHECK_INT(decode(n, 1), -EINVAL);
        n = assign(XIRQ_MSG_ASSIGN, P, 2, XIRQ_MATCH_ANY, 0x10000, 0, 0);
        CHECK_INT(decode(n, 1), -EINVAL);
        n = assign(XIRQ_MSG_ASSIGN, P, 4, XIRQ_MATCH_ANY, 0xfffc, 0, 0);
        CHECK_INT(decode(n, 1), 0);
        /* flags */
        n = assign(XIRQ_MSG_ASSIGN, M, 4, XIRQ_MATCH_ANY, 0x1000, 0, 0);
        put16(OFF(xirq_hdr, flags), 4);
        CHECK_INT(decode(n, 1), -EPROTO);
        /* a failed decode leaves the output untouched */
        memset(&req, 0x5a, sizeof(req));
        n = assign(XIRQ_MSG_ASSIGN, M, 3, XIRQ_MATCH_ANY, 0x1000, 0, 0);
        CHECK_INT(proto_decode_request(buf, n, 1, &req), -EINVAL);
        CHECK_INT(req.hdr.seq, 0x5a5a5a5a);
}

static void test_virtio(void) {
        ProtoRequest req;
        size_t n;

        n = proto_encode_virtio_mmio(buf, 3, 0x02000200, 5, 0);
        CHECK_INT(n, 24);
        CHECK_INT(proto_decode_request(buf, n, 1, &req), 0);
        CHECK_INT(req.op, PROTO_OP_ASSIGN);
        CHECK_INT(req.hdr.type, XIRQ_MSG_VIRTIO_MMIO);
        CHECK_U64(req.key.addr, 0x02000250);
        CHECK_INT(req.key.len, 4);
        CHECK_INT(req.key.space, XIRQ_SPACE_MMIO);
        CHECK_U64(req.key.mask, 0xffff);
        CHECK_U64(req.key.value, 5);
        CHECK_U64(req.base, 0x02000200);
        CHECK_INT(req.queue, 5);
        CHECK_INT(req.match, XIRQ_MATCH_MASK);
        CHECK_INT(decode(n, 0), -EBADF);
        CHECK_INT(decode(n, 2), -EBADF);
        n = proto_encode_virtio_mmio(buf, 3, 0x02000200, 0xffff, XIRQ_VIRTIO_DEASSIGN);
        CHECK_INT(proto_decode_request(buf, n, 0, &req), 0);
        CHECK_INT(req.op, PROTO_OP_DEASSIGN);
        CHECK_U64(req.key.value, 0xffff);
        CHECK_INT(decode(n, 1), -EBADF);

        n = proto_encode_virtio_mmio(buf, 3, 0x02000202, 0, 0);                 /* misaligned */
        CHECK_INT(decode(n, 1), -EINVAL);
        n = proto_encode_virtio_mmio(buf, 3, UINT64_MAX - 0x4f, 0, 0);          /* notify wraps */
        CHECK_INT(decode(n, 1), -EINVAL);
        n = proto_encode_virtio_mmio(buf, 3, UINT64_MAX - 0x53 + 4, 0, 0);      /* notify partly wraps */
        CHECK_INT(decode(n, 1), -EINVAL);
        n = proto_encode_virtio_mmio(buf, 3, UINT64_MAX - 0x53, 0, 0);          /* notify ends at the top */
        CHECK_INT(decode(n, 1), 0);
        n = proto_encode_virtio_mmio(buf, 3, 0x1000, 0, 2);                     /* unknown vflag */
        CHECK_INT(decode(n, 1), -EINVAL);
        n = proto_encode_virtio_mmio(buf, 3, 0x1000, 0, 0);
        put32(OFF(xirq_virtio_mmio, reserved), 1);
        CHECK_INT(decode(n, 1), -EINVAL);
        n = proto_encode_virtio_mmio(buf, 3, 0x1000, 0, 0);
        CHECK_INT(decode(n + 1, 1), -EBADMSG);
}

static size_t irqfd(const ProtoIrqfd *f, bool deassign) {
        memset(buf, 0, sizeof(buf));
        return proto_encode_irqfd(buf, 9, f, deassign);
}

static void test_irqfd(void) {
        ProtoRequest req;
        ProtoIrqfd line = { .id = 3, .action = XIRQ_IRQ_LINE, .mode = XIRQ_IRQFD_EDGE, .irq = 40 };
        ProtoIrqfd f;
        size_t n;

        CHECK_INT(proto_request_size(XIRQ_MSG_IRQFD), 48);
        CHECK_INT(proto_type_version(XIRQ_MSG_IRQFD), 2);
        CHECK_INT(proto_type_version(XIRQ_MSG_QUERY), 1);
        n = irqfd(&line, false);
        CHECK_INT(proto_decode_request(buf, n, 1, &req), 0);
        CHECK_INT(req.op, PROTO_OP_IRQFD);
        CHECK_INT(req.irqfd.id, 3);
        CHECK_INT(req.irqfd.irq, 40);
        CHECK_INT(decode(n, 0), -EBADF);
        CHECK_INT(decode(n, 2), -EBADF);
        /* LEVEL takes the resample eventfd too */
        f = line;
        f.mode = XIRQ_IRQFD_LEVEL;
        n = irqfd(&f, false);
        CHECK_INT(decode(n, 2), 0);
        CHECK_INT(decode(n, 1), -EBADF);
        f.mode = 0;
        CHECK_INT(decode(irqfd(&f, false), 1), -EINVAL);
        f.mode = 4;
        CHECK_INT(decode(irqfd(&f, false), 1), -EINVAL);
        /* each action's range, and nothing of another action's */
        f = line;
        f.irq = 1020;
        CHECK_INT(decode(irqfd(&f, false), 1), -EINVAL);
        f = (ProtoIrqfd) { .action = XIRQ_IRQ_ISA, .mode = XIRQ_IRQFD_LEVEL, .irq = 15 };
        CHECK_INT(decode(irqfd(&f, false), 2), 0);
        f.irq = 16;
        CHECK_INT(decode(irqfd(&f, false), 2), -EINVAL);
        f = (ProtoIrqfd) { .action = XIRQ_IRQ_INTX, .mode = XIRQ_IRQFD_EDGE, .segment = 1, .bus = 2, .device = 31,
                           .pin = 3 };
        CHECK_INT(decode(irqfd(&f, false), 1), 0);
        f.device = 32;
        CHECK_INT(decode(irqfd(&f, false), 1), -EINVAL);
        f.device = 3;
        f.irq = 5;
        CHECK_INT(decode(irqfd(&f, false), 1), -EINVAL);
        f = (ProtoIrqfd) { .action = XIRQ_IRQ_MSI, .mode = XIRQ_IRQFD_EDGE, .msi_addr = 0xfee00000, .msi_data = 0x41 };
        CHECK_INT(decode(irqfd(&f, false), 1), 0);
        f.mode = XIRQ_IRQFD_LEVEL;
        CHECK_INT(decode(irqfd(&f, false), 2), -EINVAL);
        f.mode = XIRQ_IRQFD_EDGE;
        f.msi_addr = 0;
        CHECK_INT(decode(irqfd(&f, false), 1), -EINVAL);
        f = (ProtoIrqfd) { .action = XIRQ_IRQ_EVTCHN, .mode = XIRQ_IRQFD_EDGE, .irq = 7 };
        CHECK_INT(decode(irqfd(&f, false), 1), 0);
        f.irq = 0;
        CHECK_INT(decode(irqfd(&f, false), 1), -EINVAL);
        f.irq = 1u << 17;
        CHECK_INT(decode(irqfd(&f, false), 1), -EINVAL);
        f = line;
        f.action = 6;
        CHECK_INT(decode(irqfd(&f, false), 1), -EINVAL);
        /* deassign: the id alone, no descriptor */
        f = (ProtoIrqfd) { .id = 3 };
        n = irqfd(&f, true);
        CHECK_INT(proto_decode_request(buf, n, 0, &req), 0);
        CHECK_INT(req.op, PROTO_OP_IRQFD_DEASSIGN);
        CHECK_INT(req.irqfd.id, 3);
        CHECK_INT(decode(n, 1), -EBADF);
        n = irqfd(&line, true);
        CHECK_INT(decode(n, 0), -EINVAL);
        /* flags and reserved bytes */
        n = irqfd(&line, false);
        put16(OFF(xirq_irqfd, flags), 2);
        CHECK_INT(decode(n, 1), -EINVAL);
        n = irqfd(&line, false);
        put8(OFF(xirq_irqfd, reserved) + 6, 1);
        CHECK_INT(decode(n, 1), -EINVAL);
        n = irqfd(&line, false);
        put32(OFF(xirq_irqfd, reserved2), 1);
        CHECK_INT(decode(n, 1), -EINVAL);
}

static void test_claim(void) {
        ProtoRequest req;
        ProtoClaim c = { .id = 1, .space = XIRQ_SPACE_MMIO, .addr = 0xfe000000, .len = 0x200 };
        ProtoClaim d;
        size_t n;

        CHECK_INT(proto_request_size(XIRQ_MSG_CLAIM), 40);
        CHECK_INT(proto_request_size(XIRQ_MSG_UNCLAIM), 16);
        memset(buf, 0, sizeof(buf));
        n = proto_encode_claim(buf, 5, &c);
        CHECK_INT(proto_decode_request(buf, n, 0, &req), 0);
        CHECK_INT(req.op, PROTO_OP_CLAIM);
        CHECK_U64(req.claim.addr, 0xfe000000);
        CHECK_U64(req.claim.len, 0x200);
        CHECK_INT(decode(n, 1), -EBADF);
        d = c;
        d.len = 0;
        CHECK_INT(decode(proto_encode_claim(buf, 5, &d), 0), -EINVAL);
        d.len = XIRQ_CLAIM_MAX + 1;
        CHECK_INT(decode(proto_encode_claim(buf, 5, &d), 0), -EINVAL);
        d = c;
        d.addr = UINT64_MAX - 10;
        CHECK_INT(decode(proto_encode_claim(buf, 5, &d), 0), -EINVAL);
        d = c;
        d.space = XIRQ_SPACE_PIO;
        d.addr = 0xff00;
        d.len = 0x100;
        CHECK_INT(decode(proto_encode_claim(buf, 5, &d), 0), 0);
        d.len = 0x101;
        CHECK_INT(decode(proto_encode_claim(buf, 5, &d), 0), -EINVAL);
        d = c;
        d.space = 3;
        CHECK_INT(decode(proto_encode_claim(buf, 5, &d), 0), -EINVAL);
        d = c;
        d.deadline_ms = 60001;
        CHECK_INT(decode(proto_encode_claim(buf, 5, &d), 0), -EINVAL);
        n = proto_encode_claim(buf, 5, &c);
        put8(OFF(xirq_claim, reserved0), 1);
        CHECK_INT(decode(n, 0), -EINVAL);
        memset(buf, 0, sizeof(buf));
        n = proto_encode_unclaim(buf, 6, 1);
        CHECK_INT(proto_decode_request(buf, n, 0, &req), 0);
        CHECK_INT(req.op, PROTO_OP_UNCLAIM);
        CHECK_INT(req.claim.id, 1);
        put32(OFF(xirq_unclaim, reserved), 1);
        CHECK_INT(decode(n, 0), -EINVAL);
}

static void test_claim_reply(void) {
        ProtoReply rep;
        size_t n = proto_encode_reply(buf, XIRQ_MSG_CLAIM, 4, 0);

        /* a successful CLAIM brings its ring and two eventfds; its error, none */
        CHECK_INT(proto_decode_reply(buf, n, 3, XIRQ_MSG_CLAIM, 4, &rep), 0);
        CHECK_INT(proto_decode_reply(buf, n, 0, XIRQ_MSG_CLAIM, 4, &rep), -EBADF);
        n = proto_encode_reply(buf, XIRQ_MSG_CLAIM, 4, -EEXIST);
        CHECK_INT(proto_decode_reply(buf, n, 0, XIRQ_MSG_CLAIM, 4, &rep), 0);
        CHECK_INT(rep.error, -EEXIST);
        CHECK_INT(proto_decode_reply(buf, n, 3, XIRQ_MSG_CLAIM, 4, &rep), -EBADF);
        n = proto_encode_reply(buf, XIRQ_MSG_IRQFD, 4, 0);
        CHECK_INT(proto_decode_reply(buf, n, 1, XIRQ_MSG_IRQFD, 4, &rep), -EBADF);
}

static void test_replies(void) {
        ProtoReply rep;
        ProtoQueryInfo qi = {
                .state = XIRQ_GUEST_SERVING, .domid = 5, .server_id = 2, .nr_vcpus = 4, .registrations = 9,
                .client_registrations = 3, .kicks = 0x1122334455667788, .unmatched = 2, .reads = 3,
                .invalid = 4, .other = 5,
        };
        size_t n;

        n = proto_encode_hello_reply(buf, 11, 0, 1, 7, 256);
        CHECK_INT(n, 24);
        CHECK_INT(buf[0], 0x01);
        CHECK_INT(buf[1], 0x80);
        CHECK_INT(proto_decode_reply(buf, n, 0, XIRQ_MSG_HELLO, 11, &rep), 0);
        CHECK_INT(rep.error, 0);
        CHECK_INT(rep.version, 1);
        CHECK_INT(rep.domid, 7);
        CHECK_INT(rep.max_registrations, 256);
        CHECK_INT(proto_decode_reply(buf, n, 0, XIRQ_MSG_HELLO, 12, &rep), -EPROTO);    /* seq */
        CHECK_INT(proto_decode_reply(buf, n, 0, XIRQ_MSG_QUERY, 11, &rep), -EPROTO);    /* type */
        CHECK_INT(proto_decode_reply(buf, n - 1, 0, XIRQ_MSG_HELLO, 11, &rep), -EBADMSG);
        CHECK_INT(proto_decode_reply(buf, n, 1, XIRQ_MSG_HELLO, 11, &rep), -EBADF);
        CHECK_INT(proto_decode_reply(buf, 4, 0, XIRQ_MSG_HELLO, 11, &rep), -EBADMSG);
        put16(OFF(xirq_hello_reply, reserved), 1);
        CHECK_INT(proto_decode_reply(buf, n, 0, XIRQ_MSG_HELLO, 11, &rep), -EINVAL);
        n = proto_encode_hello_reply(buf, 11, 0, 0, 7, 256);    /* success without a version */
        CHECK_INT(proto_decode_reply(buf, n, 0, XIRQ_MSG_HELLO, 11, &rep), -EINVAL);

        /* errors travel as positive errnos */
        n = proto_encode_reply(buf, XIRQ_MSG_ASSIGN, 5, -ENOSPC);
        CHECK_INT(n, 16);
        CHECK_INT(buf[8], ENOSPC);
        CHECK_INT(proto_decode_reply(buf, n, 0, XIRQ_MSG_ASSIGN, 5, &rep), 0);
        CHECK_INT(rep.error, -ENOSPC);
        n = proto_encode_reply(buf, XIRQ_MSG_ASSIGN, 5, EEXIST);
        CHECK_INT(proto_decode_reply(buf, n, 0, XIRQ_MSG_ASSIGN, 5, &rep), 0);
        CHECK_INT(rep.error, -EEXIST);
        put32(OFF(xirq_reply, error), (uint32_t) -5);
        CHECK_INT(proto_decode_reply(buf, n, 0, XIRQ_MSG_ASSIGN, 5, &rep), -EINVAL);
        put32(OFF(xirq_reply, error), 100000);
        CHECK_INT(proto_decode_reply(buf, n, 0, XIRQ_MSG_ASSIGN, 5, &rep), -EINVAL);
        n = proto_encode_reply(buf, XIRQ_MSG_ASSIGN, 5, 0);
        put32(OFF(xirq_reply, reserved), 1);
        CHECK_INT(proto_decode_reply(buf, n, 0, XIRQ_MSG_ASSIGN, 5, &rep), -EINVAL);
        n = proto_encode_reply(buf, XIRQ_MSG_ASSIGN, 5, 0);
        put16(OFF(xirq_hdr, flags), 1);
        CHECK_INT(proto_decode_reply(buf, n, 0, XIRQ_MSG_ASSIGN, 5, &rep), -EPROTO);

        /* error replies to each type have that type's reply size */
        CHECK_INT(proto_encode_error_reply(buf, XIRQ_MSG_HELLO, 1, -EPROTO), 24);
        CHECK_INT(proto_decode_reply(buf, 24, 0, XIRQ_MSG_HELLO, 1, &rep), 0);
        CHECK_INT(rep.error, -EPROTO);
        CHECK_INT(rep.version, 0);
        CHECK_U64(rep.domid, PROTO_DOMID_NONE);
        CHECK_INT(proto_encode_error_reply(buf, XIRQ_MSG_QUERY, 2, -EBADMSG), 80);
        CHECK_INT(proto_decode_reply(buf, 80, 0, XIRQ_MSG_QUERY, 2, &rep), 0);
        CHECK_INT(rep.error, -EBADMSG);
        CHECK_U64(rep.query.server_id, PROTO_SERVER_NONE);
        CHECK_INT(proto_encode_error_reply(buf, 0x0042, 3, -EPROTO), 16);
        CHECK_INT(buf[0], 0x42);
        CHECK_INT(buf[1], 0x80);
        CHECK_INT(proto_decode_reply(buf, 16, 0, 0x0042, 3, &rep), 0);
        CHECK_INT(rep.error, -EPROTO);

        /* query round trip */
        n = proto_encode_query_reply(buf, 9, 0, &qi);
        CHECK_INT(n, 80);
        CHECK_INT(proto_decode_reply(buf, n, 0, XIRQ_MSG_QUERY, 9, &rep), 0);
        CHECK(memcmp(&rep.query, &qi, sizeof(qi)) == 0);
        CHECK_INT(buf[OFF(xirq_query_reply, kicks)], 0x88);
        put32(OFF(xirq_query_reply, reserved), 1);
        CHECK_INT(proto_decode_reply(buf, n, 0, XIRQ_MSG_QUERY, 9, &rep), -EINVAL);
}

/* Random packets: decoding never crashes, and what decodes re-encodes to itself. */
static void test_random(void) {
        uint64_t s = 0x9e3779b97f4a7c15;
        unsigned ok = 0;

        for (unsigned i = 0; i < 200000; i++) {
                ProtoRequest req;
                size_t len;
                unsigned nfds;
                uint8_t again[XIRQ_MSG_MAX];

                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                for (size_t j = 0; j < sizeof(buf); j++)
                        buf[j] = (uint8_t) (s >> ((j % 8) * 8)) ^ (uint8_t) (j * 31);
                /* make valid-looking headers common */
                static const uint16_t types[] = { XIRQ_MSG_HELLO, XIRQ_MSG_ASSIGN, XIRQ_MSG_DEASSIGN,
                                                  XIRQ_MSG_VIRTIO_MMIO, XIRQ_MSG_QUERY };
                put16(0, types[s % 5]);
                put16(2, 0);
                if (s & 0x100)
                        memset(buf + 8, 0, sizeof(buf) - 8);
                if (s & 0x200) {
                        put8(8, 1);
                        put8(9, 4);
                        put8(10, (uint8_t) ((s >> 20) % 3));
                }
                len = proto_request_size(types[s % 5]);
                if (s & 0x400)
                        len = (s >> 32) % (XIRQ_MSG_MAX + 1);
                nfds = (unsigned) ((s >> 40) % 3);
                if (proto_decode_request(buf, len, nfds, &req) != 0)
                        continue;
                ok++;
                CHECK(req.key.space == 0 || match_key_check(&req.key) == 0);
                if (req.hdr.type == XIRQ_MSG_ASSIGN || req.hdr.type == XIRQ_MSG_DEASSIGN) {
                        uint64_t value = req.key.value;
                        uint64_t mask = req.match == XIRQ_MATCH_MASK ? req.key.mask : 0;
                        size_t m = proto_encode_assign(again, req.hdr.type, req.hdr.seq, req.key.space, req.key.len,
                                                       req.match, req.key.addr, value, mask);
                        CHECK(m == len && memcmp(again, buf, len) == 0);
                }
        }
        CHECK(ok > 1000);
}

int main(void) {
        ut_start(60);
        test_sizes();
        test_wire_layout();
        test_header();
        test_hello();
        test_assign();
        test_virtio();
        test_irqfd();
        test_claim();
        test_claim_reply();
        test_replies();
        test_random();
        return ut_finish("test-proto");
}
