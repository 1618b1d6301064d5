/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-shm.h - the state xensimd shares with its clients, and its control protocol.
 *
 * xensimd owns one memfd (the "shm") that every client maps MAP_SHARED:
 *   - the domain table: per domain its servers, their ranges and vp_eports, the guest-side
 *     ports, and one event counter per vCPU (the futex a blocked vCPU sleeps on). Written only
 *     by xensimd, under a per-domain seqlock; guests read it.
 *   - the dom0 port table: per dom0 event channel its owner (an evtchn handle) and peer, and a
 *     state word with PENDING/MASKED bits that notifiers and the owner change with atomics.
 *   - per evtchn handle a ring of delivered ports (many producers, one consumer). A port is
 *     queued when a notification finds it unmasked; delivery masks it, so it is queued again
 *     only after the owner unmasked it.
 *   - the ioreq page pool: 4 KiB pages at page-aligned offsets, one per ioreq server (plus one
 *     per buffered ioreq page), mapped by xenforeignmemory_map_resource.
 * xensimd keeps its own authoritative copy of everything it publishes, so a client scribbling
 * over the shm can only hurt the simulation of the domains it drives, never xensimd.
 *
 * The hot path never goes through xensimd: a guest notify is an atomic on the port word, a
 * ring push and one eventfd write; xenevtchn_pending is one eventfd read and a ring pop; a server's notify is an atomic add on the vCPU's counter
 * and one FUTEX_WAKE.
 */
#ifndef XENSIM_SHM_H
#define XENSIM_SHM_H

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define XS_SHM_MAGIC 0x58534d31u       /* "XSM1" */
#define XS_PAGE_SIZE 4096u

#define XS_MAX_DOMS 1280u               /* domain slots */
#define XS_MAX_SERVERS 8u
#define XS_MAX_RANGES 256u
#define XS_MAX_VCPUS 128u
#define XS_MAX_GPORTS 1088u             /* guest ports: 3 + 8 * (128 + 1) fits */
#define XS_MAX_PORTS 16384u             /* dom0 ports */
#define XS_MAX_HANDLES 2048u            /* evtchn handles */
#define XS_RING_SIZE 16384u             /* ports per handle ring (power of two, >= ports) */
#define XS_MAX_PAGES 12288u             /* ioreq page pool */
#define XS_IRQ_LOG 4096u

/* Port state word bits. */
#define XS_PORT_PENDING 1u
#define XS_PORT_MASKED 2u

enum {
        XS_DOM_FREE = 0,
        XS_DOM_RUNNING = 1,
        XS_DOM_CRASHED = 2,
        XS_DOM_DYING = 3,
        XS_DOM_SHUTDOWN = 4,            /* powered off, its destruction due shortly */
};

enum {
        XS_SRV_NONE = 0,
        XS_SRV_DISABLED = 1,
        XS_SRV_ENABLED = 2,
};

enum {
        XS_GPORT_FREE = 0,
        XS_GPORT_RESERVED = 1,          /* xenstore / console ports, not bindable */
        XS_GPORT_IOREQ = 2,             /* a vCPU's ioreq port */
        XS_GPORT_BUFIOREQ = 3,
        XS_GPORT_EVTCHN = 4,            /* the guest's own: allocated unbound (struct xs_gevt) */
};

struct xs_range {
        uint64_t start, end;
};

struct xs_server {
        uint32_t state;                 /* XS_SRV_* */
        uint32_t gen;                   /* bumped at every create and destroy */
        uint32_t page;                  /* ioreq page index in the pool */
        uint32_t bufpage;               /* buffered ioreq page index, 0 = none */
        uint32_t bufport;
        uint32_t nr[2];                 /* ranges per type: [0] PIO, [1] MMIO */
        uint32_t pad;
        uint32_t vport[XS_MAX_VCPUS];   /* vp_eport of each vCPU */
        struct xs_range r[2][XS_MAX_RANGES];
};

struct xs_gport {
        uint32_t kind;                  /* XS_GPORT_* */
        uint32_t vcpu;
        uint32_t server;
        uint32_t lport;                 /* the dom0 port bound to it, 0 = none */
};

/*
 * Guest event channels: a port the guest allocated (XS_GPORT_EVTCHN) for a remote domain,
 * which dom0 binds with bind_interdomain and notifies. xensimd writes `remote` (under the
 * seqlock) and resets the counters when it allocates the port; a dom0 notify sets `pending`
 * and counts, then, when `pending` was clear, bumps the domain's gevt_seq and wakes it (the
 * futex a guest waiting for an event sleeps on); the guest clears `pending` when it takes the
 * event, as a read of /dev/xen/evtchn does. Notifications while pending coalesce.
 */
