/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control protocol: xen-ioreqctl(8) and the daemon, over the root-only
 * control socket (documented in xen-ioreqd-protocol(7), CONTROL PROTOCOL).
 *
 * Framing as on a guest's socket: one SOCK_SEQPACKET connection, one packed
 * little-endian struct per packet, no descriptors, one reply per request in
 * order, the request's type with CTL_MSG_REPLY set and its seq.  HELLO first.
 * Every request is one fixed-size packet and so is every reply: a listing is
 * read one item per request, by index (an index past the end is ENOENT), so
 * the daemon never queues output and a client that stops reading costs
 * nothing.  Items read one by one are not one snapshot: a guest or client
 * that comes or goes between two requests may be missed or seen twice.
 *
 * Message types:
 *   0x0001        HELLO
 *   0x0010-0x001f reads: STATUS, GUEST, CLIENT, REG, HIST
 *   0x0020-0x002f irqfds and claims (version 2): IRQFD, CLAIM
 *   0x8000 bit    reply
 *
 * Version 2 adds IRQFD and CLAIM and lengthens the replies to STATUS and
 * GUEST (new fields at their end); a version 1 connection gets the replies
 * of version 1 (the first CTL_*_REPLY_V1_SIZE bytes) and EPROTO for IRQFD
 * and CLAIM.
 */
#pragma once

#include <endian.h>
#include <stdint.h>

#define CTL_PROTO_MAGIC         0x43524958u     /* "XIRC" little-endian */
#define CTL_PROTO_VERSION       2u              /* the newest */
#define CTL_PROTO_VERSION_MIN   1u              /* the oldest the daemon still speaks */
#define CTL_MSG_MAX             2048u           /* no message is larger */
#define CTL_NAME_MAX            64u             /* a guest name's longest */
#define CTL_NAME_SIZE           72u             /* a guest name and its NUL, padded */
#define CTL_NONE                UINT32_C(0xffffffff)

enum {
        CTL_MSG_HELLO   = 0x0001,
        CTL_MSG_STATUS  = 0x0010,
        CTL_MSG_GUEST   = 0x0011,
        CTL_MSG_CLIENT  = 0x0012,
        CTL_MSG_REG     = 0x0013,
        CTL_MSG_HIST    = 0x0014,
        CTL_MSG_IRQFD   = 0x0020,       /* version 2 */
        CTL_MSG_CLAIM   = 0x0021,       /* version 2 */
        CTL_MSG_REPLY   = 0x8000,
};

struct ctl_hdr {
        uint16_t type;
        uint16_t flags;         /* 0 */
        uint32_t seq;
} __attribute__((packed));
_Static_assert(sizeof(struct ctl_hdr) == 8, "ctl_hdr size");

struct ctl_hello {
        struct ctl_hdr hdr;
        uint32_t magic;
        uint16_t version_min;
        uint16_t version_max;
} __attribute__((packed));
_Static_assert(sizeof(struct ctl_hello) == 16, "ctl_hello size");

/* The reply to a request that failed, whatever its type (and to HELLO). */
struct ctl_reply {
        struct ctl_hdr hdr;
        int32_t error;          /* 0 or a positive errno */
        uint32_t version;       /* HELLO: the version chosen; else 0 */
} __attribute__((packed));
_Static_assert(sizeof(struct ctl_reply) == 16, "ctl_reply size");

/* STATUS has no body. */
struct ctl_status_reply {
        struct ctl_hdr hdr;
        int32_t error;
        uint32_t reserved;
        char version[32];               /* the daemon's, NUL-terminated */
        uint64_t started_ns;            /* CLOCK_REALTIME when this daemon started */
        uint32_t guests, running, serving, workers, clients, registrations;
        uint64_t kicks, unmatched, reads, invalid, other;
        /* version 2 */
        uint32_t irqfds, claims;
        uint64_t saturated, forwarded, expired, injected, inject_errors;
} __attribute__((packed));
#define CTL_STATUS_REPLY_V1_SIZE        120u
_Static_assert(sizeof(struct ctl_status_reply) == 168, "ctl_status_reply size");

/*
 * GUEST, CLIENT, REG, HIST: which guest (name, NUL-padded; GUEST with an
 * empty name takes the guest at index instead) and which item of it.
 */
struct ctl_item {
        struct ctl_hdr hdr;
        uint32_t index;
        uint32_t reserved;      /* 0 */
        char name[CTL_NAME_SIZE];
} __attribute__((packed));
_Static_assert(sizeof(struct ctl_item) == 88, "ctl_item size");

struct ctl_guest_reply {
        struct ctl_hdr hdr;
        int32_t error;
        uint32_t reserved;
        char name[CTL_NAME_SIZE];
        uint32_t domid;                 /* CTL_NONE: not running */
        uint32_t state;                 /* XIRQ_GUEST_* */
        uint32_t server_id;             /* CTL_NONE: none */
        uint32_t nr_vcpus;
        uint32_t clients, registrations;
        int32_t last_error;             /* positive errno of the last set-up that failed, 0 */
        uint32_t worker_pid;            /* 0: no worker */
        uint64_t worker_cpu_ns;         /* user + system time of the worker */
        uint64_t kicks, unmatched, reads, invalid, other;      /* monotonic */
        uint64_t kicks_per_s_milli;     /* over the last second, x 1000 */
        uint32_t irqfds, claims;
        /* version 2: monotonic like kicks */
        uint64_t saturated;             /* kicks that found their eventfd's counter full */
        uint64_t forwarded;             /* accesses forwarded to claims */
        uint64_t expired;               /* forwarded accesses completed unanswered */
        uint64_t injected;              /* interrupts injected by irqfds */
        uint64_t inject_errors;         /* injections Xen refused */
} __attribute__((packed));
#define CTL_GUEST_REPLY_V1_SIZE         184u
_Static_assert(sizeof(struct ctl_guest_reply) == 224, "ctl_guest_reply size");

