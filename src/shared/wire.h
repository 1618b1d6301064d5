/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The channel between the parent and one guest's worker: a SOCK_SEQPACKET
 * socketpair (fd 3 in the worker), one packet per message, packed
 * little-endian structs of fixed sizes, at most one descriptor attached.
 *
 * The parent asks, the worker answers every request with one REPLY, in
 * order; FAILED is the worker's only message of its own.  Nothing here is
 * trusted by the side that receives it: the worker checks every field as if
 * a client had sent it (the parent is trusted, but a bug there must not
 * become memory corruption in a worker), and the parent checks the worker's
 * answers as it checks a client's requests (a worker parses guest-written
 * memory and may be compromised).
 *
 * A worker's life, as the parent drives it:
 *   INIT (+ the stats memfd)  handles, restriction to the domain, the ioreq
 *                             server created (server_id NONE) or reattached,
 *                             its page mapped; REPLY carries the server id,
 *                             the vCPUs and the server passed or in the way
 *   ASSIGN ... (+ eventfd)    registrations, irqfds and claims (new, or
 *   IRQFD ... (+ eventfds)    restored after a restart); the ranges the
 *   CLAIM ... (+ ring, efds)  server maps follow them
 *   START                     enable, bind every vCPU's port, drop
 *                             privileges, seccomp, answer what the slots
 *                             hold (a reattached server's requests taken or
 *                             answered before), serve
 *   ASSIGN / DEASSIGN / IRQFD / IRQFD_DEL / CLAIM / UNCLAIM / SET   while serving
 *   STOP                      TEARDOWN: disable, answer, unbind, unmap,
 *                             destroy, exit 0; LEAVE: exit 0 and leave the
 *                             server to the next worker
 * The worker's own messages: FAILED (its event channel broke) and EXPIRED (a
 * forwarded access of a claim was not answered in time: the parent closes
 * the claim's connection).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "match.h"

#define WIRE_MAGIC              UINT32_C(0x4b525758)    /* "XWRK" little-endian */
#define WIRE_VERSION            1u
#define WIRE_MSG_MAX            128u
#define WIRE_NAME_MAX           64u                     /* a guest's name, for the worker's log */
#define WIRE_NONE               UINT32_C(0xffffffff)    /* no server, no domid */
#define WIRE_FD                 3                       /* the channel's descriptor in the worker */

enum {
        WIRE_INIT       = 0x01,
        WIRE_ASSIGN     = 0x03,
        WIRE_DEASSIGN   = 0x04,
        WIRE_START      = 0x05,
        WIRE_SET        = 0x06,
        WIRE_STOP       = 0x07,
        WIRE_IRQFD      = 0x08,
        WIRE_IRQFD_DEL  = 0x09,
        WIRE_CLAIM      = 0x0a,
        WIRE_UNCLAIM    = 0x0b,
        WIRE_REPLY      = 0x80,
        WIRE_FAILED     = 0x81,
        WIRE_EXPIRED    = 0x82,
};

#define WIRE_MAX_FDS    3u      /* CLAIM: the ring and its two eventfds */

/* WIRE_STOP modes */
enum {
        WIRE_STOP_TEARDOWN      = 1,
        WIRE_STOP_LEAVE         = 2,
};

struct wire_hdr {
        uint16_t type;
        uint16_t flags;                 /* 0 */
        uint32_t seq;                   /* echoed by REPLY */
} __attribute__((packed));
_Static_assert(sizeof(struct wire_hdr) == 8, "wire_hdr");

struct wire_init {
        struct wire_hdr hdr;
        uint32_t magic;                 /* WIRE_MAGIC */
        uint32_t version;               /* WIRE_VERSION */
        uint32_t domid;                 /* < 0x7ff0 */
        uint32_t server_id;             /* reattach to this id, WIRE_NONE: create */
        uint32_t uid;                   /* the worker drops to these, never 0 */
        uint32_t gid;
        uint32_t busy_poll_us;          /* <= 1000000 */
        uint32_t max_registrations;     /* 1..65536: the worker's table and descriptor limit */
        char name[WIRE_NAME_MAX];       /* NUL-padded, printable */
} __attribute__((packed));
_Static_assert(sizeof(struct wire_init) == 104, "wire_init");

/* ASSIGN (with the eventfd) and DEASSIGN: a registration, identified by its key */
struct wire_key {
        struct wire_hdr hdr;
        uint8_t space;                  /* XIRQ_SPACE_* */
        uint8_t len;
        uint8_t reserved[6];
        uint64_t addr;
        uint64_t mask;
        uint64_t value;
} __attribute__((packed));
_Static_assert(sizeof(struct wire_key) == 40, "wire_key");