struct xs_gevt {
        uint32_t remote;                /* the domain allowed to bind it */
        _Atomic uint32_t pending;
        _Atomic uint32_t count;         /* notifications received since it was allocated */
        uint32_t pad;
};

/*
 * A vCPU whose answer did not come in time stays blocked, as on Xen: the guest driver keeps
 * what it waits for here (written only by the thread holding vcpu_busy) and resumes waiting
 * before the vCPU's next access.
 */
struct xs_vpend {
        uint32_t n;                     /* pending requests, 0 = not hung */
        uint32_t ev;                    /* the vCPU's event count already looked at */
        struct {
                uint32_t page, srv, srv_gen;
        } w[XS_MAX_SERVERS];
};

struct xs_dom {
        _Atomic uint32_t seq;           /* seqlock: odd while xensimd writes */
        uint32_t state;                 /* XS_DOM_* */
        uint32_t domid;
        uint32_t gen;                   /* bumped at create and free */
        uint32_t nr_vcpus;
        uint32_t paused;                /* created paused, not unpaused yet */
        char name[64];
        _Atomic uint32_t vcpu_evt[XS_MAX_VCPUS];  /* futex words: bumped by notifies to a vCPU */
        _Atomic uint32_t vcpu_busy[XS_MAX_VCPUS]; /* owned by the thread driving that vCPU */
        /*
         * Xen's domain_pause() around an ioreq server's state change and destruction:
         * xensimd sets pause, then waits until no vcpu_crit is set; a vCPU sets its
         * vcpu_crit (to its driver's pid) around choosing a server and sending the request,
         * and around looking at its slots, and stays out while pause is set.
         */
        _Atomic uint32_t pause;
        _Atomic uint32_t vcpu_crit[XS_MAX_VCPUS];
        struct xs_vpend vpend[XS_MAX_VCPUS];      /* requests a hung vCPU still waits for */
        struct xs_gport gport[XS_MAX_GPORTS];
        struct xs_server srv[XS_MAX_SERVERS];
        /* guest event channels (struct xs_gevt) */
        _Atomic uint32_t gevt_seq;
        uint32_t gevt_pad;
        struct xs_gevt gevt[XS_MAX_GPORTS];
};

struct xs_port {
        _Atomic uint32_t word;          /* XS_PORT_PENDING | XS_PORT_MASKED */
        _Atomic uint32_t handle;        /* owner handle index + 1, 0 = free */
        uint32_t handle_gen;
        uint32_t rslot;                 /* peer domain slot + 1, 0 = unbound */
        uint32_t rgen;                  /* peer domain generation */
        uint32_t rport;
        uint32_t rvcpu;                 /* vCPU woken by a notify, ~0 = none */
        uint32_t rguest;                /* 1: the remote port is a guest event channel */
};

struct xs_ring {
        _Atomic uint32_t prod;
        uint32_t pad0[15];
        _Atomic uint32_t cons;
        _Atomic uint32_t overflow;
        uint32_t gen;                   /* handle generation */
        uint32_t pad1[13];
        _Atomic uint32_t ent[XS_RING_SIZE];       /* 0 = empty, or a port (see below) */
};

struct xs_shm_hdr {
        uint32_t magic;
        uint32_t version;
        uint64_t size;
        uint64_t dom_off, port_off, ring_off, page_off;
        uint32_t max_doms, max_ports, max_handles, max_pages;
        _Atomic uint32_t handle_gen[XS_MAX_HANDLES];
};

#define XS_ALIGN_UP(x, a) (((x) + (a) - 1) / (a) * (a))
#define XS_OFF_DOMS XS_ALIGN_UP(sizeof(struct xs_shm_hdr), XS_PAGE_SIZE)
#define XS_OFF_PORTS XS_ALIGN_UP(XS_OFF_DOMS + (uint64_t)XS_MAX_DOMS * sizeof(struct xs_dom), \
                                 XS_PAGE_SIZE)
#define XS_OFF_RINGS XS_ALIGN_UP(XS_OFF_PORTS + (uint64_t)XS_MAX_PORTS * sizeof(struct xs_port), \
                                 XS_PAGE_SIZE)
