/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "wire.h"
#include "xenioreqd/protocol.h"

#define WIRE_DOMID_LIMIT        UINT32_C(0x7ff0)        /* DOMID_FIRST_RESERVED */
#define WIRE_SERVER_LIMIT       8u                      /* ioreq servers per domain */
#define WIRE_BUSY_POLL_MAX      1000000u
#define WIRE_REGISTRATIONS_MAX  65536u
#define WIRE_ERRNO_MAX          4095

static size_t wire_size(uint16_t type) {
        switch (type) {
        case WIRE_INIT:         return sizeof(struct wire_init);
        case WIRE_ASSIGN:
        case WIRE_DEASSIGN:     return sizeof(struct wire_key);
        case WIRE_START:
        case WIRE_SET:
        case WIRE_STOP:
        case WIRE_IRQFD_DEL:
        case WIRE_UNCLAIM:
        case WIRE_FAILED:
        case WIRE_EXPIRED:      return sizeof(struct wire_value);
        case WIRE_IRQFD:        return sizeof(struct wire_irqfd);
        case WIRE_CLAIM:        return sizeof(struct wire_claim);
        case WIRE_REPLY:        return sizeof(struct wire_reply);
        default:                return 0;
        }
}

const char *wire_type_name(uint16_t type) {
        switch (type) {
        case WIRE_INIT:         return "INIT";
        case WIRE_IRQFD:        return "IRQFD";
        case WIRE_IRQFD_DEL:    return "IRQFD_DEL";
        case WIRE_CLAIM:        return "CLAIM";
        case WIRE_UNCLAIM:      return "UNCLAIM";
        case WIRE_EXPIRED:      return "EXPIRED";
        case WIRE_ASSIGN:       return "ASSIGN";
        case WIRE_DEASSIGN:     return "DEASSIGN";
        case WIRE_START:        return "START";
        case WIRE_SET:          return "SET";
        case WIRE_STOP:         return "STOP";
        case WIRE_REPLY:        return "REPLY";
        case WIRE_FAILED:       return "FAILED";
        default:                return "unknown";
        }
}

static bool zero(const void *p, size_t n) {
        const uint8_t *b = p;

        for (size_t i = 0; i < n; i++)
                if (b[i])
                        return false;
        return true;
}

/* A guest name as the configuration allows it: printable, no space or '/', NUL-padded. */
static int wire_name(const char *in, char *out) {
        size_t n = strnlen(in, WIRE_NAME_MAX);

        if (n == 0 || n == WIRE_NAME_MAX || !zero(in + n, WIRE_NAME_MAX - n))
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (in[i] <= ' ' || in[i] > '~' || in[i] == '/')
                        return -EINVAL;
        memcpy(out, in, n);
        out[n] = '\0';
        return 0;
}

static int wire_space(uint8_t space) {
        return space == XIRQ_SPACE_MMIO || space == XIRQ_SPACE_PIO ? 0 : -EINVAL;
}

/* An irqfd's action, mode and fields: the rules of the client protocol (xen-ioreqd-protocol(7)). */
static int wire_check_irqfd(const WireMsg *m) {
        bool intx = m->segment || m->bus || m->device || m->pin, msi = m->msi_addr || m->msi_data;
        bool edge_only = m->action == XIRQ_IRQ_MSI || m->action == XIRQ_IRQ_EVTCHN;

        if (m->mode != XIRQ_IRQFD_EDGE && (edge_only || (m->mode != XIRQ_IRQFD_LEVEL && m->mode != XIRQ_IRQFD_RAISE)))
                return -EINVAL;
        switch (m->action) {
        case XIRQ_IRQ_LINE:
                return m->irq <= 1019 && !intx && !msi ? 0 : -EINVAL;
        case XIRQ_IRQ_ISA:
                return m->irq <= 15 && !intx && !msi ? 0 : -EINVAL;
        case XIRQ_IRQ_INTX:
                return m->irq == 0 && m->device <= 31 && m->pin <= 3 && !msi ? 0 : -EINVAL;
        case XIRQ_IRQ_MSI:
                return m->irq == 0 && !intx && m->msi_addr != 0 ? 0 : -EINVAL;
        case XIRQ_IRQ_EVTCHN:
                return m->irq > 0 && m->irq < (1u << 17) && !intx && !msi ? 0 : -EINVAL;
        default:
                return -EINVAL;
        }
}