struct ctl_client_reply {
        struct ctl_hdr hdr;
        int32_t error;
        uint32_t reserved;
        uint32_t pid, uid, gid;         /* SO_PEERCRED at accept */
        uint32_t registrations;
        char comm[16];                  /* the peer process's name now, NUL-terminated; "" if gone */
} __attribute__((packed));
_Static_assert(sizeof(struct ctl_client_reply) == 48, "ctl_client_reply size");

struct ctl_reg_reply {
        struct ctl_hdr hdr;
        int32_t error;
        uint32_t owner_pid;             /* of the connection that made it */
        uint8_t space, len, match;      /* XIRQ_SPACE_*, bytes, XIRQ_MATCH_* */
        uint8_t counted;                /* 1: kicks and last_kick_ns are counted for it */
        uint32_t reserved;
        uint64_t addr, value, mask;
        uint64_t kicks;
        uint64_t last_kick_ns;          /* CLOCK_REALTIME, 0: never */
} __attribute__((packed));
_Static_assert(sizeof(struct ctl_reg_reply) == 64, "ctl_reg_reply size");

/*
 * IRQFD, CLAIM (version 2): the guest's irqfd or claim at index, in the
 * order of its connections, each connection's newest first.  The owner is
 * the connection that assigned it; id is the one that connection was given
 * (unique per connection only).  The counters are the worker's, "counted" 0
 * while no worker has taken it yet.
 */
struct ctl_irqfd_reply {
        struct ctl_hdr hdr;
        int32_t error;
        uint32_t owner_pid, owner_uid;
        uint32_t id;
        uint32_t irq;                   /* LINE, ISA: the IRQ; EVTCHN: the guest's port */
        uint32_t msi_data;
        uint16_t segment;               /* INTX */
        uint8_t action, mode;           /* XIRQ_IRQ_*, XIRQ_IRQFD_* */
        uint8_t bus, device, pin;       /* INTX */
        uint8_t counted;
        uint64_t msi_addr;
        uint64_t signals, injections, errors;
} __attribute__((packed));
_Static_assert(sizeof(struct ctl_irqfd_reply) == 72, "ctl_irqfd_reply size");

struct ctl_claim_reply {
        struct ctl_hdr hdr;
        int32_t error;
        uint32_t owner_pid, owner_uid;
        uint32_t id;
        uint32_t deadline_ms;           /* resolved: the guest's default if the client gave 0 */
        uint8_t space;                  /* XIRQ_SPACE_* */
        uint8_t counted;
        uint16_t reserved;
        uint64_t addr, len;
        uint64_t forwarded, answered, expired;
} __attribute__((packed));
_Static_assert(sizeof(struct ctl_claim_reply) == 72, "ctl_claim_reply size");

#define CTL_HIST_BUCKETS        160u

struct ctl_hist_reply {
        struct ctl_hdr hdr;
        int32_t error;
        uint32_t n_buckets;             /* CTL_HIST_BUCKETS */
        uint64_t count, sum_ns;
        uint64_t buckets[CTL_HIST_BUCKETS];     /* bucket i: stats_hist_lower(i) <= ns < stats_hist_lower(i + 1) */
} __attribute__((packed));
_Static_assert(sizeof(struct ctl_hist_reply) == 32 + 8 * CTL_HIST_BUCKETS, "ctl_hist_reply size");
_Static_assert(sizeof(struct ctl_hist_reply) <= CTL_MSG_MAX, "fits");

/* ---- the codec (ctlproto.c): pure functions, no I/O ---- */

#include <stdbool.h>
#include <stddef.h>

/* A request as decoded. */
typedef struct CtlRequest {
        uint16_t type;                  /* CTL_MSG_* */
        uint32_t seq;
        uint16_t version_min, version_max;      /* HELLO */
        uint32_t index;                 /* GUEST (by index), CLIENT, REG, IRQFD, CLAIM */
        char name[CTL_NAME_SIZE];       /* all but HELLO and STATUS; "" for GUEST by index */
} CtlRequest;

/* The type and seq of a packet of len bytes, to answer it: 0, or -EBADMSG without a whole header. */
int ctlproto_decode_header(const void *buf, size_t len, uint16_t *ret_type, uint32_t *ret_seq);

/*
 * Decode and check a request of len bytes; version: the one HELLO chose on
 * this connection, 0 before HELLO.  0 and *ret filled, or, in this order of
 * checks: -EBADMSG (no header), -EPROTO (reply bit, a type unknown in that
 * version, flags, HELLO first and only once), -EBADMSG (not the exact size of its type), -EPROTO (HELLO's magic),
 * -EINVAL (HELLO's versions 0 or min > max; a reserved field not 0; a name
 * not NUL-terminated, longer than 64 bytes or not NUL-padded; an empty name
 * but for GUEST; an index other than 0 for GUEST by name and HIST).
 * *ret is untouched on failure.
 */
int ctlproto_decode_request(const void *buf, size_t len, uint16_t version, CtlRequest *ret);

/* Encoders of the client's requests into buf (CTL_MSG_MAX bytes); they return the size to send. */
size_t ctlproto_encode_hello(void *buf, uint32_t seq, uint16_t version_min, uint16_t version_max);
size_t ctlproto_encode_status(void *buf, uint32_t seq);
/* name NULL or "": none; longer than CTL_NAME_SIZE - 1 bytes: cut (the daemon then knows no such guest) */
size_t ctlproto_encode_item(void *buf, uint16_t type, uint32_t seq, uint32_t index, const char *name);