/* START, SET, STOP, IRQFD_DEL, UNCLAIM, and the worker's FAILED and EXPIRED */
struct wire_value {
        struct wire_hdr hdr;
        int32_t value;                  /* SET: busy_poll_us; STOP: mode; FAILED: an errno; START: 0;
                                           IRQFD_DEL, UNCLAIM, EXPIRED: the id */
        uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct wire_value) == 16, "wire_value");

/* IRQFD: with the trigger eventfd (and the resample one in LEVEL mode); the action as the client gave it. */
struct wire_irqfd {
        struct wire_hdr hdr;
        uint32_t id;                    /* the parent's id of it, unique in the guest */
        uint8_t action, mode, bus, device;
        uint32_t irq;
        uint16_t segment;
        uint8_t pin;
        uint8_t reserved[9];
        uint64_t msi_addr;
        uint32_t msi_data;
        uint32_t reserved2;
} __attribute__((packed));
_Static_assert(sizeof(struct wire_irqfd) == 48, "wire_irqfd");

/* CLAIM: with the ring memfd, the eventfd the worker signals, the one it reads. */
struct wire_claim {
        struct wire_hdr hdr;
        uint32_t id;                    /* the parent's id of it, unique in the guest (and the ring's claim) */
        uint8_t space;
        uint8_t reserved[3];
        uint64_t first;
        uint64_t last;
        uint32_t deadline_ms;           /* 1..60000 */
        uint32_t ring_id;               /* the client's id of it, which the ring's accesses carry */
} __attribute__((packed));
_Static_assert(sizeof(struct wire_claim) == 40, "wire_claim");

struct wire_reply {
        struct wire_hdr hdr;
        int32_t error;                  /* 0 or a positive errno */
        uint32_t server_id;             /* INIT: the server */
        uint32_t nr_vcpus;              /* INIT */
        uint32_t other;                 /* INIT: the highest other server (passed), or the one in the way (EBUSY) */
        uint32_t reserved2;
        uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct wire_reply) == 32, "wire_reply");

/* A decoded message: the fields of its type, host order, checked. */
typedef struct WireMsg {
        uint16_t type;
        uint32_t seq;
        /* INIT */
        uint32_t domid;
        uint32_t server_id;
        uint32_t uid;
        uint32_t gid;
        uint32_t busy_poll_us;
        uint32_t max_registrations;
        char name[WIRE_NAME_MAX + 1];
        /* ASSIGN, DEASSIGN */
        MatchKey key;
        /* SET, STOP, FAILED, IRQFD_DEL, UNCLAIM, EXPIRED */
        int32_t value;
        /* IRQFD, CLAIM: their id */
        uint32_t id;
        /* IRQFD */
        uint8_t action, mode, bus, device, pin;
        uint32_t irq;
        uint16_t segment;
        uint64_t msi_addr;
        uint32_t msi_data;
        /* CLAIM */
        uint8_t space;
        uint64_t first, last;
        uint32_t deadline_ms;
        uint32_t ring_id;
        /* REPLY */
        int error;                      /* 0 or a negative errno */
        uint32_t nr_vcpus;
        uint32_t other;
} WireMsg;

/*
 * Decode and check a received packet of len bytes that came with nfds
 * descriptors.  0, or -EBADMSG (length), -EPROTO (type, flags, magic,
 * version), -EINVAL (a field out of range, a reserved field not 0, a bad
 * key or name), -EBADF (INIT and ASSIGN take exactly one descriptor, IRQFD
 * one or two (LEVEL), CLAIM three, the others none).
 */
int wire_decode(const void *buf, size_t len, unsigned nfds, WireMsg *ret);

/* Encoders: buf holds WIRE_MSG_MAX bytes; each returns the size to send. */
size_t wire_encode_init(void *buf, uint32_t seq, uint32_t domid, uint32_t server_id, uint32_t uid, uint32_t gid,
                        uint32_t busy_poll_us, uint32_t max_registrations, const char *name);
/* ASSIGN or DEASSIGN */
size_t wire_encode_key(void *buf, uint16_t type, uint32_t seq, const MatchKey *key);
/* START, SET, STOP, FAILED, IRQFD_DEL, UNCLAIM, EXPIRED */
size_t wire_encode_value(void *buf, uint16_t type, uint32_t seq, int32_t value);
size_t wire_encode_irqfd(void *buf, uint32_t seq, uint32_t id, uint8_t action, uint8_t mode, uint32_t irq,
                         uint16_t segment, uint8_t bus, uint8_t device, uint8_t pin, uint64_t msi_addr,
                         uint32_t msi_data);
size_t wire_encode_claim(void *buf, uint32_t seq, uint32_t id, uint8_t space, uint64_t first, uint64_t last,
                         uint32_t deadline_ms, uint32_t ring_id);
/* error: 0 or a negative errno */
size_t wire_encode_reply(void *buf, uint32_t seq, int error, uint32_t server_id, uint32_t nr_vcpus,
                         uint32_t other);

const char *wire_type_name(uint16_t type);
