/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fuzz target for the control protocol's request decoder (shared/ctlproto.c).
 * Input: one byte whose value modulo 3 is the version HELLO chose on the
 * connection (0: no HELLO yet), then a packet.  A request that decodes must keep the decoder's promises (a known
 * type of its exact size, a name NUL-terminated within 64 bytes, an index
 * only where one belongs) and encode back to the same bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctlproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t again[CTL_MSG_MAX];
        CtlRequest req;
        uint16_t version;
        uint16_t type;
        uint32_t seq;
        size_t n = 0;
        int r;

        if (size < 1)
                return 0;
        version = data[0] % 3;
        data++;
        size--;

        r = ctlproto_decode_header(data, size, &type, &seq);
        if ((r == 0) != (size >= sizeof(struct ctl_hdr)))
                abort();
        r = ctlproto_decode_request(data, size, version, &req);
        if (r < 0) {
                if (r != -EBADMSG && r != -EPROTO && r != -EINVAL)
                        abort();
                return 0;
        }
        if (req.type != type || req.seq != seq || (req.type == CTL_MSG_HELLO) == (version != 0))
                abort();
        switch (req.type) {
        case CTL_MSG_HELLO:
                if (req.version_min == 0 || req.version_min > req.version_max)
                        abort();
                n = ctlproto_encode_hello(again, req.seq, req.version_min, req.version_max);
                break;
        case CTL_MSG_STATUS:
                n = ctlproto_encode_status(again, req.seq);
                break;
        case CTL_MSG_GUEST:
        case CTL_MSG_CLIENT:
        case CTL_MSG_REG:
        case CTL_MSG_HIST:
        case CTL_MSG_IRQFD:
        case CTL_MSG_CLAIM:
                if ((req.type == CTL_MSG_IRQFD || req.type == CTL_MSG_CLAIM) && version < 2)
                        abort();
                if (strnlen(req.name, sizeof(req.name)) > CTL_NAME_MAX)
                        abort();
                if (req.name[0] == '\0' && req.type != CTL_MSG_GUEST)
                        abort();
                if (req.name[0] && (req.type == CTL_MSG_GUEST || req.type == CTL_MSG_HIST) && req.index != 0)
                        abort();
                n = ctlproto_encode_item(again, req.type, req.seq, req.index, req.name);
                break;
        default:
                abort();
        }
        if (n != size || memcmp(again, data, n) != 0)
                abort();
        return 0;
}
