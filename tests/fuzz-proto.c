/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the wire codec and the registration table.  Input: one
 * byte giving the number of attached fds (0..3), then a packet.  A request
 * that decodes must satisfy the codec's promises (a valid, normalised key;
 * re-encoding gives the same bytes back) and go through match_add/lookup/
 * remove cleanly; the same bytes are also decoded as a reply to every type.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static MatchTable *table;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const uint16_t types[] = { XIRQ_MSG_HELLO, XIRQ_MSG_ASSIGN, XIRQ_MSG_DEASSIGN, XIRQ_MSG_VIRTIO_MMIO,
                                          XIRQ_MSG_QUERY, 0x0042 };
        ProtoRequest req;
        ProtoHeader hdr;
        unsigned nfds;
        int r;

        if (size < 1)
                return 0;
        nfds = data[0] % 4;
        data++;
        size--;
        if (!table && match_table_new(&table) < 0)
                abort();

        r = proto_decode_request(data, size, nfds, &req);
        if (r == 0) {
                uint8_t again[XIRQ_MSG_MAX];
                size_t n = 0;

                if (proto_decode_header(data, size, &hdr) < 0 || hdr.type != req.hdr.type || size > XIRQ_MSG_MAX)
                        abort();
                switch (req.hdr.type) {
                case XIRQ_MSG_HELLO:
                        n = proto_encode_hello(again, req.hdr.seq, req.version_min, req.version_max);
                        break;
                case XIRQ_MSG_ASSIGN:
                case XIRQ_MSG_DEASSIGN:
                        if (match_key_check(&req.key) < 0)
                                abort();
                        n = proto_encode_assign(again, req.hdr.type, req.hdr.seq, req.key.space, req.key.len,
                                                req.match, req.key.addr, req.key.value,
                                                req.match == XIRQ_MATCH_MASK ? req.key.mask : 0);
                        break;
                case XIRQ_MSG_VIRTIO_MMIO:
                        if (match_key_check(&req.key) < 0 || req.key.addr != req.base + 0x50)
                                abort();
                        n = proto_encode_virtio_mmio(again, req.hdr.seq, req.base, req.queue,
                                                     req.op == PROTO_OP_DEASSIGN ? XIRQ_VIRTIO_DEASSIGN : 0);
                        break;
                case XIRQ_MSG_QUERY:
                        n = proto_encode_query(again, req.hdr.seq);
                        break;
                default:
                        abort();
                }
                if (n != size || memcmp(again, data, n) != 0)
                        abort();

                if (req.op == PROTO_OP_ASSIGN || req.op == PROTO_OP_DEASSIGN) {
                        bool nr = false, unused = false;
                        void *ud = NULL;
                        uint64_t probe = req.key.value | (~req.key.mask & match_len_mask(req.key.len));

                        r = match_add(table, &req.key, (void *) 1, &nr);
                        if (r == 0) {
                                if (match_lookup(table, req.key.space, req.key.addr, req.key.len, req.key.value) !=
                                            (void *) 1 ||
                                    match_lookup(table, req.key.space, req.key.addr, req.key.len, probe) != (void *) 1)
                                        abort();
                                if (match_remove(table, &req.key, &ud, &unused) != 0 || ud != (void *) 1 ||
                                    !unused || !nr)
                                        abort();
                        } else if (r != -EEXIST && r != -ENOSPC) {
                                abort();
                        }
                        if (match_count(table) != 0)
                                abort();
                }
        } else if (r != -EBADMSG && r != -EPROTO && r != -EINVAL && r != -EBADF) {
                abort();
        }

        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                ProtoReply rep;
                if (proto_decode_header(data, size, &hdr) < 0)
                        break;
                r = proto_decode_reply(data, size, nfds, types[i], hdr.seq, &rep);
                if (r == 0 && (rep.error > 0 || rep.error < -4095))
                        abort();
        }
        return 0;
}