int wire_decode(const void *buf, size_t len, unsigned nfds, WireMsg *ret) {
        WireMsg m = { 0 };
        struct wire_hdr h;
        unsigned want_fds = 0;
        size_t want;
        int r;

        if (!buf || len < sizeof(h))
                return -EBADMSG;
        memcpy(&h, buf, sizeof(h));
        m.type = le16toh(h.type);
        m.seq = le32toh(h.seq);
        want = wire_size(m.type);
        if (want == 0)
                return -EPROTO;
        if (len != want)
                return -EBADMSG;
        if (h.flags != 0)
                return -EPROTO;

        switch (m.type) {
        case WIRE_INIT: {
                struct wire_init w;

                memcpy(&w, buf, sizeof(w));
                if (le32toh(w.magic) != WIRE_MAGIC || le32toh(w.version) != WIRE_VERSION)
                        return -EPROTO;
                m.domid = le32toh(w.domid);
                m.server_id = le32toh(w.server_id);
                m.uid = le32toh(w.uid);
                m.gid = le32toh(w.gid);
                m.busy_poll_us = le32toh(w.busy_poll_us);
                m.max_registrations = le32toh(w.max_registrations);
                /* a worker never runs as root, never for dom0 */
                if (m.domid == 0 || m.domid >= WIRE_DOMID_LIMIT || m.uid == 0 || m.gid == 0 ||
                    m.uid == UINT32_MAX || m.gid == UINT32_MAX ||
                    (m.server_id != WIRE_NONE && m.server_id >= WIRE_SERVER_LIMIT) ||
                    m.busy_poll_us > WIRE_BUSY_POLL_MAX || m.max_registrations == 0 ||
                    m.max_registrations > WIRE_REGISTRATIONS_MAX)
                        return -EINVAL;
                r = wire_name(w.name, m.name);
                if (r < 0)
                        return r;
                want_fds = 1;
                break;
        }
        case WIRE_IRQFD: {
                struct wire_irqfd w;

                memcpy(&w, buf, sizeof(w));
                m.id = le32toh(w.id);
                m.action = w.action;
                m.mode = w.mode;
                m.irq = le32toh(w.irq);
                m.segment = le16toh(w.segment);
                m.bus = w.bus;
                m.device = w.device;
                m.pin = w.pin;
                m.msi_addr = le64toh(w.msi_addr);
                m.msi_data = le32toh(w.msi_data);
                /* the same rules as the client's request (proto.c), checked again */
                if (!zero(w.reserved, sizeof(w.reserved)) || w.reserved2 != 0)
                        return -EINVAL;
                r = wire_check_irqfd(&m);
                if (r < 0)
                        return r;
                want_fds = m.mode == XIRQ_IRQFD_LEVEL ? 2 : 1;
                break;
        }
        case WIRE_CLAIM: {
                struct wire_claim w;

                memcpy(&w, buf, sizeof(w));
                m.id = le32toh(w.id);
                m.space = w.space;
                m.first = le64toh(w.first);
                m.last = le64toh(w.last);
                m.deadline_ms = le32toh(w.deadline_ms);
                m.ring_id = le32toh(w.ring_id);
                if (!zero(w.reserved, sizeof(w.reserved)) || wire_space(m.space) < 0 ||
                    m.first > m.last || m.last - m.first >= XIRQ_CLAIM_MAX ||
                    (m.space == XIRQ_SPACE_PIO && m.last > 0xffff) || m.deadline_ms == 0 || m.deadline_ms > 60000)
                        return -EINVAL;
                want_fds = 3;
                break;
        }
        case WIRE_ASSIGN:
        case WIRE_DEASSIGN: {
                struct wire_key w;

                memcpy(&w, buf, sizeof(w));
                m.key = (MatchKey) {
                        .addr = le64toh(w.addr),
                        .mask = le64toh(w.mask),
                        .value = le64toh(w.value),
                        .space = w.space,
                        .len = w.len,
                };
                if (!zero(w.reserved, sizeof(w.reserved)) || match_key_check(&m.key) < 0)
                        return -EINVAL;
                want_fds = m.type == WIRE_ASSIGN;
                break;
        }
        case WIRE_START:
        case WIRE_SET:
        case WIRE_STOP:
        case WIRE_IRQFD_DEL:
        case WIRE_UNCLAIM:
        case WIRE_EXPIRED:
        case WIRE_FAILED: {
                struct wire_value w;

                memcpy(&w, buf, sizeof(w));
                m.value = (int32_t) le32toh((uint32_t) w.value);
                if (w.reserved != 0)
                        return -EINVAL;
                if ((m.type == WIRE_START && m.value != 0) ||
                    (m.type == WIRE_SET && (m.value < 0 || (uint32_t) m.value > WIRE_BUSY_POLL_MAX)) ||
                    (m.type == WIRE_STOP && m.value != WIRE_STOP_TEARDOWN && m.value != WIRE_STOP_LEAVE) ||
                    (m.type == WIRE_FAILED && (m.value <= 0 || m.value > WIRE_ERRNO_MAX)))
                        return -EINVAL;
                m.id = (uint32_t) m.value;
                break;
        }
        case WIRE_REPLY: {
                struct wire_reply w;
                int32_t e;

                memcpy(&w, buf, sizeof(w));
                e = (int32_t) le32toh((uint32_t) w.error);
                m.server_id = le32toh(w.server_id);
                m.nr_vcpus = le32toh(w.nr_vcpus);
                m.other = le32toh(w.other);
                if (e < 0 || e > WIRE_ERRNO_MAX || w.reserved != 0 || w.reserved2 != 0 ||
                    (m.server_id != WIRE_NONE && m.server_id >= WIRE_SERVER_LIMIT) ||
                    (m.other != WIRE_NONE && m.other >= WIRE_SERVER_LIMIT))
                        return -EINVAL;
                m.error = -e;
                break;
        }
        default:
                return -EPROTO;
        }

        if (nfds != want_fds)
                return -EBADF;
        *ret = m;
        return 0;
}

