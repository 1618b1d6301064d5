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
 * closed when it cannot (no header, control data other than SCM_RIGHTS).
 *
 * Message types are numbered in ranges:
 *   0x0001-0x000f  session (HELLO)
 *   0x0010-0x001f  ioeventfd registration (ASSIGN, DEASSIGN, VIRTIO_MMIO)
 *   0x0020-0x002f  queries (QUERY)
 *   0x0030-0x003f  interrupts (IRQFD), version 2
 *   0x0040-0x004f  forwarded accesses (CLAIM, UNCLAIM), version 2
 *   0x8000 bit     reply
 *
 * Version 2 adds IRQFD, CLAIM and UNCLAIM; a connection that negotiated
 * version 1 gets EPROTO for them, and sees nothing else change.  A request
 * carries at most two descriptors, a reply at most three (CLAIM's).
 */
#ifndef XENIOREQD_PROTOCOL_H
#define XENIOREQD_PROTOCOL_H

#include <stdint.h>

#define XIRQ_PROTO_MAGIC        0x51524958u     /* "XIRQ" little-endian */
#define XIRQ_PROTO_VERSION      2u              /* the newest version the daemon speaks */
#define XIRQ_PROTO_VERSION_MIN  1u              /* the oldest */
#define XIRQ_MSG_MAX            128u            /* no message is larger */

enum {
        XIRQ_MSG_HELLO          = 0x0001,
        XIRQ_MSG_ASSIGN         = 0x0010,
        XIRQ_MSG_DEASSIGN       = 0x0011,
        XIRQ_MSG_VIRTIO_MMIO    = 0x0012,
        XIRQ_MSG_QUERY          = 0x0020,
        XIRQ_MSG_IRQFD          = 0x0030,
        XIRQ_MSG_CLAIM          = 0x0040,
        XIRQ_MSG_UNCLAIM        = 0x0041,
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

/* ---- version 2: interrupts ---- */

/*
 * IRQFD: each write to an eventfd injects an interrupt into the guest, from
 * the guest's own worker, through a typed Xen call (never a raw dm_op):
 */
enum {
        XIRQ_IRQ_LINE           = 1,    /* set_irq_level(irq): a GSI, or an SPI on Arm (32..1019) */
        XIRQ_IRQ_ISA            = 2,    /* set_isa_irq_level(irq 0..15) */
        XIRQ_IRQ_INTX           = 3,    /* set_pci_intx_level(segment, bus, device 0..31, pin 0..3 = INTA..D) */
        XIRQ_IRQ_MSI            = 4,    /* inject_msi(msi_addr, msi_data) */
        XIRQ_IRQ_EVTCHN         = 5,    /* notify the guest's event channel port irq (unbound, for dom0) */
};

/* How a signal drives the line (LINE, ISA, INTX; MSI and EVTCHN are edges by nature). */
enum {
        XIRQ_IRQFD_EDGE         = 1,    /* raise then lower, once per signal */
        XIRQ_IRQFD_LEVEL        = 2,    /* raise; lowered when the second eventfd (resample) is signalled */
        XIRQ_IRQFD_RAISE        = 3,    /* raise only (what privcmd's irqfd does with set_irq_level(irq, 1)) */
};

/* Flags of XIRQ_MSG_IRQFD. */
enum {
        XIRQ_IRQFD_DEASSIGN     = 1u << 0,
};

/*
 * Assign: the eventfd attached (LEVEL: the trigger eventfd, then the
 * resample eventfd).  id is the connection's name for it (unique on the
 * connection); a deassign gives only id and the flag, no descriptor.
 * Signals coalesce: N writes before the worker reads the eventfd inject once.
 */
struct xirq_irqfd {
        struct xirq_hdr hdr;
        uint32_t id;
        uint8_t action;         /* XIRQ_IRQ_* */
        uint8_t mode;           /* XIRQ_IRQFD_* (EDGE for MSI and EVTCHN) */
        uint16_t flags;         /* XIRQ_IRQFD_* */
        uint32_t irq;           /* LINE, ISA: the interrupt; EVTCHN: the guest's port */
        uint16_t segment;       /* INTX */
        uint8_t bus;            /* INTX */
        uint8_t device;         /* INTX: 0..31 */
        uint8_t pin;            /* INTX: 0..3 */
        uint8_t reserved[7];    /* 0 */
        uint64_t msi_addr;      /* MSI */
        uint32_t msi_data;      /* MSI */
        uint32_t reserved2;     /* 0 */
} __attribute__((packed));
_Static_assert(sizeof(struct xirq_irqfd) == 48, "xirq_irqfd size");

/* ---- version 2: forwarded accesses ---- */

/*
 * CLAIM: the connection owns a range of the guest's MMIO or port space.
 * Every guest access inside it that no ioeventfd registration consumes is
 * forwarded to the connection through a shared ring, and the connection's
 * answer completes it (a read returns its data).  The reply carries three
 * descriptors: the ring (a sealed memfd of struct xirq_ring), the eventfd
 * the daemon signals when it adds accesses, and the eventfd the connection
 * signals when it adds answers.  An access not answered within the deadline
 * is completed without the connection (a read gets all-ones) and the
 * connection is closed.
 */
struct xirq_claim {
        struct xirq_hdr hdr;
        uint32_t id;            /* the connection's name for it; UNCLAIM gives it back */
        uint8_t space;          /* XIRQ_SPACE_* */
        uint8_t reserved0[3];   /* 0 */
        uint64_t addr;
        uint64_t len;           /* 1..XIRQ_CLAIM_MAX, within the space */
        uint32_t deadline_ms;   /* 0: the guest's claim_deadline_ms; else 1..60000 */
        uint32_t reserved1;     /* 0 */
} __attribute__((packed));
_Static_assert(sizeof(struct xirq_claim) == 40, "xirq_claim size");

struct xirq_unclaim {
        struct xirq_hdr hdr;
        uint32_t id;
        uint32_t reserved;      /* 0 */
} __attribute__((packed));
_Static_assert(sizeof(struct xirq_unclaim) == 16, "xirq_unclaim size");

#define XIRQ_CLAIM_MAX          (UINT64_C(1) << 20)    /* bytes in one claim */
#define XIRQ_RING_SIZE          128u                   /* entries each way; one access per vCPU at most */
#define XIRQ_RING_MAGIC         0x474e5249u            /* "IRNG" */

enum {
        XIRQ_ACCESS_WRITE       = 0,
        XIRQ_ACCESS_READ        = 1,
};

/* An access, from the daemon: seq names it in the answer. */
struct xirq_access {
        uint32_t seq;
        uint32_t claim;         /* the claim's id */
        uint16_t vcpu;
        uint8_t dir;            /* XIRQ_ACCESS_* */
        uint8_t size;           /* 1, 2, 4 or 8 */
        uint32_t reserved;
        uint64_t addr;          /* the guest address (port for PIO) */
        uint64_t data;          /* a write's data */
};
_Static_assert(sizeof(struct xirq_access) == 32, "xirq_access size");

/* An answer, from the connection: data is a read's value (its low size bytes count). */
struct xirq_answer {
        uint32_t seq;
        uint32_t reserved;
        uint64_t data;
};
_Static_assert(sizeof(struct xirq_answer) == 16, "xirq_answer size");

/*
 * The ring: single producer, single consumer each way, free-running 32-bit
 * indexes (entry = index % XIRQ_RING_SIZE).  The daemon writes access[] and
 * access_prod, the connection access_cons; the connection writes answer[]
 * and answer_prod, the daemon answer_cons.  A producer stores its entries,
 * then its index (release); a consumer loads the index (acquire), then the
 * entries.  Every index is the daemon's to check: what the connection writes
 * is taken as untrusted.  These structures are shared memory, not packets:
 * naturally aligned, not packed, so that the indexes can be read and written
 * atomically.
 */
struct xirq_ring {
        uint32_t magic;         /* XIRQ_RING_MAGIC */
        uint32_t size;          /* XIRQ_RING_SIZE */
        uint32_t access_prod;
        uint32_t access_cons;
        uint32_t answer_prod;
        uint32_t answer_cons;
        uint8_t reserved[40];
        struct xirq_access access[XIRQ_RING_SIZE];
        struct xirq_answer answer[XIRQ_RING_SIZE];
};
_Static_assert(sizeof(struct xirq_ring) == 64 + 32 * 128 + 16 * 128, "xirq_ring size");
_Static_assert(__builtin_offsetof(struct xirq_ring, access) == 64, "xirq_ring layout");
_Static_assert(__builtin_offsetof(struct xirq_access, addr) == 16, "xirq_access layout");

#endif