#define XS_OFF_PAGES XS_ALIGN_UP(XS_OFF_RINGS + (uint64_t)XS_MAX_HANDLES * sizeof(struct xs_ring), \
                                 XS_PAGE_SIZE)
#define XS_SHM_SIZE (XS_OFF_PAGES + (uint64_t)XS_MAX_PAGES * XS_PAGE_SIZE)

static inline struct xs_dom *xs_shm_dom(void *shm, uint32_t slot) {
        return (struct xs_dom *)((char *)shm + XS_OFF_DOMS) + slot;
}
static inline struct xs_port *xs_shm_port(void *shm, uint32_t port) {
        return (struct xs_port *)((char *)shm + XS_OFF_PORTS) + port;
}
static inline struct xs_ring *xs_shm_ring(void *shm, uint32_t handle) {
        return (struct xs_ring *)((char *)shm + XS_OFF_RINGS) + handle;
}
static inline void *xs_shm_page(void *shm, uint32_t page) {
        return (char *)shm + XS_OFF_PAGES + (uint64_t)page * XS_PAGE_SIZE;
}

/*
 * Event delivery, shared by every notifier. Returns 1 when the caller must queue the port on
 * its owner's ring and wake it (the port was unmasked: it is now masked, not pending), 0 when
 * the notification only left the port pending (it was masked).
 */
static inline int xs_port_raise(struct xs_port *p) {
        uint32_t old = atomic_load_explicit(&p->word, memory_order_acquire), new;
        do {
                if (old & XS_PORT_MASKED)
                        new = old | XS_PORT_PENDING;
                else
                        new = (old | XS_PORT_MASKED) & ~XS_PORT_PENDING;
        } while (!atomic_compare_exchange_weak_explicit(&p->word, &old, new, memory_order_acq_rel,
                                                        memory_order_acquire));
        return !(old & XS_PORT_MASKED);
}

/* Unmask; returns 1 when a notification that arrived while masked must now be delivered. */
static inline int xs_port_unmask(struct xs_port *p) {
        uint32_t old = atomic_load_explicit(&p->word, memory_order_acquire), new;
        do {
                if (old & XS_PORT_PENDING)
                        new = (old & ~XS_PORT_PENDING) | XS_PORT_MASKED;
                else
                        new = old & ~XS_PORT_MASKED;
        } while (!atomic_compare_exchange_weak_explicit(&p->word, &old, new, memory_order_acq_rel,
                                                        memory_order_acquire));
        return !!(old & XS_PORT_PENDING);
}

/*
 * Rings. Every port queued is followed by exactly one write of 1 to the owner handle's eventfd
 * (EFD_SEMAPHORE), so the eventfd's count is the number of ports delivered and not taken: it
 * is readable exactly while one is, and each xenevtchn_pending consumes one with one read(),
 * like a read of /dev/xen/evtchn. A producer claims an entry (prod), then fills it; the
 * consumer that read a count waits the few instructions until the oldest claimed entry is
 * filled. An entry whose producer never fills it (killed in between) is eventually given up:
 * the consumer marks it skipped in that lap of the ring; a producer that finds its own claim
 * so marked claims another entry, one that finds a mark of an earlier lap fills the entry.
 */
#define XS_RING_SKIPPED 0x80000000u     /* | lap: an entry the consumer gave up in that lap */

static inline uint32_t xs_ring_mark(uint32_t idx) {
        return XS_RING_SKIPPED | (idx / XS_RING_SIZE);
}

/*
 * Fill the entry claimed as idx with port: 0 done, 1 the consumer gave this claim up (claim
 * another), -EFBIG the ring overflowed.
 */
static inline int xs_ring_fill(struct xs_ring *r, uint32_t idx, uint32_t port) {
        _Atomic uint32_t *e = &r->ent[idx & (XS_RING_SIZE - 1)];
        uint32_t old = atomic_load_explicit(e, memory_order_acquire);

        while (old == 0 || ((old & XS_RING_SKIPPED) && old != xs_ring_mark(idx)))
                if (atomic_compare_exchange_weak_explicit(e, &old, port, memory_order_acq_rel,
                                                          memory_order_acquire))
                        return 0;
        if (old == xs_ring_mark(idx))
                return 1;
        /* The consumer zeroes what it takes: a full entry here means the ring wrapped. */
        atomic_store_explicit(&r->overflow, 1, memory_order_release);
        return -27; /* EFBIG */
}

