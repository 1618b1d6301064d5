/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Codec of the xen-ioreqd wire protocol.  Packets are copied into the packed
 * structs of <xenioreqd/protocol.h> with memcpy (no unaligned pointer access)
 * and every field is converted from/to little-endian.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "proto.h"

#define ERRNO_MAX       4095    /* plausible errno values on the wire */

size_t proto_request_size(uint16_t type) {
        switch (type) {
        case XIRQ_MSG_HELLO:            return sizeof(struct xirq_hello);
        case XIRQ_MSG_ASSIGN:
        case XIRQ_MSG_DEASSIGN:         return sizeof(struct xirq_assign);
        case XIRQ_MSG_VIRTIO_MMIO:      return sizeof(struct xirq_virtio_mmio);
        case XIRQ_MSG_QUERY:            return sizeof(struct xirq_query);
        case XIRQ_MSG_IRQFD:            return sizeof(struct xirq_irqfd);
        case XIRQ_MSG_CLAIM:            return sizeof(struct xirq_claim);
        case XIRQ_MSG_UNCLAIM:          return sizeof(struct xirq_unclaim);
        default:                        return 0;
        }
}

unsigned proto_type_version(uint16_t type) {
        switch (type) {
        case XIRQ_MSG_HELLO:
        case XIRQ_MSG_ASSIGN:
        case XIRQ_MSG_DEASSIGN:
        case XIRQ_MSG_VIRTIO_MMIO:
        case XIRQ_MSG_QUERY:            return 1;
        case XIRQ_MSG_IRQFD:
        case XIRQ_MSG_CLAIM:
        case XIRQ_MSG_UNCLAIM:          return 2;
        default:                        return 0;
        }
}

size_t proto_reply_size(uint16_t type) {
        switch (type) {
        case XIRQ_MSG_HELLO:            return sizeof(struct xirq_hello_reply);
        case XIRQ_MSG_QUERY:            return sizeof(struct xirq_query_reply);
        default:                        return sizeof(struct xirq_reply);
        }
}

const char *proto_type_name(uint16_t type) {
        switch (type & ~XIRQ_MSG_REPLY) {
        case XIRQ_MSG_HELLO:            return "HELLO";
        case XIRQ_MSG_ASSIGN:           return "ASSIGN";
        case XIRQ_MSG_DEASSIGN:         return "DEASSIGN";
        case XIRQ_MSG_VIRTIO_MMIO:      return "VIRTIO_MMIO";
        case XIRQ_MSG_QUERY:            return "QUERY";
        case XIRQ_MSG_IRQFD:            return "IRQFD";
        case XIRQ_MSG_CLAIM:            return "CLAIM";
        case XIRQ_MSG_UNCLAIM:          return "UNCLAIM";
        default:                        return "unknown";
        }
}

int proto_decode_header(const void *buf, size_t len, ProtoHeader *ret) {
        struct xirq_hdr h;

        if (!buf || len < sizeof(h))
                return -EBADMSG;
        memcpy(&h, buf, sizeof(h));
        ret->type = le16toh(h.type);
        ret->flags = le16toh(h.flags);
        ret->seq = le32toh(h.seq);
        return 0;
}

int proto_make_key(uint8_t space, uint8_t len, uint8_t match, uint64_t addr, uint64_t value, uint64_t mask,
                   MatchKey *ret) {
        uint64_t lm = match_len_mask(len);
        MatchKey k = { .addr = addr, .space = space, .len = len };

        if ((space != XIRQ_SPACE_MMIO && space != XIRQ_SPACE_PIO) || lm == 0)
                return -EINVAL;
        switch (match) {
        case XIRQ_MATCH_ANY:
                if (value != 0 || mask != 0)
                        return -EINVAL;
                break;
        case XIRQ_MATCH_EXACT:
                if (mask != 0 || (value & ~lm) != 0)
                        return -EINVAL;
                k.mask = lm;
                k.value = value;
                break;
        case XIRQ_MATCH_MASK:
                if (mask == 0 || (mask & ~lm) != 0 || (value & ~mask) != 0)
                        return -EINVAL;
                k.mask = mask;
                k.value = value;
                break;
        default:
                return -EINVAL;
        }
        if (match_key_check(&k) < 0)
                return -EINVAL;
        *ret = k;
        return 0;
}