static void put_hdr(struct wire_hdr *h, uint16_t type, uint32_t seq) {
        h->type = htole16(type);
        h->flags = 0;
        h->seq = htole32(seq);
}

size_t wire_encode_init(void *buf, uint32_t seq, uint32_t domid, uint32_t server_id, uint32_t uid, uint32_t gid,
                        uint32_t busy_poll_us, uint32_t max_registrations, const char *name) {
        struct wire_init w = { 0 };

        put_hdr(&w.hdr, WIRE_INIT, seq);
        w.magic = htole32(WIRE_MAGIC);
        w.version = htole32(WIRE_VERSION);
        w.domid = htole32(domid);
        w.server_id = htole32(server_id);
        w.uid = htole32(uid);
        w.gid = htole32(gid);
        w.busy_poll_us = htole32(busy_poll_us);
        w.max_registrations = htole32(max_registrations);
        /* NUL-padded; a name of WIRE_NAME_MAX bytes or more is cut, and refused by the decoder */
        memcpy(w.name, name, strnlen(name, sizeof(w.name)));
        memcpy(buf, &w, sizeof(w));
        return sizeof(w);
}

size_t wire_encode_irqfd(void *buf, uint32_t seq, uint32_t id, uint8_t action, uint8_t mode, uint32_t irq,
                         uint16_t segment, uint8_t bus, uint8_t device, uint8_t pin, uint64_t msi_addr,
                         uint32_t msi_data) {
        struct wire_irqfd w = { 0 };

        put_hdr(&w.hdr, WIRE_IRQFD, seq);
        w.id = htole32(id);
        w.action = action;
        w.mode = mode;
        w.irq = htole32(irq);
        w.segment = htole16(segment);
        w.bus = bus;
        w.device = device;
        w.pin = pin;
        w.msi_addr = htole64(msi_addr);
        w.msi_data = htole32(msi_data);
        memcpy(buf, &w, sizeof(w));
        return sizeof(w);
}

size_t wire_encode_claim(void *buf, uint32_t seq, uint32_t id, uint8_t space, uint64_t first, uint64_t last,
                         uint32_t deadline_ms, uint32_t ring_id) {
        struct wire_claim w = { 0 };

        put_hdr(&w.hdr, WIRE_CLAIM, seq);
        w.id = htole32(id);
        w.space = space;
        w.first = htole64(first);
        w.last = htole64(last);
        w.deadline_ms = htole32(deadline_ms);
        w.ring_id = htole32(ring_id);
        memcpy(buf, &w, sizeof(w));
        return sizeof(w);
}

size_t wire_encode_key(void *buf, uint16_t type, uint32_t seq, const MatchKey *key) {
        struct wire_key w = { 0 };

        put_hdr(&w.hdr, type, seq);
        w.space = key->space;
        w.len = key->len;
        w.addr = htole64(key->addr);
        w.mask = htole64(key->mask);
        w.value = htole64(key->value);
        memcpy(buf, &w, sizeof(w));
        return sizeof(w);
}

size_t wire_encode_value(void *buf, uint16_t type, uint32_t seq, int32_t value) {
        struct wire_value w = { 0 };

        put_hdr(&w.hdr, type, seq);
        w.value = (int32_t) htole32((uint32_t) value);
        memcpy(buf, &w, sizeof(w));
        return sizeof(w);
}

size_t wire_encode_reply(void *buf, uint32_t seq, int error, uint32_t server_id, uint32_t nr_vcpus,
                         uint32_t other) {
        struct wire_reply w = { 0 };

        if (error < 0)
                error = -error;
        if (error > WIRE_ERRNO_MAX)
                error = EIO;
        put_hdr(&w.hdr, WIRE_REPLY, seq);
        w.error = (int32_t) htole32((uint32_t) error);
        w.server_id = htole32(server_id);
        w.nr_vcpus = htole32(nr_vcpus);
        w.other = htole32(other);
        memcpy(buf, &w, sizeof(w));
        return sizeof(w);
}