/* Queue a port on a ring (many producers). Returns 0, or -EFBIG when the ring overflowed. */
static inline int xs_ring_push(struct xs_ring *r, uint32_t port) {
        int ret;
        do
                ret = xs_ring_fill(r, atomic_fetch_add_explicit(&r->prod, 1, memory_order_acq_rel),
                                   port);
        while (ret == 1);
        return ret;
}

/* Take the oldest entry if it is filled (one consumer); 0 when it is not (yet). */
static inline uint32_t xs_ring_pop(struct xs_ring *r) {
        uint32_t c = atomic_load_explicit(&r->cons, memory_order_relaxed);
        _Atomic uint32_t *e = &r->ent[c & (XS_RING_SIZE - 1)];
        uint32_t port = atomic_load_explicit(e, memory_order_acquire);
        if (!port || (port & XS_RING_SKIPPED))
                return 0;
        atomic_store_explicit(e, 0, memory_order_relaxed);
        atomic_store_explicit(&r->cons, c + 1, memory_order_release);
        return port;
}

/* Give up on the oldest entry (its producer is gone); returns its port if it was filled. */
static inline uint32_t xs_ring_skip(struct xs_ring *r) {
        uint32_t c = atomic_load_explicit(&r->cons, memory_order_relaxed);
        _Atomic uint32_t *e = &r->ent[c & (XS_RING_SIZE - 1)];
        uint32_t old = atomic_load_explicit(e, memory_order_acquire);

        do {
                if (old && !(old & XS_RING_SKIPPED))
                        return xs_ring_pop(r);
        } while (!atomic_compare_exchange_weak_explicit(e, &old, xs_ring_mark(c),
                                                        memory_order_acq_rel,
                                                        memory_order_acquire));
        atomic_store_explicit(&r->cons, c + 1, memory_order_release);
        return 0;
}

/* ------------------------------------------------------------------------------------------
 * Control protocol on DIR/host.sock (SOCK_SEQPACKET): one struct xs_req per packet, answered
 * by one struct xs_rep (with file descriptors for the ops that say so). Any packet that is not
 * exactly sizeof(struct xs_req) with the right magic and version, or that carries file
 * descriptors, drops the connection. xensimd reads each packet's sender from its
 * SCM_CREDENTIALS (SO_PASSCRED): the process that sent a request, which may differ from the
 * one that connected (SO_PEERCRED) when the connection was inherited or passed on.
 *
 * Each connection is one handle: a library handle says what it is (XS_OP_CLIENT_KIND) when it
 * opens, an evtchn handle by XS_OP_EVT_OPEN.
 *
 * A request with XS_REQ_ONEWAY in flags gets no answer: the sender goes on once it is queued,
 * as Linux's restrict ioctl returns at once. Only the ops xs_op_oneway() names may be sent so
 * (any other, or another flag, drops the connection); one that the host refuses drops the
 * connection too, since its sender already took it as done (the library applies the rules of
 * xs_restrict_rule() itself first). Packets of one connection are served in order, so a
 * one-way restriction holds for everything the handle sends after it. Before answering an op
 * of xs_op_settles() (what clients hold), xensimd serves every packet already queued on every
 * other connection, accepting the connections still waiting first: so the answer shows every
 * one-way request sent before the asker's request (a process that restricted a handle, then
 * told the asker through a pipe, shows it restricted).
 */
#define XS_PROTO_MAGIC 0x58535251u     /* "XSRQ" */
#define XS_PROTO_VERSION 6u

#define XS_REQ_ONEWAY 1u                /* xs_req.flags: no answer */

/* What a connection is (XS_OP_CLIENT_KIND, XS_OP_INTRO_HANDLE). */
enum {
        XS_CLIENT_NONE = 0,             /* said nothing (not one of xensim's libraries) */
        XS_CLIENT_GUEST = 1,            /* the guest driver (libxensim-guest) */
        XS_CLIENT_DEVICEMODEL = 2,
        XS_CLIENT_FOREIGNMEMORY = 3,
        XS_CLIENT_EVTCHN = 4,
        XS_CLIENT_MAX = 4,
};

/* XS_OP_INTRO_PORT, val[3]: what the remote port is. */
enum {
        XS_INTRO_PORT_GONE = 0,         /* the remote side was closed (server or domain gone) */
        XS_INTRO_PORT_IOREQ = 1,        /* a vCPU's vp_eport */
        XS_INTRO_PORT_BUFIOREQ = 2,     /* a server's buffered ioreq port */
        XS_INTRO_PORT_INTERDOMAIN = 3,  /* a guest event channel (XS_GPORT_EVTCHN) */
};