int proto_negotiate_version(uint16_t version_min, uint16_t version_max) {
        unsigned v = version_max < XIRQ_PROTO_VERSION ? version_max : XIRQ_PROTO_VERSION;

        if (version_min == 0 || version_min > version_max)
                return -EPROTONOSUPPORT;
        if (v < XIRQ_PROTO_VERSION_MIN || v < version_min)
                return -EPROTONOSUPPORT;
        return (int) v;
}

static int check_fds(unsigned nfds, unsigned want);

static bool all_zero(const void *p, size_t n) {
        const uint8_t *b = p;

        for (size_t i = 0; i < n; i++)
                if (b[i])
                        return false;
        return true;
}

/* An IRQFD's fields: the action's own, in range, every other one 0. */
static int decode_irqfd(const struct xirq_irqfd *m, ProtoRequest *req, unsigned nfds) {
        ProtoIrqfd f = {
                .id = le32toh(m->id),
                .action = m->action,
                .mode = m->mode,
                .irq = le32toh(m->irq),
                .segment = le16toh(m->segment),
                .bus = m->bus,
                .device = m->device,
                .pin = m->pin,
                .msi_addr = le64toh(m->msi_addr),
                .msi_data = le32toh(m->msi_data),
        };
        uint16_t flags = le16toh(m->flags);
        bool intx_fields = f.segment || f.bus || f.device || f.pin, msi_fields = f.msi_addr || f.msi_data;

        if (!all_zero(m->reserved, sizeof(m->reserved)) || m->reserved2 != 0 || (flags & ~XIRQ_IRQFD_DEASSIGN))
                return -EINVAL;
        if (flags & XIRQ_IRQFD_DEASSIGN) {
                if (f.action || f.mode || f.irq || intx_fields || msi_fields)
                        return -EINVAL;
                req->op = PROTO_OP_IRQFD_DEASSIGN;
                req->irqfd = f;
                return check_fds(nfds, 0);
        }
        switch (f.action) {
        case XIRQ_IRQ_LINE:
        case XIRQ_IRQ_ISA:
                if ((f.action == XIRQ_IRQ_LINE ? f.irq > 1019 : f.irq > 15) || intx_fields || msi_fields)
                        return -EINVAL;
                break;
        case XIRQ_IRQ_INTX:
                if (f.irq || f.device > 31 || f.pin > 3 || msi_fields)
                        return -EINVAL;
                break;
        case XIRQ_IRQ_MSI:
                if (f.irq || intx_fields || f.msi_addr == 0 || f.mode != XIRQ_IRQFD_EDGE)
                        return -EINVAL;
                break;
        case XIRQ_IRQ_EVTCHN:
                /* a port of the guest's (2-level and FIFO event channels: at most 2^17) */
                if (f.irq == 0 || f.irq >= (1u << 17) || intx_fields || msi_fields || f.mode != XIRQ_IRQFD_EDGE)
                        return -EINVAL;
                break;
        default:
                return -EINVAL;
        }
        if (f.mode != XIRQ_IRQFD_EDGE && f.mode != XIRQ_IRQFD_LEVEL && f.mode != XIRQ_IRQFD_RAISE)
                return -EINVAL;
        req->op = PROTO_OP_IRQFD;
        req->irqfd = f;
        /* LEVEL: the trigger, then the resample eventfd */
        return check_fds(nfds, f.mode == XIRQ_IRQFD_LEVEL ? 2 : 1);
}

static int decode_claim(const struct xirq_claim *m, ProtoRequest *req) {
        ProtoClaim c = {
                .id = le32toh(m->id),
                .space = m->space,
                .addr = le64toh(m->addr),
                .len = le64toh(m->len),
                .deadline_ms = le32toh(m->deadline_ms),
        };

        if (!all_zero(m->reserved0, sizeof(m->reserved0)) || m->reserved1 != 0)
                return -EINVAL;
        if ((c.space != XIRQ_SPACE_MMIO && c.space != XIRQ_SPACE_PIO) || c.len == 0 || c.len > XIRQ_CLAIM_MAX ||
            c.addr > UINT64_MAX - (c.len - 1) || c.deadline_ms > 60000)
                return -EINVAL;
        if (c.space == XIRQ_SPACE_PIO && (c.addr > 0xffff || c.addr + c.len > 0x10000))
                return -EINVAL;
        req->op = PROTO_OP_CLAIM;
        req->claim = c;
        return 0;
}

static int check_fds(unsigned nfds, unsigned want) {
        return nfds == want ? 0 : -EBADF;
}

