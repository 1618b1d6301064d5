/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Codec for the wire protocol in <xenioreqd/protocol.h>.
 *
 * Pure functions, no I/O, no allocation: used by the daemon (decode requests,
 * encode replies) and by libxenioreqd-client (encode requests, decode
 * replies).  Every multi-byte field is converted with le*toh()/htole*(), so
 * the code is correct on big-endian hosts too.
 *
 * Errors returned by the decoders (negative errnos, distinct per cause):
 *   -EBADMSG  the packet length is not the exact size of its message type
 *             (or shorter than a header)
 *   -EPROTO   unknown message type, reply bit set in a request, flags != 0,
 *             wrong HELLO magic
 *   -EINVAL   a field has a bad value: reserved field != 0, unknown space or
 *             match mode, len not 1/2/4/8, addr + len wraps, PIO beyond
 *             0xffff, value/mask inconsistent with the match mode and len,
 *             version_min > version_max or 0, virtio base not 4-byte aligned
 *             or base + 0x54 wraps, unknown virtio flags
 *   -EBADF    wrong number of fds: exactly 1 for ASSIGN, a VIRTIO_MMIO
 *             assign and an IRQFD assign (2 in LEVEL mode), 0 for
 *             everything else
 * Checks are made in this order, so the error for a given packet is
 * deterministic: header length (-EBADMSG), type known and not a reply
 * (-EPROTO), exact length (-EBADMSG), flags (-EPROTO), magic (-EPROTO),
 * fields (-EINVAL), fd count (-EBADF).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "xenioreqd/protocol.h"
#include "match.h"

#define PROTO_DOMID_NONE        UINT32_C(0xffffffff)
#define PROTO_SERVER_NONE       UINT32_C(0xffffffff)

/* What a request asks for, after normalisation. */
typedef enum ProtoOp {
        PROTO_OP_HELLO,
        PROTO_OP_ASSIGN,        /* ASSIGN, or VIRTIO_MMIO without DEASSIGN */
        PROTO_OP_DEASSIGN,      /* DEASSIGN, or VIRTIO_MMIO with DEASSIGN */
        PROTO_OP_QUERY,
        PROTO_OP_IRQFD,         /* IRQFD assign (version 2) */
        PROTO_OP_IRQFD_DEASSIGN,
        PROTO_OP_CLAIM,         /* version 2 */
        PROTO_OP_UNCLAIM,
} ProtoOp;

/* An IRQFD as decoded: the action and its fields (the others 0). */
typedef struct ProtoIrqfd {
        uint32_t id;
        uint8_t action;         /* XIRQ_IRQ_* */
        uint8_t mode;           /* XIRQ_IRQFD_* */
        uint32_t irq;
        uint16_t segment;
        uint8_t bus, device, pin;
        uint64_t msi_addr;
        uint32_t msi_data;
} ProtoIrqfd;

typedef struct ProtoClaim {
        uint32_t id;
        uint8_t space;
        uint64_t addr;
        uint64_t len;
        uint32_t deadline_ms;
} ProtoClaim;

typedef struct ProtoHeader {
        uint16_t type;          /* XIRQ_MSG_* as received */
        uint16_t flags;
        uint32_t seq;
} ProtoHeader;

typedef struct ProtoRequest {
        ProtoHeader hdr;
        ProtoOp op;
        /* HELLO */
        uint16_t version_min;
        uint16_t version_max;
        /*
         * ASSIGN / DEASSIGN / VIRTIO_MMIO: the registration key, already
         * normalised for match_add()/match_remove(): ANY → mask 0 value 0,
         * EXACT → mask all ones over len, MASK → as sent.  VIRTIO_MMIO
         * becomes MMIO, base + 0x50, len 4, mask 0xffff, value queue.
         */
        MatchKey key;
        uint8_t match;          /* XIRQ_MATCH_* (MATCH_MASK for VIRTIO_MMIO) */
        /* VIRTIO_MMIO only */
        uint64_t base;
        uint16_t queue;
        /* IRQFD (DEASSIGN: id only) */
        ProtoIrqfd irqfd;
        /* CLAIM (UNCLAIM: id only) */
        ProtoClaim claim;
} ProtoRequest;

/* Counters and state reported by QUERY. */
typedef struct ProtoQueryInfo {
        uint32_t state;         /* XIRQ_GUEST_* */
        uint32_t domid;         /* PROTO_DOMID_NONE if not running */
        uint32_t server_id;     /* PROTO_SERVER_NONE if none */
        uint32_t nr_vcpus;
        uint32_t registrations;
        uint32_t client_registrations;
        uint64_t kicks;
        uint64_t unmatched;
        uint64_t reads;
        uint64_t invalid;
        uint64_t other;
} ProtoQueryInfo;