enum xs_op {
        XS_OP_HELLO = 1,                /* → fd: the shm memfd; val[0] = its size */
        XS_OP_CLIENT_KIND = 2,          /* a0 = XS_CLIENT_*: once per connection (EBUSY after) */
        /* toolstack / guest */
        XS_OP_DOM_CREATE = 10,          /* name, a0 = vcpus, a1 = 1: paused, a2 = RAM bytes
                                           (0: XS_RAM_DEFAULT) → val[0] domid */
        XS_OP_DOM_DESTROY = 11,         /* a0 = domid */
        XS_OP_DOM_CRASH = 12,           /* a0 = domid */
        XS_OP_WAKEFD = 13,              /* a0 = handle index → fd: its eventfd; val[0] = gen */
        XS_OP_IRQ_GET = 14,             /* a0 = domid, a1 = index → val[0..3] kind,a,b,seq */
        XS_OP_DOM_SLOT = 15,            /* a0 = domid → val[0] slot, val[1] gen */
        XS_OP_DOM_UNPAUSE = 16,         /* a0 = domid → val[0] servers sent the boot INVALIDATE */
        XS_OP_DOM_POWEROFF = 17,        /* a0 = domid: shutdown then destroy */
        /* devicemodel */
        XS_OP_DM_RESTRICT = 20,         /* a0 = domid */
        XS_OP_DM_CREATE = 21,           /* a0 = domid, a1 = bufioreq → val[0] id */
        XS_OP_DM_INFO = 22,             /* a0 = domid, a1 = id, a2 = want gfns → val[0] bufport */
        XS_OP_DM_DESTROY = 23,          /* a0 = domid, a1 = id */
        XS_OP_DM_MAP = 24,              /* a0 domid a1 id a2 is_mmio a3 start a4 end */
        XS_OP_DM_UNMAP = 25,
        XS_OP_DM_STATE = 26,            /* a0 domid a1 id a2 enabled */
        XS_OP_DM_NR_VCPUS = 27,         /* a0 domid → val[0] */
        XS_OP_DM_IRQ = 28,              /* a0 domid a1 kind a2 a a3 b */
        XS_OP_DM_CHECK = 29,            /* a0 domid: permission/existence check for ENOSYS ops */
        /* foreignmemory */
        XS_OP_FM_RESTRICT = 40,         /* a0 = domid */
        XS_OP_FM_MAP = 41,              /* a0 domid a1 type a2 id a3 frame a4 nr → val[0] page */
        XS_OP_FM_UNMAP = 42,            /* a0 = page index */
        XS_OP_FM_SIZE = 43,             /* a0 domid a1 type a2 id → val[0] frames */
        /* evtchn */
        XS_OP_EVT_OPEN = 60,            /* → fd: eventfd; val[0] handle index, val[1] gen */
        XS_OP_EVT_RESTRICT = 61,        /* a0 = domid */
        XS_OP_EVT_BIND = 62,            /* a0 remote domid a1 remote port → val[0] local port */
        XS_OP_EVT_UNBIND = 63,          /* a0 = port */
        XS_OP_EVT_CHECK = 64,           /* a0 = domid, ~0 for none: restriction check */
        /* guest event channels: what the guest's kernel does with EVTCHNOP_* */
        XS_OP_GEVT_ALLOC = 70,          /* a0 domid, a1 remote domid → val[0] port */
        XS_OP_GEVT_CLOSE = 71,          /* a0 domid, a1 port */
        /*
         * introspection: what each connection holds. Refused (EPERM) to a restricted
         * connection. Each answers one entry, the one with the lowest id >= a cursor; val[0]
         * is 0 when there is none. Connections whose peer hung up are released first.
         */
        XS_OP_INTRO_HANDLE = 80,        /* a0 pid (0 any: opened or last used by it), a1 first
                                           id → val[0] id, val[1] pid | last_pid << 32,
                                           val[2] kind | restricted << 8 | rdomid << 16 |
                                           ports << 32, val[3] mappings | map calls << 32 */
        XS_OP_INTRO_PORT = 81,          /* a0 handle id, a1 first port → val[0] port, val[1]
                                           remote domid, val[2] remote port, val[3]
                                           XS_INTRO_PORT_* | server << 8 | vcpu << 16;
                                           ENOENT: no such handle */
        XS_OP_INTRO_MAP = 82,           /* a0 domid, a1 server (~0: any), a2 first map id →
                                           val[0] map id, val[1] handle id, val[2] pid,
                                           val[3] server | ioreq << 8 | bufioreq << 9 |
                                           current << 10 */
        XS_OP_INTRO_MAPPER = 83,        /* a0 pid → val[0] map_resource calls that succeeded,
                                           val[1] refused, val[2] mappings alive, val[3]
                                           processes forgotten (history bound) */
        /*
         * guest RAM (host-mem.c), ops 110..119: one sparse memfd per domain of
         * XS_OP_DOM_CREATE's a2 bytes (0: XS_RAM_DEFAULT), every frame populated until the
         * guest gives it back.
         */
        XS_OP_RAM_FD = 110,             /* guest driver: a0 domid → fd: the RAM memfd; val[0]
                                           its size in bytes */
        XS_OP_RAM_POPULATE = 111,       /* guest driver: a0 domid a1 first gfn a2 count a3 1
                                           populate (a fresh zero page) / 0 give back */
        XS_OP_FM_MAP_RAM = 112,         /* foreignmemory: a0 domid a1 first gfn a2 count (1..
                                           XS_RAM_RUN) a3 map id (0: a new mapping, answered
                                           with the memfd) → val[0..2] bit i: frame a1+i
                                           mapped, val[3] the map id (0: none was made) */
        XS_OP_INTRO_RAM = 113,          /* a0 domid, a1 first map id → val[0] map id, val[1]
                                           handle id, val[2] pid, val[3] frames asked |
                                           frames mapped << 32 */
        XS_OP_IRQ_NEXT = 114,           /* a0 domid, a1 seq → the oldest interrupt log entry
                                           with a larger seq, as XS_OP_IRQ_GET; ENOENT: none */
};