/* ASSIGN comes with its eventfd, DEASSIGN with none */
static int set_assign_op(ProtoRequest *req, bool assign, unsigned nfds) {
        req->op = assign ? PROTO_OP_ASSIGN : PROTO_OP_DEASSIGN;
        return check_fds(nfds, assign ? 1 : 0);
}

int proto_decode_request(const void *buf, size_t len, unsigned nfds, ProtoRequest *ret) {
        ProtoRequest req = { 0 };
        size_t want;
        int r;

        if (!ret)
                return -EINVAL;
        r = proto_decode_header(buf, len, &req.hdr);
        if (r < 0)
                return r;
        want = proto_request_size(req.hdr.type);
        if (want == 0)
                return -EPROTO;         /* unknown type, or the reply bit */
        if (len != want)
                return -EBADMSG;
        if (req.hdr.flags != 0)
                return -EPROTO;

        switch (req.hdr.type) {
        case XIRQ_MSG_HELLO: {
                struct xirq_hello m;
                memcpy(&m, buf, sizeof(m));
                if (le32toh(m.magic) != XIRQ_PROTO_MAGIC)
                        return -EPROTO;
                req.op = PROTO_OP_HELLO;
                req.version_min = le16toh(m.version_min);
                req.version_max = le16toh(m.version_max);
                if (req.version_min == 0 || req.version_min > req.version_max)
                        return -EINVAL;
                r = check_fds(nfds, 0);
                break;
        }
        case XIRQ_MSG_ASSIGN:
        case XIRQ_MSG_DEASSIGN: {
                struct xirq_assign m;
                memcpy(&m, buf, sizeof(m));
                if (m.reserved0 != 0 || m.reserved1 != 0)
                        return -EINVAL;
                r = proto_make_key(m.space, m.len, m.match, le64toh(m.addr), le64toh(m.value), le64toh(m.mask),
                                   &req.key);
                if (r < 0)
                        return r;
                req.match = m.match;
                r = set_assign_op(&req, req.hdr.type == XIRQ_MSG_ASSIGN, nfds);
                break;
        }
        case XIRQ_MSG_VIRTIO_MMIO: {
                struct xirq_virtio_mmio m;
                uint16_t vflags;
                memcpy(&m, buf, sizeof(m));
                vflags = le16toh(m.vflags);
                req.base = le64toh(m.base);
                req.queue = le16toh(m.queue);
                if (m.reserved != 0 || (vflags & ~(uint16_t) XIRQ_VIRTIO_DEASSIGN) != 0)
                        return -EINVAL;
                /* QUEUE_NOTIFY is a naturally aligned 32-bit register */
                if ((req.base & 3) != 0 || req.base > UINT64_MAX - (XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY + 3))
                        return -EINVAL;
                r = proto_make_key(XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_MASK, req.base + XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY,
                                   req.queue, 0xffff, &req.key);
                if (r < 0)
                        return r;
                req.match = XIRQ_MATCH_MASK;
                r = set_assign_op(&req, !(vflags & XIRQ_VIRTIO_DEASSIGN), nfds);
                break;
        }
        case XIRQ_MSG_QUERY:
                req.op = PROTO_OP_QUERY;
                r = check_fds(nfds, 0);
                break;
        case XIRQ_MSG_IRQFD: {
                struct xirq_irqfd m;
                memcpy(&m, buf, sizeof(m));
                r = decode_irqfd(&m, &req, nfds);
                break;
        }
        case XIRQ_MSG_CLAIM: {
                struct xirq_claim m;
                memcpy(&m, buf, sizeof(m));
                r = decode_claim(&m, &req);
                if (r >= 0)
                        r = check_fds(nfds, 0);
                break;
        }
        case XIRQ_MSG_UNCLAIM: {
                struct xirq_unclaim m;
                memcpy(&m, buf, sizeof(m));
                if (m.reserved != 0)
                        return -EINVAL;
                req.op = PROTO_OP_UNCLAIM;
                req.claim.id = le32toh(m.id);
                r = check_fds(nfds, 0);
                break;
        }
        default:
                return -EPROTO;
        }
        if (r < 0)
                return r;
        *ret = req;
        return 0;
}

/* ---- encoders ---- */

static void put_hdr(struct xirq_hdr *h, uint16_t type, uint32_t seq) {
        h->type = htole16(type);
        h->flags = 0;
        h->seq = htole32(seq);
}

