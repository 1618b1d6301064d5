/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xen-ioreqd wire protocol.
 *
 * One SOCK_SEQPACKET connection per client on a guest's socket.  Every
 * message is one packet: a fixed little-endian struct, never padded, with at
 * most one file descriptor attached as SCM_RIGHTS.  Every request gets exactly
 * one reply, in order; the reply carries the request's type with
 * XIRQ_MSG_REPLY set, the request's seq, and an error (0 or a positive errno).
 *
 * The first request on a connection must be HELLO.  Anything that is not a
 * well-formed request of the negotiated version is answered with EPROTO (or
 * EBADMSG for a wrong length) when a reply can be formed; the connection is
 * closed when it cannot (unknown framing, truncated control data).
 *
 * Message types are numbered in ranges:
 *   0x0001-0x000f  session (HELLO)
 *   0x0010-0x001f  ioeventfd registration (ASSIGN, DEASSIGN, VIRTIO_MMIO)
 *   0x0020-0x002f  queries (QUERY)
 *   0x8000 bit     reply
 */
#ifndef XENIOREQD_PROTOCOL_H
#define XENIOREQD_PROTOCOL_H

#include <stdint.h>

#define XIRQ_PROTO_MAGIC        0x51524958u     /* "XIRQ" little-endian */
#define XIRQ_PROTO_VERSION      1u
#define XIRQ_MSG_MAX            128u            /* no message is larger */

enum {
        XIRQ_MSG_HELLO          = 0x0001,
        XIRQ_MSG_ASSIGN         = 0x0010,
        XIRQ_MSG_DEASSIGN       = 0x0011,
        XIRQ_MSG_VIRTIO_MMIO    = 0x0012,
        XIRQ_MSG_QUERY          = 0x0020,
        XIRQ_MSG_REPLY          = 0x8000,
};

/* Address spaces (ioreq types a registration is mapped for). */
enum {
        XIRQ_SPACE_MMIO         = 1,
        XIRQ_SPACE_PIO          = 2,
};

/* Match modes for the value the guest writes. */
enum {
        XIRQ_MATCH_ANY          = 0,    /* every write of the registered length */
        XIRQ_MATCH_EXACT        = 1,    /* data == value */
        XIRQ_MATCH_MASK         = 2,    /* (data & mask) == value, value & ~mask == 0 */
};

/* Flags of XIRQ_MSG_VIRTIO_MMIO. */
enum {
        XIRQ_VIRTIO_DEASSIGN    = 1u << 0,
};

/* Guest states reported by QUERY. */
enum {
        XIRQ_GUEST_ABSENT       = 0,    /* configured, not running */
        XIRQ_GUEST_RUNNING      = 1,    /* running, no ioreq server yet */
        XIRQ_GUEST_SERVING      = 2,    /* ioreq server enabled and bound */
        XIRQ_GUEST_FAILED       = 3,    /* running, server setup failed */
};

#define XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY   0x50u   /* virtio-mmio register offset */

struct xirq_hdr {
        uint16_t type;
        uint16_t flags;         /* must be 0 */
        uint32_t seq;           /* chosen by the client, echoed in the reply */
} __attribute__((packed));
_Static_assert(sizeof(struct xirq_hdr) == 8, "xirq_hdr size");

/* HELLO: the client offers a range of versions, the daemon picks one. */
struct xirq_hello {
        struct xirq_hdr hdr;
        uint32_t magic;         /* XIRQ_PROTO_MAGIC */
        uint16_t version_min;
        uint16_t version_max;
} __attribute__((packed));
_Static_assert(sizeof(struct xirq_hello) == 16, "xirq_hello size");

struct xirq_hello_reply {
        struct xirq_hdr hdr;
        int32_t error;
        uint16_t version;       /* chosen version, 0 on error */
        uint16_t reserved;      /* 0 */
        uint32_t domid;         /* current domid, 0xffffffff if not running */
        uint32_t max_registrations;     /* this client's limit */
} __attribute__((packed));
_Static_assert(sizeof(struct xirq_hello_reply) == 24, "xirq_hello_reply size");

/*
 * ASSIGN (one eventfd attached) and DEASSIGN (no fd).  A registration is
 * identified by (space, addr, len, match, value, mask).  A guest write of
 * exactly len bytes at addr whose data matches signals the eventfd.
 */
struct xirq_assign {
        struct xirq_hdr hdr;
        uint8_t space;          /* XIRQ_SPACE_* */
        uint8_t len;            /* 1, 2, 4 or 8 */
        uint8_t match;          /* XIRQ_MATCH_* */
        uint8_t reserved0;      /* 0 */
        uint32_t reserved1;     /* 0 */
        uint64_t addr;
        uint64_t value;         /* ANY: 0; EXACT: data; MASK: data under mask */
        uint64_t mask;          /* MASK only, else 0 */
} __attribute__((packed));
_Static_assert(sizeof(struct xirq_assign) == 40, "xirq_assign size");

/*
 * VIRTIO_MMIO: shortcut for a virtio-mmio queue.  Equivalent to ASSIGN
 * (or DEASSIGN with XIRQ_VIRTIO_DEASSIGN) of MMIO, base + 0x50, len 4,
 * MASK 0xffff, value queue; the fd is attached only when assigning.
 */
struct xirq_virtio_mmio {
        struct xirq_hdr hdr;
        uint64_t base;
        uint16_t queue;
        uint16_t vflags;        /* XIRQ_VIRTIO_* */
        uint32_t reserved;      /* 0 */
} __attribute__((packed));
_Static_assert(sizeof(struct xirq_virtio_mmio) == 24, "xirq_virtio_mmio size");

/* Reply to ASSIGN, DEASSIGN and VIRTIO_MMIO. */
struct xirq_reply {
        struct xirq_hdr hdr;
        int32_t error;
        uint32_t reserved;      /* 0 */
} __attribute__((packed));
_Static_assert(sizeof(struct xirq_reply) == 16, "xirq_reply size");

/* QUERY has no body beyond the header. */
struct xirq_query {
        struct xirq_hdr hdr;
} __attribute__((packed));
_Static_assert(sizeof(struct xirq_query) == 8, "xirq_query size");

struct xirq_query_reply {
        struct xirq_hdr hdr;
        int32_t error;
        uint32_t state;         /* XIRQ_GUEST_* */
        uint32_t domid;         /* 0xffffffff if not running */
        uint32_t server_id;     /* ioreq server id, 0xffffffff if none */
        uint32_t nr_vcpus;      /* 0 if not serving */
        uint32_t registrations; /* of this guest, all clients */
        uint32_t client_registrations;  /* of this connection */
        uint32_t reserved;      /* 0 */
        uint64_t kicks;         /* eventfd signals since the server was created */
        uint64_t unmatched;     /* writes that reached the server and matched nothing */
        uint64_t reads;         /* reads answered (with 0) */
        uint64_t invalid;       /* malformed requests completed safely */
        uint64_t other;         /* INVALIDATE, TIMEOFFSET and other types completed */
} __attribute__((packed));
_Static_assert(sizeof(struct xirq_query_reply) == 80, "xirq_query_reply size");

#endif