#define XS_RAM_DEFAULT (16ull << 20)
#define XS_RAM_MAX (4ull << 30)
#define XS_RAM_RUN 192u                 /* frames per XS_OP_FM_MAP_RAM request */

struct xs_req {
        uint32_t magic;
        uint16_t version;
        uint16_t op;
        uint32_t seq;
        uint32_t flags;                 /* XS_REQ_* */
        uint64_t a[6];
        char name[64];
};

struct xs_rep {
        uint32_t magic;
        uint16_t op;
        uint16_t nfds;
        uint32_t seq;
        int32_t err;                    /* 0 or a positive errno */
        uint64_t val[4];
};

_Static_assert(sizeof(struct xs_req) == 128, "xs_req size");
_Static_assert(sizeof(struct xs_rep) == 48, "xs_rep size");

/* May be sent with XS_REQ_ONEWAY: ops that pass no fd, never wait, and answer nothing else. */
static inline int xs_op_oneway(uint16_t op) {
        return op == XS_OP_CLIENT_KIND || op == XS_OP_DM_RESTRICT || op == XS_OP_FM_RESTRICT ||
               op == XS_OP_EVT_RESTRICT;
}

/* Answered only once every packet queued on the other connections was served. */
static inline int xs_op_settles(uint16_t op) {
        return op == XS_OP_INTRO_HANDLE || op == XS_OP_INTRO_PORT || op == XS_OP_INTRO_MAP ||
               op == XS_OP_INTRO_MAPPER || op == XS_OP_INTRO_RAM;
}

#define XS_DOMID_FIRST_RESERVED 0x7ff0u

/*
 * The restriction rules of Linux's devices, for a handle restricted (or not) to rdomid asked
 * for domid (op XS_OP_DM_RESTRICT, XS_OP_FM_RESTRICT or XS_OP_EVT_RESTRICT): privcmd
 * (devicemodel, foreignmemory) takes the same domain again, another is EINVAL; the evtchn
 * device refuses any second restriction (EACCES), then dom0 and the reserved domids (EINVAL).
 * Returns 1 to restrict, 0 when the handle already is (nothing changes), or -errno.
 */
static inline int xs_restrict_rule(uint16_t op, int restricted, uint32_t rdomid,
                                   uint64_t domid) {
        if (op == XS_OP_EVT_RESTRICT) {
                if (restricted)
                        return -EACCES;
                return domid == 0 || domid >= XS_DOMID_FIRST_RESERVED ? -EINVAL : 1;
        }
        if (domid > 0xffff)
                return -EINVAL;         /* no domid_t */
        if (restricted)
                return rdomid == domid ? 0 : -EINVAL;
        return 1;
}

#endif