static int32_t wire_error(int error) {
        if (error < 0)
                error = error == INT32_MIN ? EINVAL : -error;
        return (int32_t) htole32((uint32_t) error);
}

size_t proto_encode_reply(void *buf, uint16_t req_type, uint32_t seq, int error) {
        struct xirq_reply m = { 0 };

        put_hdr(&m.hdr, (uint16_t) (req_type | XIRQ_MSG_REPLY), seq);
        m.error = wire_error(error);
        memcpy(buf, &m, sizeof(m));
        return sizeof(m);
}

size_t proto_encode_hello_reply(void *buf, uint32_t seq, int error, uint16_t version, uint32_t domid,
                                uint32_t max_registrations) {
        struct xirq_hello_reply m = { 0 };

        put_hdr(&m.hdr, XIRQ_MSG_HELLO | XIRQ_MSG_REPLY, seq);
        m.error = wire_error(error);
        m.version = htole16(version);
        m.domid = htole32(domid);
        m.max_registrations = htole32(max_registrations);
        memcpy(buf, &m, sizeof(m));
        return sizeof(m);
}

size_t proto_encode_query_reply(void *buf, uint32_t seq, int error, const ProtoQueryInfo *info) {
        struct xirq_query_reply m = { 0 };

        put_hdr(&m.hdr, XIRQ_MSG_QUERY | XIRQ_MSG_REPLY, seq);
        m.error = wire_error(error);
        if (info) {
                m.state = htole32(info->state);
                m.domid = htole32(info->domid);
                m.server_id = htole32(info->server_id);
                m.nr_vcpus = htole32(info->nr_vcpus);
                m.registrations = htole32(info->registrations);
                m.client_registrations = htole32(info->client_registrations);
                m.kicks = htole64(info->kicks);
                m.unmatched = htole64(info->unmatched);
                m.reads = htole64(info->reads);
                m.invalid = htole64(info->invalid);
                m.other = htole64(info->other);
        } else {
                m.domid = htole32(PROTO_DOMID_NONE);
                m.server_id = htole32(PROTO_SERVER_NONE);
        }
        memcpy(buf, &m, sizeof(m));
        return sizeof(m);
}

size_t proto_encode_error_reply(void *buf, uint16_t req_type, uint32_t seq, int error) {
        switch (req_type) {
        case XIRQ_MSG_HELLO:
                return proto_encode_hello_reply(buf, seq, error, 0, PROTO_DOMID_NONE, 0);
        case XIRQ_MSG_QUERY:
                return proto_encode_query_reply(buf, seq, error, NULL);
        default:
                return proto_encode_reply(buf, req_type, seq, error);
        }
}

size_t proto_encode_hello(void *buf, uint32_t seq, uint16_t version_min, uint16_t version_max) {
        struct xirq_hello m = { 0 };

        put_hdr(&m.hdr, XIRQ_MSG_HELLO, seq);
        m.magic = htole32(XIRQ_PROTO_MAGIC);
        m.version_min = htole16(version_min);
        m.version_max = htole16(version_max);
        memcpy(buf, &m, sizeof(m));
        return sizeof(m);
}

size_t proto_encode_assign(void *buf, uint16_t type, uint32_t seq, uint8_t space, uint8_t len, uint8_t match,
                           uint64_t addr, uint64_t value, uint64_t mask) {
        struct xirq_assign m = { 0 };

        put_hdr(&m.hdr, type, seq);
        m.space = space;
        m.len = len;
        m.match = match;
        m.addr = htole64(addr);
        m.value = htole64(value);
        m.mask = htole64(mask);
        memcpy(buf, &m, sizeof(m));
        return sizeof(m);
}

size_t proto_encode_virtio_mmio(void *buf, uint32_t seq, uint64_t base, uint16_t queue, uint16_t vflags) {
        struct xirq_virtio_mmio m = { 0 };

        put_hdr(&m.hdr, XIRQ_MSG_VIRTIO_MMIO, seq);
        m.base = htole64(base);
        m.queue = htole16(queue);
        m.vflags = htole16(vflags);
        memcpy(buf, &m, sizeof(m));
        return sizeof(m);
}

