/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "ctlproto.h"

int ctlproto_decode_header(const void *buf, size_t len, uint16_t *ret_type, uint32_t *ret_seq) {
        struct ctl_hdr h;

        if (len < sizeof(h))
                return -EBADMSG;
        memcpy(&h, buf, sizeof(h));
        *ret_type = le16toh(h.type);
        *ret_seq = le32toh(h.seq);
        return 0;
}

/* The size of a request of this type in this version (0 before HELLO), 0 if it has none there. */
static size_t ctlproto_request_size(uint16_t type, uint16_t version) {
        switch (type) {
        case CTL_MSG_HELLO:     return sizeof(struct ctl_hello);
        case CTL_MSG_STATUS:    return sizeof(struct ctl_hdr);
        case CTL_MSG_GUEST:
        case CTL_MSG_CLIENT:
        case CTL_MSG_REG:
        case CTL_MSG_HIST:      return sizeof(struct ctl_item);
        case CTL_MSG_IRQFD:
        case CTL_MSG_CLAIM:     return version >= 2 ? sizeof(struct ctl_item) : 0;
        default:                return 0;
        }
}

/* NUL-terminated within 64 bytes and NUL-padded to the end of the field */
static int ctlproto_check_name(const char *name) {
        const char *end = memchr(name, '\0', CTL_NAME_SIZE);

        if (!end || (size_t) (end - name) > CTL_NAME_MAX)
                return -EINVAL;
        for (const char *p = end; p < name + CTL_NAME_SIZE; p++)
                if (*p)
                        return -EINVAL;
        return 0;
}

int ctlproto_decode_request(const void *buf, size_t len, uint16_t version, CtlRequest *ret) {
        CtlRequest req = { 0 };
        struct ctl_hdr h;
        size_t want;

        if (len < sizeof(h))
                return -EBADMSG;
        memcpy(&h, buf, sizeof(h));
        req.type = le16toh(h.type);
        req.seq = le32toh(h.seq);
        want = req.type & CTL_MSG_REPLY ? 0 : ctlproto_request_size(req.type, version);
        if (want == 0 || h.flags != 0 || (req.type == CTL_MSG_HELLO) == (version != 0))
                return -EPROTO;
        if (len != want)
                return -EBADMSG;

        switch (req.type) {
        case CTL_MSG_HELLO: {
                struct ctl_hello m;

                memcpy(&m, buf, sizeof(m));
                if (le32toh(m.magic) != CTL_PROTO_MAGIC)
                        return -EPROTO;
                req.version_min = le16toh(m.version_min);
                req.version_max = le16toh(m.version_max);
                if (req.version_min == 0 || req.version_min > req.version_max)
                        return -EINVAL;
                break;
        }
        case CTL_MSG_STATUS:
                break;
        default: {
                struct ctl_item m;

                memcpy(&m, buf, sizeof(m));
                if (m.reserved != 0 || ctlproto_check_name(m.name) < 0)
                        return -EINVAL;
                req.index = le32toh(m.index);
                memcpy(req.name, m.name, sizeof(req.name));
                /* only GUEST goes by index; GUEST by name and HIST have no index */
                if (req.name[0] == '\0' && req.type != CTL_MSG_GUEST)
                        return -EINVAL;
                if (req.name[0] != '\0' && (req.type == CTL_MSG_GUEST || req.type == CTL_MSG_HIST) && req.index != 0)
                        return -EINVAL;
                break;
        }
        }
        *ret = req;
        return 0;
}

size_t ctlproto_encode_hello(void *buf, uint32_t seq, uint16_t version_min, uint16_t version_max) {
        struct ctl_hello m = {
                .hdr = { .type = htole16(CTL_MSG_HELLO), .seq = htole32(seq) },
                .magic = htole32(CTL_PROTO_MAGIC),
                .version_min = htole16(version_min),
                .version_max = htole16(version_max),
        };

        memcpy(buf, &m, sizeof(m));
        return sizeof(m);
}

size_t ctlproto_encode_status(void *buf, uint32_t seq) {
        struct ctl_hdr h = { .type = htole16(CTL_MSG_STATUS), .seq = htole32(seq) };

        memcpy(buf, &h, sizeof(h));
        return sizeof(h);
}

size_t ctlproto_encode_item(void *buf, uint16_t type, uint32_t seq, uint32_t index, const char *name) {
        struct ctl_item m = {
                .hdr = { .type = htole16(type), .seq = htole32(seq) },
                .index = htole32(index),
        };

        if (name) {
                size_t n = strnlen(name, sizeof(m.name) - 1);

                memcpy(m.name, name, n);
        }
        memcpy(buf, &m, sizeof(m));
        return sizeof(m);
}