typedef struct ProtoReply {
        ProtoHeader hdr;        /* type has XIRQ_MSG_REPLY set */
        int error;              /* 0 or a NEGATIVE errno (wire carries it positive) */
        /* HELLO reply */
        uint16_t version;
        uint32_t domid;
        uint32_t max_registrations;
        /* QUERY reply */
        ProtoQueryInfo query;
} ProtoReply;

/* Size of the request or reply struct of a message type, 0 if unknown. */
size_t proto_request_size(uint16_t type);
size_t proto_reply_size(uint16_t type);   /* type without XIRQ_MSG_REPLY */

/*
 * Read the header of a received packet: 0, or -EBADMSG if len < 8.  Lets the
 * daemon form an error reply (type, seq) for a request that fails to decode.
 */
int proto_decode_header(const void *buf, size_t len, ProtoHeader *ret);

/*
 * Decode and fully validate a request of len bytes that arrived with nfds
 * file descriptors.  On success fills *ret and returns 0; on failure returns
 * one of the errnos listed above and leaves *ret untouched.
 */
int proto_decode_request(const void *buf, size_t len, unsigned nfds, ProtoRequest *ret);

/*
 * The version the daemon speaks with a client offering [min, max]: the
 * highest both know, or -EPROTONOSUPPORT if there is none in common with
 * XIRQ_PROTO_VERSION_MIN..XIRQ_PROTO_VERSION.
 */
int proto_negotiate_version(uint16_t version_min, uint16_t version_max);

/* The protocol version that introduced a message type (0: unknown). */
unsigned proto_type_version(uint16_t type);

/*
 * Reply encoders.  buf must hold XIRQ_MSG_MAX bytes; each returns the number
 * of bytes to send.  error is 0 or a negative errno (a positive errno is
 * taken as is); it goes on the wire as a positive number.
 *
 * proto_encode_error_reply() forms the reply to any request type, including
 * unknown ones (then the plain 16-byte struct xirq_reply is used); for HELLO
 * and QUERY every other field is 0 except domid / server_id which are
 * PROTO_DOMID_NONE / PROTO_SERVER_NONE.
 */
size_t proto_encode_error_reply(void *buf, uint16_t req_type, uint32_t seq, int error);
size_t proto_encode_hello_reply(void *buf, uint32_t seq, int error, uint16_t version,
                                uint32_t domid, uint32_t max_registrations);
/* The 16-byte struct xirq_reply (ASSIGN, DEASSIGN, VIRTIO_MMIO, unknown types). */
size_t proto_encode_reply(void *buf, uint16_t req_type, uint32_t seq, int error);
size_t proto_encode_query_reply(void *buf, uint32_t seq, int error, const ProtoQueryInfo *info);

/*
 * Client side.  Request encoders (buf holds XIRQ_MSG_MAX bytes, they return
 * the size to send; arguments are put on the wire as given, not validated, so
 * that tests can form bad requests).
 */
size_t proto_encode_hello(void *buf, uint32_t seq, uint16_t version_min, uint16_t version_max);
size_t proto_encode_assign(void *buf, uint16_t type, uint32_t seq, uint8_t space, uint8_t len,
                           uint8_t match, uint64_t addr, uint64_t value, uint64_t mask);
size_t proto_encode_virtio_mmio(void *buf, uint32_t seq, uint64_t base, uint16_t queue, uint16_t vflags);
size_t proto_encode_query(void *buf, uint32_t seq);
size_t proto_encode_irqfd(void *buf, uint32_t seq, const ProtoIrqfd *irqfd, bool deassign);
size_t proto_encode_claim(void *buf, uint32_t seq, const ProtoClaim *claim);
size_t proto_encode_unclaim(void *buf, uint32_t seq, uint32_t id);

/*
 * Decode the reply to a request of type req_type and sequence seq, len bytes
 * with nfds fds.  Returns 0 if it is a well-formed reply (the daemon's verdict
 * is then in ret->error), -EBADMSG (wrong length), -EPROTO (not the reply to
 * that request: type, seq or flags differ), -EINVAL (reserved field != 0,
 * error not a plausible errno), -EBADF (descriptors where none belong: only
 * a successful CLAIM's reply carries 3).
 */
int proto_decode_reply(const void *buf, size_t len, unsigned nfds, uint16_t req_type,
                       uint32_t seq, ProtoReply *ret);

/* Normalise (match, len, value, mask) of an ASSIGN into a MatchKey; -EINVAL if inconsistent. */
int proto_make_key(uint8_t space, uint8_t len, uint8_t match, uint64_t addr, uint64_t value,
                   uint64_t mask, MatchKey *ret);

/* Name of a message type for logs ("HELLO", ..., "unknown"). */
const char *proto_type_name(uint16_t type);