size_t proto_encode_irqfd(void *buf, uint32_t seq, const ProtoIrqfd *f, bool deassign) {
        struct xirq_irqfd m = { 0 };

        put_hdr(&m.hdr, XIRQ_MSG_IRQFD, seq);
        m.id = htole32(f->id);
        m.action = f->action;
        m.mode = f->mode;
        m.flags = htole16(deassign ? XIRQ_IRQFD_DEASSIGN : 0);
        m.irq = htole32(f->irq);
        m.segment = htole16(f->segment);
        m.bus = f->bus;
        m.device = f->device;
        m.pin = f->pin;
        m.msi_addr = htole64(f->msi_addr);
        m.msi_data = htole32(f->msi_data);
        memcpy(buf, &m, sizeof(m));
        return sizeof(m);
}

size_t proto_encode_claim(void *buf, uint32_t seq, const ProtoClaim *c) {
        struct xirq_claim m = { 0 };

        put_hdr(&m.hdr, XIRQ_MSG_CLAIM, seq);
        m.id = htole32(c->id);
        m.space = c->space;
        m.addr = htole64(c->addr);
        m.len = htole64(c->len);
        m.deadline_ms = htole32(c->deadline_ms);
        memcpy(buf, &m, sizeof(m));
        return sizeof(m);
}

size_t proto_encode_unclaim(void *buf, uint32_t seq, uint32_t id) {
        struct xirq_unclaim m = { 0 };

        put_hdr(&m.hdr, XIRQ_MSG_UNCLAIM, seq);
        m.id = htole32(id);
        memcpy(buf, &m, sizeof(m));
        return sizeof(m);
}

size_t proto_encode_query(void *buf, uint32_t seq) {
        struct xirq_query m = { 0 };

        put_hdr(&m.hdr, XIRQ_MSG_QUERY, seq);
        memcpy(buf, &m, sizeof(m));
        return sizeof(m);
}

/* ---- reply decoder (client side) ---- */

static int get_error(int32_t wire, int *ret) {
        int32_t e = (int32_t) le32toh((uint32_t) wire);

        if (e < 0 || e > ERRNO_MAX)
                return -EINVAL;
        *ret = -e;
        return 0;
}

int proto_decode_reply(const void *buf, size_t len, unsigned nfds, uint16_t req_type, uint32_t seq,
                       ProtoReply *ret) {
        ProtoReply rep = { 0 };
        int r;

        if (!ret)
                return -EINVAL;
        r = proto_decode_header(buf, len, &rep.hdr);
        if (r < 0)
                return r;
        if (rep.hdr.type != (uint16_t) (req_type | XIRQ_MSG_REPLY) || rep.hdr.seq != seq)
                return -EPROTO;
        if (len != proto_reply_size(req_type))
                return -EBADMSG;
        if (rep.hdr.flags != 0)
                return -EPROTO;

        switch (req_type) {
        case XIRQ_MSG_HELLO: {
                struct xirq_hello_reply m;
                memcpy(&m, buf, sizeof(m));
                r = get_error(m.error, &rep.error);
                if (r < 0 || m.reserved != 0)
                        return -EINVAL;
                rep.version = le16toh(m.version);
                rep.domid = le32toh(m.domid);
                rep.max_registrations = le32toh(m.max_registrations);
                if (rep.error == 0 && rep.version == 0)
                        return -EINVAL;
                break;
        }
        case XIRQ_MSG_QUERY: {
                struct xirq_query_reply m;
                memcpy(&m, buf, sizeof(m));
                r = get_error(m.error, &rep.error);
                if (r < 0 || m.reserved != 0)
                        return -EINVAL;
                rep.query.state = le32toh(m.state);
                rep.query.domid = le32toh(m.domid);
                rep.query.server_id = le32toh(m.server_id);
                rep.query.nr_vcpus = le32toh(m.nr_vcpus);
                rep.query.registrations = le32toh(m.registrations);
                rep.query.client_registrations = le32toh(m.client_registrations);
                rep.query.kicks = le64toh(m.kicks);
                rep.query.unmatched = le64toh(m.unmatched);
                rep.query.reads = le64toh(m.reads);
                rep.query.invalid = le64toh(m.invalid);
                rep.query.other = le64toh(m.other);
                break;
        }
        default: {
                struct xirq_reply m;
                memcpy(&m, buf, sizeof(m));
                r = get_error(m.error, &rep.error);
                if (r < 0 || m.reserved != 0)
                        return -EINVAL;
                break;
        }
        }
        /* a successful CLAIM's reply brings its ring and its two eventfds, nothing else brings any */
        if (nfds != (req_type == XIRQ_MSG_CLAIM && rep.error == 0 ? 3u : 0u))
                return -EBADF;
        *ret = rep;
        return 0;
}
